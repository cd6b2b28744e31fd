/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Test memory of the libibverbs ODP tests: plain mappings, memory of several
 * kinds (anonymous, shmem memfd, hugetlb memfd, each optionally with a second
 * "alias" mapping of the same file) with one ops table per kind, and the
 * position-dependent data patterns every data check uses.
 */
#ifndef LIBIBVERBS_TESTS_MEM_H
#define LIBIBVERBS_TESTS_MEM_H

#include "tap.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

size_t page_size(void);
/* Anonymous private mapping; *addr stays NULL on failure. */
int mem_map(struct test_ctx *t, size_t len, void **addr, const char *what);
/* munmap and clear *addr; no-op if *addr is NULL. */
int mem_unmap(struct test_ctx *t, void **addr, size_t len, const char *what);

/* Byte at position pos (from the start of a page-aligned region). */
static inline uint8_t pattern_byte(uint32_t seed, size_t pos, size_t psz)
{
	size_t page = pos / psz, off = pos % psz;

	return (uint8_t)(seed * 131u + page * 7u + off * 13u + (off >> 8));
}

/* buf[i] = pattern_byte(seed, pos + i) */
void pattern_fill(void *buf, size_t len, uint32_t seed, size_t pos,
		  size_t psz);
/* Check buf against the pattern; report the first mismatch. */
int pattern_verify(struct test_ctx *t, const void *buf, size_t len,
		   uint32_t seed, size_t pos, size_t psz, const char *what);
/* Check that every byte of buf equals val; pos is only used in messages. */
int bytes_verify(struct test_ctx *t, const void *buf, size_t len, uint8_t val,
		 size_t pos, const char *what);



/* ------------------------------------------------------------------ */
/* Test memory                                                          */

enum tmem_kind {
	TMEM_ANON,	/* MAP_PRIVATE | MAP_ANONYMOUS */
	TMEM_SHMEM,	/* memfd_create(), MAP_SHARED */
	TMEM_HUGETLB,	/* memfd_create(MFD_HUGETLB | MFD_HUGE_2MB), MAP_SHARED */
};

#define TMEM_HUGE_SIZE	(2UL << 20)

struct tmem {
	enum tmem_kind kind;
	int memfd;		/* -1 for anonymous memory */
	uint8_t *addr;		/* the mapping the tests register */
	uint8_t *alias;		/* second MAP_SHARED mapping of memfd, or NULL */
	size_t len;
	size_t psz;		/* backing page size: 4 KiB or 2 MiB */
};

const char *tmem_kind_str(enum tmem_kind kind);
/*
 * Map len bytes (a multiple of the backing page size) of the given kind;
 * with_alias maps the memfd a second time (not for TMEM_ANON).  TEST_SKIP
 * when hugetlb pages are not available.  On failure nothing stays mapped.
 */
int tmem_create(struct test_ctx *t, struct tmem *m, enum tmem_kind kind,
		size_t len, bool with_alias);
/* Unmap and close; no-op on a zeroed/failed tmem. */
int tmem_destroy(struct test_ctx *t, struct tmem *m);
static inline void tmem_init(struct tmem *m)
{
	*m = (struct tmem){ .memfd = -1 };
}

/*
 * What a kind of memory is and what it needs from userfaultfd: one table
 * per kind (the model: uffd-common.c's uffd_test_ops per memory type).
 */
struct tmem_ops {
	const char *name;
	size_t (*page_size)(void);	/* backing page */
	bool file;			/* a memfd: has a page cache, an alias */
	/* UFFDIO_API features a registration of each mode needs */
	uint64_t missing_features, minor_features, wp_features;
	int (*map)(struct test_ctx *t, struct tmem *m, bool with_alias);
};

const struct tmem_ops *tmem_ops(enum tmem_kind kind);
/* The backing page size of kind: 4 KiB or 2 MiB. */
size_t tmem_page_size(enum tmem_kind kind);
/* The UFFDIO_API features registering memory of kind with reg_mode (one
 * UFFDIO_REGISTER_MODE_*) needs. */
uint64_t tmem_uffd_features(enum tmem_kind kind, uint64_t reg_mode);

/* ------------------------------------------------------------------ */
/* Transfer geometry and the byte checks every data test makes          */

/* The seed of "zero bytes" for region_verify()/layout_verify(): pattern
 * seeds of the tests are never zero. */
#define PAT_ZERO	0u

/*
 * A transfer of len bytes at offset off of a mapping of map_len bytes (whole
 * backing pages); the other buffer of the transfer has the same layout.
 * Pattern pages are 4 KiB (psz), backing pages bpsz.
 */
struct xfer_geom {
	size_t psz, bpsz;
	size_t off, len, map_len;
	size_t first_pg, npages;	/* backing pages the transfer spans */
};

/* [off, off + len) on bpsz-byte backing pages. */
struct xfer_geom xfer_geom_make(size_t bpsz, size_t off, size_t len);
/*
 * The tests' standard transfer on memory of kind: many packets with both
 * ends unaligned (64 KiB + 1000 bytes at offset 100), on hugetlb crossing
 * the boundary between two huge pages; one_packet: 1024 bytes at offset 0
 * (the transfer stock rxe's ODP copy gets right).
 */
struct xfer_geom xfer_geom_for(enum tmem_kind kind, bool one_packet);

/*
 * [from, to) of buf (whose byte 0 is pattern position 0) holds the pattern
 * of seed, or zero bytes for PAT_ZERO; nothing to check when to <= from.
 */
int region_verify(struct test_ctx *t, const uint8_t *buf, size_t from,
		  size_t to, uint32_t seed, const char *what);
/* The 8 bytes at pos of such a region, as a native-endian value. */
uint64_t region_u64(uint32_t seed, size_t pos);
/*
 * The head/body/tail check: [off, off + len) of buf holds inner, the rest
 * of [0, map_len) outer (either PAT_ZERO for zero bytes); what names buf.
 */
int layout_verify(struct test_ctx *t, const uint8_t *buf, size_t off,
		  size_t len, size_t map_len, uint32_t inner, uint32_t outer,
		  const char *what);
static inline int xfer_verify(struct test_ctx *t, const uint8_t *buf,
			      const struct xfer_geom *g, uint32_t inner,
			      uint32_t outer, const char *what)
{
	return layout_verify(t, buf, g->off, g->len, g->map_len, inner, outer,
			     what);
}

#endif /* LIBIBVERBS_TESTS_MEM_H */
