//! The source page's read endpoints as library calls: retrieve an order or
//! unload by token, list unloads with filters and paging, and holder balances.

use serde_json::{json, Map, Value};

use cardledger_domain::command::{Holder, JeTarget, Token};
use cardledger_domain::event::{Account, Event};
use cardledger_domain::rejection::{Code, Rejection};
use cardledger_domain::response;
use cardledger_domain::state::{Book, Ledger};

use crate::engine::{Engine, EngineError};

/// Most records one list call returns: the Core API's page maximum.
pub use cardledger_domain::limits::PAGE_COUNT_MAX as LIST_COUNT_MAX;
/// Records a list call returns by default.
pub const LIST_COUNT_DEFAULT: usize = 5;

/// Kinds `get` answers: the order kinds and the set-up kinds.
pub const GET_KINDS: &[&str] = &[
    "gpa_order",
    "gpa_unload",
    "msa_order",
    "msa_unload",
    "offer_order",
    "program",
    "user",
    "business",
    "funding_source",
    "funding_source_address",
    "fee",
    "campaign",
    "merchant",
    "offer",
    "credit_account",
    "fee_transfer",
    "journal_entry",
    "program_deposit",
];

/// One kind `list` answers: its name, the token-index kind its records
/// are registered under, the filters it takes, and (merchants) which of
/// those records it keeps.
#[derive(Clone, Copy, Debug)]
pub struct ListKind {
    /// The kind's name (`list KIND`).
    pub name: &'static str,
    /// Its records' kind in the token index.
    pub token_kind: &'static str,
    /// The filter parameters it takes.
    pub filters: &'static [&'static str],
    /// Keeps only the records whose event passes (none: all).
    only: Option<fn(&Event) -> bool>,
}

const HOLDER: [&str; 3] = ["user_token", "business_token", "program_token"];

/// Every kind `list` answers, with its filters: the source pages' (004:
/// unloads by `user_token`, `business_token`, `original_order_token`) and,
/// where the pages are silent, the references each record carries
/// (`docs/commands.md` "Lists").
pub const LIST_KINDS: &[ListKind] = &[
    ListKind { name: "users", token_kind: "user", filters: &["program_token"], only: None },
    ListKind { name: "businesses", token_kind: "business", filters: &["program_token"], only: None },
    ListKind { name: "funding_sources", token_kind: "funding_source", filters: &HOLDER, only: None },
    ListKind { name: "funding_source_addresses", token_kind: "funding_source_address", filters: &HOLDER, only: None },
    ListKind { name: "fees", token_kind: "fee", filters: &[], only: None },
    ListKind { name: "campaigns", token_kind: "campaign", filters: &[], only: None },
    ListKind {
        name: "merchants",
        token_kind: "campaign",
        filters: &[],
        only: Some(|e| matches!(e, Event::MerchantCreated(_))),
    },
    ListKind { name: "offers", token_kind: "offer", filters: &["campaign_token"], only: None },
    ListKind {
        name: "gpa_orders",
        token_kind: "gpa_order",
        filters: &["user_token", "business_token", "program_token", "funding_source_token"],
        only: None,
    },
    ListKind {
        name: "msa_orders",
        token_kind: "msa_order",
        filters: &["user_token", "business_token", "program_token", "campaign_token", "funding_source_token"],
        only: None,
    },
    ListKind {
        name: "offer_orders",
        token_kind: "offer_order",
        filters: &[
            "user_token",
            "business_token",
            "program_token",
            "offer_token",
            "campaign_token",
            "funding_source_token",
        ],
        only: None,
    },
    ListKind {
        name: "gpa_unloads",
        token_kind: "gpa_unload",
        filters: &["user_token", "business_token", "original_order_token", "program_token"],
        only: None,
    },
    ListKind {
        name: "msa_unloads",
        token_kind: "msa_unload",
        filters: &["user_token", "business_token", "original_order_token", "program_token"],
        only: None,
    },
    ListKind { name: "fee_transfers", token_kind: "fee_transfer", filters: &HOLDER, only: None },
    ListKind {
        name: "journal_entries",
        token_kind: "journal_entry",
        filters: &["user_token", "business_token", "account_token", "program_token"],
        only: None,
    },
    ListKind {
        name: "credit_accounts",
        token_kind: "credit_account",
        filters: &["user_token", "program_token"],
        only: None,
    },
    ListKind { name: "program_deposits", token_kind: "program_deposit", filters: &["program_token"], only: None },
];

/// What a list filter matches: the references of one record.
#[derive(Debug, Default, PartialEq, Eq)]
struct Keys {
    holder: Option<Holder>,
    program: Option<Token>,
    order: Option<Token>,
    campaign: Option<Token>,
    offer: Option<Token>,
    account: Option<Token>,
    funding_source: Option<Token>,
}

impl Keys {
    /// Sets a filter; false when it contradicts one set before (a user and
    /// a business).
    fn set(&mut self, filter: &str, v: &str) -> bool {
        let slot = match filter {
            "user_token" | "business_token" => {
                let h = if filter == "user_token" { Holder::User(v.into()) } else { Holder::Business(v.into()) };
                if self.holder.as_ref().is_some_and(|old| std::mem::discriminant(old) != std::mem::discriminant(&h)) {
                    return false;
                }
                self.holder = Some(h);
                return true;
            }
            "program_token" => &mut self.program,
            "original_order_token" => &mut self.order,
            "campaign_token" => &mut self.campaign,
            "offer_token" => &mut self.offer,
            "account_token" => &mut self.account,
            "funding_source_token" => &mut self.funding_source,
            other => unreachable!("filter {other:?} is in LIST_KINDS but has no key"),
        };
        *slot = Some(v.into());
        true
    }

    fn is_empty(&self) -> bool {
        *self == Keys::default()
    }

    /// Every key set in `self` (the wanted ones) equals the record's.
    fn matches(&self, record: &Keys) -> bool {
        fn eq<T: PartialEq>(want: &Option<T>, have: &Option<T>) -> bool {
            want.is_none() || want == have
        }
        eq(&self.holder, &record.holder)
            && eq(&self.program, &record.program)
            && eq(&self.order, &record.order)
            && eq(&self.campaign, &record.campaign)
            && eq(&self.offer, &record.offer)
            && eq(&self.account, &record.account)
            && eq(&self.funding_source, &record.funding_source)
    }

    /// The references an event's record carries; the program is the
    /// event's own, else its holder's or funding source's.
    fn of(e: &Event, state: &Ledger) -> Keys {
        let mut k = Keys::default();
        match e {
            Event::UserCreated(c) | Event::BusinessCreated(c) => k.program = Some(c.program_token.clone()),
            Event::FundingSourceCreated { cmd, program_token } => {
                k.holder = cmd.holder.clone();
                k.program = Some(program_token.clone());
            }
            Event::FundingSourceAddressCreated(c) => {
                k.funding_source = Some(c.funding_source_token.clone());
                if let Some(f) = state.funding_sources.get(&c.funding_source_token) {
                    k.holder = f.cmd.holder.clone();
                    k.program = Some(f.program_token.clone());
                }
            }
            Event::OfferCreated(c) => k.campaign = Some(c.campaign_token.clone()),
            Event::CreditAccountOpened(c) => {
                k.holder = Some(Holder::User(c.user_token.clone()));
                k.program = Some(c.program_token.clone());
            }
            // the source that paid, named or resolved
            Event::GpaOrdered(e) => {
                k.holder = Some(e.cmd.holder.clone());
                k.funding_source = Some(e.funding.source_token.clone());
                k.program = Some(e.funding.program_token.clone());
            }
            Event::MsaOrdered(e) => {
                k.holder = Some(e.cmd.holder.clone());
                k.campaign = Some(e.cmd.campaign_token.clone());
                k.funding_source = Some(e.funding.source_token.clone());
                k.program = Some(e.funding.program_token.clone());
            }
            Event::OfferOrdered(e) => {
                k.holder = Some(e.cmd.holder.clone());
                k.offer = Some(e.cmd.offer_token.clone());
                k.campaign = Some(e.campaign_token.clone());
                k.funding_source = Some(e.funding.source_token.clone());
                k.program = Some(e.funding.program_token.clone());
            }
            Event::GpaUnloaded(e) => {
                k.holder = Some(e.holder.clone());
                k.order = Some(e.cmd.original_order_token.clone());
            }
            Event::MsaUnloaded(e) => {
                k.holder = Some(e.holder.clone());
                k.order = Some(e.cmd.original_order_token.clone());
                k.campaign = Some(e.campaign_token.clone());
            }
            Event::FeeTransferred(e) => {
                k.holder = Some(e.cmd.holder.clone());
                k.program = Some(e.program_token.clone());
            }
            Event::JournalEntryRecorded(e) => {
                match &e.cmd.target {
                    JeTarget::Gpa(h) => k.holder = Some(h.clone()),
                    JeTarget::Credit(a) => k.account = Some(a.clone()),
                }
                k.program = Some(e.program_token.clone());
            }
            Event::ProgramDeposited(c) => k.program = Some(c.program_token.clone()),
            Event::ProgramCreated(_)
            | Event::FeeCreated(_)
            | Event::CampaignCreated(_)
            | Event::MerchantCreated(_)
            | Event::MsaOrderUpdated(_)
            | Event::Ticked(_)
            | Event::CyclesClosed(_) => {}
        }
        if k.program.is_none() {
            if let Some(h) = &k.holder {
                k.program = state.holders.get(h).map(|(p, _)| p.clone());
            }
        }
        k
    }
}

/// A read failed: bad parameters (a rejection) or the engine.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// Bad request.
    #[error("{0}")]
    Rejected(Rejection),
    /// Engine failure.
    #[error(transparent)]
    Engine(#[from] EngineError),
}

impl Engine {
    /// Retrieves one resource as the source page returns it; `None` when no
    /// such token exists for that kind.
    pub fn get(&self, kind: &str, token: &str) -> Result<Option<Value>, ReadError> {
        self.get_in(&self.state(), kind, token)
    }

    /// [`Engine::get`] against `state` (the live state or one as of a past
    /// seq: [`Engine::state_as_of`]).
    pub fn get_in(&self, state: &Ledger, kind: &str, token: &str) -> Result<Option<Value>, ReadError> {
        if !GET_KINDS.contains(&kind) {
            return Err(ReadError::Rejected(Rejection::new(
                Code::InvalidValue,
                "kind",
                format!("{kind:?} is not one of {}", GET_KINDS.join(", ")),
            )));
        }
        let index_kind = if kind == "merchant" { "campaign" } else { kind };
        let found = state.recorded_token(index_kind, token);
        if let Some(why) = state.cold_failure() {
            return Err(ReadError::Engine(EngineError::Corrupt { seq: 0, reason: why }));
        }
        let Some((seq, _)) = found else { return Ok(None) };
        let Some(entry) = self.event(seq)? else { return Ok(None) };
        let v = if kind == "msa_order" {
            response::msa_order_now(token, state).unwrap_or_else(|| response::response(&entry.rec, state))
        } else {
            response::response(&entry.rec, state)
        };
        if let Some(why) = state.cold_failure() {
            return Err(ReadError::Engine(EngineError::Corrupt { seq, reason: why }));
        }
        Ok(Some(v))
    }

    /// Lists a kind with the Core API's conventions: `count` (1 to
    /// [`LIST_COUNT_MAX`], default [`LIST_COUNT_DEFAULT`]), `start_index`,
    /// `fields` and `sort_by` (`createdTime`, `-createdTime`,
    /// `lastModifiedTime`, `-lastModifiedTime`; default `-lastModifiedTime`,
    /// newest first), and the filters of [`LIST_KINDS`] (each kind's own;
    /// `user_token` and `business_token` exclude each other). A parameter a
    /// kind does not take is refused with the parameter named.
    /// Answers `{count, start_index, end_index, is_more, data}`.
    ///
    /// One machinery for every kind: the candidates are the kind's tokens
    /// in the token index, in log (creation) order; a filter reads the log
    /// once from the kind's first record and matches each candidate's
    /// event, an unfiltered list reads only the page.
    pub fn list(&self, kind: &str, params: &[(String, String)]) -> Result<Value, ReadError> {
        self.list_in(&self.state(), kind, params)
    }

    /// [`Engine::list`] against `state` (the live state or one as of a past
    /// seq).
    pub fn list_in(&self, state: &Ledger, kind: &str, params: &[(String, String)]) -> Result<Value, ReadError> {
        let bad = |field: &str, what: String| ReadError::Rejected(Rejection::new(Code::InvalidValue, field, what));
        let Some(spec) = LIST_KINDS.iter().find(|s| s.name == kind) else {
            let names: Vec<&str> = LIST_KINDS.iter().map(|s| s.name).collect();
            return Err(bad("kind", format!("{kind:?} is not one of {}", names.join(", "))));
        };
        let mut count = LIST_COUNT_DEFAULT;
        let mut start = 0usize;
        let mut fields: Option<Vec<String>> = None;
        let mut by_modified = true;
        let mut descending = true;
        let mut want = Keys::default();
        for (k, v) in params {
            match k.as_str() {
                "count" => {
                    count = v
                        .parse()
                        .ok()
                        .filter(|c| (1..=LIST_COUNT_MAX).contains(c))
                        .ok_or_else(|| bad("count", format!("must be 1 to {LIST_COUNT_MAX}; got {v:?}")))?
                }
                "start_index" => {
                    start = v.parse().map_err(|_| bad("start_index", format!("must be a whole number; got {v:?}")))?
                }
                "fields" => {
                    fields = Some(v.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect())
                }
                "sort_by" => {
                    (by_modified, descending) = match v.as_str() {
                        "createdTime" => (false, false),
                        "-createdTime" => (false, true),
                        "lastModifiedTime" => (true, false),
                        "-lastModifiedTime" => (true, true),
                        other => {
                            return Err(bad(
                                "sort_by",
                                format!(
                                    "{other:?} is not one of createdTime, -createdTime, lastModifiedTime, \
                                     -lastModifiedTime"
                                ),
                            ))
                        }
                    }
                }
                filter if spec.filters.contains(&filter) => {
                    if v.is_empty() {
                        return Err(ReadError::Rejected(Rejection::new(
                            Code::TokenLength,
                            filter,
                            "must not be empty".to_string(),
                        )));
                    }
                    if !want.set(filter, v) {
                        return Err(ReadError::Rejected(Rejection::new(
                            Code::HolderChoice,
                            filter,
                            "user_token and business_token exclude each other".to_string(),
                        )));
                    }
                }
                other => {
                    return Err(ReadError::Rejected(Rejection::new(
                        Code::UnknownField,
                        other,
                        format!(
                            "{other:?} is not a parameter of list {kind} (filters: {})",
                            if spec.filters.is_empty() { "none".to_string() } else { spec.filters.join(", ") }
                        ),
                    )))
                }
            }
        }
        // candidates: the kind's tokens (cold ones included), in log order,
        // with their last change
        let mut rows: Vec<(u64, i64, String)> = {
            let mut rows: Vec<(u64, i64, String)> = state
                .tokens_of(spec.token_kind)
                .into_iter()
                .map(|(token, (seq, _))| {
                    let modified = if spec.name == "msa_orders" && by_modified {
                        state.order(Book::Msa, &token).map_or(0, |o| o.last_modified.0)
                    } else {
                        0
                    };
                    (seq, modified, token)
                })
                .collect();
            rows.sort_unstable_by_key(|(seq, _, _)| *seq);
            rows
        };
        if let Some(why) = state.cold_failure() {
            return Err(ReadError::Engine(EngineError::Corrupt { seq: 0, reason: why }));
        }
        if (!want.is_empty() || spec.only.is_some()) && !rows.is_empty() {
            // one pass over the log from the first candidate: records are
            // stored in multi-record frames, so reading each by seq would
            // decode its whole frame again
            let mut kept = Vec::with_capacity(rows.len());
            let mut pending = rows.into_iter().peekable();
            let first = pending.peek().map_or(1, |r| r.0);
            for entry in self.events_from(first) {
                let entry = entry?;
                let Some(row) = pending.next_if(|r| r.0 == entry.rec.seq) else { continue };
                let event = &entry.rec.fact.event;
                if spec.only.is_some_and(|only| !only(event)) {
                    continue;
                }
                if want.is_empty() || want.matches(&Keys::of(event, state)) {
                    kept.push(row);
                }
                if pending.peek().is_none() {
                    break;
                }
            }
            if let Some(row) = pending.next() {
                unreachable!("{} {:?} is in the token index at seq {} past the log", spec.token_kind, row.2, row.0)
            }
            rows = kept;
        }
        // modification times differ from creation only for MSA orders (updates)
        if spec.name == "msa_orders" && by_modified {
            rows.sort_by_key(|(seq, modified, _)| (*modified, *seq));
        }
        if descending {
            rows.reverse();
        }
        let total = rows.len();
        let mut data = Vec::new();
        for (seq, _, token) in rows.iter().skip(start).take(count) {
            let Some(entry) = self.event(*seq)? else {
                unreachable!("{} {token:?} is in the token index at seq {seq} past the head", spec.token_kind)
            };
            let mut item = if spec.name == "msa_orders" {
                response::msa_order_now(token, state).unwrap_or_else(|| response::response(&entry.rec, state))
            } else {
                response::response(&entry.rec, state)
            };
            if let (Some(f), Value::Object(obj)) = (&fields, &mut item) {
                obj.retain(|k, _| f.contains(k));
            }
            data.push(item);
        }
        let n = data.len();
        Ok(json!({
            "count": n,
            "start_index": start,
            "end_index": if n == 0 { start } else { start + n - 1 },
            "is_more": start.saturating_add(n) < total,
            "data": data,
        }))
    }

    /// A holder's GPA and MSA balances: `{gpa: {...}, msas: [{campaign_token, ...}]}`.
    pub fn balances(&self, holder: &Holder) -> Option<Value> {
        balances_in(&self.state(), holder)
    }

    /// A credit account's balance between statements: `{account_token,
    /// user_token, program_token, currency_code, credit_limit,
    /// current_balance (owed; negative is a credit balance), pending_holds,
    /// available_credit (limit − owed − holds; negative when over the
    /// limit), open_cycle
    /// {start_date, end_date, closing_time, opening_balance, purchases,
    /// refunds, credits, payments, fees, interest}, statements_closed,
    /// delinquency {total_past_due, current_due, oldest_payment_due_date,
    /// bucket_count}}`; `None` for an unknown account.
    pub fn credit_balance(&self, account: &str) -> Option<Value> {
        let state = self.state();
        let (cmd, _) = state.credit_accounts.get(account)?;
        let Some(cycle) = state.cycles.get(account) else {
            unreachable!("credit account {account:?} has no cycle accumulators")
        };
        let target = JeTarget::Credit(account.into());
        let owed = -state.balance(&Account::Credit(account.into()));
        let holds = state.holds_of(&target);
        let open = cycle.open_cycle();
        let d = cycle.delinquency;
        Some(json!({
            "account_token": account,
            "user_token": cmd.user_token,
            "program_token": cmd.program_token,
            "currency_code": "USD",
            "credit_limit": cmd.credit_limit.to_json(),
            "current_balance": owed.to_json(),
            "pending_holds": holds.to_json(),
            "available_credit": state.available(&target).to_json(),
            "statements_closed": cycle.closed,
            "open_cycle": {
                "start_date": open.start.to_string(),
                "end_date": open.end.to_string(),
                "closing_time": open.closes_at.to_string(),
                "opening_balance": cycle.opening.total().to_json(),
                "purchases": open.purchases.to_json(),
                "refunds": open.refunds.to_json(),
                "credits": open.credits.to_json(),
                "payments": open.payments.to_json(),
                "fees": open.fees.to_json(),
                "interest": open.interest.to_json(),
            },
            "delinquency": {
                "total_past_due": d.total_past_due.to_json(),
                "current_due": d.current_due.to_json(),
                "oldest_payment_due_date": d.oldest_payment_due_date.map(|t| t.to_string()),
                "bucket_count": d.bucket_count,
            },
        }))
    }
}

/// [`Engine::balances`] against `state` (the live state or one as of a
/// past seq).
pub fn balances_in(state: &Ledger, holder: &Holder) -> Option<Value> {
    if !state.holders.contains_key(holder) {
        return None;
    }
    // product.md §4: a balance and its nested per-currency balance carry
    // `last_updated_time`
    let with_time = |b: &cardledger_domain::state::Balances| {
        let mut v = response::balances_json(b, true, true);
        if let (Value::Object(o), Some(t)) = (&mut v, b.last_updated_time) {
            let t = Value::String(t.to_string());
            if let Some(Value::Object(usd)) = o.get_mut("balances").and_then(|n| n.get_mut("USD")) {
                usd.insert("last_updated_time".into(), t.clone());
            }
            o.insert("last_updated_time".into(), t);
        }
        v
    };
    let gpa = with_time(&state.gpa_balances(holder));
    let msas: Vec<Value> = state
        .msa_campaigns
        .get(holder)
        .map(|cs| {
            cs.iter()
                .map(|c| {
                    let mut b = with_time(&state.msa_balances(holder, c));
                    if let Value::Object(o) = &mut b {
                        o.insert("campaign_token".into(), c.as_str().into());
                    }
                    b
                })
                .collect()
        })
        .unwrap_or_default();
    let mut o = Map::new();
    o.insert(holder.field().into(), holder.token().into());
    o.insert("gpa".into(), gpa);
    o.insert("msas".into(), Value::Array(msas));
    Some(Value::Object(o))
}
