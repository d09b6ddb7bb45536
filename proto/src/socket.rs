//! A connected local socket on the reactor, registered for reading only.
//!
//! Tokio registers a socket for both directions, so each time the peer reads what we wrote,
//! the room it frees wakes our reactor for nothing (the kernel wakes every waiter on the
//! socket: an `EPOLLOUT` edge), and the peer pays for waking us: two wake-ups and context
//! switches per call that do no work, on both ends of every connection. A [`Socket`] is
//! registered for `EPOLLIN` alone. A write that finds the socket full (rare: a frame is far
//! smaller than its buffer) registers a duplicate of the descriptor for writability until the
//! write has gone through, then lets it go.

use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use interprocess::local_socket::tokio::Stream;
use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncRead, AsyncWrite, Interest, ReadBuf};

#[derive(Debug)]
pub struct Socket {
    stream: AsyncFd<UnixStream>,
    /// Registered for writability while a write waits for room.
    room: Option<AsyncFd<OwnedFd>>,
}

impl Socket {
    /// Take `stream` off the reactor and register it again for reading only.
    pub fn new(stream: Stream) -> io::Result<Socket> {
        let Stream::UdSocket(stream) = stream;
        let stream = UnixStream::from(OwnedFd::try_from(stream)?);
        stream.set_nonblocking(true)?;
        Ok(Socket {
            stream: register(stream, Interest::READABLE)?,
            room: None,
        })
    }

    fn poll_write_with<T>(
        &mut self,
        cx: &mut Context<'_>,
        mut write: impl FnMut(&UnixStream) -> io::Result<T>,
    ) -> Poll<io::Result<T>> {
        if self.room.is_none() {
            match write(self.stream.get_ref()) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    let fd = self.stream.get_ref().as_fd().try_clone_to_owned()?;
                    self.room = Some(register(fd, Interest::WRITABLE)?);
                }
                done => return Poll::Ready(done),
            }
        }
        let room = self.room.as_ref().expect("registered above");
        loop {
            let mut ready = ready!(room.poll_write_ready(cx))?;
            let attempt = ready.try_io(|_| write(self.stream.get_ref()));
            drop(ready);
            if let Ok(done) = attempt {
                self.room = None;
                return Poll::Ready(done);
            }
        }
    }
}

/// Register `owner`'s descriptor with the reactor for `interest`.
fn register<T: AsRawFd + Into<OwnedFd>>(owner: T, interest: Interest) -> io::Result<AsyncFd<T>> {
    // SAFETY: `owner` owns its descriptor (it converts into an `OwnedFd`), so the descriptor
    // stays open and the same for as long as the `AsyncFd` holds `owner`.
    Ok(unsafe { AsyncFd::register_with_interest(owner, interest) }?)
}

impl AsRawFd for Socket {
    fn as_raw_fd(&self) -> RawFd {
        self.stream.as_raw_fd()
    }
}

impl AsFd for Socket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.stream.get_ref().as_fd()
    }
}

impl AsyncRead for Socket {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        loop {
            let mut ready = ready!(self.stream.poll_read_ready(cx))?;
            let unfilled = buf.initialize_unfilled();
            match ready.try_io(|stream| (&mut stream.get_ref()).read(unfilled)) {
                Ok(Ok(n)) => {
                    buf.advance(n);
                    return Poll::Ready(Ok(()));
                }
                Ok(Err(e)) => return Poll::Ready(Err(e)),
                Err(_would_block) => continue,
            }
        }
    }
}

impl AsyncWrite for Socket {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut()
            .poll_write_with(cx, |mut stream| stream.write(data))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.get_mut()
            .poll_write_with(cx, |mut stream| stream.write_vectored(bufs))
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    /// As the stream it replaces: the socket is shut by closing it.
    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use interprocess::local_socket::tokio::prelude::*;
    use interprocess::local_socket::{GenericFilePath, ListenerOptions, ToFsName};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    /// A connected pair through a listener, as busd and its clients have.
    async fn pair() -> (tempfile::TempDir, Socket, Socket) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sock");
        let name = path.clone().to_fs_name::<GenericFilePath>().unwrap();
        let listener = ListenerOptions::new()
            .name(name.clone())
            .create_tokio()
            .unwrap();
        let (client, server) = tokio::join!(Stream::connect(name), listener.accept());
        let client = Socket::new(client.unwrap()).unwrap();
        let server = Socket::new(server.unwrap()).unwrap();
        (dir, client, server)
    }

    #[tokio::test]
    async fn what_is_written_is_read_in_order_and_the_end_is_seen() {
        let (_dir, mut a, mut b) = pair().await;
        a.write_all(b"hello ").await.unwrap();
        a.write_all(b"world").await.unwrap();
        drop(a);
        let mut got = String::new();
        b.read_to_string(&mut got).await.unwrap();
        assert_eq!(got, "hello world");
    }

    /// Far more than the socket's buffer: the writer waits for room (the duplicate
    /// registration) while the reader drains it, and every byte arrives once, in order.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_write_that_fills_the_socket_waits_for_room_and_loses_nothing() {
        const LEN: usize = 16 << 20;
        let (_dir, mut a, mut b) = pair().await;
        let data: Vec<u8> = (0..LEN).map(|i| (i % 251) as u8).collect();
        let sent = data.clone();
        let writer = tokio::spawn(async move {
            a.write_all(&sent).await.unwrap();
            a
        });
        // Let the writer fill the buffer and park on writability first.
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        let mut got = vec![0; LEN];
        b.read_exact(&mut got).await.unwrap();
        assert!(got == data, "the bytes arrived changed");
        let a = writer.await.unwrap();
        assert!(a.room.is_none(), "the writability registration is let go");
    }
}
