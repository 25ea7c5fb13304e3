# SPDX-License-Identifier: ISC
# Upgrading procd without losing anything: reexec (procd-protocol(7)
# section 9, with sections 10-15 for what must carry over). The result and
# info's new fields; who may call it (-32004) and when not (-32008); the
# check of the new program (--handoff-formats) and its refusals (-32603,
# procd unchanged); an upgrade to another build (PROCD_NEXT); and, one test
# per item, everything that carries over: jobs in every state with every
# field, stop deadlines, restart schedules, readiness, cgroups, retained
# output, job ids, events and subscriptions, pending joins, follows, half
# read request lines, connections made during the switch, pipelined
# requests, workers that exit during the switch, answers not yet written,
# batches, nothing signalled, no fd leaked; a SIGTERM during the switch; and
# a soak of many reexecs under load from other clients.
#
# Tests that need to replace the program file start procd from a copy of
# it in the test's folder (copied); the file is swapped with os.replace,
# as a package upgrade does (writing onto a running binary is ETXTBSY).
import base64
import collections
import datetime
import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time

import pytest

from conftest import (LC_PY, PROCD, SANITIZED, USR_PY, Conn, LcProcs, lc_err, lc_join,
                      lc_notify_argv, lc_proc_status, lc_start, lc_start_term_ignoring,
                      lc_status, lc_wait_job, lc_wait_state, lc_write_script,
                      lc_zombies_of, lg_events_until, lg_follow_collect, lg_subscribe,
                      pid_alive,
                      proc_start_time, run_as_user, wait_for_socket, wait_until)
from test_cgroup import cgroup2_mount, proc_cgroup
from test_systemd import worker_fds

PROCD_NEXT = os.environ.get("PROCD_NEXT") or os.path.abspath(
    os.path.join(os.path.dirname(PROCD), "..", "tests", "helpers", "procd-next"))
FORMAT = "procd-handoff-2"      # the one procd writes
OLD_FORMAT = "procd-handoff-1"  # read, no longer written
SLEEP = ["sleep", "1000"]
EVENTS = ("started", "stopping", "restarting", "waiting", "exited", "closed", "ready")
DENIED, INTERNAL, STOPPING, NOT_FOUND, INVALID_PARAMS = -32004, -32603, -32008, -32001, -32602
RX_TIMEOUT = 60.0       # for one reexec's answer: generous, never a speed check


# --- helpers ---

def ts(s):
    """An RFC 3339 time of procd's (UTC, milliseconds) as a POSIX time."""
    return datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=datetime.timezone.utc).timestamp()


def check_result(r, pid, version=None, previous=None):
    """Assert r is a reexec result of procd pid; returns it."""
    assert isinstance(r, dict) and set(r) == {"version", "previous_version", "pid"}, \
        "reexec result: %r" % (r,)
    assert isinstance(r["version"], str) and r["version"], r
    assert isinstance(r["previous_version"], str) and r["previous_version"], r
    assert type(r["pid"]) is int and r["pid"] == pid, "pid %r, procd is %d" % (r, pid)
    if version is not None:
        assert r["version"] == version, r
    if previous is not None:
        assert r["previous_version"] == previous, r
    return r


def reexec(c, pid, timeout=RX_TIMEOUT):
    """reexec on connection c of procd pid; returns the checked result."""
    r = c.call_raw("reexec", timeout=timeout)
    assert "error" not in r, "reexec failed: %r" % (r,)
    return check_result(r["result"], pid)


def info_core(info):
    """info without what a reexec may change."""
    return {k: v for k, v in info.items() if k not in ("image_started_at", "reexecs")}


def job_diff(a, b):
    keys = sorted(set(a) | set(b))
    return {k: (a.get(k, "<absent>"), b.get(k, "<absent>")) for k in keys
            if a.get(k, "<absent>") != b.get(k, "<absent>")}


def assert_same_jobs(before, after, what="across the reexec"):
    """Two lists (or dicts by id) of job objects are equal, field by field."""
    if isinstance(before, list):
        before = {j["id"]: j for j in before}
        after = {j["id"]: j for j in after}
    assert sorted(before) == sorted(after), "job ids changed %s: %r -> %r" % (
        what, sorted(before), sorted(after))
    diffs = {i: job_diff(before[i], after[i]) for i in before if before[i] != after[i]}
    assert not diffs, "job fields changed %s (before, after): %r" % (what, diffs)


def snapshot(c):
    """Everything a client can see of the jobs: list, each status, info."""
    jobs = c.call("list")
    return {"list": jobs, "status": {j["id"]: lc_status(c, j["id"]) for j in jobs},
            "info": c.call("info")}


def assert_same_world(before, after):
    assert_same_jobs(before["list"], after["list"], "in list across the reexec")
    assert_same_jobs(before["status"], after["status"], "in status across the reexec")
    assert info_core(before["info"]) == info_core(after["info"]), (before["info"], after["info"])


def touch(path):
    with open(str(path), "w"):
        pass


def wait_file_argv(path, code=0, before_exit=""):
    """A worker that exits with code once the file path exists."""
    return ["sh", "-c", 'while [ ! -e "$1" ]; do sleep 0.01; done; %s exit %d'
            % (before_exit, code), "sh", str(path)]


def replace_file(path, src=None, text=None, mode=0o755):
    """Put a new file at path with rename (as an upgrade does): a copy of
    src, or text."""
    tmp = path + ".new"
    if src is not None:
        shutil.copyfile(src, tmp)
    else:
        with open(tmp, "w") as f:
            f.write(text)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def fd_kinds(pid):
    """procd's open fds as a Counter of kinds: socket, pipe, anon_inode:[x],
    or the path; read until two readings agree (a look at /proc is not
    atomic)."""
    def once():
        out = collections.Counter()
        d = "/proc/%d/fd" % pid
        for fd in os.listdir(d):
            try:
                t = os.readlink(os.path.join(d, fd))
            except FileNotFoundError:
                continue
            if t.startswith("socket:"):
                t = "socket"
            elif t.startswith("pipe:"):
                t = "pipe"
            out[t] += 1
        return out
    prev = once()
    for _ in range(50):
        time.sleep(0.05)
        cur = once()
        if cur == prev:
            return cur
        prev = cur
    return prev


def sig_state(pid):
    st = lc_proc_status(pid)
    return {k: st[k] for k in ("SigBlk", "SigIgn", "SigCgt")}




def read_env_file(path):
    env = {}
    with open(path) as f:
        for line in f:
            k, sep, v = line.rstrip("\n").partition("=")
            if sep:
                env[k] = v
    return env


def finish(p):
    """End of a procd started by hand: it must be alive, stop cleanly and
    have reported no sanitizer error."""
    alive = p.alive()
    rc = p.stop()
    text = p.stderr_text()
    assert alive, "procd died during the test:\n" + text
    assert rc == 0, "procd exited %s:\n%s" % (rc, text)
    for bad in ("ERROR: AddressSanitizer", "runtime error:", "ERROR: LeakSanitizer"):
        assert bad not in text, text


@pytest.fixture
def copied(tmp_path, srv_spawn):
    """copied(sub="c", src=PROCD, args=(), env=None, relative=False) -> a
    procd (SrvProc with .sock, .exe and .connect()) started from its own
    copy of src at .exe; relative: started as ./procd from that folder."""
    made = []

    def make(sub="c", src=PROCD, args=(), env=None, relative=False):
        folder = tmp_path / sub
        folder.mkdir()
        exe = str(folder / "procd")
        shutil.copyfile(src, exe)
        os.chmod(exe, 0o755)
        sock = str(folder / "procd.sock")
        argv = ["./procd" if relative else exe, "--socket", sock, "-v"] + list(args)
        p = srv_spawn(folder, argv, env=env)
        wait_for_socket(sock, p.proc, 30)
        p.sock, p.exe, p.conns = sock, exe, []

        def connect():
            c = Conn(sock)
            p.conns.append(c)
            return c
        p.connect = connect
        made.append(p)
        return p
    yield make
    for p in made:
        for c in p.conns:
            c.close()
        finish(p)


def event_params(m, sub=None):
    """Assert m is an event notification; returns its params."""
    assert isinstance(m, dict) and m.get("method") == "event", m
    assert set(m) == {"jsonrpc", "method", "params"}, m
    p = m["params"]
    assert type(p.get("seq")) is int and p["seq"] >= 1, m
    if sub is not None:
        assert p.get("subscription") == sub, m
    assert p.get("event") in EVENTS, m
    return p


def events_until(c, pred, sub=None, timeout=30.0):
    """Event params read from c until pred(params) (inclusive); messages
    that are not events are an error."""
    return lg_events_until(c, pred, sub, timeout, check=event_params)


def job_event(jid, event):
    return lambda e: isinstance(e.get("job"), dict) and e["job"]["id"] == jid \
        and e["event"] == event


def assert_consecutive(seqs, first):
    want = list(range(first, first + len(seqs)))
    assert seqs == want, "seqs not consecutive from %d: %r" % (first, seqs)


def numbered_writer_argv(stop):
    """A worker that prints 1, 2, 3, ... (one a line, fast, with small
    sleeps) until the file stop exists, then "end"."""
    return ["sh", "-c", 'i=0; while [ ! -e "$1" ]; do i=$((i+1)); echo $i; '
            'if [ $((i % 20)) -eq 0 ]; then sleep 0.005; fi; done; echo end',
            "sh", str(stop)]


def check_numbered(text):
    """Assert text is "1\\n2\\n...N\\nend\\n"; returns N."""
    lines = text.split("\n")
    assert lines[-1] == "" and lines[-2] == "end", "the output does not end with end: %r" \
        % text[-200:]
    nums = lines[:-2]
    bad = [(i, x) for i, x in enumerate(nums) if x != str(i + 1)]
    assert not bad, "lines lost or doubled: first differences (index, line) %r" % bad[:5]
    return len(nums)




def slow_conn(procd):
    """A connection with a small receive buffer, read only when asked."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(procd.sock)
    slow = Conn.__new__(Conn)
    slow.sock, slow.buf, slow.pending, slow.next_id = s, b"", [], 1
    procd.conns.append(slow)
    return slow


# --- the method itself and info ---

def test_handoff_formats_option(tmp_path):
    """procd --handoff-formats prints the formats it reads, one a line,
    and exits 0 without starting a daemon: the one it writes, and the
    older one (a procd that writes it can be upgraded)."""
    sock = str(tmp_path / "procd.sock")
    r = subprocess.run([PROCD, "--handoff-formats", "--socket", sock], capture_output=True,
                       text=True, timeout=30, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r
    lines = r.stdout.split("\n")
    assert lines[-1] == "", "not newline-terminated: %r" % r.stdout
    assert FORMAT in lines[:-1], "%s not listed: %r" % (FORMAT, r.stdout)
    assert OLD_FORMAT in lines[:-1], "%s not listed: %r" % (OLD_FORMAT, r.stdout)
    assert all(l.strip() == l and l for l in lines[:-1]), r.stdout
    assert not os.path.lexists(sock), "--handoff-formats started a daemon"


def test_result_and_info(procd, conn):
    info0 = conn.call("info")
    assert info0.get("protocol") == "1.1", info0
    assert info0.get("reexecs") == 0, info0
    assert info0.get("image_started_at") == info0["started_at"], \
        "image_started_at must equal started_at until the first reexec: %r" % info0
    start_time = proc_start_time(procd.pid)
    time.sleep(0.05)        # so that the new image starts a visible moment later
    r = reexec(conn, procd.pid)
    assert r["version"] == r["previous_version"] == info0["version"], r
    assert proc_start_time(procd.pid) == start_time, "not the same process"
    assert procd.alive()
    info1 = conn.call("info")       # the reexec's connection still serves
    assert info1["reexecs"] == 1, info1
    assert info1["started_at"] == info0["started_at"], (info0, info1)
    assert ts(info1["image_started_at"]) > ts(info0["started_at"]), info1
    assert info1["pid"] == procd.pid and info1["version"] == info0["version"], info1
    assert info1["protocol"] == "1.1", info1
    assert info_core(info1) == info_core(info0), (info0, info1)
    time.sleep(0.05)
    other = procd.connect()
    reexec(other, procd.pid)
    info2 = conn.call("info")
    assert info2["reexecs"] == 2, info2
    assert info2["started_at"] == info0["started_at"], info2
    assert ts(info2["image_started_at"]) > ts(info1["image_started_at"]), (info1, info2)


def test_params_refused(procd, conn):
    for params in ({"force": True}, {"path": "/bin/true"}):
        e = lc_err(conn, "reexec", params)
        assert e["code"] == INVALID_PARAMS, (params, e)
    assert conn.call("info")["reexecs"] == 0
    # an empty params object is no params
    reexec_r = conn.call("reexec", {}, timeout=RX_TIMEOUT)
    check_result(reexec_r, procd.pid)
    assert conn.call("info")["reexecs"] == 1


def test_null_id_answered(procd, conn):
    """A reexec whose id is null is a request, not a notification: the new
    image answers it, with id null."""
    conn.send({"jsonrpc": "2.0", "method": "reexec", "id": None})
    m = conn.recv(30)
    assert m is not None and m.get("id", "absent") is None and "result" in m, m
    check_result(m["result"], procd.pid)


def test_notification_is_executed(procd, conn):
    """reexec sent as a notification: executed, never answered."""
    conn.send({"jsonrpc": "2.0", "method": "reexec"})
    wait_until(lambda: procd.call("info")["reexecs"] == 1, 30)
    r = conn.call("info")
    assert r["reexecs"] == 1, r
    conn.expect_nothing(0.5)


USER_CALL_PY = r"""
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(60)
s.connect(sys.argv[1])
s.sendall(sys.argv[2].encode() + b"\n")
buf = b""
while b"\n" not in buf:
    chunk = s.recv(65536)
    if not chunk:
        break
    buf += chunk
sys.stdout.write(buf.split(b"\n")[0].decode())
"""


def user_call(user, sock, method, id=1):
    line = json.dumps({"jsonrpc": "2.0", "method": method, "id": id})
    r = run_as_user(user, [USR_PY, "-c", USER_CALL_PY, sock, line], timeout=90)
    assert r.returncode == 0, r
    return json.loads(r.stdout)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to create users and switch uids")
def test_other_user_denied(users, srv_spawn, usr_tmpdir, tmp_path):
    """A root procd serves every uid, but only root may reexec it."""
    a = users("a")
    sock = os.path.join(usr_tmpdir(mode=0o755), "procd.sock")
    p = srv_spawn(tmp_path, [PROCD, "--socket", sock, "--socket-mode", "0666", "-v"])
    wait_for_socket(sock, p.proc, 30)
    c = Conn(sock)
    try:
        j = lc_start(c, SLEEP)
        m = user_call(a, sock, "reexec")
        assert "error" in m and m["error"]["code"] == DENIED, m
        assert m["error"]["message"], m
        m = user_call(a, sock, "info", 2)
        assert m["result"]["reexecs"] == 0, "the user is served otherwise: %r" % (m,)
        info = c.call("info")
        assert info["reexecs"] == 0, info
        assert info["image_started_at"] == info["started_at"], info
        assert lc_status(c, j["id"])["state"] == "running"
        check_result(c.call("reexec", timeout=RX_TIMEOUT), p.pid)
    finally:
        c.close()
    finish(p)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to create users and switch uids")
def test_own_uid_and_root_may_reexec_per_user_procd(users, srv_spawn, usr_tmpdir):
    """A procd running as a user: that user may reexec it, and so may root."""
    a = users("a")
    d = usr_tmpdir(owner=a, mode=0o755)
    exe = os.path.join(d, "procd")
    shutil.copyfile(PROCD, exe)
    os.chmod(exe, 0o755)
    sock = os.path.join(d, "procd.sock")
    p = srv_spawn(d, [exe, "--socket", sock, "-v"], env=a.env(), **a.popen_kw())
    wait_for_socket(sock, p.proc, 30)
    m = user_call(a, sock, "reexec")
    assert "result" in m, "procd's own uid may reexec: %r" % (m,)
    check_result(m["result"], p.pid)
    c = Conn(sock)
    try:
        check_result(c.call("reexec", timeout=RX_TIMEOUT), p.pid)
        info = c.call("info")
        assert info["reexecs"] == 2 and info["uid"] == a.uid, info
    finally:
        c.close()
    finish(p)


def test_refused_while_stopping(procd_factory, tmp_path):
    d = procd_factory()
    c = d.connect()
    j = lc_start_term_ignoring(c, tmp_path / "ready", stop_timeout=60)
    d.proc.send_signal(signal.SIGTERM)
    lc_wait_state(c, j["id"], "stopping")
    assert lc_err(c, "start", {"argv": ["true"]})["code"] == STOPPING
    e = lc_err(c, "reexec", timeout=RX_TIMEOUT)
    assert e["code"] == STOPPING, e
    info = c.call("info")
    assert info["reexecs"] == 0, info
    assert lc_status(c, j["id"])["state"] == "stopping"
    # a second SIGTERM kills what is left; procd ends cleanly
    d.proc.send_signal(signal.SIGTERM)
    assert d.proc.wait(30) == 0, d.stderr_text()
    assert not pid_alive(j["pid"])


# --- the check of the new program, and its refusals ---

def refusal_world(p, tmp_path, extra=0):
    """Jobs and clients in place before a refused reexec (and extra more
    connections, w["extra"]): returns a dict of what to check afterwards."""
    c = p.connect()
    w = {"c": c, "extra": [p.connect() for _ in range(extra)]}
    w["run"] = lc_start(c, SLEEP, name="runner")
    done = lc_start(c, ["sh", "-c", "echo out; exit 3"])
    lc_join(c, done["id"])
    w["go"] = tmp_path / ("go-%s" % os.path.basename(os.path.dirname(p.exe)))
    w["waiter"] = lc_start(c, wait_file_argv(w["go"], 4))
    w["jc"] = p.connect()
    w["jid"] = w["jc"].request("join", {"job": w["waiter"]["id"]})
    w["sc"] = p.connect()
    w["sub"] = lg_subscribe(w["sc"])
    w["before"] = snapshot(c)
    w["fds"] = fd_kinds(p.pid)
    return w


def check_unchanged(p, w):
    c = w["c"]
    after = snapshot(c)
    assert_same_world(w["before"], after)
    assert after["info"]["reexecs"] == 0, after["info"]
    assert after["info"]["image_started_at"] == w["before"]["info"]["image_started_at"]
    assert p.alive()
    assert lc_zombies_of(p.pid) == [], "the check left a zombie"
    assert fd_kinds(p.pid) == w["fds"], "the check changed procd's fds"
    # the clients are still there: the pending join is answered, the
    # subscription goes on from its seq
    touch(w["go"])
    r = w["jc"].response(w["jid"], timeout=30)
    assert r["result"]["exitcode"] == 4 and r["result"]["state"] == "exited", r
    evs = events_until(w["sc"], job_event(w["waiter"]["id"], "exited"),
                       w["sub"]["subscription"])
    assert_consecutive([e["seq"] for e in evs], w["sub"]["seq"] + 1)


REFUSALS = {
    "missing": (None, ("no such file", "not found", "missing", "does not exist", "enoent")),
    "not-executable": ("copy-0644", ("permission", "not executable", "eacces", "executable")),
    # A program that reads only the older format, as a downgrade would be.
    "other-format": ("#!/bin/sh\necho %s\necho procd-handoff-3\n" % OLD_FORMAT,
                     ("format",)),
    "prefix-of-format": ("#!/bin/sh\necho %s0\necho x%s\necho %sx\n" % (
        FORMAT, FORMAT, FORMAT), ("format",)),
    "empty-output": ("#!/bin/sh\nexit 0\n", ("format",)),
    "check-fails": ("#!/bin/sh\necho %s\nexit 1\n" % FORMAT, ("exit", "status", "fail")),
}


@pytest.mark.parametrize("how", sorted(REFUSALS))
def test_refused_program(copied, tmp_path, how):
    """The program at procd's path is missing, not executable, or does not
    list the current format: -32603 saying why, procd unchanged; once the
    right program is back, reexec works."""
    p = copied()
    w = refusal_world(p, tmp_path)
    what, words = REFUSALS[how]
    if what is None:
        os.unlink(p.exe)
    elif what == "copy-0644":
        replace_file(p.exe, src=PROCD, mode=0o644)
    else:
        replace_file(p.exe, text=what)
    e = lc_err(w["c"], "reexec", timeout=RX_TIMEOUT)
    assert e["code"] == INTERNAL, e
    msg = e["message"].lower()
    assert any(x in msg for x in words), "the message does not say why (%s): %r" % (how, e)
    check_unchanged(p, w)
    replace_file(p.exe, src=PROCD)
    check_result(w["c"].call("reexec", timeout=RX_TIMEOUT), p.pid)
    assert w["c"].call("info")["reexecs"] == 1


def test_hanging_check_does_not_stall_procd(copied, tmp_path):
    """A program whose --handoff-formats never ends: procd serves other
    clients meanwhile; once it is killed, the reexec is refused and procd
    carries on."""
    p = copied()
    w = refusal_world(p, tmp_path, extra=2)
    rx, other = w["extra"]
    pidfile = str(tmp_path / "check.pid")
    replace_file(p.exe, text='#!/bin/sh\necho $$ > "%s.tmp"; mv "%s.tmp" "%s"\n'
                 'echo %s\nexec sleep 1000\n' % (pidfile, pidfile, pidfile, FORMAT))
    rid = rx.request("reexec")
    wait_until(lambda: os.path.exists(pidfile), 30)
    with open(pidfile) as f:
        check_pid = int(f.read())
    lo = LcProcs()
    lo.add(check_pid)
    try:
        try:
            assert other.call("info", timeout=10)["reexecs"] == 0
        except TimeoutError:
            raise AssertionError("procd serves no one while the check runs")
        m = None
        try:
            m = rx.response(rid, timeout=0.5)
        except TimeoutError:
            os.kill(check_pid, signal.SIGKILL)
        if m is None:
            m = rx.response(rid, timeout=30)
        assert "error" in m and m["error"]["code"] == INTERNAL, m
    finally:
        lo.kill_survivors()
    check_unchanged(p, w)


# --- an upgrade ---

@pytest.mark.parametrize("relative", [False, True], ids=["absolute", "relative"])
def test_upgrade_to_another_build(copied, relative):
    """procd's file replaced by another build (version "+next"): reexec runs
    it, in the same process; and back again. Started as ./procd, the path
    was resolved when procd started."""
    if not os.access(PROCD_NEXT, os.X_OK):
        pytest.fail("the other build %s is not built (make tests/helpers/procd-next "
                    "or set PROCD_NEXT)" % PROCD_NEXT)
    p = copied(relative=relative)
    c = p.connect()
    j = lc_start(c, SLEEP)
    before = snapshot(c)
    old = before["info"]["version"]
    start_time = proc_start_time(p.pid)
    replace_file(p.exe, src=PROCD_NEXT)
    assert c.call("info")["version"] == old, "replacing the file changed nothing yet"
    r = reexec(c, p.pid)
    assert r["version"] == old + "+next" and r["previous_version"] == old, r
    assert proc_start_time(p.pid) == start_time
    assert os.stat("/proc/%d/exe" % p.pid).st_ino == os.stat(p.exe).st_ino, \
        "procd does not run the file at its path"
    after = snapshot(c)
    assert after["info"]["version"] == old + "+next", after["info"]
    assert after["info"]["reexecs"] == 1, after["info"]
    assert_same_jobs(before["status"], after["status"])
    assert info_core(dict(before["info"], version=None)) == \
        info_core(dict(after["info"], version=None))
    # and back
    replace_file(p.exe, src=PROCD)
    r = reexec(c, p.pid)
    assert r["version"] == old and r["previous_version"] == old + "+next", r
    assert c.call("info")["version"] == old
    assert lc_status(c, j["id"]) == before["status"][j["id"]]


# --- every job state, field by field ---

def test_running_job(procd, conn, tmp_path):
    j = lc_start(conn, SLEEP, name="run-1", env={"A": "1", "PATH": None}, cwd=str(tmp_path),
                 stop_timeout=7.5, log_limit=1000)
    d = lc_start(conn, ["sleep", "1000"], daemon=True)
    before = snapshot(conn)
    reexec(conn, procd.pid)
    after = snapshot(conn)
    assert_same_world(before, after)
    for x in (j, d):
        assert pid_alive(x["pid"])
        assert after["status"][x["id"]]["state"] == "running"
        assert after["status"][x["id"]]["ppid"] == procd.pid
    # procd still acts on it: the right process
    conn.call("signal", {"job": j["id"], "signal": "KILL"})
    r = lc_join(conn, j["id"])
    assert r["exitcode"] == -9, r
    assert not pid_alive(j["pid"])


def test_stopping_deadline_keeps_counting(procd, conn, tmp_path):
    """A job stopping with stop_timeout 3 is SIGKILLed about 3 s after the
    terminate, not 3 s after the reexec 2 s later."""
    j = lc_start_term_ignoring(conn, tmp_path / "ready", stop_timeout=3)
    t_before = time.time()
    conn.call("terminate", {"job": j["id"]})
    t_after = time.time()
    before = lc_status(conn, j["id"])
    assert before["state"] == "stopping", before
    time.sleep(max(0.0, t_after + 2.0 - time.time()))
    before = lc_status(conn, j["id"])
    assert before["state"] == "stopping", before
    reexec(conn, procd.pid)
    t_rx = time.time()
    after = lc_status(conn, j["id"])
    if after["state"] == "stopping":
        assert after == before, job_diff(before, after)
    r = lc_join(conn, j["id"])
    assert r["state"] == "exited" and r["exitcode"] == -9, r
    took = ts(r["exited_at"]) - t_before
    assert took >= 2.95, "SIGKILL came %.2f s after the terminate, before its 3 s" % took
    # the right time is 3 s after the terminate, or just after the reexec
    # if that ended later; a deadline counted again from the reexec would
    # be at least 5 s
    latest = max(t_after + 3.0, t_rx) + 1.3
    assert ts(r["exited_at"]) <= latest, \
        "SIGKILL came %.2f s after the terminate: the deadline did not keep counting " \
        "across the reexec" % took


def test_waiting_job_and_family(procd, conn, tmp_path):
    """A parent waiting for a non-daemon child; a running parent with a
    daemon child whose teardown happens after the reexec."""
    go = tmp_path / "go"
    p = lc_start(conn, wait_file_argv(go, 5))
    child = lc_start(conn, SLEEP, parent=p["id"])
    touch(go)
    lc_wait_state(conn, p["id"], "waiting")
    go2 = tmp_path / "go2"
    q = lc_start(conn, wait_file_argv(go2, 6))
    dchild = lc_start(conn, SLEEP, parent=q["id"], daemon=True)
    before = snapshot(conn)
    assert before["status"][p["id"]]["children"] == [child["id"]]
    reexec(conn, procd.pid)
    after = snapshot(conn)
    assert_same_world(before, after)
    assert after["status"][p["id"]]["state"] == "waiting"
    # the child's end finishes the waiting parent
    conn.call("terminate", {"job": child["id"]})
    r = lc_join(conn, p["id"])
    assert r["state"] == "exited" and r["exitcode"] == 5, r
    # the rule still holds: the daemon child is torn down when q exits
    touch(go2)
    r = lc_join(conn, q["id"])
    assert r["exitcode"] == 6, r
    dc = lc_status(conn, dchild["id"])
    assert dc["state"] == "exited" and dc["exitcode"] == -15, dc


def test_exited_job(procd, conn):
    j = lc_start(conn, ["sh", "-c", "i=0; while [ $i -lt 30000 ]; do i=$((i+1)); done; "
                        "echo done; exit 4"])
    r = lc_join(conn, j["id"])
    assert r["state"] == "exited" and r["exitcode"] == 4 and r["usage"], r
    killed = lc_start(conn, SLEEP)
    conn.call("kill", {"job": killed["id"]})
    lc_join(conn, killed["id"])
    before = snapshot(conn)
    reexec(conn, procd.pid)
    after = snapshot(conn)
    assert_same_world(before, after)
    assert after["status"][j["id"]]["usage"] == r["usage"]
    assert after["status"][j["id"]]["exited_at"] == r["exited_at"]
    # and it can be closed, as any exited job
    assert conn.call("close", {"job": j["id"]})["id"] == j["id"]
    assert lc_err(conn, "status", {"job": j["id"]})["code"] == NOT_FOUND


def test_restarting_job(procd, conn, tmp_path):
    """restart always, restart_delay 2, a reexec 1 s into the delay:
    restart_at unchanged across the reexec, and the restart happens then
    (not 2 s after the reexec)."""
    cnt = str(tmp_path / "runs")
    j = lc_start(conn, ["sh", "-c", 'echo x >> "$1"; [ "$(wc -l < "$1")" -ge 2 ] && '
                        'exec sleep 1000; exit 3', "sh", cnt],
                 restart="always", restart_delay=2)
    first = lc_wait_state(conn, j["id"], "restarting")
    at = ts(first["restart_at"])
    time.sleep(max(0.0, at - 1.0 - time.time()))
    before = lc_status(conn, j["id"])
    assert before == first, job_diff(first, before)
    assert before["restart_at"] and before["exitcode"] == 3, before
    reexec(conn, procd.pid)
    t_rx = time.time()
    after = lc_status(conn, j["id"])
    if after["state"] == "restarting":
        assert after == before, job_diff(before, after)
    r = lc_wait_job(conn, j["id"], lambda x: x["state"] == "running" and x["restarts"] == 1,
                    "restarted", 30)
    started = ts(r["started_at"])
    assert started >= at - 0.05, "restarted at %s, before restart_at %s" % (
        r["started_at"], before["restart_at"])
    assert started <= max(at, t_rx) + 0.6, \
        "restarted at %s, restart_at was %s: the delay was counted again from the " \
        "reexec" % (r["started_at"], before["restart_at"])
    # The new process runs: it writes its line soon after it starts.
    def runs():
        with open(cnt) as f:
            return len(f.read().splitlines())
    wait_until(lambda: runs() >= 2, 10)
    assert runs() == 2
    assert r["restart_at"] is None and r["exitcode"] is None, r


def test_restart_delay_doubling_carries_over(procd, conn, tmp_path):
    """The delay that doubles after quick exits goes on doubling after a
    reexec: 0.5, 1, then 2 s (not back to 0.5)."""
    cnt = str(tmp_path / "runs")
    j = lc_start(conn, ["sh", "-c", 'echo x >> "$1"; [ "$(wc -l < "$1")" -ge 4 ] && '
                        'exec sleep 1000; exit 1', "sh", cnt],
                 restart="on-failure", restart_delay=0.5, restart_max_delay=60)
    lc_wait_job(conn, j["id"], lambda x: x["state"] == "restarting" and x["restarts"] == 1,
                "restarting a second time", 30)
    reexec(conn, procd.pid)
    r = lc_wait_job(conn, j["id"], lambda x: x["state"] == "restarting" and x["restarts"] == 2,
                    "restarting a third time", 30)
    delay = ts(r["restart_at"]) - ts(r["exited_at"])
    assert 1.9 <= delay <= 2.1, "third delay %.3f s, expected 2 s (0.5, 1, 2): %r" % (delay, r)
    lc_wait_job(conn, j["id"], lambda x: x["state"] == "running" and x["restarts"] == 3,
                "running again", 30)


def test_notify_job(procd, conn):
    """ready and status_text carry over; the notify socket still works; a
    start with wait_ready pending across the reexec is answered."""
    a = lc_start(conn, lc_notify_argv("READY=1", "STATUS=one", "sleep:3000", "STATUS=two"),
                 notify=True)
    lc_wait_job(conn, a["id"], lambda x: x["ready"] is True and x["status_text"] == "one",
                "ready with status one")
    b = lc_start(conn, lc_notify_argv("STATUS=not yet"), notify=True)
    lc_wait_job(conn, b["id"], lambda x: x["status_text"] == "not yet", "status not yet")
    w = procd.connect()
    wid = w.request("start", {"argv": lc_notify_argv("sleep:2500", "READY=1"), "notify": True,
                              "wait_ready": True, "name": "slow-ready"})
    time.sleep(0.3)
    before = snapshot(conn)
    assert before["status"][a["id"]]["ready"] is True
    assert before["status"][b["id"]]["ready"] is False
    reexec(conn, procd.pid)
    after = snapshot(conn)
    # the wait_ready job may have become ready meanwhile
    for x in (before, after):
        x["list"] = [j for j in x["list"] if j["name"] != "slow-ready"]
        x["status"] = {i: j for i, j in x["status"].items() if j["name"] != "slow-ready"}
    assert_same_jobs(before["status"], after["status"])
    lc_wait_job(conn, a["id"], lambda x: x["status_text"] == "two",
                "status two (sent after the reexec)", 20)
    r = w.response(wid, timeout=30)
    assert "result" in r, r
    assert r["result"]["ready"] is True and r["result"]["name"] == "slow-ready", r


def test_tree_job(procd, conn, tmp_path):
    """A tree job is still one: terminate stops its setsid grandchild; when
    another one's main process exits after the reexec, its leftovers are
    stopped; their cgroups go."""
    if not procd.call("info").get("cgroups"):
        pytest.skip("info.cgroups is false: no kill_mode tree here")
    tree_sh = lc_write_script(tmp_path / "tree.sh", r'''#!/bin/sh
(setsid sh -c 'echo $$ > "$1.tmp" && mv "$1.tmp" "$1"; exec sleep 300' sh "$1" &)
while [ ! -s "$1" ]; do sleep 0.02; done
while [ ! -e "$2" ]; do sleep 0.02; done
exit "$3"
''')
    lo = LcProcs()
    try:
        jobs, gcs = [], []
        for n in (1, 2):
            pf, go = str(tmp_path / ("gc%d" % n)), str(tmp_path / ("go%d" % n))
            j = lc_start(conn, [tree_sh, pf, go, "5"], kill_mode="tree")
            wait_until(lambda: os.path.exists(pf), 10)
            with open(pf) as f:
                gcs.append(lo.add(int(f.read())))
            jobs.append((j, go))
        cgs = [proc_cgroup(g) for g in gcs]
        assert all(cg and cg == proc_cgroup(j["pid"]) for cg, (j, _) in zip(cgs, jobs)), cgs
        before = snapshot(conn)
        reexec(conn, procd.pid)
        assert_same_world(before, snapshot(conn))
        assert [proc_cgroup(g) for g in gcs] == cgs
        (a, _), (b, go_b) = jobs
        conn.call("terminate", {"job": a["id"]})
        r = lc_join(conn, a["id"])
        assert r["state"] == "exited" and r["kill_mode"] == "tree", r
        assert not lo.lives(gcs[0]), "the tree job's setsid grandchild outlived terminate"
        touch(go_b)
        r = lc_join(conn, b["id"])
        assert r["state"] == "exited" and r["exitcode"] == 5, r
        assert not lo.lives(gcs[1]), "the leftover of a tree job whose process exited lives on"
        mount = cgroup2_mount()
        for cg in cgs:
            wait_until(lambda: not os.path.exists(mount.rstrip("/") + cg), 10)
    finally:
        lo.kill_survivors()


# --- output ---

LOG_PARAMS = [{}, {"stream": "stdout"}, {"stream": "stderr"}, {"tail": 3},
              {"encoding": "base64"}, {"stream": "stderr", "tail": 1, "encoding": "base64"}]


def test_retained_output(procd, conn, tmp_path):
    mixed = lc_start(conn, ["sh", "-c", r'for i in 1 2 3 4 5; do echo "out $i"; '
                            r'echo "err $i" >&2; done; printf "bad \377\376 end\n"; exit 0'])
    lc_join(conn, mixed["id"])
    small = lc_start(conn, ["sh", "-c", "seq 1 1000"], log_limit=100)
    lc_join(conn, small["id"])
    go = tmp_path / "go"
    # half a UTF-8 character before the reexec, the other half after
    split = lc_start(conn, ["sh", "-c", r'printf "a\303"; while [ ! -e "$1" ]; do sleep 0.01; '
                            r'done; printf "\251b"', "sh", str(go)])
    wait_until(lambda: conn.call("logs", {"job": split["id"], "encoding": "base64"})["records"])
    ids = (mixed["id"], small["id"], split["id"])

    def all_logs():
        return {(i, json.dumps(p, sort_keys=True)): conn.call("logs", dict(p, job=i))
                for i in ids for p in LOG_PARAMS}
    before = all_logs()
    assert before[(small["id"], "{}")]["truncated"] is True
    f = procd.connect()
    fid = f.request("logs", {"job": split["id"], "follow": True})
    f.pending.append(f.recv(10))       # the follow is under way
    reexec(conn, procd.pid)
    after = all_logs()
    diff = [k for k in before if before[k] != after[k]]
    assert not diff, "logs changed across the reexec: %r" % [
        (k, before[k], after[k]) for k in diff]
    touch(go)
    notes, resp = lg_follow_collect(f, fid, split["id"])
    assert "".join(n["data"] for n in notes) == "a\u00e9b", notes
    r = conn.call("logs", {"job": split["id"]})
    assert "".join(x["data"] for x in r["records"]) == "a\u00e9b", r


@pytest.mark.parametrize("count", [1, 4])
def test_follow_across_reexecs(procd, conn, tmp_path, count):
    """A follow (text and base64) of a worker printing numbered lines fast,
    across reexecs: no line lost or sent twice."""
    stop = tmp_path / "stop"
    j = lc_start(conn, numbered_writer_argv(stop), log_limit=64 << 20)
    time.sleep(0.2)
    follows = []
    for enc in ("text", "base64"):
        f = procd.connect()
        follows.append((f, f.request("logs", {"job": j["id"], "follow": True,
                                              "encoding": enc}), enc))
    results = {}

    def collect(f, rid, enc):
        try:
            results[enc] = lg_follow_collect(f, rid, j["id"], timeout=120)
        except Exception as e:          # reported below
            results[enc] = e
    threads = [threading.Thread(target=collect, args=x) for x in follows]
    for t in threads:
        t.start()
    for _ in range(count):
        time.sleep(0.3)
        reexec(conn, procd.pid)
    time.sleep(0.3)
    touch(stop)
    for t in threads:
        t.join(150)
    texts = {}
    for enc in ("text", "base64"):
        res = results.get(enc)
        assert isinstance(res, tuple), "follow %s: %r" % (enc, res)
        notes, resp = res
        assert resp.get("result", {}).get("job", {}).get("state") == "exited", resp
        data = [n["data"] for n in notes if n["stream"] == "stdout"]
        texts[enc] = "".join(data) if enc == "text" else \
            b"".join(base64.b64decode(x) for x in data).decode()
    n = check_numbered(texts["text"])
    assert texts["base64"] == texts["text"]
    retained = "".join(x["data"] for x in conn.call("logs", {"job": j["id"]})["records"])
    assert retained == texts["text"], "retained output differs from what the follow saw"
    assert n > 0


# --- ids, events, joins ---

def test_job_ids_and_names_continue(procd, conn):
    a = lc_start(conn, SLEEP, name="keep")
    b = lc_start(conn, ["true"], name="gone")
    c = lc_start(conn, ["true"])
    for x in (b, c):
        lc_join(conn, x["id"])
        conn.call("close", {"job": x["id"]})    # the highest id is closed
    reexec(conn, procd.pid)
    d = lc_start(conn, SLEEP, name="gone")      # the closed name is free
    assert d["id"] == c["id"] + 1, "ids must go on: %d after %d" % (d["id"], c["id"])
    e = lc_err(conn, "start", {"argv": SLEEP, "name": "keep"})
    assert e["code"] == -32003, e
    for x in (b, c):
        assert lc_err(conn, "status", {"job": x["id"]})["code"] == NOT_FOUND
    assert lc_status(conn, "keep")["id"] == a["id"]


def test_events_and_subscriptions(procd, conn, tmp_path):
    live = procd.connect()
    s1 = lg_subscribe(live)
    a = lc_start(conn, SLEEP)
    other = procd.connect()
    s2 = lg_subscribe(other, jobs=[a["id"]])
    b = lc_start(conn, ["true"])
    lc_join(conn, b["id"])
    early = events_until(live, job_event(b["id"], "exited"), s1["subscription"])
    rp = procd.connect()
    lg_subscribe(rp, since=0)
    replay_before = events_until(rp, lambda e: e["seq"] == early[-1]["seq"])
    rp.close()
    go = tmp_path / "go"
    w = lc_start(conn, wait_file_argv(go, 2))
    touch(go)                       # its exit may come during the switch
    reexec(conn, procd.pid)
    conn.call("terminate", {"job": a["id"]})
    lc_join(conn, a["id"])
    lc_join(conn, w["id"])
    c = lc_start(conn, ["true"])
    lc_join(conn, c["id"])
    late = events_until(live, job_event(c["id"], "exited"), s1["subscription"])
    seen = early + late
    assert_consecutive([e["seq"] for e in seen], s1["seq"] + 1)
    assert any(job_event(w["id"], "exited")(e) and e["job"]["exitcode"] == 2 for e in late)
    # the filtered subscription kept its filter and its number
    evs = events_until(other, job_event(a["id"], "exited"), s2["subscription"])
    assert all(e["job"]["id"] == a["id"] for e in evs), evs
    assert [e["event"] for e in evs] == ["stopping", "exited"], evs
    other.expect_nothing(0.3)
    # a replay from 0 after the reexec gives back the same events
    rp = procd.connect()
    lg_subscribe(rp, since=0)
    replay = events_until(rp, lambda e: e["seq"] == seen[-1]["seq"])
    strip = lambda es: [{k: v for k, v in e.items() if k != "subscription"} for e in es]
    assert strip(replay[:len(replay_before)]) == strip(replay_before), \
        "retained events from before the reexec changed"
    assert strip([e for e in replay if e["seq"] > s1["seq"]]) == strip(seen)
    # new subscriptions do not take an old number; ownership is kept
    s3 = lg_subscribe(live)
    assert s3["subscription"] != s1["subscription"], (s1, s3)
    assert s3["seq"] == seen[-1]["seq"], (s3, seen[-1])
    e = lc_err(live, "unsubscribe", {"subscription": s2["subscription"]})
    assert e["code"] == INVALID_PARAMS, e
    assert live.call("unsubscribe", {"subscription": s1["subscription"]}) is True
    assert other.call("unsubscribe", {"subscription": s2["subscription"]}) is True


def test_replay_in_progress(procd, conn):
    """A subscription replaying many retained events to a client that does
    not read goes on after the reexec where it was: no gap, no repeat."""
    for _ in range(250):
        j = lc_start(conn, ["true"])
        lc_join(conn, j["id"])
        conn.call("close", {"job": j["id"]})
    slow = slow_conn(procd)
    ref = procd.connect()
    r0 = lg_subscribe(ref, since=0)
    want = events_until(ref, lambda e: e["seq"] == r0["seq"])
    assert len(want) == r0["seq"] == 750, (len(want), r0)
    rid = slow.request("subscribe", {"since": 0})
    time.sleep(0.5)
    reexec(conn, procd.pid)
    j = lc_start(conn, ["true"])            # a live event after the replay
    lc_join(conn, j["id"])
    m = slow.recv(30)
    assert m.get("id") == rid and "result" in m, m
    sub = m["result"]["subscription"]
    got = events_until(slow, job_event(j["id"], "exited"), sub)
    assert_consecutive([e["seq"] for e in got], 1)
    strip = lambda es: [{k: v for k, v in e.items() if k != "subscription"} for e in es]
    assert strip(got[:len(want)]) == strip(want)
    assert [e["event"] for e in got[len(want):]] == ["started", "exited"], got[len(want):]


def test_join_timeout_keeps_counting(procd, conn):
    """A join with timeout 3 sent 1.5 s before the reexec times out about
    3 s after it was sent."""
    j = lc_start(conn, SLEEP)
    jc = procd.connect()
    t0 = time.monotonic()
    rid = jc.request("join", {"job": j["id"], "timeout": 3})
    time.sleep(max(0.0, t0 + 1.5 - time.monotonic()))
    reexec(conn, procd.pid)
    t_rx = time.monotonic()
    r = jc.response(rid, timeout=30)
    took = time.monotonic() - t0
    assert "result" in r, r
    assert r["result"].get("timed_out") is True and r["result"]["state"] == "running", r
    assert took >= 2.9, "join timed out after %.2f s, not 3" % took
    assert took <= max(3.0, t_rx - t0) + 1.1, \
        "join timed out %.2f s after it was sent: its timeout did not keep counting" % took


def test_pending_joins_answered_after_reexec(procd, conn, tmp_path):
    """Joins (with ids of every kind) pending across the reexec are
    answered when the job exits afterwards."""
    go = tmp_path / "go"
    j = lc_start(conn, wait_file_argv(go, 7))
    jc = procd.connect()
    ids = ["j\u00e9\u2603 \U0001F600 \"q\" \\", 2 ** 63 - 1, -7, 0, 1.5, 1e308,
           0.30000000000000004]
    for i in ids:
        jc.request("join", {"job": j["id"]}, id=i)
    jc.send({"jsonrpc": "2.0", "method": "join", "id": None, "params": {"job": j["id"]}})
    jc.request("join", {"job": j["id"], "timeout": 120}, id="with-timeout")
    time.sleep(0.2)
    reexec(conn, procd.pid)
    touch(go)
    got = {}
    for _ in range(len(ids) + 2):
        m = jc.recv(30)
        assert m is not None and "result" in m, m
        assert m["result"]["state"] == "exited" and m["result"]["exitcode"] == 7, m
        assert "timed_out" not in m["result"], m
        got[json.dumps(m["id"])] = m["id"]
    want = ids + [None, "with-timeout"]
    assert sorted(got) == sorted(json.dumps(i) for i in want), got
    for i in want:
        assert type(got[json.dumps(i)]) is type(i), (i, got)
    jc.expect_nothing(0.3)


# --- connections and requests during the switch ---

def test_half_sent_request_lines(procd, conn):
    """Lines partly sent before the reexec and finished after it are
    answered: split anywhere, in a UTF-8 character, before the \\n of
    \\r\\n, long, or after a complete line in the same write."""
    big = "x" * 300000
    cases = [
        ('{"jsonrpc":"2.0","method":"sta', 'tus","params":{"job":1},"id":7}\n', 7),
        ('{"jsonrpc":"2.0","method":"info","id":"\u00e9\u2603"}\n'.encode()[:-7],
         '{"jsonrpc":"2.0","method":"info","id":"\u00e9\u2603"}\n'.encode()[-7:],
         "\u00e9\u2603"),
        ('{"jsonrpc":"2.0","method":"info","id":"crlf"}\r', '\n', "crlf"),
        ('{"jsonrpc":"2.0","method":"info","id":"%s' % big[:150000],
         '%s"}\n' % big[150000:], big),
        ('{"jsonrpc":"2.0","method":"info","id":"whole"}\n{"jsonrpc":"2.0","meth',
         'od":"info","id":"second"}\n', "second"),
    ]
    lc_start(conn, SLEEP)
    conns = []
    for first, _, _ in cases:
        c = procd.connect()
        c.send_raw(first)
        conns.append(c)
    time.sleep(0.2)
    reexec(conn, procd.pid)
    got = []
    for c, (_, rest, rid) in zip(conns, cases):
        c.send_raw(rest)
        r = c.response(rid, timeout=30)
        assert "result" in r, r
        got.append(r["result"])
    assert got[0]["id"] == 1, got[0]
    assert conns[-1].response("whole", timeout=30)["result"]["pid"] == procd.pid


def test_connections_during_the_switch(procd, conn):
    """Connections made right after reexec was sent, before its answer,
    are served."""
    for _ in range(3):
        rid = conn.request("reexec")
        made = []
        for _ in range(10):
            c = procd.connect()
            made.append((c, c.request("info")))
        r = conn.response(rid, timeout=RX_TIMEOUT)
        check_result(r["result"], procd.pid)
        for c, cid in made:
            m = c.response(cid, timeout=30)
            assert m["result"]["pid"] == procd.pid, m
            c.close()
    assert conn.call("info")["reexecs"] == 3


def test_pipelined_after_reexec(procd, conn):
    """Requests sent with reexec in one write are executed in order, by the
    new image."""
    msgs = [
        {"jsonrpc": "2.0", "method": "reexec", "id": 1},
        {"jsonrpc": "2.0", "method": "info", "id": 2},
        {"jsonrpc": "2.0", "method": "start", "id": 3,
         "params": {"argv": SLEEP, "name": "pl"}},
        {"jsonrpc": "2.0", "method": "start", "id": 4,
         "params": {"argv": SLEEP, "name": "pl"}},
        {"jsonrpc": "2.0", "method": "status", "id": 5, "params": {"job": "pl"}},
        {"jsonrpc": "2.0", "method": "kill", "id": 6, "params": {"job": "pl"}},
        {"jsonrpc": "2.0", "method": "join", "id": 7, "params": {"job": "pl"}},
        {"jsonrpc": "2.0", "method": "list", "id": 8},
    ]
    conn.send_raw("".join(json.dumps(m) + "\n" for m in msgs))
    r = {i: conn.response(i, timeout=RX_TIMEOUT) for i in range(1, 9)}
    check_result(r[1]["result"], procd.pid)
    assert r[2]["result"]["reexecs"] == 1, "info ran before the reexec: %r" % r[2]
    job = r[3]["result"]
    assert job["name"] == "pl", r[3]
    assert r[4]["error"]["code"] == -32003, r[4]
    assert r[5]["result"]["id"] == job["id"], r[5]
    assert r[6]["result"]["id"] == job["id"], r[6]
    assert r[7]["result"]["exitcode"] == -9, r[7]
    assert [x["id"] for x in r[8]["result"]] == [job["id"]], r[8]


@pytest.mark.parametrize("where", ["one-connection", "two-connections"])
def test_two_reexecs(procd, conn, where):
    if where == "one-connection":
        conn.send_raw("".join(json.dumps(m) + "\n" for m in [
            {"jsonrpc": "2.0", "method": "reexec", "id": 1},
            {"jsonrpc": "2.0", "method": "info", "id": 2},
            {"jsonrpc": "2.0", "method": "reexec", "id": 3},
            {"jsonrpc": "2.0", "method": "info", "id": 4}]))
        r = {i: conn.response(i, timeout=RX_TIMEOUT) for i in range(1, 5)}
        check_result(r[1]["result"], procd.pid)
        check_result(r[3]["result"], procd.pid)
        assert r[2]["result"]["reexecs"] == 1 and r[4]["result"]["reexecs"] == 2, r
        assert r[4]["result"]["image_started_at"] >= r[2]["result"]["image_started_at"], r
        assert conn.call("info")["reexecs"] == 2
    else:
        # a reexec asked on another connection while one is under way may
        # be served by the same switch or by one of its own
        other = procd.connect()
        a = conn.request("reexec")
        b = other.request("reexec")
        check_result(conn.response(a, timeout=RX_TIMEOUT)["result"], procd.pid)
        check_result(other.response(b, timeout=RX_TIMEOUT)["result"], procd.pid)
        assert conn.call("info")["reexecs"] in (1, 2)


def test_batches(procd, conn, tmp_path):
    """A reexec inside a batch: the batch runs in order across the switch
    and is answered as one array; with a join in it, once the job ends."""
    conn.send([{"jsonrpc": "2.0", "method": "info", "id": "a"},
               {"jsonrpc": "2.0", "method": "reexec", "id": "b"},
               {"jsonrpc": "2.0", "method": "info", "id": "c"}])
    m = conn.recv(RX_TIMEOUT)
    assert isinstance(m, list) and sorted(x.get("id") for x in m) == ["a", "b", "c"], m
    m = {x["id"]: x for x in m}         # a batch's answers come in any order
    assert m["a"]["result"]["reexecs"] == 0, "info ran after the reexec it came before: %r" % m
    check_result(m["b"]["result"], procd.pid)
    assert m["c"]["result"]["reexecs"] == 1, "info ran before the reexec it came after: %r" % m
    go = tmp_path / "go"
    j = lc_start(conn, wait_file_argv(go, 7))
    conn.send([{"jsonrpc": "2.0", "method": "join", "id": 1, "params": {"job": j["id"]}},
               {"jsonrpc": "2.0", "method": "reexec", "id": 2},
               {"jsonrpc": "2.0", "method": "status", "id": 3, "params": {"job": j["id"]}}])
    wait_until(lambda: procd.call("info")["reexecs"] == 2, RX_TIMEOUT)
    touch(go)
    m = conn.recv(30)
    assert isinstance(m, list) and sorted(x.get("id") for x in m) == [1, 2, 3], m
    m = {x["id"]: x for x in m}
    assert m[1]["result"]["exitcode"] == 7 and m[1]["result"]["state"] == "exited", m
    check_result(m[2]["result"], procd.pid)
    assert m[3]["result"]["id"] == j["id"], m


def test_workers_exiting_during_the_switch(procd, conn, tmp_path):
    """Workers that exit while procd switches are reaped by the new image
    with their real status; their last output is kept."""
    for rnd in range(3):
        go = tmp_path / ("go%d" % rnd)
        jobs = [lc_start(conn, wait_file_argv(go, 7 + i, 'sleep 0.0%d; echo "bye %d";'
                                              % (i * 2, i))) for i in range(5)]
        time.sleep(0.1)
        touch(go)
        reexec(conn, procd.pid)
        for i, j in enumerate(jobs):
            r = lc_join(conn, j["id"])
            assert r["state"] == "exited" and r["exitcode"] == 7 + i, r
            assert r["exited_at"] and isinstance(r["usage"], dict), r
            out = "".join(x["data"] for x in conn.call("logs", {"job": j["id"]})["records"])
            assert out == "bye %d\n" % i, out
    wait_until(lambda: lc_zombies_of(procd.pid) == [], 5)


def test_answer_not_yet_written(procd, conn):
    """A client that does not read while a big answer is queued gets all
    of it after the reexec, then its later answers."""
    j = lc_start(conn, ["seq", "1", "400000"], log_limit=8 << 20)
    lc_join(conn, j["id"])
    slow = slow_conn(procd)
    slow.send({"jsonrpc": "2.0", "method": "logs", "id": "big", "params": {"job": j["id"]}})
    slow.send({"jsonrpc": "2.0", "method": "status", "id": "after",
               "params": {"job": j["id"]}})
    time.sleep(1.0)
    reexec(conn, procd.pid)
    time.sleep(0.2)
    r = slow.response("big", timeout=60)
    text = "".join(x["data"] for x in r["result"]["records"])
    assert text == "".join("%d\n" % i for i in range(1, 400001)), \
        "the queued answer was cut or changed (%d bytes)" % len(text)
    assert slow.response("after", timeout=30)["result"]["id"] == j["id"]
    assert slow.call("info")["reexecs"] == 1


SIGREC_PY = r"""
import os, signal, sys, time
out = sys.argv[1]
def rec(n, frame):
    with open(out, "a") as f:
        f.write("%d\n" % n)
for n in range(1, 65):
    if n in (signal.SIGKILL, signal.SIGSTOP):
        continue
    try:
        signal.signal(n, rec)
    except (OSError, ValueError, RuntimeError):
        pass
open(out + ".ready", "w").close()
while True:
    time.sleep(0.05)
"""


def test_nothing_signalled(procd, conn, tmp_path):
    """Workers that catch every signal they can see none across reexecs,
    whether started before the first or between two."""
    recs = []
    jobs = []
    for n in range(2):
        if n == 1:
            reexec(conn, procd.pid)
        for kind in ("group", "daemon-child"):
            out = str(tmp_path / ("sig-%d-%s" % (n, kind)))
            params = {}
            if kind == "daemon-child":
                params = {"parent": jobs[-1]["id"], "daemon": True}
            jobs.append(lc_start(conn, [LC_PY, "-c", SIGREC_PY, out], **params))
            recs.append(out)
            wait_until(lambda: os.path.exists(out + ".ready"), 20)
    before = snapshot(conn)
    reexec(conn, procd.pid)
    reexec(conn, procd.pid)
    time.sleep(0.5)
    after = snapshot(conn)
    assert_same_world(before, after)
    for out, j in zip(recs, jobs):
        got = open(out).read().split() if os.path.exists(out) else []
        names = [signal.Signals(int(x)).name if int(x) in signal.valid_signals() else x
                 for x in got]
        assert not got, "job %d was sent signals: %r" % (j["id"], names)
        assert pid_alive(j["pid"])


# --- no leaks ---

def test_no_fd_leak_and_same_worker_start(procd, conn, tmp_path):
    """procd's fds (counted by kind) and signal state are the same after a
    reexec with jobs and clients in place; a worker started afterwards
    starts as one started before (fds 0-2, no blocked or ignored signal,
    the same environment)."""
    lc_start(conn, SLEEP)
    lc_start(conn, lc_notify_argv("READY=1"), notify=True)
    lc_join(conn, lc_start(conn, ["true"])["id"])
    fol = procd.connect()
    run = lc_start(conn, SLEEP)
    fol.request("logs", {"job": run["id"], "follow": True})
    lg_subscribe(procd.connect())
    jc = procd.connect()
    jc.request("join", {"job": run["id"]})
    idle = [procd.connect() for _ in range(3)]
    for c in idle:
        c.call("info")
    env_before = str(tmp_path / "env-before")
    lc_join(conn, lc_start(conn, ["sh", "-c", 'env > "$1"', "sh", env_before])["id"])
    w_before = lc_start(conn, SLEEP)
    time.sleep(0.3)
    fds0, sig0 = fd_kinds(procd.pid), sig_state(procd.pid)
    reexec(conn, procd.pid)
    time.sleep(0.3)
    fds1, sig1 = fd_kinds(procd.pid), sig_state(procd.pid)
    assert fds1 == fds0, "procd's fds changed across the reexec: %r more, %r fewer" % (
        dict(fds1 - fds0), dict(fds0 - fds1))
    assert sig1 == sig0, "procd's signal state changed: %r -> %r" % (sig0, sig1)
    reexec(conn, procd.pid)
    time.sleep(0.3)
    assert fd_kinds(procd.pid) == fds0, "fds grow with each reexec"
    w = lc_start(conn, SLEEP)
    assert worker_fds(w["pid"]) == [0, 1, 2], "a worker started after the reexec " \
        "inherits fds: %r" % {fd: os.readlink("/proc/%d/fd/%d" % (w["pid"], fd))
                             for fd in worker_fds(w["pid"])}
    assert worker_fds(w_before["pid"]) == [0, 1, 2]
    st = lc_proc_status(w["pid"])
    assert int(st["SigBlk"], 16) == 0 and int(st["SigIgn"], 16) == 0, st
    env_after = str(tmp_path / "env-after")
    lc_join(conn, lc_start(conn, ["sh", "-c", 'env > "$1"', "sh", env_after])["id"])
    e0, e1 = read_env_file(env_before), read_env_file(env_after)
    e0.pop("PWD", None), e1.pop("PWD", None)
    assert e1 == e0, "the worker environment changed: %r" % job_diff(e0, e1)


# --- procd's own stop and systemd around a reexec ---

def test_clean_stop_after_reexec(procd_factory):
    """After a reexec procd still knows its jobs and its socket: SIGTERM
    stops and reaps every job and removes the socket file."""
    d = procd_factory()
    c = d.connect()
    p = lc_start(c, SLEEP)
    jobs = [p, lc_start(c, SLEEP, parent=p["id"]), lc_start(c, SLEEP, daemon=True)]
    reexec(c, d.pid)
    assert d.stop() == 0, d.stderr_text()
    assert not os.path.exists(d.sock), "socket file left behind after a reexec"
    assert not [j["pid"] for j in jobs if pid_alive(j["pid"])], "workers outlived procd"


def test_sigterm_during_the_switch(procd_factory):
    """A SIGTERM that comes while procd checks the program or switches is
    not lost and does not kill it: procd stops cleanly (exit 0), its
    workers with it, and the reexec, if answered, is refused with -32008.
    The moment is a matter of luck: many tries, 0 to 4 ms after the
    reexec was sent."""
    lost, bad_answers = [], []
    for n in range(40):
        delay = (n % 17) * 0.00025
        d = procd_factory()
        c = d.connect()
        j = lc_start(c, SLEEP)
        rid = c.request("reexec")
        time.sleep(delay)
        d.proc.send_signal(signal.SIGTERM)
        try:
            rc = d.proc.wait(10)
        except subprocess.TimeoutExpired:
            lost.append((delay, d.stderr_text()))
            d.proc.send_signal(signal.SIGTERM)
            d.proc.wait(30)
            break
        text = d.stderr_text()
        assert rc == 0, "procd ended with %s after a SIGTERM %.2f ms after the reexec:\n%s" \
            % (rc, delay * 1000, text)
        assert not pid_alive(j["pid"]), "a worker outlived procd"
        assert not os.path.exists(d.sock), "socket file left behind"
        assert "ERROR: AddressSanitizer" not in text and "runtime error:" not in text, text
        try:
            m = c.response(rid, timeout=5)
        except (EOFError, ConnectionResetError):
            continue
        if "result" not in m and m["error"]["code"] != STOPPING:
            bad_answers.append((delay, m))
    assert not lost, "procd lost a SIGTERM sent %.2f ms after the reexec: still running " \
        "10 s later:\n%s" % (lost[0][0] * 1000, lost[0][1])
    assert not bad_answers, "a reexec cut short by procd's stop must be -32008 (procd is " \
        "stopping): %r" % bad_answers[:3]


class NotifySock:
    def __init__(self, path):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.s.bind(path)
        self.path = path
        self.lines = []

    def wait_for(self, text, start=0, timeout=30.0):
        deadline = time.monotonic() + timeout
        while True:
            for i in range(start, len(self.lines)):
                if self.lines[i] == text:
                    return i
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("no %s after #%d; got %r" % (text, start, self.lines))
            self.s.settimeout(left)
            try:
                data = self.s.recv(65536)
            except socket.timeout:
                continue
            self.lines += [l for l in data.decode(errors="replace").split("\n") if l]


def test_systemd_reloading_then_ready(tmp_path, srv_spawn):
    n = NotifySock(str(tmp_path / "notify.sock"))
    sock = str(tmp_path / "procd.sock")
    p = srv_spawn(tmp_path, [PROCD, "--socket", sock, "-v"], env={"NOTIFY_SOCKET": n.path})
    i = n.wait_for("READY=1")
    c = Conn(sock)
    try:
        check_result(c.call("reexec", timeout=RX_TIMEOUT), p.pid)
        r = n.wait_for("RELOADING=1", i + 1)
        n.wait_for("READY=1", r + 1)
        # the new image still speaks to the manager
        j = lc_start(c, SLEEP)
        c.call("kill", {"job": j["id"]})
        lc_join(c, j["id"])
    finally:
        c.close()
    finish(p)
    n.wait_for("STOPPING=1", r + 1)


def test_socket_activated(tmp_path, srv_spawn):
    """Under socket activation the socket procd was given is still served
    after a reexec, workers get no LISTEN_* or other fd, and a clean stop
    leaves the socket file (procd did not create it)."""
    ssa = shutil.which("systemd-socket-activate") or "/usr/bin/systemd-socket-activate"
    if not os.access(ssa, os.X_OK):
        pytest.skip("systemd-socket-activate is not installed")
    path = str(tmp_path / "act.sock")
    p = srv_spawn(tmp_path, [ssa, "-l", path, "-E",
                             "PROCD_SOCKET=%s" % (tmp_path / "not-this.sock"),
                             "--fdname=procd", PROCD, "-v"])
    wait_until(lambda: os.path.exists(path) or p.proc.poll() is not None)
    ino = os.lstat(path).st_ino
    c = Conn(path)
    try:
        assert c.call("info", timeout=30)["pid"] == p.pid
        reexec(c, p.pid)
        for _ in range(5):
            x = Conn(path)
            assert x.call("info")["reexecs"] == 1
            x.close()
        out = str(tmp_path / "env")
        lc_join(c, lc_start(c, ["sh", "-c", 'env > "$1"', "sh", out])["id"])
        env = read_env_file(out)
        leaked = [k for k in env if k.startswith("LISTEN_") or k == "NOTIFY_SOCKET"]
        assert not leaked, "leaked into the worker: %r" % leaked
        j = lc_start(c, SLEEP)
        assert worker_fds(j["pid"]) == [0, 1, 2]
    finally:
        c.close()
    finish(p)
    assert os.path.lexists(path) and os.lstat(path).st_ino == ino, \
        "procd removed a socket it did not create"
    assert not os.path.lexists(str(tmp_path / "not-this.sock"))


def test_options_still_apply(copied):
    """Command-line limits hold in the new image."""
    p = copied(args=["--max-jobs", "2", "--max-request", "1000"])
    c = p.connect()
    lc_start(c, SLEEP)
    reexec(c, p.pid)
    lc_start(c, SLEEP)
    e = lc_err(c, "start", {"argv": SLEEP})
    assert e["code"] == -32007, e
    x = p.connect()
    x.send_raw('{"jsonrpc":"2.0","method":"info","id":"%s"}\n' % ("y" * 2000))
    m = x.recv(10)
    assert m["error"]["code"] == -32600 and m["id"] is None, m


# --- soak ---

def soak_count():
    v = os.environ.get("PROCD_SOAK_REEXECS")
    if v:
        return int(v)
    return 50 if SANITIZED else 200


def test_soak(procd, tmp_path):
    """Many reexecs in a row while other clients start and join short jobs,
    follow a numbered-line writer and watch events; afterwards every job's
    record is what the clients saw, the follow saw every line once, and the
    event seqs have no gap and no repeat."""
    n = soak_count()
    errors = []
    done = threading.Event()
    main = procd.connect()
    sub_conn = procd.connect()
    s = lg_subscribe(sub_conn)
    stop = tmp_path / "stop"
    writer = lc_start(main, numbered_writer_argv(stop), log_limit=64 << 20)
    fconn = procd.connect()
    fid = fconn.request("logs", {"job": writer["id"], "follow": True})
    seen_jobs = {}          # id -> job object from join, or "closed"
    started = []            # every id a start returned
    follow_box = {}
    events = []

    def guard(fn):
        def run(*a):
            try:
                fn(*a)
            except Exception as e:      # reported by the main thread
                errors.append((fn.__name__, repr(e)))
                done.set()
        return run

    @guard
    def reexecs():
        c = procd.connect()
        try:
            for _ in range(n):
                if errors:
                    return
                reexec(c, procd.pid)
        finally:
            done.set()

    @guard
    def starter(k):
        c = procd.connect()
        i = 0
        while not done.is_set():
            i += 1
            code = (k * 37 + i) % 50
            j = lc_start(c, ["sh", "-c", "exit %d" % code])
            started.append(j["id"])
            r = lc_join(c, j["id"], timeout=60)
            assert r["state"] == "exited" and r["exitcode"] == code, r
            if i % 7 == 0:
                c.call("close", {"job": j["id"]})
                seen_jobs[j["id"]] = "closed"
            else:
                seen_jobs[j["id"]] = r

    @guard
    def follower():
        follow_box["r"] = lg_follow_collect(fconn, fid, writer["id"], timeout=600)

    @guard
    def subscriber():
        while True:
            m = sub_conn.recv(120)
            assert m is not None, "the subscription's connection closed"
            e = event_params(m, s["subscription"])
            events.append(e)
            if e["event"] == "exited" and e["job"]["name"] == "soak-last":
                return

    threads = [threading.Thread(target=reexecs), threading.Thread(target=follower),
               threading.Thread(target=subscriber)] + \
        [threading.Thread(target=starter, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads[3:]:
        t.join(300)
    threads[0].join(300)
    touch(stop)
    threads[1].join(300)
    last = lc_start(main, ["true"], name="soak-last")
    lc_join(main, last["id"])
    threads[2].join(120)
    assert not errors, errors
    assert not any(t.is_alive() for t in threads), "a client thread hangs"
    info = main.call("info")
    assert info["reexecs"] == n, info
    # the follow saw every line once
    notes, resp = follow_box["r"]
    assert resp["result"]["job"]["state"] == "exited", resp
    check_numbered("".join(x["data"] for x in notes if x["stream"] == "stdout"))
    # the events: consecutive seqs, every job's started/exited(/closed)
    assert_consecutive([e["seq"] for e in events], s["seq"] + 1)
    by_job = collections.defaultdict(list)
    for e in events:
        by_job[e["job"]["id"]].append(e["event"])
    # every job's record is what its client saw
    assert seen_jobs, "no job was started"
    for jid, seen in sorted(seen_jobs.items()):
        if seen == "closed":
            assert lc_err(main, "status", {"job": jid})["code"] == NOT_FOUND, jid
            assert by_job[jid] == ["started", "exited", "closed"], (jid, by_job[jid])
        else:
            st = lc_status(main, jid)
            assert st == seen, "job %d: %r" % (jid, job_diff(seen, st))
            assert by_job[jid] == ["started", "exited"], (jid, by_job[jid])
    assert len(set(started)) == len(started), "a job id was given twice"
    assert [j["id"] for j in main.call("list")] == sorted(
        [i for i, x in seen_jobs.items() if x != "closed"] + [writer["id"], last["id"]])
    # a replay from before the soak gives back the same events
    if events and events[-1]["seq"] - s["seq"] < 9000:
        rp = procd.connect()
        lg_subscribe(rp, since=s["seq"])
        replay = events_until(rp, lambda e: e["seq"] == events[-1]["seq"], timeout=60)
        strip = lambda es: [{k: v for k, v in e.items() if k != "subscription"} for e in es]
        assert strip(replay) == strip(events)


# --- found in review ---

def read_to_eof(conn, timeout=RX_TIMEOUT):
    conn.sock.settimeout(timeout)
    data = conn.buf
    while True:
        chunk = conn.sock.recv(65536)
        if not chunk:
            return data
        data += chunk


def test_finished_tree_job_carried(procd, conn):
    """A tree job that finished has no cgroup left: its record still
    carries over (it once made every reexec fail, and procd with it)."""
    if not conn.call("info")["cgroups"]:
        pytest.skip("kill_mode tree is not available here (info.cgroups false)")
    keep = lc_start(conn, SLEEP)
    t = lc_start(conn, ["true"], kill_mode="tree")
    before = lc_join(conn, t["id"])
    check_result(conn.call("reexec", timeout=RX_TIMEOUT), procd.pid)
    assert conn.call("status", {"job": t["id"]}) == before
    assert conn.call("status", {"job": keep["id"]})["state"] == "running"
    assert conn.call("close", {"job": t["id"]})["id"] == t["id"]


def test_batch_with_a_refused_entry_goes_on_in_order(procd, conn):
    """The rest of a batch is carried as its requests were decoded, also
    when one entry was refused (a duplicate member name)."""
    conn.send_raw('[{"jsonrpc":"2.0","method":"info","x":1,"x":2},'
                  '{"jsonrpc":"2.0","id":1,"method":"reexec"},'
                  '{"jsonrpc":"2.0","id":2,"method":"info"},'
                  '{"jsonrpc":"2.0","id":3,"method":"status","params":{"job":99}}]\n')
    m = conn.recv(RX_TIMEOUT)
    assert isinstance(m, list), m
    by_id = {x.get("id"): x for x in m}
    assert sorted(by_id, key=str) == sorted([None, 1, 2, 3], key=str), m
    assert by_id[None]["error"]["code"] == -32600, m
    check_result(by_id[1]["result"], procd.pid)
    assert by_id[2]["result"]["reexecs"] == 1, m
    assert by_id[3]["error"]["code"] == -32001, m


@pytest.mark.parametrize("batch", [True, False], ids=["batch", "lines"])
def test_reexec_then_end_of_file(procd, batch):
    """A last line without "\\n" holding reexec and more, then end of file:
    the rest runs in the new image and every answer arrives."""
    c = procd.connect()
    if batch:
        c.send_raw('[{"jsonrpc":"2.0","id":1,"method":"reexec"},'
                   '{"jsonrpc":"2.0","id":2,"method":"info"}]')
    else:
        c.send_raw('{"jsonrpc":"2.0","id":1,"method":"reexec"}\n'
                   '{"jsonrpc":"2.0","id":2,"method":"info"}')
    c.sock.shutdown(socket.SHUT_WR)
    data = read_to_eof(c)
    msgs = [json.loads(l) for l in data.splitlines() if l.strip()]
    if batch:
        assert len(msgs) == 1 and isinstance(msgs[0], list), data
        msgs = msgs[0]
    by_id = {x["id"]: x for x in msgs}
    check_result(by_id[1]["result"], procd.pid)
    assert by_id[2]["result"]["reexecs"] == 1, data
