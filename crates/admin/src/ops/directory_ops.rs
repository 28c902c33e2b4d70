//! Tenants, domains, recipients, connectors, the reputation list and outbound protection.

use access::Permission;
use directory::{
    AcceptedDomain, CertName, ChangeRecord, Cidr, Connector, ConnectorKind, DeliveryTarget, DirectoryError,
    DomainKind, DomainName, NewDomain, NewTenant, NextHop, OutboundConnector, OutboundRoute, OutboundTls,
    Recipient, ReputationEntry, ReputationKind, SMART_HOST_PORT_DEFAULT, StoreError, TenantId, TenantStatus,
    VerificationState,
};

use super::{Admin, AdminStore, Change, Context, tenant_id};
use crate::error::{AdminError, ErrorKind};
use crate::live::{ProbeTarget, TxtCheck};
use crate::views::{
    ConnectorInput, ConnectorView, DomainInput, DomainView, OutboundView, RecipientInput, RecipientView,
    ReleaseInput, ReputationInput, ReputationView, TenantInput, TenantView, ValidateInput, ValidationView,
    VerifyView,
};

fn domain_name(field: &'static str, text: &str) -> Result<DomainName, AdminError> {
    Ok(DomainName::parse(field, text)?)
}

pub(super) fn existing_tenant(
    store: &dyn AdminStore,
    id: &TenantId,
) -> Result<directory::Tenant, AdminError> {
    store
        .list_tenants()?
        .into_iter()
        .find(|t| t.id == *id)
        .ok_or_else(|| DirectoryError::UnknownTenant { id: id.to_string() }.into())
}

/// A domain or pending claim of `tenant` (when given): another tenant's is unknown. Without
/// a tenant, a name several tenants claim needs one.
fn owned_domain(
    store: &dyn AdminStore,
    tenant: Option<&TenantId>,
    name: &DomainName,
) -> Result<AcceptedDomain, AdminError> {
    let mut found: Vec<AcceptedDomain> =
        store.list_domains(tenant)?.into_iter().filter(|d| d.name == *name).collect();
    if found.len() > 1 {
        let tenants: Vec<String> = found.iter().map(|d| d.tenant.to_string()).collect();
        return Err(AdminError::invalid(
            "domain.tenant",
            format!(
                "domain {name} is claimed by several tenants ({}): say which with --tenant",
                tenants.join(", ")
            ),
        ));
    }
    found.pop().ok_or_else(|| DirectoryError::UnknownDomain { domain: name.to_string() }.into())
}

/// Why a pending claim shares its name: another tenant verified it (this claim can no
/// longer be verified), or others claim it too (the first to verify owns it). Other
/// tenants are named to operators only.
fn claim_note(all: &[AcceptedDomain], claim: &AcceptedDomain, name_others: bool) -> Option<String> {
    if claim.verification == VerificationState::Verified {
        return None;
    }
    let others: Vec<&AcceptedDomain> =
        all.iter().filter(|d| d.name == claim.name && d.tenant != claim.tenant).collect();
    let whom = |d: &AcceptedDomain| {
        if name_others { format!("tenant {}", d.tenant) } else { "another tenant".into() }
    };
    if let Some(owner) = others.iter().find(|d| d.verification == VerificationState::Verified) {
        return Some(format!(
            "{} verified {} first and owns it: this claim can no longer be verified; if the domain is yours, \
             contact the service operator",
            whom(owner),
            claim.name
        ));
    }
    let first = others.first()?;
    let more = if others.len() > 1 { format!(" and {} more", others.len() - 1) } else { String::new() };
    Some(format!(
        "{}{more} also claims {}: whoever publishes the TXT record and verifies first owns it",
        whom(first),
        claim.name
    ))
}

/// Inbound or outbound, whichever holds the name (one namespace per tenant).
pub(super) enum Found {
    Inbound(Connector),
    Outbound(OutboundConnector),
}

pub(super) fn find_connector(
    store: &dyn AdminStore,
    tenant: &TenantId,
    name: &str,
) -> Result<Found, AdminError> {
    match store.connector(tenant, name) {
        Ok(c) => Ok(Found::Inbound(c)),
        Err(StoreError::Directory(DirectoryError::UnknownConnector { .. })) => {
            Ok(Found::Outbound(store.outbound_connector(tenant, name)?))
        }
        Err(e) => Err(e.into()),
    }
}

impl Found {
    pub(super) fn view(&self) -> ConnectorView {
        match self {
            Found::Inbound(c) => c.into(),
            Found::Outbound(c) => c.into(),
        }
    }

    pub(super) fn record(&self) -> &ChangeRecord {
        match self {
            Found::Inbound(c) => &c.record,
            Found::Outbound(c) => &c.record,
        }
    }
}

/// Who a change is recorded as: `by` when given (an admin acting for someone), else the
/// caller (`os:<user>`, `token:<id>`).
pub(super) fn who(cx: &Context, by: Option<&str>) -> String {
    match by.map(str::trim).filter(|b| !b.is_empty()) {
        Some(by) => by.replace(['\n', '\r'], " "),
        None => cx.principal.actor.to_string(),
    }
}

/// A change note as kept: one line, at most 500 characters.
pub(super) fn note_text(note: Option<&str>) -> String {
    note.unwrap_or_default().replace(['\n', '\r'], " ").trim().chars().take(500).collect()
}

/// Refuses a key of the other direction, naming it.
pub(super) fn only_for(direction: &str, field: &'static str, given: bool) -> Result<(), AdminError> {
    if !given {
        return Ok(());
    }
    let hint = match direction {
        "outbound" => "only outbound connectors take it: add direction outbound (--direction outbound)",
        _ => "only inbound connectors take it (outbound connectors are chosen by recipient domain)",
    };
    Err(AdminError::invalid(field, format!("invalid {field}: {hint}")))
}

pub(super) fn inbound_connector(tenant: TenantId, input: &ConnectorInput) -> Result<Connector, AdminError> {
    only_for("outbound", "connector.recipient_domain", !input.recipient_domain.is_empty())?;
    only_for("outbound", "connector.smart_host", !input.smart_host.is_empty())?;
    only_for("outbound", "connector.tls", input.tls.is_some())?;
    only_for("outbound", "connector.tls_domain", input.tls_domain.is_some())?;
    let kind = match input.kind.as_deref().map(|k| k.trim().to_ascii_lowercase()) {
        Some(k) if k == "partner" => ConnectorKind::Partner,
        Some(k) if k == "on-premises" => ConnectorKind::OnPremises,
        Some(other) => {
            return Err(
                DirectoryError::invalid("connector.kind", other, "expected partner or on-premises").into()
            );
        }
        None => {
            return Err(AdminError::invalid(
                "connector.kind",
                "an inbound connector needs a kind: partner or on-premises",
            ));
        }
    };
    let mut c = Connector::new(tenant, &input.name, kind);
    for ip in &input.ip {
        c.ip_ranges.push(Cidr::parse("connector.ip", ip)?);
    }
    for cert in &input.certificate_name {
        c.certificate_names.push(CertName::parse(cert)?);
    }
    for d in input.sender_domain.iter().chain(&input.restrict_sender_domain) {
        let d = domain_name("connector.sender_domain", d)?;
        if !c.sender_domains.contains(&d) {
            c.sender_domains.push(d);
        }
    }
    c.restrict_sender_domains = !input.restrict_sender_domain.is_empty();
    if let Some(require) = input.require_tls {
        c.require_tls = require;
    }
    c.enabled = input.enabled.unwrap_or(true);
    c.validate()?;
    Ok(c)
}

pub(super) fn outbound_connector(
    tenant: TenantId,
    input: &ConnectorInput,
) -> Result<OutboundConnector, AdminError> {
    only_for("inbound", "connector.kind", input.kind.is_some())?;
    only_for("inbound", "connector.ip", !input.ip.is_empty())?;
    only_for("inbound", "connector.certificate_name", !input.certificate_name.is_empty())?;
    let senders = !input.sender_domain.is_empty() || !input.restrict_sender_domain.is_empty();
    only_for("inbound", "connector.sender_domain", senders)?;
    only_for("inbound", "connector.require_tls", input.require_tls.is_some())?;
    let route = if input.smart_host.is_empty() {
        OutboundRoute::Mx
    } else {
        let hosts = input
            .smart_host
            .iter()
            .map(|h| NextHop::parse("connector.smart_host", h, SMART_HOST_PORT_DEFAULT));
        OutboundRoute::SmartHosts(hosts.collect::<Result<_, _>>()?)
    };
    let tls =
        OutboundTls::parse(input.tls.as_deref().unwrap_or("opportunistic"), input.tls_domain.as_deref())?;
    let mut c = OutboundConnector::new(tenant, &input.name, route, tls);
    for d in &input.recipient_domain {
        c.recipient_domains.push(domain_name("connector.recipient_domain", d)?);
    }
    c.enabled = input.enabled.unwrap_or(true);
    Ok(c)
}

impl Admin {
    pub fn list_tenants(&self, cx: &Context) -> Result<Vec<TenantView>, AdminError> {
        self.allow(cx, Permission::Read, cx.principal.tenant.as_ref(), "list tenants")?;
        let tenants = self.store().list_tenants()?;
        Ok(tenants.iter().filter(|t| cx.principal.sees(&t.id)).map(TenantView::from).collect())
    }

    pub fn tenant(&self, cx: &Context, id: &str) -> Result<TenantView, AdminError> {
        let id = tenant_id(id)?;
        self.allow(cx, Permission::Read, Some(&id), "read tenants")?;
        Ok((&existing_tenant(&**self.store(), &id)?).into())
    }

    pub fn add_tenant(&self, cx: &Context, input: &TenantInput) -> Result<TenantView, AdminError> {
        self.allow(cx, Permission::Operate, None, "create tenants")?;
        let service_domain = match &input.service_domain {
            Some(text) => domain_name("tenant.service_domain", text)?,
            None => self.service_domain.clone(),
        };
        let name = input.name.as_deref().unwrap_or(&input.id);
        let new = NewTenant::new(&input.id, name, input.language.as_deref().unwrap_or("en"))?;
        let mut store = self.store();
        let tenant = store.add_tenant(&new, &service_domain)?;
        let view = TenantView::from(&tenant);
        self.audit(
            &mut **store,
            cx,
            Change::new(Some(&tenant.id), "tenant.add", tenant.id.as_str()).after(&view),
        );
        Ok(view)
    }

    /// Suspends (`550 5.2.1` for its mail) or resumes a tenant.
    pub fn set_tenant_suspended(
        &self,
        cx: &Context,
        id: &str,
        suspended: bool,
    ) -> Result<TenantView, AdminError> {
        let id = tenant_id(id)?;
        self.allow(cx, Permission::Operate, Some(&id), "suspend or resume tenants")?;
        let mut store = self.store();
        let before = TenantView::from(&existing_tenant(&**store, &id)?);
        let status = if suspended { TenantStatus::Suspended } else { TenantStatus::Active };
        let after = TenantView::from(&store.set_tenant_status(&id, status)?);
        let action = if suspended { "tenant.suspend" } else { "tenant.resume" };
        self.audit(
            &mut **store,
            cx,
            Change::new(Some(&id), action, id.as_str()).before(&before).after(&after),
        );
        Ok(after)
    }

    /// Domains of one tenant, or of every tenant the caller sees.
    pub fn list_domains(&self, cx: &Context, tenant: Option<&str>) -> Result<Vec<DomainView>, AdminError> {
        let tenant = self.scope(cx, tenant)?;
        self.allow(cx, Permission::Read, tenant.as_ref(), "list domains")?;
        let store = self.store();
        if let Some(t) = &tenant {
            existing_tenant(&**store, t)?;
        }
        let all = store.list_domains(None)?;
        let name_others = !cx.principal.role.is_tenant_role();
        let views = all
            .iter()
            .filter(|d| tenant.as_ref().is_none_or(|t| d.tenant == *t))
            .map(|d| DomainView { note: claim_note(&all, d, name_others), ..DomainView::from(d) });
        Ok(views.collect())
    }

    pub fn domain(&self, cx: &Context, tenant: &str, name: &str) -> Result<DomainView, AdminError> {
        let tenant = tenant_id(tenant)?;
        self.allow(cx, Permission::Read, Some(&tenant), "read domains")?;
        let name = domain_name("domain.name", name)?;
        Ok((&owned_domain(&**self.store(), Some(&tenant), &name)?).into())
    }

    /// Adds an unverified domain; the view carries the TXT record to publish.
    pub fn add_domain(
        &self,
        cx: &Context,
        tenant: &str,
        input: &DomainInput,
    ) -> Result<DomainView, AdminError> {
        let tenant = tenant_id(tenant)?;
        self.allow(cx, Permission::EditTenant, Some(&tenant), "add domains")?;
        let kind = match input.kind.as_deref().map(|k| k.trim().to_ascii_lowercase()).as_deref() {
            None | Some("authoritative") => DomainKind::Authoritative,
            Some("internal-relay") => DomainKind::InternalRelay,
            Some(other) => {
                return Err(DirectoryError::invalid(
                    "domain.kind",
                    other,
                    "expected authoritative or internal-relay",
                )
                .into());
            }
        };
        let new = NewDomain {
            name: domain_name("domain.name", &input.name)?,
            kind,
            match_subdomains: input.match_subdomains,
        };
        let mut store = self.store();
        let domain = store.add_domain(&tenant, &new)?;
        let all = store.list_domains(None)?;
        let added = DomainView {
            note: claim_note(&all, &domain, !cx.principal.role.is_tenant_role()),
            ..DomainView::from(&domain)
        };
        self.audit(&mut **store, cx, Change::new(Some(&tenant), "domain.add", &added.name).after(&added));
        Ok(added)
    }

    /// Looks the TXT record up and marks the domain verified when it is there; a domain
    /// not verified is a `check_failed` error saying what DNS showed.
    pub fn verify_domain(
        &self,
        cx: &Context,
        tenant: Option<&str>,
        name: &str,
    ) -> Result<VerifyView, AdminError> {
        let tenant = tenant.map(tenant_id).transpose()?;
        self.allow(
            cx,
            Permission::EditTenant,
            tenant.as_ref().or(cx.principal.tenant.as_ref()),
            "verify domains",
        )?;
        let name = domain_name("domain.name", name)?;
        let accepted =
            owned_domain(&**self.store(), tenant.as_ref().or(cx.principal.tenant.as_ref()), &name)?;
        let expected = accepted.txt_record();
        let all = self.store().list_domains(None)?;
        if let Some(note) = claim_note(&all, &accepted, !cx.principal.role.is_tenant_role())
            && all.iter().any(|d| d.name == name && d.verification == VerificationState::Verified)
        {
            return Err(AdminError::new(ErrorKind::Conflict, format!("domain {name} not verified: {note}")));
        }
        if accepted.verification == VerificationState::Verified {
            let message = format!("domain {name} is already verified");
            return Ok(VerifyView {
                domain: (&accepted).into(),
                verified: true,
                expected,
                found: Vec::new(),
                message,
            });
        }
        // No lock is held while DNS answers.
        let check = self.network.check_txt(name.as_str(), &accepted.token);
        let found = match check {
            Ok(TxtCheck::Found) => {
                let mut store = self.store();
                let verified = DomainView::from(&store.mark_domain_verified(&accepted.tenant, &name)?);
                let change = Change::new(Some(&accepted.tenant), "domain.verify", name.as_str())
                    .before(&DomainView::from(&accepted))
                    .after(&verified);
                self.audit(&mut **store, cx, change);
                let message =
                    format!("domain {name} verified: found TXT \"{expected}\"; it now receives mail");
                return Ok(VerifyView { domain: verified, verified: true, expected, found: vec![], message });
            }
            Ok(TxtCheck::NoRecords) => format!("no TXT records found at {name}"),
            Ok(TxtCheck::Missing { found }) if found.is_empty() => {
                format!("no sluice-verification record at {name}")
            }
            Ok(TxtCheck::Missing { found }) => {
                let found: Vec<String> = found.iter().map(|f| format!("\"{f}\"")).collect();
                format!("found {} at {name}", found.join(", "))
            }
            Err(e) => format!("the DNS lookup failed: {e}"),
        };
        Err(AdminError::new(
            ErrorKind::CheckFailed,
            format!("domain {name} not verified: {found}; publish TXT \"{expected}\" there"),
        ))
    }

    pub fn remove_domain(&self, cx: &Context, tenant: Option<&str>, name: &str) -> Result<(), AdminError> {
        let tenant = tenant.map(tenant_id).transpose()?;
        let scope = tenant.as_ref().or(cx.principal.tenant.as_ref());
        self.allow(cx, Permission::EditTenant, scope, "remove domains")?;
        let name = domain_name("domain.name", name)?;
        let mut store = self.store();
        let before = owned_domain(&**store, scope, &name)?;
        store.remove_domain(&before.tenant, &name)?;
        let change = Change::new(Some(&before.tenant), "domain.remove", name.as_str())
            .before(&DomainView::from(&before));
        self.audit(&mut **store, cx, change);
        Ok(())
    }

    pub fn list_recipients(&self, cx: &Context, tenant: &str) -> Result<Vec<RecipientView>, AdminError> {
        let tenant = tenant_id(tenant)?;
        self.allow(cx, Permission::Read, Some(&tenant), "list recipients")?;
        Ok(self.store().list_recipients(&tenant)?.iter().map(RecipientView::from).collect())
    }

    pub fn add_recipient(
        &self,
        cx: &Context,
        tenant: &str,
        input: &RecipientInput,
    ) -> Result<RecipientView, AdminError> {
        let tenant = tenant_id(tenant)?;
        self.allow(cx, Permission::EditTenant, Some(&tenant), "add recipients")?;
        let target = match (&input.smtp, &input.lmtp) {
            (Some(_), Some(_)) => {
                return Err(AdminError::invalid("recipient.lmtp", "give smtp or lmtp, not both"));
            }
            (Some(hop), None) => DeliveryTarget::Smtp(NextHop::parse("recipient.smtp", hop, 25)?),
            (None, Some(hop)) => DeliveryTarget::Lmtp(NextHop::parse("recipient.lmtp", hop, 24)?),
            (None, None) => DeliveryTarget::Maildir,
        };
        let aliases: Vec<&str> = input.alias.iter().map(String::as_str).collect();
        let recipient = Recipient::new(tenant.clone(), &input.address, &aliases, target)?;
        let mut store = self.store();
        store.add_recipient(&recipient)?;
        let view = RecipientView::from(&recipient);
        self.audit(
            &mut **store,
            cx,
            Change::new(Some(&tenant), "recipient.add", recipient.address()).after(&view),
        );
        Ok(view)
    }

    /// Removes a recipient (its primary address) with its aliases.
    pub fn remove_recipient(
        &self,
        cx: &Context,
        tenant: Option<&str>,
        address: &str,
    ) -> Result<(), AdminError> {
        let tenant = tenant.map(tenant_id).transpose()?;
        let scope = tenant.as_ref().or(cx.principal.tenant.as_ref()).cloned();
        self.allow(cx, Permission::EditTenant, scope.as_ref(), "remove recipients")?;
        let (local, domain) = address.trim().rsplit_once('@').ok_or_else(|| {
            AdminError::invalid(
                "recipient.address",
                format!("invalid recipient.address {address:?}: expected local-part@domain"),
            )
        })?;
        let local = directory::normalise_local_part("recipient.address", local)?;
        let domain = domain_name("recipient.address", domain)?;
        let mut store = self.store();
        let owner =
            store.load()?.recipients.into_iter().find(|r| r.local_part == local && r.domain == domain);
        let before = match owner {
            Some(r) if scope.as_ref().is_none_or(|t| *t == r.tenant) => r,
            _ => return Err(DirectoryError::UnknownRecipient { address: format!("{local}@{domain}") }.into()),
        };
        store.remove_recipient(&local, &domain)?;
        let change = Change::new(Some(&before.tenant), "recipient.remove", before.address())
            .before(&RecipientView::from(&before));
        self.audit(&mut **store, cx, change);
        Ok(())
    }

    /// Connectors of both directions, of one tenant or every tenant the caller sees.
    pub fn list_connectors(
        &self,
        cx: &Context,
        tenant: Option<&str>,
    ) -> Result<Vec<ConnectorView>, AdminError> {
        let tenant = self.scope(cx, tenant)?;
        self.allow(cx, Permission::Read, tenant.as_ref(), "list connectors")?;
        let store = self.store();
        if let Some(t) = &tenant {
            existing_tenant(&**store, t)?;
        }
        let inbound = store.list_connectors(tenant.as_ref())?;
        let outbound = store.list_outbound_connectors(tenant.as_ref())?;
        Ok(inbound.iter().map(ConnectorView::from).chain(outbound.iter().map(ConnectorView::from)).collect())
    }

    pub fn connector(&self, cx: &Context, tenant: &str, name: &str) -> Result<ConnectorView, AdminError> {
        let tenant = tenant_id(tenant)?;
        self.allow(cx, Permission::Read, Some(&tenant), "read connectors")?;
        Ok(find_connector(&**self.store(), &tenant, name)?.view())
    }

    pub fn add_connector(
        &self,
        cx: &Context,
        tenant: &str,
        input: &ConnectorInput,
    ) -> Result<ConnectorView, AdminError> {
        let tenant = tenant_id(tenant)?;
        self.allow(cx, Permission::EditTenant, Some(&tenant), "add connectors")?;
        let direction = input.direction.as_deref().unwrap_or("inbound").trim().to_ascii_lowercase();
        let found = match direction.as_str() {
            "inbound" => Found::Inbound(inbound_connector(tenant.clone(), input)?),
            "outbound" => Found::Outbound(outbound_connector(tenant.clone(), input)?),
            other => {
                return Err(DirectoryError::invalid(
                    "connector.direction",
                    other,
                    "expected inbound or outbound",
                )
                .into());
            }
        };
        let record = ChangeRecord::created(
            self.now(),
            &who(cx, input.by.as_deref()),
            &note_text(input.note.as_deref()),
        );
        let found = match found {
            Found::Inbound(c) => Found::Inbound(Connector { record, ..c }),
            Found::Outbound(c) => Found::Outbound(OutboundConnector { record, ..c }),
        };
        let mut store = self.store();
        match &found {
            Found::Inbound(c) => store.add_connector(c)?,
            Found::Outbound(c) => store.add_outbound_connector(c)?,
        }
        let view = found.view();
        self.audit(
            &mut **store,
            cx,
            Change::new(Some(&tenant), "connector.add", format!("{tenant}/{}", view.name)).after(&view),
        );
        Ok(view)
    }

    pub fn set_connector_enabled(
        &self,
        cx: &Context,
        tenant: &str,
        name: &str,
        enabled: bool,
    ) -> Result<ConnectorView, AdminError> {
        let tenant = tenant_id(tenant)?;
        self.allow(cx, Permission::EditTenant, Some(&tenant), "enable or disable connectors")?;
        let mut store = self.store();
        let before = find_connector(&**store, &tenant, name)?;
        let what = if enabled { "enabled" } else { "disabled" };
        let record = before.record().changed(self.now(), &who(cx, None), what);
        let after = match &before {
            Found::Inbound(c) => {
                Found::Inbound(store.update_connector(&Connector { enabled, record, ..c.clone() })?)
            }
            Found::Outbound(c) => Found::Outbound(store.update_outbound_connector(&OutboundConnector {
                enabled,
                record,
                ..c.clone()
            })?),
        };
        let action = if enabled { "connector.enable" } else { "connector.disable" };
        let change = Change::new(Some(&tenant), action, format!("{tenant}/{}", after.view().name))
            .before(&before.view())
            .after(&after.view());
        self.audit(&mut **store, cx, change);
        Ok(after.view())
    }

    pub fn remove_connector(&self, cx: &Context, tenant: &str, name: &str) -> Result<(), AdminError> {
        let tenant = tenant_id(tenant)?;
        self.allow(cx, Permission::EditTenant, Some(&tenant), "remove connectors")?;
        let mut store = self.store();
        let before = find_connector(&**store, &tenant, name)?;
        match &before {
            Found::Inbound(_) => store.remove_connector(&tenant, name)?,
            Found::Outbound(_) => store.remove_outbound_connector(&tenant, name)?,
        }
        let view = before.view();
        self.audit(
            &mut **store,
            cx,
            Change::new(Some(&tenant), "connector.remove", format!("{tenant}/{}", view.name)).before(&view),
        );
        Ok(())
    }

    /// Runs the step-by-step probe of an outbound connector.
    pub fn validate_connector(
        &self,
        cx: &Context,
        tenant: &str,
        name: &str,
        input: &ValidateInput,
    ) -> Result<ValidationView, AdminError> {
        let tenant = tenant_id(tenant)?;
        self.allow(cx, Permission::EditTenant, Some(&tenant), "validate connectors")?;
        for (field, address) in [("validate.to", &input.to), ("validate.from", &input.from)] {
            if let Some(a) = address {
                check_address(field, a)?;
            }
        }
        // The store's lock is released before an inbound connector's dry run takes it again.
        let found = find_connector(&**self.store(), &tenant, name)?;
        let connector = match found {
            Found::Outbound(c) => c,
            Found::Inbound(c) => return self.validate_inbound(cx, &c, input),
        };
        for (field, given) in
            [("validate.client_ip", &input.client_ip), ("validate.client_cert", &input.client_cert)]
        {
            if given.is_some() {
                return Err(AdminError::invalid(
                    field,
                    format!(
                        "connector {name:?} is outbound: {field} describes a client of an inbound connector"
                    ),
                ));
            }
        }
        if connector.route == OutboundRoute::Mx
            && connector.recipient_domains.is_empty()
            && input.to.is_none()
        {
            return Err(AdminError::invalid(
                "validate.to",
                "this connector routes every domain by MX: give a test recipient (to) so validation knows which domain's MX to test",
            ));
        }
        let target =
            ProbeTarget { connector: connector.clone(), to: input.to.clone(), from: input.from.clone() };
        let steps = self.network.probe(&target).map_err(|e| AdminError::new(ErrorKind::Internal, e))?;
        let passed = steps.iter().all(|s| s.passed);
        Ok(ValidationView { connector: connector.name, passed, steps })
    }

    /// The operator's low-reputation list (operators and support).
    pub fn list_reputation(&self, cx: &Context) -> Result<Vec<ReputationView>, AdminError> {
        self.allow_global_read(cx, "read the reputation list")?;
        Ok(self.store().list_reputation()?.iter().map(ReputationView::from).collect())
    }

    pub fn set_reputation(
        &self,
        cx: &Context,
        input: &ReputationInput,
    ) -> Result<ReputationView, AdminError> {
        self.allow(cx, Permission::Operate, None, "change the reputation list")?;
        let kind = match input.kind.trim() {
            "block" => ReputationKind::Block,
            "exception" => ReputationKind::Exception,
            other => {
                return Err(
                    DirectoryError::invalid("reputation.kind", other, "expected block or exception").into()
                );
            }
        };
        let cidr = Cidr::parse("reputation.cidr", &input.cidr)?;
        let note = input.note.clone().unwrap_or_default().replace(['\n', '\r'], " ");
        let expires_at_unix_s = match &input.expires {
            Some(text) => Some(self.now().saturating_add(super::parse_lifetime("reputation.expires", text)?)),
            None => None,
        };
        let entry = ReputationEntry { cidr, kind, note, expires_at_unix_s };
        let mut store = self.store();
        let before =
            store.list_reputation()?.into_iter().find(|e| e.cidr == cidr).map(|e| ReputationView::from(&e));
        store.set_reputation(&entry)?;
        let view = ReputationView::from(&entry);
        let mut change = Change::new(None, "reputation.set", cidr.to_string()).after(&view);
        if let Some(b) = &before {
            change = change.before(b);
        }
        self.audit(&mut **store, cx, change);
        Ok(view)
    }

    pub fn remove_reputation(&self, cx: &Context, cidr: &str) -> Result<(), AdminError> {
        self.allow(cx, Permission::Operate, None, "change the reputation list")?;
        let cidr = Cidr::parse("reputation.cidr", cidr)?;
        let mut store = self.store();
        let before = store.list_reputation()?.into_iter().find(|e| e.cidr == cidr);
        store.remove_reputation(&cidr)?;
        let mut change = Change::new(None, "reputation.remove", cidr.to_string());
        if let Some(b) = &before {
            change = change.before(&ReputationView::from(b));
        }
        self.audit(&mut **store, cx, change);
        Ok(())
    }

    /// A tenant's outbound protection state: the `5.7.705` block in force and past releases.
    pub fn outbound_state(&self, cx: &Context, tenant: &str) -> Result<OutboundView, AdminError> {
        let tenant = tenant_id(tenant)?;
        self.allow(cx, Permission::Read, Some(&tenant), "read outbound protection")?;
        let store = self.store();
        existing_tenant(&**store, &tenant)?;
        let block = store.load()?.outbound_blocks.into_iter().find(|b| b.tenant == tenant);
        let releases = store.outbound_releases(&tenant)?;
        Ok(OutboundView {
            tenant: tenant.to_string(),
            block: block.as_ref().map(Into::into),
            releases: releases.iter().map(Into::into).collect(),
        })
    }

    /// Lifts a tenant's `5.7.705` block (support and operators), with a reason on record.
    pub fn release_outbound(
        &self,
        cx: &Context,
        tenant: &str,
        input: &ReleaseInput,
    ) -> Result<OutboundView, AdminError> {
        let tenant = tenant_id(tenant)?;
        self.allow(cx, Permission::Release, Some(&tenant), "release outbound blocks")?;
        self.release_as(cx, &tenant, input.by.as_deref(), &input.reason)?;
        self.outbound_state(cx, &tenant.to_string())
    }

    pub(super) fn release_as(
        &self,
        cx: &Context,
        tenant: &TenantId,
        by: Option<&str>,
        reason: &str,
    ) -> Result<(), AdminError> {
        let mut store = self.store();
        let by = by.map_or_else(|| cx.principal.actor.to_string(), str::to_string);
        let release = store.release_outbound(tenant, &by, reason, self.now())?;
        let view = crate::views::ReleaseView::from(&release);
        self.audit(
            &mut **store,
            cx,
            Change::new(Some(tenant), "outbound.release", tenant.as_str()).before(&view.block).after(&view),
        );
        Ok(())
    }

    /// Reads of global objects: operators and support.
    pub(super) fn allow_global_read(&self, cx: &Context, what: &str) -> Result<(), AdminError> {
        match cx.principal.role {
            role if role.is_tenant_role() => Err(AdminError::forbidden(role, what)),
            _ => Ok(()),
        }
    }
}

pub(super) fn check_address(field: &'static str, text: &str) -> Result<(), AdminError> {
    match text.trim().rsplit_once('@') {
        Some((local, domain))
            if !local.is_empty() && !domain.is_empty() && !text.contains(['<', '>', ' ']) =>
        {
            Ok(())
        }
        _ => Err(DirectoryError::invalid(field, text, "expected local-part@domain").into()),
    }
}
