//! Damage in a write-ahead log that SQLite would silently drop, found before it opens the file.
//!
//! On open after a crash SQLite replays the WAL's frames up to the first one whose salts or
//! running checksum do not match, and drops everything after it: one flipped byte in an early
//! frame silently loses every acknowledged transaction behind it, and the next checkpoint makes
//! the loss permanent. So before SQLite sees the files, busd reads them itself:
//!
//! - frames after a failing one are checked against their own stored checksums; a later frame
//!   of the same WAL that is intact proves the damaged transaction had been committed (a
//!   transaction starts only once the one before it is synced), so the damage lost data;
//! - the `-shm` index left by the crashed busd records how many frames were committed
//!   (`mxFrame`); fewer intact committed frames than that means the tail was damaged.
//!
//! A torn last transaction (never acknowledged) looks like neither and is accepted, as SQLite
//! does. The check is skipped while another process has the database open: its index is live.

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::Path;

use anyhow::bail;

use super::files::beside;

const WAL_HEADER: usize = 32;
const FRAME_HEADER: usize = 24;
const WAL_MAGIC_LE: u32 = 0x377f_0682;
const WAL_MAGIC_BE: u32 = 0x377f_0683;
const WAL_VERSION: u32 = 3_007_000;
/// The byte of `-shm` every open connection holds a shared lock on (SQLite's `UNIX_SHM_DMS`).
const SHM_DMS_BYTE: i64 = 128;

/// Refuse the database at `db` if its WAL is damaged in a way SQLite would silently drop.
pub(super) fn check(db: &Path) -> anyhow::Result<()> {
    let wal_path = beside(db, "-wal");
    let shm_path = beside(db, "-shm");
    let Ok(wal) = File::open(&wal_path) else {
        return Ok(());
    };
    if in_use(&shm_path) {
        tracing::info!(db = %db.display(), "another process has the database open: its WAL is live");
        return Ok(());
    }
    // The index first: a WAL only grows after it.
    let index = read_index(&shm_path);
    let scan = scan(BufReader::new(wal))?;
    let shown = wal_path.display();
    let untouched = format!(
        "restore the database from a backup, or keep what precedes the damage and lose the rest \
         with `sqlite3 {} 'PRAGMA wal_checkpoint(TRUNCATE)'` (the files were left untouched)",
        db.display()
    );
    match scan {
        Scan::Empty => Ok(()),
        Scan::BadHeader => bail!(
            "the write-ahead log {shown} is damaged: its header fails its checksum, so every \
             transaction in it would be silently dropped: {untouched}"
        ),
        Scan::Frames {
            total,
            committed,
            first_bad,
            intact_after,
            salts,
        } => {
            if let Some(bad) = first_bad
                && intact_after > 0
            {
                bail!(
                    "the write-ahead log {shown} is damaged: frame {bad} of {total} fails its \
                     checksum while {intact_after} frame(s) written after its transaction are \
                     intact, so acknowledged writes would be silently dropped: {untouched}"
                );
            }
            if let Some(index) = index
                && index.salts == salts
                && index.max_frame > committed
            {
                bail!(
                    "the write-ahead log {shown} is damaged: {} frames were committed but only \
                     the first {committed} are intact, so acknowledged writes would be silently \
                     dropped: {untouched}",
                    index.max_frame
                );
            }
            Ok(())
        }
    }
}

/// What the WAL holds, as SQLite's recovery would read it.
#[derive(Debug, PartialEq, Eq)]
enum Scan {
    /// Shorter than its header: nothing was ever synced to it.
    Empty,
    BadHeader,
    Frames {
        total: u32,
        /// The last commit frame SQLite would keep (0: none).
        committed: u32,
        /// The first frame SQLite would stop at, if one fails.
        first_bad: Option<u32>,
        /// Intact frames of this WAL after the damaged frame's transaction.
        intact_after: u32,
        salts: [u8; 8],
    },
}

fn scan(mut wal: impl Read) -> io::Result<Scan> {
    let mut header = [0u8; WAL_HEADER];
    if read_full(&mut wal, &mut header)? < WAL_HEADER {
        return Ok(Scan::Empty);
    }
    let magic = be(&header[0..4]);
    let big = magic == WAL_MAGIC_BE;
    let page_size = match be(&header[8..12]) {
        1 => 65536,
        n => n as usize,
    };
    let sums = checksum(big, &header[..24], (0, 0));
    if (magic != WAL_MAGIC_LE && !big)
        || be(&header[4..8]) != WAL_VERSION
        || !(512..=65536).contains(&page_size)
        || !page_size.is_power_of_two()
        || sums != (be(&header[24..28]), be(&header[28..32]))
    {
        return Ok(Scan::BadHeader);
    }
    let salts: [u8; 8] = header[16..24].try_into().expect("8 bytes");

    let mut frame = vec![0u8; FRAME_HEADER + page_size];
    let mut running = sums;
    let (mut total, mut committed, mut first_bad) = (0u32, 0u32, None);
    // The frame that ends the damaged frame's transaction, once seen; intact frames after it.
    let (mut damaged_done, mut intact_after) = (false, 0u32);
    let mut previous_stored = sums;
    while read_full(&mut wal, &mut frame)? == frame.len() {
        total += 1;
        let stored = (be(&frame[16..20]), be(&frame[20..24]));
        let ours = frame[8..16] == salts && be(&frame[0..4]) != 0;
        let is_commit = be(&frame[4..8]) != 0;
        if first_bad.is_none() {
            running = frame_checksum(big, &frame, running);
            if ours && running == stored {
                if is_commit {
                    committed = total;
                }
            } else {
                first_bad = Some(total);
                damaged_done = ours && is_commit;
            }
        } else if ours {
            let intact = frame_checksum(big, &frame, previous_stored) == stored;
            if damaged_done && intact {
                intact_after += 1;
            }
            if is_commit {
                damaged_done = true;
            }
        }
        previous_stored = stored;
    }
    Ok(Scan::Frames {
        total,
        committed,
        first_bad,
        intact_after,
        salts,
    })
}

fn frame_checksum(big: bool, frame: &[u8], seed: (u32, u32)) -> (u32, u32) {
    let seed = checksum(big, &frame[..8], seed);
    checksum(big, &frame[FRAME_HEADER..], seed)
}

/// SQLite's WAL checksum over `data` (a multiple of 8 bytes), continuing from `seed`.
fn checksum(big: bool, data: &[u8], (mut s0, mut s1): (u32, u32)) -> (u32, u32) {
    for pair in data.chunks_exact(8) {
        let word = |b: &[u8]| {
            let b: [u8; 4] = b.try_into().expect("4 bytes");
            if big {
                u32::from_be_bytes(b)
            } else {
                u32::from_le_bytes(b)
            }
        };
        s0 = s0.wrapping_add(word(&pair[..4])).wrapping_add(s1);
        s1 = s1.wrapping_add(word(&pair[4..])).wrapping_add(s0);
    }
    (s0, s1)
}

/// What the `-shm` index says was committed, if it holds a valid header.
struct Index {
    max_frame: u32,
    salts: [u8; 8],
}

fn read_index(shm: &Path) -> Option<Index> {
    let mut head = [0u8; 96];
    let mut file = File::open(shm).ok()?;
    if read_full(&mut file, &mut head).ok()? < head.len() {
        return None;
    }
    let (first, copy) = head.split_at(48);
    let ne = |b: &[u8]| u32::from_ne_bytes(b.try_into().expect("4 bytes"));
    let sums = checksum(cfg!(target_endian = "big"), &first[..40], (0, 0));
    if first != copy
        || ne(&first[0..4]) != WAL_VERSION
        || first[12] != 1
        || sums != (ne(&first[40..44]), ne(&first[44..48]))
    {
        return None;
    }
    Some(Index {
        max_frame: ne(&first[16..20]),
        salts: first[32..40].try_into().expect("8 bytes"),
    })
}

/// Whether another process holds SQLite's shared-memory lock (it has the database open).
fn in_use(shm: &Path) -> bool {
    use std::os::fd::AsRawFd;
    let Ok(file) = File::open(shm) else {
        return false;
    };
    // SAFETY: a zeroed flock is a valid value; F_GETLK fills it in and changes no lock.
    let mut probe: libc::flock = unsafe { std::mem::zeroed() };
    probe.l_type = libc::F_WRLCK as _;
    probe.l_whence = libc::SEEK_SET as _;
    probe.l_start = SHM_DMS_BYTE as _;
    probe.l_len = 1;
    // SAFETY: fcntl on a descriptor we own, with a pointer to a live flock.
    let rc = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_GETLK, &mut probe) };
    rc == 0 && i32::from(probe.l_type) != libc::F_UNLCK
}

fn be(b: &[u8]) -> u32 {
    u32::from_be_bytes(b.try_into().expect("4 bytes"))
}

/// Read until `buf` is full or the input ends; returns how much was read.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}
