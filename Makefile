# rci: Slurm plugins in Rust. Targets:
#   make deps     install Slurm, munge, headers, clang, jq; create the test user (scripts/install-deps.sh)
#   make build    release build of job_submit_rci.so, spank_rci.so and the rci CLI
#   make lint     rustfmt check and clippy with warnings as errors
#   make test     deps, build, lint, then every test (integration tests start real Slurm clusters)
#                 on the host's Slurm, the header matrix (every release in ../shared/slurm-headers)
#                 and the whole suite again on Debian trixie's and sid's Slurm, in chroots
#   make demo     a throwaway cluster with both plugins and sample jobs (scripts/demo.sh)
#   make install  plugins into PLUGIN_DIR and rci into BINDIR, each by atomic rename, after
#                 checking the job_submit plugin was built for the installed slurmctld's release
#   make deb      a Debian package of both plugins and the CLI for the host's Slurm, in target/deb
#   make fuzz     run every fuzz target for FUZZ_SECONDS each (nightly; scripts/fuzz)
#   make clean    cargo clean and stop clusters left by killed test runs

CARGO      ?= cargo
TARGET_DIR := $(or $(CARGO_TARGET_DIR),target)
RELEASE    := $(TARGET_DIR)/release
PLUGIN_DIR ?= /usr/lib/x86_64-linux-gnu/slurm-wlm
BINDIR     ?= /usr/local/bin
DESTDIR    ?=
# Debian suites whose Slurm the whole suite also runs on (scripts/test-releases live); empty: none.
LIVE_SUITES ?= trixie sid
# Seconds per fuzz target: `make fuzz` and the short run in `make test`.
FUZZ_SECONDS ?= 60
FUZZ_SECONDS_TEST ?= 10
STAGE      := scripts/stage

.PHONY: all deps build lint test test-host test-headers test-live test-fuzz fuzz demo install deb clean

all: build

deps:
	@$(STAGE) deps scripts/install-deps.sh

build:
	@$(STAGE) build $(CARGO) build --release -p job_submit_rci -p spank_rci -p rci

lint:
	@$(STAGE) rustfmt $(CARGO) fmt --all -- --check
	@$(STAGE) clippy $(CARGO) clippy --workspace --all-targets -- -D warnings

# Integration tests load the plugins from the release build (target/release), so tests run in
# release too. Clusters of test binaries stop themselves when the binary exits; `reap` makes sure
# of it before make returns, whether the tests passed or not.
test: deps build lint test-host test-fuzz test-headers test-live

test-host:
	@echo "host: $$(slurmctld -V)"
	@$(STAGE) "tests on the host's Slurm" sh -c '$(CARGO) test --workspace --release; \
	    status=$$?; scripts/rci-cluster reap; exit $$status'

test-fuzz:
	@$(STAGE) "fuzz, $(FUZZ_SECONDS_TEST) s per target" scripts/fuzz --time $(FUZZ_SECONDS_TEST)

fuzz:
	@$(STAGE) fuzz scripts/fuzz --time $(FUZZ_SECONDS)

test-headers:
	@$(STAGE) "header matrix" scripts/test-releases headers

test-live:
	@for suite in $(LIVE_SUITES); do \
	    $(STAGE) "tests on $$suite's Slurm" scripts/test-releases live $$suite || exit 1; \
	done

demo: deps build
	scripts/demo.sh

# Never write over a .so that a running slurmctld/slurmstepd has mapped (SIGBUS): copy next to
# it under a temporary name, then rename over it.
define install_atomic
	install -m 0755 $(1) $(dir $(2)).$(notdir $(2)).new
	mv -f $(dir $(2)).$(notdir $(2)).new $(2)
endef

install:
	@for f in $(RELEASE)/libjob_submit_rci.so $(RELEASE)/libspank_rci.so $(RELEASE)/rci; do \
	    test -e $$f || { echo "$$f is missing: run \`make build\` first" >&2; exit 1; }; \
	done
	@scripts/plugin-version check $(RELEASE)/libjob_submit_rci.so $(SLURMCTLD)
	install -d $(DESTDIR)$(PLUGIN_DIR) $(DESTDIR)$(BINDIR)
	$(call install_atomic,$(RELEASE)/libjob_submit_rci.so,$(DESTDIR)$(PLUGIN_DIR)/job_submit_rci.so)
	$(call install_atomic,$(RELEASE)/libspank_rci.so,$(DESTDIR)$(PLUGIN_DIR)/spank_rci.so)
	$(call install_atomic,$(RELEASE)/rci,$(DESTDIR)$(BINDIR)/rci)
	@echo "Installed. Enable with JobSubmitPlugins=rci in slurm.conf and"
	@echo "  required $(PLUGIN_DIR)/spank_rci.so  in plugstack.conf (see slurm-conf/example/)."

# SLURM_DEB_VERSION: the Debian version of the Slurm built against (default: the installed one).
deb:
	@scripts/build-deb $(RELEASE) $(TARGET_DIR)/deb $(SLURM_DEB_VERSION)

clean:
	-scripts/rci-cluster reap
	$(CARGO) clean
