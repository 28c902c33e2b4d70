//! `smtp_wire::Envelope` in the spool's record format. Every enum is a tag byte; new tags
//! or fields need a new segment format version, and the decoder keeps reading the old ones.
//!
//! Format 2 appended the client's attribution (tag 0 none, 1 then tenant, connector,
//! outbound_relay); format 1 envelopes decode with `attribution: None`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use smtp_wire::{
    Address, Attribution, BodyType, ClientInfo, Envelope, Notify, OriginalRecipient, Recipient, Ret,
    ReversePath,
};

use super::codec::{DecodeError, Decoder, Encoder};

/// Smallest encoded recipient: two empty strings and two absent options.
const RECIPIENT_BYTES_MIN: usize = 10;

pub(crate) fn encode(enc: &mut Encoder, env: &Envelope) {
    match &env.sender {
        ReversePath::Null => enc.u8(0),
        ReversePath::Mailbox(a) => {
            enc.u8(1);
            encode_address(enc, a);
        }
    }
    enc.u32(u32::try_from(env.recipients.len()).unwrap_or(u32::MAX));
    for r in &env.recipients {
        encode_recipient(enc, r);
    }
    enc.u8(match env.body {
        BodyType::SevenBit => 0,
        BodyType::EightBitMime => 1,
    });
    enc.bool(env.smtputf8);
    enc.u8(match env.ret {
        None => 0,
        Some(Ret::Full) => 1,
        Some(Ret::Headers) => 2,
    });
    enc.opt_str(env.envid.as_deref());
    match env.declared_size {
        None => enc.u8(0),
        Some(n) => {
            enc.u8(1);
            enc.u64(n);
        }
    }
    encode_client(enc, &env.client);
}

/// Decodes an envelope written in segment format `version`.
pub(crate) fn decode(dec: &mut Decoder<'_>, version: u32) -> Result<Envelope, DecodeError> {
    let sender = match dec.u8()? {
        0 => ReversePath::Null,
        1 => ReversePath::Mailbox(decode_address(dec)?),
        tag => return Err(DecodeError::Tag { field: "sender", tag }),
    };
    let count = dec.count(RECIPIENT_BYTES_MIN)?;
    let mut recipients = Vec::with_capacity(count);
    for _ in 0..count {
        recipients.push(decode_recipient(dec)?);
    }
    let body = match dec.u8()? {
        0 => BodyType::SevenBit,
        1 => BodyType::EightBitMime,
        tag => return Err(DecodeError::Tag { field: "body", tag }),
    };
    let smtputf8 = dec.bool("smtputf8")?;
    let ret = match dec.u8()? {
        0 => None,
        1 => Some(Ret::Full),
        2 => Some(Ret::Headers),
        tag => return Err(DecodeError::Tag { field: "ret", tag }),
    };
    let envid = dec.opt_str()?;
    let declared_size = match dec.bool("declared_size")? {
        false => None,
        true => Some(dec.u64()?),
    };
    let client = decode_client(dec, version)?;
    Ok(Envelope { sender, recipients, body, smtputf8, ret, envid, declared_size, client })
}

fn encode_address(enc: &mut Encoder, a: &Address) {
    enc.str(&a.local_part);
    enc.str(&a.domain);
}

fn decode_address(dec: &mut Decoder<'_>) -> Result<Address, DecodeError> {
    Ok(Address { local_part: dec.str()?, domain: dec.str()? })
}

fn encode_recipient(enc: &mut Encoder, r: &Recipient) {
    encode_address(enc, &r.address);
    match r.notify {
        None => enc.u8(0),
        Some(Notify::Never) => enc.u8(1),
        Some(Notify::On { success, failure, delay }) => {
            enc.u8(2);
            enc.u8(u8::from(success) | u8::from(failure) << 1 | u8::from(delay) << 2);
        }
    }
    match &r.orcpt {
        None => enc.u8(0),
        Some(o) => {
            enc.u8(1);
            enc.str(&o.addr_type);
            enc.str(&o.address);
        }
    }
}

fn decode_recipient(dec: &mut Decoder<'_>) -> Result<Recipient, DecodeError> {
    let address = decode_address(dec)?;
    let notify = match dec.u8()? {
        0 => None,
        1 => Some(Notify::Never),
        2 => Some(decode_notify_flags(dec.u8()?)?),
        tag => return Err(DecodeError::Tag { field: "notify", tag }),
    };
    let orcpt = match dec.bool("orcpt")? {
        false => None,
        true => Some(OriginalRecipient { addr_type: dec.str()?, address: dec.str()? }),
    };
    Ok(Recipient { address, notify, orcpt })
}

fn decode_notify_flags(flags: u8) -> Result<Notify, DecodeError> {
    if flags > 0b111 {
        return Err(DecodeError::Tag { field: "notify flags", tag: flags });
    }
    Ok(Notify::On { success: flags & 1 != 0, failure: flags & 2 != 0, delay: flags & 4 != 0 })
}

fn encode_client(enc: &mut Encoder, c: &ClientInfo) {
    match c.ip {
        IpAddr::V4(ip) => {
            enc.u8(4);
            enc.bytes(&ip.octets());
        }
        IpAddr::V6(ip) => {
            enc.u8(6);
            enc.bytes(&ip.octets());
        }
    }
    enc.str(&c.helo);
    enc.bool(c.esmtp);
    enc.opt_str(c.tls.as_deref());
    match &c.attribution {
        None => enc.u8(0),
        Some(a) => {
            enc.u8(1);
            enc.str(&a.tenant);
            enc.str(&a.connector);
            enc.bool(a.outbound_relay);
        }
    }
}

fn decode_client(dec: &mut Decoder<'_>, version: u32) -> Result<ClientInfo, DecodeError> {
    let ip = match dec.u8()? {
        4 => {
            let b: [u8; 4] = dec.take(4)?.try_into().map_err(|_| DecodeError::Truncated)?;
            IpAddr::V4(Ipv4Addr::from(b))
        }
        6 => {
            let b: [u8; 16] = dec.take(16)?.try_into().map_err(|_| DecodeError::Truncated)?;
            IpAddr::V6(Ipv6Addr::from(b))
        }
        tag => return Err(DecodeError::Tag { field: "ip", tag }),
    };
    let (helo, esmtp, tls) = (dec.str()?, dec.bool("esmtp")?, dec.opt_str()?);
    let attribution = match version {
        1 => None,
        _ => decode_attribution(dec)?,
    };
    Ok(ClientInfo { ip, helo, esmtp, tls, attribution })
}

fn decode_attribution(dec: &mut Decoder<'_>) -> Result<Option<Attribution>, DecodeError> {
    match dec.bool("attribution")? {
        false => Ok(None),
        true => Ok(Some(Attribution {
            tenant: dec.str()?,
            connector: dec.str()?,
            outbound_relay: dec.bool("outbound_relay")?,
        })),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::segment::FORMAT_VERSION;

    fn addr(local: &str, domain: &str) -> Address {
        Address { local_part: local.into(), domain: domain.into() }
    }

    fn round_trip(env: &Envelope) -> Envelope {
        let mut enc = Encoder::with_capacity(0);
        encode(&mut enc, env);
        let bytes = enc.finish();
        let mut dec = Decoder::new(&bytes);
        let out = decode(&mut dec, FORMAT_VERSION).unwrap();
        dec.expect_end().unwrap();
        // Every prefix must fail cleanly, never panic or succeed.
        for end in 0..bytes.len() {
            assert!(decode(&mut Decoder::new(&bytes[..end]), FORMAT_VERSION).is_err());
        }
        out
    }

    pub(crate) fn minimal_envelope() -> Envelope {
        let client = ClientInfo {
            esmtp: false,
            ..ClientInfo::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)), "mx.example.net")
        };
        Envelope::new(ReversePath::Null, vec![Recipient::new(addr("postmaster", "example.org"))], client)
    }

    pub(crate) fn full_envelope() -> Envelope {
        let notify = |success, failure, delay| Some(Notify::On { success, failure, delay });
        let rcpt = |local: &str, domain: &str, notify, orcpt: Option<(&str, &str)>| Recipient {
            address: addr(local, domain),
            notify,
            orcpt: orcpt.map(|(t, a)| OriginalRecipient { addr_type: t.into(), address: a.into() }),
        };
        Envelope {
            sender: ReversePath::Mailbox(addr("\"j d\"", "Example.COM")),
            recipients: vec![
                rcpt("ünïcode", "bücher.example", notify(true, false, true), None),
                rcpt("a", "[IPv6:2001:db8::1]", Some(Notify::Never), None),
                rcpt("b", "example.org", notify(false, true, false), Some(("rfc822", "b@x.y"))),
                rcpt("c", "example.org", notify(true, true, true), Some(("utf-8", "ç@x.y"))),
                rcpt("d", "example.org", notify(false, false, false), None),
            ],
            body: BodyType::EightBitMime,
            smtputf8: true,
            ret: Some(Ret::Headers),
            envid: Some("QQ314159+2Bx".into()),
            declared_size: Some(35_000_000),
            client: ClientInfo {
                ip: "2001:db8::25".parse().unwrap(),
                helo: "mail.example.com".into(),
                esmtp: true,
                tls: Some("TLSv1.3 TLS13_AES_256_GCM_SHA384".into()),
                attribution: Some(Attribution {
                    tenant: "tenant-ü".into(),
                    connector: "on-prem".into(),
                    outbound_relay: true,
                }),
            },
        }
    }

    #[test]
    fn minimal_envelope_round_trips() {
        let env = minimal_envelope();
        assert_eq!(round_trip(&env), env);
    }

    #[test]
    fn full_envelope_round_trips() {
        let env = full_envelope();
        assert_eq!(round_trip(&env), env);
    }

    #[test]
    fn each_variant_round_trips() {
        let mut env = full_envelope();
        env.ret = Some(Ret::Full);
        env.body = BodyType::SevenBit;
        env.declared_size = Some(0);
        env.envid = Some(String::new());
        env.client.ip = IpAddr::V4(Ipv4Addr::new(203, 0, 113, 7));
        env.client.tls = None;
        env.recipients.clear();
        assert_eq!(round_trip(&env), env);
        env.client.attribution =
            Some(Attribution { tenant: String::new(), connector: "partner".into(), outbound_relay: false });
        assert_eq!(round_trip(&env), env);
        env.client.ip = IpAddr::V6(Ipv6Addr::LOCALHOST);
        env.sender = ReversePath::Mailbox(addr("δοκιμή", "παράδειγμα.δοκιμή"));
        assert_eq!(round_trip(&env), env);
    }

    #[test]
    fn bad_tags_are_errors() {
        let mut enc = Encoder::with_capacity(0);
        encode(&mut enc, &minimal_envelope());
        let bytes = enc.finish();
        let mut bad = bytes.clone();
        bad[0] = 9;
        let decoded = decode(&mut Decoder::new(&bad), FORMAT_VERSION);
        assert_eq!(decoded, Err(DecodeError::Tag { field: "sender", tag: 9 }));
        let mut env = minimal_envelope();
        env.client.attribution =
            Some(Attribution { tenant: "t".into(), connector: "c".into(), outbound_relay: true });
        for (at, field) in [(1, "outbound_relay"), (12, "attribution")] {
            let mut bad = encode_to_vec(&env);
            let i = bad.len() - at;
            bad[i] = 2;
            assert_eq!(
                decode(&mut Decoder::new(&bad), FORMAT_VERSION),
                Err(DecodeError::Tag { field, tag: 2 })
            );
        }
    }

    fn encode_to_vec(env: &Envelope) -> Vec<u8> {
        let mut enc = Encoder::with_capacity(0);
        encode(&mut enc, env);
        enc.finish()
    }

    /// Format 1 is format 2 without the attribution tag at the end; the previous release's
    /// own bytes are checked against the fixture in `tests/upgrade.rs`.
    #[test]
    fn format_1_envelopes_decode_without_attribution() {
        for mut env in [minimal_envelope(), full_envelope()] {
            env.client.attribution = None;
            let v2 = encode_to_vec(&env);
            assert_eq!(v2.last(), Some(&0));
            let v1 = &v2[..v2.len() - 1];
            let mut dec = Decoder::new(v1);
            assert_eq!(decode(&mut dec, 1).as_ref(), Ok(&env));
            dec.expect_end().unwrap();
            // Read with the wrong version, each fails instead of misreading.
            assert_eq!(decode(&mut Decoder::new(v1), 2), Err(DecodeError::Truncated));
            let mut dec = Decoder::new(&v2);
            decode(&mut dec, 1).unwrap();
            assert_eq!(dec.expect_end(), Err(DecodeError::Trailing(1)));
        }
    }
}
