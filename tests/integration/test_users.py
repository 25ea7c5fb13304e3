# SPDX-License-Identifier: ISC
# Section 8 of procd-protocol(7): one root procd serves every local user.
# A job runs as its owner (uid, gid, groups, HOME/USER/LOGNAME/SHELL); a
# user may act on and see only its own jobs (-32004 otherwise); root may
# start jobs as another user (user/group params); children keep their
# parent's owner (-32006); names are unique across users; per-user job
# and connection limits (-32007, root exempt); a per-user procd refuses
# other uids as in version 1; every start is logged. Clients run as two
# throwaway users: a helper process run as the user connects (so that
# SO_PEERCRED and SO_PEERGROUPS are the user's) and hands the connected
# socket back over SCM_RIGHTS, so the test drives it like any Conn.
import json
import os
import pwd
import re
import socket
import subprocess

import pytest

from conftest import (PROCCTL, PROCD, SRV_SCRUB, USR_PY, Conn, as_user, lc_proc_environ,
                      lc_proc_status, lg_events_until, lg_next_event, run_as_user,
                      srv_expect_eof, wait_for_socket, wait_until)

pytestmark = pytest.mark.skipif(os.geteuid() != 0,
                                reason="needs root to create users and switch uids")

DENIED = -32004
SLEEP = ["sleep", "1000"]

# Run as the user: connect to argv[1], pass the socket back on fd argv[2],
# then stay until the test lets go (so the peer pid stays that of a live
# process of the user's).
CONNECT_PY = r"""
import socket, sys
ctl = socket.socket(fileno=int(sys.argv[2]))
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1])
socket.send_fds(ctl, [b"k"], [s.fileno()])
s.close()
ctl.recv(1)
"""


class UConn(Conn):
    """A Conn whose connect() was made by a process of user."""

    def __init__(self, user, path, timeout=10.0):
        mine, theirs = socket.socketpair()
        self.helper = as_user(user, [USR_PY, "-c", CONNECT_PY, path, theirs.fileno()],
                              pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL,
                              stderr=subprocess.PIPE)
        theirs.close()
        mine.settimeout(30)
        _, fds, _, _ = socket.recv_fds(mine, 16, 1)
        if not fds:
            mine.close()
            raise ConnectionError("%s could not connect: %s" % (
                user.name, self.helper.communicate(timeout=30)[1]))
        self.ctl, self.pid = mine, self.helper.pid
        self.sock = socket.socket(fileno=fds[0])
        self.sock.settimeout(timeout)
        self.buf, self.pending, self.next_id = b"", [], 1

    def close(self):
        self.sock.close()
        self.ctl.close()
        try:
            self.helper.communicate(timeout=30)
        except (subprocess.TimeoutExpired, ValueError):
            self.helper.kill()


@pytest.fixture
def uc():
    """uc(user, sock) -> UConn; all closed at the end."""
    made = []

    def make(user, path):
        c = UConn(user, path)
        made.append(c)
        return c
    yield make
    for c in made:
        c.close()


def root_env():
    return {k: v for k, v in os.environ.items() if k not in SRV_SCRUB + ("XDG_RUNTIME_DIR",)}


@pytest.fixture
def sysd(tmp_path, srv_spawn, usr_tmpdir):
    """sysd(*args) -> root procd on a 0666 socket (p.sock) in a 0755 folder
    under /tmp; it must still be alive at the end and stop cleanly."""
    made = []

    def make(*args):
        sock = os.path.join(usr_tmpdir(mode=0o755), "procd.sock")
        p = srv_spawn(tmp_path, [PROCD, "--socket", sock, "--socket-mode", "0666"]
                      + list(args), env=root_env())
        wait_for_socket(sock, p.proc, 20)
        p.sock = sock
        made.append(p)
        return p
    yield make
    for p in made:
        alive = p.alive()
        rc = p.stop()
        assert alive and rc == 0, "procd died or stopped with %s:\n%s" % (rc, p.stderr_text())


@pytest.fixture
def world(users, sysd, uc):
    """world(*procd args) -> (a, b, p, ca, cb, root): users A and B, a root
    procd, a connection of A's, one of B's, and one of root's."""
    def make(*args):
        a, b, p = users("a"), users("b"), sysd(*args)
        return a, b, p, uc(a, p.sock), uc(b, p.sock), Conn(p.sock)
    return make


def err(c, method, params=None, code=None, message=None):
    """The error of a request that must fail (with code and message)."""
    r = c.call_raw(method, params, timeout=30)
    assert "error" in r and "result" not in r, "%s %r succeeded: %r" % (method, params, r)
    e = r["error"]
    if code is not None:
        assert e.get("code") == code, "%s %r: %r, expected code %d" % (method, params, e, code)
    if message is not None:
        assert e.get("message") == message, "%s %r: %r" % (method, params, e)
    return e


def start(c, argv=SLEEP, **params):
    params["argv"] = list(argv)
    return c.call("start", params, timeout=30)


def ids(c, **params):
    return [j["id"] for j in c.call("list", params or None)]


def check_runs_as(j, uid, gid, groups=None):
    """The job's process has these credentials (/proc/PID/status)."""
    st = {k: [int(x) for x in v.split()] for k, v in lc_proc_status(j["pid"]).items()
          if k in ("Uid", "Gid", "Groups")}
    uids, gids, grps = st["Uid"], st["Gid"], sorted(st["Groups"])
    assert uids == [uid] * 4, "job %d Uid %r, expected %d" % (j["id"], uids, uid)
    assert gids == [gid] * 4, "job %d Gid %r, expected %d" % (j["id"], gids, gid)
    if groups is not None:
        assert grps == sorted(groups), "job %d Groups %r, not %r" % (j["id"], grps, groups)


def test_job_runs_as_its_owner(users, sysd, uc, usr_tmpdir):
    a = users("a")
    p = sysd()
    c = uc(a, p.sock)
    wdir = usr_tmpdir(owner=a, mode=0o700)
    j = start(c, ["sh", "-c", "touch f && exec sleep 1000"], cwd=wdir)
    assert (j["uid"], j["gid"], j["user"]) == (a.uid, a.gid, a.name), j
    check_runs_as(j, a.uid, a.gid, a.groups)
    f = os.path.join(wdir, "f")
    wait_until(lambda: os.path.exists(f), 20)
    st = os.stat(f)
    assert (st.st_uid, st.st_gid) == (a.uid, a.gid), "the job's file is %d:%d" % (
        st.st_uid, st.st_gid)
    env = lc_proc_environ(j["pid"])
    want = {"HOME": a.home, "USER": a.name, "LOGNAME": a.name, "SHELL": "/bin/sh"}
    assert {k: env.get(k) for k in want} == want, env
    j2 = start(c, env={"HOME": "/x", "SHELL": None})
    env = lc_proc_environ(j2["pid"])
    assert env.get("HOME") == "/x" and "SHELL" not in env, env
    assert env.get("USER") == a.name and env.get("LOGNAME") == a.name, env


@pytest.mark.parametrize("phase", ["running", "exited"])
def test_other_user_cannot_act(world, phase):
    a, b, p, ca, cb, root = world()
    j = start(ca, SLEEP if phase == "running" else ["true"], name="ajob")
    if phase == "exited":
        assert ca.call("join", {"job": j["id"]}, timeout=30)["state"] == "exited"
    jid = j["id"]
    reqs = [("status", {"job": jid}), ("status", {"job": "ajob"}),
            ("join", {"job": jid, "timeout": 0}), ("terminate", {"job": jid}),
            ("kill", {"job": "ajob"}), ("signal", {"job": jid, "signal": "TERM"}),
            ("close", {"job": jid}), ("logs", {"job": jid}),
            ("logs", {"job": jid, "follow": True}),
            ("start", {"argv": ["true"], "parent": jid}), ("list", {"parent": jid}),
            ("subscribe", {"jobs": [jid]}), ("subscribe", {"jobs": ["ajob"]})]
    bad = []
    for method, params in reqs:
        r = cb.call_raw(method, params, timeout=30)
        e = r.get("error") or {}
        if (e.get("code"), e.get("message")) != (DENIED, "permission denied"):
            bad.append((method, params, r))
    assert not bad, "B acted on A's %s job:\n%s" % (phase, "\n".join(map(repr, bad)))
    assert ca.call("status", {"job": jid})["state"] == phase, "B's requests changed A's job"
    err(cb, "status", {"job": 999999}, -32001)
    err(cb, "status", {"job": "nosuchjob"}, -32001)
    # root may act on it
    assert root.call("status", {"job": "ajob"})["uid"] == a.uid
    assert "records" in root.call("logs", {"job": jid})
    if phase == "running":
        root.call("terminate", {"job": jid})
    assert root.call("join", {"job": jid}, timeout=30)["state"] == "exited"
    assert root.call("close", {"job": jid})["id"] == jid


def test_list_and_info_show_own_jobs(world):
    a, b, p, ca, cb, root = world()
    ja = [start(ca)["id"], start(ca)["id"]]
    jb = [start(cb)["id"]]
    assert ids(cb) == jb and ids(ca) == ja
    assert ids(cb, state="running") == jb
    assert ids(root) == sorted(ja + jb)
    for c, n in ((cb, 1), (ca, 2), (root, 3)):
        counts = c.call("info")["jobs"]
        assert counts["running"] == n and sum(counts.values()) == n, counts


def test_subscribe_sees_own_jobs(world, uc):
    a, b, p, ca, cb, root = world()
    sb = cb.call("subscribe")["subscription"]
    sr = root.call("subscribe")["subscription"]
    ja = start(ca)
    jb = start(cb)
    ca.call("kill", {"job": ja["id"]})
    assert ca.call("join", {"job": ja["id"]}, timeout=30)["state"] == "exited"
    cb.call("kill", {"job": jb["id"]})
    assert cb.call("join", {"job": jb["id"]}, timeout=30)["state"] == "exited"
    seen = lg_events_until(cb, lambda e: e["event"] == "exited" and
                           e["job"]["id"] == jb["id"], sb, 30)
    assert [e["job"]["id"] for e in seen] == [jb["id"]] * len(seen), \
        "B got events of A's job: %r" % [(e["event"], e["job"]["id"]) for e in seen]
    assert seen[0]["event"] == "started", seen[0]
    got = lg_events_until(root, lambda e: e["event"] == "exited" and
                          e["job"]["id"] == jb["id"], sr, 30)
    assert {(e["event"], e["job"]["id"]) for e in got} >= {
        ("started", ja["id"]), ("started", jb["id"]), ("exited", ja["id"])}, got
    # replay since 0: root sees everything, B only B's job
    r2 = Conn(p.sock)
    q = r2.call("subscribe", {"since": 0})["seq"]
    every = lg_events_until(r2, lambda e: e["seq"] == q, None, 30)
    assert [e["seq"] for e in every] == list(range(1, q + 1)), every
    want = [e["seq"] for e in every if e["job"]["uid"] == b.uid]
    assert want and len(want) < q, every
    cb2 = uc(b, p.sock)
    cb2.call("subscribe", {"since": 0})
    replay = [lg_next_event(cb2, None, 30) for _ in want]
    assert [e["seq"] for e in replay] == want, replay
    assert not cb2.pending and not cb2.buf.strip(), (cb2.pending, cb2.buf)
    cb2.expect_nothing(1.0)
    r2.close()


def test_root_starts_as_another_user(world):
    a, b, p, _, _, root = world()
    for who in (a.name, a.uid):
        j = start(root, user=who)
        assert (j["uid"], j["gid"], j["user"]) == (a.uid, a.gid, a.name), j
        check_runs_as(j, a.uid, a.gid, a.groups)
    j = start(root, user=a.name, group=b.group)
    assert (j["uid"], j["gid"], j["user"]) == (a.uid, b.gid, a.name), j
    check_runs_as(j, a.uid, b.gid)
    try:
        pwd.getpwuid(4242)
        pytest.skip("uid 4242 has a passwd entry here")
    except KeyError:
        pass
    j = start(root, user=4242)
    assert (j["uid"], j["gid"], j["user"]) == (4242, 4242, None), j
    check_runs_as(j, 4242, 4242)
    env = lc_proc_environ(j["pid"])
    want = {"HOME": "/", "USER": "4242", "LOGNAME": "4242", "SHELL": "/bin/sh"}
    assert {k: env.get(k) for k in want} == want, env
    err(root, "start", {"argv": SLEEP, "user": "nosuchuserxyz"}, -32602)


def test_procctl_user_and_group_as_root(world):
    a, b, p, _, _, root = world()

    def ctl(*args):
        r = subprocess.run([PROCCTL, "--socket", p.sock] + [str(x) for x in args],
                           capture_output=True, text=True, timeout=60, env=root_env(),
                           cwd="/", stdin=subprocess.DEVNULL)
        assert r.returncode == 0, "procctl %r: %d\n%s" % (args, r.returncode, r.stderr)
        return r.stdout
    ctl("start", "--name", "asa", "--user", a.name, "--", *SLEEP)
    j = json.loads(ctl("--json", "start", "--user", a.name, "--group", b.group,
                       "--", *SLEEP))
    assert (j["uid"], j["gid"], j["user"]) == (a.uid, b.gid, a.name), j
    check_runs_as(j, a.uid, b.gid)
    s = root.call("status", {"job": "asa"})
    assert (s["uid"], s["gid"], s["user"]) == (a.uid, a.gid, a.name), s
    lines = ctl("list").splitlines()
    cols = ["ID", "NAME", "USER", "PID", "STATE", "EXIT", "PARENT", "DAEMON", "AGE", "COMMAND"]
    head = lines[0].split()
    assert [h for h in head if h in cols] == cols and head[2] == "USER", lines[0]
    rows = [ln.split() for ln in lines[1:] if ln.split()[:2] == [str(s["id"]), "asa"]]
    assert len(rows) == 1 and rows[0][2] == a.name, lines


def test_non_root_may_only_name_itself(world):
    a, b, p, ca, _, _ = world()
    for k, v in (("user", b.name), ("user", b.uid), ("user", 0), ("group", b.group),
                 ("group", 0)):
        err(ca, "start", {"argv": SLEEP, k: v}, DENIED)
    for params in ({"user": a.name}, {"user": a.uid}, {"group": a.group},
                   {"group": a.gid}, {"user": a.name, "group": a.group}):
        j = start(ca, **params)
        assert (j["uid"], j["gid"], j["user"]) == (a.uid, a.gid, a.name), (params, j)
        check_runs_as(j, a.uid, a.gid, a.groups)
    assert len(ca.call("list")) == 5
    r = run_as_user(a, [PROCCTL, "--socket", p.sock, "start", "--user", b.name, "--", "true"])
    assert r.returncode == 1, (r.returncode, r.stdout, r.stderr)
    assert "permission denied" in r.stderr.lower(), r.stderr
    assert len(ca.call("list")) == 5


def test_child_has_its_parents_owner(world):
    a, b, p, ca, _, root = world()
    par = start(root, user=a.name)
    msg = "a child job must have its parent's owner"
    err(root, "start", {"argv": SLEEP, "parent": par["id"], "user": b.name}, -32006, msg)
    err(root, "start", {"argv": SLEEP, "parent": par["id"]}, -32006, msg)
    ch = start(ca, parent=par["id"])
    assert ch["parent"] == par["id"] and ch["uid"] == a.uid, ch
    ch2 = start(root, parent=par["id"], user=a.name)
    assert ch2["parent"] == par["id"] and ch2["uid"] == a.uid, ch2
    assert sorted(root.call("status", {"job": par["id"]})["children"]) == [ch["id"], ch2["id"]]
    assert ids(root) == sorted([par["id"], ch["id"], ch2["id"]])


def test_names_unique_across_users(world):
    a, b, p, ca, cb, root = world()
    j = start(ca, name="shared")
    err(cb, "start", {"argv": SLEEP, "name": "shared"}, -32003)
    err(root, "start", {"argv": SLEEP, "name": "shared"}, -32003)
    ca.call("kill", {"job": j["id"]})
    ca.call("join", {"job": j["id"]}, timeout=30)
    ca.call("close", {"job": j["id"]})
    assert start(cb, name="shared")["uid"] == b.uid


def test_max_jobs_per_user(world):
    a, b, p, ca, cb, root = world("--max-jobs-per-user", "2")
    first = start(ca, ["true"])
    start(ca)
    err(ca, "start", {"argv": SLEEP}, -32007)
    start(cb), start(cb)
    err(cb, "start", {"argv": SLEEP}, -32007)
    for _ in range(3):
        start(root)
    assert ca.call("join", {"job": first["id"]}, timeout=30)["state"] == "exited"
    err(ca, "start", {"argv": SLEEP}, -32007)       # exited, but not closed
    ca.call("close", {"job": first["id"]})
    assert start(ca)["uid"] == a.uid
    assert len(ids(root)) == 7


def test_max_clients_per_user(users, sysd, uc):
    a, b = users("a"), users("b")
    p = sysd("--max-clients-per-user", "2")
    c1, c2 = uc(a, p.sock), uc(a, p.sock)
    for c in (c1, c2):
        assert c.call("info")["pid"] == p.pid
    c3 = uc(a, p.sock)
    m = c3.recv(30)
    assert isinstance(m, dict) and m.get("id", "absent") is None and \
        m.get("error", {}).get("code") == -32007, "third connection of A got %r" % (m,)
    srv_expect_eof(c3, 30)
    for c in (c1, c2):
        assert c.call("info")["pid"] == p.pid, "A's first connections were dropped"
    assert uc(b, p.sock).call("info")["pid"] == p.pid
    roots = [Conn(p.sock) for _ in range(4)]
    for c in roots:
        assert c.call("info")["pid"] == p.pid
        c.close()
    c1.close()

    def again():        # once procd has seen c1 go, A may connect again
        try:
            return "result" in uc(a, p.sock).call_raw("info", timeout=30)
        except (EOFError, OSError, TimeoutError):
            return False
    wait_until(again, 30, 0.2)


def test_cwd_the_user_cannot_enter(world, usr_tmpdir):
    a, _, p, ca, _, root = world()
    closed = usr_tmpdir(mode=0o700)
    e = err(ca, "start", {"argv": SLEEP, "cwd": closed}, -32005)
    assert "Permission denied" in e["message"], e
    assert ca.call("list") == [] and root.call("list") == []


def test_per_user_procd(users, srv_spawn, uc, usr_tmpdir):
    a, b = users("a"), users("b")
    d = usr_tmpdir(owner=a, mode=0o755)
    sock = os.path.join(d, "procd.sock")
    p = srv_spawn(d, [PROCD, "--socket", sock, "--socket-mode", "0666"],
                  env=a.env(), **a.popen_kw())
    wait_for_socket(sock, p.proc, 20)
    root = Conn(sock)
    assert root.call("info")["uid"] == a.uid
    cb = uc(b, sock)
    m = cb.recv(30)
    assert isinstance(m, dict) and m.get("error", {}).get("code") == DENIED, \
        "B's connection to A's procd got %r" % (m,)
    srv_expect_eof(cb, 30)
    err(root, "start", {"argv": SLEEP, "user": b.name}, DENIED)
    j = start(root)
    assert j["uid"] == 0, "a root client's job in A's procd: uid %r" % j["uid"]
    check_runs_as(j, a.uid, a.gid)
    assert j["gid"] == a.gid, j
    ja = start(uc(a, sock))
    assert ja["uid"] == a.uid, ja
    check_runs_as(ja, a.uid, a.gid)
    assert p.alive(), p.stderr_text()
    assert p.stop() == 0, p.stderr_text()


def test_start_is_logged(users, sysd, uc):
    a = users("a")
    p = sysd()
    ca = uc(a, p.sock)
    j = start(ca, name="accounted")

    def line():
        for ln in p.stderr_text().splitlines():
            if "started job %d" % j["id"] in ln:
                return ln
    ln = wait_until(line, 20)
    for word in ("client", "uid %d" % a.uid, "as uid %d" % a.uid, "accounted", "sleep"):
        assert word in ln, "%r not in the log line %r" % (word, ln)
    assert re.search(r"(?<![0-9])%d(?![0-9])" % ca.pid, ln), \
        "the client's pid %d is not in the log line %r" % (ca.pid, ln)
