//! The blackboard and advisory claims: set/get/list state, claim, release, list claims.

use proto::time::{now, rfc3339};
use proto::{
    ClaimEntry, ClaimList, Claimed, Released, Response, StateEntry, StateKey, StateKeyList,
    StateList, StateMode, StateWritten, WireError, limits,
};

use super::{Handler, refusal};
use crate::store::{Claim, Release, SetState, StateRow};

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
        let write = SetState {
            key: self.key.clone(),
            state_key: key.clone(),
            value,
            by: self.ctx.name().unwrap_or_default(),
            expected_version,
            append: mode == StateMode::Append,
            now: now(),
        };
        let version = self.db().set_state(write).await.map_err(refusal)?;
        Ok(Response::StateWritten(StateWritten { key, version }))
    }

    pub(super) async fn get_state(&self, key: Option<String>) -> Result<Response, WireError> {
        let state = self.state_entries(key).await?;
        Ok(Response::State(StateList { state }))
    }

    /// One key (checked), or every key, with its value.
    pub(super) async fn state_entries(
        &self,
        key: Option<String>,
    ) -> Result<Vec<StateEntry>, WireError> {
        if let Some(key) = &key {
            limits::key(key)?;
        }
        let rows = self.state_rows(key, true).await?;
        Ok(rows
            .into_iter()
            .map(|r| StateEntry {
                key: r.key,
                value: r.value,
                updated_by: r.updated_by,
                updated_at: rfc3339(r.updated_at),
                version: r.version,
            })
            .collect())
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
        self.db()
            .state(key.as_deref(), with_values)
            .await
            .map_err(refusal)
    }

    pub(super) async fn claim(&self, path: String, ttl: f64) -> Result<Response, WireError> {
        let me = self.me()?;
        limits::path(&path)?;
        limits::ttl(ttl)?;
        let write = Claim {
            key: self.key.clone(),
            path,
            owner: me,
            ttl,
            now: now(),
        };
        let c = self.db().claim(write).await.map_err(refusal)?;
        Ok(Response::Claimed(Claimed {
            path: c.path,
            owner: c.owner,
            expires_at: rfc3339(c.expires_at),
        }))
    }

    pub(super) async fn release(&self, path: String) -> Result<Response, WireError> {
        let me = self.me()?;
        limits::path(&path)?;
        let write = Release {
            key: self.key.clone(),
            path: path.clone(),
            owner: me,
            now: now(),
        };
        let released = self.db().release(write).await.map_err(refusal)?;
        Ok(Response::Released(Released { path, released }))
    }

    pub(super) async fn list_claims(&self) -> Result<Response, WireError> {
        let now = now();
        let claims = self.db().claims(now).await.map_err(refusal)?;
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
