//! Fixtures shared by the integration tests: one sender, one original message, fixed times.

#![allow(dead_code)]

use bounce::{
    BounceRequest, Diagnosis, LocalProblem, ProblemKind, RecipientReport, RemoteReply, Rendered, SmtpStage,
    render,
};
use smtp_wire::{
    Address, ClientInfo, EnhancedCode, Envelope, Notify, OriginalRecipient, Recipient, Reply, Ret,
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
    let client = ClientInfo::new([192, 0, 2, 10].into(), "client.example.org");
    Envelope::new(ReversePath::Mailbox(address("alice", "example.org")), recipients, client)
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

/// The reply `text` (`550 5.1.1 ...`) of `mta` at `stage`, built as the SMTP client builds
/// it from the wire.
pub fn reply(mta: &str, stage: SmtpStage, text: &str) -> RemoteReply {
    RemoteReply::new(mta, stage, &parse_reply(text))
}

/// `550 5.1.1 text` as a [`Reply`].
pub fn parse_reply(text: &str) -> Reply {
    let wire = format!("{text}\r\n");
    let (reply, _) = smtp_wire::client::parse_reply(wire.as_bytes()).expect("reply").expect("complete");
    reply
}

pub fn failed_by(index: usize, mta: &str, stage: SmtpStage, text: &str) -> RecipientReport {
    let reply = reply(mta, stage, text);
    RecipientReport::failed(index, reply.status, Diagnosis::Reply(reply), NOW)
}

pub fn failed_locally(
    index: usize,
    status: (u8, u16, u16),
    kind: ProblemKind,
    detail: &str,
) -> RecipientReport {
    let status = EnhancedCode::new(status.0, status.1, status.2);
    RecipientReport::failed(index, status, Diagnosis::Local(LocalProblem::new(kind, detail)), NOW)
}

pub fn request<'a>(
    envelope: &'a Envelope,
    original: &'a [u8],
    recipients: &'a [RecipientReport],
) -> BounceRequest<'a> {
    BounceRequest {
        reporting_mta: REPORTING_MTA,
        admin_base_url: Some(ADMIN),
        envelope,
        original,
        queue_id: "00000000000000a1",
        arrival_unix_s: NOW - 2 * HOUR,
        now_unix_s: NOW,
        recipients,
        tenant_default_language: "en",
        message_id_seed: "0000000000000001.1",
        full_original_bytes_max: 1 << 20,
    }
}

/// The rendered message; panics when none is due.
pub fn message(req: &BounceRequest<'_>) -> Vec<u8> {
    match render(req).expect("renders") {
        Rendered::Message(bytes) => bytes,
        Rendered::NotDue(why) => panic!("no notification: {why}"),
    }
}
