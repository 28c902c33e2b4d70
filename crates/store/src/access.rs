//! Tokens, the audit log and service requests beside the directory (SQLite: `sluice.db`,
//! migration 4; PostgreSQL: the same tables). Their changes are not directory changes: they
//! do not bump the generation, so a token or an audit entry never makes servers rebuild
//! their snapshot.

use access::{
    AUDIT_PAGE_MAX, AccessError, AuditEntry, AuditQuery, AuditStore, NewAuditEntry, NewRequest, Request,
    RequestDecision, RequestKind, RequestQuery, RequestStatus, RequestStore, Role, TokenId, TokenRecord,
    TokenStore,
};
use directory::{Cidr, TenantId};

use crate::Store;
use crate::sql::{
    Backend, BackendError as _, Doing, Lock, Sql, Tx, scalar, select, select_one, to_i64, to_u64, vals,
};

fn tenant_of(column: &'static str, text: Option<String>) -> Result<Option<TenantId>, AccessError> {
    text.map(|t| TenantId::parse(&t).map_err(|_| AccessError::corrupt(column, &t))).transpose()
}

const TOKEN_COLUMNS: &str = "id, hash, role, tenant_id, note, created_at, created_by, expires_at, revoked_at";

type TokenRow = (String, String, String, Option<String>, String, i64, String, Option<i64>, Option<i64>);

fn token_record(row: TokenRow) -> Result<TokenRecord, AccessError> {
    let (id, hash, role, tenant, note, created, created_by, expires, revoked) = row;
    Ok(TokenRecord {
        id: TokenId::parse(&id).map_err(|_| AccessError::corrupt("tokens.id", &id))?,
        hash,
        role: Role::parse(&role).map_err(|_| AccessError::corrupt("tokens.role", &role))?,
        tenant: tenant_of("tokens.tenant_id", tenant)?,
        note,
        created_at_unix_s: to_u64(created),
        created_by,
        expires_at_unix_s: expires.map(to_u64),
        revoked_at_unix_s: revoked.map(to_u64),
    })
}

fn read_token(db: &mut dyn Sql, id: &TokenId) -> Result<Option<TokenRecord>, AccessError> {
    let sql = format!("SELECT {TOKEN_COLUMNS} FROM tokens WHERE id = ?1");
    let row: Option<TokenRow> = select_one(db, "reading a token", &sql, vals![id.as_str()])?;
    row.map(token_record).transpose()
}

impl<B: Backend> TokenStore for Store<B> {
    fn insert_token(&mut self, t: &TokenRecord) -> Result<(), AccessError> {
        const OP: &str = "creating a token";
        self.db.run(OP, Tx::None, |db| {
            db.execute(
                "INSERT INTO tokens (id, hash, role, tenant_id, note, created_at, created_by, expires_at, revoked_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                vals![
                    t.id.as_str(),
                    &t.hash,
                    t.role.as_str(),
                    t.tenant.as_ref().map(TenantId::as_str),
                    &t.note,
                    to_i64(t.created_at_unix_s),
                    &t.created_by,
                    t.expires_at_unix_s.map(to_i64),
                    t.revoked_at_unix_s.map(to_i64)
                ],
            )
            .doing(OP)
        })?;
        Ok(())
    }

    fn token(&self, id: &TokenId) -> Result<Option<TokenRecord>, AccessError> {
        self.db.run("reading a token", Tx::None, |db| read_token(db, id))
    }

    fn list_tokens(&self) -> Result<Vec<TokenRecord>, AccessError> {
        const OP: &str = "listing tokens";
        let sql = format!("SELECT {TOKEN_COLUMNS} FROM tokens ORDER BY created_at, id");
        let rows: Vec<TokenRow> = self.db.run(OP, Tx::None, |db| select(db, OP, &sql, vals![]))?;
        rows.into_iter().map(token_record).collect()
    }

    fn revoke_token(&mut self, id: &TokenId, now_unix_s: u64) -> Result<TokenRecord, AccessError> {
        const OP: &str = "revoking a token";
        self.db.run(OP, Tx::Write(Lock::Admin), |db| {
            db.execute(
                "UPDATE tokens SET revoked_at = coalesce(revoked_at, ?2) WHERE id = ?1",
                vals![id.as_str(), to_i64(now_unix_s)],
            )
            .doing(OP)?;
            read_token(db, id)?.ok_or_else(|| AccessError::UnknownToken { id: id.to_string() })
        })
    }
}

fn json_text(value: &Option<serde_json::Value>) -> Option<String> {
    value.as_ref().map(ToString::to_string)
}

fn json_value(column: &'static str, text: Option<String>) -> Result<Option<serde_json::Value>, AccessError> {
    text.map(|t| serde_json::from_str(&t).map_err(|_| AccessError::corrupt(column, &t))).transpose()
}

type AuditRow = (i64, i64, String, Option<String>, String, String, Option<String>, Option<String>, String);

fn audit_entry(row: AuditRow) -> Result<AuditEntry, AccessError> {
    let (id, at, actor, tenant, action, object, before, after, source) = row;
    Ok(AuditEntry {
        id: to_u64(id),
        entry: NewAuditEntry {
            at_unix_s: to_u64(at),
            actor,
            tenant: tenant_of("audit.tenant_id", tenant)?,
            action,
            object,
            before: json_value("audit.before", before)?,
            after: json_value("audit.after", after)?,
            source,
        },
    })
}

impl<B: Backend> AuditStore for Store<B> {
    fn append_audit(&mut self, e: &NewAuditEntry) -> Result<AuditEntry, AccessError> {
        const OP: &str = "recording an audit entry";
        let id: i64 = self.db.run(OP, Tx::None, |db| {
            scalar(
                db,
                OP,
                "INSERT INTO audit (at, actor, tenant_id, action, object, before, after, source)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) RETURNING id",
                vals![
                    to_i64(e.at_unix_s),
                    &e.actor,
                    e.tenant.as_ref().map(TenantId::as_str),
                    &e.action,
                    &e.object,
                    json_text(&e.before),
                    json_text(&e.after),
                    &e.source
                ],
            )
        })?;
        Ok(AuditEntry { id: to_u64(id), entry: e.clone() })
    }

    fn list_audit(&self, q: &AuditQuery) -> Result<Vec<AuditEntry>, AccessError> {
        const OP: &str = "listing the audit log";
        // Every filter is a parameter; an absent one is NULL and matches everything. The
        // action prefix is compared with substr, so `%` and `_` are plain characters.
        let sql = "SELECT id, at, actor, tenant_id, action, object, before, after, source FROM audit
                 WHERE (CAST(?1 AS TEXT) IS NULL OR tenant_id = ?1) AND (CAST(?2 AS TEXT) IS NULL OR actor = ?2)
                   AND (CAST(?3 AS TEXT) IS NULL OR substr(action, 1, length(?3)) = ?3)
                   AND (CAST(?4 AS BIGINT) IS NULL OR at >= ?4) AND (CAST(?5 AS BIGINT) IS NULL OR at <= ?5)
                   AND (CAST(?6 AS BIGINT) IS NULL OR id < ?6)
                 ORDER BY id DESC LIMIT ?7";
        let limit = to_i64(q.limit.min(AUDIT_PAGE_MAX) as u64);
        let params = vals![
            q.tenant.as_ref().map(TenantId::as_str),
            q.actor.as_deref(),
            q.action.as_deref(),
            q.since_unix_s.map(to_i64),
            q.until_unix_s.map(to_i64),
            q.before_id.map(to_i64),
            limit
        ];
        let rows: Vec<AuditRow> = self.db.run(OP, Tx::None, |db| select(db, OP, sql, params))?;
        rows.into_iter().map(audit_entry).collect()
    }
}

const REQUEST_COLUMNS: &str = "id, tenant_id, kind, cidr, justification, requested_by, requested_at, status, decided_by, decided_at, note";

type RequestRow = (
    i64,
    String,
    String,
    Option<String>,
    String,
    String,
    i64,
    String,
    Option<String>,
    Option<i64>,
    Option<String>,
);

fn request(row: RequestRow) -> Result<Request, AccessError> {
    let (
        id,
        tenant,
        kind,
        cidr,
        justification,
        requested_by,
        requested_at,
        status,
        decided_by,
        decided_at,
        note,
    ) = row;
    let kind = match (kind.as_str(), cidr) {
        ("reputation-exception", Some(c)) => RequestKind::ReputationException {
            cidr: Cidr::parse("requests.cidr", &c).map_err(|_| AccessError::corrupt("requests.cidr", &c))?,
        },
        ("outbound-release", None) => RequestKind::OutboundRelease,
        (other, _) => return Err(AccessError::corrupt("requests.kind", other)),
    };
    Ok(Request {
        id: to_u64(id),
        tenant: TenantId::parse(&tenant).map_err(|_| AccessError::corrupt("requests.tenant_id", &tenant))?,
        kind,
        justification,
        requested_by,
        requested_at_unix_s: to_u64(requested_at),
        status: RequestStatus::parse(&status)
            .map_err(|_| AccessError::corrupt("requests.status", &status))?,
        decided_by,
        decided_at_unix_s: decided_at.map(to_u64),
        note,
    })
}

fn read_request(db: &mut dyn Sql, id: u64) -> Result<Option<Request>, AccessError> {
    let sql = format!("SELECT {REQUEST_COLUMNS} FROM requests WHERE id = ?1");
    let row: Option<RequestRow> = select_one(db, "reading a request", &sql, vals![to_i64(id)])?;
    row.map(request).transpose()
}

impl<B: Backend> RequestStore for Store<B> {
    fn create_request(&mut self, r: &NewRequest) -> Result<Request, AccessError> {
        const OP: &str = "creating a request";
        let cidr = match &r.kind {
            RequestKind::ReputationException { cidr } => Some(cidr.to_string()),
            RequestKind::OutboundRelease => None,
        };
        self.db.run(OP, Tx::Write(Lock::Admin), |db| {
            let id: i64 = scalar(
                db,
                OP,
                "INSERT INTO requests (tenant_id, kind, cidr, justification, requested_by, requested_at, status)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'pending') RETURNING id",
                vals![
                    r.tenant.as_str(),
                    r.kind.name(),
                    cidr.as_deref(),
                    &r.justification,
                    &r.requested_by,
                    to_i64(r.requested_at_unix_s)
                ],
            )?;
            read_request(db, to_u64(id))?.ok_or(AccessError::UnknownRequest { id: to_u64(id) })
        })
    }

    fn request(&self, id: u64) -> Result<Option<Request>, AccessError> {
        self.db.run("reading a request", Tx::None, |db| read_request(db, id))
    }

    fn list_requests(&self, q: &RequestQuery) -> Result<Vec<Request>, AccessError> {
        const OP: &str = "listing requests";
        let sql = format!(
            "SELECT {REQUEST_COLUMNS} FROM requests WHERE (CAST(?1 AS TEXT) IS NULL OR tenant_id = ?1)
             AND (CAST(?2 AS TEXT) IS NULL OR status = ?2) ORDER BY id DESC"
        );
        let params = vals![q.tenant.as_ref().map(TenantId::as_str), q.status.map(RequestStatus::as_str)];
        let rows: Vec<RequestRow> = self.db.run(OP, Tx::None, |db| select(db, OP, &sql, params))?;
        rows.into_iter().map(request).collect()
    }

    fn decide_request(&mut self, id: u64, d: &RequestDecision) -> Result<Request, AccessError> {
        const OP: &str = "deciding a request";
        self.db.run(OP, Tx::Write(Lock::Admin), |db| {
            let current = read_request(db, id)?.ok_or(AccessError::UnknownRequest { id })?;
            if current.status != RequestStatus::Pending {
                return Err(AccessError::AlreadyDecided { id, status: current.status.as_str() });
            }
            db.execute(
                "UPDATE requests SET status = ?2, decided_by = ?3, decided_at = ?4, note = ?5 WHERE id = ?1",
                vals![to_i64(id), d.status.as_str(), &d.decided_by, to_i64(d.decided_at_unix_s), &d.note],
            )
            .doing(OP)?;
            read_request(db, id)?.ok_or(AccessError::UnknownRequest { id })
        })
    }
}
