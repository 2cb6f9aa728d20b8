//! CPU and DRAM energy from Linux powercap RAPL zones.
//!
//! Zones are `<sysfs>/class/powercap/intel-rapl:N` (packages, or `psys`) and
//! `intel-rapl:N:M` (their `core`, `uncore`, `dram` sub-zones); AMD exposes packages (and core)
//! only, under the same `intel-rapl` name. Each zone has a µJ counter `energy_uj` that wraps to 0
//! after `max_energy_range_uj` (≈ 262 kJ on Intel, ≈ 65 kJ on AMD EPYC: minutes at full power),
//! so a start/end difference is wrong for long jobs. [`RaplMeter`] samples often enough to see
//! every wrap and accumulates the deltas in a `u64`; the energy meter (`super::EnergyMeter`)
//! samples it in its background thread together with the GPUs.
//!
//! `energy_uj` is readable by root only since Linux 5.10 (CVE-2020-8694). A zone that cannot be
//! read becomes a domain with an `unavailable` reason: accounting never fails a job.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::sampler::Sampling;

/// Energy of one RAPL domain over the measured interval.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomainEnergy {
    /// `cpu-package-N`, `dram-N`, `core-N`, `uncore-N`, `psys`, or `cpu` when the node has no
    /// RAPL zone at all.
    pub domain: String,
    /// Energy in µJ, all wraps accounted for; `None` when unavailable.
    pub microjoules: Option<u64>,
    /// Counter wraps seen.
    pub wraps: u32,
    /// Whether the domain counts towards the job's total (packages and DRAM; core, uncore and
    /// psys overlap with them and do not).
    pub in_total: bool,
    /// Why `microjoules` is `None`.
    pub unavailable: Option<String>,
}

/// Highest package power we assume when capping the sampling interval, in watts. Real packages
/// stay well below; the margin keeps at least two samples per wrap period.
const ASSUMED_MAX_WATTS: u64 = 1000;

/// A zone being counted.
#[derive(Debug)]
struct Counter {
    energy_path: PathBuf,
    /// The counter runs 0..=max_range_uj, then wraps to 0.
    max_range_uj: u64,
    prev_uj: u64,
    total_uj: u64,
    wraps: u32,
}

impl Counter {
    /// Adds the energy since the previous reading. A reading below the previous one is a wrap:
    /// the counter went up to `max_range_uj`, to 0, then on to `now` (at most one wrap per
    /// sample, which the sampling interval guarantees).
    fn advance(&mut self, now_uj: u64) {
        let delta = if now_uj >= self.prev_uj {
            now_uj - self.prev_uj
        } else {
            self.wraps = self.wraps.saturating_add(1);
            self.max_range_uj
                .saturating_sub(self.prev_uj)
                .saturating_add(now_uj)
                .saturating_add(1)
        };
        self.total_uj = self.total_uj.saturating_add(delta);
        self.prev_uj = now_uj;
    }

    fn sample(&mut self) {
        // A failed read mid-job skips this sample; the next good one catches up (a wrap in
        // between is still seen as long as the counter did not pass its previous value).
        if let Ok(now) = read_u64(&self.energy_path) {
            self.advance(now);
        }
    }
}

#[derive(Debug)]
enum ZoneState {
    Counting(Counter),
    Unavailable(String),
}

#[derive(Debug)]
struct Zone {
    domain: String,
    in_total: bool,
    /// The zone's sysfs directory (`None` for the stand-in of a node without zones).
    dir: Option<PathBuf>,
    state: ZoneState,
}

/// One zone as [`RaplMeter::zones`] describes it, for `rci doctor`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZoneInfo {
    /// Our domain name (`cpu-package-0`, `dram-0`, …).
    pub domain: String,
    /// The zone's sysfs directory, when there is a zone.
    pub dir: Option<PathBuf>,
    /// `max_energy_range_uj`: the counter wraps after this many µJ.
    pub max_range_uj: Option<u64>,
    /// Why the zone cannot be counted.
    pub unavailable: Option<String>,
}

/// Counts energy of every RAPL zone of the node. Call [`sample_once`](Self::sample_once) at an
/// interval shorter than the wrap period, then [`finish`](Self::finish).
#[derive(Debug)]
pub struct RaplMeter {
    zones: Vec<Zone>,
}

fn read_u64(path: &Path) -> io::Result<u64> {
    let text = fs::read_to_string(path)?;
    text.trim()
        .parse()
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("{e}")))
}

fn read_error(path: &Path, err: &io::Error) -> String {
    let hint = if err.kind() == io::ErrorKind::PermissionDenied {
        " (RAPL counters are root-only since Linux 5.10)"
    } else {
        ""
    };
    format!("cannot read {}: {err}{hint}", path.display())
}

/// `intel-rapl:N` → `(N, None)`, `intel-rapl:N:M` → `(N, Some(M))`.
fn zone_ids(file_name: &str) -> Option<(u32, Option<u32>)> {
    let rest = file_name.strip_prefix("intel-rapl:")?;
    let mut parts = rest.split(':');
    let top = parts.next()?.parse().ok()?;
    let sub = match parts.next() {
        Some(m) => Some(m.parse().ok()?),
        None => None,
    };
    if parts.next().is_some() {
        return None;
    }
    Some((top, sub))
}

/// Our domain name for a zone, and whether it counts towards the total. `package_index` is the
/// socket number of the zone's package (from `package-K`), used to number sub-zones.
fn domain_for(zone_name: &str, package_index: u32, is_sub: bool) -> Option<(String, bool)> {
    if let Some(k) = zone_name.strip_prefix("package-") {
        let k: u32 = k.parse().ok()?;
        return (!is_sub).then(|| (format!("cpu-package-{k}"), true));
    }
    match zone_name {
        "dram" => Some((format!("dram-{package_index}"), true)),
        "core" => Some((format!("core-{package_index}"), false)),
        "uncore" => Some((format!("uncore-{package_index}"), false)),
        "psys" if !is_sub => Some(("psys".to_owned(), false)),
        _ => None,
    }
}

fn open_counter(zone_dir: &Path) -> ZoneState {
    let energy_path = zone_dir.join("energy_uj");
    let range_path = zone_dir.join("max_energy_range_uj");
    let max_range_uj = match read_u64(&range_path) {
        Ok(v) if v > 0 => v,
        Ok(_) => return ZoneState::Unavailable(format!("{} is 0", range_path.display())),
        Err(e) => return ZoneState::Unavailable(read_error(&range_path, &e)),
    };
    match read_u64(&energy_path) {
        Ok(now) => ZoneState::Counting(Counter {
            energy_path,
            max_range_uj,
            prev_uj: now,
            total_uj: 0,
            wraps: 0,
        }),
        Err(e) => ZoneState::Unavailable(read_error(&energy_path, &e)),
    }
}

impl RaplMeter {
    /// Discovers the zones under `<sysfs_root>/class/powercap` and takes the first reading.
    /// Never fails: missing or unreadable zones become unavailable domains.
    pub fn open(sysfs_root: &Path) -> RaplMeter {
        let class_dir = sysfs_root.join("class/powercap");
        let entries = match fs::read_dir(&class_dir) {
            Ok(entries) => entries,
            Err(e) => {
                return Self::no_zones(format!(
                    "no RAPL powercap zones: {}",
                    read_error(&class_dir, &e)
                ))
            }
        };
        let rapl_entries = |entries: fs::ReadDir| -> Vec<((u32, Option<u32>), PathBuf)> {
            entries
                .filter_map(Result::ok)
                .filter_map(|entry| {
                    let name = entry.file_name();
                    let ids = zone_ids(name.to_str()?)?;
                    Some((ids, entry.path()))
                })
                .collect()
        };
        let mut found = rapl_entries(entries);
        // In /sys/class/powercap every zone, sub-zones included, is a top-level link. The
        // device tree behind it (and a SysfsRoot copied from it) nests sub-zones inside their
        // package's directory: look there too, so both layouts give the same domains.
        let nested: Vec<_> = found
            .iter()
            .filter(|((_, sub), _)| sub.is_none())
            .filter_map(|(_, dir)| fs::read_dir(dir).ok())
            .flat_map(rapl_entries)
            .filter(|((top, sub), dir)| {
                sub.is_some()
                    && dir
                        .parent()
                        .and_then(Path::file_name)
                        .and_then(|n| n.to_str())
                        == Some(&format!("intel-rapl:{top}"))
            })
            .collect();
        for (ids, dir) in nested {
            if !found.iter().any(|(known, _)| *known == ids) {
                found.push((ids, dir));
            }
        }
        found.sort();
        let zone_name = |dir: &Path| -> Option<String> {
            fs::read_to_string(dir.join("name"))
                .ok()
                .map(|s| s.trim().to_owned())
        };
        let mut zones: Vec<Zone> = Vec::new();
        for ((top, sub), dir) in &found {
            let Some(name) = zone_name(dir) else { continue };
            let package_index = match sub {
                None => name
                    .strip_prefix("package-")
                    .and_then(|k| k.parse().ok())
                    .unwrap_or(*top),
                Some(_) => zone_name(&class_dir.join(format!("intel-rapl:{top}")))
                    .and_then(|n| n.strip_prefix("package-").and_then(|k| k.parse().ok()))
                    .unwrap_or(*top),
            };
            let Some((domain, in_total)) = domain_for(&name, package_index, sub.is_some()) else {
                continue;
            };
            if zones.iter().any(|z| z.domain == domain) {
                continue;
            }
            zones.push(Zone {
                domain,
                in_total,
                dir: Some(dir.clone()),
                state: open_counter(dir),
            });
        }
        if zones.is_empty() {
            return Self::no_zones(format!(
                "no RAPL powercap zones under {}",
                class_dir.display()
            ));
        }
        RaplMeter { zones }
    }

    fn no_zones(reason: String) -> RaplMeter {
        RaplMeter {
            zones: vec![Zone {
                domain: "cpu".to_owned(),
                in_total: true,
                dir: None,
                state: ZoneState::Unavailable(reason),
            }],
        }
    }

    /// The domains being counted, and those unavailable with the reason, for the log.
    pub fn summary(&self) -> String {
        self.zones
            .iter()
            .map(|z| match &z.state {
                ZoneState::Counting(_) => z.domain.clone(),
                ZoneState::Unavailable(why) => format!("{} unavailable ({why})", z.domain),
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Every zone found, with its wrap range or why it cannot be read.
    pub fn zones(&self) -> Vec<ZoneInfo> {
        self.zones
            .iter()
            .map(|z| ZoneInfo {
                domain: z.domain.clone(),
                dir: z.dir.clone(),
                max_range_uj: match &z.state {
                    ZoneState::Counting(c) => Some(c.max_range_uj),
                    ZoneState::Unavailable(_) => None,
                },
                unavailable: match &z.state {
                    ZoneState::Counting(_) => None,
                    ZoneState::Unavailable(why) => Some(why.clone()),
                },
            })
            .collect()
    }

    /// Reads every counter once and accumulates the energy since the previous reading.
    pub fn sample_once(&mut self) {
        for zone in &mut self.zones {
            if let ZoneState::Counting(c) = &mut zone.state {
                c.sample();
            }
        }
    }

    /// The longest interval that still sees every wrap: half the wrap period at
    /// an assumed 1 kW, at least one second; `None` when nothing is being counted.
    pub fn max_safe_interval(&self) -> Option<Duration> {
        self.zones
            .iter()
            .filter_map(|z| match &z.state {
                ZoneState::Counting(c) => Some(c.max_range_uj),
                ZoneState::Unavailable(_) => None,
            })
            .min()
            .map(|range_uj| {
                let secs = range_uj / (ASSUMED_MAX_WATTS * 1_000_000) / 2;
                Duration::from_secs(secs.max(1))
            })
    }

    /// Takes a final reading and returns the energy of every domain.
    pub fn finish(mut self) -> Vec<DomainEnergy> {
        self.sample_once();
        self.zones
            .into_iter()
            .map(|zone| match zone.state {
                ZoneState::Counting(c) => DomainEnergy {
                    domain: zone.domain,
                    microjoules: Some(c.total_uj),
                    wraps: c.wraps,
                    in_total: zone.in_total,
                    unavailable: None,
                },
                ZoneState::Unavailable(reason) => DomainEnergy {
                    domain: zone.domain,
                    microjoules: None,
                    wraps: 0,
                    in_total: zone.in_total,
                    unavailable: Some(reason),
                },
            })
            .collect()
    }
}

impl Sampling for RaplMeter {
    type Output = Vec<DomainEnergy>;

    fn sample(&mut self) {
        self.sample_once();
    }

    fn max_interval(&self) -> Option<Duration> {
        self.max_safe_interval()
    }

    fn finish(self) -> Vec<DomainEnergy> {
        RaplMeter::finish(self)
    }

    fn lost(reason: &str) -> Vec<DomainEnergy> {
        RaplMeter::no_zones(reason.to_owned()).finish()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::super::sampler::Background;
    use super::*;
    use std::fs;

    /// A fake `/sys` with RAPL zones. Counters are set with [`FakeSysfs::set`].
    pub(crate) struct FakeSysfs {
        pub(crate) dir: tempfile::TempDir,
    }

    impl FakeSysfs {
        pub(crate) fn new() -> FakeSysfs {
            let dir = tempfile::tempdir().unwrap();
            fs::create_dir_all(dir.path().join("class/powercap")).unwrap();
            FakeSysfs { dir }
        }

        pub(crate) fn root(&self) -> &Path {
            self.dir.path()
        }

        pub(crate) fn zone(&self, zone: &str) -> PathBuf {
            self.dir.path().join("class/powercap").join(zone)
        }

        pub(crate) fn add_zone(&self, zone: &str, name: &str, max_range: u64, energy: u64) {
            let d = self.zone(zone);
            fs::create_dir_all(&d).unwrap();
            fs::write(d.join("name"), format!("{name}\n")).unwrap();
            fs::write(d.join("max_energy_range_uj"), format!("{max_range}\n")).unwrap();
            self.set(zone, energy);
        }

        pub(crate) fn set(&self, zone: &str, energy: u64) {
            // Write to a temp file and rename, so a concurrent reader never sees a torn value.
            let d = self.zone(zone);
            let tmp = d.join("energy_uj.tmp");
            fs::write(&tmp, format!("{energy}\n")).unwrap();
            fs::rename(tmp, d.join("energy_uj")).unwrap();
        }
    }

    fn by_domain<'a>(result: &'a [DomainEnergy], domain: &str) -> &'a DomainEnergy {
        result.iter().find(|d| d.domain == domain).unwrap()
    }

    #[test]
    fn discovers_intel_zones_and_names_domains() {
        let fs_ = FakeSysfs::new();
        fs_.add_zone("intel-rapl:0", "package-0", 1000, 0);
        fs_.add_zone("intel-rapl:0:0", "core", 1000, 0);
        fs_.add_zone("intel-rapl:0:1", "uncore", 1000, 0);
        fs_.add_zone("intel-rapl:0:2", "dram", 1000, 0);
        fs_.add_zone("intel-rapl:1", "package-1", 1000, 0);
        fs_.add_zone("intel-rapl:1:0", "dram", 1000, 0);
        fs_.add_zone("intel-rapl:2", "psys", 1000, 0);
        // Not RAPL, or a duplicate MMIO view of package-0: ignored.
        fs_.add_zone("intel-rapl-mmio:0", "package-0", 1000, 0);
        fs_.add_zone("dtpm:0", "soc", 1000, 0);
        let result = RaplMeter::open(fs_.root()).finish();
        let names: Vec<(&str, bool)> = result
            .iter()
            .map(|d| (d.domain.as_str(), d.in_total))
            .collect();
        assert_eq!(
            names,
            [
                ("cpu-package-0", true),
                ("core-0", false),
                ("uncore-0", false),
                ("dram-0", true),
                ("cpu-package-1", true),
                ("dram-1", true),
                ("psys", false),
            ]
        );
        assert!(result.iter().all(|d| d.microjoules == Some(0)));
    }

    #[test]
    fn sub_zones_nested_in_their_package_directory_are_found() {
        // The layout of /sys/devices/virtual/powercap/intel-rapl: sub-zones inside the package.
        let fs_ = FakeSysfs::new();
        fs_.add_zone("intel-rapl:0", "package-0", 1000, 5);
        fs_.add_zone("intel-rapl:0/intel-rapl:0:0", "dram", 1000, 7);
        fs_.add_zone("intel-rapl:1", "package-1", 1000, 0);
        fs_.add_zone("intel-rapl:1/intel-rapl:1:0", "dram", 1000, 0);
        // Also linked at the top level, as in /sys/class/powercap: counted once.
        std::os::unix::fs::symlink(
            fs_.zone("intel-rapl:1/intel-rapl:1:0"),
            fs_.zone("intel-rapl:1:0"),
        )
        .unwrap();
        // A sub-zone directory of another package's number inside package 0: not ours.
        fs_.add_zone("intel-rapl:0/intel-rapl:5:0", "dram", 1000, 0);
        let mut m = RaplMeter::open(fs_.root());
        assert_eq!(m.summary(), "cpu-package-0, dram-0, cpu-package-1, dram-1");
        fs_.set("intel-rapl:0/intel-rapl:0:0", 10);
        m.sample_once();
        let result = m.finish();
        let names: Vec<&str> = result.iter().map(|d| d.domain.as_str()).collect();
        assert_eq!(
            names,
            ["cpu-package-0", "dram-0", "cpu-package-1", "dram-1"]
        );
        assert_eq!(by_domain(&result, "dram-0").microjoules, Some(3));
    }

    #[test]
    fn amd_package_only() {
        let fs_ = FakeSysfs::new();
        fs_.add_zone("intel-rapl:0", "package-0", 65_532_610_987, 5);
        fs_.add_zone("intel-rapl:0:0", "core", 65_532_610_987, 5);
        let mut m = RaplMeter::open(fs_.root());
        fs_.set("intel-rapl:0", 1_000_005);
        m.sample_once();
        let result = m.finish();
        assert_eq!(result.len(), 2);
        assert_eq!(
            by_domain(&result, "cpu-package-0").microjoules,
            Some(1_000_000)
        );
        assert_eq!(by_domain(&result, "core-0").microjoules, Some(0));
    }

    #[test]
    fn wraps_are_accumulated_exactly() {
        let fs_ = FakeSysfs::new();
        let max = 999_999u64; // counter runs 0..=999_999: one wrap adds 1_000_000 µJ
        fs_.add_zone("intel-rapl:0", "package-0", max, 900_000);
        let mut m = RaplMeter::open(fs_.root());
        // Simulated job: each step advances by a known amount, wrapping several times.
        let steps = [50_000u64, 300_000, 999_999, 1, 640_000, 999_000, 123_456];
        let mut value = 900_000u64;
        for step in steps {
            value = (value + step) % (max + 1);
            fs_.set("intel-rapl:0", value);
            m.sample_once();
        }
        let expected: u64 = steps.iter().sum();
        let wraps = (900_000 + expected) / (max + 1);
        let d = m.finish().remove(0);
        assert_eq!(d.microjoules, Some(expected));
        assert_eq!(u64::from(d.wraps), wraps);
        assert!(wraps >= 3, "the test must exercise several wraps");
    }

    #[test]
    fn counter_arithmetic_at_the_edges() {
        let mut c = Counter {
            energy_path: PathBuf::new(),
            max_range_uj: u64::MAX,
            prev_uj: u64::MAX - 1,
            total_uj: 0,
            wraps: 0,
        };
        c.advance(3); // MAX-1 → MAX → 0 → 3: 5 µJ
        assert_eq!((c.total_uj, c.wraps), (5, 1));
        c.advance(3);
        assert_eq!((c.total_uj, c.wraps), (5, 1));
    }

    #[test]
    fn unreadable_counter_is_unavailable_not_an_error() {
        let fs_ = FakeSysfs::new();
        fs_.add_zone("intel-rapl:0", "package-0", 1000, 0);
        fs_.add_zone("intel-rapl:1", "package-1", 1000, 0);
        // A directory where the file should be: reading fails even as root.
        let e = fs_.zone("intel-rapl:1").join("energy_uj");
        fs::remove_file(&e).unwrap();
        fs::create_dir(&e).unwrap();
        let result = RaplMeter::open(fs_.root()).finish();
        assert_eq!(by_domain(&result, "cpu-package-0").microjoules, Some(0));
        let bad = by_domain(&result, "cpu-package-1");
        assert_eq!(bad.microjoules, None);
        assert!(bad.unavailable.as_deref().unwrap().contains("energy_uj"));
    }

    #[test]
    fn permission_denied_mentions_the_kernel_change() {
        let e = io::Error::from(io::ErrorKind::PermissionDenied);
        assert!(read_error(Path::new("/x"), &e).contains("5.10"));
    }

    #[test]
    fn no_powercap_gives_one_unavailable_cpu_domain() {
        let dir = tempfile::tempdir().unwrap();
        let result = RaplMeter::open(dir.path()).finish();
        assert_eq!(result.len(), 1);
        assert_eq!(result[0].domain, "cpu");
        assert!(result[0].in_total);
        assert!(result[0].unavailable.is_some());
        let empty = FakeSysfs::new();
        let result = RaplMeter::open(empty.root()).finish();
        assert_eq!(result[0].domain, "cpu");
    }

    #[test]
    fn safe_interval_follows_the_smallest_range() {
        let fs_ = FakeSysfs::new();
        fs_.add_zone("intel-rapl:0", "package-0", 262_143_328_850, 0);
        fs_.add_zone("intel-rapl:0:0", "dram", 65_532_610_987, 0);
        let m = RaplMeter::open(fs_.root());
        // 65.5 kJ at 1 kW is 65 s; half of it.
        assert_eq!(m.max_safe_interval(), Some(Duration::from_secs(32)));
        let fs_ = FakeSysfs::new();
        fs_.add_zone("intel-rapl:0", "package-0", 10, 0);
        assert_eq!(
            RaplMeter::open(fs_.root()).max_safe_interval(),
            Some(Duration::from_secs(1))
        );
    }

    #[test]
    fn background_sampler_sees_every_wrap() {
        use crate::energy::sampler::tests::Counted;
        use std::sync::atomic::Ordering;
        let fs_ = FakeSysfs::new();
        let max = 9_999u64;
        fs_.add_zone("intel-rapl:0", "package-0", max, 0);
        let (meter, samples) = Counted::new(RaplMeter::open(fs_.root()));
        let bg = Background::start("rci-rapl-test", Duration::from_millis(1), move || meter);
        let (mut value, mut total) = (0u64, 0u64);
        for _ in 0..40 {
            let step = 7_000; // 40 steps of 70 % of the range: 28 wraps
            value = (value + step) % (max + 1);
            total += step;
            fs_.set("intel-rapl:0", value);
            // Wait (without a deadline) until a whole sample has started after the update, so
            // the thread saw this value before the next step could wrap past it.
            let seen = samples.load(Ordering::SeqCst);
            while samples.load(Ordering::SeqCst) < seen + 2 {
                std::thread::yield_now();
            }
        }
        let d = bg.stop().remove(0);
        assert_eq!(d.microjoules, Some(total));
        assert_eq!(u64::from(d.wraps), total / (max + 1));
    }
}
