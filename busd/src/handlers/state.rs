//! The blackboard and advisory claims: set/get/list state, claim, release, list claims.

use proto::time::{now, rfc3339};
use proto::{
    ClaimEntry, ClaimList, Claimed, Released, Response, StateEntry, StateKey, StateKeyList,
    StateList, StateMode, StateWritten, WireError, limits,
};

use super::{Handler, unexpected};
use crate::store::{Outcome, Read, StateRow, Write};

impl Handler<'_> {
    pub(super) async fn set_state(
        &self,
        key: String,
        value: String,
        expected_version: Option<i64>,
        mode: StateMode,
    ) -> Result<Response, WireError> {
        limits::key(&key)?;
        limits::value(value.len())?;
        if let Some(v) = expected_version
            && v < 0
        {
            return Err(WireError::invalid(format!(
                "expected_version must be 0 (must not exist) or a version: got {v}"
            )));
        }
        let write = Write::SetState {
            key: self.key.clone(),
            state_key: key.clone(),
            value,
            by: self.ctx.name().unwrap_or_default(),
            expected_version,
            append: mode == StateMode::Append,
            now: now(),
        };
        match self.write(write).await? {
            Outcome::Version(version) => Ok(Response::StateWritten(StateWritten { key, version })),
            other => Err(unexpected(other)),
        }
    }

    pub(super) async fn get_state(&self, key: Option<String>) -> Result<Response, WireError> {
        if let Some(key) = &key {
            limits::key(key)?;
        }
        let rows = self.state_rows(key, true).await?;
        let state = rows
            .into_iter()
            .map(|r| StateEntry {
                key: r.key,
                value: r.value,
                updated_by: r.updated_by,
                updated_at: rfc3339(r.updated_at),
                version: r.version,
            })
            .collect();
        Ok(Response::State(StateList { state }))
    }

    pub(super) async fn list_state(&self) -> Result<Response, WireError> {
        let keys = self
            .state_rows(None, false)
            .await?
            .into_iter()
            .map(|r| StateKey {
                key: r.key,
                updated_by: r.updated_by,
                updated_at: rfc3339(r.updated_at),
                version: r.version,
            })
            .collect();
        Ok(Response::StateKeys(StateKeyList { keys }))
    }

    async fn state_rows(
        &self,
        key: Option<String>,
        with_values: bool,
    ) -> Result<Vec<StateRow>, WireError> {
        match self.read(Read::State { key, with_values }).await? {
            Outcome::State(rows) => Ok(rows),
            other => Err(unexpected(other)),
        }
    }

    pub(super) async fn claim(&self, path: String, ttl: f64) -> Result<Response, WireError> {
        let me = self.me()?;
        limits::path(&path)?;
        limits::ttl(ttl)?;
        let write = Write::Claim {
            key: self.key.clone(),
            path,
            owner: me,
            ttl,
            now: now(),
        };
        match self.write(write).await? {
            Outcome::Claim(c) => Ok(Response::Claimed(Claimed {
                path: c.path,
                owner: c.owner,
                expires_at: rfc3339(c.expires_at),
            })),
            other => Err(unexpected(other)),
        }
    }

    pub(super) async fn release(&self, path: String) -> Result<Response, WireError> {
        let me = self.me()?;
        limits::path(&path)?;
        let write = Write::Release {
            key: self.key.clone(),
            path: path.clone(),
            owner: me,
            now: now(),
        };
        match self.write(write).await? {
            Outcome::Released(released) => Ok(Response::Released(Released { path, released })),
            other => Err(unexpected(other)),
        }
    }

    pub(super) async fn list_claims(&self) -> Result<Response, WireError> {
        let now = now();
        let claims = match self.read(Read::Claims { now }).await? {
            Outcome::Claims(rows) => rows,
            other => return Err(unexpected(other)),
        };
        let claims = claims
            .into_iter()
            .map(|c| ClaimEntry {
                ttl_remaining: ((c.expires_at - now).max(0.0) * 10.0).round() / 10.0,
                expires_at: rfc3339(c.expires_at),
                path: c.path,
                owner: c.owner,
            })
            .collect();
        Ok(Response::Claims(ClaimList { claims }))
    }
}
