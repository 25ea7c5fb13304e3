# SPDX-License-Identifier: ISC
# start: every parameter, its validation, exec failures, PATH search, ids
# and the job object (procd-protocol(7): the job object, the worker's starting
# state, start).
import calendar
import errno
import json
import os
import time

import pytest

from conftest import (LC_JOB_FIELDS, LC_PY, lc_check_job, lc_err, lc_join,
                      lc_start, lc_status, lc_write_script, wait_until)

# Writes the worker's environment and working folder to argv[1] (as JSON,
# atomically), then exits 0.
ENVDUMP = r"""
import json, os, sys
t = sys.argv[1]
with open(t + ".tmp", "w") as f:
    json.dump({"env": dict(os.environ), "cwd": os.getcwd()}, f)
os.rename(t + ".tmp", t)
"""


def dump_job(conn, path, **params):
    """Run the ENVDUMP worker to completion; returns (job, report)."""
    j = lc_start(conn, [LC_PY, "-c", ENVDUMP, str(path)], **params)
    j = lc_join(conn, j["id"])
    assert j["exitcode"] == 0, j
    with open(str(path)) as f:
        return j, json.load(f)


def parse_time(s):
    """Seconds since the epoch of a 2026-11-26T21:45:54.123Z stamp."""
    base, frac = s[:-1].split(".")
    return calendar.timegm(time.strptime(base, "%Y-%m-%dT%H:%M:%S")) + int(frac) / 1000.0


def assert_no_jobs(conn):
    assert conn.call("list") == []
    counts = conn.call("info")["jobs"]
    assert all(v == 0 for v in counts.values()), counts


# --- the job object ---

def test_start_returns_running_job_object(procd, conn):
    before = time.time()
    j = lc_start(conn, ["sleep", "30"])
    lc_check_job(j, procd.pid)
    assert j["id"] == 1
    assert j["name"] == "job-1"
    assert j["argv"] == ["sleep", "30"]
    assert j["cwd"] == "/"
    assert j["parent"] is None
    assert j["children"] == []
    assert j["daemon"] is False
    assert j["state"] == "running"
    assert j["exitcode"] is None and j["exited_at"] is None and j["usage"] is None
    assert j["uid"] == os.getuid()
    assert abs(parse_time(j["started_at"]) - before) < 60
    # The pid is the real worker, a child of procd, already exec'd.
    st = open("/proc/%d/stat" % j["pid"]).read()
    assert int(st.rsplit(")", 1)[1].split()[1]) == procd.pid
    wait_until(lambda: os.readlink("/proc/%d/exe" % j["pid"]).endswith("/sleep"), 5)
    # status returns the same record.
    s = lc_status(conn, 1)
    lc_check_job(s, procd.pid)
    for k in LC_JOB_FIELDS:
        assert s[k] == j[k], k
    conn.call("kill", {"job": 1})


def test_exited_job_object_has_exitcode_exited_at_and_usage(procd, conn):
    j = lc_start(conn, ["sh", "-c", "exit 3"])
    j = lc_join(conn, j["id"])
    lc_check_job(j, procd.pid)
    assert j["state"] == "exited"
    assert j["exitcode"] == 3
    assert j["usage"]["maxrss"] > 0
    assert parse_time(j["exited_at"]) >= parse_time(j["started_at"])
    assert abs(parse_time(j["exited_at"]) - time.time()) < 60
    # The pid is kept after the process exits.
    assert lc_status(conn, j["id"])["pid"] == j["pid"]


def test_ids_increase_and_are_never_reused(conn):
    ids = [lc_start(conn, ["true"])["id"] for _ in range(3)]
    assert ids == sorted(ids) and len(set(ids)) == 3
    assert ids[0] == 1
    for i in ids:
        lc_join(conn, i)
        conn.call("close", {"job": i})
    j = lc_start(conn, ["true"])
    assert j["id"] > max(ids)
    assert j["name"] == "job-%d" % j["id"]
    lc_join(conn, j["id"])


def test_default_name_is_a_lookup_key(conn):
    j = lc_start(conn, ["sleep", "30"])
    assert j["name"] == "job-%d" % j["id"]
    assert lc_status(conn, j["name"])["id"] == j["id"]
    assert lc_status(conn, j["id"])["name"] == j["name"]
    conn.call("kill", {"job": j["name"]})


# --- argv ---

@pytest.mark.parametrize("params", [
    {},
    {"argv": None},
    {"argv": []},
    {"argv": "sleep 30"},
    {"argv": ["sleep", 30]},
    {"argv": [1]},
    {"argv": [None]},
    {"argv": [["sleep"]]},
    {"argv": {"0": "sleep"}},
    {"name": "x"},
], ids=lambda p: json.dumps(p))
def test_argv_invalid(conn, params):
    e = lc_err(conn, "start", params)
    assert e["code"] == -32602, e
    assert_no_jobs(conn)


# --- name ---

@pytest.mark.parametrize("name", [
    "a", "Z", "x" * 64, "web.1_a@host:x-y", "job-x", "job-1a", "job1", "myjob-12",
    "1a", "007x", "-", "a.b", "@:",
])
def test_name_valid(conn, name):
    j = lc_start(conn, ["sleep", "30"], name=name)
    assert j["name"] == name
    assert lc_status(conn, name)["id"] == j["id"]
    conn.call("kill", {"job": name})


@pytest.mark.parametrize("name", [
    "", "x" * 65, "a b", "a/b", "caf\u00e9", "tab\t", "a\n", "a,b", "a*", "[a]",
    "123", "0", "job-1", "job-007", "job-99999999999999999999",
    5, True, ["a"], {"a": 1},
], ids=lambda n: json.dumps(n))
def test_name_invalid(conn, name):
    e = lc_err(conn, "start", {"argv": ["sleep", "30"], "name": name})
    assert e["code"] == -32602, e
    assert_no_jobs(conn)


def test_name_unique_among_jobs_not_closed(conn):
    a = lc_start(conn, ["sleep", "30"], name="web")
    e = lc_err(conn, "start", {"argv": ["true"], "name": "web"})
    assert e["code"] == -32003, e
    assert [j["id"] for j in conn.call("list")] == [a["id"]]
    conn.call("kill", {"job": "web"})
    lc_join(conn, "web")
    # Exited but not closed: still taken.
    e = lc_err(conn, "start", {"argv": ["true"], "name": "web"})
    assert e["code"] == -32003, e
    conn.call("close", {"job": "web"})
    b = lc_start(conn, ["sleep", "30"], name="web")
    assert b["id"] > a["id"]
    assert lc_status(conn, "web")["id"] == b["id"]
    conn.call("kill", {"job": "web"})


# --- env ---

def test_env_set_override_and_remove(procd_factory, tmp_path):
    d = procd_factory(env={"LC_T_KEEP": "keep", "LC_T_OVER": "procd", "LC_T_DEL": "gone"})
    c = d.connect()
    _, r = dump_job(c, tmp_path / "e1.json", env={
        "LC_T_NEW": "new", "LC_T_OVER": "job", "LC_T_DEL": None,
        "LC_T_ABSENT": None, "LC_T_EMPTY": "", "LC_T_EQ": "a=b c"})
    env = r["env"]
    assert env.get("LC_T_KEEP") == "keep"
    assert env.get("LC_T_NEW") == "new"
    assert env.get("LC_T_OVER") == "job"
    assert "LC_T_DEL" not in env
    assert "LC_T_ABSENT" not in env
    assert env.get("LC_T_EMPTY") == ""
    assert env.get("LC_T_EQ") == "a=b c"
    # Another job without env gets procd's own environment, unchanged.
    _, r = dump_job(c, tmp_path / "e2.json")
    env = r["env"]
    assert env.get("LC_T_KEEP") == "keep"
    assert env.get("LC_T_OVER") == "procd"
    assert env.get("LC_T_DEL") == "gone"
    assert "LC_T_NEW" not in env
    # env: null is the same as no env.
    _, r = dump_job(c, tmp_path / "e3.json", env=None)
    assert r["env"].get("LC_T_DEL") == "gone"


@pytest.mark.parametrize("env", [
    "A=b", ["A=b"], 5, True, {"A": 1}, {"A": True}, {"A": ["x"]}, {"A": {"b": "c"}},
], ids=lambda e: json.dumps(e))
def test_env_invalid(conn, env):
    e = lc_err(conn, "start", {"argv": ["true"], "env": env})
    assert e["code"] == -32602, e
    assert_no_jobs(conn)


# --- cwd ---

def test_cwd_default_is_root(conn, tmp_path):
    j, r = dump_job(conn, tmp_path / "d.json")
    assert j["cwd"] == "/"
    assert r["cwd"] == "/"


def test_cwd_given_worker_runs_there(conn, tmp_path):
    wd = tmp_path / "work dir"
    wd.mkdir()
    j, r = dump_job(conn, tmp_path / "d.json", cwd=str(wd))
    assert j["cwd"] == str(wd)
    assert r["cwd"] == str(wd)
    s = lc_start(conn, ["sleep", "30"], cwd=str(wd))
    assert os.readlink("/proc/%d/cwd" % s["pid"]) == str(wd)
    conn.call("kill", {"job": s["id"]})


@pytest.mark.parametrize("cwd", ["tmp", "", "./x", "~", 5, True, ["/"], {"a": "/"}],
                         ids=lambda c: json.dumps(c))
def test_cwd_not_absolute_is_invalid(conn, cwd):
    e = lc_err(conn, "start", {"argv": ["true"], "cwd": cwd})
    assert e["code"] == -32602, e
    assert_no_jobs(conn)


# --- daemon, stop_timeout, parent, unknown fields, nulls ---

def test_daemon_flag(conn):
    a = lc_start(conn, ["sleep", "30"], daemon=True)
    b = lc_start(conn, ["sleep", "30"], daemon=False)
    assert a["daemon"] is True and b["daemon"] is False
    assert lc_status(conn, a["id"])["daemon"] is True
    for j in (a, b):
        conn.call("kill", {"job": j["id"]})


@pytest.mark.parametrize("val", ["yes", 1, 0, "true", [], {}], ids=lambda v: json.dumps(v))
def test_daemon_invalid(conn, val):
    e = lc_err(conn, "start", {"argv": ["true"], "daemon": val})
    assert e["code"] == -32602, e
    assert_no_jobs(conn)


@pytest.mark.parametrize("val", [0, 0.5, 3, 2.25, 100000])
def test_stop_timeout_valid(conn, val):
    j = lc_start(conn, ["sleep", "30"], stop_timeout=val)
    assert j["state"] == "running"
    conn.call("kill", {"job": j["id"]})


@pytest.mark.parametrize("val", [-1, -0.5, "1", True, [], {}], ids=lambda v: json.dumps(v))
def test_stop_timeout_invalid(conn, val):
    e = lc_err(conn, "start", {"argv": ["true"], "stop_timeout": val})
    assert e["code"] == -32602, e
    assert_no_jobs(conn)


def test_parent_by_id_and_by_name(conn):
    p = lc_start(conn, ["sleep", "30"], name="par")
    a = lc_start(conn, ["sleep", "30"], parent=p["id"])
    b = lc_start(conn, ["sleep", "30"], parent="par")
    assert a["parent"] == p["id"] and b["parent"] == p["id"]
    assert sorted(lc_status(conn, "par")["children"]) == [a["id"], b["id"]]
    conn.call("kill", {"job": "par", "recursive": True})
    lc_join(conn, "par")


@pytest.mark.parametrize("val", [True, 1.5, [1], {"id": 1}], ids=lambda v: json.dumps(v))
def test_parent_wrong_type(conn, val):
    lc_start(conn, ["sleep", "30"])
    e = lc_err(conn, "start", {"argv": ["true"], "parent": val})
    assert e["code"] == -32602, e
    assert len(conn.call("list")) == 1
    conn.call("kill", {"job": 1})


@pytest.mark.parametrize("extra", [{"bogus": 1}, {"Argv": ["true"]}, {"args": []},
                                   {"timeout": 1}, {"pid": 5}],
                         ids=lambda v: json.dumps(v))
def test_unknown_field_is_invalid(conn, extra):
    p = {"argv": ["true"]}
    p.update(extra)
    e = lc_err(conn, "start", p)
    assert e["code"] == -32602, e
    assert_no_jobs(conn)


def test_null_optional_params_mean_absent(conn):
    j = conn.call("start", {"argv": ["sleep", "30"], "name": None, "env": None,
                            "cwd": None, "daemon": None, "parent": None,
                            "stop_timeout": None})
    assert j["name"] == "job-%d" % j["id"]
    assert j["cwd"] == "/"
    assert j["daemon"] is False
    assert j["parent"] is None
    conn.call("kill", {"job": j["id"]})


def test_array_params_are_invalid(conn):
    r = conn.call_raw("start", [["sleep", "30"]])
    assert r["error"]["code"] == -32602, r
    assert_no_jobs(conn)


# --- exec failures: synchronous -32005, no job ---

def _exec_case(kind, tmp_path):
    if kind == "missing-path":
        return {"argv": [str(tmp_path / "no-such-program")]}, errno.ENOENT
    if kind == "missing-name":
        return {"argv": ["lc-no-such-command-4711"]}, errno.ENOENT
    if kind == "not-executable":
        p = lc_write_script(tmp_path / "plain.sh", "#!/bin/sh\nexit 0\n", 0o644)
        return {"argv": [p]}, errno.EACCES
    if kind == "directory":
        return {"argv": [str(tmp_path)]}, errno.EACCES
    if kind == "bad-format":
        p = str(tmp_path / "garbage")
        with open(p, "wb") as f:
            f.write(b"\x00\x01\x02\x03 this is not a program\n" * 8)
        os.chmod(p, 0o755)
        return {"argv": [p]}, errno.ENOEXEC
    if kind == "cwd-missing":
        return {"argv": ["true"], "cwd": str(tmp_path / "no-such-dir")}, errno.ENOENT
    if kind == "cwd-not-dir":
        p = lc_write_script(tmp_path / "afile", "x\n", 0o644)
        return {"argv": ["true"], "cwd": p}, errno.ENOTDIR
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", ["missing-path", "missing-name", "not-executable",
                                  "directory", "bad-format", "cwd-missing", "cwd-not-dir"])
def test_exec_failure_is_synchronous(conn, tmp_path, kind):
    params, err = _exec_case(kind, tmp_path)
    e = lc_err(conn, "start", params)
    assert e["code"] == -32005, e
    assert os.strerror(err).lower() in e["message"].lower(), e
    assert_no_jobs(conn)
    # The daemon is fine and the next start works.
    j = lc_start(conn, ["true"])
    assert lc_join(conn, j["id"])["exitcode"] == 0


def test_exec_failure_frees_the_name(conn):
    e = lc_err(conn, "start", {"argv": ["/nonexistent/prog"], "name": "n1"})
    assert e["code"] == -32005
    j = lc_start(conn, ["true"], name="n1")
    assert lc_join(conn, "n1")["exitcode"] == 0
    assert j["name"] == "n1"


# --- PATH search in the job's environment ---

def _tool_dir(tmp_path):
    d = tmp_path / "bin"
    d.mkdir()
    lc_write_script(d / "lc-tool", '#!/bin/sh\n: > "$1"\nexit 0\n')
    return str(d)


def test_path_search_uses_the_jobs_env_path(conn, tmp_path):
    d = _tool_dir(tmp_path)
    mark = tmp_path / "mark"
    # Not in procd's PATH: not found.
    e = lc_err(conn, "start", {"argv": ["lc-tool", str(mark)]})
    assert e["code"] == -32005, e
    assert_no_jobs(conn)
    # In the job's PATH: found and run.
    j = lc_start(conn, ["lc-tool", str(mark)], env={"PATH": "/nonexistent:" + d})
    assert lc_join(conn, j["id"])["exitcode"] == 0
    assert mark.exists()
    assert j["argv"] == ["lc-tool", str(mark)]


def test_path_search_ignores_procds_path_when_job_sets_one(procd_factory, tmp_path):
    d = _tool_dir(tmp_path)
    p = procd_factory(env={"PATH": d + ":" + os.environ.get("PATH", "/usr/bin:/bin")})
    c = p.connect()
    mark = tmp_path / "mark"
    j = lc_start(c, ["lc-tool", str(mark)])
    assert lc_join(c, j["id"])["exitcode"] == 0
    assert mark.exists()
    e = lc_err(c, "start", {"argv": ["lc-tool", str(mark)], "env": {"PATH": "/usr/bin:/bin"}})
    assert e["code"] == -32005, e
    assert os.strerror(errno.ENOENT).lower() in e["message"].lower(), e


def test_path_default_when_job_env_has_none(procd_factory, tmp_path):
    # procd's own PATH holds only lc-tool; sleep is not in it.
    d = _tool_dir(tmp_path)
    p = procd_factory(env={"PATH": d})
    c = p.connect()
    e = lc_err(c, "start", {"argv": ["sleep", "0"]})
    assert e["code"] == -32005, e
    # Without PATH the default /usr/local/bin:/usr/bin:/bin is searched.
    j = lc_start(c, ["sleep", "0"], env={"PATH": None})
    assert lc_join(c, j["id"])["exitcode"] == 0
    e = lc_err(c, "start", {"argv": ["lc-tool", "x"], "env": {"PATH": None}})
    assert e["code"] == -32005, e


def test_argv0_with_slash_is_not_searched(conn, tmp_path):
    d = _tool_dir(tmp_path)
    mark = tmp_path / "mark"
    # Relative to the job's cwd.
    j = lc_start(conn, ["./lc-tool", str(mark)], cwd=d)
    assert lc_join(conn, j["id"])["exitcode"] == 0
    assert mark.exists()
    # A name with a slash is not looked up in PATH.
    e = lc_err(conn, "start", {"argv": ["bin/lc-tool", "x"], "cwd": "/",
                               "env": {"PATH": str(tmp_path)}})
    assert e["code"] == -32005, e
