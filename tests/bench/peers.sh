#!/bin/sh
# SPDX-License-Identifier: ISC
# Peers of procd (optional, not in CI): spawn throughput, supervisor
# memory and status latency of procd, supervisord, runit, s6,
# task-spooler and Python's multiprocessing (Debian's /usr/bin/python3),
# with ratios to raw posix_spawn, in one run; the work is in peers.py.
# Installs nothing; skips a peer whose programs are missing, saying which
# package to install. `make bench-peers` runs it with the built programs;
# from a build tree:
#     tests/bench/peers.sh [--jobs N] [--inflight W] [--rounds R] ...
# (--help for all). PROCD, PROCCTL, PROCBENCH and SPAWNBASE name the
# programs (default: daemon/procd, ctl/procctl, tests/bench/procbench and
# tests/bench/spawnbase two levels above this script). Every process it
# starts carries PEERS_MARK=<its temp folder> in its environment; the trap
# kills whatever still has it.

set -u

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
procd=${PROCD:-$top/daemon/procd}
procctl=${PROCCTL:-$top/ctl/procctl}
procbench=${PROCBENCH:-$top/tests/bench/procbench}
spawnbase=${SPAWNBASE:-$top/tests/bench/spawnbase}
python=${PYTHON:-/usr/bin/python3}

if [ ! -x "$procd" ]; then
	echo "peers.sh: no $procd; build first: make -j2" >&2
	exit 1
fi
if [ ! -x "$python" ]; then
	echo "peers.sh: no $python; install it: apt-get install -y python3" >&2
	exit 1
fi
set -- --procd "$procd" "$@"
if [ -x "$procctl" ]; then
	set -- --procctl "$procctl" "$@"
else
	echo "peers.sh: no $procctl, no procctl row; build it: make" >&2
fi
if [ -x "$spawnbase" ]; then
	set -- --spawnbase "$spawnbase" "$@"
	if [ -x "$procbench" ]; then
		set -- --procbench "$procbench" "$@"
	fi
fi
if [ ! -x "$spawnbase" ] || [ ! -x "$procbench" ]; then
	echo "peers.sh: no posix_spawn baseline or procbench row; to add" \
	    "them: make tests/bench/procbench tests/bench/spawnbase" >&2
fi

# Each peer: the programs it needs, or a line saying what to install.
have() {
	for prog in "$@"; do
		command -v "$prog" >/dev/null 2>&1 || return 1
	done
}
skip() {
	echo "peers.sh: $1 not found, $2 skipped; to add it:" \
	    "apt-get install -y $3" >&2
}
if have supervisord; then
	set -- --supervisord "$(command -v supervisord)" "$@"
	if have supervisorctl; then
		set -- --supervisorctl "$(command -v supervisorctl)" "$@"
	fi
else
	skip supervisord supervisord supervisor
fi
if have runsvdir runsv sv; then
	set -- --runit "$(dirname "$(command -v runsvdir)")" "$@"
else
	skip "runsvdir, runsv or sv" runit runit
fi
if have s6-svscan s6-supervise s6-svstat; then
	set -- --s6 "$(dirname "$(command -v s6-svscan)")" "$@"
else
	skip "s6-svscan, s6-supervise or s6-svstat" s6 s6
fi
if have tsp; then
	set -- --tsp "$(command -v tsp)" "$@"
else
	skip tsp task-spooler task-spooler
fi

# The peers' folders, sockets and job output files: on a tmpfs (where
# Debian keeps runit's supervise folders and s6 its scan folder) unless
# TMPDIR says otherwise, so that no figure waits for a disk.
if [ -n "${TMPDIR:-}" ]; then
	base=$TMPDIR
elif [ "$(stat -f -c %T /dev/shm 2>/dev/null)" = tmpfs ] &&
    [ -w /dev/shm ]; then
	base=/dev/shm
else
	base=/tmp
fi
tmp=$(mktemp -d "$base/procd-peers.XXXXXX") || exit 1

# Kills every process whose environment holds PEERS_MARK=$tmp; false if
# there was none. runsvdir and s6-svscan start a runsv or s6-supervise
# again if it dies before them, so cleanup sweeps until none is left. Both
# functions run from the EXIT trap, which shellcheck 0.9 does not see.
# shellcheck disable=SC2317
sweep() {
	found=1
	for env in /proc/[0-9]*/environ; do
		pid=${env#/proc/}
		pid=${pid%/environ}
		[ "$pid" = "$$" ] && continue
		if tr '\0' '\n' 2>/dev/null <"$env" |
		    grep -qxF "PEERS_MARK=$tmp"; then
			kill -KILL "$pid" 2>/dev/null
			found=0
		fi
	done
	return "$found"
}

# shellcheck disable=SC2317
cleanup() {
	if [ -n "${pypid:-}" ]; then
		kill -TERM "$pypid" 2>/dev/null
		wait "$pypid" 2>/dev/null
	fi
	n=0
	while sweep && [ "$n" -lt 10 ]; do
		n=$((n + 1))
		sleep 0.1
	done
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

PEERS_MARK=$tmp "$python" "$here/peers.py" --tmp "$tmp" "$@" &
pypid=$!
wait "$pypid"
rc=$?
pypid=
exit "$rc"
