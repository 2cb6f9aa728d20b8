//! The Slurm side: is rci wired in (extern step, plugstack.conf, JobSubmitPlugins), and were the
//! installed plugins built for the Slurm that runs here?

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::check::Check;
use crate::config::slurm_conf::{setting, settings};
use crate::ffi::dso::plugin_version_of;
use crate::kinds::glob::Glob;

const AREA: &str = "slurm";

/// Debian's compiled-in PluginDir, used when slurm.conf sets none.
const DEFAULT_PLUGIN_DIR: &str = "/usr/lib/x86_64-linux-gnu/slurm-wlm";

/// How long `slurmd -V` may take.
const VERSION_TIMEOUT: Duration = Duration::from_secs(5);

/// What the Slurm checks need to know about the host.
pub struct SlurmHost<'a> {
    pub slurm_conf: &'a Path,
    /// This host's short name (to tell whether it is a controller).
    pub hostname: &'a str,
}

/// Every Slurm check.
pub fn slurm_checks(host: &SlurmHost<'_>) -> Vec<Check> {
    let conf_path = host.slurm_conf;
    let text = match std::fs::read_to_string(conf_path) {
        Ok(text) => text,
        Err(e) => {
            return vec![Check::fail(
                AREA,
                format!("cannot read {}: {e}", conf_path.display()),
                "pass --slurm-conf FILE, or put rci.conf next to slurm.conf",
            )]
        }
    };
    let conf_dir = conf_path.parent().unwrap_or(Path::new("/"));
    let plugin_dirs: Vec<PathBuf> = setting(&text, "PluginDir")
        .unwrap_or_else(|| DEFAULT_PLUGIN_DIR.to_owned())
        .split(':')
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .collect();
    let mut checks = vec![prolog_flags_check(&text)];
    let slurmd = daemon_version("slurmd");
    let slurmctld = daemon_version("slurmctld");
    let plugstack = setting(&text, "PlugStackConfig")
        .map(PathBuf::from)
        .unwrap_or_else(|| conf_dir.join("plugstack.conf"));
    checks.extend(spank_checks(&plugstack, &plugin_dirs, slurmd.as_ref()));
    checks.extend(job_submit_checks(
        &text,
        host.hostname,
        &plugin_dirs,
        slurmctld.as_ref(),
    ));
    checks
}

fn prolog_flags_check(text: &str) -> Check {
    let flags = setting(text, "PrologFlags").unwrap_or_default();
    // X11 implies Contain (slurm.conf(5)).
    let contains = flags
        .split(',')
        .any(|f| f.trim().eq_ignore_ascii_case("contain") || f.trim().eq_ignore_ascii_case("x11"));
    if contains {
        Check::ok(
            AREA,
            format!("PrologFlags={flags}: every job gets an extern step, which rci measures"),
        )
    } else {
        let shown = if flags.is_empty() {
            "(unset)".to_owned()
        } else {
            flags
        };
        Check::fail(
            AREA,
            format!(
                "PrologFlags={shown} lacks Contain: Slurm starts no extern step, so rci records \
                 no job's energy"
            ),
            "set PrologFlags=Contain in slurm.conf, then restart slurmctld and slurmd",
        )
    }
}

/// `slurmd -V` → (path, "22.05.8", SLURM_VERSION_NUMBER); `None` when not installed here.
#[derive(Debug, Clone)]
struct DaemonVersion {
    program: &'static str,
    result: Result<(String, u32), String>,
}

fn daemon_version(program: &'static str) -> Option<DaemonVersion> {
    let found = crate::cli::command::on_path(program)?;
    let result = run_bounded(&found, &["-V"], VERSION_TIMEOUT).and_then(|out| {
        parse_version(&out).ok_or_else(|| format!("`{program} -V` printed {:?}", out.trim()))
    });
    Some(DaemonVersion { program, result })
}

/// `slurm 22.05.8` or `slurm-wlm 24.11.5` → ("22.05.8", 0x160508).
fn parse_version(text: &str) -> Option<(String, u32)> {
    let word = text.split_whitespace().last()?;
    let core = word.split('-').next()?;
    let mut parts = core.split('.');
    let major: u32 = parts.next()?.parse().ok()?;
    let minor: u32 = parts.next()?.parse().ok()?;
    let micro: u32 = parts.next().map_or(Some(0), |m| m.parse().ok())?;
    (major < 256 && minor < 256 && micro < 256)
        .then(|| (core.to_owned(), (major << 16) | (minor << 8) | micro))
}

fn dotted(v: u32) -> String {
    format!("{}.{:02}.{}", v >> 16, (v >> 8) & 0xff, v & 0xff)
}

/// Runs `program args`, giving up (and killing it) after `timeout`; its stdout.
fn run_bounded(program: &Path, args: &[&str], timeout: Duration) -> Result<String, String> {
    crate::cli::command::run(program, args, None, timeout).map(|ran| ran.stdout)
}

/// `path` as Slurm finds a plugin: absolute, else under one of the PluginDir entries.
fn find_plugin(path: &str, plugin_dirs: &[PathBuf]) -> Option<PathBuf> {
    let p = Path::new(path);
    if p.is_absolute() {
        return p.is_file().then(|| p.to_path_buf());
    }
    plugin_dirs.iter().map(|d| d.join(p)).find(|p| p.is_file())
}

/// A plugstack.conf line naming spank_rci.so.
struct SpankLine {
    file: PathBuf,
    line: usize,
    required: bool,
    path: String,
}

/// Finds spank_rci.so in plugstack.conf, following `include` (globs allowed) a few levels.
fn find_spank_line(
    plugstack: &Path,
    depth: usize,
    found: &mut Vec<SpankLine>,
) -> Result<(), String> {
    let text = std::fs::read_to_string(plugstack)
        .map_err(|e| format!("cannot read {}: {e}", plugstack.display()))?;
    for (n, raw) in text.lines().enumerate() {
        let line = raw.split('#').next().unwrap_or("").trim();
        let mut words = line.split_whitespace();
        match (words.next(), words.next()) {
            (Some(kind @ ("required" | "optional")), Some(path))
                if Path::new(path).file_name().and_then(|f| f.to_str()) == Some("spank_rci.so") =>
            {
                found.push(SpankLine {
                    file: plugstack.to_path_buf(),
                    line: n + 1,
                    required: kind == "required",
                    path: path.to_owned(),
                });
            }
            (Some("include"), Some(pattern)) if depth < 4 => {
                for included in expand_include(pattern, plugstack) {
                    // A missing included file is Slurm's error to report, not ours.
                    let _ = find_spank_line(&included, depth + 1, found);
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// The files an `include` pattern names: a glob in its last component only, as Debian uses
/// (`include /etc/slurm/plugstack.conf.d/*.conf`); relative to plugstack.conf's directory.
fn expand_include(pattern: &str, from: &Path) -> Vec<PathBuf> {
    let base = from.parent().unwrap_or(Path::new("/"));
    let full = base.join(pattern);
    let (Some(dir), Some(name)) = (full.parent(), full.file_name().and_then(|n| n.to_str())) else {
        return Vec::new();
    };
    if !name.contains('*') && !name.contains('?') {
        return vec![full.clone()];
    }
    let glob = Glob::new(name);
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter(|e| e.file_name().to_str().is_some_and(|n| glob.matches(n)))
                .map(|e| e.path())
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

fn spank_checks(
    plugstack: &Path,
    plugin_dirs: &[PathBuf],
    slurmd: Option<&DaemonVersion>,
) -> Vec<Check> {
    let mut lines = Vec::new();
    if let Err(e) = find_spank_line(plugstack, 0, &mut lines) {
        return vec![Check::fail(
            AREA,
            format!("{e}: spank_rci.so is not loaded by slurmstepd"),
            "create plugstack.conf with `required /path/to/spank_rci.so`",
        )];
    }
    let Some(entry) = lines.first() else {
        return vec![Check::fail(
            AREA,
            format!(
                "{} does not list spank_rci.so: containers get no GPU variables and no job's \
                 energy is recorded",
                plugstack.display()
            ),
            format!(
                "add `required {}/spank_rci.so` to {}",
                plugin_dirs
                    .first()
                    .map_or(DEFAULT_PLUGIN_DIR.to_owned(), |d| d.display().to_string()),
                plugstack.display()
            ),
        )];
    };
    let at = format!("{}:{}", entry.file.display(), entry.line);
    let Some(so) = find_plugin(&entry.path, plugin_dirs) else {
        return vec![Check::fail(
            AREA,
            format!("{at} loads {}, which does not exist", entry.path),
            "install the plugin (make install, or the rci .deb) or correct the path",
        )];
    };
    let mut checks = vec![Check::ok(
        AREA,
        format!(
            "{at} loads {} ({})",
            so.display(),
            if entry.required {
                "required"
            } else {
                "optional: a failure to load it is silent"
            }
        ),
    )];
    checks.push(version_check(&so, slurmd, 0xffff00, "major.minor"));
    checks
}

fn job_submit_checks(
    text: &str,
    hostname: &str,
    plugin_dirs: &[PathBuf],
    slurmctld: Option<&DaemonVersion>,
) -> Vec<Check> {
    let plugins = setting(text, "JobSubmitPlugins").unwrap_or_default();
    let listed = plugins
        .split(',')
        .any(|p| matches!(p.trim(), "rci" | "job_submit/rci"));
    let controllers: Vec<String> = settings(text, "SlurmctldHost")
        .into_iter()
        .chain(settings(text, "ControlMachine"))
        .map(|h| h.split('(').next().unwrap_or("").trim().to_owned())
        .collect();
    let is_controller = controllers.iter().any(|c| c == hostname);
    if !listed {
        let message = format!(
            "JobSubmitPlugins={} does not list rci: no job is routed or capped",
            if plugins.is_empty() {
                "(unset)"
            } else {
                &plugins
            }
        );
        let fix = "add rci to JobSubmitPlugins in slurm.conf and restart slurmctld";
        return vec![if is_controller {
            Check::fail(AREA, message, fix)
        } else {
            Check::warn(
                AREA,
                format!("{message} (this host is not a SlurmctldHost; it matters there)"),
                fix,
            )
        }];
    }
    let Some(so) = find_plugin("job_submit_rci.so", plugin_dirs) else {
        let message = format!(
            "JobSubmitPlugins lists rci, but no PluginDir entry ({}) holds job_submit_rci.so",
            plugin_dirs
                .iter()
                .map(|d| d.display().to_string())
                .collect::<Vec<_>>()
                .join(":")
        );
        let fix = "install the plugin (make install, or the rci .deb): slurmctld refuses to start";
        return vec![if is_controller || slurmctld.is_some() {
            Check::fail(AREA, message, fix)
        } else {
            Check::warn(AREA, message, fix)
        }];
    };
    vec![
        Check::ok(
            AREA,
            format!("JobSubmitPlugins={plugins} loads {}", so.display()),
        ),
        version_check(&so, slurmctld, 0xffffff, "exactly"),
    ]
}

/// Whether `so`'s plugin_version fits the daemon that loads it (`mask`: which parts must match).
fn version_check(so: &Path, daemon: Option<&DaemonVersion>, mask: u32, how: &str) -> Check {
    let built = match plugin_version_of(so) {
        Ok(v) => v,
        Err(e) => {
            return Check::fail(
                AREA,
                e,
                "reinstall the plugin (make install, or the rci .deb)",
            )
        }
    };
    let name = so.file_name().and_then(|n| n.to_str()).unwrap_or("plugin");
    let Some(daemon) = daemon else {
        return Check::ok(
            AREA,
            format!(
                "{name} is built for Slurm {}; no daemon here to compare with",
                dotted(built)
            ),
        );
    };
    let program = daemon.program;
    match &daemon.result {
        Err(e) => Check::warn(
            AREA,
            format!("cannot tell {program}'s release: {e}"),
            format!("run {program} -V"),
        ),
        Ok((text, running)) if running & mask == built & mask => Check::ok(
            AREA,
            format!(
                "{name} is built for Slurm {}, {program} is {text}",
                dotted(built)
            ),
        ),
        Ok((text, _)) => Check::fail(
            AREA,
            format!(
                "{name} is built for Slurm {}, but {program} is {text}: the release must match \
                 {how}, so {program} refuses to load it",
                dotted(built)
            ),
            "rebuild against this release's headers (SLURM_INCLUDE_DIR, make build) and install",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn daemon_versions_parse_in_debian_and_upstream_spelling() {
        assert_eq!(
            parse_version("slurm 22.05.8\n"),
            Some(("22.05.8".into(), 0x160508))
        );
        assert_eq!(
            parse_version("slurm-wlm 24.11.5-1"),
            Some(("24.11.5".into(), 0x180b05))
        );
        assert_eq!(
            parse_version("slurm 26.05"),
            Some(("26.05".into(), 0x1a0500))
        );
        assert_eq!(parse_version("no version here"), None);
        assert_eq!(dotted(0x160508), "22.05.8");
    }

    #[test]
    fn prolog_flags_need_contain_or_x11() {
        use super::super::check::Status;
        for (text, status) in [
            ("PrologFlags=Alloc,Contain\n", Status::Ok),
            ("PrologFlags=X11\n", Status::Ok),
            ("PrologFlags=Alloc\n", Status::Fail),
            ("ClusterName=x\n", Status::Fail),
        ] {
            assert_eq!(prolog_flags_check(text).status, status, "{text}");
        }
    }
}
