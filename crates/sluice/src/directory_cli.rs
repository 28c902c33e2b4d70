//! `sluice tenant|domain|recipient|connector|reputation ...`: the tenant directory of a data
//! directory (`<data_dir>/sluice.db`), through the admin plane's operations as a local
//! operator: the same validation (errors name the field: `connector.ip`, `domain.name`,
//! ...), rules and audit entries as the HTTP API. This file only turns flags into inputs
//! and views into lines (or JSON with `--json`); next steps it prints carry the
//! `--config` flag the operator used.

use std::path::Path;

use admin::AdminError;
use admin::views::{
    ConnectorEdit, ConnectorInput, ConnectorView, DomainInput, RecipientInput, ReleaseInput, ReputationInput,
    TenantInput,
};
use clap::Subcommand;

use crate::admin_cli::{Cli, Db, open, open_loaded, print_json, when_ago};

#[derive(Debug, Subcommand)]
pub enum TenantCommand {
    /// Create a tenant (active) with its service domain `<id>.<service domain>`.
    #[command(after_help = "Example:\n  sluice tenant add acme --name \"Acme Corp\" --language fr")]
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
    #[command(after_help = "Example:\n  sluice tenant list --json")]
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// One tenant with its domains, connectors, recipient count and outbound state.
    #[command(after_help = "Example:\n  sluice tenant show acme")]
    Show {
        id: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Hold the tenant's mail (inbound 451 4.2.1, senders retry; outbound 550 5.7.705) until
    /// resumed.
    #[command(after_help = "Example:\n  sluice tenant suspend acme")]
    Suspend { id: String },
    /// Make a suspended tenant active again.
    #[command(after_help = "Example:\n  sluice tenant resume acme")]
    Resume { id: String },
    /// Lift the outbound block (5.7.705) that outbound protection put on a tenant.
    #[command(
        after_help = "Example:\n  sluice tenant release acme --by ann --reason \"compromised account closed\""
    )]
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
    /// Claim an accepted domain (pending) and print the TXT record to publish. Several
    /// tenants may claim a name: whoever verifies first owns it.
    #[command(after_help = "Example:\n  sluice domain add acme.example --tenant acme --kind internal-relay")]
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
    #[command(after_help = "Example:\n  sluice domain verify acme.example --resolver 127.0.0.1:53")]
    Verify {
        domain: String,
        /// The claiming tenant, when several tenants claim the name.
        #[arg(long)]
        tenant: Option<String>,
        /// A DNS server ADDR:PORT instead of the config's `[dns] resolver` (or the system's).
        #[arg(long)]
        resolver: Option<String>,
    },
    /// Accepted domains and pending claims (of one tenant with --tenant).
    #[command(after_help = "Example:\n  sluice domain list --tenant acme --json")]
    List {
        #[arg(long)]
        tenant: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Remove a domain and its recipients, or a pending claim.
    #[command(after_help = "Example:\n  sluice domain remove old.acme.example --tenant acme")]
    Remove {
        domain: String,
        /// The claiming tenant, when several tenants claim the name.
        #[arg(long)]
        tenant: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum RecipientCommand {
    /// List an address (local@domain) of one of the tenant's accepted domains.
    #[command(
        after_help = "Example:\n  sluice recipient add bob@acme.example --tenant acme --alias robert --lmtp mbox.acme.example"
    )]
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
    #[command(after_help = "Example:\n  sluice recipient list --tenant acme --json")]
    List {
        #[arg(long)]
        tenant: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Remove a recipient (by its primary address) and its aliases.
    #[command(after_help = "Example:\n  sluice recipient remove bob@acme.example")]
    Remove { address: String },
}

#[derive(Debug, Subcommand)]
pub enum ConnectorCommand {
    /// Add an inbound (default) or outbound connector.
    #[command(
        after_help = "Example:\n  sluice connector add \"partner relay\" --tenant acme --kind partner --ip 203.0.113.0/24 --note \"ticket 4411\""
    )]
    Add(ConnectorAdd),
    /// Change a connector in place; who (--by, default you), when and what changed are kept.
    #[command(
        after_help = "Example:\n  sluice connector edit \"partner relay\" --tenant acme --add-ip 198.51.100.7/32 --require-tls --note \"new relay\""
    )]
    Edit(ConnectorEditArgs),
    /// Connectors of both directions (of one tenant with --tenant).
    #[command(after_help = "Example:\n  sluice connector list --tenant acme --json")]
    List {
        #[arg(long)]
        tenant: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// One connector in full, with who created and last changed it.
    #[command(after_help = "Example:\n  sluice connector show \"partner relay\" --tenant acme")]
    Show {
        name: String,
        #[arg(long)]
        tenant: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Turn a connector on: its trust and rules apply again at once.
    #[command(after_help = "Example:\n  sluice connector enable \"partner relay\" --tenant acme")]
    Enable {
        name: String,
        #[arg(long)]
        tenant: String,
    },
    /// Turn a connector off without removing it: it matches no client until enabled.
    #[command(after_help = "Example:\n  sluice connector disable \"partner relay\" --tenant acme")]
    Disable {
        name: String,
        #[arg(long)]
        tenant: String,
    },
    /// Remove a connector of either direction.
    #[command(after_help = "Example:\n  sluice connector remove \"partner relay\" --tenant acme")]
    Remove {
        name: String,
        #[arg(long)]
        tenant: String,
    },
    /// Outbound: test it step by step (resolve, connect, banner, EHLO, STARTTLS, with --to a
    /// test message, QUIT). Inbound: explain how a client (--client-ip, --client-cert) would
    /// be treated, with the exact reply for --to; nothing is sent. Exit status 1 on failure.
    #[command(
        after_help = "Examples:\n  sluice connector validate partner-out --tenant acme --to test@partner.example\n  sluice connector validate \"partner relay\" --tenant acme --client-ip 203.0.113.9 --to bob@acme.example"
    )]
    Validate(crate::connector_cli::Validate),
    /// Risk flags on connectors (very broad ranges, ranges shared with other tenants,
    /// on-premises without TLS, recent changes, disabled ones, wildcard certificate names on
    /// a public suffix); exit status 1 when any is high-risk.
    #[command(after_help = "Example:\n  sluice connector audit --tenant acme")]
    Audit {
        #[arg(long)]
        tenant: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
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
    /// Why it exists (kept in its change record).
    #[arg(long)]
    pub note: Option<String>,
    /// Who creates it, for the record (default: you, as os:<user>).
    #[arg(long)]
    pub by: Option<String>,
}

/// `connector edit`: what to add, remove or set.
#[derive(Debug, clap::Args)]
pub struct ConnectorEditArgs {
    pub name: String,
    #[arg(long)]
    pub tenant: String,
    /// Inbound: add a sender IP range (repeatable).
    #[arg(long)]
    pub add_ip: Vec<String>,
    /// Inbound: remove a sender IP range (repeatable).
    #[arg(long)]
    pub remove_ip: Vec<String>,
    /// Inbound: add a certificate name (repeatable).
    #[arg(long)]
    pub add_cert_name: Vec<String>,
    /// Inbound: remove a certificate name (repeatable).
    #[arg(long)]
    pub remove_cert_name: Vec<String>,
    /// Inbound: add a sender domain (repeatable).
    #[arg(long)]
    pub add_sender_domain: Vec<String>,
    /// Inbound: remove a sender domain (repeatable).
    #[arg(long)]
    pub remove_sender_domain: Vec<String>,
    /// Inbound: reject mail for its sender domains unless it comes through it.
    #[arg(long, conflicts_with = "no_restrict_sender_domains")]
    pub restrict_sender_domains: bool,
    #[arg(long)]
    pub no_restrict_sender_domains: bool,
    /// Inbound: reject mail not sent over TLS.
    #[arg(long, conflicts_with = "no_require_tls")]
    pub require_tls: bool,
    #[arg(long)]
    pub no_require_tls: bool,
    /// Outbound: add a recipient domain (repeatable).
    #[arg(long)]
    pub add_recipient_domain: Vec<String>,
    /// Outbound: remove a recipient domain (repeatable).
    #[arg(long)]
    pub remove_recipient_domain: Vec<String>,
    /// Outbound: add a smart host at the end of the list (repeatable).
    #[arg(long)]
    pub add_smart_host: Vec<String>,
    /// Outbound: remove a smart host (repeatable; none left: by MX).
    #[arg(long)]
    pub remove_smart_host: Vec<String>,
    /// Outbound: opportunistic, required, verify-certificate or verify-domain.
    #[arg(long)]
    pub tls: Option<String>,
    /// Outbound: the domain a verify-domain certificate must be valid for.
    #[arg(long)]
    pub tls_domain: Option<String>,
    /// Why (kept in the change record with what changed).
    #[arg(long)]
    pub note: Option<String>,
    /// Who changes it, for the record (default: you, as os:<user>).
    #[arg(long)]
    pub by: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum ReputationCommand {
    /// Refuse mail from a range for the recipients of every tenant that has no connector for
    /// it (550 5.7.708).
    #[command(
        after_help = "Example:\n  sluice reputation block 198.51.100.0/24 --note \"spam source\" --expires 30d"
    )]
    Block {
        cidr: String,
        /// Why, for the next operator.
        #[arg(long)]
        note: Option<String>,
        /// It stops applying after this long (30d, 12h, ...); the server then removes it and logs it once.
        #[arg(long)]
        expires: Option<String>,
    },
    /// Exempt a range from every block covering it (and from DNS blocklists).
    #[command(
        after_help = "Example:\n  sluice reputation except 198.51.100.7/32 --note \"request 12\" --expires 30d"
    )]
    Except {
        cidr: String,
        #[arg(long)]
        note: Option<String>,
        /// It stops applying after this long (30d, 12h, ...); the server then removes it and logs it once.
        #[arg(long)]
        expires: Option<String>,
    },
    /// Remove a block or exception.
    #[command(after_help = "Example:\n  sluice reputation remove 198.51.100.0/24")]
    Remove { cidr: String },
    /// Blocks and exceptions, with their expiry.
    #[command(after_help = "Example:\n  sluice reputation list --json")]
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// One table row, without the padding of its last column.
fn row(line: String) {
    println!("{}", line.trim_end());
}

fn yes_no(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

pub fn tenant(flag: Option<&Path>, command: TenantCommand) -> anyhow::Result<()> {
    let db = if matches!(command, TenantCommand::Add { .. }) { Db::CreateIfMissing } else { Db::Existing };
    let cli = open(flag, db)?;
    let (admin, cx, again) = (&cli.admin, &cli.cx, cli.flag());
    match command {
        TenantCommand::Add { id, name, language, service_domain } => {
            let input = TenantInput { id, name, language: Some(language), service_domain };
            let tenant = admin.add_tenant(cx, &input)?;
            let domain = admin.list_domains(cx, Some(&tenant.id))?.into_iter().find(|d| d.service);
            let domain = domain
                .map_or_else(|| format!("{}.{}", tenant.id, cli.loaded.config.service_domain), |d| d.name);
            println!("tenant {} added ({}), service domain {domain} (verified)", tenant.id, tenant.name);
            println!("next: `sluice domain add DOMAIN --tenant {}{again}`", tenant.id);
        }
        TenantCommand::List { json } => {
            let tenants = admin.list_tenants(cx)?;
            if json {
                return print_json(&tenants);
            }
            if tenants.is_empty() {
                println!("no tenants");
            }
            for t in tenants {
                row(format!("{:<24} {:<10} {:<4} {}", t.id, t.status, t.language, t.name));
            }
        }
        TenantCommand::Show { id, json } => show_tenant(&cli, &id, json)?,
        TenantCommand::Release { id, by, reason } => {
            let before = admin.outbound_state(cx, &id)?;
            let after = admin.release_outbound(cx, &id, &ReleaseInput { reason, by: Some(by) })?;
            let was = before.block.map(|b| b.reason).unwrap_or_default();
            let by = after.releases.first().map(|r| r.released_by.clone()).unwrap_or_default();
            println!(
                "tenant {} released by {by}: outbound mail flows again within seconds (it was blocked for: {was})",
                after.tenant
            );
        }
        TenantCommand::Suspend { id } => {
            let t = admin.set_tenant_suspended(cx, &id, true)?;
            println!(
                "tenant {} suspended: its inbound mail gets 451 4.2.1 (senders keep it and retry) and its outbound \
                 mail 550 5.7.705 until `sluice tenant resume {}{again}`",
                t.id, t.id
            );
        }
        TenantCommand::Resume { id } => {
            let t = admin.set_tenant_suspended(cx, &id, false)?;
            println!("tenant {} is active", t.id);
        }
    }
    Ok(())
}

fn show_tenant(cli: &Cli, id: &str, json: bool) -> anyhow::Result<()> {
    let (admin, cx) = (&cli.admin, &cli.cx);
    let tenant = admin.tenant(cx, id)?;
    let domains = admin.list_domains(cx, Some(&tenant.id))?;
    let connectors = admin.list_connectors(cx, Some(&tenant.id))?;
    let recipients = admin.list_recipients(cx, &tenant.id)?.len();
    let outbound = admin.outbound_state(cx, &tenant.id)?;
    if json {
        return print_json(&serde_json::json!({
            "tenant": tenant, "domains": domains, "connectors": connectors,
            "recipients": recipients, "outbound": outbound,
        }));
    }
    println!("tenant:       {}", tenant.id);
    println!("name:         {}", tenant.name);
    println!("status:       {}", tenant.status);
    println!("language:     {}", tenant.language);
    println!("domains:");
    for d in &domains {
        let service = if d.service { ", service domain" } else { "" };
        println!("  {} ({}, {}{service})", d.name, d.kind, d.verification);
        if let Some(note) = &d.note {
            println!("    {note}");
        }
    }
    println!("connectors:");
    for c in &connectors {
        let state = if c.enabled { "enabled" } else { "disabled" };
        let kind = c.kind.as_deref().unwrap_or("outbound");
        println!("  {} ({kind}, {state})", c.name);
    }
    println!("recipients:   {recipients}");
    match &outbound.block {
        Some(block) => println!(
            "outbound:     BLOCKED (5.7.705) since {}: {}; lift with `sluice tenant release {} --by NAME --reason TEXT{}`",
            when_ago(block.blocked_at_unix_s),
            block.reason,
            tenant.id,
            cli.flag()
        ),
        None => println!("outbound:     allowed"),
    }
    if let Some(last) = outbound.releases.first() {
        println!(
            "last release: {} by {}: {} (the block was: {})",
            when_ago(last.released_at_unix_s),
            last.released_by,
            last.reason,
            last.block.reason
        );
    }
    Ok(())
}

fn resolver_override(text: Option<&str>) -> Result<Option<std::net::SocketAddr>, AdminError> {
    text.map(|r| {
        r.parse().map_err(|_| {
            AdminError::invalid(
                "resolver",
                format!("invalid resolver {r:?}: expected ADDR:PORT, e.g. 127.0.0.1:53 or [::1]:53"),
            )
        })
    })
    .transpose()
}

pub fn domain(flag: Option<&Path>, command: DomainCommand) -> anyhow::Result<()> {
    let mut loaded = crate::discover::load(flag)?;
    if let DomainCommand::Verify { resolver: Some(r), .. } = &command {
        loaded.config.resolver = resolver_override(Some(r))?;
    }
    let cli = open_loaded(loaded, Db::Existing)?;
    let (admin, cx, again) = (&cli.admin, &cli.cx, cli.flag());
    match command {
        DomainCommand::Add { domain, tenant, kind, match_subdomains } => {
            let added = admin.add_domain(
                cx,
                &tenant,
                &DomainInput { name: domain, kind: Some(kind), match_subdomains },
            )?;
            println!(
                "domain {} added to tenant {} ({}), pending verification",
                added.name, added.tenant, added.kind
            );
            if let Some(note) = &added.note {
                println!("note: {note}");
            }
            println!("publish this TXT record at {}:", added.name);
            println!("  {}. IN TXT \"{}\"", added.name, added.txt_record);
            println!("then run `sluice domain verify {} --tenant {}{again}`", added.name, added.tenant);
        }
        DomainCommand::Verify { domain, tenant, .. } => {
            let outcome = admin.verify_domain(cx, tenant.as_deref(), &domain)?;
            println!("{}", outcome.message);
        }
        DomainCommand::List { tenant, json } => {
            let domains = admin.list_domains(cx, tenant.as_deref())?;
            if json {
                return print_json(&domains);
            }
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
                if let Some(note) = d.note {
                    println!("    {note}");
                }
            }
        }
        DomainCommand::Remove { domain, tenant } => {
            admin.remove_domain(cx, tenant.as_deref(), &domain)?;
            let name =
                directory::DomainName::parse("domain.name", &domain).map(|d| d.to_string()).unwrap_or(domain);
            println!("domain {name} removed with its recipients");
        }
    }
    Ok(())
}

pub fn recipient(flag: Option<&Path>, command: RecipientCommand) -> anyhow::Result<()> {
    let Cli { admin, cx, .. } = open(flag, Db::Existing)?;
    match command {
        RecipientCommand::Add { address, tenant, aliases, smtp, lmtp } => {
            let r =
                admin.add_recipient(&cx, &tenant, &RecipientInput { address, alias: aliases, smtp, lmtp })?;
            println!("recipient {} added to tenant {} ({})", r.address, r.tenant, r.target);
        }
        RecipientCommand::List { tenant, json } => {
            let recipients = admin.list_recipients(&cx, &tenant)?;
            if json {
                return print_json(&recipients);
            }
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

/// Who made a connector and who changed it last.
fn history(c: &ConnectorView) -> (String, String) {
    if c.created_at_unix_s == 0 {
        return ("before changes were recorded".into(), "-".into());
    }
    let created = format!("{} by {}", when_ago(c.created_at_unix_s), c.created_by);
    let changed = if c.changed_at_unix_s == c.created_at_unix_s && c.changed_by == c.created_by {
        "never since".to_string()
    } else {
        format!("{} by {}", when_ago(c.changed_at_unix_s), c.changed_by)
    };
    (created, changed)
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
    let (created, changed) = history(c);
    println!("created:        {created}");
    println!("changed:        {changed}");
    if !c.change_note.is_empty() {
        println!("change note:    {}", c.change_note);
    }
}

fn route_text(c: &ConnectorView) -> String {
    if c.smart_host.is_empty() { "mx".into() } else { format!("smart-hosts {}", c.smart_host.join(", ")) }
}

pub(crate) fn tls_text(c: &ConnectorView) -> String {
    match (&c.tls, &c.tls_domain) {
        (Some(mode), Some(domain)) => format!("{mode} {domain}"),
        (Some(mode), None) => mode.clone(),
        (None, _) => String::new(),
    }
}

fn on_off(on: bool, off: bool) -> Option<bool> {
    match (on, off) {
        (true, _) => Some(true),
        (_, true) => Some(false),
        _ => None,
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
        require_tls: on_off(a.require_tls, a.no_require_tls),
        recipient_domain: a.recipient_domains,
        smart_host: a.smart_hosts,
        tls: a.tls,
        tls_domain: a.tls_domain,
        enabled: Some(!a.disabled),
        note: a.note,
        by: a.by,
    }
}

fn connector_edit(a: ConnectorEditArgs) -> ConnectorEdit {
    ConnectorEdit {
        add_ip: a.add_ip,
        remove_ip: a.remove_ip,
        add_certificate_name: a.add_cert_name,
        remove_certificate_name: a.remove_cert_name,
        add_sender_domain: a.add_sender_domain,
        remove_sender_domain: a.remove_sender_domain,
        restrict_sender_domains: on_off(a.restrict_sender_domains, a.no_restrict_sender_domains),
        require_tls: on_off(a.require_tls, a.no_require_tls),
        add_recipient_domain: a.add_recipient_domain,
        remove_recipient_domain: a.remove_recipient_domain,
        add_smart_host: a.add_smart_host,
        remove_smart_host: a.remove_smart_host,
        tls: a.tls,
        tls_domain: a.tls_domain,
        enabled: None,
        note: a.note,
        by: a.by,
    }
}

pub fn connector(flag: Option<&Path>, command: ConnectorCommand) -> anyhow::Result<()> {
    let mut loaded = crate::discover::load(flag)?;
    if let ConnectorCommand::Validate(crate::connector_cli::Validate { resolver: Some(r), .. }) = &command {
        loaded.config.resolver = resolver_override(Some(r))?;
    }
    let cli = open_loaded(loaded, Db::Existing)?;
    let (admin, cx) = (&cli.admin, &cli.cx);
    match command {
        ConnectorCommand::Add(add) => {
            let tenant = add.tenant.clone();
            let c = admin.add_connector(cx, &tenant, &connector_input(add))?;
            let direction = if c.kind.is_some() { "connector" } else { "outbound connector" };
            println!("{direction} {:?} added to tenant {}", c.name, c.tenant);
            print_connector(&c);
            if c.kind.is_some() {
                println!(
                    "check it with `sluice connector validate {:?} --tenant {} --client-ip ADDR --to ADDR{}`",
                    c.name,
                    c.tenant,
                    cli.flag()
                );
            }
        }
        ConnectorCommand::Edit(args) => {
            let (tenant, name) = (args.tenant.clone(), args.name.clone());
            let c = admin.edit_connector(cx, &tenant, &name, &connector_edit(args))?;
            println!("connector {:?} of tenant {} changed: {}", c.name, c.tenant, c.change_note);
            print_connector(&c);
        }
        ConnectorCommand::List { tenant, json } => {
            let connectors = admin.list_connectors(cx, tenant.as_deref())?;
            if json {
                return print_json(&connectors);
            }
            list_connectors(&connectors);
        }
        ConnectorCommand::Show { name, tenant, json } => {
            let c = admin.connector(cx, &tenant, &name)?;
            if json {
                return print_json(&c);
            }
            print_connector(&c);
        }
        ConnectorCommand::Enable { name, tenant } => {
            let c = admin.set_connector_enabled(cx, &tenant, &name, true)?;
            println!("connector {:?} of tenant {} enabled", c.name, c.tenant);
        }
        ConnectorCommand::Disable { name, tenant } => {
            let c = admin.set_connector_enabled(cx, &tenant, &name, false)?;
            println!("connector {:?} of tenant {} disabled", c.name, c.tenant);
        }
        ConnectorCommand::Remove { name, tenant } => {
            admin.remove_connector(cx, &tenant, &name)?;
            println!("connector {name:?} of tenant {} removed", tenant.trim().to_ascii_lowercase());
        }
        ConnectorCommand::Validate(args) => crate::connector_cli::validate(admin, cx, args)?,
        ConnectorCommand::Audit { tenant, json } => {
            crate::connector_cli::audit(admin, cx, tenant.as_deref(), json)?
        }
    }
    Ok(())
}

fn list_connectors(connectors: &[ConnectorView]) {
    if connectors.is_empty() {
        println!("no connectors");
    }
    for c in connectors {
        let state = if c.enabled { "enabled" } else { "disabled" };
        let changed = if c.changed_at_unix_s == 0 {
            String::new()
        } else {
            format!("changed {}", when_ago(c.changed_at_unix_s))
        };
        match c.kind.as_deref() {
            Some(kind) => {
                let tls = if c.require_tls { "tls-required" } else { "" };
                row(format!("{:<20} {:<24} {kind:<12} {state:<9} {tls:<13} {changed}", c.tenant, c.name));
            }
            None => row(format!(
                "{:<20} {:<24} {:<12} {state:<9} tls-{} {} {changed}",
                c.tenant,
                c.name,
                "outbound",
                tls_text(c),
                route_text(c)
            )),
        }
    }
}

pub fn reputation(flag: Option<&Path>, command: ReputationCommand) -> anyhow::Result<()> {
    let db = match command {
        ReputationCommand::Block { .. } | ReputationCommand::Except { .. } => Db::CreateIfMissing,
        _ => Db::Existing,
    };
    let Cli { admin, cx, .. } = open(flag, db)?;
    let until = |e: &admin::views::ReputationView| {
        e.expires_at_unix_s.map_or(String::new(), |at| format!(" until {}", when_ago(at)))
    };
    match command {
        ReputationCommand::Block { cidr, note, expires } => {
            let e =
                admin.set_reputation(&cx, &ReputationInput { cidr, kind: "block".into(), note, expires })?;
            println!(
                "{} blocked{}: mail from it is refused (550 5.7.708) for every tenant that has no connector for it",
                e.cidr,
                until(&e)
            );
        }
        ReputationCommand::Except { cidr, note, expires } => {
            let e = admin
                .set_reputation(&cx, &ReputationInput { cidr, kind: "exception".into(), note, expires })?;
            println!("{} excepted{}: no block or DNS blocklist applies to it", e.cidr, until(&e));
        }
        ReputationCommand::Remove { cidr } => {
            let shown = directory::Cidr::parse("reputation.cidr", &cidr)
                .map(|c| c.to_string())
                .unwrap_or_else(|_| cidr.clone());
            admin.remove_reputation(&cx, &cidr)?;
            println!("{shown} removed from the reputation list");
        }
        ReputationCommand::List { json } => {
            let entries = admin.list_reputation(&cx)?;
            if json {
                return print_json(&entries);
            }
            if entries.is_empty() {
                println!("the reputation list is empty");
            }
            let now = crate::admin_cli::now_s();
            for e in entries {
                let expiry = match e.expires_at_unix_s {
                    None => "no expiry".to_string(),
                    Some(at) if at <= now => format!("EXPIRED {} (no longer applies)", when_ago(at)),
                    Some(at) => format!("expires {}", when_ago(at)),
                };
                let note = if e.note.is_empty() { String::new() } else { format!("  # {}", e.note) };
                row(format!("{:<44} {:<10} {expiry}{note}", e.cidr, e.kind));
            }
        }
    }
    Ok(())
}
