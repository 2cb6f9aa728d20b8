//! rci.conf pairs into a [`Config`]: global keys, `Kind=` and `KindRule=` lines, the sections' extension keys, "did you mean".

use super::container::ContainerConfig;
use super::energy::EnergyConfig;
use super::lexer::*;
use super::*;

pub(super) const GLOBAL_KEYS: &[&str] = &[
    "GpuPartitions",
    "CpuPartition",
    "CpuJobsOnGpuPartitions",
    "AllowMaxCpus",
    "ExemptUsers",
    "ExemptAccounts",
    "ExemptQos",
    "AdminUsers",
    "DefaultPartition",
    "DefaultKindRules",
    "UpdateMaxTime",
    "Kind",
    "KindRule",
];

/// Keys of the container and energy sections (each section lists its own, beside its parser),
/// for "did you mean".
pub(super) fn extension_keys() -> impl Iterator<Item = &'static str> {
    ContainerConfig::KEYS
        .iter()
        .chain(EnergyConfig::KEYS)
        .copied()
}

pub(super) const KIND_KEYS: &[&str] = &[
    "DefaultTime",
    "MaxTime",
    "Action",
    "Partition",
    "Qos",
    "AllowUsers",
    "AllowAccounts",
    "AllowMaxTime",
    "Hint",
];

pub(super) const RULE_KEYS: &[&str] = &["Script", "Name", "Comment", "Partition"];

pub(super) struct Parser {
    path: String,
    cfg: Config,
    issues: Vec<ConfigIssue>,
    /// Line where each global key was first set (lowercase key).
    seen: Vec<(String, usize)>,
    config_rules: Vec<KindRule>,
    kind_lines: [Option<usize>; 5],
    /// The slurm.conf partition names are checked against, with its path, when it was read.
    slurm_partitions: Option<(String, Vec<String>)>,
}

impl Config {
    /// Parses rci.conf bytes as read from `path` (named in messages): invalid UTF-8 is an error
    /// with its line, a UTF-8 BOM at the start is skipped. When `slurm_conf` (its path and text)
    /// is given and lists its partitions completely (no `Include`), every partition rci.conf
    /// names must be one of them.
    pub fn parse_bytes(
        bytes: &[u8],
        path: &str,
        slurm_conf: Option<(&Path, &str)>,
    ) -> Result<Config, ConfigError> {
        let text = decode(bytes)
            .map_err(|(line, message)| ConfigError::single(path, Some(line), message))?;
        let mut parser = Parser::new(path);
        parser.slurm_partitions = slurm_conf.and_then(|(conf, text)| {
            super::slurm_conf::partition_names(text)
                .map(|names| (conf.display().to_string(), names))
        });
        parser.run(text)
    }
}

impl Parser {
    pub(super) fn new(path: &str) -> Parser {
        let mut cfg = Config {
            source: path.to_owned(),
            ..Config::default()
        };
        cfg.kinds.set_rules(Vec::new());
        Parser {
            path: path.to_owned(),
            cfg,
            issues: Vec::new(),
            seen: Vec::new(),
            config_rules: Vec::new(),
            kind_lines: [None; 5],
            slurm_partitions: None,
        }
    }

    pub(super) fn issue(&mut self, line: Option<usize>, message: String) {
        self.issues.push(ConfigIssue {
            path: self.path.clone(),
            line,
            message,
        });
    }

    pub(super) fn run(mut self, text: &str) -> Result<Config, ConfigError> {
        // A BOM at the very start is the encoding's signature, not text (slurmctld and
        // check-config read the file alike); anywhere else it is an invisible character.
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        for (line, message) in forbidden_chars(text) {
            self.issue(Some(line), message);
        }
        let (lines, last_continued) = split_logical_lines(text);
        if let Some(line) = last_continued {
            self.issue(
                Some(line),
                "the last line ends with '\\', which continues it into nothing (end of file)"
                    .to_owned(),
            );
        }
        for (line, content) in lines {
            match tokenize(&content) {
                Err(message) => self.issue(Some(line), message),
                Ok(pairs) => self.line(line, &pairs),
            }
        }
        self.validate();
        if !self.issues.is_empty() {
            return Err(ConfigError {
                issues: self.issues,
            });
        }
        let mut cfg = self.cfg;
        let mut rules = self.config_rules;
        if rules.is_empty() && cfg.kinds.default_rules {
            cfg.kinds.set_builtin_rules();
        } else {
            if cfg.kinds.default_rules {
                rules.extend_from_slice(builtin_rules());
            }
            cfg.kinds.set_rules(rules);
        }
        if cfg.routing.default_partition.is_some() {
            cfg.routing.default_partition_source = DefaultPartitionSource::Config;
        }
        Ok(cfg)
    }

    pub(super) fn line(&mut self, line: usize, pairs: &[(String, String)]) {
        let Some((first_key, first_value)) = pairs.first() else {
            return;
        };
        if first_key.eq_ignore_ascii_case("Kind") {
            self.kind_line(line, first_value, pairs.get(1..).unwrap_or(&[]));
            return;
        }
        if first_key.eq_ignore_ascii_case("KindRule") {
            self.rule_line(line, first_value, pairs.get(1..).unwrap_or(&[]));
            return;
        }
        for (key, value) in pairs {
            if let Err(message) = self.global(line, key, value) {
                self.issue(Some(line), message);
            }
        }
    }

    pub(super) fn global(&mut self, line: usize, key: &str, value: &str) -> Result<(), String> {
        let lower = key.to_ascii_lowercase();
        let canonical = match GLOBAL_KEYS.iter().find(|k| k.eq_ignore_ascii_case(key)) {
            Some(&k) => k,
            None => {
                return match self.cfg.set_extension_key(&lower, value) {
                    Some(result) => result.map_err(|e| format!("{key}: {e}")),
                    None if KIND_KEYS.iter().any(|k| k.eq_ignore_ascii_case(key)) => {
                        let also_rule = RULE_KEYS.iter().any(|k| k.eq_ignore_ascii_case(key));
                        Err(format!(
                            "{key} is only valid on a Kind= line{} (e.g. Kind=vm {key}=...)",
                            if also_rule {
                                " or a KindRule= line"
                            } else {
                                ""
                            }
                        ))
                    }
                    None if RULE_KEYS.iter().any(|k| k.eq_ignore_ascii_case(key)) => Err(format!(
                        "{key} is only valid on a KindRule= line (e.g. KindRule=server {key}=...)"
                    )),
                    None => {
                        let known: Vec<&str> = GLOBAL_KEYS
                            .iter()
                            .copied()
                            .chain(extension_keys())
                            .collect();
                        Err(unknown_key(key, &known))
                    }
                };
            }
        };
        if canonical == "Kind" || canonical == "KindRule" {
            return Err(format!("{canonical}= must start its line"));
        }
        if let Some((_, first)) = self.seen.iter().find(|(k, _)| *k == lower) {
            return Err(format!("{canonical} set twice (first at line {first})"));
        }
        self.seen.push((lower, line));
        let routing = &mut self.cfg.routing;
        match canonical {
            "GpuPartitions" => {
                let list = parse_list(value);
                if let Some(message) = list.iter().find_map(|p| bad_name(canonical, p)) {
                    return Err(message);
                }
                routing.gpu_partitions = list;
            }
            "CpuPartition" => {
                let v = value.trim();
                if v.is_empty() || v.contains(',') {
                    return Err("CpuPartition needs exactly one partition name".to_owned());
                }
                if let Some(message) = bad_name(canonical, v) {
                    return Err(message);
                }
                routing.cpu_partition = v.to_owned();
            }
            "CpuJobsOnGpuPartitions" => {
                routing.action = match value.to_ascii_lowercase().as_str() {
                    "reroute" => CpuJobAction::Reroute,
                    "reject" => CpuJobAction::Reject,
                    "allow" => CpuJobAction::Allow,
                    _ => {
                        return Err(format!(
                            "CpuJobsOnGpuPartitions must be reroute, reject or allow, not '{value}'"
                        ))
                    }
                }
            }
            "AllowMaxCpus" => {
                routing.allow_max_cpus =
                    Some(value.trim().parse::<u32>().map_err(|_| {
                        format!("AllowMaxCpus must be a number of CPUs, not '{value}'")
                    })?)
            }
            "ExemptUsers" => routing.exempt_users = parse_list(value),
            "ExemptAccounts" => routing.exempt_accounts = parse_list(value),
            "ExemptQos" => routing.exempt_qos = parse_list(value),
            "AdminUsers" => self.cfg.admin_users = parse_list(value),
            "DefaultPartition" => {
                let v = value.trim();
                if let Some(message) = (!v.is_empty()).then(|| bad_name(canonical, v)).flatten() {
                    return Err(message);
                }
                routing.default_partition = (!v.is_empty()).then(|| v.to_owned());
            }
            "DefaultKindRules" => self.cfg.kinds.default_rules = parse_bool(canonical, value)?,
            "UpdateMaxTime" => self.cfg.update_max_time = Some(parse_max_time(canonical, value)?),
            _ => return Err(unknown_key(key, GLOBAL_KEYS)),
        }
        Ok(())
    }

    pub(super) fn kind_line(&mut self, line: usize, kind_name: &str, attrs: &[(String, String)]) {
        let Some(kind) = JobKind::from_name(kind_name) else {
            self.issue(
                Some(line),
                format!(
                    "unknown kind '{kind_name}'; valid kinds: {}",
                    JobKind::valid_names()
                ),
            );
            return;
        };
        if let Some(first) = self.kind_lines.get(kind.index()).copied().flatten() {
            self.issue(
                Some(line),
                format!("Kind={kind} configured twice (first at line {first})"),
            );
            return;
        }
        if let Some(slot) = self.kind_lines.get_mut(kind.index()) {
            *slot = Some(line);
        }
        let mut policy = self.cfg.kinds.policy(kind).clone();
        policy.line = Some(line);
        let mut seen: Vec<&'static str> = Vec::new();
        for (key, value) in attrs {
            let Some(&canonical) = KIND_KEYS.iter().find(|k| k.eq_ignore_ascii_case(key)) else {
                self.issue(Some(line), unknown_key(key, KIND_KEYS));
                continue;
            };
            if seen.contains(&canonical) {
                self.issue(
                    Some(line),
                    format!("{canonical} given twice for Kind={kind}"),
                );
                continue;
            }
            seen.push(canonical);
            if let Err(message) = set_kind_key(&mut policy, canonical, value) {
                self.issue(Some(line), message);
            }
        }
        if let Some(slot) = self.cfg.kinds.policy_mut(kind) {
            *slot = policy;
        }
    }

    pub(super) fn rule_line(&mut self, line: usize, kind_name: &str, attrs: &[(String, String)]) {
        let Some(kind) = JobKind::from_name(kind_name) else {
            self.issue(
                Some(line),
                format!(
                    "unknown kind '{kind_name}'; valid kinds: {}",
                    JobKind::valid_names()
                ),
            );
            return;
        };
        let mut rule = KindRule {
            kind,
            name: None,
            comment: None,
            partition: None,
            script: None,
            origin: RuleOrigin::Config { line },
            text: format!("KindRule={}", kind.name()),
        };
        for (key, value) in attrs {
            let Some(&canonical) = RULE_KEYS.iter().find(|k| k.eq_ignore_ascii_case(key)) else {
                self.issue(Some(line), unknown_key(key, RULE_KEYS));
                continue;
            };
            let already = match canonical {
                "Script" => rule.script.is_some(),
                "Name" => rule.name.is_some(),
                "Comment" => rule.comment.is_some(),
                _ => rule.partition.is_some(),
            };
            if already {
                self.issue(
                    Some(line),
                    format!("{canonical} given twice in one KindRule"),
                );
                continue;
            }
            match canonical {
                "Script" => match ScriptPattern::new(value) {
                    Ok(p) => rule.script = Some(p),
                    Err(message) => {
                        self.issue(Some(line), message);
                        continue;
                    }
                },
                "Name" => rule.name = Some(Glob::new(value)),
                "Comment" => rule.comment = Some(Glob::new(value)),
                _ => rule.partition = Some(Glob::new(value)),
            }
            rule.text
                .push_str(&format!(" {canonical}={}", quote_if_needed(value)));
        }
        if rule.script.is_none()
            && rule.name.is_none()
            && rule.comment.is_none()
            && rule.partition.is_none()
        {
            self.issue(
                Some(line),
                "KindRule needs at least one of Script=, Name=, Comment=, Partition=".to_owned(),
            );
            return;
        }
        self.config_rules.push(rule);
    }

    pub(super) fn validate(&mut self) {
        let routing = &self.cfg.routing;
        let line_of = |key: &str| self.seen.iter().find(|(k, _)| k == key).map(|(_, l)| *l);
        let mut late = Vec::new();
        if routing.is_gpu_partition(&routing.cpu_partition) {
            late.push((
                line_of("cpupartition").or(line_of("gpupartitions")),
                format!(
                    "CpuPartition {} is also listed in GpuPartitions",
                    routing.cpu_partition
                ),
            ));
        }
        if routing.allow_max_cpus.is_some() && routing.action != CpuJobAction::Allow {
            late.push((
                line_of("allowmaxcpus"),
                "AllowMaxCpus only applies with CpuJobsOnGpuPartitions=allow".to_owned(),
            ));
        }
        for kind in JobKind::ALL {
            let p = self.cfg.kinds.policy(kind);
            if let (Some(d), MaxTime::Minutes(m)) = (p.default_time, p.max_time) {
                if d > m {
                    late.push((
                        p.line,
                        format!(
                            "Kind={kind}: DefaultTime {} is above MaxTime {}",
                            format_minutes(d),
                            format_minutes(m)
                        ),
                    ));
                }
            }
            if let Some(allow) = p.allow_max_time {
                if allow < p.max_time {
                    late.push((
                        p.line,
                        format!(
                            "Kind={kind}: AllowMaxTime {allow} is below MaxTime {}; allowed users would get less",
                            p.max_time
                        ),
                    ));
                }
                if p.allow_users.is_empty() && p.allow_accounts.is_empty() {
                    late.push((
                        p.line,
                        format!("Kind={kind}: AllowMaxTime needs AllowUsers= or AllowAccounts="),
                    ));
                }
            }
        }
        if let Some((conf, names)) = &self.slurm_partitions {
            let known = |p: &str| names.iter().any(|n| n == p);
            let mut named: Vec<(Option<usize>, &str, &str)> = Vec::new();
            match line_of("cpupartition") {
                Some(line) => named.push((Some(line), "CpuPartition", &routing.cpu_partition)),
                // Not set: CPU-only jobs would be rerouted to the default, 'cpu'.
                None if routing.enabled() && routing.action == CpuJobAction::Reroute => {
                    named.push((
                        line_of("gpupartitions"),
                        "CpuPartition (not set, so the default)",
                        &routing.cpu_partition,
                    ))
                }
                None => {}
            }
            for p in &routing.gpu_partitions {
                named.push((line_of("gpupartitions"), "GpuPartitions", p));
            }
            if let Some(p) = &routing.default_partition {
                named.push((line_of("defaultpartition"), "DefaultPartition", p));
            }
            for kind in JobKind::ALL {
                let policy = self.cfg.kinds.policy(kind);
                if let Some(p) = &policy.partition {
                    named.push((policy.line, "Partition", p));
                }
            }
            for (line, key, partition) in named {
                if !known(partition) {
                    late.push((
                        line,
                        format!(
                            "{key}: partition '{}' is not defined in {conf} (its partitions: {})",
                            partition.escape_debug(),
                            if names.is_empty() {
                                "none".to_owned()
                            } else {
                                names.join(", ")
                            }
                        ),
                    ));
                }
            }
        }
        for (line, message) in late {
            self.issue(line, message);
        }
    }
}

pub(super) fn set_kind_key(
    policy: &mut KindPolicy,
    canonical: &str,
    value: &str,
) -> Result<(), String> {
    match canonical {
        "DefaultTime" => match parse_time(value).map_err(|e| format!("DefaultTime: {e}"))? {
            TimeLimit::Minutes(0) => return Err("DefaultTime must be above 0".to_owned()),
            TimeLimit::Minutes(m) => policy.default_time = Some(m),
            _ => return Err("DefaultTime cannot be UNLIMITED; leave it out instead".to_owned()),
        },
        "MaxTime" => policy.max_time = parse_max_time(canonical, value)?,
        "AllowMaxTime" => policy.allow_max_time = Some(parse_max_time(canonical, value)?),
        "Action" => {
            policy.action = match value.to_ascii_lowercase().as_str() {
                "cap" => TimeAction::Cap,
                "reject" => TimeAction::Reject,
                _ => return Err(format!("Action must be cap or reject, not '{value}'")),
            }
        }
        "Partition" => {
            let v = value.trim();
            if v.is_empty() || v.contains(',') {
                return Err("Partition needs exactly one partition name".to_owned());
            }
            if let Some(message) = bad_name(canonical, v) {
                return Err(message);
            }
            policy.partition = Some(v.to_owned());
        }
        "Qos" => {
            let v = value.trim();
            if let Some(message) = (!v.is_empty()).then(|| bad_name(canonical, v)).flatten() {
                return Err(message);
            }
            policy.qos = (!v.is_empty()).then(|| v.to_owned());
        }
        "AllowUsers" => policy.allow_users = parse_list(value),
        "AllowAccounts" => policy.allow_accounts = parse_list(value),
        "Hint" => {
            let v = value.trim();
            policy.hint = (!v.is_empty()).then(|| v.to_owned());
        }
        _ => return Err(unknown_key(canonical, KIND_KEYS)),
    }
    Ok(())
}

pub(super) fn parse_max_time(key: &str, value: &str) -> Result<MaxTime, String> {
    match parse_time(value).map_err(|e| format!("{key}: {e}"))? {
        TimeLimit::Minutes(0) => Err(format!("{key} must be above 0 (use UNLIMITED for no cap)")),
        TimeLimit::Minutes(m) => Ok(MaxTime::Minutes(m)),
        _ => Ok(MaxTime::Unlimited),
    }
}

pub(super) fn parse_bool(key: &str, value: &str) -> Result<bool, String> {
    match value.to_ascii_lowercase().as_str() {
        "yes" | "true" | "1" | "on" => Ok(true),
        "no" | "false" | "0" | "off" => Ok(false),
        _ => Err(format!("{key} must be yes or no, not '{value}'")),
    }
}

/// A comma-separated list, entries trimmed, empty ones dropped.
pub(super) fn parse_list(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

pub(super) fn unknown_key(key: &str, known: &[&str]) -> String {
    let lower = key.to_ascii_lowercase();
    let limit = 2.max(key.len() / 4);
    // The distance is at least the difference in length: such keys need not be compared
    // (a long garbage key would otherwise cost its length times every known key's).
    let best = known
        .iter()
        .filter(|k| k.len().abs_diff(key.len()) <= limit)
        .map(|k| (edit_distance(&lower, &k.to_ascii_lowercase()), *k))
        .min_by_key(|(d, _)| *d);
    match best {
        Some((d, k)) if d <= limit => {
            format!("unknown key '{key}' (did you mean {k}?)")
        }
        _ => format!("unknown key '{key}'"),
    }
}

/// Levenshtein distance over bytes (keys are ASCII).
pub(super) fn edit_distance(a: &str, b: &str) -> usize {
    let b = b.as_bytes();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur: Vec<usize> = Vec::with_capacity(b.len() + 1);
    for (i, ca) in a.bytes().enumerate() {
        cur.clear();
        cur.push(i + 1);
        for (j, &cb) in b.iter().enumerate() {
            let substitute = prev.get(j).copied().unwrap_or(usize::MAX) + usize::from(ca != cb);
            let delete = prev
                .get(j + 1)
                .copied()
                .unwrap_or(usize::MAX)
                .saturating_add(1);
            let insert = cur.last().copied().unwrap_or(usize::MAX).saturating_add(1);
            cur.push(substitute.min(delete).min(insert));
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev.last().copied().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(text: &[u8], slurm_conf: Option<&str>) -> String {
        let conf = Path::new("/etc/slurm/slurm.conf");
        match Config::parse_bytes(text, "/etc/slurm/rci.conf", slurm_conf.map(|t| (conf, t))) {
            Ok(_) => panic!("expected an error for {:?}", String::from_utf8_lossy(text)),
            Err(e) => e.to_string(),
        }
    }

    const SLURM: &str = "PartitionName=DEFAULT State=UP\nPartitionName=cpu Nodes=a\n\
                         PartitionName=gpu Nodes=b Default=YES\n";

    #[test]
    fn invisible_and_control_characters_are_named_with_line_and_column() {
        for (text, name) in [
            ("GpuPartitions=gpu\0\n", "NUL"),
            ("# x\nGpuPartitions=gpu\u{200b}\n", "ZERO WIDTH SPACE"),
            ("GpuPartitions=gpu\u{1}\n", "control character"),
            ("GpuPartitions=g\u{a0}pu\n", "NO-BREAK SPACE"),
            ("GpuPartitions=gpu \u{202e}\n", "bidirectional"),
            ("GpuPartitions=gpu\u{feff}\n", "byte order mark"),
            ("GpuPartitions=gpu\u{85}\n", "C1 control"),
        ] {
            let e = errors(text.as_bytes(), None);
            let line = if text.starts_with('#') { 2 } else { 1 };
            assert!(e.contains(&format!("rci.conf:{line}: column ")), "{e}");
            assert!(e.contains(name), "{name}: {e}");
        }
        // Tabs and CRLF line ends are fine.
        Config::parse("GpuPartitions=gpu\t\r\nCpuPartition=cpu\r\n", "x").unwrap();
    }

    #[test]
    fn a_bom_at_the_start_is_accepted_and_invalid_utf8_has_a_line() {
        let cfg = Config::parse_bytes(b"\xef\xbb\xbfGpuPartitions=gpu\n", "x", None).unwrap();
        assert_eq!(cfg.routing.gpu_partitions, ["gpu"]);
        let cfg = Config::parse("\u{feff}GpuPartitions=gpu\n", "x").unwrap();
        assert_eq!(cfg.routing.gpu_partitions, ["gpu"]);
        let e = errors(b"GpuPartitions=gpu\nCpuPartition=c\xffpu\n", None);
        assert!(
            e.starts_with("/etc/slurm/rci.conf:2: byte 15 of the line (0xff"),
            "{e}"
        );
    }

    #[test]
    fn partition_names_are_names() {
        let e = errors(b"GpuPartitions=gpu\nCpuPartition=a=b\n", None);
        assert!(
            e.starts_with("/etc/slurm/rci.conf:2: CpuPartition: 'a=b' is not a name"),
            "{e}"
        );
        assert!(errors(b"Kind=vm Partition=a\"b", None).contains("not a name"));
        assert!(errors(b"DefaultPartition=\"x#y\"", None).contains("not a name"));
        assert!(errors(b"GpuPartitions=\"a b\"", None).contains("not a name"));
    }

    #[test]
    fn partitions_must_be_in_the_slurm_conf_beside() {
        let ok =
            b"GpuPartitions=gpu\nCpuPartition=cpu\nDefaultPartition=gpu\nKind=vm Partition=cpu\n";
        let conf = Path::new("/etc/slurm/slurm.conf");
        Config::parse_bytes(ok, "x", Some((conf, SLURM))).unwrap();
        for (text, line, key, name) in [
            (
                "GpuPartitions=gpu\nCpuPartition=nosuchpart\n",
                2,
                "CpuPartition",
                "nosuchpart",
            ),
            (
                "GpuPartitions=gpu,nosuch\nCpuPartition=cpu\n",
                1,
                "GpuPartitions",
                "nosuch",
            ),
            ("DefaultPartition=nosuch\n", 1, "DefaultPartition", "nosuch"),
            (
                "Kind=vm MaxTime=1:00:00 Partition=vms\n",
                1,
                "Partition",
                "vms",
            ),
            ("GpuPartitions=gpu-long\n", 1, "GpuPartitions", "gpu-long"),
        ] {
            let e = errors(text.as_bytes(), Some(SLURM));
            let want = format!(
                "/etc/slurm/rci.conf:{line}: {key}: partition '{name}' is not defined in \
                 /etc/slurm/slurm.conf (its partitions: cpu, gpu)"
            );
            assert!(e.contains(&want), "{e}\nwanted {want}");
        }
        // Not set: the default 'cpu' must exist for rerouting.
        let e = errors(b"GpuPartitions=gpu\n", Some("PartitionName=gpu\n"));
        assert!(
            e.contains("CpuPartition (not set, so the default): partition 'cpu'"),
            "{e}"
        );
        // Include lines or an excerpt without partitions: not checked.
        for partial in [
            "Include /etc/slurm/parts.conf\nPartitionName=gpu\n",
            "GresTypes=gpu\n",
        ] {
            Config::parse_bytes(
                b"CpuPartition=zz\nGpuPartitions=gpu",
                "x",
                Some((conf, partial)),
            )
            .unwrap();
        }
    }

    #[test]
    fn kind_keys_outside_a_kind_line_say_where_they_belong() {
        let e = errors(b"GpuPartitions=gpu\nMaxTime=1:00:00\n", None);
        assert!(
            e.contains(
                "rci.conf:2: MaxTime is only valid on a Kind= line (e.g. Kind=vm MaxTime=...)"
            ),
            "{e}"
        );
        assert!(
            errors(b"Partition=x", None).contains("only valid on a Kind= line or a KindRule= line")
        );
        assert!(errors(b"Script=qemu", None).contains("only valid on a KindRule= line"));
        assert!(errors(b"Maxtime=1", None).contains("Maxtime is only valid on a Kind= line"));
    }

    #[test]
    fn a_dangling_backslash_at_the_end_is_named() {
        let e = errors(b"GpuPartitions=gpu\nCpuPartition=cpu \\\n", None);
        assert!(
            e.starts_with("/etc/slurm/rci.conf:2: the last line ends with '\\'"),
            "{e}"
        );
        // A continued line followed by a line is fine.
        Config::parse("GpuPartitions=gpu \\\n CpuPartition=cpu\n", "x").unwrap();
    }
}
