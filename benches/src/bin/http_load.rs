//! HTTP load: N concurrent keep-alive connections (default 64) post GPA
//! orders to an in-process `cardledger serve` on loopback for S seconds
//! (default 30), with an Argon2id credential (the server's cache makes a
//! repeat request cost one BLAKE3 hash). The client is one thread driving
//! every connection (raw HTTP/1.1 over tokio sockets), so most of the two
//! cores go to the server. Prints one JSON line: requests/s of durable
//! (201) orders, p50/p99/max latency, errors.
//!
//! `cargo run --release -p cardledger-benches --bin http_load -- [SECONDS] [CONNECTIONS]`
//!
//! Goal (issue 14): ≥ 25,000 durable orders/s with p99 ≤ 25 ms on the
//! 2-core machine.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;

// as `cardledger serve` runs (the CLI's allocator)
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

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

    // the client: one thread, a current-thread runtime, one task per
    // keep-alive connection writing raw HTTP/1.1 and reading the answer's
    // Content-Length bytes, so the client takes as little of the 2 cores as
    // a client can (a thread per connection costs as much as the server)
    let stop = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let cpu_start = cpu_seconds();
    let host = base.trim_start_matches("http://").to_string();
    let client = {
        let stop = stop.clone();
        std::thread::spawn(move || -> Result<(Vec<Duration>, u64), String> {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
            rt.block_on(async move {
                let tasks: Vec<_> = (0..connections)
                    .map(|c| tokio::spawn(connection(host.clone(), auth.clone(), c, stop.clone())))
                    .collect();
                let mut latencies = Vec::new();
                let mut errors = 0u64;
                for t in tasks {
                    let (l, e) = t.await.map_err(|e| e.to_string())??;
                    latencies.extend(l);
                    errors += e;
                }
                Ok((latencies, errors))
            })
        })
    };
    std::thread::sleep(Duration::from_secs(seconds));
    stop.store(true, Ordering::Relaxed);
    let (mut latencies, errors) = client.join().map_err(|_| "the client panicked")??;
    let elapsed = start.elapsed().as_secs_f64();
    // CPU time of the whole process (server and client) per durable order:
    // unlike orders/s it does not depend on what else the machine runs
    let cpu = cpu_seconds().zip(cpu_start).map(|(b, a)| b - a);
    let _ = stop_tx.send(());
    server.join().map_err(|_| "the server panicked")??;
    latencies.sort();
    let pct = |p: f64| {
        let i = ((latencies.len() as f64 * p).ceil() as usize).saturating_sub(1);
        latencies.get(i).map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    };
    println!(
        "{{\"connections\": {connections}, \"seconds\": {elapsed:.1}, \"durable_orders\": {}, \"orders_per_s\": {:.0}, \"p50_ms\": {:.2}, \"p99_ms\": {:.2}, \"max_ms\": {:.2}, \"errors\": {errors}, \"cpu_us_per_order\": {}}}",
        latencies.len(),
        latencies.len() as f64 / elapsed,
        pct(0.50),
        pct(0.99),
        pct(1.0),
        cpu.map_or("null".to_string(), |c| format!("{:.1}", c * 1e6 / latencies.len().max(1) as f64)),
    );
    Ok(())
}

/// User + system CPU seconds of this process so far (Linux `/proc`; `None`
/// elsewhere). Clock ticks are 1/100 s on Linux.
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // the fields after the command name (which may hold spaces) in parentheses
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

/// One keep-alive connection posting GPA orders until `stop`: latencies of
/// the 201 answers, and the count of other answers.
async fn connection(
    host: String,
    auth: String,
    c: usize,
    stop: Arc<AtomicBool>,
) -> Result<(Vec<Duration>, u64), String> {
    let stream = tokio::net::TcpStream::connect(&host).await.map_err(|e| e.to_string())?;
    stream.set_nodelay(true).map_err(|e| e.to_string())?;
    let mut latencies = Vec::new();
    let mut errors = 0u64;
    let mut buf = Vec::with_capacity(4096);
    let mut chunk = vec![0u8; 8192];
    let mut i = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let body = format!(
            "{{\"token\": \"g_{c}_{i}\", \"user_token\": \"u_{c}\", \"amount\": 1.25, \"currency_code\": \"USD\"}}"
        );
        i += 1;
        let req = format!(
            "POST /v3/gpaorders HTTP/1.1\r\nHost: {host}\r\nAuthorization: {auth}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        let t = Instant::now();
        match exchange(&stream, req.as_bytes(), &mut buf, &mut chunk).await.map_err(|e| e.to_string())? {
            201 => latencies.push(t.elapsed()),
            _ => errors += 1,
        }
    }
    Ok((latencies, errors))
}

/// Writes one request and reads one answer (status line, headers, then
/// Content-Length bytes); returns the status.
async fn exchange(
    stream: &tokio::net::TcpStream,
    req: &[u8],
    buf: &mut Vec<u8>,
    chunk: &mut [u8],
) -> std::io::Result<u16> {
    use std::io::{Error, ErrorKind};
    let mut off = 0;
    while let Some(rest) = req.get(off..).filter(|r| !r.is_empty()) {
        stream.writable().await?;
        match stream.try_write(rest) {
            Ok(n) => off += n,
            Err(e) if e.kind() == ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
    buf.clear();
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = std::str::from_utf8(buf.get(..end).unwrap_or_default())
                .map_err(|e| Error::new(ErrorKind::InvalidData, e))?;
            let status = head
                .get(9..12)
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| Error::new(ErrorKind::InvalidData, "status line"))?;
            let len: usize = head
                .lines()
                .find_map(|l| l.split_once(':').filter(|(k, _)| k.eq_ignore_ascii_case("content-length")))
                .and_then(|(_, v)| v.trim().parse().ok())
                .ok_or_else(|| Error::new(ErrorKind::InvalidData, "no Content-Length"))?;
            if buf.len() >= end + 4 + len {
                return Ok(status);
            }
        }
        stream.readable().await?;
        match stream.try_read(chunk) {
            Ok(0) => return Err(Error::new(ErrorKind::UnexpectedEof, "connection closed")),
            Ok(n) => buf.extend_from_slice(chunk.get(..n).unwrap_or_default()),
            Err(e) if e.kind() == ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
}
