//! Random requests for property tests: every variant but `Shutdown`, with arguments drawn both
//! inside and outside docs/SPEC.md's limits (names, sizes, durations, ids, globs).
//!
//! Durations that busd would accept stay under 50 ms, so a random `inbox` or `tail` never
//! makes a test wait long; out-of-range ones (negative, NaN, infinite, huge) are refused.

use proptest::prelude::*;
use proto::limits;
use proto::{Request, StateMode};

/// A name: usually valid (from a small pool, so requests meet each other), sometimes not.
pub fn name() -> BoxedStrategy<String> {
    prop_oneof![
        6 => prop::sample::select(vec!["ann", "bob", "cy", "dee", "all"]).prop_map(str::to_owned),
        2 => "[A-Za-z0-9._-]{1,64}",
        1 => any::<String>(),
        1 => Just("n".repeat(limits::NAME_MAX + 1)),
        1 => Just(String::new()),
    ]
    .boxed()
}

/// Message content: short, empty, or at the 64 KiB limit and just past it.
fn content() -> BoxedStrategy<String> {
    prop_oneof![
        6 => any::<String>(),
        1 => Just(String::new()),
        1 => (limits::CONTENT_MAX_BYTES - 1..=limits::CONTENT_MAX_BYTES + 1)
            .prop_map(|n| "c".repeat(n)),
    ]
    .boxed()
}

/// Seconds: accepted ones are short; the rest are out of range.
fn seconds() -> BoxedStrategy<f64> {
    prop_oneof![
        4 => 0.0..0.05f64,
        1 => Just(0.0),
        1 => prop::sample::select(vec![
            -1.0,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            limits::WAIT_MAX_SECONDS + 1.0,
            1e300,
            -0.0,
        ]),
    ]
    .boxed()
}

/// A time to live: any length is fine for a claim, so the whole range is tried.
fn ttl() -> BoxedStrategy<f64> {
    prop_oneof![3 => 0.0..1e7f64, 1 => seconds(), 1 => any::<f64>()].boxed()
}

fn limit() -> BoxedStrategy<u32> {
    prop_oneof![4 => 1..=limits::LIMIT_MAX, 1 => Just(0u32), 1 => any::<u32>()].boxed()
}

fn message_id() -> BoxedStrategy<i64> {
    prop_oneof![4 => 0..64i64, 1 => any::<i64>()].boxed()
}

fn key() -> BoxedStrategy<String> {
    prop_oneof![
        4 => "[a-z/]{1,12}",
        1 => any::<String>(),
        1 => Just("k".repeat(limits::KEY_MAX_CHARS + 1)),
    ]
    .boxed()
}

fn value() -> BoxedStrategy<String> {
    prop_oneof![
        6 => any::<String>(),
        1 => (limits::VALUE_MAX_BYTES..=limits::VALUE_MAX_BYTES + 1).prop_map(|n| "v".repeat(n)),
    ]
    .boxed()
}

/// Path globs, valid and not (unclosed brackets, stray braces).
fn globs() -> BoxedStrategy<Vec<String>> {
    let glob = prop_oneof![
        "[a-z]{1,4}(/[a-z*]{1,4}){0,3}",
        Just("**".to_owned()),
        Just("src/[a-".to_owned()),
        Just("{a,b".to_owned()),
        any::<String>(),
    ];
    prop::collection::vec(glob, 0..6).boxed()
}

/// Any request but `Shutdown` (which would end the daemon under test on purpose).
pub fn request() -> BoxedStrategy<Request> {
    prop_oneof![
        (
            name(),
            prop::option::of(any::<String>()),
            prop::option::of(globs())
        )
            .prop_map(|(name, role, owns)| Request::Register { name, role, owns }),
        name().prop_map(|name| Request::ActAs { name }),
        Just(Request::Whoami),
        any::<String>().prop_map(|session_id| Request::Resolve {
            session_ids: vec![session_id],
            host: None,
            wait: 0.0,
        }),
        (seconds(), any::<bool>())
            .prop_map(|(active_within, all)| Request::Agents { active_within, all }),
        (name(), content(), prop::option::of(message_id())).prop_map(|(to, content, reply_to)| {
            Request::Send {
                to,
                content,
                reply_to,
            }
        }),
        (any::<bool>(), limit(), seconds(), prop::option::of(name())).prop_map(
            |(consume, limit, wait, waiter)| Request::Inbox {
                consume,
                limit,
                wait,
                waiter,
            }
        ),
        message_id().prop_map(|message_id| Request::MessageStatus { message_id }),
        (
            key(),
            value(),
            prop::option::of(prop_oneof![0..4i64, any::<i64>()]),
            any::<bool>()
        )
            .prop_map(|(key, value, expected_version, append)| Request::SetState {
                key,
                value,
                expected_version,
                mode: if append {
                    StateMode::Append
                } else {
                    StateMode::Overwrite
                },
            }),
        prop::option::of(key()).prop_map(|key| Request::GetState { key }),
        Just(Request::ListState),
        (globs(), ttl()).prop_map(|(paths, ttl)| Request::Claim {
            path: paths.into_iter().next().unwrap_or_default(),
            ttl
        }),
        globs().prop_map(|paths| Request::Release {
            path: paths.into_iter().next().unwrap_or_default()
        }),
        Just(Request::ListClaims),
        (prop::option::of(message_id()), seconds(), limit())
            .prop_map(|(after, wait, limit)| Request::Tail { after, wait, limit }),
        Just(Request::Status),
        any::<u64>().prop_map(|id| Request::Cancel { id }),
        (key(), prop_oneof![0..4i64, any::<i64>()], seconds()).prop_map(
            |(key, after_version, wait)| Request::WaitState {
                key,
                after_version,
                wait,
            }
        ),
        (name(), content(), prop::option::of(message_id()), seconds()).prop_map(
            |(to, content, reply_to, wait)| Request::Ask {
                to,
                content,
                reply_to,
                wait,
            }
        ),
        message_id().prop_map(|id| Request::Thread { id }),
    ]
    .boxed()
}

/// Whether `request` could end or retire the daemon (decoded from random bytes, it may).
pub fn stops_the_daemon(request: &Request) -> bool {
    matches!(request, Request::Shutdown | Request::Restart)
}
