//! The `Received:` trace header (RFC 5321 4.4, RFC 3848 protocol names) and RFC 5322 dates.

use smtp_wire::Envelope;

/// The header to prepend to a message accepted from `envelope.client`.
pub fn received_header(envelope: &Envelope, hostname: &str, now_unix_s: u64) -> String {
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
    header.push_str(&format!(";\r\n\t{}\r\n", smtp_wire::date::rfc5322(now_unix_s)));
    header
}

#[cfg(test)]
mod tests {
    use super::*;
    use smtp_wire::{Address, ClientInfo, Recipient, ReversePath};

    #[test]
    fn trace_header_names_client_protocol_tls_and_single_recipient() {
        let client = ClientInfo {
            tls: Some("TLSv1.3 with cipher TLS13_AES_128_GCM_SHA256".into()),
            ..ClientInfo::new("192.0.2.1".parse().unwrap(), "client(evil)")
        };
        let recipients = vec![Recipient::new(Address::new("bob", "example.test"))];
        let envelope = Envelope::new(ReversePath::Null, recipients, client);
        assert_eq!(
            received_header(&envelope, "mx.test", 1_795_430_040),
            "Received: from clientevil ([192.0.2.1])\r\n\tby mx.test (Sluice) with ESMTPS\r\n\t\
             (using TLSv1.3 with cipher TLS13_AES_128_GCM_SHA256)\r\n\tfor <bob@example.test>;\r\n\t\
             Mon, 23 Nov 2026 10:34:00 +0000\r\n"
        );
    }
}
