//! Tokens, the audit log and service requests.

use access::{
    AuditQuery, NewRequest, NewToken, Permission, Principal, RequestDecision, RequestKind, RequestQuery,
    RequestStatus, Role, TOKEN_RANDOM_BYTES, TokenId, TokenRecord, TokenSecret,
};
use directory::{Cidr, ReputationEntry, ReputationKind, TenantId};

use super::{Admin, Change, Context, tenant_id};
use crate::error::{AdminError, ErrorKind};
use crate::views::{
    AuditParams, AuditView, CreatedToken, DecisionInput, RequestInput, RequestParams, RequestView,
    TokenInput, TokenView,
};

/// Default token lifetime.
const TOKEN_LIFETIME_DEFAULT_S: u64 = 90 * 86_400;
/// Audit entries a listing shows when it names no limit.
const AUDIT_LIMIT_DEFAULT: usize = 100;

/// A duration such as `90d`, `12h`, `30m`, `45s`; errors name `field`.
pub fn parse_lifetime(field: &'static str, text: &str) -> Result<u64, AdminError> {
    let text = text.trim();
    let (digits, unit) = text.split_at(text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len()));
    let scale = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => 0,
    };
    match digits.parse::<u64>() {
        Ok(n) if scale > 0 && n > 0 => Ok(n.saturating_mul(scale)),
        _ => Err(AdminError::invalid(
            field,
            format!("invalid {field} {text:?}: expected a duration such as 90d, 12h or 30m"),
        )),
    }
}

/// A point in time: Unix seconds, or an age (`2h`) before `now`.
pub(crate) fn parse_when(field: &'static str, text: &str, now: u64) -> Result<u64, AdminError> {
    match text.trim().parse::<u64>() {
        Ok(unix) => Ok(unix),
        Err(_) => parse_lifetime(field, text).map(|age| now.saturating_sub(age)).map_err(|_| {
            AdminError::invalid_value(field, text, "expected Unix seconds or an age such as 2h or 7d")
        }),
    }
}

impl Admin {
    /// The principal a bearer token stands for; `unauthorized` when it is not a token in
    /// force. The answer never says which of unknown, revoked or expired it was.
    pub fn authenticate(&self, bearer: &str) -> Result<Principal, AdminError> {
        let refused = || {
            AdminError::new(
                ErrorKind::Unauthorized,
                "a valid bearer token is required (Authorization: Bearer sluice_...)",
            )
        };
        let secret = TokenSecret::from_presented(bearer).ok_or_else(refused)?;
        let id = secret.id().ok_or_else(refused)?;
        let record = self.store().token(&id)?.ok_or_else(refused)?;
        if !record.admits(&secret, self.now()) {
            return Err(refused());
        }
        Ok(Principal {
            actor: access::Actor::Token(id.to_string()),
            role: record.role,
            tenant: record.tenant,
        })
    }

    /// Creates a token; its secret is in the answer and nowhere else.
    pub fn create_token(&self, cx: &Context, input: &TokenInput) -> Result<CreatedToken, AdminError> {
        self.allow(cx, Permission::Operate, None, "create tokens")?;
        let role = Role::parse(&input.role)?;
        let tenant =
            input.tenant.as_deref().map(|t| TenantId::parse(t).map_err(AdminError::from)).transpose()?;
        if let Some(t) = &tenant
            && !self.store().list_tenants()?.iter().any(|known| known.id == *t)
        {
            return Err(AdminError::invalid(
                "token.tenant",
                format!("invalid token.tenant {:?}: no such tenant", t.as_str()),
            ));
        }
        let now = self.now();
        let expires = match input.expires.as_deref().map(str::trim) {
            Some("never") => None,
            Some(text) => Some(now.saturating_add(parse_lifetime("token.expires", text)?)),
            None => Some(now + TOKEN_LIFETIME_DEFAULT_S),
        };
        let new = NewToken::new(role, tenant, expires, input.note.as_deref().unwrap_or(""))?;
        let mut bytes = [0u8; TOKEN_RANDOM_BYTES];
        getrandom::fill(&mut bytes)
            .map_err(|e| AdminError::new(ErrorKind::Internal, format!("no randomness from the OS: {e}")))?;
        let secret = TokenSecret::from_random(bytes);
        let id = secret.id().ok_or_else(|| AdminError::new(ErrorKind::Internal, "a new token has no id"))?;
        let record = TokenRecord {
            id,
            hash: secret.hash(),
            role: new.role,
            tenant: new.tenant,
            note: new.note,
            created_at_unix_s: now,
            created_by: cx.principal.actor.to_string(),
            expires_at_unix_s: new.expires_at_unix_s,
            revoked_at_unix_s: None,
        };
        let mut store = self.store();
        store.insert_token(&record)?;
        let view = TokenView::from(&record);
        self.audit(
            &mut **store,
            cx,
            Change::new(record.tenant.as_ref(), "token.create", record.id.as_str()).after(&view),
        );
        Ok(CreatedToken { token: secret.expose().to_string(), record: view })
    }

    pub fn list_tokens(&self, cx: &Context) -> Result<Vec<TokenView>, AdminError> {
        self.allow(cx, Permission::Operate, None, "list tokens")?;
        Ok(self.store().list_tokens()?.iter().map(TokenView::from).collect())
    }

    pub fn revoke_token(&self, cx: &Context, id: &str) -> Result<TokenView, AdminError> {
        self.allow(cx, Permission::Operate, None, "revoke tokens")?;
        let id = TokenId::parse(id)?;
        let mut store = self.store();
        let before = store.token(&id)?.ok_or_else(|| AdminError::not_found(format!("token {id}")))?;
        let after = store.revoke_token(&id, self.now())?;
        let change = Change::new(after.tenant.as_ref(), "token.revoke", id.as_str())
            .before(&TokenView::from(&before))
            .after(&TokenView::from(&after));
        self.audit(&mut **store, cx, change);
        Ok(TokenView::from(&after))
    }

    /// The audit log, newest first; tenant roles see their own tenant's entries only.
    pub fn list_audit(&self, cx: &Context, params: &AuditParams) -> Result<Vec<AuditView>, AdminError> {
        let tenant = self.scope(cx, params.tenant.as_deref())?;
        self.allow(cx, Permission::Read, tenant.as_ref(), "read the audit log")?;
        let now = self.now();
        let query = AuditQuery {
            tenant,
            actor: params.actor.clone(),
            action: params.action.clone(),
            since_unix_s: params.since.as_deref().map(|t| parse_when("audit.since", t, now)).transpose()?,
            until_unix_s: params.until.as_deref().map(|t| parse_when("audit.until", t, now)).transpose()?,
            before_id: params.before,
            limit: params.limit.unwrap_or(AUDIT_LIMIT_DEFAULT),
        };
        Ok(self.store().list_audit(&query)?.iter().map(AuditView::from).collect())
    }

    /// A tenant admin asks for an exception or a release.
    pub fn create_request(
        &self,
        cx: &Context,
        tenant: &str,
        input: &RequestInput,
    ) -> Result<RequestView, AdminError> {
        let tenant = tenant_id(tenant)?;
        self.allow(cx, Permission::AskRequest, Some(&tenant), "open requests")?;
        let kind = match (input.kind.trim(), &input.cidr) {
            ("reputation-exception", Some(cidr)) => {
                RequestKind::ReputationException { cidr: Cidr::parse("request.cidr", cidr)? }
            }
            ("reputation-exception", None) => {
                return Err(AdminError::invalid(
                    "request.cidr",
                    "a reputation exception names the range (cidr) refused with 5.7.708",
                ));
            }
            ("outbound-release", None) => RequestKind::OutboundRelease,
            ("outbound-release", Some(_)) => {
                return Err(AdminError::invalid(
                    "request.cidr",
                    "an outbound release is for the whole tenant: give no cidr",
                ));
            }
            (other, _) => {
                return Err(AdminError::invalid(
                    "request.kind",
                    format!(
                        "invalid request.kind {other:?}: expected reputation-exception or outbound-release"
                    ),
                ));
            }
        };
        let mut store = self.store();
        if !store.list_tenants()?.iter().any(|t| t.id == tenant) {
            return Err(AdminError::not_found(format!("tenant {tenant}")));
        }
        let new = NewRequest::new(
            tenant.clone(),
            kind,
            &input.justification,
            &cx.principal.actor.to_string(),
            self.now(),
        )?;
        let request = RequestView::from(&store.create_request(&new)?);
        self.audit(
            &mut **store,
            cx,
            Change::new(Some(&tenant), "request.create", request.id.to_string()).after(&request),
        );
        Ok(request)
    }

    pub fn list_requests(
        &self,
        cx: &Context,
        tenant: Option<&str>,
        params: &RequestParams,
    ) -> Result<Vec<RequestView>, AdminError> {
        let tenant = self.scope(cx, tenant)?;
        self.allow(cx, Permission::Read, tenant.as_ref(), "list requests")?;
        let status = params.status.as_deref().map(RequestStatus::parse).transpose()?;
        let requests = self.store().list_requests(&RequestQuery { tenant, status })?;
        Ok(requests.iter().map(RequestView::from).collect())
    }

    pub fn request(&self, cx: &Context, id: u64) -> Result<RequestView, AdminError> {
        let request =
            self.store().request(id)?.ok_or_else(|| AdminError::not_found(format!("request {id}")))?;
        if !cx.principal.sees(&request.tenant) {
            return Err(AdminError::not_found(format!("request {id}")));
        }
        self.allow(cx, Permission::Read, Some(&request.tenant), "read requests")?;
        Ok((&request).into())
    }

    /// Approves (and carries out) or denies a pending request, with a note.
    pub fn decide_request(
        &self,
        cx: &Context,
        id: u64,
        approve: bool,
        input: &DecisionInput,
    ) -> Result<RequestView, AdminError> {
        let pending = self.store().request(id)?.filter(|r| cx.principal.sees(&r.tenant));
        let pending = pending.ok_or_else(|| AdminError::not_found(format!("request {id}")))?;
        self.allow(cx, Permission::DecideRequest, Some(&pending.tenant), "decide requests")?;
        let decision =
            RequestDecision::new(approve, &input.note, &cx.principal.actor.to_string(), self.now())?;
        if pending.status != RequestStatus::Pending {
            return Err(AdminError::new(
                ErrorKind::Conflict,
                format!("request {id} was already {}", pending.status),
            ));
        }
        if approve {
            self.carry_out(cx, &pending, &input.note)?;
        }
        let mut store = self.store();
        let decided = RequestView::from(&store.decide_request(id, &decision)?);
        let action = if approve { "request.approve" } else { "request.deny" };
        let change = Change::new(Some(&pending.tenant), action, id.to_string())
            .before(&RequestView::from(&pending))
            .after(&decided);
        self.audit(&mut **store, cx, change);
        Ok(decided)
    }

    /// What approving a request does: the change is made (and audited) before the request
    /// is marked approved, so an approval never claims a change that failed.
    fn carry_out(&self, cx: &Context, request: &access::Request, note: &str) -> Result<(), AdminError> {
        match &request.kind {
            RequestKind::OutboundRelease => {
                self.release_as(cx, &request.tenant, None, &format!("request {}: {note}", request.id))
            }
            RequestKind::ReputationException { cidr } => {
                let entry = ReputationEntry {
                    cidr: *cidr,
                    kind: ReputationKind::Exception,
                    note: format!(
                        "request {} of tenant {}: {}",
                        request.id,
                        request.tenant,
                        note.replace(['\n', '\r'], " ")
                    ),
                    expires_at_unix_s: None,
                };
                let mut store = self.store();
                store.set_reputation(&entry)?;
                let after = crate::views::ReputationView::from(&entry);
                self.audit(
                    &mut **store,
                    cx,
                    Change::new(Some(&request.tenant), "reputation.set", cidr.to_string()).after(&after),
                );
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifetimes_and_times() {
        assert_eq!(parse_lifetime("f", "90d").ok(), Some(90 * 86_400));
        assert_eq!(parse_lifetime("f", "2h").ok(), Some(7_200));
        for bad in ["", "d", "0d", "5y", "-1h", "1.5h"] {
            assert_eq!(
                parse_lifetime("token.expires", bad).err().and_then(|e| e.field),
                Some("token.expires".into()),
                "{bad}"
            );
        }
        assert_eq!(parse_when("f", "1700000000", 5).ok(), Some(1_700_000_000));
        assert_eq!(parse_when("f", "2h", 10_000).ok(), Some(2_800));
        assert_eq!(
            parse_when("trace.since", "soon", 1).err().and_then(|e| e.field),
            Some("trace.since".into())
        );
    }
}
