//! Commands: requests to the engine, as parsed from the wire (`wire.rs`) or
//! built by a host in Rust. A command is not a fact; the engine decides it
//! into an event or a rejection.

use bincode::{Decode, Encode};
use rust_decimal::Decimal;

use crate::money::Money;
use crate::time::{Date, Timestamp};
pub use crate::token::{Text, Token};

/// A command with its optional business time and reporting-date correction.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct CommandLine {
    /// Business time (`time` beside the command key); the host's clock when absent.
    pub time: Option<Timestamp>,
    /// The day a money movement is reported on, when it differs from its posting day.
    pub corrected_post_date: Option<Date>,
    /// The request itself.
    pub command: Command,
}

/// Every command the engine understands; the variant names are the wire keys.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub enum Command {
    /// `program`
    Program(ProgramCmd),
    /// `user`
    User(HolderCmd),
    /// `business`
    Business(HolderCmd),
    /// `funding_source`
    FundingSource(FundingSourceCmd),
    /// `funding_source_address`
    FundingSourceAddress(FundingSourceAddressCmd),
    /// `fee`
    Fee(FeeCmd),
    /// `campaign`
    Campaign(CampaignCmd),
    /// `merchant` (also creates its default campaign with the same token)
    Merchant(CampaignCmd),
    /// `offer`
    Offer(OfferCmd),
    /// `credit_account`
    CreditAccount(CreditAccountCmd),
    /// `gpa_order`
    GpaOrder(GpaOrderCmd),
    /// `gpa_unload`
    GpaUnload(UnloadCmd),
    /// `msa_order`
    MsaOrder(MsaOrderCmd),
    /// `msa_order_update`
    MsaOrderUpdate(MsaOrderUpdateCmd),
    /// `msa_unload`
    MsaUnload(UnloadCmd),
    /// `offer_order`
    OfferOrder(OfferOrderCmd),
    /// `fee_transfer`
    FeeTransfer(FeeTransferCmd),
    /// `journal_entry`
    JournalEntry(JournalEntryCmd),
    /// `program_deposit`
    ProgramDeposit(ProgramDepositCmd),
    /// `tick`
    Tick(TickCmd),
}

impl Command {
    /// The wire key of the command (`gpa_order`, …).
    pub fn key(&self) -> &'static str {
        match self {
            Command::Program(_) => "program",
            Command::User(_) => "user",
            Command::Business(_) => "business",
            Command::FundingSource(_) => "funding_source",
            Command::FundingSourceAddress(_) => "funding_source_address",
            Command::Fee(_) => "fee",
            Command::Campaign(_) => "campaign",
            Command::Merchant(_) => "merchant",
            Command::Offer(_) => "offer",
            Command::CreditAccount(_) => "credit_account",
            Command::GpaOrder(_) => "gpa_order",
            Command::GpaUnload(_) => "gpa_unload",
            Command::MsaOrder(_) => "msa_order",
            Command::MsaOrderUpdate(_) => "msa_order_update",
            Command::MsaUnload(_) => "msa_unload",
            Command::OfferOrder(_) => "offer_order",
            Command::FeeTransfer(_) => "fee_transfer",
            Command::JournalEntry(_) => "journal_entry",
            Command::ProgramDeposit(_) => "program_deposit",
            Command::Tick(_) => "tick",
        }
    }

    /// The command's token (`tick` has none).
    pub fn token(&self) -> Option<&str> {
        Some(match self {
            Command::Program(c) => &c.token,
            Command::User(c) | Command::Business(c) => &c.token,
            Command::FundingSource(c) => &c.token,
            Command::FundingSourceAddress(c) => &c.token,
            Command::Fee(c) => &c.token,
            Command::Campaign(c) | Command::Merchant(c) => &c.token,
            Command::Offer(c) => &c.token,
            Command::CreditAccount(c) => &c.token,
            Command::GpaOrder(c) => &c.token,
            Command::GpaUnload(c) | Command::MsaUnload(c) => &c.token,
            Command::MsaOrder(c) => &c.token,
            Command::MsaOrderUpdate(c) => &c.token,
            Command::OfferOrder(c) => &c.token,
            Command::FeeTransfer(c) => &c.token,
            Command::JournalEntry(c) => &c.token,
            Command::ProgramDeposit(c) => &c.token,
            Command::Tick(_) => return None,
        })
    }
}

impl Command {
    /// The program the command names by token, when it names one itself
    /// (`program.token`, or a `program_token` field); `None` for commands
    /// that name a program only through a holder, order or account, and for
    /// `tick` (every program's). The host's program ownership check reads it.
    pub fn program_token(&self) -> Option<&str> {
        match self {
            Command::Program(c) => Some(&c.token),
            Command::User(c) | Command::Business(c) => Some(&c.program_token),
            Command::FundingSource(c) => c.program_token.as_deref(),
            Command::CreditAccount(c) => Some(&c.program_token),
            Command::ProgramDeposit(c) => Some(&c.program_token),
            Command::FundingSourceAddress(_)
            | Command::Fee(_)
            | Command::Campaign(_)
            | Command::Merchant(_)
            | Command::Offer(_)
            | Command::GpaOrder(_)
            | Command::GpaUnload(_)
            | Command::MsaOrder(_)
            | Command::MsaOrderUpdate(_)
            | Command::MsaUnload(_)
            | Command::OfferOrder(_)
            | Command::FeeTransfer(_)
            | Command::JournalEntry(_)
            | Command::Tick(_) => None,
        }
    }
}

/// An account holder: a user or a business. Each has one GPA.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Encode, Decode)]
pub enum Holder {
    /// `user_token`
    User(Token),
    /// `business_token`
    Business(Token),
}

impl Holder {
    /// The holder's token.
    pub fn token(&self) -> &str {
        match self {
            Holder::User(t) | Holder::Business(t) => t,
        }
    }
    /// The wire field naming this holder (`user_token` / `business_token`).
    pub fn field(&self) -> &'static str {
        match self {
            Holder::User(_) => "user_token",
            Holder::Business(_) => "business_token",
        }
    }
}

/// ISO 4217 currency; USD is the one supported currency.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Encode, Decode)]
pub enum Currency {
    /// US dollar, numeric code 840.
    Usd,
}

impl Currency {
    /// Alpha code.
    pub fn alpha(self) -> &'static str {
        match self {
            Currency::Usd => "USD",
        }
    }
    /// Numeric code.
    pub fn numeric(self) -> &'static str {
        match self {
            Currency::Usd => "840",
        }
    }
}

/// A percentage or rate kept exactly (e.g. APR 14.99).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Rate(pub Decimal);

impl Encode for Rate {
    fn encode<E: bincode::enc::Encoder>(&self, e: &mut E) -> Result<(), bincode::error::EncodeError> {
        self.0.serialize().encode(e)
    }
}
impl<C> Decode<C> for Rate {
    fn decode<D: bincode::de::Decoder<Context = C>>(d: &mut D) -> Result<Self, bincode::error::DecodeError> {
        let bytes = <[u8; 16]>::decode(d)?;
        Ok(Rate(Decimal::deserialize(bytes)))
    }
}
bincode::impl_borrow_decode!(Rate);

/// `program`: a card program with its bank, optional reserve policy and
/// optional funding alert threshold.
///
/// Its binary form (log payloads, snapshots, fingerprints) is the derived
/// one of the first six fields, except that `reserve`'s option tag also
/// says whether `funding_alert_threshold` follows: 0 / 1 (None / Some
/// policy) with no threshold — exactly the bytes written before the
/// threshold existed, so older logs decode unchanged — and 2 / 3 (None /
/// Some policy) followed by the threshold's cents (`docs/format.md`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProgramCmd {
    /// Token.
    pub token: Token,
    /// Bank name.
    pub bank: String,
    /// Currency.
    pub currency_code: Currency,
    /// Bank balance before the first event.
    pub opening_bank_balance: Money,
    /// IANA zone the views report in (default `UTC`).
    pub reporting_timezone: String,
    /// Reserve policy; only programs with one appear in the reserve view.
    pub reserve: Option<ReservePolicy>,
    /// An alert fires when the program's bank (funding) balance goes below
    /// this amount, and again when it is back at or above it
    /// (`docs/alerts.md`); none without it.
    pub funding_alert_threshold: Option<Money>,
}

impl Encode for ProgramCmd {
    fn encode<E: bincode::enc::Encoder>(&self, e: &mut E) -> Result<(), bincode::error::EncodeError> {
        self.token.encode(e)?;
        self.bank.encode(e)?;
        self.currency_code.encode(e)?;
        self.opening_bank_balance.encode(e)?;
        self.reporting_timezone.encode(e)?;
        let extended = u8::from(self.funding_alert_threshold.is_some()) * 2;
        match &self.reserve {
            None => extended.encode(e)?,
            Some(policy) => {
                (extended + 1).encode(e)?;
                policy.encode(e)?;
            }
        }
        match self.funding_alert_threshold {
            Some(threshold) => threshold.encode(e),
            None => Ok(()),
        }
    }
}

impl<C> Decode<C> for ProgramCmd {
    fn decode<D: bincode::de::Decoder<Context = C>>(d: &mut D) -> Result<Self, bincode::error::DecodeError> {
        let token = Token::decode(d)?;
        let bank = String::decode(d)?;
        let currency_code = Currency::decode(d)?;
        let opening_bank_balance = Money::decode(d)?;
        let reporting_timezone = String::decode(d)?;
        let tag = u8::decode(d)?;
        if tag > 3 {
            return Err(bincode::error::DecodeError::UnexpectedVariant {
                type_name: "ProgramCmd.reserve",
                allowed: &bincode::error::AllowedEnumVariants::Range { min: 0, max: 3 },
                found: u32::from(tag),
            });
        }
        let reserve = if tag % 2 == 1 { Some(ReservePolicy::decode(d)?) } else { None };
        let funding_alert_threshold = if tag >= 2 { Some(Money::decode(d)?) } else { None };
        Ok(ProgramCmd {
            token,
            bank,
            currency_code,
            opening_bank_balance,
            reporting_timezone,
            reserve,
            funding_alert_threshold,
        })
    }
}
bincode::impl_borrow_decode!(ProgramCmd);

/// A reserve requirement such as "3 days or $50K".
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct ReservePolicy {
    /// Text shown in the view.
    pub description: String,
    /// Days of average outflow to hold.
    pub days: u32,
    /// Minimum requirement.
    pub minimum_amount: Money,
    /// Averaging window in days (default 7).
    pub window_days: u32,
}

/// `user` / `business`.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct HolderCmd {
    /// Token.
    pub token: Token,
    /// The holder's program.
    pub program_token: Token,
}

/// The kind of a funding source (the body's `type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Encode, Decode)]
pub enum FundingKind {
    /// The program's own funds (partner funds).
    Program,
    /// Just-in-time funding through the program's gateway.
    ProgramGateway,
    /// A holder's bank account.
    Ach,
    /// A holder's payment card.
    PaymentCard,
}

impl FundingKind {
    /// Wire name.
    pub fn name(self) -> &'static str {
        match self {
            FundingKind::Program => "program",
            FundingKind::ProgramGateway => "programgateway",
            FundingKind::Ach => "ach",
            FundingKind::PaymentCard => "paymentcard",
        }
    }
    /// True for sources whose money is the program bank's.
    pub fn is_program(self) -> bool {
        matches!(self, FundingKind::Program | FundingKind::ProgramGateway)
    }
}

/// `funding_source`.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct FundingSourceCmd {
    /// Token.
    pub token: Token,
    /// Program (required for program sources; resolved from the holder otherwise).
    pub program_token: Option<Token>,
    /// Owner, for ach / paymentcard sources.
    pub holder: Option<Holder>,
    /// The body's `type`.
    pub kind: FundingKind,
    /// Default source of its owner.
    pub is_default_account: bool,
    /// Usable.
    pub active: bool,
    /// Display name.
    pub name: String,
}

/// `funding_source_address`.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct FundingSourceAddressCmd {
    /// Token.
    pub token: Token,
    /// The payment-card source it belongs to.
    pub funding_source_token: Token,
}

/// `fee`.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct FeeCmd {
    /// Token.
    pub token: Token,
    /// Name.
    pub name: String,
    /// Amount charged.
    pub amount: Money,
    /// Currency.
    pub currency_code: Currency,
    /// Usable.
    pub active: bool,
}

/// `campaign` / `merchant`.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct CampaignCmd {
    /// Token.
    pub token: Token,
    /// Name.
    pub name: String,
    /// Usable.
    pub active: bool,
}

/// `offer`.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct OfferCmd {
    /// Token.
    pub token: Token,
    /// Name.
    pub name: String,
    /// Campaign whose MSA the offer funds.
    pub campaign_token: Token,
    /// Amount pulled from the funding source.
    pub purchase_amount: Money,
    /// Extra credit granted.
    pub reward_amount: Money,
    /// Spend needed for the reward.
    pub reward_trigger_amount: Money,
    /// Currency.
    pub currency_code: Currency,
    /// Usable.
    pub active: bool,
}

/// `credit_account` with its product settings (see statements.md §1).
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct CreditAccountCmd {
    /// Token.
    pub token: Token,
    /// Account owner.
    pub user_token: Token,
    /// Program.
    pub program_token: Token,
    /// Credit limit.
    pub credit_limit: Money,
    /// APR in percent.
    pub apr: Rate,
    /// Zone of the cycle boundaries.
    pub timezone: String,
    /// Day of month a cycle opens (1–28).
    pub billing_cycle_day: u32,
    /// Minimum payment formula.
    pub min_payment: MinPayment,
    /// Late payment fee.
    pub late_payment_fee: Money,
    /// Minimum interest charge.
    pub minimum_interest: Money,
    /// Reward percentage of net purchases.
    pub reward_percentage: Rate,
    /// `ACCRUE_PAYMENT_DATE`, `ACCRUE_FULL_CYCLE` or `WAIVE`.
    pub interest_on_grace_reactivation: String,
    /// Payment allocation order, e.g. INTEREST, FEES, PRINCIPAL.
    pub allocation_order: Vec<String>,
    /// When the account opened.
    pub opened_time: Option<Timestamp>,
}

/// The minimum payment formula of a credit account.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct MinPayment {
    /// Floor.
    pub flat_amount: Money,
    /// Percent of the balance.
    pub percentage_of_balance: Rate,
    /// Add this cycle's interest.
    pub include_interest_charged: bool,
    /// Fee types added.
    pub include_fees_charged: Vec<String>,
    /// Add the past-due amount.
    pub include_past_due_amount: bool,
    /// Add the over-limit amount.
    pub include_overlimit_amount: bool,
}

/// A reference to a fee on an order or fee transfer.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct FeeRef {
    /// Existing fee token.
    pub token: Token,
    /// Memo.
    pub memo: Option<String>,
    /// Tags.
    pub tags: Option<String>,
}

/// `gpa_order`.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct GpaOrderCmd {
    /// Token.
    pub token: Token,
    /// Whose GPA is funded.
    pub holder: Holder,
    /// Amount loaded.
    pub amount: Money,
    /// Currency.
    pub currency_code: Currency,
    /// Source; resolved when absent.
    pub funding_source_token: Option<Token>,
    /// Address of a payment-card source.
    pub funding_source_address_token: Option<Token>,
    /// Tags.
    pub tags: Option<String>,
    /// Memo.
    pub memo: Option<String>,
    /// Fees assessed with the load.
    pub fees: Vec<FeeRef>,
}

/// `gpa_unload` / `msa_unload`.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct UnloadCmd {
    /// Token.
    pub token: Token,
    /// The order unloaded.
    pub original_order_token: Token,
    /// Amount returned to the order's funding source.
    pub amount: Money,
    /// Tags.
    pub tags: Option<String>,
    /// Memo.
    pub memo: Option<String>,
}

/// `msa_order`.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct MsaOrderCmd {
    /// Token.
    pub token: Token,
    /// Campaign of the MSA.
    pub campaign_token: Token,
    /// Whose MSA is credited.
    pub holder: Holder,
    /// Currency.
    pub currency_code: Currency,
    /// Amount of the order.
    pub purchase_amount: Money,
    /// Reward if the trigger is reached (recorded; not credited at order time).
    pub reward_amount: Money,
    /// Spend that triggers the reward.
    pub reward_trigger_amount: Money,
    /// Source; resolved when absent.
    pub funding_source_token: Option<Token>,
    /// Address of a payment-card source.
    pub funding_source_address_token: Option<Token>,
    /// Start of validity.
    pub start_date: Option<Timestamp>,
    /// End of validity.
    pub end_date: Option<Timestamp>,
}

/// `msa_order_update`.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct MsaOrderUpdateCmd {
    /// The MSA order updated.
    pub token: Token,
    /// New active flag.
    pub active: Option<bool>,
    /// New start.
    pub start_date: Option<Timestamp>,
    /// New end.
    pub end_date: Option<Timestamp>,
}

/// `offer_order`.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct OfferOrderCmd {
    /// Token.
    pub token: Token,
    /// Whose MSA is credited.
    pub holder: Holder,
    /// The offer.
    pub offer_token: Token,
    /// Source; resolved when absent.
    pub funding_source_token: Option<Token>,
    /// Address of a payment-card source.
    pub funding_source_address_token: Option<Token>,
}

/// `fee_transfer`.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct FeeTransferCmd {
    /// Token.
    pub token: Token,
    /// Whose GPA pays.
    pub holder: Holder,
    /// Fees charged.
    pub fees: Vec<FeeRef>,
}

/// What a journal entry acts on.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Encode, Decode)]
pub enum JeTarget {
    /// A holder's GPA (`user_token` / `business_token`).
    Gpa(Holder),
    /// A credit account (`account_token`).
    Credit(Token),
}

/// Journal entry status (source 003).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Encode, Decode)]
pub enum JeStatus {
    /// Impacts available balance / holds.
    Pending,
    /// Final.
    Posted,
    /// No balance impact.
    Cleared,
    /// No balance impact.
    Declined,
    /// No balance impact.
    Error,
}

impl JeStatus {
    /// Wire name.
    pub fn name(self) -> &'static str {
        match self {
            JeStatus::Pending => "PENDING",
            JeStatus::Posted => "POSTED",
            JeStatus::Cleared => "CLEARED",
            JeStatus::Declined => "DECLINED",
            JeStatus::Error => "ERROR",
        }
    }
}

/// `journal_entry`: card activity on a GPA or a credit account.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct JournalEntryCmd {
    /// Token.
    pub token: Token,
    /// GPA or credit account.
    pub target: JeTarget,
    /// The entry this one relates to (a clearing's authorization).
    pub related_token: Option<Token>,
    /// First entry of the chain.
    pub root_token: Option<Token>,
    /// Card used.
    pub card_token: Option<Token>,
    /// Status.
    pub status: JeStatus,
    /// Group (PURCHASE, REFUND, PAYMENT, ADJUSTMENT, …).
    pub group: Option<Text>,
    /// The body's `type` (authorization, authorization.clearing, …).
    pub kind: Text,
    /// Amount.
    pub amount: Money,
    /// Currency.
    pub currency_code: Currency,
    /// Merchant or description.
    pub memo: Option<Text>,
    /// When the cardholder initiated it.
    pub request_time: Option<Timestamp>,
    /// When it impacts the balance.
    pub impact_time: Option<Timestamp>,
    /// Card network (VISA, MASTERCARD, PULSE, …).
    pub network: Option<Text>,
    /// PIN transaction.
    pub pin_present: Option<bool>,
    /// Merchant category code.
    pub mcc: Option<Text>,
    /// The user who acted.
    pub acting_user_token: Option<Token>,
}

/// `program_deposit`.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct ProgramDepositCmd {
    /// Token.
    pub token: Token,
    /// Program whose bank is funded.
    pub program_token: Token,
    /// Amount.
    pub amount: Money,
    /// Currency.
    pub currency_code: Currency,
}

/// `tick`: business time passes.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct TickCmd {
    /// The new business time.
    pub now: Timestamp,
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// `ProgramCmd` as it was derived before `funding_alert_threshold`.
    #[derive(Encode, Decode, Debug, PartialEq)]
    struct ProgramCmdV1 {
        token: String,
        bank: String,
        currency_code: Currency,
        opening_bank_balance: Money,
        reporting_timezone: String,
        reserve: Option<ReservePolicy>,
    }

    fn policy() -> ReservePolicy {
        ReservePolicy {
            description: "3 days or $50K".into(),
            days: 3,
            minimum_amount: Money::from_cents(5_000_000),
            window_days: 7,
        }
    }

    fn cmd(reserve: Option<ReservePolicy>, threshold: Option<Money>) -> ProgramCmd {
        ProgramCmd {
            token: "p1".into(),
            bank: "Sutton".into(),
            currency_code: Currency::Usd,
            opening_bank_balance: Money::from_cents(-12),
            reporting_timezone: "UTC".into(),
            reserve,
            funding_alert_threshold: threshold,
        }
    }

    #[test]
    fn a_program_without_threshold_encodes_exactly_as_before_and_old_bytes_decode() {
        let cfg = bincode::config::standard().with_big_endian();
        for reserve in [None, Some(policy())] {
            let old = ProgramCmdV1 {
                token: "p1".into(),
                bank: "Sutton".into(),
                currency_code: Currency::Usd,
                opening_bank_balance: Money::from_cents(-12),
                reporting_timezone: "UTC".into(),
                reserve: reserve.clone(),
            };
            let old_bytes = bincode::encode_to_vec(&old, cfg).unwrap();
            let new = cmd(reserve, None);
            assert_eq!(bincode::encode_to_vec(&new, cfg).unwrap(), old_bytes);
            let (back, used): (ProgramCmd, usize) = bincode::decode_from_slice(&old_bytes, cfg).unwrap();
            assert_eq!((back, used), (new, old_bytes.len()));
        }
    }

    #[test]
    fn a_threshold_round_trips_with_and_without_reserve_and_bad_tags_are_refused() {
        let cfg = bincode::config::standard().with_big_endian();
        for reserve in [None, Some(policy())] {
            let c = cmd(reserve, Some(Money::from_cents(100_000)));
            let bytes = bincode::encode_to_vec(&c, cfg).unwrap();
            let (back, used): (ProgramCmd, usize) = bincode::decode_from_slice(&bytes, cfg).unwrap();
            assert_eq!((back, used), (c, bytes.len()));
            // followed by more data (as inside a snapshot): still self-delimiting
            let pair = bincode::encode_to_vec((&cmd(None, Some(Money::from_cents(1))), 7u8), cfg).unwrap();
            let ((first, seven), _): ((ProgramCmd, u8), usize) = bincode::decode_from_slice(&pair, cfg).unwrap();
            assert_eq!((first.funding_alert_threshold, seven), (Some(Money::from_cents(1)), 7));
        }
        let mut bytes = bincode::encode_to_vec(cmd(None, None), cfg).unwrap();
        if let Some(last) = bytes.last_mut() {
            *last = 4;
        }
        assert!(bincode::decode_from_slice::<ProgramCmd, _>(&bytes, cfg).is_err());
    }

    #[test]
    fn the_wire_takes_an_optional_non_negative_threshold_naming_the_field() {
        let line = r#"{"program": {"token": "p1", "bank": "B", "currency_code": "USD", "funding_alert_threshold": "1000.50"}}"#;
        let parsed = crate::wire::parse_line(line).unwrap();
        let Command::Program(p) = parsed.command else { unreachable!("a program line") };
        assert_eq!(p.funding_alert_threshold, Some(Money::from_cents(100_050)));
        let bad =
            r#"{"program": {"token": "p1", "bank": "B", "currency_code": "USD", "funding_alert_threshold": "-1"}}"#;
        let err = crate::wire::parse_line(bad).unwrap_err();
        assert!(err.message.contains("funding_alert_threshold"), "{}", err.message);
    }
}
