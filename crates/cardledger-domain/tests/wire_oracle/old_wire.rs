//! The test oracle: `src/wire.rs` as it was before issue 13 (it built a
//! `serde_json::Value` per line), kept verbatim apart from its paths so
//! `tests/wire_oracle.rs` can check the borrowed parser answers every line
//! exactly as this one did. Not used outside that test.
#![allow(dead_code)]

use serde_json::{Map, Value};

use cardledger_domain::command::*;
use cardledger_domain::limits;
use cardledger_domain::money::{Money, MoneyError};
use cardledger_domain::rejection::{Code, Rejection};
use cardledger_domain::time::{Date, Timestamp};
use rust_decimal::Decimal;

/// Parses one input line. Tokens left out are generated (UUID v4), which is
/// the host boundary's job: deciding stays pure.
pub fn parse_line(line: &str) -> Result<CommandLine, Rejection> {
    if line.len() > limits::LINE_BYTES_MAX {
        return Err(Rejection::new(
            Code::LineTooLong,
            "",
            format!("line is {} bytes; the limit is {}", line.len(), limits::LINE_BYTES_MAX),
        ));
    }
    if line.trim().is_empty() {
        return Err(Rejection::new(
            Code::MalformedJson,
            "",
            "malformed JSON: an empty or whitespace-only line is not a command (one JSON object per line)",
        ));
    }
    let value: Value = serde_json::from_str(line)
        .map_err(|e| Rejection::new(Code::MalformedJson, "", format!("malformed JSON: {e}")))?;
    parse_value(&value)
}

/// Parses an already-decoded JSON line.
pub fn parse_value(value: &Value) -> Result<CommandLine, Rejection> {
    let Value::Object(obj) = value else {
        return Err(Rejection::new(Code::NotAnObject, "", "a command line must be a JSON object"));
    };
    let mut time = None;
    let mut command_key = None;
    for (k, v) in obj {
        if k == "time" {
            let text =
                v.as_str().ok_or_else(|| Rejection::new(Code::WrongType, "time", "must be an RFC 3339 string"))?;
            time =
                Some(Timestamp::parse(text).ok_or_else(|| {
                    Rejection::new(Code::InvalidTime, "time", format!("not an RFC 3339 time: {text:?}"))
                })?);
        } else if command_key.is_some() {
            return Err(Rejection::new(Code::CommandCount, k.as_str(), "a line carries exactly one command key"));
        } else {
            command_key = Some((k.as_str(), v));
        }
    }
    let Some((key, body)) = command_key else {
        return Err(Rejection::new(Code::CommandCount, "", "the line has no command key"));
    };
    let Value::Object(map) = body else {
        return Err(Rejection::new(Code::NotAnObject, key, "the command body must be a JSON object"));
    };
    let mut b = Body { key, map };
    let (command, money) = parse_command(&mut b)?;
    let corrected_post_date = if money { b.opt_date("corrected_post_date")? } else { None };
    Ok(CommandLine { time, corrected_post_date, command })
}

fn parse_command(b: &mut Body<'_>) -> Result<(Command, bool), Rejection> {
    const MONEY_COMMON: &[&str] = &["corrected_post_date"];
    let cmd = match b.key {
        "program" => {
            b.allow(&[
                "token",
                "bank",
                "currency_code",
                "opening_bank_balance",
                "reporting_timezone",
                "reserve",
                "funding_alert_threshold",
            ])?;
            Command::Program(ProgramCmd {
                token: b.token_or_new("token")?,
                bank: b.text("bank", limits::NAME_CHARS_MAX)?,
                currency_code: b.currency("currency_code")?,
                opening_bank_balance: b.opt_money_signed("opening_bank_balance")?.unwrap_or(Money::ZERO),
                reporting_timezone: b.opt_zone("reporting_timezone")?.unwrap_or_else(|| "UTC".into()),
                reserve: b.opt_reserve("reserve")?,
                funding_alert_threshold: b.opt_money_nonneg("funding_alert_threshold")?,
            })
        }
        "user" | "business" => {
            b.allow(&["token", "program_token"])?;
            let c = HolderCmd { token: b.token_or_new("token")?, program_token: b.token("program_token")? };
            if b.key == "user" {
                Command::User(c)
            } else {
                Command::Business(c)
            }
        }
        "funding_source" => {
            b.allow(&[
                "token",
                "program_token",
                "user_token",
                "business_token",
                "type",
                "is_default_account",
                "active",
                "name",
            ])?;
            let token = b.token_or_new("token")?;
            let kind = match b.text("type", limits::CODE_CHARS_MAX)?.as_str() {
                "program" => FundingKind::Program,
                "programgateway" => FundingKind::ProgramGateway,
                "ach" => FundingKind::Ach,
                "paymentcard" => FundingKind::PaymentCard,
                other => {
                    return Err(b.err(
                        Code::InvalidValue,
                        "type",
                        format!("{other:?} is not one of program, programgateway, ach, paymentcard"),
                    ))
                }
            };
            let holder = b.opt_holder()?;
            let program_token = b.opt_token("program_token")?;
            if kind.is_program() {
                if let Some(h) = &holder {
                    return Err(b.err(Code::HolderChoice, h.field(), "a program funding source has no holder"));
                }
                if program_token.is_none() {
                    return Err(b.err(Code::MissingField, "program_token", "is required for a program funding source"));
                }
            } else if holder.is_none() {
                return Err(b.err(
                    Code::HolderChoice,
                    "user_token",
                    "exactly one of user_token or business_token is required for an ach or paymentcard source",
                ));
            }
            Command::FundingSource(FundingSourceCmd {
                token,
                program_token,
                holder,
                kind,
                is_default_account: b.opt_bool("is_default_account")?.unwrap_or(false),
                active: b.opt_bool("active")?.unwrap_or(true),
                name: b.opt_text("name", limits::NAME_CHARS_MAX)?.unwrap_or_default(),
            })
        }
        "funding_source_address" => {
            b.allow(&["token", "funding_source_token"])?;
            Command::FundingSourceAddress(FundingSourceAddressCmd {
                token: b.token_or_new("token")?,
                funding_source_token: b.token("funding_source_token")?,
            })
        }
        "fee" => {
            b.allow(&["token", "name", "amount", "currency_code", "active"])?;
            Command::Fee(FeeCmd {
                token: b.token_or_new("token")?,
                name: b.text("name", limits::NAME_CHARS_MAX)?,
                amount: b.money("amount")?,
                currency_code: b.currency("currency_code")?,
                active: b.opt_bool("active")?.unwrap_or(true),
            })
        }
        "campaign" | "merchant" => {
            b.allow(&["token", "name", "active"])?;
            let c = CampaignCmd {
                token: b.token_or_new("token")?,
                name: b.text("name", limits::NAME_CHARS_MAX)?,
                active: b.opt_bool("active")?.unwrap_or(true),
            };
            if b.key == "campaign" {
                Command::Campaign(c)
            } else {
                Command::Merchant(c)
            }
        }
        "offer" => {
            b.allow(&[
                "token",
                "name",
                "campaign_token",
                "purchase_amount",
                "reward_amount",
                "reward_trigger_amount",
                "currency_code",
                "active",
            ])?;
            Command::Offer(OfferCmd {
                token: b.token_or_new("token")?,
                name: b.text("name", limits::NAME_CHARS_MAX)?,
                campaign_token: b.token("campaign_token")?,
                purchase_amount: b.money("purchase_amount")?,
                reward_amount: b.opt_money_nonneg("reward_amount")?.unwrap_or(Money::ZERO),
                reward_trigger_amount: b.opt_money_nonneg("reward_trigger_amount")?.unwrap_or(Money::ZERO),
                currency_code: b.currency("currency_code")?,
                active: b.opt_bool("active")?.unwrap_or(true),
            })
        }
        "credit_account" => {
            b.allow(&[
                "token",
                "user_token",
                "program_token",
                "credit_limit",
                "apr",
                "timezone",
                "billing_cycle_day",
                "min_payment",
                "late_payment_fee",
                "minimum_interest",
                "reward_percentage",
                "interest_on_grace_reactivation",
                "allocation_order",
                "opened_time",
            ])?;
            let billing_cycle_day = b.opt_u32("billing_cycle_day")?.unwrap_or(1);
            if !(1..=28).contains(&billing_cycle_day) {
                return Err(b.err(Code::InvalidValue, "billing_cycle_day", "must be 1 to 28"));
            }
            let grace = b
                .opt_text("interest_on_grace_reactivation", limits::CODE_CHARS_MAX)?
                .unwrap_or_else(|| "ACCRUE_PAYMENT_DATE".into());
            if !["ACCRUE_PAYMENT_DATE", "ACCRUE_FULL_CYCLE", "WAIVE"].contains(&grace.as_str()) {
                return Err(b.err(
                    Code::InvalidValue,
                    "interest_on_grace_reactivation",
                    "must be ACCRUE_PAYMENT_DATE, ACCRUE_FULL_CYCLE or WAIVE",
                ));
            }
            Command::CreditAccount(CreditAccountCmd {
                token: b.token_or_new("token")?,
                user_token: b.token("user_token")?,
                program_token: b.token("program_token")?,
                credit_limit: b.money("credit_limit")?,
                apr: b.rate("apr")?,
                timezone: b.opt_zone("timezone")?.unwrap_or_else(|| "America/New_York".into()),
                billing_cycle_day,
                min_payment: b.min_payment("min_payment")?,
                late_payment_fee: b.opt_money_nonneg("late_payment_fee")?.unwrap_or(Money::from_cents(2500)),
                minimum_interest: b.opt_money_nonneg("minimum_interest")?.unwrap_or(Money::ZERO),
                reward_percentage: b.opt_rate("reward_percentage")?.unwrap_or_default(),
                interest_on_grace_reactivation: grace,
                allocation_order: b
                    .opt_codes("allocation_order")?
                    .unwrap_or_else(|| vec!["INTEREST".into(), "FEES".into(), "PRINCIPAL".into()]),
                opened_time: b.opt_time("opened_time")?,
            })
        }
        "gpa_order" => {
            b.allow_with(
                &[
                    "token",
                    "user_token",
                    "business_token",
                    "amount",
                    "currency_code",
                    "funding_source_token",
                    "funding_source_address_token",
                    "tags",
                    "memo",
                    "fees",
                ],
                MONEY_COMMON,
            )?;
            return Ok((
                Command::GpaOrder(GpaOrderCmd {
                    token: b.token_or_new("token")?,
                    holder: b.holder()?,
                    amount: b.money("amount")?,
                    currency_code: b.currency("currency_code")?,
                    funding_source_token: b.opt_token("funding_source_token")?,
                    funding_source_address_token: b.opt_token("funding_source_address_token")?,
                    tags: b.opt_text("tags", limits::TAGS_CHARS_MAX)?,
                    memo: b.opt_text("memo", limits::MEMO_CHARS_MAX)?,
                    fees: b.fees("fees", false)?,
                }),
                true,
            ));
        }
        "gpa_unload" | "msa_unload" => {
            b.allow_with(&["token", "original_order_token", "amount", "tags", "memo"], MONEY_COMMON)?;
            let c = UnloadCmd {
                token: b.token_or_new("token")?,
                original_order_token: b.token("original_order_token")?,
                amount: b.money("amount")?,
                tags: b.opt_text("tags", limits::TAGS_CHARS_MAX)?,
                memo: b.opt_text("memo", limits::MEMO_CHARS_MAX)?,
            };
            return Ok((if b.key == "gpa_unload" { Command::GpaUnload(c) } else { Command::MsaUnload(c) }, true));
        }
        "msa_order" => {
            b.allow_with(
                &[
                    "token",
                    "campaign_token",
                    "user_token",
                    "business_token",
                    "currency_code",
                    "purchase_amount",
                    "reward_amount",
                    "reward_trigger_amount",
                    "funding_source_token",
                    "funding_source_address_token",
                    "start_date",
                    "end_date",
                ],
                MONEY_COMMON,
            )?;
            return Ok((
                Command::MsaOrder(MsaOrderCmd {
                    token: b.token_or_new("token")?,
                    campaign_token: b.token("campaign_token")?,
                    holder: b.holder()?,
                    currency_code: b.currency("currency_code")?,
                    purchase_amount: b.money("purchase_amount")?,
                    reward_amount: b.opt_money_nonneg("reward_amount")?.unwrap_or(Money::ZERO),
                    reward_trigger_amount: b.opt_money_nonneg("reward_trigger_amount")?.unwrap_or(Money::from_cents(1)),
                    funding_source_token: b.opt_token("funding_source_token")?,
                    funding_source_address_token: b.opt_token("funding_source_address_token")?,
                    start_date: b.opt_time("start_date")?,
                    end_date: b.opt_time("end_date")?,
                }),
                true,
            ));
        }
        "msa_order_update" => {
            b.allow(&["token", "active", "start_date", "end_date"])?;
            Command::MsaOrderUpdate(MsaOrderUpdateCmd {
                token: b.token("token")?,
                active: b.opt_bool("active")?,
                start_date: b.opt_time("start_date")?,
                end_date: b.opt_time("end_date")?,
            })
        }
        "offer_order" => {
            b.allow_with(
                &[
                    "token",
                    "user_token",
                    "business_token",
                    "offer_token",
                    "funding_source_token",
                    "funding_source_address_token",
                ],
                MONEY_COMMON,
            )?;
            return Ok((
                Command::OfferOrder(OfferOrderCmd {
                    token: b.token_or_new("token")?,
                    holder: b.holder()?,
                    offer_token: b.token("offer_token")?,
                    funding_source_token: b.opt_token("funding_source_token")?,
                    funding_source_address_token: b.opt_token("funding_source_address_token")?,
                }),
                true,
            ));
        }
        "fee_transfer" => {
            b.allow_with(&["token", "user_token", "business_token", "fees"], MONEY_COMMON)?;
            return Ok((
                Command::FeeTransfer(FeeTransferCmd {
                    token: b.token_or_new("token")?,
                    holder: b.holder()?,
                    fees: b.fees("fees", true)?,
                }),
                true,
            ));
        }
        "journal_entry" => {
            b.allow_with(
                &[
                    "token",
                    "user_token",
                    "business_token",
                    "account_token",
                    "related_token",
                    "root_token",
                    "card_token",
                    "status",
                    "group",
                    "type",
                    "amount",
                    "currency_code",
                    "memo",
                    "request_time",
                    "impact_time",
                    "network",
                    "pin_present",
                    "mcc",
                    "acting_user_token",
                ],
                MONEY_COMMON,
            )?;
            let token = b.token_or_new("token")?;
            let account = b.opt_token("account_token")?;
            let holder = b.opt_holder()?;
            let target = match (holder, account) {
                (Some(h), None) => JeTarget::Gpa(h),
                (None, Some(a)) => JeTarget::Credit(a),
                (Some(_), Some(_)) => {
                    return Err(b.err(
                        Code::HolderChoice,
                        "account_token",
                        "give either account_token or a user/business token, not both",
                    ))
                }
                (None, None) => {
                    return Err(b.err(
                        Code::HolderChoice,
                        "user_token",
                        "one of user_token, business_token or account_token is required",
                    ))
                }
            };
            let status = match b.text("status", limits::CODE_CHARS_MAX)?.as_str() {
                "PENDING" => JeStatus::Pending,
                "POSTED" => JeStatus::Posted,
                "CLEARED" => JeStatus::Cleared,
                "DECLINED" => JeStatus::Declined,
                "ERROR" => JeStatus::Error,
                other => {
                    return Err(b.err(
                        Code::InvalidValue,
                        "status",
                        format!("{other:?} is not one of PENDING, POSTED, CLEARED, DECLINED, ERROR"),
                    ))
                }
            };
            return Ok((
                Command::JournalEntry(JournalEntryCmd {
                    token,
                    target,
                    related_token: b.opt_token("related_token")?,
                    root_token: b.opt_token("root_token")?,
                    card_token: b.opt_token("card_token")?,
                    status,
                    group: b.opt_text("group", limits::CODE_CHARS_MAX)?.map(Into::into),
                    kind: b.text("type", limits::CODE_CHARS_MAX)?.into(),
                    amount: b.money("amount")?,
                    currency_code: b.currency("currency_code")?,
                    memo: b.opt_text("memo", limits::MEMO_CHARS_MAX)?.map(Into::into),
                    request_time: b.opt_time("request_time")?,
                    impact_time: b.opt_time("impact_time")?,
                    network: b.opt_text("network", limits::CODE_CHARS_MAX)?.map(|n| n.to_ascii_uppercase().into()),
                    pin_present: b.opt_bool("pin_present")?,
                    mcc: b.opt_text("mcc", limits::CODE_CHARS_MAX)?.map(Into::into),
                    acting_user_token: b.opt_token("acting_user_token")?,
                }),
                true,
            ));
        }
        "program_deposit" => {
            b.allow_with(&["token", "program_token", "amount", "currency_code"], MONEY_COMMON)?;
            return Ok((
                Command::ProgramDeposit(ProgramDepositCmd {
                    token: b.token_or_new("token")?,
                    program_token: b.token("program_token")?,
                    amount: b.money("amount")?,
                    currency_code: b.currency("currency_code")?,
                }),
                true,
            ));
        }
        "tick" => {
            b.allow(&["now"])?;
            let now = b.opt_time("now")?.ok_or_else(|| b.err(Code::MissingField, "now", "is required"))?;
            Command::Tick(TickCmd { now })
        }
        other => {
            return Err(Rejection::new(Code::UnknownCommand, other, format!("unknown command {other:?}")));
        }
    };
    Ok((cmd, false))
}

/// A command body being read field by field.
struct Body<'a> {
    key: &'a str,
    map: &'a Map<String, Value>,
}

impl<'a> Body<'a> {
    fn err(&self, code: Code, field: &str, what: impl std::fmt::Display) -> Rejection {
        Rejection::new(code, format!("{}.{}", self.key, field), what)
    }

    fn allow(&self, fields: &[&str]) -> Result<(), Rejection> {
        self.allow_with(fields, &[])
    }

    fn allow_with(&self, fields: &[&str], more: &[&str]) -> Result<(), Rejection> {
        for k in self.map.keys() {
            if !fields.contains(&k.as_str()) && !more.contains(&k.as_str()) {
                return Err(self.err(Code::UnknownField, k, "is not a field of this command"));
            }
        }
        Ok(())
    }

    fn get(&self, field: &str) -> Option<&'a Value> {
        self.map.get(field).filter(|v| !v.is_null())
    }

    fn opt_str(&self, field: &str) -> Result<Option<&'a str>, Rejection> {
        match self.get(field) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(self.err(Code::WrongType, field, "must be a string")),
        }
    }

    fn opt_token(&self, field: &str) -> Result<Option<Token>, Rejection> {
        let Some(s) = self.opt_str(field)? else { return Ok(None) };
        let n = s.chars().count();
        if n == 0 || n > limits::TOKEN_CHARS_MAX {
            return Err(self.err(
                Code::TokenLength,
                field,
                format!("a token has 1 to {} characters; got {n}", limits::TOKEN_CHARS_MAX),
            ));
        }
        Ok(Some(Token::from(s)))
    }

    fn token(&self, field: &str) -> Result<Token, Rejection> {
        self.opt_token(field)?.ok_or_else(|| self.err(Code::MissingField, field, "is required"))
    }

    fn token_or_new(&self, field: &str) -> Result<Token, Rejection> {
        Ok(self.opt_token(field)?.unwrap_or_else(|| Token::from(uuid::Uuid::new_v4().to_string())))
    }

    fn opt_text(&self, field: &str, max: usize) -> Result<Option<String>, Rejection> {
        let Some(s) = self.opt_str(field)? else { return Ok(None) };
        if s.chars().count() > max {
            return Err(self.err(Code::TextTooLong, field, format!("is longer than {max} characters")));
        }
        Ok(Some(s.to_string()))
    }

    fn text(&self, field: &str, max: usize) -> Result<String, Rejection> {
        self.opt_text(field, max)?.ok_or_else(|| self.err(Code::MissingField, field, "is required"))
    }

    fn opt_zone(&self, field: &str) -> Result<Option<String>, Rejection> {
        let Some(z) = self.opt_text(field, limits::CODE_CHARS_MAX)? else { return Ok(None) };
        let ok = !z.is_empty() && z.chars().all(|c| c.is_ascii_alphanumeric() || "_/+-".contains(c));
        if !ok {
            return Err(self.err(Code::InvalidValue, field, format!("{z:?} is not an IANA time zone name")));
        }
        if cardledger_domain::zone::parse(&z).is_none() {
            return Err(self.err(Code::UnknownTimeZone, field, format!("{z:?} is not a time zone of the tz database")));
        }
        Ok(Some(z))
    }

    fn opt_codes(&self, field: &str) -> Result<Option<Vec<String>>, Rejection> {
        let Some(v) = self.get(field) else { return Ok(None) };
        let Value::Array(items) = v else {
            return Err(self.err(Code::WrongType, field, "must be an array of strings"));
        };
        if items.len() > limits::FEES_PER_COMMAND_MAX {
            return Err(self.err(Code::InvalidValue, field, "has too many entries"));
        }
        items
            .iter()
            .map(|i| match i {
                Value::String(s) if s.len() <= limits::CODE_CHARS_MAX => Ok(s.clone()),
                _ => Err(self.err(Code::WrongType, field, "must be an array of short strings")),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some)
    }

    fn opt_bool(&self, field: &str) -> Result<Option<bool>, Rejection> {
        match self.get(field) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(self.err(Code::WrongType, field, "must be true or false")),
        }
    }

    fn opt_u32(&self, field: &str) -> Result<Option<u32>, Rejection> {
        match self.get(field) {
            None => Ok(None),
            Some(Value::Number(n)) => n
                .as_u64()
                .and_then(|v| u32::try_from(v).ok())
                .map(Some)
                .ok_or_else(|| self.err(Code::InvalidValue, field, "must be a whole number")),
            Some(_) => Err(self.err(Code::WrongType, field, "must be a number")),
        }
    }

    fn opt_time(&self, field: &str) -> Result<Option<Timestamp>, Rejection> {
        let Some(s) = self.opt_str(field)? else { return Ok(None) };
        Timestamp::parse(s).map(Some).ok_or_else(|| {
            self.err(Code::InvalidTime, field, format!("not an RFC 3339 time or yyyy-MM-dd date: {s:?}"))
        })
    }

    fn opt_date(&self, field: &str) -> Result<Option<Date>, Rejection> {
        let Some(s) = self.opt_str(field)? else { return Ok(None) };
        Date::parse(s)
            .map(Some)
            .ok_or_else(|| self.err(Code::InvalidTime, field, format!("not a yyyy-MM-dd date: {s:?}")))
    }

    fn currency(&self, field: &str) -> Result<Currency, Rejection> {
        match self.opt_str(field)? {
            None => Err(self.err(Code::MissingField, field, "is required")),
            Some("USD") | Some("840") => Ok(Currency::Usd),
            Some(other) => Err(self.err(Code::Currency, field, format!("{other:?} is not supported; use USD"))),
        }
    }

    fn decimal_text(&self, field: &str) -> Result<Option<String>, Rejection> {
        match self.get(field) {
            None => Ok(None),
            Some(Value::Number(n)) => Ok(Some(n.to_string())),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(self.err(Code::WrongType, field, "must be a number or a numeric string")),
        }
    }

    fn opt_money_signed(&self, field: &str) -> Result<Option<Money>, Rejection> {
        let Some(text) = self.decimal_text(field)? else { return Ok(None) };
        Money::parse(&text).map(Some).map_err(|e| match e {
            MoneyError::TooManyDecimals => {
                self.err(Code::AmountTooPrecise, field, format!("{text} has more than 2 decimal places"))
            }
            MoneyError::TooLarge => self.err(Code::AmountTooLarge, field, format!("{text} is not below 1000000000000")),
            MoneyError::NotANumber => {
                self.err(Code::AmountNotANumber, field, format!("{text:?} is not a decimal number"))
            }
        })
    }

    fn opt_money_nonneg(&self, field: &str) -> Result<Option<Money>, Rejection> {
        let m = self.opt_money_signed(field)?;
        if let Some(v) = m {
            if v < Money::ZERO {
                return Err(self.err(Code::AmountNotPositive, field, format!("{v} is negative")));
            }
        }
        Ok(m)
    }

    fn money(&self, field: &str) -> Result<Money, Rejection> {
        let m = self.opt_money_signed(field)?.ok_or_else(|| self.err(Code::MissingField, field, "is required"))?;
        if !m.is_positive() {
            return Err(self.err(Code::AmountNotPositive, field, format!("{m} must be greater than 0")));
        }
        Ok(m)
    }

    fn opt_rate(&self, field: &str) -> Result<Option<Rate>, Rejection> {
        let Some(text) = self.decimal_text(field)? else { return Ok(None) };
        let d = Decimal::from_str_exact(text.trim())
            .map_err(|_| self.err(Code::AmountNotANumber, field, format!("{text:?} is not a decimal number")))?
            .normalize();
        if d.is_sign_negative() || d > Decimal::from(1000) || d.scale() > 4 {
            return Err(self.err(
                Code::InvalidValue,
                field,
                format!("{text} must be a percentage from 0 to 1000 with at most 4 decimals"),
            ));
        }
        Ok(Some(Rate(d)))
    }

    fn rate(&self, field: &str) -> Result<Rate, Rejection> {
        self.opt_rate(field)?.ok_or_else(|| self.err(Code::MissingField, field, "is required"))
    }

    fn min_payment(&self, field: &str) -> Result<MinPayment, Rejection> {
        let default = MinPayment {
            flat_amount: Money::from_cents(2500),
            percentage_of_balance: Rate(Decimal::ONE),
            include_interest_charged: true,
            include_fees_charged: vec!["LATE_PAYMENT_FEE".into()],
            include_past_due_amount: true,
            include_overlimit_amount: true,
        };
        let Some(v) = self.get(field) else { return Ok(default) };
        let Value::Object(map) = v else { return Err(self.err(Code::NotAnObject, field, "must be an object")) };
        let key = format!("{}.{}", self.key, field);
        let inner = Body { key: &key, map };
        inner.allow(&[
            "flat_amount",
            "percentage_of_balance",
            "include_interest_charged",
            "include_fees_charged",
            "include_past_due_amount",
            "include_overlimit_amount",
        ])?;
        Ok(MinPayment {
            flat_amount: inner.opt_money_nonneg("flat_amount")?.unwrap_or(default.flat_amount),
            percentage_of_balance: inner.opt_rate("percentage_of_balance")?.unwrap_or(default.percentage_of_balance),
            include_interest_charged: inner.opt_bool("include_interest_charged")?.unwrap_or(true),
            include_fees_charged: inner.opt_codes("include_fees_charged")?.unwrap_or(default.include_fees_charged),
            include_past_due_amount: inner.opt_bool("include_past_due_amount")?.unwrap_or(true),
            include_overlimit_amount: inner.opt_bool("include_overlimit_amount")?.unwrap_or(true),
        })
    }

    fn opt_reserve(&self, field: &str) -> Result<Option<ReservePolicy>, Rejection> {
        let Some(v) = self.get(field) else { return Ok(None) };
        let Value::Object(map) = v else { return Err(self.err(Code::NotAnObject, field, "must be an object")) };
        let key = format!("{}.{}", self.key, field);
        let inner = Body { key: &key, map };
        inner.allow(&["description", "days", "minimum_amount", "window_days"])?;
        let days = inner.opt_u32("days")?.ok_or_else(|| inner.err(Code::MissingField, "days", "is required"))?;
        let window_days = inner.opt_u32("window_days")?.unwrap_or(7);
        if days > limits::RESERVE_WINDOW_DAYS_MAX {
            return Err(inner.err(
                Code::InvalidValue,
                "days",
                format!("must be at most {}", limits::RESERVE_WINDOW_DAYS_MAX),
            ));
        }
        if window_days == 0 || window_days > limits::RESERVE_WINDOW_DAYS_MAX {
            return Err(inner.err(
                Code::InvalidValue,
                "window_days",
                format!("must be 1 to {}", limits::RESERVE_WINDOW_DAYS_MAX),
            ));
        }
        Ok(Some(ReservePolicy {
            description: inner.opt_text("description", limits::NAME_CHARS_MAX)?.unwrap_or_default(),
            days,
            minimum_amount: inner.opt_money_nonneg("minimum_amount")?.unwrap_or(Money::ZERO),
            window_days,
        }))
    }

    fn opt_holder(&self) -> Result<Option<Holder>, Rejection> {
        match (self.opt_token("user_token")?, self.opt_token("business_token")?) {
            (Some(u), None) => Ok(Some(Holder::User(u))),
            (None, Some(b)) => Ok(Some(Holder::Business(b))),
            (None, None) => Ok(None),
            (Some(_), Some(_)) => {
                Err(self.err(Code::HolderChoice, "business_token", "give user_token or business_token, not both"))
            }
        }
    }

    fn holder(&self) -> Result<Holder, Rejection> {
        self.opt_holder()?.ok_or_else(|| {
            self.err(Code::HolderChoice, "user_token", "exactly one of user_token or business_token is required")
        })
    }

    fn fees(&self, field: &str, required: bool) -> Result<Vec<FeeRef>, Rejection> {
        let Some(v) = self.get(field) else {
            return if required { Err(self.err(Code::MissingField, field, "is required")) } else { Ok(Vec::new()) };
        };
        let Value::Array(items) = v else {
            return Err(self.err(Code::WrongType, field, "must be an array of fee objects"));
        };
        if items.len() > limits::FEES_PER_COMMAND_MAX {
            return Err(self.err(Code::InvalidValue, field, format!("at most {} fees", limits::FEES_PER_COMMAND_MAX)));
        }
        if required && items.is_empty() {
            return Err(self.err(Code::MissingField, field, "needs at least one fee"));
        }
        let mut out = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let key = format!("{}.{}[{}]", self.key, field, i);
            let Value::Object(map) = item else {
                return Err(Rejection::new(Code::NotAnObject, key, "must be a fee object"));
            };
            let inner = Body { key: &key, map };
            inner.allow(&["token", "memo", "tags"])?;
            out.push(FeeRef {
                token: inner.token("token")?,
                memo: inner.opt_text("memo", 99)?,
                tags: inner.opt_text("tags", limits::TAGS_CHARS_MAX)?,
            });
        }
        Ok(out)
    }
}
