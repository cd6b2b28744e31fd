// SPDX-License-Identifier: GPL-2.0
/*
 * Who waits on userspace: a device fault on userfaultfd memory that nobody
 * answers must not hold what other users share, and no teardown may wait for
 * it (Documentation/design.md, "Who sleeps on userspace").
 *
 * The fixture is a "stall": an RC (or UD, or UC) QP pair, a pinned buffer with a
 * position-dependent pattern, and uffd-missing memory under an ODP MR whose
 * uffd nobody reads.  A fault is made pending in one context:
 *
 *   resp   RDMA WRITE pinned -> uffd page (the responder faults)
 *   req    RDMA WRITE uffd page -> pinned (the requester faults)
 *   comp   RDMA READ pinned -> uffd page (the completer faults)
 *   ud     UD SEND from a uffd page (the requester faults, holding an AH)
 *   apf    asynchronous ibv_advise_mr(PREFETCH_WRITE)
 *   spf    synchronous ibv_advise_mr(PREFETCH_WRITE, FLUSH) in a thread
 *   spf_main  the same in the process's only thread; another process (the
 *          uffd holder) reads the fault's message and never answers
 *
 * and the fault is known to be pending once the uffd has a message.  Then:
 *
 *   isolation_*    another process's RDMA WRITEs on the same device complete,
 *                  each within VICTIM_BOUND_MS (60 s), while the stalling
 *                  process has DEFER_STALLS (4096) faults pending in that
 *                  context; after it is killed its resources are
 *                  released.  The same WRITEs run once before
 *                  the staller starts (unloaded); with ISOLATION_CSV=FILE in
 *                  the environment every WRITE's latency, unloaded and
 *                  loaded, is appended to FILE in perf/'s CSV format (make
 *                  perf reports them; no test judges a timing)
 *   dereg_*, destroy_qp_*, destroy_ah_ud
 *                  the teardown returns within TEARDOWN_BOUND_S although the
 *                  fault stays pending
 *   kill_*_holder  SIGKILL the process while another process holds its uffd
 *                  and never answers: it is reaped and its RDMA resources
 *                  are released while the holder still holds the uffd
 *   link_delete_kill
 *                  rdma link delete of a device of the test's own (rxe over
 *                  a veth) while a responder fault is pending and another
 *                  process holds the uffd: rxe has no disassociate, so the
 *                  removal waits for the process; it ends once the process
 *                  is killed
 *   destroy_qp_flood
 *                  (no fault) a UD QP that two other QPs keep sending to is
 *                  destroyed, 200 times: each destroy returns within
 *                  TEARDOWN_BOUND_S, although packets arrive during it
 *   wake_only_resp, wake_only_spf
 *                  the handler answers every fault with UFFDIO_WAKE only
 *                  (UFFD_ACT_WAKE), so the access faults again and again: an
 *                  RDMA WRITE on a requester with rnr_retry 3 ends with
 *                  an RNR retry exhaustion (the responder answers each try
 *                  with an RNR NAK while its fault is pending); a
 *                  synchronous prefetch stays in its system call; either
 *                  process is reaped once killed and its resources freed
 *   sqd_resp_pending
 *                  a responder QP taken through SQD (max_dest_rd_atomic
 *                  changed) keeps its pending fault: once answered, the
 *                  WRITE completes and every byte arrived
 *   uc_write_deferred, uc_write_imm_deferred
 *                  an RDMA WRITE (followed by a zero-length WRITE with
 *                  immediate, which UC's order puts behind it) or a WRITE
 *                  with immediate on a UC QP pair into the uffd page: UC
 *                  has no RNR NAK, so the responder keeps the packet while
 *                  the fault is pending (and must not keep the MR reference
 *                  check_rkey() took for it); once answered, the immediate
 *                  arrives, every byte is the device's, the MR's dereg and
 *                  the QPs' destroy return within TEARDOWN_BOUND_S (a kept
 *                  reference makes the dereg wait rxe's 50 s pool timeout)
 *
 * The time bounds are generous limits for "did not wait for the handler",
 * not timings: the waits they guard are 50 s (rxe's pool timeout) or
 * forever.
 */
#include "lib/verbs.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define ODP_ACCESS	(IBV_ACCESS_ON_DEMAND | IBV_ACCESS_LOCAL_WRITE | \
			 IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_READ)
#define FAULT_WAIT_MS		20000
#define TEARDOWN_BOUND_S	10
/*
 * Another process's WRITE: a liveness bound (without the isolation it waits
 * for the handler, forever), not a timing.  While the 4096 stalled QPs'
 * RNR backoff still grows, the first WRITE took 16.7 and 19.7 s in quiet
 * make check runs (release kernel, TCG, 2 vCPUs), more on a loaded host.
 */
#define VICTIM_BOUND_MS		60000
#define RELEASE_BOUND_S		30
#define VICTIM_WRITES		16
#define SEED_PIN		0x5au
#define SEED_ANSWER		0xc3u
#define WR_ID			0xde1u

enum where { W_RESP, W_REQ, W_COMP, W_UD, W_APF, W_SPF, W_SPF_MAIN };

static const char *const where_name[] = {
	[W_RESP] = "responder", [W_REQ] = "requester", [W_COMP] = "completer",
	[W_UD] = "UD requester", [W_APF] = "asynchronous prefetch",
	[W_SPF] = "synchronous prefetch",
	[W_SPF_MAIN] = "synchronous prefetch in the process's only thread",
};

struct stall {
	struct rdma_res r;
	enum ibv_qp_type qp_type;	/* W_RESP on UC QPs: IBV_QPT_UC */
	bool up;
	int uffd;
	size_t psz, npages, len;
	void *umem, *pin;
	struct ibv_mr *umr, *pmr;
	struct rdma_pair *pairs;	/* isolation: one pair per fault */
	size_t npairs;
	pthread_t spf_thread;		/* W_SPF */
	bool spf_started;
	size_t spf_page;
	int spf_err;
};

static size_t stall_count(void)
{
	const char *v = getenv("DEFER_STALLS");
	long n = v ? strtol(v, NULL, 10) : 4096;

	return n > 0 && n <= 65536 ? (size_t)n : 4096;
}

static void stall_init(struct stall *s)
{
	*s = (struct stall){ .uffd = -1, .psz = page_size() };
}

/* The QPs, the pinned buffer and npages of uffd-missing ODP memory. */
static int stall_setup(struct test_ctx *t, struct stall *s, enum where w,
		       size_t npages)
{
	struct rdma_caps_req req = { .odp = true };
	int rc;

	if (w == W_UD) {
		req.qp_type = IBV_QPT_UD;
		req.ud_odp_caps = IBV_ODP_SUPPORT_SEND;
	} else if (s->qp_type == IBV_QPT_UC) {
		/* rxe advertises no uc_odp_caps, but lets UC use ODP MRs */
		req.qp_type = IBV_QPT_UC;
	} else {
		req.rc_odp_caps = IBV_ODP_SUPPORT_WRITE | IBV_ODP_SUPPORT_READ;
	}
	rc = rdma_setup(t, &s->r, &req);
	if (rc != TEST_PASS)
		return rc;
	s->up = true;
	if (s->uffd < 0) {
		rc = uffd_open(t, &s->uffd);
		if (rc != TEST_PASS)
			return rc;
	}
	s->npages = npages;
	s->len = npages * s->psz;
	test_step(t, "pinned buffer and MR");
	rc = mem_map(t, s->len, &s->pin, "pinned");
	if (rc != TEST_PASS)
		return rc;
	pattern_fill(s->pin, s->len, SEED_PIN, 0, s->psz);
	rc = rdma_reg_mr(t, &s->r, s->pin, s->len, IBV_ACCESS_LOCAL_WRITE |
			 IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_READ,
			 "pinned", &s->pmr);
	if (rc != TEST_PASS)
		return rc;
	test_step(t, "uffd-missing memory nobody answers, and its ODP MR");
	rc = mem_map(t, s->len, &s->umem, "uffd");
	if (rc != TEST_PASS)
		return rc;
	rc = uffd_register_missing(t, s->uffd, s->umem, s->len);
	if (rc != TEST_PASS)
		return rc;
	return rdma_reg_mr(t, &s->r, s->umem, s->len, ODP_ACCESS, "uffd (ODP)",
			   &s->umr);
}

static void *spf_thread(void *arg)
{
	struct stall *s = arg;
	struct ibv_sge sge = {
		.addr = (uintptr_t)s->umem + s->spf_page * s->psz,
		.length = (uint32_t)s->psz, .lkey = s->umr->lkey,
	};

	s->spf_err = ibv_advise_mr(s->r.pd, IBV_ADVISE_MR_ADVICE_PREFETCH_WRITE,
				   IBV_ADVISE_MR_FLAG_FLUSH, &sge, 1);
	return NULL;
}

/* Make the fault of page i pending in context w, on qp (RC: qp -> peer). */
static int stall_start(struct test_ctx *t, struct stall *s, enum where w,
		       size_t i, struct ibv_qp *qp)
{
	uint8_t *u = (uint8_t *)s->umem + i * s->psz;
	uint8_t *p = (uint8_t *)s->pin + i * s->psz;
	struct ibv_sge sge = { .length = (uint32_t)s->psz };
	struct ibv_send_wr wr = {
		.wr_id = WR_ID, .sg_list = &sge, .num_sge = 1,
		.send_flags = IBV_SEND_SIGNALED,
	};
	struct ibv_send_wr *bad = NULL;
	int err;

	switch (w) {
	case W_RESP:	/* pinned -> uffd page: the responder faults */
	case W_REQ:	/* uffd page -> pinned: the requester faults */
	case W_COMP:	/* READ pinned -> uffd page: the completer faults */
		sge.addr = (uintptr_t)(w == W_RESP ? p : u);
		sge.lkey = (w == W_RESP ? s->pmr : s->umr)->lkey;
		wr.opcode = w == W_COMP ? IBV_WR_RDMA_READ : IBV_WR_RDMA_WRITE;
		wr.wr.rdma.remote_addr = (uintptr_t)(w == W_RESP ? u : p);
		wr.wr.rdma.rkey = (w == W_RESP ? s->umr : s->pmr)->rkey;
		break;
	case W_UD:
		err = rdma_post_recv(t, s->r.qp[1], p, (uint32_t)s->psz,
				     s->pmr->lkey, WR_ID + 1);
		if (err != TEST_PASS)
			return err;
		sge.addr = (uintptr_t)u;
		sge.length = (uint32_t)(s->psz - RDMA_GRH_LEN);
		sge.lkey = s->umr->lkey;
		wr.opcode = IBV_WR_SEND;
		wr.wr.ud.ah = s->r.ah;
		wr.wr.ud.remote_qpn = s->r.qp[1]->qp_num;
		wr.wr.ud.remote_qkey = RDMA_UD_QKEY;
		break;
	case W_APF:
		sge.addr = (uintptr_t)u;
		sge.lkey = s->umr->lkey;
		err = ibv_advise_mr(s->r.pd,
				    IBV_ADVISE_MR_ADVICE_PREFETCH_WRITE, 0,
				    &sge, 1);
		if (err)
			return test_fail(t, "ibv_advise_mr(PREFETCH_WRITE, async, page %zu): %s",
					 i, strerror(err));
		return TEST_PASS;
	case W_SPF_MAIN:	/* the staller's own call: spf_main() */
		return TEST_PASS;
	case W_SPF:
		s->spf_page = i;
		err = pthread_create(&s->spf_thread, NULL, spf_thread, s);
		if (err)
			return test_fail(t, "pthread_create(synchronous prefetch): %s",
					 strerror(err));
		s->spf_started = true;
		return TEST_PASS;
	}
	err = ibv_post_send(qp, &wr, &bad);
	if (err)
		return test_fail(t, "ibv_post_send(%s, page %zu): %s",
				 where_name[w], i, strerror(err));
	return TEST_PASS;
}

/* The fault reached the handler: the uffd has a message nobody reads. */
static int stall_wait_fault(struct test_ctx *t, struct stall *s, enum where w)
{
	struct pollfd pfd = { .fd = s->uffd, .events = POLLIN };
	int n;

	test_step(t, "wait for the %s's fault on the uffd", where_name[w]);
	n = poll(&pfd, 1, FAULT_WAIT_MS);
	if (n < 0)
		return test_fail(t, "poll(uffd): %s", strerror(errno));
	if (n == 0)
		return test_fail(t, "the uffd saw no fault within %d ms of the %s's access (stock kernel?)",
				 FAULT_WAIT_MS, where_name[w]);
	return TEST_PASS;
}

/* Answer every page with the answer pattern (wakes every fault). */
static int stall_answer(struct test_ctx *t, struct stall *s)
{
	struct uffdio_copy copy;
	uint8_t *src;
	int rc = TEST_PASS;

	src = aligned_alloc(s->psz, s->len);
	if (!src)
		return test_fail(t, "aligned_alloc(answer): %s", strerror(errno));
	pattern_fill(src, s->len, SEED_ANSWER, 0, s->psz);
	copy = (struct uffdio_copy){ .dst = (uintptr_t)s->umem,
				     .src = (uintptr_t)src, .len = s->len };
	if (ioctl(s->uffd, UFFDIO_COPY, &copy) && errno != EEXIST)
		rc = test_fail(t, "ioctl(UFFDIO_COPY, all %zu pages): %s",
			       s->npages, strerror(errno));
	free(src);
	return rc;
}

static int stall_teardown(struct test_ctx *t, struct stall *s)
{
	int rc = TEST_PASS;
	size_t i;

	/* Closing the uffd wakes every fault: they fault zero pages. */
	if (s->uffd >= 0 && close(s->uffd))
		rc = test_fail(t, "close(uffd): %s", strerror(errno));
	s->uffd = -1;
	if (s->spf_started) {
		int err = pthread_join(s->spf_thread, NULL);

		if (err)
			rc = test_fail(t, "pthread_join(synchronous prefetch): %s",
				       strerror(err));
		s->spf_started = false;
	}
	for (i = 0; i < s->npairs; i++)
		rc = test_worse(rc, rdma_pair_destroy(t, &s->pairs[i]));
	free(s->pairs);
	s->pairs = NULL;
	s->npairs = 0;
	rc = test_worse(rc, rdma_dereg_mr(t, &s->umr, "uffd (ODP)"));
	rc = test_worse(rc, rdma_dereg_mr(t, &s->pmr, "pinned"));
	if (s->up)
		rc = test_worse(rc, rdma_teardown(t, &s->r));
	s->up = false;
	if (s->umem)
		rc = test_worse(rc, mem_unmap(t, &s->umem, s->len, "uffd"));
	if (s->pin)
		rc = test_worse(rc, mem_unmap(t, &s->pin, s->len, "pinned"));
	return rc;
}

/* Fail when what (started at t0) took longer than bound s: why it did. */
static int bound_check(struct test_ctx *t, const char *what, double t0,
		       unsigned int bound, const char *why)
{
	double dt = test_now_s() - t0;

	if (dt > bound)
		return test_fail(t, "%s returned after %.1f s, more than %u s: %s",
				 what, dt, bound, why);
	tap_diag("%s returned after %.3f s", what, dt);
	return TEST_PASS;
}

static int pending_bound_check(struct test_ctx *t, const char *what, double t0)
{
	return bound_check(t, what, t0, TEARDOWN_BOUND_S,
			   "it waited for the handler");
}

/* ------------------------------------------------------------------ */
/* Teardown with a fault pending                                        */

enum action { A_DEREG, A_DESTROY_QP, A_DESTROY_AH };

static int teardown_pending(struct test_ctx *t, enum where w, enum action a)
{
	struct stall s;
	struct ibv_qp *qp;
	double t0;
	int rc, err;

	stall_init(&s);
	rc = stall_setup(t, &s, w, 1);
	if (rc != TEST_PASS)
		goto out;
	rc = stall_start(t, &s, w, 0, s.r.qp[0]);
	if (rc != TEST_PASS)
		goto out;
	rc = stall_wait_fault(t, &s, w);
	if (rc != TEST_PASS)
		goto out;
	t0 = test_now_s();
	switch (a) {
	case A_DEREG:
		test_step(t, "ibv_dereg_mr(uffd MR) with the %s's fault pending",
			  where_name[w]);
		err = ibv_dereg_mr(s.umr);
		if (err) {
			rc = test_fail(t, "ibv_dereg_mr(uffd MR): %s", strerror(err));
			goto out;
		}
		s.umr = NULL;
		rc = pending_bound_check(t, "ibv_dereg_mr", t0);
		break;
	case A_DESTROY_QP:
		/* the QP whose work faults: the responder is qp[1] */
		qp = w == W_RESP ? s.r.qp[1] : s.r.qp[0];
		test_step(t, "ibv_destroy_qp with the %s's fault pending",
			  where_name[w]);
		err = ibv_destroy_qp(qp);
		if (err) {
			rc = test_fail(t, "ibv_destroy_qp: %s", strerror(err));
			goto out;
		}
		s.r.qp[w == W_RESP ? 1 : 0] = NULL;
		rc = pending_bound_check(t, "ibv_destroy_qp", t0);
		break;
	case A_DESTROY_AH:
		test_step(t, "ibv_destroy_ah with the UD send's fault pending");
		err = ibv_destroy_ah(s.r.ah);
		if (err) {
			rc = test_fail(t, "ibv_destroy_ah: %s", strerror(err));
			goto out;
		}
		s.r.ah = NULL;
		rc = pending_bound_check(t, "ibv_destroy_ah", t0);
		break;
	}
out:
	return test_worse(rc, stall_teardown(t, &s));
}

static int test_dereg(struct test_ctx *t)
{
	return teardown_pending(t, *(const enum where *)t->arg, A_DEREG);
}

static int test_destroy_qp(struct test_ctx *t)
{
	return teardown_pending(t, *(const enum where *)t->arg, A_DESTROY_QP);
}

static int test_destroy_ah_ud(struct test_ctx *t)
{
	return teardown_pending(t, W_UD, A_DESTROY_AH);
}

/* ------------------------------------------------------------------ */
/* A QP through SQD keeps its responder's pending fault                 */

/*
 * Move to SQD, change attributes in it (extra_mask, from *extra) or leave
 * it; leaving or changing is refused while the send queue drains: retry on
 * EINVAL for 10 s.
 */
static int modify_sqd(struct test_ctx *t, struct ibv_qp *qp,
		      enum ibv_qp_state st, int extra_mask,
		      const struct ibv_qp_attr *extra)
{
	struct ibv_qp_attr attr = extra ? *extra : (struct ibv_qp_attr){ 0 };
	double deadline = test_now_s() + 10;
	int err;

	attr.qp_state = st;
	for (;;) {
		err = ibv_modify_qp(qp, &attr, IBV_QP_STATE | extra_mask);
		if (!err)
			return TEST_PASS;
		if (err != EINVAL || test_now_s() > deadline)
			return test_fail(t, "ibv_modify_qp(state %d, mask 0x%x): %s",
					 (int)st, extra_mask, strerror(err));
		test_sleep_us(10000);
	}
}

static int test_sqd_resp_pending(struct test_ctx *t)
{
	const struct ibv_qp_attr rd_atomic = { .max_dest_rd_atomic = 2 };
	struct ibv_wc wc;
	struct stall s;
	int rc;

	stall_init(&s);
	rc = stall_setup(t, &s, W_RESP, 1);
	if (rc != TEST_PASS)
		goto out;
	rc = stall_start(t, &s, W_RESP, 0, s.r.qp[0]);
	if (rc != TEST_PASS)
		goto out;
	rc = stall_wait_fault(t, &s, W_RESP);
	if (rc != TEST_PASS)
		goto out;
	test_step(t, "responder QP: RTS -> SQD, max_dest_rd_atomic 2, SQD -> RTS");
	rc = modify_sqd(t, s.r.qp[1], IBV_QPS_SQD, 0, NULL);
	if (rc == TEST_PASS)
		rc = modify_sqd(t, s.r.qp[1], IBV_QPS_SQD,
				IBV_QP_MAX_DEST_RD_ATOMIC, &rd_atomic);
	if (rc == TEST_PASS)
		rc = modify_sqd(t, s.r.qp[1], IBV_QPS_RTS, 0, NULL);
	if (rc != TEST_PASS)
		goto out;
	test_step(t, "answer the fault");
	rc = stall_answer(t, &s);
	if (rc != TEST_PASS)
		goto out;
	test_step(t, "the WRITE completes");
	rc = rdma_wait_wc(t, s.r.cq[0], "RDMA WRITE", WR_ID, TEST_WC_TIMEOUT_MS,
			  NULL, &wc);
	if (rc != TEST_PASS)
		goto out;
	test_step(t, "every byte arrived");
	rc = pattern_verify(t, s.umem, s.psz, SEED_PIN, 0, s.psz, "WRITE target");
out:
	return test_worse(rc, stall_teardown(t, &s));
}

/* ------------------------------------------------------------------ */
/* A UC responder keeps a deferred WRITE, not its MR reference          */

#define UC_IMM		0x0dfe11edu

/*
 * On qp[0], signaled: the RDMA WRITE (op) of the pinned page into the uffd
 * page; after a plain WRITE a zero-length WRITE with immediate, which the
 * UC responder takes only after the WRITE (a UC QP's packets are processed
 * in order).  The immediate consumes the receive posted on qp[1] first.
 */
static int uc_post(struct test_ctx *t, struct stall *s, enum ibv_wr_opcode op)
{
	struct ibv_sge sge = { .addr = (uintptr_t)s->pin,
			       .length = (uint32_t)s->psz,
			       .lkey = s->pmr->lkey };
	struct ibv_send_wr wr[2] = {
		{ .wr_id = WR_ID, .sg_list = &sge, .num_sge = 1, .opcode = op,
		  .send_flags = IBV_SEND_SIGNALED },
		{ .wr_id = WR_ID + 2, .opcode = IBV_WR_RDMA_WRITE_WITH_IMM,
		  .send_flags = IBV_SEND_SIGNALED },
	};
	struct ibv_send_wr *bad = NULL;
	int rc, err;

	rc = rdma_post_recv(t, s->r.qp[1], s->pin, (uint32_t)s->psz,
			    s->pmr->lkey, WR_ID + 1);
	if (rc != TEST_PASS)
		return rc;
	wr[0].wr.rdma.remote_addr = (uintptr_t)s->umem;
	wr[0].wr.rdma.rkey = s->umr->rkey;
	if (op == IBV_WR_RDMA_WRITE_WITH_IMM) {
		wr[0].imm_data = htonl(UC_IMM);
	} else {
		wr[0].next = &wr[1];
		wr[1].imm_data = htonl(UC_IMM);
		wr[1].wr.rdma.remote_addr = (uintptr_t)s->umem;
		wr[1].wr.rdma.rkey = s->umr->rkey;
	}
	test_step(t, "UC %s of the pinned page into the uffd page%s",
		  op == IBV_WR_RDMA_WRITE ? "RDMA WRITE" : "RDMA WRITE with immediate",
		  op == IBV_WR_RDMA_WRITE ? ", then a zero-length one with immediate" : "");
	err = ibv_post_send(s->r.qp[0], wr, &bad);
	if (err)
		return test_fail(t, "ibv_post_send(UC RDMA WRITE, QP 0x%x): %s",
				 s->r.qp[0]->qp_num, strerror(err));
	return TEST_PASS;
}

/* The immediate's receive completion on qp[1]: len bytes were written. */
static int uc_wait_imm(struct test_ctx *t, struct stall *s, uint32_t len)
{
	struct ibv_wc wc;
	int rc;

	test_step(t, "the immediate arrives at the UC responder");
	rc = rdma_wait_wc(t, s->r.cq[1], "UC receive of the immediate",
			  WR_ID + 1, TEST_WC_TIMEOUT_MS, NULL, &wc);
	if (rc != TEST_PASS)
		return rc;
	if (wc.opcode != IBV_WC_RECV_RDMA_WITH_IMM ||
	    !(wc.wc_flags & IBV_WC_WITH_IMM) || ntohl(wc.imm_data) != UC_IMM ||
	    wc.byte_len != len)
		return test_fail(t, "UC receive completion: opcode %d, wc_flags 0x%x, immediate 0x%x, byte_len %u; expected RECV_RDMA_WITH_IMM (%d), immediate 0x%x, byte_len %u",
				 (int)wc.opcode, (unsigned int)wc.wc_flags,
				 ntohl(wc.imm_data), wc.byte_len,
				 (int)IBV_WC_RECV_RDMA_WITH_IMM, UC_IMM, len);
	return TEST_PASS;
}

/* TEARDOWN_BOUND_S times -S: a kept reference waits rxe's 50 s pool timeout */
static int uc_bound_check(struct test_ctx *t, const char *what, double t0)
{
	return bound_check(t, what, t0, TEARDOWN_BOUND_S * t->opts->time_scale,
			   "a reference the deferred UC WRITE took was never dropped (rxe's 50 s pool timeout)");
}

static int test_uc_write_deferred(struct test_ctx *t)
{
	const enum ibv_wr_opcode op = *(const enum ibv_wr_opcode *)t->arg;
	struct ibv_wc wc;
	struct stall s;
	double t0;
	int rc, err;

	stall_init(&s);
	s.qp_type = IBV_QPT_UC;
	rc = stall_setup(t, &s, W_RESP, 1);
	if (rc == TEST_PASS)
		rc = uc_post(t, &s, op);
	if (rc != TEST_PASS)
		goto out;
	/* UC: the requester's WRs complete once sent, whatever the responder does */
	test_step(t, "the UC requester's completions");
	rc = rdma_wait_wc(t, s.r.cq[0], "UC RDMA WRITE", WR_ID,
			  TEST_WC_TIMEOUT_MS, NULL, &wc);
	if (rc == TEST_PASS && op == IBV_WR_RDMA_WRITE)
		rc = rdma_wait_wc(t, s.r.cq[0], "zero-length UC RDMA WRITE with immediate",
				  WR_ID + 2, TEST_WC_TIMEOUT_MS, NULL, &wc);
	if (rc == TEST_PASS)
		rc = stall_wait_fault(t, &s, W_RESP);
	if (rc != TEST_PASS)
		goto out;
	test_step(t, "answer the fault");
	rc = stall_answer(t, &s);
	if (rc == TEST_PASS)
		rc = uc_wait_imm(t, &s, op == IBV_WR_RDMA_WRITE ? 0 :
				 (uint32_t)s.psz);
	if (rc != TEST_PASS)
		goto out;
	test_step(t, "every byte of the uffd page is the device's");
	rc = pattern_verify(t, s.umem, s.psz, SEED_PIN, 0, s.psz,
			    "UC WRITE target");
	if (rc != TEST_PASS)
		goto out;
	test_step(t, "ibv_dereg_mr(uffd MR) after the deferred UC WRITE");
	t0 = test_now_s();
	err = ibv_dereg_mr(s.umr);
	s.umr = NULL;
	if (err) {
		rc = test_fail(t, "ibv_dereg_mr(uffd MR): %s", strerror(err));
		goto out;
	}
	rc = uc_bound_check(t, "ibv_dereg_mr(uffd MR)", t0);
	if (rc != TEST_PASS)
		goto out;
	test_step(t, "ibv_destroy_qp of the UC responder");
	t0 = test_now_s();
	err = ibv_destroy_qp(s.r.qp[1]);
	if (err) {
		rc = test_fail(t, "ibv_destroy_qp(UC responder): %s",
			       strerror(err));
		goto out;
	}
	s.r.qp[1] = NULL;
	rc = uc_bound_check(t, "ibv_destroy_qp(UC responder)", t0);
out:
	return test_worse(rc, stall_teardown(t, &s));
}

/* ------------------------------------------------------------------ */
/* Destroy a QP that packets keep arriving at                           */

#define FLOOD_ROUNDS	200
#define FLOOD_BATCH	8	/* UD sends per post, the last one signaled */
#define FLOOD_LEN	64
#define FLOOD_RAMP_US	20000

/* One sender: UD sends from a QP of the fixture to the current target. */
struct flooder {
	struct ibv_qp *qp;
	struct ibv_cq *cq;
	struct ibv_ah *ah;
	void *buf;
	uint32_t lkey;
	atomic_uint *target_qpn;
	atomic_bool *stop;
	pthread_t thread;
	bool started;
	unsigned long sent;
	const char *failed;	/* what failed, and its error */
	int err;
};

static void *flooder_thread(void *arg)
{
	struct flooder *f = arg;
	struct ibv_sge sge = { .addr = (uintptr_t)f->buf, .length = FLOOD_LEN,
			       .lkey = f->lkey };
	struct ibv_send_wr wr[FLOOD_BATCH], *bad;
	struct ibv_wc wc;
	double deadline;
	int i, n;

	while (!atomic_load(f->stop)) {
		for (i = 0; i < FLOOD_BATCH; i++) {
			wr[i] = (struct ibv_send_wr){
				.wr_id = WR_ID, .sg_list = &sge, .num_sge = 1,
				.opcode = IBV_WR_SEND,
				.next = i + 1 < FLOOD_BATCH ? &wr[i + 1] : NULL,
				.send_flags = i + 1 < FLOOD_BATCH ?
					0 : IBV_SEND_SIGNALED,
			};
			wr[i].wr.ud.ah = f->ah;
			wr[i].wr.ud.remote_qpn = atomic_load(f->target_qpn);
			wr[i].wr.ud.remote_qkey = RDMA_UD_QKEY;
		}
		f->err = ibv_post_send(f->qp, wr, &bad);
		if (f->err) {
			f->failed = "ibv_post_send(UD flood)";
			return NULL;
		}
		deadline = test_now_s() + TEST_WC_TIMEOUT_MS / 1000.0;
		while ((n = ibv_poll_cq(f->cq, 1, &wc)) == 0 &&
		       test_now_s() < deadline)
			;
		if (n < 0) {
			f->failed = "ibv_poll_cq(UD flood)";
			f->err = EIO;
			return NULL;
		}
		if (n == 0 || wc.status != IBV_WC_SUCCESS) {
			f->failed = n ? ibv_wc_status_str(wc.status) :
				"UD flood: no completion in time";
			f->err = EIO;
			return NULL;
		}
		f->sent += FLOOD_BATCH;
	}
	return NULL;
}

static int flood_destroy_round(struct test_ctx *t, struct stall *s,
			       atomic_uint *target_qpn, unsigned int round)
{
	struct rdma_pair p;
	double t0, dt;
	int rc, err;

	rc = rdma_pair_create(t, &s->r, &p);
	if (rc != TEST_PASS)
		return rc;
	atomic_store(target_qpn, p.qp[1]->qp_num);
	test_sleep_us(FLOOD_RAMP_US);
	test_step(t, "round %u: ibv_destroy_qp(0x%x) while sends arrive",
		  round, p.qp[1]->qp_num);
	t0 = test_now_s();
	err = ibv_destroy_qp(p.qp[1]);
	dt = test_now_s() - t0;
	if (err) {
		rc = test_fail(t, "ibv_destroy_qp(flooded UD QP): %s",
			       strerror(err));
	} else {
		p.qp[1] = NULL;
		if (dt > TEARDOWN_BOUND_S)
			rc = test_fail(t, "ibv_destroy_qp returned after %.1f s, more than %d s: a packet that arrived during the destroy kept its reference (rxe's 50 s pool timeout)",
				       dt, TEARDOWN_BOUND_S);
	}
	return test_worse(rc, rdma_pair_destroy(t, &p));
}

/*
 * Packets keep arriving at a UD QP while it is destroyed: each holds a
 * reference on it from the receive path until its task drops it, so the
 * destroy must leave the QP's tasks able to run until the QP is out of the
 * pool.  No ODP and no uffd: the destroy path is every QP's.  The window is
 * narrow (a packet between the receive path's check of the QP and its
 * queueing): with the tasks left disabled about one destroy in 40 hit it on
 * the debug guest, so 200 rounds miss it with a probability of about 0.5%.
 */
static int test_destroy_qp_flood(struct test_ctx *t)
{
	struct rdma_caps_req req = { .qp_type = IBV_QPT_UD };
	struct flooder f[2] = { 0 };
	atomic_uint target_qpn;
	atomic_bool stop;
	unsigned long sent = 0;
	struct stall s;
	unsigned int round;
	int rc, err;
	size_t i;

	stall_init(&s);
	atomic_init(&stop, false);
	rc = rdma_setup(t, &s.r, &req);
	if (rc != TEST_PASS)
		goto out;
	s.up = true;
	atomic_init(&target_qpn, s.r.qp[1]->qp_num);
	rc = mem_map(t, s.psz, &s.pin, "flood source");
	if (rc != TEST_PASS)
		goto out;
	s.len = s.psz;
	pattern_fill(s.pin, s.psz, SEED_PIN, 0, s.psz);
	rc = rdma_reg_mr(t, &s.r, s.pin, s.psz, IBV_ACCESS_LOCAL_WRITE,
			 "flood source", &s.pmr);
	if (rc != TEST_PASS)
		goto out;
	test_step(t, "two senders flood the target QP with UD sends");
	for (i = 0; i < ARRAY_SIZE(f); i++) {
		f[i] = (struct flooder){
			.qp = s.r.qp[i], .cq = s.r.cq[i], .ah = s.r.ah,
			.buf = s.pin, .lkey = s.pmr->lkey,
			.target_qpn = &target_qpn, .stop = &stop,
		};
		err = pthread_create(&f[i].thread, NULL, flooder_thread, &f[i]);
		if (err) {
			rc = test_fail(t, "pthread_create(flooder %zu): %s", i,
				       strerror(err));
			goto out;
		}
		f[i].started = true;
	}
	for (round = 1; round <= FLOOD_ROUNDS && rc == TEST_PASS; round++)
		rc = flood_destroy_round(t, &s, &target_qpn, round);
out:
	atomic_store(&stop, true);
	for (i = 0; i < ARRAY_SIZE(f); i++) {
		if (!f[i].started)
			continue;
		err = pthread_join(f[i].thread, NULL);
		if (err)
			rc = test_worse(rc, test_fail(t, "pthread_join(flooder %zu): %s",
						      i, strerror(err)));
		else if (f[i].failed)
			rc = test_worse(rc, test_fail(t, "flooder %zu: %s: %s", i,
						      f[i].failed,
						      strerror(f[i].err)));
		sent += f[i].sent;
	}
	if (rc == TEST_PASS)
		tap_diag("%u QPs destroyed under %lu UD sends", FLOOD_ROUNDS,
			 sent);
	return test_worse(rc, stall_teardown(t, &s));
}

/* ------------------------------------------------------------------ */
/* Kill with the uffd held by another process                           */

/*
 * The child: open the uffd, fork the holder (which keeps it and never
 * answers), set up, make n faults pending in context w, say so, wait.
 */
/*
 * W_SPF_MAIN's holder: read the fault's message (the fault now waits on
 * this "handler", which never answers), say 'r', or 'f' if none came.
 */
static void holder_read_fault(int uffd, int ready_fd)
{
	struct pollfd pfd = { .fd = uffd, .events = POLLIN };
	struct uffd_msg msg;
	char c = 'f';

	if (poll(&pfd, 1, FAULT_WAIT_MS) == 1 &&
	    read(uffd, &msg, sizeof(msg)) == (ssize_t)sizeof(msg) &&
	    msg.event == UFFD_EVENT_PAGEFAULT)
		c = 'r';
	if (write(ready_fd, &c, 1) != 1)
		_exit(TEST_FAIL);
}

/* W_SPF_MAIN: prefetch in this, the only, thread; 'd' if it returns. */
static void spf_main(struct test_ctx *t, struct stall *s, int ready_fd)
{
	struct ibv_sge sge = { .addr = (uintptr_t)s->umem,
			       .length = (uint32_t)s->len,
			       .lkey = s->umr->lkey };
	char c = 'd';
	int err;

	test_step(t, "synchronous ibv_advise_mr(PREFETCH_WRITE) of %zu pages in the only thread",
		  s->npages);
	err = ibv_advise_mr(s->r.pd, IBV_ADVISE_MR_ADVICE_PREFETCH_WRITE,
			    IBV_ADVISE_MR_FLAG_FLUSH, &sge, 1);
	tap_diag("the synchronous prefetch returned (%s) although nobody answered its fault",
		 err ? strerror(err) : "success");
	if (write(ready_fd, &c, 1) != 1)
		_exit(TEST_FAIL);
	_exit(TEST_FAIL);
}

static void staller(struct test_ctx *t, int ready_fd, enum where w, size_t n)
{
	struct stall s;
	size_t i;
	pid_t holder;
	char c = 'r';

	stall_init(&s);
	if (uffd_open(t, &s.uffd) != TEST_PASS)
		_exit(TEST_FAIL);
	holder = fork();
	if (holder < 0)
		_exit(TEST_FAIL);
	if (holder == 0) {
		if (w == W_SPF_MAIN)
			holder_read_fault(s.uffd, ready_fd);
		for (;;)
			pause();
	}
	if (write(ready_fd, &holder, sizeof(holder)) != sizeof(holder))
		_exit(TEST_FAIL);
	if (stall_setup(t, &s, w, n) != TEST_PASS)
		_exit(TEST_FAIL);
	if (w == W_SPF_MAIN)
		spf_main(t, &s, ready_fd);
	if (n > 1 && w != W_APF) {
		test_step(t, "%zu more QP pairs", n);
		s.pairs = calloc(n, sizeof(*s.pairs));
		if (!s.pairs)
			_exit(TEST_FAIL);
		for (i = 0; i < n; i++, s.npairs++)
			if (rdma_pair_create(t, &s.r, &s.pairs[i]) != TEST_PASS)
				_exit(TEST_FAIL);
	}
	for (i = 0; i < n; i++)
		if (stall_start(t, &s, w, i,
				s.pairs ? s.pairs[i].qp[0] : s.r.qp[0]) != TEST_PASS)
			_exit(TEST_FAIL);
	if (stall_wait_fault(t, &s, w) != TEST_PASS)
		_exit(TEST_FAIL);
	if (write(ready_fd, &c, 1) != 1)
		_exit(TEST_FAIL);
	for (;;)
		pause();
}

struct stalled {
	pid_t pid, holder;
	int fd;
};

static int stalled_start(struct test_ctx *t, struct stalled *st, enum where w,
			 size_t n)
{
	int pfd[2];
	char c;

	*st = (struct stalled){ .pid = -1, .holder = -1, .fd = -1 };
	if (pipe(pfd))
		return test_fail(t, "pipe: %s", strerror(errno));
	test_step(t, "fork the process that stalls %zu %s fault%s", n,
		  where_name[w], n == 1 ? "" : "s");
	st->pid = fork();
	if (st->pid < 0) {
		close(pfd[0]);
		close(pfd[1]);
		return test_fail(t, "fork: %s", strerror(errno));
	}
	if (st->pid == 0) {
		close(pfd[0]);
		staller(t, pfd[1], w, n);
	}
	close(pfd[1]);
	st->fd = pfd[0];
	if (read(st->fd, &st->holder, sizeof(st->holder)) !=
	    (ssize_t)sizeof(st->holder))
		return test_fail(t, "the stalling process failed before forking its uffd holder");
	if (read(st->fd, &c, 1) != 1)
		return test_fail(t, "the stalling process failed before its %s faults were pending",
				 where_name[w]);
	if (c == 'd')
		return test_fail(t, "the %s returned with its fault unanswered",
				 where_name[w]);
	if (c != 'r')
		return test_fail(t, "the uffd holder read no fault within %d ms of the %s (stock kernel?)",
				 FAULT_WAIT_MS, where_name[w]);
	return TEST_PASS;
}

/* SIGKILL the staller; reaped and released while the holder holds on. */
static int stalled_kill(struct test_ctx *t, struct stalled *st,
			const struct rdma_res_count *before)
{
	const char *held = st->holder > 0 ?
			   " while another process holds its uffd" : "";
	int status, rc = TEST_PASS;
	double t0 = test_now_s();

	test_step(t, "SIGKILL the stalling process%s", held);
	if (kill(st->pid, SIGKILL))
		return test_fail(t, "kill(SIGKILL): %s", strerror(errno));
	if (!test_reap(st->pid, RELEASE_BOUND_S, &status)) {
		rc = test_fail(t, "not reaped %d s after SIGKILL%s",
			       RELEASE_BOUND_S, held);
	} else if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL) {
		st->pid = -1;
		rc = test_fail(t, "status 0x%x, expected SIGKILL (it failed before?)",
			       status);
	} else {
		st->pid = -1;
		tap_diag("reaped %.2f s after SIGKILL", test_now_s() - t0);
		rc = rdma_res_count_wait(t, before, RELEASE_BOUND_S,
					 st->holder > 0 ?
					 "after SIGKILL, uffd still held" :
					 "after SIGKILL");
		if (rc == TEST_PASS)
			tap_diag("resources released %.2f s after SIGKILL",
				 test_now_s() - t0);
	}
	return rc;
}

static void stalled_cleanup(struct stalled *st)
{
	int status;

	if (st->holder > 0) {
		kill(st->holder, SIGKILL);
		test_reap(st->holder, RELEASE_BOUND_S, &status);
	}
	if (st->pid > 0) {
		kill(st->pid, SIGKILL);
		test_reap(st->pid, RELEASE_BOUND_S, &status);
	}
	if (st->fd >= 0)
		close(st->fd);
}

static int test_kill_holder(struct test_ctx *t)
{
	enum where w = *(const enum where *)t->arg;
	struct rdma_res_count before;
	struct stalled st;
	int rc;

	rc = rdma_res_count_get(t, &before);
	if (rc != TEST_PASS)
		return rc;
	rc = stalled_start(t, &st, w, 1);
	if (rc == TEST_PASS)
		rc = stalled_kill(t, &st, &before);
	stalled_cleanup(&st);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Isolation: another process's traffic while thousands of faults stall */

struct victim {
	struct rdma_res r;
	bool up;
	void *src, *dst;
	struct ibv_mr *smr, *dmr;
	size_t len;
};

/* Another process's QP pair and pinned MRs. */
static int victim_setup(struct test_ctx *t, struct victim *v)
{
	const struct rdma_caps_req req = { 0 };
	size_t psz = page_size();
	int rc;

	v->len = VICTIM_WRITES * psz;
	rc = rdma_setup(t, &v->r, &req);
	if (rc != TEST_PASS)
		return rc;
	v->up = true;
	rc = mem_map(t, v->len, &v->src, "victim source");
	if (rc == TEST_PASS)
		rc = mem_map(t, v->len, &v->dst, "victim target");
	if (rc != TEST_PASS)
		return rc;
	pattern_fill(v->src, v->len, SEED_PIN, 0, psz);
	rc = rdma_reg_mr(t, &v->r, v->src, v->len, IBV_ACCESS_LOCAL_WRITE,
			 "victim source", &v->smr);
	if (rc == TEST_PASS)
		rc = rdma_reg_mr(t, &v->r, v->dst, v->len, IBV_ACCESS_LOCAL_WRITE |
				 IBV_ACCESS_REMOTE_WRITE, "victim target", &v->dmr);
	return rc;
}

/* The latencies of one victim_traffic() pass, for ISOLATION_CSV. */
struct victim_lat {
	const char *phase;		/* "unloaded", "loaded" */
	double s[VICTIM_WRITES];
	size_t n;			/* WRITEs that completed */
	bool timed_out;			/* a WRITE missed VICTIM_BOUND_MS */
};

/*
 * Append lat's rows to $ISOLATION_CSV (perf/bench.h's long form:
 * benchmark,variant,n,rep,metric,value,unit; the file has its header).
 */
static int victim_lat_csv(struct test_ctx *t, const char *variant,
			  size_t nstalls, const struct victim_lat *lat)
{
	const char *path = getenv("ISOLATION_CSV");
	size_t i;
	FILE *f;

	if (!path || !*path)
		return TEST_PASS;
	f = fopen(path, "a");
	if (!f)
		return test_fail(t, "fopen(%s): %s", path, strerror(errno));
	for (i = 0; i < lat->n; i++)
		fprintf(f, "isolation,%s,%zu,%zu,%s,%.9f,s\n", variant, nstalls,
			i, lat->phase, lat->s[i]);
	if (lat->timed_out)
		fprintf(f, "isolation,%s,%zu,%zu,%s_timeout,%d,ms\n", variant,
			nstalls, lat->n, lat->phase, VICTIM_BOUND_MS);
	if (fclose(f))
		return test_fail(t, "writing %s: %s", path, strerror(errno));
	return TEST_PASS;
}

/* Its traffic: 4 KiB RDMA WRITEs between the pinned MRs. */
static int victim_traffic(struct test_ctx *t, struct victim *v,
			  struct victim_lat *lat)
{
	size_t psz = page_size(), i;
	double t0, d, worst = 0;
	struct ibv_wc wc;
	int rc = TEST_PASS;

	memset(v->dst, 0, v->len);
	lat->n = 0;
	lat->timed_out = false;
	for (i = 0; i < VICTIM_WRITES && rc == TEST_PASS; i++) {
		struct ibv_sge sge = { .addr = (uintptr_t)v->src + i * psz,
				       .length = (uint32_t)psz,
				       .lkey = v->smr->lkey };
		struct ibv_send_wr wr = {
			.wr_id = WR_ID + 2, .sg_list = &sge, .num_sge = 1,
			.opcode = IBV_WR_RDMA_WRITE,
			.send_flags = IBV_SEND_SIGNALED,
			.wr.rdma = { .remote_addr = (uintptr_t)v->dst + i * psz,
				     .rkey = v->dmr->rkey },
		};

		test_step(t, "another process, %s: 4 KiB RDMA WRITE %zu of %d between pinned MRs",
			  lat->phase, i + 1, VICTIM_WRITES);
		t0 = test_now_s();
		rc = rdma_post_wait(t, v->r.qp[0], v->r.cq[0], &wr,
				    VICTIM_BOUND_MS, NULL, &wc);
		d = test_now_s() - t0;
		if (d > worst)
			worst = d;
		if (rc == TEST_PASS)
			lat->s[lat->n++] = d;
		else
			lat->timed_out = d * 1000 >= VICTIM_BOUND_MS;
	}
	if (rc == TEST_PASS)
		rc = pattern_verify(t, v->dst, v->len, SEED_PIN, 0, psz,
				    "victim target");
	if (rc == TEST_PASS)
		tap_diag("%s: %d RDMA WRITEs of another process completed, the slowest in %.3f s",
			 lat->phase, VICTIM_WRITES, worst);
	return rc;
}

/* After the staller is gone: a stuck WRITE may keep the QP busy till then. */
static int victim_teardown(struct test_ctx *t, struct victim *v)
{
	int rc;

	rc = rdma_dereg_mr(t, &v->dmr, "victim target");
	rc = test_worse(rc, rdma_dereg_mr(t, &v->smr, "victim source"));
	if (v->up)
		rc = test_worse(rc, rdma_teardown(t, &v->r));
	if (v->dst)
		rc = test_worse(rc, mem_unmap(t, &v->dst, v->len, "victim target"));
	if (v->src)
		rc = test_worse(rc, mem_unmap(t, &v->src, v->len, "victim source"));
	return rc;
}

static int test_isolation(struct test_ctx *t)
{
	static const char *const variant[] = {
		[W_RESP] = "resp", [W_REQ] = "req", [W_COMP] = "comp",
		[W_UD] = "ud", [W_APF] = "apf", [W_SPF] = "spf",
	};
	enum where w = *(const enum where *)t->arg;
	struct victim_lat idle = { .phase = "unloaded" };
	struct victim_lat busy = { .phase = "loaded" };
	struct rdma_res_count before;
	struct victim v = { 0 };
	size_t n = stall_count();
	struct stalled st;
	int rc;

	/* set up first: the baseline includes it, the staller comes after */
	rc = victim_setup(t, &v);
	if (rc == TEST_PASS)
		rc = rdma_res_count_get(t, &before);
	if (rc == TEST_PASS)
		rc = victim_traffic(t, &v, &idle);
	rc = test_worse(rc, victim_lat_csv(t, variant[w], n, &idle));
	if (rc != TEST_PASS)
		return test_worse(rc, victim_teardown(t, &v));
	rc = stalled_start(t, &st, w, n);
	if (rc == TEST_PASS) {
		rc = victim_traffic(t, &v, &busy);
		rc = test_worse(rc, victim_lat_csv(t, variant[w], n, &busy));
	}
	if (st.pid > 0)
		rc = test_worse(rc, stalled_kill(t, &st, &before));
	stalled_cleanup(&st);
	return test_worse(rc, victim_teardown(t, &v));
}

/* ------------------------------------------------------------------ */
/* Device removal with a fault pending                                  */

/*
 * A device of its own for the test, so that removing it touches no other
 * test's: rxe over one end of a veth pair with an address of its own (a
 * packet to that address loops back inside rxe).
 */
#define LINK_NETDEV	"odpuffd0"
#define LINK_PEER	"odpuffd1"
#define LINK_DEV	"rxeodp"
#define LINK_IP		"10.251.0.1"
#define LINK_WAIT_S	1

/* Run a command to its end; TEST_FAIL unless it exits 0. */
static int run_cmd(struct test_ctx *t, char *const argv[])
{
	int status;
	pid_t pid;

	pid = fork();
	if (pid < 0)
		return test_fail(t, "fork(%s): %s", argv[0], strerror(errno));
	if (pid == 0) {
		execvp(argv[0], argv);
		_exit(127);
	}
	if (!test_reap(pid, 30, &status))
		return test_fail(t, "%s %s did not finish within 30 s", argv[0],
				 argv[1]);
	if (!WIFEXITED(status) || WEXITSTATUS(status))
		return test_fail(t, "%s %s %s: exit status %d%s", argv[0], argv[1],
				 argv[2] ? argv[2] : "", WIFEXITED(status) ?
				 WEXITSTATUS(status) : -1,
				 WIFEXITED(status) && WEXITSTATUS(status) == 127 ?
				 " (not found?)" : "");
	return TEST_PASS;
}

/* The index of the IPv4-mapped GID of LINK_IP on LINK_DEV, once it exists. */
static int link_gid_index(struct test_ctx *t, int *idx)
{
	union ibv_gid want = { .raw = { [10] = 0xff, [11] = 0xff,
					[12] = 10, [13] = 251, [14] = 0, [15] = 1 } };
	double deadline = test_now_s() + 10;
	struct ibv_device **list;
	struct ibv_context *ctx;
	struct ibv_port_attr pa;
	union ibv_gid gid;
	int num, i, g;

	do {
		list = ibv_get_device_list(&num);
		if (!list)
			return test_fail(t, "ibv_get_device_list: %s", strerror(errno));
		for (i = 0; i < num; i++)
			if (!strcmp(ibv_get_device_name(list[i]), LINK_DEV))
				break;
		ctx = i < num ? ibv_open_device(list[i]) : NULL;
		ibv_free_device_list(list);
		if (ctx) {
			if (ibv_query_port(ctx, 1, &pa))
				pa.gid_tbl_len = 0;
			for (g = 0; g < pa.gid_tbl_len; g++) {
				if (!ibv_query_gid(ctx, 1, g, &gid) &&
				    !memcmp(&gid, &want, sizeof(gid))) {
					*idx = g;
					ibv_close_device(ctx);
					return TEST_PASS;
				}
			}
			ibv_close_device(ctx);
		}
		test_sleep_us(100000);
	} while (test_now_s() < deadline);
	return test_fail(t, "%s has no GID for %s within 10 s", LINK_DEV, LINK_IP);
}

static int link_setup(struct test_ctx *t, int *gid_index)
{
	char *const add[] = { "ip", "link", "add", LINK_NETDEV, "type", "veth",
			      "peer", "name", LINK_PEER, NULL };
	char *const addr[] = { "ip", "addr", "add", LINK_IP "/24", "dev",
			       LINK_NETDEV, NULL };
	char *const up0[] = { "ip", "link", "set", LINK_NETDEV, "up", NULL };
	char *const up1[] = { "ip", "link", "set", LINK_PEER, "up", NULL };
	char *const rxe[] = { "rdma", "link", "add", LINK_DEV, "type", "rxe",
			      "netdev", LINK_NETDEV, NULL };
	char *const *steps[] = { add, addr, up0, up1, rxe };
	size_t i;
	int rc;

	test_step(t, "a device of its own: %s over veth %s (%s)", LINK_DEV,
		  LINK_NETDEV, LINK_IP);
	for (i = 0; i < ARRAY_SIZE(steps); i++) {
		rc = run_cmd(t, steps[i]);
		if (rc != TEST_PASS)
			return rc;
	}
	return link_gid_index(t, gid_index);
}

/* Remove what link_setup() made; the rxe device goes with its netdev. */
static int link_teardown(struct test_ctx *t)
{
	char *const del[] = { "ip", "link", "del", LINK_NETDEV, NULL };

	return run_cmd(t, del);
}

/*
 * rxe has no disassociate_ucontext: removing the device waits until every
 * process has closed its uverbs file (design.md).  With a responder fault
 * pending and the uffd held by another process that never answers, the
 * removal must end once the process is killed.
 */
static int test_link_delete_kill(struct test_ctx *t)
{
	char *const del[] = { "rdma", "link", "delete", LINK_DEV, NULL };
	struct test_opts opts = *t->opts;
	struct test_ctx lt = *t;
	struct stalled st = { .pid = -1, .holder = -1, .fd = -1 };
	double t0;
	pid_t pid = -1;
	int rc, status;

	rc = link_setup(t, &opts.gid_index);
	if (rc != TEST_PASS)
		goto out;
	opts.dev = LINK_DEV;
	lt.opts = &opts;
	rc = stalled_start(&lt, &st, W_RESP, 1);
	if (rc != TEST_PASS)
		goto out;
	test_step(t, "rdma link delete %s with the responder's fault pending",
		  LINK_DEV);
	pid = fork();
	if (pid < 0) {
		rc = test_fail(t, "fork(rdma link delete): %s", strerror(errno));
		goto out;
	}
	if (pid == 0) {
		execvp(del[0], del);
		_exit(127);
	}
	if (test_reap(pid, LINK_WAIT_S, &status)) {
		pid = -1;
		tap_diag("rdma link delete returned at once (status %d)", status);
	} else {
		tap_diag("rdma link delete waits for the process's uverbs file, as rxe has no disassociate");
	}
	test_step(t, "SIGKILL the stalling process (its uffd stays held)");
	t0 = test_now_s();
	if (kill(st.pid, SIGKILL)) {
		rc = test_fail(t, "kill(SIGKILL): %s", strerror(errno));
		goto out;
	}
	if (!test_reap(st.pid, RELEASE_BOUND_S, &status)) {
		rc = test_fail(t, "not reaped %d s after SIGKILL while another process holds its uffd",
			       RELEASE_BOUND_S);
		goto out;
	}
	st.pid = -1;
	if (pid > 0) {
		if (!test_reap(pid, RELEASE_BOUND_S, &status)) {
			rc = test_fail(t, "rdma link delete still waits %d s after the SIGKILL: the killed process's device file was not released",
				       RELEASE_BOUND_S);
			goto out;
		}
		pid = -1;
		if (!WIFEXITED(status) || WEXITSTATUS(status)) {
			rc = test_fail(t, "rdma link delete %s: exit status %d",
				       LINK_DEV, WIFEXITED(status) ?
				       WEXITSTATUS(status) : -1);
			goto out;
		}
		tap_diag("rdma link delete returned %.2f s after the SIGKILL",
			 test_now_s() - t0);
	}
out:
	if (pid > 0) {
		kill(pid, SIGKILL);
		test_reap(pid, RELEASE_BOUND_S, &status);
	}
	stalled_cleanup(&st);
	return test_worse(rc, link_teardown(t));
}

/* ------------------------------------------------------------------ */
/* A handler that wakes the fault without resolving it                 */

#define WAKE_RNR_RETRY	3
#define WAKE_FAULTS	4		/* messages for the one page */
#define WAKE_DELAY_US	5000		/* the handler's pause per fault */
#define WAKE_SIG	"expected RNR retry counter exceeded|returned|saw [0-9]+ faults|no completion within|not reaped|not released"

/* Wait up to FAULT_WAIT_MS for n fault messages on h (any process's). */
static int wake_wait_faults(struct test_ctx *t, const struct uffd_handler *h,
			    unsigned long n)
{
	double deadline = test_now_s() + FAULT_WAIT_MS / 1000.0;

	while (uffd_count(&h->faults) < n) {
		if (uffd_handler_failed(h))
			return uffd_handler_check(t, h);
		if (test_now_s() > deadline)
			return test_fail(t, "the handler saw %lu faults within %d ms, expected %lu (the woken access faults again)",
					 uffd_count(&h->faults), FAULT_WAIT_MS, n);
		test_sleep_us(10000);
	}
	return TEST_PASS;
}

/*
 * The RC responder defers the fault to the context's fault thread and
 * answers with an RNR NAK; the fault thread's ib_umem_odp_fault_user()
 * takes each wake as progress and faults again, so the fault never ends
 * and each retry of the requester gets another RNR NAK.  With rnr_retry 3
 * (set through SQD: only SQD -> SQD may change it) the WRITE must end with
 * IBV_WC_RNR_RETRY_EXC_ERR.
 */
static int wake_write(struct test_ctx *t, struct stall *s)
{
	const struct ibv_qp_attr rnr = { .rnr_retry = WAKE_RNR_RETRY };
	double deadline;
	struct ibv_wc wc;
	int rc, n;

	test_step(t, "requester QP: RTS -> SQD, rnr_retry %d, SQD -> RTS",
		  WAKE_RNR_RETRY);
	rc = modify_sqd(t, s->r.qp[0], IBV_QPS_SQD, 0, NULL);
	if (rc == TEST_PASS)
		rc = modify_sqd(t, s->r.qp[0], IBV_QPS_SQD, IBV_QP_RNR_RETRY,
				&rnr);
	if (rc == TEST_PASS)
		rc = modify_sqd(t, s->r.qp[0], IBV_QPS_RTS, 0, NULL);
	if (rc == TEST_PASS)
		rc = stall_start(t, s, W_RESP, 0, s->r.qp[0]);
	if (rc != TEST_PASS)
		return rc;
	test_step(t, "wait for the RDMA WRITE's completion");
	deadline = test_now_s() + TEST_WC_TIMEOUT_MS / 1000.0;
	while ((n = ibv_poll_cq(s->r.cq[0], 1, &wc)) == 0) {
		if (test_now_s() > deadline)
			return test_fail(t, "RDMA WRITE: no completion within %d ms",
					 TEST_WC_TIMEOUT_MS);
		test_sleep_us(1000);
	}
	if (n < 0)
		return test_fail(t, "ibv_poll_cq: %d", n);
	if (wc.status != IBV_WC_RNR_RETRY_EXC_ERR)
		return test_fail(t, "RDMA WRITE completed with %s, expected %s",
				 ibv_wc_status_str(wc.status),
				 ibv_wc_status_str(IBV_WC_RNR_RETRY_EXC_ERR));
	tap_diag("RDMA WRITE: %s", ibv_wc_status_str(wc.status));
	return TEST_PASS;
}

/*
 * The child: the fixture with h (in memory the parent shares) answering
 * with UFFDIO_WAKE only; then the WRITE (resp: 'r' once it ended as it
 * must and the fault went on) or the synchronous prefetch ('d' if it ever
 * returns); it waits to be killed.
 */
static void wake_child(struct test_ctx *t, int ready_fd, struct uffd_handler *h,
		       enum where w)
{
	const struct uffd_cfg cfg = {
		.reg_mode = UFFDIO_REGISTER_MODE_MISSING,
		.action = UFFD_ACT_WAKE, .delay_max_us = WAKE_DELAY_US,
	};
	struct rdma_caps_req req = { .odp = true,
				     .rc_odp_caps = IBV_ODP_SUPPORT_WRITE };
	struct stall s;
	char c = 'r';

	stall_init(&s);
	s.npages = 1;
	s.len = s.psz;
	if (rdma_setup(t, &s.r, &req) != TEST_PASS)
		_exit(TEST_FAIL);
	s.up = true;
	if (mem_map(t, s.len, &s.pin, "pinned") != TEST_PASS)
		_exit(TEST_FAIL);
	pattern_fill(s.pin, s.len, SEED_PIN, 0, s.psz);
	if (rdma_reg_mr(t, &s.r, s.pin, s.len, IBV_ACCESS_LOCAL_WRITE,
			"pinned", &s.pmr) != TEST_PASS ||
	    mem_map(t, s.len, &s.umem, "uffd") != TEST_PASS ||
	    uffd_setup(t, h, &cfg, s.umem, s.len, s.psz) != TEST_PASS ||
	    rdma_reg_mr(t, &s.r, s.umem, s.len, ODP_ACCESS, "uffd (ODP)",
			&s.umr) != TEST_PASS)
		_exit(TEST_FAIL);
	if (w == W_SPF_MAIN || w == W_SPF)
		spf_main(t, &s, ready_fd);
	if (wake_write(t, &s) != TEST_PASS ||
	    wake_wait_faults(t, h, uffd_count(&h->faults) + 2) != TEST_PASS)
		_exit(TEST_FAIL);
	if (write(ready_fd, &c, 1) != 1)
		_exit(TEST_FAIL);
	for (;;)
		pause();
}

static int test_wake_only(struct test_ctx *t)
{
	enum where w = *(const enum where *)t->arg;
	struct stalled st = { .pid = -1, .holder = -1, .fd = -1 };
	struct rdma_res_count before;
	struct pollfd pfd;
	struct uffd_handler *h;
	int pfds[2], rc;
	char c;

	rc = rdma_res_count_get(t, &before);
	if (rc != TEST_PASS)
		return rc;
	h = mmap(NULL, sizeof(*h), PROT_READ | PROT_WRITE,
		 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (h == MAP_FAILED)
		return test_fail(t, "mmap(shared handler state): %s",
				 strerror(errno));
	uffd_handler_init(h);
	if (pipe(pfds)) {
		rc = test_fail(t, "pipe: %s", strerror(errno));
		goto out;
	}
	test_step(t, "fork the process whose handler only wakes (%s)",
		  w == W_RESP ? "RDMA WRITE" : "synchronous prefetch");
	st.pid = fork();
	if (st.pid < 0) {
		close(pfds[0]);
		close(pfds[1]);
		rc = test_fail(t, "fork: %s", strerror(errno));
		goto out;
	}
	if (st.pid == 0) {
		close(pfds[0]);
		wake_child(t, pfds[1], h, w);
	}
	close(pfds[1]);
	st.fd = pfds[0];
	pfd = (struct pollfd){ .fd = st.fd, .events = POLLIN };
	if (w == W_RESP) {
		test_step(t, "wait for the child's RDMA WRITE to end");
		if (poll(&pfd, 1, 2 * TEST_WC_TIMEOUT_MS + FAULT_WAIT_MS) != 1 ||
		    read(st.fd, &c, 1) != 1 || c != 'r') {
			rc = test_fail(t, "the child's RDMA WRITE did not end as it must (see above)");
			goto out;
		}
	} else {
		test_step(t, "wait for the prefetch's faults to repeat");
		rc = wake_wait_faults(t, h, WAKE_FAULTS);
		if (rc == TEST_PASS && poll(&pfd, 1, 0) == 1)
			rc = test_fail(t, "the synchronous prefetch returned with its fault woken, not resolved (see above)");
		if (rc != TEST_PASS)
			goto out;
	}
	tap_diag("%lu fault messages for the one page, each only woken",
		 uffd_count(&h->faults));
	rc = stalled_kill(t, &st, &before);
out:
	stalled_cleanup(&st);
	munmap(h, sizeof(*h));
	return rc;
}

static const enum ibv_wr_opcode uc_write = IBV_WR_RDMA_WRITE,
	uc_write_imm = IBV_WR_RDMA_WRITE_WITH_IMM;

static const enum where at_resp = W_RESP, at_req = W_REQ, at_comp = W_COMP,
	at_ud = W_UD, at_apf = W_APF, at_spf = W_SPF, at_spf_main = W_SPF_MAIN;

#define NEEDS	(FIX_UFFD | FIX_CANCEL)

static const struct test_case tests[] = {
	{ .name = "isolation_resp", .fn = test_isolation, .arg = &at_resp,
	  .desc = "another process's WRITEs complete while 4096 responder faults stall",
	  .needs = NEEDS, .timeout_s = 600 },
	{ .name = "isolation_req", .fn = test_isolation, .arg = &at_req,
	  .desc = "another process's WRITEs complete while 4096 requester faults stall",
	  .needs = NEEDS, .timeout_s = 600 },
	{ .name = "isolation_apf", .fn = test_isolation, .arg = &at_apf,
	  .desc = "another process's WRITEs complete while 4096 asynchronous prefetches stall",
	  .needs = NEEDS, .timeout_s = 300 },
	{ .name = "dereg_req", .fn = test_dereg, .arg = &at_req,
	  .desc = "ibv_dereg_mr of a requester's uffd source, fault pending: returns", .needs = NEEDS },
	{ .name = "dereg_comp", .fn = test_dereg, .arg = &at_comp,
	  .desc = "ibv_dereg_mr of a READ's uffd sink, fault pending: returns", .needs = NEEDS },
	{ .name = "dereg_ud", .fn = test_dereg, .arg = &at_ud,
	  .desc = "ibv_dereg_mr of a UD send's uffd source, fault pending: returns", .needs = NEEDS },
	{ .name = "dereg_apf", .fn = test_dereg, .arg = &at_apf,
	  .desc = "ibv_dereg_mr with an asynchronous prefetch pending: returns", .needs = NEEDS },
	{ .name = "dereg_spf", .fn = test_dereg, .arg = &at_spf,
	  .desc = "ibv_dereg_mr while another thread's synchronous prefetch waits: returns", .needs = NEEDS },
	{ .name = "destroy_qp_req", .fn = test_destroy_qp, .arg = &at_req,
	  .desc = "ibv_destroy_qp of a requester with its fault pending: returns", .needs = NEEDS },
	{ .name = "destroy_qp_comp", .fn = test_destroy_qp, .arg = &at_comp,
	  .desc = "ibv_destroy_qp of a completer with its fault pending: returns", .needs = NEEDS },
	{ .name = "destroy_qp_ud", .fn = test_destroy_qp, .arg = &at_ud,
	  .desc = "ibv_destroy_qp of a UD requester with its fault pending: returns", .needs = NEEDS },
	{ .name = "destroy_ah_ud", .fn = test_destroy_ah_ud,
	  .desc = "ibv_destroy_ah while a UD send on it waits for a fault: returns", .needs = NEEDS },
	{ .name = "kill_resp_holder", .fn = test_kill_holder, .arg = &at_resp,
	  .desc = "SIGKILL, responder fault pending, uffd held elsewhere: released", .needs = NEEDS },
	{ .name = "kill_req_holder", .fn = test_kill_holder, .arg = &at_req,
	  .desc = "SIGKILL, requester fault pending, uffd held elsewhere: released", .needs = NEEDS },
	{ .name = "kill_comp_holder", .fn = test_kill_holder, .arg = &at_comp,
	  .desc = "SIGKILL, completer fault pending, uffd held elsewhere: released", .needs = NEEDS },
	{ .name = "kill_apf_holder", .fn = test_kill_holder, .arg = &at_apf,
	  .desc = "SIGKILL, asynchronous prefetch pending, uffd held elsewhere: released", .needs = NEEDS },
	{ .name = "kill_spf_holder", .fn = test_kill_holder, .arg = &at_spf,
	  .desc = "SIGKILL, synchronous prefetch waiting, uffd held elsewhere: released", .needs = NEEDS },
	{ .name = "kill_spf_main_holder", .fn = test_kill_holder, .arg = &at_spf_main,
	  .desc = "SIGKILL of a process whose only thread waits in a synchronous prefetch; another process read the fault and never answers: reaped, released",
	  .needs = NEEDS },
	{ .name = "wake_only_resp", .fn = test_wake_only, .arg = &at_resp,
	  .desc = "handler only UFFDIO_WAKEs: an RDMA WRITE (rnr_retry 3) ends with RNR retry exhaustion; the process is killable and released",
	  .needs = NEEDS, .sig = WAKE_SIG },
	{ .name = "wake_only_spf", .fn = test_wake_only, .arg = &at_spf,
	  .desc = "handler only UFFDIO_WAKEs: a synchronous prefetch keeps refaulting in its call; the process is killable and released",
	  .needs = NEEDS, .sig = WAKE_SIG },
	{ .name = "destroy_qp_flood", .fn = test_destroy_qp_flood,
	  .desc = "ibv_destroy_qp of a UD QP other QPs keep sending to: returns",
	  .timeout_s = 600 },
	{ .name = "link_delete_kill", .fn = test_link_delete_kill,
	  .desc = "rdma link delete with a responder fault pending, uffd held elsewhere: ends after SIGKILL",
	  .needs = NEEDS },
	{ .name = "sqd_resp_pending", .fn = test_sqd_resp_pending,
	  .desc = "responder QP through SQD keeps its pending fault: WRITE completes", .needs = NEEDS },
	/* no FIX_CANCEL: a fault that sleeps in the responder passes too */
	{ .name = "uc_write_deferred", .fn = test_uc_write_deferred,
	  .arg = &uc_write,
	  .desc = "UC RDMA WRITE into a uffd page, fault deferred then answered: the data arrives, MR dereg and QP destroy return",
	  .needs = FIX_UFFD | FIX_COPY, .timeout_s = 120 },
	{ .name = "uc_write_imm_deferred", .fn = test_uc_write_deferred,
	  .arg = &uc_write_imm,
	  .desc = "UC RDMA WRITE with immediate into a uffd page, fault deferred then answered: the data and the immediate arrive, MR dereg and QP destroy return",
	  .needs = FIX_UFFD | FIX_COPY, .timeout_s = 120 },
};

int main(int argc, char **argv)
{
	return test_main(argc, argv, tests, ARRAY_SIZE(tests));
}
