//! The quarantine: messages held because a tenant's policy said so (a DMARC failure, a
//! spoofed domain of its own, spam). Tenant admins list, preview, release and delete their
//! own tenant's; a message held for recipients of several tenants is the operator's to
//! decide. Releases and deletions are audited.

use access::Permission;
use directory::TenantId;

use super::{Admin, Change, Context};
use crate::error::{AdminError, ErrorKind};
use crate::live::{HeldMessageView, LiveError};
use crate::views::Done;

fn quarantine_error(e: LiveError) -> AdminError {
    match e {
        LiveError::Refused(message)
            if message.contains("no held message") || message.contains("not a quarantine id") =>
        {
            AdminError::new(ErrorKind::NotFound, message)
        }
        LiveError::Refused(message)
            if message.contains("already released") || message.contains("being released") =>
        {
            AdminError::new(ErrorKind::Conflict, message)
        }
        LiveError::Refused(message) | LiveError::NotRunning(message) => {
            AdminError::new(ErrorKind::Unavailable, message)
        }
        LiveError::Garbled(_) => AdminError::new(ErrorKind::Internal, e.to_string()),
    }
}

fn check_id(id: &str) -> Result<(), AdminError> {
    if id.is_empty() || id.len() > 40 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(AdminError::invalid(
            "quarantine.id",
            format!("invalid quarantine.id {id:?}: expected an id as `sluice quarantine list` shows it"),
        ));
    }
    Ok(())
}

impl Admin {
    /// Held messages the caller may see, newest first (a tenant role: its tenant's).
    pub fn list_quarantine(
        &self,
        cx: &Context,
        tenant: Option<&str>,
    ) -> Result<Vec<HeldMessageView>, AdminError> {
        let scope = self.scope(cx, tenant)?;
        self.allow(cx, Permission::ReadTrace, scope.as_ref(), "read the quarantine")?;
        let all = self.quarantine.list().map_err(quarantine_error)?;
        Ok(all
            .into_iter()
            .filter(|m| scope.as_ref().is_none_or(|t| m.tenants.iter().any(|x| x == t.as_str())))
            .collect())
    }

    /// One held message, if the caller may act on it: a tenant role only on messages held
    /// for its own tenant alone.
    fn held(
        &self,
        cx: &Context,
        id: &str,
        permission: Permission,
        what: &str,
    ) -> Result<HeldMessageView, AdminError> {
        check_id(id)?;
        let entry = self.quarantine.entry(id).map_err(quarantine_error)?;
        let own = cx.principal.tenant.as_ref();
        if let Some(own) = own
            && !entry.tenants.iter().any(|t| t == own.as_str())
        {
            return Err(AdminError::not_found(format!("held message {id}")));
        }
        let tenant = entry.tenants.first().map(|t| TenantId::parse(t)).transpose()?;
        self.allow(cx, permission, tenant.as_ref(), what)?;
        if own.is_some() && entry.tenants.len() > 1 {
            return Err(AdminError::new(
                ErrorKind::Forbidden,
                format!(
                    "held message {id} is held for recipients of several tenants; the operator decides about it"
                ),
            ));
        }
        Ok(entry)
    }

    /// The message's headers and the start of its text.
    pub fn preview_quarantined(
        &self,
        cx: &Context,
        id: &str,
    ) -> Result<(HeldMessageView, String), AdminError> {
        let entry = self.held(cx, id, Permission::EditTenant, "preview held messages")?;
        let text = self.quarantine.preview(id).map_err(quarantine_error)?;
        Ok((entry, text))
    }

    /// Delivers a held message to its held recipients, once.
    pub fn release_quarantined(&self, cx: &Context, id: &str) -> Result<HeldMessageView, AdminError> {
        let before = self.held(cx, id, Permission::EditTenant, "release held messages")?;
        let by = cx.principal.actor.to_string();
        let after = self.quarantine.release(id, &by).map_err(quarantine_error)?;
        let tenant = before.tenants.first().and_then(|t| TenantId::parse(t).ok());
        let mut store = self.store();
        let change = Change::new(tenant.as_ref(), "quarantine.release", id).before(&before).after(&after);
        self.audit(&mut **store, cx, change);
        Ok(after)
    }

    /// Deletes a held message.
    pub fn delete_quarantined(&self, cx: &Context, id: &str) -> Result<Done, AdminError> {
        let before = self.held(cx, id, Permission::EditTenant, "delete held messages")?;
        self.quarantine.delete(id).map_err(quarantine_error)?;
        let tenant = before.tenants.first().and_then(|t| TenantId::parse(t).ok());
        let mut store = self.store();
        self.audit(&mut **store, cx, Change::new(tenant.as_ref(), "quarantine.delete", id).before(&before));
        Ok(Done { message: format!("held message {id} deleted") })
    }
}
