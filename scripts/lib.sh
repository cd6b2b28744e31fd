# shellcheck shell=bash
# Common settings for the odp-uffd scripts.  Source it; do not run it.

set -euo pipefail

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${ODP_UFFD_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/odp-uffd}
ROOTFS=${ODP_UFFD_ROOTFS:-$CACHE/rootfs}
KVER_WANT=7.2
SUITE=${ODP_UFFD_SUITE:-sid}
MIRROR=${ODP_UFFD_MIRROR:-http://deb.debian.org/debian}
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
apt_private() {
	local d=$CACHE/apt
	mkdir -p "$d/lists/partial" "$d/cache/archives/partial"
	[ -f "$d/sources.list" ] ||
		echo "deb $MIRROR $SUITE main" > "$d/sources.list"
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

# Checksum of patches/series and the patches it names.
series_sum() {
	local s=$TOP/patches/series p
	{
		cat "$s"
		{ grep -v '^#' "$s" || true; } | sed '/^$/d' | while read -r p; do cat "$TOP/patches/$p"; done
	} 2>/dev/null | sha256sum | cut -c1-16
}

# Count and print one check: result ok|fail TEXT (callers set pass=0 fail=0).
result() {
	if [ "$1" = ok ]; then pass=$((pass + 1)); echo "PASS: $2"
	else fail=$((fail + 1)); echo "FAIL: $2"; fi
}
