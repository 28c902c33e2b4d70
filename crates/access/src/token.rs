//! Bearer tokens: `sluice_<id>_<secret>`, shown once at creation. The id is public (it names
//! the token in listings and the audit log); only the SHA-256 of the whole token is stored,
//! so a stolen database grants nothing.

use std::fmt;

use directory::TenantId;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{AccessError, checked_text};
use crate::role::Role;

/// Random bytes a new token is made of: 8 for the id, 24 (192 bits) for the secret.
pub const TOKEN_RANDOM_BYTES: usize = 32;
const ID_BYTES: usize = 8;
const PREFIX: &str = "sluice_";
const NOTE_CHARS_MAX: usize = 200;

/// A token's public id: 16 lower-case hex digits.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TokenId(String);

impl TokenId {
    pub fn parse(text: &str) -> Result<TokenId, AccessError> {
        let text = text.trim();
        if text.len() == ID_BYTES * 2
            && text.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            Ok(TokenId(text.to_string()))
        } else {
            Err(AccessError::invalid("token.id", text, "expected 16 lower-case hex digits"))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TokenId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A whole bearer token, as the client sends it. Its `Debug` hides the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct TokenSecret(String);

impl fmt::Debug for TokenSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TokenSecret({}…)", self.id().map(|id| id.0).unwrap_or_default())
    }
}

impl TokenSecret {
    /// A new token from bytes the caller drew from the OS.
    pub fn from_random(bytes: [u8; TOKEN_RANDOM_BYTES]) -> TokenSecret {
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let (id, secret) = hex.split_at(ID_BYTES * 2);
        TokenSecret(format!("{PREFIX}{id}_{secret}"))
    }

    /// What a client sent (the part after `Bearer `); `None` when it is not shaped like a
    /// token at all.
    pub fn from_presented(text: &str) -> Option<TokenSecret> {
        let token = TokenSecret(text.trim().to_string());
        let secret_ok = token.0.rsplit_once('_').is_some_and(|(_, s)| {
            s.len() == (TOKEN_RANDOM_BYTES - ID_BYTES) * 2 && s.bytes().all(|b| b.is_ascii_hexdigit())
        });
        (token.id().is_some() && secret_ok).then_some(token)
    }

    /// The public id inside the token.
    pub fn id(&self) -> Option<TokenId> {
        let rest = self.0.strip_prefix(PREFIX)?;
        let (id, _) = rest.split_once('_')?;
        TokenId::parse(id).ok()
    }

    /// The text to hand to the user, once.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The stored form.
    pub fn hash(&self) -> String {
        hash_secret(&self.0)
    }
}

/// SHA-256 of a token, in hex.
pub fn hash_secret(token: &str) -> String {
    Sha256::digest(token.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// What an operator asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewToken {
    pub role: Role,
    pub tenant: Option<TenantId>,
    pub expires_at_unix_s: Option<u64>,
    pub note: String,
}

impl NewToken {
    /// Tenant roles need a tenant, the others must not have one.
    pub fn new(
        role: Role,
        tenant: Option<TenantId>,
        expires_at_unix_s: Option<u64>,
        note: &str,
    ) -> Result<NewToken, AccessError> {
        match (role.is_tenant_role(), &tenant) {
            (true, None) => {
                return Err(AccessError::invalid(
                    "token.tenant",
                    "",
                    format!("a {role} token needs a tenant"),
                ));
            }
            (false, Some(t)) => {
                return Err(AccessError::invalid(
                    "token.tenant",
                    t.as_str(),
                    format!(
                        "a {role} token acts on every tenant; give a tenant only with tenant-admin or tenant-reader"
                    ),
                ));
            }
            _ => {}
        }
        let note = checked_text("token.note", note, NOTE_CHARS_MAX, true)?;
        Ok(NewToken { role, tenant, expires_at_unix_s, note })
    }
}

/// A stored token: everything but the secret.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRecord {
    pub id: TokenId,
    pub hash: String,
    pub role: Role,
    pub tenant: Option<TenantId>,
    pub note: String,
    pub created_at_unix_s: u64,
    /// Who created it (an actor as in the audit log).
    pub created_by: String,
    pub expires_at_unix_s: Option<u64>,
    pub revoked_at_unix_s: Option<u64>,
}

impl TokenRecord {
    /// Whether `presented` is this token and it is in force at `now`. The hash comparison
    /// takes the same time wherever the first difference is.
    pub fn admits(&self, presented: &TokenSecret, now_unix_s: u64) -> bool {
        let hash = presented.hash();
        let same = hash.len() == self.hash.len()
            && hash.bytes().zip(self.hash.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0;
        same && self.in_force(now_unix_s)
    }

    pub fn in_force(&self, now_unix_s: u64) -> bool {
        self.revoked_at_unix_s.is_none() && self.expires_at_unix_s.is_none_or(|at| now_unix_s < at)
    }
}

/// Where tokens live.
pub trait TokenStore {
    /// Stores a new token; the id must be new.
    fn insert_token(&mut self, token: &TokenRecord) -> Result<(), AccessError>;
    fn token(&self, id: &TokenId) -> Result<Option<TokenRecord>, AccessError>;
    /// Every token, revoked and expired ones too, oldest first.
    fn list_tokens(&self) -> Result<Vec<TokenRecord>, AccessError>;
    /// Revokes a token (an error when unknown); revoking twice keeps the first time.
    fn revoke_token(&mut self, id: &TokenId, now_unix_s: u64) -> Result<TokenRecord, AccessError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_through_their_text() {
        let token = TokenSecret::from_random([7; TOKEN_RANDOM_BYTES]);
        assert_eq!(token.expose().len(), PREFIX.len() + 16 + 1 + 48);
        let again = TokenSecret::from_presented(token.expose()).unwrap();
        assert_eq!(again.id(), token.id());
        assert_eq!(again.hash(), token.hash());
        assert!(!format!("{token:?}").contains(&token.expose()[24..]), "Debug hides the secret");
        for bad in ["", "sluice_", "Bearer x", "sluice_0707070707070707_zz", "sluice_07_0707"] {
            assert!(TokenSecret::from_presented(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn records_admit_only_their_token_while_in_force() {
        let token = TokenSecret::from_random([1; TOKEN_RANDOM_BYTES]);
        let other = TokenSecret::from_random([2; TOKEN_RANDOM_BYTES]);
        let mut record = TokenRecord {
            id: token.id().unwrap(),
            hash: token.hash(),
            role: Role::Support,
            tenant: None,
            note: String::new(),
            created_at_unix_s: 0,
            created_by: "os:root".into(),
            expires_at_unix_s: Some(100),
            revoked_at_unix_s: None,
        };
        assert!(record.admits(&token, 99));
        assert!(!record.admits(&token, 100), "expired");
        assert!(!record.admits(&other, 1));
        record.revoked_at_unix_s = Some(5);
        assert!(!record.admits(&token, 1), "revoked");
    }

    #[test]
    fn tenant_roles_and_tenants_go_together() {
        let acme = TenantId::parse("acme").unwrap();
        assert!(NewToken::new(Role::TenantAdmin, Some(acme.clone()), None, "").is_ok());
        for (role, tenant) in [(Role::TenantReader, None), (Role::Operator, Some(acme))] {
            assert!(matches!(
                NewToken::new(role, tenant, None, ""),
                Err(AccessError::Invalid { field: "token.tenant", .. })
            ));
        }
        assert!(matches!(
            NewToken::new(Role::Support, None, None, "a\nb"),
            Err(AccessError::Invalid { field: "token.note", .. })
        ));
    }
}
