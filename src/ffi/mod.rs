//! Every line of rci that touches C lives under this module.
//!
//! - [`sys`]: bindgen's output for `include/rci_slurm.h` (types, constants, SPANK functions).
//! - [`slurm`]: Slurm's logging and allocator, looked up in the host process at run time.
//! - [`nvml`]: NVIDIA's management library, dlopen'ed for GPU energy.
//!
//! Functions from libslurmfull are resolved with `dlsym(RTLD_DEFAULT, …)` rather than linked: the
//! plugins never link `-lslurm`, the same code runs in every host process (slurmctld, slurmstepd,
//! srun), and unit tests run outside Slurm with a stderr fallback for logging.

pub mod nvml;
pub mod slurm;
pub mod sys;
