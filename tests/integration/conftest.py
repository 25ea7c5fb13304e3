# SPDX-License-Identifier: ISC
# Shared fixtures for the integration tests: each test gets a private procd
# on a socket in its own temporary folder, driven over the real socket.
import json
import os
import signal
import socket
import subprocess
import time

import pytest

PROCD = os.environ.get("PROCD", os.path.abspath("daemon/procd"))
PROCCTL = os.environ.get("PROCCTL", os.path.abspath("ctl/procctl"))
UNITDIR = os.environ.get("UNITDIR", os.path.abspath("units"))
NOTIFY_WORKER = os.environ.get("NOTIFY_WORKER") or os.path.abspath(
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "helpers",
                 "notify-worker"))


def _procd_sanitized():
    try:
        with open(PROCD, "rb") as f:
            return b"__asan_init" in f.read()
    except OSError:
        return False


# A sanitizer build keeps freed memory in quarantine: its RSS says nothing
# about procd's own bounds, which the plain build's run checks.
SANITIZED = _procd_sanitized()


class Conn:
    """One client connection speaking newline-delimited JSON-RPC."""

    def __init__(self, path, timeout=10.0):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self.buf = b""
        self.pending = []   # messages read but not yet asked for
        self.next_id = 1

    def close(self):
        self.sock.close()

    def send_raw(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def send(self, obj):
        self.send_raw(json.dumps(obj) + "\n")

    def read_line(self, timeout=10.0):
        """Next raw line (bytes, without the newline); None on EOF."""
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no line from procd")
            self.sock.settimeout(left)
            chunk = self.sock.recv(65536)
            if not chunk:
                return None
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line

    def recv(self, timeout=10.0):
        """Next message, decoded; None on EOF."""
        if self.pending:
            return self.pending.pop(0)
        line = self.read_line(timeout)
        return None if line is None else json.loads(line)

    def expect_nothing(self, wait=0.3):
        """Assert nothing arrives within wait seconds."""
        assert not self.pending
        self.sock.settimeout(wait)
        try:
            chunk = self.sock.recv(65536)
        except socket.timeout:
            return
        finally:
            self.sock.settimeout(10.0)
        assert chunk == b"" and not self.buf, "unexpected data: %r" % (self.buf + chunk)

    def request(self, method, params=None, id=None):
        """Send a request and return its id."""
        if id is None:
            id = self.next_id
            self.next_id += 1
        msg = {"jsonrpc": "2.0", "method": method, "id": id}
        if params is not None:
            msg["params"] = params
        self.send(msg)
        return id

    def response(self, id, timeout=10.0):
        """The response with this id; other messages are kept for later."""
        for i, m in enumerate(self.pending):
            if isinstance(m, dict) and m.get("id") == id and "method" not in m:
                return self.pending.pop(i)
        deadline = time.monotonic() + timeout
        while True:
            line = self.read_line(max(0.0, deadline - time.monotonic()))
            if line is None:
                raise EOFError("procd closed the connection")
            m = json.loads(line)
            if isinstance(m, dict) and m.get("id") == id and "method" not in m:
                return m
            self.pending.append(m)

    def call_raw(self, method, params=None, timeout=10.0):
        """Full response object of one request."""
        return self.response(self.request(method, params), timeout)

    def call(self, method, params=None, timeout=10.0):
        """Result of one request; raises RpcError on an error response."""
        r = self.call_raw(method, params, timeout)
        if "error" in r:
            raise RpcError(r["error"])
        return r["result"]


class RpcError(Exception):
    def __init__(self, err):
        super().__init__("%s: %s" % (err.get("code"), err.get("message")))
        self.code = err.get("code")
        self.message = err.get("message")
        self.data = err.get("data")


def wait_for_socket(path, proc=None, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError("procd exited with %s" % proc.returncode)
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(path)
            return
        except OSError:
            time.sleep(0.02)
        finally:
            s.close()
    raise TimeoutError("procd did not listen on %s" % path)


class Procd:
    """A private procd on a socket in a temporary folder."""

    def __init__(self, tmp_path, args=(), env=None, wait=True):
        self.dir = str(tmp_path)
        self.sock = os.path.join(self.dir, "procd.sock")
        self.env = dict(os.environ)
        self.env.pop("PROCD_SOCKET", None)
        self.env.pop("NOTIFY_SOCKET", None)
        if env:
            self.env.update(env)
        self.errpath = os.path.join(self.dir, "procd.stderr")
        self.err = open(self.errpath, "wb")
        self.proc = subprocess.Popen(
            [PROCD, "--socket", self.sock, "-v"] + list(args),
            stdin=subprocess.DEVNULL, stdout=self.err, stderr=self.err,
            env=self.env, cwd=self.dir)
        self.conns = []
        if wait:
            wait_for_socket(self.sock, self.proc)

    @property
    def pid(self):
        return self.proc.pid

    def stderr_text(self):
        if not self.err.closed:
            self.err.flush()
        with open(self.errpath, "rb") as f:
            return f.read().decode(errors="replace")

    def connect(self):
        c = Conn(self.sock)
        self.conns.append(c)
        return c

    def call(self, method, params=None, timeout=10.0):
        c = self.connect()
        try:
            return c.call(method, params, timeout)
        finally:
            c.close()
            self.conns.remove(c)

    def ctl(self, *args, timeout=30, input=None, env=None, cwd=None):
        """Run procctl against this daemon; returns CompletedProcess (text)."""
        e = dict(self.env)
        if env:
            e.update(env)
        return subprocess.run([PROCCTL, "--socket", self.sock] + [str(a) for a in args],
                              capture_output=True, text=True, timeout=timeout,
                              input=input, env=e, cwd=cwd or self.dir)

    def alive(self):
        return self.proc.poll() is None

    def stop(self, timeout=30):
        """Clean stop with SIGTERM; returns procd's exit status."""
        for c in self.conns:
            try:
                c.close()
            except OSError:
                pass
        self.conns = []
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise
        self.err.close()
        return self.proc.returncode


@pytest.fixture
def procd(tmp_path):
    d = Procd(tmp_path)
    yield d
    alive = d.alive()
    rc = d.stop()
    assert alive, "procd died during the test:\n" + d.stderr_text()
    assert rc == 0, "procd exited %s:\n%s" % (rc, d.stderr_text())
    # Sanitizer builds report to stderr; any report fails the test.
    text = d.stderr_text()
    assert "ERROR: AddressSanitizer" not in text, text
    assert "runtime error:" not in text, text
    assert "ERROR: LeakSanitizer" not in text, text


@pytest.fixture
def procd_factory(tmp_path):
    """Start procds with extra options: procd_factory(args=[...])."""
    made = []

    def make(args=(), env=None, wait=True, sub=None):
        p = tmp_path / (sub or "d%d" % len(made))
        p.mkdir(exist_ok=True)
        d = Procd(p, args, env, wait)
        made.append(d)
        return d
    yield make
    for d in made:
        if d.alive():
            d.stop()


@pytest.fixture
def conn(procd):
    return procd.connect()


def wait_until(pred, timeout=10.0, interval=0.02):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(interval)
    raise TimeoutError("condition not met")


def pid_alive(pid):
    """True while pid exists and is not a zombie.  A process reaped between
    the open and the read of its stat file makes the read fail with ESRCH
    (ProcessLookupError), so both errors mean gone."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


# --- lifecycle helpers (test_start, test_methods, test_rule, test_hygiene,
# test_shutdown, test_procctl); every name here starts with lc_ ---
import re as _lc_re
import sys as _lc_sys

LC_PY = _lc_sys.executable or "/usr/bin/python3"
LC_STATES = ("running", "stopping", "restarting", "waiting", "exited")
LC_TIME_RE = _lc_re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
LC_JOB_FIELDS = ("id", "name", "argv", "cwd", "pid", "ppid", "parent",
                 "children", "daemon", "state", "exitcode", "uid", "gid",
                 "user", "started_at", "exited_at", "usage", "restart",
                 "restarts", "restart_at", "error", "ready", "status_text",
                 "kill_mode")


def lc_err(conn, method, params=None, timeout=10.0):
    """The error object of a request that must fail."""
    r = conn.call_raw(method, params, timeout)
    assert "error" in r, "%s %r succeeded: %r" % (method, params, r.get("result"))
    assert "result" not in r, r
    assert isinstance(r["error"].get("message"), str) and r["error"]["message"], r
    return r["error"]


def lc_start(conn, argv, **params):
    params["argv"] = list(argv)
    return conn.call("start", params)


def lc_join(conn, job, timeout=None, rpc_timeout=30.0):
    p = {"job": job}
    if timeout is not None:
        p["timeout"] = timeout
    return conn.call("join", p, timeout=rpc_timeout)


def lc_status(conn, job):
    return conn.call("status", {"job": job})


def lc_wait_job(conn, job, pred, what, timeout=10.0):
    """Poll status until pred(job object); returns it. what names the
    awaited change for the failure message."""
    box = {}

    def ok():
        box["j"] = lc_status(conn, job)
        return pred(box["j"])
    try:
        wait_until(ok, timeout)
    except TimeoutError:
        raise AssertionError("job %r: never %s: %r" % (job, what, box.get("j")))
    return box["j"]


def lc_wait_state(conn, job, state, timeout=10.0):
    """Wait until the job is in state; returns the job object."""
    states = (state,) if isinstance(state, str) else tuple(state)
    return lc_wait_job(conn, job, lambda j: j["state"] in states,
                       "reached %r" % (states,), timeout)


def lc_notify_argv(*args):
    """argv of the sd_notify worker (tests/helpers/notify-worker)."""
    assert os.access(NOTIFY_WORKER, os.X_OK), \
        "the notify worker %s is not built (set NOTIFY_WORKER)" % NOTIFY_WORKER
    return [NOTIFY_WORKER] + [str(a) for a in args]


class LcProcs:
    """Processes a test noted, with their start times, so that survivors
    can be killed afterwards without hitting a reused pid."""

    def __init__(self):
        self.seen = {}

    def add(self, pid):
        self.seen[pid] = proc_start_time(pid)
        return pid

    def lives(self, pid):
        return pid_alive(pid) and proc_start_time(pid) == self.seen.get(pid)

    def alive(self):
        return [p for p in self.seen if self.lives(p)]

    def kill_survivors(self):
        for p in self.alive():
            try:
                os.kill(p, signal.SIGKILL)
            except OSError:
                pass


def lc_term_ignoring_argv(ready):
    """A worker that ignores SIGTERM (and whose exec'd sleep inherits
    that), creating the file ready once it does."""
    return ["sh", "-c", 'trap "" TERM; : > "$1"; exec sleep 60', "sh", str(ready)]


def lc_start_term_ignoring(conn, ready, stop_timeout=0.5, **params):
    """Start a TERM-ignoring worker and wait until it ignores TERM."""
    j = lc_start(conn, lc_term_ignoring_argv(ready), stop_timeout=stop_timeout, **params)
    wait_until(lambda: os.path.exists(str(ready)), 10.0)
    return j


def lc_write_script(path, text, mode=0o755):
    path = str(path)
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)
    return path


def lc_proc_stat(pid):
    """state, ppid, pgrp, session of pid; None when it is gone."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            s = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    f = s.rsplit(")", 1)[1].split()
    return {"state": f[0], "ppid": int(f[1]), "pgrp": int(f[2]), "session": int(f[3])}


def lc_all_pids():
    return [int(d) for d in os.listdir("/proc") if d.isdigit()]


def lc_group_pids(pgid, live_only=True):
    """Processes whose process group is pgid (zombies left out by default)."""
    out = []
    for pid in lc_all_pids():
        st = lc_proc_stat(pid)
        if st and st["pgrp"] == pgid and not (live_only and st["state"] == "Z"):
            out.append(pid)
    return out


def lc_zombies_of(ppid):
    out = []
    for pid in lc_all_pids():
        st = lc_proc_stat(pid)
        if st and st["ppid"] == ppid and st["state"] == "Z":
            out.append(pid)
    return out


def lc_proc_status(pid):
    """/proc/PID/status as a dict of strings."""
    d = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            d[k] = v.strip()
    return d


def lc_proc_environ(pid):
    # start answers once the worker's exec has replaced its memory, but the
    # kernel fills in the new environment a moment later: until then
    # /proc/PID/environ reads empty.
    deadline = time.monotonic() + 5.0
    while True:
        with open("/proc/%d/environ" % pid, "rb") as f:
            raw = f.read()
        if raw or time.monotonic() > deadline:
            break
        time.sleep(0.01)
    env = {}
    for item in raw.split(b"\0"):
        if item:
            k, _, v = item.partition(b"=")
            env[k.decode(errors="replace")] = v.decode(errors="replace")
    return env


def lc_kill_quietly(pids):
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass



def lc_check_job(j, procd_pid=None):
    """Every field of the job object table, with its type."""
    assert isinstance(j, dict), j
    missing = [k for k in LC_JOB_FIELDS if k not in j]
    assert not missing, "job object lacks %s: %r" % (missing, j)
    assert type(j["id"]) is int and j["id"] >= 1, j
    assert isinstance(j["name"], str) and j["name"], j
    assert isinstance(j["argv"], list) and j["argv"], j
    assert all(isinstance(a, str) for a in j["argv"]), j
    assert isinstance(j["cwd"], str) and j["cwd"].startswith("/"), j
    assert type(j["pid"]) is int and j["pid"] > 0, j
    assert type(j["ppid"]) is int and j["ppid"] > 0, j
    if procd_pid is not None:
        assert j["ppid"] == procd_pid, j
    assert j["parent"] is None or type(j["parent"]) is int, j
    assert isinstance(j["children"], list), j
    assert all(type(c) is int for c in j["children"]), j
    assert type(j["daemon"]) is bool, j
    assert j["state"] in LC_STATES, j
    assert j["exitcode"] is None or type(j["exitcode"]) is int, j
    assert type(j["uid"]) is int, j
    assert isinstance(j["started_at"], str) and LC_TIME_RE.match(j["started_at"]), j
    assert j["restart"] in ("no", "on-failure", "always"), j
    assert type(j["restarts"]) is int and j["restarts"] >= 0, j
    if j["state"] == "restarting":
        assert isinstance(j["restart_at"], str) and LC_TIME_RE.match(j["restart_at"]), j
    else:
        assert j["restart_at"] is None, j
    assert j["error"] is None or isinstance(j["error"], str), j
    assert j["ready"] is None or type(j["ready"]) is bool, j
    assert j["status_text"] is None or isinstance(j["status_text"], str), j
    assert j["kill_mode"] in ("group", "tree"), j
    # A tree job stops what its process left: stopping, exitcode set.
    if j["state"] == "running" or (j["state"] == "stopping" and
                                   j["exitcode"] is None):
        assert j["exitcode"] is None, j
        assert j["exited_at"] is None, j
        assert j["usage"] is None, j
    else:
        assert j["exitcode"] is not None, j
        assert -64 <= j["exitcode"] <= 255, j
        assert isinstance(j["exited_at"], str) and LC_TIME_RE.match(j["exited_at"]), j
        assert j["exited_at"] >= j["started_at"], j
        u = j["usage"]
        assert isinstance(u, dict), j
        for k in ("user", "system"):
            assert type(u.get(k)) in (int, float) and u[k] >= 0, j
        assert type(u.get("maxrss")) is int and u["maxrss"] >= 0, j
    return j


# --- server/transport helpers (test_jsonrpc, test_framing, test_badinput,
# test_server_limits, test_socket, test_systemd); every name starts with srv_ ---
SRV_SCRUB = ("PROCD_SOCKET", "NOTIFY_SOCKET", "LISTEN_PID", "LISTEN_FDS",
             "LISTEN_FDNAMES", "WATCHDOG_USEC", "WATCHDOG_PID")


def srv_check(m, id=None, code=None):
    """Assert m is a well-formed JSON-RPC 2.0 response with this id; with
    code, an error with that code, else a success. Returns m."""
    assert isinstance(m, dict), "not a response object: %r" % (m,)
    assert m.get("jsonrpc") == "2.0", m
    assert "id" in m and m["id"] == id and type(m["id"]) is type(id), \
        "id %r, expected %r: %r" % (m.get("id"), id, m)
    if code is None:
        assert set(m) == {"jsonrpc", "id", "result"}, m
    else:
        assert set(m) == {"jsonrpc", "id", "error"}, m
        e = m["error"]
        assert isinstance(e, dict) and set(e) <= {"code", "message", "data"}, m
        assert e.get("code") == code, "code %r, expected %r: %r" % (e.get("code"), code, m)
        assert isinstance(e.get("message"), str) and e["message"], m
    return m


def srv_expect_eof(conn, timeout=10.0):
    """Assert procd closes conn (EOF or reset) without another message."""
    try:
        line = conn.read_line(timeout)
    except (ConnectionResetError, BrokenPipeError):
        return
    except TimeoutError:
        raise AssertionError("procd did not close the connection within %g s" % timeout)
    assert line is None, "expected the connection closed, got %r" % (line,)


class SrvProc:
    """procd (or a wrapper that execs it) started by hand: any command line,
    environment or credentials; stdout and stderr go to a file."""

    def __init__(self, dirpath, argv, env=None, **popen_kw):
        self.dir = str(dirpath)
        os.makedirs(self.dir, exist_ok=True)
        e = dict(os.environ)
        for k in SRV_SCRUB:
            e.pop(k, None)
        if env:
            e.update(env)
        self.env = e
        self.errpath = os.path.join(self.dir, "procd-%d.stderr" % time.monotonic_ns())
        self.err = open(self.errpath, "wb")
        self.proc = subprocess.Popen([str(a) for a in argv], stdin=subprocess.DEVNULL,
                                     stdout=self.err, stderr=self.err, env=e,
                                     cwd=self.dir, **popen_kw)

    @property
    def pid(self):
        return self.proc.pid

    def stderr_text(self):
        if not self.err.closed:
            self.err.flush()
        with open(self.errpath, "rb") as f:
            return f.read().decode(errors="replace")

    def alive(self):
        return self.proc.poll() is None

    def wait(self, timeout=10.0):
        return self.proc.wait(timeout)

    def stop(self, timeout=30):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise
        return self.proc.returncode


@pytest.fixture
def srv_spawn():
    """srv_spawn(dir, argv, env=None, **popen_kw) -> SrvProc; killed at the end."""
    made = []

    def spawn(dirpath, argv, env=None, **kw):
        p = SrvProc(dirpath, argv, env, **kw)
        made.append(p)
        return p
    yield spawn
    for p in made:
        try:
            p.stop(timeout=15)
        except subprocess.TimeoutExpired:
            pass
        p.err.close()




# --- output and event helpers (test_logs, test_events, test_run); every
# name here starts with lg_ ---
import base64 as _lg_base64


def lg_records(conn, job, **params):
    """Result of a logs request without follow."""
    params["job"] = job
    r = conn.call("logs", params)
    assert set(r) == {"records", "truncated"}, r
    assert type(r["truncated"]) is bool, r
    for rec in r["records"]:
        assert set(rec) == {"stream", "data"}, rec
        assert rec["stream"] in ("stdout", "stderr"), rec
        assert isinstance(rec["data"], str), rec
    return r


def lg_bytes(records, stream=None):
    """The bytes of base64 records (of one stream, or all), concatenated."""
    return b"".join(_lg_base64.b64decode(r["data"], validate=True)
                    for r in records if stream is None or r["stream"] == stream)


def lg_text(records, stream=None):
    return "".join(r["data"] for r in records
                   if stream is None or r["stream"] == stream)


def lg_merge(records, decode=None):
    """[(stream, data)] with neighbouring records of one stream joined;
    decode (e.g. base64) is applied to each data first."""
    out = []
    for r in records:
        d = decode(r["data"]) if decode else r["data"]
        if out and out[-1][0] == r["stream"]:
            out[-1] = (r["stream"], out[-1][1] + d)
        else:
            out.append((r["stream"], d))
    return [x for x in out if x[1]]


def lg_b64(s):
    return _lg_base64.b64decode(s, validate=True)


def lg_check_log_note(m, req_id, job_id):
    """Assert m is a log notification of request req_id; returns params."""
    assert isinstance(m, dict), m
    assert set(m) == {"jsonrpc", "method", "params"}, m
    assert m["jsonrpc"] == "2.0" and m["method"] == "log", m
    p = m["params"]
    assert set(p) == {"request", "job", "stream", "data"}, m
    assert p["request"] == req_id and type(p["request"]) is type(req_id), m
    assert p["job"] == job_id and type(p["job"]) is int, m
    assert p["stream"] in ("stdout", "stderr"), m
    assert isinstance(p["data"], str), m
    return p


def lg_follow_collect(conn, req_id, job_id, timeout=30.0):
    """Read log notifications of req_id until its response; returns
    (list of notification params, response). Other messages are kept in
    conn.pending."""
    notes = []
    deadline = time.monotonic() + timeout
    keep = []
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("no response to the follow")
        if conn.pending:
            m = conn.pending.pop(0)
        else:
            line = conn.read_line(left)
            if line is None:
                raise EOFError("procd closed the connection")
            m = json.loads(line)
        if isinstance(m, dict) and m.get("method") == "log" and \
                isinstance(m.get("params"), dict) and m["params"].get("request") == req_id:
            notes.append(lg_check_log_note(m, req_id, job_id))
        elif isinstance(m, dict) and "method" not in m and m.get("id") == req_id:
            conn.pending = keep + conn.pending
            return notes, m
        else:
            keep.append(m)


def lg_vm(pid, key="VmHWM"):
    """A /proc/PID/status memory figure in KiB."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise KeyError(key)


def lg_subscribe(conn, **params):
    """Subscribe; checks that the response comes before any event."""
    rid = conn.request("subscribe", params or None)
    m = conn.recv()
    assert isinstance(m, dict) and m.get("id") == rid and "method" not in m, \
        "the subscribe response must come first: %r" % (m,)
    assert "result" in m, m
    r = m["result"]
    assert set(r) == {"subscription", "seq"}, r
    assert type(r["subscription"]) is int and type(r["seq"]) is int, r
    return r


def lg_check_event(m, sub=None):
    """Assert m is an event notification; returns its params."""
    assert isinstance(m, dict), m
    assert set(m) == {"jsonrpc", "method", "params"}, m
    assert m["jsonrpc"] == "2.0" and m["method"] == "event", m
    p = m["params"]
    assert type(p.get("seq")) is int and p["seq"] >= 1, m
    assert type(p.get("subscription")) is int, m
    if sub is not None:
        assert p["subscription"] == sub, m
    if p.get("event") == "gap":
        assert set(p) == {"subscription", "seq", "event", "job", "from", "to"}, m
        assert p["job"] is None, m
    else:
        assert set(p) == {"subscription", "seq", "event", "job"}, m
        assert p["event"] in ("started", "stopping", "waiting", "exited", "closed"), m
        assert isinstance(p["job"], dict), m
    return p


def lg_next_event(conn, sub=None, timeout=10.0):
    """The next event notification on conn (skipping nothing else: any
    other message is an error)."""
    m = conn.recv(timeout)
    assert m is not None, "connection closed while waiting for an event"
    return lg_check_event(m, sub)


def lg_events_until(conn, pred, sub=None, timeout=15.0, check=lg_check_event):
    """Event params read until pred(params) is true (inclusive); each
    message must pass check(message, sub), which returns its params
    (version 1's events by default)."""
    out = []
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("event not seen; got %r" %
                               [(e["seq"], e["event"], e["job"] and e["job"]["id"]) for e in out])
        m = conn.recv(left)
        assert m is not None, "connection closed while waiting for an event"
        e = check(m, sub)
        out.append(e)
        if pred(e):
            return out


# --- throwaway users (test_squat and the multi-user tests): real accounts
# made with useradd for one test session and removed at its end. Every
# name here starts with usr_, plus the fixtures users and usr_tmpdir and
# the helpers make_user, as_user, run_as_user. pytest's own tmp_path is a
# 0700 folder of root's: use usr_tmpdir for anything such a user must
# reach. ---
import atexit as _usr_atexit
import grp as _usr_grp
import pwd as _usr_pwd
import re as _usr_re
import shutil as _usr_shutil
import tempfile as _usr_tempfile

# an interpreter every uid can run (pyenv's, under /root, is not)
USR_PY = "/usr/bin/python3" if os.access("/usr/bin/python3", os.X_OK) else LC_PY
USR_PREFIX = "procdt"
USR_NAME_RE = _usr_re.compile(r"^procdt(\d+)[a-z][a-z0-9]*$")
USR_SETPRIV = _usr_shutil.which("setpriv") or (
    "/usr/bin/setpriv" if os.access("/usr/bin/setpriv", os.X_OK) else None)

_usr_made = {}          # name -> UsrUser, made by this process
_usr_atexit_set = []


class UsrUser:
    """A user account: name, uid, gid (its own primary group, of the same
    name), groups (every gid it has, as initgroups gives them), home."""

    def __init__(self, name):
        pw = _usr_pwd.getpwnam(name)
        self.name = name
        self.uid = pw.pw_uid
        self.gid = pw.pw_gid
        self.home = pw.pw_dir
        self.group = _usr_grp.getgrgid(pw.pw_gid).gr_name
        self.groups = sorted(set(os.getgrouplist(name, pw.pw_gid)))

    def __repr__(self):
        return "UsrUser(%s uid=%d gid=%d)" % (self.name, self.uid, self.gid)

    def popen_kw(self):
        """Credentials for subprocess.Popen/run (and srv_spawn): uid, gid
        and supplementary groups of this user."""
        return {"user": self.uid, "group": self.gid, "extra_groups": list(self.groups)}

    def env(self, base=None, **extra):
        """An environment for this user: base (default os.environ) without
        the socket and systemd variables nor XDG_RUNTIME_DIR, with HOME,
        USER, LOGNAME and SHELL of the account; extra sets (None removes)."""
        e = dict(os.environ if base is None else base)
        for k in SRV_SCRUB + ("XDG_RUNTIME_DIR",):
            e.pop(k, None)
        e.update(HOME=self.home, USER=self.name, LOGNAME=self.name, SHELL="/bin/sh")
        for k, v in extra.items():
            if v is None:
                e.pop(k, None)
            else:
                e[k] = str(v)
        return e


def usr_require_root():
    if os.geteuid() != 0:
        pytest.skip("needs root to create users and switch to them")


def _usr_quiet(argv):
    try:
        subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=30)
    except (OSError, subprocess.SubprocessError):
        pass


def _usr_delete(name):
    _usr_quiet(["userdel", name])
    _usr_quiet(["groupdel", name])     # userdel may leave the user group


def usr_remove_all():
    """Remove every user this process made (idempotent; errors ignored)."""
    for name in list(_usr_made):
        _usr_delete(name)
        del _usr_made[name]


def usr_remove_stale():
    """Remove leftovers of earlier runs that died before their clean-up:
    accounts procdt<PID><tag> whose PID is not running."""
    for pw in _usr_pwd.getpwall():
        m = USR_NAME_RE.match(pw.pw_name)
        if m and int(m.group(1)) != os.getpid() and not os.path.exists("/proc/" + m.group(1)):
            _usr_delete(pw.pw_name)


def make_user(tag="a"):
    """A throwaway user procdt<pid><tag> (tag: a lowercase letter, then
    letters or digits), created with useradd --no-create-home --shell
    /bin/sh --user-group; the same tag gives the same user for the whole
    session. Skips when not root or when useradd fails."""
    usr_require_root()
    if not _usr_re.match(r"^[a-z][a-z0-9]{0,8}$", tag):
        raise ValueError("bad user tag %r" % tag)
    name = "%s%d%s" % (USR_PREFIX, os.getpid(), tag)
    if name in _usr_made:
        return _usr_made[name]
    if not _usr_atexit_set:
        _usr_atexit.register(usr_remove_all)
        _usr_atexit_set.append(True)
    try:
        _usr_pwd.getpwnam(name)
        _usr_delete(name)               # left by an earlier run with our pid
    except KeyError:
        pass
    r = subprocess.run(["useradd", "--no-create-home", "--shell", "/bin/sh",
                        "--user-group", name],
                       capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    if r.returncode != 0:
        _usr_delete(name)
        pytest.skip("useradd %s failed (%d): %s" % (name, r.returncode, r.stderr.strip()))
    u = UsrUser(name)
    _usr_made[name] = u
    return u


@pytest.fixture(scope="session")
def users():
    """users(tag="a") -> UsrUser: a throwaway user, the same one for the
    same tag during the session; all removed (with their groups) at the
    session's end. Skips the test when not root."""
    usr_require_root()
    usr_remove_stale()
    yield make_user
    usr_remove_all()


def usr_argv(user, argv):
    """argv run as user (uid, gid, initgroups) through setpriv."""
    if USR_SETPRIV is None:
        pytest.skip("setpriv (util-linux) is not installed")
    return [USR_SETPRIV, "--reuid", str(user.uid), "--regid", str(user.gid),
            "--init-groups", "--"] + [str(a) for a in argv]


def as_user(user, argv, **popen_kw):
    """subprocess.Popen of argv as user (its uid, gid and groups, set in the
    child before exec). cwd defaults to / (the caller's folder may be
    closed to that user); env to user.env()."""
    kw = dict(user.popen_kw())
    kw.setdefault("cwd", "/")
    kw.setdefault("env", user.env())
    kw.update(popen_kw)
    return subprocess.Popen([str(a) for a in argv], **kw)


def run_as_user(user, argv, timeout=30, **run_kw):
    """subprocess.run of argv as user; text output captured unless told
    otherwise. Returns the CompletedProcess."""
    kw = dict(user.popen_kw())
    kw.setdefault("cwd", "/")
    kw.setdefault("env", user.env())
    kw.setdefault("stdin", subprocess.DEVNULL)
    if "stdout" not in run_kw and "stderr" not in run_kw:
        kw["capture_output"] = True
    kw.setdefault("text", True)
    kw.update(run_kw)
    return subprocess.run([str(a) for a in argv], timeout=timeout, **kw)


@pytest.fixture
def usr_tmpdir():
    """usr_tmpdir(owner=None, mode=0o700, group=None) -> path of a new
    folder under /tmp (reachable by other uids, unlike tmp_path), owned by
    owner (a UsrUser, a uid, or None for the caller) and group (default the
    owner's primary group), with exactly that mode; removed with
    everything in it at the end of the test."""
    made = []

    def make(owner=None, mode=0o700, group=None, prefix="procd-usr-"):
        d = _usr_tempfile.mkdtemp(prefix=prefix, dir="/tmp")
        made.append(d)
        if owner is not None:
            uid = owner.uid if isinstance(owner, UsrUser) else int(owner)
            if group is None:
                gid = owner.gid if isinstance(owner, UsrUser) else -1
            else:
                gid = group.gid if isinstance(group, UsrUser) else int(group)
            os.chown(d, uid, gid)
        os.chmod(d, mode)
        return d
    yield make
    for d in made:
        _usr_shutil.rmtree(d, ignore_errors=True)


def proc_start_time(pid):
    """The kernel's start time of pid (to tell it from a reused pid), or None."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return int(f.read().rsplit(")", 1)[1].split()[19])
    except (FileNotFoundError, ProcessLookupError):
        return None


# --- cgroups: a procd killed by a test leaves its empty subtree behind ---
def _cg_mount():
    """The cgroup2 mount point, or None."""
    try:
        with open("/proc/self/mountinfo") as f:
            for line in f:
                left, _, right = line.partition(" - ")
                if right.split()[:1] == ["cgroup2"]:
                    return left.split()[4]
    except OSError:
        pass
    return None


def _cg_subtrees(mount):
    try:
        return {e for e in os.listdir(mount) if e.startswith("procd-")}
    except OSError:
        return set()


def _cg_unlocked(path):
    """Whether no live procd holds path's lock (procd flocks its subtree
    as long as it runs)."""
    import fcntl
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


@pytest.fixture(scope="session", autouse=True)
def cg_remove_test_subtrees():
    """Removes the procd-HASH cgroup folders this session's procds made
    and left empty (a killed procd cannot remove its own), never one a
    live procd holds."""
    mount = _cg_mount()
    before = _cg_subtrees(mount) if mount else set()
    yield
    if not mount:
        return
    for name in _cg_subtrees(mount) - before:
        top = os.path.join(mount, name)
        if not _cg_unlocked(top):
            continue
        for sub, dirs, _ in os.walk(top, topdown=False):
            try:
                os.rmdir(sub)
            except OSError:
                pass


# --- a process's stdout read line by line by a thread (procctl events,
# run, logs -f under test) ---
import threading as _ln_threading


class Lines:
    """The lines of a process's stdout, read by a thread."""

    def __init__(self, p):
        self.p = p
        self.lines = []
        self.pos = 0
        self.eof = False
        self.cv = _ln_threading.Condition()
        _ln_threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        for line in iter(self.p.stdout.readline, b""):
            with self.cv:
                self.lines.append(line)
                self.cv.notify_all()
        with self.cv:
            self.eof = True
            self.cv.notify_all()

    def wait(self, pred, timeout=20):
        """The first unread line for which pred is true (those before it
        are consumed too); None at the deadline or end of file."""
        deadline = time.monotonic() + timeout
        with self.cv:
            while True:
                while self.pos < len(self.lines):
                    line = self.lines[self.pos]
                    self.pos += 1
                    if pred(line):
                        return line
                left = deadline - time.monotonic()
                if self.eof or left <= 0:
                    return None
                self.cv.wait(left)

    def upto(self, pred, timeout=15):
        """The unread lines up to the first for which pred is true
        (consumed); that line must come."""
        start = self.pos
        if self.wait(pred, timeout) is None:
            raise AssertionError("line not seen; got %r" % self.lines[start:])
        return self.lines[start:self.pos]

    def next(self, timeout=20):
        line = self.wait(lambda l: True, timeout)
        assert line is not None, "no line came (end of file: %s)" % self.eof
        return line

    def rest(self, timeout=20):
        """The unread lines once the end of file has come."""
        deadline = time.monotonic() + timeout
        with self.cv:
            while not self.eof:
                left = deadline - time.monotonic()
                assert left > 0, "no end of file came"
                self.cv.wait(left)
            out, self.pos = self.lines[self.pos:], len(self.lines)
            return out


def lines_wait_events_shown(conn, lines, tag="probe"):
    """Starts probe jobs on conn until the procctl events reading into
    lines shows one: it is subscribed. Returns the lines up to it."""
    for i in range(60):
        name = "%s%d" % (tag, i)
        conn.call("start", {"argv": ["true"], "name": name})
        start = lines.pos
        if lines.wait(lambda l: name.encode() in l, timeout=0.5) is not None:
            return lines.lines[start:lines.pos]
        assert not lines.eof, "procctl events ended"
    raise AssertionError("procctl events showed none of the probe jobs")
