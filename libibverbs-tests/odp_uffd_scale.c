// SPDX-License-Identifier: GPL-2.0
/*
 * Scale and concurrency of RDMA ODP faults on userfaultfd-missing memory:
 * one page, 64 pages, a 256 MiB MR faulted in a bounded part (every 64th
 * page plus a contiguous 4 MiB block; faulting all 65536 pages in one call
 * costs O(N^2) page walks with the current series), and 8 QP pairs driven by
 * 4 threads faulting the same uffd pages at once.
 *
 * Every page the device touches must be installed by the handler exactly
 * once (further faults on it end in EEXIST) and every byte is checked.  Times
 * are reported in "# time" lines, never asserted.  The _odp twins run the
 * same on ordinary ODP memory after MADV_DONTNEED.
 */
#include "common.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#define SEED_DATA	0xa5u
#define SEED_BG		0x3cu

#define ODP_ACCESS	(IBV_ACCESS_ON_DEMAND | IBV_ACCESS_LOCAL_WRITE | \
			 IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_READ)

#define BIG_LEN		(256UL << 20)
#define BIG_STRIDE	64		/* pages between sparse touches */
#define BIG_BLOCK	(4UL << 20)	/* contiguous part */
#define BIG_BLOCK_PAGE	32768		/* where it starts (128 MiB) */
#define SPARSE_LEN	200		/* sparse write, 100 bytes into a page */
#define SPARSE_OFF	100
#define SPARSE_BATCH	16		/* WRs per post (the send queue depth) */
#define ADVISE_SGES	32		/* SGEs per ibv_advise_mr() call */

#define LONG_WC_TIMEOUT_MS	200000	/* below the 300 s bound of the 256 MiB tests */
#define SINK_POPULATE_MAX	(16UL << 20)

#define CONC_QPS	8
#define CONC_THREADS	4
#define CONC_PAGES	64

/* The sink of the test: uffd-missing, or plain ODP dropped by DONTNEED. */
struct sink {
	bool uffd;
	uint8_t *addr;
	size_t len, psz;
	uint32_t bg;		/* uffd: the handler installs this pattern */
	struct ibv_mr *mr;
	struct uffd_handler h;
};

static int sink_setup(struct test_ctx *t, struct rdma_res *r, struct sink *s,
		      bool uffd, size_t len, uint32_t bg)
{
	int rc;

	memset(s, 0, sizeof(*s));
	uffd_handler_init(&s->h);
	s->uffd = uffd;
	s->len = len;
	s->psz = page_size();
	s->bg = bg;
	test_step(t, "sink: %zu bytes of %s memory", len,
		  uffd ? "uffd-missing" : "plain ODP");
	rc = mem_map(t, len, (void **)&s->addr, "sink");
	if (rc == TEST_PASS && uffd)
		rc = uffd_missing_setup(t, &s->h, s->addr, len,
					uffd_fill_pattern, &s->bg);
	if (rc == TEST_PASS)
		rc = rdma_reg_mr(t, r, s->addr, len, ODP_ACCESS, "sink (ODP)",
				 &s->mr);
	if (rc != TEST_PASS || uffd)
		return rc;
	/*
	 * Plain ODP: populate, then drop; the device faults zero pages.  A
	 * large MR is left untouched instead (the same empty page tables;
	 * populating 256 MiB costs seconds under TCG).
	 */
	if (len > SINK_POPULATE_MAX)
		return TEST_PASS;
	memset(s->addr, 0xff, len);
	if (madvise(s->addr, len, MADV_DONTNEED))
		return test_fail(t, "madvise(sink, MADV_DONTNEED): %s",
				 strerror(errno));
	return TEST_PASS;
}

static int sink_teardown(struct test_ctx *t, struct sink *s)
{
	int rc = uffd_missing_teardown(t, &s->h);

	rc = test_worse(rc, rdma_dereg_mr(t, &s->mr, "sink"));
	return test_worse(rc, mem_unmap(t, (void **)&s->addr, s->len, "sink"));
}

static const struct uffd_handler *sink_watch(const struct sink *s)
{
	return s->uffd ? &s->h : NULL;
}

/* Check [from, to) of the sink holds what it held before the test. */
static int sink_verify_old(struct test_ctx *t, const struct sink *s,
			   size_t from, size_t to)
{
	if (to <= from)
		return TEST_PASS;
	if (!s->uffd)
		return bytes_verify(t, s->addr + from, to - from, 0, from,
				    "untouched sink bytes");
	return pattern_verify(t, s->addr + from, to - from, s->bg, from, s->psz,
			      "untouched sink bytes");
}

/* Each of want pages installed exactly once; call before CPU reads. */
static int sink_check_faults(struct test_ctx *t, const struct sink *s,
			     size_t want)
{
	unsigned long copies = atomic_load(&s->h.copies);
	unsigned long eexist = atomic_load(&s->h.eexist);

	if (!s->uffd)
		return TEST_PASS;
	uffd_handler_report(&s->h, "sink");
	if (uffd_handler_failed(&s->h))
		return uffd_handler_check(t, &s->h);
	if (copies != want)
		return test_fail(t, "handler installed %lu pages, expected %zu",
				 copies, want);
	if (uffd_faults(&s->h) != copies + eexist)
		return test_fail(t, "%lu faults but %lu installed + %lu EEXIST",
				 uffd_faults(&s->h), copies, eexist);
	return TEST_PASS;
}

/* A pinned source of len bytes (contents set per write). */
static int source_setup(struct test_ctx *t, struct rdma_res *r, size_t len,
			void **addr, struct ibv_mr **mr)
{
	int rc = mem_map(t, len, addr, "source");

	if (rc == TEST_PASS)
		rc = rdma_reg_mr(t, r, *addr, len, IBV_ACCESS_LOCAL_WRITE,
				 "source", mr);
	return rc;
}

/*
 * RDMA WRITE of len bytes to sink position pos: the source carries the
 * data pattern of the target positions.  The completion may take long: one
 * WRITE over a 4 MiB block is 4096 packets and 1024 handler round trips
 * (over 20 s on the debug kernel on a loaded machine).
 */
static int write_at(struct test_ctx *t, struct rdma_res *r, struct sink *s,
		    uint8_t *src, uint32_t lkey, size_t pos, size_t len)
{
	struct ibv_sge sge = {
		.addr = (uintptr_t)src, .length = (uint32_t)len, .lkey = lkey,
	};
	struct ibv_send_wr wr = {
		.wr_id = pos, .sg_list = &sge, .num_sge = 1,
		.opcode = IBV_WR_RDMA_WRITE,
		.wr.rdma = { .remote_addr = (uintptr_t)s->addr + pos,
			     .rkey = s->mr->rkey },
	};
	struct ibv_wc wc;

	pattern_fill(src, len, SEED_DATA, pos, s->psz);
	return rdma_post_wait(t, r->qp[0], r->cq[0], &wr, LONG_WC_TIMEOUT_MS,
			      sink_watch(s), &wc);
}

/*
 * SPARSE_LEN bytes at SPARSE_OFF into every BIG_STRIDE-th page of the sink,
 * SPARSE_BATCH WRs per ibv_post_send() (only the last signaled: RC completes
 * in order), each from its own slot of src holding its target's pattern.
 */
static int write_sparse(struct test_ctx *t, struct rdma_res *r, struct sink *s,
			uint8_t *src, uint32_t lkey)
{
	const size_t pages = s->len / s->psz;
	struct ibv_send_wr wr[SPARSE_BATCH], *bad;
	struct ibv_sge sge[SPARSE_BATCH];
	unsigned int n = 0, batch = 0;
	struct ibv_wc wc;
	size_t p, pos;
	int err, rc;

	for (p = 0; p < pages; p += BIG_STRIDE) {
		pos = p * s->psz + SPARSE_OFF;
		pattern_fill(src + n * SPARSE_LEN, SPARSE_LEN, SEED_DATA, pos,
			     s->psz);
		sge[n] = (struct ibv_sge){ .addr = (uintptr_t)src + n * SPARSE_LEN,
					   .length = SPARSE_LEN, .lkey = lkey };
		wr[n] = (struct ibv_send_wr){
			.wr_id = batch, .sg_list = &sge[n], .num_sge = 1,
			.opcode = IBV_WR_RDMA_WRITE,
			.wr.rdma = { .remote_addr = (uintptr_t)s->addr + pos,
				     .rkey = s->mr->rkey },
		};
		if (n)
			wr[n - 1].next = &wr[n];
		if (++n < SPARSE_BATCH && p + BIG_STRIDE < pages)
			continue;
		wr[n - 1].send_flags = IBV_SEND_SIGNALED;
		bad = NULL;
		err = ibv_post_send(r->qp[0], wr, &bad);
		if (err)
			return test_fail(t, "ibv_post_send(batch %u of %u sparse RDMA WRITEs): %s",
					 batch, n, strerror(err));
		rc = rdma_wait_wc(t, r->cq[0], "sparse RDMA WRITE batch", batch,
				  TEST_WC_TIMEOUT_MS, sink_watch(s), &wc);
		if (rc != TEST_PASS)
			return rc;
		n = 0;
		batch++;
	}
	return TEST_PASS;
}

/* Written bytes [pos, pos + len) inside touched pages; the rest is old. */
static int verify_written_pages(struct test_ctx *t, const struct sink *s,
				size_t pos, size_t len)
{
	size_t from = pos / s->psz * s->psz;
	size_t to = (pos + len + s->psz - 1) / s->psz * s->psz;
	int rc;

	rc = sink_verify_old(t, s, from, pos);
	rc = test_worse(rc, pattern_verify(t, s->addr + pos, len, SEED_DATA,
					   pos, s->psz, "written bytes"));
	return test_worse(rc, sink_verify_old(t, s, pos + len, to));
}

/* ------------------------------------------------------------------ */
/* One page, 64 pages                                                   */

struct span_variant {
	bool uffd;
	size_t pages;		/* the MR */
	size_t head, tail;	/* bytes not written at the start/end */
};

static int test_write_span(struct test_ctx *t)
{
	const struct span_variant *v = t->arg;
	const struct rdma_caps_req req = { .odp = true,
					   .rc_odp_caps = IBV_ODP_SUPPORT_WRITE };
	const size_t psz = page_size(), len = v->pages * psz;
	const size_t wlen = len - v->head - v->tail;
	struct ibv_mr *src_mr = NULL;
	void *src = NULL;
	struct rdma_res r;
	struct sink s;
	double t0;
	int rc;

	rc = rdma_setup(t, &r, &req);
	if (rc != TEST_PASS)
		return rc;
	rc = sink_setup(t, &r, &s, v->uffd, len, SEED_BG);
	if (rc == TEST_PASS)
		rc = source_setup(t, &r, wlen, &src, &src_mr);
	if (rc != TEST_PASS)
		goto out;
	test_step(t, "RDMA WRITE %zu bytes at offset %zu of %zu pages", wlen,
		  v->head, v->pages);
	t0 = test_now_s();
	rc = write_at(t, &r, &s, src, src_mr->lkey, v->head, wlen);
	tap_diag("time: RDMA WRITE of %zu pages: %.3f s", v->pages, test_now_s() - t0);
	if (rc == TEST_PASS)
		rc = sink_check_faults(t, &s, v->pages);
	test_step(t, "verify the sink");
	if (rc == TEST_PASS)
		rc = verify_written_pages(t, &s, v->head, wlen);
out:
	test_step(t, "teardown");
	rc = test_worse(rc, sink_teardown(t, &s));
	rc = test_worse(rc, rdma_dereg_mr(t, &src_mr, "source"));
	rc = test_worse(rc, mem_unmap(t, &src, wlen, "source"));
	return test_worse(rc, rdma_teardown(t, &r));
}

/* ------------------------------------------------------------------ */
/* 256 MiB: every 64th page and a 4 MiB block                           */

static size_t big_touched_pages(size_t psz)
{
	size_t block_pages = BIG_BLOCK / psz, total = BIG_LEN / psz;
	size_t sparse = total / BIG_STRIDE;
	size_t shared = block_pages / BIG_STRIDE;	/* block is stride-aligned */

	return sparse + block_pages - shared;
}

/*
 * One RDMA WRITE over the 4 MiB block (from 50 bytes into its first page to
 * 600 bytes before its end: 4096 packets, every page crossed), then
 * SPARSE_LEN bytes at SPARSE_OFF into every BIG_STRIDE-th page (those inside
 * the block are present by then and fault nothing).
 */
static int test_write_256m(struct test_ctx *t)
{
	const bool uffd = *(const bool *)t->arg;
	const struct rdma_caps_req req = { .odp = true,
					   .rc_odp_caps = IBV_ODP_SUPPORT_WRITE };
	const size_t psz = page_size(), pages = BIG_LEN / psz;
	const size_t bpos = BIG_BLOCK_PAGE * psz + 50, blen = BIG_BLOCK - 650;
	struct ibv_mr *src_mr = NULL;
	void *src = NULL;
	struct rdma_res r;
	struct sink s;
	double t0;
	size_t p;
	int rc;

	rc = rdma_setup(t, &r, &req);
	if (rc != TEST_PASS)
		return rc;
	t0 = test_now_s();
	rc = sink_setup(t, &r, &s, uffd, BIG_LEN, SEED_BG);
	tap_diag("time: map + register 256 MiB ODP MR: %.3f s", test_now_s() - t0);
	if (rc == TEST_PASS)
		rc = source_setup(t, &r, BIG_BLOCK, &src, &src_mr);
	if (rc != TEST_PASS)
		goto out;
	test_step(t, "RDMA WRITE of %zu bytes (4 MiB block)", blen);
	t0 = test_now_s();
	rc = write_at(t, &r, &s, src, src_mr->lkey, bpos, blen);
	tap_diag("time: one RDMA WRITE over %lu pages: %.3f s", BIG_BLOCK / psz,
		 test_now_s() - t0);
	if (rc != TEST_PASS)
		goto out;
	test_step(t, "RDMA WRITE of %d bytes into every %dth page", SPARSE_LEN,
		  BIG_STRIDE);
	t0 = test_now_s();
	rc = write_sparse(t, &r, &s, src, src_mr->lkey);
	tap_diag("time: %zu sparse RDMA WRITEs: %.3f s", pages / BIG_STRIDE,
		 test_now_s() - t0);
	if (rc == TEST_PASS)
		rc = sink_check_faults(t, &s, big_touched_pages(psz));
	if (rc != TEST_PASS)
		goto out;
	/* Only touched pages: reading the others would fault them all. */
	test_step(t, "verify the touched pages");
	for (p = 0; p < pages && rc == TEST_PASS; p += BIG_STRIDE)
		if (p < BIG_BLOCK_PAGE || p >= BIG_BLOCK_PAGE + BIG_BLOCK / psz)
			rc = verify_written_pages(t, &s, p * psz + SPARSE_OFF,
						  SPARSE_LEN);
	/* The block; its sparse writes put the same pattern bytes. */
	if (rc == TEST_PASS)
		rc = verify_written_pages(t, &s, bpos, blen);
	if (rc == TEST_PASS)
		rc = sink_check_faults(t, &s, big_touched_pages(psz));
out:
	test_step(t, "teardown");
	rc = test_worse(rc, sink_teardown(t, &s));
	rc = test_worse(rc, rdma_dereg_mr(t, &src_mr, "source"));
	rc = test_worse(rc, mem_unmap(t, &src, BIG_BLOCK, "source"));
	return test_worse(rc, rdma_teardown(t, &r));
}

/* Synchronous PREFETCH_WRITE of n SGEs; EOPNOTSUPP -> skip. */
static int prefetch_write(struct test_ctx *t, struct rdma_res *r,
			  struct ibv_sge *sge, uint32_t n)
{
	int ret = ibv_advise_mr(r->pd, IBV_ADVISE_MR_ADVICE_PREFETCH_WRITE,
				IBV_ADVISE_MR_FLAG_FLUSH, sge, n);

	if (ret < 0)
		ret = errno;
	if (ret == EOPNOTSUPP || ret == ENOSYS)
		return test_skip(t, "ibv_advise_mr(PREFETCH_WRITE) on %s: %s",
				 t->opts->dev, strerror(ret));
	if (ret)
		return test_fail(t, "ibv_advise_mr(PREFETCH_WRITE, FLUSH, %u SGEs at 0x%llx): %s",
				 n, (unsigned long long)sge[0].addr,
				 strerror(ret));
	return TEST_PASS;
}

static int test_prefetch_256m(struct test_ctx *t)
{
	const bool uffd = *(const bool *)t->arg;
	const struct rdma_caps_req req = { .odp = true };
	const size_t psz = page_size(), pages = BIG_LEN / psz;
	struct ibv_sge sge[ADVISE_SGES];
	struct rdma_res r;
	struct sink s;
	uint32_t n = 0;
	double t0;
	size_t p;
	int rc;

	rc = rdma_setup(t, &r, &req);
	if (rc != TEST_PASS)
		return rc;
	rc = sink_setup(t, &r, &s, uffd, BIG_LEN, SEED_BG);
	if (rc != TEST_PASS)
		goto out;
	test_step(t, "PREFETCH_WRITE of the 4 MiB block");
	sge[0] = (struct ibv_sge){ .addr = (uintptr_t)s.addr + BIG_BLOCK_PAGE * psz,
				   .length = BIG_BLOCK, .lkey = s.mr->lkey };
	t0 = test_now_s();
	rc = prefetch_write(t, &r, sge, 1);
	tap_diag("time: synchronous PREFETCH_WRITE of %lu pages in one call: %.3f s",
		 BIG_BLOCK / psz, test_now_s() - t0);
	if (rc != TEST_PASS)
		goto out;
	test_step(t, "PREFETCH_WRITE of every %dth page, %d SGEs a call",
		  BIG_STRIDE, ADVISE_SGES);
	t0 = test_now_s();
	for (p = 0; p < pages && rc == TEST_PASS; p += BIG_STRIDE) {
		sge[n++] = (struct ibv_sge){ .addr = (uintptr_t)s.addr + p * psz,
					     .length = (uint32_t)psz,
					     .lkey = s.mr->lkey };
		if (n == ADVISE_SGES || p + BIG_STRIDE >= pages) {
			rc = prefetch_write(t, &r, sge, n);
			n = 0;
		}
	}
	tap_diag("time: synchronous PREFETCH_WRITE of %zu sparse pages: %.3f s",
		 pages / BIG_STRIDE, test_now_s() - t0);
	if (rc == TEST_PASS)
		rc = sink_check_faults(t, &s, big_touched_pages(psz));
	if (rc == TEST_PASS && uffd &&
	    uffd_write_faults(&s.h) != uffd_faults(&s.h))
		rc = test_fail(t, "PREFETCH_WRITE: %lu of %lu faults flagged WRITE",
			       uffd_write_faults(&s.h), uffd_faults(&s.h));
	if (rc != TEST_PASS)
		goto out;
	test_step(t, "verify the prefetched pages");
	for (p = 0; p < pages && rc == TEST_PASS; p += BIG_STRIDE)
		rc = sink_verify_old(t, &s, p * psz, (p + 1) * psz);
	if (rc == TEST_PASS)
		rc = sink_verify_old(t, &s, BIG_BLOCK_PAGE * psz,
				     BIG_BLOCK_PAGE * psz + BIG_BLOCK);
	/* Prefetched means mapped: the CPU reads raised no new fault. */
	if (rc == TEST_PASS)
		rc = sink_check_faults(t, &s, big_touched_pages(psz));
out:
	test_step(t, "teardown");
	rc = test_worse(rc, sink_teardown(t, &s));
	return test_worse(rc, rdma_teardown(t, &r));
}

/* ------------------------------------------------------------------ */
/* Concurrency: 8 QP pairs, 4 threads, the same pages                   */

struct conc;

struct conc_worker {
	struct conc *c;
	unsigned int id;
	pthread_t thread;
	bool started;
	int rc;
};

struct conc {
	struct test_ctx *t;
	struct rdma_res r;
	struct rdma_pair pair[CONC_QPS];
	struct sink s;
	bool read;		/* READ the sink (as source) instead of WRITE */
	uint8_t *src;		/* WRITE: data; READ: CONC_QPS sinks */
	size_t src_len;
	struct ibv_mr *src_mr;
	pthread_barrier_t start;
	struct conc_worker w[CONC_THREADS];
};

/*
 * WRITE: QP q writes slice q (psz / CONC_QPS bytes) of every page, page by
 * page, so all QPs fault the same page at about the same time.
 * READ: every QP reads the whole range into its own sink.
 */
static void *conc_worker(void *arg)
{
	struct conc_worker *w = arg;
	struct conc *c = w->c;
	const size_t psz = c->s.psz, slice = psz / CONC_QPS;
	const size_t len = CONC_PAGES * psz;
	unsigned int k, q;
	size_t p;
	int rc = TEST_PASS, err;

	err = pthread_barrier_wait(&c->start);
	if (err && err != PTHREAD_BARRIER_SERIAL_THREAD) {
		w->rc = test_fail(c->t, "pthread_barrier_wait: %s", strerror(err));
		return NULL;
	}
	for (k = 0; k < CONC_QPS / CONC_THREADS && rc == TEST_PASS; k++) {
		q = w->id * (CONC_QPS / CONC_THREADS) + k;
		if (c->read)
			rc = rdma_rw_qp(c->t, c->pair[q].qp[0], c->pair[q].cq[0],
					IBV_WR_RDMA_READ, c->src + q * len,
					(uint32_t)len, c->src_mr->lkey,
					(uintptr_t)c->s.addr, c->s.mr->rkey,
					sink_watch(&c->s));
	}
	for (p = 0; p < CONC_PAGES && rc == TEST_PASS && !c->read; p++) {
		for (k = 0; k < CONC_QPS / CONC_THREADS && rc == TEST_PASS; k++) {
			size_t pos;

			q = w->id * (CONC_QPS / CONC_THREADS) + k;
			pos = p * psz + q * slice;
			rc = rdma_rw_qp(c->t, c->pair[q].qp[0], c->pair[q].cq[0],
					IBV_WR_RDMA_WRITE, c->src + pos,
					(uint32_t)slice, c->src_mr->lkey,
					(uintptr_t)c->s.addr + pos,
					c->s.mr->rkey, sink_watch(&c->s));
		}
	}
	w->rc = rc;
	return NULL;
}

struct conc_variant {
	bool uffd;
	bool read;
};

static int conc_run(struct test_ctx *t, struct conc *c)
{
	const size_t psz = page_size(), len = CONC_PAGES * psz;
	unsigned int i;
	double t0;
	int rc = TEST_PASS, err;

	for (i = 0; i < CONC_QPS && rc == TEST_PASS; i++)
		rc = rdma_pair_create(t, &c->r, &c->pair[i]);
	if (rc != TEST_PASS)
		return rc;
	c->src_len = c->read ? CONC_QPS * len : len;
	rc = source_setup(t, &c->r, c->src_len, (void **)&c->src, &c->src_mr);
	if (rc != TEST_PASS)
		return rc;
	if (c->read)
		memset(c->src, 0, c->src_len);
	else
		pattern_fill(c->src, len, SEED_DATA, 0, psz);

	test_step(t, "%d threads, %d QP pairs: %s %d pages", CONC_THREADS,
		  CONC_QPS, c->read ? "RDMA READ of" : "RDMA WRITE slices of",
		  CONC_PAGES);
	err = pthread_barrier_init(&c->start, NULL, CONC_THREADS);
	if (err)
		return test_fail(t, "pthread_barrier_init: %s", strerror(err));
	t0 = test_now_s();
	for (i = 0; i < CONC_THREADS; i++) {
		c->w[i] = (struct conc_worker){ .c = c, .id = i };
		err = pthread_create(&c->w[i].thread, NULL, conc_worker, &c->w[i]);
		if (err) {
			/* The barrier never opens: the test's alarm ends it. */
			rc = test_fail(t, "pthread_create(worker %u): %s", i,
				       strerror(err));
			break;
		}
		c->w[i].started = true;
	}
	for (i = 0; i < CONC_THREADS; i++) {
		if (!c->w[i].started)
			continue;
		err = pthread_join(c->w[i].thread, NULL);
		if (err)
			rc = test_fail(t, "pthread_join(worker %u): %s", i,
				       strerror(err));
		rc = test_worse(rc, c->w[i].rc);
	}
	tap_diag("time: %d threads x %d QPs over %d pages: %.3f s", CONC_THREADS,
		 CONC_QPS, CONC_PAGES, test_now_s() - t0);
	err = pthread_barrier_destroy(&c->start);
	if (err)
		rc = test_worse(rc, test_fail(t, "pthread_barrier_destroy: %s",
					      strerror(err)));
	if (rc != TEST_PASS)
		return rc;
	rc = sink_check_faults(t, &c->s, CONC_PAGES);
	if (rc != TEST_PASS)
		return rc;
	test_step(t, "verify every byte");
	if (!c->read)
		return pattern_verify(t, c->s.addr, len, SEED_DATA, 0, psz,
				      "sink written by 8 QPs");
	for (i = 0; i < CONC_QPS && rc == TEST_PASS; i++)
		rc = c->s.uffd ?
		     pattern_verify(t, c->src + i * len, len, SEED_DATA, 0, psz,
				    "READ result") :
		     bytes_verify(t, c->src + i * len, len, 0, 0, "READ result");
	return rc;
}

static int test_concurrent(struct test_ctx *t)
{
	const struct conc_variant *v = t->arg;
	const struct rdma_caps_req req = {
		.odp = true,
		.rc_odp_caps = v->read ? IBV_ODP_SUPPORT_READ :
					 IBV_ODP_SUPPORT_WRITE,
	};
	struct conc *c = calloc(1, sizeof(*c));
	unsigned int i;
	int rc;

	if (!c)
		return test_fail(t, "calloc(concurrency state): %s", strerror(errno));
	c->t = t;
	c->read = v->read;
	rc = rdma_setup(t, &c->r, &req);
	if (rc != TEST_PASS) {
		free(c);
		return rc;
	}
	rc = sink_setup(t, &c->r, &c->s, v->uffd, CONC_PAGES * page_size(),
				v->read ? SEED_DATA : SEED_BG);
	if (rc == TEST_PASS)
		rc = conc_run(t, c);
	test_step(t, "teardown");
	rc = test_worse(rc, sink_teardown(t, &c->s));
	rc = test_worse(rc, rdma_dereg_mr(t, &c->src_mr, "source"));
	rc = test_worse(rc, mem_unmap(t, (void **)&c->src, c->src_len, "source"));
	for (i = CONC_QPS; i-- > 0;)
		rc = test_worse(rc, rdma_pair_destroy(t, &c->pair[i]));
	rc = test_worse(rc, rdma_teardown(t, &c->r));
	free(c);
	return rc;
}

/* ------------------------------------------------------------------ */

static const bool on_uffd = true;
static const bool on_odp;	/* false */

static const struct test_case tests[] = {
	{ .name = "write_1page_uffd", .fn = test_write_span,
	  .arg = &(const struct span_variant){ .uffd = true, .pages = 1 },
	  .desc = "RDMA WRITE of one whole page into a one-page uffd-missing MR",
	  .needs = FIX_UFFD | FIX_COPY },
	{ .name = "write_64pages_uffd", .fn = test_write_span,
	  .arg = &(const struct span_variant){ .uffd = true, .pages = 64,
					       .head = 50, .tail = 70 },
	  .desc = "one RDMA WRITE across 64 uffd-missing pages, unaligned ends",
	  .needs = FIX_UFFD | FIX_COPY },
	{ .name = "write_64pages_odp", .fn = test_write_span,
	  .arg = &(const struct span_variant){ .uffd = false, .pages = 64 },
	  .desc = "RDMA WRITE across 64 plain ODP pages after DONTNEED (rxe copy fix)",
	  .needs = FIX_COPY },
	{ .name = "write_256m_sparse_uffd", .fn = test_write_256m,
	  .arg = &on_uffd, .timeout_s = 300,
	  .desc = "256 MiB uffd-missing MR: RDMA WRITE of a 4 MiB block and into every 64th page",
	  .needs = FIX_UFFD | FIX_COPY },
	{ .name = "write_256m_sparse_odp", .fn = test_write_256m,
	  .arg = &on_odp, .timeout_s = 300,
	  .desc = "the same on a 256 MiB plain ODP MR (rxe copy fix)",
	  .needs = FIX_COPY },
	{ .name = "prefetch_write_256m_sparse_uffd", .fn = test_prefetch_256m,
	  .arg = &on_uffd, .timeout_s = 300,
	  .desc = "256 MiB uffd-missing MR: PREFETCH_WRITE of a 4 MiB block and every 64th page",
	  .needs = FIX_UFFD },
	{ .name = "prefetch_write_256m_sparse_odp", .fn = test_prefetch_256m,
	  .arg = &on_odp, .timeout_s = 300,
	  .desc = "regression: the same on a 256 MiB plain ODP MR" },
	{ .name = "concurrent_write_8qp_uffd", .fn = test_concurrent,
	  .arg = &(const struct conc_variant){ .uffd = true },
	  .desc = "4 threads, 8 QP pairs writing slices of the same uffd-missing pages",
	  .needs = FIX_UFFD | FIX_COPY },
	{ .name = "concurrent_read_8qp_uffd", .fn = test_concurrent,
	  .arg = &(const struct conc_variant){ .uffd = true, .read = true },
	  .desc = "4 threads, 8 QP pairs reading the same uffd-missing pages",
	  .needs = FIX_UFFD | FIX_COPY },
	{ .name = "concurrent_write_8qp_odp", .fn = test_concurrent,
	  .arg = &(const struct conc_variant){ .uffd = false },
	  .desc = "4 threads, 8 QP pairs writing slices of plain ODP pages (rxe copy fix)",
	  .needs = FIX_COPY },
};

int main(int argc, char **argv)
{
	return test_main(argc, argv, tests, ARRAY_SIZE(tests));
}
