//! A reader for Slurm's gres.conf, reduced to what GPU identity needs: which device files a node's
//! `Name=gpu` records list, in which order, and which `AutoDetect` mode applies to the node.
//!
//! Format (Slurm's generic config parser, `s_p_parse_line`): one record per line of `Key=Value`
//! pairs separated by blanks; keys are case-insensitive; values may be `"quoted"`; `#` starts a
//! comment unless written `\#`; a line ending in `\` continues on the next one; `Include <path>`
//! pulls in another file (relative paths are taken from the including file's directory).
//!
//! Record kinds, as Slurm's `gres.c` reads them:
//! - `NodeName=<hostlist> Name=gpu ...`: a record for the listed nodes only;
//! - `Name=gpu ...` (no NodeName): a record for every node;
//! - `NodeName=<hostlist> AutoDetect=nvml` (no Name): the node-local detection mode, which wins
//!   over a global one;
//! - `AutoDetect=nvml` as the first key of a line without NodeName: the global detection mode.
//!
//! Slurm's GRES index: without AutoDetect, gpu N is the N-th device file of the node's `Name=gpu`
//! records in file order (`File=/dev/nvidia[0-3]` counts four, `MultipleFiles=` counts one). With
//! AutoDetect the order is decided by the detected hardware; see `resolve`.

use std::path::{Path, PathBuf};

use super::hostlist;
use crate::config::{read_bounded_regular_file, MAX_CONFIG_BYTES};

/// How deep `Include` may nest before we call it a loop.
const MAX_INCLUDE_DEPTH: usize = 8;
/// Most files one gres.conf may include in all. Depth alone does not bound the work: a file
/// that includes two others, each including two more, reads 2^8 files at depth 8 (found by the
/// `gres_conf` fuzz target), and slurmstepd reads gres.conf in every task's task_init.
const MAX_INCLUDED_FILES: usize = 64;

/// Where `parse_into` is in the tree of included files.
struct IncludeChain {
    /// The files being parsed, outermost first: one reached again is a loop.
    open: Vec<PathBuf>,
    /// Files read so far, at any depth.
    files_read: usize,
}

impl IncludeChain {
    fn new() -> IncludeChain {
        IncludeChain {
            open: Vec::new(),
            files_read: 0,
        }
    }
}

/// gres.conf `AutoDetect=` values, as Slurm reads them (case-insensitive, `nvml` by substring).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AutoDetect {
    /// `nvml`: GPUs found through NVML, ordered by PCI bus ID.
    Nvml,
    /// `nvidia` (Slurm 24.11+): GPUs found in /proc/driver/nvidia, ordered by device file.
    Nvidia,
    /// `rsmi` (AMD).
    Rsmi,
    /// `oneapi` (Intel).
    OneApi,
    /// `nrt` (AWS Trainium/Inferentia).
    Nrt,
    /// `off`: no detection; gres.conf is the whole truth.
    Off,
    /// Anything else, kept verbatim for messages.
    Other(String),
}

impl AutoDetect {
    fn parse(value: &str) -> AutoDetect {
        let lower = value.to_ascii_lowercase();
        if lower.contains("nvml") {
            AutoDetect::Nvml
        } else if lower.contains("rsmi") {
            AutoDetect::Rsmi
        } else if lower.contains("oneapi") {
            AutoDetect::OneApi
        } else if lower.contains("nrt") {
            AutoDetect::Nrt
        } else if lower == "nvidia" {
            AutoDetect::Nvidia
        } else if lower == "off" {
            AutoDetect::Off
        } else {
            AutoDetect::Other(value.to_string())
        }
    }

    /// The spelling used in messages.
    pub fn name(&self) -> &str {
        match self {
            AutoDetect::Nvml => "nvml",
            AutoDetect::Nvidia => "nvidia",
            AutoDetect::Rsmi => "rsmi",
            AutoDetect::OneApi => "oneapi",
            AutoDetect::Nrt => "nrt",
            AutoDetect::Off => "off",
            AutoDetect::Other(value) => value,
        }
    }
}

/// One Slurm GPU as gres.conf describes it: the device file that identifies it, its `Type=`,
/// and for `MultipleFiles=` records the other files that belong to the same GPU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GpuFile {
    /// The file naming the GPU (`/dev/nvidiaN`); for `MultipleFiles=`, the first `nvidiaN` file.
    pub path: PathBuf,
    /// `Type=` of the record, if any.
    pub type_name: Option<String>,
    /// The remaining files of a `MultipleFiles=` record (e.g. MIG `nvidia-caps` files).
    pub other_files: Vec<PathBuf>,
    /// Line of gres.conf the record came from (1-based), for messages.
    pub line: usize,
}

impl GpuFile {
    /// True for a `MultipleFiles=` record that names MIG capability files: the GPU is a MIG
    /// slice, whose UUID the parent's device file cannot give.
    pub fn is_mig_slice(&self) -> bool {
        self.other_files
            .iter()
            .any(|p| p.to_string_lossy().contains("nvidia-caps"))
    }
}

/// Device files of one record.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Files {
    /// `Count=` only: Slurm knows how many, not which.
    None,
    /// `File=`/`Files=`: one GPU per file.
    Each(Vec<String>),
    /// `MultipleFiles=`: one GPU made of all these files.
    Multiple(Vec<String>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Record {
    line: usize,
    /// `NodeName=` expanded; `None` applies to every node.
    nodes: Option<Vec<String>>,
    name: String,
    type_name: Option<String>,
    files: Files,
}

impl Record {
    fn applies_to(&self, node: &str) -> bool {
        match &self.nodes {
            None => true,
            Some(nodes) => nodes.iter().any(|n| n == node),
        }
    }

    fn is_gpu(&self) -> bool {
        self.name.eq_ignore_ascii_case("gpu")
    }
}

/// A parsed gres.conf.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GresConf {
    records: Vec<Record>,
    global_autodetect: Option<AutoDetect>,
    /// Node-local AutoDetect lines, in file order: (nodes, mode).
    node_autodetect: Vec<(Vec<String>, AutoDetect)>,
    warnings: Vec<String>,
}

impl GresConf {
    /// The node's GPUs in Slurm's gres.conf order: `File=` ranges expanded, lines appended in
    /// order, `Count=`-only records contributing nothing. Index N of the result is Slurm's GRES
    /// index N when no AutoDetect applies.
    pub fn gpu_files(&self, node: &str) -> Vec<GpuFile> {
        let mut out = Vec::new();
        for record in self
            .records
            .iter()
            .filter(|r| r.is_gpu() && r.applies_to(node))
        {
            match &record.files {
                Files::None => {}
                Files::Each(paths) => out.extend(paths.iter().map(|p| GpuFile {
                    path: PathBuf::from(p),
                    type_name: record.type_name.clone(),
                    other_files: Vec::new(),
                    line: record.line,
                })),
                Files::Multiple(paths) => {
                    let primary = paths
                        .iter()
                        .position(|p| is_nvidia_gpu_file(p))
                        .unwrap_or(0);
                    if let Some(path) = paths.get(primary) {
                        out.push(GpuFile {
                            path: PathBuf::from(path),
                            type_name: record.type_name.clone(),
                            other_files: paths
                                .iter()
                                .enumerate()
                                .filter(|(i, _)| *i != primary)
                                .map(|(_, p)| PathBuf::from(p))
                                .collect(),
                            line: record.line,
                        });
                    }
                }
            }
        }
        out
    }

    /// True when some `Name=gpu` record (with or without files) applies to the node.
    pub fn has_gpu_records(&self, node: &str) -> bool {
        self.records
            .iter()
            .any(|r| r.is_gpu() && r.applies_to(node))
    }

    /// The AutoDetect mode for the node: its node-local line if any, else the global one.
    pub fn autodetect(&self, node: &str) -> Option<&AutoDetect> {
        self.node_autodetect
            .iter()
            .find(|(nodes, _)| nodes.iter().any(|n| n == node))
            .map(|(_, mode)| mode)
            .or(self.global_autodetect.as_ref())
    }

    /// Things the parser ignored (unknown keys, records Slurm would skip), with line numbers.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }
}

/// True for `.../nvidiaN`: the device file of a whole NVIDIA GPU.
fn is_nvidia_gpu_file(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    name.strip_prefix("nvidia")
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// Parses gres.conf text. `Include` lines are errors here (there is nothing to read them from);
/// use [`parse_with_includes`] or [`load`] for files that use them.
pub fn parse(text: &str) -> Result<GresConf, String> {
    let mut conf = GresConf::default();
    let mut no_includes = |path: &Path| -> Result<String, String> {
        Err(format!(
            "Include {} is not supported when parsing text",
            path.display()
        ))
    };
    parse_into(
        &mut conf,
        text,
        Path::new("gres.conf"),
        &mut no_includes,
        &mut IncludeChain::new(),
    )?;
    Ok(conf)
}

/// Parses gres.conf text that came from `origin`, reading `Include`d files with `read`.
pub fn parse_with_includes(
    text: &str,
    origin: &Path,
    read: &mut dyn FnMut(&Path) -> Result<String, String>,
) -> Result<GresConf, String> {
    let mut conf = GresConf::default();
    parse_into(&mut conf, text, origin, read, &mut IncludeChain::new())?;
    Ok(conf)
}

/// Reads and parses a gres.conf file and the files it includes.
///
/// Like rci.conf, only regular files of bounded size are read, opened non-blocking: a FIFO in
/// gres.conf's place must not hang slurmstepd.
pub fn load(path: &Path) -> Result<GresConf, String> {
    let mut read = |p: &Path| -> Result<String, String> {
        read_bounded_regular_file(p, MAX_CONFIG_BYTES)
            .map_err(|e| format!("cannot read {}: {e}", p.display()))
    };
    let text = read(path)?;
    parse_with_includes(&text, path, &mut read)
}

fn parse_into(
    conf: &mut GresConf,
    text: &str,
    origin: &Path,
    read: &mut dyn FnMut(&Path) -> Result<String, String>,
    chain: &mut IncludeChain,
) -> Result<(), String> {
    let at = |line: usize| format!("{}:{line}", origin.display());
    for (line_no, line) in logical_lines(text) {
        let trimmed = line.trim();
        if trimmed.is_empty() {
            continue;
        }
        if let Some(target) = include_target(trimmed) {
            if chain.open.len() >= MAX_INCLUDE_DEPTH {
                return Err(format!(
                    "{}: Include nested deeper than {MAX_INCLUDE_DEPTH} (a loop?)",
                    at(line_no)
                ));
            }
            let path = resolve_include(origin, target);
            if path == origin || chain.open.contains(&path) {
                return Err(format!(
                    "{}: Include loop: {} includes itself",
                    at(line_no),
                    path.display()
                ));
            }
            chain.files_read += 1;
            if chain.files_read > MAX_INCLUDED_FILES {
                return Err(format!(
                    "{}: more than {MAX_INCLUDED_FILES} included files in all",
                    at(line_no)
                ));
            }
            let included = read(&path).map_err(|e| format!("{}: {e}", at(line_no)))?;
            chain.open.push(origin.to_path_buf());
            let result = parse_into(conf, &included, &path, read, chain);
            chain.open.pop();
            result?;
            continue;
        }
        let pairs = split_pairs(trimmed).map_err(|e| format!("{}: {e}", at(line_no)))?;
        apply_line(conf, &pairs, line_no, &at(line_no))
            .map_err(|e| format!("{}: {e}", at(line_no)))?;
    }
    Ok(())
}

/// Joins continued lines and strips comments; yields (first physical line number, text).
fn logical_lines(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut pending: Option<(usize, String)> = None;
    for (i, raw) in text.lines().enumerate() {
        let stripped = strip_comment(raw);
        let (body, continues) = match stripped.trim_end().strip_suffix('\\') {
            Some(body) if !body.ends_with('\\') => (body.to_string(), true),
            _ => (stripped, false),
        };
        let (start, mut acc) = pending.take().unwrap_or((i + 1, String::new()));
        if !acc.is_empty() {
            acc.push(' ');
        }
        acc.push_str(&body);
        if continues {
            pending = Some((start, acc));
        } else {
            out.push((start, acc));
        }
    }
    if let Some(last) = pending {
        out.push(last);
    }
    out
}

/// Removes a `#` comment; `\#` stands for a literal `#`.
fn strip_comment(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'#') => {
                out.push('#');
                chars.next();
            }
            '#' => break,
            _ => out.push(c),
        }
    }
    out
}

/// `Include <path>` (keyword case-insensitive, not followed by `=`).
fn include_target(line: &str) -> Option<&str> {
    let keyword = line.get(..7)?;
    if !keyword.eq_ignore_ascii_case("include") {
        return None;
    }
    let rest = line.get(7..)?;
    if !rest.starts_with(|c: char| c.is_ascii_whitespace()) {
        return None;
    }
    let target = rest.trim();
    (!target.is_empty() && !target.starts_with('=')).then_some(target)
}

fn resolve_include(origin: &Path, target: &str) -> PathBuf {
    let target = Path::new(target);
    if target.is_absolute() {
        target.to_path_buf()
    } else {
        origin
            .parent()
            .map_or_else(|| target.to_path_buf(), |dir| dir.join(target))
    }
}

/// One `Key=Value` pair; `key` is lowercased.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Pair {
    key: String,
    value: String,
}

/// Splits a line into pairs: `Key=Value`, `Key = Value`, `Key="quoted value"`.
fn split_pairs(line: &str) -> Result<Vec<Pair>, String> {
    let bytes = line.as_bytes();
    let mut pairs = Vec::new();
    let mut i = 0usize;
    let skip_blank = |mut i: usize| {
        while bytes.get(i).is_some_and(|b| b.is_ascii_whitespace()) {
            i += 1;
        }
        i
    };
    loop {
        i = skip_blank(i);
        if i >= bytes.len() {
            break;
        }
        let key_start = i;
        while bytes
            .get(i)
            .is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'_' || *b == b'.')
        {
            i += 1;
        }
        let key = line.get(key_start..i).unwrap_or("");
        let near = line.get(key_start..).unwrap_or("");
        if key.is_empty() {
            return Err(format!("expected Key=Value at '{near}'"));
        }
        i = skip_blank(i);
        match bytes.get(i) {
            Some(b'=') => i += 1,
            Some(b'+' | b'-' | b'*' | b'/') if bytes.get(i + 1) == Some(&b'=') => {
                return Err(format!("operator in '{near}' is not valid in gres.conf"));
            }
            _ => return Err(format!("expected Key=Value at '{near}'")),
        }
        i = skip_blank(i);
        let value = if bytes.get(i) == Some(&b'"') {
            let start = i + 1;
            let len = line
                .get(start..)
                .and_then(|rest| rest.find('"'))
                .ok_or_else(|| format!("unterminated quote in '{near}'"))?;
            i = start + len + 1;
            line.get(start..start + len).unwrap_or("").to_string()
        } else {
            let start = i;
            while bytes.get(i).is_some_and(|b| !b.is_ascii_whitespace()) {
                i += 1;
            }
            line.get(start..i).unwrap_or("").to_string()
        };
        if value.is_empty() {
            return Err(format!("{key}= has no value"));
        }
        pairs.push(Pair {
            key: key.to_ascii_lowercase(),
            value,
        });
    }
    Ok(pairs)
}

const KNOWN_KEYS: &[&str] = &[
    "nodename",
    "name",
    "autodetect",
    "type",
    "file",
    "files",
    "multiplefiles",
    "count",
    "cores",
    "cpus",
    "links",
    "link",
    "flags",
];

/// Applies one line's pairs; `at` (`file:line`) prefixes the warnings it records.
fn apply_line(conf: &mut GresConf, pairs: &[Pair], line: usize, at: &str) -> Result<(), String> {
    for (i, pair) in pairs.iter().enumerate() {
        if pairs.iter().skip(i + 1).any(|p| p.key == pair.key) {
            return Err(format!("key {} given twice", pair.key));
        }
        if !KNOWN_KEYS.contains(&pair.key.as_str()) {
            conf.warnings
                .push(format!("{at}: unknown key '{}' ignored", pair.key));
        }
    }
    let get = |key: &str| {
        pairs
            .iter()
            .find(|p| p.key == key)
            .map(|p| p.value.as_str())
    };
    let first_key = pairs.first().map(|p| p.key.as_str());

    let nodes = match get("nodename") {
        Some(expr) => Some(hostlist::expand(expr).map_err(|e| format!("NodeName: {e}"))?),
        None => None,
    };

    if let Some(value) = get("autodetect") {
        let mode = AutoDetect::parse(value);
        match &nodes {
            Some(nodes) => {
                let conflict = conf.node_autodetect.iter().any(|(known, other)| {
                    *other != mode && known.iter().any(|n| nodes.contains(n))
                });
                if conflict {
                    conf.warnings.push(format!(
                        "{at}: AutoDetect={value} contradicts an earlier node-local \
                         AutoDetect; the first one is kept"
                    ));
                }
                conf.node_autodetect.push((nodes.clone(), mode));
            }
            None if first_key == Some("autodetect") => conf.global_autodetect = Some(mode),
            None => conf.warnings.push(format!(
                "{at}: AutoDetect after Name= without NodeName= is ignored (as Slurm does)"
            )),
        }
    }

    let Some(name) = get("name") else {
        if get("autodetect").is_none() {
            conf.warnings
                .push(format!("{at}: record without Name= ignored"));
        }
        return Ok(());
    };

    let single = get("file").or(get("files"));
    let files = match (single, get("multiplefiles")) {
        (Some(_), Some(_)) => {
            return Err("File and MultipleFiles are mutually exclusive".to_string())
        }
        (Some(expr), None) => {
            Files::Each(hostlist::expand(expr).map_err(|e| format!("File: {e}"))?)
        }
        (None, Some(expr)) => {
            Files::Multiple(hostlist::expand(expr).map_err(|e| format!("MultipleFiles: {e}"))?)
        }
        (None, None) => Files::None,
    };

    if let Some(count) = get("count") {
        let count = parse_count(count)?;
        let listed = match &files {
            Files::Each(paths) => Some(paths.len() as u64),
            Files::Multiple(_) => Some(1),
            Files::None => None,
        };
        // Slurm lets one file carry many MPS units; everything else must agree (fatal otherwise).
        if let Some(listed) = listed {
            if listed != count && !name.eq_ignore_ascii_case("mps") {
                return Err(format!(
                    "Count={count} does not match the {listed} device file(s) listed"
                ));
            }
        }
    }

    conf.records.push(Record {
        line,
        nodes,
        name: name.to_string(),
        type_name: get("type").map(str::to_string),
        files,
    });
    Ok(())
}

/// `Count=` value: digits with an optional k/m/g/t/p suffix (powers of 1024), as Slurm accepts.
fn parse_count(text: &str) -> Result<u64, String> {
    let digits_end = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, suffix) = text.split_at(digits_end);
    let base: u64 = digits
        .parse()
        .map_err(|_| format!("Count={text} is not a number"))?;
    let shift = match suffix.to_ascii_lowercase().as_str() {
        "" => 0,
        "k" => 10,
        "m" => 20,
        "g" => 30,
        "t" => 40,
        "p" => 50,
        _ => return Err(format!("Count={text} has an unknown suffix")),
    };
    base.checked_mul(1u64 << shift)
        .ok_or_else(|| format!("Count={text} is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths(files: &[GpuFile]) -> Vec<String> {
        files
            .iter()
            .map(|f| f.path.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn file_ranges_expand_in_order() {
        let conf = parse("Name=gpu File=/dev/nvidia[0-3]\n").unwrap();
        assert_eq!(
            paths(&conf.gpu_files("any")),
            [
                "/dev/nvidia0",
                "/dev/nvidia1",
                "/dev/nvidia2",
                "/dev/nvidia3"
            ]
        );
        let conf = parse("Name=gpu File=/dev/nvidia[0,2-3]").unwrap();
        assert_eq!(
            paths(&conf.gpu_files("n")),
            ["/dev/nvidia0", "/dev/nvidia2", "/dev/nvidia3"]
        );
    }

    #[test]
    fn several_lines_append_in_file_order_with_types() {
        let text = "\
# two kinds of GPU on one node
Name=gpu Type=l40  File=/dev/nvidia[2-3]
Name=gpu Type=a100 File=/dev/nvidia0   # the older card
name=GPU type=a100 files=/dev/nvidia1
";
        let conf = parse(text).unwrap();
        let files = conf.gpu_files("gpu01");
        assert_eq!(
            paths(&files),
            [
                "/dev/nvidia2",
                "/dev/nvidia3",
                "/dev/nvidia0",
                "/dev/nvidia1"
            ]
        );
        let types: Vec<_> = files.iter().map(|f| f.type_name.as_deref()).collect();
        assert_eq!(
            types,
            [Some("l40"), Some("l40"), Some("a100"), Some("a100")]
        );
        assert_eq!(files[2].line, 3);
    }

    #[test]
    fn node_name_hostlists_select_lines() {
        let text = "\
NodeName=gpu[01-02],head Name=gpu Type=l40 File=/dev/nvidia[0-1]
NodeName=gpu[03-04] Name=gpu Type=h100 File=/dev/nvidia[0-7]
Name=mps Count=200 File=/dev/nvidia[0-1]
";
        let conf = parse(text).unwrap();
        assert_eq!(conf.gpu_files("gpu02").len(), 2);
        assert_eq!(conf.gpu_files("head").len(), 2);
        assert_eq!(conf.gpu_files("gpu04").len(), 8);
        assert_eq!(
            conf.gpu_files("gpu04")[0].type_name.as_deref(),
            Some("h100")
        );
        assert!(conf.gpu_files("gpu05").is_empty());
        assert!(conf.gpu_files("gpu2").is_empty(), "hostnames match exactly");
        assert!(!conf.has_gpu_records("login"));
    }

    #[test]
    fn count_only_records_give_no_files() {
        let conf = parse("NodeName=n1 Name=gpu Type=a100 Count=4").unwrap();
        assert!(conf.gpu_files("n1").is_empty());
        assert!(conf.has_gpu_records("n1"));
    }

    #[test]
    fn multiple_files_make_one_gpu() {
        let text = "Name=gpu Type=1g.10gb MultipleFiles=/dev/nvidia-caps/nvidia-cap21,/dev/nvidia0,/dev/nvidia-caps/nvidia-cap22\nName=gpu Type=l40 File=/dev/nvidia1";
        let conf = parse(text).unwrap();
        let files = conf.gpu_files("n");
        assert_eq!(paths(&files), ["/dev/nvidia0", "/dev/nvidia1"]);
        assert_eq!(files[0].other_files.len(), 2);
        assert!(files[0].is_mig_slice());
        assert!(!files[1].is_mig_slice());
    }

    #[test]
    fn autodetect_global_and_node_local() {
        let text = "\
AutoDetect=nvml
NodeName=old[1-2] AutoDetect=off
NodeName=old[1-2] Name=gpu File=/dev/nvidia[0-1]
NodeName=new1 AutoDetect=nvidia
";
        let conf = parse(text).unwrap();
        assert_eq!(conf.autodetect("gpu07"), Some(&AutoDetect::Nvml));
        assert_eq!(conf.autodetect("old2"), Some(&AutoDetect::Off));
        assert_eq!(conf.autodetect("new1"), Some(&AutoDetect::Nvidia));
        assert_eq!(parse("").unwrap().autodetect("x"), None);
        assert_eq!(
            parse("AutoDetect=RSMI").unwrap().autodetect("x"),
            Some(&AutoDetect::Rsmi)
        );
    }

    #[test]
    fn inline_autodetect_after_name_is_ignored_like_slurm() {
        let conf = parse("Name=gpu AutoDetect=nvml File=/dev/nvidia0").unwrap();
        assert_eq!(conf.autodetect("x"), None);
        assert_eq!(conf.gpu_files("x").len(), 1);
        assert!(
            conf.warnings()[0].contains("gres.conf:1"),
            "{:?}",
            conf.warnings()
        );
    }

    #[test]
    fn comments_quotes_continuations_and_spacing() {
        let text = "\
  # full comment line

Name=gpu \\
   Type=\"l40\" File = /dev/nvidia[0-1]  # trailing comment
Name=gpu Type=odd\\#name File=/dev/nvidia2
";
        let conf = parse(text).unwrap();
        let files = conf.gpu_files("n");
        assert_eq!(
            paths(&files),
            ["/dev/nvidia0", "/dev/nvidia1", "/dev/nvidia2"]
        );
        assert_eq!(files[0].line, 3);
        assert_eq!(files[2].type_name.as_deref(), Some("odd#name"));
    }

    #[test]
    fn bad_lines_name_their_line() {
        let cases = [
            ("Name=gpu\nName=gpu File=/dev/nvidia[0-\n", "gres.conf:2"),
            ("\n\nName=gpu File\n", "gres.conf:3"),
            ("Name=gpu Type=\"l40 File=/dev/nvidia0", "gres.conf:1"),
            (
                "NodeName=gpu[01-02 Name=gpu File=/dev/nvidia0",
                "gres.conf:1",
            ),
            (
                "Name=gpu File=/dev/nvidia0 MultipleFiles=/dev/nvidia1",
                "gres.conf:1",
            ),
            ("\nName=gpu Count=3 File=/dev/nvidia[0-1]", "gres.conf:2"),
            (
                "Name=gpu File=/dev/nvidia0 file=/dev/nvidia1",
                "gres.conf:1",
            ),
            ("Name=gpu Count=4x", "gres.conf:1"),
            ("Name=gpu File=", "gres.conf:1"),
            ("Name+=gpu", "gres.conf:1"),
        ];
        for (text, place) in cases {
            let err = parse(text).unwrap_err();
            assert!(err.starts_with(place), "{text:?} gave {err}");
        }
    }

    #[test]
    fn mps_count_may_exceed_files_and_unknown_keys_warn() {
        let conf = parse(
            "Name=mps Count=400 File=/dev/nvidia[0-3]\nName=gpu Frobnicate=1 File=/dev/nvidia0",
        )
        .unwrap();
        assert_eq!(conf.gpu_files("n").len(), 1);
        assert_eq!(conf.warnings().len(), 1);
        assert!(conf.warnings()[0].starts_with("gres.conf:2"));
        assert_eq!(parse_count("2k").unwrap(), 2048);
    }

    #[test]
    fn includes_are_read_relative_to_the_including_file() {
        let mut seen = Vec::new();
        let mut read = |p: &Path| -> Result<String, String> {
            seen.push(p.to_path_buf());
            match p.to_str() {
                Some("/etc/slurm/gres.d/l40.conf") => {
                    Ok("NodeName=n1 Name=gpu File=/dev/nvidia[0-1]\n".to_string())
                }
                Some("/abs/more.conf") => Ok("Name=gpu File=/dev/nvidia7\nbad line\n".to_string()),
                _ => Err("no such file".to_string()),
            }
        };
        let text = "Name=gpu File=/dev/nvidia9\ninclude gres.d/l40.conf\n";
        let conf = parse_with_includes(text, Path::new("/etc/slurm/gres.conf"), &mut read).unwrap();
        assert_eq!(
            paths(&conf.gpu_files("n1")),
            ["/dev/nvidia9", "/dev/nvidia0", "/dev/nvidia1"]
        );
        let err = parse_with_includes(
            "Include /abs/more.conf",
            Path::new("/etc/slurm/gres.conf"),
            &mut read,
        )
        .unwrap_err();
        assert!(err.starts_with("/abs/more.conf:2"), "{err}");
        let err = parse_with_includes(
            "\nInclude missing.conf",
            Path::new("/etc/slurm/gres.conf"),
            &mut read,
        )
        .unwrap_err();
        assert!(err.starts_with("/etc/slurm/gres.conf:2"), "{err}");
        assert!(parse("Include x.conf").is_err());
    }

    #[test]
    fn include_loops_stop() {
        let mut read = |_: &Path| -> Result<String, String> { Ok("Include self.conf".to_string()) };
        let err = parse_with_includes("Include self.conf", Path::new("/x/gres.conf"), &mut read)
            .unwrap_err();
        assert!(err.contains("Include loop"), "{err}");
        // A chain of distinct files still stops at the depth limit.
        let mut depth = 0;
        let mut read = |_: &Path| -> Result<String, String> {
            depth += 1;
            Ok(format!("Include f{depth}.conf"))
        };
        let err = parse_with_includes("Include f0.conf", Path::new("/x/gres.conf"), &mut read)
            .unwrap_err();
        assert!(err.contains("nested deeper"), "{err}");
    }

    #[test]
    fn include_fan_out_is_bounded_in_all() {
        // Depth bounds chains, not trees: a file with many Include lines, each file with as
        // many, would read them all at every level.
        let mut reads = 0;
        let mut read = |_: &Path| -> Result<String, String> {
            reads += 1;
            Ok("Name=gpu File=/dev/nvidia0".to_string())
        };
        let root: String = (0..100).map(|i| format!("Include f{i}.conf\n")).collect();
        let err = parse_with_includes(&root, Path::new("/x/gres.conf"), &mut read).unwrap_err();
        assert!(err.contains("included files in all"), "{err}");
        assert_eq!(reads, MAX_INCLUDED_FILES);
    }

    #[test]
    fn load_reads_files_from_disk() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("extra.conf"),
            "Name=gpu File=/dev/nvidia1\n",
        )
        .unwrap();
        let main = dir.path().join("gres.conf");
        std::fs::write(&main, "Name=gpu File=/dev/nvidia0\nInclude extra.conf\n").unwrap();
        let conf = load(&main).unwrap();
        assert_eq!(
            paths(&conf.gpu_files("n")),
            ["/dev/nvidia0", "/dev/nvidia1"]
        );
        assert!(load(&dir.path().join("absent.conf")).is_err());
    }
}
