//! A relay between clients and busd that loses busd's replies and breaks its connections when
//! the test says, the way a crash of busd would, at exactly the moment the test chooses.
//!
//! Self-contained (it needs only `proto`), so that bus-shim's tests include this same file.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use proto::frame::{self, MAX_REPLY_FRAME, MAX_REQUEST_FRAME};
use proto::{Envelope, Reply};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::mpsc;
use tokio_util::codec::{FramedRead, FramedWrite};
use tokio_util::sync::{CancellationToken, DropGuard};

/// How long a test waits for a frame to pass the relay.
const PATIENCE: Duration = Duration::from_secs(30);

/// What passed through the relay.
#[derive(Debug)]
pub enum Passed {
    /// A request on its way to busd (forwarded).
    Request(Envelope),
    /// A reply of busd's that the relay kept from its client.
    HeldBack(Reply),
}

pub struct Relay {
    /// Where clients connect instead of busd's socket.
    pub socket: PathBuf,
    control: Arc<Mutex<Control>>,
    passed: mpsc::UnboundedReceiver<Passed>,
    _stop: DropGuard,
}

struct Control {
    hold_replies: bool,
    /// Cancelled to break every connection open now.
    cut: CancellationToken,
}

impl Relay {
    /// A relay on `socket` in front of the busd listening on `daemon`.
    pub fn start(daemon: PathBuf, socket: PathBuf) -> Relay {
        let listener = UnixListener::bind(&socket).expect("bind the relay's socket");
        let control = Arc::new(Mutex::new(Control {
            hold_replies: false,
            cut: CancellationToken::new(),
        }));
        let (tx, passed) = mpsc::unbounded_channel();
        let stop = CancellationToken::new();
        tokio::spawn({
            let (control, stop) = (control.clone(), stop.clone());
            async move {
                loop {
                    let client = tokio::select! {
                        accepted = listener.accept() => match accepted {
                            Ok((client, _)) => client,
                            Err(_) => break,
                        },
                        () = stop.cancelled() => break,
                    };
                    let cut = control.lock().unwrap().cut.clone();
                    tokio::spawn(relay(
                        client,
                        daemon.clone(),
                        control.clone(),
                        cut,
                        tx.clone(),
                    ));
                }
            }
        });
        Relay {
            socket,
            control,
            passed,
            _stop: stop.drop_guard(),
        }
    }

    /// Keep busd's replies from their clients from now on (handshakes still pass).
    pub fn hold_replies(&self) {
        self.control.lock().unwrap().hold_replies = true;
    }

    /// Break every connection open now, as busd's death would; later ones pass everything.
    pub fn cut(&self) {
        let mut control = self.control.lock().unwrap();
        control.hold_replies = false;
        std::mem::take(&mut control.cut).cancel();
    }

    /// The next frame that passed.
    pub async fn next(&mut self) -> Passed {
        tokio::time::timeout(PATIENCE, self.passed.recv())
            .await
            .expect("a frame passes the relay in time")
            .expect("the relay runs")
    }
}

/// Relay one client's connection to busd until either side closes or the relay cuts it.
async fn relay(
    client: UnixStream,
    daemon: PathBuf,
    control: Arc<Mutex<Control>>,
    cut: CancellationToken,
    passed: mpsc::UnboundedSender<Passed>,
) {
    let Ok(upstream) = UnixStream::connect(&daemon).await else {
        return;
    };
    let (client_read, client_write) = client.into_split();
    let (daemon_read, daemon_write) = upstream.into_split();
    let mut from_client = FramedRead::new(client_read, frame::codec(MAX_REQUEST_FRAME));
    let mut to_daemon = FramedWrite::new(daemon_write, frame::codec(MAX_REQUEST_FRAME));
    let mut from_daemon = FramedRead::new(daemon_read, frame::codec(MAX_REPLY_FRAME));
    let mut to_client = FramedWrite::new(client_write, frame::codec(MAX_REPLY_FRAME));
    let requests = async {
        // The first frame is the handshake.
        let mut handshake = true;
        while let Some(Ok(bytes)) = from_client.next().await {
            if !handshake && let Ok(envelope) = frame::decode::<Envelope>(&bytes) {
                let _ = passed.send(Passed::Request(envelope));
            }
            handshake = false;
            if to_daemon.send(bytes.freeze()).await.is_err() {
                break;
            }
        }
    };
    let replies = async {
        let mut handshake = true;
        while let Some(Ok(bytes)) = from_daemon.next().await {
            if !handshake && control.lock().unwrap().hold_replies {
                let reply = frame::decode::<Reply>(&bytes).expect("busd's reply decodes");
                let _ = passed.send(Passed::HeldBack(reply));
                continue;
            }
            handshake = false;
            if to_client.send(bytes.freeze()).await.is_err() {
                break;
            }
        }
    };
    tokio::select! {
        () = requests => {}
        () = replies => {}
        () = cut.cancelled() => {}
    }
}
