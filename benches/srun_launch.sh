#!/usr/bin/env bash
# srun_launch.sh: what spank_rci.so costs a step launch.
#
#   benches/srun_launch.sh [N] [--mode steps|jobs|both] [--plugin-dir DIR] [--keep]
#
# Starts two throwaway clusters with scripts/rci-cluster, identical but for plugstack.conf:
# one with `--spank none`, one with `--spank rci` (job_submit off in both, so only SPANK
# differs). Then times N launches of `srun -p gpu --gres=gpu:1 true` on each, interleaved
# (A B, B A, A B ... so that drift of the machine hits both sides alike), after a few
# warm-up runs, and prints median, mean, p90, min and max per side, their differences, and the
# median of the pairwise differences (run i of one side against run i of the other).
#
#   steps  every srun is a step in one allocation per cluster (`salloc --no-shell`, then
#          `srun --jobid`): srun + slurmstepd + task_init, which is where spank_rci works
#          for every step.
#   jobs   every srun is a job of its own: also the allocation, the extern step (energy
#          accounting starts and ends there) and job end.
#
# Goal: the rci side within 2 % or 1 ms of the plain side (paired median difference). Wall time comes from
# `date +%s%N` around each srun (hyperfine need not be installed). Needs root (the clusters
# do) and the built plugins: `cargo build --release -p job_submit_rci -p spank_rci`. Not run
# in CI: timings on a shared machine say little there.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$SCRIPT_DIR/.." && pwd)
CLUSTER="$REPO_ROOT/scripts/rci-cluster"

N=100
MODE=both
PLUGIN_DIR="${CARGO_TARGET_DIR:-$REPO_ROOT/target}/release"
KEEP=0
WARMUP=5
while (($#)); do
    case $1 in
    --mode) MODE=${2:?}; shift 2 ;;
    --plugin-dir) PLUGIN_DIR=${2:?}; shift 2 ;;
    --keep) KEEP=1; shift ;;
    -h | --help) sed -n '2,24p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    [0-9]*) N=$1; shift ;;
    *) echo "srun_launch.sh: unknown argument '$1'" >&2; exit 2 ;;
    esac
done
case $MODE in steps | jobs | both) ;; *) echo "--mode: steps, jobs or both" >&2; exit 2 ;; esac
[[ $(id -u) == 0 ]] || { echo "srun_launch.sh: run as root (rci-cluster needs it)" >&2; exit 1; }
[[ -e $PLUGIN_DIR/libspank_rci.so || -e $PLUGIN_DIR/spank_rci.so ]] ||
    { echo "srun_launch.sh: no spank_rci.so in $PLUGIN_DIR; build first" >&2; exit 1; }

# Slurm variables of a surrounding job must not reach our clients.
for var in $(compgen -e); do
    case $var in SLURM_* | SBATCH_* | SALLOC_* | SRUN_*) unset "$var" ;; esac
done

WORK=$(mktemp -d /tmp/rci-bench-XXXXXX)
chmod 0755 "$WORK"
SIDES=(plain rci)
declare -A DIR JOBID
DIR[plain]="$WORK/plain"
DIR[rci]="$WORK/rci"

cleanup() {
    local side
    for side in "${SIDES[@]}"; do
        if [[ -d ${DIR[$side]} ]]; then
            "$CLUSTER" stop "${DIR[$side]}" >/dev/null 2>&1 || true
        fi
    done
    if ((KEEP)); then
        echo "kept $WORK (samples: $WORK/*.ms)"
    else
        rm -rf -- "$WORK"
    fi
}
trap cleanup EXIT

echo "starting two clusters under $WORK (plugins from $PLUGIN_DIR)" >&2
"$CLUSTER" start "${DIR[plain]}" --plugin-dir "$PLUGIN_DIR" --job-submit none --spank none >/dev/null
"$CLUSTER" start "${DIR[rci]}" --plugin-dir "$PLUGIN_DIR" --job-submit none --spank rci >/dev/null

# Runs a command against one side's cluster, in its work directory.
on() {
    local side=$1
    shift
    (cd "${DIR[$side]}/work" && SLURM_CONF="${DIR[$side]}/etc/slurm.conf" "$@")
}

# One timed srun on a side; appends milliseconds to $WORK/<mode>-<side>.ms.
timed_srun() {
    local mode=$1 side=$2 record=$3 start end
    local -a args=(-p gpu --gres=gpu:1)
    [[ $mode == steps ]] && args=(--jobid="${JOBID[$side]}" --gres=gpu:1)
    start=$(date +%s%N)
    on "$side" timeout 60 srun "${args[@]}" true >/dev/null 2>"$WORK/last-$side.err" ||
        { echo "srun on $side failed:" >&2; cat "$WORK/last-$side.err" >&2; exit 1; }
    end=$(date +%s%N)
    if ((record)); then
        awk -v ns=$((end - start)) 'BEGIN { printf "%.3f\n", ns / 1e6 }' >>"$WORK/$mode-$side.ms"
    fi
}

# Waits until a side's cluster has no job but the allocations we hold (a finished job still
# completing holds its GPU and would make the next srun wait).
settle() {
    local side=$1 i
    for ((i = 0; i < 100; i++)); do
        [[ -z $(on "$side" squeue -h -t completing,pending -o %i) ]] && return 0
        sleep 0.1
    done
}

# Prints "median mean p90 min max" of a file of numbers.
stats() {
    sort -n "$1" | awk '
        { v[NR] = $1; sum += $1 }
        END {
            n = NR
            med = (n % 2) ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
            p = 0.9 * (n - 1) + 1; lo = int(p); hi = (lo < n) ? lo + 1 : lo
            p90 = v[lo] + (p - lo) * (v[hi] - v[lo])
            printf "%.2f %.2f %.2f %.2f %.2f\n", med, sum / n, p90, v[1], v[n]
        }'
}

run_mode() {
    local mode=$1 i side
    rm -f "$WORK/$mode-plain.ms" "$WORK/$mode-rci.ms"
    if [[ $mode == steps ]]; then
        for side in "${SIDES[@]}"; do
            JOBID[$side]=$(on "$side" salloc --no-shell -p gpu --gres=gpu:1 -t 60 2>&1 |
                sed -n 's/.*Granted job allocation \([0-9]*\).*/\1/p')
            [[ -n ${JOBID[$side]} ]] || { echo "salloc on $side failed" >&2; exit 1; }
        done
    fi
    echo "$mode: $WARMUP warm-up + $N timed sruns per side, interleaved" >&2
    for ((i = 0; i < WARMUP + N; i++)); do
        local record=$((i >= WARMUP))
        local -a order=(plain rci)
        ((i % 2)) && order=(rci plain)
        for side in "${order[@]}"; do
            [[ $mode == jobs ]] && settle "$side"
            timed_srun "$mode" "$side" "$record"
        done
    done
    if [[ $mode == steps ]]; then
        for side in "${SIDES[@]}"; do on "$side" scancel "${JOBID[$side]}"; done
    fi

    local plain rci
    plain=$(stats "$WORK/$mode-plain.ms")
    rci=$(stats "$WORK/$mode-rci.ms")
    printf '\n%s (N=%d, milliseconds per srun)\n' "$mode" "$N"
    printf '%-22s %9s %9s %9s %9s %9s\n' "" median mean p90 min max
    # shellcheck disable=SC2086 # five numbers
    printf '%-22s %9s %9s %9s %9s %9s\n' "spank none" $plain
    # shellcheck disable=SC2086
    printf '%-22s %9s %9s %9s %9s %9s\n' "spank_rci" $rci
    awk -v a="$plain" -v b="$rci" 'BEGIN {
        split(a, x, " "); split(b, y, " ")
        printf "%-22s %+9.2f %+9.2f %+9.2f\n", "difference (ms)", y[1] - x[1], y[2] - x[2], y[3] - x[3]
        printf "%-22s %+8.1f%% %+8.1f%% %+8.1f%%\n", "difference (%)", \
            100 * (y[1] - x[1]) / x[1], 100 * (y[2] - x[2]) / x[2], 100 * (y[3] - x[3]) / x[3]
    }'
    # Run i of both sides ran back to back: the median of the pairwise differences is less
    # sensitive to a machine whose load drifts than the difference of the two medians.
    local paired
    paired=$(paste "$WORK/$mode-plain.ms" "$WORK/$mode-rci.ms" | awk '{ print $2 - $1 }' |
        sort -n | awk '{ v[NR] = $1 } END { printf "%.2f\n", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }')
    printf '%-22s %+9.2f\n' "paired difference (ms)" "$paired"
    awk -v a="$plain" -v d="$paired" 'BEGIN {
        split(a, x, " ")
        ok = (d <= 1.0 || d <= 0.02 * x[1])
        printf "goal (paired median difference within 2 %% or 1 ms): %s\n", ok ? "met" : "NOT met"
    }'
}

case $MODE in
steps | jobs) run_mode "$MODE" ;;
both) run_mode steps; run_mode jobs ;;
esac
