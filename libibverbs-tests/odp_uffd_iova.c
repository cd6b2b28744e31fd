// SPDX-License-Identifier: GPL-2.0
/*
 * MRs registered with an iova that differs from their address
 * (ibv_reg_mr_iova()): every operation addresses the MR at iova + k and the
 * bytes must land at (or come from) address + k.
 *
 * A test case is an operation x (MR kind) x (where the iova lies) variant,
 * named "<op>_<kind>_<place>[_unaligned|_one_packet]":
 *   same    iova == address (control)
 *   zero    iova == the address's offset in its page ("zero based")
 *   below   one page below the address
 *   inside  two pages above the address: inside the buffer itself
 *   past    just past the end of the buffer
 *   far     1 TiB above the address
 *   high    2^63 + the in-page offset
 *   top     the last 64 KiB below 2^64
 * _unaligned: the MR starts UNALIGNED_OFF bytes into its first page and
 * ends mid-page (the iova has the same in-page offset: uverbs requires it);
 * _one_packet: one MTU at an MR page start (the rxe copy fix is not needed).
 * Transfers otherwise move many packets from 100 bytes into the MR, across
 * pages, ending mid-page.  On uffd-missing memory the handler must install
 * exactly the pages under address + k (recorded page by page).  Every byte
 * of both buffers is checked against position-dependent patterns, through
 * the CPU mapping: data where the operation put it, the old content
 * everywhere else.
 *
 * Stock 7.2 rxe indexes the ODP page array with the iova: the operations
 * complete with a remote access error, misplace the data (iova inside the
 * buffer), and, reading pfn_list out of bounds, make KASAN report a
 * slab-out-of-bounds read in rxe_check_pagefault() or oops the kernel (an
 * iova 1 TiB above the address: "unable to handle page fault" in
 * rxe_check_pagefault(), with umem_mutex held, so the test's teardown then
 * hangs until its time bound).  The table runs the pinned twins and the
 * refusals first (they pass everywhere), the 1 TiB cases last.
 */
#include "lib/verbs.h"

#include <errno.h>
#include <inttypes.h>
#include <rdma/ib_user_verbs.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#define SEED_DATA	0xa5u	/* what the operation must deliver */
#define SEED_BG		0x3cu	/* what a sink holds before it */

#define ODP_ACCESS	(IBV_ACCESS_ON_DEMAND | IBV_ACCESS_LOCAL_WRITE | \
			 IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_READ | \
			 IBV_ACCESS_REMOTE_ATOMIC)
#define PIN_ACCESS	(IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE | \
			 IBV_ACCESS_REMOTE_READ | IBV_ACCESS_REMOTE_ATOMIC)

#define MAP_PAGES	8	/* the mapping under the iova MR */
#define UNALIGNED_OFF	1000	/* _unaligned: MR start inside page 0 */
#define UNALIGNED_TAIL	500	/* _unaligned: MR ends this far before the end */
#define XFER_K		100	/* transfer start inside the MR */
#define XFER_PAGES	3	/* transfer: 3 pages + XFER_EXTRA bytes */
#define XFER_EXTRA	1000
#define ONE_PACKET	1024	/* MTU 1024 */
#define ATOMIC_POS	808	/* in page 1 of the mapping; 8-byte aligned */
#define ASYNC_WAIT_MS	30000

#define SWAP_VALUE	0x0123456789abcdefull
#define ADD_VALUE	0x0001000100010001ull
#define WRITE_VALUE	0xfedcba9876543210ull

#define TIB		(1ull << 40)

enum mem_kind {
	MEM_PINNED,	/* ordinary anonymous memory, pinned MR */
	MEM_ODP,	/* ordinary anonymous memory, ODP MR (snapshot at reg) */
	MEM_ODP_DROPPED,/* ODP MR, MADV_DONTNEED after registration */
	MEM_UFFD,	/* anonymous, uffd MISSING, never touched; ODP MR */
};

enum iova_place {
	IOVA_SAME,
	IOVA_ZERO,
	IOVA_BELOW,
	IOVA_INSIDE,
	IOVA_PAST,
	IOVA_FAR,
	IOVA_HIGH,
	IOVA_TOP,
};

enum op_kind {
	OP_WRITE,		/* RDMA WRITE into the iova MR (responder) */
	OP_READ,		/* RDMA READ from the iova MR (responder) */
	OP_SEND,		/* SEND into a RECV buffer in the iova MR */
	OP_READ_LOCAL,		/* RDMA READ into a local iova MR (completer) */
	OP_WRITE_LOCAL,		/* RDMA WRITE from a local iova MR (requester) */
	OP_FETCH_ADD,
	OP_CMP_SWP,
	OP_ATOMIC_WRITE,
	OP_FLUSH,		/* FLUSH PERSISTENT of a range at iova + k */
	OP_PREFETCH_WRITE,	/* ibv_advise_mr(PREFETCH_WRITE, FLUSH) */
	OP_PREFETCH_ASYNC,	/* ibv_advise_mr(PREFETCH), asynchronous */
	OP_AT_ADDRESS,		/* RDMA WRITE at the address, not the iova */
	OP_PAST_END,		/* RDMA WRITE across the end of the iova MR */
	OP_REG_MISMATCH,	/* iova's in-page offset differs from address's */
};

struct iova_variant {
	enum op_kind op;
	enum mem_kind kind;	/* of the MR registered with an iova */
	enum iova_place place;
	bool unaligned;		/* the MR starts UNALIGNED_OFF into a page */
	bool one_packet;	/* ONE_PACKET bytes at MR offset 0 */
};

/* uffd fill callback argument: which pages the handler was asked for. */
struct fill_rec {
	uint32_t seed;
	atomic_uchar *seen;	/* [MAP_PAGES] */
};

/* The buffer under the MR registered with an iova. */
struct ibuf {
	enum mem_kind kind;
	uint8_t *map;		/* MAP_PAGES pages */
	size_t map_len;
	size_t psz;
	size_t off;		/* MR start inside the mapping */
	size_t mr_len;
	uint64_t iova;		/* of the MR start */
	uint32_t seed;		/* content before the operation ... */
	bool zero;		/* ... or zeroes (dropped) */
	struct ibv_mr *mr;
	struct uffd_handler h;
	atomic_uchar seen[MAP_PAGES];
	struct fill_rec rec;
};

/* The other side: ordinary memory under a pinned MR, iova == address. */
struct peer {
	uint8_t *map;
	size_t map_len;
	uint32_t seed;
	struct ibv_mr *mr;
};

static const char *kind_str(enum mem_kind k)
{
	switch (k) {
	case MEM_PINNED: return "pinned";
	case MEM_ODP: return "plain ODP";
	case MEM_ODP_DROPPED: return "plain ODP after DONTNEED";
	case MEM_UFFD: return "uffd-missing ODP";
	}
	return "?";
}

static const char *place_str(enum iova_place p)
{
	switch (p) {
	case IOVA_SAME: return "iova == address";
	case IOVA_ZERO: return "zero-based iova";
	case IOVA_BELOW: return "iova one page below the address";
	case IOVA_INSIDE: return "iova two pages into the buffer";
	case IOVA_PAST: return "iova just past the buffer";
	case IOVA_FAR: return "iova 1 TiB above the address";
	case IOVA_HIGH: return "iova 2^63 + offset";
	case IOVA_TOP: return "iova in the last 64 KiB below 2^64";
	}
	return "?";
}

static uint64_t place_iova(enum iova_place p, uint64_t addr, size_t map_len,
			   size_t psz)
{
	const uint64_t pgoff = addr & (psz - 1);

	switch (p) {
	case IOVA_SAME: return addr;
	case IOVA_ZERO: return pgoff;
	case IOVA_BELOW: return addr - psz;
	case IOVA_INSIDE: return addr + 2 * psz;
	case IOVA_PAST: return addr + map_len;
	case IOVA_FAR: return addr + TIB;
	case IOVA_HIGH: return (1ull << 63) + pgoff;
	case IOVA_TOP: return (uint64_t)0 - 16 * (uint64_t)psz + pgoff;
	}
	return addr;
}

/* Records the page and fills it with the pattern of rec->seed. */
static void fill_record(const void *arg, size_t pos, uint8_t *buf, size_t len)
{
	const struct fill_rec *rec = arg;
	const size_t psz = page_size();

	if (pos / psz < MAP_PAGES)
		atomic_store(&rec->seen[pos / psz], 1);
	pattern_fill(buf, len, rec->seed, pos, psz);
}

static int reg_mr_iova(struct test_ctx *t, struct rdma_res *r, void *addr,
		       size_t len, uint64_t iova, int access, const char *what,
		       struct ibv_mr **mr)
{
	*mr = ibv_reg_mr_iova(r->pd, addr, len, iova, access);
	if (!*mr)
		return test_fail(t, "ibv_reg_mr_iova(%s, %p+%zu, iova 0x%" PRIx64 ", access 0x%x): %s",
				 what, addr, len, iova, (unsigned int)access,
				 strerror(errno));
	return TEST_PASS;
}

static void ibuf_init(struct ibuf *b, const struct iova_variant *v)
{
	size_t i;

	memset(b, 0, sizeof(*b));
	b->kind = v->kind;
	b->psz = page_size();
	b->map_len = MAP_PAGES * b->psz;
	b->off = v->unaligned ? UNALIGNED_OFF : 0;
	b->mr_len = b->map_len - b->off - (v->unaligned ? UNALIGNED_TAIL : 0);
	for (i = 0; i < MAP_PAGES; i++)
		atomic_init(&b->seen[i], 0);
	b->rec.seen = b->seen;
	uffd_handler_init(&b->h);
}

/*
 * Map the buffer holding the pattern of seed (uffd: installed by the
 * handler on fault), register [map + off, map + off + mr_len) at the
 * variant's iova; a dropped ODP buffer then reads back as zeroes.
 */
static int ibuf_setup(struct test_ctx *t, struct rdma_res *r, struct ibuf *b,
		      const struct iova_variant *v, uint32_t seed,
		      int extra_access)
{
	int access = (b->kind == MEM_PINNED ? PIN_ACCESS : ODP_ACCESS) |
		     extra_access;
	uint64_t addr;
	int rc;

	b->seed = seed;
	b->rec.seed = seed;
	rc = mem_map(t, b->map_len, (void **)&b->map, "iova buffer");
	if (rc != TEST_PASS)
		return rc;
	addr = (uintptr_t)b->map + b->off;
	b->iova = place_iova(v->place, addr, b->map_len, b->psz);
	test_step(t, "%s MR at %p+%zu, iova 0x%" PRIx64 " (%s)",
		  kind_str(b->kind), (void *)(uintptr_t)addr, b->mr_len, b->iova,
		  place_str(v->place));
	if (b->kind == MEM_UFFD)
		rc = uffd_missing_setup(t, &b->h, b->map, b->map_len,
					fill_record, &b->rec);
	else
		pattern_fill(b->map, b->map_len, seed, 0, b->psz);
	if (rc == TEST_PASS)
		rc = reg_mr_iova(t, r, b->map + b->off, b->mr_len, b->iova,
				 access, "iova buffer", &b->mr);
	if (rc != TEST_PASS || b->kind != MEM_ODP_DROPPED)
		return rc;
	if (madvise(b->map, b->map_len, MADV_DONTNEED))
		return test_fail(t, "madvise(iova buffer, MADV_DONTNEED): %s",
				 strerror(errno));
	b->zero = true;
	return TEST_PASS;
}

/* uffd first: releases any kernel fault still waiting on it. */
static int ibuf_teardown(struct test_ctx *t, struct ibuf *b)
{
	int rc = uffd_teardown(t, &b->h);

	rc = test_worse(rc, rdma_dereg_mr(t, &b->mr, "iova buffer"));
	return test_worse(rc, mem_unmap(t, (void **)&b->map, b->map_len,
					"iova buffer"));
}

static int peer_setup(struct test_ctx *t, struct rdma_res *r, struct peer *p,
		      size_t map_len, uint32_t seed)
{
	int rc;

	p->map_len = map_len;
	p->seed = seed;
	rc = mem_map(t, map_len, (void **)&p->map, "peer");
	if (rc != TEST_PASS)
		return rc;
	pattern_fill(p->map, map_len, seed, 0, page_size());
	return rdma_reg_mr(t, r, p->map, map_len, PIN_ACCESS, "peer", &p->mr);
}

static int peer_teardown(struct test_ctx *t, struct peer *p)
{
	int rc = rdma_dereg_mr(t, &p->mr, "peer");

	return test_worse(rc, mem_unmap(t, (void **)&p->map, p->map_len,
					"peer"));
}

/* What the mapping held before the operation, as a region_verify() seed. */
static uint32_t ibuf_old(const struct ibuf *b)
{
	return b->zero ? PAT_ZERO : b->seed;
}

/* [from, to) of the mapping still holds what it held before. */
static int ibuf_verify_old(struct test_ctx *t, const struct ibuf *b,
			   size_t from, size_t to, const char *what)
{
	return region_verify(t, b->map, from, to, ibuf_old(b), what);
}

static int peer_verify_old(struct test_ctx *t, const struct peer *p,
			   size_t from, size_t to, const char *what)
{
	return region_verify(t, p->map, from, to, p->seed, what);
}

/*
 * A uffd buffer: the handler was asked for exactly the pages [first, last]
 * of the mapping (the pages under address + k), each installed once, and
 * reported no error.  Call before the CPU reads the buffer.
 */
static int ibuf_check_faults(struct test_ctx *t, const struct ibuf *b,
			     size_t first, size_t last)
{
	size_t i;

	if (b->kind != MEM_UFFD)
		return TEST_PASS;
	if (uffd_handler_failed(&b->h))
		return uffd_check_resolved(t, &b->h, last - first + 1,
					   "iova buffer");
	for (i = 0; i < MAP_PAGES; i++) {
		bool want = i >= first && i <= last;

		if (atomic_load(&b->seen[i]) != want)
			return test_fail(t, "uffd handler %s page %zu of the mapping; the operation covers pages %zu..%zu",
					 want ? "was never asked for" :
					 "was asked for", i, first, last);
	}
	return uffd_check_resolved(t, &b->h, last - first + 1, "iova buffer");
}

/* Device requirements of a variant. */
static struct rdma_caps_req variant_req(const struct iova_variant *v)
{
	const bool odp = v->kind != MEM_PINNED;
	struct rdma_caps_req req = { .odp = odp };

	switch (v->op) {
	case OP_WRITE:
	case OP_AT_ADDRESS:
	case OP_PAST_END:
		req.rc_odp_caps = odp ? IBV_ODP_SUPPORT_WRITE : 0;
		break;
	case OP_READ:
		req.rc_odp_caps = odp ? IBV_ODP_SUPPORT_READ : 0;
		break;
	case OP_SEND:
		req.rc_odp_caps = odp ? IBV_ODP_SUPPORT_RECV : 0;
		break;
	case OP_READ_LOCAL:
	case OP_WRITE_LOCAL:
		req.rc_odp_caps = odp ? IBV_ODP_SUPPORT_SEND : 0;
		break;
	case OP_FETCH_ADD:
	case OP_CMP_SWP:
		req.rc_odp_caps = odp ? IBV_ODP_SUPPORT_ATOMIC : 0;
		break;
	case OP_ATOMIC_WRITE:
		req.rc_odp_caps = odp ? IBV_ODP_SUPPORT_ATOMIC_WRITE : 0;
		req.cap_flags_ex = IB_UVERBS_DEVICE_ATOMIC_WRITE;
		req.send_ops_flags = IBV_QP_EX_WITH_ATOMIC_WRITE;
		break;
	case OP_FLUSH:
		req.rc_odp_caps = odp ? IBV_ODP_SUPPORT_FLUSH : 0;
		req.cap_flags_ex = IB_UVERBS_DEVICE_FLUSH_PERSISTENT;
		req.send_ops_flags = IBV_QP_EX_WITH_FLUSH;
		break;
	case OP_PREFETCH_WRITE:
	case OP_PREFETCH_ASYNC:
	case OP_REG_MISMATCH:
		break;
	}
	return req;
}

/* Transfer: MR offset k and length. */
static void xfer_geom(const struct iova_variant *v, const struct ibuf *b,
		      size_t *k, size_t *len)
{
	*k = v->one_packet ? 0 : XFER_K;
	*len = v->one_packet ? ONE_PACKET : XFER_PAGES * b->psz + XFER_EXTRA;
}

/* Post one signaled WR on qp[qpi] and wait for its completion. */
static int post_one(struct test_ctx *t, struct rdma_res *r, int qpi,
		    enum ibv_wr_opcode op, uint64_t laddr, uint32_t len,
		    uint32_t lkey, uint64_t raddr, uint32_t rkey,
		    const struct uffd_handler *watch)
{
	struct ibv_sge sge = { .addr = laddr, .length = len, .lkey = lkey };
	struct ibv_send_wr wr = {
		.wr_id = 0x10a0u + (unsigned int)op,
		.sg_list = &sge,
		.num_sge = 1,
		.opcode = op,
	};
	struct ibv_wc wc;

	wr.wr.rdma.remote_addr = raddr;
	wr.wr.rdma.rkey = rkey;
	return rdma_post_wait(t, r->qp[qpi], r->cq[qpi], &wr,
			      TEST_WC_TIMEOUT_MS, watch, &wc);
}

static const struct uffd_handler *ibuf_watch(const struct ibuf *b)
{
	return b->kind == MEM_UFFD ? &b->h : NULL;
}

/* WRITE, READ, SEND, READ_LOCAL, WRITE_LOCAL of many packets at iova + k. */
static int run_xfer(struct test_ctx *t, struct rdma_res *r,
		    const struct iova_variant *v, struct ibuf *b,
		    struct peer *p)
{
	const enum op_kind op = v->op;
	/* The iova MR is the sink of WRITE, SEND and READ_LOCAL. */
	const bool ib_sink = op == OP_WRITE || op == OP_SEND ||
			     op == OP_READ_LOCAL;
	const char *name;
	size_t k, len, pos, end;
	struct ibv_wc wc;
	int rc;

	xfer_geom(v, b, &k, &len);
	pos = b->off + k;
	end = pos + len;
	rc = ibuf_setup(t, r, b, v, ib_sink ? SEED_BG : SEED_DATA, 0);
	if (rc == TEST_PASS)
		rc = peer_setup(t, r, p, b->map_len, ib_sink ? SEED_DATA : SEED_BG);
	if (rc != TEST_PASS)
		return rc;
	switch (op) {
	case OP_WRITE:
		name = "RDMA WRITE";
		test_step(t, "%s %zu bytes to iova + %zu", name, len, k);
		rc = post_one(t, r, 0, IBV_WR_RDMA_WRITE,
			      (uintptr_t)p->map + pos, (uint32_t)len,
			      p->mr->lkey, b->iova + k, b->mr->rkey,
			      ibuf_watch(b));
		break;
	case OP_READ:
		name = "RDMA READ";
		test_step(t, "%s %zu bytes from iova + %zu", name, len, k);
		rc = post_one(t, r, 0, IBV_WR_RDMA_READ,
			      (uintptr_t)p->map + pos, (uint32_t)len,
			      p->mr->lkey, b->iova + k, b->mr->rkey,
			      ibuf_watch(b));
		break;
	case OP_SEND:
		name = "SEND";
		test_step(t, "post RECV of %zu bytes at iova + %zu", len, k);
		rc = rdma_post_recv(t, r->qp[1], (void *)(uintptr_t)(b->iova + k),
				    (uint32_t)len, b->mr->lkey, 0x5ecu);
		if (rc != TEST_PASS)
			return rc;
		test_step(t, "SEND %zu bytes into it", len);
		rc = post_one(t, r, 0, IBV_WR_SEND, (uintptr_t)p->map + pos,
			      (uint32_t)len, p->mr->lkey, 0, 0, ibuf_watch(b));
		if (rc != TEST_PASS)
			return rc;
		test_step(t, "wait for the RECV completion");
		rc = rdma_wait_wc(t, r->cq[1], "RECV", 0x5ecu,
				  TEST_WC_TIMEOUT_MS, ibuf_watch(b), &wc);
		if (rc == TEST_PASS && wc.byte_len != len)
			rc = test_fail(t, "RECV completion: %u bytes, expected %zu",
				       wc.byte_len, len);
		break;
	case OP_READ_LOCAL:
		name = "RDMA READ";
		test_step(t, "%s %zu bytes into local iova + %zu", name, len, k);
		rc = post_one(t, r, 0, IBV_WR_RDMA_READ, b->iova + k,
			      (uint32_t)len, b->mr->lkey,
			      (uintptr_t)p->map + pos, p->mr->rkey,
			      ibuf_watch(b));
		break;
	default:
		name = "RDMA WRITE";
		test_step(t, "%s %zu bytes from local iova + %zu", name, len, k);
		rc = post_one(t, r, 0, IBV_WR_RDMA_WRITE, b->iova + k,
			      (uint32_t)len, b->mr->lkey,
			      (uintptr_t)p->map + pos, p->mr->rkey,
			      ibuf_watch(b));
		break;
	}
	if (rc != TEST_PASS)
		return rc;
	/* Handler first: the CPU checks below fault the other pages. */
	rc = ibuf_check_faults(t, b, pos / b->psz, (end - 1) / b->psz);
	if (rc != TEST_PASS)
		return rc;
	test_step(t, "verify both buffers after %s", name);
	if (ib_sink) {
		rc = pattern_verify(t, b->map + pos, len, SEED_DATA, pos, b->psz,
				    "bytes at address + k");
		rc = test_worse(rc, ibuf_verify_old(t, b, 0, pos, "iova buffer head"));
		rc = test_worse(rc, ibuf_verify_old(t, b, end, b->map_len,
						    "iova buffer tail"));
		return test_worse(rc, peer_verify_old(t, p, 0, p->map_len,
						      "peer (source)"));
	}
	rc = pattern_verify(t, p->map + pos, len, SEED_DATA, pos, b->psz,
			    "bytes read from address + k");
	rc = test_worse(rc, peer_verify_old(t, p, 0, pos, "peer head"));
	rc = test_worse(rc, peer_verify_old(t, p, end, p->map_len, "peer tail"));
	return test_worse(rc, ibuf_verify_old(t, b, 0, b->map_len,
					      "iova buffer (source)"));
}

/* FETCH_ADD, CMP_SWP, ATOMIC_WRITE on the 8 bytes at mapping ATOMIC_POS. */
static int run_atomic(struct test_ctx *t, struct rdma_res *r,
		      const struct iova_variant *v, struct ibuf *b,
		      struct peer *p)
{
	const size_t pos = b->psz + ATOMIC_POS;
	uint64_t old, want, got, got_old, raddr;
	const char *name;
	int rc;

	rc = ibuf_setup(t, r, b, v, SEED_DATA, 0);
	if (rc == TEST_PASS)
		rc = peer_setup(t, r, p, b->map_len, SEED_BG);
	if (rc != TEST_PASS)
		return rc;
	raddr = b->iova + (pos - b->off);
	old = region_u64(ibuf_old(b), pos);
	switch (v->op) {
	case OP_FETCH_ADD:
		name = "ATOMIC FETCH_ADD";
		want = old + ADD_VALUE;
		break;
	case OP_CMP_SWP:
		name = "ATOMIC CMP_SWP";
		want = SWAP_VALUE;
		break;
	default:
		name = "ATOMIC_WRITE";
		want = WRITE_VALUE;
		break;
	}
	test_step(t, "%s at iova + %zu (old 0x%016" PRIx64 ")", name,
		  pos - b->off, old);
	if (v->op == OP_ATOMIC_WRITE)
		rc = rdma_atomic_write(t, r, 0, raddr, b->mr->rkey, WRITE_VALUE,
				       ibuf_watch(b));
	else
		rc = rdma_atomic(t, r, 0, v->op == OP_CMP_SWP ?
				 IBV_WR_ATOMIC_CMP_AND_SWP :
				 IBV_WR_ATOMIC_FETCH_AND_ADD, raddr,
				 b->mr->rkey, old,
				 v->op == OP_CMP_SWP ? SWAP_VALUE : ADD_VALUE,
				 p->map + pos, p->mr->lkey, ibuf_watch(b));
	if (rc != TEST_PASS)
		return rc;
	rc = ibuf_check_faults(t, b, 1, 1);
	if (rc != TEST_PASS)
		return rc;
	test_step(t, "verify %s at address + k", name);
	memcpy(&got, b->map + pos, sizeof(got));
	if (got != want)
		rc = test_fail(t, "%s: address + k holds 0x%016" PRIx64 ", expected 0x%016" PRIx64,
			       name, got, want);
	if (v->op != OP_ATOMIC_WRITE) {
		memcpy(&got_old, p->map + pos, sizeof(got_old));
		if (got_old != old)
			rc = test_fail(t, "%s returned 0x%016" PRIx64 ", address + k held 0x%016" PRIx64,
				       name, got_old, old);
		rc = test_worse(rc, peer_verify_old(t, p, 0, pos, "result head"));
		rc = test_worse(rc, peer_verify_old(t, p, pos + 8, p->map_len,
						    "result tail"));
	} else {
		rc = test_worse(rc, peer_verify_old(t, p, 0, p->map_len, "peer"));
	}
	rc = test_worse(rc, ibuf_verify_old(t, b, 0, pos, "target head"));
	return test_worse(rc, ibuf_verify_old(t, b, pos + 8, b->map_len,
					      "target tail"));
}

/* FLUSH PERSISTENT of the transfer range at iova + k: maps those pages. */
static int run_flush(struct test_ctx *t, struct rdma_res *r,
		     const struct iova_variant *v, struct ibuf *b)
{
	size_t k, len, pos;
	int rc;

	xfer_geom(v, b, &k, &len);
	pos = b->off + k;
	rc = ibuf_setup(t, r, b, v, SEED_DATA, IBV_ACCESS_FLUSH_PERSISTENT);
	if (rc != TEST_PASS)
		return rc;
	test_step(t, "FLUSH PERSISTENT of %zu bytes at iova + %zu", len, k);
	rc = rdma_flush(t, r, 0, b->iova + k, b->mr->rkey, len,
			IBV_FLUSH_PERSISTENT, ibuf_watch(b));
	if (rc != TEST_PASS)
		return rc;
	rc = ibuf_check_faults(t, b, pos / b->psz, (pos + len - 1) / b->psz);
	if (rc != TEST_PASS)
		return rc;
	test_step(t, "verify the flushed buffer is unchanged");
	return ibuf_verify_old(t, b, 0, b->map_len, "flushed buffer");
}

/*
 * Prefetch the transfer range, named by iova + k as SGEs are: on uffd memory
 * the handler must install exactly the pages under address + k.
 */
static int run_prefetch(struct test_ctx *t, struct rdma_res *r,
			const struct iova_variant *v, struct ibuf *b)
{
	const bool sync = v->op == OP_PREFETCH_WRITE;
	const enum ibv_advise_mr_advice advice = sync ?
		IBV_ADVISE_MR_ADVICE_PREFETCH_WRITE :
		IBV_ADVISE_MR_ADVICE_PREFETCH;
	const char *name = sync ? "PREFETCH_WRITE, FLUSH" : "PREFETCH, async";
	struct timespec settle = { .tv_nsec = 200000000 };
	size_t k, len, pos, first, last;
	struct ibv_sge sge;
	int rc, ret;

	xfer_geom(v, b, &k, &len);
	pos = b->off + k;
	first = pos / b->psz;
	last = (pos + len - 1) / b->psz;
	rc = ibuf_setup(t, r, b, v, SEED_DATA, 0);
	if (rc != TEST_PASS)
		return rc;
	test_step(t, "ibv_advise_mr(%s) of %zu bytes at iova + %zu", name, len,
		  k);
	sge = (struct ibv_sge){ .addr = b->iova + k, .length = (uint32_t)len,
				.lkey = b->mr->lkey };
	ret = ibv_advise_mr(r->pd, advice, sync ? IBV_ADVISE_MR_FLAG_FLUSH : 0,
			    &sge, 1);
	if (ret < 0)
		ret = errno;
	if (ret == EOPNOTSUPP || ret == ENOSYS)
		return test_skip(t, "ibv_advise_mr on %s: %s", t->opts->dev,
				 strerror(ret));
	if (ret)
		return test_fail(t, "ibv_advise_mr(%s, %zu bytes at iova + %zu): %s",
				 name, len, k, strerror(ret));
	if (b->kind == MEM_UFFD) {
		if (!sync) {
			test_step(t, "wait for %zu asynchronous faults",
				  last - first + 1);
			rc = uffd_wait_faults(t, &b->h, last - first + 1,
					      ASYNC_WAIT_MS);
			if (rc != TEST_PASS)
				return rc;
		}
		/* Late or extra faults would show up in this window. */
		nanosleep(&settle, NULL);
		rc = ibuf_check_faults(t, b, first, last);
		if (rc != TEST_PASS)
			return rc;
		if (sync && uffd_write_faults(&b->h) != last - first + 1)
			return test_fail(t, "PREFETCH_WRITE: %lu of %zu faults flagged WRITE",
					 uffd_write_faults(&b->h),
					 last - first + 1);
	}
	test_step(t, "CPU verify");
	return ibuf_verify_old(t, b, 0, b->map_len, "prefetched buffer");
}

/* Wait for one completion and return its status (no judgement). */
static int wait_status(struct test_ctx *t, struct ibv_cq *cq, const char *what,
		       enum ibv_wc_status *status)
{
	struct timespec pause = { .tv_nsec = 200000 };
	double deadline = test_now_s() + TEST_WC_TIMEOUT_MS / 1000.0;
	struct ibv_wc wc;
	int n;

	for (;;) {
		n = ibv_poll_cq(cq, 1, &wc);
		if (n < 0)
			return test_fail(t, "ibv_poll_cq(%s) returned %d", what, n);
		if (n == 1)
			break;
		if (test_now_s() > deadline)
			return test_fail(t, "%s: no completion within %d ms", what,
					 TEST_WC_TIMEOUT_MS);
		nanosleep(&pause, NULL);
	}
	*status = wc.status;
	return TEST_PASS;
}

/*
 * An access outside [iova, iova + length) must be refused on every kernel:
 * at the user address of the MR (the fix must not translate twice), or
 * running across the MR's end.  Nothing may change.
 */
static int run_refused(struct test_ctx *t, struct rdma_res *r,
		       const struct iova_variant *v, struct ibuf *b,
		       struct peer *p)
{
	const bool at_addr = v->op == OP_AT_ADDRESS;
	struct ibv_sge sge;
	struct ibv_send_wr wr = { .wr_id = 0xbad, .sg_list = &sge, .num_sge = 1,
				  .opcode = IBV_WR_RDMA_WRITE,
				  .send_flags = IBV_SEND_SIGNALED };
	struct ibv_send_wr *bad = NULL;
	enum ibv_wc_status status = IBV_WC_SUCCESS;
	size_t k, len;
	int rc, err;

	rc = ibuf_setup(t, r, b, v, SEED_BG, 0);
	if (rc == TEST_PASS)
		rc = peer_setup(t, r, p, b->map_len, SEED_DATA);
	if (rc != TEST_PASS)
		return rc;
	/* At the address: a whole packet; across the end: 16 bytes, 8 out. */
	k = at_addr ? 0 : b->mr_len - 8;
	len = at_addr ? ONE_PACKET : 16;
	sge = (struct ibv_sge){ .addr = (uintptr_t)p->map + b->off + k,
				.length = (uint32_t)len, .lkey = p->mr->lkey };
	wr.wr.rdma.remote_addr = at_addr ? (uintptr_t)b->map + b->off :
					   b->iova + k;
	wr.wr.rdma.rkey = b->mr->rkey;
	test_step(t, "RDMA WRITE %zu bytes at 0x%" PRIx64 " (%s), must fail",
		  len, (uint64_t)wr.wr.rdma.remote_addr,
		  at_addr ? "the address, not the iova" : "across the MR end");
	err = ibv_post_send(r->qp[0], &wr, &bad);
	if (err)
		return test_fail(t, "ibv_post_send(RDMA WRITE): %s", strerror(err));
	rc = wait_status(t, r->cq[0], "RDMA WRITE", &status);
	if (rc != TEST_PASS)
		return rc;
	if (status != IBV_WC_REM_ACCESS_ERR)
		return test_fail(t, "RDMA WRITE outside the MR: status %s (%d), expected %s",
				 ibv_wc_status_str(status), (int)status,
				 ibv_wc_status_str(IBV_WC_REM_ACCESS_ERR));
	rc = ibuf_check_faults(t, b, 1, 0);
	if (rc != TEST_PASS)
		return rc;
	test_step(t, "verify nothing changed");
	return test_worse(ibuf_verify_old(t, b, 0, b->map_len, "iova buffer"),
			  peer_verify_old(t, p, 0, p->map_len, "peer"));
}

/* uverbs refuses an iova whose in-page offset differs from the address's. */
static int run_reg_mismatch(struct test_ctx *t, struct rdma_res *r,
			    const struct iova_variant *v, struct ibuf *b)
{
	const int access = v->kind == MEM_PINNED ? PIN_ACCESS : ODP_ACCESS;
	uint8_t *addr;
	uint64_t iova;
	int rc;

	rc = mem_map(t, b->map_len, (void **)&b->map, "iova buffer");
	if (rc != TEST_PASS)
		return rc;
	addr = b->map + UNALIGNED_OFF;
	iova = ((uintptr_t)addr & ~(uint64_t)(b->psz - 1)) + TIB;
	test_step(t, "ibv_reg_mr_iova(%p, iova 0x%" PRIx64 "): must fail",
		  (void *)addr, iova);
	b->mr = ibv_reg_mr_iova(r->pd, addr, b->psz, iova, access);
	if (b->mr)
		return test_fail(t, "ibv_reg_mr_iova accepted iova 0x%" PRIx64 " for address %p (in-page offsets %d and %zu)",
				 iova, (void *)addr, 0, (size_t)UNALIGNED_OFF);
	if (errno != EINVAL)
		return test_fail(t, "ibv_reg_mr_iova(mismatched offset): %s, expected EINVAL",
				 strerror(errno));
	return TEST_PASS;
}

static int test_iova(struct test_ctx *t)
{
	const struct iova_variant *v = t->arg;
	const struct rdma_caps_req req = variant_req(v);
	struct peer p = { 0 };
	struct rdma_res r;
	struct ibuf b;
	int rc;

	ibuf_init(&b, v);
	rc = rdma_setup(t, &r, &req);
	if (rc != TEST_PASS)
		return rc;
	switch (v->op) {
	case OP_WRITE:
	case OP_READ:
	case OP_SEND:
	case OP_READ_LOCAL:
	case OP_WRITE_LOCAL:
		rc = run_xfer(t, &r, v, &b, &p);
		break;
	case OP_FETCH_ADD:
	case OP_CMP_SWP:
	case OP_ATOMIC_WRITE:
		rc = run_atomic(t, &r, v, &b, &p);
		break;
	case OP_FLUSH:
		rc = run_flush(t, &r, v, &b);
		break;
	case OP_PREFETCH_WRITE:
	case OP_PREFETCH_ASYNC:
		rc = run_prefetch(t, &r, v, &b);
		break;
	case OP_AT_ADDRESS:
	case OP_PAST_END:
		rc = run_refused(t, &r, v, &b, &p);
		break;
	case OP_REG_MISMATCH:
		rc = run_reg_mismatch(t, &r, v, &b);
		break;
	}
	test_step(t, "teardown");
	rc = test_worse(rc, ibuf_teardown(t, &b));
	rc = test_worse(rc, peer_teardown(t, &p));
	return test_worse(rc, rdma_teardown(t, &r));
}

/* ------------------------------------------------------------------ */

#define V(...) (&(const struct iova_variant){ __VA_ARGS__ })
#define IOVA_COPY	(FIX_IOVA | FIX_COPY)
#define IOVA_UFFD	(FIX_IOVA | FIX_COPY | FIX_UFFD)
/* Stock shows misplaced bytes here, not an error completion. */
#define SIG_MISPLACED	"bytes differ|asked for|remote access error"

static const struct test_case tests[] = {
	/* Pinned twins and refusals: pass on every kernel. */
	{ .name = "write_pinned_zero", .fn = test_iova,
	  .arg = V(.op = OP_WRITE, .kind = MEM_PINNED, .place = IOVA_ZERO),
	  .desc = "RDMA WRITE at iova + k of a pinned MR, zero-based iova" },
	{ .name = "write_pinned_below", .fn = test_iova,
	  .arg = V(.op = OP_WRITE, .kind = MEM_PINNED, .place = IOVA_BELOW),
	  .desc = "RDMA WRITE at iova + k of a pinned MR, iova below the address" },
	{ .name = "write_pinned_inside", .fn = test_iova,
	  .arg = V(.op = OP_WRITE, .kind = MEM_PINNED, .place = IOVA_INSIDE),
	  .desc = "RDMA WRITE at iova + k of a pinned MR, iova inside the buffer" },
	{ .name = "write_pinned_past", .fn = test_iova,
	  .arg = V(.op = OP_WRITE, .kind = MEM_PINNED, .place = IOVA_PAST),
	  .desc = "RDMA WRITE at iova + k of a pinned MR, iova past the buffer" },
	{ .name = "write_pinned_far", .fn = test_iova,
	  .arg = V(.op = OP_WRITE, .kind = MEM_PINNED, .place = IOVA_FAR),
	  .desc = "RDMA WRITE at iova + k of a pinned MR, iova 1 TiB above" },
	{ .name = "write_pinned_high", .fn = test_iova,
	  .arg = V(.op = OP_WRITE, .kind = MEM_PINNED, .place = IOVA_HIGH),
	  .desc = "RDMA WRITE at iova + k of a pinned MR, iova 2^63" },
	{ .name = "write_pinned_top", .fn = test_iova,
	  .arg = V(.op = OP_WRITE, .kind = MEM_PINNED, .place = IOVA_TOP),
	  .desc = "RDMA WRITE at iova + k of a pinned MR, iova just below 2^64" },
	{ .name = "write_pinned_below_unaligned", .fn = test_iova,
	  .arg = V(.op = OP_WRITE, .kind = MEM_PINNED, .place = IOVA_BELOW,
		   .unaligned = true),
	  .desc = "RDMA WRITE at iova + k of a pinned MR starting mid-page" },
	{ .name = "read_pinned_far", .fn = test_iova,
	  .arg = V(.op = OP_READ, .kind = MEM_PINNED, .place = IOVA_FAR),
	  .desc = "RDMA READ from iova + k of a pinned MR, iova 1 TiB above" },
	{ .name = "read_pinned_far_unaligned", .fn = test_iova,
	  .arg = V(.op = OP_READ, .kind = MEM_PINNED, .place = IOVA_FAR,
		   .unaligned = true),
	  .desc = "RDMA READ from iova + k of a pinned MR starting mid-page" },
	{ .name = "send_pinned_far", .fn = test_iova,
	  .arg = V(.op = OP_SEND, .kind = MEM_PINNED, .place = IOVA_FAR),
	  .desc = "SEND into a RECV buffer at iova + k of a pinned MR" },
	{ .name = "read_local_pinned_far", .fn = test_iova,
	  .arg = V(.op = OP_READ_LOCAL, .kind = MEM_PINNED, .place = IOVA_FAR),
	  .desc = "RDMA READ into a local pinned MR at iova + k" },
	{ .name = "write_local_pinned_far", .fn = test_iova,
	  .arg = V(.op = OP_WRITE_LOCAL, .kind = MEM_PINNED, .place = IOVA_FAR),
	  .desc = "RDMA WRITE from a local pinned MR at iova + k" },
	{ .name = "fetch_add_pinned_far", .fn = test_iova,
	  .arg = V(.op = OP_FETCH_ADD, .kind = MEM_PINNED, .place = IOVA_FAR),
	  .desc = "ATOMIC FETCH_ADD at iova + k of a pinned MR" },
	{ .name = "cmp_swp_pinned_below_unaligned", .fn = test_iova,
	  .arg = V(.op = OP_CMP_SWP, .kind = MEM_PINNED, .place = IOVA_BELOW,
		   .unaligned = true),
	  .desc = "ATOMIC CMP_SWP at iova + k of a pinned MR starting mid-page" },
	{ .name = "atomic_write_pinned_far", .fn = test_iova,
	  .arg = V(.op = OP_ATOMIC_WRITE, .kind = MEM_PINNED, .place = IOVA_FAR),
	  .desc = "ATOMIC_WRITE at iova + k of a pinned MR" },
	{ .name = "reg_pinned_offset_mismatch", .fn = test_iova,
	  .arg = V(.op = OP_REG_MISMATCH, .kind = MEM_PINNED),
	  .desc = "ibv_reg_mr_iova refuses an iova whose in-page offset differs (pinned)" },
	{ .name = "reg_odp_offset_mismatch", .fn = test_iova,
	  .arg = V(.op = OP_REG_MISMATCH, .kind = MEM_ODP),
	  .desc = "ibv_reg_mr_iova refuses an iova whose in-page offset differs (ODP)" },
	{ .name = "write_odp_far_at_address", .fn = test_iova,
	  .arg = V(.op = OP_AT_ADDRESS, .kind = MEM_ODP, .place = IOVA_FAR),
	  .desc = "RDMA WRITE at the address (not the iova) of an ODP MR: remote access error" },
	{ .name = "write_odp_far_past_end", .fn = test_iova,
	  .arg = V(.op = OP_PAST_END, .kind = MEM_ODP, .place = IOVA_FAR,
		   .unaligned = true),
	  .desc = "RDMA WRITE across the end of an ODP MR at iova: remote access error" },
	{ .name = "write_odp_same", .fn = test_iova,
	  .arg = V(.op = OP_WRITE, .kind = MEM_ODP, .place = IOVA_SAME),
	  .desc = "control: RDMA WRITE into an ODP MR whose iova is its address",
	  .needs = FIX_COPY },
	/* ODP MRs: indexes stay inside the page array on stock. */
	{ .name = "write_odp_inside", .fn = test_iova,
	  .arg = V(.op = OP_WRITE, .kind = MEM_ODP, .place = IOVA_INSIDE),
	  .desc = "RDMA WRITE at iova + k of an ODP MR, iova inside the buffer",
	  .needs = IOVA_COPY, .sig = SIG_MISPLACED },
	{ .name = "read_odp_inside", .fn = test_iova,
	  .arg = V(.op = OP_READ, .kind = MEM_ODP, .place = IOVA_INSIDE),
	  .desc = "RDMA READ from iova + k of an ODP MR, iova inside the buffer",
	  .needs = IOVA_COPY, .sig = SIG_MISPLACED },
	{ .name = "write_uffd_inside", .fn = test_iova,
	  .arg = V(.op = OP_WRITE, .kind = MEM_UFFD, .place = IOVA_INSIDE),
	  .desc = "RDMA WRITE at iova + k of a uffd ODP MR, iova inside the buffer",
	  .needs = IOVA_UFFD, .sig = SIG_MISPLACED },
	/* Stock reads pfn_list out of bounds here (KASAN on a debug kernel). */
	{ .name = "write_odp_below", .fn = test_iova,
	  .arg = V(.op = OP_WRITE, .kind = MEM_ODP, .place = IOVA_BELOW),
	  .desc = "RDMA WRITE at iova + k of an ODP MR, iova one page below",
	  .needs = IOVA_COPY },
	{ .name = "write_odp_past", .fn = test_iova,
	  .arg = V(.op = OP_WRITE, .kind = MEM_ODP, .place = IOVA_PAST),
	  .desc = "RDMA WRITE at iova + k of an ODP MR, iova just past the buffer",
	  .needs = IOVA_COPY },
	{ .name = "write_odp_below_unaligned", .fn = test_iova,
	  .arg = V(.op = OP_WRITE, .kind = MEM_ODP, .place = IOVA_BELOW,
		   .unaligned = true),
	  .desc = "RDMA WRITE at iova + k of a mid-page ODP MR, iova one page below",
	  .needs = IOVA_COPY },
	{ .name = "read_odp_below", .fn = test_iova,
	  .arg = V(.op = OP_READ, .kind = MEM_ODP, .place = IOVA_BELOW),
	  .desc = "RDMA READ from iova + k of an ODP MR, iova one page below",
	  .needs = IOVA_COPY },
	{ .name = "read_odp_past", .fn = test_iova,
	  .arg = V(.op = OP_READ, .kind = MEM_ODP, .place = IOVA_PAST),
	  .desc = "RDMA READ from iova + k of an ODP MR, iova just past the buffer",
	  .needs = IOVA_COPY },
	{ .name = "send_odp_below_unaligned", .fn = test_iova,
	  .arg = V(.op = OP_SEND, .kind = MEM_ODP, .place = IOVA_BELOW,
		   .unaligned = true),
	  .desc = "SEND into a RECV buffer at iova + k of a mid-page ODP MR, iova below",
	  .needs = IOVA_COPY },
	{ .name = "fetch_add_odp_below", .fn = test_iova,
	  .arg = V(.op = OP_FETCH_ADD, .kind = MEM_ODP, .place = IOVA_BELOW),
	  .desc = "ATOMIC FETCH_ADD at iova + k of an ODP MR, iova one page below",
	  .needs = FIX_IOVA },
	{ .name = "write_uffd_below", .fn = test_iova,
	  .arg = V(.op = OP_WRITE, .kind = MEM_UFFD, .place = IOVA_BELOW),
	  .desc = "RDMA WRITE at iova + k of a uffd ODP MR, iova one page below",
	  .needs = IOVA_UFFD },
	{ .name = "write_uffd_past", .fn = test_iova,
	  .arg = V(.op = OP_WRITE, .kind = MEM_UFFD, .place = IOVA_PAST),
	  .desc = "RDMA WRITE at iova + k of a uffd ODP MR, iova just past the buffer",
	  .needs = IOVA_UFFD },
	{ .name = "read_uffd_below_unaligned", .fn = test_iova,
	  .arg = V(.op = OP_READ, .kind = MEM_UFFD, .place = IOVA_BELOW,
		   .unaligned = true),
	  .desc = "RDMA READ from iova + k of a mid-page uffd ODP MR, iova below",
	  .needs = IOVA_UFFD },
	{ .name = "write_odp_zero", .fn = test_iova,
	  .arg = V(.op = OP_WRITE, .kind = MEM_ODP, .place = IOVA_ZERO),
	  .desc = "RDMA WRITE at iova + k of an ODP MR, zero-based iova",
	  .needs = IOVA_COPY },
	{ .name = "write_odp_zero_one_packet", .fn = test_iova,
	  .arg = V(.op = OP_WRITE, .kind = MEM_ODP, .place = IOVA_ZERO,
		   .one_packet = true),
	  .desc = "one-packet RDMA WRITE at iova 0 of an ODP MR",
	  .needs = FIX_IOVA },
	{ .name = "read_odp_zero", .fn = test_iova,
	  .arg = V(.op = OP_READ, .kind = MEM_ODP, .place = IOVA_ZERO),
	  .desc = "RDMA READ from iova + k of an ODP MR, zero-based iova",
	  .needs = IOVA_COPY },
	{ .name = "write_uffd_zero", .fn = test_iova,
	  .arg = V(.op = OP_WRITE, .kind = MEM_UFFD, .place = IOVA_ZERO),
	  .desc = "RDMA WRITE at iova + k of a uffd ODP MR, zero-based iova",
	  .needs = IOVA_UFFD },
	{ .name = "fetch_add_odp_zero", .fn = test_iova,
	  .arg = V(.op = OP_FETCH_ADD, .kind = MEM_ODP, .place = IOVA_ZERO),
	  .desc = "ATOMIC FETCH_ADD at iova + k of an ODP MR, zero-based iova",
	  .needs = FIX_IOVA },
	{ .name = "write_odp_high", .fn = test_iova,
	  .arg = V(.op = OP_WRITE, .kind = MEM_ODP, .place = IOVA_HIGH),
	  .desc = "RDMA WRITE at iova + k of an ODP MR, iova 2^63",
	  .needs = IOVA_COPY },
	{ .name = "write_odp_top", .fn = test_iova,
	  .arg = V(.op = OP_WRITE, .kind = MEM_ODP, .place = IOVA_TOP),
	  .desc = "RDMA WRITE at iova + k of an ODP MR, iova just below 2^64",
	  .needs = IOVA_COPY },
	{ .name = "read_odp_top_unaligned", .fn = test_iova,
	  .arg = V(.op = OP_READ, .kind = MEM_ODP, .place = IOVA_TOP,
		   .unaligned = true),
	  .desc = "RDMA READ from iova + k of a mid-page ODP MR, iova just below 2^64",
	  .needs = IOVA_COPY },
	/* ODP MRs, iova 1 TiB above: stock oopses in rxe_check_pagefault(). */
	{ .name = "write_odp_far_one_packet", .fn = test_iova,
	  .arg = V(.op = OP_WRITE, .kind = MEM_ODP, .place = IOVA_FAR,
		   .one_packet = true),
	  .desc = "one-packet RDMA WRITE at iova of an ODP MR, iova 1 TiB above",
	  .needs = FIX_IOVA },
	{ .name = "read_odp_far_one_packet", .fn = test_iova,
	  .arg = V(.op = OP_READ, .kind = MEM_ODP, .place = IOVA_FAR,
		   .one_packet = true),
	  .desc = "one-packet RDMA READ from iova of an ODP MR, iova 1 TiB above",
	  .needs = FIX_IOVA },
	{ .name = "write_odp_far", .fn = test_iova,
	  .arg = V(.op = OP_WRITE, .kind = MEM_ODP, .place = IOVA_FAR),
	  .desc = "RDMA WRITE at iova + k of an ODP MR, iova 1 TiB above",
	  .needs = IOVA_COPY },
	{ .name = "write_odp_dropped_far", .fn = test_iova,
	  .arg = V(.op = OP_WRITE, .kind = MEM_ODP_DROPPED, .place = IOVA_FAR),
	  .desc = "RDMA WRITE at iova + k of an ODP MR after DONTNEED (faults), iova 1 TiB above",
	  .needs = IOVA_COPY },
	{ .name = "write_odp_far_unaligned", .fn = test_iova,
	  .arg = V(.op = OP_WRITE, .kind = MEM_ODP, .place = IOVA_FAR,
		   .unaligned = true),
	  .desc = "RDMA WRITE at iova + k of an ODP MR starting mid-page, iova 1 TiB above",
	  .needs = IOVA_COPY },
	{ .name = "read_odp_far", .fn = test_iova,
	  .arg = V(.op = OP_READ, .kind = MEM_ODP, .place = IOVA_FAR),
	  .desc = "RDMA READ from iova + k of an ODP MR, iova 1 TiB above",
	  .needs = IOVA_COPY },
	{ .name = "read_odp_far_unaligned", .fn = test_iova,
	  .arg = V(.op = OP_READ, .kind = MEM_ODP, .place = IOVA_FAR,
		   .unaligned = true),
	  .desc = "RDMA READ from iova + k of an ODP MR starting mid-page",
	  .needs = IOVA_COPY },
	{ .name = "send_odp_far", .fn = test_iova,
	  .arg = V(.op = OP_SEND, .kind = MEM_ODP, .place = IOVA_FAR),
	  .desc = "SEND into a RECV buffer at iova + k of an ODP MR",
	  .needs = IOVA_COPY },
	{ .name = "read_local_odp_far", .fn = test_iova,
	  .arg = V(.op = OP_READ_LOCAL, .kind = MEM_ODP_DROPPED, .place = IOVA_FAR),
	  .desc = "RDMA READ into a local ODP MR at iova + k (completer copy)",
	  .needs = IOVA_COPY },
	{ .name = "write_local_odp_far", .fn = test_iova,
	  .arg = V(.op = OP_WRITE_LOCAL, .kind = MEM_ODP, .place = IOVA_FAR),
	  .desc = "RDMA WRITE from a local ODP MR at iova + k (requester copy)",
	  .needs = IOVA_COPY },
	{ .name = "fetch_add_odp_far", .fn = test_iova,
	  .arg = V(.op = OP_FETCH_ADD, .kind = MEM_ODP, .place = IOVA_FAR),
	  .desc = "ATOMIC FETCH_ADD at iova + k of an ODP MR",
	  .needs = FIX_IOVA },
	{ .name = "cmp_swp_odp_far_unaligned", .fn = test_iova,
	  .arg = V(.op = OP_CMP_SWP, .kind = MEM_ODP_DROPPED, .place = IOVA_FAR,
		   .unaligned = true),
	  .desc = "ATOMIC CMP_SWP at iova + k of an ODP MR starting mid-page (faults)",
	  .needs = FIX_IOVA },
	{ .name = "atomic_write_odp_far", .fn = test_iova,
	  .arg = V(.op = OP_ATOMIC_WRITE, .kind = MEM_ODP_DROPPED, .place = IOVA_FAR),
	  .desc = "ATOMIC_WRITE at iova + k of an ODP MR (faults)",
	  .needs = FIX_IOVA },
	{ .name = "flush_odp_far", .fn = test_iova,
	  .arg = V(.op = OP_FLUSH, .kind = MEM_ODP_DROPPED, .place = IOVA_FAR),
	  .desc = "FLUSH PERSISTENT of a range at iova + k of an ODP MR (faults)",
	  .needs = FIX_IOVA },
	{ .name = "prefetch_write_odp_far", .fn = test_iova,
	  .arg = V(.op = OP_PREFETCH_WRITE, .kind = MEM_ODP_DROPPED,
		   .place = IOVA_FAR),
	  .desc = "synchronous PREFETCH_WRITE of iova + k of an ODP MR",
	  .needs = FIX_IOVA },
	/* uffd-missing memory: the handler must see the pages at address + k. */
	{ .name = "write_uffd_far", .fn = test_iova,
	  .arg = V(.op = OP_WRITE, .kind = MEM_UFFD, .place = IOVA_FAR),
	  .desc = "RDMA WRITE at iova + k of a uffd ODP MR, iova 1 TiB above",
	  .needs = IOVA_UFFD },
	{ .name = "write_uffd_far_unaligned", .fn = test_iova,
	  .arg = V(.op = OP_WRITE, .kind = MEM_UFFD, .place = IOVA_FAR,
		   .unaligned = true),
	  .desc = "RDMA WRITE at iova + k of a uffd ODP MR starting mid-page",
	  .needs = IOVA_UFFD },
	{ .name = "read_uffd_far", .fn = test_iova,
	  .arg = V(.op = OP_READ, .kind = MEM_UFFD, .place = IOVA_FAR),
	  .desc = "RDMA READ from iova + k of a uffd ODP MR",
	  .needs = IOVA_UFFD },
	{ .name = "send_uffd_far", .fn = test_iova,
	  .arg = V(.op = OP_SEND, .kind = MEM_UFFD, .place = IOVA_FAR),
	  .desc = "SEND into a RECV buffer at iova + k of a uffd ODP MR",
	  .needs = IOVA_UFFD },
	{ .name = "read_local_uffd_far", .fn = test_iova,
	  .arg = V(.op = OP_READ_LOCAL, .kind = MEM_UFFD, .place = IOVA_FAR),
	  .desc = "RDMA READ into a local uffd ODP MR at iova + k",
	  .needs = IOVA_UFFD },
	{ .name = "write_local_uffd_far", .fn = test_iova,
	  .arg = V(.op = OP_WRITE_LOCAL, .kind = MEM_UFFD, .place = IOVA_FAR),
	  .desc = "RDMA WRITE from a local uffd ODP MR at iova + k",
	  .needs = IOVA_UFFD },
	{ .name = "fetch_add_uffd_far", .fn = test_iova,
	  .arg = V(.op = OP_FETCH_ADD, .kind = MEM_UFFD, .place = IOVA_FAR),
	  .desc = "ATOMIC FETCH_ADD at iova + k of a uffd ODP MR",
	  .needs = FIX_IOVA | FIX_UFFD },
	{ .name = "atomic_write_uffd_far", .fn = test_iova,
	  .arg = V(.op = OP_ATOMIC_WRITE, .kind = MEM_UFFD, .place = IOVA_FAR),
	  .desc = "ATOMIC_WRITE at iova + k of a uffd ODP MR",
	  .needs = FIX_IOVA | FIX_UFFD },
	{ .name = "flush_uffd_far", .fn = test_iova,
	  .arg = V(.op = OP_FLUSH, .kind = MEM_UFFD, .place = IOVA_FAR),
	  .desc = "FLUSH PERSISTENT at iova + k maps the uffd pages at address + k",
	  .needs = FIX_IOVA | FIX_UFFD },
	{ .name = "prefetch_write_uffd_far", .fn = test_iova,
	  .arg = V(.op = OP_PREFETCH_WRITE, .kind = MEM_UFFD, .place = IOVA_FAR),
	  .desc = "synchronous PREFETCH_WRITE at iova + k faults the uffd pages at address + k",
	  .needs = FIX_IOVA | FIX_UFFD },
	{ .name = "prefetch_async_uffd_far_unaligned", .fn = test_iova,
	  .arg = V(.op = OP_PREFETCH_ASYNC, .kind = MEM_UFFD, .place = IOVA_FAR,
		   .unaligned = true),
	  .desc = "asynchronous PREFETCH at iova + k of a mid-page uffd ODP MR",
	  .needs = FIX_IOVA | FIX_UFFD },
};

int main(int argc, char **argv)
{
	return test_main(argc, argv, tests, ARRAY_SIZE(tests));
}
