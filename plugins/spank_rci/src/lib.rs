//! `spank_rci.so`: the node and client side of rci (plugstack.conf:
//! `required /usr/lib/x86_64-linux-gnu/slurm-wlm/spank_rci.so`).
//!
//! Only translation lives here; what each callback does is `rci::plugin::spank`.

// plugin_name must be the same on login and compute nodes: SPANK forwards options by it.
rci::spank_plugin!(
    name: "rci",
    init: rci::plugin::spank::init,
    init_post_opt: rci::plugin::spank::init_post_opt,
    task_init: rci::plugin::spank::task_init,
    exit: rci::plugin::spank::exit,
);
