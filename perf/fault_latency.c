// SPDX-License-Identifier: GPL-2.0
/*
 * fault_latency: the cost of one RDMA ODP page fault on userfaultfd-missing
 * memory, next to its floor and to an ordinary ODP fault.
 *
 * Every op touches one fresh page of a large region (one page per op), timed
 * with CLOCK_MONOTONIC around post + poll (or around the CPU access):
 *
 *   cpu_uffd_read/write   CPU access of a uffd-missing page; the handler
 *                         answers with UFFDIO_COPY (the floor)
 *   odp_uffd_read/write   RDMA READ/WRITE of one page of an ODP MR over
 *                         uffd-missing memory: the device faults it, the
 *                         same handler answers
 *   odp_read/write        the page was MADV_DONTNEEDed before the op, no
 *                         uffd: an ordinary ODP fault
 *   odp_read/write_mapped the page is mapped in the ODP MR: no fault at all
 *
 * RDMA runs between two RC QPs on one port (loopback); the local side is a
 * pinned (non-ODP) page.  Every byte moved is checked after the timed part.
 * Output: one CSV row per op (metric latency, us) in -o FILE, and a summary
 * (median, p90, p99) on stdout.  A variant the kernel cannot run (stock:
 * remote access error) gets a "failed" row; no timing is ever asserted.
 */
#include "bench.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define SEED_BG		0x3cu	/* what the region holds (handler / prefill) */
#define SEED_DATA	0xa5u	/* what an RDMA WRITE delivers */
#define DEFAULT_OPS	1000
#define OP_TIMEOUT_MS	20000

#define ODP_ACCESS	(IBV_ACCESS_ON_DEMAND | IBV_ACCESS_LOCAL_WRITE | \
			 IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_READ)
#define BUF_ACCESS	(IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE | \
			 IBV_ACCESS_REMOTE_READ)

enum fl_op { OP_CPU_READ, OP_CPU_WRITE, OP_RDMA_READ, OP_RDMA_WRITE };
enum fl_mem {
	MEM_UFFD,	/* uffd-missing, handler fills SEED_BG */
	MEM_DONTNEED,	/* prefilled, page dropped before each op */
	MEM_MAPPED,	/* prefilled and prefetched into the ODP MR */
};

struct fl_variant {
	const char *name;
	enum fl_op op;
	enum fl_mem mem;
};

static const struct fl_variant variants[] = {
	{ .name = "cpu_uffd_read", .op = OP_CPU_READ, .mem = MEM_UFFD },
	{ .name = "cpu_uffd_write", .op = OP_CPU_WRITE, .mem = MEM_UFFD },
	{ .name = "odp_uffd_read", .op = OP_RDMA_READ, .mem = MEM_UFFD },
	{ .name = "odp_uffd_write", .op = OP_RDMA_WRITE, .mem = MEM_UFFD },
	{ .name = "odp_read", .op = OP_RDMA_READ, .mem = MEM_DONTNEED },
	{ .name = "odp_write", .op = OP_RDMA_WRITE, .mem = MEM_DONTNEED },
	{ .name = "odp_read_mapped", .op = OP_RDMA_READ, .mem = MEM_MAPPED },
	{ .name = "odp_write_mapped", .op = OP_RDMA_WRITE, .mem = MEM_MAPPED },
};

struct fl_cfg {
	const char *dev;
	int gid_index;
	unsigned long ops;
	const char *csv_path;
	bool verbose;
	bool selected[ARRAY_SIZE(variants)];
};

/* Everything one variant uses; zeroed, then set up in order. */
struct fl_run {
	const struct fl_variant *v;
	struct test_ctx *t;
	size_t psz;
	unsigned long ops;
	uint8_t *region;	/* ops pages, one per op */
	size_t len;
	uint8_t *buf;		/* pinned local page for RDMA */
	struct rdma_res r;
	bool have_rdma;
	struct ibv_mr *mr;	/* ODP MR over region */
	struct ibv_mr *buf_mr;
	struct uffd_handler h;
	uint32_t seed_bg;
	double *lat_us;
	bool wc_failed;		/* the device completed an op with an error */
	char wc_status[64];
	bool bad_data;		/* an op completed but moved wrong bytes */
};

static bool is_rdma(const struct fl_variant *v)
{
	return v->op == OP_RDMA_READ || v->op == OP_RDMA_WRITE;
}

static int run_setup(struct fl_run *run)
{
	const struct rdma_caps_req req = {
		.odp = true,
		.rc_odp_caps = IBV_ODP_SUPPORT_READ | IBV_ODP_SUPPORT_WRITE,
	};
	struct test_ctx *t = run->t;
	int rc;

	run->len = run->ops * run->psz;
	test_step(t, "map %lu pages", run->ops);
	rc = mem_map(t, run->len, (void **)&run->region, "fault region");
	if (rc != TEST_PASS)
		return rc;
	if (run->v->mem == MEM_UFFD) {
		test_step(t, "uffd register + handler");
		rc = uffd_missing_setup(t, &run->h, run->region, run->len,
					uffd_fill_pattern, &run->seed_bg);
		if (rc != TEST_PASS)
			return rc;
	} else {
		pattern_fill(run->region, run->len, SEED_BG, 0, run->psz);
	}
	if (!is_rdma(run->v))
		return TEST_PASS;

	test_step(t, "RDMA setup");
	rc = rdma_setup(t, &run->r, &req);
	if (rc != TEST_PASS)
		return rc;
	run->have_rdma = true;
	rc = mem_map(t, run->psz, (void **)&run->buf, "local page");
	if (rc != TEST_PASS)
		return rc;
	rc = rdma_reg_mr(t, &run->r, run->buf, run->psz, BUF_ACCESS,
			 "pinned local page", &run->buf_mr);
	if (rc != TEST_PASS)
		return rc;
	rc = rdma_reg_mr(t, &run->r, run->region, run->len, ODP_ACCESS,
			 "ODP region", &run->mr);
	if (rc != TEST_PASS)
		return rc;
	if (run->v->mem == MEM_MAPPED) {
		struct ibv_sge sge = {
			.addr = (uintptr_t)run->region,
			.length = (uint32_t)run->len,
			.lkey = run->mr->lkey,
		};

		test_step(t, "prefetch the whole region (no faults in the ops)");
		if (ibv_advise_mr(run->r.pd, IBV_ADVISE_MR_ADVICE_PREFETCH_WRITE,
				  IBV_ADVISE_MR_FLAG_FLUSH, &sge, 1))
			return test_fail(t, "ibv_advise_mr(PREFETCH_WRITE, FLUSH, %zu bytes): %s",
					 run->len, strerror(errno));
	}
	return TEST_PASS;
}

static int run_teardown(struct fl_run *run)
{
	struct test_ctx *t = run->t;
	int rc = TEST_PASS;

	test_step(t, "teardown");
	/* Close the uffd first: nothing may wait for the handler (design.md). */
	rc = test_worse(rc, uffd_missing_teardown(t, &run->h));
	rc = test_worse(rc, rdma_dereg_mr(t, &run->mr, "ODP region"));
	rc = test_worse(rc, rdma_dereg_mr(t, &run->buf_mr, "pinned local page"));
	if (run->have_rdma)
		rc = test_worse(rc, rdma_teardown(t, &run->r));
	rc = test_worse(rc, mem_unmap(t, (void **)&run->buf, run->psz,
				      "local page"));
	rc = test_worse(rc, mem_unmap(t, (void **)&run->region, run->len,
				      "fault region"));
	return rc;
}

/* One RDMA op on page i; times post + poll into *us. */
static int rdma_op(struct fl_run *run, size_t i, double *us)
{
	struct test_ctx *t = run->t;
	uint8_t *page = run->region + i * run->psz;
	struct ibv_sge sge = {
		.addr = (uintptr_t)run->buf,
		.length = (uint32_t)run->psz,
		.lkey = run->buf_mr->lkey,
	};
	struct ibv_send_wr wr = {
		.wr_id = i,
		.sg_list = &sge,
		.num_sge = 1,
		.opcode = run->v->op == OP_RDMA_READ ? IBV_WR_RDMA_READ :
						       IBV_WR_RDMA_WRITE,
	};
	struct ibv_wc wc;
	uint64_t t0, t1;
	bool got_wc;
	int rc;

	wr.wr.rdma.remote_addr = (uintptr_t)page;
	wr.wr.rdma.rkey = run->mr->rkey;
	t0 = bench_now_ns();
	rc = bench_post_poll(t, run->r.qp[0], run->r.cq[0], &wr, OP_TIMEOUT_MS,
			     run->v->mem == MEM_UFFD ? &run->h : NULL, &wc,
			     &got_wc);
	t1 = bench_now_ns();
	if (rc != TEST_PASS) {
		if (got_wc && wc.status != IBV_WC_SUCCESS) {
			run->wc_failed = true;
			snprintf(run->wc_status, sizeof(run->wc_status), "%s",
				 ibv_wc_status_str(wc.status));
		}
		return rc;
	}
	*us = (double)(t1 - t0) / 1000.0;
	return TEST_PASS;
}

/* One op on page i; fills *us and checks every byte it moved. */
static int op_and_verify(struct fl_run *run, size_t i, double *us)
{
	struct test_ctx *t = run->t;
	size_t psz = run->psz, pos = i * psz;
	uint8_t *page = run->region + pos;
	volatile uint8_t *vp = page;
	uint64_t t0, t1;
	int rc;

	test_step(t, "%s op %zu", run->v->name, i);
	if (run->v->mem == MEM_DONTNEED && madvise(page, psz, MADV_DONTNEED))
		return test_fail(t, "madvise(page %zu, MADV_DONTNEED): %s", i,
				 strerror(errno));
	if (run->v->op == OP_RDMA_WRITE)
		pattern_fill(run->buf, psz, SEED_DATA, pos, psz);
	else if (is_rdma(run->v))
		memset(run->buf, 0, psz);

	switch (run->v->op) {
	case OP_CPU_READ:
		t0 = bench_now_ns();
		(void)*vp;
		t1 = bench_now_ns();
		*us = (double)(t1 - t0) / 1000.0;
		return pattern_verify(t, page, psz, SEED_BG, pos, psz, "page read by the CPU");
	case OP_CPU_WRITE:
		t0 = bench_now_ns();
		*vp = pattern_byte(SEED_BG, pos, psz);
		t1 = bench_now_ns();
		*us = (double)(t1 - t0) / 1000.0;
		return pattern_verify(t, page, psz, SEED_BG, pos, psz, "page written by the CPU");
	case OP_RDMA_READ:
		rc = rdma_op(run, i, us);
		if (rc != TEST_PASS)
			return rc;
		if (run->v->mem == MEM_DONTNEED)	/* dropped anon page reads 0 */
			return bytes_verify(t, run->buf, psz, 0, pos, "RDMA READ result");
		return pattern_verify(t, run->buf, psz, SEED_BG, pos, psz, "RDMA READ result");
	case OP_RDMA_WRITE:
		rc = rdma_op(run, i, us);
		if (rc != TEST_PASS)
			return rc;
		return pattern_verify(t, page, psz, SEED_DATA, pos, psz, "RDMA WRITE target page");
	}
	return test_fail(t, "unknown op %d", (int)run->v->op);
}

/* op_and_verify(); a failure after a successful op is wrong data. */
static int one_op(struct fl_run *run, size_t i, double *us)
{
	int rc;

	*us = -1;
	rc = op_and_verify(run, i, us);
	if (rc != TEST_PASS && *us >= 0)
		run->bad_data = true;
	return rc;
}

static void report(struct bench_csv *csv, const struct fl_run *run)
{
	const char *name = run->v->name;
	unsigned long i;
	double *s;

	for (i = 0; i < run->ops; i++)
		bench_csv_row(csv, name, 1, (unsigned int)i, "latency",
			      run->lat_us[i], "us");
	if (run->v->mem == MEM_UFFD)
		bench_csv_row(csv, name, 1, 0, "uffd_faults",
			      (double)uffd_faults(&run->h), "count");
	s = malloc(run->ops * sizeof(*s));
	if (!s) {
		tap_diag("%s: malloc(summary): %s", name, strerror(errno));
		return;
	}
	memcpy(s, run->lat_us, run->ops * sizeof(*s));
	printf("%-18s %6lu ops  median %9.1f us  p90 %9.1f us  p99 %9.1f us",
	       name, run->ops, bench_percentile(s, run->ops, 50),
	       bench_percentile(s, run->ops, 90),
	       bench_percentile(s, run->ops, 99));
	if (run->v->mem == MEM_UFFD)
		printf("  (uffd faults %lu)", uffd_faults(&run->h));
	printf("\n");
	free(s);
}

/*
 * Returns 0 measured, 1 the kernel could not run it or moved wrong data
 * (recorded as "failed"), -1 error of the benchmark itself.
 */
static int run_variant(const struct fl_cfg *cfg, const struct fl_variant *v,
		       struct bench_csv *csv)
{
	struct bench_ctx b;
	struct fl_run run = {
		.v = v, .psz = page_size(), .ops = cfg->ops, .seed_bg = SEED_BG,
	};
	unsigned long i;
	int rc, ret = -1;

	bench_ctx_init(&b, cfg->dev, cfg->gid_index, cfg->verbose, v->name);
	run.t = &b.t;
	uffd_handler_init(&run.h);
	run.lat_us = calloc(cfg->ops, sizeof(*run.lat_us));
	if (!run.lat_us) {
		fprintf(stderr, "%s: calloc(%lu latencies): %s\n", v->name,
			cfg->ops, strerror(errno));
		return -1;
	}
	rc = run_setup(&run);
	for (i = 0; rc == TEST_PASS && i < run.ops; i++)
		rc = one_op(&run, i, &run.lat_us[i]);
	if (rc == TEST_PASS) {
		report(csv, &run);
		ret = 0;
	} else if (rc == TEST_SKIP) {
		bench_csv_failed(csv, v->name, 1, "skipped: %s", b.shared.skip_reason);
		printf("%-18s skipped: %s\n", v->name, b.shared.skip_reason);
		ret = 1;
	} else if (run.bad_data) {
		/* The stock kernel's rxe ODP copy (fixed by the series' patch 1). */
		bench_csv_failed(csv, v->name, 1, "op %lu moved wrong data", i - 1);
		printf("%-18s wrong data on this kernel: op %lu (details above)\n",
		       v->name, i - 1);
		ret = 1;
	} else if (run.wc_failed) {
		/* The stock kernel: the device cannot fault uffd memory. */
		bench_csv_failed(csv, v->name, 1, "op %lu completed with %s",
				 i - 1, run.wc_status);
		printf("%-18s cannot run on this kernel: op %lu completed with %s\n",
		       v->name, i - 1, run.wc_status);
		ret = 1;
	} else {
		bench_csv_failed(csv, v->name, 1, "error in step '%s'", b.shared.step);
	}
	if (run_teardown(&run) != TEST_PASS)
		ret = -1;
	free(run.lat_us);
	return ret;
}

static void usage(FILE *f, const char *prog)
{
	size_t i;

	fprintf(f,
		"usage: %s [-d dev] [-g gid_index] [-n ops] [-o csv] [-t variant]... [-v]\n"
		"  -n ops      faults per variant, one fresh page each (default %d)\n"
		"  -o file     long-form CSV (default: stdout is the summary only)\n"
		"  -t variant  run only this variant (repeatable); variants:\n",
		prog, DEFAULT_OPS);
	for (i = 0; i < ARRAY_SIZE(variants); i++)
		fprintf(f, "              %s\n", variants[i].name);
	fprintf(f, "exit: 0 every variant measured, refused by the kernel or found wrong data\n"
		"      (recorded as \"failed\" rows), 1 error of the benchmark itself\n");
}

static int parse_args(int argc, char **argv, struct fl_cfg *cfg)
{
	bool any = false;
	unsigned long v;
	size_t i;
	int opt;

	while ((opt = getopt(argc, argv, "d:g:n:o:t:vh")) != -1) {
		switch (opt) {
		case 'd':
			cfg->dev = optarg;
			break;
		case 'g':
			if (!bench_parse_ulong(argv[0], "GID index", optarg, 0, 255, &v))
				return 2;
			cfg->gid_index = (int)v;
			break;
		case 'n':
			if (!bench_parse_ulong(argv[0], "op count", optarg, 1,
					       1000000, &cfg->ops))
				return 2;
			break;
		case 'o':
			cfg->csv_path = optarg;
			break;
		case 't':
			for (i = 0; i < ARRAY_SIZE(variants); i++)
				if (!strcmp(variants[i].name, optarg))
					break;
			if (i == ARRAY_SIZE(variants)) {
				fprintf(stderr, "%s: unknown variant '%s' (-h lists them)\n",
					argv[0], optarg);
				return 2;
			}
			cfg->selected[i] = true;
			any = true;
			break;
		case 'v':
			cfg->verbose = true;
			break;
		case 'h':
			usage(stdout, argv[0]);
			return 1;
		default:
			usage(stderr, argv[0]);
			return 2;
		}
	}
	if (optind != argc) {
		usage(stderr, argv[0]);
		return 2;
	}
	for (i = 0; i < ARRAY_SIZE(variants); i++)
		cfg->selected[i] |= !any;
	return 0;
}

int main(int argc, char **argv)
{
	struct fl_cfg cfg = {
		.dev = TEST_DEFAULT_DEV,
		.gid_index = TEST_DEFAULT_GID_INDEX,
		.ops = DEFAULT_OPS,
	};
	struct bench_csv csv = { 0 };
	int rc, err = 0;
	size_t i;

	setvbuf(stdout, NULL, _IOLBF, 0);
	rc = parse_args(argc, argv, &cfg);
	if (rc)
		return rc == 1 ? 0 : rc;
	if (bench_csv_open(&csv, cfg.csv_path ? cfg.csv_path : "/dev/null",
			   "fault_latency"))
		return 1;
	printf("# fault_latency on %s (gid %d): %lu ops per variant, one fresh %zu-byte page each\n",
	       cfg.dev, cfg.gid_index, cfg.ops, page_size());
	for (i = 0; i < ARRAY_SIZE(variants); i++)
		if (cfg.selected[i] && run_variant(&cfg, &variants[i], &csv) < 0)
			err = 1;
	if (bench_csv_close(&csv))
		err = 1;
	return err;
}
