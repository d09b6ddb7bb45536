//! `bus status` when `BUS_URL` points `bus` at an HTTP front: which bus, that it is remote,
//! and the name the token binds there.

use serde::Serialize;

use crate::output::{self, say};
use crate::remote::Remote;

/// The result of `bus status --json` over `BUS_URL`.
#[derive(Serialize)]
struct RemoteStatus<'a> {
    remote: bool,
    url: &'a str,
    running: bool,
    name: Option<String>,
}

/// Say which bus this is; exit 1 (after saying why) when the front does not answer.
pub async fn status(remote: &Remote, json: bool) -> anyhow::Result<()> {
    let name = remote.name().await;
    let status = RemoteStatus {
        remote: true,
        url: remote.url(),
        running: name.is_ok(),
        name: name.as_ref().ok().cloned().flatten(),
    };
    if json {
        output::json(&status)?;
    } else {
        say!("bus       remote, over HTTP at {} (BUS_URL)", remote.url())?;
        match &name {
            Ok(found) => say!(
                "name      {} (bound by BUS_TOKEN)",
                found.as_deref().unwrap_or("-")
            )?,
            Err(e) => say!("answer    none: {e}")?,
        }
    }
    match name {
        Ok(_) => Ok(()),
        Err(_) => Err(super::Answered(1).into()),
    }
}
