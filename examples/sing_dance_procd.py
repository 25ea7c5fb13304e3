#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
# sing_dance_mp.py with procd: sing and dance run as two procd jobs.
# procd keeps their output; show() prints it here as it comes.
import time

import procd
from showlogs import show


def sing():
    for words in ("la", "la la", "la la la"):
        print("sing:", words, flush=True)
        time.sleep(0.3)


def dance():
    for step in ("left", "right", "turn around"):
        print("dance:", step, flush=True)
        time.sleep(0.4)


if __name__ == "__main__":
    p1 = procd.Job(target=sing)
    p2 = procd.Job(target=dance)
    p1.start()
    p2.start()
    show(p1, p2)
    p1.join()
    p2.join()
    print("main: both done", flush=True)
    p1.close()
    p2.close()
