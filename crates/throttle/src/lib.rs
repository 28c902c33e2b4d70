//! placeholder

mod engine;
mod key;
mod persist;
mod policy;
mod record;
pub mod scenarios;
pub mod sim;
mod table;
mod tokens;

pub use engine::{Core, Decision, Deferral, Engine, Explanation, KeyState, Timestamp, Verdict};
pub use key::ThrottleKey;
pub use persist::{RestoreError, SnapshotKind};
pub use policy::{Cidr, CidrError, Policy, PolicyError};
pub use tokens::{AS_TABLE, AsRule, AsToken};
