/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Verbs setup and work requests of the libibverbs ODP tests: loopback RC, UC
 * or UD QPs on one device (rc_pingpong style) or one QP on each of two devices,
 * MR registration, single work request post and bounded completion wait,
 * atomics, FLUSH, prefetch advice, and rdma resource counts.
 */
#ifndef LIBIBVERBS_TESTS_VERBS_H
#define LIBIBVERBS_TESTS_VERBS_H

#include "tap.h"
#include "uffd.h"

#include <infiniband/verbs.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TEST_WC_TIMEOUT_MS	20000


/* What the test needs from the device; missing -> TEST_SKIP. */
struct rdma_caps_req {
	bool odp;		/* odp_caps.general_caps & IBV_ODP_SUPPORT */
	uint32_t rc_odp_caps;	/* IBV_ODP_SUPPORT_{SEND,RECV,WRITE,READ,...} */
	uint32_t ud_odp_caps;	/* the same for UD QPs */
	uint64_t cap_flags_ex;	/* device_cap_flags_ex bits (IB_UVERBS_DEVICE_*) */
	/* QPs: 0 means RC.  IBV_QPT_UD: UD QPs plus an address handle.
	 * IBV_QPT_UC: UC QPs, connected like RC ones with the attributes
	 * UC has (no RDMA READ or atomics, no acks, retries or RNR). */
	enum ibv_qp_type qp_type;
	/* Non-zero: create the QPs with ibv_create_qp_ex() and these
	 * IBV_QP_EX_WITH_* flags (qpx[] is then set). */
	uint64_t send_ops_flags;
	/* The QPs' path MTU: 0 means IBV_MTU_1024 (so a page is several
	 * packets); never more than the port's active MTU. */
	enum ibv_mtu mtu;
};

#define RDMA_UD_QKEY	0x11111111u
#define RDMA_GRH_LEN	40	/* UD receive buffers start with the GRH */

/* Two QPs on one port, connected to each other: qp[0] <-> qp[1]. */
struct rdma_res {
	struct ibv_context *ctx;
	struct ibv_pd *pd;
	struct ibv_cq *cq[2];	/* cq[i] is send and recv CQ of qp[i] */
	struct ibv_qp *qp[2];
	struct ibv_qp_ex *qpx[2];	/* with req->send_ops_flags only */
	struct ibv_ah *ah;	/* UD: address of our own GID */
	struct ibv_device_attr_ex dev_attr;
	struct ibv_port_attr port_attr;
	union ibv_gid gid;
	uint8_t port_num;
	int gid_index;
	enum ibv_mtu mtu;
	enum ibv_qp_type qp_type;
	uint64_t send_ops_flags;
	const char *dev_name;
};

/* On failure or skip everything created so far is released. */
int rdma_setup(struct test_ctx *t, struct rdma_res *r,
	       const struct rdma_caps_req *req);
/*
 * Two RDMA hosts: open dev_a into a and dev_b into b (each with its own PD
 * and the -g GID index) and create one RC QP on each, a->qp[0] connected to
 * b->qp[0]; qp[1] stays NULL.  TEST_SKIP when a device is absent.
 */
int rdma_setup_2host(struct test_ctx *t, struct rdma_res *a,
		     struct rdma_res *b, const char *dev_a, const char *dev_b,
		     const struct rdma_caps_req *req);
/* Reverse-order teardown; NULL members are skipped. */
int rdma_teardown(struct test_ctx *t, struct rdma_res *r);

/* One more loopback-connected QP pair (RC, UC or UD, as r) on r's device and PD. */
struct rdma_pair {
	struct ibv_cq *cq[2];
	struct ibv_qp *qp[2];
};

int rdma_pair_create(struct test_ctx *t, struct rdma_res *r,
		     struct rdma_pair *p);
/* Destroy; NULL members are skipped. */
int rdma_pair_destroy(struct test_ctx *t, struct rdma_pair *p);

int rdma_reg_mr(struct test_ctx *t, struct rdma_res *r, void *addr,
		size_t len, int access, const char *what, struct ibv_mr **mr);
/* ibv_dereg_mr and clear *mr; no-op if *mr is NULL. */
int rdma_dereg_mr(struct test_ctx *t, struct ibv_mr **mr, const char *what);

/*
 * Wait up to timeout_ms for one completion on cq; what names it in messages.
 * If watch is non-NULL the wait is abandoned as soon as that uffd handler
 * reports an error.  Fails unless IBV_WC_SUCCESS and wc->wr_id == wr_id.
 */
int rdma_wait_wc(struct test_ctx *t, struct ibv_cq *cq, const char *what,
		 uint64_t wr_id, int timeout_ms,
		 const struct uffd_handler *watch, struct ibv_wc *wc);
/*
 * Post one signaled send WR on qp and wait up to timeout_ms for its
 * completion on cq (see rdma_wait_wc()).
 */
int rdma_post_wait(struct test_ctx *t, struct ibv_qp *qp, struct ibv_cq *cq,
		   struct ibv_send_wr *wr, int timeout_ms,
		   const struct uffd_handler *watch, struct ibv_wc *wc);
/* RDMA WRITE/READ/SEND of len bytes posted on qp (completion on cq);
 * raddr/rkey are ignored for SEND. */
int rdma_rw_qp(struct test_ctx *t, struct ibv_qp *qp, struct ibv_cq *cq,
	       enum ibv_wr_opcode op, void *laddr, uint32_t len, uint32_t lkey,
	       uint64_t raddr, uint32_t rkey, const struct uffd_handler *watch);
/* RDMA WRITE/READ/SEND of len bytes posted on qp[qpi] (completion on cq[qpi]). */
int rdma_rw(struct test_ctx *t, struct rdma_res *r, int qpi,
	    enum ibv_wr_opcode op, void *laddr, uint32_t len, uint32_t lkey,
	    uint64_t raddr, uint32_t rkey, const struct uffd_handler *watch);
/* Post one receive WR of len bytes at addr on qp. */
int rdma_post_recv(struct test_ctx *t, struct ibv_qp *qp, void *addr,
		   uint32_t len, uint32_t lkey, uint64_t wr_id);
/*
 * ATOMIC CMP_SWP (compare, swap_add = swap) or FETCH_ADD (swap_add = add)
 * on the 8 bytes at raddr; the old value lands in *result (8 bytes of a
 * registered buffer with lkey).
 */
int rdma_atomic(struct test_ctx *t, struct rdma_res *r, int qpi,
		enum ibv_wr_opcode op, uint64_t raddr, uint32_t rkey,
		uint64_t compare, uint64_t swap_add, void *result,
		uint32_t lkey, const struct uffd_handler *watch);
/* ATOMIC_WRITE of 8 bytes at raddr via the ibv_wr_* API (needs qpx). */
int rdma_atomic_write(struct test_ctx *t, struct rdma_res *r, int qpi,
		      uint64_t raddr, uint32_t rkey, uint64_t value,
		      const struct uffd_handler *watch);
/* FLUSH (ibv_wr_flush) of [raddr, raddr + len), type IBV_FLUSH_GLOBAL or
 * IBV_FLUSH_PERSISTENT, level IBV_FLUSH_RANGE (needs qpx). */
int rdma_flush(struct test_ctx *t, struct rdma_res *r, int qpi,
	       uint64_t raddr, uint32_t rkey, size_t len, uint8_t type,
	       const struct uffd_handler *watch);
/* UD SEND of len bytes from laddr on qp[qpi] to qp[!qpi] through r->ah. */
int rdma_ud_send(struct test_ctx *t, struct rdma_res *r, int qpi,
		 void *laddr, uint32_t len, uint32_t lkey,
		 const struct uffd_handler *watch);
/* What "rdma resource show" counts for the test's device (-d). */
struct rdma_res_count {
	long pd, cq, qp, mr, ctx;
};
int rdma_res_count_get(struct test_ctx *t, struct rdma_res_count *c);
bool rdma_res_count_equal(const struct rdma_res_count *a,
			  const struct rdma_res_count *b);
/*
 * Poll until the counts equal want, up to timeout_s; fail naming both when
 * they do not (what: for the message).
 */
int rdma_res_count_wait(struct test_ctx *t, const struct rdma_res_count *want,
			double timeout_s, const char *what);

/*
 * ibv_advise_mr(advice, flags) of n SGEs on r's PD: TEST_SKIP when the
 * device does not support it, TEST_FAIL naming the advice and the errno.
 */
int rdma_advise(struct test_ctx *t, struct rdma_res *r,
		enum ibv_advise_mr_advice advice, uint32_t flags,
		struct ibv_sge *sge, uint32_t n);

#endif /* LIBIBVERBS_TESTS_VERBS_H */
