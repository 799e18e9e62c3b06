//! Reading and writing the human forms of values: checksummed addresses, amounts with units, times and
//! durations, and argument values typed by their Solidity type.

use alloy_primitives::{hex, Address, FixedBytes, B256, I256, U256};
use time::{format_description::well_known::Rfc3339, OffsetDateTime};

use crate::abi::U48_MAX;
use crate::function::ParamType;

/// Units accepted after a number: `"1.5 ether"`, `"100 gwei"`.
const UNITS: [(&str, u8); 7] = [
    ("wei", 0),
    ("kwei", 3),
    ("mwei", 6),
    ("gwei", 9),
    ("szabo", 12),
    ("finney", 15),
    ("ether", 18),
];

/// Parses an address: `0x` and 40 hex digits. All-lowercase (or all-uppercase) is accepted as is; mixed case must
/// be a correct EIP-55 checksum. On a wrong checksum the error is `Err(Some(expected))`.
pub fn parse_address(text: &str) -> Result<Address, Option<String>> {
    let digits = text.strip_prefix("0x").ok_or(None)?;
    if digits.len() != 40 || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(None);
    }
    let address: Address = text.parse().map_err(|_| None)?;
    let has_lower = digits.bytes().any(|b| b.is_ascii_lowercase());
    let has_upper = digits.bytes().any(|b| b.is_ascii_uppercase());
    if has_lower && has_upper {
        let expected = address.to_checksum(None);
        if expected != text {
            return Err(Some(expected));
        }
    }
    Ok(address)
}

/// A parsed number: sign and magnitude.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Number {
    /// Whether a `-` was given (never with a zero magnitude).
    pub negative: bool,
    /// The absolute value.
    pub magnitude: U256,
}

/// Parses `123`, `1_000`, `0x1f`, `-5`, `1.5 ether`, `100 gwei`, `2wei`.
pub fn parse_number(text: &str) -> Result<Number, String> {
    let trimmed = text.trim();
    let (negative, body) = match trimmed.strip_prefix('-') {
        Some(rest) => (true, rest.trim_start()),
        None => (false, trimmed.strip_prefix('+').unwrap_or(trimmed)),
    };
    if body.is_empty() {
        return Err("empty number".into());
    }
    let magnitude = if let Some(hex_digits) =
        body.strip_prefix("0x").or_else(|| body.strip_prefix("0X"))
    {
        let digits: String = hex_digits.chars().filter(|c| *c != '_').collect();
        if digits.is_empty() || digits.len() > 64 || !digits.bytes().all(|b| b.is_ascii_hexdigit())
        {
            return Err("expected 1 to 64 hex digits after 0x".into());
        }
        U256::from_str_radix(&digits, 16).map_err(|e| e.to_string())?
    } else {
        let split = body.find(|c: char| c.is_alphabetic()).unwrap_or(body.len());
        let (number, unit) = (body[..split].trim_end(), body[split..].trim());
        let decimals = if unit.is_empty() {
            0
        } else {
            let unit = unit.to_ascii_lowercase();
            let unit = if unit == "eth" {
                "ether".to_owned()
            } else {
                unit
            };
            UNITS
                .iter()
                .find(|(name, _)| *name == unit)
                .map(|(_, d)| *d)
                .ok_or_else(|| format!("unknown unit {unit:?} (wei, gwei, ether …)"))?
        };
        parse_decimal(number, decimals)?
    };
    Ok(Number {
        negative: negative && !magnitude.is_zero(),
        magnitude,
    })
}

/// `digits[.fraction]` scaled by `10^decimals`, exactly.
fn parse_decimal(number: &str, decimals: u8) -> Result<U256, String> {
    let (int_part, frac_part) = match number.split_once('.') {
        Some((i, f)) => (i, f),
        None => (number, ""),
    };
    let clean = |s: &str| -> Result<String, String> {
        if s.starts_with('_') || s.ends_with('_') || s.contains("__") {
            return Err(format!("misplaced '_' in {number:?}"));
        }
        let digits: String = s.chars().filter(|c| *c != '_').collect();
        if !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("{number:?} is not a decimal number"));
        }
        Ok(digits)
    };
    let int_digits = clean(int_part)?;
    let frac_digits = clean(frac_part)?;
    if int_digits.is_empty() && frac_digits.is_empty() {
        return Err(format!("{number:?} is not a number"));
    }
    let frac_digits = frac_digits.trim_end_matches('0');
    if frac_digits.len() > usize::from(decimals) {
        return Err(format!(
            "{number:?} has more decimals than the unit allows ({decimals})"
        ));
    }
    let mut all = int_digits;
    all.push_str(frac_digits);
    all.extend(std::iter::repeat_n(
        '0',
        usize::from(decimals) - frac_digits.len(),
    ));
    let all = all.trim_start_matches('0');
    if all.is_empty() {
        return Ok(U256::ZERO);
    }
    if all.len() > 78 {
        return Err("number too large for 256 bits".into());
    }
    U256::from_str_radix(all, 10).map_err(|_| "number too large for 256 bits".to_owned())
}

/// Parses an unsigned amount that must fit in `bits`.
pub fn parse_unsigned(text: &str, bits: u16) -> Result<U256, RangeOrSyntax> {
    let number = parse_number(text).map_err(RangeOrSyntax::Syntax)?;
    if number.negative || !fits_unsigned(number.magnitude, bits) {
        return Err(RangeOrSyntax::Range);
    }
    Ok(number.magnitude)
}

/// Why a value was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RangeOrSyntax {
    /// It parsed, but does not fit the type.
    Range,
    /// It did not parse.
    Syntax(String),
}

/// Whether `value < 2^bits`.
pub fn fits_unsigned(value: U256, bits: u16) -> bool {
    bits >= 256 || value.bit_len() <= usize::from(bits)
}

/// Two's complement word of a signed number that must fit `intN`.
pub fn signed_word(number: Number, bits: u16) -> Option<U256> {
    // range: -2^(bits-1) ..= 2^(bits-1) - 1
    if bits == 0 || bits > 256 {
        return None;
    }
    let limit = U256::from(1u8) << (usize::from(bits) - 1);
    if number.negative {
        if number.magnitude > limit {
            return None;
        }
        Some(U256::ZERO.wrapping_sub(number.magnitude))
    } else {
        if number.magnitude >= limit {
            return None;
        }
        Some(number.magnitude)
    }
}

/// A word read back as a signed `intN`, if it is the canonical (sign-extended) encoding of one.
pub fn word_as_signed(word: U256, bits: u16) -> Option<I256> {
    let value = I256::from_raw(word);
    let bits = usize::from(bits);
    if bits == 0 {
        return None;
    }
    if bits >= 256 {
        return Some(value);
    }
    let limit = I256::from_raw(U256::from(1u8) << (bits - 1));
    (value >= -limit && value < limit).then_some(value)
}

/// Formats a native amount for people: `1.5 ether`, `20 gwei`, or plain wei.
pub fn format_native(value: U256) -> String {
    let ether = U256::from(10u64).pow(U256::from(18u8));
    let gwei = U256::from(1_000_000_000u64);
    if !value.is_zero()
        && value >= ether / U256::from(1000u16)
        && (value % U256::from(1_000_000_000u64)).is_zero()
    {
        format!("{} ether", format_decimal(value, 18))
    } else if !value.is_zero() && value >= gwei && (value % U256::from(1000u16)).is_zero() {
        format!("{} gwei", format_decimal(value, 9))
    } else {
        value.to_string()
    }
}

/// `value / 10^decimals` as an exact decimal string (`1500` with 3 decimals → `1.5`).
pub fn format_decimal(value: U256, decimals: u8) -> String {
    let digits = value.to_string();
    let decimals = usize::from(decimals);
    if decimals == 0 {
        return digits;
    }
    let padded = if digits.len() <= decimals {
        format!("{}{digits}", "0".repeat(decimals + 1 - digits.len()))
    } else {
        digits
    };
    let (int_part, frac_part) = padded.split_at(padded.len() - decimals);
    let frac_part = frac_part.trim_end_matches('0');
    if frac_part.is_empty() {
        int_part.to_owned()
    } else {
        format!("{int_part}.{frac_part}")
    }
}

/// Parses a unix time: decimal seconds or an RFC 3339 date-time (`2026-12-01T12:00:00Z`). It must fit `uint48`.
pub fn parse_timestamp(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let seconds = if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        text.parse::<u64>()
            .map_err(|_| "time too large".to_owned())?
    } else {
        let time = OffsetDateTime::parse(text, &Rfc3339).map_err(|e| {
            format!("expected unix seconds or an RFC 3339 time such as 2026-12-01T12:00:00Z ({e})")
        })?;
        u64::try_from(time.unix_timestamp()).map_err(|_| "time before 1970".to_owned())?
    };
    if seconds > U48_MAX {
        return Err("time does not fit uint48".into());
    }
    Ok(seconds)
}

/// RFC 3339 in UTC (`2026-12-01T12:00:00Z`), if representable.
pub fn format_rfc3339(seconds: u64) -> Option<String> {
    let time = OffsetDateTime::from_unix_timestamp(i64::try_from(seconds).ok()?).ok()?;
    time.format(&Rfc3339).ok()
}

/// `2026-12-01 12:00 UTC` (seconds shown only when not zero); plain seconds when out of the calendar's range.
pub fn format_human_time(seconds: u64) -> String {
    let Some(time) = i64::try_from(seconds)
        .ok()
        .and_then(|s| OffsetDateTime::from_unix_timestamp(s).ok())
    else {
        return format!("unix time {seconds}");
    };
    let (y, m, d) = (time.year(), u8::from(time.month()), time.day());
    let (hh, mm, ss) = (time.hour(), time.minute(), time.second());
    if ss == 0 {
        format!("{y:04}-{m:02}-{d:02} {hh:02}:{mm:02} UTC")
    } else {
        format!("{y:04}-{m:02}-{d:02} {hh:02}:{mm:02}:{ss:02} UTC")
    }
}

const DURATION_UNITS: [(char, u64); 5] = [
    ('w', 604_800),
    ('d', 86_400),
    ('h', 3_600),
    ('m', 60),
    ('s', 1),
];

/// Parses `90`, `90s`, `15m`, `1h`, `1h30m`, `7d`, `2w`. It must fit `uint48`.
pub fn parse_duration(text: &str) -> Result<u64, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("empty duration".into());
    }
    if text.bytes().all(|b| b.is_ascii_digit()) {
        let seconds = text
            .parse::<u64>()
            .map_err(|_| "duration too large".to_owned())?;
        return if seconds > U48_MAX {
            Err("duration does not fit uint48".into())
        } else {
            Ok(seconds)
        };
    }
    let mut total: u64 = 0;
    let mut digits = String::new();
    let mut last_unit = usize::MAX;
    for c in text.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        if c.is_whitespace() {
            continue;
        }
        let position = DURATION_UNITS
            .iter()
            .position(|(u, _)| *u == c)
            .ok_or_else(|| format!("unknown unit {c:?} in duration (s, m, h, d, w)"))?;
        if digits.is_empty() {
            return Err(format!("unit {c:?} without a number"));
        }
        if last_unit != usize::MAX && position <= last_unit {
            return Err("units must go from largest to smallest, each once".into());
        }
        last_unit = position;
        let n: u64 = digits
            .parse()
            .map_err(|_| "duration too large".to_owned())?;
        total = n
            .checked_mul(DURATION_UNITS[position].1)
            .and_then(|s| total.checked_add(s))
            .ok_or("duration too large")?;
        digits.clear();
    }
    if !digits.is_empty() {
        return Err("number without a unit at the end (write 90s, or plain seconds)".into());
    }
    if total > U48_MAX {
        return Err("duration does not fit uint48".into());
    }
    Ok(total)
}

/// `1h30m`, `1d`, `45s`, `0s`.
pub fn format_duration(mut seconds: u64) -> String {
    if seconds == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    for (unit, size) in DURATION_UNITS {
        if seconds >= size {
            out.push_str(&(seconds / size).to_string());
            out.push(unit);
            seconds %= size;
        }
    }
    out
}

/// Parses `0x` + exactly `2 * N` hex digits.
pub fn parse_hex_exact<const N: usize>(text: &str) -> Result<FixedBytes<N>, String> {
    let digits = text
        .strip_prefix("0x")
        .ok_or_else(|| format!("expected 0x and {} hex digits", 2 * N))?;
    if digits.len() != 2 * N {
        return Err(format!(
            "expected 0x and {} hex digits, got {}",
            2 * N,
            digits.len()
        ));
    }
    let bytes = hex::decode(digits).map_err(|e| e.to_string())?;
    Ok(FixedBytes::from_slice(&bytes))
}

/// A value given for an argument of type `ty`, as its 32-byte word.
pub fn word_for(ty: &ParamType, value: &crate::spec::Scalar) -> Result<B256, ValueError> {
    use crate::spec::Scalar;
    let syntax = |s: &str| ValueError::Syntax(s.to_owned());
    let text_of = |v: &Scalar| -> Result<String, ValueError> {
        match v {
            Scalar::Text(s) => Ok(s.clone()),
            Scalar::Unsigned(n) => Ok(n.to_string()),
            Scalar::Signed(n) => Ok(n.to_string()),
            Scalar::Bool(_) => Err(syntax("expected a number, not a boolean")),
        }
    };
    match ty {
        ParamType::Address => match value {
            Scalar::Text(s) => match parse_address(s) {
                Ok(a) => Ok(a.into_word()),
                Err(Some(expected)) => Err(ValueError::Checksum(expected)),
                Err(None) => Err(syntax("expected an address: 0x and 40 hex digits")),
            },
            _ => Err(syntax("expected an address string")),
        },
        ParamType::Bool => match value {
            Scalar::Bool(b) => Ok(B256::from(U256::from(u8::from(*b)))),
            Scalar::Text(s) if s == "true" || s == "false" => {
                Ok(B256::from(U256::from(u8::from(s == "true"))))
            }
            _ => Err(syntax("expected true or false")),
        },
        ParamType::Uint(bits) => match parse_unsigned(&text_of(value)?, *bits) {
            Ok(v) => Ok(B256::from(v)),
            Err(RangeOrSyntax::Range) => Err(ValueError::Range),
            Err(RangeOrSyntax::Syntax(s)) => Err(ValueError::Syntax(s)),
        },
        ParamType::Int(bits) => {
            let number = parse_number(&text_of(value)?).map_err(ValueError::Syntax)?;
            signed_word(number, *bits)
                .map(B256::from)
                .ok_or(ValueError::Range)
        }
        ParamType::FixedBytes(n) => match value {
            Scalar::Text(s) => {
                let digits = s
                    .strip_prefix("0x")
                    .ok_or_else(|| syntax("expected 0x hex"))?;
                let bytes = hex::decode(digits).map_err(|e| ValueError::Syntax(e.to_string()))?;
                if bytes.len() != usize::from(*n) {
                    return Err(ValueError::Syntax(format!(
                        "expected {n} bytes, got {}",
                        bytes.len()
                    )));
                }
                let mut word = B256::ZERO;
                word[..bytes.len()].copy_from_slice(&bytes);
                Ok(word)
            }
            _ => Err(syntax("expected 0x hex")),
        },
        ParamType::Function => match value {
            Scalar::Text(s) => {
                let bytes = parse_hex_exact::<24>(s).map_err(ValueError::Syntax)?;
                let mut word = B256::ZERO;
                word[..24].copy_from_slice(bytes.as_slice());
                Ok(word)
            }
            _ => Err(syntax("expected 0x and 48 hex digits")),
        },
        // a raw head word (no signature, or an explicit `"type": "bytes32"`-like override)
        _ => Err(syntax("not a static one-word type")),
    }
}

/// A raw 32-byte word: `0x` + 64 hex digits, or a number (negative numbers as int256 two's complement).
pub fn raw_word(value: &crate::spec::Scalar) -> Result<B256, ValueError> {
    use crate::spec::Scalar;
    match value {
        Scalar::Text(s) if s.starts_with("0x") && s.len() == 66 => {
            parse_hex_exact::<32>(s).map_err(ValueError::Syntax)
        }
        Scalar::Bool(b) => Ok(B256::from(U256::from(u8::from(*b)))),
        _ => word_for(&ParamType::Int(256), value)
            .or_else(|_| word_for(&ParamType::Uint(256), value)),
    }
}

/// The readable form of a raw word: decimal below 2^128, else 64 hex digits. [`raw_word`] reads it back.
pub fn format_raw_word(word: B256) -> crate::spec::Scalar {
    let value = U256::from_be_bytes(word.0);
    if value.bit_len() <= 64 {
        crate::spec::Scalar::Unsigned(value.to::<u64>())
    } else if value.bit_len() <= 128 {
        crate::spec::Scalar::Text(value.to_string())
    } else {
        crate::spec::Scalar::Text(format!("{word}"))
    }
}

/// The readable form of a word of type `ty`, if the word is a canonical encoding of that type.
pub fn format_word(ty: &ParamType, word: B256) -> Option<crate::spec::Scalar> {
    use crate::spec::Scalar;
    let value = U256::from_be_bytes(word.0);
    match ty {
        ParamType::Address => (value.bit_len() <= 160)
            .then(|| Scalar::Text(Address::from_word(word).to_checksum(None))),
        ParamType::Bool => match value.bit_len() {
            0 => Some(Scalar::Bool(false)),
            1 => Some(Scalar::Bool(true)),
            _ => None,
        },
        ParamType::Uint(bits) => fits_unsigned(value, *bits).then(|| {
            if value.bit_len() <= 64 {
                Scalar::Unsigned(value.to::<u64>())
            } else {
                Scalar::Text(value.to_string())
            }
        }),
        ParamType::Int(bits) => word_as_signed(value, *bits).map(|v| match i64::try_from(v) {
            Ok(small) if small < 0 => Scalar::Signed(small),
            Ok(small) => Scalar::Unsigned(small as u64),
            Err(_) => Scalar::Text(v.to_string()),
        }),
        ParamType::FixedBytes(n) => {
            let n = usize::from(*n);
            word[n..]
                .iter()
                .all(|b| *b == 0)
                .then(|| Scalar::Text(hex::encode_prefixed(&word[..n])))
        }
        ParamType::Function => word[24..]
            .iter()
            .all(|b| *b == 0)
            .then(|| Scalar::Text(hex::encode_prefixed(&word[..24]))),
        _ => None,
    }
}

/// Why an argument value was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ValueError {
    /// Out of the type's range.
    Range,
    /// A mixed-case address with a wrong checksum; the correct one.
    Checksum(String),
    /// Unreadable.
    Syntax(String),
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn numbers() {
        let n = |s: &str| parse_number(s).unwrap();
        assert_eq!(
            n("1.5 ether").magnitude,
            U256::from(1_500_000_000_000_000_000u128)
        );
        assert_eq!(n("100 gwei").magnitude, U256::from(100_000_000_000u64));
        assert_eq!(n("1_000").magnitude, U256::from(1000u64));
        assert_eq!(n("0x1f").magnitude, U256::from(31u64));
        assert_eq!(n("2wei").magnitude, U256::from(2u64));
        assert_eq!(
            n(".5 ether").magnitude,
            U256::from(500_000_000_000_000_000u128)
        );
        assert!(n("-5").negative);
        assert!(!n("-0").negative);
        for bad in [
            "",
            "1.5",
            "0.1 wei",
            "1e18",
            "abc",
            "0x",
            "1 foo",
            "1__0",
            "-",
            "1.2.3 ether",
        ] {
            assert!(parse_number(bad).is_err(), "{bad}");
        }
        let max = "115792089237316195423570985008687907853269984665640564039457584007913129639935";
        assert_eq!(n(max).magnitude, U256::MAX);
        assert!(parse_number(
            "115792089237316195423570985008687907853269984665640564039457584007913129639936"
        )
        .is_err());
    }

    #[test]
    fn formats() {
        assert_eq!(
            format_native(U256::from(1_500_000_000_000_000_000u128)),
            "1.5 ether"
        );
        assert_eq!(format_native(U256::from(100_000_000_000u64)), "100 gwei");
        assert_eq!(format_native(U256::from(7u64)), "7");
        for v in [
            0u128,
            1,
            999,
            1_000_000_000,
            1_234_567_000_000_000_000,
            10u128.pow(30) + 1,
        ] {
            let s = format_native(U256::from(v));
            assert_eq!(parse_number(&s).unwrap().magnitude, U256::from(v), "{s}");
        }
        assert_eq!(format_duration(5400), "1h30m");
        assert_eq!(parse_duration("1h30m").unwrap(), 5400);
        assert_eq!(parse_duration("1d").unwrap(), 86400);
        assert!(parse_duration("30m1h").is_err());
        assert!(parse_duration("1x").is_err());
        assert_eq!(
            parse_timestamp("2026-12-01T12:00:00Z").unwrap(),
            1_796_126_400
        );
        assert_eq!(
            parse_timestamp("2026-12-01T13:00:00+01:00").unwrap(),
            1_796_126_400
        );
        assert_eq!(
            format_rfc3339(1_796_126_400).unwrap(),
            "2026-12-01T12:00:00Z"
        );
        assert_eq!(format_human_time(1_796_126_400), "2026-12-01 12:00 UTC");
    }

    #[test]
    fn addresses() {
        let good = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed";
        assert!(parse_address(good).is_ok());
        assert!(parse_address(&good.to_lowercase()).is_ok());
        let bad = "0x5aaeb6053F3E94C9b9A09f33669435E7Ef1BeAed";
        assert_eq!(parse_address(bad), Err(Some(good.to_owned())));
        assert_eq!(parse_address("0x1234"), Err(None));
    }
}
