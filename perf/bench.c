// SPDX-License-Identifier: GPL-2.0
/* Shared helpers for the perf/ benchmarks; see bench.h. */
#include "bench.h"

#include <errno.h>
#include <inttypes.h>
#include <sched.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int bench_csv_open(struct bench_csv *c, const char *path, const char *benchmark)
{
	c->benchmark = benchmark;
	if (!strcmp(path, "-")) {
		c->f = stdout;
	} else {
		c->f = fopen(path, "w");
		if (!c->f) {
			fprintf(stderr, "%s: cannot create %s: %s\n", benchmark,
				path, strerror(errno));
			return -1;
		}
	}
	/* Line buffered: rows written before a crash or a kill survive. */
	if (setvbuf(c->f, NULL, _IOLBF, 0)) {
		fprintf(stderr, "%s: setvbuf(%s) failed\n", benchmark, path);
		return -1;
	}
	if (fprintf(c->f, "benchmark,variant,n,rep,metric,value,unit\n") < 0) {
		fprintf(stderr, "%s: writing %s: %s\n", benchmark, path,
			strerror(errno));
		return -1;
	}
	return 0;
}

int bench_csv_close(struct bench_csv *c)
{
	int rc = 0;

	if (!c->f)
		return 0;
	if (ferror(c->f)) {
		fprintf(stderr, "%s: write error on the CSV file\n", c->benchmark);
		rc = -1;
	}
	if (c->f != stdout && fclose(c->f)) {
		fprintf(stderr, "%s: closing the CSV file: %s\n", c->benchmark,
			strerror(errno));
		rc = -1;
	}
	c->f = NULL;
	return rc;
}

void bench_csv_row(struct bench_csv *c, const char *variant, unsigned long n,
		   unsigned int rep, const char *metric, double value,
		   const char *unit)
{
	fprintf(c->f, "%s,%s,%lu,%u,%s,%.6g,%s\n", c->benchmark, variant, n,
		rep, metric, value, unit);
}

void bench_csv_failed(struct bench_csv *c, const char *variant,
		      unsigned long n, const char *fmt, ...)
{
	char reason[256], *p;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	for (p = reason; *p; p++)
		if (*p == ',' || *p == '\n')
			*p = ';';
	bench_csv_row(c, variant, n, 0, "failed", 1, reason);
}

uint64_t bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

double bench_percentile(double *v, size_t n, double p)
{
	size_t rank;

	if (!n)
		return 0;
	qsort(v, n, sizeof(*v), cmp_double);
	rank = (size_t)(p / 100.0 * (double)n + 0.999999);	/* ceil */
	if (rank < 1)
		rank = 1;
	if (rank > n)
		rank = n;
	return v[rank - 1];
}

void bench_ctx_init(struct bench_ctx *b, const char *dev, int gid_index,
		    bool verbose, const char *name)
{
	memset(b, 0, sizeof(*b));
	b->opts = (struct test_opts){
		.dev = dev,
		.gid_index = gid_index,
		.timeout_s = TEST_DEFAULT_TIMEOUT_S,
		.verbose = verbose,
	};
	snprintf(b->shared.step, sizeof(b->shared.step), "start");
	b->t = (struct test_ctx){
		.opts = &b->opts, .shared = &b->shared, .name = name,
	};
}

int bench_post_poll(struct test_ctx *t, struct ibv_qp *qp, struct ibv_cq *cq,
		    struct ibv_send_wr *wr, int timeout_ms,
		    const atomic_bool *abort_flag, struct ibv_wc *wc,
		    bool *got_wc)
{
	uint64_t deadline;
	struct ibv_send_wr *bad = NULL;
	int err, n;

	*got_wc = false;
	wr->send_flags |= IBV_SEND_SIGNALED;
	err = ibv_post_send(qp, wr, &bad);
	if (err)
		return test_fail(t, "ibv_post_send(opcode %d, QP 0x%x): %s",
				 (int)wr->opcode, qp->qp_num, strerror(err));
	deadline = bench_now_ns() + (uint64_t)timeout_ms * 1000000u;
	for (;;) {
		n = ibv_poll_cq(cq, 1, wc);
		if (n < 0)
			return test_fail(t, "ibv_poll_cq(QP 0x%x) returned %d",
					 qp->qp_num, n);
		if (n == 1)
			break;
		if (abort_flag &&
		    atomic_load_explicit(abort_flag, memory_order_acquire))
			return test_fail(t, "wait abandoned: the uffd handler failed (QP 0x%x)",
					 qp->qp_num);
		if (bench_now_ns() > deadline)
			return test_fail(t, "no completion within %d ms (QP 0x%x)",
					 timeout_ms, qp->qp_num);
		sched_yield();
	}
	*got_wc = true;
	if (wc->status != IBV_WC_SUCCESS)
		return test_fail(t, "completion status %s (%d), vendor_err 0x%x",
				 ibv_wc_status_str(wc->status), (int)wc->status,
				 wc->vendor_err);
	if (wc->wr_id != wr->wr_id)
		return test_fail(t, "completion for wr_id %" PRIu64 ", expected %" PRIu64,
				 (uint64_t)wc->wr_id, (uint64_t)wr->wr_id);
	return TEST_PASS;
}

bool bench_parse_ulong(const char *prog, const char *what, const char *s,
		       unsigned long min, unsigned long max,
		       unsigned long *out)
{
	unsigned long v;
	char *end;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || *s == '-' || v < min || v > max) {
		fprintf(stderr, "%s: bad %s '%s' (want %lu..%lu)\n", prog, what,
			s, min, max);
		return false;
	}
	*out = v;
	return true;
}
