#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
# One function run twice with what it needs: positional args for one
# process, keyword args for the other.
import time
from multiprocessing import Process


def count(name, num):
    for i in range(1, num + 1):
        print(f"{name}: {i} of {num}", flush=True)
        time.sleep(0.2)


if __name__ == "__main__":
    p1 = Process(target=count, args=("Yuki", 3))
    p2 = Process(target=count, kwargs={"name": "Nagato", "num": 4})
    p1.start()
    p2.start()
    p1.join()
    p2.join()
    print("main: done", flush=True)
    p1.close()
    p2.close()
