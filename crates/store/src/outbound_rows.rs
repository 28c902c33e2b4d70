//! Outbound connectors in rows: `outbound_connectors` with their recipient domains and smart
//! hosts in ordered child tables (the order of smart hosts is the order delivery tries them).

use directory::{
    DirectoryError, DomainName, NextHop, OutboundConnector, OutboundRoute, OutboundTls, StoreError, TenantId,
};

use crate::rows::{self, ANY_TENANT, CHANGE_COLUMNS, connector_row_id, connector_values, corrupt};
use crate::sql::{Doing, Sql, Value, scalar, select, to_i64, vals};

fn route_text(route: &OutboundRoute) -> &'static str {
    match route {
        OutboundRoute::SmartHosts(_) => "smart-hosts",
        OutboundRoute::Mx => "mx",
    }
}

/// Whether `name` is taken in `tenant` by a connector of either direction (one namespace;
/// both columns compare case-insensitively).
pub(crate) fn name_taken(db: &mut dyn Sql, tenant: &TenantId, name: &str) -> Result<bool, StoreError> {
    Ok(scalar(
        db,
        "looking up a connector name",
        "SELECT EXISTS (SELECT 1 FROM connectors WHERE tenant_id = ?1 AND name = ?2)
             OR EXISTS (SELECT 1 FROM outbound_connectors WHERE tenant_id = ?1 AND name = ?2)",
        vals![tenant.as_str(), name],
    )?)
}

/// A new connector of either direction: its tenant exists and its name is free.
pub(crate) fn check_new(db: &mut dyn Sql, tenant: &TenantId, name: &str) -> Result<(), StoreError> {
    crate::rows::tenant(db, tenant)?;
    if name_taken(db, tenant, name)? {
        return Err(
            DirectoryError::DuplicateConnector { tenant: tenant.clone(), name: name.to_string() }.into()
        );
    }
    Ok(())
}

pub(crate) fn insert(db: &mut dyn Sql, c: &OutboundConnector) -> Result<(), StoreError> {
    const OP: &str = "adding an outbound connector";
    c.validate()?;
    check_new(db, &c.tenant, &c.name)?;
    let [created_at, created_by, changed_at, changed_by, change_note] = rows::change_values(&c.record);
    let id: i64 = scalar(
        db,
        OP,
        &format!(
            "INSERT INTO outbound_connectors (tenant_id, name, enabled, route, tls_mode, tls_domain, {})
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) RETURNING id",
            rows::CHANGE_COLUMNS
        ),
        &[
            Value::from(c.tenant.as_str()),
            Value::from(&c.name),
            Value::from(c.enabled),
            Value::from(route_text(&c.route)),
            Value::from(c.tls.mode_name()),
            Value::from(c.tls.domain().map(DomainName::as_str)),
            created_at,
            created_by,
            changed_at,
            changed_by,
            change_note,
        ],
    )?;
    insert_lists(db, id, c, OP)
}

/// Replaces the connector of the same tenant and name: its settings, lists and change
/// record (creation time and author stay).
pub(crate) fn update(db: &mut dyn Sql, c: &OutboundConnector) -> Result<(), StoreError> {
    const OP: &str = "changing an outbound connector";
    c.validate()?;
    let id = id(db, &c.tenant, &c.name)?;
    db.execute(
        "UPDATE outbound_connectors SET enabled = ?1, route = ?2, tls_mode = ?3, tls_domain = ?4,
             changed_at = ?5, changed_by = ?6, change_note = ?7 WHERE id = ?8",
        vals![
            c.enabled,
            route_text(&c.route),
            c.tls.mode_name(),
            c.tls.domain().map(DomainName::as_str),
            to_i64(c.record.changed_at_unix_s),
            &c.record.changed_by,
            &c.record.change_note,
            id
        ],
    )
    .doing(OP)?;
    db.execute("DELETE FROM outbound_connector_domains WHERE connector_id = ?1", vals![id]).doing(OP)?;
    db.execute("DELETE FROM outbound_connector_smart_hosts WHERE connector_id = ?1", vals![id]).doing(OP)?;
    insert_lists(db, id, c, OP)
}

fn insert_lists(db: &mut dyn Sql, id: i64, c: &OutboundConnector, op: &str) -> Result<(), StoreError> {
    for (position, domain) in (0_i64..).zip(&c.recipient_domains) {
        db.execute(
            "INSERT INTO outbound_connector_domains (connector_id, position, domain) VALUES (?1, ?2, ?3)",
            vals![id, position, domain.as_str()],
        )
        .doing(op)?;
    }
    if let OutboundRoute::SmartHosts(hosts) = &c.route {
        for (position, hop) in (0_i64..).zip(hosts) {
            db.execute(
                "INSERT INTO outbound_connector_smart_hosts (connector_id, position, host, port)
                 VALUES (?1, ?2, ?3, ?4)",
                vals![id, position, &hop.host, hop.port],
            )
            .doing(op)?;
        }
    }
    Ok(())
}

type Row = (i64, String, String, bool, String, String, Option<String>, i64, String, i64, String, String);

/// Outbound connectors of one tenant (or all), optionally only the one named `name`.
pub(crate) fn read(
    db: &mut dyn Sql,
    tenant: Option<&TenantId>,
    name: Option<&str>,
) -> Result<Vec<OutboundConnector>, StoreError> {
    let rows: Vec<Row> = select(
        db,
        "reading outbound connectors",
        &format!(
            "SELECT id, tenant_id, name, enabled, route, tls_mode, tls_domain, {CHANGE_COLUMNS}
             FROM outbound_connectors WHERE {ANY_TENANT} AND (CAST(?2 AS TEXT) IS NULL OR name = ?2) ORDER BY tenant_id, name"
        ),
        vals![tenant.map(TenantId::as_str), name],
    )?;
    rows.into_iter().map(|row| connector(db, row)).collect()
}

fn connector(db: &mut dyn Sql, row: Row) -> Result<OutboundConnector, StoreError> {
    let (id, tenant, name, enabled, route, tls_mode, tls_domain, c0, c1, c2, c3, c4) = row;
    let record = rows::change_record(c0, c1, c2, c3, c4);
    let route = match route.as_str() {
        "smart-hosts" => OutboundRoute::SmartHosts(smart_hosts(db, id)?),
        "mx" => OutboundRoute::Mx,
        other => return Err(corrupt("outbound_connectors.route", other)),
    };
    let tls = OutboundTls::parse(&tls_mode, tls_domain.as_deref())
        .map_err(|_| corrupt("outbound_connectors.tls_mode", &tls_mode))?;
    let recipient_domains = connector_values(db, "outbound_connector_domains", "domain", id)?
        .iter()
        .map(|d| DomainName::parse("outbound_connector_domains.domain", d))
        .collect::<Result<_, _>>()?;
    Ok(OutboundConnector {
        tenant: TenantId::parse(&tenant)?,
        name,
        enabled,
        recipient_domains,
        route,
        tls,
        record,
    })
}

fn smart_hosts(db: &mut dyn Sql, id: i64) -> Result<Vec<NextHop>, StoreError> {
    let rows: Vec<(String, u16)> = select(
        db,
        "reading smart hosts",
        "SELECT host, port FROM outbound_connector_smart_hosts WHERE connector_id = ?1 ORDER BY position",
        vals![id],
    )?;
    Ok(rows
        .iter()
        .map(|(host, port)| NextHop::parse("outbound_connector_smart_hosts.host", host, *port))
        .collect::<Result<_, _>>()?)
}

pub(crate) fn id(db: &mut dyn Sql, tenant: &TenantId, name: &str) -> Result<i64, StoreError> {
    connector_row_id(db, "outbound_connectors", tenant, name)
}

pub(crate) fn one(db: &mut dyn Sql, tenant: &TenantId, name: &str) -> Result<OutboundConnector, StoreError> {
    read(db, Some(tenant), Some(name))?.into_iter().next().ok_or_else(|| {
        DirectoryError::UnknownConnector { tenant: tenant.clone(), name: name.to_string() }.into()
    })
}
