/* SPDX-License-Identifier: GPL-2.0 */
/*
 * userfaultfd modes for the libibverbs ODP tests: test memory of several
 * kinds (anonymous, shmem memfd, hugetlb memfd, each optionally with a second
 * "alias" mapping of the same file), and one fault handler thread that can
 * resolve MISSING faults (UFFDIO_COPY or UFFDIO_ZEROPAGE), MINOR faults
 * (UFFDIO_CONTINUE) and write-protect faults (UFFDIO_WRITEPROTECT), or behave
 * badly on purpose (close its uffd, or stop reading, on the first fault).
 *
 * The MISSING-only helper in common.h (struct uffd_handler) stays as it is;
 * this is the general one.  No state outside the structures passed in.
 */
#ifndef LIBIBVERBS_TESTS_COMMON_UFFD_H
#define LIBIBVERBS_TESTS_COMMON_UFFD_H

#include "common.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ------------------------------------------------------------------ */
/* Test memory                                                          */

enum tmem_kind {
	TMEM_ANON,	/* MAP_PRIVATE | MAP_ANONYMOUS */
	TMEM_SHMEM,	/* memfd_create(), MAP_SHARED */
	TMEM_HUGETLB,	/* memfd_create(MFD_HUGETLB | MFD_HUGE_2MB), MAP_SHARED */
};

#define TMEM_HUGE_SIZE	(2UL << 20)

struct tmem {
	enum tmem_kind kind;
	int memfd;		/* -1 for anonymous memory */
	uint8_t *addr;		/* the mapping the tests register */
	uint8_t *alias;		/* second MAP_SHARED mapping of memfd, or NULL */
	size_t len;
	size_t psz;		/* backing page size: 4 KiB or 2 MiB */
};

const char *tmem_kind_str(enum tmem_kind kind);
/*
 * Map len bytes (a multiple of the backing page size) of the given kind;
 * with_alias maps the memfd a second time (not for TMEM_ANON).  TEST_SKIP
 * when hugetlb pages are not available.  On failure nothing stays mapped.
 */
int tmem_create(struct test_ctx *t, struct tmem *m, enum tmem_kind kind,
		size_t len, bool with_alias);
/* Unmap and close; no-op on a zeroed/failed tmem. */
int tmem_destroy(struct test_ctx *t, struct tmem *m);
static inline void tmem_init(struct tmem *m)
{
	*m = (struct tmem){ .memfd = -1 };
}

/* ------------------------------------------------------------------ */
/* Fault handler                                                        */

/* How the handler answers a fault. */
enum uffdm_action {
	UFFDM_COPY,		/* MISSING: UFFDIO_COPY of the fill pattern */
	UFFDM_ZEROPAGE,		/* MISSING: UFFDIO_ZEROPAGE */
	UFFDM_CONTINUE,		/* MINOR: UFFDIO_CONTINUE (page cache content) */
	UFFDM_UNPROTECT,	/* WP: UFFDIO_WRITEPROTECT mode 0 */
	UFFDM_CLOSE,		/* hostile: on the first fault wait hold_ms,
				 * then close the uffd and exit the thread */
	UFFDM_EXIT,		/* hostile: on the first fault exit the thread
				 * without answering (the test closes later) */
	UFFDM_WAKE,		/* hostile: UFFDIO_WAKE each fault's page
				 * without resolving it (after delay_max_us
				 * like a resolving action): the access
				 * faults again, forever */
};

/* Fill len bytes that will appear at byte position pos of the range. */
typedef void (*uffdm_fill_fn)(const void *arg, size_t pos, uint8_t *buf,
			      size_t len);
/* uffdm_fill_fn for pattern_byte() with 4 KiB pattern pages; arg: seed. */
void uffdm_fill_pattern(const void *arg, size_t pos, uint8_t *buf, size_t len);

struct uffdm_cfg {
	unsigned int open_flags;	/* extra userfaultfd() flags:
					 * UFFD_USER_MODE_ONLY */
	uint64_t features;		/* UFFDIO_API features to request */
	uint64_t reg_mode;		/* UFFDIO_REGISTER_MODE_* */
	enum uffdm_action action;
	uffdm_fill_fn fill;		/* UFFDM_COPY only */
	const void *fill_arg;
	unsigned int hold_ms;		/* UFFDM_CLOSE: delay before close */
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

struct uffdm {
	struct uffdm_cfg cfg;
	int uffd;		/* -1 when closed */
	int stop_fd;		/* eventfd telling the thread to exit */
	uint8_t *base;		/* registered range */
	size_t len;
	size_t psz;		/* fault granule: backing page size */
	uint8_t *src;		/* UFFDIO_COPY source, one backing page */
	bool registered;
	bool started;
	bool closed_by_thread;	/* UFFDM_CLOSE did it (read after join) */
	pthread_t thread;
	uint64_t delay_rng;	/* cfg.delay_max_us: the thread's PRNG state */
	atomic_ulong faults;		/* UFFD_EVENT_PAGEFAULT messages */
	atomic_ulong write_faults;	/* ... flagged WRITE */
	atomic_ulong wp_faults;		/* ... flagged WP */
	atomic_ulong minor_faults;	/* ... flagged MINOR */
	atomic_ulong resolved;		/* successful COPY/ZEROPAGE/CONTINUE/WP */
	atomic_ulong eexist;		/* COPY/ZEROPAGE/CONTINUE: already there */
	atomic_ulong delayed_us;	/* cfg.delay_max_us: total time slept */
	atomic_bool failed;		/* set (release) after err_* are written */
	atomic_bool exited;		/* the thread returned */
	int err_errno;
	char err_msg[192];
};

void uffdm_init(struct uffdm *h);
/*
 * Open a uffd with cfg, register [addr, addr + len) (psz: the backing page
 * size) and start the handler thread.  TEST_SKIP when the kernel lacks a
 * requested feature or register mode.
 */
int uffdm_setup(struct test_ctx *t, struct uffdm *h, const struct uffdm_cfg *cfg,
		void *addr, size_t len, size_t psz);
/* UFFDIO_WRITEPROTECT mode WP on the whole registered range. */
int uffdm_protect_all(struct test_ctx *t, struct uffdm *h);
/* Stop and join the thread, unregister and close the uffd (unless already
 * closed), report a handler error.  Safe on a partly set up handler. */
int uffdm_teardown(struct test_ctx *t, struct uffdm *h);
/* Close the uffd now (the test's own close of a UFFDM_EXIT handler's uffd;
 * the thread must have exited).  Releases any fault waiting on it. */
int uffdm_close(struct test_ctx *t, struct uffdm *h);
int uffdm_check(struct test_ctx *t, const struct uffdm *h);
bool uffdm_failed(const struct uffdm *h);
static inline unsigned long uffdm_count(const atomic_ulong *c)
{
	return atomic_load(c);
}
/* "# uffd <when>: faults=.. write=.. wp=.. minor=.. resolved=.. eexist=.." */
void uffdm_report(const struct uffdm *h, const char *when);

/*
 * uffdm_setup() in two steps: uffdm_setup_held() opens and registers the
 * range but starts no thread, so device faults wait at the uffd (unread)
 * until uffdm_start() starts the handler.  uffdm_teardown() handles both.
 */
int uffdm_setup_held(struct test_ctx *t, struct uffdm *h,
		     const struct uffdm_cfg *cfg, void *addr, size_t len,
		     size_t psz);
int uffdm_start(struct test_ctx *t, struct uffdm *h);
/* A held handler: is a fault message queued at its uffd (poll, nothing
 * read)? */
int uffdm_pending(struct test_ctx *t, const struct uffdm *h, bool *pending);

#endif /* LIBIBVERBS_TESTS_COMMON_UFFD_H */
