#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
# daemon_mp.py with procd: work is a daemonic child job of main, so when
# main's process ends, procd terminates work (the daemon-child rule) and
# work never prints its last line. For that main must be a job itself:
# started with procctl run, it is one, and Job's default parent
# (procd.CURRENT) makes work its child; run plainly, it runs itself again
# as a job.
import os
import sys
import time

import procd
from showlogs import show


def work():
    for _ in range(30):
        time.sleep(1)
    print("work: done", flush=True)     # never: main ends first


def run_as_job():
    """Run this program again as a procd job and show its output, as
    procctl run does; returns its exit status. A job has procd's
    environment, not ours: pass on the socket and where procd's Python
    package is."""
    client = procd.default_client()
    env = {"PROCD_SOCKET": client.socket,
           "PYTHONPATH": os.path.dirname(os.path.dirname(procd.__file__))}
    main = procd.Job([sys.executable, __file__], env=env)
    main.start()
    show(main)
    main.join()
    status = main.exitcode
    for child in client.jobs(parent=main):
        child.close()
    main.close()
    return status if status >= 0 else 128 - status


if __name__ == "__main__":
    if procd.current_job() is None:
        sys.exit(run_as_job())
    p = procd.Job(target=work, daemon=True)
    p.start()
    print(f"main: work started (daemon={p.daemon})", flush=True)
    time.sleep(1)
    print("main: work alive:", p.is_alive(), flush=True)
    print("main: exiting; work ends with me", flush=True)
