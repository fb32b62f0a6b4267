//! The fold: events → per-program, per-day bank flows.

use std::collections::BTreeMap;

use bincode::{Decode, Encode};
use cardledger_calendar::{DayMap, ReportingClock};
use cardledger_domain::command::{Currency, FundingKind, ReservePolicy};
use cardledger_domain::event::{Event, Recorded};
use cardledger_domain::projection::Projection;
use cardledger_domain::time::{Date, Timestamp};

/// Checkpoint format version: the first byte of [`ProgramBalances::encode`].
const FORMAT_VERSION: u8 = 1;

/// The program-balances projection: every program's opening balance and
/// its bank flows per reporting day. Balances are not stored; see
/// [`ProgramBalances::day_rows`].
#[derive(Clone, Debug, Default, Encode, Decode)]
pub struct ProgramBalances {
    programs: BTreeMap<String, ProgramInfo>,
    last_time: Option<Timestamp>,
    last_seq: u64,
}

/// One program as the view knows it.
#[derive(Clone, Debug, Encode, Decode)]
pub struct ProgramInfo {
    /// Bank name (`bank` column).
    pub bank: String,
    /// Currency of the program.
    pub currency: Currency,
    /// Bank balance before the program's first day, in cents.
    pub opening_cents: i64,
    /// Reporting day the program was created on.
    pub created_day: Date,
    /// Business time of its creation.
    pub created_time: Timestamp,
    /// True once the program has an active `programgateway` source: its
    /// adjustments are then JIT adjustments.
    pub jit: bool,
    /// Reserve policy, for the reserve view.
    pub reserve: Option<ReservePolicy>,
    /// The reporting zone.
    pub clock: ReportingClock,
    /// Flows per reporting day (only days with a flow); encodes as a
    /// `BTreeMap<Date, DayFlows>`.
    pub days: DayMap<DayFlows>,
}

/// One program's bank flows on one reporting day, in cents, signed from the
/// bank's side (money leaving the bank is negative).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Encode, Decode)]
pub struct DayFlows {
    /// Orders paid from a `program` funding source (negative).
    pub partner_funds_loads: i64,
    /// Unloads of such orders back to the bank (positive).
    pub partner_funds_unloads: i64,
    /// Adjustment journal entries on GPAs of a non-JIT program.
    pub partner_funds_adjustments: i64,
    /// Just-in-time loads: authorizations, clearings and PIN debits funded
    /// by the bank, and orders paid from a `programgateway` source (negative).
    pub jit_loads: i64,
    /// JIT funds returned by reversals and short clearings, and unloads of
    /// `programgateway`-funded orders (positive).
    pub jit_unloads: i64,
    /// Adjustment journal entries on GPAs of a JIT program.
    pub jit_adjustments: i64,
    /// `program_deposit`s (positive).
    pub deposit: i64,
    /// Business time of the last event that changed this day.
    pub last_modified: Timestamp,
}

impl DayFlows {
    /// The six load/unload/adjustment columns summed.
    pub fn amount_to_send(&self) -> i64 {
        self.partner_funds_loads
            .saturating_add(self.partner_funds_unloads)
            .saturating_add(self.partner_funds_adjustments)
            .saturating_add(self.jit_loads)
            .saturating_add(self.jit_unloads)
            .saturating_add(self.jit_adjustments)
    }

    /// Adds another day's flows (month rows); keeps the later modification time.
    pub fn add(&mut self, o: &DayFlows) {
        self.partner_funds_loads = self.partner_funds_loads.saturating_add(o.partner_funds_loads);
        self.partner_funds_unloads = self.partner_funds_unloads.saturating_add(o.partner_funds_unloads);
        self.partner_funds_adjustments = self.partner_funds_adjustments.saturating_add(o.partner_funds_adjustments);
        self.jit_loads = self.jit_loads.saturating_add(o.jit_loads);
        self.jit_unloads = self.jit_unloads.saturating_add(o.jit_unloads);
        self.jit_adjustments = self.jit_adjustments.saturating_add(o.jit_adjustments);
        self.deposit = self.deposit.saturating_add(o.deposit);
        self.last_modified = self.last_modified.max(o.last_modified);
    }

    /// Adds one event's bank flow; its adjustments are JIT adjustments when
    /// the program is JIT-funded (`jit`), else partner-funds adjustments.
    #[inline]
    pub fn add_bank_flow(&mut self, b: &cardledger_domain::event::BankFlow<'_>, jit: bool) {
        self.partner_funds_loads = self.partner_funds_loads.saturating_add(b.partner_loads);
        self.partner_funds_unloads = self.partner_funds_unloads.saturating_add(b.partner_unloads);
        self.jit_loads = self.jit_loads.saturating_add(b.jit_loads);
        self.jit_unloads = self.jit_unloads.saturating_add(b.jit_unloads);
        if jit {
            self.jit_adjustments = self.jit_adjustments.saturating_add(b.adjustments);
        } else {
            self.partner_funds_adjustments = self.partner_funds_adjustments.saturating_add(b.adjustments);
        }
        self.deposit = self.deposit.saturating_add(b.deposit);
    }

    /// The net change of the bank balance on the day.
    pub fn net(&self) -> i64 {
        self.amount_to_send().saturating_add(self.deposit)
    }
}

impl ProgramBalances {
    /// The programs the view knows, by token.
    pub fn programs(&self) -> &BTreeMap<String, ProgramInfo> {
        &self.programs
    }

    /// One program.
    pub fn program(&self, token: &str) -> Option<&ProgramInfo> {
        self.programs.get(token)
    }

    /// Business time of the last event applied (`last_run_time`).
    pub fn last_time(&self) -> Option<Timestamp> {
        self.last_time
    }

    /// Sequence number of the last event applied.
    pub fn last_seq(&self) -> u64 {
        self.last_seq
    }

    /// [`Projection::apply`] for the reserve view: the same fold, except
    /// that the flows of programs created without a reserve policy are not
    /// kept (their days stay empty). Everything else — programs, policies,
    /// `jit`, `last_time`, `last_seq` — is as [`Projection::apply`] leaves it,
    /// so the reserve rows, which read only reserve programs, are the same.
    pub fn apply_reserve_programs(&mut self, rec: &Recorded) {
        self.fold::<true>(rec);
    }

    /// Adds `f`'s change to `program`'s flows on the event's reporting day
    /// (`RESERVE_ONLY`: only when the program has a reserve policy), telling
    /// `f` whether the program is JIT-funded.
    #[inline]
    fn flow_jit<const RESERVE_ONLY: bool>(
        &mut self,
        rec: &Recorded,
        program: &str,
        f: impl FnOnce(&mut DayFlows, bool),
    ) {
        let Some(p) = cardledger_calendar::program_mut(&mut self.programs, program) else { return };
        if RESERVE_ONLY && p.reserve.is_none() {
            return;
        }
        let day = match rec.fact.corrected_post_date {
            Some(d) => d,
            None => p.clock.date(rec.time),
        };
        let flows = p.days.entry(day);
        f(flows, p.jit);
        flows.last_modified = flows.last_modified.max(rec.time);
    }

    /// The fold; `RESERVE_ONLY` drops the flows of programs without a reserve policy.
    #[inline]
    fn fold<const RESERVE_ONLY: bool>(&mut self, rec: &Recorded) {
        self.last_seq = rec.seq;
        self.last_time = Some(self.last_time.map_or(rec.time, |t| t.max(rec.time)));
        match &rec.fact.event {
            Event::ProgramCreated(c) => {
                let mut clock = ReportingClock::new(&c.reporting_timezone);
                let created_day = clock.date(rec.time);
                self.programs.entry(c.token.to_string()).or_insert(ProgramInfo {
                    bank: c.bank.clone(),
                    currency: c.currency_code,
                    opening_cents: c.opening_bank_balance.cents(),
                    created_day,
                    created_time: rec.time,
                    jit: false,
                    reserve: c.reserve.clone(),
                    clock,
                    days: DayMap::new(),
                });
            }
            Event::FundingSourceCreated { cmd, program_token } => {
                if cmd.kind == FundingKind::ProgramGateway && cmd.active {
                    if let Some(p) = self.programs.get_mut(program_token.as_str()) {
                        p.jit = true;
                    }
                }
            }
            // the bank's flows: one rule, `event::bank_flow`
            Event::GpaOrdered(_)
            | Event::MsaOrdered(_)
            | Event::OfferOrdered(_)
            | Event::GpaUnloaded(_)
            | Event::MsaUnloaded(_)
            | Event::JournalEntryRecorded(_)
            | Event::ProgramDeposited(_) => {
                if let Some(b) = cardledger_domain::event::bank_flow(&rec.fact.event) {
                    self.flow_jit::<RESERVE_ONLY>(rec, b.program, |d, jit| d.add_bank_flow(&b, jit));
                }
            }
            Event::UserCreated(_)
            | Event::BusinessCreated(_)
            | Event::FundingSourceAddressCreated(_)
            | Event::FeeCreated(_)
            | Event::CampaignCreated(_)
            | Event::MerchantCreated(_)
            | Event::OfferCreated(_)
            | Event::CreditAccountOpened(_)
            | Event::MsaOrderUpdated(_)
            | Event::FeeTransferred(_)
            // statement closes post interest and late fees between a credit
            // account and the program's income account: no bank or GPA/MSA money
            | Event::CyclesClosed(_)
            | Event::Ticked(_) => {}
        }
    }
}

impl Projection for ProgramBalances {
    const NAME: &'static str = "view.programbalances.v1";

    fn apply(&mut self, rec: &Recorded) {
        self.fold::<false>(rec);
    }

    fn encode(&self) -> Vec<u8> {
        cardledger_domain::checkpoint::encode(FORMAT_VERSION, self)
    }

    fn decode(bytes: &[u8]) -> Option<Self> {
        cardledger_domain::checkpoint::decode(FORMAT_VERSION, bytes)
    }
}
