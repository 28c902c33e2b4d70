//! Connection admission: a cap on all connections and on connections per client IP. The
//! per-IP map only holds IPs with a live connection, so it is bounded by the total cap.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};

use smtp_wire::{Reply, replies};

use crate::settings::ConnectionLimits;

#[derive(Debug, Default)]
pub(crate) struct ConnectionTable {
    counts: Mutex<Counts>,
}

#[derive(Debug, Default)]
struct Counts {
    total: usize,
    per_ip: HashMap<IpAddr, usize>,
}

/// Holds one admitted connection; releases it on drop.
#[derive(Debug)]
pub(crate) struct Admission {
    table: Arc<ConnectionTable>,
    ip: IpAddr,
}

impl ConnectionTable {
    pub(crate) fn admit(self: &Arc<Self>, ip: IpAddr, limits: ConnectionLimits) -> Result<Admission, Reply> {
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        if counts.total >= limits.connections_max {
            return Err(replies::too_many_connections());
        }
        let count = counts.per_ip.entry(ip).or_insert(0);
        if *count >= limits.connections_per_ip_max {
            return Err(replies::too_many_connections_from(ip));
        }
        *count += 1;
        counts.total += 1;
        Ok(Admission { table: Arc::clone(self), ip })
    }

    #[cfg(test)]
    pub(crate) fn total(&self) -> usize {
        self.counts.lock().unwrap_or_else(PoisonError::into_inner).total
    }
}

impl Drop for Admission {
    fn drop(&mut self) {
        let mut counts = self.table.counts.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = counts.per_ip.get_mut(&self.ip) {
            *count -= 1;
            if *count == 0 {
                counts.per_ip.remove(&self.ip);
            }
            counts.total -= 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_ip_and_total_caps() {
        let table = Arc::new(ConnectionTable::default());
        let limits = ConnectionLimits { connections_max: 3, connections_per_ip_max: 2 };
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let first = table.admit(a, limits).unwrap();
        let _second = table.admit(a, limits).unwrap();
        assert!(table.admit(a, limits).unwrap_err().summary().contains("[192.0.2.1]"));
        let _third = table.admit(b, limits).unwrap();
        assert!(
            table.admit(b, limits).unwrap_err().summary().starts_with("421 4.7.0 Too many connections to")
        );
        drop(first);
        assert_eq!(table.total(), 2);
        assert!(table.admit(b, limits).is_ok());
    }
}
