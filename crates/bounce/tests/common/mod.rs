//! Fixtures shared by the integration tests: one sender, one original message, fixed times.

#![allow(dead_code)]

use bounce::{Action, BounceRequest, RecipientOutcome};
use smtp_wire::{
    Address, BodyType, ClientInfo, EnhancedCode, Envelope, Notify, OriginalRecipient, Recipient, Ret,
    ReversePath,
};

/// 2026-11-23 12:03:21 UTC.
pub const NOW: u64 = 1_795_435_401;
pub const HOUR: u64 = 3600;
pub const REPORTING_MTA: &str = "mx1.sluice.example";
pub const ADMIN: &str = "https://admin.sluice.example";

pub fn address(local_part: &str, domain: &str) -> Address {
    Address { local_part: local_part.into(), domain: domain.into() }
}

pub fn recipient(local_part: &str, notify: Option<Notify>) -> Recipient {
    Recipient { address: address(local_part, "example.com"), notify, orcpt: None }
}

pub fn envelope(recipients: Vec<Recipient>) -> Envelope {
    Envelope {
        sender: ReversePath::Mailbox(address("alice", "example.org")),
        recipients,
        body: BodyType::SevenBit,
        smtputf8: false,
        ret: None,
        envid: None,
        declared_size: None,
        client: ClientInfo {
            ip: [192, 0, 2, 10].into(),
            helo: "client.example.org".into(),
            esmtp: true,
            tls: None,
            attribution: None,
        },
    }
}

pub fn with_orcpt(mut r: Recipient) -> Recipient {
    r.orcpt =
        Some(OriginalRecipient { addr_type: "rfc822".into(), address: "Bob.Original@example.com".into() });
    r
}

pub fn with_ret_envid(mut e: Envelope, ret: Ret, envid: &str) -> Envelope {
    e.ret = Some(ret);
    e.envid = Some(envid.into());
    e
}

/// The spooled original in language `lang` (`en` or `fr`), with `extra` header lines.
pub fn original(lang: &str, extra: &str) -> Vec<u8> {
    let (subject, body) = match lang {
        "fr" => ("Rapport trimestriel été", "Bonjour Bob,\r\n\r\nvoici le rapport.\r\n"),
        _ => ("Quarterly report", "Hello Bob,\r\n\r\nhere is the report.\r\n"),
    };
    format!(
        "Received: from client.example.org (client.example.org [192.0.2.10])\r\n\
         \tby mx1.sluice.example with ESMTP id 0000000000000001; Mon, 23 Nov 2026 10:03:21 +0000\r\n\
         From: Alice <alice@example.org>\r\n\
         To: Bob <bob@example.com>\r\n\
         Subject: {subject}\r\n\
         Date: Mon, 23 Nov 2026 10:03:20 +0000\r\n\
         Message-ID: <q3-report@example.org>\r\n\
         Content-Language: {lang}\r\n\
         {extra}\
         MIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\
         Content-Transfer-Encoding: 8bit\r\n\
         \r\n\
         {body}"
    )
    .into_bytes()
}

pub fn outcome(index: usize, action: Action, status: (u8, u16, u16)) -> RecipientOutcome {
    RecipientOutcome {
        index,
        action,
        status: EnhancedCode::new(status.0, status.1, status.2),
        diagnostic: None,
        remote_mta: None,
        last_attempt_unix_s: NOW,
        will_retry_until_unix_s: None,
    }
}

pub fn remote(mut o: RecipientOutcome, mta: &str, reply: &str) -> RecipientOutcome {
    o.remote_mta = Some(mta.into());
    o.diagnostic = Some(reply.into());
    o
}

pub fn request<'a>(
    envelope: &'a Envelope,
    original: &'a [u8],
    recipients: &'a [RecipientOutcome],
) -> BounceRequest<'a> {
    BounceRequest {
        reporting_mta: REPORTING_MTA,
        admin_base_url: ADMIN,
        envelope,
        original,
        arrival_unix_s: NOW - 2 * HOUR,
        now_unix_s: NOW,
        recipients,
        tenant_default_language: "en",
        message_id_seed: "0000000000000001.1",
        full_original_bytes_max: 1 << 20,
    }
}
