// SPDX-License-Identifier: GPL-2.0
/*
 * The userfaultfd library of the libibverbs ODP tests; see uffd.h.
 */
#include "uffd.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

void uffd_fill_pattern(const void *arg, size_t pos, uint8_t *buf, size_t len)
{
	pattern_fill(buf, len, *(const uint32_t *)arg, pos, page_size());
}

void uffd_handler_init(struct uffd_handler *h)
{
	memset(h, 0, sizeof(*h));
	h->uffd = -1;
	h->stop_fd = -1;
	atomic_init(&h->faults, 0);
	atomic_init(&h->write_faults, 0);
	atomic_init(&h->wp_faults, 0);
	atomic_init(&h->minor_faults, 0);
	atomic_init(&h->resolved, 0);
	atomic_init(&h->eexist, 0);
	atomic_init(&h->delayed_us, 0);
	atomic_init(&h->refuse, false);
	atomic_init(&h->failed, false);
	atomic_init(&h->exited, false);
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

static const char *action_str(enum uffd_action a)
{
	switch (a) {
	case UFFD_ACT_COPY: return "UFFDIO_COPY";
	case UFFD_ACT_ZEROPAGE: return "UFFDIO_ZEROPAGE";
	case UFFD_ACT_CONTINUE: return "UFFDIO_CONTINUE";
	case UFFD_ACT_UNPROTECT: return "UFFDIO_WRITEPROTECT";
	case UFFD_ACT_CLOSE: return "close";
	case UFFD_ACT_EXIT: return "exit";
	case UFFD_ACT_WAKE: return "UFFDIO_WAKE";
	}
	return "?";
}

/*
 * Issue the resolving ioctl for the page at addr without waking (the
 * counters must be final before the faulting context runs on).
 * Returns 0, or the errno of the failed ioctl (EEXIST included).
 */
static int handler_ioctl(struct uffd_handler *h, uint64_t addr, size_t pos)
{
	struct uffdio_range range = { .start = addr, .len = h->psz };
	int ret;

	switch (h->cfg.action) {
	case UFFD_ACT_COPY: {
		struct uffdio_copy copy = {
			.dst = addr, .src = (uintptr_t)h->src, .len = h->psz,
			.mode = UFFDIO_COPY_MODE_DONTWAKE,
		};

		h->cfg.fill(h->cfg.fill_arg, pos, h->src, h->psz);
		ret = ioctl(h->uffd, UFFDIO_COPY, &copy);
		break;
	}
	case UFFD_ACT_ZEROPAGE: {
		struct uffdio_zeropage zp = {
			.range = range, .mode = UFFDIO_ZEROPAGE_MODE_DONTWAKE,
		};

		ret = ioctl(h->uffd, UFFDIO_ZEROPAGE, &zp);
		break;
	}
	case UFFD_ACT_CONTINUE: {
		struct uffdio_continue cont = {
			.range = range, .mode = UFFDIO_CONTINUE_MODE_DONTWAKE,
		};

		ret = ioctl(h->uffd, UFFDIO_CONTINUE, &cont);
		break;
	}
	case UFFD_ACT_UNPROTECT: {
		struct uffdio_writeprotect wp = {
			.range = range, .mode = UFFDIO_WRITEPROTECT_MODE_DONTWAKE,
		};

		ret = ioctl(h->uffd, UFFDIO_WRITEPROTECT, &wp);
		break;
	}
	default:
		return EINVAL;
	}
	return ret ? errno : 0;
}

/* Resolve one fault; returns false (after recording why) on error. */
static bool handler_resolve(struct uffd_handler *h, uint64_t addr, size_t pos)
{
	struct uffdio_range wake = { .start = addr, .len = h->psz };
	struct timespec pause = { .tv_nsec = 1000000 };
	int tries, err;

	for (tries = 0;; tries++) {
		err = handler_ioctl(h, addr, pos);
		if (!err) {
			atomic_fetch_add(&h->resolved, 1);
			break;
		}
		if (err == EEXIST) {	/* already resolved (duplicate fault) */
			atomic_fetch_add(&h->eexist, 1);
			break;
		}
		if (err == EAGAIN && tries < 1000) {	/* mm changing */
			nanosleep(&pause, NULL);
			continue;
		}
		handler_error(h, err, "%s(range offset %zu, 0x%llx, %zu bytes)",
			    action_str(h->cfg.action), pos,
			    (unsigned long long)addr, h->psz);
		return false;
	}
	if (ioctl(h->uffd, UFFDIO_WAKE, &wake)) {
		handler_error(h, errno, "UFFDIO_WAKE(range offset %zu)", pos);
		return false;
	}
	return true;
}

/* UFFD_ACT_WAKE: wake the fault without resolving it. */
static bool handler_wake_only(struct uffd_handler *h, uint64_t addr, size_t pos)
{
	struct uffdio_range wake = { .start = addr, .len = h->psz };

	if (ioctl(h->uffd, UFFDIO_WAKE, &wake)) {
		handler_error(h, errno, "UFFDIO_WAKE(range offset %zu), page not resolved",
			    pos);
		return false;
	}
	return true;
}

/* cfg.delay_max_us: sleep a random 0..delay_max_us. */
static void handler_delay(struct uffd_handler *h)
{
	unsigned int us = (unsigned int)test_rng_below(&h->delay_rng,
					(uint64_t)h->cfg.delay_max_us + 1);

	test_sleep_us(us);
	atomic_fetch_add(&h->delayed_us, us);
}

/* Count one fault message; false: stop the thread (hostile actions). */
static bool handler_handle(struct uffd_handler *h, const struct uffd_msg *msg)
{
	uint64_t flags = msg->arg.pagefault.flags;
	uint64_t addr = msg->arg.pagefault.address & ~(uint64_t)(h->psz - 1);
	uint64_t base = (uintptr_t)h->base;

	if (addr < base || addr >= base + h->len) {
		handler_error(h, 0, "fault at 0x%llx outside registered range %p+%zu",
			    (unsigned long long)msg->arg.pagefault.address,
			    (void *)h->base, h->len);
		return false;
	}
	if (flags & UFFD_PAGEFAULT_FLAG_WRITE)
		atomic_fetch_add(&h->write_faults, 1);
	if (flags & UFFD_PAGEFAULT_FLAG_WP)
		atomic_fetch_add(&h->wp_faults, 1);
	if (flags & UFFD_PAGEFAULT_FLAG_MINOR)
		atomic_fetch_add(&h->minor_faults, 1);

	if (h->cfg.action == UFFD_ACT_EXIT) {
		atomic_fetch_add(&h->faults, 1);
		return false;
	}
	if (h->cfg.action == UFFD_ACT_CLOSE) {
		struct timespec hold = {
			.tv_sec = h->cfg.hold_ms / 1000,
			.tv_nsec = (long)(h->cfg.hold_ms % 1000) * 1000000L,
		};

		atomic_fetch_add(&h->faults, 1);
		nanosleep(&hold, NULL);
		if (close(h->uffd))
			handler_error(h, errno, "close(uffd) in the handler");
		h->closed_by_thread = true;
		return false;
	}
	atomic_fetch_add(&h->faults, 1);
	if (atomic_load(&h->refuse)) {
		handler_error(h, 0, "fault at range offset %zu (0x%llx, %s) after faults were refused: the device still needed a page",
			      (size_t)(addr - base), (unsigned long long)addr,
			      flags & UFFD_PAGEFAULT_FLAG_WRITE ? "write" : "read");
		return false;
	}
	if (h->cfg.delay_max_us)
		handler_delay(h);
	if (h->cfg.before_answer) {
		char why[128] = "";

		if (!h->cfg.before_answer(h->cfg.before_answer_arg,
					  (size_t)(addr - base), why,
					  sizeof(why))) {
			handler_error(h, 0, "fault at range offset %zu: %s",
				    (size_t)(addr - base), why);
			return false;
		}
	}
	if (h->cfg.action == UFFD_ACT_WAKE)
		return handler_wake_only(h, addr, (size_t)(addr - base));
	return handler_resolve(h, addr, (size_t)(addr - base));
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
			break;
		}
		if (pfd[1].revents)		/* stop requested */
			break;
		if (pfd[0].revents & (POLLERR | POLLHUP | POLLNVAL)) {
			handler_error(h, 0, "poll: uffd revents 0x%x",
				    (unsigned int)pfd[0].revents);
			break;
		}
		if (!(pfd[0].revents & POLLIN))
			continue;
		n = read(h->uffd, &msg, sizeof(msg));
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				continue;
			handler_error(h, errno, "read(uffd)");
			break;
		}
		if (n != (ssize_t)sizeof(msg)) {
			handler_error(h, 0, "read(uffd): short read %zd of %zu",
				    n, sizeof(msg));
			break;
		}
		if (msg.event != UFFD_EVENT_PAGEFAULT) {
			handler_error(h, 0, "unexpected uffd event 0x%x",
				    (unsigned int)msg.event);
			break;
		}
		if (!handler_handle(h, &msg))
			break;
	}
	atomic_store(&h->exited, true);
	return NULL;
}

static const char *reg_mode_str(uint64_t mode)
{
	switch (mode) {
	case UFFDIO_REGISTER_MODE_MISSING: return "MISSING";
	case UFFDIO_REGISTER_MODE_WP: return "WP";
	case UFFDIO_REGISTER_MODE_MINOR: return "MINOR";
	}
	return "mixed";
}

/* The ioctl the action needs, as a bit of uffdio_register.ioctls. */
static uint64_t action_ioctl_bit(enum uffd_action a)
{
	switch (a) {
	case UFFD_ACT_COPY: return (uint64_t)1 << _UFFDIO_COPY;
	case UFFD_ACT_ZEROPAGE: return (uint64_t)1 << _UFFDIO_ZEROPAGE;
	case UFFD_ACT_CONTINUE: return (uint64_t)1 << _UFFDIO_CONTINUE;
	case UFFD_ACT_UNPROTECT: return (uint64_t)1 << _UFFDIO_WRITEPROTECT;
	default: return 0;
	}
}

/*
 * userfaultfd(O_CLOEXEC | O_NONBLOCK | extra) and the UFFDIO_API handshake
 * asking for features: TEST_SKIP when the kernel lacks one of them.
 */
static int open_api(struct test_ctx *t, unsigned int extra, uint64_t features,
		    int *fd)
{
	struct uffdio_api api = { .api = UFFD_API, .features = features };
	unsigned int flags = O_CLOEXEC | O_NONBLOCK | extra;
	int ufd;

	*fd = -1;
	ufd = (int)syscall(__NR_userfaultfd, flags);
	if (ufd < 0) {
		int err = errno;

		return test_fail(t, "userfaultfd(flags 0x%x): %s%s", flags,
				 strerror(err),
				 err == EPERM ? " (kernel faults need CAP_SYS_PTRACE or vm.unprivileged_userfaultfd=1)" :
				 err == ENOSYS ? " (CONFIG_USERFAULTFD off?)" : "");
	}
	if (ioctl(ufd, UFFDIO_API, &api)) {
		int err = errno;

		close(ufd);
		if (err == EINVAL && features)
			return test_skip(t, "ioctl(UFFDIO_API, features 0x%llx): EINVAL: kernel lacks a requested feature",
					 (unsigned long long)features);
		return test_fail(t, "ioctl(UFFDIO_API, features 0x%llx): %s",
				 (unsigned long long)features, strerror(err));
	}
	*fd = ufd;
	return TEST_PASS;
}

int uffd_open(struct test_ctx *t, int *fd)
{
	return open_api(t, 0, 0, fd);
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

static int handler_open_register(struct test_ctx *t, struct uffd_handler *h)
{
	struct uffdio_register reg = {
		.range = { .start = (uintptr_t)h->base, .len = h->len },
		.mode = h->cfg.reg_mode,
	};
	uint64_t need;
	int rc;

	rc = open_api(t, h->cfg.open_flags, h->cfg.features, &h->uffd);
	if (rc != TEST_PASS)
		return rc;
	if (ioctl(h->uffd, UFFDIO_REGISTER, &reg))
		return test_fail(t, "ioctl(UFFDIO_REGISTER, %s, %p+%zu): %s",
				 reg_mode_str(h->cfg.reg_mode), (void *)h->base,
				 h->len, strerror(errno));
	h->registered = true;
	need = action_ioctl_bit(h->cfg.action);
	if ((reg.ioctls & need) != need)
		return test_fail(t, "UFFDIO_REGISTER(%s): %s not offered (ioctls 0x%llx)",
				 reg_mode_str(h->cfg.reg_mode),
				 action_str(h->cfg.action),
				 (unsigned long long)reg.ioctls);
	return TEST_PASS;
}

/* What the thread needs besides the uffd: its source page and stop fd. */
static int handler_prepare(struct test_ctx *t, struct uffd_handler *h)
{
	if (h->cfg.action == UFFD_ACT_COPY) {
		h->src = aligned_alloc(page_size(), h->psz);
		if (!h->src)
			return test_fail(t, "aligned_alloc(uffd source, %zu): %s",
					 h->psz, strerror(errno));
	}
	h->stop_fd = eventfd(0, EFD_CLOEXEC);
	if (h->stop_fd < 0)
		return test_fail(t, "eventfd(uffd stop): %s", strerror(errno));
	return TEST_PASS;
}

int uffd_setup(struct test_ctx *t, struct uffd_handler *h,
	       const struct uffd_cfg *cfg, void *addr, size_t len, size_t psz)
{
	int rc = uffd_setup_held(t, h, cfg, addr, len, psz);

	return rc == TEST_PASS ? uffd_start(t, h) : rc;
}

int uffd_setup_held(struct test_ctx *t, struct uffd_handler *h,
		    const struct uffd_cfg *cfg, void *addr, size_t len,
		    size_t psz)
{
	int rc;

	h->cfg = *cfg;
	h->base = addr;
	h->len = len;
	h->psz = psz;
	/* Any non-zero start will do; differs between ranges. */
	h->delay_rng = ((uint64_t)(uintptr_t)addr ^ 0x9e3779b97f4a7c15ULL) | 1;
	if (cfg->action == UFFD_ACT_COPY && !cfg->fill)
		return test_fail(t, "uffd_setup: UFFDIO_COPY needs a fill function");
	rc = handler_open_register(t, h);
	return rc == TEST_PASS ? handler_prepare(t, h) : rc;
}

int uffd_protect_all(struct test_ctx *t, struct uffd_handler *h)
{
	struct uffdio_writeprotect wp = {
		.range = { .start = (uintptr_t)h->base, .len = h->len },
		.mode = UFFDIO_WRITEPROTECT_MODE_WP,
	};

	if (ioctl(h->uffd, UFFDIO_WRITEPROTECT, &wp))
		return test_fail(t, "ioctl(UFFDIO_WRITEPROTECT, WP, %p+%zu): %s",
				 (void *)h->base, h->len, strerror(errno));
	return TEST_PASS;
}

int uffd_close(struct test_ctx *t, struct uffd_handler *h)
{
	int fd = h->uffd;

	if (fd < 0)
		return TEST_PASS;
	h->uffd = -1;
	h->registered = false;	/* close unregisters the range */
	if (close(fd))
		return test_fail(t, "close(uffd): %s", strerror(errno));
	return TEST_PASS;
}

int uffd_teardown(struct test_ctx *t, struct uffd_handler *h)
{
	int rc = TEST_PASS, err;

	if (h->started) {
		uint64_t one = 1;

		if (write(h->stop_fd, &one, sizeof(one)) != (ssize_t)sizeof(one))
			/* Cannot stop the thread: joining would hang. */
			return test_fail(t, "write(uffd stop eventfd): %s",
					 strerror(errno));
		err = pthread_join(h->thread, NULL);
		if (err)
			rc = test_fail(t, "pthread_join(uffd handler): %s",
				       strerror(err));
		h->started = false;
		rc = test_worse(rc, uffd_handler_check(t, h));
	}
	if (h->closed_by_thread) {	/* the number may be reused by now */
		h->uffd = -1;
		h->registered = false;
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
	rc = test_worse(rc, uffd_close(t, h));
	free(h->src);
	h->src = NULL;
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

void uffd_handler_report(const struct uffd_handler *h, const char *when)
{
	tap_diag("uffd %s: faults=%lu write=%lu wp=%lu minor=%lu resolved=%lu eexist=%lu%s",
		 when, uffd_count(&h->faults), uffd_count(&h->write_faults),
		 uffd_count(&h->wp_faults), uffd_count(&h->minor_faults),
		 uffd_count(&h->resolved), uffd_count(&h->eexist),
		 uffd_handler_failed(h) ? " (handler FAILED)" : "");
}

int uffd_start(struct test_ctx *t, struct uffd_handler *h)
{
	int err;

	if (h->started)
		return test_fail(t, "uffd_start: the handler thread runs already");
	err = pthread_create(&h->thread, NULL, handler_thread, h);
	if (err)
		return test_fail(t, "pthread_create(uffd handler): %s",
				 strerror(err));
	h->started = true;
	return TEST_PASS;
}

int uffd_pending(struct test_ctx *t, const struct uffd_handler *h, bool *pending)
{
	struct pollfd pfd = { .fd = h->uffd, .events = POLLIN };
	int n = poll(&pfd, 1, 0);

	*pending = false;
	if (n < 0)
		return test_fail(t, "poll(uffd, POLLIN): %s", strerror(errno));
	if (n && pfd.revents != POLLIN)
		return test_fail(t, "poll(uffd): revents 0x%x",
				 (unsigned int)pfd.revents);
	*pending = n > 0;
	return TEST_PASS;
}

int uffd_missing_setup(struct test_ctx *t, struct uffd_handler *h, void *addr,
		       size_t len, uffd_fill_fn fill, const void *fill_arg)
{
	const struct uffd_cfg cfg = {
		.reg_mode = UFFDIO_REGISTER_MODE_MISSING,
		.action = UFFD_ACT_COPY,
		.fill = fill,
		.fill_arg = fill_arg,
	};

	return uffd_setup(t, h, &cfg, addr, len, page_size());
}

int uffd_setup_shared(struct test_ctx *t, struct uffd_handler *h,
		      const struct uffd_handler *first)
{
	int rc;

	h->cfg = first->cfg;
	h->base = first->base;
	h->len = first->len;
	h->psz = first->psz;
	h->delay_rng = first->delay_rng ^ 0xd1b54a32d192ed03ULL;
	if (!h->delay_rng)
		h->delay_rng = 1;
	/* The same open uffd; closing the duplicate leaves first's open, and
	 * h->registered stays false: the registration is first's. */
	h->uffd = fcntl(first->uffd, F_DUPFD_CLOEXEC, 0);
	if (h->uffd < 0)
		return test_fail(t, "fcntl(uffd, F_DUPFD_CLOEXEC) for a second handler thread: %s",
				 strerror(errno));
	rc = handler_prepare(t, h);
	return rc == TEST_PASS ? uffd_start(t, h) : rc;
}

void uffd_handler_refuse(struct uffd_handler *h)
{
	atomic_store(&h->refuse, true);
}

bool uffd_settle(const struct uffd_handler *h, int timeout_ms)
{
	double deadline = test_now_s() + timeout_ms / 1000.0;

	for (;;) {
		if (uffd_faults(h) == uffd_count(&h->resolved) +
				     uffd_count(&h->eexist))
			return true;
		if (uffd_handler_failed(h) || atomic_load(&h->exited) ||
		    test_now_s() > deadline)
			return false;
		test_sleep_us(1000);
	}
}

int uffd_check_resolved(struct test_ctx *t, const struct uffd_handler *h,
			unsigned long n, const char *what)
{
	unsigned long resolved, eexist, faults;

	if (!uffd_settle(h, 5000))
		tap_diag("%s: the handler has not answered every fault it read after 5 s",
			 what);
	resolved = uffd_count(&h->resolved);
	eexist = uffd_count(&h->eexist);
	faults = uffd_faults(h);
	uffd_handler_report(h, what);
	if (uffd_handler_failed(h))
		return uffd_handler_check(t, h);
	if (resolved != n)
		return test_fail(t, "%s: handler resolved %lu pages, expected %lu",
				 what, resolved, n);
	if (faults != resolved + eexist)
		return test_fail(t, "%s: %lu faults but %lu resolved + %lu EEXIST",
				 what, faults, resolved, eexist);
	return TEST_PASS;
}

/*
 * Poll until *c reaches n, up to timeout_ms.  The message says "uffd
 * handler <verb> <count> <noun> within ..." (judge signatures match
 * "saw 0 faults").
 */
static int wait_count(struct test_ctx *t, const struct uffd_handler *h,
		      const atomic_ulong *c, unsigned long n, int timeout_ms,
		      const char *verb, const char *noun)
{
	double deadline = test_now_s() + timeout_ms / 1000.0;

	while (uffd_count(c) < n) {
		if (uffd_handler_failed(h))
			return uffd_handler_check(t, h);
		if (test_now_s() > deadline)
			return test_fail(t, "uffd handler %s %lu %s within %d ms, expected %lu (faults=%lu resolved=%lu)",
					 verb, uffd_count(c), noun, timeout_ms,
					 n, uffd_faults(h),
					 uffd_count(&h->resolved));
		test_sleep_us(1000);
	}
	return TEST_PASS;
}

int uffd_wait_faults(struct test_ctx *t, const struct uffd_handler *h,
		     unsigned long n, int timeout_ms)
{
	return wait_count(t, h, &h->faults, n, timeout_ms, "saw", "faults");
}

int uffd_wait_resolved(struct test_ctx *t, const struct uffd_handler *h,
		       unsigned long n, int timeout_ms)
{
	return wait_count(t, h, &h->resolved, n, timeout_ms, "resolved",
			  "pages");
}
