// SPDX-License-Identifier: GPL-2.0
/*
 * A device fault that waits on a file system's userspace server rather than
 * on a userfaultfd handler: an ODP MR over a shared mapping of a FUSE file
 * whose server holds its READ requests (Documentation/design.md, "Who sleeps
 * on userspace": the fault thread waits for it, rxe's shared work items do
 * not).
 *
 * The FUSE server is this program's own, on /dev/fuse without libfuse: one
 * file, "data", FUSE_FILE_PAGES pages long, whose byte at offset o is
 * pattern_byte(SEED_FUSE, o); it answers INIT with FUSE_ASYNC_READ (as
 * libfuse does by default), so readahead is sent in the background and the
 * device's fault never sends a request itself.  READ requests are held
 * while the test says so.
 *
 *   fuse_read_held   an RDMA READ whose responder faults on a page of the
 *                    file: while the server holds the READ, an RDMA WRITE
 *                    between pinned MRs on the same device completes, the
 *                    fault thread does not spin; once answered the READ
 *                    completes and every byte is the file's
 *   fuse_kill_held   the same in a child process that is then killed while
 *                    the server holds the READ: the child is reaped; its
 *                    RDMA resources are released once the server answers
 *                    (a FUSE request the server has read is waited for, as
 *                    the owner's own access would be)
 *
 *   fuse_sync_read_held
 *                    fuse_read_held with a server that answers INIT without
 *                    FUSE_ASYNC_READ, so that the READ is sent by the task
 *                    that faults, which waits for the answer with the
 *                    owner's mmap lock held: it must be the context's fault
 *                    thread (rxe_odp/<tgid>), never a shared rxe_wq worker;
 *                    the check comes before anything that needs the mmap
 *                    lock, so that a kernel without it fails, not hangs
 *
 * Needs root (mount) and CONFIG_FUSE_FS.
 */
#include "lib/verbs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/fuse.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#define SEED_FUSE	0x6bu
#define SEED_PIN	0x5au
#define FUSE_FILE_PAGES	16
#define FUSE_MNT	"/tmp/odp-uffd-fuse"
#define FUSE_NAME	"data"
#define FUSE_INO	2
#define MAX_HELD	64
#define HOLD_WAIT_MS	20000
#define HOLD_S		3	/* well below the debug kernel's hung-task 30 s */
#define RELEASE_BOUND_S	30
#define SPIN_LIMIT	0.5	/* CPU seconds the fault thread may use in HOLD_S */
#define WR_ID		0xf5e1u
#define ODP_READ	(IBV_ACCESS_ON_DEMAND | IBV_ACCESS_REMOTE_READ)
#define PIN_ACCESS	(IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE | \
			 IBV_ACCESS_REMOTE_READ)

struct held_read {
	uint64_t unique, offset;
	uint32_t size;
	uint32_t pid;		/* the task that sent the READ */
};

/* A test's variant (test_case.arg). */
struct read_mode {
	bool sync_read;		/* INIT without FUSE_ASYNC_READ */
};

static const struct read_mode async_read = { .sync_read = false };
static const struct read_mode sync_read = { .sync_read = true };

struct fuse_srv {
	int fd, stopfd;
	bool mounted, started;
	pthread_t thread;
	pthread_mutex_t lock;
	bool hold;			/* under lock */
	bool sync_read;			/* INIT without FUSE_ASYNC_READ */
	struct held_read held[MAX_HELD];
	unsigned int nheld;		/* under lock */
	atomic_uint reads;		/* READ requests seen */
	size_t psz, size;
	const char *failed;		/* what failed in the server, and errno */
	int err;
	uint8_t *buf;
	uint8_t *image;			/* the file's bytes */
};

static int srv_reply(struct fuse_srv *s, uint64_t unique, int error,
		     const void *data, size_t len)
{
	struct fuse_out_header oh = {
		.len = (uint32_t)(sizeof(oh) + len), .error = -error,
		.unique = unique,
	};
	struct iovec iov[2] = {
		{ .iov_base = &oh, .iov_len = sizeof(oh) },
		{ .iov_base = (void *)data, .iov_len = len },
	};

	/* A request whose caller was interrupted meanwhile is gone: ENOENT. */
	if (writev(s->fd, iov, len ? 2 : 1) < 0 && errno != ENOENT)
		return -errno;
	return 0;
}

static void srv_attr(const struct fuse_srv *s, uint64_t nodeid,
		     struct fuse_attr *a)
{
	memset(a, 0, sizeof(*a));
	a->ino = nodeid;
	a->nlink = 1;
	a->blksize = (uint32_t)s->psz;
	if (nodeid == FUSE_ROOT_ID) {
		a->mode = S_IFDIR | 0755;
	} else {
		a->mode = S_IFREG | 0444;
		a->size = s->size;
		a->blocks = s->size / 512;
	}
}

/*
 * Answer a READ with the file's bytes (the part inside the file), from the
 * file's image: no allocation, since while a READ is held by a kernel that
 * sends it with the mmap lock held, allocating may wait for that lock.
 */
static int srv_read_reply(struct fuse_srv *s, const struct held_read *r)
{
	size_t n = 0;

	if (r->offset < s->size)
		n = s->size - r->offset < r->size ? s->size - r->offset : r->size;
	return srv_reply(s, r->unique, 0, n ? s->image + r->offset : NULL, n);
}

static int srv_handle(struct fuse_srv *s, const struct fuse_in_header *ih,
		      const void *arg)
{
	switch (ih->opcode) {
	case FUSE_INIT: {
		const struct fuse_init_in *in = arg;
		struct fuse_init_out out = {
			.major = FUSE_KERNEL_VERSION,
			.minor = in->minor < FUSE_KERNEL_MINOR_VERSION ?
				in->minor : FUSE_KERNEL_MINOR_VERSION,
			.max_readahead = in->max_readahead,
			.flags = s->sync_read ? 0 : FUSE_ASYNC_READ,
			.max_background = 16, .congestion_threshold = 12,
			.max_write = 65536, .time_gran = 1,
		};

		return srv_reply(s, ih->unique, 0, &out, sizeof(out));
	}
	case FUSE_LOOKUP: {
		struct fuse_entry_out out = { 0 };

		if (ih->nodeid != FUSE_ROOT_ID || strcmp(arg, FUSE_NAME))
			return srv_reply(s, ih->unique, ENOENT, NULL, 0);
		out.nodeid = FUSE_INO;
		out.entry_valid = out.attr_valid = 3600;
		srv_attr(s, FUSE_INO, &out.attr);
		return srv_reply(s, ih->unique, 0, &out, sizeof(out));
	}
	case FUSE_GETATTR: {
		struct fuse_attr_out out = { .attr_valid = 3600 };

		srv_attr(s, ih->nodeid, &out.attr);
		return srv_reply(s, ih->unique, 0, &out, sizeof(out));
	}
	case FUSE_OPEN: {
		struct fuse_open_out out = { .fh = 1 };

		return srv_reply(s, ih->unique, 0, &out, sizeof(out));
	}
	case FUSE_READ: {
		const struct fuse_read_in *in = arg;
		struct held_read r = { .unique = ih->unique,
				       .offset = in->offset, .size = in->size,
				       .pid = ih->pid };
		bool hold;

		pthread_mutex_lock(&s->lock);
		hold = s->hold && s->nheld < MAX_HELD;
		if (hold)
			s->held[s->nheld++] = r;
		pthread_mutex_unlock(&s->lock);
		atomic_fetch_add(&s->reads, 1);
		return hold ? 0 : srv_read_reply(s, &r);
	}
	case FUSE_FLUSH:
	case FUSE_RELEASE:
	case FUSE_DESTROY:
		return srv_reply(s, ih->unique, 0, NULL, 0);
	case FUSE_FORGET:
	case FUSE_BATCH_FORGET:
	case FUSE_INTERRUPT:
		return 0;	/* no answer */
	default:
		return srv_reply(s, ih->unique, ENOSYS, NULL, 0);
	}
}

static void *srv_thread(void *arg)
{
	struct fuse_srv *s = arg;
	struct pollfd pfd[2] = {
		{ .fd = s->fd, .events = POLLIN },
		{ .fd = s->stopfd, .events = POLLIN },
	};
	const size_t bufsz = 65536 + 4096;
	ssize_t n;
	int err;

	for (;;) {
		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			s->failed = "poll(/dev/fuse)";
			s->err = errno;
			return NULL;
		}
		if (pfd[1].revents)
			return NULL;
		n = read(s->fd, s->buf, bufsz);
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN || errno == ENOENT)
				continue;
			if (errno == ENODEV)	/* unmounted */
				return NULL;
			s->failed = "read(/dev/fuse)";
			s->err = errno;
			return NULL;
		}
		if ((size_t)n < sizeof(struct fuse_in_header))
			continue;
		err = srv_handle(s, (const struct fuse_in_header *)s->buf,
				 s->buf + sizeof(struct fuse_in_header));
		if (err) {
			s->failed = "write(/dev/fuse)";
			s->err = -err;
			return NULL;
		}
	}
}

static int srv_start(struct test_ctx *t, struct fuse_srv *s, bool hold,
		     bool sync_read)
{
	char opts[128];
	int err;

	memset(s, 0, sizeof(*s));
	s->fd = s->stopfd = -1;
	s->psz = page_size();
	s->size = FUSE_FILE_PAGES * s->psz;
	s->hold = hold;
	s->sync_read = sync_read;
	atomic_init(&s->reads, 0);
	err = pthread_mutex_init(&s->lock, NULL);
	if (err)
		return test_fail(t, "pthread_mutex_init: %s", strerror(err));
	s->buf = malloc(65536 + 4096);
	s->image = malloc(s->size);
	if (!s->buf || !s->image)
		return test_fail(t, "malloc(FUSE buffers): %s", strerror(errno));
	pattern_fill(s->image, s->size, SEED_FUSE, 0, s->psz);
	test_step(t, "FUSE server on %s", FUSE_MNT);
	s->fd = open("/dev/fuse", O_RDWR | O_CLOEXEC);
	if (s->fd < 0)
		return test_fail(t, "open(/dev/fuse): %s (CONFIG_FUSE_FS?)",
				 strerror(errno));
	s->stopfd = eventfd(0, EFD_CLOEXEC);
	if (s->stopfd < 0)
		return test_fail(t, "eventfd: %s", strerror(errno));
	if (mkdir(FUSE_MNT, 0755) && errno != EEXIST)
		return test_fail(t, "mkdir(%s): %s", FUSE_MNT, strerror(errno));
	snprintf(opts, sizeof(opts), "fd=%d,rootmode=40000,user_id=0,group_id=0",
		 s->fd);
	if (mount("odp-uffd", FUSE_MNT, "fuse.odp-uffd", MS_NOSUID | MS_NODEV,
		  opts))
		return test_fail(t, "mount(fuse, %s): %s", FUSE_MNT,
				 strerror(errno));
	s->mounted = true;
	err = pthread_create(&s->thread, NULL, srv_thread, s);
	if (err)
		return test_fail(t, "pthread_create(FUSE server): %s",
				 strerror(err));
	s->started = true;
	return TEST_PASS;
}

/* Answer every held READ and stop holding. */
static int srv_release(struct test_ctx *t, struct fuse_srv *s)
{
	struct held_read held[MAX_HELD];
	unsigned int n, i;
	int err, rc = TEST_PASS;

	pthread_mutex_lock(&s->lock);
	s->hold = false;
	n = s->nheld;
	memcpy(held, s->held, n * sizeof(held[0]));
	s->nheld = 0;
	pthread_mutex_unlock(&s->lock);
	for (i = 0; i < n; i++) {
		err = srv_read_reply(s, &held[i]);
		if (err)
			rc = test_fail(t, "answering a held FUSE READ: %s",
				       strerror(-err));
	}
	return rc;
}

/* Wait until the server holds a READ. */
static int srv_wait_held(struct test_ctx *t, struct fuse_srv *s)
{
	double deadline = test_now_s() + HOLD_WAIT_MS / 1000.0;
	unsigned int n;

	test_step(t, "wait until the FUSE server holds a READ");
	for (;;) {
		pthread_mutex_lock(&s->lock);
		n = s->nheld;
		pthread_mutex_unlock(&s->lock);
		if (n)
			return TEST_PASS;
		if (s->failed)
			return test_fail(t, "FUSE server: %s: %s", s->failed,
					 strerror(s->err));
		if (test_now_s() > deadline)
			return test_fail(t, "the FUSE server got no READ within %d ms of the device's access (%u READs answered)",
					 HOLD_WAIT_MS, atomic_load(&s->reads));
		test_sleep_us(10000);
	}
}

static int srv_stop(struct test_ctx *t, struct fuse_srv *s)
{
	uint64_t one = 1;
	int rc = TEST_PASS, err;

	if (s->started) {
		rc = srv_release(t, s);
		if (write(s->stopfd, &one, sizeof(one)) != sizeof(one))
			rc = test_fail(t, "write(eventfd): %s", strerror(errno));
		err = pthread_join(s->thread, NULL);
		if (err)
			rc = test_fail(t, "pthread_join(FUSE server): %s",
				       strerror(err));
		else if (s->failed)
			rc = test_fail(t, "FUSE server: %s: %s", s->failed,
				       strerror(s->err));
	}
	if (s->mounted && umount2(FUSE_MNT, MNT_DETACH))
		rc = test_fail(t, "umount(%s): %s", FUSE_MNT, strerror(errno));
	if (s->fd >= 0)
		close(s->fd);
	if (s->stopfd >= 0)
		close(s->stopfd);
	free(s->buf);
	free(s->image);
	pthread_mutex_destroy(&s->lock);
	return rc;
}

/* The QP pair, a pinned page and an ODP MR over the shared file mapping. */
struct reader {
	struct rdma_res r;
	bool up;
	int fd;
	void *map, *pin;
	size_t psz, len;
	struct ibv_mr *omr, *pmr;
};

static int reader_setup(struct test_ctx *t, struct reader *rd)
{
	struct rdma_caps_req req = { .odp = true,
				     .rc_odp_caps = IBV_ODP_SUPPORT_READ };
	int rc;

	*rd = (struct reader){ .fd = -1, .psz = page_size() };
	rd->len = FUSE_FILE_PAGES * rd->psz;
	rc = rdma_setup(t, &rd->r, &req);
	if (rc != TEST_PASS)
		return rc;
	rd->up = true;
	rd->fd = open(FUSE_MNT "/" FUSE_NAME, O_RDONLY | O_CLOEXEC);
	if (rd->fd < 0)
		return test_fail(t, "open(%s/%s): %s", FUSE_MNT, FUSE_NAME,
				 strerror(errno));
	rd->map = mmap(NULL, rd->len, PROT_READ, MAP_SHARED, rd->fd, 0);
	if (rd->map == MAP_FAILED) {
		rd->map = NULL;
		return test_fail(t, "mmap(FUSE file): %s", strerror(errno));
	}
	rc = rdma_reg_mr(t, &rd->r, rd->map, rd->len, ODP_READ,
			 "FUSE file (ODP)", &rd->omr);
	if (rc != TEST_PASS)
		return rc;
	rc = mem_map(t, rd->psz, &rd->pin, "pinned");
	if (rc != TEST_PASS)
		return rc;
	memset(rd->pin, 0, rd->psz);
	return rdma_reg_mr(t, &rd->r, rd->pin, rd->psz, PIN_ACCESS, "pinned",
			   &rd->pmr);
}

/* RDMA READ of page i of the file into the pinned page: the responder faults. */
static int reader_post(struct test_ctx *t, struct reader *rd, size_t i)
{
	struct ibv_sge sge = { .addr = (uintptr_t)rd->pin,
			       .length = (uint32_t)rd->psz,
			       .lkey = rd->pmr->lkey };
	struct ibv_send_wr wr = {
		.wr_id = WR_ID, .sg_list = &sge, .num_sge = 1,
		.opcode = IBV_WR_RDMA_READ, .send_flags = IBV_SEND_SIGNALED,
	}, *bad = NULL;
	int err;

	wr.wr.rdma.remote_addr = (uintptr_t)rd->map + i * rd->psz;
	wr.wr.rdma.rkey = rd->omr->rkey;
	test_step(t, "RDMA READ of page %zu of the FUSE file", i);
	err = ibv_post_send(rd->r.qp[0], &wr, &bad);
	if (err)
		return test_fail(t, "ibv_post_send(RDMA READ): %s", strerror(err));
	return TEST_PASS;
}

static int reader_teardown(struct test_ctx *t, struct reader *rd)
{
	int rc = TEST_PASS;

	rc = test_worse(rc, rdma_dereg_mr(t, &rd->pmr, "pinned"));
	rc = test_worse(rc, rdma_dereg_mr(t, &rd->omr, "FUSE file (ODP)"));
	if (rd->up)
		rc = test_worse(rc, rdma_teardown(t, &rd->r));
	rd->up = false;
	if (rd->pin)
		rc = test_worse(rc, mem_unmap(t, &rd->pin, rd->psz, "pinned"));
	if (rd->map && munmap(rd->map, rd->len))
		rc = test_fail(t, "munmap(FUSE file): %s", strerror(errno));
	rd->map = NULL;
	if (rd->fd >= 0)
		close(rd->fd);
	rd->fd = -1;
	return rc;
}

/* Another context's RDMA WRITE between pinned MRs on the same device. */
static int other_write(struct test_ctx *t)
{
	struct rdma_caps_req req = { 0 };
	struct ibv_mr *src_mr = NULL, *dst_mr = NULL;
	void *src = NULL, *dst = NULL;
	size_t psz = page_size();
	struct rdma_res r;
	double t0;
	int rc;

	test_step(t, "another context's RDMA WRITE on the same device");
	rc = rdma_setup(t, &r, &req);
	if (rc != TEST_PASS)
		return rc;
	rc = mem_map(t, psz, &src, "source");
	if (rc == TEST_PASS)
		rc = mem_map(t, psz, &dst, "target");
	if (rc == TEST_PASS) {
		pattern_fill(src, psz, SEED_PIN, 0, psz);
		memset(dst, 0, psz);
		rc = rdma_reg_mr(t, &r, src, psz, PIN_ACCESS, "source", &src_mr);
	}
	if (rc == TEST_PASS)
		rc = rdma_reg_mr(t, &r, dst, psz, PIN_ACCESS, "target", &dst_mr);
	t0 = test_now_s();
	if (rc == TEST_PASS)
		rc = rdma_rw(t, &r, 0, IBV_WR_RDMA_WRITE, src, (uint32_t)psz,
			     src_mr->lkey, (uintptr_t)dst, dst_mr->rkey, NULL);
	if (rc == TEST_PASS) {
		tap_diag("the other context's WRITE completed in %.3f s",
			 test_now_s() - t0);
		rc = pattern_verify(t, dst, psz, SEED_PIN, 0, psz, "WRITE target");
	}
	rc = test_worse(rc, rdma_dereg_mr(t, &dst_mr, "target"));
	rc = test_worse(rc, rdma_dereg_mr(t, &src_mr, "source"));
	rc = test_worse(rc, rdma_teardown(t, &r));
	if (dst)
		rc = test_worse(rc, mem_unmap(t, &dst, psz, "target"));
	if (src)
		rc = test_worse(rc, mem_unmap(t, &src, psz, "source"));
	return rc;
}

/* CPU seconds (user + system) of task pid, -1 if unknown. */
static double task_cpu_s(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long ut, st;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	p = strrchr(buf, ')');	/* after "pid (comm)" */
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
			 &ut, &st) != 2)
		return -1;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/*
 * comm of task pid, without its newline, into comm[32]; "?" if unknown.  No
 * allocation (sent_by_fault_thread() depends on it).
 */
static void task_comm(pid_t pid, char comm[32])
{
	char path[64];
	ssize_t n = -1;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		n = read(fd, comm, 31);
		close(fd);
	}
	if (n > 0)
		comm[comm[n - 1] == '\n' ? n - 1 : n] = '\0';
	else
		strcpy(comm, "?");
}

/* The fault thread of the process tgid's user context: "rxe_odp/<tgid>". */
static pid_t fault_thread(pid_t tgid)
{
	char want[32], comm[32];
	struct dirent *de;
	pid_t found = -1;
	DIR *d;

	snprintf(want, sizeof(want), "rxe_odp/%d", (int)tgid);
	d = opendir("/proc");
	if (!d)
		return -1;
	while (found < 0 && (de = readdir(d))) {
		if (de->d_name[0] < '0' || de->d_name[0] > '9')
			continue;
		task_comm((pid_t)atoi(de->d_name), comm);
		if (!strcmp(comm, want))
			found = (pid_t)atoi(de->d_name);
	}
	closedir(d);
	return found;
}

/* The fault thread sleeps while the server holds the READ: it does not spin. */
static int no_spin(struct test_ctx *t, pid_t tgid)
{
	pid_t kt = fault_thread(tgid);
	double c0, c1;

	if (kt < 0)
		return test_fail(t, "no fault thread rxe_odp/%d while a fault waits on the FUSE server",
				 (int)tgid);
	c0 = task_cpu_s(kt);
	test_sleep_us(HOLD_S * 1000000UL);
	c1 = task_cpu_s(kt);
	if (c0 < 0 || c1 < 0)
		return test_fail(t, "cannot read the CPU time of rxe_odp/%d (pid %d)",
				 (int)tgid, (int)kt);
	if (c1 - c0 > SPIN_LIMIT)
		return test_fail(t, "the fault thread used %.2f s of CPU in %d s while the FUSE server held its READ: it spins",
				 c1 - c0, HOLD_S);
	tap_diag("the fault thread used %.2f s of CPU in %d s of the stall",
		 c1 - c0, HOLD_S);
	return TEST_PASS;
}

/*
 * The held READ was sent by the fault thread of process tgid's context.  A
 * READ sent by anybody else (a shared rxe_wq worker) waits for the server
 * with the owner's mmap lock held: it is answered at once, and nothing before
 * touches this process's address space (no allocation).
 */
static int sent_by_fault_thread(struct test_ctx *t, struct fuse_srv *s,
				pid_t tgid)
{
	char want[32], comm[32];
	uint32_t pid;

	pthread_mutex_lock(&s->lock);
	pid = s->nheld ? s->held[0].pid : 0;
	pthread_mutex_unlock(&s->lock);
	snprintf(want, sizeof(want), "rxe_odp/%d", (int)tgid);
	task_comm((pid_t)pid, comm);
	if (!strcmp(comm, want)) {
		tap_diag("the held READ was sent by the fault thread %s", want);
		return TEST_PASS;
	}
	(void)srv_release(t, s);
	return test_fail(t, "the FUSE READ was sent by pid %u (%s), not by the fault thread %s: a shared context waits for the FUSE server",
			 pid, comm, want);
}

static int test_fuse_read_held(struct test_ctx *t)
{
	const struct read_mode *mode = t->arg;
	struct fuse_srv s;
	struct reader rd = { .fd = -1 };
	struct ibv_wc wc;
	int rc;

	rc = srv_start(t, &s, true, mode->sync_read);
	if (rc == TEST_PASS)
		rc = reader_setup(t, &rd);
	if (rc == TEST_PASS)
		rc = reader_post(t, &rd, 3);
	if (rc == TEST_PASS)
		rc = srv_wait_held(t, &s);
	if (rc == TEST_PASS && mode->sync_read)
		rc = sent_by_fault_thread(t, &s, getpid());
	if (rc == TEST_PASS)
		rc = other_write(t);
	if (rc == TEST_PASS)
		rc = no_spin(t, getpid());
	if (rc == TEST_PASS) {
		test_step(t, "the server answers: the READ completes");
		rc = srv_release(t, &s);
	}
	if (rc == TEST_PASS)
		rc = rdma_wait_wc(t, rd.r.cq[0], "RDMA READ", WR_ID,
				  TEST_WC_TIMEOUT_MS, NULL, &wc);
	if (rc == TEST_PASS)
		rc = pattern_verify(t, rd.pin, rd.psz, SEED_FUSE, 3 * rd.psz,
				    rd.psz, "READ of page 3 of the FUSE file");
	rc = test_worse(rc, reader_teardown(t, &rd));
	return test_worse(rc, srv_stop(t, &s));
}

/* The child: the READ's fault pending on the server, then wait to be killed. */
static void kill_child(struct test_ctx *t, int ready_fd)
{
	struct reader rd;
	char c = 'r';

	if (reader_setup(t, &rd) != TEST_PASS || reader_post(t, &rd, 5) != TEST_PASS)
		_exit(TEST_FAIL);
	if (write(ready_fd, &c, 1) != 1)
		_exit(TEST_FAIL);
	for (;;)
		pause();
}

static int test_fuse_kill_held(struct test_ctx *t)
{
	struct rdma_res_count before;
	struct fuse_srv s;
	int pfd[2] = { -1, -1 }, rc, status;
	pid_t pid = -1;
	double t0;
	char c;

	rc = rdma_res_count_get(t, &before);
	if (rc != TEST_PASS)
		return rc;
	rc = srv_start(t, &s, true, false);
	if (rc != TEST_PASS)
		goto out;
	if (pipe(pfd)) {
		rc = test_fail(t, "pipe: %s", strerror(errno));
		goto out;
	}
	test_step(t, "fork the process whose READ faults on the FUSE file");
	pid = fork();
	if (pid < 0) {
		rc = test_fail(t, "fork: %s", strerror(errno));
		goto out;
	}
	if (pid == 0) {
		close(pfd[0]);
		kill_child(t, pfd[1]);
	}
	close(pfd[1]);
	pfd[1] = -1;
	if (read(pfd[0], &c, 1) != 1) {
		rc = test_fail(t, "the child failed before posting its READ");
		goto out;
	}
	rc = srv_wait_held(t, &s);
	if (rc == TEST_PASS)
		rc = no_spin(t, pid);
	if (rc != TEST_PASS)
		goto out;
	test_step(t, "SIGKILL the child while the server holds its READ");
	t0 = test_now_s();
	if (kill(pid, SIGKILL)) {
		rc = test_fail(t, "kill(SIGKILL): %s", strerror(errno));
		goto out;
	}
	if (!test_reap(pid, RELEASE_BOUND_S, &status)) {
		rc = test_fail(t, "the child was not reaped %d s after SIGKILL",
			       RELEASE_BOUND_S);
		goto out;
	}
	pid = -1;
	tap_diag("the child was reaped %.2f s after SIGKILL", test_now_s() - t0);
	test_sleep_us(HOLD_S * 1000000UL);
	{
		struct rdma_res_count now;

		rc = rdma_res_count_get(t, &now);
		if (rc != TEST_PASS)
			goto out;
		tap_diag("%d s after the SIGKILL with the READ still held, the child's RDMA resources are %s",
			 HOLD_S, rdma_res_count_equal(&now, &before) ?
			 "released" : "still held (the fault thread waits for the FUSE server)");
	}
	test_step(t, "the server answers: the resources are released");
	t0 = test_now_s();
	rc = srv_release(t, &s);
	if (rc == TEST_PASS)
		rc = rdma_res_count_wait(t, &before, RELEASE_BOUND_S,
					 "after the FUSE server answered");
	if (rc == TEST_PASS)
		tap_diag("released %.2f s after the server answered",
			 test_now_s() - t0);
out:
	if (pid > 0) {
		kill(pid, SIGKILL);
		test_reap(pid, RELEASE_BOUND_S, &status);
	}
	if (pfd[0] >= 0)
		close(pfd[0]);
	if (pfd[1] >= 0)
		close(pfd[1]);
	return test_worse(rc, srv_stop(t, &s));
}

#define NEEDS	(FIX_UFFD | FIX_CANCEL)

static const struct test_case tests[] = {
	{ .name = "fuse_read_held", .fn = test_fuse_read_held,
	  .desc = "READ from an ODP MR over a FUSE file whose server holds the READ: others' traffic goes on, no spin, data right",
	  .needs = NEEDS, .arg = &async_read },
	{ .name = "fuse_sync_read_held", .fn = test_fuse_read_held,
	  .desc = "the same with a server without FUSE_ASYNC_READ: the READ comes from the context's fault thread, not a shared worker",
	  .needs = NEEDS, .arg = &sync_read,
	  .sig = "not by the fault thread|no fault thread|no completion within|TIMEOUT after" },
	{ .name = "fuse_kill_held", .fn = test_fuse_kill_held,
	  .desc = "SIGKILL while the FUSE server holds the READ: reaped; released once the server answers",
	  .needs = NEEDS },
};

int main(int argc, char **argv)
{
	return test_main(argc, argv, tests, ARRAY_SIZE(tests));
}
