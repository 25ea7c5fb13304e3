#!/bin/sh
# SPDX-License-Identifier: ISC
# daemon_mp.py with procctl: work is a daemonic child job of main, so
# when main's process ends, procd terminates work (the daemon-child rule)
# and work never prints its last line. For that main must be a job
# itself: run plainly, this script runs itself again as one.
# The jobs' code is in single quotes: their own sh expands it.
# shellcheck disable=SC2016
set -eu

if [ -z "${DAEMON_MAIN:-}" ]; then
	main=daemon-$$
	# A job gets procd's environment, not ours: pass on where procctl
	# and procd are.
	status=0
	procctl run --name "$main" --env "DAEMON_MAIN=$main" --env "PATH=$PATH" \
	    --env "PROCD_SOCKET=${PROCD_SOCKET:-}" -- sh "$0" || status=$?
	procctl close "$main-work" >/dev/null 2>&1 || :
	procctl close "$main" >/dev/null
	exit "$status"
fi

work='for i in $(seq 30); do sleep 1; done; echo "work: done"'
procctl start --daemon --parent "$DAEMON_MAIN" --name "$DAEMON_MAIN-work" \
    -- sh -c "$work" >/dev/null
echo "main: work started (daemon=True)"
sleep 1
alive=False
procctl join "$DAEMON_MAIN-work" --timeout 0 >/dev/null || [ $? -ne 124 ] || alive=True
echo "main: work alive: $alive"
echo "main: exiting; work ends with me"
