// SPDX-License-Identifier: GPL-2.0
/*
 * Reliability: tear things down while an rxe responder fault waits on a
 * userfaultfd that nobody answers yet.
 *
 * Every test builds the same fixture: a pinned source MR holding data, an
 * ODP target MR over uffd-missing memory, an RDMA WRITE qp[0] -> qp[1] into
 * it.  The uffd is read by nobody, so the responder's fault stays pending
 * (poll(uffd) reports POLLIN); then the test does one thing to it (close
 * the uffd, deregister the MR, destroy the QP, SIGKILL the process, ...)
 * and later "releases" the fault by answering it (UFFDIO_COPY of the whole
 * range) or by closing the uffd.  Each test checks that the action returns,
 * how long it blocked, and what the WRITE completed with.
 *
 * Named rel_* so that the ibv suite (every odp_* program) does not run it.
 * Each test's suites are in the table: make check (scripts/guest-tests' rel
 * suite, -s check) runs the scenarios that are safe with the series, make
 * soak (-s soak) the slow ones.  REL_REPEAT=<n> in the environment repeats
 * the kill tests n times (default 5); their time bound follows it
 * (kill_bound_s()), every other test has its own (REL_BOUND_S unless the
 * table says otherwise).
 */
#include "lib/verbs.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/capability.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SEED_DATA	0xa5u
#define SEED_BG		0x3cu
#define ODP_ACCESS	(IBV_ACCESS_ON_DEMAND | IBV_ACCESS_LOCAL_WRITE | \
			 IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_READ)
#define XFER_OFF	100
#define XFER_LEN	(64 * 1024 + 1000)
#define FAULT_WAIT_MS	20000
#define WR_ID		0x7e1u

enum release { REL_COPY, REL_CLOSE };

struct pend {
	struct rdma_res r;
	bool rdma_up;
	int uffd;
	bool registered;
	void *src, *dst;
	struct ibv_mr *src_mr, *dst_mr;
	size_t psz, map_len;
};

struct releaser {
	struct pend *p;
	enum release how;
	unsigned int delay_ms;
	pthread_t thread;
	bool started;
	pid_t caller;		/* thread blocked in the teardown call */
	bool early;		/* release as soon as the caller returns */
	atomic_bool caller_done;	/* the teardown call returned */
	bool released_blocked;	/* released while the caller was blocked */
	int err;		/* errno of the failed release call, 0 if none */
	const char *failed;	/* which call failed */
};

/* The bound of a test that sets no other (under TCG, the debug kernel). */
#define REL_BOUND_S	300

static unsigned int repeat_count(void)
{
	const char *s = getenv("REL_REPEAT");
	long v;

	if (!s)
		return 5;
	v = strtol(s, NULL, 10);
	return v > 0 && v < 100000 ? (unsigned int)v : 5;
}

/*
 * The bound of a kill test: REL_REPEAT kills (about 12 s each under TCG on
 * the debug kernel), never less than REL_BOUND_S.
 */
static unsigned int kill_bound_s(const struct test_case *tc)
{
	unsigned int b = 60 + 12 * repeat_count();

	(void)tc;
	return b > REL_BOUND_S ? b : REL_BOUND_S;
}

static void pend_init(struct pend *p)
{
	*p = (struct pend){ .uffd = -1, .psz = page_size() };
	p->map_len = (XFER_OFF + XFER_LEN + p->psz - 1) / p->psz * p->psz;
}

/* Open the uffd: uffd_first decides whether its fd is below the verbs fd. */
static int pend_setup(struct test_ctx *t, struct pend *p, bool uffd_first)
{
	const struct rdma_caps_req req = { .odp = true,
					   .rc_odp_caps = IBV_ODP_SUPPORT_WRITE };
	int rc;

	if (uffd_first && p->uffd < 0) {
		rc = uffd_open(t, &p->uffd);
		if (rc != TEST_PASS)
			return rc;
	}
	rc = rdma_setup(t, &p->r, &req);
	if (rc != TEST_PASS)
		return rc;
	p->rdma_up = true;
	if (p->uffd < 0) {
		rc = uffd_open(t, &p->uffd);
		if (rc != TEST_PASS)
			return rc;
	}
	test_step(t, "source buffer and pinned MR");
	rc = mem_map(t, p->map_len, &p->src, "source");
	if (rc != TEST_PASS)
		return rc;
	pattern_fill((uint8_t *)p->src + XFER_OFF, XFER_LEN, SEED_DATA,
		     XFER_OFF, p->psz);
	rc = rdma_reg_mr(t, &p->r, p->src, p->map_len, IBV_ACCESS_LOCAL_WRITE,
			 "source", &p->src_mr);
	if (rc != TEST_PASS)
		return rc;
	test_step(t, "uffd-missing target and ODP MR");
	rc = mem_map(t, p->map_len, &p->dst, "target");
	if (rc != TEST_PASS)
		return rc;
	rc = uffd_register_missing(t, p->uffd, p->dst, p->map_len);
	if (rc != TEST_PASS)
		return rc;
	p->registered = true;
	return rdma_reg_mr(t, &p->r, p->dst, p->map_len, ODP_ACCESS,
			   "target (ODP)", &p->dst_mr);
}

/* Post the WRITE and wait until its fault is queued on the uffd. */
static int pend_start(struct test_ctx *t, struct pend *p)
{
	struct ibv_sge sge = { .addr = (uintptr_t)p->src + XFER_OFF,
			       .length = XFER_LEN, .lkey = p->src_mr->lkey };
	struct ibv_send_wr wr = {
		.wr_id = WR_ID, .sg_list = &sge, .num_sge = 1,
		.opcode = IBV_WR_RDMA_WRITE, .send_flags = IBV_SEND_SIGNALED,
		.wr.rdma = { .remote_addr = (uintptr_t)p->dst + XFER_OFF,
			     .rkey = p->dst_mr->rkey },
	};
	struct pollfd pfd = { .fd = p->uffd, .events = POLLIN };
	struct ibv_send_wr *bad = NULL;
	int err, n;

	test_step(t, "post RDMA WRITE into the uffd-missing ODP MR");
	err = ibv_post_send(p->r.qp[0], &wr, &bad);
	if (err)
		return test_fail(t, "ibv_post_send(RDMA WRITE): %s",
				 strerror(err));
	test_step(t, "wait for the responder's fault on the uffd");
	n = poll(&pfd, 1, FAULT_WAIT_MS);
	if (n < 0)
		return test_fail(t, "poll(uffd): %s", strerror(errno));
	if (n == 0)
		return test_fail(t, "the uffd saw 0 faults within %d ms of the RDMA WRITE (stock kernel?)",
				 FAULT_WAIT_MS);
	return TEST_PASS;
}

/* Answer every missing page of the target at once (and wake the waiters). */
static int answer_all(struct pend *p, const char **what)
{
	struct uffdio_copy copy;
	uint8_t *bg;
	int err = 0;

	bg = aligned_alloc(p->psz, p->map_len);
	if (!bg) {
		*what = "aligned_alloc(answer pages)";
		return errno;
	}
	pattern_fill(bg, p->map_len, SEED_BG, 0, p->psz);
	copy = (struct uffdio_copy){ .dst = (uintptr_t)p->dst,
				     .src = (uintptr_t)bg,
				     .len = p->map_len };
	if (ioctl(p->uffd, UFFDIO_COPY, &copy) && errno != EEXIST) {
		err = errno;
		*what = "ioctl(UFFDIO_COPY, whole target)";
	}
	free(bg);
	return err;
}

/*
 * Where is the blocked caller?  Its wchan here, and every blocked task's
 * stack in the kernel log (sysrq w) for the report.
 */
static void report_blocked(pid_t tid)
{
	char path[64], buf[128];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/self/task/%d/wchan", (int)tid);
	fd = open(path, O_RDONLY);
	if (fd >= 0) {
		n = read(fd, buf, sizeof(buf) - 1);
		if (n > 0) {
			buf[n] = '\0';
			tap_diag("blocked caller's wchan before the release: %s",
				 buf);
		}
		close(fd);
	}
	fd = open("/proc/sysrq-trigger", O_WRONLY);
	if (fd < 0 || write(fd, "w", 1) != 1)
		tap_diag("sysrq w (blocked task stacks): %s", strerror(errno));
	else
		tap_diag("blocked task stacks: sysrq w in the kernel log");
	if (fd >= 0)
		close(fd);
}

static void *releaser_thread(void *arg)
{
	struct releaser *rl = arg;

	unsigned int waited;

	for (waited = 0; waited < rl->delay_ms; waited += 100) {
		if (rl->early && atomic_load(&rl->caller_done)) {
			tap_diag("teardown call returned with the fault still pending (%u ms)",
				 waited);
			break;
		}
		test_sleep_us(100000);
	}
	rl->released_blocked = rl->caller > 0 &&
			       !atomic_load(&rl->caller_done);
	if (rl->released_blocked)
		report_blocked(rl->caller);
	if (rl->how == REL_COPY) {
		rl->err = answer_all(rl->p, &rl->failed);
	} else {
		if (close(rl->p->uffd)) {
			rl->err = errno;
			rl->failed = "close(uffd)";
		}
		rl->p->uffd = -1;	/* joined before anyone reads it */
		rl->p->registered = false;
	}
	return NULL;
}

/* The common start of a scenario: set up, post the WRITE, fault pending. */
static int pend_begin(struct test_ctx *t, struct pend *p)
{
	int rc;

	pend_init(p);
	rc = pend_setup(t, p, false);
	return rc == TEST_PASS ? pend_start(t, p) : rc;
}

static int releaser_start(struct test_ctx *t, struct releaser *rl,
			  struct pend *p, enum release how,
			  unsigned int delay_ms, bool early)
{
	int err;

	rl->p = p;
	rl->early = early;
	rl->how = how;
	rl->delay_ms = delay_ms;
	rl->caller = gettid();
	atomic_init(&rl->caller_done, false);
	rl->released_blocked = false;
	rl->err = 0;
	rl->failed = NULL;
	err = pthread_create(&rl->thread, NULL, releaser_thread, rl);
	if (err)
		return test_fail(t, "pthread_create(releaser): %s",
				 strerror(err));
	rl->started = true;
	return TEST_PASS;
}

static int releaser_join(struct test_ctx *t, struct releaser *rl)
{
	int err;

	if (!rl->started)
		return TEST_PASS;
	err = pthread_join(rl->thread, NULL);
	rl->started = false;
	if (err)
		return test_fail(t, "pthread_join(releaser): %s", strerror(err));
	if (rl->err)
		return test_fail(t, "releaser: %s: %s", rl->failed,
				 strerror(rl->err));
	return TEST_PASS;
}

/* Wait for the WRITE's completion; *status = -1 if none came in time. */
static int pend_wait_wc(struct test_ctx *t, struct pend *p, int timeout_ms,
			int *status)
{
	double deadline = test_now_s() + timeout_ms / 1000.0;
	struct ibv_wc wc;
	int n;

	*status = -1;
	test_step(t, "wait for the RDMA WRITE completion");
	while (test_now_s() < deadline) {
		n = ibv_poll_cq(p->r.cq[0], 1, &wc);
		if (n < 0)
			return test_fail(t, "ibv_poll_cq: %d", n);
		if (n == 1) {
			if (wc.wr_id != WR_ID)
				return test_fail(t, "completion for wr_id %" PRIu64,
						 (uint64_t)wc.wr_id);
			*status = (int)wc.status;
			tap_diag("RDMA WRITE completed: %s",
				 ibv_wc_status_str(wc.status));
			return TEST_PASS;
		}
		test_sleep_us(1000);
	}
	tap_diag("RDMA WRITE: no completion within %d ms", timeout_ms);
	return TEST_PASS;
}

static int pend_verify(struct test_ctx *t, struct pend *p, bool zero_bg)
{
	const uint8_t *d = p->dst;
	size_t tail = XFER_OFF + XFER_LEN;
	int rc;

	test_step(t, "verify target");
	rc = pattern_verify(t, d + XFER_OFF, XFER_LEN, SEED_DATA, XFER_OFF,
			    p->psz, "written bytes");
	if (zero_bg)
		return test_worse(rc, test_worse(
			bytes_verify(t, d, XFER_OFF, 0, 0, "head"),
			bytes_verify(t, d + tail, p->map_len - tail, 0, tail,
				     "tail")));
	return test_worse(rc, test_worse(
		pattern_verify(t, d, XFER_OFF, SEED_BG, 0, p->psz, "head"),
		pattern_verify(t, d + tail, p->map_len - tail, SEED_BG, tail,
			       p->psz, "tail")));
}

static int pend_teardown(struct test_ctx *t, struct pend *p)
{
	int rc = TEST_PASS;

	test_step(t, "teardown");
	if (p->registered) {
		struct uffdio_range range = { .start = (uintptr_t)p->dst,
					      .len = p->map_len };

		if (ioctl(p->uffd, UFFDIO_UNREGISTER, &range))
			rc = test_fail(t, "ioctl(UFFDIO_UNREGISTER): %s",
				       strerror(errno));
		p->registered = false;
	}
	if (p->uffd >= 0) {
		if (close(p->uffd))
			rc = test_fail(t, "close(uffd): %s", strerror(errno));
		p->uffd = -1;
	}
	rc = test_worse(rc, rdma_dereg_mr(t, &p->dst_mr, "target"));
	rc = test_worse(rc, mem_unmap(t, &p->dst, p->map_len, "target"));
	rc = test_worse(rc, rdma_dereg_mr(t, &p->src_mr, "source"));
	rc = test_worse(rc, mem_unmap(t, &p->src, p->map_len, "source"));
	if (p->rdma_up)
		rc = test_worse(rc, rdma_teardown(t, &p->r));
	p->rdma_up = false;
	return rc;
}

/* Scenario 4: close the uffd or unregister the range while a fault waits. */
static int uffd_gone(struct test_ctx *t, bool unregister)
{
	struct pend p;
	int rc, st;

	rc = pend_begin(t, &p);
	if (rc != TEST_PASS)
		goto out;
	if (unregister) {
		struct uffdio_range range = { .start = (uintptr_t)p.dst,
					      .len = p.map_len };

		test_step(t, "UFFDIO_UNREGISTER with the fault pending");
		if (ioctl(p.uffd, UFFDIO_UNREGISTER, &range)) {
			rc = test_fail(t, "ioctl(UFFDIO_UNREGISTER) with a fault pending: %s",
				       strerror(errno));
			goto out;
		}
	} else {
		test_step(t, "close(uffd) with the fault pending");
		if (close(p.uffd)) {
			rc = test_fail(t, "close(uffd) with a fault pending: %s",
				       strerror(errno));
			p.uffd = -1;
			goto out;
		}
		p.uffd = -1;
	}
	p.registered = false;
	/* The fault is retried as an ordinary one: zero pages, then data. */
	rc = pend_wait_wc(t, &p, TEST_WC_TIMEOUT_MS, &st);
	if (rc == TEST_PASS && st != IBV_WC_SUCCESS)
		rc = test_fail(t, "RDMA WRITE after the uffd went away: %s",
			       st < 0 ? "no completion" :
			       ibv_wc_status_str((enum ibv_wc_status)st));
	if (rc == TEST_PASS)
		rc = pend_verify(t, &p, true);
out:
	return test_worse(rc, pend_teardown(t, &p));
}

static int test_uffd_close_pending(struct test_ctx *t)
{
	return uffd_gone(t, false);
}

static int test_uffd_unregister_pending(struct test_ctx *t)
{
	return uffd_gone(t, true);
}

/*
 * Scenario 2: ibv_dereg_mr of the faulting MR; the handler answers after
 * delay_ms.  The dereg must return, and must not give up on the MR
 * reference the responder still holds (rxe_pool.c: WARN + free after 50 s).
 * With no_wait, the dereg must also return before the fault is answered,
 * and the WRITE must complete with an error: its target MR is gone.
 */
static int dereg_pending(struct test_ctx *t, unsigned int delay_ms,
			 enum release how, bool early, bool no_wait)
{
	struct releaser rl = { 0 };
	struct pend p;
	double t0, dt;
	int rc, st;

	rc = pend_begin(t, &p);
	if (rc != TEST_PASS)
		goto out;
	rc = releaser_start(t, &rl, &p, how, delay_ms, early);
	if (rc != TEST_PASS)
		goto out;
	test_step(t, "ibv_dereg_mr(target) with the fault pending (release in %u ms)",
		  delay_ms);
	t0 = test_now_s();
	rc = rdma_dereg_mr(t, &p.dst_mr, "target, fault pending");
	dt = test_now_s() - t0;
	atomic_store(&rl.caller_done, true);
	tap_diag("ibv_dereg_mr with a pending fault returned after %.2f s (release after %.2f s)",
		 dt, delay_ms / 1000.0);
	rc = test_worse(rc, releaser_join(t, &rl));
	if (rc != TEST_PASS)
		goto out;
	if (no_wait && rl.released_blocked) {
		rc = test_fail(t, "ibv_dereg_mr waited for the userfaultfd handler to answer");
		goto out;
	}
	rc = pend_wait_wc(t, &p, TEST_WC_TIMEOUT_MS, &st);
	if (rc == TEST_PASS && st < 0)
		rc = test_fail(t, "no completion for the RDMA WRITE after dereg + release");
	else if (rc == TEST_PASS && no_wait && st == IBV_WC_SUCCESS)
		rc = test_fail(t, "the RDMA WRITE into a deregistered MR succeeded");
out:
	rc = test_worse(rc, releaser_join(t, &rl));
	return test_worse(rc, pend_teardown(t, &p));
}

static int test_dereg_mr_pending(struct test_ctx *t)
{
	return dereg_pending(t, 3000, REL_COPY, false, false);
}

static int test_dereg_mr_pending_close(struct test_ctx *t)
{
	return dereg_pending(t, 3000, REL_CLOSE, false, false);
}

/*
 * Beyond rxe's pool timeout: the dereg gives up on the responder's MR
 * reference (WARN) and frees the MR; the fault is answered right after, so
 * the responder resumes on the freed MR.  The stall ends at 150 s at most.
 */
static int test_dereg_mr_pending_long(struct test_ctx *t)
{
	return dereg_pending(t, 150000, REL_COPY, true, false);
}

/* Between the hung-task timeout (30 s on debug) and rxe's pool timeout. */
static int test_dereg_mr_pending_40s(struct test_ctx *t)
{
	return dereg_pending(t, 40000, REL_COPY, false, false);
}

/*
 * The "stalled" teardowns: the handler never answers; the uffd is closed as
 * soon as the teardown returns, or after STALL_RELEASE_MS with the
 * teardown still blocked, which fails the test ("waited for the
 * userfaultfd handler").  Where the teardown waits for the fault (a kernel
 * whose rxe faults sleep in its work items, without a cancel: the series'
 * first version without its cancel patches), it waits for the responder's
 * reference, which only the answer or rxe's 50 s pool timeout (a WARN, then
 * the object freed under the fault) gives back; the release comes first,
 * and STALL_BOUND_S (the test's own bound, less than 50 s) ends the test
 * even if the release does not help.
 */
#define STALL_RELEASE_MS	20000
#define STALL_BOUND_S		35

/*
 * The dereg must not depend on userspace: it returns with the fault still
 * pending, and the WRITE fails.
 */
static int test_dereg_mr_stalled(struct test_ctx *t)
{
	return dereg_pending(t, STALL_RELEASE_MS, REL_CLOSE, true, true);
}

/*
 * Scenario 3: destroy the responder QP while its work item faults.  With
 * no_wait, the destroy must return before the fault is answered.
 */
static int destroy_qp_pending(struct test_ctx *t, unsigned int delay_ms,
			      enum release how, bool early, bool no_wait)
{
	struct releaser rl = { 0 };
	struct pend p;
	double t0, dt;
	int rc, err;

	rc = pend_begin(t, &p);
	if (rc != TEST_PASS)
		goto out;
	rc = releaser_start(t, &rl, &p, how, delay_ms, early);
	if (rc != TEST_PASS)
		goto out;
	test_step(t, "ibv_destroy_qp(responder) with the fault pending (release in %u ms)",
		  delay_ms);
	t0 = test_now_s();
	err = ibv_destroy_qp(p.r.qp[1]);
	dt = test_now_s() - t0;
	atomic_store(&rl.caller_done, true);
	if (err) {
		rc = test_fail(t, "ibv_destroy_qp(responder, fault pending): %s",
			       strerror(err));
		goto out;
	}
	p.r.qp[1] = NULL;
	tap_diag("ibv_destroy_qp(responder) with a pending fault returned after %.2f s (release after %.2f s)",
		 dt, delay_ms / 1000.0);
	rc = releaser_join(t, &rl);
	if (rc == TEST_PASS && no_wait && rl.released_blocked)
		rc = test_fail(t, "ibv_destroy_qp waited for the userfaultfd handler to answer");
out:
	rc = test_worse(rc, releaser_join(t, &rl));
	return test_worse(rc, pend_teardown(t, &p));
}

static int test_destroy_qp_pending(struct test_ctx *t)
{
	return destroy_qp_pending(t, 3000, REL_COPY, false, false);
}

/*
 * Beyond rxe's 50 s pool timeout; answered as soon as the destroy returns,
 * which must come first: a destroy that waits for the fault (Linux 7.3's
 * rxe, whose fault sleeps in the responder's work item) is still blocked
 * when the answer comes at 150 s.
 */
static int test_destroy_qp_pending_long(struct test_ctx *t)
{
	return destroy_qp_pending(t, 150000, REL_COPY, true, true);
}

/*
 * The handler never answers (see STALL_RELEASE_MS): the destroy must return
 * with the fault pending.  Where the responder's work item sleeps in the
 * fault, the destroy spins in rxe_cleanup_task() until it is answered, and
 * rxe's pool cleanup WARNs after 50 s.
 */
static int test_destroy_qp_stalled(struct test_ctx *t)
{
	return destroy_qp_pending(t, STALL_RELEASE_MS, REL_CLOSE, true, true);
}

/* Scenario 8: stall past the hung-task timeout, then answer: data intact. */
static int test_stall_past_hung_task(struct test_ctx *t)
{
	struct releaser rl = { 0 };
	struct pend p;
	int rc, st;

	rc = pend_begin(t, &p);
	if (rc == TEST_PASS)
		rc = releaser_start(t, &rl, &p, REL_COPY, 45000, false);
	if (rc != TEST_PASS)
		goto out;
	test_step(t, "handler stalls 45 s");
	rc = releaser_join(t, &rl);
	if (rc == TEST_PASS)
		rc = pend_wait_wc(t, &p, TEST_WC_TIMEOUT_MS, &st);
	if (rc == TEST_PASS && st != IBV_WC_SUCCESS)
		rc = test_fail(t, "RDMA WRITE after a 45 s stall: %s",
			       st < 0 ? "no completion" :
			       ibv_wc_status_str((enum ibv_wc_status)st));
	if (rc == TEST_PASS)
		rc = pend_verify(t, &p, false);
out:
	rc = test_worse(rc, releaser_join(t, &rl));
	return test_worse(rc, pend_teardown(t, &p));
}

/*
 * Scenario 5: change the mapping under the pending fault, then close the
 * uffd, which lets the fault go.
 *
 * An ODP MR follows the address, not the memory once mapped there: the
 * fault is retried (by rxe's fault thread, the responder then maps the
 * range again) on whatever is mapped at the address when the fault is let
 * go.  After munmap or mremap the test moves, before it lets the fault go,
 * a read-only placeholder with a pattern to the old address: the WRITE
 * needs write access there, so it must fail with a remote access error
 * (ib_umem_odp_fault_user() -EFAULT, "a fault the thread could not
 * resolve fails the access") and every byte of the placeholder must stay.
 * mremap also keeps the moved mapping until the end: nothing was present
 * to move and the device wrote nothing there, so it reads all zero.
 * MADV_DONTNEED keeps the mapping: the WRITE completes on zero pages.
 */
enum mm_change { MM_MUNMAP, MM_DONTNEED, MM_MREMAP };

/*
 * A read-only mapping with pattern SEED_BG for the target's old address.
 * It is filled while the target still holds that address (so it lands
 * elsewhere), made read-only, and moved there once the target is gone:
 * while it is writable there the requester's retries would rightly find it
 * and write into it.
 */
static int placeholder_prepare(struct test_ctx *t, struct pend *p,
			       void **staging)
{
	void *m = mmap(NULL, p->map_len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	*staging = NULL;
	if (m == MAP_FAILED)
		return test_fail(t, "mmap(placeholder): %s", strerror(errno));
	pattern_fill(m, p->map_len, SEED_BG, 0, p->psz);
	if (mprotect(m, p->map_len, PROT_READ)) {
		munmap(m, p->map_len);
		return test_fail(t, "mprotect(placeholder, PROT_READ): %s",
				 strerror(errno));
	}
	*staging = m;
	return TEST_PASS;
}

static int placeholder_move(struct test_ctx *t, struct pend *p,
			    void **staging, void *at)
{
	void *moved = mremap(*staging, p->map_len, p->map_len,
			     MREMAP_MAYMOVE | MREMAP_FIXED, at);

	if (moved == MAP_FAILED)
		return test_fail(t, "mremap(read-only placeholder %p to the old target address %p): %s",
				 *staging, at, strerror(errno));
	*staging = NULL;
	p->dst = moved;	/* pend_teardown unmaps it */
	return TEST_PASS;
}

static int mm_change_pending(struct test_ctx *t, enum mm_change what)
{
	static const char *const names[] = { "munmap", "MADV_DONTNEED",
					     "mremap" };
	struct pend p;
	double t0;
	void *moved = NULL, *staging = NULL, *old;
	int rc, st;

	rc = pend_begin(t, &p);
	if (rc == TEST_PASS && what != MM_DONTNEED)
		rc = placeholder_prepare(t, &p, &staging);
	if (rc != TEST_PASS)
		goto out;
	old = p.dst;
	test_step(t, "%s of the target with the fault pending", names[what]);
	t0 = test_now_s();
	switch (what) {
	case MM_MUNMAP:
		if (munmap(p.dst, p.map_len)) {
			rc = test_fail(t, "munmap(target, fault pending): %s",
				       strerror(errno));
			goto out;
		}
		p.dst = NULL;
		p.registered = false;
		break;
	case MM_DONTNEED:
		if (madvise(p.dst, p.map_len, MADV_DONTNEED)) {
			rc = test_fail(t, "madvise(target, MADV_DONTNEED, fault pending): %s",
				       strerror(errno));
			goto out;
		}
		break;
	case MM_MREMAP:
		/* Move it to a reserved place: the old range is gone. */
		moved = mmap(NULL, p.map_len, PROT_NONE,
			     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (moved == MAP_FAILED) {
			moved = NULL;
			rc = test_fail(t, "mmap(mremap destination): %s",
				       strerror(errno));
			goto out;
		}
		if (mremap(p.dst, p.map_len, p.map_len, MREMAP_MAYMOVE |
			   MREMAP_FIXED, moved) == MAP_FAILED) {
			rc = test_fail(t, "mremap(target, MAYMOVE|FIXED, fault pending): %s",
				       strerror(errno));
			goto out;
		}
		p.dst = NULL;
		p.registered = false;
		break;
	}
	tap_diag("%s with a pending fault returned after %.2f s", names[what],
		 test_now_s() - t0);
	if (what != MM_DONTNEED) {
		test_step(t, "read-only placeholder to the old target address");
		rc = placeholder_move(t, &p, &staging, old);
		if (rc != TEST_PASS)
			goto out;
	}
	/* Let the fault go. */
	test_step(t, "close(uffd) after %s", names[what]);
	if (close(p.uffd))
		rc = test_fail(t, "close(uffd): %s", strerror(errno));
	p.uffd = -1;
	p.registered = false;
	if (rc != TEST_PASS)
		goto out;
	rc = pend_wait_wc(t, &p, TEST_WC_TIMEOUT_MS, &st);
	if (rc != TEST_PASS)
		goto out;
	if (st < 0) {
		rc = test_fail(t, "no RDMA WRITE completion after %s + uffd close",
			       names[what]);
		goto out;
	}
	if (what == MM_DONTNEED) {
		if (st != IBV_WC_SUCCESS)
			rc = test_fail(t, "RDMA WRITE after MADV_DONTNEED + uffd close: %s",
				       ibv_wc_status_str((enum ibv_wc_status)st));
		else
			rc = pend_verify(t, &p, true);
		goto out;
	}
	if (st != IBV_WC_REM_ACCESS_ERR)
		rc = test_fail(t, "RDMA WRITE to the %s target, a read-only placeholder mapped there: %s, expected %s",
			       what == MM_MUNMAP ? "unmapped" : "moved away",
			       ibv_wc_status_str((enum ibv_wc_status)st),
			       ibv_wc_status_str(IBV_WC_REM_ACCESS_ERR));
	test_step(t, "verify the placeholder at the old address");
	rc = test_worse(rc, pattern_verify(t, p.dst, p.map_len, SEED_BG, 0,
					   p.psz, "read-only placeholder at the old target address"));
	if (moved) {
		test_step(t, "verify the moved mapping");
		rc = test_worse(rc, bytes_verify(t, moved, p.map_len, 0, 0,
						 "moved target (mremap)"));
	}
out:
	if (moved && munmap(moved, p.map_len))
		rc = test_fail(t, "munmap(moved target): %s", strerror(errno));
	if (staging && munmap(staging, p.map_len))
		rc = test_fail(t, "munmap(placeholder): %s", strerror(errno));
	return test_worse(rc, pend_teardown(t, &p));
}

static int test_munmap_pending(struct test_ctx *t)
{
	return mm_change_pending(t, MM_MUNMAP);
}

static int test_dontneed_pending(struct test_ctx *t)
{
	return mm_change_pending(t, MM_DONTNEED);
}

static int test_mremap_pending(struct test_ctx *t)
{
	return mm_change_pending(t, MM_MREMAP);
}

/* ------------------------------------------------------------------ */
/* Scenario 1: SIGKILL with the fault pending                          */

/* "rdma resource show" totals for the device: pd cq qp mr ctx. */
static void proc_report(pid_t pid)
{
	char path[64], buf[512];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY);
	if (fd >= 0) {
		n = read(fd, buf, sizeof(buf) - 1);
		if (n > 0) {
			buf[n] = '\0';
			tap_diag("victim %s: %.120s", path, buf);
		}
		close(fd);
	}
	snprintf(path, sizeof(path), "/proc/%d/wchan", (int)pid);
	fd = open(path, O_RDONLY);
	if (fd >= 0) {
		n = read(fd, buf, sizeof(buf) - 1);
		if (n > 0) {
			buf[n] = '\0';
			tap_diag("victim wchan: %s", buf);
		}
		close(fd);
	}
}

/*
 * The victim: set up, make the fault pending, tell the parent, wait.  With
 * cmd_fd >= 0 it answers each byte read from it with 'p' while its WRITE's
 * fault is still pending (the uffd has a message nobody read, the WRITE has
 * no completion), 'c' otherwise; it exits when cmd_fd is closed.
 */
static void victim(struct test_ctx *t, int ready_fd, int cmd_fd,
		   bool uffd_first, bool holder)
{
	struct pend p;
	pid_t hpid;
	char c = 'r';

	pend_init(&p);
	if (holder && uffd_open(t, &p.uffd) != TEST_PASS)
		_exit(TEST_FAIL);
	if (holder) {
		/* A second process holds the uffd open and never answers. */
		hpid = fork();
		if (hpid < 0)
			_exit(TEST_FAIL);
		if (hpid == 0) {
			for (;;)
				pause();
		}
		if (write(ready_fd, &hpid, sizeof(hpid)) != sizeof(hpid))
			_exit(TEST_FAIL);
	}
	if (pend_setup(t, &p, uffd_first || holder) != TEST_PASS ||
	    pend_start(t, &p) != TEST_PASS)
		_exit(TEST_FAIL);
	if (write(ready_fd, &c, 1) != 1)
		_exit(TEST_FAIL);
	while (cmd_fd >= 0) {
		struct pollfd pfd = { .fd = p.uffd, .events = POLLIN };
		struct ibv_wc wc;

		if (read(cmd_fd, &c, 1) != 1)
			_exit(TEST_PASS);
		c = poll(&pfd, 1, 0) == 1 &&
		    ibv_poll_cq(p.r.cq[0], 1, &wc) == 0 ? 'p' : 'c';
		if (write(ready_fd, &c, 1) != 1)
			_exit(TEST_FAIL);
	}
	for (;;)
		pause();
}

static int kill_once(struct test_ctx *t, unsigned int iter, bool uffd_first,
		     bool holder)
{
	pid_t pid, hpid = -1;
	int pfd[2], status, rc = TEST_PASS;
	bool reaped;
	double t0;
	char c;

	if (pipe(pfd))
		return test_fail(t, "pipe: %s", strerror(errno));
	test_step(t, "iteration %u: fork the victim", iter);
	pid = fork();
	if (pid < 0) {
		rc = test_fail(t, "fork(victim): %s", strerror(errno));
		close(pfd[0]);
		close(pfd[1]);
		return rc;
	}
	if (pid == 0) {
		close(pfd[0]);
		victim(t, pfd[1], -1, uffd_first, holder);
	}
	close(pfd[1]);
	if (holder &&
	    read(pfd[0], &hpid, sizeof(hpid)) != (ssize_t)sizeof(hpid)) {
		rc = test_fail(t, "iteration %u: victim failed before forking the uffd holder",
			       iter);
		goto out;
	}
	test_step(t, "iteration %u: wait for the victim's pending fault", iter);
	if (read(pfd[0], &c, 1) != 1) {
		rc = test_fail(t, "iteration %u: victim failed before its fault was pending",
			       iter);
		goto out;
	}
	test_step(t, "iteration %u: SIGKILL the victim (fault pending)", iter);
	t0 = test_now_s();
	if (kill(pid, SIGKILL)) {
		rc = test_fail(t, "kill(victim, SIGKILL): %s", strerror(errno));
		goto out;
	}
	reaped = test_reap(pid, 20, &status);
	if (!reaped) {
		proc_report(pid);
		if (!holder) {
			rc = test_fail(t, "iteration %u: victim not reaped 20 s after SIGKILL",
				       iter);
			goto out;
		}
		/* The holder keeps the fault: exit may only finish now. */
		tap_diag("iteration %u: victim still exiting 20 s after SIGKILL while another process holds the uffd",
			 iter);
	} else if (iter == 0) {
		tap_diag("victim reaped %.2f s after SIGKILL%s", test_now_s() - t0,
			 holder ? " while the holder still has the uffd" : "");
	}
	if (holder) {
		test_step(t, "iteration %u: SIGKILL the uffd holder", iter);
		if (kill(hpid, SIGKILL))
			rc = test_fail(t, "kill(holder, SIGKILL): %s",
				       strerror(errno));
		hpid = -1;
		t0 = test_now_s();
		if (!reaped && !test_reap(pid, 20, &status)) {
			proc_report(pid);
			rc = test_fail(t, "iteration %u: victim not reaped 20 s after the uffd holder died",
				       iter);
			goto out;
		}
		if (!reaped)
			tap_diag("iteration %u: victim reaped %.2f s after the holder died",
				 iter, test_now_s() - t0);
	}
	if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL)
		rc = test_fail(t, "iteration %u: victim status 0x%x, expected SIGKILL",
			       iter, status);
out:
	if (hpid > 0)
		kill(hpid, SIGKILL);
	close(pfd[0]);
	if (rc != TEST_PASS && kill(pid, SIGKILL) == 0)
		test_reap(pid, 20, &status);
	return rc;
}

static int kill_pending(struct test_ctx *t, bool uffd_first, bool holder)
{
	unsigned int i, n = repeat_count();
	struct rdma_res_count before, after;
	double deadline;
	int rc;

	rc = rdma_res_count_get(t, &before);
	if (rc != TEST_PASS)
		return rc;
	for (i = 0; i < n && rc == TEST_PASS; i++)
		rc = kill_once(t, i, uffd_first, holder);
	tap_diag("%u of %u kills done", i, n);
	/* Resources are released asynchronously to the reap: allow 10 s. */
	test_step(t, "rdma resources back to the start");
	deadline = test_now_s() + 10;
	for (;;) {
		rc = test_worse(rc, rdma_res_count_get(t, &after));
		if (rdma_res_count_equal(&before, &after) || test_now_s() > deadline)
			break;
		test_sleep_us(200000);
	}
	if (!rdma_res_count_equal(&before, &after))
		rc = test_fail(t, "rdma resources before pd %ld cq %ld qp %ld mr %ld ctx %ld, after pd %ld cq %ld qp %ld mr %ld ctx %ld",
			       before.pd, before.cq, before.qp, before.mr,
			       before.ctx, after.pd, after.cq, after.qp,
			       after.mr, after.ctx);
	return rc;
}

static int test_kill_pending_uffd_last(struct test_ctx *t)
{
	return kill_pending(t, false, false);
}

static int test_kill_pending_uffd_first(struct test_ctx *t)
{
	return kill_pending(t, true, false);
}

static int test_kill_pending_uffd_holder(struct test_ctx *t)
{
	return kill_pending(t, true, true);
}

/* ------------------------------------------------------------------ */
/* Scenario 6: fork() with a device fault pending                      */

struct fork_handler {
	struct pend *p;
	pthread_t thread;
	atomic_bool release;	/* answer the faults now */
	atomic_bool stop;
	atomic_uint faults, forks;
	int err;
	const char *failed;
};

/* Reads every message; answers the faults once release is set. */
static void *fork_handler_thread(void *arg)
{
	struct fork_handler *fh = arg;
	struct pollfd pfd = { .fd = fh->p->uffd, .events = POLLIN };
	bool answered = false;
	struct uffd_msg msg;
	ssize_t n;

	while (!atomic_load(&fh->stop)) {
		if (atomic_load(&fh->release) && !answered) {
			fh->err = answer_all(fh->p, &fh->failed);
			if (fh->err)
				return NULL;
			answered = true;
		}
		if (poll(&pfd, 1, 50) <= 0)
			continue;
		n = read(fh->p->uffd, &msg, sizeof(msg));
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n != (ssize_t)sizeof(msg)) {
			fh->err = n < 0 ? errno : EIO;
			fh->failed = "read(uffd)";
			return NULL;
		}
		if (msg.event == UFFD_EVENT_PAGEFAULT) {
			atomic_fetch_add(&fh->faults, 1);
		} else if (msg.event == UFFD_EVENT_FORK) {
			atomic_fetch_add(&fh->forks, 1);
			/* The child's context: not handled, let it go. */
			if (close((int)msg.arg.fork.ufd)) {
				fh->err = errno;
				fh->failed = "close(child uffd)";
				return NULL;
			}
		} else {
			fh->err = EPROTO;
			fh->failed = "unexpected uffd event";
			return NULL;
		}
	}
	return NULL;
}

static int fork_pending(struct test_ctx *t, bool event_fork)
{
	struct uffdio_api api = { .api = UFFD_API,
		.features = event_fork ? UFFD_FEATURE_EVENT_FORK : 0 };
	struct fork_handler fh = { 0 };
	bool started = false;
	struct pend p;
	pid_t pid;
	int rc, st, status, err, go[2] = { -1, -1 };
	double t0;
	char c;

	pend_init(&p);
	test_step(t, "userfaultfd with features 0x%llx",
		  (unsigned long long)api.features);
	p.uffd = (int)syscall(__NR_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (p.uffd < 0)
		return test_fail(t, "userfaultfd: %s", strerror(errno));
	if (ioctl(p.uffd, UFFDIO_API, &api)) {
		rc = errno == EINVAL && event_fork ?
			test_skip(t, "UFFD_FEATURE_EVENT_FORK not supported") :
			test_fail(t, "UFFDIO_API: %s", strerror(errno));
		goto out;
	}
	rc = pend_setup(t, &p, true);
	if (rc == TEST_PASS)
		rc = pend_start(t, &p);
	if (rc != TEST_PASS)
		goto out;
	fh.p = &p;
	err = pthread_create(&fh.thread, NULL, fork_handler_thread, &fh);
	if (err) {
		rc = test_fail(t, "pthread_create(fork handler): %s",
			       strerror(err));
		goto out;
	}
	started = true;
	/*
	 * fork() with the device fault pending.  The child's copy of the
	 * target had no page at the fork, and the device writes only the
	 * parent's pages: it reads all zero, at once and again after the
	 * parent's WRITE has completed.  Its exit status decides.
	 */
	if (pipe(go)) {
		rc = test_fail(t, "pipe: %s", strerror(errno));
		goto out;
	}
	test_step(t, "fork() with the fault pending");
	t0 = test_now_s();
	pid = fork();
	if (pid < 0) {
		rc = test_fail(t, "fork: %s", strerror(errno));
		goto out;
	}
	if (pid == 0) {
		close(go[1]);
		if (bytes_verify(t, p.dst, p.map_len, 0, 0,
				 "forked child's copy of the target, at the fork") != TEST_PASS)
			_exit(3);
		/* EOF once the parent's WRITE completed (or it gave up). */
		while (read(go[0], &c, 1) > 0)
			;
		_exit(bytes_verify(t, p.dst, p.map_len, 0, 0,
				   "forked child's copy of the target, after the parent's WRITE") != TEST_PASS ?
		      4 : 0);
	}
	close(go[0]);
	go[0] = -1;
	tap_diag("fork() with a pending fault returned after %.2f s",
		 test_now_s() - t0);
	/* Answer the parent's fault: the WRITE must finish with its data. */
	atomic_store(&fh.release, true);
	rc = pend_wait_wc(t, &p, TEST_WC_TIMEOUT_MS, &st);
	if (rc == TEST_PASS && st != IBV_WC_SUCCESS)
		rc = test_fail(t, "RDMA WRITE after fork: %s", st < 0 ?
			       "no completion" :
			       ibv_wc_status_str((enum ibv_wc_status)st));
	if (rc == TEST_PASS)
		rc = pend_verify(t, &p, false);
	close(go[1]);
	go[1] = -1;
	test_step(t, "wait for the child's check of its copy");
	if (!test_reap(pid, 20, &status)) {
		proc_report(pid);
		kill(pid, SIGKILL);
		test_reap(pid, 10, &status);
		rc = test_fail(t, "forked child did not exit within 20 s");
		goto out;
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		rc = test_fail(t, "forked child: status 0x%x (exit 3: its copy was not zero at the fork, 4: not zero after the parent's WRITE)",
			       status);
	tap_diag("handler: %u fault messages, %u fork events",
		 atomic_load(&fh.faults), atomic_load(&fh.forks));
	if (rc == TEST_PASS && event_fork && atomic_load(&fh.forks) != 1)
		rc = test_fail(t, "expected 1 UFFD_EVENT_FORK, got %u",
			       atomic_load(&fh.forks));
out:
	if (started) {
		atomic_store(&fh.stop, true);
		err = pthread_join(fh.thread, NULL);
		if (err)
			rc = test_fail(t, "pthread_join(fork handler): %s",
				       strerror(err));
		if (fh.err)
			rc = test_fail(t, "fork handler: %s: %s", fh.failed,
				       strerror(fh.err));
	}
	if (go[0] >= 0)
		close(go[0]);
	if (go[1] >= 0)
		close(go[1]);
	return test_worse(rc, pend_teardown(t, &p));
}

static int test_fork_pending(struct test_ctx *t)
{
	return fork_pending(t, false);
}

static int test_fork_pending_event_fork(struct test_ctx *t)
{
	return fork_pending(t, true);
}

/* ------------------------------------------------------------------ */
/* Scenario 7: a process that never answers must not stall others      */

#define ISO_OPS		200
#define ISO_LEN		4096
#define ISO_SEED	0x71u

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Ask the staller whether its fault is still pending: 'p' it is. */
static int staller_pending(struct test_ctx *t, int cmd_fd, int ans_fd,
			   const char *when)
{
	struct pollfd pfd = { .fd = ans_fd, .events = POLLIN };
	char c = 'q';

	test_step(t, "is the other process's fault still pending %s?", when);
	if (write(cmd_fd, &c, 1) != 1)
		return test_fail(t, "write(staller command pipe): %s",
				 strerror(errno));
	if (poll(&pfd, 1, 20000) != 1 || read(ans_fd, &c, 1) != 1)
		return test_fail(t, "the stalling process did not answer within 20 s");
	if (c != 'p')
		return test_fail(t, "the other process's fault is no longer pending %s: its WRITE completed or its uffd message went away",
				 when);
	return TEST_PASS;
}

/*
 * ISO_OPS signaled 4 KiB RDMA WRITEs between pinned buffers of this
 * process, each with its own pattern, each bounded by TEST_WC_TIMEOUT_MS
 * and checked byte by byte at the target; the latencies are printed only.
 */
static int iso_traffic(struct test_ctx *t, struct rdma_res *r,
		       struct ibv_mr *mr, uint8_t *buf, const char *when)
{
	double lat[ISO_OPS], t0;
	char what[96];
	unsigned int i;
	int rc;

	for (i = 0; i < ISO_OPS; i++) {
		test_step(t, "4 KiB RDMA WRITE %u of %d %s", i + 1, ISO_OPS,
			  when);
		pattern_fill(buf, ISO_LEN, ISO_SEED + i, 0, ISO_LEN);
		memset(buf + ISO_LEN, 0, ISO_LEN);
		t0 = test_now_s();
		rc = rdma_rw(t, r, 0, IBV_WR_RDMA_WRITE, buf, ISO_LEN, mr->lkey,
			     (uintptr_t)buf + ISO_LEN, mr->rkey, NULL);
		if (rc != TEST_PASS)
			return rc;
		lat[i] = (test_now_s() - t0) * 1e6;
		snprintf(what, sizeof(what), "WRITE %u %s: target", i + 1, when);
		rc = pattern_verify(t, buf + ISO_LEN, ISO_LEN, ISO_SEED + i, 0,
				    ISO_LEN, what);
		if (rc != TEST_PASS)
			return rc;
	}
	qsort(lat, ISO_OPS, sizeof(lat[0]), cmp_double);
	tap_diag("%d 4 KiB RDMA WRITEs %s completed and verified: median %.0f us, max %.0f us (not judged)",
		 ISO_OPS, when, lat[ISO_OPS / 2], lat[ISO_OPS - 1]);
	return TEST_PASS;
}

/*
 * Another process has an RDMA WRITE whose responder fault waits on a uffd
 * it never answers.  This process's WRITEs on its own QPs of the same
 * device must all complete, with their data, while that fault stays
 * pending (asked before and after); then the staller is killed and its
 * resources are released.  Each WRITE is bounded (TEST_WC_TIMEOUT_MS), the
 * whole by the test's own bound.
 */
static int test_isolation_stalled_peer(struct test_ctx *t)
{
	const struct rdma_caps_req req = { 0 };
	struct rdma_res_count before;
	struct ibv_mr *mr = NULL;
	uint8_t *buf = NULL;
	struct rdma_res r;
	pid_t pid = -1;
	int ans[2] = { -1, -1 }, cmd[2] = { -1, -1 }, rc, status;
	char c;

	rc = rdma_res_count_get(t, &before);
	if (rc != TEST_PASS)
		return rc;
	rc = rdma_setup(t, &r, &req);
	if (rc != TEST_PASS)
		return rc;
	rc = mem_map(t, 2 * ISO_LEN, (void **)&buf, "WRITE buffers");
	if (rc == TEST_PASS)
		rc = rdma_reg_mr(t, &r, buf, 2 * ISO_LEN, IBV_ACCESS_LOCAL_WRITE |
				 IBV_ACCESS_REMOTE_WRITE, "WRITE buffers", &mr);
	if (rc == TEST_PASS)
		rc = iso_traffic(t, &r, mr, buf, "before the stall");
	if (rc != TEST_PASS)
		goto out;
	if (pipe(ans) || pipe(cmd)) {
		rc = test_fail(t, "pipe: %s", strerror(errno));
		goto out;
	}
	test_step(t, "fork the process whose fault stalls");
	pid = fork();
	if (pid < 0) {
		rc = test_fail(t, "fork(staller): %s", strerror(errno));
		goto out;
	}
	if (pid == 0) {
		close(ans[0]);
		close(cmd[1]);
		victim(t, ans[1], cmd[0], false, false);
	}
	close(ans[1]);
	close(cmd[0]);
	ans[1] = cmd[0] = -1;
	test_step(t, "wait for the staller's pending fault");
	if (read(ans[0], &c, 1) != 1) {
		rc = test_fail(t, "staller failed before its fault was pending");
		goto out;
	}
	rc = staller_pending(t, cmd[1], ans[0], "before the traffic");
	if (rc == TEST_PASS)
		rc = iso_traffic(t, &r, mr, buf, "while another process's fault stalls");
	if (rc == TEST_PASS)
		rc = staller_pending(t, cmd[1], ans[0], "after the traffic");
out:
	if (pid > 0) {
		test_step(t, "kill the staller");
		if (kill(pid, SIGKILL) || !test_reap(pid, 20, &status))
			rc = test_fail(t, "staller not killed/reaped within 20 s: %s",
				       strerror(errno));
		else if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL)
			rc = test_fail(t, "staller status 0x%x, expected SIGKILL",
				       status);
	}
	if (ans[0] >= 0)
		close(ans[0]);
	if (cmd[1] >= 0)
		close(cmd[1]);
	rc = test_worse(rc, rdma_dereg_mr(t, &mr, "WRITE buffers"));
	rc = test_worse(rc, mem_unmap(t, (void **)&buf, 2 * ISO_LEN,
				      "WRITE buffers"));
	rc = test_worse(rc, rdma_teardown(t, &r));
	if (pid > 0 && rc == TEST_PASS)
		rc = rdma_res_count_wait(t, &before, 20,
					 "after the staller was killed");
	return rc;
}

/* ------------------------------------------------------------------ */
/* Scenario 9: no CAP_SYS_PTRACE, vm.unprivileged_userfaultfd=0        */

static int drop_cap_sys_ptrace(struct test_ctx *t)
{
	struct __user_cap_header_struct hdr = {
		.version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[2];
	unsigned int w = CAP_SYS_PTRACE / 32;
	uint32_t bit = 1u << (CAP_SYS_PTRACE % 32);

	if (syscall(SYS_capget, &hdr, data))
		return test_fail(t, "capget: %s", strerror(errno));
	data[w].effective &= ~bit;
	data[w].permitted &= ~bit;
	data[w].inheritable &= ~bit;
	if (syscall(SYS_capset, &hdr, data))
		return test_fail(t, "capset(drop CAP_SYS_PTRACE): %s",
				 strerror(errno));
	return TEST_PASS;
}

static int read_sysctl_uffd(struct test_ctx *t, int *val)
{
	FILE *f = fopen("/proc/sys/vm/unprivileged_userfaultfd", "r");

	if (!f)
		return test_skip(t, "/proc/sys/vm/unprivileged_userfaultfd: %s",
				 strerror(errno));
	if (fscanf(f, "%d", val) != 1) {
		fclose(f);
		return test_fail(t, "cannot parse vm.unprivileged_userfaultfd");
	}
	fclose(f);
	return TEST_PASS;
}

/*
 * Only UFFD_USER_MODE_ONLY is allowed: the device fault is not a user
 * fault, so the kernel answers SIGBUS and the WRITE must fail cleanly
 * (a completion with an error, no hang, no uffd message).
 */
static int test_user_mode_only_unprivileged(struct test_ctx *t)
{
	struct pend p;
	struct pollfd pfd;
	int rc, val, fd, st;
	struct uffdio_api api = { .api = UFFD_API };
	struct ibv_sge sge;
	struct ibv_send_wr wr, *bad = NULL;

	pend_init(&p);
	rc = read_sysctl_uffd(t, &val);
	if (rc != TEST_PASS)
		return rc;
	if (val != 0)
		return test_skip(t, "vm.unprivileged_userfaultfd=%d (needs 0)", val);
	rc = drop_cap_sys_ptrace(t);
	if (rc != TEST_PASS)
		return rc;
	test_step(t, "userfaultfd(0) without CAP_SYS_PTRACE must fail");
	fd = (int)syscall(__NR_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (fd >= 0) {
		close(fd);
		return test_fail(t, "userfaultfd(0) succeeded without CAP_SYS_PTRACE");
	}
	tap_diag("userfaultfd(0) without CAP_SYS_PTRACE: %s", strerror(errno));
	test_step(t, "userfaultfd(UFFD_USER_MODE_ONLY)");
	p.uffd = (int)syscall(__NR_userfaultfd, O_CLOEXEC | O_NONBLOCK |
			      UFFD_USER_MODE_ONLY);
	if (p.uffd < 0)
		return test_fail(t, "userfaultfd(UFFD_USER_MODE_ONLY): %s",
				 strerror(errno));
	if (ioctl(p.uffd, UFFDIO_API, &api)) {
		rc = test_fail(t, "UFFDIO_API: %s", strerror(errno));
		goto out;
	}
	rc = pend_setup(t, &p, true);
	if (rc != TEST_PASS)
		goto out;
	sge = (struct ibv_sge){ .addr = (uintptr_t)p.src + XFER_OFF,
				.length = XFER_LEN, .lkey = p.src_mr->lkey };
	wr = (struct ibv_send_wr){
		.wr_id = WR_ID, .sg_list = &sge, .num_sge = 1,
		.opcode = IBV_WR_RDMA_WRITE, .send_flags = IBV_SEND_SIGNALED,
		.wr.rdma = { .remote_addr = (uintptr_t)p.dst + XFER_OFF,
			     .rkey = p.dst_mr->rkey },
	};
	test_step(t, "RDMA WRITE into a user-mode-only uffd range");
	st = ibv_post_send(p.r.qp[0], &wr, &bad);
	if (st) {
		rc = test_fail(t, "ibv_post_send: %s", strerror(st));
		goto out;
	}
	rc = pend_wait_wc(t, &p, TEST_WC_TIMEOUT_MS, &st);
	if (rc != TEST_PASS)
		goto out;
	if (st < 0)
		rc = test_fail(t, "RDMA WRITE into a user-mode-only uffd range: no completion (hang?)");
	else if (st == IBV_WC_SUCCESS)
		rc = test_fail(t, "RDMA WRITE into a user-mode-only uffd range succeeded");
	pfd = (struct pollfd){ .fd = p.uffd, .events = POLLIN };
	if (rc == TEST_PASS && poll(&pfd, 1, 0) > 0)
		rc = test_fail(t, "the user-mode-only uffd got a message for a device fault");
out:
	return test_worse(rc, pend_teardown(t, &p));
}

static const struct test_case tests[] = {
	{ .name = "uffd_close_pending", .fn = test_uffd_close_pending,
	  .desc = "close(uffd) while an rxe fault waits on it: WRITE completes on zero pages",
	  .needs = FIX_UFFD | FIX_COPY, .timeout_s = REL_BOUND_S },
	{ .name = "uffd_unregister_pending", .fn = test_uffd_unregister_pending,
	  .desc = "UFFDIO_UNREGISTER while an rxe fault waits: WRITE completes on zero pages",
	  .needs = FIX_UFFD | FIX_COPY, .timeout_s = REL_BOUND_S },
	{ .name = "dereg_mr_pending", .fn = test_dereg_mr_pending,
	  .desc = "ibv_dereg_mr of the faulting MR, handler answers after 3 s",
	  .needs = FIX_UFFD, .timeout_s = REL_BOUND_S },
	{ .name = "dereg_mr_pending_close", .fn = test_dereg_mr_pending_close,
	  .desc = "ibv_dereg_mr of the faulting MR, uffd closed after 3 s",
	  .needs = FIX_UFFD, .timeout_s = REL_BOUND_S },
	{ .name = "dereg_mr_stalled", .fn = test_dereg_mr_stalled,
	  .desc = "ibv_dereg_mr of the faulting MR, handler never answers: dereg returns before the uffd is closed (20 s), WRITE fails",
	  .timeout_s = STALL_BOUND_S,
	  .needs = FIX_UFFD | FIX_CANCEL },
	{ .name = "destroy_qp_pending", .fn = test_destroy_qp_pending,
	  .desc = "ibv_destroy_qp of the faulting responder, handler answers after 3 s",
	  .needs = FIX_UFFD, .timeout_s = REL_BOUND_S },
	{ .name = "destroy_qp_stalled", .fn = test_destroy_qp_stalled,
	  .desc = "ibv_destroy_qp of the faulting responder, handler never answers: destroy returns before the uffd is closed (20 s)",
	  .timeout_s = STALL_BOUND_S,
	  .needs = FIX_UFFD | FIX_CANCEL },
	{ .name = "destroy_qp_pending_long", .fn = test_destroy_qp_pending_long,
	  .desc = "ibv_destroy_qp of the faulting responder, fault answered once the destroy returns (150 s at most): the destroy returns first",
	  .timeout_s = 240,
	  .needs = FIX_UFFD | FIX_CANCEL },
	{ .name = "kill_pending_uffd_last", .fn = test_kill_pending_uffd_last,
	  .desc = "SIGKILL with a pending fault, uffd fd above the verbs fd",
	  .needs = FIX_UFFD, .bound_s = kill_bound_s,
	  .suites = SUITE_CHECK | SUITE_SOAK },
	{ .name = "kill_pending_uffd_first", .fn = test_kill_pending_uffd_first,
	  .desc = "SIGKILL with a pending fault, uffd fd below the verbs fd",
	  .needs = FIX_UFFD, .bound_s = kill_bound_s,
	  .suites = SUITE_CHECK | SUITE_SOAK },
	{ .name = "kill_pending_uffd_holder", .fn = test_kill_pending_uffd_holder,
	  .desc = "SIGKILL with a pending fault while another process holds the uffd",
	  .needs = FIX_UFFD, .bound_s = kill_bound_s,
	  .suites = SUITE_CHECK | SUITE_SOAK },
	{ .name = "stall_past_hung_task", .fn = test_stall_past_hung_task,
	  .desc = "handler stalls 45 s (> hung-task timeout) then answers", .timeout_s = 120,
	  .needs = FIX_UFFD | FIX_COPY },
	{ .name = "dereg_mr_pending_40s", .fn = test_dereg_mr_pending_40s,
	  .desc = "ibv_dereg_mr blocked 40 s (> hung-task timeout, < rxe pool timeout)", .timeout_s = 120,
	  .needs = FIX_UFFD | FIX_CANCEL, .suites = SUITE_SOAK },
	{ .name = "dereg_mr_pending_long", .fn = test_dereg_mr_pending_long,
	  .desc = "ibv_dereg_mr blocked until rxe's 50 s pool timeout gives up, then the fault is answered",
	  .timeout_s = 240,
	  .needs = FIX_UFFD | FIX_CANCEL },
	{ .name = "munmap_pending", .fn = test_munmap_pending,
	  .desc = "munmap of the target while a fault waits, read-only placeholder there, close(uffd): WRITE fails, placeholder intact",
	  .needs = FIX_UFFD, .timeout_s = REL_BOUND_S },
	{ .name = "dontneed_pending", .fn = test_dontneed_pending,
	  .desc = "MADV_DONTNEED of the target while a fault waits, then close(uffd): WRITE completes on zero pages",
	  .needs = FIX_UFFD | FIX_COPY, .timeout_s = REL_BOUND_S },
	{ .name = "mremap_pending", .fn = test_mremap_pending,
	  .desc = "mremap of the target while a fault waits, read-only placeholder at the old address, close(uffd): WRITE fails, nothing written",
	  .needs = FIX_UFFD, .timeout_s = REL_BOUND_S },
	{ .name = "fork_pending", .fn = test_fork_pending,
	  .desc = "fork() while a device fault is pending (no EVENT_FORK), then answer: the child's copy stays zero",
	  .needs = FIX_UFFD | FIX_COPY, .timeout_s = REL_BOUND_S },
	{ .name = "fork_pending_event_fork", .fn = test_fork_pending_event_fork,
	  .desc = "fork() while a device fault is pending with UFFD_FEATURE_EVENT_FORK, then answer: the child's copy stays zero",
	  .needs = FIX_UFFD | FIX_COPY, .timeout_s = REL_BOUND_S },
	{ .name = "isolation_stalled_peer", .fn = test_isolation_stalled_peer,
	  .desc = "another process's fault stays pending while this one's 200 RDMA WRITEs complete with their data; then it is killed and released",
	  .needs = FIX_UFFD, .timeout_s = 120 },
	{ .name = "user_mode_only_unprivileged", .fn = test_user_mode_only_unprivileged,
	  .desc = "no CAP_SYS_PTRACE: only UFFD_USER_MODE_ONLY; the device fault fails cleanly",
	  .timeout_s = REL_BOUND_S },
};

int main(int argc, char **argv)
{
	return test_main(argc, argv, tests, ARRAY_SIZE(tests));
}
