//! Parsing of one SMTP command line (RFC 5321 4.1, with the ESMTP parameters of RFC 1652,
//! RFC 1870, RFC 3461 and RFC 6531). The parser is strict where strictness protects the
//! gateway (paths, parameters) and names the problem in its reply.

use crate::envelope::{Address, BodyType, Notify, OriginalRecipient, Ret};
use crate::reply::{Reply, code};

/// RFC 5321 4.5.3.1: the longest local part, domain and path.
pub const LOCAL_PART_BYTES_MAX: usize = 64;
pub const DOMAIN_BYTES_MAX: usize = 255;
pub const PATH_BYTES_MAX: usize = 256;
/// RFC 3461 4.4: ENVID is at most 100 characters.
pub const ENVID_BYTES_MAX: usize = 100;

/// A parsed command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    Ehlo(String),
    Helo(String),
    Mail(MailFrom),
    Rcpt(RcptTo),
    Data,
    Bdat,
    Rset,
    Noop,
    Quit,
    StartTls,
    Vrfy,
    Expn,
    Help,
    Auth,
}

/// `MAIL FROM:<path> [params]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MailFrom {
    /// `None` is the null reverse path `<>`.
    pub sender: Option<Address>,
    pub size: Option<u64>,
    pub body: Option<BodyType>,
    pub smtputf8: bool,
    pub ret: Option<Ret>,
    pub envid: Option<String>,
}

/// `RCPT TO:<path> [params]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RcptTo {
    pub recipient: Address,
    pub notify: Option<Notify>,
    pub orcpt: Option<OriginalRecipient>,
}

impl MailFrom {
    /// Whether any ESMTP parameter was given (not allowed after HELO).
    pub fn has_parameters(&self) -> bool {
        self.size.is_some()
            || self.body.is_some()
            || self.smtputf8
            || self.ret.is_some()
            || self.envid.is_some()
    }
}

/// Another protocol spoken to the SMTP port (a cross-protocol request).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ForeignProtocol {
    /// An HTTP request line (`GET `, `POST `, `CONNECT `, `HEAD `, `PUT `): a browser or a
    /// proxy tricked into carrying SMTP commands in a request body.
    Http,
    /// A TLS ClientHello record (`0x16 0x03`): a client expecting implicit TLS.
    Tls,
}

/// HTTP methods whose request line is refused as a command, as Postfix's
/// `smtpd_forbidden_commands` does (no SMTP verb is spelled like one).
const HTTP_METHODS: [&[u8]; 5] = [b"GET", b"POST", b"CONNECT", b"HEAD", b"PUT"];

/// Whether the input at the start of a command line is another protocol. Looks only at
/// the first word, so a request is recognised before its line ends (however long it is).
pub fn foreign_protocol(input: &[u8]) -> Option<ForeignProtocol> {
    if input.starts_with(&[0x16, 0x03]) {
        return Some(ForeignProtocol::Tls);
    }
    // The longest method and its delimiter: no need to look further into a long line.
    let end = input.iter().take(b"CONNECT ".len()).position(|&b| matches!(b, b' ' | b'\r' | b'\n'))?;
    let verb = &input[..end];
    HTTP_METHODS.iter().any(|m| m.eq_ignore_ascii_case(verb)).then_some(ForeignProtocol::Http)
}

fn syntax(text: &str) -> Reply {
    Reply::new(501, code(5, 5, 4), text)
}

fn bad_address(text: &str) -> Reply {
    Reply::new(501, code(5, 1, 3), text)
}

fn unsupported_parameter(name: &str) -> Reply {
    Reply::new(555, code(5, 5, 4), format!("Unsupported parameter {name}"))
}

/// Parses one command line, given without its CRLF.
pub fn parse(line: &[u8]) -> Result<Command, Reply> {
    if line.contains(&0) {
        return Err(Reply::new(500, code(5, 5, 2), "Syntax error: NUL byte in command"));
    }
    let line = std::str::from_utf8(line)
        .map_err(|_| Reply::new(500, code(5, 5, 2), "Syntax error: command is not valid UTF-8"))?;
    let (verb, rest) = match line.find(' ') {
        Some(i) => (&line[..i], &line[i + 1..]),
        None => (line, ""),
    };
    let verb = verb.to_ascii_uppercase();
    match verb.as_str() {
        "EHLO" => Ok(Command::Ehlo(parse_helo_argument(rest, "EHLO")?)),
        "HELO" => Ok(Command::Helo(parse_helo_argument(rest, "HELO")?)),
        "MAIL" => parse_mail(rest).map(Command::Mail),
        "RCPT" => parse_rcpt(rest).map(Command::Rcpt),
        "DATA" => no_argument(rest, Command::Data, "DATA"),
        "BDAT" => Ok(Command::Bdat),
        "RSET" => no_argument(rest, Command::Rset, "RSET"),
        "NOOP" => Ok(Command::Noop),
        "QUIT" => no_argument(rest, Command::Quit, "QUIT"),
        "STARTTLS" => no_argument(rest, Command::StartTls, "STARTTLS"),
        "VRFY" => Ok(Command::Vrfy),
        "EXPN" => Ok(Command::Expn),
        "HELP" => Ok(Command::Help),
        "AUTH" => Ok(Command::Auth),
        _ => Err(Reply::new(500, code(5, 5, 2), "Syntax error: command not recognised")),
    }
}

fn no_argument(rest: &str, command: Command, verb: &str) -> Result<Command, Reply> {
    if rest.trim().is_empty() {
        Ok(command)
    } else {
        Err(syntax(&format!("Syntax: {verb} takes no argument")))
    }
}

fn parse_helo_argument(rest: &str, verb: &str) -> Result<String, Reply> {
    let name = rest.trim();
    if name.is_empty() {
        return Err(syntax(&format!("Syntax: {verb} hostname")));
    }
    if name.len() > DOMAIN_BYTES_MAX || name.chars().any(|c| c.is_control()) {
        return Err(syntax(&format!("Syntax: {verb} hostname (invalid hostname)")));
    }
    // Some clients send more words after the name; RFC 5321 allows ignoring them.
    let first = name.split(' ').next().unwrap_or(name);
    Ok(first.to_string())
}

/// Splits `FROM:<path> params` into the path text (with brackets) and the parameters.
fn split_path<'a>(rest: &'a str, keyword: &str, usage: &str) -> Result<(&'a str, &'a str), Reply> {
    let upper = rest.get(..keyword.len()).map(str::to_ascii_uppercase);
    if upper.as_deref() != Some(keyword) {
        return Err(syntax(usage));
    }
    // Tolerate `MAIL FROM: <a@b>`: common in the wild and harmless.
    let after = rest[keyword.len()..].trim_start_matches(' ');
    if !after.starts_with('<') {
        return Err(syntax(usage));
    }
    let close = find_path_end(after).ok_or_else(|| syntax(usage))?;
    let (path, params) = after.split_at(close + 1);
    if !(params.is_empty() || params.starts_with(' ')) {
        return Err(syntax(usage));
    }
    Ok((path, params.trim()))
}

/// Index of the `>` closing the path, skipping quoted strings.
fn find_path_end(s: &str) -> Option<usize> {
    let mut quoted = false;
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            '>' if !quoted => return Some(i),
            _ => {}
        }
    }
    None
}

/// Parses `<...>` into a mailbox, dropping an obsolete source route (RFC 5321 4.1.2, C).
fn parse_path(path: &str) -> Result<Option<Address>, Reply> {
    if path.len() > PATH_BYTES_MAX + 2 {
        return Err(bad_address("Address too long (RFC 5321 4.5.3.1)"));
    }
    let inner = &path[1..path.len() - 1];
    if inner.is_empty() {
        return Ok(None);
    }
    let mailbox = match inner.strip_prefix('@') {
        Some(route) => {
            let colon = route.find(':').ok_or_else(|| bad_address("Bad address syntax: source route"))?;
            &route[colon + 1..]
        }
        None => inner,
    };
    parse_mailbox(mailbox).map(Some)
}

/// Parses `local-part@domain` (RFC 5321 4.1.2; UTF-8 allowed as in RFC 6531).
pub fn parse_mailbox(mailbox: &str) -> Result<Address, Reply> {
    let at = mailbox.rfind('@').ok_or_else(|| bad_address("Bad address syntax: no domain"))?;
    let (local, domain) = (&mailbox[..at], &mailbox[at + 1..]);
    if local.is_empty() || local.len() > LOCAL_PART_BYTES_MAX {
        return Err(bad_address("Bad address syntax: local part empty or too long"));
    }
    if local.starts_with('"') {
        check_quoted_local(local)?;
    } else {
        check_dot_string(local)?;
    }
    check_domain(domain)?;
    Ok(Address { local_part: local.to_string(), domain: domain.to_string() })
}

fn is_atext(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c) || (!c.is_ascii() && !c.is_control())
}

fn check_dot_string(local: &str) -> Result<(), Reply> {
    let ok = local.split('.').all(|atom| !atom.is_empty() && atom.chars().all(is_atext));
    if ok { Ok(()) } else { Err(bad_address("Bad address syntax: invalid local part")) }
}

fn check_quoted_local(local: &str) -> Result<(), Reply> {
    let invalid = || bad_address("Bad address syntax: invalid quoted local part");
    let body = local.strip_prefix('"').and_then(|l| l.strip_suffix('"')).ok_or_else(invalid)?;
    let mut escaped = false;
    for c in body.chars() {
        if escaped {
            if !(' '..='~').contains(&c) {
                return Err(invalid());
            }
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == '"' || (c.is_ascii() && !(' '..='~').contains(&c)) || c.is_control() {
            return Err(invalid());
        }
    }
    if escaped { Err(invalid()) } else { Ok(()) }
}

fn check_domain(domain: &str) -> Result<(), Reply> {
    if domain.is_empty() || domain.len() > DOMAIN_BYTES_MAX {
        return Err(bad_address("Bad address syntax: domain empty or too long"));
    }
    if domain.starts_with('[') {
        return match crate::envelope::address_literal(domain) {
            Some(_) => Ok(()),
            None => Err(bad_address("Bad address syntax: invalid address literal")),
        };
    }
    for label in domain.split('.') {
        let valid = !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || (!c.is_ascii() && c.is_alphanumeric()));
        if !valid {
            return Err(bad_address("Bad address syntax: invalid domain"));
        }
    }
    Ok(())
}

/// Splits ESMTP parameters `KEY[=VALUE]`, refusing duplicates.
fn parameters(params: &str) -> Result<Vec<(String, Option<&str>)>, Reply> {
    let mut out: Vec<(String, Option<&str>)> = Vec::new();
    for word in params.split(' ').filter(|w| !w.is_empty()) {
        let (key, value) = match word.find('=') {
            Some(i) => (&word[..i], Some(&word[i + 1..])),
            None => (word, None),
        };
        let key = key.to_ascii_uppercase();
        if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Err(syntax("Syntax error in parameters"));
        }
        if out.iter().any(|(k, _)| *k == key) {
            return Err(syntax(&format!("Duplicate parameter {key}")));
        }
        out.push((key, value));
    }
    Ok(out)
}

fn required<'a>(key: &str, value: Option<&'a str>) -> Result<&'a str, Reply> {
    value.filter(|v| !v.is_empty()).ok_or_else(|| syntax(&format!("Parameter {key} needs a value")))
}

fn parse_mail(rest: &str) -> Result<MailFrom, Reply> {
    let (path, params) = split_path(rest, "FROM:", "Syntax: MAIL FROM:<address> [parameters]")?;
    let sender = parse_path(path)?;
    let mut mail = MailFrom { sender, size: None, body: None, smtputf8: false, ret: None, envid: None };
    for (key, value) in parameters(params)? {
        match key.as_str() {
            "SIZE" => {
                let v = required(&key, value)?;
                let size = v.parse::<u64>().ok().filter(|_| v.bytes().all(|b| b.is_ascii_digit()));
                mail.size = Some(size.ok_or_else(|| syntax("Syntax: SIZE=<number of bytes>"))?);
            }
            "BODY" => {
                let v = required(&key, value)?.to_ascii_uppercase();
                mail.body = Some(match v.as_str() {
                    "7BIT" => BodyType::SevenBit,
                    "8BITMIME" => BodyType::EightBitMime,
                    "BINARYMIME" => {
                        return Err(unsupported_parameter("BODY=BINARYMIME (CHUNKING is not offered)"));
                    }
                    _ => return Err(syntax("Syntax: BODY=7BIT or BODY=8BITMIME")),
                });
            }
            "SMTPUTF8" if value.is_none() => mail.smtputf8 = true,
            "SMTPUTF8" => return Err(syntax("SMTPUTF8 takes no value")),
            "RET" => {
                let v = required(&key, value)?.to_ascii_uppercase();
                mail.ret = Some(match v.as_str() {
                    "FULL" => Ret::Full,
                    "HDRS" => Ret::Headers,
                    _ => return Err(syntax("Syntax: RET=FULL or RET=HDRS")),
                });
            }
            "ENVID" => {
                let decoded = decode_xtext(required(&key, value)?)
                    .ok_or_else(|| syntax("Syntax: ENVID must be xtext"))?;
                if decoded.len() > ENVID_BYTES_MAX {
                    return Err(syntax("ENVID longer than 100 characters (RFC 3461 4.4)"));
                }
                mail.envid = Some(decoded);
            }
            _ => return Err(unsupported_parameter(&key)),
        }
    }
    Ok(mail)
}

fn parse_rcpt(rest: &str) -> Result<RcptTo, Reply> {
    let (path, params) = split_path(rest, "TO:", "Syntax: RCPT TO:<address> [parameters]")?;
    let recipient = match parse_path(path) {
        Ok(Some(address)) => address,
        Ok(None) => {
            return Err(bad_address("Bad recipient address: <> is not allowed in RCPT"));
        }
        // RFC 5321 4.5.1: <postmaster> without a domain must be accepted.
        Err(_) if path[1..path.len() - 1].eq_ignore_ascii_case("postmaster") => {
            Address { local_part: "postmaster".into(), domain: String::new() }
        }
        Err(reply) => return Err(reply),
    };
    let mut rcpt = RcptTo { recipient, notify: None, orcpt: None };
    for (key, value) in parameters(params)? {
        match key.as_str() {
            "NOTIFY" => rcpt.notify = Some(parse_notify(required(&key, value)?)?),
            "ORCPT" => rcpt.orcpt = Some(parse_orcpt(required(&key, value)?)?),
            _ => return Err(unsupported_parameter(&key)),
        }
    }
    Ok(rcpt)
}

fn parse_notify(value: &str) -> Result<Notify, Reply> {
    let usage = || syntax("Syntax: NOTIFY=NEVER or NOTIFY=SUCCESS,FAILURE,DELAY (any of the three)");
    let mut words: Vec<String> = value.split(',').map(str::to_ascii_uppercase).collect();
    words.sort();
    let before = words.len();
    words.dedup();
    if words.len() != before {
        return Err(usage());
    }
    if words == ["NEVER"] {
        return Ok(Notify::Never);
    }
    let (mut success, mut failure, mut delay) = (false, false, false);
    for w in &words {
        match w.as_str() {
            "SUCCESS" => success = true,
            "FAILURE" => failure = true,
            "DELAY" => delay = true,
            _ => return Err(usage()),
        }
    }
    Ok(Notify::On { success, failure, delay })
}

fn parse_orcpt(value: &str) -> Result<OriginalRecipient, Reply> {
    let usage = || syntax("Syntax: ORCPT=addr-type;xtext-address");
    let semi = value.find(';').ok_or_else(usage)?;
    let addr_type = &value[..semi];
    if addr_type.is_empty() || !addr_type.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        return Err(usage());
    }
    let address = decode_xtext(&value[semi + 1..]).filter(|a| !a.is_empty()).ok_or_else(usage)?;
    if address.len() > 500 {
        return Err(usage());
    }
    Ok(OriginalRecipient { addr_type: addr_type.to_ascii_lowercase(), address })
}

/// Decodes RFC 3461 4 xtext (`+HH` escapes; printable ASCII except `+` and `=`).
/// UTF-8 is accepted unescaped, as RFC 6533's utf-8-addr-xtext allows.
pub fn decode_xtext(s: &str) -> Option<String> {
    let mut out = Vec::with_capacity(s.len());
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => {
                let hex = s.get(i + 1..i + 3)?;
                if !hex.bytes().all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b)) {
                    return None;
                }
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'=' => return None,
            b if b < 0x21 || b == 0x7f => return None,
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// Encodes a string as xtext (for passing DSN parameters on, and for tests).
pub fn encode_xtext(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if (0x21..=0x7e).contains(&b) && b != b'+' && b != b'=' {
            out.push(b as char);
        } else {
            out.push_str(&format!("+{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mail(s: &str) -> MailFrom {
        match parse(s.as_bytes()) {
            Ok(Command::Mail(m)) => m,
            other => panic!("{s}: {other:?}"),
        }
    }

    fn rcpt(s: &str) -> RcptTo {
        match parse(s.as_bytes()) {
            Ok(Command::Rcpt(r)) => r,
            other => panic!("{s}: {other:?}"),
        }
    }

    fn err(s: &str) -> String {
        parse(s.as_bytes()).expect_err(s).summary()
    }

    #[test]
    fn verbs_are_case_insensitive() {
        assert_eq!(parse(b"ehlo client.test"), Ok(Command::Ehlo("client.test".into())));
        assert_eq!(parse(b"qUiT"), Ok(Command::Quit));
        assert_eq!(parse(b"NOOP anything"), Ok(Command::Noop));
    }

    #[test]
    fn mail_with_all_parameters() {
        let m = mail("MAIL FROM:<a.b@example.test> SIZE=1000 BODY=8BITMIME RET=HDRS ENVID=QQ+2Bx SMTPUTF8");
        assert_eq!(m.sender.as_ref().map(ToString::to_string).as_deref(), Some("a.b@example.test"));
        assert_eq!(m.size, Some(1000));
        assert_eq!(m.body, Some(BodyType::EightBitMime));
        assert_eq!(m.ret, Some(Ret::Headers));
        assert_eq!(m.envid.as_deref(), Some("QQ+x"));
        assert!(m.smtputf8);
    }

    #[test]
    fn null_sender_and_space_after_colon() {
        assert_eq!(mail("MAIL FROM:<>").sender, None);
        assert!(mail("MAIL FROM: <x@y.test>").sender.is_some());
    }

    #[test]
    fn source_route_is_dropped() {
        let r = rcpt("RCPT TO:<@relay.test,@other.test:user@example.test>");
        assert_eq!(r.recipient.to_string(), "user@example.test");
    }

    #[test]
    fn rcpt_dsn_parameters() {
        let r = rcpt("RCPT TO:<u@example.test> NOTIFY=FAILURE,DELAY ORCPT=rfc822;u+40example.test");
        assert_eq!(r.notify, Some(Notify::On { success: false, failure: true, delay: true }));
        assert_eq!(r.orcpt.map(|o| o.address).as_deref(), Some("u@example.test"));
        assert_eq!(rcpt("RCPT TO:<u@e.test> NOTIFY=never").notify, Some(Notify::Never));
    }

    #[test]
    fn bare_postmaster_is_accepted() {
        assert_eq!(rcpt("RCPT TO:<Postmaster>").recipient.local_part, "postmaster");
    }

    #[test]
    fn quoted_local_parts() {
        assert_eq!(rcpt("RCPT TO:<\"a b@c\"@example.test>").recipient.domain, "example.test");
        assert!(err("RCPT TO:<\"unterminated@example.test>").starts_with("501"));
    }

    #[test]
    fn address_literals() {
        assert_eq!(rcpt("RCPT TO:<u@[192.0.2.1]>").recipient.domain, "[192.0.2.1]");
        assert!(rcpt("RCPT TO:<u@[IPv6:2001:db8::1]>").recipient.is_address_literal());
        assert!(err("RCPT TO:<u@[300.1.1.1]>").starts_with("501 5.1.3"));
        // The tag in any case (RFC 5321 4.1.3 compares it case-insensitively); the address
        // parsed is the one delivery connects to.
        for tag in ["IPv6", "ipv6", "IPV6"] {
            let address = rcpt(&format!("RCPT TO:<u@[{tag}:2001:db8::1]>")).recipient;
            assert_eq!(address.literal_ip(), Some("2001:db8::1".parse().unwrap()), "{tag}");
        }
        assert_eq!(
            rcpt("RCPT TO:<u@[192.0.2.1]>").recipient.literal_ip(),
            Some("192.0.2.1".parse().unwrap())
        );
        assert!(err("RCPT TO:<u@[::1]>").starts_with("501 5.1.3"), "IPv6 needs its tag");
        assert!(err("RCPT TO:<u@[IPv6:192.0.2.1]>").starts_with("501 5.1.3"));
        assert_eq!(crate::address_literal("example.test"), None);
    }

    #[test]
    fn rejections_name_the_problem() {
        assert_eq!(err("FOO"), "500 5.5.2 Syntax error: command not recognised");
        assert_eq!(err("MAIL TO:<a@b.test>"), "501 5.5.4 Syntax: MAIL FROM:<address> [parameters]");
        assert_eq!(err("MAIL FROM:a@b.test"), "501 5.5.4 Syntax: MAIL FROM:<address> [parameters]");
        assert_eq!(err("MAIL FROM:<a@b.test> FOO=1"), "555 5.5.4 Unsupported parameter FOO");
        assert_eq!(err("MAIL FROM:<a@b.test> SIZE=12x"), "501 5.5.4 Syntax: SIZE=<number of bytes>");
        assert_eq!(err("MAIL FROM:<a@b.test> SIZE=1 SIZE=2"), "501 5.5.4 Duplicate parameter SIZE");
        assert_eq!(err("RCPT TO:<a@b.test.>"), "501 5.1.3 Bad address syntax: invalid domain");
        assert_eq!(err("RCPT TO:<a..b@b.test>"), "501 5.1.3 Bad address syntax: invalid local part");
        assert_eq!(
            err("RCPT TO:<a@b.test> NOTIFY=NEVER,SUCCESS").split(':').next(),
            Some("501 5.5.4 Syntax")
        );
        assert_eq!(err("RCPT TO:<>"), "501 5.1.3 Bad recipient address: <> is not allowed in RCPT");
        assert_eq!(err("EHLO"), "501 5.5.4 Syntax: EHLO hostname");
        assert_eq!(err("DATA now"), "501 5.5.4 Syntax: DATA takes no argument");
        assert!(err("RCPT TO:<a@b.test> ORCPT=rfc822;a=b").starts_with("501 5.5.4"));
        assert!(err("MAIL FROM:<a@b.test>x").starts_with("501"));
    }

    #[test]
    fn overlong_parts_are_refused() {
        let long_local = "a".repeat(65);
        assert!(err(&format!("RCPT TO:<{long_local}@example.test>")).starts_with("501 5.1.3"));
        let long_path = format!("RCPT TO:<a@{}.test>", "b".repeat(300));
        assert!(err(&long_path).starts_with("501 5.1.3"));
    }

    #[test]
    fn xtext_round_trip() {
        for s in ["plain", "with+plus=equals", "space here", "utf-8 é"] {
            assert_eq!(decode_xtext(&encode_xtext(s)).as_deref(), Some(s));
        }
        assert_eq!(decode_xtext("bad+4"), None);
        assert_eq!(decode_xtext("bad+4g"), None);
    }
}
