# SPDX-License-Identifier: ISC
# join, terminate, kill, signal, close, status, list, info (procd-protocol(7))
# over the real socket.
import json
import os
import signal
import time

import pytest

from conftest import (LC_PY, LC_STATES, LC_TIME_RE, lc_check_job, lc_err,
                      lc_group_pids, lc_join, lc_start, lc_start_term_ignoring,
                      lc_status, lc_wait_state, pid_alive, wait_until)

CLOSE_RUNNING = "job is still running; join or terminate it first"

# Records each signal it gets (HUP, USR1, USR2, WINCH) as a line in
# argv[1]; with argv[2], first starts a copy of itself (same process group)
# that records into argv[2]. Creates argv[1] + ".ready" once set up.
SIGREC = r"""
import os, signal, subprocess, sys, time
out = sys.argv[1]
child = None
if len(sys.argv) > 3:
    child = subprocess.Popen([sys.executable, "-c", sys.argv[-1], sys.argv[2], sys.argv[-1]])
else:
    # the copy: do not outlive the worker, whatever a test does
    import ctypes
    ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
def h(n, f):
    with open(out, "a") as fp:
        fp.write("%d\n" % n)
for s in (signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2, signal.SIGWINCH):
    signal.signal(s, h)
open(out + ".ready", "w").close()
while True:
    time.sleep(1)
"""


def sigrec_argv(out, child_out=None):
    # the code is passed again as the last argument so the copy can run it
    a = [LC_PY, "-c", SIGREC, str(out)]
    if child_out is not None:
        a.append(str(child_out))
    return a + [SIGREC]


def read_signals(path):
    try:
        with open(str(path)) as f:
            return [int(x) for x in f.read().split()]
    except FileNotFoundError:
        return []


def start_sigrec(conn, tmp_path, child=False):
    out = tmp_path / "sig.out"
    cout = tmp_path / "child.out" if child else None
    j = lc_start(conn, sigrec_argv(out, cout))
    wait_until(lambda: os.path.exists(str(out) + ".ready"), 15)
    if child:
        wait_until(lambda: os.path.exists(str(cout) + ".ready"), 15)
    return j, out, cout


# --- join ---

def test_join_returns_exitcode(conn):
    j = lc_start(conn, ["sh", "-c", "sleep 0.2; exit 3"])
    r = lc_join(conn, j["id"])
    lc_check_job(r)
    assert r["state"] == "exited"
    assert r["exitcode"] == 3
    assert not r.get("timed_out")


def test_join_exitcode_of_signal_is_negative(conn):
    j = lc_start(conn, ["sh", "-c", "kill -9 $$"])
    assert lc_join(conn, j["id"])["exitcode"] == -9
    j = lc_start(conn, ["sh", "-c", "kill -USR1 $$"])
    assert lc_join(conn, j["id"])["exitcode"] == -signal.SIGUSR1


def test_join_exit_status_range(conn):
    for code in (0, 1, 255):
        j = lc_start(conn, ["sh", "-c", "exit %d" % code])
        assert lc_join(conn, j["id"])["exitcode"] == code


def test_join_timeout(conn):
    j = lc_start(conn, ["sleep", "30"])
    t0 = time.monotonic()
    r = lc_join(conn, j["id"], timeout=0.3)
    assert time.monotonic() - t0 >= 0.25
    assert r["timed_out"] is True
    assert r["state"] == "running"
    assert r["exitcode"] is None
    assert r["id"] == j["id"]
    conn.call("kill", {"job": j["id"]})


def test_join_timeout_zero(conn):
    j = lc_start(conn, ["sleep", "30"])
    r = lc_join(conn, j["id"], timeout=0, rpc_timeout=5)
    assert r["timed_out"] is True
    assert r["state"] == "running"
    conn.call("kill", {"job": j["id"]})
    r = lc_join(conn, j["id"])
    assert r["state"] == "exited" and not r.get("timed_out")
    # On an exited job, timeout 0 returns the job, not timed out.
    r = lc_join(conn, j["id"], timeout=0)
    assert r["state"] == "exited" and r["exitcode"] == -9
    assert not r.get("timed_out")


def test_join_timeout_null_means_no_limit(conn):
    j = lc_start(conn, ["sh", "-c", "sleep 0.3"])
    r = conn.call("join", {"job": j["id"], "timeout": None}, timeout=20)
    assert r["state"] == "exited" and r["exitcode"] == 0


@pytest.mark.parametrize("val", [-1, -0.001, "1", True, [], {}], ids=lambda v: json.dumps(v))
def test_join_bad_timeout(conn, val):
    j = lc_start(conn, ["sleep", "30"])
    e = lc_err(conn, "join", {"job": j["id"], "timeout": val})
    assert e["code"] == -32602, e
    conn.call("kill", {"job": j["id"]})


def test_join_unknown_job(conn):
    assert lc_err(conn, "join", {"job": 99})["code"] == -32001
    assert lc_err(conn, "join", {"job": "nope"})["code"] == -32001
    assert lc_err(conn, "join", {"job": "nope", "timeout": 1})["code"] == -32001


def test_many_joins_on_one_job(procd, conn):
    j = lc_start(conn, ["sleep", "30"])
    others = [procd.connect() for _ in range(3)]
    ids = []
    for c in [conn] + others:
        ids.append((c, c.request("join", {"job": j["id"]})))
        ids.append((c, c.request("join", {"job": j["name"]})))
    timed = conn.request("join", {"job": j["id"], "timeout": 0.2})
    r = conn.response(timed)
    assert r["result"]["timed_out"] is True
    # Other requests are answered while the joins wait.
    assert lc_status(conn, j["id"])["state"] == "running"
    for c in others:
        assert c.call("info")["pid"] == procd.pid
    conn.call("terminate", {"job": j["id"]})
    for c, i in ids:
        r = c.response(i, timeout=15)
        assert r["result"]["state"] == "exited", r
        assert r["result"]["exitcode"] == -15, r
        assert not r["result"].get("timed_out")


# --- terminate and kill ---

def test_terminate_stopping_then_exited(conn):
    j = lc_start(conn, ["sleep", "30"])
    r = conn.call("terminate", {"job": j["id"]})
    lc_check_job(r)
    assert r["state"] in ("stopping", "exited"), r
    r = lc_join(conn, j["id"])
    assert r["state"] == "exited"
    assert r["exitcode"] == -15


def test_terminate_escalates_to_sigkill(conn, tmp_path):
    j = lc_start_term_ignoring(conn, tmp_path / "ready", stop_timeout=0.5)
    t0 = time.monotonic()
    r = conn.call("terminate", {"job": j["id"]})
    assert r["state"] == "stopping", r
    # Still alive, and stopping, during the grace period.
    s = lc_status(conn, j["id"])
    if time.monotonic() - t0 < 0.4:
        assert s["state"] == "stopping", s
    r = lc_join(conn, j["id"], rpc_timeout=15)
    took = time.monotonic() - t0
    assert r["exitcode"] == -9, r
    assert took >= 0.45, took
    assert took < 8, took


def test_escalation_on_sh_with_sleep_child(conn, tmp_path):
    # The literal case: sh ignoring TERM with a sleep child (same group).
    ready = tmp_path / "ready"
    j = lc_start(conn, ["sh", "-c", 'trap "" TERM; : > "$1"; sleep 30; exit 0', "sh", str(ready)],
                 stop_timeout=0.5)
    wait_until(lambda: ready.exists(), 10)
    wait_until(lambda: len(lc_group_pids(j["pid"])) == 2, 10)
    pids = lc_group_pids(j["pid"])
    conn.call("terminate", {"job": j["id"]})
    r = lc_join(conn, j["id"], rpc_timeout=15)
    assert r["exitcode"] == -9, r
    wait_until(lambda: not any(pid_alive(p) for p in pids), 10)


def test_second_terminate_keeps_the_deadline(conn, tmp_path):
    j = lc_start_term_ignoring(conn, tmp_path / "ready", stop_timeout=4)
    t0 = time.monotonic()
    conn.call("terminate", {"job": j["id"]})
    time.sleep(3.0)
    r = conn.call("terminate", {"job": j["id"]})
    assert r["state"] == "stopping", r
    r = lc_join(conn, j["id"], rpc_timeout=20)
    took = time.monotonic() - t0
    assert r["exitcode"] == -9, r
    # First deadline: ~4 s. A restarted one would be ~7 s.
    assert 3.5 <= took < 6.2, took


def test_terminate_exited_job_is_no_error(conn):
    j = lc_start(conn, ["true"])
    lc_join(conn, j["id"])
    r = conn.call("terminate", {"job": j["id"]})
    assert r["state"] == "exited" and r["exitcode"] == 0
    r = conn.call("terminate", {"job": j["id"], "recursive": True})
    assert r["state"] == "exited" and r["exitcode"] == 0
    r = conn.call("kill", {"job": j["id"]})
    assert r["state"] == "exited" and r["exitcode"] == 0


def test_kill(conn, tmp_path):
    j = lc_start(conn, ["sleep", "30"])
    r = conn.call("kill", {"job": j["id"]})
    assert r["state"] in ("stopping", "exited"), r
    assert lc_join(conn, j["id"])["exitcode"] == -9
    # Immediate, even for a worker that ignores TERM with a long stop_timeout.
    k = lc_start_term_ignoring(conn, tmp_path / "ready", stop_timeout=30)
    t0 = time.monotonic()
    conn.call("kill", {"job": k["id"]})
    assert lc_join(conn, k["id"])["exitcode"] == -9
    assert time.monotonic() - t0 < 10


def test_kill_after_terminate(conn, tmp_path):
    j = lc_start_term_ignoring(conn, tmp_path / "ready", stop_timeout=30)
    conn.call("terminate", {"job": j["id"]})
    assert lc_status(conn, j["id"])["state"] == "stopping"
    t0 = time.monotonic()
    conn.call("kill", {"job": j["id"]})
    assert lc_join(conn, j["id"])["exitcode"] == -9
    assert time.monotonic() - t0 < 10


@pytest.mark.parametrize("method,code", [("terminate", -15), ("kill", -9)])
def test_recursive_reaches_descendants(conn, method, code):
    p = lc_start(conn, ["sleep", "30"])
    c1 = lc_start(conn, ["sleep", "30"], parent=p["id"])
    c2 = lc_start(conn, ["sleep", "30"], parent=p["id"], daemon=True)
    g = lc_start(conn, ["sleep", "30"], parent=c1["id"])
    conn.call(method, {"job": p["id"], "recursive": True})
    r = lc_join(conn, p["id"], rpc_timeout=20)
    assert r["state"] == "exited" and r["exitcode"] == code
    for j in (c1, c2, g):
        s = lc_status(conn, j["id"])
        assert s["state"] == "exited" and s["exitcode"] == code, s


def test_nonrecursive_terminate_leaves_non_daemon_children(conn):
    p = lc_start(conn, ["sleep", "30"])
    c = lc_start(conn, ["sleep", "30"], parent=p["id"])
    conn.call("terminate", {"job": p["id"]})
    s = lc_wait_state(conn, p["id"], "waiting")
    assert s["exitcode"] == -15
    assert lc_status(conn, c["id"])["state"] == "running"
    conn.call("terminate", {"job": c["id"]})
    assert lc_join(conn, p["id"])["state"] == "exited"


def test_terminate_right_after_start_is_never_lost(conn):
    ids = []
    for i in range(30):
        j = conn.call("start", {"argv": ["sleep", "30"]})
        conn.call("terminate", {"job": j["id"]})
        ids.append(j["id"])
    bad = []
    for i in ids:
        r = lc_join(conn, i, timeout=10, rpc_timeout=20)
        if r["exitcode"] != -15:
            bad.append(r)
            conn.call("kill", {"job": i})
    assert not bad, "%d of 30 terminates lost: %r" % (len(bad), bad[:3])


def test_kill_right_after_start_is_never_lost(conn):
    ids = []
    for i in range(20):
        j = conn.call("start", {"argv": ["sleep", "30"]})
        conn.call("kill", {"job": j["id"]})
        ids.append(j["id"])
    for i in ids:
        r = lc_join(conn, i, timeout=10, rpc_timeout=20)
        assert r["exitcode"] == -9, r


@pytest.mark.parametrize("method", ["terminate", "kill"])
@pytest.mark.parametrize("val", ["yes", 1, [], {}], ids=lambda v: json.dumps(v))
def test_recursive_must_be_bool(conn, method, val):
    j = lc_start(conn, ["sleep", "30"])
    e = lc_err(conn, method, {"job": j["id"], "recursive": val})
    assert e["code"] == -32602, e
    assert lc_status(conn, j["id"])["state"] == "running"
    conn.call("kill", {"job": j["id"]})


# --- signal ---

def test_signal_by_number_and_name(conn, tmp_path):
    j, out, _ = start_sigrec(conn, tmp_path)
    expect = []
    for sig, num in [(1, 1), ("HUP", 1), ("SIGUSR1", 10), ("usr1", 10), ("sigusr2", 12),
                     ("Usr2", 12), ("SiGhUp", 1), (28, 28), ("WINCH", 28)]:
        r = conn.call("signal", {"job": j["id"], "signal": sig})
        assert r["state"] == "running", (sig, r)
        assert r["id"] == j["id"]
        expect.append(num)
        try:
            wait_until(lambda: read_signals(out) == expect, 10)
        except TimeoutError:
            raise AssertionError("after %r got %r, want %r" % (sig, read_signals(out), expect))
    assert lc_status(conn, j["id"])["state"] == "running"
    conn.call("terminate", {"job": j["id"]})
    assert lc_join(conn, j["id"])["exitcode"] == -15


# Signals whose default action does not end a sleep.
SIG_NOT_FATAL = {signal.SIGCHLD, signal.SIGCONT, signal.SIGURG, signal.SIGWINCH,
                 signal.SIGSTOP, signal.SIGTSTP, signal.SIGTTIN, signal.SIGTTOU}


def test_signal_every_name_python_knows(conn):
    """Every name of Python's signal module (aliases such as SIGIO, SIGPOLL,
    SIGCLD and SIGIOT too), with and without SIG, names its number."""
    names = [n for n in signal.Signals.__members__ if n.startswith("SIG")
             and not n.startswith("SIG_")]
    assert "SIGIO" in names and "SIGPOLL" in names
    jobs = []
    for name in names:
        num = signal.Signals.__members__[name].value
        for given in (name, name[3:].lower()):
            if num in SIG_NOT_FATAL:
                j = lc_start(conn, ["sleep", "30"])
                conn.call("signal", {"job": j["id"], "signal": given})
                conn.call("kill", {"job": j["id"]})
                jobs.append((j, given, -9))
            else:
                j = lc_start(conn, ["sleep", "30"])
                conn.call("signal", {"job": j["id"], "signal": given})
                jobs.append((j, given, -num))
    for j, given, code in jobs:
        assert lc_join(conn, j["id"])["exitcode"] == code, given


def test_signal_kills_but_state_reflects_exit_only(conn):
    j = lc_start(conn, ["sleep", "30"])
    r = conn.call("signal", {"job": j["id"], "signal": "KILL"})
    assert r["state"] == "running", r
    assert lc_join(conn, j["id"])["exitcode"] == -9
    j = lc_start(conn, ["sleep", "30"])
    r = conn.call("signal", {"job": j["id"], "signal": 64})
    assert r["state"] == "running", r
    assert lc_join(conn, j["id"])["exitcode"] == -64


@pytest.mark.parametrize("sig", [0, 65, -1, 1.5, "NOPE", "SIG", "", "SIGFOO", "9x",
                                 True, None, [], {}], ids=lambda v: json.dumps(v))
def test_signal_unknown(conn, sig):
    j = lc_start(conn, ["sleep", "30"])
    p = {"job": j["id"]}
    if sig is not None:
        p["signal"] = sig
    e = lc_err(conn, "signal", p)
    assert e["code"] == -32602, e
    assert lc_status(conn, j["id"])["state"] == "running"
    conn.call("kill", {"job": j["id"]})


def test_signal_group(conn, tmp_path):
    j, out, cout = start_sigrec(conn, tmp_path, child=True)
    conn.call("signal", {"job": j["id"], "signal": "USR1"})
    wait_until(lambda: read_signals(out) == [10], 10)
    time.sleep(0.3)
    assert read_signals(cout) == [], "group false reached the worker's subprocess"
    conn.call("signal", {"job": j["id"], "signal": "USR2", "group": True})
    wait_until(lambda: read_signals(out) == [10, 12], 10)
    wait_until(lambda: read_signals(cout) == [12], 10)
    r = conn.call("signal", {"job": j["id"], "signal": "HUP", "group": False})
    wait_until(lambda: read_signals(out) == [10, 12, 1], 10)
    assert r["state"] == "running"
    e = lc_err(conn, "signal", {"job": j["id"], "signal": "HUP", "group": "yes"})
    assert e["code"] == -32602
    conn.call("terminate", {"job": j["id"]})
    assert lc_join(conn, j["id"])["exitcode"] == -15


def test_signal_exited_job_is_no_error(conn):
    j = lc_start(conn, ["true"])
    lc_join(conn, j["id"])
    r = conn.call("signal", {"job": j["id"], "signal": "TERM"})
    assert r["state"] == "exited" and r["exitcode"] == 0
    r = conn.call("signal", {"job": j["id"], "signal": 9, "group": True})
    assert r["state"] == "exited" and r["exitcode"] == 0


def test_signal_unknown_job(conn):
    assert lc_err(conn, "signal", {"job": 7, "signal": "HUP"})["code"] == -32001


# --- close ---

def test_close_exited(conn):
    j = lc_start(conn, ["sh", "-c", "exit 4"], name="closeme")
    lc_join(conn, j["id"])
    r = conn.call("close", {"job": "closeme"})
    lc_check_job(r)
    assert r["id"] == j["id"] and r["state"] == "exited" and r["exitcode"] == 4
    for m in ("status", "close", "join"):
        assert lc_err(conn, m, {"job": j["id"]})["code"] == -32001, m
        assert lc_err(conn, m, {"job": "closeme"})["code"] == -32001, m
    assert conn.call("list") == []


def test_close_running_refused(conn, tmp_path):
    j = lc_start(conn, ["sleep", "30"])
    e = lc_err(conn, "close", {"job": j["id"]})
    assert e["code"] == -32002
    assert e["message"] == CLOSE_RUNNING
    # stopping too
    k = lc_start_term_ignoring(conn, tmp_path / "ready", stop_timeout=3)
    conn.call("terminate", {"job": k["id"]})
    e = lc_err(conn, "close", {"job": k["id"]})
    assert e["code"] == -32002 and e["message"] == CLOSE_RUNNING
    assert lc_status(conn, j["id"])["state"] == "running"
    conn.call("kill", {"job": j["id"]})
    conn.call("kill", {"job": k["id"]})
    lc_join(conn, j["id"])
    lc_join(conn, k["id"])
    conn.call("close", {"job": j["id"]})
    conn.call("close", {"job": k["id"]})


def test_close_unknown(conn):
    assert lc_err(conn, "close", {"job": 1})["code"] == -32001
    assert lc_err(conn, "close", {"job": "x"})["code"] == -32001


# --- param validation common to job methods ---

JOB_METHODS = ["status", "join", "terminate", "kill", "close"]


@pytest.mark.parametrize("method", JOB_METHODS + ["signal"])
def test_job_param_validation(conn, method):
    j = lc_start(conn, ["sleep", "30"])
    extra = {"signal": "HUP"} if method == "signal" else {}

    def p(**kw):
        d = dict(extra)
        d.update(kw)
        return d
    assert lc_err(conn, method, p())["code"] == -32602
    assert lc_err(conn, method, p(job=None))["code"] == -32602
    for bad in (True, 1.5, [1], {"id": 1}):
        assert lc_err(conn, method, p(job=bad))["code"] == -32602, bad
    assert lc_err(conn, method, p(job=j["id"], bogus=1))["code"] == -32602
    assert lc_err(conn, method, p(job=j["id"] + 100))["code"] == -32001
    assert lc_err(conn, method, p(job="no-such-job"))["code"] == -32001
    assert lc_status(conn, j["id"])["state"] == "running"
    conn.call("kill", {"job": j["id"]})


# --- status ---

def test_status_by_id_and_name(procd, conn):
    a = lc_start(conn, ["sleep", "30"], name="alpha")
    b = lc_start(conn, ["sleep", "30"])
    assert lc_check_job(lc_status(conn, "alpha"), procd.pid)["id"] == a["id"]
    assert lc_status(conn, a["id"])["name"] == "alpha"
    assert lc_status(conn, b["name"])["id"] == b["id"]
    # another connection sees the same table
    c2 = procd.connect()
    assert c2.call("status", {"job": "alpha"})["pid"] == a["pid"]
    for j in (a, b):
        conn.call("kill", {"job": j["id"]})


# --- list ---

def test_list_empty_and_ordered(procd, conn):
    assert conn.call("list") == []
    names = ["zeta", "alpha", "mid", "b"]
    ids = [lc_start(conn, ["sleep", "30"], name=n)["id"] for n in names]
    r = conn.call("list")
    assert [j["id"] for j in r] == sorted(ids)
    assert [j["name"] for j in r] == names
    for j in r:
        lc_check_job(j, procd.pid)
    assert conn.call("list", {}) == conn.call("list")
    for i in ids:
        conn.call("kill", {"job": i})


def test_list_state_filter(conn, tmp_path):
    run = lc_start(conn, ["sleep", "30"])
    ex = lc_start(conn, ["true"])
    lc_join(conn, ex["id"])
    stop = lc_start_term_ignoring(conn, tmp_path / "ready", stop_timeout=5)
    conn.call("terminate", {"job": stop["id"]})
    par = lc_start(conn, ["sleep", "30"])
    kid = lc_start(conn, ["sleep", "30"], parent=par["id"])
    conn.call("signal", {"job": par["id"], "signal": "KILL"})
    lc_wait_state(conn, par["id"], "waiting")

    def ids(**p):
        return [j["id"] for j in conn.call("list", p)]
    assert ids(state="running") == [run["id"], kid["id"]]
    assert ids(state="exited") == [ex["id"]]
    assert ids(state="stopping") == [stop["id"]]
    assert ids(state="waiting") == [par["id"]]
    assert ids(state=["exited", "running"]) == [run["id"], ex["id"], kid["id"]]
    assert ids(state=["waiting"]) == [par["id"]]
    assert ids(state=list(LC_STATES)) == sorted(
        [run["id"], ex["id"], stop["id"], par["id"], kid["id"]])
    assert ids(state=None) == ids()
    for bad in ("dead", "", ["running", "bogus"], 5, True, [1], {"a": 1}):
        e = lc_err(conn, "list", {"state": bad})
        assert e["code"] == -32602, (bad, e)
    conn.call("kill", {"job": stop["id"]})
    conn.call("kill", {"job": kid["id"]})
    conn.call("kill", {"job": run["id"]})


def test_list_parent_filter(conn):
    p = lc_start(conn, ["sleep", "30"], name="p")
    q = lc_start(conn, ["sleep", "30"])
    c1 = lc_start(conn, ["sleep", "30"], parent="p")
    c2 = lc_start(conn, ["sleep", "30"], parent=p["id"], daemon=True)
    g = lc_start(conn, ["sleep", "30"], parent=c1["id"])

    def ids(**pp):
        return [j["id"] for j in conn.call("list", pp)]
    assert ids(parent=p["id"]) == [c1["id"], c2["id"]]
    assert ids(parent="p") == [c1["id"], c2["id"]]
    assert ids(parent=c1["id"]) == [g["id"]]
    assert ids(parent=q["id"]) == []
    assert ids(parent=p["id"], state="running") == [c1["id"], c2["id"]]
    assert ids(parent=p["id"], state="exited") == []
    assert ids(parent=None) == ids()
    assert lc_err(conn, "list", {"parent": 999})["code"] == -32001
    assert lc_err(conn, "list", {"parent": "nobody"})["code"] == -32001
    assert lc_err(conn, "list", {"parent": True})["code"] == -32602
    assert lc_err(conn, "list", {"bogus": 1})["code"] == -32602
    conn.call("kill", {"job": p["id"], "recursive": True})
    conn.call("kill", {"job": q["id"]})
    lc_join(conn, p["id"])


# --- info ---

def test_info(procd, conn, tmp_path):
    i = conn.call("info")
    assert isinstance(i["version"], str) and i["version"]
    assert i["pid"] == procd.pid and type(i["pid"]) is int
    assert i["uid"] == os.getuid() and type(i["uid"]) is int
    assert LC_TIME_RE.match(i["started_at"]), i
    assert i["socket"] == procd.sock
    assert i["jobs"] == {s: 0 for s in LC_STATES}, i
    assert conn.call("info", {})["pid"] == procd.pid

    run = lc_start(conn, ["sleep", "30"])
    ex = lc_start(conn, ["true"])
    lc_join(conn, ex["id"])
    ex2 = lc_start(conn, ["true"])
    lc_join(conn, ex2["id"])
    stop = lc_start_term_ignoring(conn, tmp_path / "ready", stop_timeout=5)
    conn.call("terminate", {"job": stop["id"]})
    par = lc_start(conn, ["sleep", "30"])
    kid = lc_start(conn, ["sleep", "30"], parent=par["id"])
    conn.call("signal", {"job": par["id"], "signal": "KILL"})
    lc_wait_state(conn, par["id"], "waiting")
    jobs = conn.call("info")["jobs"]
    assert jobs == {"running": 2, "stopping": 1, "restarting": 0,
                    "waiting": 1, "exited": 2}, jobs
    conn.call("close", {"job": ex["id"]})
    assert conn.call("info")["jobs"]["exited"] == 1
    for j in (stop, kid, run):
        conn.call("kill", {"job": j["id"]})
    lc_join(conn, par["id"])
    lc_join(conn, stop["id"])
    lc_join(conn, run["id"])
    jobs = conn.call("info")["jobs"]
    assert jobs == {"running": 0, "stopping": 0, "restarting": 0, "waiting": 0,
                    "exited": 5}, jobs
    assert lc_err(conn, "info", {"bogus": 1})["code"] == -32602


def test_unknown_method(conn):
    e = lc_err(conn, "frobnicate", {})
    assert e["code"] == -32601
