//! The trace counted for the admin plane's charts and lists: the mail flow per time bucket
//! and the busiest client addresses, by tenant and client network. Plain SQL both backends
//! run: a message's TLS and a step's kind are columns of their own (trace migration 2), a
//! network is matched by `sluice_in_network` (SQLite registers it on each connection,
//! PostgreSQL's is created by the migration over `inet`), and a filter that is not asked
//! for is left out of the statement rather than passed as NULL, so the planner sees only
//! the conditions that apply (an address is matched by equality, which its index serves).

use std::collections::BTreeMap;
use std::net::IpAddr;

use directory::{Cidr, TenantId};
use trace::{CLIENTS_MAX, ClientActivity, ClientQuery, FlowBucket, FlowQuery, TraceError};

use crate::sql::{Backend, BackendError, Tx, Value, select, to_i64 as i, to_u64 as u};

/// A refusal that is an IP throttling deferral (`451 4.7.500`-`4.7.699`), as
/// [`trace::is_throttling_reply`] has it.
const THROTTLING: &str = "(reply LIKE '451 4.7.5%' OR reply LIKE '451 4.7.6%')";

/// A statement's parameters, numbered in the order they are bound.
#[derive(Default)]
struct Params(Vec<Value>);

impl Params {
    /// Binds `value` and gives its placeholder (`?N`).
    fn bind(&mut self, value: impl Into<Value>) -> String {
        self.0.push(value.into());
        format!("?{}", self.0.len())
    }
}

/// Which clients a query keeps.
enum Clients {
    All,
    /// One address (a /32 or /128), as stored.
    Address(String),
    Network(Cidr),
}

impl Clients {
    fn of(network: Option<&Cidr>) -> Clients {
        match network {
            None => Clients::All,
            Some(n) if n.prefix_len() == if n.is_ipv4() { 32 } else { 128 } => {
                let text = n.to_string();
                Clients::Address(text.split_once('/').map_or(text.as_str(), |(ip, _)| ip).to_string())
            }
            Some(n) => Clients::Network(*n),
        }
    }

    /// ` AND` the condition on `column`, or nothing.
    fn condition(&self, column: &str, p: &mut Params) -> String {
        match self {
            Clients::All => String::new(),
            Clients::Address(ip) => format!(" AND {column} = {}", p.bind(ip)),
            Clients::Network(n) => format!(" AND sluice_in_network({column}, {})", p.bind(n.to_string())),
        }
    }
}

/// ` AND` the condition that a message (`m`) is visible to `tenant`, or nothing.
fn message_tenant(tenant: Option<&TenantId>, p: &mut Params) -> String {
    tenant.map_or_else(String::new, |t| {
        let t = p.bind(t.as_str());
        format!(" AND EXISTS (SELECT 1 FROM message_tenants t WHERE t.message = m.id AND t.tenant_id = {t})")
    })
}

/// ` AND` the condition that a refusal belongs to `tenant`, or nothing.
fn refusal_tenant(tenant: Option<&TenantId>, p: &mut Params) -> String {
    tenant.map_or_else(String::new, |t| format!(" AND tenant_id = {}", p.bind(t.as_str())))
}

/// Bucket index, what was counted, and how many (and, for accepted messages, their
/// recipients).
type FlowRow = (i64, String, i64, i64);

/// Accepted messages and their recipients by the time they were received.
fn flow_accepted(q: &FlowQuery, clients: &Clients) -> (String, Params) {
    let mut p = Params::default();
    let (since, until, width) =
        (p.bind(i(q.since_unix_ms)), p.bind(i(q.until_unix_ms)), p.bind(i(q.bucket_ms)));
    let filters = message_tenant(q.tenant.as_ref(), &mut p) + &clients.condition("m.client_ip", &mut p);
    let sql = format!(
        "SELECT bucket, CAST('accepted' AS TEXT), count(*), CAST(coalesce(sum(recipients), 0) AS BIGINT)
         FROM (SELECT (m.received_at - {since}) / {width} AS bucket,
                      (SELECT count(*) FROM message_recipients r WHERE r.message = m.id) AS recipients
               FROM messages m WHERE m.received_at >= {since} AND m.received_at < {until}{filters}) AS accepted
         GROUP BY bucket"
    );
    (sql, p)
}

/// Recipients delivered, bounced and expired, by the time it happened.
fn flow_steps(q: &FlowQuery, clients: &Clients) -> (String, Params) {
    let mut p = Params::default();
    let (since, until, width) =
        (p.bind(i(q.since_unix_ms)), p.bind(i(q.until_unix_ms)), p.bind(i(q.bucket_ms)));
    let filters = message_tenant(q.tenant.as_ref(), &mut p) + &clients.condition("m.client_ip", &mut p);
    let sql = format!(
        "SELECT (s.at - {since}) / {width}, s.kind, count(*), 0
         FROM steps s JOIN messages m ON m.id = s.message
         WHERE s.at >= {since} AND s.at < {until} AND s.kind IN ('delivered', 'bounced', 'expired'){filters}
         GROUP BY 1, 2"
    );
    (sql, p)
}

/// Refused recipients, throttling deferrals apart, by their minute.
fn flow_refusals(q: &FlowQuery, clients: &Clients) -> (String, Params) {
    let mut p = Params::default();
    // A refusal's minute (in seconds) is in the range when its start is.
    let since_s = p.bind(i(q.since_unix_ms.div_ceil(1000)));
    let until_s = p.bind(i(q.until_unix_ms.div_ceil(1000)));
    let (since, width) = (p.bind(i(q.since_unix_ms)), p.bind(i(q.bucket_ms)));
    let filters = refusal_tenant(q.tenant.as_ref(), &mut p) + &clients.condition("client_ip", &mut p);
    let sql = format!(
        "SELECT (minute * 1000 - {since}) / {width},
                CASE WHEN {THROTTLING} THEN 'throttled' ELSE 'refused' END, CAST(sum(count) AS BIGINT), 0
         FROM refusals WHERE minute >= {since_s} AND minute < {until_s}{filters}
         GROUP BY 1, 2"
    );
    (sql, p)
}

/// Mail flow per bucket: [`FlowQuery::empty`] filled from three grouped statements read in
/// one transaction.
pub(crate) fn flow<B: Backend>(db: &B, q: &FlowQuery) -> Result<Vec<FlowBucket>, TraceError> {
    const OP: &str = "counting the mail flow";
    let mut buckets = q.empty()?;
    let clients = Clients::of(q.network.as_ref());
    let statements = [flow_accepted(q, &clients), flow_steps(q, &clients), flow_refusals(q, &clients)];
    let rows = db.run(OP, Tx::Read, |db| {
        let mut rows: Vec<FlowRow> = Vec::new();
        for (sql, params) in &statements {
            rows.extend(select::<FlowRow>(db, OP, sql, &params.0)?);
        }
        Ok::<_, TraceError>(rows)
    })?;
    for (index, kind, n, recipients) in rows {
        let Some(b) = usize::try_from(index).ok().and_then(|x| buckets.get_mut(x)) else { continue };
        let n = u(n);
        match kind.as_str() {
            "accepted" => {
                (b.accepted, b.accepted_recipients) = (b.accepted + n, b.accepted_recipients + u(recipients))
            }
            "delivered" => b.delivered += n,
            "bounced" | "expired" => b.bounced += n,
            "throttled" => b.throttled += n,
            "refused" => b.refused += n,
            other => return Err(TraceError::corrupt("steps.kind", other)),
        }
    }
    Ok(buckets)
}

/// Per address: accepted messages, of them over TLS, and the latest.
fn busiest_senders(q: &ClientQuery, clients: &Clients, limit: usize) -> (String, Params) {
    let mut p = Params::default();
    let since = p.bind(i(q.since_unix_ms));
    let filters = message_tenant(q.tenant.as_ref(), &mut p) + &clients.condition("m.client_ip", &mut p);
    let limit = p.bind(limit as i64);
    let sql = format!(
        "SELECT m.client_ip, count(*), CAST(sum(CASE WHEN m.tls THEN 1 ELSE 0 END) AS BIGINT), max(m.received_at)
         FROM messages m WHERE m.received_at >= {since}{filters}
         GROUP BY m.client_ip ORDER BY count(*) DESC, m.client_ip LIMIT {limit}"
    );
    (sql, p)
}

/// Per address: throttling deferrals, other refusals, and the latest.
fn busiest_refused(q: &ClientQuery, clients: &Clients, limit: usize) -> (String, Params) {
    let mut p = Params::default();
    let since = p.bind(i(q.since_unix_ms));
    // The row's minute bounds its last refusal: lets the minute index serve.
    let since_minute = p.bind(i(q.since_unix_ms / 60_000 * 60));
    let filters = refusal_tenant(q.tenant.as_ref(), &mut p) + &clients.condition("client_ip", &mut p);
    let limit = p.bind(limit as i64);
    let sql = format!(
        "SELECT client_ip, CAST(sum(CASE WHEN {THROTTLING} THEN count ELSE 0 END) AS BIGINT),
                CAST(sum(CASE WHEN {THROTTLING} THEN 0 ELSE count END) AS BIGINT), max(last_at)
         FROM refusals WHERE minute >= {since_minute} AND last_at >= {since}{filters}
         GROUP BY client_ip ORDER BY sum(count) DESC, client_ip LIMIT {limit}"
    );
    (sql, p)
}

/// The busiest clients: the top of accepted messages and the top of refusals (each up to
/// the limit), merged per address, busiest first (ties by address).
pub(crate) fn clients<B: Backend>(db: &B, q: &ClientQuery) -> Result<Vec<ClientActivity>, TraceError> {
    const OP: &str = "listing the busiest clients";
    let limit = q.limit.clamp(1, CLIENTS_MAX);
    let filter = Clients::of(q.network.as_ref());
    let (senders, refused) = (busiest_senders(q, &filter, limit), busiest_refused(q, &filter, limit));
    type Counts = (String, i64, i64, i64);
    let (senders, refused) = db.run(OP, Tx::Read, |db| {
        let a: Vec<Counts> = select(db, OP, &senders.0, &senders.1.0)?;
        let b: Vec<Counts> = select(db, OP, &refused.0, &refused.1.0)?;
        Ok::<_, TraceError>((a, b))
    })?;
    let mut merged: BTreeMap<IpAddr, ClientActivity> = BTreeMap::new();
    for (ip, accepted, tls, last) in senders {
        let c = activity(&mut merged, &ip)?;
        (c.accepted, c.accepted_tls) = (u(accepted), u(tls));
        c.last_seen_unix_ms = c.last_seen_unix_ms.max(u(last));
    }
    for (ip, throttled, other, last) in refused {
        let c = activity(&mut merged, &ip)?;
        (c.throttled, c.refused) = (u(throttled), u(other));
        c.last_seen_unix_ms = c.last_seen_unix_ms.max(u(last));
    }
    let mut merged: Vec<ClientActivity> = merged.into_values().collect();
    merged.sort_by(|a, b| b.total().cmp(&a.total()).then(a.client_ip.cmp(&b.client_ip)));
    merged.truncate(limit);
    Ok(merged)
}

/// The merged counts of the address stored as `ip`.
fn activity<'a>(
    merged: &'a mut BTreeMap<IpAddr, ClientActivity>,
    ip: &str,
) -> Result<&'a mut ClientActivity, TraceError> {
    let client_ip = ip.parse::<IpAddr>().map_err(|_| TraceError::corrupt("client_ip", ip))?;
    Ok(merged.entry(client_ip).or_insert(ClientActivity {
        client_ip,
        accepted: 0,
        accepted_tls: 0,
        throttled: 0,
        refused: 0,
        last_seen_unix_ms: 0,
    }))
}
