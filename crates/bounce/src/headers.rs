//! Reading the original message's header section (the part before the first empty line)
//! and writing the bounce's own header fields: RFC 2047 encoded words, folding.

/// Header lines are folded before this many bytes (RFC 5322 2.1.1 "SHOULD" limit is 78).
const FOLD_AT_BYTES: usize = 76;
/// An encoded word is at most 75 characters (RFC 2047 2); this leaves room for the
/// `=?UTF-8?Q?` prefix and `?=` suffix.
const ENCODED_TEXT_BYTES_MAX: usize = 60;

/// The header section (without the empty line) and the body of a message.
pub(crate) fn split(message: &[u8]) -> (&[u8], &[u8]) {
    if message.starts_with(b"\r\n") {
        return (&[], &message[2..]);
    }
    if message.starts_with(b"\n") {
        return (&[], &message[1..]);
    }
    let crlf = message.windows(4).position(|w| w == b"\r\n\r\n").map(|i| (i + 2, i + 4));
    let lf = message.windows(2).position(|w| w == b"\n\n").map(|i| (i + 1, i + 2));
    let end = match (crlf, lf) {
        (Some(a), Some(b)) => Some(if a.0 <= b.0 { a } else { b }),
        (a, b) => a.or(b),
    };
    match end {
        Some((head_end, body_start)) => (&message[..head_end], &message[body_start..]),
        None => (message, &[]),
    }
}

/// The lines of `bytes` without their line ends (CRLF or a lone LF).
pub(crate) fn lines(bytes: &[u8]) -> impl Iterator<Item = &[u8]> {
    let trimmed = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    trimmed
        .split(|b| *b == b'\n')
        .map(|line| line.strip_suffix(b"\r").unwrap_or(line))
        .filter(move |_| !bytes.is_empty())
}

/// Every value of field `name` (case-insensitive), unfolded and trimmed; invalid UTF-8 is
/// replaced rather than refused, since these values only steer language and loop checks.
pub(crate) fn values(head: &[u8], name: &str) -> Vec<String> {
    let mut fields: Vec<Vec<u8>> = Vec::new();
    for line in lines(head) {
        match (line.first(), fields.last_mut()) {
            (Some(b' ' | b'\t'), Some(field)) => field.extend_from_slice(line),
            _ => fields.push(line.to_vec()),
        }
    }
    fields
        .iter()
        .filter_map(|field| {
            let colon = field.iter().position(|b| *b == b':')?;
            let field_name = std::str::from_utf8(&field[..colon]).ok()?;
            field_name
                .trim()
                .eq_ignore_ascii_case(name)
                .then(|| String::from_utf8_lossy(&field[colon + 1..]).trim().to_owned())
        })
        .collect()
}

/// `value` with its RFC 2047 encoded words decoded, for showing the original subject to
/// people. Words in charsets other than UTF-8, US-ASCII and ISO-8859-1 (which cover
/// nearly all mail) and malformed words stay as they are: shown raw, never lost.
pub(crate) fn decode_encoded_words(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut previous_was_word = false;
    for (i, token) in value.split(' ').enumerate() {
        match decode_word(token) {
            // Whitespace between two encoded words is not part of the text (RFC 2047 6.2).
            Some(decoded) => {
                if i > 0 && !previous_was_word {
                    out.push(' ');
                }
                out.push_str(&decoded);
                previous_was_word = true;
            }
            None => {
                if i > 0 {
                    out.push(' ');
                }
                out.push_str(token);
                previous_was_word = false;
            }
        }
    }
    out
}

fn decode_word(token: &str) -> Option<String> {
    let inner = token.strip_prefix("=?")?.strip_suffix("?=")?;
    let mut pieces = inner.splitn(3, '?');
    let charset = pieces.next()?.split('*').next()?.to_ascii_lowercase();
    let encoding = pieces.next()?;
    let text = pieces.next()?;
    let bytes = match encoding {
        "Q" | "q" => decode_q(text)?,
        "B" | "b" => decode_base64(text)?,
        _ => return None,
    };
    match charset.as_str() {
        "utf-8" | "us-ascii" => String::from_utf8(bytes).ok(),
        "iso-8859-1" | "latin1" => Some(bytes.iter().map(|b| char::from(*b)).collect()),
        _ => None,
    }
}

fn decode_q(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len());
    let mut bytes = text.bytes();
    while let Some(byte) = bytes.next() {
        match byte {
            b'_' => out.push(b' '),
            b'=' => {
                let hex = [bytes.next()?, bytes.next()?];
                out.push(u8::from_str_radix(std::str::from_utf8(&hex).ok()?, 16).ok()?);
            }
            _ => out.push(byte),
        }
    }
    Some(out)
}

fn decode_base64(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for byte in text.bytes().filter(|b| *b != b'=') {
        let value = match byte {
            b'A'..=b'Z' => byte - b'A',
            b'a'..=b'z' => byte - b'a' + 26,
            b'0'..=b'9' => byte - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        buffer = (buffer << 6) | u32::from(value);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
            buffer &= (1 << bits) - 1;
        }
    }
    Some(out)
}

/// Writes `Name: value` folded at spaces, with every run of words that contains non-ASCII
/// (or control) characters turned into RFC 2047 `Q` encoded words.
pub(crate) fn write_text_field(out: &mut String, name: &str, value: &str) {
    let mut tokens: Vec<String> = Vec::new();
    let mut pending: Vec<&str> = Vec::new();
    // ASCII whitespace only: a no-break space (French typography) belongs to its word and
    // travels inside an encoded word.
    for word in value.split_ascii_whitespace() {
        if needs_encoding(word) {
            pending.push(word);
            continue;
        }
        if !pending.is_empty() {
            tokens.extend(encoded_words(&pending.join(" ")));
            pending.clear();
        }
        tokens.push(word.to_owned());
    }
    if !pending.is_empty() {
        tokens.extend(encoded_words(&pending.join(" ")));
    }
    write_folded(out, name, &tokens);
}

/// Writes `Name: tok tok ...`, starting a continuation line whenever the next token would
/// pass the folding width. A single token longer than the width stays whole on its line.
pub(crate) fn write_folded(out: &mut String, name: &str, tokens: &[String]) {
    out.push_str(name);
    out.push(':');
    let mut line_bytes = name.len() + 1;
    for token in tokens {
        if line_bytes + 1 + token.len() > FOLD_AT_BYTES && line_bytes > name.len() + 1 {
            out.push_str("\r\n");
            line_bytes = 0;
        }
        out.push(' ');
        out.push_str(token);
        line_bytes += 1 + token.len();
    }
    out.push_str("\r\n");
}

fn needs_encoding(word: &str) -> bool {
    // An ASCII word that merely looks like an encoded word is encoded too, so that a
    // decoder cannot mistake the original subject's text for one.
    word.bytes().any(|b| !(0x21..=0x7e).contains(&b)) || word.contains("=?")
}

/// `text` as one or more `=?UTF-8?Q?...?=` words, split on character boundaries.
fn encoded_words(text: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut current = String::new();
    for ch in text.chars() {
        let mut buf = [0u8; 4];
        let mut piece = String::new();
        for byte in ch.encode_utf8(&mut buf).bytes() {
            match byte {
                b' ' => piece.push('_'),
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'!' | b'*' | b'+' | b'-' | b'/' => {
                    piece.push(char::from(byte))
                }
                _ => piece.push_str(&format!("={byte:02X}")),
            }
        }
        if current.len() + piece.len() > ENCODED_TEXT_BYTES_MAX {
            words.push(format!("=?UTF-8?Q?{current}?="));
            current.clear();
        }
        current.push_str(&piece);
    }
    if !current.is_empty() {
        words.push(format!("=?UTF-8?Q?{current}?="));
    }
    words
}

/// An RFC 5322 date (`Mon, 23 Nov 2026 10:03:20 +0000`, the day name and the seconds
/// optional, comments and the obsolete zone names of RFC 5322 4.3 allowed) as unix seconds;
/// `None` for anything else. The original's `Date:` is remote input: every part is checked.
pub(crate) fn parse_date(value: &str) -> Option<u64> {
    let without_comments: String = {
        let mut depth = 0usize;
        value
            .chars()
            .filter(|c| match c {
                '(' => {
                    depth += 1;
                    false
                }
                ')' => {
                    depth = depth.saturating_sub(1);
                    false
                }
                _ => depth == 0,
            })
            .collect()
    };
    let text = match without_comments.split_once(',') {
        Some((_, rest)) => rest,
        None => without_comments.as_str(),
    };
    let mut parts = text.split_ascii_whitespace();
    let day: u64 = parts.next()?.parse().ok()?;
    let month = parts.next()?.to_ascii_lowercase();
    let month = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
        .iter()
        .position(|m| *m == month)? as u64
        + 1;
    let year: u64 = match parts.next()?.parse::<u64>().ok()? {
        y @ 0..50 => 2000 + y,
        y @ 50..1000 => 1900 + y,
        y => y,
    };
    let mut time = parts.next()?.split(':');
    let hour: u64 = time.next()?.parse().ok()?;
    let minute: u64 = time.next()?.parse().ok()?;
    let second: u64 = time.next().map_or(Some(0), |s| s.parse().ok())?;
    let offset_minutes = zone_offset_minutes(parts.next().unwrap_or("+0000"))?;
    let valid =
        (1..=31).contains(&day) && (1970..=9999).contains(&year) && hour < 24 && minute < 60 && second < 61;
    if !valid {
        return None;
    }
    let local = days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second;
    local.checked_add_signed(-offset_minutes * 60)
}

fn zone_offset_minutes(zone: &str) -> Option<i64> {
    if let Some(sign) = zone.chars().next().filter(|c| *c == '+' || *c == '-') {
        let digits = &zone[1..];
        if digits.len() != 4 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let minutes = digits[..2].parse::<i64>().ok()? * 60 + digits[2..].parse::<i64>().ok()?;
        return Some(if sign == '-' { -minutes } else { minutes });
    }
    let hours = match zone.to_ascii_uppercase().as_str() {
        "UT" | "GMT" | "Z" => 0,
        "EDT" => -4,
        "EST" | "CDT" => -5,
        "CST" | "MDT" => -6,
        "MST" | "PDT" => -7,
        "PST" => -8,
        // RFC 5322 4.3: other (military) zones are to be taken as +0000.
        _ => 0,
    };
    Some(hours * 60)
}

/// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm), the inverse of
/// `smtp_wire::date::civil_from_days`.
fn days_from_civil(year: u64, month: u64, day: u64) -> u64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y / 400;
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    (era * 146_097 + doe).saturating_sub(719_468)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_parse_with_zones_and_comments() {
        let noon = 1_795_435_401;
        assert_eq!(parse_date("Mon, 23 Nov 2026 12:03:21 +0000"), Some(noon));
        assert_eq!(parse_date("23 Nov 2026 13:03:21 +0100 (CET)"), Some(noon));
        assert_eq!(parse_date("Mon, 23 Nov 2026 07:03:21 EST"), Some(noon));
        assert_eq!(parse_date("Mon, 23 Nov 2026 12:03 GMT"), Some(noon - 21));
        assert_eq!(parse_date("Tue, 29 Feb 2000 00:00:00 +0000"), Some(951_782_400));
        for bad in [
            "",
            "yesterday",
            "32 Nov 2026 12:00 +0000",
            "1 Foo 2026 12:00 +0000",
            "1 Nov 2026 25:00 +0000",
            "1 Nov 2026 12:00 +01",
        ] {
            assert_eq!(parse_date(bad), None, "{bad}");
        }
    }

    #[test]
    fn split_finds_the_first_empty_line() {
        let (head, body) = split(b"A: 1\r\nB: 2\r\n\r\nbody\r\n\r\nmore");
        assert_eq!(head, b"A: 1\r\nB: 2\r\n");
        assert_eq!(body, b"body\r\n\r\nmore");
        assert_eq!(split(b"A: 1\r\n").1, b"");
    }

    #[test]
    fn values_unfold_and_match_any_case() {
        let head = b"Subject: a\r\n long\r\ncontent-language: fr\r\n";
        assert_eq!(values(head, "subject"), vec!["a long"]);
        assert_eq!(values(head, "Content-Language"), vec!["fr"]);
        assert!(values(head, "To").is_empty());
    }

    #[test]
    fn non_ascii_runs_become_one_encoded_word() {
        let mut out = String::new();
        write_text_field(&mut out, "Subject", "Remise différée : Rapport été");
        assert_eq!(
            out,
            concat!(
                "Subject: Remise =?UTF-8?Q?diff=C3=A9r=C3=A9e?= : Rapport\r\n",
                " =?UTF-8?Q?=C3=A9t=C3=A9?=\r\n"
            )
        );
    }

    #[test]
    fn encoded_words_decode() {
        assert_eq!(decode_encoded_words("=?UTF-8?Q?R=C3=A9union_d=27=C3=A9t=C3=A9?="), "Réunion d'été");
        assert_eq!(decode_encoded_words("Re: =?utf-8?B?w6l0w6k=?= =?iso-8859-1?q?=E9?= ok"), "Re: étéé ok");
        assert_eq!(decode_encoded_words("=?koi8-r?B?8NLJ18XU?= plain"), "=?koi8-r?B?8NLJ18XU?= plain");
        assert_eq!(decode_encoded_words("a  b =?bad"), "a  b =?bad");
    }

    #[test]
    fn long_values_fold_under_the_width() {
        let mut out = String::new();
        write_text_field(&mut out, "Subject", &"word ".repeat(40));
        assert!(out.split("\r\n").all(|line| line.len() <= FOLD_AT_BYTES));
        assert!(out.contains("\r\n word"));
    }
}
