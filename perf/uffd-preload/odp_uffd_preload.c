// SPDX-License-Identifier: GPL-2.0
/*
 * libodp-uffd-preload.so: run an unmodified libibverbs program (perftest)
 * with its ODP memory regions on userfaultfd-registered memory.
 *
 *   LD_PRELOAD=libodp-uffd-preload.so ODP_UFFD_MODE=uffd-minor \
 *   ODP_UFFD_EVICT_RATE=1000 ib_write_bw --odp ...
 *
 * Every registration of an ODP MR (IBV_ACCESS_ON_DEMAND) over private
 * anonymous memory is intercepted: the pages covering the buffer are copied
 * into a memfd, the memfd is mapped over the buffer at the same address
 * (MAP_FIXED | MAP_SHARED) and, in mode uffd-minor, the range is registered
 * with userfaultfd in MINOR mode.  A handler thread answers each fault with
 * UFFDIO_CONTINUE (the data stays in the memfd's page cache: nothing is lost)
 * and an eviction thread zaps the page tables (MADV_DONTNEED) of the
 * registered buffers at ODP_UFFD_EVICT_RATE pages per second, so the device
 * keeps faulting.  Counters (faults, handler latency, evictions) are printed
 * at exit.  See Documentation/uffd-preload.md for the modes and the limits.
 *
 * An LD_PRELOAD library has no caller to hand its state to: all of it lives
 * in the one structure "P" below, guarded by P.lock (regions) or atomics.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <infiniband/verbs.h>

/* The header turns these names into inline wrappers; we define the symbols. */
#undef ibv_reg_mr
#undef ibv_reg_mr_iova

#define EXPORT __attribute__((visibility("default")))
#define LOG_PREFIX "odp-uffd-preload: "

enum mode {
	MODE_OFF,		/* pass everything through, count nothing */
	MODE_ANON,		/* keep the buffer; evict it (data is lost!) */
	MODE_SHMEM,		/* move to a memfd; evict; no userfaultfd */
	MODE_UFFD_MINOR,	/* move to a memfd; register MINOR; evict */
};

static const char *const mode_names[] = {
	[MODE_OFF] = "off",
	[MODE_ANON] = "anon",
	[MODE_SHMEM] = "shmem",
	[MODE_UFFD_MINOR] = "uffd-minor",
};

/* One buffer under our control (page-rounded); several MRs may share it. */
struct region {
	struct region *next;
	uintptr_t start;
	size_t len;
	int memfd;		/* -1 in mode anon */
	unsigned int refs;	/* MRs registered on it */
	size_t cursor;		/* next page (offset) the evictor drops */
};

/* The MRs we registered, to find their region again at deregistration. */
struct mr_link {
	struct mr_link *next;
	struct ibv_mr *mr;
	struct region *region;
};

/*
 * Handler latency histogram: 8 linear sub-buckets per power of two of
 * nanoseconds (at most 12.5 % error on a percentile).
 */
#define LAT_SUB_BITS	3
#define LAT_SUB		(1u << LAT_SUB_BITS)
#define LAT_BUCKETS	(64 * LAT_SUB)

struct stats {
	atomic_ulong regions;		/* buffers moved / taken over */
	atomic_ulong regions_skipped;	/* ODP MRs left alone (see log) */
	atomic_ulong mrs_non_odp;	/* non-ODP MRs passed through */
	atomic_ulong faults;		/* uffd page faults answered */
	atomic_ulong faults_own;	/* raised by one of our threads */
	atomic_ulong faults_other;	/* raised by another task (device) */
	atomic_ulong continue_eexist;	/* page already mapped: woken */
	atomic_ulong evicted_pages;
	atomic_ulong evict_calls;
	atomic_ulong errors;
	/* Handler thread only (read after it is joined). */
	uint64_t lat_sum_ns, lat_max_ns, lat_min_ns;
	uint64_t lat_hist[LAT_BUCKETS];
};

struct real_fns {
	struct ibv_mr *(*reg_mr_iova2)(struct ibv_pd *, void *, size_t,
				       uint64_t, unsigned int);
	struct ibv_mr *(*reg_mr_ex)(struct ibv_pd *, struct ibv_mr_init_attr *);
	int (*dereg_mr)(struct ibv_mr *);
};

static struct {
	pthread_once_t once;
	bool ready;			/* init succeeded */
	enum mode mode;
	double evict_rate;		/* pages per second, 0 = none */
	const char *stats_path;
	bool verbose;
	long page_size;
	struct real_fns real;

	pthread_mutex_t lock;		/* regions, links, thread start */
	struct region *regions;
	struct mr_link *links;
	int uffd;
	int stop_fd;			/* eventfd: stop the threads */
	bool handler_started, evictor_started;
	pthread_t handler, evictor;

	struct stats st;
} P = {
	.once = PTHREAD_ONCE_INIT,
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.uffd = -1,
	.stop_fd = -1,
	.st.lat_min_ns = UINT64_MAX,
};

static void logmsg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void logmsg(const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	/* One write per message: server and client share a terminal. */
	fprintf(stderr, LOG_PREFIX "%s\n", buf);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ------------------------------------------------------------------ */
/* Configuration and lazy initialisation                               */

static bool parse_mode(const char *s, enum mode *mode)
{
	for (size_t i = 0; i < sizeof(mode_names) / sizeof(mode_names[0]); i++) {
		if (strcmp(s, mode_names[i]) == 0) {
			*mode = (enum mode)i;
			return true;
		}
	}
	return false;
}

static bool resolve(void **fn, const char *name)
{
	dlerror();
	*fn = dlsym(RTLD_NEXT, name);
	if (!*fn) {
		const char *err = dlerror();

		logmsg("cannot find the real %s: %s", name,
		       err ? err : "no such symbol");
		return false;
	}
	return true;
}

static void init_once(void)
{
	const char *s;
	char *end;

	P.page_size = sysconf(_SC_PAGESIZE);
	P.mode = MODE_UFFD_MINOR;
	s = getenv("ODP_UFFD_MODE");
	if (s && *s && !parse_mode(s, &P.mode)) {
		logmsg("ODP_UFFD_MODE=%s: unknown mode (off, anon, shmem, uffd-minor); "
		       "passing every MR through", s);
		P.mode = MODE_OFF;
	}
	s = getenv("ODP_UFFD_EVICT_RATE");
	if (s && *s) {
		errno = 0;
		P.evict_rate = strtod(s, &end);
		if (errno || *end || P.evict_rate < 0) {
			logmsg("ODP_UFFD_EVICT_RATE=%s: not a rate in pages/s; no eviction", s);
			P.evict_rate = 0;
		}
	}
	P.stats_path = getenv("ODP_UFFD_STATS");
	s = getenv("ODP_UFFD_VERBOSE");
	P.verbose = s && *s && strcmp(s, "0") != 0;

	if (!resolve((void **)&P.real.reg_mr_iova2, "ibv_reg_mr_iova2") ||
	    !resolve((void **)&P.real.dereg_mr, "ibv_dereg_mr"))
		return;
	/* rdma-core >= 1.15 only; without it the wrapper fails with ENOSYS. */
	P.real.reg_mr_ex = dlsym(RTLD_NEXT, "ibv_reg_mr_ex");
	P.ready = true;
	if (P.verbose)
		logmsg("mode %s, eviction %.0f pages/s, stats %s",
		       mode_names[P.mode], P.evict_rate,
		       P.stats_path ? P.stats_path : "stderr only");
}

static bool init(void)
{
	int err = pthread_once(&P.once, init_once);

	if (err) {
		logmsg("pthread_once failed: %s", strerror(err));
		return false;
	}
	return P.ready;
}

/* ------------------------------------------------------------------ */
/* userfaultfd                                                          */

static int uffd_open(void)
{
	struct uffdio_api api = {
		.api = UFFD_API,
		.features = UFFD_FEATURE_MINOR_SHMEM | UFFD_FEATURE_THREAD_ID,
	};
	int fd, dev;

	/* Not UFFD_USER_MODE_ONLY: that answers device faults with SIGBUS. */
	fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (fd < 0 && errno == EPERM) {
		dev = open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);
		if (dev < 0) {
			logmsg("userfaultfd: EPERM, and open /dev/userfaultfd: %s",
			       strerror(errno));
			return -1;
		}
		fd = ioctl(dev, USERFAULTFD_IOC_NEW, O_CLOEXEC | O_NONBLOCK);
		if (fd < 0)
			logmsg("USERFAULTFD_IOC_NEW: %s", strerror(errno));
		close(dev);
	} else if (fd < 0) {
		logmsg("userfaultfd(): %s", strerror(errno));
	}
	if (fd < 0)
		return -1;
	if (ioctl(fd, UFFDIO_API, &api)) {
		logmsg("UFFDIO_API (MINOR_SHMEM | THREAD_ID): %s", strerror(errno));
		close(fd);
		return -1;
	}
	if (!(api.features & UFFD_FEATURE_MINOR_SHMEM)) {
		logmsg("the kernel has no UFFD_FEATURE_MINOR_SHMEM");
		close(fd);
		return -1;
	}
	return fd;
}

static unsigned int lat_bucket(uint64_t ns)
{
	unsigned int msb, sub;

	if (ns < LAT_SUB)
		return (unsigned int)ns;
	msb = 63u - (unsigned int)__builtin_clzll(ns);
	sub = (unsigned int)(ns >> (msb - LAT_SUB_BITS)) & (LAT_SUB - 1);
	return (msb - LAT_SUB_BITS + 1) * LAT_SUB + sub;
}

/* Upper bound of a bucket in ns (what a percentile reports). */
static uint64_t lat_bucket_ceil(unsigned int b)
{
	unsigned int shift;

	if (b < LAT_SUB)
		return b;
	shift = b / LAT_SUB - 1;
	return ((uint64_t)(LAT_SUB + b % LAT_SUB + 1) << shift) - 1;
}

static void lat_record(uint64_t ns)
{
	P.st.lat_hist[lat_bucket(ns)]++;
	P.st.lat_sum_ns += ns;
	if (ns > P.st.lat_max_ns)
		P.st.lat_max_ns = ns;
	if (ns < P.st.lat_min_ns)
		P.st.lat_min_ns = ns;
}

static uint64_t lat_percentile(double pct)
{
	uint64_t total = 0, seen = 0, want;

	for (unsigned int b = 0; b < LAT_BUCKETS; b++)
		total += P.st.lat_hist[b];
	if (!total)
		return 0;
	want = (uint64_t)(pct / 100.0 * (double)total + 0.5);
	if (want < 1)
		want = 1;
	for (unsigned int b = 0; b < LAT_BUCKETS; b++) {
		seen += P.st.lat_hist[b];
		if (seen >= want) {
			uint64_t ceil = lat_bucket_ceil(b);

			return ceil < P.st.lat_max_ns ? ceil : P.st.lat_max_ns;
		}
	}
	return P.st.lat_max_ns;
}

/* Map the faulting page from the page cache; wake the waiter in any case. */
static void resolve_fault(const struct uffd_msg *msg, uint64_t t_read)
{
	uint64_t page = msg->arg.pagefault.address & ~((uint64_t)P.page_size - 1);
	struct uffdio_continue cont = {
		.range = { .start = page, .len = (uint64_t)P.page_size },
	};
	pid_t ptid = (pid_t)msg->arg.pagefault.feat.ptid;

	while (ioctl(P.uffd, UFFDIO_CONTINUE, &cont)) {
		if (errno == EAGAIN) {		/* mm changing: retry */
			cont.mapped = 0;
			continue;
		}
		if (errno == EEXIST) {		/* mapped meanwhile */
			struct uffdio_range wake = cont.range;

			atomic_fetch_add(&P.st.continue_eexist, 1);
			if (ioctl(P.uffd, UFFDIO_WAKE, &wake)) {
				logmsg("UFFDIO_WAKE 0x%" PRIx64 ": %s", page,
				       strerror(errno));
				atomic_fetch_add(&P.st.errors, 1);
			}
			break;
		}
		logmsg("UFFDIO_CONTINUE 0x%" PRIx64 ": %s", page, strerror(errno));
		atomic_fetch_add(&P.st.errors, 1);
		break;
	}
	lat_record(now_ns() - t_read);
	atomic_fetch_add(&P.st.faults, 1);
	/* Our own thread (CPU access, synchronous verb) or another task? */
	if (ptid && syscall(SYS_tgkill, getpid(), ptid, 0) == 0)
		atomic_fetch_add(&P.st.faults_own, 1);
	else
		atomic_fetch_add(&P.st.faults_other, 1);
}

/*
 * Unregister every buffer from the userfaultfd: pending faults are woken and
 * complete as ordinary ones.  Used when nobody will answer faults any more
 * (handler failure, exit).
 */
static void unregister_all(const char *why)
{
	pthread_mutex_lock(&P.lock);
	for (struct region *r = P.regions; r && P.uffd >= 0; r = r->next) {
		struct uffdio_range range = { .start = r->start, .len = r->len };

		if (ioctl(P.uffd, UFFDIO_UNREGISTER, &range) &&
		    errno != EINVAL && errno != ENOMEM)
			logmsg("UFFDIO_UNREGISTER (%s) 0x%" PRIxPTR ": %s",
			       why, r->start, strerror(errno));
	}
	pthread_mutex_unlock(&P.lock);
}

/* The handler cannot go on: leave the buffers as plain shared memory. */
static void *handler_fail(const char *what, int err)
{
	logmsg("handler: %s: %s; buffers unregistered from the userfaultfd", what,
	       strerror(err));
	atomic_fetch_add(&P.st.errors, 1);
	unregister_all("handler failure");
	return NULL;
}

static void *handler_main(void *arg)
{
	struct uffd_msg msgs[64];
	struct pollfd pfd[2] = {
		{ .fd = P.uffd, .events = POLLIN },
		{ .fd = P.stop_fd, .events = POLLIN },
	};
	(void)arg;

	for (;;) {
		ssize_t n;
		uint64_t t_read;

		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return handler_fail("poll", errno);
		}
		if (pfd[1].revents)
			return NULL;
		if (pfd[0].revents & (POLLERR | POLLHUP))
			return handler_fail("poll on the userfaultfd", EIO);
		n = read(P.uffd, msgs, sizeof(msgs));
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				continue;
			return handler_fail("read userfaultfd", errno);
		}
		t_read = now_ns();
		for (size_t i = 0; i < (size_t)n / sizeof(msgs[0]); i++) {
			if (msgs[i].event == UFFD_EVENT_PAGEFAULT) {
				resolve_fault(&msgs[i], t_read);
			} else {
				logmsg("handler: unexpected event 0x%x", msgs[i].event);
				atomic_fetch_add(&P.st.errors, 1);
			}
		}
	}
}

/* ------------------------------------------------------------------ */
/* Eviction                                                             */

/*
 * Drop up to @budget pages, round robin over the regions, each page at most
 * once per call (more would only repeat the same zap).  P.lock held.
 */
static uint64_t evict_pages(uint64_t budget, struct region **next)
{
	uint64_t done = 0, total = 0;
	unsigned int idle = 0;

	for (struct region *r = P.regions; r; r = r->next)
		total += r->len / (size_t)P.page_size;
	if (budget > total)
		budget = total;

	while (budget && P.regions && idle < 2) {
		struct region *r = *next ? *next : P.regions;
		size_t pages = r->len / (size_t)P.page_size;
		size_t first = r->cursor;
		size_t n = pages - first;

		if (n > budget)
			n = (size_t)budget;
		if (madvise((void *)(r->start + first * (size_t)P.page_size),
			    n * (size_t)P.page_size, MADV_DONTNEED)) {
			logmsg("evictor: madvise(MADV_DONTNEED) 0x%" PRIxPTR
			       " +%zu pages: %s", r->start + first * (size_t)P.page_size,
			       n, strerror(errno));
			atomic_fetch_add(&P.st.errors, 1);
			idle++;
		} else {
			atomic_fetch_add(&P.st.evict_calls, 1);
			idle = 0;
		}
		done += n;
		budget -= n;
		r->cursor = (first + n) % pages;
		*next = r->cursor ? r : r->next;
	}
	return done;
}

static void *evictor_main(void *arg)
{
	const uint64_t tick_ns = 10 * 1000 * 1000;	/* 100 ticks/s */
	const double max_backlog = P.evict_rate / 10;	/* 100 ms worth */
	struct pollfd pfd = { .fd = P.stop_fd, .events = POLLIN };
	struct region *next = NULL;
	uint64_t t0 = now_ns(), evicted = 0;
	(void)arg;

	for (;;) {
		double due;
		uint64_t budget;
		int ret;

		ret = poll(&pfd, 1, (int)(tick_ns / 1000000));
		if (ret < 0 && errno != EINTR) {
			logmsg("evictor: poll: %s; eviction stops", strerror(errno));
			atomic_fetch_add(&P.st.errors, 1);
			return NULL;
		}
		if (ret > 0)
			return NULL;
		due = P.evict_rate * (double)(now_ns() - t0) / 1e9 - (double)evicted;
		/* A slow (TCG) guest must not turn a backlog into a burst. */
		if (due > max_backlog && max_backlog >= 1) {
			evicted += (uint64_t)(due - max_backlog);
			due = max_backlog;
		}
		if (due < 1)
			continue;
		budget = (uint64_t)due;
		pthread_mutex_lock(&P.lock);
		/* @next may have been freed by a deregistration: revalidate. */
		for (struct region *r = P.regions; next; r = r->next) {
			if (!r) {
				next = NULL;
				break;
			}
			if (r == next)
				break;
		}
		if (!P.regions) {
			evicted += budget;	/* nothing to drop: do not accumulate */
		} else {
			uint64_t n = evict_pages(budget, &next);

			atomic_fetch_add(&P.st.evicted_pages, n);
			evicted += budget;
		}
		pthread_mutex_unlock(&P.lock);
	}
}

/* Our threads take no signals: the program's SIGALRM etc. go to its own. */
static int start_thread(pthread_t *th, void *(*fn)(void *), const char *name)
{
	sigset_t all, old;
	int err;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	err = pthread_create(th, NULL, fn, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err) {
		logmsg("pthread_create(%s): %s", name, strerror(err));
		return -1;
	}
	pthread_setname_np(*th, name);
	return 0;
}

/* P.lock held.  Starts what the mode needs on the first ODP MR. */
static int start_machinery(void)
{
	if (P.stop_fd < 0) {
		P.stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (P.stop_fd < 0) {
			logmsg("eventfd: %s", strerror(errno));
			return -1;
		}
	}
	if (P.mode == MODE_UFFD_MINOR && !P.handler_started) {
		if (P.uffd < 0)
			P.uffd = uffd_open();
		if (P.uffd < 0)
			return -1;
		if (start_thread(&P.handler, handler_main, "odp-uffd-handl"))
			return -1;
		P.handler_started = true;
	}
	if (P.evict_rate > 0 && !P.evictor_started) {
		if (start_thread(&P.evictor, evictor_main, "odp-uffd-evict"))
			return -1;
		P.evictor_started = true;
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* Taking over a buffer                                                 */

/*
 * Is [start, end) covered, without holes, by private anonymous read-write
 * mappings (heap, malloc'ed or mmap'ed memory)?  Anything else (files,
 * shared memory, hugetlbfs, stacks) is left alone.
 */
static bool range_is_private_anon(uintptr_t start, uintptr_t end)
{
	FILE *f = fopen("/proc/self/maps", "re");
	char line[512];
	uintptr_t covered = start;
	bool ok = false;

	if (!f) {
		logmsg("open /proc/self/maps: %s", strerror(errno));
		return false;
	}
	while (fgets(line, sizeof(line), f)) {
		unsigned long lo, hi, off, ino;
		char perms[5], dev[16], path[256] = "";
		int n = sscanf(line, "%lx-%lx %4s %lx %15s %lu %255s",
			       &lo, &hi, perms, &off, dev, &ino, path);

		if (n < 6 || hi <= covered)
			continue;
		if (lo > covered)
			break;				/* a hole */
		if (strcmp(perms, "rw-p") || ino != 0 ||
		    (path[0] && strcmp(path, "[heap]")))
			break;
		covered = hi;
		if (covered >= end) {
			ok = true;
			break;
		}
	}
	fclose(f);
	return ok;
}

static struct region *region_find(uintptr_t start, uintptr_t end, bool *overlap)
{
	*overlap = false;
	for (struct region *r = P.regions; r; r = r->next) {
		if (start >= r->start && end <= r->start + r->len)
			return r;
		if (start < r->start + r->len && end > r->start)
			*overlap = true;
	}
	return NULL;
}

/* Copy the pages to a memfd and map it over them: same address, same data. */
static int move_to_memfd(struct region *r)
{
	void *p;
	size_t done = 0;

	r->memfd = memfd_create("odp-uffd-preload", MFD_CLOEXEC);
	if (r->memfd < 0) {
		logmsg("memfd_create: %s", strerror(errno));
		return -1;
	}
	if (ftruncate(r->memfd, (off_t)r->len)) {
		logmsg("ftruncate memfd to %zu: %s", r->len, strerror(errno));
		goto err;
	}
	while (done < r->len) {
		ssize_t n = pwrite(r->memfd, (char *)r->start + done, r->len - done,
				   (off_t)done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			logmsg("copying the buffer into the memfd (pwrite at %zu): %s",
			       done, n < 0 ? strerror(errno) : "short write");
			goto err;
		}
		done += (size_t)n;
	}
	p = mmap((void *)r->start, r->len, PROT_READ | PROT_WRITE,
		 MAP_SHARED | MAP_FIXED, r->memfd, 0);
	if (p == MAP_FAILED) {
		/* The old pages may be gone: the program cannot go on. */
		logmsg("mmap(MAP_FIXED) of the memfd over 0x%" PRIxPTR " +%zu: %s; aborting",
		       r->start, r->len, strerror(errno));
		abort();
	}
	return 0;
err:
	close(r->memfd);
	r->memfd = -1;
	return -1;
}

static int uffd_register(struct region *r)
{
	struct uffdio_register reg = {
		.range = { .start = r->start, .len = r->len },
		.mode = UFFDIO_REGISTER_MODE_MINOR,
	};

	if (ioctl(P.uffd, UFFDIO_REGISTER, &reg)) {
		logmsg("UFFDIO_REGISTER (MINOR) 0x%" PRIxPTR " +%zu: %s",
		       r->start, r->len, strerror(errno));
		return -1;
	}
	if (!(reg.ioctls & (1ull << _UFFDIO_CONTINUE))) {
		logmsg("UFFDIO_REGISTER: no UFFDIO_CONTINUE on this range");
		return -1;
	}
	return 0;
}

/*
 * Find or create the region for an ODP MR at [addr, addr + len).  P.lock
 * held.  NULL means "register the MR untouched" (reason logged, counted).
 */
static struct region *take_over(void *addr, size_t len)
{
	uintptr_t mask = (uintptr_t)P.page_size - 1;
	uintptr_t start = (uintptr_t)addr & ~mask;
	uintptr_t end = ((uintptr_t)addr + len + mask) & ~mask;
	struct region *r;
	bool overlap;

	if (!len || (uintptr_t)addr + len < (uintptr_t)addr) {
		atomic_fetch_add(&P.st.regions_skipped, 1);
		return NULL;
	}
	r = region_find(start, end, &overlap);
	if (r) {
		r->refs++;
		return r;
	}
	if (overlap || !range_is_private_anon(start, end)) {
		if (P.verbose || overlap)
			logmsg("ODP MR %p +%zu: %s; registered unchanged", addr, len,
			       overlap ? "partly overlaps a buffer already taken over"
				       : "not private anonymous rw memory");
		atomic_fetch_add(&P.st.regions_skipped, 1);
		return NULL;
	}
	if (start_machinery()) {
		atomic_fetch_add(&P.st.regions_skipped, 1);
		return NULL;
	}
	r = calloc(1, sizeof(*r));
	if (!r) {
		logmsg("calloc region: %s", strerror(errno));
		return NULL;
	}
	*r = (struct region){ .start = start, .len = end - start, .memfd = -1,
			      .refs = 1 };
	if (P.mode != MODE_ANON && move_to_memfd(r))
		goto err;
	if (P.mode == MODE_UFFD_MINOR && uffd_register(r))
		goto err;
	r->next = P.regions;
	P.regions = r;
	atomic_fetch_add(&P.st.regions, 1);
	if (P.verbose)
		logmsg("ODP MR %p +%zu: pages 0x%" PRIxPTR " +%zu now %s", addr, len,
		       start, r->len, mode_names[P.mode]);
	return r;
err:
	/* A memfd stays mapped (same data): only the uffd part is missing. */
	atomic_fetch_add(&P.st.regions_skipped, 1);
	if (r->memfd >= 0)
		close(r->memfd);
	free(r);
	return NULL;
}

/* P.lock held. */
static void region_put(struct region *r)
{
	struct region **pp;

	if (--r->refs)
		return;
	for (pp = &P.regions; *pp && *pp != r; pp = &(*pp)->next)
		;
	if (*pp)
		*pp = r->next;
	if (P.mode == MODE_UFFD_MINOR) {
		struct uffdio_range range = { .start = r->start, .len = r->len };

		/* ENOMEM/EINVAL: the program unmapped the buffer already. */
		if (ioctl(P.uffd, UFFDIO_UNREGISTER, &range) &&
		    errno != EINVAL && errno != ENOMEM) {
			logmsg("UFFDIO_UNREGISTER 0x%" PRIxPTR " +%zu: %s",
			       r->start, r->len, strerror(errno));
			atomic_fetch_add(&P.st.errors, 1);
		}
	}
	/* The mapping keeps the memfd's pages; the program frees the memory. */
	if (r->memfd >= 0)
		close(r->memfd);
	free(r);
}

static struct ibv_mr *register_odp(void *addr, size_t len,
				   struct ibv_mr *(*reg)(void *), void *reg_arg)
{
	struct region *r = NULL;
	struct mr_link *link;
	struct ibv_mr *mr;
	int saved;

	pthread_mutex_lock(&P.lock);
	r = take_over(addr, len);
	mr = reg(reg_arg);
	saved = errno;
	if (!r)
		goto out;
	if (!mr) {
		region_put(r);
		goto out;
	}
	link = malloc(sizeof(*link));
	if (!link) {
		/* Cannot find the region at dereg: keep it for the process. */
		logmsg("malloc MR link: %s; buffer %p stays registered", strerror(errno),
		       addr);
		goto out;
	}
	*link = (struct mr_link){ .next = P.links, .mr = mr, .region = r };
	P.links = link;
out:
	pthread_mutex_unlock(&P.lock);
	errno = saved;
	return mr;
}

/* ------------------------------------------------------------------ */
/* Interposed libibverbs entry points                                   */

struct iova2_args {
	struct ibv_pd *pd;
	void *addr;
	size_t length;
	uint64_t iova;
	unsigned int access;
};

static struct ibv_mr *call_iova2(void *arg)
{
	struct iova2_args *a = arg;

	return P.real.reg_mr_iova2(a->pd, a->addr, a->length, a->iova, a->access);
}

EXPORT struct ibv_mr *ibv_reg_mr_iova2(struct ibv_pd *pd, void *addr, size_t length,
				       uint64_t iova, unsigned int access)
{
	struct iova2_args a = { pd, addr, length, iova, access };

	if (!init()) {
		errno = ENOSYS;
		return NULL;
	}
	if (P.mode == MODE_OFF || !(access & IBV_ACCESS_ON_DEMAND) || !addr) {
		if (P.mode != MODE_OFF)
			atomic_fetch_add(&P.st.mrs_non_odp, 1);
		return call_iova2(&a);
	}
	return register_odp(addr, length, call_iova2, &a);
}

/* libibverbs' own ibv_reg_mr and ibv_reg_mr_iova are ibv_reg_mr_iova2. */
EXPORT struct ibv_mr *ibv_reg_mr(struct ibv_pd *pd, void *addr, size_t length,
				 int access)
{
	return ibv_reg_mr_iova2(pd, addr, length, (uintptr_t)addr,
				(unsigned int)access);
}

EXPORT struct ibv_mr *ibv_reg_mr_iova(struct ibv_pd *pd, void *addr, size_t length,
				      uint64_t iova, int access)
{
	return ibv_reg_mr_iova2(pd, addr, length, iova, (unsigned int)access);
}

struct ex_args {
	struct ibv_pd *pd;
	struct ibv_mr_init_attr *attr;
};

static struct ibv_mr *call_ex(void *arg)
{
	struct ex_args *a = arg;

	return P.real.reg_mr_ex(a->pd, a->attr);
}

EXPORT struct ibv_mr *ibv_reg_mr_ex(struct ibv_pd *pd,
				    struct ibv_mr_init_attr *attr)
{
	struct ex_args a = { pd, attr };
	uint64_t other = IBV_REG_MR_MASK_FD | IBV_REG_MR_MASK_FD_OFFSET |
			 IBV_REG_MR_MASK_DMAH | IBV_REG_MR_MASK_BUF;

	if (!init() || !P.real.reg_mr_ex) {
		errno = ENOSYS;
		return NULL;
	}
	/* Only plain virtual-address ODP registrations are taken over. */
	if (P.mode == MODE_OFF || !(attr->access & IBV_ACCESS_ON_DEMAND) ||
	    !(attr->comp_mask & IBV_REG_MR_MASK_ADDR) || (attr->comp_mask & other)) {
		if (P.mode != MODE_OFF)
			atomic_fetch_add(&P.st.mrs_non_odp, 1);
		return call_ex(&a);
	}
	return register_odp(attr->addr, attr->length, call_ex, &a);
}

EXPORT int ibv_dereg_mr(struct ibv_mr *mr)
{
	struct mr_link **pp, *link = NULL;
	int ret;

	if (!init())
		return ENOSYS;
	pthread_mutex_lock(&P.lock);
	for (pp = &P.links; *pp; pp = &(*pp)->next) {
		if ((*pp)->mr == mr) {
			link = *pp;
			*pp = link->next;
			break;
		}
	}
	/*
	 * Deregister with the userfaultfd still answering: a device fault
	 * pending on this MR must complete before the MR can go.
	 */
	pthread_mutex_unlock(&P.lock);
	ret = P.real.dereg_mr(mr);
	if (!link)
		return ret;
	pthread_mutex_lock(&P.lock);
	if (ret) {
		link->next = P.links;	/* still registered */
		P.links = link;
	} else {
		region_put(link->region);
		free(link);
	}
	pthread_mutex_unlock(&P.lock);
	return ret;
}

/* ------------------------------------------------------------------ */
/* Exit: stop the threads, report                                       */

static void report(FILE *f, const char *sep)
{
	unsigned long faults = atomic_load(&P.st.faults);

	fprintf(f, "mode=%s%sevict_rate=%.0f%sregions=%lu%sregions_skipped=%lu%s"
		"mrs_non_odp=%lu%sfaults=%lu%sfaults_own=%lu%sfaults_other=%lu%s"
		"continue_eexist=%lu%sevicted_pages=%lu%sevict_calls=%lu%serrors=%lu",
		mode_names[P.mode], sep, P.evict_rate, sep,
		atomic_load(&P.st.regions), sep, atomic_load(&P.st.regions_skipped), sep,
		atomic_load(&P.st.mrs_non_odp), sep, faults, sep,
		atomic_load(&P.st.faults_own), sep, atomic_load(&P.st.faults_other), sep,
		atomic_load(&P.st.continue_eexist), sep,
		atomic_load(&P.st.evicted_pages), sep, atomic_load(&P.st.evict_calls), sep,
		atomic_load(&P.st.errors));
	if (faults)
		fprintf(f, "%shandler_ns_min=%" PRIu64 "%shandler_ns_avg=%" PRIu64
			"%shandler_ns_p50=%" PRIu64 "%shandler_ns_p99=%" PRIu64
			"%shandler_ns_max=%" PRIu64,
			sep, P.st.lat_min_ns, sep, P.st.lat_sum_ns / faults,
			sep, lat_percentile(50), sep, lat_percentile(99),
			sep, P.st.lat_max_ns);
	fputc('\n', f);
}

/* "%p" in ODP_UFFD_STATS becomes the pid (server and client, one path). */
static void stats_path(char *buf, size_t size)
{
	const char *p = strstr(P.stats_path, "%p");

	if (p)
		snprintf(buf, size, "%.*s%d%s", (int)(p - P.stats_path), P.stats_path,
			 (int)getpid(), p + 2);
	else
		snprintf(buf, size, "%s", P.stats_path);
}

__attribute__((destructor)) static void preload_fini(void)
{
	uint64_t one = 1;
	char path[PATH_MAX];
	FILE *f;

	/* Silent in programs that registered no ODP MR. */
	if (!P.ready || (!atomic_load(&P.st.regions) &&
			 !atomic_load(&P.st.regions_skipped)))
		return;
	/*
	 * MRs still registered (the program exits without deregistering):
	 * unregister their ranges first, which wakes any pending fault and
	 * lets it complete as an ordinary one.  Otherwise a device fault
	 * could wait on a handler that is gone while the exiting process
	 * destroys its QPs before it closes the userfaultfd.
	 */
	unregister_all("exit");
	if (P.stop_fd >= 0 && write(P.stop_fd, &one, sizeof(one)) != sizeof(one))
		logmsg("stopping the threads (eventfd write): %s", strerror(errno));
	if (P.evictor_started)
		pthread_join(P.evictor, NULL);
	if (P.handler_started)
		pthread_join(P.handler, NULL);
	fputs(LOG_PREFIX, stderr);
	report(stderr, " ");
	if (!P.stats_path || !*P.stats_path)
		return;
	stats_path(path, sizeof(path));
	f = fopen(path, "ae");
	if (!f) {
		logmsg("open stats file %s: %s", path, strerror(errno));
		return;
	}
	report(f, "\n");
	if (fclose(f))
		logmsg("writing stats file %s: %s", path, strerror(errno));
}
