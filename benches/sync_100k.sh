#!/usr/bin/env bash
# rci sync over N new records (default 100,000: one record per job per node, 2 nodes per job):
# wall time of rci's own work and the number of sacct/sacctmgr calls, against stand-ins for
# sacct and sacctmgr that know every job and accept every update (slurmdbd's own speed is not
# what this measures). A second run, which must write nothing, is timed too.
#
#   benches/sync_100k.sh [RCI] [N]
set -euo pipefail
RCI=${1:-target/release/rci}
N=${2:-100000}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/spool" "$work/bin"

python3 - "$work/spool" "$N" <<'PY'
import json, sys
spool, n = sys.argv[1], int(sys.argv[2])
base = {"schema": "rci.job-energy", "schema_version": 1, "cluster": "bench", "array_job_id": None,
        "array_task_id": None, "het_job_id": None, "het_job_offset": None, "job_name": "j",
        "user": "alice", "uid": 1000, "account": "physics", "partition": "gpu", "qos": None,
        "start": "2026-11-01T00:00:00Z", "end": "2026-11-01T01:00:00Z", "elapsed_s": 3600,
        "alloc_cpus": 8, "alloc_mem_mb": 0,
        "gpus": [{"index": 0, "uuid": "GPU-0", "model": "NVIDIA L40"}],
        "energy": [{"domain": "cpu-package-0", "joules": 360000.0, "source": "rapl",
                    "flags": {"wraps": 0, "reset": False}, "in_total": True, "unavailable": None},
                   {"domain": "gpu-0", "joules": 720000.0, "source": "nvml",
                    "flags": {"wraps": 0, "reset": False}, "in_total": True, "unavailable": None}],
        "attribution": {"method": "exclusive", "share": 1.0}, "cpu_hours": 8.0, "gpu_hours": 1.0,
        "kwh": 0.3, "facility_kwh": 0.5, "co2_g": 234.0,
        "cost": {"currency": "EUR", "amount": 0.13, "energy_price_per_kwh": 0.25,
                 "cpu_hour_price": 0.0, "gpu_hour_price": 0.0},
        "pue": 1.67, "carbon_intensity_g_per_kwh": 467.0, "exit_status": None}
for node in ("n1", "n2"):
    with open(f"{spool}/rci-energy-{node}-2026-11.jsonl", "w") as f:
        for i in range(n // 2):
            r = dict(base, job_id=i + 1, node=node)
            f.write(json.dumps(r) + "\n")
PY

# sacct: every asked job exists, with an empty AdminComment; sacctmgr: counts its updates.
cat >"$work/bin/sacct" <<'SH'
#!/usr/bin/env bash
echo call >>"$CALLS"
ids=""
while (($#)); do [[ $1 == -j ]] && ids=$2; shift; done
tr ',' '\n' <<<"$ids" | sed 's/$/|0|/'
SH
cat >"$work/bin/sacctmgr" <<'SH'
#!/usr/bin/env bash
[[ ${1:-} == -V ]] && { echo "slurm 22.05.8"; exit 0; }
echo call >>"$CALLS"
wc -l >>"$UPDATES"
SH
chmod +x "$work/bin/"*
export CALLS=$work/calls UPDATES=$work/updates PATH="$work/bin:$PATH"
: >"$CALLS"
: >"$UPDATES"
start=$EPOCHREALTIME
"$RCI" sync --state "$work/state" "$work/spool"
first=$(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }')
echo "first run: ${first} s, $(wc -l <"$CALLS") sacct/sacctmgr calls, $(awk '{ s += $1 } END { print s + 0 }' "$UPDATES") updates, state $(du -h "$work/state" | cut -f1)"
: >"$CALLS"
start=$EPOCHREALTIME
"$RCI" sync --state "$work/state" "$work/spool"
second=$(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }')
echo "second run: ${second} s, $(wc -l <"$CALLS") calls"
