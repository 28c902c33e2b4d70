//! Every refusal this crate produces, with its code and text in one place. Texts follow the
//! reply contract: what happened, who must act, what to do. They are consistent with the
//! help pages of the same codes in `crates/bounce/locales`.

use std::fmt;

/// How the sender domain of an outbound message relates to the tenant. The gateway finds
/// it in the directory (`Snapshot::sender_domain`); an added but unverified domain is
/// `Unregistered`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SenderDomainClass {
    /// One of the tenant's verified accepted domains (not its service domain).
    Verified,
    /// The tenant's initial service domain `<tenant>.<service domain>`.
    Service,
    /// Anything else: not added, or added and not verified.
    Unregistered,
    /// A domain another tenant of this service has verified: counted as `Unregistered`,
    /// but the refusal never suggests adding it (it is not this tenant's to add).
    OtherTenant,
}

impl SenderDomainClass {
    /// Whether a message from such a domain uses the tenant's daily allowance (`5.7.750`).
    pub fn uses_allowance(self) -> bool {
        matches!(self, SenderDomainClass::Unregistered | SenderDomainClass::OtherTenant)
    }
}

/// A refusal; the gateway turns it into an SMTP reply. Kept free of `smtp-wire` so this
/// crate stays a leaf, like `directory::Refusal`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    pub code: u16,
    /// RFC 3463 class, subject, detail.
    pub enhanced: (u8, u16, u16),
    pub text: String,
}

impl Verdict {
    fn new(code: u16, enhanced: (u8, u16, u16), text: String) -> Verdict {
        Verdict { code, enhanced, text }
    }

    pub fn is_permanent(&self) -> bool {
        self.code >= 500
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (class, subject, detail) = self.enhanced;
        write!(f, "{} {class}.{subject}.{detail} {}", self.code, self.text)
    }
}

/// Which sender rate limit was reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RatePeriod {
    Hour,
    Day,
}

/// `550 5.7.705` for a tenant the gateway's directory says is suspended.
pub fn suspended_tenant(tenant: &str) -> Verdict {
    let tenant = shown(tenant, TENANT_BYTES_MAX);
    Verdict::new(
        550,
        (5, 7, 705),
        format!(
            "Outbound mail of tenant {tenant} is blocked because the tenant is suspended; \
             the tenant's administrator must contact the service operator"
        ),
    )
}

pub(crate) fn tenant_tripped(tenant: &str) -> Verdict {
    let tenant = shown(tenant, TENANT_BYTES_MAX);
    Verdict::new(
        550,
        (5, 7, 705),
        format!(
            "Outbound mail of tenant {tenant} is blocked because the tenant sent too much spam or bulk mail; \
             the tenant's administrator must find and stop its source (compromised accounts, forms, scripts), \
             then ask the service operator to release the tenant"
        ),
    )
}

pub(crate) fn unregistered_domain(
    tenant: &str,
    sender: &str,
    allowance: u32,
    class: SenderDomainClass,
) -> Verdict {
    let tenant = shown(tenant, TENANT_BYTES_MAX);
    let domain = domain_of(sender);
    let text = match class {
        SenderDomainClass::OtherTenant => format!(
            "Sender domain {domain} belongs to another organisation on this service, so tenant {tenant} may send \
             from it only its daily allowance of {allowance} messages from domains that are not its own, and that \
             is used up; send from one of the tenant's own verified domains"
        ),
        _ => format!(
            "Sender domain {domain} is not verified for tenant {tenant} and its daily allowance of {allowance} \
             messages from unverified domains is used up; send from a verified domain, or the tenant's \
             administrator must add and verify the domain in the admin center"
        ),
    };
    Verdict::new(550, (5, 7, 750), text)
}

pub(crate) fn service_domain_limit(tenant: &str, sender: &str, limit: u32) -> Verdict {
    let tenant = shown(tenant, TENANT_BYTES_MAX);
    let domain = domain_of(sender);
    Verdict::new(
        550,
        (5, 7, 751),
        format!(
            "Tenant {tenant} has reached the limit of {limit} recipients a day for mail from its initial service \
             domain {domain}; the tenant's administrator must add and verify a custom domain in the admin center \
             and send from it"
        ),
    )
}

pub(crate) fn sender_rate_limit(
    tenant: &str,
    sender: &str,
    limit: u32,
    period: RatePeriod,
    frees_in_s: u64,
) -> Verdict {
    let tenant = shown(tenant, TENANT_BYTES_MAX);
    let sender = shown(sender, ADDRESS_BYTES_MAX);
    let period = match period {
        RatePeriod::Hour => "hour",
        RatePeriod::Day => "24 hours",
    };
    let wait = wait_text(frees_in_s);
    Verdict::new(
        451,
        (4, 7, 752),
        format!(
            "Sender <{sender}> of tenant {tenant} has reached its limit of {limit} recipients per {period}; \
             more are accepted in {wait}, and the sending server should retry then; if this sender must send more, \
             the tenant's administrator should spread the mail over time or ask the service operator to raise the limit"
        ),
    )
}

/// "about N minutes" up to two hours, then "about N hours", always rounded up.
fn wait_text(seconds: u64) -> String {
    let minutes = seconds.div_ceil(60).max(1);
    match minutes {
        1 => "about 1 minute".to_string(),
        m if m <= 120 => format!("about {m} minutes"),
        m => format!("about {} hours", m.div_ceil(60)),
    }
}

/// RFC 5321 4.5.3.1.5: a reply line is at most 512 octets, CRLF included.
#[cfg(test)]
pub(crate) const REPLY_LINE_BYTES_MAX: usize = 512;
/// A tenant id is one DNS label.
const TENANT_BYTES_MAX: usize = 63;
/// How much of a remote address or domain a reply quotes.
const ADDRESS_BYTES_MAX: usize = 100;

/// Remote text as quoted in a reply: control characters replaced and cut to `bytes_max`
/// bytes (on a character boundary, marked `...`), so it can neither break the reply line
/// nor make it overlong.
fn shown(text: &str, bytes_max: usize) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if out.len() + c.len_utf8() > bytes_max {
            out.push_str("...");
            break;
        }
        out.push(if c.is_control() { '?' } else { c });
    }
    out
}

fn domain_of(sender: &str) -> String {
    match sender.rsplit_once('@') {
        Some((_, domain)) if !domain.is_empty() => shown(&domain.to_ascii_lowercase(), ADDRESS_BYTES_MAX),
        _ => "(none)".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every text exactly, so a change to what senders read is a visible diff.
    #[test]
    fn every_verdict_text() {
        let cases = [
            (
                suspended_tenant("acme"),
                "550 5.7.705 Outbound mail of tenant acme is blocked because the tenant is suspended; the tenant's administrator must contact the service operator",
            ),
            (
                tenant_tripped("acme"),
                "550 5.7.705 Outbound mail of tenant acme is blocked because the tenant sent too much spam or bulk mail; the tenant's administrator must find and stop its source (compromised accounts, forms, scripts), then ask the service operator to release the tenant",
            ),
            (
                unregistered_domain("acme", "Ann@Shop.Example", 10, SenderDomainClass::Unregistered),
                "550 5.7.750 Sender domain shop.example is not verified for tenant acme and its daily allowance of 10 messages from unverified domains is used up; send from a verified domain, or the tenant's administrator must add and verify the domain in the admin center",
            ),
            (
                unregistered_domain("acme", "ann@globex.example", 10, SenderDomainClass::OtherTenant),
                "550 5.7.750 Sender domain globex.example belongs to another organisation on this service, so tenant acme may send from it only its daily allowance of 10 messages from domains that are not its own, and that is used up; send from one of the tenant's own verified domains",
            ),
            (
                service_domain_limit("acme", "ann@acme.sluice.example", 100),
                "550 5.7.751 Tenant acme has reached the limit of 100 recipients a day for mail from its initial service domain acme.sluice.example; the tenant's administrator must add and verify a custom domain in the admin center and send from it",
            ),
            (
                sender_rate_limit("acme", "ann@acme.example", 1000, RatePeriod::Hour, 601),
                "451 4.7.752 Sender <ann@acme.example> of tenant acme has reached its limit of 1000 recipients per hour; more are accepted in about 11 minutes, and the sending server should retry then; if this sender must send more, the tenant's administrator should spread the mail over time or ask the service operator to raise the limit",
            ),
            (
                sender_rate_limit("acme", "ann@acme.example", 10000, RatePeriod::Day, 5 * 3600),
                "451 4.7.752 Sender <ann@acme.example> of tenant acme has reached its limit of 10000 recipients per 24 hours; more are accepted in about 5 hours, and the sending server should retry then; if this sender must send more, the tenant's administrator should spread the mail over time or ask the service operator to raise the limit",
            ),
        ];
        for (verdict, expected) in cases {
            assert_eq!(verdict.is_permanent(), verdict.code == 550);
            assert_eq!(verdict.to_string(), expected);
        }
    }

    #[test]
    fn waits_round_up_and_remote_text_is_tamed() {
        assert_eq!(wait_text(0), "about 1 minute");
        assert_eq!(wait_text(61), "about 2 minutes");
        assert_eq!(wait_text(7200), "about 120 minutes");
        assert_eq!(wait_text(7201), "about 3 hours");
        assert_eq!(shown("a\r\nb@x", 100), "a??b@x");
        assert_eq!(shown(&"a".repeat(300), 100).len(), 103);
        assert_eq!(shown(&"é".repeat(300), 100), format!("{}...", "é".repeat(50)));
        assert_eq!(domain_of(""), "(none)");
        assert_eq!(domain_of("a@"), "(none)");
        assert_eq!(domain_of("\"a@b\"@C.example"), "c.example");
    }

    /// The longest inputs still give one reply line within RFC 5321's 512 octets.
    #[test]
    fn every_reply_line_fits_the_smtp_limit_whatever_the_input() {
        let tenant = "t".repeat(63);
        let long_tenant = "t".repeat(500);
        let sender = format!("{}@{}", "é".repeat(120), "d".repeat(250));
        let medium = format!("ann@{}.example", "d".repeat(30));
        for tenant in [&tenant, &long_tenant] {
            for sender in [&sender, &medium, &"ann@x.example".to_string()] {
                let verdicts = [
                    suspended_tenant(tenant),
                    tenant_tripped(tenant),
                    unregistered_domain(tenant, sender, u32::MAX, SenderDomainClass::Unregistered),
                    unregistered_domain(tenant, sender, u32::MAX, SenderDomainClass::OtherTenant),
                    service_domain_limit(tenant, sender, u32::MAX),
                    sender_rate_limit(tenant, sender, u32::MAX, RatePeriod::Day, u64::MAX),
                    sender_rate_limit(tenant, sender, u32::MAX, RatePeriod::Hour, 3_600),
                ];
                for v in verdicts {
                    let line = format!("{v}\r\n");
                    assert!(line.len() <= REPLY_LINE_BYTES_MAX, "{} bytes: {line}", line.len());
                }
            }
        }
        // No reply names an operator command.
        assert!(
            !unregistered_domain(&tenant, &medium, 10, SenderDomainClass::Unregistered)
                .text
                .contains("sluice")
        );
    }
}
