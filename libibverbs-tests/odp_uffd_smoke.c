// SPDX-License-Identifier: GPL-2.0
/*
 * Smoke test for RDMA on-demand paging (ODP) on userfaultfd-registered memory.
 *
 * On a kernel without the series, RDMA WRITE/READ into an ODP MR backed by
 * uffd-missing memory completes with IBV_WC_REM_ACCESS_ERR and a synchronous
 * PREFETCH_WRITE advise fails with EFAULT, without the uffd handler ever
 * seeing a fault.  With the series the faults must reach the handler and the
 * operations must succeed with the right data.
 */
#include "lib/verbs.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#define SEED_DATA	0xa5u	/* what RDMA or the prefetch must deliver */
#define SEED_BG		0x3cu	/* what the handler installs under the data */

#define ODP_ACCESS	(IBV_ACCESS_ON_DEMAND | IBV_ACCESS_LOCAL_WRITE | \
			 IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_READ)
#define PREFETCH_PAGES	64

/* Many packets, unaligned start, crossing pages, ending mid-page. */
static struct xfer_geom geom_get(void)
{
	return xfer_geom_for(TMEM_ANON, false);
}

/*
 * [off, off + len) must hold the data pattern; the rest of the mapping the
 * background pattern (bg_zero: zero bytes).
 */
static int check_layout(struct test_ctx *t, const uint8_t *buf,
			const struct xfer_geom *g, bool bg_zero, const char *what)
{
	return xfer_verify(t, buf, g, SEED_DATA, bg_zero ? PAT_ZERO : SEED_BG,
			   what);
}

/*
 * The requester's buffer: ordinary memory under a pinned (non-ODP) MR,
 * holding the data to WRITE (data) or the background a READ lands on.
 */
static int local_setup(struct test_ctx *t, struct rdma_res *r,
		       const struct xfer_geom *g, bool data, void **buf,
		       struct ibv_mr **mr)
{
	int rc;

	test_step(t, "local buffer");
	rc = mem_map(t, g->map_len, buf, "local");
	if (rc != TEST_PASS)
		return rc;
	if (data)
		pattern_fill((uint8_t *)*buf + g->off, g->len, SEED_DATA, g->off,
			     g->psz);
	else
		pattern_fill(*buf, g->map_len, SEED_BG, 0, g->psz);
	return rdma_reg_mr(t, r, *buf, g->map_len, IBV_ACCESS_LOCAL_WRITE,
			   "local", mr);
}

/*
 * RDMA WRITE into, or READ from, an ODP MR on uffd-missing memory: the
 * responder faults through the uffd handler, which installs the background
 * the WRITE lands on or the data the READ fetches.
 */
static int rdma_rw_uffd_missing(struct test_ctx *t, enum ibv_wr_opcode op)
{
	const bool write = op == IBV_WR_RDMA_WRITE;
	const struct rdma_caps_req req = {
		.odp = true,
		.rc_odp_caps = write ? IBV_ODP_SUPPORT_WRITE : IBV_ODP_SUPPORT_READ,
	};
	const char *name = write ? "RDMA WRITE" : "RDMA READ";
	const struct xfer_geom g = geom_get();
	const uint32_t fill = write ? SEED_BG : SEED_DATA;
	struct ibv_mr *loc_mr = NULL, *rem_mr = NULL;
	void *loc = NULL, *rem = NULL;
	struct uffd_handler h;
	struct rdma_res r;
	char when[64];
	int rc;

	uffd_handler_init(&h);
	/* Two loopback-connected RC QPs with the RC ODP capability. */
	rc = rdma_setup(t, &r, &req);
	if (rc != TEST_PASS)
		return rc;
	rc = local_setup(t, &r, &g, write, &loc, &loc_mr);
	if (rc != TEST_PASS)
		goto out;
	/* Remote: untouched anonymous memory, uffd MISSING before the MR. */
	test_step(t, "uffd-register remote");
	rc = mem_map(t, g.map_len, &rem, "remote");
	if (rc == TEST_PASS)
		rc = uffd_missing_setup(t, &h, rem, g.map_len,
					uffd_fill_pattern, &fill);
	if (rc != TEST_PASS)
		goto out;
	/* ODP MR over the uffd range: registration must not fault. */
	test_step(t, "register remote ODP MR");
	rc = rdma_reg_mr(t, &r, rem, g.map_len, ODP_ACCESS, "remote (ODP)",
			 &rem_mr);
	if (rc != TEST_PASS)
		goto out;
	uffd_handler_report(&h, "after ibv_reg_mr");
	/* qp[0] is the requester: qp[1]'s responder faults via uffd. */
	test_step(t, "%s %zu bytes, remote uffd-missing ODP MR", name, g.len);
	rc = rdma_rw(t, &r, 0, op, (uint8_t *)loc + g.off, (uint32_t)g.len,
		     loc_mr->lkey, (uintptr_t)rem + g.off, rem_mr->rkey, &h);
	snprintf(when, sizeof(when), "after %s", name);
	uffd_handler_report(&h, when);
	if (rc != TEST_PASS)
		goto out;
	/* The handler must have resolved the responder's faults. */
	if (uffd_faults(&h) < 1) {
		rc = test_fail(t, "%s succeeded but the uffd handler saw no fault",
			       name);
		goto out;
	}
	/* Data in place in the sink, its background untouched around it. */
	rc = check_layout(t, write ? rem : loc, &g, false,
			  write ? "remote" : "local");
	uffd_handler_report(&h, "after CPU verify");
out:
	/* uffd first: releases any kernel fault still waiting on it. */
	test_step(t, "teardown");
	rc = test_worse(rc, uffd_teardown(t, &h));
	rc = test_worse(rc, rdma_dereg_mr(t, &rem_mr, "remote"));
	rc = test_worse(rc, mem_unmap(t, &rem, g.map_len, "remote"));
	rc = test_worse(rc, rdma_dereg_mr(t, &loc_mr, "local"));
	rc = test_worse(rc, mem_unmap(t, &loc, g.map_len, "local"));
	return test_worse(rc, rdma_teardown(t, &r));
}

static int test_rdma_write_uffd_missing(struct test_ctx *t)
{
	return rdma_rw_uffd_missing(t, IBV_WR_RDMA_WRITE);
}

static int test_rdma_read_uffd_missing(struct test_ctx *t)
{
	return rdma_rw_uffd_missing(t, IBV_WR_RDMA_READ);
}

static int test_advise_prefetch_write_sync_uffd(struct test_ctx *t)
{
	const struct rdma_caps_req req = { .odp = true };
	const size_t psz = page_size(), len = PREFETCH_PAGES * psz;
	const uint32_t data = SEED_DATA;
	struct ibv_mr *mr = NULL;
	struct uffd_handler h;
	struct ibv_sge sge;
	struct rdma_res r;
	void *buf = NULL;
	int rc, ret;

	uffd_handler_init(&h);
	/* Device with ODP (the QPs are not used here). */
	rc = rdma_setup(t, &r, &req);
	if (rc != TEST_PASS)
		return rc;
	/* Untouched anonymous memory, uffd MISSING; handler installs data. */
	test_step(t, "uffd-register buffer");
	rc = mem_map(t, len, &buf, "buffer");
	if (rc == TEST_PASS)
		rc = uffd_missing_setup(t, &h, buf, len, uffd_fill_pattern, &data);
	if (rc != TEST_PASS)
		goto out;
	/* ODP MR over the uffd range. */
	test_step(t, "register ODP MR");
	rc = rdma_reg_mr(t, &r, buf, len, ODP_ACCESS, "buffer (ODP)", &mr);
	if (rc != TEST_PASS)
		goto out;
	uffd_handler_report(&h, "after ibv_reg_mr");
	/* Synchronous PREFETCH_WRITE of all pages: each must fault via uffd. */
	test_step(t, "ibv_advise_mr(PREFETCH_WRITE, FLUSH, %d pages)",
		  PREFETCH_PAGES);
	sge = (struct ibv_sge){ .addr = (uintptr_t)buf, .length = (uint32_t)len,
				.lkey = mr->lkey };
	ret = ibv_advise_mr(r.pd, IBV_ADVISE_MR_ADVICE_PREFETCH_WRITE,
			    IBV_ADVISE_MR_FLAG_FLUSH, &sge, 1);
	if (ret < 0)
		ret = errno;
	uffd_handler_report(&h, "after ibv_advise_mr");
	if (ret == EOPNOTSUPP || ret == ENOSYS) {
		rc = test_skip(t, "ibv_advise_mr(PREFETCH_WRITE) on %s: %s",
			       t->opts->dev, strerror(ret));
		goto out;
	}
	if (ret) {
		rc = test_fail(t, "ibv_advise_mr(PREFETCH_WRITE, FLUSH, %zu bytes): %s",
			       len, strerror(ret));
		goto out;
	}
	rc = uffd_handler_check(t, &h);
	if (rc != TEST_PASS)
		goto out;
	/* The CPU never touched the buffer: exactly one fault per page. */
	if (uffd_faults(&h) != PREFETCH_PAGES) {
		rc = test_fail(t, "uffd faults after prefetch: %lu, expected %d",
			       uffd_faults(&h), PREFETCH_PAGES);
		goto out;
	}
	/* CPU sees the handler's data... */
	test_step(t, "CPU verify");
	rc = pattern_verify(t, buf, len, SEED_DATA, 0, psz, "prefetched buffer");
	/* ...through page tables the prefetch populated (no new faults). */
	if (uffd_faults(&h) != PREFETCH_PAGES)
		rc = test_fail(t, "CPU read took %lu more uffd faults: prefetch did not map the pages",
			       uffd_faults(&h) - PREFETCH_PAGES);
out:
	/* uffd first: releases any kernel fault still waiting on it. */
	test_step(t, "teardown");
	rc = test_worse(rc, uffd_teardown(t, &h));
	rc = test_worse(rc, rdma_dereg_mr(t, &mr, "buffer"));
	rc = test_worse(rc, mem_unmap(t, &buf, len, "buffer"));
	return test_worse(rc, rdma_teardown(t, &r));
}

static int rdma_write_plain_odp(struct test_ctx *t, const struct xfer_geom g)
{
	const struct rdma_caps_req req = { .odp = true,
					   .rc_odp_caps = IBV_ODP_SUPPORT_WRITE };
	struct ibv_mr *src_mr = NULL, *dst_mr = NULL;
	void *src = NULL, *dst = NULL;
	struct rdma_res r;
	int rc;

	/* Two loopback-connected RC QPs with RC ODP WRITE support. */
	rc = rdma_setup(t, &r, &req);
	if (rc != TEST_PASS)
		return rc;
	rc = local_setup(t, &r, &g, true, &src, &src_mr);
	if (rc != TEST_PASS)
		goto out;
	/* Target: populated anonymous memory under an ODP MR. */
	test_step(t, "target buffer and ODP MR");
	rc = mem_map(t, g.map_len, &dst, "target");
	if (rc != TEST_PASS)
		goto out;
	pattern_fill(dst, g.map_len, SEED_BG, 0, g.psz);
	rc = rdma_reg_mr(t, &r, dst, g.map_len, ODP_ACCESS, "target (ODP)",
			 &dst_mr);
	if (rc != TEST_PASS)
		goto out;
	/* Drop the pages: invalidates the MR, reads back as zeroes. */
	test_step(t, "MADV_DONTNEED target");
	if (madvise(dst, g.map_len, MADV_DONTNEED)) {
		rc = test_fail(t, "madvise(target, MADV_DONTNEED): %s",
			       strerror(errno));
		goto out;
	}
	/* RDMA WRITE qp[0] -> qp[1]: the responder faults the pages back. */
	test_step(t, "RDMA WRITE %zu bytes into plain ODP MR", g.len);
	rc = rdma_rw(t, &r, 0, IBV_WR_RDMA_WRITE, (uint8_t *)src + g.off,
		     (uint32_t)g.len, src_mr->lkey, (uintptr_t)dst + g.off,
		     dst_mr->rkey, NULL);
	if (rc != TEST_PASS)
		goto out;
	/* Data where written, zeroes elsewhere in the pages. */
	rc = check_layout(t, dst, &g, true, "target");
out:
	test_step(t, "teardown");
	rc = test_worse(rc, rdma_dereg_mr(t, &dst_mr, "target"));
	rc = test_worse(rc, mem_unmap(t, &dst, g.map_len, "target"));
	rc = test_worse(rc, rdma_dereg_mr(t, &src_mr, "source"));
	rc = test_worse(rc, mem_unmap(t, &src, g.map_len, "source"));
	return test_worse(rc, rdma_teardown(t, &r));
}

/* Regression on ordinary ODP memory: multi-packet, unaligned, multi-page. */
static int test_rdma_write_plain_odp(struct test_ctx *t)
{
	return rdma_write_plain_odp(t, geom_get());
}

/* Regression: one packet at the start of a page (works on stock 7.2 too). */
static int test_rdma_write_plain_odp_aligned(struct test_ctx *t)
{
	return rdma_write_plain_odp(t, xfer_geom_for(TMEM_ANON, true));
}

static const struct test_case tests[] = {
	{ .name = "rdma_write_uffd_missing", .fn = test_rdma_write_uffd_missing,
	  .desc = "RDMA WRITE into an ODP MR on uffd-missing memory",
	  .needs = FIX_UFFD | FIX_COPY },
	{ .name = "rdma_read_uffd_missing", .fn = test_rdma_read_uffd_missing,
	  .desc = "RDMA READ from an ODP MR on uffd-missing memory",
	  .needs = FIX_UFFD | FIX_COPY },
	{ .name = "advise_prefetch_write_sync_uffd", .fn = test_advise_prefetch_write_sync_uffd,
	  .desc = "synchronous PREFETCH_WRITE of an ODP MR on uffd-missing memory",
	  .needs = FIX_UFFD },
	{ .name = "rdma_write_plain_odp_aligned", .fn = test_rdma_write_plain_odp_aligned,
	  .desc = "regression: one-packet RDMA WRITE at a page start, plain ODP memory" },
	{ .name = "rdma_write_plain_odp", .fn = test_rdma_write_plain_odp,
	  .desc = "RDMA WRITE of many packets at an unaligned offset into plain ODP memory (guards the rxe copy fix)",
	  .needs = FIX_COPY },
};

int main(int argc, char **argv)
{
	return test_main(argc, argv, tests, ARRAY_SIZE(tests));
}
