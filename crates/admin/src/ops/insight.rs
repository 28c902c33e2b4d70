//! Reads that summarise the mail flow for people (charts, the busiest clients) and the
//! dry run of a connector before it is saved (the web wizard's last step).

use access::Permission;
use directory::{Cidr, TenantId};
use trace::{ClientQuery, FlowQuery};

use super::directory_ops::{Found, find_connector, inbound_connector, outbound_connector};
use super::records::parse_lifetime;
use super::{Admin, Context, tenant_id};
use crate::error::{AdminError, ErrorKind};
use crate::live::{ProbeStepView, ProbeTarget};
use crate::views::{
    ClientParams, ClientView, ConnectorInput, FlowBucketView, FlowParams, FlowView, HistoryHourView,
    HistoryParams, ThrottleHistoryView, ValidationView,
};

/// How far back the connector check looks for mail from the connector's addresses.
const CHECK_WINDOW_S: u64 = 10 * 86_400;
const CLIENTS_DEFAULT: usize = 50;

/// The longest history of one client network: the trace keeps 10 days by default, longer
/// when configured; four weeks of hours stays under the trace's bucket cap.
const HISTORY_DAYS_MAX: u32 = 28;
const HISTORY_DAYS_DEFAULT: u32 = 7;

/// `part` of `total` in percent, rounded; 0 of nothing.
fn percent(part: u64, total: u64) -> u32 {
    u32::try_from((part * 100 + total / 2).checked_div(total).unwrap_or(0)).unwrap_or(100)
}

/// An address or a CIDR, errors naming `field`.
fn network(field: &'static str, text: &str) -> Result<Cidr, AdminError> {
    Ok(Cidr::parse(field, text)?)
}

fn step(step: &str, target: &str, passed: bool, detail: String, check: Option<String>) -> ProbeStepView {
    ProbeStepView { step: step.into(), target: target.into(), passed, detail, reply: None, check }
}

impl Admin {
    /// One client address's or network's history hour by hour over `days`: recipients
    /// accepted and deferred by throttling (from the trace's flow, filtered to the network),
    /// the deferred share, and its allowance now (from the running throttle engine; past
    /// allowance is not kept). A tenant sees only its own mail, and an address only when it
    /// sent to the tenant (else `not_found`).
    pub fn throttle_history(
        &self,
        cx: &Context,
        target: &str,
        p: &HistoryParams,
    ) -> Result<ThrottleHistoryView, AdminError> {
        let days = p.days.unwrap_or(HISTORY_DAYS_DEFAULT);
        if !(1..=HISTORY_DAYS_MAX).contains(&days) {
            return Err(AdminError::invalid(
                "history.days",
                format!("invalid history.days {days}: from 1 to {HISTORY_DAYS_MAX}"),
            ));
        }
        let cidr = network("throttle.ip", target)?;
        let single = !target.contains('/');
        // An address: its own state, and the tenant's right to see it, come first. A
        // network: the state of its prefix, as its first address shows it.
        let first = cidr.to_string().split('/').next().unwrap_or("").to_string();
        let explained = match self.throttle_explain(cx, &first) {
            Ok(view) => Some(view),
            Err(e) if single && e.kind != ErrorKind::Unavailable => return Err(e),
            Err(_) => None,
        };
        let allowance_per_hour_now = explained.and_then(|e| {
            let state = if single { e.ip_state } else { e.prefix_state };
            state.filter(|s| s.tracked).map(|s| s.allowance_per_hour)
        });
        let flow = self.mail_flow(
            cx,
            &FlowParams {
                tenant: None,
                network: Some(target.to_string()),
                since: Some(format!("{days}d")),
                bucket: Some("1h".into()),
            },
        )?;
        let hours: Vec<HistoryHourView> = flow
            .buckets
            .iter()
            .map(|b| HistoryHourView {
                start_unix_s: b.start_unix_s,
                accepted: b.accepted_recipients,
                deferred: b.throttled,
                deferred_percent: percent(b.throttled, b.accepted_recipients + b.throttled),
            })
            .collect();
        let accepted = hours.iter().map(|h| h.accepted).sum();
        let deferred = hours.iter().map(|h| h.deferred).sum();
        Ok(ThrottleHistoryView {
            network: if single { first } else { cidr.to_string() },
            days,
            allowance_per_hour_now,
            past_allowance_kept: false,
            accepted,
            deferred,
            deferred_percent: percent(deferred, accepted + deferred),
            hours,
        })
    }

    /// The mail flow per bucket (accepted, throttled, refused, delivered, bounced), of one
    /// tenant, every tenant the caller sees, or one client network.
    pub fn mail_flow(&self, cx: &Context, p: &FlowParams) -> Result<FlowView, AdminError> {
        let tenant = self.scope(cx, p.tenant.as_deref())?;
        self.allow(cx, Permission::ReadTrace, tenant.as_ref(), "read the mail flow")?;
        let age = parse_lifetime("flow.since", p.since.as_deref().unwrap_or("24h"))?;
        let bucket = parse_lifetime("flow.bucket", p.bucket.as_deref().unwrap_or("1h"))?;
        let until = self.now().div_ceil(bucket).saturating_mul(bucket);
        let query = FlowQuery {
            tenant,
            network: p.network.as_deref().map(|n| network("flow.network", n)).transpose()?,
            since_unix_ms: until
                .saturating_sub(age.div_ceil(bucket).saturating_mul(bucket))
                .saturating_mul(1000),
            until_unix_ms: until.saturating_mul(1000),
            bucket_ms: bucket.saturating_mul(1000),
        };
        if query.buckets().is_err() {
            return Err(AdminError::invalid(
                "flow.bucket",
                format!(
                    "invalid flow.bucket: {} buckets at most; choose a wider bucket",
                    trace::FLOW_BUCKETS_MAX
                ),
            ));
        }
        let buckets = self.trace()?.flow(&query)?;
        Ok(FlowView { bucket_s: bucket, buckets: buckets.iter().map(FlowBucketView::from).collect() })
    }

    /// The busiest client addresses; a tenant sees what they sent to it.
    pub fn clients(&self, cx: &Context, p: &ClientParams) -> Result<Vec<ClientView>, AdminError> {
        let tenant = self.scope(cx, p.tenant.as_deref())?;
        self.allow(cx, Permission::ReadTrace, tenant.as_ref(), "list client addresses")?;
        let age = parse_lifetime("clients.since", p.since.as_deref().unwrap_or("10d"))?;
        let query = ClientQuery {
            tenant,
            network: p.network.as_deref().map(|n| network("clients.network", n)).transpose()?,
            since_unix_ms: self.now().saturating_sub(age).saturating_mul(1000),
            limit: p.limit.unwrap_or(CLIENTS_DEFAULT),
        };
        Ok(self.trace()?.clients(&query)?.iter().map(ClientView::from).collect())
    }

    /// A connector as it would be saved, or the first problem of its settings (naming the
    /// field); nothing is saved. The wizard asks this at each step.
    pub fn connector_settings(
        &self,
        cx: &Context,
        tenant: &str,
        input: &ConnectorInput,
    ) -> Result<crate::views::ConnectorView, AdminError> {
        let tenant = tenant_id(tenant)?;
        self.allow(cx, Permission::EditTenant, Some(&tenant), "check connectors")?;
        let direction = input.direction.as_deref().unwrap_or("inbound").trim().to_ascii_lowercase();
        Ok(match direction.as_str() {
            "outbound" => (&outbound_connector(tenant, input)?).into(),
            "inbound" => (&inbound_connector(tenant, input)?).into(),
            other => {
                return Err(directory::DirectoryError::invalid(
                    "connector.direction",
                    other,
                    "expected inbound or outbound",
                )
                .into());
            }
        })
    }

    /// Checks a connector that is not saved yet, step by step: its settings, its name, and
    /// then for an inbound connector what the trace and the throttle show of its
    /// addresses, for an outbound one the probe of its servers. Nothing is saved or sent
    /// (the outbound probe sends a test message only when `to` is given).
    pub fn check_connector(
        &self,
        cx: &Context,
        tenant: &str,
        input: &ConnectorInput,
        to: Option<&str>,
    ) -> Result<ValidationView, AdminError> {
        let tenant = tenant_id(tenant)?;
        self.allow(cx, Permission::EditTenant, Some(&tenant), "check connectors")?;
        let direction = input.direction.as_deref().unwrap_or("inbound").trim().to_ascii_lowercase();
        let built = match direction.as_str() {
            "outbound" => outbound_connector(tenant.clone(), input).map(Found::Outbound),
            _ => inbound_connector(tenant.clone(), input).map(Found::Inbound),
        };
        let mut steps = Vec::new();
        let found = match built {
            Ok(found) => {
                steps.push(step(
                    "settings",
                    &input.name,
                    true,
                    "the settings are complete and valid".into(),
                    None,
                ));
                found
            }
            Err(e) => {
                let check = e.field.clone().map(|f| format!("correct {f} and check again"));
                steps.push(step("settings", &input.name, false, e.message, check));
                return Ok(ValidationView { connector: input.name.clone(), passed: false, steps });
            }
        };
        let taken = match find_connector(&**self.store(), &tenant, &input.name) {
            Ok(_) => true,
            Err(e) if e.kind == ErrorKind::NotFound => false,
            Err(e) => return Err(e),
        };
        steps.push(if taken {
            step(
                "name",
                &input.name,
                false,
                format!("tenant {tenant} already has a connector named {:?}", input.name),
                Some("choose another name, or edit the existing connector".into()),
            )
        } else {
            step("name", &input.name, true, "the name is free".into(), None)
        });
        match &found {
            Found::Inbound(c) => self.check_inbound(cx, &tenant, c, &mut steps)?,
            Found::Outbound(c) => {
                let target = ProbeTarget { connector: c.clone(), to: to.map(str::to_string), from: None };
                let probed =
                    self.network.probe(&target).map_err(|e| AdminError::new(ErrorKind::Internal, e))?;
                steps.extend(probed);
            }
        }
        let passed = steps.iter().all(|s| s.passed);
        Ok(ValidationView { connector: input.name.clone(), passed, steps })
    }

    /// What the trace and the throttle show of an inbound connector's addresses.
    fn check_inbound(
        &self,
        cx: &Context,
        tenant: &TenantId,
        c: &directory::Connector,
        steps: &mut Vec<ProbeStepView>,
    ) -> Result<(), AdminError> {
        let since = self.now().saturating_sub(CHECK_WINDOW_S).saturating_mul(1000);
        // Filtered as the caller's own listing is: a tenant sees the IPs that sent to it.
        let throttled = self.throttled(cx).unwrap_or_default();
        for range in &c.ip_ranges {
            let target = range.to_string();
            let seen = match &self.trace {
                Some(_) => self.trace()?.clients(&ClientQuery {
                    tenant: Some(tenant.clone()),
                    network: Some(*range),
                    since_unix_ms: since,
                    limit: trace::CLIENTS_MAX,
                })?,
                None => Vec::new(),
            };
            let accepted: u64 = seen.iter().map(|s| s.accepted).sum();
            let tls: u64 = seen.iter().map(|s| s.accepted_tls).sum();
            steps.push(match (accepted, c.require_tls && tls < accepted) {
                (0, _) => step(
                    "traffic",
                    &target,
                    true,
                    "no mail from these addresses to this tenant in the last 10 days".into(),
                    None,
                ),
                (_, true) => step(
                    "tls",
                    &target,
                    false,
                    format!("{} of {accepted} messages from these addresses came without TLS: the connector would refuse them (550 5.7.10)", accepted - tls),
                    Some("ask the partner to enable STARTTLS on its server, or do not require TLS".into()),
                ),
                _ => step(
                    "traffic",
                    &target,
                    true,
                    format!("{accepted} messages from these addresses in the last 10 days, {tls} of them over TLS"),
                    None,
                ),
            });
            let deferred: u64 =
                throttled.iter().filter(|t| range.contains(t.ip)).map(|t| t.deferred_last_day).sum();
            if deferred > 0 {
                steps.push(step(
                    "throttling",
                    &target,
                    true,
                    format!("{deferred} recipients from these addresses were deferred by throttling in the last day; through this connector they will not be"),
                    None,
                ));
            }
        }
        for name in &c.certificate_names {
            steps.push(step(
                "certificate",
                &name.to_string(),
                true,
                "clients presenting a certificate with this name that chains to the configured client CA will match".into(),
                None,
            ));
        }
        Ok(())
    }
}
