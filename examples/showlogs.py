# SPDX-License-Identifier: ISC
# show(): what the procd examples have in place of a shared terminal. A
# multiprocessing child writes to its parent's stdout; a procd job's
# output is kept by procd (its logs), so the parent follows the logs and
# prints them.
import sys
import threading


def show(*jobs):
    """Print the jobs' output here as it comes (stdout to stdout, stderr
    to stderr), until they have all ended. Whole lines only, so that the
    lines of two jobs never mix, however their writes were cut."""
    lock = threading.Lock()

    def write(stream, data):
        if data:
            out = sys.stdout if stream == "stdout" else sys.stderr
            with lock:
                out.flush()
                out.buffer.write(data)
                out.buffer.flush()

    def copy(job):
        held = {"stdout": b"", "stderr": b""}
        for rec in job.logs(follow=True):
            data = held[rec.stream] + rec.data
            cut = data.rfind(b"\n") + 1
            held[rec.stream] = data[cut:]
            write(rec.stream, data[:cut])
        for stream, rest in held.items():
            write(stream, rest)

    threads = [threading.Thread(target=copy, args=(job,)) for job in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
