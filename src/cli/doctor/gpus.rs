//! GPU identity: does each of Slurm's GPUs (GRES index → gres.conf `File=` → device minor) have
//! one GPU behind it, and do the driver's /proc tree and NVML agree on which one it is? These are
//! the facts spank_rci relies on for containers and records; a wrong answer is silent there.

use std::collections::BTreeSet;
use std::os::unix::fs::FileTypeExt;

use super::check::Check;
use super::nvml_probe::{NvmlGpu, NvmlProbe, NvmlView};
use crate::gpu::gres_conf::AutoDetect;
use crate::gpu::proc_nvidia::{gpus_dir, ProcGpu};
use crate::gpu::resolve::{dev_path, device_minor, slurm_order, NodeGpus, PciAddress, Source};

const AREA: &str = "gpu";

/// The checks of the node's GPUs. `nvml` is `None` when NVML did not answer (its own checks
/// say why); /proc is then the only source.
pub fn gpu_checks(node: &NodeGpus, nvml: Option<&NvmlView>) -> Vec<Check> {
    let mut checks = Vec::new();
    let proc_dir = gpus_dir(&node.proc_root);
    for skipped in &node.proc.skipped {
        checks.push(Check::warn(
            AREA,
            format!("driver tree entry skipped: {skipped}"),
            "check the NVIDIA driver (nvidia-smi); rci falls back to NVML for such GPUs",
        ));
    }
    let nvml_gpus: &[NvmlGpu] = nvml.and_then(|v| v.gpus.as_ref().ok()).map_or(&[], |g| g);
    let detected = !node.proc.gpus.is_empty() || !nvml_gpus.is_empty();
    let autodetects = matches!(
        node.autodetect,
        Some(AutoDetect::Nvml) | Some(AutoDetect::Nvidia)
    );
    if node.gres_files.is_empty() && !node.has_gpu_records && !autodetects {
        checks.push(if detected {
            Check::warn(
                AREA,
                format!(
                    "the driver lists {} GPU(s) but gres.conf has no Name=gpu record for node {}: \
                     Slurm does not schedule them and rci gives containers none",
                    node.proc.gpus.len().max(nvml_gpus.len()),
                    node.node_name
                ),
                format!(
                    "add `NodeName={} Name=gpu File=/dev/nvidia[0-N]` (or AutoDetect=nvml) to \
                     gres.conf, and Gres=gpu:N to the node in slurm.conf",
                    node.node_name
                ),
            )
        } else {
            Check::ok(
                AREA,
                format!(
                    "node {} has no GPUs: none in gres.conf, none from the driver",
                    node.node_name
                ),
            )
        });
        return checks;
    }
    let (order, how) = match slurm_order(node) {
        Ok(found) => found,
        Err(e) => {
            checks.push(Check::fail(
                AREA,
                format!("cannot number the GPUs as Slurm does: {e}"),
                "fix the node's Name=gpu records in gres.conf (File= for each GPU, or AutoDetect)",
            ));
            return checks;
        }
    };
    let mut covered = BTreeSet::new();
    for (index, gpu) in order.iter().enumerate() {
        let what = format!("GRES index {index}, {}", gpu.label);
        match &gpu.source {
            Source::BadFile(e) => checks.push(Check::fail(
                AREA,
                format!("{what}: {e}"),
                "point File= at the GPU's /dev/nvidiaN character device",
            )),
            Source::MigSlice => checks.push(Check::ok(
                AREA,
                format!(
                    "{what}: a MIG slice; a step names it by the MIG UUID Slurm puts in \
                     CUDA_VISIBLE_DEVICES"
                ),
            )),
            Source::Minor(minor) => {
                covered.insert(*minor);
                let file = gpu.file.as_deref();
                checks.push(identity_check(
                    &what,
                    *minor,
                    file,
                    node.proc.by_minor(*minor),
                    nvml,
                    &proc_dir.display().to_string(),
                ));
            }
        }
    }
    checks.extend(order_checks(node, &order_minors(&order), &how, nvml));
    for gpu in &node.proc.gpus {
        if !covered.contains(&gpu.minor) && autodetects_nothing_else(node) {
            checks.push(unscheduled(node, gpu.minor, gpu.uuid.as_deref()));
            covered.insert(gpu.minor);
        }
    }
    for gpu in nvml_gpus {
        if let Ok(minor) = gpu.minor {
            if !covered.contains(&minor) && autodetects_nothing_else(node) {
                checks.push(unscheduled(node, minor, gpu.uuid.as_deref().ok()));
                covered.insert(minor);
            }
        }
    }
    checks
}

/// With AutoDetect, Slurm adds GPUs gres.conf does not name; without it, they stay unused.
fn autodetects_nothing_else(node: &NodeGpus) -> bool {
    !matches!(
        node.autodetect,
        Some(AutoDetect::Nvml) | Some(AutoDetect::Nvidia)
    ) || !node.gres_files.is_empty()
}

fn unscheduled(node: &NodeGpus, minor: u32, uuid: Option<&str>) -> Check {
    Check::warn(
        AREA,
        format!(
            "the driver lists GPU minor {minor} ({}) but gres.conf gives node {} no File= for it: \
             Slurm never allocates it",
            uuid.unwrap_or("UUID unknown"),
            node.node_name
        ),
        format!("add /dev/nvidia{minor} to the node's File= in gres.conf, or remove the GPU"),
    )
}

fn order_minors(order: &[crate::gpu::resolve::SlurmGpu]) -> Vec<u32> {
    order
        .iter()
        .filter_map(|g| match g.source {
            Source::Minor(m) => Some(m),
            _ => None,
        })
        .collect()
}

/// One GRES index: its device file, and the GPU /proc and NVML see behind its minor.
fn identity_check(
    what: &str,
    minor: u32,
    file: Option<&std::path::Path>,
    proc_gpu: Option<&ProcGpu>,
    nvml: Option<&NvmlView>,
    proc_dir: &str,
) -> Check {
    if let Some(file) = file {
        match std::fs::metadata(file) {
            Err(e) => {
                return Check::fail(
                    AREA,
                    format!("{what}: {} cannot be read: {e}", file.display()),
                    "correct File= in gres.conf, or load the NVIDIA driver (nvidia-modprobe -c N)",
                )
            }
            Ok(meta) if !meta.file_type().is_char_device() => {
                return Check::fail(
                    AREA,
                    format!(
                        "{what}: {} is not a character device (slurmd refuses it)",
                        file.display()
                    ),
                    "point File= at the GPU's /dev/nvidiaN device",
                )
            }
            Ok(_) => {}
        }
    }
    let nvml_gpu = nvml.and_then(|v| v.by_minor(minor));
    let nvml_note = if nvml.is_some() {
        ""
    } else {
        " (NVML not available to compare)"
    };
    if proc_gpu.is_none() && nvml_gpu.is_none() {
        let sources = if nvml.is_some() {
            format!("neither {proc_dir} nor NVML lists a GPU with it")
        } else {
            format!("{proc_dir} lists no GPU with it and NVML is not available")
        };
        return Check::fail(
            AREA,
            format!("{what}: minor {minor} has no GPU behind it: {sources}"),
            "remove the entry from gres.conf or correct it to an existing GPU \
             (nvidia-smi --query-gpu=index,minor_number,uuid --format=csv)",
        );
    }
    let proc_uuid = proc_gpu.and_then(|g| g.uuid.as_deref());
    let nvml_uuid = nvml_gpu.and_then(|g| g.uuid.as_deref().ok());
    if let (Some(p), Some(n)) = (proc_uuid, nvml_uuid) {
        if p != n {
            return Check::fail(
                AREA,
                format!(
                    "{what}: minor {minor} is {p} in {proc_dir} but {n} in NVML: containers and \
                     records would name different GPUs"
                ),
                "make NvidiaProcRoot= and NvmlLibrary= point at this node's own driver (a \
                 driver upgrade without a reboot also does this)",
            );
        }
    }
    let proc_bus = proc_gpu.and_then(|g| g.bus.as_deref());
    let nvml_bus = nvml_gpu.and_then(|g| g.bus_id.as_deref().ok());
    if let (Some(p), Some(n)) = (proc_bus, nvml_bus) {
        if PciAddress::parse(p) != PciAddress::parse(n) {
            return Check::fail(
                AREA,
                format!("{what}: minor {minor} is at PCI {p} in {proc_dir} but at {n} in NVML"),
                "make NvidiaProcRoot= and NvmlLibrary= point at this node's own driver",
            );
        }
    }
    let Some(uuid) = proc_uuid.or(nvml_uuid) else {
        return Check::fail(
            AREA,
            format!("{what}: no UUID for minor {minor} from {proc_dir} or NVML"),
            "check the GPU with nvidia-smi -q; spank_rci gives such a step no GPU",
        );
    };
    let bus = proc_bus.or(nvml_bus).unwrap_or("PCI address unknown");
    let model = proc_gpu
        .and_then(|g| g.model.clone())
        .or_else(|| nvml_gpu.and_then(|g| g.name.clone().ok()))
        .unwrap_or_else(|| "model unknown".to_owned());
    let agreement = match (proc_uuid, nvml_uuid) {
        (Some(_), Some(_)) => " (/proc and NVML agree)".to_owned(),
        (None, Some(_)) => format!(" (UUID from NVML: {proc_dir} shows none)"),
        _ => nvml_note.to_owned(),
    };
    Check::ok(
        AREA,
        format!("{what}: minor {minor}, {uuid}, {bus}, {model}{agreement}"),
    )
}

/// Whether Slurm's numbering matches what an admin reads in gres.conf and nvidia-smi.
fn order_checks(
    node: &NodeGpus,
    slurm_minors: &[u32],
    how: &str,
    nvml: Option<&NvmlView>,
) -> Vec<Check> {
    let file_minors: Vec<u32> = node
        .gres_files
        .iter()
        .filter(|f| !f.is_mig_slice())
        .filter_map(|f| device_minor(&dev_path(&node.dev_root, &f.path)).ok())
        .collect();
    let list = |m: &[u32]| m.iter().map(u32::to_string).collect::<Vec<_>>().join(",");
    let mut checks = Vec::new();
    match &node.autodetect {
        Some(mode @ (AutoDetect::Nvml | AutoDetect::Nvidia)) if !file_minors.is_empty() => {
            let slurm_listed: Vec<u32> = slurm_minors
                .iter()
                .copied()
                .filter(|m| file_minors.contains(m))
                .collect();
            if slurm_listed != file_minors {
                checks.push(Check::fail(
                    AREA,
                    format!(
                        "AutoDetect={} numbers the GPUs by {how} (minors {}), but gres.conf \
                         File= lists minors {}: GRES index N is not the N-th File= entry",
                        mode.name(),
                        list(&slurm_listed),
                        list(&file_minors)
                    ),
                    "list File= in the same order (nvidia-smi --query-gpu=pci.bus_id,\
                     minor_number --format=csv), or leave File= out and let AutoDetect name them",
                ));
            } else {
                checks.push(Check::ok(
                    AREA,
                    format!(
                        "AutoDetect={} order ({how}) equals gres.conf File= order",
                        mode.name()
                    ),
                ));
            }
        }
        None | Some(AutoDetect::Off) if file_minors.len() > 1 => {
            // Without AutoDetect, File= order is Slurm's; PCI order is NVML's (nvidia-smi's).
            let mut by_bus: Vec<(Option<PciAddress>, u32)> = file_minors
                .iter()
                .map(|&m| {
                    let bus = node
                        .proc
                        .by_minor(m)
                        .and_then(|g| g.bus.clone())
                        .or_else(|| {
                            nvml.and_then(|v| v.by_minor(m))
                                .and_then(|g| g.bus_id.clone().ok())
                        });
                    (bus.as_deref().and_then(PciAddress::parse), m)
                })
                .collect();
            if by_bus.iter().all(|(bus, _)| bus.is_some()) {
                by_bus.sort();
                let pci_minors: Vec<u32> = by_bus.into_iter().map(|(_, m)| m).collect();
                if pci_minors != file_minors {
                    checks.push(Check::warn(
                        AREA,
                        format!(
                            "gres.conf File= order (minors {}) differs from PCI bus order \
                             (minors {}): Slurm's GPU N is not nvidia-smi's GPU N, and turning on \
                             AutoDetect=nvml would renumber the GPUs under running jobs",
                            list(&file_minors),
                            list(&pci_minors)
                        ),
                        "list File= in PCI bus order",
                    ));
                }
            }
        }
        _ => {}
    }
    checks
}

/// The checks of NVML itself: library, init time, and per GPU the energy counter, utilisation
/// and MIG mode. `node_has_gpus` decides whether a missing NVML is a failure.
pub fn nvml_checks(library: &str, probe: &NvmlProbe, node_has_gpus: bool) -> Vec<Check> {
    const AREA: &str = "nvml";
    let view = match probe {
        NvmlProbe::Unavailable(why) if node_has_gpus => {
            return vec![Check::fail(
                AREA,
                format!("{why}: GPU energy and utilisation are not measured on this node"),
                "install the driver's libnvidia-ml.so.1, or set NvmlLibrary= to it",
            )]
        }
        NvmlProbe::Unavailable(why) => {
            return vec![Check::ok(
                AREA,
                format!("not used: {why}, and this node has no GPUs"),
            )]
        }
        NvmlProbe::TimedOut { after, stage } => {
            return vec![Check::fail(
                AREA,
                format!(
                    "{library} did not answer within {:.1} s (stuck in {stage}): GPU identity \
                     and energy from NVML are unavailable",
                    after.as_secs_f64()
                ),
                "check the GPUs and driver (nvidia-smi, Xid errors in dmesg); drain the node \
                 until NVML answers",
            )]
        }
        NvmlProbe::Ready(view) => view,
    };
    let mut checks = Vec::new();
    let driver = view.driver_version.as_ref().map_or_else(
        |e| format!("driver version unknown ({e})"),
        |v| format!("driver {v}"),
    );
    let init_ms = view.init_time.as_millis();
    let gpus = match &view.gpus {
        Ok(gpus) => gpus,
        Err(e) => {
            checks.push(Check::fail(
                AREA,
                format!("{library}: {driver}, but listing GPUs failed: {e}"),
                "check the driver with nvidia-smi",
            ));
            return checks;
        }
    };
    let summary = format!(
        "{library}: nvmlInit {init_ms} ms, {driver}, {} GPU(s)",
        gpus.len()
    );
    checks.push(if view.init_time.as_secs() >= 1 {
        Check::warn(
            AREA,
            format!("{summary}: every job start on this node waits as long for nvmlInit"),
            "run nvidia-persistenced so the driver stays initialised",
        )
    } else {
        Check::ok(AREA, summary)
    });
    for gpu in gpus {
        let who = format!(
            "GPU {} ({})",
            gpu.index,
            gpu.uuid.as_deref().unwrap_or("UUID unknown")
        );
        checks.push(energy_check(&who, gpu, view.interval));
        checks.push(match &gpu.utilization {
            Ok(u) => Check::ok(
                AREA,
                format!(
                    "{who}: utilisation readable (SM {} %, memory {} %)",
                    u.gpu, u.memory
                ),
            ),
            Err(e) => Check::warn(
                AREA,
                format!("{who}: utilisation not readable ({e})"),
                "update the NVIDIA driver",
            ),
        });
        checks.push(match &gpu.mig {
            Err(e) if e.is_not_supported() => {
                Check::ok(AREA, format!("{who}: no MIG on this GPU; whole-GPU jobs"))
            }
            Err(e) => Check::warn(
                AREA,
                format!("{who}: MIG mode unknown ({e})"),
                "check with nvidia-smi -q -d MIG",
            ),
            Ok(mode) if mode.current != mode.pending => Check::warn(
                AREA,
                format!(
                    "{who}: MIG mode changes from {} to {} at the next GPU reset",
                    on_off(mode.current),
                    on_off(mode.pending)
                ),
                "reset the GPU (nvidia-smi -r) or reboot before jobs rely on either mode",
            ),
            Ok(mode) if mode.current => Check::warn(
                AREA,
                format!(
                    "{who}: MIG enabled: rci gives containers the MIG UUIDs Slurm puts in \
                     CUDA_VISIBLE_DEVICES, but NVML has no per-slice energy counter, so jobs on \
                     slices get GPU-hours and no GPU energy"
                ),
                "configure each slice in gres.conf (MultipleFiles= or AutoDetect=nvml)",
            ),
            Ok(_) => Check::ok(AREA, format!("{who}: MIG disabled; whole-GPU jobs")),
        });
    }
    checks
}

fn on_off(on: bool) -> &'static str {
    if on {
        "enabled"
    } else {
        "disabled"
    }
}

fn energy_check(who: &str, gpu: &NvmlGpu, interval: std::time::Duration) -> Check {
    const AREA: &str = "nvml";
    match (&gpu.energy_first, &gpu.energy_second) {
        (Err(e), _) | (_, Err(e)) if e.is_not_supported() => Check::warn(
            AREA,
            format!(
                "{who}: no energy counter (NVML: not supported; GPUs before Volta): its jobs \
                 get GPU-hours and no GPU energy"
            ),
            "nothing to fix on such a GPU; rci records the energy as unavailable",
        ),
        (Err(e), _) | (_, Err(e)) => Check::fail(
            AREA,
            format!("{who}: energy counter not readable: {e}"),
            "check the GPU with nvidia-smi -q -d POWER",
        ),
        (Ok(first), Ok(second)) if second > first => {
            let secs = interval.as_secs_f64().max(0.001);
            let watts = (second - first) as f64 / 1000.0 / secs;
            Check::ok(
                AREA,
                format!(
                    "{who}: energy counter advancing ({watts:.1} W over {secs:.1} s: {first} → \
                     {second} mJ)"
                ),
            )
        }
        (Ok(first), Ok(second)) if second < first => Check::warn(
            AREA,
            format!("{who}: energy counter went backwards ({first} → {second} mJ)"),
            "the driver was reloaded or the GPU reset; records of jobs across it say so",
        ),
        (Ok(_), Ok(_)) => Check::warn(
            AREA,
            format!(
                "{who}: energy counter did not advance in {:.1} s",
                interval.as_secs_f64()
            ),
            "check the GPU with nvidia-smi -q -d POWER; try a longer --energy-interval",
        ),
    }
}
