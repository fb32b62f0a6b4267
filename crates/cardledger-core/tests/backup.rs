//! Backup while the engine keeps running, restore into a new directory:
//! the restored store verifies, has the same head and the same whole-state
//! digest as the original at the backup's head; damaged backups and damaged
//! logs are refused, naming what is wrong.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic, missing_docs)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use cardledger_core::backup::restore;
use cardledger_core::engine::{Engine, EngineError};
use cardledger_core::ingest::ingest_chunk;
use cardledger_core::store::StoreError;
use cardledger_workload::{generate, WorkloadConfig};

fn lines(seed: u64) -> Vec<String> {
    generate(&WorkloadConfig { seed, days: 35, holders: 8, credit_accounts: 2, ..WorkloadConfig::default() }).collect()
}

#[test]
fn a_backup_taken_during_ingest_restores_to_an_equal_store() {
    let dir = tempfile::tempdir().unwrap();
    let all = lines(11);
    let (first, rest) = all.split_at(all.len() / 2);
    let engine = Engine::open(dir.path()).unwrap();
    ingest_chunk(&engine, first, 1).unwrap();
    let at_backup = engine.verify().unwrap();
    // appends keep going on another thread while the backup is written
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let engine = engine.clone();
        let rest = rest.to_vec();
        let n = first.len() as u64;
        let stop = stop.clone();
        std::thread::spawn(move || {
            for (i, c) in rest.chunks(16).enumerate() {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                ingest_chunk(&engine, c, n + 1 + (i * 16) as u64).unwrap();
            }
        })
    };
    let mut file = Vec::new();
    let report = engine.backup(&mut file).unwrap();
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
    assert!(report.records >= at_backup.records);
    assert_eq!(report.bytes, file.len() as u64);

    let target = tempfile::tempdir().unwrap();
    let new_dir = target.path().join("restored");
    let restored = restore(&file[..], &new_dir).unwrap();
    assert_eq!(restored, report);
    let copy = Engine::open(&new_dir).unwrap();
    assert_eq!(copy.open_report().replayed, 0, "restore leaves a snapshot at the head");
    let copy_report = copy.verify().unwrap();
    assert_eq!(copy_report.records, report.records);
    assert_eq!(copy_report.head_hash, report.head_hash);
    // the same state as the original had at that head
    let original = engine.state_as_of(report.records).unwrap();
    assert_eq!(
        copy_report.state_digest,
        cardledger_core::record::hex(&cardledger_domain::snapshot::state_digest(&original).unwrap())
    );
    // and the restored store takes the rest of the stream like the original
    drop(copy);
    drop(engine);
    let original = Engine::open(dir.path()).unwrap();
    ingest_chunk(&original, rest, first.len() as u64 + 1).unwrap();
    let copy = Engine::open(&new_dir).unwrap();
    ingest_chunk(&copy, rest, first.len() as u64 + 1).unwrap();
    // the same records and state; the head hashes differ, since the chain
    // covers frame boundaries and the two took the rest in different groups
    let (a, b) = (copy.verify().unwrap(), original.verify().unwrap());
    assert_eq!((a.records, a.payload_bytes, &a.state_digest), (b.records, b.payload_bytes, &b.state_digest));
    let records = |e: &Engine| -> Vec<(u64, i64, Vec<u8>)> {
        e.store().read_from(1).map(|r| r.map(|r| (r.seq, r.time_micros, r.payload)).unwrap()).collect()
    };
    assert_eq!(records(&copy), records(&original));
}

#[test]
fn damaged_backups_and_logs_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open(dir.path()).unwrap();
    ingest_chunk(&engine, &lines(12)[..300], 1).unwrap();
    let mut file = Vec::new();
    engine.backup(&mut file).unwrap();
    let target = tempfile::tempdir().unwrap();

    // a non-empty target is refused
    std::fs::write(target.path().join("x"), b"x").unwrap();
    assert!(restore(&file[..], target.path()).is_err());

    // any flipped byte is refused (record crc, magic, version, trailer), and
    // a truncated file too
    for (i, at) in [0usize, 8, 9 + 3, file.len() / 2, file.len() - 10, file.len() - 1].into_iter().enumerate() {
        let mut bad = file.clone();
        bad[at] ^= 0x10;
        let d = target.path().join(format!("flip{i}"));
        assert!(restore(&bad[..], &d).is_err(), "flip at {at} restored");
    }
    let d = target.path().join("cut");
    assert!(restore(&file[..file.len() - 20], &d).is_err());

    // a damaged log fails the backup, naming the first bad seq
    engine.store().debug_corrupt_record(120, 30, 0x01).unwrap();
    match engine.backup(std::io::sink()) {
        Err(EngineError::Store(StoreError::Corrupt { seq, .. })) => assert_eq!(seq, 120),
        other => panic!("backup of a damaged log answered {other:?}"),
    }
}

/// `tests/fixtures/backup_v1.clb` is a version-1 backup (records, before
/// store format 4) of the format-1 golden store, written by the engine of
/// store format 2. It restores (into version-1 frames) with the head hash
/// it names, verifies, and the restored store appends version-2 frames.
#[test]
fn a_version_1_backup_still_restores_to_its_head_hash() {
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let file = std::fs::read(fixtures.join("backup_v1.clb")).unwrap();
    assert_eq!(file[8], 1, "the fixture is a version-1 backup");
    let target = tempfile::tempdir().unwrap();
    let dir = target.path().join("restored");
    let report = restore(&file[..], &dir).unwrap();
    assert_eq!(report.records, 919);
    assert_eq!(report.head_hash, "553ceeded01e7f88a32ee6b292b9aa27f9475a7be016ef9327393872495e25aa");
    assert_eq!(report.bytes, file.len() as u64);
    let engine = Engine::open(&dir).unwrap();
    assert_eq!(engine.verify().unwrap().head_hash, report.head_hash);
    for k in engine.store().debug_frame_keys().unwrap() {
        let f = engine.store().frames_through(919).find(|f| f.as_ref().unwrap().0 == k).unwrap().unwrap();
        assert_eq!(f.1[0], cardledger_core::record::FRAME_VERSION_1, "frame {k}");
    }
    let head = engine.head_seq();
    let more: Vec<String> =
        (0..50).map(|i| format!(r#"{{"user": {{"token": "user_b_{i}", "program_token": "prog_alpha"}}}}"#)).collect();
    ingest_chunk(&engine, &more, head + 1).unwrap();
    assert!(engine.head_seq() > head);
    let after = engine.verify().unwrap();
    // a version-2 backup of the mixed log restores to the same head
    let mut v2 = Vec::new();
    engine.backup(&mut v2).unwrap();
    assert_eq!(v2[8], 2);
    let again = target.path().join("again");
    let r2 = restore(&v2[..], &again).unwrap();
    assert_eq!(r2.head_hash, after.head_hash);
    assert_eq!(r2.bytes, v2.len() as u64);
    drop(engine);
    assert_eq!(Engine::open(&again).unwrap().verify().unwrap(), after);
}
