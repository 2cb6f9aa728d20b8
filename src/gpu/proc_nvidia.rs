//! The NVIDIA driver's view of its GPUs, read from `/proc/driver/nvidia/gpus/<pci>/information`
//! without NVML. Each file names the GPU's device minor (`/dev/nvidiaN`), UUID, model and PCI
//! address:
//!
//! ```text
//! Model:           NVIDIA L40
//! IRQ:             183
//! GPU UUID:        GPU-5f8a2c4e-1b2d-4c3e-9f0a-7b6c5d4e3f21
//! Video BIOS:      95.02.5d.00.01
//! Bus Type:        PCIe
//! DMA Size:        52 bits
//! DMA Mask:        0xfffffffffffff
//! Bus Location:    0000:17:00.0
//! Device Minor:    0
//! GPU Excluded:    No
//! ```
//!
//! MIG devices do not appear here; their UUIDs only reach us through `CUDA_VISIBLE_DEVICES`.

use std::path::{Path, PathBuf};

/// Largest `information` file we read; the real ones are a few hundred bytes.
const MAX_INFORMATION_BYTES: u64 = 64 * 1024;

/// One GPU as the driver reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcGpu {
    /// `Device Minor`: N in `/dev/nvidiaN`.
    pub minor: u32,
    /// `GPU UUID` when it is a well-formed `GPU-…` value (some drivers print `??` before the
    /// GPU was initialised; then NVML is asked instead).
    pub uuid: Option<String>,
    /// `Model`, e.g. `NVIDIA L40`.
    pub model: Option<String>,
    /// PCI address, lower case (`0000:17:00.0`): `Bus Location`, else the directory name.
    pub bus: Option<String>,
}

/// The GPUs found under a proc root, plus why anything was left out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProcScan {
    /// Usable GPUs, sorted by minor number.
    pub gpus: Vec<ProcGpu>,
    /// One line per file or directory that was skipped, saying why.
    pub skipped: Vec<String>,
}

impl ProcScan {
    /// The GPU with this device minor.
    pub fn by_minor(&self, minor: u32) -> Option<&ProcGpu> {
        self.gpus.iter().find(|g| g.minor == minor)
    }
}

/// True for a GPU UUID as the driver prints it: `GPU-` and hex digits with dashes.
pub fn is_gpu_uuid(value: &str) -> bool {
    value.strip_prefix("GPU-").is_some_and(|rest| {
        !rest.is_empty()
            && rest.len() <= 64
            && rest.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-')
    })
}

/// True for a MIG device UUID: `MIG-<uuid>` (R470+) or `MIG-GPU-<uuid>/<gi>/<ci>` (R450).
pub fn is_mig_uuid(value: &str) -> bool {
    value.strip_prefix("MIG-").is_some_and(|rest| {
        !rest.is_empty()
            && rest.len() <= 96
            && rest
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'/')
    })
}

/// Parses one `information` file. `dir_name` (the PCI address directory) stands in for a missing
/// `Bus Location`. Fails when there is no usable `Device Minor`, or when the GPU is excluded
/// from use by the driver (`GPU Excluded: Yes`).
pub fn parse_information(text: &str, dir_name: &str) -> Result<ProcGpu, String> {
    let mut minor = None;
    let mut uuid_field = None;
    let mut model = None;
    let mut bus = None;
    let mut excluded = false;
    for line in text.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        match key.trim().to_ascii_lowercase().as_str() {
            "device minor" => {
                minor = Some(
                    value
                        .parse::<u32>()
                        .map_err(|_| format!("Device Minor '{value}' is not a number"))?,
                );
            }
            "gpu uuid" => uuid_field = Some(value.to_string()),
            "model" if !value.is_empty() => model = Some(value.to_string()),
            "bus location" if !value.is_empty() => bus = Some(value.to_ascii_lowercase()),
            "gpu excluded" => excluded = value.eq_ignore_ascii_case("yes"),
            _ => {}
        }
    }
    let minor = minor.ok_or_else(|| "no Device Minor line".to_string())?;
    if excluded {
        return Err(format!(
            "GPU with minor {minor} is excluded by the driver (GPU Excluded: Yes)"
        ));
    }
    let uuid = uuid_field.filter(|u| is_gpu_uuid(u));
    let bus = bus.or_else(|| (!dir_name.is_empty()).then(|| dir_name.to_ascii_lowercase()));
    Ok(ProcGpu {
        minor,
        uuid,
        model,
        bus,
    })
}

/// Reads every `<proc_root>/driver/nvidia/gpus/*/information`. Never fails: a missing driver
/// directory gives no GPUs and one `skipped` line; unreadable or malformed files are skipped
/// with a reason; two entries claiming the same minor are both dropped (neither can be trusted).
pub fn scan(proc_root: &Path) -> ProcScan {
    let dir = gpus_dir(proc_root);
    let mut scan = ProcScan::default();
    let entries = match std::fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) => {
            scan.skipped.push(format!(
                "{}: {e} (NVIDIA driver not loaded?)",
                dir.display()
            ));
            return scan;
        }
    };
    let mut dirs: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    dirs.sort();
    let mut found = Vec::new();
    for gpu_dir in dirs {
        let file = gpu_dir.join("information");
        let dir_name = gpu_dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        match read_small(&file).and_then(|text| parse_information(&text, &dir_name)) {
            Ok(gpu) => found.push(gpu),
            Err(e) => scan.skipped.push(format!("{}: {e}", file.display())),
        }
    }
    for gpu in &found {
        let same = found.iter().filter(|g| g.minor == gpu.minor).count();
        if same > 1 {
            let line = format!(
                "{}: {same} GPUs claim Device Minor {}; none of them is used",
                dir.display(),
                gpu.minor
            );
            if !scan.skipped.contains(&line) {
                scan.skipped.push(line);
            }
        } else {
            scan.gpus.push(gpu.clone());
        }
    }
    scan.gpus.sort_by_key(|g| g.minor);
    scan
}

/// `<proc_root>/driver/nvidia/gpus`.
pub fn gpus_dir(proc_root: &Path) -> PathBuf {
    proc_root.join("driver").join("nvidia").join("gpus")
}

fn read_small(path: &Path) -> Result<String, String> {
    use std::io::Read;
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let mut text = String::new();
    file.take(MAX_INFORMATION_BYTES)
        .read_to_string(&mut text)
        .map_err(|e| e.to_string())?;
    Ok(text)
}

/// Writes a fake `information` file under `<proc_root>/driver/nvidia/gpus/<bus>/` (tests only).
#[cfg(test)]
pub(crate) fn write_fake_gpu(proc_root: &Path, bus: &str, minor: u32, uuid: &str, model: &str) {
    let dir = gpus_dir(proc_root).join(bus);
    std::fs::create_dir_all(&dir).unwrap();
    let text = format!(
        "Model: \t\t {model}\nIRQ:   \t\t 183\nGPU UUID: \t {uuid}\nVideo BIOS: \t 95.02.5d.00.01\n\
         Bus Type: \t PCIe\nDMA Size: \t 52 bits\nDMA Mask: \t 0xfffffffffffff\n\
         Bus Location: \t {bus}\nDevice Minor: \t {minor}\nGPU Excluded:\t No\n"
    );
    std::fs::write(dir.join("information"), text).unwrap();
}

#[cfg(test)]
mod tests {
    use super::*;

    const L40: &str = "Model: \t\t NVIDIA L40\n\
IRQ:   \t\t 183\n\
GPU UUID: \t GPU-5f8a2c4e-1b2d-4c3e-9f0a-7b6c5d4e3f21\n\
Video BIOS: \t 95.02.5d.00.01\n\
Bus Type: \t PCIe\n\
DMA Size: \t 52 bits\n\
DMA Mask: \t 0xfffffffffffff\n\
Bus Location: \t 0000:17:00.0\n\
Device Minor: \t 3\n\
GPU Excluded:\t No\n";

    #[test]
    fn parses_a_real_looking_file() {
        let gpu = parse_information(L40, "0000:17:00.0").unwrap();
        assert_eq!(
            gpu,
            ProcGpu {
                minor: 3,
                uuid: Some("GPU-5f8a2c4e-1b2d-4c3e-9f0a-7b6c5d4e3f21".to_string()),
                model: Some("NVIDIA L40".to_string()),
                bus: Some("0000:17:00.0".to_string()),
            }
        );
    }

    #[test]
    fn odd_values_are_handled() {
        // An uninitialised GPU: UUID unknown, still usable through NVML by minor.
        let gpu = parse_information("GPU UUID: ??\nDevice Minor: 1\n", "0000:3B:00.0").unwrap();
        assert_eq!(gpu.uuid, None);
        assert_eq!(gpu.bus.as_deref(), Some("0000:3b:00.0"));
        assert!(parse_information("Model: X\n", "d").is_err());
        assert!(parse_information("Device Minor: seven\n", "d").is_err());
        let excluded = parse_information("Device Minor: 2\nGPU Excluded: Yes\n", "d");
        assert!(excluded.unwrap_err().contains("excluded"));
        assert!(parse_information("", "d").is_err());
        assert!(
            parse_information("GPU UUID: GPU-all,GPU-0\nDevice Minor: 0", "d")
                .unwrap()
                .uuid
                .is_none()
        );
    }

    #[test]
    fn uuid_shapes() {
        assert!(is_gpu_uuid("GPU-5f8a2c4e-1b2d-4c3e-9f0a-7b6c5d4e3f21"));
        assert!(!is_gpu_uuid("GPU-"));
        assert!(!is_gpu_uuid("all"));
        assert!(!is_gpu_uuid("GPU-xyz"));
        assert!(is_mig_uuid("MIG-1a2b3c4d-5e6f-7a8b-9c0d-1e2f3a4b5c6d"));
        assert!(is_mig_uuid(
            "MIG-GPU-5f8a2c4e-1b2d-4c3e-9f0a-7b6c5d4e3f21/1/0"
        ));
        assert!(!is_mig_uuid("MIG-a,b"));
        assert!(!is_mig_uuid("GPU-5f8a"));
    }

    #[test]
    fn scans_a_fake_tree_and_skips_bad_entries() {
        let root = tempfile::tempdir().unwrap();
        write_fake_gpu(root.path(), "0000:65:00.0", 1, "GPU-bbbb", "NVIDIA L40");
        write_fake_gpu(root.path(), "0000:17:00.0", 0, "GPU-aaaa", "NVIDIA L40");
        let broken = gpus_dir(root.path()).join("0000:99:00.0");
        std::fs::create_dir_all(&broken).unwrap();
        std::fs::write(broken.join("information"), "garbage\n").unwrap();
        std::fs::create_dir_all(gpus_dir(root.path()).join("0000:aa:00.0")).unwrap();

        let scan = scan(root.path());
        let minors: Vec<u32> = scan.gpus.iter().map(|g| g.minor).collect();
        assert_eq!(minors, [0, 1]);
        assert_eq!(scan.by_minor(1).unwrap().uuid.as_deref(), Some("GPU-bbbb"));
        assert_eq!(scan.skipped.len(), 2, "{:?}", scan.skipped);
        assert!(scan.skipped.iter().any(|s| s.contains("0000:99:00.0")));
        assert!(scan.skipped.iter().any(|s| s.contains("0000:aa:00.0")));
    }

    #[test]
    fn duplicate_minors_are_dropped() {
        let root = tempfile::tempdir().unwrap();
        write_fake_gpu(root.path(), "0000:17:00.0", 0, "GPU-aaaa", "A");
        write_fake_gpu(root.path(), "0000:18:00.0", 0, "GPU-bbbb", "B");
        write_fake_gpu(root.path(), "0000:19:00.0", 1, "GPU-cccc", "C");
        let scan = scan(root.path());
        assert_eq!(scan.gpus.len(), 1);
        assert_eq!(scan.skipped.len(), 1, "{:?}", scan.skipped);
        assert!(scan.skipped[0].contains("Device Minor 0"));
    }

    #[test]
    fn the_shipped_fixture_tree_scans_clean() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/proc_nvidia");
        let scan = scan(&root);
        assert!(scan.skipped.is_empty(), "{:?}", scan.skipped);
        let minors: Vec<u32> = scan.gpus.iter().map(|g| g.minor).collect();
        assert_eq!(minors, [0, 1, 2, 3]);
        assert_eq!(
            scan.by_minor(2).and_then(|g| g.uuid.as_deref()),
            Some("GPU-a3d97f12-6c4b-4e8d-b5a0-9e1f7c2d4b38")
        );
        assert_eq!(
            scan.by_minor(3).and_then(|g| g.bus.as_deref()),
            Some("0000:e3:00.0")
        );
    }

    #[test]
    fn missing_driver_directory_is_reported_not_fatal() {
        let root = tempfile::tempdir().unwrap();
        let scan = scan(root.path());
        assert!(scan.gpus.is_empty());
        assert_eq!(scan.skipped.len(), 1);
        assert!(scan.skipped[0].contains("driver/nvidia/gpus"));
    }
}
