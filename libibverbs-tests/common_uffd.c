// SPDX-License-Identifier: GPL-2.0
/*
 * userfaultfd modes for the libibverbs ODP tests; see common_uffd.h.
 */
#include "common_uffd.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/memfd.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* ================================================================== */
/* Test memory                                                          */

const char *tmem_kind_str(enum tmem_kind kind)
{
	switch (kind) {
	case TMEM_ANON: return "anonymous";
	case TMEM_SHMEM: return "shmem memfd";
	case TMEM_HUGETLB: return "hugetlb memfd (2 MiB)";
	}
	return "?";
}

static int tmem_map_fd(struct test_ctx *t, struct tmem *m, uint8_t **addr,
		       const char *what)
{
	void *p = mmap(NULL, m->len, PROT_READ | PROT_WRITE, MAP_SHARED,
		       m->memfd, 0);

	if (p == MAP_FAILED) {
		int err = errno;

		if (m->kind == TMEM_HUGETLB && err == ENOMEM)
			return test_skip(t, "mmap(%s, %zu bytes of hugetlb memfd): no free 2 MiB hugepages (vm.nr_hugepages)",
					 what, m->len);
		return test_fail(t, "mmap(%s, %zu bytes of %s, MAP_SHARED): %s",
				 what, m->len, tmem_kind_str(m->kind),
				 strerror(err));
	}
	*addr = p;
	return TEST_PASS;
}

static int tmem_create_steps(struct test_ctx *t, struct tmem *m,
			     bool with_alias)
{
	unsigned int mfd_flags = MFD_CLOEXEC;
	void *p;
	int rc;

	if (m->kind == TMEM_ANON) {
		p = mmap(NULL, m->len, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED)
			return test_fail(t, "mmap(anonymous, %zu bytes): %s",
					 m->len, strerror(errno));
		m->addr = p;
		return TEST_PASS;
	}
	if (m->kind == TMEM_HUGETLB)
		mfd_flags |= MFD_HUGETLB | MFD_HUGE_2MB;
	m->memfd = memfd_create("odp-uffd-test", mfd_flags);
	if (m->memfd < 0) {
		int err = errno;

		if (m->kind == TMEM_HUGETLB && (err == EINVAL || err == ENOENT))
			return test_skip(t, "memfd_create(MFD_HUGETLB|MFD_HUGE_2MB): %s (no 2 MiB hugetlbfs?)",
					 strerror(err));
		return test_fail(t, "memfd_create(%s): %s",
				 tmem_kind_str(m->kind), strerror(err));
	}
	if (ftruncate(m->memfd, (off_t)m->len))
		return test_fail(t, "ftruncate(%s memfd, %zu): %s",
				 tmem_kind_str(m->kind), m->len, strerror(errno));
	rc = tmem_map_fd(t, m, &m->addr, "registered mapping");
	if (rc == TEST_PASS && with_alias)
		rc = tmem_map_fd(t, m, &m->alias, "alias mapping");
	return rc;
}

int tmem_create(struct test_ctx *t, struct tmem *m, enum tmem_kind kind,
		size_t len, bool with_alias)
{
	int rc;

	tmem_init(m);
	m->kind = kind;
	m->len = len;
	m->psz = kind == TMEM_HUGETLB ? TMEM_HUGE_SIZE : page_size();
	if (len % m->psz)
		return test_fail(t, "tmem_create: %zu bytes is not a multiple of the %zu-byte page",
				 len, m->psz);
	if (with_alias && kind == TMEM_ANON)
		return test_fail(t, "tmem_create: anonymous memory has no alias mapping");
	rc = tmem_create_steps(t, m, with_alias);
	if (rc != TEST_PASS)
		rc = test_worse(rc, tmem_destroy(t, m));
	return rc;
}

int tmem_destroy(struct test_ctx *t, struct tmem *m)
{
	int rc = TEST_PASS;

	if (m->alias && munmap(m->alias, m->len))
		rc = test_fail(t, "munmap(alias mapping): %s", strerror(errno));
	m->alias = NULL;
	if (m->addr && munmap(m->addr, m->len))
		rc = test_fail(t, "munmap(%s mapping): %s",
			       tmem_kind_str(m->kind), strerror(errno));
	m->addr = NULL;
	if (m->memfd >= 0 && close(m->memfd))
		rc = test_fail(t, "close(memfd): %s", strerror(errno));
	m->memfd = -1;
	return rc;
}

/* ================================================================== */
/* Fault handler                                                        */

void uffdm_fill_pattern(const void *arg, size_t pos, uint8_t *buf, size_t len)
{
	pattern_fill(buf, len, *(const uint32_t *)arg, pos, page_size());
}

void uffdm_init(struct uffdm *h)
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
	atomic_init(&h->failed, false);
	atomic_init(&h->exited, false);
}

TEST_PRINTF(3, 4)
static void uffdm_error(struct uffdm *h, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(h->err_msg, sizeof(h->err_msg), fmt, ap);
	va_end(ap);
	h->err_errno = err;
	atomic_store_explicit(&h->failed, true, memory_order_release);
}

static const char *action_str(enum uffdm_action a)
{
	switch (a) {
	case UFFDM_COPY: return "UFFDIO_COPY";
	case UFFDM_ZEROPAGE: return "UFFDIO_ZEROPAGE";
	case UFFDM_CONTINUE: return "UFFDIO_CONTINUE";
	case UFFDM_UNPROTECT: return "UFFDIO_WRITEPROTECT";
	case UFFDM_CLOSE: return "close";
	case UFFDM_EXIT: return "exit";
	case UFFDM_WAKE: return "UFFDIO_WAKE";
	}
	return "?";
}

/*
 * Issue the resolving ioctl for the page at addr without waking (the
 * counters must be final before the faulting context runs on).
 * Returns 0, or the errno of the failed ioctl (EEXIST included).
 */
static int uffdm_ioctl(struct uffdm *h, uint64_t addr, size_t pos)
{
	struct uffdio_range range = { .start = addr, .len = h->psz };
	int ret;

	switch (h->cfg.action) {
	case UFFDM_COPY: {
		struct uffdio_copy copy = {
			.dst = addr, .src = (uintptr_t)h->src, .len = h->psz,
			.mode = UFFDIO_COPY_MODE_DONTWAKE,
		};

		h->cfg.fill(h->cfg.fill_arg, pos, h->src, h->psz);
		ret = ioctl(h->uffd, UFFDIO_COPY, &copy);
		break;
	}
	case UFFDM_ZEROPAGE: {
		struct uffdio_zeropage zp = {
			.range = range, .mode = UFFDIO_ZEROPAGE_MODE_DONTWAKE,
		};

		ret = ioctl(h->uffd, UFFDIO_ZEROPAGE, &zp);
		break;
	}
	case UFFDM_CONTINUE: {
		struct uffdio_continue cont = {
			.range = range, .mode = UFFDIO_CONTINUE_MODE_DONTWAKE,
		};

		ret = ioctl(h->uffd, UFFDIO_CONTINUE, &cont);
		break;
	}
	case UFFDM_UNPROTECT: {
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
static bool uffdm_resolve(struct uffdm *h, uint64_t addr, size_t pos)
{
	struct uffdio_range wake = { .start = addr, .len = h->psz };
	struct timespec pause = { .tv_nsec = 1000000 };
	int tries, err;

	for (tries = 0;; tries++) {
		err = uffdm_ioctl(h, addr, pos);
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
		uffdm_error(h, err, "%s(range offset %zu, 0x%llx, %zu bytes)",
			    action_str(h->cfg.action), pos,
			    (unsigned long long)addr, h->psz);
		return false;
	}
	if (ioctl(h->uffd, UFFDIO_WAKE, &wake)) {
		uffdm_error(h, errno, "UFFDIO_WAKE(range offset %zu)", pos);
		return false;
	}
	return true;
}

/* UFFDM_WAKE: wake the fault without resolving it. */
static bool uffdm_wake_only(struct uffdm *h, uint64_t addr, size_t pos)
{
	struct uffdio_range wake = { .start = addr, .len = h->psz };

	if (ioctl(h->uffd, UFFDIO_WAKE, &wake)) {
		uffdm_error(h, errno, "UFFDIO_WAKE(range offset %zu), page not resolved",
			    pos);
		return false;
	}
	return true;
}

/* cfg.delay_max_us: sleep a random 0..delay_max_us. */
static void uffdm_delay(struct uffdm *h)
{
	unsigned int us = (unsigned int)test_rng_below(&h->delay_rng,
					(uint64_t)h->cfg.delay_max_us + 1);

	test_sleep_us(us);
	atomic_fetch_add(&h->delayed_us, us);
}

/* Count one fault message; false: stop the thread (hostile actions). */
static bool uffdm_handle(struct uffdm *h, const struct uffd_msg *msg)
{
	uint64_t flags = msg->arg.pagefault.flags;
	uint64_t addr = msg->arg.pagefault.address & ~(uint64_t)(h->psz - 1);
	uint64_t base = (uintptr_t)h->base;

	if (addr < base || addr >= base + h->len) {
		uffdm_error(h, 0, "fault at 0x%llx outside registered range %p+%zu",
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

	if (h->cfg.action == UFFDM_EXIT) {
		atomic_fetch_add(&h->faults, 1);
		return false;
	}
	if (h->cfg.action == UFFDM_CLOSE) {
		struct timespec hold = {
			.tv_sec = h->cfg.hold_ms / 1000,
			.tv_nsec = (long)(h->cfg.hold_ms % 1000) * 1000000L,
		};

		atomic_fetch_add(&h->faults, 1);
		nanosleep(&hold, NULL);
		if (close(h->uffd))
			uffdm_error(h, errno, "close(uffd) in the handler");
		h->closed_by_thread = true;
		return false;
	}
	atomic_fetch_add(&h->faults, 1);
	if (h->cfg.delay_max_us)
		uffdm_delay(h);
	if (h->cfg.before_answer) {
		char why[128] = "";

		if (!h->cfg.before_answer(h->cfg.before_answer_arg,
					  (size_t)(addr - base), why,
					  sizeof(why))) {
			uffdm_error(h, 0, "fault at range offset %zu: %s",
				    (size_t)(addr - base), why);
			return false;
		}
	}
	if (h->cfg.action == UFFDM_WAKE)
		return uffdm_wake_only(h, addr, (size_t)(addr - base));
	return uffdm_resolve(h, addr, (size_t)(addr - base));
}

static void *uffdm_thread(void *arg)
{
	struct uffdm *h = arg;
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
			uffdm_error(h, errno, "poll(uffd, stop fd)");
			break;
		}
		if (pfd[1].revents)		/* stop requested */
			break;
		if (pfd[0].revents & (POLLERR | POLLHUP | POLLNVAL)) {
			uffdm_error(h, 0, "poll: uffd revents 0x%x",
				    (unsigned int)pfd[0].revents);
			break;
		}
		if (!(pfd[0].revents & POLLIN))
			continue;
		n = read(h->uffd, &msg, sizeof(msg));
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				continue;
			uffdm_error(h, errno, "read(uffd)");
			break;
		}
		if (n != (ssize_t)sizeof(msg)) {
			uffdm_error(h, 0, "read(uffd): short read %zd of %zu",
				    n, sizeof(msg));
			break;
		}
		if (msg.event != UFFD_EVENT_PAGEFAULT) {
			uffdm_error(h, 0, "unexpected uffd event 0x%x",
				    (unsigned int)msg.event);
			break;
		}
		if (!uffdm_handle(h, &msg))
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
static uint64_t action_ioctl_bit(enum uffdm_action a)
{
	switch (a) {
	case UFFDM_COPY: return (uint64_t)1 << _UFFDIO_COPY;
	case UFFDM_ZEROPAGE: return (uint64_t)1 << _UFFDIO_ZEROPAGE;
	case UFFDM_CONTINUE: return (uint64_t)1 << _UFFDIO_CONTINUE;
	case UFFDM_UNPROTECT: return (uint64_t)1 << _UFFDIO_WRITEPROTECT;
	default: return 0;
	}
}

static int uffdm_open_register(struct test_ctx *t, struct uffdm *h)
{
	struct uffdio_api api = { .api = UFFD_API, .features = h->cfg.features };
	struct uffdio_register reg = {
		.range = { .start = (uintptr_t)h->base, .len = h->len },
		.mode = h->cfg.reg_mode,
	};
	unsigned int flags = O_CLOEXEC | O_NONBLOCK | h->cfg.open_flags;
	uint64_t need;

	h->uffd = (int)syscall(__NR_userfaultfd, flags);
	if (h->uffd < 0) {
		int err = errno;

		return test_fail(t, "userfaultfd(flags 0x%x): %s%s", flags,
				 strerror(err),
				 err == EPERM ? " (kernel faults need CAP_SYS_PTRACE or vm.unprivileged_userfaultfd=1)" : "");
	}
	if (ioctl(h->uffd, UFFDIO_API, &api)) {
		int err = errno;

		if (err == EINVAL)
			return test_skip(t, "ioctl(UFFDIO_API, features 0x%llx): EINVAL: kernel lacks a requested feature",
					 (unsigned long long)h->cfg.features);
		return test_fail(t, "ioctl(UFFDIO_API, features 0x%llx): %s",
				 (unsigned long long)h->cfg.features,
				 strerror(err));
	}
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

int uffdm_setup(struct test_ctx *t, struct uffdm *h, const struct uffdm_cfg *cfg,
		void *addr, size_t len, size_t psz)
{
	int rc = uffdm_setup_held(t, h, cfg, addr, len, psz);

	return rc == TEST_PASS ? uffdm_start(t, h) : rc;
}

int uffdm_setup_held(struct test_ctx *t, struct uffdm *h,
		     const struct uffdm_cfg *cfg, void *addr, size_t len,
		     size_t psz)
{
	int rc;

	h->cfg = *cfg;
	h->base = addr;
	h->len = len;
	h->psz = psz;
	/* Any non-zero start will do; differs between ranges. */
	h->delay_rng = ((uint64_t)(uintptr_t)addr ^ 0x9e3779b97f4a7c15ULL) | 1;
	if (cfg->action == UFFDM_COPY && !cfg->fill)
		return test_fail(t, "uffdm_setup: UFFDIO_COPY needs a fill function");
	rc = uffdm_open_register(t, h);
	if (rc != TEST_PASS)
		return rc;
	if (cfg->action == UFFDM_COPY) {
		h->src = aligned_alloc(page_size(), psz);
		if (!h->src)
			return test_fail(t, "aligned_alloc(uffd source, %zu): %s",
					 psz, strerror(errno));
	}
	h->stop_fd = eventfd(0, EFD_CLOEXEC);
	if (h->stop_fd < 0)
		return test_fail(t, "eventfd(uffd stop): %s", strerror(errno));
	return TEST_PASS;
}

int uffdm_protect_all(struct test_ctx *t, struct uffdm *h)
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

int uffdm_close(struct test_ctx *t, struct uffdm *h)
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

int uffdm_teardown(struct test_ctx *t, struct uffdm *h)
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
		rc = test_worse(rc, uffdm_check(t, h));
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
	rc = test_worse(rc, uffdm_close(t, h));
	free(h->src);
	h->src = NULL;
	return rc;
}

bool uffdm_failed(const struct uffdm *h)
{
	return atomic_load_explicit(&h->failed, memory_order_acquire);
}

int uffdm_check(struct test_ctx *t, const struct uffdm *h)
{
	if (!uffdm_failed(h))
		return TEST_PASS;
	return test_fail(t, "uffd handler thread failed: %s%s%s", h->err_msg,
			 h->err_errno ? ": " : "",
			 h->err_errno ? strerror(h->err_errno) : "");
}

void uffdm_report(const struct uffdm *h, const char *when)
{
	tap_diag("uffd %s: faults=%lu write=%lu wp=%lu minor=%lu resolved=%lu eexist=%lu%s",
		 when, uffdm_count(&h->faults), uffdm_count(&h->write_faults),
		 uffdm_count(&h->wp_faults), uffdm_count(&h->minor_faults),
		 uffdm_count(&h->resolved), uffdm_count(&h->eexist),
		 uffdm_failed(h) ? " (handler FAILED)" : "");
}

int uffdm_start(struct test_ctx *t, struct uffdm *h)
{
	int err;

	if (h->started)
		return test_fail(t, "uffdm_start: the handler thread runs already");
	err = pthread_create(&h->thread, NULL, uffdm_thread, h);
	if (err)
		return test_fail(t, "pthread_create(uffd handler): %s",
				 strerror(err));
	h->started = true;
	return TEST_PASS;
}

int uffdm_pending(struct test_ctx *t, const struct uffdm *h, bool *pending)
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
