# ODP on userfaultfd memory: test bed, kernel series, tests, benchmarks.
# `make` builds what is missing and runs the demonstration on the patched
# kernel; `make check` runs the whole test suite.  See README.md.

SCRIPTS := scripts

.PHONY: all deps rootfs kernel kernel-stock kernel-patched kernel-debug \
	kernel-upstream kernel-patched-73 kernel-debug-73 tests demo check check-guards \
	check-upstream check-73 check-series perf-73 \
	vm-shell export-patches perf perf-perftest soak clean distclean

all: demo

deps:
	@$(SCRIPTS)/host-deps

rootfs: deps
	@$(SCRIPTS)/mkrootfs

kernel-stock: deps
	@$(SCRIPTS)/build-kernel stock

kernel-patched: deps
	@$(SCRIPTS)/build-kernel patched

kernel-debug: deps
	@$(SCRIPTS)/build-kernel patched debug

# upstream Linux 7.3 (Debian's linux-source-7.3, trixie-backports): the peer
kernel-upstream: deps
	@$(SCRIPTS)/build-kernel upstream

# the series on Linux 7.3 (patches/7.3) on Debian's linux-source-7.3
kernel-patched-73: deps
	@$(SCRIPTS)/build-kernel patched-73

# its debug build (the options of configs/debug.config)
kernel-debug-73: deps
	@$(SCRIPTS)/build-kernel patched-73 debug

kernel: kernel-stock kernel-patched

tests: rootfs
	@$(SCRIPTS)/build-tests

demo: kernel-patched tests
	@$(SCRIPTS)/vm-run --kernel patched -- scripts/demo

check: kernel kernel-debug tests
	@$(SCRIPTS)/check

# guard kernels: the series without one fix each; every test that needs the
# fix must fail with its signature (scripts/expect/fixes)
check-guards: kernel tests
	@$(SCRIPTS)/check-guards

# upstream Linux 7.3 under the same tests, judged by the fixes it has of its
# own: its column of the test matrix
check-upstream: kernel-upstream tests
	@CHECK_COMMAND="make check-upstream" CHECK_BOOTS=upstream $(SCRIPTS)/check

# the 7.3 track: upstream 7.3, the series on it (patches/7.3) and its debug
# build, each judged by the fixes it has; make check keeps the 7.2 boots
# (CI's budget)
check-73: kernel-upstream kernel-patched-73 kernel-debug-73 tests
	@CHECK_COMMAND="make check-73" CHECK_BOOTS="upstream upstream-rel patched-73 debug-73" $(SCRIPTS)/check

# long reliability runs on the debug kernel (100 kills per scenario, a
# ten-minute soak) -> the table in Documentation/reliability.md
soak: kernel-debug tests
	@$(SCRIPTS)/soak --doc

# checkpatch, per-commit builds (with mlx5_ib), W=1 on the touched files
check-series: deps
	@$(SCRIPTS)/check-series

# benchmarks on stock/v1/restart/patched/upstream kernels, PERF_BOOTS boots
# each in alternation -> Documentation/performance.md (v1: the series before
# the fault thread, perf/v1-kernel; restart: the series without
# perf/restart-kernel's patches; see scripts/perf for the time it takes)
perf: kernel kernel-upstream tests
	@$(SCRIPTS)/build-kernel v1
	@$(SCRIPTS)/build-kernel restart
	@$(SCRIPTS)/perf

# perftest on stock/patched, 3 boots x PERFTEST_REPS=5 (about 3 hours)
# -> Documentation/performance-perftest.md
# the 7.3 track: upstream 7.3 against the series on it (patches/7.3, the
# page's "patched"), Documentation/performance-73.md
perf-73: kernel-upstream kernel-patched-73 tests
	@PERF_KERNELS="upstream patched=patched-73" PERF_PAGE=performance-73 \
		PERF_BOOTS=$${PERF_BOOTS:-3} PERF_PREFETCH_ROUNDS=$${PERF_PREFETCH_ROUNDS:-2} \
		PERF_CONC_ROUNDS=$${PERF_CONC_ROUNDS:-2} PERF_CONC_KERNELS="upstream patched" \
		PERF_ISOLATION_ROUNDS=0 PERF_KMEM_ROUNDS=$${PERF_KMEM_ROUNDS:-1} \
		PERF_NOTE="Linux 7.3.4: upstream is Debian's linux-source-7.3, patched is patches/7.3 on it (make perf-73)" \
		$(SCRIPTS)/perf

perf-perftest: kernel rootfs
	@$(SCRIPTS)/perf --perftest

vm-shell: kernel-patched tests
	@$(SCRIPTS)/vm-run --kernel patched --interactive

export-patches:
	@$(SCRIPTS)/export-patches

clean:
	@. $(SCRIPTS)/lib.sh && rm -rf "$$CACHE"/src/*/.build* "$$CACHE/runs" && \
		rm -rf "$$ROOTFS/opt/odp-uffd/bin"

distclean:
	@. $(SCRIPTS)/lib.sh && rm -rf "$$CACHE"
