//! The `Received:` trace header (RFC 5321 4.4, RFC 3848 protocol names) and RFC 5322 dates.

use smtp_wire::Envelope;

/// The header to prepend to a message accepted from `envelope.client`.
pub fn received_header(envelope: &Envelope, hostname: &str, now_unix_s: i64) -> String {
    let client = &envelope.client;
    let protocol = match (envelope.smtputf8, client.esmtp, client.tls.is_some()) {
        (true, _, true) => "UTF8SMTPS",
        (true, _, false) => "UTF8SMTP",
        (false, true, true) => "ESMTPS",
        (false, true, false) => "ESMTP",
        (false, false, _) => "SMTP",
    };
    let helo: String = client.helo.chars().filter(|c| !c.is_control() && *c != '(' && *c != ')').collect();
    let mut header =
        format!("Received: from {helo} ([{}])\r\n\tby {hostname} (Sluice) with {protocol}", client.ip);
    if let Some(tls) = &client.tls {
        header.push_str(&format!("\r\n\t(using {tls})"));
    }
    if let [only] = envelope.recipients.as_slice() {
        header.push_str(&format!("\r\n\tfor <{}>", only.address));
    }
    header.push_str(&format!(";\r\n\t{}\r\n", rfc5322_date(now_unix_s)));
    header
}

/// `Mon, 23 Nov 2026 10:34:00 +0000`.
pub fn rfc5322_date(unix_s: i64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] =
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let days = unix_s.div_euclid(86_400);
    let secs = unix_s.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{}, {day} {} {year} {:02}:{:02}:{:02} +0000",
        DAYS[days.rem_euclid(7) as usize],
        MONTHS[(month - 1) as usize],
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// Days since 1970-01-01 to (year, month 1-12, day 1-31), after Howard Hinnant's algorithm.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(rfc5322_date(0), "Thu, 1 Jan 1970 00:00:00 +0000");
        assert_eq!(rfc5322_date(1_795_430_040), "Mon, 23 Nov 2026 10:34:00 +0000");
        assert_eq!(rfc5322_date(951_782_400), "Tue, 29 Feb 2000 00:00:00 +0000");
    }
}
