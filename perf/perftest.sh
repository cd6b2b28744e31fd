#!/bin/bash
# perf/perftest.sh: perftest with --odp on rxe, in the guest, into a CSV.
#
#   perf/perftest.sh [-o CSV] [-l LOGDIR]
#
# Two sets of runs, each repeated PERFTEST_REPS times:
#   base   every benchmark over rxe1 on lo (-x 1, 127.0.0.1) and over the veth
#          pair (server in netns a on rxea, client in netns b on rxeb,
#          10.0.0.1), plain --odp: variant <bench>/<lo|veth>/odp
#   evict  PERFTEST_EVICT_BENCHES over lo in each mode of PERFTEST_MODES
#          and each eviction rate of PERFTEST_RATES, on both sides:
#          variant <bench>/lo/odp/<mode>/evict=<label>.  Modes uffd-minor
#          and uffd-missing run the project's perftest (patches/perftest,
#          PERFTEST_UFFD_BIN) with --use_uffd=minor|missing,evict=RATE;
#          modes anon and shmem (no userfaultfd) run the stock perftest
#          with the LD_PRELOAD library (perf/uffd-preload).
# CSV (long form, header written when the file is new):
#   benchmark,variant,n,rep,metric,value,unit     (n = message size in bytes)
# metrics: bw (MiB/s, average), lat_typical/lat_avg/lat_p99 (usec), and for
# evict variants per side (server/client) evicted_pages and, in the uffd
# modes, uffd_faults, uffd_faults_device (raised by another task than
# the program's: rxe, i.e. the device), handler_p50/handler_p99 (usec),
# from perftest's own counters (uffd modes) or the preload's statistics.
# A run that fails or times out gives one row "failed,<exit status>,
# exit-status" and the script goes on (on the stock kernel the uffd-minor
# variants with eviction fail: device faults on userfaultfd memory are
# refused).  perftest's own output goes to LOGDIR only:
# its "WARNING:" lines would read as kernel reports on the console.
#
# Environment (defaults in brackets):
#   PERFTEST_REPS [2]  PERFTEST_DURATION [2] (bw, seconds)
#   PERFTEST_LAT_ITERS [100]  PERFTEST_SIZE [65536] (bw; lat uses 2 bytes)
#   PERFTEST_BENCHES [ib_write_bw ib_read_bw ib_send_bw ib_write_lat] (base)
#   PERFTEST_EVICT_BENCHES [ib_write_bw ib_read_bw ib_write_lat] (evict)
#   PERFTEST_SETS [base evict]  PERFTEST_TRANSPORTS [lo veth] (base set)
#   PERFTEST_MODES [anon uffd-minor] (also: shmem, uffd-missing)
#   PERFTEST_RATES [0=0 low=100 high=1000] (label=pages per second)
#   PERFTEST_TIMEOUT [90] (seconds per perftest process)
#   ODP_UFFD_PRELOAD [/opt/odp-uffd/perf/libodp-uffd-preload.so]
#   PERFTEST_UFFD_BIN [/opt/odp-uffd/perftest/bin] (perftest with --use_uffd)
set -u

csv=/mnt/out/perftest.csv
logdir=
while getopts "o:l:h" opt; do
	case $opt in
	o) csv=$OPTARG ;;
	l) logdir=$OPTARG ;;
	h) sed -n '2,41p' "$0"; exit 0 ;;
	*) echo "usage: $0 [-o CSV] [-l LOGDIR]" >&2; exit 2 ;;
	esac
done
logdir=${logdir:-$(dirname "$csv")/perftest-logs}

reps=${PERFTEST_REPS:-2}
duration=${PERFTEST_DURATION:-2}
lat_iters=${PERFTEST_LAT_ITERS:-100}
size=${PERFTEST_SIZE:-65536}
benches=${PERFTEST_BENCHES:-ib_write_bw ib_read_bw ib_send_bw ib_write_lat}
evict_benches=${PERFTEST_EVICT_BENCHES:-ib_write_bw ib_read_bw ib_write_lat}
sets=${PERFTEST_SETS:-base evict}
transports=${PERFTEST_TRANSPORTS:-lo veth}
modes=${PERFTEST_MODES:-anon uffd-minor}
rates=${PERFTEST_RATES:-0=0 low=100 high=1000}
tmo=${PERFTEST_TIMEOUT:-90}
lib=${ODP_UFFD_PRELOAD:-/opt/odp-uffd/perf/libodp-uffd-preload.so}
uffd_bin=${PERFTEST_UFFD_BIN:-/opt/odp-uffd/perftest/bin}
# run_pair's benchmark directory ("": the stock perftest in PATH) and
# perftest arguments of the current variant
run_bin= run_args=()

die() { echo "perftest.sh: $*" >&2; exit 1; }
mkdir -p "$logdir" || die "cannot create $logdir"
[ -s "$csv" ] || echo "benchmark,variant,n,rep,metric,value,unit" > "$csv" ||
	die "cannot write $csv"
port=18515
runs=0 failed=0

row() { echo "perftest,$1,$2,$3,$4,$5,$6" >> "$csv"; }

# Wait (bounded) until something listens on TCP port $2 in netns $1 ("" = here).
wait_listen() {
	local ns=$1 p=$2 deadline=$((SECONDS + 60))
	while [ $SECONDS -lt $deadline ]; do
		${ns:+ip netns exec "$ns"} ss -Hltn "sport = :$p" 2>/dev/null | grep -q . &&
			return 0
		sleep 0.2
	done
	return 1
}

# The result line of a perftest log: the last line starting with two numbers.
result_line() {
	awk '/^ *[0-9]+ +[0-9]+ +[0-9.inf]+/ { l = $0 } END { if (l) print l }' "$1"
}

# Preload statistics of one side (key=value lines) as CSV rows.
preload_rows() { # variant n rep side file
	local f=$5 k v uffd=0
	[ -s "$f" ] || return 0
	while IFS='=' read -r k v; do
		case $k in
		mode) [ "$v" != uffd-minor ] || uffd=1 ;;
		faults*|handler*) [ $uffd = 1 ] || continue ;;
		esac
		case $k in
		faults) row "$1" "$2" "$3" "uffd_faults_$4" "$v" count ;;
		faults_other) row "$1" "$2" "$3" "uffd_faults_device_$4" "$v" count ;;
		handler_ns_p50) row "$1" "$2" "$3" "handler_p50_$4" \
			"$(awk -v x="$v" 'BEGIN { printf "%.1f", x / 1000 }')" usec ;;
		handler_ns_p99) row "$1" "$2" "$3" "handler_p99_$4" \
			"$(awk -v x="$v" 'BEGIN { printf "%.1f", x / 1000 }')" usec ;;
		evicted_pages) row "$1" "$2" "$3" "evicted_pages_$4" "$v" count ;;
		errors) [ "$v" = 0 ] || row "$1" "$2" "$3" "preload_errors_$4" "$v" count ;;
		esac
	done < "$f"
}

# perftest's own userfaultfd counters (--use_uffd) in a log as CSV rows.
perftest_uffd_rows() { # variant n rep side log
	local f=$5 v
	v=$(sed -n 's/^ uffd faults *: \([0-9]*\) (device \([0-9]*\),.*/\1 \2/p' "$f")
	[ -n "$v" ] || return 0
	row "$1" "$2" "$3" "uffd_faults_$4" "${v% *}" count
	row "$1" "$2" "$3" "uffd_faults_device_$4" "${v#* }" count
	v=$(sed -n 's/^ uffd evicted pages *: \([0-9]*\)$/\1/p' "$f")
	row "$1" "$2" "$3" "evicted_pages_$4" "$v" count
	v=$(sed -n 's/^ uffd handler usec *: p50 \([0-9.]*\), p99 \([0-9.]*\),.*/\1 \2/p' "$f")
	row "$1" "$2" "$3" "handler_p50_$4" "${v% *}" usec
	row "$1" "$2" "$3" "handler_p99_$4" "${v#* }" usec
	v=$(sed -n 's/^ uffd errors *: \([0-9]*\)$/\1/p' "$f")
	[ "$v" = 0 ] || row "$1" "$2" "$3" "uffd_errors_$4" "$v" count
}

# run_pair VARIANT REP TRANSPORT BENCH [ENV=VALUE...]: one server + client.
run_pair() {
	local variant=$1 rep=$2 tr=$3 bench=$4; shift 4
	local nss='' nsc='' ds=rxe1 dc=rxe1 addr=127.0.0.1 n=$size
	local tag args sp rc src line f stat_s stat_c
	case $tr in
	lo) ;;
	veth) nss=a nsc=b ds=rxea dc=rxeb addr=10.0.0.1 ;;
	*) die "unknown transport $tr" ;;
	esac
	case $bench in
	*_lat) n=2; args=(-n "$lat_iters") ;;
	*) args=(-D "$duration") ;;
	esac
	args+=(-x 1 --odp -F -s "$n" -p "$port" "${run_args[@]}")
	tag=$(echo "$variant-$rep" | tr '/=' '_-')
	stat_s=$logdir/$tag.server.stats stat_c=$logdir/$tag.client.stats
	rm -f "$stat_s" "$stat_c"
	runs=$((runs + 1))

	${nss:+ip netns exec $nss} timeout -k 5 "$tmo" \
		env "$@" ${1:+ODP_UFFD_STATS=$stat_s} "$run_bin$bench" -d "$ds" "${args[@]}" \
		> "$logdir/$tag.server.log" 2>&1 &
	sp=$!
	if ! wait_listen "$nss" "$port"; then
		echo "server did not listen on port $port within 60 s" >> "$logdir/$tag.server.log"
	fi
	${nsc:+ip netns exec $nsc} timeout -k 5 "$tmo" \
		env "$@" ${1:+ODP_UFFD_STATS=$stat_c} "$run_bin$bench" -d "$dc" "${args[@]}" "$addr" \
		> "$logdir/$tag.client.log" 2>&1
	rc=$?
	# A client that failed may leave the server waiting: it normally sees
	# the TCP connection close and exits; end it (by pid) after 20 s.
	if [ $rc != 0 ]; then
		for _ in $(seq 100); do
			kill -0 "$sp" 2>/dev/null || break
			sleep 0.2
		done
		kill "$sp" 2>/dev/null
	fi
	wait "$sp"
	src=$?
	port=$((port + 1))
	[ $rc != 0 ] || rc=$src

	line=$(result_line "$logdir/$tag.client.log")
	if [ $rc != 0 ] || [ -z "$line" ]; then
		[ $rc != 0 ] || rc=255		# no result line
		failed=$((failed + 1))
		row "$variant" "$n" "$rep" failed "$rc" exit-status
		echo "# $variant rep $rep: FAILED (exit status $rc; logs $logdir/$tag.*)"
	elif [[ $bench == *_lat ]]; then
		# bytes iterations t_min t_max t_typical t_avg t_stdev 99% 99.9%
		read -ra f <<< "$line"
		row "$variant" "$n" "$rep" lat_typical "${f[4]}" usec
		row "$variant" "$n" "$rep" lat_avg "${f[5]}" usec
		row "$variant" "$n" "$rep" lat_p99 "${f[7]}" usec
		echo "# $variant rep $rep: t_typical ${f[4]} usec, t_avg ${f[5]} usec"
	else
		# bytes iterations BW_peak BW_average MsgRate
		read -ra f <<< "$line"
		row "$variant" "$n" "$rep" bw "${f[3]}" MiB/s
		echo "# $variant rep $rep: ${f[3]} MiB/s (${f[1]} iterations)"
	fi
	preload_rows "$variant" "$n" "$rep" server "$stat_s"
	preload_rows "$variant" "$n" "$rep" client "$stat_c"
	perftest_uffd_rows "$variant" "$n" "$rep" server "$logdir/$tag.server.log"
	perftest_uffd_rows "$variant" "$n" "$rep" client "$logdir/$tag.client.log"
}

# The evict set, one repetition: each mode x rate x benchmark, over lo.
evict_set() {
	local rep=$1 mode r label rate b v n

	for mode in $modes; do
		case $mode in
		uffd-minor|uffd-missing)
			[ -x "$uffd_bin/ib_write_bw" ] || {
				echo "# no perftest with --use_uffd in $uffd_bin (set PERFTEST_UFFD_BIN): mode $mode skipped"
				continue; } ;;
		*)
			[ -r "$lib" ] || {
				echo "# no preload library $lib (set ODP_UFFD_PRELOAD): mode $mode skipped"
				continue; } ;;
		esac
		for r in $rates; do
			label=${r%%=*} rate=${r#*=}
			for b in $evict_benches; do
				v="$b/lo/odp/$mode/evict=$label"
				n=$size
				[[ $b != *_lat ]] || n=2
				[ "$rep" != 1 ] || row "$v" "$n" 0 evict_rate "$rate" pages/s
				case $mode in
				uffd-minor|uffd-missing)
					run_bin=$uffd_bin/
					run_args=(--use_uffd="${mode#uffd-},evict=$rate")
					run_pair "$v" "$rep" lo "$b"
					run_bin= run_args=() ;;
				*)
					run_pair "$v" "$rep" lo "$b" LD_PRELOAD="$lib" \
						ODP_UFFD_MODE="$mode" ODP_UFFD_EVICT_RATE="$rate" ;;
				esac
			done
		done
	done
}

echo "# perftest on $(uname -r): sets '$sets', $reps repetitions -> $csv"
for set in $sets; do
	case $set in
	base)
		for rep in $(seq "$reps"); do
			for tr in $transports; do
				for b in $benches; do
					run_pair "$b/$tr/odp" "$rep" "$tr" "$b"
				done
			done
		done ;;
	evict)
		for rep in $(seq "$reps"); do
			evict_set "$rep"
		done ;;
	*) die "unknown set $set (base, evict)" ;;
	esac
done
echo "# perftest: $runs runs, $failed failed (${SECONDS}s); CSV $csv, logs $logdir"
exit 0
