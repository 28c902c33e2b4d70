//! What `sluice throttle show` says about a client IP: the engine's explanation of what its
//! next recipient would get, and what takes the IP out of the engine's hands: the operator
//! allow list (every tenant) and inbound connectors (their own tenant's recipients only).

use std::fmt::Write;
use std::net::IpAddr;

use directory::Snapshot;
use throttle::{Explanation, Verdict};

use crate::allow_list::AllowEntry;
use crate::inbound::throttling::deferral_reply;
use crate::settings::ThrottleMode;

/// An inbound connector whose IP ranges hold the client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectorCover {
    pub tenant: String,
    pub name: String,
    /// partner or on-premises.
    pub kind: String,
    /// Its longest range holding the IP.
    pub range: String,
    /// Whether it is in force: not while its tenant is suspended.
    pub trusted: bool,
    pub require_tls: bool,
    /// A TLS-requiring connector that also names certificates wants one of them from its
    /// addresses too.
    pub certificate_required: bool,
}

/// What exempts an IP from throttling besides the engine's policy.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Cover {
    /// The operator allow-list entry holding it (the longest).
    pub allow: Option<AllowEntry>,
    /// Connectors of any tenant whose ranges hold it. Connectors recognised by certificate
    /// name alone depend on the session and are not listed.
    pub connectors: Vec<ConnectorCover>,
}

impl Cover {
    pub fn of(ip: IpAddr, allow: Option<AllowEntry>, directory: Option<&Snapshot>) -> Cover {
        let connectors = directory.map_or_else(Vec::new, |d| {
            d.connectors_covering(ip)
                .into_iter()
                .map(|(c, range)| ConnectorCover {
                    tenant: c.tenant.to_string(),
                    name: c.name.clone(),
                    kind: c.kind.to_string(),
                    range: range.to_string(),
                    trusted: d.tenant(&c.tenant).is_some_and(|t| t.status == directory::TenantStatus::Active),
                    require_tls: c.require_tls,
                    certificate_required: c.require_tls && !c.certificate_names.is_empty(),
                })
                .collect()
        });
        Cover { allow, connectors }
    }
}

impl ConnectorCover {
    /// `connector "relay" of tenant acme (partner, IP range 203.0.113.0/24, TLS required): ...`
    pub fn describe(&self) -> String {
        let tls = match (self.require_tls, self.certificate_required) {
            (_, true) => ", TLS with one of its certificate names required",
            (true, false) => ", TLS required",
            (false, false) => "",
        };
        let effect = if self.trusted {
            format!("mail from this IP to {}'s recipients is never throttled", self.tenant)
        } else {
            format!("not in force while tenant {} is suspended", self.tenant)
        };
        format!(
            "connector {:?} of tenant {} ({}, IP range {}{tls}): {effect}",
            self.name, self.tenant, self.kind, self.range
        )
    }
}

/// The explanation as `sluice throttle show` prints it; observing, a deferral is said to be
/// logged and accepted.
pub fn render_explanation(e: &Explanation, cover: &Cover, mode: ThrottleMode) -> String {
    let mut out = String::new();
    let verdict = match (&cover.allow, e.verdict) {
        (Some(entry), _) => {
            let note = if entry.note.is_empty() { String::new() } else { format!(", {:?}", entry.note) };
            format!("accept (operator allow list: {}{note}; never throttled, for every tenant)", entry.cidr)
        }
        (None, Verdict::Accept) => "accept".to_string(),
        (None, Verdict::Bypass) => "accept (bypass range in the throttle policy)".to_string(),
        (None, Verdict::Defer) => match &e.defer {
            Some(d) => deferral_reply(e.ip, d).summary(),
            None => "defer".to_string(),
        },
    };
    let verdict = match (mode, cover.allow.is_none() && e.verdict == Verdict::Defer) {
        (ThrottleMode::Observe, true) => format!("accept (observe mode; enforcing: {verdict})"),
        _ => verdict,
    };
    let _ = writeln!(out, "{}: the next recipient would get: {verdict}", e.ip);
    for connector in &cover.connectors {
        let _ = writeln!(out, "  {}", connector.describe());
    }
    if let Some(d) = e.defer.as_ref().filter(|_| cover.allow.is_none()) {
        let rule = d.token.rule();
        let _ = writeln!(out, "  reason: {} {} (triggered by {})", rule.name, rule.reason, d.key);
        let _ = writeln!(out, "  rule: {}", rule.rule);
        let _ = writeln!(out, "  retry after: {} s", d.retry_after_s);
    }
    for (label, s) in [("ip", &e.ip_state), ("prefix", &e.prefix_state)] {
        let _ = writeln!(out, "{label} {}:", s.key);
        if !s.tracked {
            let _ = writeln!(out, "  no history (a newcomer)");
            continue;
        }
        let deferred = s.deferred_hours_ago.map_or("never".to_string(), |h| format!("{h} h ago"));
        let _ = writeln!(
            out,
            "  age {} h, established: {}, baseline {:.0}/h, allowance {:.0}/h, observed {:.0}/h\n  accepted this hour {}, available now {}, last deferred {deferred}",
            s.age_hours,
            s.established,
            s.baseline_per_hour,
            s.allowance_per_hour,
            s.observed_per_hour,
            s.accepted_this_hour,
            s.available_now,
        );
    }
    let _ = writeln!(out, "prefix allowance applies to this ip: {}", e.prefix_applies);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use directory::{Cidr, Connector, ConnectorKind, DirectoryData, Tenant, TenantId, TenantStatus};

    fn snapshot() -> std::sync::Arc<Snapshot> {
        let tenant = |id: &str, status| Tenant {
            id: TenantId::parse(id).unwrap(),
            display_name: id.into(),
            status,
            language: "en".into(),
        };
        let connector = |tenant: &str, name: &str, kind, cert: bool| {
            let mut c = Connector::new(TenantId::parse(tenant).unwrap(), name, kind);
            c.ip_ranges = vec![Cidr::parse("t", "203.0.113.0/24").unwrap()];
            if cert {
                c.certificate_names = vec![directory::CertName::parse("mx.partner.example").unwrap()];
            }
            c
        };
        let data = DirectoryData {
            tenants: vec![tenant("acme", TenantStatus::Active), tenant("globex", TenantStatus::Suspended)],
            connectors: vec![
                connector("acme", "partner relay", ConnectorKind::Partner, true),
                connector("globex", "hq", ConnectorKind::OnPremises, false),
            ],
            ..DirectoryData::default()
        };
        Snapshot::build(data).unwrap()
    }

    fn explain(ip: &str) -> Explanation {
        throttle::Engine::new(throttle::Policy::default()).peek(ip.parse().unwrap(), 1_000)
    }

    #[test]
    fn names_each_tenants_connector_and_whether_it_is_in_force() {
        let ip: IpAddr = "203.0.113.7".parse().unwrap();
        let cover = Cover::of(ip, None, Some(&snapshot()));
        let text = render_explanation(&explain("203.0.113.7"), &cover, ThrottleMode::Enforce);
        assert!(text.starts_with("203.0.113.7: the next recipient would get: accept\n"), "{text}");
        assert!(
            text.contains(
                "  connector \"partner relay\" of tenant acme (partner, IP range 203.0.113.0/24, TLS with one of \
                 its certificate names required): mail from this IP to acme's recipients is never throttled\n"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "  connector \"hq\" of tenant globex (on-premises, IP range 203.0.113.0/24): not in force while \
                 tenant globex is suspended\n"
            ),
            "{text}"
        );
        assert!(Cover::of("192.0.2.1".parse().unwrap(), None, Some(&snapshot())).connectors.is_empty());
    }

    #[test]
    fn observing_a_deferral_is_said_to_be_accepted() {
        let engine = throttle::Engine::new(throttle::Policy::default());
        let ip: IpAddr = "198.51.100.7".parse().unwrap();
        engine.decide(ip, 5_000, 1_000);
        let e = engine.peek(ip, 1_000);
        let observing = render_explanation(&e, &Cover::default(), ThrottleMode::Observe);
        assert!(
            observing.starts_with(
                "198.51.100.7: the next recipient would get: accept (observe mode; enforcing: 451 4.7.501 "
            ),
            "{observing}"
        );
        let enforcing = render_explanation(&e, &Cover::default(), ThrottleMode::Enforce);
        assert!(
            enforcing.starts_with("198.51.100.7: the next recipient would get: 451 4.7.501 "),
            "{enforcing}"
        );
    }

    #[test]
    fn the_allow_list_entry_is_named_with_its_note() {
        let entry = AllowEntry { cidr: "203.0.113.0/24".parse().unwrap(), note: "partner relay".into() };
        let cover = Cover { allow: Some(entry), connectors: Vec::new() };
        let text = render_explanation(&explain("203.0.113.7"), &cover, ThrottleMode::Observe);
        assert!(
            text.starts_with(
                "203.0.113.7: the next recipient would get: accept (operator allow list: 203.0.113.0/24, \
                 \"partner relay\"; never throttled, for every tenant)\n"
            ),
            "{text}"
        );
    }
}
