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
