# SPDX-License-Identifier: ISC
# Readiness (procd-protocol(7) section 11, with the clarifications of
# section 15): start's notify, wait_ready and ready_timeout; NOTIFY_SOCKET
# in the worker's environment; READY=1, STATUS= and STOPPING=1 from
# libsystemd's sd_notify (tests/helpers/notify-worker), from systemd-notify
# and from datagrams sent by hand; senders outside the job ignored;
# zero-length, oversized and malformed datagrams dropped; readiness across
# restarts; a datagram flood does not stall other clients.
import json
import os
import shutil
import socket
import threading
import time

import pytest

from conftest import (LC_PY, NOTIFY_WORKER, lc_err, lc_join, lc_notify_argv,
                      lc_proc_environ, lc_start, lc_status, lc_wait_job,
                      lc_wait_state, pid_alive, wait_until)

INVALID_PARAMS = -32602
SPAWN_FAILED = -32005
NOT_FOUND = -32001

# A job that sends datagrams by hand to its NOTIFY_SOCKET, then sleeps.
# Arguments, in order: "hex:HEX" sends those bytes as one datagram (so a
# NUL byte or invalid UTF-8 can be sent), "sleep:S" waits S seconds,
# "wait:PATH" waits until PATH exists, "flood:N:PREFIX" sends N datagrams
# PREFIX0, PREFIX1, ..., "fds:N" sends N datagrams "X_FD=1" each carrying a
# file descriptor (SCM_RIGHTS).
SENDER_PY = r"""
import array, os, socket, sys, time
a = os.environ["NOTIFY_SOCKET"]
if a.startswith("@"):
    a = "\0" + a[1:]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
for arg in sys.argv[1:]:
    kind, _, rest = arg.partition(":")
    if kind == "hex":
        s.sendto(bytes.fromhex(rest), a)
    elif kind == "sleep":
        time.sleep(float(rest))
    elif kind == "wait":
        while not os.path.exists(rest):
            time.sleep(0.01)
    elif kind == "flood":
        n, _, prefix = rest.partition(":")
        for i in range(int(n)):
            s.sendto(("%s%d" % (prefix, i)).encode(), a)
    elif kind == "fds":
        for i in range(int(rest)):
            r, w = os.pipe()
            s.sendmsg([b"X_FD=1"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS,
                                     array.array("i", [r, w]))], 0, a)
            os.close(r)
            os.close(w)
    else:
        raise SystemExit("bad argument " + arg)
    print("did", arg[:40], flush=True)
time.sleep(600)
"""


def sender(*args):
    """argv of a job that sends datagrams by hand (see SENDER_PY)."""
    return [LC_PY, "-c", SENDER_PY] + [str(a) for a in args]


def hexarg(data):
    return "hex:" + data.hex()


nw = lc_notify_argv



def notify_address(pid):
    """The job's NOTIFY_SOCKET as a socket address for sendto."""
    a = lc_proc_environ(pid).get("NOTIFY_SOCKET")
    assert a, "worker %d has no NOTIFY_SOCKET" % pid
    return "\0" + a[1:] if a.startswith("@") else a


def send_from_here(addr, data):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        s.settimeout(5)
        s.sendto(data, addr)
    finally:
        s.close()


def touch(path):
    with open(str(path), "w"):
        pass


def start_err(conn, params, timeout=30.0):
    """The error object of a start that must fail."""
    return lc_err(conn, "start", params, timeout)


wait_job = lc_wait_job



def wait_status_text(conn, jid, text, timeout=10.0):
    return wait_job(conn, jid, lambda j: j.get("status_text") == text,
                    "status_text %r" % (text,), timeout)


def wait_ready(conn, jid, timeout=10.0):
    return wait_job(conn, jid, lambda j: j.get("ready") is True, "ready", timeout)


def stop_job(conn, jid):
    """Terminate a job and wait until it is finished (clean-up)."""
    conn.call("terminate", {"job": jid})
    return lc_join(conn, jid)


# --- events (this file's own checker: lg_check_event knows only version 1's
# event names) ---

def subscribe(conn, **params):
    r = conn.call("subscribe", params or None)
    return r["subscription"]


def next_event(conn, timeout=10.0):
    m = conn.recv(timeout)
    assert m is not None, "connection closed while waiting for an event"
    assert isinstance(m, dict) and m.get("method") == "event", \
        "expected an event notification, got %r" % (m,)
    p = m["params"]
    assert isinstance(p.get("event"), str), m
    return p


def job_events_until(conn, jid, event, timeout=15.0, count=1):
    """Events of job jid read until its count-th event named event
    (inclusive); events of other jobs are skipped."""
    out = []
    seen = 0
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError("event %r of job %s not seen; got %r" %
                                 (event, jid, [e["event"] for e in out]))
        try:
            e = next_event(conn, left)
        except TimeoutError:
            raise AssertionError("event %r of job %s not seen; got %r" %
                                 (event, jid, [e["event"] for e in out]))
        if not isinstance(e.get("job"), dict) or e["job"].get("id") != jid:
            continue
        out.append(e)
        if e["event"] == event:
            seen += 1
            if seen == count:
                return out


# --- notify false / true: the environment and the fields ---

@pytest.mark.parametrize("notify", [None, False], ids=["absent", "false"])
def test_without_notify_ready_null_and_no_socket(conn, notify):
    params = {} if notify is None else {"notify": notify}
    j = lc_start(conn, ["sleep", "300"], **params)
    assert "ready" in j and j["ready"] is None, j
    assert "status_text" in j and j["status_text"] is None, j
    env = lc_proc_environ(j["pid"])
    assert "PATH" in env, env          # the environment was read
    assert "NOTIFY_SOCKET" not in env, \
        "a job without notify got NOTIFY_SOCKET=%r" % env["NOTIFY_SOCKET"]
    assert lc_status(conn, j["id"])["ready"] is None
    stop_job(conn, j["id"])
    assert lc_status(conn, j["id"])["ready"] is None


def test_client_may_set_notify_socket_without_notify(conn):
    """Section 4: procd's own NOTIFY_SOCKET is removed, but env may set it."""
    j = lc_start(conn, ["sleep", "300"], env={"NOTIFY_SOCKET": "@elsewhere"})
    assert j["ready"] is None, j
    assert lc_proc_environ(j["pid"]).get("NOTIFY_SOCKET") == "@elsewhere"
    stop_job(conn, j["id"])


def test_notify_gives_socket_and_ready_after_ready1(procd, conn):
    sc = procd.connect()
    subscribe(sc)
    t0 = time.monotonic()
    j = lc_start(conn, nw("sleep:700", "READY=1"), notify=True)
    assert j["ready"] is False, j
    assert j["status_text"] is None, j
    assert j["state"] == "running", j
    addr = lc_proc_environ(j["pid"]).get("NOTIFY_SOCKET")
    assert addr and (addr.startswith("@") or addr.startswith("/")), \
        "NOTIFY_SOCKET %r is not a socket address" % (addr,)
    if time.monotonic() - t0 < 0.5:
        assert lc_status(conn, j["id"])["ready"] is False
    evs = job_events_until(sc, j["id"], "ready")
    assert [e["event"] for e in evs] == ["started", "ready"], evs
    assert evs[0]["job"]["ready"] is False, evs[0]
    ev = evs[1]["job"]
    assert ev["ready"] is True and ev["state"] == "running", ev
    assert time.monotonic() - t0 >= 0.5, "ready before the worker sent READY=1"
    s = lc_status(conn, j["id"])
    assert s["ready"] is True and s["state"] == "running", s
    assert s["status_text"] is None, s
    # one ready event only
    stop_job(conn, j["id"])
    evs = job_events_until(sc, j["id"], "exited")
    assert "ready" not in [e["event"] for e in evs], evs
    done = lc_status(conn, j["id"])
    assert done["ready"] is True, "ready is kept once the job has exited: %r" % done


def test_each_notify_job_gets_the_variable(conn):
    a = lc_start(conn, nw(), notify=True)
    b = lc_start(conn, nw(), notify=True)
    for j in (a, b):
        assert lc_proc_environ(j["pid"]).get("NOTIFY_SOCKET"), j
    stop_job(conn, a["id"])
    stop_job(conn, b["id"])


# --- the senders: libsystemd, systemd-notify, by hand ---

def test_ready_and_status_from_sd_notify(conn):
    j = lc_start(conn, nw("READY=1\\nSTATUS=serving"), notify=True)
    s = wait_ready(conn, j["id"])
    s = wait_status_text(conn, j["id"], "serving")
    assert s["ready"] is True and s["state"] == "running", s
    stop_job(conn, j["id"])


@pytest.mark.parametrize("pid_opt", ["", "--pid=$$ "], ids=["plain", "pid"])
def test_ready_from_systemd_notify(conn, pid_opt):
    """systemd-notify, run by the job's shell. systemd 252 sends with its
    parent's pid (the shell: the job's main process) unless --pid names
    one; newer ones send with their own and wait on a barrier (an fd procd
    closes) until procd has read it. Either way the sender is the job's."""
    if shutil.which("systemd-notify") is None:
        pytest.skip("systemd-notify is not installed")
    j = lc_start(conn, ["sh", "-c", "systemd-notify %s--ready --status=up; exec sleep 300"
                        % pid_opt], notify=True)
    s = wait_ready(conn, j["id"], 15)
    s = wait_status_text(conn, j["id"], "up")
    assert s["state"] == "running", s
    stop_job(conn, j["id"])


def test_ready_from_a_datagram_by_hand(conn):
    j = lc_start(conn, sender(hexarg(b"STATUS=by hand")), notify=True)
    s = wait_status_text(conn, j["id"], "by hand")
    assert s["ready"] is False, s
    j2 = lc_start(conn, sender(hexarg(b"READY=1")), notify=True)
    wait_ready(conn, j2["id"])
    stop_job(conn, j["id"])
    stop_job(conn, j2["id"])


def test_from_a_child_in_the_group(conn):
    """A process of the job's group that is not its main process counts."""
    j = lc_start(conn, ["sh", "-c", '"$0" "READY=1\\nSTATUS=child" & wait', NOTIFY_WORKER],
                 notify=True)
    wait_ready(conn, j["id"])
    wait_status_text(conn, j["id"], "child")
    stop_job(conn, j["id"])


def test_status_text_and_several_lines(conn):
    j = lc_start(conn, nw("STATUS=starting", "sleep:200", "STATUS=loading\\nX_OTHER=1",
                          "sleep:200", "READY=1\\nSTATUS=x"), notify=True)
    s = wait_ready(conn, j["id"])
    s = wait_status_text(conn, j["id"], "x")
    assert s["ready"] is True, s
    stop_job(conn, j["id"])


def test_status_text_unicode_and_tab(conn):
    text = "\u00e9tat \u2713\tok"
    j = lc_start(conn, sender(hexarg(("STATUS=" + text).encode())), notify=True)
    wait_status_text(conn, j["id"], text)
    stop_job(conn, j["id"])


def test_status_text_replaced(conn, tmp_path):
    go = tmp_path / "go"
    j = lc_start(conn, sender(hexarg(b"STATUS=one"), "wait:%s" % go, hexarg(b"STATUS=two")),
                 notify=True)
    wait_status_text(conn, j["id"], "one")
    touch(go)
    wait_status_text(conn, j["id"], "two")
    stop_job(conn, j["id"])


def test_stopping1_changes_no_state(procd, conn):
    sc = procd.connect()
    subscribe(sc)
    j = lc_start(conn, nw("STOPPING=1", "STATUS=a", "READY=1", "sleep:100", "STOPPING=1",
                          "STATUS=b"), notify=True)
    s = wait_status_text(conn, j["id"], "b")
    assert s["state"] == "running" and s["ready"] is True, s
    assert pid_alive(j["pid"])
    evs = job_events_until(sc, j["id"], "ready")
    assert [e["event"] for e in evs] == ["started", "ready"], evs
    time.sleep(0.3)
    s = lc_status(conn, j["id"])
    assert s["state"] == "running" and s["exitcode"] is None, s
    sc.expect_nothing(0.3)
    stop_job(conn, j["id"])


def test_unknown_keys_ignored(conn):
    j = lc_start(conn, nw("MAINPID=1\\nWATCHDOG=1\\nX_FOO=bar", "ERRNO=2", "STATUS=kept"),
                 notify=True)
    s = wait_status_text(conn, j["id"], "kept")
    assert s["ready"] is False and s["state"] == "running", s
    stop_job(conn, j["id"])


# --- who may send ---

@pytest.mark.parametrize("mode", ["away", "fork"])
def test_sender_outside_the_group_ignored(conn, mode):
    """A setsid child of the worker has left the job's process group (a
    "group" job): its READY=1 and STATUS= are ignored. "away" keeps that
    sender alive while procd reads; "fork" lets it exit at once."""
    j = lc_start(conn, nw("%s:READY=1\\nSTATUS=outside" % mode, "STATUS=inside"), notify=True)
    s = wait_status_text(conn, j["id"], "inside")
    assert s["ready"] is False, "a sender outside the group made the job ready: %r" % s
    time.sleep(0.3)
    s = lc_status(conn, j["id"])
    assert s["ready"] is False and s["status_text"] == "inside", s
    stop_job(conn, j["id"])


def test_sender_not_in_the_job_ignored(conn, tmp_path):
    """The test process itself sends to the job's NOTIFY_SOCKET address."""
    go = tmp_path / "go"
    j = lc_start(conn, sender("wait:%s" % go, hexarg(b"STATUS=inside")), notify=True)
    addr = notify_address(j["pid"])
    send_from_here(addr, b"READY=1\nSTATUS=outside")
    send_from_here(addr, b"READY=1")
    touch(go)
    s = wait_status_text(conn, j["id"], "inside")
    assert s["ready"] is False, "a process outside the job made it ready: %r" % s
    stop_job(conn, j["id"])


def test_ready_goes_to_the_senders_job(conn, tmp_path):
    """Two notify jobs and one without notify share procd's socket: each
    datagram counts for its sender's job only, and a job without notify
    that sends anyway changes nothing."""
    go = tmp_path / "go"
    a = lc_start(conn, sender("wait:%s" % go, hexarg(b"READY=1\nSTATUS=a")), notify=True)
    b = lc_start(conn, nw(), notify=True)
    addr = lc_proc_environ(a["pid"])["NOTIFY_SOCKET"]
    c = lc_start(conn, sender(hexarg(b"READY=1\nSTATUS=c")), env={"NOTIFY_SOCKET": addr})
    time.sleep(0.5)
    touch(go)
    wait_ready(conn, a["id"])
    sa = wait_status_text(conn, a["id"], "a")
    assert sa["ready"] is True, sa
    time.sleep(0.2)
    sb, sc = lc_status(conn, b["id"]), lc_status(conn, c["id"])
    assert sb["ready"] is False and sb["status_text"] is None, sb
    assert sc["ready"] is None and sc["status_text"] is None, sc
    for j in (a, b, c):
        stop_job(conn, j["id"])


# --- datagrams that are dropped ---

BIG = 4096

# (id, datagram, what to sync with). Each dropped datagram is sent after
# "STATUS=before" and followed by a sync datagram: "status" syncs with
# STATUS=sync (the dropped one must not have made the job ready), "ready"
# with READY=1 (the dropped one must not have changed status_text).
DROPPED = [
    ("zero-length", b"", "status"),
    ("no-equals", b"READY", "status"),
    ("empty-key", b"=1", "status"),
    ("empty-key-line", b"READY=1\n=1", "status"),
    ("bare-line", b"READY=1\nREADY", "status"),
    ("lowercase-key", b"READY=1\nstatus=x", "status"),
    ("nul-after", b"READY=1\x00", "status"),
    ("nul-inside", b"READY=1\nSTATUS=a\x00b", "status"),
    ("nul-only", b"\x00" * 16, "status"),
    ("binary", bytes(range(256)) + b"\nREADY=1", "status"),
    ("binary-prefix", b"\xff\xfe\x00\x01READY=1", "status"),
    ("oversized-8k", b"READY=1\nSTATUS=" + b"x" * 8000, "status"),
    ("just-over-4096", b"READY=1\nSTATUS=" + b"x" * (BIG + 1 - 15), "status"),
    ("status-bad-utf8", b"STATUS=\xff\xfebad", "ready"),
    ("status-control-char", b"STATUS=a\x1b[31mb", "ready"),
    ("status-oversized", b"STATUS=" + b"y" * 8000, "ready"),
]


@pytest.mark.parametrize("data,sync", [(d, s) for _, d, s in DROPPED],
                         ids=[i for i, _, _ in DROPPED])
def test_bad_datagram_dropped(procd, conn, data, sync):
    assert len(b"READY=1\nSTATUS=") == 15
    follow = b"STATUS=sync" if sync == "status" else b"READY=1"
    j = lc_start(conn, sender(hexarg(b"STATUS=before"), hexarg(data), hexarg(follow)),
                 notify=True)
    if sync == "status":
        s = wait_status_text(conn, j["id"], "sync")
        assert s["ready"] is False, "the dropped datagram %r made the job ready: %r" % (
            data[:40], s)
    else:
        s = wait_ready(conn, j["id"])
        assert s["status_text"] == "before", \
            "the dropped datagram %r changed status_text: %r" % (data[:40], s)
    assert s["state"] == "running", s
    # procd keeps serving, and still takes a correct datagram from the job
    assert procd.alive()
    assert procd.call("info")["pid"] == procd.pid
    j2 = lc_start(conn, sender(hexarg(b"READY=1\nSTATUS=fine")), notify=True)
    wait_ready(conn, j2["id"])
    wait_status_text(conn, j2["id"], "fine")
    stop_job(conn, j["id"])
    stop_job(conn, j2["id"])


def test_many_bad_datagrams_then_a_good_one(procd, conn):
    bad = [d for _, d, s in DROPPED if s == "status"] * 5
    j = lc_start(conn, sender(*([hexarg(d) for d in bad] + [hexarg(b"STATUS=after")])),
                 notify=True)
    s = wait_status_text(conn, j["id"], "after", 20)
    assert s["ready"] is False, s
    j = lc_start(conn, sender(hexarg(b"READY=1")), notify=True)
    wait_ready(conn, j["id"])
    assert procd.alive()


def test_datagram_of_4096_bytes_taken(conn):
    text = "z" * (BIG - 15)
    data = ("READY=1\nSTATUS=" + text).encode()
    assert len(data) == BIG
    j = lc_start(conn, sender(hexarg(data)), notify=True)
    wait_ready(conn, j["id"])
    wait_status_text(conn, j["id"], text)
    stop_job(conn, j["id"])


def test_passed_fds_do_not_leak(procd, conn):
    """Datagrams that carry file descriptors (as sd_notify_barrier and
    sd_pid_notify_with_fds send them): procd does not keep them."""
    def nfds():
        return len(os.listdir("/proc/%d/fd" % procd.pid))
    warm = lc_start(conn, sender(hexarg(b"STATUS=warm")), notify=True)
    wait_status_text(conn, warm["id"], "warm")
    before = nfds()
    j = lc_start(conn, sender("fds:200", hexarg(b"STATUS=done")), notify=True)
    wait_status_text(conn, j["id"], "done", 20)
    after = nfds()
    assert after - before < 20, "procd holds %d more fds after 200 datagrams with fds" % (
        after - before)
    stop_job(conn, j["id"])
    stop_job(conn, warm["id"])


# --- wait_ready and ready_timeout ---

def test_wait_ready_answers_after_ready(conn):
    t0 = time.monotonic()
    j = conn.call("start", {"argv": nw("sleep:500", "READY=1\\nSTATUS=up"), "notify": True,
                            "wait_ready": True}, timeout=30)
    took = time.monotonic() - t0
    assert took >= 0.4, "start answered after %.3f s, before the worker was ready" % took
    assert j["ready"] is True and j["state"] == "running", j
    assert pid_alive(j["pid"])
    stop_job(conn, j["id"])


def test_wait_ready_with_a_timeout_that_does_not_pass(conn):
    """Ready before ready_timeout: the answer is the job, and the timeout
    passing later does nothing to it."""
    t0 = time.monotonic()
    j = conn.call("start", {"argv": nw("sleep:200", "READY=1"), "notify": True,
                            "wait_ready": True, "ready_timeout": 1.0}, timeout=30)
    assert time.monotonic() - t0 < 5
    assert j["ready"] is True and j["state"] == "running", j
    time.sleep(1.5)
    s = lc_status(conn, j["id"])
    assert s["state"] == "running" and pid_alive(j["pid"]), \
        "a job that was ready in time was stopped when ready_timeout passed: %r" % s
    stop_job(conn, j["id"])


def test_ready_timeout_after_an_early_exit_does_nothing(procd, conn):
    e = start_err(conn, {"argv": nw("sleep:100", "exit:4"), "notify": True,
                         "wait_ready": True, "ready_timeout": 0.6})
    assert e["code"] == SPAWN_FAILED and "exited before it was ready" in e["message"], e
    time.sleep(1.0)
    s = lc_status(conn, e["data"]["id"])
    assert s["state"] == "exited" and s["exitcode"] == 4, s
    assert procd.alive()
    conn.call("close", {"job": s["id"]})


def test_terminate_while_start_waits_for_ready(procd, conn):
    rid = conn.request("start", {"argv": nw(), "notify": True, "wait_ready": True,
                                 "name": "stuck"})
    other = procd.connect()
    wait_until(lambda: other.call("list"), 10)
    other.call("terminate", {"job": "stuck"})
    r = conn.response(rid, 15)
    assert "error" in r, r
    assert r["error"]["code"] == SPAWN_FAILED, r
    assert "exited before it was ready" in r["error"]["message"], r
    assert r["error"]["data"]["exitcode"] == -15, r


def test_client_gone_while_start_waits_for_ready(procd, tmp_path):
    """The answer is lost with the connection; nothing else changes: the
    job runs on and becomes ready."""
    go = tmp_path / "go"
    c = procd.connect()
    c.request("start", {"argv": sender("wait:%s" % go, hexarg(b"READY=1")), "notify": True,
                        "wait_ready": True, "name": "orphaned"})
    other = procd.connect()
    wait_until(lambda: other.call("list"), 10)
    c.close()
    time.sleep(0.2)
    touch(go)
    s = wait_ready(other, "orphaned")
    assert s["state"] == "running", s
    assert procd.alive()
    stop_job(other, "orphaned")


def test_wait_ready_in_a_batch(conn):
    """A batch is answered once every request in it has its answer."""
    t0 = time.monotonic()
    conn.send([{"jsonrpc": "2.0", "method": "start", "id": 1,
                "params": {"argv": nw("sleep:500", "READY=1"), "notify": True,
                           "wait_ready": True}},
               {"jsonrpc": "2.0", "method": "info", "id": 2}])
    line = conn.read_line(15)
    took = time.monotonic() - t0
    answers = json.loads(line)
    assert isinstance(answers, list) and len(answers) == 2, answers
    byid = {a["id"]: a for a in answers}
    assert byid[1]["result"]["ready"] is True, answers
    assert "result" in byid[2], answers
    assert took >= 0.4, "the batch was answered after %.3f s, before ready" % took
    stop_job(conn, byid[1]["result"]["id"])


def test_wait_ready_does_not_block(procd, conn):
    """While a start waits for readiness, procd answers the same client's
    other requests and other clients."""
    rid = conn.request("start", {"argv": nw("sleep:1500", "READY=1"), "notify": True,
                                 "wait_ready": True})
    other = procd.connect()
    assert other.call("info", timeout=5)["pid"] == procd.pid
    iid = conn.request("info")
    first = conn.recv(5)
    assert isinstance(first, dict) and first.get("id") == iid and "result" in first, \
        "info was not answered while start waited for readiness: %r" % (first,)
    r = conn.response(rid, 30)
    assert "result" in r, r
    assert r["result"]["ready"] is True, r
    stop_job(conn, r["result"]["id"])


def test_wait_ready_exit_before_ready(conn):
    e = start_err(conn, {"argv": nw("sleep:200", "exit:3"), "notify": True,
                         "wait_ready": True, "name": "early"})
    assert e["code"] == SPAWN_FAILED, e
    assert "exited before it was ready" in e["message"], e
    data = e.get("data")
    assert isinstance(data, dict), "data must be the job object: %r" % (e,)
    assert data["name"] == "early" and data["exitcode"] == 3, data
    assert data["ready"] is False, data
    # the job stays until closed
    s = lc_wait_state(conn, "early", "exited")
    assert s["id"] == data["id"] and s["exitcode"] == 3, s
    assert [x["id"] for x in conn.call("list")] == [data["id"]]
    conn.call("close", {"job": data["id"]})
    assert lc_err(conn, "status", {"job": data["id"]})["code"] == NOT_FOUND


def test_wait_ready_killed_before_ready(conn):
    e = start_err(conn, {"argv": ["sh", "-c", "sleep 0.2; kill -9 $$"], "notify": True,
                         "wait_ready": True})
    assert e["code"] == SPAWN_FAILED, e
    assert "exited before it was ready" in e["message"], e
    assert isinstance(e.get("data"), dict) and e["data"]["exitcode"] == -9, e
    conn.call("close", {"job": lc_wait_state(conn, e["data"]["id"], "exited")["id"]})


def test_ready_timeout_terminates(conn):
    t0 = time.monotonic()
    e = start_err(conn, {"argv": nw(), "notify": True, "wait_ready": True,
                         "ready_timeout": 0.5, "name": "slow"})
    took = time.monotonic() - t0
    assert e["code"] == SPAWN_FAILED, e
    assert "not ready in time" in e["message"], e
    assert 0.4 <= took < 10, "answered after %.3f s with ready_timeout 0.5" % took
    data = e.get("data")
    assert isinstance(data, dict), "data must be the job object: %r" % (e,)
    assert data["name"] == "slow" and data["ready"] is False, data
    assert data["state"] in ("stopping", "exited"), data
    s = lc_wait_state(conn, "slow", "exited")
    assert s["exitcode"] == -15, "the job is stopped as by terminate: %r" % s
    assert not pid_alive(s["pid"])
    conn.call("close", {"job": "slow"})


def test_ready_timeout_kills_after_stop_timeout(conn, tmp_path):
    """As by terminate: SIGTERM, then SIGKILL once stop_timeout passes."""
    argv = ["sh", "-c", 'trap "" TERM; exec "$0"', NOTIFY_WORKER]
    e = start_err(conn, {"argv": argv, "notify": True, "wait_ready": True,
                         "ready_timeout": 0.3, "stop_timeout": 0.5})
    assert e["code"] == SPAWN_FAILED and "not ready in time" in e["message"], e
    s = lc_wait_state(conn, e["data"]["id"], "exited", 10)
    assert s["exitcode"] == -9, s


@pytest.mark.parametrize("params", [
    {"wait_ready": True},
    {"wait_ready": True, "notify": False},
    {"wait_ready": True, "notify": None},
    {"ready_timeout": 1},
    {"notify": True, "ready_timeout": 1},
    {"notify": True, "wait_ready": False, "ready_timeout": 1},
    {"notify": True, "wait_ready": None, "ready_timeout": 1},
    {"notify": "yes"},
    {"notify": 1},
    {"notify": True, "wait_ready": "true"},
    {"notify": True, "wait_ready": True, "ready_timeout": -1},
    {"notify": True, "wait_ready": True, "ready_timeout": "1"},
], ids=lambda p: ",".join("%s=%s" % kv for kv in sorted(p.items())))
def test_readiness_params_invalid(conn, params):
    p = dict(params)
    p["argv"] = ["sleep", "300"]
    e = start_err(conn, p)
    assert e["code"] == INVALID_PARAMS, e
    assert conn.call("list") == [], "a refused start made a job"


def test_readiness_params_null_mean_absent(conn):
    j = lc_start(conn, ["sleep", "300"], notify=None, wait_ready=None, ready_timeout=None)
    assert j["ready"] is None, j
    j2 = lc_start(conn, nw(), notify=True, wait_ready=None, ready_timeout=None)
    assert j2["ready"] is False, j2
    stop_job(conn, j["id"])
    stop_job(conn, j2["id"])


# --- restarts ---

def test_ready_false_again_after_restart(procd, conn):
    sc = procd.connect()
    subscribe(sc)
    j = lc_start(conn, nw("sleep:300", "READY=1\\nSTATUS=up", "sleep:300", "exit:1"),
                 notify=True, restart="on-failure", restart_delay=0.2, restart_limit=1)
    evs = job_events_until(sc, j["id"], "exited", 30)
    names = [e["event"] for e in evs]
    assert names == ["started", "ready", "restarting", "started", "ready", "exited"], names
    starts = [e["job"] for e in evs if e["event"] == "started"]
    readies = [e["job"] for e in evs if e["event"] == "ready"]
    assert starts[0]["ready"] is False and starts[1]["ready"] is False, \
        "ready is not false again after the restart: %r" % starts[1]
    assert starts[1]["restarts"] == 1, starts[1]
    assert readies[0]["ready"] is True and readies[1]["ready"] is True, readies
    assert readies[1]["restarts"] == 1 and readies[1]["pid"] == starts[1]["pid"], readies[1]
    assert starts[1]["pid"] != starts[0]["pid"]
    assert lc_status(conn, j["id"])["exitcode"] == 1


def test_ready_false_while_the_new_process_is_not_ready(conn, tmp_path):
    go = tmp_path / "go"
    # first run: ready, then exits 1; second run: waits for go before READY=1
    argv = ["sh", "-c", 'if [ -e "$1.ran" ]; then while [ ! -e "$1" ]; do sleep 0.02; done; '
            'exec "$0" READY=1; fi; : > "$1.ran"; exec "$0" READY=1 sleep:500 exit:1',
            NOTIFY_WORKER, str(go)]
    j = lc_start(conn, argv, notify=True, restart="on-failure", restart_delay=0.2)
    wait_ready(conn, j["id"])
    s = wait_job(conn, j["id"], lambda s: s["restarts"] == 1 and s["state"] == "running",
                 "the restart", 15)
    time.sleep(0.3)
    s = lc_status(conn, j["id"])
    assert s["restarts"] == 1 and s["ready"] is False, s
    touch(go)
    wait_ready(conn, j["id"])
    stop_job(conn, j["id"])


def test_wait_ready_exit_before_ready_with_restart(conn):
    e = start_err(conn, {"argv": nw("sleep:100", "exit:1"), "notify": True,
                         "wait_ready": True, "restart": "on-failure", "restart_delay": 0.2,
                         "name": "flappy"})
    assert e["code"] == SPAWN_FAILED, e
    assert "exited before it was ready" in e["message"], e
    assert isinstance(e.get("data"), dict) and e["data"]["name"] == "flappy", e
    assert e["data"]["exitcode"] == 1, e
    # the job carries on by its policy
    s = wait_job(conn, "flappy", lambda s: s["restarts"] >= 2, "two restarts", 15)
    assert s["state"] in ("running", "restarting"), s
    conn.call("terminate", {"job": "flappy"})
    s = lc_join(conn, "flappy")
    assert s["state"] == "exited", s
    conn.call("close", {"job": "flappy"})


# --- floods ---

@pytest.mark.parametrize("who", ["job", "outsider"])
def test_datagram_flood_does_not_stall_clients(procd, conn, tmp_path, who):
    n = 5000
    go = tmp_path / "go"
    if who == "job":
        j = lc_start(conn, sender("wait:%s" % go, "flood:%d:STATUS=n" % n,
                                  hexarg(b"STATUS=done")), notify=True)
    else:
        j = lc_start(conn, sender("wait:%s" % go, hexarg(b"STATUS=done")), notify=True)
        addr = notify_address(j["pid"])
    other = procd.connect()
    other.call("info")
    worst = [0.0]
    stop = threading.Event()
    errors = []

    def flood_here():
        s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        s.settimeout(10)
        try:
            for i in range(n):
                s.sendto(b"READY=1\nSTATUS=outside%d" % i, addr)
        except OSError as ex:
            errors.append(ex)
        finally:
            s.close()
            stop.set()

    t0 = time.monotonic()
    if who == "outsider":
        th = threading.Thread(target=flood_here)
        th.start()
    else:
        touch(go)
    calls = 0
    while time.monotonic() - t0 < 3.0:
        c0 = time.monotonic()
        assert other.call("status", {"job": j["id"]}, timeout=10)["id"] == j["id"]
        worst[0] = max(worst[0], time.monotonic() - c0)
        calls += 1
    if who == "outsider":
        th.join(30)
        assert stop.is_set()
        touch(go)
    assert worst[0] < 1.0, "a status call took %.3f s during the flood" % worst[0]
    s = wait_status_text(conn, j["id"], "done", 60)
    assert s["ready"] is False, s
    assert procd.alive()
    stop_job(conn, j["id"])


# --- a tree job (section 12): its cgroup is the job ---

def test_tree_job_sender_outside_the_group_counts(procd, conn):
    info = procd.call("info")
    assert "cgroups" in info, "info lacks cgroups: %r" % info
    if not info["cgroups"]:
        pytest.skip("cgroups not available: info.cgroups is false")
    j = lc_start(conn, nw("away:READY=1\\nSTATUS=from the tree"), notify=True,
                 kill_mode="tree")
    wait_ready(conn, j["id"])
    wait_status_text(conn, j["id"], "from the tree")
    stop_job(conn, j["id"])


def test_ready_timeout_cutting_off_its_own_client(procd_factory):
    """The stop at ready_timeout can push the waiting client past its
    output limit (its subscription gets the stopping event): procd drops
    that client and its pending start, and keeps serving. (The job object
    is over the limit, so the other client asks only for counts.)"""
    d = procd_factory(args=("--max-output", "1024"))
    c = d.connect()
    subscribe(c)
    # the status text is made in the job: a long argv would cut the
    # client off at the started event already
    big = ["sh", "-c", 'exec "$0" "STATUS=$(printf %1500s x)"', NOTIFY_WORKER]
    c.request("start", {"argv": big, "notify": True, "wait_ready": True,
                        "ready_timeout": 1})
    other = d.connect()
    gone = lambda: other.call("info")["jobs"]["running"] == 0
    wait_until(lambda: not d.alive() or gone(), 15)
    assert d.alive(), d.stderr_text()
    assert sum(other.call("info")["jobs"].values()) == 1


def test_wait_ready_client_cut_off_by_the_started_event(procd_factory):
    """A start whose own started event cuts its client off is not left
    parked on that client: the job's exit later finds no request to
    answer."""
    d = procd_factory(args=("--max-output", "1024"))
    c = d.connect()
    subscribe(c)
    c.request("start", {"argv": nw("sleep:300", "x" * 1500), "notify": True,
                        "wait_ready": True})
    other = d.connect()
    wait_until(lambda: other.call("info")["jobs"]["running"] == 1, 10)
    # a notification: the answer, a job object, is over the limit
    other.send({"jsonrpc": "2.0", "method": "kill", "params": {"job": 1}})
    wait_until(lambda: not d.alive() or
               other.call("info")["jobs"]["exited"] == 1, 10)
    assert d.alive(), d.stderr_text()


def test_ready_timeout_applies_after_the_client_left(procd, conn):
    """A client that goes away loses its answer; nothing else changes:
    the job is still stopped when its ready_timeout passes."""
    c = procd.connect()
    c.request("start", {"argv": ["sleep", "300"], "name": "left",
                        "notify": True, "wait_ready": True,
                        "ready_timeout": 0.5})
    wait_until(lambda: any(j["name"] == "left" for j in conn.call("list")), 10)
    c.close()
    j = lc_join(conn, "left", timeout=10)
    assert j["state"] == "exited" and j["exitcode"] == -15, j
