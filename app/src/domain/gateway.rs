//! What the portal shows about the gateway instances following the change feed.

use serde::{Deserialize, Serialize};

/// Where the latest change to a key (or another row) is in effect.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Propagation {
    /// Running instances.
    pub instances: usize,
    /// Of those, how many have applied the change.
    pub applied: usize,
    /// How long after the change the slowest of them applied it.
    pub after_ms: Option<i64>,
}

impl Propagation {
    /// "In effect on 2 of 2 gateway instances after 38 ms".
    pub fn sentence(&self) -> String {
        let of = match self.instances {
            1 => "1 gateway instance".to_string(),
            n => format!("{n} gateway instances"),
        };
        match (self.applied, self.after_ms) {
            (0, _) => format!("Not yet in effect on any of {of}"),
            (n, Some(ms)) => format!("In effect on {n} of {of} after {ms} ms"),
            (n, None) => format!("In effect on {n} of {of}"),
        }
    }

    pub fn complete(&self) -> bool {
        self.applied >= self.instances
    }
}

/// One Keyport instance, as the admin pages list them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceStatus {
    pub id: String,
    /// The address it listens on.
    pub address: String,
    /// When it started, as the portal shows times.
    pub started: String,
    /// When it was last heard from (heartbeats come every second).
    pub seen_ms_ago: i64,
    pub running: bool,
    /// How many changes of the feed it has not applied yet.
    pub changes_behind: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_propagation_sentence() {
        let p = |instances, applied, after_ms| Propagation {
            instances,
            applied,
            after_ms,
        };
        assert_eq!(
            p(2, 2, Some(38)).sentence(),
            "In effect on 2 of 2 gateway instances after 38 ms"
        );
        assert_eq!(
            p(1, 1, Some(0)).sentence(),
            "In effect on 1 of 1 gateway instance after 0 ms"
        );
        assert_eq!(
            p(2, 0, None).sentence(),
            "Not yet in effect on any of 2 gateway instances"
        );
        assert!(p(2, 2, None).complete() && !p(2, 1, Some(5)).complete());
    }
}
