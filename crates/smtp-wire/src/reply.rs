//! SMTP replies (RFC 5321 4.2) with enhanced status codes (RFC 3463, RFC 2034).

use std::fmt;

/// An enhanced status code `class.subject.detail`, e.g. `5.7.1`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct EnhancedCode {
    pub class: u8,
    pub subject: u16,
    pub detail: u16,
}

impl EnhancedCode {
    pub const fn new(class: u8, subject: u16, detail: u16) -> Self {
        EnhancedCode { class, subject, detail }
    }
}

impl fmt::Display for EnhancedCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.class, self.subject, self.detail)
    }
}

/// One SMTP reply, possibly multi-line. Every reply Sluice sends after the greeting and the
/// EHLO answer carries an enhanced code (RFC 2034 3).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    pub code: u16,
    pub enhanced: Option<EnhancedCode>,
    pub lines: Vec<String>,
}

impl Reply {
    /// A one-line reply with an enhanced code.
    pub fn new(code: u16, enhanced: EnhancedCode, text: impl Into<String>) -> Reply {
        Reply { code, enhanced: Some(enhanced), lines: vec![text.into()] }
    }

    /// A reply without an enhanced code (greeting, EHLO/HELO answers).
    pub fn plain(code: u16, lines: Vec<String>) -> Reply {
        Reply { code, enhanced: None, lines }
    }

    /// `2xx`/`3xx`.
    pub fn is_positive(&self) -> bool {
        self.code < 400
    }

    /// `4xx`: the client should try again later.
    pub fn is_temporary(&self) -> bool {
        (400..500).contains(&self.code)
    }

    /// `5xx`: the client must not retry unchanged.
    pub fn is_permanent(&self) -> bool {
        self.code >= 500
    }

    /// Appends the reply in wire form (`code-text` continuation lines, `code text` last),
    /// each line ending in CRLF.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        let count = self.lines.len().max(1);
        for i in 0..count {
            let text = self.lines.get(i).map(String::as_str).unwrap_or("");
            let separator = if i + 1 == count { ' ' } else { '-' };
            let line = match self.enhanced {
                Some(e) => format!("{}{separator}{e} {text}\r\n", self.code),
                None => format!("{}{separator}{text}\r\n", self.code),
            };
            out.extend_from_slice(line.as_bytes());
        }
    }

    /// The reply in wire form.
    pub fn to_wire(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64);
        self.write_to(&mut out);
        out
    }

    /// The reply on one line, for logs: `550 5.7.1 Relay access denied ...`.
    pub fn summary(&self) -> String {
        let text = self.lines.join(" ");
        match self.enhanced {
            Some(e) => format!("{} {e} {text}", self.code),
            None => format!("{} {text}", self.code),
        }
    }
}

impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.summary())
    }
}

/// Shorthand for enhanced codes in reply tables.
pub const fn code(class: u8, subject: u16, detail: u16) -> EnhancedCode {
    EnhancedCode::new(class, subject, detail)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multi_line_wire_form_uses_dash_continuations() {
        let r = Reply { code: 214, enhanced: Some(code(2, 0, 0)), lines: vec!["a".into(), "b".into()] };
        assert_eq!(r.to_wire(), b"214-2.0.0 a\r\n214 2.0.0 b\r\n");
    }

    #[test]
    fn classes() {
        assert!(Reply::new(451, code(4, 3, 0), "x").is_temporary());
        assert!(Reply::new(550, code(5, 7, 1), "x").is_permanent());
        assert!(Reply::plain(220, vec!["hi".into()]).is_positive());
    }
}
