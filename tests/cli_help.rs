//! `--help`, `-h` and `rci help SUB` on every subcommand `rci --help` lists: usage on stdout,
//! exit code 0.

use std::process::Command;

fn rci(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_rci"))
        .args(args)
        .env_remove("RCI_CONF")
        .output()
        .expect("run rci");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The subcommands named at the start of the `usage:` lines of `rci --help`.
fn subcommands() -> Vec<String> {
    let (code, out, _) = rci(&["--help"]);
    assert_eq!(code, 0);
    let mut subs: Vec<String> = out
        .lines()
        .filter_map(|l| {
            let rest = l
                .trim_start()
                .strip_prefix("usage:")
                .unwrap_or(l)
                .trim_start();
            let sub = rest.strip_prefix("rci ")?.split_whitespace().next()?;
            Some(sub.to_owned())
        })
        .collect();
    subs.dedup();
    subs
}

#[test]
fn rci_help_lists_the_subcommands() {
    let subs = subcommands();
    for want in ["explain", "check-config", "report", "doctor", "sync", "job"] {
        assert!(
            subs.iter().any(|s| s == want),
            "{want} missing from {subs:?}"
        );
    }
}

#[test]
fn every_subcommand_prints_its_usage_on_help_and_exits_zero() {
    for sub in subcommands() {
        for form in [
            vec![sub.as_str(), "--help"],
            vec![sub.as_str(), "-h"],
            vec!["help", sub.as_str()],
        ] {
            let (code, out, err) = rci(&form);
            assert_eq!(code, 0, "rci {form:?} exited {code}; stderr: {err}");
            assert!(
                out.contains(&format!("usage: rci {sub}")),
                "rci {form:?} printed no usage of {sub}: {out}"
            );
        }
    }
}

#[test]
fn help_after_double_dash_belongs_to_the_job() {
    // `rci explain -- --help` is not a help request; with no config it fails, but not with usage 0.
    let (code, out, _) = rci(&[
        "explain",
        "--config",
        "/nonexistent/rci.conf",
        "--",
        "--help",
    ]);
    assert_ne!(code, 0);
    assert!(!out.contains("usage: rci explain"));
}
