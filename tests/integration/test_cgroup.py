# SPDX-License-Identifier: ISC
# The whole tree: cgroups (procd-protocol(7) section 12, its clarifications
# in section 15, and section 13's clause on the cgroups a dead procd left):
# kill_mode and info.cgroups; a tree job's worker in a cgroup of its own
# from birth; setsid double-forked grandchildren stopped with the tree by
# terminate, kill, teardown, procd's own stop and the main process's exit
# (the job finished only once its cgroup is empty); usage counting the
# whole tree; the cgroup removed when the job is finished and reused across
# restarts; a SIGKILLed procd's leftovers stopped by the next one.
# Every test that needs cgroups skips with the reason where info.cgroups
# is false.
import os
import re
import signal
import time

import pytest

from conftest import (LC_PY, LcProcs, PROCD, Conn, lc_err, lc_join, lc_proc_stat, lc_start,
                      lc_status, lc_wait_job, lc_write_script, pid_alive,
                      proc_start_time, wait_for_socket, wait_until)

INVALID_PARAMS = -32602


# --- where cgroups are ---

def cgroup2_mount():
    """The cgroup v2 mount point (unified or hybrid), from mountinfo."""
    with open("/proc/self/mountinfo") as f:
        for line in f:
            parts = line.split()
            sep = parts.index("-")
            if parts[sep + 1] == "cgroup2":
                return parts[4].replace("\\040", " ")
    return None


def proc_cgroup(pid):
    """The 0:: line of /proc/PID/cgroup (the cgroup v2 path), or None."""
    try:
        with open("/proc/%d/cgroup" % pid) as f:
            for line in f:
                if line.startswith("0::"):
                    return line[3:].rstrip("\n")
    except (FileNotFoundError, ProcessLookupError):
        return None
    return None


def cgroup_dir(path):
    mount = cgroup2_mount()
    assert mount, "no cgroup2 mount in /proc/self/mountinfo"
    return mount.rstrip("/") + path


def below(path, base):
    return path.startswith(base.rstrip("/") + "/")


def can_make_cgroups():
    """Whether this test process can create a cgroup below its own (what
    procd started from it needs); the probe is removed at once."""
    mount = cgroup2_mount()
    own = proc_cgroup(os.getpid())
    if not mount or own is None:
        return False
    probe = cgroup_dir(own.rstrip("/") + "/procd-test-probe-%d" % os.getpid())
    try:
        os.mkdir(probe)
    except OSError:
        return False
    os.rmdir(probe)
    return True


def need_cgroups(d):
    """Skip unless procd d says tree is available."""
    info = d.call("info")
    assert "cgroups" in info, "info lacks cgroups: %r" % info
    if not info["cgroups"]:
        pytest.skip("cgroups not available: info.cgroups is false (%s)" % (
            "this process could create a cgroup" if can_make_cgroups()
            else "no writable cgroup v2 here"))
    return info


@pytest.fixture
def tree(procd):
    """The procd fixture, where kill_mode tree is available."""
    need_cgroups(procd)
    return procd


class Leftovers(LcProcs):
    """Processes a test makes outside procd's reach; SIGKILLed at the end
    if still there."""


@pytest.fixture
def leftovers():
    lo = Leftovers()
    yield lo
    lo.kill_survivors()


# --- scripts: a main process that leaves a setsid grandchild behind ---

# gc.sh PIDFILE MODE: the grandchild, in a session of its own; writes its
# pid to PIDFILE once set up. MODE plain: sleeps; slowterm: on SIGTERM
# notes it in PIDFILE.term, then takes 1 s to exit; ignoreterm: ignores
# SIGTERM.
GC_SH = r'''#!/bin/sh
case $2 in
slowterm) trap 'echo TERM >> "$1.term"; sleep 1; exit 0' TERM ;;
ignoreterm) trap '' TERM ;;
esac
echo $$ > "$1.tmp" && mv "$1.tmp" "$1"
case $2 in
slowterm) while :; do sleep 0.05; done ;;
*) exec sleep 300 ;;
esac
'''

# main.sh GC PIDFILE MODE NEXT: starts GC double-forked (a subshell that
# exits at once, so the grandchild is an orphan) in a session of its own
# (setsid), waits until it is set up, then NEXT: "exit:N" exits with N,
# "sleep" sleeps, "ignoreterm" ignores SIGTERM and sleeps.
MAIN_SH = r'''#!/bin/sh
(setsid "$1" "$2" "$3" &)
while [ ! -s "$2" ]; do sleep 0.02; done
case $4 in
exit:*) exit "${4#exit:}" ;;
ignoreterm) trap '' TERM; exec sleep 300 ;;
*) exec sleep 300 ;;
esac
'''


class Family:
    """Scripts in a folder; main_argv gives a job's argv, grandchild the
    pid its grandchild wrote."""

    def __init__(self, folder, leftovers):
        self.dir = str(folder)
        self.lo = leftovers
        self.gc = lc_write_script(os.path.join(self.dir, "gc.sh"), GC_SH)
        self.main = lc_write_script(os.path.join(self.dir, "main.sh"), MAIN_SH)
        self.n = 0

    def argv(self, mode="plain", next="sleep"):
        self.n += 1
        pidfile = os.path.join(self.dir, "gc%d.pid" % self.n)
        return [self.main, self.gc, pidfile, mode, next], pidfile

    def grandchild(self, pidfile, timeout=10.0):
        wait_until(lambda: os.path.exists(pidfile) and os.path.getsize(pidfile) > 0, timeout)
        with open(pidfile) as f:
            pid = int(f.read())
        return self.lo.add(pid)


@pytest.fixture
def family(tmp_path, leftovers):
    return Family(tmp_path, leftovers)


def check_outside_group(gc, job_pid):
    st = lc_proc_stat(gc)
    assert st is not None, "grandchild %d is gone" % gc
    assert st["session"] == gc and st["pgrp"] == gc, \
        "grandchild %d did not leave the job's group: %r" % (gc, st)
    assert st["pgrp"] != job_pid


def wait_gone(lo, pid, timeout, what):
    try:
        wait_until(lambda: not lo.lives(pid), timeout)
    except TimeoutError:
        pytest.fail("%s: process %d still alive after %g s" % (what, pid, timeout))


def wait_not_running(conn, jid, timeout=10.0):
    """Poll status until the job's state is no longer running."""
    return lc_wait_job(conn, jid, lambda j: j["state"] != "running",
                       "left running", timeout)


def live_tree_job(procd_factory, sub, family, leftovers):
    """A procd (in folder sub) with a tree job whose setsid grandchild
    lives on: (procd, connection, job, grandchild pid)."""
    d = procd_factory(sub=sub)
    need_cgroups(d)
    c = d.connect()
    argv, pidfile = family.argv("plain", "sleep")
    j = lc_start(c, argv, kill_mode="tree")
    gc = family.grandchild(pidfile)
    leftovers.add(j["pid"])
    return d, c, j, gc


def subscribe(conn):
    return conn.call("subscribe")["subscription"]


def job_events_until(conn, jid, event, timeout=20.0, on_event=None):
    """Events of job jid until one named event (inclusive)."""
    out = []
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError("event %r of job %s not seen; got %r"
                                 % (event, jid, [e["event"] for e in out]))
        try:
            m = conn.recv(left)
        except TimeoutError:
            continue
        assert isinstance(m, dict) and m.get("method") == "event", m
        e = m["params"]
        if not isinstance(e.get("job"), dict) or e["job"].get("id") != jid:
            continue
        e["_at"] = time.monotonic()
        out.append(e)
        if on_event:
            on_event(e)
        if e["event"] == event:
            return out


# --- kill_mode and info.cgroups ---

def test_info_cgroups_is_boolean(procd):
    info = procd.call("info")
    assert "cgroups" in info and type(info["cgroups"]) is bool, info
    if os.geteuid() == 0 and can_make_cgroups():
        assert info["cgroups"] is True, \
            "procd runs as root where cgroups can be created, but info.cgroups is false"


@pytest.mark.parametrize("params", [{}, {"kill_mode": None}, {"kill_mode": "group"}],
                         ids=["absent", "null", "group"])
def test_kill_mode_group_by_default(conn, params):
    j = lc_start(conn, ["sleep", "300"], **params)
    assert j.get("kill_mode") == "group", j
    assert lc_status(conn, j["id"])["kill_mode"] == "group"
    assert conn.call("list")[0]["kill_mode"] == "group"
    conn.call("kill", {"job": j["id"]})
    assert lc_join(conn, j["id"])["kill_mode"] == "group"


def test_kill_mode_tree(tree, conn):
    j = lc_start(conn, ["sleep", "300"], kill_mode="tree")
    assert j.get("kill_mode") == "tree", j
    assert lc_status(conn, j["id"])["kill_mode"] == "tree"
    conn.call("terminate", {"job": j["id"]})
    assert lc_join(conn, j["id"])["kill_mode"] == "tree"


@pytest.mark.parametrize("value", ["Tree", "TREE", "", "process", "control-group", "mixed",
                                   "none", 1, True, ["tree"], {"mode": "tree"}],
                         ids=repr)
def test_kill_mode_invalid(conn, value):
    e = lc_err(conn, "start", {"argv": ["sleep", "300"], "kill_mode": value})
    assert e["code"] == INVALID_PARAMS, e
    assert conn.call("list") == [], "a refused start made a job"


def test_tree_unavailable_is_invalid_params(tmp_path, srv_spawn, users, usr_tmpdir):
    """A procd running as a throwaway user cannot create cgroups below its
    own (root's) cgroup: info.cgroups is false and tree is -32602 with a
    reason; group still works."""
    a = users("a")
    d = usr_tmpdir(owner=a, mode=0o755)
    sock = os.path.join(d, "procd.sock")
    p = srv_spawn(d, [PROCD, "--socket", sock], env=a.env(), **a.popen_kw())
    wait_for_socket(sock, p.proc, 20)
    c = Conn(sock)
    try:
        info = c.call("info")
        assert info["uid"] == a.uid, info
        assert "cgroups" in info and type(info["cgroups"]) is bool, info
        if info["cgroups"]:
            pytest.skip("user %s can create cgroups here: cannot test tree unavailable" % a.name)
        e = lc_err(c, "start", {"argv": ["sleep", "300"], "kill_mode": "tree"})
        assert e["code"] == INVALID_PARAMS, e
        assert "kill_mode" in e["message"] and "tree" in e["message"], \
            "the message does not say why: %r" % e
        assert c.call("list") == []
        j = lc_start(c, ["sleep", "300"], kill_mode="group")
        assert j["kill_mode"] == "group", j
        c.call("kill", {"job": j["id"]})
        lc_join(c, j["id"])
    finally:
        c.close()
    assert p.stop() == 0, p.stderr_text()


# --- a cgroup of its own, from birth ---

def test_worker_in_its_own_cgroup_from_birth(tree, conn, tmp_path):
    """The worker's first command reads its own cgroup: already the job's."""
    out = str(tmp_path / "cg")
    j = lc_start(conn, ["sh", "-c", 'cat /proc/$$/cgroup > "$1.tmp"; mv "$1.tmp" "$1"; '
                        'exec sleep 300', "sh", out], kill_mode="tree")
    wait_until(lambda: os.path.exists(out), 10)
    with open(out) as f:
        first = [l[3:].rstrip("\n") for l in f if l.startswith("0::")]
    assert len(first) == 1, first
    now = proc_cgroup(j["pid"])
    assert first[0] == now, "the worker moved from %r to %r after it started" % (first[0], now)
    assert now.endswith("/job-%d" % j["id"]), now
    procd_cg = proc_cgroup(tree.pid)
    assert now != procd_cg, "the worker is in procd's own cgroup %r" % procd_cg
    start_cg = proc_cgroup(os.getpid())        # where procd was started
    assert below(now, start_cg), "%r is not below %r, where procd started" % (now, start_cg)
    assert os.path.isdir(cgroup_dir(now))
    # a group job is not in a job cgroup
    g = lc_start(conn, ["sleep", "300"])
    gcg = proc_cgroup(g["pid"])
    assert not re.search(r"/job-\d+$", gcg), gcg
    for x in (j, g):
        conn.call("terminate", {"job": x["id"]})
        lc_join(conn, x["id"])


def test_each_tree_job_its_own_cgroup(tree, conn):
    a = lc_start(conn, ["sleep", "300"], kill_mode="tree")
    b = lc_start(conn, ["sleep", "300"], kill_mode="tree")
    ca, cb = proc_cgroup(a["pid"]), proc_cgroup(b["pid"])
    assert ca != cb, (ca, cb)
    for x in (a, b):
        conn.call("kill", {"job": x["id"]})
        lc_join(conn, x["id"])


# --- stopping the whole tree ---

def test_setsid_grandchild_killed_by_terminate(tree, conn, family, leftovers):
    argv, pidfile = family.argv("plain", "sleep")
    j = lc_start(conn, argv, kill_mode="tree")
    gc = family.grandchild(pidfile)
    check_outside_group(gc, j["pid"])
    assert proc_cgroup(gc) == proc_cgroup(j["pid"]), "the grandchild left the job's cgroup"
    conn.call("terminate", {"job": j["id"]})
    done = lc_join(conn, j["id"])
    assert done["exitcode"] == -15, done
    assert not leftovers.lives(gc), \
        "the job finished while its setsid grandchild %d is alive" % gc


def test_setsid_grandchild_survives_terminate_in_group_mode(procd, conn, family, leftovers):
    """Control case: kill_mode group stops the process group only."""
    argv, pidfile = family.argv("plain", "sleep")
    j = lc_start(conn, argv)
    gc = family.grandchild(pidfile)
    check_outside_group(gc, j["pid"])
    conn.call("terminate", {"job": j["id"]})
    done = lc_join(conn, j["id"])
    assert done["exitcode"] == -15, done
    time.sleep(0.3)
    assert leftovers.lives(gc), "a group job's terminate reached a process outside its group"
    os.kill(gc, signal.SIGKILL)
    wait_gone(leftovers, gc, 5, "the grandchild killed by the test")


def test_kill_on_tree_is_immediate(tree, conn, family, leftovers):
    argv, pidfile = family.argv("ignoreterm", "ignoreterm")
    j = lc_start(conn, argv, kill_mode="tree", stop_timeout=60)
    gc = family.grandchild(pidfile)
    time.sleep(0.1)          # the main process ignores TERM by now
    t0 = time.monotonic()
    conn.call("kill", {"job": j["id"]})
    done = lc_join(conn, j["id"], timeout=10)
    took = time.monotonic() - t0
    assert done["state"] == "exited", done
    assert done["exitcode"] == -9, done
    assert took < 3.0, "kill took %.2f s" % took
    assert not leftovers.lives(gc)


def test_terminate_tree_kills_term_ignoring_leftover_after_stop_timeout(
        tree, conn, family, leftovers):
    argv, pidfile = family.argv("ignoreterm", "sleep")
    j = lc_start(conn, argv, kill_mode="tree", stop_timeout=0.5)
    gc = family.grandchild(pidfile)
    t0 = time.monotonic()
    conn.call("terminate", {"job": j["id"]})
    s = lc_status(conn, j["id"])
    assert s["state"] == "stopping", s
    done = lc_join(conn, j["id"], timeout=10)
    took = time.monotonic() - t0
    assert done["exitcode"] == -15, "the main process's own status: %r" % done
    assert 0.3 <= took < 5.0, "the job finished %.2f s after terminate" % took
    assert not leftovers.lives(gc)


def test_procd_stop_kills_tree(procd_factory, family, leftovers):
    d = procd_factory()
    need_cgroups(d)
    c = d.connect()
    argv, pidfile = family.argv("plain", "sleep")
    j = lc_start(c, argv, kill_mode="tree")
    gc = family.grandchild(pidfile)
    cg = cgroup_dir(proc_cgroup(j["pid"]))
    assert d.stop() == 0, d.stderr_text()
    wait_gone(leftovers, gc, 2, "procd's clean stop")
    assert not os.path.exists(cg), "procd stopped but left %s" % cg


def test_teardown_stops_daemon_childs_tree(tree, conn, family, leftovers, tmp_path):
    go = tmp_path / "go"
    parent = lc_start(conn, ["sh", "-c", 'while [ ! -e "$1" ]; do sleep 0.02; done', "sh",
                             str(go)])
    argv, pidfile = family.argv("plain", "sleep")
    child = lc_start(conn, argv, kill_mode="tree", daemon=True, parent=parent["id"])
    gc = family.grandchild(pidfile)
    with open(str(go), "w"):
        pass
    done = lc_join(conn, parent["id"])
    assert done["exitcode"] == 0, done
    ch = lc_status(conn, child["id"])
    assert ch["state"] == "exited" and ch["exitcode"] == -15, ch
    assert not leftovers.lives(gc)


# --- the main process exits by itself ---

def test_main_exit_stops_leftovers(tree, conn, family, leftovers):
    sc = tree.connect()
    subscribe(sc)
    argv, pidfile = family.argv("slowterm", "exit:3")
    j = lc_start(conn, argv, kill_mode="tree")
    gc = family.grandchild(pidfile)
    check_outside_group(gc, j["pid"])
    evs = job_events_until(sc, j["id"], "exited", 20)
    names = [e["event"] for e in evs]
    assert names == ["started", "stopping", "exited"], names
    stopping, exited = evs[1], evs[2]
    sj = stopping["job"]
    assert sj["state"] == "stopping", sj
    assert sj["exitcode"] == 3 and sj["exited_at"] is not None, \
        "exitcode and exited_at are the main process's while stopping: %r" % sj
    assert exited["job"]["exitcode"] == 3, exited["job"]
    assert exited["_at"] - stopping["_at"] >= 0.3, \
        "the job finished %.2f s after its main process exited, while the grandchild " \
        "takes 1 s to end" % (exited["_at"] - stopping["_at"])
    assert not leftovers.lives(gc), "the job finished with its grandchild alive"
    with open(pidfile + ".term") as f:
        assert f.read().strip() == "TERM", "the grandchild did not get SIGTERM"
    s = lc_status(conn, j["id"])
    assert s["state"] == "exited" and s["exitcode"] == 3, s


def test_main_exit_stopping_state_seen_by_status(tree, conn, family, leftovers):
    argv, pidfile = family.argv("slowterm", "exit:3")
    j = lc_start(conn, argv, kill_mode="tree")
    gc = family.grandchild(pidfile)
    s = wait_not_running(conn, j["id"])
    assert s["state"] == "stopping", \
        "the main process exited, its grandchild takes 1 s to end: %r" % s
    assert s["exitcode"] == 3 and s["exited_at"] is not None, s
    assert leftovers.lives(gc)
    done = lc_join(conn, j["id"])
    assert done["exitcode"] == 3 and not leftovers.lives(gc), done


def test_main_exit_term_ignoring_leftover_killed(tree, conn, family, leftovers):
    argv, pidfile = family.argv("ignoreterm", "exit:0")
    j = lc_start(conn, argv, kill_mode="tree", stop_timeout=0.5)
    gc = family.grandchild(pidfile)
    s = wait_not_running(conn, j["id"])
    t0 = time.monotonic()
    assert s["state"] == "stopping" and s["exitcode"] == 0, s
    assert leftovers.lives(gc)
    done = lc_join(conn, j["id"], timeout=10)
    took = time.monotonic() - t0
    assert done["exitcode"] == 0, "exitcode is the main process's: %r" % done
    assert 0.2 <= took < 5, "finished %.2f s after the main exit (stop_timeout 0.5)" % took
    assert not leftovers.lives(gc)


# --- usage and the cgroup folder ---

BURN_PY = r'''
import sys, time
t = time.process_time()
while time.process_time() - t < 0.5:
    pass
open(sys.argv[1] + ".tmp", "w").close()
import os
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
'''


def test_usage_counts_the_whole_tree(tree, conn, tmp_path):
    """A setsid orphan burns CPU: the main process never waits for it, so
    only the cgroup's cpu.stat can count it."""
    done = str(tmp_path / "burnt")
    j = lc_start(conn, ["sh", "-c", '(setsid "$0" -c "$1" "$2" &); '
                        'while [ ! -e "$2" ]; do sleep 0.05; done; exit 0',
                        LC_PY, BURN_PY, done], kill_mode="tree")
    r = lc_join(conn, j["id"], rpc_timeout=30)
    assert r["exitcode"] == 0, r
    u = r["usage"]
    assert isinstance(u, dict), r
    assert u["user"] + u["system"] >= 0.3, \
        "usage %r does not count the grandchild's 0.5 s of CPU" % u
    assert type(u["maxrss"]) is int and u["maxrss"] >= 0, u


@pytest.mark.parametrize("how", ["exit", "terminate", "kill"])
def test_cgroup_removed_when_finished(tree, conn, tmp_path, how):
    go = str(tmp_path / "go")
    j = lc_start(conn, ["sh", "-c", 'while [ ! -e "$1" ]; do sleep 0.02; done; exit 0',
                        "sh", go], kill_mode="tree")
    path = proc_cgroup(j["pid"])
    assert path and path.endswith("/job-%d" % j["id"]), path
    cg = cgroup_dir(path)
    assert os.path.isdir(cg), cg
    if how == "exit":
        with open(go, "w"):
            pass
    else:
        conn.call(how, {"job": j["id"]})
    r = lc_join(conn, j["id"])
    assert r["state"] == "exited", r
    try:
        wait_until(lambda: not os.path.exists(cg), 2)
    except TimeoutError:
        pytest.fail("the finished job's cgroup %s is still there" % cg)
    conn.call("close", {"job": j["id"]})


def test_restart_reuses_the_cgroup(tree, conn, tmp_path, leftovers):
    """Each run leaves a setsid grandchild and exits 1: the grandchild is
    stopped before the next process starts, in the same cgroup."""
    d = str(tmp_path)
    script = lc_write_script(os.path.join(d, "run.sh"), r'''#!/bin/sh
cat /proc/$$/cgroup > "$1/cg.$$"
(setsid sh -c 'echo $$ > "$1.tmp"; mv "$1.tmp" "$1"; exec sleep 300' sh "$1/gc.$$" &)
while [ ! -s "$1/gc.$$" ]; do sleep 0.02; done
sleep 0.3
exit 1
''')
    sc = tree.connect()
    subscribe(sc)
    j = lc_start(conn, [script, d], kill_mode="tree", restart="on-failure",
                 restart_delay=0.3, restart_limit=1)
    gcs = {}

    def gc_of(pid):
        f = os.path.join(d, "gc.%d" % pid)
        wait_until(lambda: os.path.exists(f), 10)
        with open(f) as fh:
            return leftovers.add(int(fh.read()))

    def note(e):
        if e["event"] == "started":
            n = len(gcs)
            if n >= 1:
                # the previous run's grandchild is gone before this run starts
                e["_prev_alive"] = leftovers.lives(gcs[n - 1])
            gcs[n] = gc_of(e["job"]["pid"])
    evs = job_events_until(sc, j["id"], "exited", 30, note)
    names = [e["event"] for e in evs if e["event"] != "stopping"]
    assert names == ["started", "restarting", "started", "exited"], \
        [e["event"] for e in evs]
    starts = [e for e in evs if e["event"] == "started"]
    assert starts[1]["_prev_alive"] is False, \
        "the first run's grandchild %d was alive when the next process started" % gcs[0]
    assert not leftovers.lives(gcs[1])
    cgs = []
    for e in starts:
        with open(os.path.join(d, "cg.%d" % e["job"]["pid"])) as f:
            cgs.append([l[3:].rstrip("\n") for l in f if l.startswith("0::")][0])
    assert cgs[0] == cgs[1], "the restart did not reuse the cgroup: %r" % cgs
    assert cgs[0].endswith("/job-%d" % j["id"]), cgs
    s = lc_status(conn, j["id"])
    assert s["state"] == "exited" and s["restarts"] == 1 and s["exitcode"] == 1, s
    wait_until(lambda: not os.path.exists(cgroup_dir(cgs[0])), 2)


# --- a killed procd's cgroups, cleaned by the next one (section 13) ---

def test_killed_procds_cgroups_cleaned_by_the_next(procd_factory, family, leftovers):
    d1 = procd_factory(sub="same")
    need_cgroups(d1)
    c = d1.connect()
    argv, pidfile = family.argv("plain", "sleep")
    j = lc_start(c, argv, kill_mode="tree")
    gc = family.grandchild(pidfile)
    check_outside_group(gc, j["pid"])
    leftovers.add(j["pid"])
    path = proc_cgroup(gc)
    assert path.endswith("/job-%d" % j["id"]), path
    cg = cgroup_dir(path)
    d1.proc.kill()
    d1.proc.wait(10)
    d1.err.close()
    # the worker dies with procd (its parent-death signal); the setsid
    # grandchild is no child of procd's and lives on in the job's cgroup
    wait_gone(leftovers, j["pid"], 5, "the worker of a killed procd")
    time.sleep(0.3)
    assert leftovers.lives(gc), "the grandchild died with procd; nothing left to clean"
    assert os.path.isdir(cg)
    d2 = procd_factory(sub="same")
    assert d2.sock == d1.sock
    wait_gone(leftovers, gc, 3, "the next procd on the same socket")
    try:
        wait_until(lambda: "left by a previous procd" in d2.stderr_text(), 3)
    except TimeoutError:
        pytest.fail("the next procd did not log what it stopped:\n" + d2.stderr_text())
    try:
        wait_until(lambda: not os.path.exists(cg), 3)
    except TimeoutError:
        pytest.fail("the old job's cgroup %s is still there" % cg)
    c2 = d2.connect()
    assert c2.call("list") == []
    j2 = lc_start(c2, ["sleep", "300"], kill_mode="tree")
    assert proc_cgroup(j2["pid"]).endswith("/job-%d" % j2["id"])
    c2.call("kill", {"job": j2["id"]})
    lc_join(c2, j2["id"])
    assert d2.stop() == 0, d2.stderr_text()


def test_no_folder_left_by_failed_starts_and_many_jobs(tree, conn, tmp_path):
    """A start that cannot exec creates no job, so no cgroup stays behind;
    nor does any of many tree jobs once finished."""
    first = lc_start(conn, ["sleep", "300"], kill_mode="tree")
    sub = os.path.dirname(cgroup_dir(proc_cgroup(first["pid"])))
    mine = os.path.basename(cgroup_dir(proc_cgroup(first["pid"])))
    for argv in (["/nonexistent/program"], [str(tmp_path)]):
        e = lc_err(conn, "start", {"argv": argv, "kill_mode": "tree"})
        assert e["code"] == -32005, e
    e = lc_err(conn, "start", {"argv": ["true"], "kill_mode": "tree",
                               "cwd": "/nonexistent/folder"})
    assert e["code"] == -32005, e
    jobs = [lc_start(conn, ["sh", "-c", "sleep 0.2 & exit 0"], kill_mode="tree")
            for _ in range(20)]
    for j in jobs:
        assert lc_join(conn, j["id"])["state"] == "exited"
    left = lambda: sorted(n for n in os.listdir(sub) if n.startswith("job-"))
    try:
        wait_until(lambda: left() == [mine], 3)
    except TimeoutError:
        pytest.fail("job cgroups left in %s: %r (only %s is running)" % (sub, left(), mine))
    conn.call("kill", {"job": first["id"]})
    lc_join(conn, first["id"])


def test_second_procd_on_a_live_socket_leaves_its_cgroups_alone(
        procd_factory, family, leftovers):
    """A procd started by mistake on a live procd's socket exits 1 and
    does not clean the live one's cgroups: only a dead procd's are
    cleaned."""
    d1, c, j, gc = live_tree_job(procd_factory, "live", family, leftovers)
    d2 = procd_factory(sub="live", wait=False)
    assert d2.proc.wait(10) == 1, d2.stderr_text()
    assert "left by a previous procd" not in d2.stderr_text()
    time.sleep(0.3)
    assert leftovers.lives(gc), "the live procd's tree job lost a process"
    assert pid_alive(j["pid"])
    assert lc_status(c, j["id"])["state"] == "running"
    c.call("kill", {"job": j["id"]})
    lc_join(c, j["id"])
    wait_gone(leftovers, gc, 3, "kill of the tree job")


def test_tree_restart_after_cgroup_kill_runs_again(tree, conn, tmp_path):
    """Leftovers that ignore SIGTERM are killed through cgroup.kill; the
    next process started in that cgroup still runs (Linux 6.14+ kills a
    child clone3 puts in a cgroup that was killed once)."""
    runs = tmp_path / "runs"
    argv = ["sh", "-c", "echo run >> %s; "
            "(setsid sh -c 'trap \"\" TERM; exec sleep 300' &); "
            "sleep 0.2; exit 1" % runs]
    j = lc_start(conn, argv, kill_mode="tree", restart="on-failure",
                 restart_limit=2, restart_delay=0.1, stop_timeout=0.3)
    done = lc_join(conn, j["id"], rpc_timeout=60)
    assert done["state"] == "exited" and done["restarts"] == 2, done
    assert done["exitcode"] == 1, "a restart died at birth: %r" % done
    assert runs.read_text().count("run") == 3


def test_signal_group_reaches_tree_leftovers(tree, conn, family, leftovers):
    """signal with group on a tree job whose process has exited still
    reaches what it left in its cgroup."""
    argv, pidfile = family.argv("ignoreterm", "exit:0")
    j = lc_start(conn, argv, kill_mode="tree", stop_timeout=60)
    gc = family.grandchild(pidfile)
    st = wait_not_running(conn, j["id"])
    assert st["state"] == "stopping" and st["exitcode"] == 0, st
    assert leftovers.lives(gc)
    conn.call("signal", {"job": j["id"], "signal": "KILL", "group": True})
    wait_gone(leftovers, gc, 5, "signal KILL with group")
    done = lc_join(conn, j["id"], timeout=10)
    assert done["state"] == "exited" and done["exitcode"] == 0, done


def test_second_procd_after_socket_removed_leaves_cgroups_alone(
        procd_factory, family, leftovers):
    """A live procd whose socket file was removed still holds its cgroup
    subtree: a procd started on the same path neither cleans it nor
    offers tree jobs, and says why."""
    d1, c, j, gc = live_tree_job(procd_factory, "gone", family, leftovers)
    os.unlink(d1.sock)
    d2 = procd_factory(sub="gone")
    c2 = d2.connect()
    assert c2.call("info")["cgroups"] is False
    e = lc_err(c2, "start", {"argv": ["true"], "kill_mode": "tree"})
    assert e["code"] == INVALID_PARAMS and "another procd" in e["message"], e
    time.sleep(0.3)
    assert leftovers.lives(gc) and pid_alive(j["pid"])
    assert lc_status(c, j["id"])["state"] == "running"
    c.call("kill", {"job": j["id"]})
    lc_join(c, j["id"])
    wait_gone(leftovers, gc, 3, "kill of the tree job")


def test_cgroup_of_another_user_not_used(tmp_path, srv_spawn, users):
    """A root procd started in a cgroup another user owns does not trust
    it: that user could make procd's subtree first or move jobs out."""
    mount, own = cgroup2_mount(), proc_cgroup(os.getpid())
    if not mount or own is None or not can_make_cgroups():
        pytest.skip("cannot make cgroups here")
    a = users("a")
    foreign = cgroup_dir(own.rstrip("/") + "/procd-test-foreign-%d" % os.getpid())
    os.mkdir(foreign)
    try:
        os.chown(foreign, a.uid, a.gid)
        sock = str(tmp_path / "s")
        # procd enters the user's cgroup before it starts
        argv = ["sh", "-c", 'echo $$ > "$0/cgroup.procs" && exec "$@"',
                foreign, PROCD, "--socket", sock]
        p = srv_spawn(str(tmp_path), argv)
        wait_for_socket(sock, p.proc, 20)
        c = Conn(sock)
        assert proc_cgroup(p.pid).endswith("procd-test-foreign-%d" % os.getpid())
        assert c.call("info")["cgroups"] is False
        e = lc_err(c, "start", {"argv": ["true"], "kill_mode": "tree"})
        assert e["code"] == INVALID_PARAMS and "uid" in e["message"], e
        c.close()
        assert p.stop() == 0, p.stderr_text()
    finally:
        for sub in sorted((os.path.join(r, d) for r, ds, _ in os.walk(foreign)
                           for d in ds), key=len, reverse=True) + [foreign]:
            try:
                os.rmdir(sub)
            except OSError:
                pass


def test_subtree_removed_under_procd(tree, conn):
    """Someone removes procd's (empty) cgroup subtree: tree is no longer
    offered, with the reason, instead of failing as a spawn error."""
    j = lc_start(conn, ["sleep", "60"], kill_mode="tree")
    path = proc_cgroup(j["pid"])
    assert path, "job %d has no cgroup v2 line" % j["pid"]
    sub = os.path.dirname(cgroup_dir(path))
    conn.call("kill", {"job": j["id"]})
    lc_join(conn, j["id"])
    conn.call("close", {"job": j["id"]})
    wait_until(lambda: not [n for n in os.listdir(sub) if n.startswith("job-")], 5)
    os.rmdir(sub)
    e = lc_err(conn, "start", {"argv": ["true"], "kill_mode": "tree"})
    assert e["code"] == INVALID_PARAMS and "removed" in e["message"], e
    assert conn.call("info")["cgroups"] is False
    assert conn.call("list") == []
    g = lc_start(conn, ["true"])
    assert lc_join(conn, g["id"])["exitcode"] == 0
