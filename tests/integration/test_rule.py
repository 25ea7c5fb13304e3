# SPDX-License-Identifier: ISC
# The daemon-child rule (procd-protocol(7)): parents must be running
# and non-daemonic, daemon children are torn down when their parent's
# process exits, non-daemon children are waited for, recursively.
import time

from conftest import (lc_err, lc_join, lc_start, lc_start_term_ignoring,
                      lc_status, lc_wait_state, pid_alive)

DAEMONIC = "daemonic jobs are not allowed to have children"
CLOSE_RUNNING = "job is still running; join or terminate it first"


def go_argv(go, code):
    """A worker that exits with code once the file go exists."""
    return ["sh", "-c", 'while [ ! -e "$1" ]; do sleep 0.05; done; exit %d' % code,
            "sh", str(go)]


# --- who may be a parent ---

def test_daemonic_parent_refused(conn):
    d = lc_start(conn, ["sleep", "30"], daemon=True, name="dd")
    for parent in (d["id"], "dd"):
        e = lc_err(conn, "start", {"argv": ["sleep", "30"], "parent": parent})
        assert e["code"] == -32006, e
        assert e["message"] == DAEMONIC, e
        e = lc_err(conn, "start", {"argv": ["sleep", "30"], "parent": parent, "daemon": True})
        assert e["code"] == -32006 and e["message"] == DAEMONIC, e
    assert [j["id"] for j in conn.call("list")] == [d["id"]]
    assert lc_status(conn, d["id"])["children"] == []
    conn.call("kill", {"job": d["id"]})


def test_daemon_child_of_daemon_child_refused(conn):
    p = lc_start(conn, ["sleep", "30"])
    d = lc_start(conn, ["sleep", "30"], parent=p["id"], daemon=True)
    e = lc_err(conn, "start", {"argv": ["true"], "parent": d["id"]})
    assert e["code"] == -32006 and e["message"] == DAEMONIC, e
    conn.call("kill", {"job": p["id"], "recursive": True})
    lc_join(conn, p["id"])


def test_exited_parent_refused(conn):
    p = lc_start(conn, ["true"])
    lc_join(conn, p["id"])
    e = lc_err(conn, "start", {"argv": ["sleep", "30"], "parent": p["id"]})
    assert e["code"] == -32006, e
    assert len(conn.call("list")) == 1


def test_stopping_parent_refused(conn, tmp_path):
    p = lc_start_term_ignoring(conn, tmp_path / "ready", stop_timeout=5)
    conn.call("terminate", {"job": p["id"]})
    assert lc_status(conn, p["id"])["state"] == "stopping"
    e = lc_err(conn, "start", {"argv": ["sleep", "30"], "parent": p["id"]})
    assert e["code"] == -32006, e
    assert len(conn.call("list")) == 1
    conn.call("kill", {"job": p["id"]})


def test_waiting_parent_refused(conn):
    p = lc_start(conn, ["sleep", "30"])
    c = lc_start(conn, ["sleep", "30"], parent=p["id"])
    conn.call("signal", {"job": p["id"], "signal": "KILL"})
    lc_wait_state(conn, p["id"], "waiting")
    e = lc_err(conn, "start", {"argv": ["sleep", "30"], "parent": p["id"]})
    assert e["code"] == -32006, e
    assert len(conn.call("list")) == 2
    conn.call("kill", {"job": c["id"]})
    lc_join(conn, p["id"])


def test_unknown_or_closed_parent_refused(conn):
    for parent in (42, "nobody"):
        e = lc_err(conn, "start", {"argv": ["sleep", "30"], "parent": parent})
        assert e["code"] in (-32001, -32006), e
    p = lc_start(conn, ["true"], name="gone")
    lc_join(conn, p["id"])
    conn.call("close", {"job": p["id"]})
    for parent in (p["id"], "gone"):
        e = lc_err(conn, "start", {"argv": ["sleep", "30"], "parent": parent})
        assert e["code"] in (-32001, -32006), e
    assert conn.call("list") == []


# --- the children field ---

def test_children_lists_jobs_not_closed(conn):
    p = lc_start(conn, ["sleep", "30"], name="par")
    a = lc_start(conn, ["sleep", "30"], parent="par", daemon=True)
    b = lc_start(conn, ["sh", "-c", "exit 0"], parent=p["id"])
    c = lc_start(conn, ["sleep", "30"], parent=p["id"])
    assert a["parent"] == p["id"] and a["daemon"] is True
    assert b["parent"] == p["id"] and c["parent"] == p["id"]
    assert sorted(lc_status(conn, p["id"])["children"]) == [a["id"], b["id"], c["id"]]
    lc_join(conn, b["id"])
    # Exited but not closed: still listed.
    assert sorted(lc_status(conn, p["id"])["children"]) == [a["id"], b["id"], c["id"]]
    conn.call("close", {"job": b["id"]})
    assert sorted(lc_status(conn, p["id"])["children"]) == [a["id"], c["id"]]
    assert sorted(j["id"] for j in conn.call("list", {"parent": p["id"]})) == [a["id"], c["id"]]
    assert lc_status(conn, a["id"])["children"] == []
    conn.call("kill", {"job": p["id"], "recursive": True})
    lc_join(conn, p["id"])


# --- teardown of daemon children, waiting for the others ---

def test_parent_exit_terminates_daemon_children_waits_for_others(procd, conn, tmp_path):
    go = tmp_path / "go"
    p = lc_start(conn, go_argv(go, 7))
    d1 = lc_start(conn, ["sleep", "30"], parent=p["id"], daemon=True)
    d2 = lc_start(conn, ["sleep", "30"], parent=p["id"], daemon=True)
    n = lc_start(conn, ["sleep", "30"], parent=p["id"])
    go.write_text("")
    for d in (d1, d2):
        r = lc_join(conn, d["id"])
        assert r["exitcode"] == -15, r
    s = lc_wait_state(conn, p["id"], "waiting")
    assert s["exitcode"] == 7
    assert s["exited_at"] is not None
    assert lc_status(conn, n["id"])["state"] == "running"
    assert pid_alive(n["pid"])
    # join on the parent does not return while a child runs.
    r = lc_join(conn, p["id"], timeout=0.3)
    assert r["timed_out"] is True and r["state"] == "waiting" and r["exitcode"] == 7
    c2 = procd.connect()
    pending = c2.request("join", {"job": p["id"]})
    c2.expect_nothing(0.5)
    e = lc_err(conn, "close", {"job": p["id"]})
    assert e["code"] == -32002 and e["message"] == CLOSE_RUNNING, e
    # terminate on a waiting job: its process is gone, no error.
    r = conn.call("terminate", {"job": p["id"]})
    assert r["state"] == "waiting", r
    conn.call("terminate", {"job": n["id"]})
    r = c2.response(pending, timeout=15)["result"]
    assert r["state"] == "exited" and r["exitcode"] == 7, r
    assert lc_status(conn, n["id"])["exitcode"] == -15
    conn.call("close", {"job": p["id"]})


def test_parent_killed_daemon_child_torn_down(conn):
    p = lc_start(conn, ["sleep", "30"])
    d = lc_start(conn, ["sleep", "30"], parent=p["id"], daemon=True)
    conn.call("signal", {"job": p["id"], "signal": "KILL"})
    r = lc_join(conn, p["id"])
    assert r["state"] == "exited" and r["exitcode"] == -9
    assert lc_status(conn, d["id"])["exitcode"] == -15


def test_daemon_child_ignoring_term_killed_after_its_stop_timeout(conn, tmp_path):
    # The parent has the default stop_timeout (10 s); the child's 1.5 s rules.
    p = lc_start(conn, ["sleep", "30"])
    d = lc_start_term_ignoring(conn, tmp_path / "ready", stop_timeout=1.5,
                               parent=p["id"], daemon=True)
    t0 = time.monotonic()
    conn.call("signal", {"job": p["id"], "signal": "KILL"})
    s = lc_wait_state(conn, d["id"], "stopping", timeout=5)
    ps = lc_status(conn, p["id"])
    if time.monotonic() - t0 < 1.2:
        assert ps["state"] == "waiting" and ps["exitcode"] == -9, ps
    r = lc_join(conn, p["id"], rpc_timeout=20)
    took = time.monotonic() - t0
    assert r["state"] == "exited" and r["exitcode"] == -9
    s = lc_status(conn, d["id"])
    assert s["state"] == "exited" and s["exitcode"] == -9, s
    assert 1.2 <= took < 8, took


def test_daemon_child_exiting_first_changes_nothing(conn):
    p = lc_start(conn, ["sleep", "30"])
    d = lc_start(conn, ["sh", "-c", "exit 2"], parent=p["id"], daemon=True)
    assert lc_join(conn, d["id"])["exitcode"] == 2
    time.sleep(0.2)
    assert lc_status(conn, p["id"])["state"] == "running"
    conn.call("terminate", {"job": p["id"]})
    assert lc_join(conn, p["id"])["exitcode"] == -15


def test_recursion(conn):
    # P -> C (non-daemon) -> G (daemon); P -> D (daemon).
    p = lc_start(conn, ["sleep", "30"])
    c = lc_start(conn, ["sleep", "30"], parent=p["id"])
    g = lc_start(conn, ["sleep", "30"], parent=c["id"], daemon=True)
    d = lc_start(conn, ["sleep", "30"], parent=p["id"], daemon=True)
    conn.call("signal", {"job": p["id"], "signal": "KILL"})
    assert lc_join(conn, d["id"])["exitcode"] == -15
    s = lc_wait_state(conn, p["id"], "waiting")
    assert s["exitcode"] == -9
    time.sleep(0.2)
    # G's parent C is alive: G keeps running.
    assert lc_status(conn, c["id"])["state"] == "running"
    assert lc_status(conn, g["id"])["state"] == "running"
    conn.call("signal", {"job": c["id"], "signal": "KILL"})
    r = lc_join(conn, g["id"])
    assert r["exitcode"] == -15, r
    r = lc_join(conn, p["id"])
    assert r["state"] == "exited" and r["exitcode"] == -9
    r = lc_status(conn, c["id"])
    assert r["state"] == "exited" and r["exitcode"] == -9


def test_waiting_propagates_up(conn, tmp_path):
    # P -> C -> G, all non-daemon: each waits for the one below.
    p = lc_start(conn, ["sleep", "30"])
    c = lc_start(conn, ["sleep", "30"], parent=p["id"])
    g = lc_start_term_ignoring(conn, tmp_path / "ready", stop_timeout=1, parent=c["id"])
    conn.call("signal", {"job": p["id"], "signal": "KILL"})
    lc_wait_state(conn, p["id"], "waiting")
    conn.call("signal", {"job": c["id"], "signal": "KILL"})
    s = lc_wait_state(conn, c["id"], "waiting")
    assert s["exitcode"] == -9
    assert lc_status(conn, p["id"])["state"] == "waiting"
    assert lc_status(conn, g["id"])["state"] == "running"
    conn.call("terminate", {"job": g["id"]})
    assert lc_status(conn, c["id"])["state"] == "waiting"
    r = lc_join(conn, p["id"], rpc_timeout=20)
    assert r["state"] == "exited"
    assert lc_status(conn, c["id"])["state"] == "exited"
    assert lc_status(conn, g["id"])["exitcode"] == -9


def test_recursive_terminate(conn, tmp_path):
    p = lc_start(conn, ["sleep", "30"])
    c1 = lc_start(conn, ["sleep", "30"], parent=p["id"])
    c2 = lc_start(conn, ["sleep", "30"], parent=p["id"], daemon=True)
    g = lc_start(conn, ["sleep", "30"], parent=c1["id"])
    gi = lc_start_term_ignoring(conn, tmp_path / "ready", stop_timeout=0.5, parent=c1["id"])
    r = conn.call("terminate", {"job": p["id"], "recursive": True})
    assert r["id"] == p["id"]
    r = lc_join(conn, p["id"], rpc_timeout=20)
    assert r["state"] == "exited" and r["exitcode"] == -15
    for j, code in ((c1, -15), (c2, -15), (g, -15), (gi, -9)):
        s = lc_status(conn, j["id"])
        assert s["state"] == "exited" and s["exitcode"] == code, s
    for j in (p, c1, c2, g, gi):
        assert not pid_alive(j["pid"])


def test_recursive_terminate_of_a_waiting_job(conn):
    p = lc_start(conn, ["sleep", "30"])
    c = lc_start(conn, ["sleep", "30"], parent=p["id"])
    conn.call("signal", {"job": p["id"], "signal": "KILL"})
    lc_wait_state(conn, p["id"], "waiting")
    conn.call("terminate", {"job": p["id"], "recursive": True})
    r = lc_join(conn, p["id"])
    assert r["state"] == "exited" and r["exitcode"] == -9
    assert lc_status(conn, c["id"])["exitcode"] == -15


def test_close_waiting_parent_refused_then_allowed(conn):
    p = lc_start(conn, ["sleep", "30"])
    c = lc_start(conn, ["sleep", "30"], parent=p["id"])
    conn.call("terminate", {"job": p["id"]})
    lc_wait_state(conn, p["id"], "waiting")
    e = lc_err(conn, "close", {"job": p["id"]})
    assert e["code"] == -32002 and e["message"] == CLOSE_RUNNING, e
    conn.call("terminate", {"job": c["id"]})
    lc_join(conn, p["id"])
    r = conn.call("close", {"job": p["id"]})
    assert r["state"] == "exited"
    assert lc_err(conn, "status", {"job": p["id"]})["code"] == -32001


def test_pending_join_on_parent_answered_when_children_finish(procd, conn, tmp_path):
    go = tmp_path / "go"
    p = lc_start(conn, ["sleep", "30"])
    n = lc_start(conn, go_argv(go, 0), parent=p["id"])
    c2 = procd.connect()
    jid = c2.request("join", {"job": p["id"]})
    conn.call("terminate", {"job": p["id"]})
    lc_wait_state(conn, p["id"], "waiting")
    c2.expect_nothing(0.5)
    go.write_text("")
    r = c2.response(jid, timeout=15)["result"]
    assert r["state"] == "exited" and r["exitcode"] == -15, r
    assert lc_status(conn, n["id"])["exitcode"] == 0
