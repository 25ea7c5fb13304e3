# SPDX-License-Identifier: ISC
"""What the Python benchmarks (bounds.py, supervise.py, peers.py) share:
waiting for a procd's socket, and naming the machine's processor."""
import socket
import time


def wait_for_socket(path, proc, timeout=10.0):
    """True once path accepts a connection; False if proc exits or
    timeout seconds pass first."""
    deadline = time.monotonic() + timeout
    while True:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(path)
            return True
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        finally:
            s.close()


def cpu_model():
    """The processor's model name from /proc/cpuinfo, or "?"."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "?"
