#!/usr/bin/env bash
# make demo: starts a throwaway Slurm cluster with both rci plugins, submits sample jobs, shows
# what Slurm made of them (scontrol show job, job output, the plugins' log lines), stops it.
#
#   scripts/demo.sh [--no-plugins] [--keep]
#
# --no-plugins runs stock Slurm (to compare); --keep leaves the cluster running and prints how
# to use and stop it. Plugins come from ${CARGO_TARGET_DIR:-target}/release (`make build`).
# To show a new feature, add a sample in the SAMPLES section below.

# shellcheck disable=SC2016 # $VARS in the samples are for the job shell, not this one
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$SCRIPT_DIR/.." && pwd)
CLUSTER="$SCRIPT_DIR/rci-cluster"

plugins=rci keep=0
for arg in "$@"; do
    case $arg in
    --no-plugins) plugins=none ;;
    --keep) keep=1 ;;
    *) sed -n '5,6p' "${BASH_SOURCE[0]}" >&2; exit 2 ;;
    esac
done

DIR=$(mktemp -d "${TMPDIR:-/tmp}/slurm-demo.XXXXXX")
cleanup() {
    if ((keep)); then
        echo
        echo "Cluster left running. Use it with:  source $DIR/env"
        echo "Stop it with:                       $CLUSTER stop $DIR && rm -rf $DIR"
    else
        [[ -z ${FAKE_METERS_PID:-} ]] || kill "$FAKE_METERS_PID" 2>/dev/null || true
        "$CLUSTER" stop "$DIR" >/dev/null || true
        rm -rf "$DIR"
    fi
}
trap cleanup EXIT

bold() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
indent() { sed 's/^/  /'; }
# Prints a command line the way it could be typed again.
show_command() {
    local line='$' arg sq="'" escaped_sq="'\\''"
    for arg in "$@"; do
        if [[ $arg =~ ^[A-Za-z0-9_@%+=:,./-]+$ ]]; then
            line+=" $arg"
        else
            line+=" '${arg//$sq/$escaped_sq}'"
        fi
    done
    printf '%s\n' "$line"
}

bold "Starting a test cluster in $DIR (job_submit: $plugins, spank: $plugins)"
"$CLUSTER" start "$DIR" --plugin-dir "${CARGO_TARGET_DIR:-$REPO_ROOT/target}/release" \
    --job-submit "$plugins" --spank "$plugins" --rci-conf "$REPO_ROOT/slurm-conf/demo-rci.conf.in" \
    --accounting
for var in $(compgen -e); do
    case $var in SLURM_* | SBATCH_* | SALLOC_* | SRUN_*) unset "$var" ;; esac
done
# shellcheck source=/dev/null
source "$DIR/env"
cd "$DIR/work"
sinfo -N -o '%N %P %t %G'

SUBMITTED=()

# submit "description" [--as USER] sbatch-args... : submits a batch job, remembers its id.
submit() {
    local what=$1 user=()
    shift
    if [[ ${1:-} == --as ]]; then
        user=(runuser -u "$2" --)
        shift 2
    fi
    bold "sbatch: $what"
    show_command "${user[@]}" sbatch "$@"
    local out rc=0
    out=$("${user[@]}" timeout 30 sbatch --parsable --output="$DIR/out/%j.out" "$@" 2>&1) || rc=$?
    printf '%s\n' "$out" | indent
    if ((rc == 0)); then
        SUBMITTED+=("$(tail -n 1 <<<"$out" | cut -d';' -f1)")
    else
        echo "  (refused, exit status $rc)"
    fi
}

# step "description" command... : runs srun/salloc and shows its output.
step() {
    local what=$1
    shift
    bold "$what"
    show_command "$@"
    timeout 60 "$@" 2>&1 | indent || echo "  (exit status ${PIPESTATUS[0]})"
}

wait_done() {
    local id=$1 state i
    for ((i = 0; i < 300; i++)); do
        state=$(scontrol -o show job "$id" 2>/dev/null | grep -o 'JobState=[A-Z_]*' | cut -d= -f2)
        case $state in
        PENDING | RUNNING | CONFIGURING | COMPLETING | SUSPENDED | REQUEUED | "") sleep 0.2 ;;
        *) return 0 ;;
        esac
    done
    echo "  (job $id still $state after 60 s)"
}

show_job() {
    local id=$1
    wait_done "$id"
    bold "job $id"
    scontrol -o show job "$id" | tr ' ' '\n' |
        grep -E '^(JobName|UserId|Partition|QOS|JobState|Reason|ExitCode|NodeList|TimeLimit|TresPerNode|TresPerJob|NumCPUs|Comment|AdminComment|Features)=' |
        sed 's/^/  /' || true
    if [[ -s $DIR/out/$id.out ]]; then
        echo "  output:"
        sed 's/^/    | /' "$DIR/out/$id.out"
    fi
}

# ---------------------------------------------------------------------------------------------
# SAMPLES

# The test node has no real GPU or RAPL: a fake libnvidia-ml (tests/fake_nvml) and the fake
# powercap tree stand in, and a background loop advances their energy counters like a busy node
# (CPU package 100 W, DRAM 20 W, each GPU 250 W), so the records below have something to show.
FAKE_METERS_PID=
start_fake_meters() {
    mkdir -p "$DIR/nvml"
    cc -shared -fPIC -o "$DIR/nvml/libnvidia-ml.so.1" "$REPO_ROOT/tests/fake_nvml/fake_nvml.c" -ldl ||
        { echo "  (no C compiler: GPU energy will show as unavailable)"; return 0; }
    local state="$DIR/nvml/libnvidia-ml.so.1.state"
    write_nvml_state() {
        local m out=""
        for m in 0 1 2 3; do
            out+="device GPU-00000000-1111-4000-8000-0000000000$(printf %02d "$m") $m $1 NVIDIA L40"$'\n'
        done
        # GPU 0 busy, the others held but idle: `rci report --idle-gpus` has something to show.
        out+="util 0 85 40 20000"$'\n'
        for m in 1 2 3; do
            out+="util $m 0 0 300"$'\n'
        done
        printf '%s' "$out" >"$state.tmp" && mv -f "$state.tmp" "$state"
    }
    write_nvml_state 0
    (
        pkg="$DIR/fakesys/class/powercap/intel-rapl:0"
        gpu_mj=0
        for ((i = 0; i < 240; i++)); do
            sleep 0.5
            echo $(($(cat "$pkg/energy_uj") + 50000000)) >"$pkg/energy_uj"
            echo $(($(cat "$pkg/intel-rapl:0:0/energy_uj") + 10000000)) >"$pkg/intel-rapl:0:0/energy_uj"
            gpu_mj=$((gpu_mj + 125000))
            write_nvml_state "$gpu_mj"
        done
    ) &
    FAKE_METERS_PID=$!
}
start_fake_meters

bold "rci.conf of this demo"
grep -v '^#' "$DIR/etc/rci.conf" | grep . | indent

# 1. Routing: CPU-only work is kept off the GPU node.
submit "a CPU-only job sent to the gpu partition (rerouted to cpu)" -p gpu -J cpu-in-gpu \
    --wrap 'echo "ran on $SLURMD_NODENAME in partition $SLURM_JOB_PARTITION"'
submit "a GPU job asking for two L40 (stays in gpu)" -p gpu -J two-gpus --gres=gpu:l40:2 \
    --wrap 'echo "SLURM_JOB_GPUS=$SLURM_JOB_GPUS NVIDIA_VISIBLE_DEVICES=$NVIDIA_VISIBLE_DEVICES"'

# 2. Job kinds and time caps.
cat >"$DIR/work/vm.sh" <<'VM'
#!/bin/bash
# boots a guest under Slurm (the demo only prints the command)
echo qemu-system-x86_64 -enable-kvm -m 4G -drive file=guest.qcow2
VM
submit "a QEMU VM asking for 10 days, aimed at gpu (rerouted and capped)" -p gpu -J my-vm \
    -t 10-0 "$DIR/work/vm.sh"
submit "a JupyterHub spawner job without a time limit (gets DefaultTime)" -p cpu \
    -J spawner-jupyterhub --wrap 'echo jupyterhub-singleuser would start here'
submit "a web server declared with --rci-kind=server asking for 30 days" -p cpu \
    --rci-kind=server -J web -t 30-0 --wrap 'echo serving'
submit "the same from the approved web-hosting account (allowed 30 days)" -p cpu \
    --rci-kind=server -A web-hosting -J web-approved -t 30-0 --wrap 'echo serving'

# 3. Container GPU environment: UUIDs instead of indices, void for CPU-only steps.
step "srun: a step with one GPU sees it by UUID, for every container runtime" \
    srun -p gpu --gres=gpu:1 bash -c 'env | grep -E "^(SLURM_STEP_GPUS|NVIDIA_VISIBLE_DEVICES|APPTAINERENV_NVIDIA_VISIBLE_DEVICES|RCI_CDI_DEVICES)=" | sort'
step "srun: a CPU-only step on cpu01, after exporting NVIDIA_VISIBLE_DEVICES=all" \
    env NVIDIA_VISIBLE_DEVICES=all srun -p cpu bash -c 'echo "NVIDIA_VISIBLE_DEVICES=$NVIDIA_VISIBLE_DEVICES"'
if id -u rcitest >/dev/null 2>&1; then
    submit "a GPU job of the unprivileged user rcitest" --as rcitest -p gpu -J user-gpu \
        --gres=gpu:1 --wrap 'echo "$(id -un): NVIDIA_VISIBLE_DEVICES=$NVIDIA_VISIBLE_DEVICES"'
fi

for id in "${SUBMITTED[@]}"; do
    show_job "$id"
done

# 4. Energy accounting: one record per job per node, and a report for accountants.
submit "a 6-second job on two GPUs, measured (fake meters)" --as rcitest -p gpu -J measured-gpu \
    --gres=gpu:2 -c 2 --wrap 'sleep 6'
MEASURED_GPU_JOB=${SUBMITTED[-1]:-}
submit "a 6-second CPU job, measured (fake meters)" -p cpu -J measured-cpu -c 4 --wrap 'sleep 6'
if [[ $plugins == rci ]]; then
    for ((i = 0; i < 100; i++)); do
        [[ -n $(squeue -h 2>/dev/null) ]] || break
        sleep 0.2
    done
    sleep 1
    bold "Energy records written by spank_rci (one JSON line per job per node)"
    if compgen -G "$DIR/accounting/*.jsonl" >/dev/null; then
        wc -l "$DIR"/accounting/*.jsonl | indent
        RCI="${CARGO_TARGET_DIR:-$REPO_ROOT/target}/release/rci"
        [[ -z $MEASURED_GPU_JOB ]] ||
            step "rci report --job: the GPU job's record, readable" "$RCI" report "$DIR/accounting" --job "$MEASURED_GPU_JOB"
        step "rci report: per user" "$RCI" report "$DIR/accounting" --by user
        step "rci report: per partition, CSV" "$RCI" report "$DIR/accounting" --by partition --format csv
        step "rci report --idle-gpus: GPUs held but idle (fake GPU 0 reports 85 %, the others 0 %)" \
            "$RCI" report "$DIR/accounting" --idle-gpus
        # Outside $DIR, which goes away with the cluster.
        html="${CARGO_TARGET_DIR:-$REPO_ROOT/target}/demo-report.html"
        bold "rci report --format html: one self-contained page with charts"
        if "$RCI" report "$DIR/accounting" --format html >"$html"; then
            echo "  $html ($(wc -c <"$html") bytes): open it in a browser, or print it to PDF"
        fi
        step "rci sync: the summaries into slurmdbd (AdminComment)" \
            "$RCI" sync --state "$DIR/work/sync.state" "$DIR/accounting"
        [[ -z $MEASURED_GPU_JOB ]] || {
            step "sacct shows them to accountants" \
                sacct -j "$MEASURED_GPU_JOB" -X -o JobID,Account,AdminComment%100
            step "rci job, as the job's user (rcitest)" \
                runuser -u rcitest -- "$RCI" job "$MEASURED_GPU_JOB"
        }
    else
        echo "  (no records: see the slurmd logs below)"
    fi
fi

# ---------------------------------------------------------------------------------------------

bold "What the plugins logged (slurmctld, slurmd and slurmstepd)"
grep -h -E 'rci: |job_submit/rci|job_modify/rci|spank_rci' "$DIR/log/slurmctld.log" "$DIR"/log/slurmd-*.log | grep -v -E 'Loaded plugin|loaded in' |
    tail -n 40 | sed 's/^/  /' ||
    echo "  (none)"
