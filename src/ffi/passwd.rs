//! uid → user name, through the system's passwd database, with a process-wide cache.
//!
//! job_submit runs under slurmctld's read locks, and from Slurm 23.02 on several job_submit
//! calls run at once. A passwd lookup (LDAP/SSSD behind NSS) is the one thing there that can
//! take long, seconds on a slow directory, so answers are cached in [`UidNames`]:
//!
//! - a hit takes one shard's read lock, a hash lookup and a `String` clone: O(1) expected, and
//!   readers never wait for one another;
//! - a miss does the lookup with no lock held, then takes one shard's write lock for one
//!   insert: O(1) expected (amortised over the shard's growth), and the other shards' readers
//!   never notice;
//! - memory is bounded: each of the [`SHARDS`] shards holds at most `max_entries / SHARDS`
//!   names; an insert into a full shard empties that shard first (its old map is dropped after
//!   the lock is released), so the cache never holds more than `max_entries` names
//!   (for `max_entries >= SHARDS`). The uid hash spreads users evenly, so the shards fill
//!   together: past the bound the cache empties over the next few dozen new users, shard by
//!   shard, where the single map it replaces started over at once;
//! - a failed lookup is not cached: it may be an NSS hiccup (sssd/LDAP timeout), and a cached
//!   "no name" would silently drop the user's exemptions until slurmctld restarts.
//!
//! Two threads that miss on the same uid at once both do the lookup (nothing waits for a
//! lookup in progress); both insert the same answer. Names are never refreshed: users are
//! renamed rarely, an eviction or a restart refreshes them.

use std::collections::HashMap;
use std::ffi::c_char;
use std::sync::{LazyLock, PoisonError, RwLock};

use super::slurm::string_from;

/// How many names the process-wide cache keeps at most (over all shards).
pub const USER_CACHE_MAX: usize = 50_000;

/// Shards of a [`UidNames`]: a power of two, chosen by the top bits of a multiplicative hash
/// of the uid so that consecutive uids spread evenly.
pub const SHARDS: usize = 64;

/// The passwd lookup a [`UidNames`] uses by default.
pub type Lookup = fn(u32) -> Option<String>;

/// One shard, on its own cache line so that a writer on one shard does not slow down readers
/// of its neighbours through false sharing of the lock word.
#[repr(align(64))]
struct Shard(RwLock<HashMap<u32, String>>);

/// A bounded, sharded uid → name cache in front of a lookup function (see the module docs).
pub struct UidNames<F = Lookup> {
    shards: Box<[Shard]>,
    per_shard: usize,
    lookup: F,
}

impl UidNames {
    /// A cache of at most [`USER_CACHE_MAX`] names in front of [`user_name`] (getpwuid_r).
    pub fn new() -> Self {
        Self::with_lookup(user_name as Lookup)
    }
}

impl Default for UidNames {
    fn default() -> Self {
        Self::new()
    }
}

impl<F: Fn(u32) -> Option<String>> UidNames<F> {
    /// A cache of at most [`USER_CACHE_MAX`] names in front of `lookup`.
    pub fn with_lookup(lookup: F) -> Self {
        Self::with_lookup_and_capacity(lookup, USER_CACHE_MAX)
    }

    /// A cache in front of `lookup` holding at most `max_entries` names (at least one per
    /// shard: `SHARDS` when `max_entries` is smaller).
    pub fn with_lookup_and_capacity(lookup: F, max_entries: usize) -> Self {
        let shards = (0..SHARDS)
            .map(|_| Shard(RwLock::new(HashMap::new())))
            .collect();
        Self {
            shards,
            per_shard: (max_entries / SHARDS).max(1),
            lookup,
        }
    }

    fn shard(&self, uid: u32) -> &RwLock<HashMap<u32, String>> {
        // Fibonacci hashing: the top log2(SHARDS) bits of uid * 2^32/φ.
        let index = (uid.wrapping_mul(0x9E37_79B9) >> (32 - SHARDS.trailing_zeros())) as usize;
        &self.shards[index].0
    }

    /// The name for `uid`: from the cache, or from the lookup (then cached) when it is not
    /// there. `None` when the lookup finds no name; that answer is not cached.
    pub fn get(&self, uid: u32) -> Option<String> {
        let shard = self.shard(uid);
        // A poisoned lock only means a panic elsewhere while it was held; a HashMap stays
        // usable after a panic, and slurmctld must keep resolving names.
        if let Some(hit) = shard
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&uid)
        {
            return Some(hit.clone());
        }
        // No lock held here: the lookup may take seconds.
        let name = (self.lookup)(uid)?;
        let evicted = {
            let mut map = shard.write().unwrap_or_else(PoisonError::into_inner);
            let evicted = (map.len() >= self.per_shard && !map.contains_key(&uid))
                .then(|| std::mem::take(&mut *map));
            map.insert(uid, name.clone());
            evicted
        };
        // The evicted names are freed after the write lock is released.
        drop(evicted);
        Some(name)
    }

    /// How many names are cached now (a sum over the shards, not a snapshot).
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.0.read().unwrap_or_else(PoisonError::into_inner).len())
            .sum()
    }

    /// Whether no name is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The process-wide cache behind [`cached_user_name`].
static USER_CACHE: LazyLock<UidNames> = LazyLock::new(UidNames::new);

/// [`user_name`] through a process-wide [`UidNames`]; safe under concurrent calls.
pub fn cached_user_name(uid: u32) -> Option<String> {
    USER_CACHE.get(uid)
}

/// The user name for a uid, through the system's passwd database (getpwuid_r).
pub fn user_name(uid: u32) -> Option<String> {
    let mut buf = vec![0 as c_char; 1024];
    loop {
        // SAFETY: all-zero bytes are a valid `passwd` (null pointers, zero ids); getpwuid_r only
        // writes through the pointers we pass, which are valid for the sizes given.
        let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
        let mut result: *mut libc::passwd = std::ptr::null_mut();
        // SAFETY: see above; `buf` outlives the call and its length is passed.
        let rc =
            unsafe { libc::getpwuid_r(uid, &mut pwd, buf.as_mut_ptr(), buf.len(), &mut result) };
        if rc == libc::ERANGE && buf.len() < 1 << 20 {
            buf.resize(buf.len() * 4, 0);
            continue;
        }
        if rc != 0 || result.is_null() {
            return None;
        }
        // SAFETY: on success pw_name points into `buf`, NUL-terminated, still alive here.
        return unsafe { string_from(pwd.pw_name) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn fake(uid: u32) -> Option<String> {
        Some(format!("user{uid}"))
    }

    #[test]
    fn root_user_name_resolves() {
        assert_eq!(user_name(0).as_deref(), Some("root"));
        assert_eq!(cached_user_name(0).as_deref(), Some("root"));
        assert_eq!(cached_user_name(0).as_deref(), Some("root"));
        assert_eq!(cached_user_name(u32::MAX - 7), None);
    }

    #[test]
    fn hits_do_not_call_the_lookup_again() {
        let calls = AtomicUsize::new(0);
        let cache = UidNames::with_lookup(|uid| {
            calls.fetch_add(1, Ordering::Relaxed);
            fake(uid)
        });
        for _ in 0..3 {
            for uid in 1000..1100 {
                assert_eq!(cache.get(uid), fake(uid));
            }
        }
        assert_eq!(calls.load(Ordering::Relaxed), 100);
        assert_eq!(cache.len(), 100);
    }

    #[test]
    fn failed_lookups_are_retried_not_cached() {
        let calls = AtomicUsize::new(0);
        // Fails twice (an NSS hiccup), then answers.
        let cache = UidNames::with_lookup(|uid| {
            (calls.fetch_add(1, Ordering::Relaxed) >= 2).then(|| format!("user{uid}"))
        });
        assert_eq!(cache.get(42), None);
        assert_eq!(cache.get(42), None);
        assert!(cache.is_empty());
        assert_eq!(cache.get(42).as_deref(), Some("user42"));
        assert_eq!(cache.get(42).as_deref(), Some("user42"));
        assert_eq!(calls.load(Ordering::Relaxed), 3);
    }

    #[test]
    fn the_bound_holds() {
        let calls = AtomicUsize::new(0);
        let cache = UidNames::with_lookup_and_capacity(
            |uid| {
                calls.fetch_add(1, Ordering::Relaxed);
                fake(uid)
            },
            640,
        );
        for uid in 0..20_000 {
            assert_eq!(cache.get(uid), fake(uid));
            assert!(cache.len() <= 640);
            // The name just found is cached, even when its insert emptied its shard.
            assert_eq!(cache.get(uid), fake(uid));
        }
        assert_eq!(calls.load(Ordering::Relaxed), 20_000);
        assert_eq!(UidNames::with_lookup_and_capacity(fake, 0).per_shard, 1);
    }

    #[test]
    fn the_default_bound_holds() {
        let cache = UidNames::with_lookup(fake);
        for uid in 0..(3 * USER_CACHE_MAX as u32) {
            cache.get(uid);
            if uid % 1_000 == 0 {
                assert!(cache.len() <= USER_CACHE_MAX);
            }
        }
        assert!(cache.len() <= USER_CACHE_MAX);
        assert!(!cache.is_empty());
    }

    #[test]
    fn consecutive_uids_spread_over_all_shards() {
        let cache = UidNames::with_lookup(fake);
        for uid in 1000..1000 + 64 * 100 {
            cache.get(uid);
        }
        for shard in cache.shards.iter() {
            let n = shard.0.read().unwrap().len();
            assert!((50..=150).contains(&n), "{n}");
        }
    }

    fn hammer(cache: &UidNames<impl Fn(u32) -> Option<String> + Sync>, uids: u32) {
        assert!(uids.is_power_of_two());
        std::thread::scope(|s| {
            for t in 0..8u32 {
                s.spawn(move || {
                    for round in 0..4u32 {
                        for i in 0..uids {
                            // Each thread walks all the uids in its own order (`uids` a power
                            // of two: every odd multiplier is a permutation).
                            let uid = (i.wrapping_mul(2 * t + 1) + round * 7) % uids;
                            match uid % 10 {
                                // Unknown users: never a name, never cached.
                                9 => assert_eq!(cache.get(uid), None),
                                _ => assert_eq!(cache.get(uid), fake(uid)),
                            }
                        }
                    }
                });
            }
        });
    }

    fn fake_with_unknowns(uid: u32) -> Option<String> {
        (uid % 10 != 9).then(|| format!("user{uid}"))
    }

    #[test]
    fn concurrent_use_gives_consistent_answers() {
        let calls = AtomicUsize::new(0);
        let cache = UidNames::with_lookup(|uid| {
            calls.fetch_add(1, Ordering::Relaxed);
            fake_with_unknowns(uid)
        });
        let uids = 2_048;
        hammer(&cache, uids);
        let unknown = (0..uids).filter(|uid| uid % 10 == 9).count();
        let known = uids as usize - unknown;
        // Every known uid cached once; racing misses may look one up more than once; unknown
        // uids are looked up on every call.
        assert_eq!(cache.len(), known);
        let calls = calls.load(Ordering::Relaxed);
        assert!(calls >= known + 8 * 4 * unknown, "{calls}");
        assert!(calls <= 8 * 4 * uids as usize, "{calls}");
    }

    #[test]
    fn concurrent_use_with_evictions_gives_consistent_answers() {
        let cache = UidNames::with_lookup_and_capacity(fake_with_unknowns, 256);
        hammer(&cache, 4_096);
        assert!(cache.len() <= 256);
    }
}
