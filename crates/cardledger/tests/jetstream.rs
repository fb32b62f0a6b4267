//! Hosts on a JetStream cluster (a 3-node loopback cluster this test starts,
//! `cardledger_nats::testing`): a host owns one program (its stream), a
//! command for another program is rejected 1220 unwritten, a host with an
//! empty data directory rebuilds its state from the stream, and a second
//! host writing the same program fences the first, which acknowledges
//! nothing it did not write and sees the other's writes after a reopen.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic, missing_docs)]

use cardledger::layers::core::engine::EngineError;
use cardledger::layers::core::store::StoreError;
use cardledger::{Cardledger, Code, Error, LogConfig, Outcome};

fn recorded(o: Outcome) -> u64 {
    match o {
        Outcome::Recorded { seq, .. } => seq,
        other => panic!("not recorded: {other:?}"),
    }
}

#[test]
fn hosts_own_programs_rebuild_from_the_stream_and_a_second_writer_is_fenced() {
    let urls = cardledger_nats::testing::loopback().unwrap();
    let a = "pa";
    let b = "pb";
    let on = |p: &str| LogConfig::from_args(Some(&urls), Some(p)).unwrap();
    let dirs = tempfile::tempdir().unwrap();

    let host_a = Cardledger::open_with_log(dirs.path().join("a"), &on(a)).unwrap();
    assert!(host_a.engine().store().is_external());
    assert_eq!(host_a.engine().store().log_description(), "JetStream stream cardledger-pa");
    assert!(host_a.data_dir().ends_with("a/programs/pa"), "{}", host_a.data_dir().display());
    let mk = |p: &str| {
        format!(r#"{{"time":"2024-01-01T00:00:00Z","program":{{"token":"{p}","bank":"B","currency_code":"USD"}}}}"#)
    };
    let dep = |t: &str, p: &str| {
        format!(
            r#"{{"time":"2024-01-02T00:00:00Z","program_deposit":{{"token":"{t}","program_token":"{p}","amount":10,"currency_code":"USD"}}}}"#
        )
    };
    assert_eq!(recorded(host_a.submit_json(&mk(a)).unwrap()), 1);
    // another program's commands are not this host's
    for line in [mk(b), dep("x1", b)] {
        match host_a.submit_json(&line).unwrap() {
            Outcome::Rejected(r) => {
                assert_eq!(r.code, Code::ProgramNotServed);
                assert_eq!(r.code.number(), 1220);
                assert!(r.message.contains("\"pb\""), "{r}");
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(recorded(host_a.submit_json(&dep("d1", a)).unwrap()), 2);
    // a tick names no program: it goes to the host's program
    assert_eq!(recorded(host_a.submit_json(r#"{"tick":{"now":"2024-01-03T00:00:00Z"}}"#).unwrap()), 3);
    assert_eq!(host_a.head_seq(), 3);

    // the other program on its own host and stream
    let host_b = Cardledger::open_with_log(dirs.path().join("b"), &on(b)).unwrap();
    assert_eq!(host_b.head_seq(), 0);
    assert_eq!(recorded(host_b.submit_json(&mk(b)).unwrap()), 1);
    assert_eq!(host_b.programs().unwrap(), vec![b.to_string()]);

    // a host with an empty directory rebuilds pa from the stream
    let host_c = Cardledger::open_with_log(dirs.path().join("c"), &on(a)).unwrap();
    assert_eq!(host_c.head_seq(), 3);
    assert_eq!(host_c.engine().open_report().replayed, 3);
    assert_eq!(host_c.programs().unwrap(), vec![a.to_string()]);
    assert_eq!(host_c.view_summary(5).unwrap(), host_a.view_summary(5).unwrap());
    // it writes; host a, still at seq 3, is fenced: nothing acknowledged
    assert_eq!(recorded(host_c.submit_json(&dep("d2", a)).unwrap()), 4);
    match host_a.submit_json(&dep("d3", a)) {
        Err(Error::Engine(EngineError::Store(StoreError::Fenced { reason }))) => {
            assert!(reason.contains("cardledger-pa"), "{reason}")
        }
        other => panic!("a fenced writer answered {other:?}"),
    }
    // and it stops until reopened
    assert!(matches!(host_a.submit_json(&dep("d4", a)), Err(Error::Engine(EngineError::Poisoned))));
    drop(host_a);
    let host_a = Cardledger::open_with_log(dirs.path().join("a"), &on(a)).unwrap();
    assert_eq!(host_a.head_seq(), 4);
    let d3: Vec<_> = host_a.log(1).map(Result::unwrap).collect();
    assert_eq!(d3.len(), 4);
    assert!(d3.iter().all(|e| !e.to_string().contains("\"d3\"")), "the fenced command is not in the stream");
    assert!(host_a.verify().unwrap().ok());
    assert_eq!(host_a.view_summary(5).unwrap(), host_c.view_summary(5).unwrap());
    drop(host_c);
    assert!(host_b.verify().unwrap().ok());
}

#[test]
fn bad_log_options_name_the_option() {
    for (log, programs, field) in [
        (None, Some("p"), "programs"),
        (Some("http://x:1"), Some("p"), "log"),
        (Some("nats://127.0.0.1:4222"), None, "programs"),
        (Some("nats://127.0.0.1:4222"), Some("a.b"), "programs"),
        (Some("nats://127.0.0.1:4222"), Some("p,q,p"), "programs"),
        (Some("nats://127.0.0.1:4222"), Some(" , "), "programs"),
    ] {
        match LogConfig::from_args(log, programs) {
            Err(Error::Rejected(r)) => {
                assert_eq!(r.field, field, "{log:?} {programs:?}: {r}");
                assert_eq!(r.code, Code::InvalidValue);
            }
            other => panic!("{log:?} {programs:?}: {other:?}"),
        }
    }
    assert_eq!(LogConfig::from_args(None, None).unwrap(), LogConfig::Sled);
}

/// Two hosts racing on one program's stream, each from its own thread:
/// every time one writes, the other's next append is fenced (nothing of it
/// stored); the fenced host reopens (reloading the stream) and submits the
/// same commands again. At the end the stream holds exactly the commands
/// acknowledged to either host, each once, at the seq it was acknowledged
/// at, and no seq was acknowledged to both.
#[test]
fn two_hosts_racing_on_one_program_write_nothing_twice_and_lose_nothing_acknowledged() {
    use cardledger::layers::domain::state::event_token;
    use std::collections::BTreeMap;

    let urls = cardledger_nats::testing::loopback().unwrap();
    let p = "prace";
    let config = LogConfig::from_args(Some(&urls), Some(p)).unwrap();
    let dirs = tempfile::tempdir().unwrap();
    let setup = Cardledger::open_with_log(dirs.path().join("setup"), &config).unwrap();
    let program =
        format!(r#"{{"time":"2024-01-01T00:00:00Z","program":{{"token":"{p}","bank":"B","currency_code":"USD"}}}}"#);
    assert_eq!(recorded(setup.submit_json(&program).unwrap()), 1);
    drop(setup);

    const ROUNDS: usize = 30;
    const PER_BATCH: usize = 4;
    // both hosts open before either writes, then interleave
    let start = std::sync::Arc::new(std::sync::Barrier::new(2));
    let writers: Vec<_> = ["ha", "hb"]
        .into_iter()
        .map(|name| {
            let dir = dirs.path().join(name);
            let config = config.clone();
            let start = start.clone();
            std::thread::spawn(move || {
                let mut host = Cardledger::open_with_log(&dir, &config).unwrap();
                start.wait();
                let mut acked: Vec<(u64, String)> = Vec::new();
                let mut fenced = 0usize;
                for round in 0..ROUNDS {
                    let tokens: Vec<String> = (0..PER_BATCH).map(|k| format!("{name}-{round}-{k}")).collect();
                    let lines: Vec<_> = tokens
                        .iter()
                        .map(|t| {
                            let json = format!(
                                r#"{{"time":"2024-01-02T00:00:00Z","program_deposit":{{"token":"{t}","program_token":"{p}","amount":1,"currency_code":"USD"}}}}"#
                            );
                            cardledger::layers::domain::wire::parse_line(&json).unwrap()
                        })
                        .collect();
                    std::thread::sleep(std::time::Duration::from_millis(10));
                    loop {
                        match host.submit_batch(lines.clone()) {
                            Ok(outcomes) => {
                                for (o, t) in outcomes.into_iter().zip(&tokens) {
                                    acked.push((recorded(o), t.clone()));
                                }
                                break;
                            }
                            Err(Error::Engine(EngineError::Store(StoreError::Fenced { .. }))) => {
                                // nothing of the batch is stored: reload and submit it again
                                fenced += 1;
                                drop(host);
                                host = Cardledger::open_with_log(&dir, &config).unwrap();
                            }
                            Err(e) => panic!("{name}: {e:?}"),
                        }
                    }
                }
                (acked, fenced)
            })
        })
        .collect();
    let mut by_seq: BTreeMap<u64, String> = BTreeMap::new();
    by_seq.insert(1, p.to_owned());
    let mut fences = 0;
    for w in writers {
        let (acked, fenced) = w.join().unwrap();
        fences += fenced;
        for (seq, token) in acked {
            if let Some(other) = by_seq.insert(seq, token.clone()) {
                panic!("seq {seq} acknowledged twice: {other} and {token}");
            }
        }
    }
    assert!(fences > 0, "the two hosts never raced");
    assert_eq!(by_seq.len(), 1 + 2 * ROUNDS * PER_BATCH);

    // the stream, read by a host with an empty directory: exactly the acknowledged commands
    let fresh = Cardledger::open_with_log(dirs.path().join("fresh"), &config).unwrap();
    assert_eq!(fresh.head_seq(), by_seq.len() as u64, "nothing written that was not acknowledged");
    let stream: Vec<_> = fresh.engine().events_from(1).map(Result::unwrap).collect();
    assert_eq!(stream.len(), by_seq.len());
    for e in &stream {
        let token = event_token(&e.rec.fact.event).unwrap();
        assert_eq!(Some(token), by_seq.get(&e.rec.seq).map(String::as_str), "seq {}", e.rec.seq);
    }
    assert!(fresh.verify().unwrap().ok());
    eprintln!("two racing hosts: {} commands acknowledged, {fences} fenced appends", by_seq.len());
}
