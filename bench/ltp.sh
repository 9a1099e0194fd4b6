#!/bin/sh
# ltp.sh: the Linux Test Project's syscall tests natively and under lx, on
# one rootfs; prints the tests that pass natively and not under lx.
#
#   LTP=/path/to/ltp ROOTFS=/path/to/debian-rootfs bench/ltp.sh [PATTERN]
#
# LTP is a built LTP tree (./configure LDFLAGS=-static, then make in lib
# and in each directory of testcases/kernel/syscalls); the script installs
# its syscall tests into $ROOTFS/opt/ltp and registers $ROOTFS as the lx
# distro $DISTRO (default ltp-deb) with `lx import --in-place`. ROOTFS is a
# Debian 12 rootfs (debootstrap --variant=minbase bookworm DIR).
#
# Natively a test runs in a chroot of the rootfs (as root: a private mount
# namespace, so mount tests leave nothing on the host; as another user:
# `unshare -r`), under lx as `lx run -d $DISTRO`. A test passes when its
# exit status is 0 (LTP's verdict: TFAIL, TBROK, TWARN and TCONF each set
# a bit). Tests that change host-global state (clock, hostname, swap,
# modules, reboot, accounting) are not run. Results go to $OUT (default
# ./ltp-results), one line per test: name, native status, lx status.
#
# LX (default: lx in PATH), TIMEOUT (seconds per test, default 120),
# PATTERN (a grep -E on test names) narrow or redirect a run. The script
# is run by hand: CI cannot download LTP.
set -eu

: "${LTP:?LTP=path of a built LTP tree}"
: "${ROOTFS:?ROOTFS=path of a Debian rootfs}"
LX=${LX:-lx}
DISTRO=${DISTRO:-ltp-deb}
TIMEOUT=${TIMEOUT:-120}
OUT=${OUT:-$PWD/ltp-results}
PATTERN=${1:-.}
ROOTFS=$(cd "$ROOTFS" && pwd)
LX=$(command -v "$LX")

# Host-global state: a chroot as root would change the host's.
skip='^(adjtimex|clock_adjtime|clock_settime|settimeofday|stime|reboot|swapon|swapoff|sethostname|setdomainname|acct|quotactl|init_module|finit_module|delete_module|kexec|syslog|sysctl|ioperm|iopl|perf_event_open|fanotify|bpf_)'

if [ ! -x "$ROOTFS/opt/ltp/testcases/bin/getpid01" ]; then
	for d in "$LTP"/testcases/kernel/syscalls/*/; do
		[ -f "$d/Makefile" ] && make -s -C "$d" install DESTDIR="$ROOTFS" >/dev/null 2>&1 || :
	done
	make -s -C "$LTP/lib" install DESTDIR="$ROOTFS" >/dev/null 2>&1 || :
fi
mkdir -p "$ROOTFS/tmp" && chmod 1777 "$ROOTFS/tmp"
"$LX" list 2>/dev/null | grep -qw "$DISTRO" || "$LX" import --in-place "$DISTRO" "$ROOTFS"

env="LTPROOT=/opt/ltp TMPDIR=/tmp PATH=/opt/ltp/testcases/bin:/usr/sbin:/usr/bin:/sbin:/bin LTP_TIMEOUT_MUL=2"
# As root the chroot gets a proc of its own; a user namespace that owns no
# pid namespace may not mount one, and binds the host's.
if [ "$(id -u)" = 0 ]; then userns=; proc='-t proc proc'; else userns=-r; proc='--rbind /proc'; fi
native() {
	# shellcheck disable=SC2086 # $userns and $env split into words
	timeout -k 5 "$TIMEOUT" unshare $userns -m --propagation private sh -c '
		r=$1 proc=$2; shift 2
		mount --rbind /dev "$r/dev" && mount $proc "$r/proc" && mount --rbind /sys "$r/sys"
		exec chroot "$r" /usr/bin/env -i "$@"' sh "$ROOTFS" "$proc" $env "$@"
}
under_lx() { timeout -k 5 "$TIMEOUT" env -i $env HOME="$HOME" ${XDG_DATA_HOME:+XDG_DATA_HOME=$XDG_DATA_HOME} ${XDG_RUNTIME_DIR:+XDG_RUNTIME_DIR=$XDG_RUNTIME_DIR} "$LX" run -d "$DISTRO" --cd /tmp -- "$@"; }

: >"$OUT"
grep -Ev '^(#|$)' "$LTP/runtest/syscalls" | while read -r name cmd; do
	echo "$name" | grep -Eq "$PATTERN" || continue
	echo "$name" | grep -Eq "$skip" && continue
	bin=${cmd%% *}
	[ -x "$ROOTFS/opt/ltp/testcases/bin/$bin" ] || continue
	# shellcheck disable=SC2086 # cmd is LTP's command line, split as runltp does
	n=0; native /opt/ltp/testcases/bin/$cmd </dev/null >"$OUT.native.log.tmp" 2>&1 || n=$?
	l=0; under_lx /opt/ltp/testcases/bin/$cmd </dev/null >"$OUT.lx.log.tmp" 2>&1 || l=$?
	printf '%s\t%s\t%s\n' "$name" "$n" "$l" >>"$OUT"
	if [ "$n" = 0 ] && [ "$l" != 0 ]; then
		{ echo "=== $name native=$n lx=$l"; tail -20 "$OUT.lx.log.tmp"; } >>"$OUT.fail.log"
	fi
done
rm -f "$OUT.native.log.tmp" "$OUT.lx.log.tmp"

awk -F'\t' '{ t++; if ($2 == 0) n++; if ($3 == 0) l++; if ($2 == 0 && $3 != 0) print "native only: " $1 " (lx status " $3 ")" }
	END { printf "%d tests: %d pass natively, %d under lx\n", t, n, l }' "$OUT"
