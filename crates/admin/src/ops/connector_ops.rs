//! Connectors beyond add and remove: editing one in place (every change recorded with who,
//! when and what), validating an inbound connector against a described client (step by
//! step, the exact replies, nothing sent), and the audit's risk flags.

use std::fmt::Display;
use std::net::IpAddr;

use access::Permission;
use directory::audit::{AuditScope, Risk};
use directory::{
    CertName, Cidr, ClientCert, Connector, ConnectorMatch, DirectoryError, DomainName, NextHop,
    OutboundConnector, OutboundRoute, OutboundTls, Relay, SMART_HOST_PORT_DEFAULT, Snapshot, TenantStatus,
    Transport,
};

use super::directory_ops::{Found, check_address, existing_tenant, find_connector, note_text, only_for, who};
use super::{Admin, Change, Context, tenant_id};
use crate::error::AdminError;
use crate::live::{CertificateCheck, ProbeStepView};
use crate::views::{
    AuditReportView, ConnectorAuditView, ConnectorEdit, ConnectorView, RiskView, ValidateInput,
    ValidationView,
};

/// Applies the adds and removes of one list, naming what changed; adding what is listed or
/// removing what is not is refused, naming the field.
fn edit_list<T: PartialEq + Display + Clone>(
    list: &mut Vec<T>,
    (add_field, add): (&'static str, Vec<T>),
    (remove_field, remove): (&'static str, Vec<T>),
    changes: &mut Vec<String>,
) -> Result<(), AdminError> {
    for item in remove {
        let Some(at) = list.iter().position(|x| *x == item) else {
            return Err(AdminError::invalid_value(remove_field, item.to_string(), "not listed"));
        };
        list.remove(at);
        changes.push(format!("removed {item}"));
    }
    for item in add {
        if list.contains(&item) {
            return Err(AdminError::invalid_value(add_field, item.to_string(), "already listed"));
        }
        changes.push(format!("added {item}"));
        list.push(item);
    }
    Ok(())
}

fn parse_all<T>(
    texts: &[String],
    parse: impl Fn(&str) -> Result<T, DirectoryError>,
) -> Result<Vec<T>, AdminError> {
    texts.iter().map(|t| parse(t).map_err(AdminError::from)).collect()
}

fn set_flag(value: &mut bool, wanted: Option<bool>, name: &str, changes: &mut Vec<String>) {
    if let Some(wanted) = wanted.filter(|w| w != value) {
        *value = wanted;
        changes.push(format!("{name} {}", if wanted { "on" } else { "off" }));
    }
}

fn edit_inbound(c: &Connector, e: &ConnectorEdit) -> Result<(Connector, Vec<String>), AdminError> {
    only_for("outbound", "connector.add_recipient_domain", !e.add_recipient_domain.is_empty())?;
    only_for("outbound", "connector.remove_recipient_domain", !e.remove_recipient_domain.is_empty())?;
    only_for("outbound", "connector.add_smart_host", !e.add_smart_host.is_empty())?;
    only_for("outbound", "connector.remove_smart_host", !e.remove_smart_host.is_empty())?;
    only_for("outbound", "connector.tls", e.tls.is_some())?;
    only_for("outbound", "connector.tls_domain", e.tls_domain.is_some())?;
    let mut c = c.clone();
    let mut changes = Vec::new();
    let cidr = |field| move |t: &str| Cidr::parse(field, t);
    edit_list(
        &mut c.ip_ranges,
        ("connector.add_ip", parse_all(&e.add_ip, cidr("connector.add_ip"))?),
        ("connector.remove_ip", parse_all(&e.remove_ip, cidr("connector.remove_ip"))?),
        &mut changes,
    )?;
    edit_list(
        &mut c.certificate_names,
        ("connector.add_certificate_name", parse_all(&e.add_certificate_name, CertName::parse)?),
        ("connector.remove_certificate_name", parse_all(&e.remove_certificate_name, CertName::parse)?),
        &mut changes,
    )?;
    let domain = |field| move |t: &str| DomainName::parse(field, t);
    edit_list(
        &mut c.sender_domains,
        (
            "connector.add_sender_domain",
            parse_all(&e.add_sender_domain, domain("connector.add_sender_domain"))?,
        ),
        (
            "connector.remove_sender_domain",
            parse_all(&e.remove_sender_domain, domain("connector.remove_sender_domain"))?,
        ),
        &mut changes,
    )?;
    set_flag(
        &mut c.restrict_sender_domains,
        e.restrict_sender_domains,
        "restrict sender domains",
        &mut changes,
    );
    set_flag(&mut c.require_tls, e.require_tls, "require TLS", &mut changes);
    set_flag(&mut c.enabled, e.enabled, "enabled", &mut changes);
    c.validate()?;
    Ok((c, changes))
}

fn edit_outbound(
    c: &OutboundConnector,
    e: &ConnectorEdit,
) -> Result<(OutboundConnector, Vec<String>), AdminError> {
    for (field, given) in [
        ("connector.add_ip", !e.add_ip.is_empty()),
        ("connector.remove_ip", !e.remove_ip.is_empty()),
        ("connector.add_certificate_name", !e.add_certificate_name.is_empty()),
        ("connector.remove_certificate_name", !e.remove_certificate_name.is_empty()),
        ("connector.add_sender_domain", !e.add_sender_domain.is_empty()),
        ("connector.remove_sender_domain", !e.remove_sender_domain.is_empty()),
        ("connector.restrict_sender_domains", e.restrict_sender_domains.is_some()),
        ("connector.require_tls", e.require_tls.is_some()),
    ] {
        only_for("inbound", field, given)?;
    }
    let mut c = c.clone();
    let mut changes = Vec::new();
    let domain = |field| move |t: &str| DomainName::parse(field, t);
    edit_list(
        &mut c.recipient_domains,
        (
            "connector.add_recipient_domain",
            parse_all(&e.add_recipient_domain, domain("connector.add_recipient_domain"))?,
        ),
        (
            "connector.remove_recipient_domain",
            parse_all(&e.remove_recipient_domain, domain("connector.remove_recipient_domain"))?,
        ),
        &mut changes,
    )?;
    let hop = |field| move |t: &str| NextHop::parse(field, t, SMART_HOST_PORT_DEFAULT);
    let mut hosts = match &c.route {
        OutboundRoute::SmartHosts(hosts) => hosts.clone(),
        OutboundRoute::Mx => Vec::new(),
    };
    edit_list(
        &mut hosts,
        ("connector.add_smart_host", parse_all(&e.add_smart_host, hop("connector.add_smart_host"))?),
        ("connector.remove_smart_host", parse_all(&e.remove_smart_host, hop("connector.remove_smart_host"))?),
        &mut changes,
    )?;
    c.route = if hosts.is_empty() { OutboundRoute::Mx } else { OutboundRoute::SmartHosts(hosts) };
    if e.tls.is_some() || e.tls_domain.is_some() {
        let mode = e.tls.clone().unwrap_or_else(|| c.tls.mode_name().to_string());
        let tls =
            OutboundTls::parse(&mode, e.tls_domain.as_deref().or(c.tls.domain().map(DomainName::as_str)))?;
        if tls != c.tls {
            changes.push(format!("tls {tls}"));
            c.tls = tls;
        }
    }
    set_flag(&mut c.enabled, e.enabled, "enabled", &mut changes);
    c.validate()?;
    Ok((c, changes))
}

impl Admin {
    /// Changes a connector in place: adds to and removes from its lists, sets its rules.
    /// The change record says who (the caller, or `by`), when, and what changed (with the
    /// note), and the audit log keeps the before and after.
    pub fn edit_connector(
        &self,
        cx: &Context,
        tenant: &str,
        name: &str,
        edit: &ConnectorEdit,
    ) -> Result<ConnectorView, AdminError> {
        let tenant = tenant_id(tenant)?;
        self.allow(cx, Permission::EditTenant, Some(&tenant), "edit connectors")?;
        let mut store = self.store();
        let before = find_connector(&**store, &tenant, name)?;
        let (edited, changes) = match &before {
            Found::Inbound(c) => {
                let (c, changes) = edit_inbound(c, edit)?;
                (Found::Inbound(c), changes)
            }
            Found::Outbound(c) => {
                let (c, changes) = edit_outbound(c, edit)?;
                (Found::Outbound(c), changes)
            }
        };
        if changes.is_empty() {
            return Err(AdminError::invalid(
                "connector",
                format!("nothing to change in connector {name:?}: every value given is the one it has"),
            ));
        }
        let note = note_text(edit.note.as_deref());
        let what = changes.join("; ");
        let summary = if note.is_empty() { what } else { format!("{what} ({note})") };
        let record = before.record().changed(self.now(), &who(cx, edit.by.as_deref()), &summary);
        let after = match edited {
            Found::Inbound(c) => Found::Inbound(store.update_connector(&Connector { record, ..c })?),
            Found::Outbound(c) => {
                Found::Outbound(store.update_outbound_connector(&OutboundConnector { record, ..c })?)
            }
        };
        let change = Change::new(Some(&tenant), "connector.edit", format!("{tenant}/{}", after.view().name))
            .before(&before.view())
            .after(&after.view());
        self.audit(&mut **store, cx, change);
        Ok(after.view())
    }

    /// Risk flags on every connector the caller sees (of one tenant with `tenant`).
    pub fn audit_connectors(
        &self,
        cx: &Context,
        tenant: Option<&str>,
    ) -> Result<AuditReportView, AdminError> {
        let tenant = self.scope(cx, tenant)?;
        self.allow(cx, Permission::Read, tenant.as_ref(), "audit connectors")?;
        let store = self.store();
        if let Some(t) = &tenant {
            existing_tenant(&**store, t)?;
        }
        let inbound = store.list_connectors(None)?;
        let outbound = store.list_outbound_connectors(None)?;
        let scope = AuditScope {
            inbound: &inbound,
            outbound: &outbound,
            tenant: tenant.as_ref(),
            now_unix_s: self.now(),
            name_other_tenants: !cx.principal.role.is_tenant_role(),
        };
        let connectors: Vec<ConnectorAuditView> = directory::audit::audit(&scope)
            .into_iter()
            .filter(|c| cx.principal.sees(&c.tenant))
            .map(|c| ConnectorAuditView {
                tenant: c.tenant.to_string(),
                name: c.name,
                direction: if c.kind.is_some() { "inbound" } else { "outbound" }.into(),
                kind: c.kind.map(|k| k.to_string()),
                enabled: c.enabled,
                created_at_unix_s: c.record.created_at_unix_s,
                created_by: c.record.created_by,
                changed_at_unix_s: c.record.changed_at_unix_s,
                changed_by: c.record.changed_by,
                change_note: c.record.change_note,
                flags: c
                    .flags
                    .into_iter()
                    .map(|f| RiskView { risk: f.risk.to_string(), flag: f.flag.into(), reason: f.reason })
                    .collect(),
            })
            .collect();
        let high_risk = connectors.iter().any(|c| c.flags.iter().any(|f| f.risk == Risk::High.to_string()));
        Ok(AuditReportView { high_risk, connectors })
    }

    /// How a session from the described client would be treated for the recipients of the
    /// connector's tenant, step by step, with the exact replies: nothing is sent.
    pub(super) fn validate_inbound(
        &self,
        cx: &Context,
        connector: &Connector,
        input: &ValidateInput,
    ) -> Result<ValidationView, AdminError> {
        let client = self.described_client(input)?;
        let snapshot = self.store().snapshot()?;
        let probe = InboundProbe {
            snapshot: &snapshot,
            connector,
            client: &client,
            from: input.from.as_deref(),
            now: self.now(),
            name_other_tenants: !cx.principal.role.is_tenant_role(),
        };
        let mut steps = vec![probe.client_step()];
        let matched = probe.match_step();
        let matches = matched.passed;
        steps.push(matched);
        steps.extend(probe.rule_steps());
        let mut passed = matches;
        if let Some(step) = probe.relay_step() {
            passed &= step.passed;
            steps.push(step);
        }
        if let Some(to) = &input.to {
            let (plain, tls) = probe.reply_steps(to);
            passed &= if connector.require_tls { tls.passed } else { plain.passed };
            steps.extend([plain, tls]);
        }
        Ok(ValidationView { connector: connector.name.clone(), passed, steps })
    }

    fn described_client(&self, input: &ValidateInput) -> Result<Client, AdminError> {
        for (field, address) in [("validate.to", &input.to), ("validate.from", &input.from)] {
            if let Some(a) = address {
                check_address(field, a)?;
            }
        }
        let ip = match &input.client_ip {
            Some(text) => Some(text.trim().parse::<IpAddr>().map_err(|_| {
                AdminError::invalid(
                    "validate.client_ip",
                    format!("invalid validate.client_ip {text:?}: expected an IPv4 or IPv6 address"),
                )
            })?),
            None => None,
        };
        let certificate = match &input.client_cert {
            Some(pem) => Some(self.network.client_certificate(pem).map_err(|e| {
                AdminError::invalid("validate.client_cert", format!("invalid validate.client_cert: {e}"))
            })?),
            None => None,
        };
        if ip.is_none() && certificate.is_none() {
            return Err(AdminError::invalid(
                "validate.client_ip",
                "describe the client: its address (client_ip), its TLS certificate (client_cert), or both",
            ));
        }
        Ok(Client { ip, certificate })
    }
}

/// The client an inbound validation describes.
struct Client {
    ip: Option<IpAddr>,
    certificate: Option<CertificateCheck>,
}

impl Client {
    /// Without an address only the certificate can identify it: an address in no range.
    fn address(&self) -> IpAddr {
        self.ip.unwrap_or(IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED))
    }

    /// The certificate names a server would count: only a trusted certificate's.
    fn verified(&self) -> Option<ClientCert> {
        let c = self.certificate.as_ref().filter(|c| c.untrusted.is_none())?;
        Some(ClientCert { names: c.names.clone() })
    }
}

fn step(step: &str, target: impl Into<String>, passed: bool, detail: impl Into<String>) -> ProbeStepView {
    ProbeStepView {
        step: step.into(),
        target: target.into(),
        passed,
        detail: detail.into(),
        reply: None,
        check: None,
    }
}

fn list_or_none<T: Display>(items: &[T]) -> String {
    if items.is_empty() {
        "none".into()
    } else {
        items.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
    }
}

/// One inbound validation over the directory as the server would see it.
struct InboundProbe<'a> {
    snapshot: &'a Snapshot,
    connector: &'a Connector,
    client: &'a Client,
    from: Option<&'a str>,
    now: u64,
    name_other_tenants: bool,
}

impl InboundProbe<'_> {
    fn session(&self, tls: bool) -> directory::SessionContext {
        let cert = self.client.verified();
        let transport = if tls { Transport::Tls { client_cert: cert.as_ref() } } else { Transport::Plain };
        self.snapshot.session(self.client.address(), transport, self.now)
    }

    /// The tenant's matches over TLS (where a certificate can count), most specific first.
    fn tenant_matches(&self) -> Vec<ConnectorMatch> {
        self.snapshot.tenant_matches(&self.session(true), &self.connector.tenant)
    }

    fn client_step(&self) -> ProbeStepView {
        let address = self
            .client
            .ip
            .map_or("not given (only the certificate identifies it)".into(), |ip| ip.to_string());
        let certificate = match &self.client.certificate {
            None => "no certificate".to_string(),
            Some(c) => match &c.untrusted {
                None => format!(
                    "certificate for {} (chains to the client CA: its names count)",
                    list_or_none(&c.names)
                ),
                Some(why) => format!(
                    "certificate for {} NOT trusted ({why}): a session presenting it is an ordinary client",
                    list_or_none(&c.names)
                ),
            },
        };
        let mut s = step(
            "client",
            self.client.address().to_string(),
            true,
            format!("address {address}; {certificate}"),
        );
        if self.client.certificate.as_ref().is_some_and(|c| c.untrusted.is_some()) {
            s.check = Some("the certificate must chain to [tls] client_ca_file and be valid now".into());
        }
        s
    }

    fn match_step(&self) -> ProbeStepView {
        let c = self.connector;
        let target = format!("{}/{}", c.tenant, c.name);
        if !c.enabled {
            let mut s =
                step("match", target, false, "the connector is disabled: it matches no client until enabled");
            s.check = Some("enable the connector".into());
            return s;
        }
        let matches = self.tenant_matches();
        let Some(own) = matches.iter().find(|m| m.connector.name == c.name) else {
            let mut s = step(
                "match",
                target,
                false,
                format!(
                    "does not match this client: its IP ranges are {}; its certificate names are {}",
                    list_or_none(&c.ip_ranges),
                    list_or_none(&c.certificate_names)
                ),
            );
            s.check = Some(
                "the client's address must be in one of its ranges, or the client must present over STARTTLS a \
                 certificate that chains to the client CA and carries one of its names"
                    .into(),
            );
            return s;
        };
        let mut detail = format!("matches by {}", own.by);
        if let Some(first) = matches.first().filter(|m| m.connector.name != c.name) {
            detail.push_str(&format!(
                "; but the tenant's connector {:?} matches first ({}): its rules apply to the tenant's recipients",
                first.connector.name, first.by
            ));
        }
        if self.snapshot.tenant(&c.tenant).is_some_and(|t| t.status == TenantStatus::Suspended) {
            detail.push_str("; the tenant is suspended: its mail is refused for now (451 4.2.1)");
        }
        step("match", target, true, detail)
    }

    /// The other tenants, the TLS and certificate rules, throttling and sender domains.
    fn rule_steps(&self) -> Vec<ProbeStepView> {
        let c = self.connector;
        let ctx = self.session(true);
        let others: Vec<String> = ctx
            .connectors
            .iter()
            .filter(|m| m.connector.tenant != c.tenant)
            .map(|m| format!("{}/{}", m.connector.tenant, m.connector.name))
            .collect();
        let others_detail = match (others.len(), self.name_other_tenants) {
            (0, _) => "no other tenant's connector matches this client".to_string(),
            (_, true) => {
                format!("also matches {}: each decides for its own recipients only", others.join(", "))
            }
            (n, false) => format!(
                "also matches {n} connector(s) of other tenants: each decides for its own recipients only"
            ),
        };
        let own = self.tenant_matches();
        let governing = own.first();
        let mut steps = vec![step("others", "other tenants", true, others_detail)];
        steps.push(self.tls_step(governing));
        let throttle = match governing {
            Some(m) => step(
                "throttle",
                "IP throttling",
                true,
                format!(
                    "the tenant's recipients from this client are never throttled nor counted (connector {:?})",
                    m.connector.name
                ),
            ),
            None => step(
                "throttle",
                "IP throttling",
                false,
                "an ordinary client for the tenant's recipients: throttled like any other",
            ),
        };
        steps.push(throttle);
        if c.restrict_sender_domains {
            steps.push(step(
                "senders",
                "restricted sender domains",
                true,
                format!(
                    "mail claiming {} reaches the tenant's recipients only through this connector (550 5.7.51 elsewhere)",
                    list_or_none(&c.sender_domains)
                ),
            ));
        }
        steps
    }

    fn tls_step(&self, governing: Option<&ConnectorMatch>) -> ProbeStepView {
        let Some(m) = governing else {
            return step(
                "tls",
                "TLS rule",
                true,
                "no connector of the tenant applies: no TLS rule of the tenant's",
            );
        };
        let c = &m.connector;
        if !c.require_tls {
            return step(
                "tls",
                "TLS rule",
                true,
                format!("connector {:?} accepts plain text and TLS", c.name),
            );
        }
        let by_address = matches!(m.by, directory::MatchedBy::IpRange(_));
        if by_address && !c.certificate_names.is_empty() {
            let mut s = step(
                "tls",
                "TLS rule",
                false,
                format!(
                    "connector {:?} requires TLS with a client certificate for {}; this client matches by address only, \
                     so the tenant's recipients are refused (550 5.7.10)",
                    c.name,
                    list_or_none(&c.certificate_names)
                ),
            );
            s.check = Some("present a certificate carrying one of those names at STARTTLS".into());
            return s;
        }
        step(
            "tls",
            "TLS rule",
            true,
            format!(
                "connector {:?} requires TLS: in plain text the tenant's recipients are refused (550 5.7.10)",
                c.name
            ),
        )
    }

    /// For an on-premises connector with a sender: which tenant relayed mail is attributed to.
    fn relay_step(&self) -> Option<ProbeStepView> {
        if self.connector.kind != directory::ConnectorKind::OnPremises {
            return None;
        }
        let from = self.from?;
        let domain = from.rsplit_once('@').map_or(from, |(_, d)| d);
        let relay = self.snapshot.relay(&self.session(true), Some(domain));
        let target = format!("relay from {from}");
        let s = match relay {
            Relay::Tenant(m) if m.connector.tenant == self.connector.tenant => step(
                "relay",
                target,
                true,
                format!(
                    "relayed mail is attributed to this tenant through connector {:?} ({})",
                    m.connector.name, m.by
                ),
            ),
            Relay::Tenant(m) => {
                let whom = if self.name_other_tenants {
                    format!("tenant {}", m.connector.tenant)
                } else {
                    "another tenant".into()
                };
                step(
                    "relay",
                    target,
                    false,
                    format!("relayed mail is attributed to {whom} ({}), not to this one", m.by),
                )
            }
            Relay::Ambiguous { tenants } => {
                let mut s = step(
                    "relay",
                    target,
                    false,
                    format!(
                        "on-premises connectors of {tenants} tenants match and neither the certificate nor the sender \
                         domain tells which: relaying is refused (550 5.7.1)"
                    ),
                );
                s.check = Some(
                    "send from one of the tenant's verified domains, or present a certificate under one of them".into(),
                );
                s
            }
            Relay::Nobody => step(
                "relay",
                target,
                false,
                "no on-premises connector matches this client: nothing is relayed",
            ),
        };
        Some(s)
    }

    /// The exact replies a session would get for `to`, in plain text and over TLS.
    fn reply_steps(&self, to: &str) -> (ProbeStepView, ProbeStepView) {
        let one = |tls: bool| {
            let ctx = self.session(tls);
            let target = format!("RCPT TO:<{to}> {}", if tls { "over TLS" } else { "in plain text" });
            let sender = self.from.and_then(|f| f.rsplit_once('@')).map(|(_, d)| d);
            let (local, domain) = to.rsplit_once('@').unwrap_or((to, ""));
            let decided =
                self.snapshot.check_client(&ctx).map_err(|r| format!("at MAIL FROM: {r}")).and_then(|()| {
                    self.snapshot.check_recipient(&ctx, sender, local, domain).map_err(|r| r.to_string())
                });
            match decided {
                Ok(route) => {
                    let how = match (&route.connector, &route.outbound) {
                        (_, Some(o)) if route.accepted_domain.is_none() => {
                            format!("outbound relay through {:?}", o.connector)
                        }
                        (_, Some(o)) => {
                            format!("mail between tenants: outbound through {:?}, not throttled", o.connector)
                        }
                        (Some(name), None) => format!("through connector {name:?}, not throttled"),
                        (None, None) => "an ordinary client: throttled like any other".into(),
                    };
                    let mut s = step("reply", target, true, format!("250 2.1.5 Ok ({how})"));
                    s.reply = Some("250 2.1.5 Ok".into());
                    s
                }
                Err(reply) => {
                    let mut s = step("reply", target, false, reply.clone());
                    s.reply = Some(reply);
                    s
                }
            }
        };
        (one(false), one(true))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_are_edited_with_a_record_of_what_changed() {
        let mut list = vec![1, 2];
        let mut changes = Vec::new();
        edit_list(&mut list, ("a", vec![3]), ("r", vec![1]), &mut changes).unwrap();
        assert_eq!(
            (list.clone(), changes),
            (vec![2, 3], vec!["removed 1".to_string(), "added 3".to_string()])
        );
        let absent = edit_list(&mut list, ("a", vec![]), ("connector.remove_ip", vec![9]), &mut Vec::new());
        assert_eq!(absent.unwrap_err().field.as_deref(), Some("connector.remove_ip"));
        let twice = edit_list(&mut list, ("connector.add_ip", vec![2]), ("r", vec![]), &mut Vec::new());
        assert_eq!(twice.unwrap_err().field.as_deref(), Some("connector.add_ip"));
    }
}
