#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
# Two functions, sing and dance, run at the same time in two processes,
# and joined: multiprocessing's first example.
import time
from multiprocessing import Process


def sing():
    for words in ("la", "la la", "la la la"):
        print("sing:", words, flush=True)
        time.sleep(0.3)


def dance():
    for step in ("left", "right", "turn around"):
        print("dance:", step, flush=True)
        time.sleep(0.4)


if __name__ == "__main__":
    p1 = Process(target=sing)
    p2 = Process(target=dance)
    p1.start()
    p2.start()
    p1.join()
    p2.join()
    print("main: both done", flush=True)
    p1.close()
    p2.close()
