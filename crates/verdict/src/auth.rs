//! The results of sender authentication, in the words of RFC 8601's registry (`pass`,
//! `fail`, `softfail`, ...): what the gateway's DNS edge found, independent of the library
//! that found it.

use std::fmt;

/// Texts from remote input kept in a result (domains, selectors, reasons) are cut to this.
pub const RESULT_TEXT_BYTES_MAX: usize = 255;

/// SPF (RFC 7208 2.6).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SpfResult {
    Pass,
    Fail,
    SoftFail,
    Neutral,
    None,
    TempError,
    PermError,
}

/// Which identity SPF checked: the MAIL FROM domain, or the HELO name for the null sender
/// (RFC 7208 2.3, 2.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SpfScope {
    MailFrom,
    Helo,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpfCheck {
    pub result: SpfResult,
    pub scope: SpfScope,
    /// The identity checked: `local@domain` or the domain for MAIL FROM, the HELO name.
    pub identity: String,
    /// The domain whose policy was evaluated.
    pub domain: String,
}

/// One DKIM signature's result (RFC 8601 2.7.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DkimResult {
    Pass,
    Fail,
    Neutral,
    None,
    TempError,
    PermError,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DkimCheck {
    pub result: DkimResult,
    /// The signing domain (`d=`).
    pub domain: String,
    /// The selector (`s=`).
    pub selector: String,
    /// The first characters of the signature (`b=`), which tell signatures apart (RFC 6008).
    pub signature_prefix: String,
    /// Why it did not pass, in words.
    pub reason: Option<String>,
}

/// ARC (RFC 8617): the chain of custody's validation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArcResult {
    Pass,
    Fail,
    None,
    TempError,
    PermError,
}

/// DMARC (RFC 7489 11.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DmarcResult {
    Pass,
    Fail,
    None,
    TempError,
    PermError,
}

/// The policy the From domain publishes (`p=`, or `sp=` for a sub-domain), as applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DmarcPolicy {
    None,
    Quarantine,
    Reject,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DmarcCheck {
    pub result: DmarcResult,
    /// The RFC 5322 From domain (lower case), empty when the message has none.
    pub from_domain: String,
    /// The published policy; `None` when there is no record.
    pub policy: Option<DmarcPolicy>,
    /// Whether SPF passed for a domain aligned with the From domain.
    pub spf_aligned: bool,
    /// Whether a DKIM signature passed for a domain aligned with the From domain.
    pub dkim_aligned: bool,
}

/// Everything sender authentication found about one message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthResults {
    pub spf: SpfCheck,
    pub dkim: Vec<DkimCheck>,
    pub arc: ArcResult,
    pub dmarc: DmarcCheck,
    /// Why no verification was attempted (e.g. the lookups ran out of time), said in the
    /// header instead of results.
    pub skipped: Option<String>,
}

impl AuthResults {
    /// Whether the message authenticated as its From domain: DMARC passed, or, for a domain
    /// without a DMARC record, an aligned SPF or DKIM pass.
    pub fn from_domain_authenticated(&self) -> bool {
        self.dmarc.result == DmarcResult::Pass || self.dmarc.spf_aligned || self.dmarc.dkim_aligned
    }

    /// A one-line summary for the log and the trace: `spf=pass dkim=pass arc=none dmarc=pass`.
    pub fn summary(&self) -> String {
        if let Some(why) = &self.skipped {
            return format!("skipped ({why})");
        }
        let dkim = self.dkim.first().map_or(DkimResult::None, |d| d.result);
        let best = self.dkim.iter().find(|d| d.result == DkimResult::Pass).map_or(dkim, |d| d.result);
        format!("spf={} dkim={} arc={} dmarc={}", self.spf.result, best, self.arc, self.dmarc.result)
    }
}

impl fmt::Display for SpfResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SpfResult::Pass => "pass",
            SpfResult::Fail => "fail",
            SpfResult::SoftFail => "softfail",
            SpfResult::Neutral => "neutral",
            SpfResult::None => "none",
            SpfResult::TempError => "temperror",
            SpfResult::PermError => "permerror",
        })
    }
}

impl fmt::Display for DkimResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DkimResult::Pass => "pass",
            DkimResult::Fail => "fail",
            DkimResult::Neutral => "neutral",
            DkimResult::None => "none",
            DkimResult::TempError => "temperror",
            DkimResult::PermError => "permerror",
        })
    }
}

impl fmt::Display for ArcResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ArcResult::Pass => "pass",
            ArcResult::Fail => "fail",
            ArcResult::None => "none",
            ArcResult::TempError => "temperror",
            ArcResult::PermError => "permerror",
        })
    }
}

impl fmt::Display for DmarcResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DmarcResult::Pass => "pass",
            DmarcResult::Fail => "fail",
            DmarcResult::None => "none",
            DmarcResult::TempError => "temperror",
            DmarcResult::PermError => "permerror",
        })
    }
}

impl fmt::Display for DmarcPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DmarcPolicy::None => "none",
            DmarcPolicy::Quarantine => "quarantine",
            DmarcPolicy::Reject => "reject",
        })
    }
}

/// Whether `authenticated` (a domain that passed SPF or DKIM) is aligned with `from` under
/// relaxed alignment, approximated without the public suffix list: equal, or one under the
/// other. The gateway uses it only for a tenant's own domains, which are never public
/// suffixes.
pub fn relaxed_aligned(authenticated: &str, from: &str) -> bool {
    let (a, f) = (authenticated.trim_end_matches('.'), from.trim_end_matches('.'));
    if a.is_empty() || f.is_empty() {
        return false;
    }
    let under = |child: &str, parent: &str| {
        child.len() > parent.len()
            && child[..child.len() - parent.len()].ends_with('.')
            && child[child.len() - parent.len()..].eq_ignore_ascii_case(parent)
    };
    a.eq_ignore_ascii_case(f) || under(a, f) || under(f, a)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alignment_is_relaxed_and_case_blind() {
        assert!(relaxed_aligned("acme.example", "ACME.example"));
        assert!(relaxed_aligned("mail.acme.example", "acme.example"));
        assert!(relaxed_aligned("acme.example", "news.acme.example"));
        assert!(!relaxed_aligned("evilacme.example", "acme.example"));
        assert!(!relaxed_aligned("acme.example.evil", "acme.example"));
        assert!(!relaxed_aligned("", "acme.example"));
    }
}
