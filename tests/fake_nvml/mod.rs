//! The fake libnvidia-ml (fake_nvml.c beside this file), compiled once per test process with the
//! `cc` crate's compiler settings. Shared by the tests that need an NVML to talk to.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// Path of the compiled fake library (`libfake_nvml-<pid>.so` under CARGO_TARGET_TMPDIR).
pub fn library() -> &'static Path {
    static LIB: OnceLock<PathBuf> = OnceLock::new();
    LIB.get_or_init(|| {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fake_nvml/fake_nvml.c");
        let out_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("fake_nvml");
        fs::create_dir_all(&out_dir).unwrap();
        let out = out_dir.join(format!("libfake_nvml-{}.so", std::process::id()));
        let target = format!("{}-unknown-linux-gnu", std::env::consts::ARCH);
        let compiler = cc::Build::new()
            .cargo_metadata(false)
            .cargo_warnings(false)
            .target(&target)
            .host(&target)
            .opt_level(0)
            .debug(false)
            .get_compiler();
        let status = compiler
            .to_command()
            .args(["-shared", "-fPIC", "-Wall", "-Werror", "-o"])
            .arg(&out)
            .arg(&src)
            .arg("-ldl")
            .status()
            .expect("C compiler runs");
        assert!(status.success(), "compiling {} failed", src.display());
        out
    })
}
