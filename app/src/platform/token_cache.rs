//! The service tokens recently found live, so that a gateway's verification does not look
//! its token up each time.

/// How long a positive answer is reused without a lookup: a revocation reaches this
/// instance at once and other instances within this time.
pub const CACHE_MS: i64 = 10_000;

/// Service tokens recently found live, by digest: the verify hot path then does no
/// lookup of its own for the token. Each revocation on this instance starts a new
/// generation: a lookup that began before it cannot put its (now revoked) token back.
#[derive(Debug, Default)]
pub struct TokenCache {
    live: std::sync::Mutex<std::collections::HashMap<String, (String, i64)>>,
    generation: std::sync::atomic::AtomicU64,
}

impl TokenCache {
    pub(crate) fn get(&self, digest: &str, now: i64) -> Option<String> {
        let map = self.live.lock().unwrap_or_else(|e| e.into_inner());
        map.get(digest)
            .filter(|(_, at)| now - at < CACHE_MS && now >= *at)
            .map(|(id, _)| id.clone())
    }

    /// The generation a lookup starts in.
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Keeps a token found live by a lookup that started in `generation`, unless a
    /// revocation came since.
    pub(crate) fn put(&self, digest: String, id: String, now: i64, generation: u64) {
        let mut map = self.live.lock().unwrap_or_else(|e| e.into_inner());
        if self.generation() != generation {
            return;
        }
        if map.len() > 10_000 {
            map.clear();
        }
        map.insert(digest, (id, now));
    }

    pub fn clear(&self) {
        let mut map = self.live.lock().unwrap_or_else(|e| e.into_inner());
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        map.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lookup_that_began_before_a_revocation_is_not_cached() {
        let cache = TokenCache::default();
        let before = cache.generation();
        cache.clear(); // a revocation while the lookup was reading the row
        cache.put("d".into(), "id".into(), 1, before);
        assert_eq!(cache.get("d", 2), None);
        cache.put("d".into(), "id".into(), 1, cache.generation());
        assert_eq!(cache.get("d", 2).as_deref(), Some("id"));
    }
}
