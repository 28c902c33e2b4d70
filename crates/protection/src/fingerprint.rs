//! Body fingerprints: one 64-bit hash per message body, equal for the copies of a mailing
//! that differ only in what a sender personalises cheaply.
//!
//! Normalisation, in order:
//! * the header section is skipped (everything up to the first empty line; a message
//!   without one has an empty body);
//! * MIME boundary lines (`--` followed by a token) and the part headers after them are
//!   skipped, because boundaries, `Content-ID`s and file names are random per message;
//! * a quoted-printable soft line break (`=` at the end of a line) joins the lines;
//! * ASCII letters are lower-cased, any run of whitespace (line breaks included) is one
//!   space, and every token (run of letters and digits) that contains a digit becomes `#`:
//!   order numbers, dates, amounts and the random ids of tracking links all fold alike;
//! * only the first [`BODY_BYTES_MAX`] bytes of the body are read.
//!
//! Honest limits: a greeting with the recipient's name (`Dear Alice` / `Dear Bob`), a
//! base64-encoded personalised part, or random words added per copy give different
//! fingerprints. The volume signal and the spam scorer are the backstops for those.
//! The hash is FNV-1a: stable across processes and nodes, not secret; a collision can only
//! make a tenant's own mail look more alike.

/// How much of a body is read.
pub const BODY_BYTES_MAX: usize = 256 * 1024;

/// The fingerprint of an RFC 5322 message's body (see the module documentation).
pub fn body_fingerprint(message: &[u8]) -> u64 {
    fingerprint(message).0
}

/// The fingerprint and the number of normalised bytes it covers.
pub(crate) fn fingerprint(message: &[u8]) -> (u64, usize) {
    let body = &message[body_start(message)..];
    let body = &body[..body.len().min(BODY_BYTES_MAX)];
    let mut n = Normaliser::default();
    let mut in_part_headers = false;
    let mut lines = body.split(|&b| b == b'\n').peekable();
    while let Some(line) = lines.next() {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if in_part_headers {
            in_part_headers = !line.is_empty();
            continue;
        }
        if is_boundary(line) {
            in_part_headers = true;
            n.space();
            continue;
        }
        match line.strip_suffix(b"=") {
            Some(joined) if lines.peek().is_some() => n.feed(joined),
            _ => {
                n.feed(line);
                n.space();
            }
        }
    }
    n.finish()
}

/// Offset of the body: after the first empty line, or the end when there is none.
fn body_start(message: &[u8]) -> usize {
    let mut at = 0;
    for line in message.split_inclusive(|&b| b == b'\n') {
        at += line.len();
        if line == b"\n" || line == b"\r\n" {
            return at;
        }
    }
    message.len()
}

/// `--boundary` or `--boundary--`: a token right after the dashes. A signature separator
/// (`-- `) is not one.
fn is_boundary(line: &[u8]) -> bool {
    line.strip_prefix(b"--").is_some_and(|rest| {
        let rest = rest.trim_ascii_end();
        !rest.is_empty() && !rest.iter().any(u8::is_ascii_whitespace)
    })
}

#[derive(Debug)]
struct Normaliser {
    hash: u64,
    bytes: usize,
    token: Vec<u8>,
    pending_space: bool,
}

impl Default for Normaliser {
    fn default() -> Self {
        Normaliser { hash: FNV_OFFSET, bytes: 0, token: Vec::new(), pending_space: false }
    }
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0100_0000_01b3;

impl Normaliser {
    fn feed(&mut self, line: &[u8]) {
        for &b in line {
            if b.is_ascii_alphanumeric() || b >= 0x80 {
                self.token.push(b.to_ascii_lowercase());
            } else if b.is_ascii_whitespace() {
                self.space();
            } else {
                self.end_token();
                self.emit(&[b]);
            }
        }
    }

    fn space(&mut self) {
        self.end_token();
        self.pending_space = true;
    }

    fn end_token(&mut self) {
        if self.token.is_empty() {
            return;
        }
        let token = std::mem::take(&mut self.token);
        if token.iter().any(u8::is_ascii_digit) {
            self.emit(b"#");
        } else {
            self.emit(&token);
        }
        self.token = token;
        self.token.clear();
    }

    fn emit(&mut self, bytes: &[u8]) {
        if self.pending_space && self.bytes > 0 {
            self.hash_byte(b' ');
        }
        self.pending_space = false;
        for &b in bytes {
            self.hash_byte(b);
        }
    }

    fn hash_byte(&mut self, b: u8) {
        self.hash = (self.hash ^ u64::from(b)).wrapping_mul(FNV_PRIME);
        self.bytes += 1;
    }

    fn finish(mut self) -> (u64, usize) {
        self.end_token();
        (self.hash, self.bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(headers: &str, body: &str) -> Vec<u8> {
        format!("{headers}\r\n\r\n{body}").into_bytes()
    }

    #[test]
    fn headers_case_whitespace_and_numbers_do_not_matter() {
        let a = msg(
            "Subject: Order 1\r\nTo: a@x.example",
            "Hello,\r\nyour order 12345 ships on 2026-11-23.\r\nTotal: 10.50 EUR",
        );
        let b = msg(
            "Subject: Order 2\r\nTo: b@y.example\r\nMessage-ID: <9@z>",
            "HELLO,   your ORDER A77 ships\r\n on 2027-01-05.\r\n\r\nTotal:  9.99 EUR\r\n",
        );
        assert_eq!(body_fingerprint(&a), body_fingerprint(&b));
        let c = msg("Subject: Order 1", "Hello, your invoice 12345 is overdue.");
        assert_ne!(body_fingerprint(&a), body_fingerprint(&c));
    }

    #[test]
    fn tracking_ids_and_mime_boundaries_fold() {
        let body = |boundary: &str, id: &str| {
            format!(
                "--{boundary}\r\nContent-Type: text/plain\r\nContent-ID: <{id}@x>\r\n\r\nSee https://t.example/c/{id}\r\n--{boundary}--\r\n"
            )
        };
        let a = msg("Content-Type: multipart/mixed", &body("b1_aXk", "k3Jx9"));
        let b = msg("Content-Type: multipart/mixed", &body("=_Part_ZZqq", "Q7pL2w"));
        assert_eq!(body_fingerprint(&a), body_fingerprint(&b));
    }

    #[test]
    fn soft_line_breaks_and_signatures() {
        let a = msg("X: 1", "A long line that was wr=\r\napped here\r\n-- \r\nBob");
        let b = msg("X: 1", "A long line that was wrapped here -- Bob");
        assert_eq!(body_fingerprint(&a), body_fingerprint(&b));
        let c = msg("X: 1", "A long line that was wrapped here -- Alice");
        assert_ne!(body_fingerprint(&a), body_fingerprint(&c), "a signature is content, not a boundary");
    }

    #[test]
    fn no_body_and_odd_input_never_panic() {
        assert_eq!(fingerprint(b"Subject: only headers\r\n").1, 0);
        assert_eq!(fingerprint(b"").1, 0);
        assert_eq!(body_fingerprint(b"\r\n\r\n"), body_fingerprint(b"X: y\n\n  \n"));
        let _ = body_fingerprint(&[0xff, b'\n', b'\n', 0x80, b'=', b'=', b'\n', b'=']);
        // Personalisation by name is a documented limit.
        assert_ne!(body_fingerprint(&msg("X: 1", "Dear Alice")), body_fingerprint(&msg("X: 1", "Dear Bob")));
    }

    #[test]
    fn only_the_first_part_of_a_long_body_counts() {
        let head = "word ".repeat(BODY_BYTES_MAX / 5 + 10);
        let a = msg("X: 1", &format!("{head}tail one"));
        let b = msg("X: 1", &format!("{head}tail two"));
        assert_eq!(body_fingerprint(&a), body_fingerprint(&b));
    }
}
