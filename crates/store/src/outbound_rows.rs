//! Outbound connectors in rows: `outbound_connectors` with their recipient domains and smart
//! hosts in ordered child tables (the order of smart hosts is the order delivery tries them).

use rusqlite::{Connection, OptionalExtension, Transaction, params};

use directory::{
    DirectoryError, DomainName, NextHop, OutboundConnector, OutboundRoute, OutboundTls, StoreError, TenantId,
};

use crate::rows::{During, corrupt, select};

fn route_text(route: &OutboundRoute) -> &'static str {
    match route {
        OutboundRoute::SmartHosts(_) => "smart-hosts",
        OutboundRoute::Mx => "mx",
    }
}

/// Whether `name` is taken in `tenant` by a connector of either direction (one namespace;
/// both columns compare with NOCASE).
pub(crate) fn name_taken(conn: &Connection, tenant: &TenantId, name: &str) -> Result<bool, StoreError> {
    conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM connectors WHERE tenant_id = ?1 AND name = ?2)
             OR EXISTS (SELECT 1 FROM outbound_connectors WHERE tenant_id = ?1 AND name = ?2)",
        params![tenant.as_str(), name],
        |r| r.get(0),
    )
    .during("looking up a connector name")
}

pub(crate) fn insert(tx: &Transaction<'_>, c: &OutboundConnector) -> Result<(), StoreError> {
    const OP: &str = "adding an outbound connector";
    c.validate()?;
    crate::rows::tenant(tx, &c.tenant)?;
    if name_taken(tx, &c.tenant, &c.name)? {
        return Err(
            DirectoryError::DuplicateConnector { tenant: c.tenant.clone(), name: c.name.clone() }.into()
        );
    }
    tx.execute(
        "INSERT INTO outbound_connectors (tenant_id, name, enabled, route, tls_mode, tls_domain)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            c.tenant.as_str(),
            c.name,
            c.enabled,
            route_text(&c.route),
            c.tls.mode_name(),
            c.tls.domain().map(DomainName::as_str)
        ],
    )
    .during(OP)?;
    let id = tx.last_insert_rowid();
    for (position, domain) in (0_i64..).zip(&c.recipient_domains) {
        tx.execute(
            "INSERT INTO outbound_connector_domains (connector_id, position, domain) VALUES (?1, ?2, ?3)",
            params![id, position, domain.as_str()],
        )
        .during(OP)?;
    }
    if let OutboundRoute::SmartHosts(hosts) = &c.route {
        for (position, hop) in (0_i64..).zip(hosts) {
            tx.execute(
                "INSERT INTO outbound_connector_smart_hosts (connector_id, position, host, port)
                 VALUES (?1, ?2, ?3, ?4)",
                params![id, position, hop.host, hop.port],
            )
            .during(OP)?;
        }
    }
    Ok(())
}

type Row = (i64, String, String, bool, String, String, Option<String>);

/// Outbound connectors of one tenant (or all), optionally only the one named `name`.
pub(crate) fn read(
    conn: &Connection,
    tenant: Option<&TenantId>,
    name: Option<&str>,
) -> Result<Vec<OutboundConnector>, StoreError> {
    const OP: &str = "reading outbound connectors";
    let rows: Vec<Row> = select(
        conn,
        OP,
        "SELECT id, tenant_id, name, enabled, route, tls_mode, tls_domain FROM outbound_connectors
             WHERE (?1 IS NULL OR tenant_id = ?1) AND (?2 IS NULL OR name = ?2) ORDER BY tenant_id, name",
        params![tenant.map(TenantId::as_str), name],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?)),
    )?;
    rows.into_iter().map(|row| connector(conn, row)).collect()
}

fn connector(conn: &Connection, row: Row) -> Result<OutboundConnector, StoreError> {
    let (id, tenant, name, enabled, route, tls_mode, tls_domain) = row;
    let route = match route.as_str() {
        "smart-hosts" => OutboundRoute::SmartHosts(smart_hosts(conn, id)?),
        "mx" => OutboundRoute::Mx,
        other => return Err(corrupt("outbound_connectors.route", other)),
    };
    let tls = OutboundTls::parse(&tls_mode, tls_domain.as_deref())
        .map_err(|_| corrupt("outbound_connectors.tls_mode", &tls_mode))?;
    Ok(OutboundConnector {
        tenant: TenantId::parse(&tenant)?,
        name,
        enabled,
        recipient_domains: domains(conn, id)?,
        route,
        tls,
    })
}

fn domains(conn: &Connection, id: i64) -> Result<Vec<DomainName>, StoreError> {
    const OP: &str = "reading outbound connector domains";
    let mut stmt = conn
        .prepare_cached(
            "SELECT domain FROM outbound_connector_domains WHERE connector_id = ?1 ORDER BY position",
        )
        .during(OP)?;
    let texts: Vec<String> =
        stmt.query_map([id], |r| r.get(0)).during(OP)?.collect::<rusqlite::Result<_>>().during(OP)?;
    Ok(texts
        .iter()
        .map(|d| DomainName::parse("outbound_connector_domains.domain", d))
        .collect::<Result<_, _>>()?)
}

fn smart_hosts(conn: &Connection, id: i64) -> Result<Vec<NextHop>, StoreError> {
    const OP: &str = "reading smart hosts";
    let mut stmt = conn
        .prepare_cached(
            "SELECT host, port FROM outbound_connector_smart_hosts WHERE connector_id = ?1 ORDER BY position",
        )
        .during(OP)?;
    let rows: Vec<(String, u16)> = stmt
        .query_map([id], |r| Ok((r.get(0)?, r.get(1)?)))
        .during(OP)?
        .collect::<rusqlite::Result<_>>()
        .during(OP)?;
    Ok(rows
        .iter()
        .map(|(host, port)| NextHop::parse("outbound_connector_smart_hosts.host", host, *port))
        .collect::<Result<_, _>>()?)
}

pub(crate) fn id(conn: &Connection, tenant: &TenantId, name: &str) -> Result<i64, StoreError> {
    conn.query_row(
        "SELECT id FROM outbound_connectors WHERE tenant_id = ?1 AND name = ?2",
        params![tenant.as_str(), name],
        |r| r.get(0),
    )
    .optional()
    .during("looking up an outbound connector")?
    .ok_or_else(|| DirectoryError::UnknownConnector { tenant: tenant.clone(), name: name.to_string() }.into())
}

pub(crate) fn one(conn: &Connection, tenant: &TenantId, name: &str) -> Result<OutboundConnector, StoreError> {
    read(conn, Some(tenant), Some(name))?.into_iter().next().ok_or_else(|| {
        DirectoryError::UnknownConnector { tenant: tenant.clone(), name: name.to_string() }.into()
    })
}
