//! A raw connection to busd's socket: bytes and frames written by hand, for the tests of what
//! busd does with bad input and with the handshake.

use std::time::Duration;

use proto::{ClientKind, Envelope, Hello, Reply, Request, Welcome};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

use super::TempBus;

/// How long a test waits for busd to answer or to close before it calls busd stuck.
const PATIENCE: Duration = Duration::from_secs(30);

/// One socket connection driven byte by byte.
pub struct Raw {
    pub stream: UnixStream,
}

/// A handshake as `bus-shim` would send it, speaking `protocol`.
pub fn hello(protocol: u32, client_id: &str) -> Hello {
    Hello {
        protocol,
        kind: ClientKind::Other,
        client_id: client_id.into(),
        session_id: None,
        pid: std::process::id(),
        retire_older: false,
    }
}

impl Raw {
    /// Connect without a handshake.
    pub async fn connect(bus: &TempBus) -> Raw {
        let stream = UnixStream::connect(&bus.paths.socket)
            .await
            .expect("connect to busd's socket");
        Raw { stream }
    }

    /// Connect and handshake with `hello`; returns busd's answer.
    pub async fn greet(bus: &TempBus, hello: &Hello) -> (Raw, Welcome) {
        let mut raw = Raw::connect(bus).await;
        raw.send(hello).await;
        let welcome = raw.recv().await.expect("busd answers the handshake");
        (raw, welcome)
    }

    /// A connection past an accepted handshake, with its own client id.
    pub async fn accepted(bus: &TempBus, client_id: &str) -> Raw {
        let (raw, welcome) = Raw::greet(bus, &hello(proto::PROTOCOL_VERSION, client_id)).await;
        assert!(
            matches!(welcome, Welcome::Accepted { .. }),
            "handshake refused: {welcome:?}"
        );
        raw
    }

    /// Write bytes as they are.
    pub async fn write(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.expect("write to busd");
    }

    /// Write one frame: a 4-byte big-endian length, then `payload`.
    pub async fn frame(&mut self, payload: &[u8]) {
        let len = u32::try_from(payload.len()).expect("frame length fits 32 bits");
        let mut bytes = len.to_be_bytes().to_vec();
        bytes.extend_from_slice(payload);
        self.write(&bytes).await;
    }

    /// Write one value as a frame.
    pub async fn send<T: Serialize>(&mut self, value: &T) {
        let payload = proto::frame::encode(value).expect("encode");
        self.frame(&payload).await;
    }

    /// Read one frame and decode it; `None` when busd closed the connection.
    pub async fn recv<T: DeserializeOwned>(&mut self) -> Option<T> {
        let read = async {
            let mut len = [0u8; 4];
            if self.stream.read_exact(&mut len).await.is_err() {
                return None;
            }
            let mut payload = vec![0u8; u32::from_be_bytes(len) as usize];
            self.stream.read_exact(&mut payload).await.ok()?;
            Some(proto::frame::decode(&payload).expect("busd's frame decodes"))
        };
        tokio::time::timeout(PATIENCE, read)
            .await
            .expect("busd answers or closes")
    }

    /// Send a request envelope and read the next reply.
    pub async fn call(&mut self, id: u64, body: Request) -> Reply {
        self.send(&Envelope { id, body }).await;
        self.recv().await.expect("busd replies")
    }

    /// Send a request envelope and read replies until its own; the others that came first are
    /// returned with it.
    pub async fn call_until(&mut self, id: u64, body: Request) -> (Reply, Vec<Reply>) {
        self.send(&Envelope { id, body }).await;
        let mut others = Vec::new();
        loop {
            let reply: Reply = self.recv().await.expect("busd replies");
            if reply.id == id {
                return (reply, others);
            }
            others.push(reply);
        }
    }

    /// Read one frame's payload as it is; `None` when busd closed the connection.
    pub async fn recv_frame(&mut self) -> Option<Vec<u8>> {
        let read = async {
            let mut len = [0u8; 4];
            self.stream.read_exact(&mut len).await.ok()?;
            let mut payload = vec![0u8; u32::from_be_bytes(len) as usize];
            self.stream.read_exact(&mut payload).await.ok()?;
            Some(payload)
        };
        tokio::time::timeout(PATIENCE, read)
            .await
            .expect("busd answers or closes")
    }

    /// Every frame busd sends until it closes the connection.
    pub async fn frames_until_closed(&mut self) -> Vec<Vec<u8>> {
        let mut frames = Vec::new();
        while let Some(frame) = self.recv_frame().await {
            frames.push(frame);
        }
        frames
    }

    /// Stop writing (busd reads the end of the requests, and may still answer them). Errors
    /// are ignored: busd may have closed the connection already.
    pub async fn half_close(&mut self) {
        let _ = self.stream.shutdown().await;
    }

    /// Whether busd closed this connection: reads until end of stream (or a reset), failing
    /// the test if busd sends anything or keeps the connection open.
    pub async fn is_closed(&mut self) -> bool {
        let mut buf = [0u8; 256];
        let read = tokio::time::timeout(PATIENCE, self.stream.read(&mut buf)).await;
        match read {
            Ok(Ok(0)) | Ok(Err(_)) => true,
            Ok(Ok(n)) => panic!("busd sent {n} bytes instead of closing the connection"),
            Err(_) => false,
        }
    }
}
