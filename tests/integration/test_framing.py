# SPDX-License-Identifier: ISC
# Line framing (procd-protocol(7) FRAMING): "\r\n", empty lines, split and
# merged writes, the request size limit and what happens around a closed or
# half-closed connection.
import json
import socket
import time

import pytest

from conftest import Conn, srv_check, srv_expect_eof, wait_until

SLEEP = ["sleep", "1000"]
MiB = 1024 * 1024


def padded(n, id, method="info"):
    """A valid request line of exactly n bytes (no newline)."""
    head = '{"jsonrpc":"2.0","method":"%s","id":%s,"pad":"' % (method, json.dumps(id))
    tail = '"}'
    pad = n - len(head) - len(tail)
    assert pad >= 0
    line = (head + "x" * pad + tail).encode()
    assert len(line) == n
    json.loads(line)
    return line


def send_until_closed(conn, data, timeout=30.0):
    """Send data; procd may close the connection before it has all of it.
    Fails if procd neither reads it nor closes the connection."""
    conn.sock.settimeout(timeout)
    try:
        conn.sock.sendall(data)
    except (BrokenPipeError, ConnectionResetError):
        pass
    except socket.timeout:
        pytest.fail("procd stopped reading an oversized line without closing the connection")
    finally:
        conn.sock.settimeout(10.0)


def start_sleeper(conn):
    return conn.call("start", {"argv": SLEEP})


def test_crlf_accepted(conn):
    conn.send_raw(b'{"jsonrpc":"2.0","method":"info","id":1}\r\n')
    srv_check(conn.recv(), 1)
    conn.send_raw(b'[{"jsonrpc":"2.0","method":"info","id":2}]\r\n')
    m = conn.recv()
    assert isinstance(m, list) and len(m) == 1
    srv_check(m[0], 2)
    # a parse error on a "\r\n" line is still one error, then the line after it works
    conn.send_raw(b'{"jsonrpc":\r\n{"jsonrpc":"2.0","method":"info","id":3}\r\n')
    srv_check(conn.recv(), None, -32700)
    srv_check(conn.recv(), 3)


def test_whitespace_around_json(conn):
    conn.send_raw(b' \t{"jsonrpc":"2.0","method":"info","id":1}  \r\n')
    srv_check(conn.recv(), 1)


def test_empty_lines_ignored(conn):
    conn.send_raw(b"\n\n\r\n\n")
    conn.send_raw(b'\n{"jsonrpc":"2.0","method":"info","id":1}\n\n\r\n'
                  b'{"jsonrpc":"2.0","method":"info","id":2}\n\n')
    srv_check(conn.recv(), 1)
    srv_check(conn.recv(), 2)
    conn.expect_nothing()
    # and the connection is still fine
    assert "pid" in conn.call("info")


def test_blank_lines_ignored(conn):
    """Lines of spaces and tabs are skipped like empty ones, at EOF too."""
    conn.send_raw(b"   \n\t\r\n \t \r\r\n")
    conn.send_raw(b'{"jsonrpc":"2.0","method":"info","id":1}\n  \t\n')
    srv_check(conn.recv(), 1)
    conn.expect_nothing()
    conn.send_raw(b"  ")
    conn.sock.shutdown(socket.SHUT_WR)
    assert conn.sock.recv(100) == b""


def test_byte_at_a_time(conn):
    job = start_sleeper(conn)
    for id, end in (("bytewise-\u00e9\u2603", b"\n"), (77, b"\r\n")):
        line = json.dumps({"jsonrpc": "2.0", "method": "status",
                           "params": {"job": job["id"]}, "id": id},
                          ensure_ascii=False).encode() + end
        for b in line:
            conn.sock.send(bytes([b]))
            time.sleep(0.001)
        m = conn.recv()
        srv_check(m, id)
        assert m["result"]["id"] == job["id"]


def test_split_writes_at_every_point(conn):
    line = json.dumps({"jsonrpc": "2.0", "method": "info", "id": "\u00e9\u2603\U0001F600"},
                      ensure_ascii=False).encode() + b"\n"
    # cut inside multi-byte characters too
    for cut in range(1, len(line)):
        conn.send_raw(line[:cut])
        time.sleep(0.002)
        conn.send_raw(line[cut:])
        srv_check(conn.recv(), "\u00e9\u2603\U0001F600")


def test_several_requests_in_one_write(conn):
    data = (b'{"jsonrpc":"2.0","method":"info","id":1}\n'
            b'{"jsonrpc":"2.0","method":"list","id":2}\n'
            b'{"jsonrpc":"2.0","method":"info"}\n'
            b'[{"jsonrpc":"2.0","method":"info","id":3},{"jsonrpc":"2.0","method":"info","id":4}]\n'
            b'not json\n'
            b'{"jsonrpc":"2.0","method":"info","id":5}\n')
    conn.send_raw(data)
    got = [conn.recv() for _ in range(5)]
    singles = {m["id"]: m for m in got if isinstance(m, dict) and m.get("id") is not None}
    assert sorted(singles) == [1, 2, 5], got
    for k in (1, 2, 5):
        srv_check(singles[k], k)
    batch = [m for m in got if isinstance(m, list)]
    assert len(batch) == 1 and sorted(r["id"] for r in batch[0]) == [3, 4], got
    errors = [m for m in got if isinstance(m, dict) and m.get("id") is None]
    assert len(errors) == 1
    srv_check(errors[0], None, -32700)
    conn.expect_nothing()


def test_many_pipelined_requests(conn):
    n = 2000
    conn.send_raw(b"".join(b'{"jsonrpc":"2.0","method":"info","id":%d}\n' % i for i in range(n)))
    seen = set()
    for _ in range(n):
        m = conn.recv()
        srv_check(m, m["id"])
        seen.add(m["id"])
    assert seen == set(range(n))


# --- the request size limit -----------------------------------------------------

def test_default_limit_2mib_line(procd):
    watcher = procd.connect()
    job = start_sleeper(watcher)
    watcher.request("join", {"job": job["id"]}, id="w")
    c = procd.connect()
    send_until_closed(c, padded(2 * MiB, 9) + b"\n" + b'{"jsonrpc":"2.0","method":"info","id":10}\n')
    srv_check(c.recv(), None, -32600)
    srv_expect_eof(c)
    # other clients are not affected: the watcher's join is still pending
    assert watcher.call("status", {"job": job["id"]})["state"] == "running"
    watcher.call("terminate", {"job": job["id"]})
    m = watcher.response("w")
    assert m["result"]["state"] == "exited"
    assert procd.call("info")["jobs"]["exited"] == 1


def test_default_limit_2mib_without_newline(procd):
    c = procd.connect()
    # no newline at all: procd must not wait for one
    send_until_closed(c, b'{"jsonrpc":"2.0","method":"info","id":1,"pad":"' + b"x" * (2 * MiB))
    srv_check(c.recv(timeout=20), None, -32600)
    srv_expect_eof(c)
    assert "pid" in procd.call("info")


def test_default_limit_boundary(procd):
    c = procd.connect()
    c.send_raw(padded(MiB - 10, 4) + b"\n")
    srv_check(c.recv(timeout=20), 4)
    c.send_raw(padded(MiB, 5) + b"\n")
    srv_check(c.recv(timeout=20), 5)
    c.send_raw(padded(MiB + 1, 6) + b"\n")
    srv_check(c.recv(timeout=20), None, -32600)
    srv_expect_eof(c)


@pytest.fixture
def small(procd_factory):
    return procd_factory(args=["--max-request", "1000"])


def test_limit_boundary_exact(small):
    c = small.connect()
    c.send_raw(padded(1000, 1) + b"\n")
    srv_check(c.recv(), 1)
    c.send_raw(padded(999, 2) + b"\n")
    srv_check(c.recv(), 2)
    c.send_raw(padded(1001, 3) + b"\n")
    srv_check(c.recv(), None, -32600)
    srv_expect_eof(c)
    assert "pid" in small.call("info")


def test_limit_exact_line_waits_for_its_newline(small):
    c = small.connect()
    c.send_raw(padded(1000, 1))
    with pytest.raises(TimeoutError):
        c.read_line(0.5)     # neither an answer nor a close
    c.send_raw(b"\n")
    srv_check(c.recv(), 1)


def test_limit_exceeded_without_newline(small):
    c = small.connect()
    c.send_raw(padded(1001, 1)[:1001])
    srv_check(c.recv(), None, -32600)
    srv_expect_eof(c)


def test_limit_exceeded_slowly(small):
    # the line arrives in pieces, its newline last
    c = small.connect()
    line = padded(1500, 1) + b"\n"
    for i in range(0, len(line), 100):
        try:
            c.send_raw(line[i:i + 100])
        except (BrokenPipeError, ConnectionResetError):
            break
        time.sleep(0.005)
    srv_check(c.recv(), None, -32600)
    srv_expect_eof(c)


def test_limit_is_per_line_not_per_read(small):
    c = small.connect()
    n = 20
    c.send_raw(b"".join(padded(900 + i, i) + b"\n" for i in range(n)))
    got = []
    for _ in range(n):
        m = c.recv()
        got.append(m["id"])
        srv_check(m, m["id"])
    assert sorted(got) == list(range(n))


def test_limit_other_clients_unaffected(small):
    a = small.connect()
    b = small.connect()
    a.request("info", id="before")
    srv_check(a.recv(), "before")
    send_until_closed(b, b"y" * 5000 + b"\n")
    srv_check(b.recv(), None, -32600)
    srv_expect_eof(b)
    srv_check(a.call_raw("info"), 1)
    # a new client is served too
    assert "pid" in small.call("info")


# --- parse errors, half-closed and vanished clients --------------------------------

def test_parse_error_keeps_connection(conn):
    for junk in (b"garbage", b"{", b'{"jsonrpc":"2.0","method":"info","id":1', b"]"):
        conn.send_raw(junk + b"\n")
        srv_check(conn.recv(), None, -32700)
    assert "pid" in conn.call("info")


def test_shutdown_write_gets_answer_then_eof(conn):
    conn.send_raw(b"".join(b'{"jsonrpc":"2.0","method":"info","id":%d}\n' % i for i in range(500)))
    conn.sock.shutdown(socket.SHUT_WR)
    got = set()
    for _ in range(500):
        m = conn.recv()
        assert m is not None, "closed after %d answers" % len(got)
        got.add(srv_check(m, m["id"])["id"])
    assert got == set(range(500))
    srv_expect_eof(conn)


def test_shutdown_write_with_pending_join(procd):
    ctl = procd.connect()
    job = start_sleeper(ctl)
    c = procd.connect()
    c.request("join", {"job": job["id"]}, id="j")
    c.request("status", {"job": job["id"]}, id="s")
    c.sock.shutdown(socket.SHUT_WR)
    srv_check(c.recv(), "s")
    # the join is still pending: the connection must stay open for it
    with pytest.raises(TimeoutError):
        c.read_line(0.5)
    ctl.call("terminate", {"job": job["id"]})
    m = c.recv()
    srv_check(m, "j")
    assert m["result"]["state"] == "exited" and m["result"]["exitcode"] == -15
    srv_expect_eof(c)
    assert procd.alive()


def test_shutdown_write_with_pending_join_timeout(procd):
    ctl = procd.connect()
    job = start_sleeper(ctl)
    c = procd.connect()
    c.request("join", {"job": job["id"], "timeout": 0.5}, id="j")
    c.sock.shutdown(socket.SHUT_WR)
    m = c.recv()
    srv_check(m, "j")
    assert m["result"].get("timed_out") is True
    srv_expect_eof(c)
    assert ctl.call("status", {"job": job["id"]})["state"] == "running"


def test_disconnect_with_pending_join(procd):
    ctl = procd.connect()
    job = start_sleeper(ctl)
    for i in range(20):
        c = Conn(procd.sock)
        c.request("join", {"job": job["id"]}, id="j")
        c.request("join", {"job": job["id"], "timeout": 0.2}, id="jt")
        c.request("status", {"job": job["id"]}, id="s")
        # the status answer shows procd has read both joins
        srv_check(c.response("s"), "s")
        if i % 2:
            c.sock.shutdown(socket.SHUT_RDWR)
        c.close()
    time.sleep(0.4)       # let the join timeouts of the gone clients pass
    assert procd.alive()
    j = ctl.call("status", {"job": job["id"]})
    assert j["state"] == "running", j
    ctl.call("terminate", {"job": job["id"]})
    j = ctl.call("join", {"job": job["id"], "timeout": 10})
    assert j["state"] == "exited" and j["exitcode"] == -15, j
    assert procd.call("info")["jobs"]["exited"] == 1
    wait_until(lambda: procd.alive() and procd.call("info"), 2)
