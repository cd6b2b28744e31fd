/* SPDX-License-Identifier: GPL-2.0 */
/*
 * TAP/KTAP output and the fork-per-test runner of the libibverbs ODP tests:
 * each test runs in a forked child bounded in time, its suites and bound
 * are in its program's table (struct test_case).
 *
 * No function here keeps state outside the structures passed to it.
 */
#ifndef LIBIBVERBS_TESTS_TAP_H
#define LIBIBVERBS_TESTS_TAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define TEST_PRINTF(f, a) __attribute__((format(printf, f, a)))

/* Child exit codes (kselftest convention: 4 is KSFT_SKIP). */
enum { TEST_PASS = 0, TEST_FAIL = 1, TEST_SKIP = 4 };

#define TEST_DEFAULT_DEV	"rxe1"
#define TEST_DEFAULT_GID_INDEX	1
#define RDMA_PORT_NUM		1	/* the port every test uses */
#define TEST_DEFAULT_TIMEOUT_S	120	/* a test without a bound of its own */

/* ------------------------------------------------------------------ */
/* TAP / KTAP output                                                   */

struct tap {
	unsigned int pass, fail, skip;
};

void tap_header(unsigned int ntests);			/* "TAP version 13", "1..N" */
void tap_pass(struct tap *tap, unsigned int n, const char *name);
void tap_fail(struct tap *tap, unsigned int n, const char *name,
	      const char *fmt, ...) TEST_PRINTF(4, 5);	/* fmt may be NULL */
void tap_skip(struct tap *tap, unsigned int n, const char *name,
	      const char *reason);
void tap_diag(const char *fmt, ...) TEST_PRINTF(1, 2);	/* "# ..." */
void tap_totals(const struct tap *tap);

/* ------------------------------------------------------------------ */
/* Test runner                                                          */

/* Lives in a MAP_SHARED area: written by the child, read by the parent. */
struct test_shared {
	char step[128];
	char skip_reason[256];
};

/*
 * Time bounds live in each program's table: a test's .bound_s() (a bound
 * that follows the test's own knobs, REL_REPEAT say) or else its
 * .timeout_s is its bound; -T sets the bound of the tests that have
 * neither (default TEST_DEFAULT_TIMEOUT_S).  -T never raises or lowers a
 * test's own bound, so that a test can fail on its own when something it
 * guards waits longer than it may (rxe's 50 s pool timeout, say).  -S
 * multiplies every bound, for kernels that are slower throughout (a debug
 * kernel under TCG); the default is 1.
 */
struct test_opts {
	const char *dev;
	int gid_index;
	unsigned int timeout_s;		/* -T: bound of a test without its own */
	unsigned int time_scale;	/* -S: every bound times this */
	unsigned int suite;		/* -s: enum test_suite bits, 0: any */
	bool verbose;
};

struct test_ctx {
	const struct test_opts *opts;
	struct test_shared *shared;
	const char *name;
	const void *arg;	/* the test case's .arg */
	unsigned int timeout_s;	/* this test's bound, as the runner set it */
};

/*
 * The fixes of the kernel series a test needs to pass.  make check's judge
 * (scripts/judge) knows which kernel contains which fix and what a test
 * shows on a kernel that lacks one (scripts/expectations: each fix's
 * patches and its signature); a test with needs == 0 passes everywhere.
 */
enum test_fix {
	FIX_COPY = 1u << 0,	/* rxe ODP copy: in-page offset, buffer advance */
	FIX_UFFD = 1u << 1,	/* device faults may wait for a uffd handler */
	FIX_CANCEL = 1u << 2,	/* teardown cancels faults waiting on userspace */
	FIX_IOVA = 1u << 3,	/* rxe ODP indexes pages by address, not iova */
	FIX_RESUME = 1u << 4,	/* a walk resumes where it dropped the lock */
};

/*
 * The suites a test belongs to (-s runs one; -s repeated, any of them):
 * make check runs every program's "check" tests, and the "scale" tests on
 * its release kernels (too slow for the debug kernel's boot: tens of
 * thousands of faults, no code path the check tests miss); make soak runs
 * the "soak" tests; a test in none runs only when named (-t).  .suites 0
 * means "check".
 */
enum test_suite {
	SUITE_CHECK = 1u << 0,
	SUITE_SOAK = 1u << 1,
	SUITE_SCALE = 1u << 2,
	SUITE_NONE = 1u << 31,	/* in no suite: only with -t */
};

struct test_case {
	const char *name;
	int (*fn)(struct test_ctx *t);	/* returns TEST_PASS/FAIL/SKIP */
	const char *desc;
	unsigned int needs;		/* enum test_fix bits */
	/* What it shows without them, when not the fixes' own signature
	 * (a Perl regex matched against its diagnostics). */
	const char *sig;
	unsigned int timeout_s;		/* its bound (times -S); 0: the -T
					 * value (TEST_DEFAULT_TIMEOUT_S) */
	/* Optional: its bound in seconds (times -S), when that follows the
	 * test's knobs (REL_REPEAT, STORM_SECONDS); replaces .timeout_s. */
	unsigned int (*bound_s)(const struct test_case *tc);
	unsigned int suites;		/* enum test_suite bits; 0: check */
	const void *arg;		/* handed to fn as t->arg (variants) */
};

/*
 * -l prints one line per test: "<name>\tneeds=<fix>[,<fix>...]|-", if set
 * "\tsig=<regex>", then "\tsuites=<suite>[,<suite>...]|-" and
 * "\tbound=<seconds>" (make check's judge reads it).
 *
 * Parse -l, -t name (repeatable), -s suite, -d dev, -g gid_index,
 * -T timeout_s, -S time_scale, -v, -h; run the selected tests (-t and -s
 * together: the named tests of that suite), each in a forked child
 * bounded as above; print TAP.
 * Returns the process exit code: 0 no failure, 1 failure, 2 usage error,
 * 4 everything skipped.
 */
int test_main(int argc, char **argv, const struct test_case *tests,
	      size_t ntests);

/* Record the current step (shown if the test hangs); "# step: ..." with -v. */
void test_step(struct test_ctx *t, const char *fmt, ...) TEST_PRINTF(2, 3);
/* Print "# <step>: <message>" and return TEST_FAIL. */
int test_fail(struct test_ctx *t, const char *fmt, ...) TEST_PRINTF(2, 3);
/* Record the skip reason for the TAP line and return TEST_SKIP. */
int test_skip(struct test_ctx *t, const char *fmt, ...) TEST_PRINTF(2, 3);
/* Combine two results: FAIL beats SKIP beats PASS. */
int test_worse(int a, int b);

/* CLOCK_MONOTONIC in seconds. */
double test_now_s(void);
/* Sleep us microseconds, resuming after signals. */
void test_sleep_us(unsigned long us);
/* waitpid(pid) for up to timeout_s; false if it is still there. */
bool test_reap(pid_t pid, double timeout_s, int *status);
/* xorshift64* on *state, which must not be zero; below: in [0, n). */
uint64_t test_rng_next(uint64_t *state);
uint64_t test_rng_below(uint64_t *state, uint64_t n);

#endif /* LIBIBVERBS_TESTS_TAP_H */
