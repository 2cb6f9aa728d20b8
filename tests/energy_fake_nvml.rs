//! The NVML layer and GPU energy accounting against a fake libnvidia-ml
//! (tests/fake_nvml/fake_nvml.c), compiled here with the `cc` crate's compiler settings.

mod fake_nvml;

use std::fs;
use std::path::PathBuf;
use std::time::Duration;

use rci::energy::gpu::{GpuMeter, RESET_NOTE};
use rci::energy::record::{EnergySource, GpuInfo};
use rci::energy::{build_record, EnergyConfig, EnergyMeter, JobFacts};
use rci::ffi::nvml::Nvml;

/// A private copy of the fake library with its own state file.
struct FakeNvml {
    _dir: tempfile::TempDir,
    lib: PathBuf,
}

impl FakeNvml {
    fn new(state: &str) -> FakeNvml {
        let dir = tempfile::tempdir().unwrap();
        let lib = dir.path().join("libnvidia-ml.so.1");
        fs::copy(fake_nvml::library(), &lib).unwrap();
        let fake = FakeNvml { _dir: dir, lib };
        fake.set(state);
        fake
    }

    fn set(&self, state: &str) {
        let state_path = PathBuf::from(format!("{}.state", self.lib.display()));
        let tmp = state_path.with_extension("tmp");
        fs::write(&tmp, state).unwrap();
        fs::rename(tmp, state_path).unwrap();
    }

    fn path(&self) -> &str {
        self.lib.to_str().unwrap()
    }

    fn open(&self) -> Nvml {
        Nvml::open(self.path(), Duration::from_secs(10)).unwrap()
    }
}

fn gpu(index: u32, uuid: &str) -> GpuInfo {
    GpuInfo {
        index,
        uuid: Some(uuid.to_owned()),
        model: None,
    }
}

const TWO_GPUS: &str = "\
device GPU-aaaa 0 1000 NVIDIA L40
device GPU-bbbb 3 5000 NVIDIA L40
";

#[test]
fn enumerates_devices_and_maps_minors_to_uuids() {
    let fake = FakeNvml::new(TWO_GPUS);
    let nvml = fake.open();
    assert_eq!(nvml.device_count().unwrap(), 2);
    let devs = nvml.devices().unwrap();
    assert_eq!(nvml.uuid(&devs[1]).unwrap(), "GPU-bbbb");
    assert_eq!(nvml.name(&devs[0]).unwrap(), "NVIDIA L40");
    assert_eq!(nvml.minor_number(&devs[1]).unwrap(), 3);
    assert_eq!(nvml.uuid_for_minor(3).as_deref(), Some("GPU-bbbb"));
    assert_eq!(nvml.uuid_for_minor(1), None);
    let dev = nvml.device_by_uuid("GPU-aaaa").unwrap();
    assert_eq!(nvml.total_energy_mj(&dev).unwrap(), 1000);
    let u = nvml.utilization(&dev).unwrap();
    assert_eq!((u.gpu, u.memory), (42, 7));
    let err = nvml.device_by_uuid("GPU-none").unwrap_err();
    assert_eq!(err.reason(), "not found");
}

#[test]
fn energy_between_start_and_end_is_exact() {
    let fake = FakeNvml::new(TWO_GPUS);
    let meter = GpuMeter::start_with(Ok(fake.open()), &[gpu(0, "GPU-aaaa"), gpu(1, "GPU-bbbb")]);
    fake.set(
        "device GPU-aaaa 0 4500 NVIDIA L40\n\
         device GPU-bbbb 3 123461000 NVIDIA L40\n",
    );
    let result = meter.finish();
    assert_eq!(result[0].millijoules, Some(3500));
    assert_eq!(result[1].millijoules, Some(123_456_000));
    assert!(result.iter().all(|g| !g.reset && g.unavailable.is_none()));
    assert_eq!(result[0].model.as_deref(), Some("NVIDIA L40"));

    let facts = JobFacts {
        node: "gpu01".into(),
        alloc_cpus: 8,
        start_unix: 0,
        end_unix: 3600,
        gpus: vec![gpu(0, "GPU-aaaa"), gpu(1, "GPU-bbbb")],
        ..JobFacts::default()
    };
    let cfg = EnergyConfig::default();
    let record = build_record(facts, Vec::new(), result, &cfg);
    let gpu_domains: Vec<_> = record
        .energy
        .iter()
        .filter(|d| d.source == EnergySource::Nvml)
        .map(|d| (d.domain.as_str(), d.joules))
        .collect();
    assert_eq!(
        gpu_domains,
        [("gpu-0", Some(3.5)), ("gpu-1", Some(123_456.0))]
    );
    assert_eq!(record.kwh, 123_459.5 / 3.6e6);
    assert_eq!(record.gpus[1].model.as_deref(), Some("NVIDIA L40"));
}

#[test]
fn a_counter_that_goes_backwards_is_a_reset() {
    let fake = FakeNvml::new("device GPU-aaaa 0 9000000 NVIDIA A100\n");
    let meter = GpuMeter::start_with(Ok(fake.open()), &[gpu(2, "GPU-aaaa")]);
    // The driver was reloaded: the counter restarted from 0 and reached 2500 mJ.
    fake.set("device GPU-aaaa 0 2500 NVIDIA A100\n");
    let g = meter.finish().remove(0);
    assert!(g.reset);
    assert_eq!(g.millijoules, Some(2500));
    assert_eq!(g.unavailable.as_deref(), Some(RESET_NOTE));
    let record = build_record(
        JobFacts {
            gpus: vec![gpu(2, "GPU-aaaa")],
            ..JobFacts::default()
        },
        Vec::new(),
        vec![g],
        &EnergyConfig::default(),
    );
    assert!(record.energy[0].flags.reset);
    assert_eq!(record.energy[0].joules, Some(2.5));
}

#[test]
fn unsupported_and_unknown_gpus_are_unavailable() {
    let fake = FakeNvml::new(
        "device GPU-old 0 NOT_SUPPORTED Tesla P100\n\
         device GPU-new 1 10 NVIDIA H100\n",
    );
    let gpus = [
        gpu(0, "GPU-old"),
        gpu(1, "GPU-missing"),
        GpuInfo {
            index: 2,
            uuid: None,
            model: None,
        },
        gpu(3, "GPU-new"),
    ];
    let meter = GpuMeter::start_with(Ok(fake.open()), &gpus);
    fake.set(
        "device GPU-old 0 NOT_SUPPORTED Tesla P100\n\
         device GPU-new 1 20 NVIDIA H100\n",
    );
    let result = meter.finish();
    let note = |i: usize| result[i].unavailable.clone().unwrap_or_default();
    assert_eq!(result[0].millijoules, None);
    assert!(note(0).contains("not supported"), "{}", note(0));
    assert_eq!(result[0].model.as_deref(), Some("Tesla P100"));
    assert!(note(1).contains("not found"), "{}", note(1));
    assert!(note(2).contains("UUID unknown"), "{}", note(2));
    assert_eq!(result[3].millijoules, Some(10));
}

#[test]
fn init_failure_and_hang_are_reported_not_fatal() {
    let fake = FakeNvml::new("init_rc 9\ndevice GPU-a 0 1 X\n");
    let err = Nvml::open(fake.path(), Duration::from_secs(10)).unwrap_err();
    assert!(err.contains("driver not loaded"), "{err}");

    // nvmlInit_v2 sleeps far longer than we wait: open gives up, the helper thread is leaked.
    let hanging = FakeNvml::new("init_sleep_ms 60000\ndevice GPU-a 0 1 X\n");
    let err = Nvml::open(hanging.path(), Duration::from_millis(100)).unwrap_err();
    assert!(err.contains("did not return within"), "{err}");

    // Through the meter, every GPU carries the reason.
    let g = GpuMeter::start(
        hanging.path(),
        Duration::from_millis(100),
        &[gpu(0, "GPU-a")],
    )
    .finish()
    .remove(0);
    assert_eq!(g.millijoules, None);
    assert!(g.unavailable.unwrap().contains("did not return"));
}

#[test]
fn energy_meter_reads_gpus_in_its_thread() {
    let fake = FakeNvml::new("device GPU-a 0 100 NVIDIA L4\n");
    let no_rapl = tempfile::tempdir().unwrap();
    let cfg = EnergyConfig {
        sysfs_root: no_rapl.path().to_path_buf(),
        nvml_library: fake.path().to_owned(),
        ..EnergyConfig::default()
    };
    let meter = EnergyMeter::start(&cfg, &[gpu(0, "GPU-a")]);
    let m = meter.stop();
    assert_eq!(m.cpu[0].domain, "cpu");
    assert!(m.cpu[0].unavailable.is_some());
    // The counter did not move, so whenever the start reading happened the energy is 0.
    assert_eq!(m.gpus[0].millijoules, Some(0));
    assert_eq!(m.gpus[0].model.as_deref(), Some("NVIDIA L4"));
}

/// A fake RAPL tree with one package zone whose counter reads `uj`.
fn fake_rapl(root: &std::path::Path, uj: u64) {
    let zone = root.join("class/powercap/intel-rapl:0");
    fs::create_dir_all(&zone).unwrap();
    fs::write(zone.join("name"), "package-0\n").unwrap();
    fs::write(zone.join("max_energy_range_uj"), "262143328850\n").unwrap();
    fs::write(zone.join("energy_uj"), format!("{uj}\n")).unwrap();
}

fn package_uj(m: &rci::energy::Measurements) -> Option<u64> {
    m.cpu
        .iter()
        .find(|d| d.domain == "cpu-package-0")
        .and_then(|d| d.microjoules)
}

#[test]
fn gpus_hanging_at_the_final_sample_lose_only_the_gpu_readings() {
    let fake = FakeNvml::new("device GPU-a 0 100 NVIDIA L4\n");
    let sysfs = tempfile::tempdir().unwrap();
    fake_rapl(sysfs.path(), 1_000_000);
    let cfg = EnergyConfig {
        sysfs_root: sysfs.path().to_path_buf(),
        nvml_library: fake.path().to_owned(),
        rapl_sample_interval: Duration::from_secs(60),
        ..EnergyConfig::default()
    };
    let (tx, rx) = std::sync::mpsc::channel();
    let job = [gpu(0, "GPU-a")];
    let meter = EnergyMeter::start_scoped(&cfg, rci::energy::GpuScope::Listed(&job), move |s| {
        let _ = tx.send(s);
    });
    let ready = rx.recv_timeout(Duration::from_secs(10)).unwrap();
    assert!(ready.contains("1 of 1 GPU(s) read"), "{ready}");
    // Now the driver blocks in every call, and the package used 5 J meanwhile.
    fake.set("device GPU-a 0 100 NVIDIA L4\nquery_sleep_ms 600000\n");
    fake_rapl(sysfs.path(), 6_000_000);
    let m = meter.stop();
    assert_eq!(
        package_uj(&m),
        Some(5_000_000),
        "RAPL was final before the GPUs: {m:?}"
    );
    let gpus = m.job_gpus(&job);
    assert_eq!(gpus[0].millijoules, None);
    let why = gpus[0].unavailable.as_deref().unwrap_or("");
    assert!(why.contains("did not finish within 10 s"), "{why}");
}

#[test]
fn gpus_hanging_at_the_start_are_given_up_on_and_rapl_still_counts() {
    let fake = FakeNvml::new("device GPU-a 0 100 NVIDIA L4\nquery_sleep_ms 600000\n");
    let sysfs = tempfile::tempdir().unwrap();
    fake_rapl(sysfs.path(), 1_000_000);
    let cfg = EnergyConfig {
        sysfs_root: sysfs.path().to_path_buf(),
        nvml_library: fake.path().to_owned(),
        nvml_init_timeout: Duration::from_millis(500),
        rapl_sample_interval: Duration::from_secs(60),
        ..EnergyConfig::default()
    };
    let (tx, rx) = std::sync::mpsc::channel();
    let job = [gpu(0, "GPU-a")];
    let meter = EnergyMeter::start_scoped(&cfg, rci::energy::GpuScope::Listed(&job), move |s| {
        let _ = tx.send(s);
    });
    let ready = rx.recv_timeout(Duration::from_secs(10)).unwrap();
    assert!(ready.contains("0 of 1 GPU(s) read"), "{ready}");
    fake_rapl(sysfs.path(), 3_000_000);
    let m = meter.stop();
    assert_eq!(package_uj(&m), Some(2_000_000), "{m:?}");
    let why = m.gpus[0].unavailable.clone().unwrap_or_default();
    assert!(why.contains("did not answer within 0.5 s"), "{why}");
}
