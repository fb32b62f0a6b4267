//! HTTP load: N concurrent keep-alive connections (default 64) post GPA
//! orders to an in-process `cardledger serve` on loopback for S seconds
//! (default 30), with an Argon2id credential (the server's cache makes a
//! repeat request cost one BLAKE3 hash). Prints one JSON line: requests/s
//! of durable (201) orders, p50/p99/max latency, errors.
//!
//! `cargo run --release -p cardledger-benches --bin http_load -- [SECONDS] [CONNECTIONS]`
//!
//! Goal (issue 14): ≥ 25,000 durable orders/s with p99 ≤ 25 ms on the
//! 2-core machine.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let seconds: u64 = args.next().map(|a| a.parse()).transpose()?.unwrap_or(30);
    let connections: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(64);

    let dir = tempfile::tempdir()?;
    let creds = dir.path().join("credentials.jsonl");
    let phc = cardledger_server::auth::hash_password("load-pw")?;
    std::fs::write(&creds, format!("{{\"username\": \"load\", \"password_hash\": \"{phc}\", \"programs\": \"*\"}}\n"))?;
    let config = cardledger_server::Config::new(dir.path().join("data"), "127.0.0.1:0".into(), Some(creds), false);
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = std::thread::spawn(move || -> Result<(), String> {
        let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(|e| e.to_string())?;
        rt.block_on(cardledger_server::serve(
            config,
            async move {
                let _ = stop_rx.await;
            },
            move |a| {
                let _ = addr_tx.send(a);
            },
        ))
        .map_err(|e| e.to_string())
    });
    let base = format!("http://{}", addr_rx.recv()?);
    let auth = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode("load:load-pw"));

    // set-up: a program, its funding source, one user per connection
    let mut setup = String::from(
        "{\"program\": {\"token\": \"p_load\", \"bank\": \"B\", \"currency_code\": \"USD\"}}\n\
         {\"funding_source\": {\"token\": \"fs_load\", \"program_token\": \"p_load\", \"type\": \"program\", \"is_default_account\": true}}\n",
    );
    for c in 0..connections {
        setup.push_str(&format!("{{\"user\": {{\"token\": \"u_{c}\", \"program_token\": \"p_load\"}}}}\n"));
    }
    let answer = ureq::post(&format!("{base}/v3/commands"))
        .set("Authorization", &auth)
        .set("Content-Type", "application/x-ndjson")
        .send_string(&setup)?
        .into_string()?;
    if answer.contains("error_code") {
        return Err(format!("set-up rejected: {answer}").into());
    }

    let stop = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let workers: Vec<_> = (0..connections)
        .map(|c| {
            let (base, auth, stop) = (base.clone(), auth.clone(), stop.clone());
            std::thread::spawn(move || {
                let agent = ureq::AgentBuilder::new().max_idle_connections_per_host(1).build();
                let url = format!("{base}/v3/gpaorders");
                let mut latencies = Vec::new();
                let mut errors = 0u64;
                let mut i = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let body = format!(
                        "{{\"token\": \"g_{c}_{i}\", \"user_token\": \"u_{c}\", \"amount\": 1.25, \"currency_code\": \"USD\"}}"
                    );
                    i += 1;
                    let t = Instant::now();
                    match agent.post(&url).set("Authorization", &auth).set("Content-Type", "application/json").send_string(&body) {
                        Ok(r) if r.status() == 201 => {
                            let _ = r.into_string();
                            latencies.push(t.elapsed());
                        }
                        _ => errors += 1,
                    }
                }
                (latencies, errors)
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs(seconds));
    stop.store(true, Ordering::Relaxed);
    let mut latencies = Vec::new();
    let mut errors = 0;
    for w in workers {
        let (l, e) = w.join().map_err(|_| "a worker panicked")?;
        latencies.extend(l);
        errors += e;
    }
    let elapsed = start.elapsed().as_secs_f64();
    let _ = stop_tx.send(());
    server.join().map_err(|_| "the server panicked")??;
    latencies.sort();
    let pct = |p: f64| {
        let i = ((latencies.len() as f64 * p).ceil() as usize).saturating_sub(1);
        latencies.get(i).map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    };
    println!(
        "{{\"connections\": {connections}, \"seconds\": {elapsed:.1}, \"durable_orders\": {}, \"orders_per_s\": {:.0}, \"p50_ms\": {:.2}, \"p99_ms\": {:.2}, \"max_ms\": {:.2}, \"errors\": {errors}}}",
        latencies.len(),
        latencies.len() as f64 / elapsed,
        pct(0.50),
        pct(0.99),
        pct(1.0)
    );
    Ok(())
}
