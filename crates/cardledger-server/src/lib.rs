//! `cardledger-server`: the HTTP host of cardledger, on the `cardledger`
//! facade only. `cardledger serve` runs it.
//!
//! - `/v3/…`: the Core API (source pages 003/004, product.md §4): bodies go
//!   through the one wire parser, answers come from the one renderer.
//! - `/data/v2/…`: DiVA views, schemas and exports.
//! - `/`: the dashboard (inline SVG charts, no external assets).
//! - `/v3/webhooks`: endpoints that receive alerts, statements created and
//!   delinquency transitions, signed, in log order, at least once
//!   ([`webhooks`]).
//!
//! Every request is authenticated (HTTP Basic, [`auth`]), bounded before it
//! is read (path, headers, body: `limits.rs`), and answered only once what
//! it recorded is durable: engine calls run on the blocking pool and share
//! the engine's group commit. Errors have one shape ([`error::ApiError`]).

pub mod auth;
mod core_api;
mod dashboard;
mod diva;
pub mod error;
mod ledger_api;
mod submitter;
pub mod webhooks;

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use cardledger::layers::domain::limits;
use cardledger::Cardledger;

use auth::{Credentials, Principal};
use error::ApiError;

/// How the server starts.
#[derive(Clone, Debug)]
pub struct Config {
    /// The data directory.
    pub data: PathBuf,
    /// `HOST:PORT` to listen on (`127.0.0.1:0` picks a free port).
    pub addr: String,
    /// The credentials file (JSON lines, see [`auth`]).
    pub credentials: Option<PathBuf>,
    /// Serve without authentication (loopback addresses only).
    pub no_auth: bool,
    /// Most engine calls at once; more are answered 429.
    pub requests_in_flight_max: usize,
    /// How webhook deliveries wait and retry.
    pub webhooks: webhooks::DeliverySettings,
    /// Where the log is (`--log`, `--programs`): sled by default.
    pub log: cardledger::LogConfig,
}

impl Config {
    /// A configuration with the default limits.
    pub fn new(data: PathBuf, addr: String, credentials: Option<PathBuf>, no_auth: bool) -> Config {
        Config {
            data,
            addr,
            credentials,
            no_auth,
            requests_in_flight_max: limits::HTTP_REQUESTS_IN_FLIGHT_MAX,
            webhooks: webhooks::DeliverySettings::default(),
            log: cardledger::LogConfig::default(),
        }
    }
}

/// Why the server did not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// Neither `--credentials` nor `--no-auth`, or `--no-auth` off loopback.
    #[error("{0}")]
    Config(String),
    /// The credentials file is unusable.
    #[error(transparent)]
    Credentials(#[from] auth::CredentialsError),
    /// Binding or serving failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The error.
        source: std::io::Error,
    },
    /// Opening the data directory failed.
    #[error("opening the data directory: {0}")]
    Open(#[from] cardledger::Error),
    /// The webhook registry (`webhooks.json`) is unreadable.
    #[error("the webhook registry: {0}")]
    Webhooks(String),
}

pub(crate) struct AppState {
    pub(crate) ledger: Cardledger,
    pub(crate) webhooks: Arc<webhooks::Webhooks>,
    /// Single-command submits, batched by [`submitter`].
    pub(crate) submitter: std::sync::mpsc::Sender<submitter::Job>,
    credentials: Option<Credentials>,
    permits: Arc<Semaphore>,
    in_flight_max: usize,
}

pub(crate) type Shared = Arc<AppState>;

/// Opens the data directory, binds, prints `listening on http://HOST:PORT`
/// and serves until SIGTERM or Ctrl-C; then stops accepting, finishes the
/// requests in flight and closes the engine.
pub fn run(config: Config) -> Result<(), ServeError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(config.requests_in_flight_max.max(1))
        .build()
        .map_err(|source| ServeError::Io { what: "starting the runtime".into(), source })?;
    // the handlers are registered before the listening line is printed: a
    // supervisor that signals as soon as it reads the line is never missed
    let shutdown = {
        let _context = runtime.enter();
        shutdown_signal()?
    };
    runtime.block_on(serve(config, shutdown, |addr| {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        // one line, flushed, so a supervisor reading stdout sees it at once
        let _ = writeln!(out, "listening on http://{addr}").and_then(|()| out.flush());
    }))
}

/// Serves until `shutdown` completes; `on_listen` is called once the
/// listener accepts connections. The engine is closed before it returns.
pub async fn serve(
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
    on_listen: impl FnOnce(SocketAddr),
) -> Result<(), ServeError> {
    serve_inner(config, None, shutdown, on_listen).await
}

/// Like [`serve`], over a ledger the host has already opened (`config.data`
/// is not used): a host that links the engine in-process and also serves
/// HTTP keeps its own handle beside the server's. The engine closes when
/// the last handle is dropped.
pub async fn serve_ledger(
    config: Config,
    ledger: Cardledger,
    shutdown: impl Future<Output = ()> + Send + 'static,
    on_listen: impl FnOnce(SocketAddr),
) -> Result<(), ServeError> {
    serve_inner(config, Some(ledger), shutdown, on_listen).await
}

async fn serve_inner(
    config: Config,
    ledger: Option<Cardledger>,
    shutdown: impl Future<Output = ()> + Send + 'static,
    on_listen: impl FnOnce(SocketAddr),
) -> Result<(), ServeError> {
    let credentials = match (&config.credentials, config.no_auth) {
        (Some(_), true) => return Err(ServeError::Config("give --credentials or --no-auth, not both".into())),
        (Some(path), false) => Some(Credentials::load(path)?),
        (None, true) => None,
        (None, false) => {
            return Err(ServeError::Config(
                "refusing to start without --credentials FILE (or --no-auth, on a loopback address only)".into(),
            ))
        }
    };
    let listener = tokio::net::TcpListener::bind(&config.addr)
        .await
        .map_err(|source| ServeError::Io { what: format!("binding {}", config.addr), source })?;
    let addr = listener.local_addr().map_err(|source| ServeError::Io { what: "local address".into(), source })?;
    if credentials.is_none() && !addr.ip().is_loopback() {
        return Err(ServeError::Config(format!("--no-auth is refused on the non-loopback address {addr}")));
    }
    let ledger = match ledger {
        Some(l) => l,
        None => {
            let data = config.data.clone();
            let log = config.log.clone();
            tokio::task::spawn_blocking(move || Cardledger::open_with_log(&data, &log)).await.map_err(|e| {
                ServeError::Io { what: "opening".into(), source: std::io::Error::other(e.to_string()) }
            })??
        }
    };
    let (submitter, submitter_thread) = submitter::start(ledger.clone())
        .map_err(|source| ServeError::Io { what: "starting the submitter thread".into(), source })?;
    let hooks = Arc::new(webhooks::Webhooks::open(&config.data, config.webhooks).map_err(ServeError::Webhooks)?);
    hooks.start_all(&ledger);
    let state = Arc::new(AppState {
        ledger,
        webhooks: hooks.clone(),
        submitter,
        credentials,
        permits: Arc::new(Semaphore::new(config.requests_in_flight_max)),
        in_flight_max: config.requests_in_flight_max,
    });
    let app = router(state.clone());
    on_listen(addr);
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(|source| ServeError::Io { what: "serving".into(), source });
    // the delivery threads hold the engine too: stop them (an attempt in
    // flight finishes; its cursor is saved) before the last reference goes
    let stopping = hooks.clone();
    let _ = tokio::task::spawn_blocking(move || stopping.shutdown()).await;
    drop(hooks);
    // every connection is closed and every handler has returned: the last
    // references to the engine go here (the submitter's when its queue's
    // sender is dropped), which closes it
    drop(state);
    let _ = tokio::task::spawn_blocking(move || submitter_thread.join()).await;
    served
}

/// SIGTERM or Ctrl-C (SIGINT), registered now (inside the runtime's
/// context); the future completes at the first of them. A handler that
/// cannot be registered is an error, never a server that cannot be stopped.
fn shutdown_signal() -> Result<impl std::future::Future<Output = ()>, ServeError> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let register = |kind: SignalKind, name: &str| {
            signal(kind).map_err(|source| ServeError::Io { what: format!("listening for {name}"), source })
        };
        let mut term = register(SignalKind::terminate(), "SIGTERM")?;
        let mut interrupt = register(SignalKind::interrupt(), "SIGINT")?;
        Ok(async move {
            tokio::select! {
                _ = term.recv() => {},
                _ = interrupt.recv() => {},
            }
        })
    }
    #[cfg(not(unix))]
    {
        Ok(async {
            let _ = tokio::signal::ctrl_c().await;
        })
    }
}

fn router(state: Shared) -> Router {
    Router::new()
        .merge(core_api::routes())
        .merge(diva::routes())
        .merge(ledger_api::routes())
        .merge(dashboard::routes())
        .merge(webhooks::routes())
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, error::NO_ROUTE, "no such route") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(StatusCode::METHOD_NOT_ALLOWED, error::METHOD, "this route does not take that method")
        })
        .layer(middleware::from_fn_with_state(state.clone(), authenticate))
        .layer(middleware::from_fn(bound))
        .with_state(state)
}

/// Bounds every request before anything reads it: path length, header
/// bytes, and a declared body length over the route's limit (413 without
/// reading the body; a body without a length is cut at the limit while it
/// is read, see [`read_body`]).
async fn bound(req: Request, next: Next) -> Response {
    let path_len = req.uri().path().len() + req.uri().query().map_or(0, str::len);
    if path_len > limits::HTTP_PATH_BYTES_MAX {
        return ApiError::new(
            StatusCode::URI_TOO_LONG,
            error::PATH_TOO_LONG,
            format!("the path and query are {path_len} bytes; the limit is {}", limits::HTTP_PATH_BYTES_MAX),
        )
        .into_response();
    }
    let header_bytes: usize = req.headers().iter().map(|(k, v)| k.as_str().len() + v.len() + 4).sum();
    if header_bytes > limits::HTTP_HEADER_BYTES_MAX {
        return ApiError::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            error::HEADERS_TOO_LARGE,
            format!("the headers are {header_bytes} bytes; the limit is {}", limits::HTTP_HEADER_BYTES_MAX),
        )
        .into_response();
    }
    let limit = body_limit(req.uri().path());
    let declared =
        req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if let Some(n) = declared {
        if n > limit as u64 {
            return too_large(limit).into_response();
        }
    }
    next.run(req).await
}

/// The body limit of a route: command batches may be larger than one line.
pub(crate) fn body_limit(path: &str) -> usize {
    if path == "/v3/commands" {
        limits::HTTP_COMMANDS_BODY_BYTES_MAX
    } else {
        limits::LINE_BYTES_MAX
    }
}

fn too_large(limit: usize) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        error::BODY_TOO_LARGE,
        format!("the body is larger than this route's limit of {limit} bytes"),
    )
}

/// Reads a body, stopping at `limit` bytes (413 past it).
pub(crate) async fn read_body(body: Body, limit: usize) -> Result<axum::body::Bytes, ApiError> {
    axum::body::to_bytes(body, limit).await.map_err(|_| too_large(limit))
}

/// Authenticates (401 with `WWW-Authenticate` when that fails) and hands
/// the [`Principal`] to the handlers.
async fn authenticate(State(state): State<Shared>, mut req: Request, next: Next) -> Response {
    let principal =
        match &state.credentials {
            None => Principal::anyone(),
            Some(c) => {
                let header = req.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
                let known = match c.check(header) {
                    auth::Check::Known(p) => p,
                    auth::Check::NeedsArgon2 => {
                        // Argon2 takes tens of milliseconds of CPU: not on an async worker
                        let header = header.map(str::to_string);
                        let shared = state.clone();
                        let verified = tokio::task::spawn_blocking(move || {
                            shared.credentials.as_ref().and_then(|c| c.authenticate(header.as_deref()))
                        })
                        .await;
                        match verified {
                            Ok(p) => p,
                            Err(e) => {
                                return ApiError::new(
                                    StatusCode::INTERNAL_SERVER_ERROR,
                                    error::INTERNAL,
                                    format!("password verification failed: {e}"),
                                )
                                .into_response()
                            }
                        }
                    }
                };
                match known {
                    Some(p) => p,
                    None => return ApiError::new(
                        StatusCode::UNAUTHORIZED,
                        error::UNAUTHORIZED,
                        "authentication required: HTTP Basic with a username and password from the credentials file",
                    )
                    .into_response(),
                }
            }
        };
    req.extensions_mut().insert(principal);
    next.run(req).await
}

/// A place among the `HTTP_REQUESTS_IN_FLIGHT_MAX` engine calls in flight:
/// 429 when none is free.
pub(crate) fn permit(state: &Shared) -> Result<OwnedSemaphorePermit, ApiError> {
    state.permits.clone().try_acquire_owned().map_err(|_| {
        ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            error::SATURATED,
            format!("{} requests are in flight; retry later", state.in_flight_max),
        )
    })
}

/// Runs a blocking facade call on the blocking pool under a permit: 429
/// when `HTTP_REQUESTS_IN_FLIGHT_MAX` calls are already running.
pub(crate) async fn blocking<T: Send + 'static>(
    state: &Shared,
    f: impl FnOnce(&Cardledger) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let permit = permit(state)?;
    blocking_with(state, permit, f).await
}

/// [`blocking`] with a permit taken earlier (before reading a large body).
pub(crate) async fn blocking_with<T: Send + 'static>(
    state: &Shared,
    permit: OwnedSemaphorePermit,
    f: impl FnOnce(&Cardledger) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let r = on_pool(state, f).await;
    drop(permit);
    r
}

/// Runs a blocking facade call on the blocking pool, for a request that
/// already holds its place among those in flight.
pub(crate) async fn on_pool<T: Send + 'static>(
    state: &Shared,
    f: impl FnOnce(&Cardledger) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let st = state.clone();
    let out = tokio::task::spawn_blocking(move || f(&st.ledger)).await;
    match out {
        Ok(r) => r,
        Err(e) => Err(ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, error::INTERNAL, format!("worker failed: {e}"))),
    }
}
