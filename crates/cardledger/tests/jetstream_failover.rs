//! Kill -9 of the stream leader during ingest, through the engine and the
//! facade (issue 16): a host (`Cardledger::open_on`, one program's stream
//! on a 3-node loopback cluster of this test's own) ingests a realistic
//! workload (`cardledger-workload`) from several submitter threads in
//! batches while the test kills the stream's leader with SIGKILL `ROUNDS`
//! times (restarted after the first acknowledged command on the new leader;
//! the next kill once the restarted replica is current). Then: writes
//! resumed after each kill; every acknowledged command (a `Recorded` or
//! `Duplicate` answer) is in the stream exactly once, at the answered seq;
//! nothing in the stream was written twice, and nothing but an unsettled
//! batch's commands is in it unanswered; `verify` passes on a fresh host
//! with an empty local directory (rebuilt from the stream) and on the
//! killed host; the killed host's views, statements, alerts and trial balance equal the
//! fresh replay's. An append that stays unsettled stops the engine
//! (`Poisoned`); the test reopens the host, counts it and goes on.
//!
//! Prints the failover times (leader killed → first command acknowledged
//! of a batch submitted after the kill) with `--nocapture`; the goal
//! (≤ 10 s) is reported in `docs/scale-out.md`, not asserted (no timed
//! tests).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic, missing_docs)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use cardledger::layers::core::engine::{Ack, EngineError};
use cardledger::layers::core::store::StoreError;
use cardledger::layers::domain::event::Event;
use cardledger::layers::domain::state::{event_token, fingerprint};
use cardledger::layers::domain::wire;
use cardledger::{AsOf, Cardledger};
use cardledger_nats::testing::{caught_up, leader, TestCluster};
use cardledger_nats::Cluster;

/// Kill rounds (the issue asks for 20).
const ROUNDS: usize = 20;
/// Submitter threads sharing the host.
const SUBMITTERS: usize = 3;
/// Commands per submitted batch.
const BATCH: usize = 64;
/// Each submitter's pause between two batches (keeps the volume, and the
/// final read-back, small on 2 shared cores).
const PAUSE: Duration = Duration::from_millis(15);
/// The program whose stream the host writes.
const PROGRAM: &str = "failover";

/// One answered (or failed) batch.
struct Answered {
    submitter: usize,
    /// Indexes of its commands in `lines`.
    lines: Vec<usize>,
    started: Instant,
    at: Instant,
    /// The acks, or the engine's error (nothing of the batch answered).
    acks: Result<Vec<Ack>, String>,
}

/// The host the submitters share, reopened after an engine error.
struct Slot {
    host: Option<Cardledger>,
    generation: u64,
}

fn open_host(cluster: &Cluster, dir: &std::path::Path) -> Cardledger {
    // the stream may have no leader right now (an election): retry
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let opened = cluster
            .open_log(PROGRAM, 3)
            .map_err(|e| e.to_string())
            .and_then(|log| Cardledger::open_on(dir, Arc::new(log)).map_err(|e| e.to_string()));
        match opened {
            Ok(h) => return h,
            Err(e) => {
                assert!(Instant::now() < deadline, "the host does not open in 120 s: {e}");
                eprintln!("open failed, retrying: {e}");
                std::thread::sleep(Duration::from_millis(500));
            }
        }
    }
}

/// The views, statements, alerts and trial balance answers compared
/// between two hosts.
fn projections(h: &Cardledger) -> serde_json::Value {
    serde_json::json!({
        "programs": h.programs().unwrap(),
        "summary": h.view_summary(400).unwrap(),
        "statement_counts": h.statement_counts().unwrap(),
        "alerts": h.alerts(0).unwrap().0,
        "trial_balance": h.trial_balance(None, AsOf::Head).unwrap(),
        "latest_statement_closes": h
            .programs()
            .unwrap()
            .iter()
            .map(|p| format!("{:?}", h.latest_statement_closes(p, 1000).unwrap()))
            .collect::<Vec<_>>(),
    })
}

#[test]
fn killing_the_stream_leader_under_the_engine_loses_and_repeats_no_acknowledged_command() {
    // CARDLEDGER_FAILOVER_ROUNDS=N: fewer rounds for a quick local run
    let rounds = std::env::var("CARDLEDGER_FAILOVER_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(ROUNDS);
    assert!(rounds > 0);
    let tc = TestCluster::start().unwrap();
    let cluster = tc.connect().unwrap();
    let work = tempfile::tempdir().unwrap();
    let dir: PathBuf = work.path().join("host");
    std::fs::create_dir_all(&dir).unwrap();
    let stream = cluster.open_log(PROGRAM, 3).unwrap().stream().to_owned();

    // a realistic workload, long enough never to run out
    let cfg = cardledger_workload::WorkloadConfig {
        seed: 16,
        days: 3650,
        holders: 200,
        credit_accounts: 20,
        ..Default::default()
    };
    let source = Arc::new(Mutex::new(cardledger_workload::generate(&cfg).enumerate()));
    let lines: Arc<Mutex<Vec<String>>> = Arc::new(Mutex::new(Vec::new()));

    let slot = Arc::new(RwLock::new(Slot { host: Some(open_host(&cluster, &dir)), generation: 0 }));
    let reopens = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let (tx, answers) = mpsc::channel::<Answered>();

    let submitters: Vec<_> = (0..SUBMITTERS)
        .map(|submitter| {
            let (source, lines, slot, reopens, stop, tx) =
                (source.clone(), lines.clone(), slot.clone(), reopens.clone(), stop.clone(), tx.clone());
            let urls = tc.urls().to_owned();
            let dir = dir.clone();
            std::thread::spawn(move || {
                let cluster = Cluster::connect(&urls, 1).unwrap();
                while !stop.load(Ordering::Relaxed) {
                    // the next BATCH commands of the workload, in its order
                    let (idx, cmds) = {
                        let mut src = source.lock().unwrap();
                        let batch: Vec<(usize, String)> = src.by_ref().take(BATCH).collect();
                        let mut all = lines.lock().unwrap();
                        for (i, l) in &batch {
                            assert_eq!(*i, all.len());
                            all.push(l.clone());
                        }
                        let cmds: Vec<_> = batch.iter().map(|(_, l)| wire::parse_line(l).unwrap()).collect();
                        (batch.iter().map(|(i, _)| *i).collect::<Vec<_>>(), cmds)
                    };
                    assert!(!idx.is_empty(), "the workload ran out");
                    let started = Instant::now();
                    let (generation, acks) = {
                        let s = slot.read().unwrap();
                        (s.generation, s.host.as_ref().unwrap().submit_batch_acks(cmds).map_err(|e| e.to_string()))
                    };
                    let failed = acks.is_err();
                    tx.send(Answered { submitter, lines: idx, started, at: Instant::now(), acks }).unwrap();
                    if failed {
                        // the engine stopped (an append it could not settle):
                        // reopen it once, from the stream, and go on
                        let mut s = slot.write().unwrap();
                        if s.generation == generation {
                            drop(s.host.take());
                            s.host = Some(open_host(&cluster, &dir));
                            s.generation += 1;
                            reopens.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    std::thread::sleep(PAUSE);
                }
            })
        })
        .collect();
    drop(tx);

    let mut all: Vec<Answered> = Vec::new();
    // waits for the first batch submitted after `after` with a command
    // recorded; keeps every answer
    let wait_recorded = |after: Option<Instant>, all: &mut Vec<Answered>| -> Option<Instant> {
        loop {
            let a = match after {
                Some(_) => answers.recv_timeout(Duration::from_secs(180)).expect("no answered batch in 180 s"),
                None => match answers.try_recv() {
                    Ok(a) => a,
                    Err(_) => return None,
                },
            };
            let recorded = matches!(&a.acks, Ok(acks) if acks.iter().any(|k| matches!(k, Ack::Recorded(_))));
            let (started, at) = (a.started, a.at);
            all.push(a);
            if let Some(t) = after {
                if started > t && recorded {
                    return Some(at);
                }
            }
        }
    };

    let mut failovers = Vec::new();
    for round in 0..rounds {
        std::thread::sleep(Duration::from_millis(400));
        wait_recorded(None, &mut all);
        if round % 5 == 0 {
            // the killed host's projections fold while it runs, too
            let s = slot.read().unwrap();
            s.host.as_ref().unwrap().view_summary(5).unwrap();
        }
        let node = leader(&cluster, &stream).unwrap();
        tc.kill(node).unwrap();
        let killed = Instant::now();
        let first = wait_recorded(Some(killed), &mut all).unwrap();
        let took = first - killed;
        eprintln!("round {round}: killed leader n{node}; first command acknowledged after {took:?}");
        failovers.push(took);
        tc.restart(node).unwrap();
        let current = caught_up(&cluster, &stream).unwrap();
        eprintln!("round {round}: n{node} restarted and current after {current:?}");
    }
    stop.store(true, Ordering::Relaxed);
    for s in submitters {
        s.join().unwrap();
    }
    wait_recorded(None, &mut all);
    let lines = lines.lock().unwrap().clone();
    let host = slot.write().unwrap().host.take().unwrap();

    // what the host answered, by seq
    let fp = |i: usize| fingerprint(&wire::parse_line(&lines[i]).unwrap()).unwrap();
    let mut recorded: BTreeMap<u64, usize> = BTreeMap::new();
    let mut duplicate: Vec<(u64, usize)> = Vec::new();
    let mut unsettled: BTreeSet<u64> = BTreeSet::new();
    let (mut rejected, mut failed_batches) = (0usize, 0usize);
    let mut last_of: BTreeMap<usize, u64> = BTreeMap::new();
    for a in &all {
        match &a.acks {
            Err(e) => {
                failed_batches += 1;
                eprintln!("a batch of {} commands failed (unacknowledged): {e}", a.lines.len());
                unsettled.extend(a.lines.iter().map(|&i| fp(i)));
            }
            Ok(acks) => {
                assert_eq!(acks.len(), a.lines.len(), "one answer per command");
                for (ack, &i) in acks.iter().zip(&a.lines) {
                    match ack {
                        Ack::Recorded(seq) => {
                            assert!(recorded.insert(*seq, i).is_none(), "seq {seq} answered Recorded twice");
                            // each submitter's commands are recorded in its order
                            let last = last_of.entry(a.submitter).or_insert(0);
                            assert!(*seq > *last, "submitter {}: seq {seq} after {last}", a.submitter);
                            *last = *seq;
                        }
                        Ack::Duplicate(seq) => duplicate.push((*seq, i)),
                        Ack::Rejected(_) => rejected += 1,
                    }
                }
            }
        }
    }
    let reopens = reopens.load(Ordering::Relaxed);
    assert_eq!(failed_batches > 0, reopens > 0, "a failed batch reopens the host, and only that");

    // the stream, read back by a fresh host on an empty directory
    let fresh_dir = work.path().join("fresh");
    std::fs::create_dir_all(&fresh_dir).unwrap();
    let fresh = {
        // a request that times out while the cluster settles is
        // `Unavailable` (a host retries it); anything else is a failure
        let fresh_cluster = tc.connect().unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let log = fresh_cluster.open_log(PROGRAM, 3).unwrap();
            match Cardledger::open_on(&fresh_dir, Arc::new(log)) {
                Ok(h) => break h,
                Err(e @ cardledger::Error::Engine(EngineError::Store(StoreError::Unavailable(_))))
                    if Instant::now() < deadline =>
                {
                    eprintln!("the fresh host's open was unavailable, retrying: {e}");
                    std::thread::sleep(Duration::from_secs(1));
                }
                Err(e) => panic!("the fresh host does not open: {e:?}"),
            }
        }
    };
    assert_eq!(fresh.head_seq(), host.head_seq(), "the stream ends at the host's head");
    assert_eq!(fresh.engine().open_report().replayed, fresh.head_seq(), "rebuilt from the stream");
    let entries: Vec<_> = fresh.engine().events_from(1).map(Result::unwrap).collect();
    assert_eq!(entries.len() as u64, fresh.head_seq());
    let mut tokens = BTreeSet::new();
    let mut unanswered = 0usize;
    for (i, e) in entries.iter().enumerate() {
        let seq = i as u64 + 1;
        assert_eq!(e.rec.seq, seq, "in order, no hole");
        if let Some(t) = event_token(&e.rec.fact.event) {
            assert!(tokens.insert((e.rec.fact.event.kind(), t.to_owned())), "seq {seq}: {t} written twice");
        }
        // a tick's cycle closes precede its `Ticked` (the answered seq)
        if matches!(e.rec.fact.event, Event::CyclesClosed(_)) {
            continue;
        }
        match recorded.get(&seq) {
            Some(&line) => assert_eq!(e.rec.fact.fingerprint, fp(line), "seq {seq} holds the command answered there"),
            None => {
                assert!(
                    unsettled.contains(&e.rec.fact.fingerprint),
                    "seq {seq} is in the stream but nobody was answered"
                );
                unanswered += 1;
            }
        }
    }
    // every Recorded answer is in the stream (nothing unacknowledged answered as recorded)
    assert!(recorded.keys().all(|&s| s <= fresh.head_seq()), "a Recorded answer past the stream's end");
    for (seq, line) in &duplicate {
        let e = &entries[(*seq - 1) as usize];
        assert_eq!(e.rec.fact.fingerprint, fp(*line), "duplicate answered at seq {seq}: the same command is there");
    }

    assert!(fresh.verify().unwrap().ok(), "verify on a host rebuilt from the stream");
    assert!(host.verify().unwrap().ok(), "verify on the killed host");
    assert_eq!(projections(&host), projections(&fresh), "the killed host's projections equal a fresh replay");

    failovers.sort();
    let ms: Vec<u128> = failovers.iter().map(Duration::as_millis).collect();
    eprintln!(
        "engine failover (leader killed -> first command acknowledged), {} rounds, ms: min {} median {} max {}; all {:?}; \
         {} commands submitted, {} recorded, {} duplicate, {} rejected; {} records in the stream; \
         {} batches failed unsettled ({} host reopens), {} of their records in the stream",
        ms.len(),
        ms[0],
        ms[ms.len() / 2],
        ms[ms.len() - 1],
        ms,
        lines.len(),
        recorded.len(),
        duplicate.len(),
        rejected,
        entries.len(),
        failed_batches,
        reopens,
        unanswered,
    );
    assert!(
        !recorded.is_empty() && recorded.len() > rejected,
        "mostly recorded: {} vs {rejected} rejected",
        recorded.len()
    );
}
