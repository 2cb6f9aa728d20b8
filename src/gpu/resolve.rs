//! Which GPUs a step was given, as UUIDs in Slurm's order.
//!
//! Inputs are what slurmstepd hands a step: `SLURM_STEP_GPUS` / `SLURM_JOB_GPUS` (Slurm's GRES
//! indices) and `CUDA_VISIBLE_DEVICES` (renumbered 0..n-1 under `ConstrainDevices=yes`, or UUIDs
//! for MIG slices and gres.conf `Flags=env_uuid`), plus the node's gres.conf, device files and
//! `/proc/driver/nvidia`. The answer is never wider than the allocation: anything that cannot
//! be mapped exactly is [`Resolution::Unresolved`], which the caller turns into "no GPU".
//!
//! How Slurm numbers a node's GPUs (its GRES index), read from Slurm's `gres_gpu.c`:
//! - no AutoDetect (or `AutoDetect=off`): the order of the node's gres.conf `Name=gpu` device
//!   files (`File=` ranges expanded, lines in order);
//! - `AutoDetect=nvml`: the GPUs Slurm kept, sorted by NVML's enumeration, which is PCI bus
//!   order: we sort the driver's `Bus Location` values;
//! - `AutoDetect=nvidia` (24.11+): sorted by device file, i.e. by minor number.
//!
//! Known approximation: with AutoDetect and gres.conf records that only give `Count=`/`Type=`,
//! every GPU the driver lists is taken as kept; a node whose slurm.conf declares fewer GPUs than
//! it has would be numbered differently by Slurm.

use std::cmp::Ordering;
use std::path::{Path, PathBuf};

use super::gres_conf::{self, AutoDetect, GpuFile, GresConf};
use super::proc_nvidia::{self, is_gpu_uuid, is_mig_uuid, ProcScan};

/// Asks another source (NVML, supplied by the caller) for the UUID of `/dev/nvidia<minor>` when
/// `/proc/driver/nvidia` does not give one.
pub trait UuidByMinor {
    /// The `GPU-…` UUID of the GPU with this device minor, if known.
    fn uuid_for_minor(&self, minor: u32) -> Option<String>;
}

/// A fallback that knows nothing: /proc is the only source.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoUuidFallback;

impl UuidByMinor for NoUuidFallback {
    fn uuid_for_minor(&self, _minor: u32) -> Option<String> {
        None
    }
}

/// Slurm's step ids for the special steps, from its headers.
use crate::ffi::sys::{SLURM_BATCH_SCRIPT, SLURM_EXTERN_CONT, SLURM_INTERACTIVE_STEP};

/// Which kind of step a slurmstepd runs. It decides whether `SLURM_JOB_GPUS` may stand in for
/// the step's own list: in an `srun` step it is only inherited from the batch script's
/// environment and describes the job, not the step (an `srun --gres=none` step has none).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepKind {
    /// The batch script: Slurm sets `SLURM_JOB_GPUS` for it.
    Batch,
    /// salloc's interactive step: it holds the whole job allocation.
    Interactive,
    /// The extern step: no tasks of the user's own, never GPUs for containers.
    Extern,
    /// An srun step: only `SLURM_STEP_GPUS` counts.
    Normal,
}

impl StepKind {
    /// Maps Slurm's `S_JOB_STEPID` value to a kind.
    pub fn from_step_id(step_id: u32) -> StepKind {
        match step_id {
            SLURM_BATCH_SCRIPT => StepKind::Batch,
            SLURM_INTERACTIVE_STEP => StepKind::Interactive,
            SLURM_EXTERN_CONT => StepKind::Extern,
            // Ordinary steps, and any special id a later Slurm adds: only SLURM_STEP_GPUS
            // counts for them, the cautious reading.
            _ => StepKind::Normal,
        }
    }
}

/// The step environment values the resolver reads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StepGpuEnv {
    pub step_gpus: Option<String>,
    pub job_gpus: Option<String>,
    pub cuda_visible_devices: Option<String>,
    /// Set by gres/shard for steps holding GPU shards.
    pub shards_on_node: Option<String>,
    /// Set by gres/mps.
    pub mps_thread_percentage: Option<String>,
    /// `SLURM_GPUS_ON_NODE`: how many GPUs the step holds on this node. Slurm sets it whenever
    /// the step has GPUs here and removes it otherwise (an `srun --gres=none` step inside a GPU
    /// job), even where it gives a task no index list.
    pub gpus_on_node: Option<String>,
}

impl StepGpuEnv {
    /// Reads the variables through `lookup` (spank_getenv in slurmstepd).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> StepGpuEnv {
        StepGpuEnv {
            step_gpus: lookup("SLURM_STEP_GPUS"),
            job_gpus: lookup("SLURM_JOB_GPUS"),
            cuda_visible_devices: lookup("CUDA_VISIBLE_DEVICES"),
            shards_on_node: lookup("SLURM_SHARDS_ON_NODE"),
            mps_thread_percentage: lookup("CUDA_MPS_ACTIVE_THREAD_PERCENTAGE"),
            gpus_on_node: lookup("SLURM_GPUS_ON_NODE"),
        }
    }
}

/// One allocated GPU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedGpu {
    /// Slurm's GRES index.
    pub index: u32,
    /// Device minor, when the GPU was found through its device file.
    pub minor: Option<u32>,
    /// `GPU-…` or `MIG-…`.
    pub uuid: String,
    /// Model from /proc, when known.
    pub model: Option<String>,
}

/// What the step may use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolution {
    /// These GPUs, in Slurm's order (ascending GRES index).
    Gpus(Vec<ResolvedGpu>),
    /// The step has no GPU (CPU-only step, or a step without GPUs inside a GPU job).
    NoGpus,
    /// The step has GPUs we could not identify exactly; containers must get none.
    Unresolved { reason: String },
}

/// What the environment says the step holds, before looking at the node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    NoGpus,
    /// (GRES index, UUID) pairs: the indices from `var`, the UUIDs from `CUDA_VISIBLE_DEVICES`,
    /// sorted by index.
    Uuids {
        var: &'static str,
        pairs: Vec<(u32, String)>,
    },
    /// GRES indices from `var`, sorted numerically.
    Indices {
        var: &'static str,
        indices: Vec<u32>,
    },
    Invalid(String),
}

fn non_empty(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

/// The GPU list Slurm itself sets (or clears) for a step of `kind`, as (variable, value): the
/// gres plugins' job_set_env writes `SLURM_JOB_GPUS` for the batch step, step_set_env writes
/// `SLURM_STEP_GPUS` for every step it launches (srun steps, salloc's interactive step). The
/// other variable is whatever the user exported, and reading it would let a user widen or
/// change the GPUs (an exported `SLURM_STEP_GPUS=0,1,2,3` reaches the batch step unchanged).
pub fn slurm_gpu_list(env: &StepGpuEnv, kind: StepKind) -> Option<(&'static str, &str)> {
    match kind {
        StepKind::Extern => None,
        StepKind::Normal | StepKind::Interactive => {
            non_empty(&env.step_gpus).map(|v| ("SLURM_STEP_GPUS", v))
        }
        StepKind::Batch => non_empty(&env.job_gpus).map(|v| ("SLURM_JOB_GPUS", v)),
    }
}

/// Reads the request out of the environment (see the module docs for the precedence).
pub fn request(env: &StepGpuEnv, kind: StepKind) -> Request {
    let source = slurm_gpu_list(env, kind);
    let cvd = non_empty(&env.cuda_visible_devices);
    let Some((var, value)) = source else {
        let shared = non_empty(&env.shards_on_node).is_some()
            || non_empty(&env.mps_thread_percentage).is_some();
        let gpus_on_node = non_empty(&env.gpus_on_node)
            .and_then(|n| n.parse::<u32>().ok())
            .filter(|&n| n > 0);
        return match (shared, cvd, gpus_on_node) {
            (true, Some(cvd), _) if kind != StepKind::Extern => Request::Invalid(format!(
                "the step holds a shared GPU (gres/shard or gres/mps, \
                 CUDA_VISIBLE_DEVICES={cvd}), which is not mapped to container GPUs"
            )),
            // Slurm 22.05 with `--gpu-bind=none` removes SLURM_STEP_GPUS and
            // CUDA_VISIBLE_DEVICES from every task of a step that holds GPUs: the task then
            // sees the step's devices outside a container, but which ones is not said. Say why
            // its containers get none instead of passing that over in silence.
            (false, _, Some(count)) if kind == StepKind::Normal => Request::Invalid(format!(
                "the step holds {count} GPU(s) on this node (SLURM_GPUS_ON_NODE={count}) but \
                 Slurm gave this task no GPU list (SLURM_STEP_GPUS unset; Slurm 22.05 does \
                 that with --gpu-bind=none)"
            )),
            _ => Request::NoGpus,
        };
    };

    let mut indices = Vec::new();
    for token in value.split(',').map(str::trim) {
        if token == "NoDevFiles" {
            return Request::Invalid(format!(
                "{var}={value}: Slurm has no device files for these GPUs (gres.conf without File=)"
            ));
        }
        match token.parse::<u32>() {
            Ok(index) if token.bytes().all(|b| b.is_ascii_digit()) => {
                if indices.contains(&index) {
                    return Request::Invalid(format!("{var}={value}: index {index} listed twice"));
                }
                indices.push(index);
            }
            _ => return Request::Invalid(format!("{var}={value}: '{token}' is not a GRES index")),
        }
    }

    if let Some(cvd) = cvd {
        let tokens: Vec<&str> = cvd.split(',').map(str::trim).collect();
        let looks_like_uuid = |t: &str| t.starts_with("GPU-") || t.starts_with("MIG-");
        let uuid_count = tokens.iter().filter(|t| looks_like_uuid(t)).count();
        if uuid_count > 0 {
            if uuid_count != tokens.len() {
                return Request::Invalid(format!(
                    "CUDA_VISIBLE_DEVICES={cvd} mixes UUIDs and indices"
                ));
            }
            if let Some(bad) = tokens.iter().find(|t| !is_gpu_uuid(t) && !is_mig_uuid(t)) {
                return Request::Invalid(format!(
                    "CUDA_VISIBLE_DEVICES holds '{bad}', which is not a GPU or MIG UUID"
                ));
            }
            if tokens.len() != indices.len() {
                return Request::Invalid(format!(
                    "CUDA_VISIBLE_DEVICES={cvd} names {} device(s) but {var}={value} names {}",
                    tokens.len(),
                    indices.len()
                ));
            }
            // Slurm writes both lists in one pass over its devices: position i is the same GPU.
            let mut pairs: Vec<(u32, String)> = indices
                .into_iter()
                .zip(tokens.into_iter().map(str::to_string))
                .collect();
            pairs.sort_by_key(|(index, _)| *index);
            return Request::Uuids { var, pairs };
        }
    }
    indices.sort_unstable();
    Request::Indices { var, indices }
}

/// The node's GPUs as the resolver needs them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeGpus {
    pub node_name: String,
    /// The node's `Name=gpu` device files in gres.conf order.
    pub gres_files: Vec<GpuFile>,
    /// Whether gres.conf has any `Name=gpu` record for the node (even `Count=`-only).
    pub has_gpu_records: bool,
    pub autodetect: Option<AutoDetect>,
    /// Where `/dev/...` paths from gres.conf are looked up (tests point it elsewhere).
    pub dev_root: PathBuf,
    /// The proc root the scan came from, for messages.
    pub proc_root: PathBuf,
    pub proc: ProcScan,
}

impl NodeGpus {
    /// Builds the view from an already parsed gres.conf and proc scan.
    pub fn from_parts(
        conf: &GresConf,
        node_name: &str,
        dev_root: &Path,
        proc_root: &Path,
        proc: ProcScan,
    ) -> NodeGpus {
        NodeGpus {
            node_name: node_name.to_string(),
            gres_files: conf.gpu_files(node_name),
            has_gpu_records: conf.has_gpu_records(node_name),
            autodetect: conf.autodetect(node_name).cloned(),
            dev_root: dev_root.to_path_buf(),
            proc_root: proc_root.to_path_buf(),
            proc,
        }
    }

    /// Reads gres.conf at `gres_conf` and scans `<proc_root>/driver/nvidia/gpus`.
    pub fn read(
        gres_conf: &Path,
        node_name: &str,
        dev_root: &Path,
        proc_root: &Path,
    ) -> Result<NodeGpus, String> {
        let conf = gres_conf::load(gres_conf)?;
        Ok(NodeGpus::from_parts(
            &conf,
            node_name,
            dev_root,
            proc_root,
            proc_nvidia::scan(proc_root),
        ))
    }
}

/// The resolution for a step: reads the request, and only when it holds GRES indices calls
/// `load_node` (so CPU-only steps never touch gres.conf or /proc).
pub fn resolve(
    env: &StepGpuEnv,
    kind: StepKind,
    load_node: impl FnOnce() -> Result<NodeGpus, String>,
    fallback: &dyn UuidByMinor,
) -> Resolution {
    match request(env, kind) {
        Request::NoGpus => Resolution::NoGpus,
        Request::Invalid(reason) => Resolution::Unresolved { reason },
        Request::Uuids { var, pairs } => match load_node() {
            Ok(node) => check_uuids(var, pairs, &node, fallback),
            Err(e) => Resolution::Unresolved {
                reason: format!("{var} names GPUs but the node's GPUs cannot be read: {e}"),
            },
        },
        Request::Indices { var, indices } => match load_node() {
            Ok(node) => resolve_indices(var, &indices, &node, fallback),
            Err(e) => Resolution::Unresolved {
                reason: format!("{var} names GPUs but the node's GPUs cannot be read: {e}"),
            },
        },
    }
}

/// The GPUs named by UUID in `CUDA_VISIBLE_DEVICES`, accepted only where the node agrees: a
/// `GPU-` UUID must be the one the node gives that GRES index, a `MIG-` UUID needs a MIG slice at
/// that index. `CUDA_VISIBLE_DEVICES` is set by Slurm only where gres.conf asks for it; anywhere
/// else it is the user's, and taking it unchecked would hand containers any GPU.
fn check_uuids(
    var: &str,
    pairs: Vec<(u32, String)>,
    node: &NodeGpus,
    fallback: &dyn UuidByMinor,
) -> Resolution {
    let order = match slurm_order(node) {
        Ok((order, _)) => order,
        Err(e) => {
            return Resolution::Unresolved {
                reason: format!("{var}: {e}"),
            }
        }
    };
    let mut gpus = Vec::new();
    for (index, uuid) in pairs {
        let slot = usize::try_from(index).ok().and_then(|i| order.get(i));
        let accepted = match slot.map(|g| &g.source) {
            Some(Source::MigSlice) => is_mig_uuid(&uuid).then_some((None, None)),
            Some(Source::Minor(minor)) => {
                let proc_gpu = node.proc.by_minor(*minor);
                let known = proc_gpu
                    .and_then(|g| g.uuid.clone())
                    .or_else(|| fallback.uuid_for_minor(*minor));
                (known.as_deref() == Some(uuid.as_str()))
                    .then(|| (Some(*minor), proc_gpu.and_then(|g| g.model.clone())))
            }
            _ => None,
        };
        match accepted {
            Some((minor, model)) => gpus.push(ResolvedGpu {
                index,
                minor,
                uuid,
                model,
            }),
            None => {
                return Resolution::Unresolved {
                    reason: format!(
                        "CUDA_VISIBLE_DEVICES names {uuid} for GRES index {index}, which is not \
                         that GPU on node {}",
                        node.node_name
                    ),
                }
            }
        }
    }
    Resolution::Gpus(gpus)
}

/// Where one Slurm GPU is found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A whole GPU with this device minor.
    Minor(u32),
    /// A MIG slice configured through `MultipleFiles=`: only its MIG UUID names it.
    MigSlice,
    /// The device file gives no minor.
    BadFile(String),
}

/// One of the node's GPUs as Slurm numbers them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlurmGpu {
    /// How to name it in messages (`/dev/nvidia2 (gres.conf:3)`, `0000:17:00.0`).
    pub label: String,
    pub source: Source,
    /// The device file from gres.conf (under `dev_root`), when the GPU came from a `File=`.
    pub file: Option<PathBuf>,
}

/// The node's GPUs in Slurm's GRES index order (position N is GRES index N), and a phrase
/// saying how that order was found.
pub fn slurm_order(node: &NodeGpus) -> Result<(Vec<SlurmGpu>, String), String> {
    let from_files = |files: &[GpuFile]| -> Vec<SlurmGpu> {
        files
            .iter()
            .map(|f| {
                let label = format!("{} (gres.conf line {})", f.path.display(), f.line);
                let file = dev_path(&node.dev_root, &f.path);
                let source = if f.is_mig_slice() {
                    Source::MigSlice
                } else {
                    match device_minor(&file) {
                        Ok(minor) => Source::Minor(minor),
                        Err(e) => Source::BadFile(e),
                    }
                };
                SlurmGpu {
                    label,
                    source,
                    file: Some(file),
                }
            })
            .collect()
    };
    match &node.autodetect {
        None | Some(AutoDetect::Off) => {
            if node.gres_files.is_empty() {
                let why = if node.has_gpu_records {
                    "its gres.conf gpu records give no File="
                } else {
                    "gres.conf has no Name=gpu record for it"
                };
                return Err(format!(
                    "node {} has no GPU device files: {why}",
                    node.node_name
                ));
            }
            Ok((
                from_files(&node.gres_files),
                "gres.conf File= order".to_string(),
            ))
        }
        Some(mode @ (AutoDetect::Nvml | AutoDetect::Nvidia)) => {
            if node.proc.gpus.is_empty() {
                return Err(format!(
                    "AutoDetect={} numbers the GPUs the driver reports, but {} lists none{}",
                    mode.name(),
                    proc_nvidia::gpus_dir(&node.proc_root).display(),
                    skipped_suffix(&node.proc)
                ));
            }
            // (sort key, entry): detected GPUs carry a PCI address; gres.conf-only ones sort last.
            let mut detected: Vec<(Option<PciAddress>, u32, SlurmGpu)> = Vec::new();
            let mut config_only: Vec<SlurmGpu> = Vec::new();
            if node.gres_files.is_empty() {
                for gpu in &node.proc.gpus {
                    detected.push((
                        gpu.bus.as_deref().and_then(PciAddress::parse),
                        gpu.minor,
                        SlurmGpu {
                            label: gpu
                                .bus
                                .clone()
                                .unwrap_or_else(|| format!("minor {}", gpu.minor)),
                            source: Source::Minor(gpu.minor),
                            file: None,
                        },
                    ));
                }
            } else {
                for entry in from_files(&node.gres_files) {
                    match entry.source {
                        Source::Minor(minor) => match node.proc.by_minor(minor) {
                            Some(gpu) => detected.push((
                                gpu.bus.as_deref().and_then(PciAddress::parse),
                                minor,
                                entry,
                            )),
                            None => config_only.push(entry),
                        },
                        _ => config_only.push(entry),
                    }
                }
            }
            let phrase = if *mode == AutoDetect::Nvml {
                detected.sort_by(|a, b| match (&a.0, &b.0) {
                    (Some(x), Some(y)) => x.cmp(y).then(a.1.cmp(&b.1)),
                    (Some(_), None) => Ordering::Less,
                    (None, Some(_)) => Ordering::Greater,
                    (None, None) => a.1.cmp(&b.1),
                });
                "AutoDetect=nvml: PCI bus order"
            } else {
                detected.sort_by_key(|entry| entry.1);
                "AutoDetect=nvidia: device file order"
            };
            let mut order: Vec<SlurmGpu> = detected.into_iter().map(|(_, _, g)| g).collect();
            order.extend(config_only);
            Ok((order, phrase.to_string()))
        }
        Some(other) => Err(format!(
            "AutoDetect={} on node {} is not NVIDIA GPU detection",
            other.name(),
            node.node_name
        )),
    }
}

fn skipped_suffix(proc: &ProcScan) -> String {
    if proc.skipped.is_empty() {
        String::new()
    } else {
        format!(" ({})", proc.skipped.join("; "))
    }
}

/// Maps GRES indices to UUIDs on `node`. Every index must map, or the result is `Unresolved`
/// naming each index that did not.
pub fn resolve_indices(
    var: &str,
    indices: &[u32],
    node: &NodeGpus,
    fallback: &dyn UuidByMinor,
) -> Resolution {
    let (order, how) = match slurm_order(node) {
        Ok(found) => found,
        Err(e) => {
            return Resolution::Unresolved {
                reason: format!("{var}={}: {e}", join_indices(indices)),
            }
        }
    };
    let mut gpus = Vec::new();
    let mut problems = Vec::new();
    for &index in indices {
        let Some(gpu) = usize::try_from(index).ok().and_then(|i| order.get(i)) else {
            problems.push(format!(
                "GRES index {index} does not exist on node {} ({} GPU(s) in {how})",
                node.node_name,
                order.len()
            ));
            continue;
        };
        match &gpu.source {
            Source::MigSlice => problems.push(format!(
                "GRES index {index} is a MIG slice ({}) and CUDA_VISIBLE_DEVICES does not carry \
                 its MIG UUID",
                gpu.label
            )),
            Source::BadFile(e) => {
                problems.push(format!("GRES index {index} is {}: {e}", gpu.label))
            }
            Source::Minor(minor) => {
                let proc_gpu = node.proc.by_minor(*minor);
                let uuid = proc_gpu
                    .and_then(|g| g.uuid.clone())
                    .or_else(|| fallback.uuid_for_minor(*minor).filter(|u| is_gpu_uuid(u)));
                match uuid {
                    Some(uuid) => gpus.push(ResolvedGpu {
                        index,
                        minor: Some(*minor),
                        uuid,
                        model: proc_gpu.and_then(|g| g.model.clone()),
                    }),
                    None => problems.push(format!(
                        "GRES index {index} is {} = minor {minor}, for which neither {} nor NVML \
                         gives a UUID{}",
                        gpu.label,
                        proc_nvidia::gpus_dir(&node.proc_root).display(),
                        skipped_suffix(&node.proc)
                    )),
                }
            }
        }
    }
    if problems.is_empty() {
        Resolution::Gpus(gpus)
    } else {
        Resolution::Unresolved {
            reason: format!("{var}={}: {}", join_indices(indices), problems.join("; ")),
        }
    }
}

fn join_indices(indices: &[u32]) -> String {
    indices
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// A PCI address (`domain:bus:device.function`), compared numerically, so NVML's
/// `00000000:17:00.0` equals the driver's `0000:17:00.0`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct PciAddress(u32, u32, u32, u32);

impl PciAddress {
    /// Parses `domain:bus:device.function` in hex; `None` for anything else.
    pub fn parse(text: &str) -> Option<PciAddress> {
        let mut parts = text.trim().splitn(3, ':');
        let domain = u32::from_str_radix(parts.next()?, 16).ok()?;
        let bus = u32::from_str_radix(parts.next()?, 16).ok()?;
        let (device, function) = parts.next()?.split_once('.')?;
        Some(PciAddress(
            domain,
            bus,
            u32::from_str_radix(device, 16).ok()?,
            u32::from_str_radix(function, 16).ok()?,
        ))
    }
}

/// `path` with a leading `/dev/` moved under `dev_root` (unchanged when `dev_root` is `/dev`).
pub fn dev_path(dev_root: &Path, path: &Path) -> PathBuf {
    if dev_root == Path::new("/dev") {
        return path.to_path_buf();
    }
    match path.strip_prefix("/dev") {
        Ok(rest) => dev_root.join(rest),
        Err(_) => path.to_path_buf(),
    }
}

/// The device minor of a GPU device file: the char device's minor number when it is one (real
/// nodes, and the cluster tests' `mknod` files), else the number ending the file name
/// (`nvidia3` is 3), which is what Slurm itself reads from the name.
pub fn device_minor(path: &Path) -> Result<u32, String> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    if let Ok(meta) = std::fs::metadata(path) {
        if meta.file_type().is_char_device() {
            return Ok(linux_minor(meta.rdev()));
        }
    }
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let digits_start = name
        .rfind(|c: char| !c.is_ascii_digit())
        .map_or(0, |i| i + 1);
    name.get(digits_start..)
        .filter(|d| !d.is_empty())
        .and_then(|d| d.parse::<u32>().ok())
        .ok_or_else(|| {
            format!(
                "{} is not a character device and its name ends in no number",
                path.display()
            )
        })
}

/// Minor number of a Linux `dev_t` (glibc's `gnu_dev_minor`).
fn linux_minor(dev: u64) -> u32 {
    let low = dev & 0xff;
    let high = (dev >> 12) & 0xffff_ff00;
    // Both parts fit in 32 bits by construction.
    u32::try_from(low | high).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gpu::gres_conf::parse;
    use crate::gpu::proc_nvidia::{scan, write_fake_gpu};
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> StepGpuEnv {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        StepGpuEnv::from_lookup(|k| map.get(k).cloned())
    }

    /// A node with `n` GPUs: fake /dev/nvidiaN files, /proc entries with UUID GPU-000N...,
    /// bus addresses in minor order.
    struct FakeNode {
        dev: tempfile::TempDir,
        proc: tempfile::TempDir,
    }

    impl FakeNode {
        fn new(n: u32) -> FakeNode {
            let node = FakeNode {
                dev: tempfile::tempdir().unwrap(),
                proc: tempfile::tempdir().unwrap(),
            };
            for minor in 0..n {
                node.add(minor, &format!("0000:{:02x}:00.0", 0x10 + minor));
            }
            node
        }

        fn add(&self, minor: u32, bus: &str) {
            std::fs::write(self.dev.path().join(format!("nvidia{minor}")), "").unwrap();
            write_fake_gpu(self.proc.path(), bus, minor, &uuid(minor), "NVIDIA L40");
        }

        fn view(&self, gres: &str) -> NodeGpus {
            NodeGpus::from_parts(
                &parse(gres).unwrap(),
                "gpu01",
                self.dev.path(),
                self.proc.path(),
                scan(self.proc.path()),
            )
        }
    }

    fn uuid(minor: u32) -> String {
        format!("GPU-{minor:08x}-0000-0000-0000-000000000000")
    }

    fn uuids(resolution: &Resolution) -> Vec<String> {
        match resolution {
            Resolution::Gpus(gpus) => gpus.iter().map(|g| g.uuid.clone()).collect(),
            other => panic!("expected GPUs, got {other:?}"),
        }
    }

    fn reason(resolution: &Resolution) -> String {
        match resolution {
            Resolution::Unresolved { reason } => reason.clone(),
            other => panic!("expected Unresolved, got {other:?}"),
        }
    }

    struct MapFallback(HashMap<u32, String>);

    impl UuidByMinor for MapFallback {
        fn uuid_for_minor(&self, minor: u32) -> Option<String> {
            self.0.get(&minor).cloned()
        }
    }

    #[test]
    fn step_kinds_from_ids() {
        assert_eq!(StepKind::from_step_id(0), StepKind::Normal);
        assert_eq!(StepKind::from_step_id(0xffff_fffb), StepKind::Batch);
        assert_eq!(StepKind::from_step_id(0xffff_fffa), StepKind::Interactive);
        assert_eq!(StepKind::from_step_id(0xffff_fffc), StepKind::Extern);
    }

    #[test]
    fn indices_in_gres_conf_order() {
        let node = FakeNode::new(4);
        // gres.conf lists the cards out of minor order: index 0 is /dev/nvidia2.
        let view = node.view("Name=gpu File=/dev/nvidia[2-3]\nName=gpu File=/dev/nvidia[0-1]");
        let e = env(&[("SLURM_STEP_GPUS", "0,3"), ("CUDA_VISIBLE_DEVICES", "0,1")]);
        let r = resolve(&e, StepKind::Normal, || Ok(view), &NoUuidFallback);
        assert_eq!(uuids(&r), [uuid(2), uuid(1)]);
        if let Resolution::Gpus(gpus) = &r {
            assert_eq!(gpus[0].index, 0);
            assert_eq!(gpus[0].minor, Some(2));
            assert_eq!(gpus[0].model.as_deref(), Some("NVIDIA L40"));
        }
    }

    #[test]
    fn ten_or_more_gpus_sort_numerically() {
        let node = FakeNode::new(12);
        let view = node.view("Name=gpu File=/dev/nvidia[0-11]");
        let e = env(&[("SLURM_STEP_GPUS", "10,9,11,2")]);
        let r = resolve(&e, StepKind::Normal, || Ok(view), &NoUuidFallback);
        assert_eq!(uuids(&r), [uuid(2), uuid(9), uuid(10), uuid(11)]);
    }

    #[test]
    fn uuids_in_cuda_visible_devices_are_checked_against_the_node() {
        let node = FakeNode::new(4);
        // Indices 1 and 3 are MIG slices, 0 and 2 whole GPUs.
        let gres = "Name=gpu File=/dev/nvidia0\n\
            Name=gpu MultipleFiles=/dev/nvidia1,/dev/nvidia-caps/nvidia-cap21\n\
            Name=gpu File=/dev/nvidia2\n\
            Name=gpu MultipleFiles=/dev/nvidia3,/dev/nvidia-caps/nvidia-cap30";
        let mig_a = "MIG-1a2b3c4d-5e6f-7a8b-9c0d-1e2f3a4b5c6d";
        let mig_b = "MIG-GPU-5f8a2c4e-1b2d-4c3e-9f0a-7b6c5d4e3f21/1/0";
        let e = env(&[
            ("SLURM_STEP_GPUS", "3,1,2"),
            (
                "CUDA_VISIBLE_DEVICES",
                &format!("{mig_a},{mig_b},{}", uuid(2)),
            ),
        ]);
        let r = resolve(
            &e,
            StepKind::Normal,
            || Ok(node.view(gres)),
            &NoUuidFallback,
        );
        // Pairs follow the index sort: index 1 was listed second.
        assert_eq!(uuids(&r), [mig_b.to_owned(), uuid(2), mig_a.to_owned()]);

        // A UUID that is not the GPU at its index, or a MIG UUID for a whole GPU: refused.
        for cvd in [uuid(3), mig_a.to_owned()] {
            let e = env(&[("SLURM_STEP_GPUS", "2"), ("CUDA_VISIBLE_DEVICES", &cvd)]);
            let r = resolve(
                &e,
                StepKind::Normal,
                || Ok(node.view(gres)),
                &NoUuidFallback,
            );
            assert!(reason(&r).contains("which is not that GPU"), "{cvd}: {r:?}");
        }
        let e = env(&[("SLURM_STEP_GPUS", "2"), ("CUDA_VISIBLE_DEVICES", &uuid(2))]);
        let r = resolve(
            &e,
            StepKind::Normal,
            || Err("unreadable".into()),
            &NoUuidFallback,
        );
        assert!(reason(&r).contains("cannot be read: unreadable"), "{r:?}");
    }

    #[test]
    fn uuid_lists_that_do_not_fit_are_unresolved() {
        let cases = [
            ("0,1", "GPU-0000aaaa", "names 1 device(s)"),
            ("0,1", "GPU-0000aaaa,1", "mixes"),
            ("0", "GPU-all", "not a GPU or MIG UUID"),
        ];
        for (step, cvd, expect) in cases {
            let e = env(&[("SLURM_STEP_GPUS", step), ("CUDA_VISIBLE_DEVICES", cvd)]);
            let r = resolve(&e, StepKind::Normal, || Err("x".into()), &NoUuidFallback);
            assert!(reason(&r).contains(expect), "{cvd}: {r:?}");
        }
    }

    #[test]
    fn uuids_without_a_slurm_allocation_are_not_trusted() {
        // A user can export CUDA_VISIBLE_DEVICES; only Slurm's own lists say the step has GPUs.
        let e = env(&[("CUDA_VISIBLE_DEVICES", "GPU-0000aaaa")]);
        assert_eq!(
            resolve(&e, StepKind::Normal, || Err("x".into()), &NoUuidFallback),
            Resolution::NoGpus
        );
    }

    #[test]
    fn job_gpus_only_for_the_batch_step() {
        let node = FakeNode::new(2);
        let e = env(&[("SLURM_JOB_GPUS", "1"), ("CUDA_VISIBLE_DEVICES", "0")]);
        let gres = "Name=gpu File=/dev/nvidia[0-1]";
        let r = resolve(&e, StepKind::Batch, || Ok(node.view(gres)), &NoUuidFallback);
        assert_eq!(uuids(&r), [uuid(1)]);
        // In srun and interactive steps SLURM_JOB_GPUS is only inherited (or exported).
        let r = resolve(
            &e,
            StepKind::Interactive,
            || Ok(node.view(gres)),
            &NoUuidFallback,
        );
        assert_eq!(r, Resolution::NoGpus);
        let r = resolve(
            &e,
            StepKind::Normal,
            || Ok(node.view(gres)),
            &NoUuidFallback,
        );
        assert_eq!(r, Resolution::NoGpus);
        let r = resolve(
            &e,
            StepKind::Extern,
            || Ok(node.view(gres)),
            &NoUuidFallback,
        );
        assert_eq!(r, Resolution::NoGpus);
        // Each step reads only the variable Slurm sets for it: a user's SLURM_STEP_GPUS in
        // the batch step, or SLURM_JOB_GPUS in an srun step, changes nothing.
        let e = env(&[("SLURM_JOB_GPUS", "1"), ("SLURM_STEP_GPUS", "0,1")]);
        let r = resolve(&e, StepKind::Batch, || Ok(node.view(gres)), &NoUuidFallback);
        assert_eq!(uuids(&r), [uuid(1)]);
        let e = env(&[("SLURM_STEP_GPUS", "0,1")]);
        let r = resolve(&e, StepKind::Batch, || Ok(node.view(gres)), &NoUuidFallback);
        assert_eq!(r, Resolution::NoGpus);
        let e = env(&[("SLURM_JOB_GPUS", "0,1"), ("SLURM_STEP_GPUS", "0")]);
        for kind in [StepKind::Normal, StepKind::Interactive] {
            let r = resolve(&e, kind, || Ok(node.view(gres)), &NoUuidFallback);
            assert_eq!(uuids(&r), [uuid(0)], "{kind:?}");
        }
    }

    #[test]
    fn cpu_only_steps_never_read_the_node() {
        for e in [env(&[]), env(&[("SLURM_STEP_GPUS", " ")])] {
            let r = resolve(
                &e,
                StepKind::Normal,
                || panic!("gres.conf read for a CPU-only step"),
                &NoUuidFallback,
            );
            assert_eq!(r, Resolution::NoGpus);
        }
    }

    #[test]
    fn bad_index_lists_are_unresolved() {
        for (value, expect) in [
            ("0,x", "'x' is not a GRES index"),
            ("0,,1", "'' is not a GRES index"),
            ("-1", "not a GRES index"),
            ("+1", "not a GRES index"),
            ("1,1", "listed twice"),
            ("NoDevFiles", "no device files"),
        ] {
            let e = env(&[("SLURM_STEP_GPUS", value)]);
            let r = resolve(&e, StepKind::Normal, || Err("x".into()), &NoUuidFallback);
            assert!(reason(&r).contains(expect), "{value}: {r:?}");
        }
    }

    #[test]
    fn gpus_on_node_without_a_list_is_reported_for_srun_steps() {
        // `srun --gpus-per-task=1 -n 2 --gpu-bind=none` on Slurm 22.05: each task gets
        // SLURM_GPUS_ON_NODE=2 and neither SLURM_STEP_GPUS nor CUDA_VISIBLE_DEVICES.
        let e = env(&[("SLURM_GPUS_ON_NODE", "2")]);
        let r = resolve(
            &e,
            StepKind::Normal,
            || panic!("no index list: the node is not read"),
            &NoUuidFallback,
        );
        assert!(reason(&r).contains("SLURM_GPUS_ON_NODE=2"), "{r:?}");
        assert!(reason(&r).contains("--gpu-bind=none"), "{r:?}");
        // Zero, junk, and the special steps stay "no GPU" without a warning: batch and
        // interactive steps carry SLURM_JOB_GPUS, the extern step has no tasks of the user.
        for (e, kind) in [
            (env(&[("SLURM_GPUS_ON_NODE", "0")]), StepKind::Normal),
            (env(&[("SLURM_GPUS_ON_NODE", "x")]), StepKind::Normal),
            (env(&[("SLURM_GPUS_ON_NODE", "2")]), StepKind::Extern),
            (env(&[("SLURM_GPUS_ON_NODE", "2")]), StepKind::Batch),
        ] {
            let r = resolve(&e, kind, || Err("x".into()), &NoUuidFallback);
            assert_eq!(r, Resolution::NoGpus, "{e:?} {kind:?}");
        }
        // With a list, the count changes nothing.
        let node = FakeNode::new(2);
        let e = env(&[("SLURM_GPUS_ON_NODE", "1"), ("SLURM_STEP_GPUS", "1")]);
        let r = resolve(
            &e,
            StepKind::Normal,
            || Ok(node.view("Name=gpu File=/dev/nvidia[0-1]")),
            &NoUuidFallback,
        );
        assert_eq!(uuids(&r), [uuid(1)]);
    }

    #[test]
    fn gpu_shares_are_reported() {
        let e = env(&[("SLURM_SHARDS_ON_NODE", "2"), ("CUDA_VISIBLE_DEVICES", "0")]);
        let r = resolve(&e, StepKind::Normal, || Err("x".into()), &NoUuidFallback);
        assert!(reason(&r).contains("gres/shard"));
    }

    #[test]
    fn missing_entries_are_unresolved_with_the_reason() {
        let node = FakeNode::new(2);
        let e = env(&[("SLURM_STEP_GPUS", "0,2")]);
        let r = resolve(
            &e,
            StepKind::Normal,
            || Ok(node.view("Name=gpu File=/dev/nvidia[0-1]")),
            &NoUuidFallback,
        );
        let why = reason(&r);
        assert!(
            why.contains("GRES index 2 does not exist on node gpu01"),
            "{why}"
        );
        assert!(why.contains("2 GPU(s) in gres.conf File= order"), "{why}");

        // gres.conf names a GPU the driver does not list.
        let e = env(&[("SLURM_STEP_GPUS", "1")]);
        let r = resolve(
            &e,
            StepKind::Normal,
            || Ok(node.view("Name=gpu File=/dev/nvidia0,/dev/nvidia5")),
            &NoUuidFallback,
        );
        let why = reason(&r);
        assert!(why.contains("minor 5"), "{why}");

        let r = resolve(
            &e,
            StepKind::Normal,
            || Err("cannot read /x: gone".into()),
            &NoUuidFallback,
        );
        assert!(reason(&r).contains("cannot read /x"));

        let r = resolve(
            &e,
            StepKind::Normal,
            || Ok(node.view("Name=gpu Count=2")),
            &NoUuidFallback,
        );
        assert!(reason(&r).contains("give no File="));
    }

    #[test]
    fn nvml_fallback_fills_missing_uuids_but_is_checked() {
        let node = FakeNode::new(1);
        std::fs::write(node.dev.path().join("nvidia1"), "").unwrap();
        let view = node.view("Name=gpu File=/dev/nvidia[0-1]");
        let e = env(&[("SLURM_STEP_GPUS", "0,1")]);
        let good = MapFallback(HashMap::from([(1, "GPU-0000beef".to_string())]));
        let r = resolve(&e, StepKind::Normal, || Ok(view.clone()), &good);
        assert_eq!(uuids(&r), [uuid(0), "GPU-0000beef".to_string()]);
        let bad = MapFallback(HashMap::from([(1, "all".to_string())]));
        let r = resolve(&e, StepKind::Normal, || Ok(view), &bad);
        assert!(reason(&r).contains("GRES index 1"));
    }

    #[test]
    fn mig_slices_from_multiple_files_are_unresolved() {
        let node = FakeNode::new(1);
        let view = node.view(
            "Name=gpu MultipleFiles=/dev/nvidia0,/dev/nvidia-caps/nvidia-cap21,/dev/nvidia-caps/nvidia-cap22",
        );
        let e = env(&[("SLURM_STEP_GPUS", "0"), ("CUDA_VISIBLE_DEVICES", "0")]);
        let r = resolve(&e, StepKind::Normal, || Ok(view), &NoUuidFallback);
        assert!(reason(&r).contains("MIG slice"));
    }

    #[test]
    fn autodetect_nvml_uses_pci_bus_order() {
        let node = FakeNode::new(0);
        // Minor order and PCI order disagree: minor 0 sits on the highest bus.
        node.add(0, "0000:b1:00.0");
        node.add(1, "0000:17:00.0");
        node.add(2, "0000:65:00.0");
        let e = env(&[("SLURM_STEP_GPUS", "0,1")]);
        let r = resolve(
            &e,
            StepKind::Normal,
            || Ok(node.view("AutoDetect=nvml")),
            &NoUuidFallback,
        );
        assert_eq!(uuids(&r), [uuid(1), uuid(2)]);
        // With File= lines the kept GPUs are still numbered in PCI order.
        let r = resolve(
            &e,
            StepKind::Normal,
            || Ok(node.view("AutoDetect=nvml\nName=gpu File=/dev/nvidia[0-2]")),
            &NoUuidFallback,
        );
        assert_eq!(uuids(&r), [uuid(1), uuid(2)]);
        // AutoDetect=nvidia numbers by device file.
        let r = resolve(
            &e,
            StepKind::Normal,
            || Ok(node.view("AutoDetect=nvidia")),
            &NoUuidFallback,
        );
        assert_eq!(uuids(&r), [uuid(0), uuid(1)]);
        // A node-local AutoDetect=off goes back to gres.conf order.
        let r = resolve(
            &e,
            StepKind::Normal,
            || {
                Ok(node.view(
                    "AutoDetect=nvml\nNodeName=gpu01 AutoDetect=off\nName=gpu File=/dev/nvidia[2,0,1]",
                ))
            },
            &NoUuidFallback,
        );
        assert_eq!(uuids(&r), [uuid(2), uuid(0)]);
    }

    #[test]
    fn autodetect_without_driver_or_for_other_vendors_is_unresolved() {
        let node = FakeNode::new(0);
        let e = env(&[("SLURM_STEP_GPUS", "0")]);
        let r = resolve(
            &e,
            StepKind::Normal,
            || Ok(node.view("AutoDetect=nvml")),
            &NoUuidFallback,
        );
        assert!(reason(&r).contains("lists none"), "{r:?}");
        let r = resolve(
            &e,
            StepKind::Normal,
            || Ok(node.view("AutoDetect=rsmi\nName=gpu File=/dev/dri/card[0-1]")),
            &NoUuidFallback,
        );
        assert!(reason(&r).contains("not NVIDIA"), "{r:?}");
    }

    #[test]
    fn device_minor_from_char_devices_and_names() {
        // /dev/null is the char device 1:3; its name holds no number, so 3 comes from rdev.
        assert_eq!(device_minor(Path::new("/dev/null")).unwrap(), 3);
        assert_eq!(
            device_minor(Path::new("/nonexistent/nvidia12")).unwrap(),
            12
        );
        assert!(device_minor(Path::new("/nonexistent/nvidiactl")).is_err());
        assert_eq!(linux_minor((195 << 8) | 7), 7);
        // makedev(195, 300): minor bits 8.. live above the major (glibc's encoding).
        let dev = (300u64 & 0xff) | (195 << 8) | ((300u64 & !0xff) << 12);
        assert_eq!(linux_minor(dev), 300);
    }

    #[test]
    fn dev_root_moves_dev_paths_only() {
        let root = Path::new("/tmp/fake");
        assert_eq!(
            dev_path(root, Path::new("/dev/nvidia0")),
            PathBuf::from("/tmp/fake/nvidia0")
        );
        assert_eq!(
            dev_path(root, Path::new("/srv/gpus/nvidia0")),
            PathBuf::from("/srv/gpus/nvidia0")
        );
        assert_eq!(
            dev_path(Path::new("/dev"), Path::new("/dev/nvidia0")),
            PathBuf::from("/dev/nvidia0")
        );
    }

    #[test]
    fn pci_addresses_compare_numerically() {
        let a = PciAddress::parse("0000:17:00.0").unwrap();
        let b = PciAddress::parse("0000:b1:00.0").unwrap();
        let c = PciAddress::parse("00000001:03:00.0").unwrap();
        assert!(a < b && b < c);
        assert!(PciAddress::parse("garbage").is_none());
    }
}
