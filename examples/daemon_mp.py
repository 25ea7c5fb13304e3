#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
# A daemonic child: main does not wait for work, and when main ends, work
# is terminated with it, so work never prints its last line.
import time
from multiprocessing import Process


def work():
    for _ in range(30):
        time.sleep(1)
    print("work: done", flush=True)     # never: main ends first


if __name__ == "__main__":
    p = Process(target=work, daemon=True)
    p.start()
    print(f"main: work started (daemon={p.daemon})", flush=True)
    time.sleep(1)
    print("main: work alive:", p.is_alive(), flush=True)
    print("main: exiting; work ends with me", flush=True)
