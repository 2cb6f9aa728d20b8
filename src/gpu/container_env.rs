//! Environment variables that make container runtimes started by a task see exactly the step's
//! GPUs, named by UUID so the answer holds outside the job's cgroup too (rootful Docker reads
//! indices in the host's order).
//!
//! Variable families (rci.conf `ContainerEnv=`, default all four):
//! - `nvidia`: `NVIDIA_VISIBLE_DEVICES` (enroot/pyxis, nvidia-container-runtime, podman hooks),
//!   plus `NVIDIA_DRIVER_CAPABILITIES` when `NvidiaDriverCapabilities=` is set (unset: the image
//!   decides);
//! - `apptainer`, `singularity`: `APPTAINERENV_NVIDIA_VISIBLE_DEVICES` /
//!   `SINGULARITYENV_NVIDIA_VISIBLE_DEVICES`, which set the variable inside the container (for
//!   tools and nested runtimes there). Apptainer 1.1 logs an INFO line when both prefixes are
//!   set; sites with Apptainer only can leave `singularity` out;
//! - `cdi`: `RCI_CDI_DEVICES` (name set by `ContainerCdiVariable=`) =
//!   `nvidia.com/gpu=<uuid>,...`, for `--device` of CDI-aware runtimes (podman, docker 25+); the
//!   node's CDI spec must name devices by UUID (`nvidia-ctk cdi generate` with the `uuid`
//!   device-name strategy).
//!
//! Values: GPUs → their UUIDs in Slurm's order; no GPU → `void` (no device and no driver
//! libraries; `none` would keep the libraries and broke enroot) and an empty CDI list; GPUs that
//! cannot be identified → the same as no GPU, never more than the allocation, plus a warning.
//! Values the user set for these variables are replaced, never merged: the plan lists every
//! variable of the enabled families, and the caller overwrites each one.
//!
//! Deliberately not written:
//! - `APPTAINERENV_CUDA_VISIBLE_DEVICES`: apptainer passes the host environment through, so the
//!   task's `CUDA_VISIBLE_DEVICES` (Slurm's, consistent with the cgroup's device numbering and
//!   with `--gpu-bind`) already reaches the container; overriding it with the step's UUIDs would
//!   undo per-task binding.
//! - a task-to-GPU map of our own: containers started by a task get the GPUs of that task's
//!   `SLURM_STEP_GPUS`, as Slurm wrote it for the task. Where Slurm binds GPUs to tasks it
//!   narrows that list per task: `srun --gpus-per-task=1 -n 2` (which implies per-task binding)
//!   and `--gpu-bind=single:1` give task 0 one GPU and task 1 the other. Without binding
//!   (`--gpus=2 -n 2`, `--gres=gpu:2 -n 2`) every task gets the step's whole list. With
//!   `--gpu-bind=none` Slurm 22.05 leaves the tasks no list at all (only `SLURM_GPUS_ON_NODE`):
//!   their containers get `void`, with a warning saying so. tests/container_env.rs checks these
//!   cases against a real slurmstepd.

use crate::gpu::resolve::{self, NodeGpus, Resolution, StepGpuEnv, StepKind, UuidByMinor};

pub use crate::config::container::{
    ContainerConfig, ContainerFamilies, DEFAULT_CDI_VARIABLE, DEFAULT_GRES_CONF, NO_GPU,
};

/// What to do to a task's environment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EnvPlan {
    /// Variables to set, overwriting any existing value, in this order.
    pub set: Vec<(String, String)>,
    /// Lines for the task's stderr and slurmd's log.
    pub warnings: Vec<String>,
}

impl EnvPlan {
    /// The planned value of `name`, if the plan sets it.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.set
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }
}

/// The variables for a resolution (see the module docs). A disabled config plans nothing.
pub fn container_env(cfg: &ContainerConfig, resolution: &Resolution) -> EnvPlan {
    let mut plan = EnvPlan::default();
    if !cfg.enabled {
        return plan;
    }
    let (visible, cdi) = match resolution {
        Resolution::Gpus(gpus) if !gpus.is_empty() => (
            gpus.iter()
                .map(|g| g.uuid.as_str())
                .collect::<Vec<_>>()
                .join(","),
            gpus.iter()
                .map(|g| format!("nvidia.com/gpu={}", g.uuid))
                .collect::<Vec<_>>()
                .join(","),
        ),
        Resolution::Gpus(_) | Resolution::NoGpus => (NO_GPU.to_string(), String::new()),
        Resolution::Unresolved { reason } => {
            plan.warnings.push(format!(
                "rci: this step's containers get no GPU (NVIDIA_VISIBLE_DEVICES={NO_GPU}): {reason}"
            ));
            (NO_GPU.to_string(), String::new())
        }
    };
    let mut set = |name: &str, value: &str| plan.set.push((name.to_string(), value.to_string()));
    if cfg.families.nvidia {
        set("NVIDIA_VISIBLE_DEVICES", &visible);
        if let Some(caps) = &cfg.nvidia_driver_capabilities {
            set("NVIDIA_DRIVER_CAPABILITIES", caps);
        }
    }
    if cfg.families.apptainer {
        set("APPTAINERENV_NVIDIA_VISIBLE_DEVICES", &visible);
    }
    if cfg.families.singularity {
        set("SINGULARITYENV_NVIDIA_VISIBLE_DEVICES", &visible);
    }
    if cfg.families.cdi {
        set(&cfg.cdi_variable, &cdi);
    }
    plan
}

/// The whole job for one step, as called from SPANK: read the step's GPU variables through
/// `env_lookup`, read gres.conf and the driver's /proc tree only if the step holds GPU indices,
/// resolve, and plan the variables. `step` comes from `S_JOB_STEPID`
/// ([`StepKind::from_step_id`]); `uuid_fallback` is NVML, asked only for GPUs /proc does not name.
pub fn plan_for_step(
    cfg: &ContainerConfig,
    step: StepKind,
    env_lookup: impl Fn(&str) -> Option<String>,
    node_name: &str,
    uuid_fallback: &dyn UuidByMinor,
) -> EnvPlan {
    if !cfg.enabled {
        return EnvPlan::default();
    }
    let env = StepGpuEnv::from_lookup(env_lookup);
    let gres_conf = cfg.gres_conf_path();
    let resolution = resolve::resolve(
        &env,
        step,
        || NodeGpus::read(&gres_conf, node_name, &cfg.dev_root, &cfg.nvidia_proc_root),
        uuid_fallback,
    );
    container_env(cfg, &resolution)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gpu::proc_nvidia::write_fake_gpu;
    use crate::gpu::resolve::{NoUuidFallback, ResolvedGpu};
    use std::collections::HashMap;
    use std::path::PathBuf;

    fn gpus(uuids: &[&str]) -> Resolution {
        Resolution::Gpus(
            uuids
                .iter()
                .enumerate()
                .map(|(i, u)| ResolvedGpu {
                    index: i as u32,
                    minor: Some(i as u32),
                    uuid: u.to_string(),
                    model: None,
                })
                .collect(),
        )
    }

    const ALL_VARS: [&str; 4] = [
        "NVIDIA_VISIBLE_DEVICES",
        "APPTAINERENV_NVIDIA_VISIBLE_DEVICES",
        "SINGULARITYENV_NVIDIA_VISIBLE_DEVICES",
        "RCI_CDI_DEVICES",
    ];

    #[test]
    fn gpus_give_uuids_everywhere() {
        let plan = container_env(&ContainerConfig::default(), &gpus(&["GPU-aa", "GPU-bb"]));
        let names: Vec<&str> = plan.set.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(names, ALL_VARS);
        assert_eq!(plan.get("NVIDIA_VISIBLE_DEVICES"), Some("GPU-aa,GPU-bb"));
        assert_eq!(
            plan.get("APPTAINERENV_NVIDIA_VISIBLE_DEVICES"),
            Some("GPU-aa,GPU-bb")
        );
        assert_eq!(
            plan.get("SINGULARITYENV_NVIDIA_VISIBLE_DEVICES"),
            Some("GPU-aa,GPU-bb")
        );
        assert_eq!(
            plan.get("RCI_CDI_DEVICES"),
            Some("nvidia.com/gpu=GPU-aa,nvidia.com/gpu=GPU-bb")
        );
        assert!(plan.get("NVIDIA_DRIVER_CAPABILITIES").is_none());
        assert!(plan.get("APPTAINERENV_CUDA_VISIBLE_DEVICES").is_none());
        assert!(plan.warnings.is_empty());
    }

    #[test]
    fn no_gpus_is_void_without_warning() {
        for resolution in [Resolution::NoGpus, Resolution::Gpus(Vec::new())] {
            let plan = container_env(&ContainerConfig::default(), &resolution);
            assert_eq!(plan.get("NVIDIA_VISIBLE_DEVICES"), Some("void"));
            assert_eq!(
                plan.get("APPTAINERENV_NVIDIA_VISIBLE_DEVICES"),
                Some("void")
            );
            assert_eq!(
                plan.get("SINGULARITYENV_NVIDIA_VISIBLE_DEVICES"),
                Some("void")
            );
            assert_eq!(plan.get("RCI_CDI_DEVICES"), Some(""));
            assert!(plan.warnings.is_empty());
        }
    }

    #[test]
    fn unresolved_is_void_with_the_reason() {
        let plan = container_env(
            &ContainerConfig::default(),
            &Resolution::Unresolved {
                reason: "GRES index 7 does not exist".to_string(),
            },
        );
        assert_eq!(plan.get("NVIDIA_VISIBLE_DEVICES"), Some("void"));
        assert_eq!(plan.get("RCI_CDI_DEVICES"), Some(""));
        assert_eq!(plan.warnings.len(), 1);
        assert!(plan.warnings[0].contains("GRES index 7 does not exist"));
    }

    #[test]
    fn families_capabilities_and_cdi_name() {
        let mut cfg = ContainerConfig::default();
        assert_eq!(cfg.set_key("containerenv", "NVIDIA, cdi"), Some(Ok(())));
        assert_eq!(
            cfg.set_key("nvidiadrivercapabilities", "compute, Utility"),
            Some(Ok(()))
        );
        assert_eq!(cfg.set_key("containercdivariable", "MY_CDI"), Some(Ok(())));
        let plan = container_env(&cfg, &gpus(&["GPU-aa"]));
        let names: Vec<&str> = plan.set.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            names,
            [
                "NVIDIA_VISIBLE_DEVICES",
                "NVIDIA_DRIVER_CAPABILITIES",
                "MY_CDI"
            ]
        );
        assert_eq!(
            plan.get("NVIDIA_DRIVER_CAPABILITIES"),
            Some("compute,utility")
        );

        assert_eq!(cfg.set_key("containerenv", "apptainer"), Some(Ok(())));
        let plan = container_env(&cfg, &Resolution::NoGpus);
        assert_eq!(
            plan.set,
            [(
                "APPTAINERENV_NVIDIA_VISIBLE_DEVICES".to_string(),
                "void".to_string()
            )]
        );
        assert_eq!(cfg.set_key("containerenv", "none"), Some(Ok(())));
        assert!(container_env(&cfg, &Resolution::NoGpus).set.is_empty());
        assert_eq!(cfg.set_key("containerenv", "all"), Some(Ok(())));
        assert_eq!(container_env(&cfg, &Resolution::NoGpus).set.len(), 5);
        assert_eq!(cfg.set_key("nvidiadrivercapabilities", ""), Some(Ok(())));
        assert_eq!(container_env(&cfg, &Resolution::NoGpus).set.len(), 4);
    }

    #[test]
    fn disabled_plans_nothing() {
        let mut cfg = ContainerConfig::default();
        assert_eq!(cfg.set_key("containergpuenv", "no"), Some(Ok(())));
        let plan = container_env(&cfg, &Resolution::Unresolved { reason: "x".into() });
        assert_eq!(plan, EnvPlan::default());
        let plan = plan_for_step(
            &cfg,
            StepKind::Normal,
            |_| panic!("env read while disabled"),
            "n",
            &NoUuidFallback,
        );
        assert_eq!(plan, EnvPlan::default());
    }

    #[test]
    fn set_key_validates_and_ignores_foreign_keys() {
        let mut cfg = ContainerConfig::default();
        assert_eq!(cfg.set_key("maxtime", "1"), None);
        for (key, value) in [
            ("containergpuenv", "maybe"),
            ("containerenv", "docker"),
            ("containerenv", ""),
            ("containerenv", "none,cdi"),
            ("containercdivariable", "1BAD"),
            ("containercdivariable", "A-B"),
            ("containercdivariable", "NVIDIA_VISIBLE_DEVICES"),
            ("containercdivariable", "SLURM_JOB_ID"),
            ("nvidiadrivercapabilities", "compute,everything"),
            ("gresconf", "gres.conf"),
            ("nvidiaprocroot", "proc"),
            ("devroot", ""),
        ] {
            let result = cfg.set_key(key, value);
            assert!(
                matches!(result, Some(Err(_))),
                "{key}={value} gave {result:?}"
            );
        }
        assert_eq!(
            cfg,
            ContainerConfig::default(),
            "failed keys change nothing"
        );
        assert_eq!(
            cfg.set_key("gresconf", "/srv/slurm/gres.conf"),
            Some(Ok(()))
        );
        assert_eq!(cfg.gres_conf_path(), PathBuf::from("/srv/slurm/gres.conf"));
    }

    #[test]
    fn gres_conf_path_defaults() {
        let mut cfg = ContainerConfig::default();
        assert_eq!(cfg.gres_conf_path(), PathBuf::from(DEFAULT_GRES_CONF));
        cfg.slurm_conf_dir = Some(PathBuf::from("/etc/slurm-llnl"));
        assert_eq!(
            cfg.gres_conf_path(),
            PathBuf::from("/etc/slurm-llnl/gres.conf")
        );
    }

    /// A node on disk: gres.conf, fake /dev files, fake /proc tree.
    fn fake_node(n: u32) -> (tempfile::TempDir, ContainerConfig) {
        let root = tempfile::tempdir().unwrap();
        let dev = root.path().join("dev");
        let proc = root.path().join("proc");
        std::fs::create_dir_all(&dev).unwrap();
        for minor in 0..n {
            std::fs::write(dev.join(format!("nvidia{minor}")), "").unwrap();
            write_fake_gpu(
                &proc,
                &format!("0000:{:02x}:00.0", 0x17 + minor),
                minor,
                &format!("GPU-{minor:04}aaaa"),
                "NVIDIA L40",
            );
        }
        let gres = root.path().join("gres.conf");
        std::fs::write(
            &gres,
            format!(
                "NodeName=gpu[01-02] Name=gpu Type=l40 File=/dev/nvidia[0-{}]\n",
                n - 1
            ),
        )
        .unwrap();
        let mut cfg = ContainerConfig::default();
        for (key, value) in [
            ("gresconf", gres.to_str().unwrap()),
            ("devroot", dev.to_str().unwrap()),
            ("nvidiaprocroot", proc.to_str().unwrap()),
        ] {
            assert_eq!(cfg.set_key(key, value), Some(Ok(())));
        }
        (root, cfg)
    }

    fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn plan_for_step_end_to_end() {
        let (_root, cfg) = fake_node(4);
        // The user exported NVIDIA_VISIBLE_DEVICES=all; the plan replaces it.
        let env = lookup(&[
            ("SLURM_STEP_GPUS", "1,3"),
            ("CUDA_VISIBLE_DEVICES", "0,1"),
            ("NVIDIA_VISIBLE_DEVICES", "all"),
        ]);
        let plan = plan_for_step(&cfg, StepKind::Normal, env, "gpu02", &NoUuidFallback);
        assert_eq!(
            plan.get("NVIDIA_VISIBLE_DEVICES"),
            Some("GPU-0001aaaa,GPU-0003aaaa")
        );
        assert_eq!(
            plan.get("RCI_CDI_DEVICES"),
            Some("nvidia.com/gpu=GPU-0001aaaa,nvidia.com/gpu=GPU-0003aaaa")
        );
        assert!(plan.warnings.is_empty(), "{:?}", plan.warnings);

        // CPU-only step.
        let plan = plan_for_step(
            &cfg,
            StepKind::Normal,
            lookup(&[("NVIDIA_VISIBLE_DEVICES", "all")]),
            "gpu02",
            &NoUuidFallback,
        );
        assert_eq!(plan.get("NVIDIA_VISIBLE_DEVICES"), Some("void"));
        assert!(plan.warnings.is_empty());

        // A node gres.conf does not describe: void plus a warning, never "all".
        let plan = plan_for_step(
            &cfg,
            StepKind::Batch,
            lookup(&[("SLURM_JOB_GPUS", "0")]),
            "gpu03",
            &NoUuidFallback,
        );
        assert_eq!(plan.get("NVIDIA_VISIBLE_DEVICES"), Some("void"));
        assert!(plan.warnings[0].contains("gpu03"), "{:?}", plan.warnings);
    }

    #[test]
    fn plan_for_step_without_gres_conf_warns() {
        let (root, mut cfg) = fake_node(1);
        cfg.gres_conf = Some(root.path().join("missing.conf"));
        let plan = plan_for_step(
            &cfg,
            StepKind::Normal,
            lookup(&[("SLURM_STEP_GPUS", "0")]),
            "gpu01",
            &NoUuidFallback,
        );
        assert_eq!(plan.get("NVIDIA_VISIBLE_DEVICES"), Some("void"));
        assert!(
            plan.warnings[0].contains("missing.conf"),
            "{:?}",
            plan.warnings
        );
    }
}
