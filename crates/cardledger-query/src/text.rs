//! Printing cells: the pages' date shapes and fixed-scale amounts, written
//! digit by digit into a reused buffer (chrono's `format` parses its pattern
//! on every call, which dominated rendering).

use std::fmt::Write as _;

use cardledger_domain::time::{Date, Timestamp};
use chrono::{Datelike, NaiveDate, Timelike};
use rust_decimal::{Decimal, RoundingStrategy};

/// `2019-11-20`.
pub(crate) fn ymd(d: NaiveDate, out: &mut String) {
    let year = d.year();
    if (0..=9999).contains(&year) {
        digits(out, year.unsigned_abs(), 4);
        out.push('-');
        digits(out, d.month(), 2);
        out.push('-');
        digits(out, d.day(), 2);
    } else {
        let _ = write!(out, "{}", d.format("%Y-%m-%d"));
    }
}

/// `2019-11-20` for a `Date`.
pub(crate) fn plain_date(d: Date, out: &mut String) {
    ymd(d.to_naive(), out);
}

/// `2019-11-20T00:00:00.000Z`: a date in JSON records.
pub(crate) fn record_date(d: Date, out: &mut String) {
    ymd(d.to_naive(), out);
    out.push_str("T00:00:00.000Z");
}

/// `2018-08-06T16:22:10.000Z`: a timestamp in records (milliseconds, as on
/// the pages; microseconds are cut).
pub(crate) fn record_timestamp(t: Timestamp, out: &mut String) {
    let dt = t.to_datetime();
    ymd(dt.date_naive(), out);
    out.push('T');
    hms(dt.time(), out);
    out.push('.');
    digits(out, dt.timestamp_subsec_millis().min(999), 3);
    out.push('Z');
}

/// `2019-11-01T00:00:00+0000`: the envelope's start and end dates.
pub(crate) fn envelope_date(d: Date) -> String {
    let mut out = String::with_capacity(24);
    ymd(d.to_naive(), &mut out);
    out.push_str("T00:00:00+0000");
    out
}

/// `2018-08-27T16:08:03Z`: the envelope's last run time (whole seconds, as
/// on the pages).
pub(crate) fn run_time(t: Timestamp) -> String {
    let dt = t.to_datetime();
    let mut out = String::with_capacity(20);
    ymd(dt.date_naive(), &mut out);
    out.push('T');
    hms(dt.time(), &mut out);
    out.push('Z');
    out
}

/// An amount with exactly `scale` decimals, rounded half away from zero
/// (the one rounding point of printing). Zero prints unsigned.
pub(crate) fn amount(a: Decimal, scale: u32, out: &mut String) {
    // The common case, in u64 arithmetic: no more places than `scale` (so
    // nothing to round) and a mantissa that stays in u64 once widened.
    if let Some(up) = scale.checked_sub(a.scale()).filter(|_| scale <= 18).and_then(|up| 10u64.checked_pow(up)) {
        let m = a.mantissa();
        if let Some(u) = u64::try_from(m.unsigned_abs()).ok().and_then(|u| u.checked_mul(up)) {
            if m < 0 {
                out.push('-');
            }
            if scale == 2 {
                // cents, the usual column: constant divisors
                push_u64(out, u / 100);
                out.push('.');
                padded(out, u % 100, 2);
                return;
            }
            let p = 10u64.pow(scale);
            push_u64(out, u / p);
            if scale > 0 {
                out.push('.');
                padded(out, u % p, scale);
            }
            return;
        }
    }
    let r = a.round_dp_with_strategy(scale, RoundingStrategy::MidpointAwayFromZero);
    let widened =
        scale.checked_sub(r.scale()).and_then(|up| 10i128.checked_pow(up)).and_then(|f| r.mantissa().checked_mul(f));
    let Some(m) = widened else {
        // Only for values near Decimal's limits; slower but exact.
        let _ = write!(out, "{:.*}", scale as usize, r);
        return;
    };
    if m < 0 {
        out.push('-');
    }
    let u = m.unsigned_abs();
    let p = 10u128.pow(scale);
    let (int, frac) = (u / p, u % p);
    match (u64::try_from(int), u64::try_from(frac)) {
        (Ok(i), Ok(f)) => {
            push_u64(out, i);
            if scale > 0 {
                out.push('.');
                padded(out, f, scale);
            }
        }
        _ => {
            let _ = write!(out, "{int}");
            if scale > 0 {
                let _ = write!(out, ".{frac:0>width$}", width = scale as usize);
            }
        }
    }
}

/// `v` in decimal, without the formatting machinery (it dominated output).
pub(crate) fn push_u64(out: &mut String, v: u64) {
    padded(out, v, 1);
}

/// `v` in decimal.
pub(crate) fn push_i64(out: &mut String, v: i64) {
    if v < 0 {
        out.push('-');
    }
    push_u64(out, v.unsigned_abs());
}

/// `v` zero-padded to `width` digits (at most 20: a `u64` has 20).
fn padded(out: &mut String, mut v: u64, width: u32) {
    let mut buf = [b'0'; 20];
    let mut i = buf.len();
    // two digits a step, from the right
    while v >= 10 {
        let pair = (v % 100) as usize * 2;
        v /= 100;
        i = i.saturating_sub(2);
        if let (Some(d), Some(p)) = (buf.get_mut(i..i + 2), DIGIT_PAIRS.get(pair..pair + 2)) {
            d.copy_from_slice(p);
        }
    }
    if v > 0 || i == buf.len() {
        i = i.saturating_sub(1);
        if let Some(d) = buf.get_mut(i) {
            *d = b'0' + v as u8;
        }
    }
    // the digits start at `i` (a pair is taken only from v ≥ 10, so none has
    // a leading zero); the bytes before it are the zeros of the padding
    let start = i.min(buf.len().saturating_sub(width as usize));
    out.extend(buf.get(start..).unwrap_or(&[]).iter().map(|&b| char::from(b)));
}

/// "00" "01" … "99".
const DIGIT_PAIRS: &[u8; 200] = b"\
0001020304050607080910111213141516171819\
2021222324252627282930313233343536373839\
4041424344454647484950515253545556575859\
6061626364656667686970717273747576777879\
8081828384858687888990919293949596979899";

/// `s` as a JSON string literal (quotes and escapes included).
pub(crate) fn json_string(s: &str, out: &mut String) {
    out.push('"');
    if !s.bytes().any(|b| b < 0x20 || b == b'"' || b == b'\\') {
        // nothing to escape (the usual token or name): one copy
        out.push_str(s);
        out.push('"');
        return;
    }
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

fn hms(t: chrono::NaiveTime, out: &mut String) {
    digits(out, t.hour(), 2);
    out.push(':');
    digits(out, t.minute(), 2);
    out.push(':');
    // A leap second reads as :60 in chrono's nanosecond field; keep 59.
    digits(out, t.second().min(59), 2);
}

fn digits(out: &mut String, v: u32, width: u32) {
    padded(out, u64::from(v), width);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_print_with_fixed_scale() {
        let cases = [
            ("13386182.9", 2, "13386182.90"),
            ("-1507807.27", 2, "-1507807.27"),
            ("0", 2, "0.00"),
            ("-0.004", 2, "0.00"),
            ("-0.005", 2, "-0.01"),
            ("0.005", 2, "0.01"),
            ("2.345", 2, "2.35"),
            ("-2.345", 2, "-2.35"),
            ("0.1234", 4, "0.1234"),
            ("0.05", 4, "0.0500"),
            ("7", 0, "7"),
            ("-5", 0, "-5"),
            ("-0", 2, "0.00"),
            ("-0.00", 2, "0.00"),
            ("12.3", 2, "12.30"),
            ("-12.30", 2, "-12.30"),
            ("4659036.18", 2, "4659036.18"),
            ("0.01", 18, "0.010000000000000000"),
            ("0.01", 19, "0.0100000000000000000"),
            ("184467440737095516.15", 2, "184467440737095516.15"),
            ("184467440737095516.16", 2, "184467440737095516.16"),
            ("-999999999999999999999", 2, "-999999999999999999999.00"),
            ("79228162514264337593543950335", 2, "79228162514264337593543950335.00"),
            ("-7.9228162514264337593543950335", 28, "-7.9228162514264337593543950335"),
        ];
        for (text, scale, want) in cases {
            let mut out = String::new();
            amount(text.parse().unwrap(), scale, &mut out);
            assert_eq!(out, want, "{text} at scale {scale}");
        }
    }

    #[test]
    fn the_u64_path_prints_what_decimal_formatting_prints() {
        // reference: round half away from zero, then Decimal's own fixed-point Display
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..200_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let mantissa = i64::try_from(x >> (x % 40)).unwrap_or(0) * if x & 1 == 0 { 1 } else { -1 };
            let d = Decimal::new(mantissa, (x >> 8) as u32 % 6);
            let scale = (x >> 16) as u32 % 5;
            let mut fast = String::new();
            amount(d, scale, &mut fast);
            let r = d.round_dp_with_strategy(scale, RoundingStrategy::MidpointAwayFromZero);
            let mut want = format!("{:.*}", scale as usize, r);
            if r.is_zero() {
                want = want.trim_start_matches('-').to_string();
            }
            assert_eq!(fast, want, "{d} at scale {scale}");
        }
    }

    #[test]
    fn integers_print_like_display_with_padding() {
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        let mut values = vec![0, 1, 9, 10, 11, 99, 100, 101, 1005, 1_000_000, u64::MAX, u64::MAX - 1];
        for _ in 0..100_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            values.push(x >> (x % 64));
        }
        for v in values {
            for width in [1, 2, 4, 19, 20] {
                let mut out = String::new();
                padded(&mut out, v, width);
                assert_eq!(out, format!("{v:0w$}", w = width as usize), "{v} at width {width}");
            }
            let mut out = String::new();
            push_u64(&mut out, v);
            assert_eq!(out, v.to_string());
            let mut out = String::new();
            push_i64(&mut out, (v as i64).wrapping_neg());
            assert_eq!(out, (v as i64).wrapping_neg().to_string());
        }
    }

    #[test]
    fn dates_print_like_the_pages() {
        let d = Date::parse("2019-11-02").unwrap();
        let t = Timestamp::parse("2018-08-06T16:22:10.123456Z").unwrap();
        let mut out = String::new();
        record_date(d, &mut out);
        out.push(' ');
        record_timestamp(t, &mut out);
        out.push(' ');
        plain_date(Date::parse("0099-01-01").unwrap(), &mut out);
        assert_eq!(out, "2019-11-02T00:00:00.000Z 2018-08-06T16:22:10.123Z 0099-01-01");
        assert_eq!(envelope_date(d), "2019-11-02T00:00:00+0000");
        assert_eq!(run_time(t), "2018-08-06T16:22:10Z");
    }

    #[test]
    fn json_strings_escape() {
        let mut out = String::new();
        json_string("a\"b\\c\n\u{1}é", &mut out);
        assert_eq!(out, "\"a\\\"b\\\\c\\n\\u0001é\"");
        assert_eq!(serde_json::from_str::<String>(&out).unwrap(), "a\"b\\c\n\u{1}é");
    }
}
