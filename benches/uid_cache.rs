//! Filling the uid → name cache with N distinct users through a fake lookup: the sharded
//! `rci::ffi::passwd::UidNames` (O(1) per insert, so the time per user should stay flat as N
//! grows) against the arc-swap map it replaces, re-implemented here, whose `rcu` clones the
//! whole map on every miss (O(n) per insert, O(n²) to fill).
//!
//! Run with `cargo bench --bench uid_cache -- --sample-size 10`. Criterion reports the time
//! per fill and, with the throughput set to N, users per second.

use std::collections::HashMap;
use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use criterion::{
    criterion_group, criterion_main, BenchmarkId, Criterion, SamplingMode, Throughput,
};
use rci::ffi::passwd::{UidNames, USER_CACHE_MAX};

/// First uid of the fake users (where sites usually start theirs).
const FIRST_UID: u32 = 10_000;

/// A lookup that always finds a name, at the cost of one small allocation.
fn fake(uid: u32) -> Option<String> {
    Some(format!("user{uid}"))
}

/// The cache this replaces (src/ffi/job_submit.rs before the switch): a lock-free map that
/// every miss copies whole, inserts into and swaps in with `rcu`; it starts over when full.
struct ArcSwapNames {
    map: ArcSwap<HashMap<u32, String>>,
    max: usize,
}

impl ArcSwapNames {
    fn new(max: usize) -> Self {
        Self {
            map: ArcSwap::from_pointee(HashMap::new()),
            max,
        }
    }

    fn get(&self, uid: u32) -> Option<String> {
        if let Some(hit) = self.map.load().get(&uid) {
            return Some(hit.clone());
        }
        let name = fake(uid)?;
        self.map.rcu(|map: &Arc<HashMap<u32, String>>| {
            let mut map = if map.len() >= self.max {
                HashMap::new()
            } else {
                HashMap::clone(map)
            };
            map.insert(uid, name.clone());
            map
        });
        Some(name)
    }
}

fn fill_sharded(n: u32) -> UidNames<fn(u32) -> Option<String>> {
    let cache = UidNames::with_lookup(fake as fn(u32) -> Option<String>);
    for uid in FIRST_UID..FIRST_UID + n {
        black_box(cache.get(uid));
    }
    cache
}

fn fill_arc_swap(n: u32) -> ArcSwapNames {
    let cache = ArcSwapNames::new(USER_CACHE_MAX);
    for uid in FIRST_UID..FIRST_UID + n {
        black_box(cache.get(uid));
    }
    cache
}

fn fill(c: &mut Criterion) {
    let mut group = c.benchmark_group("uid_cache_fill");
    group
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    for n in [1_562u32, 3_125, 6_250, 12_500, 25_000, 50_000] {
        group.throughput(Throughput::Elements(n.into()));
        group.bench_with_input(BenchmarkId::new("sharded", n), &n, |b, &n| {
            b.iter(|| fill_sharded(n))
        });
    }
    group.finish();

    // The old map takes seconds per fill from about 10,000 users on: one iteration per
    // sample, and only the sizes that fit a short run.
    let mut group = c.benchmark_group("uid_cache_fill");
    group
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_millis(1))
        .measurement_time(Duration::from_secs(1));
    for n in [1_562u32, 3_125, 6_250, 12_500] {
        group.throughput(Throughput::Elements(n.into()));
        group.bench_with_input(BenchmarkId::new("arc_swap_rcu", n), &n, |b, &n| {
            b.iter(|| fill_arc_swap(n))
        });
    }
    group.finish();
}

fn hit(c: &mut Criterion) {
    let n = USER_CACHE_MAX as u32 - 1_000;
    let sharded = fill_sharded(n);
    let old = fill_arc_swap(12_500);
    let mut group = c.benchmark_group("uid_cache_hit");
    group
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(1));
    let mut uid = FIRST_UID;
    group.bench_function("sharded", |b| {
        b.iter(|| {
            uid = FIRST_UID + (uid + 7_919 - FIRST_UID) % 12_500;
            black_box(sharded.get(black_box(uid)))
        })
    });
    group.bench_function("arc_swap_rcu", |b| {
        b.iter(|| {
            uid = FIRST_UID + (uid + 7_919 - FIRST_UID) % 12_500;
            black_box(old.get(black_box(uid)))
        })
    });
    group.finish();
}

criterion_group!(benches, fill, hit);
criterion_main!(benches);
