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

pub(crate) fn unregistered_domain(tenant: &str, sender: &str, allowance: u32) -> Verdict {
    let domain = domain_of(sender);
    Verdict::new(
        550,
        (5, 7, 750),
        format!(
            "Sender domain {domain} is not a verified domain of tenant {tenant}, and the tenant's allowance of \
             {allowance} messages a day from unregistered domains is used up; send from a verified domain, or the \
             tenant's administrator must add and verify this one (sluice domain add {domain} --tenant {tenant}, \
             then sluice domain verify {domain})"
        ),
    )
}

pub(crate) fn service_domain_limit(tenant: &str, sender: &str, limit: u32) -> Verdict {
    let domain = domain_of(sender);
    Verdict::new(
        550,
        (5, 7, 751),
        format!(
            "Tenant {tenant} has reached the limit of {limit} recipients a day for mail from its initial service \
             domain {domain}; the tenant's administrator must add and verify a custom domain (sluice domain add \
             <domain> --tenant {tenant}, then sluice domain verify <domain>) and send from it"
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
    let sender = display_address(sender);
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

/// An address as quoted in a reply: control characters replaced, at most 100 characters,
/// so remote input can neither break the reply line nor make it overlong.
fn display_address(address: &str) -> String {
    const CHARS_MAX: usize = 100;
    let mut out: String =
        address.chars().take(CHARS_MAX).map(|c| if c.is_control() { '?' } else { c }).collect();
    if address.chars().count() > CHARS_MAX {
        out.push_str("...");
    }
    out
}

fn domain_of(sender: &str) -> String {
    match sender.rsplit_once('@') {
        Some((_, domain)) if !domain.is_empty() => display_address(&domain.to_ascii_lowercase()),
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
                unregistered_domain("acme", "Ann@Shop.Example", 10),
                "550 5.7.750 Sender domain shop.example is not a verified domain of tenant acme, and the tenant's allowance of 10 messages a day from unregistered domains is used up; send from a verified domain, or the tenant's administrator must add and verify this one (sluice domain add shop.example --tenant acme, then sluice domain verify shop.example)",
            ),
            (
                service_domain_limit("acme", "ann@acme.sluice.example", 100),
                "550 5.7.751 Tenant acme has reached the limit of 100 recipients a day for mail from its initial service domain acme.sluice.example; the tenant's administrator must add and verify a custom domain (sluice domain add <domain> --tenant acme, then sluice domain verify <domain>) and send from it",
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
        assert_eq!(display_address("a\r\nb@x"), "a??b@x");
        let long = format!("{}@x.example", "a".repeat(300));
        assert_eq!(display_address(&long).len(), 103);
        assert_eq!(domain_of(""), "(none)");
        assert_eq!(domain_of("a@"), "(none)");
        assert_eq!(domain_of("\"a@b\"@C.example"), "c.example");
    }
}
