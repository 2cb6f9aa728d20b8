//! sbatch/salloc-style arguments and `#SBATCH` lines → the requests the clients would send
//! (`rci explain`).

use crate::job::{JobRequest, Origin, TimeLimit};
use crate::policy::classify;
use crate::slurm_time::parse_time;
use std::path::{Path, PathBuf};

/// `rci explain`'s own options and the sbatch part of its command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExplainArgs {
    /// `--config FILE`.
    pub config: Option<PathBuf>,
    /// `--user NAME`: the job's user for exemptions and allowlists.
    pub user: Option<String>,
    /// Everything after rci's own options (and `--`).
    pub sbatch: Vec<String>,
}

/// Splits `rci explain`'s arguments (after the subcommand).
pub fn parse_explain_args(args: &[String]) -> Result<ExplainArgs, String> {
    let mut out = ExplainArgs {
        config: None,
        user: None,
        sbatch: Vec::new(),
    };
    let mut i = 0;
    while let Some(arg) = args.get(i) {
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n, Some(v.to_owned())),
            _ => (arg.as_str(), None),
        };
        let mut value = |what: &str| -> Result<String, String> {
            match inline.clone() {
                Some(v) => Ok(v),
                None => {
                    i += 1;
                    args.get(i)
                        .cloned()
                        .ok_or_else(|| format!("{what} needs a value"))
                }
            }
        };
        match name {
            "--config" => out.config = Some(PathBuf::from(value("--config")?)),
            "--user" => out.user = Some(value("--user")?),
            "--" => {
                out.sbatch = args.get(i + 1..).unwrap_or(&[]).to_vec();
                return Ok(out);
            }
            _ => {
                out.sbatch = args.get(i..).unwrap_or(&[]).to_vec();
                return Ok(out);
            }
        }
        i += 1;
    }
    Ok(out)
}

/// What an sbatch option sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Field {
    Partition,
    JobName,
    Account,
    Qos,
    Comment,
    Time,
    TimeMin,
    Gres,
    Gpus,
    GpusPerNode,
    GpusPerTask,
    GpusPerSocket,
    TresPerTask,
    CpusPerTask,
    Ntasks,
    Array,
    Wrap,
    RciKind,
    /// Takes a value that does not matter to rci.
    IgnoredValue,
    /// A flag (or an option whose value is optional and only given as `--opt=value`).
    Flag,
}

/// (long name, short letter, field).
pub(super) const OPTIONS: &[(&str, Option<char>, Field)] = &[
    ("partition", Some('p'), Field::Partition),
    ("job-name", Some('J'), Field::JobName),
    ("account", Some('A'), Field::Account),
    ("qos", Some('q'), Field::Qos),
    ("comment", None, Field::Comment),
    ("time", Some('t'), Field::Time),
    ("gres", None, Field::Gres),
    ("gpus", Some('G'), Field::Gpus),
    ("gpus-per-node", None, Field::GpusPerNode),
    ("gpus-per-task", None, Field::GpusPerTask),
    ("gpus-per-socket", None, Field::GpusPerSocket),
    ("tres-per-task", None, Field::TresPerTask),
    ("cpus-per-task", Some('c'), Field::CpusPerTask),
    ("ntasks", Some('n'), Field::Ntasks),
    ("array", Some('a'), Field::Array),
    ("wrap", None, Field::Wrap),
    ("rci-kind", None, Field::RciKind),
    ("nodes", Some('N'), Field::IgnoredValue),
    ("mem", None, Field::IgnoredValue),
    ("mem-per-cpu", None, Field::IgnoredValue),
    ("mem-per-gpu", None, Field::IgnoredValue),
    ("cpus-per-gpu", None, Field::IgnoredValue),
    ("ntasks-per-node", None, Field::IgnoredValue),
    ("ntasks-per-socket", None, Field::IgnoredValue),
    ("ntasks-per-core", None, Field::IgnoredValue),
    ("ntasks-per-gpu", None, Field::IgnoredValue),
    ("output", Some('o'), Field::IgnoredValue),
    ("error", Some('e'), Field::IgnoredValue),
    ("input", Some('i'), Field::IgnoredValue),
    ("chdir", Some('D'), Field::IgnoredValue),
    ("mail-type", None, Field::IgnoredValue),
    ("mail-user", None, Field::IgnoredValue),
    ("nodelist", Some('w'), Field::IgnoredValue),
    ("exclude", Some('x'), Field::IgnoredValue),
    ("constraint", Some('C'), Field::IgnoredValue),
    ("dependency", Some('d'), Field::IgnoredValue),
    ("reservation", None, Field::IgnoredValue),
    ("export", None, Field::IgnoredValue),
    ("begin", Some('b'), Field::IgnoredValue),
    ("licenses", Some('L'), Field::IgnoredValue),
    ("tmp", None, Field::IgnoredValue),
    ("time-min", None, Field::TimeMin),
    ("signal", None, Field::IgnoredValue),
    ("wckey", None, Field::IgnoredValue),
    ("distribution", Some('m'), Field::IgnoredValue),
    ("gpu-bind", None, Field::IgnoredValue),
    ("gpu-freq", None, Field::IgnoredValue),
    ("tres-bind", None, Field::IgnoredValue),
    ("cores-per-socket", None, Field::IgnoredValue),
    ("sockets-per-node", None, Field::IgnoredValue),
    ("threads-per-core", None, Field::IgnoredValue),
    ("container", None, Field::IgnoredValue),
    ("uid", None, Field::IgnoredValue),
    ("gid", None, Field::IgnoredValue),
    ("hold", Some('H'), Field::Flag),
    ("immediate", Some('I'), Field::Flag),
    ("no-kill", Some('k'), Field::Flag),
    ("overcommit", Some('O'), Field::Flag),
    ("quiet", Some('Q'), Field::Flag),
    ("oversubscribe", Some('s'), Field::Flag),
    ("verbose", Some('v'), Field::Flag),
    ("wait", Some('W'), Field::Flag),
    ("exclusive", None, Field::Flag),
    ("parsable", None, Field::Flag),
    ("test-only", None, Field::Flag),
    ("contiguous", None, Field::Flag),
    ("spread-job", None, Field::Flag),
    ("use-min-nodes", None, Field::Flag),
    ("requeue", None, Field::Flag),
    ("no-requeue", None, Field::Flag),
    ("reboot", None, Field::Flag),
    ("get-user-env", None, Field::Flag),
    ("x11", None, Field::Flag),
];

/// The options of one (het) component, as given (each field is the option of the same name).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[allow(missing_docs)]
pub struct ComponentOptions {
    pub partition: Option<String>,
    pub job_name: Option<String>,
    pub account: Option<String>,
    pub qos: Option<String>,
    pub comment: Option<String>,
    pub time: Option<TimeLimit>,
    /// `--time-min`.
    pub time_min: Option<TimeLimit>,
    pub gres: Option<String>,
    pub gpus: Option<String>,
    pub gpus_per_node: Option<String>,
    pub gpus_per_task: Option<String>,
    pub gpus_per_socket: Option<String>,
    pub tres_per_task: Option<String>,
    pub cpus_per_task: Option<u32>,
    pub ntasks: Option<u32>,
    pub array: Option<String>,
    pub wrap: Option<String>,
    pub rci_kind: Option<String>,
}

/// The parsed sbatch part of a command line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SbatchLine {
    /// One entry per het component (one for a plain job).
    pub components: Vec<ComponentOptions>,
    /// The script path: the first argument that is not an option.
    pub script: Option<String>,
}

impl ComponentOptions {
    fn set(&mut self, field: Field, value: &str, shown: &str) -> Result<(), String> {
        let v = || Some(value.to_owned());
        match field {
            Field::Partition => self.partition = v(),
            Field::JobName => self.job_name = v(),
            Field::Account => self.account = v(),
            Field::Qos => self.qos = v(),
            Field::Comment => self.comment = v(),
            Field::Time => {
                let t = parse_time(value).map_err(|e| format!("{shown}: {e}"))?;
                // The clients turn --time=0 into "no limit".
                self.time = Some(match t {
                    TimeLimit::Minutes(0) => TimeLimit::Infinite,
                    other => other,
                });
            }
            Field::TimeMin => {
                self.time_min = Some(parse_time(value).map_err(|e| format!("{shown}: {e}"))?);
            }
            Field::Gres => self.gres = v(),
            Field::Gpus => self.gpus = v(),
            Field::GpusPerNode => self.gpus_per_node = v(),
            Field::GpusPerTask => self.gpus_per_task = v(),
            Field::GpusPerSocket => self.gpus_per_socket = v(),
            Field::TresPerTask => self.tres_per_task = v(),
            Field::CpusPerTask => self.cpus_per_task = Some(positive(shown, value)?),
            Field::Ntasks => self.ntasks = Some(positive(shown, value)?),
            Field::Array => self.array = v(),
            Field::Wrap => self.wrap = v(),
            Field::RciKind => self.rci_kind = v(),
            Field::IgnoredValue | Field::Flag => {}
        }
        Ok(())
    }
}

pub(super) fn positive(shown: &str, value: &str) -> Result<u32, String> {
    match value.trim().parse::<u32>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!("{shown} needs a positive number, not '{value}'")),
    }
}

/// Reads sbatch/salloc options into `line` (starting with its last component). Stops at the
/// first non-option argument (the script) and returns its index.
pub(super) fn read_options(
    args: &[String],
    line: &mut SbatchLine,
) -> Result<Option<usize>, String> {
    if line.components.is_empty() {
        line.components.push(ComponentOptions::default());
    }
    let mut i = 0;
    while let Some(arg) = args.get(i) {
        if arg == ":" || arg == "hetjob" {
            line.components.push(ComponentOptions::default());
            i += 1;
            continue;
        }
        if arg == "--" {
            return Ok(args.get(i + 1).map(|_| i + 1));
        }
        let Some(component) = line.components.last_mut() else {
            return Err("internal: no component".to_owned());
        };
        if let Some(long) = arg.strip_prefix("--") {
            let (name, inline) = match long.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (long, None),
            };
            let shown = format!("--{name}");
            let Some(&(_, _, field)) = OPTIONS.iter().find(|(l, _, _)| *l == name) else {
                if inline.is_some() {
                    i += 1;
                    continue;
                }
                return Err(format!(
                    "unknown option {shown} (if it takes a value, write {shown}=VALUE; rci does not look at it)"
                ));
            };
            if field == Field::Flag {
                i += 1;
                continue;
            }
            let value = match inline {
                Some(v) => v.to_owned(),
                None => {
                    i += 1;
                    args.get(i)
                        .cloned()
                        .ok_or_else(|| format!("{shown} needs a value"))?
                }
            };
            component.set(field, &value, &shown)?;
            i += 1;
            continue;
        }
        if let Some(shorts) = arg.strip_prefix('-').filter(|s| !s.is_empty()) {
            // getopt style: flags may be bundled; a value option takes the rest or the next arg.
            for (at, c) in shorts.char_indices() {
                let shown = format!("-{c}");
                let Some(&(_, _, field)) = OPTIONS.iter().find(|(_, s, _)| *s == Some(c)) else {
                    return Err(format!("unknown option {shown}"));
                };
                if field == Field::Flag {
                    continue;
                }
                let rest = shorts.get(at + c.len_utf8()..).unwrap_or("");
                let value = if rest.is_empty() {
                    i += 1;
                    args.get(i)
                        .cloned()
                        .ok_or_else(|| format!("{shown} needs a value"))?
                } else {
                    rest.to_owned()
                };
                component.set(field, &value, &shown)?;
                break;
            }
            i += 1;
            continue;
        }
        return Ok(Some(i));
    }
    Ok(None)
}

/// Parses the sbatch part of the command line (the script's `#SBATCH` lines are separate).
pub fn parse_sbatch_args(args: &[String]) -> Result<SbatchLine, String> {
    let mut line = SbatchLine::default();
    if let Some(at) = read_options(args, &mut line)? {
        line.script = args.get(at).cloned();
    }
    Ok(line)
}

/// Options from the `#SBATCH` lines at the top of a script (until the first command), as
/// sbatch reads them. `#SBATCH hetjob` starts a new component.
pub fn script_directives(script: &str) -> Result<SbatchLine, String> {
    let mut line = SbatchLine::default();
    for (n, text) in script.lines().enumerate() {
        let t = text.trim();
        if t.is_empty() || (t.starts_with('#') && !t.starts_with("#SBATCH")) {
            continue;
        }
        let Some(rest) = t.strip_prefix("#SBATCH") else {
            break;
        };
        // Directives end at a comment, like sbatch's parser.
        let rest = rest.split(" #").next().unwrap_or("");
        let words: Vec<String> = rest.split_whitespace().map(str::to_owned).collect();
        read_options(&words, &mut line).map_err(|e| format!("script line {}: {e}", n + 1))?;
    }
    Ok(line)
}

/// Overlays command-line options on the script's (`Some` on the command line wins).
pub(super) fn overlay(base: &mut ComponentOptions, over: &ComponentOptions) {
    macro_rules! take {
        ($($f:ident),*) => { $( if over.$f.is_some() { base.$f = over.$f.clone(); } )* };
    }
    take!(
        partition,
        job_name,
        account,
        qos,
        comment,
        time,
        gres,
        gpus,
        gpus_per_node,
        gpus_per_task,
        gpus_per_socket,
        tres_per_task,
        cpus_per_task,
        ntasks,
        array,
        wrap,
        rci_kind
    );
}

/// `--gres=gpu:2,shard:1` → `gres/gpu:2,gres/shard:1` (as 23.11+ clients write tres_per_node).
pub(super) fn gres_to_tres(gres: &str) -> Vec<String> {
    gres.split(',')
        .map(str::trim)
        .filter(|g| !g.is_empty() && !g.eq_ignore_ascii_case("none"))
        .map(|g| {
            if g.starts_with("gres/") || g.starts_with("gres:") {
                g.to_owned()
            } else {
                format!("gres/{g}")
            }
        })
        .collect()
}

pub(super) fn join_nonempty(parts: Vec<String>) -> Option<String> {
    (!parts.is_empty()).then(|| parts.join(","))
}

/// Builds the requests (one per het component) sbatch or salloc would send.
pub fn build_requests(
    line: &SbatchLine,
    script: Option<&str>,
    user: Option<&str>,
    uid: u32,
) -> Result<Vec<JobRequest>, String> {
    let directives = match script {
        Some(text) => script_directives(text)?,
        None => SbatchLine::default(),
    };
    let count = line
        .components
        .len()
        .max(directives.components.len())
        .max(1);
    let het = count > 1;
    let mut out = Vec::with_capacity(count);
    for index in 0..count {
        let mut opts = directives
            .components
            .get(index)
            .cloned()
            .unwrap_or_default();
        if let Some(cli) = line.components.get(index) {
            overlay(&mut opts, cli);
        }
        let wrap_script = opts.wrap.as_ref().map(|w| format!("#!/bin/sh\n{w}\n"));
        let script_text = match (script, &wrap_script) {
            (Some(s), _) => Some(s.to_owned()),
            (None, Some(w)) => Some(w.clone()),
            (None, None) => None,
        };
        let default_name = match (&line.script, &opts.wrap) {
            (Some(path), _) => Some(
                Path::new(path)
                    .file_name()
                    .map_or_else(|| path.clone(), |n| n.to_string_lossy().into_owned()),
            ),
            (None, Some(_)) => Some("wrap".to_owned()),
            _ => None,
        };
        let mut per_node = opts.gres.as_deref().map(gres_to_tres).unwrap_or_default();
        if let Some(g) = &opts.gpus_per_node {
            per_node.push(format!("gres/gpu:{g}"));
        }
        let mut per_task = Vec::new();
        if let Some(c) = opts.cpus_per_task {
            per_task.push(format!("cpu:{c}"));
        }
        if let Some(g) = &opts.gpus_per_task {
            per_task.push(format!("gres/gpu:{g}"));
        }
        if let Some(t) = &opts.tres_per_task {
            per_task.push(t.clone());
        }
        let min_cpus = opts
            .ntasks
            .unwrap_or(1)
            .saturating_mul(opts.cpus_per_task.unwrap_or(1));
        out.push(JobRequest {
            origin: Origin::Submit,
            job_id: None,
            submit_uid: uid,
            submit_user_name: user.map(str::to_owned),
            submitter_is_slurm_operator: uid == 0,
            user_id: Some(uid),
            user_name: user.map(str::to_owned),
            name: opts.job_name.clone().or(default_name),
            partition: opts.partition.clone(),
            account: opts.account.clone(),
            qos: opts.qos.clone(),
            comment: opts.comment.clone(),
            tres_per_job: opts.gpus.as_ref().map(|g| format!("gres/gpu:{g}")),
            tres_per_node: join_nonempty(per_node),
            tres_per_socket: opts
                .gpus_per_socket
                .as_ref()
                .map(|g| format!("gres/gpu:{g}")),
            tres_per_task: join_nonempty(per_task),
            time_limit: opts.time.unwrap_or(TimeLimit::Unset),
            time_min: match opts.time_min {
                Some(TimeLimit::Minutes(0)) | None => TimeLimit::Unset,
                Some(t) => t,
            },
            // sbatch sends the script with the first component only.
            script: if index == 0 { script_text } else { None },
            spank_job_env: opts
                .rci_kind
                .as_ref()
                .map(|k| vec![format!("{}={k}", classify::DECLARED_KIND_VAR)])
                .unwrap_or_default(),
            het_job_offset: het.then(|| u32::try_from(index).unwrap_or(u32::MAX)),
            array_inx: opts.array.clone(),
            min_cpus: Some(min_cpus),
        });
    }
    Ok(out)
}
