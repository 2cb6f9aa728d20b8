//! GPU identity on a compute node: which GPUs a step holds, named by UUID.
//!
//! - [`hostlist`]: Slurm hostlist expressions (`gpu[01-04]`, `/dev/nvidia[0-3]`);
//! - [`gres_conf`]: the node's gres.conf, reduced to GPU device files and AutoDetect;
//! - [`proc_nvidia`]: the driver's `/proc/driver/nvidia/gpus/*/information` files;
//! - [`resolve`]: step environment + node view → UUIDs in Slurm's order.
//!
//! Everything here reads files only when asked and keeps no state between calls: each
//! slurmstepd is a fresh process and gres.conf or the driver may change between steps.

pub mod container_env;
pub mod gres_conf;
pub mod hostlist;
pub mod proc_nvidia;
pub mod resolve;
