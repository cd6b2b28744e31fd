// SPDX-License-Identifier: GPL-2.0
/*
 * ODP on memory of more than one kind under one MR, and operations that
 * meet on one page while its fault is pending (issue 14):
 *
 * - vma_*: one ODP MR over two adjacent VMAs, anonymous memory registered
 *   uffd MISSING (UFFDIO_COPY) next to a shmem memfd mapped MAP_FIXED over
 *   the other half and registered uffd MINOR (UFFDIO_CONTINUE, page cache
 *   filled through a second mapping); one RDMA WRITE or READ of many packets
 *   across the boundary, in both orders of the two VMAs.  Each handler must
 *   install exactly the pages of its VMA the transfer spans; after a WRITE
 *   the device reads the whole MR back (now every page of both VMAs is
 *   installed once), and the page cache shows the written bytes.
 * - prefetch_*: a synchronous PREFETCH_WRITE of one SGE over an MR that is
 *   half uffd-missing, half ordinary anonymous memory (never touched): only
 *   the uffd pages reach the handler, each once, all flagged WRITE; then an
 *   RDMA WRITE across the boundary and a READ of the whole MR take no
 *   userfault, and show the handler's pattern, the zeroes of the ordinary
 *   pages and the written bytes.
 * - atomic_*_pending_*: an atomic (FETCH_ADD, CMP_SWP, ATOMIC_WRITE) on QP 0
 *   faults a uffd-missing page whose handler does not run yet; once the fault
 *   waits at the uffd, QP 1 RDMA WRITEs the same page.  Neither completes
 *   while the fault is pending; then the handler starts, installs the page
 *   once, and both complete.  What is allowed: the atomic acts once on the
 *   page's bytes, and the result is that of one of the two orders.  _disjoint
 *   writes every byte of the page but the atomic's 8: exactly one result
 *   (the atomic applied to the handler's bytes, its old value returned, the
 *   WRITE's bytes everywhere else).  _overlap writes the whole page: either
 *   the atomic came first (it returns the handler's bytes, the WRITE's bytes
 *   then replace its result) or the WRITE did (it returns the WRITE's bytes
 *   and acts on them).  rxe copies a WRITE packet and executes an atomic
 *   under the MR's umem_mutex, so no third outcome (a lost update, torn
 *   bytes) is allowed; the 8 bytes lie inside one WRITE packet.
 * - ud_multi_*: 16 UD SENDs of one packet each (UD messages are at most one
 *   MTU) from a uffd-missing source into 16 receive buffers (GRH + payload)
 *   that cross page boundaries of a uffd-missing sink, all posted at once:
 *   each page of either side installed once, every payload byte checked.
 *
 * On stock 7.2 each test fails at its first uffd fault: an error completion
 * or EFAULT, and the handler sees no fault.
 */
#include "lib/verbs.h"

#include <errno.h>
#include <inttypes.h>
#include <linux/userfaultfd.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#define SEED_DATA	0xa5u	/* what an operation delivers */
#define SEED_BG		0x3cu	/* what surrounds it */

#define ODP_ACCESS	(IBV_ACCESS_ON_DEMAND | IBV_ACCESS_LOCAL_WRITE | \
			 IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_READ | \
			 IBV_ACCESS_REMOTE_ATOMIC)

/* ------------------------------------------------------------------ */
/* Helpers                                                              */

/* Pages of psz bytes that [from, to) touches (0 if empty). */
static size_t pages_of(size_t from, size_t to, size_t psz)
{
	return to > from ? (to - 1) / psz - from / psz + 1 : 0;
}

/* Pages of [from, to) inside the VMA [vma, vma + vma_len). */
static size_t pages_in(size_t from, size_t to, size_t vma, size_t vma_len,
		       size_t psz)
{
	size_t a = from > vma ? from : vma;
	size_t b = to < vma + vma_len ? to : vma + vma_len;

	return pages_of(a, b, psz);
}

/*
 * A uffd fill in region positions: the handler's range starts at base in
 * the region, so the pattern is the region's wherever the range lies.
 */
struct region_fill {
	uint32_t seed;
	size_t base;
};

static void fill_region(const void *arg, size_t pos, uint8_t *buf, size_t len)
{
	const struct region_fill *f = arg;

	pattern_fill(buf, len, f->seed, f->base + pos, page_size());
}

/* buf[0, len) holds region bytes [pos, pos + len): seed's pattern, or
 * zeroes for seed 0. */
static int verify_seed(struct test_ctx *t, const uint8_t *buf, size_t pos,
		       size_t len, uint32_t seed, const char *what)
{
	if (!len)
		return TEST_PASS;
	if (!seed)
		return bytes_verify(t, buf, len, 0, pos, what);
	return pattern_verify(t, buf, len, seed, pos, page_size(), what);
}

/*
 * buf holds region bytes [pos, pos + len): `in` inside the transfer
 * [xoff, xend), `out` elsewhere (seeds; 0: zeroes).
 */
static int verify_xfer(struct test_ctx *t, const uint8_t *buf, size_t pos,
		       size_t len, size_t xoff, size_t xend, uint32_t in,
		       uint32_t out, const char *what)
{
	const size_t end = pos + len;
	size_t a = xoff > pos ? xoff : pos, b = xend < end ? xend : end;
	char name[96];
	int rc;

	if (a > b)	/* no overlap: all outside */
		a = b = end;
	snprintf(name, sizeof(name), "%s before the transfer", what);
	rc = verify_seed(t, buf, pos, a - pos, out, name);
	snprintf(name, sizeof(name), "%s, transferred bytes", what);
	rc = test_worse(rc, verify_seed(t, buf + (a - pos), a, b - a, in, name));
	snprintf(name, sizeof(name), "%s after the transfer", what);
	return test_worse(rc, verify_seed(t, buf + (b - pos), b, end - b, out,
					  name));
}

/* Each of want pages resolved exactly once; every fault resolved or EEXIST;
 * minor: all faults flagged MINOR, else none. */
static int check_resolved(struct test_ctx *t, const struct uffd_handler *h,
			  unsigned long want, bool minor, const char *what)
{
	int rc = uffd_check_resolved(t, h, want, what);
	unsigned long faults = uffd_faults(h);
	unsigned long nminor = uffd_count(&h->minor_faults);

	if (rc != TEST_PASS)
		return rc;
	if (nminor != (minor ? faults : 0))
		return test_fail(t, "%s: %lu of %lu faults flagged MINOR, expected %s",
				 what, nminor, faults, minor ? "all" : "none");
	return TEST_PASS;
}

/* A pinned buffer of len bytes and its MR. */
static int pinned_setup(struct test_ctx *t, struct rdma_res *r, size_t len,
			uint8_t **addr, struct ibv_mr **mr, const char *what)
{
	int rc = mem_map(t, len, (void **)addr, what);

	if (rc == TEST_PASS)
		rc = rdma_reg_mr(t, r, *addr, len, IBV_ACCESS_LOCAL_WRITE, what,
				 mr);
	return rc;
}

static int pinned_teardown(struct test_ctx *t, uint8_t **addr, size_t len,
			   struct ibv_mr **mr, const char *what)
{
	int rc = rdma_dereg_mr(t, mr, what);

	return test_worse(rc, mem_unmap(t, (void **)addr, len, what));
}

/* ------------------------------------------------------------------ */
/* One MR over an anonymous MISSING VMA and a shmem MINOR VMA           */

#define VMA_PAGES	8	/* pages of each VMA */

struct vma_case {
	bool minor_first;	/* the shmem VMA is the first half */
	bool read;		/* RDMA READ (else WRITE, then read back) */
};

struct vma_run {
	const struct vma_case *c;
	size_t psz, half, len;
	size_t anon_off, shm_off;	/* each VMA's place in the region */
	size_t xoff, xend;		/* the transfer */
	struct rdma_res r;
	uint8_t *region;		/* len bytes: both VMAs */
	struct tmem shm;		/* the memfd (and its alias mapping) */
	bool shm_mapped;		/* region + shm_off maps the memfd */
	struct uffd_handler miss, minor;
	struct region_fill miss_fill;
	struct ibv_mr *tgt_mr, *loc_mr, *back_mr;
	uint8_t *loc, *back;		/* pinned: transfer, read-back */
};

static uint32_t vma_seed(const struct vma_case *c)
{
	return c->read ? SEED_DATA : SEED_BG;
}

/* The region: anonymous, then the memfd MAP_FIXED over one half. */
static int vma_map(struct test_ctx *t, struct vma_run *v)
{
	void *p;
	int rc;

	test_step(t, "map %zu bytes, shmem memfd MAP_FIXED over bytes [%zu, %zu)",
		  v->len, v->shm_off, v->shm_off + v->half);
	rc = mem_map(t, v->len, (void **)&v->region, "region");
	if (rc == TEST_PASS)
		rc = tmem_create(t, &v->shm, TMEM_SHMEM, v->half, true);
	if (rc != TEST_PASS)
		return rc;
	p = mmap(v->region + v->shm_off, v->half, PROT_READ | PROT_WRITE,
		 MAP_SHARED | MAP_FIXED, v->shm.memfd, 0);
	if (p == MAP_FAILED)
		return test_fail(t, "mmap(shmem memfd, MAP_FIXED at region + %zu): %s",
				 v->shm_off, strerror(errno));
	v->shm_mapped = true;
	/* The page cache, through the alias: no PTE in the region. */
	pattern_fill(v->shm.alias, v->half, vma_seed(v->c), v->shm_off, v->psz);
	return TEST_PASS;
}

static int vma_setup(struct test_ctx *t, struct vma_run *v)
{
	const struct rdma_caps_req req = {
		.odp = true,
		.rc_odp_caps = IBV_ODP_SUPPORT_WRITE | IBV_ODP_SUPPORT_READ,
	};
	struct uffd_cfg miss_cfg = {
		.reg_mode = UFFDIO_REGISTER_MODE_MISSING, .action = UFFD_ACT_COPY,
		.fill = fill_region, .fill_arg = &v->miss_fill,
	};
	const struct uffd_cfg minor_cfg = {
		.features = UFFD_FEATURE_MINOR_SHMEM,
		.reg_mode = UFFDIO_REGISTER_MODE_MINOR, .action = UFFD_ACT_CONTINUE,
	};
	int rc;

	rc = rdma_setup(t, &v->r, &req);
	if (rc != TEST_PASS)
		return rc;
	rc = vma_map(t, v);
	if (rc != TEST_PASS)
		return rc;
	v->miss_fill = (struct region_fill){ .seed = vma_seed(v->c),
					     .base = v->anon_off };
	test_step(t, "uffd MISSING on the anonymous VMA, MINOR on the shmem VMA");
	rc = uffd_setup(t, &v->miss, &miss_cfg, v->region + v->anon_off,
			 v->half, v->psz);
	if (rc == TEST_PASS)
		rc = uffd_setup(t, &v->minor, &minor_cfg,
				 v->region + v->shm_off, v->half, v->psz);
	if (rc == TEST_PASS)
		rc = rdma_reg_mr(t, &v->r, v->region, v->len, ODP_ACCESS,
				 "region (ODP, two VMAs)", &v->tgt_mr);
	if (rc == TEST_PASS)
		rc = pinned_setup(t, &v->r, v->len, &v->loc, &v->loc_mr, "local");
	if (rc == TEST_PASS)
		rc = pinned_setup(t, &v->r, v->len, &v->back, &v->back_mr,
				  "read-back");
	if (rc != TEST_PASS)
		return rc;
	if (v->c->read)
		pattern_fill(v->loc, v->len, SEED_BG, 0, v->psz);
	else
		pattern_fill(v->loc, v->len, SEED_DATA, 0, v->psz);
	memset(v->back, 0, v->len);
	return TEST_PASS;
}

/* The handlers' counts: each installed the pages of its VMA in [from, to). */
static int vma_check(struct test_ctx *t, struct vma_run *v, size_t from,
		     size_t to, const char *when)
{
	char what[96];
	int rc;

	snprintf(what, sizeof(what), "MISSING VMA %s", when);
	rc = check_resolved(t, &v->miss,
			    pages_in(from, to, v->anon_off, v->half, v->psz),
			    false, what);
	snprintf(what, sizeof(what), "MINOR VMA %s", when);
	return test_worse(rc, check_resolved(t, &v->minor,
					      pages_in(from, to, v->shm_off,
						       v->half, v->psz),
					      true, what));
}

static unsigned long vma_faults(const struct vma_run *v)
{
	return uffd_count(&v->miss.faults) + uffd_count(&v->minor.faults);
}

static int vma_write(struct test_ctx *t, struct vma_run *v)
{
	const size_t xlen = v->xend - v->xoff;
	unsigned long before;
	int rc;

	test_step(t, "RDMA WRITE %zu bytes at %zu, across the VMA boundary at %zu",
		  xlen, v->xoff, v->half);
	rc = rdma_rw(t, &v->r, 0, IBV_WR_RDMA_WRITE, v->loc + v->xoff,
		     (uint32_t)xlen, v->loc_mr->lkey,
		     (uintptr_t)v->region + v->xoff, v->tgt_mr->rkey, NULL);
	if (rc == TEST_PASS)
		rc = vma_check(t, v, v->xoff, v->xend, "after the WRITE");
	if (rc != TEST_PASS)
		return rc;
	/* What the device sees: the whole MR, faulting every other page. */
	test_step(t, "RDMA READ of the whole MR (%zu bytes)", v->len);
	rc = rdma_rw(t, &v->r, 0, IBV_WR_RDMA_READ, v->back, (uint32_t)v->len,
		     v->back_mr->lkey, (uintptr_t)v->region, v->tgt_mr->rkey,
		     NULL);
	if (rc == TEST_PASS)
		rc = vma_check(t, v, 0, v->len, "after the read-back");
	if (rc != TEST_PASS)
		return rc;
	test_step(t, "verify what the device read back, the region, the page cache");
	before = vma_faults(v);
	rc = verify_xfer(t, v->back, 0, v->len, v->xoff, v->xend, SEED_DATA,
			 SEED_BG, "device read-back");
	rc = test_worse(rc, verify_xfer(t, v->region, 0, v->len, v->xoff,
					v->xend, SEED_DATA, SEED_BG, "region"));
	rc = test_worse(rc, verify_xfer(t, v->shm.alias, v->shm_off, v->half,
					v->xoff, v->xend, SEED_DATA, SEED_BG,
					"shmem page cache (alias)"));
	if (vma_faults(v) != before)
		rc = test_fail(t, "the CPU took %lu uffd faults on pages the device had mapped",
			       vma_faults(v) - before);
	return rc;
}

static int vma_read(struct test_ctx *t, struct vma_run *v)
{
	const size_t xlen = v->xend - v->xoff;
	const size_t pfrom = v->xoff / v->psz * v->psz;
	const size_t pto = (v->xend + v->psz - 1) / v->psz * v->psz;
	unsigned long before;
	int rc;

	test_step(t, "RDMA READ %zu bytes at %zu, across the VMA boundary at %zu",
		  xlen, v->xoff, v->half);
	rc = rdma_rw(t, &v->r, 0, IBV_WR_RDMA_READ, v->loc + v->xoff,
		     (uint32_t)xlen, v->loc_mr->lkey,
		     (uintptr_t)v->region + v->xoff, v->tgt_mr->rkey, NULL);
	if (rc == TEST_PASS)
		rc = vma_check(t, v, v->xoff, v->xend, "after the READ");
	if (rc != TEST_PASS)
		return rc;
	test_step(t, "verify the READ and the spanned pages");
	before = vma_faults(v);
	rc = verify_xfer(t, v->loc, 0, v->len, v->xoff, v->xend, SEED_DATA,
			 SEED_BG, "local buffer");
	rc = test_worse(rc, verify_seed(t, v->region + pfrom, pfrom, pto - pfrom,
					SEED_DATA, "region pages the READ spans"));
	if (vma_faults(v) != before)
		rc = test_fail(t, "the CPU took %lu uffd faults on pages the device had mapped",
			       vma_faults(v) - before);
	return rc;
}

static int test_vma(struct test_ctx *t)
{
	struct vma_run v = { .c = t->arg, .psz = page_size() };
	int rc;

	v.half = VMA_PAGES * v.psz;
	v.len = 2 * v.half;
	v.shm_off = v.c->minor_first ? 0 : v.half;
	v.anon_off = v.c->minor_first ? v.half : 0;
	/* 3 pages before the boundary, 4 after, unaligned ends. */
	v.xoff = v.half - 3 * v.psz + 100;
	v.xend = v.half + 3 * v.psz + 1100;
	tmem_init(&v.shm);
	uffd_handler_init(&v.miss);
	uffd_handler_init(&v.minor);
	rc = vma_setup(t, &v);
	if (rc == TEST_PASS)
		rc = v.c->read ? vma_read(t, &v) : vma_write(t, &v);

	/* uffds first: they release any fault still waiting on them. */
	test_step(t, "teardown");
	rc = test_worse(rc, uffd_teardown(t, &v.minor));
	rc = test_worse(rc, uffd_teardown(t, &v.miss));
	rc = test_worse(rc, rdma_dereg_mr(t, &v.tgt_mr, "region"));
	rc = test_worse(rc, pinned_teardown(t, &v.back, v.len, &v.back_mr,
					    "read-back"));
	rc = test_worse(rc, pinned_teardown(t, &v.loc, v.len, &v.loc_mr, "local"));
	/* The region's munmap covers the MAP_FIXED memfd mapping too. */
	rc = test_worse(rc, mem_unmap(t, (void **)&v.region, v.len, "region"));
	rc = test_worse(rc, tmem_destroy(t, &v.shm));
	return test_worse(rc, rdma_teardown(t, &v.r));
}

/* ------------------------------------------------------------------ */
/* Synchronous prefetch over uffd and ordinary memory                    */

#define PF_HALF_PAGES	384	/* 1.5 MiB each: the SGE spans 2 MiB chunks */

struct pf_case {
	bool uffd_first;
};

static int pf_prefetch(struct test_ctx *t, struct rdma_res *r, uint8_t *addr,
		       size_t len, uint32_t lkey)
{
	struct ibv_sge sge = { .addr = (uintptr_t)addr, .length = (uint32_t)len,
			       .lkey = lkey };

	test_step(t, "synchronous PREFETCH_WRITE of the whole MR (%zu bytes, one SGE, half uffd)",
		  len);
	return rdma_advise(t, r, IBV_ADVISE_MR_ADVICE_PREFETCH_WRITE,
			   IBV_ADVISE_MR_FLAG_FLUSH, &sge, 1);
}

/* region's bytes [0, len): the uffd half holds `uffd_seed`, the ordinary
 * half zeroes, the transfer [xoff, xend) SEED_DATA. */
static int pf_verify(struct test_ctx *t, const uint8_t *buf, size_t half,
		     size_t uoff, size_t ooff, size_t xoff, size_t xend,
		     const char *what)
{
	char name[96];
	int rc;

	snprintf(name, sizeof(name), "%s, uffd half", what);
	rc = verify_xfer(t, buf + uoff, uoff, half, xoff, xend, SEED_DATA,
			 SEED_BG, name);
	snprintf(name, sizeof(name), "%s, ordinary half", what);
	return test_worse(rc, verify_xfer(t, buf + ooff, ooff, half, xoff, xend,
					  SEED_DATA, 0, name));
}

static int pf_steps(struct test_ctx *t, struct rdma_res *r, struct uffd_handler *h,
		    uint8_t *region, struct ibv_mr *mr, uint8_t *loc,
		    struct ibv_mr *loc_mr, size_t uoff, size_t ooff, size_t half)
{
	const size_t psz = page_size(), len = 2 * half;
	const size_t xoff = half - 2 * psz + 100, xend = half + 2 * psz + 900;
	const unsigned long upages = half / psz;
	unsigned long before;
	int rc;

	rc = pf_prefetch(t, r, region, len, mr->lkey);
	if (rc == TEST_PASS)
		rc = check_resolved(t, h, upages, false, "after the prefetch");
	/* One fault a uffd page, none for the ordinary ones. */
	if (rc == TEST_PASS && (uffd_count(&h->faults) != upages ||
				uffd_count(&h->write_faults) != upages))
		rc = test_fail(t, "PREFETCH_WRITE: %lu faults, %lu flagged WRITE; expected %lu (one a uffd page), all WRITE",
			       uffd_count(&h->faults),
			       uffd_count(&h->write_faults), upages);
	if (rc != TEST_PASS)
		return rc;
	before = uffd_count(&h->faults);
	test_step(t, "RDMA WRITE of %zu bytes across the uffd/ordinary boundary",
		  xend - xoff);
	pattern_fill(loc, len, SEED_DATA, 0, psz);
	rc = rdma_rw(t, r, 0, IBV_WR_RDMA_WRITE, loc + xoff,
		     (uint32_t)(xend - xoff), loc_mr->lkey,
		     (uintptr_t)region + xoff, mr->rkey, NULL);
	if (rc != TEST_PASS)
		return rc;
	test_step(t, "RDMA READ of the whole MR");
	memset(loc, 0xee, len);
	rc = rdma_rw(t, r, 0, IBV_WR_RDMA_READ, loc, (uint32_t)len, loc_mr->lkey,
		     (uintptr_t)region, mr->rkey, NULL);
	if (rc != TEST_PASS)
		return rc;
	if (uffd_count(&h->faults) != before)
		return test_fail(t, "the WRITE and READ after the prefetch took %lu uffd faults, expected none",
				 uffd_count(&h->faults) - before);
	rc = pf_verify(t, loc, half, uoff, ooff, xoff, xend, "device read-back");
	rc = test_worse(rc, pf_verify(t, region, half, uoff, ooff, xoff, xend,
				      "region"));
	if (uffd_count(&h->faults) != before)
		rc = test_fail(t, "the CPU took %lu uffd faults on prefetched pages",
			       uffd_count(&h->faults) - before);
	return test_worse(rc, uffd_handler_check(t, h));
}

static int test_prefetch(struct test_ctx *t)
{
	const struct pf_case *c = t->arg;
	const struct rdma_caps_req req = {
		.odp = true,
		.rc_odp_caps = IBV_ODP_SUPPORT_WRITE | IBV_ODP_SUPPORT_READ,
	};
	const size_t psz = page_size(), half = PF_HALF_PAGES * psz;
	const size_t len = 2 * half;
	const size_t uoff = c->uffd_first ? 0 : half;
	const size_t ooff = c->uffd_first ? half : 0;
	struct region_fill fill = { .seed = SEED_BG, .base = uoff };
	const struct uffd_cfg cfg = {
		.reg_mode = UFFDIO_REGISTER_MODE_MISSING, .action = UFFD_ACT_COPY,
		.fill = fill_region, .fill_arg = &fill,
	};
	struct ibv_mr *mr = NULL, *loc_mr = NULL;
	uint8_t *region = NULL, *loc = NULL;
	struct rdma_res r;
	struct uffd_handler h;
	int rc;

	uffd_handler_init(&h);
	rc = rdma_setup(t, &r, &req);
	if (rc != TEST_PASS)
		return rc;
	test_step(t, "region of %zu bytes, uffd MISSING on [%zu, %zu)", len,
		  uoff, uoff + half);
	rc = mem_map(t, len, (void **)&region, "region");
	if (rc == TEST_PASS)
		rc = uffd_setup(t, &h, &cfg, region + uoff, half, psz);
	if (rc == TEST_PASS)
		rc = rdma_reg_mr(t, &r, region, len, ODP_ACCESS,
				 "region (ODP, half uffd)", &mr);
	if (rc == TEST_PASS)
		rc = pinned_setup(t, &r, len, &loc, &loc_mr, "local");
	if (rc == TEST_PASS)
		rc = pf_steps(t, &r, &h, region, mr, loc, loc_mr, uoff, ooff, half);

	test_step(t, "teardown");
	rc = test_worse(rc, uffd_teardown(t, &h));
	rc = test_worse(rc, rdma_dereg_mr(t, &mr, "region"));
	rc = test_worse(rc, mem_unmap(t, (void **)&region, len, "region"));
	rc = test_worse(rc, pinned_teardown(t, &loc, len, &loc_mr, "local"));
	return test_worse(rc, rdma_teardown(t, &r));
}

/* ------------------------------------------------------------------ */
/* An atomic and a WRITE on a page whose fault is pending                */

#define ATOM_PAGES	3	/* the target; page 1 is the one */
#define ATOM_OFF	2056	/* 8-byte aligned, inside the WRITE's 3rd packet */
#define PENDING_MS	300	/* how long the fault is kept pending */
#define ADD_VALUE	0x0001000100010001ull
#define SWAP_VALUE	0x0123456789abcdefull
#define WRITE_VALUE	0xfedcba9876543210ull
#define ATOM_WR_ID	0xa70u
#define WRITE_WR_ID	0x3e0u	/* + 0, + 1 */

enum atom_op { AT_FETCH_ADD, AT_CMP_SWP, AT_WRITE };

struct atom_case {
	enum atom_op op;
	bool overlap;		/* the WRITE covers the atomic's 8 bytes too */
};

struct atom_run {
	const struct atom_case *c;
	size_t psz;
	struct rdma_res r;
	uint8_t *tgt, *loc;	/* loc: page 0 WRITE source, page 1 result */
	struct ibv_mr *tgt_mr, *loc_mr;
	struct uffd_handler h;
	uint32_t seed;
	const char *name;
};

static uint64_t pattern_u64(uint32_t seed, size_t pos)
{
	uint8_t b[8];
	uint64_t v;

	pattern_fill(b, sizeof(b), seed, pos, page_size());
	memcpy(&v, b, sizeof(v));
	return v;
}

/* What the atomic leaves in memory that held old. */
static uint64_t atom_apply(const struct atom_case *c, uint64_t old,
			   uint64_t compare)
{
	switch (c->op) {
	case AT_FETCH_ADD: return old + ADD_VALUE;
	case AT_CMP_SWP: return old == compare ? SWAP_VALUE : old;
	default: return WRITE_VALUE;
	}
}

static int atom_post(struct test_ctx *t, struct atom_run *a, uint64_t compare)
{
	const uint64_t raddr = (uintptr_t)a->tgt + a->psz + ATOM_OFF;
	struct ibv_sge sge = { .addr = (uintptr_t)a->loc + a->psz, .length = 8,
			       .lkey = a->loc_mr->lkey };
	struct ibv_send_wr wr = {
		.wr_id = ATOM_WR_ID, .sg_list = &sge, .num_sge = 1,
		.send_flags = IBV_SEND_SIGNALED,
	}, *bad = NULL;
	uint8_t bytes[8];
	int err;

	test_step(t, "post %s at target offset %zu", a->name,
		  a->psz + ATOM_OFF);
	if (a->c->op == AT_WRITE) {
		uint64_t v = WRITE_VALUE;

		memcpy(bytes, &v, sizeof(bytes));
		ibv_wr_start(a->r.qpx[0]);
		a->r.qpx[0]->wr_id = ATOM_WR_ID;
		a->r.qpx[0]->wr_flags = IBV_SEND_SIGNALED;
		ibv_wr_atomic_write(a->r.qpx[0], a->tgt_mr->rkey, raddr, bytes);
		err = ibv_wr_complete(a->r.qpx[0]);
		if (err)
			return test_fail(t, "ibv_wr_complete(ATOMIC_WRITE): %s",
					 strerror(err));
		return TEST_PASS;
	}
	wr.opcode = a->c->op == AT_CMP_SWP ? IBV_WR_ATOMIC_CMP_AND_SWP :
					     IBV_WR_ATOMIC_FETCH_AND_ADD;
	wr.wr.atomic.remote_addr = raddr;
	wr.wr.atomic.rkey = a->tgt_mr->rkey;
	wr.wr.atomic.compare_add = a->c->op == AT_CMP_SWP ? compare : ADD_VALUE;
	wr.wr.atomic.swap = a->c->op == AT_CMP_SWP ? SWAP_VALUE : 0;
	err = ibv_post_send(a->r.qp[0], &wr, &bad);
	if (err)
		return test_fail(t, "ibv_post_send(%s): %s", a->name, strerror(err));
	return TEST_PASS;
}

/* No completion on either CQ (the operations wait for the fault). */
static int atom_none_completed(struct test_ctx *t, struct atom_run *a,
			       const char *when)
{
	struct ibv_wc wc;
	int i, n;

	for (i = 0; i < 2; i++) {
		n = ibv_poll_cq(a->r.cq[i], 1, &wc);
		if (n < 0)
			return test_fail(t, "ibv_poll_cq(QP %d) returned %d", i, n);
		if (n)
			return test_fail(t, "%s on QP %d completed (%s, wr_id 0x%" PRIx64 ") %s",
					 i ? "RDMA WRITE" : a->name, i,
					 ibv_wc_status_str(wc.status),
					 (uint64_t)wc.wr_id, when);
	}
	return TEST_PASS;
}

/* Until the atomic's fault is queued at the (unread) uffd. */
static int atom_wait_pending(struct test_ctx *t, struct atom_run *a)
{
	const double deadline = test_now_s() + TEST_WC_TIMEOUT_MS / 1000.0;
	bool pending = false;
	int rc;

	test_step(t, "wait for the %s's fault at the uffd", a->name);
	for (;;) {
		rc = atom_none_completed(t, a, "before its fault reached the uffd (no fault)");
		if (rc == TEST_PASS)
			rc = uffd_pending(t, &a->h, &pending);
		if (rc != TEST_PASS || pending)
			return rc;
		if (test_now_s() > deadline)
			return test_fail(t, "no fault at the uffd and no completion within %d ms",
					 TEST_WC_TIMEOUT_MS);
		test_sleep_us(1000);
	}
}

/* QP 1 writes page 1: all of it, or all but the atomic's 8 bytes. */
static int atom_post_write(struct test_ctx *t, struct atom_run *a)
{
	const size_t cut = a->c->overlap ? a->psz : ATOM_OFF;
	struct ibv_sge sge[2] = {
		{ .addr = (uintptr_t)a->loc, .length = (uint32_t)cut,
		  .lkey = a->loc_mr->lkey },
		{ .addr = (uintptr_t)a->loc + ATOM_OFF + 8,
		  .length = (uint32_t)(a->psz - ATOM_OFF - 8),
		  .lkey = a->loc_mr->lkey },
	};
	struct ibv_send_wr wr[2], *bad = NULL;
	int i, err, n = a->c->overlap ? 1 : 2;

	for (i = 0; i < n; i++) {
		wr[i] = (struct ibv_send_wr){
			.wr_id = WRITE_WR_ID + (unsigned int)i,
			.sg_list = &sge[i], .num_sge = 1,
			.opcode = IBV_WR_RDMA_WRITE,
			.send_flags = IBV_SEND_SIGNALED,
			.next = i + 1 < n ? &wr[i + 1] : NULL,
		};
		wr[i].wr.rdma.remote_addr = (uintptr_t)a->tgt + a->psz +
					    (sge[i].addr - (uintptr_t)a->loc);
		wr[i].wr.rdma.rkey = a->tgt_mr->rkey;
	}
	test_step(t, "QP 1: %d RDMA WRITE(s) into the pending page", n);
	err = ibv_post_send(a->r.qp[1], wr, &bad);
	if (err)
		return test_fail(t, "ibv_post_send(%d RDMA WRITEs, QP 1): %s", n,
				 strerror(err));
	return TEST_PASS;
}

/* Hold the fault PENDING_MS: nothing may complete, the fault still queued. */
static int atom_hold(struct test_ctx *t, struct atom_run *a)
{
	const double end = test_now_s() + PENDING_MS / 1000.0;
	bool pending;
	int rc = TEST_PASS;

	test_step(t, "fault pending for %d ms: nothing may complete", PENDING_MS);
	while (rc == TEST_PASS && test_now_s() < end) {
		rc = atom_none_completed(t, a, "while its page's fault was pending");
		test_sleep_us(2000);
	}
	if (rc == TEST_PASS)
		rc = uffd_pending(t, &a->h, &pending);
	if (rc == TEST_PASS && !pending)
		rc = test_fail(t, "the fault message left the uffd though nobody read it");
	return rc;
}

/* Every byte of page 1 but [ATOM_OFF, +8) is the WRITE's; the atomic's
 * result and the 8 bytes are those of one order (see the file comment). */
static int atom_verify(struct test_ctx *t, struct atom_run *a, uint64_t bg)
{
	const size_t pos = a->psz + ATOM_OFF;
	const uint64_t data = pattern_u64(SEED_DATA, pos);
	uint64_t mem, ret = 0;
	bool first, second;
	int rc;

	test_step(t, "verify page 1 and the %s's result", a->name);
	rc = pattern_verify(t, a->tgt + a->psz, ATOM_OFF, SEED_DATA, a->psz,
			    a->psz, "page 1 before the atomic's bytes");
	rc = test_worse(rc, pattern_verify(t, a->tgt + pos + 8,
					   a->psz - ATOM_OFF - 8, SEED_DATA,
					   pos + 8, a->psz,
					   "page 1 after the atomic's bytes"));
	memcpy(&mem, a->tgt + pos, sizeof(mem));
	if (a->c->op != AT_WRITE)
		memcpy(&ret, a->loc + a->psz, sizeof(ret));
	/* Atomic first: it saw the handler's bytes (bg). */
	first = a->c->overlap ? mem == data : mem == atom_apply(a->c, bg, bg);
	if (a->c->op != AT_WRITE)
		first = first && ret == bg;
	/* WRITE first (overlap only): the atomic saw and acted on its bytes. */
	second = a->c->overlap && mem == atom_apply(a->c, data, bg) &&
		 (a->c->op == AT_WRITE || ret == data);
	if (first || second)
		tap_diag("%s: memory 0x%016" PRIx64 "%s: the %s came first",
			 a->name, mem, a->c->op == AT_WRITE ? "" : ", returned old",
			 first ? a->name : "RDMA WRITE");
	else
		rc = test_fail(t, "%s: memory 0x%016" PRIx64 ", returned 0x%016" PRIx64 " fit no order: handler's bytes 0x%016" PRIx64 ", WRITE's 0x%016" PRIx64 "%s",
			       a->name, mem, ret, bg, data,
			       a->c->overlap ? "" : " (the WRITE does not cover them)");
	return rc;
}

static int atom_steps(struct test_ctx *t, struct atom_run *a)
{
	const uint64_t bg = pattern_u64(SEED_BG, a->psz + ATOM_OFF);
	const struct uffd_cfg cfg = {
		.reg_mode = UFFDIO_REGISTER_MODE_MISSING, .action = UFFD_ACT_COPY,
		.fill = uffd_fill_pattern, .fill_arg = &a->seed,
	};
	struct ibv_wc wc;
	unsigned int i;
	int rc;

	test_step(t, "target: %d uffd-missing pages, handler not started",
		  ATOM_PAGES);
	rc = mem_map(t, ATOM_PAGES * a->psz, (void **)&a->tgt, "target");
	if (rc == TEST_PASS)
		rc = uffd_setup_held(t, &a->h, &cfg, a->tgt,
				      ATOM_PAGES * a->psz, a->psz);
	if (rc == TEST_PASS)
		rc = rdma_reg_mr(t, &a->r, a->tgt, ATOM_PAGES * a->psz,
				 ODP_ACCESS, "target (ODP)", &a->tgt_mr);
	if (rc == TEST_PASS)
		rc = pinned_setup(t, &a->r, 2 * a->psz, &a->loc, &a->loc_mr,
				  "local");
	if (rc != TEST_PASS)
		return rc;
	pattern_fill(a->loc, a->psz, SEED_DATA, a->psz, a->psz);
	memset(a->loc + a->psz, 0xee, a->psz);

	rc = atom_post(t, a, bg);
	if (rc == TEST_PASS)
		rc = atom_wait_pending(t, a);
	if (rc == TEST_PASS)
		rc = atom_post_write(t, a);
	if (rc == TEST_PASS)
		rc = atom_hold(t, a);
	if (rc != TEST_PASS)
		return rc;
	test_step(t, "start the handler");
	rc = uffd_start(t, &a->h);
	if (rc == TEST_PASS)
		rc = rdma_wait_wc(t, a->r.cq[0], a->name, ATOM_WR_ID,
				  TEST_WC_TIMEOUT_MS, NULL, &wc);
	for (i = 0; i < (a->c->overlap ? 1u : 2u) && rc == TEST_PASS; i++)
		rc = rdma_wait_wc(t, a->r.cq[1], "RDMA WRITE", WRITE_WR_ID + i,
				  TEST_WC_TIMEOUT_MS, NULL, &wc);
	if (rc == TEST_PASS)
		rc = check_resolved(t, &a->h, 1, false, "target");
	if (rc == TEST_PASS)
		rc = atom_verify(t, a, bg);
	return rc;
}

static int test_atomic_pending(struct test_ctx *t)
{
	const struct atom_case *c = t->arg;
	const bool aw = c->op == AT_WRITE;
	const struct rdma_caps_req req = {
		.odp = true,
		.rc_odp_caps = IBV_ODP_SUPPORT_WRITE |
			       (aw ? IBV_ODP_SUPPORT_ATOMIC_WRITE :
				     IBV_ODP_SUPPORT_ATOMIC),
		.cap_flags_ex = aw ? IB_UVERBS_DEVICE_ATOMIC_WRITE : 0,
		.send_ops_flags = aw ? IBV_QP_EX_WITH_ATOMIC_WRITE : 0,
	};
	struct atom_run a = { .c = c, .psz = page_size(), .seed = SEED_BG };
	int rc;

	a.name = c->op == AT_FETCH_ADD ? "ATOMIC FETCH_ADD" :
		 c->op == AT_CMP_SWP ? "ATOMIC CMP_SWP" : "ATOMIC_WRITE";
	uffd_handler_init(&a.h);
	rc = rdma_setup(t, &a.r, &req);
	if (rc != TEST_PASS)
		return rc;
	rc = atom_steps(t, &a);

	test_step(t, "teardown");
	rc = test_worse(rc, uffd_teardown(t, &a.h));
	rc = test_worse(rc, rdma_dereg_mr(t, &a.tgt_mr, "target"));
	rc = test_worse(rc, mem_unmap(t, (void **)&a.tgt, ATOM_PAGES * a.psz,
				      "target"));
	rc = test_worse(rc, pinned_teardown(t, &a.loc, 2 * a.psz, &a.loc_mr,
					    "local"));
	return test_worse(rc, rdma_teardown(t, &a.r));
}

/* ------------------------------------------------------------------ */
/* UD: many one-packet SENDs, uffd memory on both sides                  */

#define UD_MSGS		16	/* the send queue's depth */
#define UD_PAYLOAD	1000	/* one packet (MTU 1024) */
#define UD_BUF		(RDMA_GRH_LEN + UD_PAYLOAD)
#define UD_FIRST	3000	/* the first receive buffer crosses page 0/1 */
#define UD_STRIDE	1100	/* receive buffers 60 bytes apart */
#define UD_PAGES	6	/* [UD_FIRST, last buffer's end) in 6 pages */

/* Receive buffer i at ud_off(i): GRH, then the payload at ud_off(i) + 40;
 * the source of SEND i is at the payload's position in the send region. */
static size_t ud_off(unsigned int i)
{
	return UD_FIRST + (size_t)i * UD_STRIDE;
}

struct ud_side {
	uint8_t *addr;
	struct ibv_mr *mr;
	struct uffd_handler h;
	uint32_t seed;
	const char *what;
};

static int ud_side_setup(struct test_ctx *t, struct rdma_res *r,
			 struct ud_side *s, size_t len)
{
	const struct uffd_cfg cfg = {
		.reg_mode = UFFDIO_REGISTER_MODE_MISSING, .action = UFFD_ACT_COPY,
		.fill = uffd_fill_pattern, .fill_arg = &s->seed,
	};
	int rc;

	test_step(t, "%s: %zu bytes of uffd-missing memory", s->what, len);
	rc = mem_map(t, len, (void **)&s->addr, s->what);
	if (rc == TEST_PASS)
		rc = uffd_setup(t, &s->h, &cfg, s->addr, len, page_size());
	if (rc == TEST_PASS)
		rc = rdma_reg_mr(t, r, s->addr, len, ODP_ACCESS, s->what, &s->mr);
	return rc;
}

static int ud_side_teardown(struct test_ctx *t, struct ud_side *s, size_t len)
{
	int rc = uffd_teardown(t, &s->h);

	rc = test_worse(rc, rdma_dereg_mr(t, &s->mr, s->what));
	return test_worse(rc, mem_unmap(t, (void **)&s->addr, len, s->what));
}

static int ud_post_sends(struct test_ctx *t, struct rdma_res *r,
			 struct ud_side *src)
{
	struct ibv_send_wr wr[UD_MSGS], *bad = NULL;
	struct ibv_sge sge[UD_MSGS];
	unsigned int i;
	int err;

	for (i = 0; i < UD_MSGS; i++) {
		sge[i] = (struct ibv_sge){
			.addr = (uintptr_t)src->addr + ud_off(i) + RDMA_GRH_LEN,
			.length = UD_PAYLOAD, .lkey = src->mr->lkey,
		};
		wr[i] = (struct ibv_send_wr){
			.wr_id = i, .sg_list = &sge[i], .num_sge = 1,
			.opcode = IBV_WR_SEND, .send_flags = IBV_SEND_SIGNALED,
			.next = i + 1 < UD_MSGS ? &wr[i + 1] : NULL,
		};
		wr[i].wr.ud.ah = r->ah;
		wr[i].wr.ud.remote_qpn = r->qp[1]->qp_num;
		wr[i].wr.ud.remote_qkey = RDMA_UD_QKEY;
	}
	test_step(t, "post %d UD SENDs of %d bytes from uffd memory", UD_MSGS,
		  UD_PAYLOAD);
	err = ibv_post_send(r->qp[0], wr, &bad);
	if (err)
		return test_fail(t, "ibv_post_send(%d UD SENDs): %s", UD_MSGS,
				 strerror(err));
	return TEST_PASS;
}

/* Completions of the SENDs (cq 0) and RECVs (cq 1), in posting order. */
static int ud_wait_all(struct test_ctx *t, struct rdma_res *r)
{
	struct ibv_wc wc;
	unsigned int i;
	int rc = TEST_PASS;

	for (i = 0; i < UD_MSGS && rc == TEST_PASS; i++)
		rc = rdma_wait_wc(t, r->cq[0], "UD SEND", i, TEST_WC_TIMEOUT_MS,
				  NULL, &wc);
	for (i = 0; i < UD_MSGS && rc == TEST_PASS; i++) {
		rc = rdma_wait_wc(t, r->cq[1], "UD RECV", i, TEST_WC_TIMEOUT_MS,
				  NULL, &wc);
		if (rc == TEST_PASS && wc.byte_len != UD_BUF)
			rc = test_fail(t, "UD RECV %u: %u bytes, expected %d", i,
				       wc.byte_len, UD_BUF);
	}
	return rc;
}

/* Payloads where the receives put them, the sink's pattern around them
 * (the GRH bytes are the device's, not checked). */
static int ud_verify(struct test_ctx *t, const struct ud_side *dst,
		     size_t len)
{
	size_t prev = 0;
	unsigned int i;
	int rc = TEST_PASS;

	test_step(t, "verify the %d payloads and the bytes around them", UD_MSGS);
	for (i = 0; i < UD_MSGS && rc == TEST_PASS; i++) {
		size_t data = ud_off(i) + RDMA_GRH_LEN;

		rc = pattern_verify(t, dst->addr + prev, ud_off(i) - prev,
				    SEED_BG, prev, page_size(),
				    "sink before a receive buffer");
		rc = test_worse(rc, pattern_verify(t, dst->addr + data,
						   UD_PAYLOAD, SEED_DATA, data,
						   page_size(), "payload"));
		prev = data + UD_PAYLOAD;
	}
	return test_worse(rc, pattern_verify(t, dst->addr + prev, len - prev,
					     SEED_BG, prev, page_size(),
					     "sink after the last buffer"));
}

static int ud_steps(struct test_ctx *t, struct rdma_res *r,
		    struct ud_side *src, struct ud_side *dst, size_t len)
{
	const size_t psz = page_size();
	const size_t end = ud_off(UD_MSGS - 1) + UD_BUF;
	unsigned int i;
	int rc;

	rc = ud_side_setup(t, r, src, len);
	if (rc == TEST_PASS)
		rc = ud_side_setup(t, r, dst, len);
	for (i = 0; i < UD_MSGS && rc == TEST_PASS; i++)
		rc = rdma_post_recv(t, r->qp[1], dst->addr + ud_off(i), UD_BUF,
				    dst->mr->lkey, i);
	if (rc == TEST_PASS)
		rc = ud_post_sends(t, r, src);
	if (rc == TEST_PASS)
		rc = ud_wait_all(t, r);
	if (rc == TEST_PASS)
		rc = check_resolved(t, &src->h,
				    pages_of(UD_FIRST + RDMA_GRH_LEN, end, psz),
				    false, "send side");
	if (rc == TEST_PASS)
		rc = check_resolved(t, &dst->h, pages_of(UD_FIRST, end, psz),
				    false, "receive side");
	if (rc == TEST_PASS)
		rc = ud_verify(t, dst, len);
	return rc;
}

static int test_ud_multi(struct test_ctx *t)
{
	const struct rdma_caps_req req = {
		.odp = true, .qp_type = IBV_QPT_UD,
		.ud_odp_caps = IBV_ODP_SUPPORT_SEND | IBV_ODP_SUPPORT_RECV,
	};
	const size_t len = UD_PAGES * page_size();
	struct ud_side src = { .seed = SEED_DATA, .what = "send buffer" };
	struct ud_side dst = { .seed = SEED_BG, .what = "receive buffers" };
	struct rdma_res r;
	int rc;

	uffd_handler_init(&src.h);
	uffd_handler_init(&dst.h);
	if (ud_off(UD_MSGS - 1) + UD_BUF > len)
		return test_fail(t, "UD layout: %zu bytes do not fit %zu",
				 ud_off(UD_MSGS - 1) + UD_BUF, len);
	rc = rdma_setup(t, &r, &req);
	if (rc != TEST_PASS)
		return rc;
	rc = ud_steps(t, &r, &src, &dst, len);

	test_step(t, "teardown");
	rc = test_worse(rc, ud_side_teardown(t, &dst, len));
	rc = test_worse(rc, ud_side_teardown(t, &src, len));
	return test_worse(rc, rdma_teardown(t, &r));
}

/* ------------------------------------------------------------------ */

#define VMA(...)	(&(const struct vma_case){ __VA_ARGS__ })
#define PF(...)		(&(const struct pf_case){ __VA_ARGS__ })
#define ATOM(...)	(&(const struct atom_case){ __VA_ARGS__ })

static const struct test_case tests[] = {
	{ .name = "vma_write_missing_minor", .fn = test_vma,
	  .arg = VMA(.minor_first = false),
	  .desc = "RDMA WRITE across anonymous uffd MISSING | shmem uffd MINOR VMAs of one ODP MR, then the whole MR read back: each handler installs its own pages once",
	  .needs = FIX_UFFD | FIX_COPY },
	{ .name = "vma_write_minor_missing", .fn = test_vma,
	  .arg = VMA(.minor_first = true),
	  .desc = "the same with the shmem MINOR VMA first",
	  .needs = FIX_UFFD | FIX_COPY },
	{ .name = "vma_read_missing_minor", .fn = test_vma,
	  .arg = VMA(.minor_first = false, .read = true),
	  .desc = "RDMA READ across anonymous uffd MISSING | shmem uffd MINOR VMAs of one ODP MR",
	  .needs = FIX_UFFD | FIX_COPY },
	{ .name = "vma_read_minor_missing", .fn = test_vma,
	  .arg = VMA(.minor_first = true, .read = true),
	  .desc = "the same with the shmem MINOR VMA first",
	  .needs = FIX_UFFD | FIX_COPY },
	{ .name = "prefetch_uffd_then_ordinary", .fn = test_prefetch,
	  .arg = PF(.uffd_first = true),
	  .desc = "sync PREFETCH_WRITE of an MR half uffd-missing, half ordinary: exactly the uffd pages fault; WRITE and READ after it take no userfault",
	  .needs = FIX_UFFD | FIX_COPY },
	{ .name = "prefetch_ordinary_then_uffd", .fn = test_prefetch,
	  .arg = PF(.uffd_first = false),
	  .desc = "the same with the ordinary half first",
	  .needs = FIX_UFFD | FIX_COPY },
	{ .name = "atomic_fetch_add_pending_write_disjoint", .fn = test_atomic_pending,
	  .arg = ATOM(.op = AT_FETCH_ADD),
	  .desc = "FETCH_ADD faults a page, another QP WRITEs the rest of it while the fault is pending: the add applies once to the handler's bytes",
	  .needs = FIX_UFFD | FIX_COPY },
	{ .name = "atomic_fetch_add_pending_write_overlap", .fn = test_atomic_pending,
	  .arg = ATOM(.op = AT_FETCH_ADD, .overlap = true),
	  .desc = "FETCH_ADD and a WRITE of the whole page meet on its pending fault: the result of one order",
	  .needs = FIX_UFFD | FIX_COPY },
	{ .name = "atomic_cmp_swp_pending_write_disjoint", .fn = test_atomic_pending,
	  .arg = ATOM(.op = AT_CMP_SWP),
	  .desc = "CMP_SWP faults a page, another QP WRITEs the rest of it while the fault is pending: the swap happens once",
	  .needs = FIX_UFFD | FIX_COPY },
	{ .name = "atomic_cmp_swp_pending_write_overlap", .fn = test_atomic_pending,
	  .arg = ATOM(.op = AT_CMP_SWP, .overlap = true),
	  .desc = "CMP_SWP and a WRITE of the whole page meet on its pending fault: the result of one order",
	  .needs = FIX_UFFD | FIX_COPY },
	{ .name = "atomic_write_pending_write_disjoint", .fn = test_atomic_pending,
	  .arg = ATOM(.op = AT_WRITE),
	  .desc = "ATOMIC_WRITE faults a page, another QP WRITEs the rest of it while the fault is pending: both land",
	  .needs = FIX_UFFD | FIX_COPY },
	{ .name = "atomic_write_pending_write_overlap", .fn = test_atomic_pending,
	  .arg = ATOM(.op = AT_WRITE, .overlap = true),
	  .desc = "ATOMIC_WRITE and a WRITE of the whole page meet on its pending fault: the bytes of one order",
	  .needs = FIX_UFFD | FIX_COPY },
	{ .name = "ud_multi_uffd_both", .fn = test_ud_multi,
	  .desc = "16 one-packet UD SENDs from uffd-missing memory into receive buffers crossing 6 uffd-missing pages, all posted at once",
	  .needs = FIX_UFFD | FIX_COPY },
};

int main(int argc, char **argv)
{
	return test_main(argc, argv, tests, ARRAY_SIZE(tests));
}
