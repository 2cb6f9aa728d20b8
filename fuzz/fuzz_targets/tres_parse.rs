//! Fuzzes the TRES GPU-request parser (and the Slurm time parser on the same input): neither
//! may panic, and the list parser must treat a list as the merge of its entries.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rci::job::TimeLimit;
use rci::slurm_time::{format_limit, parse_time};
use rci::tres::gpu_request;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let whole = gpu_request(&text);

    // A list is the merge of its halves when split at a separator.
    if let Some((left, right)) = text.split_once(',') {
        assert_eq!(
            whole,
            gpu_request(left).merge(gpu_request(right)),
            "{text:?}"
        );
    }
    // Zero-only and absent requests never count as asking for GPUs.
    if !whole.mentions_gpus() {
        assert!(!whole.asks_for_gpus());
    }

    if let Ok(limit) = parse_time(&text) {
        assert_ne!(limit, TimeLimit::Unset);
        assert_eq!(parse_time(&format_limit(limit)), Ok(limit), "{text:?}");
    }
});
