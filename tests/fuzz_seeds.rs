//! Replays the fuzz corpus on stable: every committed seed (`fuzz/seeds/TARGET/`) and every input
//! that once crashed a target (`fuzz/regressions/TARGET/`) goes through the same checks the
//! cargo-fuzz targets run (`fuzz/src/checks.rs`), so a crash found by `scripts/fuzz` stays a
//! regression test without nightly.

use std::fs;
use std::panic;
use std::path::Path;

#[path = "../fuzz/src/checks.rs"]
mod checks;

fn inputs(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = match fs::read_dir(dir) {
        Ok(entries) => entries.filter_map(|e| e.ok().map(|e| e.path())).collect(),
        Err(_) => Vec::new(),
    };
    files.sort();
    files
}

#[test]
fn every_seed_and_past_crash_passes_its_checks() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut failures = Vec::new();
    for &(name, check) in checks::TARGETS {
        let seeds = inputs(&root.join("seeds").join(name));
        assert!(
            !seeds.is_empty(),
            "fuzz target {name} has no seeds in fuzz/seeds/{name}"
        );
        for path in seeds
            .iter()
            .chain(&inputs(&root.join("regressions").join(name)))
        {
            let data = fs::read(path).unwrap();
            if panic::catch_unwind(|| check(&data)).is_err() {
                failures.push(path.display().to_string());
            }
        }
    }
    assert!(failures.is_empty(), "checks failed on: {failures:?}");
}

#[test]
fn every_target_has_a_fuzz_binary_and_nothing_else_does() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut binaries: Vec<String> = inputs(&root.join("fuzz_targets"))
        .iter()
        .filter_map(|p| Some(p.file_stem()?.to_str()?.to_owned()))
        .collect();
    binaries.sort();
    let mut names: Vec<String> = checks::TARGETS
        .iter()
        .map(|(n, _)| (*n).to_owned())
        .collect();
    names.sort();
    assert_eq!(binaries, names);
    let manifest = fs::read_to_string(root.join("Cargo.toml")).unwrap();
    for name in &names {
        assert!(
            manifest.contains(&format!("path = \"fuzz_targets/{name}.rs\"")),
            "{name} not in fuzz/Cargo.toml"
        );
    }
}
