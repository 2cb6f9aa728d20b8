//! `job_submit_rci.so`: slurmctld's side of rci (`JobSubmitPlugins=rci`).
//!
//! Only translation lives here; the policy is `rci::policy`, the C boundary `rci::ffi`.

rci::job_submit_plugin!(
    name: "RCI job submit policy (GPU routing, job kind time caps)",
    type: "job_submit/rci",
    init: rci::plugin::submit::init,
    submit: rci::plugin::submit::on_submit,
    modify: rci::plugin::submit::on_modify,
);
