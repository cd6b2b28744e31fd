/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The userfaultfd library of the libibverbs ODP tests (model: the kernel's
 * tools/testing/selftests/mm/uffd-common.c): one fault handler thread per
 * uffd that resolves MISSING faults (UFFDIO_COPY of a fill pattern, or
 * UFFDIO_ZEROPAGE), MINOR faults (UFFDIO_CONTINUE) and write-protect faults
 * (UFFDIO_WRITEPROTECT), or behaves badly on purpose (closes its uffd, stops
 * reading, wakes without resolving).  What a memory kind needs from the uffd
 * (its features per register mode) is in its ops table (mem.h).
 *
 * No state outside the structures passed in.
 */
#ifndef LIBIBVERBS_TESTS_UFFD_H
#define LIBIBVERBS_TESTS_UFFD_H

#include "mem.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* How the handler answers a fault. */
enum uffd_action {
	UFFD_ACT_COPY,		/* MISSING: UFFDIO_COPY of the fill pattern */
	UFFD_ACT_ZEROPAGE,	/* MISSING: UFFDIO_ZEROPAGE */
	UFFD_ACT_CONTINUE,	/* MINOR: UFFDIO_CONTINUE (page cache content) */
	UFFD_ACT_UNPROTECT,	/* WP: UFFDIO_WRITEPROTECT mode 0 */
	UFFD_ACT_CLOSE,		/* hostile: on the first fault wait hold_ms,
				 * then close the uffd and exit the thread */
	UFFD_ACT_EXIT,		/* hostile: on the first fault exit the thread
				 * without answering (the test closes later) */
	UFFD_ACT_WAKE,		/* hostile: UFFDIO_WAKE each fault's page
				 * without resolving it (after delay_max_us
				 * like a resolving action): the access
				 * faults again, forever */
};

/* Fill len bytes that will appear at byte position pos of the range. */
typedef void (*uffd_fill_fn)(const void *arg, size_t pos, uint8_t *buf,
			     size_t len);
/* uffd_fill_fn for pattern_byte() with 4 KiB pattern pages; arg: a
 * uint32_t seed. */
void uffd_fill_pattern(const void *arg, size_t pos, uint8_t *buf, size_t len);

struct uffd_cfg {
	unsigned int open_flags;	/* extra userfaultfd() flags:
					 * UFFD_USER_MODE_ONLY */
	uint64_t features;		/* UFFDIO_API features to request */
	uint64_t reg_mode;		/* UFFDIO_REGISTER_MODE_* */
	enum uffd_action action;
	uffd_fill_fn fill;		/* UFFD_ACT_COPY only */
	const void *fill_arg;
	unsigned int hold_ms;		/* UFFD_ACT_CLOSE: delay before close */
	unsigned int delay_max_us;	/* resolving actions: sleep a random
					 * 0..delay_max_us before answering
					 * each fault (0: answer at once) */
	/*
	 * Resolving actions, optional: called by the handler thread right
	 * before it answers each fault (after any delay), with the offset of
	 * the faulting backing page in the range.  Returning false fails the
	 * handler with the reason written to why (a NUL-terminated string).
	 */
	bool (*before_answer)(const void *arg, size_t pos, char *why,
			      size_t why_len);
	const void *before_answer_arg;
};

struct uffd_handler {
	struct uffd_cfg cfg;
	int uffd;		/* -1 when closed */
	int stop_fd;		/* eventfd telling the thread to exit */
	uint8_t *base;		/* registered range */
	size_t len;
	size_t psz;		/* fault granule: backing page size */
	uint8_t *src;		/* UFFDIO_COPY source, one backing page */
	bool registered;	/* this handler registered the range */
	bool started;
	bool closed_by_thread;	/* UFFD_ACT_CLOSE did it (read after join) */
	pthread_t thread;
	uint64_t delay_rng;	/* cfg.delay_max_us: the thread's PRNG state */
	atomic_ulong faults;		/* UFFD_EVENT_PAGEFAULT messages */
	atomic_ulong write_faults;	/* ... flagged WRITE */
	atomic_ulong wp_faults;		/* ... flagged WP */
	atomic_ulong minor_faults;	/* ... flagged MINOR */
	atomic_ulong resolved;		/* successful COPY/ZEROPAGE/CONTINUE/WP */
	atomic_ulong eexist;		/* COPY/ZEROPAGE/CONTINUE: already there */
	atomic_ulong delayed_us;	/* cfg.delay_max_us: total time slept */
	atomic_bool refuse;		/* uffd_handler_refuse(): answer no more */
	atomic_bool failed;		/* set (release) after err_* are written */
	atomic_bool exited;		/* the thread returned */
	int err_errno;
	char err_msg[192];
};

void uffd_handler_init(struct uffd_handler *h);

/* userfaultfd(O_CLOEXEC|O_NONBLOCK) + UFFDIO_API handshake, features 0:
 * for tests that drive a uffd themselves, without a handler thread. */
int uffd_open(struct test_ctx *t, int *fd);
/* UFFDIO_REGISTER_MODE_MISSING on [addr, addr+len); checks UFFDIO_COPY. */
int uffd_register_missing(struct test_ctx *t, int fd, void *addr, size_t len);

/*
 * Open a uffd with cfg, register [addr, addr + len) (psz: the backing page
 * size) and start the handler thread.  TEST_SKIP when the kernel lacks a
 * requested feature or register mode.
 */
int uffd_setup(struct test_ctx *t, struct uffd_handler *h,
	       const struct uffd_cfg *cfg, void *addr, size_t len, size_t psz);
/*
 * uffd_setup() for the common case: anonymous memory registered MISSING,
 * each fault answered with UFFDIO_COPY of fill(fill_arg) (4 KiB pages).
 */
int uffd_missing_setup(struct test_ctx *t, struct uffd_handler *h, void *addr,
		       size_t len, uffd_fill_fn fill, const void *fill_arg);
/*
 * uffd_setup() in two steps: uffd_setup_held() opens and registers the
 * range but starts no thread, so device faults wait at the uffd (unread)
 * until uffd_start() starts the handler.  uffd_teardown() handles both.
 */
int uffd_setup_held(struct test_ctx *t, struct uffd_handler *h,
		    const struct uffd_cfg *cfg, void *addr, size_t len,
		    size_t psz);
int uffd_start(struct test_ctx *t, struct uffd_handler *h);
/*
 * A second handler thread on the uffd of first (set up and running): h
 * reads the same uffd (a duplicate of its fd) and resolves the faults it
 * reads the way first does, with its own source page and counters (add the
 * two up).  The registration stays first's: tear h down before first.
 */
int uffd_setup_shared(struct test_ctx *t, struct uffd_handler *h,
		      const struct uffd_handler *first);
/* Stop and join the thread, unregister and close the uffd (unless already
 * closed), report a handler error.  Safe on a handler that was only
 * initialised or partly set up. */
int uffd_teardown(struct test_ctx *t, struct uffd_handler *h);
/* Close the uffd now (the test's own close of a UFFD_ACT_EXIT handler's
 * uffd; the thread must have exited).  Releases any fault waiting on it. */
int uffd_close(struct test_ctx *t, struct uffd_handler *h);

/* UFFDIO_WRITEPROTECT mode WP on the whole registered range. */
int uffd_protect_all(struct test_ctx *t, struct uffd_handler *h);
/* A held handler: is a fault message queued at its uffd (poll, nothing
 * read)? */
int uffd_pending(struct test_ctx *t, const struct uffd_handler *h,
		 bool *pending);
/*
 * From now on h answers no fault: the next one fails the handler ("fault at
 * range offset N after faults were refused"), which rdma_wait_wc() watching
 * h reports at once.  For checking that the device needs no further fault.
 */
void uffd_handler_refuse(struct uffd_handler *h);

/* TEST_FAIL (with the recorded error printed) if the thread failed. */
int uffd_handler_check(struct test_ctx *t, const struct uffd_handler *h);
bool uffd_handler_failed(const struct uffd_handler *h);
static inline unsigned long uffd_count(const atomic_ulong *c)
{
	return atomic_load(c);
}
static inline unsigned long uffd_faults(const struct uffd_handler *h)
{
	return uffd_count(&h->faults);
}
static inline unsigned long uffd_write_faults(const struct uffd_handler *h)
{
	return uffd_count(&h->write_faults);
}
/* "# uffd <when>: faults=.. write=.. wp=.. minor=.. resolved=.. eexist=.." */
void uffd_handler_report(const struct uffd_handler *h, const char *when);
/*
 * Wait, up to timeout_ms, until h has answered every fault message it read
 * (faults == resolved + eexist), failed or exited.  An operation can
 * complete before that: the device retries an access (rxe: after an RNR
 * NAK) and finds the page the handler installed but has not counted yet.
 * Returns whether it settled.
 */
bool uffd_settle(const struct uffd_handler *h, int timeout_ms);
/*
 * The operation made the handler resolve exactly n pages, each once (any
 * other fault message found its page there: EEXIST), and the handler
 * reported no error.  Settles first (uffd_settle(), 5 s), then reports the
 * counters (what names h).
 */
int uffd_check_resolved(struct test_ctx *t, const struct uffd_handler *h,
			unsigned long n, const char *what);
/* Wait for a count of faults seen by h (async faulting), up to timeout_ms. */
int uffd_wait_faults(struct test_ctx *t, const struct uffd_handler *h,
		     unsigned long n, int timeout_ms);
/* Wait until h resolved n pages, up to timeout_ms. */
int uffd_wait_resolved(struct test_ctx *t, const struct uffd_handler *h,
		       unsigned long n, int timeout_ms);

#endif /* LIBIBVERBS_TESTS_UFFD_H */
