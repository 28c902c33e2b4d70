//! The client side of SMTP, sans IO: parsing server replies, reading EHLO capabilities and
//! writing the commands and content of one transaction. The gateway's outbound delivery
//! drives it over a socket.

use crate::command::encode_xtext;
use crate::envelope::{BodyType, Envelope, Notify, Recipient, Ret, ReversePath};
use crate::reply::{EnhancedCode, Reply};

/// Longest reply line accepted from a server (RFC 5321 4.5.3.1.5 says 512; be generous).
pub const REPLY_LINE_BYTES_MAX: usize = 4096;
/// Most lines in one multi-line reply.
pub const REPLY_LINES_MAX: usize = 256;

/// A server that does not speak SMTP.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed SMTP reply: {0}")]
pub struct ReplyError(pub String);

/// Parses one complete reply from the start of `input`: `Ok(None)` when more bytes are
/// needed, else the reply and the bytes it used. Enhanced codes are recognised when the
/// text starts with one.
pub fn parse_reply(input: &[u8]) -> Result<Option<(Reply, usize)>, ReplyError> {
    let mut pos = 0;
    let mut lines = Vec::new();
    let mut code = None;
    loop {
        let Some(end) = input[pos..].iter().position(|&b| b == b'\n') else {
            if input.len() - pos > REPLY_LINE_BYTES_MAX {
                return Err(ReplyError("reply line too long".into()));
            }
            return Ok(None);
        };
        let raw = &input[pos..pos + end];
        pos += end + 1;
        let line = String::from_utf8_lossy(raw.strip_suffix(b"\r").unwrap_or(raw)).into_owned();
        let this_code = line.get(..3).and_then(|c| c.parse::<u16>().ok()).filter(|c| (200..600).contains(c));
        let (Some(this_code), sep) = (this_code, line.as_bytes().get(3).copied()) else {
            return Err(ReplyError(format!("{line:?}")));
        };
        if code.is_some_and(|c| c != this_code) || lines.len() >= REPLY_LINES_MAX {
            return Err(ReplyError(format!("inconsistent multi-line reply at {line:?}")));
        }
        code = Some(this_code);
        lines.push(line.get(4..).unwrap_or("").to_string());
        match sep {
            Some(b'-') => continue,
            None | Some(b' ') => return Ok(Some((with_enhanced(this_code, lines), pos))),
            Some(_) => return Err(ReplyError(format!("{line:?}"))),
        }
    }
}

fn with_enhanced(code: u16, mut lines: Vec<String>) -> Reply {
    let enhanced = lines.first().and_then(|l| l.split(' ').next()).and_then(parse_enhanced);
    let class_ok = enhanced.is_some_and(|e| u16::from(e.class) == code / 100);
    if !class_ok {
        return Reply { code, enhanced: None, lines };
    }
    for line in &mut lines {
        if let Some((first, rest)) = line.split_once(' ')
            && parse_enhanced(first).is_some()
        {
            *line = rest.to_string();
        } else if parse_enhanced(line).is_some() {
            line.clear();
        }
    }
    Reply { code, enhanced, lines }
}

fn parse_enhanced(text: &str) -> Option<EnhancedCode> {
    let mut parts = text.split('.');
    let class: u8 = parts.next()?.parse().ok()?;
    let subject: u16 = parts.next()?.parse().ok()?;
    let detail: u16 = parts.next()?.parse().ok()?;
    (parts.next().is_none() && matches!(class, 2 | 4 | 5))
        .then_some(EnhancedCode::new(class, subject, detail))
}

/// What a server offered in its EHLO reply.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Capabilities {
    pub pipelining: bool,
    pub starttls: bool,
    pub eight_bit_mime: bool,
    pub smtputf8: bool,
    pub dsn: bool,
    pub size: Option<u64>,
}

impl Capabilities {
    pub fn from_ehlo(reply: &Reply) -> Capabilities {
        let mut caps = Capabilities::default();
        for line in reply.lines.iter().skip(1) {
            let mut words = line.split_whitespace();
            let keyword = words.next().unwrap_or("").to_ascii_uppercase();
            match keyword.as_str() {
                "PIPELINING" => caps.pipelining = true,
                "STARTTLS" => caps.starttls = true,
                "8BITMIME" => caps.eight_bit_mime = true,
                "SMTPUTF8" => caps.smtputf8 = true,
                "DSN" => caps.dsn = true,
                "SIZE" => caps.size = words.next().and_then(|n| n.parse().ok()).filter(|n| *n > 0),
                _ => {}
            }
        }
        caps
    }
}

/// `MAIL FROM:<...>` with the parameters the server supports (RFC 1652, 1870, 3461, 6531).
pub fn mail_command(envelope: &Envelope, size: usize, caps: &Capabilities) -> String {
    let mut cmd = match &envelope.sender {
        ReversePath::Null => "MAIL FROM:<>".to_string(),
        ReversePath::Mailbox(a) => format!("MAIL FROM:<{a}>"),
    };
    if caps.size.is_some() {
        cmd.push_str(&format!(" SIZE={size}"));
    }
    if caps.eight_bit_mime && envelope.body == BodyType::EightBitMime {
        cmd.push_str(" BODY=8BITMIME");
    }
    if caps.smtputf8 && envelope.smtputf8 {
        cmd.push_str(" SMTPUTF8");
    }
    if caps.dsn {
        match envelope.ret {
            Some(Ret::Full) => cmd.push_str(" RET=FULL"),
            Some(Ret::Headers) => cmd.push_str(" RET=HDRS"),
            None => {}
        }
        if let Some(envid) = &envelope.envid {
            cmd.push_str(&format!(" ENVID={}", encode_xtext(envid)));
        }
    }
    cmd.push_str("\r\n");
    cmd
}

/// `RCPT TO:<...>` with DSN parameters when the server supports them.
pub fn rcpt_command(recipient: &Recipient, caps: &Capabilities) -> String {
    let mut cmd = format!("RCPT TO:<{}>", recipient.address);
    if caps.dsn {
        match recipient.notify {
            Some(Notify::Never) => cmd.push_str(" NOTIFY=NEVER"),
            Some(Notify::On { success, failure, delay }) => {
                let words: Vec<&str> = [(success, "SUCCESS"), (failure, "FAILURE"), (delay, "DELAY")]
                    .into_iter()
                    .filter_map(|(on, w)| on.then_some(w))
                    .collect();
                if !words.is_empty() {
                    cmd.push_str(&format!(" NOTIFY={}", words.join(",")));
                }
            }
            None => {}
        }
        if let Some(orcpt) = &recipient.orcpt {
            cmd.push_str(&format!(" ORCPT={};{}", orcpt.addr_type, encode_xtext(&orcpt.address)));
        }
    }
    cmd.push_str("\r\n");
    cmd
}

/// The content as sent after `354`: dot-stuffed (RFC 5321 4.5.2), ending in `CRLF.CRLF`.
pub fn dot_stuffed(content: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(content.len() + content.len() / 64 + 5);
    let mut at_line_start = true;
    for &b in content {
        if at_line_start && b == b'.' {
            out.push(b'.');
        }
        out.push(b);
        at_line_start = b == b'\n';
    }
    if !content.is_empty() && !content.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b".\r\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multi_line_reply_with_enhanced_codes() {
        let input = b"250-mx.test Hello\r\n250-PIPELINING\r\n250 SIZE 1000\r\nrest";
        let (reply, used) = parse_reply(input).unwrap().unwrap();
        assert_eq!(used, input.len() - 4);
        assert_eq!(reply.code, 250);
        let caps = Capabilities::from_ehlo(&reply);
        assert!(caps.pipelining && !caps.starttls);
        assert_eq!(caps.size, Some(1000));
        let (reply, _) = parse_reply(b"451 4.7.501 Deferred: slow down\r\n").unwrap().unwrap();
        assert_eq!(reply.enhanced, Some(EnhancedCode::new(4, 7, 501)));
        assert_eq!(reply.lines, ["Deferred: slow down"]);
    }

    #[test]
    fn partial_and_malformed_replies() {
        assert_eq!(parse_reply(b"250-a\r\n250 b").unwrap(), None);
        assert!(parse_reply(b"hello\r\n").is_err());
        assert!(parse_reply(b"250-a\r\n251 b\r\n").is_err());
        assert!(parse_reply(&[b'2'; 5000]).is_err());
    }

    #[test]
    fn dot_stuffing_and_terminator() {
        assert_eq!(dot_stuffed(b".a\r\nb\r\n..c\r\n"), b"..a\r\nb\r\n...c\r\n.\r\n");
        assert_eq!(dot_stuffed(b"no final newline"), b"no final newline\r\n.\r\n");
        assert_eq!(dot_stuffed(b""), b".\r\n");
    }
}
