//! The limits of docs/SPEC.md, checked in one place. busd enforces them; clients may check early.

use crate::{ErrorKind, Hello, WireError};

pub const NAME_MAX: usize = 64;
pub const CONTENT_MAX_BYTES: usize = 64 * 1024;
pub const KEY_MAX_CHARS: usize = 256;
pub const VALUE_MAX_BYTES: usize = 1024 * 1024;
pub const PATH_MAX_CHARS: usize = 4096;
pub const ROLE_MAX_CHARS: usize = 1024;
pub const OWNS_MAX: usize = 256;
pub const WAIT_MAX_SECONDS: f64 = 3600.0;
/// The longest a `Resolve` waits for a session's name: hooks wait only a moment.
pub const RESOLVE_WAIT_MAX_SECONDS: f64 = 10.0;
pub const LIMIT_MAX: u32 = 1000;
/// A handshake's client id (a [`Client`](crate::client::Client) makes 32 hex characters).
pub const CLIENT_ID_MAX_BYTES: usize = 128;
/// A handshake's session id (Claude Code's are 36-character UUIDs).
pub const SESSION_ID_MAX_BYTES: usize = 256;
/// The name that addresses every agent.
pub const BROADCAST: &str = "all";

/// A session name: 1–64 characters of `[A-Za-z0-9._-]`, not `all`.
pub fn name(name: &str) -> Result<(), WireError> {
    let ok_chars = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if name.is_empty() || name.len() > NAME_MAX || !ok_chars {
        return Err(WireError::invalid(format!(
            "invalid name {}: use 1-{NAME_MAX} characters of letters, digits, '.', '_' or '-'",
            shorten(name)
        )));
    }
    if name == BROADCAST {
        return Err(WireError::invalid(
            "the name 'all' is reserved for broadcasts: choose another name",
        ));
    }
    Ok(())
}

/// A recipient: a valid name or `all`.
pub fn recipient(to: &str) -> Result<(), WireError> {
    if to == BROADCAST { Ok(()) } else { name(to) }
}

pub fn content(content: &str) -> Result<(), WireError> {
    if content.is_empty() {
        return Err(WireError::invalid(
            "content is empty: send at least one byte",
        ));
    }
    if content.len() > CONTENT_MAX_BYTES {
        return Err(WireError::new(
            crate::ErrorKind::TooLarge,
            format!(
                "content is {} bytes, over the limit of {CONTENT_MAX_BYTES}: split it or put it in set_state",
                content.len()
            ),
        ));
    }
    Ok(())
}

pub fn key(key: &str) -> Result<(), WireError> {
    let n = key.chars().count();
    if n == 0 || n > KEY_MAX_CHARS {
        return Err(WireError::invalid(format!(
            "invalid key {}: use 1-{KEY_MAX_CHARS} characters",
            shorten(key)
        )));
    }
    Ok(())
}

/// A state value as stored (after an append).
pub fn value(len_bytes: usize) -> Result<(), WireError> {
    if len_bytes > VALUE_MAX_BYTES {
        return Err(WireError::new(
            crate::ErrorKind::TooLarge,
            format!(
                "value would be {len_bytes} bytes, over the limit of {VALUE_MAX_BYTES}: store less, or split it over several keys"
            ),
        ));
    }
    Ok(())
}

pub fn path(path: &str) -> Result<(), WireError> {
    let n = path.chars().count();
    if n == 0 || n > PATH_MAX_CHARS {
        return Err(WireError::invalid(format!(
            "invalid path {}: use 1-{PATH_MAX_CHARS} characters",
            shorten(path)
        )));
    }
    Ok(())
}

pub fn role(role: &str) -> Result<(), WireError> {
    if role.chars().count() > ROLE_MAX_CHARS {
        return Err(WireError::invalid(format!(
            "role is over {ROLE_MAX_CHARS} characters: describe it more briefly"
        )));
    }
    Ok(())
}

pub fn owns(globs: &[String]) -> Result<(), WireError> {
    if globs.len() > OWNS_MAX {
        return Err(WireError::invalid(format!(
            "owns has {} globs, over the limit of {OWNS_MAX}",
            globs.len()
        )));
    }
    globs.iter().try_for_each(|g| path(g))
}

/// A duration argument in seconds: finite, not negative, at most `max` when given.
pub fn seconds(arg: &str, value: f64, max: Option<f64>) -> Result<(), WireError> {
    if !value.is_finite() || value < 0.0 {
        return Err(WireError::invalid(format!(
            "{arg} must be a number of seconds, 0 or more: got {value}"
        )));
    }
    if let Some(max) = max
        && value > max
    {
        return Err(WireError::invalid(format!(
            "{arg} is {value}s, over the limit of {max}s"
        )));
    }
    Ok(())
}

/// A claim's time to live: more than 0 seconds, at most a year.
pub fn ttl(ttl: f64) -> Result<(), WireError> {
    seconds("ttl", ttl, Some(365.0 * 86400.0))?;
    if ttl == 0.0 {
        return Err(WireError::invalid("ttl must be more than 0 seconds"));
    }
    Ok(())
}

pub fn limit(limit: u32) -> Result<(), WireError> {
    if !(1..=LIMIT_MAX).contains(&limit) {
        return Err(WireError::invalid(format!(
            "limit must be an integer from 1 to {LIMIT_MAX}: got {limit}"
        )));
    }
    Ok(())
}

/// The strings of a handshake: a client id of 1–128 bytes, a session id of at most 256.
pub fn hello(hello: &Hello) -> Result<(), WireError> {
    let refuse = |what: &str, len: usize, max: usize| {
        Err(WireError::new(
            ErrorKind::Handshake,
            format!(
                "the handshake's {what} is {len} bytes, over the limit of {max}: use a shorter {what}"
            ),
        ))
    };
    if hello.client_id.is_empty() {
        return Err(WireError::new(
            ErrorKind::Handshake,
            "the handshake's client id is empty: send a random id, unique per client process",
        ));
    }
    if hello.client_id.len() > CLIENT_ID_MAX_BYTES {
        return refuse("client id", hello.client_id.len(), CLIENT_ID_MAX_BYTES);
    }
    match &hello.session_id {
        Some(s) if s.len() > SESSION_ID_MAX_BYTES => refuse(
            "session id (CLAUDE_CODE_SESSION_ID)",
            s.len(),
            SESSION_ID_MAX_BYTES,
        ),
        _ => Ok(()),
    }
}

/// `'abc'`, or its first 40 characters and `…` for long input, for error messages.
fn shorten(s: &str) -> String {
    if s.chars().count() <= 40 {
        format!("'{s}'")
    } else {
        format!("'{}…'", s.chars().take(40).collect::<String>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for ok in ["a", "api", "front-end_2.x", &"x".repeat(64)] {
            assert!(name(ok).is_ok(), "{ok}");
        }
        for bad in ["", "all", "a b", "é", "a/b", &"x".repeat(65)] {
            assert!(name(bad).is_err(), "{bad}");
        }
        assert!(recipient("all").is_ok());
    }

    #[test]
    fn sizes() {
        assert!(content("").is_err());
        assert!(content(&"x".repeat(CONTENT_MAX_BYTES)).is_ok());
        assert!(content(&"x".repeat(CONTENT_MAX_BYTES + 1)).is_err());
        assert!(key(&"k".repeat(256)).is_ok());
        assert!(key(&"k".repeat(257)).is_err());
        assert!(value(VALUE_MAX_BYTES).is_ok());
        assert!(value(VALUE_MAX_BYTES + 1).is_err());
        assert!(limit(0).is_err() && limit(1001).is_err() && limit(1000).is_ok());
        assert!(seconds("wait", f64::NAN, None).is_err());
        assert!(seconds("wait", 3600.5, Some(WAIT_MAX_SECONDS)).is_err());
        assert!(ttl(0.0).is_err() && ttl(0.5).is_ok());
    }

    #[test]
    fn handshake_strings() {
        let ok = Hello {
            protocol: crate::PROTOCOL_VERSION,
            kind: crate::ClientKind::Other,
            client_id: "c".repeat(CLIENT_ID_MAX_BYTES),
            session_id: Some("s".repeat(SESSION_ID_MAX_BYTES)),
            pid: 1,
            retire_older: false,
        };
        assert!(hello(&ok).is_ok());
        for bad in [
            Hello {
                client_id: String::new(),
                ..ok.clone()
            },
            Hello {
                client_id: "c".repeat(CLIENT_ID_MAX_BYTES + 1),
                ..ok.clone()
            },
            Hello {
                session_id: Some("s".repeat(SESSION_ID_MAX_BYTES + 1)),
                ..ok.clone()
            },
        ] {
            assert_eq!(hello(&bad).unwrap_err().kind, ErrorKind::Handshake);
        }
    }
}
