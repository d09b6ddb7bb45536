//! Replies out: one writer task per connection sends the replies in the order they are
//! ready, each in the shape the client's protocol decodes ([`proto::older`]), and an answer
//! too large for a frame goes out as a `TooLarge` refusal instead.

use futures::SinkExt;
use proto::frame::{self, MAX_REPLY_FRAME};
use proto::{ErrorKind, Reply, WireError};
use tokio::io::AsyncWrite;
use tokio::sync::mpsc;
use tokio_util::codec::{FramedWrite, LengthDelimitedCodec};

/// Write every reply `outbox` receives, for a client of `protocol`, until it closes or the
/// client stops reading.
pub(crate) async fn write_replies<W: AsyncWrite + Unpin>(
    mut outbox: mpsc::Receiver<Reply>,
    mut writer: FramedWrite<W, LengthDelimitedCodec>,
    protocol: u32,
) {
    while let Some(reply) = outbox.recv().await {
        let Some(bytes) = encode_reply(reply, protocol) else {
            continue;
        };
        if writer.send(bytes).await.is_err() {
            break;
        }
    }
}

fn encode_reply(reply: Reply, protocol: u32) -> Option<bytes::Bytes> {
    let id = reply.id;
    match proto::older::encode_reply(&reply, protocol) {
        Ok(bytes) if bytes.len() <= MAX_REPLY_FRAME => Some(bytes),
        Ok(bytes) => {
            let error = WireError::new(
                ErrorKind::TooLarge,
                format!(
                    "the answer is {} bytes, over the limit of {MAX_REPLY_FRAME}: ask for less (one key, a smaller limit)",
                    bytes.len()
                ),
            );
            frame::encode(&Reply {
                id,
                body: Err(error),
            })
            .ok()
        }
        Err(e) => {
            tracing::error!(error = %e, "a reply does not encode");
            None
        }
    }
}
