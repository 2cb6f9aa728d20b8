//! Generates Rust bindings for Slurm's public headers and turns the Slurm release into cfgs, so
//! one source tree is correct for every release from 22.05 to 26.11 (master).
//!
//! `SLURM_INCLUDE_DIR` chooses the headers (default `/usr/include`). It may name a directory
//! holding `slurm/` (`/usr/include`, a sysroot's `usr/include`, `../shared/slurm-headers/25.11.7`),
//! the `slurm/` directory itself, or a sysroot (`<root>/usr/include/slurm`). bindgen only ever
//! sees that `slurm/` directory (through a private `-I` holding one symlink), never the libc
//! headers next to it, and the build fails if any Slurm header came from anywhere else.

use std::env;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Every release difference rci compiles for, one row each (ngx-rust style): the cfg, the first
/// `SLURM_VERSION_NUMBER` that has the change, and what changed. Code uses `#[cfg(name)]` for the
/// newer form; README §Slurm releases lists the same facts for admins.
const SLURM_RELEASE_CFGS: &[(&str, u32, &str)] = &[
    (
        "slurm_job_modify_err_msg",
        0x170200,
        "23.02: job_modify() gains `char **err_msg`",
    ),
    (
        "slurm_auth_nobody_unset",
        0x170200,
        "23.02: an unset job_desc.user_id (scontrol update) reads SLURM_AUTH_NOBODY (99), not NO_VAL",
    ),
    (
        "slurm_job_desc_step_id",
        0x190b00,
        "25.11: job_desc_msg_t.job_id moves to step_id.job_id (slurm_step_id_t)",
    ),
];

/// The headers include/rci_slurm.h needs, inside the chosen `slurm/` directory.
const REQUIRED_HEADERS: &[&str] = &["slurm.h", "slurm_errno.h", "slurm_version.h", "spank.h"];

fn main() {
    println!("cargo:rerun-if-changed=include/rci_slurm.h");
    println!("cargo:rerun-if-env-changed=SLURM_INCLUDE_DIR");
    for (name, _, _) in SLURM_RELEASE_CFGS {
        println!("cargo::rustc-check-cfg=cfg({name})");
    }

    let chosen = env::var_os("SLURM_INCLUDE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/include"));
    let slurm_dir = find_slurm_dir(&chosen).unwrap_or_else(|e| panic!("{e}"));
    for header in REQUIRED_HEADERS {
        println!(
            "cargo:rerun-if-changed={}",
            slurm_dir.join(header).display()
        );
    }
    let version = read_version(&slurm_dir.join("slurm_version.h"));
    for (name, since, _) in SLURM_RELEASE_CFGS {
        if version >= *since {
            println!("cargo:rustc-cfg={name}");
        }
    }
    println!("cargo:rustc-env=RCI_SLURM_VERSION_NUMBER={version}");
    println!(
        "cargo:rustc-env=RCI_SLURM_INCLUDE_DIR={}",
        slurm_dir.display()
    );

    // `-I<out>/slurm-include` holds nothing but `slurm -> <chosen slurm dir>`: the headers find
    // each other as <slurm/...>, while <stdint.h> and friends come from the build host's libc.
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let private_include = out.join("slurm-include");
    let link = private_include.join("slurm");
    let _ = fs::remove_file(&link);
    fs::create_dir_all(&private_include).expect("creating OUT_DIR/slurm-include");
    std::os::unix::fs::symlink(&slurm_dir, &link)
        .unwrap_or_else(|e| panic!("linking {} to {}: {e}", link.display(), slurm_dir.display()));

    let included = Arc::new(Mutex::new(Vec::new()));
    let bindings = bindgen::Builder::default()
        .header("include/rci_slurm.h")
        .clang_arg(format!("-I{}", private_include.display()))
        .parse_callbacks(Box::new(IncludeRecorder(included.clone())))
        .allowlist_type("job_desc_msg_t|slurm_conf_t|spank_t|spank_item_t|spank_err_t|spank_context_t|spank_option|spank_opt_cb_f|spank_context")
        // No functions: rci looks Slurm's functions up at run time (src/ffi/slurm.rs, spank.rs)
        // so the plugins carry no undefined symbols that the loader would bind eagerly.
        .allowlist_var("SLURM_VERSION_NUMBER|SLURM_EXTERN_CONT|SLURM_BATCH_SCRIPT|SLURM_INTERACTIVE_STEP|SLURM_SUCCESS|SLURM_ERROR|NO_VAL|NO_VAL16|NO_VAL64|INFINITE|INFINITE16|INFINITE64|ESLURM_.*|ESPANK_.*|S_.*|SPANK_.*")
        .opaque_type("job_record_t|job_record")
        .prepend_enum_name(false)
        .layout_tests(false)
        .generate_comments(false)
        .generate()
        .unwrap_or_else(|e| {
            panic!(
                "bindgen failed on include/rci_slurm.h with Slurm headers from {}: {e}. Install \
                 libslurm-dev, slurm-wlm-basic-plugins-dev and libclang-dev, or set \
                 SLURM_INCLUDE_DIR.",
                slurm_dir.display()
            )
        });
    check_includes(&included.lock().expect("include list"), &link, &slurm_dir);
    bindings
        .write_to_file(out.join("slurm_bindings.rs"))
        .expect("writing slurm_bindings.rs to OUT_DIR");
}

/// The `slurm/` directory that `chosen` names (see the module doc), with every required header.
fn find_slurm_dir(chosen: &Path) -> Result<PathBuf, String> {
    let candidates = [
        chosen.join("slurm"),
        chosen.to_path_buf(),
        chosen.join("usr/include/slurm"),
    ];
    let found = candidates
        .iter()
        .find(|dir| dir.join("slurm.h").is_file())
        .ok_or_else(|| {
            format!(
                "SLURM_INCLUDE_DIR={}: no slurm/slurm.h there (looked in {}). Point it at a \
                 directory holding slurm/ (e.g. /usr/include or ../shared/slurm-headers/<release>), \
                 or install libslurm-dev.",
                chosen.display(),
                candidates
                    .iter()
                    .map(|c| c.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })?;
    let dir = fs::canonicalize(found).map_err(|e| format!("{}: {e}", found.display()))?;
    let missing: Vec<&str> = REQUIRED_HEADERS
        .iter()
        .copied()
        .filter(|h| !dir.join(h).is_file())
        .collect();
    if !missing.is_empty() {
        return Err(format!(
            "{} lacks {}: rci builds only against one complete set of Slurm headers (spank.h is \
             in slurm-wlm-basic-plugins-dev on Debian), never mixing in another release's",
            dir.display(),
            missing.join(", ")
        ));
    }
    Ok(dir)
}

/// Fails the build if clang took a Slurm header from anywhere but `slurm_dir` (for example a
/// header the chosen set lacks, found in the host's /usr/include/slurm instead).
fn check_includes(included: &[String], link: &Path, slurm_dir: &Path) {
    for file in included {
        let path = Path::new(file);
        let is_slurm = path
            .parent()
            .and_then(Path::file_name)
            .is_some_and(|d| d == "slurm");
        if !is_slurm {
            continue;
        }
        let ours = path.starts_with(link)
            || path.starts_with(slurm_dir)
            || fs::canonicalize(path).is_ok_and(|p| p.starts_with(slurm_dir));
        if !ours {
            panic!(
                "bindgen read {file}, which is not under the chosen Slurm headers {}: that set \
                 is incomplete; rci will not mix headers of two Slurm installations",
                slurm_dir.display()
            );
        }
    }
}

/// Records every file clang opens, for [`check_includes`].
#[derive(Debug)]
struct IncludeRecorder(Arc<Mutex<Vec<String>>>);

impl bindgen::callbacks::ParseCallbacks for IncludeRecorder {
    fn include_file(&self, filename: &str) {
        println!("cargo:rerun-if-changed={filename}");
        self.0
            .lock()
            .expect("include list")
            .push(filename.to_string());
    }
}

/// Reads `#define SLURM_VERSION_NUMBER 0x160508` from slurm_version.h.
fn read_version(path: &Path) -> u32 {
    let text =
        fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("#define SLURM_VERSION_NUMBER"))
        .find_map(|v| u32::from_str_radix(v.trim().trim_start_matches("0x"), 16).ok())
        .unwrap_or_else(|| panic!("no SLURM_VERSION_NUMBER in {}", path.display()))
}
