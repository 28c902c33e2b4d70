//! Web sessions: a token presented once at login becomes a random session id in a cookie.
//! The table is keyed by what browsers send, so it is bounded: at most [`SESSIONS_MAX`]
//! sessions; when full, expired ones go first, then the one idle longest. Time is passed in.
//!
//! A session keeps the bearer token it was opened with, in memory only, so every request
//! is authenticated again by the operations layer: a revoked or expired token ends its
//! sessions at once.

use std::collections::HashMap;

/// Sessions held at most.
pub const SESSIONS_MAX: usize = 1_000;
/// A session ends this long after login, whatever happens.
pub const LIFETIME_S: u64 = 12 * 3_600;
/// A session ends after this long without a request.
pub const IDLE_S: u64 = 3_600;
/// Random bytes in a session id and a CSRF token.
const SECRET_BYTES: usize = 32;

/// One signed-in browser.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    /// The bearer token presented at login (never sent back to the browser).
    pub bearer: String,
    /// Sent in every form and compared on every POST.
    pub csrf: String,
    pub created_at_s: u64,
    pub seen_at_s: u64,
    /// The tenant an operator or support chose to look at.
    pub tenant: Option<String>,
}

impl Session {
    fn expired(&self, now_s: u64) -> bool {
        now_s >= self.created_at_s + LIFETIME_S || now_s >= self.seen_at_s + IDLE_S
    }
}

/// Random hex text from the OS, or `None` when it has none to give.
pub fn random_hex() -> Option<String> {
    let mut bytes = [0u8; SECRET_BYTES];
    getrandom::fill(&mut bytes).ok()?;
    Some(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Compares two secrets in time independent of where they differ.
pub fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[derive(Debug, Default)]
pub struct Sessions {
    by_id: HashMap<String, Session>,
}

impl Sessions {
    /// Opens a session for `bearer`; its id, or `None` without randomness.
    pub fn open(&mut self, bearer: &str, now_s: u64) -> Option<(String, Session)> {
        let id = random_hex()?;
        let session = Session {
            bearer: bearer.to_string(),
            csrf: random_hex()?,
            created_at_s: now_s,
            seen_at_s: now_s,
            tenant: None,
        };
        if self.by_id.len() >= SESSIONS_MAX {
            self.evict(now_s);
        }
        self.by_id.insert(id.clone(), session.clone());
        Some((id, session))
    }

    /// The live session of `id`, touched; an expired one is dropped.
    pub fn get(&mut self, id: &str, now_s: u64) -> Option<Session> {
        let session = self.by_id.get_mut(id)?;
        if session.expired(now_s) {
            self.by_id.remove(id);
            return None;
        }
        session.seen_at_s = now_s;
        Some(session.clone())
    }

    pub fn set_tenant(&mut self, id: &str, tenant: Option<String>) {
        if let Some(s) = self.by_id.get_mut(id) {
            s.tenant = tenant;
        }
    }

    pub fn close(&mut self, id: &str) {
        self.by_id.remove(id);
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    fn evict(&mut self, now_s: u64) {
        self.by_id.retain(|_, s| !s.expired(now_s));
        while self.by_id.len() >= SESSIONS_MAX {
            let Some(idle) = self.by_id.iter().min_by_key(|(_, s)| s.seen_at_s).map(|(id, _)| id.clone())
            else {
                break;
            };
            self.by_id.remove(&idle);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_expire_when_idle_and_after_their_lifetime() {
        let mut s = Sessions::default();
        let (id, opened) = s.open("sluice_a_b", 1_000).expect("random");
        assert_eq!(opened.csrf.len(), 64);
        assert_ne!(id, opened.csrf);
        assert!(s.get(&id, 1_000 + IDLE_S - 1).is_some(), "still in use");
        assert!(s.get(&id, 1_000 + 2 * IDLE_S - 2).is_some(), "each request extends the idle time");
        assert!(s.get(&id, 1_000 + 4 * IDLE_S).is_none(), "idle too long");
        assert!(s.is_empty(), "an expired session is dropped");
        let (id, _) = s.open("sluice_a_b", 0).expect("random");
        let mut now = 0;
        while now < LIFETIME_S - IDLE_S {
            now += IDLE_S - 1;
            assert!(s.get(&id, now).is_some());
        }
        assert!(s.get(&id, LIFETIME_S).is_none(), "the absolute lifetime holds however busy");
    }

    #[test]
    fn the_table_is_bounded_and_drops_the_idlest() {
        let mut s = Sessions::default();
        let (first, _) = s.open("t", 0).expect("random");
        let (busy, _) = s.open("t", 0).expect("random");
        for n in 0..SESSIONS_MAX {
            assert!(s.get(&busy, n as u64).is_some());
            s.open("t", n as u64).expect("random");
        }
        assert_eq!(s.len(), SESSIONS_MAX);
        assert!(s.get(&first, SESSIONS_MAX as u64).is_none(), "the idlest went first");
        assert!(s.get(&busy, SESSIONS_MAX as u64).is_some(), "a session in use stays");
    }

    #[test]
    fn secrets_compare_whole() {
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("abc", "abd"));
        assert!(!same_secret("abc", "ab"));
    }
}
