#!/bin/sh
# SPDX-License-Identifier: ISC
# join_mp.py with procctl: join exits with the job's status, 128+N for a
# job killed by signal N, and 124 when its --timeout passes; exitcode
# turns that into multiprocessing's exitcode (-N for signal N). The
# script's exit status is how many of them failed.
set -eu

# exitcode JOB: wait for JOB and print its exitcode as multiprocessing has it.
exitcode() {
	status=0
	procctl join "$1" >/dev/null || status=$?
	if [ "$status" -gt 128 ]; then
		status=$((128 - status))
	fi
	echo "$status"
}

procctl start --name "ok-$$" -- sh -c 'echo "ok: finished my work"' >/dev/null
procctl start --name "fail-$$" -- sh -c 'echo "fail: giving up"; exit 3' >/dev/null
procctl start --name "hang-$$" -- sh -c 'sleep 60; echo "hang: woke up"' >/dev/null
echo "main: waiting for ok and fail"
procctl logs -f "ok-$$" &
procctl logs -f "fail-$$" &
wait
ok=$(exitcode "ok-$$")
fail=$(exitcode "fail-$$")
alive=False
procctl join "hang-$$" --timeout 1 >/dev/null || [ $? -ne 124 ] || alive=True
echo "main: hang alive after join(timeout=1): $alive"
procctl terminate "hang-$$" >/dev/null
hang=$(exitcode "hang-$$")
echo "main: ok exitcode $ok"
echo "main: fail exitcode $fail"
echo "main: hang exitcode $hang"
failed=0
for code in "$ok" "$fail" "$hang"; do
	[ "$code" -eq 0 ] || failed=$((failed + 1))
done
for job in ok fail hang; do
	procctl close "$job-$$" >/dev/null
done
exit "$failed"
