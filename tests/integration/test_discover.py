# SPDX-License-Identifier: ISC
# rpc.discover (an OpenRPC document of every method) and procctl methods:
# every method procd serves is described, every described method is
# served, and what procd really answers fits what the document says.
import json
import os
import re

from conftest import lc_err, lc_join, lc_start

SRCDIR = os.environ.get("srcdir") or os.path.abspath(
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))

# The methods of the protocol (sections 5 and 9), and rpc.discover.
SPEC_METHODS = {"start", "join", "terminate", "kill", "signal", "close",
                "status", "list", "info", "logs", "subscribe", "unsubscribe",
                "reexec", "rpc.discover"}


def discover(conn):
    doc = conn.call("rpc.discover")
    assert isinstance(doc, dict)
    return doc


def methods_of(doc):
    return {m["name"]: m for m in doc["methods"]}


def resolve(doc, schema):
    ref = schema.get("$ref")
    if ref is None:
        return schema
    assert ref.startswith("#/components/schemas/"), ref
    return doc["components"]["schemas"][ref.rsplit("/", 1)[1]]


def conforms(doc, schema, value):
    """A small JSON Schema check: the keywords the document uses."""
    schema = resolve(doc, schema)
    if "oneOf" in schema:
        return sum(conforms(doc, s, value) for s in schema["oneOf"]) == 1
    if "const" in schema and value != schema["const"]:
        return False
    if "enum" in schema and value not in schema["enum"]:
        return False
    types = schema.get("type")
    if types is not None:
        types = types if isinstance(types, list) else [types]
        pytype = {"null": type(None), "boolean": bool, "string": str,
                  "array": list, "object": dict}
        ok = False
        for t in types:
            if t == "integer":
                ok |= isinstance(value, int) and not isinstance(value, bool)
            elif t == "number":
                ok |= isinstance(value, (int, float)) and not isinstance(value, bool)
            else:
                ok |= isinstance(value, pytype[t])
        if not ok:
            return False
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            return False
        if "maximum" in schema and value > schema["maximum"]:
            return False
    if isinstance(value, str) and "pattern" in schema:
        if not re.search(schema["pattern"], value):
            return False
    if isinstance(value, list):
        if len(value) < schema.get("minItems", 0):
            return False
        if "items" in schema and not all(conforms(doc, schema["items"], v)
                                         for v in value):
            return False
    if isinstance(value, dict):
        for k in schema.get("required", []):
            if k not in value:
                return False
        props = schema.get("properties", {})
        for k, v in value.items():
            if k in props and not conforms(doc, props[k], v):
                return False
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            if not all(conforms(doc, extra, v) for k, v in value.items()
                       if k not in props):
                return False
    return True


def served_by_source():
    """The methods in procd's dispatch table, read from the sources."""
    table = open(os.path.join(SRCDIR, "daemon", "method.c")).read()
    entries = re.findall(r"&method_(\w+)_entry", table)
    names = {}
    methods_c = open(os.path.join(SRCDIR, "proto", "methods.c")).read()
    for ident, name in re.findall(r'METHOD\((\w+), "([^"]+)"', methods_c):
        names[ident] = name
    served = set()
    for e in entries:
        src = open(os.path.join(SRCDIR, "daemon", "method-%s.c" % e)).read()
        m = re.search(r"method_%s_entry = \{\s*&proto_method_(\w+)" % e, src)
        assert m, "method-%s.c: entry does not name a proto method" % e
        served.add(names[m.group(1)])
    return served


def test_document_shape(procd, conn):
    doc = discover(conn)
    assert doc["openrpc"].startswith("1.")
    info = conn.call("info")
    assert doc["info"]["title"] == "procd"
    assert doc["info"]["version"] == info["version"]
    names = [m["name"] for m in doc["methods"]]
    assert len(names) == len(set(names))
    assert set(names) == SPEC_METHODS
    for m in doc["methods"]:
        assert m["summary"], m["name"]
        assert m["paramStructure"] == "by-name"
        assert isinstance(m["result"]["schema"], dict)
        pnames = [p["name"] for p in m["params"]]
        assert len(pnames) == len(set(pnames)), m["name"]
        for p in m["params"]:
            assert p["summary"] and isinstance(p["required"], bool)
            resolve(doc, p["schema"])   # every $ref resolves


def test_described_is_served_and_served_is_described(procd, conn):
    doc = discover(conn)
    described = set(methods_of(doc))
    # Served: not "Method not found". An unknown param is refused before
    # any method runs, so this changes nothing (not even for reexec).
    for name in described:
        e = lc_err(conn, name, {"no_such_param_x": 1})
        assert e["code"] == -32602, (name, e)
        assert "no_such_param_x" in e["message"]
    for name in ("rpc.nothing", "discover", "methods", "rpc.discover2"):
        assert lc_err(conn, name)["code"] == -32601
    # The dispatch table itself names exactly the described methods.
    assert served_by_source() == described


def test_params_are_what_procd_accepts(procd, conn):
    """Each described param is known to procd, required ones are refused
    when missing, and no other name is accepted."""
    doc = discover(conn)
    for m in doc["methods"]:
        required = [p["name"] for p in m["params"] if p["required"]]
        for p in m["params"]:
            if m["name"] == "reexec":
                continue
            # a value of a type no param takes: refused for its type, by
            # its name, never as an unknown param
            e = lc_err(conn, m["name"], {p["name"]: {"x": [1]}}
                       if p["schema"].get("type") != "object" else {p["name"]: [[1]]})
            assert e["code"] == -32602
            assert "is not a known param" not in e["message"], (m["name"], p, e)
        if required:
            e = lc_err(conn, m["name"], {})
            assert e["code"] == -32602 and "is required" in e["message"], (m["name"], e)


def base_schema(doc, schema):
    """An optional param's schema is oneOf [its own, null]: its own."""
    schema = resolve(doc, schema)
    one = schema.get("oneOf")
    if one and len(one) == 2 and one[1] == {"type": "null"}:
        return resolve(doc, one[0])
    return schema


def required_params(conn, method, job):
    """Valid values of a method's required params."""
    values = {"argv": ["true"], "job": job, "signal": "HUP"}
    if method == "unsubscribe":
        values["subscription"] = conn.call("subscribe", {})["subscription"]
    return values


def test_words_are_the_ones_procd_takes(procd, conn):
    """A param described with an enum takes exactly those words: another
    is refused with a message that names them, in the same order."""
    doc = discover(conn)
    job = lc_start(conn, ["true"])["id"]
    lc_join(conn, job)
    seen = 0
    for m in doc["methods"]:
        for p in m["params"]:
            words = base_schema(doc, p["schema"]).get("enum")
            if words is None:
                continue
            seen += 1
            req = required_params(conn, m["name"], job)
            params = {q["name"]: req[q["name"]] for q in m["params"] if q["required"]}
            params[p["name"]] = "no-such-word"
            e = lc_err(conn, m["name"], params)
            assert e["code"] == -32602, (m["name"], p["name"], e)
            said = re.search(r"'%s' must be (.*)$" % p["name"], e["message"])
            assert said, e["message"]
            assert re.split(r", | or ", said.group(1)) == words, (words, e["message"])
    assert seen == 5    # output, restart, kill_mode, stream, encoding


def test_optional_params_may_be_null(procd, conn):
    """As the protocol says, null for an optional param means leaving it
    out; the document allows it, and procd takes it."""
    doc = discover(conn)
    ms = methods_of(doc)
    job = lc_start(conn, ["true"])["id"]
    lc_join(conn, job)
    for name in ("start", "join", "status", "list", "logs", "subscribe"):
        m = ms[name]
        req = required_params(conn, name, job)
        params = {}
        for p in m["params"]:
            if p["required"]:
                params[p["name"]] = req[p["name"]]
            else:
                assert conforms(doc, p["schema"], None), (name, p)
                params[p["name"]] = None
        r = conn.call(name, params)
        assert conforms(doc, m["result"]["schema"], r), (name, r)
        if name == "start":
            lc_join(conn, r["id"])


def test_results_fit_the_schemas(procd, conn):
    doc = discover(conn)
    ms = methods_of(doc)

    def check(method, result):
        assert conforms(doc, ms[method]["result"]["schema"], result), (method, result)

    job = lc_start(conn, ["sh", "-c", "echo hi; exit 3"], name="disc")
    check("start", job)
    joined = lc_join(conn, "disc")
    check("join", joined)
    assert joined["exitcode"] == 3
    check("status", conn.call("status", {"job": "disc"}))
    check("list", conn.call("list"))
    check("info", conn.call("info"))
    check("logs", conn.call("logs", {"job": "disc"}))
    check("signal", conn.call("signal", {"job": "disc", "signal": "HUP"}))
    check("terminate", conn.call("terminate", {"job": "disc"}))
    check("kill", conn.call("kill", {"job": "disc"}))
    sub = conn.call("subscribe", {})
    check("subscribe", sub)
    check("unsubscribe", conn.call("unsubscribe", {"subscription": sub["subscription"]}))
    check("close", conn.call("close", {"job": "disc"}))
    check("rpc.discover", doc)
    # A job object's fields are all described, with their types.
    live = lc_start(conn, ["sleep", "30"], notify=True)
    props = doc["components"]["schemas"]["Job"]["properties"]
    assert set(live) <= set(props), set(live) - set(props)
    timed = lc_join(conn, live["id"], timeout=0)
    assert timed["timed_out"] is True and conforms(doc, ms["join"]["result"]["schema"], timed)
    conn.call("kill", {"job": live["id"]})


def test_a_wrong_result_does_not_fit(procd, conn):
    """The checker above can fail: a job object with a wrong type."""
    doc = discover(conn)
    job = lc_start(conn, ["true"])
    schema = methods_of(doc)["status"]["result"]["schema"]
    assert conforms(doc, schema, job)
    for bad in ({**job, "pid": "12"}, {**job, "state": "sleeping"},
                {k: v for k, v in job.items() if k != "id"}):
        assert not conforms(doc, schema, bad)


def test_discover_is_open_to_every_user_and_batchable(procd, conn):
    conn.send([{"jsonrpc": "2.0", "method": "rpc.discover", "id": 1},
               {"jsonrpc": "2.0", "method": "info", "id": 2}])
    reply = conn.recv()
    assert isinstance(reply, list) and len(reply) == 2
    assert {r["id"] for r in reply} == {1, 2}
    # as a notification: executed, never answered
    conn.send({"jsonrpc": "2.0", "method": "rpc.discover"})
    conn.expect_nothing()


def test_empty_array_params_says_what_to_send(procd, conn):
    """The protocol takes params by name only: [] is -32602 even for a
    method without params, with a message saying what to send."""
    e = lc_err(conn, "info", [])
    assert e["code"] == -32602
    assert "leave params out" in e["message"]
    e = lc_err(conn, "status", [])
    assert e["code"] == -32602 and "leave params out" not in e["message"]
    assert conn.call("info", {})["pid"] == procd.pid


def test_procctl_methods(procd):
    r = procd.ctl("methods")
    assert r.returncode == 0, r.stderr
    out = r.stdout
    for name in SPEC_METHODS:
        assert re.search(r"^%s -> " % re.escape(name), out, re.M), name
    assert re.search(r"^start -> Job$", out, re.M)
    assert re.search(r"^\s+argv\s+\[\]string\s+\(required\)", out, re.M)
    assert re.search(r"^list -> \[\]Job$", out, re.M)
    r = procd.ctl("--json", "methods")
    assert r.returncode == 0
    doc = json.loads(r.stdout)
    assert {m["name"] for m in doc["methods"]} == SPEC_METHODS


def test_procctl_methods_unreachable(tmp_path):
    from conftest import PROCCTL
    import subprocess
    r = subprocess.run([PROCCTL, "--socket", str(tmp_path / "none.sock"), "methods"],
                       capture_output=True, text=True)
    assert r.returncode == 1
    assert "none.sock" in r.stderr
