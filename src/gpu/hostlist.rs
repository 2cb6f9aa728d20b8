//! Slurm hostlist expressions (`gpu[01-04,07],head`, `/dev/nvidia[0-3]`), expanded to names.
//!
//! Slurm uses the same expression for `NodeName=` lists and for gres.conf `File=` paths
//! (`hostlist_create` on the whole path). Rules mirrored here:
//! - top-level commas separate entries; commas inside `[...]` separate ranges;
//! - a range `lo-hi` is zero-padded to the number of digits written in `lo` (`[01-10]` gives
//!   `01`..`10`, `[8-10]` gives `8`, `9`, `10`);
//! - several bracket groups in one entry expand as a cartesian product, first group outermost;
//! - empty entries (`a,,b`, a trailing comma) are skipped, as Slurm's tokenizer does.
//!
//! The expansion is bounded by [`MAX_EXPANSION`] so a typo such as `[0-4294967295]` is an error,
//! not an allocation that takes down slurmstepd.

/// Most names one expression may expand to. Real node lists and device lists are far smaller.
pub const MAX_EXPANSION: usize = 65_536;
/// Most bytes of names one expression may expand to: 65,536 names of a 4 KB literal each would
/// be 268 MB (found by the `hostlist` fuzz target).
pub const MAX_EXPANSION_BYTES: usize = 4 << 20;

/// One piece of an entry: literal text, or a bracket group of numeric ranges.
#[derive(Debug)]
enum Piece {
    Literal(String),
    Ranges(Vec<Range>),
}

/// `lo..=hi`, printed with at least `width` digits.
#[derive(Debug, Clone, Copy)]
struct Range {
    lo: u64,
    hi: u64,
    width: usize,
}

impl Range {
    fn len(&self) -> usize {
        // hi >= lo is checked at parse time; the difference fits because both are below 10^18.
        usize::try_from(self.hi - self.lo).map_or(usize::MAX, |d| d.saturating_add(1))
    }
}

/// Expands a hostlist expression into its names, in order. Errors name the offending part.
pub fn expand(expr: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut bytes = 0usize;
    for entry in split_top_level(expr)? {
        let entry = entry.trim();
        if entry.is_empty() {
            continue;
        }
        let pieces = parse_entry(entry)?;
        let count = entry_count(&pieces);
        if count > MAX_EXPANSION.saturating_sub(out.len()) {
            return Err(format!(
                "'{expr}' expands to more than {MAX_EXPANSION} names"
            ));
        }
        bytes = bytes.saturating_add(count.saturating_mul(longest_name(&pieces)));
        if bytes > MAX_EXPANSION_BYTES {
            return Err(format!(
                "'{expr}' expands to more than {MAX_EXPANSION_BYTES} bytes of names"
            ));
        }
        expand_pieces(&pieces, 0, String::new(), &mut out);
    }
    Ok(out)
}

/// True when `name` is one of the names `expr` expands to. An invalid expression matches nothing.
pub fn contains(expr: &str, name: &str) -> bool {
    expand(expr)
        .map(|names| names.iter().any(|n| n == name))
        .unwrap_or(false)
}

/// Splits at commas outside brackets; rejects unbalanced or nested brackets.
fn split_top_level(expr: &str) -> Result<Vec<&str>, String> {
    let mut parts = Vec::new();
    let mut depth = 0usize;
    let mut start = 0usize;
    for (i, c) in expr.char_indices() {
        match c {
            '[' => {
                if depth > 0 {
                    return Err(format!("nested '[' in '{expr}'"));
                }
                depth = 1;
            }
            ']' => {
                if depth == 0 {
                    return Err(format!("']' without '[' in '{expr}'"));
                }
                depth = 0;
            }
            ',' if depth == 0 => {
                parts.push(expr.get(start..i).unwrap_or(""));
                start = i + 1;
            }
            _ => {}
        }
    }
    if depth > 0 {
        return Err(format!("'[' without ']' in '{expr}'"));
    }
    parts.push(expr.get(start..).unwrap_or(""));
    Ok(parts)
}

fn parse_entry(entry: &str) -> Result<Vec<Piece>, String> {
    let mut pieces = Vec::new();
    let mut rest = entry;
    while !rest.is_empty() {
        match rest.find('[') {
            None => {
                pieces.push(Piece::Literal(rest.to_string()));
                break;
            }
            Some(open) => {
                if open > 0 {
                    pieces.push(Piece::Literal(rest.get(..open).unwrap_or("").to_string()));
                }
                let after = rest.get(open + 1..).unwrap_or("");
                let close = after
                    .find(']')
                    .ok_or_else(|| format!("'[' without ']' in '{entry}'"))?;
                let inner = after.get(..close).unwrap_or("");
                pieces.push(Piece::Ranges(parse_ranges(inner, entry)?));
                rest = after.get(close + 1..).unwrap_or("");
            }
        }
    }
    Ok(pieces)
}

fn parse_ranges(inner: &str, entry: &str) -> Result<Vec<Range>, String> {
    if inner.trim().is_empty() {
        return Err(format!("empty '[]' in '{entry}'"));
    }
    inner
        .split(',')
        .map(|part| parse_range(part.trim(), entry))
        .collect()
}

fn parse_range(part: &str, entry: &str) -> Result<Range, String> {
    let (lo_text, hi_text) = match part.split_once('-') {
        Some((lo, hi)) => (lo.trim(), hi.trim()),
        None => (part, part),
    };
    let lo = parse_number(lo_text, entry)?;
    let hi = parse_number(hi_text, entry)?;
    if hi < lo {
        return Err(format!("range '{part}' runs backwards in '{entry}'"));
    }
    Ok(Range {
        lo,
        hi,
        width: lo_text.len(),
    })
}

fn parse_number(text: &str, entry: &str) -> Result<u64, String> {
    // 18 digits keeps every value and every difference far inside u64.
    if text.is_empty() || text.len() > 18 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("'{text}' is not a number in '{entry}'"));
    }
    text.parse::<u64>()
        .map_err(|_| format!("'{text}' is not a number in '{entry}'"))
}

fn entry_count(pieces: &[Piece]) -> usize {
    pieces.iter().fold(1usize, |acc, piece| match piece {
        Piece::Literal(_) => acc,
        Piece::Ranges(ranges) => {
            let group = ranges
                .iter()
                .fold(0usize, |sum, r| sum.saturating_add(r.len()));
            acc.saturating_mul(group)
        }
    })
}

/// The length of the longest name an entry expands to.
fn longest_name(pieces: &[Piece]) -> usize {
    pieces.iter().fold(0usize, |acc, piece| {
        let len = match piece {
            Piece::Literal(text) => text.len(),
            Piece::Ranges(ranges) => ranges
                .iter()
                .map(|r| r.width.max(r.hi.to_string().len()))
                .max()
                .unwrap_or(0),
        };
        acc.saturating_add(len)
    })
}

fn expand_pieces(pieces: &[Piece], at: usize, prefix: String, out: &mut Vec<String>) {
    match pieces.get(at) {
        None => out.push(prefix),
        Some(Piece::Literal(text)) => {
            let mut next = prefix;
            next.push_str(text);
            expand_pieces(pieces, at + 1, next, out);
        }
        Some(Piece::Ranges(ranges)) => {
            for range in ranges {
                for n in range.lo..=range.hi {
                    let next = format!("{prefix}{n:0width$}", width = range.width);
                    expand_pieces(pieces, at + 1, next, out);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn plain_names_and_lists() {
        assert_eq!(expand("head").unwrap(), vec!["head"]);
        assert_eq!(expand("a,b , c").unwrap(), vec!["a", "b", "c"]);
        assert_eq!(expand("a,,b,").unwrap(), vec!["a", "b"]);
        assert!(expand("").unwrap().is_empty());
    }

    #[test]
    fn ranges_with_padding() {
        assert_eq!(
            expand("gpu[01-04],head").unwrap(),
            vec!["gpu01", "gpu02", "gpu03", "gpu04", "head"]
        );
        assert_eq!(expand("n[8-10]").unwrap(), vec!["n8", "n9", "n10"]);
        assert_eq!(expand("n[098-100]").unwrap(), vec!["n098", "n099", "n100"]);
        assert_eq!(
            expand("gpu[01-02,05]").unwrap(),
            vec!["gpu01", "gpu02", "gpu05"]
        );
    }

    #[test]
    fn device_paths() {
        assert_eq!(
            expand("/dev/nvidia[0-3]").unwrap(),
            vec![
                "/dev/nvidia0",
                "/dev/nvidia1",
                "/dev/nvidia2",
                "/dev/nvidia3"
            ]
        );
        assert_eq!(
            expand("/dev/nvidia[0,2-3]").unwrap(),
            vec!["/dev/nvidia0", "/dev/nvidia2", "/dev/nvidia3"]
        );
        assert_eq!(
            expand("/dev/nvidia0,/dev/nvidia[5-6]").unwrap(),
            vec!["/dev/nvidia0", "/dev/nvidia5", "/dev/nvidia6"]
        );
    }

    #[test]
    fn suffix_and_several_groups() {
        assert_eq!(expand("n[1-2]-ib").unwrap(), vec!["n1-ib", "n2-ib"]);
        assert_eq!(
            expand("r[1-2]n[3-4]").unwrap(),
            vec!["r1n3", "r1n4", "r2n3", "r2n4"]
        );
    }

    #[test]
    fn malformed_expressions_are_errors() {
        for bad in [
            "gpu[01-04",
            "gpu01-04]",
            "gpu[]",
            "gpu[a-b]",
            "gpu[4-1]",
            "gpu[[1]]",
            "gpu[1-]",
            "gpu[-3]",
            "n[0-99999999999999999999]",
        ] {
            assert!(expand(bad).is_err(), "{bad} should be rejected");
        }
    }

    #[test]
    fn oversized_expansion_is_an_error() {
        let err = expand("n[0-999999]").unwrap_err();
        assert!(err.contains("more than"), "{err}");
        assert!(expand("a[0-300]b[0-300]").is_err());
        assert_eq!(expand("n[1-65536]").unwrap().len(), 65_536);
        // Few names but long ones: bounded in bytes too.
        let long = format!("{}[1-65536]", "x".repeat(4000));
        let err = expand(&long).unwrap_err();
        assert!(err.contains("bytes of names"), "{}", &err[err.len() - 40..]);
    }

    #[test]
    fn contains_matches_exact_names() {
        assert!(contains("gpu[01-04],head", "gpu03"));
        assert!(contains("gpu[01-04],head", "head"));
        assert!(!contains("gpu[01-04],head", "gpu3"));
        assert!(!contains("gpu[01-04", "gpu01"));
    }

    proptest! {
        #[test]
        fn never_panics(s in "\\PC{0,40}") {
            let _ = expand(&s);
        }

        #[test]
        fn never_panics_on_bracket_soup(s in "[a-z0-9\\[\\],\\- ]{0,30}") {
            let _ = expand(&s);
        }

        #[test]
        fn simple_ranges_round_trip(
            prefix in "[a-z]{1,6}",
            lo in 0u64..500,
            len in 0u64..50,
            pad in 0usize..4,
        ) {
            let hi = lo + len;
            let width = lo.to_string().len() + pad;
            let expr = format!("{prefix}[{lo:0width$}-{hi:0width$}]");
            let names = expand(&expr).unwrap();
            let expected: Vec<String> =
                (lo..=hi).map(|n| format!("{prefix}{n:0width$}")).collect();
            prop_assert_eq!(names, expected);
        }

        #[test]
        fn lists_round_trip(names in proptest::collection::vec("[a-z][a-z0-9-]{0,8}", 0..8)) {
            let expr = names.join(",");
            prop_assert_eq!(expand(&expr).unwrap(), names);
        }
    }
}
