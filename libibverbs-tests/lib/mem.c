// SPDX-License-Identifier: GPL-2.0
/*
 * Test memory and data patterns of the libibverbs ODP tests; see mem.h.
 */
#include "mem.h"

#include <errno.h>
#include <inttypes.h>
#include <linux/memfd.h>
#include <linux/userfaultfd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* ================================================================== */
/* Memory and patterns                                                 */

size_t page_size(void)
{
	long ps = sysconf(_SC_PAGESIZE);

	return ps > 0 ? (size_t)ps : 4096;
}

int mem_map(struct test_ctx *t, size_t len, void **addr, const char *what)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	*addr = NULL;
	if (p == MAP_FAILED)
		return test_fail(t, "mmap(%s, %zu bytes): %s", what, len,
				 strerror(errno));
	*addr = p;
	return TEST_PASS;
}

int mem_unmap(struct test_ctx *t, void **addr, size_t len, const char *what)
{
	void *p = *addr;

	if (!p)
		return TEST_PASS;
	*addr = NULL;
	if (munmap(p, len))
		return test_fail(t, "munmap(%s): %s", what, strerror(errno));
	return TEST_PASS;
}

void pattern_fill(void *buf, size_t len, uint32_t seed, size_t pos,
		  size_t psz)
{
	uint8_t *b = buf;
	size_t i;

	for (i = 0; i < len; i++)
		b[i] = pattern_byte(seed, pos + i, psz);
}

int pattern_verify(struct test_ctx *t, const void *buf, size_t len,
		   uint32_t seed, size_t pos, size_t psz, const char *what)
{
	const uint8_t *b = buf;
	size_t i, first = 0, bad = 0;

	for (i = 0; i < len; i++) {
		if (b[i] == pattern_byte(seed, pos + i, psz))
			continue;
		if (!bad++)
			first = i;
	}
	if (!bad)
		return TEST_PASS;
	return test_fail(t,
			 "%s: %zu of %zu bytes differ; first at region offset %zu (page %zu +%zu): expected 0x%02x (seed %" PRIu32 ") got 0x%02x",
			 what, bad, len, pos + first, (pos + first) / psz,
			 (pos + first) % psz,
			 pattern_byte(seed, pos + first, psz), seed, b[first]);
}

int bytes_verify(struct test_ctx *t, const void *buf, size_t len, uint8_t val,
		 size_t pos, const char *what)
{
	const uint8_t *b = buf;
	size_t i, first = 0, bad = 0;

	for (i = 0; i < len; i++) {
		if (b[i] == val)
			continue;
		if (!bad++)
			first = i;
	}
	if (!bad)
		return TEST_PASS;
	return test_fail(t,
			 "%s: %zu of %zu bytes differ; first at region offset %zu: expected 0x%02x got 0x%02x",
			 what, bad, len, pos + first, val, b[first]);
}


/* ================================================================== */
/* Test memory                                                          */

static size_t huge_page_size(void)
{
	return TMEM_HUGE_SIZE;
}

static int map_anon(struct test_ctx *t, struct tmem *m, bool with_alias)
{
	void *p;

	if (with_alias)
		return test_fail(t, "tmem_create: anonymous memory has no alias mapping");
	p = mmap(NULL, m->len, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return test_fail(t, "mmap(anonymous, %zu bytes): %s", m->len,
				 strerror(errno));
	m->addr = p;
	return TEST_PASS;
}

static int map_memfd_view(struct test_ctx *t, struct tmem *m, uint8_t **addr,
			  const char *what)
{
	void *p = mmap(NULL, m->len, PROT_READ | PROT_WRITE, MAP_SHARED,
		       m->memfd, 0);

	if (p == MAP_FAILED) {
		int err = errno;

		if (m->kind == TMEM_HUGETLB && err == ENOMEM)
			return test_skip(t, "mmap(%s, %zu bytes of hugetlb memfd): no free 2 MiB hugepages (vm.nr_hugepages)",
					 what, m->len);
		return test_fail(t, "mmap(%s, %zu bytes of %s, MAP_SHARED): %s",
				 what, m->len, tmem_kind_str(m->kind),
				 strerror(err));
	}
	*addr = p;
	return TEST_PASS;
}

/* A memfd (mfd_flags on top of MFD_CLOEXEC) of m->len bytes, mapped. */
static int map_memfd(struct test_ctx *t, struct tmem *m, unsigned int mfd_flags,
		     bool with_alias)
{
	int rc;

	m->memfd = memfd_create("odp-uffd-test", MFD_CLOEXEC | mfd_flags);
	if (m->memfd < 0) {
		int err = errno;

		if (m->kind == TMEM_HUGETLB && (err == EINVAL || err == ENOENT))
			return test_skip(t, "memfd_create(MFD_HUGETLB|MFD_HUGE_2MB): %s (no 2 MiB hugetlbfs?)",
					 strerror(err));
		return test_fail(t, "memfd_create(%s): %s",
				 tmem_kind_str(m->kind), strerror(err));
	}
	if (ftruncate(m->memfd, (off_t)m->len))
		return test_fail(t, "ftruncate(%s memfd, %zu): %s",
				 tmem_kind_str(m->kind), m->len, strerror(errno));
	rc = map_memfd_view(t, m, &m->addr, "registered mapping");
	if (rc == TEST_PASS && with_alias)
		rc = map_memfd_view(t, m, &m->alias, "alias mapping");
	return rc;
}

static int map_shmem(struct test_ctx *t, struct tmem *m, bool with_alias)
{
	return map_memfd(t, m, 0, with_alias);
}

static int map_hugetlb(struct test_ctx *t, struct tmem *m, bool with_alias)
{
	return map_memfd(t, m, MFD_HUGETLB | MFD_HUGE_2MB, with_alias);
}

static const struct tmem_ops tmem_ops_table[] = {
	[TMEM_ANON] = {
		.name = "anonymous",
		.page_size = page_size,
		.wp_features = UFFD_FEATURE_PAGEFAULT_FLAG_WP,
		.map = map_anon,
	},
	[TMEM_SHMEM] = {
		.name = "shmem memfd",
		.page_size = page_size,
		.file = true,
		.missing_features = UFFD_FEATURE_MISSING_SHMEM,
		.minor_features = UFFD_FEATURE_MINOR_SHMEM,
		.wp_features = UFFD_FEATURE_PAGEFAULT_FLAG_WP |
			       UFFD_FEATURE_WP_HUGETLBFS_SHMEM,
		.map = map_shmem,
	},
	[TMEM_HUGETLB] = {
		.name = "hugetlb memfd (2 MiB)",
		.page_size = huge_page_size,
		.file = true,
		.missing_features = UFFD_FEATURE_MISSING_HUGETLBFS,
		.minor_features = UFFD_FEATURE_MINOR_HUGETLBFS,
		.wp_features = UFFD_FEATURE_PAGEFAULT_FLAG_WP |
			       UFFD_FEATURE_WP_HUGETLBFS_SHMEM,
		.map = map_hugetlb,
	},
};

const struct tmem_ops *tmem_ops(enum tmem_kind kind)
{
	return &tmem_ops_table[kind];
}

const char *tmem_kind_str(enum tmem_kind kind)
{
	return tmem_ops(kind)->name;
}

size_t tmem_page_size(enum tmem_kind kind)
{
	return tmem_ops(kind)->page_size();
}

uint64_t tmem_uffd_features(enum tmem_kind kind, uint64_t reg_mode)
{
	const struct tmem_ops *ops = tmem_ops(kind);
	uint64_t f = 0;

	if (reg_mode & UFFDIO_REGISTER_MODE_MISSING)
		f |= ops->missing_features;
	if (reg_mode & UFFDIO_REGISTER_MODE_MINOR)
		f |= ops->minor_features;
	if (reg_mode & UFFDIO_REGISTER_MODE_WP)
		f |= ops->wp_features;
	return f;
}

int tmem_create(struct test_ctx *t, struct tmem *m, enum tmem_kind kind,
		size_t len, bool with_alias)
{
	int rc;

	tmem_init(m);
	m->kind = kind;
	m->len = len;
	m->psz = tmem_page_size(kind);
	if (len % m->psz)
		return test_fail(t, "tmem_create: %zu bytes is not a multiple of the %zu-byte page",
				 len, m->psz);
	rc = tmem_ops(kind)->map(t, m, with_alias);
	if (rc != TEST_PASS)
		rc = test_worse(rc, tmem_destroy(t, m));
	return rc;
}

int tmem_destroy(struct test_ctx *t, struct tmem *m)
{
	int rc = TEST_PASS;

	if (m->alias && munmap(m->alias, m->len))
		rc = test_fail(t, "munmap(alias mapping): %s", strerror(errno));
	m->alias = NULL;
	if (m->addr && munmap(m->addr, m->len))
		rc = test_fail(t, "munmap(%s mapping): %s",
			       tmem_kind_str(m->kind), strerror(errno));
	m->addr = NULL;
	if (m->memfd >= 0 && close(m->memfd))
		rc = test_fail(t, "close(memfd): %s", strerror(errno));
	m->memfd = -1;
	return rc;
}

/* ================================================================== */
/* Transfer geometry and byte checks                                    */

struct xfer_geom xfer_geom_make(size_t bpsz, size_t off, size_t len)
{
	struct xfer_geom g = { .psz = page_size(), .bpsz = bpsz, .off = off,
			       .len = len };

	g.map_len = (off + len + bpsz - 1) / bpsz * bpsz;
	g.first_pg = off / bpsz;
	g.npages = (off + len - 1) / bpsz - g.first_pg + 1;
	return g;
}

struct xfer_geom xfer_geom_for(enum tmem_kind kind, bool one_packet)
{
	const size_t bpsz = tmem_page_size(kind);

	if (one_packet)
		return xfer_geom_make(bpsz, 0, 1024);
	if (kind == TMEM_HUGETLB)
		return xfer_geom_make(bpsz, TMEM_HUGE_SIZE - 32 * 1024 + 100,
				      64 * 1024 + 1000);
	return xfer_geom_make(bpsz, 100, 64 * 1024 + 1000);
}

int region_verify(struct test_ctx *t, const uint8_t *buf, size_t from,
		  size_t to, uint32_t seed, const char *what)
{
	if (to <= from)
		return TEST_PASS;
	if (seed == PAT_ZERO)
		return bytes_verify(t, buf + from, to - from, 0, from, what);
	return pattern_verify(t, buf + from, to - from, seed, from,
			      page_size(), what);
}

uint64_t region_u64(uint32_t seed, size_t pos)
{
	uint8_t bytes[8] = { 0 };
	uint64_t v;

	if (seed != PAT_ZERO)
		pattern_fill(bytes, sizeof(bytes), seed, pos, page_size());
	memcpy(&v, bytes, sizeof(v));
	return v;
}

int layout_verify(struct test_ctx *t, const uint8_t *buf, size_t off,
		  size_t len, size_t map_len, uint32_t inner, uint32_t outer,
		  const char *what)
{
	const struct {
		size_t from, to;
		uint32_t seed;
		const char *part;
	} p[3] = {
		{ 0, off, outer, "head" },
		{ off, off + len, inner, "transferred bytes" },
		{ off + len, map_len, outer, "tail" },
	};
	char name[128];
	int rc = TEST_PASS;
	size_t i;

	test_step(t, "verify %s", what);
	for (i = 0; i < ARRAY_SIZE(p); i++) {
		snprintf(name, sizeof(name), "%s %s", what, p[i].part);
		rc = test_worse(rc, region_verify(t, buf, p[i].from, p[i].to,
						  p[i].seed, name));
	}
	return rc;
}
