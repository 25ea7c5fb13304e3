# SPDX-License-Identifier: ISC
# procctl(1) against a real procd: every subcommand,
# --json output, the human list table, exit codes, option parsing.
import json
import os
import subprocess
import time

import pytest

import conftest
from conftest import (LC_PY, lc_join, lc_start, lc_status, pid_alive,
                      wait_until)
from test_methods import read_signals, sigrec_argv

COMMANDS = ["start", "join", "terminate", "kill", "signal", "close", "status",
            "list", "info", "call"]
HEADER = ["ID", "NAME", "USER", "PID", "STATE", "READY", "EXIT", "RESTARTS", "PARENT",
          "DAEMON", "AGE", "COMMAND"]
CLOSE_RUNNING = "job is still running; join or terminate it first"

ENVDUMP = r"""
import json, os, sys
t = sys.argv[1]
with open(t + ".tmp", "w") as f:
    json.dump({"env": dict(os.environ), "cwd": os.getcwd()}, f)
os.rename(t + ".tmp", t)
"""


def show(r):
    return "rc=%s\nstdout=%r\nstderr=%r" % (r.returncode, r.stdout, r.stderr)


def ok(d, *args, **kw):
    r = d.ctl(*args, **kw)
    assert r.returncode == 0, show(r)
    return r


def js(d, *args, **kw):
    """--json output: every line one JSON value."""
    r = d.ctl("--json", *args, **kw)
    vals = []
    for line in r.stdout.splitlines():
        try:
            vals.append(json.loads(line))
        except ValueError:
            raise AssertionError("not one JSON value per line: %r\n%s" % (line, show(r)))
    return r, vals


def js1(d, *args, rc=0, **kw):
    r, vals = js(d, *args, **kw)
    assert r.returncode == rc, show(r)
    assert len(vals) == 1, show(r)
    return vals[0]


def run_ctl(args, env=None, cwd=None):
    e = dict(os.environ)
    e.pop("PROCD_SOCKET", None)
    if env:
        e.update(env)
    return subprocess.run([conftest.PROCCTL] + [str(a) for a in args], capture_output=True,
                          text=True, timeout=30, env=e, cwd=cwd)


def jobs(conn):
    return conn.call("list")


# --- help and usage ---

def test_help(procd):
    r = ok(procd, "--help")
    assert "start" in r.stdout and "join" in r.stdout, show(r)
    r = run_ctl(["--help"])  # no daemon needed
    assert r.returncode == 0 and r.stdout, show(r)


@pytest.mark.parametrize("cmd", COMMANDS)
def test_command_help(procd, conn, cmd):
    r = ok(procd, cmd, "--help")
    assert r.stdout.strip(), show(r)
    assert cmd in r.stdout, show(r)
    assert jobs(conn) == []


@pytest.mark.parametrize("args", [
    [],
    ["frobnicate"],
    ["--bogus", "info"],
    ["info", "--bogus"],
    ["list", "--bogus"],
    ["join"],
    ["join", "--timeout"],
    ["join", "1", "--timeout"],
    ["status"],
    ["close"],
    ["terminate"],
    ["terminate", "1", "--bogus"],
    ["kill"],
    ["signal"],
    ["signal", "1"],
    ["start"],
    ["start", "--"],
    ["start", "--name"],
    ["start", "--bogus", "sleep", "1"],
    ["start", "--env"],
    ["start", "--daemon", "--wait"],
    ["list", "--state"],
    ["list", "--parent"],
    ["call"],
], ids=lambda a: " ".join(a) or "(none)")
def test_usage_errors_exit_2(procd, conn, args):
    r = procd.ctl(*args)
    assert r.returncode == 2, show(r)
    assert r.stderr.strip(), show(r)
    assert jobs(conn) == []


# --- reaching procd ---

def test_unreachable_names_socket(tmp_path):
    path = str(tmp_path / "nowhere" / "procd.sock")
    for args in (["info"], ["list"], ["status", "1"], ["start", "--", "sleep", "1"]):
        r = run_ctl(["--socket", path] + args)
        assert r.returncode == 1, show(r)
        assert path in r.stderr, show(r)
    r = run_ctl(["info"], env={"PROCD_SOCKET": path})
    assert r.returncode == 1 and path in r.stderr, show(r)


def test_socket_resolution(procd, tmp_path):
    bogus = str(tmp_path / "bogus.sock")
    r = run_ctl(["--json", "info"], env={"PROCD_SOCKET": procd.sock})
    assert r.returncode == 0, show(r)
    assert json.loads(r.stdout)["pid"] == procd.pid
    # --socket comes first.
    r = run_ctl(["--socket", procd.sock, "--json", "info"], env={"PROCD_SOCKET": bogus})
    assert r.returncode == 0, show(r)
    r = run_ctl(["--socket", bogus, "info"], env={"PROCD_SOCKET": procd.sock})
    assert r.returncode == 1 and bogus in r.stderr, show(r)


def test_default_socket_path(tmp_path):
    xdg = str(tmp_path / "xdg")
    if os.getuid() == 0:
        want = "/run/procd/procd.sock"
        if os.path.exists(want):
            pytest.skip("a system procd socket exists")
    else:
        want = xdg + "/procd/procd.sock"
    r = run_ctl(["info"], env={"XDG_RUNTIME_DIR": xdg})
    assert r.returncode == 1, show(r)
    assert want in r.stderr, show(r)


# --- start ---

def test_start_json_and_cwd(procd, conn, tmp_path):
    wd = tmp_path / "here"
    wd.mkdir()
    j = js1(procd, "start", "--name", "web", "--", "sleep", "30", cwd=str(wd))
    assert j["name"] == "web"
    assert j["argv"] == ["sleep", "30"]
    assert j["state"] == "running" and j["daemon"] is False and j["parent"] is None
    assert j["cwd"] == os.path.realpath(str(wd))
    assert os.readlink("/proc/%d/cwd" % j["pid"]) == os.path.realpath(str(wd))
    assert lc_status(conn, "web")["pid"] == j["pid"]
    j2 = js1(procd, "start", "--cwd", "/tmp", "sleep", "30", cwd=str(wd))
    assert j2["cwd"] == "/tmp"
    assert j2["argv"] == ["sleep", "30"]
    conn.call("kill", {"job": j["id"]})
    conn.call("kill", {"job": j2["id"]})


def test_start_human(procd, conn):
    r = ok(procd, "start", "sleep", "30")
    assert r.stdout.strip(), show(r)
    lst = jobs(conn)
    assert len(lst) == 1 and lst[0]["argv"] == ["sleep", "30"]
    conn.call("kill", {"job": lst[0]["id"]})


def test_start_everything_from_cmd_on_is_the_command(procd, conn):
    j = js1(procd, "start", "echo", "--name", "x", "--", "y", "--help")
    assert j["argv"] == ["echo", "--name", "x", "--", "y", "--help"]
    assert j["name"] == "job-%d" % j["id"]
    j = js1(procd, "start", "--name", "s", "sleep", "--help")
    assert j["argv"] == ["sleep", "--help"] and j["name"] == "s"
    lc_join(conn, "s")


def test_double_dash_ends_options(procd, conn):
    r = procd.ctl("start", "--", "--help")
    assert r.returncode == 1, show(r)
    assert "no such file" in r.stderr.lower(), show(r)
    assert jobs(conn) == []
    lc_start(conn, ["sleep", "30"], name="-x")
    j = js1(procd, "status", "--", "-x")
    assert j["name"] == "-x"
    ok(procd, "kill", "--", "-x")
    assert lc_join(conn, "-x")["exitcode"] == -9


def test_start_options(procd, conn, tmp_path):
    p = js1(procd, "start", "--name", "par", "sleep", "30")
    c = js1(procd, "start", "--daemon", "--parent", str(p["id"]), "--stop-timeout", "0.5",
            "--", "sleep", "30")
    assert c["daemon"] is True and c["parent"] == p["id"]
    c2 = js1(procd, "start", "--parent", "par", "sleep", "30")
    assert c2["parent"] == p["id"] and c2["daemon"] is False
    # --stop-timeout reaches procd: a TERM-ignoring worker is killed soon.
    ready = tmp_path / "ready"
    t = js1(procd, "start", "--stop-timeout", "0.5", "--",
            *conftest.lc_term_ignoring_argv(ready))
    wait_until(ready.exists, 10)
    t0 = time.monotonic()
    ok(procd, "terminate", t["id"])
    assert lc_join(conn, t["id"], rpc_timeout=20)["exitcode"] == -9
    assert time.monotonic() - t0 < 8
    conn.call("kill", {"job": "par", "recursive": True})
    lc_join(conn, "par")


def test_start_env_and_unset(procd_factory, tmp_path):
    d = procd_factory(env={"LC_CTL_DEL": "x", "LC_CTL_OVER": "procd", "LC_CTL_KEEP": "k"})
    c = d.connect()
    out = tmp_path / "env.json"
    j = js1(d, "start", "--env", "A=1", "--env", "B=x=y", "--env", "C=",
            "--env", "LC_CTL_OVER=job", "--unset", "LC_CTL_DEL", "--",
            LC_PY, "-c", ENVDUMP, str(out))
    assert lc_join(c, j["id"])["exitcode"] == 0
    env = json.loads(out.read_text())["env"]
    assert env.get("A") == "1"
    assert env.get("B") == "x=y"
    assert env.get("C") == ""
    assert env.get("LC_CTL_OVER") == "job"
    assert env.get("LC_CTL_KEEP") == "k"
    assert "LC_CTL_DEL" not in env


def test_start_errors(procd, conn):
    r = procd.ctl("start", "--", "/nonexistent/prog")
    assert r.returncode == 1, show(r)
    assert "no such file or directory" in r.stderr.lower(), show(r)
    assert jobs(conn) == []
    ok(procd, "start", "--name", "dup", "sleep", "30")
    r = procd.ctl("start", "--name", "dup", "sleep", "30")
    assert r.returncode == 1 and r.stderr.strip(), show(r)
    assert len(jobs(conn)) == 1
    conn.call("kill", {"job": "dup"})


def test_start_wait(procd, conn):
    r = procd.ctl("start", "--wait", "--", "sh", "-c", "exit 5")
    assert r.returncode == 5, show(r)
    r = procd.ctl("start", "--wait", "sh", "-c", "exit 0")
    assert r.returncode == 0, show(r)
    r = procd.ctl("start", "--wait", "--", "sh", "-c", "kill -9 $$")
    assert r.returncode == 137, show(r)
    r = procd.ctl("--json", "start", "--wait", "--", "sh", "-c", "kill -TERM $$")
    assert r.returncode == 143, show(r)
    assert [x["exitcode"] for x in jobs(conn)] == [5, 0, -9, -15]


# --- join ---

def test_join_exit_codes(procd, conn):
    a = lc_start(conn, ["sh", "-c", "exit 3"], name="three")
    b = lc_start(conn, ["sh", "-c", "kill -9 $$"])
    c = lc_start(conn, ["sleep", "30"])
    d = lc_start(conn, ["true"])
    assert procd.ctl("join", a["id"]).returncode == 3
    assert procd.ctl("join", "three").returncode == 3
    j = js1(procd, "join", a["id"], rc=3)
    assert j["exitcode"] == 3 and j["state"] == "exited"
    assert procd.ctl("join", b["id"]).returncode == 137
    assert procd.ctl("join", d["id"]).returncode == 0
    t0 = time.monotonic()
    r = procd.ctl("join", c["id"], "--timeout", "0.3")
    assert r.returncode == 124, show(r)
    assert time.monotonic() - t0 >= 0.25
    assert procd.ctl("join", "--timeout", "0", c["id"]).returncode == 124
    j = js1(procd, "join", c["id"], "--timeout", "0", rc=124)
    assert j["timed_out"] is True and j["state"] == "running"
    conn.call("terminate", {"job": c["id"]})
    assert procd.ctl("join", c["id"]).returncode == 143
    r = procd.ctl("join", "999")
    assert r.returncode == 1 and r.stderr.strip(), show(r)


def test_join_waits(procd, conn):
    j = lc_start(conn, ["sleep", "30"])
    p = subprocess.Popen([conftest.PROCCTL, "--socket", procd.sock, "join", str(j["id"])],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=procd.env)
    time.sleep(0.5)
    assert p.poll() is None
    conn.call("kill", {"job": j["id"]})
    assert p.wait(15) == 137


# --- terminate, kill, signal, close, status ---

def test_terminate_and_kill(procd, conn):
    a = lc_start(conn, ["sleep", "30"])
    b = lc_start(conn, ["sleep", "30"])
    ok(procd, "terminate", a["id"])
    assert lc_join(conn, a["id"])["exitcode"] == -15
    j = js1(procd, "kill", b["id"])
    assert j["id"] == b["id"]
    assert lc_join(conn, b["id"])["exitcode"] == -9
    # on exited jobs: no error
    ok(procd, "terminate", a["id"])
    ok(procd, "kill", b["id"])
    r = procd.ctl("terminate", "77")
    assert r.returncode == 1 and r.stderr.strip(), show(r)


@pytest.mark.parametrize("cmd,code", [("terminate", -15), ("kill", -9)])
def test_recursive(procd, conn, cmd, code):
    lc_start(conn, ["sleep", "30"], name="top")
    c = lc_start(conn, ["sleep", "30"], parent="top")
    g = lc_start(conn, ["sleep", "30"], parent=c["id"])
    ok(procd, cmd, "top", "--recursive")
    assert lc_join(conn, "top")["exitcode"] == code
    assert lc_status(conn, c["id"])["exitcode"] == code
    assert lc_status(conn, g["id"])["exitcode"] == code
    p2 = lc_start(conn, ["sleep", "30"])
    c2 = lc_start(conn, ["sleep", "30"], parent=p2["id"])
    ok(procd, cmd, "--recursive", p2["id"])
    assert lc_join(conn, p2["id"])["exitcode"] == code
    assert lc_status(conn, c2["id"])["exitcode"] == code


def test_signal(procd, conn, tmp_path):
    out, cout = tmp_path / "s.out", tmp_path / "c.out"
    j = lc_start(conn, sigrec_argv(out, cout))
    wait_until(lambda: os.path.exists(str(out) + ".ready"), 15)
    wait_until(lambda: os.path.exists(str(cout) + ".ready"), 15)
    ok(procd, "signal", j["id"], "USR1")
    wait_until(lambda: read_signals(out) == [10], 10)
    ok(procd, "signal", j["id"], "sighup")
    wait_until(lambda: read_signals(out) == [10, 1], 10)
    ok(procd, "signal", j["id"], "12")
    wait_until(lambda: read_signals(out) == [10, 1, 12], 10)
    time.sleep(0.2)
    assert read_signals(cout) == []
    ok(procd, "signal", j["id"], "SIGUSR2", "--group")
    wait_until(lambda: read_signals(out) == [10, 1, 12, 12], 10)
    wait_until(lambda: read_signals(cout) == [12], 10)
    ok(procd, "signal", "--group", j["id"], "USR1")
    wait_until(lambda: read_signals(cout) == [12, 10], 10)
    r = procd.ctl("signal", j["id"], "NOSUCHSIG")
    assert r.returncode in (1, 2) and r.stderr.strip(), show(r)
    assert lc_status(conn, j["id"])["state"] == "running"
    conn.call("terminate", {"job": j["id"]})
    lc_join(conn, j["id"])


def test_close_and_status(procd, conn):
    j = lc_start(conn, ["sleep", "30"], name="cl")
    r = procd.ctl("close", "cl")
    assert r.returncode == 1, show(r)
    assert CLOSE_RUNNING in r.stderr, show(r)
    s = js1(procd, "status", "cl")
    assert s["id"] == j["id"] and s["state"] == "running"
    r = ok(procd, "status", j["id"])
    assert "cl" in r.stdout, show(r)
    conn.call("kill", {"job": j["id"]})
    lc_join(conn, j["id"])
    c = js1(procd, "close", j["id"])
    assert c["id"] == j["id"] and c["state"] == "exited"
    r = procd.ctl("status", j["id"])
    assert r.returncode == 1 and r.stderr.strip() and not r.stdout.strip(), show(r)
    r = procd.ctl("--json", "status", "cl")
    assert r.returncode == 1, show(r)
    k = lc_start(conn, ["true"])
    lc_join(conn, k["id"])
    ok(procd, "close", k["id"])
    assert jobs(conn) == []


def test_all_digit_job_is_an_id(procd, conn):
    lc_start(conn, ["sleep", "30"], name="a1")
    b = lc_start(conn, ["sleep", "30"], name="b2")
    assert js1(procd, "status", str(b["id"]))["name"] == "b2"
    assert js1(procd, "status", "a1")["id"] == 1
    ok(procd, "kill", str(b["id"]))
    assert lc_join(conn, "b2")["exitcode"] == -9
    assert lc_status(conn, "a1")["state"] == "running"
    conn.call("kill", {"job": "a1"})


# --- list ---

def test_list_human_table(procd, conn):
    a = lc_start(conn, ["sleep", "30"], name="alpha")
    b = lc_start(conn, ["sh", "-c", "exit 3"], name="beta")
    lc_join(conn, "beta")
    c = lc_start(conn, ["sleep", "31"], name="gamma", parent="alpha", daemon=True)
    r = ok(procd, "list")
    lines = [x for x in r.stdout.splitlines() if x.strip()]
    assert lines[0].split() == HEADER, show(r)
    rows = lines[1:]
    assert len(rows) == 3, show(r)
    for row, j in zip(rows, (a, b, c)):
        f = row.split()
        assert f[0] == str(j["id"]), row
        assert j["name"] in f and str(j["pid"]) in f, row
    assert "running" in rows[0].split() and "sleep" in rows[0]
    assert "exited" in rows[1].split() and "3" in rows[1].split()
    f = rows[2].split()
    assert str(a["id"]) in f[1:] or "alpha" in f, rows[2]
    conn.call("kill", {"job": "alpha", "recursive": True})


def test_list_json(procd, conn):
    r, vals = js(procd, "list")
    assert r.returncode == 0 and vals == [], show(r)
    p = lc_start(conn, ["sleep", "30"], name="zz")
    a = lc_start(conn, ["sleep", "30"], name="aa", parent="zz")
    e = lc_start(conn, ["true"], name="ee", parent="zz")
    lc_join(conn, "ee")
    r, vals = js(procd, "list")
    assert r.returncode == 0, show(r)
    assert [v["id"] for v in vals] == [p["id"], a["id"], e["id"]]
    assert all(isinstance(v, dict) and "state" in v for v in vals)
    r, vals = js(procd, "list", "--state", "running")
    assert [v["id"] for v in vals] == [p["id"], a["id"]], show(r)
    r, vals = js(procd, "list", "--state", "exited")
    assert [v["id"] for v in vals] == [e["id"]], show(r)
    r, vals = js(procd, "list", "--state", "exited", "--state", "running")
    assert [v["id"] for v in vals] == [p["id"], a["id"], e["id"]], show(r)
    r, vals = js(procd, "list", "--parent", "zz")
    assert [v["id"] for v in vals] == [a["id"], e["id"]], show(r)
    r, vals = js(procd, "list", "--parent", str(p["id"]), "--state", "exited")
    assert [v["id"] for v in vals] == [e["id"]], show(r)
    r, vals = js(procd, "list", "--state", "waiting")
    assert r.returncode == 0 and vals == [], show(r)
    r = procd.ctl("list", "--state", "bogus")
    assert r.returncode in (1, 2) and r.stderr.strip(), show(r)
    r = procd.ctl("list", "--parent", "nobody")
    assert r.returncode == 1 and r.stderr.strip(), show(r)
    conn.call("kill", {"job": "zz", "recursive": True})


# --- info and call ---

def test_info(procd):
    i = js1(procd, "info")
    assert i["pid"] == procd.pid
    assert i["socket"] == procd.sock
    assert isinstance(i["version"], str) and i["version"]
    assert set(i["jobs"]) == {"running", "stopping", "restarting", "waiting",
                              "exited"}
    r = ok(procd, "info")
    assert str(procd.pid) in r.stdout, show(r)


def test_call(procd, conn):
    i = js1(procd, "call", "info")
    assert i["pid"] == procd.pid
    j = js1(procd, "call", "start", '{"argv": ["sleep", "30"], "name": "viacall"}')
    assert j["name"] == "viacall" and j["state"] == "running"
    s = js1(procd, "call", "status", json.dumps({"job": j["id"]}))
    assert s["pid"] == j["pid"]
    r = ok(procd, "call", "status", '{"job": "viacall"}')
    assert r.stdout.strip()
    r = procd.ctl("call", "frobnicate")
    assert r.returncode == 1 and r.stderr.strip(), show(r)
    r = procd.ctl("call", "status", '{"job": 999}')
    assert r.returncode == 1 and r.stderr.strip(), show(r)
    r = procd.ctl("call", "close", '{"job": "viacall"}')
    assert r.returncode == 1 and CLOSE_RUNNING in r.stderr, show(r)
    ok(procd, "call", "kill", '{"job": "viacall"}')
    assert lc_join(conn, "viacall")["exitcode"] == -9
    assert not pid_alive(j["pid"])

