/* The only C header rci's bindings are generated from: Slurm's public API as installed. */
#include <stdint.h>
#include <stddef.h>
#include <slurm/slurm_version.h>
#include <slurm/slurm_errno.h>
#include <slurm/slurm.h>
#include <slurm/spank.h>

/* Functions (slurm_xstrdup, slurm_info, spank_getenv, ...) are not bound from here: rci resolves
 * them in the host process at run time, see src/ffi/slurm.rs and src/ffi/spank.rs. */
