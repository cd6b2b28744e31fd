// SPDX-License-Identifier: GPL-2.0
/*
 * Every RDMA operation rxe can fault an ODP MR for, on userfaultfd-missing
 * memory, with regression twins on ordinary ODP memory and on pinned MRs.
 *
 * A test case is an operation x (requester buffer kind, responder buffer
 * kind) variant: names read "<op>_<where>_<kind>", e.g. send_recv_uffd_recv
 * has the receive buffer on uffd memory.  On a uffd side every page the
 * operation touches must be installed by the handler exactly once (further
 * faults on it end in EEXIST), and every byte of both buffers is checked
 * against position-dependent patterns: data where the operation put it, the
 * previous content everywhere else.
 *
 * After a prefetch or a FLUSH PERSISTENT the device must see the data without
 * any further fault: the handler then refuses faults, and an RDMA READ and an
 * RDMA WRITE of the range are checked byte by byte.  Plain ODP memory holds a
 * pattern too (written again by the CPU after MADV_DONTNEED where the case
 * drops it), so that an operation that read the wrong page cannot pass on
 * zeroes.
 *
 * On a kernel without the series every case that makes the device fault a
 * uffd-missing page fails (remote access error, local protection error or
 * EFAULT); FLUSH GLOBAL and PREFETCH_NO_FAULT never fault and pass there.
 * Without the rxe copy fix an unaligned or multi-packet transfer through an
 * ODP MR, and an atomic's result returned into one, land in the wrong place.
 */
#include "lib/verbs.h"

#include <errno.h>
#include <inttypes.h>
#include <rdma/ib_user_verbs.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>

#define SEED_DATA	0xa5u	/* what the operation must deliver */
#define SEED_BG		0x3cu	/* what a sink holds before it */
#define SEED_BACK	0x5au	/* what the device writes back (device view) */

#define ODP_ACCESS	(IBV_ACCESS_ON_DEMAND | IBV_ACCESS_LOCAL_WRITE | \
			 IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_READ | \
			 IBV_ACCESS_REMOTE_ATOMIC)
#define PIN_ACCESS	(IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE | \
			 IBV_ACCESS_REMOTE_READ | IBV_ACCESS_REMOTE_ATOMIC)

#define XFER_OFF	100			/* unaligned start */
#define XFER_LEN	(64 * 1024 + 1000)	/* many packets, ends mid-page */
#define ALIGNED_LEN	1024			/* one packet (MTU 1024) */
#define ATOMIC_PAGES	3
#define ATOMIC_OFF	808			/* in page 1; 8-byte aligned */
#define UD_PAYLOAD	1000			/* one packet (MTU 1024) */
#define UD_BACK		600	/* receive buffer starts this far before page 1 */
#define ASYNC_WAIT_MS	30000

#define SWAP_VALUE	0x0123456789abcdefull
#define ADD_VALUE	0x0001000100010001ull
#define WRITE_VALUE	0xfedcba9876543210ull

enum mem_kind {
	MEM_UFFD,	/* anonymous, uffd MISSING, never touched; ODP MR */
	MEM_ODP,	/* ordinary anonymous memory, ODP MR (sinks: DONTNEED) */
	MEM_PINNED,	/* ordinary anonymous memory, pinned MR */
};

enum op_kind {
	OP_SEND,	/* RC SEND -> RECV */
	OP_WRITE,
	OP_READ,
	OP_CMP_SWP,
	OP_FETCH_ADD,
	OP_ATOMIC_WRITE,
	OP_FLUSH,
	OP_UD_SEND,	/* UD SEND -> RECV (GRH + one packet) */
};

/*
 * local: the requester's buffer (SEND/WRITE source, READ sink, atomic
 * result); remote: the responder's (RECV/WRITE sink, READ source, atomic
 * or FLUSH target).
 */
struct op_variant {
	enum op_kind op;
	enum mem_kind local, remote;
	uint8_t flush_type;	/* OP_FLUSH: IBV_FLUSH_GLOBAL/PERSISTENT */
	bool two_host;		/* rxea (netns a) -> rxeb (netns b) */
	bool aligned;		/* SEND/WRITE/READ: one packet at a page start */
};

/* One test buffer, its MR and (MEM_UFFD) its fault handler. */
struct tbuf {
	enum mem_kind kind;
	uint8_t *addr;
	size_t len;		/* whole pages */
	size_t psz;
	uint32_t seed;		/* content before the operation ... */
	bool zero;		/* ... or zeroes (ODP sink after DONTNEED) */
	struct ibv_mr *mr;
	struct uffd_handler h;
	const char *what;
};

static const char *kind_str(enum mem_kind k)
{
	switch (k) {
	case MEM_UFFD: return "uffd-missing";
	case MEM_ODP: return "plain ODP";
	case MEM_PINNED: return "pinned";
	}
	return "?";
}

static void tbuf_init(struct tbuf *b, enum mem_kind kind, const char *what)
{
	memset(b, 0, sizeof(*b));
	b->kind = kind;
	b->what = what;
	b->psz = page_size();
	uffd_handler_init(&b->h);
}

/*
 * Map len bytes holding the pattern of seed (uffd: installed by the handler
 * on fault) and register them; an ODP sink is dropped with MADV_DONTNEED
 * after registration, so the operation faults zero pages back in.
 */
static int tbuf_setup(struct test_ctx *t, struct rdma_res *r, struct tbuf *b,
		      size_t len, uint32_t seed, bool sink, int extra_access)
{
	int access = (b->kind == MEM_PINNED ? PIN_ACCESS : ODP_ACCESS) |
		     extra_access;
	int rc;

	test_step(t, "%s buffer: %s, %zu bytes", b->what, kind_str(b->kind), len);
	b->len = len;
	b->seed = seed;
	rc = mem_map(t, len, (void **)&b->addr, b->what);
	if (rc != TEST_PASS)
		return rc;
	if (b->kind == MEM_UFFD)
		rc = uffd_missing_setup(t, &b->h, b->addr, len,
					uffd_fill_pattern, &b->seed);
	else
		pattern_fill(b->addr, len, seed, 0, b->psz);
	if (rc == TEST_PASS)
		rc = rdma_reg_mr(t, r, b->addr, len, access, b->what, &b->mr);
	if (rc != TEST_PASS || b->kind != MEM_ODP || !sink)
		return rc;
	if (madvise(b->addr, len, MADV_DONTNEED))
		return test_fail(t, "madvise(%s, MADV_DONTNEED): %s", b->what,
				 strerror(errno));
	b->zero = true;
	return TEST_PASS;
}

/*
 * An ODP buffer dropped after registration (tbuf_setup() with sink) that the
 * CPU writes again: fresh pages holding the pattern, none mapped for the
 * device, so that what the device reads or returns is not zero whatever it
 * accessed.
 */
static void tbuf_refill(struct tbuf *b)
{
	pattern_fill(b->addr, b->len, b->seed, 0, b->psz);
	b->zero = false;
}

/* uffd first: releases any kernel fault still waiting on it. */
static int tbuf_teardown(struct test_ctx *t, struct tbuf *b)
{
	int rc = uffd_teardown(t, &b->h);

	rc = test_worse(rc, rdma_dereg_mr(t, &b->mr, b->what));
	return test_worse(rc, mem_unmap(t, (void **)&b->addr, b->len, b->what));
}

static const struct uffd_handler *tbuf_watch(const struct tbuf *b)
{
	return b->kind == MEM_UFFD ? &b->h : NULL;
}

/* What the buffer held before the operation, as a region_verify() seed. */
static uint32_t tbuf_old(const struct tbuf *b)
{
	return b->zero ? PAT_ZERO : b->seed;
}

/* Check [from, to) still holds what the buffer held before the operation. */
static int tbuf_verify_old(struct test_ctx *t, const struct tbuf *b,
			   size_t from, size_t to, const char *what)
{
	return region_verify(t, b->addr, from, to, tbuf_old(b), what);
}

/*
 * A uffd buffer whose pages [first, first + n) the operation touched: each
 * installed by the handler exactly once, no other page, no handler error.
 * Call before the CPU reads the buffer.
 */
static int tbuf_check_faults(struct test_ctx *t, const struct tbuf *b,
			     size_t first, size_t n)
{
	if (b->kind != MEM_UFFD)
		return TEST_PASS;
	tap_diag("%s: the operation covers pages %zu..%zu", b->what, first,
		 first + n - 1);
	return uffd_check_resolved(t, &b->h, n, b->what);
}

static size_t pages_of(size_t from, size_t to, size_t psz)
{
	return (to + psz - 1) / psz - from / psz;
}

/*
 * What the device sees of b's [from, to) once a prefetch or a FLUSH mapped
 * it: RDMA READ it into loc (pinned, at the same offsets), then RDMA WRITE
 * new bytes from there into it; every byte of both checked, and b's
 * [lo, from) and [to, hi) unchanged.  On uffd memory the handler refuses
 * every fault from here on, so a page the device still has to fault (absent,
 * or missing from its page list and not present) fails the access at once.
 * qpi posts, on r; b is on the peer of qp[qpi].
 */
static int device_view_check(struct test_ctx *t, struct rdma_res *r, int qpi,
			     struct tbuf *b, struct tbuf *loc, size_t from,
			     size_t to, size_t lo, size_t hi, const char *what)
{
	const uint32_t len = (uint32_t)(to - from);
	const unsigned long before = uffd_faults(&b->h);
	int rc;

	if (b->kind == MEM_UFFD)
		uffd_handler_refuse(&b->h);
	test_step(t, "RDMA READ of the %s range (%u bytes at offset %zu), handler refusing faults",
		  what, len, from);
	rc = rdma_rw(t, r, qpi, IBV_WR_RDMA_READ, loc->addr + from, len,
		     loc->mr->lkey, (uintptr_t)b->addr + from, b->mr->rkey,
		     tbuf_watch(b));
	if (rc != TEST_PASS)
		return rc;
	test_step(t, "verify what the device read");
	rc = b->zero ? bytes_verify(t, loc->addr + from, len, 0, from,
				    "bytes the device read") :
		       pattern_verify(t, loc->addr + from, len, b->seed, from,
				      b->psz, "bytes the device read");
	rc = test_worse(rc, tbuf_verify_old(t, loc, 0, from, "read sink head"));
	rc = test_worse(rc, tbuf_verify_old(t, loc, to, loc->len,
					    "read sink tail"));
	if (rc != TEST_PASS)
		return rc;
	pattern_fill(loc->addr + from, len, SEED_BACK, from, loc->psz);
	test_step(t, "RDMA WRITE into the %s range, handler refusing faults",
		  what);
	rc = rdma_rw(t, r, qpi, IBV_WR_RDMA_WRITE, loc->addr + from, len,
		     loc->mr->lkey, (uintptr_t)b->addr + from, b->mr->rkey,
		     tbuf_watch(b));
	if (rc != TEST_PASS)
		return rc;
	if (b->kind == MEM_UFFD) {
		uffd_handler_report(&b->h, "after the device READ and WRITE");
		if (uffd_handler_failed(&b->h))
			return uffd_handler_check(t, &b->h);
		if (uffd_faults(&b->h) != before)
			return test_fail(t, "device READ and WRITE of the %s range took %lu uffd faults, expected none",
					 what, uffd_faults(&b->h) - before);
	}
	test_step(t, "CPU verify what the device wrote");
	rc = pattern_verify(t, b->addr + from, len, SEED_BACK, from, b->psz,
			    "bytes the device wrote");
	rc = test_worse(rc, tbuf_verify_old(t, b, lo, from, "head"));
	return test_worse(rc, tbuf_verify_old(t, b, to, hi, "tail"));
}

/* Device requirements of a variant. */
static struct rdma_caps_req variant_req(const struct op_variant *v)
{
	bool lodp = v->local != MEM_PINNED, rodp = v->remote != MEM_PINNED;
	struct rdma_caps_req req = { .odp = lodp || rodp };

	switch (v->op) {
	case OP_SEND:
		req.rc_odp_caps = (lodp ? IBV_ODP_SUPPORT_SEND : 0) |
				  (rodp ? IBV_ODP_SUPPORT_RECV : 0);
		break;
	case OP_UD_SEND:
		req.qp_type = IBV_QPT_UD;
		req.ud_odp_caps = (lodp ? IBV_ODP_SUPPORT_SEND : 0) |
				  (rodp ? IBV_ODP_SUPPORT_RECV : 0);
		break;
	case OP_WRITE:
		req.rc_odp_caps = (lodp ? IBV_ODP_SUPPORT_SEND : 0) |
				  (rodp ? IBV_ODP_SUPPORT_WRITE : 0);
		break;
	case OP_READ:
		req.rc_odp_caps = rodp ? IBV_ODP_SUPPORT_READ : 0;
		break;
	case OP_CMP_SWP:
	case OP_FETCH_ADD:
		req.rc_odp_caps = rodp ? IBV_ODP_SUPPORT_ATOMIC : 0;
		break;
	case OP_ATOMIC_WRITE:
		req.rc_odp_caps = rodp ? IBV_ODP_SUPPORT_ATOMIC_WRITE : 0;
		req.cap_flags_ex = IB_UVERBS_DEVICE_ATOMIC_WRITE;
		req.send_ops_flags = IBV_QP_EX_WITH_ATOMIC_WRITE;
		break;
	case OP_FLUSH:
		/* READ and WRITE: the device's view after the flush. */
		req.rc_odp_caps = rodp ? IBV_ODP_SUPPORT_FLUSH |
					 IBV_ODP_SUPPORT_READ |
					 IBV_ODP_SUPPORT_WRITE : 0;
		req.cap_flags_ex = v->flush_type == IBV_FLUSH_PERSISTENT ?
				   IB_UVERBS_DEVICE_FLUSH_PERSISTENT :
				   IB_UVERBS_DEVICE_FLUSH_GLOBAL;
		req.send_ops_flags = IBV_QP_EX_WITH_FLUSH;
		break;
	}
	return req;
}

/* Requester and responder resources: one device (loopback) or two hosts. */
struct op_env {
	const struct op_variant *v;
	struct rdma_res r[2];	/* r[1] used only with two_host */
	struct rdma_res *req, *resp;
	struct ibv_qp *resp_qp;
	struct ibv_cq *resp_cq;
	struct tbuf loc, rem;
	size_t psz;
};

static int env_setup(struct test_ctx *t, struct op_env *e)
{
	const struct rdma_caps_req req = variant_req(e->v);
	int rc;

	e->psz = page_size();
	tbuf_init(&e->loc, e->v->local, "local");
	tbuf_init(&e->rem, e->v->remote, "remote");
	if (e->v->two_host) {
		rc = rdma_setup_2host(t, &e->r[0], &e->r[1], "rxea", "rxeb",
				      &req);
		e->req = &e->r[0];
		e->resp = &e->r[1];
		e->resp_qp = e->r[1].qp[0];
		e->resp_cq = e->r[1].cq[0];
	} else {
		rc = rdma_setup(t, &e->r[0], &req);
		e->req = e->resp = &e->r[0];
		e->resp_qp = e->r[0].qp[1];
		e->resp_cq = e->r[0].cq[1];
	}
	return rc;
}

static int env_teardown(struct test_ctx *t, struct op_env *e, int rc)
{
	test_step(t, "teardown");
	rc = test_worse(rc, tbuf_teardown(t, &e->loc));
	rc = test_worse(rc, tbuf_teardown(t, &e->rem));
	if (e->v->two_host)
		rc = test_worse(rc, rdma_teardown(t, &e->r[1]));
	return test_worse(rc, rdma_teardown(t, &e->r[0]));
}

/* The watched handler: the uffd side, responder first. */
static const struct uffd_handler *env_watch(const struct op_env *e)
{
	return e->rem.kind == MEM_UFFD ? tbuf_watch(&e->rem) : tbuf_watch(&e->loc);
}

/* SEND/WRITE/READ of XFER_LEN bytes at XFER_OFF, both buffers alike. */
static int run_xfer(struct test_ctx *t, struct op_env *e)
{
	/* Stock rxe copies ODP data right only at page offset 0 (patch 2). */
	const size_t off = e->v->aligned ? 0 : XFER_OFF;
	const size_t xlen = e->v->aligned ? ALIGNED_LEN : XFER_LEN;
	const size_t end = off + xlen;
	const size_t map_len = pages_of(0, end, e->psz) * e->psz;
	const bool read = e->v->op == OP_READ;
	struct tbuf *src = read ? &e->rem : &e->loc;
	struct tbuf *dst = read ? &e->loc : &e->rem;
	struct ibv_wc wc;
	int rc;

	rc = tbuf_setup(t, e->req, &e->loc, map_len, read ? SEED_BG : SEED_DATA,
			read, 0);
	if (rc == TEST_PASS)
		rc = tbuf_setup(t, e->resp, &e->rem, map_len,
				read ? SEED_DATA : SEED_BG, !read, 0);
	if (rc != TEST_PASS)
		return rc;
	if (e->v->op == OP_SEND) {
		test_step(t, "post RECV of %zu bytes", xlen);
		rc = rdma_post_recv(t, e->resp_qp, e->rem.addr + off, (uint32_t)xlen,
				    e->rem.mr->lkey, 0x4ecu);
		if (rc != TEST_PASS)
			return rc;
	}
	test_step(t, "%s %zu bytes, local %s, remote %s",
		  e->v->op == OP_SEND ? "SEND" : read ? "RDMA READ" : "RDMA WRITE",
		  xlen, kind_str(e->loc.kind), kind_str(e->rem.kind));
	rc = rdma_rw(t, e->req, 0, e->v->op == OP_SEND ? IBV_WR_SEND :
		     read ? IBV_WR_RDMA_READ : IBV_WR_RDMA_WRITE,
		     e->loc.addr + off, (uint32_t)xlen, e->loc.mr->lkey,
		     (uintptr_t)e->rem.addr + off, e->rem.mr->rkey,
		     env_watch(e));
	if (rc != TEST_PASS)
		return rc;
	if (e->v->op == OP_SEND) {
		test_step(t, "wait for the RECV completion");
		rc = rdma_wait_wc(t, e->resp_cq, "RECV", 0x4ecu,
				  TEST_WC_TIMEOUT_MS, env_watch(e), &wc);
		if (rc != TEST_PASS)
			return rc;
		if (wc.byte_len != xlen)
			return test_fail(t, "RECV completion: %u bytes, expected %zu",
					 wc.byte_len, xlen);
	}
	/* Handler counts first: the CPU checks below fault nothing new. */
	rc = tbuf_check_faults(t, src, 0, pages_of(off, end, e->psz));
	rc = test_worse(rc, tbuf_check_faults(t, dst, 0,
					      pages_of(off, end, e->psz)));
	if (rc != TEST_PASS)
		return rc;
	test_step(t, "verify sink and source");
	rc = pattern_verify(t, dst->addr + off, xlen, SEED_DATA, off,
			    e->psz, "transferred bytes");
	rc = test_worse(rc, tbuf_verify_old(t, dst, 0, off, "sink head"));
	rc = test_worse(rc, tbuf_verify_old(t, dst, end, map_len, "sink tail"));
	return test_worse(rc, tbuf_verify_old(t, src, 0, map_len, "source"));
}

/* CMP_SWP, FETCH_ADD, ATOMIC_WRITE on 8 bytes in the middle of page 1. */
static int run_atomic(struct test_ctx *t, struct op_env *e)
{
	const size_t len = ATOMIC_PAGES * e->psz, pos = e->psz + ATOMIC_OFF;
	const enum op_kind op = e->v->op;
	uint64_t old, want_new, got_old = 0, got_new;
	const char *name;
	int rc;

	rc = tbuf_setup(t, e->req, &e->loc, len, SEED_BG, true, 0);
	if (rc == TEST_PASS)
		rc = tbuf_setup(t, e->resp, &e->rem, len, SEED_DATA, true, 0);
	if (rc != TEST_PASS)
		return rc;
	/* Not zeroes: the old value and the result must be the memory's. */
	if (e->loc.kind == MEM_ODP)
		tbuf_refill(&e->loc);
	if (e->rem.kind == MEM_ODP)
		tbuf_refill(&e->rem);
	old = region_u64(tbuf_old(&e->rem), pos);
	switch (op) {
	case OP_CMP_SWP:
		name = "ATOMIC CMP_SWP";
		want_new = SWAP_VALUE;
		break;
	case OP_FETCH_ADD:
		name = "ATOMIC FETCH_ADD";
		want_new = old + ADD_VALUE;
		break;
	default:
		name = "ATOMIC_WRITE";
		want_new = WRITE_VALUE;
		break;
	}
	test_step(t, "%s at remote offset %zu (old 0x%016" PRIx64 ")", name,
		  pos, old);
	if (op == OP_ATOMIC_WRITE)
		rc = rdma_atomic_write(t, e->req, 0, (uintptr_t)e->rem.addr + pos,
				       e->rem.mr->rkey, WRITE_VALUE,
				       env_watch(e));
	else
		rc = rdma_atomic(t, e->req, 0, op == OP_CMP_SWP ?
				 IBV_WR_ATOMIC_CMP_AND_SWP :
				 IBV_WR_ATOMIC_FETCH_AND_ADD,
				 (uintptr_t)e->rem.addr + pos, e->rem.mr->rkey,
				 old, op == OP_CMP_SWP ? SWAP_VALUE : ADD_VALUE,
				 e->loc.addr + pos, e->loc.mr->lkey,
				 env_watch(e));
	if (rc != TEST_PASS)
		return rc;
	rc = tbuf_check_faults(t, &e->rem, 1, 1);
	if (op != OP_ATOMIC_WRITE)
		rc = test_worse(rc, tbuf_check_faults(t, &e->loc, 1, 1));
	if (rc != TEST_PASS)
		return rc;
	test_step(t, "verify %s result and memory", name);
	memcpy(&got_new, e->rem.addr + pos, sizeof(got_new));
	if (got_new != want_new)
		rc = test_fail(t, "%s: memory holds 0x%016" PRIx64 ", expected 0x%016" PRIx64,
			       name, got_new, want_new);
	if (op != OP_ATOMIC_WRITE) {
		memcpy(&got_old, e->loc.addr + pos, sizeof(got_old));
		if (got_old != old)
			rc = test_fail(t, "%s returned 0x%016" PRIx64 ", memory held 0x%016" PRIx64,
				       name, got_old, old);
		rc = test_worse(rc, tbuf_verify_old(t, &e->loc, 0, pos,
						    "result head"));
	} else {
		rc = test_worse(rc, tbuf_verify_old(t, &e->loc, 0, pos,
						    "local head"));
	}
	rc = test_worse(rc, tbuf_verify_old(t, &e->loc, pos + 8, len,
					    "local tail"));
	rc = test_worse(rc, tbuf_verify_old(t, &e->rem, 0, pos, "target head"));
	return test_worse(rc, tbuf_verify_old(t, &e->rem, pos + 8, len,
					      "target tail"));
}

/*
 * FLUSH of the transfer range: PERSISTENT maps it, GLOBAL touches nothing.
 * Then what the device sees must be the data (device_view_check()): after a
 * PERSISTENT flush of uffd memory without a further fault.  GLOBAL on uffd
 * memory mapped nothing: the CPU checks the range (faulting it through the
 * handler), which keeps that case free of the fixes on every kernel.
 */
static int run_flush(struct test_ctx *t, struct op_env *e)
{
	const size_t off = XFER_OFF, end = XFER_OFF + XFER_LEN;
	const size_t map_len = pages_of(0, end, e->psz) * e->psz;
	const bool persistent = e->v->flush_type == IBV_FLUSH_PERSISTENT;
	int rc;

	/* The local buffer is only for the device's view afterwards. */
	rc = tbuf_setup(t, e->req, &e->loc, map_len, SEED_BG, false, 0);
	if (rc == TEST_PASS)
		rc = tbuf_setup(t, e->resp, &e->rem, map_len, SEED_DATA, false,
				persistent ? IBV_ACCESS_FLUSH_PERSISTENT :
					     IBV_ACCESS_FLUSH_GLOBAL);
	if (rc != TEST_PASS)
		return rc;
	test_step(t, "FLUSH %s of %d bytes", persistent ? "PERSISTENT" : "GLOBAL",
		  XFER_LEN);
	rc = rdma_flush(t, e->req, 0, (uintptr_t)e->rem.addr + off,
			e->rem.mr->rkey, XFER_LEN, e->v->flush_type,
			env_watch(e));
	if (rc != TEST_PASS)
		return rc;
	rc = tbuf_check_faults(t, &e->rem, 0,
			       persistent ? pages_of(off, end, e->psz) : 0);
	if (rc != TEST_PASS)
		return rc;
	if (!persistent && e->rem.kind == MEM_UFFD) {
		test_step(t, "verify the flushed range is unchanged");
		return tbuf_verify_old(t, &e->rem, 0, map_len, "flushed buffer");
	}
	return device_view_check(t, e->req, 0, &e->rem, &e->loc, off, end, 0,
				 map_len, "flushed");
}

/* UD SEND of one packet; the receive buffer (GRH + data) crosses a page. */
static int run_ud(struct test_ctx *t, struct op_env *e)
{
	const size_t len = 2 * e->psz, off = e->psz - UD_BACK;
	const size_t data = off + RDMA_GRH_LEN, end = data + UD_PAYLOAD;
	struct ibv_wc wc;
	int rc;

	rc = tbuf_setup(t, e->req, &e->loc, len, SEED_DATA, false, 0);
	if (rc == TEST_PASS)
		rc = tbuf_setup(t, e->resp, &e->rem, len, SEED_BG, true, 0);
	if (rc != TEST_PASS)
		return rc;
	test_step(t, "post UD RECV of %d bytes at offset %zu",
		  RDMA_GRH_LEN + UD_PAYLOAD, off);
	rc = rdma_post_recv(t, e->resp_qp, e->rem.addr + off,
			    RDMA_GRH_LEN + UD_PAYLOAD, e->rem.mr->lkey, 0x4du);
	if (rc != TEST_PASS)
		return rc;
	test_step(t, "UD SEND %d bytes", UD_PAYLOAD);
	rc = rdma_ud_send(t, e->req, 0, e->loc.addr + data, UD_PAYLOAD,
			  e->loc.mr->lkey, env_watch(e));
	if (rc != TEST_PASS)
		return rc;
	test_step(t, "wait for the UD RECV completion");
	rc = rdma_wait_wc(t, e->resp_cq, "UD RECV", 0x4du, TEST_WC_TIMEOUT_MS,
			  env_watch(e), &wc);
	if (rc != TEST_PASS)
		return rc;
	if (wc.byte_len != RDMA_GRH_LEN + UD_PAYLOAD)
		return test_fail(t, "UD RECV completion: %u bytes, expected %d",
				 wc.byte_len, RDMA_GRH_LEN + UD_PAYLOAD);
	rc = tbuf_check_faults(t, &e->loc, 0, pages_of(data, end, e->psz));
	rc = test_worse(rc, tbuf_check_faults(t, &e->rem, 0,
					      pages_of(off, end, e->psz)));
	if (rc != TEST_PASS)
		return rc;
	/* The GRH bytes [off, data) are the device's; not checked. */
	test_step(t, "verify the received payload");
	rc = pattern_verify(t, e->rem.addr + data, UD_PAYLOAD, SEED_DATA, data,
			    e->psz, "received payload");
	rc = test_worse(rc, tbuf_verify_old(t, &e->rem, 0, off, "recv head"));
	return test_worse(rc, tbuf_verify_old(t, &e->rem, end, len, "recv tail"));
}

static int test_op(struct test_ctx *t)
{
	struct op_env e = { .v = t->arg };
	int rc;

	rc = env_setup(t, &e);
	if (rc != TEST_PASS)
		return rc;
	switch (e.v->op) {
	case OP_SEND:
	case OP_WRITE:
	case OP_READ:
		rc = run_xfer(t, &e);
		break;
	case OP_CMP_SWP:
	case OP_FETCH_ADD:
	case OP_ATOMIC_WRITE:
		rc = run_atomic(t, &e);
		break;
	case OP_FLUSH:
		rc = run_flush(t, &e);
		break;
	case OP_UD_SEND:
		rc = run_ud(t, &e);
		break;
	}
	return env_teardown(t, &e, rc);
}

/* ------------------------------------------------------------------ */
/* ibv_advise_mr                                                        */

#define ADV_PAGES	16
#define ADV_OFF		300	/* the prefetch range starts mid-page 1 ... */
#define ADV_END_BACK	700	/* ... and ends this far before page 15's end */

struct advise_variant {
	enum ibv_advise_mr_advice advice;
	bool sync;		/* IBV_ADVISE_MR_FLAG_FLUSH */
	enum mem_kind kind;	/* MEM_UFFD or MEM_ODP */
};

static const char *advice_str(enum ibv_advise_mr_advice a)
{
	switch (a) {
	case IBV_ADVISE_MR_ADVICE_PREFETCH: return "PREFETCH";
	case IBV_ADVISE_MR_ADVICE_PREFETCH_WRITE: return "PREFETCH_WRITE";
	case IBV_ADVISE_MR_ADVICE_PREFETCH_NO_FAULT: return "PREFETCH_NO_FAULT";
	}
	return "?";
}

/*
 * Prefetch [psz + ADV_OFF, 15 * psz - ADV_END_BACK) of a 16-page MR: pages
 * 1..14 must be faulted through the handler, each installed once, the others
 * never; with PREFETCH_NO_FAULT no page at all (then the CPU checks the
 * buffer).  A synchronous prefetch is done when the call returns; an
 * asynchronous one once the handler installed every page (it only makes them
 * present: the device maps them at its first access, without a fault).
 * Then the device must access the range without any further fault: the
 * handler refuses faults, an RDMA READ and an RDMA WRITE of the range check
 * every byte (device_view_check()).  A plain ODP buffer is dropped after
 * registration and written again by the CPU, so that the device reads the
 * pattern, not zeroes.
 */
static int test_advise(struct test_ctx *t)
{
	const struct advise_variant *v = t->arg;
	const struct rdma_caps_req req = {
		.odp = true,
		.rc_odp_caps = IBV_ODP_SUPPORT_READ | IBV_ODP_SUPPORT_WRITE,
	};
	const size_t psz = page_size(), len = ADV_PAGES * psz;
	const size_t from = psz + ADV_OFF, to = (ADV_PAGES - 1) * psz - ADV_END_BACK;
	const bool no_fault = v->advice == IBV_ADVISE_MR_ADVICE_PREFETCH_NO_FAULT;
	const size_t want = no_fault ? 0 : pages_of(from, to, psz);
	struct ibv_sge sge;
	struct rdma_res r;
	struct tbuf b, loc;
	int rc, ret;

	tbuf_init(&b, v->kind, "buffer");
	tbuf_init(&loc, MEM_PINNED, "local");
	rc = rdma_setup(t, &r, &req);
	if (rc != TEST_PASS)
		return rc;
	rc = tbuf_setup(t, &r, &b, len, SEED_DATA, true, 0);
	if (rc == TEST_PASS)
		rc = tbuf_setup(t, &r, &loc, len, SEED_BG, false, 0);
	if (rc != TEST_PASS)
		goto out;
	if (b.kind == MEM_ODP)
		tbuf_refill(&b);
	test_step(t, "ibv_advise_mr(%s, %s) of %zu bytes at offset %zu",
		  advice_str(v->advice), v->sync ? "FLUSH" : "async", to - from,
		  from);
	sge = (struct ibv_sge){ .addr = (uintptr_t)b.addr + from,
				.length = (uint32_t)(to - from),
				.lkey = b.mr->lkey };
	ret = ibv_advise_mr(r.pd, v->advice,
			    v->sync ? IBV_ADVISE_MR_FLAG_FLUSH : 0, &sge, 1);
	if (ret < 0)
		ret = errno;
	if (ret == EOPNOTSUPP || ret == ENOSYS) {
		rc = test_skip(t, "ibv_advise_mr(%s) on %s: %s",
			       advice_str(v->advice), t->opts->dev, strerror(ret));
		goto out;
	}
	if (ret) {
		rc = test_fail(t, "ibv_advise_mr(%s, %s, %zu bytes): %s",
			       advice_str(v->advice),
			       v->sync ? "FLUSH" : "async", to - from,
			       strerror(ret));
		goto out;
	}
	if (v->kind == MEM_UFFD) {
		if (!v->sync && want) {
			test_step(t, "wait for %zu asynchronous faults, each page installed",
				  want);
			rc = uffd_wait_faults(t, &b.h, want, ASYNC_WAIT_MS);
			if (rc == TEST_PASS)
				rc = uffd_wait_resolved(t, &b.h, want,
						      ASYNC_WAIT_MS);
			if (rc != TEST_PASS)
				goto out;
		}
		/* A synchronous prefetch is complete when the call returns. */
		rc = tbuf_check_faults(t, &b, 1, want);
		if (rc != TEST_PASS)
			goto out;
		if (v->advice == IBV_ADVISE_MR_ADVICE_PREFETCH_WRITE &&
		    uffd_write_faults(&b.h) != want) {
			rc = test_fail(t, "PREFETCH_WRITE: %lu of %zu faults flagged WRITE",
				       uffd_write_faults(&b.h), want);
			goto out;
		}
		if (v->advice == IBV_ADVISE_MR_ADVICE_PREFETCH &&
		    uffd_write_faults(&b.h)) {
			rc = test_fail(t, "PREFETCH (read) raised %lu write faults",
				       uffd_write_faults(&b.h));
			goto out;
		}
	}
	if (no_fault) {
		/* Nothing was mapped: the CPU sees the handler's data. */
		test_step(t, "CPU verify");
		rc = tbuf_verify_old(t, &b, 0, len, "buffer");
	} else {
		/* Pages 0 and 15 stay missing: only 1..14 are checked. */
		rc = device_view_check(t, &r, 0, &b, &loc, from, to, psz,
				       (ADV_PAGES - 1) * psz, "prefetched");
	}
out:
	test_step(t, "teardown");
	rc = test_worse(rc, tbuf_teardown(t, &b));
	rc = test_worse(rc, tbuf_teardown(t, &loc));
	return test_worse(rc, rdma_teardown(t, &r));
}

/* ------------------------------------------------------------------ */

#define V(...) (&(const struct op_variant){ __VA_ARGS__ })
#define A(...) (&(const struct advise_variant){ __VA_ARGS__ })

static const struct test_case tests[] = {
	/* SEND/RECV */
	{ .name = "send_recv_uffd_recv", .fn = test_op,
	  .arg = V(.op = OP_SEND, .local = MEM_PINNED, .remote = MEM_UFFD),
	  .desc = "RC SEND into a receive buffer on uffd-missing memory",
	  .needs = FIX_UFFD | FIX_COPY },
	{ .name = "send_recv_uffd_send", .fn = test_op,
	  .arg = V(.op = OP_SEND, .local = MEM_UFFD, .remote = MEM_PINNED),
	  .desc = "RC SEND from a send buffer on uffd-missing memory",
	  .needs = FIX_UFFD | FIX_COPY },
	{ .name = "send_recv_odp", .fn = test_op,
	  .arg = V(.op = OP_SEND, .local = MEM_ODP, .remote = MEM_ODP),
	  .desc = "unaligned multi-packet RC SEND between plain ODP buffers (rxe copy fix)",
	  .needs = FIX_COPY },
	{ .name = "send_recv_odp_aligned", .fn = test_op,
	  .arg = V(.op = OP_SEND, .local = MEM_ODP, .remote = MEM_ODP,
		   .aligned = true),
	  .desc = "regression: one-packet RC SEND at a page start between plain ODP buffers" },
	{ .name = "send_recv_pinned", .fn = test_op,
	  .arg = V(.op = OP_SEND, .local = MEM_PINNED, .remote = MEM_PINNED),
	  .desc = "regression: RC SEND between pinned MRs" },
	/* RDMA WRITE (the smoke test has the uffd sink) */
	{ .name = "rdma_write_uffd_src", .fn = test_op,
	  .arg = V(.op = OP_WRITE, .local = MEM_UFFD, .remote = MEM_PINNED),
	  .desc = "RDMA WRITE from a local ODP source on uffd-missing memory",
	  .needs = FIX_UFFD | FIX_COPY },
	{ .name = "rdma_write_pinned", .fn = test_op,
	  .arg = V(.op = OP_WRITE, .local = MEM_PINNED, .remote = MEM_PINNED),
	  .desc = "regression: RDMA WRITE between pinned MRs" },
	/* RDMA READ (the smoke test has the uffd source) */
	{ .name = "rdma_read_uffd_sink", .fn = test_op,
	  .arg = V(.op = OP_READ, .local = MEM_UFFD, .remote = MEM_PINNED),
	  .desc = "RDMA READ into a local ODP sink on uffd-missing memory",
	  .needs = FIX_UFFD | FIX_COPY },
	{ .name = "rdma_read_odp", .fn = test_op,
	  .arg = V(.op = OP_READ, .local = MEM_ODP, .remote = MEM_ODP),
	  .desc = "unaligned multi-packet RDMA READ between plain ODP buffers (rxe copy fix)",
	  .needs = FIX_COPY },
	{ .name = "rdma_read_odp_aligned", .fn = test_op,
	  .arg = V(.op = OP_READ, .local = MEM_ODP, .remote = MEM_ODP,
		   .aligned = true),
	  .desc = "regression: one-packet RDMA READ at a page start between plain ODP buffers" },
	{ .name = "rdma_read_pinned", .fn = test_op,
	  .arg = V(.op = OP_READ, .local = MEM_PINNED, .remote = MEM_PINNED),
	  .desc = "regression: RDMA READ between pinned MRs" },
	/* Atomics */
	{ .name = "atomic_cmp_swp_uffd", .fn = test_op,
	  .arg = V(.op = OP_CMP_SWP, .local = MEM_PINNED, .remote = MEM_UFFD),
	  .desc = "ATOMIC CMP_SWP on uffd-missing memory",
	  .needs = FIX_UFFD },
	{ .name = "atomic_fetch_add_uffd", .fn = test_op,
	  .arg = V(.op = OP_FETCH_ADD, .local = MEM_PINNED, .remote = MEM_UFFD),
	  .desc = "ATOMIC FETCH_ADD on uffd-missing memory",
	  .needs = FIX_UFFD },
	{ .name = "atomic_fetch_add_uffd_result", .fn = test_op,
	  .arg = V(.op = OP_FETCH_ADD, .local = MEM_UFFD, .remote = MEM_PINNED),
	  .desc = "ATOMIC FETCH_ADD returning into a local ODP MR on uffd-missing memory",
	  .needs = FIX_UFFD | FIX_COPY },
	{ .name = "atomic_cmp_swp_odp", .fn = test_op,
	  .arg = V(.op = OP_CMP_SWP, .local = MEM_ODP, .remote = MEM_ODP),
	  .desc = "ATOMIC CMP_SWP on plain ODP memory written again after DONTNEED: old value and result (rxe copy fix)",
	  .needs = FIX_COPY },
	{ .name = "atomic_fetch_add_odp", .fn = test_op,
	  .arg = V(.op = OP_FETCH_ADD, .local = MEM_ODP, .remote = MEM_ODP),
	  .desc = "ATOMIC FETCH_ADD on plain ODP memory written again after DONTNEED: old value and result (rxe copy fix)",
	  .needs = FIX_COPY },
	{ .name = "atomic_fetch_add_pinned", .fn = test_op,
	  .arg = V(.op = OP_FETCH_ADD, .local = MEM_PINNED, .remote = MEM_PINNED),
	  .desc = "regression: ATOMIC FETCH_ADD on a pinned MR" },
	{ .name = "atomic_write_uffd", .fn = test_op,
	  .arg = V(.op = OP_ATOMIC_WRITE, .local = MEM_PINNED, .remote = MEM_UFFD),
	  .desc = "ATOMIC_WRITE (ibv_wr_atomic_write) on uffd-missing memory",
	  .needs = FIX_UFFD },
	{ .name = "atomic_write_odp", .fn = test_op,
	  .arg = V(.op = OP_ATOMIC_WRITE, .local = MEM_PINNED, .remote = MEM_ODP),
	  .desc = "regression: ATOMIC_WRITE on plain ODP memory written again after DONTNEED" },
	/* FLUSH */
	{ .name = "flush_persistent_uffd", .fn = test_op,
	  .arg = V(.op = OP_FLUSH, .local = MEM_PINNED, .remote = MEM_UFFD,
		   .flush_type = IBV_FLUSH_PERSISTENT),
	  .desc = "FLUSH PERSISTENT of an ODP range on uffd-missing memory maps it: the device then reads and writes it without a fault",
	  .needs = FIX_UFFD | FIX_COPY },
	{ .name = "flush_global_uffd", .fn = test_op,
	  .arg = V(.op = OP_FLUSH, .local = MEM_PINNED, .remote = MEM_UFFD,
		   .flush_type = IBV_FLUSH_GLOBAL),
	  .desc = "FLUSH GLOBAL of an ODP range on uffd-missing memory: no fault, success" },
	{ .name = "flush_persistent_odp", .fn = test_op,
	  .arg = V(.op = OP_FLUSH, .local = MEM_PINNED, .remote = MEM_ODP,
		   .flush_type = IBV_FLUSH_PERSISTENT),
	  .desc = "FLUSH PERSISTENT of a plain ODP range, then the device reads and writes it (rxe copy fix)",
	  .needs = FIX_COPY },
	{ .name = "flush_global_pinned", .fn = test_op,
	  .arg = V(.op = OP_FLUSH, .local = MEM_PINNED, .remote = MEM_PINNED,
		   .flush_type = IBV_FLUSH_GLOBAL),
	  .desc = "regression: FLUSH GLOBAL of a pinned MR, then the device reads and writes it (PERSISTENT needs pmem)" },
	/* UD */
	{ .name = "ud_send_recv_uffd_recv", .fn = test_op,
	  .arg = V(.op = OP_UD_SEND, .local = MEM_PINNED, .remote = MEM_UFFD),
	  .desc = "UD SEND into a receive buffer on uffd-missing memory",
	  .needs = FIX_UFFD | FIX_COPY },
	{ .name = "ud_send_recv_odp", .fn = test_op,
	  .arg = V(.op = OP_UD_SEND, .local = MEM_ODP, .remote = MEM_ODP),
	  .desc = "UD SEND between plain ODP buffers, payload off page start (rxe copy fix)",
	  .needs = FIX_COPY },
	{ .name = "ud_send_recv_pinned", .fn = test_op,
	  .arg = V(.op = OP_UD_SEND, .local = MEM_PINNED, .remote = MEM_PINNED),
	  .desc = "regression: UD SEND between pinned MRs" },
	/* ibv_advise_mr */
	{ .name = "advise_prefetch_sync_uffd", .fn = test_advise,
	  .arg = A(.advice = IBV_ADVISE_MR_ADVICE_PREFETCH, .sync = true,
		   .kind = MEM_UFFD),
	  .desc = "synchronous PREFETCH (read) of part of an ODP MR on uffd-missing memory: on return the device reads and writes it without a fault",
	  .needs = FIX_UFFD | FIX_COPY },
	{ .name = "advise_prefetch_async_uffd", .fn = test_advise,
	  .arg = A(.advice = IBV_ADVISE_MR_ADVICE_PREFETCH, .kind = MEM_UFFD),
	  .desc = "asynchronous PREFETCH: every page installed within the bound, then the device reads and writes them without a fault",
	  .needs = FIX_UFFD | FIX_COPY },
	{ .name = "advise_prefetch_write_async_uffd", .fn = test_advise,
	  .arg = A(.advice = IBV_ADVISE_MR_ADVICE_PREFETCH_WRITE,
		   .kind = MEM_UFFD),
	  .desc = "asynchronous PREFETCH_WRITE: every page installed by a write fault, then the device reads and writes them without a fault",
	  .needs = FIX_UFFD | FIX_COPY },
	{ .name = "advise_prefetch_no_fault_sync_uffd", .fn = test_advise,
	  .arg = A(.advice = IBV_ADVISE_MR_ADVICE_PREFETCH_NO_FAULT, .sync = true,
		   .kind = MEM_UFFD),
	  .desc = "synchronous PREFETCH_NO_FAULT on uffd-missing memory raises no userfault" },
	{ .name = "advise_prefetch_no_fault_async_uffd", .fn = test_advise,
	  .arg = A(.advice = IBV_ADVISE_MR_ADVICE_PREFETCH_NO_FAULT,
		   .kind = MEM_UFFD),
	  .desc = "asynchronous PREFETCH_NO_FAULT on uffd-missing memory raises no userfault" },
	{ .name = "advise_prefetch_write_sync_odp", .fn = test_advise,
	  .arg = A(.advice = IBV_ADVISE_MR_ADVICE_PREFETCH_WRITE, .sync = true,
		   .kind = MEM_ODP),
	  .desc = "synchronous PREFETCH_WRITE of patterned plain ODP memory, then the device reads and writes it (rxe copy fix)",
	  .needs = FIX_COPY },
	{ .name = "advise_prefetch_async_odp", .fn = test_advise,
	  .arg = A(.advice = IBV_ADVISE_MR_ADVICE_PREFETCH, .kind = MEM_ODP),
	  .desc = "asynchronous PREFETCH of patterned plain ODP memory, then the device reads and writes it (rxe copy fix)",
	  .needs = FIX_COPY },
	/* Two RDMA hosts */
	{ .name = "rdma_write_2host_uffd", .fn = test_op,
	  .arg = V(.op = OP_WRITE, .local = MEM_PINNED, .remote = MEM_UFFD,
		   .two_host = true),
	  .desc = "rxea -> rxeb RDMA WRITE into uffd-missing memory",
	  .needs = FIX_UFFD | FIX_COPY },
	{ .name = "rdma_read_2host_uffd", .fn = test_op,
	  .arg = V(.op = OP_READ, .local = MEM_PINNED, .remote = MEM_UFFD,
		   .two_host = true),
	  .desc = "rxea -> rxeb RDMA READ from uffd-missing memory",
	  .needs = FIX_UFFD | FIX_COPY },
	{ .name = "send_recv_2host_uffd", .fn = test_op,
	  .arg = V(.op = OP_SEND, .local = MEM_PINNED, .remote = MEM_UFFD,
		   .two_host = true),
	  .desc = "rxea -> rxeb SEND into a receive buffer on uffd-missing memory",
	  .needs = FIX_UFFD | FIX_COPY },
	{ .name = "rdma_write_2host_pinned", .fn = test_op,
	  .arg = V(.op = OP_WRITE, .local = MEM_PINNED, .remote = MEM_PINNED,
		   .two_host = true),
	  .desc = "regression: rxea -> rxeb RDMA WRITE between pinned MRs" },
};

int main(int argc, char **argv)
{
	return test_main(argc, argv, tests, ARRAY_SIZE(tests));
}
