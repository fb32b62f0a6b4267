//! cardledger-statements: credit statement cycles as a read-side projection
//! of the cardledger log, rendered with the JSON shapes of the statements
//! page (source 003): statement summaries, payment info, interest charges,
//! statement journal entries, year-to-date totals, rewards, statement files,
//! and the delinquency state with its transitions.
//!
//! It deliberately computes no statement figure: every number comes from
//! the `CyclesClosed` events the engine recorded when a `tick` closed a
//! cycle (`cardledger_domain::cycle`). The projection only indexes them,
//! assigns journal entries to the statement whose cycle they landed in, and
//! follows payments against the dues to record PAYMENT / CREDIT delinquency
//! transitions. It never reads the clock; it is a pure fold (`apply`).
//!
//! ```
//! use cardledger_statements::{Statements, Query};
//! let s = Statements::default();
//! let err = s.list("nope", &Query::default()).unwrap_err();
//! assert_eq!(err.code(), 1301);
//! ```

use std::collections::BTreeMap;

use bincode::{Decode, Encode};
use cardledger_domain::cycle::{self, CycleClose, Delinquency, Due};
use cardledger_domain::event::{Event, JeEffect, Recorded};
use cardledger_domain::money::Money;
use cardledger_domain::projection::Projection;
use cardledger_domain::time::{Date, Timestamp};
use cardledger_domain::zone;
use serde_json::{json, Map, Value};

mod query;

pub use query::{Query, StatementsQueryError};

/// Every statement of every credit account, indexed for the endpoints.
#[derive(Clone, Debug, Default, PartialEq, Eq, Encode, Decode)]
pub struct Statements {
    accounts: BTreeMap<String, AccountStatements>,
}

/// One credit account's statements and what is still open.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
struct AccountStatements {
    user_token: String,
    timezone: String,
    statements: Vec<StatementRow>,
    /// Entries whose cycle has not closed yet.
    open_entries: Vec<EntryRow>,
    /// Outstanding dues after the last close and the payments since.
    dues: Vec<Due>,
    /// Closing instant of the last statement (dues due by then are past due).
    last_close: Option<Timestamp>,
    transitions: Vec<TransitionRow>,
}

/// A closed statement with its journal entries.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
struct StatementRow {
    close: CycleClose,
    created_time: Timestamp,
    entries: Vec<EntryRow>,
}

/// What kind of row a statement journal entry is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode)]
enum EntrySource {
    /// A `journal_entry` command.
    Command,
    /// The interest a close charged.
    Interest,
    /// The late fee a close charged.
    LateFee,
}

/// A journal entry as the statement lists it.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
struct EntryRow {
    source: EntrySource,
    token: String,
    related_token: Option<String>,
    root_token: Option<String>,
    card_token: Option<String>,
    acting_user_token: Option<String>,
    status: String,
    group: String,
    kind: String,
    amount: Money,
    /// A payment or credit: it pays dues.
    repays: bool,
    memo: Option<String>,
    request_time: Timestamp,
    impact_time: Timestamp,
    created_time: Timestamp,
    local_date: Date,
}

/// A delinquency transition.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
struct TransitionRow {
    token: String,
    trigger: String,
    time: Timestamp,
    created_time: Timestamp,
    before: Delinquency,
    after: Delinquency,
}

impl Projection for Statements {
    const NAME: &'static str = "statements.v1";

    fn apply(&mut self, rec: &Recorded) {
        match &rec.fact.event {
            Event::CreditAccountOpened(c) => {
                self.accounts.insert(
                    c.token.to_string(),
                    AccountStatements {
                        user_token: c.user_token.to_string(),
                        timezone: c.timezone.clone(),
                        statements: Vec::new(),
                        open_entries: Vec::new(),
                        dues: Vec::new(),
                        last_close: None,
                        transitions: Vec::new(),
                    },
                );
            }
            Event::JournalEntryRecorded(e) => {
                let cardledger_domain::command::JeTarget::Credit(a) = &e.cmd.target else { return };
                let Some(acct) = self.accounts.get_mut(a.as_str()) else { return };
                let Some(kind) = cycle::activity_kind(e.effect, &e.cmd) else { return };
                let impact = e.cmd.impact_time.unwrap_or(rec.time);
                let tz = zone::parse(&acct.timezone).unwrap_or(cycle::DEFAULT_ZONE);
                acct.open_entries.push(EntryRow {
                    source: EntrySource::Command,
                    token: e.cmd.token.to_string(),
                    related_token: e.cmd.related_token.as_deref().map(str::to_owned),
                    root_token: e.cmd.root_token.as_deref().map(str::to_owned),
                    card_token: e.cmd.card_token.as_deref().map(str::to_owned),
                    acting_user_token: e.cmd.acting_user_token.as_deref().map(str::to_owned),
                    status: e.cmd.status.name().to_string(),
                    group: e.cmd.group.as_deref().map_or_else(|| group_of(e.effect).to_string(), str::to_owned),
                    kind: e.cmd.kind.to_string(),
                    amount: e.cmd.amount,
                    repays: matches!(
                        kind,
                        cycle::ActivityKind::Payment | cycle::ActivityKind::Refund | cycle::ActivityKind::Credit
                    ),
                    memo: e.cmd.memo.as_deref().map(str::to_owned),
                    request_time: e.cmd.request_time.unwrap_or(impact),
                    impact_time: impact,
                    created_time: rec.time,
                    local_date: zone::local_date(tz, impact),
                });
                let trigger = match kind {
                    cycle::ActivityKind::Payment => "PAYMENT",
                    cycle::ActivityKind::Refund | cycle::ActivityKind::Credit => "CREDIT",
                    _ => return,
                };
                if let Some(at) = acct.last_close {
                    let before = cycle::delinquency_of(&acct.dues, Some(at));
                    cycle::pay_dues(&mut acct.dues, e.cmd.amount);
                    let after = cycle::delinquency_of(&acct.dues, Some(at));
                    if after.differs(&before) {
                        let token = cycle::derived_token(&["transition", &e.cmd.token]);
                        acct.transitions.push(TransitionRow {
                            token,
                            trigger: trigger.into(),
                            time: impact,
                            created_time: rec.time,
                            before,
                            after,
                        });
                    }
                }
            }
            Event::CyclesClosed(e) => {
                for close in &e.closes {
                    let Some(acct) = self.accounts.get_mut(close.account_token.as_str()) else { continue };
                    acct.close(close, rec.time);
                }
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
            | Event::GpaOrdered(_)
            | Event::GpaUnloaded(_)
            | Event::MsaOrdered(_)
            | Event::MsaOrderUpdated(_)
            | Event::MsaUnloaded(_)
            | Event::OfferOrdered(_)
            | Event::FeeTransferred(_)
            | Event::ProgramDeposited(_)
            | Event::Ticked(_) => {}
        }
    }

    fn encode(&self) -> Vec<u8> {
        bincode::encode_to_vec(self, bincode::config::standard()).unwrap_or_default()
    }

    fn decode(bytes: &[u8]) -> Option<Self> {
        let cfg = bincode::config::standard().with_limit::<{ cardledger_domain::limits::CHECKPOINT_STATE_BYTES_MAX }>();
        match bincode::decode_from_slice::<Statements, _>(bytes, cfg) {
            Ok((s, used)) if used == bytes.len() => Some(s),
            _ => None,
        }
    }
}

fn group_of(effect: JeEffect) -> &'static str {
    match effect {
        JeEffect::Clearing | JeEffect::PinPurchase | JeEffect::AtmWithdrawal | JeEffect::Hold | JeEffect::Reversal => {
            "PURCHASE"
        }
        JeEffect::Refund | JeEffect::PendingRefund => "REFUND",
        JeEffect::Payment => "PAYMENT",
        JeEffect::Interest => "INTEREST",
        JeEffect::Fee => "FEE",
        JeEffect::AdjustmentCredit | JeEffect::AdjustmentDebit | JeEffect::NoBalance => "ADJUSTMENT",
        JeEffect::Reward => "REWARD",
    }
}

impl EntryRow {
    /// In the ledger: it impacted the balance when recorded (page 003:
    /// CLEARED, DECLINED and ERROR are not recorded in the ledger).
    fn in_ledger(&self) -> bool {
        matches!(self.status.as_str(), "PENDING" | "POSTED")
    }
}

impl AccountStatements {
    /// Files a close: the open entries of its cycle (and any dated before
    /// it: late entries land in the open cycle) become its entries, then
    /// its interest and late-fee entries.
    fn close(&mut self, close: &CycleClose, created: Timestamp) {
        let tz = zone::parse(&self.timezone).unwrap_or(cycle::DEFAULT_ZONE);
        let end = zone::local_date(tz, close.closing_date);
        let (mut entries, open): (Vec<EntryRow>, Vec<EntryRow>) =
            std::mem::take(&mut self.open_entries).into_iter().partition(|e| e.local_date <= end);
        self.open_entries = open;
        let charge = |source: EntrySource, c: &cycle::Charge| EntryRow {
            source,
            token: c.token.to_string(),
            related_token: None,
            root_token: None,
            card_token: None,
            acting_user_token: None,
            status: "POSTED".into(),
            group: if source == EntrySource::Interest { "INTEREST" } else { "FEE" }.into(),
            kind: if source == EntrySource::Interest { "account.interest" } else { "account.fee.payment.late" }.into(),
            amount: c.amount,
            repays: false,
            memo: Some(
                if source == EntrySource::Interest { "Interest charge on purchases" } else { "Late payment fee" }
                    .into(),
            ),
            request_time: close.closing_date,
            impact_time: close.closing_date,
            created_time: created,
            local_date: end,
        };
        if let Some(c) = &close.interest_entry {
            entries.push(charge(EntrySource::Interest, c));
        }
        if let Some(c) = &close.late_fee_entry {
            entries.push(charge(EntrySource::LateFee, c));
        }
        // compared with the state as the payments since the last close left it
        let before = self.delinquency_now();
        if close.delinquency.differs(&before) {
            self.transitions.push(TransitionRow {
                token: cycle::derived_token(&["transition", &close.statement_token]),
                trigger: "STATEMENT_GENERATION".into(),
                time: close.closing_date,
                created_time: created,
                before,
                after: close.delinquency,
            });
        }
        // the close's dues, less what entries of later cycles already paid
        self.dues = close.dues.clone();
        for e in self.open_entries.iter().filter(|e| e.repays) {
            cycle::pay_dues(&mut self.dues, e.amount);
        }
        self.last_close = Some(close.closing_date);
        self.statements.push(StatementRow { close: close.clone(), created_time: created, entries });
    }

    /// The delinquency after the last close and the payments since.
    fn delinquency_now(&self) -> Delinquency {
        match self.last_close {
            Some(t) => cycle::delinquency_of(&self.dues, Some(t)),
            None => Delinquency::default(),
        }
    }

    fn statement(&self, token: &str) -> Result<&StatementRow, StatementsQueryError> {
        self.statements
            .iter()
            .find(|s| s.close.statement_token == token)
            .ok_or_else(|| StatementsQueryError::UnknownStatement(token.to_string()))
    }
}

/// Timestamps as the statements page prints them: milliseconds and `Z`.
pub fn ts(t: Timestamp) -> String {
    t.to_datetime().format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

fn rate_json(r: cardledger_domain::command::Rate) -> Value {
    let text = r.0.normalize().to_string();
    text.parse::<serde_json::Number>().map(Value::Number).unwrap_or(Value::String(text))
}

impl Statements {
    /// Number of statements recorded over all accounts.
    pub fn statement_count(&self) -> usize {
        self.accounts.values().map(|a| a.statements.len()).sum()
    }

    /// Every (account, statement token) pair, in account then cycle order.
    pub fn statement_tokens(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for (a, s) in &self.accounts {
            for st in &s.statements {
                out.push((a.clone(), st.close.statement_token.to_string()));
            }
        }
        out
    }

    /// Each account's latest statement close (its last statement), by
    /// account token: what a dashboard lists as the latest closes.
    pub fn latest_closes(&self) -> impl Iterator<Item = &CycleClose> + '_ {
        self.accounts.values().filter_map(|a| a.statements.last().map(|s| &s.close))
    }

    /// The recorded close behind a statement (for checks and hosts).
    pub fn close(&self, account: &str, statement: &str) -> Result<&CycleClose, StatementsQueryError> {
        Ok(&self.account(account)?.statement(statement)?.close)
    }

    /// An account's delinquency now (after its last statement and the
    /// payments and credits since); `None` for an unknown account.
    pub fn delinquency(&self, account: &str) -> Option<Delinquency> {
        self.accounts.get(account).map(AccountStatements::delinquency_now)
    }

    /// How many statements and delinquency transitions an account has
    /// (`(0, 0)` for an unknown one): a follower compares them before and
    /// after an event to see what the event added.
    pub fn counts(&self, account: &str) -> (usize, usize) {
        self.accounts.get(account).map_or((0, 0), |a| (a.statements.len(), a.transitions.len()))
    }

    /// The `index`-th statement summary of an account (oldest first), as
    /// the statements endpoint and the statement-created notification show it.
    pub fn statement_at(&self, account: &str, index: usize) -> Option<Value> {
        let s = self.accounts.get(account)?.statements.get(index)?;
        Some(summary_json(&s.close, s.created_time))
    }

    /// The `index`-th delinquency transition of an account (oldest first),
    /// as the transitions endpoint shows it.
    pub fn transition_at(&self, account: &str, index: usize) -> Option<Value> {
        let t = self.accounts.get(account)?.transitions.get(index)?;
        Some(transition_json(account, t))
    }

    fn account(&self, token: &str) -> Result<&AccountStatements, StatementsQueryError> {
        self.accounts.get(token).ok_or_else(|| StatementsQueryError::UnknownAccount(token.to_string()))
    }

    /// `GET /credit/accounts/{account_token}/statements`: summaries with
    /// date filters, `sort_by` and paging.
    pub fn list(&self, account: &str, q: &Query) -> Result<Value, StatementsQueryError> {
        let acct = self.account(account)?;
        let tz = zone::parse(&acct.timezone).unwrap_or(cycle::DEFAULT_ZONE);
        let rows: Vec<&StatementRow> = acct
            .statements
            .iter()
            .filter(|s| q.matches_dates(tz, s.close.opening_date, s.close.closing_date))
            .collect();
        let rows = q.sorted(rows, |s| (s.created_time, s.close.opening_date));
        Ok(q.page(rows.iter().map(|s| summary_json(&s.close, s.created_time)).collect()))
    }

    /// `GET …/statements/{statement_summary_token}`.
    pub fn summary(&self, account: &str, statement: &str) -> Result<Value, StatementsQueryError> {
        let s = self.account(account)?.statement(statement)?;
        Ok(summary_json(&s.close, s.created_time))
    }

    /// `GET …/statements/{token}/paymentinfo`.
    pub fn payment_info(&self, account: &str, statement: &str) -> Result<Value, StatementsQueryError> {
        let s = self.account(account)?.statement(statement)?;
        let c = &s.close;
        let warnings: Vec<Value> = c
            .warnings
            .iter()
            .map(|w| {
                let mut o = Map::new();
                o.insert("type".into(), w.type_name().into());
                o.insert("total_paid".into(), w.total_paid.to_json());
                o.insert("interest_paid".into(), w.interest_paid.to_json());
                o.insert("monthly_payment".into(), w.monthly_payment.to_json());
                o.insert("pay_off_period".into(), w.pay_off_period.into());
                o.insert("period_type".into(), w.period_type().into());
                if let Some(d) = w.disclosure {
                    o.insert("disclosure".into(), d.name().into());
                }
                Value::Object(o)
            })
            .collect();
        Ok(json!({
            "token": cycle::derived_token(&["paymentinfo", &c.statement_token]),
            "statement_summary_token": c.statement_token,
            "new_statement_balance": c.closing_balance.to_json(),
            "minimum_payment_due": c.minimum_payment.to_json(),
            "payment_due_date": ts(c.payment_due_date),
            "payment_cutoff_date": ts(c.payment_due_date),
            "three_year_savings": c.three_year_savings.to_json(),
            "warnings": warnings,
            "created_time": ts(s.created_time),
        }))
    }

    /// `GET …/statements/{token}/interestcharges`.
    pub fn interest_charges(&self, account: &str, statement: &str) -> Result<Value, StatementsQueryError> {
        let acct = self.account(account)?;
        let c = &acct.statement(statement)?.close;
        let charged = c.interest_entry.as_ref().map(|x| x.amount).unwrap_or(Money::ZERO);
        Ok(json!({
            "account_token": account,
            "user_token": acct.user_token,
            "statement_summary_token": c.statement_token,
            "data": [{
                "balance_type": "PURCHASE",
                "apr_value": rate_json(c.apr),
                "apr_type": "GO_TO",
                "balance_subject_to_interest_rate": c.average_daily_balance.to_json(),
                "amount": charged.to_json(),
            }],
        }))
    }

    /// `GET …/statements/{token}/journalentries`: paging, `sort_by`
    /// lastModifiedTime / -lastModifiedTime, `expand=detailObject`.
    pub fn journal_entries(&self, account: &str, statement: &str, q: &Query) -> Result<Value, StatementsQueryError> {
        let acct = self.account(account)?;
        let s = acct.statement(statement)?;
        let rows: Vec<&EntryRow> = s.entries.iter().collect();
        let rows = q.sorted(rows, |e| (e.created_time, e.impact_time));
        let data = rows.iter().map(|e| entry_json(account, acct, Some(&s.close), e, q.expand_detail)).collect();
        Ok(q.page(data))
    }

    /// `GET …/statements/{token}/ledgerentries` (page 003; deprecated there
    /// in favour of `journalentries`): the statement's entries that are in
    /// the ledger, i.e. that impacted the balance (status `PENDING` or
    /// `POSTED`; `CLEARED`, `DECLINED` and `ERROR` are not recorded in the
    /// ledger, as the page says), as the page's bare JSON array, sorted by
    /// `sort_by` (newest first by default), `expand=detailObject` embeds the
    /// detail. No `user_token`: the page's ledger entry has none.
    pub fn ledger_entries(&self, account: &str, statement: &str, q: &Query) -> Result<Value, StatementsQueryError> {
        let acct = self.account(account)?;
        let s = acct.statement(statement)?;
        let rows: Vec<&EntryRow> = s.entries.iter().filter(|e| e.in_ledger()).collect();
        let rows = q.sorted(rows, |e| (e.created_time, e.impact_time));
        Ok(Value::Array(rows.iter().map(|e| ledger_entry_json(account, acct, Some(&s.close), e, q)).collect()))
    }

    /// `GET /credit/accounts/{account_token}/ledgerentries` (named by page
    /// 003's webhook section as where ledger entry tokens are listed): every
    /// ledger entry of the account, of its closed statements and of its open
    /// cycle, in the list envelope of the other lists (`count`,
    /// `start_index`, `sort_by`, `expand`; `start_date` / `end_date` bound
    /// the entry's local date, inclusive).
    pub fn account_ledger_entries(&self, account: &str, q: &Query) -> Result<Value, StatementsQueryError> {
        let acct = self.account(account)?;
        let closed = acct.statements.iter().flat_map(|s| s.entries.iter().map(move |e| (Some(&s.close), e)));
        let open = acct.open_entries.iter().map(|e| (None, e));
        let rows: Vec<(Option<&CycleClose>, &EntryRow)> = closed
            .chain(open)
            .filter(|(_, e)| e.in_ledger())
            .filter(|(_, e)| !matches!(q.start_date, Some(d) if d > e.local_date))
            .filter(|(_, e)| !matches!(q.end_date, Some(d) if e.local_date > d))
            .collect();
        let rows = q.sorted(rows, |(_, e)| (e.created_time, e.impact_time));
        Ok(q.page(rows.iter().map(|(c, e)| ledger_entry_json(account, acct, *c, e, q)).collect()))
    }

    /// `GET …/statements/{token}/yeartodate`.
    pub fn year_to_date(&self, account: &str, statement: &str) -> Result<Value, StatementsQueryError> {
        let s = self.account(account)?.statement(statement)?;
        let c = &s.close;
        Ok(json!({
            "token": cycle::derived_token(&["yeartodate", &c.statement_token]),
            "account_token": account,
            "statement_token": c.statement_token,
            "total_fees": c.ytd_fees.to_json(),
            "total_interest": c.ytd_interest.to_json(),
            "created_time": ts(s.created_time),
        }))
    }

    /// `GET …/statements/{token}/rewards`.
    pub fn rewards(&self, account: &str, statement: &str) -> Result<Value, StatementsQueryError> {
        let s = self.account(account)?.statement(statement)?;
        let c = &s.close;
        Ok(json!({
            "token": cycle::derived_token(&["reward", &c.statement_token]),
            "previous_billing_cycle_reward": c.previous_reward.to_json(),
            "current_billing_cycle_reward": c.reward.to_json(),
            "created_time": ts(s.created_time),
        }))
    }

    /// `GET …/statements/{token}/files`: one STATEMENT_PDF listing per
    /// statement; no file is generated, so `signed_url` is null.
    pub fn statement_files(&self, account: &str, statement: &str, q: &Query) -> Result<Value, StatementsQueryError> {
        let s = self.account(account)?.statement(statement)?;
        Ok(q.page(vec![file_json(account, &s.close)]))
    }

    /// `GET /credit/accounts/{account_token}/statements/files`: date filters
    /// (closing date within start_date..end_date), `sort_by`, paging.
    pub fn account_files(&self, account: &str, q: &Query) -> Result<Value, StatementsQueryError> {
        let acct = self.account(account)?;
        let tz = zone::parse(&acct.timezone).unwrap_or(cycle::DEFAULT_ZONE);
        let rows: Vec<&StatementRow> =
            acct.statements.iter().filter(|s| q.matches_range(tz, s.close.closing_date)).collect();
        let rows = q.sorted(rows, |s| (s.created_time, s.close.opening_date));
        Ok(q.page(rows.iter().map(|s| file_json(account, &s.close)).collect()))
    }

    /// The account's delinquency state now: after its last statement and
    /// the payments and credits since, with buckets newest first.
    pub fn delinquency_state(&self, account: &str) -> Result<Value, StatementsQueryError> {
        let acct = self.account(account)?;
        let at = acct.last_close;
        let d = acct.delinquency_now();
        let past: Vec<&Due> = acct.dues.iter().filter(|x| at.is_some_and(|t| x.due_date <= t)).collect();
        let mut buckets = Vec::new();
        let mut older = Money::ZERO;
        let mut list: Vec<(Money, &Due)> = Vec::new();
        for due in &past {
            list.push((older, due));
            older = older.plus(due.amount);
        }
        for (carried, due) in list.into_iter().rev() {
            buckets.push(json!({
                "payment_due_date": ts(due.due_date),
                "past_due_amount": due.amount.to_json(),
                "past_due_carried_forward": carried.to_json(),
            }));
        }
        Ok(json!({
            "account_token": account,
            "status": d.status(),
            "total_past_due": d.total_past_due.to_json(),
            "current_due": d.current_due.to_json(),
            "total_due": d.total_due().to_json(),
            "oldest_payment_due_date": d.oldest_payment_due_date.map(ts),
            "bucket_count": d.bucket_count,
            "buckets": buckets,
        }))
    }

    /// The account's delinquency transitions, with paging and `sort_by`.
    pub fn delinquency_transitions(&self, account: &str, q: &Query) -> Result<Value, StatementsQueryError> {
        let acct = self.account(account)?;
        let rows: Vec<&TransitionRow> = acct.transitions.iter().collect();
        let rows = q.sorted(rows, |t| (t.created_time, t.time));
        let data = rows.iter().map(|t| transition_json(account, t)).collect();
        Ok(q.page(data))
    }
}

/// A delinquency transition as the page shows it.
fn transition_json(account: &str, t: &TransitionRow) -> Value {
    json!({
                    "token": t.token,
                    "account_token": account,
                    "transition_trigger_reason": t.trigger,
                    "transition_trigger_time": ts(t.time),
                    "original_status": t.before.status(),
                    "status": t.after.status(),
                    "impact_time": ts(t.time),
                    "total_past_due": t.after.total_past_due.to_json(),
                    "current_due": t.after.current_due.to_json(),
                    "total_due": t.after.total_due().to_json(),
                    "oldest_payment_due_date": t.after.oldest_payment_due_date.map(ts),
                    "bucket_count": t.after.bucket_count,
                    "is_invalidated": false,
                    "created_time": ts(t.created_time),
                    "updated_time": ts(t.created_time),
    })
}

/// A statement summary (every field of the page, plus token,
/// account_token and created_time).
fn summary_json(c: &CycleClose, created: Timestamp) -> Value {
    json!({
        "token": c.statement_token,
        "account_token": c.account_token,
        "opening_balance": c.opening_balance.to_json(),
        "closing_balance": c.closing_balance.to_json(),
        "credit_limit": c.credit_limit.to_json(),
        "available_credit": c.available_credit.to_json(),
        "past_due_amount": c.past_due_amount.to_json(),
        "purchases": c.purchases.to_json(),
        "interest": c.interest.to_json(),
        "fees": c.fees.to_json(),
        "credits": c.credits.to_json(),
        "payments": c.payments.to_json(),
        "days_in_billing_cycle": c.days_in_billing_cycle,
        "cycle_type": c.cycle_type.name(),
        "opening_date": ts(c.opening_date),
        "closing_date": ts(c.closing_date),
        "created_time": ts(created),
    })
}

fn file_json(account: &str, c: &CycleClose) -> Value {
    json!({
        "token": cycle::derived_token(&["file", &c.statement_token]),
        "account_token": account,
        "statement_summary_token": c.statement_token,
        "opening_date": ts(c.opening_date),
        "closing_date": ts(c.closing_date),
        "signed_url": Value::Null,
        "type": "STATEMENT_PDF",
    })
}

/// A ledger entry: the journal entry's fields without `user_token`.
fn ledger_entry_json(
    account: &str,
    acct: &AccountStatements,
    close: Option<&CycleClose>,
    e: &EntryRow,
    q: &Query,
) -> Value {
    let mut v = entry_json(account, acct, close, e, q.expand_detail);
    if let Value::Object(o) = &mut v {
        o.remove("user_token");
    }
    v
}

/// A statement journal entry; `close` is its statement's (`None` for an
/// entry of the open cycle, which is never an interest or fee charge: those
/// are made by a close and filed in its statement).
fn entry_json(
    account: &str,
    acct: &AccountStatements,
    close: Option<&CycleClose>,
    e: &EntryRow,
    detail: bool,
) -> Value {
    let mut o = Map::new();
    o.insert("token".into(), e.token.as_str().into());
    if let Some(r) = &e.related_token {
        o.insert("related_token".into(), r.clone().into());
    }
    if let Some(r) = &e.root_token {
        o.insert("root_token".into(), r.clone().into());
    }
    o.insert("account_token".into(), account.into());
    o.insert("user_token".into(), acct.user_token.as_str().into());
    if let Some(c) = &e.card_token {
        o.insert("card_token".into(), c.clone().into());
    }
    o.insert("status".into(), e.status.clone().into());
    o.insert("group".into(), e.group.clone().into());
    o.insert("type".into(), e.kind.clone().into());
    o.insert("id".into(), short_id(&e.token).into());
    o.insert("amount".into(), e.amount.to_json());
    o.insert("currency_code".into(), "USD".into());
    if let Some(m) = &e.memo {
        o.insert("memo".into(), m.clone().into());
    }
    o.insert("request_time".into(), ts(e.request_time).into());
    o.insert("impact_time".into(), ts(e.impact_time).into());
    o.insert("created_time".into(), ts(e.created_time).into());
    let detail_token = cycle::derived_token(&["detail", &e.token]);
    o.insert("detail_token".into(), detail_token.as_str().into());
    if detail {
        let d = match (e.source, close) {
            (EntrySource::Interest, Some(c)) => json!({
                "token": detail_token,
                "account_token": account,
                "statement_token": c.statement_token,
                "statement_opening_date": ts(c.opening_date),
                "statement_closing_date": ts(c.closing_date),
                "statement_balance": c.closing_balance.to_json(),
                "average_daily_balance": c.average_daily_balance.to_json(),
                "goto_apr": rate_json(c.apr),
                "daily_periodic_rate": rate_json(c.daily_periodic_rate),
                "days_in_billing_cycle": c.days_in_billing_cycle,
                "interest_amount": e.amount.to_json(),
                "currency_code": "USD",
                "created_date": ts(e.created_time),
                "updated_date": ts(e.created_time),
            }),
            (EntrySource::LateFee, Some(c)) => json!({
                "token": detail_token,
                "account_token": account,
                "type": "LATE_PAYMENT_FEE",
                "method": "FLAT",
                "value": c.late_fee_value.to_json(),
                "currency_code": "USD",
                "amount": e.amount.to_json(),
                "applied_to_amount": Value::Null,
                "description": "Late Payment Fee",
                "created": ts(e.created_time),
            }),
            (EntrySource::Interest | EntrySource::LateFee, None) => {
                unreachable!("a charge entry {} outside a statement: closes file their charges", e.token)
            }
            (EntrySource::Command, _) => json!({
                "type": e.kind,
                "state": "COMPLETION",
                "token": detail_token,
                "user_token": acct.user_token,
                "acting_user_token": e.acting_user_token.clone().unwrap_or_else(|| acct.user_token.clone()),
                "card_token": e.card_token,
                "preceding_related_transaction_token": e.related_token,
                "amount": e.amount.to_json(),
                "currency_code": "USD",
                "created_time": ts(e.created_time),
            }),
        };
        o.insert("detail_object".into(), d);
    }
    Value::Object(o)
}

/// The eight-digit `id` of a journal entry, derived from its token.
fn short_id(token: &str) -> String {
    let h = blake3_u64(token);
    format!("{:08}", h % 100_000_000)
}

fn blake3_u64(text: &str) -> u64 {
    let t = cycle::derived_token(&["id", text]);
    u64::from_str_radix(t.get(0..8).unwrap_or("0"), 16).unwrap_or(0)
}
