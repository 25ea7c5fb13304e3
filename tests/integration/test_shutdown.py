# SPDX-License-Identifier: ISC
# procd's own clean stop (procd(8) SIGNALS): SIGTERM/SIGINT
# stop every job (SIGKILL after stop_timeout), reap them, remove the socket,
# exit 0; meanwhile procd answers everything but start (-32008); a second
# signal SIGKILLs what is left.
import os
import signal
import time

import pytest

from conftest import (PROCD, Conn, wait_for_socket, lc_err, lc_group_pids, lc_join, lc_start,
                      lc_start_term_ignoring, lc_status, lc_wait_state,
                      pid_alive, wait_until)


def wait_exit(d, timeout):
    t0 = time.monotonic()
    try:
        rc = d.proc.wait(timeout)
    except Exception:
        raise AssertionError("procd did not exit within %s s:\n%s" % (timeout, d.stderr_text()))
    return rc, time.monotonic() - t0


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["TERM", "INT"])
def test_signal_stops_every_job(procd_factory, tmp_path, sig):
    d = procd_factory()
    c = d.connect()
    jobs = [lc_start(c, ["sleep", "30"]) for _ in range(2)]
    jobs.append(lc_start_term_ignoring(c, tmp_path / "ready", stop_timeout=0.5))
    sub = lc_start(c, ["sh", "-c", "sleep 100 & sleep 100 & wait"])
    jobs.append(sub)
    p = lc_start(c, ["sleep", "30"])
    jobs += [p, lc_start(c, ["sleep", "30"], parent=p["id"]),
             lc_start(c, ["sleep", "30"], parent=p["id"], daemon=True)]
    w = lc_start(c, ["sleep", "30"])
    jobs += [w, lc_start(c, ["sleep", "30"], parent=w["id"])]
    c.call("signal", {"job": w["id"], "signal": "KILL"})
    lc_wait_state(c, w["id"], "waiting")
    done = lc_start(c, ["true"])
    lc_join(c, done["id"])
    wait_until(lambda: len(lc_group_pids(sub["pid"])) == 3, 10)
    group = lc_group_pids(sub["pid"])
    pids = [j["pid"] for j in jobs]
    assert all(pid_alive(x) for x in pids if x != w["pid"])

    d.proc.send_signal(sig)
    rc, took = wait_exit(d, 20)
    assert rc == 0, d.stderr_text()
    assert took < 10, took
    assert not os.path.exists(d.sock), "socket file left behind"
    survivors = [x for x in pids if pid_alive(x)]
    assert not survivors, "workers outlived procd: %r" % survivors
    wait_until(lambda: not any(pid_alive(x) for x in group), 5)


def test_stop_with_no_jobs(procd_factory):
    d = procd_factory()
    c = d.connect()
    assert c.call("list") == []
    d.proc.send_signal(signal.SIGTERM)
    rc, took = wait_exit(d, 10)
    assert rc == 0
    assert not os.path.exists(d.sock)
    # The connected client sees the connection end.
    assert c.read_line(5) is None


def test_inherited_signal_mask_cleared(srv_spawn, tmp_path):
    """procd started with SIGCHLD, SIGTERM and SIGINT blocked (a careless
    parent) still reaps its jobs and still stops on SIGTERM."""
    blocked = {signal.SIGCHLD, signal.SIGTERM, signal.SIGINT, signal.SIGHUP}
    sock = str(tmp_path / "procd.sock")
    p = srv_spawn(tmp_path, [PROCD, "--socket", sock, "-v"],
                  preexec_fn=lambda: signal.pthread_sigmask(signal.SIG_BLOCK, blocked))
    wait_for_socket(sock, p.proc)
    c = Conn(sock)
    j = lc_start(c, ["true"])
    j = c.call("join", {"job": j["id"], "timeout": 10})
    assert j["state"] == "exited" and j["exitcode"] == 0, j
    s = lc_start(c, ["sleep", "30"])
    c.close()
    p.proc.send_signal(signal.SIGTERM)
    assert p.wait(10) == 0, p.stderr_text()
    assert not pid_alive(s["pid"])


def test_while_stopping_answers_all_but_start(procd_factory, tmp_path):
    d = procd_factory()
    c = d.connect()
    slow = lc_start_term_ignoring(c, tmp_path / "ready", stop_timeout=4, name="slow")
    quick = lc_start(c, ["sleep", "30"], name="quick")
    done = lc_start(c, ["true"], name="done")
    lc_join(c, done["id"])
    j_slow = c.request("join", {"job": "slow"})
    j_quick = c.request("join", {"job": "quick"})
    t0 = time.monotonic()
    d.proc.send_signal(signal.SIGTERM)

    # The quick job's pending join is answered as it finishes.
    r = c.response(j_quick, timeout=10)["result"]
    assert r["state"] == "exited" and r["exitcode"] == -15, r

    # New connections are still accepted and every method answered.
    c2 = d.connect()
    s = lc_status(c2, "slow")
    assert s["state"] == "stopping", s
    lst = c2.call("list")
    assert [j["name"] for j in lst] == ["slow", "quick", "done"]
    info = c2.call("info")
    assert info["pid"] == d.pid
    assert info["jobs"]["stopping"] == 1, info
    e = lc_err(c2, "start", {"argv": ["sleep", "1"]})
    assert e["code"] == -32008, e
    e = lc_err(c, "start", {"argv": ["true"], "name": "late"})
    assert e["code"] == -32008, e
    r = c2.call("join", {"job": "slow", "timeout": 0})
    assert r["timed_out"] is True and r["state"] == "stopping", r
    assert c2.call("signal", {"job": "slow", "signal": "TERM"})["state"] == "stopping"
    assert c2.call("terminate", {"job": "slow"})["state"] == "stopping"
    assert c2.call("close", {"job": "done"})["exitcode"] == 0
    assert lc_err(c2, "close", {"job": "slow"})["code"] == -32002
    assert [j["name"] for j in c2.call("list")] == ["slow", "quick"]
    assert c2.call("list", {"state": "stopping"})[0]["name"] == "slow"
    assert time.monotonic() - t0 < 3.5, "too slow to test the stopping window"

    # The TERM-ignoring job is killed after its stop_timeout; its join is
    # answered; then procd exits.
    r = c.response(j_slow, timeout=15)["result"]
    assert r["state"] == "exited" and r["exitcode"] == -9, r
    assert time.monotonic() - t0 >= 3.5
    rc, _ = wait_exit(d, 10)
    assert rc == 0
    assert not os.path.exists(d.sock)
    assert not pid_alive(slow["pid"]) and not pid_alive(quick["pid"])


@pytest.mark.parametrize("first,second", [
    (signal.SIGTERM, signal.SIGTERM),
    (signal.SIGINT, signal.SIGINT),
    (signal.SIGTERM, signal.SIGINT),
], ids=["TERM-TERM", "INT-INT", "TERM-INT"])
def test_second_signal_kills_what_is_left(procd_factory, tmp_path, first, second):
    d = procd_factory()
    c = d.connect()
    a = lc_start_term_ignoring(c, tmp_path / "ra", stop_timeout=60)
    b = lc_start_term_ignoring(c, tmp_path / "rb", stop_timeout=60)
    q = lc_start(c, ["sleep", "30"])
    t0 = time.monotonic()
    d.proc.send_signal(first)
    lc_wait_state(c, a["id"], "stopping")
    lc_wait_state(c, b["id"], "stopping")
    assert lc_join(c, q["id"])["exitcode"] == -15
    time.sleep(0.3)
    assert d.alive() and pid_alive(a["pid"]) and pid_alive(b["pid"])
    d.proc.send_signal(second)
    rc, _ = wait_exit(d, 15)
    assert rc == 0
    assert time.monotonic() - t0 < 20
    assert not os.path.exists(d.sock)
    assert not pid_alive(a["pid"]) and not pid_alive(b["pid"])


def test_stop_waits_for_waiting_parents_children(procd_factory, tmp_path):
    d = procd_factory()
    c = d.connect()
    p = lc_start(c, ["sleep", "30"])
    k = lc_start_term_ignoring(c, tmp_path / "ready", stop_timeout=0.5, parent=p["id"])
    g = lc_start(c, ["sh", "-c", "sleep 100 & wait"], parent=k["id"])
    c.call("signal", {"job": p["id"], "signal": "KILL"})
    lc_wait_state(c, p["id"], "waiting")
    jp = c.request("join", {"job": p["id"]})
    d.proc.send_signal(signal.SIGTERM)
    r = c.response(jp, timeout=15)["result"]
    assert r["state"] == "exited" and r["exitcode"] == -9, r
    rc, _ = wait_exit(d, 15)
    assert rc == 0
    for j in (p, k, g):
        assert not pid_alive(j["pid"]), j


def test_follower_answered_before_procd_exits(procd_factory, tmp_path):
    # A logs follower gets the job's last words and its final answer
    # before procd's clean stop ends, like a pending join does.
    d = procd_factory()
    c = d.connect()
    ready = tmp_path / "ready"
    # The subshell ignores TERM and holds the pipe for a moment after the
    # job's own process has exited: procd waits for it (within the grace).
    j = lc_start(c, ["sh", "-c", "(trap '' TERM; sleep 0.5; echo late) & "
                     "trap 'echo bye; exit 0' TERM; touch %s; "
                     "echo hi; while :; do sleep 0.05; done" % ready])
    wait_until(lambda: ready.exists(), 10)
    rid = c.request("logs", {"job": j["id"], "follow": True})
    d.proc.send_signal(signal.SIGTERM)
    data = ""
    while True:
        m = c.recv(timeout=15)
        assert m is not None, "procd closed the connection before answering"
        if m.get("method") == "log":
            data += m["params"]["data"]
            continue
        assert m["id"] == rid, m
        assert m["result"]["job"]["state"] == "exited", m
        break
    assert "hi\n" in data and "bye\n" in data and "late\n" in data, data
    rc, _ = wait_exit(d, 15)
    assert rc == 0


# --- what jobs left behind: procd adopted it as subreaper -------------------------

def adopted(pid):
    """Children of pid (procd) as the kernel lists them, but its spawners."""
    out = []
    for tid in os.listdir("/proc/%d/task" % pid):
        with open("/proc/%d/task/%s/children" % (pid, tid)) as f:
            out += [int(x) for x in f.read().split()]
    return [p for p in out if comm(p) != "procd-spawner"]


def comm(pid):
    try:
        with open("/proc/%d/comm" % pid) as f:
            return f.read().strip()
    except OSError:
        return None


LEAVE_BEHIND = ("sleep 1000 & setsid sleep 1000 & "
                "(trap '' TERM; exec sleep 1000) & exit 0")


def start_leaver(d):
    c = d.connect()
    j = lc_start(c, ["sh", "-c", LEAVE_BEHIND])
    assert lc_join(c, j["id"])["exitcode"] == 0
    # the job's process is gone; its three sleeps are procd's now
    wait_until(lambda: len(adopted(d.pid)) == 3, 10)
    left = adopted(d.pid)
    assert all(pid_alive(p) for p in left)
    return c, left


def test_clean_stop_stops_what_jobs_left_behind(procd_factory):
    d = procd_factory()
    c, left = start_leaver(d)
    d.proc.send_signal(signal.SIGTERM)
    # one ignores SIGTERM: SIGKILL after the default 10 s grace
    rc, took = wait_exit(d, 30)
    assert rc == 0
    assert 8 < took < 25, took
    assert not any(pid_alive(p) for p in left)


def test_second_signal_kills_what_jobs_left_behind(procd_factory):
    d = procd_factory()
    c, left = start_leaver(d)
    d.proc.send_signal(signal.SIGTERM)
    # the two that take SIGTERM go; the one that ignores it stays
    wait_until(lambda: sum(pid_alive(p) for p in left) == 1, 10)
    assert d.alive()
    d.proc.send_signal(signal.SIGTERM)
    rc, took = wait_exit(d, 10)
    assert rc == 0 and took < 5, took
    assert not any(pid_alive(p) for p in left)
