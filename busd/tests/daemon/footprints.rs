//! Footprints at the limits: globs that a glob engine compares slowly cannot stall busd. An
//! `agents` call ends within its time budget, and every other client is served meanwhile.

use std::time::{Duration, Instant};

use proto::{Request, Response};

use crate::common::*;

/// 256 globs of ~4,000 characters that all pass the literal prefix and suffix test against
/// each other's, so that only a compiled glob can decide a pair.
fn owns(agent: usize) -> Vec<String> {
    (0..proto::limits::OWNS_MAX)
        .map(|g| format!("**/{agent}-{g}/{}", "*x".repeat(1990)))
        .collect()
}

#[tokio::test]
async fn agents_with_globs_at_the_limits_answer_within_the_budget_and_stall_no_one() {
    let bus = TempBus::start().await;
    let mut sessions = Vec::new();
    for agent in 0..8 {
        let client = bus.connected().await;
        let request = Request::Register {
            name: format!("agent{agent}"),
            role: None,
            owns: Some(owns(agent)),
        };
        call(&client, request).await.expect("register");
        sessions.push(client);
    }
    let bystander = bus.registered("bystander").await;

    let started = Instant::now();
    let listings = futures::future::join_all(sessions.iter().take(4).map(|client| async {
        let request = Request::Agents {
            active_within: 180.0,
            all: false,
        };
        let answer = tokio::time::timeout(Duration::from_secs(30), call(client, request)).await;
        (answer, started.elapsed())
    }));
    // While the four listings are computed, another client's calls are answered at once.
    let others = async {
        let mut slowest = Duration::ZERO;
        for _ in 0..5 {
            let t0 = Instant::now();
            let me =
                tokio::time::timeout(Duration::from_secs(30), call(&bystander, Request::Whoami))
                    .await
                    .expect("whoami answered within 30s")
                    .expect("whoami");
            assert!(matches!(me, Response::Identity(_)));
            slowest = slowest.max(t0.elapsed());
        }
        slowest
    };
    let (listings, slowest) = tokio::join!(listings, others);
    for (answer, took) in listings {
        let answer = answer.expect("agents answered within 30s").expect("agents");
        let Response::Agents(list) = answer else {
            panic!("not a listing: {answer:?}")
        };
        assert_eq!(list.agents.len(), 9);
        assert!(took < Duration::from_secs(10), "agents took {took:?}");
    }
    assert!(
        slowest < Duration::from_secs(2),
        "a whoami waited {slowest:?} behind the overlap computation"
    );
}
