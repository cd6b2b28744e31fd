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
 *   storm_missing_anon the same on anonymous memory registered MISSING:
 *                      MADV_DONTNEED frees the pages, and the handler
 *                      refills a dropped page from the shadow (UFFDIO_COPY),
 *                      so a device write that went to a stale mapping (a
 *                      freed page) or elsewhere is lost and seen
 *                      (STORM_SECONDS)
 *   soak_mixed         all four operations, 2 evictors pausing 0..200 us,
 *                      handler sleeping 0..2 ms per fault; SOAK_SECONDS
 *                      (default 600)
 *
 * On anonymous memory there is no page cache to keep what the device wrote:
 * a page dropped after the device wrote it and before its bytes are
 * checked would come back with the shadow's old bytes, which is no kernel
 * fault.  So while an operation runs and until its bytes are checked (by an
 * RDMA READ: what the device sees, and through the CPU mapping: what the
 * memory holds) and the shadow is updated, the evictors leave its pages
 * alone (a write-preferring rwlock: an evictor holds it shared across its
 * check and its madvise()); every other page is theirs.  A page the
 * operation writes may have been dropped just before it started: the
 * device's mapping of it must be gone, or the write lands in a freed page
 * and the CPU check sees the old bytes.
 *
 * STORM_RNG_SEED=<n> repeats the traffic's random choices (the timing of the
 * evictions never repeats).  The test's time bound follows the duration
 * (STORM_SECONDS or SOAK_SECONDS plus a margin) unless the table's is
 * longer (storm_bound_s()); -S scales it.  Named rel_* so that the ibv
 * suite (every odp_* program) does not run it; the table puts the storms
 * in make check's suite and soak_mixed in make soak's.
 */
#include "lib/verbs.h"

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
	enum tmem_kind kind;		/* TMEM_SHMEM: MINOR; TMEM_ANON: MISSING */
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

/* The pages an operation uses, which the evictors leave alone (anon). */
struct busy {
	pthread_rwlock_t lock;
	size_t lo, hi;			/* [lo, hi) pages; lo == hi: none */
};

struct evictor {
	uint8_t *base;			/* the registered mapping */
	size_t npages, psz;
	unsigned int pause_us;
	const atomic_bool *stop;
	struct busy *busy;		/* NULL: every page may go */
	atomic_ulong skipped;		/* picks that overlapped busy pages */
	uint64_t rng;			/* thread private */
	atomic_ulong calls;		/* successful madvise() calls */
	atomic_ulong pages;		/* pages they dropped */
	atomic_int err;			/* errno of a failed madvise(), or 0 */
	pthread_t thread;
	bool started;
};

/* madvise(MADV_DONTNEED) unless busy pages overlap; false on error. */
static bool evict(struct evictor *ev, size_t pg, size_t n)
{
	bool skip = false;
	int err = 0;

	if (ev->busy) {
		err = pthread_rwlock_rdlock(&ev->busy->lock);
		if (err) {
			atomic_store(&ev->err, err);
			return false;
		}
		skip = pg < ev->busy->hi && ev->busy->lo < pg + n;
	}
	if (!skip && madvise(ev->base + pg * ev->psz, n * ev->psz,
			     MADV_DONTNEED))
		err = errno ? errno : EIO;
	if (ev->busy)
		pthread_rwlock_unlock(&ev->busy->lock);
	if (err) {
		atomic_store(&ev->err, err);
		return false;
	}
	if (skip) {
		atomic_fetch_add(&ev->skipped, 1);
	} else {
		atomic_fetch_add(&ev->calls, 1);
		atomic_fetch_add(&ev->pages, n);
	}
	return true;
}

static void *evictor_thread(void *arg)
{
	struct evictor *ev = arg;

	while (!atomic_load(ev->stop)) {
		size_t pg = (size_t)test_rng_below(&ev->rng, ev->npages);
		size_t n = 1 + (size_t)test_rng_below(&ev->rng, EVICT_MAX_PAGES);

		if (n > ev->npages - pg)
			n = ev->npages - pg;
		if (!evict(ev, pg, n))
			break;
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
	uint8_t *cpu;			/* how the CPU sees the region: the
					 * alias (shmem), or the registered
					 * mapping itself (anon: faults go
					 * through the handler) */
	struct busy busy;		/* anon: the current op's pages */
	bool busy_init;
	struct uffd_handler h;
	void *src, *sink;		/* pinned: one op / the region + result */
	size_t src_len, sink_len;
	struct ibv_mr *src_mr, *sink_mr, *mr;
	uint8_t *shadow;		/* what the region must hold */
	uint8_t *touched;		/* per page: the device accessed it */
	unsigned long revisits;		/* ops started on a touched page */
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

/* Seconds from the environment variable, or the default; false: invalid. */
static bool env_seconds(const struct storm_case *c, unsigned int *secs)
{
	const char *s = getenv(c->env);
	unsigned long v;
	char *end;

	*secs = c->default_s;
	if (!s)
		return true;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || v == 0 || v > 7 * 24 * 3600)
		return false;
	*secs = (unsigned int)v;
	return true;
}

/* Seconds from the environment variable, or the default. */
static int duration_from_env(struct test_ctx *t, const struct storm_case *c,
			     unsigned int *secs)
{
	const char *s = getenv(c->env);

	if (!env_seconds(c, secs))
		return test_fail(t, "%s='%s': expected seconds (1..604800)",
				 c->env, s);
	if (*secs + TIME_MARGIN_S > t->timeout_s)
		return test_fail(t, "%s=%u does not fit the %u s time bound (%u s margin)",
				 c->env, *secs, t->timeout_s, TIME_MARGIN_S);
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

/*
 * RDMA READ of [off, off + len) into the sink at off, poisoned first with
 * bytes that differ from the expected ones: pattern(seed) if pattern, else
 * the shadow's.
 */
static int read_range(struct test_ctx *t, struct storm *s, size_t off,
		      size_t len, bool pattern, uint32_t seed)
{
	uint8_t *dst = (uint8_t *)s->sink + off;
	size_t i;

	for (i = 0; i < len; i++)
		dst[i] = (uint8_t)~(pattern ?
				    pattern_byte(seed, off + i, s->psz) :
				    s->shadow[off + i]);
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
	rc = read_range(t, s, off, len, true, seed);
	if (rc != TEST_PASS)
		return rc;
	snprintf(what, sizeof(what), "op %lu (%s of %zu bytes at offset %zu) read back",
		 n, op_names[op], len, off);
	rc = pattern_verify(t, (uint8_t *)s->sink + off, len, seed, off,
			    s->psz, what);
	s->bytes_verified += len;
	return rc;
}

/* Anon: the evictors leave [off, off + len)'s pages alone (len 0: none). */
static int busy_set(struct test_ctx *t, struct storm *s, size_t off,
		    size_t len)
{
	int err;

	if (!s->busy_init)
		return TEST_PASS;
	err = pthread_rwlock_wrlock(&s->busy.lock);
	if (err)
		return test_fail(t, "pthread_rwlock_wrlock(busy pages): %s",
				 strerror(err));
	s->busy.lo = len ? off / s->psz : 0;
	s->busy.hi = len ? (off + len - 1) / s->psz + 1 : 0;
	pthread_rwlock_unlock(&s->busy.lock);
	return TEST_PASS;
}

/*
 * WRITE pattern(seed), then what the device reads back and what the CPU
 * mapping holds must both be it; only then the shadow takes it (anon: the
 * handler refills a page the CPU check faults from the shadow, so a write
 * the device lost shows the old bytes).
 */
static int op_write(struct test_ctx *t, struct storm *s, unsigned long n,
		    size_t off, size_t len)
{
	uint32_t seed = pick_seed(s, off, len);
	char what[128];
	int rc;

	rc = busy_set(t, s, off, len);
	if (rc != TEST_PASS)
		return rc;
	test_step(t, "op %lu: RDMA WRITE %zu bytes at offset %zu, seed 0x%08" PRIx32,
		  n, len, off, seed);
	pattern_fill(s->src, len, seed, off, s->psz);
	s->bytes_moved += len;
	rc = rdma_rw(t, &s->r, 0, IBV_WR_RDMA_WRITE, s->src, (uint32_t)len,
		     s->src_mr->lkey, region_addr(s, off), s->mr->rkey, NULL);
	if (rc == TEST_PASS)
		rc = read_back(t, s, n, OP_WRITE, off, len, seed);
	if (rc != TEST_PASS)
		return rc;
	test_step(t, "op %lu: CPU check of %zu bytes at offset %zu", n, len, off);
	snprintf(what, sizeof(what), "op %lu (RDMA WRITE of %zu bytes at offset %zu) in memory (CPU)",
		 n, len, off);
	rc = pattern_verify(t, s->cpu + off, len, seed, off, s->psz, what);
	s->bytes_verified += len;
	if (rc != TEST_PASS)
		return rc;
	pattern_fill(s->shadow + off, len, seed, off, s->psz);
	return busy_set(t, s, 0, 0);
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
	rc = read_range(t, s, off, len, false, 0);
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
	memcpy(&now, s->cpu + s->counter_pos, sizeof(now));
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

/*
 * An offset for a len-byte op that starts in a page the device touched
 * before (a random one; the first data page when none is), so that a page
 * the evictors dropped since is faulted in again.
 */
static size_t revisit_off(struct storm *s, size_t len)
{
	const size_t pages = s->span / s->psz;
	size_t i, pg = (size_t)test_rng_below(&s->rng, pages), off;

	for (i = 0; i < pages && !s->touched[pg]; i++)
		pg = (pg + 1) % pages;
	if (!s->touched[pg])
		pg = 0;
	off = pg * s->psz + (size_t)test_rng_below(&s->rng, s->psz);
	return off + len <= s->span ? off : s->span - len;
}

/* One random op; revisit: a data op starts on a page touched before. */
static int one_op(struct test_ctx *t, struct storm *s, bool revisit)
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
	if (revisit)
		s->revisits++;
	off = revisit ? revisit_off(s, len) :
	      (size_t)test_rng_below(&s->rng, s->span - len + 1);
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
			return test_fail(t, "evictor %d: madvise(MADV_DONTNEED) or its lock: %s",
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
		ev->busy = s->busy_init ? &s->busy : NULL;
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
		 s->bytes_verified, calls, pages, uffd_count(&s->h.faults),
		 uffd_count(&s->h.resolved), uffd_count(&s->h.eexist));
}

/*
 * On MISSING memory: has a page the traffic used been dropped and refilled
 * (more uffd faults than pages touched)?  Without that the storm has not
 * exercised what it checks.
 */
static bool storm_refilled(const struct storm *s)
{
	size_t i, touched = 0;

	for (i = 0; i < s->npages; i++)
		touched += s->touched[i];
	return uffd_count(&s->h.faults) > touched;
}

/*
 * The traffic loop, with the evictors running, for secs; on MISSING memory
 * longer, until a used page was dropped and refilled (a slow kernel runs few
 * operations, which may all fall on distinct pages), by at most half the
 * time margin (it ends with the first refill).  In that extra time every op
 * starts on a page an earlier one touched: the evictors drop each page many
 * times a second, so the device faults such a page in again (a 1 s storm on
 * the debug kernel ran two ops and one revisit: too few).
 */
static int traffic(struct test_ctx *t, struct storm *s, unsigned int secs)
{
	const unsigned int extra = TIME_MARGIN_S / 2;
	const double start = test_now_s(), end = start + secs;
	const double last = end + (s->c->kind == TMEM_ANON ? extra : 0);
	double next_report = start + PROGRESS_S, now;
	char when[64];
	int rc;

	while ((now = test_now_s()) < end ||
	       (now < last && !storm_refilled(s))) {
		rc = one_op(t, s, now >= end);
		if (rc == TEST_PASS)
			rc = uffd_handler_check(t, &s->h);
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
	if (s->revisits)
		tap_diag("after %u s without a refill: %lu ops started on pages touched before",
			 secs, s->revisits);
	return TEST_PASS;
}

/* uffd_fill_fn: a MISSING page comes back with what the shadow holds. */
static void shadow_fill(const void *arg, size_t pos, uint8_t *buf, size_t len)
{
	const struct storm *s = arg;

	memcpy(buf, s->shadow + pos, len);
}

/* Anon: the busy pages' lock, writers first (the traffic must get in). */
static int busy_init(struct test_ctx *t, struct storm *s)
{
	pthread_rwlockattr_t attr;
	int err;

	err = pthread_rwlockattr_init(&attr);
	if (!err)
		err = pthread_rwlockattr_setkind_np(&attr,
				PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	if (!err)
		err = pthread_rwlock_init(&s->busy.lock, &attr);
	pthread_rwlockattr_destroy(&attr);
	if (err)
		return test_fail(t, "pthread_rwlock_init(busy pages): %s",
				 strerror(err));
	s->busy_init = true;
	return TEST_PASS;
}

/* Memory, buffers, uffd, MRs. */
static int storm_prepare(struct test_ctx *t, struct storm *s)
{
	const bool anon = s->c->kind == TMEM_ANON;
	const struct uffd_cfg cfg = anon ? (struct uffd_cfg){
		.reg_mode = UFFDIO_REGISTER_MODE_MISSING,
		.action = UFFD_ACT_COPY,
		.fill = shadow_fill, .fill_arg = s,
		.delay_max_us = s->c->handler_delay_us,
	} : (struct uffd_cfg){
		.reg_mode = UFFDIO_REGISTER_MODE_MINOR,
		.action = UFFD_ACT_CONTINUE,
		.features = UFFD_FEATURE_MINOR_SHMEM,
		.delay_max_us = s->c->handler_delay_us,
	};
	int rc;

	test_step(t, "%lu bytes of %s%s", REGION_LEN, tmem_kind_str(s->c->kind),
		  anon ? "" : " with an alias mapping");
	rc = tmem_create(t, &s->m, s->c->kind, REGION_LEN, !anon);
	if (rc == TEST_PASS && anon)
		rc = busy_init(t, s);
	if (rc != TEST_PASS)
		return rc;
	s->cpu = anon ? s->m.addr : s->m.alias;
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
	/*
	 * shmem: page cache through the alias; the registered mapping has no
	 * PTEs.  anon: no page yet; the handler fills each from the shadow.
	 */
	pattern_fill(s->shadow, REGION_LEN, SEED_INIT, 0, s->psz);
	memcpy(s->shadow + s->counter_pos, &s->counter, sizeof(s->counter));
	if (!anon)
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

	test_step(t, "uffd-register the mapping %s%s", anon ?
		  "MISSING (UFFDIO_COPY from the shadow" :
		  "MINOR (UFFDIO_CONTINUE",
		  s->c->handler_delay_us ? " after a random delay)" : ")");
	rc = uffd_setup(t, &s->h, &cfg, s->m.addr, REGION_LEN, s->psz);
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
	unsigned long before = uffd_count(&s->h.faults);
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

	test_step(t, "final: the region through the CPU against the shadow");
	rc = shadow_verify(t, s, s->cpu, 0, REGION_LEN,
			   s->c->kind == TMEM_ANON ?
			   "final check of the region (CPU; dropped pages refilled from the shadow)" :
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
		 REGION_LEN, uffd_count(&s->h.faults) - before);
	if (uffd_count(&s->h.faults) == before)
		return test_fail(t, "the final RDMA READ of the dropped region raised no uffd fault");
	return TEST_PASS;
}

/* The assertions after the traffic: something happened, all of it clean. */
static int storm_assert(struct test_ctx *t, const struct storm *s,
			unsigned long traffic_faults)
{
	unsigned long pages, calls = evictions(s, &pages);
	unsigned long faults = uffd_count(&s->h.faults);
	unsigned long minor = uffd_count(&s->h.minor_faults);
	unsigned long skipped = 0;
	size_t i, touched = 0;
	int rc = TEST_PASS;

	for (i = 0; i < s->npages; i++)
		touched += s->touched[i];
	test_step(t, "check the counts");
	for (i = 0; i < NR_EVICTORS; i++)
		skipped += atomic_load(&s->ev[i].skipped);
	tap_diag("evictions: %lu madvise(MADV_DONTNEED) calls dropping %lu pages, %d threads (%lu picks skipped: pages of the running op)",
		 calls, pages, NR_EVICTORS, skipped);
	tap_diag("device touched %zu of %zu pages; %lu uffd faults during the traffic (%ld beyond one per touched page)",
		 touched, s->npages, traffic_faults,
		 (long)traffic_faults - (long)touched);
	if (s->c->handler_delay_us)
		tap_diag("handler delays: %lu us in total over %lu faults",
			 uffd_count(&s->h.delayed_us), faults);
	tap_diag("seeds with a byte equal to the old content (no distinct seed existed): %lu",
		 s->seed_collisions);
	uffd_handler_report(&s->h, "at the end");
	if (!s->nops)
		rc = test_fail(t, "no operation ran");
	if (!traffic_faults)
		rc = test_fail(t, "the traffic raised no uffd fault: the device never faulted");
	if (!calls)
		rc = test_fail(t, "no eviction happened");
	if (s->c->kind != TMEM_ANON && minor != faults)
		rc = test_fail(t, "%lu uffd faults, only %lu flagged MINOR", faults,
			       minor);
	if (s->c->kind == TMEM_ANON && minor)
		rc = test_fail(t, "%lu of %lu uffd faults on MISSING-registered memory flagged MINOR",
			       minor, faults);
	if (s->c->kind == TMEM_ANON && traffic_faults <= touched)
		rc = test_fail(t, "%lu uffd faults during the traffic for %zu touched pages: no page the traffic used was dropped and refilled",
			       traffic_faults, touched);
	return test_worse(rc, uffd_handler_check(t, &s->h));
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
	traffic_faults = uffd_count(&s->h.faults);
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
	uffd_handler_init(&s.h);
	atomic_init(&s.stop, false);
	for (i = 0; i < NR_EVICTORS; i++) {
		atomic_init(&s.ev[i].calls, 0);
		atomic_init(&s.ev[i].pages, 0);
		atomic_init(&s.ev[i].err, 0);
		atomic_init(&s.ev[i].skipped, 0);
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
	rc = test_worse(rc, uffd_teardown(t, &s.h));
	rc = test_worse(rc, rdma_dereg_mr(t, &s.mr, "uffd region"));
	rc = test_worse(rc, tmem_destroy(t, &s.m));
	rc = test_worse(rc, rdma_dereg_mr(t, &s.sink_mr, "sink"));
	rc = test_worse(rc, rdma_dereg_mr(t, &s.src_mr, "source"));
	rc = test_worse(rc, mem_unmap(t, &s.sink, s.sink_len, "sink"));
	rc = test_worse(rc, mem_unmap(t, &s.src, s.src_len, "source"));
	free(s.shadow);
	free(s.touched);
	if (s.busy_init)
		pthread_rwlock_destroy(&s.busy.lock);
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
	.kind = TMEM_SHMEM, .env = "STORM_SECONDS", .default_s = STORM_DEFAULT_S,
	.timeout_s = STORM_TIMEOUT_S, .evict_pause_us = 200,
};

static const struct storm_case anon_case = {
	.kind = TMEM_ANON, .env = "STORM_SECONDS", .default_s = STORM_DEFAULT_S,
	.timeout_s = STORM_TIMEOUT_S, .evict_pause_us = 200,
};

static const struct storm_case soak_case = {
	.kind = TMEM_SHMEM, .env = "SOAK_SECONDS", .default_s = SOAK_DEFAULT_S,
	.timeout_s = SOAK_TIMEOUT_S, .mixed = true,
	.handler_delay_us = 2000, .evict_pause_us = 200,
};

/* A case's bound follows its duration: the table's unless that is longer. */
static unsigned int storm_bound_s(const struct test_case *tc)
{
	const struct storm_case *c = tc->arg;
	unsigned int secs;

	if (env_seconds(c, &secs) &&
	    secs + TIME_MARGIN_S + 30 > tc->timeout_s)
		return secs + TIME_MARGIN_S + 30;
	return tc->timeout_s;
}

static const struct test_case tests[] = {
	{ .name = "storm_minor_shmem", .fn = test_storm,
	  .desc = "RDMA WRITE + READ back into shmem uffd MINOR memory while 2 threads MADV_DONTNEED random pages (STORM_SECONDS, default 5)",
	  .needs = FIX_UFFD | FIX_COPY, .timeout_s = STORM_TIMEOUT_S,
	  .bound_s = storm_bound_s, .arg = &storm_case },
	{ .name = "storm_missing_anon", .fn = test_storm,
	  .desc = "RDMA WRITE, READ back and CPU check on anonymous uffd MISSING memory while 2 threads MADV_DONTNEED (free) other random pages, refilled from the shadow (STORM_SECONDS, default 5)",
	  .needs = FIX_UFFD | FIX_COPY, .timeout_s = STORM_TIMEOUT_S,
	  .bound_s = storm_bound_s, .arg = &anon_case },
	{ .name = "soak_mixed", .fn = test_storm,
	  .desc = "soak: WRITE, SEND, READ, FETCH_ADD on shmem uffd MINOR memory, evictions, handler delays 0..2 ms (SOAK_SECONDS, default 600)",
	  .needs = FIX_UFFD | FIX_COPY, .timeout_s = SOAK_TIMEOUT_S,
	  .bound_s = storm_bound_s, .suites = SUITE_SOAK, .arg = &soak_case },
};

int main(int argc, char **argv)
{
	return test_main(argc, argv, tests, ARRAY_SIZE(tests));
}
