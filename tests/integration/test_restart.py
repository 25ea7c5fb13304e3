# SPDX-License-Identifier: ISC
# Restart policies (procd-protocol(7), version 1.1 section 10 and the
# clarifications of section 15): the start params restart, restart_delay,
# restart_max_delay and restart_limit; the state restarting; the fields
# restart, restarts, restart_at and error; delays that double; terminate and
# kill on restartable jobs; the daemon-child rule at every exit; exec
# failures at a restart; the events; procd's own stop; a restart storm.
#
# Not tested here: that a process which ran for 10 seconds or more sets the
# delay back to restart_delay (too slow for this suite).
import datetime
import os
import signal
import threading
import time

import pytest

from conftest import (LC_STATES, LC_TIME_RE, lc_check_job, lc_err, lc_join, lc_start,
                      lc_status, lc_wait_state, lc_write_script, pid_alive,
                      wait_until,
                      lg_events_until, lg_subscribe,
                      lc_wait_job)

RS_STATES = ("running", "stopping", "restarting", "waiting", "exited")
RS_EVENTS = ("started", "stopping", "restarting", "waiting", "exited", "closed", "ready")
RS_FIELDS = ("restart", "restarts", "restart_at", "error", "ready", "status_text",
             "kill_mode")


# --- helpers ---

def rs_check_job(j, procd_pid=None):
    """Every field of the job object, version 1.1's restart fields included,
    with its type; a restarting job is checked as one whose process has
    exited (exitcode, exited_at and usage of the last process). None of the
    jobs here use notify or kill_mode."""
    assert isinstance(j, dict), j
    assert j.get("state") in RS_STATES, j
    if j["state"] in LC_STATES:
        lc_check_job(j, procd_pid)
    else:   # a conftest that predates the state: check it as waiting
        lc_check_job(dict(j, state="waiting", restart_at=None), procd_pid)
    if j["state"] == "restarting":
        assert j["exitcode"] is not None and j["exited_at"] is not None, j
        assert isinstance(j["usage"], dict), j
    missing = [k for k in RS_FIELDS if k not in j]
    assert not missing, "job object lacks %s: %r" % (missing, j)
    assert j["restart"] in ("no", "on-failure", "always"), j
    assert type(j["restarts"]) is int and j["restarts"] >= 0, j
    if j["state"] == "restarting":
        assert isinstance(j["restart_at"], str) and LC_TIME_RE.match(j["restart_at"]), j
        assert j["restart"] != "no", j
    else:
        assert j["restart_at"] is None, "restart_at must be null unless restarting: %r" % (j,)
    assert j["error"] is None or (isinstance(j["error"], str) and j["error"]), j
    assert j["ready"] is None, "ready is null for jobs without notify: %r" % (j,)
    assert j["status_text"] is None, j
    assert j["kill_mode"] == "group", j
    return j


def ts(s):
    """An RFC 3339 time of procd's (UTC, milliseconds) as a POSIX time."""
    return datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=datetime.timezone.utc).timestamp()


# The subscribe response must come first; see conftest.
subscribe = lg_subscribe


def rs_event(m, sub=None):
    """Assert m is an event notification (restarting allowed); returns params."""
    assert isinstance(m, dict), m
    assert set(m) == {"jsonrpc", "method", "params"}, m
    assert m["jsonrpc"] == "2.0" and m["method"] == "event", m
    p = m["params"]
    assert set(p) == {"subscription", "seq", "event", "job"}, m
    assert type(p["seq"]) is int and p["seq"] >= 1, m
    if sub is not None:
        assert p["subscription"] == sub, m
    assert p["event"] in RS_EVENTS, m
    rs_check_job(p["job"])
    return p


def rs_events_until(conn, pred, sub=None, timeout=15.0):
    """Events read from conn until pred(params) is true (inclusive)."""
    return lg_events_until(conn, pred, sub, timeout, check=rs_event)


def job_event(job_id, event):
    return lambda e: e["job"]["id"] == job_id and e["event"] == event


def counting_argv(counter, code=0, then=None):
    """A worker that appends a line to the file counter at each run, then
    exits with code; with then (a shell command), runs that instead from
    the run numbered then[0] on: then = (n, "exec sleep 30")."""
    script = 'echo x >> "$1"; '
    if then is not None:
        script += '[ "$(wc -l < "$1")" -ge %d ] && %s; ' % then
    script += "exit %d" % code
    return ["sh", "-c", script, "sh", str(counter)]


def runs(counter):
    try:
        with open(str(counter)) as f:
            return len(f.read().splitlines())
    except FileNotFoundError:
        return 0


def wait_runs(counter, n):
    """Wait until the worker of counting_argv has started its run n."""
    try:
        wait_until(lambda: runs(counter) >= n)
    except TimeoutError:
        raise AssertionError("run %d never began: %d runs" % (n, runs(counter)))


def touch(path):
    with open(str(path), "w"):
        pass


def wait_file_argv(path, code=0):
    """A worker that exits with code once the file path exists."""
    return ["sh", "-c", 'while [ ! -e "$1" ]; do sleep 0.02; done; exit %d' % code,
            "sh", str(path)]


wait_pred = lc_wait_job



def assert_no_jobs(conn):
    assert conn.call("list") == []


# --- start params ---

BAD_PARAMS = [
    {"restart": "yes"}, {"restart": "On-failure"}, {"restart": "on_failure"},
    {"restart": ""}, {"restart": "never"}, {"restart": 1}, {"restart": True},
    {"restart": ["always"]}, {"restart": {}},
    {"restart": "always", "restart_delay": -1},
    {"restart": "always", "restart_delay": -0.001},
    {"restart": "always", "restart_delay": "1"},
    {"restart": "always", "restart_delay": True},
    {"restart": "always", "restart_delay": []},
    {"restart": "always", "restart_max_delay": -1},
    {"restart": "always", "restart_max_delay": "60"},
    {"restart": "always", "restart_max_delay": False},
    {"restart": "always", "restart_delay": 2, "restart_max_delay": 1},
    {"restart": "on-failure", "restart_delay": 0.5, "restart_max_delay": 0.25},
    # restart_delay's default is 1 s: a smaller restart_max_delay is less
    {"restart": "always", "restart_max_delay": 0.5},
    {"restart": "always", "restart_limit": -1},
    {"restart": "always", "restart_limit": 1.5},
    {"restart": "always", "restart_limit": "3"},
    {"restart": "always", "restart_limit": True},
    {"restart": "always", "restart_limit": [3]},
    {"restart_limit": -1},
    {"restart_delay": -1},
]


def test_invalid_restart_params(conn):
    for extra in BAD_PARAMS:
        params = {"argv": ["true"]}
        params.update(extra)
        e = lc_err(conn, "start", params)
        assert e["code"] == -32602, (extra, e)
        if extra.get("restart") == "yes":
            assert "restart" in e["message"], e
    assert_no_jobs(conn)


def test_valid_restart_params_and_policy_no(conn, tmp_path):
    # restart "no" (given or by default) with delays and a limit: accepted,
    # no effect
    cnt = tmp_path / "no"
    a = lc_start(conn, counting_argv(cnt, 3), restart="no", restart_delay=0,
                 restart_max_delay=0, restart_limit=4)
    b = lc_start(conn, counting_argv(tmp_path / "dflt", 3), restart_delay=0.1,
                 restart_max_delay=0.2, restart_limit=2)
    c = lc_start(conn, counting_argv(tmp_path / "null", 3), restart=None,
                 restart_delay=None, restart_max_delay=None, restart_limit=None)
    # without a policy they are not checked against each other either
    g = lc_start(conn, counting_argv(tmp_path / "loose", 3), restart="no",
                 restart_delay=5, restart_max_delay=1)
    h = lc_start(conn, counting_argv(tmp_path / "loose2", 3),
                 restart_max_delay=0.5)
    for j in (a, b, c, g, h):
        rs_check_job(j)
        assert j["restart"] == "no" and j["restarts"] == 0, j
    # edge values of a real policy
    d = lc_start(conn, counting_argv(tmp_path / "zero", 3), restart="always",
                 restart_delay=0, restart_max_delay=0, restart_limit=0)
    e = lc_start(conn, ["sleep", "30"], restart="on-failure", restart_delay=0.25,
                 restart_max_delay=0.25, restart_limit=1000)
    f = lc_start(conn, ["sleep", "30"], restart="always", restart_delay=2.5)
    assert d["restart"] == "always" and e["restart"] == "on-failure" and f["restart"] == "always"
    for j in (a, b, c, d, g, h):
        r = rs_check_job(lc_join(conn, j["id"]))
        assert r["state"] == "exited" and r["exitcode"] == 3, r
        assert r["restarts"] == 0 and r["restart_at"] is None, r
    time.sleep(0.4)
    for name in ("no", "dflt", "null", "zero"):
        assert runs(tmp_path / name) == 1, name
    for j in (a, b, c, d):
        assert lc_status(conn, j["id"])["state"] == "exited"
    for j in (e, f):
        conn.call("kill", {"job": j["id"]})


# --- the job object ---

def test_new_fields_everywhere(procd, conn, tmp_path):
    ev = procd.connect()
    s = subscribe(ev)["subscription"]
    plain = lc_start(conn, ["sleep", "30"], name="plain")
    rs = lc_start(conn, ["sh", "-c", "exit 1"], restart="on-failure", restart_delay=0.1,
                  restart_limit=1, name="rs")
    objs = [plain, rs, lc_status(conn, "plain"), lc_status(conn, "rs")]
    objs += conn.call("list")
    rs_end = lc_join(conn, "rs")
    objs.append(rs_end)
    objs += conn.call("list", {"state": "exited"})
    objs.append(conn.call("terminate", {"job": "plain"}))
    objs.append(lc_join(conn, "plain"))
    objs.append(conn.call("close", {"job": "plain"}))
    for j in objs:
        rs_check_job(j, procd.pid)
        assert j["error"] is None, j
        if j["id"] == plain["id"]:
            assert j["restart"] == "no" and j["restarts"] == 0, j
        else:
            assert j["restart"] == "on-failure", j
    assert rs_end["state"] == "exited", rs_end
    assert rs_end["restarts"] == 1 and rs_end["exitcode"] == 1, rs_end
    evs = rs_events_until(ev, job_event(plain["id"], "closed"), s)
    assert {e["event"] for e in evs} >= {"started", "restarting", "exited", "closed"}, evs


# --- which exits are restarted ---

def test_policies_restart_which_exits(conn, tmp_path):
    kw = dict(restart_delay=0.1, restart_limit=2)
    cases = {   # name: (argv exit code, policy, restarts expected)
        "fail-onf": (3, "on-failure", 2),
        "ok-onf": (0, "on-failure", 0),
        "ok-always": (0, "always", 2),
        "fail-always": (7, "always", 2),
        "fail-no": (3, "no", 0),
    }
    for name, (code, policy, _) in cases.items():
        lc_start(conn, counting_argv(tmp_path / name, code), restart=policy, name=name, **kw)
    lc_start(conn, counting_argv(tmp_path / "fail-dflt", 3), name="fail-dflt")
    cases["fail-dflt"] = (3, "no", 0)
    # killed by a signal sent with signal: a failure
    sig = lc_start(conn, counting_argv(tmp_path / "sig", 0, (1, "exec sleep 30")),
                   restart="on-failure", restart_delay=0.1, restart_limit=1, name="sig")
    wait_runs(tmp_path / "sig", 1)
    for name, (code, policy, n) in cases.items():
        j = rs_check_job(lc_join(conn, name))
        assert j["state"] == "exited" and j["exitcode"] == code, j
        assert j["restart"] == policy and j["restarts"] == n, j
    conn.call("signal", {"job": "sig", "signal": "TERM"})
    j = wait_pred(conn, "sig", lambda j: j["state"] == "running" and j["pid"] != sig["pid"],
                  "restarted after SIGTERM from signal")
    assert j["restarts"] == 1 and j["exitcode"] is None, j
    wait_runs(tmp_path / "sig", 2)
    conn.call("signal", {"job": "sig", "signal": "SIGKILL"})
    j = rs_check_job(lc_join(conn, "sig"))
    assert j["state"] == "exited" and j["exitcode"] == -9 and j["restarts"] == 1, j
    time.sleep(0.5)
    for name, (code, policy, n) in cases.items():
        assert runs(tmp_path / name) == n + 1, name
    assert runs(tmp_path / "sig") == 2


def test_limit_join_waits_through_restarts_final_exitcode_last(conn, tmp_path):
    cnt = tmp_path / "cnt"
    # run k exits with 10 + k
    argv = ["sh", "-c", 'echo x >> "$1"; exit $((10 + $(wc -l < "$1")))', "sh", str(cnt)]
    j = lc_start(conn, argv, restart="on-failure", restart_delay=0.1, restart_limit=3)
    t0 = time.monotonic()
    r = rs_check_job(lc_join(conn, j["id"]))
    took = time.monotonic() - t0
    assert "timed_out" not in r, r
    assert r["state"] == "exited" and r["restarts"] == 3, r
    assert r["exitcode"] == 14, "final exitcode must be the last process's: %r" % (r,)
    assert runs(cnt) == 4
    assert took >= 0.9 * (0.1 + 0.2 + 0.4), took
    time.sleep(0.5)
    assert runs(cnt) == 4, "a process ran after the limit"
    r = lc_status(conn, j["id"])
    assert r["state"] == "exited" and r["restarts"] == 3, r
    # join with a timeout that passes while the job restarts
    k = lc_start(conn, ["sh", "-c", "exit 1"], restart="always", restart_delay=5)
    r = lc_join(conn, k["id"], timeout=0.3)
    assert r.get("timed_out") is True and r["state"] in ("running", "restarting"), r
    conn.call("kill", {"job": k["id"]})


# --- the restarting state ---

def test_restarting_state_fields(procd, conn, tmp_path):
    cnt = tmp_path / "cnt"
    j0 = lc_start(conn, counting_argv(cnt, 5, (2, "exec sleep 30")), restart="on-failure",
                  restart_delay=1.5, restart_limit=3)
    r = rs_check_job(lc_wait_state(conn, j0["id"], "restarting"), procd.pid)
    seen = time.time()
    assert r["pid"] == j0["pid"], r
    assert r["exitcode"] == 5, r
    assert r["started_at"] == j0["started_at"], r
    assert isinstance(r["usage"], dict) and isinstance(r["exited_at"], str), r
    assert r["restarts"] == 0, "no restart has happened yet: %r" % (r,)
    assert r["children"] == [], r
    exited = ts(r["exited_at"])
    at = ts(r["restart_at"])
    assert 1.5 * 0.9 <= at - exited <= 1.5 + 2.0, r
    # in the future, at most the delay away (procd's clock is this one)
    assert seen - 0.05 < at <= seen + 1.5 + 0.05, (r, seen)
    # the same while it lasts
    r2 = rs_check_job(lc_status(conn, j0["id"]))
    if r2["state"] == "restarting":
        assert r2["restart_at"] == r["restart_at"] and r2["exited_at"] == r["exited_at"], r2
    n = rs_check_job(lc_wait_state(conn, j0["id"], "running", 10), procd.pid)
    assert n["pid"] != j0["pid"] and pid_alive(n["pid"]), n
    assert n["exitcode"] is None and n["exited_at"] is None and n["usage"] is None, n
    assert n["restart_at"] is None and n["restarts"] == 1, n
    assert ts(n["started_at"]) >= exited + 1.5 * 0.9, (r, n)
    assert ts(n["started_at"]) >= at - 0.02, (r, n)
    wait_runs(cnt, 2)
    assert runs(cnt) == 2
    conn.call("kill", {"job": j0["id"]})
    f = rs_check_job(lc_join(conn, j0["id"]))
    assert f["state"] == "exited" and f["exitcode"] == -9 and f["restarts"] == 1, f
    assert f["pid"] == n["pid"] and f["started_at"] == n["started_at"], f


def test_info_and_list_count_restarting(conn):
    a = lc_start(conn, ["sh", "-c", "exit 1"], restart="always", restart_delay=30)
    b = lc_start(conn, ["sleep", "30"])
    lc_wait_state(conn, a["id"], "restarting")
    jobs = conn.call("info")["jobs"]
    assert jobs == {"running": 1, "stopping": 0, "restarting": 1, "waiting": 0,
                    "exited": 0}, jobs
    assert [j["id"] for j in conn.call("list", {"state": "restarting"})] == [a["id"]]
    assert [j["id"] for j in conn.call("list", {"state": ["restarting", "running"]})] == \
        [a["id"], b["id"]]
    assert [j["id"] for j in conn.call("list", {"state": ["running"]})] == [b["id"]]
    for j in conn.call("list"):
        rs_check_job(j)
    e = lc_err(conn, "list", {"state": "restart"})
    assert e["code"] == -32602, e
    conn.call("kill", {"job": a["id"]})
    conn.call("kill", {"job": b["id"]})
    lc_join(conn, a["id"])
    lc_join(conn, b["id"])
    jobs = conn.call("info")["jobs"]
    assert jobs == {"running": 0, "stopping": 0, "restarting": 0, "waiting": 0,
                    "exited": 2}, jobs


def test_delay_doubles_up_to_max(procd, conn):
    ev = procd.connect()
    s = subscribe(ev)["subscription"]
    j = lc_start(conn, ["true"], restart="always", restart_delay=0.2,
                 restart_max_delay=0.8, restart_limit=4)
    evs = rs_events_until(ev, job_event(j["id"], "exited"), s, timeout=30)
    evs = [e for e in evs if e["job"]["id"] == j["id"]]
    started = [ts(e["job"]["started_at"]) for e in evs if e["event"] == "started"]
    sched = [e["job"] for e in evs if e["event"] == "restarting"]
    assert len(started) == 5 and len(sched) == 4, [e["event"] for e in evs]
    expected = [0.2, 0.4, 0.8, 0.8]
    # the delay procd scheduled, on its own clock
    planned = [ts(x["restart_at"]) - ts(x["exited_at"]) for x in sched]
    for got, want in zip(planned, expected):
        assert got >= 0.9 * want and got <= want + 0.5, (planned, expected)
    # and the time that really passed between starts
    gaps = [b - a for a, b in zip(started, started[1:])]
    for got, want in zip(gaps, expected):
        assert got >= 0.9 * want, (gaps, expected)
    assert gaps[1] >= gaps[0] * 0.9 and gaps[2] >= gaps[1] * 0.9, gaps
    assert gaps[3] < 1.55, "the delay must stop doubling at restart_max_delay: %r" % (gaps,)
    for x, nxt in zip(sched, started[1:]):
        assert nxt >= ts(x["restart_at"]) - 0.02, (sched, started)


# --- terminate and kill ---

def test_terminate_kill_on_running_job_are_final(conn, tmp_path):
    kw = dict(restart="always", restart_delay=0.1)
    t = lc_start(conn, counting_argv(tmp_path / "t", 0, (1, "exec sleep 30")), **kw)
    k = lc_start(conn, counting_argv(tmp_path / "k", 0, (1, "exec sleep 30")), **kw)
    # one that has restarted once already
    r = lc_start(conn, counting_argv(tmp_path / "r", 0, (1, "exec sleep 30")),
                 restart="on-failure", restart_delay=0.1)
    for name in ("t", "k", "r"):
        wait_runs(tmp_path / name, 1)
    conn.call("signal", {"job": r["id"], "signal": "KILL"})
    r2 = wait_pred(conn, r["id"], lambda j: j["state"] == "running" and j["pid"] != r["pid"],
                   "restarted")
    assert r2["restarts"] == 1, r2
    wait_runs(tmp_path / "r", 2)
    conn.call("terminate", {"job": t["id"]})
    conn.call("kill", {"job": k["id"]})
    conn.call("terminate", {"job": r["id"]})
    jt, jk, jr = (rs_check_job(lc_join(conn, x["id"])) for x in (t, k, r))
    assert jt["exitcode"] == -15 and jt["restarts"] == 0, jt
    assert jk["exitcode"] == -9 and jk["restarts"] == 0, jk
    assert jr["exitcode"] == -15 and jr["restarts"] == 1 and jr["pid"] == r2["pid"], jr
    time.sleep(0.6)
    for x, before, name in ((t, jt, "t"), (k, jk, "k"), (r, jr, "r")):
        now = rs_check_job(lc_status(conn, x["id"]))
        assert now["state"] == "exited" and now["restarts"] == before["restarts"], now
        assert now["pid"] == before["pid"], now
    assert (runs(tmp_path / "t"), runs(tmp_path / "k"), runs(tmp_path / "r")) == (1, 1, 2)


@pytest.mark.parametrize("method", ["terminate", "kill"])
def test_terminate_kill_on_restarting_job_cancel_the_restart(conn, tmp_path, method):
    kw = dict(restart="on-failure", restart_delay=1.5)
    a = lc_start(conn, counting_argv(tmp_path / "a", 2), **kw)
    # with an ordinary child still running: waiting, not exited
    p = lc_start(conn, counting_argv(tmp_path / "p", 0, (1, "exec sleep 30")), **kw)
    c = lc_start(conn, ["sleep", "30"], parent=p["id"])
    wait_runs(tmp_path / "p", 1)
    conn.call("signal", {"job": p["id"], "signal": "KILL"})
    ra = rs_check_job(lc_wait_state(conn, a["id"], "restarting"))
    rp = rs_check_job(lc_wait_state(conn, p["id"], "restarting"))
    assert rp["children"] == [c["id"]] and rp["exitcode"] == -9, rp
    t0 = time.monotonic()
    x = rs_check_job(conn.call(method, {"job": a["id"]}))
    y = rs_check_job(conn.call(method, {"job": p["id"]}))
    in_time = time.monotonic() - t0 < 1.0     # before the restarts were due
    if in_time:
        assert x["state"] == "exited", x
        assert y["state"] == "waiting", y
    for got, before in ((x, ra), (y, rp)):
        assert got["pid"] == before["pid"] and got["exitcode"] == before["exitcode"], got
        assert got["restarts"] == 0 and got["restart_at"] is None, got
    assert rs_check_job(lc_join(conn, a["id"], timeout=5))["state"] == "exited"
    assert lc_status(conn, p["id"])["state"] == "waiting"
    assert lc_status(conn, c["id"])["state"] == "running" and pid_alive(c["pid"])
    time.sleep(2.0)     # past the delay
    for j, before, cnt in ((a, ra, "a"), (p, rp, "p")):
        now = rs_check_job(lc_status(conn, j["id"]))
        assert now["state"] in ("exited", "waiting") and now["restarts"] == 0, now
        assert now["pid"] == before["pid"] and now["exitcode"] == before["exitcode"], now
        assert runs(tmp_path / cnt) == 1, cnt
    assert lc_status(conn, p["id"])["state"] == "waiting"
    conn.call("kill", {"job": c["id"]})
    f = rs_check_job(lc_join(conn, p["id"], timeout=10))
    assert f["state"] == "exited" and f["exitcode"] == -9 and f["restarts"] == 0, f


# --- the daemon-child rule at each exit ---

def test_daemon_child_rule_at_each_exit(procd, conn, tmp_path):
    cnt = tmp_path / "cnt"
    # run k waits for the file go<k>, then exits 0
    argv = ["sh", "-c", 'echo x >> cnt; n=$(wc -l < cnt); '
            'while [ ! -e go$n ]; do sleep 0.02; done; exit 0']
    p = lc_start(conn, argv, cwd=str(tmp_path), restart="always", restart_delay=0.5,
                 restart_limit=1)
    wait_until(lambda: runs(cnt) == 1)
    d1 = lc_start(conn, ["sleep", "30"], parent=p["id"], daemon=True, restart="always",
                  restart_delay=0.1)
    c = lc_start(conn, wait_file_argv(tmp_path / "child-go"), parent=p["id"])
    jc = procd.connect()
    jid = jc.request("join", {"job": p["id"]})
    touch(tmp_path / "go1")
    r = rs_check_job(lc_wait_state(conn, p["id"], "restarting"))
    assert c["id"] in r["children"], r
    # the daemon child is torn down (and not restarted, whatever its policy)
    dj = rs_check_job(lc_join(conn, d1["id"], timeout=10))
    assert dj["state"] == "exited" and dj["exitcode"] == -15 and dj["restarts"] == 0, dj
    cj = lc_status(conn, c["id"])
    assert cj["state"] == "running" and pid_alive(c["pid"]), cj
    n = rs_check_job(lc_wait_state(conn, p["id"], "running"))
    assert n["pid"] != p["pid"] and n["restarts"] == 1, n
    assert c["id"] in n["children"] and lc_status(conn, c["id"])["parent"] == p["id"], n
    assert lc_status(conn, c["id"])["state"] == "running"
    jc.expect_nothing(0.2)
    # the restarted process may have daemon children of its own
    d2 = lc_start(conn, ["sleep", "30"], parent=p["id"], daemon=True)
    touch(tmp_path / "go2")      # the last run (restart_limit 1) exits
    w = rs_check_job(lc_wait_state(conn, p["id"], "waiting"))
    assert w["exitcode"] == 0 and w["restarts"] == 1, w
    dj2 = rs_check_job(lc_join(conn, d2["id"], timeout=10))
    assert dj2["exitcode"] == -15, dj2
    jc.expect_nothing(0.3)
    assert lc_status(conn, c["id"])["state"] == "running"
    touch(tmp_path / "child-go")
    m = jc.response(jid, timeout=10)
    assert "result" in m, m
    f = rs_check_job(m["result"])
    assert f["state"] == "exited" and f["exitcode"] == 0 and f["restarts"] == 1, f
    assert lc_status(conn, c["id"])["state"] == "exited"
    assert runs(cnt) == 2


# --- exec failure at a restart ---

def test_exec_failure_at_restart(procd, conn, tmp_path):
    ev = procd.connect()
    s = subscribe(ev)["subscription"]
    go = tmp_path / "go"
    script = lc_write_script(tmp_path / "worker",
                             '#!/bin/sh\nwhile [ ! -e "%s" ]; do sleep 0.02; done\nexit 1\n' % go)
    j = lc_start(conn, [script], restart="on-failure", restart_delay=0.1,
                 restart_max_delay=0.2, restart_limit=3)
    os.unlink(script)
    touch(go)
    f = rs_check_job(lc_join(conn, j["id"]))
    assert f["state"] == "exited" and f["exitcode"] == 127, f
    assert f["restarts"] == 3, f
    assert f["pid"] == j["pid"], "pid must stay the last process's: %r" % (f,)
    assert isinstance(f["error"], str) and "No such file" in f["error"], f
    evs = rs_events_until(ev, job_event(j["id"], "exited"), s)
    kinds = [e["event"] for e in evs if e["job"]["id"] == j["id"]]
    assert kinds == ["started", "restarting", "restarting", "restarting", "exited"], kinds
    fails = [e["job"] for e in evs if e["event"] == "restarting"][1:]
    for x in fails:
        assert x["exitcode"] == 127 and x["error"] and x["pid"] == j["pid"], x
    assert [x["restarts"] for x in fails] == [1, 2], fails
    time.sleep(0.5)
    assert lc_status(conn, j["id"])["restarts"] == 3


def test_exec_failure_error_cleared_when_a_process_starts(procd, conn, tmp_path):
    ev = procd.connect()
    s = subscribe(ev)["subscription"]
    go = tmp_path / "go"
    path = str(tmp_path / "worker")
    lc_write_script(path, '#!/bin/sh\nwhile [ ! -e "%s" ]; do sleep 0.02; done\nexit 1\n' % go)
    j = lc_start(conn, [path], restart="on-failure", restart_delay=0.6)
    os.unlink(path)
    touch(go)
    evs = rs_events_until(ev, lambda e: e["job"]["id"] == j["id"] and
                          e["event"] == "restarting" and e["job"]["error"] is not None, s)
    failed = evs[-1]["job"]
    # recreate the program before the next attempt (a new file, renamed in)
    lc_write_script(path + ".new", "#!/bin/sh\nexec sleep 30\n")
    os.rename(path + ".new", path)
    assert failed["exitcode"] == 127 and failed["restarts"] == 1, failed
    assert failed["pid"] == j["pid"], failed
    st = rs_check_job(lc_status(conn, j["id"]))
    assert st["error"] == failed["error"], st
    evs = rs_events_until(ev, job_event(j["id"], "started"), s)
    n = evs[-1]["job"]
    assert n["error"] is None, "error must be cleared when a process starts: %r" % (n,)
    assert n["state"] == "running" and n["pid"] != j["pid"] and n["restarts"] == 2, n
    assert n["exitcode"] is None, n
    st = rs_check_job(lc_status(conn, j["id"]))
    assert st["error"] is None and st["state"] == "running", st
    conn.call("kill", {"job": j["id"]})
    f = rs_check_job(lc_join(conn, j["id"]))
    assert f["error"] is None and f["exitcode"] == -9 and f["restarts"] == 2, f


# --- events ---

def test_events_of_a_job_that_restarts_twice(procd, conn):
    ev = procd.connect()
    sub = subscribe(ev)
    s = sub["subscription"]
    j = lc_start(conn, ["true"], restart="always", restart_delay=0.1, restart_limit=2)
    evs = rs_events_until(ev, job_event(j["id"], "exited"), s)
    conn.call("close", {"job": j["id"]})
    evs += rs_events_until(ev, job_event(j["id"], "closed"), s)
    assert [e["job"]["id"] for e in evs] == [j["id"]] * len(evs)
    kinds = [e["event"] for e in evs]
    assert kinds == ["started", "restarting", "started", "restarting", "started",
                     "exited", "closed"], kinds
    seqs = [e["seq"] for e in evs]
    assert seqs == list(range(sub["seq"] + 1, sub["seq"] + 1 + len(evs))), seqs
    states = [e["job"]["state"] for e in evs]
    assert states[:6] == ["running", "restarting", "running", "restarting", "running",
                          "exited"], states
    assert [e["job"]["restarts"] for e in evs if e["event"] == "started"] == [0, 1, 2]
    pids = [e["job"]["pid"] for e in evs if e["event"] == "started"]
    assert len(set(pids)) == 3, pids
    for e in evs:
        if e["event"] == "restarting":
            assert e["job"]["exitcode"] == 0 and e["job"]["restart_at"], e
    ev.expect_nothing(0.3)


# --- procd's own stop ---

def test_procd_stop_finishes_restarting_job(procd_factory, tmp_path):
    d = procd_factory()
    c = d.connect()
    cnt = tmp_path / "cnt"
    j = lc_start(c, counting_argv(cnt, 1), restart="on-failure", restart_delay=20)
    r = lc_wait_state(c, j["id"], "restarting")
    assert r["restarts"] == 0, r
    jc = d.connect()
    jid = jc.request("join", {"job": j["id"]})
    jc.expect_nothing(0.2)
    t0 = time.monotonic()
    os.kill(d.pid, signal.SIGTERM)
    m = jc.response(jid, timeout=15)
    assert "result" in m, m
    f = rs_check_job(m["result"])
    assert f["state"] == "exited" and f["exitcode"] == 1 and f["restarts"] == 0, f
    assert f["pid"] == j["pid"], f
    rc = d.proc.wait(15)
    assert rc == 0, d.stderr_text()
    assert time.monotonic() - t0 < 15, "procd waited for the restart"
    assert runs(cnt) == 1


# --- many restarts at once ---

def test_restart_storm_keeps_answering(procd, conn):
    n_jobs, limit = 200, 5
    other = procd.connect()
    stop = threading.Event()
    errors = []
    answered = [0]

    def poll():
        try:
            while not stop.is_set():
                ids = [j["id"] for j in other.call("list", timeout=10)]
                if ids:
                    rs_check_job(other.call("status", {"job": ids[-1]}, timeout=10))
                    answered[0] += 1
                time.sleep(0.01)
        except Exception as e:   # noqa: BLE001 - reported by the main thread
            errors.append(repr(e))
    t = threading.Thread(target=poll)
    t.start()
    try:
        for _ in range(n_jobs):
            lc_start(conn, ["true"], restart="always", restart_delay=0,
                     restart_limit=limit, output="null")
        wait_until(lambda: conn.call("info")["jobs"]["exited"] == n_jobs, 120, 0.1)
    finally:
        stop.set()
        t.join(30)
    assert not errors, errors
    assert answered[0] > 0
    jobs = conn.call("list")
    assert len(jobs) == n_jobs
    bad = [(j["id"], j["state"], j["restarts"], j["exitcode"]) for j in jobs
           if (j["state"], j["restarts"], j["exitcode"]) != ("exited", limit, 0)]
    assert not bad, bad
