//! Help texts, one per status code family that Sluice emits or reports. The bounce quotes
//! the relevant one and links to `https://<admin host>/help/<code>`, which the admin
//! center serves from [`help`].

use crate::lang::{Catalog, Lang};
use smtp_wire::EnhancedCode;

/// Every code that has a help text (and a help page), in the order the admin center lists
/// them. Each needs `help-<code with dots as dashes>-{title,why,sender,admin}` in every
/// locale file; a test checks that.
pub const HELP_CODES: &[&str] = &[
    // Sluice's own refusals and deferrals.
    "AS501", "AS502", "AS503", "AS504", "AS505", "5.7.705", "5.7.708", "5.7.750", "5.7.751", "4.7.752",
    "5.7.1", "5.1.1", "5.7.10", "5.3.4", "4.3.0", // Outcomes of delivery to the next hop.
    "5.2.2", "5.4.7", "4.0.0", "5.0.0",
];

/// The four parts of a help page.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HelpText {
    /// The code as used in the page path, e.g. `5.7.705` or `AS501`.
    pub code: &'static str,
    /// A short name of the problem.
    pub title: String,
    /// "Why did I get this?"
    pub why: String,
    /// "I'm the sender: what do I do?"
    pub sender: String,
    /// "I'm the email admin: how do I fix this?"
    pub admin: String,
}

/// The help text for `code` (one of [`HELP_CODES`], matched case-insensitively) in `lang`.
pub fn help(code: &str, lang: Lang) -> Option<HelpText> {
    let code = HELP_CODES.iter().find(|known| known.eq_ignore_ascii_case(code))?;
    let catalog = Catalog::load(lang).ok()?;
    help_from(&catalog, code).ok()
}

pub(crate) fn help_from(catalog: &Catalog, code: &'static str) -> Result<HelpText, crate::BounceError> {
    let id = message_id(code);
    Ok(HelpText {
        code,
        title: catalog.text(&format!("{id}-title"), &[])?,
        why: catalog.text(&format!("{id}-why"), &[])?,
        sender: catalog.text(&format!("{id}-sender"), &[])?,
        admin: catalog.text(&format!("{id}-admin"), &[])?,
    })
}

/// The Fluent message id prefix of a code: Fluent ids cannot contain dots.
pub(crate) fn message_id(code: &str) -> String {
    format!("help-{}", code.replace('.', "-"))
}

/// The help code for an outcome. A throttling token `(ASnnn)` in the reply names the most
/// precise cause, so it wins; then the exact status; then a family: `X.2.2` for full
/// mailboxes, `4.3.x` for a system or storage problem, `X.4.7` for expiry, and finally the
/// class, so every outcome links to some page.
pub fn help_code_for(status: EnhancedCode, diagnostic: Option<&str>) -> &'static str {
    if let Some(token) = diagnostic.and_then(as_token) {
        return token;
    }
    let exact = status.to_string();
    if let Some(code) = HELP_CODES.iter().find(|c| **c == exact) {
        return code;
    }
    match (status.class, status.subject, status.detail) {
        (_, 2, 2) => "5.2.2",
        (4, 3, _) => "4.3.0",
        (_, 4, 7) => "5.4.7",
        (_, 7, 10) => "5.7.10",
        // A queue manager that gives up on a deferred recipient may report the last reply's
        // code with a permanent class (or the reverse): the page is the same.
        (_, 7, 751) => "5.7.751",
        (_, 7, 752) => "4.7.752",
        (4, _, _) => "4.0.0",
        _ => "5.0.0",
    }
}

/// The known `ASnnn` token that a reply text names in parentheses.
fn as_token(text: &str) -> Option<&'static str> {
    HELP_CODES
        .iter()
        .filter(|code| code.starts_with("AS"))
        .find(|code| text.contains(&format!("({code})")))
        .copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_win_then_exact_codes_then_families() {
        let code = |c, s, d, text| help_code_for(EnhancedCode::new(c, s, d), text);
        assert_eq!(code(4, 7, 501, Some("451 4.7.501 Deferred ... (AS501) Try again")), "AS501");
        assert_eq!(code(5, 4, 7, Some("451 4.7.503 Deferred (AS503)")), "AS503");
        assert_eq!(code(5, 7, 705, None), "5.7.705");
        assert_eq!(code(5, 7, 751, None), "5.7.751");
        assert_eq!(
            code(4, 7, 752, Some("451 4.7.752 Sender <a@b.example> of tenant acme has reached its limit")),
            "4.7.752"
        );
        assert_eq!(code(5, 7, 752, None), "4.7.752");
        assert_eq!(code(4, 7, 751, None), "5.7.751");
        assert_eq!(code(4, 2, 2, None), "5.2.2");
        assert_eq!(code(4, 3, 1, None), "4.3.0");
        assert_eq!(code(4, 4, 7, None), "5.4.7");
        assert_eq!(code(4, 4, 1, None), "4.0.0");
        assert_eq!(code(5, 6, 0, None), "5.0.0");
    }
}
