# shellcheck shell=bash
# Common settings for the odp-uffd scripts.  Source it; do not run it.

set -euo pipefail

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${ODP_UFFD_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/odp-uffd}
ROOTFS=${ODP_UFFD_ROOTFS:-$CACHE/rootfs}
KVER_WANT=7.2
SUITE=${ODP_UFFD_SUITE:-sid}
# The peer the series is measured against: upstream Linux 7.3, with its own
# hmm_range_fault_unlocked_timeout() (Debian's linux-source-7.3 is in
# trixie-backports, not in sid).
UPSTREAM_KVER=7.3
UPSTREAM_SUITE=${ODP_UFFD_UPSTREAM_SUITE:-trixie-backports}

# The host's Debian mirror, read from its apt configuration at run time
# (the first "deb" source that is not a security archive); ODP_UFFD_MIRROR
# overrides it.  Prints nothing when the host names none.
host_mirror() {
	local f
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -f "$f" ] || continue
		# deb822 stanzas: Types, URIs and Suites, separated by blank lines.
		awk 'function flush() {
			if (types ~ /(^| )deb( |$)/ && uri != "" && suites !~ /-security/) {
				print uri; found = 1; exit
			}
			types = uri = suites = ""
		}
		/^[ \t]*$/ { flush(); next }
		/^Types:/ { sub(/^Types:[ \t]*/, ""); types = $0 }
		/^URIs:/ { uri = $2 }
		/^Suites:/ { sub(/^Suites:[ \t]*/, ""); suites = $0 }
		END { if (!found) flush() }' "$f"
	done
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[ -f "$f" ] || continue
		# one-line form: deb [options] URI suite components...
		sed -E 's/\[[^]]*\][[:space:]]*//' "$f" |
			awk '$1 == "deb" && $3 !~ /-security/ { print $2 }'
	done
}
MIRROR=${ODP_UFFD_MIRROR:-$(host_mirror | head -n 1)}
export CCACHE_DIR=${CCACHE_DIR:-$CACHE/ccache}
# Let the stock and the patched tree share ccache hits (see kernel_out).
export CCACHE_BASEDIR=$CACHE/src
export CCACHE_NOHASHDIR=1

_t0=${_ODP_T0:-$(date +%s)}
export _ODP_T0=$_t0

step() {
	printf '==> [%4ss] %s\n' "$(( $(date +%s) - _t0 ))" "$*" >&2
}

die() {
	printf 'error: %s\n' "$*" >&2
	exit 1
}

# Private apt configuration: the host's sources are never touched.
# apt_private [deb|deb-src [SUITE]]: binary packages (default) or source
# packages of $SUITE (default) or another suite, each with its own lists.
apt_private() {
	local type=${1:-deb} suite=${2:-$SUITE} d=$CACHE/apt
	[ "$type" = deb ] || d=$CACHE/apt-src
	[ "$suite" = "$SUITE" ] || d=$d-$suite
	[ -n "$MIRROR" ] ||
		die "no Debian mirror in the host's apt configuration (/etc/apt/sources.list.d/); set ODP_UFFD_MIRROR"
	mkdir -p "$d/lists/partial" "$d/cache/archives/partial"
	echo "$type $MIRROR $suite main" > "$d/sources.list"
	APT_OPTS=(-o "Dir::Etc::sourcelist=$d/sources.list"
		  -o "Dir::Etc::sourceparts=/nonexistent"
		  -o "Dir::State::Lists=$d/lists"
		  -o "Dir::Cache=$d/cache"
		  -o "Acquire::Check-Valid-Until=false"
		  -o "Debug::NoLocking=1")
}

# kernel source trees: $CACHE/src/<flavor>, git repositories
kernel_src() { echo "$CACHE/src/$1"; }
# Build directories live inside each tree ($CACHE/src/<flavor>/.build[-debug],
# ignored by the kernel's .gitignore): the same relative layout in the stock
# and the patched tree lets them share ccache hits.
kernel_out() { echo "$CACHE/src/$1/.build${2:+-$2}"; }

# Checksum of the files of these directories of the checkout.  Programs
# built into the rootfs use it instead of make's mtimes alone: one rootfs
# serves several checkouts (a CI clone, the working tree), and an object
# built from one is newer than the other's older edited source.
tree_sum() {
	(cd "$TOP" && find "$@" -type f -print0 | sort -z | xargs -0 sha256sum) |
		sha256sum | cut -c1-16
}

# The directory of a kernel flavor's patch series: patches/ for the series on
# Linux 7.2 (patched and the kernels derived from it), patches/7.3 for the
# series on Linux 7.3 (patched-73).
series_dir() {
	case "$1" in
	*-73) echo "$TOP/patches/7.3" ;;
	*) echo "$TOP/patches" ;;
	esac
}

# Checksum of a series (default patches/): its series file and patches.
series_sum() {
	local d=${1:-$TOP/patches} p
	local s=$d/series
	{
		cat "$s"
		{ grep -v '^#' "$s" || true; } | sed '/^$/d' | while read -r p; do cat "$d/$p"; done
	} 2>/dev/null | sha256sum | cut -c1-16
}

# Count and print one check: result ok|fail TEXT (callers set pass=0 fail=0).
result() {
	if [ "$1" = ok ]; then pass=$((pass + 1)); echo "PASS: $2"
	else fail=$((fail + 1)); echo "FAIL: $2"; fi
}
