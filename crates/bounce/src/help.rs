//! Help texts, one page per problem that Sluice's replies and bounces can name, and the
//! choice of page for a reply by its meaning. The bounce quotes the page and links to
//! `<admin base URL>/help/<code>`; the admin center serves the same pages through [`help`].
//!
//! A page is named after the status code when the code alone says what happened (`5.1.1`,
//! `5.7.705`), after Sluice's throttling token (`AS501`), or after a meaning that many
//! codes share (`spam`, `blocklisted`, `auth-failed`, `throttled`, `policy`): a remote
//! `550 5.7.1` may be a relay refusal, a DMARC failure, spam or a blocklist listing, and
//! each needs different advice.

use crate::lang::{Catalog, Lang};
use crate::report::{ProblemKind, RecipientReport};
use smtp_wire::EnhancedCode;

/// Every page, in the order the admin center lists them. Each needs
/// `help-<code with dots as dashes>-{title,why,sender,admin}` in every locale file; a test
/// checks that.
pub const HELP_CODES: &[&str] = &[
    // Sluice's own replies to sending servers.
    "AS501",
    "AS502",
    "AS503",
    "AS504",
    "AS505",
    "5.7.705",
    "5.7.708",
    "5.7.750",
    "5.7.751",
    "4.7.752",
    "5.7.509",
    "5.7.510",
    "5.7.520",
    "scanner-unavailable",
    "5.7.51",
    "5.7.1",
    "5.1.1",
    "5.1.3",
    "5.2.1",
    "4.2.1",
    "5.7.10",
    "5.3.4",
    "4.3.0",
    "5.4.6",
    // An administrator removed the message from Sluice's queue.
    "5.3.0",
    // What a recipient's server answered, by meaning.
    "5.2.2",
    "auth-failed",
    "spam",
    "blocklisted",
    "throttled",
    "policy",
    // What Sluice found delivering.
    "5.1.2",
    "5.1.10",
    "4.4.1",
    "4.4.3",
    "4.4.4",
    "4.4.7",
    // Anything else, by class.
    "4.0.0",
    "5.0.0",
];

/// Pages whose code says everything: a reply with exactly this code gets this page
/// whatever its wording. `5.7.1` is missing on purpose (it is used for relay refusals,
/// DMARC failures, spam and blocklists alike), and so is `4.2.1`: Sluice's page is about its
/// own reply (a suspended tenant), while another server's 4.2.1 is any disabled mailbox.
const EXACT_CODES: &[&str] = &[
    "5.7.705", "5.7.708", "5.7.750", "5.7.751", "4.7.752", "5.7.509", "5.7.510", "5.7.520", "5.7.51",
    "5.1.1", "5.1.3", "5.2.1", "5.7.10", "5.3.4", "5.4.6", "5.2.2", "5.1.2", "5.1.10", "4.4.7",
];

/// The four parts of a help page.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HelpText {
    /// The page's code as used in its path, e.g. `5.7.705`, `AS501` or `spam`.
    pub code: &'static str,
    /// A short name of the problem.
    pub title: String,
    /// What happened ("Why did I get this?").
    pub why: String,
    /// What the sender does.
    pub sender: String,
    /// What the sender's email admin does. Never an operator command: tenant admins read it.
    pub admin: String,
    /// What the admin of the organisation the mail was for does, on the pages of Sluice's own
    /// throttling ([`RECIPIENT_HELP_CODES`]): check that a throttled sender is legitimate,
    /// then give it a connector. Never an operator command either.
    pub recipient_admin: Option<String>,
}

/// The pages with a part for the receiving organisation's admin: Sluice's throttling tokens,
/// which a tenant's admin can lift for a sender it trusts.
pub const RECIPIENT_HELP_CODES: &[&str] = &["AS501", "AS502", "AS503", "AS504", "AS505"];

/// The help page `code` (one of [`HELP_CODES`], matched case-insensitively) in `lang`.
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
        recipient_admin: match RECIPIENT_HELP_CODES.contains(&code) {
            true => Some(catalog.text(&format!("{id}-recipient"), &[])?),
            false => None,
        },
    })
}

/// The Fluent message id prefix of a page: Fluent ids cannot contain dots.
pub(crate) fn message_id(code: &str) -> String {
    format!("help-{}", code.replace('.', "-"))
}

/// The page for a reply with enhanced `status` and `text` (the whole reply, e.g.
/// `550 5.7.1 Message rejected due to DMARC policy`), chosen by meaning: a throttling
/// token first, then a code that says everything, then recognised wording (relaying,
/// DMARC/SPF/DKIM, blocklists, spam, unknown users, full mailboxes, size, TLS, rate
/// limits), then the code's family, so every reply links to some page.
pub fn help_code_for(status: EnhancedCode, text: Option<&str>) -> &'static str {
    let lower = text.unwrap_or("").to_ascii_lowercase();
    if let Some(token) = as_token(&lower) {
        return token;
    }
    let exact = status.to_string();
    if exact == "4.2.1" && lower.contains("organisation is suspended") {
        return "4.2.1";
    }
    if let Some(code) = EXACT_CODES.iter().find(|c| **c == exact) {
        return code;
    }
    if let Some(code) = by_wording(&lower) {
        return code;
    }
    by_family(status)
}

/// The page for a reply given as text only (`451 4.7.501 ... (AS501)`): the enhanced code
/// is read from the text, else derived from the basic code.
pub fn help_code_for_reply(text: &str) -> &'static str {
    help_code_for(status_in(text), Some(text))
}

/// The enhanced code a reply text carries after its basic code, else one derived from the
/// basic code (`5.0.0`, `4.0.0`).
fn status_in(text: &str) -> EnhancedCode {
    let mut words = text.split_ascii_whitespace();
    let basic = words.next().and_then(|w| w.get(..3)).and_then(|c| c.parse::<u16>().ok()).unwrap_or(0);
    let parse = |word: &str| -> Option<EnhancedCode> {
        let mut parts = word.split('.');
        let class = parts.next()?.parse().ok()?;
        let subject = parts.next()?.parse().ok()?;
        let detail = parts.next()?.parse().ok()?;
        (parts.next().is_none() && matches!(class, 2 | 4 | 5))
            .then(|| EnhancedCode::new(class, subject, detail))
    };
    words.next().and_then(parse).unwrap_or(match basic {
        500..=599 => EnhancedCode::new(5, 0, 0),
        _ => EnhancedCode::new(4, 0, 0),
    })
}

/// The page a recipient's report links to, or `None` for deliveries. An expired recipient
/// gets the page of its last reply when that reply says something specific (a throttling
/// receiver, a blocklist), else the expiry page; Sluice's own findings have their pages.
pub(crate) fn help_code_for_report(report: &RecipientReport) -> Option<&'static str> {
    if !matches!(report.action, crate::Action::Failed | crate::Action::Delayed) {
        return None;
    }
    let by_reply = report.reply.as_ref().map(|r| help_code_for(r.status, Some(&r.text)));
    let by_problem = report.problem.as_ref().map(|p| problem_page(p.kind));
    let page = if report.expired {
        by_reply.filter(|page| is_specific(page)).unwrap_or("4.4.7")
    } else {
        // A reply from this attempt is the reply; an earlier one only explains a paused or
        // unreachable attempt when it says something specific.
        match (report.problem.as_ref(), by_reply) {
            (None, Some(page)) => page,
            (Some(_), Some(page)) if is_specific(page) => page,
            (_, _) => by_problem.unwrap_or_else(|| by_family(report.status)),
        }
    };
    Some(page)
}

/// The page for one of Sluice's own findings.
fn problem_page(kind: ProblemKind) -> &'static str {
    match kind {
        ProblemKind::ConnectionRefused
        | ProblemKind::TimedOut
        | ProblemKind::Unreachable
        | ProblemKind::ConnectionLost
        | ProblemKind::ProtocolError
        | ProblemKind::NoAddress => "4.4.1",
        ProblemKind::TlsFailed | ProblemKind::TlsNotOffered => "5.7.10",
        ProblemKind::DnsFailed => "4.4.3",
        ProblemKind::NullMx => "5.1.10",
        ProblemKind::NoSuchDomain => "5.1.2",
        ProblemKind::UnknownRecipient => "5.1.1",
        ProblemKind::NoTenantRoute => "4.4.4",
        ProblemKind::LocalDelivery | ProblemKind::SpoolUnreadable | ProblemKind::Internal => "4.3.0",
        ProblemKind::DestinationPaused { .. } => "throttled",
        ProblemKind::RemovedByAdministrator => "5.3.0",
    }
}

/// Whether a page explains a particular cause rather than a class of errors.
fn is_specific(page: &str) -> bool {
    !matches!(page, "4.0.0" | "5.0.0" | "4.3.0")
}

/// The known `ASnnn` token that a (lower-case) reply names in parentheses; another
/// service's token, or an `X.7.5xx`-`X.7.6xx` throttling code, is the generic page.
fn as_token(lower: &str) -> Option<&'static str> {
    let known = HELP_CODES
        .iter()
        .filter(|code| code.starts_with("AS"))
        .find(|code| lower.contains(&format!("({})", code.to_ascii_lowercase())));
    if known.is_some() {
        return known.copied();
    }
    let foreign = lower.match_indices("(as").any(|(i, _)| {
        let rest = &lower[i + 3..];
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        digits >= 3 && rest.as_bytes().get(digits) == Some(&b')')
    });
    foreign.then_some("throttled")
}

/// Wording that names the cause, in the order a reply is most likely meant: a blocklist
/// reply often says "spam" (Spamhaus), a DMARC reply often says "rejected".
fn by_wording(lower: &str) -> Option<&'static str> {
    const TABLE: &[(&str, &[&str])] = &[
        (
            "5.7.1",
            &[
                "relay access denied",
                "relaying denied",
                "relay not permitted",
                "not permitted to relay",
                "unable to relay",
                "relaying not allowed",
                "relay denied",
            ],
        ),
        (
            "auth-failed",
            &[
                "dmarc",
                "spf",
                "dkim",
                "unauthenticated",
                "authentication check",
                "not authenticated",
                "sender authentication",
            ],
        ),
        (
            "blocklisted",
            &[
                "blocklist",
                "blacklist",
                "block list",
                "black list",
                "blocked using",
                "listed at",
                "listed in",
                "listed on",
                "listed by",
                "dnsbl",
                " rbl",
                "spamhaus",
                "spamcop",
                "barracuda",
                "poor reputation",
                "bad reputation",
                "low reputation",
                "ip reputation",
            ],
        ),
        (
            "spam",
            &[
                "spam",
                "unsolicited",
                "junk",
                "bulk mail",
                "virus",
                "malware",
                "phish",
                "content rejected",
                "message content",
                "content filter",
                "suspicious",
            ],
        ),
        (
            "5.1.1",
            &[
                "user unknown",
                "unknown user",
                "no such user",
                "does not exist",
                "unknown recipient",
                "recipient not found",
                "invalid recipient",
                "no mailbox",
                "mailbox not found",
                "mailbox unavailable",
                "address unknown",
            ],
        ),
        (
            "5.2.2",
            &[
                "mailbox full",
                "mailbox is full",
                "over quota",
                "quota exceeded",
                "exceeded storage",
                "insufficient storage",
                "out of storage",
                "storage quota",
            ],
        ),
        (
            "5.3.4",
            &[
                "too big",
                "too large",
                "size exceeds",
                "exceeds the maximum",
                "exceeds size",
                "message size",
                "size limit",
            ],
        ),
        (
            "5.7.10",
            &[
                "starttls",
                "tls required",
                "requires tls",
                "encryption required",
                "must use tls",
                "tls is required",
            ],
        ),
        (
            "throttled",
            &[
                "rate limit",
                "ratelimit",
                "rate-limit",
                "throttl",
                "too many messages",
                "too many connections",
                "slow down",
                "sending rate",
                "too fast",
                "temporarily deferred due to",
                "try again later from",
            ],
        ),
    ];
    TABLE.iter().find(|(_, words)| words.iter().any(|w| lower.contains(w))).map(|(page, _)| *page)
}

/// The page of a code's family, so that every status links somewhere.
fn by_family(status: EnhancedCode) -> &'static str {
    match (status.class, status.subject, status.detail) {
        (_, 2, 2) => "5.2.2",
        (_, 2, 3) | (_, 3, 4) => "5.3.4",
        (_, 4, 7) => "4.4.7",
        (_, 7, 500..=699) => "throttled",
        (_, 7, 23..=27) => "auth-failed",
        (_, 7, _) => "policy",
        (4, _, _) => "4.0.0",
        _ => "5.0.0",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(c: u8, s: u16, d: u16, text: &str) -> &'static str {
        help_code_for(EnhancedCode::new(c, s, d), Some(text))
    }

    #[test]
    fn tokens_win_then_exact_codes_then_wording_then_families() {
        assert_eq!(code(4, 7, 501, "451 4.7.501 Deferred ... (AS501) Try again"), "AS501");
        assert_eq!(
            code(4, 7, 500, "451 4.7.500 Server busy. Please try again later from [192.0.2.1]. (AS843)"),
            "throttled"
        );
        assert_eq!(code(5, 7, 705, ""), "5.7.705");
        assert_eq!(
            code(4, 7, 752, "451 4.7.752 Sender <a@b.example> of tenant acme has reached its limit"),
            "4.7.752"
        );
        assert_eq!(code(5, 7, 1, "550 5.7.1 Relay access denied"), "5.7.1");
        assert_eq!(
            code(5, 7, 1, "550 5.7.1 Unauthenticated email is not accepted due to domain's DMARC policy"),
            "auth-failed"
        );
        assert_eq!(
            code(
                5,
                7,
                1,
                "554 5.7.1 Service unavailable; Client host [192.0.2.1] blocked using zen.spamhaus.org"
            ),
            "blocklisted"
        );
        assert_eq!(code(5, 7, 1, "554 5.7.1 Message rejected as spam"), "spam");
        assert_eq!(code(5, 7, 1, "550 5.7.1 Message refused by local policy"), "policy");
        assert_eq!(code(5, 0, 0, "552 Message size exceeds fixed maximum message size"), "5.3.4");
        assert_eq!(code(5, 0, 0, "550 Requested action not taken: mailbox unavailable"), "5.1.1");
        assert_eq!(code(4, 2, 2, "452 4.2.2 Over quota"), "5.2.2");
        assert_eq!(code(5, 7, 0, "530 5.7.0 Must issue a STARTTLS command first"), "5.7.10");
        assert_eq!(code(4, 7, 0, "421 4.7.0 Too many connections, slow down"), "throttled");
        assert_eq!(code(4, 4, 1, "no answer"), "4.0.0");
        assert_eq!(code(4, 3, 0, "451 4.3.0 try later"), "4.0.0");
        assert_eq!(code(5, 6, 0, "554 5.6.0 bad"), "5.0.0");
        assert_eq!(code(5, 7, 26, "550 5.7.26 Multiple authentication checks failed"), "auth-failed");
    }

    #[test]
    fn replies_given_as_text_find_their_code() {
        assert_eq!(help_code_for_reply("550 5.1.1 <bob@example.com>: Recipient address rejected"), "5.1.1");
        assert_eq!(help_code_for_reply("552 5.3.4 Message too big"), "5.3.4");
        assert_eq!(help_code_for_reply("451 4.7.505 Deferred (AS505) Try again in 10 minutes"), "AS505");
        assert_eq!(help_code_for_reply("554 no"), "5.0.0");
        assert_eq!(help_code_for_reply("garbage"), "4.0.0");
        assert_eq!(status_in("550 5.1.1x text"), EnhancedCode::new(5, 0, 0));
    }

    #[test]
    fn every_choice_names_a_page() {
        for page in EXACT_CODES {
            assert!(HELP_CODES.contains(page), "{page}");
        }
        for kind in ProblemKind::ALL {
            assert!(HELP_CODES.contains(&problem_page(kind)), "{kind:?}");
        }
    }
}
