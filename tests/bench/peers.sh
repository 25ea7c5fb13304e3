#!/bin/sh
# SPDX-License-Identifier: ISC
# Peers of procd (optional, not in CI): spawn throughput
# and supervisor memory of procd, task-spooler and Python's multiprocessing
# (Debian's /usr/bin/python3), in one run; the work is in peers.py. Installs
# nothing; skips task-spooler if `tsp` is missing. Run from the build tree:
#     tests/bench/peers.sh [--jobs N] [--inflight W] [--rounds R] [--live M]
# Every process it starts carries PEERS_MARK=<its temp folder> in its
# environment; the trap kills whatever still has it.

set -u

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
procd=${PROCD:-$top/daemon/procd}
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
if [ -x "$top/tests/bench/procbench" ] && [ -x "$top/tests/bench/spawnbase" ]
then
	set -- --procbench "$top/tests/bench/procbench" \
	    --spawnbase "$top/tests/bench/spawnbase" "$@"
else
	echo "peers.sh: no procbench row; to add it:" \
	    "make tests/bench/procbench tests/bench/spawnbase" >&2
fi
if tsp=$(command -v tsp); then
	set -- --tsp "$tsp" "$@"
else
	echo "peers.sh: tsp not found, task-spooler skipped; to add it:" \
	    "apt-get install -y task-spooler" >&2
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/procd-peers.XXXXXX") || exit 1

# Kills every process whose environment holds PEERS_MARK=$tmp. Both
# functions run from the EXIT trap, which shellcheck 0.9 does not see.
# shellcheck disable=SC2317
sweep() {
	for env in /proc/[0-9]*/environ; do
		pid=${env#/proc/}
		pid=${pid%/environ}
		[ "$pid" = "$$" ] && continue
		if tr '\0' '\n' 2>/dev/null <"$env" |
		    grep -qxF "PEERS_MARK=$tmp"; then
			kill -KILL "$pid" 2>/dev/null
		fi
	done
}

# shellcheck disable=SC2317
cleanup() {
	if [ -n "${pypid:-}" ]; then
		kill -TERM "$pypid" 2>/dev/null
		wait "$pypid" 2>/dev/null
	fi
	sweep
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
