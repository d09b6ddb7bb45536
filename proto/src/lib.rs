//! The claude-bus wire protocol and the client side of the daemon's socket.
//!
//! Everything that crosses the socket between `busd` and its clients (`bus-shim`, `bus`) is
//! defined here and nowhere else: the handshake ([`Hello`]/[`Welcome`]), the request and reply
//! envelopes ([`Envelope`]/[`Reply`]) around the closed [`Request`]/[`Response`] enums, and the
//! typed [`WireError`]. Frames are postcard-encoded inside a length-delimited codec with an
//! explicit maximum size ([`frame`]). [`client`] connects, handshakes, starts the daemon when
//! none answers, and retries an interrupted call with the same request id after reconnecting.

pub mod channel;
pub mod client;
pub mod error;
pub mod frame;
pub mod handshake;
pub mod host;
pub mod limits;
pub mod older;
pub mod overlap;
pub mod paths;
pub mod private;
pub mod socket;
pub mod time;
pub mod tokens;
pub mod wire;

pub use error::{ErrorKind, WireError};
pub use handshake::{ClientKind, Hello, Welcome};
pub use host::Host;
pub use tokens::*;
pub use wire::*;

/// The version of the protocol spoken after the handshake. Bump it whenever [`Request`],
/// [`Response`] or any type inside them changes shape: postcard is not self-describing.
/// 3 added `Request::{AwaitParked, MarkRead, Watch}` and `Response::{Stopped, Parked,
/// Changed}` at the ends of the enums; 4 added `Agent::host`.
pub const PROTOCOL_VERSION: u32 = 4;

/// The oldest protocol busd still serves: a protocol 2 client decodes every answer busd
/// gives it (busd sends it none of the later variants, and agents in their old shape:
/// [`older`]) and sees waits end as before.
pub const PROTOCOL_OLDEST: u32 = 2;

/// The version of the claude-bus binaries, reported by `bus status` and in the handshake.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
