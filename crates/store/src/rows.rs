//! Reading entities back from their rows, and the text forms of enums in the schema. Raw
//! column values are fetched first and parsed after, so a value that fails the
//! directory's validation comes back as a typed error naming the column.

use std::collections::HashMap;

use rusqlite::{Connection, OptionalExtension, params};

use directory::{
    AcceptedDomain, CertName, Cidr, Connector, ConnectorKind, DeliveryTarget, DomainKind, DomainName,
    NextHop, OutboundBlock, OutboundRelease, Recipient, ReputationEntry, ReputationKind, StoreError, Tenant,
    TenantId, TenantStatus, VerificationState,
};

/// A stored value this program cannot read: the database was edited by hand or by a newer
/// program.
#[derive(Debug, thiserror::Error)]
#[error("unexpected value {value:?} in column {column}")]
pub struct CorruptValue {
    pub column: &'static str,
    pub value: String,
}

/// Attaches what was being done to a SQLite error.
pub(crate) trait During<T> {
    fn during(self, operation: &str) -> Result<T, StoreError>;
}

impl<T> During<T> for rusqlite::Result<T> {
    fn during(self, operation: &str) -> Result<T, StoreError> {
        self.map_err(|e| StoreError::Backend { operation: operation.to_string(), cause: Box::new(e) })
    }
}

/// Runs `sql` and maps every row with `row`; an error says what was being done.
pub(crate) fn select<T>(
    conn: &Connection,
    operation: &str,
    sql: &str,
    params: impl rusqlite::Params,
    row: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
) -> Result<Vec<T>, StoreError> {
    let mut stmt = conn.prepare(sql).during(operation)?;
    let rows = stmt.query_map(params, row).during(operation)?;
    rows.collect::<rusqlite::Result<Vec<T>>>().during(operation)
}

pub(crate) fn corrupt(column: &'static str, value: &str) -> StoreError {
    StoreError::Backend {
        operation: "reading the directory".into(),
        cause: Box::new(CorruptValue { column, value: value.to_string() }),
    }
}

pub(crate) fn status_text(s: TenantStatus) -> &'static str {
    match s {
        TenantStatus::Active => "active",
        TenantStatus::Suspended => "suspended",
    }
}

fn parse_status(text: &str) -> Result<TenantStatus, StoreError> {
    match text {
        "active" => Ok(TenantStatus::Active),
        "suspended" => Ok(TenantStatus::Suspended),
        other => Err(corrupt("tenants.status", other)),
    }
}

pub(crate) fn domain_kind_text(k: DomainKind) -> &'static str {
    match k {
        DomainKind::Authoritative => "authoritative",
        DomainKind::InternalRelay => "internal-relay",
    }
}

fn parse_domain_kind(text: &str) -> Result<DomainKind, StoreError> {
    match text {
        "authoritative" => Ok(DomainKind::Authoritative),
        "internal-relay" => Ok(DomainKind::InternalRelay),
        other => Err(corrupt("domains.kind", other)),
    }
}

pub(crate) fn connector_kind_text(k: ConnectorKind) -> &'static str {
    match k {
        ConnectorKind::Partner => "partner",
        ConnectorKind::OnPremises => "on-premises",
    }
}

fn parse_connector_kind(text: &str) -> Result<ConnectorKind, StoreError> {
    match text {
        "partner" => Ok(ConnectorKind::Partner),
        "on-premises" => Ok(ConnectorKind::OnPremises),
        other => Err(corrupt("connectors.kind", other)),
    }
}

pub(crate) fn reputation_kind_text(k: ReputationKind) -> &'static str {
    match k {
        ReputationKind::Block => "block",
        ReputationKind::Exception => "exception",
    }
}

fn parse_reputation_kind(text: &str) -> Result<ReputationKind, StoreError> {
    match text {
        "block" => Ok(ReputationKind::Block),
        "exception" => Ok(ReputationKind::Exception),
        other => Err(corrupt("reputation.kind", other)),
    }
}

/// `(kind, host, port)` columns of a delivery target.
pub(crate) fn target_columns(t: &DeliveryTarget) -> (&'static str, Option<&str>, Option<u16>) {
    match t {
        DeliveryTarget::Maildir => ("maildir", None, None),
        DeliveryTarget::Smtp(hop) => ("smtp", Some(hop.host.as_str()), Some(hop.port)),
        DeliveryTarget::Lmtp(hop) => ("lmtp", Some(hop.host.as_str()), Some(hop.port)),
    }
}

fn parse_target(kind: &str, host: Option<String>, port: Option<u16>) -> Result<DeliveryTarget, StoreError> {
    let hop = || match (&host, port) {
        (Some(h), Some(p)) => Ok(NextHop::parse("recipients.target_host", h, p)?),
        _ => Err(corrupt("recipients.target_host", host.as_deref().unwrap_or_default())),
    };
    match kind {
        "maildir" => Ok(DeliveryTarget::Maildir),
        "smtp" => Ok(DeliveryTarget::Smtp(hop()?)),
        "lmtp" => Ok(DeliveryTarget::Lmtp(hop()?)),
        other => Err(corrupt("recipients.target_kind", other)),
    }
}

pub(crate) fn tenants(conn: &Connection, id: Option<&TenantId>) -> Result<Vec<Tenant>, StoreError> {
    const OP: &str = "reading tenants";
    let rows = select(
        conn,
        OP,
        "SELECT id, display_name, status, language FROM tenants WHERE ?1 IS NULL OR id = ?1 ORDER BY id",
        params![id.map(TenantId::as_str)],
        |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
            ))
        },
    )?;
    rows.into_iter()
        .map(|(id, display_name, status, language)| {
            Ok(Tenant { id: TenantId::parse(&id)?, display_name, status: parse_status(&status)?, language })
        })
        .collect()
}

pub(crate) fn tenant(conn: &Connection, id: &TenantId) -> Result<Tenant, StoreError> {
    tenants(conn, Some(id))?
        .into_iter()
        .next()
        .ok_or_else(|| directory::DirectoryError::UnknownTenant { id: id.to_string() }.into())
}

type DomainRow = (String, String, String, bool, String, bool, bool);

pub(crate) fn domains(
    conn: &Connection,
    tenant: Option<&TenantId>,
    name: Option<&DomainName>,
) -> Result<Vec<AcceptedDomain>, StoreError> {
    const OP: &str = "reading domains";
    let rows: Vec<DomainRow> = select(
        conn,
        OP,
        "SELECT name, tenant_id, kind, match_subdomains, token, verified, service FROM domains
             WHERE (?1 IS NULL OR tenant_id = ?1) AND (?2 IS NULL OR name = ?2) ORDER BY tenant_id, name",
        params![tenant.map(TenantId::as_str), name.map(DomainName::as_str)],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?)),
    )?;
    rows.into_iter()
        .map(|(name, tenant, kind, match_subdomains, token, verified, service)| {
            Ok(AcceptedDomain {
                name: DomainName::parse("domains.name", &name)?,
                tenant: TenantId::parse(&tenant)?,
                kind: parse_domain_kind(&kind)?,
                match_subdomains,
                token,
                verification: if verified { VerificationState::Verified } else { VerificationState::Pending },
                service,
            })
        })
        .collect()
}

pub(crate) fn domain(conn: &Connection, name: &DomainName) -> Result<AcceptedDomain, StoreError> {
    domains(conn, None, Some(name))?
        .into_iter()
        .next()
        .ok_or_else(|| directory::DirectoryError::UnknownDomain { domain: name.to_string() }.into())
}

type RecipientRow = (i64, String, String, String, String, Option<String>, Option<u16>);

pub(crate) fn recipients(conn: &Connection, tenant: Option<&TenantId>) -> Result<Vec<Recipient>, StoreError> {
    const OP: &str = "reading recipients";
    let rows: Vec<RecipientRow> = select(
        conn,
        OP,
        "SELECT id, tenant_id, domain, local_part, target_kind, target_host, target_port FROM recipients
             WHERE ?1 IS NULL OR tenant_id = ?1 ORDER BY domain, local_part",
        params![tenant.map(TenantId::as_str)],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?)),
    )?;
    let mut aliases = aliases(conn, tenant)?;
    let mut out = Vec::with_capacity(rows.len());
    for (id, tenant, domain, local, kind, host, port) in rows {
        let own = aliases.remove(&id).unwrap_or_default();
        let alias_refs: Vec<&str> = own.iter().map(String::as_str).collect();
        out.push(Recipient::new(
            TenantId::parse(&tenant)?,
            &format!("{local}@{domain}"),
            &alias_refs,
            parse_target(&kind, host, port)?,
        )?);
    }
    Ok(out)
}

/// Every alias by recipient row id, in one query rather than one per recipient (a
/// snapshot rebuild reads all of them).
fn aliases(conn: &Connection, tenant: Option<&TenantId>) -> Result<HashMap<i64, Vec<String>>, StoreError> {
    const OP: &str = "reading aliases";
    let rows: Vec<(i64, String)> = select(conn, OP, "SELECT a.recipient_id, a.local_part FROM recipient_aliases a JOIN recipients r ON r.id = a.recipient_id
             WHERE ?1 IS NULL OR r.tenant_id = ?1 ORDER BY a.recipient_id, a.local_part", params![tenant.map(TenantId::as_str)], |r| Ok((r.get(0)?, r.get(1)?)))?;
    let mut by_recipient: HashMap<i64, Vec<String>> = HashMap::new();
    for (id, local) in rows {
        by_recipient.entry(id).or_default().push(local);
    }
    Ok(by_recipient)
}

/// The row id of `local@domain` as a recipient's own address, if it is one.
pub(crate) fn recipient_id(
    conn: &Connection,
    local: &str,
    domain: &DomainName,
) -> Result<Option<i64>, StoreError> {
    conn.query_row(
        "SELECT id FROM recipients WHERE domain = ?1 AND local_part = ?2",
        params![domain.as_str(), local],
        |r| r.get(0),
    )
    .optional()
    .during("looking up a recipient")
}

/// Whether `local@domain` is taken, as a recipient or as an alias.
pub(crate) fn address_taken(conn: &Connection, local: &str, domain: &DomainName) -> Result<bool, StoreError> {
    conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM recipients WHERE domain = ?1 AND local_part = ?2)
             OR EXISTS (SELECT 1 FROM recipient_aliases WHERE domain = ?1 AND local_part = ?2)",
        params![domain.as_str(), local],
        |r| r.get(0),
    )
    .during("looking up an address")
}

type ConnectorRow = (i64, String, String, bool, String, bool, bool);

pub(crate) fn connectors(
    conn: &Connection,
    tenant: Option<&TenantId>,
    name: Option<&str>,
) -> Result<Vec<Connector>, StoreError> {
    const OP: &str = "reading connectors";
    let rows: Vec<ConnectorRow> = select(
        conn,
        OP,
        "SELECT id, tenant_id, name, enabled, kind, restrict_sender_domains, require_tls FROM connectors
             WHERE (?1 IS NULL OR tenant_id = ?1) AND (?2 IS NULL OR name = ?2) ORDER BY tenant_id, name",
        params![tenant.map(TenantId::as_str), name],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?)),
    )?;
    rows.into_iter()
        .map(|(id, tenant, name, enabled, kind, restrict_sender_domains, require_tls)| {
            Ok(Connector {
                tenant: TenantId::parse(&tenant)?,
                name,
                enabled,
                kind: parse_connector_kind(&kind)?,
                ip_ranges: connector_values(conn, "connector_ip_ranges", "cidr", id)?
                    .iter()
                    .map(|c| Cidr::parse("connector_ip_ranges.cidr", c))
                    .collect::<Result<_, _>>()?,
                certificate_names: connector_values(conn, "connector_certificate_names", "name", id)?
                    .iter()
                    .map(|n| CertName::parse(n))
                    .collect::<Result<_, _>>()?,
                sender_domains: connector_values(conn, "connector_sender_domains", "domain", id)?
                    .iter()
                    .map(|d| DomainName::parse("connector_sender_domains.domain", d))
                    .collect::<Result<_, _>>()?,
                restrict_sender_domains,
                require_tls,
            })
        })
        .collect()
}

/// The values of one of the connector list tables, in the order they were given.
fn connector_values(
    conn: &Connection,
    table: &str,
    column: &str,
    id: i64,
) -> Result<Vec<String>, StoreError> {
    const OP: &str = "reading connector lists";
    // Table and column come from the fixed names above, never from input.
    let sql = format!("SELECT {column} FROM {table} WHERE connector_id = ?1 ORDER BY position");
    let mut stmt = conn.prepare_cached(&sql).during(OP)?;
    stmt.query_map([id], |r| r.get(0)).during(OP)?.collect::<rusqlite::Result<_>>().during(OP)
}

pub(crate) fn connector_id(conn: &Connection, tenant: &TenantId, name: &str) -> Result<i64, StoreError> {
    conn.query_row(
        "SELECT id FROM connectors WHERE tenant_id = ?1 AND name = ?2",
        params![tenant.as_str(), name],
        |r| r.get(0),
    )
    .optional()
    .during("looking up a connector")?
    .ok_or_else(|| {
        directory::DirectoryError::UnknownConnector { tenant: tenant.clone(), name: name.to_string() }.into()
    })
}

pub(crate) fn reputation(conn: &Connection) -> Result<Vec<ReputationEntry>, StoreError> {
    const OP: &str = "reading the reputation list";
    let rows: Vec<(String, String, String)> =
        select(conn, OP, "SELECT cidr, kind, note FROM reputation ORDER BY kind, cidr", [], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })?;
    rows.into_iter()
        .map(|(cidr, kind, note)| {
            Ok(ReputationEntry {
                cidr: Cidr::parse("reputation.cidr", &cidr)?,
                kind: parse_reputation_kind(&kind)?,
                note,
            })
        })
        .collect()
}

pub(crate) fn generation(conn: &Connection) -> Result<u64, StoreError> {
    let value: i64 = conn
        .query_row("SELECT value FROM generation WHERE id = 1", [], |r| r.get(0))
        .during("reading the generation")?;
    u64::try_from(value).map_err(|_| corrupt("generation.value", &value.to_string()))
}

pub(crate) fn outbound_blocks(
    conn: &Connection,
    tenant: Option<&TenantId>,
) -> Result<Vec<OutboundBlock>, StoreError> {
    const OP: &str = "reading outbound blocks";
    let rows = select(
        conn,
        OP,
        "SELECT tenant_id, blocked_at, reason FROM outbound_blocks
             WHERE released_at IS NULL AND (?1 IS NULL OR tenant_id = ?1) ORDER BY tenant_id",
        params![tenant.map(TenantId::as_str)],
        |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?, r.get::<_, String>(2)?)),
    )?;
    rows.into_iter()
        .map(|(tenant, at, reason)| {
            Ok(OutboundBlock {
                tenant: TenantId::parse(&tenant)?,
                blocked_at_unix_s: at.max(0) as u64,
                reason,
            })
        })
        .collect()
}

pub(crate) fn outbound_releases(
    conn: &Connection,
    tenant: &TenantId,
) -> Result<Vec<OutboundRelease>, StoreError> {
    const OP: &str = "reading outbound releases";
    let rows = select(
        conn,
        OP,
        "SELECT blocked_at, reason, released_at, released_by, release_reason FROM outbound_blocks
             WHERE released_at IS NOT NULL AND tenant_id = ?1 ORDER BY released_at DESC, id DESC",
        params![tenant.as_str()],
        |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, String>(4)?,
            ))
        },
    )?;
    Ok(rows
        .into_iter()
        .map(|(at, reason, released_at, released_by, release_reason)| OutboundRelease {
            block: OutboundBlock { tenant: tenant.clone(), blocked_at_unix_s: at.max(0) as u64, reason },
            released_at_unix_s: released_at.max(0) as u64,
            released_by,
            release_reason,
        })
        .collect())
}
