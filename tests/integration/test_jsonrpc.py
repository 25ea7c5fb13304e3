# SPDX-License-Identifier: ISC
# JSON-RPC 2.0 as procd-protocol(7) describes it: the specification's own
# examples adapted to procd's methods, notifications, batches, ids, params,
# duplicate members, NUL characters, nesting depth, invalid UTF-8 and
# out-of-order answers.
import json

import pytest

from conftest import Conn, srv_check, wait_until

SLEEP = ["sleep", "1000"]


def sentinel(conn, tag="sentinel"):
    """Send a request and assert that its answer is the very next message:
    nothing else (no answer to an earlier notification) came before it."""
    conn.request("info", id=tag)
    m = conn.recv()
    srv_check(m, tag)
    return m


def raw(conn, line):
    if isinstance(line, str):
        line = line.encode()
    conn.send_raw(line + b"\n")
    return conn.recv()


def start_sleeper(conn, **params):
    p = {"argv": SLEEP}
    p.update(params)
    return conn.call("start", p)


def by_id(responses):
    out = {}
    for r in responses:
        out.setdefault(json.dumps(r.get("id")), []).append(r)
    return out


# --- the specification's examples -------------------------------------------

def test_spec_parse_error(conn):
    m = raw(conn, '{"jsonrpc": "2.0", "method": "info", "params": "bar", "baz]')
    srv_check(m, None, -32700)
    # a parse error keeps the connection
    assert "pid" in conn.call("info")


def test_spec_invalid_request_object(conn):
    m = raw(conn, '{"jsonrpc": "2.0", "method": 1, "params": "bar"}')
    srv_check(m, None, -32600)
    sentinel(conn)


def test_spec_batch_invalid_json(conn):
    m = raw(conn, '['
            '{"jsonrpc": "2.0", "method": "info", "id": "1"},'
            '{"jsonrpc": "2.0", "method"]')
    # one error object, not an array
    srv_check(m, None, -32700)
    sentinel(conn)


def test_spec_empty_batch(conn):
    m = raw(conn, "[]")
    assert isinstance(m, dict), "empty batch must get one error object, not %r" % (m,)
    srv_check(m, None, -32600)
    sentinel(conn)


def test_spec_batch_of_one_invalid(conn):
    m = raw(conn, "[1]")
    assert isinstance(m, list) and len(m) == 1, m
    srv_check(m[0], None, -32600)
    sentinel(conn)


def test_spec_batch_of_invalid(conn):
    m = raw(conn, "[1,2,3]")
    assert isinstance(m, list) and len(m) == 3, m
    for r in m:
        srv_check(r, None, -32600)
    sentinel(conn)


def test_spec_mixed_batch(conn):
    job = start_sleeper(conn)
    batch = [
        {"jsonrpc": "2.0", "method": "info", "id": "1"},
        {"jsonrpc": "2.0", "method": "info"},
        {"jsonrpc": "2.0", "method": "status", "params": {"job": job["id"]}, "id": "2"},
        {"foo": "boo"},
        {"jsonrpc": "2.0", "method": "foo.get", "params": {"name": "myself"}, "id": "5"},
        {"jsonrpc": "2.0", "method": "list", "id": "9"},
    ]
    m = raw(conn, json.dumps(batch))
    assert isinstance(m, list), m
    assert len(m) == 5, "the notification must not be answered: %r" % (m,)
    ids = by_id(m)
    assert sorted(ids) == sorted(['"1"', '"2"', "null", '"5"', '"9"']), m
    srv_check(ids['"1"'][0], "1")
    assert ids['"1"'][0]["result"]["jobs"]["running"] == 1
    srv_check(ids['"2"'][0], "2")
    assert ids['"2"'][0]["result"]["id"] == job["id"]
    srv_check(ids["null"][0], None, -32600)
    srv_check(ids['"5"'][0], "5", -32601)
    srv_check(ids['"9"'][0], "9")
    assert [j["id"] for j in ids['"9"'][0]["result"]] == [job["id"]]
    sentinel(conn)


def test_spec_batch_all_notifications(conn):
    batch = [{"jsonrpc": "2.0", "method": "info", "params": {}},
             {"jsonrpc": "2.0", "method": "list"},
             {"jsonrpc": "2.0", "method": "no_such_method"},
             {"jsonrpc": "2.0", "method": "info", "params": [1]},
             {"jsonrpc": "2.0", "method": "status", "params": {"job": 12345}}]
    conn.send(batch)
    sentinel(conn)
    conn.expect_nothing()


def test_batch_of_one_valid_is_an_array(conn):
    m = raw(conn, json.dumps([{"jsonrpc": "2.0", "method": "info", "id": 1}]))
    assert isinstance(m, list) and len(m) == 1, m
    srv_check(m[0], 1)


def test_nested_batch_is_invalid(conn):
    m = raw(conn, json.dumps([[{"jsonrpc": "2.0", "method": "info", "id": 1}], []]))
    assert isinstance(m, list) and len(m) == 2, m
    for r in m:
        srv_check(r, None, -32600)


@pytest.mark.parametrize("line", ["1", '"info"', "null", "true", "false", "{}", "3.5"])
def test_top_level_not_a_request(conn, line):
    m = raw(conn, line)
    srv_check(m, None, -32600)
    sentinel(conn)


# --- notifications --------------------------------------------------------

def test_notifications_never_answered(conn):
    for n in [{"jsonrpc": "2.0", "method": "info"},
              {"jsonrpc": "2.0", "method": "info", "params": {}},
              {"jsonrpc": "2.0", "method": "no_such_method"},
              {"jsonrpc": "2.0", "method": "info", "params": [7]},
              {"jsonrpc": "2.0", "method": "info", "params": {"bogus": 1}},
              {"jsonrpc": "2.0", "method": "status", "params": {"job": 999}}]:
        conn.send(n)
    sentinel(conn)
    conn.expect_nothing()


def test_notification_start_is_executed(conn):
    conn.send({"jsonrpc": "2.0", "method": "start",
               "params": {"argv": SLEEP, "name": "by-notification"}})
    jobs = wait_until(lambda: [j for j in conn.call("list")
                               if j["name"] == "by-notification"], 10)
    assert len(jobs) == 1 and jobs[0]["state"] == "running", jobs
    conn.expect_nothing()


def test_notification_terminate_is_executed(conn):
    job = start_sleeper(conn)
    conn.send({"jsonrpc": "2.0", "method": "terminate", "params": {"job": job["id"]}})
    j = conn.call("join", {"job": job["id"], "timeout": 10})
    assert j["state"] == "exited" and j["exitcode"] == -15, j
    conn.expect_nothing()


def test_join_notification_does_nothing(conn):
    job = start_sleeper(conn)
    conn.send({"jsonrpc": "2.0", "method": "join", "params": {"job": job["id"]}})
    conn.send({"jsonrpc": "2.0", "method": "join", "params": {"job": job["id"], "timeout": 0}})
    conn.send({"jsonrpc": "2.0", "method": "join", "params": {"job": 999}})
    sentinel(conn, "s1")
    assert conn.call("status", {"job": job["id"]})["state"] == "running"
    conn.call("terminate", {"job": job["id"]})
    j = conn.call("join", {"job": job["id"], "timeout": 10})
    assert j["state"] == "exited", j
    # a join notification on a finished job: still nothing
    conn.send({"jsonrpc": "2.0", "method": "join", "params": {"job": job["id"]}})
    sentinel(conn, "s2")
    conn.expect_nothing(0.5)


# --- ids ------------------------------------------------------------------

@pytest.mark.parametrize("id", ["abc", "", "\u00e9\u2603 \U0001F600", "1", 0, 42, -7,
                                2 ** 62, 1.5, None])
def test_id_echoed(conn, id):
    line = json.dumps({"jsonrpc": "2.0", "method": "info", "id": id})
    m = raw(conn, line)
    srv_check(m, id)
    # the same id on an error response
    line = json.dumps({"jsonrpc": "2.0", "method": "no_such_method", "id": id})
    srv_check(raw(conn, line), id, -32601)


@pytest.mark.parametrize("id", [2 ** 63 - 1, -2 ** 63, 1e308, -1.5e-300])
def test_id_at_the_limits_echoed(conn, id):
    srv_check(raw(conn, json.dumps({"jsonrpc": "2.0", "method": "info", "id": id})), id)


# --- numbers too large to hold: still JSON, so not a parse error ----------

@pytest.mark.parametrize("method,params,name", [
    ("status", '{"job": 9223372036854775808}', "job"),
    ("status", '{"job": -9223372036854775809}', "job"),
    ("join", '{"job": 1, "timeout": 1e400}', "timeout"),
    ("join", '{"job": 1, "timeout": -1E+999}', "timeout"),
    ("start", '{"argv": ["true"], "log_limit": 18446744073709551617}', "log_limit"),
    ("start", '{"argv": ["true"], "stop_timeout": 1e309}', "stop_timeout"),
    ("logs", '{"job": 1, "tail": 99999999999999999999}', "tail"),
    ("signal", '{"job": 1, "signal": 18446744073709551617}', "signal"),
    ("subscribe", '{"jobs": [1, 99999999999999999999]}', "jobs"),
    ("subscribe", '{"since": 99999999999999999999}', "since"),
])
def test_number_out_of_range_in_params(conn, method, params, name):
    m = raw(conn, '{"jsonrpc": "2.0", "method": "%s", "params": %s, "id": 4}'
            % (method, params))
    srv_check(m, 4, -32602)
    assert "'%s'" % name in m["error"]["message"], m
    assert "out of range" in m["error"]["message"], m
    assert conn.call("list") == []


def test_number_out_of_range_elsewhere(conn):
    # as the id: cannot be echoed
    m = raw(conn, '{"jsonrpc": "2.0", "method": "info", "id": 99999999999999999999}')
    srv_check(m, None, -32600)
    # as the method: not a string
    srv_check(raw(conn, '{"jsonrpc": "2.0", "method": 1e999, "id": 5}'), 5, -32600)
    # in a member procd ignores: ignored
    srv_check(raw(conn, '{"jsonrpc": "2.0", "method": "info", "x": [1e999], "id": 6}'), 6)
    # no such method comes first, whatever the params
    srv_check(raw(conn, '{"jsonrpc": "2.0", "method": "nope", "params": {"a": 1e999},'
                        ' "id": 7}'), 7, -32601)
    # in a batch, only its own entry
    m = raw(conn, '[{"jsonrpc": "2.0", "method": "info", "id": 8}, 1e999,'
                  ' {"jsonrpc": "2.0", "method": "list", "params": {"state": [1e999]},'
                  ' "id": 9}]')
    assert isinstance(m, list) and len(m) == 3, m
    by_id = {e["id"]: e for e in m}
    srv_check(by_id[8], 8)
    srv_check(by_id[None], None, -32600)
    srv_check(by_id[9], 9, -32602)
    # a real too small to tell from 0 is 0: job 0 is no job
    srv_check(raw(conn, '{"jsonrpc": "2.0", "method": "join", "params": {"job": 1,'
                        ' "timeout": 1e-400}, "id": 10}'), 10, -32001)
    # and a line that is not JSON is still a parse error
    srv_check(raw(conn, '{"jsonrpc": "2.0", "method": "info", "id": 1e999'), None, -32700)
    srv_check(raw(conn, '[1e999e]'), None, -32700)
    sentinel(conn)


@pytest.mark.parametrize("idtext", ['{"a": 1}', "true", "false", "[1]", "[]", "{}"])
def test_id_of_invalid_type(conn, idtext):
    m = raw(conn, '{"jsonrpc": "2.0", "method": "info", "id": %s}' % idtext)
    srv_check(m, None, -32600)
    sentinel(conn)


@pytest.mark.parametrize("body", [
    '"method": "info"',                                   # no jsonrpc
    '"jsonrpc": "1.0", "method": "info"',                 # wrong version
    '"jsonrpc": 2.0, "method": "info"',                   # version not a string
    '"jsonrpc": "2.0 ", "method": "info"',
    '"jsonrpc": null, "method": "info"',
    '"jsonrpc": "2.0"',                                   # no method
    '"jsonrpc": "2.0", "method": 1',                      # method not a string
    '"jsonrpc": "2.0", "method": null',
    '"jsonrpc": "2.0", "method": ["info"]',
    '"jsonrpc": "2.0", "method": "info", "params": null',   # params null
    '"jsonrpc": "2.0", "method": "info", "params": "bar"',  # params scalar
    '"jsonrpc": "2.0", "method": "info", "params": 5',
    '"jsonrpc": "2.0", "method": "info", "params": true',
    '"jsonrpc": "2.0", "method": "status", "params": null',
])
@pytest.mark.parametrize("id", [7, "seven"])
def test_invalid_request_with_readable_id(conn, body, id):
    m = raw(conn, '{%s, "id": %s}' % (body, json.dumps(id)))
    srv_check(m, id, -32600)
    sentinel(conn)


def test_invalid_request_with_null_id(conn):
    m = raw(conn, '{"jsonrpc": "1.0", "method": "info", "id": null}')
    srv_check(m, None, -32600)


def test_invalid_request_in_batch_keeps_its_id(conn):
    m = raw(conn, json.dumps([
        {"jsonrpc": "1.0", "method": "info", "id": "a"},
        {"jsonrpc": "2.0", "method": "info", "params": None, "id": "b"},
        {"jsonrpc": "2.0", "method": "info", "id": "c"},
        {"jsonrpc": "2.0", "method": "info", "id": True},
    ]))
    assert isinstance(m, list) and len(m) == 4, m
    ids = by_id(m)
    srv_check(ids['"a"'][0], "a", -32600)
    srv_check(ids['"b"'][0], "b", -32600)
    srv_check(ids['"c"'][0], "c")
    srv_check(ids["null"][0], None, -32600)


# --- methods and params -----------------------------------------------------

@pytest.mark.parametrize("method", ["no_such_method", "rpc.no_such_method", "", "info "])
def test_method_not_found(conn, method):
    r = conn.call_raw(method)
    srv_check(r, r["id"], -32601)


def test_params_array(conn):
    job = start_sleeper(conn)
    r = conn.call_raw("info", [])
    srv_check(r, r["id"], -32602)
    r = conn.call_raw("status", [job["id"]])
    srv_check(r, r["id"], -32602)
    r = conn.call_raw("start", [SLEEP])
    srv_check(r, r["id"], -32602)
    assert len(conn.call("list")) == 1


def test_params_absent_or_empty(conn):
    srv_check(conn.call_raw("info"), 1)
    srv_check(conn.call_raw("info", {}), 2)
    srv_check(conn.call_raw("list", {}), 3)


def test_extra_members_ignored(conn):
    m = raw(conn, json.dumps({"jsonrpc": "2.0", "method": "info", "id": 11,
                              "extra": {"x": [1, 2]}, "result": 5, "error": None}))
    srv_check(m, 11)
    assert "pid" in m["result"]


def test_unknown_param_field(conn):
    job = start_sleeper(conn)
    for method, params in [("info", {"bogus": 1}),
                           ("list", {"bogus": 1}),
                           ("status", {"job": job["id"], "bogus": 1}),
                           ("start", {"argv": SLEEP, "bogus": True})]:
        r = conn.call_raw(method, params)
        srv_check(r, r["id"], -32602)
    assert len(conn.call("list")) == 1


# --- duplicate member names -------------------------------------------------

@pytest.mark.parametrize("line,id", [
    ('{"jsonrpc": "2.0", "method": "info", "method": "info", "id": 3}', 3),
    ('{"jsonrpc": "2.0", "method": "list", "method": "info", "id": 3}', 3),
    ('{"jsonrpc": "2.0", "jsonrpc": "2.0", "method": "info", "id": "x"}', "x"),
    ('{"jsonrpc": "2.0", "method": "info", "params": {}, "params": {}, "id": 3}', 3),
    ('{"jsonrpc": "2.0", "method": "info", "id": 3, "id": 3}', None),
    ('{"jsonrpc": "2.0", "method": "info", "id": 3, "id": 4}', None),
    ('{"jsonrpc": "2.0", "method": "info", "extra": {"a": 1, "a": 1}, "id": 3}', 3),
    ('{"jsonrpc": "2.0", "method": "list", "params": {"state": "running", '
     '"state": "exited"}, "id": 3}', 3),
])
def test_duplicate_members(conn, line, id):
    srv_check(raw(conn, line), id, -32600)
    sentinel(conn)


def test_duplicate_members_nested_in_params_start_nothing(conn):
    # the smuggling case: a duplicate deep inside params must not start anything
    lines = [
        '{"jsonrpc": "2.0", "method": "start", "params": {"argv": ["true"], '
        '"argv": ["sleep", "1000"]}, "id": 21}',
        '{"jsonrpc": "2.0", "method": "start", "params": {"argv": ["sleep", "1000"], '
        '"env": {"A": "1", "A": "2"}}, "id": 22}',
        '{"jsonrpc": "2.0", "method": "start", "params": {"argv": ["sleep", "1000"], '
        '"name": "a", "name": "b"}, "id": 23}',
    ]
    for i, line in enumerate(lines):
        srv_check(raw(conn, line), 21 + i, -32600)
    assert conn.call("list") == []


def test_duplicate_member_in_batch_element(conn):
    m = raw(conn, '[{"jsonrpc": "2.0", "method": "info", "id": 1}, '
                  '{"jsonrpc": "2.0", "method": "info", "method": "list", "id": 2}]')
    assert isinstance(m, list) and len(m) == 2, m
    ids = by_id(m)
    srv_check(ids["1"][0], 1)
    srv_check(ids["2"][0], 2, -32600)


# --- NUL characters ---------------------------------------------------------

@pytest.mark.parametrize("line", [
    r'{"jsonrpc": "2.0", "method": "start", "params": {"argv": ["echo", "a\u0000b"]}, "id": 7}',
    r'{"jsonrpc": "2.0", "method": "start", "params": {"argv": ["sleep", "1000"], '
    r'"env": {"X": "\u0000"}}, "id": 7}',
    r'{"jsonrpc": "2.0", "method": "start", "params": {"argv": ["sleep", "1000"], '
    r'"cwd": "/\u0000tmp"}, "id": 7}',
    r'{"jsonrpc": "2.0", "method": "info\u0000", "id": 7}',
    r'{"jsonrpc": "2.0", "method": "info", "extra": "\u0000", "id": 7}',
    r'{"jsonrpc": "2.0", "method": "info", "params": {"a\u0000b": 1}, "id": 7}',
    r'{"jsonrpc": "2.0", "method": "info", "x\u0000": 1, "id": 7}',
])
def test_string_with_nul_is_invalid_request(conn, line):
    srv_check(raw(conn, line), 7, -32600)
    assert conn.call("list") == []


def test_id_with_nul_says_why(conn):
    """An id holding a NUL cannot be echoed as the client sent it: id null,
    and a message about the NUL, not about the id's type."""
    m = raw(conn, r'{"jsonrpc": "2.0", "method": "info", "id": "a\u0000b"}')
    srv_check(m, None, -32600)
    assert "NUL" in m["error"]["message"], m


# --- nesting depth -----------------------------------------------------------

def nest_arrays(n):
    return "[" * n + "]" * n


def test_nesting_2048_is_not_a_parse_error(conn):
    # request object (1) + params object (1) + 2046 arrays = 2048 levels
    line = '{"jsonrpc": "2.0", "method": "info", "params": {"x": %s}, "id": 5}' % nest_arrays(2046)
    srv_check(raw(conn, line), 5, -32602)
    # a batch holding one 2047-deep array: 2048 levels
    m = raw(conn, nest_arrays(2048))
    assert isinstance(m, list) and len(m) == 1, m
    srv_check(m[0], None, -32600)


def test_nesting_counts_every_value(conn):
    # 2047 arrays around a number: 2048 levels; 2048 around it: 2049
    srv_check(raw(conn, "[" * 2047 + "1" + "]" * 2047)[0], None, -32600)
    srv_check(raw(conn, "[" * 2048 + "1" + "]" * 2048), None, -32700)
    srv_check(raw(conn, '{"a":' * 2047 + "{}" + "}" * 2047), None, -32600)
    sentinel(conn)


def test_nesting_2049_is_a_parse_error(conn):
    line = '{"jsonrpc": "2.0", "method": "info", "params": {"x": %s}, "id": 5}' % nest_arrays(2047)
    srv_check(raw(conn, line), None, -32700)
    srv_check(raw(conn, nest_arrays(2049)), None, -32700)
    sentinel(conn)


@pytest.mark.parametrize("line", [
    "[" * 200000 + "]" * 200000,
    "[" * 200000,
    '{"":[' * 100000 + "]}" * 100000,
    '{"jsonrpc": "2.0", "method": "info", "id": 1, "params": {"a": ' + "[" * 200000,
], ids=["arrays", "unclosed", "objects-and-arrays", "inside-params"])
def test_nesting_200000_is_a_parse_error(procd, conn, line):
    srv_check(raw(conn, line), None, -32700)
    assert procd.alive()
    sentinel(conn)
    assert procd.call("info")["pid"] == procd.pid


# --- invalid UTF-8 -------------------------------------------------------------

@pytest.mark.parametrize("bad", [
    b"\xff", b"\xfe", b"\xc3", b"\xc3\x28", b"\xa0\xa1", b"\xe2\x28\xa1",
    b"\xe2\x82", b"\xf0\x28\x8c\xbc", b"\xf8\xa1\xa1\xa1\xa1",
    b"\xc0\xaf",              # overlong '/'
    b"\xe0\x80\xaf",          # overlong
    b"\xed\xa0\x80",          # UTF-16 surrogate encoded
    b"\xf4\x90\x80\x80",      # beyond U+10FFFF
])
def test_invalid_utf8_is_a_parse_error(conn, bad):
    line = b'{"jsonrpc": "2.0", "method": "info", "id": 1, "x": "' + bad + b'"}'
    srv_check(raw(conn, line), None, -32700)
    line = b'{"jsonrpc": "2.0", "method": "info", "id": "' + bad + b'"}'
    srv_check(raw(conn, line), None, -32700)
    sentinel(conn)


def test_valid_utf8_accepted(conn):
    name = "caf\u00e9-\u2603-\U0001F600"
    m = raw(conn, json.dumps({"jsonrpc": "2.0", "method": "info", "id": name,
                              "x": name}, ensure_ascii=False).encode())
    srv_check(m, name)


# --- out-of-order answers -----------------------------------------------------

def test_join_answered_after_later_requests(conn):
    job = start_sleeper(conn)
    conn.request("join", {"job": job["id"]}, id="j")
    conn.request("status", {"job": job["id"]}, id="s")
    conn.request("info", id="i")
    m = conn.recv()
    srv_check(m, "s")
    assert m["result"]["state"] == "running"
    srv_check(conn.recv(), "i")
    conn.expect_nothing(0.3)
    conn.request("terminate", {"job": job["id"]}, id="t")
    got = {}
    for _ in range(2):
        m = conn.recv()
        got[m["id"]] = m
    assert set(got) == {"t", "j"}, got
    srv_check(got["j"], "j")
    assert got["j"]["result"]["state"] == "exited"
    assert got["j"]["result"]["exitcode"] == -15


def test_two_joins_answered_in_finishing_order(conn):
    a = start_sleeper(conn)
    b = start_sleeper(conn)
    conn.request("join", {"job": a["id"]}, id="ja")
    conn.request("join", {"job": b["id"]}, id="jb")
    conn.request("kill", {"job": b["id"]}, id="kb")
    seen = []
    while "jb" not in seen:
        m = conn.recv()
        srv_check(m, m["id"])
        seen.append(m["id"])
    assert "ja" not in seen
    conn.request("kill", {"job": a["id"]}, id="ka")
    rest = [conn.recv()["id"], conn.recv()["id"]]
    assert sorted(rest) == ["ja", "ka"], rest


def test_batch_with_join_delays_only_that_batch(conn):
    job = start_sleeper(conn)
    conn.send([{"jsonrpc": "2.0", "method": "join", "params": {"job": job["id"]}, "id": "bj"},
               {"jsonrpc": "2.0", "method": "info", "id": "bi"}])
    conn.request("status", {"job": job["id"]}, id="s")
    m = conn.recv()
    assert isinstance(m, dict), "the batch was answered before its join finished: %r" % (m,)
    srv_check(m, "s")
    conn.expect_nothing(0.5)
    # another connection is not delayed either
    other = Conn(conn.sock.getpeername())
    try:
        assert other.call("status", {"job": job["id"]})["state"] == "running"
    finally:
        other.close()
    conn.request("terminate", {"job": job["id"]}, id="t")
    got = []
    for _ in range(2):
        got.append(conn.recv())
    batch = [g for g in got if isinstance(g, list)]
    assert len(batch) == 1, got
    ids = by_id(batch[0])
    assert sorted(ids) == ['"bi"', '"bj"'], batch
    srv_check(ids['"bj"'][0], "bj")
    assert ids['"bj"'][0]["result"]["state"] == "exited"
    srv_check(ids['"bi"'][0], "bi")


def test_batch_with_join_notification_not_delayed(conn):
    job = start_sleeper(conn)
    m = raw(conn, json.dumps([
        {"jsonrpc": "2.0", "method": "join", "params": {"job": job["id"]}},
        {"jsonrpc": "2.0", "method": "info", "id": 1}]))
    assert isinstance(m, list) and len(m) == 1, m
    srv_check(m[0], 1)
    conn.expect_nothing()


def test_batch_join_timeout(conn):
    job = start_sleeper(conn)
    m = raw(conn, json.dumps([
        {"jsonrpc": "2.0", "method": "join", "params": {"job": job["id"], "timeout": 0.2}, "id": 1},
        {"jsonrpc": "2.0", "method": "status", "params": {"job": job["id"]}, "id": 2}]))
    assert isinstance(m, list) and len(m) == 2, m
    ids = by_id(m)
    srv_check(ids["1"][0], 1)
    assert ids["1"][0]["result"]["timed_out"] is True
    assert ids["1"][0]["result"]["state"] == "running"
