/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Shared helpers for the perf/ benchmarks (fault_latency, prefetch_scale):
 * long-form CSV output, a monotonic clock, percentiles, a test_ctx for the
 * libibverbs-tests library (its lib/) outside its TAP runner, and a
 * busy-polling post+wait for latency measurements.
 *
 * CSV (agreed for every benchmark of this project, one file per benchmark):
 *   benchmark,variant,n,rep,metric,value,unit
 * A variant that cannot run on a kernel gets one row with metric "failed",
 * value 1 and the reason in the unit column (commas replaced).
 */
#ifndef PERF_BENCH_H
#define PERF_BENCH_H

#include "lib/verbs.h"

#include <stdio.h>

struct bench_csv {
	FILE *f;
	const char *benchmark;
};

/* Create path (truncate) and write the header; "-" is stdout. */
int bench_csv_open(struct bench_csv *c, const char *path, const char *benchmark);
int bench_csv_close(struct bench_csv *c);
void bench_csv_row(struct bench_csv *c, const char *variant, unsigned long n,
		   unsigned int rep, const char *metric, double value,
		   const char *unit);
/* metric "failed", value 1, unit = reason (printf format). */
void bench_csv_failed(struct bench_csv *c, const char *variant,
		      unsigned long n, const char *fmt, ...) TEST_PRINTF(4, 5);

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t bench_now_ns(void);

/* Sorts v in place; p in [0, 100]; nearest-rank percentile. */
double bench_percentile(double *v, size_t n, double p);

/* A test_ctx whose opts and step area live in this struct. */
struct bench_ctx {
	struct test_opts opts;
	struct test_shared shared;
	struct test_ctx t;
};

void bench_ctx_init(struct bench_ctx *b, const char *dev, int gid_index,
		    bool verbose, const char *name);

/*
 * Post one signaled WR on qp and busy-poll cq (sched_yield between polls,
 * never sleeping, unlike rdma_post_wait(), whose sleeps would quantize the
 * latency) for up to timeout_ms.  *got_wc says whether a completion
 * arrived (then *wc holds it).  Returns TEST_PASS on IBV_WC_SUCCESS with the
 * posted wr_id, TEST_FAIL with a message otherwise.  If abort_flag is
 * non-NULL the wait is abandoned (TEST_FAIL) once it reads true: the
 * caller's uffd handler failed and no completion will come.
 */
int bench_post_poll(struct test_ctx *t, struct ibv_qp *qp, struct ibv_cq *cq,
		    struct ibv_send_wr *wr, int timeout_ms,
		    const atomic_bool *abort_flag, struct ibv_wc *wc,
		    bool *got_wc);

/* Parse a decimal in [min, max]; false with a message on stderr. */
bool bench_parse_ulong(const char *prog, const char *what, const char *s,
		       unsigned long min, unsigned long max,
		       unsigned long *out);

#endif /* PERF_BENCH_H */
