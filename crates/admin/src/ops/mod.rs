//! The operations: every change and every read the CLI, the HTTP API and the web pages
//! make, each a method of [`Admin`] taking the caller's [`Context`]. Validation,
//! authorisation (role and tenant) and the audit entry of every change live here and
//! nowhere else: a handler only turns HTTP into a call, a CLI command only turns flags into
//! one.
//!
//! Tenant isolation: an object of a tenant the principal may not see does not exist for
//! it (`not_found`, the same answer as for an object that really does not exist); listings
//! are filtered. A role lacking a permission on what it can see gets `forbidden`.

mod connector_ops;
mod directory_ops;
mod insight;
mod observe;
mod quarantine_ops;
mod records;

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use access::{AuditStore, NewAuditEntry, Permission, Principal, RequestStore, TokenStore};
use directory::{DirectoryStore, DomainName, TenantId};
use serde::Serialize;
use trace::TraceStore;

use crate::error::{AdminError, ErrorKind};
use crate::live::{AllowList, LiveState, Network, QuarantineAccess};

pub use records::parse_lifetime;

/// Everything the admin plane stores next to the directory, in one backend.
pub trait AdminStore: DirectoryStore + TokenStore + AuditStore + RequestStore + Send {}
impl<T: DirectoryStore + TokenStore + AuditStore + RequestStore + Send> AdminStore for T {}

/// Who is calling, and from where (an API client's address, or `cli`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Context {
    pub principal: Principal,
    pub source: String,
}

/// The operations layer over its stores and the outside world.
pub struct Admin {
    store: Mutex<Box<dyn AdminStore>>,
    trace: Option<Mutex<Box<dyn TraceStore + Send>>>,
    live: Arc<dyn LiveState>,
    network: Arc<dyn Network>,
    allow_list: Option<Arc<dyn AllowList>>,
    quarantine: Arc<dyn QuarantineAccess>,
    /// Unix seconds.
    clock: fn() -> u64,
    service_domain: DomainName,
}

impl std::fmt::Debug for Admin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Admin").field("service_domain", &self.service_domain).finish_non_exhaustive()
    }
}

/// What [`Admin::new`] is made of.
#[allow(missing_debug_implementations)] // trait objects without Debug
pub struct Parts {
    pub store: Box<dyn AdminStore>,
    /// Absent when the trace is turned off.
    pub trace: Option<Box<dyn TraceStore + Send>>,
    pub live: Arc<dyn LiveState>,
    pub network: Arc<dyn Network>,
    /// Absent when throttling is turned off.
    pub allow_list: Option<Arc<dyn AllowList>>,
    /// Held messages (`<data_dir>/quarantine`).
    pub quarantine: Arc<dyn QuarantineAccess>,
    pub clock: fn() -> u64,
    /// `[directory] service_domain`: new tenants get `<id>.<service domain>`.
    pub service_domain: DomainName,
}

impl Admin {
    pub fn new(parts: Parts) -> Admin {
        Admin {
            store: Mutex::new(parts.store),
            trace: parts.trace.map(Mutex::new),
            live: parts.live,
            network: parts.network,
            allow_list: parts.allow_list,
            quarantine: parts.quarantine,
            clock: parts.clock,
            service_domain: parts.service_domain,
        }
    }

    fn store(&self) -> MutexGuard<'_, Box<dyn AdminStore>> {
        self.store.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn trace(&self) -> Result<MutexGuard<'_, Box<dyn TraceStore + Send>>, AdminError> {
        match &self.trace {
            Some(t) => Ok(t.lock().unwrap_or_else(PoisonError::into_inner)),
            None => Err(AdminError::new(
                ErrorKind::Unavailable,
                "the message trace is turned off ([trace] enabled = false)",
            )),
        }
    }

    fn now(&self) -> u64 {
        (self.clock)()
    }

    /// Whether the caller may do `permission` on an object of `tenant` (or on a global
    /// object when `None`): another tenant's object is `not_found`, a missing permission
    /// `forbidden`.
    fn allow(
        &self,
        cx: &Context,
        permission: Permission,
        tenant: Option<&TenantId>,
        what: &str,
    ) -> Result<(), AdminError> {
        let p = &cx.principal;
        match tenant {
            Some(t) if !p.sees(t) => return Err(AdminError::not_found(format!("tenant {t}"))),
            // Global objects (the reputation list, tokens, the queue) are the operator's
            // and support's; a tenant role may only read what is filtered for it.
            None if p.role.is_tenant_role()
                && permission != Permission::Read
                && permission != Permission::ReadTrace =>
            {
                return Err(AdminError::forbidden(p.role, what));
            }
            _ => {}
        }
        if p.role.may(permission) { Ok(()) } else { Err(AdminError::forbidden(p.role, what)) }
    }

    /// The tenant a tenant role is bound to, else `requested`.
    fn scope(&self, cx: &Context, requested: Option<&str>) -> Result<Option<TenantId>, AdminError> {
        let requested = requested.map(TenantId::parse).transpose()?;
        match (&cx.principal.tenant, requested) {
            (Some(own), Some(asked)) if *own != asked => {
                Err(AdminError::not_found(format!("tenant {asked}")))
            }
            (Some(own), _) => Ok(Some(own.clone())),
            (None, asked) => Ok(asked),
        }
    }

    /// Records a change. A failure to record is logged, not returned: the change is made.
    fn audit(&self, store: &mut dyn AdminStore, cx: &Context, change: Change<'_>) {
        let entry = NewAuditEntry {
            at_unix_s: self.now(),
            actor: cx.principal.actor.to_string(),
            tenant: change.tenant.cloned(),
            action: change.action.into(),
            object: change.object,
            before: change.before,
            after: change.after,
            source: cx.source.clone(),
        };
        if let Err(e) = store.append_audit(&entry) {
            tracing::error!(error = %e, action = change.action, "the audit entry of a change could not be written");
        }
    }
}

/// One change, for the audit log.
struct Change<'a> {
    tenant: Option<&'a TenantId>,
    action: &'a str,
    object: String,
    before: Option<serde_json::Value>,
    after: Option<serde_json::Value>,
}

impl<'a> Change<'a> {
    fn new(tenant: Option<&'a TenantId>, action: &'a str, object: impl Into<String>) -> Change<'a> {
        Change { tenant, action, object: object.into(), before: None, after: None }
    }

    fn before<T: Serialize>(mut self, value: &T) -> Change<'a> {
        self.before = json(value);
        self
    }

    fn after<T: Serialize>(mut self, value: &T) -> Change<'a> {
        self.after = json(value);
        self
    }
}

/// An object as the audit log keeps it.
fn json<T: Serialize>(value: &T) -> Option<serde_json::Value> {
    serde_json::to_value(value).ok()
}

fn tenant_id(text: &str) -> Result<TenantId, AdminError> {
    Ok(TenantId::parse(text)?)
}
