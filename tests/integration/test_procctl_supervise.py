# SPDX-License-Identifier: ISC
# procctl(1) and supervision (procd-protocol(7) sections 10-12, 14, 15):
# the start and run options --restart, --restart-delay,
# --restart-max-delay, --restart-limit, --notify, --wait-ready,
# --ready-timeout and --kill-mode reach procd; their usage errors; the
# READY and RESTARTS columns of list, the new fields of status, the state
# restarting, and start --wait-ready's late answer and its -32005.
import datetime
import json
import os
import signal
import subprocess
import time

import pytest

import conftest
from conftest import (lc_join, lc_notify_argv, lc_start, lc_status,
                      lc_wait_state, pid_alive, wait_until)
from test_procctl import ok, show

# The fields sections 10-12 add to the job object, in procd's order.
NEW_FIELDS = ["restart", "restarts", "restart_at", "error", "ready", "status_text",
              "kill_mode"]
QUIET = ("ready", "status_text", "error", "restart_at")


def js1(d, *args, rc=0, **kw):
    """The one JSON value procctl --json prints."""
    r = d.ctl("--json", *args, **kw)
    assert r.returncode == rc, show(r)
    lines = r.stdout.splitlines()
    assert len(lines) == 1, show(r)
    return json.loads(lines[0])


nw = lc_notify_argv



def when(s):
    """An RFC 3339 time of procd's as seconds since the epoch."""
    t = datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ")
    return t.replace(tzinfo=datetime.timezone.utc).timestamp()


def fields(text):
    """status's "key: value" lines as a dict (values stripped)."""
    out = {}
    for line in text.splitlines():
        k, sep, v = line.partition(":")
        assert sep and k and " " not in k, "not a key: value line: %r" % line
        out[k] = v.strip()
    return out


def cell(header, row, name, right):
    """The cell of column name in a list row: columns are as wide as their
    widest cell, numbers aligned right (the cell ends where its header
    does), text left (it starts where its header does)."""
    start = header.index(" %s " % name) + 1 if not header.startswith(name + " ") else 0
    if right:
        end = start + len(name)
        return "" if row[end - 1] == " " else row[:end].split()[-1]
    return "" if row[start] == " " else row[start:].split()[0]


def table(d, *args):
    """list's header line and its rows by job name."""
    r = ok(d, "list", *args)
    lines = r.stdout.splitlines()
    return lines[0], {ln.split()[1]: ln for ln in lines[1:]}


def stop(conn, job):
    try:
        conn.call("kill", {"job": job, "recursive": True})
    except conftest.RpcError:
        pass


# --- the options reach procd ---

def test_defaults_without_the_options(procd, conn):
    j = js1(procd, "start", "--name", "plain", "--", "sleep", "30")
    for k in NEW_FIELDS:
        assert k in j, (k, j)
    assert (j["restart"], j["restarts"], j["restart_at"], j["error"], j["ready"],
            j["status_text"], j["kill_mode"]) == ("no", 0, None, None, None, None, "group"), j
    # The new fields come right after usage, in the order of the brief.
    keys = list(j)
    assert keys[keys.index("usage") + 1:keys.index("usage") + 1 + len(NEW_FIELDS)] == \
        NEW_FIELDS, keys
    stop(conn, "plain")


def test_options_reach_procd(procd, conn):
    j = js1(procd, "start", "--name", "sup", "--restart", "on-failure", "--restart-delay", "0.5",
            "--restart-max-delay", "7", "--restart-limit", "4", "--kill-mode", "group",
            "--notify", "--", "sleep", "30")
    assert (j["restart"], j["restarts"], j["kill_mode"], j["ready"]) == \
        ("on-failure", 0, "group", False), j
    s = lc_status(conn, "sup")
    assert {k: s[k] for k in NEW_FIELDS} == {k: j[k] for k in NEW_FIELDS}
    j = js1(procd, "start", "--restart=always", "--", "sleep", "30")
    assert j["restart"] == "always" and j["ready"] is None, j
    # run passes the job's bytes through, so status tells what it sent.
    ok(procd, "run", "--name", "r0", "--restart", "no", "--kill-mode", "group", "--", "true")
    s = lc_status(conn, "r0")
    assert (s["restart"], s["kill_mode"], s["state"]) == ("no", "group", "exited"), s
    stop(conn, "sup")
    for x in conn.call("list"):
        stop(conn, x["id"])


def test_restart_delay_and_max_delay_reach_procd(procd, conn):
    # The first restart waits restart_delay; the next would wait twice as
    # long (the process ran less than 10 s) but restart_max_delay caps it.
    js1(procd, "start", "--name", "d", "--restart", "always", "--restart-delay", "1.5",
        "--restart-max-delay", "1.5", "--restart-limit", "2", "--", "sh", "-c", "exit 1")
    gaps = []
    for n in (0, 1):
        s = wait_until(lambda: (lambda x: x if x["state"] == "restarting" and
                                x["restarts"] == n else None)(lc_status(conn, "d")), 15)
        gaps.append(when(s["restart_at"]) - when(s["exited_at"]))
    for g in gaps:
        assert 1.2 <= g <= 2.5, gaps
    j = lc_join(conn, "d", rpc_timeout=30)
    assert (j["state"], j["restarts"], j["exitcode"], j["restart_at"]) == \
        ("exited", 2, 1, None), j


def test_restart_delay_doubles_without_max(procd, conn):
    js1(procd, "start", "--name", "d2", "--restart", "on-failure", "--restart-delay", "0.4",
        "--restart-limit", "2", "--", "sh", "-c", "exit 2")
    gaps = []
    for n in (0, 1):
        s = wait_until(lambda: (lambda x: x if x["state"] == "restarting" and
                                x["restarts"] == n else None)(lc_status(conn, "d2")), 15)
        gaps.append(when(s["restart_at"]) - when(s["exited_at"]))
    assert 0.2 <= gaps[0] <= 1.0 and 0.6 <= gaps[1] <= 1.6, gaps
    assert lc_join(conn, "d2", rpc_timeout=30)["restarts"] == 2


def test_run_restart_limit_shows_every_run(procd, conn):
    t0 = time.monotonic()
    r = procd.ctl("run", "--name", "rr", "--restart", "on-failure", "--restart-limit", "2",
                  "--", "sh", "-c", "echo x; exit 3")
    assert r.returncode == 3, show(r)
    assert r.stdout == "x\nx\nx\n", show(r)
    # Delays 1 s then 2 s (each run was short): join waited through both.
    assert time.monotonic() - t0 >= 2.5
    s = lc_status(conn, "rr")
    assert (s["state"], s["restarts"], s["exitcode"]) == ("exited", 2, 3), s


def test_start_wait_joins_through_restarts(procd, conn):
    r = procd.ctl("start", "--name", "sw", "--wait", "--restart", "always", "--restart-delay", "0",
                  "--restart-limit", "1", "--", "sh", "-c", "exit 4")
    assert r.returncode == 4, show(r)
    assert "exited with status 4" in r.stdout, show(r)
    assert lc_status(conn, "sw")["restarts"] == 1


# --- usage errors: procctl checks what it can, exit 2, nothing started ---

@pytest.mark.parametrize("args", [
    ["--restart", "bogus"],
    ["--restart", ""],
    ["--restart", "On-Failure"],
    ["--restart"],
    ["--restart-delay", "soon"],
    ["--restart-delay", "-1"],
    ["--restart-max-delay", "nan"],
    ["--restart-limit", "-1"],
    ["--restart-limit", "1.5"],
    ["--restart-limit", "x"],
    ["--kill-mode", "process"],
    ["--kill-mode", ""],
    ["--ready-timeout", "x", "--notify", "--wait-ready"],
    ["--notify=yes"],
    ["--wait-ready"],
    ["--notify", "--ready-timeout", "5"],
    ["--ready-timeout", "5"],
    ["--restart", "always", "--restart-delay", "5", "--restart-max-delay", "2"],
    ["--restart", "on-failure", "--restart-max-delay", "0.5"],
], ids=lambda a: " ".join(a))
@pytest.mark.parametrize("cmd", ["start", "run"])
def test_usage_errors_exit_2(procd, conn, cmd, args):
    r = procd.ctl(cmd, *args, "--", "true")
    assert r.returncode == 2, show(r)
    assert r.stderr.startswith("procctl: "), show(r)
    assert "usage: procctl %s" % cmd in r.stderr, show(r)
    assert conn.call("list") == []


def test_usage_error_messages(procd):
    r = procd.ctl("start", "--restart", "bogus", "--", "true")
    assert "--restart: not no, on-failure or always: bogus" in r.stderr, show(r)
    r = procd.ctl("start", "--kill-mode", "x", "--", "true")
    assert "--kill-mode: not group or tree: x" in r.stderr, show(r)
    r = procd.ctl("start", "--wait-ready", "--", "true")
    assert "--wait-ready needs --notify" in r.stderr, show(r)
    r = procd.ctl("start", "--notify", "--ready-timeout", "1", "--", "true")
    assert "--ready-timeout needs --wait-ready" in r.stderr, show(r)


def test_procd_rejects_what_call_sends(procd, conn):
    # procd's own checks, which procctl's mirror: an error reply, exit 1.
    for params, text in (({"restart": "bogus"}, "'restart' must be no, on-failure or always"),
                         ({"kill_mode": "bogus"}, "kill_mode"),
                         ({"wait_ready": True}, "wait_ready"),
                         ({"restart": "always", "restart_delay": 5,
                           "restart_max_delay": 2}, "restart_max_delay")):
        params["argv"] = ["true"]
        r = procd.ctl("call", "start", json.dumps(params))
        assert r.returncode == 1, show(r)
        assert text in r.stderr and "(-32602)" in r.stderr, show(r)
    assert conn.call("list") == []


def test_options_take_effect_only_with_a_policy(procd, conn):
    # Section 15: accepted without a policy, and without effect.
    j = js1(procd, "start", "--restart-delay", "0", "--restart-limit", "3", "--",
            "sh", "-c", "exit 1")
    j = lc_join(conn, j["id"])
    assert (j["restart"], j["restarts"], j["exitcode"]) == ("no", 0, 1), j


def test_help_lists_the_options(procd):
    for cmd in ("start", "run"):
        r = ok(procd, cmd, "--help")
        for opt in ("--restart POLICY", "--restart-delay S", "--restart-max-delay S",
                    "--restart-limit N", "--notify", "--wait-ready", "--ready-timeout S",
                    "--kill-mode MODE"):
            assert opt in r.stdout, (cmd, opt, r.stdout)
    r = ok(procd, "list", "--help")
    assert "restarting" in r.stdout, r.stdout


# --- list: READY and RESTARTS, --state restarting ---

def test_list_restarts_and_ready_columns(procd, conn, tmp_path):
    js1(procd, "start", "--name", "plain", "--", "sleep", "30")
    js1(procd, "start", "--name", "loop", "--restart", "always", "--restart-delay", "0",
        "--restart-limit", "2", "--", "sh", "-c", "exit 1")
    lc_join(conn, "loop")
    js1(procd, "start", "--name", "quiet", "--notify", "--", *nw())
    js1(procd, "start", "--name", "up", "--notify", "--wait-ready", "--", *nw("READY=1"))
    header, rows = table(procd)
    cols = header.split()
    assert cols == ["ID", "NAME", "USER", "PID", "STATE", "READY", "EXIT", "RESTARTS",
                    "PARENT", "DAEMON", "AGE", "COMMAND"], header
    want = {"plain": ("-", "0", "running", ""), "loop": ("-", "2", "exited", "1"),
            "quiet": ("no", "0", "running", ""), "up": ("yes", "0", "running", "")}
    for name, (ready, restarts, state, code) in want.items():
        row = rows[name]
        got = (cell(header, row, "READY", False), cell(header, row, "RESTARTS", True),
               cell(header, row, "STATE", False), cell(header, row, "EXIT", False))
        assert got == (ready, restarts, state, code), (name, header, row)
    # Columns line up: every row as long as the header up to COMMAND.
    at = header.index("COMMAND")
    for row in rows.values():
        assert row[at - 2:at] == "  " and row[at] != " ", (header, row)
    for name in ("plain", "quiet", "up"):
        stop(conn, name)


def test_list_state_restarting(procd, conn):
    js1(procd, "start", "--name", "later", "--restart", "on-failure", "--restart-delay", "60",
        "--", "sh", "-c", "exit 7")
    js1(procd, "start", "--name", "busy", "--", "sleep", "30")
    lc_wait_state(conn, "later", "restarting")
    r = procd.ctl("--json", "list", "--state", "restarting")
    assert r.returncode == 0, show(r)
    got = [json.loads(x) for x in r.stdout.splitlines()]
    assert [x["name"] for x in got] == ["later"], show(r)
    assert got[0]["exitcode"] == 7 and got[0]["restarts"] == 0, got
    header, rows = table(procd, "--state", "restarting")
    assert list(rows) == ["later"], rows
    assert cell(header, rows["later"], "STATE", False) == "restarting"
    assert cell(header, rows["later"], "EXIT", False) == "7"
    header, rows = table(procd, "--state", "restarting", "--state", "running")
    assert sorted(rows) == ["busy", "later"], rows
    i = js1(procd, "info")
    assert i["jobs"]["restarting"] == 1 and i["jobs"]["running"] == 1, i
    r = ok(procd, "info")
    assert "restarting 1" in r.stdout, show(r)
    # terminate cancels the restart: nothing sent, finished at once.
    r = ok(procd, "terminate", "later")
    assert "nothing sent, no restart follows" in r.stdout, show(r)
    j = lc_status(conn, "later")
    assert (j["state"], j["exitcode"], j["restart_at"]) == ("exited", 7, None), j
    r = procd.ctl("join", "later", "--timeout", "5")
    assert r.returncode == 7, show(r)
    stop(conn, "busy")


# --- status ---

def test_status_plain_job_leaves_out_null_fields(procd, conn):
    js1(procd, "start", "--name", "p", "--", "sleep", "30")
    f = fields(ok(procd, "status", "p").stdout)
    assert f["restart"] == "no" and f["restarts"] == "0" and f["kill_mode"] == "group", f
    for k in QUIET:
        assert k not in f, (k, f)
    stop(conn, "p")


def test_status_restarting(procd, conn):
    js1(procd, "start", "--name", "rs", "--restart", "always", "--restart-delay", "30",
        "--kill-mode", "group", "--", "sh", "-c", "exit 0")
    s = lc_wait_state(conn, "rs", "restarting")
    f = fields(ok(procd, "status", "rs").stdout)
    assert f["state"] == "restarting" and f["restart"] == "always", f
    assert f["restarts"] == "0" and f["exitcode"] == "0" and f["kill_mode"] == "group", f
    at = f["restart_at"]
    assert at.startswith(s["restart_at"] + " (in "), f
    secs = int(at.split("(in ")[1].rstrip("s)"))
    assert 20 <= secs <= 30, f
    # The human order: state first, the restart schedule with the policy.
    keys = list(f)
    assert keys.index("state") < keys.index("pid") < keys.index("restart") < \
        keys.index("restarts") < keys.index("restart_at") < keys.index("kill_mode"), keys
    ok(procd, "kill", "rs")


def test_status_notify_fields(procd, conn):
    js1(procd, "start", "--name", "n", "--notify", "--", *nw())
    f = fields(ok(procd, "status", "n").stdout)
    assert f["ready"] == "no" and "status_text" not in f, f
    stop(conn, "n")
    j = js1(procd, "start", "--name", "n2", "--notify", "--wait-ready", "--",
            *nw("STATUS=serving on :8080\\nREADY=1"))
    assert j["ready"] is True and j["status_text"] == "serving on :8080", j
    f = fields(ok(procd, "status", "n2").stdout)
    assert f["ready"] == "yes" and f["status_text"] == "serving on :8080", f
    keys = list(f)
    assert keys.index("state") < keys.index("ready") < keys.index("status_text") < \
        keys.index("pid"), keys
    stop(conn, "n2")


def test_status_error_after_exec_failure_at_restart(procd, conn, tmp_path):
    prog = conftest.lc_write_script(tmp_path / "gone.sh", "#!/bin/sh\nexit 1\n")
    js1(procd, "start", "--name", "e", "--restart", "always", "--restart-delay", "0.5",
        "--restart-limit", "1", "--", prog)
    lc_wait_state(conn, "e", "restarting")
    os.unlink(prog)
    j = lc_join(conn, "e", rpc_timeout=15)
    assert (j["exitcode"], j["restarts"]) == (127, 1), j
    assert isinstance(j["error"], str) and j["error"], j
    f = fields(ok(procd, "status", "e").stdout)
    assert f["error"] == j["error"] and f["exitcode"] == "127", f
    keys = list(f)
    assert keys.index("exitcode") + 1 == keys.index("error"), keys


def test_status_json_passes_the_object_through(procd, conn):
    js1(procd, "start", "--name", "pj", "--notify", "--restart", "on-failure", "--",
        "sleep", "30")
    raw = conn.call_raw("status", {"job": "pj"})
    r = procd.ctl("--json", "status", "pj")
    assert r.returncode == 0, show(r)
    mine = json.loads(r.stdout, object_pairs_hook=list)
    theirs = json.loads(json.dumps(raw["result"]), object_pairs_hook=list)
    assert mine == theirs, (mine, theirs)
    r, = [json.loads(x) for x in procd.ctl("--json", "list").stdout.splitlines()]
    assert r == raw["result"], r
    stop(conn, "pj")


# --- readiness: start --wait-ready, run --wait-ready ---

def test_start_wait_ready_returns_after_ready(procd, conn):
    t0 = time.monotonic()
    r = ok(procd, "start", "--name", "w", "--notify", "--wait-ready", "--",
           *nw("sleep:700", "READY=1"))
    took = time.monotonic() - t0
    assert took >= 0.6, took
    assert r.stdout.startswith("started job ") and r.stdout.rstrip().endswith(", ready"), show(r)
    s = lc_status(conn, "w")
    assert s["ready"] is True and s["state"] == "running", s
    stop(conn, "w")


def test_start_wait_ready_with_a_timeout_that_does_not_pass(procd, conn):
    j = js1(procd, "start", "--notify", "--wait-ready", "--ready-timeout", "20", "--",
            *nw("READY=1"))
    assert j["ready"] is True and j["state"] == "running", j
    stop(conn, j["id"])


def test_start_wait_ready_exit_first(procd, conn):
    r = procd.ctl("start", "--name", "early", "--notify", "--wait-ready", "--", *nw("exit:4"))
    assert r.returncode == 1, show(r)
    assert r.stdout == "", show(r)
    j = lc_status(conn, "early")
    want = "procctl: job %d (early): exited before it was ready (-32005)\n" % j["id"]
    assert r.stderr == want, show(r)
    # The job stays, to be closed.
    assert (j["state"], j["exitcode"], j["ready"]) == ("exited", 4, False), j
    ok(procd, "close", "early")


def test_start_wait_ready_not_ready_in_time(procd, conn):
    t0 = time.monotonic()
    r = procd.ctl("--json", "start", "--name", "slow", "--notify", "--wait-ready",
                  "--ready-timeout", "0.5", "--", *nw())
    assert r.returncode == 1, show(r)
    assert time.monotonic() - t0 >= 0.4
    assert "not ready in time (-32005)" in r.stderr and "(slow)" in r.stderr, show(r)
    assert r.stdout == "", show(r)
    j = lc_join(conn, "slow")
    assert j["exitcode"] == -signal.SIGTERM, j


def test_run_wait_ready(procd, conn):
    r = procd.ctl("run", "--name", "rw", "--notify", "--wait-ready", "--",
                  *nw("READY=1", "exit:0"))
    assert r.returncode == 0, show(r)
    assert r.stdout == "sent READY=1\n", show(r)
    assert lc_status(conn, "rw")["ready"] is True


def test_run_wait_ready_exit_first_shows_output(procd, conn):
    r = procd.ctl("run", "--name", "rx", "--notify", "--wait-ready", "--",
                  "sh", "-c", "echo out; echo err >&2; exit 5")
    assert r.returncode == 1, show(r)
    assert r.stdout == "out\n", show(r)
    assert "err\n" in r.stderr and "exited before it was ready (-32005)" in r.stderr, show(r)


def test_run_interrupt_while_waiting_for_ready(procd, conn):
    p = subprocess.Popen([conftest.PROCCTL, "--socket", procd.sock, "run", "--name", "ri",
                          "--notify", "--wait-ready", "--", *nw()],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=procd.env,
                         cwd=procd.dir, text=True)
    try:
        wait_until(lambda: [x for x in conn.call("list") if x["name"] == "ri"], 10)
        time.sleep(0.2)
        assert p.poll() is None
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=15)
    finally:
        if p.poll() is None:
            p.kill()
            p.communicate()
    j = lc_status(conn, "ri")
    assert (j["state"], j["exitcode"]) == ("exited", -signal.SIGTERM), (j, out, err)
    # As any interrupted run: the job's status, and no error of start's.
    assert p.returncode == 128 + signal.SIGTERM, (p.returncode, out, err)
    assert "ready" not in err, err


def test_notify_without_wait_answers_at_once(procd, conn):
    t0 = time.monotonic()
    j = js1(procd, "start", "--notify", "--", *nw("sleep:3000", "READY=1"))
    assert time.monotonic() - t0 < 2.5
    assert j["ready"] is False, j
    stop(conn, j["id"])


# --- kill mode tree ---

def test_kill_mode_tree(procd, conn, tmp_path):
    info = js1(procd, "info")
    if info.get("cgroups") is not True:
        pytest.skip("procd says cgroups are not available here (info.cgroups %r)"
                    % info.get("cgroups"))
    pidfile = tmp_path / "escaped.pid"
    j = js1(procd, "start", "--name", "t", "--kill-mode", "tree", "--",
            "sh", "-c", 'setsid sleep 300 & echo $! > "$1"; exec sleep 300', "sh", str(pidfile))
    assert j["kill_mode"] == "tree", j
    wait_until(lambda: pidfile.exists() and pidfile.read_text().strip(), 10)
    escaped = int(pidfile.read_text())
    assert pid_alive(escaped)
    f = fields(ok(procd, "status", "t").stdout)
    assert f["kill_mode"] == "tree", f
    ok(procd, "terminate", "t")
    j = lc_join(conn, "t", rpc_timeout=20)
    assert j["exitcode"] == -signal.SIGTERM, j
    wait_until(lambda: not pid_alive(escaped), 10)


def test_kill_mode_tree_refused_without_cgroups(procd, conn):
    info = js1(procd, "info")
    if info.get("cgroups") is not False:
        pytest.skip("cgroups are available here (info.cgroups %r)" % info.get("cgroups"))
    r = procd.ctl("start", "--kill-mode", "tree", "--", "true")
    assert r.returncode == 1, show(r)
    assert "kill_mode" in r.stderr and "(-32602)" in r.stderr, show(r)


# --- events ---

def test_events_show_restarting_and_ready(procd, conn):
    p = subprocess.Popen([conftest.PROCCTL, "--socket", procd.sock, "events"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=procd.env,
                         text=True)
    try:
        time.sleep(0.5)
        ok(procd, "start", "--name", "ev", "--notify", "--wait-ready", "--restart", "always",
           "--restart-delay", "0", "--restart-limit", "1", "--",
           *nw("READY=1", "sleep:300", "exit:1"))
        lc_join(conn, "ev", rpc_timeout=15)
        time.sleep(0.3)
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=10)
    finally:
        if p.poll() is None:
            p.kill()
            p.communicate()
    events = [ln.split()[2] for ln in out.splitlines() if " ev " in ln]
    assert events == ["started", "ready", "restarting", "started", "ready", "exited"], out
