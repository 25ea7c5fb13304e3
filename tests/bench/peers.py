# SPDX-License-Identifier: ISC
"""Peers of procd, measured in one run (optional; not in CI).

Spawn throughput of N no-op jobs with W in flight, and the supervisor's
RSS per live sleeping job, for procd, task-spooler (tsp) and Python's
multiprocessing. Run through tests/bench/peers.sh, which makes the temp
folder and kills whatever is left behind. Stdlib only.
"""

import argparse
import json
import multiprocessing
import multiprocessing.connection
import os
import platform
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time

import benchutil


def note(msg):
    print("peers: " + msg, file=sys.stderr, flush=True)


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS for pid %d" % pid)


def pss_kib(pid):
    try:
        with open("/proc/%d/smaps_rollup" % pid) as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def pids_with_env(entry):
    """Pids whose initial environment holds entry (bytes, NAME=VALUE)."""
    found = []
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) == os.getpid():
            continue
        try:
            with open("/proc/%s/environ" % d, "rb") as f:
                env = f.read().split(b"\0")
        except OSError:
            continue
        if entry in env:
            found.append(int(d))
    return found


def kill_pids(pids, sig=signal.SIGKILL):
    for pid in pids:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def noop():
    pass


def raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


# --- procd -------------------------------------------------------------

class Procd:
    def __init__(self, path, tmp, tag):
        self.sock_path = os.path.join(tmp, "procd-%s.sock" % tag)
        self.proc = subprocess.Popen(
            [path, "--socket", self.sock_path, "--max-jobs=1000000",
             "--max-clients=100000"],
            stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while True:
            try:
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.connect(self.sock_path)
                s.close()
                break
            except OSError:
                s.close()
                if self.proc.poll() is not None or \
                        time.monotonic() > deadline:
                    raise RuntimeError("procd did not start")
                time.sleep(0.01)
        self.next_id = 0

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(self.sock_path)
        return s

    def call(self, s, method, params=None):
        """One request, one answer, on a connection with nothing pending."""
        self.next_id += 1
        req = {"jsonrpc": "2.0", "id": self.next_id, "method": method}
        if params is not None:
            req["params"] = params
        s.sendall(json.dumps(req).encode() + b"\n")
        buf = b""
        while b"\n" not in buf:
            data = s.recv(65536)
            if not data:
                raise RuntimeError("procd closed the connection")
            buf += data
        ans = json.loads(buf.split(b"\n", 1)[0])
        if "error" in ans:
            raise RuntimeError("procd %s: %s" % (method, ans["error"]))
        return ans["result"]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def lines(s, buf):
    """Reads once from s; returns (complete lines, rest)."""
    data = s.recv(1 << 20)
    if not data:
        raise RuntimeError("procd closed the connection")
    buf += data
    parts = buf.split(b"\n")
    return parts[:-1], parts[-1]


PREFIX = b'{"jsonrpc":"2.0","id":'


def answer_id(line):
    """The id of a successful answer. procd writes jsonrpc and id first,
    then result or error, so that is read without a JSON parser (which
    would cost the Python client more than procd spends per answer)."""
    if line.startswith(PREFIX):
        comma = line.find(b",", len(PREFIX))
        if line.startswith(b'"result":', comma + 1):
            return int(line[len(PREFIX):comma])
    ans = json.loads(line)
    if "result" not in ans:
        raise RuntimeError("procd: %s" % line[:300])
    return ans["id"]


def procd_spawn(procd, n, w, tag):
    """start + join (by name, pipelined) then close of /bin/true, w in
    flight on one connection; returns jobs/s (a job counts once closed)."""
    s = procd.connect()
    msgs = []

    def queue_job(i):
        name = "%s-%d" % (tag, i)
        msgs.append(b'{"jsonrpc":"2.0","id":%d,"method":"start","params":'
                    b'{"argv":["/bin/true"],"name":"%s","output":"null"}}\n'
                    b'{"jsonrpc":"2.0","id":%d,"method":"join","params":'
                    b'{"job":"%s"}}\n'
                    % (i * 4, name.encode(), i * 4 + 1, name.encode()))

    t0 = time.monotonic()
    sent = min(w, n)
    for i in range(sent):
        queue_job(i)
    s.sendall(b"".join(msgs))
    done = 0
    buf = b""
    while done < n:
        got, buf = lines(s, buf)
        msgs = []
        for line in got:
            job, kind = divmod(answer_id(line), 4)
            if kind == 1:
                msgs.append(b'{"jsonrpc":"2.0","id":%d,"method":"close",'
                            b'"params":{"job":"%s-%d"}}\n'
                            % (job * 4 + 2, tag.encode(), job))
                if sent < n:
                    queue_job(sent)
                    sent += 1
            elif kind == 2:
                done += 1
        if msgs:
            s.sendall(b"".join(msgs))
    dt = time.monotonic() - t0
    s.close()
    return n / dt


def procd_memory(path, tmp, m):
    procd = Procd(path, tmp, "mem")
    try:
        s = procd.connect()
        procd.call(s, "info")
        base = rss_kib(procd.proc.pid)
        ids = 0
        buf = b""
        pending = 0
        started = 0
        while started < m:
            msgs = []
            while pending < 256 and ids < m:
                ids += 1
                pending += 1
                msgs.append(b'{"jsonrpc":"2.0","id":%d,"method":"start",'
                            b'"params":{"argv":["sleep","1000"],'
                            b'"output":"null"}}\n' % ids)
            if msgs:
                s.sendall(b"".join(msgs))
            got, buf = lines(s, buf)
            for line in got:
                if "result" not in json.loads(line):
                    raise RuntimeError("procd start: %s" % line[:300])
                pending -= 1
                started += 1
        info = procd.call(s, "info")
        if info["jobs"]["running"] != m:
            raise RuntimeError("procd: %r jobs running" % info["jobs"])
        full = rss_kib(procd.proc.pid)
        s.close()
        return {"base": base, "full": full, "helper_pss": None}
    finally:
        procd.stop()


# --- task-spooler ------------------------------------------------------

TSP_MAX_LIVE = 990


class Tsp:
    def __init__(self, tsp, tmp, tag, slots):
        self.tsp = tsp
        self.dir = os.path.join(tmp, "tsp-" + tag)
        os.mkdir(self.dir)
        self.sock = os.path.join(self.dir, "sock")
        self.env = dict(os.environ, TS_SOCKET=self.sock, TMPDIR=self.dir,
                        TS_MAXFINISHED="1000000")
        self.env.pop("TS_SLOTS", None)
        self.env.pop("TS_ONFINISH", None)
        self.env.pop("TS_ENV", None)
        self.env.pop("TS_SAVELIST", None)
        self.env.pop("TS_MAXCONN", None)
        self.entry = b"TS_SOCKET=" + self.sock.encode()
        self.run(["-S", str(slots)])
        pids = pids_with_env(self.entry)
        if len(pids) != 1:
            raise RuntimeError("tsp: %d server candidates" % len(pids))
        self.server = pids[0]

    def run(self, args, **kw):
        return subprocess.run([self.tsp] + args, env=self.env, check=True,
                              stdin=subprocess.DEVNULL, **kw)

    def states(self):
        out = self.run(["-l"], stdout=subprocess.PIPE).stdout.decode()
        counts = {}
        for line in out.splitlines()[1:]:
            f = line.split()
            if len(f) > 1:
                counts[f[1]] = counts.get(f[1], 0) + 1
        return counts

    def stop(self):
        # tsp -K stops the server only: its job runners and their commands
        # live on, so kill every process of this server (they all carry
        # TS_SOCKET in their environment).
        if os.path.exists(self.sock):
            subprocess.run([self.tsp, "-K"], env=self.env,
                           stdin=subprocess.DEVNULL,
                           stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, check=False)
        for _ in range(3):
            pids = pids_with_env(self.entry)
            if not pids:
                break
            kill_pids(pids)
            time.sleep(0.05)
        shutil.rmtree(self.dir, ignore_errors=True)


def tsp_spawn(tsp_path, tmp, n, w, tag):
    """Queues n `tsp true` (one tsp client process each) on a fresh server
    with w slots and waits until all have finished: wall time of the
    whole, queueing included."""
    t = Tsp(tsp_path, tmp, tag, w)
    try:
        cmd = [t.tsp, "true"]
        t0 = time.monotonic()
        for _ in range(n):
            subprocess.run(cmd, env=t.env, stdin=subprocess.DEVNULL,
                           stdout=subprocess.DEVNULL, check=True)
        t.run(["-w", str(n - 1)], stdout=subprocess.DEVNULL)
        while True:
            st = t.states()
            if st.get("finished", 0) == n:
                break
            if st.get("finished", 0) + st.get("running", 0) + \
                    st.get("queued", 0) + st.get("allocating", 0) < n:
                raise RuntimeError("tsp: lost jobs: %r" % st)
            time.sleep(0.002)
        dt = time.monotonic() - t0
        return n / dt
    finally:
        t.stop()


def tsp_memory(tsp_path, tmp, m):
    # Every queued or running job holds a connection to the server, which
    # takes at most 1000 (MAXCONN, and FD_SETSIZE for its select()) and
    # then at most 995 jobs: m is capped at TSP_MAX_LIVE.
    m = min(m, TSP_MAX_LIVE)
    t = Tsp(tsp_path, tmp, "mem", m)
    try:
        base = rss_kib(t.server)
        for _ in range(m):
            t.run(["-B", "sleep", "1000"], stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while t.states().get("running", 0) != m:
            if time.monotonic() > deadline:
                raise RuntimeError("tsp: %r" % t.states())
            time.sleep(0.05)
        full = rss_kib(t.server)
        runners = [p for p in pids_with_env(t.entry) if p != t.server
                   and open("/proc/%d/comm" % p).read().strip() == "tsp"]
        pss = [x for x in map(pss_kib, runners) if x is not None]
        return {"base": base, "full": full, "live": m,
                "helper_pss": statistics.mean(pss) if pss else None,
                "helpers": len(runners)}
    finally:
        t.stop()


# --- multiprocessing ---------------------------------------------------

def mp_spawn(method, n, w):
    ctx = multiprocessing.get_context(method)
    wait = multiprocessing.connection.wait
    alive = {}
    started = done = 0
    t0 = time.monotonic()
    try:
        while done < n:
            while started < n and len(alive) < w:
                p = ctx.Process(target=noop)
                p.start()
                alive[p.sentinel] = p
                started += 1
            for sentinel in wait(list(alive)):
                p = alive.pop(sentinel)
                p.join()
                if p.exitcode != 0:
                    raise RuntimeError("child exit code %r" % p.exitcode)
                p.close()
                done += 1
    finally:
        for p in alive.values():
            p.kill()
            p.join()
    return n / (time.monotonic() - t0)


def mp_memory_child(m):
    """Runs in a fresh interpreter (--mp-mem): its own RSS empty, then with
    m live Process objects each in time.sleep; prints JSON."""
    raise_nofile()
    ctx = multiprocessing.get_context("fork")
    # Warm up what starting a Process loads, so the baseline has it.
    p = ctx.Process(target=noop)
    p.start()
    p.join()
    p.close()
    base = rss_kib(os.getpid())
    procs = []
    try:
        for _ in range(m):
            p = ctx.Process(target=time.sleep, args=(1000,))
            p.start()
            procs.append(p)
        time.sleep(0.5)
        if sum(p.is_alive() for p in procs) != m:
            raise RuntimeError("multiprocessing: children died")
        full = rss_kib(os.getpid())
        pss = [x for x in (pss_kib(p.pid) for p in procs[:50])
               if x is not None]
    finally:
        for p in procs:
            p.kill()
        for p in procs:
            p.join()
    print(json.dumps({"base": base, "full": full,
                      "helper_pss": statistics.mean(pss) if pss else None}))


def mp_memory(m):
    out = subprocess.run([sys.executable, os.path.abspath(__file__),
                          "--mp-mem", str(m)], stdout=subprocess.PIPE,
                         check=True).stdout
    return json.loads(out)


# --- procbench ---------------------------------------------------------

def procbench_spawn(procbench, procd, spawnbase):
    out = subprocess.run([procbench, "--procd", procd, "--spawnbase",
                          spawnbase, "--quick", "spawn"],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                         check=True).stdout.decode()
    got = {}
    for line in out.splitlines():
        f = line.split()
        if line.startswith("spawn procd W=64, 1 connection ") or \
                line.startswith("spawn baseline: spawnbase W=64 "):
            got["procd" if "procd" in line else "base"] = float(
                f[f.index("jobs/s") - 1])
    if len(got) != 2:
        raise RuntimeError("procbench: no W=64 lines in:\n" + out)
    return got


# --- main --------------------------------------------------------------

def machine():
    model = benchutil.cpu_model()
    return "%d cpus (%s), Linux %s" % (os.cpu_count(), model,
                                       platform.release())


def cpu_seconds():
    with open("/proc/stat") as f:
        f = f.readline().split()
    # user nice system idle iowait irq softirq steal: all but idle, iowait
    busy = [int(f[i]) for i in (1, 2, 3, 6, 7, 8)]
    return sum(busy) / os.sysconf("SC_CLK_TCK")


def busy(t0, c0):
    """Share of the machine's CPUs used since (t0, c0), in percent."""
    return 100.0 * (cpu_seconds() - c0) / (
        (time.monotonic() - t0) * (os.cpu_count() or 1))


def main():
    ap = argparse.ArgumentParser(
        prog="peers.sh",
        description="procd against task-spooler and Python's "
        "multiprocessing: spawn throughput and supervisor memory.")
    ap.add_argument("--jobs", "-n", type=int, default=2000,
                    help="no-op jobs per spawn run (default 2000)")
    ap.add_argument("--inflight", "-w", type=int, default=64,
                    help="jobs in flight (default 64)")
    ap.add_argument("--rounds", "-r", type=int, default=3,
                    help="alternating rounds, median reported (default 3)")
    ap.add_argument("--live", "-m", type=int, default=1000,
                    help="live sleeping jobs for memory (default 1000)")
    ap.add_argument("--spawn-jobs", type=int, default=None,
                    help="jobs per multiprocessing 'spawn' run "
                    "(default jobs/20, at least W; 0 skips)")
    ap.add_argument("--procd")
    ap.add_argument("--procbench")
    ap.add_argument("--spawnbase")
    ap.add_argument("--tsp", help="tsp program; absent: skip task-spooler")
    ap.add_argument("--tmp")
    ap.add_argument("--mp-mem", type=int, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.mp_mem is not None:
        mp_memory_child(a.mp_mem)
        return
    if not a.procd or not a.tmp:
        ap.error("--procd and --tmp are required (run it by peers.sh)")
    n, w, m = a.jobs, a.inflight, a.live
    nspawn = a.spawn_jobs if a.spawn_jobs is not None else max(n // 20, w)
    raise_nofile()
    # End cleanly (finally blocks run) on SIGTERM and SIGHUP too.
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda *_: sys.exit(130))

    t0, c0 = time.monotonic(), cpu_seconds()
    time.sleep(1)
    before = busy(t0, c0)
    wall0, cpu0 = time.monotonic(), cpu_seconds()
    date = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    tsp_version = None
    if a.tsp:
        out = subprocess.run([a.tsp, "-V"], stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT).stdout.decode()
        v = re.search(r"v(\d[\w.+~-]*)", out)
        tsp_version = v.group(1) if v else "?"

    tools = ["procd"]
    if a.procbench and a.spawnbase:
        tools.append("procbench")
    if a.tsp:
        tools.append("tsp")
    tools.append("mp-fork")
    if nspawn > 0:
        tools.append("mp-spawn")
    rates = {t: [] for t in tools}
    rates["spawnbase"] = []

    procd = Procd(a.procd, a.tmp, "spawn")
    try:
        for r in range(a.rounds):
            order = tools[r % len(tools):] + tools[:r % len(tools)]
            for t in order:
                note("round %d/%d: %s" % (r + 1, a.rounds, t))
                if t == "procd":
                    rates[t].append(procd_spawn(procd, n, w, "r%d" % r))
                elif t == "procbench":
                    got = procbench_spawn(a.procbench, a.procd,
                                          a.spawnbase)
                    rates[t].append(got["procd"])
                    rates["spawnbase"].append(got["base"])
                elif t == "tsp":
                    rates[t].append(tsp_spawn(a.tsp, a.tmp, n, w,
                                              "s%d" % r))
                elif t == "mp-fork":
                    rates[t].append(mp_spawn("fork", n, w))
                elif t == "mp-spawn":
                    rates[t].append(mp_spawn("spawn", nspawn, w))
    finally:
        procd.stop()

    mem = {}
    note("memory: procd, %d sleepers" % m)
    mem["procd"] = procd_memory(a.procd, a.tmp, m)
    if a.tsp:
        note("memory: tsp, %d sleepers" % m)
        mem["tsp"] = tsp_memory(a.tsp, a.tmp, m)
    note("memory: multiprocessing, %d sleepers" % m)
    mem["mp-fork"] = mp_memory(m)

    wall = time.monotonic() - wall0
    during = busy(wall0, cpu0)

    med = {t: statistics.median(v) for t, v in rates.items() if v}
    ref = med["procd"]
    rows = [
        ("procd, Python client", "procd", "procd"),
        ("procd, procbench (C client)", "procbench", None),
        ("spawnbase (posix_spawn+waitpid)", "spawnbase", None),
        ("task-spooler %s, tsp -S %d" % (tsp_version, w), "tsp", "tsp"),
        ("multiprocessing fork", "mp-fork", "mp-fork"),
        ("multiprocessing spawn (%d jobs)" % nspawn, "mp-spawn", None),
    ]
    print("# peers: %s, %s" % (machine(), date))
    print("# %d no-op jobs, %d in flight, median of %d alternating rounds; "
          "memory: supervisor VmRSS, %d live sleepers" % (n, w, a.rounds, m))
    print("# spawn rates in this run: %s" % ", ".join(
        "%s %s" % (t, " ".join("%.0f" % x for x in v))
        for t, v in rates.items() if v))
    hdr = "%-36s %8s %9s %10s %10s %9s" % (
        "tool", "jobs/s", "vs procd", "RSS empty", "RSS live", "RSS/job")
    print(hdr)
    print("%-36s %8s %9s %10s %10s %9s" % (
        "----", "------", "--------", "---------", "--------", "-------"))
    for label, rk, mk in rows:
        if rk not in med:
            continue
        mm = mem.get(mk) if mk else None
        print("%-36s %8.0f %9.2f %10s %10s %9s" % (
            label, med[rk], med[rk] / ref,
            "%d KiB" % mm["base"] if mm else "",
            "%d KiB" % mm["full"] if mm else "",
            "%.0f B" % ((mm["full"] - mm["base"]) * 1024.0 /
                        mm.get("live", m)) if mm else ""))
    if "tsp" in mem and mem["tsp"]["live"] != m:
        print("# tsp: memory at %d live jobs, not %d: its server takes at "
              "most 1000 connections, one per queued or running job" %
              (mem["tsp"]["live"], m))
    if "tsp" in mem and mem["tsp"]["helper_pss"] is not None:
        print("# tsp: each queued or running job also has its own tsp "
              "process (%d seen), Pss %.0f KiB each" %
              (mem["tsp"]["helpers"], mem["tsp"]["helper_pss"]))
    if mem["mp-fork"]["helper_pss"] is not None:
        print("# multiprocessing: each job is a forked Python, Pss %.0f KiB "
              "each" % mem["mp-fork"]["helper_pss"])
    print("# done in %.0f s; machine busy %.0f%% in the second before "
          "the run, %.0f%% during it (this run included)" % (
              wall, before, during))


if __name__ == "__main__":
    main()
