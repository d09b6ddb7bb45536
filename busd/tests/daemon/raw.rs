//! A raw peer on busd's socket: hand-made frames, for clients that misbehave on purpose.

#![allow(dead_code)]

use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use proto::frame;
use proto::{ClientKind, Envelope, Hello, Reply, Request, Welcome};

/// How long a raw peer waits for busd before the test calls it a hang.
const PATIENCE: Duration = Duration::from_secs(30);

/// One connection speaking (or not) the wire protocol byte by byte.
pub struct RawPeer {
    pub stream: UnixStream,
    /// The pid announced in the handshake (0 before one).
    pub pid: u32,
}

impl RawPeer {
    /// Connect without saying anything.
    pub fn connect(socket: &Path) -> RawPeer {
        let stream = UnixStream::connect(socket).expect("connect to busd");
        stream.set_read_timeout(Some(PATIENCE)).unwrap();
        stream.set_write_timeout(Some(PATIENCE)).unwrap();
        RawPeer { stream, pid: 0 }
    }

    /// Connect and complete the handshake.
    pub fn handshaken(socket: &Path) -> RawPeer {
        let mut peer = RawPeer::connect(socket);
        let hello = hello();
        peer.pid = hello.pid;
        peer.send_value(&hello);
        let welcome: Welcome = frame::decode(&peer.read_frame().expect("a welcome")).unwrap();
        assert!(
            matches!(welcome, Welcome::Accepted { .. }),
            "handshake refused: {welcome:?}"
        );
        peer
    }

    /// Write a length prefix and `payload` as they are.
    pub fn send_frame(&mut self, payload: &[u8]) -> io::Result<()> {
        let mut frame = (payload.len() as u32).to_be_bytes().to_vec();
        frame.extend_from_slice(payload);
        self.stream.write_all(&frame)
    }

    pub fn send_value<T: serde::Serialize>(&mut self, value: &T) {
        let bytes = frame::encode(value).unwrap();
        self.send_frame(&bytes).expect("write a frame");
    }

    pub fn send_request(&mut self, id: u64, body: Request) {
        self.send_value(&Envelope { id, body });
    }

    /// The next frame's payload; `None` when busd closed the connection.
    pub fn read_frame(&mut self) -> Option<Vec<u8>> {
        let mut len = [0u8; 4];
        match self.stream.read_exact(&mut len) {
            Ok(()) => {}
            Err(e) if is_closed(&e) => return None,
            Err(e) => panic!("reading from busd: {e}"),
        }
        let mut payload = vec![0u8; u32::from_be_bytes(len) as usize];
        match self.stream.read_exact(&mut payload) {
            Ok(()) => Some(payload),
            Err(e) if is_closed(&e) => None,
            Err(e) => panic!("reading from busd: {e}"),
        }
    }

    pub fn read_reply(&mut self) -> Option<Reply> {
        self.read_frame()
            .map(|f| frame::decode(&f).expect("a reply decodes"))
    }

    /// Read until busd closes the connection; returns the replies seen on the way.
    pub fn read_to_close(&mut self) -> Vec<Reply> {
        std::iter::from_fn(|| self.read_reply()).collect()
    }

    /// A second handle on the same connection (to write from one thread, read from another).
    pub fn try_clone(&self) -> RawPeer {
        RawPeer {
            stream: self.stream.try_clone().unwrap(),
            pid: self.pid,
        }
    }

    /// Stop writing; busd sees the end of the requests but may still answer.
    pub fn half_close(&self) {
        self.stream.shutdown(Shutdown::Write).unwrap();
    }
}

fn is_closed(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::UnexpectedEof | io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe
    )
}

/// A handshake as our client sends it, with a client id of its own (request ids are keyed by
/// it, so two raw peers must not share one) and a made-up pid of its own, so that busd's log
/// lines about this connection can be told apart ([`crate::probe::conn_of_pid`]).
pub fn hello() -> Hello {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    Hello {
        protocol: proto::PROTOCOL_VERSION,
        kind: ClientKind::Other,
        client_id: format!("raw-{}-{n}", std::process::id()),
        session_id: None,
        pid: FAKE_PIDS + n as u32,
        retire_older: false,
    }
}

/// Raw peers announce pids from here up: above any real pid (the kernel's limit is 2^22).
pub const FAKE_PIDS: u32 = 1 << 23;
