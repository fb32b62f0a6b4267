//! The ledger's accounts: the trial balance (every account's balance per
//! program, from the `TrialBalance` projection, summing to exactly zero)
//! and one account's postings with their running balance (a scan of the
//! log up to the read position). Account names: `cardledger_trial_balance::account`.

use std::str::FromStr;

use serde_json::{json, Number, Value};

use cardledger_domain::limits::PAGE_COUNT_MAX;
use cardledger_domain::money::Money;
use cardledger_trial_balance::{account, postings_page, TrialBalance};

use crate::asof::AsOf;
use crate::{views, Cardledger, Code, Error, Rejection};

/// Postings a page holds by default.
const POSTINGS_COUNT_DEFAULT: usize = 100;

/// Cents as a JSON number with exactly two decimals (`-12.50`, `0.00`).
fn amount(cents: i64) -> Value {
    let text = Money::from_cents(cents).to_string_2dp();
    Number::from_str(&text).map(Value::Number).unwrap_or(Value::String(text))
}

/// The parameters of a postings query.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PostingsQuery {
    /// Rows per page, 1 to `PAGE_COUNT_MAX` (default 100).
    pub count: usize,
    /// Rows skipped (default 0).
    pub start_index: usize,
    /// Newest first (`sort_by=-createdTime`, the default) or oldest first
    /// (`createdTime`).
    pub descending: bool,
    /// Where in the log to read.
    pub as_of: AsOf,
}

impl PostingsQuery {
    /// From `key=value` pairs: `count`, `start_index`, `sort_by`
    /// (`createdTime`, `-createdTime`, `seq`, `-seq`), `as_of_seq`,
    /// `as_of_time`; anything else is refused naming it.
    pub fn parse(params: &[(String, String)]) -> Result<PostingsQuery, Error> {
        let mut pairs = params.to_vec();
        let as_of = AsOf::take_from(&mut pairs)?;
        let bad = |field: &str, what: String| Error::Rejected(Rejection::new(Code::InvalidValue, field, what));
        let mut q = PostingsQuery { count: POSTINGS_COUNT_DEFAULT, start_index: 0, descending: true, as_of };
        for (k, v) in &pairs {
            match k.as_str() {
                "count" => {
                    q.count = v
                        .parse()
                        .ok()
                        .filter(|c| (1..=PAGE_COUNT_MAX).contains(c))
                        .ok_or_else(|| bad("count", format!("must be 1 to {PAGE_COUNT_MAX}; got {v:?}")))?
                }
                "start_index" => {
                    q.start_index =
                        v.parse().map_err(|_| bad("start_index", format!("must be a whole number; got {v:?}")))?
                }
                "sort_by" => {
                    q.descending = match v.as_str() {
                        "createdTime" | "seq" => false,
                        "-createdTime" | "-seq" => true,
                        other => {
                            return Err(bad(
                                "sort_by",
                                format!("{other:?} is not one of createdTime, -createdTime, seq, -seq"),
                            ))
                        }
                    }
                }
                other => {
                    return Err(Error::Rejected(Rejection::new(
                        Code::UnknownField,
                        other,
                        format!("{other:?} is not a parameter of postings"),
                    )))
                }
            }
        }
        Ok(q)
    }
}

impl Cardledger {
    /// The trial balance as of a log position: every ledger account with
    /// its balance, one program's (`program`) or every program's, and the
    /// total, which is exactly `0.00` (anything else is
    /// [`Error::Imbalanced`], never an answer):
    /// `{"as_of_seq", "as_of_hash", "program", "accounts": [{"program",
    /// "account", "kind", "balance"}], "total"}`. An unknown program is not
    /// found.
    ///
    /// On a host owning several programs (head only): a program's from its
    /// shard; all programs' rows of every shard in program order, with
    /// `as_of_seq` the sum of the shards' seqs and `as_of_hash` a digest of
    /// their heads (as a view's source).
    pub fn trial_balance(&self, program: Option<&str>, as_of: AsOf) -> Result<Value, Error> {
        if let Some(r) = self.router_shards() {
            if !as_of.is_head() {
                self.not_routed("an as-of read")?;
            }
            if let Some(p) = program {
                return match r.iter().find(|s| s.program == p) {
                    Some(s) => s.ledger.trial_balance(program, as_of),
                    None => Err(Error::NotFound { what: format!("program {p:?}") }),
                };
            }
            let mut accounts = Vec::new();
            let mut seq = 0u64;
            let mut digest = blake3::Hasher::new();
            for s in r {
                let mut one = s.ledger.trial_balance(None, as_of)?;
                if let Some(Value::Array(rows)) = one.get_mut("accounts").map(Value::take) {
                    accounts.extend(rows);
                }
                let shard_seq = one.get("as_of_seq").and_then(Value::as_u64).unwrap_or(0);
                let hash = one.get("as_of_hash").and_then(Value::as_str).unwrap_or_default();
                digest.update(format!("{}:{}:{};", s.program, shard_seq, hash).as_bytes());
                seq = seq.saturating_add(shard_seq);
            }
            return Ok(json!({
                "as_of_seq": seq,
                "as_of_hash": digest.finalize().to_hex().to_string(),
                "program": program,
                "accounts": accounts,
                "total": amount(0),
            }));
        }
        let at = match as_of {
            AsOf::Head => None,
            as_of => Some(self.resolve(as_of)?.seq),
        };
        let (answer, seq) =
            views::with_state_at(&self.projections().trial, self.engine(), at, |t| trial_json(t, program))?;
        let at = self.at(seq)?;
        let (accounts, totals) = answer;
        if let Some(p) = program {
            // a program without postings yet has no rows but exists
            if accounts.is_empty() && !self.engine().state().programs.contains_key(p) {
                return Err(Error::NotFound { what: format!("program {p:?}") });
            }
        }
        for (p, total) in &totals {
            if *total != 0 {
                return Err(Error::Imbalanced { program: p.clone(), total: *total, seq: at.seq });
            }
        }
        Ok(json!({
            "as_of_seq": at.seq,
            "as_of_hash": at.hash,
            "program": program,
            "accounts": accounts,
            "total": amount(0),
        }))
    }

    /// One account's postings (account names: `program_bank:P`, `gpa:user:U`,
    /// … — `cardledger_trial_balance::account`), each with seq, time, event
    /// kind, token, amount and the account's running balance after it, as of
    /// a log position. Scans the log from seq 1 up to that position.
    pub fn postings(&self, account_name: &str, query: &PostingsQuery) -> Result<Value, Error> {
        self.not_routed("postings")?;
        account::check_name(account_name)
            .map_err(|m| Error::Rejected(Rejection::new(Code::InvalidValue, "account", m)))?;
        let at = self.resolve(query.as_of)?;
        let events = self
            .engine()
            .events_from(1)
            .map(|e| e.map(|e| e.rec))
            .take_while(|r| !matches!(r, Ok(rec) if rec.seq > at.seq));
        let page = postings_page(events, account_name, query.start_index, query.count, query.descending)?;
        let n = page.rows.len();
        let data: Vec<Value> = page
            .rows
            .iter()
            .map(|r| {
                json!({"seq": r.seq, "time": r.time.to_string(), "event": r.kind, "token": r.token,
                       "amount": amount(r.cents), "balance": amount(r.balance)})
            })
            .collect();
        Ok(json!({
            "as_of_seq": at.seq,
            "as_of_hash": at.hash,
            "account": account_name,
            "balance": amount(page.balance),
            "count": n,
            "start_index": query.start_index,
            "end_index": if n == 0 { query.start_index } else { query.start_index + n - 1 },
            "is_more": ((query.start_index + n) as u64) < page.total,
            "total": page.total,
            "data": data,
        }))
    }
}

/// The rows of a trial balance and each program's total (cents).
fn trial_json(t: &TrialBalance, program: Option<&str>) -> (Vec<Value>, Vec<(String, i128)>) {
    let accounts = t
        .rows(program)
        .map(|r| {
            json!({"program": r.program, "account": account::name(r.account), "kind": account::kind(r.account),
                   "balance": amount(r.cents)})
        })
        .collect();
    let programs: Vec<String> = match program {
        Some(p) => vec![p.to_string()],
        None => t.programs().map(String::from).collect(),
    };
    let mut totals: Vec<(String, i128)> = programs
        .into_iter()
        .map(|p| {
            let total = t.total(Some(&p));
            (p, total)
        })
        .collect();
    totals.push(("*".into(), t.total(program)));
    (accounts, totals)
}
