#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
# The parent waits for its children with join and reads how each ended:
# exitcode 0 for a return, the code given to sys.exit, and -N for a child
# killed by signal N (here hang, terminated after join's timeout). main's
# own exit status is how many of them failed.
import sys
import time
from multiprocessing import Process


def ok():
    print("ok: finished my work", flush=True)


def fail():
    print("fail: giving up", flush=True)
    sys.exit(3)


def hang():
    time.sleep(60)
    print("hang: woke up", flush=True)     # never: terminated first


if __name__ == "__main__":
    procs = [Process(target=f, name=f.__name__) for f in (ok, fail, hang)]
    for p in procs:
        p.start()
    print("main: waiting for ok and fail", flush=True)
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
