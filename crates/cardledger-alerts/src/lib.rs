//! Alerts that fire once on crossing, and the notifications webhooks deliver
//! (`docs/alerts.md`).
//!
//! [`Alerts`] is a projection (the domain's `Projection` trait: it reads
//! only recorded events, never the clock) that records an [`Alert`] when
//!
//! - a reserve program's `ending_bank_balance` on its latest reporting day
//!   goes below that day's `reserve_requirement_amount` (page 002's rule,
//!   computed by the reserve view's own fold, [`ReserveBalances`]);
//! - a program's funding (bank) balance — its opening balance plus every
//!   event's `cardledger_domain::event::bank_flow`, the programbalances
//!   view's `ending_bank_balance` — goes below the program's
//!   `funding_alert_threshold`;
//! - a credit account becomes delinquent (the statements fold's own
//!   delinquency: something is past due after the last statement and the
//!   payments and credits since).
//!
//! Each condition is edge-triggered: one alert (`state` `STARTED`) when it
//! starts, one (`CLEARED`) when it ends, nothing while it holds. Beside the
//! alerts it records, in log order, every statement created and every
//! delinquency transition (the statements fold's), so a webhook deliverer
//! reads one ordered stream of [`Notice`]s. Everything is a function of the
//! log: a replay, however interrupted by checkpoints, records the same
//! notices with the same tokens.
//!
//! ```
//! use cardledger_alerts::Alerts;
//! assert_eq!(Alerts::default().alerts().count(), 0);
//! ```

use std::collections::{BTreeMap, BTreeSet};

use bincode::{Decode, Encode};
use cardledger_domain::command::JeTarget;
use cardledger_domain::event::{bank_flow, Event, Recorded};
use cardledger_domain::money::Money;
use cardledger_domain::projection::Projection;
use cardledger_domain::time::{Date, Timestamp};
use cardledger_reserve_balances::ReserveBalances;
use cardledger_statements::Statements;
use serde_json::{json, Map, Value};

/// Checkpoint format version: the first byte of [`Alerts::encode`].
const FORMAT_VERSION: u8 = 1;

/// What an alert watches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Encode, Decode)]
pub enum AlertKind {
    /// A reserve program's ending bank balance below its reserve requirement.
    ReserveBelowRequirement,
    /// A program's funding (bank) balance below its `funding_alert_threshold`.
    FundingBelowThreshold,
    /// A credit account with something past due.
    AccountDelinquent,
}

impl AlertKind {
    /// The kind's name (`reserve_below_requirement`, …); the webhook event
    /// type is `alert.` + this.
    pub fn name(self) -> &'static str {
        match self {
            AlertKind::ReserveBelowRequirement => "reserve_below_requirement",
            AlertKind::FundingBelowThreshold => "funding_below_threshold",
            AlertKind::AccountDelinquent => "account_delinquent",
        }
    }
}

/// One crossing of a condition.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct Alert {
    /// The event that crossed it.
    pub seq: u64,
    /// That event's business time.
    pub time: Timestamp,
    /// Its place among the notices of that event (0, 1, …): with `seq`,
    /// the alert's token.
    pub index: u32,
    /// What is watched.
    pub kind: AlertKind,
    /// False: the condition started; true: it cleared.
    pub cleared: bool,
    /// The program.
    pub program: String,
    /// The credit account (`AccountDelinquent` only).
    pub account: Option<String>,
    /// The reporting day evaluated (`ReserveBelowRequirement` only).
    pub date: Option<Date>,
    /// The balance compared: ending bank balance (reserve), bank balance
    /// (funding), total past due (delinquency).
    pub balance: Money,
    /// What it was compared with: the reserve requirement, the threshold,
    /// or (delinquency) the total due.
    pub limit: Money,
}

impl Alert {
    /// `alert.{seq}.{index}`: unique and the same on every replay.
    pub fn token(&self) -> String {
        format!("alert.{}.{}", self.seq, self.index)
    }

    /// The alert as `cardledger alerts` prints it and webhooks deliver it.
    pub fn to_json(&self) -> Value {
        let mut o = Map::new();
        o.insert("token".into(), self.token().into());
        o.insert("seq".into(), self.seq.into());
        o.insert("time".into(), self.time.to_string().into());
        o.insert("kind".into(), self.kind.name().into());
        o.insert("state".into(), if self.cleared { "CLEARED" } else { "STARTED" }.into());
        o.insert("program_token".into(), self.program.clone().into());
        match self.kind {
            AlertKind::ReserveBelowRequirement => {
                o.insert("post_date".into(), self.date.map(|d| d.to_string()).into());
                o.insert("ending_bank_balance".into(), self.balance.to_json());
                o.insert("reserve_requirement_amount".into(), self.limit.to_json());
                o.insert("reserve_owed_amount".into(), self.limit.minus(self.balance).max(Money::ZERO).to_json());
            }
            AlertKind::FundingBelowThreshold => {
                o.insert("funding_balance".into(), self.balance.to_json());
                o.insert("funding_alert_threshold".into(), self.limit.to_json());
            }
            AlertKind::AccountDelinquent => {
                o.insert("account_token".into(), self.account.clone().into());
                o.insert("total_past_due".into(), self.balance.to_json());
                o.insert("total_due".into(), self.limit.to_json());
            }
        }
        Value::Object(o)
    }
}

/// One entry of the ordered notification stream.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub enum Notice {
    /// An alert.
    Alert(Alert),
    /// A statement was created (its index among the account's statements).
    Statement {
        /// The `CyclesClosed` event.
        seq: u64,
        /// The credit account.
        account: String,
        /// Index among the account's statements, oldest first.
        index: u32,
    },
    /// A delinquency transition (its index among the account's transitions).
    Transition {
        /// The event that caused it (a close, a payment or a credit).
        seq: u64,
        /// The credit account.
        account: String,
        /// Index among the account's transitions, oldest first.
        index: u32,
    },
}

impl Notice {
    /// The log position of the event behind it.
    pub fn seq(&self) -> u64 {
        match self {
            Notice::Alert(a) => a.seq,
            Notice::Statement { seq, .. } | Notice::Transition { seq, .. } => *seq,
        }
    }

    /// The webhook event type: `alert.{kind}`, `accountstatement.created`
    /// or `delinquencytransition.created`.
    pub fn event_type(&self) -> String {
        match self {
            Notice::Alert(a) => format!("alert.{}", a.kind.name()),
            Notice::Statement { .. } => "accountstatement.created".into(),
            Notice::Transition { .. } => "delinquencytransition.created".into(),
        }
    }
}

/// Per program: its funding balance and which conditions hold.
#[derive(Clone, Debug, Default, PartialEq, Eq, Encode, Decode)]
struct ProgramWatch {
    bank_cents: i64,
    threshold: Option<Money>,
    funding_low: bool,
    reserve_short: bool,
}

/// What the fold keeps besides the two folds it reuses.
#[derive(Clone, Debug, Default, PartialEq, Eq, Encode, Decode)]
struct Watch {
    programs: BTreeMap<String, ProgramWatch>,
    delinquent: BTreeSet<String>,
    notices: Vec<Notice>,
}

/// The alerts projection.
#[derive(Clone, Debug, Default)]
pub struct Alerts {
    reserve: ReserveBalances,
    statements: Statements,
    watch: Watch,
}

impl Alerts {
    /// Every alert, in log order.
    pub fn alerts(&self) -> impl Iterator<Item = &Alert> {
        self.watch.notices.iter().filter_map(|n| match n {
            Notice::Alert(a) => Some(a),
            Notice::Statement { .. } | Notice::Transition { .. } => None,
        })
    }

    /// The notices of events after `seq`, in log order.
    pub fn notices_after(&self, seq: u64) -> &[Notice] {
        let from = self.watch.notices.partition_point(|n| n.seq() <= seq);
        self.watch.notices.get(from..).unwrap_or(&[])
    }

    /// Every notice, in log order.
    pub fn notices(&self) -> &[Notice] {
        &self.watch.notices
    }

    /// A notice as a webhook delivers it: `{"token", "type", "seq",
    /// "data"}`, `data` being the alert, the statement summary or the
    /// delinquency transition as the statements endpoints show them. The
    /// token is the alert's, or `accountstatement.` / `delinquencytransition.`
    /// + the statement's / transition's own token: unique, replay-stable.
    pub fn notice_json(&self, notice: &Notice) -> Value {
        let (prefix, data) = match notice {
            Notice::Alert(a) => ("", a.to_json()),
            Notice::Statement { account, index, .. } => {
                ("accountstatement.", self.statements.statement_at(account, usize_of(*index)).unwrap_or(Value::Null))
            }
            Notice::Transition { account, index, .. } => (
                "delinquencytransition.",
                self.statements.transition_at(account, usize_of(*index)).unwrap_or(Value::Null),
            ),
        };
        // the statement's and the transition's own tokens are unique (derived)
        let token = format!("{prefix}{}", data.get("token").and_then(Value::as_str).unwrap_or_default());
        json!({"token": token, "type": notice.event_type(), "seq": notice.seq(), "data": data})
    }

    /// The reserve row of `program`'s latest reporting day (the day the
    /// reserve view's last row shows): (day, ending, requirement), in cents.
    fn reserve_now(&self, program: &str) -> Option<(Date, i64, i64)> {
        let flows = self.reserve.flows();
        let info = flows.program(program)?;
        info.reserve.as_ref()?;
        let now = flows.last_time().map(|t| info.clock.clone().date(t)).unwrap_or(info.created_day);
        let day = info.days.last_day().unwrap_or(info.created_day).max(now).max(info.created_day);
        let rows = self.reserve.day_rows(program, Some(day), Some(day));
        rows.last().map(|r| (r.post_date, r.ending_cents, r.requirement_cents))
    }

    fn check_reserve(&mut self, rec: &Recorded, program: &str) {
        let Some((day, ending, requirement)) = self.reserve_now(program) else { return };
        let short = ending < requirement;
        let Some(w) = self.watch.programs.get_mut(program) else { return };
        if short == w.reserve_short {
            return;
        }
        w.reserve_short = short;
        let alert = Alert {
            seq: rec.seq,
            time: rec.time,
            index: 0,
            kind: AlertKind::ReserveBelowRequirement,
            cleared: !short,
            program: program.to_string(),
            account: None,
            date: Some(day),
            balance: Money::from_cents(ending),
            limit: Money::from_cents(requirement),
        };
        self.push(Notice::Alert(alert), rec.seq);
    }

    fn check_funding(&mut self, rec: &Recorded, program: &str) {
        let Some(w) = self.watch.programs.get_mut(program) else { return };
        let Some(threshold) = w.threshold else { return };
        let low = w.bank_cents < threshold.cents();
        if low == w.funding_low {
            return;
        }
        w.funding_low = low;
        let alert = Alert {
            seq: rec.seq,
            time: rec.time,
            index: 0,
            kind: AlertKind::FundingBelowThreshold,
            cleared: !low,
            program: program.to_string(),
            account: None,
            date: None,
            balance: Money::from_cents(w.bank_cents),
            limit: threshold,
        };
        self.push(Notice::Alert(alert), rec.seq);
    }

    /// Appends a notice, numbering it among the notices of its event.
    fn push(&mut self, mut notice: Notice, seq: u64) {
        let same_event = self.watch.notices.iter().rev().take_while(|n| n.seq() == seq).count();
        let index = u32::try_from(same_event).unwrap_or(u32::MAX);
        match &mut notice {
            Notice::Alert(a) => a.index = index,
            Notice::Statement { .. } | Notice::Transition { .. } => {}
        }
        self.watch.notices.push(notice);
    }
}

fn usize_of(i: u32) -> usize {
    usize::try_from(i).unwrap_or(usize::MAX)
}

fn u32_of(i: usize) -> u32 {
    u32::try_from(i).unwrap_or(u32::MAX)
}

/// The credit accounts an event touches, with their programs, in order.
fn credit_accounts(event: &Event) -> Vec<(String, String)> {
    match event {
        Event::JournalEntryRecorded(e) => match &e.cmd.target {
            JeTarget::Credit(a) => vec![(a.to_string(), e.program_token.to_string())],
            JeTarget::Gpa(_) => Vec::new(),
        },
        Event::CyclesClosed(c) => {
            let mut out: Vec<(String, String)> = Vec::new();
            for (i, close) in c.closes.iter().enumerate() {
                if !out.iter().any(|(a, _)| *a == close.account_token) {
                    let program = c.program_tokens.get(i).cloned().unwrap_or_default();
                    out.push((close.account_token.to_string(), program.to_string()));
                }
            }
            out
        }
        Event::ProgramCreated(_)
        | Event::UserCreated(_)
        | Event::BusinessCreated(_)
        | Event::FundingSourceCreated { .. }
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
        | Event::ProgramDeposited(_)
        | Event::Ticked(_) => Vec::new(),
    }
}

impl Projection for Alerts {
    const NAME: &'static str = "alerts.v1";

    fn apply(&mut self, rec: &Recorded) {
        let accounts = credit_accounts(&rec.fact.event);
        let before: Vec<(usize, usize)> = accounts.iter().map(|(a, _)| self.statements.counts(a)).collect();
        self.reserve.apply(rec);
        self.statements.apply(rec);
        match &rec.fact.event {
            Event::ProgramCreated(c) => {
                self.watch.programs.insert(
                    c.token.to_string(),
                    ProgramWatch {
                        bank_cents: c.opening_bank_balance.cents(),
                        threshold: c.funding_alert_threshold,
                        ..ProgramWatch::default()
                    },
                );
                self.check_funding(rec, &c.token);
                self.check_reserve(rec, &c.token);
            }
            Event::Ticked(_) => {
                // time passing moves the reserve window
                let reserve: Vec<String> = self.watch.programs.keys().cloned().collect();
                for p in reserve {
                    self.check_reserve(rec, &p);
                }
            }
            event => {
                if let Some(flow) = bank_flow(event) {
                    let program = flow.program.to_string();
                    if let Some(w) = self.watch.programs.get_mut(&program) {
                        w.bank_cents = w.bank_cents.saturating_add(flow.net());
                    }
                    self.check_funding(rec, &program);
                    self.check_reserve(rec, &program);
                }
            }
        }
        for ((account, program), (statements, transitions)) in accounts.into_iter().zip(before) {
            let (s_after, t_after) = self.statements.counts(&account);
            for i in statements..s_after {
                let n = Notice::Statement { seq: rec.seq, account: account.clone(), index: u32_of(i) };
                self.push(n, rec.seq);
            }
            for i in transitions..t_after {
                let n = Notice::Transition { seq: rec.seq, account: account.clone(), index: u32_of(i) };
                self.push(n, rec.seq);
            }
            let Some(d) = self.statements.delinquency(&account) else { continue };
            let was = self.watch.delinquent.contains(&account);
            if d.is_delinquent() == was {
                continue;
            }
            if was {
                self.watch.delinquent.remove(&account);
            } else {
                self.watch.delinquent.insert(account.clone());
            }
            let alert = Alert {
                seq: rec.seq,
                time: rec.time,
                index: 0,
                kind: AlertKind::AccountDelinquent,
                cleared: was,
                program,
                account: Some(account),
                date: None,
                balance: d.total_past_due,
                limit: d.total_due(),
            };
            self.push(Notice::Alert(alert), rec.seq);
        }
    }

    fn encode(&self) -> Vec<u8> {
        cardledger_domain::checkpoint::encode(FORMAT_VERSION, &(self.reserve.encode(), &self.statements, &self.watch))
    }

    fn decode(bytes: &[u8]) -> Option<Self> {
        let (reserve, statements, watch): (Vec<u8>, Statements, Watch) =
            cardledger_domain::checkpoint::decode(FORMAT_VERSION, bytes)?;
        Some(Alerts { reserve: ReserveBalances::decode(&reserve)?, statements, watch })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_checkpoint_versions_are_refused() {
        let a = Alerts::default();
        let bytes = a.encode();
        assert!(Alerts::decode(&bytes).is_some());
        assert!(Alerts::decode(&[]).is_none());
        let mut other = bytes.clone();
        if let Some(b) = other.first_mut() {
            *b = 9;
        }
        assert!(Alerts::decode(&other).is_none());
    }
}
