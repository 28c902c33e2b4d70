//! The schema as an ordered list of migrations. `schema_version` holds how many have been
//! applied; a migration is never edited once released, only new ones appended.

/// Migration `i` takes the schema from version `i` to `i + 1`.
pub(crate) const MIGRATIONS: &[&str] = &[
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
];
