//! Framing: a 4-byte big-endian length, then a postcard-encoded value.

use bytes::Bytes;
use serde::{Serialize, de::DeserializeOwned};
use tokio_util::codec::LengthDelimitedCodec;

/// Largest frame a client may send: a 1 MiB state value with its key and envelope fits twice.
pub const MAX_REQUEST_FRAME: usize = 2 * 1024 * 1024;

/// Largest frame busd sends: 1,000 messages of 64 KiB, or many large state values. Replies over
/// it are refused with `ErrorKind::TooLarge` instead of being sent.
pub const MAX_REPLY_FRAME: usize = 128 * 1024 * 1024;

/// The codec for one direction of a connection, refusing frames over `max_frame_length`.
pub fn codec(max_frame_length: usize) -> LengthDelimitedCodec {
    LengthDelimitedCodec::builder()
        .max_frame_length(max_frame_length)
        .new_codec()
}

/// Why a frame could not be turned into a value or back.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("frame does not decode: {0}")]
    Decode(postcard::Error),
    #[error("value does not encode: {0}")]
    Encode(postcard::Error),
}

pub fn encode<T: Serialize>(value: &T) -> Result<Bytes, FrameError> {
    postcard::to_stdvec(value)
        .map(Bytes::from)
        .map_err(FrameError::Encode)
}

pub fn decode<T: DeserializeOwned>(frame: &[u8]) -> Result<T, FrameError> {
    postcard::from_bytes(frame).map_err(FrameError::Decode)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Envelope, Request};

    #[test]
    fn round_trip() {
        let env = Envelope {
            id: 7,
            body: Request::Send {
                to: "api".into(),
                content: "hi".into(),
                reply_to: Some(3),
            },
        };
        let bytes = encode(&env).unwrap();
        assert_eq!(decode::<Envelope>(&bytes).unwrap(), env);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for junk in [&b""[..], b"\xff\xff\xff\xff\xff", b"\x01\x63garbage"] {
            assert!(decode::<Envelope>(junk).is_err());
        }
    }
}
