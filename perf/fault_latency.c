// SPDX-License-Identifier: GPL-2.0
/*
 * fault_latency: the cost of one RDMA ODP page fault on userfaultfd-missing
 * memory, next to matched baselines: the same access by the CPU, and the
 * same access on ordinary (MADV_DONTNEEDed) memory.
 *
 * Every op touches one fresh page (one page per op, its own page of the
 * variant's slice of one arena; an RDMA op is one packet, path MTU 4096),
 * timed with CLOCK_MONOTONIC around post + poll (or around the CPU access):
 *
 *   cpu_uffd_read/write   CPU access of a uffd-missing page; the handler
 *                         answers with UFFDIO_COPY
 *   cpu_read/write        CPU access of a MADV_DONTNEEDed page, no uffd:
 *                         an ordinary CPU fault
 *   odp_uffd_read/write   RDMA READ/WRITE of one page of an ODP MR over
 *                         uffd-missing memory: the device faults it, the
 *                         same handler answers
 *   odp_read/write        the page was MADV_DONTNEEDed before the op, no
 *                         uffd: an ordinary ODP fault
 *   odp_read/write_mapped the page is mapped in the ODP MR: no fault at all
 *
 * so that per access type X (read, write) the report can compute
 *   R_X = (odp_uffd_X - odp_X) / (cpu_uffd_X - cpu_X):
 * 1.0 means the device path adds nothing to the uffd round trip.
 *
 * Method.  All variants run interleaved in one process: each round does
 * one op of every variant still running, in an order shuffled per round
 * (xorshift64*, seeded with -s or the clock; the seed is printed and
 * written to the CSV).  The first -w rounds (default 10) are warm-up and
 * are not reported.  Transparent huge pages are off for the arena
 * (MADV_NOHUGEPAGE, checked in /proc/self/smaps: every VMA of the arena
 * must carry VmFlags "nh"), so every op is one 4 KiB fault.  Each RDMA
 * variant has its own QP pair and MR: a kernel that fails one variant
 * (stock: remote access error on uffd memory) drops only that variant from
 * the rounds.  The handler thread (one uffd for every uffd variant) takes
 * CLOCK_MONOTONIC when it has read the fault message and after
 * UFFDIO_COPY (DONTWAKE) returns, then wakes the faulting context; a uffd
 * op is thereby split into to_handler (op start to message read), handler
 * (message read to page installed) and to_completion (page installed to
 * the op's end, the wake included; negative when the device's retry found
 * the page before UFFDIO_COPY returned to the handler).
 *
 * Output (-o, long-form CSV of bench.h): per op "latency" (us), and for
 * uffd variants "to_handler", "handler", "to_completion" (us), rep = the
 * round (warm-up rounds excluded, counted from 0); per uffd variant
 * "uffd_faults" (pages faulted, warm-up included); rows of variant "meta":
 * "seed" (the exact seed in the unit column), "warmup_rounds", "rounds".  A summary (median, p90, p99) goes to stdout.  A variant the
 * kernel cannot run gets a "failed" row; no timing is ever asserted.
 */
#include "bench.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define SEED_BG		0x3cu	/* what the region holds (handler / prefill) */
#define SEED_DATA	0xa5u	/* what an RDMA WRITE delivers */
#define DEFAULT_OPS	1000
#define DEFAULT_WARMUP	10
#define OP_TIMEOUT_MS	20000

#define ODP_ACCESS	(IBV_ACCESS_ON_DEMAND | IBV_ACCESS_LOCAL_WRITE | \
			 IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_READ)
#define BUF_ACCESS	(IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE | \
			 IBV_ACCESS_REMOTE_READ)

enum fl_op { OP_CPU_READ, OP_CPU_WRITE, OP_RDMA_READ, OP_RDMA_WRITE };
enum fl_mem {
	MEM_UFFD,	/* uffd-missing, handler fills SEED_BG */
	MEM_DONTNEED,	/* prefilled, page dropped before each op */
	MEM_MAPPED,	/* prefilled and prefetched into the ODP MR */
};

struct fl_variant {
	const char *name;
	enum fl_op op;
	enum fl_mem mem;
};

static const struct fl_variant variants[] = {
	{ .name = "cpu_uffd_read", .op = OP_CPU_READ, .mem = MEM_UFFD },
	{ .name = "cpu_uffd_write", .op = OP_CPU_WRITE, .mem = MEM_UFFD },
	{ .name = "cpu_read", .op = OP_CPU_READ, .mem = MEM_DONTNEED },
	{ .name = "cpu_write", .op = OP_CPU_WRITE, .mem = MEM_DONTNEED },
	{ .name = "odp_uffd_read", .op = OP_RDMA_READ, .mem = MEM_UFFD },
	{ .name = "odp_uffd_write", .op = OP_RDMA_WRITE, .mem = MEM_UFFD },
	{ .name = "odp_read", .op = OP_RDMA_READ, .mem = MEM_DONTNEED },
	{ .name = "odp_write", .op = OP_RDMA_WRITE, .mem = MEM_DONTNEED },
	{ .name = "odp_read_mapped", .op = OP_RDMA_READ, .mem = MEM_MAPPED },
	{ .name = "odp_write_mapped", .op = OP_RDMA_WRITE, .mem = MEM_MAPPED },
};
#define NVAR ARRAY_SIZE(variants)

struct fl_cfg {
	const char *dev;
	int gid_index;
	unsigned long ops;	/* measured rounds */
	unsigned long warmup;	/* discarded rounds before them */
	uint64_t seed;
	bool seed_set;
	const char *csv_path;
	bool verbose;
	bool selected[NVAR];
};

/*
 * One handler thread for every uffd slice of the arena; per arena page the
 * time its fault message was read and the time its UFFDIO_COPY returned
 * (0: no fault yet).  Stores are release, the main thread's loads acquire;
 * both are stored before UFFDIO_WAKE, so they are final when the faulting
 * op completes.
 */
struct fl_uffd {
	int uffd;		/* -1 when closed */
	int stop_fd;
	uint8_t *arena;
	size_t slice_pages;	/* pages per variant */
	size_t pages;		/* arena pages */
	size_t psz;
	uint8_t *src;
	pthread_t thread;
	bool started;
	_Atomic uint64_t *t_read, *t_copied;
	atomic_ulong faults;
	atomic_ulong eexist;
	atomic_bool failed;	/* set (release) after err_msg is written */
	char err_msg[192];
};

/* Everything one variant uses; zeroed, then set up in order. */
struct fl_var {
	const struct fl_variant *v;
	size_t vidx;		/* index in variants[] == arena slice */
	struct bench_ctx b;
	uint8_t *slice;		/* this variant's pages of the arena */
	uint8_t *buf;		/* pinned local page for RDMA */
	struct rdma_res r;
	bool have_rdma;
	struct ibv_mr *mr;	/* ODP MR over slice */
	struct ibv_mr *buf_mr;
	bool running;		/* still in the rounds */
	char failed[192];	/* why it left the rounds ("" measured) */
	double *lat_us;		/* per measured round */
	double *split_us;	/* 3 per measured round: to_handler, handler, to_completion */
	unsigned long done;	/* measured rounds done */
};

static bool is_rdma(const struct fl_variant *v)
{
	return v->op == OP_RDMA_READ || v->op == OP_RDMA_WRITE;
}

/* ---------------------------------------------------------------- uffd */

TEST_PRINTF(3, 4)
static void fl_uffd_error(struct fl_uffd *u, int err, const char *fmt, ...)
{
	size_t n;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(u->err_msg, sizeof(u->err_msg), fmt, ap);
	va_end(ap);
	n = strlen(u->err_msg);
	if (err && n < sizeof(u->err_msg))
		snprintf(u->err_msg + n, sizeof(u->err_msg) - n, ": %s",
			 strerror(err));
	atomic_store_explicit(&u->failed, true, memory_order_release);
}

static bool fl_uffd_resolve(struct fl_uffd *u, const struct uffd_msg *msg,
			    uint64_t t_read)
{
	uint64_t addr = msg->arg.pagefault.address & ~(uint64_t)(u->psz - 1);
	uint64_t base = (uintptr_t)u->arena;
	struct uffdio_range wake = { .start = addr, .len = u->psz };
	struct uffdio_copy copy;
	size_t idx;

	if (addr < base || addr >= base + u->pages * u->psz) {
		fl_uffd_error(u, 0, "fault at 0x%llx outside the arena",
			      (unsigned long long)msg->arg.pagefault.address);
		return false;
	}
	idx = (size_t)((addr - base) / u->psz);
	atomic_fetch_add(&u->faults, 1);
	pattern_fill(u->src, u->psz, SEED_BG, (idx % u->slice_pages) * u->psz,
		     u->psz);
	copy = (struct uffdio_copy){
		.dst = addr, .src = (uintptr_t)u->src, .len = u->psz,
		.mode = UFFDIO_COPY_MODE_DONTWAKE,
	};
	if (ioctl(u->uffd, UFFDIO_COPY, &copy)) {
		if (errno != EEXIST) {
			fl_uffd_error(u, errno, "UFFDIO_COPY(arena page %zu)", idx);
			return false;
		}
		atomic_fetch_add(&u->eexist, 1);	/* duplicate fault */
	} else if (!atomic_load_explicit(&u->t_copied[idx], memory_order_relaxed)) {
		atomic_store_explicit(&u->t_read[idx], t_read, memory_order_release);
		atomic_store_explicit(&u->t_copied[idx], bench_now_ns(),
				      memory_order_release);
	}
	if (ioctl(u->uffd, UFFDIO_WAKE, &wake)) {
		fl_uffd_error(u, errno, "UFFDIO_WAKE(arena page %zu)", idx);
		return false;
	}
	return true;
}

static void *fl_uffd_thread(void *arg)
{
	struct fl_uffd *u = arg;
	struct pollfd pfd[2] = {
		{ .fd = u->uffd, .events = POLLIN },
		{ .fd = u->stop_fd, .events = POLLIN },
	};
	struct uffd_msg msg;
	uint64_t t_read;
	ssize_t n;

	for (;;) {
		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			fl_uffd_error(u, errno, "poll(uffd, stop fd)");
			return NULL;
		}
		if (pfd[1].revents)
			return NULL;
		if (pfd[0].revents & (POLLERR | POLLHUP | POLLNVAL)) {
			fl_uffd_error(u, 0, "poll: uffd revents 0x%x",
				      (unsigned int)pfd[0].revents);
			return NULL;
		}
		if (!(pfd[0].revents & POLLIN))
			continue;
		n = read(u->uffd, &msg, sizeof(msg));
		t_read = bench_now_ns();
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				continue;
			fl_uffd_error(u, errno, "read(uffd)");
			return NULL;
		}
		if (n != (ssize_t)sizeof(msg)) {
			fl_uffd_error(u, 0, "read(uffd): short read %zd of %zu",
				      n, sizeof(msg));
			return NULL;
		}
		if (msg.event != UFFD_EVENT_PAGEFAULT) {
			fl_uffd_error(u, 0, "unexpected uffd event 0x%x",
				      (unsigned int)msg.event);
			return NULL;
		}
		if (!fl_uffd_resolve(u, &msg, t_read))
			return NULL;
	}
}

static int fl_uffd_start(struct test_ctx *t, struct fl_uffd *u)
{
	int err;

	u->t_read = calloc(u->pages, sizeof(*u->t_read));
	u->t_copied = calloc(u->pages, sizeof(*u->t_copied));
	if (!u->t_read || !u->t_copied)
		return test_fail(t, "calloc(2 x %zu handler timestamps): %s",
				 u->pages, strerror(errno));
	u->src = aligned_alloc(u->psz, u->psz);
	if (!u->src)
		return test_fail(t, "aligned_alloc(uffd source page): %s",
				 strerror(errno));
	u->stop_fd = eventfd(0, EFD_CLOEXEC);
	if (u->stop_fd < 0)
		return test_fail(t, "eventfd(uffd stop): %s", strerror(errno));
	err = pthread_create(&u->thread, NULL, fl_uffd_thread, u);
	if (err)
		return test_fail(t, "pthread_create(uffd handler): %s",
				 strerror(err));
	u->started = true;
	return TEST_PASS;
}

/* Stop the thread and close the uffd (which unregisters every range). */
static int fl_uffd_stop(struct test_ctx *t, struct fl_uffd *u)
{
	uint64_t one = 1;
	int rc = TEST_PASS, err;

	if (u->started) {
		if (write(u->stop_fd, &one, sizeof(one)) != (ssize_t)sizeof(one))
			return test_fail(t, "write(uffd stop eventfd): %s",
					 strerror(errno));
		err = pthread_join(u->thread, NULL);
		if (err)
			rc = test_fail(t, "pthread_join(uffd handler): %s",
				       strerror(err));
		u->started = false;
	}
	if (atomic_load_explicit(&u->failed, memory_order_acquire))
		rc = test_fail(t, "uffd handler: %s", u->err_msg);
	if (u->stop_fd >= 0 && close(u->stop_fd))
		rc = test_fail(t, "close(uffd stop eventfd): %s", strerror(errno));
	u->stop_fd = -1;
	if (u->uffd >= 0 && close(u->uffd))
		rc = test_fail(t, "close(uffd): %s", strerror(errno));
	u->uffd = -1;
	free(u->src);
	free((void *)u->t_read);
	free((void *)u->t_copied);
	u->src = NULL;
	u->t_read = u->t_copied = NULL;
	return rc;
}

/* ------------------------------------------------------------- the arena */

/* Every VMA overlapping [a, a+len) must have VmFlags "nh" (MADV_NOHUGEPAGE). */
static int check_nohugepage(struct test_ctx *t, const void *a, size_t len)
{
	uintptr_t lo = (uintptr_t)a, hi = lo + len, s = 0, e = 0;
	bool in = false, seen = false;
	unsigned long vmas = 0;
	char line[512];
	FILE *f;
	int rc = TEST_PASS;

	f = fopen("/proc/self/smaps", "r");
	if (!f)
		return test_fail(t, "fopen(/proc/self/smaps): %s", strerror(errno));
	while (fgets(line, sizeof(line), f)) {
		uintptr_t vs, ve;

		if (sscanf(line, "%" SCNxPTR "-%" SCNxPTR " ", &vs, &ve) == 2 &&
		    strchr(line, '-') < strchr(line, ' ')) {
			s = vs;
			e = ve;
			in = s < hi && e > lo;
			continue;
		}
		if (!in || strncmp(line, "VmFlags:", 8))
			continue;
		vmas++;
		seen = true;
		if (!strstr(line, " nh")) {
			rc = test_fail(t, "VMA %#" PRIxPTR "-%#" PRIxPTR
				       " of the arena lacks VmFlags nh (MADV_NOHUGEPAGE): %s",
				       s, e, line);
			break;
		}
	}
	if (ferror(f))
		rc = test_fail(t, "reading /proc/self/smaps failed");
	if (fclose(f))
		rc = test_fail(t, "fclose(/proc/self/smaps): %s", strerror(errno));
	if (rc == TEST_PASS && !seen)
		rc = test_fail(t, "no VMA of the arena %p+%zu in /proc/self/smaps",
			       a, len);
	if (rc == TEST_PASS)
		printf("# THP off for the arena: %lu VMAs, each VmFlags nh\n", vmas);
	return rc;
}

static int var_setup(struct fl_var *fv, struct fl_uffd *u, size_t psz)
{
	const struct rdma_caps_req req = {
		.odp = true,
		.rc_odp_caps = IBV_ODP_SUPPORT_READ | IBV_ODP_SUPPORT_WRITE,
		/* A page is one packet: what is timed is the fault, not
		 * reassembly, and stock's multi-packet copy bug stays out. */
		.mtu = IBV_MTU_4096,
	};
	struct test_ctx *t = &fv->b.t;
	size_t len = u->slice_pages * psz;
	int rc;

	if (fv->v->mem == MEM_UFFD) {
		test_step(t, "uffd register");
		rc = uffd_register_missing(t, u->uffd, fv->slice, len);
		if (rc != TEST_PASS)
			return rc;
	} else {
		pattern_fill(fv->slice, len, SEED_BG, 0, psz);
	}
	if (!is_rdma(fv->v))
		return TEST_PASS;
	test_step(t, "RDMA setup");
	rc = rdma_setup(t, &fv->r, &req);
	if (rc != TEST_PASS)
		return rc;
	fv->have_rdma = true;
	rc = mem_map(t, psz, (void **)&fv->buf, "local page");
	if (rc != TEST_PASS)
		return rc;
	rc = rdma_reg_mr(t, &fv->r, fv->buf, psz, BUF_ACCESS,
			 "pinned local page", &fv->buf_mr);
	if (rc != TEST_PASS)
		return rc;
	rc = rdma_reg_mr(t, &fv->r, fv->slice, len, ODP_ACCESS, "ODP slice",
			 &fv->mr);
	if (rc != TEST_PASS)
		return rc;
	if (fv->v->mem == MEM_MAPPED) {
		struct ibv_sge sge = {
			.addr = (uintptr_t)fv->slice,
			.length = (uint32_t)len,
			.lkey = fv->mr->lkey,
		};

		test_step(t, "prefetch the whole slice (no faults in the ops)");
		if (ibv_advise_mr(fv->r.pd, IBV_ADVISE_MR_ADVICE_PREFETCH_WRITE,
				  IBV_ADVISE_MR_FLAG_FLUSH, &sge, 1))
			return test_fail(t, "ibv_advise_mr(PREFETCH_WRITE, FLUSH, %zu bytes): %s",
					 len, strerror(errno));
	}
	return TEST_PASS;
}

static int var_teardown(struct fl_var *fv, size_t psz)
{
	struct test_ctx *t = &fv->b.t;
	int rc = TEST_PASS;

	test_step(t, "teardown");
	rc = test_worse(rc, rdma_dereg_mr(t, &fv->mr, "ODP slice"));
	rc = test_worse(rc, rdma_dereg_mr(t, &fv->buf_mr, "pinned local page"));
	if (fv->have_rdma)
		rc = test_worse(rc, rdma_teardown(t, &fv->r));
	fv->have_rdma = false;
	rc = test_worse(rc, mem_unmap(t, (void **)&fv->buf, psz, "local page"));
	return rc;
}

/* ------------------------------------------------------------------ ops */

/* One RDMA op on page i: post + poll between *t0 and *t1. */
static int rdma_op(struct fl_var *fv, const struct fl_uffd *u, size_t i,
		   size_t psz, uint64_t *t0, uint64_t *t1)
{
	struct test_ctx *t = &fv->b.t;
	struct ibv_sge sge = {
		.addr = (uintptr_t)fv->buf, .length = (uint32_t)psz,
		.lkey = fv->buf_mr->lkey,
	};
	struct ibv_send_wr wr = {
		.wr_id = i, .sg_list = &sge, .num_sge = 1,
		.opcode = fv->v->op == OP_RDMA_READ ? IBV_WR_RDMA_READ :
						      IBV_WR_RDMA_WRITE,
	};
	struct ibv_wc wc;
	bool got_wc;
	int rc;

	wr.wr.rdma.remote_addr = (uintptr_t)(fv->slice + i * psz);
	wr.wr.rdma.rkey = fv->mr->rkey;
	*t0 = bench_now_ns();
	rc = bench_post_poll(t, fv->r.qp[0], fv->r.cq[0], &wr, OP_TIMEOUT_MS,
			     fv->v->mem == MEM_UFFD ? &u->failed : NULL, &wc,
			     &got_wc);
	*t1 = bench_now_ns();
	if (rc != TEST_PASS && got_wc && wc.status != IBV_WC_SUCCESS)
		snprintf(fv->failed, sizeof(fv->failed), "op %zu completed with %s",
			 i, ibv_wc_status_str(wc.status));
	else if (rc != TEST_PASS)
		snprintf(fv->failed, sizeof(fv->failed), "op %zu: error in step '%s'",
			 i, fv->b.shared.step);
	return rc;
}

/* The op of page i: *t0..*t1 is the timed part; every moved byte checked. */
static int op_and_verify(struct fl_var *fv, const struct fl_uffd *u, size_t i,
			 size_t psz, uint64_t *t0, uint64_t *t1)
{
	struct test_ctx *t = &fv->b.t;
	size_t pos = i * psz;
	uint8_t *page = fv->slice + pos;
	volatile uint8_t *vp = page;
	uint8_t wbyte = pattern_byte(SEED_BG, pos, psz);
	int rc;

	test_step(t, "%s op %zu", fv->v->name, i);
	if (fv->v->mem == MEM_DONTNEED && madvise(page, psz, MADV_DONTNEED)) {
		snprintf(fv->failed, sizeof(fv->failed), "madvise(MADV_DONTNEED) failed");
		return test_fail(t, "madvise(page %zu, MADV_DONTNEED): %s", i,
				 strerror(errno));
	}
	if (fv->v->op == OP_RDMA_WRITE)
		pattern_fill(fv->buf, psz, SEED_DATA, pos, psz);
	else if (is_rdma(fv->v))
		memset(fv->buf, 0, psz);

	switch (fv->v->op) {
	case OP_CPU_READ:
		*t0 = bench_now_ns();
		(void)*vp;
		*t1 = bench_now_ns();
		rc = fv->v->mem == MEM_DONTNEED ?	/* dropped anon page reads 0 */
			bytes_verify(t, page, psz, 0, pos, "page read by the CPU") :
			pattern_verify(t, page, psz, SEED_BG, pos, psz, "page read by the CPU");
		break;
	case OP_CPU_WRITE:
		*t0 = bench_now_ns();
		*vp = wbyte;
		*t1 = bench_now_ns();
		if (fv->v->mem == MEM_DONTNEED)	/* a zeroed page, byte 0 written */
			rc = page[0] != wbyte ?
				test_fail(t, "page written by the CPU: byte 0 is 0x%02x, wrote 0x%02x",
					  page[0], wbyte) :
				bytes_verify(t, page + 1, psz - 1, 0, pos + 1,
					     "page written by the CPU");
		else
			rc = pattern_verify(t, page, psz, SEED_BG, pos, psz,
					    "page written by the CPU");
		break;
	case OP_RDMA_READ:
		rc = rdma_op(fv, u, i, psz, t0, t1);
		if (rc != TEST_PASS)
			return rc;
		rc = fv->v->mem == MEM_DONTNEED ?
			bytes_verify(t, fv->buf, psz, 0, pos, "RDMA READ result") :
			pattern_verify(t, fv->buf, psz, SEED_BG, pos, psz, "RDMA READ result");
		break;
	case OP_RDMA_WRITE:
		rc = rdma_op(fv, u, i, psz, t0, t1);
		if (rc != TEST_PASS)
			return rc;
		rc = pattern_verify(t, page, psz, SEED_DATA, pos, psz,
				    "RDMA WRITE target page");
		break;
	default:
		return test_fail(t, "unknown op %d", (int)fv->v->op);
	}
	if (rc != TEST_PASS)	/* the stock kernel's rxe ODP copy (patch 2) */
		snprintf(fv->failed, sizeof(fv->failed), "op %zu moved wrong data", i);
	return rc;
}

/* Round `round` of variant fv; records it from round cfg->warmup on. */
static int var_round(const struct fl_cfg *cfg, struct fl_var *fv,
		     struct fl_uffd *u, size_t psz, unsigned long round)
{
	size_t gidx = fv->vidx * u->slice_pages + round;
	uint64_t t0 = 0, t1 = 0, tr, tc;
	unsigned long m, tries;
	double *sp;
	int rc;

	rc = op_and_verify(fv, u, round, psz, &t0, &t1);
	if (rc != TEST_PASS)
		return rc;
	if (round < cfg->warmup)
		return TEST_PASS;
	m = round - cfg->warmup;
	fv->lat_us[m] = (double)(t1 - t0) / 1000.0;
	fv->done = m + 1;
	if (fv->v->mem != MEM_UFFD)
		return TEST_PASS;
	/*
	 * The handler stores its timestamps after UFFDIO_COPY returns, but the
	 * copy has installed the page before that: a retry of the device
	 * (the requester's RNR timer) can complete the op first.  Give the
	 * handler a second to finish; to_completion is then negative.
	 */
	for (tries = 0;; tries++) {
		tr = atomic_load_explicit(&u->t_read[gidx], memory_order_acquire);
		tc = atomic_load_explicit(&u->t_copied[gidx], memory_order_acquire);
		if ((tr && tc) || tries == 10000)
			break;
		test_sleep_us(100);
	}
	if (!tr || !tc) {
		snprintf(fv->failed, sizeof(fv->failed), "op %lu: no uffd fault", round);
		return test_fail(&fv->b.t, "%s op %lu completed without a uffd fault on its page",
				 fv->v->name, round);
	}
	sp = &fv->split_us[3 * m];
	sp[0] = ((double)tr - (double)t0) / 1000.0;
	sp[1] = ((double)tc - (double)tr) / 1000.0;
	sp[2] = ((double)t1 - (double)tc) / 1000.0;
	return TEST_PASS;
}

/* -------------------------------------------------------------- rounds */

static uint64_t xorshift64s(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545f4914f6cdd1dull;
}

/* Fisher-Yates over order[0..n). */
static void shuffle(size_t *order, size_t n, uint64_t *state)
{
	size_t i, j, tmp;

	for (i = n; i > 1; i--) {
		j = (size_t)(xorshift64s(state) % i);
		tmp = order[i - 1];
		order[i - 1] = order[j];
		order[j] = tmp;
	}
}

static void summary(struct bench_csv *csv, const struct fl_var *fv,
		    unsigned long faults)
{
	static const char *const split_names[3] = {
		"to_handler", "handler", "to_completion",
	};
	const char *name = fv->v->name;
	unsigned long i, n = fv->done;
	double *s;
	int k;

	for (i = 0; i < n; i++) {
		bench_csv_row(csv, name, 1, (unsigned int)i, "latency",
			      fv->lat_us[i], "us");
		if (fv->v->mem == MEM_UFFD)
			for (k = 0; k < 3; k++)
				bench_csv_row(csv, name, 1, (unsigned int)i,
					      split_names[k],
					      fv->split_us[3 * i + k], "us");
	}
	if (fv->v->mem == MEM_UFFD)
		bench_csv_row(csv, name, 1, 0, "uffd_faults", (double)faults,
			      "count");
	if (!n)
		return;
	s = malloc(n * sizeof(*s));
	if (!s) {
		tap_diag("%s: malloc(summary): %s", name, strerror(errno));
		return;
	}
	memcpy(s, fv->lat_us, n * sizeof(*s));
	printf("%-18s %6lu ops  median %9.1f us  p90 %9.1f us  p99 %9.1f us",
	       name, n, bench_percentile(s, n, 50), bench_percentile(s, n, 90),
	       bench_percentile(s, n, 99));
	if (fv->v->mem == MEM_UFFD) {
		for (k = 0; k < 3; k++) {
			for (i = 0; i < n; i++)
				s[i] = fv->split_us[3 * i + k];
			printf("  %s %.1f", split_names[k], bench_percentile(s, n, 50));
		}
	}
	printf("\n");
	free(s);
}

/* Uffd faults taken on the pages of variant slice vidx. */
static unsigned long slice_faults(const struct fl_uffd *u, size_t vidx)
{
	unsigned long n = 0;
	size_t i;

	for (i = 0; i < u->slice_pages; i++)
		n += atomic_load_explicit(&u->t_copied[vidx * u->slice_pages + i],
					  memory_order_acquire) != 0;
	return n;
}

static int run_all(const struct fl_cfg *cfg, struct bench_csv *csv)
{
	struct fl_uffd u = { .uffd = -1, .stop_fd = -1, .psz = page_size() };
	struct fl_var vars[NVAR];
	struct bench_ctx main_ctx;
	struct test_ctx *t = &main_ctx.t;
	size_t order[NVAR], nrun = 0, psz = u.psz, i, len;
	unsigned long round, rounds = cfg->warmup + cfg->ops;
	uint64_t rng = cfg->seed ? cfg->seed : 1;
	char seed_str[24];
	int rc, err = 0;

	bench_ctx_init(&main_ctx, cfg->dev, cfg->gid_index, cfg->verbose,
		       "fault_latency");
	memset(vars, 0, sizeof(vars));
	u.slice_pages = rounds;
	u.pages = NVAR * rounds;
	len = u.pages * psz;
	test_step(t, "map the arena (%zu pages)", u.pages);
	rc = mem_map(t, len, (void **)&u.arena, "arena");
	if (rc != TEST_PASS)
		return 1;
	if (madvise(u.arena, len, MADV_NOHUGEPAGE)) {
		test_fail(t, "madvise(arena, MADV_NOHUGEPAGE): %s", strerror(errno));
		err = 1;
		goto out_unmap;
	}
	test_step(t, "userfaultfd");
	if (uffd_open(t, &u.uffd) != TEST_PASS ||
	    fl_uffd_start(t, &u) != TEST_PASS) {
		err = 1;
		goto out_uffd;
	}
	for (i = 0; i < NVAR; i++) {
		struct fl_var *fv = &vars[i];

		fv->v = &variants[i];
		fv->vidx = i;
		fv->slice = u.arena + i * rounds * psz;
		if (!cfg->selected[i])
			continue;
		bench_ctx_init(&fv->b, cfg->dev, cfg->gid_index, cfg->verbose,
			       fv->v->name);
		fv->lat_us = calloc(cfg->ops, sizeof(*fv->lat_us));
		fv->split_us = calloc(3 * cfg->ops, sizeof(*fv->split_us));
		if (!fv->lat_us || !fv->split_us) {
			fprintf(stderr, "fault_latency: calloc(%lu latencies): %s\n",
				cfg->ops, strerror(errno));
			err = 1;
			goto out_vars;
		}
		rc = var_setup(fv, &u, psz);
		if (rc == TEST_SKIP) {
			snprintf(fv->failed, sizeof(fv->failed), "skipped: %s",
				 fv->b.shared.skip_reason);
		} else if (rc != TEST_PASS) {
			snprintf(fv->failed, sizeof(fv->failed),
				 "error in step '%s'", fv->b.shared.step);
			err = 1;
		} else {
			fv->running = true;
			order[nrun++] = i;
		}
	}
	/* Registration split the arena's VMA: check every piece. */
	if (check_nohugepage(t, u.arena, len) != TEST_PASS) {
		err = 1;
		goto out_vars;
	}
	printf("# seed %" PRIu64 "; %lu warm-up rounds discarded, then %lu rounds; %zu variants\n",
	       cfg->seed, cfg->warmup, cfg->ops, nrun);
	snprintf(seed_str, sizeof(seed_str), "%" PRIu64, cfg->seed);	/* exact */
	bench_csv_row(csv, "meta", 1, 0, "seed", (double)cfg->seed, seed_str);
	bench_csv_row(csv, "meta", 1, 0, "warmup_rounds", (double)cfg->warmup, "rounds");
	bench_csv_row(csv, "meta", 1, 0, "rounds", (double)cfg->ops, "rounds");
	for (round = 0; round < rounds && nrun; round++) {
		size_t k, left = 0;

		shuffle(order, nrun, &rng);
		for (k = 0; k < nrun; k++) {
			struct fl_var *fv = &vars[order[k]];

			if (var_round(cfg, fv, &u, psz, round) != TEST_PASS) {
				fv->running = false;
				printf("%-18s left the rounds at round %lu: %s\n",
				       fv->v->name, round, fv->failed);
			}
		}
		for (k = 0; k < nrun; k++)	/* keep the order of survivors */
			if (vars[order[k]].running)
				order[left++] = order[k];
		nrun = left;
		if (atomic_load_explicit(&u.failed, memory_order_acquire))
			break;
	}
out_vars:
	for (i = 0; i < NVAR; i++) {
		struct fl_var *fv = &vars[i];

		if (!cfg->selected[i] || !fv->lat_us)
			continue;
		if (fv->failed[0]) {
			bench_csv_failed(csv, fv->v->name, 1, "%s", fv->failed);
			printf("%-18s failed on this kernel: %s\n", fv->v->name, fv->failed);
		} else {
			summary(csv, fv, u.t_copied ? slice_faults(&u, i) : 0);
		}
	}
out_uffd:
	/* Close the uffd first: nothing may wait for the handler (design.md). */
	if (fl_uffd_stop(t, &u) != TEST_PASS)
		err = 1;
	for (i = 0; i < NVAR; i++) {
		if (vars[i].lat_us && var_teardown(&vars[i], psz) != TEST_PASS)
			err = 1;
		free(vars[i].lat_us);
		free(vars[i].split_us);
	}
out_unmap:
	if (mem_unmap(t, (void **)&u.arena, len, "arena") != TEST_PASS)
		err = 1;
	return err;
}

static void usage(FILE *f, const char *prog)
{
	size_t i;

	fprintf(f,
		"usage: %s [-d dev] [-g gid_index] [-n ops] [-w warmup] [-s seed] [-o csv]\n"
		"          [-t variant]... [-v]\n"
		"  -n ops      measured rounds: faults per variant, one fresh page each (default %d)\n"
		"  -w warmup   rounds run first and discarded (default %d)\n"
		"  -s seed     seed of the per-round variant order (default: from the clock; printed)\n"
		"  -o file     long-form CSV (default: stdout is the summary only)\n"
		"  -t variant  run only this variant (repeatable); variants:\n",
		prog, DEFAULT_OPS, DEFAULT_WARMUP);
	for (i = 0; i < NVAR; i++)
		fprintf(f, "              %s\n", variants[i].name);
	fprintf(f, "exit: 0 every variant measured, refused by the kernel or found wrong data\n"
		"      (recorded as \"failed\" rows), 1 error of the benchmark itself\n");
}

static int parse_args(int argc, char **argv, struct fl_cfg *cfg)
{
	bool any = false;
	unsigned long v;
	size_t i;
	int opt;

	while ((opt = getopt(argc, argv, "d:g:n:w:s:o:t:vh")) != -1) {
		switch (opt) {
		case 'd':
			cfg->dev = optarg;
			break;
		case 'g':
			if (!bench_parse_ulong(argv[0], "GID index", optarg, 0, 255, &v))
				return 2;
			cfg->gid_index = (int)v;
			break;
		case 'n':
			if (!bench_parse_ulong(argv[0], "op count", optarg, 1,
					       1000000, &cfg->ops))
				return 2;
			break;
		case 'w':
			if (!bench_parse_ulong(argv[0], "warm-up rounds", optarg, 0,
					       100000, &cfg->warmup))
				return 2;
			break;
		case 's':
			if (!bench_parse_ulong(argv[0], "seed", optarg, 1,
					       0xffffffffUL, &v))
				return 2;
			cfg->seed = v;
			cfg->seed_set = true;
			break;
		case 'o':
			cfg->csv_path = optarg;
			break;
		case 't':
			for (i = 0; i < NVAR; i++)
				if (!strcmp(variants[i].name, optarg))
					break;
			if (i == NVAR) {
				fprintf(stderr, "%s: unknown variant '%s' (-h lists them)\n",
					argv[0], optarg);
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
	for (i = 0; i < NVAR; i++)
		cfg->selected[i] |= !any;
	return 0;
}

int main(int argc, char **argv)
{
	struct fl_cfg cfg = {
		.dev = TEST_DEFAULT_DEV,
		.gid_index = TEST_DEFAULT_GID_INDEX,
		.ops = DEFAULT_OPS,
		.warmup = DEFAULT_WARMUP,
	};
	struct bench_csv csv = { 0 };
	int rc, err;

	setvbuf(stdout, NULL, _IOLBF, 0);
	rc = parse_args(argc, argv, &cfg);
	if (rc)
		return rc == 1 ? 0 : rc;
	if (!cfg.seed_set)	/* 32 bits, so that -s can repeat it */
		cfg.seed = ((bench_now_ns() ^ (uint64_t)getpid()) & 0xffffffffu) | 1;
	if (bench_csv_open(&csv, cfg.csv_path ? cfg.csv_path : "/dev/null",
			   "fault_latency"))
		return 1;
	printf("# fault_latency on %s (gid %d): %lu rounds after %lu warm-up, one fresh %zu-byte page per op, seed %" PRIu64 "\n",
	       cfg.dev, cfg.gid_index, cfg.ops, cfg.warmup, page_size(), cfg.seed);
	err = run_all(&cfg, &csv);
	if (bench_csv_close(&csv))
		err = 1;
	return err;
}
