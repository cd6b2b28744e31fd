// SPDX-License-Identifier: GPL-2.0
/*
 * Shared helpers for the libibverbs ODP/userfaultfd tests; see common.h.
 */
#include "common.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
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
		"usage: %s [-l] [-t name]... [-d dev] [-g gid_index] [-T timeout_s] [-S scale] [-v]\n"
		"  -l          list test names and exit\n"
		"  -t name     run only this test (repeatable; table order)\n"
		"  -d dev      RDMA device (default %s)\n"
		"  -g index    GID index for the loopback connection (default %d)\n"
		"  -T seconds  time limit of a test that sets none of its own (default %d);\n"
		"              a test's own limit (-l does not show it) is never changed by -T\n"
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

static void run_one(const struct test_case *tc, unsigned int n,
		    const struct test_opts *opts, struct test_shared *sh,
		    const sigset_t *child_mask, struct tap *tap)
{
	/* Its own bound, else -T's; either times -S (see common.h). */
	unsigned int timeout_s = (tc->timeout_s ? tc->timeout_s :
				  opts->timeout_s) * opts->time_scale;
	struct test_ctx t = { .opts = opts, .shared = sh, .name = tc->name,
			      .arg = tc->arg, .timeout_s = timeout_s };
	int status, w;
	pid_t pid;

	memset(sh, 0, sizeof(*sh));
	snprintf(sh->step, sizeof(sh->step), "start");
	tap_diag("RUN %s%s%s", tc->name, tc->desc ? ": " : "",
		 tc->desc ? tc->desc : "");
	fflush(stdout);
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

/* One line of -l: name, the fixes it needs, its own signature if any. */
static void list_test(const struct test_case *tc)
{
	static const char *const fix_names[] = { "copy", "uffd", "cancel", "iova" };
	const char *sep = "";
	size_t i;

	printf("%s\tneeds=", tc->name);
	for (i = 0; i < ARRAY_SIZE(fix_names); i++) {
		if (!(tc->needs & (1u << i)))
			continue;
		printf("%s%s", sep, fix_names[i]);
		sep = ",";
	}
	printf("%s%s%s\n", tc->needs ? "" : "-", tc->sig ? "\tsig=" : "",
	       tc->sig ? tc->sig : "");
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
	while ((opt = getopt(argc, argv, "lt:d:g:T:S:vh")) != -1) {
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
			list_test(&tests[i]);
		free(selected);
		return 0;
	}
	for (i = 0; i < ntests; i++) {
		if (!any_selected)
			selected[i] = true;
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

/* ================================================================== */
/* Memory and patterns                                                 */

size_t page_size(void)
{
	long ps = sysconf(_SC_PAGESIZE);

	return ps > 0 ? (size_t)ps : 4096;
}

int mem_map(struct test_ctx *t, size_t len, void **addr, const char *what)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	*addr = NULL;
	if (p == MAP_FAILED)
		return test_fail(t, "mmap(%s, %zu bytes): %s", what, len,
				 strerror(errno));
	*addr = p;
	return TEST_PASS;
}

int mem_unmap(struct test_ctx *t, void **addr, size_t len, const char *what)
{
	void *p = *addr;

	if (!p)
		return TEST_PASS;
	*addr = NULL;
	if (munmap(p, len))
		return test_fail(t, "munmap(%s): %s", what, strerror(errno));
	return TEST_PASS;
}

void pattern_fill(void *buf, size_t len, uint32_t seed, size_t pos,
		  size_t psz)
{
	uint8_t *b = buf;
	size_t i;

	for (i = 0; i < len; i++)
		b[i] = pattern_byte(seed, pos + i, psz);
}

int pattern_verify(struct test_ctx *t, const void *buf, size_t len,
		   uint32_t seed, size_t pos, size_t psz, const char *what)
{
	const uint8_t *b = buf;
	size_t i, first = 0, bad = 0;

	for (i = 0; i < len; i++) {
		if (b[i] == pattern_byte(seed, pos + i, psz))
			continue;
		if (!bad++)
			first = i;
	}
	if (!bad)
		return TEST_PASS;
	return test_fail(t,
			 "%s: %zu of %zu bytes differ; first at region offset %zu (page %zu +%zu): expected 0x%02x (seed %" PRIu32 ") got 0x%02x",
			 what, bad, len, pos + first, (pos + first) / psz,
			 (pos + first) % psz,
			 pattern_byte(seed, pos + first, psz), seed, b[first]);
}

int bytes_verify(struct test_ctx *t, const void *buf, size_t len, uint8_t val,
		 size_t pos, const char *what)
{
	const uint8_t *b = buf;
	size_t i, first = 0, bad = 0;

	for (i = 0; i < len; i++) {
		if (b[i] == val)
			continue;
		if (!bad++)
			first = i;
	}
	if (!bad)
		return TEST_PASS;
	return test_fail(t,
			 "%s: %zu of %zu bytes differ; first at region offset %zu: expected 0x%02x got 0x%02x",
			 what, bad, len, pos + first, val, b[first]);
}

/* ================================================================== */
/* userfaultfd                                                          */

void uffd_fill_pattern(const void *arg, size_t page_index, uint8_t *page,
		       size_t psz)
{
	pattern_fill(page, psz, *(const uint32_t *)arg, page_index * psz, psz);
}

void uffd_handler_init(struct uffd_handler *h)
{
	memset(h, 0, sizeof(*h));
	h->uffd = -1;
	h->stop_fd = -1;
	atomic_init(&h->faults, 0);
	atomic_init(&h->write_faults, 0);
	atomic_init(&h->copies, 0);
	atomic_init(&h->eexist, 0);
	atomic_init(&h->refuse, false);
	atomic_init(&h->failed, false);
}

int uffd_open(struct test_ctx *t, int *fd)
{
	struct uffdio_api api = { .api = UFFD_API, .features = 0 };
	int ufd;

	*fd = -1;
	ufd = (int)syscall(__NR_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (ufd < 0) {
		int err = errno;

		return test_fail(t, "userfaultfd(O_CLOEXEC|O_NONBLOCK): %s%s",
				 strerror(err),
				 err == EPERM ? " (kernel faults need CAP_SYS_PTRACE or vm.unprivileged_userfaultfd=1)" :
				 err == ENOSYS ? " (CONFIG_USERFAULTFD off?)" : "");
	}
	if (ioctl(ufd, UFFDIO_API, &api)) {
		int err = errno;

		close(ufd);
		return test_fail(t, "ioctl(UFFDIO_API, features 0): %s",
				 strerror(err));
	}
	*fd = ufd;
	return TEST_PASS;
}

int uffd_register_missing(struct test_ctx *t, int fd, void *addr, size_t len)
{
	struct uffdio_register reg = {
		.range = { .start = (uintptr_t)addr, .len = len },
		.mode = UFFDIO_REGISTER_MODE_MISSING,
	};

	if (ioctl(fd, UFFDIO_REGISTER, &reg))
		return test_fail(t, "ioctl(UFFDIO_REGISTER, MISSING, %p+%zu): %s",
				 addr, len, strerror(errno));
	if (!(reg.ioctls & ((uint64_t)1 << _UFFDIO_COPY)))
		return test_fail(t, "UFFDIO_REGISTER: UFFDIO_COPY not offered (ioctls 0x%llx)",
				 (unsigned long long)reg.ioctls);
	return TEST_PASS;
}

TEST_PRINTF(3, 4)
static void handler_error(struct uffd_handler *h, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(h->err_msg, sizeof(h->err_msg), fmt, ap);
	va_end(ap);
	h->err_errno = err;
	atomic_store_explicit(&h->failed, true, memory_order_release);
}

/* Resolve one fault; returns false (after recording why) on error. */
static bool handler_resolve(struct uffd_handler *h, const struct uffd_msg *msg)
{
	uint64_t addr = msg->arg.pagefault.address & ~(uint64_t)(h->psz - 1);
	uint64_t base = (uintptr_t)h->base;
	struct uffdio_range wake = { .start = addr, .len = h->psz };
	struct uffdio_copy copy;
	struct timespec pause = { .tv_nsec = 1000000 };
	size_t idx;
	int tries;

	if (addr < base || addr >= base + h->len) {
		handler_error(h, 0, "fault at 0x%llx outside registered range %p+%zu",
			      (unsigned long long)msg->arg.pagefault.address,
			      (void *)h->base, h->len);
		return false;
	}
	idx = (size_t)((addr - base) / h->psz);
	atomic_fetch_add(&h->faults, 1);
	if (msg->arg.pagefault.flags & UFFD_PAGEFAULT_FLAG_WRITE)
		atomic_fetch_add(&h->write_faults, 1);
	if (atomic_load(&h->refuse)) {
		handler_error(h, 0, "fault at page %zu (0x%llx, %s) after faults were refused: the device still needed a page",
			      idx, (unsigned long long)addr,
			      msg->arg.pagefault.flags & UFFD_PAGEFAULT_FLAG_WRITE ?
			      "write" : "read");
		return false;
	}
	h->fill(h->fill_arg, idx, h->src_page, h->psz);

	/*
	 * Copy without waking, count, then wake: the counters are final by the
	 * time the faulting context runs again.
	 */
	for (tries = 0;; tries++) {
		copy = (struct uffdio_copy){
			.dst = addr,
			.src = (uintptr_t)h->src_page,
			.len = h->psz,
			.mode = UFFDIO_COPY_MODE_DONTWAKE,
		};
		if (!ioctl(h->uffd, UFFDIO_COPY, &copy)) {
			atomic_fetch_add(&h->copies, 1);
			break;
		}
		if (errno == EEXIST) {	/* already populated (duplicate fault) */
			atomic_fetch_add(&h->eexist, 1);
			break;
		}
		if (errno == EAGAIN && tries < 1000) {	/* mm changing */
			nanosleep(&pause, NULL);
			continue;
		}
		handler_error(h, errno, "UFFDIO_COPY(page %zu, 0x%llx, %zu bytes, copy=%lld)",
			      idx, (unsigned long long)addr, h->psz,
			      (long long)copy.copy);
		return false;
	}
	if (ioctl(h->uffd, UFFDIO_WAKE, &wake)) {
		handler_error(h, errno, "UFFDIO_WAKE(page %zu)", idx);
		return false;
	}
	return true;
}

static void *handler_thread(void *arg)
{
	struct uffd_handler *h = arg;
	struct pollfd pfd[2] = {
		{ .fd = h->uffd, .events = POLLIN },
		{ .fd = h->stop_fd, .events = POLLIN },
	};
	struct uffd_msg msg;
	ssize_t n;

	for (;;) {
		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			handler_error(h, errno, "poll(uffd, stop fd)");
			return NULL;
		}
		if (pfd[1].revents)		/* stop requested */
			return NULL;
		if (pfd[0].revents & (POLLERR | POLLHUP | POLLNVAL)) {
			handler_error(h, 0, "poll: uffd revents 0x%x",
				      (unsigned int)pfd[0].revents);
			return NULL;
		}
		if (!(pfd[0].revents & POLLIN))
			continue;
		n = read(h->uffd, &msg, sizeof(msg));
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				continue;
			handler_error(h, errno, "read(uffd)");
			return NULL;
		}
		if (n != (ssize_t)sizeof(msg)) {
			handler_error(h, 0, "read(uffd): short read %zd of %zu",
				      n, sizeof(msg));
			return NULL;
		}
		if (msg.event != UFFD_EVENT_PAGEFAULT) {
			handler_error(h, 0, "unexpected uffd event 0x%x",
				      (unsigned int)msg.event);
			return NULL;
		}
		if (!handler_resolve(h, &msg))
			return NULL;
	}
}

/* The source page, the stop eventfd and the thread of an open uffd. */
static int handler_start(struct test_ctx *t, struct uffd_handler *h)
{
	int err;

	h->src_page = aligned_alloc(h->psz, h->psz);
	if (!h->src_page)
		return test_fail(t, "aligned_alloc(uffd source page): %s",
				 strerror(errno));
	h->stop_fd = eventfd(0, EFD_CLOEXEC);
	if (h->stop_fd < 0)
		return test_fail(t, "eventfd(uffd stop): %s", strerror(errno));
	err = pthread_create(&h->thread, NULL, handler_thread, h);
	if (err)
		return test_fail(t, "pthread_create(uffd handler): %s",
				 strerror(err));
	h->started = true;
	return TEST_PASS;
}

int uffd_missing_setup(struct test_ctx *t, struct uffd_handler *h, void *addr,
		       size_t len, uffd_fill_fn fill, const void *fill_arg)
{
	int rc;

	h->base = addr;
	h->len = len;
	h->psz = page_size();
	h->fill = fill;
	h->fill_arg = fill_arg;
	rc = uffd_open(t, &h->uffd);
	if (rc != TEST_PASS)
		return rc;
	rc = uffd_register_missing(t, h->uffd, addr, len);
	if (rc != TEST_PASS)
		return rc;
	h->registered = true;
	return handler_start(t, h);
}

int uffd_missing_teardown(struct test_ctx *t, struct uffd_handler *h)
{
	int rc = TEST_PASS, err;

	if (h->started) {
		uint64_t one = 1;

		if (write(h->stop_fd, &one, sizeof(one)) != (ssize_t)sizeof(one)) {
			/* Cannot stop the thread: joining would hang. */
			return test_fail(t, "write(uffd stop eventfd): %s",
					 strerror(errno));
		}
		err = pthread_join(h->thread, NULL);
		if (err)
			rc = test_fail(t, "pthread_join(uffd handler): %s",
				       strerror(err));
		h->started = false;
		rc = test_worse(rc, uffd_handler_check(t, h));
	}
	if (h->stop_fd >= 0) {
		if (close(h->stop_fd))
			rc = test_fail(t, "close(uffd stop eventfd): %s",
				       strerror(errno));
		h->stop_fd = -1;
	}
	if (h->registered) {
		struct uffdio_range range = {
			.start = (uintptr_t)h->base, .len = h->len,
		};

		if (ioctl(h->uffd, UFFDIO_UNREGISTER, &range))
			rc = test_fail(t, "ioctl(UFFDIO_UNREGISTER): %s",
				       strerror(errno));
		h->registered = false;
	}
	if (h->uffd >= 0) {
		if (close(h->uffd))
			rc = test_fail(t, "close(uffd): %s", strerror(errno));
		h->uffd = -1;
	}
	free(h->src_page);
	h->src_page = NULL;
	return rc;
}

bool uffd_handler_failed(const struct uffd_handler *h)
{
	return atomic_load_explicit(&h->failed, memory_order_acquire);
}

int uffd_handler_check(struct test_ctx *t, const struct uffd_handler *h)
{
	if (!uffd_handler_failed(h))
		return TEST_PASS;
	return test_fail(t, "uffd handler thread failed: %s%s%s", h->err_msg,
			 h->err_errno ? ": " : "",
			 h->err_errno ? strerror(h->err_errno) : "");
}

unsigned long uffd_faults(const struct uffd_handler *h)
{
	return atomic_load(&h->faults);
}

unsigned long uffd_write_faults(const struct uffd_handler *h)
{
	return atomic_load(&h->write_faults);
}

void uffd_handler_report(const struct uffd_handler *h, const char *when)
{
	tap_diag("uffd %s: faults=%lu write=%lu copies=%lu eexist=%lu%s", when,
		 uffd_faults(h), uffd_write_faults(h), atomic_load(&h->copies),
		 atomic_load(&h->eexist),
		 uffd_handler_failed(h) ? " (handler FAILED)" : "");
}

/* ================================================================== */
/* RDMA                                                                 */

static const char *mtu_str(enum ibv_mtu mtu)
{
	switch (mtu) {
	case IBV_MTU_256: return "256";
	case IBV_MTU_512: return "512";
	case IBV_MTU_1024: return "1024";
	case IBV_MTU_2048: return "2048";
	case IBV_MTU_4096: return "4096";
	}
	return "?";
}

static void odp_caps_str(uint32_t caps, char *buf, size_t len)
{
	static const struct { uint32_t bit; const char *name; } names[] = {
		{ IBV_ODP_SUPPORT_SEND, "SEND" },
		{ IBV_ODP_SUPPORT_RECV, "RECV" },
		{ IBV_ODP_SUPPORT_WRITE, "WRITE" },
		{ IBV_ODP_SUPPORT_READ, "READ" },
		{ IBV_ODP_SUPPORT_ATOMIC, "ATOMIC" },
		{ IBV_ODP_SUPPORT_SRQ_RECV, "SRQ_RECV" },
		{ IBV_ODP_SUPPORT_FLUSH, "FLUSH" },
		{ IBV_ODP_SUPPORT_ATOMIC_WRITE, "ATOMIC_WRITE" },
	};
	size_t i, used = 0;

	buf[0] = '\0';
	for (i = 0; i < ARRAY_SIZE(names) && used < len; i++)
		if (caps & names[i].bit)
			used += (size_t)snprintf(buf + used, len - used, "%s%s",
						 used ? "|" : "", names[i].name);
	if (!buf[0])
		snprintf(buf, len, "none");
}

/* Find and open the named device; TEST_SKIP if it does not exist. */
static int open_device(struct test_ctx *t, struct rdma_res *r)
{
	const char *want = r->dev_name;
	struct ibv_device **list;
	char names[256] = "";
	size_t used = 0;
	int num, i, rc = TEST_PASS;

	list = ibv_get_device_list(&num);
	if (!list)
		return test_skip(t, "ibv_get_device_list: %s", strerror(errno));
	for (i = 0; i < num; i++)
		if (!strcmp(ibv_get_device_name(list[i]), want))
			break;
	if (i == num) {
		for (i = 0; i < num && used < sizeof(names); i++)
			used += (size_t)snprintf(names + used, sizeof(names) - used,
						 " %s", ibv_get_device_name(list[i]));
		rc = test_skip(t, "RDMA device %s not found (have:%s)", want,
			       num ? names : " none");
	} else {
		r->ctx = ibv_open_device(list[i]);
		if (!r->ctx)
			rc = test_fail(t, "ibv_open_device(%s): %s", want,
				       strerror(errno));
	}
	ibv_free_device_list(list);
	return rc;
}

/* TEST_SKIP naming the missing ODP capabilities of one transport. */
static int check_odp_caps(struct test_ctx *t, const struct rdma_res *r,
			  const char *transport, uint32_t have, uint32_t want)
{
	char have_s[96], need_s[96];
	uint32_t missing = want & ~have;

	if (!missing)
		return TEST_PASS;
	odp_caps_str(missing, need_s, sizeof(need_s));
	odp_caps_str(have, have_s, sizeof(have_s));
	return test_skip(t, "%s: %s ODP lacks %s (%s_odp_caps %s)", r->dev_name,
			 transport, need_s, transport, have_s);
}

/* Device attributes, ODP capabilities, port state and GID. */
static int check_device(struct test_ctx *t, struct rdma_res *r,
			const struct rdma_caps_req *req)
{
	const struct ibv_odp_caps *odp = &r->dev_attr.odp_caps;
	uint64_t missing_ex;
	int err, rc;

	err = ibv_query_device_ex(r->ctx, NULL, &r->dev_attr);
	if (err)
		return test_fail(t, "ibv_query_device_ex(%s): %s", r->dev_name,
				 strerror(err));
	if ((req->odp || req->rc_odp_caps || req->ud_odp_caps) &&
	    !(odp->general_caps & IBV_ODP_SUPPORT))
		return test_skip(t, "%s: no ODP support (odp_caps.general_caps 0x%" PRIx64 ")",
				 r->dev_name, (uint64_t)odp->general_caps);
	rc = check_odp_caps(t, r, "rc", odp->per_transport_caps.rc_odp_caps,
			    req->rc_odp_caps);
	if (rc == TEST_PASS)
		rc = check_odp_caps(t, r, "ud",
				    odp->per_transport_caps.ud_odp_caps,
				    req->ud_odp_caps);
	if (rc != TEST_PASS)
		return rc;
	missing_ex = req->cap_flags_ex & ~(uint64_t)r->dev_attr.device_cap_flags_ex;
	if (missing_ex)
		return test_skip(t, "%s: device_cap_flags_ex 0x%" PRIx64 " lacks 0x%" PRIx64,
				 r->dev_name,
				 (uint64_t)r->dev_attr.device_cap_flags_ex,
				 missing_ex);

	err = ibv_query_port(r->ctx, r->port_num, &r->port_attr);
	if (err)
		return test_fail(t, "ibv_query_port(%s, %u): %s", r->dev_name,
				 r->port_num, strerror(err));
	if (r->port_attr.state != IBV_PORT_ACTIVE)
		return test_fail(t, "%s port %u is %s, not ACTIVE", r->dev_name,
				 r->port_num, ibv_port_state_str(r->port_attr.state));
	r->mtu = req->mtu ? req->mtu : IBV_MTU_1024;
	if (r->port_attr.active_mtu < r->mtu) {
		tap_diag("port active MTU %s < %s, using it",
			 mtu_str(r->port_attr.active_mtu), mtu_str(r->mtu));
		r->mtu = r->port_attr.active_mtu;
	}

	if (ibv_query_gid(r->ctx, r->port_num, r->gid_index, &r->gid))
		return test_fail(t, "ibv_query_gid(%s, port %u, index %d): %s",
				 r->dev_name, r->port_num, r->gid_index,
				 strerror(errno));
	if (!r->gid.global.subnet_prefix && !r->gid.global.interface_id)
		return test_fail(t, "%s GID index %d is empty (no IP address on the netdev?)",
				 r->dev_name, r->gid_index);
	return TEST_PASS;
}

static int qp_modify(struct test_ctx *t, struct ibv_qp *qp,
		     struct ibv_qp_attr *attr, int mask, const char *state)
{
	int err = ibv_modify_qp(qp, attr, mask);

	if (err)
		return test_fail(t, "ibv_modify_qp(QP 0x%x -> %s): %s",
				 qp->qp_num, state, strerror(err));
	return TEST_PASS;
}

/* UD: RESET -> INIT -> RTR -> RTS (the destination is in each WR). */
static int qp_connect_ud(struct test_ctx *t, struct rdma_res *r,
			 struct ibv_qp *qp, uint32_t sq_psn)
{
	struct ibv_qp_attr attr = {
		.qp_state = IBV_QPS_INIT, .pkey_index = 0,
		.port_num = r->port_num, .qkey = RDMA_UD_QKEY,
	};
	int rc;

	rc = qp_modify(t, qp, &attr, IBV_QP_STATE | IBV_QP_PKEY_INDEX |
		       IBV_QP_PORT | IBV_QP_QKEY, "INIT");
	if (rc != TEST_PASS)
		return rc;
	attr = (struct ibv_qp_attr){ .qp_state = IBV_QPS_RTR };
	rc = qp_modify(t, qp, &attr, IBV_QP_STATE, "RTR");
	if (rc != TEST_PASS)
		return rc;
	attr = (struct ibv_qp_attr){ .qp_state = IBV_QPS_RTS, .sq_psn = sq_psn };
	return qp_modify(t, qp, &attr, IBV_QP_STATE | IBV_QP_SQ_PSN, "RTS");
}

/*
 * RC: RESET -> INIT -> RTR -> RTS, with the remote side being QP number
 * dqpn at GID dgid on r's port.
 */
static int qp_connect(struct test_ctx *t, struct rdma_res *r, struct ibv_qp *qp,
		      const union ibv_gid *dgid, uint32_t dqpn, uint32_t sq_psn,
		      uint32_t rq_psn)
{
	struct ibv_qp_attr attr;
	int rc;

	memset(&attr, 0, sizeof(attr));
	attr.qp_state = IBV_QPS_INIT;
	attr.pkey_index = 0;
	attr.port_num = r->port_num;
	attr.qp_access_flags = IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE |
			       IBV_ACCESS_REMOTE_READ | IBV_ACCESS_REMOTE_ATOMIC;
	if (r->send_ops_flags & IBV_QP_EX_WITH_FLUSH)	/* responder checks */
		attr.qp_access_flags |= IBV_ACCESS_FLUSH_GLOBAL |
					IBV_ACCESS_FLUSH_PERSISTENT;
	rc = qp_modify(t, qp, &attr, IBV_QP_STATE | IBV_QP_PKEY_INDEX |
		       IBV_QP_PORT | IBV_QP_ACCESS_FLAGS, "INIT");
	if (rc != TEST_PASS)
		return rc;

	memset(&attr, 0, sizeof(attr));
	attr.qp_state = IBV_QPS_RTR;
	attr.path_mtu = r->mtu;
	attr.dest_qp_num = dqpn;
	attr.rq_psn = rq_psn;
	attr.max_dest_rd_atomic = 1;
	attr.min_rnr_timer = 12;
	attr.ah_attr.is_global = 1;		/* RoCE: GRH always */
	attr.ah_attr.grh.dgid = *dgid;
	attr.ah_attr.grh.sgid_index = (uint8_t)r->gid_index;
	attr.ah_attr.grh.hop_limit = 1;
	attr.ah_attr.dlid = 0;
	attr.ah_attr.sl = 0;
	attr.ah_attr.src_path_bits = 0;
	attr.ah_attr.port_num = r->port_num;
	rc = qp_modify(t, qp, &attr, IBV_QP_STATE | IBV_QP_AV | IBV_QP_PATH_MTU |
		       IBV_QP_DEST_QPN | IBV_QP_RQ_PSN |
		       IBV_QP_MAX_DEST_RD_ATOMIC | IBV_QP_MIN_RNR_TIMER, "RTR");
	if (rc != TEST_PASS)
		return rc;

	memset(&attr, 0, sizeof(attr));
	attr.qp_state = IBV_QPS_RTS;
	/* 4.096 us * 2^18 ~= 1 s per try: slow (TCG) guests and uffd round
	 * trips must not exhaust the retries before the completion deadline. */
	attr.timeout = 18;
	attr.retry_cnt = 7;
	attr.rnr_retry = 7;
	attr.sq_psn = sq_psn;
	attr.max_rd_atomic = 1;
	return qp_modify(t, qp, &attr, IBV_QP_STATE | IBV_QP_TIMEOUT |
			 IBV_QP_RETRY_CNT | IBV_QP_RNR_RETRY | IBV_QP_SQ_PSN |
			 IBV_QP_MAX_QP_RD_ATOMIC, "RTS");
}

/* Open the device named r->dev_name, check it, allocate the PD. */
static int rdma_open(struct test_ctx *t, struct rdma_res *r,
		     const struct rdma_caps_req *req)
{
	int rc;

	r->port_num = RDMA_PORT_NUM;
	r->gid_index = t->opts->gid_index;
	r->qp_type = req->qp_type ? req->qp_type : IBV_QPT_RC;
	r->send_ops_flags = req->send_ops_flags;
	test_step(t, "open device %s", r->dev_name);
	rc = open_device(t, r);
	if (rc != TEST_PASS)
		return rc;
	test_step(t, "query %s device/port/gid", r->dev_name);
	rc = check_device(t, r, req);
	if (rc != TEST_PASS)
		return rc;
	test_step(t, "allocate PD on %s", r->dev_name);
	r->pd = ibv_alloc_pd(r->ctx);
	if (!r->pd)
		return test_fail(t, "ibv_alloc_pd(%s): %s", r->dev_name,
				 strerror(errno));
	return TEST_PASS;
}

/* A CQ and a QP of r's type on r's PD: *cq, *qp (and *qpx if extended). */
static int create_cq_qp(struct test_ctx *t, struct rdma_res *r,
			struct ibv_cq **cq, struct ibv_qp **qp,
			struct ibv_qp_ex **qpx)
{
	struct ibv_qp_init_attr_ex qia = {
		.qp_type = r->qp_type,
		.sq_sig_all = 0,
		.cap = {
			.max_send_wr = 16, .max_recv_wr = 16,
			.max_send_sge = 1, .max_recv_sge = 1,
		},
		.comp_mask = IBV_QP_INIT_ATTR_PD,
		.pd = r->pd,
	};

	*cq = ibv_create_cq(r->ctx, 32, NULL, NULL, 0);
	if (!*cq)
		return test_fail(t, "ibv_create_cq(%s): %s", r->dev_name,
				 strerror(errno));
	qia.send_cq = *cq;
	qia.recv_cq = *cq;
	if (r->send_ops_flags) {
		qia.comp_mask |= IBV_QP_INIT_ATTR_SEND_OPS_FLAGS;
		qia.send_ops_flags = r->send_ops_flags;
	}
	*qp = ibv_create_qp_ex(r->ctx, &qia);
	if (!*qp)
		return test_fail(t, "ibv_create_qp_ex(%s, type %d, send_ops 0x%" PRIx64 "): %s",
				 r->dev_name, (int)r->qp_type, r->send_ops_flags,
				 strerror(errno));
	if (qpx && r->send_ops_flags) {
		*qpx = ibv_qp_to_qp_ex(*qp);
		if (!*qpx)
			return test_fail(t, "ibv_qp_to_qp_ex(QP 0x%x) returned NULL",
					 (*qp)->qp_num);
	}
	return TEST_PASS;
}

/* Create two QPs on r and connect them to each other (loopback). */
static int create_loop_pair(struct test_ctx *t, struct rdma_res *r,
			    struct ibv_cq *cq[2], struct ibv_qp *qp[2],
			    struct ibv_qp_ex *qpx[2])
{
	static const uint32_t psn[2] = { 0x1000, 0x2000 };
	int rc, i;

	test_step(t, "create CQs and QPs on %s", r->dev_name);
	for (i = 0; i < 2; i++) {
		rc = create_cq_qp(t, r, &cq[i], &qp[i], qpx ? &qpx[i] : NULL);
		if (rc != TEST_PASS)
			return rc;
	}
	test_step(t, "connect QP 0x%x <-> QP 0x%x", qp[0]->qp_num,
		  qp[1]->qp_num);
	for (i = 0; i < 2; i++) {
		if (r->qp_type == IBV_QPT_UD)
			rc = qp_connect_ud(t, r, qp[i], psn[i]);
		else
			rc = qp_connect(t, r, qp[i], &r->gid, qp[!i]->qp_num,
					psn[i], psn[!i]);
		if (rc != TEST_PASS)
			return rc;
	}
	return TEST_PASS;
}

static int rdma_setup_steps(struct test_ctx *t, struct rdma_res *r,
			    const struct rdma_caps_req *req)
{
	struct ibv_ah_attr ah = { 0 };
	int rc;

	rc = rdma_open(t, r, req);
	if (rc == TEST_PASS)
		rc = create_loop_pair(t, r, r->cq, r->qp, r->qpx);
	if (rc != TEST_PASS || r->qp_type != IBV_QPT_UD)
		return rc;
	test_step(t, "create UD address handle");
	ah.is_global = 1;
	ah.grh.dgid = r->gid;
	ah.grh.sgid_index = (uint8_t)r->gid_index;
	ah.grh.hop_limit = 1;
	ah.port_num = r->port_num;
	r->ah = ibv_create_ah(r->pd, &ah);
	if (!r->ah)
		return test_fail(t, "ibv_create_ah(%s, own GID): %s", r->dev_name,
				 strerror(errno));
	return TEST_PASS;
}

int rdma_setup(struct test_ctx *t, struct rdma_res *r,
	       const struct rdma_caps_req *req)
{
	int rc;

	memset(r, 0, sizeof(*r));
	r->dev_name = t->opts->dev;
	rc = rdma_setup_steps(t, r, req);
	if (rc != TEST_PASS)
		rc = test_worse(rc, rdma_teardown(t, r));
	return rc;
}

static int rdma_setup_2host_steps(struct test_ctx *t, struct rdma_res *a,
				  struct rdma_res *b,
				  const struct rdma_caps_req *req)
{
	int rc;

	if (req->qp_type && req->qp_type != IBV_QPT_RC)
		return test_fail(t, "rdma_setup_2host: RC QPs only");
	rc = rdma_open(t, a, req);
	if (rc == TEST_PASS)
		rc = rdma_open(t, b, req);
	if (rc == TEST_PASS)
		rc = create_cq_qp(t, a, &a->cq[0], &a->qp[0], &a->qpx[0]);
	if (rc == TEST_PASS)
		rc = create_cq_qp(t, b, &b->cq[0], &b->qp[0], &b->qpx[0]);
	if (rc != TEST_PASS)
		return rc;
	test_step(t, "connect %s QP 0x%x <-> %s QP 0x%x", a->dev_name,
		  a->qp[0]->qp_num, b->dev_name, b->qp[0]->qp_num);
	if (t->opts->verbose) {
		char ga[INET6_ADDRSTRLEN], gb[INET6_ADDRSTRLEN];

		if (inet_ntop(AF_INET6, a->gid.raw, ga, sizeof(ga)) &&
		    inet_ntop(AF_INET6, b->gid.raw, gb, sizeof(gb)))
			tap_diag("%s GID %s <-> %s GID %s", a->dev_name, ga,
				 b->dev_name, gb);
	}
	rc = qp_connect(t, a, a->qp[0], &b->gid, b->qp[0]->qp_num, 0x1000,
			0x2000);
	if (rc == TEST_PASS)
		rc = qp_connect(t, b, b->qp[0], &a->gid, a->qp[0]->qp_num,
				0x2000, 0x1000);
	return rc;
}

int rdma_setup_2host(struct test_ctx *t, struct rdma_res *a,
		     struct rdma_res *b, const char *dev_a, const char *dev_b,
		     const struct rdma_caps_req *req)
{
	int rc;

	memset(a, 0, sizeof(*a));
	memset(b, 0, sizeof(*b));
	a->dev_name = dev_a;
	b->dev_name = dev_b;
	rc = rdma_setup_2host_steps(t, a, b, req);
	if (rc != TEST_PASS) {
		rc = test_worse(rc, rdma_teardown(t, b));
		rc = test_worse(rc, rdma_teardown(t, a));
	}
	return rc;
}

/* Destroy QPs then CQs, highest index first; NULL entries are skipped. */
static int destroy_qps_cqs(struct test_ctx *t, struct ibv_qp *qp[2],
			   struct ibv_cq *cq[2])
{
	int rc = TEST_PASS, err, i;

	for (i = 1; i >= 0; i--) {
		if (qp[i]) {
			err = ibv_destroy_qp(qp[i]);
			if (err)
				rc = test_fail(t, "ibv_destroy_qp(%d): %s", i,
					       strerror(err));
			qp[i] = NULL;
		}
	}
	for (i = 1; i >= 0; i--) {
		if (cq[i]) {
			err = ibv_destroy_cq(cq[i]);
			if (err)
				rc = test_fail(t, "ibv_destroy_cq(%d): %s", i,
					       strerror(err));
			cq[i] = NULL;
		}
	}
	return rc;
}

int rdma_teardown(struct test_ctx *t, struct rdma_res *r)
{
	int rc = TEST_PASS, err;

	test_step(t, "rdma teardown");
	if (r->ah) {
		err = ibv_destroy_ah(r->ah);
		if (err)
			rc = test_fail(t, "ibv_destroy_ah: %s", strerror(err));
		r->ah = NULL;
	}
	r->qpx[0] = NULL;
	r->qpx[1] = NULL;
	rc = test_worse(rc, destroy_qps_cqs(t, r->qp, r->cq));
	if (r->pd) {
		err = ibv_dealloc_pd(r->pd);
		if (err)
			rc = test_fail(t, "ibv_dealloc_pd: %s", strerror(err));
		r->pd = NULL;
	}
	if (r->ctx) {
		if (ibv_close_device(r->ctx))
			rc = test_fail(t, "ibv_close_device: %s", strerror(errno));
		r->ctx = NULL;
	}
	return rc;
}

int rdma_pair_create(struct test_ctx *t, struct rdma_res *r,
		     struct rdma_pair *p)
{
	int rc;

	memset(p, 0, sizeof(*p));
	if ((r->qp_type != IBV_QPT_RC && r->qp_type != IBV_QPT_UD) ||
	    r->send_ops_flags)
		return test_fail(t, "rdma_pair_create: plain RC or UD resources only");
	rc = create_loop_pair(t, r, p->cq, p->qp, NULL);
	if (rc != TEST_PASS)
		rc = test_worse(rc, rdma_pair_destroy(t, p));
	return rc;
}

int rdma_pair_destroy(struct test_ctx *t, struct rdma_pair *p)
{
	return destroy_qps_cqs(t, p->qp, p->cq);
}

int rdma_reg_mr(struct test_ctx *t, struct rdma_res *r, void *addr,
		size_t len, int access, const char *what, struct ibv_mr **mr)
{
	*mr = ibv_reg_mr(r->pd, addr, len, access);
	if (!*mr)
		return test_fail(t, "ibv_reg_mr(%s, %p+%zu, access 0x%x): %s",
				 what, addr, len, (unsigned int)access,
				 strerror(errno));
	return TEST_PASS;
}

int rdma_dereg_mr(struct test_ctx *t, struct ibv_mr **mr, const char *what)
{
	int err;

	if (!*mr)
		return TEST_PASS;
	err = ibv_dereg_mr(*mr);
	*mr = NULL;
	if (err)
		return test_fail(t, "ibv_dereg_mr(%s): %s", what, strerror(err));
	return TEST_PASS;
}

static const char *wr_opcode_str(enum ibv_wr_opcode op)
{
	switch (op) {
	case IBV_WR_RDMA_WRITE: return "RDMA WRITE";
	case IBV_WR_RDMA_WRITE_WITH_IMM: return "RDMA WRITE with immediate";
	case IBV_WR_SEND: return "SEND";
	case IBV_WR_SEND_WITH_IMM: return "SEND with immediate";
	case IBV_WR_RDMA_READ: return "RDMA READ";
	case IBV_WR_ATOMIC_CMP_AND_SWP: return "ATOMIC CMP&SWP";
	case IBV_WR_ATOMIC_FETCH_AND_ADD: return "ATOMIC FETCH&ADD";
	case IBV_WR_ATOMIC_WRITE: return "ATOMIC WRITE";
	case IBV_WR_FLUSH: return "FLUSH";
	default: return "WR";
	}
}

int rdma_wait_wc(struct test_ctx *t, struct ibv_cq *cq, const char *what,
		 uint64_t wr_id, int timeout_ms,
		 const struct uffd_handler *watch, struct ibv_wc *wc)
{
	struct timespec pause = { .tv_nsec = 200000 };
	double deadline = test_now_s() + timeout_ms / 1000.0;
	unsigned int spins = 0;
	int n;

	for (;;) {
		n = ibv_poll_cq(cq, 1, wc);
		if (n < 0)
			return test_fail(t, "ibv_poll_cq(%s) returned %d", what, n);
		if (n == 1)
			break;
		if (watch && uffd_handler_failed(watch))
			return test_fail(t, "%s: uffd handler failed while waiting for the completion: %s",
					 what, watch->err_msg);
		if (test_now_s() > deadline)
			return test_fail(t, "%s: no completion within %d ms",
					 what, timeout_ms);
		/* Yield first, then sleep: gentle on small guests. */
		if (spins++ < 100)
			sched_yield();
		else
			nanosleep(&pause, NULL);
	}
	if (wc->status != IBV_WC_SUCCESS)
		return test_fail(t, "%s completion: status %s (%d), vendor_err 0x%x, QP 0x%x",
				 what, ibv_wc_status_str(wc->status),
				 (int)wc->status, wc->vendor_err, wc->qp_num);
	if (wc->wr_id != wr_id)
		return test_fail(t, "%s completion for wr_id %" PRIu64 ", expected %" PRIu64,
				 what, (uint64_t)wc->wr_id, wr_id);
	return TEST_PASS;
}

int rdma_post_wait(struct test_ctx *t, struct ibv_qp *qp, struct ibv_cq *cq,
		   struct ibv_send_wr *wr, int timeout_ms,
		   const struct uffd_handler *watch, struct ibv_wc *wc)
{
	const char *op = wr_opcode_str(wr->opcode);
	struct ibv_send_wr *bad = NULL;
	int err;

	wr->send_flags |= IBV_SEND_SIGNALED;
	err = ibv_post_send(qp, wr, &bad);
	if (err)
		return test_fail(t, "ibv_post_send(%s, QP 0x%x): %s", op,
				 qp->qp_num, strerror(err));
	return rdma_wait_wc(t, cq, op, wr->wr_id, timeout_ms, watch, wc);
}

int rdma_rw_qp(struct test_ctx *t, struct ibv_qp *qp, struct ibv_cq *cq,
	       enum ibv_wr_opcode op, void *laddr, uint32_t len, uint32_t lkey,
	       uint64_t raddr, uint32_t rkey, const struct uffd_handler *watch)
{
	struct ibv_sge sge = {
		.addr = (uintptr_t)laddr, .length = len, .lkey = lkey,
	};
	struct ibv_send_wr wr = {
		.wr_id = 0x5eed0000u + (unsigned int)op,
		.sg_list = &sge,
		.num_sge = 1,
		.opcode = op,
		.send_flags = IBV_SEND_SIGNALED,
	};
	struct ibv_wc wc;

	if (op != IBV_WR_SEND) {
		wr.wr.rdma.remote_addr = raddr;
		wr.wr.rdma.rkey = rkey;
	}
	return rdma_post_wait(t, qp, cq, &wr, TEST_WC_TIMEOUT_MS, watch, &wc);
}

int rdma_rw(struct test_ctx *t, struct rdma_res *r, int qpi,
	    enum ibv_wr_opcode op, void *laddr, uint32_t len, uint32_t lkey,
	    uint64_t raddr, uint32_t rkey, const struct uffd_handler *watch)
{
	return rdma_rw_qp(t, r->qp[qpi], r->cq[qpi], op, laddr, len, lkey,
			  raddr, rkey, watch);
}

int rdma_post_recv(struct test_ctx *t, struct ibv_qp *qp, void *addr,
		   uint32_t len, uint32_t lkey, uint64_t wr_id)
{
	struct ibv_sge sge = {
		.addr = (uintptr_t)addr, .length = len, .lkey = lkey,
	};
	struct ibv_recv_wr wr = {
		.wr_id = wr_id, .sg_list = &sge, .num_sge = 1,
	};
	struct ibv_recv_wr *bad = NULL;
	int err;

	err = ibv_post_recv(qp, &wr, &bad);
	if (err)
		return test_fail(t, "ibv_post_recv(QP 0x%x, %p+%u): %s",
				 qp->qp_num, addr, len, strerror(err));
	return TEST_PASS;
}

int rdma_atomic(struct test_ctx *t, struct rdma_res *r, int qpi,
		enum ibv_wr_opcode op, uint64_t raddr, uint32_t rkey,
		uint64_t compare, uint64_t swap_add, void *result,
		uint32_t lkey, const struct uffd_handler *watch)
{
	struct ibv_sge sge = {
		.addr = (uintptr_t)result, .length = 8, .lkey = lkey,
	};
	struct ibv_send_wr wr = {
		.wr_id = 0xa7011c00u + (unsigned int)op,
		.sg_list = &sge,
		.num_sge = 1,
		.opcode = op,
		.send_flags = IBV_SEND_SIGNALED,
	};
	struct ibv_wc wc;

	wr.wr.atomic.remote_addr = raddr;
	wr.wr.atomic.rkey = rkey;
	wr.wr.atomic.compare_add = op == IBV_WR_ATOMIC_CMP_AND_SWP ? compare :
							      swap_add;
	wr.wr.atomic.swap = op == IBV_WR_ATOMIC_CMP_AND_SWP ? swap_add : 0;
	return rdma_post_wait(t, r->qp[qpi], r->cq[qpi], &wr,
			      TEST_WC_TIMEOUT_MS, watch, &wc);
}

/* ibv_wr_complete() and wait for the completion of wr_id. */
static int wr_complete_wait(struct test_ctx *t, struct rdma_res *r, int qpi,
			    const char *what, uint64_t wr_id,
			    const struct uffd_handler *watch)
{
	struct ibv_wc wc;
	int err;

	err = ibv_wr_complete(r->qpx[qpi]);
	if (err)
		return test_fail(t, "ibv_wr_complete(%s, QP 0x%x): %s", what,
				 r->qp[qpi]->qp_num, strerror(err));
	return rdma_wait_wc(t, r->cq[qpi], what, wr_id, TEST_WC_TIMEOUT_MS,
			    watch, &wc);
}

int rdma_atomic_write(struct test_ctx *t, struct rdma_res *r, int qpi,
		      uint64_t raddr, uint32_t rkey, uint64_t value,
		      const struct uffd_handler *watch)
{
	struct ibv_qp_ex *qpx = r->qpx[qpi];
	const uint64_t wr_id = 0xa7017e00u;
	uint8_t bytes[8];

	if (!qpx || !(r->send_ops_flags & IBV_QP_EX_WITH_ATOMIC_WRITE))
		return test_fail(t, "rdma_atomic_write: QP made without IBV_QP_EX_WITH_ATOMIC_WRITE");
	memcpy(bytes, &value, sizeof(bytes));	/* host order, as the CPU reads it */
	ibv_wr_start(qpx);
	qpx->wr_id = wr_id;
	qpx->wr_flags = IBV_SEND_SIGNALED;
	ibv_wr_atomic_write(qpx, rkey, raddr, bytes);
	return wr_complete_wait(t, r, qpi, "ATOMIC WRITE", wr_id, watch);
}

int rdma_flush(struct test_ctx *t, struct rdma_res *r, int qpi,
	       uint64_t raddr, uint32_t rkey, size_t len, uint8_t type,
	       const struct uffd_handler *watch)
{
	struct ibv_qp_ex *qpx = r->qpx[qpi];
	const uint64_t wr_id = 0xf1a5e000u + type;

	if (!qpx || !(r->send_ops_flags & IBV_QP_EX_WITH_FLUSH))
		return test_fail(t, "rdma_flush: QP made without IBV_QP_EX_WITH_FLUSH");
	ibv_wr_start(qpx);
	qpx->wr_id = wr_id;
	qpx->wr_flags = IBV_SEND_SIGNALED;
	ibv_wr_flush(qpx, rkey, raddr, len, type, IBV_FLUSH_RANGE);
	return wr_complete_wait(t, r, qpi, "FLUSH", wr_id, watch);
}

int rdma_ud_send(struct test_ctx *t, struct rdma_res *r, int qpi,
		 void *laddr, uint32_t len, uint32_t lkey,
		 const struct uffd_handler *watch)
{
	struct ibv_sge sge = {
		.addr = (uintptr_t)laddr, .length = len, .lkey = lkey,
	};
	struct ibv_send_wr wr = {
		.wr_id = 0x0d5e0d00u,
		.sg_list = &sge,
		.num_sge = 1,
		.opcode = IBV_WR_SEND,
		.send_flags = IBV_SEND_SIGNALED,
	};
	struct ibv_wc wc;

	if (!r->ah)
		return test_fail(t, "rdma_ud_send: no address handle (not UD?)");
	wr.wr.ud.ah = r->ah;
	wr.wr.ud.remote_qpn = r->qp[!qpi]->qp_num;
	wr.wr.ud.remote_qkey = RDMA_UD_QKEY;
	return rdma_post_wait(t, r->qp[qpi], r->cq[qpi], &wr,
			      TEST_WC_TIMEOUT_MS, watch, &wc);
}

int uffd_wait_faults(struct test_ctx *t, const struct uffd_handler *h,
		     unsigned long n, int timeout_ms)
{
	struct timespec pause = { .tv_nsec = 1000000 };
	double deadline = test_now_s() + timeout_ms / 1000.0;

	while (uffd_faults(h) < n) {
		if (uffd_handler_failed(h))
			return uffd_handler_check(t, h);
		if (test_now_s() > deadline)
			return test_fail(t, "uffd handler saw %lu faults within %d ms, expected %lu",
					 uffd_faults(h), timeout_ms, n);
		nanosleep(&pause, NULL);
	}
	return TEST_PASS;
}

/* ------------------------------------------------------------------ */
/* rdma resource counts                                                 */

static long res_field(const char *line, const char *key)
{
	char pat[16];
	const char *s;

	snprintf(pat, sizeof(pat), " %s ", key);
	s = strstr(line, pat);
	return s ? strtol(s + strlen(pat), NULL, 10) : -1;
}

int rdma_res_count_get(struct test_ctx *t, struct rdma_res_count *c)
{
	const char *cmd = "rdma resource show 2>&1";
	char line[256], want[40];
	bool found = false;
	FILE *f;

	snprintf(want, sizeof(want), ": %s:", t->opts->dev);
	f = popen(cmd, "r");
	if (!f)
		return test_fail(t, "popen(%s): %s", cmd, strerror(errno));
	while (fgets(line, sizeof(line), f)) {
		if (!strstr(line, want))
			continue;
		*c = (struct rdma_res_count){
			.pd = res_field(line, "pd"), .cq = res_field(line, "cq"),
			.qp = res_field(line, "qp"), .mr = res_field(line, "mr"),
			.ctx = res_field(line, "ctx"),
		};
		found = true;
	}
	if (pclose(f) == -1)
		return test_fail(t, "pclose(rdma resource show): %s",
				 strerror(errno));
	if (!found)
		return test_fail(t, "rdma resource show: no line for %s",
				 t->opts->dev);
	return TEST_PASS;
}

bool rdma_res_count_equal(const struct rdma_res_count *a,
			  const struct rdma_res_count *b)
{
	return a->pd == b->pd && a->cq == b->cq && a->qp == b->qp &&
	       a->mr == b->mr && a->ctx == b->ctx;
}

int rdma_res_count_wait(struct test_ctx *t, const struct rdma_res_count *want,
			double timeout_s, const char *what)
{
	double deadline = test_now_s() + timeout_s;
	struct rdma_res_count now;
	int rc;

	for (;;) {
		rc = rdma_res_count_get(t, &now);
		if (rc != TEST_PASS)
			return rc;
		if (rdma_res_count_equal(want, &now))
			return TEST_PASS;
		if (test_now_s() > deadline)
			break;
		test_sleep_us(200000);
	}
	return test_fail(t, "%s: rdma resources not released within %.0f s: want pd %ld cq %ld qp %ld mr %ld ctx %ld, have pd %ld cq %ld qp %ld mr %ld ctx %ld",
			 what, timeout_s, want->pd, want->cq, want->qp, want->mr,
			 want->ctx, now.pd, now.cq, now.qp, now.mr, now.ctx);
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

void uffd_handler_refuse(struct uffd_handler *h)
{
	atomic_store(&h->refuse, true);
}

int uffd_wait_copies(struct test_ctx *t, const struct uffd_handler *h,
		     unsigned long n, int timeout_ms)
{
	double deadline = test_now_s() + timeout_ms / 1000.0;

	while (atomic_load(&h->copies) < n) {
		if (uffd_handler_failed(h))
			return uffd_handler_check(t, h);
		if (test_now_s() > deadline)
			return test_fail(t, "uffd handler installed %lu pages within %d ms, expected %lu (faults=%lu)",
					 atomic_load(&h->copies), timeout_ms,
					 n, uffd_faults(h));
		test_sleep_us(1000);
	}
	return TEST_PASS;
}

int uffd_missing_setup_shared(struct test_ctx *t, struct uffd_handler *h,
			      const struct uffd_handler *first)
{
	h->base = first->base;
	h->len = first->len;
	h->psz = first->psz;
	h->fill = first->fill;
	h->fill_arg = first->fill_arg;
	/* The same open uffd; closing the duplicate leaves first's open. */
	h->uffd = fcntl(first->uffd, F_DUPFD_CLOEXEC, 0);
	if (h->uffd < 0)
		return test_fail(t, "fcntl(uffd, F_DUPFD_CLOEXEC) for a second handler thread: %s",
				 strerror(errno));
	return handler_start(t, h);
}

static const char *advice_str(enum ibv_advise_mr_advice advice)
{
	switch (advice) {
	case IBV_ADVISE_MR_ADVICE_PREFETCH: return "PREFETCH";
	case IBV_ADVISE_MR_ADVICE_PREFETCH_WRITE: return "PREFETCH_WRITE";
	case IBV_ADVISE_MR_ADVICE_PREFETCH_NO_FAULT: return "PREFETCH_NO_FAULT";
	}
	return "?";
}

int rdma_advise(struct test_ctx *t, struct rdma_res *r,
		enum ibv_advise_mr_advice advice, uint32_t flags,
		struct ibv_sge *sge, uint32_t n)
{
	int ret = ibv_advise_mr(r->pd, advice, flags, sge, n);

	if (ret < 0)
		ret = errno;
	if (ret == EOPNOTSUPP || ret == ENOSYS)
		return test_skip(t, "ibv_advise_mr(%s) on %s: %s",
				 advice_str(advice), r->dev_name, strerror(ret));
	if (ret)
		return test_fail(t, "ibv_advise_mr(%s, %s, %u SGEs, the first %u bytes at 0x%" PRIx64 "): %s",
				 advice_str(advice),
				 flags & IBV_ADVISE_MR_FLAG_FLUSH ? "FLUSH" : "async",
				 n, sge[0].length, (uint64_t)sge[0].addr,
				 strerror(ret));
	return TEST_PASS;
}
