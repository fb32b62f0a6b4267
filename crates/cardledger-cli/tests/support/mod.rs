//! Helpers shared by the CLI's tests (crash, corruption, exhaustion, serve,
//! jetstream_programs): a seeded RNG, env-var knobs, driving the
//! `cardledger` binary, and a `cardledger serve` child.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

use std::path::Path;
use std::process::{Command, Output, Stdio};

/// The binary under test.
pub fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_cardledger"))
}

/// `cardledger --data DATA ARGS...`, stdout and stderr captured.
pub fn run(data: &Path, args: &[&str]) -> Output {
    run_input(data, args, None)
}

/// [`run`] with `stdin` written to the child's standard input (none: an
/// empty one).
pub fn run_input(data: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    use std::io::Write;
    let mut cmd = bin();
    cmd.arg("--data").arg(data).args(args).stdout(Stdio::piped()).stderr(Stdio::piped());
    cmd.stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() });
    let mut child = cmd.spawn().expect("spawn cardledger");
    if let Some(input) = stdin {
        child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    }
    child.wait_with_output().unwrap()
}

/// Standard output read as JSON lines.
pub fn json_lines(out: &Output) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

/// Like [`run`], but kills the child and fails the test after `limit`.
pub fn run_with_limit(data: &Path, args: &[&str], limit: std::time::Duration) -> Output {
    let mut child = bin()
        .arg("--data")
        .arg(data)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn cardledger");
    let (mut out, mut err) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    let out_t = std::thread::spawn(move || {
        let mut v = Vec::new();
        std::io::Read::read_to_end(&mut out, &mut v).unwrap();
        v
    });
    let err_t = std::thread::spawn(move || {
        let mut v = Vec::new();
        std::io::Read::read_to_end(&mut err, &mut v).unwrap();
        v
    });
    let started = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("cardledger {args:?} hung for {limit:?}");
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let status = child.wait().unwrap();
    Output { status, stdout: out_t.join().unwrap(), stderr: err_t.join().unwrap() }
}

/// A number from the environment, or `default`.
pub fn env_u64(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(v) => v.trim().parse().unwrap_or_else(|_| panic!("{name}={v:?} is not a number")),
        Err(_) => default,
    }
}

/// The run's seed: `CARDLEDGER_SEED` if set, else the clock; always printed
/// so a failure can be replayed.
pub fn seed(test: &str) -> u64 {
    let seed = env_u64(
        "CARDLEDGER_SEED",
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(1),
    );
    eprintln!("{test}: seed {seed} (replay with CARDLEDGER_SEED={seed})");
    seed
}

/// SplitMix64: small, seeded, good enough to pick kill instants and bytes.
pub struct Rng(pub u64);

impl Rng {
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..hi` (`lo` when the range is empty).
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        if hi <= lo {
            lo
        } else {
            lo + self.next_u64() % (hi - lo)
        }
    }
}

/// Peak resident set (VmHWM) of a live process, in KiB, from /proc.
pub fn vm_hwm_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Copies a directory tree (the sled data directory) to `to`.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).unwrap();
        }
    }
}

/// A `cardledger --data DATA [BEFORE…] serve --addr 127.0.0.1:0 --no-auth`
/// child that has printed its `listening on` line.
pub struct Served {
    pub child: std::process::Child,
    /// The rest of its stdout (after the line).
    pub stdout: std::io::BufReader<std::process::ChildStdout>,
    /// `HOST:PORT` from the line.
    pub addr: String,
}

/// Starts `cardledger serve` (global options `before`, e.g. `--log …`) and
/// waits for its one `listening on http://HOST:PORT` line.
pub fn serve(data: &Path, before: &[&str]) -> Served {
    use std::io::BufRead;
    let mut child = bin()
        .arg("--data")
        .arg(data)
        .args(before)
        .args(["serve", "--addr", "127.0.0.1:0", "--no-auth"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn cardledger serve");
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    let addr = line.trim_end().strip_prefix("listening on http://").unwrap_or_else(|| panic!("{line:?}")).to_string();
    Served { child, stdout, addr }
}

impl Served {
    /// Sends SIGTERM and waits: the exit status and what it printed after
    /// the line.
    pub fn stop(mut self) -> (std::process::ExitStatus, String) {
        use std::io::Read;
        let kill = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().unwrap();
        assert!(kill.success());
        let exit = self.child.wait().unwrap();
        let mut rest = String::new();
        self.stdout.read_to_string(&mut rest).unwrap();
        (exit, rest)
    }
}
