#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""The pause of procd's `reexec` (PROTOCOL.md section 9), measured.

Starts one private procd on a socket in a temp folder (--max-jobs,
--max-clients and their per-user forms high enough, RLIMIT_NOFILE raised
before exec) and holds --clients idle connections to it (1,000; each
answered one `info` first, so all were accepted). --captured jobs (4)
run `sleep` with output "capture" (each wrote a line first); then the
bulk `sleep` jobs, output "null" (no pipe fds), are added in pipelined
batches, so that procd holds 0, --jobs/10 and --jobs (10,000) of them
besides the captured ones. At each point:

  info RTT   `info` on connection B, one at a time (--info-rtts, 1000):
             the round trip of a plain request, the baseline.
  reexec     --rounds (5) times: B sends `status` of the first captured
             job back to back (a new request as soon as the last is
             answered), for 100 ms, then connection A sends `reexec`;
             B goes on until the reexec answer is in and B has had 20
             more answers. Figures, from the moment A sent `reexec`:
             - to B's first status answer from the new image: the
               arrival of the answer to B's request that waited longest
               among those sent before the reexec answer came and
               answered after the send of reexec (the one the switch
               held up; a request the old image answered meanwhile,
               e.g. while it checked the new program, does not count);
             - to the reexec answer itself (the new image sends it).
             Also B's status round trip in the 100 ms before (no reexec
             under way), medians and maxima over the rounds, and the
             growth per job between the two largest points (us/job).
             Past 3 rounds at a point, no more are taken once the next
             would likely end past --budget seconds (100) of run.
  checks     after each point's reexecs (not timed): every job is there
             (`list`), running, with the pid it started with; the
             captured jobs still have their line (`logs`); each idle
             client answers an `info`; `info` has the same pid and
             started_at and reexecs == reexecs done. Also procd's open
             fds and VmRSS before and after the point's reexecs.

Reports, never asserts: the exit status is 0. A procd without `reexec`
(method not found) gets its baseline figures and a note. Optional, not
in CI; stdlib only. Usage:
    tests/bench/reexec.py --procd PATH [--rounds N] [--jobs N]
        [--clients N] [--captured N] [--info-rtts N] [--budget S]
"""

import argparse
import ctypes
import gc
import json
import os
import resource
import select
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

import benchutil
from benchutil import RpcError, result
from benchutil import number

TOP = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
PR_SET_PDEATHSIG = 1
SLEEP = "3600"          # a job leaked by a crash still goes in an hour
LEAD = 0.1              # seconds of status polling before each reexec
TAIL_ANSWERS = 20       # status answers wanted after the reexec answer
REEXEC_TIMEOUT = 60.0


def note(msg):
    print("reexec: " + msg, file=sys.stderr, flush=True)


class Failed(Exception):
    """A figure that could not be taken; the message says why."""


def procd_preexec(nofile):
    """preexec_fn: procd gets SIGTERM when this script dies, and a
    RLIMIT_NOFILE of nofile (or as high as the hard limit allows)."""
    def set_it():
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))
        except (OSError, ValueError):
            _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
            try:
                resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            except (OSError, ValueError):
                pass
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        except (OSError, AttributeError):
            pass
    return set_it


def raise_own_nofile(need):
    """Raises this script's soft RLIMIT_NOFILE (and the hard one where
    allowed) to at least need; returns the soft limit it got."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < need:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (need, need))
            return need
        except (OSError, ValueError):
            pass
    want = hard if hard != resource.RLIM_INFINITY else max(soft, need)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
        return want
    except (OSError, ValueError):
        return soft


# --- /proc -------------------------------------------------------------

def proc_fds(pid):
    try:
        return len(os.listdir("/proc/%d/fd" % pid))
    except OSError:
        return None


def proc_rss_kib(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


def proc_cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read()
    except OSError:
        return None




# --- procd -------------------------------------------------------------

class Procd:
    """A private procd; SIGTERM reaches it if this script dies."""

    def __init__(self, path, tmp, opts, nofile):
        self.sock_path = os.path.join(tmp, "procd.sock")
        self.log_path = os.path.join(tmp, "procd.log")
        self.log = open(self.log_path, "wb")
        self.argv = [path, "--socket", self.sock_path] + opts
        self.proc = subprocess.Popen(
            self.argv, stdin=subprocess.DEVNULL, stdout=self.log,
            stderr=self.log, start_new_session=True,
            preexec_fn=procd_preexec(nofile))
        self.pid = self.proc.pid
        if not benchutil.wait_for_socket(self.sock_path, self.proc):
            self.stop()
            raise Failed("procd did not start: %s" % self.tail_log())

    def alive(self):
        return self.proc.poll() is None

    def gone(self):
        """Why a connection may have ended: procd's state and log."""
        if self.alive():
            return "procd still runs; log: %s" % (self.tail_log() or "-")
        return "procd exited with %s; log: %s" % (
            self.proc.returncode, self.tail_log() or "-")

    def tail_log(self, n=400):
        try:
            with open(self.log_path, "rb") as f:
                return f.read()[-n:].decode(errors="replace").strip()
        except OSError:
            return ""

    def stop(self, timeout=60):
        """SIGTERM (procd stops its jobs first); seconds it took."""
        t0 = time.monotonic()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                note("procd did not stop within %d s of SIGTERM: killed"
                     % timeout)
                self.proc.kill()
                self.proc.wait()
        if not self.log.closed:
            self.log.close()
        return time.monotonic() - t0


# --- connections -------------------------------------------------------

class Conn(benchutil.Conn):
    """Writes each request at once; the answer is read by pump()."""

    def send(self, method, params=None):
        i = super().send(method, params)
        self.flush()
        return i

    def call(self, method, params=None, timeout=30):
        i = self.send(method, params)
        if not pump([self], lambda: i in self.answers, timeout):
            raise Failed("no answer to %s within %g s%s" % (
                method, timeout, " (connection closed)" if self.eof else ""))
        return result(self.answers.pop(i)[0])


def pump(conns, done, timeout):
    """Writes and reads conns until done() or timeout seconds; False when
    it gave up (timeout, or every connection closed). poll, not select:
    the idle clients' fds pass FD_SETSIZE."""
    deadline = time.monotonic() + timeout
    byfd = {c.fd: c for c in conns}
    while not done():
        left = deadline - time.monotonic()
        live = [c for c in conns if not c.eof]
        if left <= 0 or not live:
            return done()
        p = select.poll()
        for c in live:
            p.register(c.fd, select.POLLIN | (select.POLLOUT if c.out
                                              else 0))
        for fd, ev in p.poll(min(left, 1.0) * 1000):
            c = byfd[fd]
            if ev & select.POLLOUT:
                c.flush()
            if ev & (select.POLLIN | select.POLLHUP | select.POLLERR):
                c.read()
    return True


def run_batch(conn, reqs, timeout):
    """Sends reqs [(method, params)] pipelined; the answers in order
    (None where none came)."""
    ids = [conn.send(m, p) for m, p in reqs]
    want = set(ids)
    pump([conn], lambda: want.issubset(conn.answers), timeout)
    return [conn.answers.pop(i, (None, None))[0] for i in ids]


# --- the bench -----------------------------------------------------------

class Bench:
    def __init__(self, args, procd):
        self.args = args
        self.procd = procd
        self.a = Conn(procd.sock_path)      # sends reexec; the checks
        self.b = Conn(procd.sock_path)      # the status poller
        self.idle = []
        self.jobs = {}          # id -> pid, every job started
        self.captured = []      # (id, the line it wrote)
        self.poll_job = None
        self.reexecs = 0        # answered with a result
        self.reexec_error = None
        self.info0 = None
        self.answers = []       # the reexec results
        self.t0 = time.monotonic()

    def connect_idle(self, n):
        note("connecting %d idle clients" % n)
        for i in range(n):
            try:
                self.idle.append(Conn(self.procd.sock_path))
            except OSError as e:
                raise Failed("idle client #%d: connect: %s" % (i + 1, e))
        ok, closed, why = self.ask_idle()
        if ok < n:
            raise Failed("of %d idle clients %d answered info (%d closed; "
                         "%s)" % (n, ok, closed, why or "-"))

    def ask_idle(self):
        """One `info` on every idle client; (answered, closed, first
        error)."""
        ids = {c: c.send("info") for c in self.idle}
        pump(self.idle, lambda: all(ids[c] in c.answers or c.eof
                                    for c in self.idle), 30)
        ok = closed = 0
        why = None
        for c in self.idle:
            a = c.answers.pop(ids[c], None)
            if a is not None and "result" in a[0]:
                ok += 1
            elif a is not None:
                why = why or json.dumps(a[0].get("error"))
            elif c.eof:
                closed += 1
        return ok, closed, why

    def start_captured(self, n):
        reqs = []
        for i in range(n):
            line = "captured-%d says hello" % i
            reqs.append(("start", {"argv": ["sh", "-c", "echo '%s'; exec "
                                            "sleep %s" % (line, SLEEP)],
                                   "name": "cap-%d" % i}))
            self.captured.append([None, line])
        for i, ans in enumerate(run_batch(self.a, reqs, 60)):
            job = self.started(ans)
            self.captured[i][0] = job
        self.poll_job = self.captured[0][0]

    def started(self, ans):
        if ans is None:
            raise Failed("no answer to a start")
        job = result(ans)
        self.jobs[job["id"]] = job["pid"]
        return job["id"]

    def fill(self, n):
        """Bulk sleepers up to n (besides the captured ones), pipelined
        in batches of 500; jobs started per second."""
        have = len(self.jobs) - len(self.captured)
        if n <= have:
            return None
        note("starting %d sleepers (output null), %d to %d"
             % (n - have, have, n))
        t0 = time.monotonic()
        left = n - have
        while left > 0:
            k = min(500, left)
            answers = run_batch(self.a, [("start", {
                "argv": ["sleep", SLEEP], "output": "null"})] * k, 120)
            for ans in answers:
                self.started(ans)
            left -= k
        return (n - have) / (time.monotonic() - t0)

    def info_rtt(self, k):
        """k `info` round trips on B, one at a time: latencies (s). The
        same loop as B's status requests in reexec_round, so that the
        two compare."""
        b = self.b
        p = select.poll()
        p.register(b.fd, select.POLLIN)
        lat = []
        for i in range(k):
            b.out += b'{"jsonrpc":"2.0","method":"info","id":%d}\n' % i
            t0 = time.monotonic()
            b.flush()
            while i not in b.answers:
                if not p.poll(10000) or b.eof:
                    raise Failed("no answer to info on B (%s)"
                                 % self.procd.gone())
                b.read()
            ans, t1 = b.answers.pop(i)
            result(ans)
            lat.append(t1 - t0)
        return lat

    def reexec_round(self):
        """B polls status back to back; after LEAD seconds A sends
        reexec. Returns a dict of times (s, from the send of reexec) or
        raises Failed; an error answer comes back as {"error": ...}."""
        a, b = self.a, self.b
        job = self.poll_job
        samples = []                # (sent, answered, answer ok)
        errors = []
        p = select.poll()
        p.register(a.fd, select.POLLIN)
        p.register(b.fd, select.POLLIN)
        n = 0

        def b_send():
            nonlocal n
            n += 1
            b.out += (b'{"jsonrpc":"2.0","method":"status","params":'
                      b'{"job":%d},"id":%d}\n' % (job, n))
            t = time.monotonic()
            b.flush()
            return n, t

        start = time.monotonic()
        pending = b_send()
        t0 = rid = t_ans = ans = None
        after = 0
        while True:
            now = time.monotonic()
            if t0 is None and now - start >= LEAD:
                a.next_id += 1
                rid = a.next_id
                a.out += b'{"jsonrpc":"2.0","method":"reexec","id":%d}\n' \
                    % rid
                t0 = time.monotonic()
                a.flush()
            if t_ans is not None and after >= TAIL_ANSWERS:
                break
            if t0 is not None and now - t0 > REEXEC_TIMEOUT:
                raise Failed("%s %g s after reexec was sent (B %s); %s" % (
                    "no reexec answer" if t_ans is None else
                    "B had no status answer", REEXEC_TIMEOUT,
                    "waiting since %.1f s before" % (t0 - pending[1])
                    if pending[1] < t0 else "sent after it",
                    self.procd.gone()))
            wait = 100 if t0 is not None else \
                max(1, int((LEAD - (now - start)) * 1000))
            for fd, _ in p.poll(wait):
                (a if fd == a.fd else b).read()
            if a.out:
                a.flush()
            if b.out:
                b.flush()
            if a.eof or b.eof:
                raise Failed("procd closed connection %s during a reexec "
                             "round; %s" % ("A" if a.eof else "B",
                                            self.procd.gone()))
            got = b.answers.pop(pending[0], None)
            if got is not None:
                msg, t = got
                r = msg.get("result")
                ok = isinstance(r, dict) and r.get("id") == job and \
                    r.get("state") == "running"
                if not ok:
                    errors.append(json.dumps(msg)[:200])
                samples.append((pending[1], t, ok))
                if t_ans is not None:
                    after += 1
                pending = b_send()
            if t_ans is None and rid is not None and rid in a.answers:
                ans, t_ans = a.answers.pop(rid)
                if "error" in ans:
                    pump([b], lambda: pending[0] in b.answers, 10)
                    b.answers.clear()
                    return {"error": ans["error"]}
        # The one answered request still in flight at the end is dropped:
        # drain it so that the next round starts clean.
        if not pump([b], lambda: pending[0] in b.answers, 10):
            raise Failed("B's last status was not answered")
        b.answers.clear()
        before = [t1 - t for t, t1, _ in samples if t1 <= t0]
        later = [(t, t1) for t, t1, _ in samples if t1 > t0]
        # The request the switch held up was sent before the new image
        # answered reexec (it answers once it serves); of those answered
        # after the send of reexec, the one that waited longest.
        held = max((x for x in later if x[0] < t_ans),
                   key=lambda x: x[1] - x[0])
        tail = [t1 - t for t, t1 in later if t >= t_ans]
        return {
            "result": ans["result"],
            "served": held[1] - t0,             # B's first new answer
            "held": held[1] - held[0],          # its whole wait
            "answer": t_ans - t0,               # the reexec answer
            # Requests sent after reexec that the old image answered.
            "old": sum(1 for t, t1 in later if t >= t0 and t1 <= held[0]),
            "old_span": max((t1 - t0 for t, t1 in later
                             if t >= t0 and t1 <= held[0]), default=0.0),
            "before": before,
            "tail_max": max(tail, default=None),
            "errors": errors,
        }

    def check(self):
        """Every job there, running, same pid; captured output kept;
        idle clients answer; info consistent. A list of problems (empty:
        all well) and a summary."""
        problems = []
        jobs = self.a.call("list", None, 60)
        seen = {j["id"]: j for j in jobs}
        missing = [i for i in self.jobs if i not in seen]
        moved = [i for i in self.jobs if i in seen and
                 seen[i].get("pid") != self.jobs[i]]
        notrun = [i for i in self.jobs if i in seen and
                  seen[i].get("state") != "running"]
        extra = [i for i in seen if i not in self.jobs]
        if missing:
            problems.append("%d jobs missing (first id %d)"
                            % (len(missing), missing[0]))
        if moved:
            problems.append("%d jobs with another pid (first id %d)"
                            % (len(moved), moved[0]))
        if notrun:
            problems.append("%d jobs not running (first id %d: %s)" % (
                len(notrun), notrun[0], seen[notrun[0]].get("state")))
        if extra:
            problems.append("%d unknown jobs (first id %d)"
                            % (len(extra), extra[0]))
        for job, line in self.captured:
            try:
                recs = self.a.call("logs", {"job": job}).get("records", [])
            except RpcError as e:
                problems.append("logs of job %d: %s" % (job, e))
                continue
            if line not in "".join(r.get("data", "") for r in recs):
                problems.append("job %d's output lost its line" % job)
        ok, closed, why = self.ask_idle()
        if ok < len(self.idle):
            problems.append("%d of %d idle clients answered info (%d "
                            "closed by procd%s)" % (
                                ok, len(self.idle), closed,
                                "; " + why if why else ""))
        info = self.a.call("info")
        for key in ("pid", "started_at"):
            if info.get(key) != self.info0.get(key):
                problems.append("info.%s %s, was %s" % (
                    key, info.get(key), self.info0.get(key)))
        if "reexecs" in info and info["reexecs"] != self.reexecs:
            problems.append("info.reexecs %s after %d reexecs"
                            % (info["reexecs"], self.reexecs))
        if info.get("pid") != self.procd.pid:
            problems.append("info.pid %s, procd is %d" % (
                info.get("pid"), self.procd.pid))
        summary = "%d jobs (%d captured) listed running with their pids, " \
            "%d idle clients answered info" % (
                len(self.jobs) - len(missing) - len(moved) - len(notrun),
                len(self.captured), ok)
        return problems, summary

    def close(self):
        for c in self.idle + [self.a, self.b]:
            c.close()


def take_point(bench, n, table, points):
    args = bench.args
    rate = bench.fill(n)
    pid = bench.procd.pid
    label = "@%d jobs" % n
    note("%s: %d info round trips" % (label, args.info_rtts))
    gc.disable()
    try:
        rtt = statistics.median(bench.info_rtt(args.info_rtts))
    finally:
        gc.enable()
    pt = {"n": n, "rtt": rtt, "rounds": [], "rate": rate,
          "fds0": proc_fds(pid), "rss0": proc_rss_kib(pid),
          "fds1": None, "rss1": None, "reexecs": bench.reexecs,
          "problems": ["not checked: the run stopped first"],
          "cut": None,
          "summary": ""}
    points.append(pt)
    last = 0.0
    for r in range(args.rounds):
        if bench.reexec_error is not None:
            break
        if r >= 3 and time.monotonic() - bench.t0 + last > args.budget:
            pt["cut"] = r
            break
        note("%s: reexec %d/%d" % (label, r + 1, args.rounds))
        t = time.monotonic()
        gc.collect()
        gc.disable()
        try:
            res = bench.reexec_round()
        finally:
            gc.enable()
        if "error" in res:
            bench.reexec_error = res["error"]
            break
        bench.reexecs += 1
        bench.answers.append(res["result"])
        pt["rounds"].append(res)
        last = time.monotonic() - t
    pt["fds1"] = proc_fds(pid)
    pt["rss1"] = proc_rss_kib(pid)
    note("%s: checking jobs and clients" % label)
    pt["problems"], pt["summary"] = bench.check()
    pt["reexecs"] = bench.reexecs


# --- table ---------------------------------------------------------------

def ms(v):
    return None if v is None else v * 1000


def med(vals):
    vals = list(vals)
    return statistics.median(vals) if vals else None


def rows(points, bench, table, args):
    for pt in points:
        n = pt["n"]
        rtt = ms(pt["rtt"])
        rs = pt["rounds"]
        label = "@%d jobs" % n
        table.row("info round trip %s, 1 at a time, median of %d"
                  % (label, args.info_rtts), rtt, "ms")
        if not rs:
            continue
        before = [x for r in rs for x in r["before"]]
        table.ratio("status round trip %s, back to back (vs info)" % label,
                    ms(med(before)), "ms", rtt)
        k = len(rs)
        table.ratio("reexec %s: to B's first status answer, median" % label,
                    ms(med(r["served"] for r in rs)), "ms", rtt)
        table.ratio("reexec %s: to B's first status answer, max of %d"
                    % (label, k), ms(max(r["served"] for r in rs)), "ms",
                    rtt)
        table.ratio("reexec %s: to the reexec answer, median" % label,
                    ms(med(r["answer"] for r in rs)), "ms", rtt)
        table.ratio("reexec %s: to the reexec answer, max of %d"
                    % (label, k), ms(max(r["answer"] for r in rs)), "ms",
                    rtt)
    full = [pt for pt in points if len(pt["rounds"]) > 0]
    if len(full) >= 2 and full[-1]["n"] > full[-2]["n"]:
        lo, hi = full[-2], full[-1]
        dn = hi["n"] - lo["n"]
        for key, what in (("served", "to B's first status answer"),
                          ("answer", "to the reexec answer")):
            d = med(r[key] for r in hi["rounds"]) - \
                med(r[key] for r in lo["rounds"])
            table.row("reexec: growth %d->%d jobs, %s" % (
                lo["n"], hi["n"], what), d * 1e6 / dn, "us/job")


def notes(points, bench, table, args):
    if bench.reexec_error is not None:
        e = bench.reexec_error
        table.note("reexec refused: %s %s%s: no reexec figures%s" % (
            e.get("code"), e.get("message"),
            (" (%s)" % json.dumps(e["data"])) if "data" in e else "",
            " past that point" if bench.reexecs else ""))
    if bench.answers:
        pids = {x.get("pid") for x in bench.answers}
        vers = {(x.get("version"), x.get("previous_version"))
                for x in bench.answers}
        table.note("reexec answers: %s; pid %s (%s)" % (
            ", ".join("version %s, previous_version %s" % v
                      for v in sorted(vers, key=str)),
            "/".join(str(p) for p in sorted(pids, key=str)),
            "unchanged" if pids == {bench.procd.pid} else
            "procd is %d!" % bench.procd.pid))
    for pt in points:
        label = "@%d jobs" % pt["n"]
        rs = pt["rounds"]
        if rs:
            table.note("%s: B's longest wait (its request sent before the "
                       "switch) %s ms median; to B's first answer per "
                       "round: %s ms; to the reexec answer: %s ms" % (
                           label, number(ms(med(r["held"] for r in rs))),
                           " ".join(number(ms(r["served"])) for r in rs),
                           " ".join(number(ms(r["answer"])) for r in rs)))
            old = [r for r in rs if r["old"]]
            if old:
                table.note("%s: in %d of %d rounds the old image still "
                           "answered B after reexec was sent: up to %d "
                           "answers, the last %s ms after" % (
                               label, len(old), len(rs),
                               max(r["old"] for r in old),
                               number(ms(max(r["old_span"] for r in old)))))
            tails = [r["tail_max"] for r in rs
                     if r["tail_max"] is not None]
            if tails:
                table.note("%s: B's slowest status answer after the reexec "
                           "answer (of %d per round): %s ms (status round "
                           "trip median %s ms)" % (
                               label, TAIL_ANSWERS, number(ms(max(tails))),
                               number(ms(med(x for r in rs
                                             for x in r["before"])))))
            errs = [e for r in rs for e in r["errors"]]
            if errs:
                table.note("%s: %d status answers on B were not the "
                           "running job: %s" % (label, len(errs), errs[0]))
        table.note("%s: procd fds %s -> %s, VmRSS %s -> %s KiB across the "
                   "point's %d reexecs%s" % (
                       label, pt["fds0"], pt["fds1"], pt["rss0"],
                       pt["rss1"], len(rs),
                       "; start rate %.0f jobs/s" % pt["rate"]
                       if pt["rate"] else ""))
        if pt["cut"] is not None:
            table.note("%s: %d of %d reexecs: one more would have passed "
                       "--budget (%g s)" % (label, pt["cut"], args.rounds,
                                            args.budget))
        if pt["problems"]:
            table.note("%s: check FAILED: %s" % (
                label, "; ".join(pt["problems"])))
        else:
            table.note("%s: check after %d reexecs in all: %s" % (
                label, pt["reexecs"], pt["summary"]))


# --- main ----------------------------------------------------------------

def describe(args):
    version, built, commit = benchutil.print_header(
        "reexec.py: the pause a client sees across procd's reexec "
        "(PROTOCOL.md 9)", args.procd, TOP)
    print("# procd %s (%s, %s); source tree %s" % (
        args.procd, version, built, commit))
    print("# %d idle clients; %d captured + 0/%d/%d sleepers (output "
          "null); %d reexecs per point; B polls `status` of a captured "
          "job back to back; times from the send of reexec; baseline: "
          "`info` round trip on B" % (
              args.clients, args.captured, args.jobs // 10, args.jobs,
              args.rounds), flush=True)


def leftovers(pids):
    """Job processes still alive after procd stopped: killed by pid (each
    checked to still be a sleep of ours). How many there were."""
    n = 0
    for pid in pids:
        cmd = proc_cmdline(pid)
        if cmd is None or not (cmd.startswith(b"sleep\0") or
                               cmd.startswith(b"sh\0")):
            continue
        try:
            with open("/proc/%d/stat" % pid, "rb") as f:
                st = f.read()
            if st[st.rfind(b")") + 2:][:1] in (b"Z", b"X"):
                continue
            os.kill(pid, signal.SIGKILL)
            n += 1
        except OSError:
            pass
    return n


def main():
    ap = argparse.ArgumentParser(
        description="The pause a client sees across procd's reexec "
        "(PROTOCOL.md 9); reports, never asserts.")
    ap.add_argument("--procd",
                    default=os.path.join(TOP, "build/daemon/procd"),
                    help="procd binary (default: build/daemon/procd)")
    ap.add_argument("--rounds", type=int, default=5,
                    help="reexecs per point (default 5)")
    ap.add_argument("--jobs", type=int, default=10000,
                    help="sleepers at the largest point; the middle one "
                    "has a tenth (default 10000)")
    ap.add_argument("--clients", type=int, default=1000,
                    help="idle client connections (default 1000)")
    ap.add_argument("--captured", type=int, default=4,
                    help="sleepers with output capture (default 4)")
    ap.add_argument("--budget", type=float, default=100, metavar="S",
                    help="past 3 reexecs at a point, take no more once "
                    "the next would likely end past S seconds of run "
                    "(default 100)")
    ap.add_argument("--info-rtts", type=int, default=1000,
                    help="info round trips per point (default 1000)")
    args = ap.parse_args()
    args.procd = os.path.abspath(args.procd)
    benchutil.check_counts(ap, args, ("rounds", "jobs", "captured", "info_rtts"))
    benchutil.check_counts(ap, args, ("clients",), least=0)
    if not benchutil.begin(args, describe):
        return 0
    table = benchutil.Table()
    need = args.clients + 64
    got = raise_own_nofile(need)
    if got < need:
        table.note("RLIMIT_NOFILE of this script is %d: %d idle clients "
                   "instead of %d" % (got, got - 64, args.clients))
        args.clients = max(0, got - 64)
    maxc = args.clients + 100
    maxj = args.jobs + args.captured + 100
    opts = ["--max-jobs", str(maxj), "--max-jobs-per-user", str(maxj),
            "--max-clients", str(maxc), "--max-clients-per-user", str(maxc)]
    nofile = max(65536, 2 * (maxc + 2 * args.captured + 256))
    t0 = time.monotonic()
    busy0 = benchutil.machine_busy()
    tmp = tempfile.mkdtemp(prefix="procd-reexec-")
    procd = bench = None
    points = []
    stop_time = left = None
    try:
        procd = Procd(args.procd, tmp, opts, nofile)
        table.note("procd argv: %s" % shlex.join(
            [os.path.basename(procd.argv[0])] + procd.argv[1:]))
        bench = Bench(args, procd)
        bench.t0 = t0
        bench.info0 = bench.a.call("info")
        if "reexecs" not in bench.info0:
            table.note("this procd's info has no 'reexecs' (no section 9?)")
        bench.start_captured(args.captured)
        bench.connect_idle(args.clients)
        for n in sorted({0, args.jobs // 10, args.jobs}):
            take_point(bench, n, table, points)
    except (Failed, RpcError, OSError, ValueError) as e:
        table.note("failed: %s" % e)
        if procd is not None:
            table.note("procd log: %s" % (procd.tail_log(1000) or "-"))
    except KeyboardInterrupt:
        table.note("interrupted")
    finally:
        if bench is not None:
            bench.close()
        if procd is not None:
            note("stopping procd (%d jobs)" % (len(bench.jobs) if bench
                                                else 0))
            stop_time = procd.stop()
            if bench is not None:
                left = leftovers(list(bench.jobs.values()))
        shutil.rmtree(tmp, ignore_errors=True)
    if bench is not None:
        rows(points, bench, table, args)
        notes(points, bench, table, args)
    if stop_time is not None:
        table.note("procd stopped %.1f s after SIGTERM%s" % (
            stop_time, "; %d of its jobs were still alive: killed" % left
            if left else ""))
    wall = time.monotonic() - t0
    busy = benchutil.machine_busy() - busy0
    t = os.times()
    ours = t.user + t.system + t.children_user + t.children_system
    other = max(0.0, busy - ours)
    table.note("done in %.0f s; this script, procd and workers used %.1f "
               "CPU-s; other programs about %.1f CPU-s (%.0f%% of the "
               "machine)" % (wall, ours, other,
                             100 * other / (wall * (os.cpu_count() or 1))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
