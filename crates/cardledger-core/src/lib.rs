//! The cardledger engine: the append-only log in sled, group commit, reads and
//! the projection runner.
//!
//! `store` is the only module that names sled; its interface (append a batch
//! at an expected head, read from a sequence number, subscribe) is one a
//! replicated log could serve too. `engine` wraps the pure decision logic of
//! `cardledger-domain` around it.
//!
//! ```
//! use cardledger_core::engine::{Engine, Outcome};
//! use cardledger_domain::wire::parse_line;
//! let dir = tempfile::tempdir().unwrap();
//! let engine = Engine::open(dir.path()).unwrap();
//! let line = parse_line(r#"{"program": {"token":"p1","bank":"Sutton","currency_code":"USD"}}"#).unwrap();
//! let outcome = engine.submit(line).unwrap(); // returns once flushed
//! assert!(matches!(outcome, Outcome::Recorded { seq: 1, .. }));
//! ```

pub mod backup;
pub mod cold;
pub mod engine;
pub mod fuzz;
pub mod ingest;
pub mod log;
pub mod projection;
pub mod reads;
pub mod record;
pub mod store;

/// Locks a mutex, taking it over if a thread panicked while holding it: every
/// value behind the core's mutexes is left consistent between statements
/// (queues, slots, published heads), so a panic elsewhere must not wedge
/// every later caller. The one home of this rule in the core.
pub(crate) fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Waits on `cv` with `guard`'s mutex, taking it over as [`lock`] does.
pub(crate) fn wait<'a, T>(
    cv: &std::sync::Condvar,
    guard: std::sync::MutexGuard<'a, T>,
) -> std::sync::MutexGuard<'a, T> {
    cv.wait(guard).unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Waits on `cv` while `condition` holds, at most `timeout`, taking the
/// mutex over as [`lock`] does; the guard, the condition checked last.
pub(crate) fn wait_while_for<'a, T>(
    cv: &std::sync::Condvar,
    guard: std::sync::MutexGuard<'a, T>,
    timeout: std::time::Duration,
    condition: impl FnMut(&mut T) -> bool,
) -> std::sync::MutexGuard<'a, T> {
    cv.wait_timeout_while(guard, timeout, condition).unwrap_or_else(std::sync::PoisonError::into_inner).0
}
