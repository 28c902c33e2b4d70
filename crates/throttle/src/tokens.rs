//! Sluice's own throttle reason tokens (`ASnnn`): the one table the gateway formats replies
//! from (`451 <enhanced> <reason> from [IP]. (ASnnn) <retry hint>`) and admins read.

use std::fmt;

/// A throttle reason token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AsToken {
    /// New sender over its probation allowance.
    As501,
    /// Established sender surging over its own history.
    As502,
    /// Network prefix aggregate over its allowance.
    As503,
    /// Sender over the level of a recurring peak it has established.
    As504,
    /// Network rotating through many new addresses.
    As505,
}

/// One row of the token table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AsRule {
    /// The token.
    pub token: AsToken,
    /// `ASnnn`, as it appears in the reply.
    pub name: &'static str,
    /// RFC 3463 enhanced status code of the `451` reply.
    pub enhanced: &'static str,
    /// Short reason for the SMTP reply text.
    pub reason: &'static str,
    /// The exact rule that triggers it.
    pub rule: &'static str,
    /// Help for the admin of the sending system.
    pub help: &'static str,
}

/// Every token, in order. The gateway, the help pages and `sluice throttle show` read this.
pub const AS_TABLE: [AsRule; 5] = [
    AsRule {
        token: AsToken::As501,
        name: "AS501",
        enhanced: "4.7.501",
        reason: "new sender over probation allowance",
        rule: "The IP was first seen less than probation_hours ago (or came back after \
               dormant_hours of silence) and its recipients exceed its allowance: \
               max(ip_floor_per_hour, growth_factor x established volume), with a bucket of \
               burst_minutes of allowance; the established volume grows by at most \
               daily_growth_max a day.",
        help: "Your server is new to this service. Send at a modest steady rate and grow it \
               over days, at most doubling a day; the allowance grows with mail accepted, \
               never with retries. Deferred mail is accepted when retried later.",
    },
    AsRule {
        token: AsToken::As502,
        name: "AS502",
        enhanced: "4.7.502",
        reason: "volume surge against own sending history",
        rule: "The IP is past probation and its recipients exceed growth_factor x its \
               established hourly volume. An established IP (one with an established volume \
               of at least established_min_per_hour) is judged on its own history alone, \
               without ip_floor_per_hour; the established volume grows by at most \
               daily_growth_max a day.",
        help: "This IP suddenly sends far more than it normally does, or grows faster than \
               doubling a day. If the surge is legitimate, spread it over several hours or \
               ramp it up over days; otherwise check the server for a compromised account or \
               open relay.",
    },
    AsRule {
        token: AsToken::As503,
        name: "AS503",
        enhanced: "4.7.503",
        reason: "network aggregate over allowance",
        rule: "The IP is not established and the recipients of all IPs in its network prefix \
               (/24 IPv4, /64 IPv6 by default) exceed the prefix allowance: \
               max(prefix_floor_per_hour, growth_factor x the prefix's established volume).",
        help: "Many addresses of your network send at once. Send through fewer, steadily used \
               IPs; a single IP with a history is judged on its own.",
    },
    AsRule {
        token: AsToken::As504,
        name: "AS504",
        enhanced: "4.7.504",
        reason: "volume above learned recurring peak",
        rule: "In a recurring busy period of this IP (the same hours on a weekday it was busy \
               on before, or on any day once busy on 3 weekdays) its recipients exceed \
               recurring_growth_factor x the level that recurring peak has reached.",
        help: "This IP has a recurring busy hour, but this one is much larger than before. \
               Grow recurring campaigns gradually or spread them over more hours.",
    },
    AsRule {
        token: AsToken::As505,
        name: "AS505",
        enhanced: "4.7.505",
        reason: "too many new addresses from this network",
        rule: "The IP is not established and its network prefix brought more than \
               prefix_new_ips_free new IPs (counted with a one-hour half-life): the prefix \
               allowance is divided among them (allowance x prefix_new_ips_free / new IPs) and \
               it is exhausted.",
        help: "Your network sends from many different, previously unseen addresses (address \
               rotation). Send from a small, stable set of IPs; a stable IP builds its own \
               history and is then judged on it.",
    },
];

impl AsToken {
    /// This token's row of [`AS_TABLE`].
    pub fn rule(self) -> &'static AsRule {
        let i = match self {
            AsToken::As501 => 0,
            AsToken::As502 => 1,
            AsToken::As503 => 2,
            AsToken::As504 => 3,
            AsToken::As505 => 4,
        };
        &AS_TABLE[i]
    }

    /// `ASnnn`.
    pub fn name(self) -> &'static str {
        self.rule().name
    }
}

impl fmt::Display for AsToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_consistent() {
        for (i, row) in AS_TABLE.iter().enumerate() {
            assert_eq!(row.token.rule(), row);
            assert_eq!(row.name.len(), 5);
            assert!(row.name.starts_with("AS"));
            assert!(row.enhanced.starts_with("4.7.5") || row.enhanced.starts_with("4.7.6"));
            assert_eq!(&row.enhanced[4..], &row.name[2..], "row {i}: code mirrors the token");
            assert!(!row.reason.is_empty() && !row.rule.is_empty() && !row.help.is_empty());
        }
    }
}
