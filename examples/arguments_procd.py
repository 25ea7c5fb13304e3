#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
# arguments_mp.py with procd: args and kwargs travel to the job pickled,
# as with multiprocessing's spawn start method.
import time

import procd
from showlogs import show


def count(name, num):
    for i in range(1, num + 1):
        print(f"{name}: {i} of {num}", flush=True)
        time.sleep(0.2)


if __name__ == "__main__":
    p1 = procd.Job(target=count, args=("Yuki", 3))
    p2 = procd.Job(target=count, kwargs={"name": "Nagato", "num": 4})
    p1.start()
    p2.start()
    show(p1, p2)
    p1.join()
    p2.join()
    print("main: done", flush=True)
    p1.close()
    p2.close()
