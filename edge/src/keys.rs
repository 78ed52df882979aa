//! The trusted key groups as the edge sees them: what was read from CloudFront, each change
//! visible only once the propagation delay has passed since it was read.
//!
//! CloudFront applies a configuration change at its edge locations over minutes, not at once;
//! until then an edge keeps serving the previous configuration:
//! <https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/HowToUpdateDistribution.html>

use std::collections::BTreeMap;
use std::sync::Arc;

use cfcookie_signer::{KeyGroup, PublicKey};

/// One key group as read: key id → public key PEM (as CloudFront returns it).
pub(crate) type GroupKeys = BTreeMap<String, String>;

/// Every trusted key group as read at one moment: group id → its keys.
pub type Snapshot = BTreeMap<String, GroupKeys>;

/// The key groups over time: the snapshot in force, and later ones still propagating.
#[derive(Debug, Clone)]
pub struct KeyView {
    delay_secs: i64,
    /// (visible from, epoch seconds; snapshot; its parsed groups), oldest first.
    entries: Vec<(i64, Snapshot, Arc<Parsed>)>,
}

/// A snapshot's keys parsed once: group id → (key id, key).
#[derive(Debug, Default)]
pub struct Parsed {
    groups: BTreeMap<String, Vec<(String, PublicKey)>>,
}

impl Parsed {
    fn from_snapshot(snapshot: &Snapshot) -> Parsed {
        let mut groups = BTreeMap::new();
        for (group_id, keys) in snapshot {
            let mut parsed = Vec::new();
            for (key_id, pem) in keys {
                match PublicKey::from_pem(pem) {
                    Ok(key) => parsed.push((key_id.clone(), key)),
                    // A key that does not parse trusts nothing, as an unusable key would.
                    Err(e) => tracing::warn!(key_id, error = %e, "public key does not parse"),
                }
            }
            groups.insert(group_id.clone(), parsed);
        }
        Parsed { groups }
    }

    /// One key group made of every key the given groups hold: a behavior trusts a signature
    /// by any key of any of its trusted key groups.
    /// <https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/private-content-trusted-signers.html>
    pub fn union(&self, group_ids: &[String]) -> KeyGroup {
        let mut out = KeyGroup::new();
        for id in group_ids {
            for (key_id, key) in self.groups.get(id).into_iter().flatten() {
                out.insert(key_id.clone(), key.clone());
            }
        }
        out
    }
}

impl KeyView {
    /// The first reading, at `now`: in force at once (the distribution was deployed with it).
    pub fn new(first: Snapshot, now: i64, delay_secs: u64) -> KeyView {
        let parsed = Arc::new(Parsed::from_snapshot(&first));
        KeyView {
            delay_secs: i64::try_from(delay_secs).unwrap_or(i64::MAX),
            entries: vec![(now, first, parsed)],
        }
    }

    /// A later reading at `now`. A change from the last reading becomes visible at
    /// `now + delay`; an unchanged reading changes nothing.
    pub fn observe(&mut self, snapshot: Snapshot, now: i64) {
        if self.entries.last().is_some_and(|(_, s, _)| *s == snapshot) {
            return;
        }
        let parsed = Arc::new(Parsed::from_snapshot(&snapshot));
        self.entries
            .push((now.saturating_add(self.delay_secs), snapshot, parsed));
    }

    /// The keys in force at `now`: the newest reading whose visible time has come. Older
    /// readings are dropped.
    pub fn at(&mut self, now: i64) -> Arc<Parsed> {
        self.advance(now);
        self.entries[0].2.clone()
    }

    fn advance(&mut self, now: i64) {
        let current = self
            .entries
            .iter()
            .rposition(|(from, _, _)| *from <= now)
            .unwrap_or(0);
        self.entries.drain(..current);
    }

    #[cfg(test)]
    fn snapshot_at(&mut self, now: i64) -> &Snapshot {
        self.advance(now);
        &self.entries[0].1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(keys: &[&str]) -> Snapshot {
        let mut group = GroupKeys::new();
        for k in keys {
            group.insert((*k).to_owned(), String::new());
        }
        Snapshot::from([("g".to_owned(), group)])
    }

    fn ids(view: &mut KeyView, now: i64) -> Vec<String> {
        view.snapshot_at(now)["g"].keys().cloned().collect()
    }

    #[test]
    fn a_change_shows_after_the_delay() {
        let mut view = KeyView::new(snap(&["K1", "K2"]), 100, 30);
        assert_eq!(ids(&mut view, 100), ["K1", "K2"]);
        view.observe(snap(&["K2"]), 110);
        assert_eq!(ids(&mut view, 139), ["K1", "K2"], "still propagating");
        assert_eq!(ids(&mut view, 140), ["K2"]);
    }

    #[test]
    fn an_unchanged_reading_does_not_restart_the_delay() {
        let mut view = KeyView::new(snap(&["K1"]), 0, 10);
        view.observe(snap(&["K2"]), 5);
        view.observe(snap(&["K2"]), 9);
        assert_eq!(ids(&mut view, 15), ["K2"]);
    }

    #[test]
    fn zero_delay_is_immediate() {
        let mut view = KeyView::new(snap(&["K1"]), 0, 0);
        view.observe(snap(&["K3"]), 7);
        assert_eq!(ids(&mut view, 7), ["K3"]);
    }
}
