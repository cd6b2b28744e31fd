// SPDX-License-Identifier: GPL-2.0
/*
 * Reliability: an invalidation storm during sustained RDMA traffic into
 * userfaultfd memory (issue scenario 5b), and a soak of mixed traffic,
 * evictions and slow fault handling (scenario 10).
 *
 * The memory under test is a 4 MiB shmem memfd mapped twice.  The registered
 * mapping is uffd MINOR-registered (the handler answers UFFDIO_CONTINUE) and
 * covered by an ODP MR; the alias mapping is how the CPU sets and checks the
 * content without taking a userfault.  MINOR mode keeps the data in the page
 * cache, so evictor threads can MADV_DONTNEED random page ranges of the
 * registered mapping in a loop without losing a byte: every drop invalidates
 * the ODP mapping, and the device's next access to the range is a new
 * userfault the handler must answer.
 *
 * Meanwhile the main thread runs operations from pinned buffers on qp[0]
 * against the uffd MR (responder qp[1]), each at a random offset and length
 * (1 byte to 64.5 KiB, mostly crossing pages) with a fresh seed:
 *
 *   WRITE      RDMA WRITE of pattern(seed, region position), READ back, verify
 *   SEND       RECV posted into the uffd MR, SEND of the pattern, READ back
 *   READ       RDMA READ, verify against the shadow
 *   FETCH_ADD  on an 8-byte counter in the region's last page, which no
 *              other operation touches; the returned old value must be the
 *              tracked one
 *
 * A shadow copy holds what the region must contain.  The pattern byte is
 * seed * 131 + f(position) (mod 256), so each seed is chosen to differ from
 * the old content in every byte of its range: a lost or partial write is
 * always seen.  At the end the evictors stop, the whole registered mapping is
 * dropped once more, and the region is checked against the shadow through
 * the alias mapping and through one RDMA READ of all of it.
 *
 *   storm_minor_shmem  WRITE only, 2 evictors pausing 0..200 us, handler
 *                      answers at once; STORM_SECONDS (default 5)
 *   soak_mixed         all four operations, 2 evictors pausing 0..200 us,
 *                      handler sleeping 0..2 ms per fault; SOAK_SECONDS
 *                      (default 600)
 *
 * STORM_RNG_SEED=<n> repeats the traffic's random choices (the timing of the
 * evictions never repeats).  The duration must fit the test's time bound
 * (-T raises it).  Named rel_* so that the ibv suite (every odp_*
 * program) does not run it: scripts/guest-tests runs storm_minor_shmem in
 * its rel suite (make check) and soak_mixed in its soak suite (make soak).
 */
#include "common_uffd.h"

#include <errno.h>
#include <inttypes.h>
#include <linux/userfaultfd.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define REGION_LEN	(4UL << 20)
#define MAX_OP_LEN	(64 * 1024 + 512)
#define SEED_INIT	0x5au		/* the region's content at the start */
#define COUNTER_PAGE_OFF 808		/* in the last page; 8-byte aligned */
#define COUNTER_INIT	0x0123456789abcdefULL
#define NR_EVICTORS	2
#define EVICT_MAX_PAGES	16
#define PROGRESS_S	30
#define FINAL_WC_TIMEOUT_MS 120000
/* Setup, the final DONTNEED + READ of the region and the checks. */
#define TIME_MARGIN_S	90

#define STORM_DEFAULT_S	5
#define STORM_TIMEOUT_S	(30 + TIME_MARGIN_S)
#define SOAK_DEFAULT_S	600
#define SOAK_TIMEOUT_S	(SOAK_DEFAULT_S + TIME_MARGIN_S + 30)

#define ODP_ACCESS	(IBV_ACCESS_ON_DEMAND | IBV_ACCESS_LOCAL_WRITE | \
			 IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_READ)

struct storm_case {
	const char *env;		/* duration variable */
	unsigned int default_s;
	unsigned int timeout_s;		/* the table's .timeout_s */
	bool mixed;			/* SEND, READ and FETCH_ADD as well */
	unsigned int handler_delay_us;	/* handler sleeps 0..n per fault */
	unsigned int evict_pause_us;	/* evictors sleep 0..n; 0: yield */
};

enum storm_op { OP_WRITE, OP_SEND, OP_READ, OP_FETCH_ADD, OP_NR };

static const char *const op_names[OP_NR] = {
	[OP_WRITE] = "RDMA WRITE", [OP_SEND] = "SEND",
	[OP_READ] = "RDMA READ", [OP_FETCH_ADD] = "ATOMIC FETCH_ADD",
};

/* ------------------------------------------------------------------ */
/* Evictor threads                                                      */

struct evictor {
	uint8_t *base;			/* the registered mapping */
	size_t npages, psz;
	unsigned int pause_us;
	const atomic_bool *stop;
	uint64_t rng;			/* thread private */
	atomic_ulong calls;		/* successful madvise() calls */
	atomic_ulong pages;		/* pages they dropped */
	atomic_int err;			/* errno of a failed madvise(), or 0 */
	pthread_t thread;
	bool started;
};

static void *evictor_thread(void *arg)
{
	struct evictor *ev = arg;

	while (!atomic_load(ev->stop)) {
		size_t pg = (size_t)test_rng_below(&ev->rng, ev->npages);
		size_t n = 1 + (size_t)test_rng_below(&ev->rng, EVICT_MAX_PAGES);

		if (n > ev->npages - pg)
			n = ev->npages - pg;
		if (madvise(ev->base + pg * ev->psz, n * ev->psz,
			    MADV_DONTNEED)) {
			atomic_store(&ev->err, errno ? errno : EIO);
			break;
		}
		atomic_fetch_add(&ev->calls, 1);
		atomic_fetch_add(&ev->pages, n);
		if (ev->pause_us)
			test_sleep_us((unsigned int)test_rng_below(&ev->rng,
							 ev->pause_us + 1));
		else
			sched_yield();
	}
	return NULL;
}

/* ------------------------------------------------------------------ */
/* The test                                                             */

struct storm {
	const struct storm_case *c;
	struct rdma_res r;
	struct tmem m;
	struct uffdm h;
	void *src, *sink;		/* pinned: one op / the region + result */
	size_t src_len, sink_len;
	struct ibv_mr *src_mr, *sink_mr, *mr;
	uint8_t *shadow;		/* what the region must hold */
	uint8_t *touched;		/* per page: the device accessed it */
	size_t psz, npages;
	size_t span;			/* data ops stay in [0, span) */
	size_t counter_pos;
	uint64_t counter;		/* the counter's expected value */
	uint64_t rng;
	atomic_bool stop;		/* tells the evictors to stop */
	bool evictors_stopped;		/* joined and checked */
	struct evictor ev[NR_EVICTORS];
	unsigned long ops[OP_NR], nops;
	unsigned long seed_collisions;	/* no fully distinct seed existed */
	unsigned long long bytes_moved, bytes_verified;
};

/* Seconds from the environment variable, or the default. */
static int duration_from_env(struct test_ctx *t, const struct storm_case *c,
			     unsigned int *secs)
{
	const char *s = getenv(c->env);
	unsigned int bound = c->timeout_s > t->opts->timeout_s ?
			     c->timeout_s : t->opts->timeout_s;
	char *end;
	unsigned long v;

	*secs = c->default_s;
	if (s) {
		errno = 0;
		v = strtoul(s, &end, 10);
		if (errno || end == s || *end || v == 0 || v > 7 * 24 * 3600)
			return test_fail(t, "%s='%s': expected seconds (1..604800)",
					 c->env, s);
		*secs = (unsigned int)v;
	}
	if (*secs + TIME_MARGIN_S > bound)
		return test_fail(t, "%s=%u does not fit the %u s time bound (%u s margin): run with -T %u",
				 c->env, *secs, bound, TIME_MARGIN_S,
				 *secs + TIME_MARGIN_S);
	return TEST_PASS;
}

/* STORM_RNG_SEED, or one from the clock and the pid. */
static int rng_seed_from_env(struct test_ctx *t, uint64_t *seed)
{
	const char *s = getenv("STORM_RNG_SEED");
	char *end;

	if (!s || !*s) {
		*seed = (uint64_t)(test_now_s() * 1e6) * 1000003u ^ (uint64_t)getpid();
		return TEST_PASS;
	}
	errno = 0;
	*seed = strtoull(s, &end, 0);
	if (errno || *end)
		return test_fail(t, "STORM_RNG_SEED='%s': expected a number", s);
	return TEST_PASS;
}

/*
 * Check buf (holding region bytes [pos, pos + len)) against the shadow;
 * report the first and last mismatch.
 */
static int shadow_verify(struct test_ctx *t, const struct storm *s,
			 const uint8_t *buf, size_t pos, size_t len,
			 const char *what)
{
	const uint8_t *want = s->shadow + pos;
	size_t i, first = 0, last = 0, bad = 0;

	if (!memcmp(buf, want, len))
		return TEST_PASS;
	for (i = 0; i < len; i++) {
		if (buf[i] == want[i])
			continue;
		if (!bad++)
			first = i;
		last = i;
	}
	return test_fail(t,
			 "%s: %zu of %zu bytes differ; first at region offset %zu (page %zu +%zu): expected 0x%02x got 0x%02x; last at region offset %zu: expected 0x%02x got 0x%02x",
			 what, bad, len, pos + first, (pos + first) / s->psz,
			 (pos + first) % s->psz, want[first], buf[first],
			 pos + last, want[last], buf[last]);
}

/*
 * A seed whose pattern differs from the shadow in every byte of
 * [off, off + len).  pattern_byte(seed, p) - pattern_byte(0, p) is
 * seed * 131 (mod 256) for every p, and 131 is odd: collect the residues
 * the old bytes have and step the seed to a free one.
 */
static uint32_t pick_seed(struct storm *s, size_t off, size_t len)
{
	uint64_t used[4] = { 0 };
	uint32_t seed = (uint32_t)test_rng_next(&s->rng);
	size_t i;
	int k;

	for (i = off; i < off + len; i++) {
		uint8_t res = (uint8_t)(s->shadow[i] - pattern_byte(0, i, s->psz));

		used[res / 64] |= (uint64_t)1 << (res % 64);
	}
	for (k = 0; k < 256; k++, seed++) {
		uint8_t res = (uint8_t)(seed * 131u);

		if (!(used[res / 64] & ((uint64_t)1 << (res % 64))))
			return seed;
	}
	s->seed_collisions++;
	return seed;
}

static void mark_touched(struct storm *s, size_t off, size_t len)
{
	size_t pg;

	for (pg = off / s->psz; pg <= (off + len - 1) / s->psz; pg++)
		s->touched[pg] = 1;
}

static uint64_t region_addr(const struct storm *s, size_t off)
{
	return (uintptr_t)s->m.addr + off;
}

/* RDMA READ of [off, off + len) into the sink at off (poisoned first). */
static int read_range(struct test_ctx *t, struct storm *s, size_t off,
		      size_t len)
{
	uint8_t *dst = (uint8_t *)s->sink + off;
	size_t i;

	for (i = 0; i < len; i++)	/* differs from the expected bytes */
		dst[i] = (uint8_t)~s->shadow[off + i];
	s->bytes_moved += len;
	return rdma_rw(t, &s->r, 0, IBV_WR_RDMA_READ, dst, (uint32_t)len,
		       s->sink_mr->lkey, region_addr(s, off), s->mr->rkey,
		       NULL);
}

/* READ back what op n put at [off, off + len): pattern(seed). */
static int read_back(struct test_ctx *t, struct storm *s, unsigned long n,
		     enum storm_op op, size_t off, size_t len, uint32_t seed)
{
	char what[160];
	int rc;

	test_step(t, "op %lu: RDMA READ back %zu bytes at offset %zu (after %s, seed 0x%08" PRIx32 ")",
		  n, len, off, op_names[op], seed);
	rc = read_range(t, s, off, len);
	if (rc != TEST_PASS)
		return rc;
	snprintf(what, sizeof(what), "op %lu (%s of %zu bytes at offset %zu) read back",
		 n, op_names[op], len, off);
	rc = pattern_verify(t, (uint8_t *)s->sink + off, len, seed, off,
			    s->psz, what);
	s->bytes_verified += len;
	return rc;
}

static int op_write(struct test_ctx *t, struct storm *s, unsigned long n,
		    size_t off, size_t len)
{
	uint32_t seed = pick_seed(s, off, len);
	int rc;

	test_step(t, "op %lu: RDMA WRITE %zu bytes at offset %zu, seed 0x%08" PRIx32,
		  n, len, off, seed);
	pattern_fill(s->src, len, seed, off, s->psz);
	s->bytes_moved += len;
	rc = rdma_rw(t, &s->r, 0, IBV_WR_RDMA_WRITE, s->src, (uint32_t)len,
		     s->src_mr->lkey, region_addr(s, off), s->mr->rkey, NULL);
	if (rc != TEST_PASS)
		return rc;
	pattern_fill(s->shadow + off, len, seed, off, s->psz);
	return read_back(t, s, n, OP_WRITE, off, len, seed);
}

static int op_send(struct test_ctx *t, struct storm *s, unsigned long n,
		   size_t off, size_t len)
{
	const uint64_t wr_id = 0x5e4d0000000ULL + n;
	uint32_t seed = pick_seed(s, off, len);
	struct ibv_wc wc;
	int rc;

	test_step(t, "op %lu: post RECV of %zu bytes at offset %zu", n, len,
		  off);
	rc = rdma_post_recv(t, s->r.qp[1], s->m.addr + off, (uint32_t)len,
			    s->mr->lkey, wr_id);
	if (rc != TEST_PASS)
		return rc;
	test_step(t, "op %lu: SEND %zu bytes into offset %zu, seed 0x%08" PRIx32,
		  n, len, off, seed);
	pattern_fill(s->src, len, seed, off, s->psz);
	s->bytes_moved += len;
	rc = rdma_rw(t, &s->r, 0, IBV_WR_SEND, s->src, (uint32_t)len,
		     s->src_mr->lkey, 0, 0, NULL);
	if (rc != TEST_PASS)
		return rc;
	test_step(t, "op %lu: wait for the RECV completion (%zu bytes at offset %zu)",
		  n, len, off);
	rc = rdma_wait_wc(t, s->r.cq[1], "RECV", wr_id, TEST_WC_TIMEOUT_MS,
			  NULL, &wc);
	if (rc != TEST_PASS)
		return rc;
	if (wc.opcode != IBV_WC_RECV || wc.byte_len != len)
		return test_fail(t, "RECV completion: opcode %d, %u bytes; expected IBV_WC_RECV, %zu bytes",
				 (int)wc.opcode, wc.byte_len, len);
	pattern_fill(s->shadow + off, len, seed, off, s->psz);
	return read_back(t, s, n, OP_SEND, off, len, seed);
}

static int op_read(struct test_ctx *t, struct storm *s, unsigned long n,
		   size_t off, size_t len)
{
	char what[128];
	int rc;

	test_step(t, "op %lu: RDMA READ %zu bytes at offset %zu", n, len, off);
	rc = read_range(t, s, off, len);
	if (rc != TEST_PASS)
		return rc;
	snprintf(what, sizeof(what), "op %lu (RDMA READ of %zu bytes at offset %zu)",
		 n, len, off);
	s->bytes_verified += len;
	return shadow_verify(t, s, (uint8_t *)s->sink + off, off, len, what);
}

static int op_fetch_add(struct test_ctx *t, struct storm *s, unsigned long n)
{
	uint8_t *result = (uint8_t *)s->sink + REGION_LEN;
	uint64_t add = test_rng_next(&s->rng), old, now, poison = ~s->counter;
	int rc;

	test_step(t, "op %lu: ATOMIC FETCH_ADD 0x%016" PRIx64 " at offset %zu (expect old 0x%016" PRIx64 ")",
		  n, add, s->counter_pos, s->counter);
	memcpy(result, &poison, sizeof(poison));
	rc = rdma_atomic(t, &s->r, 0, IBV_WR_ATOMIC_FETCH_AND_ADD,
			 region_addr(s, s->counter_pos), s->mr->rkey, 0, add,
			 result, s->sink_mr->lkey, NULL);
	if (rc != TEST_PASS)
		return rc;
	memcpy(&old, result, sizeof(old));
	if (old != s->counter)
		return test_fail(t, "op %lu: FETCH_ADD at region offset %zu returned 0x%016" PRIx64 ", expected 0x%016" PRIx64,
				 n, s->counter_pos, old, s->counter);
	s->counter += add;
	memcpy(s->shadow + s->counter_pos, &s->counter, sizeof(s->counter));
	/* The page cache holds the sum (the alias never faults). */
	memcpy(&now, s->m.alias + s->counter_pos, sizeof(now));
	s->bytes_verified += 2 * sizeof(old);
	if (now != s->counter)
		return test_fail(t, "op %lu: counter at region offset %zu holds 0x%016" PRIx64 " after FETCH_ADD, expected 0x%016" PRIx64,
				 n, s->counter_pos, now, s->counter);
	return TEST_PASS;
}

static enum storm_op pick_op(struct storm *s)
{
	unsigned int r;

	if (!s->c->mixed)
		return OP_WRITE;
	r = (unsigned int)test_rng_below(&s->rng, 100);
	if (r < 50)
		return OP_WRITE;
	if (r < 70)
		return OP_SEND;
	if (r < 85)
		return OP_READ;
	return OP_FETCH_ADD;
}

static int one_op(struct test_ctx *t, struct storm *s)
{
	const enum storm_op op = pick_op(s);
	const unsigned long n = ++s->nops;
	size_t len, off;

	s->ops[op]++;
	if (op == OP_FETCH_ADD) {
		mark_touched(s, s->counter_pos, sizeof(s->counter));
		return op_fetch_add(t, s, n);
	}
	len = 1 + (size_t)test_rng_below(&s->rng, MAX_OP_LEN);
	off = (size_t)test_rng_below(&s->rng, s->span - len + 1);
	mark_touched(s, off, len);
	switch (op) {
	case OP_WRITE:
		return op_write(t, s, n, off, len);
	case OP_SEND:
		return op_send(t, s, n, off, len);
	default:
		return op_read(t, s, n, off, len);
	}
}

static unsigned long evictions(const struct storm *s, unsigned long *pages)
{
	unsigned long calls = 0;
	int i;

	*pages = 0;
	for (i = 0; i < NR_EVICTORS; i++) {
		calls += atomic_load(&s->ev[i].calls);
		*pages += atomic_load(&s->ev[i].pages);
	}
	return calls;
}

static int evictors_check(struct test_ctx *t, const struct storm *s)
{
	int i, err;

	for (i = 0; i < NR_EVICTORS; i++) {
		err = atomic_load(&s->ev[i].err);
		if (err)
			return test_fail(t, "evictor %d: madvise(MADV_DONTNEED): %s",
					 i, strerror(err));
	}
	return TEST_PASS;
}

static int evictors_start(struct test_ctx *t, struct storm *s)
{
	int i, err;

	test_step(t, "start %d evictor threads", NR_EVICTORS);
	for (i = 0; i < NR_EVICTORS; i++) {
		struct evictor *ev = &s->ev[i];

		ev->base = s->m.addr;
		ev->npages = s->npages;
		ev->psz = s->psz;
		ev->pause_us = s->c->evict_pause_us;
		ev->stop = &s->stop;
		ev->rng = test_rng_next(&s->rng) | 1;
		err = pthread_create(&ev->thread, NULL, evictor_thread, ev);
		if (err)
			return test_fail(t, "pthread_create(evictor %d): %s", i,
					 strerror(err));
		ev->started = true;
	}
	return TEST_PASS;
}

static int evictors_stop(struct test_ctx *t, struct storm *s)
{
	int rc = TEST_PASS, i, err;

	if (s->evictors_stopped)
		return TEST_PASS;
	s->evictors_stopped = true;
	atomic_store(&s->stop, true);
	for (i = 0; i < NR_EVICTORS; i++) {
		if (!s->ev[i].started)
			continue;
		err = pthread_join(s->ev[i].thread, NULL);
		if (err)
			rc = test_fail(t, "pthread_join(evictor %d): %s", i,
				       strerror(err));
		s->ev[i].started = false;
	}
	return test_worse(rc, evictors_check(t, s));
}

static void report_progress(const struct storm *s, const char *when)
{
	unsigned long pages, calls = evictions(s, &pages);

	tap_diag("%s: ops=%lu (write %lu, send %lu, read %lu, fetch_add %lu), %llu bytes moved, %llu verified; evictions=%lu (%lu pages); uffd faults=%lu resolved=%lu eexist=%lu",
		 when, s->nops, s->ops[OP_WRITE], s->ops[OP_SEND],
		 s->ops[OP_READ], s->ops[OP_FETCH_ADD], s->bytes_moved,
		 s->bytes_verified, calls, pages, uffdm_count(&s->h.faults),
		 uffdm_count(&s->h.resolved), uffdm_count(&s->h.eexist));
}

/* The traffic loop, with the evictors running. */
static int traffic(struct test_ctx *t, struct storm *s, unsigned int secs)
{
	const double start = test_now_s(), end = start + secs;
	double next_report = start + PROGRESS_S, now;
	char when[64];
	int rc;

	while ((now = test_now_s()) < end) {
		rc = one_op(t, s);
		if (rc == TEST_PASS)
			rc = uffdm_check(t, &s->h);
		if (rc == TEST_PASS)
			rc = evictors_check(t, s);
		if (rc != TEST_PASS)
			return rc;
		if (now >= next_report) {
			snprintf(when, sizeof(when), "progress at %.0f s",
				 now - start);
			report_progress(s, when);
			next_report += PROGRESS_S;
		}
	}
	snprintf(when, sizeof(when), "traffic done after %.1f s",
		 test_now_s() - start);
	report_progress(s, when);
	return TEST_PASS;
}

/* Memory, buffers, uffd, MRs. */
static int storm_prepare(struct test_ctx *t, struct storm *s)
{
	const struct uffdm_cfg cfg = {
		.reg_mode = UFFDIO_REGISTER_MODE_MINOR,
		.action = UFFDM_CONTINUE,
		.features = UFFD_FEATURE_MINOR_SHMEM,
		.delay_max_us = s->c->handler_delay_us,
	};
	int rc;

	test_step(t, "%lu bytes of shmem memfd with an alias mapping",
		  REGION_LEN);
	rc = tmem_create(t, &s->m, TMEM_SHMEM, REGION_LEN, true);
	if (rc != TEST_PASS)
		return rc;
	s->psz = s->m.psz;
	s->npages = REGION_LEN / s->psz;
	s->span = REGION_LEN - s->psz;	/* the last page: the counter's */
	s->counter_pos = s->span + COUNTER_PAGE_OFF;
	s->counter = COUNTER_INIT;
	s->shadow = malloc(REGION_LEN);
	s->touched = calloc(s->npages, 1);
	if (!s->shadow || !s->touched)
		return test_fail(t, "malloc(shadow, %lu bytes): %s", REGION_LEN,
				 strerror(errno));
	/* Page cache through the alias; the registered mapping has no PTEs. */
	pattern_fill(s->shadow, REGION_LEN, SEED_INIT, 0, s->psz);
	memcpy(s->shadow + s->counter_pos, &s->counter, sizeof(s->counter));
	memcpy(s->m.alias, s->shadow, REGION_LEN);

	test_step(t, "pinned source and sink buffers");
	s->src_len = (MAX_OP_LEN + s->psz - 1) / s->psz * s->psz;
	s->sink_len = REGION_LEN + s->psz;	/* + the FETCH_ADD result */
	rc = mem_map(t, s->src_len, &s->src, "source");
	if (rc == TEST_PASS)
		rc = mem_map(t, s->sink_len, &s->sink, "sink");
	if (rc == TEST_PASS)
		rc = rdma_reg_mr(t, &s->r, s->src, s->src_len,
				 IBV_ACCESS_LOCAL_WRITE, "source", &s->src_mr);
	if (rc == TEST_PASS)
		rc = rdma_reg_mr(t, &s->r, s->sink, s->sink_len,
				 IBV_ACCESS_LOCAL_WRITE, "sink", &s->sink_mr);
	if (rc != TEST_PASS)
		return rc;

	test_step(t, "uffd-register the mapping MINOR (UFFDIO_CONTINUE%s)",
		  s->c->handler_delay_us ? " after a random delay" : "");
	rc = uffdm_setup(t, &s->h, &cfg, s->m.addr, REGION_LEN, s->psz);
	if (rc != TEST_PASS)
		return rc;
	test_step(t, "register the ODP MR over the uffd mapping");
	return rdma_reg_mr(t, &s->r, s->m.addr, REGION_LEN,
			   ODP_ACCESS | (s->c->mixed ? IBV_ACCESS_REMOTE_ATOMIC : 0),
			   "uffd region (ODP)", &s->mr);
}

/* Evictors stopped: the whole region against the shadow, twice. */
static int storm_final_check(struct test_ctx *t, struct storm *s)
{
	unsigned long before = uffdm_count(&s->h.faults);
	struct ibv_sge sge = {
		.addr = (uintptr_t)s->sink, .length = (uint32_t)REGION_LEN,
		.lkey = s->sink_mr->lkey,
	};
	struct ibv_send_wr wr = {
		.wr_id = 0xf1a1u, .sg_list = &sge, .num_sge = 1,
		.opcode = IBV_WR_RDMA_READ, .send_flags = IBV_SEND_SIGNALED,
		.wr.rdma = { .remote_addr = region_addr(s, 0),
			     .rkey = s->mr->rkey },
	};
	struct ibv_wc wc;
	size_t i;
	int rc;

	test_step(t, "final: page cache (alias mapping) against the shadow");
	rc = shadow_verify(t, s, s->m.alias, 0, REGION_LEN,
			   "final check of the page cache (alias mapping)");
	s->bytes_verified += REGION_LEN;
	if (rc != TEST_PASS)
		return rc;

	test_step(t, "final: MADV_DONTNEED of the whole registered mapping");
	if (madvise(s->m.addr, REGION_LEN, MADV_DONTNEED))
		return test_fail(t, "madvise(whole region, MADV_DONTNEED): %s",
				 strerror(errno));
	for (i = 0; i < REGION_LEN; i++)
		((uint8_t *)s->sink)[i] = (uint8_t)~s->shadow[i];
	test_step(t, "final: one RDMA READ of the whole region (%lu bytes)",
		  REGION_LEN);
	rc = rdma_post_wait(t, s->r.qp[0], s->r.cq[0], &wr, FINAL_WC_TIMEOUT_MS,
			    NULL, &wc);
	if (rc != TEST_PASS)
		return rc;
	s->bytes_moved += REGION_LEN;
	rc = shadow_verify(t, s, s->sink, 0, REGION_LEN,
			   "final RDMA READ of the whole region");
	s->bytes_verified += REGION_LEN;
	if (rc != TEST_PASS)
		return rc;
	tap_diag("final RDMA READ of %lu bytes after dropping every PTE: %lu uffd faults",
		 REGION_LEN, uffdm_count(&s->h.faults) - before);
	if (uffdm_count(&s->h.faults) == before)
		return test_fail(t, "the final RDMA READ of the dropped region raised no uffd fault");
	return TEST_PASS;
}

/* The assertions after the traffic: something happened, all of it clean. */
static int storm_assert(struct test_ctx *t, const struct storm *s,
			unsigned long traffic_faults)
{
	unsigned long pages, calls = evictions(s, &pages);
	unsigned long faults = uffdm_count(&s->h.faults);
	unsigned long minor = uffdm_count(&s->h.minor_faults);
	size_t i, touched = 0;
	int rc = TEST_PASS;

	for (i = 0; i < s->npages; i++)
		touched += s->touched[i];
	test_step(t, "check the counts");
	tap_diag("evictions: %lu madvise(MADV_DONTNEED) calls dropping %lu pages, %d threads",
		 calls, pages, NR_EVICTORS);
	tap_diag("device touched %zu of %zu pages; %lu uffd faults during the traffic (%ld beyond one per touched page)",
		 touched, s->npages, traffic_faults,
		 (long)traffic_faults - (long)touched);
	if (s->c->handler_delay_us)
		tap_diag("handler delays: %lu us in total over %lu faults",
			 uffdm_count(&s->h.delayed_us), faults);
	tap_diag("seeds with a byte equal to the old content (no distinct seed existed): %lu",
		 s->seed_collisions);
	uffdm_report(&s->h, "at the end");
	if (!s->nops)
		rc = test_fail(t, "no operation ran");
	if (!traffic_faults)
		rc = test_fail(t, "the traffic raised no uffd fault: the device never faulted");
	if (!calls)
		rc = test_fail(t, "no eviction happened");
	if (minor != faults)
		rc = test_fail(t, "%lu uffd faults, only %lu flagged MINOR", faults,
			       minor);
	return test_worse(rc, uffdm_check(t, &s->h));
}

static int storm_steps(struct test_ctx *t, struct storm *s, unsigned int secs)
{
	unsigned long traffic_faults;
	int rc;

	rc = storm_prepare(t, s);
	if (rc == TEST_PASS)
		rc = evictors_start(t, s);
	if (rc == TEST_PASS)
		rc = traffic(t, s, secs);
	test_step(t, "stop the evictors");
	rc = test_worse(rc, evictors_stop(t, s));
	if (rc != TEST_PASS) {
		report_progress(s, "at the failure");
		return rc;
	}
	traffic_faults = uffdm_count(&s->h.faults);
	rc = storm_final_check(t, s);
	tap_diag("%lu ops, %llu bytes moved, %llu bytes verified",
		 s->nops, s->bytes_moved, s->bytes_verified);
	return test_worse(rc, storm_assert(t, s, traffic_faults));
}

static int run_storm(struct test_ctx *t, const struct storm_case *c)
{
	const struct rdma_caps_req req = {
		.odp = true,
		.rc_odp_caps = IBV_ODP_SUPPORT_WRITE | IBV_ODP_SUPPORT_READ |
			       (c->mixed ? IBV_ODP_SUPPORT_RECV |
					   IBV_ODP_SUPPORT_ATOMIC : 0),
	};
	struct storm s = { .c = c };
	unsigned int secs;
	int rc, i;

	tmem_init(&s.m);
	uffdm_init(&s.h);
	atomic_init(&s.stop, false);
	for (i = 0; i < NR_EVICTORS; i++) {
		atomic_init(&s.ev[i].calls, 0);
		atomic_init(&s.ev[i].pages, 0);
		atomic_init(&s.ev[i].err, 0);
	}
	rc = duration_from_env(t, c, &secs);
	if (rc == TEST_PASS)
		rc = rng_seed_from_env(t, &s.rng);
	if (rc != TEST_PASS)
		return rc;
	tap_diag("%u s of traffic, rng seed %" PRIu64 " (STORM_RNG_SEED repeats it), %d evictors, handler delay 0..%u us",
		 secs, s.rng, NR_EVICTORS, c->handler_delay_us);
	s.rng |= 1;
	rc = rdma_setup(t, &s.r, &req);
	if (rc != TEST_PASS)
		return rc;
	rc = storm_steps(t, &s, secs);

	/* uffd first: releases any fault still waiting on it. */
	test_step(t, "teardown");
	rc = test_worse(rc, evictors_stop(t, &s));
	rc = test_worse(rc, uffdm_teardown(t, &s.h));
	rc = test_worse(rc, rdma_dereg_mr(t, &s.mr, "uffd region"));
	rc = test_worse(rc, tmem_destroy(t, &s.m));
	rc = test_worse(rc, rdma_dereg_mr(t, &s.sink_mr, "sink"));
	rc = test_worse(rc, rdma_dereg_mr(t, &s.src_mr, "source"));
	rc = test_worse(rc, mem_unmap(t, &s.sink, s.sink_len, "sink"));
	rc = test_worse(rc, mem_unmap(t, &s.src, s.src_len, "source"));
	free(s.shadow);
	free(s.touched);
	return test_worse(rc, rdma_teardown(t, &s.r));
}

static int test_storm(struct test_ctx *t)
{
	return run_storm(t, t->arg);
}

/*
 * The evictors pause 0..200 us between calls, as in the soak: evictors that
 * only yield drop every page about a thousand times a second, faster than an
 * RC responder's RNR NAK and the requester's retry (at least a jiffy) can
 * bring it back, so no write would ever complete (Documentation/design.md).
 */
static const struct storm_case storm_case = {
	.env = "STORM_SECONDS", .default_s = STORM_DEFAULT_S,
	.timeout_s = STORM_TIMEOUT_S, .evict_pause_us = 200,
};

static const struct storm_case soak_case = {
	.env = "SOAK_SECONDS", .default_s = SOAK_DEFAULT_S,
	.timeout_s = SOAK_TIMEOUT_S, .mixed = true,
	.handler_delay_us = 2000, .evict_pause_us = 200,
};

static const struct test_case tests[] = {
	{ .name = "storm_minor_shmem", .fn = test_storm,
	  .desc = "RDMA WRITE + READ back into shmem uffd MINOR memory while 2 threads MADV_DONTNEED random pages (STORM_SECONDS, default 5)",
	  .needs = FIX_UFFD | FIX_COPY, .timeout_s = STORM_TIMEOUT_S,
	  .arg = &storm_case },
	{ .name = "soak_mixed", .fn = test_storm,
	  .desc = "soak: WRITE, SEND, READ, FETCH_ADD on shmem uffd MINOR memory, evictions, handler delays 0..2 ms (SOAK_SECONDS, default 600)",
	  .needs = FIX_UFFD | FIX_COPY, .timeout_s = SOAK_TIMEOUT_S,
	  .arg = &soak_case },
};

int main(int argc, char **argv)
{
	return test_main(argc, argv, tests, ARRAY_SIZE(tests));
}
