// SPDX-License-Identifier: GPL-2.0
/*
 * TAP output and the fork-per-test runner of the libibverbs ODP tests; see tap.h.
 */
#include "tap.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ================================================================== */
/* TAP / KTAP output                                                   */

void tap_header(unsigned int ntests)
{
	printf("TAP version 13\n1..%u\n", ntests);
	fflush(stdout);
}

void tap_pass(struct tap *tap, unsigned int n, const char *name)
{
	tap->pass++;
	printf("ok %u %s\n", n, name);
	fflush(stdout);
}

void tap_fail(struct tap *tap, unsigned int n, const char *name,
	      const char *fmt, ...)
{
	va_list ap;

	tap->fail++;
	printf("not ok %u %s", n, name);
	if (fmt) {
		fputs(" # ", stdout);
		va_start(ap, fmt);
		vprintf(fmt, ap);
		va_end(ap);
	}
	putchar('\n');
	fflush(stdout);
}

void tap_skip(struct tap *tap, unsigned int n, const char *name,
	      const char *reason)
{
	tap->skip++;
	printf("ok %u %s # SKIP %s\n", n, name,
	       reason && *reason ? reason : "(no reason given)");
	fflush(stdout);
}

void tap_diag(const char *fmt, ...)
{
	va_list ap;

	fputs("# ", stdout);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

void tap_totals(const struct tap *tap)
{
	printf("# Totals: pass:%u fail:%u skip:%u\n", tap->pass, tap->fail,
	       tap->skip);
	fflush(stdout);
}

/* ================================================================== */
/* Test runner                                                          */

void test_step(struct test_ctx *t, const char *fmt, ...)
{
	char buf[sizeof(t->shared->step)];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	memcpy(t->shared->step, buf, sizeof(buf));
	if (t->opts->verbose)
		tap_diag("step: %s", buf);
}

int test_fail(struct test_ctx *t, const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	tap_diag("%s: %s", t->shared->step, buf);
	return TEST_FAIL;
}

int test_skip(struct test_ctx *t, const char *fmt, ...)
{
	char buf[sizeof(t->shared->skip_reason)];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	memcpy(t->shared->skip_reason, buf, sizeof(buf));
	return TEST_SKIP;
}

int test_worse(int a, int b)
{
	if (a == TEST_FAIL || b == TEST_FAIL)
		return TEST_FAIL;
	if (a == TEST_SKIP || b == TEST_SKIP)
		return TEST_SKIP;
	if (a != TEST_PASS || b != TEST_PASS)	/* unexpected code */
		return TEST_FAIL;
	return TEST_PASS;
}

static void usage(FILE *f, const char *prog)
{
	fprintf(f,
		"usage: %s [-l] [-t name]... [-s suite]... [-d dev] [-g gid_index] [-T timeout_s] [-S scale] [-v]\n"
		"  -l          list the tests (needs, signature, suites, bound) and exit\n"
		"  -t name     run only this test (repeatable; table order)\n"
		"  -s suite    run only the tests of this suite (repeatable: of any of them):\n"
		"              check, scale (make check) or soak (make soak)\n"
		"  -d dev      RDMA device (default %s)\n"
		"  -g index    GID index for the loopback connection (default %d)\n"
		"  -T seconds  time limit of a test that sets none of its own (default %d);\n"
		"              a test's own limit (-l shows it) is never changed by -T\n"
		"  -S factor   multiply every test's time limit, its own or -T's, by factor\n"
		"              (a slow kernel: debug under TCG; default 1)\n"
		"  -v          print every step\n"
		"exit: 0 no failure, 1 some test failed, 2 usage error, 4 all skipped\n",
		prog, TEST_DEFAULT_DEV, TEST_DEFAULT_GID_INDEX,
		TEST_DEFAULT_TIMEOUT_S);
}

static bool parse_uint(const char *s, long max, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < 0 || v > max)
		return false;
	*out = v;
	return true;
}

double test_now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void test_sleep_us(unsigned long us)
{
	struct timespec ts = { .tv_sec = (time_t)(us / 1000000),
			       .tv_nsec = (long)(us % 1000000) * 1000L };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

uint64_t test_rng_next(uint64_t *state)
{
	uint64_t x = *state;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*state = x;
	return x * 0x2545f4914f6cdd1dULL;
}

uint64_t test_rng_below(uint64_t *state, uint64_t n)
{
	return test_rng_next(state) % n;
}

/*
 * Wait for pid for at most timeout_s seconds.  SIGCHLD is blocked by the
 * caller, so sigtimedwait() sleeps until the child changes state.
 * Returns 0 with *status set, 1 on timeout, -1 on error.
 */
static int wait_child(pid_t pid, double timeout_s, int *status)
{
	double deadline = test_now_s() + timeout_s;
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	for (;;) {
		pid_t r = waitpid(pid, status, WNOHANG);
		struct timespec ts;
		double left;

		if (r == pid)
			return 0;
		if (r < 0 && errno != EINTR)
			return -1;
		left = deadline - test_now_s();
		if (left <= 0)
			return 1;
		if (left > 1.0)
			left = 1.0;	/* re-check waitpid at least every second */
		ts.tv_sec = (time_t)left;
		ts.tv_nsec = (long)((left - (double)ts.tv_sec) * 1e9);
		sigtimedwait(&set, NULL, &ts);
	}
}

static void shared_terminate(struct test_shared *sh)
{
	sh->step[sizeof(sh->step) - 1] = '\0';
	sh->skip_reason[sizeof(sh->skip_reason) - 1] = '\0';
}

/* A test's bound before -S: its own, else -T's. */
static unsigned int test_bound_s(const struct test_case *tc,
				 const struct test_opts *opts)
{
	if (tc->bound_s)
		return tc->bound_s(tc);
	return tc->timeout_s ? tc->timeout_s : opts->timeout_s;
}

static const struct {
	const char *name;
	unsigned int bit;
} suite_names[] = {
	{ "check", SUITE_CHECK },
	{ "soak", SUITE_SOAK },
	{ "scale", SUITE_SCALE },
};

static unsigned int test_suites(const struct test_case *tc)
{
	return tc->suites ? tc->suites : SUITE_CHECK;
}

static void run_one(const struct test_case *tc, unsigned int n,
		    const struct test_opts *opts, struct test_shared *sh,
		    const sigset_t *child_mask, struct tap *tap)
{
	/* Its own bound, else -T's; either times -S (see tap.h). */
	unsigned int timeout_s = test_bound_s(tc, opts) * opts->time_scale;
	struct test_ctx t = { .opts = opts, .shared = sh, .name = tc->name,
			      .arg = tc->arg, .timeout_s = timeout_s };
	double t0;
	int status, w;
	pid_t pid;

	memset(sh, 0, sizeof(*sh));
	snprintf(sh->step, sizeof(sh->step), "start");
	tap_diag("RUN %s%s%s", tc->name, tc->desc ? ": " : "",
		 tc->desc ? tc->desc : "");
	fflush(stdout);
	t0 = test_now_s();
	pid = fork();
	if (pid < 0) {
		tap_fail(tap, n, tc->name, "fork: %s", strerror(errno));
		return;
	}
	if (pid == 0) {
		int rc;

		sigprocmask(SIG_SETMASK, child_mask, NULL);
		alarm(timeout_s);	/* SIGALRM kills the child */
		rc = tc->fn(&t);
		fflush(stdout);
		_exit(rc);
	}

	/* Grace period after the child's own alarm before SIGKILL. */
	w = wait_child(pid, timeout_s + 5.0, &status);
	if (w != 0) {
		if (w < 0)
			tap_diag("waitpid(%d): %s", (int)pid, strerror(errno));
		kill(pid, SIGKILL);
		if (wait_child(pid, 10.0, &status) != 0)
			tap_diag("child %d did not die after SIGKILL (stuck in the kernel?); left behind",
				 (int)pid);
		shared_terminate(sh);
		tap_fail(tap, n, tc->name, "TIMEOUT after %u s in %s",
			 timeout_s, sh->step);
		return;
	}
	shared_terminate(sh);
	/* What a run's time budget is spent on (not judged). */
	tap_diag("elapsed: %s %.1f s", tc->name, test_now_s() - t0);
	if (WIFSIGNALED(status)) {
		int sig = WTERMSIG(status);

		if (sig == SIGALRM)
			tap_fail(tap, n, tc->name, "TIMEOUT after %u s in %s",
				 timeout_s, sh->step);
		else
			tap_fail(tap, n, tc->name, "killed by signal %d (%s) in %s",
				 sig, strsignal(sig), sh->step);
		return;
	}
	switch (WEXITSTATUS(status)) {
	case TEST_PASS:
		tap_pass(tap, n, tc->name);
		break;
	case TEST_SKIP:
		tap_skip(tap, n, tc->name, sh->skip_reason);
		break;
	case TEST_FAIL:
		tap_fail(tap, n, tc->name, NULL);
		break;
	default:
		tap_fail(tap, n, tc->name, "unexpected exit code %d in %s",
			 WEXITSTATUS(status), sh->step);
		break;
	}
}

/* One line of -l: name, the fixes it needs, its own signature if any, its
 * suites and bound. */
static void list_test(const struct test_case *tc, const struct test_opts *opts)
{
	static const char *const fix_names[] = { "copy", "uffd", "cancel", "iova",
						   "resume" };
	const char *sep = "";
	size_t i;

	printf("%s\tneeds=", tc->name);
	for (i = 0; i < ARRAY_SIZE(fix_names); i++) {
		if (!(tc->needs & (1u << i)))
			continue;
		printf("%s%s", sep, fix_names[i]);
		sep = ",";
	}
	printf("%s%s%s\tsuites=", tc->needs ? "" : "-",
	       tc->sig ? "\tsig=" : "", tc->sig ? tc->sig : "");
	sep = "";
	for (i = 0; i < ARRAY_SIZE(suite_names); i++) {
		if (!(test_suites(tc) & suite_names[i].bit))
			continue;
		printf("%s%s", sep, suite_names[i].name);
		sep = ",";
	}
	printf("%s\tbound=%u\n", *sep ? "" : "-", test_bound_s(tc, opts));
}

int test_main(int argc, char **argv, const struct test_case *tests,
	      size_t ntests)
{
	struct test_opts opts = {
		.dev = TEST_DEFAULT_DEV,
		.gid_index = TEST_DEFAULT_GID_INDEX,
		.timeout_s = TEST_DEFAULT_TIMEOUT_S,
		.time_scale = 1,
	};
	bool *selected = calloc(ntests ? ntests : 1, sizeof(*selected));
	bool list = false, any_selected = false;
	sigset_t block, old_mask;
	struct tap tap = { 0 };
	struct test_shared *sh;
	unsigned int planned = 0, n = 0;
	size_t i;
	long v;
	int opt;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!selected) {
		fprintf(stderr, "calloc: %s\n", strerror(errno));
		return 2;
	}
	while ((opt = getopt(argc, argv, "lt:s:d:g:T:S:vh")) != -1) {
		switch (opt) {
		case 'l':
			list = true;
			break;
		case 't':
			for (i = 0; i < ntests; i++)
				if (!strcmp(tests[i].name, optarg))
					break;
			if (i == ntests) {
				fprintf(stderr, "%s: unknown test '%s' (-l lists them)\n",
					argv[0], optarg);
				free(selected);
				return 2;
			}
			selected[i] = true;
			any_selected = true;
			break;
		case 's':
			for (i = 0; i < ARRAY_SIZE(suite_names); i++)
				if (!strcmp(suite_names[i].name, optarg))
					break;
			if (i == ARRAY_SIZE(suite_names)) {
				fprintf(stderr, "%s: unknown suite '%s' (check, soak or scale)\n",
					argv[0], optarg);
				free(selected);
				return 2;
			}
			opts.suite |= suite_names[i].bit;
			break;
		case 'd':
			opts.dev = optarg;
			break;
		case 'g':
			if (!parse_uint(optarg, INT_MAX, &v)) {
				fprintf(stderr, "%s: bad GID index '%s'\n", argv[0], optarg);
				free(selected);
				return 2;
			}
			opts.gid_index = (int)v;
			break;
		case 'T':
			if (!parse_uint(optarg, 24 * 3600, &v) || v == 0) {
				fprintf(stderr, "%s: bad timeout '%s'\n", argv[0], optarg);
				free(selected);
				return 2;
			}
			opts.timeout_s = (unsigned int)v;
			break;
		case 'S':
			if (!parse_uint(optarg, 100, &v) || v == 0) {
				fprintf(stderr, "%s: bad time scale '%s' (1..100)\n",
					argv[0], optarg);
				free(selected);
				return 2;
			}
			opts.time_scale = (unsigned int)v;
			break;
		case 'v':
			opts.verbose = true;
			break;
		case 'h':
			usage(stdout, argv[0]);
			free(selected);
			return 0;
		default:
			usage(stderr, argv[0]);
			free(selected);
			return 2;
		}
	}
	if (optind != argc) {
		usage(stderr, argv[0]);
		free(selected);
		return 2;
	}
	if (list) {
		for (i = 0; i < ntests; i++)
			list_test(&tests[i], &opts);
		free(selected);
		return 0;
	}
	for (i = 0; i < ntests; i++) {
		if (!any_selected)
			selected[i] = true;
		if (opts.suite && !(test_suites(&tests[i]) & opts.suite))
			selected[i] = false;
		planned += selected[i];
	}

	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE,
		  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED) {
		fprintf(stderr, "mmap(shared area): %s\n", strerror(errno));
		free(selected);
		return 2;
	}
	/* Block SIGCHLD so that wait_child() can sigtimedwait() for it. */
	sigemptyset(&block);
	sigaddset(&block, SIGCHLD);
	sigprocmask(SIG_BLOCK, &block, &old_mask);

	tap_header(planned);
	tap_diag("device %s, port %d, gid index %d, timeout %u s unless a test sets its own, time scale %u",
		 opts.dev, RDMA_PORT_NUM, opts.gid_index, opts.timeout_s,
		 opts.time_scale);
	for (i = 0; i < ntests; i++)
		if (selected[i])
			run_one(&tests[i], ++n, &opts, sh, &old_mask, &tap);
	tap_totals(&tap);

	sigprocmask(SIG_SETMASK, &old_mask, NULL);
	munmap(sh, sizeof(*sh));
	free(selected);
	if (tap.fail)
		return 1;
	if (!tap.pass && tap.skip)
		return 4;
	return 0;
}


bool test_reap(pid_t pid, double timeout_s, int *status)
{
	double deadline = test_now_s() + timeout_s;
	pid_t r;

	while (test_now_s() < deadline) {
		r = waitpid(pid, status, WNOHANG);
		if (r == pid || (r < 0 && errno != EINTR))
			return true;
		test_sleep_us(10000);
	}
	return false;
}

