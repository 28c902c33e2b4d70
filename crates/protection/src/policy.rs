//! The outbound protection policy: one typed, serde-deserialisable struct with documented
//! defaults. Limits are per rolling window; the unit is in each field's name.

use serde::Deserialize;

/// Tunable outbound protection policy. Every field has a default (see [`Policy::default`]);
/// a config file names only what it changes, and an unknown key is an error.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Policy {
    /// `5.7.750`: messages per tenant per rolling 24 h whose sender domain is not one of the
    /// tenant's verified domains. Default 10: enough for a forgotten test mailbox, not for
    /// a business.
    pub unregistered_sender_messages_per_day: u32,
    /// `5.7.751`: recipients per tenant per rolling 24 h of mail sent from the tenant's
    /// initial service domain `<tenant>.<service domain>`. Default 100.
    pub service_domain_recipients_per_day: u32,
    /// `4.7.752`: recipients per sender address per rolling hour. Default 1,000.
    pub sender_recipients_per_hour: u32,
    /// `4.7.752`: recipients per sender address per rolling 24 h. Default 10,000.
    pub sender_recipients_per_day: u32,
    /// `5.7.705`: the window, in seconds, over which the share of spam/bulk-judged messages
    /// is measured (also the window of the bulk fingerprints and of the bounce rate).
    /// Default 3,600. At least 60.
    pub threshold_window_s: u64,
    /// No trip before the window holds this many messages of the tenant. Default 50.
    pub threshold_messages_min: u32,
    /// Nor, by recipients, before the window holds this many recipients of the tenant's
    /// messages. Default 1,000. The second measure exists because counting messages alone
    /// lets 49 messages of 1,000 Bcc recipients each through every hour: the same mail is
    /// judged the same whether it is sent as one copy per recipient or as a few with many.
    pub threshold_recipients_min: u32,
    /// The tenant trips when more than this share of its messages in the window, or of
    /// their recipients, were judged spam or bulk. Default 0.5.
    pub threshold_share: f32,
    /// A message is bulk when its body fingerprint has reached this many recipients of the
    /// tenant in the window (this message's included), so one message to this many
    /// recipients is bulk by itself. Default 100.
    pub bulk_recipients_min: u32,
    /// A message is part of a volume surge when the tenant's recipients in the last hour
    /// exceed this factor times its established hourly volume. Default 10.
    pub volume_factor: f32,
    /// The established hourly volume never counts as less than this (recipients per hour),
    /// so a quiet tenant may still send `volume_factor` x this. Default 50 (so 500 an hour).
    pub volume_floor_recipients_per_hour: f32,
    /// Hours a tenant must have been seen before the volume signal judges it: a tenant
    /// without history has no established level to surge above. Default 24.
    pub volume_history_hours_min: u32,
    /// A message is judged (bounce signal) while the tenant's bounce rate over the window
    /// exceeds this share of its delivery outcomes. Default 0.2.
    pub bounce_rate_max: f32,
    /// The bounce rate is not judged on fewer outcomes than this in the window. Default 50.
    pub bounce_outcomes_min: u32,
    /// A message is spam when the scorer gives it at least this score (0.0 ham .. 1.0 spam).
    /// Default 0.6 (see `HeuristicScorer` for what reaches it).
    pub spam_score_min: f32,
    /// Capacity of the per-sender-address rate table, across all tenants. Default 100,000
    /// (about 30 MB with ordinary addresses, 60 MB if every one is 320 bytes long). When full, idle senders go first, then those with the fewest
    /// recipients today, so flooding the table with fresh addresses evicts the flood.
    pub senders_max: usize,
    /// Capacity of the body fingerprint table, across all tenants. Default 100,000 (about
    /// 10 MB). When full, expired fingerprints go first, then those with the fewest
    /// recipients: random one-off bodies evict each other, not a real bulk run.
    pub fingerprints_max: usize,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            unregistered_sender_messages_per_day: 10,
            service_domain_recipients_per_day: 100,
            sender_recipients_per_hour: 1_000,
            sender_recipients_per_day: 10_000,
            threshold_window_s: 3_600,
            threshold_messages_min: 50,
            threshold_recipients_min: 1_000,
            threshold_share: 0.5,
            bulk_recipients_min: 100,
            volume_factor: 10.0,
            volume_floor_recipients_per_hour: 50.0,
            volume_history_hours_min: 24,
            bounce_rate_max: 0.2,
            bounce_outcomes_min: 50,
            spam_score_min: 0.6,
            senders_max: 100_000,
            fingerprints_max: 100_000,
        }
    }
}

/// A policy value outside its meaningful range.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("invalid protection policy: {field} {problem}")]
pub struct PolicyError {
    /// The offending field.
    pub field: &'static str,
    /// What is wrong with it.
    pub problem: &'static str,
}

fn check(ok: bool, field: &'static str, problem: &'static str) -> Result<(), PolicyError> {
    if ok { Ok(()) } else { Err(PolicyError { field, problem }) }
}

fn share(v: f32) -> bool {
    v.is_finite() && v > 0.0 && v <= 1.0
}

impl Policy {
    /// Checks every field. The config loader calls this; [`crate::Protection`] never
    /// panics on a policy that fails it, but its decisions then follow the odd value
    /// (a zero limit refuses everything, for example).
    pub fn validate(&self) -> Result<(), PolicyError> {
        check(self.threshold_window_s >= 60, "threshold_window_s", "must be at least 60")?;
        check(share(self.threshold_share), "threshold_share", "must be in (0, 1]")?;
        check(share(self.bounce_rate_max), "bounce_rate_max", "must be in (0, 1]")?;
        check(share(self.spam_score_min), "spam_score_min", "must be in (0, 1]")?;
        check(self.threshold_messages_min >= 1, "threshold_messages_min", "must be at least 1")?;
        check(self.threshold_recipients_min >= 1, "threshold_recipients_min", "must be at least 1")?;
        check(self.bulk_recipients_min >= 2, "bulk_recipients_min", "must be at least 2")?;
        check(
            self.volume_factor.is_finite() && self.volume_factor >= 1.0,
            "volume_factor",
            "must be at least 1",
        )?;
        let floor = self.volume_floor_recipients_per_hour;
        check(floor.is_finite() && floor > 0.0, "volume_floor_recipients_per_hour", "must be positive")?;
        check(
            self.sender_recipients_per_hour <= self.sender_recipients_per_day,
            "sender_recipients_per_hour",
            "must not exceed sender_recipients_per_day",
        )?;
        check(self.senders_max >= 1, "senders_max", "must be at least 1")?;
        check(self.fingerprints_max >= 1, "fingerprints_max", "must be at least 1")?;
        Ok(())
    }

    /// The threshold window, never below 60 s, so a nonsensical value cannot divide by zero.
    pub(crate) fn window_s(&self) -> u64 {
        self.threshold_window_s.max(60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_a_config_names_only_what_it_changes() {
        assert_eq!(Policy::default().validate(), Ok(()));
        let p: Policy =
            toml::from_str("sender_recipients_per_hour = 200\nthreshold_share = 0.3").expect("toml");
        assert_eq!(p.sender_recipients_per_hour, 200);
        assert_eq!(p.threshold_share, 0.3);
        assert_eq!(p.sender_recipients_per_day, 10_000);
        assert_eq!(p.unregistered_sender_messages_per_day, 10);
    }

    /// The defaults PRODUCT.md and the crate documentation promise.
    #[test]
    fn defaults_are_the_documented_ones() {
        let p = Policy::default();
        let limits = (
            p.unregistered_sender_messages_per_day,
            p.service_domain_recipients_per_day,
            p.sender_recipients_per_hour,
            p.sender_recipients_per_day,
        );
        assert_eq!(limits, (10, 100, 1_000, 10_000));
        let threshold =
            (p.threshold_window_s, p.threshold_messages_min, p.threshold_recipients_min, p.threshold_share);
        assert_eq!(threshold, (3_600, 50, 1_000, 0.5));
        assert_eq!(
            (p.bulk_recipients_min, p.volume_factor, p.volume_floor_recipients_per_hour),
            (100, 10.0, 50.0)
        );
        assert_eq!((p.volume_history_hours_min, p.bounce_rate_max, p.bounce_outcomes_min), (24, 0.2, 50));
        assert_eq!((p.spam_score_min, p.senders_max, p.fingerprints_max), (0.6, 100_000, 100_000));
    }

    #[test]
    fn unknown_keys_and_bad_values_are_refused() {
        let err = toml::from_str::<Policy>("sender_recipients_per_hr = 5").expect_err("unknown key");
        assert!(err.to_string().contains("sender_recipients_per_hr"), "{err}");
        let bad = Policy { threshold_share: 1.5, ..Policy::default() };
        assert_eq!(bad.validate().map_err(|e| e.field), Err("threshold_share"));
        let bad = Policy { threshold_window_s: 10, ..Policy::default() };
        assert_eq!(
            bad.validate().map_err(|e| e.to_string()),
            Err("invalid protection policy: threshold_window_s must be at least 60".into())
        );
        let bad = Policy { sender_recipients_per_hour: 20_000, ..Policy::default() };
        assert_eq!(bad.validate().map_err(|e| e.field), Err("sender_recipients_per_hour"));
    }
}
