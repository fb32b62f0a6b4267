//! Money: exact decimal amounts in minor units of at most two places.
//!
//! Money is parsed, computed (rates) and printed with `rust_decimal`, and
//! held and summed as integer cents; never a float. A `Money` is its value
//! in cents as an `i128`: every value that enters the engine has at most
//! two decimal places and `|x| < 10^12` (`numeric(14,2)`, parsed through
//! `Decimal` by [`Money::from_input`] / [`Money::parse`]); sums inside the
//! engine may grow beyond that and stay exact up to
//! [`limits::MONEY_CENTS_ABS_MAX`] cents (`2^96 − 1`, `Decimal`'s largest
//! mantissa), where [`Money::plus`] / [`Money::minus`] saturate, so that
//! [`Money::decimal`] is always the exact `Decimal` (scale 2) and the text
//! forms ([`Money::to_json`], `Display`, [`Money::to_string_2dp`]) are
//! `Decimal`'s. Adding, comparing and reading cents are integer operations
//! (the commit path adds and compares amounts on every event). Rates
//! (fees, interest, payments) are computed elsewhere in integer cents or in
//! `Decimal` and rounded at their named points (`cycle.rs`) before they
//! become `Money`. On disk a `Money` is its value in cents as an `i64`
//! (exact for every value the engine can hold; [`Money::cents`]), so the
//! encoding never depends on this representation.

use std::fmt;
use std::ops::Neg;

use bincode::de::Decoder;
use bincode::enc::Encoder;
use bincode::error::{DecodeError, EncodeError};
use bincode::{Decode, Encode};
use rust_decimal::Decimal;

use crate::limits;

/// An exact amount of money with at most two decimal places: its value in
/// cents, `|cents| <= limits::MONEY_CENTS_ABS_MAX`. Packed to `Decimal`'s
/// alignment (4) so that the events and records holding amounts keep
/// their size and layout (an `i128` alone is 16-aligned); the derived
/// comparisons copy the field out, so they are numeric order.
#[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(C, packed(4))]
pub struct Money(i128);

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
    pub const ZERO: Money = Money(0);

    /// Validates an input amount: at most 2 places, `|x| < 10^12`.
    pub fn from_input(d: Decimal) -> Result<Money, MoneyError> {
        let n = d.normalize();
        let Some(shift) = 2u32.checked_sub(n.scale()) else {
            return Err(MoneyError::TooManyDecimals);
        };
        // |mantissa| < 2^96 and shift <= 2: exact in an i128
        let cents = n.mantissa() * 10i128.pow(shift);
        if cents.abs() >= i128::from(limits::AMOUNT_ABS_LIMIT_UNITS) * 100 {
            return Err(MoneyError::TooLarge);
        }
        Ok(Money(cents))
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
    /// One pass over the bytes: 1 to 15 digits, then nothing or a point and
    /// 1 or 2 digits.
    fn parse_plain(text: &str) -> Option<Money> {
        let mut bytes = text.as_bytes().iter();
        let mut units = 0i64;
        let mut int_digits = 0;
        let mut next = bytes.next();
        while let Some(&b) = next.filter(|b| b.is_ascii_digit()) {
            units = units * 10 + i64::from(b - b'0');
            int_digits += 1;
            next = bytes.next();
        }
        if int_digits == 0 || int_digits > 15 {
            return None;
        }
        let cents = match next {
            None => units * 100,
            Some(b'.') => match (bytes.next(), bytes.next(), bytes.next()) {
                (Some(&d), None, _) if d.is_ascii_digit() => units * 100 + i64::from(d - b'0') * 10,
                (Some(&d), Some(&e), None) if d.is_ascii_digit() && e.is_ascii_digit() => {
                    units * 100 + i64::from(d - b'0') * 10 + i64::from(e - b'0')
                }
                _ => return None,
            },
            Some(_) => return None,
        };
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
    #[inline]
    pub fn from_cents(cents: i64) -> Money {
        Money(i128::from(cents))
    }

    /// The value in cents as an `i64`, saturated by sign beyond it (sums of
    /// more than ~9 * 10^6 maximal amounts, which the engine's limits
    /// prevent): what a `Money` is on disk.
    #[inline]
    pub fn cents(self) -> i64 {
        let c = self.0;
        i64::try_from(c).unwrap_or(if c < 0 { i64::MIN } else { i64::MAX })
    }

    /// The value in cents when it fits an `i64`: [`Money::cents`] without
    /// its saturating case, so that sums of several values can stay in
    /// integer cents.
    #[inline]
    pub fn exact_cents(self) -> Option<i64> {
        i64::try_from(self.0).ok()
    }

    /// The exact value in cents, `|c| <= limits::MONEY_CENTS_ABS_MAX`: sums
    /// of any number of these below `2^31` fit an `i128`.
    #[inline]
    pub fn cents_i128(self) -> i128 {
        self.0
    }

    /// The exact decimal value, at scale 2 (never fails: `|cents|` is at
    /// most `Decimal`'s largest mantissa).
    pub fn decimal(self) -> Decimal {
        Decimal::from_i128_with_scale(self.0, 2)
    }

    /// Exact sum; `None` beyond `limits::MONEY_CENTS_ABS_MAX` cents.
    #[inline]
    pub fn checked_add(self, o: Money) -> Option<Money> {
        // both at most 2^96 - 1 in magnitude: the i128 sum cannot overflow
        let sum = self.0 + o.0;
        (sum.abs() <= limits::MONEY_CENTS_ABS_MAX).then_some(Money(sum))
    }

    /// Exact difference; `None` beyond `limits::MONEY_CENTS_ABS_MAX` cents.
    #[inline]
    pub fn checked_sub(self, o: Money) -> Option<Money> {
        self.checked_add(-o)
    }

    /// Sum that saturates at `±limits::MONEY_CENTS_ABS_MAX` cents instead of
    /// overflowing: used only for totals that the engine's limits keep far
    /// from the bound (balances are bounded by `AMOUNT_ABS_LIMIT_UNITS`
    /// times the number of events).
    #[inline]
    pub fn plus(self, o: Money) -> Money {
        let bound = limits::MONEY_CENTS_ABS_MAX;
        Money((self.0 + o.0).clamp(-bound, bound))
    }

    /// `self - o`, saturating like [`Money::plus`].
    #[inline]
    pub fn minus(self, o: Money) -> Money {
        self.plus(-o)
    }

    /// True when `> 0`.
    #[inline]
    pub fn is_positive(self) -> bool {
        self.0 > 0
    }

    /// True when zero.
    #[inline]
    pub fn is_zero(self) -> bool {
        self.0 == 0
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
        let text = self.decimal().normalize().to_string();
        match text.parse::<serde_json::Number>() {
            Ok(n) => serde_json::Value::Number(n),
            Err(_) => serde_json::Value::String(text),
        }
    }

    /// Text with exactly two decimals (`1000.00`), as CSV and checks use.
    pub fn to_string_2dp(self) -> String {
        format!("{:.2}", self.decimal())
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

impl Neg for Money {
    type Output = Money;
    #[inline]
    fn neg(self) -> Money {
        // the bound is symmetric: the negation of a `Money` is one
        Money(-self.0)
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:.2}", self.decimal())
    }
}

/// `Money(9.11)`: the value, as `Display` prints it.
impl fmt::Debug for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Money({self})")
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
        for int in [
            "0",
            "00",
            "007",
            "1",
            "9",
            "10",
            "49",
            "100",
            "999999999999",
            "1000000000000",
            "123456789012345",
            "1234567890123456",
        ] {
            texts.push(int.to_string());
            for frac in ["", "0", "00", "000", "1", "5", "05", "10", "50", "99", "123", "+1", "-1", " "] {
                texts.push(format!("{int}.{frac}"));
                texts.push(format!("-{int}.{frac}"));
            }
        }
        texts.extend((0..20_000).map(|c| format!("{}.{:02}", c / 100, c % 100)));
        texts.extend((0..2_000).map(|c| format!("{}.{}", c / 10, c % 10)));
        for t in [
            "", ".", ".5", "5.", "+7", " 7", "7 ", "1e3", "1E2", "1.5e1", "ten", "1,000", "٣", "1.2.3", "5x", "5.1x",
            "5.x", "5..1", "-",
        ] {
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
    fn exact_cents_is_cents_within_i64_and_cents_saturates_beyond() {
        for c in [0i64, 700, -750, 911, i64::MAX, i64::MIN] {
            let m = Money::from_cents(c);
            assert_eq!(m.exact_cents(), Some(c));
            assert_eq!(m.cents(), c);
            assert_eq!(m.cents_i128(), i128::from(c));
        }
        // out of i64 cents: not exact, `cents` saturates by sign
        let huge = Money::from_cents(i64::MAX).plus(Money::from_cents(2));
        assert_eq!(huge.exact_cents(), None);
        assert_eq!(huge.cents(), i64::MAX);
        assert_eq!((-huge).cents(), i64::MIN);
        assert_eq!((-huge).exact_cents(), None);
    }

    #[test]
    fn sums_saturate_at_the_bound_where_decimal_is_still_exact() {
        let max = Money(limits::MONEY_CENTS_ABS_MAX);
        assert_eq!(max.decimal(), Decimal::from_i128_with_scale(limits::MONEY_CENTS_ABS_MAX, 2));
        assert_eq!(max.decimal().mantissa(), limits::MONEY_CENTS_ABS_MAX);
        assert_eq!(max.plus(Money::from_cents(1)), max);
        assert_eq!(max.plus(max), max);
        assert_eq!((-max).minus(max), -max);
        assert_eq!(max.checked_add(Money::from_cents(1)), None);
        assert_eq!((-max).checked_sub(Money::from_cents(1)), None);
        assert_eq!(max.checked_add(Money::from_cents(-1)), Some(Money(limits::MONEY_CENTS_ABS_MAX - 1)));
        assert_eq!(max.to_string(), "792281625142643375935439503.35");
        assert_eq!((-max).to_json().to_string(), "-792281625142643375935439503.35");
    }

    #[test]
    fn no_negative_zero() {
        // `Decimal` has one (`-Decimal::ZERO`, printed `-0.00`); the old
        // `Money` carried it through negation. Integer cents have none.
        for z in [-Money::ZERO, Money::ZERO.minus(Money::ZERO), Money::from_cents(5).minus(Money::from_cents(5))] {
            assert_eq!(z, Money::ZERO);
            assert_eq!(z.to_string(), "0.00");
            assert_eq!(z.to_string_2dp(), "0.00");
            assert_eq!(z.to_json().to_string(), "0");
            assert_eq!(format!("{z:?}"), "Money(0.00)");
        }
    }

    /// The old `Money` (a `Decimal` at scale 2), as the oracle of the
    /// integer one: its operations exactly as they were.
    #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
    struct Old(Decimal);

    impl Old {
        fn plus(self, o: Old) -> Old {
            self.0.checked_add(o.0).map(Old).unwrap_or(if o.0.is_sign_negative() {
                Old(Decimal::MIN)
            } else {
                Old(Decimal::MAX)
            })
        }
        fn minus(self, o: Old) -> Old {
            self.plus(Old(-o.0))
        }
        fn min(self, o: Old) -> Old {
            if self <= o {
                self
            } else {
                o
            }
        }
        fn max(self, o: Old) -> Old {
            if self >= o {
                self
            } else {
                o
            }
        }
        fn cents(self) -> i64 {
            let m = self.0.mantissa();
            let adjusted = match self.0.scale() {
                0 => m.checked_mul(100),
                1 => m.checked_mul(10),
                2 => Some(m),
                _ => {
                    let mut d = self.0;
                    d.rescale(2);
                    Some(d.mantissa())
                }
            };
            adjusted.and_then(|v| i64::try_from(v).ok()).unwrap_or(if m < 0 { i64::MIN } else { i64::MAX })
        }
        fn to_json(self) -> serde_json::Value {
            let text = self.0.normalize().to_string();
            match text.parse::<serde_json::Number>() {
                Ok(n) => serde_json::Value::Number(n),
                Err(_) => serde_json::Value::String(text),
            }
        }
        /// `Display` and `to_string_2dp`, but a negative zero printed as
        /// zero ([`no_negative_zero`]: the one deliberate difference).
        fn text(self) -> String {
            let d = if self.0.is_zero() { Decimal::new(0, 2) } else { self.0 };
            format!("{d:.2}")
        }
    }

    /// Cents anywhere in the range, weighted to the interesting places:
    /// zero, the input amounts, the `i64` edge and the saturation bound.
    fn any_cents() -> impl proptest::strategy::Strategy<Value = i128> {
        use proptest::prelude::*;
        let max = limits::MONEY_CENTS_ABS_MAX;
        let edge = |at: i128| (-1_000i128..=1_000).prop_map(move |d| at + d);
        prop_oneof![
            Just(0i128),
            (-10_000i128..=10_000),
            -(i128::from(limits::AMOUNT_ABS_LIMIT_UNITS) * 100 - 1)
                ..=(i128::from(limits::AMOUNT_ABS_LIMIT_UNITS) * 100 - 1),
            edge(i128::from(i64::MAX)),
            edge(i128::from(i64::MIN)),
            (0i128..=1_000).prop_map(move |d| max - d),
            (0i128..=1_000).prop_map(move |d| d - max),
            -max..=max,
        ]
    }

    fn both(c: i128) -> (Money, Old) {
        (Money(c), Old(Decimal::from_i128_with_scale(c, 2)))
    }

    /// `m` and `old` are the same value, in every form.
    fn agree(m: Money, old: Old) {
        assert_eq!(m.decimal(), old.0);
        assert_eq!(m.cents(), old.cents());
        assert_eq!(
            m.exact_cents(),
            i64::try_from(old.0.mantissa() * 10i128.pow(2 - old.0.scale().min(2))).ok().filter(|_| old.0.scale() <= 2)
        );
        assert_eq!(m.to_json(), old.to_json());
        assert_eq!(m.to_json().to_string(), old.to_json().to_string());
        assert_eq!(m.to_string(), old.text());
        assert_eq!(m.to_string_2dp(), old.text());
        assert_eq!(m.is_zero(), old.0.is_zero());
        assert_eq!(m.is_positive(), old.0 > Decimal::ZERO);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(4_000))]
        #[test]
        fn integer_cents_agree_with_the_decimal_money(a in any_cents(), b in any_cents()) {
            let ((ma, oa), (mb, ob)) = (both(a), both(b));
            agree(ma, oa);
            agree(mb, ob);
            agree(-ma, Old(-oa.0));
            assert_eq!(ma.cmp(&mb), oa.cmp(&ob));
            assert_eq!(ma == mb, oa == ob);
            agree(ma.min(mb), oa.min(ob));
            agree(ma.max(mb), oa.max(ob));
            let max = limits::MONEY_CENTS_ABS_MAX;
            for (exact, new, old, checked) in [
                (a + b, ma.plus(mb), oa.plus(ob), ma.checked_add(mb)),
                (a - b, ma.minus(mb), oa.minus(ob), ma.checked_sub(mb)),
            ] {
                if exact.abs() <= max {
                    // within the bound: exactly the old sum
                    agree(new, old);
                    assert_eq!(checked, Some(new));
                } else {
                    // beyond it: saturated by sign (the old sum lost cents
                    // there, rounded by `Decimal`, or saturated at its own
                    // bound, 100 times farther)
                    assert_eq!(new.cents_i128(), exact.signum() * max);
                    assert_eq!(checked, None);
                }
            }
            // summing lines in integer cents (`apply`'s zero-sum check)
            assert_eq!(ma.cents_i128() + mb.cents_i128(), a + b);
        }
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
