/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Shared helpers for the libibverbs ODP/userfaultfd tests:
 *  - TAP/KTAP output and a fork-per-test runner with time bounds,
 *  - loopback RC QP setup on one device (rc_pingpong style),
 *  - userfaultfd MISSING registration and a fault handler thread,
 *  - data patterns, and single work request post + bounded completion wait.
 *
 * No function here keeps state outside the structures passed to it.
 */
#ifndef LIBIBVERBS_TESTS_COMMON_H
#define LIBIBVERBS_TESTS_COMMON_H

#include <infiniband/verbs.h>
#include <pthread.h>
#include <stdatomic.h>
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
#define TEST_DEFAULT_TIMEOUT_S	60
#define TEST_WC_TIMEOUT_MS	20000

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
 * Time bounds.  A test's own .timeout_s is its bound; -T sets the bound of
 * the tests that have none (default TEST_DEFAULT_TIMEOUT_S).  -T never
 * raises or lowers a test's own bound, so that a test can fail on its own
 * when something it guards waits longer than it may (rxe's 50 s pool
 * timeout, say).  -S multiplies every bound, its own or -T's, for kernels
 * that are slower throughout (a debug kernel under TCG); the default is 1.
 */
struct test_opts {
	const char *dev;
	int gid_index;
	unsigned int timeout_s;		/* -T: bound of a test without its own */
	unsigned int time_scale;	/* -S: every bound times this */
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
					 * value (default 60 s) */
	const void *arg;		/* handed to fn as t->arg (variants) */
};

/*
 * -l prints one line per test: "<name>\tneeds=<fix>[,<fix>...]|-" and, if
 * set, "\tsig=<regex>" (make check's judge reads it).
 *
 * Parse -l, -t name (repeatable), -d dev, -g gid_index, -T timeout_s,
 * -S time_scale, -v, -h; run the selected tests, each in a forked child
 * bounded by its own .timeout_s or else -T, times -S; print TAP.
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

/* ------------------------------------------------------------------ */
/* Memory and patterns                                                 */

size_t page_size(void);
/* Anonymous private mapping; *addr stays NULL on failure. */
int mem_map(struct test_ctx *t, size_t len, void **addr, const char *what);
/* munmap and clear *addr; no-op if *addr is NULL. */
int mem_unmap(struct test_ctx *t, void **addr, size_t len, const char *what);

/* Byte at position pos (from the start of a page-aligned region). */
static inline uint8_t pattern_byte(uint32_t seed, size_t pos, size_t psz)
{
	size_t page = pos / psz, off = pos % psz;

	return (uint8_t)(seed * 131u + page * 7u + off * 13u + (off >> 8));
}

/* buf[i] = pattern_byte(seed, pos + i) */
void pattern_fill(void *buf, size_t len, uint32_t seed, size_t pos,
		  size_t psz);
/* Check buf against the pattern; report the first mismatch. */
int pattern_verify(struct test_ctx *t, const void *buf, size_t len,
		   uint32_t seed, size_t pos, size_t psz, const char *what);
/* Check that every byte of buf equals val; pos is only used in messages. */
int bytes_verify(struct test_ctx *t, const void *buf, size_t len, uint8_t val,
		 size_t pos, const char *what);

/* ------------------------------------------------------------------ */
/* userfaultfd                                                          */

/* Fill one page that is about to be installed at page index page_index. */
typedef void (*uffd_fill_fn)(const void *arg, size_t page_index,
			     uint8_t *page, size_t psz);
/* uffd_fill_fn for pattern_byte(); arg points to a uint32_t seed. */
void uffd_fill_pattern(const void *arg, size_t page_index, uint8_t *page,
		       size_t psz);

struct uffd_handler {
	int uffd;		/* -1 when closed */
	int stop_fd;		/* eventfd telling the thread to exit */
	uint8_t *base;		/* registered range (page aligned) */
	size_t len;
	size_t psz;
	bool registered;
	bool started;
	uffd_fill_fn fill;
	const void *fill_arg;
	uint8_t *src_page;	/* UFFDIO_COPY source, thread private */
	pthread_t thread;
	atomic_ulong faults;		/* UFFD_EVENT_PAGEFAULT messages */
	atomic_ulong write_faults;	/* ... with UFFD_PAGEFAULT_FLAG_WRITE */
	atomic_ulong copies;		/* successful UFFDIO_COPY */
	atomic_ulong eexist;		/* UFFDIO_COPY found the page present */
	atomic_bool refuse;		/* uffd_handler_refuse(): answer no more */
	atomic_bool failed;	/* set (release) after err_* are written */
	int err_errno;
	char err_msg[192];
};

void uffd_handler_init(struct uffd_handler *h);
/* userfaultfd(O_CLOEXEC|O_NONBLOCK) + UFFDIO_API handshake, features 0. */
int uffd_open(struct test_ctx *t, int *fd);
/* UFFDIO_REGISTER_MODE_MISSING on [addr, addr+len); checks UFFDIO_COPY. */
int uffd_register_missing(struct test_ctx *t, int fd, void *addr, size_t len);
/* Open, register [addr, addr+len) MISSING and start the handler thread. */
int uffd_missing_setup(struct test_ctx *t, struct uffd_handler *h, void *addr,
		       size_t len, uffd_fill_fn fill, const void *fill_arg);
/* Stop and join the thread, unregister, close; reports a handler error.
 * Safe on a handler that was only initialised or partly set up. */
int uffd_missing_teardown(struct test_ctx *t, struct uffd_handler *h);
/* TEST_FAIL (with the recorded error printed) if the thread failed. */
int uffd_handler_check(struct test_ctx *t, const struct uffd_handler *h);
bool uffd_handler_failed(const struct uffd_handler *h);
unsigned long uffd_faults(const struct uffd_handler *h);
unsigned long uffd_write_faults(const struct uffd_handler *h);
/* "# uffd <when>: faults=.. write=.. copies=.. eexist=.." */
void uffd_handler_report(const struct uffd_handler *h, const char *when);

/* ------------------------------------------------------------------ */
/* RDMA                                                                 */

#define RDMA_PORT_NUM	1

/* What the test needs from the device; missing -> TEST_SKIP. */
struct rdma_caps_req {
	bool odp;		/* odp_caps.general_caps & IBV_ODP_SUPPORT */
	uint32_t rc_odp_caps;	/* IBV_ODP_SUPPORT_{SEND,RECV,WRITE,READ,...} */
	uint32_t ud_odp_caps;	/* the same for UD QPs */
	uint64_t cap_flags_ex;	/* device_cap_flags_ex bits (IB_UVERBS_DEVICE_*) */
	/* QPs: 0 means RC.  IBV_QPT_UD: UD QPs plus an address handle. */
	enum ibv_qp_type qp_type;
	/* Non-zero: create the QPs with ibv_create_qp_ex() and these
	 * IBV_QP_EX_WITH_* flags (qpx[] is then set). */
	uint64_t send_ops_flags;
	/* The QPs' path MTU: 0 means IBV_MTU_1024 (so a page is several
	 * packets); never more than the port's active MTU. */
	enum ibv_mtu mtu;
};

#define RDMA_UD_QKEY	0x11111111u
#define RDMA_GRH_LEN	40	/* UD receive buffers start with the GRH */

/* Two QPs on one port, connected to each other: qp[0] <-> qp[1]. */
struct rdma_res {
	struct ibv_context *ctx;
	struct ibv_pd *pd;
	struct ibv_cq *cq[2];	/* cq[i] is send and recv CQ of qp[i] */
	struct ibv_qp *qp[2];
	struct ibv_qp_ex *qpx[2];	/* with req->send_ops_flags only */
	struct ibv_ah *ah;	/* UD: address of our own GID */
	struct ibv_device_attr_ex dev_attr;
	struct ibv_port_attr port_attr;
	union ibv_gid gid;
	uint8_t port_num;
	int gid_index;
	enum ibv_mtu mtu;
	enum ibv_qp_type qp_type;
	uint64_t send_ops_flags;
	const char *dev_name;
};

/* On failure or skip everything created so far is released. */
int rdma_setup(struct test_ctx *t, struct rdma_res *r,
	       const struct rdma_caps_req *req);
/*
 * Two RDMA hosts: open dev_a into a and dev_b into b (each with its own PD
 * and the -g GID index) and create one RC QP on each, a->qp[0] connected to
 * b->qp[0]; qp[1] stays NULL.  TEST_SKIP when a device is absent.
 */
int rdma_setup_2host(struct test_ctx *t, struct rdma_res *a,
		     struct rdma_res *b, const char *dev_a, const char *dev_b,
		     const struct rdma_caps_req *req);
/* Reverse-order teardown; NULL members are skipped. */
int rdma_teardown(struct test_ctx *t, struct rdma_res *r);

/* One more loopback-connected QP pair (RC or UD, as r) on r's device and PD. */
struct rdma_pair {
	struct ibv_cq *cq[2];
	struct ibv_qp *qp[2];
};

int rdma_pair_create(struct test_ctx *t, struct rdma_res *r,
		     struct rdma_pair *p);
/* Destroy; NULL members are skipped. */
int rdma_pair_destroy(struct test_ctx *t, struct rdma_pair *p);

int rdma_reg_mr(struct test_ctx *t, struct rdma_res *r, void *addr,
		size_t len, int access, const char *what, struct ibv_mr **mr);
/* ibv_dereg_mr and clear *mr; no-op if *mr is NULL. */
int rdma_dereg_mr(struct test_ctx *t, struct ibv_mr **mr, const char *what);

/*
 * Wait up to timeout_ms for one completion on cq; what names it in messages.
 * If watch is non-NULL the wait is abandoned as soon as that uffd handler
 * reports an error.  Fails unless IBV_WC_SUCCESS and wc->wr_id == wr_id.
 */
int rdma_wait_wc(struct test_ctx *t, struct ibv_cq *cq, const char *what,
		 uint64_t wr_id, int timeout_ms,
		 const struct uffd_handler *watch, struct ibv_wc *wc);
/*
 * Post one signaled send WR on qp and wait up to timeout_ms for its
 * completion on cq (see rdma_wait_wc()).
 */
int rdma_post_wait(struct test_ctx *t, struct ibv_qp *qp, struct ibv_cq *cq,
		   struct ibv_send_wr *wr, int timeout_ms,
		   const struct uffd_handler *watch, struct ibv_wc *wc);
/* RDMA WRITE/READ/SEND of len bytes posted on qp (completion on cq);
 * raddr/rkey are ignored for SEND. */
int rdma_rw_qp(struct test_ctx *t, struct ibv_qp *qp, struct ibv_cq *cq,
	       enum ibv_wr_opcode op, void *laddr, uint32_t len, uint32_t lkey,
	       uint64_t raddr, uint32_t rkey, const struct uffd_handler *watch);
/* RDMA WRITE/READ/SEND of len bytes posted on qp[qpi] (completion on cq[qpi]). */
int rdma_rw(struct test_ctx *t, struct rdma_res *r, int qpi,
	    enum ibv_wr_opcode op, void *laddr, uint32_t len, uint32_t lkey,
	    uint64_t raddr, uint32_t rkey, const struct uffd_handler *watch);
/* Post one receive WR of len bytes at addr on qp. */
int rdma_post_recv(struct test_ctx *t, struct ibv_qp *qp, void *addr,
		   uint32_t len, uint32_t lkey, uint64_t wr_id);
/*
 * ATOMIC CMP_SWP (compare, swap_add = swap) or FETCH_ADD (swap_add = add)
 * on the 8 bytes at raddr; the old value lands in *result (8 bytes of a
 * registered buffer with lkey).
 */
int rdma_atomic(struct test_ctx *t, struct rdma_res *r, int qpi,
		enum ibv_wr_opcode op, uint64_t raddr, uint32_t rkey,
		uint64_t compare, uint64_t swap_add, void *result,
		uint32_t lkey, const struct uffd_handler *watch);
/* ATOMIC_WRITE of 8 bytes at raddr via the ibv_wr_* API (needs qpx). */
int rdma_atomic_write(struct test_ctx *t, struct rdma_res *r, int qpi,
		      uint64_t raddr, uint32_t rkey, uint64_t value,
		      const struct uffd_handler *watch);
/* FLUSH (ibv_wr_flush) of [raddr, raddr + len), type IBV_FLUSH_GLOBAL or
 * IBV_FLUSH_PERSISTENT, level IBV_FLUSH_RANGE (needs qpx). */
int rdma_flush(struct test_ctx *t, struct rdma_res *r, int qpi,
	       uint64_t raddr, uint32_t rkey, size_t len, uint8_t type,
	       const struct uffd_handler *watch);
/* UD SEND of len bytes from laddr on qp[qpi] to qp[!qpi] through r->ah. */
int rdma_ud_send(struct test_ctx *t, struct rdma_res *r, int qpi,
		 void *laddr, uint32_t len, uint32_t lkey,
		 const struct uffd_handler *watch);
/* What "rdma resource show" counts for the test's device (-d). */
struct rdma_res_count {
	long pd, cq, qp, mr, ctx;
};
int rdma_res_count_get(struct test_ctx *t, struct rdma_res_count *c);
bool rdma_res_count_equal(const struct rdma_res_count *a,
			  const struct rdma_res_count *b);
/*
 * Poll until the counts equal want, up to timeout_s; fail naming both when
 * they do not (what: for the message).
 */
int rdma_res_count_wait(struct test_ctx *t, const struct rdma_res_count *want,
			double timeout_s, const char *what);
/* Wait for a count of faults seen by h (async faulting), up to timeout_ms. */
int uffd_wait_faults(struct test_ctx *t, const struct uffd_handler *h,
		     unsigned long n, int timeout_ms);
/*
 * From now on h answers no fault: the next one fails the handler ("fault at
 * page N after faults were refused"), which rdma_wait_wc() watching h reports
 * at once.  For checking that the device needs no further fault.
 */
void uffd_handler_refuse(struct uffd_handler *h);
/* Wait until h installed n pages (UFFDIO_COPY), up to timeout_ms. */
int uffd_wait_copies(struct test_ctx *t, const struct uffd_handler *h,
		     unsigned long n, int timeout_ms);

/*
 * A second handler thread on the uffd of first (set up and running): h
 * reads the same uffd (a duplicate of its fd) and resolves the faults it
 * reads the way first does, with its own source page and counters (add the
 * two up).  The registration stays first's: tear h down before first.
 */
int uffd_missing_setup_shared(struct test_ctx *t, struct uffd_handler *h,
			      const struct uffd_handler *first);

/*
 * ibv_advise_mr(advice, flags) of n SGEs on r's PD: TEST_SKIP when the
 * device does not support it, TEST_FAIL naming the advice and the errno.
 */
int rdma_advise(struct test_ctx *t, struct rdma_res *r,
		enum ibv_advise_mr_advice advice, uint32_t flags,
		struct ibv_sge *sge, uint32_t n);

#endif /* LIBIBVERBS_TESTS_COMMON_H */
