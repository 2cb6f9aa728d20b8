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
fn quoted_and_escaped_hashes_hide_nothing() {
    for script in [
        "echo \"starting VM #1\"; qemu-system-x86_64 -m 4G",
        "echo a\\ #; qemu-system-x86_64 -m 4G",
        "echo 'VM #1' && qemu-system-x86_64",
        "echo \\#; qemu-system-x86_64",
        "printf '%s\\n' \"a\n#\"; qemu-system-x86_64",
        "echo \"$(date) #\" | tee log; qemu-system-x86_64",
        "cat <<EOF\n# it's a here-document\nEOF\necho 'x #'; qemu-system-x86_64",
        "echo ${x#*/}; qemu-system-x86_64",
        "echo $'a\\' #'; qemu-system-x86_64",
    ] {
        assert!(finds("qemu-system-*", script), "{script:?}");
    }
    // Real comments still hide.
    for script in [
        "echo \"VM\" # qemu-system-x86_64",
        "echo a;# qemu-system-x86_64",
        "echo 'it''s' # qemu-system-x86_64",
        "x=$(date # qemu-system-x86_64\n)",
    ] {
        assert!(!finds("qemu-system-*", script), "{script:?}");
    }
}

#[test]
fn command_words_after_shell_syntax() {
    for script in [
        "true; qemu-kvm",
        "true && qemu-kvm",
        "false || qemu-kvm",
        "cat x | qemu-kvm",
        "x=$(qemu-kvm)",
        "x=`qemu-kvm`",
        "exec qemu-kvm",
        "nohup qemu-kvm &",
        "env A=1 B=2 qemu-kvm",
        "srun --pty qemu-kvm",
        "/usr/bin/qemu-kvm -m 1",
        "bash -c \"qemu-kvm -m 1\"",
        "(qemu-kvm)",
        "{ qemu-kvm; }",
        "if true; then qemu-kvm; fi",
        "time qemu-kvm",
        "timeout 10 qemu-kvm",
        "apptainer exec img.sif qemu-kvm",
    ] {
        assert!(finds("qemu-kvm", script), "{script:?}");
    }
}

#[test]
fn anchor_word_need_not_be_first() {
    assert!(finds("-m http.server", "python3 -m http.server 8000"));
    assert!(finds(
        "-m http.server",
        "/usr/bin/python3.11 -u -m   http.server"
    ));
    assert!(finds("-m http.server", "python -m \\\n  http.server"));
    assert!(!finds("-m http.server", "python -c 'import http.server'"));
    assert!(!finds("-m http.server", "# python -m http.server"));
    assert!(!finds("-m jupyterlab", "pip install jupyterlab"));
    assert!(finds("-m jupyterlab", "python -m jupyterlab --no-browser"));
    assert!(finds("ray start --head", "ray start --head --port=6379"));
    assert!(!finds("ray start --head", "ray start --address=$head"));
    let p = ScriptPattern::new("-m http.server").unwrap();
    let script = "cd /srv\npython3 -m http.server\n";
    let at = p.find_in(script).unwrap();
    assert_eq!(
        &script[at..at + 2],
        "-m",
        "the offset is the match's first word"
    );
}

fn builtin_kind(script: &str) -> Option<JobKind> {
    let cfg = Config::parse("", "t").unwrap();
    let req = JobRequest {
        script: Some(format!("#!/bin/bash\n{script}\n")),
        ..Default::default()
    };
    match classify(&cfg, &req).unwrap().detected_by {
        DetectedBy::Rule(_) => Some(classify(&cfg, &req).unwrap().detected),
        _ => None,
    }
}

#[test]
fn builtin_rules_see_the_common_servers() {
    use JobKind::*;
    for (script, kind) in [
        ("python -m jupyterlab --port 8888", Jupyter),
        ("python3 -m notebook", Jupyter),
        ("jupyter server --no-browser", Jupyter),
        ("jupyter-server", Jupyter),
        ("jupyter lab", Jupyter),
        ("/opt/conda/bin/jupyter-lab --ip=0.0.0.0", Jupyter),
        ("code-server --bind-addr 0.0.0.0:8080", Jupyter),
        ("python3 -m http.server 8000", Server),
        ("python3.11 -m http.server", Server),
        ("python -m http.server", Server),
        ("flask run --host=0.0.0.0", Server),
        ("voila dashboard.ipynb", Server),
        ("panel serve app.py", Server),
        ("tensorboard --logdir runs", Server),
        ("tensorboard --logdir=runs --port 6006", Server),
        ("mlflow server --host 0.0.0.0", Server),
        ("mlflow ui", Server),
        ("ray start --head --block", Server),
        ("virsh start myvm", Vm),
        ("virsh create vm.xml", Vm),
        ("virt-install --name x", Vm),
        ("qemu-kvm -m 4G", Vm),
        ("qemu-system-x86_64 -m 4G", Vm),
    ] {
        assert_eq!(builtin_kind(script), Some(kind), "{script:?}");
    }
    for script in [
        "pip install jupyterlab notebook tensorboard",
        "python -c 'import http.server'",
        "virsh list",
        "ray start --address=$HEAD",
        "mlflow run .",
        "python train.py --log tensorboard",
    ] {
        assert_eq!(builtin_kind(script), None, "{script:?}");
    }
}

/// The README's table of built-in rules (between its `builtin-rules` markers) is BUILTIN_RULES.
#[test]
fn readme_lists_every_builtin_rule() {
    let readme = include_str!("../../README.md");
    let table = readme
        .split("<!-- builtin-rules:start -->")
        .nth(1)
        .and_then(|rest| rest.split("<!-- builtin-rules:end -->").next())
        .expect("README has the builtin-rules markers");
    let listed: Vec<(String, String, String)> = table
        .lines()
        .filter_map(|line| {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            let pattern = cells.get(3)?.strip_prefix('`')?.strip_suffix('`')?;
            Some((cells[1].to_owned(), cells[2].to_owned(), pattern.to_owned()))
        })
        .collect();
    let builtin: Vec<(String, String, String)> = BUILTIN_RULES
        .iter()
        .map(|(kind, key, pattern)| {
            (
                kind.name().to_owned(),
                (*key).to_owned(),
                (*pattern).to_owned(),
            )
        })
        .collect();
    assert_eq!(listed, builtin);
}

#[test]
fn pattern_validation() {
    assert!(ScriptPattern::new("").is_err());
    assert!(ScriptPattern::new("*").is_err());
    assert!(ScriptPattern::new("?* *").is_err());
    assert!(
        ScriptPattern::new("?* foo").is_ok(),
        "any word may carry the literal"
    );
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
    let builtin_scripts = BUILTIN_RULES
        .iter()
        .filter(|(_, key, _)| *key == "Script")
        .count();
    assert_eq!(scripts, builtin_scripts + 2);
    assert!(
        cfg.kinds.scan().passes() <= 20,
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

/// Text that is one quoted (or escaped) shell word containing a `#`, as a user might write it.
fn quoted_hash_word() -> impl Strategy<Value = String> {
    let text = "[a-zA-Z0-9 #;|&()<>{}$=./\\-]{0,12}#[a-zA-Z0-9 #;|&()<>{}$=./-]{0,12}";
    prop_oneof![
        // single quotes: anything but '
        text.prop_map(|t| format!("'{}'", t.replace('\'', ""))),
        // double quotes: escape what double quotes treat specially
        text.prop_map(|t| format!(
            "\"{}\"",
            t.replace('\\', "\\\\")
                .replace('"', "\\\"")
                .replace('$', "\\$")
                .replace('`', "\\`")
        )),
        // every special byte escaped with a backslash
        text.prop_map(|t| t
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() {
                c.to_string()
            } else {
                format!("\\{c}")
            })
            .collect::<String>()),
        // $'…'
        text.prop_map(|t| format!("$'{}'", t.replace('\\', "\\\\").replace('\'', "\\'"))),
    ]
}

proptest! {
    /// Quoting any text with a `#` in it never hides a command in the next statement.
    #[test]
    fn quoted_hash_never_hides_the_next_command(
        prefix in "(echo|printf|x=|A=1 echo|: )",
        words in proptest::collection::vec(quoted_hash_word(), 1..4),
        separator in "(;|&&|\\|\\||\\||&|\n)",
        before in "(#!/bin/bash\n|echo \"a\nb\"\n|cat <<EOF\nit's\nEOF\n)?",
    ) {
        let script = format!("{before}{prefix} {} {separator} qemu-system-x86_64 -m 1G\n", words.join(" "));
        prop_assert!(finds("qemu-system-*", &script), "{:?}", script);
        let cfg = Config::parse("", "t").unwrap();
        let req = JobRequest { script: Some(script.clone()), ..Default::default() };
        prop_assert_eq!(classify(&cfg, &req).unwrap().detected, JobKind::Vm, "{:?}", script);
    }

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
