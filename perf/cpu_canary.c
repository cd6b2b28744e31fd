// SPDX-License-Identifier: GPL-2.0
/*
 * cpu_canary: a fixed CPU loop, timed, as a noise guard for the benchmarks.
 *
 * scripts/perf runs it at the start and at the end of every boot
 * (perf/guest-perf): the same loop (an LCG over a 64 KiB table, -i
 * iterations, default 20000000) -r times (default 5).  Under QEMU TCG its
 * time follows the host's load, so a boot whose canary is slow, or whose
 * end differs from its start, ran on a busy host; perf/report shows it per
 * boot.  Nothing is asserted.
 *
 * Output: one CSV row per repetition (benchmark cpu_canary, variant the -l
 * label, metric time, ms) in -o FILE (appended, header only on a new
 * file), and the median on stdout.
 */
#include "bench.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define TABLE_WORDS	8192	/* 64 KiB: stays in cache */
#define DEFAULT_ITERS	20000000ul
#define DEFAULT_REPS	5ul
#define MAX_REPS	100

static uint64_t table[TABLE_WORDS];

/* The loop: each step depends on the last (no vectorising it away). */
static uint64_t canary_loop(unsigned long iters)
{
	uint64_t x = 0x9e3779b97f4a7c15ull;
	unsigned long i;

	for (i = 0; i < iters; i++) {
		x = x * 6364136223846793005ull + 1442695040888963407ull;
		table[(x >> 33) % TABLE_WORDS] += x;
		x ^= table[(x >> 17) % TABLE_WORDS];
	}
	return x;
}

int main(int argc, char **argv)
{
	unsigned long iters = DEFAULT_ITERS, reps = DEFAULT_REPS, r;
	const char *csv_path = NULL, *label = "canary";
	double ms[MAX_REPS], sorted[MAX_REPS];
	volatile uint64_t sink;
	struct bench_csv csv = { 0 };
	struct stat st;
	bool fresh;
	int opt;

	while ((opt = getopt(argc, argv, "i:r:o:l:h")) != -1) {
		switch (opt) {
		case 'i':
			if (!bench_parse_ulong(argv[0], "iterations", optarg, 1,
					       4000000000ul, &iters))
				return 2;
			break;
		case 'r':
			if (!bench_parse_ulong(argv[0], "repetitions", optarg, 1,
					       MAX_REPS, &reps))
				return 2;
			break;
		case 'o':
			csv_path = optarg;
			break;
		case 'l':
			label = optarg;
			break;
		case 'h':
			printf("usage: %s [-i iterations] [-r reps] [-l label] [-o csv]\n",
			       argv[0]);
			return 0;
		default:
			fprintf(stderr, "usage: %s [-i iterations] [-r reps] [-l label] [-o csv]\n",
				argv[0]);
			return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "%s: unexpected argument '%s'\n", argv[0], argv[optind]);
		return 2;
	}
	for (r = 0; r < reps; r++) {
		uint64_t t0 = bench_now_ns();

		sink = canary_loop(iters);
		ms[r] = (double)(bench_now_ns() - t0) / 1e6;
	}
	(void)sink;
	if (csv_path) {
		fresh = stat(csv_path, &st) != 0;
		if (fresh && errno != ENOENT) {
			fprintf(stderr, "cpu_canary: stat(%s): %s\n", csv_path,
				strerror(errno));
			return 1;
		}
		if (fresh) {
			if (bench_csv_open(&csv, csv_path, "cpu_canary"))
				return 1;
		} else {
			csv.benchmark = "cpu_canary";
			csv.f = fopen(csv_path, "a");
			if (!csv.f) {
				fprintf(stderr, "cpu_canary: cannot append to %s: %s\n",
					csv_path, strerror(errno));
				return 1;
			}
		}
		for (r = 0; r < reps; r++)
			bench_csv_row(&csv, label, iters, (unsigned int)r, "time",
				      ms[r], "ms");
		if (bench_csv_close(&csv))
			return 1;
	}
	memcpy(sorted, ms, reps * sizeof(*ms));
	printf("cpu_canary %s: %lu x %lu iterations, median %.1f ms\n", label,
	       reps, iters, bench_percentile(sorted, reps, 50));
	return 0;
}
