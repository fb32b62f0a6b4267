//! The `serde_json::Value` renderer the byte writer replaced (issue 13), kept
//! verbatim (paths aside) as the oracle of `tests/response_oracle.rs`.
#![allow(dead_code)]

use serde_json::{json, Map, Value};

use cardledger_domain::command::{FundingKind, Holder};
use cardledger_domain::event::*;
use cardledger_domain::money::Money;
use cardledger_domain::state::{Balances, Ledger};
use cardledger_domain::time::Timestamp;

/// Masks a funding source token: ten `*` then its last four characters.
pub fn mask(token: &str) -> String {
    let chars: Vec<char> = token.chars().collect();
    let tail: String = chars.iter().skip(chars.len().saturating_sub(4)).collect();
    format!("**********{tail}")
}

fn approved() -> Value {
    json!({"code": "0000", "memo": "Approved or completed successfully"})
}

fn funding_json(ledger: &Ledger, funding: &Funding, amount: Money) -> Value {
    let fs = ledger.funding_sources.get(&funding.source_token);
    let created = fs.map(|f| f.created.to_string()).unwrap_or_default();
    json!({
        "amount": amount.to_json(),
        "source": {
            "type": funding.kind.name(),
            "token": mask(&funding.source_token),
            "active": fs.map(|f| f.cmd.active).unwrap_or(true),
            "name": fs.map(|f| f.cmd.name.clone()).unwrap_or_default(),
            "is_default_account": fs.map(|f| f.cmd.is_default_account).unwrap_or(false),
            "created_time": created,
            "last_modified_time": created,
        }
    })
}

/// The fee resource an order's `fees` item nests in full (product.md §4,
/// the published Core API schema): the fee as created. A charged fee always
/// names a created fee (`decide` checks it), and fees are never removed.
fn fee_resource_json(ledger: &Ledger, token: &str) -> Value {
    let Some((c, created)) = ledger.fees.get(token) else {
        unreachable!("order charged fee {token:?}, which the ledger does not hold")
    };
    let created = created.to_string();
    json!({"token": c.token, "name": c.name, "amount": c.amount.to_json(), "tags": Value::Null,
        "created_time": created, "last_modified_time": created, "active": c.active,
        "currency_code": c.currency_code.alpha()})
}

/// A program funding source's `account` (product.md §4): a 12-digit account
/// number derived from its token (blake3, first 8 bytes, modulo 10^12), so
/// the same token always shows the same number and nothing is random.
pub fn program_account_number(token: &str) -> String {
    let h = blake3::hash(token.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&h.as_bytes()[..8]);
    format!("{:012}", u64::from_be_bytes(first) % 1_000_000_000_000)
}

fn holder_field(obj: &mut Map<String, Value>, h: &Holder) {
    obj.insert(h.field().to_string(), Value::String(h.token().to_string()));
}

/// The balances object of the source pages, with the nested `balances {USD: …}`.
pub fn balances_json(b: &Balances, with_impacted: bool, nested: bool) -> Value {
    let mut inner = Map::new();
    inner.insert("currency_code".into(), "USD".into());
    inner.insert("ledger_balance".into(), b.ledger_balance.to_json());
    inner.insert("available_balance".into(), b.available_balance.to_json());
    inner.insert("credit_balance".into(), b.credit_balance.to_json());
    inner.insert("pending_credits".into(), b.pending_credits.to_json());
    if with_impacted {
        inner.insert("impacted_amount".into(), b.impacted_amount.to_json());
    }
    let mut outer = inner.clone();
    if nested {
        outer.insert("balances".into(), json!({ "USD": Value::Object(inner) }));
    }
    Value::Object(outer)
}

fn msa(b: MsaBalance, impacted: Money) -> Balances {
    Balances {
        ledger_balance: b.ledger,
        available_balance: b.ledger.plus(b.credit),
        credit_balance: b.credit,
        pending_credits: Money::ZERO,
        impacted_amount: impacted,
        last_updated_time: None,
    }
}

/// The response of a recorded event, as the command that caused it returned it.
pub fn response(rec: &Recorded, ledger: &Ledger) -> Value {
    let t = rec.time.to_string();
    let tx = rec.transaction_token();
    match &rec.fact.event {
        Event::GpaOrdered(e) => {
            let fees: Money = e.fees.iter().map(|f| f.amount).sum();
            let mut o = Map::new();
            o.insert("token".into(), e.cmd.token.as_str().into());
            o.insert("amount".into(), e.cmd.amount.to_json());
            o.insert("created_time".into(), t.clone().into());
            o.insert("last_modified_time".into(), t.into());
            o.insert("transaction_token".into(), tx.into());
            o.insert("state".into(), "COMPLETION".into());
            o.insert("response".into(), approved());
            o.insert("funding".into(), funding_json(ledger, &e.funding, e.cmd.amount.plus(fees)));
            o.insert("funding_source_token".into(), mask(&e.funding.source_token).into());
            holder_field(&mut o, &e.cmd.holder);
            o.insert("currency_code".into(), "USD".into());
            if !e.fees.is_empty() {
                let list: Vec<Value> = e
                    .fees
                    .iter()
                    .zip(&e.cmd.fees)
                    .map(|(c, r)| {
                        json!({"token": c.token, "amount": c.amount.to_json(), "memo": r.memo, "tags": r.tags,
                            "transaction_token": rec.transaction_token(), "fee": fee_resource_json(ledger, &c.token)})
                    })
                    .collect();
                o.insert("fees".into(), Value::Array(list));
            }
            if let Some(m) = &e.cmd.memo {
                o.insert("memo".into(), m.clone().into());
            }
            if let Some(tags) = &e.cmd.tags {
                o.insert("tags".into(), tags.clone().into());
            }
            Value::Object(o)
        }
        Event::GpaUnloaded(e) => json!({
            "token": e.cmd.token,
            "amount": e.cmd.amount.to_json(),
            "created_time": t,
            "last_modified_time": t,
            "transaction_token": tx,
            "state": "COMPLETION",
            "response": approved(),
            "funding": funding_json(ledger, &e.funding, e.cmd.amount),
            "funding_source_token": mask(&e.funding.source_token),
            "original_order_token": e.cmd.original_order_token,
        }),
        Event::MsaOrdered(e) => msa_order_json(
            ledger,
            &MsaOrderView {
                token: &e.cmd.token,
                holder: &e.cmd.holder,
                campaign_token: &e.cmd.campaign_token,
                purchase_amount: e.cmd.purchase_amount,
                reward_amount: e.cmd.reward_amount,
                reward_trigger_amount: e.cmd.reward_trigger_amount,
                funding: &e.funding,
                start_date: e.cmd.start_date,
                end_date: e.cmd.end_date,
                created: rec.time,
                last_modified: rec.time,
                active: true,
                order: MsaBalance { ledger: e.cmd.purchase_amount, credit: Money::ZERO },
                aggregated: e.aggregated_after,
                transaction_token: rec.transaction_token(),
            },
        ),
        Event::MsaUnloaded(e) => {
            let mut o = Map::new();
            o.insert("token".into(), e.cmd.token.as_str().into());
            holder_field(&mut o, &e.holder);
            o.insert("order_balances".into(), balances_json(&msa(e.order_after, -e.cmd.amount), true, false));
            o.insert("amount".into(), e.cmd.amount.to_json());
            o.insert("currency_code".into(), "USD".into());
            // the order's flag as it stands: an unload is refused while its
            // order is inactive, and never shows an inactive order as active
            let active =
                ledger.order(cardledger_domain::state::Book::Msa, &e.cmd.original_order_token).is_none_or(|o| o.active);
            o.insert("active".into(), active.into());
            o.insert("campaign_token".into(), e.campaign_token.as_str().into());
            o.insert("created_time".into(), t.clone().into());
            o.insert("last_modified_time".into(), t.into());
            o.insert("aggregated_balances".into(), balances_json(&msa(e.aggregated_after, -e.cmd.amount), false, true));
            o.insert("original_order_token".into(), e.cmd.original_order_token.as_str().into());
            o.insert("transaction_token".into(), tx.into());
            Value::Object(o)
        }
        Event::OfferOrdered(e) => {
            let order = MsaBalance { ledger: e.purchase_amount, credit: e.reward_amount };
            let offer = ledger.offers.get(&e.cmd.offer_token);
            let mut o = Map::new();
            o.insert("created_time".into(), t.clone().into());
            o.insert("last_modified_time".into(), t.into());
            holder_field(&mut o, &e.cmd.holder);
            o.insert("token".into(), e.cmd.token.as_str().into());
            o.insert("order_balances".into(), balances_json(&msa(order, e.purchase_amount), false, true));
            o.insert(
                "order_aggregated_balances".into(),
                balances_json(&msa(e.aggregated_after, e.purchase_amount), false, true),
            );
            if let Some((c, created)) = offer {
                o.insert(
                    "offer".into(),
                    json!({
                        "token": c.token, "active": c.active, "name": c.name,
                        "purchase_amount": c.purchase_amount.to_json(), "reward_amount": c.reward_amount.to_json(),
                        "reward_trigger_amount": c.reward_trigger_amount.to_json(), "campaign_token": c.campaign_token,
                        "currency_code": c.currency_code.numeric(), "created_time": created.to_string(), "last_modified_time": created.to_string(),
                    }),
                );
            }
            o.insert("funding_source_token".into(), mask(&e.funding.source_token).into());
            o.insert("transaction_token".into(), tx.into());
            Value::Object(o)
        }
        Event::FeeTransferred(e) => {
            let fees: Vec<Value> = e
                .fees
                .iter()
                .map(|f| json!({"token": f.token, "amount": f.amount.to_json(), "currency_code": "USD"}))
                .collect();
            let mut o = Map::new();
            o.insert("token".into(), e.cmd.token.as_str().into());
            holder_field(&mut o, &e.cmd.holder);
            o.insert("fees".into(), Value::Array(fees));
            o.insert("created_time".into(), t.into());
            o.insert("transaction_token".into(), tx.into());
            o.insert("state".into(), "COMPLETION".into());
            o.insert("response".into(), approved());
            Value::Object(o)
        }
        Event::JournalEntryRecorded(e) => {
            let mut o = journal_entry_fields(e, rec.time);
            o.insert("created_time".into(), t.into());
            o.insert("transaction_token".into(), tx.into());
            Value::Object(o)
        }
        Event::ProgramDeposited(c) => json!({
            "token": c.token, "program_token": c.program_token, "amount": c.amount.to_json(),
            "currency_code": "USD", "created_time": t, "transaction_token": tx,
        }),
        Event::MsaOrderUpdated(c) => {
            // the update answers with the whole order as it stands after it (source 004)
            msa_order_now(&c.token, ledger)
                .unwrap_or_else(|| json!({"token": c.token, "last_modified_time": t, "transaction_token": tx}))
        }
        Event::Ticked(c) => json!({"now": c.now.to_string(), "transaction_token": tx}),
        Event::CyclesClosed(e) => {
            json!({"now": e.now.to_string(), "statements": e.closes.len(), "transaction_token": tx})
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
        | Event::CreditAccountOpened(_) => {
            let mut v = event_body(&rec.fact.event);
            if let Value::Object(o) = &mut v {
                o.insert("created_time".into(), t.clone().into());
                o.insert("last_modified_time".into(), t.into());
                if let Event::FundingSourceCreated { cmd, .. } = &rec.fact.event {
                    if cmd.kind == FundingKind::Program {
                        o.insert("account".into(), program_account_number(&cmd.token).into());
                    }
                }
            }
            v
        }
    }
}

/// The fields of an MSA order response, from its event or from the state.
struct MsaOrderView<'a> {
    token: &'a str,
    holder: &'a Holder,
    campaign_token: &'a str,
    purchase_amount: Money,
    reward_amount: Money,
    reward_trigger_amount: Money,
    funding: &'a Funding,
    start_date: Option<Timestamp>,
    end_date: Option<Timestamp>,
    created: Timestamp,
    last_modified: Timestamp,
    active: bool,
    order: MsaBalance,
    aggregated: MsaBalance,
    transaction_token: String,
}

fn msa_order_json(ledger: &Ledger, v: &MsaOrderView<'_>) -> Value {
    let mut o = Map::new();
    o.insert("token".into(), v.token.into());
    holder_field(&mut o, v.holder);
    o.insert("order_balances".into(), balances_json(&msa(v.order, v.purchase_amount), true, true));
    o.insert("purchase_amount".into(), v.purchase_amount.to_json());
    o.insert("currency_code".into(), "USD".into());
    o.insert("active".into(), v.active.into());
    o.insert("reward_amount".into(), v.reward_amount.to_json());
    o.insert("reward_trigger_amount".into(), v.reward_trigger_amount.to_json());
    o.insert("campaign_token".into(), v.campaign_token.into());
    o.insert("funding".into(), funding_json(ledger, v.funding, v.purchase_amount));
    if let Some(s) = v.start_date {
        o.insert("start_date".into(), s.to_string().into());
    }
    if let Some(s) = v.end_date {
        o.insert("end_date".into(), s.to_string().into());
    }
    o.insert("created_time".into(), v.created.to_string().into());
    o.insert("last_modified_time".into(), v.last_modified.to_string().into());
    o.insert("aggregated_balances".into(), balances_json(&msa(v.aggregated, v.purchase_amount), false, true));
    o.insert("transaction_token".into(), v.transaction_token.as_str().into());
    Value::Object(o)
}

/// A journal entry's own fields as source 003 names them; times default to
/// the event's business time.
fn journal_entry_fields(e: &JournalEntryRecorded, time: Timestamp) -> Map<String, Value> {
    let c = &e.cmd;
    let mut o = Map::new();
    o.insert("token".into(), c.token.as_str().into());
    match &c.target {
        cardledger_domain::command::JeTarget::Gpa(h) => holder_field(&mut o, h),
        cardledger_domain::command::JeTarget::Credit(a) => {
            o.insert("account_token".into(), a.as_str().into());
        }
    }
    o.insert("type".into(), c.kind.as_str().into());
    if let Some(g) = &c.group {
        o.insert("group".into(), g.as_str().into());
    }
    o.insert("status".into(), c.status.name().into());
    o.insert("amount".into(), c.amount.to_json());
    o.insert("currency_code".into(), "USD".into());
    let impact = c.impact_time.unwrap_or(time);
    o.insert("request_time".into(), c.request_time.unwrap_or(impact).to_string().into());
    o.insert("impact_time".into(), impact.to_string().into());
    for (k, v) in [
        ("related_token", c.related_token.as_deref()),
        ("root_token", c.root_token.as_deref()),
        ("card_token", c.card_token.as_deref()),
        ("memo", c.memo.as_deref()),
        ("network", c.network.as_deref()),
        ("mcc", c.mcc.as_deref()),
        ("acting_user_token", c.acting_user_token.as_deref()),
    ] {
        if let Some(v) = v {
            o.insert(k.into(), (*v).into());
        }
    }
    if let Some(p) = c.pin_present {
        o.insert("pin_present".into(), p.into());
    }
    if !e.jit_load.is_zero() || !e.jit_unload.is_zero() {
        o.insert("jit_funding".into(), json!({"load": e.jit_load.to_json(), "unload": e.jit_unload.to_json()}));
    }
    o
}

/// An MSA order as it stands now (retrieve, and the answer to an update):
/// current order balances, flags, dates and the holder's MSA for the campaign.
pub fn msa_order_now(token: &str, ledger: &Ledger) -> Option<Value> {
    let s = ledger.order(cardledger_domain::state::Book::Msa, token)?;
    let campaign = s.campaign_token.as_deref().unwrap_or("");
    let agg = ledger.msa_balances(&s.holder, campaign);
    Some(msa_order_json(
        ledger,
        &MsaOrderView {
            token,
            holder: &s.holder,
            campaign_token: campaign,
            purchase_amount: s.amount,
            reward_amount: s.reward_amount,
            reward_trigger_amount: s.reward_trigger_amount,
            funding: &s.funding,
            start_date: s.start_date,
            end_date: s.end_date,
            created: s.created,
            last_modified: s.last_modified,
            active: s.active,
            order: MsaBalance { ledger: s.amount.minus(s.unloaded), credit: Money::ZERO },
            aggregated: MsaBalance { ledger: agg.ledger_balance, credit: agg.credit_balance },
            transaction_token: s.seq.to_string(),
        },
    ))
}

/// The event's own fields as JSON (the `log` command's `event` object body).
pub fn event_body(e: &Event) -> Value {
    use cardledger_domain::command::*;
    let holder = |o: &mut Map<String, Value>, h: &Holder| holder_field(o, h);
    match e {
        Event::ProgramCreated(c) => {
            let mut v = json!({"token": c.token, "bank": c.bank, "currency_code": c.currency_code.alpha(),
                "opening_bank_balance": c.opening_bank_balance.to_json(), "reporting_timezone": c.reporting_timezone});
            if let (Some(r), Value::Object(o)) = (&c.reserve, &mut v) {
                o.insert("reserve".into(), json!({"description": r.description, "days": r.days, "minimum_amount": r.minimum_amount.to_json(), "window_days": r.window_days}));
            }
            if let (Some(t), Value::Object(o)) = (c.funding_alert_threshold, &mut v) {
                o.insert("funding_alert_threshold".into(), t.to_json());
            }
            v
        }
        Event::UserCreated(c) | Event::BusinessCreated(c) => {
            json!({"token": c.token, "program_token": c.program_token})
        }
        Event::FundingSourceCreated { cmd, program_token } => {
            let mut o = Map::new();
            o.insert("token".into(), cmd.token.as_str().into());
            o.insert("program_token".into(), program_token.as_str().into());
            if let Some(h) = &cmd.holder {
                holder(&mut o, h);
            }
            o.insert("type".into(), cmd.kind.name().into());
            o.insert("is_default_account".into(), cmd.is_default_account.into());
            o.insert("active".into(), cmd.active.into());
            o.insert("name".into(), cmd.name.clone().into());
            Value::Object(o)
        }
        Event::FundingSourceAddressCreated(c) => {
            json!({"token": c.token, "funding_source_token": c.funding_source_token})
        }
        Event::FeeCreated(c) => {
            json!({"token": c.token, "name": c.name, "amount": c.amount.to_json(), "currency_code": c.currency_code.alpha(), "active": c.active})
        }
        Event::CampaignCreated(c) | Event::MerchantCreated(c) => {
            json!({"token": c.token, "name": c.name, "active": c.active})
        }
        Event::OfferCreated(c) => json!({"token": c.token, "name": c.name, "campaign_token": c.campaign_token,
            "purchase_amount": c.purchase_amount.to_json(), "reward_amount": c.reward_amount.to_json(),
            "reward_trigger_amount": c.reward_trigger_amount.to_json(), "currency_code": c.currency_code.alpha(), "active": c.active}),
        Event::CreditAccountOpened(c) => {
            json!({"token": c.token, "user_token": c.user_token, "program_token": c.program_token,
            "credit_limit": c.credit_limit.to_json(), "apr": c.apr.0.to_string(), "timezone": c.timezone,
            "billing_cycle_day": c.billing_cycle_day, "late_payment_fee": c.late_payment_fee.to_json(),
            "minimum_interest": c.minimum_interest.to_json(), "reward_percentage": c.reward_percentage.0.to_string(),
            "interest_on_grace_reactivation": c.interest_on_grace_reactivation, "allocation_order": c.allocation_order,
            "min_payment": {"flat_amount": c.min_payment.flat_amount.to_json(), "percentage_of_balance": c.min_payment.percentage_of_balance.0.to_string(),
                "include_interest_charged": c.min_payment.include_interest_charged, "include_fees_charged": c.min_payment.include_fees_charged,
                "include_past_due_amount": c.min_payment.include_past_due_amount, "include_overlimit_amount": c.min_payment.include_overlimit_amount}})
        }
        Event::GpaOrdered(e) => {
            let mut o = Map::new();
            o.insert("token".into(), e.cmd.token.as_str().into());
            holder(&mut o, &e.cmd.holder);
            o.insert("amount".into(), e.cmd.amount.to_json());
            o.insert("currency_code".into(), "USD".into());
            o.insert("funding_source_token".into(), e.funding.source_token.as_str().into());
            o.insert(
                "fees".into(),
                Value::Array(e.fees.iter().map(|f| json!({"token": f.token, "amount": f.amount.to_json()})).collect()),
            );
            Value::Object(o)
        }
        Event::GpaUnloaded(e) => {
            json!({"token": e.cmd.token, "original_order_token": e.cmd.original_order_token, "amount": e.cmd.amount.to_json()})
        }
        Event::MsaOrdered(e) => {
            let mut o = Map::new();
            o.insert("token".into(), e.cmd.token.as_str().into());
            o.insert("campaign_token".into(), e.cmd.campaign_token.as_str().into());
            holder(&mut o, &e.cmd.holder);
            o.insert("purchase_amount".into(), e.cmd.purchase_amount.to_json());
            o.insert("funding_source_token".into(), e.funding.source_token.as_str().into());
            Value::Object(o)
        }
        Event::MsaOrderUpdated(c) => json!({"token": c.token, "active": c.active}),
        Event::MsaUnloaded(e) => {
            json!({"token": e.cmd.token, "original_order_token": e.cmd.original_order_token, "amount": e.cmd.amount.to_json()})
        }
        Event::OfferOrdered(e) => {
            let mut o = Map::new();
            o.insert("token".into(), e.cmd.token.as_str().into());
            holder(&mut o, &e.cmd.holder);
            o.insert("offer_token".into(), e.cmd.offer_token.as_str().into());
            o.insert("funding_source_token".into(), e.funding.source_token.as_str().into());
            Value::Object(o)
        }
        Event::FeeTransferred(e) => {
            let mut o = Map::new();
            o.insert("token".into(), e.cmd.token.as_str().into());
            holder(&mut o, &e.cmd.holder);
            o.insert(
                "fees".into(),
                Value::Array(e.fees.iter().map(|f| json!({"token": f.token, "amount": f.amount.to_json()})).collect()),
            );
            Value::Object(o)
        }
        Event::JournalEntryRecorded(e) => {
            // the log shows what the engine resolved, beside the entry itself
            let mut o = journal_entry_fields(e, Timestamp(0));
            o.remove("request_time");
            o.remove("impact_time");
            for (k, v) in [("request_time", e.cmd.request_time), ("impact_time", e.cmd.impact_time)] {
                if let Some(v) = v {
                    o.insert(k.into(), v.to_string().into());
                }
            }
            o.insert("program_token".into(), e.program_token.as_str().into());
            o.insert("effect".into(), format!("{:?}", e.effect).into());
            o.insert("hold_amount".into(), e.hold_amount.to_json());
            o.insert("pending_credit".into(), e.pending_credit.to_json());
            Value::Object(o)
        }
        Event::ProgramDeposited(c) => {
            json!({"token": c.token, "program_token": c.program_token, "amount": c.amount.to_json()})
        }
        Event::Ticked(c) => json!({"now": c.now.to_string()}),
        Event::CyclesClosed(e) => json!({"now": e.now.to_string(), "closes": e.closes.iter().map(|c| json!({
            "account_token": c.account_token, "statement_token": c.statement_token,
            "closing_date": c.closing_date.to_string(), "closing_balance": c.closing_balance.to_json(),
            "interest": c.interest_entry.as_ref().map(|x| x.amount.to_json()),
            "late_fee": c.late_fee_entry.as_ref().map(|x| x.amount.to_json()),
        })).collect::<Vec<_>>()}),
    }
}
