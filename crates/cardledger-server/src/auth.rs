//! HTTP Basic authentication against a credentials file of JSON lines:
//!
//! ```text
//! {"username": "ops", "password_hash": "$argon2id$v=19$…", "programs": "*"}
//! {"username": "acme", "password_hash": "$argon2id$v=19$…", "program": "acme_program"}
//! {"username": "test", "password": "in clear, for tests", "programs": ["p1", "p2"]}
//! ```
//!
//! Argon2 is slow by design (tens of milliseconds), so a verified
//! (username, password) pair is remembered as the BLAKE3 digest of the
//! password: a repeat request costs one hash, not one Argon2 run. A wrong
//! password is never cached and always re-verified. Argon2 runs off the
//! async workers (the server calls [`Credentials::authenticate`] on the
//! blocking pool only when [`Credentials::check`] says it must), and one
//! credential is verified by one request at a time: the 64 connections a
//! client opens at once wait for the first verification and then hit the
//! cache, instead of running 64 Argon2 verifications side by side.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::sync::Mutex;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use base64::Engine as _;
use serde_json::Value;

/// The programs a principal may act in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Programs {
    /// Every program (`"programs": "*"`, or `--no-auth`).
    All,
    /// Only these.
    Only(BTreeSet<String>),
}

/// Who is asking, once authenticated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    /// The username (empty under `--no-auth`).
    pub username: String,
    /// Where it may act.
    pub programs: Programs,
}

impl Principal {
    /// The principal of a `--no-auth` server: every program.
    pub fn anyone() -> Principal {
        Principal { username: String::new(), programs: Programs::All }
    }

    /// True when it may act in `program`.
    pub fn may(&self, program: &str) -> bool {
        match &self.programs {
            Programs::All => true,
            Programs::Only(set) => set.contains(program),
        }
    }

    /// Its one program, when it is bound to exactly one (it then acts in it
    /// when a request names none, as a Marqeta application token does).
    pub fn sole_program(&self) -> Option<&str> {
        match &self.programs {
            Programs::Only(set) if set.len() == 1 => set.iter().next().map(String::as_str),
            _ => None,
        }
    }
}

enum Secret {
    Phc(String),
    Clear(String),
}

struct Credential {
    secret: Secret,
    programs: Programs,
    /// Held while this credential's password is verified with Argon2.
    verifying: Mutex<()>,
}

/// What [`Credentials::check`] can tell without running Argon2.
#[derive(Debug)]
pub enum Check {
    /// The answer: a principal, or `None` (absent, malformed or wrong).
    Known(Option<Principal>),
    /// A password hash must be verified first: call
    /// [`Credentials::authenticate`] where blocking is allowed.
    NeedsArgon2,
}

/// A credentials file is unusable; the message names the line and field.
#[derive(Debug, thiserror::Error)]
#[error("credentials file {path}: {message}")]
pub struct CredentialsError {
    path: String,
    message: String,
}

/// The loaded credentials and the cache of verified passwords.
pub struct Credentials {
    users: HashMap<String, Credential>,
    verified: Mutex<HashMap<String, blake3::Hash>>,
}

impl Credentials {
    /// Reads a credentials file (JSON lines; blank lines skipped).
    pub fn load(path: &Path) -> Result<Credentials, CredentialsError> {
        let err = |message: String| CredentialsError { path: path.display().to_string(), message };
        let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
        Credentials::parse(&text).map_err(err)
    }

    /// Parses the file's text.
    pub fn parse(text: &str) -> Result<Credentials, String> {
        let mut users = HashMap::new();
        for (i, line) in text.lines().enumerate() {
            let n = i + 1;
            if line.trim().is_empty() {
                continue;
            }
            let v: Value = serde_json::from_str(line).map_err(|e| format!("line {n}: malformed JSON: {e}"))?;
            let Value::Object(o) = v else { return Err(format!("line {n}: not a JSON object")) };
            for k in o.keys() {
                if !["username", "password_hash", "password", "program", "programs"].contains(&k.as_str()) {
                    return Err(format!("line {n}: unknown field {k:?}"));
                }
            }
            let text = |f: &str| o.get(f).map(|v| v.as_str().ok_or(format!("line {n}: {f}: must be a string")));
            let username = text("username").ok_or(format!("line {n}: username: is required"))??.to_string();
            let secret = match (text("password_hash"), text("password")) {
                (Some(h), None) => {
                    let h = h?;
                    PasswordHash::new(h).map_err(|e| format!("line {n}: password_hash: not a PHC string: {e}"))?;
                    Secret::Phc(h.to_string())
                }
                (None, Some(p)) => Secret::Clear(p?.to_string()),
                _ => return Err(format!("line {n}: exactly one of password_hash, password is required")),
            };
            let programs = match (o.get("program"), o.get("programs")) {
                (Some(Value::String(p)), None) => Programs::Only(BTreeSet::from([p.clone()])),
                (None, Some(Value::String(s))) if s == "*" => Programs::All,
                (None, Some(Value::Array(list))) if !list.is_empty() => {
                    let mut set = BTreeSet::new();
                    for p in list {
                        let p = p.as_str().ok_or(format!("line {n}: programs: must hold strings"))?;
                        set.insert(p.to_string());
                    }
                    Programs::Only(set)
                }
                _ => {
                    return Err(format!(
                    "line {n}: exactly one of program (a string) or programs (\"*\" or a non-empty list) is required"
                ))
                }
            };
            if users.insert(username.clone(), Credential { secret, programs, verifying: Mutex::new(()) }).is_some() {
                return Err(format!("line {n}: username {username:?} appears twice"));
            }
        }
        Ok(Credentials { users, verified: Mutex::new(HashMap::new()) })
    }

    /// The answer for an `Authorization` header value when it needs no
    /// Argon2 run (no header, malformed, unknown user, a clear-text
    /// password, or a password verified before); otherwise `NeedsArgon2`.
    pub fn check(&self, header: Option<&str>) -> Check {
        let Some((username, password)) = basic(header) else { return Check::Known(None) };
        let Some(cred) = self.users.get(&username) else { return Check::Known(None) };
        match &cred.secret {
            Secret::Clear(p) => Check::Known((p.as_bytes() == password.as_bytes()).then(|| principal(&username, cred))),
            Secret::Phc(_) if self.is_cached(&username, &password) => Check::Known(Some(principal(&username, cred))),
            Secret::Phc(_) => Check::NeedsArgon2,
        }
    }

    /// The principal of an `Authorization` header value, or `None` when it
    /// is absent, malformed or wrong. Blocks for an Argon2 run when the
    /// password was not verified before (one at a time per credential).
    pub fn authenticate(&self, header: Option<&str>) -> Option<Principal> {
        if let Check::Known(p) = self.check(header) {
            return p;
        }
        let (username, password) = basic(header)?;
        let cred = self.users.get(&username)?;
        let Secret::Phc(phc) = &cred.secret else { unreachable!("check answers a clear-text password itself") };
        // a poisoned lock only means another verification panicked: the
        // guard protects no data
        let _one_at_a_time = cred.verifying.lock().unwrap_or_else(|e| e.into_inner());
        if self.is_cached(&username, &password) {
            return Some(principal(&username, cred));
        }
        let hash = PasswordHash::new(phc).ok()?;
        Argon2::default().verify_password(password.as_bytes(), &hash).ok()?;
        if let Ok(mut m) = self.verified.lock() {
            m.insert(username.clone(), blake3::hash(password.as_bytes()));
        }
        Some(principal(&username, cred))
    }

    fn is_cached(&self, username: &str, password: &str) -> bool {
        let digest = blake3::hash(password.as_bytes());
        self.verified.lock().ok().and_then(|m| m.get(username).copied()) == Some(digest)
    }
}

/// The (username, password) of a `Basic` header value.
fn basic(header: Option<&str>) -> Option<(String, String)> {
    let encoded = header?.strip_prefix("Basic ")?.trim();
    let decoded = base64::engine::general_purpose::STANDARD.decode(encoded).ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (username, password) = decoded.split_once(':')?;
    Some((username.to_string(), password.to_string()))
}

fn principal(username: &str, cred: &Credential) -> Principal {
    Principal { username: username.to_string(), programs: cred.programs.clone() }
}

/// An Argon2id PHC string for `password` (`cardledger credentials hash`).
pub fn hash_password(password: &str) -> Result<String, String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default().hash_password(password.as_bytes(), &salt).map(|h| h.to_string()).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashed_clear_and_wrong() {
        let phc = hash_password("s3cret").unwrap();
        assert!(phc.starts_with("$argon2id$"));
        let file = format!(
            "{{\"username\":\"a\",\"password_hash\":\"{phc}\",\"program\":\"p1\"}}\n\n{{\"username\":\"b\",\"password\":\"pw\",\"programs\":\"*\"}}\n"
        );
        let c = Credentials::parse(&file).unwrap();
        let basic = |u: &str, p: &str| {
            format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}")))
        };
        let a = c.authenticate(Some(&basic("a", "s3cret"))).unwrap();
        assert_eq!(a.sole_program(), Some("p1"));
        assert!(c.authenticate(Some(&basic("a", "s3cret"))).is_some(), "cached");
        assert!(c.authenticate(Some(&basic("a", "wrong"))).is_none());
        assert_eq!(c.authenticate(Some(&basic("b", "pw"))).unwrap().programs, Programs::All);
        assert!(c.authenticate(Some(&basic("b", "pwx"))).is_none());
        assert!(c.authenticate(Some("Bearer x")).is_none());
        assert!(c.authenticate(None).is_none());
        assert!(Credentials::parse("{\"username\":\"x\",\"password\":\"y\"}").err().unwrap().contains("line 1"));
    }

    /// `check` answers without Argon2 exactly when it can; concurrent first
    /// requests of one credential all succeed (one verifies, the rest wait
    /// and find it cached); a wrong password is never cached.
    #[test]
    fn check_needs_argon2_only_until_verified_and_concurrent_firsts_agree() {
        let phc = hash_password("s3cret").unwrap();
        let file = format!(
            "{{\"username\":\"a\",\"password_hash\":\"{phc}\",\"program\":\"p1\"}}\n{{\"username\":\"b\",\"password\":\"pw\",\"programs\":\"*\"}}\n"
        );
        let c = Credentials::parse(&file).unwrap();
        let basic = |u: &str, p: &str| {
            format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}")))
        };
        let good = basic("a", "s3cret");
        assert!(matches!(c.check(Some(&good)), Check::NeedsArgon2));
        assert!(matches!(c.check(Some(&basic("b", "pw"))), Check::Known(Some(_))));
        assert!(matches!(c.check(Some(&basic("b", "no"))), Check::Known(None)));
        assert!(matches!(c.check(Some(&basic("nobody", "x"))), Check::Known(None)));
        assert!(matches!(c.check(Some("Basic !!!")), Check::Known(None)));
        assert!(matches!(c.check(None), Check::Known(None)));
        let answers: Vec<Option<Principal>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8).map(|_| s.spawn(|| c.authenticate(Some(&good)))).collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert!(answers.iter().all(|p| p.as_ref().and_then(|p| p.sole_program()) == Some("p1")), "{answers:?}");
        assert!(matches!(c.check(Some(&good)), Check::Known(Some(_))), "verified once, then cached");
        assert!(c.authenticate(Some(&basic("a", "wrong"))).is_none());
        assert!(matches!(c.check(Some(&basic("a", "wrong"))), Check::NeedsArgon2), "a wrong password is not cached");
    }
}
