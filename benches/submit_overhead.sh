#!/usr/bin/env bash
# submit_overhead.sh: what job_submit_rci.so adds to a submission, measured end to end on real
# daemons. Two throwaway clusters (scripts/rci-cluster) differ only in JobSubmitPlugins: one
# without a job_submit plugin, one with JobSubmitPlugins=rci and a full rci.conf. The same
# sbatch command is timed N times against each, alternating between the clusters so that drift
# of the machine hits both alike, and the medians are printed.
#
#   benches/submit_overhead.sh [-n N] [--mode test-only|submit|both] [--rci-conf FILE]
#
#   -n N          submissions per cluster and mode (default 200), after 10 unmeasured ones
#   --mode        test-only: `sbatch --test-only` (job_submit runs, no job is created);
#                 submit: real submissions (held, cancelled at the end); both (default)
#   --rci-conf    policy for the rci cluster (default slurm-conf/example/rci.conf: routing and
#                 every job kind, the built-in kind rules)
#
# The submitted job is a CPU-only 200-line batch script aimed at the GPU partition with a 5-day
# limit that launches a VM: the plugin classifies it (script scan), reroutes it and caps it,
# so every decision step runs. Needs root (as scripts/rci-cluster does) and the plugins built:
#   cargo build --release -p job_submit_rci -p spank_rci -p rci
# (plugins are taken from ${CARGO_TARGET_DIR:-target}/release). Not run in CI: the numbers
# depend on the machine; the point is the difference between the two columns.
set -euo pipefail

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
N=200
MODE=both
RCI_CONF="$REPO_ROOT/slurm-conf/example/rci.conf"
WARMUP=10

while (($#)); do
    case $1 in
    -n) N=${2:?}; shift 2 ;;
    --mode) MODE=${2:?}; shift 2 ;;
    --rci-conf) RCI_CONF=${2:?}; shift 2 ;;
    -h | --help) sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "submit_overhead.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
case $MODE in test-only | submit | both) ;; *) echo "bad --mode $MODE" >&2; exit 2 ;; esac
[[ $N =~ ^[1-9][0-9]*$ ]] || { echo "bad -n $N" >&2; exit 2; }
[[ $(id -u) == 0 ]] || { echo "submit_overhead.sh: needs root (slurmd, munged)" >&2; exit 1; }

PLUGIN_DIR=${CARGO_TARGET_DIR:-$REPO_ROOT/target}/release
[[ -e $PLUGIN_DIR/libjob_submit_rci.so ]] ||
    { echo "no $PLUGIN_DIR/libjob_submit_rci.so: build the plugins first" >&2; exit 1; }
if [[ -x $PLUGIN_DIR/rci ]] && ! "$PLUGIN_DIR/rci" check-config "$RCI_CONF" >/dev/null; then
    exit 1 # check-config said what is wrong, with file and line
fi

WORK=$(mktemp -d /tmp/rci-submit-bench.XXXXXX)
STOCK=$WORK/stock
RCI=$WORK/rci

cleanup() {
    "$REPO_ROOT/scripts/rci-cluster" stop "$STOCK" >/dev/null 2>&1 || true
    "$REPO_ROOT/scripts/rci-cluster" stop "$RCI" >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT

start() { # DIR JOB_SUBMIT [rci.conf]
    local -a extra=()
    [[ -n ${3:-} ]] && extra=(--rci-conf "$3")
    "$REPO_ROOT/scripts/rci-cluster" start "$1" --plugin-dir "$PLUGIN_DIR" \
        --job-submit "$2" --spank none --owner-pid $$ "${extra[@]}" >/dev/null
}
echo "starting two clusters under $WORK ..." >&2
start "$STOCK" none
start "$RCI" rci "$RCI_CONF"

# The job: 200 lines of ordinary shell, then the VM launch.
SCRIPT=$WORK/job.sh
{
    echo '#!/bin/bash'
    echo '#SBATCH -J bench'
    for ((i = 0; i < 200; i++)); do
        echo "echo step $i && cp input_$i.dat /scratch/\$USER/ # stage data"
    done
    # shellcheck disable=SC2016 # $HOME is for the job's shell, not ours
    echo 'qemu-system-x86_64 -enable-kvm -m 8G -drive file=$HOME/vm.qcow2 -nographic'
} >"$SCRIPT"
SBATCH_ARGS=(--hold -p gpu -t 5-0 -o /dev/null "$SCRIPT")

# One timed sbatch against cluster DIR in MODE; prints the wall time in microseconds.
submit_once() { # DIR MODE
    local t0 t1 extra=()
    [[ $2 == test-only ]] && extra=(--test-only)
    t0=$(date +%s%N)
    SLURM_CONF=$1/etc/slurm.conf timeout 30 sbatch -Q "${extra[@]}" "${SBATCH_ARGS[@]}" \
        >/dev/null 2>&1 || { echo "sbatch against $1 failed" >&2; return 1; }
    t1=$(date +%s%N)
    echo $(((t1 - t0) / 1000))
}

median() { sort -n | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
p90() { sort -n | awk '{ v[NR] = $1 } END { i = int(NR * 0.9); if (i < 1) i = 1; print v[i] }'; }

run_mode() { # MODE
    local mode=$1 i
    for ((i = 0; i < WARMUP; i++)); do
        submit_once "$STOCK" "$mode" >/dev/null
        submit_once "$RCI" "$mode" >/dev/null
    done
    : >"$WORK/$mode.stock"
    : >"$WORK/$mode.rci"
    for ((i = 0; i < N; i++)); do
        submit_once "$STOCK" "$mode" >>"$WORK/$mode.stock"
        submit_once "$RCI" "$mode" >>"$WORK/$mode.rci"
    done
    local ms mr ps pr
    ms=$(median <"$WORK/$mode.stock")
    mr=$(median <"$WORK/$mode.rci")
    ps=$(p90 <"$WORK/$mode.stock")
    pr=$(p90 <"$WORK/$mode.rci")
    awk -v m="$mode" -v n="$N" -v ms="$ms" -v mr="$mr" -v ps="$ps" -v pr="$pr" 'BEGIN {
        printf "%-10s n=%-4d median: without %7.2f ms  with rci %7.2f ms  (+%.2f ms, %+.1f%%)   p90: %.2f / %.2f ms\n",
            m, n, ms / 1000, mr / 1000, (mr - ms) / 1000, (mr - ms) * 100 / ms, ps / 1000, pr / 1000 }'
    if [[ $mode == submit ]]; then
        SLURM_CONF=$STOCK/etc/slurm.conf scancel -n bench || true
        SLURM_CONF=$RCI/etc/slurm.conf scancel -n bench || true
    fi
}

# Sanity: the rci cluster really rerouted and capped the job (else we would time nothing).
check=$(SLURM_CONF=$RCI/etc/slurm.conf sbatch "${SBATCH_ARGS[@]}" 2>&1 >/dev/null || true)
if [[ $check != *"partition gpu -> cpu"* || $check != *"capped to"* ]]; then
    echo "the rci cluster did not reroute and cap the job; sbatch said: $check" >&2
    exit 1
fi
SLURM_CONF=$RCI/etc/slurm.conf scancel -n bench || true

echo "sbatch of a 200-line CPU-only VM script to -p gpu -t 5-0 ($(nproc) CPUs, $(SLURM_CONF=$STOCK/etc/slurm.conf sbatch --version))"
case $MODE in
test-only) run_mode test-only ;;
submit) run_mode submit ;;
both) run_mode test-only && run_mode submit ;;
esac
