//! Roles, principals and the permission table.

use std::fmt;

use directory::TenantId;
use serde::{Deserialize, Serialize};

use crate::error::AccessError;

/// What a token (or a local CLI user) may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// Everything, on every tenant.
    Operator,
    /// Reads every tenant, releases blocks and decides requests; changes no configuration.
    Support,
    /// Its own tenant's domains, recipients, connectors, trace, throttle view and requests.
    TenantAdmin,
    /// Reads its own tenant.
    TenantReader,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Operator, Role::Support, Role::TenantAdmin, Role::TenantReader];

    pub fn parse(text: &str) -> Result<Role, AccessError> {
        match text.trim().to_ascii_lowercase().as_str() {
            "operator" => Ok(Role::Operator),
            "support" => Ok(Role::Support),
            "tenant-admin" => Ok(Role::TenantAdmin),
            "tenant-reader" => Ok(Role::TenantReader),
            _ => Err(AccessError::invalid(
                "token.role",
                text,
                "expected operator, support, tenant-admin or tenant-reader",
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Operator => "operator",
            Role::Support => "support",
            Role::TenantAdmin => "tenant-admin",
            Role::TenantReader => "tenant-reader",
        }
    }

    /// Whether the role is bound to one tenant.
    pub fn is_tenant_role(self) -> bool {
        matches!(self, Role::TenantAdmin | Role::TenantReader)
    }

    /// The permission table: what each role may do at all. Whether the object is the
    /// principal's own tenant's is checked separately ([`Principal::sees`]).
    pub fn may(self, permission: Permission) -> bool {
        use Permission::*;
        match self {
            Role::Operator => true,
            Role::Support => matches!(permission, Read | ReadTrace | Release | DecideRequest),
            Role::TenantAdmin => matches!(permission, Read | ReadTrace | EditTenant | AskRequest),
            Role::TenantReader => matches!(permission, Read | ReadTrace),
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Kinds of things an operation does, the unit of the permission table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Permission {
    /// Read directory objects, requests, audit entries, throttle views.
    Read,
    /// Search the message trace.
    ReadTrace,
    /// Change a tenant's own objects: domains, recipients, connectors.
    EditTenant,
    /// Ask for an exception or a release.
    AskRequest,
    /// Release a tenant's outbound block.
    Release,
    /// Approve or deny requests.
    DecideRequest,
    /// Everything else: tenants themselves, the reputation list, tokens, the queue.
    Operate,
}

/// Who is acting, for the audit log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind", content = "name")]
pub enum Actor {
    /// A bearer token, by its public id.
    Token(String),
    /// A local user running the CLI on the node.
    OsUser(String),
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Actor::Token(id) => write!(f, "token:{id}"),
            Actor::OsUser(name) => write!(f, "os:{name}"),
        }
    }
}

/// An authenticated actor with its role and, for tenant roles, its tenant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    pub actor: Actor,
    pub role: Role,
    /// Set exactly for tenant roles.
    pub tenant: Option<TenantId>,
}

impl Principal {
    /// The local administrator running the CLI: an operator (whoever can read the data
    /// directory owns the node).
    pub fn local(user: &str) -> Principal {
        Principal { actor: Actor::OsUser(user.to_string()), role: Role::Operator, tenant: None }
    }

    /// Whether objects of `tenant` exist for this principal (tenant roles see their own).
    pub fn sees(&self, tenant: &TenantId) -> bool {
        match &self.tenant {
            Some(own) => own == tenant,
            None => true,
        }
    }
}
