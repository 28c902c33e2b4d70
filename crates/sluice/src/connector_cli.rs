//! `sluice connector validate|audit`. Validation of an outbound connector runs the
//! gateway's probe (`gateway::delivery::outbound::probe`, through the binary's
//! `live::NetChecks`); of an inbound one, the admin plane explains how the described client
//! would be treated, with the exact replies, sending nothing. Each step is printed; a failed
//! one says what to check and makes the exit status 1, as does a high-risk audit flag.

use admin::views::ValidateInput;
use anyhow::Context as _;

use crate::Silent;
use crate::admin_cli::print_json;

#[derive(Debug, clap::Args)]
pub struct Validate {
    pub name: String,
    #[arg(long)]
    pub tenant: String,
    /// Outbound: also send a test message to this address (MAIL, RCPT, DATA); for an MX route,
    /// its domain's MX is tested. Inbound: the recipient whose exact reply to show.
    #[arg(long)]
    pub to: Option<String>,
    /// Outbound: the test message's sender (default postmaster@<hostname>). Inbound: the MAIL
    /// FROM to judge (restricted sender domains, relay attribution).
    #[arg(long)]
    pub from: Option<String>,
    /// Inbound: the client's IP address.
    #[arg(long)]
    pub client_ip: Option<String>,
    /// Inbound: a PEM file with the client's TLS certificate (its own first, then its chain).
    #[arg(long)]
    pub client_cert: Option<std::path::PathBuf>,
    /// Outbound: a DNS server ADDR:PORT instead of the configured one (`[dns] resolver`,
    /// else the system's).
    #[arg(long)]
    pub resolver: Option<String>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn validate(admin: &admin::Admin, cx: &admin::Context, args: Validate) -> anyhow::Result<()> {
    let connector = admin.connector(cx, &args.tenant, &args.name)?;
    let client_cert = match &args.client_cert {
        Some(path) => Some(std::fs::read_to_string(path).with_context(|| {
            format!("--client-cert: cannot read {}: give a PEM certificate file", path.display())
        })?),
        None => None,
    };
    let input = ValidateInput { to: args.to, from: args.from, client_ip: args.client_ip, client_cert };
    if !args.json {
        match connector.kind.as_deref() {
            None => println!(
                "validating outbound connector {:?} of tenant {}: {}, tls {}",
                connector.name,
                connector.tenant,
                if connector.smart_host.is_empty() {
                    "mx".into()
                } else {
                    format!("smart-hosts {}", connector.smart_host.join(", "))
                },
                crate::directory_cli::tls_text(&connector)
            ),
            Some(kind) => println!(
                "validating inbound {kind} connector {:?} of tenant {} (nothing is sent)",
                connector.name, connector.tenant
            ),
        }
    }
    let report = admin.validate_connector(cx, &args.tenant, &args.name, &input)?;
    if args.json {
        print_json(&report)?;
    } else {
        for step in &report.steps {
            let mark = if step.passed { "ok  " } else { "FAIL" };
            println!("  {mark} {:<9} {:<28} {}", step.step, step.target, step.detail);
            if let Some(check) = &step.check {
                println!("       check: {check}");
            }
        }
    }
    let inbound = connector.kind.is_some();
    match report.steps.iter().find(|s| !s.passed) {
        _ if report.passed => {
            if !args.json {
                println!("connector {:?} passed every step", connector.name);
            }
            Ok(())
        }
        Some(step) if !inbound => Err(anyhow::anyhow!(
            "connector {:?} failed validation at step {} ({}): {}",
            connector.name,
            step.step,
            step.target,
            step.detail
        )),
        _ => {
            let what =
                format!("connector {:?} does not let this client through as described above", connector.name);
            if !args.json {
                eprintln!("sluice: {what}");
            }
            Err(Silent(what).into())
        }
    }
}

pub fn audit(
    admin: &admin::Admin,
    cx: &admin::Context,
    tenant: Option<&str>,
    json: bool,
) -> anyhow::Result<()> {
    let report = admin.audit_connectors(cx, tenant)?;
    if json {
        print_json(&report)?;
    } else {
        if report.connectors.is_empty() {
            println!("no connectors");
        }
        for c in &report.connectors {
            let kind = c.kind.as_deref().unwrap_or("outbound");
            let state = if c.enabled { "enabled" } else { "disabled" };
            let worst = c.flags.first().map_or("ok".to_string(), |f| f.risk.to_uppercase());
            println!("{worst:<6} {}/{} ({kind}, {state})", c.tenant, c.name);
            for f in &c.flags {
                println!("       {:<6} {:<24} {}", f.risk, f.flag, f.reason);
            }
        }
    }
    if report.high_risk {
        let what = "high-risk connector flags found: look at them first".to_string();
        if !json {
            eprintln!("sluice: {what}");
        }
        return Err(Silent(what).into());
    }
    Ok(())
}
