//! RAPL: can rci count the node's CPU and DRAM energy, and does `RaplSampleInterval` see every
//! counter wrap at the power the node can draw?

use std::path::Path;
use std::time::Duration;

use super::check::Check;
use crate::energy::rapl::{RaplMeter, ZoneInfo};

const AREA: &str = "rapl";

/// Power assumed where a zone states no limit: the sampler's own assumption.
const ASSUMED_WATTS: f64 = 1000.0;

/// The checks of every RAPL zone under `sysfs_root`, sampled every `interval`.
pub fn rapl_checks(sysfs_root: &Path, interval: Duration, is_root: bool) -> Vec<Check> {
    let meter = RaplMeter::open(sysfs_root);
    let zones = meter.zones();
    if let [ZoneInfo {
        dir: None,
        unavailable: Some(why),
        ..
    }] = zones.as_slice()
    {
        return vec![Check::warn(
            AREA,
            format!("{why}: CPU and DRAM energy are not measured on this node"),
            "on bare metal load the powercap driver (modprobe intel_rapl_msr; AMD: \
             amd_energy/rapl in Linux 5.8+); set SysfsRoot= if sysfs is elsewhere",
        )];
    }
    zones
        .iter()
        .map(|zone| zone_check(zone, interval, is_root))
        .collect()
}

fn zone_check(zone: &ZoneInfo, interval: Duration, is_root: bool) -> Check {
    let domain = &zone.domain;
    let (Some(range_uj), None) = (zone.max_range_uj, &zone.unavailable) else {
        let why = zone.unavailable.as_deref().unwrap_or("no wrap range");
        return if is_root {
            Check::fail(
                AREA,
                format!("{domain}: {why}"),
                "check the powercap zone (ls -l /sys/class/powercap); this domain is missing \
                 from every record",
            )
        } else {
            Check::warn(
                AREA,
                format!("{domain}: {why}"),
                "run rci doctor as root: spank_rci reads RAPL as root",
            )
        };
    };
    let (watts, source) = match zone.dir.as_deref().and_then(zone_power_watts) {
        Some(w) => (w, "its power limit"),
        None => (ASSUMED_WATTS, "assumed, no power limit given"),
    };
    let wrap_secs = range_uj as f64 / (watts * 1e6);
    let every = interval.as_secs_f64();
    let joules = range_uj as f64 / 1e6;
    if every * 2.0 > wrap_secs {
        Check::warn(
            AREA,
            format!(
                "{domain}: counter wraps after {joules:.0} J, every {wrap_secs:.0} s at {watts:.0} W \
                 ({source}); RaplSampleInterval={every:.0} s samples less than twice per wrap"
            ),
            format!(
                "set RaplSampleInterval={} or lower (the sampler shortens it itself only up to \
                 {ASSUMED_WATTS:.0} W)",
                ((wrap_secs / 2.0).floor() as u64).max(1)
            ),
        )
    } else {
        Check::ok(
            AREA,
            format!(
                "{domain}: readable; wraps after {joules:.0} J, every {wrap_secs:.0} s at \
                 {watts:.0} W ({source}); RaplSampleInterval={every:.0} s samples {:.0}× per wrap",
                wrap_secs / every.max(0.001)
            ),
        )
    }
}

/// The zone's highest power limit (`constraint_N_max_power_uw`, else `constraint_N_power_limit_uw`)
/// in watts: the most it draws for long.
fn zone_power_watts(dir: &Path) -> Option<f64> {
    let read = |name: String| -> Option<u64> {
        std::fs::read_to_string(dir.join(name))
            .ok()?
            .trim()
            .parse()
            .ok()
    };
    (0..4)
        .filter_map(|n| {
            read(format!("constraint_{n}_max_power_uw"))
                .filter(|&uw| uw > 0)
                .or_else(|| read(format!("constraint_{n}_power_limit_uw")))
        })
        .filter(|&uw| uw > 0)
        .max()
        .map(|uw| uw as f64 / 1e6)
}
