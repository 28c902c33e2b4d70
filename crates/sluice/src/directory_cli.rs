//! `sluice tenant|domain|recipient|connector|reputation ...`: the tenant directory of a data
//! directory (`<data_dir>/sluice.db`, created on first use), through the admin plane's
//! operations as a local operator: the same validation (errors name the field:
//! `connector.ip`, `domain.name`, ...), rules and audit entries as the HTTP API. This file
//! only turns flags into inputs and views into lines.

use std::path::Path;

use admin::AdminError;
use admin::views::{
    ConnectorInput, ConnectorView, DomainInput, RecipientInput, ReleaseInput, ReputationInput, TenantInput,
};
use clap::Subcommand;

use crate::admin_cli::open;

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

/// One table row, without the padding of its last column.
fn row(line: String) {
    println!("{}", line.trim_end());
}

fn yes_no(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

pub fn tenant(config_path: Option<&Path>, command: TenantCommand) -> anyhow::Result<()> {
    let (admin, cx, config) = open(config_path)?;
    match command {
        TenantCommand::Add { id, name, language, service_domain } => {
            let input = TenantInput { id, name, language: Some(language), service_domain };
            let tenant = admin.add_tenant(&cx, &input)?;
            let domain = admin.list_domains(&cx, Some(&tenant.id))?.into_iter().find(|d| d.service);
            let domain =
                domain.map_or_else(|| format!("{}.{}", tenant.id, config.service_domain), |d| d.name);
            println!("tenant {} added ({}), service domain {domain} (verified)", tenant.id, tenant.name);
        }
        TenantCommand::List => {
            let tenants = admin.list_tenants(&cx)?;
            if tenants.is_empty() {
                println!("no tenants");
            }
            for t in tenants {
                row(format!("{:<24} {:<10} {:<4} {}", t.id, t.status, t.language, t.name));
            }
        }
        TenantCommand::Show { id } => {
            let tenant = admin.tenant(&cx, &id)?;
            println!("tenant:       {}", tenant.id);
            println!("name:         {}", tenant.name);
            println!("status:       {}", tenant.status);
            println!("language:     {}", tenant.language);
            println!("domains:");
            for d in admin.list_domains(&cx, Some(&tenant.id))? {
                let service = if d.service { ", service domain" } else { "" };
                println!("  {} ({}, {}{service})", d.name, d.kind, d.verification);
            }
            println!("connectors:");
            for c in admin.list_connectors(&cx, Some(&tenant.id))? {
                let state = if c.enabled { "enabled" } else { "disabled" };
                let kind = c.kind.as_deref().unwrap_or("outbound");
                println!("  {} ({kind}, {state})", c.name);
            }
            println!("recipients:   {}", admin.list_recipients(&cx, &tenant.id)?.len());
            let outbound = admin.outbound_state(&cx, &tenant.id)?;
            match &outbound.block {
                Some(block) => println!(
                    "outbound:     BLOCKED (5.7.705) since {} (unix): {}; lift with `sluice tenant release {} --by NAME --reason TEXT`",
                    block.blocked_at_unix_s, block.reason, tenant.id
                ),
                None => println!("outbound:     allowed"),
            }
            if let Some(last) = outbound.releases.first() {
                println!(
                    "last release: at {} (unix) by {}: {} (the block was: {})",
                    last.released_at_unix_s, last.released_by, last.reason, last.block.reason
                );
            }
        }
        TenantCommand::Release { id, by, reason } => {
            let before = admin.outbound_state(&cx, &id)?;
            let after = admin.release_outbound(&cx, &id, &ReleaseInput { reason, by: Some(by) })?;
            let was = before.block.map(|b| b.reason).unwrap_or_default();
            let by = after.releases.first().map(|r| r.released_by.clone()).unwrap_or_default();
            println!(
                "tenant {} released by {by}: outbound mail flows again within seconds (it was blocked for: {was})",
                after.tenant
            );
        }
        TenantCommand::Suspend { id } => {
            let t = admin.set_tenant_suspended(&cx, &id, true)?;
            println!("tenant {} suspended: its mail is refused until `sluice tenant resume {}`", t.id, t.id);
        }
        TenantCommand::Resume { id } => {
            let t = admin.set_tenant_suspended(&cx, &id, false)?;
            println!("tenant {} is active", t.id);
        }
    }
    Ok(())
}

pub fn domain(config_path: Option<&Path>, command: DomainCommand) -> anyhow::Result<()> {
    let mut config = crate::config::load(config_path)?;
    if let DomainCommand::Verify { resolver: Some(r), .. } = &command {
        let addr = r.parse().map_err(|_| {
            AdminError::invalid(
                "resolver",
                format!("invalid resolver {r:?}: expected ADDR:PORT, e.g. 127.0.0.1:53 or [::1]:53"),
            )
        })?;
        config.resolver = Some(addr);
    }
    let (admin, cx) = (crate::admin_cli::open_admin(&config)?, crate::admin_cli::local_context());
    match command {
        DomainCommand::Add { domain, tenant, kind, match_subdomains } => {
            let added = admin.add_domain(
                &cx,
                &tenant,
                &DomainInput { name: domain, kind: Some(kind), match_subdomains },
            )?;
            println!(
                "domain {} added to tenant {} ({}), pending verification",
                added.name, added.tenant, added.kind
            );
            println!("publish this TXT record at {}:", added.name);
            println!("  {}. IN TXT \"{}\"", added.name, added.txt_record);
            println!("then run `sluice domain verify {}`", added.name);
        }
        DomainCommand::Verify { domain, .. } => {
            let outcome = admin.verify_domain(&cx, None, &domain)?;
            println!("{}", outcome.message);
        }
        DomainCommand::List { tenant } => {
            let domains = admin.list_domains(&cx, tenant.as_deref())?;
            if domains.is_empty() {
                println!("no domains");
            }
            for d in domains {
                let subs = if d.match_subdomains { "+subdomains" } else { "" };
                let service = if d.service { "service" } else { "" };
                row(format!(
                    "{:<32} {:<20} {:<15} {:<9} {subs:<12} {service}",
                    d.name, d.tenant, d.kind, d.verification
                ));
            }
        }
        DomainCommand::Remove { domain } => {
            admin.remove_domain(&cx, None, &domain)?;
            let name =
                directory::DomainName::parse("domain.name", &domain).map(|d| d.to_string()).unwrap_or(domain);
            println!("domain {name} removed with its recipients");
        }
    }
    Ok(())
}

pub fn recipient(config_path: Option<&Path>, command: RecipientCommand) -> anyhow::Result<()> {
    let (admin, cx, _) = open(config_path)?;
    match command {
        RecipientCommand::Add { address, tenant, aliases, smtp, lmtp } => {
            let r =
                admin.add_recipient(&cx, &tenant, &RecipientInput { address, alias: aliases, smtp, lmtp })?;
            println!("recipient {} added to tenant {} ({})", r.address, r.tenant, r.target);
        }
        RecipientCommand::List { tenant } => {
            let recipients = admin.list_recipients(&cx, &tenant)?;
            if recipients.is_empty() {
                println!("tenant {} has no recipients", tenant.trim().to_ascii_lowercase());
            }
            for r in recipients {
                let aliases = if r.aliases.is_empty() {
                    String::new()
                } else {
                    format!("aliases: {}", r.aliases.join(", "))
                };
                row(format!("{:<40} {:<28} {aliases}", r.address, r.target));
            }
        }
        RecipientCommand::Remove { address } => {
            admin.remove_recipient(&cx, None, &address)?;
            println!("recipient {} removed with its aliases", address.trim().to_lowercase());
        }
    }
    Ok(())
}

fn list(items: &[String]) -> String {
    if items.is_empty() { "-".into() } else { items.join(", ") }
}

/// One connector in full.
pub(crate) fn print_connector(c: &ConnectorView) {
    println!("connector:      {}", c.name);
    println!("tenant:         {}", c.tenant);
    match c.kind.as_deref() {
        Some(kind) => {
            println!("kind:           {kind}");
            println!("enabled:        {}", yes_no(c.enabled));
            println!("ip ranges:      {}", list(&c.ip));
            println!("cert names:     {}", list(&c.certificate_name));
            println!("sender domains: {}", list(&c.sender_domain));
            println!("restrict sender domains: {}", yes_no(c.restrict_sender_domains));
            println!("require tls:    {}", yes_no(c.require_tls));
        }
        None => {
            println!("direction:      outbound");
            println!("enabled:        {}", yes_no(c.enabled));
            let domains =
                if c.recipient_domain.is_empty() { "* (all)".into() } else { c.recipient_domain.join(", ") };
            println!("recipient domains: {domains}");
            println!("route:          {}", route_text(c));
            println!("tls:            {}", tls_text(c));
        }
    }
}

fn route_text(c: &ConnectorView) -> String {
    if c.smart_host.is_empty() { "mx".into() } else { format!("smart-hosts {}", c.smart_host.join(", ")) }
}

fn tls_text(c: &ConnectorView) -> String {
    match (&c.tls, &c.tls_domain) {
        (Some(mode), Some(domain)) => format!("{mode} {domain}"),
        (Some(mode), None) => mode.clone(),
        (None, _) => String::new(),
    }
}

fn connector_input(a: ConnectorAdd) -> ConnectorInput {
    ConnectorInput {
        name: a.name,
        direction: Some(a.direction),
        kind: a.kind,
        ip: a.ips,
        certificate_name: a.cert_names,
        sender_domain: a.sender_domains,
        restrict_sender_domain: a.restrict_sender_domains,
        require_tls: match (a.require_tls, a.no_require_tls) {
            (true, _) => Some(true),
            (_, true) => Some(false),
            _ => None,
        },
        recipient_domain: a.recipient_domains,
        smart_host: a.smart_hosts,
        tls: a.tls,
        tls_domain: a.tls_domain,
        enabled: Some(!a.disabled),
    }
}

pub fn connector(config_path: Option<&Path>, command: ConnectorCommand) -> anyhow::Result<()> {
    let mut config = crate::config::load(config_path)?;
    if let ConnectorCommand::Validate(crate::outbound_cli::Validate { resolver: Some(r), .. }) = &command {
        let addr = r.parse().map_err(|_| {
            AdminError::invalid(
                "resolver",
                format!("invalid resolver {r:?}: expected ADDR:PORT, e.g. 127.0.0.1:53"),
            )
        })?;
        config.resolver = Some(addr);
    }
    let (admin, cx) = (crate::admin_cli::open_admin(&config)?, crate::admin_cli::local_context());
    match command {
        ConnectorCommand::Add(add) => {
            let tenant = add.tenant.clone();
            let c = admin.add_connector(&cx, &tenant, &connector_input(add))?;
            let direction = if c.kind.is_some() { "connector" } else { "outbound connector" };
            println!("{direction} {:?} added to tenant {}", c.name, c.tenant);
            print_connector(&c);
        }
        ConnectorCommand::List { tenant } => {
            let connectors = admin.list_connectors(&cx, tenant.as_deref())?;
            if connectors.is_empty() {
                println!("no connectors");
            }
            for c in connectors {
                let state = if c.enabled { "enabled" } else { "disabled" };
                match c.kind.as_deref() {
                    Some(kind) => {
                        let tls = if c.require_tls { "tls-required" } else { "" };
                        row(format!("{:<20} {:<24} {kind:<12} {state:<9} {tls}", c.tenant, c.name));
                    }
                    None => row(format!(
                        "{:<20} {:<24} {:<12} {state:<9} tls-{} {}",
                        c.tenant,
                        c.name,
                        "outbound",
                        tls_text(&c),
                        route_text(&c)
                    )),
                }
            }
        }
        ConnectorCommand::Show { name, tenant } => print_connector(&admin.connector(&cx, &tenant, &name)?),
        ConnectorCommand::Enable { name, tenant } => {
            let c = admin.set_connector_enabled(&cx, &tenant, &name, true)?;
            println!("connector {:?} of tenant {} enabled", c.name, c.tenant);
        }
        ConnectorCommand::Disable { name, tenant } => {
            let c = admin.set_connector_enabled(&cx, &tenant, &name, false)?;
            println!("connector {:?} of tenant {} disabled", c.name, c.tenant);
        }
        ConnectorCommand::Remove { name, tenant } => {
            admin.remove_connector(&cx, &tenant, &name)?;
            println!("connector {name:?} of tenant {} removed", tenant.trim().to_ascii_lowercase());
        }
        ConnectorCommand::Validate(args) => crate::outbound_cli::validate(&admin, &cx, args)?,
    }
    Ok(())
}

pub fn reputation(config_path: Option<&Path>, command: ReputationCommand) -> anyhow::Result<()> {
    let (admin, cx, _) = open(config_path)?;
    match command {
        ReputationCommand::Block { cidr, note } => {
            let e = admin.set_reputation(&cx, &ReputationInput { cidr, kind: "block".into(), note })?;
            println!("{} blocked: mail from it without a connector is refused (550 5.7.708)", e.cidr);
        }
        ReputationCommand::Except { cidr, note } => {
            let e = admin.set_reputation(&cx, &ReputationInput { cidr, kind: "exception".into(), note })?;
            println!("{} excepted: no block applies to it", e.cidr);
        }
        ReputationCommand::Remove { cidr } => {
            let shown = directory::Cidr::parse("reputation.cidr", &cidr)
                .map(|c| c.to_string())
                .unwrap_or_else(|_| cidr.clone());
            admin.remove_reputation(&cx, &cidr)?;
            println!("{shown} removed from the reputation list");
        }
        ReputationCommand::List => {
            let entries = admin.list_reputation(&cx)?;
            if entries.is_empty() {
                println!("the reputation list is empty");
            }
            for e in entries {
                if e.note.is_empty() {
                    println!("{:<44} {}", e.cidr, e.kind);
                } else {
                    println!("{:<44} {:<10} # {}", e.cidr, e.kind, e.note);
                }
            }
        }
    }
    Ok(())
}
