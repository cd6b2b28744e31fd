// SPDX-License-Identifier: GPL-2.0
/*
 * RDMA WRITE and READ on a loopback RC pair into/from an ODP MR whose memory
 * is registered with userfaultfd in each mode and memory type:
 *
 *   MISSING  anonymous (UFFDIO_COPY, UFFDIO_ZEROPAGE), shmem memfd, hugetlb
 *   MINOR    shmem memfd, hugetlb memfd (page cache filled through a second
 *            mapping; the handler answers UFFDIO_CONTINUE)
 *   WP       anonymous, shmem memfd, hugetlb memfd: populated, then
 *            write-protected (UFFDIO_WRITEPROTECT); the handler un-protects
 *            each page WP_HOLD_US after its fault, and a device WRITE must
 *            wait for it: one WP fault per page, each page still holding its
 *            old bytes when the handler un-protects it, the completion only
 *            after the last un-protect
 *
 * plus regression twins without userfaultfd: ODP memory after MADV_DONTNEED
 * and pinned MRs.  Every transfer is many packets (MTU 1024) from an
 * unaligned start to a mid-page end, every byte is checked, and the handler's
 * fault counts are asserted.
 *
 * What stock 7.2 shows: a device fault on uffd memory is answered with
 * SIGBUS (the RDMA op completes with IBV_WC_REM_ACCESS_ERR), and rxe's ODP
 * copy places multi-packet/unaligned data wrongly (patch 2), so every test
 * that moves such data through an ODP MR fails there; the pinned-MR and the
 * one-packet page-aligned tests pass on every kernel.
 */
#include "lib/verbs.h"

#include <errno.h>
#include <linux/userfaultfd.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#define SEED_DATA	0xa5u	/* what the RDMA operation must deliver */
#define SEED_BG		0x3cu	/* what surrounds it */

#define ODP_ACCESS	(IBV_ACCESS_ON_DEMAND | IBV_ACCESS_LOCAL_WRITE | \
			 IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_READ)
#define PIN_ACCESS	(IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE | \
			 IBV_ACCESS_REMOTE_READ)

#define WP_HOLD_US	100000	/* the handler keeps each WP page this long */
#define WP_MAX_PAGES	32	/* backing pages of a WP target, at most */

enum tgt_mode {
	TGT_MISSING_COPY,	/* MISSING, UFFDIO_COPY of SEED_BG / SEED_DATA */
	TGT_MISSING_ZERO,	/* MISSING, UFFDIO_ZEROPAGE */
	TGT_MINOR,		/* MINOR, UFFDIO_CONTINUE */
	TGT_WP,			/* WP on populated memory, unprotect on fault */
	TGT_PLAIN_ODP,		/* no uffd, ODP MR */
	TGT_PINNED,		/* no uffd, pinned MR */
};

enum xfer_op {
	OP_WRITE,		/* qp[0] writes its buffer into the target */
	OP_READ,		/* qp[0] reads the target into its buffer */
	OP_READ_WRITE,		/* READ, then WRITE into the same range */
};

struct mode_case {
	enum tmem_kind kind;
	enum tgt_mode mode;
	enum xfer_op op;
	/*
	 * MINOR: the registered mapping was populated, then MADV_DONTNEED (else
	 * never touched).  PLAIN_ODP: MADV_DONTNEED after the MR is
	 * registered (anonymous memory is refilled by the CPU before a READ).
	 */
	bool dontneed;
	bool one_packet;	/* 1024 bytes at a page start (stock-safe) */
	bool mr_inset;		/* MR one 4 KiB page inside each end of the
				 * mapping (not huge-page aligned) */
};

/*
 * What the WP handler saw before each un-protect (written by its thread,
 * read by the test): pages answered, in total and per backing page.
 */
struct wp_watch {
	const uint8_t *addr;		/* the registered target mapping */
	size_t bpsz, psz;		/* backing page, pattern page */
	size_t npages;			/* backing pages of the mapping */
	uint32_t old_seed;		/* what the pages hold until then */
	atomic_ulong answers;
	atomic_uint answered[WP_MAX_PAGES];
};

struct mode_run {
	const struct mode_case *c;
	struct xfer_geom g;
	struct rdma_res r;
	struct tmem tgt;
	struct uffd_handler h;
	void *loc;			/* local buffer, pinned MR */
	struct ibv_mr *loc_mr, *tgt_mr;
	uint32_t copy_seed;		/* what UFFDIO_COPY installs */
	struct wp_watch wp;		/* TGT_WP */
	unsigned long wp_answers_at_wc;	/* wp.answers when the WRITE completed */
};

/*
 * uffd_cfg before_answer hook of a WP target: hold the page WP_HOLD_US, then
 * check it still holds its old bytes (it is write-protected until the
 * un-protect that follows, so the device must not have written it) and
 * count the answer before the un-protect, so that a completion the test
 * sees can only come after the answers of all the pages it wrote.
 */
static bool wp_before_answer(const void *arg, size_t pos, char *why,
			     size_t why_len)
{
	struct wp_watch *w = (struct wp_watch *)arg;
	const size_t pg = pos / w->bpsz;
	size_t i, bad = 0, first = 0;

	if (pg >= w->npages) {
		snprintf(why, why_len, "backing page %zu outside the %zu of the target",
			 pg, w->npages);
		return false;
	}
	test_sleep_us(WP_HOLD_US);
	for (i = pos; i < pos + w->bpsz; i++) {
		if (w->addr[i] == pattern_byte(w->old_seed, i, w->psz))
			continue;
		if (!bad++)
			first = i;
	}
	if (bad) {
		snprintf(why, why_len, "write-protected page %zu already holds %zu new bytes (first at offset %zu: 0x%02x, old 0x%02x) before the handler un-protects it",
			 pg, bad, first, w->addr[first],
			 pattern_byte(w->old_seed, first, w->psz));
		return false;
	}
	atomic_fetch_add(&w->answered[pg], 1);
	atomic_fetch_add(&w->answers, 1);
	return true;
}

static bool mode_uses_uffd(enum tgt_mode m)
{
	return m == TGT_MISSING_COPY || m == TGT_MISSING_ZERO ||
	       m == TGT_MINOR || m == TGT_WP;
}

static struct uffd_cfg mode_uffd_cfg(struct mode_run *mr)
{
	struct uffd_cfg cfg = { .reg_mode = UFFDIO_REGISTER_MODE_MISSING };

	switch (mr->c->mode) {
	case TGT_MISSING_COPY:
		cfg.action = UFFD_ACT_COPY;
		cfg.fill = uffd_fill_pattern;
		cfg.fill_arg = &mr->copy_seed;
		break;
	case TGT_MISSING_ZERO:
		cfg.action = UFFD_ACT_ZEROPAGE;
		break;
	case TGT_MINOR:
		cfg.reg_mode = UFFDIO_REGISTER_MODE_MINOR;
		cfg.action = UFFD_ACT_CONTINUE;
		break;
	default:	/* TGT_WP */
		cfg.reg_mode = UFFDIO_REGISTER_MODE_WP;
		cfg.action = UFFD_ACT_UNPROTECT;
		if (mr->c->op != OP_READ) {
			cfg.before_answer = wp_before_answer;
			cfg.before_answer_arg = &mr->wp;
		}
		break;
	}
	/* ZEROPAGE is anonymous memory's alone: it needs no feature */
	if (cfg.action != UFFD_ACT_ZEROPAGE)
		cfg.features = tmem_uffd_features(mr->c->kind, cfg.reg_mode);
	return cfg;
}

/* Whole-mapping content of the target before the transfer (0: zeroes). */
static uint32_t target_initial_seed(const struct mode_case *c)
{
	if (c->mode == TGT_MISSING_ZERO)
		return 0;
	return c->op == OP_WRITE ? SEED_BG : SEED_DATA;
}

/* Local buffer and its MR; target memory with its initial content. */
static int mode_prepare_memory(struct test_ctx *t, struct mode_run *mr)
{
	const struct mode_case *c = mr->c;
	const struct xfer_geom *g = &mr->g;
	uint32_t seed = target_initial_seed(c);
	int rc;

	test_step(t, "local buffer and pinned MR");
	rc = mem_map(t, g->map_len, &mr->loc, "local");
	if (rc != TEST_PASS)
		return rc;
	if (c->op == OP_WRITE)
		pattern_fill((uint8_t *)mr->loc + g->off, g->len, SEED_DATA,
			     g->off, g->psz);
	else
		pattern_fill(mr->loc, g->map_len, SEED_BG, 0, g->psz);
	rc = rdma_reg_mr(t, &mr->r, mr->loc, g->map_len, IBV_ACCESS_LOCAL_WRITE,
			 "local", &mr->loc_mr);
	if (rc != TEST_PASS)
		return rc;

	test_step(t, "target: %zu bytes of %s", g->map_len,
		  tmem_kind_str(c->kind));
	rc = tmem_create(t, &mr->tgt, c->kind, g->map_len, c->mode == TGT_MINOR);
	if (rc != TEST_PASS)
		return rc;
	switch (c->mode) {
	case TGT_MISSING_COPY:
		mr->copy_seed = seed;	/* installed by the handler */
		break;
	case TGT_MISSING_ZERO:
		break;
	case TGT_MINOR:
		/* Page cache through the alias; PTEs of the target absent. */
		pattern_fill(mr->tgt.alias, g->map_len, seed, 0, g->psz);
		if (c->dontneed) {
			rc = xfer_verify(t, mr->tgt.addr, g, seed, seed,
					   "target populated by the CPU");
			if (rc != TEST_PASS)
				return rc;
		}
		break;
	default:	/* populated memory */
		pattern_fill(mr->tgt.addr, g->map_len, seed, 0, g->psz);
		break;
	}
	return TEST_PASS;
}

/* uffd registration (and WP), target MR, MADV_DONTNEED. */
static int mode_prepare_target(struct test_ctx *t, struct mode_run *mr)
{
	const struct mode_case *c = mr->c;
	const struct xfer_geom *g = &mr->g;
	int rc;

	if (mode_uses_uffd(c->mode)) {
		const struct uffd_cfg cfg = mode_uffd_cfg(mr);

		if (c->mode == TGT_WP) {
			mr->wp.addr = mr->tgt.addr;
			mr->wp.bpsz = g->bpsz;
			mr->wp.psz = g->psz;
			mr->wp.npages = g->map_len / g->bpsz;
			mr->wp.old_seed = target_initial_seed(c);
			if (mr->wp.npages > WP_MAX_PAGES)
				return test_fail(t, "WP target of %zu pages: at most %d",
						 mr->wp.npages, WP_MAX_PAGES);
		}
		test_step(t, "uffd-register target");
		rc = uffd_setup(t, &mr->h, &cfg, mr->tgt.addr, g->map_len,
				 g->bpsz);
		if (rc == TEST_PASS && c->mode == TGT_WP)
			rc = uffd_protect_all(t, &mr->h);
		if (rc != TEST_PASS)
			return rc;
	}
	test_step(t, "register target MR%s", c->mr_inset ? " (inset 4 KiB)" : "");
	rc = rdma_reg_mr(t, &mr->r, mr->tgt.addr + (c->mr_inset ? g->psz : 0),
			 g->map_len - (c->mr_inset ? 2 * g->psz : 0),
			 c->mode == TGT_PINNED ? PIN_ACCESS : ODP_ACCESS,
			 "target", &mr->tgt_mr);
	if (rc != TEST_PASS)
		return rc;
	if (c->dontneed) {
		test_step(t, "MADV_DONTNEED target");
		if (madvise(mr->tgt.addr, g->map_len, MADV_DONTNEED))
			return test_fail(t, "madvise(target, MADV_DONTNEED): %s",
					 strerror(errno));
		/* Anonymous memory reads back as zeroes: give a READ data. */
		if (c->mode == TGT_PLAIN_ODP && c->kind == TMEM_ANON &&
		    c->op != OP_WRITE)
			pattern_fill(mr->tgt.addr, g->map_len, SEED_DATA, 0,
				     g->psz);
	}
	if (mode_uses_uffd(c->mode))
		uffd_handler_report(&mr->h, "after ibv_reg_mr");
	return TEST_PASS;
}

static int mode_xfer(struct test_ctx *t, struct mode_run *mr,
		     enum ibv_wr_opcode op)
{
	const struct xfer_geom *g = &mr->g;
	const struct uffd_handler *h = mode_uses_uffd(mr->c->mode) ? &mr->h : NULL;
	int rc;

	test_step(t, "%s %zu bytes at target offset %zu",
		  op == IBV_WR_RDMA_WRITE ? "RDMA WRITE" : "RDMA READ", g->len,
		  g->off);
	rc = rdma_rw(t, &mr->r, 0, op, (uint8_t *)mr->loc + g->off,
		     (uint32_t)g->len, mr->loc_mr->lkey,
		     (uintptr_t)mr->tgt.addr + g->off, mr->tgt_mr->rkey, NULL);
	if (h) {
		uffd_handler_report(h, op == IBV_WR_RDMA_WRITE ? "after RDMA WRITE" :
			     "after RDMA READ");
		rc = test_worse(rc, uffd_handler_check(t, h));
	}
	return rc;
}

/*
 * A device WRITE into write-protected pages: it waited for the handler, one
 * WP fault per page it wrote, answered once, and completed only after the
 * last answer (the hook counts each answer before its un-protect).
 */
static int wp_check_write(struct test_ctx *t, const struct mode_run *mr)
{
	const struct uffd_handler *h = &mr->h;
	const struct wp_watch *w = &mr->wp;
	const unsigned long n = (unsigned long)mr->g.npages;
	unsigned long faults = uffd_count(&h->faults);
	size_t pg;

	if (mr->wp_answers_at_wc < n)
		return test_fail(t, "device WRITE into %lu write-protected pages completed after %lu un-protects: it did not wait for the handler",
				 n, mr->wp_answers_at_wc);
	if (faults != n || uffd_count(&h->wp_faults) != n ||
	    uffd_count(&h->resolved) != n)
		return test_fail(t, "device WRITE into %lu write-protected pages: %lu faults, %lu WP, %lu un-protected; expected %lu of each (one per page)",
				 n, faults, uffd_count(&h->wp_faults),
				 uffd_count(&h->resolved), n);
	for (pg = 0; pg < w->npages; pg++) {
		unsigned int want = pg >= mr->g.first_pg &&
				    pg < mr->g.first_pg + mr->g.npages;
		unsigned int got = atomic_load(&w->answered[pg]);

		if (got != want)
			return test_fail(t, "write-protected page %zu answered %u times, expected %u (the WRITE spans pages %zu..%zu)",
					 pg, got, want, mr->g.first_pg,
					 mr->g.first_pg + mr->g.npages - 1);
	}
	return TEST_PASS;
}

/* The handler's counts after the device faulted the transfer's pages. */
static int mode_check_faults(struct test_ctx *t, struct mode_run *mr)
{
	const struct uffd_handler *h = &mr->h;
	const bool settled = uffd_settle(h, 5000);
	unsigned long faults = uffd_count(&h->faults);
	unsigned long resolved = uffd_count(&h->resolved);
	unsigned long n = (unsigned long)mr->g.npages;

	test_step(t, "check uffd fault counts");
	if (!settled)
		tap_diag("the handler has not answered every fault it read after 5 s");
	switch (mr->c->mode) {
	case TGT_WP:
		if (mr->c->op == OP_READ) {
			/* ODP asks for write access only for writes. */
			if (faults)
				return test_fail(t, "device READ raised %lu uffd faults (wp=%lu), expected none",
						 faults, uffd_count(&h->wp_faults));
			return TEST_PASS;
		}
		return wp_check_write(t, mr);
	case TGT_MINOR:
		if (uffd_count(&h->minor_faults) != faults)
			return test_fail(t, "%lu faults, only %lu flagged MINOR",
					 faults, uffd_count(&h->minor_faults));
		break;
	default:
		if (uffd_count(&h->minor_faults) || uffd_count(&h->wp_faults))
			return test_fail(t, "MISSING registration saw minor=%lu wp=%lu faults",
					 uffd_count(&h->minor_faults),
					 uffd_count(&h->wp_faults));
		break;
	}
	/* Each spanned page installed exactly once, nothing else faulted. */
	if (resolved != n || faults < resolved)
		return test_fail(t, "uffd: %lu faults, %lu pages resolved; expected %lu pages (the ones the transfer spans) resolved once",
				 faults, resolved, n);
	return TEST_PASS;
}

/* What the target must hold after a WRITE, outside the written bytes. */
static uint32_t target_bg_after_write(const struct mode_case *c)
{
	if (c->mode == TGT_MISSING_ZERO)
		return 0;
	if (c->mode == TGT_PLAIN_ODP && c->dontneed && c->kind == TMEM_ANON)
		return 0;
	return SEED_BG;
}

static int mode_verify_target(struct test_ctx *t, struct mode_run *mr)
{
	const uint32_t bg = target_bg_after_write(mr->c);
	unsigned long before = uffd_count(&mr->h.faults);
	int rc;

	rc = xfer_verify(t, mr->tgt.addr, &mr->g, SEED_DATA, bg, "target");
	if (mr->tgt.alias)
		rc = test_worse(rc, xfer_verify(t, mr->tgt.alias, &mr->g,
						  SEED_DATA, bg,
						  "target page cache (alias)"));
	/* The device mapped every page of the target: the CPU takes none. */
	if (mode_uses_uffd(mr->c->mode) &&
	    uffd_count(&mr->h.faults) != before)
		rc = test_fail(t, "CPU verify took %lu uffd faults: the device fault did not map the pages",
			       uffd_count(&mr->h.faults) - before);
	return rc;
}

static int mode_steps(struct test_ctx *t, struct mode_run *mr)
{
	const struct mode_case *c = mr->c;
	unsigned long after_read;
	int rc;

	rc = mode_prepare_memory(t, mr);
	if (rc == TEST_PASS)
		rc = mode_prepare_target(t, mr);
	if (rc != TEST_PASS)
		return rc;

	if (c->op == OP_WRITE) {
		rc = mode_xfer(t, mr, IBV_WR_RDMA_WRITE);
		mr->wp_answers_at_wc = atomic_load(&mr->wp.answers);
		if (rc == TEST_PASS && mode_uses_uffd(c->mode))
			rc = mode_check_faults(t, mr);
		if (rc == TEST_PASS)
			rc = mode_verify_target(t, mr);
		return rc;
	}
	rc = mode_xfer(t, mr, IBV_WR_RDMA_READ);
	if (rc == TEST_PASS && mode_uses_uffd(c->mode))
		rc = mode_check_faults(t, mr);
	if (rc == TEST_PASS)
		rc = xfer_verify(t, mr->loc, &mr->g, target_initial_seed(c),
				   SEED_BG, "local buffer after READ");
	if (rc != TEST_PASS || c->op != OP_READ_WRITE)
		return rc;

	/* The pages are mapped now (zero page): a WRITE lands without a
	 * userfault (copy-on-write of the zero page is not a MISSING fault). */
	after_read = uffd_count(&mr->h.faults);
	pattern_fill((uint8_t *)mr->loc + mr->g.off, mr->g.len, SEED_DATA,
		     mr->g.off, mr->g.psz);
	rc = mode_xfer(t, mr, IBV_WR_RDMA_WRITE);
	if (rc != TEST_PASS)
		return rc;
	if (uffd_count(&mr->h.faults) != after_read)
		return test_fail(t, "RDMA WRITE after READ took %lu more uffd faults, expected none",
				 uffd_count(&mr->h.faults) - after_read);
	return mode_verify_target(t, mr);
}

static int run_mode(struct test_ctx *t, const struct mode_case *c)
{
	struct rdma_caps_req req = { .odp = c->mode != TGT_PINNED };
	struct mode_run mr = { .c = c, .g = xfer_geom_for(c->kind, c->one_packet) };
	int rc;

	if (req.odp)
		req.rc_odp_caps = c->op == OP_WRITE ? IBV_ODP_SUPPORT_WRITE :
			c->op == OP_READ ? IBV_ODP_SUPPORT_READ :
			IBV_ODP_SUPPORT_READ | IBV_ODP_SUPPORT_WRITE;
	tmem_init(&mr.tgt);
	uffd_handler_init(&mr.h);
	rc = rdma_setup(t, &mr.r, &req);
	if (rc != TEST_PASS)
		return rc;
	rc = mode_steps(t, &mr);

	/* uffd first: releases any kernel fault still waiting on it. */
	test_step(t, "teardown");
	rc = test_worse(rc, uffd_teardown(t, &mr.h));
	rc = test_worse(rc, rdma_dereg_mr(t, &mr.tgt_mr, "target"));
	rc = test_worse(rc, tmem_destroy(t, &mr.tgt));
	rc = test_worse(rc, rdma_dereg_mr(t, &mr.loc_mr, "local"));
	rc = test_worse(rc, mem_unmap(t, &mr.loc, mr.g.map_len, "local"));
	return test_worse(rc, rdma_teardown(t, &mr.r));
}

/* One wrapper per table row: the runner's test functions take no argument. */
#define MODE_TEST(id, ...)						\
	static int test_##id(struct test_ctx *t)			\
	{								\
		static const struct mode_case c = { __VA_ARGS__ };	\
		return run_mode(t, &c);					\
	}

MODE_TEST(anon_missing_copy_write, .kind = TMEM_ANON, .mode = TGT_MISSING_COPY, .op = OP_WRITE)
MODE_TEST(anon_missing_copy_read, .kind = TMEM_ANON, .mode = TGT_MISSING_COPY, .op = OP_READ)
MODE_TEST(anon_missing_zeropage_read_write, .kind = TMEM_ANON, .mode = TGT_MISSING_ZERO,
	  .op = OP_READ_WRITE)
MODE_TEST(shmem_missing_copy_write, .kind = TMEM_SHMEM, .mode = TGT_MISSING_COPY, .op = OP_WRITE)
MODE_TEST(shmem_missing_copy_read, .kind = TMEM_SHMEM, .mode = TGT_MISSING_COPY, .op = OP_READ)
MODE_TEST(shmem_minor_write, .kind = TMEM_SHMEM, .mode = TGT_MINOR, .op = OP_WRITE)
MODE_TEST(shmem_minor_read_dontneed, .kind = TMEM_SHMEM, .mode = TGT_MINOR, .op = OP_READ,
	  .dontneed = true)
MODE_TEST(anon_wp_write, .kind = TMEM_ANON, .mode = TGT_WP, .op = OP_WRITE)
MODE_TEST(shmem_wp_write, .kind = TMEM_SHMEM, .mode = TGT_WP, .op = OP_WRITE)
MODE_TEST(hugetlb_wp_write, .kind = TMEM_HUGETLB, .mode = TGT_WP, .op = OP_WRITE)
MODE_TEST(anon_wp_read, .kind = TMEM_ANON, .mode = TGT_WP, .op = OP_READ)
MODE_TEST(anon_wp_read_1pkt, .kind = TMEM_ANON, .mode = TGT_WP, .op = OP_READ,
	  .one_packet = true)
MODE_TEST(hugetlb_missing_copy_write, .kind = TMEM_HUGETLB, .mode = TGT_MISSING_COPY,
	  .op = OP_WRITE)
MODE_TEST(hugetlb_missing_copy_read, .kind = TMEM_HUGETLB, .mode = TGT_MISSING_COPY,
	  .op = OP_READ)
MODE_TEST(hugetlb_minor_write, .kind = TMEM_HUGETLB, .mode = TGT_MINOR, .op = OP_WRITE)
MODE_TEST(hugetlb_minor_read, .kind = TMEM_HUGETLB, .mode = TGT_MINOR, .op = OP_READ)
MODE_TEST(hugetlb_missing_copy_write_inset_mr, .kind = TMEM_HUGETLB,
	  .mode = TGT_MISSING_COPY, .op = OP_WRITE, .mr_inset = true)
MODE_TEST(hugetlb_minor_read_inset_mr, .kind = TMEM_HUGETLB, .mode = TGT_MINOR,
	  .op = OP_READ, .mr_inset = true)
MODE_TEST(plain_odp_anon_dontneed_write, .kind = TMEM_ANON, .mode = TGT_PLAIN_ODP,
	  .op = OP_WRITE, .dontneed = true)
MODE_TEST(plain_odp_anon_dontneed_read, .kind = TMEM_ANON, .mode = TGT_PLAIN_ODP,
	  .op = OP_READ, .dontneed = true)
MODE_TEST(plain_odp_shmem_dontneed_write, .kind = TMEM_SHMEM, .mode = TGT_PLAIN_ODP,
	  .op = OP_WRITE, .dontneed = true)
MODE_TEST(plain_odp_shmem_dontneed_read, .kind = TMEM_SHMEM, .mode = TGT_PLAIN_ODP,
	  .op = OP_READ, .dontneed = true)
MODE_TEST(plain_odp_shmem_dontneed_write_1pkt, .kind = TMEM_SHMEM, .mode = TGT_PLAIN_ODP,
	  .op = OP_WRITE, .dontneed = true, .one_packet = true)
MODE_TEST(plain_odp_shmem_dontneed_read_1pkt, .kind = TMEM_SHMEM, .mode = TGT_PLAIN_ODP,
	  .op = OP_READ, .dontneed = true, .one_packet = true)
MODE_TEST(pinned_anon_write, .kind = TMEM_ANON, .mode = TGT_PINNED, .op = OP_WRITE)
MODE_TEST(pinned_anon_read, .kind = TMEM_ANON, .mode = TGT_PINNED, .op = OP_READ)
MODE_TEST(pinned_shmem_write, .kind = TMEM_SHMEM, .mode = TGT_PINNED, .op = OP_WRITE)
MODE_TEST(pinned_shmem_read, .kind = TMEM_SHMEM, .mode = TGT_PINNED, .op = OP_READ)

#define COPY_BUG "; stock also garbles multi-packet ODP data (rxe copy, patch 2)"

static const struct test_case tests[] = {
	{ .name = "anon_missing_copy_write", .fn = test_anon_missing_copy_write,
	  .desc = "WRITE into anonymous uffd MISSING memory, UFFDIO_COPY",
	  .needs = FIX_UFFD | FIX_COPY },
	{ .name = "anon_missing_copy_read", .fn = test_anon_missing_copy_read,
	  .desc = "READ from anonymous uffd MISSING memory, UFFDIO_COPY",
	  .needs = FIX_UFFD | FIX_COPY },
	{ .name = "anon_missing_zeropage_read_write", .fn = test_anon_missing_zeropage_read_write,
	  .desc = "READ of anonymous uffd MISSING memory resolved by UFFDIO_ZEROPAGE, then WRITE into it",
	  .needs = FIX_UFFD | FIX_COPY },
	{ .name = "shmem_missing_copy_write", .fn = test_shmem_missing_copy_write,
	  .desc = "WRITE into shmem memfd uffd MISSING memory, UFFDIO_COPY",
	  .needs = FIX_UFFD | FIX_COPY },
	{ .name = "shmem_missing_copy_read", .fn = test_shmem_missing_copy_read,
	  .desc = "READ from shmem memfd uffd MISSING memory, UFFDIO_COPY",
	  .needs = FIX_UFFD | FIX_COPY },
	{ .name = "shmem_minor_write", .fn = test_shmem_minor_write,
	  .desc = "WRITE into shmem uffd MINOR memory (fresh mapping), UFFDIO_CONTINUE",
	  .needs = FIX_UFFD | FIX_COPY },
	{ .name = "shmem_minor_read_dontneed", .fn = test_shmem_minor_read_dontneed,
	  .desc = "READ from shmem uffd MINOR memory after MADV_DONTNEED, UFFDIO_CONTINUE",
	  .needs = FIX_UFFD | FIX_COPY },
	{ .name = "anon_wp_write", .fn = test_anon_wp_write,
	  .desc = "WRITE into write-protected anonymous memory waits for UFFDIO_WRITEPROTECT of each page",
	  .needs = FIX_UFFD | FIX_COPY },
	{ .name = "shmem_wp_write", .fn = test_shmem_wp_write,
	  .desc = "WRITE into write-protected shmem memfd memory waits for UFFDIO_WRITEPROTECT of each page",
	  .needs = FIX_UFFD | FIX_COPY },
	{ .name = "hugetlb_wp_write", .fn = test_hugetlb_wp_write,
	  .desc = "WRITE across two write-protected 2 MiB hugetlb pages waits for UFFDIO_WRITEPROTECT of each",
	  .needs = FIX_UFFD | FIX_COPY },
	{ .name = "anon_wp_read", .fn = test_anon_wp_read,
	  .desc = "READ from write-protected anonymous memory raises no WP fault" COPY_BUG,
	  .needs = FIX_COPY },
	{ .name = "anon_wp_read_1pkt", .fn = test_anon_wp_read_1pkt,
	  .desc = "one-packet READ from write-protected anonymous memory raises no WP fault" },
	{ .name = "hugetlb_missing_copy_write", .fn = test_hugetlb_missing_copy_write,
	  .desc = "WRITE across two 2 MiB hugetlb pages, uffd MISSING, UFFDIO_COPY",
	  .needs = FIX_UFFD | FIX_COPY },
	{ .name = "hugetlb_missing_copy_read", .fn = test_hugetlb_missing_copy_read,
	  .desc = "READ across two 2 MiB hugetlb pages, uffd MISSING, UFFDIO_COPY",
	  .needs = FIX_UFFD | FIX_COPY },
	{ .name = "hugetlb_minor_write", .fn = test_hugetlb_minor_write,
	  .desc = "WRITE across two 2 MiB hugetlb pages, uffd MINOR, UFFDIO_CONTINUE",
	  .needs = FIX_UFFD | FIX_COPY },
	{ .name = "hugetlb_minor_read", .fn = test_hugetlb_minor_read,
	  .desc = "READ across two 2 MiB hugetlb pages, uffd MINOR, UFFDIO_CONTINUE",
	  .needs = FIX_UFFD | FIX_COPY },
	{ .name = "hugetlb_missing_copy_write_inset_mr", .fn = test_hugetlb_missing_copy_write_inset_mr,
	  .desc = "WRITE across two hugetlb pages, uffd MISSING, MR not 2 MiB aligned",
	  .needs = FIX_UFFD | FIX_COPY },
	{ .name = "hugetlb_minor_read_inset_mr", .fn = test_hugetlb_minor_read_inset_mr,
	  .desc = "READ across two hugetlb pages, uffd MINOR, MR not 2 MiB aligned",
	  .needs = FIX_UFFD | FIX_COPY },
	{ .name = "plain_odp_anon_dontneed_write", .fn = test_plain_odp_anon_dontneed_write,
	  .desc = "regression: WRITE into anonymous ODP memory after MADV_DONTNEED" COPY_BUG,
	  .needs = FIX_COPY },
	{ .name = "plain_odp_anon_dontneed_read", .fn = test_plain_odp_anon_dontneed_read,
	  .desc = "regression: READ from anonymous ODP memory after MADV_DONTNEED" COPY_BUG,
	  .needs = FIX_COPY },
	{ .name = "plain_odp_shmem_dontneed_write", .fn = test_plain_odp_shmem_dontneed_write,
	  .desc = "regression: WRITE into shmem ODP memory after MADV_DONTNEED" COPY_BUG,
	  .needs = FIX_COPY },
	{ .name = "plain_odp_shmem_dontneed_read", .fn = test_plain_odp_shmem_dontneed_read,
	  .desc = "regression: READ from shmem ODP memory after MADV_DONTNEED" COPY_BUG,
	  .needs = FIX_COPY },
	{ .name = "plain_odp_shmem_dontneed_write_1pkt", .fn = test_plain_odp_shmem_dontneed_write_1pkt,
	  .desc = "regression: one-packet WRITE into shmem ODP memory after MADV_DONTNEED" },
	{ .name = "plain_odp_shmem_dontneed_read_1pkt", .fn = test_plain_odp_shmem_dontneed_read_1pkt,
	  .desc = "regression: one-packet READ from shmem ODP memory after MADV_DONTNEED" },
	{ .name = "pinned_anon_write", .fn = test_pinned_anon_write,
	  .desc = "regression: WRITE into a pinned MR on anonymous memory" },
	{ .name = "pinned_anon_read", .fn = test_pinned_anon_read,
	  .desc = "regression: READ from a pinned MR on anonymous memory" },
	{ .name = "pinned_shmem_write", .fn = test_pinned_shmem_write,
	  .desc = "regression: WRITE into a pinned MR on shmem memfd memory" },
	{ .name = "pinned_shmem_read", .fn = test_pinned_shmem_read,
	  .desc = "regression: READ from a pinned MR on shmem memfd memory" },
};

int main(int argc, char **argv)
{
	return test_main(argc, argv, tests, ARRAY_SIZE(tests));
}
