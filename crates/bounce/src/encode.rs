//! Body encodings and formats: quoted-printable (every human part uses it, so French
//! text and long lines travel through 7-bit relays unchanged), HTML escaping, RFC 5322
//! dates.

/// Quoted-printable lines stay at most this long, the soft break `=` included (RFC 2045 6.7).
const QP_LINE_BYTES_MAX: usize = 76;

/// `text` (lines separated by `\n`) in quoted-printable with CRLF line ends.
pub(crate) fn quoted_printable(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    for line in text.split('\n') {
        let bytes = line.as_bytes();
        let mut line_bytes = 0;
        for (i, &byte) in bytes.iter().enumerate() {
            let last = i + 1 == bytes.len();
            let literal =
                matches!(byte, 0x21..=0x3c | 0x3e..=0x7e) || (byte == b' ' || byte == b'\t') && !last;
            let piece_bytes = if literal { 1 } else { 3 };
            // Room for the soft break `=` unless this is the line's last piece.
            let limit = if last { QP_LINE_BYTES_MAX } else { QP_LINE_BYTES_MAX - 1 };
            if line_bytes + piece_bytes > limit {
                out.push_str("=\r\n");
                line_bytes = 0;
            }
            if literal {
                out.push(char::from(byte));
            } else {
                out.push_str(&format!("={byte:02X}"));
            }
            line_bytes += piece_bytes;
        }
        out.push_str("\r\n");
    }
    out
}

/// `text` safe inside HTML element content and double-quoted attribute values.
pub(crate) fn html_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(ch),
        }
    }
    out
}

pub(crate) use smtp_wire::date::rfc5322 as rfc5322_date;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_match_known_instants() {
        assert_eq!(rfc5322_date(0), "Thu, 01 Jan 1970 00:00:00 +0000");
        assert_eq!(rfc5322_date(1_795_435_401), "Mon, 23 Nov 2026 12:03:21 +0000");
        assert_eq!(rfc5322_date(951_782_400), "Tue, 29 Feb 2000 00:00:00 +0000");
    }

    #[test]
    fn quoted_printable_encodes_and_wraps() {
        assert_eq!(quoted_printable("café = 1 \nok"), "caf=C3=A9 =3D 1=20\r\nok\r\n");
        let long = quoted_printable(&"é".repeat(100));
        assert!(long.split("\r\n").all(|line| line.len() <= QP_LINE_BYTES_MAX));
        for line in long.split("\r\n") {
            let body = line.strip_suffix('=').unwrap_or(line);
            assert!(body.split('=').skip(1).all(|escape| escape.len() == 2), "split escape in {line}");
        }
    }

    #[test]
    fn html_is_escaped() {
        assert_eq!(html_escape("<a href=\"x\">&'"), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;");
    }
}
