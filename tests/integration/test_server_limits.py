# SPDX-License-Identifier: ISC
# Server limits (procd(8), procd-protocol(7)): --max-clients,
# --max-jobs, --max-output, EMFILE on accept without a busy loop, and
# procd's own command line.
import os
import resource
import socket
import subprocess
import threading
import time

import pytest

from conftest import (PROCD, SANITIZED, Conn, lg_vm, pid_alive, srv_check, srv_expect_eof,
                      wait_for_socket, wait_until)

SLEEP = ["sleep", "1000"]


def connect_served(path, timeout=10.0):
    """A connection procd has accepted and answers (retrying while procd
    has not yet noticed that earlier clients went away)."""
    deadline = time.monotonic() + timeout
    while True:
        c = Conn(path)
        try:
            c.request("info", id="probe")
            m = c.recv()
            if isinstance(m, dict) and "result" in m:
                return c
        except (ConnectionResetError, BrokenPipeError, TimeoutError):
            pass
        c.close()
        assert time.monotonic() < deadline, "procd never served a new connection"
        time.sleep(0.05)


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        f = f.read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")


# --- --max-clients ---------------------------------------------------------------

def test_max_clients(procd_factory):
    d = procd_factory(args=["--max-clients", "3"])
    conns = [connect_served(d.sock) for _ in range(3)]
    extra = Conn(d.sock)
    m = extra.recv()
    srv_check(m, None, -32007)
    srv_expect_eof(extra)
    extra.close()
    # the refusal did not disturb the three
    for i, c in enumerate(conns):
        srv_check(c.call_raw("info"), c.next_id - 1)
    # a refused client that sends a request first gets the same
    extra = Conn(d.sock)
    try:
        extra.send_raw(b'{"jsonrpc":"2.0","method":"info","id":1}\n')
    except (BrokenPipeError, ConnectionResetError):
        pass
    try:
        m = extra.recv()
    except ConnectionResetError:
        m = None
    assert m is not None, "refused without the -32007 error"
    srv_check(m, None, -32007)
    srv_expect_eof(extra)
    extra.close()
    # a slot freed is usable again
    conns.pop().close()
    conns.append(connect_served(d.sock))
    extra = Conn(d.sock)
    srv_check(extra.recv(), None, -32007)
    srv_expect_eof(extra)
    for c in conns:
        c.close()
    assert d.alive()


def test_max_clients_refused_clients_do_not_count(procd_factory):
    d = procd_factory(args=["--max-clients", "1"])
    a = connect_served(d.sock)
    for _ in range(30):
        x = Conn(d.sock)
        srv_check(x.recv(), None, -32007)
        srv_expect_eof(x)
        x.close()
    srv_check(a.call_raw("info"), 1)
    a.close()
    b = connect_served(d.sock)
    srv_check(b.call_raw("list"), 1)


# --- --max-jobs ------------------------------------------------------------------

def test_max_jobs(procd_factory):
    d = procd_factory(args=["--max-jobs", "2"])
    c = d.connect()
    a = c.call("start", {"argv": SLEEP})
    b = c.call("start", {"argv": SLEEP, "parent": a["id"]})
    r = c.call_raw("start", {"argv": SLEEP})
    srv_check(r, r["id"], -32007)
    assert len(c.call("list")) == 2
    # an exited job still counts until it is closed
    c.call("kill", {"job": b["id"]})
    j = c.call("join", {"job": b["id"], "timeout": 10})
    assert j["state"] == "exited"
    r = c.call_raw("start", {"argv": SLEEP})
    srv_check(r, r["id"], -32007)
    # also as a notification: nothing started
    c.send({"jsonrpc": "2.0", "method": "start", "params": {"argv": SLEEP}})
    assert len(c.call("list")) == 2
    c.call("close", {"job": b["id"]})
    n = c.call("start", {"argv": SLEEP})
    assert n["state"] == "running"
    r = c.call_raw("start", {"argv": SLEEP})
    srv_check(r, r["id"], -32007)
    assert sorted(j["id"] for j in c.call("list")) == sorted([a["id"], n["id"]])


# --- --max-output ------------------------------------------------------------------

def test_max_output_client_that_does_not_read(procd_factory):
    d = procd_factory(args=["--max-output", "65536"])
    ctl = d.connect()
    job = ctl.call("start", {"argv": SLEEP})
    other = d.connect()
    other.request("join", {"job": job["id"]}, id="w")

    hog = Conn(d.sock)
    n = 100000
    data = b"".join(b'{"jsonrpc":"2.0","method":"info","id":%d}\n' % i for i in range(n))
    result = {}

    def pump():
        hog.sock.settimeout(60)
        try:
            hog.sock.sendall(data)
            result["sent"] = True
        except (BrokenPipeError, ConnectionResetError) as e:
            result["error"] = e
        except socket.timeout as e:
            result["timeout"] = e

    t = threading.Thread(target=pump)
    t.start()
    t.join(90)
    assert not t.is_alive()
    assert "timeout" not in result, "procd stopped reading the client instead of closing it"
    # procd dropped it: whatever was queued can be read, then the end
    hog.sock.settimeout(10)
    buf = b""
    try:
        while True:
            chunk = hog.sock.recv(1 << 20)
            if not chunk:
                break
            buf += chunk
    except ConnectionResetError:
        pass
    count = buf.count(b"\n")
    assert count < n, "procd answered all %d requests instead of closing" % n
    # others are unaffected, nothing of the job is lost
    assert d.alive()
    assert ctl.call("status", {"job": job["id"]})["state"] == "running"
    ctl.call("terminate", {"job": job["id"]})
    m = other.response("w")
    assert m["result"]["state"] == "exited"
    assert len(d.call("list")) == 1


def test_pipelined_requests_under_the_limit_all_answered(procd):
    # the default limit is 16 MiB: about 20000 info answers stay well below
    c = procd.connect()
    n = 20000
    data = b"".join(b'{"jsonrpc":"2.0","method":"info","id":%d}\n' % i for i in range(n))
    c.sock.settimeout(30)
    try:
        c.sock.sendall(data)   # procd must keep reading while answers queue up
    except socket.timeout:
        pytest.fail("procd stopped reading a client whose answers were queued")
    seen = set()
    for _ in range(n):
        m = c.recv(timeout=30)
        assert m is not None, "closed after %d answers" % len(seen)
        seen.add(m["id"])
    assert seen == set(range(n))


def test_single_answer_larger_than_max_output(procd_factory):
    d = procd_factory(args=["--max-output", "4096"])
    ctl = d.connect()
    big_argv = ["sh", "-c", "exec sleep 1000", "x" * 6000]
    a = Conn(d.sock)
    a.request("start", {"argv": big_argv, "name": "big"}, id=1)
    srv_expect_eof(a)          # the answer alone is over the limit
    a.close()
    # the job was started all the same, and small answers still flow
    info = ctl.call("info")
    assert info["jobs"]["running"] == 1, info
    b = Conn(d.sock)
    b.request("status", {"job": "big"}, id=2)
    srv_expect_eof(b)
    b.close()
    small = ctl.call("start", {"argv": SLEEP})
    assert ctl.call("status", {"job": small["id"]})["state"] == "running"
    # terminate answers the big job object too: that connection is closed,
    # the job is terminated all the same
    t = Conn(d.sock)
    t.request("terminate", {"job": "big"}, id=3)
    srv_expect_eof(t)
    t.close()
    wait_until(lambda: ctl.call("info")["jobs"]["exited"] == 1)
    assert ctl.call("info")["jobs"]["running"] == 1


# --- EMFILE on accept ----------------------------------------------------------------

def limit_nofile(n):
    def f():
        resource.setrlimit(resource.RLIMIT_NOFILE, (n, n))
    return f


def test_emfile_does_not_spin(tmp_path, srv_spawn):
    path = str(tmp_path / "procd.sock")
    p = srv_spawn(tmp_path, [PROCD, "--socket", path, "-v"], preexec_fn=limit_nofile(40))
    wait_for_socket(path, p.proc)
    ctl = connect_served(path)
    job = ctl.call("start", {"argv": SLEEP})
    served = [ctl]
    stuck = []
    try:
        for i in range(80):
            c = Conn(path)
            c.request("info", id=i)
            try:
                m = c.recv(timeout=1.5)
            except (TimeoutError, ConnectionResetError):
                m = "timeout"
            if isinstance(m, dict) and "result" in m:
                served.append(c)
                continue
            stuck.append(c)
            break
        assert stuck, "procd served 80 clients with 40 fds?"
        for i in range(2):      # more clients waiting in the backlog
            c = Conn(path)
            c.request("info", id="more%d" % i)
            stuck.append(c)
        assert len(served) >= 10, "procd served only %d clients with 40 fds" % len(served)
        # now procd is out of fds with clients waiting to be accepted
        time.sleep(0.2)
        t0 = cpu_seconds(p.pid)
        time.sleep(1.0)
        used = cpu_seconds(p.pid) - t0
        assert used < 0.3, "procd used %.2f s of CPU in 1 s while out of fds" % used
        assert p.alive()
        # free some descriptors: procd accepts again
        for c in served[-5:]:
            c.close()
        del served[-5:]
        fresh = connect_served(path, timeout=15)
        served.append(fresh)
        assert fresh.call("status", {"job": job["id"]})["state"] == "running"
        assert ctl.call("info")["pid"] == p.pid
    finally:
        for c in served + stuck:
            c.close()
    assert p.stop() == 0, p.stderr_text()
    assert not pid_alive(job["pid"])


# --- procd's own command line ------------------------------------------------------

def procd_cmd(*args):
    return subprocess.run([PROCD] + list(args), capture_output=True, text=True,
                          timeout=10, stdin=subprocess.DEVNULL)


def test_procd_help_and_version():
    r = procd_cmd("--help")
    assert r.returncode == 0, r
    for opt in ("--socket", "--socket-mode", "--socket-group", "--max-clients",
                "--max-jobs", "--max-request", "--max-output", "--log-limit",
                "--event-history", "--verbose", "--version", "--help"):
        assert opt in r.stdout, (opt, r.stdout)
    r = procd_cmd("--version")
    assert r.returncode == 0 and r.stdout.startswith("procd "), r


@pytest.mark.parametrize("args,says", [
    (["stray"], "unexpected argument: stray"),
    (["--max-request", "63"], "--max-request"),
    (["--max-output", "1023"], "--max-output"),
    (["--max-clients", "0"], "--max-clients"),
    (["--max-jobs", "x"], "--max-jobs"),
    (["--socket-mode", "999"], "--socket-mode"),
    (["--no-such-option"], "no-such-option"),
], ids=lambda v: " ".join(v) if isinstance(v, list) else None)
def test_procd_usage_errors(tmp_path, args, says):
    r = procd_cmd("--socket", str(tmp_path / "p.sock"), *args)
    assert r.returncode == 2, r
    assert says in r.stderr, r.stderr
    assert not (tmp_path / "p.sock").exists()


# --- memory per client: the output limit bounds memory, not only bytes ------------

@pytest.mark.skipif(SANITIZED, reason="sanitizer builds use memory of their own")
def test_small_answers_cost_what_they_count(procd_factory):
    """A client that pipelines tiny requests and reads nothing is cut off at
    its output limit, and procd's memory grows by about that much, not by
    ten times that (a buffer chain per small answer)."""
    limit = 4 << 20
    d = procd_factory(args=["--max-output", str(limit)])
    before = lg_vm(d.pid, "VmRSS")
    s = socket.socket(socket.AF_UNIX)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(d.sock)
    try:
        while True:
            s.sendall(b"{}\n" * 20000)
    except OSError:
        pass            # cut off at the limit: procd closed the connection
    finally:
        s.close()
    grown = lg_vm(d.pid, "VmHWM") - before
    assert grown < 3 * (limit >> 10), "peak grew %d KiB for a %d KiB limit" % (
        grown, limit >> 10)
    assert "pid" in d.call("info")
