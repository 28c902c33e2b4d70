//! `sluice tenant|domain|recipient|connector|reputation ...`: the tenant directory, edited in
//! the embedded store of a data directory (`<data_dir>/sluice.db`, created on first use).
//! Validation is the directory's own: its errors name the field (`connector.ip`,
//! `domain.name`, ...), and the CLI adds only the flag-level checks clap cannot do.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::Subcommand;
use directory::{
    AcceptedDomain, CertName, Cidr, Connector, ConnectorKind, DeliveryTarget, DirectoryError, DirectoryStore,
    DomainKind, DomainName, NewDomain, NewTenant, NextHop, OutboundConnector, OutboundRoute, OutboundTls,
    Recipient, ReputationEntry, ReputationKind, SMART_HOST_PORT_DEFAULT, StoreError, TenantId, TenantStatus,
    VerificationState,
};
use gateway::dns::{Dns, Verification};
use store::SqliteStore;

use crate::config::Config;

#[derive(Debug, Subcommand)]
pub enum TenantCommand {
    /// Create a tenant (active) with its service domain `<id>.<service domain>`.
    Add {
        /// One DNS label: letters, digits, hyphens.
        id: String,
        /// Display name (defaults to the id).
        #[arg(long)]
        name: Option<String>,
        /// Language of bounces (en, fr, ...).
        #[arg(long, default_value = "en")]
        language: String,
        /// Overrides the config's `[directory] service_domain` for this tenant.
        #[arg(long)]
        service_domain: Option<String>,
    },
    /// All tenants.
    List,
    /// One tenant with its domains, connectors and recipient count.
    Show { id: String },
    /// Refuse the tenant's mail (550 5.2.1) until resumed.
    Suspend { id: String },
    /// Make a suspended tenant active again.
    Resume { id: String },
    /// Lift the outbound block (5.7.705) that outbound protection put on a tenant.
    Release {
        id: String,
        /// Who releases it (kept on record).
        #[arg(long)]
        by: String,
        /// Why it is safe to release (kept on record).
        #[arg(long)]
        reason: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum DomainCommand {
    /// Add an accepted domain (unverified) and print the TXT record to publish.
    Add {
        domain: String,
        #[arg(long)]
        tenant: String,
        /// authoritative (every mailbox listed) or internal-relay.
        #[arg(long, default_value = "authoritative")]
        kind: String,
        /// Accept sub-domains at any depth too.
        #[arg(long)]
        match_subdomains: bool,
    },
    /// Look up the domain's TXT record and mark it verified when the token is there.
    Verify {
        domain: String,
        /// A DNS server ADDR:PORT instead of the config's `[dns] resolver` (or the system's).
        #[arg(long)]
        resolver: Option<String>,
    },
    /// Accepted domains (of one tenant with --tenant).
    List {
        #[arg(long)]
        tenant: Option<String>,
    },
    /// Remove a domain and its recipients.
    Remove { domain: String },
}

#[derive(Debug, Subcommand)]
pub enum RecipientCommand {
    /// List an address (local@domain) of one of the tenant's accepted domains.
    Add {
        address: String,
        #[arg(long)]
        tenant: String,
        /// Another local part of the same domain delivered to this recipient (repeatable).
        #[arg(long = "alias")]
        aliases: Vec<String>,
        /// Deliver to the tenant's server over SMTP (HOST[:PORT], default port 25) instead of a Maildir.
        #[arg(long, conflicts_with = "lmtp")]
        smtp: Option<String>,
        /// Deliver to the tenant's server over LMTP (HOST[:PORT], default port 24) instead of a Maildir.
        #[arg(long)]
        lmtp: Option<String>,
    },
    /// A tenant's recipients.
    List {
        #[arg(long)]
        tenant: String,
    },
    /// Remove a recipient (by its primary address) and its aliases.
    Remove { address: String },
}

#[derive(Debug, Subcommand)]
pub enum ConnectorCommand {
    /// Add an inbound (default) or outbound connector.
    Add(ConnectorAdd),
    /// Connectors of both directions (of one tenant with --tenant).
    List {
        #[arg(long)]
        tenant: Option<String>,
    },
    /// One connector in full.
    Show {
        name: String,
        #[arg(long)]
        tenant: String,
    },
    Enable {
        name: String,
        #[arg(long)]
        tenant: String,
    },
    Disable {
        name: String,
        #[arg(long)]
        tenant: String,
    },
    Remove {
        name: String,
        #[arg(long)]
        tenant: String,
    },
    /// Test an outbound connector step by step: resolve, connect, banner, EHLO, STARTTLS,
    /// with --to a test message, QUIT. Fails (exit status 1) at the first failed step.
    Validate(crate::outbound_cli::Validate),
}

/// `connector add`: the flags of both directions; each direction refuses the other's.
#[derive(Debug, clap::Args)]
pub struct ConnectorAdd {
    pub name: String,
    #[arg(long)]
    pub tenant: String,
    /// inbound (mail arriving from a partner or the tenant's own server) or outbound
    /// (routes for the tenant's mail leaving Sluice).
    #[arg(long, default_value = "inbound")]
    pub direction: String,
    /// Inbound: partner or on-premises.
    #[arg(long)]
    pub kind: Option<String>,
    /// Inbound: a sender IP range (CIDR) identifying the connector (repeatable).
    #[arg(long = "ip")]
    pub ips: Vec<String>,
    /// Inbound: a TLS client-certificate name identifying the connector; `*.` for one label (repeatable).
    #[arg(long = "cert-name")]
    pub cert_names: Vec<String>,
    /// Inbound: a sender domain the connector carries (repeatable).
    #[arg(long = "sender-domain")]
    pub sender_domains: Vec<String>,
    /// Inbound: a sender domain only accepted through this connector (repeatable; restricts
    /// every sender domain of the connector).
    #[arg(long = "restrict-sender-domain")]
    pub restrict_sender_domains: Vec<String>,
    /// Inbound: refuse mail not sent over TLS (the default for partners).
    #[arg(long, conflicts_with = "no_require_tls")]
    pub require_tls: bool,
    /// Inbound: accept mail without TLS (the default for on-premises).
    #[arg(long)]
    pub no_require_tls: bool,
    /// Outbound: a recipient domain it carries, sub-domains included (repeatable; none: all domains).
    #[arg(long = "recipient-domain")]
    pub recipient_domains: Vec<String>,
    /// Outbound: a smart host HOST[:PORT] (port 25 by default), tried in order (repeatable;
    /// none: deliver by MX).
    #[arg(long = "smart-host")]
    pub smart_hosts: Vec<String>,
    /// Outbound: opportunistic (default), required, verify-certificate or verify-domain.
    #[arg(long)]
    pub tls: Option<String>,
    /// Outbound, with --tls verify-domain: the domain the server certificate must be valid for.
    #[arg(long)]
    pub tls_domain: Option<String>,
    /// Create it disabled.
    #[arg(long)]
    pub disabled: bool,
}

#[derive(Debug, Subcommand)]
pub enum ReputationCommand {
    /// Refuse non-connector mail from a range (550 5.7.708).
    Block {
        cidr: String,
        /// Why, for the next operator.
        #[arg(long)]
        note: Option<String>,
    },
    /// Exempt a range from every block covering it.
    Except {
        cidr: String,
        #[arg(long)]
        note: Option<String>,
    },
    /// Remove a block or exception.
    Remove { cidr: String },
    /// Blocks and exceptions.
    List,
}

/// The data directory of a config: the parent of its spool directory (`<data_dir>/spool`).
pub fn data_dir(config: &Config) -> anyhow::Result<PathBuf> {
    match config.gateway.spool_dir.parent() {
        Some(dir) => Ok(dir.to_path_buf()),
        None => bail!("data_dir: cannot derive it from {}", config.gateway.spool_dir.display()),
    }
}

pub(crate) fn open(config_path: Option<&Path>) -> anyhow::Result<SqliteStore> {
    Ok(open_with_config(config_path)?.0)
}

/// The store and the config it was found through (for the service domain and resolver).
fn open_with_config(config_path: Option<&Path>) -> anyhow::Result<(SqliteStore, Config)> {
    let config = crate::config::load(config_path)?;
    let dir = data_dir(&config)?;
    std::fs::create_dir_all(&dir)
        .with_context(|| format!("creating the data directory {}", dir.display()))?;
    let db = dir.join("sluice.db");
    let store = SqliteStore::open(&db).map_err(|e| {
        anyhow::anyhow!("{e}; check data_dir in the config, or restore {} from a backup", db.display())
    })?;
    Ok((store, config))
}

pub(crate) fn tenant_id(text: &str) -> anyhow::Result<TenantId> {
    Ok(TenantId::parse(text)?)
}

fn domain_name(field: &'static str, text: &str) -> anyhow::Result<DomainName> {
    Ok(DomainName::parse(field, text)?)
}

pub(crate) fn invalid(field: &'static str, value: &str, reason: &str) -> anyhow::Error {
    DirectoryError::invalid(field, value, reason).into()
}

/// One table row, without the padding of its last column.
fn row(line: String) {
    println!("{}", line.trim_end());
}

fn yes_no(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

fn status_text(status: TenantStatus) -> &'static str {
    match status {
        TenantStatus::Active => "active",
        TenantStatus::Suspended => "suspended",
    }
}

fn verification_text(domain: &AcceptedDomain) -> &'static str {
    match domain.verification {
        VerificationState::Verified => "verified",
        VerificationState::Pending => "pending",
    }
}

pub fn tenant(config_path: Option<&Path>, command: TenantCommand) -> anyhow::Result<()> {
    let (mut store, config) = open_with_config(config_path)?;
    match command {
        TenantCommand::Add { id, name, language, service_domain } => {
            let service_domain = match service_domain {
                Some(text) => domain_name("tenant.service_domain", &text)?,
                None => config.service_domain.clone(),
            };
            let new = NewTenant::new(&id, name.as_deref().unwrap_or(&id), &language)?;
            let tenant = store.add_tenant(&new, &service_domain)?;
            println!(
                "tenant {} added ({}), service domain {}.{service_domain} (verified)",
                tenant.id, tenant.display_name, tenant.id
            );
        }
        TenantCommand::List => {
            let tenants = store.list_tenants()?;
            if tenants.is_empty() {
                println!("no tenants");
            }
            for t in tenants {
                row(format!(
                    "{:<24} {:<10} {:<4} {}",
                    t.id.as_str(),
                    status_text(t.status),
                    t.language,
                    t.display_name
                ));
            }
        }
        TenantCommand::Show { id } => {
            let id = tenant_id(&id)?;
            let tenant = store
                .list_tenants()?
                .into_iter()
                .find(|t| t.id == id)
                .ok_or_else(|| DirectoryError::UnknownTenant { id: id.to_string() })?;
            println!("tenant:       {}", tenant.id);
            println!("name:         {}", tenant.display_name);
            println!("status:       {}", status_text(tenant.status));
            println!("language:     {}", tenant.language);
            println!("domains:");
            for d in store.list_domains(Some(&id))? {
                let service = if d.service { ", service domain" } else { "" };
                println!("  {} ({}, {}{service})", d.name, d.kind, verification_text(&d));
            }
            println!("connectors:");
            for c in store.list_connectors(Some(&id))? {
                let state = if c.enabled { "enabled" } else { "disabled" };
                println!("  {} ({}, {state})", c.name, c.kind);
            }
            for c in store.list_outbound_connectors(Some(&id))? {
                let state = if c.enabled { "enabled" } else { "disabled" };
                println!("  {} (outbound, {state})", c.name);
            }
            println!("recipients:   {}", store.list_recipients(&id)?.len());
            print_outbound_state(&store, &id)?;
        }
        TenantCommand::Release { id, by, reason } => {
            let now =
                std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
            let release = store.release_outbound(&tenant_id(&id)?, &by, &reason, now)?;
            println!(
                "tenant {} released by {}: outbound mail flows again within seconds (it was blocked for: {})",
                release.block.tenant, release.released_by, release.block.reason
            );
        }
        TenantCommand::Suspend { id } => {
            let t = store.set_tenant_status(&tenant_id(&id)?, TenantStatus::Suspended)?;
            println!("tenant {} suspended: its mail is refused until `sluice tenant resume {}`", t.id, t.id);
        }
        TenantCommand::Resume { id } => {
            let t = store.set_tenant_status(&tenant_id(&id)?, TenantStatus::Active)?;
            println!("tenant {} is active", t.id);
        }
    }
    Ok(())
}

/// The outbound block in force, if any, and the last release.
fn print_outbound_state(store: &SqliteStore, id: &TenantId) -> anyhow::Result<()> {
    match store.snapshot()?.outbound_block(id) {
        Some(block) => println!(
            "outbound:     BLOCKED (5.7.705) since {} (unix): {}; lift with `sluice tenant release {id} --by NAME --reason TEXT`",
            block.blocked_at_unix_s, block.reason
        ),
        None => println!("outbound:     allowed"),
    }
    if let Some(last) = store.outbound_releases(id)?.first() {
        println!(
            "last release: at {} (unix) by {}: {} (the block was: {})",
            last.released_at_unix_s, last.released_by, last.release_reason, last.block.reason
        );
    }
    Ok(())
}

fn parse_domain_kind(text: &str) -> anyhow::Result<DomainKind> {
    match text.trim().to_ascii_lowercase().as_str() {
        "authoritative" => Ok(DomainKind::Authoritative),
        "internal-relay" => Ok(DomainKind::InternalRelay),
        _ => Err(invalid("domain.kind", text, "expected authoritative or internal-relay")),
    }
}

pub fn domain(config_path: Option<&Path>, command: DomainCommand) -> anyhow::Result<()> {
    let (mut store, config) = open_with_config(config_path)?;
    match command {
        DomainCommand::Add { domain, tenant, kind, match_subdomains } => {
            let new = NewDomain {
                name: domain_name("domain.name", &domain)?,
                kind: parse_domain_kind(&kind)?,
                match_subdomains,
            };
            let added = store.add_domain(&tenant_id(&tenant)?, &new)?;
            println!(
                "domain {} added to tenant {} ({}), pending verification",
                added.name, added.tenant, added.kind
            );
            println!("publish this TXT record at {}:", added.name);
            println!("  {}. IN TXT \"{}\"", added.name, added.txt_record());
            println!("then run `sluice domain verify {}`", added.name);
        }
        DomainCommand::Verify { domain, resolver } => {
            verify(&mut store, &domain, resolver.as_deref(), config.resolver)?
        }
        DomainCommand::List { tenant } => {
            let tenant = tenant.as_deref().map(tenant_id).transpose()?;
            let domains = store.list_domains(tenant.as_ref())?;
            if domains.is_empty() {
                println!("no domains");
            }
            for d in domains {
                let subs = if d.match_subdomains { "+subdomains" } else { "" };
                let service = if d.service { "service" } else { "" };
                row(format!(
                    "{:<32} {:<20} {:<15} {:<9} {subs:<12} {service}",
                    d.name.as_str(),
                    d.tenant.as_str(),
                    d.kind.to_string(),
                    verification_text(&d)
                ));
            }
        }
        DomainCommand::Remove { domain } => {
            let name = domain_name("domain.name", &domain)?;
            store.remove_domain(&name)?;
            println!("domain {name} removed with its recipients");
        }
    }
    Ok(())
}

fn verify(
    store: &mut SqliteStore,
    domain: &str,
    resolver: Option<&str>,
    configured: Option<SocketAddr>,
) -> anyhow::Result<()> {
    let name = domain_name("domain.name", domain)?;
    let resolver: Option<SocketAddr> = match resolver {
        Some(r) => Some(
            r.parse()
                .map_err(|_| invalid("resolver", r, "expected ADDR:PORT, e.g. 127.0.0.1:53 or [::1]:53"))?,
        ),
        None => configured,
    };
    let accepted = store
        .list_domains(None)?
        .into_iter()
        .find(|d| d.name == name)
        .ok_or_else(|| DirectoryError::UnknownDomain { domain: name.to_string() })?;
    if accepted.verification == VerificationState::Verified {
        println!("domain {name} is already verified");
        return Ok(());
    }
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let outcome = runtime.block_on(async {
        let dns = Dns::new(resolver)?;
        dns.verify_domain(name.as_str(), &accepted.token).await
    })?;
    let expected = accepted.txt_record();
    match outcome {
        Verification::Verified => {
            store.mark_domain_verified(&name)?;
            println!("domain {name} verified: found TXT \"{expected}\"; it now receives mail");
            Ok(())
        }
        Verification::NoRecords => {
            bail!(
                "domain {name} not verified: no TXT records found at {name}; publish TXT \"{expected}\" there"
            )
        }
        Verification::TokenMissing { found } => {
            let found = if found.is_empty() {
                "no sluice-verification record".to_string()
            } else {
                found.iter().map(|f| format!("\"{f}\"")).collect::<Vec<_>>().join(", ")
            };
            bail!("domain {name} not verified: found {found} at {name}; publish TXT \"{expected}\" there")
        }
    }
}

fn split_address(address: &str) -> anyhow::Result<(String, DomainName)> {
    let (local, domain) = address
        .trim()
        .rsplit_once('@')
        .ok_or_else(|| invalid("recipient.address", address, "expected local-part@domain"))?;
    Ok((
        directory::normalise_local_part("recipient.address", local)?,
        domain_name("recipient.address", domain)?,
    ))
}

fn target_text(target: &DeliveryTarget) -> String {
    match target {
        DeliveryTarget::Maildir => "maildir".into(),
        DeliveryTarget::Smtp(hop) => format!("smtp {hop}"),
        DeliveryTarget::Lmtp(hop) => format!("lmtp {hop}"),
    }
}

pub fn recipient(config_path: Option<&Path>, command: RecipientCommand) -> anyhow::Result<()> {
    let mut store = open(config_path)?;
    match command {
        RecipientCommand::Add { address, tenant, aliases, smtp, lmtp } => {
            let target = match (smtp, lmtp) {
                (Some(hop), _) => DeliveryTarget::Smtp(NextHop::parse("recipient.smtp", &hop, 25)?),
                (None, Some(hop)) => DeliveryTarget::Lmtp(NextHop::parse("recipient.lmtp", &hop, 24)?),
                (None, None) => DeliveryTarget::Maildir,
            };
            let aliases: Vec<&str> = aliases.iter().map(String::as_str).collect();
            let r = Recipient::new(tenant_id(&tenant)?, &address, &aliases, target)?;
            store.add_recipient(&r)?;
            println!("recipient {} added to tenant {} ({})", r.address(), r.tenant, target_text(&r.target));
        }
        RecipientCommand::List { tenant } => {
            let id = tenant_id(&tenant)?;
            if !store.list_tenants()?.iter().any(|t| t.id == id) {
                return Err(DirectoryError::UnknownTenant { id: id.to_string() }.into());
            }
            let recipients = store.list_recipients(&id)?;
            if recipients.is_empty() {
                println!("tenant {id} has no recipients");
            }
            for r in recipients {
                let aliases = if r.aliases.is_empty() {
                    String::new()
                } else {
                    format!("aliases: {}", r.aliases.join(", "))
                };
                row(format!("{:<40} {:<28} {aliases}", r.address(), target_text(&r.target)));
            }
        }
        RecipientCommand::Remove { address } => {
            let (local, domain) = split_address(&address)?;
            store.remove_recipient(&local, &domain)?;
            println!("recipient {local}@{domain} removed with its aliases");
        }
    }
    Ok(())
}

fn parse_connector_kind(text: &str) -> anyhow::Result<ConnectorKind> {
    match text.trim().to_ascii_lowercase().as_str() {
        "partner" => Ok(ConnectorKind::Partner),
        "on-premises" => Ok(ConnectorKind::OnPremises),
        _ => Err(invalid("connector.kind", text, "expected partner or on-premises")),
    }
}

fn print_connector(c: &Connector) {
    fn list<T: ToString>(items: &[T]) -> String {
        if items.is_empty() {
            "-".into()
        } else {
            items.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
        }
    }
    println!("connector:      {}", c.name);
    println!("tenant:         {}", c.tenant);
    println!("kind:           {}", c.kind);
    println!("enabled:        {}", yes_no(c.enabled));
    println!("ip ranges:      {}", list(&c.ip_ranges));
    println!("cert names:     {}", list(&c.certificate_names));
    println!("sender domains: {}", list(&c.sender_domains));
    println!("restrict sender domains: {}", yes_no(c.restrict_sender_domains));
    println!("require tls:    {}", yes_no(c.require_tls));
}

/// Refuses a flag of the other direction, naming its field.
fn only_for(direction: &str, field: &'static str, given: bool) -> anyhow::Result<()> {
    if given {
        let hint = match direction {
            "outbound" => "only outbound connectors take it; add --direction outbound",
            _ => "only inbound connectors take it (outbound connectors are chosen by recipient domain)",
        };
        return Err(invalid(field, "", hint));
    }
    Ok(())
}

fn add_inbound(store: &mut SqliteStore, a: ConnectorAdd) -> anyhow::Result<()> {
    only_for("outbound", "connector.recipient_domain", !a.recipient_domains.is_empty())?;
    only_for("outbound", "connector.smart_host", !a.smart_hosts.is_empty())?;
    only_for("outbound", "connector.tls", a.tls.is_some())?;
    only_for("outbound", "connector.tls_domain", a.tls_domain.is_some())?;
    let kind = a.kind.as_deref().ok_or_else(|| {
        invalid("connector.kind", "", "an inbound connector needs --kind partner or --kind on-premises")
    })?;
    let mut c = Connector::new(tenant_id(&a.tenant)?, &a.name, parse_connector_kind(kind)?);
    for ip in &a.ips {
        c.ip_ranges.push(Cidr::parse("connector.ip", ip)?);
    }
    for cert in &a.cert_names {
        c.certificate_names.push(CertName::parse(cert)?);
    }
    for d in a.sender_domains.iter().chain(&a.restrict_sender_domains) {
        let d = domain_name("connector.sender_domain", d)?;
        if !c.sender_domains.contains(&d) {
            c.sender_domains.push(d);
        }
    }
    c.restrict_sender_domains = !a.restrict_sender_domains.is_empty();
    if a.require_tls {
        c.require_tls = true;
    }
    if a.no_require_tls {
        c.require_tls = false;
    }
    c.enabled = !a.disabled;
    store.add_connector(&c)?;
    println!("connector {:?} added to tenant {}", c.name, c.tenant);
    print_connector(&c);
    Ok(())
}

fn add_outbound(store: &mut SqliteStore, a: ConnectorAdd) -> anyhow::Result<()> {
    only_for("inbound", "connector.kind", a.kind.is_some())?;
    only_for("inbound", "connector.ip", !a.ips.is_empty())?;
    only_for("inbound", "connector.certificate_name", !a.cert_names.is_empty())?;
    let senders = !a.sender_domains.is_empty() || !a.restrict_sender_domains.is_empty();
    only_for("inbound", "connector.sender_domain", senders)?;
    only_for("inbound", "connector.require_tls", a.require_tls || a.no_require_tls)?;
    let route = if a.smart_hosts.is_empty() {
        OutboundRoute::Mx
    } else {
        let hosts =
            a.smart_hosts.iter().map(|h| NextHop::parse("connector.smart_host", h, SMART_HOST_PORT_DEFAULT));
        OutboundRoute::SmartHosts(hosts.collect::<Result<_, _>>()?)
    };
    let tls = OutboundTls::parse(a.tls.as_deref().unwrap_or("opportunistic"), a.tls_domain.as_deref())?;
    let mut c = OutboundConnector::new(tenant_id(&a.tenant)?, &a.name, route, tls);
    for d in &a.recipient_domains {
        c.recipient_domains.push(domain_name("connector.recipient_domain", d)?);
    }
    c.enabled = !a.disabled;
    store.add_outbound_connector(&c)?;
    println!("outbound connector {:?} added to tenant {}", c.name, c.tenant);
    crate::outbound_cli::print(&c);
    Ok(())
}

/// Inbound or outbound, whichever holds the name (one namespace per tenant).
enum Found {
    Inbound(Connector),
    Outbound(OutboundConnector),
}

fn find_connector(store: &SqliteStore, tenant: &TenantId, name: &str) -> anyhow::Result<Found> {
    match store.connector(tenant, name) {
        Ok(c) => Ok(Found::Inbound(c)),
        Err(StoreError::Directory(DirectoryError::UnknownConnector { .. })) => {
            Ok(Found::Outbound(store.outbound_connector(tenant, name)?))
        }
        Err(e) => Err(e.into()),
    }
}

fn set_enabled(store: &mut SqliteStore, name: &str, tenant: &str, enabled: bool) -> anyhow::Result<()> {
    let tenant = tenant_id(tenant)?;
    let name = match find_connector(store, &tenant, name)? {
        Found::Inbound(_) => store.set_connector_enabled(&tenant, name, enabled)?.name,
        Found::Outbound(_) => store.set_outbound_connector_enabled(&tenant, name, enabled)?.name,
    };
    println!("connector {name:?} of tenant {tenant} {}", if enabled { "enabled" } else { "disabled" });
    Ok(())
}

fn list_connectors(store: &SqliteStore, tenant: Option<String>) -> anyhow::Result<()> {
    let tenant = tenant.as_deref().map(tenant_id).transpose()?;
    let inbound = store.list_connectors(tenant.as_ref())?;
    let outbound = store.list_outbound_connectors(tenant.as_ref())?;
    if inbound.is_empty() && outbound.is_empty() {
        println!("no connectors");
    }
    for c in inbound {
        let state = if c.enabled { "enabled" } else { "disabled" };
        let tls = if c.require_tls { "tls-required" } else { "" };
        row(format!("{:<20} {:<24} {:<12} {state:<9} {tls}", c.tenant.as_str(), c.name, c.kind.to_string()));
    }
    for c in outbound {
        let state = if c.enabled { "enabled" } else { "disabled" };
        let route = crate::outbound_cli::route_text(&c.route);
        row(format!(
            "{:<20} {:<24} {:<12} {state:<9} tls-{} {route}",
            c.tenant.as_str(),
            c.name,
            "outbound",
            c.tls
        ));
    }
    Ok(())
}

pub fn connector(config_path: Option<&Path>, command: ConnectorCommand) -> anyhow::Result<()> {
    let mut store = open(config_path)?;
    match command {
        ConnectorCommand::Add(add) => match add.direction.trim().to_ascii_lowercase().as_str() {
            "inbound" => add_inbound(&mut store, add)?,
            "outbound" => add_outbound(&mut store, add)?,
            other => return Err(invalid("connector.direction", other, "expected inbound or outbound")),
        },
        ConnectorCommand::List { tenant } => list_connectors(&store, tenant)?,
        ConnectorCommand::Show { name, tenant } => match find_connector(&store, &tenant_id(&tenant)?, &name)?
        {
            Found::Inbound(c) => print_connector(&c),
            Found::Outbound(c) => crate::outbound_cli::print(&c),
        },
        ConnectorCommand::Enable { name, tenant } => set_enabled(&mut store, &name, &tenant, true)?,
        ConnectorCommand::Disable { name, tenant } => set_enabled(&mut store, &name, &tenant, false)?,
        ConnectorCommand::Remove { name, tenant } => {
            let tenant = tenant_id(&tenant)?;
            match find_connector(&store, &tenant, &name)? {
                Found::Inbound(_) => store.remove_connector(&tenant, &name)?,
                Found::Outbound(_) => store.remove_outbound_connector(&tenant, &name)?,
            }
            println!("connector {name:?} of tenant {tenant} removed");
        }
        ConnectorCommand::Validate(args) => crate::outbound_cli::validate(&store, config_path, args)?,
    }
    Ok(())
}

pub fn reputation(config_path: Option<&Path>, command: ReputationCommand) -> anyhow::Result<()> {
    let mut store = open(config_path)?;
    let mut set = |cidr: &str, kind: ReputationKind, note: Option<String>| -> anyhow::Result<Cidr> {
        let cidr = Cidr::parse("reputation.cidr", cidr)?;
        let note = note.unwrap_or_default().replace(['\n', '\r'], " ");
        store.set_reputation(&ReputationEntry { cidr, kind, note })?;
        Ok(cidr)
    };
    match command {
        ReputationCommand::Block { cidr, note } => {
            let cidr = set(&cidr, ReputationKind::Block, note)?;
            println!("{cidr} blocked: mail from it without a connector is refused (550 5.7.708)");
        }
        ReputationCommand::Except { cidr, note } => {
            let cidr = set(&cidr, ReputationKind::Exception, note)?;
            println!("{cidr} excepted: no block applies to it");
        }
        ReputationCommand::Remove { cidr } => {
            let cidr = Cidr::parse("reputation.cidr", &cidr)?;
            store.remove_reputation(&cidr)?;
            println!("{cidr} removed from the reputation list");
        }
        ReputationCommand::List => {
            let entries = store.list_reputation()?;
            if entries.is_empty() {
                println!("the reputation list is empty");
            }
            for e in entries {
                let kind = match e.kind {
                    ReputationKind::Block => "block",
                    ReputationKind::Exception => "exception",
                };
                if e.note.is_empty() {
                    println!("{:<44} {kind}", e.cidr.to_string());
                } else {
                    println!("{:<44} {kind:<10} # {}", e.cidr.to_string(), e.note);
                }
            }
        }
    }
    Ok(())
}
