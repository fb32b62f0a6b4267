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
/// overflow. The product is formed exactly in `i128` when it fits (every
/// realistic amount and rate), else with `Decimal` arithmetic.
pub fn convert(amount: Decimal, rate: Decimal) -> Option<Decimal> {
    exact_i128(amount, rate).or_else(|| {
        amount.checked_mul(rate).map(|v| v.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero))
    })
}

/// The fast path of `convert`: mantissa × mantissa, then one division by a
/// power of ten with the remainder deciding the rounding.
fn exact_i128(amount: Decimal, rate: Decimal) -> Option<Decimal> {
    let scale = amount.scale() + rate.scale();
    // i64 first: 128-bit division is a library call, several times slower.
    if let (Ok(a), Ok(r)) = (i64::try_from(amount.mantissa()), i64::try_from(rate.mantissa())) {
        if let Some(product) = a.checked_mul(r) {
            if scale <= 2 {
                return Decimal::try_from_i128_with_scale(i128::from(product), scale).ok();
            }
            if let Some(divisor) = 10i64.checked_pow(scale - 2) {
                let (mut q, rem) = (product / divisor, product % divisor);
                if rem.unsigned_abs() >= divisor.unsigned_abs() - rem.unsigned_abs() {
                    q += product.signum();
                }
                return Decimal::try_from_i128_with_scale(i128::from(q), 2).ok();
            }
        }
    }
    let product = amount.mantissa().checked_mul(rate.mantissa())?;
    if scale <= 2 {
        return Decimal::try_from_i128_with_scale(product, scale).ok();
    }
    let divisor = 10i128.checked_pow(scale - 2)?;
    let (mut q, r) = (product / divisor, product % divisor);
    // |r| ≥ divisor / 2, compared without overflow: half away from zero.
    if r.unsigned_abs() >= divisor.unsigned_abs() - r.unsigned_abs() {
        q += product.signum();
    }
    Decimal::try_from_i128_with_scale(q, 2).ok()
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The i128 path agrees with plain `Decimal` arithmetic on amounts up to
    /// 10^12 and rates with up to 8 places, including exact halves.
    #[test]
    fn fast_conversion_matches_decimal_arithmetic() {
        let slow = |a: Decimal, r: Decimal| {
            a.checked_mul(r).map(|v| v.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero))
        };
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut cases = vec![
            (Decimal::new(-211105, 2), Decimal::new(91, 2)),
            (Decimal::new(5, 3), Decimal::ONE),
            (Decimal::new(-5, 3), Decimal::ONE),
            (Decimal::new(1, 2), Decimal::new(5, 1)),
            (Decimal::new(-1, 2), Decimal::new(5, 1)),
            (Decimal::new(99_999_999_999_999, 2), Decimal::new(123_456_789, 8)),
        ];
        for _ in 0..20_000 {
            let a = (next() % 200_000_000_000_000) as i64 - 100_000_000_000_000;
            let r = (next() % 1_000_000_000) as i64;
            cases.push((Decimal::new(a, 2), Decimal::new(r, (next() % 9) as u32)));
        }
        for (a, r) in cases {
            assert_eq!(exact_i128(a, r), slow(a, r), "{a} × {r}");
            assert_eq!(convert(a, r), slow(a, r), "{a} × {r}");
        }
    }
}
