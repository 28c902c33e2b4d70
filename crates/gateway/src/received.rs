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
    smtp_wire::date::rfc5322(u64::try_from(unix_s).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(rfc5322_date(0), "Thu, 01 Jan 1970 00:00:00 +0000");
        assert_eq!(rfc5322_date(1_795_430_040), "Mon, 23 Nov 2026 10:34:00 +0000");
        assert_eq!(rfc5322_date(951_782_400), "Tue, 29 Feb 2000 00:00:00 +0000");
    }
}
