//! The PostgreSQL backend runs the conformance suite on a real server (a throwaway cluster of
//! the test support, one fresh database per test); and what only a shared database has: the
//! schema's version and its lock, several busd writing at once, notifications, a lost server.

use std::sync::{Arc, Barrier, Mutex};

use super::PgBackend;
use crate::store::conformance::{Bus, Rows, Subject, suite};
use crate::store::{Backend, CommitListener, Committed, Reads};

/// A database of its own on the test cluster.
pub(crate) struct PgSubject {
    url: String,
    pub(crate) db: PgBackend,
}

impl PgSubject {
    pub(crate) fn new() -> Option<PgSubject> {
        let url = testkit::postgres::cluster()?.database();
        let db = PgBackend::open(&url).unwrap();
        Some(PgSubject { url, db })
    }

    fn count(&mut self, sql: &str) -> i64 {
        self.db.conn().unwrap().one(sql, &[]).unwrap().get(0)
    }
}

impl Subject for PgSubject {
    fn backend(&mut self) -> &mut dyn Backend {
        &mut self.db
    }

    fn cursor(&mut self, name: &str) -> i64 {
        self.db
            .conn()
            .unwrap()
            .one(
                "SELECT COALESCE(MAX(last_read_id), 0)::BIGINT FROM agents WHERE name = $1",
                &[&name],
            )
            .unwrap()
            .get(0)
    }

    fn rows(&mut self, what: Rows) -> u64 {
        let table = match what {
            Rows::Receipts => "deliveries",
            Rows::Applied => "applied",
            Rows::Claims => "claims",
            Rows::Reservations => "pg_temp.bus_asks",
        };
        self.count(&format!("SELECT COUNT(*) FROM {table}"))
            .unsigned_abs()
    }

    fn restart(&mut self) {
        self.db.close().unwrap();
        self.db = PgBackend::open(&self.url).unwrap();
    }
}

suite!(conformance, PgSubject::new);

/// Collects what another busd's commits announce.
#[derive(Clone, Default)]
struct Heard(
    Arc<Mutex<(Vec<Committed>, usize)>>,
    Arc<tokio::sync::Notify>,
);

impl CommitListener for Heard {
    fn committed(&self, events: &[Committed]) {
        self.0.lock().unwrap().0.extend_from_slice(events);
        self.1.notify_one();
    }

    fn missed(&self) {
        self.0.lock().unwrap().1 += 1;
        self.1.notify_one();
    }
}

#[test]
fn a_newer_schema_is_refused_and_left_alone() {
    let Some(mut subject) = PgSubject::new() else {
        return;
    };
    subject
        .db
        .conn()
        .unwrap()
        .batch("UPDATE bus_meta SET value = '99' WHERE key = 'schema_version'")
        .unwrap();
    let e = PgBackend::open(&subject.url).err().unwrap().to_string();
    assert!(
        e.contains("schema version 99") && e.contains("update claude-bus"),
        "{e}"
    );
    assert_eq!(subject.count("SELECT value::BIGINT FROM bus_meta"), 99);
}

#[test]
fn many_busd_opening_an_empty_database_at_once_make_one_schema() {
    let Some(cluster) = testkit::postgres::cluster() else {
        return;
    };
    let url = cluster.database();
    let start = Arc::new(Barrier::new(6));
    let opened: Vec<_> = (0..6)
        .map(|_| {
            let (url, start) = (url.clone(), start.clone());
            std::thread::spawn(move || {
                start.wait();
                PgBackend::open(&url).map(|_| ()).map_err(|e| e.to_string())
            })
        })
        .collect();
    for o in opened {
        o.join().unwrap().unwrap();
    }
    let mut db = PgBackend::open(&url).unwrap();
    let versions: i64 = db
        .conn()
        .unwrap()
        .one("SELECT COUNT(*) FROM bus_meta", &[])
        .unwrap()
        .get(0);
    assert_eq!(versions, 1);
}

#[test]
fn a_database_with_foreign_bus_tables_is_refused() {
    let Some(cluster) = testkit::postgres::cluster() else {
        return;
    };
    let url = cluster.database();
    let mut client = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    client
        .batch_execute("CREATE TABLE messages(id INT)")
        .unwrap();
    let e = PgBackend::open(&url).err().unwrap().to_string();
    assert!(e.contains("no schema version"), "{e}");
}

/// Two backends on one database, as two busd on two machines: every message is consumed
/// exactly once though both consume for the same name at the same time.
#[test]
fn two_busd_consuming_one_inbox_hand_each_message_over_once() {
    let Some(cluster) = testkit::postgres::cluster() else {
        return;
    };
    let url = cluster.database();
    let mut a = PgBackend::open(&url).unwrap();
    let b = PgBackend::open(&url).unwrap();
    const N: usize = 300;
    let reader = std::thread::spawn(move || {
        let mut b = b;
        let mut got = Vec::new();
        let mut idle = 0;
        while idle < 200 {
            let page = Bus::new(Solo(&mut b)).consume("bob", 7);
            match page.messages.is_empty() {
                true => idle += 1,
                false => idle = 0,
            }
            got.extend(page.messages.into_iter().map(|m| m.id));
        }
        got
    });
    let mut mine = Vec::new();
    let mut sent = Vec::new();
    for i in 0..N {
        let m = Bus::new(Solo(&mut a)).send("ann", "bob", &format!("m{i}"));
        sent.push(m.id);
        if i % 3 == 0 {
            let page = Bus::new(Solo(&mut a)).consume("bob", 5);
            mine.extend(page.messages.into_iter().map(|m| m.id));
        }
    }
    loop {
        let page = Bus::new(Solo(&mut a)).consume("bob", 50);
        if page.messages.is_empty() {
            break;
        }
        mine.extend(page.messages.into_iter().map(|m| m.id));
    }
    let theirs = reader.join().unwrap();
    let mut all: Vec<i64> = mine.iter().chain(&theirs).copied().collect();
    all.sort_unstable();
    assert_eq!(all, sent, "each message exactly once across the two");
}

#[test]
fn a_commit_on_one_busd_is_heard_by_the_others_and_not_by_itself() {
    let Some(cluster) = testkit::postgres::cluster() else {
        return;
    };
    let url = cluster.database();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let _entered = runtime.enter();
    let mut a = PgBackend::open(&url).unwrap();
    let mut b = PgBackend::open(&url).unwrap();
    let (heard_a, heard_b) = (Heard::default(), Heard::default());
    a.watch_others(Box::new(heard_a.clone()));
    b.watch_others(Box::new(heard_b.clone()));
    // Both listen (each says so by asking its readers to look again once connected).
    runtime.block_on(async {
        while heard_a.0.lock().unwrap().1 == 0 || heard_b.0.lock().unwrap().1 == 0 {
            tokio::time::timeout(testkit::PATIENCE, heard_b.1.notified())
                .await
                .ok();
        }
    });
    let m = Bus::new(Solo(&mut a)).send("ann", "bob", "hi");
    runtime.block_on(async {
        tokio::time::timeout(testkit::PATIENCE, async {
            while heard_b.0.lock().unwrap().0.is_empty() {
                heard_b.1.notified().await;
            }
        })
        .await
        .expect("b heard a's commit");
    });
    assert_eq!(
        heard_b.0.lock().unwrap().0,
        vec![Committed::Message {
            id: m.id,
            recipient: "bob".into()
        }]
    );
    assert!(heard_a.0.lock().unwrap().0.is_empty(), "a heard itself");
}

#[test]
fn a_lost_connection_fails_the_call_naming_the_server_and_the_next_call_reconnects() {
    let Some(cluster) = testkit::postgres::cluster() else {
        return;
    };
    let url = cluster.database();
    let mut a = PgBackend::open(&url).unwrap();
    Bus::new(Solo(&mut a)).send("ann", "bob", "one");
    cluster.terminate_connections(&url);
    // The read finds the connection gone and tries once more on a new one.
    assert_eq!(a.peek("bob", 10).unwrap().messages.len(), 1);
    cluster.terminate_connections(&url);
    let m = Bus::new(Solo(&mut a)).send("ann", "bob", "two");
    assert!(m.id > 0);
    let e = PgBackend::open("postgres://nobody@127.0.0.1:1/none?sslmode=disable")
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("the shared bus database at 127.0.0.1:1/none is unreachable"),
        "{e}"
    );
}

/// A backend borrowed as a subject, for the suite's call helpers.
struct Solo<'a>(&'a mut PgBackend);

impl Subject for Solo<'_> {
    fn backend(&mut self) -> &mut dyn Backend {
        self.0
    }
    fn cursor(&mut self, _: &str) -> i64 {
        unimplemented!("not asked by these tests")
    }
    fn rows(&mut self, _: Rows) -> u64 {
        unimplemented!("not asked by these tests")
    }
    fn restart(&mut self) {
        unimplemented!("not asked by these tests")
    }
}

#[test]
fn tls_is_spoken_and_checked_as_sslmode_says() {
    let Some(cluster) = testkit::postgres::Cluster::start_tls() else {
        return;
    };
    let ca = cluster.ca_file().expect("a TLS cluster has a CA").display();
    let port = cluster.port();
    let url = cluster.database();
    let db = url.rsplit('/').next().unwrap().to_owned();
    let on = |host: &str, query: &str| format!("postgres://postgres@{host}:{port}/{db}?{query}");
    let open = |url: String| PgBackend::open(&url).map_err(|e| format!("{e:#}"));

    // verify-full against the CA: the certificate names 127.0.0.1, and the server refuses
    // TCP without TLS, so that a working bus here is an encrypted one.
    let mut full = open(on(
        "127.0.0.1",
        &format!("sslmode=verify-full&sslrootcert={ca}"),
    ))
    .expect("verify-full with the right CA");
    Bus::new(Solo(&mut full)).send("ann", "bob", "over TLS");
    let encrypted: bool = full
        .conn()
        .unwrap()
        .one(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .unwrap()
        .get(0);
    assert!(encrypted);
    // require encrypts and checks nothing; verify-ca checks the CA and not the name.
    open(on("127.0.0.1", "sslmode=require")).expect("require");
    open(on(
        "localhost",
        &format!("sslmode=verify-ca&sslrootcert={ca}"),
    ))
    .expect("verify-ca");

    let mismatch = open(on(
        "localhost",
        &format!("sslmode=verify-full&sslrootcert={ca}"),
    ))
    .err()
    .expect("verify-full refuses a certificate for another name");
    assert!(
        mismatch.contains(&format!("localhost:{port}/{db} is unreachable"))
            && mismatch.contains("certificate"),
        "{mismatch}"
    );
    let untrusted = open(on("127.0.0.1", "sslmode=verify-full"))
        .err()
        .expect("verify-full refuses a CA that is not trusted");
    assert!(untrusted.contains("certificate"), "{untrusted}");
    let plain = open(on("127.0.0.1", "sslmode=disable"))
        .err()
        .expect("the server refuses TCP without TLS");
    assert!(
        plain.contains(&format!("127.0.0.1:{port}/{db} is unreachable")),
        "{plain}"
    );
    let missing = open(on(
        "127.0.0.1",
        "sslmode=verify-full&sslrootcert=/nonexistent/ca.pem",
    ))
    .err()
    .expect("a CA file that is not there");
    assert!(missing.contains("/nonexistent/ca.pem"), "{missing}");
}

#[test]
fn a_written_out_literal_reads_back_as_its_text_whatever_the_string_settings() {
    let Some(mut subject) = PgSubject::new() else {
        return;
    };
    let c = subject.db.conn().unwrap();
    let texts = [
        r#"{"from":"x","e":[["m",1,"o'brien"]]}"#,
        r"back\slash \' \\' end\",
        "$$ dollar $q$ ''quoted'' é ✓",
    ];
    for setting in ["on", "off"] {
        c.batch(&format!("SET standard_conforming_strings = {setting}"))
            .unwrap();
        for text in texts {
            let sql = format!("SELECT {}::text", super::literal(text));
            let back: String = c.one(&sql, &[]).unwrap().get(0);
            assert_eq!(back, text, "standard_conforming_strings = {setting}");
        }
    }
}

#[test]
fn a_send_the_server_refuses_fails_alone_in_its_batch() {
    let Some(mut subject) = PgSubject::new() else {
        return;
    };
    let send = |content: &str| crate::store::NewMessage {
        key: None,
        sender: "ann".into(),
        to: "bob".into(),
        content: content.into(),
        reply_to: None,
        now: 5.0,
    };
    let mut sent = Vec::new();
    subject
        .db
        .transaction(5.0, &mut |tx| {
            sent = ["before", "a\0b", "after"]
                .map(|content| tx.send(&send(content)).is_ok())
                .to_vec();
        })
        .unwrap();
    assert_eq!(sent, [true, false, true]);
    assert_eq!(subject.count("SELECT COUNT(*) FROM messages"), 2);
}
