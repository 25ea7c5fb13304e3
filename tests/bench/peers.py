# SPDX-License-Identifier: ISC
"""Peers of procd, measured in one run (optional; not in CI).

Three figures per tool, each as close to the same thing as the tool
allows, next to raw posix_spawn (spawnbase) taken in the same run:

spawn     no-op jobs (/bin/true) per second, W (64) in flight.
          procd: start + join (by name) + close on one connection from a
            Python client, pipelined (as procbench does).
          supervisord: N programs `command=/bin/true` (numprocs, autostart
            and autorestart false, startsecs 0) declared in its config;
            the client keeps W started and not yet seen EXITED, one
            system.multicall per round trip over its unix socket (the
            getProcessInfo of those in flight, and startProcess(name,
            wait=False) of new ones). A job counts once seen EXITED.
          runit, s6: N service directories (./run a symlink to /bin/true,
            a ./down file), each with its runsv / s6-supervise already
            running; the client writes `o` (once: up, no restart; what
            `sv once` and `s6-svc -o` write) to W control fifos at a time
            and a job counts once its supervise/status shows it ran and is
            down again (inotify on the supervise folders). The client
            programs sv / s6-svc are not run here: their cost is the
            fork/exec the status row shows.
          task-spooler: N `tsp true` clients one after another (a tsp
            client per job is how a job is queued) on a server with W
            slots, until `tsp -l` shows them all finished.
          multiprocessing: Process(target=noop) start/join, W alive.
memory    the supervisor's VmRSS empty and with M live `sleep 1000` jobs,
          bytes per job over the empty one; per-job helper processes
          (runsv, s6-supervise, the tsp client of each job) are counted
          apart, by their mean Pss.
status    the round trip of a status query of one live job, one at a
          time on a supervisor with 10 live sleepers: p50 and p99 of Q
          queries, median over rounds. procd `status` and supervisord
          `supervisor.getProcessInfo` from this Python process over a kept
          connection; `procctl status`, `supervisorctl status`, `sv status`,
          `s6-svstat` and `tsp -s` are programs, started for each query, so
          their figure includes that client's fork/exec (and, for
          supervisorctl, starting a Python interpreter). sv and s6-svstat
          read the supervise/status file: they do not ask runsv or
          s6-supervise anything.

Run through tests/bench/peers.sh, which makes the temp folder and kills
whatever is left behind. Stdlib only.
"""

import argparse
import json
import multiprocessing
import multiprocessing.connection
import os
import platform
import re
import resource
import select
import shutil
import signal
import socket
import statistics
import struct
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


def comm(pid):
    try:
        with open("/proc/%d/comm" % pid) as f:
            return f.read().strip()
    except OSError:
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


def kill_marked(entry):
    """SIGKILL to every process whose environment holds entry, until none
    is left."""
    for _ in range(20):
        pids = pids_with_env(entry)
        if not pids:
            return
        kill_pids(pids)
        time.sleep(0.05)


def helpers_pss(entry, name):
    """Number and mean Pss (KiB) of the processes called name that carry
    entry in their environment."""
    pids = [p for p in pids_with_env(entry) if comm(p) == name]
    pss = [x for x in map(pss_kib, pids) if x is not None]
    return len(pids), (statistics.mean(pss) if pss else None)


def noop():
    pass


def raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def pct(sorted_ms, p):
    """The p-th percentile (nearest rank) of a sorted list."""
    k = max(0, min(len(sorted_ms) - 1,
                   int(-(-p * len(sorted_ms) // 100)) - 1))
    return sorted_ms[k]


def latency(query, q):
    """p50 and p99 in ms of q calls of query(i), one at a time."""
    lat = []
    for i in range(q):
        t = time.perf_counter()
        query(i)
        lat.append((time.perf_counter() - t) * 1e3)
    lat.sort()
    return pct(lat, 50), pct(lat, 99)


def program_query(argv_of, env=None, expect=None):
    """A query that runs the program argv_of(i) to its end, output thrown
    away; first checks once that its output holds expect."""
    out = subprocess.run(argv_of(0), env=env, stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         check=False).stdout.decode(errors="replace")
    if expect is not None and expect not in out:
        raise RuntimeError("%s: %r" % (" ".join(argv_of(0)), out[:300]))

    def query(i):
        subprocess.run(argv_of(i), env=env, stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       check=False)
    return query


def wait_until(what, cond, timeout, proc=None, step=0.02):
    deadline = time.monotonic() + timeout
    while not cond():
        if proc is not None and proc.poll() is not None:
            raise RuntimeError("%s: exited with %s" % (what, proc.returncode))
        if time.monotonic() > deadline:
            raise RuntimeError("%s: timed out after %g s" % (what, timeout))
        time.sleep(step)


def package_version(pkg):
    try:
        out = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", pkg],
                             stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, check=False)
    except OSError:
        return None
    return out.stdout.decode().strip() or None


# --- inotify -----------------------------------------------------------

class Inotify:
    """Which watched folders saw a file closed after writing or renamed
    into them (libc's inotify through ctypes)."""
    IN_CLOSE_WRITE = 0x08
    IN_MOVED_TO = 0x80

    def __init__(self):
        import ctypes
        self.ctypes = ctypes
        self.libc = ctypes.CDLL(None, use_errno=True)
        self.fd = self.libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if self.fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1")
        self.poller = select.poll()
        self.poller.register(self.fd, select.POLLIN)

    def watch(self, path):
        wd = self.libc.inotify_add_watch(
            self.fd, os.fsencode(path), self.IN_CLOSE_WRITE |
            self.IN_MOVED_TO)
        if wd < 0:
            raise OSError(self.ctypes.get_errno(),
                          "inotify_add_watch " + path)
        return wd

    def wait(self, timeout):
        """The watch descriptors with events within timeout seconds (-1:
        the queue overflowed)."""
        wds = set()
        if not self.poller.poll(timeout * 1000):
            return wds
        while True:
            try:
                buf = os.read(self.fd, 1 << 16)
            except BlockingIOError:
                return wds
            off = 0
            while off + 16 <= len(buf):
                wd, _, _, n = struct.unpack_from("iIII", buf, off)
                wds.add(wd)
                off += 16 + n

    def close(self):
        os.close(self.fd)


# --- procd -------------------------------------------------------------

class Procd:
    def __init__(self, path, tmp, tag):
        self.sock_path = os.path.join(tmp, "procd-%s.sock" % tag)
        # Its log (a line per job started) goes to a file, as procbench's
        # and supervisord's do.
        with open(os.path.join(tmp, "procd-%s.log" % tag), "ab") as log:
            self.proc = subprocess.Popen(
                [path, "--socket", self.sock_path, "--max-jobs=1000000",
                 "--max-clients=100000"],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                start_new_session=True)
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


LIVE = 10       # live sleepers whose status the status rows ask


class ProcdStatus:
    """The spawn procd with LIVE sleepers: status over one kept connection,
    and procctl status."""

    def __init__(self, procd, procctl):
        self.procd = procd
        self.procctl = procctl
        self.s = procd.connect()
        self.ids = [procd.call(self.s, "start", {
            "argv": ["sleep", "1000"], "output": "null"})["id"]
            for _ in range(LIVE)]

    def socket_query(self):
        def query(i):
            st = self.procd.call(self.s, "status",
                                 {"job": self.ids[i % LIVE]})
            if st["state"] != "running":
                raise RuntimeError("procd status: %r" % st)
        return query

    def procctl_query(self):
        return program_query(
            lambda i: [self.procctl, "--socket", self.procd.sock_path,
                       "status", str(self.ids[i % LIVE])],
            expect="running")

    def close(self):
        self.s.close()


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
        return {"base": base, "full": full, "live": m}
    finally:
        procd.stop()


# --- supervisord -------------------------------------------------------

def unix_xmlrpc(path, timeout=120):
    """An XML-RPC proxy over the unix socket path, its HTTP/1.1 connection
    kept between calls (supervisord keeps it). http.client is imported
    here, not at the top: it would add some 6 MB to the multiprocessing
    parent's RSS, which runs this file too."""
    import http.client
    import xmlrpc.client

    class Connection(http.client.HTTPConnection):
        def connect(self):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(timeout)
            s.connect(path)
            self.sock = s

    class Transport(xmlrpc.client.Transport):
        def make_connection(self, host):
            if self._connection and host == self._connection[0]:
                return self._connection[1]
            self._connection = host, Connection("localhost",
                                                timeout=timeout)
            return self._connection[1]

    return xmlrpc.client.ServerProxy("http://localhost",
                                     transport=Transport())


SUPERVISORD_CONF = """\
[unix_http_server]
file = {sock}
chmod = 0700

[supervisord]
nodaemon = true
silent = true
logfile = {dir}/supervisord.log
loglevel = warn
pidfile = {dir}/supervisord.pid
childlogdir = {dir}
minfds = {minfds}

[rpcinterface:supervisor]
supervisor.rpcinterface_factory=supervisor.rpcinterface:make_main_rpcinterface

[supervisorctl]
serverurl = unix://{sock}

[include]
files = {dir}/conf.d/*.conf
"""

SUPERVISORD_PROGRAM = """\
[program:{name}]
command = {command}
process_name = %(program_name)s%(process_num)d
numprocs = {n}
autostart = {autostart}
autorestart = false
startsecs = 0
startretries = 0
stdout_logfile = NONE
stderr_logfile = NONE
"""


class Supervisord:
    """A private supervisord (nodaemon) on a unix socket in its own
    folder; its processes carry PEERS_TOOL=<folder>."""

    def __init__(self, path, tmp, tag, programs=(), minfds=1024):
        self.dir = os.path.join(tmp, "supervisord-" + tag)
        os.makedirs(os.path.join(self.dir, "conf.d"))
        self.sock = os.path.join(self.dir, "sock")
        self.conf = os.path.join(self.dir, "supervisord.conf")
        with open(self.conf, "w") as f:
            f.write(SUPERVISORD_CONF.format(sock=self.sock, dir=self.dir,
                                            minfds=minfds))
        for name, command, n, autostart in programs:
            self.program(name, command, n, autostart)
        self.entry = b"PEERS_TOOL=" + self.dir.encode()
        self.env = dict(os.environ, PEERS_TOOL=self.dir)
        self.out = open(os.path.join(self.dir, "out"), "wb")
        self.proc = subprocess.Popen(
            [path, "-c", self.conf], stdin=subprocess.DEVNULL,
            stdout=self.out, stderr=subprocess.STDOUT, env=self.env,
            start_new_session=True)
        try:
            self.wait_running()
        except BaseException:
            self.stop()
            raise

    def wait_running(self):
        import http.client
        import xmlrpc.client
        deadline = time.monotonic() + 60
        while True:
            self.rpc = unix_xmlrpc(self.sock)
            try:
                if self.rpc.supervisor.getState()["statename"] == "RUNNING":
                    return
            except (OSError, xmlrpc.client.Error,
                    http.client.HTTPException):
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("supervisord did not start: %s" %
                                   self.tail())
            time.sleep(0.05)

    def program(self, name, command, n, autostart):
        with open(os.path.join(self.dir, "conf.d", name + ".conf"), "w") as f:
            f.write(SUPERVISORD_PROGRAM.format(
                name=name, command=command, n=n,
                autostart="true" if autostart else "false"))

    def tail(self):
        try:
            with open(os.path.join(self.dir, "out"), "rb") as f:
                return f.read()[-500:].decode(errors="replace")
        except OSError:
            return ""

    def states(self):
        counts = {}
        for p in self.rpc.supervisor.getAllProcessInfo():
            counts[p["statename"]] = counts.get(p["statename"], 0) + 1
        return counts

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                pass
        kill_marked(self.entry)
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.out.close()


def supervisord_start(path, tmp, n):
    sv = Supervisord(path, tmp, "spawn", programs=(
        ("t", "/bin/true", n, False),
        ("live", "/bin/sleep 1000", LIVE, True)))
    try:
        wait_until("supervisord live", lambda: sv.states().get(
            "RUNNING", 0) == LIVE, 30, sv.proc, 0.1)
    except BaseException:
        sv.stop()
        raise
    return sv


def supervisord_spawn(sv, n, w):
    """startProcess(t:tK, wait=False) of the n programs, w in flight; the
    getProcessInfo of those in flight and the starts of new ones go in one
    system.multicall per round trip. A job counts once seen EXITED."""
    names = ["t:t%d" % i for i in range(n)]
    rpc = sv.rpc
    inflight = []
    nxt = done = 0
    t0 = time.monotonic()
    deadline = t0 + 300
    while done < n:
        new = names[nxt:nxt + w - len(inflight)]
        nxt += len(new)
        calls = [{"methodName": "supervisor.getProcessInfo",
                  "params": [nm]} for nm in inflight]
        calls += [{"methodName": "supervisor.startProcess",
                   "params": [nm, False]} for nm in new]
        res = rpc.system.multicall(calls)
        still = []
        for nm, info in zip(inflight, res):
            if "faultCode" in info:
                raise RuntimeError("supervisord %s: %r" % (nm, info))
            if info["statename"] == "EXITED":
                if info["exitstatus"] != 0:
                    raise RuntimeError("supervisord %s: %r" % (nm, info))
                done += 1
            elif info["statename"] in ("STARTING", "RUNNING"):
                still.append(nm)
            else:
                raise RuntimeError("supervisord %s: %r" % (nm, info))
        for nm, r in zip(new, res[len(inflight):]):
            if r is not True:
                raise RuntimeError("supervisord start %s: %r" % (nm, r))
        if len(still) == len(inflight) and not new:
            time.sleep(0.0005)
        inflight = still + new
        if time.monotonic() > deadline:
            raise RuntimeError("supervisord: spawn timed out")
    return n / (time.monotonic() - t0)


def supervisord_rpc_query(sv):
    def query(i):
        info = sv.rpc.supervisor.getProcessInfo("live:live%d" % (i % LIVE))
        if info["statename"] != "RUNNING":
            raise RuntimeError("supervisord: %r" % info)
    return query


def supervisorctl_query(sv, supervisorctl):
    return program_query(
        lambda i: [supervisorctl, "-c", sv.conf, "status",
                   "live:live%d" % (i % LIVE)], expect="RUNNING")


def supervisord_memory(path, tmp, m):
    """RSS empty (no program), then with m `sleep 1000` added at run time
    as one program of numprocs=m (reloadConfig + addProcessGroup), all
    RUNNING."""
    sv = Supervisord(path, tmp, "mem", minfds=max(1024, 4 * m + 64))
    try:
        sv.states()
        time.sleep(0.2)
        base = rss_kib(sv.proc.pid)
        sv.program("mem", "/bin/sleep 1000", m, True)
        sv.rpc.supervisor.reloadConfig()
        sv.rpc.supervisor.addProcessGroup("mem")
        wait_until("supervisord memory", lambda: sv.states().get(
            "RUNNING", 0) == m, 120, sv.proc, 0.2)
        time.sleep(0.2)
        full = rss_kib(sv.proc.pid)
        return {"base": base, "full": full, "live": m}
    finally:
        sv.stop()


# --- runit and s6 ------------------------------------------------------

SLEEP_RUN = "#!/bin/sh\nexec /bin/sleep 1000\n"


class ScanDir:
    """runsvdir or s6-svscan on a private scan folder, one runsv or
    s6-supervise per service folder; its processes carry
    PEERS_TOOL=<folder>. Services are made in a staging folder and renamed
    into the scan folder whole."""
    name = helper = None
    max_services = None

    def __init__(self, bindir, tmp, tag, maxsv):
        self.bindir = bindir
        self.dir = os.path.join(tmp, "%s-%s" % (self.name, tag))
        self.scan = os.path.join(self.dir, "scan")
        self.stage = os.path.join(self.dir, "stage")
        os.makedirs(self.scan)
        os.makedirs(self.stage)
        self.entry = b"PEERS_TOOL=" + self.dir.encode()
        self.env = dict(os.environ, PEERS_TOOL=self.dir)
        self.ctl = {}
        self.proc = None
        self.out = open(os.path.join(self.dir, "out"), "wb")
        self.maxsv = maxsv
        self.ino = None
        self.wd_name = {}
        self.last_round = 0.0

    def prog(self, name):
        return os.path.join(self.bindir, name)

    def make(self, svc, run, down):
        """A service folder: ./run is a symlink to run if that is a
        program path, else a script of that text."""
        d = os.path.join(self.stage, svc)
        os.mkdir(d)
        if run.startswith("/"):
            os.symlink(run, os.path.join(d, "run"))
        else:
            with open(os.path.join(d, "run"), "w") as f:
                f.write(run)
            os.chmod(os.path.join(d, "run"), 0o755)
        if down:
            open(os.path.join(d, "down"), "w").close()
        os.rename(d, os.path.join(self.scan, svc))

    def start(self):
        self.proc = subprocess.Popen(
            self.argv(), stdin=subprocess.DEVNULL, stdout=self.out,
            stderr=subprocess.STDOUT, env=self.env, start_new_session=True)

    def svdir(self, svc):
        return os.path.join(self.scan, svc)

    def status(self, svc):
        """(stamp of the last start or end, pid or 0) from the service's
        supervise/status."""
        with open(os.path.join(self.scan, svc, "supervise", "status"),
                  "rb") as f:
            return self.parse(f.read())

    def ready(self, svcs, up, timeout):
        """Waits until each service's supervisor reads its control fifo
        (kept open here) and, if up, its ./run is running."""
        todo = set(svcs)

        def check():
            for svc in list(todo):
                if svc not in self.ctl:
                    try:
                        self.ctl[svc] = os.open(os.path.join(
                            self.scan, svc, "supervise", "control"),
                            os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
                    except OSError:
                        continue
                try:
                    pid = self.status(svc)[1]
                except (OSError, ValueError):
                    continue
                if not up or pid != 0:
                    todo.discard(svc)
            return not todo
        wait_until("%s: %d services" % (self.name, len(svcs)), check,
                   timeout, self.proc, 0.1)

    def drop_ctl(self):
        for fd in self.ctl.values():
            os.close(fd)
        self.ctl = {}

    def control(self, svc, ch):
        os.write(self.ctl[svc], ch)

    def watch(self, svcs):
        """inotify on the supervise folders of svcs; without it (no
        ctypes, no inotify), scandir_spawn polls."""
        try:
            self.ino = Inotify()
            for svc in svcs:
                self.wd_name[self.ino.watch(os.path.join(
                    self.scan, svc, "supervise"))] = svc
        except (OSError, ImportError, AttributeError) as e:
            note("%s: no inotify (%s): polling" % (self.name, e))
            if self.ino is not None:
                self.ino.close()
            self.ino = None
            self.wd_name = {}

    def stop(self):
        self.drop_ctl()
        if self.ino is not None:
            self.ino.close()
            self.ino = None
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
        kill_marked(self.entry)
        if self.proc is not None:
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.out.close()


class Runit(ScanDir):
    name = "runit"
    helper = "runsv"
    max_services = 1000     # runsvdir: "too many services" beyond

    def argv(self):
        return [self.prog("runsvdir"), "-P", self.scan]

    def rescan(self):
        pass                # runsvdir looks at the folder every few s

    @staticmethod
    def parse(b):
        # runsv: tai64n of the last start or end, pid (4 bytes, little
        # endian), paused, want, term, state.
        if len(b) < 20:
            raise ValueError("short status")
        return b[:12], int.from_bytes(b[12:16], "little")

    def status_argv(self, svc):
        return [self.prog("sv"), "status", self.svdir(svc)]

    status_expect = "run: "


class S6(ScanDir):
    name = "s6"
    helper = "s6-supervise"

    def argv(self):
        return [self.prog("s6-svscan"), "-c", str(self.maxsv), self.scan]

    def rescan(self):
        fd = os.open(os.path.join(self.scan, ".s6-svscan", "control"),
                     os.O_WRONLY | os.O_NONBLOCK)
        try:
            os.write(fd, b"a")
        finally:
            os.close(fd)

    @staticmethod
    def parse(b):
        # s6-supervise: tain of the last start or end, tain of readiness,
        # pid (8 bytes, big endian), wstat, flags.
        if len(b) < 35:
            raise ValueError("short status")
        return b[:12], int.from_bytes(b[24:32], "big")

    def status_argv(self, svc):
        return [self.prog("s6-svstat"), self.svdir(svc)]

    status_expect = "up "


def scandir_start(cls, bindir, tmp, n):
    if cls.max_services is not None and n + LIVE > cls.max_services:
        raise RuntimeError("%s takes at most %d services: --svc-jobs %d "
                           "is more than %d" % (cls.name, cls.max_services,
                                                n, cls.max_services - LIVE))
    t = cls(bindir, tmp, "spawn", n + LIVE + 10)
    try:
        names = ["t%d" % i for i in range(n)]
        for svc in names:
            t.make(svc, "/bin/true", True)
        for i in range(LIVE):
            t.make("live%d" % i, SLEEP_RUN, False)
        t.start()
        t.ready(names, False, 120)
        t.ready(["live%d" % i for i in range(LIVE)], True, 60)
        t.watch(names)
    except BaseException:
        t.stop()
        raise
    return t


def scandir_spawn(t, n, w):
    """`o` to the control fifo of n down services, w in flight; a job
    counts once its status shows a new stamp and no pid (it ran and is
    down again). runsv sleeps a second after a ./run that lived less than
    one, so a service is not started again within 1.5 s."""
    wait = t.last_round + 1.5 - time.monotonic()
    if wait > 0:
        time.sleep(wait)
    names = ["t%d" % i for i in range(n)]
    inflight = {}
    nxt = done = 0
    t0 = time.monotonic()
    deadline = t0 + 300
    while done < n:
        while len(inflight) < w and nxt < n:
            svc = names[nxt]
            nxt += 1
            inflight[svc] = t.status(svc)[0]
            t.control(svc, b"o")
        if t.ino is not None:
            wds = t.ino.wait(0.2)
        else:
            time.sleep(0.0005)
            wds = None
        if not wds or -1 in wds:
            check = list(inflight)
        else:
            check = [t.wd_name[wd] for wd in wds
                     if t.wd_name.get(wd) in inflight]
        for svc in check:
            stamp, pid = t.status(svc)
            if pid == 0 and stamp != inflight[svc]:
                del inflight[svc]
                done += 1
        if time.monotonic() > deadline:
            raise RuntimeError("%s: spawn timed out (%d of %d)" %
                               (t.name, done, n))
    t.last_round = time.monotonic()
    return n / (t.last_round - t0)


def scandir_query(t):
    return program_query(lambda i: t.status_argv("live%d" % (i % LIVE)),
                         expect=t.status_expect)


def scandir_memory(cls, bindir, tmp, m):
    """The scanner's RSS with an empty scan folder, then with m services
    running `sleep 1000` (each with its runsv / s6-supervise)."""
    if cls.max_services is not None:
        m = min(m, cls.max_services)
    t = cls(bindir, tmp, "mem", m + 10)
    try:
        t.start()
        time.sleep(0.5)
        if t.proc.poll() is not None:
            raise RuntimeError("%s exited" % t.name)
        base = rss_kib(t.proc.pid)
        names = ["m%d" % i for i in range(m)]
        for svc in names:
            t.make(svc, SLEEP_RUN, False)
        t.rescan()
        t.ready(names, True, 120)
        t.drop_ctl()
        time.sleep(0.5)
        full = rss_kib(t.proc.pid)
        nh, pss = helpers_pss(t.entry, t.helper)
        return {"base": base, "full": full, "live": m, "helpers": nh,
                "helper_pss": pss}
    finally:
        t.stop()


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
        kill_marked(self.entry)
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


def tsp_status_start(tsp_path, tmp):
    """A server with LIVE slots running LIVE `sleep 1000` (jobs 0..)."""
    t = Tsp(tsp_path, tmp, "status", LIVE)
    try:
        for _ in range(LIVE):
            t.run(["sleep", "1000"], stdout=subprocess.DEVNULL)
        wait_until("tsp status jobs", lambda: t.states().get(
            "running", 0) == LIVE, 30, None, 0.05)
    except BaseException:
        t.stop()
        raise
    return t


def tsp_query(t):
    return program_query(lambda i: [t.tsp, "-s", str(i % LIVE)],
                         env=t.env, expect="running")


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
                   and comm(p) == "tsp"]
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
    """Runs in a fresh interpreter: its own RSS empty, then with
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
    print(json.dumps({"base": base, "full": full, "live": m,
                      "child_pss": statistics.mean(pss) if pss else None}))


def mp_memory(m):
    # This file imported as a module, not run as a script: compiling a
    # script of this size would add some 3 MB to the parent's RSS.
    code = ("import sys; sys.path.insert(0, %r); import peers; "
            "peers.mp_memory_child(%d)" % (
                os.path.dirname(os.path.abspath(__file__)), m))
    out = subprocess.run([sys.executable, "-B", "-c", code],
                         stdout=subprocess.PIPE, check=True).stdout
    return json.loads(out)


# --- spawnbase and procbench -------------------------------------------

def spawnbase_spawn(spawnbase, n, w):
    """posix_spawn + waitpid of /bin/true in one thread, w in flight, each
    child set up as procd sets up a job with output "null"."""
    out = subprocess.run([spawnbase, "-n", str(n), "-w", str(w),
                          "/bin/true"], stdout=subprocess.PIPE,
                         check=True).stdout.split()
    return int(out[0]) / ((int(out[2]) - int(out[1])) / 1e9)


def procbench_spawn(procbench, procd, spawnbase):
    out = subprocess.run([procbench, "--procd", procd, "--spawnbase",
                          spawnbase, "--quick", "spawn"],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                         check=True).stdout.decode()
    for line in out.splitlines():
        f = line.split()
        if line.startswith("spawn procd W=64, 1 connection "):
            return float(f[f.index("jobs/s") - 1])
    raise RuntimeError("procbench: no W=64 line in:\n" + out)


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


def fs_type(path):
    """The type of the file system path is on, from mountinfo."""
    best, kind = "", "?"
    path = os.path.realpath(path)
    try:
        with open("/proc/self/mountinfo") as f:
            for line in f:
                left, right = line.split(" - ", 1)
                point = left.split()[4]
                if (path == point or path.startswith(point.rstrip("/") +
                                                     "/")) and \
                        len(point) >= len(best):
                    best, kind = point, right.split()[0]
    except (OSError, ValueError, IndexError):
        pass
    return kind


def loadavg():
    return "%.2f %.2f %.2f" % os.getloadavg()


class Run:
    """The long-lived instances of one run, the figures, what failed."""

    def __init__(self, a):
        self.a = a
        self.inst = {}
        self.rates = {}     # tool -> [jobs/s per round]
        self.ratios = {}    # tool -> [jobs/s over spawnbase's, per round]
        self.base = {}      # round -> spawnbase's jobs/s
        self.pending = {}   # round -> [(tool, jobs/s)] for the ratios
        self.lat = {}       # status row -> [(p50, p99) per round]
        self.queries = {}   # status row -> query(i)
        self.mem = {}
        self.failed = {}    # tool -> reason

    def fail(self, tool, exc):
        msg = "%s: %s" % (type(exc).__name__, str(exc).strip()[:300])
        note("%s failed: %s" % (tool, msg))
        self.failed.setdefault(tool, msg)

    def stop_all(self):
        for name in list(self.inst)[::-1]:
            try:
                self.inst.pop(name).stop()
            except Exception as e:     # keep stopping the others
                self.fail(name, e)


STATUS_OF = {
    "procd": ("procd", "procctl"),
    "supervisord": ("supervisord", "supervisorctl"),
    "runit": ("runit",),
    "s6": ("s6",),
    "tsp": ("tsp",),
}


def setup(run, tools):
    """Starts the long-lived instances; drops a tool that cannot start."""
    a = run.a
    for t in list(tools):
        try:
            if t == "procd":
                procd = Procd(a.procd, a.tmp, "spawn")
                run.inst["procd"] = procd
                st = ProcdStatus(procd, a.procctl)
                run.queries["procd"] = st.socket_query()
                if a.procctl:
                    run.queries["procctl"] = st.procctl_query()
            elif t == "supervisord":
                sv = supervisord_start(a.supervisord, a.tmp, a.svc_jobs)
                run.inst[t] = sv
                run.queries["supervisord"] = supervisord_rpc_query(sv)
                if a.supervisorctl:
                    run.queries["supervisorctl"] = supervisorctl_query(
                        sv, a.supervisorctl)
            elif t in ("runit", "s6"):
                cls = Runit if t == "runit" else S6
                bindir = a.runit if t == "runit" else a.s6
                sd = scandir_start(cls, bindir, a.tmp, a.svc_jobs)
                run.inst[t] = sd
                run.queries[t] = scandir_query(sd)
            elif t == "tsp":
                ts = tsp_status_start(a.tsp, a.tmp)
                run.inst["tsp-status"] = ts
                run.queries["tsp"] = tsp_query(ts)
        except Exception as e:
            run.fail(t, e)
            tools.remove(t)
            for k in STATUS_OF.get(t, ()):
                run.queries.pop(k, None)


def one_round(run, tools, r, nspawn):
    a = run.a
    n, w, q = a.jobs, a.inflight, a.queries
    order = tools[r % len(tools):] + tools[:r % len(tools)]
    for t in order:
        if t in run.failed:
            continue
        note("round %d/%d: %s" % (r + 1, a.rounds, t))
        try:
            if t == "spawnbase":
                rate = spawnbase_spawn(a.spawnbase, n, w)
            elif t == "procd":
                rate = procd_spawn(run.inst["procd"], n, w, "r%d" % r)
            elif t == "procbench":
                rate = procbench_spawn(a.procbench, a.procd, a.spawnbase)
            elif t == "supervisord":
                rate = supervisord_spawn(run.inst[t], a.svc_jobs, w)
            elif t in ("runit", "s6"):
                rate = scandir_spawn(run.inst[t], a.svc_jobs, w)
            elif t == "tsp":
                rate = tsp_spawn(a.tsp, a.tmp, n, w, "s%d" % r)
            elif t == "mp-fork":
                rate = mp_spawn("fork", n, w)
            elif t == "mp-spawn":
                rate = mp_spawn("spawn", nspawn, w)
            run.rates.setdefault(t, []).append(rate)
            if t == "spawnbase":
                run.base[r] = rate
            else:
                run.pending.setdefault(r, []).append((t, rate))
            for row in STATUS_OF.get(t, ()):
                if row in run.queries:
                    k = q if row != "supervisorctl" else max(10, q // 10)
                    run.lat.setdefault(row, []).append(
                        latency(run.queries[row], k))
        except Exception as e:
            run.fail(t, e)
    # Each round's rates over that round's spawnbase: the machine drifts
    # less within a round than across rounds.
    for t, rate in run.pending.pop(r, []):
        if r in run.base:
            run.ratios.setdefault(t, []).append(rate / run.base[r])


def memory(run, tools):
    a = run.a
    m = a.live
    for t in tools:
        if t in ("spawnbase", "procbench", "mp-spawn"):
            continue
        note("memory: %s, %d sleepers" % (t, m))
        try:
            if t == "procd":
                run.mem[t] = procd_memory(a.procd, a.tmp, m)
            elif t == "supervisord":
                run.mem[t] = supervisord_memory(a.supervisord, a.tmp, m)
            elif t == "runit":
                run.mem[t] = scandir_memory(Runit, a.runit, a.tmp, m)
            elif t == "s6":
                run.mem[t] = scandir_memory(S6, a.s6, a.tmp, m)
            elif t == "tsp":
                run.mem[t] = tsp_memory(a.tsp, a.tmp, m)
            elif t == "mp-fork":
                run.mem[t] = mp_memory(m)
        except Exception as e:
            run.fail(t + " memory", e)


def report(run, nspawn, versions, header):
    a = run.a
    n, w, m = a.jobs, a.inflight, a.live
    med = {t: statistics.median(v) for t, v in run.rates.items() if v}
    ratio = {t: statistics.median(v) for t, v in run.ratios.items() if v}
    ratio["spawnbase"] = 1.0
    lat = {k: (statistics.median(x[0] for x in v),
               statistics.median(x[1] for x in v))
           for k, v in run.lat.items() if v}

    def vs(name, pkg):
        return "%s %s" % (name, versions[pkg]) if versions.get(pkg) \
            else name

    # label, spawn key, memory key, status key
    rows = [
        ("posix_spawn (spawnbase W=%d)" % w, "spawnbase", None, None),
        ("procd (Python client, socket)", "procd", "procd", "procd"),
        ("procd: procctl status", None, None, "procctl"),
        ("procd: procbench (C client)", "procbench", None, None),
        (vs("supervisord", "supervisor") + " (XML-RPC)", "supervisord",
         "supervisord", "supervisord"),
        ("supervisord: supervisorctl status", None, None, "supervisorctl"),
        (vs("runit", "runit") + " (runsv; sv status)", "runit", "runit",
         "runit"),
        (vs("s6", "s6") + " (s6-supervise; s6-svstat)", "s6", "s6", "s6"),
        (vs("task-spooler", "task-spooler") + " (tsp -S %d)" % w, "tsp",
         "tsp", "tsp"),
        ("multiprocessing fork", "mp-fork", "mp-fork", None),
        ("multiprocessing spawn (%d jobs)" % nspawn, "mp-spawn", None,
         None),
    ]
    for line in header:
        print(line)
    print("# spawn: %d no-op jobs (supervisord, runit, s6: %d), %d in "
          "flight; memory: %d live sleepers; status: %d queries (%d of "
          "supervisorctl), one at a time, of one of %d live jobs; median of "
          "%d rotating rounds" % (n, a.svc_jobs, w, m, a.queries,
                                  max(10, a.queries // 10), LIVE, a.rounds))
    print("# spawn jobs/s in this run: %s" % ", ".join(
        "%s %s" % (t, " ".join("%.0f" % x for x in v))
        for t, v in run.rates.items() if v))
    print("# status p50 ms in this run: %s" % ", ".join(
        "%s %s" % (t, " ".join(benchutil.number(x[0]) for x in v))
        for t, v in run.lat.items() if v))
    row = "%-44s %7s %5s %8s %8s %6s %7s %7s %7s"
    print(row % ("", "spawn", "", "RSS", "RSS", "", "helper", "status",
                 "status"))
    print(row % ("tool", "jobs/s", "ratio", "empty", "live", "B/job",
                 "KiB/job", "p50 ms", "p99 ms"))
    print(row % ("----", "------", "-----", "-----", "----", "-----",
                 "-------", "------", "------"))
    for label, rk, mk, lk in rows:
        rate = med.get(rk) if rk else None
        mm = run.mem.get(mk) if mk else None
        ll = lat.get(lk) if lk else None
        if rate is None and mm is None and ll is None:
            continue
        cells = [label, "", "", "", "", "", "", "", ""]
        if rk:
            cells[1] = benchutil.number(rate)
            cells[2] = "%.2f" % ratio[rk] if rk in ratio else "-"
        if mm:
            cells[3] = "%d K" % mm["base"]
            cells[4] = "%d K" % mm["full"]
            cells[5] = "%.0f" % ((mm["full"] - mm["base"]) * 1024.0 /
                                 mm["live"])
            if mk in ("runit", "s6", "tsp"):
                cells[6] = benchutil.number(mm.get("helper_pss"))
        if ll:
            cells[7] = benchutil.number(ll[0])
            cells[8] = benchutil.number(ll[1])
        print((row % tuple(cells)).rstrip())
    # What each figure is, for the tools in the table.
    about = [
        (("spawnbase",),
         "ratio: spawn jobs/s over raw posix_spawn's in the same round, "
         "median over rounds (spawnbase: posix_spawn + waitpid of "
         "/bin/true in one thread, %d in flight, each child set up as "
         "procd sets up a job: own session, clean signals, stdio on "
         "/dev/null)" % w),
        (None,
         "RSS: VmRSS of the supervisor process, empty and with the live "
         "sleepers; B/job: its growth per live job; helper: mean Pss of "
         "the process each live job has on top (runsv, s6-supervise, the "
         "job's tsp client), not in B/job"),
        (None,
         "status: one query of a live job's state, one at a time; the "
         "rows whose client is a program (procctl, supervisorctl, sv, "
         "s6-svstat, tsp) start it for each query (Python's subprocess: "
         "fork/exec and the program's own start included)"),
        (("procd",),
         "procd: spawn = start + join + close, pipelined on one "
         "connection (procbench: the same from C, on its own procd, its "
         "folder in /tmp); memory = %d jobs started; status = `status` on "
         "a kept connection, the answer parsed by this Python client" % m),
        (("supervisord",),
         "supervisord: spawn = programs declared in its config (command "
         "/bin/true, numprocs, startsecs 0, autorestart false, logs NONE, "
         "loglevel warn, minfds 1024) started by startProcess(name, "
         "wait=False), with getProcessInfo of those in flight, in one "
         "system.multicall per round trip, a job done once seen EXITED; "
         "memory = one program of numprocs %d added at run time "
         "(reloadConfig + addProcessGroup) to the empty daemon; status = "
         "supervisor.getProcessInfo on a kept HTTP/1.1 connection; "
         "supervisorctl is a Python program" % m),
        (("runit", "s6"),
         "runit, s6: spawn = `o` (what sv once and s6-svc -o write) to "
         "the control fifo of down services whose ./run is /bin/true, "
         "their runsv / s6-supervise started before the clock, a job done "
         "once supervise/status shows it ran and is down (seen by "
         "inotify); the sv and s6-svc programs are not run; memory = "
         "runsvdir / s6-svscan with services running sleep; status = sv "
         "status / s6-svstat, which read supervise/status and do not ask "
         "runsv or s6-supervise"),
        (("tsp",),
         "task-spooler: spawn = a `tsp true` client per job, one after "
         "another (queueing a job is running a client), on a server with "
         "%d slots, until tsp -l shows all finished; status = tsp -s ID, "
         "which asks the server" % w),
        (("mp-fork", "mp-spawn"),
         "multiprocessing: spawn = start + join of Process(target=noop), "
         "a Python function in a forked interpreter (fork) or a new one "
         "(spawn), no exec; memory = the parent interpreter; no status "
         "query (is_alive() is a waitpid in the parent itself)"),
    ]
    shown = set(run.rates) | set(run.mem) | set(run.lat)
    notes = [text for keys, text in about
             if keys is None or shown.intersection(keys)]
    for t in ("supervisord", "runit", "s6", "tsp", "mp-fork"):
        mm = run.mem.get(t)
        if mm and mm["live"] != m:
            why = {"tsp": "its server takes at most 1000 connections, one "
                   "per queued or running job",
                   "runit": "runsvdir starts at most 1000 runsv"}.get(t, "")
            notes.append("%s: memory at %d live jobs, not %d: %s" % (
                t, mm["live"], m, why))
    for t, what in (("runit", "runsv"), ("s6", "s6-supervise"),
                    ("tsp", "tsp")):
        mm = run.mem.get(t)
        if mm and mm.get("helper_pss") is not None:
            notes.append("%s: %d %s processes seen with the live jobs, Pss "
                         "%.0f KiB each" % (t, mm["helpers"], what,
                                            mm["helper_pss"]))
    mm = run.mem.get("mp-fork")
    if mm and mm.get("child_pss") is not None:
        notes.append("multiprocessing: each live job is a forked Python, "
                     "Pss %.0f KiB each" % mm["child_pss"])
    for t, why in run.failed.items():
        notes.append("%s: failed (figures left out or from the rounds "
                     "before): %s" % (t, why))
    for line in notes:
        print("# " + line)


def main():
    ap = argparse.ArgumentParser(
        prog="peers.sh",
        description="procd against supervisord, runit, s6, task-spooler "
        "and Python's multiprocessing: spawn throughput, supervisor "
        "memory and status latency, with ratios to raw posix_spawn.")
    ap.add_argument("--jobs", "-n", type=int, default=2000,
                    help="no-op jobs per spawn run (default 2000)")
    ap.add_argument("--svc-jobs", type=int, default=500,
                    help="no-op jobs per spawn run of supervisord, runit "
                    "and s6, each a declared program or service folder "
                    "(default 500)")
    ap.add_argument("--inflight", "-w", type=int, default=64,
                    help="jobs in flight (default 64)")
    ap.add_argument("--rounds", "-r", type=int, default=3,
                    help="rotating rounds, median reported (default 3)")
    ap.add_argument("--live", "-m", type=int, default=1000,
                    help="live sleeping jobs for memory (default 1000)")
    ap.add_argument("--queries", "-q", type=int, default=300,
                    help="status queries per round and tool (default 300; "
                    "supervisorctl a tenth)")
    ap.add_argument("--spawn-jobs", type=int, default=None,
                    help="jobs per multiprocessing 'spawn' run "
                    "(default jobs/20, at least W; 0 skips)")
    ap.add_argument("--only", help="comma-separated tools: spawnbase, "
                    "procd, procbench, supervisord, runit, s6, tsp, "
                    "mp-fork, mp-spawn")
    ap.add_argument("--procd")
    ap.add_argument("--procctl")
    ap.add_argument("--procbench")
    ap.add_argument("--spawnbase")
    ap.add_argument("--tsp", help="tsp program; absent: skip task-spooler")
    ap.add_argument("--supervisord", help="supervisord program; absent: "
                    "skip supervisord")
    ap.add_argument("--supervisorctl")
    ap.add_argument("--runit", help="folder of runsvdir, runsv and sv; "
                    "absent: skip runit")
    ap.add_argument("--s6", help="folder of s6-svscan, s6-supervise and "
                    "s6-svstat; absent: skip s6")
    ap.add_argument("--tmp")
    a = ap.parse_args()
    if not a.procd or not a.tmp:
        ap.error("--procd and --tmp are required (run it by peers.sh)")
    benchutil.check_counts(ap, a, ["jobs", "svc_jobs", "inflight",
                                   "rounds", "live", "queries"])
    nspawn = a.spawn_jobs if a.spawn_jobs is not None else \
        max(a.jobs // 20, a.inflight)
    raise_nofile()
    # End cleanly (finally blocks run) on SIGTERM and SIGHUP too.
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda *_: sys.exit(130))

    tools = []
    if a.spawnbase:
        tools.append("spawnbase")
    tools.append("procd")
    if a.procbench and a.spawnbase:
        tools.append("procbench")
    for t, have in (("supervisord", a.supervisord), ("runit", a.runit),
                    ("s6", a.s6), ("tsp", a.tsp)):
        if have:
            tools.append(t)
    tools.append("mp-fork")
    if nspawn > 0:
        tools.append("mp-spawn")
    if a.only:
        want = set(a.only.split(","))
        tools = [t for t in tools if t in want]

    versions = {p: package_version(p) for p in
                ("supervisor", "runit", "s6", "task-spooler")}
    # Without dpkg: what the programs say, where they say it.
    for pkg, prog, opt in (("task-spooler", a.tsp, "-V"),
                           ("supervisor", a.supervisord, "--version")):
        if prog and not versions[pkg]:
            out = subprocess.run([prog, opt], stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT,
                                 check=False).stdout.decode()
            v = re.search(r"(\d+\.\d[\w.+~-]*)", out)
            versions[pkg] = v.group(1) if v else None

    t0, c0 = time.monotonic(), cpu_seconds()
    time.sleep(1)
    before = busy(t0, c0)
    load0 = loadavg()
    wall0, cpu0 = time.monotonic(), cpu_seconds()
    date = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())

    run = Run(a)
    try:
        setup(run, tools)
        for r in range(a.rounds):
            one_round(run, tools, r, nspawn)
    finally:
        run.stop_all()
    memory(run, tools)

    wall = time.monotonic() - wall0
    during = busy(wall0, cpu0)
    header = [
        "# peers: %s, %s" % (machine(), date),
        "# Python %s (%s); load average %s before, %s after; machine busy "
        "%.0f%% in the second before the run, %.0f%% during it (this run "
        "included); done in %.0f s" % (
            platform.python_version(), sys.executable, load0, loadavg(),
            before, during, wall),
        "# the peers' folders, sockets and job output files in %s (%s)" % (
            a.tmp, fs_type(a.tmp)),
    ]
    for t, pkg in (("supervisord", "supervisor"), ("runit", "runit"),
                   ("s6", "s6"), ("tsp", "task-spooler")):
        if not getattr(a, t):
            header.append("# %s: skipped, not installed (apt-get install "
                          "-y %s)" % (t, pkg))
    report(run, nspawn, versions, header)


if __name__ == "__main__":
    main()
