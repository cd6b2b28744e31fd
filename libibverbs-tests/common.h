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

struct test_opts {
	const char *dev;
	int gid_index;
	unsigned int timeout_s;
	bool verbose;
};

struct test_ctx {
	const struct test_opts *opts;
	struct test_shared *shared;
	const char *name;
};

/* What a test must show on a kernel without the series (stock 7.2). */
enum test_on_stock {
	STOCK_PASSES = 0,	/* regression tests: pass on every kernel */
	STOCK_FAILS,		/* guards the series: fails without it */
};

struct test_case {
	const char *name;
	int (*fn)(struct test_ctx *t);	/* returns TEST_PASS/FAIL/SKIP */
	const char *desc;
	enum test_on_stock on_stock;
	unsigned int timeout_s;		/* 0: the -T value (default 60 s) */
};

/*
 * -l prints one line per test: "<name>\tstock-fails" or "<name>\tstock-passes"
 * (make check reads it to judge the stock kernel's results).
 *
 * Parse -l, -t name (repeatable), -d dev, -g gid_index, -T timeout_s, -v, -h;
 * run the selected tests, each in a forked child; print TAP.
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
};

/* Two RC QPs on one port, connected to each other: qp[0] <-> qp[1]. */
struct rdma_res {
	struct ibv_context *ctx;
	struct ibv_pd *pd;
	struct ibv_cq *cq[2];	/* cq[i] is send and recv CQ of qp[i] */
	struct ibv_qp *qp[2];
	struct ibv_device_attr_ex dev_attr;
	struct ibv_port_attr port_attr;
	union ibv_gid gid;
	uint8_t port_num;
	int gid_index;
	enum ibv_mtu mtu;
};

/* On failure or skip everything created so far is released. */
int rdma_setup(struct test_ctx *t, struct rdma_res *r,
	       const struct rdma_caps_req *req);
/* Reverse-order teardown; NULL members are skipped. */
int rdma_teardown(struct test_ctx *t, struct rdma_res *r);

int rdma_reg_mr(struct test_ctx *t, struct rdma_res *r, void *addr,
		size_t len, int access, const char *what, struct ibv_mr **mr);
/* ibv_dereg_mr and clear *mr; no-op if *mr is NULL. */
int rdma_dereg_mr(struct test_ctx *t, struct ibv_mr **mr, const char *what);

/*
 * Post one signaled send WR on qp and wait up to timeout_ms for its
 * completion on cq.  If watch is non-NULL the wait is abandoned as soon as
 * that uffd handler reports an error.  Fails unless IBV_WC_SUCCESS.
 */
int rdma_post_wait(struct test_ctx *t, struct ibv_qp *qp, struct ibv_cq *cq,
		   struct ibv_send_wr *wr, int timeout_ms,
		   const struct uffd_handler *watch, struct ibv_wc *wc);
/* RDMA WRITE/READ of len bytes posted on qp[qpi] (completion on cq[qpi]). */
int rdma_rw(struct test_ctx *t, struct rdma_res *r, int qpi,
	    enum ibv_wr_opcode op, void *laddr, uint32_t len, uint32_t lkey,
	    uint64_t raddr, uint32_t rkey, const struct uffd_handler *watch);

#endif /* LIBIBVERBS_TESTS_COMMON_H */
