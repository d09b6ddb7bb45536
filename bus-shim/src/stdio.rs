//! stdin and stdout for the MCP transport, on the runtime's reactor when they are pipes or
//! sockets (as MCP clients launch servers). tokio's own stdin and stdout hand every read and
//! write to a blocking thread: a thread hop in and another out for every MCP message.

use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::FileTypeExt;

use tokio::io::{AsyncRead, AsyncWrite};

pub type Reader = Box<dyn AsyncRead + Send + Unpin>;
pub type Writer = Box<dyn AsyncWrite + Send + Unpin>;

/// The (stdin, stdout) pair for rmcp. Must be called inside the runtime.
pub fn transport() -> (Reader, Writer) {
    let reader = nonblocking_stdin().unwrap_or_else(|| Box::new(tokio::io::stdin()));
    let writer = nonblocking_stdout().unwrap_or_else(|| Box::new(tokio::io::stdout()));
    (reader, writer)
}

fn nonblocking_stdin() -> Option<Reader> {
    let fd = std::io::stdin().as_fd().try_clone_to_owned().ok()?;
    match kind(&fd)? {
        Kind::Pipe => Some(Box::new(
            tokio::net::unix::pipe::Receiver::from_owned_fd(fd).ok()?,
        )),
        Kind::Socket => Some(Box::new(socket(fd)?)),
    }
}

fn nonblocking_stdout() -> Option<Writer> {
    let fd = std::io::stdout().as_fd().try_clone_to_owned().ok()?;
    match kind(&fd)? {
        Kind::Pipe => Some(Box::new(
            tokio::net::unix::pipe::Sender::from_owned_fd(fd).ok()?,
        )),
        Kind::Socket => Some(Box::new(socket(fd)?)),
    }
}

enum Kind {
    Pipe,
    Socket,
}

/// What `fd` is, when it can go on the reactor (terminals and files cannot).
fn kind(fd: &OwnedFd) -> Option<Kind> {
    let file_type = std::fs::File::from(fd.try_clone().ok()?)
        .metadata()
        .ok()?
        .file_type();
    if file_type.is_fifo() {
        Some(Kind::Pipe)
    } else if file_type.is_socket() {
        Some(Kind::Socket)
    } else {
        None
    }
}

fn socket(fd: OwnedFd) -> Option<tokio::net::UnixStream> {
    let stream = std::os::unix::net::UnixStream::from(fd);
    stream.set_nonblocking(true).ok()?;
    tokio::net::UnixStream::from_std(stream).ok()
}
