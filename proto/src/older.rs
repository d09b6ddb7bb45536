//! Replies as clients of older protocols decode them.
//!
//! busd serves clients down to [`crate::PROTOCOL_OLDEST`] (the sessions still running when
//! claude-bus is upgraded). New variants at the ends of the enums cost them nothing (busd never
//! sends them one), but postcard is not self-describing: a type that grew a field must be
//! written in its old shape for them. Protocol 4 added [`Agent::host`]; before it, an
//! `agents` answer is written without it.

use bytes::Bytes;
use serde::ser::{Serialize, SerializeStruct, Serializer};

use crate::frame::{self, FrameError};
use crate::{Agent, AgentList, Reply, Response, WireError};

/// The first protocol whose [`Agent`] carries `host`.
pub const AGENT_HOST: u32 = 4;

/// The position of [`Response::Agents`] in its enum, as postcard writes it (a unit test
/// checks it against the real encoding).
const RESPONSE_AGENTS: u32 = 2;

/// `reply`, encoded for a client that speaks `protocol`.
pub fn encode_reply(reply: &Reply, protocol: u32) -> Result<Bytes, FrameError> {
    match &reply.body {
        Ok(Response::Agents(list)) if protocol < AGENT_HOST => frame::encode(&LegacyReply {
            id: reply.id,
            body: Ok(LegacyAgents(list)),
        }),
        _ => frame::encode(reply),
    }
}

/// [`Reply`] with an `agents` answer of protocols 2 and 3.
#[derive(serde::Serialize)]
struct LegacyReply<'a> {
    id: u64,
    body: Result<LegacyAgents<'a>, &'a WireError>,
}

/// `Response::Agents` with agents of the old shape.
struct LegacyAgents<'a>(&'a AgentList);

impl Serialize for LegacyAgents<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let agents: Vec<AgentBefore4<'_>> = self.0.agents.iter().map(AgentBefore4).collect();
        s.serialize_newtype_variant(
            "Response",
            RESPONSE_AGENTS,
            "Agents",
            &LegacyList { agents },
        )
    }
}

#[derive(serde::Serialize)]
struct LegacyList<'a> {
    agents: Vec<AgentBefore4<'a>>,
}

/// An [`Agent`] without `host`, field for field as protocols 2 and 3 wrote it.
struct AgentBefore4<'a>(&'a Agent);

impl Serialize for AgentBefore4<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let a = self.0;
        let mut st = s.serialize_struct("Agent", 9)?;
        st.serialize_field("name", &a.name)?;
        st.serialize_field("role", &a.role)?;
        st.serialize_field("owns", &a.owns)?;
        st.serialize_field("status", &a.status)?;
        st.serialize_field("connected", &a.connected)?;
        st.serialize_field("waiting", &a.waiting)?;
        st.serialize_field("last_seen", &a.last_seen)?;
        st.serialize_field("seconds_ago", &a.seconds_ago)?;
        st.serialize_field("overlaps", &a.overlaps)?;
        st.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::AgentStatus;

    /// The shape of `Agent` in protocols 2 and 3, as an old client decodes it.
    #[derive(serde::Deserialize, Debug, PartialEq)]
    struct OldAgent {
        name: String,
        role: String,
        owns: Vec<String>,
        status: AgentStatus,
        connected: bool,
        waiting: bool,
        last_seen: String,
        seconds_ago: f64,
        overlaps: Vec<String>,
    }

    #[derive(serde::Deserialize, Debug)]
    struct OldList {
        agents: Vec<OldAgent>,
    }

    /// `Response` up to `Agents`, as an old client knows it.
    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    enum OldResponse {
        Registered(crate::Registered),
        Identity(crate::Identity),
        Agents(OldList),
    }

    #[derive(serde::Deserialize, Debug)]
    struct OldReply {
        id: u64,
        body: Result<OldResponse, WireError>,
    }

    fn agent() -> Agent {
        Agent {
            name: "api".into(),
            role: "backend".into(),
            owns: vec!["src/**".into()],
            status: AgentStatus::Online,
            connected: true,
            waiting: false,
            last_seen: "2026-12-03T10:00:00Z".into(),
            seconds_ago: 0.0,
            overlaps: vec!["web".into()],
            host: Some("laptop".into()),
        }
    }

    #[test]
    fn an_older_client_decodes_agents_without_host_and_a_newer_one_with_it() {
        let reply = Reply {
            id: 7,
            body: Ok(Response::Agents(AgentList {
                agents: vec![agent()],
            })),
        };
        let old: OldReply = frame::decode(&encode_reply(&reply, 3).unwrap()).unwrap();
        assert_eq!(old.id, 7);
        let Ok(OldResponse::Agents(list)) = old.body else {
            panic!("{old:?}");
        };
        assert_eq!(list.agents[0].name, "api");
        assert_eq!(list.agents[0].overlaps, ["web"]);
        let new: Reply = frame::decode(&encode_reply(&reply, AGENT_HOST).unwrap()).unwrap();
        assert_eq!(new, reply);
    }

    #[test]
    fn the_agents_position_is_the_real_one() {
        // With no agents both shapes are the same bytes: only the variant index can differ.
        let reply = Reply {
            id: 1,
            body: Ok(Response::Agents(AgentList { agents: vec![] })),
        };
        assert_eq!(
            encode_reply(&reply, 3).unwrap(),
            frame::encode(&reply).unwrap()
        );
    }

    #[test]
    fn other_answers_and_errors_are_written_as_they_are() {
        let reply = Reply {
            id: 2,
            body: Err(WireError::new(crate::ErrorKind::NotFound, "no such key")),
        };
        assert_eq!(
            encode_reply(&reply, 2).unwrap(),
            frame::encode(&reply).unwrap()
        );
    }
}
