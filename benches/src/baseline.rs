//! The SQLite baseline: the ledger a user who picked SQLite would write, to
//! compare the engine against.
//!
//! `rusqlite` with the bundled SQLite, WAL, `synchronous=FULL`, prepared
//! (cached) statements and one transaction per batch. For each accepted
//! command it inserts the event row, upserts the affected holder balance
//! rows and upserts the program's daily aggregate row (keyed by the day in
//! the program's reporting time zone, as the engine's views are; SQLite has
//! no zone database, so that day is computed in Rust); program balances,
//! reserve and activity views are answered by SQL (window functions over the
//! daily rows).
//!
//! It is "the same job" as the engine, not a second rules engine: commands
//! are validated by the domain's own `Ledger::decide_owned` (same rejections, same
//! idempotency answers, same events) and the in-memory `Ledger` is folded
//! with `apply` exactly as the engine does. What differs is storage and
//! views: SQLite rows instead of the hash-chained log and projections.
//!
//! All money is stored as INTEGER cents (exact); the only rounding is in the
//! reserve view, named there.

use std::collections::HashMap;
use std::path::Path;

use cardledger_core::engine::Ack;
use cardledger_domain::command::{CommandLine, Holder};
use cardledger_domain::event::{bank_flow, postings, Account, Event, Recorded};
use cardledger_domain::money::Money;
use cardledger_domain::state::{Decision, Ledger};
use cardledger_domain::time::{Date, Timestamp};
use cardledger_domain::zone::{self, Tz};
use cardledger_domain::{decode_fact, encode_fact};
use rusqlite::{params, Connection, OptionalExtension, Transaction};

/// A failure of the baseline itself (never of a command: those are
/// rejections in the [`Ack`]s).
#[derive(Debug, thiserror::Error)]
pub enum BaselineError {
    /// SQLite failed.
    #[error("sqlite: {0}")]
    Sql(#[from] rusqlite::Error),
    /// A stored event does not decode.
    #[error("corrupt event at seq {seq}: {reason}")]
    Corrupt {
        /// The bad sequence number.
        seq: u64,
        /// Why.
        reason: String,
    },
    /// A previous commit failed: the in-memory state may be ahead of the
    /// database. Reopen it.
    #[error("the baseline stopped after a failed commit; reopen it")]
    Poisoned,
}

/// The SQLite ledger. One connection; not shared between threads (wrap it
/// in a `Mutex` to serve many submitters, as the concurrent benchmark does).
pub struct Baseline {
    conn: Connection,
    ledger: Ledger,
    zones: Zones,
    poisoned: bool,
}

/// One row of the program balances view (aggregation `day`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProgramBalanceRow {
    /// The day (`corrected_post_date`, or the day in the program's
    /// reporting time zone).
    pub day: Date,
    /// Loads funded by program funding sources (negative).
    pub partner_funds_loads: Money,
    /// Unloads back to program funding sources (positive).
    pub partner_funds_unloads: Money,
    /// Adjustments of a non-JIT program's GPAs against its bank.
    pub partner_funds_adjustments: Money,
    /// Just-in-time loads (negative).
    pub jit_loads: Money,
    /// Just-in-time unloads (positive).
    pub jit_unloads: Money,
    /// Adjustments of a JIT program's GPAs against its bank.
    pub jit_adjustments: Money,
    /// The six columns above summed.
    pub amount_to_send: Money,
    /// Deposits into the program bank.
    pub deposit: Money,
    /// Ending of the day before (the opening balance on the first day).
    pub beginning_bank_balance: Money,
    /// Beginning + amount_to_send + deposit.
    pub ending_bank_balance: Money,
}

/// One row of the reserve view.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReserveRow {
    /// The day.
    pub day: Date,
    /// Flows of the day (see [`ProgramBalanceRow::amount_to_send`]).
    pub amount_to_send: Money,
    /// Program bank balance at the end of the day.
    pub ending_bank_balance: Money,
    /// The policy's minimum.
    pub reserve_minimum_amount: Money,
    /// round(S / window_days), S = outflows over the window ending today.
    pub reserve_avg_week_amount: Money,
    /// round(days × S / window_days), rounded once from the exact sum.
    pub reserve_days_amount: Money,
    /// max(minimum, days amount).
    pub reserve_requirement_amount: Money,
    /// max(0, requirement − ending bank balance).
    pub reserve_owed_amount: Money,
}

/// One row of the activity balances view (aggregation `day`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ActivityRow {
    /// The day.
    pub day: Date,
    /// Sum of the program's holders' GPA and MSA ledger balances at the
    /// start of the day.
    pub starting_balance: Money,
    /// Money into those balances during the day.
    pub credits: Money,
    /// Money out of those balances during the day (positive).
    pub debits: Money,
    /// starting + credits − debits.
    pub ending_balance: Money,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY,
    time_micros INTEGER NOT NULL,
    kind TEXT NOT NULL,
    payload BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS programs (
    token TEXT PRIMARY KEY,
    opening_cents INTEGER NOT NULL,
    timezone TEXT NOT NULL,
    reserve_days INTEGER,
    reserve_minimum_cents INTEGER,
    reserve_window_days INTEGER
);
CREATE TABLE IF NOT EXISTS holder_balances (
    kind TEXT NOT NULL,
    holder TEXT NOT NULL,
    campaign TEXT NOT NULL,
    cents INTEGER NOT NULL,
    PRIMARY KEY (kind, holder, campaign)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS program_daily (
    program TEXT NOT NULL,
    day INTEGER NOT NULL,
    partner_loads INTEGER NOT NULL DEFAULT 0,
    partner_unloads INTEGER NOT NULL DEFAULT 0,
    partner_adjustments INTEGER NOT NULL DEFAULT 0,
    jit_loads INTEGER NOT NULL DEFAULT 0,
    jit_unloads INTEGER NOT NULL DEFAULT 0,
    jit_adjustments INTEGER NOT NULL DEFAULT 0,
    deposit INTEGER NOT NULL DEFAULT 0,
    holder_credits INTEGER NOT NULL DEFAULT 0,
    holder_debits INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (program, day)
) WITHOUT ROWID;
";

const INSERT_EVENT: &str = "INSERT INTO events (seq, time_micros, kind, payload) VALUES (?1, ?2, ?3, ?4)";

const UPSERT_BALANCE: &str = "INSERT INTO holder_balances (kind, holder, campaign, cents) VALUES (?1, ?2, ?3, ?4)
     ON CONFLICT (kind, holder, campaign) DO UPDATE SET cents = cents + excluded.cents";

const UPSERT_DAILY: &str = "INSERT INTO program_daily (program, day, partner_loads, partner_unloads,
        partner_adjustments, jit_loads, jit_unloads, jit_adjustments, deposit, holder_credits, holder_debits)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
     ON CONFLICT (program, day) DO UPDATE SET
        partner_loads = partner_loads + excluded.partner_loads,
        partner_unloads = partner_unloads + excluded.partner_unloads,
        partner_adjustments = partner_adjustments + excluded.partner_adjustments,
        jit_loads = jit_loads + excluded.jit_loads,
        jit_unloads = jit_unloads + excluded.jit_unloads,
        jit_adjustments = jit_adjustments + excluded.jit_adjustments,
        deposit = deposit + excluded.deposit,
        holder_credits = holder_credits + excluded.holder_credits,
        holder_debits = holder_debits + excluded.holder_debits";

const UPSERT_PROGRAM: &str = "INSERT INTO programs (token, opening_cents, timezone, reserve_days,
        reserve_minimum_cents, reserve_window_days) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
     ON CONFLICT (token) DO NOTHING";

/// Every day of the program from its first daily row to `?3`, quiet days
/// included, with the day's flows and the running bank balance: ending =
/// opening + window SUM of (amount_to_send + deposit) over all earlier days.
const DAILY_FLOWS_CTE: &str = "
WITH RECURSIVE days(day) AS (
    SELECT MIN(day) FROM program_daily WHERE program = ?1
    UNION ALL SELECT day + 1 FROM days WHERE day < ?3
),
flows AS (
    SELECT d.day AS day,
        COALESCE(p.partner_loads, 0) AS partner_loads,
        COALESCE(p.partner_unloads, 0) AS partner_unloads,
        COALESCE(p.partner_adjustments, 0) AS partner_adjustments,
        COALESCE(p.jit_loads, 0) AS jit_loads,
        COALESCE(p.jit_unloads, 0) AS jit_unloads,
        COALESCE(p.jit_adjustments, 0) AS jit_adjustments,
        COALESCE(p.partner_loads + p.partner_unloads + p.partner_adjustments
                 + p.jit_loads + p.jit_unloads + p.jit_adjustments, 0) AS amount_to_send,
        COALESCE(p.deposit, 0) AS deposit,
        COALESCE(p.holder_credits, 0) AS credits,
        COALESCE(p.holder_debits, 0) AS debits
    FROM days d LEFT JOIN program_daily p ON p.program = ?1 AND p.day = d.day
    WHERE d.day IS NOT NULL
),
running AS (
    SELECT flows.*,
        (SELECT opening_cents FROM programs WHERE token = ?1)
            + SUM(amount_to_send + deposit) OVER (ORDER BY day ROWS UNBOUNDED PRECEDING) AS ending,
        SUM(credits - debits) OVER (ORDER BY day ROWS UNBOUNDED PRECEDING) AS activity_ending,
        SUM(MAX(0, -amount_to_send)) OVER (ORDER BY day ROWS BETWEEN ?4 PRECEDING AND CURRENT ROW) AS outflow_sum
    FROM flows
)
";

/// Which daily column a program-bank posting belongs to.
#[derive(Clone, Copy)]
enum Column {
    PartnerLoads,
    PartnerUnloads,
    PartnerAdjustments,
    JitLoads,
    JitUnloads,
    JitAdjustments,
    Deposit,
}

/// The cents an event adds to one program's daily row.
#[derive(Clone, Copy, Default)]
struct Delta {
    partner_loads: i64,
    partner_unloads: i64,
    partner_adjustments: i64,
    jit_loads: i64,
    jit_unloads: i64,
    jit_adjustments: i64,
    deposit: i64,
    credits: i64,
    debits: i64,
}

impl Delta {
    fn add(&mut self, c: Column, cents: i64) {
        let slot = match c {
            Column::PartnerLoads => &mut self.partner_loads,
            Column::PartnerUnloads => &mut self.partner_unloads,
            Column::PartnerAdjustments => &mut self.partner_adjustments,
            Column::JitLoads => &mut self.jit_loads,
            Column::JitUnloads => &mut self.jit_unloads,
            Column::JitAdjustments => &mut self.jit_adjustments,
            Column::Deposit => &mut self.deposit,
        };
        *slot = slot.saturating_add(cents);
    }
}

impl Baseline {
    /// Opens (or creates) the database file `path`, sets WAL and
    /// `synchronous=FULL`, creates the schema and rebuilds the in-memory
    /// decision state by replaying the event rows.
    pub fn open(path: &Path) -> Result<Baseline, BaselineError> {
        let conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.execute_batch(SCHEMA)?;
        let mut ledger = Ledger::default();
        {
            let mut stmt = conn.prepare("SELECT seq, time_micros, payload FROM events ORDER BY seq")?;
            let mut rows = stmt.query([])?;
            while let Some(row) = rows.next()? {
                let seq: i64 = row.get(0)?;
                let seq = u64::try_from(seq).unwrap_or(0);
                let payload: Vec<u8> = row.get(2)?;
                let fact = decode_fact(&payload).map_err(|reason| BaselineError::Corrupt { seq, reason })?;
                ledger.apply(&Recorded { seq, time: Timestamp(row.get(1)?), fact });
            }
        }
        Ok(Baseline { conn, ledger, zones: Zones::default(), poisoned: false })
    }

    /// The in-memory decision state (the same `Ledger` the engine keeps).
    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    /// Decides and records a batch in one transaction, committed (and so
    /// fsynced, `synchronous=FULL`) before this returns. Commands without
    /// `time` are stamped with the host clock now.
    pub fn submit_batch(&mut self, lines: &[CommandLine]) -> Result<Vec<Ack>, BaselineError> {
        if self.poisoned {
            return Err(BaselineError::Poisoned);
        }
        let now = Timestamp::now();
        let mut acks = Vec::with_capacity(lines.len());
        let tx = self.conn.transaction()?;
        let result =
            record_batch(&tx, &mut self.ledger, &mut self.zones, lines, now, &mut acks).and_then(|()| Ok(tx.commit()?));
        if let Err(e) = result {
            // earlier commands of the batch are applied in memory but not stored
            self.poisoned = true;
            return Err(e);
        }
        Ok(acks)
    }

    /// Rebuilds every derived table (programs, holder balances, daily rows)
    /// from the event rows, in one transaction: the SQLite counterpart of
    /// replaying the log through the engine's projections. Each event row is
    /// read in seq order, decoded, and written as when it was recorded (a
    /// fresh decision state is folded alongside: the holder → program map
    /// and the JIT flag the rows depend on). Returns the events replayed.
    pub fn rebuild_derived(&mut self) -> Result<u64, BaselineError> {
        if self.poisoned {
            return Err(BaselineError::Poisoned);
        }
        let tx = self.conn.transaction()?;
        tx.execute_batch("DELETE FROM program_daily; DELETE FROM holder_balances; DELETE FROM programs;")?;
        let mut ledger = Ledger::default();
        let mut zones = Zones::default();
        let mut n = 0u64;
        {
            let mut derived = Derived::new(&tx)?;
            let mut stmt = tx.prepare("SELECT seq, time_micros, payload FROM events ORDER BY seq")?;
            let mut rows = stmt.query([])?;
            while let Some(row) = rows.next()? {
                let seq = u64::try_from(row.get::<_, i64>(0)?).unwrap_or(0);
                let payload: Vec<u8> = row.get(2)?;
                let fact = decode_fact(&payload).map_err(|reason| BaselineError::Corrupt { seq, reason })?;
                let rec = Recorded { seq, time: Timestamp(row.get(1)?), fact };
                derived.write(&tx, &ledger, &mut zones, &rec)?;
                ledger.apply(&rec);
                n += 1;
            }
        }
        tx.commit()?;
        self.zones = zones;
        Ok(n)
    }

    /// Every holder balance row (GPA, MSA, MSA credit, credit account),
    /// as the engine's accounts.
    pub fn holder_balances(&self) -> Result<Vec<(Account, Money)>, BaselineError> {
        let mut stmt = self.conn.prepare("SELECT kind, holder, campaign, cents FROM holder_balances")?;
        let mut rows = stmt.query([])?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            let kind: String = row.get(0)?;
            let holder: String = row.get(1)?;
            let campaign: String = row.get(2)?;
            let cents: i64 = row.get(3)?;
            let account = match kind.as_str() {
                "gpa_user" => Account::Gpa(Holder::User(holder.into())),
                "gpa_business" => Account::Gpa(Holder::Business(holder.into())),
                "msa_user" => Account::Msa(Holder::User(holder.into()), campaign.into()),
                "msa_business" => Account::Msa(Holder::Business(holder.into()), campaign.into()),
                "msacredit_user" => Account::MsaCredit(Holder::User(holder.into()), campaign.into()),
                "msacredit_business" => Account::MsaCredit(Holder::Business(holder.into()), campaign.into()),
                "credit" => Account::Credit(holder.into()),
                other => return Err(BaselineError::Corrupt { seq: 0, reason: format!("balance kind {other}") }),
            };
            out.push((account, Money::from_cents(cents)));
        }
        Ok(out)
    }

    /// Program balances by day from `from` to `to` (inclusive), quiet days
    /// included; balances run from the program's first day.
    pub fn program_balances(
        &self,
        program: &str,
        from: Date,
        to: Date,
    ) -> Result<Vec<ProgramBalanceRow>, BaselineError> {
        let sql = format!(
            "{DAILY_FLOWS_CTE} SELECT day, partner_loads, partner_unloads, partner_adjustments, jit_loads,
                jit_unloads, jit_adjustments, amount_to_send, deposit, ending FROM running
             WHERE day >= ?2 ORDER BY day"
        );
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let rows = stmt.query_map(params![program, from.0, to.0, 0], |r| {
            let amount_to_send: i64 = r.get(7)?;
            let deposit: i64 = r.get(8)?;
            let ending: i64 = r.get(9)?;
            Ok(ProgramBalanceRow {
                day: Date(r.get(0)?),
                partner_funds_loads: Money::from_cents(r.get(1)?),
                partner_funds_unloads: Money::from_cents(r.get(2)?),
                partner_funds_adjustments: Money::from_cents(r.get(3)?),
                jit_loads: Money::from_cents(r.get(4)?),
                jit_unloads: Money::from_cents(r.get(5)?),
                jit_adjustments: Money::from_cents(r.get(6)?),
                amount_to_send: Money::from_cents(amount_to_send),
                deposit: Money::from_cents(deposit),
                beginning_bank_balance: Money::from_cents(ending - amount_to_send - deposit),
                ending_bank_balance: Money::from_cents(ending),
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The reserve view by day from `from` to `to` for a program with a
    /// reserve policy (none for a program without one).
    ///
    /// Rounding point (the only one of the baseline): the averages divide
    /// the exact cent sum S by `window_days` once and round half away from
    /// zero to the cent, in integer SQL: `(2·x + w) / (2·w)` for x ≥ 0.
    pub fn reserve(&self, program: &str, from: Date, to: Date) -> Result<Vec<ReserveRow>, BaselineError> {
        let policy: Option<(Option<i64>, Option<i64>, Option<i64>)> = self
            .conn
            .query_row(
                "SELECT reserve_days, reserve_minimum_cents, reserve_window_days FROM programs WHERE token = ?1",
                [program],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        let Some((Some(days), Some(minimum), Some(window))) = policy else { return Ok(Vec::new()) };
        let window = window.max(1);
        let sql = format!(
            "{DAILY_FLOWS_CTE}, reserve AS (
                SELECT day, amount_to_send, ending,
                    (2 * outflow_sum + ?5) / (2 * ?5) AS avg_week,
                    (2 * ?6 * outflow_sum + ?5) / (2 * ?5) AS days_amount
                FROM running WHERE day >= ?2
            )
            SELECT day, amount_to_send, ending, avg_week, days_amount,
                MAX(?7, days_amount) AS requirement,
                MAX(0, MAX(?7, days_amount) - ending) AS owed
            FROM reserve ORDER BY day"
        );
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let rows = stmt.query_map(params![program, from.0, to.0, window - 1, window, days, minimum], |r| {
            Ok(ReserveRow {
                day: Date(r.get(0)?),
                amount_to_send: Money::from_cents(r.get(1)?),
                ending_bank_balance: Money::from_cents(r.get(2)?),
                reserve_minimum_amount: Money::from_cents(minimum),
                reserve_avg_week_amount: Money::from_cents(r.get(3)?),
                reserve_days_amount: Money::from_cents(r.get(4)?),
                reserve_requirement_amount: Money::from_cents(r.get(5)?),
                reserve_owed_amount: Money::from_cents(r.get(6)?),
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Activity balances by day from `from` to `to`: the program's holders'
    /// GPA and MSA ledger balances (start, credits, debits, end).
    pub fn activity(&self, program: &str, from: Date, to: Date) -> Result<Vec<ActivityRow>, BaselineError> {
        let sql = format!(
            "{DAILY_FLOWS_CTE} SELECT day, credits, debits, activity_ending FROM running
             WHERE day >= ?2 ORDER BY day"
        );
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let rows = stmt.query_map(params![program, from.0, to.0, 0], |r| {
            let credits: i64 = r.get(1)?;
            let debits: i64 = r.get(2)?;
            let ending: i64 = r.get(3)?;
            Ok(ActivityRow {
                day: Date(r.get(0)?),
                starting_balance: Money::from_cents(ending - credits + debits),
                credits: Money::from_cents(credits),
                debits: Money::from_cents(debits),
                ending_balance: Money::from_cents(ending),
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

/// Decides, applies and writes every command of a batch inside `tx`.
fn record_batch(
    tx: &Transaction<'_>,
    ledger: &mut Ledger,
    zones: &mut Zones,
    lines: &[CommandLine],
    now: Timestamp,
    acks: &mut Vec<Ack>,
) -> Result<(), BaselineError> {
    let mut insert_event = tx.prepare_cached(INSERT_EVENT)?;
    let mut derived = Derived::new(tx)?;
    for line in lines {
        let time = line.time.unwrap_or(now);
        // as the engine's commit path decides: the command moved into its
        // event (the caller's copy, as the engine's caller hands over its
        // own), an accepted fact with the payload encoded once while
        // fingerprinting
        let (decision, payload) = ledger.decide_owned(line.clone(), time);
        let facts = match decision {
            Decision::Accept(fact) => vec![(fact, payload)],
            // a tick closing statement cycles records several facts, acknowledged as its last
            Decision::AcceptAll(facts) => facts.into_iter().map(|f| (f, None)).collect(),
            Decision::Duplicate(seq) => {
                acks.push(Ack::Duplicate(seq));
                continue;
            }
            Decision::Reject(r) => {
                acks.push(Ack::Rejected(r));
                continue;
            }
        };
        for (fact, payload) in facts {
            let rec = Recorded { seq: ledger.head_seq + 1, time, fact };
            let seq = i64::try_from(rec.seq).unwrap_or(i64::MAX);
            let payload = match payload {
                Some(p) => p,
                None => encode_fact(&rec.fact).map_err(|reason| BaselineError::Corrupt { seq: rec.seq, reason })?,
            };
            insert_event.execute(params![seq, time.0, rec.fact.event.kind(), payload])?;
            derived.write(tx, ledger, zones, &rec)?;
            ledger.apply(&rec);
        }
        acks.push(Ack::Recorded(ledger.head_seq));
    }
    Ok(())
}

/// The reporting zone of each program (`None`: UTC), parsed once: the
/// daily rows are keyed by the day in the program's reporting time zone,
/// as the engine's views are. SQLite has no IANA zone database, so the day
/// is computed here, before the row is written (and stored with it).
#[derive(Default)]
struct Zones(HashMap<String, Option<Tz>>);

impl Zones {
    /// Parses a zone name as the engine's reporting clock does
    /// (`cardledger_domain::zone`): UTC and unknown names report in UTC.
    fn parse(name: &str) -> Option<Tz> {
        zone::parse(name).filter(|z| !zone::is_utc(*z))
    }

    /// The reporting day of `time` for `program` (its zone from the decision
    /// state when not seen yet).
    fn day(&mut self, ledger: &Ledger, program: &str, time: Timestamp) -> Date {
        let zone = match self.0.get(program) {
            Some(z) => *z,
            None => {
                let z = ledger.programs.get(program).and_then(|p| Zones::parse(&p.cmd.reporting_timezone));
                self.0.insert(program.to_string(), z);
                z
            }
        };
        match zone {
            None => time.date_utc(),
            Some(z) => zone::local_date(z, time),
        }
    }
}

/// The statements that write the derived rows of one recorded fact.
struct Derived<'t> {
    upsert_balance: rusqlite::CachedStatement<'t>,
    upsert_daily: rusqlite::CachedStatement<'t>,
    deltas: HashMap<String, Delta>,
}

impl<'t> Derived<'t> {
    fn new(tx: &'t Transaction<'_>) -> Result<Derived<'t>, BaselineError> {
        Ok(Derived {
            upsert_balance: tx.prepare_cached(UPSERT_BALANCE)?,
            upsert_daily: tx.prepare_cached(UPSERT_DAILY)?,
            deltas: HashMap::new(),
        })
    }

    /// Writes the holder balance rows, program row and daily rows `rec`
    /// changes. `ledger` is the decision state before `rec` is applied.
    fn write(
        &mut self,
        tx: &Transaction<'_>,
        ledger: &Ledger,
        zones: &mut Zones,
        rec: &Recorded,
    ) -> Result<(), BaselineError> {
        self.deltas.clear();
        program_rows(tx, &rec.fact.event, zones, &mut self.deltas)?;
        bank_flows(ledger, &rec.fact.event, &mut self.deltas);
        for p in postings(&rec.fact.event) {
            let cents = p.amount.cents();
            match &p.account {
                Account::Gpa(h) | Account::Msa(h, _) | Account::MsaCredit(h, _) => {
                    let (kind, campaign) = match &p.account {
                        Account::Msa(_, c) => (holder_kind("msa", h), c.as_str()),
                        Account::MsaCredit(_, c) => (holder_kind("msacredit", h), c.as_str()),
                        _ => (holder_kind("gpa", h), ""),
                    };
                    self.upsert_balance.execute(params![kind, h.token(), campaign, cents])?;
                    // activity counts GPA and MSA ledger balances, not MSA reward credit
                    if !matches!(p.account, Account::MsaCredit(..)) {
                        if let Some((program, _)) = ledger.holders.get(h) {
                            let d = self.deltas.entry(program.to_string()).or_default();
                            if cents >= 0 {
                                d.credits = d.credits.saturating_add(cents);
                            } else {
                                d.debits = d.debits.saturating_sub(cents);
                            }
                        }
                    }
                }
                Account::Credit(a) => {
                    self.upsert_balance.execute(params!["credit", a.as_str(), "", cents])?;
                }
                // bank flows are classified from the event itself (bank_flows)
                Account::ProgramBank(_)
                | Account::ProgramEquity(_)
                | Account::ProgramFees(_)
                | Account::ProgramRewards(_)
                | Account::ProgramIncome(_)
                | Account::CreditPayments(_)
                | Account::FundingSource(_)
                | Account::Network(_) => {}
            }
        }
        for (program, d) in &self.deltas {
            let day = match rec.fact.corrected_post_date {
                Some(d) => d,
                None => zones.day(ledger, program, rec.time),
            };
            self.upsert_daily.execute(params![
                program,
                day.0,
                d.partner_loads,
                d.partner_unloads,
                d.partner_adjustments,
                d.jit_loads,
                d.jit_unloads,
                d.jit_adjustments,
                d.deposit,
                d.credits,
                d.debits
            ])?;
        }
        Ok(())
    }
}

/// The program row and first daily row of a program an event creates (so a
/// program's days start at its creation).
fn program_rows(
    tx: &Transaction<'_>,
    event: &Event,
    zones: &mut Zones,
    deltas: &mut HashMap<String, Delta>,
) -> Result<(), BaselineError> {
    match event {
        Event::ProgramCreated(c) => {
            let r = c.reserve.as_ref();
            if !zones.0.contains_key(c.token.as_str()) {
                zones.0.insert(c.token.to_string(), Zones::parse(&c.reporting_timezone));
            }
            tx.prepare_cached(UPSERT_PROGRAM)?.execute(params![
                c.token.as_str(),
                c.opening_bank_balance.cents(),
                c.reporting_timezone,
                r.map(|r| i64::from(r.days)),
                r.map(|r| r.minimum_amount.cents()),
                r.map(|r| i64::from(r.window_days)),
            ])?;
            deltas.entry(c.token.to_string()).or_default();
        }
        Event::FundingSourceCreated { .. }
        | Event::UserCreated(_)
        | Event::BusinessCreated(_)
        | Event::FundingSourceAddressCreated(_)
        | Event::FeeCreated(_)
        | Event::CampaignCreated(_)
        | Event::MerchantCreated(_)
        | Event::OfferCreated(_)
        | Event::CreditAccountOpened(_)
        | Event::GpaOrdered(_)
        | Event::GpaUnloaded(_)
        | Event::MsaOrdered(_)
        | Event::MsaOrderUpdated(_)
        | Event::MsaUnloaded(_)
        | Event::OfferOrdered(_)
        | Event::FeeTransferred(_)
        | Event::JournalEntryRecorded(_)
        | Event::ProgramDeposited(_)
        | Event::CyclesClosed(_)
        | Event::Ticked(_) => {}
    }
    Ok(())
}

/// Adds the program bank flow of `event` (`event::bank_flow`, the engine's
/// one rule) to its program's delta; an adjustment is a JIT adjustment once
/// the program is JIT. The opening balance is the program row's
/// `opening_cents`, not a flow.
fn bank_flows(ledger: &Ledger, event: &Event, deltas: &mut HashMap<String, Delta>) {
    let Some(b) = bank_flow(event) else { return };
    let jit = b.adjustments != 0 && ledger.programs.get(b.program).is_some_and(|p| p.jit);
    let d = deltas.entry(b.program.to_string()).or_default();
    d.add(Column::PartnerLoads, b.partner_loads);
    d.add(Column::PartnerUnloads, b.partner_unloads);
    d.add(if jit { Column::JitAdjustments } else { Column::PartnerAdjustments }, b.adjustments);
    d.add(Column::JitLoads, b.jit_loads);
    d.add(Column::JitUnloads, b.jit_unloads);
    d.add(Column::Deposit, b.deposit);
}

fn holder_kind(prefix: &'static str, h: &Holder) -> &'static str {
    match (prefix, h) {
        ("msa", Holder::User(_)) => "msa_user",
        ("msa", Holder::Business(_)) => "msa_business",
        ("msacredit", Holder::User(_)) => "msacredit_user",
        ("msacredit", Holder::Business(_)) => "msacredit_business",
        (_, Holder::User(_)) => "gpa_user",
        (_, Holder::Business(_)) => "gpa_business",
    }
}
