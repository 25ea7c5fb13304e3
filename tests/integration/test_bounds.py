# SPDX-License-Identifier: ISC
# Bounds (procd-protocol(7) section 13, with the clarifications of section
# 15): a batch's answer counts against the client's output limit while it
# is built (procd stops executing the rest of the batch and closes the
# connection), other clients keep being answered meanwhile; log_limit is
# at most 1 GiB; a logs answer, and the records a follow replays, hold at
# most half the client's output limit on the wire, the newest records
# kept, with truncated; a huge answer does not stall other clients; and a
# clean stop reaps leftover processes even when procd is out of fds.
import base64
import json
import os
import resource
import signal
import socket
import subprocess
import threading
import time

import pytest

from conftest import (LC_PY, PROCD, SANITIZED, Conn, lc_err, lc_join, lc_start,
                      proc_start_time,
                      lg_records, lg_text, lg_vm, pid_alive, srv_check,
                      wait_for_socket, wait_until)

MIB = 1 << 20
SLEEP = ["sleep", "1000"]
# procd is killed when its RSS passes this: the old unbounded code would
# otherwise take the machine's memory (the tests fail all the same)
RSS_CAP_KIB = 2 << 20

# Writes the lines "%08d\n" % i for i in range(argv[1]) to stdout (9
# bytes each), then, with argv[2] and argv[3], creates the file argv[2],
# waits for the file argv[3] and writes argv[4] more lines (numbered on)
# at about 800 KB/s.
NUMBERED = r"""
import os, sys, time
def lines(a, b):
    return "".join("%08d\n" % k for k in range(a, b)).encode()
def put(data):
    while data:
        data = data[os.write(1, data):]
n = int(sys.argv[1])
for i in range(0, n, 10000):
    put(lines(i, min(n, i + 10000)))
if len(sys.argv) > 2:
    open(sys.argv[2], "w").close()
    while not os.path.exists(sys.argv[3]):
        time.sleep(0.01)
    m = int(sys.argv[4])
    for i in range(n, n + m, 900):
        put(lines(i, min(n + m, i + 900)))
        time.sleep(0.01)
"""
LINE = 9


def numbered(n_lines):
    return "".join("%08d\n" % k for k in range(n_lines))


def check_numbered_suffix(data, n_lines):
    """data (str) must be a contiguous suffix of the first n_lines numbered
    lines, ending with the last one (a partial first line allowed)."""
    assert data.endswith("%08d\n" % (n_lines - 1)), \
        "the newest output is missing: ends with %r" % data[-40:]
    first = max(0, n_lines - len(data) // LINE - 2)
    want = "".join("%08d\n" % k for k in range(first, n_lines))
    if not want.endswith(data):
        # find where it breaks, for the message
        lines = data.split("\n")[1:-1]
        for a, b in zip(lines, lines[1:]):
            if int(b) != int(a) + 1:
                pytest.fail("output not contiguous: line %s follows %s" % (b, a))
        pytest.fail("output is not a suffix of what the job wrote")


def raw_answer(conn, rid, timeout=60.0):
    """The raw line (bytes) and the message of the answer to rid, which
    must be the next line on conn."""
    try:
        line = conn.read_line(timeout)
    except (ConnectionResetError, BrokenPipeError):
        line = None
    assert line is not None, "procd closed the connection instead of answering"
    m = json.loads(line)
    assert isinstance(m, dict) and m.get("id") == rid and "method" not in m, m
    return line, m


def read_to_eof(conn, timeout=60.0):
    """Everything conn receives until procd closes it: (bytes, "eof" or
    "reset"); fails if it stays open past timeout."""
    data = conn.buf
    conn.buf = b""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            pytest.fail("procd kept the connection open for %g s (%d bytes read)"
                        % (timeout, len(data)))
        conn.sock.settimeout(min(left, 1.0))
        try:
            chunk = conn.sock.recv(1 << 20)
        except socket.timeout:
            continue
        except ConnectionResetError:
            return data, "reset"
        if not chunk:
            return data, "eof"
        data += chunk


class Poller:
    """A thread sending status (one at a time) on its own connection and
    noting each answer's latency, plus a watchdog that kills procd once its
    RSS passes RSS_CAP_KIB."""

    def __init__(self, sock, pid, job):
        self.conn = Conn(sock, timeout=60)
        self.pid = pid
        self.job = job
        self.lat = []
        self.error = None
        self.capped = False
        self.stop = threading.Event()
        self.until = None
        self.threads = [threading.Thread(target=self._poll, daemon=True),
                        threading.Thread(target=self._watch, daemon=True)]

    def start(self):
        for t in self.threads:
            t.start()

    def _poll(self):
        try:
            while not self.stop.is_set():
                t = time.monotonic()
                r = self.conn.call("status", {"job": self.job}, timeout=60)
                self.lat.append(time.monotonic() - t)
                assert r["id"] == self.job, r
                time.sleep(0.01)
        except Exception as e:      # noqa: BLE001 - reported by finish()
            self.error = e
            self.lat.append(time.monotonic() - t)

    def _watch(self):
        while not self.stop.is_set():
            try:
                rss = lg_vm(self.pid, "VmRSS")
            except (OSError, KeyError):
                return
            if rss > RSS_CAP_KIB:
                self.capped = True
                os.kill(self.pid, signal.SIGKILL)
                return
            time.sleep(0.05)

    def finish(self):
        self.stop.set()
        for t in self.threads:
            t.join(90)
        self.conn.close()
        assert not self.capped, "procd's RSS passed %d MiB: killed" % (RSS_CAP_KIB >> 10)
        assert self.error is None, "status failed while procd was busy: %r" % (self.error,)
        assert self.lat, "no status answered"
        return max(self.lat)


def writer_job(conn, nbytes, log_limit):
    """A job that wrote nbytes of 'x' to stdout and exited."""
    j = lc_start(conn, ["sh", "-c", "head -c %d /dev/zero | tr '\\0' x" % nbytes],
                 log_limit=log_limit)
    j = lc_join(conn, j["id"], rpc_timeout=120)
    assert j["exitcode"] == 0, j
    return j


def numbered_job(conn, n_lines, log_limit):
    j = lc_start(conn, [LC_PY, "-c", NUMBERED, str(n_lines)], log_limit=log_limit)
    j = lc_join(conn, j["id"], rpc_timeout=120)
    assert j["exitcode"] == 0, j
    return j


# --- a batch's answer is bounded while it is built ---------------------------------------

def test_batch_of_big_logs_stopped_at_the_limit(procd_factory):
    d = procd_factory()                       # default --max-output: 16 MiB
    c = d.connect()
    j = writer_job(c, 4 * MIB, 4 * MIB)
    batch = [{"jsonrpc": "2.0", "method": "logs", "params": {"job": j["id"]}, "id": i}
             for i in range(1, 2001)]
    line = json.dumps(batch, separators=(",", ":")).encode() + b"\n"
    hog = Conn(d.sock, timeout=60)
    poller = Poller(d.sock, d.pid, j["id"])
    poller.start()
    time.sleep(0.3)
    t0 = time.monotonic()
    hog.send_raw(line)
    got, how = read_to_eof(hog, timeout=60)
    closed_after = time.monotonic() - t0
    # status for a while longer, then the verdicts
    while time.monotonic() < t0 + 3.0:
        time.sleep(0.05)
    worst = poller.finish()
    hog.close()
    assert got == b"", "procd answered (part of) the batch: %d bytes, %r..." % (
        len(got), got[:100])
    assert worst < 1.0, "a status took %.2f s while procd built the batch" % worst
    assert closed_after < 30, "procd took %.1f s to close the batch's connection" % closed_after
    if not SANITIZED:
        peak = lg_vm(d.pid, "VmHWM")
        assert peak < 200 * 1024, "procd's peak RSS %d KiB for a 16 MiB limit" % peak
    assert d.alive()
    c2 = d.connect()
    assert c2.call("info")["pid"] == d.pid
    assert c2.call("status", {"job": j["id"]})["state"] == "exited"


def status_batch_line(head, n, tail):
    reqs = list(head)
    reqs += [{"jsonrpc": "2.0", "method": "status", "params": {"job": "first"},
              "id": 100 + i} for i in range(n)]
    reqs += list(tail)
    return json.dumps(reqs, separators=(",", ":")).encode() + b"\n"


def test_batch_past_the_limit_runs_no_further(procd_factory):
    """[start first, 1000 status (~400 B each), start second] under a
    64 KiB limit: the connection is closed with no answer; first was
    started, second (after the request that passed the limit) was not."""
    d = procd_factory(args=["--max-output", "65536"])
    start = lambda name, i: {"jsonrpc": "2.0", "method": "start", "id": i,
                             "params": {"argv": SLEEP, "name": name}}
    line = status_batch_line([start("first", 1)], 1000, [start("second", 2)])
    hog = Conn(d.sock, timeout=30)
    hog.send_raw(line)
    got, how = read_to_eof(hog, timeout=30)
    hog.close()
    assert got == b"", "procd answered (part of) the batch: %r..." % got[:200]
    c = d.connect()
    first = c.call("status", {"job": "first"})
    assert first["state"] == "running", first
    r = c.call_raw("status", {"job": "second"})
    assert "error" in r and r["error"]["code"] == -32001, \
        "the batch's last request ran after its answer passed the limit: %r" % r
    assert [x["name"] for x in c.call("list")] == ["first"]
    assert d.alive()


def test_batch_that_fits_answered_as_one_array(procd_factory):
    d = procd_factory(args=["--max-output", "65536"])
    c = d.connect()
    lc_start(c, SLEEP, name="first")
    b = Conn(d.sock)
    b.send_raw(status_batch_line([], 10, []))
    line = b.read_line(30)
    assert line is not None, "procd closed the connection"
    arr = json.loads(line)
    assert isinstance(arr, list) and len(arr) == 10, arr
    assert sorted(m["id"] for m in arr) == list(range(100, 110))
    for m in arr:
        srv_check(m, m["id"])
        assert m["result"]["name"] == "first"
    b.expect_nothing(0.3)
    b.close()


# --- log_limit is at most 1 GiB ------------------------------------------------------------

def test_log_limit_at_most_1_gib(conn):
    j = lc_start(conn, ["true"], log_limit=1 << 30)
    assert lc_join(conn, j["id"])["exitcode"] == 0
    e = lc_err(conn, "start", {"argv": ["true"], "log_limit": (1 << 30) + 1})
    assert e["code"] == -32602, e
    assert "log_limit" in e["message"], e
    assert [x["id"] for x in conn.call("list")] == [j["id"]]


def test_log_limit_option_at_most_1_gib(tmp_path, procd_factory):
    sock = str(tmp_path / "p.sock")
    p = subprocess.Popen([PROCD, "--socket", sock, "--log-limit", str((1 << 30) + 1)],
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    try:
        out, err = p.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        p.kill()
        p.communicate()
        pytest.fail("procd took --log-limit 1 GiB + 1 and ran")
    assert p.returncode == 2, (p.returncode, err)
    assert "--log-limit" in err, err
    assert not os.path.lexists(sock)
    d = procd_factory(args=["--log-limit", str(1 << 30)])
    assert d.call("info")["pid"] == d.pid


# --- logs without follow: at most half the client's output limit -----------------------

BIG_LINES = (4 * MIB) // LINE + 1            # 4 MiB and a bit of numbered lines


@pytest.mark.parametrize("params", [
    {},
    {"encoding": "base64"},
    {"stream": "stdout"},
    {"tail": 1000000},
    {"stream": "stdout", "tail": 1000000, "encoding": "base64"},
], ids=lambda p: ",".join("%s=%s" % kv for kv in p.items()) or "plain")
def test_logs_answer_bounded_to_half_the_limit(procd_factory, params):
    d = procd_factory(args=["--max-output", str(MIB)])
    c = d.connect()
    j = numbered_job(c, BIG_LINES, 8 * MIB)
    p = dict(params, job=j["id"])
    rid = c.request("logs", p)
    line, m = raw_answer(c, rid)
    assert len(line) <= MIB // 2, "logs answer of %d bytes for a 1 MiB limit" % len(line)
    assert "result" in m, m
    r = m["result"]
    assert set(r) == {"records", "truncated"}, r.keys()
    assert r["truncated"] is True, "older output left out without truncated"
    assert {x["stream"] for x in r["records"]} == {"stdout"}
    if params.get("encoding") == "base64":
        data = b"".join(base64.b64decode(x["data"], validate=True) for x in r["records"])
        data = data.decode("ascii")
        assert len(data) >= 96 * 1024, "only %d bytes kept" % len(data)
    else:
        data = "".join(x["data"] for x in r["records"])
        assert len(data) >= 128 * 1024, "only %d bytes kept" % len(data)
    check_numbered_suffix(data, BIG_LINES)
    assert d.alive()


def test_logs_bound_counts_escapes_on_the_wire(procd_factory):
    """Control bytes become \\u00XX in text: 600 KiB of them are 3.6 MB on
    the wire, far past half of 1 MiB."""
    d = procd_factory(args=["--max-output", str(MIB)])
    c = d.connect()
    j = lc_start(c, ["sh", "-c", "head -c 614400 /dev/zero | tr '\\0' '\\001'"],
                 log_limit=8 * MIB)
    assert lc_join(c, j["id"], rpc_timeout=60)["exitcode"] == 0
    rid = c.request("logs", {"job": j["id"]})
    line, m = raw_answer(c, rid)
    assert len(line) <= MIB // 2, "logs answer of %d bytes for a 1 MiB limit" % len(line)
    r = m["result"]
    assert r["truncated"] is True
    data = "".join(x["data"] for x in r["records"])
    assert data and set(data) == {"\x01"}, set(data)
    assert len(data) >= 16 * 1024, "only %d bytes kept" % len(data)


def test_logs_small_answers_not_truncated(procd_factory):
    d = procd_factory(args=["--max-output", str(MIB)])
    c = d.connect()
    j = lc_start(c, ["sh", "-c", "printf 'a\\nb\\nc\\n'"])
    lc_join(c, j["id"])
    r = lg_records(c, j["id"])
    assert r["truncated"] is False
    assert lg_text(r["records"]) == "a\nb\nc\n"
    # 200 KiB: fits in half of 1 MiB, all of it comes
    n = (200 * 1024) // LINE
    j = numbered_job(c, n, 8 * MIB)
    for enc in ("text", "base64"):
        rid = c.request("logs", {"job": j["id"], "encoding": enc})
        line, m = raw_answer(c, rid)
        r = m["result"]
        assert r["truncated"] is False, enc
        if enc == "base64":
            data = b"".join(base64.b64decode(x["data"]) for x in r["records"]).decode()
        else:
            data = "".join(x["data"] for x in r["records"])
        assert data == numbered(n), enc


# --- follow: the replayed records are bounded the same way -------------------------------

def collect_follow(conn, rid, job_id, timeout=60.0):
    """(wire bytes of the log notifications, their data as raw bytes,
    final response) of a follow."""
    wire = 0
    chunks = []
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        assert left > 0, "no final answer to the follow"
        try:
            line = conn.read_line(left)
        except (ConnectionResetError, BrokenPipeError):
            line = None
        assert line is not None, "procd closed the connection during the follow"
        m = json.loads(line)
        if isinstance(m, dict) and m.get("method") == "log":
            p = m["params"]
            assert p["request"] == rid and p["job"] == job_id, m
            wire += len(line) + 1
            chunks.append(p["data"])
            continue
        assert isinstance(m, dict) and m.get("id") == rid, m
        return wire, chunks, m


@pytest.mark.parametrize("encoding", ["text", "base64"])
def test_follow_replay_bounded_to_half_the_limit(procd_factory, encoding):
    d = procd_factory(args=["--max-output", str(MIB)])
    c = d.connect()
    j = numbered_job(c, BIG_LINES, 8 * MIB)
    rid = c.request("logs", {"job": j["id"], "follow": True, "encoding": encoding})
    wire, chunks, resp = collect_follow(c, rid, j["id"])
    assert wire <= MIB // 2, "a follow replayed %d bytes for a 1 MiB limit" % wire
    if encoding == "base64":
        data = b"".join(base64.b64decode(x, validate=True) for x in chunks).decode("ascii")
    else:
        data = "".join(chunks)
    assert len(data) >= 96 * 1024, "only %d bytes replayed" % len(data)
    check_numbered_suffix(data, BIG_LINES)
    assert "result" in resp, resp
    r = resp["result"]
    assert set(r) == {"job", "truncated"}, r
    assert r["truncated"] is True, r
    assert r["job"]["id"] == j["id"] and r["job"]["state"] == "exited", r


def test_follow_small_job_not_truncated(procd_factory):
    d = procd_factory(args=["--max-output", str(MIB)])
    c = d.connect()
    j = lc_start(c, ["sh", "-c", "printf 'a\\nb\\n'"])
    lc_join(c, j["id"])
    rid = c.request("logs", {"job": j["id"], "follow": True})
    wire, chunks, resp = collect_follow(c, rid, j["id"])
    assert "".join(chunks) == "a\nb\n"
    assert set(resp["result"]) == {"job", "truncated"}, resp
    assert resp["result"]["truncated"] is False, resp


def test_follow_running_job_gets_all_live_output(procd_factory, tmp_path):
    """2 MiB retained before the follow starts (replayed bounded), then
    1.5 MiB written live: every live byte arrives."""
    d = procd_factory(args=["--max-output", str(MIB)])
    c = d.connect()
    n1 = (2 * MIB) // LINE
    n2 = (3 * MIB // 2) // LINE
    ready, go = tmp_path / "ready", tmp_path / "go"
    j = lc_start(c, [LC_PY, "-c", NUMBERED, str(n1), str(ready), str(go), str(n2)],
                 log_limit=8 * MIB)
    wait_until(lambda: ready.exists(), 60)
    time.sleep(0.5)             # procd drains the pipe
    f = Conn(d.sock, timeout=60)
    rid = f.request("logs", {"job": j["id"], "follow": True})
    go.touch()
    wire, chunks, resp = collect_follow(f, rid, j["id"], timeout=120)
    data = "".join(chunks)
    check_numbered_suffix(data, n1 + n2)
    assert len(data) >= n2 * LINE, "live output lost: %d bytes of %d" % (len(data), n2 * LINE)
    replayed = len(data) - n2 * LINE
    assert replayed <= MIB // 2 + 64 * 1024, "a follow replayed %d bytes" % replayed
    r = resp["result"]
    assert r["job"]["state"] == "exited" and r["job"]["exitcode"] == 0, r
    assert r.get("truncated") is True, r
    f.close()


# --- a huge answer does not stall other clients ------------------------------------------

def test_huge_logs_answer_does_not_stall_others(procd_factory):
    limit = 64 * MIB
    d = procd_factory(args=["--max-output", str(limit)])
    c = d.connect()
    j = writer_job(c, 64 * MIB, 64 * MIB)
    poller = Poller(d.sock, d.pid, j["id"])
    poller.start()
    time.sleep(0.3)
    a = Conn(d.sock, timeout=60)
    t0 = time.monotonic()
    rid = a.request("logs", {"job": j["id"]})
    time.sleep(2.0)                 # A reads nothing for a while
    try:
        line = a.read_line(120)
    except (ConnectionResetError, BrokenPipeError):
        line = None
    while time.monotonic() < t0 + 3.0:
        time.sleep(0.05)
    worst = poller.finish()
    assert worst < 1.0, "a status took %.2f s while procd answered a huge logs" % worst
    assert line is not None, "procd closed the connection instead of answering"
    assert len(line) <= limit // 2, "logs answer of %d bytes" % len(line)
    m = json.loads(line)
    assert m.get("id") == rid and "result" in m, str(m)[:200]
    assert m["result"]["truncated"] is True
    a.close()
    if not SANITIZED:
        peak = lg_vm(d.pid, "VmHWM")
        assert peak < 224 * 1024, \
            "procd's peak RSS %d KiB (64 MiB kept, 64 MiB limit)" % peak
    assert d.alive()
    assert d.call("status", {"job": j["id"]})["state"] == "exited"


# --- a clean stop under fd pressure still reaps leftovers ---------------------------------

def limit_nofile(n):
    def f():
        resource.setrlimit(resource.RLIMIT_NOFILE, (n, n))
    return f



def test_clean_stop_out_of_fds_stops_leftovers(tmp_path, srv_spawn):
    path = str(tmp_path / "procd.sock")
    p = srv_spawn(tmp_path, [PROCD, "--socket", path, "-v"], preexec_fn=limit_nofile(64))
    wait_for_socket(path, p.proc)
    c = Conn(path)
    j = lc_start(c, ["sh", "-c",
                     "setsid sleep 1000 </dev/null >/dev/null 2>&1 & echo $!; exit 0"])
    assert lc_join(c, j["id"])["exitcode"] == 0
    gc = int(lg_text(lg_records(c, j["id"])["records"]).strip())
    gc_start = proc_start_time(gc)
    conns = [c]
    try:
        assert pid_alive(gc), "the leftover is already gone"
        stuck = False
        for i in range(120):
            x = Conn(path, timeout=10)
            conns.append(x)
            x.request("info", id=i)
            try:
                m = x.recv(timeout=1.5)
            except (TimeoutError, ConnectionResetError, BrokenPipeError):
                m = None
            if not (isinstance(m, dict) and "result" in m):
                stuck = True
                break
        assert stuck, "procd served 120 clients with 64 fds?"
        for i in range(3):          # more waiting in the backlog
            x = Conn(path, timeout=10)
            conns.append(x)
        p.proc.send_signal(signal.SIGTERM)
        rc = p.wait(30)
        assert rc == 0, "procd exited %r:\n%s" % (rc, p.stderr_text())
        try:
            wait_until(lambda: not pid_alive(gc), 12)
        except TimeoutError:
            pytest.fail("leftover %d outlived procd's clean stop (out of fds)" % gc)
    finally:
        for x in conns:
            x.close()
        if pid_alive(gc) and proc_start_time(gc) == gc_start:
            os.kill(gc, signal.SIGKILL)
