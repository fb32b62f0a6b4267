//! Currency conversion rates. A converted amount is `amount × rate`, rounded
//! once to the cent, half away from zero (the spec's default rounding);
//! totals are sums of the rounded amounts, so a total equals the sum of the
//! records it covers.

use std::collections::BTreeMap;

use rust_decimal::{Decimal, RoundingStrategy};

use crate::error::QueryError;

/// A rate table: `(from, to) → rate`, meaning 1 `from` = rate `to`. Only the
/// direction given converts (no implied inverse, which would round twice);
/// a currency always converts to itself at 1.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Rates {
    rates: BTreeMap<(String, String), Decimal>,
}

impl Rates {
    /// No rates: only same-currency queries succeed.
    pub fn new() -> Rates {
        Rates::default()
    }

    /// Adds (or replaces) the rate for 1 `from` in `to`.
    pub fn with(mut self, from: &str, to: &str, rate: Decimal) -> Rates {
        self.insert(from, to, rate);
        self
    }

    /// Adds (or replaces) the rate for 1 `from` in `to`.
    pub fn insert(&mut self, from: &str, to: &str, rate: Decimal) {
        self.rates.insert((from.to_string(), to.to_string()), rate);
    }

    /// The rate from `from` to `to`: 1 for the same currency, else the table's
    /// entry, else `UnknownRate` (400011).
    pub fn rate(&self, from: &str, to: &str) -> Result<Decimal, QueryError> {
        if from == to {
            return Ok(Decimal::ONE);
        }
        // BTreeMap<(String, String)> cannot be probed with (&str, &str);
        // the table is small, so a scan is cheaper than building keys.
        self.rates
            .iter()
            .find(|((f, t), _)| f == from && t == to)
            .map(|(_, r)| *r)
            .ok_or_else(|| QueryError::UnknownRate { from: from.to_string(), to: to.to_string() })
    }
}

/// `amount × rate` rounded to the cent, half away from zero; `None` on
/// overflow.
pub fn convert(amount: Decimal, rate: Decimal) -> Option<Decimal> {
    amount.checked_mul(rate).map(|v| v.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero))
}

/// The ISO 4217 numeric code of a few common currencies (for a view's
/// `currency_code` column after conversion); `None` for others.
pub fn iso_numeric(code: &str) -> Option<i64> {
    const CODES: [(&str, i64); 12] = [
        ("AUD", 36),
        ("BRL", 986),
        ("CAD", 124),
        ("CHF", 756),
        ("CNY", 156),
        ("EUR", 978),
        ("GBP", 826),
        ("INR", 356),
        ("JPY", 392),
        ("MXN", 484),
        ("SEK", 752),
        ("USD", 840),
    ];
    CODES.iter().find(|(c, _)| *c == code).map(|(_, n)| *n)
}
