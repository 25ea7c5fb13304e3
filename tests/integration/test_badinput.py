# SPDX-License-Identifier: ISC
# Bad input and rough clients: garbage, random bytes, many clients at once,
# slow writers and readers, and no file descriptor leaked by any of it.
# After each, procd still serves others and no job is lost.
import json
import os
import random
import socket
import time

import pytest

from conftest import Conn, srv_check, srv_expect_eof, wait_until

SLEEP = ["sleep", "1000"]


def start_sleeper(conn, **params):
    p = {"argv": SLEEP}
    p.update(params)
    return conn.call("start", p)


def assert_job_kept(procd, job):
    """procd serves a new client and the job is still there, running."""
    assert procd.alive()
    j = procd.call("status", {"job": job["id"]})
    assert j["state"] == "running" and j["pid"] == job["pid"], j
    assert [x["id"] for x in procd.call("list")] == [job["id"]]


def answers_until(conn, tag):
    """Every message before the response to request tag (sent here)."""
    conn.request("info", id=tag)
    out = []
    while True:
        m = conn.recv(timeout=20)
        assert m is not None, "connection closed; got %d answers" % len(out)
        if isinstance(m, dict) and m.get("id") == tag:
            srv_check(m, tag)
            return out
        out.append(m)


GARBAGE = [
    b"hello", b"{", b"}", b"[", b"]]", b"{'a': 1}", b'{"jsonrpc":"2.0",}',
    b'{"a" 1}', b"tru", b"nul", b"NaN", b"Infinity", b"-", b"01", b"1e", b".5",
    b'"unterminated', b"\\", b"/* comment */ {}", b"\x1b[31mred\x1b[0m",
    b"nul\x00byte", b"\x00", b'{"jsonrpc":"2.0","method":"info\x00","id":1}',
    b'{"jsonrpc":"2.0","method":"info","id":1}}', b'{"jsonrpc":"2.0","method":"info","id":1} x',
    b'{"jsonrpc":"2.0","method":"in\tfo","id":1}',
    b'{"jsonrpc":"2.0","method":"info","id":1}{"jsonrpc":"2.0","method":"info","id":2}',
    b'["\\ud800"]x', b'{"a":"\\x41"}', b"GET / HTTP/1.1",
]


def test_garbage_lines(procd):
    c = procd.connect()
    job = start_sleeper(c)
    for g in GARBAGE:
        c.send_raw(g + b"\n")
        m = c.recv()
        srv_check(m, None, -32700)
    assert "pid" in c.call("info")
    assert_job_kept(procd, job)


def test_garbage_all_in_one_write(procd):
    c = procd.connect()
    job = start_sleeper(c)
    c.send_raw(b"\n".join(GARBAGE) + b"\n")
    got = answers_until(c, "end")
    assert len(got) == len(GARBAGE), got
    for m in got:
        srv_check(m, None, -32700)
    assert_job_kept(procd, job)


def test_random_binary_lines(procd):
    rng = random.Random(1234)
    c = procd.connect()
    job = start_sleeper(c)
    lines = []
    for _ in range(300):
        n = rng.randrange(0, 400)
        body = bytes(rng.randrange(256) for _ in range(n)).replace(b"\n", b"")
        lines.append(b"\xff" + body)      # never valid UTF-8, never empty
    c.send_raw(b"\n".join(lines) + b"\n")
    got = answers_until(c, "end")
    assert len(got) == len(lines)
    for m in got:
        srv_check(m, None, -32700)
    assert_job_kept(procd, job)


def test_random_binary_stream(procd):
    rng = random.Random(99)
    ctl = procd.connect()
    job = start_sleeper(ctl)
    for i in range(20):
        c = Conn(procd.sock)
        data = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 20000)))
        try:
            c.send_raw(data)
            if i % 2:
                c.send_raw(b"\n")
        except (BrokenPipeError, ConnectionResetError):
            pass
        c.close()
    assert_job_kept(procd, job)
    assert ctl.call("status", {"job": job["id"]})["state"] == "running"


def test_500_clients_at_once(procd):
    ctl = procd.connect()
    job = start_sleeper(ctl)
    clients = []
    try:
        for i in range(500):
            c = Conn(procd.sock, timeout=30)
            clients.append(c)
        for i, c in enumerate(clients):
            if i % 2:
                c.request("status", {"job": job["id"]}, id="s%d" % i)
            else:
                c.request("info", id=i)
        for i, c in enumerate(clients):
            if i % 2:
                m = srv_check(c.recv(timeout=30), "s%d" % i)
                assert m["result"]["id"] == job["id"]
            else:
                m = srv_check(c.recv(timeout=30), i)
                assert m["result"]["pid"] == procd.pid
    finally:
        for c in clients:
            c.close()
    assert_job_kept(procd, job)


def test_500_clients_each_with_a_pending_join(procd):
    ctl = procd.connect()
    job = start_sleeper(ctl)
    clients = []
    try:
        for i in range(500):
            c = Conn(procd.sock, timeout=30)
            c.request("join", {"job": job["id"]}, id=i)
            clients.append(c)
        assert ctl.call("status", {"job": job["id"]})["state"] == "running"
        ctl.call("terminate", {"job": job["id"]})
        for i, c in enumerate(clients):
            m = srv_check(c.recv(timeout=30), i)
            assert m["result"]["state"] == "exited"
    finally:
        for c in clients:
            c.close()
    assert procd.call("info")["jobs"]["exited"] == 1


def test_slow_writer_does_not_block_others(procd):
    ctl = procd.connect()
    job = start_sleeper(ctl)
    slow = procd.connect()
    line = b'{"jsonrpc":"2.0","method":"status","params":{"job":%d},"id":"slow"}\n' % job["id"]
    slow.send_raw(line[:20])
    # others are served while the slow line is incomplete
    for _ in range(5):
        assert procd.call("info")["pid"] == procd.pid
    for i in range(20, len(line), 7):
        slow.send_raw(line[i:i + 7])
        assert ctl.call("status", {"job": job["id"]})["state"] == "running"
        time.sleep(0.01)
    m = srv_check(slow.recv(), "slow")
    assert m["result"]["id"] == job["id"]
    assert_job_kept(procd, job)


def test_slow_reader_gets_everything(procd):
    c = procd.connect()
    job = start_sleeper(c)
    n = 300
    c.send_raw(b"".join(b'{"jsonrpc":"2.0","method":"status","params":{"job":%d},"id":%d}\n'
                        % (job["id"], i) for i in range(n)))
    # read in tiny pieces, slowly at first
    buf = b""
    deadline = time.monotonic() + 30
    c.sock.settimeout(10)
    k = 0
    while buf.count(b"\n") < n:
        assert time.monotonic() < deadline
        chunk = c.sock.recv(7 if k < 200 else 65536)
        assert chunk, "closed early"
        buf += chunk
        k += 1
        if k < 50:
            time.sleep(0.005)
    ids = []
    for x in buf.split(b"\n"):
        if x:
            m = json.loads(x)
            ids.append(srv_check(m, m.get("id"))["id"])
    assert sorted(ids) == list(range(n))
    assert_job_kept(procd, job)


def test_client_gone_mid_line(procd):
    ctl = procd.connect()
    job = start_sleeper(ctl)
    for i in range(30):
        c = Conn(procd.sock)
        c.send_raw(b'{"jsonrpc":"2.0","method":"start","params":{"argv":["sleep","1000"]')
        c.close()
    assert_job_kept(procd, job)


def test_invalid_utf8_then_valid_on_same_connection(conn):
    for bad in (b"\xff\xfe", b"\xc0\x80", b"\xed\xbf\xbf", b"\xf5\x80\x80\x80"):
        conn.send_raw(b'{"jsonrpc":"2.0","method":"info","id":1,"a":"' + bad + b'"}\n')
        srv_check(conn.recv(), None, -32700)
        srv_check(conn.call_raw("info"), conn.next_id - 1)


# --- file descriptors ---------------------------------------------------------------

def fd_count(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def one_cycle(d, kind, job):
    c = Conn(d.sock)
    try:
        if kind == 0:
            pass
        elif kind == 1:
            srv_check(c.call_raw("info"), 1)
        elif kind == 2:
            c.send_raw(b"garbage \xff\n{\n")
        elif kind == 3:
            c.send_raw(b'{"jsonrpc":"2.0","method":"in')
        elif kind == 4:
            c.request("join", {"job": job["id"]}, id="j")
            c.request("join", {"job": job["id"], "timeout": 5}, id="jt")
            srv_check(c.call_raw("info"), 1)
        elif kind == 5:
            c.request("join", {"job": job["id"], "timeout": 0.01}, id="jt")
            m = srv_check(c.recv(), "jt")
            assert m["result"]["timed_out"] is True
        elif kind == 6:
            c.send_raw(b'{"jsonrpc":"2.0","method":"info","id":1}\n')
            c.sock.shutdown(socket.SHUT_WR)
            srv_check(c.recv(), 1)
            srv_expect_eof(c)
        elif kind == 7:
            try:
                c.send_raw(b"z" * 5000 + b"\n")
            except (BrokenPipeError, ConnectionResetError):
                pass
            srv_check(c.recv(), None, -32600)
        elif kind == 8:
            j = c.call("start", {"argv": ["true"]})
            j = c.call("join", {"job": j["id"], "timeout": 10})
            assert j["state"] == "exited"
            c.call("close", {"job": j["id"]})
        elif kind == 9:
            r = c.call_raw("status", {"job": 123456})
            srv_check(r, r["id"], -32001)
            c.send_raw(b"[]\n[1,2]\n")
            srv_check(c.recv(), None, -32600)
            assert len(c.recv()) == 2
        elif kind == 10:
            j = c.call("start", {"argv": ["sleep", "100"]})
            c.request("join", {"job": j["id"]}, id="j")
            c.call("kill", {"job": j["id"]})
            assert c.response("j")["result"]["state"] == "exited"
            c.call("close", {"job": j["id"]})
    finally:
        c.close()


PENDING = {
    "join": lambda job: b'{"jsonrpc":"2.0","method":"join","params":{"job":%d},"id":"p"}\n' % job,
    "follow": lambda job: b'{"jsonrpc":"2.0","method":"logs","params":{"job":%d,'
                          b'"follow":true},"id":"p"}\n' % job,
    "batch": lambda job: b'[{"jsonrpc":"2.0","method":"join","params":{"job":%d},"id":"p"},'
                         b'{"jsonrpc":"2.0","method":"info","id":"q"}]\n' % job,
}


@pytest.mark.parametrize("kind", sorted(PENDING))
def test_closed_client_with_pending_request_freed_at_once(procd_factory, kind):
    """A client that closes its socket (not only its writing side) while a
    join or follow is pending is dropped at once: its fd and its client
    slot are free long before the job ends."""
    d = procd_factory(args=["--max-clients", "3"])
    ctl = d.connect()
    job = start_sleeper(ctl)
    d.call("info")
    base = fd_count(d.pid)
    for _ in range(6):
        c = Conn(d.sock)
        c.send_raw(PENDING[kind](job["id"]))
        c.request("status", {"job": job["id"]}, id="s")
        # the status answer shows procd has read the pending request
        srv_check(c.response("s"), "s")
        c.close()
        # Two slots are left besides ctl: a pinned client would use them up.
        assert "pid" in d.call("info")
    wait_until(lambda: fd_count(d.pid) <= base, 5)
    assert ctl.call("status", {"job": job["id"]})["state"] == "running"
    assert d.alive()


def test_no_fd_leak(procd_factory):
    d = procd_factory(args=["--max-request", "4096"])
    ctl = d.connect()
    job = start_sleeper(ctl)
    kinds = 11
    for k in range(kinds):          # warm up: anything procd opens once
        one_cycle(d, k, job)
    d.call("info")
    # A count taken while a closed client's fd is still being released
    # would be one too high: wait until it holds still.
    before = fd_count(d.pid)
    for _ in range(50):
        time.sleep(0.1)
        now = fd_count(d.pid)
        if now == before:
            break
        before = now
    for i in range(200):
        one_cycle(d, i % kinds, job)
    try:
        wait_until(lambda: fd_count(d.pid) <= before, 10)
    except TimeoutError:
        fds = {}
        for f in os.listdir("/proc/%d/fd" % d.pid):
            try:
                fds[f] = os.readlink("/proc/%d/fd/%s" % (d.pid, f))
            except OSError:
                pass
        pytest.fail("procd has %d fds, had %d before: %r" % (fd_count(d.pid), before, fds))
    assert fd_count(d.pid) <= before
    j = ctl.call("status", {"job": job["id"]})
    assert j["state"] == "running"
    assert [x["id"] for x in ctl.call("list")] == [job["id"]]
