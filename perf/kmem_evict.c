// SPDX-License-Identifier: GPL-2.0
/*
 * kmem_evict: what ODP on userfaultfd memory costs in kernel memory, and
 * what eviction costs in bandwidth (issue 15, item 4).
 *
 * Part "kmem": kernel memory per ODP MR and per waiting fault.  Snapshots
 * of /proc/meminfo (Slab, SUnreclaim, KernelStack, PageTables, VmallocUsed;
 * each after a write to /proc/sys/vm/stat_refresh, which folds the per-CPU
 * counter deltas in, and a 100 ms pause for RCU frees), the number of tasks
 * (numeric entries of /proc: kernel threads are tasks of their own) and,
 * where the kernel has it, /proc/slabinfo:
 *
 *   mr_uffd      n = M (-m, default 256) ODP MRs of -s KiB (default 1024)
 *                each over anonymous memory registered uffd MISSING (no
 *                handler; registration takes no fault).  Snapshots before
 *                the registrations, after them, and after deregistering
 *                them; per MR: <field> (during - before) and
 *                <field>_after (after - before), bytes.
 *   mr_ordinary  the same over ordinary anonymous memory, populated before
 *                the first snapshot (its page tables are in the baseline)
 *   fault_wait   n = F (-f, default 256) loopback RC QP pairs, each posting
 *                one 4 KiB RDMA WRITE into its own page of an ODP MR over
 *                uffd-missing memory whose faults nobody answers.  After
 *                -W ms (default 2000, the fault messages counted meanwhile:
 *                faults_at_uffd, read but not answered) a snapshot
 *                "waiting"; then every page is answered (one UFFDIO_COPY),
 *                the F completions are awaited and a snapshot "after" is
 *                taken.  Per waiting fault: <field> and <field>_after
 *                (bytes), tasks and tasks_after (count); completed (count).
 *                On the patched kernel the faults queue for the context's
 *                fault thread (one message at the uffd, one thread asleep);
 *                on a kernel whose device faults sleep in shared workers
 *                (upstream 7.3) each waiting fault holds a kworker and its
 *                stack (KernelStack, tasks).  Workqueues keep idle workers
 *                for minutes, so *_after shows what stays, not a leak.
 *
 * Part "evict": RDMA WRITE bandwidth under eviction.  One loopback RC QP
 * pair writes -l KiB messages (default 64), -q outstanding (default 8),
 * round robin over a 4 MiB ODP MR, for a warm-up of 0.5 s and a measured
 * window of -D seconds (default 2), while an evictor thread drops random
 * single pages of the target with MADV_DONTNEED at a fixed rate (pages/s,
 * each of -R, default 0,1000,5000; paced each millisecond, a backlog
 * beyond 100 ms is skipped):
 *
 *   evict_anon        the target is ordinary anonymous memory: a dropped
 *                     page is freed and the ODP refault allocates a new one
 *   evict_uffd_minor  the target is shmem registered UFFDIO_REGISTER_MODE_MINOR
 *                     (handler: UFFDIO_CONTINUE); a dropped page stays in
 *                     the page cache and the next device access is a MINOR
 *                     fault the handler resolves
 *
 * Both with MADV_NOHUGEPAGE.  Metrics per run: bw (MB/s, 1e6 bytes/s of
 * completed WRITEs in the window), evict_rate (pages/s achieved), and for
 * uffd_minor uffd_faults (per second).  After the window the evictor stops,
 * the outstanding WRITEs drain, every slot is written once more and the
 * whole target is checked against the pattern (through a second mapping of
 * the memfd for shmem): a kernel that moves wrong data gets a "failed" row.
 * The runs (mode x rate x -e repetitions, default 2) go in an order
 * shuffled with -S (default: from the clock; written as variant "meta").
 *
 * Every measurement is a forked child with its own device context, killed
 * after -C seconds (default 90); a kernel that cannot (stock 7.2 fails a
 * device fault on uffd memory at once) or a killed child gives a "failed"
 * row with the reason.  Long-form CSV (-o, bench.h); nothing is asserted
 * about a figure.  With the defaults: 21 runs, estimated at about 50 s on
 * the patched kernel in the TCG guest (about 2.5 s of traffic per
 * eviction run, 2 s of waiting per fault_wait run, plus setup).
 */
#include "bench.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define SEED_FILL	0x3cu	/* uffd answers / initial content */
#define SEED_DATA	0xa5u	/* what the WRITEs deliver */
#define SNAP_PAUSE_US	100000
#define COMPLETE_MS	60000	/* fault_wait: completions after the answer */
#define WC_STALL_MS	20000	/* evict: no completion for this long: hung */
#define DRAIN_MS	30000
#define WARMUP_US	500000
#define EVICT_REGION	(4UL << 20)
#define MAX_ROWS	96
#define MAX_RATES	8
#define MAX_SLABS	512

#define ODP_ACCESS	(IBV_ACCESS_ON_DEMAND | IBV_ACCESS_LOCAL_WRITE | \
			 IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_READ)
#define PIN_ACCESS	(IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE | \
			 IBV_ACCESS_REMOTE_READ)

static const char *const mi_fields[] = {
	"Slab", "SUnreclaim", "KernelStack", "PageTables", "VmallocUsed",
};
#define NFIELDS ARRAY_SIZE(mi_fields)

enum km_kind { KM_MR_UFFD, KM_MR_ORDINARY, KM_FAULT_WAIT, KM_EVICT_ANON,
	       KM_EVICT_MINOR };

static const char *const kind_names[] = {
	[KM_MR_UFFD] = "mr_uffd", [KM_MR_ORDINARY] = "mr_ordinary",
	[KM_FAULT_WAIT] = "fault_wait", [KM_EVICT_ANON] = "evict_anon",
	[KM_EVICT_MINOR] = "evict_uffd_minor",
};

struct km_cfg {
	const char *dev;
	int gid_index;
	const char *csv_path;
	bool verbose;
	bool kmem, evict;
	unsigned long mrs, mr_kib, faults, kmem_reps, settle_ms;
	unsigned long msg_kib, depth, secs, evict_reps, cap_s;
	unsigned long rates[MAX_RATES];
	size_t nrates;
	uint64_t seed;
};

/* ------------------------------------------------------------ results */

enum km_status { KM_NO_RESULT = 0, KM_OK, KM_FAILED, KM_ERROR };

struct km_row {
	char metric[64];
	double value;
	char unit[24];
};

/* Written by the child into a MAP_SHARED area, read by the parent. */
struct km_result {
	enum km_status status;
	char msg[320];
	unsigned int nrows;
	struct km_row rows[MAX_ROWS];
};

static void res_row(struct km_result *res, const char *metric, double value,
		    const char *unit)
{
	struct km_row *r;

	if (res->nrows >= MAX_ROWS)
		return;
	r = &res->rows[res->nrows++];
	snprintf(r->metric, sizeof(r->metric), "%s", metric);
	r->value = value;
	snprintf(r->unit, sizeof(r->unit), "%s", unit);
}

TEST_PRINTF(2, 3)
static void res_failed(struct km_result *res, const char *fmt, ...)
{
	va_list ap;

	if (res->status == KM_FAILED)	/* keep the first reason */
		return;
	va_start(ap, fmt);
	vsnprintf(res->msg, sizeof(res->msg), fmt, ap);
	va_end(ap);
	res->status = KM_FAILED;
}

/* ------------------------------------------------------------ snapshots */

struct slab_ent {
	char name[48];
	unsigned long objs, objsize;
};

struct snap {
	long kb[NFIELDS];
	long tasks;
	bool refreshed;		/* stat_refresh worked */
	size_t nslabs;		/* 0: no /proc/slabinfo */
	struct slab_ent *slabs;	/* MAX_SLABS, or NULL */
};

static int read_meminfo(struct test_ctx *t, struct snap *s)
{
	char line[256], name[64];
	bool seen[NFIELDS] = { false };
	long v;
	size_t i;
	FILE *f;
	int rc = TEST_PASS;

	f = fopen("/proc/meminfo", "r");
	if (!f)
		return test_fail(t, "fopen(/proc/meminfo): %s", strerror(errno));
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%63[^:]: %ld", name, &v) != 2)
			continue;
		for (i = 0; i < NFIELDS; i++)
			if (!strcmp(name, mi_fields[i])) {
				s->kb[i] = v;
				seen[i] = true;
			}
	}
	if (ferror(f))
		rc = test_fail(t, "reading /proc/meminfo failed");
	if (fclose(f))
		rc = test_fail(t, "fclose(/proc/meminfo): %s", strerror(errno));
	for (i = 0; i < NFIELDS && rc == TEST_PASS; i++)
		if (!seen[i])
			rc = test_fail(t, "/proc/meminfo has no %s line", mi_fields[i]);
	return rc;
}

static int count_tasks(struct test_ctx *t, long *n)
{
	struct dirent *e;
	DIR *d = opendir("/proc");

	if (!d)
		return test_fail(t, "opendir(/proc): %s", strerror(errno));
	*n = 0;
	errno = 0;
	while ((e = readdir(d)))
		if (e->d_name[0] >= '1' && e->d_name[0] <= '9')
			(*n)++;
	if (errno) {
		int err = errno;

		closedir(d);
		return test_fail(t, "readdir(/proc): %s", strerror(err));
	}
	if (closedir(d))
		return test_fail(t, "closedir(/proc): %s", strerror(errno));
	return TEST_PASS;
}

/* SLUB_TINY kernels have no /proc/slabinfo: nslabs stays 0. */
static int read_slabinfo(struct test_ctx *t, struct snap *s)
{
	char line[512];
	struct slab_ent e;
	FILE *f;
	int rc = TEST_PASS;

	s->nslabs = 0;
	if (!s->slabs)
		return TEST_PASS;
	f = fopen("/proc/slabinfo", "r");
	if (!f) {
		if (errno == ENOENT)
			return TEST_PASS;
		return test_fail(t, "fopen(/proc/slabinfo): %s", strerror(errno));
	}
	while (fgets(line, sizeof(line), f) && s->nslabs < MAX_SLABS) {
		unsigned long total;

		if (line[0] == '#' || !strncmp(line, "slabinfo", 8))
			continue;
		if (sscanf(line, "%47s %lu %lu %lu", e.name, &e.objs, &total,
			   &e.objsize) == 4)
			s->slabs[s->nslabs++] = e;
	}
	if (ferror(f))
		rc = test_fail(t, "reading /proc/slabinfo failed");
	if (fclose(f))
		rc = test_fail(t, "fclose(/proc/slabinfo): %s", strerror(errno));
	return rc;
}

static int snap_init(struct test_ctx *t, struct snap *s)
{
	memset(s, 0, sizeof(*s));
	s->slabs = calloc(MAX_SLABS, sizeof(*s->slabs));
	if (!s->slabs)
		return test_fail(t, "calloc(slabinfo snapshot): %s", strerror(errno));
	return TEST_PASS;
}

static void snap_free(struct snap *s)
{
	free(s->slabs);
	s->slabs = NULL;
}

static int snap_take(struct test_ctx *t, struct snap *s, const char *when)
{
	int fd, rc;

	test_step(t, "snapshot %s", when);
	test_sleep_us(SNAP_PAUSE_US);	/* RCU frees, deferred work */
	/* Fold the per-CPU vmstat deltas into the global counters. */
	s->refreshed = false;
	fd = open("/proc/sys/vm/stat_refresh", O_WRONLY | O_CLOEXEC);
	if (fd >= 0) {
		/* EINVAL: some counter was negative; it refreshed anyway. */
		s->refreshed = write(fd, "1\n", 2) == 2 || errno == EINVAL;
		if (close(fd))
			return test_fail(t, "close(/proc/sys/vm/stat_refresh): %s",
					 strerror(errno));
	}
	rc = read_meminfo(t, s);
	if (rc == TEST_PASS)
		rc = count_tasks(t, &s->tasks);
	if (rc == TEST_PASS)
		rc = read_slabinfo(t, s);
	return rc;
}

/* Per-unit deltas of every field: <field><suffix> in bytes per unit. */
static void snap_rows(struct km_result *res, const struct snap *a,
		      const struct snap *b, unsigned long n, const char *suffix,
		      const char *unit)
{
	char metric[64];
	size_t i;

	for (i = 0; i < NFIELDS; i++) {
		snprintf(metric, sizeof(metric), "%s%s", mi_fields[i], suffix);
		res_row(res, metric, (double)(b->kb[i] - a->kb[i]) * 1024.0 /
			(double)n, unit);
	}
	snprintf(metric, sizeof(metric), "tasks%s", suffix);
	res_row(res, metric, (double)(b->tasks - a->tasks), "count");
}

struct slab_delta {
	double bytes;		/* per unit */
	size_t idx;		/* in the later snapshot */
};

static int cmp_slab_delta(const void *a, const void *b)
{
	double x = ((const struct slab_delta *)a)->bytes;
	double y = ((const struct slab_delta *)b)->bytes;

	x = x < 0 ? -x : x;
	y = y < 0 ? -y : y;
	return (x < y) - (x > y);	/* largest first */
}

/* The (at most 8) slab caches that changed most, by >= n/2 objects. */
static void slab_rows(struct km_result *res, const struct snap *a,
		      const struct snap *b, unsigned long n, const char *unit)
{
	struct slab_delta d[MAX_SLABS];
	size_t nd = 0, i, j;
	char metric[64];

	for (i = 0; i < b->nslabs; i++) {
		long objs = (long)b->slabs[i].objs;

		for (j = 0; j < a->nslabs; j++)
			if (!strcmp(a->slabs[j].name, b->slabs[i].name))
				break;
		if (j == a->nslabs)
			continue;
		objs -= (long)a->slabs[j].objs;
		if (labs(objs) * 2 < (long)n)
			continue;
		d[nd].bytes = (double)objs * (double)b->slabs[i].objsize /
			      (double)n;
		d[nd++].idx = i;
	}
	qsort(d, nd, sizeof(*d), cmp_slab_delta);
	for (i = 0; i < nd && i < 8; i++) {
		snprintf(metric, sizeof(metric), "slab:%s", b->slabs[d[i].idx].name);
		res_row(res, metric, d[i].bytes, unit);
	}
}

/* ----------------------------------------------------------- kmem: MRs */

static int kmem_mrs(struct test_ctx *t, const struct km_cfg *cfg, bool uffd,
		    struct km_result *res)
{
	const struct rdma_caps_req req = { .odp = true };
	size_t len = cfg->mr_kib * 1024, total = len * cfg->mrs, i;
	struct snap s0, s1, s2;
	struct ibv_mr **mrs = NULL;
	struct rdma_res r;
	bool have_rdma = false;
	uint8_t *p = NULL;
	int uffd_fd = -1, rc;

	rc = snap_init(t, &s0);
	rc = test_worse(rc, snap_init(t, &s1));
	rc = test_worse(rc, snap_init(t, &s2));
	if (rc == TEST_PASS) {
		mrs = calloc(cfg->mrs, sizeof(*mrs));
		if (!mrs)
			rc = test_fail(t, "calloc(%lu MR pointers): %s", cfg->mrs,
				       strerror(errno));
	}
	if (rc == TEST_PASS) {
		test_step(t, "RDMA setup");
		rc = rdma_setup(t, &r, &req);
		have_rdma = rc == TEST_PASS;
	}
	if (rc == TEST_PASS)
		rc = mem_map(t, total, (void **)&p, "MR memory");
	if (rc == TEST_PASS && madvise(p, total, MADV_NOHUGEPAGE))
		rc = test_fail(t, "madvise(MR memory, MADV_NOHUGEPAGE): %s",
			       strerror(errno));
	if (rc == TEST_PASS && uffd) {
		test_step(t, "uffd-register %zu bytes MISSING", total);
		rc = uffd_open(t, &uffd_fd);
		if (rc == TEST_PASS)
			rc = uffd_register_missing(t, uffd_fd, p, total);
	} else if (rc == TEST_PASS) {
		test_step(t, "populate %zu bytes", total);
		memset(p, 1, total);
	}
	if (rc == TEST_PASS)
		rc = snap_take(t, &s0, "before the MRs");
	for (i = 0; i < cfg->mrs && rc == TEST_PASS; i++) {
		test_step(t, "register ODP MR %zu of %lu", i + 1, cfg->mrs);
		rc = rdma_reg_mr(t, &r, p + i * len, len, ODP_ACCESS, "ODP MR",
				 &mrs[i]);
	}
	if (rc == TEST_PASS)
		rc = snap_take(t, &s1, "with the MRs");
	for (i = 0; mrs && i < cfg->mrs; i++)
		rc = test_worse(rc, rdma_dereg_mr(t, &mrs[i], "ODP MR"));
	if (rc == TEST_PASS)
		rc = snap_take(t, &s2, "after deregistering");
	if (rc == TEST_PASS) {
		snap_rows(res, &s0, &s1, cfg->mrs, "", "bytes");
		snap_rows(res, &s0, &s2, cfg->mrs, "_after", "bytes");
		slab_rows(res, &s0, &s1, cfg->mrs, "bytes");
		res_row(res, "stat_refresh", s0.refreshed && s1.refreshed &&
			s2.refreshed, "bool");
	}
	if (uffd_fd >= 0 && close(uffd_fd))
		rc = test_fail(t, "close(uffd): %s", strerror(errno));
	rc = test_worse(rc, mem_unmap(t, (void **)&p, total, "MR memory"));
	if (have_rdma)
		rc = test_worse(rc, rdma_teardown(t, &r));
	free(mrs);
	snap_free(&s0);
	snap_free(&s1);
	snap_free(&s2);
	return rc;
}

/* ---------------------------------------------------- kmem: fault_wait */

struct fw {
	struct rdma_res r;
	bool have_rdma;
	struct rdma_pair *pairs;
	size_t npairs;
	uint8_t *pin, *umem;
	size_t len, psz;
	struct ibv_mr *pmr, *umr;
	int uffd;
	bool *done;		/* per pair: its completion arrived */
	unsigned long completed, errors;
	char first_error[128];
};

/* Poll every pair's CQ once; counts completions. */
static int fw_poll(struct test_ctx *t, struct fw *w)
{
	struct ibv_wc wc;
	size_t i;
	int n;

	for (i = 0; i < w->npairs; i++) {
		if (w->done[i])
			continue;
		n = ibv_poll_cq(w->pairs[i].cq[0], 1, &wc);
		if (n < 0)
			return test_fail(t, "ibv_poll_cq(pair %zu) returned %d", i, n);
		if (!n)
			continue;
		w->done[i] = true;
		w->completed++;
		if (wc.status != IBV_WC_SUCCESS && !w->errors++)
			snprintf(w->first_error, sizeof(w->first_error),
				 "pair %zu: %s", i, ibv_wc_status_str(wc.status));
	}
	return TEST_PASS;
}

/* Read (never answer) fault messages for ms; stops early once all came. */
static int fw_settle(struct test_ctx *t, struct fw *w, unsigned long ms,
		     unsigned long *msgs)
{
	uint64_t end = bench_now_ns() + (uint64_t)ms * 1000000u;
	struct pollfd pfd = { .fd = w->uffd, .events = POLLIN };
	struct uffd_msg msg;
	ssize_t n;
	int rc;

	*msgs = 0;
	while (bench_now_ns() < end && *msgs < w->npairs &&
	       w->completed < w->npairs) {
		rc = fw_poll(t, w);
		if (rc != TEST_PASS)
			return rc;
		if (poll(&pfd, 1, 10) < 0 && errno != EINTR)
			return test_fail(t, "poll(uffd): %s", strerror(errno));
		for (;;) {
			n = read(w->uffd, &msg, sizeof(msg));
			if (n < 0 && (errno == EAGAIN || errno == EINTR))
				break;
			if (n != (ssize_t)sizeof(msg))
				return test_fail(t, "read(uffd): %s", n < 0 ?
						 strerror(errno) : "short read");
			if (msg.event == UFFD_EVENT_PAGEFAULT)
				(*msgs)++;
		}
	}
	return fw_poll(t, w);
}

static int fw_setup(struct test_ctx *t, const struct km_cfg *cfg, struct fw *w)
{
	const struct rdma_caps_req req = {
		.odp = true, .rc_odp_caps = IBV_ODP_SUPPORT_WRITE,
	};
	size_t i;
	int rc;

	w->psz = page_size();
	w->len = cfg->faults * w->psz;
	test_step(t, "RDMA setup");
	rc = rdma_setup(t, &w->r, &req);
	if (rc != TEST_PASS)
		return rc;
	w->have_rdma = true;
	w->pairs = calloc(cfg->faults, sizeof(*w->pairs));
	w->done = calloc(cfg->faults, sizeof(*w->done));
	if (!w->pairs || !w->done)
		return test_fail(t, "calloc(%lu QP pairs): %s", cfg->faults,
				 strerror(errno));
	for (i = 0; i < cfg->faults; i++) {
		test_step(t, "QP pair %zu of %lu", i + 1, cfg->faults);
		rc = rdma_pair_create(t, &w->r, &w->pairs[i]);
		if (rc != TEST_PASS)
			return rc;
		w->npairs = i + 1;
	}
	rc = mem_map(t, w->len, (void **)&w->pin, "pinned source");
	if (rc != TEST_PASS)
		return rc;
	pattern_fill(w->pin, w->len, SEED_DATA, 0, w->psz);
	rc = rdma_reg_mr(t, &w->r, w->pin, w->len, PIN_ACCESS, "pinned source",
			 &w->pmr);
	if (rc != TEST_PASS)
		return rc;
	rc = mem_map(t, w->len, (void **)&w->umem, "uffd target");
	if (rc != TEST_PASS)
		return rc;
	if (madvise(w->umem, w->len, MADV_NOHUGEPAGE))
		return test_fail(t, "madvise(uffd target, MADV_NOHUGEPAGE): %s",
				 strerror(errno));
	rc = uffd_open(t, &w->uffd);
	if (rc == TEST_PASS)
		rc = uffd_register_missing(t, w->uffd, w->umem, w->len);
	if (rc == TEST_PASS)
		rc = rdma_reg_mr(t, &w->r, w->umem, w->len, ODP_ACCESS,
				 "uffd target (ODP)", &w->umr);
	return rc;
}

static int fw_teardown(struct test_ctx *t, struct fw *w)
{
	int rc = TEST_PASS;
	size_t i;

	/* uffd first: wakes any fault still waiting. */
	if (w->uffd >= 0 && close(w->uffd))
		rc = test_fail(t, "close(uffd): %s", strerror(errno));
	w->uffd = -1;
	for (i = 0; i < w->npairs; i++)
		rc = test_worse(rc, rdma_pair_destroy(t, &w->pairs[i]));
	rc = test_worse(rc, rdma_dereg_mr(t, &w->umr, "uffd target (ODP)"));
	rc = test_worse(rc, rdma_dereg_mr(t, &w->pmr, "pinned source"));
	if (w->have_rdma)
		rc = test_worse(rc, rdma_teardown(t, &w->r));
	rc = test_worse(rc, mem_unmap(t, (void **)&w->umem, w->len, "uffd target"));
	rc = test_worse(rc, mem_unmap(t, (void **)&w->pin, w->len, "pinned source"));
	free(w->pairs);
	free(w->done);
	return rc;
}

static int fw_post(struct test_ctx *t, struct fw *w, size_t i)
{
	struct ibv_sge sge = {
		.addr = (uintptr_t)(w->pin + i * w->psz),
		.length = (uint32_t)w->psz, .lkey = w->pmr->lkey,
	};
	struct ibv_send_wr wr = {
		.wr_id = i, .sg_list = &sge, .num_sge = 1,
		.opcode = IBV_WR_RDMA_WRITE, .send_flags = IBV_SEND_SIGNALED,
	};
	struct ibv_send_wr *bad = NULL;
	int err;

	wr.wr.rdma.remote_addr = (uintptr_t)(w->umem + i * w->psz);
	wr.wr.rdma.rkey = w->umr->rkey;
	err = ibv_post_send(w->pairs[i].qp[0], &wr, &bad);
	if (err)
		return test_fail(t, "ibv_post_send(RDMA WRITE, pair %zu): %s", i,
				 strerror(err));
	return TEST_PASS;
}

static int fw_answer(struct test_ctx *t, struct fw *w)
{
	struct uffdio_copy copy;
	uint8_t *src = aligned_alloc(w->psz, w->len);
	int rc = TEST_PASS;

	if (!src)
		return test_fail(t, "aligned_alloc(answer, %zu): %s", w->len,
				 strerror(errno));
	pattern_fill(src, w->len, SEED_FILL, 0, w->psz);
	copy = (struct uffdio_copy){ .dst = (uintptr_t)w->umem,
				     .src = (uintptr_t)src, .len = w->len };
	/* EEXIST: a page the WRITE already got (kernels that fail at once). */
	if (ioctl(w->uffd, UFFDIO_COPY, &copy) && errno != EEXIST)
		rc = test_fail(t, "ioctl(UFFDIO_COPY, %zu pages): %s",
			       w->len / w->psz, strerror(errno));
	free(src);
	return rc;
}

static int kmem_faults(struct test_ctx *t, const struct km_cfg *cfg,
		       struct km_result *res)
{
	struct fw w = { .uffd = -1 };
	struct snap s0, s1, s2;
	unsigned long msgs = 0, early;
	uint64_t end;
	size_t i;
	int rc;

	rc = snap_init(t, &s0);
	rc = test_worse(rc, snap_init(t, &s1));
	rc = test_worse(rc, snap_init(t, &s2));
	if (rc == TEST_PASS)
		rc = fw_setup(t, cfg, &w);
	if (rc == TEST_PASS)
		rc = snap_take(t, &s0, "before the faults");
	for (i = 0; i < w.npairs && rc == TEST_PASS; i++) {
		test_step(t, "post the WRITE of pair %zu", i);
		rc = fw_post(t, &w, i);
	}
	if (rc == TEST_PASS) {
		test_step(t, "let %zu faults wait for %lu ms", w.npairs,
			  cfg->settle_ms);
		rc = fw_settle(t, &w, cfg->settle_ms, &msgs);
	}
	early = w.completed;
	if (rc == TEST_PASS && early)
		res_failed(res, "%lu of %zu WRITEs completed before any answer (first: %s): the kernel does not wait for the uffd handler",
			   early, w.npairs, w.errors ? w.first_error : "success");
	else if (rc == TEST_PASS && !msgs)
		res_failed(res, "no fault reached the uffd within %lu ms",
			   cfg->settle_ms);
	if (rc == TEST_PASS)
		rc = snap_take(t, &s1, "with the faults waiting");
	if (rc == TEST_PASS) {
		test_step(t, "answer every page");
		rc = fw_answer(t, &w);
	}
	end = bench_now_ns() + (uint64_t)COMPLETE_MS * 1000000u;
	while (rc == TEST_PASS && w.completed < w.npairs && bench_now_ns() < end) {
		test_step(t, "await the completions (%lu of %zu)", w.completed,
			  w.npairs);
		rc = fw_poll(t, &w);
		test_sleep_us(1000);
	}
	if (rc == TEST_PASS && w.completed < w.npairs)
		res_failed(res, "%lu of %zu WRITEs completed within %d ms of the answer",
			   w.completed, w.npairs, COMPLETE_MS);
	if (rc == TEST_PASS && w.errors > early)
		res_failed(res, "%lu WRITEs completed with an error (first: %s)",
			   w.errors, w.first_error);
	if (rc == TEST_PASS)
		rc = snap_take(t, &s2, "after the answer");
	if (rc == TEST_PASS) {
		snap_rows(res, &s0, &s1, w.npairs, "", "bytes");
		snap_rows(res, &s0, &s2, w.npairs, "_after", "bytes");
		slab_rows(res, &s0, &s1, w.npairs, "bytes");
		res_row(res, "faults_at_uffd", (double)msgs, "count");
		res_row(res, "completed", (double)w.completed, "count");
		res_row(res, "stat_refresh", s0.refreshed && s1.refreshed &&
			s2.refreshed, "bool");
	}
	rc = test_worse(rc, fw_teardown(t, &w));
	snap_free(&s0);
	snap_free(&s1);
	snap_free(&s2);
	return rc;
}

/* -------------------------------------------------------------- evict */

struct evictor {
	uint8_t *base;
	size_t npages, psz;
	double rate;			/* pages per second */
	atomic_bool stop;
	uint64_t rng;
	atomic_ulong pages;		/* dropped */
	atomic_int err;			/* errno of a failed madvise() */
	pthread_t thread;
	bool started;
};

static void *evictor_thread(void *arg)
{
	struct evictor *ev = arg;
	const double backlog = ev->rate / 10;	/* 100 ms worth */
	uint64_t t0 = bench_now_ns();
	double dropped = 0;

	while (!atomic_load(&ev->stop)) {
		double due;

		test_sleep_us(1000);
		due = ev->rate * (double)(bench_now_ns() - t0) / 1e9 - dropped;
		if (due > backlog) {	/* fell behind: do not catch up */
			dropped += due - backlog;
			due = backlog;
		}
		for (; due >= 1 && !atomic_load(&ev->stop); due--, dropped++) {
			size_t pg = (size_t)test_rng_below(&ev->rng, ev->npages);

			if (madvise(ev->base + pg * ev->psz, ev->psz,
				    MADV_DONTNEED)) {
				atomic_store(&ev->err, errno ? errno : EIO);
				return NULL;
			}
			atomic_fetch_add(&ev->pages, 1);
		}
	}
	return NULL;
}

struct ev_run {
	struct rdma_res r;
	bool have_rdma;
	struct tmem m;
	struct uffd_handler h;
	uint8_t *src;
	size_t msg, nslots, psz;
	struct ibv_mr *src_mr, *mr;
	struct evictor ev;
	unsigned long inflight, posted, next_slot;
	uint64_t last_wc_ns;
};

static int ev_post(struct test_ctx *t, struct ev_run *e)
{
	struct ibv_sge sge = {
		.addr = (uintptr_t)e->src, .length = (uint32_t)e->msg,
		.lkey = e->src_mr->lkey,
	};
	struct ibv_send_wr wr = {
		.wr_id = e->posted, .sg_list = &sge, .num_sge = 1,
		.opcode = IBV_WR_RDMA_WRITE, .send_flags = IBV_SEND_SIGNALED,
	};
	struct ibv_send_wr *bad = NULL;
	int err;

	wr.wr.rdma.remote_addr = (uintptr_t)(e->m.addr + e->next_slot * e->msg);
	wr.wr.rdma.rkey = e->mr->rkey;
	err = ibv_post_send(e->r.qp[0], &wr, &bad);
	if (err)
		return test_fail(t, "ibv_post_send(RDMA WRITE %lu): %s", e->posted,
				 strerror(err));
	e->next_slot = (e->next_slot + 1) % e->nslots;
	e->posted++;
	e->inflight++;
	return TEST_PASS;
}

/* Poll once; *n completions (all successful, else a failure). */
static int ev_poll(struct test_ctx *t, struct ev_run *e, struct km_result *res,
		   int *n)
{
	struct ibv_wc wc[16];
	int i;

	*n = ibv_poll_cq(e->r.cq[0], (int)ARRAY_SIZE(wc), wc);
	if (*n < 0)
		return test_fail(t, "ibv_poll_cq returned %d", *n);
	for (i = 0; i < *n; i++) {
		if (wc[i].status != IBV_WC_SUCCESS) {
			res_failed(res, "WRITE %" PRIu64 " completed with %s",
				   (uint64_t)wc[i].wr_id,
				   ibv_wc_status_str(wc[i].status));
			return TEST_FAIL;
		}
	}
	e->inflight -= (unsigned long)*n;
	if (*n)
		e->last_wc_ns = bench_now_ns();
	else if (bench_now_ns() - e->last_wc_ns > (uint64_t)WC_STALL_MS * 1000000u) {
		res_failed(res, "no completion for %d ms (%lu WRITEs outstanding)",
			   WC_STALL_MS, e->inflight);
		return TEST_FAIL;
	}
	return TEST_PASS;
}

static int ev_check(struct test_ctx *t, struct ev_run *e)
{
	int err = atomic_load(&e->ev.err);

	if (err)
		return test_fail(t, "evictor: madvise(MADV_DONTNEED): %s",
				 strerror(err));
	return uffd_handler_check(t, &e->h);
}

static int ev_setup(struct test_ctx *t, const struct km_cfg *cfg,
		    struct ev_run *e, bool minor)
{
	const struct rdma_caps_req req = {
		.odp = true, .rc_odp_caps = IBV_ODP_SUPPORT_WRITE,
	};
	const struct uffd_cfg ucfg = {
		.reg_mode = UFFDIO_REGISTER_MODE_MINOR,
		.action = UFFD_ACT_CONTINUE,
		.features = UFFD_FEATURE_MINOR_SHMEM,
	};
	int rc;

	e->psz = page_size();
	e->msg = cfg->msg_kib * 1024;
	e->nslots = EVICT_REGION / e->msg;
	test_step(t, "RDMA setup");
	rc = rdma_setup(t, &e->r, &req);
	if (rc != TEST_PASS)
		return rc;
	e->have_rdma = true;
	rc = mem_map(t, e->msg, (void **)&e->src, "source");
	if (rc != TEST_PASS)
		return rc;
	pattern_fill(e->src, e->msg, SEED_DATA, 0, e->psz);
	rc = rdma_reg_mr(t, &e->r, e->src, e->msg, IBV_ACCESS_LOCAL_WRITE,
			 "source", &e->src_mr);
	if (rc != TEST_PASS)
		return rc;
	test_step(t, "target memory (%s)", minor ? "shmem, alias" : "anonymous");
	rc = tmem_create(t, &e->m, minor ? TMEM_SHMEM : TMEM_ANON,
			 EVICT_REGION, minor);
	if (rc != TEST_PASS)
		return rc;
	if (madvise(e->m.addr, EVICT_REGION, MADV_NOHUGEPAGE))
		return test_fail(t, "madvise(target, MADV_NOHUGEPAGE): %s",
				 strerror(errno));
	/* Content in place (the page cache, through the alias, for shmem). */
	pattern_fill(minor ? e->m.alias : e->m.addr, EVICT_REGION, SEED_FILL,
		     0, e->psz);
	if (minor) {
		test_step(t, "uffd-register the target MINOR");
		rc = uffd_setup(t, &e->h, &ucfg, e->m.addr, EVICT_REGION, e->psz);
		if (rc != TEST_PASS)
			return rc;
	}
	return rdma_reg_mr(t, &e->r, e->m.addr, EVICT_REGION, ODP_ACCESS,
			   "target (ODP)", &e->mr);
}

static int ev_evictor_stop(struct test_ctx *t, struct ev_run *e)
{
	int err;

	if (!e->ev.started)
		return TEST_PASS;
	atomic_store(&e->ev.stop, true);
	e->ev.started = false;
	err = pthread_join(e->ev.thread, NULL);
	if (err)
		return test_fail(t, "pthread_join(evictor): %s", strerror(err));
	return TEST_PASS;
}

static int ev_teardown(struct test_ctx *t, struct ev_run *e)
{
	int rc = ev_evictor_stop(t, e);

	rc = test_worse(rc, uffd_teardown(t, &e->h));
	rc = test_worse(rc, rdma_dereg_mr(t, &e->mr, "target (ODP)"));
	rc = test_worse(rc, rdma_dereg_mr(t, &e->src_mr, "source"));
	rc = test_worse(rc, tmem_destroy(t, &e->m));
	rc = test_worse(rc, mem_unmap(t, (void **)&e->src, e->msg, "source"));
	if (e->have_rdma)
		rc = test_worse(rc, rdma_teardown(t, &e->r));
	return rc;
}

/* Post until depth, poll; until the deadline (or, drain: until empty). */
static int ev_traffic(struct test_ctx *t, const struct km_cfg *cfg,
		      struct ev_run *e, struct km_result *res, uint64_t t_meas,
		      uint64_t t_end, unsigned long *meas_msgs)
{
	uint64_t now;
	int rc, n;

	e->last_wc_ns = bench_now_ns();
	while ((now = bench_now_ns()) < t_end) {
		while (e->inflight < cfg->depth) {
			rc = ev_post(t, e);
			if (rc != TEST_PASS)
				return rc;
		}
		rc = ev_poll(t, e, res, &n);
		if (rc == TEST_PASS)
			rc = ev_check(t, e);
		if (rc != TEST_PASS)
			return rc;
		if (now >= t_meas)
			*meas_msgs += (unsigned long)n;
		if (!n)
			sched_yield();
	}
	return TEST_PASS;
}

static int ev_drain(struct test_ctx *t, struct ev_run *e, struct km_result *res)
{
	uint64_t end = bench_now_ns() + (uint64_t)DRAIN_MS * 1000000u;
	int rc, n;

	while (e->inflight) {
		if (bench_now_ns() > end) {
			res_failed(res, "%lu WRITEs still outstanding %d ms after the window",
				   e->inflight, DRAIN_MS);
			return TEST_FAIL;
		}
		rc = ev_poll(t, e, res, &n);
		if (rc != TEST_PASS)
			return rc;
		if (!n)
			sched_yield();
	}
	return TEST_PASS;
}

/* Eviction stopped: write every slot once more, check the whole target. */
static int ev_verify(struct test_ctx *t, const struct km_cfg *cfg,
		     struct ev_run *e, struct km_result *res, bool minor)
{
	const uint8_t *view = minor ? e->m.alias : e->m.addr;
	unsigned long left = e->nslots;
	size_t i;
	int rc, n;

	test_step(t, "write every slot once more");
	e->next_slot = 0;
	e->last_wc_ns = bench_now_ns();
	while (left || e->inflight) {
		while (left && e->inflight < cfg->depth) {
			rc = ev_post(t, e);
			if (rc != TEST_PASS)
				return rc;
			left--;
		}
		rc = ev_poll(t, e, res, &n);
		if (rc != TEST_PASS)
			return rc;
		if (!n)
			sched_yield();
	}
	test_step(t, "verify the target");
	for (i = 0; i < e->nslots; i++) {
		rc = pattern_verify(t, view + i * e->msg, e->msg, SEED_DATA, 0,
				    e->psz, "target slot");
		if (rc != TEST_PASS) {
			res_failed(res, "slot %zu of the target holds wrong data after the WRITEs",
				   i);
			return rc;
		}
	}
	return TEST_PASS;
}

static int evict_run(struct test_ctx *t, const struct km_cfg *cfg, bool minor,
		     unsigned long rate, struct km_result *res)
{
	struct ev_run e = { .have_rdma = false };
	unsigned long meas = 0, faults0 = 0, ev0 = 0;
	uint64_t t0, t_meas, t_end;
	double win;
	int rc, err;

	tmem_init(&e.m);
	uffd_handler_init(&e.h);
	atomic_init(&e.ev.stop, false);
	atomic_init(&e.ev.pages, 0);
	atomic_init(&e.ev.err, 0);
	rc = ev_setup(t, cfg, &e, minor);
	if (rc == TEST_PASS) {
		/* Map the whole target first: the window sees eviction only. */
		struct ibv_sge sge = {
			.addr = (uintptr_t)e.m.addr, .length = (uint32_t)EVICT_REGION,
			.lkey = e.mr->lkey,
		};

		test_step(t, "prefetch the target");
		err = ibv_advise_mr(e.r.pd, IBV_ADVISE_MR_ADVICE_PREFETCH_WRITE,
				    IBV_ADVISE_MR_FLAG_FLUSH, &sge, 1);
		if (err) {
			res_failed(res, "ibv_advise_mr(PREFETCH_WRITE; FLUSH; the %lu-byte target): %s",
				   EVICT_REGION, strerror(err));
			rc = TEST_FAIL;
		}
	}
	if (rc == TEST_PASS && rate) {
		e.ev.base = e.m.addr;
		e.ev.psz = e.psz;
		e.ev.npages = EVICT_REGION / e.psz;
		e.ev.rate = (double)rate;
		e.ev.rng = (bench_now_ns() ^ ((uint64_t)rate << 20)) | 1;
		err = pthread_create(&e.ev.thread, NULL, evictor_thread, &e.ev);
		if (err)
			rc = test_fail(t, "pthread_create(evictor): %s", strerror(err));
		else
			e.ev.started = true;
	}
	t0 = bench_now_ns();
	t_meas = t0 + (uint64_t)WARMUP_US * 1000u;
	t_end = t_meas + (uint64_t)cfg->secs * 1000000000u;
	if (rc == TEST_PASS) {
		test_step(t, "warm-up");
		rc = ev_traffic(t, cfg, &e, res, t_meas, t_meas, &meas);
	}
	if (rc == TEST_PASS) {
		faults0 = uffd_count(&e.h.faults);
		ev0 = atomic_load(&e.ev.pages);
		test_step(t, "measured window of %lu s", cfg->secs);
		rc = ev_traffic(t, cfg, &e, res, t_meas, t_end, &meas);
	}
	win = (double)(bench_now_ns() - t_meas) / 1e9;
	if (rc == TEST_PASS) {
		res_row(res, "bw", (double)meas * (double)e.msg / win / 1e6, "MB/s");
		res_row(res, "evict_rate",
			(double)(atomic_load(&e.ev.pages) - ev0) / win, "pages/s");
		if (minor)
			res_row(res, "uffd_faults",
				(double)(uffd_count(&e.h.faults) - faults0) / win,
				"per_s");
	}
	rc = test_worse(rc, ev_evictor_stop(t, &e));
	if (rc == TEST_PASS) {
		test_step(t, "drain");
		rc = ev_drain(t, &e, res);
	}
	if (rc == TEST_PASS)
		rc = ev_check(t, &e);
	if (rc == TEST_PASS)
		rc = ev_verify(t, cfg, &e, res, minor);
	return test_worse(rc, ev_teardown(t, &e));
}

/* ------------------------------------------------------- forked runs */

static void child(const struct km_cfg *cfg, enum km_kind kind,
		  unsigned long n, struct km_result *res)
{
	struct bench_ctx b;
	int rc;

	alarm((unsigned int)cfg->cap_s);	/* SIGALRM kills the child */
	bench_ctx_init(&b, cfg->dev, cfg->gid_index, cfg->verbose,
		       kind_names[kind]);
	switch (kind) {
	case KM_MR_UFFD:
	case KM_MR_ORDINARY:
		rc = kmem_mrs(&b.t, cfg, kind == KM_MR_UFFD, res);
		break;
	case KM_FAULT_WAIT:
		rc = kmem_faults(&b.t, cfg, res);
		break;
	default:
		rc = evict_run(&b.t, cfg, kind == KM_EVICT_MINOR, n, res);
		break;
	}
	if (res->status != KM_FAILED) {
		if (rc == TEST_PASS) {
			res->status = KM_OK;
		} else if (rc == TEST_SKIP) {
			res->status = KM_FAILED;
			snprintf(res->msg, sizeof(res->msg), "skipped: %s",
				 b.shared.skip_reason);
		} else {
			res->status = KM_ERROR;
			snprintf(res->msg, sizeof(res->msg), "error in step '%s'",
				 b.shared.step);
		}
	}
	fflush(stdout);
	_exit(0);
}

/* One run in a forked child, its rows to the CSV; -1 on an error of ours. */
static int run_one(const struct km_cfg *cfg, struct bench_csv *csv,
		   enum km_kind kind, unsigned long n, unsigned int rep)
{
	const char *name = kind_names[kind];
	struct km_result *res;
	unsigned int i;
	int status, ret = 0;
	pid_t pid;

	res = mmap(NULL, sizeof(*res), PROT_READ | PROT_WRITE,
		   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (res == MAP_FAILED) {
		fprintf(stderr, "kmem_evict: mmap(result area): %s\n", strerror(errno));
		return -1;
	}
	memset(res, 0, sizeof(*res));
	fflush(stdout);
	pid = fork();
	if (pid < 0) {
		fprintf(stderr, "kmem_evict: fork: %s\n", strerror(errno));
		munmap(res, sizeof(*res));
		return -1;
	}
	if (pid == 0)
		child(cfg, kind, n, res);
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR) {
			fprintf(stderr, "kmem_evict: waitpid(%d): %s\n", (int)pid,
				strerror(errno));
			munmap(res, sizeof(*res));
			return -1;
		}
	}
	if (WIFSIGNALED(status)) {
		res->status = KM_NO_RESULT;
		if (WTERMSIG(status) == SIGALRM)
			snprintf(res->msg, sizeof(res->msg),
				 "killed after the %lu s cap", cfg->cap_s);
		else
			snprintf(res->msg, sizeof(res->msg), "killed by signal %d",
				 WTERMSIG(status));
	} else if (res->status == KM_NO_RESULT) {
		snprintf(res->msg, sizeof(res->msg),
			 "child exited %d without a result", WEXITSTATUS(status));
	}
	if (res->status == KM_OK) {
		printf("%-17s n=%-5lu rep %u:", name, n, rep);
		for (i = 0; i < res->nrows; i++) {
			bench_csv_row(csv, name, n, rep, res->rows[i].metric,
				      res->rows[i].value, res->rows[i].unit);
			printf(" %s=%.4g", res->rows[i].metric, res->rows[i].value);
		}
		printf("\n");
	} else {
		bench_csv_failed(csv, name, n, "rep %u: %s", rep, res->msg);
		printf("%-17s n=%-5lu rep %u: failed: %s\n", name, n, rep, res->msg);
		/* A kernel that cannot is a result; our own error is not. */
		ret = res->status == KM_ERROR ? -1 : 0;
	}
	if (munmap(res, sizeof(*res)))
		fprintf(stderr, "kmem_evict: munmap(result area): %s\n",
			strerror(errno));
	return ret;
}

static int run_kmem(const struct km_cfg *cfg, struct bench_csv *csv)
{
	unsigned long rep;
	int err = 0;

	for (rep = 0; rep < cfg->kmem_reps; rep++) {
		if (run_one(cfg, csv, KM_MR_UFFD, cfg->mrs, (unsigned int)rep) ||
		    run_one(cfg, csv, KM_MR_ORDINARY, cfg->mrs, (unsigned int)rep) ||
		    run_one(cfg, csv, KM_FAULT_WAIT, cfg->faults, (unsigned int)rep))
			err = 1;
	}
	return err;
}

static int run_evict(const struct km_cfg *cfg, struct bench_csv *csv)
{
	size_t nruns = 2 * cfg->nrates, i, j, *order;
	uint64_t rng = cfg->seed ? cfg->seed : 1;
	unsigned long rep;
	int err = 0;

	order = calloc(nruns, sizeof(*order));
	if (!order) {
		fprintf(stderr, "kmem_evict: calloc(run order): %s\n", strerror(errno));
		return 1;
	}
	for (rep = 0; rep < cfg->evict_reps; rep++) {
		for (i = 0; i < nruns; i++)
			order[i] = i;
		for (i = nruns; i > 1; i--) {	/* Fisher-Yates */
			size_t tmp;

			j = (size_t)test_rng_below(&rng, i);
			tmp = order[i - 1];
			order[i - 1] = order[j];
			order[j] = tmp;
		}
		for (i = 0; i < nruns; i++) {
			enum km_kind kind = order[i] % 2 ? KM_EVICT_MINOR :
							   KM_EVICT_ANON;

			if (run_one(cfg, csv, kind, cfg->rates[order[i] / 2],
				    (unsigned int)rep))
				err = 1;
		}
	}
	free(order);
	return err;
}

/* ---------------------------------------------------------- options */

static bool parse_rates(const char *prog, const char *s, struct km_cfg *cfg)
{
	char buf[256], *tok, *save = NULL;

	snprintf(buf, sizeof(buf), "%s", s);
	cfg->nrates = 0;
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (cfg->nrates == MAX_RATES) {
			fprintf(stderr, "%s: at most %d eviction rates\n", prog,
				MAX_RATES);
			return false;
		}
		if (!bench_parse_ulong(prog, "eviction rate (pages/s)", tok, 0,
				       1000000, &cfg->rates[cfg->nrates]))
			return false;
		cfg->nrates++;
	}
	if (!cfg->nrates) {
		fprintf(stderr, "%s: -R wants rates, e.g. 0,1000,5000\n", prog);
		return false;
	}
	return true;
}

static void usage(FILE *f, const char *prog)
{
	fprintf(f,
		"usage: %s [-d dev] [-g gid_index] [-o csv] [-p kmem|evict]... [-v]\n"
		"          [-m mrs] [-s mr_kib] [-f faults] [-r reps] [-W settle_ms]\n"
		"          [-R rate,...] [-l msg_kib] [-q depth] [-D secs] [-e reps] [-S seed] [-C cap_s]\n"
		"  -p part     run only this part (repeatable; default both)\n"
		"  kmem:  -m ODP MRs (256) of -s KiB (1024); -f waiting faults (256);\n"
		"         -r repetitions (3); -W ms the faults wait before the snapshot (2000)\n"
		"  evict: -R eviction rates in pages/s (0,1000,5000); -l message KiB (64);\n"
		"         -q WRITEs outstanding (8); -D measured seconds per run (2);\n"
		"         -e repetitions (2); -S seed of the run order (default: clock)\n"
		"  -C seconds  kill a run after this long (90)\n"
		"  -o file     long-form CSV\n", prog);
}

static int parse_args(int argc, char **argv, struct km_cfg *cfg)
{
	bool any = false;
	unsigned long v;
	int opt;

	while ((opt = getopt(argc, argv, "d:g:o:p:m:s:f:r:W:R:l:q:D:e:S:C:vh")) != -1) {
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
		case 'p':
			if (!strcmp(optarg, "kmem")) {
				cfg->kmem = true;
			} else if (!strcmp(optarg, "evict")) {
				cfg->evict = true;
			} else {
				fprintf(stderr, "%s: unknown part '%s' (kmem, evict)\n",
					argv[0], optarg);
				return 2;
			}
			any = true;
			break;
		case 'm':
			if (!bench_parse_ulong(argv[0], "MR count", optarg, 1, 65536,
					       &cfg->mrs))
				return 2;
			break;
		case 's':
			if (!bench_parse_ulong(argv[0], "MR size (KiB)", optarg, 4,
					       1024 * 1024, &cfg->mr_kib))
				return 2;
			break;
		case 'f':
			if (!bench_parse_ulong(argv[0], "fault count", optarg, 1, 4096,
					       &cfg->faults))
				return 2;
			break;
		case 'r':
		case 'e':
			if (!bench_parse_ulong(argv[0], "repetitions", optarg, 1, 100, &v))
				return 2;
			*(opt == 'r' ? &cfg->kmem_reps : &cfg->evict_reps) = v;
			break;
		case 'W':
			if (!bench_parse_ulong(argv[0], "settle time (ms)", optarg, 10,
					       60000, &cfg->settle_ms))
				return 2;
			break;
		case 'R':
			if (!parse_rates(argv[0], optarg, cfg))
				return 2;
			break;
		case 'l':
			if (!bench_parse_ulong(argv[0], "message size (KiB)", optarg, 4,
					       1024, &cfg->msg_kib))
				return 2;
			if (cfg->msg_kib & (cfg->msg_kib - 1)) {
				fprintf(stderr, "%s: the message size must be a power of two KiB\n",
					argv[0]);
				return 2;
			}
			break;
		case 'q':
			if (!bench_parse_ulong(argv[0], "depth", optarg, 1, 16,
					       &cfg->depth))
				return 2;
			break;
		case 'D':
			if (!bench_parse_ulong(argv[0], "seconds", optarg, 1, 600,
					       &cfg->secs))
				return 2;
			break;
		case 'S':
			if (!bench_parse_ulong(argv[0], "seed", optarg, 1,
					       0xffffffffUL, &v))
				return 2;
			cfg->seed = v;
			break;
		case 'C':
			if (!bench_parse_ulong(argv[0], "seconds", optarg, 1, 3600,
					       &cfg->cap_s))
				return 2;
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
	if (!any)
		cfg->kmem = cfg->evict = true;
	return 0;
}

int main(int argc, char **argv)
{
	struct km_cfg cfg = {
		.dev = TEST_DEFAULT_DEV,
		.gid_index = TEST_DEFAULT_GID_INDEX,
		.mrs = 256, .mr_kib = 1024, .faults = 256, .kmem_reps = 3,
		.settle_ms = 2000,
		.msg_kib = 64, .depth = 8, .secs = 2, .evict_reps = 2,
		.rates = { 0, 1000, 5000 }, .nrates = 3,
		.cap_s = 90,
	};
	struct bench_csv csv = { 0 };
	char seed_str[24];
	int rc, err = 0;

	setvbuf(stdout, NULL, _IOLBF, 0);
	rc = parse_args(argc, argv, &cfg);
	if (rc)
		return rc == 1 ? 0 : rc;
	if (!cfg.seed)
		cfg.seed = ((bench_now_ns() ^ (uint64_t)getpid()) & 0xffffffffu) | 1;
	if (bench_csv_open(&csv, cfg.csv_path ? cfg.csv_path : "/dev/null",
			   "kmem_evict"))
		return 1;
	printf("# kmem_evict on %s: kmem %s (%lu MRs of %lu KiB, %lu faults, %lu reps, %lu ms wait); evict %s (%lu KiB x %lu outstanding, %lu s per run, %lu reps, seed %" PRIu64 ")\n",
	       cfg.dev, cfg.kmem ? "on" : "off", cfg.mrs, cfg.mr_kib, cfg.faults,
	       cfg.kmem_reps, cfg.settle_ms, cfg.evict ? "on" : "off",
	       cfg.msg_kib, cfg.depth, cfg.secs, cfg.evict_reps, cfg.seed);
	snprintf(seed_str, sizeof(seed_str), "%" PRIu64, cfg.seed);
	bench_csv_row(&csv, "meta", 0, 0, "seed", (double)cfg.seed, seed_str);
	bench_csv_row(&csv, "meta", 0, 0, "msg", (double)cfg.msg_kib * 1024, "bytes");
	bench_csv_row(&csv, "meta", 0, 0, "depth", (double)cfg.depth, "count");
	bench_csv_row(&csv, "meta", 0, 0, "window", (double)cfg.secs, "s");
	bench_csv_row(&csv, "meta", 0, 0, "mr_size", (double)cfg.mr_kib * 1024, "bytes");
	if (cfg.kmem && run_kmem(&cfg, &csv))
		err = 1;
	if (cfg.evict && run_evict(&cfg, &csv))
		err = 1;
	if (bench_csv_close(&csv))
		err = 1;
	return err;
}
