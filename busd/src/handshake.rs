//! The first frame each way: the client's [`Hello`], busd's [`Welcome`], and the version policy
//! (serve our protocol and the older ones down to `PROTOCOL_OLDEST`, retire for a newer client
//! that asks, refuse the rest with what to do).

use std::time::Duration;

use futures::SinkExt;
use proto::frame::{self, MAX_REQUEST_FRAME};
use proto::{ErrorKind, Hello, Welcome, WireError, limits};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::codec::{FramedWrite, LengthDelimitedCodec};

use crate::intake::{self, IntakeError};
use crate::presence::ConnId;
use crate::shared::Shared;

/// How long a client has to send its handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

pub(crate) enum Handshake {
    Accepted(Hello),
    Close,
    /// A newer client asked this daemon to retire.
    Retire,
}

/// Read and answer the handshake.
pub(crate) async fn answer<R, W>(
    id: ConnId,
    shared: &Shared,
    reader: &mut R,
    writer: &mut FramedWrite<W, LengthDelimitedCodec>,
) -> Handshake
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let read = intake::read_frame(reader, MAX_REQUEST_FRAME, &shared.budget);
    let first = match tokio::time::timeout(HANDSHAKE_TIMEOUT, read).await {
        Ok(Ok(frame)) => frame.payload,
        Ok(Err(IntakeError::Closed)) => return Handshake::Close,
        Ok(Err(e)) => {
            tracing::warn!(conn = id, "refused a handshake frame: {e}");
            return Handshake::Close;
        }
        Err(_) => {
            tracing::warn!(
                conn = id,
                "no handshake within {HANDSHAKE_TIMEOUT:?}; closing"
            );
            return Handshake::Close;
        }
    };
    let hello: Hello = match frame::decode(&first) {
        Ok(hello) => hello,
        Err(e) => {
            tracing::warn!(conn = id, "refused a handshake that does not decode: {e}");
            return Handshake::Close;
        }
    };
    if let Err(e) = limits::hello(&hello) {
        tracing::warn!(conn = id, "refused a handshake: {}", e.message);
        refuse(shared, writer, e.message).await;
        return Handshake::Close;
    }
    let welcome = welcome(id, shared, &hello);
    let sent = match frame::encode(&welcome) {
        Ok(bytes) => writer.send(bytes).await.is_ok(),
        Err(_) => false,
    };
    match welcome {
        Welcome::Accepted { .. } if sent => Handshake::Accepted(hello),
        Welcome::Retiring { .. } if sent => Handshake::Retire,
        _ => Handshake::Close,
    }
}

/// Refuse a connection before its handshake is read: busd serves as many as it can.
pub(crate) async fn refuse_busy<W: AsyncWrite + Unpin>(
    shared: &Shared,
    writer: &mut FramedWrite<W, LengthDelimitedCodec>,
    max: usize,
) {
    let message = format!(
        "busd (pid {}) serves its limit of {max} connections: end some sessions or `bus` commands, then retry",
        std::process::id()
    );
    refuse(shared, writer, message).await;
}

async fn refuse<W: AsyncWrite + Unpin>(
    shared: &Shared,
    writer: &mut FramedWrite<W, LengthDelimitedCodec>,
    message: String,
) {
    let welcome = Welcome::Refused {
        protocol: shared.config.protocol,
        error: WireError::new(ErrorKind::Handshake, message),
    };
    if let Ok(bytes) = frame::encode(&welcome) {
        let _ = tokio::time::timeout(HANDSHAKE_TIMEOUT, writer.send(bytes)).await;
    }
}

/// Whether busd, announcing `ours`, serves a client speaking `theirs`: its own protocol, and
/// when that is this build's, the older ones down to [`proto::PROTOCOL_OLDEST`] (each answered
/// in its own terms: see [`speaks_stopped`]).
fn serves(ours: u32, theirs: u32) -> bool {
    theirs == ours
        || (ours == proto::PROTOCOL_VERSION && (proto::PROTOCOL_OLDEST..ours).contains(&theirs))
}

/// Whether a client speaking `protocol` is told `Response::Stopped` when busd cuts its wait
/// short (protocol 3 on); an older one gets the answer alone, as before.
pub(crate) fn speaks_stopped(protocol: u32) -> bool {
    protocol >= 3
}

/// The version policy.
fn welcome(id: ConnId, shared: &Shared, hello: &Hello) -> Welcome {
    let ours = shared.config.protocol;
    if serves(ours, hello.protocol) {
        return Welcome::Accepted {
            protocol: hello.protocol,
            version: proto::VERSION.to_owned(),
            pid: std::process::id(),
        };
    }
    if hello.protocol > ours && hello.retire_older {
        tracing::info!(
            conn = id,
            theirs = hello.protocol,
            ours,
            "a newer client asked busd to retire"
        );
        // A newer busd takes over: waiting readers ask it instead of giving up.
        shared.stop(proto::Closing::Restarting);
        return Welcome::Retiring {
            protocol: ours,
            pid: std::process::id(),
        };
    }
    let message = if hello.protocol < ours {
        format!(
            "this client speaks protocol {} but busd {} speaks {ours}: update claude-bus so that bus-shim and bus match busd",
            hello.protocol,
            proto::VERSION
        )
    } else {
        format!(
            "busd {} speaks the older protocol {ours} and this client ({}) did not ask it to retire: run `bus stop`, then retry",
            proto::VERSION,
            hello.protocol
        )
    };
    tracing::warn!(
        conn = id,
        theirs = hello.protocol,
        ours,
        "refused a handshake: other protocol"
    );
    Welcome::Refused {
        protocol: ours,
        error: WireError::new(ErrorKind::Handshake, message),
    }
}
