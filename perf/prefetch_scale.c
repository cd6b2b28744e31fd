// SPDX-License-Identifier: GPL-2.0
/*
 * prefetch_scale: how a synchronous ibv_advise_mr(PREFETCH_WRITE, FLUSH) of
 * N pages scales with N.
 *
 *   uffd_missing  N uffd-missing pages; the handler answers each fault with
 *                 one UFFDIO_COPY
 *   ordinary      N fresh, untouched anonymous pages, no uffd
 *   uffd_inval    uffd_missing while another thread invalidates part of the
 *                 MR: every INVAL_PERIOD_US it drops INVAL_PAGES pages at a
 *                 random place of the range's first quarter (MADV_DONTNEED:
 *                 the pages are missing again, the MR's notifier moves), so
 *                 the prefetch's walk is invalidated under it and faults
 *                 pages again; rows "invalidations" (count) and
 *                 uffd_faults show how often
 *
 * N doubles from -m to -M.  Each run (one N, one repetition) is a forked
 * child with its own device context, mapping and MR, killed after -C
 * seconds; only the advise call is timed.  A variant stops growing N once a
 * run took longer than -L seconds (a restart-from-the-start kernel is
 * quadratic in N), and a row with metric "stopped" records that.  Repetitions
 * of one N stop early once they took -L/3 seconds together.  Worst case per
 * variant: about L/3 per N below the stop, plus one run of up to -C seconds.
 *
 * CSV rows (-o): total (s), per_page (us), uffd_faults (count) per run,
 * "failed" when the kernel refuses (stock: EFAULT) or a run is killed.
 */
#include "bench.h"

#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define SEED_BG		0x3cu
/*
 * One page each period (a 1 ms sleep is a jiffy, 4 ms at HZ=250, in the
 * guests): a rate the handler refills easily.  With 16 pages each period the
 * invalidator drops pages faster than uffd faults refill them, and the
 * patched kernel's synchronous prefetch, which maps the whole SGE at once,
 * gives up after its 64 tries with EBUSY (Documentation/design.md, Limits).
 */
#define INVAL_PAGES	1
#define INVAL_PERIOD_US	1000
#define ODP_ACCESS	(IBV_ACCESS_ON_DEMAND | IBV_ACCESS_LOCAL_WRITE | \
			 IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_READ)

enum ps_mem { PS_UFFD, PS_ORDINARY, PS_UFFD_INVAL };

struct ps_variant {
	const char *name;
	enum ps_mem mem;
};

static const struct ps_variant variants[] = {
	{ .name = "uffd_missing", .mem = PS_UFFD },
	{ .name = "ordinary", .mem = PS_ORDINARY },
	{ .name = "uffd_inval", .mem = PS_UFFD_INVAL },
};

struct ps_cfg {
	const char *dev;
	int gid_index;
	const char *csv_path;
	bool verbose;
	unsigned long min_pages, max_pages, reps, limit_s, cap_s;
	bool selected[ARRAY_SIZE(variants)];
};

enum ps_status {
	PS_NO_RESULT = 0,	/* the child died before writing one */
	PS_OK,
	PS_REFUSED,		/* ibv_advise_mr failed: the kernel cannot */
	PS_SKIPPED,		/* device lacks a capability */
	PS_ERROR,
};

/* Written by the child into a MAP_SHARED page, read by the parent. */
struct ps_result {
	enum ps_status status;
	double seconds;
	unsigned long faults, copies, invalidations;
	char msg[320];
};

/* The invalidating thread of uffd_inval. */
struct inval {
	uint8_t *p;
	size_t npages, psz;
	atomic_bool stop;
	unsigned long drops;
	int err;			/* errno of a failed madvise */
};

static void *inval_thread(void *arg)
{
	struct inval *iv = arg;
	uint64_t rng = 0x9e3779b97f4a7c15ull;
	size_t span = iv->npages / 4, first;

	if (span < INVAL_PAGES)
		span = INVAL_PAGES;
	while (!atomic_load(&iv->stop)) {
		first = (size_t)test_rng_below(&rng, span - INVAL_PAGES + 1);
		if (madvise(iv->p + first * iv->psz, INVAL_PAGES * iv->psz,
			    MADV_DONTNEED)) {
			iv->err = errno;
			break;
		}
		iv->drops++;
		test_sleep_us(INVAL_PERIOD_US);
	}
	return NULL;
}

/* Check one byte at each end of every page: each page was installed. */
static int verify_pages(struct test_ctx *t, const uint8_t *p, size_t n,
			size_t psz, bool uffd)
{
	size_t i, pos;
	int rc;

	for (i = 0; i < n; i++) {
		pos = i * psz;
		if (uffd) {
			rc = pattern_verify(t, p + pos, 1, SEED_BG, pos, psz,
					    "first byte of the page");
			if (rc == TEST_PASS)
				rc = pattern_verify(t, p + pos + psz - 1, 1, SEED_BG,
						    pos + psz - 1, psz,
						    "last byte of the page");
		} else {
			rc = bytes_verify(t, p + pos, 1, 0, pos, "fresh page");
		}
		if (rc != TEST_PASS)
			return rc;
	}
	return TEST_PASS;
}

/* The measurement proper; runs in the child. */
static int measure(struct test_ctx *t, const struct ps_variant *v, size_t n,
		   struct ps_result *res)
{
	const struct rdma_caps_req req = { .odp = true };
	uint32_t seed = SEED_BG;
	size_t psz = page_size(), len = n * psz;
	struct uffd_handler h;
	struct rdma_res r;
	struct ibv_mr *mr = NULL;
	struct ibv_sge sge;
	uint8_t *p = NULL;
	uint64_t t0, t1;
	bool uffd = v->mem != PS_ORDINARY;
	struct inval iv = { .npages = n, .psz = psz };
	pthread_t ivt;
	bool iv_started = false;
	int rc, err;

	uffd_handler_init(&h);
	test_step(t, "RDMA setup");
	rc = rdma_setup(t, &r, &req);
	if (rc != TEST_PASS)
		return rc;
	test_step(t, "map %zu pages", n);
	rc = mem_map(t, len, (void **)&p, "prefetch region");
	if (rc == TEST_PASS && uffd) {
		test_step(t, "uffd register + handler");
		rc = uffd_missing_setup(t, &h, p, len, uffd_fill_pattern, &seed);
	}
	if (rc == TEST_PASS)
		rc = rdma_reg_mr(t, &r, p, len, ODP_ACCESS, "ODP region", &mr);
	if (rc == TEST_PASS) {
		sge = (struct ibv_sge){
			.addr = (uintptr_t)p, .length = (uint32_t)len,
			.lkey = mr->lkey,
		};
		if (v->mem == PS_UFFD_INVAL) {
			iv.p = p;
			atomic_init(&iv.stop, false);
			err = pthread_create(&ivt, NULL, inval_thread, &iv);
			if (err)
				rc = test_fail(t, "pthread_create(invalidator): %s",
					       strerror(err));
			iv_started = !err;
		}
	}
	if (rc == TEST_PASS) {
		test_step(t, "ibv_advise_mr(PREFETCH_WRITE, FLUSH) of %zu pages", n);
		t0 = bench_now_ns();
		err = ibv_advise_mr(r.pd, IBV_ADVISE_MR_ADVICE_PREFETCH_WRITE,
				    IBV_ADVISE_MR_FLAG_FLUSH, &sge, 1) ? errno : 0;
		t1 = bench_now_ns();
		if (iv_started) {
			atomic_store(&iv.stop, true);
			if (pthread_join(ivt, NULL))
				rc = test_fail(t, "pthread_join(invalidator) failed");
			iv_started = false;
			res->invalidations = iv.drops;
			if (iv.err)
				rc = test_fail(t, "madvise(MADV_DONTNEED) in the invalidator: %s",
					       strerror(iv.err));
		}
		res->seconds = (double)(t1 - t0) / 1e9;
		res->faults = uffd_faults(&h);
		if (err) {
			res->status = PS_REFUSED;
			snprintf(res->msg, sizeof(res->msg),
				 "ibv_advise_mr(PREFETCH_WRITE; FLUSH; %zu pages): %s",
				 n, strerror(err));
			rc = TEST_FAIL;
		}
	}
	if (rc == TEST_PASS) {
		test_step(t, "verify the %zu pages", n);
		/* dropped pages fault again, here from the CPU */
		rc = verify_pages(t, p, n, psz, uffd);
	}
	if (iv_started) {	/* the advise was not reached */
		atomic_store(&iv.stop, true);
		pthread_join(ivt, NULL);
	}
	res->copies = atomic_load(&h.resolved);
	/* Close the uffd first: nothing may wait for the handler (design.md). */
	rc = test_worse(rc, uffd_teardown(t, &h));
	rc = test_worse(rc, rdma_dereg_mr(t, &mr, "ODP region"));
	rc = test_worse(rc, mem_unmap(t, (void **)&p, len, "prefetch region"));
	rc = test_worse(rc, rdma_teardown(t, &r));
	return rc;
}

static void child(const struct ps_cfg *cfg, const struct ps_variant *v,
		  size_t n, struct ps_result *res)
{
	struct bench_ctx b;
	int rc;

	alarm((unsigned int)cfg->cap_s);	/* SIGALRM kills the child */
	bench_ctx_init(&b, cfg->dev, cfg->gid_index, cfg->verbose, v->name);
	rc = measure(&b.t, v, n, res);
	/* PS_REFUSED keeps the advise error as the reason. */
	if (res->status != PS_REFUSED) {
		if (rc == TEST_PASS) {
			res->status = PS_OK;
		} else if (rc == TEST_SKIP) {
			res->status = PS_SKIPPED;
			snprintf(res->msg, sizeof(res->msg), "skipped: %s",
				 b.shared.skip_reason);
		} else {
			res->status = PS_ERROR;
			snprintf(res->msg, sizeof(res->msg), "error in step '%s'",
				 b.shared.step);
		}
	}
	fflush(stdout);
	_exit(0);
}

/* One run in a forked child; returns 0 with *res filled, -1 on error. */
static int run_once(const struct ps_cfg *cfg, const struct ps_variant *v,
		    size_t n, struct ps_result *res)
{
	struct ps_result *sh;
	int status;
	pid_t pid;

	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE,
		  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED) {
		fprintf(stderr, "mmap(result page): %s\n", strerror(errno));
		return -1;
	}
	memset(sh, 0, sizeof(*sh));
	fflush(stdout);
	pid = fork();
	if (pid < 0) {
		fprintf(stderr, "fork: %s\n", strerror(errno));
		munmap(sh, sizeof(*sh));
		return -1;
	}
	if (pid == 0)
		child(cfg, v, n, sh);
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR) {
			fprintf(stderr, "waitpid(%d): %s\n", (int)pid, strerror(errno));
			munmap(sh, sizeof(*sh));
			return -1;
		}
	}
	*res = *sh;
	if (WIFSIGNALED(status)) {
		res->status = PS_NO_RESULT;
		if (WTERMSIG(status) == SIGALRM)
			snprintf(res->msg, sizeof(res->msg),
				 "killed after the %lu s cap", cfg->cap_s);
		else
			snprintf(res->msg, sizeof(res->msg), "killed by signal %d",
				 WTERMSIG(status));
	} else if (res->status == PS_NO_RESULT) {
		snprintf(res->msg, sizeof(res->msg), "child exited %d without a result",
			 WEXITSTATUS(status));
	}
	if (munmap(sh, sizeof(*sh)))
		fprintf(stderr, "munmap(result page): %s\n", strerror(errno));
	return 0;
}

/* Returns 0 (measured or refused by the kernel) or -1 (error). */
static int run_variant(const struct ps_cfg *cfg, const struct ps_variant *v,
		       struct bench_csv *csv)
{
	struct ps_result res;
	unsigned long n, rep;

	for (n = cfg->min_pages; n <= cfg->max_pages; n *= 2) {
		double spent = 0;
		bool over = false;

		for (rep = 0; rep < cfg->reps; rep++) {
			if (run_once(cfg, v, n, &res))
				return -1;
			if (res.status != PS_OK) {
				bench_csv_failed(csv, v->name, n, "%s", res.msg);
				printf("%-13s %6lu pages  rep %lu: %s\n", v->name, n,
				       rep, res.msg);
				return res.status == PS_ERROR ? -1 : 0;
			}
			bench_csv_row(csv, v->name, n, (unsigned int)rep, "total",
				      res.seconds, "s");
			bench_csv_row(csv, v->name, n, (unsigned int)rep, "per_page",
				      res.seconds * 1e6 / (double)n, "us");
			if (v->mem != PS_ORDINARY)
				bench_csv_row(csv, v->name, n, (unsigned int)rep,
					      "uffd_faults", (double)res.faults,
					      "count");
			if (v->mem == PS_UFFD_INVAL)
				bench_csv_row(csv, v->name, n, (unsigned int)rep,
					      "invalidations",
					      (double)res.invalidations, "count");
			printf("%-13s %6lu pages  rep %lu: %10.4f s  %9.2f us/page",
			       v->name, n, rep, res.seconds,
			       res.seconds * 1e6 / (double)n);
			if (v->mem != PS_ORDINARY)
				printf("  (uffd faults %lu, copies %lu)", res.faults,
				       res.copies);
			if (v->mem == PS_UFFD_INVAL)
				printf("  (%lu invalidations of %d pages)",
				       res.invalidations, INVAL_PAGES);
			printf("\n");
			spent += res.seconds;
			if (res.seconds > (double)cfg->limit_s) {
				over = true;
				break;
			}
			if (spent > (double)cfg->limit_s / 3)
				break;	/* enough repetitions of this N */
		}
		if (over) {
			bench_csv_row(csv, v->name, n, 0, "stopped",
				      (double)cfg->limit_s, "s");
			printf("%-13s stopped growing N: one run of %lu pages took more than %lu s\n",
			       v->name, n, cfg->limit_s);
			break;
		}
	}
	return 0;
}

static void usage(FILE *f, const char *prog)
{
	fprintf(f,
		"usage: %s [-d dev] [-g gid_index] [-o csv] [-m min_pages] [-M max_pages]\n"
		"          [-r reps] [-L limit_s] [-C cap_s] [-t uffd_missing|ordinary|uffd_inval]... [-v]\n"
		"  -m, -M      N doubles from min to max pages (default 256, 65536)\n"
		"  -r reps     runs per N (default 3; fewer once they took -L/3 s together)\n"
		"  -L seconds  stop growing N after a run longer than this (default 60)\n"
		"  -C seconds  kill a run after this long (default 300)\n"
		"  -o file     long-form CSV\n", prog);
}

static int parse_args(int argc, char **argv, struct ps_cfg *cfg)
{
	bool any = false;
	unsigned long v;
	size_t i;
	int opt;

	while ((opt = getopt(argc, argv, "d:g:o:m:M:r:L:C:t:vh")) != -1) {
		switch (opt) {
		case 'd':
			cfg->dev = optarg;
			break;
		case 'g':
			if (!bench_parse_ulong(argv[0], "GID index", optarg, 0, 255, &v))
				return 2;
			cfg->gid_index = (int)v;
			break;
		case 'o':
			cfg->csv_path = optarg;
			break;
		case 'm':
		case 'M':
			/* One SGE: at most 4 GiB - 1 bytes. */
			if (!bench_parse_ulong(argv[0], "page count", optarg, 1,
					       (1ul << 20) - 1, &v))
				return 2;
			*(opt == 'm' ? &cfg->min_pages : &cfg->max_pages) = v;
			break;
		case 'r':
			if (!bench_parse_ulong(argv[0], "repetitions", optarg, 1,
					       1000, &cfg->reps))
				return 2;
			break;
		case 'L':
		case 'C':
			if (!bench_parse_ulong(argv[0], "seconds", optarg, 1,
					       24 * 3600, &v))
				return 2;
			*(opt == 'L' ? &cfg->limit_s : &cfg->cap_s) = v;
			break;
		case 't':
			for (i = 0; i < ARRAY_SIZE(variants); i++)
				if (!strcmp(variants[i].name, optarg))
					break;
			if (i == ARRAY_SIZE(variants)) {
				fprintf(stderr, "%s: unknown variant '%s'\n", argv[0],
					optarg);
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
	if (optind != argc || cfg->min_pages > cfg->max_pages) {
		usage(stderr, argv[0]);
		return 2;
	}
	for (i = 0; i < ARRAY_SIZE(variants); i++)
		cfg->selected[i] |= !any;
	return 0;
}

int main(int argc, char **argv)
{
	struct ps_cfg cfg = {
		.dev = TEST_DEFAULT_DEV,
		.gid_index = TEST_DEFAULT_GID_INDEX,
		.min_pages = 256,
		.max_pages = 65536,
		.reps = 3,
		.limit_s = 60,
		.cap_s = 300,
	};
	struct bench_csv csv = { 0 };
	int rc, err = 0;
	size_t i;

	setvbuf(stdout, NULL, _IOLBF, 0);
	rc = parse_args(argc, argv, &cfg);
	if (rc)
		return rc == 1 ? 0 : rc;
	if (bench_csv_open(&csv, cfg.csv_path ? cfg.csv_path : "/dev/null",
			   "prefetch_scale"))
		return 1;
	printf("# prefetch_scale on %s: N = %lu..%lu pages, %lu reps, stop after a run > %lu s, kill after %lu s\n",
	       cfg.dev, cfg.min_pages, cfg.max_pages, cfg.reps, cfg.limit_s,
	       cfg.cap_s);
	/* The parameters, for the report: variant "config". */
	bench_csv_row(&csv, "config", 0, 0, "reps", (double)cfg.reps, "count");
	bench_csv_row(&csv, "config", 0, 0, "limit", (double)cfg.limit_s, "s");
	bench_csv_row(&csv, "config", 0, 0, "cap", (double)cfg.cap_s, "s");
	for (i = 0; i < ARRAY_SIZE(variants); i++)
		if (cfg.selected[i] && run_variant(&cfg, &variants[i], &csv))
			err = 1;
	if (bench_csv_close(&csv))
		err = 1;
	return err;
}
