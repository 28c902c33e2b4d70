//! Reading entities back from their rows, and the text forms of enums in the schema. Raw
//! column values are fetched first and parsed after, so a value that fails the
//! directory's validation comes back as a typed error naming the column.

use std::collections::HashMap;

use crate::sql::{Sql, Value, scalar, select, select_one, to_i64, to_u64, vals};

use directory::{
    AcceptedDomain, CertName, ChangeRecord, Cidr, Connector, ConnectorKind, DeliveryTarget, DomainKind,
    DomainName, NextHop, OutboundBlock, OutboundRelease, Recipient, ReputationEntry, ReputationKind,
    StoreError, Tenant, TenantId, TenantStatus, VerificationState,
};

/// A stored value this program cannot read: the database was edited by hand or by a newer
/// program.
#[derive(Debug, thiserror::Error)]
#[error("unexpected value {value:?} in column {column}")]
pub struct CorruptValue {
    pub column: &'static str,
    pub value: String,
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

/// `?1` is absent (NULL) or equal to the column: one statement serves "all" and "one".
/// The cast tells PostgreSQL the parameter's type, which `IS NULL` alone does not.
pub(crate) const ANY_TENANT: &str = "(CAST(?1 AS TEXT) IS NULL OR tenant_id = ?1)";

pub(crate) fn tenants(db: &mut dyn Sql, id: Option<&TenantId>) -> Result<Vec<Tenant>, StoreError> {
    let rows: Vec<(String, String, String, String)> = select(
        db,
        "reading tenants",
        "SELECT id, display_name, status, language FROM tenants
             WHERE CAST(?1 AS TEXT) IS NULL OR id = ?1 ORDER BY id",
        vals![id.map(TenantId::as_str)],
    )?;
    rows.into_iter()
        .map(|(id, display_name, status, language)| {
            Ok(Tenant { id: TenantId::parse(&id)?, display_name, status: parse_status(&status)?, language })
        })
        .collect()
}

pub(crate) fn tenant(db: &mut dyn Sql, id: &TenantId) -> Result<Tenant, StoreError> {
    tenants(db, Some(id))?
        .into_iter()
        .next()
        .ok_or_else(|| directory::DirectoryError::UnknownTenant { id: id.to_string() }.into())
}

type DomainRow = (String, String, String, bool, String, bool, bool);

pub(crate) fn domains(
    db: &mut dyn Sql,
    tenant: Option<&TenantId>,
    name: Option<&DomainName>,
) -> Result<Vec<AcceptedDomain>, StoreError> {
    let rows: Vec<DomainRow> = select(
        db,
        "reading domains",
        &format!(
            "SELECT name, tenant_id, kind, match_subdomains, token, verified, service FROM domains
             WHERE {ANY_TENANT} AND (CAST(?2 AS TEXT) IS NULL OR name = ?2) ORDER BY tenant_id, name"
        ),
        vals![tenant.map(TenantId::as_str), name.map(DomainName::as_str)],
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

/// Pending claims of names another tenant claimed first (`domain_claims`), oldest first.
pub(crate) fn claims(
    db: &mut dyn Sql,
    tenant: Option<&TenantId>,
    name: Option<&DomainName>,
) -> Result<Vec<(i64, AcceptedDomain)>, StoreError> {
    let rows: Vec<(i64, String, String, String, bool, String)> = select(
        db,
        "reading domain claims",
        &format!(
            "SELECT id, name, tenant_id, kind, match_subdomains, token FROM domain_claims
             WHERE {ANY_TENANT} AND (CAST(?2 AS TEXT) IS NULL OR name = ?2) ORDER BY id"
        ),
        vals![tenant.map(TenantId::as_str), name.map(DomainName::as_str)],
    )?;
    rows.into_iter()
        .map(|(id, name, tenant, kind, match_subdomains, token)| {
            let claim = AcceptedDomain {
                name: DomainName::parse("domain_claims.name", &name)?,
                tenant: TenantId::parse(&tenant)?,
                kind: parse_domain_kind(&kind)?,
                match_subdomains,
                token,
                verification: VerificationState::Pending,
                service: false,
            };
            Ok((id, claim))
        })
        .collect()
}

/// Every domain and pending claim (of one tenant), as the claim rules see them.
pub(crate) fn domains_and_claims(
    db: &mut dyn Sql,
    tenant: Option<&TenantId>,
) -> Result<Vec<AcceptedDomain>, StoreError> {
    let mut all = domains(db, tenant, None)?;
    all.extend(claims(db, tenant, None)?.into_iter().map(|(_, c)| c));
    all.sort_by(|a, b| (&a.tenant, &a.name).cmp(&(&b.tenant, &b.name)));
    Ok(all)
}

type RecipientRow = (i64, String, String, String, String, Option<String>, Option<u16>);

pub(crate) fn recipients(db: &mut dyn Sql, tenant: Option<&TenantId>) -> Result<Vec<Recipient>, StoreError> {
    let rows: Vec<RecipientRow> = select(
        db,
        "reading recipients",
        &format!(
            "SELECT id, tenant_id, domain, local_part, target_kind, target_host, target_port FROM recipients
             WHERE {ANY_TENANT} ORDER BY domain, local_part"
        ),
        vals![tenant.map(TenantId::as_str)],
    )?;
    let mut aliases = aliases(db, tenant)?;
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
fn aliases(db: &mut dyn Sql, tenant: Option<&TenantId>) -> Result<HashMap<i64, Vec<String>>, StoreError> {
    let rows: Vec<(i64, String)> = select(
        db,
        "reading aliases",
        "SELECT a.recipient_id, a.local_part FROM recipient_aliases a JOIN recipients r ON r.id = a.recipient_id
             WHERE CAST(?1 AS TEXT) IS NULL OR r.tenant_id = ?1 ORDER BY a.recipient_id, a.local_part",
        vals![tenant.map(TenantId::as_str)],
    )?;
    let mut by_recipient: HashMap<i64, Vec<String>> = HashMap::new();
    for (id, local) in rows {
        by_recipient.entry(id).or_default().push(local);
    }
    Ok(by_recipient)
}

/// The row id of `local@domain` as a recipient's own address, if it is one.
pub(crate) fn recipient_id(
    db: &mut dyn Sql,
    local: &str,
    domain: &DomainName,
) -> Result<Option<i64>, StoreError> {
    let row: Option<(i64,)> = select_one(
        db,
        "looking up a recipient",
        "SELECT id FROM recipients WHERE domain = ?1 AND local_part = ?2",
        vals![domain.as_str(), local],
    )?;
    Ok(row.map(|(id,)| id))
}

/// Whether `local@domain` is taken, as a recipient or as an alias.
pub(crate) fn address_taken(db: &mut dyn Sql, local: &str, domain: &DomainName) -> Result<bool, StoreError> {
    Ok(scalar(
        db,
        "looking up an address",
        "SELECT EXISTS (SELECT 1 FROM recipients WHERE domain = ?1 AND local_part = ?2)
             OR EXISTS (SELECT 1 FROM recipient_aliases WHERE domain = ?1 AND local_part = ?2)",
        vals![domain.as_str(), local],
    )?)
}

type ConnectorRow = (i64, String, String, bool, String, bool, bool, i64, String, i64, String, String);

/// The change record's columns, in the order both connector tables list them.
pub(crate) const CHANGE_COLUMNS: &str = "created_at, created_by, changed_at, changed_by, change_note";

/// The change record read from its columns.
pub(crate) fn change_record(
    created_at: i64,
    created_by: String,
    changed_at: i64,
    changed_by: String,
    change_note: String,
) -> ChangeRecord {
    ChangeRecord {
        created_at_unix_s: to_u64(created_at),
        created_by,
        changed_at_unix_s: to_u64(changed_at),
        changed_by,
        change_note,
    }
}

/// The change record's column values, in the order of [`CHANGE_COLUMNS`].
pub(crate) fn change_values(c: &ChangeRecord) -> [Value; 5] {
    [
        Value::Int(to_i64(c.created_at_unix_s)),
        Value::from(&c.created_by),
        Value::Int(to_i64(c.changed_at_unix_s)),
        Value::from(&c.changed_by),
        Value::from(&c.change_note),
    ]
}

pub(crate) fn connectors(
    db: &mut dyn Sql,
    tenant: Option<&TenantId>,
    name: Option<&str>,
) -> Result<Vec<Connector>, StoreError> {
    let rows: Vec<ConnectorRow> = select(
        db,
        "reading connectors",
        &format!(
            "SELECT id, tenant_id, name, enabled, kind, restrict_sender_domains, require_tls, {CHANGE_COLUMNS}
             FROM connectors WHERE {ANY_TENANT} AND (CAST(?2 AS TEXT) IS NULL OR name = ?2) ORDER BY tenant_id, name"
        ),
        vals![tenant.map(TenantId::as_str), name],
    )?;
    rows.into_iter()
        .map(|(id, tenant, name, enabled, kind, restrict_sender_domains, require_tls, c0, c1, c2, c3, c4)| {
            let record = change_record(c0, c1, c2, c3, c4);
            Ok(Connector {
                tenant: TenantId::parse(&tenant)?,
                name,
                enabled,
                kind: parse_connector_kind(&kind)?,
                ip_ranges: connector_values(db, "connector_ip_ranges", "cidr", id)?
                    .iter()
                    .map(|c| Cidr::parse("connector_ip_ranges.cidr", c))
                    .collect::<Result<_, _>>()?,
                certificate_names: connector_values(db, "connector_certificate_names", "name", id)?
                    .iter()
                    .map(|n| CertName::parse(n))
                    .collect::<Result<_, _>>()?,
                sender_domains: connector_values(db, "connector_sender_domains", "domain", id)?
                    .iter()
                    .map(|d| DomainName::parse("connector_sender_domains.domain", d))
                    .collect::<Result<_, _>>()?,
                restrict_sender_domains,
                require_tls,
                record,
            })
        })
        .collect()
}

/// The values of one of the connectors' child tables, in the order they were given.
pub(crate) fn connector_values(
    db: &mut dyn Sql,
    table: &str,
    column: &str,
    id: i64,
) -> Result<Vec<String>, StoreError> {
    // Table and column come from fixed names in this crate, never from input.
    let sql = format!("SELECT {column} FROM {table} WHERE connector_id = ?1 ORDER BY position");
    let rows: Vec<(String,)> = select(db, "reading connector lists", &sql, vals![id])?;
    Ok(rows.into_iter().map(|(v,)| v).collect())
}

/// The row id of a connector in `table` (inbound or outbound), or "unknown connector".
pub(crate) fn connector_row_id(
    db: &mut dyn Sql,
    table: &str,
    tenant: &TenantId,
    name: &str,
) -> Result<i64, StoreError> {
    let sql = format!("SELECT id FROM {table} WHERE tenant_id = ?1 AND name = ?2");
    let row: Option<(i64,)> = select_one(db, "looking up a connector", &sql, vals![tenant.as_str(), name])?;
    row.map(|(id,)| id).ok_or_else(|| {
        directory::DirectoryError::UnknownConnector { tenant: tenant.clone(), name: name.to_string() }.into()
    })
}

pub(crate) fn connector_id(db: &mut dyn Sql, tenant: &TenantId, name: &str) -> Result<i64, StoreError> {
    connector_row_id(db, "connectors", tenant, name)
}

pub(crate) fn reputation(db: &mut dyn Sql) -> Result<Vec<ReputationEntry>, StoreError> {
    let rows: Vec<(String, String, String, Option<i64>)> = select(
        db,
        "reading the reputation list",
        "SELECT cidr, kind, note, expires_at FROM reputation ORDER BY kind, cidr",
        vals![],
    )?;
    rows.into_iter()
        .map(|(cidr, kind, note, expires_at)| {
            Ok(ReputationEntry {
                cidr: Cidr::parse("reputation.cidr", &cidr)?,
                kind: parse_reputation_kind(&kind)?,
                note,
                expires_at_unix_s: expires_at.map(to_u64),
            })
        })
        .collect()
}

pub(crate) fn generation(db: &mut dyn Sql) -> Result<u64, StoreError> {
    let value: i64 =
        scalar(db, "reading the generation", "SELECT value FROM generation WHERE id = 1", vals![])?;
    u64::try_from(value).map_err(|_| corrupt("generation.value", &value.to_string()))
}

pub(crate) fn outbound_blocks(
    db: &mut dyn Sql,
    tenant: Option<&TenantId>,
) -> Result<Vec<OutboundBlock>, StoreError> {
    let rows: Vec<(String, i64, String)> = select(
        db,
        "reading outbound blocks",
        &format!(
            "SELECT tenant_id, blocked_at, reason FROM outbound_blocks
             WHERE released_at IS NULL AND {ANY_TENANT} ORDER BY tenant_id"
        ),
        vals![tenant.map(TenantId::as_str)],
    )?;
    rows.into_iter()
        .map(|(tenant, at, reason)| {
            Ok(OutboundBlock { tenant: TenantId::parse(&tenant)?, blocked_at_unix_s: to_u64(at), reason })
        })
        .collect()
}

pub(crate) fn outbound_releases(
    db: &mut dyn Sql,
    tenant: &TenantId,
) -> Result<Vec<OutboundRelease>, StoreError> {
    let rows: Vec<(i64, String, i64, String, String)> = select(
        db,
        "reading outbound releases",
        "SELECT blocked_at, reason, released_at, released_by, release_reason FROM outbound_blocks
             WHERE released_at IS NOT NULL AND tenant_id = ?1 ORDER BY released_at DESC, id DESC",
        vals![tenant.as_str()],
    )?;
    Ok(rows
        .into_iter()
        .map(|(at, reason, released_at, released_by, release_reason)| OutboundRelease {
            block: OutboundBlock { tenant: tenant.clone(), blocked_at_unix_s: to_u64(at), reason },
            released_at_unix_s: to_u64(released_at),
            released_by,
            release_reason,
        })
        .collect())
}
