//! The embedded database of one node: the directory in SQLite (`<data_dir>/sluice.db`),
//! behind [`directory::DirectoryStore`] so that fleet mode can put PostgreSQL there instead.
//!
//! Invariants: **every mutation is one `BEGIN IMMEDIATE` transaction** that checks its
//! rules, writes, and bumps `generation` before committing, so the conflict checks see no
//! concurrent writer (the CLI and the server are separate processes) and a poller of
//! [`DirectoryStore::generation`] never sees a change without a new generation.
//! **Foreign keys are on** (removing a domain removes its recipients and their aliases;
//! removing a connector removes its lists), the journal is WAL (readers never block the
//! writer), and unique constraints back every uniqueness rule the directory states.
//! The schema lives in `schema.rs` as numbered migrations; `schema_version` says how many
//! ran, and a database newer than the program is refused rather than misread.
//! Verification tokens are 128 random bits from SQLite's `randomblob` (OS entropy).
//!
//! The same file holds the admin plane's records (migration 4: bearer tokens as hashes, the
//! audit log, service requests; `access.rs`, behind `access`'s traits), which do not bump
//! the generation. The message trace has its own file (`trace_db.rs`, [`SqliteTraceStore`],
//! behind `trace::TraceStore`) and a batching writer thread ([`TraceWriter`]). Each trait's
//! behaviour suite (`access::suite`, `trace::suite`) runs on these in `tests/suites.rs`.

mod access;
mod outbound_rows;
mod rows;
mod schema;
mod sql;
mod trace_db;

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, Transaction, TransactionBehavior, params};

use directory::{
    AcceptedDomain, Cidr, Connector, DirectoryData, DirectoryError, DirectoryStore, DomainKind, DomainName,
    NewDomain, NewTenant, OutboundBlock, OutboundConnector, OutboundRelease, Recipient, ReputationEntry,
    StoreError, Tenant, TenantId, TenantStatus, check_domain_claim, check_not_reserved, recipient_domain,
};

pub use rows::CorruptValue;
use rows::During;
pub use trace_db::{SqliteTraceStore, TraceWriter, TraceWriterConfig, TraceWriterStats};

/// How long a writer waits for another process's transaction before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The database is newer than this program.
#[derive(Debug, thiserror::Error)]
#[error(
    "the database schema is at version {found}, newer than the {known} this program knows; upgrade Sluice"
)]
pub struct SchemaTooNew {
    pub found: i64,
    pub known: usize,
}

/// The directory in a SQLite file.
#[derive(Debug)]
pub struct SqliteStore {
    conn: Connection,
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and brings its schema up to date.
    pub fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        let operation = format!("opening {}", path.display());
        let conn = Connection::open(path).during(&operation)?;
        conn.busy_timeout(BUSY_TIMEOUT).during(&operation)?;
        conn.pragma_update(None, "journal_mode", "WAL").during(&operation)?;
        conn.pragma_update(None, "foreign_keys", true).during(&operation)?;
        // With WAL, NORMAL syncs at checkpoints: a crash can lose the last commits but
        // never corrupts; directory edits are rare, so pay for FULL and lose nothing.
        conn.pragma_update(None, "synchronous", "FULL").during(&operation)?;
        let mut store = SqliteStore { conn };
        store.migrate(path)?;
        Ok(store)
    }

    fn migrate(&mut self, path: &Path) -> Result<(), StoreError> {
        let op = &format!("migrating the schema of {}", path.display());
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate).during(op)?;
        tx.execute_batch("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL) STRICT")
            .during(op)?;
        let found: Option<i64> =
            tx.query_row("SELECT max(version) FROM schema_version", [], |r| r.get(0)).during(op)?;
        let found = found.unwrap_or(0);
        let applied = usize::try_from(found).unwrap_or(usize::MAX);
        if applied > schema::MIGRATIONS.len() {
            let source = SchemaTooNew { found, known: schema::MIGRATIONS.len() };
            return Err(StoreError::Backend { operation: op.clone(), cause: Box::new(source) });
        }
        for migration in &schema::MIGRATIONS[applied..] {
            tx.execute_batch(migration).during(op)?;
        }
        tx.execute("DELETE FROM schema_version", []).during(op)?;
        let version = i64::try_from(schema::MIGRATIONS.len()).unwrap_or(i64::MAX);
        tx.execute("INSERT INTO schema_version (version) VALUES (?1)", [version]).during(op)?;
        tx.commit().during(op)
    }

    /// The schema version of the open database.
    pub fn schema_version(&self) -> Result<i64, StoreError> {
        self.conn
            .query_row("SELECT version FROM schema_version", [], |r| r.get(0))
            .during("reading the schema version")
    }

    /// Runs `change` in an immediate transaction, bumps the generation and commits.
    fn mutate<T>(
        &mut self,
        operation: &str,
        change: impl FnOnce(&Transaction<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate).during(operation)?;
        let out = change(&tx)?;
        tx.execute("UPDATE generation SET value = value + 1 WHERE id = 1", []).during(operation)?;
        tx.commit().during(operation)?;
        Ok(out)
    }
}

fn insert_domain(
    tx: &Transaction<'_>,
    tenant: &TenantId,
    new: &NewDomain,
    service: bool,
) -> Result<(), StoreError> {
    check_domain_claim(&rows::domains(tx, None, None)?, tenant, new)?;
    tx.execute(
        "INSERT INTO domains (name, tenant_id, kind, match_subdomains, token, verified, service)
         VALUES (?1, ?2, ?3, ?4, lower(hex(randomblob(16))), ?5, ?5)",
        params![
            new.name.as_str(),
            tenant.as_str(),
            rows::domain_kind_text(new.kind),
            new.match_subdomains,
            service
        ],
    )
    .during("adding a domain")?;
    Ok(())
}

fn insert_recipient(tx: &Transaction<'_>, recipient: &Recipient) -> Result<(), StoreError> {
    const OP: &str = "adding a recipient";
    rows::tenant(tx, &recipient.tenant)?;
    let domains = rows::domains(tx, Some(&recipient.tenant), None)?;
    let accepted = recipient_domain(&domains, recipient)?;
    for local in std::iter::once(&recipient.local_part).chain(&recipient.aliases) {
        if rows::address_taken(tx, local, &recipient.domain)? {
            return Err(DirectoryError::DuplicateRecipient {
                address: format!("{local}@{}", recipient.domain),
            }
            .into());
        }
    }
    let (kind, host, port) = rows::target_columns(&recipient.target);
    tx.execute(
        "INSERT INTO recipients (tenant_id, accepted_domain, domain, local_part, target_kind, target_host, target_port)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            recipient.tenant.as_str(),
            accepted.name.as_str(),
            recipient.domain.as_str(),
            recipient.local_part,
            kind,
            host,
            port
        ],
    )
    .during(OP)?;
    let id = tx.last_insert_rowid();
    for alias in &recipient.aliases {
        tx.execute(
            "INSERT INTO recipient_aliases (recipient_id, domain, local_part) VALUES (?1, ?2, ?3)",
            params![id, recipient.domain.as_str(), alias],
        )
        .during(OP)?;
    }
    Ok(())
}

fn insert_connector(tx: &Transaction<'_>, c: &Connector) -> Result<(), StoreError> {
    const OP: &str = "adding a connector";
    c.validate()?;
    rows::tenant(tx, &c.tenant)?;
    if outbound_rows::name_taken(tx, &c.tenant, &c.name)? {
        return Err(
            DirectoryError::DuplicateConnector { tenant: c.tenant.clone(), name: c.name.clone() }.into()
        );
    }
    tx.execute(
        "INSERT INTO connectors (tenant_id, name, enabled, kind, restrict_sender_domains, require_tls)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            c.tenant.as_str(),
            c.name,
            c.enabled,
            rows::connector_kind_text(c.kind),
            c.restrict_sender_domains,
            c.require_tls
        ],
    )
    .during(OP)?;
    let id = tx.last_insert_rowid();
    let lists: [(&str, Vec<String>); 3] = [
        ("connector_ip_ranges", c.ip_ranges.iter().map(Cidr::to_string).collect()),
        ("connector_certificate_names", c.certificate_names.iter().map(ToString::to_string).collect()),
        ("connector_sender_domains", c.sender_domains.iter().map(ToString::to_string).collect()),
    ];
    for (table, values) in lists {
        // `table` is one of the fixed names above; the columns are positional.
        let sql = format!("INSERT OR IGNORE INTO {table} VALUES (?1, ?2, ?3)");
        for (position, value) in (0_i64..).zip(&values) {
            tx.execute(&sql, params![id, position, value]).during(OP)?;
        }
    }
    Ok(())
}

impl DirectoryStore for SqliteStore {
    fn load(&self) -> Result<DirectoryData, StoreError> {
        // One read transaction: a consistent view even while the CLI writes.
        let tx = self.conn.unchecked_transaction().during("loading the directory")?;
        let data = DirectoryData {
            generation: rows::generation(&tx)?,
            tenants: rows::tenants(&tx, None)?,
            domains: rows::domains(&tx, None, None)?,
            recipients: rows::recipients(&tx, None)?,
            connectors: rows::connectors(&tx, None, None)?,
            reputation: rows::reputation(&tx)?,
            outbound_blocks: rows::outbound_blocks(&tx, None)?,
            outbound_connectors: outbound_rows::read(&tx, None, None)?,
        };
        tx.finish().during("loading the directory")?;
        Ok(data)
    }

    fn generation(&self) -> Result<u64, StoreError> {
        rows::generation(&self.conn)
    }

    fn add_tenant(&mut self, tenant: &NewTenant, service_domain: &DomainName) -> Result<Tenant, StoreError> {
        let service = NewDomain {
            name: tenant.id.service_domain(service_domain)?,
            kind: DomainKind::Authoritative,
            match_subdomains: false,
        };
        self.mutate("adding a tenant", |tx| {
            if !rows::tenants(tx, Some(&tenant.id))?.is_empty() {
                return Err(DirectoryError::DuplicateTenant { id: tenant.id.clone() }.into());
            }
            tx.execute(
                "INSERT INTO tenants (id, display_name, status, language) VALUES (?1, ?2, 'active', ?3)",
                params![tenant.id.as_str(), tenant.display_name, tenant.language],
            )
            .during("adding a tenant")?;
            insert_domain(tx, &tenant.id, &service, true)?;
            rows::tenant(tx, &tenant.id)
        })
    }

    fn list_tenants(&self) -> Result<Vec<Tenant>, StoreError> {
        rows::tenants(&self.conn, None)
    }

    fn set_tenant_status(&mut self, id: &TenantId, status: TenantStatus) -> Result<Tenant, StoreError> {
        self.mutate("changing a tenant's status", |tx| {
            rows::tenant(tx, id)?;
            tx.execute(
                "UPDATE tenants SET status = ?1 WHERE id = ?2",
                params![rows::status_text(status), id.as_str()],
            )
            .during("changing a tenant's status")?;
            rows::tenant(tx, id)
        })
    }

    fn block_outbound(&mut self, block: &OutboundBlock) -> Result<OutboundBlock, StoreError> {
        const OP: &str = "blocking a tenant's outbound mail";
        self.mutate(OP, |tx| {
            rows::tenant(tx, &block.tenant)?;
            tx.execute(
                "INSERT INTO outbound_blocks (tenant_id, blocked_at, reason) VALUES (?1, ?2, ?3)
                 ON CONFLICT (tenant_id) WHERE released_at IS NULL DO NOTHING",
                params![block.tenant.as_str(), block.blocked_at_unix_s as i64, block.reason],
            )
            .during(OP)?;
            rows::outbound_blocks(tx, Some(&block.tenant))?
                .pop()
                .ok_or_else(|| DirectoryError::NotBlocked { tenant: block.tenant.clone() }.into())
        })
    }

    fn release_outbound(
        &mut self,
        tenant: &TenantId,
        released_by: &str,
        reason: &str,
        now_unix_s: u64,
    ) -> Result<OutboundRelease, StoreError> {
        const OP: &str = "releasing a tenant's outbound mail";
        for (field, value) in [("release.by", released_by), ("release.reason", reason)] {
            if value.trim().is_empty() || value.chars().any(char::is_control) {
                return Err(DirectoryError::invalid(
                    field,
                    value,
                    "say who releases and why (no control characters)",
                )
                .into());
            }
        }
        self.mutate(OP, |tx| {
            rows::tenant(tx, tenant)?;
            let changed = tx
                .execute(
                    "UPDATE outbound_blocks SET released_at = ?2, released_by = ?3, release_reason = ?4
                     WHERE tenant_id = ?1 AND released_at IS NULL",
                    params![tenant.as_str(), now_unix_s as i64, released_by.trim(), reason.trim()],
                )
                .during(OP)?;
            if changed == 0 {
                return Err(DirectoryError::NotBlocked { tenant: tenant.clone() }.into());
            }
            rows::outbound_releases(tx, tenant)?
                .into_iter()
                .next()
                .ok_or_else(|| DirectoryError::NotBlocked { tenant: tenant.clone() }.into())
        })
    }

    fn outbound_releases(&self, tenant: &TenantId) -> Result<Vec<OutboundRelease>, StoreError> {
        rows::outbound_releases(&self.conn, tenant)
    }

    fn add_domain(&mut self, tenant: &TenantId, domain: &NewDomain) -> Result<AcceptedDomain, StoreError> {
        self.mutate("adding a domain", |tx| {
            rows::tenant(tx, tenant)?;
            check_not_reserved(&rows::domains(tx, None, None)?, domain)?;
            insert_domain(tx, tenant, domain, false)?;
            rows::domain(tx, &domain.name)
        })
    }

    fn mark_domain_verified(&mut self, domain: &DomainName) -> Result<AcceptedDomain, StoreError> {
        self.mutate("verifying a domain", |tx| {
            rows::domain(tx, domain)?;
            tx.execute("UPDATE domains SET verified = 1 WHERE name = ?1", [domain.as_str()])
                .during("verifying a domain")?;
            rows::domain(tx, domain)
        })
    }

    fn list_domains(&self, tenant: Option<&TenantId>) -> Result<Vec<AcceptedDomain>, StoreError> {
        rows::domains(&self.conn, tenant, None)
    }

    fn remove_domain(&mut self, domain: &DomainName) -> Result<(), StoreError> {
        self.mutate("removing a domain", |tx| {
            let existing = rows::domain(tx, domain)?;
            if existing.service {
                return Err(DirectoryError::invalid(
                    "domain.name",
                    domain.as_str(),
                    format!("the initial service domain of tenant {} cannot be removed", existing.tenant),
                )
                .into());
            }
            tx.execute("DELETE FROM domains WHERE name = ?1", [domain.as_str()])
                .during("removing a domain")?;
            Ok(())
        })
    }

    fn add_recipient(&mut self, recipient: &Recipient) -> Result<(), StoreError> {
        self.mutate("adding a recipient", |tx| insert_recipient(tx, recipient))
    }

    fn list_recipients(&self, tenant: &TenantId) -> Result<Vec<Recipient>, StoreError> {
        rows::tenant(&self.conn, tenant)?;
        rows::recipients(&self.conn, Some(tenant))
    }

    fn remove_recipient(&mut self, local_part: &str, domain: &DomainName) -> Result<(), StoreError> {
        let local = local_part.to_lowercase();
        self.mutate("removing a recipient", |tx| {
            let id = rows::recipient_id(tx, &local, domain)?
                .ok_or_else(|| DirectoryError::UnknownRecipient { address: format!("{local}@{domain}") })?;
            tx.execute("DELETE FROM recipients WHERE id = ?1", [id]).during("removing a recipient")?;
            Ok(())
        })
    }

    fn add_connector(&mut self, connector: &Connector) -> Result<(), StoreError> {
        self.mutate("adding a connector", |tx| insert_connector(tx, connector))
    }

    fn list_connectors(&self, tenant: Option<&TenantId>) -> Result<Vec<Connector>, StoreError> {
        rows::connectors(&self.conn, tenant, None)
    }

    fn connector(&self, tenant: &TenantId, name: &str) -> Result<Connector, StoreError> {
        rows::connectors(&self.conn, Some(tenant), Some(name))?.into_iter().next().ok_or_else(|| {
            DirectoryError::UnknownConnector { tenant: tenant.clone(), name: name.to_string() }.into()
        })
    }

    fn set_connector_enabled(
        &mut self,
        tenant: &TenantId,
        name: &str,
        enabled: bool,
    ) -> Result<Connector, StoreError> {
        self.mutate("enabling or disabling a connector", |tx| {
            let id = rows::connector_id(tx, tenant, name)?;
            tx.execute("UPDATE connectors SET enabled = ?1 WHERE id = ?2", params![enabled, id])
                .during("enabling or disabling a connector")?;
            rows::connectors(tx, Some(tenant), Some(name))?.into_iter().next().ok_or_else(|| {
                DirectoryError::UnknownConnector { tenant: tenant.clone(), name: name.to_string() }.into()
            })
        })
    }

    fn remove_connector(&mut self, tenant: &TenantId, name: &str) -> Result<(), StoreError> {
        self.mutate("removing a connector", |tx| {
            let id = rows::connector_id(tx, tenant, name)?;
            tx.execute("DELETE FROM connectors WHERE id = ?1", [id]).during("removing a connector")?;
            Ok(())
        })
    }

    fn add_outbound_connector(&mut self, connector: &OutboundConnector) -> Result<(), StoreError> {
        self.mutate("adding an outbound connector", |tx| outbound_rows::insert(tx, connector))
    }

    fn list_outbound_connectors(
        &self,
        tenant: Option<&TenantId>,
    ) -> Result<Vec<OutboundConnector>, StoreError> {
        outbound_rows::read(&self.conn, tenant, None)
    }

    fn outbound_connector(&self, tenant: &TenantId, name: &str) -> Result<OutboundConnector, StoreError> {
        outbound_rows::one(&self.conn, tenant, name)
    }

    fn set_outbound_connector_enabled(
        &mut self,
        tenant: &TenantId,
        name: &str,
        enabled: bool,
    ) -> Result<OutboundConnector, StoreError> {
        const OP: &str = "enabling or disabling an outbound connector";
        self.mutate(OP, |tx| {
            let id = outbound_rows::id(tx, tenant, name)?;
            tx.execute("UPDATE outbound_connectors SET enabled = ?1 WHERE id = ?2", params![enabled, id])
                .during(OP)?;
            outbound_rows::one(tx, tenant, name)
        })
    }

    fn remove_outbound_connector(&mut self, tenant: &TenantId, name: &str) -> Result<(), StoreError> {
        const OP: &str = "removing an outbound connector";
        self.mutate(OP, |tx| {
            let id = outbound_rows::id(tx, tenant, name)?;
            tx.execute("DELETE FROM outbound_connectors WHERE id = ?1", [id]).during(OP)?;
            Ok(())
        })
    }

    fn set_reputation(&mut self, entry: &ReputationEntry) -> Result<(), StoreError> {
        self.mutate("changing the reputation list", |tx| {
            tx.execute(
                "INSERT INTO reputation (cidr, kind, note) VALUES (?1, ?2, ?3)
                 ON CONFLICT (cidr) DO UPDATE SET kind = excluded.kind, note = excluded.note",
                params![entry.cidr.to_string(), rows::reputation_kind_text(entry.kind), entry.note],
            )
            .during("changing the reputation list")?;
            Ok(())
        })
    }

    fn remove_reputation(&mut self, cidr: &Cidr) -> Result<(), StoreError> {
        self.mutate("changing the reputation list", |tx| {
            let removed = tx
                .execute("DELETE FROM reputation WHERE cidr = ?1", [cidr.to_string()])
                .during("changing the reputation list")?;
            match removed {
                0 => Err(DirectoryError::UnknownReputationEntry { cidr: cidr.to_string() }.into()),
                _ => Ok(()),
            }
        })
    }

    fn list_reputation(&self) -> Result<Vec<ReputationEntry>, StoreError> {
        rows::reputation(&self.conn)
    }
}
