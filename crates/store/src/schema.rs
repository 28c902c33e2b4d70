//! The SQLite schemas as ordered lists of migrations (PostgreSQL's are in `pg_schema.rs`,
//! version for version the same tables), and applying them. A version table holds how many
//! have been applied; a migration is never edited once released, only new ones appended,
//! to both lists at once.

use crate::sql::{Backend, BackendError, Doing, Failed, Lock, Tx, scalar, vals};

/// The schema of a database is newer than this program.
#[derive(Debug, thiserror::Error)]
#[error("the {what} schema is at version {found}, newer than the {known} this program knows; upgrade Sluice")]
pub struct SchemaTooNew {
    pub what: &'static str,
    pub found: i64,
    pub known: usize,
}

/// The schema of a database is older than this program and migrating at start is off.
#[derive(Debug, thiserror::Error)]
#[error(
    "the {what} schema is at version {found}, older than the {known} this program needs; run `sluice migrate`"
)]
pub struct SchemaBehind {
    pub what: &'static str,
    pub found: i64,
    pub known: usize,
}

/// Whether opening a store may change its schema.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Migrate {
    /// Apply the migrations the database lacks (the embedded default; `sluice migrate`).
    #[default]
    Apply,
    /// Only check: a schema behind this program is an error naming `sluice migrate`.
    Check,
}

/// One schema: what it is called in messages, its version table and its migrations.
#[derive(Clone, Copy, Debug)]
pub struct Schema {
    pub what: &'static str,
    pub table: &'static str,
    pub migrations: &'static [&'static str],
}

/// The versions before and after opening.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Migrated {
    pub from: i64,
    pub to: i64,
}

/// Brings `schema` up to date (or checks it) in one writer transaction: concurrent starts
/// of several nodes apply each migration once.
pub(crate) fn migrate<B: Backend>(db: &B, schema: Schema, mode: Migrate) -> Result<Migrated, Failed> {
    let op = match mode {
        Migrate::Apply => format!("migrating the {} schema", schema.what),
        Migrate::Check => format!("checking the {} schema", schema.what),
    };
    let known = schema.migrations.len();
    let latest = i64::try_from(known).unwrap_or(i64::MAX);
    db.run(&op, Tx::Write(Lock::Schema), |sql| {
        let create = format!("CREATE TABLE IF NOT EXISTS {} (version INTEGER NOT NULL)", schema.table);
        sql.batch(&create).doing(&op)?;
        let found: Option<i64> =
            scalar(sql, &op, &format!("SELECT max(version) FROM {}", schema.table), vals![])?;
        let found = found.unwrap_or(0);
        let applied = usize::try_from(found).unwrap_or(usize::MAX);
        if applied > known {
            return Err(Failed::backend(
                op.clone(),
                Box::new(SchemaTooNew { what: schema.what, found, known }),
            ));
        }
        if applied < known && mode == Migrate::Check {
            return Err(Failed::backend(
                op.clone(),
                Box::new(SchemaBehind { what: schema.what, found, known }),
            ));
        }
        for migration in &schema.migrations[applied..] {
            sql.batch(migration).doing(&op)?;
        }
        sql.execute(&format!("DELETE FROM {}", schema.table), vals![]).doing(&op)?;
        sql.execute(&format!("INSERT INTO {} (version) VALUES (?1)", schema.table), vals![latest])
            .doing(&op)?;
        Ok(Migrated { from: found, to: latest })
    })
}

/// The version of `schema` in the database, without changing anything.
pub(crate) fn version<B: Backend>(db: &B, schema: Schema) -> Result<i64, Failed> {
    let op = format!("reading the {} schema version", schema.what);
    let sql = format!("SELECT version FROM {}", schema.table);
    db.run(&op, Tx::None, |db| scalar(db, &op, &sql, vals![]))
}

/// The directory (`sluice.db`).
pub(crate) const DIRECTORY: Schema =
    Schema { what: "directory", table: "schema_version", migrations: DIRECTORY_MIGRATIONS };

/// The message trace (`trace.db`).
pub(crate) const TRACE: Schema =
    Schema { what: "trace", table: "schema_version", migrations: TRACE_MIGRATIONS };

/// Migration `i` takes the schema from version `i` to `i + 1`.
const DIRECTORY_MIGRATIONS: &[&str] = &[
    // 1: the directory.
    r"
    CREATE TABLE generation (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        value INTEGER NOT NULL
    ) STRICT;
    INSERT INTO generation (id, value) VALUES (1, 0);

    CREATE TABLE tenants (
        id TEXT PRIMARY KEY,
        display_name TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('active', 'suspended')),
        language TEXT NOT NULL
    ) STRICT;

    CREATE TABLE domains (
        name TEXT PRIMARY KEY,
        tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
        kind TEXT NOT NULL CHECK (kind IN ('authoritative', 'internal-relay')),
        match_subdomains INTEGER NOT NULL,
        token TEXT NOT NULL,
        verified INTEGER NOT NULL,
        service INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX domains_by_tenant ON domains (tenant_id);

    -- accepted_domain is the domains row the address falls under (its own domain, or a
    -- parent matching sub-domains): removing that domain removes its recipients.
    CREATE TABLE recipients (
        id INTEGER PRIMARY KEY,
        tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
        accepted_domain TEXT NOT NULL REFERENCES domains (name) ON DELETE CASCADE,
        domain TEXT NOT NULL,
        local_part TEXT NOT NULL,
        target_kind TEXT NOT NULL CHECK (target_kind IN ('maildir', 'smtp', 'lmtp')),
        target_host TEXT,
        target_port INTEGER,
        UNIQUE (domain, local_part)
    ) STRICT;
    CREATE INDEX recipients_by_tenant ON recipients (tenant_id);
    CREATE INDEX recipients_by_accepted_domain ON recipients (accepted_domain);

    CREATE TABLE recipient_aliases (
        recipient_id INTEGER NOT NULL REFERENCES recipients (id) ON DELETE CASCADE,
        domain TEXT NOT NULL,
        local_part TEXT NOT NULL,
        PRIMARY KEY (domain, local_part)
    ) STRICT;
    CREATE INDEX recipient_aliases_by_recipient ON recipient_aliases (recipient_id);

    CREATE TABLE connectors (
        id INTEGER PRIMARY KEY,
        tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
        -- NOCASE: `Partner` and `partner` would be two connectors no admin can tell apart.
        name TEXT NOT NULL COLLATE NOCASE,
        enabled INTEGER NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('partner', 'on-premises')),
        restrict_sender_domains INTEGER NOT NULL,
        require_tls INTEGER NOT NULL,
        UNIQUE (tenant_id, name)
    ) STRICT;

    CREATE TABLE connector_ip_ranges (
        connector_id INTEGER NOT NULL REFERENCES connectors (id) ON DELETE CASCADE,
        position INTEGER NOT NULL,
        cidr TEXT NOT NULL,
        PRIMARY KEY (connector_id, position)
    ) STRICT;
    CREATE TABLE connector_certificate_names (
        connector_id INTEGER NOT NULL REFERENCES connectors (id) ON DELETE CASCADE,
        position INTEGER NOT NULL,
        name TEXT NOT NULL,
        PRIMARY KEY (connector_id, position)
    ) STRICT;
    CREATE TABLE connector_sender_domains (
        connector_id INTEGER NOT NULL REFERENCES connectors (id) ON DELETE CASCADE,
        position INTEGER NOT NULL,
        domain TEXT NOT NULL,
        PRIMARY KEY (connector_id, position)
    ) STRICT;

    CREATE TABLE reputation (
        cidr TEXT PRIMARY KEY,
        kind TEXT NOT NULL CHECK (kind IN ('block', 'exception')),
        note TEXT NOT NULL
    ) STRICT;
    ",
    // 2: outbound blocks (5.7.705) and their releases: who released and why stays on record.
    r"
    CREATE TABLE outbound_blocks (
        id INTEGER PRIMARY KEY,
        tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
        blocked_at INTEGER NOT NULL,
        reason TEXT NOT NULL,
        released_at INTEGER,
        released_by TEXT,
        release_reason TEXT
    ) STRICT;
    -- At most one block in force per tenant.
    CREATE UNIQUE INDEX outbound_blocks_in_force ON outbound_blocks (tenant_id) WHERE released_at IS NULL;
    ",
    // 3: outbound connectors. Their names share the inbound connectors' namespace per
    // tenant; no constraint can span two tables, so the immediate transaction checks it.
    r"
    CREATE TABLE outbound_connectors (
        id INTEGER PRIMARY KEY,
        tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
        name TEXT NOT NULL COLLATE NOCASE,
        enabled INTEGER NOT NULL,
        route TEXT NOT NULL CHECK (route IN ('smart-hosts', 'mx')),
        tls_mode TEXT NOT NULL
            CHECK (tls_mode IN ('opportunistic', 'required', 'verify-certificate', 'verify-domain')),
        -- The domain a verify-domain certificate must be valid for; NULL for other modes.
        tls_domain TEXT CHECK ((tls_mode = 'verify-domain') = (tls_domain IS NOT NULL)),
        UNIQUE (tenant_id, name)
    ) STRICT;

    CREATE TABLE outbound_connector_domains (
        connector_id INTEGER NOT NULL REFERENCES outbound_connectors (id) ON DELETE CASCADE,
        position INTEGER NOT NULL,
        domain TEXT NOT NULL,
        PRIMARY KEY (connector_id, position)
    ) STRICT;

    CREATE TABLE outbound_connector_smart_hosts (
        connector_id INTEGER NOT NULL REFERENCES outbound_connectors (id) ON DELETE CASCADE,
        position INTEGER NOT NULL,
        host TEXT NOT NULL,
        port INTEGER NOT NULL CHECK (port BETWEEN 1 AND 65535),
        PRIMARY KEY (connector_id, position)
    ) STRICT;
    ",
    // 4: the admin plane's records. No foreign keys to tenants: the audit log and requests
    // outlive what they are about.
    r"
    CREATE TABLE tokens (
        id TEXT PRIMARY KEY,
        hash TEXT NOT NULL,
        role TEXT NOT NULL CHECK (role IN ('operator', 'support', 'tenant-admin', 'tenant-reader')),
        tenant_id TEXT,
        note TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        created_by TEXT NOT NULL,
        expires_at INTEGER,
        revoked_at INTEGER
    ) STRICT;

    CREATE TABLE audit (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        at INTEGER NOT NULL,
        actor TEXT NOT NULL,
        tenant_id TEXT,
        action TEXT NOT NULL,
        object TEXT NOT NULL,
        before TEXT,
        after TEXT,
        source TEXT NOT NULL
    ) STRICT;
    CREATE INDEX audit_by_tenant ON audit (tenant_id, id);

    CREATE TABLE requests (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        tenant_id TEXT NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('reputation-exception', 'outbound-release')),
        cidr TEXT CHECK ((kind = 'reputation-exception') = (cidr IS NOT NULL)),
        justification TEXT NOT NULL,
        requested_by TEXT NOT NULL,
        requested_at INTEGER NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'denied')),
        decided_by TEXT,
        decided_at INTEGER,
        note TEXT
    ) STRICT;
    CREATE INDEX requests_by_tenant ON requests (tenant_id, id);
    ",
    // 5: who created and last changed each connector, when and why (0 and '' for connectors
    // made before this migration); reputation entries that expire; pending claims of a
    // domain name by further tenants (`domains` holds the first claim or the verified
    // owner, so a pending claim never blocks the real owner: the first to verify wins).
    r"
    ALTER TABLE connectors ADD COLUMN created_at INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE connectors ADD COLUMN created_by TEXT NOT NULL DEFAULT '';
    ALTER TABLE connectors ADD COLUMN changed_at INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE connectors ADD COLUMN changed_by TEXT NOT NULL DEFAULT '';
    ALTER TABLE connectors ADD COLUMN change_note TEXT NOT NULL DEFAULT '';
    ALTER TABLE outbound_connectors ADD COLUMN created_at INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE outbound_connectors ADD COLUMN created_by TEXT NOT NULL DEFAULT '';
    ALTER TABLE outbound_connectors ADD COLUMN changed_at INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE outbound_connectors ADD COLUMN changed_by TEXT NOT NULL DEFAULT '';
    ALTER TABLE outbound_connectors ADD COLUMN change_note TEXT NOT NULL DEFAULT '';

    ALTER TABLE reputation ADD COLUMN expires_at INTEGER;

    CREATE TABLE domain_claims (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL,
        tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
        kind TEXT NOT NULL CHECK (kind IN ('authoritative', 'internal-relay')),
        match_subdomains INTEGER NOT NULL,
        token TEXT NOT NULL,
        UNIQUE (name, tenant_id)
    ) STRICT;
    CREATE INDEX domain_claims_by_tenant ON domain_claims (tenant_id);
    ",
];

/// The trace's own file.
const TRACE_MIGRATIONS: &[&str] = &[
    // 1: the trace.
    r"
    CREATE TABLE messages (
        id INTEGER PRIMARY KEY,
        spool_id TEXT NOT NULL UNIQUE,
        received_at INTEGER NOT NULL,
        client_ip TEXT NOT NULL,
        direction TEXT NOT NULL CHECK (direction IN ('inbound', 'outbound')),
        sender TEXT NOT NULL COLLATE NOCASE,
        message_id TEXT COLLATE NOCASE,
        status TEXT NOT NULL,
        received TEXT NOT NULL
    ) STRICT;
    CREATE INDEX messages_by_time ON messages (received_at, id);
    CREATE INDEX messages_by_sender ON messages (sender);
    CREATE INDEX messages_by_message_id ON messages (message_id);
    CREATE INDEX messages_by_ip ON messages (client_ip, received_at);

    CREATE TABLE message_tenants (
        message INTEGER NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
        tenant_id TEXT NOT NULL,
        PRIMARY KEY (tenant_id, message)
    ) STRICT;
    CREATE INDEX message_tenants_by_message ON message_tenants (message);

    CREATE TABLE message_recipients (
        message INTEGER NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
        position INTEGER NOT NULL,
        address TEXT NOT NULL COLLATE NOCASE,
        status TEXT NOT NULL,
        PRIMARY KEY (message, position)
    ) STRICT;
    CREATE INDEX recipients_by_address ON message_recipients (address);

    CREATE TABLE steps (
        id INTEGER PRIMARY KEY,
        message INTEGER NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
        at INTEGER NOT NULL,
        recipient TEXT NOT NULL,
        outcome TEXT NOT NULL
    ) STRICT;
    CREATE INDEX steps_by_message ON steps (message, at, id);

    CREATE TABLE refusals (
        id INTEGER PRIMARY KEY,
        minute INTEGER NOT NULL,
        client_ip TEXT NOT NULL,
        sender TEXT NOT NULL,
        recipient_domain TEXT NOT NULL,
        reply TEXT NOT NULL,
        tenant_id TEXT,
        direction TEXT NOT NULL,
        count INTEGER NOT NULL,
        first_at INTEGER NOT NULL,
        last_at INTEGER NOT NULL,
        UNIQUE (minute, client_ip, sender, recipient_domain, reply)
    ) STRICT;
    CREATE INDEX refusals_by_time ON refusals (minute, id);
    CREATE INDEX refusals_by_tenant ON refusals (tenant_id, minute);
    CREATE INDEX refusals_by_ip ON refusals (client_ip, minute);
",
    // 2: what flow and client counts read without parsing JSON (whether a message came
    // over TLS, each step's kind; filled in for the rows already there), steps by time.
    r"
    ALTER TABLE messages ADD COLUMN tls INTEGER NOT NULL DEFAULT 0;
    UPDATE messages SET tls = json_extract(received, '$.tls') IS NOT NULL;
    ALTER TABLE steps ADD COLUMN kind TEXT NOT NULL DEFAULT '';
    UPDATE steps SET kind = coalesce(json_extract(outcome, '$.kind'), '');
    CREATE INDEX steps_by_time ON steps (at);
",
];
