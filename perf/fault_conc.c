// SPDX-License-Identifier: GPL-2.0
/*
 * fault_conc: RDMA ODP faults on userfaultfd memory under concurrency, and
 * what a slow handler does to a single fault.
 *
 * conc (faults per second with Q QPs and H handler threads)
 *   Q in {1, 2, 4, 8, 16} loopback RC QP pairs on one device context (-d,
 *   -g), H in {1, 2} handler threads.  Every QP writes -P pages (4 KiB
 *   each, its own pages) of one ODP MR over anonymous memory registered
 *   UFFDIO_REGISTER_MODE_MISSING, from a pinned source, keeping -D RDMA
 *   WRITEs outstanding (a new one is posted as each completes).  The H
 *   threads poll and read the same uffd and answer each fault with
 *   UFFDIO_COPY of a page whose pattern depends on its position; a WRITE
 *   then overwrites it.  Before the clock starts one WRITE on the first QP
 *   faults a page of its own (warm-up, not counted).  Timed: from the
 *   first post to the last completion.  Metrics per run: faults_per_s
 *   (successful UFFDIO_COPYs / that time), total (s), uffd_faults, pages,
 *   eexist (duplicate fault messages).  At the end every target page must
 *   equal its source page (a position-dependent pattern): a mismatch, an
 *   error completion, a completion out of order or 10 s without any
 *   completion make the run a "failed" row with the reason.  The (Q, H)
 *   cases run in an order shuffled per repetition (xorshift64*, -s seed or
 *   the clock; printed and written to the CSV).
 *
 * delay_write, delay_read (a handler that sleeps d ms)
 *   One QP pair, one handler thread that sleeps d ms, d in {0, 1, 2, 5, 10,
 *   20, 50, 100}, before its UFFDIO_COPY.  Per d, -R repetitions of one
 *   RDMA WRITE into (delay_write) or RDMA READ from (delay_read) a fresh
 *   uffd-missing page, timed post to completion (busy poll), after one
 *   untimed warm-up op at d = 0.  Metrics per op: latency (ms), status
 *   (the work completion's status code, its name in the unit column; -1
 *   no completion within 5 s, -2 wrong data), uffd_faults (faults the
 *   handler answered during the op).  An op that does not succeed gets a
 *   fresh QP pair for the next one; two ops in a row without completion
 *   end the variant.  A variant with no successful op at all also gets a
 *   "failed" row (n = 0) with the first op's status.
 *
 * Each conc run and each delay variant is a forked child with its own
 * device context, killed after -C seconds ("failed" row: killed after the
 * cap); rows are written by the parent from what the child left in a
 * shared page, so a killed delay child keeps its finished ops.  Transparent
 * huge pages are off for the test memory (MADV_NOHUGEPAGE).  No timing is
 * ever asserted.
 *
 * CSV (-o): the long form of bench.h; variant "config" holds the
 * parameters and the seed (exact seed in the unit column).  Exit status:
 * 0 when every case ran to a result (measured or "failed" on this kernel),
 * 1 on an error of the benchmark itself, 2 usage.
 */
#include "bench.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SEED_BG		0x3cu	/* what the handler installs */
#define SEED_DATA	0xa5u	/* what an RDMA WRITE delivers */
#define FC_MAX_Q	16
#define FC_MAX_H	2
#define FC_MAX_DEPTH	8	/* the helpers' QPs have 16 send WRs, CQs 32 */
#define FC_MAX_DREPS	20
#define CONC_STALL_MS	10000	/* no completion at all for this long: failed */
#define DELAY_OP_MS	5000	/* one delay op's completion bound */
#define DELAY_STALLS	2	/* ops in a row without completion end a variant */

#define ODP_ACCESS	(IBV_ACCESS_ON_DEMAND | IBV_ACCESS_LOCAL_WRITE | \
			 IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_READ)
#define BUF_ACCESS	(IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE | \
			 IBV_ACCESS_REMOTE_READ)

static const unsigned int conc_q[] = { 1, 2, 4, 8, 16 };
static const unsigned int conc_h[] = { 1, 2 };
static const unsigned int delays_ms[] = { 0, 1, 2, 5, 10, 20, 50, 100 };
#define NDELAYS ARRAY_SIZE(delays_ms)
#define NCASES (ARRAY_SIZE(conc_q) * ARRAY_SIZE(conc_h))

enum fc_part { PART_CONC, PART_DELAY_WRITE, PART_DELAY_READ, NPARTS };
static const char *const part_names[NPARTS] = {
	"conc", "delay_write", "delay_read",
};

struct fc_cfg {
	const char *dev;
	int gid_index;
	const char *csv_path;
	bool verbose;
	unsigned long pages;	/* per QP (conc) */
	unsigned long depth;	/* outstanding WRITEs per QP (conc) */
	unsigned long reps;	/* repetitions of every (Q, H) case */
	unsigned long dreps;	/* repetitions per delay */
	unsigned long cap_s;	/* kill a child after this long */
	uint64_t seed;
	bool seed_set;
	bool selected[NPARTS];
};

enum fc_status {
	FC_NO_RESULT = 0,	/* the child died before writing one */
	FC_OK,
	FC_FAILED,		/* the kernel could not: a "failed" row */
	FC_SKIPPED,		/* the device lacks a capability */
	FC_ERROR,		/* the benchmark's own error (also a row) */
};

/* ------------------------------------------------------------ the handler */

/*
 * H threads on one uffd (registered MISSING over [base, base + len)); each
 * answers a fault, after sleeping delay_ms, with UFFDIO_COPY of a page of
 * pattern SEED_BG at the fault's position.
 */
struct fc_uffd;

struct fc_thread {
	struct fc_uffd *u;
	pthread_t thread;
	bool started;
	uint8_t *src;		/* this thread's UFFDIO_COPY source page */
	atomic_ulong handled;	/* faults this thread answered */
};

struct fc_uffd {
	int uffd;		/* -1 when closed */
	int stop_fd;		/* eventfd: stays readable, every thread stops */
	uint8_t *base;
	size_t len, psz;
	atomic_uint delay_ms;	/* read at each fault */
	unsigned int nthreads;
	struct fc_thread th[FC_MAX_H];
	atomic_ulong faults;	/* UFFD_EVENT_PAGEFAULT messages */
	atomic_ulong copies;	/* successful UFFDIO_COPY */
	atomic_ulong eexist;	/* UFFDIO_COPY found the page present */
	atomic_bool err_claimed;	/* the first error writes err_msg */
	atomic_bool failed;	/* set (release) after err_msg is written */
	char err_msg[192];
};

static void fc_uffd_init(struct fc_uffd *u)
{
	memset(u, 0, sizeof(*u));
	u->uffd = -1;
	u->stop_fd = -1;
	u->psz = page_size();
}

TEST_PRINTF(3, 4)
static void fc_uffd_error(struct fc_uffd *u, int err, const char *fmt, ...)
{
	size_t n;
	va_list ap;

	if (atomic_exchange(&u->err_claimed, true))
		return;		/* another thread's error is kept */
	va_start(ap, fmt);
	vsnprintf(u->err_msg, sizeof(u->err_msg), fmt, ap);
	va_end(ap);
	n = strlen(u->err_msg);
	if (err && n < sizeof(u->err_msg))
		snprintf(u->err_msg + n, sizeof(u->err_msg) - n, ": %s",
			 strerror(err));
	atomic_store_explicit(&u->failed, true, memory_order_release);
}

static bool fc_uffd_resolve(struct fc_thread *th, const struct uffd_msg *msg)
{
	struct fc_uffd *u = th->u;
	uint64_t addr = msg->arg.pagefault.address & ~(uint64_t)(u->psz - 1);
	uint64_t base = (uintptr_t)u->base;
	struct uffdio_range wake = { .start = addr, .len = u->psz };
	struct uffdio_copy copy;
	unsigned int delay;
	size_t pos;
	int tries;

	if (addr < base || addr >= base + u->len) {
		fc_uffd_error(u, 0, "fault at 0x%llx outside the registered range",
			      (unsigned long long)msg->arg.pagefault.address);
		return false;
	}
	pos = (size_t)(addr - base);
	atomic_fetch_add(&u->faults, 1);
	delay = atomic_load(&u->delay_ms);
	if (delay)
		test_sleep_us(delay * 1000ul);
	pattern_fill(th->src, u->psz, SEED_BG, pos, u->psz);
	for (tries = 0;; tries++) {
		copy = (struct uffdio_copy){
			.dst = addr, .src = (uintptr_t)th->src, .len = u->psz,
		};
		if (!ioctl(u->uffd, UFFDIO_COPY, &copy)) {	/* wakes */
			atomic_fetch_add(&u->copies, 1);
			atomic_fetch_add(&th->handled, 1);
			return true;
		}
		if (errno == EEXIST)	/* the other thread answered it */
			break;
		if (errno == EAGAIN && tries < 1000) {	/* mm changing */
			test_sleep_us(1000);
			continue;
		}
		fc_uffd_error(u, errno, "UFFDIO_COPY(offset %zu)", pos);
		return false;
	}
	atomic_fetch_add(&u->eexist, 1);
	if (ioctl(u->uffd, UFFDIO_WAKE, &wake)) {
		fc_uffd_error(u, errno, "UFFDIO_WAKE(offset %zu)", pos);
		return false;
	}
	return true;
}

static void *fc_uffd_thread(void *arg)
{
	struct fc_thread *th = arg;
	struct fc_uffd *u = th->u;
	struct pollfd pfd[2] = {
		{ .fd = u->uffd, .events = POLLIN },
		{ .fd = u->stop_fd, .events = POLLIN },
	};
	struct uffd_msg msg;
	ssize_t n;

	for (;;) {
		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			fc_uffd_error(u, errno, "poll(uffd, stop fd)");
			return NULL;
		}
		if (pfd[1].revents)
			return NULL;
		if (pfd[0].revents & (POLLERR | POLLHUP | POLLNVAL)) {
			fc_uffd_error(u, 0, "poll: uffd revents 0x%x",
				      (unsigned int)pfd[0].revents);
			return NULL;
		}
		if (!(pfd[0].revents & POLLIN))
			continue;
		n = read(u->uffd, &msg, sizeof(msg));
		if (n < 0) {
			/* EAGAIN: the other thread read this message */
			if (errno == EAGAIN || errno == EINTR)
				continue;
			fc_uffd_error(u, errno, "read(uffd)");
			return NULL;
		}
		if (n != (ssize_t)sizeof(msg)) {
			fc_uffd_error(u, 0, "read(uffd): short read %zd of %zu",
				      n, sizeof(msg));
			return NULL;
		}
		if (msg.event != UFFD_EVENT_PAGEFAULT) {
			fc_uffd_error(u, 0, "unexpected uffd event 0x%x",
				      (unsigned int)msg.event);
			return NULL;
		}
		if (!fc_uffd_resolve(th, &msg))
			return NULL;
	}
}

/* Open the uffd, register [base, base + len) MISSING, start nthreads. */
static int fc_uffd_start(struct test_ctx *t, struct fc_uffd *u, void *base,
			 size_t len, unsigned int nthreads)
{
	unsigned int i;
	int rc, err;

	u->base = base;
	u->len = len;
	u->nthreads = nthreads;
	test_step(t, "userfaultfd + register %zu bytes MISSING", len);
	rc = uffd_open(t, &u->uffd);
	if (rc != TEST_PASS)
		return rc;
	rc = uffd_register_missing(t, u->uffd, base, len);
	if (rc != TEST_PASS)
		return rc;
	u->stop_fd = eventfd(0, EFD_CLOEXEC);
	if (u->stop_fd < 0)
		return test_fail(t, "eventfd(uffd stop): %s", strerror(errno));
	for (i = 0; i < nthreads; i++) {
		struct fc_thread *th = &u->th[i];

		th->u = u;
		th->src = aligned_alloc(u->psz, u->psz);
		if (!th->src)
			return test_fail(t, "aligned_alloc(uffd source page %u): %s",
					 i, strerror(errno));
		err = pthread_create(&th->thread, NULL, fc_uffd_thread, th);
		if (err)
			return test_fail(t, "pthread_create(uffd handler %u): %s",
					 i, strerror(err));
		th->started = true;
	}
	return TEST_PASS;
}

/*
 * Stop and join the threads, then close the uffd (which unregisters the
 * range and releases any fault still waiting on it).  Safe on a partly
 * started handler.
 */
static int fc_uffd_stop(struct test_ctx *t, struct fc_uffd *u)
{
	uint64_t one = 1;
	unsigned int i;
	int rc = TEST_PASS, err;

	for (i = 0; i < FC_MAX_H; i++) {
		struct fc_thread *th = &u->th[i];

		if (th->started) {
			if (u->stop_fd < 0 ||
			    write(u->stop_fd, &one, sizeof(one)) != (ssize_t)sizeof(one))
				/* Cannot stop the thread: joining would hang. */
				return test_fail(t, "write(uffd stop eventfd): %s",
						 strerror(errno));
			err = pthread_join(th->thread, NULL);
			if (err)
				rc = test_fail(t, "pthread_join(uffd handler %u): %s",
					       i, strerror(err));
			th->started = false;
		}
		free(th->src);
		th->src = NULL;
	}
	if (atomic_load_explicit(&u->failed, memory_order_acquire))
		rc = test_fail(t, "uffd handler: %s", u->err_msg);
	if (u->stop_fd >= 0 && close(u->stop_fd))
		rc = test_fail(t, "close(uffd stop eventfd): %s", strerror(errno));
	u->stop_fd = -1;
	if (u->uffd >= 0 && close(u->uffd))
		rc = test_fail(t, "close(uffd): %s", strerror(errno));
	u->uffd = -1;
	return rc;
}

/* Anonymous memory with THP off: every fault is one 4 KiB page. */
static int map_nohuge(struct test_ctx *t, size_t len, uint8_t **p,
		      const char *what)
{
	int rc = mem_map(t, len, (void **)p, what);

	if (rc == TEST_PASS && madvise(*p, len, MADV_NOHUGEPAGE))
		rc = test_fail(t, "madvise(%s, MADV_NOHUGEPAGE): %s", what,
			       strerror(errno));
	return rc;
}

/* ------------------------------------------------------------ child runs */

/* Written by a child into a MAP_SHARED area, read by the parent. */
struct fc_conc_res {
	enum fc_status status;
	double seconds;
	unsigned long pages, copies, eexist;
	unsigned long handled[FC_MAX_H];
	char msg[320];
};

struct fc_op {
	bool done;
	unsigned int delay_ms, rep;
	int status;		/* ibv_wc_status; -1 no completion, -2 wrong data */
	double lat_ms;
	unsigned long faults;
	char status_str[64];
};

struct fc_delay_res {
	enum fc_status status;
	unsigned long nops;	/* ops done (the op[] filled so far) */
	struct fc_op op[NDELAYS * FC_MAX_DREPS];
	char msg[320];
};

TEST_PRINTF(3, 4)
static void set_msg(char *msg, size_t size, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, size, fmt, ap);
	va_end(ap);
}

/* The QP a conc run posts on, with its progress. */
struct fc_sq {
	struct ibv_qp *qp;
	struct ibv_cq *cq;
	unsigned long next;	/* next page to post (of this QP's) */
	unsigned long done;	/* completed */
};

/* Everything one conc run sets up; zeroed, torn down in reverse. */
struct fc_conc {
	unsigned int q, h;
	size_t psz, pages, len;	/* pages: all, warm-up page included */
	struct rdma_res r;
	bool have_rdma;
	struct rdma_pair pair[FC_MAX_Q];	/* [0] unused: r's own pair */
	struct fc_sq sq[FC_MAX_Q];
	uint8_t *target, *src;
	struct ibv_mr *odp_mr, *src_mr;
	struct fc_uffd u;
};

/* The WRITE of page `page` (its source page to its target page) on QP qi. */
static void conc_wr(struct fc_conc *c, unsigned int qi, size_t page,
		    struct ibv_send_wr *wr, struct ibv_sge *sge)
{
	size_t pos = page * c->psz;

	*sge = (struct ibv_sge){
		.addr = (uintptr_t)(c->src + pos), .length = (uint32_t)c->psz,
		.lkey = c->src_mr->lkey,
	};
	*wr = (struct ibv_send_wr){
		.wr_id = ((uint64_t)qi << 32) | page, .sg_list = sge,
		.num_sge = 1, .opcode = IBV_WR_RDMA_WRITE,
		.send_flags = IBV_SEND_SIGNALED,
	};
	wr->wr.rdma.remote_addr = (uintptr_t)(c->target + pos);
	wr->wr.rdma.rkey = c->odp_mr->rkey;
}

static int conc_post(struct test_ctx *t, struct fc_conc *c, unsigned int qi,
		     size_t page)
{
	struct ibv_send_wr wr, *bad = NULL;
	struct ibv_sge sge;
	int err;

	conc_wr(c, qi, page, &wr, &sge);
	err = ibv_post_send(c->sq[qi].qp, &wr, &bad);
	if (err)
		return test_fail(t, "ibv_post_send(RDMA WRITE, QP %u, page %zu): %s",
				 qi, page, strerror(err));
	return TEST_PASS;
}

static int conc_setup(struct test_ctx *t, struct fc_conc *c)
{
	const struct rdma_caps_req req = {
		.odp = true, .rc_odp_caps = IBV_ODP_SUPPORT_WRITE,
	};
	unsigned int i;
	int rc;

	test_step(t, "RDMA setup");
	rc = rdma_setup(t, &c->r, &req);
	if (rc != TEST_PASS)
		return rc;
	c->have_rdma = true;
	c->sq[0] = (struct fc_sq){ .qp = c->r.qp[0], .cq = c->r.cq[0] };
	for (i = 1; i < c->q; i++) {
		test_step(t, "QP pair %u of %u", i + 1, c->q);
		rc = rdma_pair_create(t, &c->r, &c->pair[i]);
		if (rc != TEST_PASS)
			return rc;
		c->sq[i] = (struct fc_sq){
			.qp = c->pair[i].qp[0], .cq = c->pair[i].cq[0],
		};
	}
	rc = map_nohuge(t, c->len, &c->target, "target region");
	if (rc == TEST_PASS)
		rc = mem_map(t, c->len, (void **)&c->src, "source region");
	if (rc != TEST_PASS)
		return rc;
	pattern_fill(c->src, c->len, SEED_DATA, 0, c->psz);
	rc = fc_uffd_start(t, &c->u, c->target, c->len, c->h);
	if (rc == TEST_PASS)
		rc = rdma_reg_mr(t, &c->r, c->src, c->len, BUF_ACCESS,
				 "pinned source", &c->src_mr);
	if (rc == TEST_PASS)
		rc = rdma_reg_mr(t, &c->r, c->target, c->len, ODP_ACCESS,
				 "ODP target", &c->odp_mr);
	return rc;
}

static int conc_teardown(struct test_ctx *t, struct fc_conc *c)
{
	unsigned int i;
	int rc;

	/* Close the uffd first: nothing may wait for the handler (design.md). */
	rc = fc_uffd_stop(t, &c->u);
	rc = test_worse(rc, rdma_dereg_mr(t, &c->odp_mr, "ODP target"));
	rc = test_worse(rc, rdma_dereg_mr(t, &c->src_mr, "pinned source"));
	for (i = 1; i < FC_MAX_Q; i++)
		rc = test_worse(rc, rdma_pair_destroy(t, &c->pair[i]));
	if (c->have_rdma)
		rc = test_worse(rc, rdma_teardown(t, &c->r));
	c->have_rdma = false;
	rc = test_worse(rc, mem_unmap(t, (void **)&c->src, c->len, "source region"));
	rc = test_worse(rc, mem_unmap(t, (void **)&c->target, c->len, "target region"));
	return rc;
}

/*
 * One warm-up WRITE into the last page, then the timed part.  Failures
 * the kernel causes go to res (FC_FAILED) and return TEST_FAIL.
 */
static int conc_drive(struct test_ctx *t, const struct fc_cfg *cfg,
		      struct fc_conc *c, struct fc_conc_res *res)
{
	unsigned long per_qp = cfg->pages, total = c->q * per_qp, finished = 0;
	unsigned long first = cfg->depth < per_qp ? cfg->depth : per_qp;
	unsigned long copies0;
	uint64_t t0, t_last, now;
	struct ibv_send_wr warm;
	struct ibv_sge warm_sge;
	struct ibv_wc wc[8];
	unsigned int qi, spins = 0;
	bool got_wc;
	int rc, n, k;

	test_step(t, "warm-up WRITE (page %zu)", c->pages - 1);
	conc_wr(c, 0, c->pages - 1, &warm, &warm_sge);
	rc = bench_post_poll(t, c->sq[0].qp, c->sq[0].cq, &warm, CONC_STALL_MS,
			     &c->u.failed, wc, &got_wc);
	if (rc != TEST_PASS) {
		res->status = atomic_load(&c->u.failed) ? FC_ERROR : FC_FAILED;
		if (atomic_load(&c->u.failed))
			set_msg(res->msg, sizeof(res->msg), "uffd handler: %s",
				c->u.err_msg);
		else if (!got_wc)
			set_msg(res->msg, sizeof(res->msg),
				"warm-up WRITE: no completion within %d ms",
				CONC_STALL_MS);
		else
			set_msg(res->msg, sizeof(res->msg),
				"warm-up WRITE: completion status %s (%d)%s",
				ibv_wc_status_str(wc[0].status), (int)wc[0].status,
				atomic_load(&c->u.faults) ? "" :
				"; the handler saw no fault");
		return rc;
	}
	copies0 = atomic_load(&c->u.copies);
	test_step(t, "%u QPs x %lu WRITEs, %lu outstanding each", c->q,
		  per_qp, first);
	t0 = bench_now_ns();
	for (qi = 0; qi < c->q; qi++) {
		for (; c->sq[qi].next < first; c->sq[qi].next++) {
			rc = conc_post(t, c, qi, qi * per_qp + c->sq[qi].next);
			if (rc != TEST_PASS)
				return rc;
		}
	}
	t_last = t0;
	while (finished < total) {
		bool progress = false;

		for (qi = 0; qi < c->q; qi++) {
			struct fc_sq *s = &c->sq[qi];

			n = ibv_poll_cq(s->cq, (int)ARRAY_SIZE(wc), wc);
			if (n < 0)
				return test_fail(t, "ibv_poll_cq(QP %u) returned %d", qi, n);
			for (k = 0; k < n; k++) {
				uint64_t want = ((uint64_t)qi << 32) | (qi * per_qp + s->done);

				if (wc[k].status != IBV_WC_SUCCESS) {
					res->status = FC_FAILED;
					set_msg(res->msg, sizeof(res->msg),
						"QP %u page %lu: completion status %s (%d)%s",
						qi, (unsigned long)(wc[k].wr_id & 0xffffffffu),
						ibv_wc_status_str(wc[k].status),
						(int)wc[k].status,
						atomic_load(&c->u.faults) ? "" :
						"; the handler saw no fault");
					return test_fail(t, "%s", res->msg);
				}
				if (wc[k].wr_id != want) {
					res->status = FC_FAILED;
					set_msg(res->msg, sizeof(res->msg),
						"QP %u: completion for wr_id 0x%llx; expected 0x%llx (out of order)",
						qi, (unsigned long long)wc[k].wr_id,
						(unsigned long long)want);
					return test_fail(t, "%s", res->msg);
				}
				s->done++;
				finished++;
				progress = true;
				if (s->next < per_qp) {
					rc = conc_post(t, c, qi, qi * per_qp + s->next);
					if (rc != TEST_PASS)
						return rc;
					s->next++;
				}
			}
		}
		now = bench_now_ns();
		if (progress) {
			t_last = now;
			spins = 0;
			continue;
		}
		if (atomic_load_explicit(&c->u.failed, memory_order_acquire)) {
			res->status = FC_ERROR;
			set_msg(res->msg, sizeof(res->msg), "uffd handler: %s",
				c->u.err_msg);
			return test_fail(t, "%s", res->msg);
		}
		if (now - t_last > (uint64_t)CONC_STALL_MS * 1000000u) {
			res->status = FC_FAILED;
			set_msg(res->msg, sizeof(res->msg),
				"no completion for %d ms: %lu of %lu WRITEs done; handler faults %lu",
				CONC_STALL_MS, finished, total,
				atomic_load(&c->u.faults));
			return test_fail(t, "%s", res->msg);
		}
		/* Yield first, then sleep 50 us: leave the CPUs to the handlers. */
		if (spins++ < 50)
			sched_yield();
		else
			test_sleep_us(50);
	}
	res->seconds = (double)(t_last - t0) / 1e9;
	res->pages = total;
	res->copies = atomic_load(&c->u.copies) - copies0;
	return TEST_PASS;
}

/* Every target page must equal its source page. */
static int conc_verify(struct test_ctx *t, struct fc_conc *c,
		       struct fc_conc_res *res)
{
	size_t i, bad = 0, first = 0;

	test_step(t, "verify %zu target pages", c->pages);
	for (i = 0; i < c->pages; i++) {
		if (memcmp(c->target + i * c->psz, c->src + i * c->psz, c->psz))
			if (!bad++)
				first = i;
	}
	if (!bad)
		return TEST_PASS;
	/* Print the first difference of the first bad page. */
	pattern_verify(t, c->target + first * c->psz, c->psz, SEED_DATA,
		       first * c->psz, c->psz, "first bad target page");
	res->status = FC_FAILED;
	set_msg(res->msg, sizeof(res->msg),
		"%zu of %zu target pages differ from the source (first: page %zu)",
		bad, c->pages, first);
	return TEST_FAIL;
}

static int conc_measure(struct test_ctx *t, const struct fc_cfg *cfg,
			unsigned int q, unsigned int h, struct fc_conc_res *res)
{
	struct fc_conc *c;
	unsigned int i;
	int rc;

	c = calloc(1, sizeof(*c));
	if (!c)
		return test_fail(t, "calloc(conc state): %s", strerror(errno));
	c->q = q;
	c->h = h;
	c->psz = page_size();
	c->pages = q * cfg->pages + 1;	/* + the warm-up page */
	c->len = c->pages * c->psz;
	fc_uffd_init(&c->u);
	rc = conc_setup(t, c);
	if (rc == TEST_PASS)
		rc = conc_drive(t, cfg, c, res);
	res->eexist = atomic_load(&c->u.eexist);
	for (i = 0; i < FC_MAX_H; i++)
		res->handled[i] = atomic_load(&c->u.th[i].handled);
	if (rc == TEST_PASS)
		rc = conc_verify(t, c, res);
	rc = test_worse(rc, conc_teardown(t, c));
	free(c);
	return rc;
}

/* The delay sweep of one op (WRITE into / READ from the uffd page). */
struct fc_delay {
	size_t psz, len;
	struct rdma_res r;
	bool have_rdma;
	struct rdma_pair p;
	uint8_t *target, *buf;
	struct ibv_mr *odp_mr, *buf_mr;
	struct fc_uffd u;
};

static int delay_setup(struct test_ctx *t, struct fc_delay *d)
{
	const struct rdma_caps_req req = {
		.odp = true,
		.rc_odp_caps = IBV_ODP_SUPPORT_WRITE | IBV_ODP_SUPPORT_READ,
	};
	int rc;

	test_step(t, "RDMA setup");
	rc = rdma_setup(t, &d->r, &req);
	if (rc != TEST_PASS)
		return rc;
	d->have_rdma = true;
	rc = rdma_pair_create(t, &d->r, &d->p);
	if (rc == TEST_PASS)
		rc = map_nohuge(t, d->len, &d->target, "target region");
	if (rc == TEST_PASS)
		rc = mem_map(t, d->psz, (void **)&d->buf, "local page");
	if (rc == TEST_PASS)
		rc = fc_uffd_start(t, &d->u, d->target, d->len, 1);
	if (rc == TEST_PASS)
		rc = rdma_reg_mr(t, &d->r, d->buf, d->psz, BUF_ACCESS,
				 "pinned local page", &d->buf_mr);
	if (rc == TEST_PASS)
		rc = rdma_reg_mr(t, &d->r, d->target, d->len, ODP_ACCESS,
				 "ODP target", &d->odp_mr);
	return rc;
}

static int delay_teardown(struct test_ctx *t, struct fc_delay *d)
{
	int rc = fc_uffd_stop(t, &d->u);	/* first: see conc_teardown() */

	rc = test_worse(rc, rdma_dereg_mr(t, &d->odp_mr, "ODP target"));
	rc = test_worse(rc, rdma_dereg_mr(t, &d->buf_mr, "pinned local page"));
	rc = test_worse(rc, rdma_pair_destroy(t, &d->p));
	if (d->have_rdma)
		rc = test_worse(rc, rdma_teardown(t, &d->r));
	d->have_rdma = false;
	rc = test_worse(rc, mem_unmap(t, (void **)&d->buf, d->psz, "local page"));
	rc = test_worse(rc, mem_unmap(t, (void **)&d->target, d->len, "target region"));
	return rc;
}

/*
 * One op on page i with the handler sleeping delay ms; fills op.  Returns
 * TEST_PASS when the op has a result (success or not), TEST_FAIL on an
 * error of the benchmark.
 */
static int delay_op(struct test_ctx *t, struct fc_delay *d, bool read,
		    size_t i, unsigned int delay, struct fc_op *op)
{
	size_t pos = i * d->psz;
	struct ibv_sge sge = {
		.addr = (uintptr_t)d->buf, .length = (uint32_t)d->psz,
		.lkey = d->buf_mr->lkey,
	};
	struct ibv_send_wr wr = {
		.wr_id = i, .sg_list = &sge, .num_sge = 1,
		.opcode = read ? IBV_WR_RDMA_READ : IBV_WR_RDMA_WRITE,
	};
	unsigned long f0 = atomic_load(&d->u.copies);
	struct ibv_wc wc;
	uint64_t t0, t1;
	bool got_wc;
	int rc;

	test_step(t, "%s page %zu, handler delay %u ms", read ? "READ" : "WRITE",
		  i, delay);
	atomic_store(&d->u.delay_ms, delay);
	if (read)
		memset(d->buf, 0, d->psz);
	else
		pattern_fill(d->buf, d->psz, SEED_DATA, pos, d->psz);
	wr.wr.rdma.remote_addr = (uintptr_t)(d->target + pos);
	wr.wr.rdma.rkey = d->odp_mr->rkey;
	t0 = bench_now_ns();
	rc = bench_post_poll(t, d->p.qp[0], d->p.cq[0], &wr, DELAY_OP_MS,
			     &d->u.failed, &wc, &got_wc);
	t1 = bench_now_ns();
	op->lat_ms = (double)(t1 - t0) / 1e6;
	op->faults = atomic_load(&d->u.copies) - f0;
	if (atomic_load_explicit(&d->u.failed, memory_order_acquire))
		return test_fail(t, "uffd handler: %s", d->u.err_msg);
	if (!got_wc) {
		if (rc == TEST_PASS)
			return test_fail(t, "bench_post_poll passed without a completion");
		op->status = -1;
		set_msg(op->status_str, sizeof(op->status_str),
			"no completion within %d ms", DELAY_OP_MS);
	} else if (wc.status != IBV_WC_SUCCESS) {
		op->status = (int)wc.status;
		set_msg(op->status_str, sizeof(op->status_str), "%s",
			ibv_wc_status_str(wc.status));
	} else if (rc != TEST_PASS) {	/* success, but the wrong wr_id */
		return rc;
	} else if (pattern_verify(t, read ? d->buf : d->target + pos, d->psz,
				  read ? SEED_BG : SEED_DATA, pos, d->psz,
				  read ? "RDMA READ result" : "RDMA WRITE target page")
		   != TEST_PASS) {
		op->status = -2;
		set_msg(op->status_str, sizeof(op->status_str), "wrong data");
	} else {
		op->status = 0;
		set_msg(op->status_str, sizeof(op->status_str), "%s",
			ibv_wc_status_str(IBV_WC_SUCCESS));
	}
	op->done = true;
	return TEST_PASS;
}

static int delay_sweep(struct test_ctx *t, const struct fc_cfg *cfg, bool read,
		       struct fc_delay_res *res)
{
	struct fc_delay d = { .psz = page_size() };
	struct fc_op warm = { 0 };
	unsigned long rep, stalls = 0;
	size_t page = 0, di;
	bool fresh;
	int rc;

	d.len = (NDELAYS * cfg->dreps + 1) * d.psz;	/* + the warm-up page */
	fc_uffd_init(&d.u);
	rc = delay_setup(t, &d);
	if (rc == TEST_PASS)
		rc = delay_op(t, &d, read, page++, 0, &warm);
	fresh = warm.status != 0;
	for (di = 0; rc == TEST_PASS && di < NDELAYS; di++) {
		for (rep = 0; rc == TEST_PASS && rep < cfg->dreps; rep++) {
			struct fc_op *op = &res->op[res->nops];

			if (fresh) {	/* the last op left the QPs in error */
				test_step(t, "a fresh QP pair");
				rc = rdma_pair_destroy(t, &d.p);
				if (rc == TEST_PASS)
					rc = rdma_pair_create(t, &d.r, &d.p);
				if (rc != TEST_PASS)
					break;
			}
			op->delay_ms = delays_ms[di];
			op->rep = (unsigned int)rep;
			rc = delay_op(t, &d, read, page++, delays_ms[di], op);
			if (rc != TEST_PASS)
				break;
			res->nops++;
			fresh = op->status != 0;
			stalls = op->status == -1 ? stalls + 1 : 0;
			if (stalls >= DELAY_STALLS) {
				res->status = FC_FAILED;
				set_msg(res->msg, sizeof(res->msg),
					"stopped at %u ms: %d ops in a row without completion within %d ms",
					delays_ms[di], DELAY_STALLS, DELAY_OP_MS);
				rc = TEST_FAIL;
			}
		}
	}
	if (rc != TEST_PASS && res->status == FC_NO_RESULT &&
	    atomic_load_explicit(&d.u.failed, memory_order_acquire)) {
		res->status = FC_ERROR;
		set_msg(res->msg, sizeof(res->msg), "uffd handler: %s",
			d.u.err_msg);
	}
	return test_worse(rc, delay_teardown(t, &d));
}

static void child_status(struct bench_ctx *b, int rc, enum fc_status *status,
			 char *msg, size_t size)
{
	if (*status != FC_NO_RESULT)	/* the reason is already there */
		return;
	if (rc == TEST_PASS) {
		*status = FC_OK;
	} else if (rc == TEST_SKIP) {
		*status = FC_SKIPPED;
		set_msg(msg, size, "skipped: %s", b->shared.skip_reason);
	} else {
		*status = FC_ERROR;
		set_msg(msg, size, "error in step '%s'", b->shared.step);
	}
}

/* --------------------------------------------------------- forked runs */

/* One forked run: a conc case (q, h) or a delay sweep; res is MAP_SHARED. */
struct fc_job {
	const struct fc_cfg *cfg;
	enum fc_part part;
	unsigned int q, h;
	void *res;
};

static void job_child(const struct fc_job *j)
{
	struct bench_ctx b;
	int rc;

	alarm((unsigned int)j->cfg->cap_s);	/* SIGALRM kills the child */
	bench_ctx_init(&b, j->cfg->dev, j->cfg->gid_index, j->cfg->verbose,
		       part_names[j->part]);
	if (j->part == PART_CONC) {
		struct fc_conc_res *r = j->res;

		rc = conc_measure(&b.t, j->cfg, j->q, j->h, r);
		child_status(&b, rc, &r->status, r->msg, sizeof(r->msg));
	} else {
		struct fc_delay_res *r = j->res;

		rc = delay_sweep(&b.t, j->cfg, j->part == PART_DELAY_READ, r);
		child_status(&b, rc, &r->status, r->msg, sizeof(r->msg));
	}
	fflush(stdout);
	_exit(0);
}

/*
 * Run job j in a forked child that fills j->res (size bytes) and is killed
 * after cfg->cap_s (its own alarm, then SIGKILL).  why is set when the
 * child did not end on its own.  Returns 0, or -1 on an error of the
 * benchmark.
 */
static int run_job(const struct fc_job *j, size_t size, char *why,
		   size_t why_size)
{
	int status = 0;
	pid_t pid;

	why[0] = '\0';
	memset(j->res, 0, size);
	fflush(stdout);
	pid = fork();
	if (pid < 0) {
		fprintf(stderr, "fault_conc: fork: %s\n", strerror(errno));
		return -1;
	}
	if (pid == 0)
		job_child(j);
	/* The child's own alarm first, then SIGKILL. */
	if (!test_reap(pid, (double)j->cfg->cap_s + 5, &status)) {
		kill(pid, SIGKILL);
		if (!test_reap(pid, 10, &status)) {
			set_msg(why, why_size,
				"still there 10 s after SIGKILL (stuck in the kernel?); left behind");
			return 0;
		}
		set_msg(why, why_size, "killed after the %lu s cap", j->cfg->cap_s);
		return 0;
	}
	if (WIFSIGNALED(status)) {
		if (WTERMSIG(status) == SIGALRM)
			set_msg(why, why_size, "killed after the %lu s cap",
				j->cfg->cap_s);
		else
			set_msg(why, why_size, "killed by signal %d (%s)",
				WTERMSIG(status), strsignal(WTERMSIG(status)));
	} else if (WIFEXITED(status) && WEXITSTATUS(status)) {
		set_msg(why, why_size, "child exited %d", WEXITSTATUS(status));
	}
	return 0;
}

static void *map_shared(size_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED) {
		fprintf(stderr, "fault_conc: mmap(result area, %zu bytes): %s\n",
			size, strerror(errno));
		return NULL;
	}
	return p;
}

/* ------------------------------------------------------------- the parts */

/* One (Q, H) run; rows from its result.  Returns 0 or -1 (error). */
static int conc_case(const struct fc_cfg *cfg, struct bench_csv *csv,
		     struct fc_conc_res *res, unsigned int q, unsigned int h,
		     unsigned int rep)
{
	struct fc_job j = { .cfg = cfg, .part = PART_CONC, .q = q, .h = h,
			    .res = res };
	char variant[32], why[160];
	double rate;

	snprintf(variant, sizeof(variant), "q%u_h%u", q, h);
	if (run_job(&j, sizeof(*res), why, sizeof(why)))
		return -1;
	if (why[0] || res->status != FC_OK) {
		const char *reason = why[0] ? why :
			res->status == FC_NO_RESULT ? "child ended without a result" :
			res->msg;

		bench_csv_failed(csv, variant, q, "%s", reason);
		printf("%-8s rep %u: failed: %s\n", variant, rep, reason);
		return res->status == FC_ERROR ? -1 : 0;
	}
	rate = res->seconds > 0 ? (double)res->copies / res->seconds : 0;
	bench_csv_row(csv, variant, q, rep, "faults_per_s", rate, "1/s");
	bench_csv_row(csv, variant, q, rep, "total", res->seconds, "s");
	bench_csv_row(csv, variant, q, rep, "uffd_faults", (double)res->copies, "count");
	bench_csv_row(csv, variant, q, rep, "pages", (double)res->pages, "count");
	bench_csv_row(csv, variant, q, rep, "eexist", (double)res->eexist, "count");
	printf("%-8s rep %u: %5lu pages in %8.3f s: %8.1f faults/s (faults %lu, eexist %lu; per thread %lu/%lu)\n",
	       variant, rep, res->pages, res->seconds, rate, res->copies,
	       res->eexist, res->handled[0], res->handled[1]);
	return 0;
}

static int run_conc(const struct fc_cfg *cfg, struct bench_csv *csv)
{
	size_t order[NCASES], i, j, tmp;
	uint64_t rng = cfg->seed ? cfg->seed : 1;
	struct fc_conc_res *res;
	unsigned long rep;
	int err = 0;

	res = map_shared(sizeof(*res));
	if (!res)
		return -1;
	for (rep = 0; rep < cfg->reps; rep++) {
		for (i = 0; i < NCASES; i++)
			order[i] = i;
		for (i = NCASES; i > 1; i--) {	/* Fisher-Yates */
			j = (size_t)test_rng_below(&rng, i);
			tmp = order[i - 1];
			order[i - 1] = order[j];
			order[j] = tmp;
		}
		for (i = 0; i < NCASES; i++) {
			unsigned int q = conc_q[order[i] / ARRAY_SIZE(conc_h)];
			unsigned int h = conc_h[order[i] % ARRAY_SIZE(conc_h)];

			if (conc_case(cfg, csv, res, q, h, (unsigned int)rep))
				err = -1;
		}
	}
	if (munmap(res, sizeof(*res)))
		fprintf(stderr, "fault_conc: munmap(result area): %s\n", strerror(errno));
	return err;
}

static int run_delay(const struct fc_cfg *cfg, struct bench_csv *csv,
		     enum fc_part part)
{
	const char *variant = part_names[part];
	struct fc_job j = { .cfg = cfg, .part = part };
	struct fc_delay_res *res;
	unsigned long i, ok = 0;
	char why[160];
	int err = 0;

	res = map_shared(sizeof(*res));
	if (!res)
		return -1;
	j.res = res;
	if (run_job(&j, sizeof(*res), why, sizeof(why))) {
		munmap(res, sizeof(*res));
		return -1;
	}
	for (i = 0; i < res->nops && i < ARRAY_SIZE(res->op); i++) {
		const struct fc_op *op = &res->op[i];
		unsigned int d = op->delay_ms, rep = op->rep;
		char unit[sizeof(op->status_str)], *p;

		if (!op->done)
			break;
		snprintf(unit, sizeof(unit), "%s", op->status_str);
		for (p = unit; *p; p++)	/* the CSV's unit column */
			if (*p == ',' || *p == '\n')
				*p = ';';
		bench_csv_row(csv, variant, d, rep, "latency", op->lat_ms, "ms");
		bench_csv_row(csv, variant, d, rep, "status", op->status, unit);
		bench_csv_row(csv, variant, d, rep, "uffd_faults",
			      (double)op->faults, "count");
		ok += op->status == 0;
		printf("%-12s %3u ms rep %u: %9.3f ms  %s  (handler faults %lu)\n",
		       variant, d, rep, op->lat_ms, op->status_str, op->faults);
	}
	if (why[0] || res->status != FC_OK) {
		const char *reason = why[0] ? why :
			res->status == FC_NO_RESULT ? "child ended without a result" :
			res->msg;

		bench_csv_failed(csv, variant, 0, "after %lu ops: %s", res->nops,
				 reason);
		printf("%-12s failed after %lu ops: %s\n", variant, res->nops, reason);
		if (res->status == FC_ERROR)
			err = -1;
	} else if (!ok && res->nops) {
		bench_csv_failed(csv, variant, 0,
				 "no op succeeded at any delay; the first: %s%s",
				 res->op[0].status_str,
				 res->op[0].faults ? "" : " (the handler saw no fault)");
		printf("%-12s no op succeeded; the first: %s\n", variant,
		       res->op[0].status_str);
	}
	if (munmap(res, sizeof(*res)))
		fprintf(stderr, "fault_conc: munmap(result area): %s\n", strerror(errno));
	return err;
}

/* ---------------------------------------------------------------- main */

static void usage(FILE *f, const char *prog)
{
	fprintf(f,
		"usage: %s [-d dev] [-g gid_index] [-o csv] [-P pages] [-D depth] [-r reps]\n"
		"          [-R delay_reps] [-C cap_s] [-s seed] [-t conc|delay_write|delay_read]... [-v]\n"
		"  -P pages    pages each QP writes in a conc run (default 64)\n"
		"  -D depth    RDMA WRITEs outstanding per QP (default 4, at most %d)\n"
		"  -r reps     runs of every (Q, H) case (default 1)\n"
		"  -R reps     ops per handler delay (default 5, at most %d)\n"
		"  -C seconds  kill a conc run or a delay sweep after this long (default 30)\n"
		"  -s seed     seed of the case order (default: from the clock; printed)\n"
		"  -t part     run only this part (repeatable)\n"
		"  -o file     long-form CSV\n"
		"exit: 0 every case has a result (measured, or a \"failed\" row when the\n"
		"      kernel cannot), 1 error of the benchmark itself, 2 usage\n",
		prog, FC_MAX_DEPTH, FC_MAX_DREPS);
}

static int parse_args(int argc, char **argv, struct fc_cfg *cfg)
{
	bool any = false;
	unsigned long v;
	size_t i;
	int opt;

	while ((opt = getopt(argc, argv, "d:g:o:P:D:r:R:C:s:t:vh")) != -1) {
		switch (opt) {
		case 'd':
			cfg->dev = optarg;
			break;
		case 'g':
			if (!bench_parse_ulong(argv[0], "GID index", optarg, 0, 255, &v))
				return 2;
			cfg->gid_index = (int)v;
			break;
		case 'o':
			cfg->csv_path = optarg;
			break;
		case 'P':
			if (!bench_parse_ulong(argv[0], "pages per QP", optarg, 1,
					       65536, &cfg->pages))
				return 2;
			break;
		case 'D':
			if (!bench_parse_ulong(argv[0], "depth", optarg, 1,
					       FC_MAX_DEPTH, &cfg->depth))
				return 2;
			break;
		case 'r':
			if (!bench_parse_ulong(argv[0], "repetitions", optarg, 1,
					       100, &cfg->reps))
				return 2;
			break;
		case 'R':
			if (!bench_parse_ulong(argv[0], "delay repetitions", optarg,
					       1, FC_MAX_DREPS, &cfg->dreps))
				return 2;
			break;
		case 'C':
			if (!bench_parse_ulong(argv[0], "seconds", optarg, 1,
					       24 * 3600, &cfg->cap_s))
				return 2;
			break;
		case 's':
			if (!bench_parse_ulong(argv[0], "seed", optarg, 1,
					       0xffffffffUL, &v))
				return 2;
			cfg->seed = v;
			cfg->seed_set = true;
			break;
		case 't':
			for (i = 0; i < NPARTS; i++)
				if (!strcmp(part_names[i], optarg))
					break;
			if (i == NPARTS) {
				fprintf(stderr, "%s: unknown part '%s'\n", argv[0], optarg);
				return 2;
			}
			cfg->selected[i] = true;
			any = true;
			break;
		case 'v':
			cfg->verbose = true;
			break;
		case 'h':
			usage(stdout, argv[0]);
			return 1;
		default:
			usage(stderr, argv[0]);
			return 2;
		}
	}
	if (optind != argc) {
		usage(stderr, argv[0]);
		return 2;
	}
	for (i = 0; i < NPARTS; i++)
		cfg->selected[i] |= !any;
	return 0;
}

int main(int argc, char **argv)
{
	struct fc_cfg cfg = {
		.dev = TEST_DEFAULT_DEV,
		.gid_index = TEST_DEFAULT_GID_INDEX,
		.pages = 64,
		.depth = 4,
		.reps = 1,
		.dreps = 5,
		.cap_s = 30,
	};
	struct bench_csv csv = { 0 };
	char seed_str[24];
	int rc, err = 0;

	setvbuf(stdout, NULL, _IOLBF, 0);
	rc = parse_args(argc, argv, &cfg);
	if (rc)
		return rc == 1 ? 0 : rc;
	if (!cfg.seed_set)	/* 32 bits, so that -s can repeat it */
		cfg.seed = ((bench_now_ns() ^ (uint64_t)getpid()) & 0xffffffffu) | 1;
	if (bench_csv_open(&csv, cfg.csv_path ? cfg.csv_path : "/dev/null",
			   "fault_conc"))
		return 1;
	printf("# fault_conc on %s (gid %d): conc %lu pages per QP, %lu outstanding, %lu rep(s); delay sweep %lu ops per delay; kill after %lu s; seed %" PRIu64 "\n",
	       cfg.dev, cfg.gid_index, cfg.pages, cfg.depth, cfg.reps, cfg.dreps,
	       cfg.cap_s, cfg.seed);
	snprintf(seed_str, sizeof(seed_str), "%" PRIu64, cfg.seed);	/* exact */
	bench_csv_row(&csv, "config", 0, 0, "seed", (double)cfg.seed, seed_str);
	bench_csv_row(&csv, "config", 0, 0, "pages_per_qp", (double)cfg.pages, "count");
	bench_csv_row(&csv, "config", 0, 0, "depth", (double)cfg.depth, "count");
	bench_csv_row(&csv, "config", 0, 0, "reps", (double)cfg.reps, "count");
	bench_csv_row(&csv, "config", 0, 0, "delay_reps", (double)cfg.dreps, "count");
	bench_csv_row(&csv, "config", 0, 0, "cap", (double)cfg.cap_s, "s");
	if (cfg.selected[PART_CONC] && run_conc(&cfg, &csv))
		err = 1;
	if (cfg.selected[PART_DELAY_WRITE] && run_delay(&cfg, &csv, PART_DELAY_WRITE))
		err = 1;
	if (cfg.selected[PART_DELAY_READ] && run_delay(&cfg, &csv, PART_DELAY_READ))
		err = 1;
	if (bench_csv_close(&csv))
		err = 1;
	return err;
}
