#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
# join_mp.py with procd: join, join with a timeout, terminate, and the
# exitcode of each job: 0, the code given to sys.exit, -N for signal N.
# A job's name is unique among the jobs procd keeps, so they are closed
# at the end (procctl close ok fail hang, if this was interrupted).
import sys
import time

import procd
from showlogs import show


def ok():
    print("ok: finished my work", flush=True)


def fail():
    print("fail: giving up", flush=True)
    sys.exit(3)


def hang():
    time.sleep(60)
    print("hang: woke up", flush=True)     # never: terminated first


if __name__ == "__main__":
    procs = [procd.Job(target=f, name=f.__name__) for f in (ok, fail, hang)]
    for p in procs:
        p.start()
    print("main: waiting for ok and fail", flush=True)
    show(procs[0], procs[1])
    procs[0].join()
    procs[1].join()
    procs[2].join(timeout=1)
    print("main: hang alive after join(timeout=1):", procs[2].is_alive(),
          flush=True)
    procs[2].terminate()
    procs[2].join()
    for p in procs:
        print(f"main: {p.name} exitcode {p.exitcode}", flush=True)
    failed = sum(p.exitcode != 0 for p in procs)
    for p in procs:
        p.close()
    sys.exit(failed)
