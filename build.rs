//! Generates Rust bindings for the installed Slurm's public headers and exposes the Slurm release
//! as cfgs, so one source tree stays correct for Slurm 22.05 through 25.11.
//!
//! Set `SLURM_INCLUDE_DIR` to build against headers outside /usr/include (the directory that
//! contains `slurm/slurm.h`).

use std::env;
use std::fs;
use std::path::PathBuf;

/// Releases whose API differences we compile for: (cfg name, first version with the change).
/// `slurm_job_modify_err_msg`: job_modify() gained `char **err_msg` in 23.02.
const VERSION_CFGS: &[(&str, u32)] = &[("slurm_job_modify_err_msg", 0x170200)];

fn main() {
    println!("cargo:rerun-if-changed=include/rci_slurm.h");
    println!("cargo:rerun-if-env-changed=SLURM_INCLUDE_DIR");
    for (name, _) in VERSION_CFGS {
        println!("cargo::rustc-check-cfg=cfg({name})");
    }

    let include_dir = env::var_os("SLURM_INCLUDE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/include"));
    let version_header = include_dir.join("slurm/slurm_version.h");
    println!("cargo:rerun-if-changed={}", version_header.display());
    let version = read_version(&version_header);

    for (name, since) in VERSION_CFGS {
        if version >= *since {
            println!("cargo:rustc-cfg={name}");
        }
    }
    // Dependents (the plugin crates) read this as DEP_SLURM_VERSION_NUMBER.
    println!("cargo:version_number={version}");
    println!("cargo:rustc-env=RCI_SLURM_VERSION_NUMBER={version}");

    let bindings = bindgen::Builder::default()
        .header("include/rci_slurm.h")
        .clang_arg(format!("-I{}", include_dir.display()))
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
                "bindgen failed on include/rci_slurm.h with -I{}: {e}. Install libslurm-dev, \
                 slurm-wlm-basic-plugins-dev and libclang-dev, or set SLURM_INCLUDE_DIR.",
                include_dir.display()
            )
        });
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    bindings
        .write_to_file(out.join("slurm_bindings.rs"))
        .expect("writing slurm_bindings.rs to OUT_DIR");
}

/// Reads `#define SLURM_VERSION_NUMBER 0x160508` from slurm_version.h.
fn read_version(path: &PathBuf) -> u32 {
    let text = fs::read_to_string(path).unwrap_or_else(|e| {
        panic!(
            "cannot read {}: {e}. Install libslurm-dev or set SLURM_INCLUDE_DIR.",
            path.display()
        )
    });
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("#define SLURM_VERSION_NUMBER"))
        .find_map(|v| u32::from_str_radix(v.trim().trim_start_matches("0x"), 16).ok())
        .unwrap_or_else(|| panic!("no SLURM_VERSION_NUMBER in {}", path.display()))
}
