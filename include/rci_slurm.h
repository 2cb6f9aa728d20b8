/* The only C header rci's bindings are generated from: Slurm's public API as installed. */
#include <stdint.h>
#include <stddef.h>
#include <slurm/slurm_version.h>
#include <slurm/slurm_errno.h>
#include <slurm/slurm.h>
#include <slurm/spank.h>

/* Slurm's allocator and logging live in libslurmfull (exported with a slurm_ prefix) and are
 * resolved lazily from the host process; they are not in the public headers. */
extern void *slurm_xcalloc(size_t size, bool clear, bool try, const char *file, int line, const char *func);
extern void slurm_xfree(void **p);
extern char *slurm_xstrdup(const char *str);
extern void slurm_xstrcat(char **str1, const char *str2);
