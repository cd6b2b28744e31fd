// SPDX-License-Identifier: GPL-2.0
/*
 * Verbs setup and work requests of the libibverbs ODP tests; see verbs.h.
 */
#include "verbs.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ================================================================== */
/* RDMA                                                                 */

static const char *mtu_str(enum ibv_mtu mtu)
{
	switch (mtu) {
	case IBV_MTU_256: return "256";
	case IBV_MTU_512: return "512";
	case IBV_MTU_1024: return "1024";
	case IBV_MTU_2048: return "2048";
	case IBV_MTU_4096: return "4096";
	}
	return "?";
}

static void odp_caps_str(uint32_t caps, char *buf, size_t len)
{
	static const struct { uint32_t bit; const char *name; } names[] = {
		{ IBV_ODP_SUPPORT_SEND, "SEND" },
		{ IBV_ODP_SUPPORT_RECV, "RECV" },
		{ IBV_ODP_SUPPORT_WRITE, "WRITE" },
		{ IBV_ODP_SUPPORT_READ, "READ" },
		{ IBV_ODP_SUPPORT_ATOMIC, "ATOMIC" },
		{ IBV_ODP_SUPPORT_SRQ_RECV, "SRQ_RECV" },
		{ IBV_ODP_SUPPORT_FLUSH, "FLUSH" },
		{ IBV_ODP_SUPPORT_ATOMIC_WRITE, "ATOMIC_WRITE" },
	};
	size_t i, used = 0;

	buf[0] = '\0';
	for (i = 0; i < ARRAY_SIZE(names) && used < len; i++)
		if (caps & names[i].bit)
			used += (size_t)snprintf(buf + used, len - used, "%s%s",
						 used ? "|" : "", names[i].name);
	if (!buf[0])
		snprintf(buf, len, "none");
}

/* Find and open the named device; TEST_SKIP if it does not exist. */
static int open_device(struct test_ctx *t, struct rdma_res *r)
{
	const char *want = r->dev_name;
	struct ibv_device **list;
	char names[256] = "";
	size_t used = 0;
	int num, i, rc = TEST_PASS;

	list = ibv_get_device_list(&num);
	if (!list)
		return test_skip(t, "ibv_get_device_list: %s", strerror(errno));
	for (i = 0; i < num; i++)
		if (!strcmp(ibv_get_device_name(list[i]), want))
			break;
	if (i == num) {
		for (i = 0; i < num && used < sizeof(names); i++)
			used += (size_t)snprintf(names + used, sizeof(names) - used,
						 " %s", ibv_get_device_name(list[i]));
		rc = test_skip(t, "RDMA device %s not found (have:%s)", want,
			       num ? names : " none");
	} else {
		r->ctx = ibv_open_device(list[i]);
		if (!r->ctx)
			rc = test_fail(t, "ibv_open_device(%s): %s", want,
				       strerror(errno));
	}
	ibv_free_device_list(list);
	return rc;
}

/* TEST_SKIP naming the missing ODP capabilities of one transport. */
static int check_odp_caps(struct test_ctx *t, const struct rdma_res *r,
			  const char *transport, uint32_t have, uint32_t want)
{
	char have_s[96], need_s[96];
	uint32_t missing = want & ~have;

	if (!missing)
		return TEST_PASS;
	odp_caps_str(missing, need_s, sizeof(need_s));
	odp_caps_str(have, have_s, sizeof(have_s));
	return test_skip(t, "%s: %s ODP lacks %s (%s_odp_caps %s)", r->dev_name,
			 transport, need_s, transport, have_s);
}

/* Device attributes, ODP capabilities, port state and GID. */
static int check_device(struct test_ctx *t, struct rdma_res *r,
			const struct rdma_caps_req *req)
{
	const struct ibv_odp_caps *odp = &r->dev_attr.odp_caps;
	uint64_t missing_ex;
	int err, rc;

	err = ibv_query_device_ex(r->ctx, NULL, &r->dev_attr);
	if (err)
		return test_fail(t, "ibv_query_device_ex(%s): %s", r->dev_name,
				 strerror(err));
	if ((req->odp || req->rc_odp_caps || req->ud_odp_caps) &&
	    !(odp->general_caps & IBV_ODP_SUPPORT))
		return test_skip(t, "%s: no ODP support (odp_caps.general_caps 0x%" PRIx64 ")",
				 r->dev_name, (uint64_t)odp->general_caps);
	rc = check_odp_caps(t, r, "rc", odp->per_transport_caps.rc_odp_caps,
			    req->rc_odp_caps);
	if (rc == TEST_PASS)
		rc = check_odp_caps(t, r, "ud",
				    odp->per_transport_caps.ud_odp_caps,
				    req->ud_odp_caps);
	if (rc != TEST_PASS)
		return rc;
	missing_ex = req->cap_flags_ex & ~(uint64_t)r->dev_attr.device_cap_flags_ex;
	if (missing_ex)
		return test_skip(t, "%s: device_cap_flags_ex 0x%" PRIx64 " lacks 0x%" PRIx64,
				 r->dev_name,
				 (uint64_t)r->dev_attr.device_cap_flags_ex,
				 missing_ex);

	err = ibv_query_port(r->ctx, r->port_num, &r->port_attr);
	if (err)
		return test_fail(t, "ibv_query_port(%s, %u): %s", r->dev_name,
				 r->port_num, strerror(err));
	if (r->port_attr.state != IBV_PORT_ACTIVE)
		return test_fail(t, "%s port %u is %s, not ACTIVE", r->dev_name,
				 r->port_num, ibv_port_state_str(r->port_attr.state));
	r->mtu = req->mtu ? req->mtu : IBV_MTU_1024;
	if (r->port_attr.active_mtu < r->mtu) {
		tap_diag("port active MTU %s < %s, using it",
			 mtu_str(r->port_attr.active_mtu), mtu_str(r->mtu));
		r->mtu = r->port_attr.active_mtu;
	}

	if (ibv_query_gid(r->ctx, r->port_num, r->gid_index, &r->gid))
		return test_fail(t, "ibv_query_gid(%s, port %u, index %d): %s",
				 r->dev_name, r->port_num, r->gid_index,
				 strerror(errno));
	if (!r->gid.global.subnet_prefix && !r->gid.global.interface_id)
		return test_fail(t, "%s GID index %d is empty (no IP address on the netdev?)",
				 r->dev_name, r->gid_index);
	return TEST_PASS;
}

static int qp_modify(struct test_ctx *t, struct ibv_qp *qp,
		     struct ibv_qp_attr *attr, int mask, const char *state)
{
	int err = ibv_modify_qp(qp, attr, mask);

	if (err)
		return test_fail(t, "ibv_modify_qp(QP 0x%x -> %s): %s",
				 qp->qp_num, state, strerror(err));
	return TEST_PASS;
}

/* UD: RESET -> INIT -> RTR -> RTS (the destination is in each WR). */
static int qp_connect_ud(struct test_ctx *t, struct rdma_res *r,
			 struct ibv_qp *qp, uint32_t sq_psn)
{
	struct ibv_qp_attr attr = {
		.qp_state = IBV_QPS_INIT, .pkey_index = 0,
		.port_num = r->port_num, .qkey = RDMA_UD_QKEY,
	};
	int rc;

	rc = qp_modify(t, qp, &attr, IBV_QP_STATE | IBV_QP_PKEY_INDEX |
		       IBV_QP_PORT | IBV_QP_QKEY, "INIT");
	if (rc != TEST_PASS)
		return rc;
	attr = (struct ibv_qp_attr){ .qp_state = IBV_QPS_RTR };
	rc = qp_modify(t, qp, &attr, IBV_QP_STATE, "RTR");
	if (rc != TEST_PASS)
		return rc;
	attr = (struct ibv_qp_attr){ .qp_state = IBV_QPS_RTS, .sq_psn = sq_psn };
	return qp_modify(t, qp, &attr, IBV_QP_STATE | IBV_QP_SQ_PSN, "RTS");
}

/*
 * RC or UC (as r): RESET -> INIT -> RTR -> RTS, with the remote side being
 * QP number dqpn at GID dgid on r's port.  A UC QP gets only what UC has:
 * no RDMA READ or atomic access, no responder resources, RNR timer, ack
 * timeout or retries.
 */
static int qp_connect(struct test_ctx *t, struct rdma_res *r, struct ibv_qp *qp,
		      const union ibv_gid *dgid, uint32_t dqpn, uint32_t sq_psn,
		      uint32_t rq_psn)
{
	const bool rc_qp = r->qp_type != IBV_QPT_UC;
	struct ibv_qp_attr attr;
	int mask, rc;

	memset(&attr, 0, sizeof(attr));
	attr.qp_state = IBV_QPS_INIT;
	attr.pkey_index = 0;
	attr.port_num = r->port_num;
	attr.qp_access_flags = IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE;
	if (rc_qp)
		attr.qp_access_flags |= IBV_ACCESS_REMOTE_READ |
					IBV_ACCESS_REMOTE_ATOMIC;
	if (r->send_ops_flags & IBV_QP_EX_WITH_FLUSH)	/* responder checks */
		attr.qp_access_flags |= IBV_ACCESS_FLUSH_GLOBAL |
					IBV_ACCESS_FLUSH_PERSISTENT;
	rc = qp_modify(t, qp, &attr, IBV_QP_STATE | IBV_QP_PKEY_INDEX |
		       IBV_QP_PORT | IBV_QP_ACCESS_FLAGS, "INIT");
	if (rc != TEST_PASS)
		return rc;

	memset(&attr, 0, sizeof(attr));
	attr.qp_state = IBV_QPS_RTR;
	attr.path_mtu = r->mtu;
	attr.dest_qp_num = dqpn;
	attr.rq_psn = rq_psn;
	attr.ah_attr.is_global = 1;		/* RoCE: GRH always */
	attr.ah_attr.grh.dgid = *dgid;
	attr.ah_attr.grh.sgid_index = (uint8_t)r->gid_index;
	attr.ah_attr.grh.hop_limit = 1;
	attr.ah_attr.dlid = 0;
	attr.ah_attr.sl = 0;
	attr.ah_attr.src_path_bits = 0;
	attr.ah_attr.port_num = r->port_num;
	mask = IBV_QP_STATE | IBV_QP_AV | IBV_QP_PATH_MTU | IBV_QP_DEST_QPN |
	       IBV_QP_RQ_PSN;
	if (rc_qp) {
		attr.max_dest_rd_atomic = 1;
		attr.min_rnr_timer = 12;
		mask |= IBV_QP_MAX_DEST_RD_ATOMIC | IBV_QP_MIN_RNR_TIMER;
	}
	rc = qp_modify(t, qp, &attr, mask, "RTR");
	if (rc != TEST_PASS)
		return rc;

	memset(&attr, 0, sizeof(attr));
	attr.qp_state = IBV_QPS_RTS;
	attr.sq_psn = sq_psn;
	mask = IBV_QP_STATE | IBV_QP_SQ_PSN;
	if (rc_qp) {
		/* 4.096 us * 2^18 ~= 1 s per try: slow (TCG) guests and uffd
		 * round trips must not exhaust the retries before the
		 * completion deadline. */
		attr.timeout = 18;
		attr.retry_cnt = 7;
		attr.rnr_retry = 7;
		attr.max_rd_atomic = 1;
		mask |= IBV_QP_TIMEOUT | IBV_QP_RETRY_CNT | IBV_QP_RNR_RETRY |
			IBV_QP_MAX_QP_RD_ATOMIC;
	}
	return qp_modify(t, qp, &attr, mask, "RTS");
}

/* Open the device named r->dev_name, check it, allocate the PD. */
static int rdma_open(struct test_ctx *t, struct rdma_res *r,
		     const struct rdma_caps_req *req)
{
	int rc;

	r->port_num = RDMA_PORT_NUM;
	r->gid_index = t->opts->gid_index;
	r->qp_type = req->qp_type ? req->qp_type : IBV_QPT_RC;
	r->send_ops_flags = req->send_ops_flags;
	test_step(t, "open device %s", r->dev_name);
	rc = open_device(t, r);
	if (rc != TEST_PASS)
		return rc;
	test_step(t, "query %s device/port/gid", r->dev_name);
	rc = check_device(t, r, req);
	if (rc != TEST_PASS)
		return rc;
	test_step(t, "allocate PD on %s", r->dev_name);
	r->pd = ibv_alloc_pd(r->ctx);
	if (!r->pd)
		return test_fail(t, "ibv_alloc_pd(%s): %s", r->dev_name,
				 strerror(errno));
	return TEST_PASS;
}

/* A CQ and a QP of r's type on r's PD: *cq, *qp (and *qpx if extended). */
static int create_cq_qp(struct test_ctx *t, struct rdma_res *r,
			struct ibv_cq **cq, struct ibv_qp **qp,
			struct ibv_qp_ex **qpx)
{
	struct ibv_qp_init_attr_ex qia = {
		.qp_type = r->qp_type,
		.sq_sig_all = 0,
		.cap = {
			.max_send_wr = 16, .max_recv_wr = 16,
			.max_send_sge = 1, .max_recv_sge = 1,
		},
		.comp_mask = IBV_QP_INIT_ATTR_PD,
		.pd = r->pd,
	};

	*cq = ibv_create_cq(r->ctx, 32, NULL, NULL, 0);
	if (!*cq)
		return test_fail(t, "ibv_create_cq(%s): %s", r->dev_name,
				 strerror(errno));
	qia.send_cq = *cq;
	qia.recv_cq = *cq;
	if (r->send_ops_flags) {
		qia.comp_mask |= IBV_QP_INIT_ATTR_SEND_OPS_FLAGS;
		qia.send_ops_flags = r->send_ops_flags;
	}
	*qp = ibv_create_qp_ex(r->ctx, &qia);
	if (!*qp)
		return test_fail(t, "ibv_create_qp_ex(%s, type %d, send_ops 0x%" PRIx64 "): %s",
				 r->dev_name, (int)r->qp_type, r->send_ops_flags,
				 strerror(errno));
	if (qpx && r->send_ops_flags) {
		*qpx = ibv_qp_to_qp_ex(*qp);
		if (!*qpx)
			return test_fail(t, "ibv_qp_to_qp_ex(QP 0x%x) returned NULL",
					 (*qp)->qp_num);
	}
	return TEST_PASS;
}

/* Create two QPs on r and connect them to each other (loopback). */
static int create_loop_pair(struct test_ctx *t, struct rdma_res *r,
			    struct ibv_cq *cq[2], struct ibv_qp *qp[2],
			    struct ibv_qp_ex *qpx[2])
{
	static const uint32_t psn[2] = { 0x1000, 0x2000 };
	int rc, i;

	test_step(t, "create CQs and QPs on %s", r->dev_name);
	for (i = 0; i < 2; i++) {
		rc = create_cq_qp(t, r, &cq[i], &qp[i], qpx ? &qpx[i] : NULL);
		if (rc != TEST_PASS)
			return rc;
	}
	test_step(t, "connect QP 0x%x <-> QP 0x%x", qp[0]->qp_num,
		  qp[1]->qp_num);
	for (i = 0; i < 2; i++) {
		if (r->qp_type == IBV_QPT_UD)
			rc = qp_connect_ud(t, r, qp[i], psn[i]);
		else
			rc = qp_connect(t, r, qp[i], &r->gid, qp[!i]->qp_num,
					psn[i], psn[!i]);
		if (rc != TEST_PASS)
			return rc;
	}
	return TEST_PASS;
}

static int rdma_setup_steps(struct test_ctx *t, struct rdma_res *r,
			    const struct rdma_caps_req *req)
{
	struct ibv_ah_attr ah = { 0 };
	int rc;

	rc = rdma_open(t, r, req);
	if (rc == TEST_PASS)
		rc = create_loop_pair(t, r, r->cq, r->qp, r->qpx);
	if (rc != TEST_PASS || r->qp_type != IBV_QPT_UD)
		return rc;
	test_step(t, "create UD address handle");
	ah.is_global = 1;
	ah.grh.dgid = r->gid;
	ah.grh.sgid_index = (uint8_t)r->gid_index;
	ah.grh.hop_limit = 1;
	ah.port_num = r->port_num;
	r->ah = ibv_create_ah(r->pd, &ah);
	if (!r->ah)
		return test_fail(t, "ibv_create_ah(%s, own GID): %s", r->dev_name,
				 strerror(errno));
	return TEST_PASS;
}

int rdma_setup(struct test_ctx *t, struct rdma_res *r,
	       const struct rdma_caps_req *req)
{
	int rc;

	memset(r, 0, sizeof(*r));
	r->dev_name = t->opts->dev;
	rc = rdma_setup_steps(t, r, req);
	if (rc != TEST_PASS)
		rc = test_worse(rc, rdma_teardown(t, r));
	return rc;
}

static int rdma_setup_2host_steps(struct test_ctx *t, struct rdma_res *a,
				  struct rdma_res *b,
				  const struct rdma_caps_req *req)
{
	int rc;

	if (req->qp_type && req->qp_type != IBV_QPT_RC)
		return test_fail(t, "rdma_setup_2host: RC QPs only");
	rc = rdma_open(t, a, req);
	if (rc == TEST_PASS)
		rc = rdma_open(t, b, req);
	if (rc == TEST_PASS)
		rc = create_cq_qp(t, a, &a->cq[0], &a->qp[0], &a->qpx[0]);
	if (rc == TEST_PASS)
		rc = create_cq_qp(t, b, &b->cq[0], &b->qp[0], &b->qpx[0]);
	if (rc != TEST_PASS)
		return rc;
	test_step(t, "connect %s QP 0x%x <-> %s QP 0x%x", a->dev_name,
		  a->qp[0]->qp_num, b->dev_name, b->qp[0]->qp_num);
	if (t->opts->verbose) {
		char ga[INET6_ADDRSTRLEN], gb[INET6_ADDRSTRLEN];

		if (inet_ntop(AF_INET6, a->gid.raw, ga, sizeof(ga)) &&
		    inet_ntop(AF_INET6, b->gid.raw, gb, sizeof(gb)))
			tap_diag("%s GID %s <-> %s GID %s", a->dev_name, ga,
				 b->dev_name, gb);
	}
	rc = qp_connect(t, a, a->qp[0], &b->gid, b->qp[0]->qp_num, 0x1000,
			0x2000);
	if (rc == TEST_PASS)
		rc = qp_connect(t, b, b->qp[0], &a->gid, a->qp[0]->qp_num,
				0x2000, 0x1000);
	return rc;
}

int rdma_setup_2host(struct test_ctx *t, struct rdma_res *a,
		     struct rdma_res *b, const char *dev_a, const char *dev_b,
		     const struct rdma_caps_req *req)
{
	int rc;

	memset(a, 0, sizeof(*a));
	memset(b, 0, sizeof(*b));
	a->dev_name = dev_a;
	b->dev_name = dev_b;
	rc = rdma_setup_2host_steps(t, a, b, req);
	if (rc != TEST_PASS) {
		rc = test_worse(rc, rdma_teardown(t, b));
		rc = test_worse(rc, rdma_teardown(t, a));
	}
	return rc;
}

/* Destroy QPs then CQs, highest index first; NULL entries are skipped. */
static int destroy_qps_cqs(struct test_ctx *t, struct ibv_qp *qp[2],
			   struct ibv_cq *cq[2])
{
	int rc = TEST_PASS, err, i;

	for (i = 1; i >= 0; i--) {
		if (qp[i]) {
			err = ibv_destroy_qp(qp[i]);
			if (err)
				rc = test_fail(t, "ibv_destroy_qp(%d): %s", i,
					       strerror(err));
			qp[i] = NULL;
		}
	}
	for (i = 1; i >= 0; i--) {
		if (cq[i]) {
			err = ibv_destroy_cq(cq[i]);
			if (err)
				rc = test_fail(t, "ibv_destroy_cq(%d): %s", i,
					       strerror(err));
			cq[i] = NULL;
		}
	}
	return rc;
}

int rdma_teardown(struct test_ctx *t, struct rdma_res *r)
{
	int rc = TEST_PASS, err;

	test_step(t, "rdma teardown");
	if (r->ah) {
		err = ibv_destroy_ah(r->ah);
		if (err)
			rc = test_fail(t, "ibv_destroy_ah: %s", strerror(err));
		r->ah = NULL;
	}
	r->qpx[0] = NULL;
	r->qpx[1] = NULL;
	rc = test_worse(rc, destroy_qps_cqs(t, r->qp, r->cq));
	if (r->pd) {
		err = ibv_dealloc_pd(r->pd);
		if (err)
			rc = test_fail(t, "ibv_dealloc_pd: %s", strerror(err));
		r->pd = NULL;
	}
	if (r->ctx) {
		if (ibv_close_device(r->ctx))
			rc = test_fail(t, "ibv_close_device: %s", strerror(errno));
		r->ctx = NULL;
	}
	return rc;
}

int rdma_pair_create(struct test_ctx *t, struct rdma_res *r,
		     struct rdma_pair *p)
{
	int rc;

	memset(p, 0, sizeof(*p));
	if ((r->qp_type != IBV_QPT_RC && r->qp_type != IBV_QPT_UC &&
	     r->qp_type != IBV_QPT_UD) || r->send_ops_flags)
		return test_fail(t, "rdma_pair_create: plain RC, UC or UD resources only");
	rc = create_loop_pair(t, r, p->cq, p->qp, NULL);
	if (rc != TEST_PASS)
		rc = test_worse(rc, rdma_pair_destroy(t, p));
	return rc;
}

int rdma_pair_destroy(struct test_ctx *t, struct rdma_pair *p)
{
	return destroy_qps_cqs(t, p->qp, p->cq);
}

int rdma_reg_mr(struct test_ctx *t, struct rdma_res *r, void *addr,
		size_t len, int access, const char *what, struct ibv_mr **mr)
{
	*mr = ibv_reg_mr(r->pd, addr, len, access);
	if (!*mr)
		return test_fail(t, "ibv_reg_mr(%s, %p+%zu, access 0x%x): %s",
				 what, addr, len, (unsigned int)access,
				 strerror(errno));
	return TEST_PASS;
}

int rdma_dereg_mr(struct test_ctx *t, struct ibv_mr **mr, const char *what)
{
	int err;

	if (!*mr)
		return TEST_PASS;
	err = ibv_dereg_mr(*mr);
	*mr = NULL;
	if (err)
		return test_fail(t, "ibv_dereg_mr(%s): %s", what, strerror(err));
	return TEST_PASS;
}

static const char *wr_opcode_str(enum ibv_wr_opcode op)
{
	switch (op) {
	case IBV_WR_RDMA_WRITE: return "RDMA WRITE";
	case IBV_WR_RDMA_WRITE_WITH_IMM: return "RDMA WRITE with immediate";
	case IBV_WR_SEND: return "SEND";
	case IBV_WR_SEND_WITH_IMM: return "SEND with immediate";
	case IBV_WR_RDMA_READ: return "RDMA READ";
	case IBV_WR_ATOMIC_CMP_AND_SWP: return "ATOMIC CMP&SWP";
	case IBV_WR_ATOMIC_FETCH_AND_ADD: return "ATOMIC FETCH&ADD";
	case IBV_WR_ATOMIC_WRITE: return "ATOMIC WRITE";
	case IBV_WR_FLUSH: return "FLUSH";
	default: return "WR";
	}
}

int rdma_wait_wc(struct test_ctx *t, struct ibv_cq *cq, const char *what,
		 uint64_t wr_id, int timeout_ms,
		 const struct uffd_handler *watch, struct ibv_wc *wc)
{
	struct timespec pause = { .tv_nsec = 200000 };
	double deadline = test_now_s() + timeout_ms / 1000.0;
	unsigned int spins = 0;
	int n;

	for (;;) {
		n = ibv_poll_cq(cq, 1, wc);
		if (n < 0)
			return test_fail(t, "ibv_poll_cq(%s) returned %d", what, n);
		if (n == 1)
			break;
		if (watch && uffd_handler_failed(watch))
			return test_fail(t, "%s: uffd handler failed while waiting for the completion: %s",
					 what, watch->err_msg);
		if (test_now_s() > deadline)
			return test_fail(t, "%s: no completion within %d ms",
					 what, timeout_ms);
		/* Yield first, then sleep: gentle on small guests. */
		if (spins++ < 100)
			sched_yield();
		else
			nanosleep(&pause, NULL);
	}
	if (wc->status != IBV_WC_SUCCESS)
		return test_fail(t, "%s completion: status %s (%d), vendor_err 0x%x, QP 0x%x",
				 what, ibv_wc_status_str(wc->status),
				 (int)wc->status, wc->vendor_err, wc->qp_num);
	if (wc->wr_id != wr_id)
		return test_fail(t, "%s completion for wr_id %" PRIu64 ", expected %" PRIu64,
				 what, (uint64_t)wc->wr_id, wr_id);
	return TEST_PASS;
}

int rdma_post_wait(struct test_ctx *t, struct ibv_qp *qp, struct ibv_cq *cq,
		   struct ibv_send_wr *wr, int timeout_ms,
		   const struct uffd_handler *watch, struct ibv_wc *wc)
{
	const char *op = wr_opcode_str(wr->opcode);
	struct ibv_send_wr *bad = NULL;
	int err;

	wr->send_flags |= IBV_SEND_SIGNALED;
	err = ibv_post_send(qp, wr, &bad);
	if (err)
		return test_fail(t, "ibv_post_send(%s, QP 0x%x): %s", op,
				 qp->qp_num, strerror(err));
	return rdma_wait_wc(t, cq, op, wr->wr_id, timeout_ms, watch, wc);
}

int rdma_rw_qp(struct test_ctx *t, struct ibv_qp *qp, struct ibv_cq *cq,
	       enum ibv_wr_opcode op, void *laddr, uint32_t len, uint32_t lkey,
	       uint64_t raddr, uint32_t rkey, const struct uffd_handler *watch)
{
	struct ibv_sge sge = {
		.addr = (uintptr_t)laddr, .length = len, .lkey = lkey,
	};
	struct ibv_send_wr wr = {
		.wr_id = 0x5eed0000u + (unsigned int)op,
		.sg_list = &sge,
		.num_sge = 1,
		.opcode = op,
		.send_flags = IBV_SEND_SIGNALED,
	};
	struct ibv_wc wc;

	if (op != IBV_WR_SEND) {
		wr.wr.rdma.remote_addr = raddr;
		wr.wr.rdma.rkey = rkey;
	}
	return rdma_post_wait(t, qp, cq, &wr, TEST_WC_TIMEOUT_MS, watch, &wc);
}

int rdma_rw(struct test_ctx *t, struct rdma_res *r, int qpi,
	    enum ibv_wr_opcode op, void *laddr, uint32_t len, uint32_t lkey,
	    uint64_t raddr, uint32_t rkey, const struct uffd_handler *watch)
{
	return rdma_rw_qp(t, r->qp[qpi], r->cq[qpi], op, laddr, len, lkey,
			  raddr, rkey, watch);
}

int rdma_post_recv(struct test_ctx *t, struct ibv_qp *qp, void *addr,
		   uint32_t len, uint32_t lkey, uint64_t wr_id)
{
	struct ibv_sge sge = {
		.addr = (uintptr_t)addr, .length = len, .lkey = lkey,
	};
	struct ibv_recv_wr wr = {
		.wr_id = wr_id, .sg_list = &sge, .num_sge = 1,
	};
	struct ibv_recv_wr *bad = NULL;
	int err;

	err = ibv_post_recv(qp, &wr, &bad);
	if (err)
		return test_fail(t, "ibv_post_recv(QP 0x%x, %p+%u): %s",
				 qp->qp_num, addr, len, strerror(err));
	return TEST_PASS;
}

int rdma_atomic(struct test_ctx *t, struct rdma_res *r, int qpi,
		enum ibv_wr_opcode op, uint64_t raddr, uint32_t rkey,
		uint64_t compare, uint64_t swap_add, void *result,
		uint32_t lkey, const struct uffd_handler *watch)
{
	struct ibv_sge sge = {
		.addr = (uintptr_t)result, .length = 8, .lkey = lkey,
	};
	struct ibv_send_wr wr = {
		.wr_id = 0xa7011c00u + (unsigned int)op,
		.sg_list = &sge,
		.num_sge = 1,
		.opcode = op,
		.send_flags = IBV_SEND_SIGNALED,
	};
	struct ibv_wc wc;

	wr.wr.atomic.remote_addr = raddr;
	wr.wr.atomic.rkey = rkey;
	wr.wr.atomic.compare_add = op == IBV_WR_ATOMIC_CMP_AND_SWP ? compare :
							      swap_add;
	wr.wr.atomic.swap = op == IBV_WR_ATOMIC_CMP_AND_SWP ? swap_add : 0;
	return rdma_post_wait(t, r->qp[qpi], r->cq[qpi], &wr,
			      TEST_WC_TIMEOUT_MS, watch, &wc);
}

/* ibv_wr_complete() and wait for the completion of wr_id. */
static int wr_complete_wait(struct test_ctx *t, struct rdma_res *r, int qpi,
			    const char *what, uint64_t wr_id,
			    const struct uffd_handler *watch)
{
	struct ibv_wc wc;
	int err;

	err = ibv_wr_complete(r->qpx[qpi]);
	if (err)
		return test_fail(t, "ibv_wr_complete(%s, QP 0x%x): %s", what,
				 r->qp[qpi]->qp_num, strerror(err));
	return rdma_wait_wc(t, r->cq[qpi], what, wr_id, TEST_WC_TIMEOUT_MS,
			    watch, &wc);
}

int rdma_atomic_write(struct test_ctx *t, struct rdma_res *r, int qpi,
		      uint64_t raddr, uint32_t rkey, uint64_t value,
		      const struct uffd_handler *watch)
{
	struct ibv_qp_ex *qpx = r->qpx[qpi];
	const uint64_t wr_id = 0xa7017e00u;
	uint8_t bytes[8];

	if (!qpx || !(r->send_ops_flags & IBV_QP_EX_WITH_ATOMIC_WRITE))
		return test_fail(t, "rdma_atomic_write: QP made without IBV_QP_EX_WITH_ATOMIC_WRITE");
	memcpy(bytes, &value, sizeof(bytes));	/* host order, as the CPU reads it */
	ibv_wr_start(qpx);
	qpx->wr_id = wr_id;
	qpx->wr_flags = IBV_SEND_SIGNALED;
	ibv_wr_atomic_write(qpx, rkey, raddr, bytes);
	return wr_complete_wait(t, r, qpi, "ATOMIC WRITE", wr_id, watch);
}

int rdma_flush(struct test_ctx *t, struct rdma_res *r, int qpi,
	       uint64_t raddr, uint32_t rkey, size_t len, uint8_t type,
	       const struct uffd_handler *watch)
{
	struct ibv_qp_ex *qpx = r->qpx[qpi];
	const uint64_t wr_id = 0xf1a5e000u + type;

	if (!qpx || !(r->send_ops_flags & IBV_QP_EX_WITH_FLUSH))
		return test_fail(t, "rdma_flush: QP made without IBV_QP_EX_WITH_FLUSH");
	ibv_wr_start(qpx);
	qpx->wr_id = wr_id;
	qpx->wr_flags = IBV_SEND_SIGNALED;
	ibv_wr_flush(qpx, rkey, raddr, len, type, IBV_FLUSH_RANGE);
	return wr_complete_wait(t, r, qpi, "FLUSH", wr_id, watch);
}

int rdma_ud_send(struct test_ctx *t, struct rdma_res *r, int qpi,
		 void *laddr, uint32_t len, uint32_t lkey,
		 const struct uffd_handler *watch)
{
	struct ibv_sge sge = {
		.addr = (uintptr_t)laddr, .length = len, .lkey = lkey,
	};
	struct ibv_send_wr wr = {
		.wr_id = 0x0d5e0d00u,
		.sg_list = &sge,
		.num_sge = 1,
		.opcode = IBV_WR_SEND,
		.send_flags = IBV_SEND_SIGNALED,
	};
	struct ibv_wc wc;

	if (!r->ah)
		return test_fail(t, "rdma_ud_send: no address handle (not UD?)");
	wr.wr.ud.ah = r->ah;
	wr.wr.ud.remote_qpn = r->qp[!qpi]->qp_num;
	wr.wr.ud.remote_qkey = RDMA_UD_QKEY;
	return rdma_post_wait(t, r->qp[qpi], r->cq[qpi], &wr,
			      TEST_WC_TIMEOUT_MS, watch, &wc);
}


static long res_field(const char *line, const char *key)
{
	char pat[16];
	const char *s;

	snprintf(pat, sizeof(pat), " %s ", key);
	s = strstr(line, pat);
	return s ? strtol(s + strlen(pat), NULL, 10) : -1;
}

int rdma_res_count_get(struct test_ctx *t, struct rdma_res_count *c)
{
	const char *cmd = "rdma resource show 2>&1";
	char line[256], want[40];
	bool found = false;
	FILE *f;

	snprintf(want, sizeof(want), ": %s:", t->opts->dev);
	f = popen(cmd, "r");
	if (!f)
		return test_fail(t, "popen(%s): %s", cmd, strerror(errno));
	while (fgets(line, sizeof(line), f)) {
		if (!strstr(line, want))
			continue;
		*c = (struct rdma_res_count){
			.pd = res_field(line, "pd"), .cq = res_field(line, "cq"),
			.qp = res_field(line, "qp"), .mr = res_field(line, "mr"),
			.ctx = res_field(line, "ctx"),
		};
		found = true;
	}
	if (pclose(f) == -1)
		return test_fail(t, "pclose(rdma resource show): %s",
				 strerror(errno));
	if (!found)
		return test_fail(t, "rdma resource show: no line for %s",
				 t->opts->dev);
	return TEST_PASS;
}

bool rdma_res_count_equal(const struct rdma_res_count *a,
			  const struct rdma_res_count *b)
{
	return a->pd == b->pd && a->cq == b->cq && a->qp == b->qp &&
	       a->mr == b->mr && a->ctx == b->ctx;
}

int rdma_res_count_wait(struct test_ctx *t, const struct rdma_res_count *want,
			double timeout_s, const char *what)
{
	double deadline = test_now_s() + timeout_s;
	struct rdma_res_count now;
	int rc;

	for (;;) {
		rc = rdma_res_count_get(t, &now);
		if (rc != TEST_PASS)
			return rc;
		if (rdma_res_count_equal(want, &now))
			return TEST_PASS;
		if (test_now_s() > deadline)
			break;
		test_sleep_us(200000);
	}
	return test_fail(t, "%s: rdma resources not released within %.0f s: want pd %ld cq %ld qp %ld mr %ld ctx %ld, have pd %ld cq %ld qp %ld mr %ld ctx %ld",
			 what, timeout_s, want->pd, want->cq, want->qp, want->mr,
			 want->ctx, now.pd, now.cq, now.qp, now.mr, now.ctx);
}


static const char *advice_str(enum ibv_advise_mr_advice advice)
{
	switch (advice) {
	case IBV_ADVISE_MR_ADVICE_PREFETCH: return "PREFETCH";
	case IBV_ADVISE_MR_ADVICE_PREFETCH_WRITE: return "PREFETCH_WRITE";
	case IBV_ADVISE_MR_ADVICE_PREFETCH_NO_FAULT: return "PREFETCH_NO_FAULT";
	}
	return "?";
}

int rdma_advise(struct test_ctx *t, struct rdma_res *r,
		enum ibv_advise_mr_advice advice, uint32_t flags,
		struct ibv_sge *sge, uint32_t n)
{
	int ret = ibv_advise_mr(r->pd, advice, flags, sge, n);

	if (ret < 0)
		ret = errno;
	if (ret == EOPNOTSUPP || ret == ENOSYS)
		return test_skip(t, "ibv_advise_mr(%s) on %s: %s",
				 advice_str(advice), r->dev_name, strerror(ret));
	if (ret)
		return test_fail(t, "ibv_advise_mr(%s, %s, %u SGEs, the first %u bytes at 0x%" PRIx64 "): %s",
				 advice_str(advice),
				 flags & IBV_ADVISE_MR_FLAG_FLUSH ? "FLUSH" : "async",
				 n, sge[0].length, (uint64_t)sge[0].addr,
				 strerror(ret));
	return TEST_PASS;
}
