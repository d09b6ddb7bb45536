//! Answering a resent request from the record of its first outcome.

use proto::time::rfc3339;
use proto::{Asked, Claimed, Released, Request, Response, Sent, StateWritten, WireError};

use super::mail::{inbox_page, message};
use super::{Handler, refusal};
use crate::store::{Keyed, Recorded, RequestKey, StoreError};

/// What an effectful request needs to be answered from its record.
pub(super) struct Resend {
    key: RequestKey,
    kind: Keyed,
    /// The state key, or the claimed or released path.
    subject: String,
    /// A `send` that waited for its reply: answered with the reply its record names.
    ask: bool,
}

impl Resend {
    pub(super) fn of(key: &RequestKey, request: &Request) -> Option<Resend> {
        let (kind, subject) = match request {
            Request::Send { .. } | Request::Ask { .. } => (Keyed::Send, ""),
            Request::Inbox { consume: true, .. } => (Keyed::Consume, ""),
            Request::SetState { key, .. } => (Keyed::SetState, key.as_str()),
            Request::Claim { path, .. } => (Keyed::Claim, path.as_str()),
            Request::Release { path } => (Keyed::Release, path.as_str()),
            _ => return None,
        };
        Some(Resend {
            key: key.clone(),
            kind,
            subject: subject.to_owned(),
            ask: matches!(request, Request::Ask { .. }),
        })
    }
}

impl Handler<'_> {
    /// The first answer to `resend`, if its key was applied: `None` when it was not (or the
    /// lookup failed), a refusal when the key was used for another command.
    pub(super) async fn replayed(&self, resend: Resend) -> Option<Result<Response, WireError>> {
        let recorded = match self.db().applied(resend.key, resend.kind).await {
            Ok(recorded) => recorded?,
            Err(e @ StoreError::KeyReused { .. }) => return Some(Err(refusal(e))),
            Err(_) => return None,
        };
        let subject = resend.subject;
        Some(Ok(match recorded {
            Recorded::Message(m, reply) if resend.ask => Response::Asked(Asked {
                id: m.id,
                to: m.recipient,
                reply: reply.map(message),
            }),
            Recorded::Message(m, _) => Response::Sent(Sent {
                id: m.id,
                to: m.recipient,
            }),
            Recorded::Page(page) => Response::Inbox(inbox_page(page)),
            Recorded::Version(version) => Response::StateWritten(StateWritten {
                key: subject,
                version,
            }),
            Recorded::Claim { expires_at, owner } => Response::Claimed(Claimed {
                path: subject,
                owner: owner.or_else(|| self.ctx.name()).unwrap_or_default(),
                expires_at: rfc3339(expires_at),
            }),
            Recorded::Released(released) => Response::Released(Released {
                path: subject,
                released,
            }),
        }))
    }
}
