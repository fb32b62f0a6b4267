//! The one thread that hands single-command `POST`s to the engine: it takes
//! every request waiting in its queue and submits them as one batch (one
//! decide pass, one flush), then answers each. Under load the queue fills
//! while the previous batch is being flushed, so batches grow with the
//! load, as the engine's own group commit does, without a blocking-pool
//! thread and a condition-variable wake-up per request: the request's task
//! waits on a oneshot channel instead.
//!
//! A batch is no more than a shared flush: every command is decided on its
//! own, in arrival order, and answered with its own outcome. Its size is
//! bounded by the in-flight bound (each request holds its place until it is
//! answered), far below `BATCH_EVENTS_MAX` and `BATCH_BYTES_MAX`.

use std::sync::mpsc;

use cardledger::{Cardledger, CommandLine, EngineError, Outcome};
use tokio::sync::oneshot;

/// One command and where its outcome goes.
pub(crate) type Job = (CommandLine, oneshot::Sender<Result<Outcome, EngineError>>);

/// Starts the thread; it ends (dropping its handle on the ledger) when
/// every sender is dropped.
pub(crate) fn start(ledger: Cardledger) -> std::io::Result<(mpsc::Sender<Job>, std::thread::JoinHandle<()>)> {
    let (tx, rx) = mpsc::channel::<Job>();
    let handle = std::thread::Builder::new().name("cardledger-submitter".into()).spawn(move || run(&ledger, &rx))?;
    Ok((tx, handle))
}

fn run(ledger: &Cardledger, rx: &mpsc::Receiver<Job>) {
    while let Ok(first) = rx.recv() {
        let mut jobs = vec![first];
        while jobs.len() < cardledger::layers::domain::limits::HTTP_REQUESTS_IN_FLIGHT_MAX {
            match rx.try_recv() {
                Ok(j) => jobs.push(j),
                Err(_) => break,
            }
        }
        let (lines, replies): (Vec<CommandLine>, Vec<_>) = jobs.into_iter().unzip();
        match ledger.submit_outcomes(lines) {
            Ok(outcomes) => {
                assert_eq!(outcomes.len(), replies.len(), "the engine answers every command of a batch");
                for (outcome, reply) in outcomes.into_iter().zip(replies) {
                    // a requester that went away (connection closed) needs no answer
                    let _ = reply.send(Ok(outcome));
                }
            }
            Err(e) => {
                for reply in replies {
                    let _ = reply.send(Err(e.clone()));
                }
            }
        }
    }
}
