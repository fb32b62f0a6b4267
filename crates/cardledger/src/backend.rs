//! Where a host keeps its log: the sled store of its data directory (the
//! default), or a stream per program on a JetStream cluster (`--log
//! nats://HOST:PORT[,…]` with `--programs P1[,P2…]`): per owned program the
//! stream `cardledger-<P>`, subject `cardledger.<P>`, 3 replicas, and the
//! local snapshots, cold runs and checkpoints in `DATA/programs/<P>` (rebuilt
//! from the stream when that directory is empty). Each engine records only
//! commands of the host's programs (1220 for others); a
//! host owning several programs routes between them (`router.rs`).
//! `docs/scale-out.md` has the guarantees and how to run it.

use std::path::Path;
use std::sync::Arc;

use cardledger_core::engine::{Engine, EngineError, OpenOptions};
use cardledger_domain::rejection::{Code, Rejection};
use cardledger_nats::{store_error, Cluster, NatsLogError};

use crate::{Cardledger, Error};

/// Replicas of a stream a host creates.
pub const STREAM_REPLICAS: usize = 3;

/// The log a host opens its data directory on.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum LogConfig {
    /// The sled store in the data directory.
    #[default]
    Sled,
    /// One stream per owned program on the cluster at `urls`.
    JetStream {
        /// `nats://HOST:PORT[,HOST:PORT…]`.
        urls: String,
        /// The programs this host owns (each names its stream).
        programs: Vec<String>,
    },
}

/// A bad `--log` / `--programs`, naming the option.
fn bad(field: &str, what: impl std::fmt::Display) -> Error {
    Error::Rejected(Rejection::new(Code::InvalidValue, field, what))
}

impl LogConfig {
    /// From the hosts' `--log` and `--programs` options. `--programs`
    /// needs `--log`; `--log` needs at least one program (a comma list,
    /// each named once): one engine per owned program; several hosts serve
    /// disjoint programs of one cluster.
    pub fn from_args(log: Option<&str>, programs: Option<&str>) -> Result<LogConfig, Error> {
        let Some(urls) = log else {
            return match programs {
                None => Ok(LogConfig::Sled),
                Some(_) => Err(bad("programs", "--programs partitions the programs of a --log cluster; give --log")),
            };
        };
        cardledger_nats::parse_urls(urls).map_err(|e| bad("log", nats_reason(&e)))?;
        let programs: Vec<String> =
            programs.unwrap_or("").split(',').map(str::trim).filter(|p| !p.is_empty()).map(str::to_owned).collect();
        for p in &programs {
            cardledger_nats::stream_names(p).map_err(|e| bad("programs", nats_reason(&e)))?;
        }
        if programs.is_empty() {
            return Err(bad("programs", "a host on a --log cluster names the programs it owns: --programs P1[,P2…]"));
        }
        for (i, p) in programs.iter().enumerate() {
            if programs.get(..i).is_some_and(|before| before.contains(p)) {
                return Err(bad("programs", format!("{p:?} is named twice")));
            }
        }
        Ok(LogConfig::JetStream { urls: urls.to_owned(), programs })
    }
}

/// The reason of a configuration error without its field prefix.
fn nats_reason(e: &NatsLogError) -> String {
    match e {
        NatsLogError::InvalidProgram { reason } | NatsLogError::InvalidUrl { reason } => reason.clone(),
        other => other.to_string(),
    }
}

impl Cardledger {
    /// Opens the data directory on `log`: [`Cardledger::open`] for sled;
    /// for JetStream, the engine of each owned program on its stream
    /// (created when absent), its local state in `DATA/programs/<program>`;
    /// with several programs, one handle routing between them.
    pub fn open_with_log(dir: impl AsRef<Path>, log: &LogConfig) -> Result<Cardledger, Error> {
        match log {
            LogConfig::Sled => Cardledger::open(dir),
            LogConfig::JetStream { urls, programs } => open_jetstream(dir.as_ref(), urls, programs),
        }
    }

    /// [`Cardledger::open_existing`] for sled; for JetStream the same as
    /// [`Cardledger::open_with_log`]: the stream is the store, and an empty
    /// local directory is rebuilt from it.
    pub fn open_existing_with_log(dir: impl AsRef<Path>, log: &LogConfig) -> Result<Cardledger, Error> {
        match log {
            LogConfig::Sled => Cardledger::open_existing(dir),
            LogConfig::JetStream { .. } => Cardledger::open_with_log(dir, log),
        }
    }
}

impl Cardledger {
    /// Opens the data directory `dir` (local state only) on a log kept by
    /// another backend, serving every program (tests and tools; hosts use
    /// [`Cardledger::open_with_log`], which also restricts the programs).
    pub fn open_on(dir: impl AsRef<Path>, log: Arc<dyn cardledger_core::log::Log>) -> Result<Cardledger, Error> {
        let dir = dir.as_ref().to_path_buf();
        let engine = Engine::open_on(&dir, OpenOptions::default(), log)?;
        Ok(Cardledger::from_engine(engine, dir))
    }
}

fn open_jetstream(data: &Path, urls: &str, programs: &[String]) -> Result<Cardledger, Error> {
    let engine_error = |e: NatsLogError| Error::Engine(EngineError::Store(store_error(e)));
    if programs.is_empty() {
        return Err(bad("programs", "a host on a --log cluster owns at least one program"));
    }
    let cluster = Cluster::connect(urls, 2).map_err(engine_error)?;
    let mut owned = programs.to_vec();
    owned.sort();
    let mut shards = Vec::with_capacity(programs.len());
    for program in programs {
        let dir = data.join("programs").join(program);
        std::fs::create_dir_all(&dir).map_err(|source| Error::Output { what: dir.display().to_string(), source })?;
        let log = cluster.open_log(program, STREAM_REPLICAS).map_err(engine_error)?;
        let engine = Engine::open_on(&dir, OpenOptions::default(), Arc::new(log))?;
        // every shard serves the host's programs: a command routed to the
        // shard that holds its token (a repeat) is decided there
        // (duplicate or conflict), whatever program it names
        engine.serve_only(owned.clone());
        shards.push((program.clone(), Cardledger::from_engine(engine, dir)));
    }
    match shards.len() {
        1 => match shards.pop() {
            Some((_, one)) => Ok(one),
            None => unreachable!("one shard"),
        },
        _ => Ok(Cardledger::routed(shards)),
    }
}
