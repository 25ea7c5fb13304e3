#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""Supervision costs of procd (PROTOCOL.md sections 10-12), measured.

Starts a private procd on a socket in a temp folder for each figure and
prints one table: each figure with, where there is one, the baseline
taken in the same invocation and the ratio value / baseline, medians of
--rounds rounds. It reports and never asserts: the exit status is 0.

  storm   N jobs (--jobs, 1000) of `true` with restart "always",
          restart_delay 0 and restart_limit R (--restart-limit, 5), each
          started and joined by name, all pipelined on one connection.
          While they churn, a poller process sends `status` of one
          long-running job, one request at a time, and times each answer
          (p50, p99, max over the whole storm, and over the part after
          the last start was answered, when only restarts are left); the
          baseline is the same poller for as long with no storm. Also the
          storm's time, restarts per second and procd's CPU (utime + stime
          from /proc/PID/stat) per restart, and its run-queue wait
          (/proc/PID/schedstat), with the poller and without it; against
          N plain `true` jobs started and joined the same way (no
          restart): process runs per second, CPU per run, and the CPU a
          restart adds. Every join answer is checked: state exited,
          exitcode 0, restarts == R (0 for the plain jobs).
  notify  (with --notify-worker) N jobs (--notify-jobs, 200) with notify
          true, each running the worker with READY=1, started pipelined
          while a subscriber collects events: READY datagrams taken per
          second (first start sent to the last `ready` event) against the
          same N starts without notify (first start sent to the last
          answer), and the latency from each start answer to its `ready`
          event (p50, p99).
  tree    M sequential starts (--spawn-jobs, 200) of `true`, each joined
          before the next, with kill_mode "tree" against "group"; and the
          stop of a job whose sh started 100 sleeps (--tree-procs): from
          `terminate` to the `join` answer, and to the death of its last
          process (a pidfd on each), "tree" against "group". Where
          info.cgroups is false, "tree" is skipped with the reason and the
          group figures are given alone.

Optional, not in CI; stdlib only. Usage:
    tests/bench/supervise.py --procd PATH [--notify-worker PATH]
        [--only storm notify tree] [--rounds N] [--jobs N] ...
"""

import argparse
import array
import ctypes
import json
import os
import select
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

import benchutil
from benchutil import RpcError, result

TOP = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
CLK_TCK = os.sysconf("SC_CLK_TCK")
PR_SET_PDEATHSIG = 1
FIGURES = ("storm", "notify", "tree")


def note(msg):
    print("supervise: " + msg, file=sys.stderr, flush=True)


class Failed(Exception):
    """A figure that could not be taken; the message says why."""


def die_with_parent(sig):
    """preexec_fn: the child gets sig when this script dies."""
    def set_it():
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0)
        except (OSError, AttributeError):
            pass
    return set_it


# --- /proc -------------------------------------------------------------

def proc_stat_fields(pid):
    """The fields of /proc/PID/stat after the command name (the first is
    the state, field 3), or None."""
    try:
        with open("/proc/%d/stat" % pid, "rb") as f:
            data = f.read()
    except OSError:
        return None
    return data[data.rfind(b")") + 2:].split()


def proc_cpu(pid):
    """utime + stime of pid in seconds (clock ticks), or None."""
    f = proc_stat_fields(pid)
    if f is None:
        return None
    return (int(f[11]) + int(f[12])) / CLK_TCK


def run_delay(pid):
    """Seconds pid has waited on a run queue (/proc/PID/schedstat), or
    None where the kernel does not keep it."""
    try:
        with open("/proc/%d/schedstat" % pid) as f:
            return int(f.read().split()[1]) / 1e9
    except (OSError, ValueError, IndexError):
        return None


def group_members(pgid):
    """Pids of live (not zombie) processes in process group pgid."""
    pids = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        f = proc_stat_fields(int(name))
        if f is None or len(f) < 3:
            continue
        if int(f[2]) == pgid and f[0] not in (b"Z", b"X"):
            pids.append(int(name))
    return pids




# --- procd -------------------------------------------------------------

class Procd:
    """A private procd; SIGTERM reaches it if this script dies."""

    def __init__(self, path, tmp, tag):
        self.sock_path = os.path.join(tmp, "%s.sock" % tag)
        self.log_path = os.path.join(tmp, "%s.log" % tag)
        self.log = open(self.log_path, "wb")
        self.argv = [path, "--socket", self.sock_path]
        self.proc = subprocess.Popen(
            self.argv, stdin=subprocess.DEVNULL, stdout=self.log,
            stderr=self.log, start_new_session=True,
            preexec_fn=die_with_parent(signal.SIGTERM))
        self.pid = self.proc.pid
        if not benchutil.wait_for_socket(self.sock_path, self.proc):
            self.stop()
            raise Failed("procd did not start: %s" % self.tail_log())

    def cpu(self):
        v = proc_cpu(self.pid)
        if v is None:
            raise Failed("procd is gone: %s" % self.tail_log())
        return v

    def tail_log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read()[-400:].decode(errors="replace").strip()
        except OSError:
            return ""

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                note("procd did not stop within 30 s of SIGTERM: killed")
                self.proc.kill()
                self.proc.wait()
        if not self.log.closed:
            self.log.close()


# --- connections -------------------------------------------------------

class Conn(benchutil.Conn):
    def call(self, method, params=None, timeout=30):
        i = self.send(method, params)
        if not pump([self], lambda: i in self.answers, timeout):
            raise Failed("no answer to %s within %g s%s" % (
                method, timeout, " (connection closed)" if self.eof else ""))
        return result(self.answers.pop(i)[0])


def pump(conns, done, timeout):
    """Writes and reads conns until done() or timeout seconds; False when
    it gave up (timeout, or every connection closed)."""
    deadline = time.monotonic() + timeout
    while not done():
        left = deadline - time.monotonic()
        live = [c for c in conns if not c.eof]
        if left <= 0 or not live:
            return done()
        rl = [c.s for c in live]
        wl = [c.s for c in live if c.out]
        r, w, _ = select.select(rl, wl, [], min(left, 1.0))
        for c in live:
            if c.s in w:
                c.flush()
            if c.s in r:
                c.read()
    return True


def run_batch(conn, reqs, timeout):
    """Sends reqs [(method, params)] pipelined; returns the answers in
    order as (answer, time) (None where none came)."""
    ids = [conn.send(m, p) for m, p in reqs]
    want = set(ids)
    pump([conn], lambda: want.issubset(conn.answers), timeout)
    return [conn.answers.pop(i, None) for i in ids]


def finish_jobs(conn, jobs, timeout=60):
    """terminate, join and close each job (ids or names); errors ignored."""
    reqs = []
    for j in jobs:
        reqs += [("terminate", {"job": j}),
                 ("join", {"job": j, "timeout": timeout}),
                 ("close", {"job": j})]
    for i in range(0, len(reqs), 600):
        run_batch(conn, reqs[i:i + 600], timeout + 10)


# --- the status poller (a process of its own, so that this script's work
# does not show in its latencies) ----------------------------------------

def poller_main(sock_path, job, out_path):
    stop = []
    signal.signal(signal.SIGUSR1, lambda *a: stop.append(1))
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(30)
    s.connect(sock_path)
    samples = array.array("d")      # pairs: send time, latency (s)
    errors = 0
    cut = None
    buf = b""
    n = 0
    end = time.monotonic() + 3600
    while not stop and time.monotonic() < end:
        n += 1
        line = b'{"jsonrpc":"2.0","method":"status","params":' \
            b'{"job":%d},"id":%d}\n' % (job, n)
        t0 = time.monotonic()
        try:
            s.sendall(line)
            while b"\n" not in buf:
                data = s.recv(65536)
                if not data:
                    raise OSError("procd closed the connection")
                buf += data
        except OSError as e:    # socket.timeout included
            cut = {"ms": (time.monotonic() - t0) * 1000, "why": str(e)
                   or type(e).__name__}
            break
        t1 = time.monotonic()
        ans, buf = buf.split(b"\n", 1)
        samples.append(t0)
        samples.append(t1 - t0)
        if b'"result"' not in ans:
            errors += 1
        if n == 1:
            sys.stdout.write("ready\n")
            sys.stdout.flush()
    with open(out_path, "wb") as f:
        samples.tofile(f)
    sys.stdout.write(json.dumps({"errors": errors, "cut": cut}) + "\n")
    sys.stdout.flush()
    return 0


class Poller:
    def __init__(self, procd, job, tmp):
        self.out_path = os.path.join(tmp, "poller-%d.bin" % id(self))
        self.proc = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "--_poller",
             procd.sock_path, str(job), self.out_path],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            preexec_fn=die_with_parent(signal.SIGKILL))
        r, _, _ = select.select([self.proc.stdout], [], [], 20)
        if not r or self.proc.stdout.readline().strip() != b"ready":
            self.kill()
            raise Failed("the status poller did not start")

    def finish(self):
        """Stops it; returns its samples [(send time, latency)] and a
        summary."""
        self.proc.send_signal(signal.SIGUSR1)
        try:
            out, _ = self.proc.communicate(timeout=40)
        except subprocess.TimeoutExpired:
            self.kill()
            raise Failed("the status poller did not stop")
        try:
            summary = json.loads(out.decode().strip().splitlines()[-1])
        except (ValueError, IndexError):
            summary = {"errors": None, "cut": {"ms": 0, "why": "no summary"}}
        samples = array.array("d")
        with open(self.out_path, "rb") as f:
            samples.frombytes(f.read())
        os.unlink(self.out_path)
        return list(zip(samples[0::2], samples[1::2])), summary

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


def window(samples, t0, t1):
    """Latencies of the requests sent in [t0, t1]."""
    return [lat for t, lat in samples if t0 <= t <= t1]


def pct(sorted_vals, p):
    """Nearest-rank percentile of a sorted list."""
    if not sorted_vals:
        return None
    k = max(0, -(-p * len(sorted_vals) // 100) - 1)
    return sorted_vals[min(k, len(sorted_vals) - 1)]


def lat_summary(lat):
    s = sorted(lat)
    return {"n": len(s), "p50": pct(s, 50), "p99": pct(s, 99),
            "max": s[-1] if s else None}


# --- figure 1: restart storm ------------------------------------------

def storm_run(args, procd, tmp, tag, restart, sleeper):
    """N `true` jobs started and joined by name, pipelined, with restart
    always (or none when restart is False); with a status poller on
    sleeper when it is not None. Returns a dict of what was seen."""
    n, lim = args.jobs, args.restart_limit
    conn = Conn(procd.sock_path)
    poller = Poller(procd, sleeper, tmp) if sleeper is not None else None
    try:
        names = ["%s-%d" % (tag, i) for i in range(n)]
        base = {"argv": ["true"], "output": "null"}
        if restart:
            base.update(restart="always", restart_delay=0,
                        restart_limit=lim)
        reqs = []
        for name in names:
            reqs.append(("start", dict(base, name=name)))
            reqs.append(("join", {"job": name, "timeout": args.timeout}))
        cpu0 = procd.cpu()
        wait0 = run_delay(procd.pid)
        t0 = time.monotonic()
        answers = run_batch(conn, reqs, args.timeout + 10)
        got = [a for a in answers if a is not None]
        t1 = max((t for _, t in got), default=time.monotonic())
        cpu1 = procd.cpu()
        wait1 = run_delay(procd.pid)
        # The last start answer: from then on only restarts and exits.
        ts = max((a[1] for a in answers[0::2] if a is not None),
                 default=t0)
        lat = churn = summary = None
        if poller is not None:
            samples, summary = poller.finish()
            poller = None
            lat = window(samples, t0, t1)
            churn = window(samples, ts, t1)
        res = {"time": t1 - t0, "cpu": cpu1 - cpu0, "lat": lat,
               "churn": churn, "starts_time": ts - t0, "poller": summary,
               "wait": None if wait0 is None or wait1 is None
               else wait1 - wait0}
        res.update(check_storm(answers, restart and lim or 0, n))
        # Release the records (and whatever is left, if a join timed out).
        finish_jobs(conn, names, timeout=args.timeout)
        return res
    finally:
        if poller is not None:
            poller.kill()
        conn.close()


def check_storm(answers, want_restarts, n):
    """Each job's start and join answers: started, then exited with
    exitcode 0 and restarts == want_restarts."""
    good = 0
    bad = []
    restarts = 0
    for i in range(n):
        sa, ja = answers[2 * i], answers[2 * i + 1]
        why = None
        if sa is None or ja is None:
            why = "no answer"
        elif "error" in sa[0]:
            why = "start: %s" % sa[0]["error"].get("message")
        elif "error" in ja[0]:
            why = "join: %s" % ja[0]["error"].get("message")
        else:
            job = ja[0]["result"]
            r = job.get("restarts")
            restarts += r if isinstance(r, int) else 0
            if job.get("timed_out"):
                why = "join timed out in state %s" % job.get("state")
            elif job.get("state") != "exited" or job.get("exitcode") != 0 \
                    or r != want_restarts:
                why = "state %s, exitcode %s, restarts %s" % (
                    job.get("state"), job.get("exitcode"), r)
        if why is None:
            good += 1
        else:
            bad.append(why)
    return {"good": good, "bad": bad, "restarts": restarts}


def baseline_poll(procd, tmp, sleeper, seconds):
    poller = Poller(procd, sleeper, tmp)
    try:
        t0 = time.monotonic()
        time.sleep(seconds)
        t1 = time.monotonic()
        samples, summary = poller.finish()
        poller = None
        lat = window(samples, t0, t1)
        return {"lat": lat, "poller": summary, "time": t1 - t0}
    finally:
        if poller is not None:
            poller.kill()


def figure_storm(args, tmp, table):
    n, lim = args.jobs, args.restart_limit
    procd = Procd(args.procd, tmp, "storm")
    try:
        ctl = Conn(procd.sock_path)
        sleeper = ctl.call("start", {"argv": ["sleep", "100000"],
                                     "name": "sleeper", "output": "null"})
        sleeper = sleeper["id"]
        rounds = []
        for r in range(args.rounds):
            note("storm round %d/%d: %d jobs x %d restarts, with poller"
                 % (r + 1, args.rounds, n, lim))
            a = storm_run(args, procd, tmp, "p%d" % r, True, sleeper)
            if a["good"] < n:
                rounds.append((a, None, None, None))
                break       # more rounds would not go better
            secs = min(max(a["time"], 1.0), 60.0)
            note("storm round %d/%d: no storm, poller for %.1f s"
                 % (r + 1, args.rounds, secs))
            b = baseline_poll(procd, tmp, sleeper, secs)
            note("storm round %d/%d: storm without poller"
                 % (r + 1, args.rounds))
            c = storm_run(args, procd, tmp, "s%d" % r, True, None)
            note("storm round %d/%d: %d plain jobs" % (r + 1, args.rounds, n))
            d = storm_run(args, procd, tmp, "n%d" % r, False, None)
            rounds.append((a, b, c, d))
        finish_jobs(ctl, [sleeper])
        ctl.close()
    finally:
        procd.stop()
    storm_rows(args, rounds, table)


def med(vals):
    vals = [v for v in vals if v is not None]
    return statistics.median(vals) if vals else None


def storm_rows(args, rounds, table):
    n, lim = args.jobs, args.restart_limit
    total = n * lim
    runs = n * (lim + 1)
    checks = []
    for r, (a, _, c, d) in enumerate(rounds):
        for label, x, want in (("with poller", a, lim),
                               ("no poller", c, lim), ("plain", d, 0)):
            if x is not None and x["good"] != n:
                checks.append("round %d %s: %d of %d jobs ended exited, "
                              "exitcode 0, restarts == %d; first of the "
                              "others: %s" % (r + 1, label, x["good"], n,
                                              want, x["bad"][0]))
    if checks:
        table.note("storm check FAILED:")
        for c in checks[:8]:
            table.note("  " + c)
    good = [x for x in rounds if None not in x and x[0]["good"] == n and
            x[2]["good"] == n and x[3]["good"] == n]
    if not good:
        table.note("storm: no round where every job restarted as asked: "
                   "no figures")
        return
    if not checks:
        table.note("storm check: in every run all %d jobs ended exited, "
                   "exitcode 0, restarts == %d (plain jobs: 0)" % (n, lim))
    else:
        table.note("storm: figures of the %d of %d rounds that passed the "
                   "check" % (len(good), len(rounds)))
    la = [lat_summary(a["lat"]) for a, _, _, _ in good]
    lb = [lat_summary(b["lat"]) for _, b, _, _ in good]
    lc = [lat_summary(a["churn"]) for a, _, _, _ in good]
    for key in ("p50", "p99", "max"):
        table.ratio("storm: status %s during the storm (vs no storm)" % key,
                    ms(med(x[key] for x in la)), "ms",
                    ms(med(x[key] for x in lb)))
    table.ratio("storm: status answers timed (vs as long with no storm)",
                med(x["n"] for x in la), "count",
                med(x["n"] for x in lb))
    for key in ("p50", "p99", "max"):
        table.ratio("storm: status %s after the last start (vs no storm)"
                    % key, ms(med(x[key] for x in lc)), "ms",
                    ms(med(x[key] for x in lb)))
    table.row("storm: status answers timed after the last start",
              med(x["n"] for x in lc), "count")
    table.row("storm, with poller: last start answered after",
              med(a["starts_time"] for a, _, _, _ in good), "s")
    what = "%d jobs x %d restarts" % (n, lim)
    table.row("storm, with poller: total time (%s)" % what,
              med(a["time"] for a, _, _, _ in good), "s")
    table.row("storm, with poller: restarts/s",
              med(total / a["time"] for a, _, _, _ in good), "1/s")
    table.row("storm, with poller: procd CPU / restarts",
              us(med(a["cpu"] / total for a, _, _, _ in good)), "us")
    if all(a["wait"] is not None for a, _, _, _ in good):
        table.row("storm, with poller: procd run-queue wait / total time",
                  med(100 * a["wait"] / a["time"] for a, _, _, _ in good),
                  "%")
    table.row("storm, no poller: total time",
              med(c["time"] for _, _, c, _ in good), "s")
    table.row("storm, no poller: restarts/s",
              med(total / c["time"] for _, _, c, _ in good), "1/s")
    table.row("storm, no poller: procd CPU / restarts",
              us(med(c["cpu"] / total for _, _, c, _ in good)), "us")
    table.ratio("storm, no poller: process runs/s (vs plain jobs/s)",
                med(runs / c["time"] for _, _, c, _ in good), "1/s",
                med(n / d["time"] for _, _, _, d in good))
    table.ratio("storm, no poller: procd CPU per run (vs plain job)",
                us(med(c["cpu"] / runs for _, _, c, _ in good)), "us",
                us(med(d["cpu"] / n for _, _, _, d in good)))
    table.row("storm: procd CPU per restart, (storm - plain) / restarts",
              us(med((c["cpu"] - d["cpu"]) / total
                     for _, _, c, d in good)), "us")
    for what, runs_ in (("during the storm", [a for a, _, _, _ in good]),
                        ("with no storm", [b for _, b, _, _ in good])):
        for x in runs_:
            p = x["poller"] or {}
            if p.get("cut"):
                table.note("storm: a status request %s got no answer after "
                           "%.1f ms (%s)" % (what, p["cut"]["ms"],
                                             p["cut"]["why"]))
            if p.get("errors"):
                table.note("storm: %d status error answers %s"
                           % (p["errors"], what))
    table.note("storm: slowest status answer of all rounds: %.2f ms during "
               "the storm, %.2f ms with no storm" % (
                   max(x["max"] or 0 for x in la) * 1000,
                   max(x["max"] or 0 for x in lb) * 1000))


def ms(v):
    return None if v is None else v * 1000


def us(v):
    return None if v is None else v * 1e6


# --- figure 2: notify ---------------------------------------------------

def notify_run(args, procd, tag, notify):
    """N starts of the worker with READY=1, pipelined; with notify, until
    every job's `ready` event has come."""
    n = args.notify_jobs
    ready = {}          # job id -> time of its ready event

    def on_note(msg, now):
        p = msg.get("params") or {}
        if msg.get("method") == "event" and p.get("event") == "ready":
            job = p.get("job") or {}
            ready.setdefault(job.get("id"), now)

    sub = Conn(procd.sock_path, on_note)
    conn = Conn(procd.sock_path)
    want = []
    try:
        sub.call("subscribe", {})
        base = {"argv": [args.notify_worker, "READY=1"], "output": "null"}
        if notify:
            base["notify"] = True
        want += [conn.send("start", dict(base, name="%s-%d" % (tag, i)))
                 for i in range(n)]
        t0 = time.monotonic()
        answered = set()

        def done():
            for i in want:
                if i not in answered and i in conn.answers:
                    answered.add(i)
            if len(answered) < n:
                return False
            return not notify or all(
                j in ready for j in ids_of(conn, want))

        pump([conn, sub], done, args.timeout)
        ans = {i: conn.answers.get(i) for i in want}
        errors = [a[0]["error"].get("message") for a in ans.values()
                  if a is not None and "error" in a[0]]
        ids = ids_of(conn, want)
        t_ans = {a[0]["result"]["id"]: a[1] for a in ans.values()
                 if a is not None and "result" in a[0]}
        last_answer = max(t_ans.values(), default=None)
        res = {"errors": errors, "answered": len(t_ans),
               "answer_time": None if last_answer is None
               else last_answer - t0}
        if notify:
            got = [j for j in ids if j in ready]
            res["ready"] = len(got)
            res["ready_time"] = max(ready[j] for j in got) - t0 \
                if len(got) == n else None
            res["lat"] = [ready[j] - t_ans[j] for j in got]
        return res
    finally:
        sub.close()
        finish_jobs(conn, ids_of(conn, want), timeout=30)
        conn.close()


def ids_of(conn, want):
    out = []
    for i in want:
        a = conn.answers.get(i)
        if a is not None and "result" in a[0]:
            out.append(a[0]["result"]["id"])
    return out


def figure_notify(args, tmp, table):
    if not args.notify_worker:
        table.note("notify: skipped: no --notify-worker given "
                   "(tests/helpers/notify-worker of a build)")
        return
    if not os.access(args.notify_worker, os.X_OK):
        table.note("notify: skipped: %s is not an executable"
                   % args.notify_worker)
        return
    n = args.notify_jobs
    procd = Procd(args.procd, tmp, "notify")
    rounds = []
    try:
        for r in range(args.rounds):
            note("notify round %d/%d: %d starts without notify, then with"
                 % (r + 1, args.rounds, n))
            plain = notify_run(args, procd, "b%d" % r, False)
            noti = notify_run(args, procd, "n%d" % r, True)
            rounds.append((plain, noti))
            if noti.get("ready", 0) < n:
                break       # more rounds would not go better
    finally:
        procd.stop()
    full = [(p, x) for p, x in rounds
            if x["ready_time"] is not None and p["answer_time"]]
    for r, (p, x) in enumerate(rounds):
        if x["errors"] or p["errors"]:
            table.note("notify round %d: start errors: %s" % (
                r + 1, (x["errors"] or p["errors"])[0]))
        elif x["ready"] < n:
            table.note("notify round %d: %d of %d ready events within "
                       "%d s" % (r + 1, x["ready"], n, args.timeout))
    if not full:
        table.note("notify: no round where every job reported ready")
        return
    table.ratio("notify: READY taken/s, %d jobs (vs starts/s, no notify)"
                % n, med(n / x["ready_time"] for _, x in full), "1/s",
                med(n / p["answer_time"] for p, _ in full))
    table.ratio("notify: starts answered/s with notify (vs without)",
                med(n / x["answer_time"] for _, x in full), "1/s",
                med(n / p["answer_time"] for p, _ in full))
    ls = [lat_summary(x["lat"]) for _, x in full]
    table.row("notify: start answer -> ready event p50",
              ms(med(s["p50"] for s in ls)), "ms")
    table.row("notify: start answer -> ready event p99",
              ms(med(s["p99"] for s in ls)), "ms")
    table.note("notify: %d of %d rounds had every ready event; READY/s "
               "counts from the first start sent to the last ready event"
               % (len(full), len(rounds)))


# --- figure 3: tree against group --------------------------------------

def tree_reason(ctl, info):
    if "cgroups" not in info:
        return "procd's info has no 'cgroups' (a procd without section 12)"
    try:
        job = ctl.call("start", {"argv": ["true"], "output": "null",
                                 "kill_mode": "tree"})
    except RpcError as e:
        return "info.cgroups is false; start with kill_mode tree: %s" % (
            e.err.get("message"))
    finish_jobs(ctl, [job["id"]])
    return "info.cgroups is false (yet a tree start was accepted)"


def start_params(argv, mode):
    """kill_mode "group" is the default, left out so that the group figures
    can be taken of a procd without section 12 too."""
    p = {"argv": argv, "output": "null"}
    if mode != "group":
        p["kill_mode"] = mode
    return p


def spawn_seq(ctl, m, mode, timeout):
    ids = []
    t0 = time.monotonic()
    for _ in range(m):
        job = ctl.call("start", start_params(["true"], mode))
        ids.append(job["id"])
        job = ctl.call("join", {"job": job["id"], "timeout": timeout},
                       timeout + 10)
        if job.get("state") != "exited":
            raise Failed("%s job %d not exited after %d s" % (
                mode, job["id"], timeout))
    t = time.monotonic() - t0
    for i in range(0, len(ids), 500):
        run_batch(ctl, [("close", {"job": j}) for j in ids[i:i + 500]], 60)
    return m / t


SH_SLEEPS = "i=0; while [ $i -lt %d ]; do sleep 1000 & i=$((i+1)); done; wait"


def stop_tree(ctl, nproc, mode, timeout):
    """Seconds from sending terminate (with a join behind it) to the join
    answer, and to the exit of the last process of the job's group (seen
    through a pidfd of each), and how many were still alive at the join
    answer."""
    job = ctl.call("start", start_params(["sh", "-c", SH_SLEEPS % nproc],
                                         mode))
    pid = job["pid"]
    deadline = time.monotonic() + 30
    while len(group_members(pid)) < nproc + 1:
        if time.monotonic() > deadline:
            finish_jobs(ctl, [job["id"]])
            raise Failed("%s job: %d processes did not all start in 30 s"
                         % (mode, nproc + 1))
        time.sleep(0.01)
    fds = {}
    try:
        for p in group_members(pid):
            try:
                fds[os.pidfd_open(p)] = p
            except ProcessLookupError:
                pass
        po = select.poll()
        for fd in fds:
            po.register(fd, select.POLLIN)
        po.register(ctl.s, select.POLLIN)
        died = []           # time each process was seen dead
        tid = ctl.send("terminate", {"job": job["id"]})
        jid = ctl.send("join", {"job": job["id"], "timeout": timeout})
        t0 = time.monotonic()
        ctl.flush()
        deadline = t0 + timeout + 10
        while (jid not in ctl.answers or fds) and not ctl.eof:
            if ctl.out:
                ctl.flush()
            left = deadline - time.monotonic()
            if left <= 0:
                break
            for fd, _ in po.poll(min(left, 1.0) * 1000):
                if fd == ctl.s.fileno():
                    ctl.read()
                elif fd in fds:
                    died.append(time.monotonic())
                    po.unregister(fd)
                    os.close(fd)
                    del fds[fd]
    finally:
        for fd in fds:
            os.close(fd)
    if jid not in ctl.answers or fds:
        finish_jobs(ctl, [job["id"]])
        raise Failed("%s job: %s %d s after terminate" % (
            mode, "no join answer" if jid not in ctl.answers else
            "%d processes still alive" % len(fds), timeout))
    ans, t1 = ctl.answers.pop(jid)
    ctl.answers.pop(tid, None)
    end = result(ans)
    ctl.call("close", {"job": job["id"]})
    return {"time": t1 - t0, "gone": max(died) - t0,
            "left": sum(1 for t in died if t > t1), "procs": len(died),
            "exitcode": end.get("exitcode"), "state": end.get("state")}


def figure_tree(args, tmp, table):
    procd = Procd(args.procd, tmp, "tree")
    spawn = {"tree": [], "group": []}
    stop = {"tree": [], "group": []}
    try:
        ctl = Conn(procd.sock_path)
        info = ctl.call("info")
        reason = None if info.get("cgroups") is True else \
            tree_reason(ctl, info)
        modes = ("group",) if reason else ("tree", "group")
        for r in range(args.rounds):
            order = modes if r % 2 == 0 else tuple(reversed(modes))
            for mode in order:
                note("tree round %d/%d: %d sequential %s starts"
                     % (r + 1, args.rounds, args.spawn_jobs, mode))
                spawn[mode].append(spawn_seq(ctl, args.spawn_jobs, mode,
                                             args.timeout))
            for mode in order:
                note("tree round %d/%d: stop of a %s job with %d sleeps"
                     % (r + 1, args.rounds, mode, args.tree_procs))
                stop[mode].append(stop_tree(ctl, args.tree_procs, mode,
                                            args.timeout))
        ctl.close()
    finally:
        procd.stop()
    m = args.spawn_jobs
    if reason:
        table.note("tree: kill_mode tree skipped: %s" % reason)
        table.row("tree: spawn, %d sequential start+join, group" % m,
                  med(spawn["group"]), "jobs/s")
    else:
        table.ratio("tree: spawn, %d sequential start+join (vs group)" % m,
                    med(spawn["tree"]), "jobs/s", med(spawn["group"]))
    g = stop["group"]
    t = stop["tree"]
    for key, what in (("time", "to join answer"),
                      ("gone", "to last process dead")):
        what = "tree: stop sh+%d sleeps, %s" % (args.tree_procs, what)
        if reason:
            table.row(what + ", group", ms(med(x[key] for x in g)), "ms")
        else:
            table.ratio(what + " (vs group)", ms(med(x[key] for x in t)),
                        "ms", ms(med(x[key] for x in g)))
    for mode in modes:
        xs = stop[mode]
        table.note("tree: %s stops: of the %s processes, alive at the join "
                   "answer: %s; exitcodes %s" % (
                       mode, "/".join(sorted({str(x["procs"]) for x in xs})),
                       " ".join(str(x["left"]) for x in xs),
                       " ".join(str(x["exitcode"]) for x in xs)))


# --- main ----------------------------------------------------------------

def describe(args):
    version, built, commit = benchutil.print_header(
        "supervise.py: restart storm, readiness, tree vs group "
        "(PROTOCOL.md 10-12)", args.procd, TOP)
    print("# procd %s (%s, %s); source tree %s; %d rounds, medians of "
          "rounds" % (args.procd, version, built, commit,
                      args.rounds), flush=True)


def main():
    if len(sys.argv) == 5 and sys.argv[1] == "--_poller":
        return poller_main(sys.argv[2], int(sys.argv[3]), sys.argv[4])
    ap = argparse.ArgumentParser(
        description="procd under restart storms, readiness reports and "
        "cgroup jobs (PROTOCOL.md 10-12); reports, never asserts.")
    ap.add_argument("--procd",
                    default=os.path.join(TOP, "build/daemon/procd"),
                    help="procd binary (default: build/daemon/procd)")
    ap.add_argument("--notify-worker", metavar="PATH",
                    help="tests/helpers/notify-worker of a build; "
                    "without it the notify figure is skipped")
    ap.add_argument("--only", nargs="+", choices=FIGURES,
                    help="take only these figures")
    ap.add_argument("--rounds", type=int, default=3,
                    help="rounds per figure (default 3)")
    ap.add_argument("--jobs", type=int, default=1000,
                    help="jobs of the restart storm (default 1000)")
    ap.add_argument("--restart-limit", type=int, default=5, metavar="R",
                    help="restart_limit of each storm job (default 5)")
    ap.add_argument("--notify-jobs", type=int, default=200,
                    help="jobs of the notify figure (default 200)")
    ap.add_argument("--spawn-jobs", type=int, default=200, metavar="M",
                    help="sequential starts per kill_mode (default 200)")
    ap.add_argument("--tree-procs", type=int, default=100,
                    help="sleeps of the job that is stopped (default 100)")
    ap.add_argument("--timeout", type=int, default=300,
                    help="seconds one phase may take (default 300)")
    args = ap.parse_args()
    args.procd = os.path.abspath(args.procd)
    if args.notify_worker:
        args.notify_worker = os.path.abspath(args.notify_worker)
    benchutil.check_counts(ap, args, ("rounds", "jobs", "notify_jobs",
                                      "spawn_jobs", "tree_procs", "timeout",
                                      "restart_limit"))
    if not benchutil.begin(args, describe):
        return 0
    t0 = time.monotonic()
    busy0 = benchutil.machine_busy()
    tmp = tempfile.mkdtemp(prefix="procd-supervise-")
    table = benchutil.Table()
    try:
        for name in args.only or FIGURES:
            fn = {"storm": figure_storm, "notify": figure_notify,
                  "tree": figure_tree}[name]
            try:
                fn(args, tmp, table)
            except (Failed, RpcError, OSError, ValueError) as e:
                table.note("%s: failed: %s" % (name, e))
    except KeyboardInterrupt:
        table.note("interrupted")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
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
