//! A bus's files and folders are private to the user who runs it: checks and safe opening.
//!
//! The rules, shared by busd and its clients so both refuse the same things with the same words:
//!
//! - a bus folder (the database's, the socket's) is a real folder of this user that no one else
//!   can write to; it is created `0700`, and a database folder that others could only read or
//!   enter is tightened to `0700` (a separate socket folder is left as it is: the socket is
//!   `0600` and clients check who listens);
//! - a bus file (database, WAL, log, locks) is a regular file of this user that no one else can
//!   write to; it is created `0600`, never through a symlink, and one that others could only
//!   read is tightened to `0600`.
//!
//! Anything else is refused with the path, what is wrong and what to do: another user's folder
//! or file could be swapped, read or planted under the bus.

use std::fs::{File, Metadata, OpenOptions, Permissions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Group and other permission bits.
const OTHERS: u32 = 0o077;
/// Group and other write bits.
const OTHERS_WRITE: u32 = 0o022;

/// Why a bus folder or file was refused.
#[derive(Debug, thiserror::Error)]
pub enum PrivateError {
    #[error("refusing {what} {path}: it is a symlink; point BUS_DB (or BUS_SOCKET) at a real {kind}", kind = kind_of(what))]
    Symlink { what: &'static str, path: PathBuf },
    #[error("refusing {what} {path}: it is not a {kind}; point BUS_DB (or BUS_SOCKET) elsewhere", kind = kind_of(what))]
    WrongType { what: &'static str, path: PathBuf },
    #[error(
        "refusing {what} {path}: it belongs to uid {owner}, not to you (uid {ours}); point BUS_DB (or BUS_SOCKET) elsewhere"
    )]
    Foreign {
        what: &'static str,
        path: PathBuf,
        owner: u32,
        ours: u32,
    },
    #[error(
        "refusing {what} {path}: other users can write to it (mode {mode:04o}); `chmod go-w {path}` if you trust what is in it, or point BUS_DB (or BUS_SOCKET) at a folder only you can write"
    )]
    OthersWrite {
        what: &'static str,
        path: PathBuf,
        mode: u32,
    },
    #[error("cannot {action} {what} {path}: {source}{hint}", hint = hint(source))]
    Io {
        action: &'static str,
        what: &'static str,
        path: PathBuf,
        source: io::Error,
    },
}

impl PrivateError {
    fn io(action: &'static str, what: &'static str, path: &Path, source: io::Error) -> Self {
        PrivateError::Io {
            action,
            what,
            path: path.to_path_buf(),
            source,
        }
    }
}

fn kind_of(what: &str) -> &'static str {
    if what.contains("folder") {
        "folder"
    } else {
        "file"
    }
}

/// What to do about an error of the file system, in words.
fn hint(e: &io::Error) -> &'static str {
    match e.raw_os_error() {
        Some(libc::ENOTDIR) => {
            ": a part of the path is a file, not a folder; set BUS_DB (or BUS_SOCKET) to a path in a folder"
        }
        Some(libc::ENOENT) => ": a folder on the way does not exist",
        Some(libc::EACCES) | Some(libc::EPERM) | Some(libc::EROFS) => {
            ": you cannot write there; set BUS_DB (or BUS_SOCKET) to a path in a folder you own"
        }
        Some(libc::ELOOP) => ": it is a symlink, which a bus never follows; remove it",
        _ => "",
    }
}

/// This process's real uid.
pub fn current_uid() -> u32 {
    // SAFETY: getuid has no preconditions and cannot fail.
    unsafe { libc::getuid() }
}

/// Create the bus folder `dir` `0700` (with its parents) if missing, or check an existing one:
/// a real folder of ours that no one else can write to. One that others can only read or enter
/// is tightened to `0700`. `what` names it in errors ("the bus folder").
pub fn prepare_dir(dir: &Path, what: &'static str) -> Result<(), PrivateError> {
    if dir.as_os_str().is_empty() {
        return Ok(());
    }
    match std::fs::symlink_metadata(dir) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| PrivateError::io("create", what, dir, e)),
        Err(e) => Err(PrivateError::io("read", what, dir, e)),
        Ok(meta) => {
            check(&meta, dir, what, true)?;
            tighten(&meta, dir, what, 0o700)
        }
    }
}

/// Create `dir` `0700` (with its parents) if missing, or check an existing one as
/// [`check_dir`] does, changing nothing: for the socket's folder when it is not the database's
/// (a socket `0600` in a folder others can read or enter exposes nothing, and the folder may be
/// shared with other things of this user, such as the home folder).
pub fn make_or_check_dir(dir: &Path, what: &'static str) -> Result<(), PrivateError> {
    if dir.as_os_str().is_empty() || std::fs::symlink_metadata(dir).is_ok() {
        return check_dir(dir, what);
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| PrivateError::io("create", what, dir, e))
}

/// Check, without changing anything, that `dir` is missing or a real folder of ours that no one
/// else can write to (a client's check of the socket's folder before it connects).
pub fn check_dir(dir: &Path, what: &'static str) -> Result<(), PrivateError> {
    if dir.as_os_str().is_empty() {
        return Ok(());
    }
    match std::fs::symlink_metadata(dir) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(PrivateError::io("read", what, dir, e)),
        Ok(meta) => check(&meta, dir, what, true),
    }
}

/// Check an existing bus file (none is fine): a regular file of ours, not a symlink, that no one
/// else can write to; one that others can read is tightened to `0600`.
pub fn check_file(path: &Path, what: &'static str) -> Result<(), PrivateError> {
    match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(PrivateError::io("read", what, path, e)),
        Ok(meta) => {
            check(&meta, path, what, false)?;
            tighten(&meta, path, what, 0o600)
        }
    }
}

/// Open (creating `0600` if missing) the bus file at `path` for writing, never through a
/// symlink, and check what was opened: ours, regular, not writable by others (tightened to
/// `0600` if others could read it). `append` opens it for appending (a log), else read-write.
pub fn open_file(path: &Path, what: &'static str, append: bool) -> Result<File, PrivateError> {
    let mut options = OpenOptions::new();
    if append {
        options.append(true);
    } else {
        options.read(true).write(true);
    }
    let file = options
        .create(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
        .map_err(|e| match std::fs::symlink_metadata(path) {
            // Say whose file it is rather than only "permission denied".
            Ok(meta) if e.kind() == io::ErrorKind::PermissionDenied => {
                check(&meta, path, what, false)
                    .err()
                    .unwrap_or_else(|| PrivateError::io("open", what, path, e))
            }
            _ => PrivateError::io("open", what, path, e),
        })?;
    let meta = file
        .metadata()
        .map_err(|e| PrivateError::io("read", what, path, e))?;
    check(&meta, path, what, false)?;
    if meta.mode() & OTHERS != 0 {
        file.set_permissions(Permissions::from_mode(0o600))
            .map_err(|e| PrivateError::io("tighten", what, path, e))?;
        tracing::warn!(path = %path.display(), mode = format!("{:04o}", meta.mode() & 0o7777), "other users could read this bus file: tightened it to 0600");
    }
    Ok(file)
}

fn check(meta: &Metadata, path: &Path, what: &'static str, dir: bool) -> Result<(), PrivateError> {
    let path_buf = || path.to_path_buf();
    if meta.file_type().is_symlink() {
        return Err(PrivateError::Symlink {
            what,
            path: path_buf(),
        });
    }
    if (dir && !meta.is_dir()) || (!dir && !meta.is_file()) {
        return Err(PrivateError::WrongType {
            what,
            path: path_buf(),
        });
    }
    let ours = current_uid();
    if meta.uid() != ours {
        return Err(PrivateError::Foreign {
            what,
            path: path_buf(),
            owner: meta.uid(),
            ours,
        });
    }
    if meta.mode() & OTHERS_WRITE != 0 {
        return Err(PrivateError::OthersWrite {
            what,
            path: path_buf(),
            mode: meta.mode() & 0o7777,
        });
    }
    Ok(())
}

/// Drop the group and other bits of a folder or file of ours that only they could read.
fn tighten(
    meta: &Metadata,
    path: &Path,
    what: &'static str,
    mode: u32,
) -> Result<(), PrivateError> {
    if meta.mode() & OTHERS == 0 {
        return Ok(());
    }
    std::fs::set_permissions(path, Permissions::from_mode(mode))
        .map_err(|e| PrivateError::io("tighten", what, path, e))?;
    tracing::warn!(path = %path.display(), mode = format!("{:04o}", meta.mode() & 0o7777), "other users could read {what}: tightened it to {mode:04o}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().mode() & 0o7777
    }

    #[test]
    fn a_missing_folder_is_created_0700_and_a_readable_one_tightened() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("a/b");
        prepare_dir(&dir, "the bus folder").unwrap();
        assert_eq!(mode(&dir), 0o700);
        std::fs::set_permissions(&dir, Permissions::from_mode(0o755)).unwrap();
        prepare_dir(&dir, "the bus folder").unwrap();
        assert_eq!(mode(&dir), 0o700);
    }

    #[test]
    fn a_socket_folder_is_made_0700_or_left_as_it_is() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("run/bus");
        make_or_check_dir(&dir, "the socket's folder").unwrap();
        assert_eq!(mode(&dir), 0o700);
        std::fs::set_permissions(&dir, Permissions::from_mode(0o755)).unwrap();
        make_or_check_dir(&dir, "the socket's folder").unwrap();
        assert_eq!(mode(&dir), 0o755, "a shared folder of ours is not changed");
        std::fs::set_permissions(&dir, Permissions::from_mode(0o777)).unwrap();
        assert!(make_or_check_dir(&dir, "the socket's folder").is_err());
    }

    #[test]
    fn a_folder_others_can_write_is_refused_untouched() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("shared");
        std::fs::create_dir(&dir).unwrap();
        std::fs::set_permissions(&dir, Permissions::from_mode(0o1777)).unwrap();
        let why = prepare_dir(&dir, "the bus folder").unwrap_err().to_string();
        assert!(
            why.contains("other users can write to it (mode 1777)"),
            "{why}"
        );
        assert!(check_dir(&dir, "the socket's folder").is_err());
        assert_eq!(mode(&dir), 0o1777);
    }

    #[test]
    fn files_are_created_0600_and_never_through_a_symlink() {
        let tmp = tempfile::tempdir().unwrap();
        let log = tmp.path().join("busd.log");
        open_file(&log, "the log", true).unwrap();
        assert_eq!(mode(&log), 0o600);
        std::fs::set_permissions(&log, Permissions::from_mode(0o644)).unwrap();
        open_file(&log, "the log", true).unwrap();
        assert_eq!(mode(&log), 0o600, "a readable file is tightened");

        let target = tmp.path().join("elsewhere");
        let link = tmp.path().join("link.log");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let why = open_file(&link, "the log", true).unwrap_err().to_string();
        assert!(why.contains("symlink"), "{why}");
        assert!(!target.exists(), "the symlink was not followed");
        assert!(check_file(&link, "the database").is_err());

        let planted = tmp.path().join("bus.db");
        std::fs::write(&planted, b"").unwrap();
        std::fs::set_permissions(&planted, Permissions::from_mode(0o666)).unwrap();
        let why = check_file(&planted, "the database")
            .unwrap_err()
            .to_string();
        assert!(
            why.contains("other users can write to it (mode 0666)"),
            "{why}"
        );
        assert_eq!(mode(&planted), 0o666, "a refused file is left as it was");
    }
}
