//! Outbound connectors in the CLI: how one is shown, and `sluice connector validate`, which
//! runs the gateway's probe (`gateway::outbound::probe`) and prints each step with the
//! server's reply; the first failed step says what to check and makes the exit status 1.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use anyhow::bail;
use directory::{DirectoryError, DirectoryStore, OutboundConnector, OutboundRoute, StoreError};
use gateway::dns::Dns;
use gateway::outbound::{
    ClientConfig, ProbeReport, ProbeRequest, ProbeRoute, StepOutcome, TestMessage, TlsMode, probe,
    trust_roots,
};
use store::SqliteStore;

use crate::directory_cli::{invalid, tenant_id};

#[derive(Debug, clap::Args)]
pub struct Validate {
    pub name: String,
    #[arg(long)]
    pub tenant: String,
    /// Also send a test message to this address (MAIL, RCPT, DATA); for an MX route, its
    /// domain's MX is tested.
    #[arg(long)]
    pub to: Option<String>,
    /// The test message's sender (default postmaster@<hostname>).
    #[arg(long)]
    pub from: Option<String>,
    /// A DNS server ADDR:PORT instead of the configured one (`[dns] resolver`, else the
    /// system's).
    #[arg(long)]
    pub resolver: Option<String>,
}

pub fn route_text(route: &OutboundRoute) -> String {
    match route {
        OutboundRoute::Mx => "mx".into(),
        OutboundRoute::SmartHosts(hosts) => {
            let hosts: Vec<String> = hosts.iter().map(ToString::to_string).collect();
            format!("smart-hosts {}", hosts.join(", "))
        }
    }
}

pub fn print(c: &OutboundConnector) {
    let domains: Vec<String> = c.recipient_domains.iter().map(ToString::to_string).collect();
    println!("connector:      {}", c.name);
    println!("tenant:         {}", c.tenant);
    println!("direction:      outbound");
    println!("enabled:        {}", if c.enabled { "yes" } else { "no" });
    println!("recipient domains: {}", if domains.is_empty() { "* (all)".into() } else { domains.join(", ") });
    println!("route:          {}", route_text(&c.route));
    println!("tls:            {}", c.tls);
}

/// `local@domain`, with errors naming `field`.
fn address(field: &'static str, text: &str) -> anyhow::Result<(String, String)> {
    match text.trim().rsplit_once('@') {
        Some((local, domain))
            if !local.is_empty() && !domain.is_empty() && !text.contains(['<', '>', ' ']) =>
        {
            Ok((local.to_string(), domain.to_ascii_lowercase()))
        }
        _ => Err(invalid(field, text, "expected local-part@domain")),
    }
}

/// Where the probe goes: the smart hosts, or the MX hosts (on `mx_port`, as delivery) of the
/// --to domain or else of the connector's first recipient domain.
fn probe_route(
    c: &OutboundConnector,
    to: Option<&(String, String)>,
    mx_port: u16,
) -> anyhow::Result<ProbeRoute> {
    match &c.route {
        OutboundRoute::SmartHosts(hosts) => Ok(ProbeRoute::SmartHosts(hosts.clone())),
        OutboundRoute::Mx => {
            let domain = match (to, c.recipient_domains.first()) {
                (Some((_, domain)), _) => domain.clone(),
                (None, Some(d)) => d.to_string(),
                (None, None) => {
                    return Err(invalid(
                        "validate.to",
                        "",
                        "this connector routes every domain by MX: give --to ADDRESS so validate knows which domain's MX to test",
                    ));
                }
            };
            Ok(ProbeRoute::Mx { domain, port: mx_port })
        }
    }
}

fn outbound(
    store: &SqliteStore,
    tenant: &directory::TenantId,
    name: &str,
) -> anyhow::Result<OutboundConnector> {
    match store.outbound_connector(tenant, name) {
        Err(StoreError::Directory(DirectoryError::UnknownConnector { .. }))
            if store.connector(tenant, name).is_ok() =>
        {
            Err(invalid(
                "connector.direction",
                name,
                "an inbound connector: only outbound connectors can be validated",
            ))
        }
        other => Ok(other?),
    }
}

pub fn validate(store: &SqliteStore, config_path: Option<&Path>, args: Validate) -> anyhow::Result<()> {
    let config = crate::config::load(config_path)?;
    let connector = outbound(store, &tenant_id(&args.tenant)?, &args.name)?;
    let to = args.to.as_deref().map(|t| address("validate.to", t)).transpose()?;
    let hostname = config.gateway.hostname.clone();
    let from = args.from.unwrap_or_else(|| format!("postmaster@{hostname}"));
    address("validate.from", &from)?;
    let resolver: Option<SocketAddr> = match args.resolver.as_deref() {
        Some(r) => {
            Some(r.parse().map_err(|_| invalid("resolver", r, "expected ADDR:PORT, e.g. 127.0.0.1:53"))?)
        }
        // The resolver delivery uses: validation must see the MX hosts delivery would.
        None => config.gateway.delivery.dns_resolver,
    };
    let request = ProbeRequest {
        route: probe_route(&connector, to.as_ref(), config.gateway.delivery.mx_port)?,
        tls: TlsMode::from(&connector.tls),
        message: to.map(|(local, domain)| TestMessage {
            from,
            to: format!("{local}@{domain}"),
            subject: format!(
                "Sluice connector validation: {} of tenant {}",
                connector.name, connector.tenant
            ),
        }),
    };
    let roots = trust_roots(config.gateway.delivery.tls_ca_file.as_deref())
        .map_err(|e| anyhow::anyhow!("delivery.tls_ca_file: {e}"))?;
    // Shorter than delivery's RFC 5321 timeouts: a person is waiting.
    let client = ClientConfig {
        connect_timeout: Duration::from_secs(10),
        reply_timeout: Duration::from_secs(30),
        data_end_timeout: Duration::from_secs(60),
        ..ClientConfig::new(hostname, roots)
    };
    println!(
        "validating outbound connector {:?} of tenant {}: {}, tls {}",
        connector.name,
        connector.tenant,
        route_text(&connector.route),
        connector.tls
    );
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let report = runtime.block_on(async {
        let dns = Dns::new(resolver)?;
        anyhow::Ok(probe(&dns, &client, &request).await)
    })?;
    print_report(&report);
    match report.first_failure() {
        Some(step) => bail!(
            "connector {:?} failed validation at step {} ({}): {}",
            connector.name,
            step.kind,
            step.target,
            step.detail
        ),
        None => {
            println!("connector {:?} passed every step", connector.name);
            Ok(())
        }
    }
}

fn print_report(report: &ProbeReport) {
    for step in &report.steps {
        let mark = match &step.outcome {
            StepOutcome::Passed => "ok  ",
            StepOutcome::Failed { .. } => "FAIL",
        };
        println!("  {mark} {:<9} {:<28} {}", step.kind.to_string(), step.target, step.detail);
        if let StepOutcome::Failed { check } = &step.outcome {
            println!("       check: {check}");
        }
    }
}
