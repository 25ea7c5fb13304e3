# SPDX-License-Identifier: ISC
# The worker's starting state (procd-protocol(7)): its own session and
# process group, stdin /dev/null, fds 0-2 only, no blocked or ignored
# signal, a cleaned environment; no zombie left behind; a worker's own
# subprocesses stopped with it. Workers are inspected from outside through
# /proc, so no interpreter's own start-up changes what is seen.
import json
import os
import signal
import socket
import time

import pytest

import conftest
from conftest import (LC_PY, lc_group_pids, lc_join, lc_proc_environ,
                      lc_proc_stat, lc_proc_status, lc_start, lc_status,
                      lc_write_script, lc_zombies_of, pid_alive, wait_until)

ZERO_MASK = "0" * 16

# Starts the real procd (LC_WRAP_REAL) with ignored signals, blocked
# signals and extra inheritable fds, as a careless parent might.
WRAPPER = r"""
import os, signal, sys
real = os.environ["LC_WRAP_REAL"]
for s in os.environ.get("LC_WRAP_IGN", "").split():
    signal.signal(int(s), signal.SIG_IGN)
blk = [int(s) for s in os.environ.get("LC_WRAP_BLOCK", "").split()]
if blk:
    signal.pthread_sigmask(signal.SIG_BLOCK, blk)
for s in os.environ.get("LC_WRAP_FDS", "").split():
    fd = os.open("/dev/null", os.O_RDONLY)
    os.dup2(fd, int(s), inheritable=True)
    os.close(fd)
os.execv(real, [real] + sys.argv[1:])
"""


def wrapped_procd(procd_factory, monkeypatch, tmp_path, env):
    real = conftest.PROCD
    w = lc_write_script(tmp_path / "wrap.py", "#!" + LC_PY + "\n" + WRAPPER)
    monkeypatch.setattr(conftest, "PROCD", w)
    e = {"LC_WRAP_REAL": real}
    e.update(env)
    d = procd_factory(env=e)
    monkeypatch.setattr(conftest, "PROCD", real)
    return d


def fds_of(pid):
    out = {}
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            out[int(fd)] = os.readlink("/proc/%d/fd/%s" % (pid, fd))
        except (FileNotFoundError, ProcessLookupError):
            pass
    return out


def wait_fds_settle(pid):
    """The worker's fd table once it has finished starting up: a sleep
    worker is past its dynamic loader (which opens libraries for a moment)
    once it sleeps in nanosleep."""
    def asleep():
        try:
            with open("/proc/%d/wchan" % pid) as f:
                return "sleep" in f.read()
        except OSError:
            return False
    try:
        wait_until(asleep, 10)
    except TimeoutError:
        time.sleep(1)   # no wchan: give the loader time instead
    return fds_of(pid)


def mask_signals(mask):
    m = int(mask, 16)
    return [n + 1 for n in range(64) if m & (1 << n)]


def check_worker(pid, procd_pid):
    """Every clause of the starting state; all problems reported at once."""
    bad = []
    fds = wait_fds_settle(pid)
    if sorted(fds) != [0, 1, 2]:
        bad.append("fds: %r" % fds)
    if fds.get(0) != "/dev/null":
        bad.append("stdin is %r" % fds.get(0))
    st = lc_proc_status(pid)
    if st["SigBlk"] != ZERO_MASK:
        bad.append("blocked signals: %r" % mask_signals(st["SigBlk"]))
    if st["SigIgn"] != ZERO_MASK:
        bad.append("ignored signals: %r" % mask_signals(st["SigIgn"]))
    s = lc_proc_stat(pid)
    if s["ppid"] != procd_pid:
        bad.append("ppid %d, procd is %d" % (s["ppid"], procd_pid))
    if s["pgrp"] != pid:
        bad.append("pgid %d != pid %d" % (s["pgrp"], pid))
    if s["session"] != pid:
        bad.append("sid %d != pid %d" % (s["session"], pid))
    assert not bad, "worker %d: %s" % (pid, "; ".join(bad))


def test_worker_starting_state(procd, conn):
    j = lc_start(conn, ["sleep", "30"])
    check_worker(j["pid"], procd.pid)
    conn.call("kill", {"job": j["id"]})


def test_worker_fds_with_busy_daemon(procd, conn, tmp_path):
    # Many things open in procd: clients, a pending join, jobs, a timer.
    others = [procd.connect() for _ in range(5)]
    first = lc_start(conn, ["sleep", "30"])
    others[0].request("join", {"job": first["id"]})
    ready = tmp_path / "ready"
    stopping = lc_start(conn, conftest.lc_term_ignoring_argv(ready), stop_timeout=5)
    wait_until(ready.exists, 10)
    conn.call("terminate", {"job": stopping["id"]})
    jobs = [lc_start(conn, ["sleep", "30"]) for _ in range(3)]
    child = lc_start(conn, ["sleep", "30"], parent=jobs[0]["id"], daemon=True)
    try:
        for j in jobs + [child, first]:
            check_worker(j["pid"], procd.pid)
        fds = wait_fds_settle(stopping["pid"])
        assert sorted(fds) == [0, 1, 2], fds
    finally:
        for j in jobs + [child, first, stopping]:
            conn.call("kill", {"job": j["id"]})


def test_stdin_is_dev_null_not_a_socket(conn, tmp_path):
    # A worker that reads stdin gets end of file at once.
    j = lc_start(conn, ["sh", "-c", 'cat > "$1"; test -c /dev/stdin', "sh", str(tmp_path / "in")])
    r = lc_join(conn, j["id"], timeout=10)
    assert r["state"] == "exited" and r["exitcode"] == 0, r
    assert (tmp_path / "in").read_bytes() == b""


def test_sigpipe_at_default(conn):
    # Ignored on entry, sh could not undo it and would survive.
    j = lc_start(conn, ["sh", "-c", "kill -PIPE $$; exit 0"])
    assert lc_join(conn, j["id"])["exitcode"] == -13


def test_worker_state_reset_from_careless_procd_parent(procd_factory, monkeypatch, tmp_path):
    # procd itself starts with HUP, QUIT, USR2, PIPE ignored, USR1 and WINCH
    # blocked: its workers must still start clean.
    d = wrapped_procd(procd_factory, monkeypatch, tmp_path,
                      {"LC_WRAP_IGN": "1 3 12 13", "LC_WRAP_BLOCK": "10 28"})
    c = d.connect()
    assert c.call("info")["pid"] == d.pid
    assert lc_proc_status(d.pid)["SigIgn"] != ZERO_MASK  # the setup worked
    j = lc_start(c, ["sleep", "30"])
    check_worker(j["pid"], d.pid)
    k = lc_start(c, ["sh", "-c", "kill -PIPE $$; exit 0"])
    assert lc_join(c, k["id"])["exitcode"] == -13
    k = lc_start(c, ["sh", "-c", "kill -HUP $$; exit 0"])
    assert lc_join(c, k["id"])["exitcode"] == -1
    c.call("kill", {"job": j["id"]})
    assert d.stop() == 0


def test_inherited_fds_not_passed_to_workers(procd_factory, monkeypatch, tmp_path):
    d = wrapped_procd(procd_factory, monkeypatch, tmp_path, {"LC_WRAP_FDS": "5 9 63"})
    assert {5, 9, 63} <= set(fds_of(d.pid))  # the setup worked
    c = d.connect()
    j = lc_start(c, ["sleep", "30"])
    check_worker(j["pid"], d.pid)
    c.call("kill", {"job": j["id"]})
    assert d.stop() == 0


def test_environment_cleaned_but_settable(procd_factory, tmp_path):
    ns = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    ns.bind(str(tmp_path / "notify"))
    try:
        d = procd_factory(env={
            "LISTEN_PID": "1", "LISTEN_FDS": "1", "LISTEN_FDNAMES": "lc",
            "NOTIFY_SOCKET": str(tmp_path / "notify"),
            "WATCHDOG_USEC": "600000000", "WATCHDOG_PID": "1",
            "LC_HYG_KEEP": "yes"})
        c = d.connect()
        j = lc_start(c, ["sleep", "30"])
        env = lc_proc_environ(j["pid"])
        for k in ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES", "NOTIFY_SOCKET"):
            assert k not in env, "%s=%s leaked into the worker" % (k, env[k])
        assert not [k for k in env if k.startswith("WATCHDOG_")], env
        assert env.get("LC_HYG_KEEP") == "yes"
        mine = {"LISTEN_PID": "77", "LISTEN_FDS": "3", "LISTEN_FDNAMES": "a:b",
                "NOTIFY_SOCKET": "/nowhere", "WATCHDOG_USEC": "5", "WATCHDOG_PID": "77"}
        k = lc_start(c, ["sleep", "30"], env=mine)
        env = lc_proc_environ(k["pid"])
        for name, val in mine.items():
            assert env.get(name) == val, name
        check_worker(k["pid"], d.pid)
        for x in (j, k):
            c.call("kill", {"job": x["id"]})
        assert d.stop() == 0
    finally:
        ns.close()


# --- no zombies, procd as subreaper ---

# $1: pid file for the orphan, $2: file that lets it exit, $3: "stay" or
# the worker's exit status. The orphan's parent subshell exits at once; the
# orphan gives up by itself after some 30 s should a test fail.
ORPHAN = r"""#!/bin/sh
( sh -c 'i=0; while [ ! -e "$1" ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i+1)); done' sh "$2" &
  echo $! > "$1.tmp"; mv "$1.tmp" "$1" )
if [ "$3" = stay ]; then exec sleep 30; fi
exit "$3"
"""


def test_orphaned_grandchild_reaped(procd, conn, tmp_path):
    script = lc_write_script(tmp_path / "orphan.sh", ORPHAN)
    f, go = tmp_path / "orphan", tmp_path / "go"
    j = lc_start(conn, [script, str(f), str(go), "stay"])
    wait_until(f.exists, 10)
    orphan = int(f.read_text())
    # Its parent subshell is gone: procd (a child subreaper) adopted it.
    try:
        wait_until(lambda: lc_proc_stat(orphan)["ppid"] == procd.pid, 5)
    except TimeoutError:
        raise AssertionError("orphan's parent is %r, not procd" % lc_proc_stat(orphan))
    finally:
        go.write_text("")
    # It exits and is reaped: no zombie remains.
    wait_until(lambda: lc_proc_stat(orphan) is None, 10)
    assert lc_zombies_of(procd.pid) == []
    assert lc_status(conn, j["id"])["state"] == "running"
    conn.call("kill", {"job": j["id"]})
    assert lc_join(conn, j["id"])["exitcode"] == -9


def test_job_exits_leaving_orphan(procd, conn, tmp_path):
    script = lc_write_script(tmp_path / "orphan.sh", ORPHAN)
    f, go = tmp_path / "orphan", tmp_path / "go"
    j = lc_start(conn, [script, str(f), str(go), "5"])
    try:
        r = lc_join(conn, j["id"], rpc_timeout=20)
        assert r["exitcode"] == 5
        orphan = int(f.read_text())
        st = lc_proc_stat(orphan)
        assert st is None or st["ppid"] == procd.pid, st
    finally:
        go.write_text("")
    wait_until(lambda: lc_proc_stat(orphan) is None, 10)
    wait_until(lambda: lc_zombies_of(procd.pid) == [], 5)
    # procd did not take the orphan's exit for a job's.
    assert [x["id"] for x in conn.call("list")] == [j["id"]]
    assert lc_status(conn, j["id"])["exitcode"] == 5


def test_many_exits_no_zombies(procd, conn):
    ids = [lc_start(conn, ["sh", "-c", "(sleep 0.1 &); exit 0"])["id"] for _ in range(20)]
    for i in ids:
        assert lc_join(conn, i)["exitcode"] == 0
    wait_until(lambda: lc_zombies_of(procd.pid) == [], 10)
    assert conn.call("info")["jobs"]["exited"] == 20


# --- a worker's own subprocesses stop with it ---

@pytest.mark.parametrize("method,code", [("terminate", -15), ("kill", -9)])
def test_subprocesses_stopped_with_worker(procd, conn, method, code):
    j = lc_start(conn, ["sh", "-c", "sleep 100 & sleep 100 & wait"])
    wait_until(lambda: len(lc_group_pids(j["pid"])) == 3, 10)
    pids = lc_group_pids(j["pid"])
    conn.call(method, {"job": j["id"]})
    assert lc_join(conn, j["id"])["exitcode"] == code
    try:
        wait_until(lambda: not any(pid_alive(p) for p in pids), 10)
    finally:
        left = [p for p in pids if pid_alive(p)]
        conftest.lc_kill_quietly(left)
    assert not left, "survivors: %r" % left
    wait_until(lambda: lc_zombies_of(procd.pid) == [], 10)


def test_subprocesses_stopped_on_teardown(procd, conn):
    p = lc_start(conn, ["sleep", "30"])
    d = lc_start(conn, ["sh", "-c", "sleep 100 & sleep 100 & wait"], parent=p["id"], daemon=True)
    wait_until(lambda: len(lc_group_pids(d["pid"])) == 3, 10)
    pids = lc_group_pids(d["pid"])
    conn.call("kill", {"job": p["id"]})
    assert lc_join(conn, p["id"])["state"] == "exited"
    assert lc_status(conn, d["id"])["exitcode"] == -15
    try:
        wait_until(lambda: not any(pid_alive(x) for x in pids), 10)
    finally:
        left = [x for x in pids if pid_alive(x)]
        conftest.lc_kill_quietly(left)
    assert not left, "survivors: %r" % left


def _nofile(pid):
    with open("/proc/%d/limits" % pid) as f:
        for line in f:
            if line.startswith("Max open files"):
                return tuple(int(x) for x in line.split()[3:5])
    raise AssertionError("no open files limit for %d" % pid)


def test_open_file_limit_raised_for_procd_not_workers(tmp_path, srv_spawn):
    """procd raises its soft limit on open files to the hard one; workers
    get the limit procd was started with (select(2) needs low fds)."""
    sock = str(tmp_path / "s")
    p = srv_spawn(str(tmp_path), ["prlimit", "--nofile=1024:8192",
                                  conftest.PROCD, "--socket", sock])
    conftest.wait_for_socket(sock, p.proc, 20)
    c = conftest.Conn(sock)
    assert _nofile(p.pid) == (8192, 8192)
    for params in ({}, {"kill_mode": "tree"}):
        if params and not c.call("info")["cgroups"]:
            continue
        j = conftest.lc_start(c, ["sleep", "300"], **params)
        assert _nofile(j["pid"]) == (1024, 8192), params
        c.call("kill", {"job": j["id"]})
        lc_join(c, j["id"])
    c.close()
    assert p.stop() == 0, p.stderr_text()


def test_spawner_workers_start_clean(procd_factory, monkeypatch, tmp_path):
    """Workers made by spawners (starts pipelined: procd(8), --spawners),
    from a procd started with signals ignored and blocked and fds left
    open, start in the same state as those procd makes itself."""
    d = wrapped_procd(procd_factory, monkeypatch, tmp_path,
                      {"LC_WRAP_IGN": "1 3 12 13", "LC_WRAP_BLOCK": "10 28",
                       "LC_WRAP_FDS": "5 9 63"})
    c = d.connect()
    n = 8
    c.send_raw("".join(json.dumps({"jsonrpc": "2.0", "id": i, "method": "start",
                                   "params": {"argv": ["sleep", "30"]}}) + "\n"
                       for i in range(1, n + 1)))
    pids = [c.response(i)["result"]["pid"] for i in range(1, n + 1)]
    for pid in pids:
        check_worker(pid, d.pid)
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    assert d.stop() == 0
