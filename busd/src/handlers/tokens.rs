//! HTTP tokens: create (the secret shown once), list, revoke, and authenticate a bearer.
//!
//! busd keeps a token's SHA-256 digest only. Authentication hashes the presented secret and
//! compares it with every stored digest in constant time, so neither the answer nor its timing
//! tells a caller which names have tokens.

use std::io::Read as _;

use proto::time::{now, rfc3339};
use proto::{
    Authenticated, ErrorKind, Response, TOKEN_PREFIX, TokenCreated, TokenInfo, TokenList,
    TokenRevoked, WireError, limits,
};
use sha2::{Digest, Sha256};

use super::{Handler, refusal};
use crate::store::{TokenCreate, TokenRow};

/// How often (seconds) a token's `last_used` is written, at most.
const USED_GRANULARITY: f64 = 60.0;

/// Random bytes in a secret: 256 bits.
const SECRET_BYTES: usize = 32;

impl Handler<'_> {
    pub(super) async fn token_create(
        &self,
        name: String,
        role: Option<String>,
    ) -> Result<Response, WireError> {
        limits::name(&name)?;
        if let Some(role) = &role {
            limits::role(role)?;
        }
        let token = new_secret()?;
        let write = TokenCreate {
            name: name.clone(),
            role: role.filter(|r| !r.is_empty()),
            digest: digest(&token),
            now: now(),
        };
        self.db().token_create(write).await.map_err(refusal)?;
        Ok(Response::TokenCreated(TokenCreated { name, token }))
    }

    pub(super) async fn token_list(&self) -> Result<Response, WireError> {
        let tokens = self.tokens().await?;
        Ok(Response::Tokens(TokenList {
            tokens: tokens
                .into_iter()
                .map(|t| TokenInfo {
                    name: t.name,
                    role: t.role.unwrap_or_default(),
                    created: rfc3339(t.created),
                    last_used: t.last_used.map(rfc3339),
                })
                .collect(),
        }))
    }

    pub(super) async fn token_revoke(&self, name: String) -> Result<Response, WireError> {
        limits::name(&name)?;
        let revoked = self
            .db()
            .token_revoke(&name, now())
            .await
            .map_err(refusal)?;
        Ok(Response::TokenRevoked(TokenRevoked { name, revoked }))
    }

    pub(super) async fn authenticate(&self, token: String) -> Result<Response, WireError> {
        let presented = digest(&token);
        // Every digest is compared, the match or not, so the time taken says nothing either.
        let mut found: Option<TokenRow> = None;
        for row in self.tokens().await? {
            if constant_time_eq(row.digest.as_bytes(), presented.as_bytes()) && found.is_none() {
                found = Some(row);
            }
        }
        let Some(row) = found else {
            return Err(WireError::new(
                ErrorKind::Unauthorized,
                "the bearer token is not valid: create one with `bus token create NAME`",
            ));
        };
        // A front asks on every request: the time of use is written once a minute at most.
        let now = now();
        if row.last_used.is_none_or(|at| now - at >= USED_GRANULARITY)
            && let Err(e) = self.db().token_used(&row.name, now).await
        {
            tracing::warn!(error = %e, "could not record a token's last use");
        }
        Ok(Response::Authenticated(Authenticated {
            name: row.name,
            role: row.role,
        }))
    }

    async fn tokens(&self) -> Result<Vec<TokenRow>, WireError> {
        self.db().tokens().await.map_err(refusal)
    }
}

/// A new secret: the prefix and 256 random bits from the kernel, in hex.
fn new_secret() -> Result<String, WireError> {
    let mut bytes = [0u8; SECRET_BYTES];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(|e| {
            WireError::new(
                ErrorKind::Internal,
                format!("could not read random bytes for a token ({e}): check /dev/urandom"),
            )
        })?;
    Ok(format!("{TOKEN_PREFIX}{}", hex(&bytes)))
}

/// The SHA-256 digest of a secret, in hex: what the store keeps.
fn digest(secret: &str) -> String {
    hex(&Sha256::digest(secret.as_bytes()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Equality whose time depends only on the lengths (digests all have one length).
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_are_sha256_hex_and_compare_only_when_equal() {
        let d = digest("cbt_x");
        assert_eq!(d.len(), 64);
        assert!(constant_time_eq(d.as_bytes(), digest("cbt_x").as_bytes()));
        assert!(!constant_time_eq(d.as_bytes(), digest("cbt_y").as_bytes()));
        assert!(!constant_time_eq(b"ab", b"abc"));
    }

    #[test]
    fn secrets_are_fresh_and_prefixed() {
        let (a, b) = (new_secret().unwrap(), new_secret().unwrap());
        assert_ne!(a, b);
        assert!(a.starts_with(TOKEN_PREFIX));
        assert_eq!(a.len(), TOKEN_PREFIX.len() + 2 * SECRET_BYTES);
    }
}
