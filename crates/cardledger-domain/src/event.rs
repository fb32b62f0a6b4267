//! Events: the facts recorded in the log. One closed enum, matched
//! exhaustively everywhere (no `_ =>` arms), so adding a variant makes the
//! compiler list every place to update.
//!
//! An event carries the accepted command plus every fact the decision
//! resolved (the funding source used, fee amounts, holds released, just-in-
//! time funding, balances after), so that postings and projections are pure
//! functions of the event alone.

use bincode::{Decode, Encode};

use crate::command::*;
pub use crate::cycle::CyclesClosed;
use crate::money::Money;
use crate::time::{Date, Timestamp};

/// An event as stored in one log record's payload.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct Fact {
    /// Fingerprint of the command payload (for idempotency conflicts).
    pub fingerprint: u64,
    /// The reporting day when it differs from the posting day.
    pub corrected_post_date: Option<Date>,
    /// The event.
    pub event: Event,
}

/// A fact with its place in the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recorded {
    /// Log sequence number, contiguous from 1.
    pub seq: u64,
    /// Business time of the event.
    pub time: Timestamp,
    /// The fact.
    pub fact: Fact,
}

impl Recorded {
    /// The `transaction_token` derived from the sequence number.
    pub fn transaction_token(&self) -> String {
        self.seq.to_string()
    }
}

/// Every fact the engine records.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub enum Event {
    /// A program was created.
    ProgramCreated(ProgramCmd),
    /// A user was created (with its GPA).
    UserCreated(HolderCmd),
    /// A business was created (with its GPA).
    BusinessCreated(HolderCmd),
    /// A funding source was created; `program_token` resolved.
    FundingSourceCreated {
        /// The command.
        cmd: FundingSourceCmd,
        /// The program the source belongs to.
        program_token: String,
    },
    /// A payment-card source got an address.
    FundingSourceAddressCreated(FundingSourceAddressCmd),
    /// A fee was defined.
    FeeCreated(FeeCmd),
    /// A campaign was created.
    CampaignCreated(CampaignCmd),
    /// A merchant (and its default campaign) was created.
    MerchantCreated(CampaignCmd),
    /// An offer was created.
    OfferCreated(OfferCmd),
    /// A credit account was opened.
    CreditAccountOpened(CreditAccountCmd),
    /// A GPA was loaded.
    GpaOrdered(GpaOrdered),
    /// Part of a GPA order went back to its funding source.
    GpaUnloaded(GpaUnloaded),
    /// An MSA was loaded.
    MsaOrdered(MsaOrdered),
    /// An MSA order's flags or dates changed.
    MsaOrderUpdated(MsaOrderUpdateCmd),
    /// Part of an MSA order went back to its funding source.
    MsaUnloaded(MsaUnloaded),
    /// An offer was bought into an MSA.
    OfferOrdered(OfferOrdered),
    /// Fees were taken from a GPA.
    FeeTransferred(FeeTransferred),
    /// Card or account activity.
    JournalEntryRecorded(JournalEntryRecorded),
    /// A program funded its bank account.
    ProgramDeposited(ProgramDepositCmd),
    /// Business time passed.
    Ticked(TickCmd),
    /// Statement cycles closed by a tick (recorded before its `Ticked`, in
    /// the same batch): statements with their interest and late-fee entries.
    CyclesClosed(CyclesClosed),
}

impl Event {
    /// The command key that produced this event.
    pub fn kind(&self) -> &'static str {
        match self {
            Event::ProgramCreated(_) => "program",
            Event::UserCreated(_) => "user",
            Event::BusinessCreated(_) => "business",
            Event::FundingSourceCreated { .. } => "funding_source",
            Event::FundingSourceAddressCreated(_) => "funding_source_address",
            Event::FeeCreated(_) => "fee",
            Event::CampaignCreated(_) => "campaign",
            Event::MerchantCreated(_) => "merchant",
            Event::OfferCreated(_) => "offer",
            Event::CreditAccountOpened(_) => "credit_account",
            Event::GpaOrdered(_) => "gpa_order",
            Event::GpaUnloaded(_) => "gpa_unload",
            Event::MsaOrdered(_) => "msa_order",
            Event::MsaOrderUpdated(_) => "msa_order_update",
            Event::MsaUnloaded(_) => "msa_unload",
            Event::OfferOrdered(_) => "offer_order",
            Event::FeeTransferred(_) => "fee_transfer",
            Event::JournalEntryRecorded(_) => "journal_entry",
            Event::ProgramDeposited(_) => "program_deposit",
            Event::Ticked(_) => "tick",
            Event::CyclesClosed(_) => "cycles_closed",
        }
    }
}

/// Where an order's money came from.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct Funding {
    /// The funding source used.
    pub source_token: String,
    /// Its kind.
    pub kind: FundingKind,
    /// The program of the holder (whose bank pays for program sources).
    pub program_token: String,
}

/// A charged fee and its amount at the time.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct ChargedFee {
    /// Fee token.
    pub token: String,
    /// Amount charged.
    pub amount: Money,
}

/// `gpa_order` accepted.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct GpaOrdered {
    /// The command.
    pub cmd: GpaOrderCmd,
    /// The resolved funding.
    pub funding: Funding,
    /// Fees charged, in order.
    pub fees: Vec<ChargedFee>,
}

/// `gpa_unload` accepted.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct GpaUnloaded {
    /// The command.
    pub cmd: UnloadCmd,
    /// The holder whose GPA is debited.
    pub holder: Holder,
    /// The original order's funding, credited back.
    pub funding: Funding,
}

/// Balances of an MSA (per holder and campaign) or of one MSA order.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Encode, Decode)]
pub struct MsaBalance {
    /// Ledger balance.
    pub ledger: Money,
    /// Credit (reward) balance; available = ledger + credit.
    pub credit: Money,
}

/// `msa_order` accepted.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct MsaOrdered {
    /// The command.
    pub cmd: MsaOrderCmd,
    /// The resolved funding.
    pub funding: Funding,
    /// The holder's MSA for the campaign after the order.
    pub aggregated_after: MsaBalance,
}

/// `msa_unload` accepted.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct MsaUnloaded {
    /// The command.
    pub cmd: UnloadCmd,
    /// The MSA's holder.
    pub holder: Holder,
    /// The MSA's campaign.
    pub campaign_token: String,
    /// The original order's funding, credited back.
    pub funding: Funding,
    /// What remains of the order after the unload.
    pub order_after: MsaBalance,
    /// The holder's MSA for the campaign after the unload.
    pub aggregated_after: MsaBalance,
}

/// `offer_order` accepted.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct OfferOrdered {
    /// The command.
    pub cmd: OfferOrderCmd,
    /// The resolved funding.
    pub funding: Funding,
    /// The offer's campaign.
    pub campaign_token: String,
    /// Paid by the funding source.
    pub purchase_amount: Money,
    /// Credited to the MSA's credit balance.
    pub reward_amount: Money,
    /// The holder's MSA for the campaign after the order.
    pub aggregated_after: MsaBalance,
}

/// `fee_transfer` accepted.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct FeeTransferred {
    /// The command.
    pub cmd: FeeTransferCmd,
    /// The holder's program (whose fee account is credited).
    pub program_token: String,
    /// Fees charged.
    pub fees: Vec<ChargedFee>,
}

/// How a journal entry moves money (resolved from type, group and status).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Encode, Decode)]
pub enum JeEffect {
    /// Recorded and counted; moves no balance.
    NoBalance,
    /// `authorization` PENDING: places a hold.
    Hold,
    /// `authorization.clearing` POSTED: a purchase; releases its hold.
    Clearing,
    /// `authorization.reversal`: releases (part of) a hold.
    Reversal,
    /// `pindebit` POSTED: a PIN purchase.
    PinPurchase,
    /// `pindebit.atm.withdrawal` POSTED.
    AtmWithdrawal,
    /// `refund` POSTED: a credit from the network.
    Refund,
    /// `refund` PENDING: a pending credit.
    PendingRefund,
    /// `payment` POSTED on a credit account.
    Payment,
    /// `account.interest` POSTED.
    Interest,
    /// `account.fee.*` POSTED.
    Fee,
    /// ADJUSTMENT group, credit direction.
    AdjustmentCredit,
    /// ADJUSTMENT group, debit direction.
    AdjustmentDebit,
    /// REWARD group: a credit from the program.
    Reward,
}

impl JeEffect {
    /// The sign an ADJUSTMENT entry moves the program's bank with, as the
    /// views count it: −1 for a credit to the GPA (money leaves the bank),
    /// +1 for a debit, 0 for every other effect.
    pub fn bank_adjustment_sign(self) -> i64 {
        match self {
            JeEffect::AdjustmentCredit => -1,
            JeEffect::AdjustmentDebit => 1,
            JeEffect::NoBalance
            | JeEffect::Hold
            | JeEffect::Clearing
            | JeEffect::Reversal
            | JeEffect::PinPurchase
            | JeEffect::AtmWithdrawal
            | JeEffect::Refund
            | JeEffect::PendingRefund
            | JeEffect::Payment
            | JeEffect::Interest
            | JeEffect::Fee
            | JeEffect::Reward => 0,
        }
    }
}

/// `journal_entry` accepted.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct JournalEntryRecorded {
    /// The command.
    pub cmd: JournalEntryCmd,
    /// The program of the GPA holder or credit account.
    pub program_token: String,
    /// The resolved effect.
    pub effect: JeEffect,
    /// Hold placed (Hold) or released (Clearing, Reversal).
    pub hold_amount: Money,
    /// Just-in-time load from the program bank into the GPA.
    pub jit_load: Money,
    /// Just-in-time unload from the GPA back to the program bank.
    pub jit_unload: Money,
    /// Pending credit added (PendingRefund) or released (Refund of a pending one).
    pub pending_credit: Money,
}

/// A ledger account; postings move money between them.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Encode, Decode)]
pub enum Account {
    /// A program's bank account.
    ProgramBank(String),
    /// Where a program's opening balance and deposits come from.
    ProgramEquity(String),
    /// A program's fee income.
    ProgramFees(String),
    /// A program's reward expense.
    ProgramRewards(String),
    /// A program's interest and credit fee income.
    ProgramIncome(String),
    /// Payments received on a program's credit accounts.
    CreditPayments(String),
    /// A holder-owned funding source (ach / paymentcard), external money.
    FundingSource(String),
    /// A holder's GPA.
    Gpa(Holder),
    /// A holder's MSA for a campaign (ledger balance).
    Msa(Holder, String),
    /// A holder's MSA credit (reward) balance for a campaign.
    MsaCredit(Holder, String),
    /// A credit account (negative = owed by the cardholder).
    Credit(String),
    /// Settlement with a card network.
    Network(String),
}

/// One line of double entry: `amount` is added to `account`'s balance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Posting {
    /// Account.
    pub account: Account,
    /// Signed change.
    pub amount: Money,
}

impl Funding {
    /// The account the funding source's money sits in.
    pub fn account(&self) -> Account {
        if self.kind.is_program() {
            Account::ProgramBank(self.program_token.clone())
        } else {
            Account::FundingSource(self.source_token.clone())
        }
    }
}

/// The double-entry lines of an event. They always sum to zero.
pub fn postings(event: &Event) -> Vec<Posting> {
    let mut p = Postings(Vec::new());
    match event {
        Event::ProgramCreated(c) => p.transfer(
            Account::ProgramEquity(c.token.clone()),
            Account::ProgramBank(c.token.clone()),
            c.opening_bank_balance,
        ),
        Event::UserCreated(_)
        | Event::BusinessCreated(_)
        | Event::FundingSourceCreated { .. }
        | Event::FundingSourceAddressCreated(_)
        | Event::FeeCreated(_)
        | Event::CampaignCreated(_)
        | Event::MerchantCreated(_)
        | Event::OfferCreated(_)
        | Event::CreditAccountOpened(_)
        | Event::MsaOrderUpdated(_)
        | Event::Ticked(_) => {}
        Event::GpaOrdered(e) => {
            let gpa = Account::Gpa(e.cmd.holder.clone());
            let fees: Money = e.fees.iter().map(|f| f.amount).sum();
            p.transfer(e.funding.account(), gpa.clone(), e.cmd.amount.plus(fees));
            for f in &e.fees {
                p.transfer(gpa.clone(), Account::ProgramFees(e.funding.program_token.clone()), f.amount);
            }
        }
        Event::GpaUnloaded(e) => p.transfer(Account::Gpa(e.holder.clone()), e.funding.account(), e.cmd.amount),
        Event::MsaOrdered(e) => p.transfer(
            e.funding.account(),
            Account::Msa(e.cmd.holder.clone(), e.cmd.campaign_token.clone()),
            e.cmd.purchase_amount,
        ),
        Event::MsaUnloaded(e) => {
            p.transfer(Account::Msa(e.holder.clone(), e.campaign_token.clone()), e.funding.account(), e.cmd.amount)
        }
        Event::OfferOrdered(e) => {
            p.transfer(
                e.funding.account(),
                Account::Msa(e.cmd.holder.clone(), e.campaign_token.clone()),
                e.purchase_amount,
            );
            p.transfer(
                Account::ProgramRewards(e.funding.program_token.clone()),
                Account::MsaCredit(e.cmd.holder.clone(), e.campaign_token.clone()),
                e.reward_amount,
            );
        }
        Event::FeeTransferred(e) => {
            for f in &e.fees {
                p.transfer(Account::Gpa(e.cmd.holder.clone()), Account::ProgramFees(e.program_token.clone()), f.amount);
            }
        }
        Event::JournalEntryRecorded(e) => journal_postings(e, &mut p),
        Event::ProgramDeposited(c) => p.transfer(
            Account::ProgramEquity(c.program_token.clone()),
            Account::ProgramBank(c.program_token.clone()),
            c.amount,
        ),
        Event::CyclesClosed(e) => {
            for (close, program) in e.closes.iter().zip(&e.program_tokens) {
                let acct = Account::Credit(close.account_token.clone());
                for charge in close.interest_entry.iter().chain(close.late_fee_entry.iter()) {
                    p.transfer(acct.clone(), Account::ProgramIncome(program.clone()), charge.amount);
                }
            }
        }
    }
    p.0
}

fn journal_postings(e: &JournalEntryRecorded, p: &mut Postings) {
    let program = e.program_token.clone();
    let bank = Account::ProgramBank(program.clone());
    let network = Account::Network(e.cmd.network.clone().unwrap_or_else(|| "UNKNOWN".into()));
    let amount = e.cmd.amount;
    match &e.cmd.target {
        JeTarget::Gpa(h) => {
            let gpa = Account::Gpa(h.clone());
            p.transfer(bank.clone(), gpa.clone(), e.jit_load);
            match e.effect {
                JeEffect::NoBalance
                | JeEffect::Hold
                | JeEffect::Reversal
                | JeEffect::PendingRefund
                | JeEffect::Payment => {}
                JeEffect::Clearing | JeEffect::PinPurchase | JeEffect::AtmWithdrawal => {
                    p.transfer(gpa.clone(), network, amount)
                }
                JeEffect::Refund => p.transfer(network, gpa.clone(), amount),
                JeEffect::Interest => p.transfer(gpa.clone(), Account::ProgramIncome(program), amount),
                JeEffect::Fee => p.transfer(gpa.clone(), Account::ProgramFees(program), amount),
                JeEffect::AdjustmentCredit => p.transfer(bank.clone(), gpa.clone(), amount),
                JeEffect::AdjustmentDebit => p.transfer(gpa.clone(), bank.clone(), amount),
                JeEffect::Reward => p.transfer(Account::ProgramRewards(program), gpa.clone(), amount),
            }
            p.transfer(gpa, bank, e.jit_unload);
        }
        JeTarget::Credit(a) => {
            let acct = Account::Credit(a.clone());
            match e.effect {
                JeEffect::NoBalance | JeEffect::Hold | JeEffect::Reversal | JeEffect::PendingRefund => {}
                JeEffect::Clearing | JeEffect::PinPurchase | JeEffect::AtmWithdrawal => {
                    p.transfer(acct, network, amount)
                }
                JeEffect::Refund => p.transfer(network, acct, amount),
                JeEffect::Payment => p.transfer(Account::CreditPayments(program), acct, amount),
                JeEffect::Interest | JeEffect::Fee | JeEffect::AdjustmentDebit => {
                    p.transfer(acct, Account::ProgramIncome(program), amount)
                }
                JeEffect::AdjustmentCredit => p.transfer(Account::ProgramIncome(program), acct, amount),
                JeEffect::Reward => p.transfer(Account::ProgramRewards(program), acct, amount),
            }
        }
    }
}

struct Postings(Vec<Posting>);

impl Postings {
    /// Moves `amount` from `from` to `to` (two lines summing to zero).
    fn transfer(&mut self, from: Account, to: Account, amount: Money) {
        if amount.is_zero() {
            return;
        }
        self.0.push(Posting { account: from, amount: -amount });
        self.0.push(Posting { account: to, amount });
    }
}
