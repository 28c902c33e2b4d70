//! `sluice connector validate`: the admin plane's validation (which runs the gateway's probe,
//! `gateway::delivery::outbound::probe`, through the binary's `live::NetChecks`), printed step by step
//! with the server's reply; the first failed step says what to check and makes the exit
//! status 1.

use admin::views::ValidateInput;
use anyhow::bail;

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

pub fn validate(admin: &admin::Admin, cx: &admin::Context, args: Validate) -> anyhow::Result<()> {
    let connector = admin.connector(cx, &args.tenant, &args.name)?;
    let route = if connector.smart_host.is_empty() {
        "mx".to_string()
    } else {
        format!("smart-hosts {}", connector.smart_host.join(", "))
    };
    let tls = match (&connector.tls, &connector.tls_domain) {
        (Some(mode), Some(domain)) => format!("{mode} {domain}"),
        (Some(mode), None) => mode.clone(),
        (None, _) => String::new(),
    };
    let input = ValidateInput { to: args.to, from: args.from };
    if connector.kind.is_none() {
        println!(
            "validating outbound connector {:?} of tenant {}: {route}, tls {tls}",
            connector.name, connector.tenant
        );
    }
    let report = admin.validate_connector(cx, &args.tenant, &args.name, &input)?;
    for step in &report.steps {
        let mark = if step.passed { "ok  " } else { "FAIL" };
        println!("  {mark} {:<9} {:<28} {}", step.step, step.target, step.detail);
        if let Some(check) = &step.check {
            println!("       check: {check}");
        }
    }
    match report.steps.iter().find(|s| !s.passed) {
        Some(step) => bail!(
            "connector {:?} failed validation at step {} ({}): {}",
            connector.name,
            step.step,
            step.target,
            step.detail
        ),
        None => {
            println!("connector {:?} passed every step", connector.name);
            Ok(())
        }
    }
}
