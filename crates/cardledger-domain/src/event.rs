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
///
/// Encoded as bincode of `fingerprint`, a tag, the date when there is one,
/// then `event`; the tag is `corrected_post_date`'s option tag widened by
/// the fingerprint's kind (docs/format.md, "Event payload"): 0 / 1 (no date
/// / a date follows) for a [`FingerprintKind::Blake3`] fingerprint — the
/// bytes of every payload written before the kind existed — 2 / 3 for
/// [`FingerprintKind::Sip13`] and 4 / 5 for [`FingerprintKind::Sip13Payload`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fact {
    /// Fingerprint of the command payload (for idempotency conflicts).
    pub fingerprint: u64,
    /// How `fingerprint` was computed.
    pub fingerprint_kind: FingerprintKind,
    /// The reporting day when it differs from the posting day.
    pub corrected_post_date: Option<Date>,
    /// The event.
    pub event: Event,
}

/// How a fact's fingerprint was computed from its command and
/// `corrected_post_date` (`state::fingerprint`, `state::fingerprint_sip13`,
/// `state::fingerprint_blake3`; docs/format.md, "Fingerprint kind").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FingerprintKind {
    /// The first 8 bytes (big-endian) of blake3 over the bincode
    /// (`standard()`: little-endian varints) of the command and its
    /// `corrected_post_date`: every payload written before payload tag 2 / 3
    /// (still read, and still matched when such a command is resubmitted).
    Blake3,
    /// SipHash-1-3 with the fixed key `state::FINGERPRINT_KEY` over the same
    /// bytes: payload tag 2 / 3 (still read and matched the same way).
    Sip13,
    /// SipHash-1-3 with the same key over the payload's own bytes from its
    /// tag through the end of its command: the tag (4 / 5), the date when
    /// there is one, then the command's bincode in the payload's
    /// configuration ([`crate::codec`]: big-endian varints) — an event's
    /// variant index is its command's, and the command is its first field.
    /// What `decide` records now: the command is encoded once, into the
    /// payload, and hashed there ([`crate::encode_new_fact`]).
    Sip13Payload,
}

impl FingerprintKind {
    /// The payload tag of a fact of this kind without a
    /// `corrected_post_date` (one more with one).
    pub fn tag(self) -> u8 {
        match self {
            FingerprintKind::Blake3 => 0,
            FingerprintKind::Sip13 => 2,
            FingerprintKind::Sip13Payload => 4,
        }
    }
}

impl Encode for Fact {
    fn encode<E: bincode::enc::Encoder>(&self, e: &mut E) -> Result<(), bincode::error::EncodeError> {
        self.fingerprint.encode(e)?;
        encode_tag_and_date(self.fingerprint_kind, self.corrected_post_date, e)?;
        self.event.encode(e)
    }
}

/// A fact's tag (the kind's, plus one when a date follows) and its date.
pub(crate) fn encode_tag_and_date<E: bincode::enc::Encoder>(
    kind: FingerprintKind,
    corrected_post_date: Option<Date>,
    e: &mut E,
) -> Result<(), bincode::error::EncodeError> {
    match corrected_post_date {
        None => kind.tag().encode(e),
        Some(date) => {
            (kind.tag() + 1).encode(e)?;
            date.encode(e)
        }
    }
}

impl<C> Decode<C> for Fact {
    fn decode<D: bincode::de::Decoder<Context = C>>(d: &mut D) -> Result<Self, bincode::error::DecodeError> {
        let fingerprint = u64::decode(d)?;
        let tag = u8::decode(d)?;
        let fingerprint_kind = match tag {
            0 | 1 => FingerprintKind::Blake3,
            2 | 3 => FingerprintKind::Sip13,
            4 | 5 => FingerprintKind::Sip13Payload,
            _ => {
                return Err(bincode::error::DecodeError::UnexpectedVariant {
                    type_name: "Fact.corrected_post_date",
                    allowed: &bincode::error::AllowedEnumVariants::Range { min: 0, max: 5 },
                    found: u32::from(tag),
                })
            }
        };
        let corrected_post_date = if tag % 2 == 1 { Some(Date::decode(d)?) } else { None };
        Ok(Fact { fingerprint, fingerprint_kind, corrected_post_date, event: Event::decode(d)? })
    }
}
bincode::impl_borrow_decode!(Fact);

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
///
/// Its binary form is the derived one (a variant index as a u32 varint,
/// then the fields in declaration order), written by hand
/// ([`Event::encode_marking_command`]) so that the payload encoder can note
/// where the command ends.
#[derive(Clone, Debug, PartialEq, Eq, Decode)]
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
        program_token: Token,
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

impl Encode for Event {
    fn encode<E: bincode::enc::Encoder>(&self, e: &mut E) -> Result<(), bincode::error::EncodeError> {
        self.encode_marking_command(e, |_| {})
    }
}

/// A variant index and the command: the command's own bincode (an event's
/// variant index is its command's, `Command` 0–19 = `Event` 0–19).
/// Then `end(e)`.
#[inline]
fn command<E: bincode::enc::Encoder>(
    index: u32,
    cmd: &impl Encode,
    e: &mut E,
    end: &mut impl FnMut(&mut E),
) -> Result<(), bincode::error::EncodeError> {
    index.encode(e)?;
    cmd.encode(e)?;
    end(e);
    Ok(())
}

impl Event {
    /// Encodes the event as `#[derive(Encode)]` would, calling
    /// `command_end(e)` right after the variant index and the command — the
    /// command's own bincode — for every variant but `CyclesClosed` (which
    /// holds no command; it is never called for it).
    pub fn encode_marking_command<E: bincode::enc::Encoder>(
        &self,
        e: &mut E,
        mut command_end: impl FnMut(&mut E),
    ) -> Result<(), bincode::error::EncodeError> {
        let end = &mut command_end;
        match self {
            Event::ProgramCreated(c) => command(0, c, e, end),
            Event::UserCreated(c) => command(1, c, e, end),
            Event::BusinessCreated(c) => command(2, c, e, end),
            Event::FundingSourceCreated { cmd: c, program_token } => {
                command(3, c, e, end)?;
                program_token.encode(e)
            }
            Event::FundingSourceAddressCreated(c) => command(4, c, e, end),
            Event::FeeCreated(c) => command(5, c, e, end),
            Event::CampaignCreated(c) => command(6, c, e, end),
            Event::MerchantCreated(c) => command(7, c, e, end),
            Event::OfferCreated(c) => command(8, c, e, end),
            Event::CreditAccountOpened(c) => command(9, c, e, end),
            Event::GpaOrdered(GpaOrdered { cmd: c, funding, fees }) => {
                command(10, c, e, end)?;
                funding.encode(e)?;
                fees.encode(e)
            }
            Event::GpaUnloaded(GpaUnloaded { cmd: c, holder, funding }) => {
                command(11, c, e, end)?;
                holder.encode(e)?;
                funding.encode(e)
            }
            Event::MsaOrdered(MsaOrdered { cmd: c, funding, aggregated_after }) => {
                command(12, c, e, end)?;
                funding.encode(e)?;
                aggregated_after.encode(e)
            }
            Event::MsaOrderUpdated(c) => command(13, c, e, end),
            Event::MsaUnloaded(MsaUnloaded {
                cmd: c,
                holder,
                campaign_token,
                funding,
                order_after,
                aggregated_after,
            }) => {
                command(14, c, e, end)?;
                holder.encode(e)?;
                campaign_token.encode(e)?;
                funding.encode(e)?;
                order_after.encode(e)?;
                aggregated_after.encode(e)
            }
            Event::OfferOrdered(OfferOrdered {
                cmd: c,
                funding,
                campaign_token,
                purchase_amount,
                reward_amount,
                aggregated_after,
            }) => {
                command(15, c, e, end)?;
                funding.encode(e)?;
                campaign_token.encode(e)?;
                purchase_amount.encode(e)?;
                reward_amount.encode(e)?;
                aggregated_after.encode(e)
            }
            Event::FeeTransferred(FeeTransferred { cmd: c, program_token, fees }) => {
                command(16, c, e, end)?;
                program_token.encode(e)?;
                fees.encode(e)
            }
            Event::JournalEntryRecorded(JournalEntryRecorded {
                cmd: c,
                program_token,
                effect,
                hold_amount,
                jit_load,
                jit_unload,
                pending_credit,
            }) => {
                command(17, c, e, end)?;
                program_token.encode(e)?;
                effect.encode(e)?;
                hold_amount.encode(e)?;
                jit_load.encode(e)?;
                jit_unload.encode(e)?;
                pending_credit.encode(e)
            }
            Event::ProgramDeposited(c) => command(18, c, e, end),
            Event::Ticked(c) => command(19, c, e, end),
            Event::CyclesClosed(c) => {
                20u32.encode(e)?;
                c.encode(e)
            }
        }
    }

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
    pub source_token: Token,
    /// Its kind.
    pub kind: FundingKind,
    /// The program of the holder (whose bank pays for program sources).
    pub program_token: Token,
}

/// A charged fee and its amount at the time.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct ChargedFee {
    /// Fee token.
    pub token: Token,
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
    pub campaign_token: Token,
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
    pub campaign_token: Token,
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
    pub program_token: Token,
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
    pub program_token: Token,
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
///
/// Its `Hash` is [`AccountRef`]'s, so a table of accounts can be searched
/// with a borrowed [`AccountRef`] (`state::AccountMap`) without building
/// (allocating) an owned key.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Encode, Decode)]
pub enum Account {
    /// A program's bank account.
    ProgramBank(Token),
    /// Where a program's opening balance and deposits come from.
    ProgramEquity(Token),
    /// A program's fee income.
    ProgramFees(Token),
    /// A program's reward expense.
    ProgramRewards(Token),
    /// A program's interest and credit fee income.
    ProgramIncome(Token),
    /// Payments received on a program's credit accounts.
    CreditPayments(Token),
    /// A holder-owned funding source (ach / paymentcard), external money.
    FundingSource(Token),
    /// A holder's GPA.
    Gpa(Holder),
    /// A holder's MSA for a campaign (ledger balance).
    Msa(Holder, Token),
    /// A holder's MSA credit (reward) balance for a campaign.
    MsaCredit(Holder, Token),
    /// A credit account (negative = owed by the cardholder).
    Credit(Token),
    /// Settlement with a card network.
    Network(Token),
}

/// An [`Account`] borrowed from an event or a command: the same variants
/// over `&str`s, for lookups and postings that allocate nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccountRef<'a> {
    /// [`Account::ProgramBank`].
    ProgramBank(&'a str),
    /// [`Account::ProgramEquity`].
    ProgramEquity(&'a str),
    /// [`Account::ProgramFees`].
    ProgramFees(&'a str),
    /// [`Account::ProgramRewards`].
    ProgramRewards(&'a str),
    /// [`Account::ProgramIncome`].
    ProgramIncome(&'a str),
    /// [`Account::CreditPayments`].
    CreditPayments(&'a str),
    /// [`Account::FundingSource`].
    FundingSource(&'a str),
    /// [`Account::Gpa`].
    Gpa(&'a Holder),
    /// [`Account::Msa`].
    Msa(&'a Holder, &'a str),
    /// [`Account::MsaCredit`].
    MsaCredit(&'a Holder, &'a str),
    /// [`Account::Credit`].
    Credit(&'a str),
    /// [`Account::Network`].
    Network(&'a str),
}

impl std::hash::Hash for AccountRef<'_> {
    /// One word for the variant, a holder's kind and the first string's
    /// length, then the account's strings: equal accounts hash equal (as
    /// `Eq` requires) in fewer hasher rounds than the derived hash (a word
    /// per enum and a terminator per string). An [`Account`] hashes as its
    /// borrowed form.
    #[inline]
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        let holder = |h: &Holder| match h {
            Holder::User(_) => 0,
            Holder::Business(_) => 1 << 8,
        };
        let (tag, first, second): (u64, &str, Option<&str>) = match *self {
            AccountRef::ProgramBank(t) => (0, t, None),
            AccountRef::ProgramEquity(t) => (1, t, None),
            AccountRef::ProgramFees(t) => (2, t, None),
            AccountRef::ProgramRewards(t) => (3, t, None),
            AccountRef::ProgramIncome(t) => (4, t, None),
            AccountRef::CreditPayments(t) => (5, t, None),
            AccountRef::FundingSource(t) => (6, t, None),
            AccountRef::Gpa(h) => (7 | holder(h), h.token(), None),
            AccountRef::Msa(h, c) => (8 | holder(h), h.token(), Some(c)),
            AccountRef::MsaCredit(h, c) => (9 | holder(h), h.token(), Some(c)),
            AccountRef::Credit(t) => (10, t, None),
            AccountRef::Network(t) => (11, t, None),
        };
        state.write_u64(tag | (first.len() as u64) << 16);
        state.write(first.as_bytes());
        if let Some(second) = second {
            state.write(second.as_bytes());
        }
    }
}

impl AccountRef<'_> {
    /// The owned account.
    pub fn to_account(self) -> Account {
        match self {
            AccountRef::ProgramBank(t) => Account::ProgramBank(Token::from(t)),
            AccountRef::ProgramEquity(t) => Account::ProgramEquity(Token::from(t)),
            AccountRef::ProgramFees(t) => Account::ProgramFees(Token::from(t)),
            AccountRef::ProgramRewards(t) => Account::ProgramRewards(Token::from(t)),
            AccountRef::ProgramIncome(t) => Account::ProgramIncome(Token::from(t)),
            AccountRef::CreditPayments(t) => Account::CreditPayments(Token::from(t)),
            AccountRef::FundingSource(t) => Account::FundingSource(Token::from(t)),
            AccountRef::Gpa(h) => Account::Gpa(h.clone()),
            AccountRef::Msa(h, c) => Account::Msa(h.clone(), Token::from(c)),
            AccountRef::MsaCredit(h, c) => Account::MsaCredit(h.clone(), Token::from(c)),
            AccountRef::Credit(t) => Account::Credit(Token::from(t)),
            AccountRef::Network(t) => Account::Network(Token::from(t)),
        }
    }
}

impl Account {
    /// The account, borrowed.
    #[inline]
    pub fn as_ref(&self) -> AccountRef<'_> {
        match self {
            Account::ProgramBank(t) => AccountRef::ProgramBank(t),
            Account::ProgramEquity(t) => AccountRef::ProgramEquity(t),
            Account::ProgramFees(t) => AccountRef::ProgramFees(t),
            Account::ProgramRewards(t) => AccountRef::ProgramRewards(t),
            Account::ProgramIncome(t) => AccountRef::ProgramIncome(t),
            Account::CreditPayments(t) => AccountRef::CreditPayments(t),
            Account::FundingSource(t) => AccountRef::FundingSource(t),
            Account::Gpa(h) => AccountRef::Gpa(h),
            Account::Msa(h, c) => AccountRef::Msa(h, c),
            Account::MsaCredit(h, c) => AccountRef::MsaCredit(h, c),
            Account::Credit(t) => AccountRef::Credit(t),
            Account::Network(t) => AccountRef::Network(t),
        }
    }
}

impl std::hash::Hash for Account {
    #[inline]
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_ref().hash(state)
    }
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
        self.account_ref().to_account()
    }

    /// [`Funding::account`], borrowed.
    pub fn account_ref(&self) -> AccountRef<'_> {
        if self.kind.is_program() {
            AccountRef::ProgramBank(&self.program_token)
        } else {
            AccountRef::FundingSource(&self.source_token)
        }
    }
}

/// How one event moves one program's bank, by view column, in cents signed
/// from the bank's side (money leaving the bank is negative). The one home
/// of the bank-flow rules: the program-balances fold, the SQLite baseline
/// and (through a test) [`postings`]' `ProgramBank` lines agree with it.
/// A program's opening balance is not a flow (the views keep it apart).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BankFlow<'a> {
    /// The program whose bank moves.
    pub program: &'a str,
    /// Orders paid from a `program` funding source (≤ 0).
    pub partner_loads: i64,
    /// Unloads of such orders back to the bank (≥ 0).
    pub partner_unloads: i64,
    /// Just-in-time loads: bank-funded journal entries and orders paid from a
    /// `programgateway` source (≤ 0).
    pub jit_loads: i64,
    /// JIT funds returned, and unloads of `programgateway`-funded orders (≥ 0).
    pub jit_unloads: i64,
    /// ADJUSTMENT journal entries on GPAs: partner-funds adjustments, or JIT
    /// adjustments once the program has an active `programgateway` source
    /// (the caller knows which).
    pub adjustments: i64,
    /// `program_deposit`s (> 0).
    pub deposit: i64,
}

impl BankFlow<'_> {
    /// Every column summed: the bank balance's change.
    pub fn net(&self) -> i64 {
        self.partner_loads
            .saturating_add(self.partner_unloads)
            .saturating_add(self.jit_loads)
            .saturating_add(self.jit_unloads)
            .saturating_add(self.adjustments)
            .saturating_add(self.deposit)
    }
}

/// The program-bank movement of `event`, if it can move one: an order or
/// unload through a program's own source (`program`: partner funds;
/// `programgateway`: JIT), a GPA journal entry with a JIT amount or an
/// adjustment, a deposit. `None` for every other event (statement closes
/// post between credit accounts and the program's income, never the bank).
/// An order through a program source is `Some` even for zero cents.
pub fn bank_flow(event: &Event) -> Option<BankFlow<'_>> {
    match event {
        Event::GpaOrdered(e) => order_flow(&e.funding, || plus_fees_cents(e.cmd.amount, &e.fees), true),
        Event::MsaOrdered(e) => order_flow(&e.funding, || e.cmd.purchase_amount.cents(), true),
        Event::OfferOrdered(e) => order_flow(&e.funding, || e.purchase_amount.cents(), true),
        Event::GpaUnloaded(e) => order_flow(&e.funding, || e.cmd.amount.cents(), false),
        Event::MsaUnloaded(e) => order_flow(&e.funding, || e.cmd.amount.cents(), false),
        Event::ProgramDeposited(c) => {
            Some(BankFlow { program: c.program_token.as_str(), deposit: c.amount.cents(), ..BankFlow::default() })
        }
        // only GPA entries touch the bank: JIT funding and adjustments
        Event::JournalEntryRecorded(e) => match e.cmd.target {
            JeTarget::Gpa(_) => {
                let adjustments = e.effect.bank_adjustment_sign().saturating_mul(e.cmd.amount.cents());
                let (load, unload) = (e.jit_load.cents(), e.jit_unload.cents());
                (load != 0 || unload != 0 || adjustments != 0).then(|| BankFlow {
                    program: e.program_token.as_str(),
                    jit_loads: load.saturating_neg(),
                    jit_unloads: unload,
                    adjustments,
                    ..BankFlow::default()
                })
            }
            JeTarget::Credit(_) => None,
        },
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
        | Event::MsaOrderUpdated(_)
        | Event::FeeTransferred(_)
        | Event::CyclesClosed(_)
        | Event::Ticked(_) => None,
    }
}

/// The bank flow of an order (`load`) or unload of `cents()` through `f`:
/// `None` unless `f` is one of the program's own sources.
fn order_flow(f: &Funding, cents: impl FnOnce() -> i64, load: bool) -> Option<BankFlow<'_>> {
    let mut b = BankFlow { program: f.program_token.as_str(), ..BankFlow::default() };
    match (f.kind, load) {
        (FundingKind::Program, true) => b.partner_loads = cents().saturating_neg(),
        (FundingKind::Program, false) => b.partner_unloads = cents(),
        (FundingKind::ProgramGateway, true) => b.jit_loads = cents().saturating_neg(),
        (FundingKind::ProgramGateway, false) => b.jit_unloads = cents(),
        (FundingKind::Ach | FundingKind::PaymentCard, _) => return None,
    }
    Some(b)
}

/// `amount.plus(Σ fees).cents()`, summed in integer cents when every value
/// is exact in cents and no partial sum leaves `i64` (the exact sums are
/// then equal); otherwise by that very expression.
#[inline]
fn plus_fees_cents(amount: Money, fees: &[ChargedFee]) -> i64 {
    let mut total = amount.exact_cents();
    for f in fees {
        total = total.and_then(|t| t.checked_add(f.amount.exact_cents()?));
    }
    total.unwrap_or_else(|| {
        let fees: Money = fees.iter().map(|f| f.amount).sum();
        amount.plus(fees).cents()
    })
}

/// The double-entry lines of an event. They always sum to zero.
pub fn postings(event: &Event) -> Vec<Posting> {
    let mut out = Vec::new();
    for_each_posting(event, |account, amount| out.push(Posting { account: account.to_account(), amount }));
    out
}

/// The lines of [`postings`], in the same order, borrowed from the event:
/// `f(account, amount)` per line, nothing allocated (`apply` folds them so).
pub fn for_each_posting<'a>(event: &'a Event, f: impl FnMut(AccountRef<'a>, Money)) {
    use AccountRef as A;
    let mut p = Postings(f);
    match event {
        Event::ProgramCreated(c) => {
            p.transfer(A::ProgramEquity(&c.token), A::ProgramBank(&c.token), c.opening_bank_balance)
        }
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
            let gpa = A::Gpa(&e.cmd.holder);
            let fees: Money = e.fees.iter().map(|f| f.amount).sum();
            p.transfer(e.funding.account_ref(), gpa, e.cmd.amount.plus(fees));
            for f in &e.fees {
                p.transfer(gpa, A::ProgramFees(&e.funding.program_token), f.amount);
            }
        }
        Event::GpaUnloaded(e) => p.transfer(A::Gpa(&e.holder), e.funding.account_ref(), e.cmd.amount),
        Event::MsaOrdered(e) => {
            p.transfer(e.funding.account_ref(), A::Msa(&e.cmd.holder, &e.cmd.campaign_token), e.cmd.purchase_amount)
        }
        Event::MsaUnloaded(e) => {
            p.transfer(A::Msa(&e.holder, &e.campaign_token), e.funding.account_ref(), e.cmd.amount)
        }
        Event::OfferOrdered(e) => {
            p.transfer(e.funding.account_ref(), A::Msa(&e.cmd.holder, &e.campaign_token), e.purchase_amount);
            p.transfer(
                A::ProgramRewards(&e.funding.program_token),
                A::MsaCredit(&e.cmd.holder, &e.campaign_token),
                e.reward_amount,
            );
        }
        Event::FeeTransferred(e) => {
            for f in &e.fees {
                p.transfer(A::Gpa(&e.cmd.holder), A::ProgramFees(&e.program_token), f.amount);
            }
        }
        Event::JournalEntryRecorded(e) => journal_postings(e, &mut p),
        Event::ProgramDeposited(c) => {
            p.transfer(A::ProgramEquity(&c.program_token), A::ProgramBank(&c.program_token), c.amount)
        }
        Event::CyclesClosed(e) => {
            for (close, program) in e.closes.iter().zip(&e.program_tokens) {
                let acct = A::Credit(&close.account_token);
                for charge in close.interest_entry.iter().chain(close.late_fee_entry.iter()) {
                    p.transfer(acct, A::ProgramIncome(program), charge.amount);
                }
            }
        }
    }
}

fn journal_postings<'a>(e: &'a JournalEntryRecorded, p: &mut Postings<impl FnMut(AccountRef<'a>, Money)>) {
    use AccountRef as A;
    let program = e.program_token.as_str();
    let bank = A::ProgramBank(program);
    let network = A::Network(e.cmd.network.as_deref().unwrap_or("UNKNOWN"));
    let amount = e.cmd.amount;
    match &e.cmd.target {
        JeTarget::Gpa(h) => {
            let gpa = A::Gpa(h);
            p.transfer(bank, gpa, e.jit_load);
            match e.effect {
                JeEffect::NoBalance
                | JeEffect::Hold
                | JeEffect::Reversal
                | JeEffect::PendingRefund
                | JeEffect::Payment => {}
                JeEffect::Clearing | JeEffect::PinPurchase | JeEffect::AtmWithdrawal => {
                    p.transfer(gpa, network, amount)
                }
                JeEffect::Refund => p.transfer(network, gpa, amount),
                JeEffect::Interest => p.transfer(gpa, A::ProgramIncome(program), amount),
                JeEffect::Fee => p.transfer(gpa, A::ProgramFees(program), amount),
                JeEffect::AdjustmentCredit => p.transfer(bank, gpa, amount),
                JeEffect::AdjustmentDebit => p.transfer(gpa, bank, amount),
                JeEffect::Reward => p.transfer(A::ProgramRewards(program), gpa, amount),
            }
            p.transfer(gpa, bank, e.jit_unload);
        }
        JeTarget::Credit(a) => {
            let acct = A::Credit(a);
            match e.effect {
                JeEffect::NoBalance | JeEffect::Hold | JeEffect::Reversal | JeEffect::PendingRefund => {}
                JeEffect::Clearing | JeEffect::PinPurchase | JeEffect::AtmWithdrawal => {
                    p.transfer(acct, network, amount)
                }
                JeEffect::Refund => p.transfer(network, acct, amount),
                JeEffect::Payment => p.transfer(A::CreditPayments(program), acct, amount),
                JeEffect::Interest | JeEffect::Fee | JeEffect::AdjustmentDebit => {
                    p.transfer(acct, A::ProgramIncome(program), amount)
                }
                JeEffect::AdjustmentCredit => p.transfer(A::ProgramIncome(program), acct, amount),
                JeEffect::Reward => p.transfer(A::ProgramRewards(program), acct, amount),
            }
        }
    }
}

struct Postings<F>(F);

impl<'a, F: FnMut(AccountRef<'a>, Money)> Postings<F> {
    /// Moves `amount` from `from` to `to` (two lines summing to zero).
    fn transfer(&mut self, from: AccountRef<'a>, to: AccountRef<'a>, amount: Money) {
        if amount.is_zero() {
            return;
        }
        (self.0)(from, -amount);
        (self.0)(to, amount);
    }
}
