//! Time stamps as traces and logs write them, turned into milliseconds: decimal seconds
//! (`39.066`, `1714557600`), RFC 3339 (`2024-05-01T10:00:00.25+02:00`) and the classic
//! syslog form without a year (`May  1 10:00:00`).

/// Days from 1970-01-01 to the given civil date (proleptic Gregorian; H. Hinnant's algorithm).
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Non-negative decimal seconds (`12`, `39.066`) as milliseconds; fractions beyond the
/// millisecond are truncated. None for anything else (signs, exponents, `inf`).
pub fn parse_seconds(text: &str) -> Option<u64> {
    let (whole, frac) = match text.split_once('.') {
        Some((w, f)) => (w, f),
        None => (text, ""),
    };
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || !digits(whole) || !digits(frac) || (text.contains('.') && frac.is_empty()) {
        return None;
    }
    let secs: u64 = whole.parse().ok()?;
    let mut ms = 0u64;
    for (i, b) in frac.bytes().take(3).enumerate() {
        ms += u64::from(b - b'0') * [100, 10, 1][i];
    }
    secs.checked_mul(1000)?.checked_add(ms)
}

fn number(text: &str, from: usize, len: usize) -> Option<u32> {
    let part = text.get(from..from + len)?;
    if !part.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    part.parse().ok()
}

/// Milliseconds since the Unix epoch of an RFC 3339 timestamp
/// (`YYYY-MM-DDThh:mm:ss[.frac](Z|+hh:mm|-hh:mm)`, `T` or a space). None when malformed or
/// before 1970.
pub fn parse_rfc3339(text: &str) -> Option<u64> {
    let b = text.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    if !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let year = i64::from(number(text, 0, 4)?);
    let (month, day) = (number(text, 5, 2)?, number(text, 8, 2)?);
    let (hour, minute, second) = (number(text, 11, 2)?, number(text, 14, 2)?, number(text, 17, 2)?);
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let mut rest = &text[19..];
    let mut ms = 0i64;
    if let Some(frac) = rest.strip_prefix('.') {
        let end = frac.bytes().position(|c| !c.is_ascii_digit()).unwrap_or(frac.len());
        if end == 0 {
            return None;
        }
        ms = parse_seconds(&format!("0.{}", &frac[..end]))? as i64;
        rest = &frac[end..];
    }
    let offset_s = parse_offset(rest)?;
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + i64::from(hour * 3600 + minute * 60 + second) - offset_s;
    u64::try_from(secs * 1000 + ms).ok()
}

/// `Z`, `+hh:mm` or `-hh:mm` as seconds east of UTC.
fn parse_offset(text: &str) -> Option<i64> {
    if text.eq_ignore_ascii_case("z") {
        return Some(0);
    }
    let b = text.as_bytes();
    if b.len() != 6 || b[3] != b':' {
        return None;
    }
    let sign = match b[0] {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let (h, m) = (number(text, 1, 2)?, number(text, 4, 2)?);
    if h > 23 || m > 59 {
        return None;
    }
    Some(sign * i64::from(h * 3600 + m * 60))
}

const MONTHS: [&str; 12] =
    ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/// A classic syslog time stamp (`May  1 10:00:00`, 15 characters), read as UTC in `year`:
/// (milliseconds since the Unix epoch, month 1-12). None when malformed.
pub fn parse_syslog(text: &str, year: i64) -> Option<(u64, u32)> {
    let b = text.as_bytes();
    if b.len() < 15 || b[3] != b' ' || b[6] != b' ' || b[9] != b':' || b[12] != b':' {
        return None;
    }
    let month = MONTHS.iter().position(|m| text.get(0..3) == Some(*m))? as u32 + 1;
    let day_text = text.get(4..6)?.trim_start();
    let day: u32 = day_text.parse().ok().filter(|_| day_text.bytes().all(|c| c.is_ascii_digit()))?;
    let (hour, minute, second) = (number(text, 7, 2)?, number(text, 10, 2)?, number(text, 13, 2)?);
    if day == 0 || day > days_in_month(year, month) || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let secs = days_from_civil(year, month, day) * 86_400 + i64::from(hour * 3600 + minute * 60 + second);
    Some((u64::try_from(secs).ok()?.checked_mul(1000)?, month))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_seconds() {
        assert_eq!(parse_seconds("39.066"), Some(39_066));
        assert_eq!(parse_seconds("39.0669"), Some(39_066));
        assert_eq!(parse_seconds("7"), Some(7_000));
        assert_eq!(parse_seconds("1714557600.5"), Some(1_714_557_600_500));
        for bad in ["", ".5", "5.", "-1", "+1", "1e3", "inf", "NaN", "1.2.3", " 1", "99999999999999999999"] {
            assert_eq!(parse_seconds(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn rfc3339() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_rfc3339("2024-05-01T10:00:00Z"), Some(1_714_557_600_000));
        assert_eq!(parse_rfc3339("2024-05-01 12:00:00.25+02:00"), Some(1_714_557_600_250));
        assert_eq!(parse_rfc3339("2024-05-01t05:30:00.123456-04:30"), Some(1_714_557_600_123));
        assert_eq!(parse_rfc3339("2024-02-29T00:00:00z"), Some(1_709_164_800_000));
        for bad in [
            "2023-02-29T00:00:00Z",
            "2024-05-01T10:00:00",
            "2024-05-01T24:00:00Z",
            "2024-13-01T10:00:00Z",
            "2024-05-01T10:00:00.Z",
            "2024-05-01T10:00:00+0200",
            "1969-12-31T23:59:59Z",
            "2024-05-01X10:00:00Z",
            "２０２４-05-01T10:00:00Z",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn syslog() {
        assert_eq!(parse_syslog("May  1 10:00:00", 2024), Some((1_714_557_600_000, 5)));
        assert_eq!(parse_syslog("Dec 31 23:59:59", 2023).map(|t| t.1), Some(12));
        assert_eq!(parse_syslog("Feb 29 00:00:00", 2023), None);
        assert_eq!(parse_syslog("Foo  1 10:00:00", 2024), None);
        assert_eq!(parse_syslog("May  x 10:00:00", 2024), None);
    }
}
