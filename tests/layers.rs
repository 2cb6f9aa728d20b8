//! The dependency rule of src/lib.rs, checked on the source: every `crate::<module>` a
//! top-level module names (outside comments and its `#[cfg(test)]` module) must be one it may
//! use. A new top-level module must be given its place here, and in lib.rs.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// Each top-level module and the modules it may use.
const ALLOWED: &[(&str, &[&str])] = &[
    // C boundary and vocabulary
    ("ffi", &["job"]),
    ("job", &[]),
    ("tres", &["job"]),
    ("slurm_time", &["job"]),
    // job kinds
    ("kinds", &["job", "tres", "slurm_time"]),
    // configuration
    ("config", &["job", "tres", "slurm_time", "kinds"]),
    // domain
    ("policy", &["job", "tres", "slurm_time", "kinds", "config"]),
    ("gpu", &["job", "tres", "slurm_time", "config", "ffi"]),
    (
        "energy",
        &["job", "tres", "slurm_time", "config", "gpu", "ffi"],
    ),
    // shells
    (
        "plugin",
        &[
            "job",
            "tres",
            "slurm_time",
            "kinds",
            "config",
            "policy",
            "gpu",
            "energy",
            "ffi",
        ],
    ),
    // `rci doctor` asks NVML, reads plugins' plugin_version and free space: the ffi layer.
    (
        "cli",
        &[
            "job",
            "tres",
            "slurm_time",
            "kinds",
            "config",
            "policy",
            "gpu",
            "energy",
            "ffi",
        ],
    ),
];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The code of a file that counts: without comments and without its unit-test module.
fn production_code(text: &str) -> String {
    let mut code = String::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        let trimmed = line.trim_start();
        if line == "#[cfg(test)]" && lines.peek().is_some_and(|l| l.starts_with("mod tests")) {
            break;
        }
        if trimmed.starts_with("//") {
            continue;
        }
        code.push_str(line);
        code.push('\n');
    }
    code
}

/// The top-level modules named as `crate::<name>` (or `$crate::<name>`) in `code`, including
/// the names inside `use crate::{a, b::c}` groups.
fn named_modules(code: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let word = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    for (i, _) in code.match_indices("crate::") {
        let before = code[..i].chars().next_back();
        if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') {
            continue;
        }
        let rest = &code[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for item in group[..end].split(',') {
                let name = word(item.trim());
                if !name.is_empty() && name != "self" {
                    found.insert(name);
                }
            }
        } else {
            let name = word(rest);
            if !name.is_empty() {
                found.insert(name);
            }
        }
    }
    found
}

#[test]
fn modules_import_only_what_the_layers_allow() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    let allowed: BTreeMap<&str, BTreeSet<&str>> = ALLOWED
        .iter()
        .map(|(m, deps)| (*m, deps.iter().copied().collect()))
        .collect();
    let mut violations = Vec::new();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in &files {
        let rel = file.strip_prefix(&src).unwrap();
        let first = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy();
        let module = first.trim_end_matches(".rs").to_string();
        // The library root, the binary, and unit-test modules kept in their own file.
        if module == "lib" || module == "bin" || rel.ends_with("tests.rs") {
            continue;
        }
        let Some(may_use) = allowed.get(module.as_str()) else {
            violations.push(format!(
                "{}: top-level module `{module}` has no place in the layers (tests/layers.rs)",
                rel.display()
            ));
            continue;
        };
        let text = fs::read_to_string(file).unwrap();
        for used in named_modules(&production_code(&text)) {
            // `$crate::__rci_*` are the export macros' helpers, at the crate root.
            if used == module || used.starts_with("__") {
                continue;
            }
            graph
                .entry(module.clone())
                .or_default()
                .insert(used.clone());
            if !may_use.contains(used.as_str()) {
                violations.push(format!(
                    "{}: `{module}` uses `crate::{used}`, which its layer may not",
                    rel.display()
                ));
            }
        }
    }
    assert!(violations.is_empty(), "{}", violations.join("\n"));
    // No cycles in what is actually used (the table above could allow one by mistake).
    fn visit(
        m: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) {
        if let Some(start) = path.iter().position(|p| p == m) {
            panic!("module cycle: {} -> {m}", path[start..].join(" -> "));
        }
        if done.contains(m) {
            return;
        }
        path.push(m.to_string());
        for next in graph.get(m).into_iter().flatten() {
            visit(next, graph, path, done);
        }
        path.pop();
        done.insert(m.to_string());
    }
    let mut done = BTreeSet::new();
    for m in graph.keys() {
        visit(m, &graph, &mut Vec::new(), &mut done);
    }
}

#[test]
fn the_checker_sees_imports_and_ignores_comments_and_tests() {
    let code = production_code(
        "use crate::{config, policy::decide};\n// crate::plugin in a comment\n\
         /// [`crate::cli`]\nfn f() { $crate::ffi::guard::guard(); }\n\
         #[cfg(test)]\nmod tests {\n    use crate::energy;\n}\n",
    );
    let names: Vec<String> = named_modules(&code).into_iter().collect();
    assert_eq!(names, ["config", "ffi", "policy"]);
}
