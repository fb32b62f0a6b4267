//! The simulated world behind a workload: holders, their tracked balances,
//! open holds, credit accounts, and one method per kind of command line.
//!
//! Every action method checks feasibility against the tracked state first and
//! returns `false` (emitting nothing) when the command would be invalid, so the
//! drivers can fall back to something else. Lines are appended to `out`.

use std::collections::VecDeque;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Map, Value};

/// Program tokens, in the order they are set up.
pub(crate) const ALPHA: &str = "prog_alpha";
/// The JIT-funded program.
pub(crate) const BETA: &str = "prog_beta";
/// Alpha's default (program) funding source.
const ALPHA_SOURCE: &str = "fs_alpha_program";
/// Beta's default (program gateway, JIT) funding source.
const BETA_SOURCE: &str = "fs_beta_gateway";
/// Every amount in the workload is in this currency.
const CURRENCY: &str = "USD";
/// The monthly fee, in cents (must match the `fee_monthly` set-up line).
const MONTHLY_FEE_CENTS: i64 = 495;

/// How many partly unloaded orders (GPA and MSA) and refundable purchases a
/// holder of the generated world remembers (a parameter of the generator,
/// which depends on no engine crate, not a limit of the engine). Keeps
/// memory bounded by holders, not by days.
const HOLDER_MEMORY_ENTRIES: usize = 8;
/// Per-mille chance that a money movement is immediately resubmitted verbatim.
pub(crate) const RESUBMIT_PER_MILLE: u32 = 10;

/// Card networks for signature (non-PIN) card activity.
const SIGNATURE_NETWORKS: [&str; 4] = ["VISA", "MASTERCARD", "DISCOVER", "PULSE"];
/// Merchant descriptors used as journal-entry memos, with their MCC.
const MERCHANTS: [(&str, &str); 6] = [
    ("SWEET TREATS 0484", "5814"),
    ("JANE'S BAKERY", "5462"),
    ("CORNER GROCER 12", "5411"),
    ("FRESH MARKET 7", "5411"),
    ("CITY FUEL 0031", "5541"),
    ("BOOK NOOK", "5942"),
];
/// Merchant category code of ATM withdrawals.
const ATM_MCC: &str = "6011";

/// Which of the two programs a holder belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Program {
    /// Funded by GPA orders from its program funding source.
    Alpha,
    /// Just-in-time funded through its program gateway.
    Beta,
}

impl Program {
    fn token(self) -> &'static str {
        match self {
            Program::Alpha => ALPHA,
            Program::Beta => BETA,
        }
    }
}

/// A token and the amount still left on it (order remaining, refundable part).
#[derive(Clone, Debug)]
struct Remaining {
    token: String,
    cents: i64,
}

/// An account holder (user or business) and what the generator tracks of it.
#[derive(Debug)]
struct SimHolder {
    token: String,
    business: bool,
    program: Program,
    ach_source: Option<String>,
    card_source: Option<String>,
    /// GPA ledger balance as this generator knows it (a lower bound for beta).
    ledger_cents: i64,
    /// Sum of open authorization holds (alpha only: beta holds are JIT funded).
    held_cents: i64,
    gpa_orders: Vec<Remaining>,
    msa_orders: Vec<Remaining>,
    purchases: Vec<Remaining>,
}

impl SimHolder {
    fn key(&self) -> &'static str {
        if self.business {
            "business_token"
        } else {
            "user_token"
        }
    }

    fn available_cents(&self) -> i64 {
        self.ledger_cents - self.held_cents
    }
}

/// An authorization that has not been cleared or reversed yet.
#[derive(Clone, Debug)]
struct Hold {
    token: String,
    holder: usize,
    cents: i64,
    day: u32,
    network: &'static str,
    merchant: usize,
}

/// A credit account and the principal owed on it as the generator knows it
/// (interest and fees charged by the engine only add to it, so this is a
/// lower bound and payments up to it are never too large).
#[derive(Debug)]
struct CreditAccount {
    token: String,
    user: usize,
    limit_cents: i64,
    owed_cents: i64,
    purchases: Vec<Remaining>,
}

/// Resource kinds with their own token sequence.
#[derive(Clone, Copy, Debug)]
enum Kind {
    GpaOrder,
    GpaUnload,
    MsaOrder,
    MsaUnload,
    OfferOrder,
    JournalEntry,
    FeeTransfer,
    ProgramDeposit,
}

const KIND_COUNT: usize = 8;

impl Kind {
    fn prefix(self) -> &'static str {
        match self {
            Kind::GpaOrder => "gpo",
            Kind::GpaUnload => "gpu",
            Kind::MsaOrder => "msa",
            Kind::MsaUnload => "msu",
            Kind::OfferOrder => "ofo",
            Kind::JournalEntry => "je",
            Kind::FeeTransfer => "ft",
            Kind::ProgramDeposit => "pd",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Per-kind token counters: tokens look like `gpo_000000123`.
#[derive(Debug, Default)]
struct Counters([u64; KIND_COUNT]);

impl Counters {
    fn next(&mut self, kind: Kind) -> String {
        let n = match self.0.get_mut(kind.index()) {
            Some(slot) => {
                *slot += 1;
                *slot
            }
            None => 0,
        };
        format!("{}_{:09}", kind.prefix(), n)
    }
}

/// The whole simulated state plus the queue of lines produced so far.
#[derive(Debug)]
pub(crate) struct World {
    pub(crate) rng: StdRng,
    holders: Vec<SimHolder>,
    /// Indexes into `holders`.
    alpha_holders: Vec<usize>,
    alpha_users: Vec<usize>,
    users: Vec<usize>,
    beta_loadable: Vec<usize>,
    holds: Vec<Hold>,
    /// Holds from earlier days, each to be settled by a task today.
    overdue: Vec<Hold>,
    credit: Vec<CreditAccount>,
    counters: Counters,
    resubmit_per_mille: u32,
    clock: Clock,
    /// Lines produced and not yet handed out.
    pub(crate) out: VecDeque<String>,
}

/// What the set-up should contain.
pub(crate) struct SetupSpec {
    pub(crate) seed: u64,
    pub(crate) holders: u32,
    pub(crate) credit_accounts: u32,
    pub(crate) resubmit_per_mille: u32,
}

impl World {
    /// Builds the world and queues every set-up line at `ts`.
    pub(crate) fn new(spec: &SetupSpec, ts: i64) -> World {
        let mut world = World {
            rng: StdRng::seed_from_u64(spec.seed),
            holders: Vec::new(),
            alpha_holders: Vec::new(),
            alpha_users: Vec::new(),
            users: Vec::new(),
            beta_loadable: Vec::new(),
            holds: Vec::new(),
            overdue: Vec::new(),
            credit: Vec::new(),
            counters: Counters::default(),
            resubmit_per_mille: spec.resubmit_per_mille,
            clock: Clock::default(),
            out: VecDeque::new(),
        };
        world.setup(spec, ts);
        world
    }

    fn setup(&mut self, spec: &SetupSpec, ts: i64) {
        self.push(
            ts,
            "program",
            json!({
                "token": ALPHA, "bank": "Sutton Bank", "currency_code": CURRENCY,
                "opening_bank_balance": "5000000.00", "reporting_timezone": "America/New_York",
                "reserve": {"description": "3 days or $50K", "days": 3,
                            "minimum_amount": "50000.00", "window_days": 7}
            }),
        );
        self.push(
            ts,
            "program",
            json!({
                "token": BETA, "bank": "Metropolitan Commercial Bank", "currency_code": CURRENCY,
                "opening_bank_balance": "2500000.00", "reporting_timezone": "UTC"
            }),
        );
        self.push(
            ts,
            "funding_source",
            json!({
                "token": ALPHA_SOURCE, "program_token": ALPHA, "type": "program",
                "is_default_account": true, "active": true, "name": "Alpha Program Funding"
            }),
        );
        self.push(
            ts,
            "funding_source",
            json!({
                "token": BETA_SOURCE, "program_token": BETA, "type": "programgateway",
                "is_default_account": true, "active": true, "name": "Beta Program Gateway"
            }),
        );
        for (token, name, amount) in
            [("fee_load", "Load fee", "1.50"), ("fee_atm", "ATM fee", "2.50"), ("fee_monthly", "Monthly fee", "4.95")]
        {
            self.push(
                ts,
                "fee",
                json!({"token": token, "name": name, "amount": amount,
                       "currency_code": CURRENCY, "active": true}),
            );
        }
        self.push(ts, "campaign", json!({"token": "camp_grocer", "name": "Grocer rewards", "active": true}));
        self.push(ts, "merchant", json!({"token": "merch_coffee", "name": "Coffee Co", "active": true}));
        self.push(
            ts,
            "offer",
            json!({
                "token": "offer_spring", "name": "Spring offer", "campaign_token": "camp_grocer",
                "purchase_amount": "200.00", "reward_amount": "50.00",
                "reward_trigger_amount": "200.00", "currency_code": CURRENCY, "active": true
            }),
        );
        self.setup_holders(spec.holders, ts);
        self.setup_credit_accounts(spec.credit_accounts, ts);
    }

    fn setup_holders(&mut self, count: u32, ts: i64) {
        let (mut users, mut businesses) = (0u32, 0u32);
        for i in 0..count {
            // About one holder in twenty is a business.
            let business = i % 20 == 19;
            let program = if self.rng.gen_range(0..100) < 60 { Program::Alpha } else { Program::Beta };
            let token = if business {
                businesses += 1;
                format!("biz_{businesses:04}")
            } else {
                users += 1;
                format!("user_{users:05}")
            };
            let key = if business { "business" } else { "user" };
            self.push(ts, key, json!({"token": token, "program_token": program.token()}));
            let mut holder = SimHolder {
                token,
                business,
                program,
                ach_source: None,
                card_source: None,
                ledger_cents: 0,
                held_cents: 0,
                gpa_orders: Vec::new(),
                msa_orders: Vec::new(),
                purchases: Vec::new(),
            };
            let ach_pct = if program == Program::Alpha { 20 } else { 15 };
            if self.rng.gen_range(0..100) < ach_pct {
                let source = format!("fs_ach_{}", holder.token);
                self.push_holder_source(ts, &holder, &source, "ach", "Checking");
                holder.ach_source = Some(source);
            }
            if program == Program::Alpha && self.rng.gen_range(0..100) < 8 {
                let source = format!("fs_card_{}", holder.token);
                self.push_holder_source(ts, &holder, &source, "paymentcard", "Debit card");
                self.push(
                    ts,
                    "funding_source_address",
                    json!({"token": format!("fsa_{}", holder.token),
                           "funding_source_token": source}),
                );
                holder.card_source = Some(source);
            }
            let index = self.holders.len();
            match program {
                Program::Alpha => {
                    self.alpha_holders.push(index);
                    if !business {
                        self.alpha_users.push(index);
                    }
                }
                Program::Beta => {
                    if holder.ach_source.is_some() {
                        self.beta_loadable.push(index);
                    }
                }
            }
            if !business {
                self.users.push(index);
            }
            self.holders.push(holder);
        }
    }

    fn push_holder_source(&mut self, ts: i64, holder: &SimHolder, source: &str, kind: &str, name: &str) {
        self.push(
            ts,
            "funding_source",
            json!({
                "token": source, "program_token": holder.program.token(),
                holder.key(): holder.token, "type": kind,
                "is_default_account": false, "active": true, "name": name
            }),
        );
    }

    fn setup_credit_accounts(&mut self, count: u32, ts: i64) {
        let owners: Vec<usize> =
            self.alpha_users.iter().copied().take(usize::try_from(count).unwrap_or(usize::MAX)).collect();
        for (n, user) in owners.into_iter().enumerate() {
            let Some(user_token) = self.holders.get(user).map(|h| h.token.clone()) else {
                continue;
            };
            let token = format!("ca_{:04}", n + 1);
            let limit_cents = self.rng.gen_range(2..=10) * 50_000;
            let apr = ["14.99", "19.99", "24.99"].get(self.rng.gen_range(0..3)).copied().unwrap_or("14.99");
            self.push(
                ts,
                "credit_account",
                json!({
                    "token": token, "user_token": user_token, "program_token": ALPHA,
                    "credit_limit": cents(limit_cents), "apr": apr, "billing_cycle_day": 1,
                    "timezone": "America/New_York", "minimum_interest": "0.50", "reward_percentage": "1",
                    "opened_time": month_day(ts, 4, 1)
                }),
            );
            self.credit.push(CreditAccount { token, user, limit_cents, owed_cents: 0, purchases: Vec::new() });
            self.credit_history(ts, n);
        }
    }

    /// Four months of imported history before the first simulated day
    /// (impact times in the past, recorded at set-up): account `n % 4` is a
    /// transactor (four TRANSACTING statements), a revolver who then pays in
    /// full (TRANSACTING, BEGINNING_REVOLVING, REVOLVING, END_REVOLVING), a
    /// revolver paying 50.00 a month, or a cardholder who stops paying (late
    /// fees, past-due buckets). The first tick closes all four cycles.
    fn credit_history(&mut self, ts: i64, n: usize) {
        let Some(account) = self.credit.last() else { return };
        let (account_token, user, limit) = (account.token.clone(), account.user, account.limit_cents);
        let Some(user_token) = self.holders.get(user).map(|h| h.token.clone()) else { return };
        let first = self.rng.gen_range(20_000..=100_000).min(limit / 2);
        let mut plan: Vec<(u32, u32, &str, i64)> = vec![(4, 10, "purchase", first)];
        match n % 4 {
            0 => {
                let (y, z) = (self.rng.gen_range(5_000..=50_000), self.rng.gen_range(5_000..=50_000));
                plan.extend([(3, 5, "payment", first), (3, 12, "purchase", y), (2, 5, "payment", y)]);
                plan.extend([(2, 12, "purchase", z), (1, 5, "payment", z)]);
            }
            // pays more than the principal: the statement also carries interest and fees
            1 => plan.extend([(3, 5, "payment", 2_500), (2, 5, "payment", 2_500), (1, 5, "payment", first + 20_000)]),
            2 => plan.extend([(3, 5, "payment", 5_000), (2, 5, "payment", 5_000), (1, 5, "payment", 5_000)]),
            _ => {}
        }
        for (back, day, what, amount) in plan {
            let token = self.counters.next(Kind::JournalEntry);
            let impact = month_day(ts, back, day);
            let mut body = if what == "purchase" {
                let merchant = self.rng.gen_range(0..MERCHANTS.len());
                credit_card_entry(
                    "authorization.clearing",
                    &token,
                    &account_token,
                    &user_token,
                    amount,
                    "VISA",
                    merchant,
                    "PURCHASE",
                )
            } else {
                json!({
                    "type": "payment", "token": token, "account_token": account_token,
                    "amount": cents(amount), "currency_code": CURRENCY,
                    "memo": "Payment - thank you", "status": "POSTED", "group": "PAYMENT"
                })
            };
            if let Value::Object(o) = &mut body {
                o.insert("impact_time".into(), Value::String(impact.clone()));
                o.insert("request_time".into(), Value::String(impact));
            }
            if let Some(account) = self.credit.last_mut() {
                if what == "purchase" {
                    account.owed_cents += amount;
                    remember(&mut account.purchases, token.clone(), amount);
                } else {
                    account.owed_cents = (account.owed_cents - amount).max(0);
                }
            }
            self.push(ts, "journal_entry", body);
        }
    }

    /// A `tick` at `ts`: closes every statement cycle ended by then.
    pub(crate) fn tick(&mut self, ts: i64) -> bool {
        self.push(ts, "tick", json!({ "now": rfc3339(ts) }));
        true
    }

    // ---- money movements -------------------------------------------------

    /// Loads a random alpha holder's GPA.
    pub(crate) fn gpa_order_random(&mut self, ts: i64) -> bool {
        match pick(&mut self.rng, &self.alpha_holders) {
            Some(h) => self.gpa_order(ts, h),
            None => false,
        }
    }

    /// A `gpa_order` for alpha holder `h`: 20.00–500.00, sometimes with a
    /// named funding source and a load fee.
    fn gpa_order(&mut self, ts: i64, h: usize) -> bool {
        let amount = self.rng.gen_range(2_000..=50_000);
        let source_roll = self.rng.gen_range(0..100);
        let with_fee = self.rng.gen_range(0..100) < 25;
        let token = self.counters.next(Kind::GpaOrder);
        let Some(holder) = self.holders.get_mut(h) else {
            return false;
        };
        let source = match (source_roll, &holder.ach_source, &holder.card_source) {
            (0..=24, Some(ach), _) => Some(ach.clone()),
            (25..=39, _, Some(card)) => Some(card.clone()),
            (40..=54, _, _) => Some(ALPHA_SOURCE.to_string()),
            _ => None,
        };
        let mut body = Map::new();
        body.insert("token".into(), json!(token));
        body.insert(holder.key().into(), json!(holder.token));
        body.insert("amount".into(), json!(cents(amount)));
        body.insert("currency_code".into(), json!(CURRENCY));
        if let Some(source) = source {
            body.insert("funding_source_token".into(), json!(source));
        }
        if with_fee {
            body.insert("fees".into(), json!([{"token": "fee_load"}]));
        }
        holder.ledger_cents += amount;
        remember(&mut holder.gpa_orders, token, amount);
        self.emit(ts, "gpa_order", Value::Object(body));
        true
    }

    /// A beta holder loads its GPA from its own ACH source, named explicitly
    /// (the program's default source is the JIT gateway).
    pub(crate) fn beta_load(&mut self, ts: i64) -> bool {
        let Some(h) = pick(&mut self.rng, &self.beta_loadable) else {
            return false;
        };
        let amount = self.rng.gen_range(2_000..=30_000);
        let token = self.counters.next(Kind::GpaOrder);
        let Some(holder) = self.holders.get_mut(h) else {
            return false;
        };
        let Some(source) = holder.ach_source.clone() else {
            return false;
        };
        holder.ledger_cents += amount;
        let body = json!({
            "token": token, holder.key(): holder.token, "amount": cents(amount),
            "currency_code": CURRENCY, "funding_source_token": source
        });
        self.emit(ts, "gpa_order", body);
        true
    }

    /// A `gpa_unload` of part or all of an alpha holder's earlier order, never
    /// more than the order's remaining nor the holder's available balance.
    pub(crate) fn gpa_unload(&mut self, ts: i64) -> bool {
        let Some(h) = pick(&mut self.rng, &self.alpha_holders) else {
            return false;
        };
        let Some(holder) = self.holders.get(h) else {
            return false;
        };
        let available = holder.available_cents();
        let Some(order) = pick_index(&mut self.rng, holder.gpa_orders.len()) else {
            return false;
        };
        let Some(remaining) = holder.gpa_orders.get(order).map(|o| o.cents) else {
            return false;
        };
        let max = remaining.min(available);
        if max < 1 {
            return false;
        }
        let amount = if self.rng.gen_range(0..100) < 40 { max } else { self.rng.gen_range(1..=max) };
        let token = self.counters.next(Kind::GpaUnload);
        let Some(holder) = self.holders.get_mut(h) else {
            return false;
        };
        let Some(original) = take_from(&mut holder.gpa_orders, order, amount) else {
            return false;
        };
        holder.ledger_cents -= amount;
        let body = json!({"token": token, "original_order_token": original, "amount": cents(amount)});
        self.emit(ts, "gpa_unload", body);
        true
    }

    /// An `msa_order` crediting an alpha user's MSA for one of the campaigns.
    pub(crate) fn msa_order(&mut self, ts: i64) -> bool {
        let Some(h) = pick(&mut self.rng, &self.alpha_users) else {
            return false;
        };
        let campaign = if self.rng.gen_range(0..2) == 0 { "camp_grocer" } else { "merch_coffee" };
        let amount = self.rng.gen_range(1_000..=30_000);
        let named_source = self.rng.gen_range(0..100) < 30;
        let token = self.counters.next(Kind::MsaOrder);
        let Some(holder) = self.holders.get_mut(h) else {
            return false;
        };
        let mut body = Map::new();
        body.insert("token".into(), json!(token));
        body.insert("campaign_token".into(), json!(campaign));
        body.insert("user_token".into(), json!(holder.token));
        body.insert("currency_code".into(), json!(CURRENCY));
        body.insert("purchase_amount".into(), json!(cents(amount)));
        if named_source {
            if let Some(ach) = &holder.ach_source {
                body.insert("funding_source_token".into(), json!(ach));
            }
        }
        remember(&mut holder.msa_orders, token, amount);
        self.emit(ts, "msa_order", Value::Object(body));
        true
    }

    /// An `msa_unload` of at most an MSA order's remaining amount.
    pub(crate) fn msa_unload(&mut self, ts: i64) -> bool {
        let Some(h) = pick(&mut self.rng, &self.alpha_users) else {
            return false;
        };
        let Some(len) = self.holders.get(h).map(|x| x.msa_orders.len()) else {
            return false;
        };
        let Some(order) = pick_index(&mut self.rng, len) else {
            return false;
        };
        let Some(remaining) = self.holders.get(h).and_then(|x| x.msa_orders.get(order)).map(|o| o.cents) else {
            return false;
        };
        if remaining < 1 {
            return false;
        }
        let amount = if self.rng.gen_range(0..100) < 50 { remaining } else { self.rng.gen_range(1..=remaining) };
        let token = self.counters.next(Kind::MsaUnload);
        let Some(holder) = self.holders.get_mut(h) else {
            return false;
        };
        let Some(original) = take_from(&mut holder.msa_orders, order, amount) else {
            return false;
        };
        let body = json!({"token": token, "original_order_token": original, "amount": cents(amount)});
        self.emit(ts, "msa_unload", body);
        true
    }

    /// An `offer_order` for the spring offer.
    pub(crate) fn offer_order(&mut self, ts: i64) -> bool {
        let Some(h) = pick(&mut self.rng, &self.alpha_users) else {
            return false;
        };
        let token = self.counters.next(Kind::OfferOrder);
        let Some(holder) = self.holders.get(h) else {
            return false;
        };
        let body = json!({"token": token, "user_token": holder.token, "offer_token": "offer_spring"});
        self.emit(ts, "offer_order", body);
        true
    }

    /// A PENDING `authorization` placing a hold: within the available balance
    /// for alpha users, unconstrained for beta (JIT) users.
    pub(crate) fn authorize(&mut self, ts: i64, day: u32) -> bool {
        let Some(h) = pick(&mut self.rng, &self.users) else {
            return false;
        };
        let wanted = purchase_cents(&mut self.rng);
        let Some(holder) = self.holders.get(h) else {
            return false;
        };
        let amount = match holder.program {
            Program::Beta => wanted,
            Program::Alpha => {
                let available = holder.available_cents();
                if wanted <= available {
                    wanted
                } else if available >= 100 {
                    self.rng.gen_range(100..=available)
                } else {
                    return false;
                }
            }
        };
        let network =
            SIGNATURE_NETWORKS.get(self.rng.gen_range(0..SIGNATURE_NETWORKS.len())).copied().unwrap_or("VISA");
        let merchant = self.rng.gen_range(0..MERCHANTS.len());
        let token = self.counters.next(Kind::JournalEntry);
        let Some(holder) = self.holders.get_mut(h) else {
            return false;
        };
        if holder.program == Program::Alpha {
            holder.held_cents += amount;
        }
        let body = card_entry(
            "authorization",
            &token,
            None,
            &holder.token,
            amount,
            network,
            false,
            merchant_mcc(merchant),
            merchant_memo(merchant),
            "PENDING",
            "PURCHASE",
        );
        self.holds.push(Hold { token, holder: h, cents: amount, day, network, merchant });
        self.emit(ts, "journal_entry", body);
        true
    }

    /// Moves the holds opened before `day` aside to be settled today (one
    /// [`World::settle_overdue`] call each) and returns how many there are.
    pub(crate) fn mark_overdue(&mut self, day: u32) -> usize {
        let (old, fresh): (Vec<Hold>, Vec<Hold>) =
            std::mem::take(&mut self.holds).into_iter().partition(|h| h.day < day);
        self.holds = fresh;
        self.overdue.extend(old);
        self.overdue.len()
    }

    /// Settles one hold moved aside by [`World::mark_overdue`].
    pub(crate) fn settle_overdue(&mut self, ts: i64) -> bool {
        match self.overdue.pop() {
            Some(hold) => self.settle(ts, hold, 8, 10),
            None => false,
        }
    }

    /// Number of open holds (not counting overdue ones).
    pub(crate) fn open_holds(&self) -> usize {
        self.holds.len()
    }

    /// Settles a random open hold (O(1): order of `holds` does not matter here).
    pub(crate) fn settle_random(&mut self, ts: i64, reversal_pct: u32, partial_pct: u32) -> bool {
        match pick_index(&mut self.rng, self.holds.len()) {
            Some(i) => {
                let hold = self.holds.swap_remove(i);
                self.settle(ts, hold, reversal_pct, partial_pct)
            }
            None => false,
        }
    }

    /// Settles the oldest open hold (the bulk driver keeps few holds open).
    pub(crate) fn settle_oldest(&mut self, ts: i64, reversal_pct: u32, partial_pct: u32) -> bool {
        if self.holds.is_empty() {
            return false;
        }
        let hold = self.holds.remove(0);
        self.settle(ts, hold, reversal_pct, partial_pct)
    }

    /// Clears (usually for the full amount, sometimes less) or reverses the
    /// hold. A clearing never exceeds the hold it releases, so it
    /// never exceeds available + released hold.
    fn settle(&mut self, ts: i64, hold: Hold, reversal_pct: u32, partial_pct: u32) -> bool {
        let reversal = self.rng.gen_range(0..100) < reversal_pct;
        let amount = if !reversal && hold.cents > 1 && self.rng.gen_range(0..100) < partial_pct {
            self.rng.gen_range((hold.cents * 9 / 10).max(1)..hold.cents)
        } else {
            hold.cents
        };
        let token = self.counters.next(Kind::JournalEntry);
        let Some(holder) = self.holders.get_mut(hold.holder) else {
            return false;
        };
        if holder.program == Program::Alpha {
            holder.held_cents -= hold.cents;
            if !reversal {
                holder.ledger_cents -= amount;
                remember(&mut holder.purchases, token.clone(), amount);
            }
        }
        let (kind, status) =
            if reversal { ("authorization.reversal", "PENDING") } else { ("authorization.clearing", "POSTED") };
        let body = card_entry(
            kind,
            &token,
            Some(&hold.token),
            &holder.token,
            amount,
            hold.network,
            false,
            merchant_mcc(hold.merchant),
            merchant_memo(hold.merchant),
            status,
            "PURCHASE",
        );
        self.emit(ts, "journal_entry", body);
        true
    }

    /// A single-message PIN debit purchase by an alpha user, within available.
    pub(crate) fn pindebit(&mut self, ts: i64) -> bool {
        let Some(h) = pick(&mut self.rng, &self.alpha_users) else {
            return false;
        };
        let wanted = self.rng.gen_range(500..=12_000);
        let merchant = self.rng.gen_range(0..MERCHANTS.len());
        let Some(available) = self.holders.get(h).map(SimHolder::available_cents) else {
            return false;
        };
        let amount = wanted.min(available);
        if amount < 100 {
            return false;
        }
        let token = self.counters.next(Kind::JournalEntry);
        let Some(holder) = self.holders.get_mut(h) else {
            return false;
        };
        holder.ledger_cents -= amount;
        remember(&mut holder.purchases, token.clone(), amount);
        let body = card_entry(
            "pindebit",
            &token,
            None,
            &holder.token,
            amount,
            "PULSE",
            true,
            merchant_mcc(merchant),
            merchant_memo(merchant),
            "POSTED",
            "PURCHASE",
        );
        self.emit(ts, "journal_entry", body);
        true
    }

    /// An ATM withdrawal (multiples of 20.00) by an alpha user, within available.
    pub(crate) fn atm_withdrawal(&mut self, ts: i64) -> bool {
        let Some(h) = pick(&mut self.rng, &self.alpha_users) else {
            return false;
        };
        let wanted = self.rng.gen_range(1..=10) * 2_000;
        let Some(available) = self.holders.get(h).map(SimHolder::available_cents) else {
            return false;
        };
        let amount = wanted.min(available / 2_000 * 2_000);
        if amount < 2_000 {
            return false;
        }
        let token = self.counters.next(Kind::JournalEntry);
        let Some(holder) = self.holders.get_mut(h) else {
            return false;
        };
        holder.ledger_cents -= amount;
        let body = card_entry(
            "pindebit.atm.withdrawal",
            &token,
            None,
            &holder.token,
            amount,
            "PULSE",
            true,
            ATM_MCC,
            "ATM CASH WITHDRAWAL",
            "POSTED",
            "CASH_ADVANCE",
        );
        self.emit(ts, "journal_entry", body);
        true
    }

    /// A refund of part or all of an alpha user's earlier purchase.
    pub(crate) fn refund(&mut self, ts: i64) -> bool {
        let Some(h) = pick(&mut self.rng, &self.alpha_users) else {
            return false;
        };
        let Some(len) = self.holders.get(h).map(|x| x.purchases.len()) else {
            return false;
        };
        let Some(p) = pick_index(&mut self.rng, len) else {
            return false;
        };
        let Some(max) = self.holders.get(h).and_then(|x| x.purchases.get(p)).map(|x| x.cents) else {
            return false;
        };
        if max < 1 {
            return false;
        }
        let amount = if self.rng.gen_range(0..2) == 0 { max } else { self.rng.gen_range(1..=max) };
        let merchant = self.rng.gen_range(0..MERCHANTS.len());
        let token = self.counters.next(Kind::JournalEntry);
        let Some(holder) = self.holders.get_mut(h) else {
            return false;
        };
        if take_from(&mut holder.purchases, p, amount).is_none() {
            return false;
        }
        holder.ledger_cents += amount;
        let body = card_entry(
            "refund",
            &token,
            None,
            &holder.token,
            amount,
            "VISA",
            false,
            merchant_mcc(merchant),
            merchant_memo(merchant),
            "POSTED",
            "REFUND",
        );
        self.emit(ts, "journal_entry", body);
        true
    }

    /// Alpha holders who can pay the monthly fee get one `fee_transfer` task each.
    pub(crate) fn alpha_holder_indexes(&self) -> Vec<usize> {
        self.alpha_holders.clone()
    }

    /// A monthly `fee_transfer` if the holder's available balance covers it.
    pub(crate) fn monthly_fee(&mut self, ts: i64, h: usize) -> bool {
        let Some(available) = self.holders.get(h).map(SimHolder::available_cents) else {
            return false;
        };
        if available < MONTHLY_FEE_CENTS {
            return false;
        }
        let token = self.counters.next(Kind::FeeTransfer);
        let Some(holder) = self.holders.get_mut(h) else {
            return false;
        };
        holder.ledger_cents -= MONTHLY_FEE_CENTS;
        let body = json!({"token": token, holder.key(): holder.token, "fees": [{"token": "fee_monthly"}]});
        self.emit(ts, "fee_transfer", body);
        true
    }

    /// A `program_deposit` of 100,000.00–900,000.00 into a program's bank.
    pub(crate) fn program_deposit(&mut self, ts: i64, program: Program) -> bool {
        let amount = self.rng.gen_range(10_000_000..=90_000_000);
        let token = self.counters.next(Kind::ProgramDeposit);
        let body = json!({"token": token, "program_token": program.token(),
                          "amount": cents(amount), "currency_code": CURRENCY});
        self.emit(ts, "program_deposit", body);
        true
    }

    /// A purchase on a credit account (a POSTED clearing), within the limit.
    pub(crate) fn credit_purchase(&mut self, ts: i64) -> bool {
        let Some(a) = pick_index(&mut self.rng, self.credit.len()) else {
            return false;
        };
        let wanted = self.rng.gen_range(500..=25_000);
        let network = SIGNATURE_NETWORKS.get(self.rng.gen_range(0..3)).copied().unwrap_or("VISA");
        let merchant = self.rng.gen_range(0..MERCHANTS.len());
        let token = self.counters.next(Kind::JournalEntry);
        let Some(account) = self.credit.get_mut(a) else {
            return false;
        };
        let amount = wanted.min(account.limit_cents - account.owed_cents);
        if amount < 100 {
            return false;
        }
        account.owed_cents += amount;
        remember(&mut account.purchases, token.clone(), amount);
        let (account_token, user) = (account.token.clone(), account.user);
        let Some(user_token) = self.holders.get(user).map(|u| u.token.clone()) else {
            return false;
        };
        let body = credit_card_entry(
            "authorization.clearing",
            &token,
            &account_token,
            &user_token,
            amount,
            network,
            merchant,
            "PURCHASE",
        );
        self.emit(ts, "journal_entry", body);
        true
    }

    /// A refund on a credit account, at most the purchase and the amount owed.
    pub(crate) fn credit_refund(&mut self, ts: i64) -> bool {
        let Some(a) = pick_index(&mut self.rng, self.credit.len()) else {
            return false;
        };
        let Some(len) = self.credit.get(a).map(|x| x.purchases.len()) else {
            return false;
        };
        let Some(p) = pick_index(&mut self.rng, len) else {
            return false;
        };
        let Some(max) = self.credit.get(a).and_then(|x| x.purchases.get(p).map(|pur| pur.cents.min(x.owed_cents)))
        else {
            return false;
        };
        if max < 1 {
            return false;
        }
        let amount = self.rng.gen_range(1..=max);
        let merchant = self.rng.gen_range(0..MERCHANTS.len());
        let token = self.counters.next(Kind::JournalEntry);
        let Some(account) = self.credit.get_mut(a) else {
            return false;
        };
        if take_from(&mut account.purchases, p, amount).is_none() {
            return false;
        }
        account.owed_cents -= amount;
        let (account_token, user) = (account.token.clone(), account.user);
        let Some(user_token) = self.holders.get(user).map(|u| u.token.clone()) else {
            return false;
        };
        let body = credit_card_entry("refund", &token, &account_token, &user_token, amount, "VISA", merchant, "REFUND");
        self.emit(ts, "journal_entry", body);
        true
    }

    /// A payment on a credit account: all or part of the principal owed.
    pub(crate) fn credit_payment(&mut self, ts: i64) -> bool {
        let Some(a) = pick_index(&mut self.rng, self.credit.len()) else {
            return false;
        };
        let Some(owed) = self.credit.get(a).map(|x| x.owed_cents) else {
            return false;
        };
        if owed < 1 {
            return false;
        }
        let amount = match self.rng.gen_range(0..100) {
            0..=39 => owed,
            40..=69 => owed.min(2_500),
            _ => self.rng.gen_range(1..=owed),
        };
        let token = self.counters.next(Kind::JournalEntry);
        let Some(account) = self.credit.get_mut(a) else {
            return false;
        };
        account.owed_cents -= amount;
        let body = json!({
            "type": "payment", "token": token, "account_token": account.token,
            "amount": cents(amount), "currency_code": CURRENCY,
            "memo": "Payment - thank you", "status": "POSTED", "group": "PAYMENT"
        });
        self.emit(ts, "journal_entry", body);
        true
    }

    // ---- output ------------------------------------------------------------

    /// Queues a line (set-up lines are never resubmitted).
    fn push(&mut self, ts: i64, key: &str, body: Value) {
        self.out.push_back(line(&mut self.clock, ts, key, &body));
    }

    /// Queues a money-movement line, and now and then an exact duplicate of it
    /// right after (same token, same payload, same time) to exercise
    /// idempotent resubmission.
    fn emit(&mut self, ts: i64, key: &str, body: Value) {
        let text = line(&mut self.clock, ts, key, &body);
        if self.resubmit_per_mille > 0 && self.rng.gen_range(0..1000) < self.resubmit_per_mille {
            self.out.push_back(text.clone());
        }
        self.out.push_back(text);
    }
}

/// Formats cents as a decimal string with exactly two places ("125.40").
pub(crate) fn cents(c: i64) -> String {
    let sign = if c < 0 { "-" } else { "" };
    let abs = c.unsigned_abs();
    format!("{sign}{}.{:02}", abs / 100, abs % 100)
}

/// Seconds since the Unix epoch as RFC 3339 UTC with a `Z`.
pub(crate) fn rfc3339(ts: i64) -> String {
    match chrono::DateTime::from_timestamp(ts, 0) {
        Some(dt) => dt.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        None => String::from("1970-01-01T00:00:00Z"),
    }
}

/// 16:00 UTC on `day` of the month `back` months before `ts`'s month.
fn month_day(ts: i64, back: u32, day: u32) -> String {
    use chrono::Datelike;
    let date = chrono::DateTime::from_timestamp(ts, 0).map(|d| d.date_naive()).unwrap_or_default();
    let m = date.year() * 12 + date.month0() as i32 - back as i32;
    let d = chrono::NaiveDate::from_ymd_opt(m.div_euclid(12), m.rem_euclid(12) as u32 + 1, day).unwrap_or(date);
    format!("{}T16:00:00Z", d.format("%Y-%m-%d"))
}

/// Formats RFC 3339 times fast by reusing the date part of the day before.
#[derive(Debug, Default)]
struct Clock {
    day: Option<i64>,
    date: String,
}

impl Clock {
    fn format(&mut self, ts: i64) -> String {
        let day = ts.div_euclid(86_400);
        if self.day != Some(day) {
            let full = rfc3339(day * 86_400);
            self.date = full.get(..11).unwrap_or("1970-01-01T").to_string();
            self.day = Some(day);
        }
        let second = ts.rem_euclid(86_400);
        format!("{}{:02}:{:02}:{:02}Z", self.date, second / 3_600, second / 60 % 60, second % 60)
    }
}

/// One wire line: `{"time": ..., "<key>": <body>}`.
fn line(clock: &mut Clock, ts: i64, key: &str, body: &Value) -> String {
    format!("{{\"time\":\"{}\",\"{}\":{}}}", clock.format(ts), key, body)
}

fn pick(rng: &mut StdRng, list: &[usize]) -> Option<usize> {
    pick_index(rng, list.len()).and_then(|i| list.get(i).copied())
}

fn pick_index(rng: &mut StdRng, len: usize) -> Option<usize> {
    if len == 0 {
        None
    } else {
        Some(rng.gen_range(0..len))
    }
}

/// Remembers a token with an amount left on it, forgetting the oldest beyond
/// `HOLDER_MEMORY_ENTRIES`.
fn remember(list: &mut Vec<Remaining>, token: String, cents: i64) {
    if list.len() >= HOLDER_MEMORY_ENTRIES {
        list.remove(0);
    }
    list.push(Remaining { token, cents });
}

/// Takes `amount` off entry `i` (dropping it when nothing is left) and
/// returns its token; `None` if that would go below zero.
fn take_from(list: &mut Vec<Remaining>, i: usize, amount: i64) -> Option<String> {
    let entry = list.get_mut(i)?;
    if amount > entry.cents {
        return None;
    }
    entry.cents -= amount;
    let token = entry.token.clone();
    if entry.cents == 0 {
        list.remove(i);
    }
    Some(token)
}

/// Purchase amounts: mostly small, sometimes large (1.00–250.00).
fn purchase_cents(rng: &mut StdRng) -> i64 {
    if rng.gen_range(0..100) < 80 {
        rng.gen_range(100..=6_000)
    } else {
        rng.gen_range(6_000..=25_000)
    }
}

fn merchant_memo(i: usize) -> &'static str {
    MERCHANTS.get(i).map(|m| m.0).unwrap_or("MERCHANT")
}

fn merchant_mcc(i: usize) -> &'static str {
    MERCHANTS.get(i).map(|m| m.1).unwrap_or("5411")
}

/// A GPA card journal entry (user_token + card).
#[allow(clippy::too_many_arguments)]
fn card_entry(
    kind: &str,
    token: &str,
    related: Option<&str>,
    user: &str,
    amount: i64,
    network: &str,
    pin_present: bool,
    mcc: &str,
    memo: &str,
    status: &str,
    group: &str,
) -> Value {
    let mut body = Map::new();
    body.insert("type".into(), json!(kind));
    body.insert("token".into(), json!(token));
    if let Some(related) = related {
        body.insert("related_token".into(), json!(related));
    }
    body.insert("user_token".into(), json!(user));
    body.insert("card_token".into(), json!(format!("card_{user}")));
    body.insert("amount".into(), json!(cents(amount)));
    body.insert("currency_code".into(), json!(CURRENCY));
    body.insert("memo".into(), json!(memo));
    body.insert("network".into(), json!(network));
    body.insert("pin_present".into(), json!(pin_present));
    body.insert("mcc".into(), json!(mcc));
    body.insert("status".into(), json!(status));
    body.insert("group".into(), json!(group));
    body.insert("acting_user_token".into(), json!(user));
    Value::Object(body)
}

/// A credit-account card journal entry (account_token instead of user_token).
#[allow(clippy::too_many_arguments)]
fn credit_card_entry(
    kind: &str,
    token: &str,
    account: &str,
    user: &str,
    amount: i64,
    network: &str,
    merchant: usize,
    group: &str,
) -> Value {
    json!({
        "type": kind, "token": token, "account_token": account,
        "card_token": format!("card_{account}"), "amount": cents(amount),
        "currency_code": CURRENCY, "memo": merchant_memo(merchant), "network": network,
        "pin_present": false, "mcc": merchant_mcc(merchant), "status": "POSTED",
        "group": group, "acting_user_token": user
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cents_format() {
        assert_eq!(cents(12_540), "125.40");
        assert_eq!(cents(5), "0.05");
        assert_eq!(cents(100), "1.00");
    }

    #[test]
    fn rfc3339_format() {
        assert_eq!(rfc3339(1_704_290_709), "2024-01-03T14:05:09Z");
        let mut clock = Clock::default();
        for ts in [1_704_290_709, 1_704_290_710, 1_704_326_399, 1_704_326_400, 951_782_400] {
            assert_eq!(clock.format(ts), rfc3339(ts));
        }
    }
}
