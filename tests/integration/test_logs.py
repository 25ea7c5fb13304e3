# SPDX-License-Identifier: ISC
# Worker output: capture, the output and log_limit start params, logs
# (stream, tail, encoding, follow), the grace period after exit, a worker
# never blocked by a slow or absent reader, and procctl logs
# (procd-protocol(7) start and logs, slow clients; procctl(1) logs).
import base64
import json
import os
import random
import signal
import subprocess
import threading
import time

import pytest

from conftest import (LC_PY, PROCCTL, SANITIZED, lc_check_job, lc_err, lc_join, lc_start,
                      lc_status, lg_b64, lg_bytes, lg_check_log_note,
                      lg_follow_collect, lg_merge, lg_records, lg_text, lg_vm,
                      wait_until)

# Writes argv[1] (JSON: a list of steps) to its stdout/stderr. A step is
# [fd, hex bytes, pause seconds after] or ["wait", path] (wait until the
# file exists).
STEPS = r"""
import json, os, sys, time
for step in json.loads(sys.argv[1]):
    if step[0] == "wait":
        while not os.path.exists(step[1]):
            time.sleep(0.01)
        continue
    fd, data, pause = step[0], bytes.fromhex(step[1]), step[2]
    while data:
        data = data[os.write(fd, data):]
    if pause:
        time.sleep(pause)
"""


def steps_argv(steps):
    norm = []
    for s in steps:
        if s[0] == "wait":
            norm.append(["wait", str(s[1])])
        else:
            fd, data = s[0], s[1]
            pause = s[2] if len(s) > 2 else 0
            if isinstance(data, str):
                data = data.encode()
            norm.append([fd, data.hex(), pause])
    return [LC_PY, "-c", STEPS, json.dumps(norm)]


def run_steps(conn, steps, **params):
    """Start a STEPS worker and join it; returns the exited job."""
    j = lc_start(conn, steps_argv(steps), **params)
    j = lc_join(conn, j["id"])
    assert j["exitcode"] == 0, j
    return j


def b64merge(records):
    return lg_merge(records, decode=lg_b64)


def touch(path):
    with open(str(path), "w"):
        pass


# --- capture ---

def test_default_capture_both_streams(conn):
    j = lc_start(conn, ["sh", "-c", "echo out; echo err >&2"])
    lc_join(conn, j["id"])
    r = lg_records(conn, j["id"])
    assert r["truncated"] is False
    assert lg_text(r["records"], "stdout") == "out\n"
    assert lg_text(r["records"], "stderr") == "err\n"


def test_capture_by_name(conn):
    j = lc_start(conn, ["sh", "-c", "echo named"], name="writer")
    lc_join(conn, "writer")
    r = lg_records(conn, "writer")
    assert lg_text(r["records"]) == "named\n"
    assert lg_records(conn, j["id"]) == r


def test_records_in_arrival_order(conn):
    steps = []
    want = []
    for i in range(3):
        steps.append((1, "o%d\n" % i, 0.2))
        steps.append((2, "e%d\n" % i, 0.2))
        want += [("stdout", "o%d\n" % i), ("stderr", "e%d\n" % i)]
    j = run_steps(conn, steps)
    r = lg_records(conn, j["id"])
    assert lg_merge(r["records"]) == want
    r = lg_records(conn, j["id"], encoding="base64")
    assert b64merge(r["records"]) == [(s, d.encode()) for s, d in want]


def test_capture_fds_are_pipes(conn, tmp_path):
    out = tmp_path / "fds"
    code = ("import os,sys; open(sys.argv[1],'w').write("
            "os.readlink('/proc/self/fd/1')+'\\n'+os.readlink('/proc/self/fd/2'))")
    j = lc_start(conn, [LC_PY, "-c", code, str(out)])
    lc_join(conn, j["id"])
    fd1, fd2 = out.read_text().split("\n")
    assert fd1.startswith("pipe:") and fd2.startswith("pipe:"), (fd1, fd2)
    assert fd1 != fd2, "stdout and stderr share one pipe"


def test_output_null(conn, tmp_path):
    out = tmp_path / "fds"
    code = ("import os,sys; open(sys.argv[1],'w').write("
            "os.readlink('/proc/self/fd/1')+'\\n'+os.readlink('/proc/self/fd/2'));"
            "print('to null'); print('to null', file=sys.stderr)")
    j = lc_start(conn, [LC_PY, "-c", code, str(out)], output="null")
    j = lc_join(conn, j["id"])
    assert j["exitcode"] == 0, j
    assert out.read_text() == "/dev/null\n/dev/null"
    r = lg_records(conn, j["id"])
    assert r["records"] == []
    # follow on it has nothing to replay and answers at once
    rid = conn.request("logs", {"job": j["id"], "follow": True})
    notes, resp = lg_follow_collect(conn, rid, j["id"], timeout=5)
    assert notes == []
    assert resp["result"]["job"]["state"] == "exited"


def test_output_inherit_goes_to_procd(procd, conn):
    marker = "inherit-marker-%d" % os.getpid()
    j = lc_start(conn, ["sh", "-c", "echo %s-out; echo %s-err >&2" % (marker, marker)],
                 output="inherit")
    j = lc_join(conn, j["id"])
    assert j["exitcode"] == 0, j
    text = wait_until(lambda: (marker + "-err") in procd.stderr_text() and procd.stderr_text(), 5)
    assert marker + "-out" in text
    assert lg_records(conn, j["id"])["records"] == []


def test_output_capture_explicit(conn):
    j = lc_start(conn, ["sh", "-c", "echo explicit"], output="capture")
    lc_join(conn, j["id"])
    assert lg_text(lg_records(conn, j["id"])["records"]) == "explicit\n"


@pytest.mark.parametrize("value", ["file", "", "CAPTURE", 1, True, ["null"]])
def test_output_invalid(conn, value):
    e = lc_err(conn, "start", {"argv": ["true"], "output": value})
    assert e["code"] == -32602, e
    assert conn.call("list") == []


@pytest.mark.parametrize("value", [-1, "100", 1.5, True])
def test_log_limit_invalid(conn, value):
    e = lc_err(conn, "start", {"argv": ["true"], "log_limit": value})
    assert e["code"] == -32602, e
    assert conn.call("list") == []


def test_output_and_log_limit_null_mean_default(conn):
    j = lc_start(conn, ["sh", "-c", "echo d"], output=None, log_limit=None)
    lc_join(conn, j["id"])
    assert lg_text(lg_records(conn, j["id"])["records"]) == "d\n"


# --- log_limit ---

def test_log_limit_keeps_exactly_last_bytes(conn):
    rnd = random.Random(7)
    data = bytes(rnd.getrandbits(8) for _ in range(10000))
    chunks = [data[i:i + 997] for i in range(0, len(data), 997)]
    j = run_steps(conn, [(1, c) for c in chunks], log_limit=1000)
    r = lg_records(conn, j["id"], encoding="base64")
    assert r["truncated"] is True
    assert lg_bytes(r["records"]) == data[-1000:]


def test_log_limit_not_reached(conn):
    data = bytes(range(256)) * 4
    j = run_steps(conn, [(1, data)], log_limit=1024)
    r = lg_records(conn, j["id"], encoding="base64")
    assert r["truncated"] is False, "exactly log_limit bytes written: nothing dropped"
    assert lg_bytes(r["records"]) == data
    j = run_steps(conn, [(1, data)], log_limit=1023)
    r = lg_records(conn, j["id"], encoding="base64")
    assert r["truncated"] is True
    assert lg_bytes(r["records"]) == data[1:]


def test_log_limit_cuts_oldest_record(conn):
    j = run_steps(conn, [(1, "AAAAAAAA", 0.2), (2, "BBBBBBBB", 0.2)], log_limit=10)
    r = lg_records(conn, j["id"])
    assert r["truncated"] is True
    assert lg_merge(r["records"]) == [("stdout", "AA"), ("stderr", "BBBBBBBB")]
    j = run_steps(conn, [(1, "AAAAAAAA", 0.2), (2, "BBBBBBBB", 0.2), (1, "CC", 0.2)],
                  log_limit=10)
    r = lg_records(conn, j["id"])
    assert lg_merge(r["records"]) == [("stderr", "BBBBBBBB"), ("stdout", "CC")]


def test_log_limit_zero_keeps_none(conn):
    j = run_steps(conn, [(1, "x" * 100), (2, "y" * 100)], log_limit=0)
    r = lg_records(conn, j["id"])
    assert r["records"] == []
    assert r["truncated"] is True, "output was written and dropped"
    j = run_steps(conn, [], log_limit=0)
    r = lg_records(conn, j["id"])
    assert r == {"records": [], "truncated": False}


def test_log_limit_default_256k(conn, tmp_path):
    data = os.urandom(300000)
    src = tmp_path / "data"
    src.write_bytes(data)
    j = lc_start(conn, ["cat", str(src)])
    assert lc_join(conn, j["id"])["exitcode"] == 0
    r = lg_records(conn, j["id"], encoding="base64")
    assert r["truncated"] is True
    assert lg_bytes(r["records"]) == data[-262144:]


def test_log_limit_daemon_option(procd_factory):
    d = procd_factory(args=["--log-limit", "100"])
    c = d.connect()
    data = bytes(range(200))
    j = run_steps(c, [(1, data)])
    r = lg_records(c, j["id"], encoding="base64")
    assert r["truncated"] is True
    assert lg_bytes(r["records"]) == data[-100:]
    # the start param still overrides the daemon's default
    j = run_steps(c, [(1, data)], log_limit=150)
    assert lg_bytes(lg_records(c, j["id"], encoding="base64")["records"]) == data[-150:]


def test_worker_without_reader_never_blocked(procd, conn):
    before = lg_vm(procd.pid)
    t0 = time.monotonic()
    j = lc_start(conn, ["sh", "-c", "head -c 50M /dev/zero; echo done >&2"])
    j = lc_join(conn, j["id"], rpc_timeout=60)
    took = time.monotonic() - t0
    assert j["exitcode"] == 0, j
    assert took < 30, "50 MiB with no reader took %.1f s" % took
    peak = lg_vm(procd.pid)
    if not SANITIZED:
        assert peak - before < 20 * 1024, "procd's peak RSS grew by %d KiB" % (peak - before)
    r = lg_records(conn, j["id"], encoding="base64", stream="stdout")
    assert r["truncated"] is True
    # the last 262144 bytes of both streams: "done\n" is 5 of them
    assert lg_bytes(r["records"]) == b"\0" * (262144 - 5)
    assert lg_text(lg_records(conn, j["id"], stream="stderr")["records"]) == "done\n"


# --- logs: stream, tail ---

TAIL_STEPS = [(1, "a\nb\n", 0.15), (2, "c\n", 0.15), (1, "d", 0.15)]


def test_logs_stream_selection(conn):
    j = run_steps(conn, TAIL_STEPS)
    both = lg_records(conn, j["id"])
    assert lg_merge(both["records"]) == [("stdout", "a\nb\n"), ("stderr", "c\n"), ("stdout", "d")]
    assert lg_records(conn, j["id"], stream="both") == both
    out = lg_records(conn, j["id"], stream="stdout")
    assert {r["stream"] for r in out["records"]} == {"stdout"}
    assert lg_text(out["records"]) == "a\nb\nd"
    err = lg_records(conn, j["id"], stream="stderr")
    assert lg_merge(err["records"]) == [("stderr", "c\n")]


@pytest.mark.parametrize("tail,want", [
    (0, []),
    (1, [("stdout", "d")]),
    (2, [("stderr", "c\n"), ("stdout", "d")]),
    (3, [("stdout", "b\n"), ("stderr", "c\n"), ("stdout", "d")]),
    (4, [("stdout", "a\nb\n"), ("stderr", "c\n"), ("stdout", "d")]),
    (1000, [("stdout", "a\nb\n"), ("stderr", "c\n"), ("stdout", "d")]),
])
def test_logs_tail_across_streams(conn, tail, want):
    j = run_steps(conn, TAIL_STEPS)
    r = lg_records(conn, j["id"], tail=tail)
    assert lg_merge(r["records"]) == want
    r = lg_records(conn, j["id"], tail=tail, encoding="base64")
    assert b64merge(r["records"]) == [(s, d.encode()) for s, d in want]


def test_logs_tail_one_stream(conn):
    j = run_steps(conn, TAIL_STEPS)
    assert lg_text(lg_records(conn, j["id"], stream="stdout", tail=1)["records"]) == "d"
    assert lg_text(lg_records(conn, j["id"], stream="stdout", tail=2)["records"]) == "b\nd"
    assert lg_text(lg_records(conn, j["id"], stream="stderr", tail=1)["records"]) == "c\n"
    assert lg_records(conn, j["id"], stream="stderr", tail=0)["records"] == []


def test_logs_tail_final_newline(conn):
    j = run_steps(conn, [(1, "one\ntwo\nthree\n")])
    assert lg_text(lg_records(conn, j["id"], tail=1)["records"]) == "three\n"
    assert lg_text(lg_records(conn, j["id"], tail=2)["records"]) == "two\nthree\n"
    j = run_steps(conn, [(1, "x\n\n\n")])
    # empty lines count as lines
    assert lg_text(lg_records(conn, j["id"], tail=1)["records"]) == "\n"
    assert lg_text(lg_records(conn, j["id"], tail=2)["records"]) == "\n\n"


def plain(records, decode=None):
    """Records as (stream, data) pairs, exactly as procd sent them."""
    return [(r["stream"], decode(r["data"]) if decode else r["data"]) for r in records]


# Each stream's lines are its own: a line of stdout split by stderr output
# is still one line, and a stream's unfinished last line ends where its
# last byte came. Pieces of one stream left next to each other by the tail
# make one record, and no record is ever empty.
@pytest.mark.parametrize("steps,tail,want", [
    ([(1, "a1\nA", 0.15), (2, "E1\n", 0.15), (1, "B\n")], 1,
     [("stdout", "AB\n")]),
    ([(1, "a1\nA", 0.15), (2, "E1\n", 0.15), (1, "B\n")], 2,
     [("stdout", "A"), ("stderr", "E1\n"), ("stdout", "B\n")]),
    ([(1, "a1\nA", 0.15), (2, "E1\n", 0.15), (1, "B\n")], 3,
     [("stdout", "a1\nA"), ("stderr", "E1\n"), ("stdout", "B\n")]),
    ([(2, "b2\nb3", 0.15), (1, "a4\n")], 1, [("stdout", "a4\n")]),
    ([(2, "b2\nb3", 0.15), (1, "a4\n")], 2, [("stderr", "b3"), ("stdout", "a4\n")]),
    ([(2, "b2\nb3", 0.15), (1, "a4\n")], 3, [("stderr", "b2\nb3"), ("stdout", "a4\n")]),
    ([(1, "x\n", 0.15), (2, "e\n", 0.15), (1, "y\n")], 2,
     [("stderr", "e\n"), ("stdout", "y\n")]),
], ids=["split-1", "split-2", "split-3", "unfinished-1", "unfinished-2",
        "unfinished-3", "newline-ends"])
def test_logs_tail_lines_per_stream(conn, steps, tail, want):
    j = run_steps(conn, steps)
    r = lg_records(conn, j["id"], tail=tail)
    assert plain(r["records"]) == want
    r = lg_records(conn, j["id"], tail=tail, encoding="base64")
    assert plain(r["records"], lg_b64) == [(s, d.encode()) for s, d in want]


def test_logs_no_empty_record_for_a_split_character(conn):
    """A character split by the other stream's output decodes whole, and
    its first half is not sent as an empty record."""
    euro = "\u20ac".encode()
    j = run_steps(conn, [(1, euro[:2], 0.15), (2, "e\n", 0.15), (1, euro[2:] + b"\n")])
    r = lg_records(conn, j["id"])
    assert plain(r["records"]) == [("stderr", "e\n"), ("stdout", "\u20ac\n")]
    assert all(rec["data"] for rec in lg_records(conn, j["id"], tail=1)["records"])
    rid = conn.request("logs", {"job": j["id"], "follow": True})
    notes, final = lg_follow_collect(conn, rid, j["id"])
    assert [(p["stream"], p["data"]) for p in notes] == \
        [("stderr", "e\n"), ("stdout", "\u20ac\n")]


def test_logs_tail_no_output(conn):
    j = run_steps(conn, [])
    assert lg_records(conn, j["id"], tail=5) == {"records": [], "truncated": False}


def test_logs_on_running_job(conn, tmp_path):
    trig = tmp_path / "go"
    j = lc_start(conn, steps_argv([(1, "early\n"), ("wait", trig), (1, "late\n")]))
    wait_until(lambda: lg_text(lg_records(conn, j["id"])["records"]) == "early\n", 10)
    touch(trig)
    lc_join(conn, j["id"])
    assert lg_text(lg_records(conn, j["id"])["records"]) == "early\nlate\n"


# --- logs: encoding ---

BAD_UTF8 = (b"ok \xff\xfe mid \xe2\x82( \xf0\x9f\x98 x \xed\xa0\x80 y \xc0\xaf z "
            b"\xf4\x90\x80\x80 w \xf8\x88\x80\x80\x80 v \x80\x80 euro \xe2\x82\xac "
            b"emoji \xf0\x9f\x98\x80 nul \x00 end\n")


def test_text_invalid_utf8_replaced_like_python(conn):
    j = run_steps(conn, [(1, BAD_UTF8), (2, BAD_UTF8[::-1])])
    r = lg_records(conn, j["id"])
    assert lg_text(r["records"], "stdout") == BAD_UTF8.decode("utf-8", "replace")
    assert lg_text(r["records"], "stderr") == BAD_UTF8[::-1].decode("utf-8", "replace")
    r = lg_records(conn, j["id"], encoding="text")
    assert lg_text(r["records"], "stdout") == BAD_UTF8.decode("utf-8", "replace")


def test_text_truncated_char_at_end(conn):
    j = run_steps(conn, [(1, b"abc\xe2\x82")])
    assert lg_text(lg_records(conn, j["id"])["records"]) == "abc\ufffd"
    rid = conn.request("logs", {"job": j["id"], "follow": True})
    notes, resp = lg_follow_collect(conn, rid, j["id"])
    assert "".join(n["data"] for n in notes) == "abc\ufffd"


def test_text_char_split_between_writes_stays_whole(conn):
    steps = [(1, b"x\xe2\x82", 0.4), (1, b"\xac y\xf0\x9f", 0.4), (1, b"\x98\x80!")]
    j = run_steps(conn, steps)
    want = "x\u20ac y\U0001F600!"
    assert lg_text(lg_records(conn, j["id"])["records"]) == want
    r = lg_records(conn, j["id"], encoding="base64")
    assert lg_bytes(r["records"]) == b"".join(s[1] for s in steps)


def test_text_split_char_interleaved_streams(conn):
    """Each stream is decoded as one byte sequence, even when records of
    the other stream come between the halves of a character."""
    steps = [(1, b"x\xe2\x82", 0.2), (2, b"e\xc3", 0.2), (1, b"\xac y", 0.2), (2, b"\xa9!")]
    j = run_steps(conn, steps)
    r = lg_records(conn, j["id"])
    assert lg_text(r["records"], "stdout") == "x\u20ac y"
    assert lg_text(r["records"], "stderr") == "e\u00e9!"
    # the stream order of the records is kept
    assert [s for s, d in lg_merge(r["records"])][:2] in (["stdout", "stderr"],)


def test_text_split_char_live_follow(conn, tmp_path):
    trig = tmp_path / "go"
    steps = [("wait", trig), (1, b"x\xe2\x82", 0.4), (2, b"e\xc3", 0.4),
             (1, b"\xac y", 0.4), (2, b"\xa9!", 0)]
    j = lc_start(conn, steps_argv(steps))
    rid = conn.request("logs", {"job": j["id"], "follow": True})
    time.sleep(0.2)
    touch(trig)
    notes, resp = lg_follow_collect(conn, rid, j["id"])
    assert "result" in resp, resp
    out = "".join(n["data"] for n in notes if n["stream"] == "stdout")
    err = "".join(n["data"] for n in notes if n["stream"] == "stderr")
    assert out == "x\u20ac y"
    assert err == "e\u00e9!"


def test_base64_all_byte_values(conn):
    data = bytes(range(256)) * 8
    j = run_steps(conn, [(1, data, 0.1), (2, data[::-1])])
    r = lg_records(conn, j["id"], encoding="base64")
    for rec in r["records"]:
        # standard alphabet, padded
        assert rec["data"] == base64.b64encode(lg_b64(rec["data"])).decode(), rec
    assert lg_bytes(r["records"], "stdout") == data
    assert lg_bytes(r["records"], "stderr") == data[::-1]
    assert b64merge(r["records"]) == [("stdout", data), ("stderr", data[::-1])]


@pytest.mark.parametrize("params", [
    {"stream": "all"}, {"stream": "STDOUT"}, {"stream": ""}, {"stream": 1},
    {"encoding": "utf8"}, {"encoding": "BASE64"}, {"encoding": "hex"}, {"encoding": 0},
    {"tail": -1}, {"tail": "2"}, {"tail": 1.5}, {"tail": True},
    {"follow": "yes"}, {"follow": 1},
    {"bogus": 1},
])
def test_logs_invalid_params(conn, params):
    j = lc_start(conn, ["true"])
    lc_join(conn, j["id"])
    p = dict(params, job=j["id"])
    assert lc_err(conn, "logs", p)["code"] == -32602


def test_logs_missing_job_param(conn):
    assert lc_err(conn, "logs", {})["code"] == -32602
    assert lc_err(conn, "logs")["code"] == -32602


def test_logs_unknown_job(conn):
    assert lc_err(conn, "logs", {"job": 999})["code"] == -32001
    assert lc_err(conn, "logs", {"job": "nosuch"})["code"] == -32001
    assert lc_err(conn, "logs", {"job": 999, "follow": True})["code"] == -32001


def test_logs_closed_job_unknown(conn):
    j = lc_start(conn, ["sh", "-c", "echo bye"])
    lc_join(conn, j["id"])
    conn.call("close", {"job": j["id"]})
    assert lc_err(conn, "logs", {"job": j["id"]})["code"] == -32001


def test_logs_optional_params_null(conn):
    j = run_steps(conn, [(1, "a\nb\n")])
    r = lg_records(conn, j["id"], stream=None, tail=None, follow=None, encoding=None)
    assert lg_text(r["records"]) == "a\nb\n"


# --- follow ---

def test_follow_retained_then_live_then_response(conn, tmp_path):
    trig = tmp_path / "go"
    j = lc_start(conn, steps_argv([(1, "first\n"), ("wait", trig), (2, "second\n", 0.2),
                                   (1, "third\n")]))
    wait_until(lambda: lg_records(conn, j["id"])["records"], 10)
    rid = conn.request("logs", {"job": j["id"], "follow": True}, id="follow-1")
    m = conn.recv()
    p = lg_check_log_note(m, "follow-1", j["id"])
    assert (p["stream"], p["data"]) == ("stdout", "first\n")
    conn.expect_nothing(0.3)
    touch(trig)
    notes, resp = lg_follow_collect(conn, rid, j["id"])
    assert lg_merge(notes) == [("stderr", "second\n"), ("stdout", "third\n")]
    assert resp["jsonrpc"] == "2.0" and resp["id"] == "follow-1", resp
    assert set(resp) == {"jsonrpc", "id", "result"}, resp
    # section 13: the final answer says whether older output is missing
    assert set(resp["result"]) == {"job", "truncated"}, resp
    assert resp["result"]["truncated"] is False, resp
    job = lc_check_job(resp["result"]["job"])
    assert job["id"] == j["id"] and job["state"] == "exited" and job["exitcode"] == 0, job
    conn.expect_nothing(0.3)


def test_follow_id_types(conn):
    j = run_steps(conn, [(1, "z\n")])
    for rid in (0, 12345, "x y", None):
        conn.request("logs", {"job": j["id"], "follow": True}, id=rid) if rid is not None else \
            conn.send({"jsonrpc": "2.0", "method": "logs", "id": None,
                       "params": {"job": j["id"], "follow": True}})
        notes, resp = lg_follow_collect(conn, rid, j["id"], timeout=5)
        assert [n["data"] for n in notes] == ["z\n"]
        assert resp["result"]["job"]["state"] == "exited"


def test_follow_waits_for_exit_not_eof(conn, tmp_path):
    """A job that closes its stdout and stderr but keeps running: the
    follow is answered only once it has exited."""
    trig = tmp_path / "go"
    code = ("import os,sys,time; os.write(1,b'bye\\n'); os.close(1); os.close(2);\n"
            "while not os.path.exists(sys.argv[1]): time.sleep(0.01)")
    j = lc_start(conn, [LC_PY, "-c", code, str(trig)])
    rid = conn.request("logs", {"job": j["id"], "follow": True})
    p = lg_check_log_note(conn.recv(), rid, j["id"])
    assert p["data"] == "bye\n"
    conn.expect_nothing(0.5)
    touch(trig)
    notes, resp = lg_follow_collect(conn, rid, j["id"])
    assert notes == []
    assert resp["result"]["job"]["state"] == "exited"


def test_follow_waits_for_children_jobs(conn, tmp_path):
    """The answer comes once the job is exited, not merely its process."""
    trig = tmp_path / "go"
    parent = lc_start(conn, steps_argv([("wait", trig), (1, "p\n")]))
    child = lc_start(conn, ["sleep", "30"], parent=parent["id"])
    rid = conn.request("logs", {"job": parent["id"], "follow": True})
    touch(trig)
    wait_until(lambda: lc_status(conn, parent["id"])["state"] == "waiting", 10)
    # past the grace period the output is certainly drained: still no answer
    end = time.monotonic() + 1.5
    early = list(conn.pending)
    conn.pending = []
    while True:
        left = end - time.monotonic()
        if left <= 0:
            break
        try:
            line = conn.read_line(left)
        except TimeoutError:
            break
        assert line is not None
        early.append(json.loads(line))
    for m in early:
        assert not (isinstance(m, dict) and m.get("id") == rid), \
            "follow answered while the job is waiting: %r" % (m,)
    conn.pending = early
    # a follow that starts while the job waits is not answered either
    rid2 = conn.request("logs", {"job": parent["id"], "follow": True})
    with pytest.raises(TimeoutError):
        conn.response(rid2, timeout=0.5)
    assert lc_status(conn, parent["id"])["state"] == "waiting"
    conn.call("terminate", {"job": child["id"]})
    for r in (rid, rid2):
        notes, resp = lg_follow_collect(conn, r, parent["id"])
        assert "".join(n["data"] for n in notes) == "p\n"
        assert resp["result"]["job"]["state"] == "exited", resp


def test_follow_exited_job_replays_and_answers_at_once(conn):
    j = run_steps(conn, [(1, "a\n", 0.1), (2, "b\n", 0.1), (1, "c")])
    t0 = time.monotonic()
    rid = conn.request("logs", {"job": j["id"], "follow": True})
    notes, resp = lg_follow_collect(conn, rid, j["id"], timeout=10)
    took = time.monotonic() - t0
    assert took < 3, "follow on an exited job took %.1f s" % took
    assert lg_merge(notes) == [("stdout", "a\n"), ("stderr", "b\n"), ("stdout", "c")]
    assert resp["result"]["job"]["state"] == "exited"
    assert resp["result"]["job"] == lc_status(conn, j["id"])
    conn.expect_nothing(0.3)


def test_follow_exited_with_tail_stream_base64(conn):
    j = run_steps(conn, [(1, "a\nb\n", 0.1), (2, b"\xff\n", 0.1), (1, "c\n")])
    rid = conn.request("logs", {"job": j["id"], "follow": True, "tail": 2})
    notes, resp = lg_follow_collect(conn, rid, j["id"])
    assert lg_merge(notes) == [("stderr", "\ufffd\n"), ("stdout", "c\n")]
    rid = conn.request("logs", {"job": j["id"], "follow": True, "stream": "stderr",
                                "encoding": "base64"})
    notes, resp = lg_follow_collect(conn, rid, j["id"])
    assert {n["stream"] for n in notes} == {"stderr"}
    assert b"".join(lg_b64(n["data"]) for n in notes) == b"\xff\n"
    rid = conn.request("logs", {"job": j["id"], "follow": True, "tail": 0})
    notes, resp = lg_follow_collect(conn, rid, j["id"])
    assert notes == [] and "result" in resp


def test_follow_live_stream_filter(conn, tmp_path):
    trig = tmp_path / "go"
    j = lc_start(conn, steps_argv([("wait", trig), (1, "o1\n", 0.1), (2, "e1\n", 0.1),
                                   (1, "o2\n")]))
    r_out = conn.request("logs", {"job": j["id"], "follow": True, "stream": "stdout"})
    r_err = conn.request("logs", {"job": j["id"], "follow": True, "stream": "stderr"})
    time.sleep(0.2)
    touch(trig)
    notes, resp = lg_follow_collect(conn, r_out, j["id"])
    assert [n["stream"] for n in notes] == ["stdout"] * len(notes)
    assert "".join(n["data"] for n in notes) == "o1\no2\n"
    notes, resp = lg_follow_collect(conn, r_err, j["id"])
    assert [n["stream"] for n in notes] == ["stderr"] * len(notes)
    assert "".join(n["data"] for n in notes) == "e1\n"


def test_follow_tail_then_live(conn, tmp_path):
    trig = tmp_path / "go"
    j = lc_start(conn, steps_argv([(1, "1\n2\n3\n"), ("wait", trig), (1, "4\n")]))
    wait_until(lambda: lg_text(lg_records(conn, j["id"])["records"]) == "1\n2\n3\n", 10)
    rid = conn.request("logs", {"job": j["id"], "follow": True, "tail": 1})
    touch(trig)
    notes, resp = lg_follow_collect(conn, rid, j["id"])
    assert "".join(n["data"] for n in notes) == "3\n4\n"


def test_two_followers_get_every_byte(procd, conn, tmp_path):
    trig = tmp_path / "go"
    # 3 MiB in varied chunk sizes, both streams, numbered so order shows
    code = r"""
import os, sys, time
while not os.path.exists(sys.argv[1]): time.sleep(0.01)
for i in range(30000):
    os.write(1 if i % 7 else 2, b"line %06d %s\n" % (i, b"x" * (i % 97)))
"""
    j = lc_start(conn, [LC_PY, "-c", code, str(trig)], log_limit=1000)
    c2 = procd.connect()
    r1 = conn.request("logs", {"job": j["id"], "follow": True, "encoding": "base64"})
    r2 = c2.request("logs", {"job": j["id"], "follow": True, "encoding": "base64"})
    r3 = c2.request("logs", {"job": j["id"], "follow": True})
    time.sleep(0.3)
    touch(trig)
    want_out = b"".join(b"line %06d %s\n" % (i, b"x" * (i % 97)) for i in range(30000) if i % 7)
    want_err = b"".join(b"line %06d %s\n" % (i, b"x" * (i % 97)) for i in range(30000) if not i % 7)
    res = {}

    def collect(c, rid, key):
        res[key] = lg_follow_collect(c, rid, j["id"], timeout=60)
    t = threading.Thread(target=collect, args=(c2, r2, "c2"))
    t.start()
    n1, resp1 = lg_follow_collect(conn, r1, j["id"], timeout=60)
    t.join(70)
    n2, resp2 = res["c2"]
    n3, resp3 = lg_follow_collect(c2, r3, j["id"], timeout=10)
    for notes, resp in ((n1, resp1), (n2, resp2)):
        assert "result" in resp, resp
        assert b"".join(lg_b64(n["data"]) for n in notes if n["stream"] == "stdout") == want_out
        assert b"".join(lg_b64(n["data"]) for n in notes if n["stream"] == "stderr") == want_err
    assert "".join(n["data"] for n in n3 if n["stream"] == "stdout") == want_out.decode()
    assert "".join(n["data"] for n in n3 if n["stream"] == "stderr") == want_err.decode()


def test_follow_as_notification_does_nothing(procd, conn, tmp_path):
    trig = tmp_path / "go"
    j = lc_start(conn, steps_argv([(1, "before\n"), ("wait", trig), (1, "after\n")]))
    wait_until(lambda: lg_records(conn, j["id"])["records"], 10)
    c2 = procd.connect()
    c2.send({"jsonrpc": "2.0", "method": "logs", "params": {"job": j["id"], "follow": True}})
    c2.expect_nothing(0.4)
    touch(trig)
    lc_join(conn, j["id"])
    c2.expect_nothing(0.5)
    # the connection still works
    assert c2.call("status", {"job": j["id"]})["state"] == "exited"


def test_follow_answered_when_job_closed_elsewhere(procd, conn):
    """A follow on an exited job is answered, so closing right after does
    not leave it hanging, and the job is closable while followers exist."""
    j = run_steps(conn, [(1, "x\n")])
    rid = conn.request("logs", {"job": j["id"], "follow": True})
    notes, resp = lg_follow_collect(conn, rid, j["id"])
    assert "result" in resp
    conn.call("close", {"job": j["id"]})


def test_follow_disconnect_does_not_disturb(procd, conn, tmp_path):
    trig = tmp_path / "go"
    j = lc_start(conn, steps_argv([("wait", trig), (1, "data\n" * 1000)]))
    c2 = procd.connect()
    c2.request("logs", {"job": j["id"], "follow": True})
    c2.close()
    rid = conn.request("logs", {"job": j["id"], "follow": True})
    touch(trig)
    notes, resp = lg_follow_collect(conn, rid, j["id"])
    assert "".join(n["data"] for n in notes) == "data\n" * 1000
    assert procd.alive()


# --- grace period after exit ---

def test_grandchild_holding_pipe_does_not_hold_follow(conn):
    j = lc_start(conn, ["sh", "-c", "sleep 30 & echo hi"])
    try:
        rid = conn.request("logs", {"job": j["id"], "follow": True})
        t0 = time.monotonic()
        notes, resp = lg_follow_collect(conn, rid, j["id"], timeout=20)
        took = time.monotonic() - t0
        assert "result" in resp, resp
        assert resp["result"]["job"]["state"] == "exited"
        assert "".join(n["data"] for n in notes) == "hi\n"
        assert took < 5, "logs -f held open %.1f s by a grandchild" % took
        # a later follow answers at once
        t0 = time.monotonic()
        rid = conn.request("logs", {"job": j["id"], "follow": True})
        notes, resp = lg_follow_collect(conn, rid, j["id"], timeout=10)
        assert time.monotonic() - t0 < 3
    finally:
        try:
            os.killpg(j["pid"], signal.SIGKILL)
        except OSError:
            pass


def test_grandchild_output_within_grace_is_kept(conn):
    j = lc_start(conn, ["sh", "-c", "(sleep 0.2; echo late; echo late2 >&2) & echo early"])
    rid = conn.request("logs", {"job": j["id"], "follow": True})
    notes, resp = lg_follow_collect(conn, rid, j["id"], timeout=20)
    out = "".join(n["data"] for n in notes if n["stream"] == "stdout")
    err = "".join(n["data"] for n in notes if n["stream"] == "stderr")
    assert out == "early\nlate\n"
    assert err == "late2\n"


def test_grandchild_output_after_grace_not_captured(conn):
    j = lc_start(conn, ["sh", "-c", "(sleep 3; echo late) & echo early"])
    try:
        lc_join(conn, j["id"])
        time.sleep(4)
        assert lg_text(lg_records(conn, j["id"])["records"]) == "early\n"
    finally:
        try:
            os.killpg(j["pid"], signal.SIGKILL)
        except OSError:
            pass


# --- 100 MiB through procd with a slow follower ---

PATTERN_LEN = 1048583  # a prime just above 1 MiB: misplaced bytes show
PATTERN = random.Random(3).getrandbits(8 * PATTERN_LEN).to_bytes(PATTERN_LEN, "little")
# Writes argv[2] bytes of the pattern file argv[1], repeated, to stdout.
REPEAT = r"""
import os, sys
pat = open(sys.argv[1], "rb").read()
left = int(sys.argv[2])
buf = pat * 4
off = 0
while left:
    n = os.write(1, memoryview(buf)[off:off + min(left, 3 * len(pat))])
    left -= n
    off = (off + n) % len(pat)
"""


def check_pattern_prefix(data):
    """data must be the start of PATTERN repeated."""
    for i in range(0, len(data), PATTERN_LEN):
        part = data[i:i + PATTERN_LEN]
        assert part == PATTERN[:len(part)], "follower bytes differ at block %d" % (i // PATTERN_LEN)


def test_100mib_slow_follower(procd_factory, tmp_path):
    total = 100 * 1024 * 1024
    pat = tmp_path / "pattern"
    pat.write_bytes(PATTERN)
    d = procd_factory(args=["--max-output", str(2 * 1024 * 1024)])
    c = d.connect()
    rss0 = lg_vm(d.pid, "VmRSS")

    # baseline: no follower
    t0 = time.monotonic()
    j = lc_start(c, [LC_PY, "-c", REPEAT, str(pat), str(total)], log_limit=4096)
    j = lc_join(c, j["id"], rpc_timeout=120)
    base = time.monotonic() - t0
    assert j["exitcode"] == 0, j
    r = lg_records(c, j["id"], encoding="base64")
    tail_want = (PATTERN * 2)[(total - 4096) % PATTERN_LEN:][:4096]
    assert lg_bytes(r["records"]) == tail_want

    # with a follower that reads slowly
    trig = tmp_path / "go"
    argv = ["sh", "-c", 'while [ ! -e "$1" ]; do sleep 0.01; done; exec "$2" -c "$3" "$4" "$5"',
            "sh", str(trig), LC_PY, REPEAT, str(pat), str(total)]
    j = lc_start(c, argv, log_limit=4096)
    f = d.connect()
    rid = f.request("logs", {"job": j["id"], "follow": True, "encoding": "base64"})
    box = {}

    def joiner():
        jc = d.connect()
        t = time.monotonic()
        box["job"] = lc_join(jc, j["id"], rpc_timeout=120)
        box["took"] = time.monotonic() - t
        jc.close()
    th = threading.Thread(target=joiner)
    time.sleep(0.2)
    touch(trig)
    th.start()

    got = []
    buf = b""
    outcome = None
    deadline = time.monotonic() + 90
    f.sock.settimeout(10)
    while time.monotonic() < deadline:
        try:
            chunk = f.sock.recv(4096)
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            outcome = "cut"
            break
        buf += chunk
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            m = json.loads(line)
            if m.get("method") == "log":
                lg_check_log_note(m, rid, j["id"])
                got.append(lg_b64(m["params"]["data"]))
            else:
                assert m.get("id") == rid, m
                outcome = "complete"
                break
        if outcome:
            break
        if "took" not in box:
            time.sleep(0.002)   # slow while the worker writes
    th.join(120)
    assert "took" in box, "join never returned"
    assert box["job"]["exitcode"] == 0, box
    took = box["took"]
    assert took < 30, "worker with a slow follower took %.1f s (baseline %.1f s)" % (took, base)
    assert took < base * 10 + 10, "worker slowed by the follower: %.1f s vs %.1f s" % (took, base)
    data = b"".join(got)
    assert outcome in ("cut", "complete"), outcome
    if outcome == "complete":
        assert len(data) == total
    else:
        assert len(data) < total
    check_pattern_prefix(data)
    peak = lg_vm(d.pid)
    if not SANITIZED:
        assert peak < 100 * 1024, "procd's peak RSS %d KiB" % peak
        assert lg_vm(d.pid, "VmRSS") - rss0 < 64 * 1024
    # procd keeps serving others
    assert d.alive()
    c2 = d.connect()
    assert c2.call("status", {"job": j["id"]})["state"] == "exited"
    r = lg_records(c2, j["id"], encoding="base64")
    assert lg_bytes(r["records"]) == tail_want


def test_live_follow_byte_exact(procd, conn, tmp_path):
    """8 MiB of pattern bytes live through one follower: its base64 queue
    never exceeds the default output limit, so every byte must arrive."""
    total = 8 * 1024 * 1024
    pat = tmp_path / "pattern"
    pat.write_bytes(PATTERN)
    trig = tmp_path / "go"
    argv = ["sh", "-c", 'while [ ! -e "$1" ]; do sleep 0.01; done; exec "$2" -c "$3" "$4" "$5"',
            "sh", str(trig), LC_PY, REPEAT, str(pat), str(total)]
    j = lc_start(conn, argv, log_limit=100)
    rid = conn.request("logs", {"job": j["id"], "follow": True, "encoding": "base64"})
    time.sleep(0.2)
    touch(trig)
    notes, resp = lg_follow_collect(conn, rid, j["id"], timeout=60)
    assert "result" in resp, resp
    data = b"".join(lg_b64(n["data"]) for n in notes)
    assert len(data) == total
    check_pattern_prefix(data)


# --- procctl logs ---

def ctl_bin(procd, *args, timeout=30):
    return subprocess.run([PROCCTL, "--socket", procd.sock] + [str(a) for a in args],
                          capture_output=True, timeout=timeout, env=procd.env, cwd=procd.dir)


def test_procctl_logs_streams_byte_exact(procd, conn):
    out = bytes(range(256)) * 3 + b"\r\n\x00end"
    err = b"\xff\xfe" + bytes(range(255, -1, -1))
    j = run_steps(conn, [(1, out, 0.1), (2, err)], name="bin")
    for ref in (j["id"], "bin"):
        r = ctl_bin(procd, "logs", ref)
        assert r.returncode == 0, r
        assert r.stdout == out
        assert r.stderr == err


def test_procctl_logs_tail_and_stream(procd, conn):
    j = run_steps(conn, TAIL_STEPS)
    r = ctl_bin(procd, "logs", j["id"], "-n", "2")
    assert r.returncode == 0, r
    assert (r.stdout, r.stderr) == (b"d", b"c\n")
    r = ctl_bin(procd, "logs", "-n", "3", j["id"])
    assert (r.stdout, r.stderr) == (b"b\nd", b"c\n")
    r = ctl_bin(procd, "logs", j["id"], "-n", "0")
    assert (r.returncode, r.stdout, r.stderr) == (0, b"", b"")
    r = ctl_bin(procd, "logs", j["id"], "--stdout")
    assert (r.returncode, r.stdout, r.stderr) == (0, b"a\nb\nd", b"")
    r = ctl_bin(procd, "logs", j["id"], "--stderr")
    assert (r.returncode, r.stdout, r.stderr) == (0, b"", b"c\n")
    r = ctl_bin(procd, "logs", j["id"], "--stdout", "-n", "1")
    assert (r.returncode, r.stdout, r.stderr) == (0, b"d", b"")


def test_procctl_logs_errors(procd, conn):
    r = ctl_bin(procd, "logs", "999")
    assert r.returncode == 1, r
    assert r.stderr.strip()
    r = ctl_bin(procd, "logs", "nosuch")
    assert r.returncode == 1, r
    r = ctl_bin(procd, "logs")
    assert r.returncode == 2, r
    j = run_steps(conn, [(1, "x\n")])
    r = ctl_bin(procd, "logs", j["id"], "-n", "notanumber")
    assert r.returncode == 2, r


def test_procctl_logs_follow(procd, conn, tmp_path):
    trig = tmp_path / "go"
    j = lc_start(conn, steps_argv([(1, "first\n"), (2, "err1\n"), ("wait", trig),
                                   (1, b"second\xff\n"), (2, "err2\n")]))
    wait_until(lambda: len(lg_records(conn, j["id"])["records"]) >= 2, 10)
    p = subprocess.Popen([PROCCTL, "--socket", procd.sock, "logs", "-f", str(j["id"])],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=procd.env)
    try:
        assert p.stdout.readline() == b"first\n"
        time.sleep(0.3)
        assert p.poll() is None, "logs -f ended while the job runs"
        touch(trig)
        out, err = p.communicate(timeout=20)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == 0
    assert out == b"second\xff\n"
    assert err == b"err1\nerr2\n"


def test_procctl_logs_follow_exited_job(procd, conn):
    j = run_steps(conn, [(1, "done\n")])
    r = ctl_bin(procd, "logs", "-f", j["id"], timeout=10)
    assert (r.returncode, r.stdout) == (0, b"done\n")


def test_procctl_logs_follow_grandchild(procd, conn):
    j = lc_start(conn, ["sh", "-c", "sleep 30 & echo hi"])
    try:
        t0 = time.monotonic()
        r = ctl_bin(procd, "logs", "-f", j["id"], timeout=20)
        assert time.monotonic() - t0 < 5
        assert (r.returncode, r.stdout) == (0, b"hi\n")
    finally:
        try:
            os.killpg(j["pid"], signal.SIGKILL)
        except OSError:
            pass
