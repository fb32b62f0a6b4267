//! Webhooks (`docs/http.md` "Webhooks"): `POST /v3/webhooks` registers an
//! endpoint as the Core API's webhook object (`name`, `events`,
//! `config.url`, `config.secret`); one delivery thread per endpoint posts
//! every notification the alerts projection lists (alerts, statements
//! created, delinquency transitions) whose type the endpoint's `events`
//! match, in log order, signed with HMAC-SHA256, retrying with exponential
//! backoff until a 2xx. Only then does the endpoint's cursor move.
//!
//! The registry — endpoints, their cursors and their last attempts — is
//! the file `webhooks.json` in the data directory, rewritten atomically
//! (temporary file, fsync, rename, fsync of the directory) before a
//! registration is answered and after every attempt, so a restarted server
//! resumes each endpoint at its first unacknowledged notification: every
//! notification is delivered at least once (a receiver that answered 2xx
//! just before a crash may see it again; the `X-Cardledger-Delivery` token
//! identifies repeats).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};

use axum::body::Body;
use axum::extract::{Path as UrlPath, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum::{Extension, Router};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::Sha256;

use cardledger::layers::domain::limits;
use cardledger::{pairs_from_query, Cardledger, Notification};

use crate::auth::{Principal, Programs};
use crate::core_api::json_response;
use crate::error::{ApiError, WEBHOOK_EXISTS, WEBHOOK_FORBIDDEN, WEBHOOK_INVALID, WEBHOOK_NOT_FOUND};
use crate::{read_body, Shared};

/// The registry file in the data directory.
pub const REGISTRY_FILE: &str = "webhooks.json";
/// The signature header: `sha256=` + lowercase hex HMAC-SHA256 of the body.
pub const SIGNATURE_HEADER: &str = "X-Cardledger-Signature";
/// Notifications read per batch by a delivery thread.
const BATCH: usize = 256;

/// How deliveries wait and retry.
#[derive(Clone, Copy, Debug)]
pub struct DeliverySettings {
    /// Longest wait for a receiver's answer (connecting included).
    pub response_wait: Duration,
    /// The first retry's delay; it doubles on each failure.
    pub backoff_first: Duration,
    /// The longest delay between attempts.
    pub backoff_max: Duration,
}

impl Default for DeliverySettings {
    fn default() -> DeliverySettings {
        DeliverySettings {
            response_wait: Duration::from_millis(limits::WEBHOOK_RESPONSE_WAIT_MS_MAX),
            backoff_first: Duration::from_millis(limits::WEBHOOK_BACKOFF_FIRST_MS),
            backoff_max: Duration::from_millis(limits::WEBHOOK_BACKOFF_MS_MAX),
        }
    }
}

/// One registered endpoint, as stored.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Endpoint {
    token: String,
    name: String,
    active: bool,
    events: Vec<String>,
    url: String,
    secret: String,
    basic_auth: Option<(String, String)>,
    created_time: String,
    /// Notifications handled (delivered, or not subscribed to): the next
    /// one to consider is this ordinal.
    cursor: u64,
    /// The last attempts, oldest first (at most `WEBHOOK_ATTEMPTS_KEPT_MAX`).
    attempts: Vec<Attempt>,
}

/// One delivery attempt.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Attempt {
    notification_token: String,
    event_type: String,
    seq: u64,
    attempt: u32,
    status: String,
    response_code: Option<u16>,
    error: Option<String>,
    time: String,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Registry {
    endpoints: Vec<Endpoint>,
}

/// The registry, its file and the delivery threads.
pub(crate) struct Webhooks {
    path: PathBuf,
    registry: Mutex<Registry>,
    settings: DeliverySettings,
    stop: AtomicBool,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl Webhooks {
    /// Loads `webhooks.json` from `dir` (none yet: empty); a file that does
    /// not parse is an error, never silently replaced.
    pub(crate) fn open(dir: &Path, settings: DeliverySettings) -> Result<Webhooks, String> {
        let path = dir.join(REGISTRY_FILE);
        let registry = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| format!("{}: {e}", path.display()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Registry::default(),
            Err(e) => return Err(format!("{}: {e}", path.display())),
        };
        Ok(Webhooks {
            path,
            registry: Mutex::new(registry),
            settings,
            stop: AtomicBool::new(false),
            threads: Mutex::new(Vec::new()),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Registry> {
        self.registry.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Starts a delivery thread for every stored active endpoint.
    pub(crate) fn start_all(self: &Arc<Self>, ledger: &Cardledger) {
        let tokens: Vec<String> = self.lock().endpoints.iter().filter(|e| e.active).map(|e| e.token.clone()).collect();
        for t in tokens {
            self.start(ledger, t);
        }
    }

    fn start(self: &Arc<Self>, ledger: &Cardledger, token: String) {
        let hooks = self.clone();
        let ledger = ledger.clone();
        let handle = std::thread::spawn(move || hooks.deliver_loop(&ledger, &token));
        self.threads.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(handle);
    }

    /// Stops every delivery thread (an attempt in flight finishes first)
    /// and waits for them.
    pub(crate) fn shutdown(&self) {
        self.stop.store(true, Ordering::SeqCst);
        let threads = std::mem::take(&mut *self.threads.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
        for t in threads {
            let _ = t.join();
        }
    }

    fn stopping(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    /// Writes the registry durably: temporary file, fsync, rename, fsync
    /// of the directory.
    fn persist(&self, registry: &Registry) -> Result<(), String> {
        let text = serde_json::to_vec(registry).map_err(|e| e.to_string())?;
        let tmp = self.path.with_extension("json.tmp");
        let write = || -> std::io::Result<()> {
            let mut f = std::fs::File::create(&tmp)?;
            std::io::Write::write_all(&mut f, &text)?;
            f.sync_all()?;
            std::fs::rename(&tmp, &self.path)?;
            if let Some(dir) = self.path.parent() {
                std::fs::File::open(dir)?.sync_all()?;
            }
            Ok(())
        };
        write().map_err(|e| format!("writing {}: {e}", self.path.display()))
    }

    /// Sleeps up to `d` in short steps; false when stopping.
    fn pause(&self, d: Duration) -> bool {
        let step = Duration::from_millis(20);
        let mut left = d;
        while !left.is_zero() {
            if self.stopping() {
                return false;
            }
            let now = left.min(step);
            std::thread::sleep(now);
            left = left.saturating_sub(now);
        }
        !self.stopping()
    }

    /// One endpoint's delivery loop: from its cursor, every notification
    /// it subscribes to, in order, each until a 2xx.
    fn deliver_loop(&self, ledger: &Cardledger, token: &str) {
        while !self.stopping() {
            let Some(endpoint) = self.lock().endpoints.iter().find(|e| e.token == token).cloned() else { return };
            let batch = match ledger.notifications(endpoint.cursor, BATCH) {
                Ok(b) => b,
                Err(e) => {
                    eprintln!("cardledger: webhook {token}: reading notifications: {e}");
                    if !self.pause(self.settings.backoff_max) {
                        return;
                    }
                    continue;
                }
            };
            if batch.is_empty() {
                // wakes on the next commit
                ledger.wait_beyond(ledger.head_seq(), Duration::from_millis(200));
                continue;
            }
            for n in &batch {
                let wanted = subscribed(&endpoint.events, &n.event_type);
                if wanted && !self.deliver(&endpoint, n) {
                    return; // stopping: the cursor stays before `n`
                }
                let mut reg = self.lock();
                if let Some(e) = reg.endpoints.iter_mut().find(|e| e.token == token) {
                    e.cursor = n.ordinal + 1;
                }
                // one write per acknowledged delivery (with its attempt); the
                // cursor past notifications not subscribed to is written
                // with the next one, or at the end of the batch
                if wanted || batch.last().is_some_and(|last| last.ordinal == n.ordinal) {
                    if let Err(e) = self.persist(&reg) {
                        eprintln!("cardledger: webhook {token}: {e}");
                    }
                }
            }
        }
    }

    /// Posts `n` until a 2xx; false when the server stops first.
    fn deliver(&self, endpoint: &Endpoint, n: &Notification) -> bool {
        let body = n.body.to_string();
        let signature = sign(&endpoint.secret, body.as_bytes());
        let agent = ureq::AgentBuilder::new()
            .timeout_connect(self.settings.response_wait)
            .timeout(self.settings.response_wait)
            .redirects(0)
            .build();
        let mut delay = self.settings.backoff_first;
        let mut attempt: u32 = 0;
        loop {
            attempt = attempt.saturating_add(1);
            let mut req = agent
                .post(&endpoint.url)
                .set("Content-Type", "application/json")
                .set(SIGNATURE_HEADER, &format!("sha256={signature}"))
                .set("X-Cardledger-Event", &n.event_type)
                .set("X-Cardledger-Delivery", &n.token)
                .set("X-Cardledger-Attempt", &attempt.to_string());
            if let Some((user, password)) = &endpoint.basic_auth {
                use base64::Engine as _;
                let pair = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
                req = req.set("Authorization", &format!("Basic {pair}"));
            }
            let (code, error) = match req.send_string(&body) {
                Ok(res) => (Some(res.status()), None),
                Err(ureq::Error::Status(code, _)) => (Some(code), None),
                Err(e) => (None, Some(e.to_string())),
            };
            let ok = code.is_some_and(|c| (200..300).contains(&c));
            // a success is written with the cursor that follows it
            self.record(
                !ok,
                &endpoint.token,
                Attempt {
                    notification_token: n.token.clone(),
                    event_type: n.event_type.clone(),
                    seq: n.seq,
                    attempt,
                    status: if ok { "DELIVERED" } else { "FAILED" }.into(),
                    response_code: code,
                    error,
                    time: now_text(),
                },
            );
            if ok {
                return true;
            }
            if !self.pause(delay) {
                return false;
            }
            delay = delay.saturating_mul(2).min(self.settings.backoff_max);
        }
    }

    fn record(&self, persist: bool, token: &str, attempt: Attempt) {
        let mut reg = self.lock();
        if let Some(e) = reg.endpoints.iter_mut().find(|e| e.token == token) {
            e.attempts.push(attempt);
            let over = e.attempts.len().saturating_sub(limits::WEBHOOK_ATTEMPTS_KEPT_MAX);
            e.attempts.drain(..over);
        }
        if persist {
            if let Err(e) = self.persist(&reg) {
                eprintln!("cardledger: webhook {token}: {e}");
            }
        }
    }
}

/// `sha256` HMAC of `body` under `secret`, lowercase hex.
pub fn sign(secret: &str, body: &[u8]) -> String {
    // HMAC takes a key of any length: `new_from_slice` cannot fail for it
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else { return String::new() };
    mac.update(body);
    mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect()
}

/// True when one of `patterns` (`*`, an exact type, or `prefix.*`) matches.
fn subscribed(patterns: &[String], event_type: &str) -> bool {
    patterns.iter().any(|p| {
        p == "*"
            || p == event_type
            || p.strip_suffix(".*")
                .is_some_and(|prefix| event_type.strip_prefix(prefix).is_some_and(|rest| rest.starts_with('.')))
    })
}

/// The event types a pattern may name (besides `*` and `prefix.*`).
const EVENT_TYPES: [&str; 5] = [
    "alert.reserve_below_requirement",
    "alert.funding_below_threshold",
    "alert.account_delinquent",
    "accountstatement.created",
    "delinquencytransition.created",
];

/// The wall clock as RFC 3339 (registration and attempt times only: the
/// notifications themselves carry the log's times).
fn now_text() -> String {
    let micros = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_micros());
    cardledger::layers::domain::time::Timestamp(i64::try_from(micros).unwrap_or(i64::MAX)).to_string()
}

pub(crate) fn routes() -> Router<Shared> {
    Router::new()
        .route("/v3/webhooks", get(list).post(create))
        .route("/v3/webhooks/{token}", get(fetch))
        .route("/v3/webhooks/{token}/deliveries", get(deliveries))
}

/// Webhooks see every program's notifications: only a credential for
/// every program may manage them.
fn admit(principal: &Principal) -> Result<(), ApiError> {
    match principal.programs {
        Programs::All => Ok(()),
        Programs::Only(_) => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            WEBHOOK_FORBIDDEN,
            "webhooks deliver every program's events: they need a credential for every program",
        )),
    }
}

fn invalid(field: &str, why: &str) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, WEBHOOK_INVALID, format!("{field}: {why}"))
}

/// The webhook object as the Core API shows it; the secret and the basic
/// auth password are never echoed.
fn object_json(e: &Endpoint) -> Value {
    let mut config = json!({"url": e.url, "secret": "********"});
    if let (Some((user, _)), Value::Object(o)) = (&e.basic_auth, &mut config) {
        o.insert("basic_auth_username".into(), user.clone().into());
        o.insert("basic_auth_password".into(), "********".into());
    }
    json!({"token": e.token, "name": e.name, "active": e.active, "events": e.events, "config": config,
           "created_time": e.created_time, "last_modified_time": e.created_time})
}

fn text_field(body: &Value, field: &str, name: &str, required: bool) -> Result<Option<String>, ApiError> {
    match body.get(field) {
        None | Some(Value::Null) if required => Err(invalid(name, "is required")),
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Err(invalid(name, "is empty")),
        Some(Value::String(s)) if s.chars().count() > limits::WEBHOOK_FIELD_CHARS_MAX => {
            Err(invalid(name, &format!("is longer than {} characters", limits::WEBHOOK_FIELD_CHARS_MAX)))
        }
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(invalid(name, "must be a string")),
    }
}

/// Checks a registration body; every error names the field.
fn parse_endpoint(body: &Value) -> Result<Endpoint, ApiError> {
    let Value::Object(o) = body else { return Err(invalid("body", "must be a JSON object")) };
    if let Some(k) = o.keys().find(|k| !["token", "name", "active", "events", "config"].contains(&k.as_str())) {
        return Err(invalid(k, "is not a field of a webhook"));
    }
    let name = text_field(body, "name", "name", true)?.unwrap_or_default();
    let token = match text_field(body, "token", "token", false)? {
        Some(t) if t.len() > 36 || !t.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') => {
            return Err(invalid("token", "at most 36 characters of A-Z a-z 0-9 _ -"))
        }
        Some(t) => t,
        None => {
            let seed = format!("{name}{}", now_text());
            format!("wh_{}", blake3::hash(seed.as_bytes()).to_hex().get(..24).unwrap_or_default())
        }
    };
    let active = match body.get("active") {
        None | Some(Value::Null) => true,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(invalid("active", "must be true or false")),
    };
    let events = match body.get("events") {
        Some(Value::Array(list)) if !list.is_empty() && list.len() <= limits::WEBHOOK_EVENTS_MAX => list
            .iter()
            .map(|v| match v.as_str() {
                Some(p)
                    if p == "*"
                        || EVENT_TYPES.contains(&p)
                        || p.strip_suffix(".*")
                            .is_some_and(|pre| EVENT_TYPES.iter().any(|t| subscribed(&[format!("{pre}.*")], t))) =>
                {
                    Ok(p.to_string())
                }
                _ => Err(invalid(
                    "events",
                    &format!("{v} is not *, an event type ({}) or PREFIX.*", EVENT_TYPES.join(", ")),
                )),
            })
            .collect::<Result<Vec<_>, _>>()?,
        Some(_) | None => {
            return Err(invalid(
                "events",
                &format!("is required: a list of 1 to {} patterns", limits::WEBHOOK_EVENTS_MAX),
            ))
        }
    };
    let config = body.get("config").ok_or_else(|| invalid("config", "is required (url, secret)"))?;
    let Value::Object(c) = config else { return Err(invalid("config", "must be an object")) };
    if let Some(k) =
        c.keys().find(|k| !["url", "secret", "basic_auth_username", "basic_auth_password"].contains(&k.as_str()))
    {
        return Err(invalid(&format!("config.{k}"), "is not a field of a webhook's config"));
    }
    let url = text_field(config, "url", "config.url", true)?.unwrap_or_default();
    if !url.starts_with("http://") || url.len() <= "http://".len() || url.contains(char::is_whitespace) {
        return Err(invalid("config.url", "must be an http:// URL (this build sends no TLS)"));
    }
    let secret = text_field(config, "secret", "config.secret", true)?.unwrap_or_default();
    if secret.len() < 16 {
        return Err(invalid("config.secret", "must be at least 16 characters"));
    }
    let user = text_field(config, "basic_auth_username", "config.basic_auth_username", false)?;
    let password = text_field(config, "basic_auth_password", "config.basic_auth_password", false)?;
    let basic_auth = match (user, password) {
        (Some(u), Some(p)) => Some((u, p)),
        (None, None) => None,
        (Some(_), None) => return Err(invalid("config.basic_auth_password", "is required with basic_auth_username")),
        (None, Some(_)) => return Err(invalid("config.basic_auth_username", "is required with basic_auth_password")),
    };
    Ok(Endpoint {
        token,
        name,
        active,
        events,
        url,
        secret,
        basic_auth,
        created_time: now_text(),
        cursor: 0,
        attempts: Vec::new(),
    })
}

async fn create(
    State(state): State<Shared>,
    Extension(principal): Extension<Principal>,
    body: Body,
) -> Result<Response, ApiError> {
    admit(&principal)?;
    let bytes = read_body(body, limits::LINE_BYTES_MAX).await?;
    let value: Value = serde_json::from_slice(&bytes).map_err(|e| invalid("body", &format!("is not JSON: {e}")))?;
    let endpoint = parse_endpoint(&value)?;
    let st = state.clone();
    let answer = tokio::task::spawn_blocking(move || -> Result<Value, ApiError> {
        let hooks = &st.webhooks;
        let mut reg = hooks.lock();
        if reg.endpoints.iter().any(|e| e.token == endpoint.token) {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                WEBHOOK_EXISTS,
                format!("token: a webhook {:?} exists", endpoint.token),
            ));
        }
        if reg.endpoints.len() >= limits::WEBHOOKS_MAX {
            return Err(invalid("token", &format!("at most {} webhooks may be registered", limits::WEBHOOKS_MAX)));
        }
        let answer = object_json(&endpoint);
        let (token, active) = (endpoint.token.clone(), endpoint.active);
        reg.endpoints.push(endpoint);
        // durable before it is answered
        if let Err(e) = hooks.persist(&reg) {
            reg.endpoints.retain(|e| e.token != token);
            return Err(ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, crate::error::INTERNAL, e));
        }
        drop(reg);
        if active {
            hooks.start(&st.ledger, token);
        }
        Ok(answer)
    })
    .await
    .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, crate::error::INTERNAL, e.to_string()))??;
    Ok(json_response(StatusCode::CREATED, &answer))
}

/// `count` (1–100, default 10) and `start_index` (default 0).
fn paging(query: Option<String>) -> Result<(usize, usize), ApiError> {
    let mut count = 10usize;
    let mut start = 0usize;
    for (k, v) in pairs_from_query(query.as_deref().unwrap_or("")) {
        match k.as_str() {
            "count" => match v.parse::<usize>() {
                Ok(n) if (1..=100).contains(&n) => count = n,
                _ => return Err(invalid("count", "must be an integer from 1 to 100")),
            },
            "start_index" => start = v.parse().map_err(|_| invalid("start_index", "must be an integer ≥ 0"))?,
            other => return Err(invalid(other, "is not a parameter of this list (count, start_index)")),
        }
    }
    Ok((count, start))
}

/// The Core API list envelope.
fn page(items: Vec<Value>, count: usize, start: usize) -> Value {
    let total = items.len();
    let data: Vec<Value> = items.into_iter().skip(start).take(count).collect();
    let n = data.len();
    json!({"count": n, "start_index": start, "end_index": (start + n).saturating_sub(1),
           "is_more": start + n < total, "data": data})
}

async fn list(
    State(state): State<Shared>,
    Extension(principal): Extension<Principal>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    admit(&principal)?;
    let (count, start) = paging(query)?;
    let items: Vec<Value> = state.webhooks.lock().endpoints.iter().map(object_json).collect();
    Ok(json_response(StatusCode::OK, &page(items, count, start)))
}

fn not_found(token: &str) -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, WEBHOOK_NOT_FOUND, format!("token: no webhook {token:?}"))
}

async fn fetch(
    State(state): State<Shared>,
    Extension(principal): Extension<Principal>,
    UrlPath(token): UrlPath<String>,
) -> Result<Response, ApiError> {
    admit(&principal)?;
    let reg = state.webhooks.lock();
    let e = reg.endpoints.iter().find(|e| e.token == token).ok_or_else(|| not_found(&token))?;
    Ok(json_response(StatusCode::OK, &object_json(e)))
}

async fn deliveries(
    State(state): State<Shared>,
    Extension(principal): Extension<Principal>,
    UrlPath(token): UrlPath<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    admit(&principal)?;
    let (count, start) = paging(query)?;
    let reg = state.webhooks.lock();
    let e = reg.endpoints.iter().find(|e| e.token == token).ok_or_else(|| not_found(&token))?;
    let items: Vec<Value> = e
        .attempts
        .iter()
        .map(|a| {
            json!({"notification_token": a.notification_token, "type": a.event_type, "seq": a.seq,
                   "attempt": a.attempt, "status": a.status, "response_code": a.response_code,
                   "error": a.error, "time": a.time})
        })
        .collect();
    let mut answer = page(items, count, start);
    if let Value::Object(o) = &mut answer {
        o.insert("delivered_through".into(), e.cursor.into());
    }
    Ok(json_response(StatusCode::OK, &answer))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_types_and_prefixes_only_at_a_dot() {
        let p = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert!(subscribed(&p(&["*"]), "accountstatement.created"));
        assert!(subscribed(&p(&["alert.*"]), "alert.funding_below_threshold"));
        assert!(!subscribed(&p(&["aler.*"]), "alert.funding_below_threshold"));
        assert!(subscribed(&p(&["delinquencytransition.created"]), "delinquencytransition.created"));
        assert!(!subscribed(&p(&["alert.account_delinquent"]), "alert.funding_below_threshold"));
    }

    #[test]
    fn the_signature_is_rfc_4231_hmac_sha256() {
        // RFC 4231 test case 2
        assert_eq!(
            sign("Jefe", b"what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
