use super::script::*;
use super::*;
use crate::config::Config;
use crate::job::JobRequest;
use crate::policy::classify::{classify, DetectedBy};
use proptest::prelude::*;

#[test]
fn glob_basics() {
    let g = Glob::new("qemu-system-*");
    assert!(g.matches("qemu-system-x86_64"));
    assert!(g.matches("qemu-system-"));
    assert!(!g.matches("qemu-img"));
    assert!(!g.matches("xqemu-system-x"));
    assert!(Glob::new("*rci:server*").matches("please rci:server thanks"));
    assert!(Glob::new("*rci:server*").matches("rci:server"));
    assert!(!Glob::new("*rci:server*").matches("rci:serve"));
    assert!(Glob::new("a?c").matches("abc"));
    assert!(
        Glob::new("a?c").matches("aéc"),
        "? is one character, not one byte"
    );
    assert!(!Glob::new("a?c").matches("ac"));
    assert!(Glob::new("*").matches(""));
    assert!(Glob::new("**a**").matches("bab"));
    assert!(!Glob::new("").matches("x"));
    assert!(Glob::new("").matches(""));
    assert!(Glob::new("ondemand/*").matches("ondemand/sys/dashboard/sys/jupyter"));
    assert!(Glob::new("*a*b*c").matches("xxaxxbxxbxc"));
    assert!(!Glob::new("*a*b*c").matches("xxaxxbxxbx"));
    assert_eq!(Glob::new("ab*cdef?g").longest_literal(), "cdef");
}

fn finds(pattern: &str, script: &str) -> bool {
    ScriptPattern::new(pattern)
        .unwrap()
        .find_in(script)
        .is_some()
}

#[test]
fn script_words_and_boundaries() {
    assert!(finds(
        "uvicorn",
        "#!/bin/bash\nuvicorn app:app --port 8000\n"
    ));
    assert!(finds("uvicorn", "python -m uvicorn app:app"));
    assert!(finds("uvicorn", "srun /opt/venv/bin/uvicorn app:app"));
    assert!(finds("uvicorn", "exec \"uvicorn\" x"));
    assert!(finds("uvicorn", "A=1;uvicorn"));
    assert!(finds("uvicorn", "APP=uvicorn"));
    assert!(!finds("uvicorn", "uvicorn_helper start"));
    assert!(!finds("uvicorn", "myuvicorn start"));
    assert!(!finds("uvicorn", "pip install uvicorns"));
    assert!(finds("qemu-system-*", "  qemu-system-x86_64 -m 4G\n"));
    assert!(finds("qemu-system-*", "/usr/bin/qemu-system-aarch64 -m 4G"));
    assert!(!finds("qemu-system-*", "qemu-img create"));
}

#[test]
fn comments_and_shebang_do_not_count() {
    assert!(!finds("uvicorn", "#!/usr/bin/env uvicorn\n"));
    assert!(!finds("uvicorn", "#SBATCH --comment=uvicorn\necho hi\n"));
    assert!(!finds("qemu-system-*", "  # qemu-system-x86_64\n"));
    assert!(!finds("uvicorn", "echo start # then uvicorn\n"));
    assert!(finds("uvicorn", "# uvicorn\nuvicorn app\n"));
    assert!(
        finds("uvicorn", "echo a#b uvicorn\n"),
        "# inside a word is not a comment"
    );
    assert!(finds("uvicorn", "# one\n# two uvicorn\n\tuvicorn x"));
}

#[test]
fn multi_word_patterns() {
    assert!(finds("streamlit run", "streamlit run app.py"));
    assert!(finds("streamlit run", "python -m streamlit   run app.py"));
    assert!(!finds("streamlit run", "streamlit hello"));
    assert!(!finds("streamlit run", "streamlit\nrun"));
    assert!(!finds("streamlit run", "streamlit; run"));
    assert!(finds("jupyter lab", "jupyter lab --no-browser"));
    assert!(!finds(
        "jupyter lab",
        "jupyter nbconvert --execute lab.ipynb"
    ));
    assert!(finds("jupyter lab", "jupyter nbconvert x\njupyter lab"));
}

#[test]
fn pattern_validation() {
    assert!(ScriptPattern::new("").is_err());
    assert!(ScriptPattern::new("*").is_err());
    assert!(ScriptPattern::new("?* foo").is_err());
    assert!(ScriptPattern::new("a;b").is_err());
    assert!(ScriptPattern::new("x=y").is_err());
    assert!(ScriptPattern::new("  jupyter   lab ").is_ok());
}

#[test]
fn match_offset_points_at_word() {
    let p = ScriptPattern::new("uvicorn").unwrap();
    let script = "#!/bin/sh\necho x\n/bin/uvicorn a\n";
    let at = p.find_in(script).unwrap();
    assert_eq!(&script[at..at + 12], "/bin/uvicorn");
}

#[test]
fn large_pathological_scripts_stay_linear() {
    // One long line of repeated hits, inside and outside of a comment: must finish quickly
    // (quadratic scanning would take minutes at this size); no timing assertion, only the
    // results are checked.
    let p = ScriptPattern::new("uvicorn").unwrap();
    let hay = "uvicornx".repeat(500_000);
    assert!(p.find_in(&hay).is_none());
    let commented = format!("echo # {}", "uvicorn ".repeat(500_000));
    assert!(p.find_in(&commented).is_none());
    let glued = "uvicorn".repeat(500_000);
    assert!(p.find_in(&glued).is_none());
    let late = format!("{}\nuvicorn\n", "# uvicorn\n".repeat(200_000));
    assert!(p.find_in(&late).is_some());
}

fn builtin_config() -> Config {
    Config::parse(
        "KindRule=server Script=my-server\nKindRule=vm Script=\"virt *\"",
        "t",
    )
    .unwrap()
}

#[test]
fn builtin_patterns_share_passes() {
    let cfg = builtin_config();
    let scripts = cfg
        .kinds
        .rules()
        .iter()
        .filter(|r| r.script.is_some())
        .count();
    assert_eq!(scripts, 13);
    assert!(
        cfg.kinds.scan().passes() <= 8,
        "{} passes for {scripts} patterns",
        cfg.kinds.scan().passes()
    );
}

#[test]
fn grouped_scan_agrees_with_single_scans() {
    let cfg = builtin_config();
    let rules = cfg.kinds.rules();
    for script in [
        "#!/bin/sh\njupyter lab --port 1\n",
        "jupyter-lab\nuvicorn a\ngunicorn b\n",
        "# jupyter lab\nunicorn uvicornx /x/gunicorn\n",
        "qemu-kvm -m 1\nqemu-system-x86_64\nvirt install\nmy-server\n",
        "python -m streamlit run a.py\nbatchspawner-singleuser jupyterhub-singleuser\n",
        "",
    ] {
        let hits = cfg.kinds.scan().run(rules, script);
        for (i, rule) in rules.iter().enumerate() {
            if let Some(p) = &rule.script {
                assert_eq!(
                    hits.get(i),
                    p.find_in(script).is_some(),
                    "rule {} on {script:?}",
                    rule.text
                );
            }
        }
    }
}

proptest! {
    #[test]
    fn script_scan_never_panics(script in "\\PC{0,200}", pat in "[a-z*?]{1,6}( [a-z]{1,4})?") {
        if let Ok(p) = ScriptPattern::new(&pat) {
            let _ = p.find_in(&script);
        }
    }

    #[test]
    fn grouped_scan_agrees_on_random_scripts(
        lines in proptest::collection::vec(
            "(#|  )?(jupyter|lab|-lab|uvicorn|gunicorn|qemu-|kvm|system-x|streamlit|run|virt|my-server|/|;| |\\t|x)*",
            0..8,
        )
    ) {
        let cfg = builtin_config();
        let rules = cfg.kinds.rules();
        let script = lines.join("\n");
        let hits = cfg.kinds.scan().run(rules, &script);
        for (i, rule) in rules.iter().enumerate() {
            if let Some(p) = &rule.script {
                prop_assert_eq!(hits.get(i), p.find_in(&script).is_some(), "{} on {:?}", rule.text, script);
            }
        }
        // classification by the grouped scan picks the first rule that matches on its own
        let req = JobRequest { script: Some(script.clone()), ..Default::default() };
        let expected = rules.iter().position(|r| r.matches(&req, None));
        let got = match classify(&cfg, &req).unwrap().detected_by {
            DetectedBy::Rule(i) => Some(i),
            _ => None,
        };
        prop_assert_eq!(got, expected);
    }

    #[test]
    fn glob_without_wildcards_is_equality(a in "[a-c]{0,6}", b in "[a-c]{0,6}") {
        prop_assert_eq!(Glob::new(&a).matches(&b), a == b);
    }

    #[test]
    fn star_prefix_suffix(pre in "[a-c]{0,4}", mid in "\\PC{0,8}", suf in "[a-c]{0,4}") {
        let text = format!("{pre}{mid}{suf}");
        let pattern = format!("{pre}*{suf}");
        prop_assert!(Glob::new(&pattern).matches(&text));
    }

    #[test]
    fn glob_never_panics(p in "\\PC{0,12}", t in "\\PC{0,24}") {
        let _ = Glob::new(&p).matches(&t);
    }
}
