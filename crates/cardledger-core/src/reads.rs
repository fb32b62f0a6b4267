//! The source page's read endpoints as library calls: retrieve an order or
//! unload by token, list unloads with filters and paging, and holder balances.

use serde_json::{json, Map, Value};

use cardledger_domain::command::Holder;
use cardledger_domain::rejection::{Code, Rejection};
use cardledger_domain::response;
use cardledger_domain::state::{Book, Ledger, UnloadState};

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

    /// Lists a kind with the Core API's conventions: `count`,
    /// `start_index`, `fields` and `sort_by` (`createdTime`, `-createdTime`,
    /// `lastModifiedTime`, `-lastModifiedTime`; default `-lastModifiedTime`,
    /// newest first). Kinds and their filters:
    /// - `gpa_unloads`, `msa_unloads`: `user_token`, `business_token`,
    ///   `original_order_token`;
    /// - `users`, `businesses`: `program_token`;
    /// - `funding_sources`, `funding_source_addresses`: `user_token` or
    ///   `business_token` (the owning holder; `/fundingsources/user/{token}`),
    ///   `program_token`.
    ///
    /// A filter a kind does not take is refused with the parameter named.
    /// Answers `{count, start_index, end_index, is_more, data}`.
    pub fn list(&self, kind: &str, params: &[(String, String)]) -> Result<Value, ReadError> {
        self.list_in(&self.state(), kind, params)
    }

    /// [`Engine::list`] against `state` (the live state or one as of a past
    /// seq).
    pub fn list_in(&self, state: &Ledger, kind: &str, params: &[(String, String)]) -> Result<Value, ReadError> {
        let bad = |field: &str, what: String| ReadError::Rejected(Rejection::new(Code::InvalidValue, field, what));
        let mut count = LIST_COUNT_DEFAULT;
        let mut start = 0usize;
        let mut fields: Option<Vec<String>> = None;
        let mut descending = true;
        let mut holder: Option<Holder> = None;
        let mut order: Option<String> = None;
        let mut program: Option<String> = None;
        let filters: &[&str] = match kind {
            "gpa_unloads" | "msa_unloads" => &["user_token", "business_token", "original_order_token"],
            "users" | "businesses" => &["program_token"],
            "funding_sources" | "funding_source_addresses" => &["user_token", "business_token", "program_token"],
            other => {
                return Err(bad(
                    "kind",
                    format!(
                        "{other:?} is not one of gpa_unloads, msa_unloads, users, businesses, funding_sources, \
                         funding_source_addresses"
                    ),
                ))
            }
        };
        for (k, v) in params {
            if k.ends_with("_token") && !filters.contains(&k.as_str()) {
                return Err(ReadError::Rejected(Rejection::new(
                    Code::UnknownField,
                    k.as_str(),
                    format!("{k:?} is not a parameter of list {kind}"),
                )));
            }
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
                    descending = match v.as_str() {
                        "createdTime" | "lastModifiedTime" => false,
                        "-createdTime" | "-lastModifiedTime" => true,
                        other => {
                            return Err(bad(
                                "sort_by",
                                format!(
                            "{other:?} is not one of createdTime, -createdTime, lastModifiedTime, -lastModifiedTime"
                        ),
                            ))
                        }
                    }
                }
                "user_token" => holder = Some(Holder::User(v.clone())),
                "business_token" => holder = Some(Holder::Business(v.clone())),
                "original_order_token" => order = Some(v.clone()),
                "program_token" => program = Some(v.clone()),
                other => {
                    return Err(ReadError::Rejected(Rejection::new(
                        Code::UnknownField,
                        other,
                        format!("{other:?} is not a parameter of list {kind}"),
                    )))
                }
            }
        }
        let seqs: Vec<u64> = {
            // every entity in the state was recorded under its token
            let recorded = |token_kind: &str, token: &str| {
                let Some((seq, _)) = state.recorded_token(token_kind, token) else {
                    unreachable!("{token_kind} {token:?} is in the state but not in the token index")
                };
                seq
            };
            let in_program = |p: &str| program.as_deref().is_none_or(|want| want == p);
            let of_holder = |h: Option<&Holder>| holder.as_ref().is_none_or(|want| h == Some(want));
            let mut v: Vec<u64> = match kind {
                "gpa_unloads" | "msa_unloads" => {
                    let all: Vec<UnloadState> =
                        state.unloads(if kind == "gpa_unloads" { Book::Gpa } else { Book::Msa });
                    all.iter()
                        .filter(|u| holder.as_ref().is_none_or(|h| &u.holder == h))
                        .filter(|u| order.as_ref().is_none_or(|o| &u.original_order_token == o))
                        .map(|u| u.seq)
                        .collect()
                }
                "users" | "businesses" => state
                    .holders
                    .iter()
                    .filter(|(h, _)| matches!(h, Holder::User(_)) == (kind == "users"))
                    .filter(|(_, (p, _))| in_program(p))
                    .map(|(h, _)| recorded(if kind == "users" { "user" } else { "business" }, h.token()))
                    .collect(),
                "funding_sources" => state
                    .funding_sources
                    .iter()
                    .filter(|(_, f)| in_program(&f.program_token) && of_holder(f.cmd.holder.as_ref()))
                    .map(|(token, _)| recorded("funding_source", token))
                    .collect(),
                _ => state
                    .addresses
                    .iter()
                    .filter(|(_, (source, _))| {
                        let Some(f) = state.funding_sources.get(source) else {
                            unreachable!("address of an unknown funding source {source:?}")
                        };
                        in_program(&f.program_token) && of_holder(f.cmd.holder.as_ref())
                    })
                    .map(|(token, _)| recorded("funding_source_address", token))
                    .collect(),
            };
            // log order is creation order
            v.sort_unstable();
            if descending {
                v.reverse();
            }
            v
        };
        if let Some(why) = self.state().cold_failure() {
            return Err(ReadError::Engine(EngineError::Corrupt { seq: 0, reason: why }));
        }
        let page: Vec<u64> = seqs.iter().skip(start).take(count).copied().collect();
        let mut data = Vec::with_capacity(page.len());
        for seq in &page {
            let Some(entry) = self.event(*seq)? else { continue };
            let mut item = response::response(&entry.rec, state);
            if let (Some(f), Value::Object(obj)) = (&fields, &mut item) {
                let kept: Map<String, Value> =
                    obj.iter().filter(|(k, _)| f.contains(k)).map(|(k, v)| (k.clone(), v.clone())).collect();
                *obj = kept;
            }
            data.push(item);
        }
        let n = data.len();
        Ok(json!({
            "count": n,
            "start_index": start,
            "end_index": if n == 0 { start } else { start + n - 1 },
            "is_more": start + n < seqs.len(),
            "data": data,
        }))
    }

    /// A holder's GPA and MSA balances: `{gpa: {...}, msas: [{campaign_token, ...}]}`.
    pub fn balances(&self, holder: &Holder) -> Option<Value> {
        balances_in(&self.state(), holder)
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
                        o.insert("campaign_token".into(), c.clone().into());
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
