#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""Answer bounds of procd (PROTOCOL.md sections 2, 5 `logs`, 13), measured.

Starts a private procd on a socket in a temp folder for each scenario and
prints one table row per scenario: procd's peak RSS (VmHWM) and the
latency of a client B that sends `status` one at a time while client A
makes procd build a large answer.

  batch        default options; a job kept 4 MiB of stdout; A sends one
               batch of 2000 `logs` for it and reads nothing; B polls for
               up to 20 s or until procd closes A.
  huge-logs    --max-output 64 MiB; a job kept 64 MiB; A sends one `logs`
               (text) and reads nothing for 2 s, then reads it all; B polls
               for 5 s.
  huge-logs-16 the same with the default --max-output (16 MiB).

A procd whose RSS passes --rss-cap (default 6 GiB) is killed. Optional,
not in CI; stdlib only. Usage:
    tests/bench/bounds.py [--procd PATH] [--only NAME ...] [--rss-cap MIB]
"""

import argparse
import json
import os
import platform
import select
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

import benchutil

MIB = 1 << 20
TOP = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))


def note(msg):
    print("bounds: " + msg, file=sys.stderr, flush=True)


def proc_status(pid):
    """(VmRSS, VmHWM) of pid in KiB, or None once it is gone."""
    rss = hwm = None
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    rss = int(line.split()[1])
                elif line.startswith("VmHWM:"):
                    hwm = int(line.split()[1])
    except OSError:
        return None
    if rss is None or hwm is None:
        return None     # a zombie has no memory lines
    return rss, hwm


# --- procd -------------------------------------------------------------

class Procd:
    """A private procd with an RSS watchdog."""

    def __init__(self, path, tmp, tag, opts, rss_cap_kib):
        self.sock_path = os.path.join(tmp, "%s.sock" % tag)
        self.log_path = os.path.join(tmp, "%s.log" % tag)
        self.log = open(self.log_path, "wb")
        self.argv = [path, "--socket", self.sock_path] + opts
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL,
                                     stdout=self.log, stderr=self.log,
                                     start_new_session=True)
        self.rss_cap_kib = rss_cap_kib
        self.killed_at = None       # monotonic time of the watchdog's kill
        self.killed_rss = None
        self.seen_hwm = 0           # the largest VmHWM the watchdog read
        self.done = threading.Event()
        if not benchutil.wait_for_socket(self.sock_path, self.proc):
            raise RuntimeError("procd did not start: %s" % self.tail_log())
        self.watch = threading.Thread(target=self.watchdog, daemon=True)
        self.watch.start()

    def watchdog(self):
        while not self.done.is_set():
            st = proc_status(self.proc.pid)
            if st is None:
                return
            rss, hwm = st
            self.seen_hwm = max(self.seen_hwm, hwm)
            if rss > self.rss_cap_kib and self.killed_at is None:
                self.killed_at = time.monotonic()
                self.killed_rss = rss
                try:
                    os.kill(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                note("procd at %d MiB RSS, past the cap: killed"
                     % (rss // 1024))
                return
            time.sleep(0.005)

    def alive(self):
        return self.proc.poll() is None and self.killed_at is None

    def rss_mib(self):
        st = proc_status(self.proc.pid)
        return None if st is None else st[0] / 1024

    def peak_mib(self):
        """(MiB, exact): VmHWM now, or the watchdog's last if procd died."""
        st = proc_status(self.proc.pid) if self.alive() else None
        if st is not None:
            return st[1] / 1024, True
        return self.seen_hwm / 1024, False

    def tail_log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read()[-500:].decode(errors="replace").strip()
        except OSError:
            return ""

    def stop(self):
        self.done.set()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                note("procd did not stop within 5 s of SIGTERM: killed")
                self.proc.kill()
                self.proc.wait()
        self.log.close()


class Conn:
    """A JSON-RPC connection, one request at a time."""

    def __init__(self, path, timeout=10):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(timeout)
        self.s.connect(path)
        self.buf = b""
        self.next_id = 0

    def readline(self, deadline):
        """One line (without its newline); None on EOF or reset, or
        socket.timeout once deadline (monotonic) has passed."""
        while True:
            i = self.buf.find(b"\n")
            if i >= 0:
                line, self.buf = self.buf[:i], self.buf[i + 1:]
                return line
            left = deadline - time.monotonic()
            if left <= 0:
                raise socket.timeout()
            self.s.settimeout(left)
            try:
                data = self.s.recv(1 << 20)
            except (ConnectionResetError, BrokenPipeError):
                return None
            if not data:
                return None
            self.buf += data

    def call(self, method, params=None, timeout=10):
        self.next_id += 1
        req = {"jsonrpc": "2.0", "id": self.next_id, "method": method}
        if params is not None:
            req["params"] = params
        self.s.settimeout(timeout)
        self.s.sendall(json.dumps(req).encode() + b"\n")
        deadline = time.monotonic() + timeout
        while True:
            line = self.readline(deadline)
            if line is None:
                raise RuntimeError("procd closed the connection (%s)"
                                   % method)
            ans = json.loads(line)
            if ans.get("id") == self.next_id:
                break
        if "error" in ans:
            raise RuntimeError("procd %s: %s" % (method, ans["error"]))
        return ans["result"]

    def close(self):
        self.s.close()


def writer_job(procd, nbytes):
    """Start a job that writes nbytes to stdout and exits, and join it."""
    ctl = Conn(procd.sock_path)
    code = "import sys; sys.stdout.buffer.write(b'x' * %d)" % nbytes
    job = ctl.call("start", {"argv": [sys.executable, "-c", code],
                             "log_limit": nbytes})
    job = ctl.call("join", {"job": job["id"], "timeout": 20}, timeout=25)
    ctl.close()
    if job.get("timed_out") or job.get("exitcode") != 0:
        raise RuntimeError("writer job did not finish well: %r" % job)
    return job["id"]


# --- client B ----------------------------------------------------------

class Poller(threading.Thread):
    """Client B: `status` for one job, one at a time, until stop is set or
    the window ends. A request still unanswered at the end (or cut by
    procd's death) counts with the time it waited, as a lower bound."""

    def __init__(self, procd, job, window, stop):
        super().__init__(daemon=True)
        self.conn = Conn(procd.sock_path)
        self.job = job
        self.window = window
        self.stop = stop
        self.lat = []           # ms, answered requests
        self.cut = None         # ms waited by a request never answered
        self.cut_why = None
        self.errors = 0

    def run(self):
        end = time.monotonic() + self.window
        n = 0
        while not self.stop.is_set() and time.monotonic() < end:
            n += 1
            line = b'{"jsonrpc":"2.0","method":"status","params":' \
                b'{"job":%d},"id":%d}\n' % (self.job, n)
            t0 = time.monotonic()
            try:
                self.conn.s.settimeout(5)
                self.conn.s.sendall(line)
                ans = self.conn.readline(end + 0.5)
            except socket.timeout:
                ans, self.cut_why = None, "no answer by the window's end"
            except OSError as e:
                ans, self.cut_why = None, "send failed: %s" % e
            t1 = time.monotonic()
            if ans is None:
                self.cut = (t1 - t0) * 1000
                self.cut_why = self.cut_why or "procd closed B"
                break
            self.lat.append((t1 - t0) * 1000)
            if b'"result"' not in ans:
                self.errors += 1
        self.conn.close()

    def summary(self):
        lat = sorted(self.lat)
        n = len(lat)
        p99 = lat[max(0, -(-99 * n // 100) - 1)] if n else None
        worst = lat[-1] if n else None
        cut = ""
        if self.cut is not None:
            cut = ">="
            worst = max(worst or 0, self.cut)
            if p99 is None:
                p99 = self.cut
        return {"n": n, "p99": p99, "worst": worst, "cut": cut,
                "cut_why": self.cut_why, "errors": self.errors}


# --- scenarios ---------------------------------------------------------

def drain(sock, deadline):
    """Reads sock until a newline, EOF or deadline; keeps only the count,
    so a multi-GiB answer costs nothing. Returns (bytes, how)."""
    total = 0
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return total, "deadline"
        sock.settimeout(left)
        try:
            data = sock.recv(1 << 20)
        except socket.timeout:
            return total, "deadline"
        except (ConnectionResetError, BrokenPipeError):
            return total, "reset"
        if not data:
            return total, "EOF"
        i = data.find(b"\n")
        if i >= 0:
            return total + i, "line"
        total += len(data)


def scenario_batch(args, tmp):
    procd = Procd(args.procd, tmp, "batch", [], args.rss_cap * 1024)
    try:
        job = writer_job(procd, 4 * MIB)
        before = procd.rss_mib()
        a = Conn(procd.sock_path)
        batch = [{"jsonrpc": "2.0", "method": "logs",
                  "params": {"job": job}, "id": i}
                 for i in range(1, 2001)]
        line = json.dumps(batch, separators=(",", ":")).encode() + b"\n"
        stop = threading.Event()
        b = Poller(procd, job, 20, stop)
        a.s.sendall(line)
        t_sent = time.monotonic()
        b.start()
        a.s.setblocking(False)
        got = b""               # what A received in the window (capped)
        a_end = None            # (how, seconds after the send)
        while b.is_alive():
            if procd.killed_at is not None:
                stop.set()
                break
            if len(got) >= MIB:
                time.sleep(0.005)   # past 1 MiB it is an answer: wait
                continue
            r, _, _ = select.select([a.s], [], [], 0.005)
            if not r:
                continue
            try:
                data = a.s.recv(65536)
            except BlockingIOError:
                continue
            except (ConnectionResetError, BrokenPipeError):
                a_end = ("reset", time.monotonic() - t_sent)
                stop.set()
                break
            if not data:
                a_end = ("EOF", time.monotonic() - t_sent)
                stop.set()
                break
            got += data
        b.join(25)
        outcome = a_outcome_batch(procd, a, got, a_end, t_sent)
        a.close()
        peak, exact = procd.peak_mib()
        return row("batch", "16 MiB (default)", before, peak, exact, b,
                   outcome, procd)
    finally:
        procd.stop()


def a_outcome_batch(procd, a, got, a_end, t_sent):
    if procd.killed_at is not None:
        return "none: procd killed at the RSS cap (%d MiB) %.2f s after " \
            "the send; A had %d B" % (procd.killed_rss // 1024,
                                      procd.killed_at - t_sent, len(got))
    if a_end is not None:
        how, t = a_end
        first = got.split(b"\n", 1)[0][:160].decode(errors="replace")
        return "closed by procd (%s) %.2f s after the send, %d B before " \
            "it%s" % (how, t, len(got), (": " + first) if got else "")
    if not got:
        # Nothing in 20 s: give procd a little more, then close A.
        r, _, _ = select.select([a.s], [], [], 5)
        if not r:
            rss = procd.rss_mib()
            return "nothing within 25 s of the send (A closed; procd %s)" % (
                "gone" if rss is None else
                "still busy at %.0f MiB RSS" % rss)
    n, how = drain_blocking(a, time.monotonic() + 10)
    n += len(got)
    if how == "line":
        return "answer line of %d B (%.2f s after the send)" % (
            n, time.monotonic() - t_sent)
    return "answer, %d B read then %s (%.2f s after the send)" % (
        n, how, time.monotonic() - t_sent)


def drain_blocking(a, deadline):
    a.s.setblocking(True)
    return drain(a.s, deadline)


def scenario_huge(args, tmp, tag, max_output):
    opts = [] if max_output is None else ["--max-output", str(max_output)]
    procd = Procd(args.procd, tmp, tag, opts, args.rss_cap * 1024)
    try:
        job = writer_job(procd, 64 * MIB)
        before = procd.rss_mib()
        a = Conn(procd.sock_path)
        stop = threading.Event()
        b = Poller(procd, job, 5, stop)
        a.s.sendall(b'{"jsonrpc":"2.0","method":"logs","params":'
                    b'{"job":%d,"encoding":"text"},"id":1}\n' % job)
        t_sent = time.monotonic()
        b.start()
        result = {}

        def reader():
            time.sleep(2)
            buf = []
            deadline = t_sent + 15
            how = "deadline"
            while time.monotonic() < deadline:
                a.s.settimeout(max(0.01, deadline - time.monotonic()))
                try:
                    data = a.s.recv(1 << 20)
                except socket.timeout:
                    break
                except (ConnectionResetError, BrokenPipeError):
                    how = "reset"
                    break
                if not data:
                    how = "EOF"
                    break
                buf.append(data)
                if b"\n" in data:
                    how = "line"
                    break
            result["data"] = b"".join(buf)
            result["how"] = how
            result["t"] = time.monotonic() - t_sent

        rt = threading.Thread(target=reader, daemon=True)
        rt.start()
        b.join(10)
        rt.join(16)
        a.close()
        outcome = a_outcome_huge(procd, result, t_sent)
        peak, exact = procd.peak_mib()
        mo = "%d MiB" % (max_output // MIB) if max_output else \
            "16 MiB (default)"
        return row(tag, mo, before, peak, exact, b, outcome, procd)
    finally:
        procd.stop()


def a_outcome_huge(procd, result, t_sent):
    if procd.killed_at is not None:
        return "none: procd killed at the RSS cap (%d MiB) %.2f s after " \
            "the send" % (procd.killed_rss // 1024, procd.killed_at - t_sent)
    data = result.get("data", b"")
    how = result.get("how", "deadline")
    t = result.get("t", 0)
    if how != "line":
        return "no answer line: %d B then %s (seen %.2f s after the send; " \
            "A first reads at 2 s)" % (len(data), how, t)
    line = data.split(b"\n", 1)[0]
    try:
        ans = json.loads(line)
    except ValueError:
        return "answer line of %d B, not JSON" % len(line)
    if "error" in ans:
        return "answer line of %d B: error %s" % (len(line), ans["error"])
    res = ans.get("result") or {}
    recs = res.get("records", [])
    kept = sum(len(r.get("data", "")) for r in recs)
    return "answer line of %d B (%.2f MiB): %d records, %d chars of data, " \
        "truncated %s (%.2f s after the send)" % (
            len(line), len(line) / MIB, len(recs), kept,
            json.dumps(res.get("truncated")), t)


def row(name, max_output, before, peak, exact, b, outcome, procd):
    s = b.summary()
    return {"scenario": name, "max_output": max_output,
            "before": before, "peak": peak, "peak_exact": exact,
            "b": s, "a": outcome, "argv": procd.argv}


def fmt_ms(v, cut):
    return "-" if v is None else "%s%.1f" % (cut, v)


def print_table(rows):
    head = ("scenario", "max-output", "RSS before MiB", "peak RSS MiB",
            "B n", "B p99 ms", "B worst ms")
    cells = []
    for r in rows:
        b = r["b"]
        cells.append((r["scenario"], r["max_output"],
                      "-" if r["before"] is None else "%.1f" % r["before"],
                      ("%.1f" if r["peak_exact"] else ">=%.1f") % r["peak"],
                      str(b["n"]),
                      fmt_ms(b["p99"], b["cut"] if b["n"] == 0 else ""),
                      fmt_ms(b["worst"], b["cut"])))
    w = [max(len(h), *(len(c[i]) for c in cells)) for i, h in
         enumerate(head)]
    print("  ".join(h.ljust(w[i]) for i, h in enumerate(head)).rstrip())
    for c in cells:
        print("  ".join(x.ljust(w[i]) for i, x in enumerate(c)).rstrip())
    print()
    for r in rows:
        b = r["b"]
        print("%s: A: %s" % (r["scenario"], r["a"]))
        if b["cut"]:
            print("%s: B: last request unanswered after %.1f ms (%s)"
                  % (r["scenario"], b["worst"], b["cut_why"]))
        if b["errors"]:
            print("%s: B: %d error answers" % (r["scenario"], b["errors"]))
    print()
    for r in rows:
        print("%s: procd argv: %s" % (r["scenario"], shlex.join(
            [os.path.basename(r["argv"][0]), *r["argv"][1:]])))


SCENARIOS = ("batch", "huge-logs", "huge-logs-16")


def main():
    ap = argparse.ArgumentParser(
        description="Peak RSS of procd and the latency of another client "
        "while one client asks for huge answers (PROTOCOL.md 13).")
    ap.add_argument("--procd",
                    default=os.path.join(TOP, "build/daemon/procd"),
                    help="procd binary (default: build/daemon/procd in "
                    "the source tree)")
    ap.add_argument("--only", nargs="+", choices=SCENARIOS,
                    help="run only these scenarios")
    ap.add_argument("--rss-cap", type=int, default=6144, metavar="MIB",
                    help="kill procd past this RSS (default 6144 MiB)")
    args = ap.parse_args()
    args.procd = os.path.abspath(args.procd)
    if not os.access(args.procd, os.X_OK):
        note("no procd at %s; build it first or give --procd" % args.procd)
        return 1
    try:
        version = subprocess.run([args.procd, "--version"],
                                 capture_output=True, text=True,
                                 timeout=5).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        version = "?"
    print("# bounds.py: answer bounds of procd (PROTOCOL.md 2, 5 logs, 13)")
    print("# command: %s" % shlex.join(
        [os.path.basename(sys.executable)] + sys.argv))
    print("# procd: %s (%s)" % (args.procd, version or "?"))
    print("# host: %s, %d cores, Python %s, %s" % (
        platform.platform(), os.cpu_count() or 0, platform.python_version(),
        time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())))
    print("# RSS cap %d MiB; B = `status` one at a time (batch: <= 20 s, "
          "huge-logs: 5 s); '>=' marks a lower bound" % args.rss_cap)
    print(flush=True)
    t0 = time.monotonic()
    tmp = tempfile.mkdtemp(prefix="procd-bounds-")
    rows = []
    try:
        for name in args.only or SCENARIOS:
            note("scenario %s" % name)
            if name == "batch":
                rows.append(scenario_batch(args, tmp))
            elif name == "huge-logs":
                rows.append(scenario_huge(args, tmp, name, 64 * MIB))
            else:
                rows.append(scenario_huge(args, tmp, name, None))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print_table(rows)
    print("# total %.1f s" % (time.monotonic() - t0), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
