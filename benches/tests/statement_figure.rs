//! The statements figure's set-up closes every account's cycle although
//! one tick closes at most `TICK_CLOSE_EVENTS_MAX` × `CYCLE_CLOSES_PER_EVENT_MAX`
//! cycles: its ticks, one second apart, close them all, and each is recorded.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

use cardledger_benches::figures::statement_setup;
use cardledger_core::engine::{Ack, Engine};
use cardledger_domain::event::Event;
use cardledger_domain::limits::{CYCLE_CLOSES_PER_EVENT_MAX, TICK_CLOSE_EVENTS_MAX};

fn closes_from(engine: &Engine, from: u64) -> usize {
    engine
        .events_from(from)
        .map(|e| match &e.unwrap().rec.fact.event {
            Event::CyclesClosed(c) => c.closes.len(),
            _ => 0,
        })
        .sum()
}

#[test]
fn more_accounts_than_one_tick_closes_are_all_closed_by_the_ticks() {
    let accounts = TICK_CLOSE_EVENTS_MAX * CYCLE_CLOSES_PER_EVENT_MAX + 1_000;
    let (setup, ticks) = statement_setup(accounts).unwrap();
    assert_eq!(ticks.len(), 2);
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open(dir.path()).unwrap();
    for chunk in setup.chunks(8192) {
        for ack in engine.submit_batch_acks(chunk.to_vec()).unwrap() {
            assert!(matches!(ack, Ack::Recorded(_)), "{ack:?}");
        }
    }
    // the set-up's June ticks closed every account's first cycle
    assert_eq!(closes_from(&engine, 1), accounts);
    let before = engine.head_seq();
    let mut each = Vec::new();
    for tick in ticks {
        let from = engine.head_seq() + 1;
        let acks = engine.submit_batch_acks(vec![tick]).unwrap();
        assert!(matches!(acks.as_slice(), [Ack::Recorded(_)]), "{acks:?}");
        each.push(closes_from(&engine, from));
    }
    assert_eq!(each, vec![TICK_CLOSE_EVENTS_MAX * CYCLE_CLOSES_PER_EVENT_MAX, 1_000]);
    assert_eq!(closes_from(&engine, before + 1), accounts);
}
