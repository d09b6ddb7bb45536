//! Reading request frames under limits, so that slow or hostile clients cannot grow busd.
//!
//! A frame is a 4-byte big-endian length and its payload. Waiting for a frame to begin has no
//! time limit (an idle session is fine), but once its first byte has arrived the rest must
//! follow within [`FRAME_TIME_LIMIT`]. A payload over [`SMALL_FRAME`] is read into memory only
//! after its bytes are taken from the [`Budget`] shared by every connection, and they stay taken
//! until the request is answered: large requests read or running hold at most
//! [`BUFFERED_MAX`] bytes in all. Small frames (every request but large state values) skip the
//! budget, so that a few large ones never hold up the rest; a connection reads one frame at a
//! time and busd serves a bounded number of connections, which bounds them too.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

/// How long the rest of a frame may take once its first byte has arrived.
pub(crate) const FRAME_TIME_LIMIT: Duration = Duration::from_secs(10);
/// Bytes of large request frames held at once across every connection: 32 of the largest size.
pub(crate) const BUFFERED_MAX: usize = 64 * 1024 * 1024;
/// Frames up to this size do not draw on the budget: a message of the largest size fits.
pub(crate) const SMALL_FRAME: usize = 128 * 1024;

/// The bytes every connection's incoming frames draw from.
#[derive(Clone)]
pub(crate) struct Budget(Arc<Semaphore>);

impl Budget {
    pub fn new(bytes: usize) -> Budget {
        Budget(Arc::new(Semaphore::new(bytes)))
    }

    async fn take(&self, bytes: usize) -> OwnedSemaphorePermit {
        // Never more than the whole budget (frames are far smaller), never zero.
        let n = u32::try_from(bytes.clamp(1, BUFFERED_MAX)).unwrap_or(u32::MAX);
        self.0
            .clone()
            .acquire_many_owned(n)
            .await
            .expect("the budget is never closed")
    }
}

/// One frame's payload, holding its bytes of the budget (if large) until dropped.
pub(crate) struct Frame {
    pub payload: Vec<u8>,
    pub held: Option<OwnedSemaphorePermit>,
}

/// Why no frame was read.
#[derive(Debug, thiserror::Error)]
pub(crate) enum IntakeError {
    /// The client closed its side between frames.
    #[error("closed")]
    Closed,
    #[error("a frame of {len} bytes is over the limit of {max}")]
    TooLarge { len: usize, max: usize },
    #[error("a frame begun did not arrive within {FRAME_TIME_LIMIT:?}")]
    TooSlow,
    #[error("the connection ended inside a frame")]
    Truncated,
    #[error("reading failed: {0}")]
    Io(std::io::Error),
}

/// Read one frame of at most `max` bytes.
pub(crate) async fn read_frame<R: AsyncRead + Unpin>(
    reader: &mut R,
    max: usize,
    budget: &Budget,
) -> Result<Frame, IntakeError> {
    let mut header = [0u8; 4];
    match reader.read(&mut header[..1]).await {
        Ok(0) => return Err(IntakeError::Closed),
        Ok(_) => {}
        Err(e) => return Err(IntakeError::Io(e)),
    }
    within(Instant::now(), reader.read_exact(&mut header[1..])).await?;
    let len = u32::from_be_bytes(header) as usize;
    if len > max {
        return Err(IntakeError::TooLarge { len, max });
    }
    // Waiting for the budget is busd's congestion, not the client's slowness: the time limit
    // for the payload starts once its bytes are granted.
    let held = if len > SMALL_FRAME {
        Some(budget.take(len).await)
    } else {
        None
    };
    let mut payload = vec![0u8; len];
    within(Instant::now(), reader.read_exact(&mut payload)).await?;
    Ok(Frame { payload, held })
}

async fn within(
    started: Instant,
    read: impl Future<Output = std::io::Result<usize>>,
) -> Result<(), IntakeError> {
    match tokio::time::timeout_at(started + FRAME_TIME_LIMIT, read).await {
        Err(_) => Err(IntakeError::TooSlow),
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => Err(IntakeError::Truncated),
        Ok(Err(e)) => Err(IntakeError::Io(e)),
    }
}
