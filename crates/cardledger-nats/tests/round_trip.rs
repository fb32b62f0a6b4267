//! On a real 3-node loopback cluster: append and read back, a reopened log
//! finds its head, two writers on one program (one is fenced, nothing is
//! written twice), a subscription follows appends.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod support;

use std::time::Duration;

use cardledger_core::record::{
    record_len, FrameFill, Head, FRAME_BODY_BYTES_MAX, FRAME_FILL_BYTES, FRAME_HEADER_BYTES, FRAME_RECORDS_MAX,
};
use cardledger_domain::limits::NATS_FRAME_FILL_BYTES;
use cardledger_nats::NatsLogError;
use support::{payloads, records, TestCluster};

#[test]
fn appends_read_back_verified_and_a_second_writer_is_fenced() {
    let tc = TestCluster::start().unwrap();
    let cluster = tc.connect().unwrap();
    // 96 KiB frames (the sled store's), so a batch of 3,000 is several
    let log = cluster.open_log("rt", 3).unwrap().with_frame_fill(FrameFill::DEFAULT).unwrap();
    assert_eq!(log.head(), Head::GENESIS);
    assert_eq!(log.read_after(Head::GENESIS).unwrap().count(), 0);

    // a subscription from genesis sees what is appended later
    let mut sub = log.subscribe_after(Head::GENESIS).unwrap();

    // one small batch (one frame), then one of several frames
    let a = payloads("a", 1, 3);
    let h1 = log.append(Head::GENESIS, &records(&a)).unwrap();
    assert_eq!(h1.seq, 3);
    let b = payloads("a", 4, 3000); // ~3000 x 95 B: several 96 KiB frames
    let h2 = log.append(h1, &records(&b)).unwrap();
    assert_eq!(h2.seq, 3003);
    assert!(log.messages() > 2, "a multi-frame batch: {} messages", log.messages());

    let all: Vec<_> = log.read_after(Head::GENESIS).unwrap().map(Result::unwrap).collect();
    assert_eq!(all.len(), 3003);
    for (i, r) in all.iter().enumerate() {
        assert_eq!(r.seq, i as u64 + 1);
        let want = if i < 3 { &a[i] } else { &b[i - 3] };
        assert_eq!(&r.payload, want);
    }
    assert_eq!(all.last().unwrap().hash, h2.hash);
    assert_eq!(log.verify().unwrap(), h2);
    // from an anchor in the middle of a frame
    let mid = Head { seq: all[1499].seq, hash: all[1499].hash };
    let rest: Vec<u64> = log.read_after(mid).unwrap().map(|r| r.unwrap().seq).collect();
    assert_eq!(rest, (1501..=3003).collect::<Vec<_>>());
    // an anchor whose hash is not the stream's fails closed
    let bad = Head { seq: 1500, hash: [1; 32] };
    let err = log.read_after(bad).unwrap().find_map(Result::err).unwrap();
    assert!(matches!(err, NatsLogError::Corrupt { seq: 1500, .. }), "{err:?}");

    for want in 1..=3003u64 {
        let r = sub.recv(Duration::from_secs(10)).unwrap().expect("subscription record");
        assert_eq!(r.seq, want);
    }
    assert!(sub.recv(Duration::from_millis(200)).unwrap().is_none());

    // a subscription and a read starting at the head
    let mut at_head = log.subscribe_after(h2).unwrap();
    assert_eq!(log.read_after(h2).unwrap().count(), 0);

    // a second writer (another host) on the same program
    let other = tc.connect().unwrap();
    let log2 = other.open_log("rt", 3).unwrap();
    assert_eq!(log2.head(), h2);
    let c = payloads("b", 3004, 10);
    let h3 = log2.append(h2, &records(&c)).unwrap();
    // the first writer still believes h2: fenced, nothing written
    let d = payloads("a", 3004, 10);
    let err = log.append(h2, &records(&d)).unwrap_err();
    assert!(matches!(err, NatsLogError::Fenced { .. }), "{err:?}");
    assert_eq!(err.code(), 500103);
    assert_eq!(log.head(), h2);
    // a head the caller made up is refused before anything is sent
    let err = log.append(Head { seq: 1, hash: [0; 32] }, &records(&d)).unwrap_err();
    assert!(matches!(err, NatsLogError::HeadMismatch { .. }), "{err:?}");
    // reload, retry: it lands after the other writer's batch
    assert_eq!(log.reload().unwrap(), h3);
    let h4 = log.append(h3, &records(&d)).unwrap();
    let all: Vec<_> = log2.read_after(Head::GENESIS).unwrap().map(Result::unwrap).collect();
    assert_eq!(all.len(), 3023);
    assert_eq!(all[3003].payload, c[0]);
    assert_eq!(all[3013].payload, d[0]);
    assert_eq!(all.last().unwrap().hash, h4.hash);
    // the subscription follows both writers
    for want in 3004..=3023u64 {
        assert_eq!(sub.recv(Duration::from_secs(10)).unwrap().unwrap().seq, want);
    }
    for want in 3004..=3023u64 {
        assert_eq!(at_head.recv(Duration::from_secs(10)).unwrap().unwrap().seq, want);
    }
    // a reopened log finds the head
    assert_eq!(tc.connect().unwrap().open_log("rt", 3).unwrap().head(), h4);
}

/// The stream's messages (frame bytes) from `from` on, as the server holds them.
fn stored(cluster: &cardledger_nats::Cluster, log: &cardledger_nats::JetStreamLog, from: u64) -> Vec<Vec<u8>> {
    cluster.block_on(async {
        let stream = cluster.jetstream().get_stream(log.stream()).await.unwrap();
        let mut out = Vec::new();
        for s in from..=log.messages() {
            out.push(stream.get_raw_message(s).await.unwrap().payload.to_vec());
        }
        out
    })
}

/// The JetStream log closes frames at its fill (`NATS_FRAME_FILL_BYTES`
/// unless chosen): at 256 KiB a batch of 8,192 events of ~100 bytes is a
/// few messages each above 96 KiB, frames up to 1 MiB (a fill of
/// `FRAME_BODY_BYTES_MAX`) are written too, and all read back verified,
/// by a reader, a subscription, `verify` and another host's open.
#[test]
fn frames_above_96_kib_are_written_and_read_back_verified() {
    let tc = TestCluster::start().unwrap();
    let cluster = tc.connect().unwrap();
    let log = cluster.open_log("wide", 3).unwrap();
    assert_eq!(log.frame_fill().bytes(), NATS_FRAME_FILL_BYTES);
    let fill = 256 << 10;
    let log = log.with_frame_fill(FrameFill::new(fill).unwrap()).unwrap();
    assert_eq!(cardledger_core::log::Log::frame_fill(&log).bytes(), fill);

    let a = payloads("w", 1, 8192);
    let h1 = log.append(Head::GENESIS, &records(&a)).unwrap();
    let per_frame = (fill / record_len(a[0].len())).min(FRAME_RECORDS_MAX);
    let n = 8192u64.div_ceil(per_frame as u64);
    assert_eq!(log.messages(), n, "8,192 records of {} bytes, {per_frame} a frame", a[0].len());
    let sizes: Vec<usize> = stored(&cluster, &log, 1).iter().map(Vec::len).collect();
    let (last, full) = sizes.split_last().unwrap();
    assert!(!full.is_empty() && full.iter().all(|s| *s > FRAME_HEADER_BYTES + FRAME_FILL_BYTES), "{sizes:?}");
    assert!(sizes.iter().all(|s| *s <= FRAME_HEADER_BYTES + fill), "{sizes:?}");
    assert!(*last > FRAME_HEADER_BYTES);

    // frames of up to 1 MiB: 1,000 payloads of 1,000 bytes in one frame
    let wide = log.clone().with_frame_fill(FrameFill::new(FRAME_BODY_BYTES_MAX).unwrap()).unwrap();
    let big: Vec<Vec<u8>> = (0..1000u32).map(|i| vec![(i % 251) as u8; 1000]).collect();
    let h2 = wide.append(h1, &records(&big)).unwrap();
    assert_eq!(wide.messages(), n + 1);
    let last = stored(&cluster, &wide, n + 1);
    assert_eq!(last[0].len(), FRAME_HEADER_BYTES + 1000 * 1025);

    let all: Vec<_> = wide.read_after(Head::GENESIS).unwrap().map(Result::unwrap).collect();
    assert_eq!(all.len(), 9192);
    for (i, r) in all.iter().enumerate() {
        assert_eq!(r.seq, i as u64 + 1);
        let want = if i < 8192 { &a[i] } else { &big[i - 8192] };
        assert_eq!(&r.payload, want);
    }
    assert_eq!(all.last().unwrap().hash, h2.hash);
    assert_eq!(wide.verify().unwrap(), h2);
    // from inside a large frame
    let mid = Head { seq: all[5000].seq, hash: all[5000].hash };
    assert_eq!(wide.read_after(mid).unwrap().count(), 9192 - 5001);
    let mut sub = wide.subscribe_after(Head::GENESIS).unwrap();
    for want in 1..=9192u64 {
        assert_eq!(sub.recv(Duration::from_secs(10)).unwrap().unwrap().seq, want);
    }
    // another host opening the stream finds the head in the large frame
    assert_eq!(tc.connect().unwrap().open_log("wide", 3).unwrap().head(), h2);
    // a fill the cluster cannot carry is refused (max_payload 4 MB here:
    // every fill up to FRAME_BODY_BYTES_MAX fits; FrameFill refuses more)
    assert!(FrameFill::new(FRAME_BODY_BYTES_MAX + 1).is_err());
}

#[test]
fn bad_programs_and_urls_are_typed_errors_naming_the_field() {
    for p in ["", "a.b", "a b", "x*", "é"] {
        let err = cardledger_nats::stream_names(p).unwrap_err();
        assert!(matches!(err, NatsLogError::InvalidProgram { .. }), "{p:?}");
        assert!(err.to_string().starts_with("program: "), "{err}");
    }
    assert_eq!(cardledger_nats::stream_names("p_1-x").unwrap().0, "cardledger-p_1-x");
    for u in ["", "http://x:1", "nats://", "nats://host", "nats://a:1,,b:2"] {
        let err = cardledger_nats::parse_urls(u).unwrap_err();
        assert!(err.to_string().starts_with("log: "), "{u:?} {err}");
    }
    assert_eq!(cardledger_nats::parse_urls("nats://127.0.0.1:4222,127.0.0.1:4223,nats://h:1").unwrap().len(), 3);
}
