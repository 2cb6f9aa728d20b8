//! Turning measured joules and allocated resources into kWh, CO2 and cost.
//!
//! - `kwh` is IT energy: what the job's share of the counters measured, without PUE.
//! - `facility_kwh = kwh × PUE`: the energy the data centre drew for it (cooling, power
//!   distribution). CO2 and the energy part of the cost use facility energy, because that is what
//!   is emitted and billed; both figures go into the record so either can be reported.
//! - `co2_g = facility_kwh × carbon intensity (g/kWh)`.
//! - `cpu_hours = alloc_cpus × elapsed / 3600`, `gpu_hours = n_gpus × elapsed / 3600`.
//! - `cost = facility_kwh × EnergyPrice + cpu_hours × CpuHourPrice + gpu_hours × GpuHourPrice`.

use super::EnergyConfig;

/// Joules in one kWh.
pub const JOULES_PER_KWH: f64 = 3.6e6;

/// Everything derived from energy, allocation and prices.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Accounting {
    /// IT energy, kWh.
    pub kwh: f64,
    /// `kwh × pue`.
    pub facility_kwh: f64,
    /// Grams of CO2-equivalent.
    pub co2_g: f64,
    /// CPU-hours allocated.
    pub cpu_hours: f64,
    /// GPU-hours allocated.
    pub gpu_hours: f64,
    /// Total cost in the configured currency.
    pub cost: f64,
}

/// Computes the job's figures from its attributed IT energy in joules.
pub fn account(
    it_joules: f64,
    alloc_cpus: u32,
    n_gpus: u32,
    elapsed_s: u64,
    cfg: &EnergyConfig,
) -> Accounting {
    let hours = elapsed_s as f64 / 3600.0;
    let kwh = it_joules.max(0.0) / JOULES_PER_KWH;
    let facility_kwh = kwh * cfg.pue;
    let cpu_hours = f64::from(alloc_cpus) * hours;
    let gpu_hours = f64::from(n_gpus) * hours;
    Accounting {
        kwh,
        facility_kwh,
        co2_g: facility_kwh * cfg.carbon_intensity_g_per_kwh,
        cpu_hours,
        gpu_hours,
        cost: facility_kwh * cfg.energy_price_per_kwh
            + cpu_hours * cfg.cpu_hour_price
            + gpu_hours * cfg.gpu_hour_price,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-9 * b.abs().max(1.0)
    }

    #[test]
    fn one_kwh_with_defaults() {
        let cfg = EnergyConfig::default();
        let a = account(3.6e6, 4, 0, 7200, &cfg);
        assert_eq!(a.kwh, 1.0);
        assert!(close(a.facility_kwh, 1.67));
        assert!(close(a.co2_g, 1.67 * 467.0));
        assert_eq!(a.cpu_hours, 8.0);
        assert_eq!(a.gpu_hours, 0.0);
        // Default prices: 0.25 per kWh, nothing per CPU/GPU hour.
        assert!(close(a.cost, 1.67 * 0.25));
    }

    #[test]
    fn cost_adds_all_three_prices() {
        let cfg = EnergyConfig {
            pue: 1.5,
            carbon_intensity_g_per_kwh: 100.0,
            energy_price_per_kwh: 0.2,
            cpu_hour_price: 0.01,
            gpu_hour_price: 1.0,
            ..EnergyConfig::default()
        };
        // 2 kWh IT over 30 min with 64 CPUs and 4 GPUs.
        let a = account(7.2e6, 64, 4, 1800, &cfg);
        assert_eq!(a.kwh, 2.0);
        assert_eq!(a.facility_kwh, 3.0);
        assert_eq!(a.co2_g, 300.0);
        assert_eq!(a.cpu_hours, 32.0);
        assert_eq!(a.gpu_hours, 2.0);
        assert!(close(a.cost, 3.0 * 0.2 + 32.0 * 0.01 + 2.0 * 1.0));
    }

    #[test]
    fn zero_elapsed_and_negative_energy_cost_nothing() {
        let cfg = EnergyConfig::default();
        let a = account(-5.0, 8, 1, 0, &cfg);
        assert_eq!(a.kwh, 0.0);
        assert_eq!(a.cpu_hours, 0.0);
        assert_eq!(a.cost, 0.0);
    }
}
