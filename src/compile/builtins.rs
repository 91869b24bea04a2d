//! The built-in scalar functions whose results must be identical in the
//! interpreter and in compiled code: `str` formatting of floats and
//! timestamps (durations use `check::format_duration`), `hour`, `minute`
//! and `format_time`, `hash`, `random` and `round`. Compiled code calls
//! these same functions, so there is one definition of each.

use crate::check::patterns::{TimeFormat, TimePart};

/// A strong 64-bit mix (splitmix64's finaliser): every input bit changes
/// about half of the output bits.
pub fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// `random(n)`: a float in [0, 1) from the n-th step of splitmix64.
pub fn random(n: i64) -> f64 {
    let z = mix64((n as u64).wrapping_add(0x9e37_79b9_7f4a_7c15));
    (z >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

pub fn hash_int(value: i64) -> i64 {
    mix64(value as u64) as i64
}

/// Equal floats hash alike: `-0.0` as `0.0`, every NaN as one NaN.
pub fn hash_float(value: f64) -> i64 {
    let canonical = if value == 0.0 {
        0.0f64
    } else if value.is_nan() {
        f64::NAN
    } else {
        value
    };
    mix64(canonical.to_bits()) as i64
}

pub fn hash_bool(value: bool) -> i64 {
    mix64(u64::from(value)) as i64
}

/// `hash(x)` of any value: what `hash` returns, and what `key_by`
/// partitions by.
pub fn hash_value(value: &crate::check::program::Value) -> i64 {
    use crate::check::program::Value;
    match value {
        Value::Int(v) | Value::Timestamp(v) | Value::Duration(v) => hash_int(*v),
        Value::Float(v) => hash_float(*v),
        Value::Bool(v) => hash_bool(*v),
        Value::Str(v) => hash_str(v),
    }
}

/// FNV-1a over the UTF-8 bytes, then mixed.
pub fn hash_str(value: &str) -> i64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in value.bytes() {
        hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
    }
    mix64(hash) as i64
}

/// `str(float)`: the shortest text that reads back as the same float,
/// with at least one decimal: `1.0`, `0.1`, `NaN`, `inf`, `-inf`.
pub fn format_float(value: f64) -> String {
    if value.is_nan() {
        return "NaN".into();
    }
    if value.is_infinite() {
        return if value > 0.0 { "inf" } else { "-inf" }.into();
    }
    let text = value.to_string();
    if text.contains('.') {
        text
    } else {
        format!("{text}.0")
    }
}

const NANOS_PER_SECOND: i64 = 1_000_000_000;
const NANOS_PER_MINUTE: i64 = 60 * NANOS_PER_SECOND;
const NANOS_PER_HOUR: i64 = 60 * NANOS_PER_MINUTE;
const NANOS_PER_DAY: i64 = 24 * NANOS_PER_HOUR;

/// `str(timestamp)`: RFC 3339 in UTC, with as many fraction digits as the
/// nanoseconds need: `1970-01-01T00:00:01.5Z`.
pub fn format_timestamp(nanos: i64) -> String {
    let seconds = nanos.div_euclid(NANOS_PER_SECOND);
    let fraction = nanos.rem_euclid(NANOS_PER_SECOND);
    let (days, second_of_day) = (seconds.div_euclid(86_400), seconds.rem_euclid(86_400));
    let (year, month, day) = civil_from_days(days);
    let mut text = format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}",
        second_of_day / 3600,
        second_of_day % 3600 / 60,
        second_of_day % 60
    );
    if fraction != 0 {
        let digits = format!("{fraction:09}");
        text.push('.');
        text.push_str(digits.trim_end_matches('0'));
    }
    text.push('Z');
    text
}

/// `hour(t)`: the hour of the day in UTC, 0 to 23, before 1970 too.
pub fn hour(nanos: i64) -> i64 {
    nanos.rem_euclid(NANOS_PER_DAY) / NANOS_PER_HOUR
}

/// `minute(t)`: the minute of the hour in UTC, 0 to 59.
pub fn minute(nanos: i64) -> i64 {
    nanos.rem_euclid(NANOS_PER_HOUR) / NANOS_PER_MINUTE
}

/// `format_time(t, format)`: the UTC date and time, as Java's
/// `DateTimeFormatter` writes the same format (Flink's `DATE_FORMAT`).
pub fn format_time(nanos: i64, format: &TimeFormat) -> String {
    let (days, nanos_of_day) = (nanos.div_euclid(NANOS_PER_DAY), nanos.rem_euclid(NANOS_PER_DAY));
    let (year, month, day) = civil_from_days(days);
    let mut text = String::with_capacity(format.source().len() + 8);
    for part in format.parts() {
        use std::fmt::Write;
        // Writing to a String cannot fail.
        let _ = match part {
            TimePart::Year => write!(text, "{year:04}"),
            TimePart::Month => write!(text, "{month:02}"),
            TimePart::Day => write!(text, "{day:02}"),
            TimePart::Hour => write!(text, "{:02}", nanos_of_day / NANOS_PER_HOUR),
            TimePart::Minute => write!(text, "{:02}", nanos_of_day % NANOS_PER_HOUR / NANOS_PER_MINUTE),
            TimePart::Second => write!(text, "{:02}", nanos_of_day % NANOS_PER_MINUTE / NANOS_PER_SECOND),
            TimePart::Millisecond => write!(text, "{:03}", nanos_of_day % NANOS_PER_SECOND / 1_000_000),
            TimePart::Text(literal) => text.write_str(literal),
        };
    }
    text
}

/// The proleptic Gregorian date of a day counted from 1970-01-01 (Howard
/// Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * shifted_month + 2) / 5 + 1) as u32;
    let month = if shifted_month < 10 { shifted_month + 3 } else { shifted_month - 9 } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_timestamps_as_rfc_3339() {
        assert_eq!(format_timestamp(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_timestamp(1_500_000_000), "1970-01-01T00:00:01.5Z");
        assert_eq!(format_timestamp(-1), "1969-12-31T23:59:59.999999999Z");
        assert_eq!(format_timestamp(951_782_400_000_000_000), "2000-02-29T00:00:00Z");
        assert_eq!(format_timestamp(1_768_467_613_000_000_000), "2026-01-15T09:00:13Z");
        assert_eq!(format_timestamp(i64::MAX), "2262-04-11T23:47:16.854775807Z");
        assert_eq!(format_timestamp(i64::MIN), "1677-09-21T00:12:43.145224192Z");
    }

    #[test]
    fn hours_minutes_and_formats_are_utc_before_1970_too() {
        let ms = |ms: i64| ms * 1_000_000;
        assert_eq!((hour(0), minute(0)), (0, 0));
        assert_eq!((hour(-1), minute(-1)), (23, 59));
        assert_eq!((hour(ms(-7_200_001)), minute(ms(-7_200_001))), (21, 59));
        let at = 1_768_467_613_123_456_789;
        assert_eq!((hour(at), minute(at)), (9, 0));
        let format = |text: &str, nanos: i64| format_time(nanos, &TimeFormat::parse(text).unwrap());
        assert_eq!(format("yyyy-MM-dd HH:mm:ss.SSS", at), "2026-01-15 09:00:13.123");
        assert_eq!(format("yyyy-MM-dd'T'HH:mm:ss.SSS", -1), "1969-12-31T23:59:59.999");
        assert_eq!(format("yyyyMMdd/HH'h'", at), "20260115/09h");
        assert_eq!(format("HH:mm", ms(-6_000_000_000_000)), "13:20");
        assert_eq!(format("yyyy-MM-dd", i64::MIN), "1677-09-21");
        assert_eq!(format("yyyy-MM-dd HH:mm:ss.SSS", i64::MAX), "2262-04-11 23:47:16.854");
        assert_eq!(format("", at), "");
    }

    #[test]
    fn formats_floats_with_a_decimal() {
        assert_eq!(format_float(1.0), "1.0");
        assert_eq!(format_float(-0.5), "-0.5");
        assert_eq!(format_float(0.1 + 0.2), "0.30000000000000004");
        assert_eq!(format_float(1e20), "100000000000000000000.0");
        assert_eq!(format_float(f64::NAN), "NaN");
        assert_eq!(format_float(f64::NEG_INFINITY), "-inf");
    }

    #[test]
    fn random_is_uniform_enough_and_fixed() {
        let values: Vec<f64> = (0..10_000).map(random).collect();
        assert!(values.iter().all(|v| (0.0..1.0).contains(v)));
        let mean = values.iter().sum::<f64>() / values.len() as f64;
        assert!((mean - 0.5).abs() < 0.02, "mean {mean}");
        // splitmix64's first output from state 0 is 0xe220a8397b1dcdaf; its
        // top 53 bits make random(0). Pinned, so runs and machines agree.
        assert_eq!(random(0), (0xe220_a839_7b1d_cdafu64 >> 11) as f64 / (1u64 << 53) as f64);
        assert_eq!(random(0), 0.8833108082136426);
        assert_eq!(random(42).to_bits(), 4604854642168692077);
    }

    #[test]
    fn equal_values_hash_alike() {
        assert_eq!(hash_float(0.0), hash_float(-0.0));
        assert_eq!(hash_float(f64::NAN), hash_float(-f64::NAN));
        assert_ne!(hash_int(1), hash_int(2));
        assert_ne!(hash_str("a"), hash_str("b"));
        assert_eq!(hash_str(""), mix64(0xcbf2_9ce4_8422_2325) as i64);
        // Pinned: `hash` feeds partitioning and users' shard numbers.
        assert_eq!(hash_int(1), 6238072747940578789);
        assert_eq!(hash_str("flow"), 8587208430296761320);
        assert_eq!(hash_float(1.5), -1789264046693927832);
    }
}

/// `round(x, digits)` of a float, as Flink's `ROUND` on a DOUBLE
/// (`BigDecimal.valueOf(x)`, rounded `HALF_UP`, read back as a double):
/// the shortest decimal that reads back as `x` is rounded half away from
/// zero at `digits` places (left of the point when negative), and the
/// nearest float to the result is returned. So `round(2.675, 2)` is 2.68,
/// although the float written 2.675 lies a little below it: the decimal
/// a person wrote, not its binary neighbour, decides. NaN and the
/// infinities stay as they are; a result of zero is `0.0`, never `-0.0`.
pub fn round_float(value: f64, digits: i64) -> f64 {
    round_float_in_binary(value, digits).unwrap_or_else(|| round_float_by_decimal(value, digits))
}

/// Exact powers of ten, as floats.
const POW10: [f64; 16] = [1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15];

/// `round_float` without writing the decimal, where that gives the same
/// float: `|x| · 10^digits` below 2^44 (so its error, and the shortest
/// decimal's distance from `x`, stay under 0.01 of a unit) and more than
/// 0.05 from a tie, so rounding it in binary picks the integer rounding the
/// decimal would; one correctly rounded division of two exact numbers is
/// then the float nearest the rounded decimal. `None` elsewhere (a
/// finite value near a tie, far from 1, or rounded left of the point).
/// Writing the decimal costs some 250 ns; this, a few.
fn round_float_in_binary(value: f64, digits: i64) -> Option<f64> {
    let scale = *POW10.get(usize::try_from(digits).ok()?)?;
    let scaled = value.abs() * scale;
    // NaN and the infinities go the long way too.
    if scaled.is_nan() || scaled >= (1u64 << 44) as f64 {
        return None;
    }
    let whole = scaled.floor();
    let fraction = scaled - whole;
    if (fraction - 0.5).abs() <= 0.05 {
        return None;
    }
    let rounded = if fraction > 0.5 { whole + 1.0 } else { whole };
    if rounded == 0.0 {
        return Some(0.0);
    }
    let magnitude = rounded / scale;
    Some(if value < 0.0 { -magnitude } else { magnitude })
}

/// `round_float` by its definition: the shortest decimal, rounded.
fn round_float_by_decimal(value: f64, digits: i64) -> f64 {
    if !value.is_finite() {
        return value;
    }
    if value == 0.0 {
        return 0.0;
    }
    // `{:e}` writes the shortest digits that read back: `2.675e0`.
    let text = format!("{:e}", value.abs());
    let (mantissa, exponent) = text.split_once('e').expect("`{:e}` writes an exponent");
    let exponent: i64 = exponent.parse().expect("`{:e}` writes an integer exponent");
    let shortest: Vec<u8> = mantissa.bytes().filter(u8::is_ascii_digit).map(|digit| digit - b'0').collect();
    // |value| is 0.d1 d2 d3 … × 10^(exponent + 1); the digits at or left of
    // the last kept place are the first `keep`. Beyond ±400 places every
    // finite float rounds to itself or to zero, so the clamp changes nothing.
    let digits = digits.clamp(-400, 400);
    let keep = exponent + 1 + digits;
    if keep >= shortest.len() as i64 {
        return value;
    }
    if keep < 0 {
        return 0.0;
    }
    let keep = keep as usize;
    // At most 17 digits: the kept part fits in a u64, with its carry.
    let kept = shortest[..keep].iter().fold(0u64, |n, &digit| n * 10 + u64::from(digit));
    let rounded = kept + u64::from(shortest[keep] >= 5);
    if rounded == 0 {
        return 0.0;
    }
    let magnitude: f64 = format!("{rounded}e{}", -digits).parse().expect("digits and an exponent read as a float");
    if value < 0.0 {
        -magnitude
    } else {
        magnitude
    }
}

/// `round(n, digits)` of an int: `n` itself for `digits >= 0`; otherwise
/// to the nearest multiple of `10^-digits`, half away from zero, as
/// Flink's `ROUND` on a BIGINT. A result beyond the int range wraps, as
/// int arithmetic does.
pub fn round_int(value: i64, digits: i64) -> i64 {
    if digits >= 0 {
        return value;
    }
    // 10^38 still fits an i128, and from 10^20 on every int rounds to 0.
    let unit = 10i128.pow(digits.unsigned_abs().min(38) as u32);
    let magnitude = (i128::from(value).abs() + unit / 2) / unit * unit;
    (if value < 0 { -magnitude } else { magnitude }) as i64
}

#[cfg(test)]
mod round_tests {
    use super::{round_float, round_float_by_decimal, round_float_in_binary, round_int};
    use proptest::prelude::*;

    proptest! {
        /// The binary shortcut gives the float the decimal definition does,
        /// bit for bit, wherever it answers.
        #[test]
        fn the_binary_shortcut_agrees_with_the_decimal(
            mantissa in prop_oneof![-1_000i64..1_000, -10_000_000_000_000i64..10_000_000_000_000],
            shift in 0i32..14,
            digits in 0i64..16,
            bits in any::<u64>(),
        ) {
            // Decimals with `shift` places, rounded anywhere and one place
            // short of them (where halves are ties), any float, and prices
            // in euros as Nexmark's q1 makes them.
            let decimal = mantissa as f64 / 10f64.powi(shift);
            let cases = [(decimal, digits), (decimal, i64::from(shift) - 1), (f64::from_bits(bits), digits), (mantissa as f64 * 0.908, 3)];
            for (value, digits) in cases {
                if let Some(fast) = round_float_in_binary(value, digits) {
                    let exact = round_float_by_decimal(value, digits);
                    prop_assert_eq!(fast.to_bits(), exact.to_bits(), "round({}, {})", value, digits);
                }
            }
        }
    }

    #[test]
    fn floats_round_their_shortest_decimal_half_away_from_zero() {
        assert_eq!(round_float(131.35999999999999, 2), 131.36);
        assert_eq!(round_float(2.675, 2), 2.68);
        assert_eq!(round_float(-2.675, 2), -2.68);
        assert_eq!(round_float(2.5, 0), 3.0);
        assert_eq!(round_float(-2.5, 0), -3.0);
        assert_eq!(round_float(0.5, 0), 1.0);
        assert_eq!(round_float(0.49999999999999994, 0), 0.0);
        assert_eq!(round_float(1234.5678, -2), 1200.0);
        assert_eq!(round_float(1250.0, -2), 1300.0);
        assert_eq!(round_float(49.0, -2), 0.0);
        assert_eq!(round_float(50.0, -2), 100.0);
        assert_eq!(round_float(1.0e-5, 3), 0.0);
        assert_eq!(round_float(0.0005, 3), 0.001);
        assert_eq!(round_float(0.1 + 0.2, 1), 0.3);
        assert_eq!(round_float(1.23456, 10), 1.23456);
        assert_eq!(round_float(1e300, 2), 1e300);
        assert_eq!(round_float(5e-324, 400), 5e-324);
        assert_eq!(round_float(1.7976931348623157e308, -308), f64::INFINITY);
        assert_eq!(round_float(9.5, i64::MIN), 0.0);
        assert_eq!(round_float(9.5, i64::MAX), 9.5);
        assert!(round_float(f64::NAN, 1).is_nan());
        assert_eq!(round_float(f64::NEG_INFINITY, 1), f64::NEG_INFINITY);
        assert!(round_float(-0.4, 0).is_sign_positive(), "zero is 0.0");
        assert!(round_float(-0.0, 2).is_sign_positive());
    }

    #[test]
    fn ints_round_to_tens_hundreds_and_more_half_away_from_zero() {
        assert_eq!(round_int(1234, 2), 1234);
        assert_eq!(round_int(1250, -2), 1300);
        assert_eq!(round_int(-1250, -2), -1300);
        assert_eq!(round_int(1249, -2), 1200);
        assert_eq!(round_int(5, -1), 10);
        assert_eq!(round_int(i64::MAX, -30), 0);
        assert_eq!(round_int(i64::MIN, i64::MIN), 0);
        assert_eq!(round_int(i64::MAX, -1), (9_223_372_036_854_775_810i128) as i64, "wraps");
    }
}
