//! Names in their one normalised form: lower case, no trailing dot, IDN as A-labels. Every
//! comparison in the directory happens on these forms, so `EXAMPLE.com.`, `example.com`,
//! `Müller.test` and `xn--mller-kva.test` can never be two different domains (nor a way
//! around relay control): U-labels are converted with UTS #46 (the `idna` crate, strict STD3
//! rules) before anything else looks at them.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::DirectoryError;

/// Longest domain name in presentation form (RFC 1035 2.3.4 less the root dot).
const DOMAIN_BYTES_MAX: usize = 253;
const LABEL_BYTES_MAX: usize = 63;
/// RFC 5321 4.5.3.1.1.
const LOCAL_PART_BYTES_MAX: usize = 64;

/// Why a text is not a domain name; the caller attaches the field name.
fn domain_problem(text: &str) -> Option<String> {
    if text.is_empty() {
        return Some("empty".into());
    }
    if text.starts_with('[') || text.parse::<std::net::IpAddr>().is_ok() {
        return Some("an IP address is not a domain name".into());
    }
    if !text.is_ascii() {
        return Some("not a valid internationalised domain name (IDNA 2008 / UTS #46)".into());
    }
    if text.len() > DOMAIN_BYTES_MAX {
        return Some(format!("longer than {DOMAIN_BYTES_MAX} characters"));
    }
    let labels: Vec<&str> = text.split('.').collect();
    if labels.len() < 2 {
        return Some("needs at least two labels (e.g. example.com)".into());
    }
    labels.iter().find_map(|label| label_problem(label)).or_else(|| {
        let top = labels.last().copied().unwrap_or_default();
        top.bytes().all(|b| b.is_ascii_digit()).then(|| "the top-level label cannot be numeric".into())
    })
}

fn label_problem(label: &str) -> Option<String> {
    if label.is_empty() {
        return Some("empty label (two dots in a row, or a leading dot)".into());
    }
    if label.len() > LABEL_BYTES_MAX {
        return Some(format!("label {label:?} is longer than {LABEL_BYTES_MAX} characters"));
    }
    if !label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        return Some(format!("label {label:?} may hold only letters, digits and hyphens"));
    }
    if label.len() == 4 && label.starts_with("xn--") {
        return Some(format!("label {label:?} is an empty punycode label"));
    }
    if label.starts_with('-') || label.ends_with('-') {
        return Some(format!("label {label:?} cannot start or end with a hyphen"));
    }
    None
}

/// Lower case, without the one trailing dot that marks an absolute name, and with U-labels
/// turned into A-labels. A name `idna` cannot convert is returned as it was (non-ASCII), so
/// [`domain_problem`] refuses it.
fn normal_form(text: &str) -> String {
    let trimmed = text.trim();
    let trimmed = trimmed.strip_suffix('.').unwrap_or(trimmed);
    if trimmed.is_ascii() {
        return trimmed.to_ascii_lowercase();
    }
    idna::domain_to_ascii_strict(trimmed).unwrap_or_else(|_| trimmed.to_string())
}

/// A domain name in normalised form (lower case, no trailing dot, A-labels only).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DomainName(String);

impl DomainName {
    /// Validates `text`; errors name `field`.
    pub fn parse(field: &'static str, text: &str) -> Result<DomainName, DirectoryError> {
        let normal = normal_form(text);
        match domain_problem(&normal) {
            None => Ok(DomainName(normal)),
            Some(reason) => Err(DirectoryError::invalid(field, text, reason)),
        }
    }

    /// The normalised form of a domain received on the wire (any case, a trailing dot,
    /// U-labels under SMTPUTF8), or `None` when it cannot be a domain the directory knows
    /// (address literal, syntax, an invalid IDN).
    pub fn for_lookup(text: &str) -> Option<DomainName> {
        let normal = normal_form(text);
        domain_problem(&normal).is_none().then_some(DomainName(normal))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The name without its left-most label (`a.b.c` -> `b.c`), if that still has two labels.
    pub fn parent(&self) -> Option<DomainName> {
        let (_, rest) = self.0.split_once('.')?;
        rest.contains('.').then(|| DomainName(rest.to_string()))
    }

    /// Whether `self` is `other` or a sub-domain of it.
    pub fn is_within(&self, other: &DomainName) -> bool {
        self.0 == other.0
            || (self.0.len() > other.0.len()
                && self.0.ends_with(&other.0)
                && self.0.as_bytes()[self.0.len() - other.0.len() - 1] == b'.')
    }
}

impl fmt::Display for DomainName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for DomainName {
    type Error = DirectoryError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        DomainName::parse("domain", &s)
    }
}

impl From<DomainName> for String {
    fn from(d: DomainName) -> String {
        d.0
    }
}

/// A tenant id: one DNS label (it names the initial service domain `<id>.<service domain>`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TenantId(String);

impl TenantId {
    pub fn parse(text: &str) -> Result<TenantId, DirectoryError> {
        let normal = text.trim().to_ascii_lowercase();
        let problem = label_problem(&normal);
        match problem {
            None if !normal.starts_with("xn--") => Ok(TenantId(normal)),
            None => Err(DirectoryError::invalid("tenant.id", text, "cannot start with xn--")),
            Some(reason) => Err(DirectoryError::invalid(
                "tenant.id",
                text,
                format!("{reason}; a tenant id is one DNS label (letters, digits, hyphens, at most 63)"),
            )),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The tenant's initial service domain under the deployment's service domain.
    pub fn service_domain(&self, service_domain: &DomainName) -> Result<DomainName, DirectoryError> {
        DomainName::parse("tenant.service_domain", &format!("{}.{}", self.0, service_domain))
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for TenantId {
    type Error = DirectoryError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        TenantId::parse(&s)
    }
}

impl From<TenantId> for String {
    fn from(t: TenantId) -> String {
        t.0
    }
}

/// A name a TLS client certificate must carry (subject CN or SAN DNS name): exact, or with
/// a wildcard standing for exactly one left-most label (`*.mail.example.com` matches
/// `mx1.mail.example.com`, not `mail.example.com` nor `a.b.mail.example.com`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum CertName {
    Exact(DomainName),
    /// The part after `*.`.
    Wildcard(DomainName),
}

impl CertName {
    pub fn parse(text: &str) -> Result<CertName, DirectoryError> {
        const FIELD: &str = "connector.certificate_name";
        let trimmed = text.trim();
        if let Some(rest) = trimmed.strip_prefix("*.") {
            if rest.contains('*') {
                return Err(DirectoryError::invalid(FIELD, text, "only the left-most label may be `*`"));
            }
            return DomainName::parse(FIELD, rest).map(CertName::Wildcard);
        }
        if trimmed.contains('*') {
            return Err(DirectoryError::invalid(
                FIELD,
                text,
                "a wildcard must be a whole left-most label, as in *.mail.example.com",
            ));
        }
        DomainName::parse(FIELD, trimmed).map(CertName::Exact)
    }
}

impl fmt::Display for CertName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CertName::Exact(d) => write!(f, "{d}"),
            CertName::Wildcard(d) => write!(f, "*.{d}"),
        }
    }
}

/// A local part that can name a recipient: lower case, dot-atom characters a mailbox may
/// have. Routing characters (`%`, `!`, `@`), quotes and slashes are refused, so a stored
/// recipient can never be a relay path nor a Maildir path outside its folder.
pub fn normalise_local_part(field: &'static str, text: &str) -> Result<String, DirectoryError> {
    let name = text.trim().to_lowercase();
    let reason = if name.is_empty() {
        Some("empty")
    } else if name.len() > LOCAL_PART_BYTES_MAX {
        Some("longer than 64 bytes")
    } else if name.starts_with('.') || name.ends_with('.') || name.contains("..") {
        Some("dots must separate words (no leading, trailing or double dot)")
    } else if !name.chars().all(|c| c.is_alphanumeric() || "._+-=".contains(c)) {
        Some("only letters, digits and . _ + - = are allowed")
    } else {
        None
    };
    match reason {
        None => Ok(name),
        Some(r) => Err(DirectoryError::invalid(field, text, r)),
    }
}

/// A bounce language tag such as `en`, `fr` or `fr-CA`.
pub fn validate_language(text: &str) -> Result<String, DirectoryError> {
    let mut parts = text.split('-');
    let primary = parts.next().unwrap_or_default();
    let primary_ok = (2..=3).contains(&primary.len()) && primary.bytes().all(|b| b.is_ascii_alphabetic());
    let rest_ok = parts.all(|p| (2..=8).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphanumeric()));
    if primary_ok && rest_ok {
        Ok(text.to_string())
    } else {
        Err(DirectoryError::invalid(
            "tenant.language",
            text,
            "expected a language tag such as en, fr or fr-CA",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(r: Result<impl fmt::Debug, DirectoryError>) -> String {
        match r {
            Err(DirectoryError::Invalid { reason, .. }) => reason,
            other => panic!("expected Invalid, got {other:?}"),
        }
    }

    #[test]
    fn domains_are_normalised() {
        let d = DomainName::parse("domain.name", " Example.COM. ").unwrap();
        assert_eq!(d.as_str(), "example.com");
        assert_eq!(DomainName::parse("d", "xn--mnchen-3ya.de").unwrap().as_str(), "xn--mnchen-3ya.de");
    }

    /// One domain whatever form it is written in: U-labels (any case) become A-labels.
    #[test]
    fn idn_u_labels_and_a_labels_are_one_domain() {
        let a_label = DomainName::parse("d", "xn--mller-kva.test").unwrap();
        for form in ["müller.test", "MÜLLER.test", "Müller.Test.", "XN--MLLER-KVA.TEST"] {
            assert_eq!(DomainName::parse("d", form).unwrap(), a_label, "{form}");
            assert_eq!(DomainName::for_lookup(form), Some(a_label.clone()), "{form}");
        }
        assert_eq!(DomainName::parse("d", "münchen.de").unwrap().as_str(), "xn--mnchen-3ya.de");
        // Not a valid IDN (a label of symbols only, STD3 rules): refused, naming why.
        assert!(reason(DomainName::parse("d", "☃_x.test")).contains("internationalised"));
        assert_eq!(DomainName::for_lookup("a b.tëst"), None);
    }

    #[test]
    fn bad_domains_name_the_problem() {
        assert!(reason(DomainName::parse("d", "[1.2.3.4]")).contains("IP address"));
        assert!(reason(DomainName::parse("d", "1.2.3.4")).contains("IP address"));
        assert!(reason(DomainName::parse("d", "localhost")).contains("two labels"));
        assert!(reason(DomainName::parse("d", "a..b")).contains("empty label"));
        assert!(reason(DomainName::parse("d", "-a.b")).contains("hyphen"));
        assert!(reason(DomainName::parse("d", "a_b.c")).contains("letters"));
        assert!(reason(DomainName::parse("d", "xn--.c")).contains("punycode"));
        assert!(reason(DomainName::parse("d", "a.123")).contains("numeric"));
        let long = format!("{}.com", "a".repeat(64));
        assert!(reason(DomainName::parse("d", &long)).contains("63"));
        match DomainName::parse("domain.name", "x") {
            Err(DirectoryError::Invalid { field, value, .. }) => {
                assert_eq!((field, value.as_str()), ("domain.name", "x"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn sub_domains() {
        let parent = DomainName::parse("d", "example.com").unwrap();
        let child = DomainName::parse("d", "a.example.com").unwrap();
        let other = DomainName::parse("d", "badexample.com").unwrap();
        assert!(child.is_within(&parent));
        assert!(parent.is_within(&parent));
        assert!(!other.is_within(&parent));
        assert_eq!(child.parent(), Some(parent.clone()));
        assert_eq!(parent.parent(), None);
    }

    #[test]
    fn tenant_ids_are_labels() {
        assert_eq!(TenantId::parse("Acme-1").unwrap().as_str(), "acme-1");
        assert_eq!(TenantId::parse("a").unwrap().as_str(), "a");
        assert!(TenantId::parse("a.b").is_err());
        assert!(TenantId::parse("").is_err());
        assert!(TenantId::parse("-a").is_err());
        let svc = DomainName::parse("d", "sluice.example").unwrap();
        assert_eq!(
            TenantId::parse("acme").unwrap().service_domain(&svc).unwrap().as_str(),
            "acme.sluice.example"
        );
    }

    #[test]
    fn cert_names() {
        assert_eq!(
            CertName::parse("*.Mail.Example.com").unwrap(),
            CertName::Wildcard(DomainName::parse("d", "mail.example.com").unwrap())
        );
        assert!(reason(CertName::parse("mx*.example.com")).contains("whole left-most label"));
        assert!(reason(CertName::parse("*.*.example.com")).contains("left-most"));
        assert_eq!(CertName::parse("*.mail.example.com").unwrap().to_string(), "*.mail.example.com");
    }

    #[test]
    fn local_parts() {
        assert_eq!(normalise_local_part("r", "Bob.Smith+x").unwrap(), "bob.smith+x");
        for bad in ["", "a%b", "a!b", "\"a@b\"", "a/b", ".a", "a.", "a..b", "a@b"] {
            assert!(normalise_local_part("r", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn languages() {
        assert!(validate_language("en").is_ok());
        assert!(validate_language("fr-CA").is_ok());
        assert!(validate_language("english").is_err());
        assert!(validate_language("").is_err());
    }
}
