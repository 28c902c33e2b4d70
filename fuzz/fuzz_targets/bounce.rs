//! The bounce crate reads the original message (its headers: language, subject, date,
//! Message-ID, whether it is itself a report) and the remote server's reply: any bytes
//! render without a panic, and whatever is rendered keeps SMTP's line rules.
#![no_main]

use bounce::{BounceRequest, Diagnosis, RecipientReport, RemoteReply, Rendered, SmtpStage};
use libfuzzer_sys::fuzz_target;
use smtp_wire::{Address, BodyType, ClientInfo, Envelope, Recipient, Reply, ReversePath};

fuzz_target!(|input: &[u8]| {
    // The first line is the remote reply's text, the rest the original message.
    let split = input.iter().position(|b| *b == b'\n').unwrap_or(input.len());
    let reply_text = String::from_utf8_lossy(&input[..split]).into_owned();
    let original = input.get(split + 1..).unwrap_or_default();
    let address = |local: &str| Address { local_part: local.into(), domain: "example.com".into() };
    let envelope = Envelope {
        sender: ReversePath::Mailbox(address("alice")),
        recipients: vec![Recipient { address: address("bob"), notify: None, orcpt: None }],
        body: BodyType::EightBitMime,
        smtputf8: false,
        ret: Some(smtp_wire::Ret::Full),
        envid: None,
        declared_size: None,
        client: ClientInfo {
            ip: [192, 0, 2, 1].into(),
            helo: reply_text.clone(),
            esmtp: true,
            tls: None,
            attribution: None,
        },
    };
    let reply = RemoteReply::new("mx.example.com", SmtpStage::RcptTo, &Reply::plain(550, vec![reply_text]));
    let reports = [RecipientReport::failed(0, reply.status, Diagnosis::Reply(reply), 1_800_000_000)];
    let request = BounceRequest {
        reporting_mta: "mx.sluice.example",
        admin_base_url: Some("https://admin.sluice.example"),
        envelope: &envelope,
        original,
        queue_id: "0000000000000001",
        arrival_unix_s: 1_800_000_000,
        now_unix_s: 1_800_000_000,
        recipients: &reports,
        tenant_default_language: "fr",
        message_id_seed: "seed",
        full_original_bytes_max: 1 << 16,
    };
    if let Ok(Rendered::Message(bytes)) = bounce::render(&request) {
        for line in bytes.split(|b| *b == b'\n') {
            assert!(line.len() <= 999, "a line over SMTP's limit");
        }
    }
});
