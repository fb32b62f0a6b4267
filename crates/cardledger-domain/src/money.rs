//! Money: exact decimal amounts in minor units of at most two places.
//!
//! `Money` wraps `rust_decimal::Decimal`. Every value that enters the engine
//! has at most two decimal places and `|x| < 10^12` (`numeric(14,2)`); sums
//! inside the engine may grow beyond that and stay exact. On disk a `Money` is
//! its value in cents as an `i64` (exact for every value the engine can hold),
//! so the encoding never depends on `Decimal`'s internal layout.

use std::fmt;
use std::ops::Neg;

use bincode::de::Decoder;
use bincode::enc::Encoder;
use bincode::error::{DecodeError, EncodeError};
use bincode::{Decode, Encode};
use rust_decimal::Decimal;

use crate::limits;

/// An exact amount of money with at most two decimal places.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Money(Decimal);

/// Why a decimal could not become `Money`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MoneyError {
    /// More than two decimal places (after dropping trailing zeros).
    TooManyDecimals,
    /// `|x| >= 10^12`.
    TooLarge,
    /// Not a decimal number at all.
    NotANumber,
}

impl Money {
    /// Zero.
    pub const ZERO: Money = Money(Decimal::ZERO);

    /// Validates an input amount: at most 2 places, `|x| < 10^12`.
    pub fn from_input(d: Decimal) -> Result<Money, MoneyError> {
        let n = d.normalize();
        if n.scale() > 2 {
            return Err(MoneyError::TooManyDecimals);
        }
        if n.abs() >= Decimal::from(limits::AMOUNT_ABS_LIMIT_UNITS) {
            return Err(MoneyError::TooLarge);
        }
        Ok(Money(with_scale2(n)))
    }

    /// Parses the exact text of a JSON number or string ("9.11", "1e3").
    pub fn parse(text: &str) -> Result<Money, MoneyError> {
        match Money::parse_plain(text) {
            Some(m) => Ok(m),
            None => Money::parse_decimal(text),
        }
    }

    /// [`Money::parse`] for the common amount: unsigned digits with at most
    /// two after a point (`49.21`, `5.1`, `100`), below the input limit,
    /// read as cents without `Decimal`'s parser. `None` for anything else,
    /// which [`Money::parse_decimal`] reads (and rejects) as before.
    fn parse_plain(text: &str) -> Option<Money> {
        let (int, frac) = text.split_once('.').unwrap_or((text, "00"));
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if !digits(int) || int.len() > 15 || !digits(frac) || frac.len() > 2 {
            return None;
        }
        let value = |s: &str| s.bytes().fold(0i64, |v, b| v * 10 + i64::from(b - b'0'));
        let cents = value(int) * 100 + value(frac) * if frac.len() == 1 { 10 } else { 1 };
        (cents < limits::AMOUNT_ABS_LIMIT_UNITS * 100).then(|| Money::from_cents(cents))
    }

    /// [`Money::parse`] through `Decimal`: every text it accepts or rejects.
    fn parse_decimal(text: &str) -> Result<Money, MoneyError> {
        let t = text.trim();
        if t.is_empty() || t.len() > limits::AMOUNT_TEXT_CHARS_MAX {
            return Err(MoneyError::NotANumber);
        }
        let (mantissa, exponent) = match t.find(['e', 'E']) {
            Some(i) => (t.get(..i).unwrap_or(""), t.get(i + 1..)),
            None => (t, None),
        };
        if !is_plain_decimal(mantissa) || exponent.is_some_and(|e| !is_exponent(e)) {
            return Err(MoneyError::NotANumber);
        }
        let parsed = if exponent.is_some() { Decimal::from_scientific(t) } else { Decimal::from_str_exact(t) };
        match parsed {
            Ok(d) => Money::from_input(d),
            // well-formed but beyond Decimal's range: huge, or finer than 28 places
            Err(_) => {
                let int_digits =
                    mantissa.trim_start_matches('-').split('.').next().unwrap_or("").trim_start_matches('0').len();
                let exp: i64 = exponent.and_then(|e| e.parse().ok()).unwrap_or(0);
                if int_digits as i64 + exp > 12 {
                    Err(MoneyError::TooLarge)
                } else {
                    Err(MoneyError::TooManyDecimals)
                }
            }
        }
    }

    /// Builds from cents.
    pub fn from_cents(cents: i64) -> Money {
        Money(Decimal::new(cents, 2))
    }

    /// The value in cents. Every `Money` has scale 2 and fits i64 cents
    /// (sums of at most ~9 * 10^6 maximal amounts); larger sums saturate,
    /// which the engine prevents by its limits. Inline for the common case
    /// ([`Money::exact_cents`]): the view folds call it once per event.
    #[inline]
    pub fn cents(self) -> i64 {
        self.exact_cents().unwrap_or_else(|| self.rounded_cents())
    }

    /// The value in cents when that is exact and fits `i64` (at most two
    /// places): [`Money::cents`] without its rounding and saturating cases,
    /// so that sums of several values can stay in integer cents.
    #[inline]
    pub fn exact_cents(self) -> Option<i64> {
        let m = self.0.mantissa();
        let cents = match self.0.scale() {
            0 => m.checked_mul(100)?,
            1 => m.checked_mul(10)?,
            2 => m,
            _ => return None,
        };
        i64::try_from(cents).ok()
    }

    /// [`Money::cents`] for the values [`Money::exact_cents`] leaves out:
    /// more than two places (rescaled to two by `Decimal::rescale`) or out
    /// of `i64` (saturated).
    #[cold]
    fn rounded_cents(self) -> i64 {
        let m = self.0.mantissa();
        let scale = self.0.scale();
        let adjusted = match scale {
            0 => m.checked_mul(100),
            1 => m.checked_mul(10),
            2 => Some(m),
            _ => Some(with_scale2(self.0).mantissa()),
        };
        adjusted.and_then(|v| i64::try_from(v).ok()).unwrap_or(if m < 0 { i64::MIN } else { i64::MAX })
    }

    /// The decimal value.
    pub fn decimal(self) -> Decimal {
        self.0
    }

    /// Exact sum; `None` on overflow.
    #[inline]
    pub fn checked_add(self, o: Money) -> Option<Money> {
        self.0.checked_add(o.0).map(Money)
    }

    /// Exact difference; `None` on overflow.
    #[inline]
    pub fn checked_sub(self, o: Money) -> Option<Money> {
        self.0.checked_sub(o.0).map(Money)
    }

    /// Sum that saturates instead of overflowing: used only for totals that
    /// the engine's limits keep far from the bound (balances are bounded by
    /// `AMOUNT_ABS_LIMIT_UNITS` times the number of events).
    #[inline]
    pub fn plus(self, o: Money) -> Money {
        self.checked_add(o).unwrap_or(if o.0.is_sign_negative() { Money(Decimal::MIN) } else { Money(Decimal::MAX) })
    }

    /// `self - o`, saturating like [`Money::plus`].
    #[inline]
    pub fn minus(self, o: Money) -> Money {
        self.plus(-o)
    }

    /// True when `> 0`.
    pub fn is_positive(self) -> bool {
        self.0 > Decimal::ZERO
    }

    /// True when zero.
    #[inline]
    pub fn is_zero(self) -> bool {
        self.0.is_zero()
    }

    /// The smaller of two amounts.
    #[inline]
    pub fn min(self, o: Money) -> Money {
        if self <= o {
            self
        } else {
            o
        }
    }

    /// The larger of two amounts.
    #[inline]
    pub fn max(self, o: Money) -> Money {
        if self >= o {
            self
        } else {
            o
        }
    }

    /// A JSON number with the exact value, printed without trailing zeros as
    /// the source pages do (`1000`, `97`, `-3`, `0.01`).
    pub fn to_json(self) -> serde_json::Value {
        let text = self.0.normalize().to_string();
        match text.parse::<serde_json::Number>() {
            Ok(n) => serde_json::Value::Number(n),
            Err(_) => serde_json::Value::String(text),
        }
    }

    /// Text with exactly two decimals (`1000.00`), as CSV and checks use.
    pub fn to_string_2dp(self) -> String {
        format!("{:.2}", self.0)
    }
}

/// `-?digits(.digits)?`: no sign `+`, no `_`, no bare `.5` or `5.`.
fn is_plain_decimal(t: &str) -> bool {
    let body = t.strip_prefix('-').unwrap_or(t);
    let mut parts = body.splitn(2, '.');
    let int = parts.next().unwrap_or("");
    let frac = parts.next();
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    digits(int) && frac.is_none_or(digits)
}

/// `[+-]?digits`, at most 4 digits.
fn is_exponent(e: &str) -> bool {
    let body = e.strip_prefix(['+', '-']).unwrap_or(e);
    !body.is_empty() && body.len() <= 4 && body.bytes().all(|b| b.is_ascii_digit())
}

fn with_scale2(d: Decimal) -> Decimal {
    let mut d = d;
    d.rescale(2);
    d
}

impl Neg for Money {
    type Output = Money;
    #[inline]
    fn neg(self) -> Money {
        Money(-self.0)
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:.2}", self.0)
    }
}

impl std::iter::Sum for Money {
    fn sum<I: Iterator<Item = Money>>(iter: I) -> Money {
        iter.fold(Money::ZERO, Money::plus)
    }
}

impl Encode for Money {
    fn encode<E: Encoder>(&self, encoder: &mut E) -> Result<(), EncodeError> {
        self.cents().encode(encoder)
    }
}

impl<Context> Decode<Context> for Money {
    fn decode<D: Decoder<Context = Context>>(decoder: &mut D) -> Result<Self, DecodeError> {
        Ok(Money::from_cents(i64::decode(decoder)?))
    }
}
bincode::impl_borrow_decode!(Money);

/// `n / d` rounded half away from zero (half up for non-negative values),
/// for `d > 0`: the engine's one integer rounding rule (statement cycles,
/// the reserve view's averages).
pub fn div_round(n: i128, d: i128) -> i128 {
    let q = n / d;
    let r = n % d;
    if 2 * r.abs() >= d {
        q + n.signum()
    } else {
        q
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_amounts_parse_as_the_decimal_path_parses_them() {
        let mut texts: Vec<String> = Vec::new();
        for int in ["0", "00", "007", "1", "9", "10", "49", "100", "999999999999", "1000000000000", "123456789012345"] {
            texts.push(int.to_string());
            for frac in ["", "0", "00", "000", "1", "5", "05", "10", "50", "99", "123", "+1", "-1", " "] {
                texts.push(format!("{int}.{frac}"));
                texts.push(format!("-{int}.{frac}"));
            }
        }
        texts.extend((0..20_000).map(|c| format!("{}.{:02}", c / 100, c % 100)));
        texts.extend((0..2_000).map(|c| format!("{}.{}", c / 10, c % 10)));
        for t in ["", ".", ".5", "5.", "+7", " 7", "7 ", "1e3", "1E2", "1.5e1", "ten", "1,000", "٣", "1.2.3"] {
            texts.push(t.to_string());
        }
        let mut plain = 0;
        for t in &texts {
            let fast = Money::parse(t);
            let slow = Money::parse_decimal(t);
            // the same value and the same scale (Debug shows both), or the same error
            assert_eq!(format!("{fast:?}"), format!("{slow:?}"), "{t:?}");
            plain += usize::from(Money::parse_plain(t).is_some());
        }
        assert!(plain > 20_000, "{plain} of {} read as plain", texts.len());
    }

    #[test]
    fn exact_cents_is_cents_where_exact_and_none_elsewhere() {
        // scale 0, 1, 2: exact
        for (m, c) in
            [(Money(Decimal::new(7, 0)), 700), (Money(Decimal::new(-75, 1)), -750), (Money(Decimal::new(911, 2)), 911)]
        {
            assert_eq!(m.exact_cents(), Some(c));
            assert_eq!(m.cents(), c);
        }
        // three places: not exact in cents, so `cents` rescales
        let m = Money(Decimal::new(1500, 3));
        assert_eq!(m.exact_cents(), None);
        assert_eq!(m.cents(), 150);
        // out of i64 cents: not exact, `cents` saturates by sign
        let huge = Money(Decimal::from(i64::MAX));
        assert_eq!(huge.exact_cents(), None);
        assert_eq!(huge.cents(), i64::MAX);
        assert_eq!((-huge).cents(), i64::MIN);
    }

    #[test]
    fn parses_exactly_and_rejects_bad_amounts() {
        assert_eq!(Money::parse("9.11").map(Money::cents), Ok(911));
        assert_eq!(Money::parse("1000").map(Money::cents), Ok(100_000));
        assert_eq!(Money::parse("1.500").map(Money::cents), Ok(150));
        assert_eq!(Money::parse("1e3").map(Money::cents), Ok(100_000));
        assert_eq!(Money::parse("1.005"), Err(MoneyError::TooManyDecimals));
        assert_eq!(Money::parse("1000000000000"), Err(MoneyError::TooLarge));
        assert_eq!(Money::parse("999999999999.99").map(Money::cents), Ok(99_999_999_999_999));
        assert_eq!(Money::parse("abc"), Err(MoneyError::NotANumber));
        assert_eq!(Money::parse("1e30"), Err(MoneyError::TooLarge));
        assert_eq!(Money::parse("1e+30"), Err(MoneyError::TooLarge));
        assert_eq!(Money::parse("123456789012345678901234567890"), Err(MoneyError::TooLarge));
        assert_eq!(Money::parse("0.00000000000000000000000000000001"), Err(MoneyError::TooManyDecimals));
        for bad in ["1_000", "+5", ".5", "5.", "", "-", "1e", "1e99999", "0x10", "NaN", "inf", "1..2"] {
            assert_eq!(Money::parse(bad), Err(MoneyError::NotANumber), "{bad:?}");
        }
        assert_eq!(Money::parse("-5").map(Money::cents), Ok(-500));
    }

    #[test]
    fn json_and_text_forms() {
        assert_eq!(Money::from_cents(100_000).to_json().to_string(), "1000");
        assert_eq!(Money::from_cents(-300).to_json().to_string(), "-3");
        assert_eq!(Money::from_cents(1).to_json().to_string(), "0.01");
        assert_eq!(Money::from_cents(911).to_string(), "9.11");
        assert_eq!(Money::from_cents(100_000).to_string_2dp(), "1000.00");
    }

    #[test]
    fn bincode_round_trip() {
        let cfg = bincode::config::standard();
        for c in [0i64, 1, -1, 911, 99_999_999_999_999, -99_999_999_999_999] {
            let m = Money::from_cents(c);
            let bytes = bincode::encode_to_vec(m, cfg).unwrap_or_default();
            let back: Result<(Money, usize), _> = bincode::decode_from_slice(&bytes, cfg);
            assert_eq!(back.ok().map(|(v, _)| v), Some(m));
        }
    }
}
