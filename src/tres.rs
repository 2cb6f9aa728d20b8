//! Does a request ask for GPUs? Reads the TRES lists Slurm clients put into `tres_per_job`,
//! `tres_per_node`, `tres_per_socket` and `tres_per_task`.
//!
//! The clients of every release from 22.05 to 25.11 (a controller accepts clients two releases
//! older) write these lists differently: `gres:gpu:2` (22.05/23.02), `gres/gpu:2` (23.11+),
//! `gres/gpu=1` (24.05+ per task), with an optional type (`gres/gpu:a100:2`), without a count
//! (`gres/gpu` = 1), with a zero count (`gpu:0`, `gres/gpu:a100:0`), mixed with other TRES
//! (`cpu=4,gres/gpu=1,license/x=1`). All of these are read here.
//!
//! The reading errs towards "asks for GPUs": routing moves CPU-only jobs away from GPU nodes, and
//! wrongly moving a GPU job is worse than leaving a CPU job alone. So a `gpu` entry whose count
//! cannot be read ([`GpuRequest::Unreadable`]) counts as a GPU request, and the `gpu` name is
//! matched case-insensitively. Entries of other GRES (`shard`, `mps`) or other TRES types
//! (`license/gpu`, `cpu`) are not GPU requests. Count suffixes `k`/`m`/`g` (×1024ⁿ, as Slurm's
//! GRES parser allows) are understood; a trailing socket binding `(S:0-1)` is ignored.

use crate::job::JobRequest;

/// What one TRES list says about GPUs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GpuRequest {
    /// No `gpu` entry at all.
    None,
    /// `gpu` entries, all with a count of zero (`gpu:0`): explicitly no GPU.
    Zero,
    /// At least one `gpu` entry with a positive count; the (saturating) sum of the counts.
    Gpus(u64),
    /// A `gpu` entry whose count could not be read; treated as asking for GPUs.
    Unreadable,
}

impl GpuRequest {
    /// True when the list asks for at least one GPU (or might: [`GpuRequest::Unreadable`]).
    pub fn asks_for_gpus(self) -> bool {
        matches!(self, GpuRequest::Gpus(_) | GpuRequest::Unreadable)
    }

    /// True when the list mentions `gpu` at all, including with a zero count.
    pub fn mentions_gpus(self) -> bool {
        !matches!(self, GpuRequest::None)
    }

    /// Combines the answers for two lists (or two entries of one list).
    pub fn merge(self, other: GpuRequest) -> GpuRequest {
        use GpuRequest::*;
        match (self, other) {
            (Gpus(a), Gpus(b)) => Gpus(a.saturating_add(b)),
            (Gpus(a), _) | (_, Gpus(a)) => Gpus(a),
            (Unreadable, _) | (_, Unreadable) => Unreadable,
            (Zero, _) | (_, Zero) => Zero,
            (None, None) => None,
        }
    }
}

/// Reads one TRES list (entries separated by `,` or `;`). Never panics, whatever the input.
pub fn gpu_request(spec: &str) -> GpuRequest {
    spec.split([',', ';'])
        .map(entry_request)
        .fold(GpuRequest::None, GpuRequest::merge)
}

/// What the four TRES fields of a request say together; `None` when none of them is set (in
/// job_modify: the update does not touch the GPU request).
pub fn request_gpus(req: &JobRequest) -> Option<GpuRequest> {
    tres_fields(req)
        .into_iter()
        .flatten()
        .map(gpu_request)
        .reduce(GpuRequest::merge)
}

/// `Some(true)` when any TRES field asks for GPUs, `Some(false)` when fields are set but none
/// asks for GPUs, `None` when no TRES field is set at all.
pub fn asks_for_gpus(req: &JobRequest) -> Option<bool> {
    request_gpus(req).map(GpuRequest::asks_for_gpus)
}

/// The four TRES fields of a request, in the order job, node, socket, task.
pub fn tres_fields(req: &JobRequest) -> [Option<&str>; 4] {
    [
        req.tres_per_job.as_deref(),
        req.tres_per_node.as_deref(),
        req.tres_per_socket.as_deref(),
        req.tres_per_task.as_deref(),
    ]
}

/// One entry: `[gres/|gres:]gpu[:type][:count]`, `[gres/]gpu[:type]=count`, or anything else.
fn entry_request(entry: &str) -> GpuRequest {
    let entry = entry.trim();
    // A socket binding suffix `(S:0-1)` carries colons that are not part of the name.
    let entry = entry.split_once('(').map_or(entry, |(head, _)| head).trim();
    if entry.is_empty() {
        return GpuRequest::None;
    }
    // 23.11+: `type/name...`; only the `gres` TRES type can be a GPU.
    let name_end = entry.find([':', '=']).unwrap_or(entry.len());
    let rest = match entry.get(..name_end).and_then(|head| head.split_once('/')) {
        Some((tres_type, _)) if !tres_type.eq_ignore_ascii_case("gres") => {
            return GpuRequest::None;
        }
        Some((tres_type, _)) => entry.get(tres_type.len() + 1..).unwrap_or(""),
        None => entry,
    };
    // 22.05/23.02: `gres:name...`.
    let rest = match rest.split_once(':') {
        Some((prefix, after)) if prefix.eq_ignore_ascii_case("gres") => after,
        _ => rest,
    };
    let (body, eq_count) = match rest.split_once('=') {
        Some((body, count)) => (body, Some(count)),
        None => (rest, None),
    };
    let mut parts = body.split(':');
    let name = parts.next().unwrap_or("").trim();
    if !name.eq_ignore_ascii_case("gpu") {
        return GpuRequest::None;
    }
    let count_text = match eq_count {
        Some(count) => Some(count),
        // Without `=`, a last component made of digits (and a suffix) is the count; a
        // non-numeric one is the type (`gpu:a100` asks for one a100).
        None => parts.next_back().filter(|last| looks_like_count(last)),
    };
    match count_text {
        None => GpuRequest::Gpus(1),
        Some(text) => match parse_count(text) {
            Some(0) => GpuRequest::Zero,
            Some(n) => GpuRequest::Gpus(n),
            None => GpuRequest::Unreadable,
        },
    }
}

fn looks_like_count(s: &str) -> bool {
    s.trim().bytes().next().is_some_and(|b| b.is_ascii_digit())
}

/// A GRES count: digits with an optional k/m/g suffix (powers of 1024, as Slurm reads them).
fn parse_count(text: &str) -> Option<u64> {
    let t = text.trim();
    let (digits, multiplier) = match t.as_bytes().last()? {
        b'k' | b'K' => (t.get(..t.len() - 1)?, 1u64 << 10),
        b'm' | b'M' => (t.get(..t.len() - 1)?, 1u64 << 20),
        b'g' | b'G' => (t.get(..t.len() - 1)?, 1u64 << 30),
        _ => (t, 1),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse::<u64>().ok()?.checked_mul(multiplier)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use GpuRequest::*;

    #[test]
    fn every_client_release_form() {
        // 22.05 / 23.02
        assert_eq!(gpu_request("gres:gpu:2"), Gpus(2));
        assert_eq!(gpu_request("gres:gpu:a100:2"), Gpus(2));
        assert_eq!(gpu_request("gres:gpu"), Gpus(1));
        // 23.11
        assert_eq!(gpu_request("gres/gpu:2"), Gpus(2));
        assert_eq!(gpu_request("gres/gpu:a100:1"), Gpus(1));
        assert_eq!(gpu_request("gres/gpu"), Gpus(1));
        assert_eq!(gpu_request("gres/gpu:nvidia_l40s:4"), Gpus(4));
        // 24.05+ per task
        assert_eq!(gpu_request("gres/gpu=1"), Gpus(1));
        assert_eq!(gpu_request("gres/gpu:l40=2"), Gpus(2));
        // bare
        assert_eq!(gpu_request("gpu:2"), Gpus(2));
        assert_eq!(gpu_request("gpu"), Gpus(1));
        assert_eq!(gpu_request("gpu:l40"), Gpus(1));
        assert_eq!(gpu_request("gres/gpu:l40"), Gpus(1));
    }

    #[test]
    fn zero_counts_are_no_gpu() {
        for s in [
            "gpu:0",
            "gpu:l40:0",
            "gres/gpu:0",
            "gres/gpu=0",
            "gres:gpu:a100:0",
            "gpu:0k",
        ] {
            assert_eq!(gpu_request(s), Zero, "{s}");
            assert!(!gpu_request(s).asks_for_gpus());
            assert!(gpu_request(s).mentions_gpus());
        }
    }

    #[test]
    fn mixed_lists() {
        assert_eq!(gpu_request("cpu=4,gres/gpu=1,license/x=1"), Gpus(1));
        assert_eq!(gpu_request("cpu:4"), None);
        assert_eq!(gpu_request("cpu=4;gres/gpu:2"), Gpus(2));
        assert_eq!(gpu_request("gres/gpu:a100:2,gres/gpu:l40:1"), Gpus(3));
        assert_eq!(gpu_request("gres/gpu:0,gres/gpu:1"), Gpus(1));
        assert_eq!(gpu_request(" gres/gpu:2 , cpu=1 "), Gpus(2));
        assert_eq!(gpu_request(",,"), None);
        assert_eq!(gpu_request(""), None);
    }

    #[test]
    fn other_gres_and_tres_types_are_not_gpus() {
        for s in [
            "gres/shard:1",
            "gres/mps:100",
            "license/x=1",
            "license/gpu=1",
            "license:gpu",
            "gres/none",
            "gres:none",
            "mem=4G",
            "gpus:2",
            "gres/gpu_mig:1",
            "billing=5",
            "bb/datawarp=1G",
        ] {
            assert_eq!(gpu_request(s), None, "{s}");
        }
    }

    #[test]
    fn unreadable_counts_err_on_gpu() {
        assert_eq!(gpu_request("gres/gpu=lots"), Unreadable);
        assert_eq!(gpu_request("gres/gpu="), Unreadable);
        assert_eq!(gpu_request("gpu:a100:2x"), Unreadable);
        assert_eq!(gpu_request("gpu:99999999999999999999"), Unreadable);
        assert!(Unreadable.asks_for_gpus());
    }

    #[test]
    fn suffixes_case_and_socket_binding() {
        assert_eq!(gpu_request("gpu:2k"), Gpus(2048));
        assert_eq!(gpu_request("gpu:1M"), Gpus(1 << 20));
        assert_eq!(gpu_request("GRES/GPU:1"), Gpus(1));
        assert_eq!(gpu_request("gres:gpu:a100:2(S:0-1)"), Gpus(2));
        assert_eq!(gpu_request("gres/gpu:a100:2(S:0-1),cpu=2"), Gpus(2));
    }

    #[test]
    fn request_level_helper_distinguishes_unset() {
        let mut req = JobRequest::default();
        assert_eq!(asks_for_gpus(&req), Option::None);
        req.tres_per_task = Some("cpu=4".into());
        assert_eq!(asks_for_gpus(&req), Some(false));
        req.tres_per_node = Some("gres/gpu:1".into());
        assert_eq!(asks_for_gpus(&req), Some(true));
        assert_eq!(request_gpus(&req), Some(Gpus(1)));
        req.tres_per_job = Some("gres/gpu:2".into());
        assert_eq!(request_gpus(&req), Some(Gpus(3)));
        let zero = JobRequest {
            tres_per_node: Some("gres/gpu:0".into()),
            ..Default::default()
        };
        assert_eq!(request_gpus(&zero), Some(Zero));
        assert_eq!(asks_for_gpus(&zero), Some(false));
        let socket = JobRequest {
            tres_per_socket: Some("gres:gpu:1".into()),
            ..Default::default()
        };
        assert_eq!(asks_for_gpus(&socket), Some(true));
    }

    #[test]
    fn merge_prefers_positive_counts() {
        assert_eq!(Zero.merge(Gpus(2)), Gpus(2));
        assert_eq!(Unreadable.merge(Zero), Unreadable);
        assert_eq!(None.merge(Zero), Zero);
        assert_eq!(Gpus(u64::MAX).merge(Gpus(1)), Gpus(u64::MAX));
    }

    /// One well-formed entry: (text, gpus it asks for, is it a gpu entry).
    fn entry_strategy() -> impl Strategy<Value = (String, u64, bool)> {
        let gpu = (
            0usize..5,
            proptest::option::of("[a-z][a-z0-9_]{0,8}"),
            proptest::option::of(0u64..1000),
        )
            .prop_map(|(style, gpu_type, count)| {
                let t = gpu_type.map(|t| format!(":{t}")).unwrap_or_default();
                let n = count.unwrap_or(1);
                let text = match (style, count) {
                    (0, Some(c)) => format!("gres:gpu{t}:{c}"),
                    (1, Some(c)) => format!("gres/gpu{t}:{c}"),
                    (2, Some(c)) => format!("gres/gpu{t}={c}"),
                    (_, Some(c)) => format!("gpu{t}:{c}"),
                    (0, Option::None) => format!("gres:gpu{t}"),
                    (1 | 2, Option::None) => format!("gres/gpu{t}"),
                    (_, Option::None) => format!("gpu{t}"),
                };
                (text, n, true)
            });
        let other = prop_oneof![
            (1u32..64).prop_map(|n| format!("cpu={n}")),
            (1u32..64).prop_map(|n| format!("cpu:{n}")),
            (1u32..9).prop_map(|n| format!("gres/shard:{n}")),
            (1u32..200).prop_map(|n| format!("gres:mps:{n}")),
            "[a-z]{1,6}".prop_map(|l| format!("license/{l}=1")),
        ]
        .prop_map(|text| (text, 0u64, false));
        prop_oneof![gpu, other]
    }

    proptest! {
        #[test]
        fn never_panics_on_arbitrary_input(s in "\\PC{0,64}") {
            let _ = gpu_request(&s);
        }

        #[test]
        fn never_panics_on_tres_like_soup(s in "[gres/pu:=,;0-9a-z()kKmM ]{0,64}") {
            let _ = gpu_request(&s);
        }

        #[test]
        fn a_list_is_the_merge_of_its_parts(a in "[gres/pu:=0-9a-z]{0,16}", b in "[gres/pu:=0-9a-z,]{0,16}") {
            let joined = format!("{a},{b}");
            prop_assert_eq!(gpu_request(&joined), gpu_request(&a).merge(gpu_request(&b)));
        }

        #[test]
        fn generated_lists_round_trip(entries in proptest::collection::vec(entry_strategy(), 0..6)) {
            let spec = entries.iter().map(|(t, _, _)| t.as_str()).collect::<Vec<_>>().join(",");
            let total: u64 = entries.iter().map(|(_, n, _)| n).sum();
            let any_gpu_entry = entries.iter().any(|(_, _, g)| *g);
            let expected = if total > 0 { Gpus(total) } else if any_gpu_entry { Zero } else { None };
            prop_assert_eq!(gpu_request(&spec), expected, "spec {}", spec);
        }
    }
}
