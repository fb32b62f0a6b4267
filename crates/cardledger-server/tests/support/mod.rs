//! A server on 127.0.0.1:0 in this process, a real HTTP client (ureq), and
//! the seeded workload ingested through `POST /v3/commands`.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::io::Write;
use std::path::PathBuf;
use std::sync::mpsc;
use std::thread::JoinHandle;

use base64::Engine as _;
use serde_json::Value;

pub struct Server {
    pub base: String,
    pub dir: tempfile::TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<Result<(), String>>>,
}

pub const CREDENTIALS: &str = r#"{"username": "admin", "password": "admin-pw", "programs": "*"}
{"username": "alpha", "password": "alpha-pw", "program": "prog_alpha"}
{"username": "beta", "password": "beta-pw", "programs": ["prog_beta"]}
"#;

impl Server {
    /// Starts a server with the test credentials.
    pub fn start() -> Server {
        Server::start_with(|c| c)
    }

    pub fn start_with(adjust: impl FnOnce(cardledger_server::Config) -> cardledger_server::Config) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let creds = dir.path().join("credentials.jsonl");
        std::fs::File::create(&creds).unwrap().write_all(CREDENTIALS.as_bytes()).unwrap();
        let config =
            adjust(cardledger_server::Config::new(dir.path().join("data"), "127.0.0.1:0".into(), Some(creds), false));
        Server::start_config(dir, config)
    }

    /// A server over a ledger the test opened (and keeps a handle on).
    pub fn start_ledger(
        ledger: cardledger::Cardledger,
        adjust: impl FnOnce(cardledger_server::Config) -> cardledger_server::Config,
    ) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let creds = dir.path().join("credentials.jsonl");
        std::fs::File::create(&creds).unwrap().write_all(CREDENTIALS.as_bytes()).unwrap();
        let config = adjust(cardledger_server::Config::new(
            ledger.data_dir().to_path_buf(),
            "127.0.0.1:0".into(),
            Some(creds),
            false,
        ));
        let (addr_tx, addr_rx) = mpsc::channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
            rt.block_on(cardledger_server::serve_ledger(
                config,
                ledger,
                async move {
                    let _ = stop_rx.await;
                },
                move |addr| addr_tx.send(addr).unwrap(),
            ))
            .map_err(|e| e.to_string())
        });
        let addr = addr_rx.recv().expect("the server did not start");
        Server { base: format!("http://{addr}"), dir, stop: Some(stop_tx), thread: Some(thread) }
    }

    pub fn start_config(dir: tempfile::TempDir, config: cardledger_server::Config) -> Server {
        let (addr_tx, addr_rx) = mpsc::channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
            rt.block_on(cardledger_server::serve(
                config,
                async move {
                    let _ = stop_rx.await;
                },
                move |addr| addr_tx.send(addr).unwrap(),
            ))
            .map_err(|e| e.to_string())
        });
        let addr = addr_rx.recv().expect("the server did not start");
        Server { base: format!("http://{addr}"), dir, stop: Some(stop_tx), thread: Some(thread) }
    }

    pub fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Graceful shutdown; returns the server's result.
    pub fn stop(&mut self) -> Result<(), String> {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        self.thread.take().map(|t| t.join().unwrap()).unwrap_or(Ok(()))
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Ingests the seeded workload (5 days, 20 holders) as admin.
    pub fn seed(&self) -> Vec<Value> {
        let cfg = cardledger_workload::WorkloadConfig { days: 5, holders: 20, ..Default::default() };
        let body: String = cardledger_workload::generate(&cfg).map(|l| l + "\n").collect();
        let (status, text) =
            call_raw("POST", &self.url("/v3/commands"), Some("admin"), Some(&body), "application/x-ndjson");
        assert_eq!(status, 200, "{text}");
        let answers: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert!(answers.iter().all(|a| a.get("seq").is_some()), "every seeded line is recorded");
        answers
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

pub fn basic(user: &str) -> String {
    let pw = format!("{user}-pw");
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pw}")))
}

/// One request; any status comes back (4xx/5xx are answers, not errors).
pub fn call_raw(method: &str, url: &str, user: Option<&str>, body: Option<&str>, ct: &str) -> (u16, String) {
    let mut req = ureq::request(method, url);
    if let Some(u) = user {
        req = req.set("Authorization", &basic(u));
    }
    let res = match body {
        Some(b) => req.set("Content-Type", ct).send_string(b),
        None => req.call(),
    };
    let res = match res {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("{method} {url}: {e}"),
    };
    let status = res.status();
    (status, res.into_string().unwrap())
}

/// A JSON request as `user`; the status and the decoded body.
pub fn call(server: &Server, method: &str, path: &str, user: &str, body: Option<Value>) -> (u16, Value) {
    let text = body.map(|b| b.to_string());
    let (status, out) = call_raw(method, &server.url(path), Some(user), text.as_deref(), "application/json");
    let v = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{method} {path}: {status} not JSON ({e}): {out}"));
    (status, v)
}

/// Asserts an error answer's status and shape; returns its code.
pub fn assert_error(status: u16, v: &Value, expected: u16) -> String {
    assert_eq!(status, expected, "{v}");
    let code = v["error_code"].as_str().unwrap_or_else(|| panic!("error_code is a string: {v}"));
    assert!(v["error_message"].as_str().is_some_and(|m| !m.is_empty()), "{v}");
    code.to_string()
}
