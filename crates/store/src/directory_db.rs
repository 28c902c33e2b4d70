//! [`DirectoryStore`] once for both backends: every mutation is one writer transaction
//! ([`Lock::Directory`]) that checks its rules, writes, and bumps `generation` before
//! committing.

use directory::{
    AcceptedDomain, Cidr, Connector, DirectoryData, DirectoryError, DirectoryStore, DomainKind, DomainName,
    NewDomain, NewTenant, OutboundBlock, OutboundConnector, OutboundRelease, Recipient, ReputationEntry,
    StoreError, Tenant, TenantId, TenantStatus, check_domain_claim, check_domain_verification,
    check_not_reserved, recipient_domain,
};

use crate::Store;
use crate::outbound_rows;
use crate::rows;
use crate::sql::{Backend, Doing, Lock, Sql, Tx, Value, scalar, to_i64, vals};

impl<B: Backend> Store<B> {
    /// Runs `change` in a directory writer transaction, bumps the generation and commits.
    fn mutate<T>(
        &mut self,
        operation: &str,
        mut change: impl FnMut(&mut dyn Sql) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.db.run(operation, Tx::Write(Lock::Directory), |db| {
            let out = change(db)?;
            db.execute("UPDATE generation SET value = value + 1 WHERE id = 1", vals![]).doing(operation)?;
            Ok(out)
        })
    }

    /// Runs a read of one statement (or several that need not agree).
    fn read<T>(
        &self,
        operation: &str,
        read: impl FnMut(&mut dyn Sql) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.db.run(operation, Tx::None, read)
    }
}

/// 128 random bits from the OS, as 32 hex digits: a domain's verification token.
fn verification_token() -> Result<String, StoreError> {
    let mut bytes = [0_u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| StoreError::Backend {
        operation: "drawing a verification token".into(),
        cause: Box::new(std::io::Error::other(e.to_string())),
    })?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Adds `tenant`'s claim on `new`: the `domains` row when nobody else claims the name, else
/// a row of `domain_claims` (another tenant's pending claim blocks no one).
fn insert_domain(
    db: &mut dyn Sql,
    tenant: &TenantId,
    new: &NewDomain,
    service: bool,
) -> Result<(), StoreError> {
    const OP: &str = "adding a domain";
    check_domain_claim(&rows::domains_and_claims(db, None)?, tenant, new)?;
    let first = rows::domains(db, None, Some(&new.name))?.is_empty();
    if service && !first {
        // Verified from birth: it takes the name from another tenant's pending claim.
        insert_domain(db, tenant, new, false)?;
        let (id, claim) = rows::claims(db, Some(tenant), Some(&new.name))?
            .into_iter()
            .next()
            .ok_or_else(|| DirectoryError::UnknownDomain { domain: new.name.to_string() })?;
        return take_domain_row(db, id, &claim, true, true);
    }
    let kind = rows::domain_kind_text(new.kind);
    let token = verification_token()?;
    if first {
        db.execute(
            "INSERT INTO domains (name, tenant_id, kind, match_subdomains, token, verified, service)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
            vals![new.name.as_str(), tenant.as_str(), kind, new.match_subdomains, token, service],
        )
    } else {
        db.execute(
            "INSERT INTO domain_claims (name, tenant_id, kind, match_subdomains, token)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            vals![new.name.as_str(), tenant.as_str(), kind, new.match_subdomains, token],
        )
    }
    .doing(OP)?;
    Ok(())
}

/// The `domains` row of `name` becomes `claim` (verified or not); the row it replaces, if
/// any, becomes a claim of its tenant (its recipients go with the row).
fn take_domain_row(
    db: &mut dyn Sql,
    claim_id: i64,
    claim: &AcceptedDomain,
    verified: bool,
    service: bool,
) -> Result<(), StoreError> {
    const OP: &str = "handing a domain to its verified owner";
    if let Some(previous) = rows::domains(db, None, Some(&claim.name))?.into_iter().next() {
        db.execute("DELETE FROM domains WHERE name = ?1", vals![previous.name.as_str()]).doing(OP)?;
        db.execute(
            "INSERT INTO domain_claims (name, tenant_id, kind, match_subdomains, token) VALUES (?1, ?2, ?3, ?4, ?5)",
            vals![
                previous.name.as_str(),
                previous.tenant.as_str(),
                rows::domain_kind_text(previous.kind),
                previous.match_subdomains,
                &previous.token
            ],
        )
        .doing(OP)?;
    }
    db.execute("DELETE FROM domain_claims WHERE id = ?1", vals![claim_id]).doing(OP)?;
    db.execute(
        "INSERT INTO domains (name, tenant_id, kind, match_subdomains, token, verified, service)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        vals![
            claim.name.as_str(),
            claim.tenant.as_str(),
            rows::domain_kind_text(claim.kind),
            claim.match_subdomains,
            &claim.token,
            verified,
            service
        ],
    )
    .doing(OP)?;
    Ok(())
}

/// `tenant`'s domain or pending claim called `name`.
fn own_domain(db: &mut dyn Sql, tenant: &TenantId, name: &DomainName) -> Result<AcceptedDomain, StoreError> {
    rows::domains_and_claims(db, Some(tenant))?
        .into_iter()
        .find(|d| d.name == *name)
        .ok_or_else(|| DirectoryError::UnknownDomain { domain: name.to_string() }.into())
}

fn insert_recipient(db: &mut dyn Sql, recipient: &Recipient) -> Result<(), StoreError> {
    const OP: &str = "adding a recipient";
    rows::tenant(db, &recipient.tenant)?;
    let domains = rows::domains(db, Some(&recipient.tenant), None)?;
    let accepted = recipient_domain(&domains, recipient)?;
    for local in std::iter::once(&recipient.local_part).chain(&recipient.aliases) {
        if rows::address_taken(db, local, &recipient.domain)? {
            return Err(DirectoryError::DuplicateRecipient {
                address: format!("{local}@{}", recipient.domain),
            }
            .into());
        }
    }
    let (kind, host, port) = rows::target_columns(&recipient.target);
    let id: i64 = scalar(
        db,
        OP,
        "INSERT INTO recipients (tenant_id, accepted_domain, domain, local_part, target_kind, target_host, target_port)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) RETURNING id",
        vals![
            recipient.tenant.as_str(),
            accepted.name.as_str(),
            recipient.domain.as_str(),
            &recipient.local_part,
            kind,
            host,
            port
        ],
    )?;
    for alias in &recipient.aliases {
        db.execute(
            "INSERT INTO recipient_aliases (recipient_id, domain, local_part) VALUES (?1, ?2, ?3)",
            vals![id, recipient.domain.as_str(), alias],
        )
        .doing(OP)?;
    }
    Ok(())
}

fn insert_connector(db: &mut dyn Sql, c: &Connector) -> Result<(), StoreError> {
    const OP: &str = "adding a connector";
    c.validate()?;
    outbound_rows::check_new(db, &c.tenant, &c.name)?;
    let [created_at, created_by, changed_at, changed_by, change_note] = rows::change_values(&c.record);
    let id: i64 = scalar(
        db,
        OP,
        &format!(
            "INSERT INTO connectors (tenant_id, name, enabled, kind, restrict_sender_domains, require_tls, {})
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) RETURNING id",
            rows::CHANGE_COLUMNS
        ),
        &[
            Value::from(c.tenant.as_str()),
            Value::from(&c.name),
            Value::from(c.enabled),
            Value::from(rows::connector_kind_text(c.kind)),
            Value::from(c.restrict_sender_domains),
            Value::from(c.require_tls),
            created_at,
            created_by,
            changed_at,
            changed_by,
            change_note,
        ],
    )?;
    insert_connector_lists(db, id, c, OP)
}

/// The connector's ordered lists: (table, column, values).
fn connector_lists(c: &Connector) -> [(&'static str, &'static str, Vec<String>); 3] {
    [
        ("connector_ip_ranges", "cidr", c.ip_ranges.iter().map(Cidr::to_string).collect()),
        (
            "connector_certificate_names",
            "name",
            c.certificate_names.iter().map(ToString::to_string).collect(),
        ),
        ("connector_sender_domains", "domain", c.sender_domains.iter().map(ToString::to_string).collect()),
    ]
}

fn insert_connector_lists(db: &mut dyn Sql, id: i64, c: &Connector, op: &str) -> Result<(), StoreError> {
    for (table, column, values) in connector_lists(c) {
        // Table and column are the fixed names of `connector_lists`.
        let sql = format!(
            "INSERT INTO {table} (connector_id, position, {column}) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING"
        );
        for (position, value) in (0_i64..).zip(&values) {
            db.execute(&sql, vals![id, position, value]).doing(op)?;
        }
    }
    Ok(())
}

/// Replaces a connector's settings, lists and change record (its creation stays).
fn update_connector(db: &mut dyn Sql, c: &Connector) -> Result<(), StoreError> {
    const OP: &str = "changing a connector";
    c.validate()?;
    let id = rows::connector_id(db, &c.tenant, &c.name)?;
    db.execute(
        "UPDATE connectors SET enabled = ?1, kind = ?2, restrict_sender_domains = ?3, require_tls = ?4,
             changed_at = ?5, changed_by = ?6, change_note = ?7 WHERE id = ?8",
        vals![
            c.enabled,
            rows::connector_kind_text(c.kind),
            c.restrict_sender_domains,
            c.require_tls,
            to_i64(c.record.changed_at_unix_s),
            &c.record.changed_by,
            &c.record.change_note,
            id
        ],
    )
    .doing(OP)?;
    for (table, _, _) in connector_lists(c) {
        db.execute(&format!("DELETE FROM {table} WHERE connector_id = ?1"), vals![id]).doing(OP)?;
    }
    insert_connector_lists(db, id, c, OP)
}

/// Who releases and why, checked before any transaction.
fn check_release_texts(released_by: &str, reason: &str) -> Result<(), StoreError> {
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
    Ok(())
}

impl<B: Backend> DirectoryStore for Store<B> {
    fn load(&self) -> Result<DirectoryData, StoreError> {
        // One read transaction: a consistent view even while another process writes.
        self.db.run("loading the directory", Tx::Read, |db| {
            Ok(DirectoryData {
                generation: rows::generation(db)?,
                tenants: rows::tenants(db, None)?,
                domains: rows::domains(db, None, None)?,
                recipients: rows::recipients(db, None)?,
                connectors: rows::connectors(db, None, None)?,
                reputation: rows::reputation(db)?,
                outbound_blocks: rows::outbound_blocks(db, None)?,
                outbound_connectors: outbound_rows::read(db, None, None)?,
            })
        })
    }

    fn generation(&self) -> Result<u64, StoreError> {
        self.db.still_open()?;
        self.read("reading the generation", rows::generation)
    }

    fn add_tenant(&mut self, tenant: &NewTenant, service_domain: &DomainName) -> Result<Tenant, StoreError> {
        let service = NewDomain {
            name: tenant.id.service_domain(service_domain)?,
            kind: DomainKind::Authoritative,
            match_subdomains: false,
        };
        self.mutate("adding a tenant", |db| {
            if !rows::tenants(db, Some(&tenant.id))?.is_empty() {
                return Err(DirectoryError::DuplicateTenant { id: tenant.id.clone() }.into());
            }
            db.execute(
                "INSERT INTO tenants (id, display_name, status, language) VALUES (?1, ?2, 'active', ?3)",
                vals![tenant.id.as_str(), &tenant.display_name, &tenant.language],
            )
            .doing("adding a tenant")?;
            insert_domain(db, &tenant.id, &service, true)?;
            rows::tenant(db, &tenant.id)
        })
    }

    fn list_tenants(&self) -> Result<Vec<Tenant>, StoreError> {
        self.read("reading tenants", |db| rows::tenants(db, None))
    }

    fn set_tenant_status(&mut self, id: &TenantId, status: TenantStatus) -> Result<Tenant, StoreError> {
        self.mutate("changing a tenant's status", |db| {
            rows::tenant(db, id)?;
            db.execute(
                "UPDATE tenants SET status = ?1 WHERE id = ?2",
                vals![rows::status_text(status), id.as_str()],
            )
            .doing("changing a tenant's status")?;
            rows::tenant(db, id)
        })
    }

    fn block_outbound(&mut self, block: &OutboundBlock) -> Result<OutboundBlock, StoreError> {
        const OP: &str = "blocking a tenant's outbound mail";
        self.mutate(OP, |db| {
            rows::tenant(db, &block.tenant)?;
            db.execute(
                "INSERT INTO outbound_blocks (tenant_id, blocked_at, reason) VALUES (?1, ?2, ?3)
                 ON CONFLICT (tenant_id) WHERE released_at IS NULL DO NOTHING",
                vals![block.tenant.as_str(), to_i64(block.blocked_at_unix_s), &block.reason],
            )
            .doing(OP)?;
            rows::outbound_blocks(db, Some(&block.tenant))?
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
        check_release_texts(released_by, reason)?;
        self.mutate(OP, |db| {
            rows::tenant(db, tenant)?;
            let changed = db
                .execute(
                    "UPDATE outbound_blocks SET released_at = ?2, released_by = ?3, release_reason = ?4
                     WHERE tenant_id = ?1 AND released_at IS NULL",
                    vals![tenant.as_str(), to_i64(now_unix_s), released_by.trim(), reason.trim()],
                )
                .doing(OP)?;
            if changed == 0 {
                return Err(DirectoryError::NotBlocked { tenant: tenant.clone() }.into());
            }
            rows::outbound_releases(db, tenant)?
                .into_iter()
                .next()
                .ok_or_else(|| DirectoryError::NotBlocked { tenant: tenant.clone() }.into())
        })
    }

    fn outbound_releases(&self, tenant: &TenantId) -> Result<Vec<OutboundRelease>, StoreError> {
        self.read("reading outbound releases", |db| rows::outbound_releases(db, tenant))
    }

    fn add_domain(&mut self, tenant: &TenantId, domain: &NewDomain) -> Result<AcceptedDomain, StoreError> {
        self.mutate("adding a domain", |db| {
            rows::tenant(db, tenant)?;
            check_not_reserved(&rows::domains(db, None, None)?, domain)?;
            insert_domain(db, tenant, domain, false)?;
            own_domain(db, tenant, &domain.name)
        })
    }

    fn mark_domain_verified(
        &mut self,
        tenant: &TenantId,
        domain: &DomainName,
    ) -> Result<AcceptedDomain, StoreError> {
        const OP: &str = "verifying a domain";
        self.mutate(OP, |db| {
            check_domain_verification(&rows::domains_and_claims(db, None)?, tenant, domain)?;
            match rows::claims(db, Some(tenant), Some(domain))?.into_iter().next() {
                Some((id, claim)) => take_domain_row(db, id, &claim, true, false)?,
                None => {
                    db.execute(
                        "UPDATE domains SET verified = ?3 WHERE name = ?1 AND tenant_id = ?2",
                        vals![domain.as_str(), tenant.as_str(), true],
                    )
                    .doing(OP)?;
                }
            }
            own_domain(db, tenant, domain)
        })
    }

    fn list_domains(&self, tenant: Option<&TenantId>) -> Result<Vec<AcceptedDomain>, StoreError> {
        self.db.run("reading domains", Tx::Read, |db| rows::domains_and_claims(db, tenant))
    }

    fn remove_domain(&mut self, tenant: &TenantId, domain: &DomainName) -> Result<(), StoreError> {
        const OP: &str = "removing a domain";
        self.mutate(OP, |db| {
            let existing = own_domain(db, tenant, domain)?;
            if existing.service {
                return Err(DirectoryError::invalid(
                    "domain.name",
                    domain.as_str(),
                    format!("the initial service domain of tenant {} cannot be removed", existing.tenant),
                )
                .into());
            }
            let removed = db
                .execute(
                    "DELETE FROM domains WHERE name = ?1 AND tenant_id = ?2",
                    vals![domain.as_str(), tenant.as_str()],
                )
                .doing(OP)?;
            db.execute(
                "DELETE FROM domain_claims WHERE name = ?1 AND tenant_id = ?2",
                vals![domain.as_str(), tenant.as_str()],
            )
            .doing(OP)?;
            // The oldest other claim of the name takes the row it left.
            if removed > 0
                && let Some((id, next)) = rows::claims(db, None, Some(domain))?.into_iter().next()
            {
                take_domain_row(db, id, &next, false, false)?;
            }
            Ok(())
        })
    }

    fn add_recipient(&mut self, recipient: &Recipient) -> Result<(), StoreError> {
        self.mutate("adding a recipient", |db| insert_recipient(db, recipient))
    }

    fn list_recipients(&self, tenant: &TenantId) -> Result<Vec<Recipient>, StoreError> {
        self.read("reading recipients", |db| {
            rows::tenant(db, tenant)?;
            rows::recipients(db, Some(tenant))
        })
    }

    fn remove_recipient(&mut self, local_part: &str, domain: &DomainName) -> Result<(), StoreError> {
        let local = local_part.to_lowercase();
        self.mutate("removing a recipient", |db| {
            let id = rows::recipient_id(db, &local, domain)?
                .ok_or_else(|| DirectoryError::UnknownRecipient { address: format!("{local}@{domain}") })?;
            db.execute("DELETE FROM recipients WHERE id = ?1", vals![id]).doing("removing a recipient")?;
            Ok(())
        })
    }

    fn add_connector(&mut self, connector: &Connector) -> Result<(), StoreError> {
        self.mutate("adding a connector", |db| insert_connector(db, connector))
    }

    fn list_connectors(&self, tenant: Option<&TenantId>) -> Result<Vec<Connector>, StoreError> {
        self.read("reading connectors", |db| rows::connectors(db, tenant, None))
    }

    fn connector(&self, tenant: &TenantId, name: &str) -> Result<Connector, StoreError> {
        let found = self.read("reading connectors", |db| rows::connectors(db, Some(tenant), Some(name)))?;
        found.into_iter().next().ok_or_else(|| {
            DirectoryError::UnknownConnector { tenant: tenant.clone(), name: name.to_string() }.into()
        })
    }

    fn set_connector_enabled(
        &mut self,
        tenant: &TenantId,
        name: &str,
        enabled: bool,
    ) -> Result<Connector, StoreError> {
        self.mutate("enabling or disabling a connector", |db| {
            let id = rows::connector_id(db, tenant, name)?;
            db.execute("UPDATE connectors SET enabled = ?1 WHERE id = ?2", vals![enabled, id])
                .doing("enabling or disabling a connector")?;
            rows::connectors(db, Some(tenant), Some(name))?.into_iter().next().ok_or_else(|| {
                DirectoryError::UnknownConnector { tenant: tenant.clone(), name: name.to_string() }.into()
            })
        })
    }

    fn update_connector(&mut self, connector: &Connector) -> Result<Connector, StoreError> {
        self.mutate("changing a connector", |db| {
            update_connector(db, connector)?;
            rows::connectors(db, Some(&connector.tenant), Some(&connector.name))?
                .into_iter()
                .next()
                .ok_or_else(|| {
                    DirectoryError::UnknownConnector {
                        tenant: connector.tenant.clone(),
                        name: connector.name.clone(),
                    }
                    .into()
                })
        })
    }

    fn remove_connector(&mut self, tenant: &TenantId, name: &str) -> Result<(), StoreError> {
        self.mutate("removing a connector", |db| {
            let id = rows::connector_id(db, tenant, name)?;
            db.execute("DELETE FROM connectors WHERE id = ?1", vals![id]).doing("removing a connector")?;
            Ok(())
        })
    }

    fn add_outbound_connector(&mut self, connector: &OutboundConnector) -> Result<(), StoreError> {
        self.mutate("adding an outbound connector", |db| outbound_rows::insert(db, connector))
    }

    fn list_outbound_connectors(
        &self,
        tenant: Option<&TenantId>,
    ) -> Result<Vec<OutboundConnector>, StoreError> {
        self.read("reading outbound connectors", |db| outbound_rows::read(db, tenant, None))
    }

    fn outbound_connector(&self, tenant: &TenantId, name: &str) -> Result<OutboundConnector, StoreError> {
        self.read("reading outbound connectors", |db| outbound_rows::one(db, tenant, name))
    }

    fn set_outbound_connector_enabled(
        &mut self,
        tenant: &TenantId,
        name: &str,
        enabled: bool,
    ) -> Result<OutboundConnector, StoreError> {
        const OP: &str = "enabling or disabling an outbound connector";
        self.mutate(OP, |db| {
            let id = outbound_rows::id(db, tenant, name)?;
            db.execute("UPDATE outbound_connectors SET enabled = ?1 WHERE id = ?2", vals![enabled, id])
                .doing(OP)?;
            outbound_rows::one(db, tenant, name)
        })
    }

    fn update_outbound_connector(
        &mut self,
        connector: &OutboundConnector,
    ) -> Result<OutboundConnector, StoreError> {
        self.mutate("changing an outbound connector", |db| {
            outbound_rows::update(db, connector)?;
            outbound_rows::one(db, &connector.tenant, &connector.name)
        })
    }

    fn remove_outbound_connector(&mut self, tenant: &TenantId, name: &str) -> Result<(), StoreError> {
        const OP: &str = "removing an outbound connector";
        self.mutate(OP, |db| {
            let id = outbound_rows::id(db, tenant, name)?;
            db.execute("DELETE FROM outbound_connectors WHERE id = ?1", vals![id]).doing(OP)?;
            Ok(())
        })
    }

    fn set_reputation(&mut self, entry: &ReputationEntry) -> Result<(), StoreError> {
        self.mutate("changing the reputation list", |db| {
            db.execute(
                "INSERT INTO reputation (cidr, kind, note, expires_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (cidr) DO UPDATE SET kind = excluded.kind, note = excluded.note,
                     expires_at = excluded.expires_at",
                vals![
                    entry.cidr.to_string(),
                    rows::reputation_kind_text(entry.kind),
                    &entry.note,
                    entry.expires_at_unix_s.map(to_i64)
                ],
            )
            .doing("changing the reputation list")?;
            Ok(())
        })
    }

    fn remove_reputation(&mut self, cidr: &Cidr) -> Result<(), StoreError> {
        self.mutate("changing the reputation list", |db| {
            let removed = db
                .execute("DELETE FROM reputation WHERE cidr = ?1", vals![cidr.to_string()])
                .doing("changing the reputation list")?;
            match removed {
                0 => Err(DirectoryError::UnknownReputationEntry { cidr: cidr.to_string() }.into()),
                _ => Ok(()),
            }
        })
    }

    fn list_reputation(&self) -> Result<Vec<ReputationEntry>, StoreError> {
        self.read("reading the reputation list", rows::reputation)
    }

    fn remove_expired_reputation(&mut self, now_unix_s: u64) -> Result<Vec<ReputationEntry>, StoreError> {
        const OP: &str = "removing expired reputation entries";
        // Not `mutate`: this runs every round, and only a removal is a change the snapshot
        // must follow (a new generation).
        self.db.run(OP, Tx::Write(Lock::Directory), |db| {
            let expired: Vec<ReputationEntry> =
                rows::reputation(db)?.into_iter().filter(|e| !e.applies_at(now_unix_s)).collect();
            if !expired.is_empty() {
                db.execute(
                    "DELETE FROM reputation WHERE expires_at IS NOT NULL AND expires_at <= ?1",
                    vals![to_i64(now_unix_s)],
                )
                .doing(OP)?;
                db.execute("UPDATE generation SET value = value + 1 WHERE id = 1", vals![]).doing(OP)?;
            }
            Ok(expired)
        })
    }
}
