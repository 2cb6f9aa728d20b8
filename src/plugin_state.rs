//! Placeholder handlers until the policy core lands.
use crate::job::{JobRequest, Verdict};

pub fn job_submit_init() -> Result<String, String> {
    Ok("loaded".into())
}

pub fn on_submit(req: &JobRequest) -> Verdict {
    let _ = req;
    Verdict::Accept {
        changes: Default::default(),
        messages: vec!["rci: hello from job_submit/rci".into()],
    }
}

pub fn on_modify(req: &JobRequest) -> Verdict {
    let _ = req;
    Verdict::accept()
}
