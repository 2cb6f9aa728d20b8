#!/usr/bin/env bash
# Installs what building and testing rci needs on Debian 12 (or a derivative), idempotently:
# Slurm (daemons, clients, headers of libslurm and SPANK), munge, clang/libclang for bindgen, jq.
# Creates the unprivileged user `rcitest` that integration tests submit jobs as.
#
# The packages' own services are kept from starting (a temporary policy-rc.d): the test clusters
# run their own munged/slurmctld/slurmd under temp dirs and never use the system ones.
set -euo pipefail

# chromium renders `rci report --format html` in tests/report_html.rs; rsyslog is the central
# syslog daemon of tests/accounting.rs (neither service is started: the tests run their own).
PACKAGES=(slurm-wlm munge libslurm-dev slurm-wlm-basic-plugins-dev clang libclang-dev jq slurmdbd
    mariadb-server chromium rsyslog)
TEST_USER=rcitest

if [[ $(id -u) == 0 ]]; then
    SUDO=()
elif command -v sudo >/dev/null; then
    SUDO=(sudo)
else
    echo "install-deps: not root and no sudo; install as root: ${PACKAGES[*]}" >&2
    exit 1
fi

have_libclang() {
    compgen -G '/usr/lib/llvm-*/lib/libclang*.so*' >/dev/null ||
        compgen -G '/usr/lib/*/libclang*.so*' >/dev/null
}

missing=()
for tool in slurmctld slurmd munged sbatch srun jq clang chromium rsyslogd; do
    command -v "$tool" >/dev/null || missing+=("$tool")
done
for header in /usr/include/slurm/slurm.h /usr/include/slurm/spank.h; do
    [[ -e $header ]] || missing+=("$header")
done
have_libclang || missing+=(libclang)
# RCI_DEPS_FORCE=1 runs apt-get even when everything seems present.
[[ ${RCI_DEPS_FORCE:-0} == 1 ]] && missing+=("(forced)")

if ((${#missing[@]})); then
    echo "install-deps: missing ${missing[*]}; installing ${PACKAGES[*]}"
    command -v apt-get >/dev/null || {
        echo "install-deps: no apt-get; install the equivalent of: ${PACKAGES[*]}" >&2
        exit 1
    }
    policy=/usr/sbin/policy-rc.d
    added_policy=0
    if [[ ! -e $policy ]]; then
        # 101 = "action forbidden": invoke-rc.d and deb-systemd-invoke start no service.
        printf '#!/bin/sh\nexit 101\n' | "${SUDO[@]}" tee "$policy" >/dev/null
        "${SUDO[@]}" chmod 0755 "$policy"
        added_policy=1
    fi
    remove_policy() {
        if ((added_policy)); then "${SUDO[@]}" rm -f "$policy"; fi
    }
    trap remove_policy EXIT
    "${SUDO[@]}" apt-get update -q
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
        "${PACKAGES[@]}"
    remove_policy
    trap - EXIT
else
    echo "install-deps: Slurm, munge, headers, libclang and jq are present"
fi

# `make lint` needs rustfmt and clippy; minimal Rust installs (CI images) lack them.
if command -v rustup >/dev/null; then
    for component in rustfmt clippy; do
        if ! cargo "${component/rustfmt/fmt}" --version >/dev/null 2>&1; then
            rustup component add "$component"
        fi
    done
fi

if ! id -u "$TEST_USER" >/dev/null 2>&1; then
    # A normal user (uid >= 1000) with a home directory, like the cluster's real users.
    "${SUDO[@]}" useradd --create-home --user-group --shell /bin/bash \
        --comment "rci integration tests" "$TEST_USER"
    echo "install-deps: created user $TEST_USER"
fi
