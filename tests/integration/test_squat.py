# SPDX-License-Identifier: ISC
# The socket's neighbourhood (procd-protocol(7) sections 13 and 15): the
# folder of the default socket path must be a real folder owned by procd's
# uid and writable by no one else, else procd exits 1 naming the problem
# and touches nothing; for --socket the folder must not be a symlink nor
# writable by others without the sticky bit, and a symlink at the socket's
# own path is never followed; the socket's mode and group; and procctl
# checks who answers (SO_PEERCRED: root or its own uid) before it sends
# anything. Runs procd and fake servers as throwaway users (root only).
import json
import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import time

import pytest

from conftest import (PROCCTL, PROCD, SRV_SCRUB, USR_PY, Conn, as_user, run_as_user,
                      wait_for_socket, wait_until)

pytestmark = pytest.mark.skipif(os.geteuid() != 0,
                                reason="needs root to create users and switch uids")

SYMLINK_RE = re.compile(r"symlink|symbolic link", re.I)
OWNER_RE = re.compile(r"\bown(s|er|ed|ership)?\b", re.I)
WRITABLE_RE = re.compile(r"writ(e)?able", re.I)


def mode(path):
    return stat.S_IMODE(os.lstat(path).st_mode)


def root_env(**extra):
    e = dict(os.environ)
    for k in SRV_SCRUB + ("XDG_RUNTIME_DIR",):
        e.pop(k, None)
    e.update(extra)
    return e


def can_connect(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(path)
        return True
    except OSError:
        return False
    finally:
        s.close()


def expect_refusal(p, sock, timeout=15.0):
    """procd must exit 1 with a message, without ever serving at sock.
    Returns its stderr."""
    deadline = time.monotonic() + timeout
    while p.proc.poll() is None:
        if can_connect(sock):
            pytest.fail("procd serves at %s instead of refusing its folder:\n%s"
                        % (sock, p.stderr_text()))
        if time.monotonic() > deadline:
            pytest.fail("procd neither served nor exited in %g s:\n%s"
                        % (timeout, p.stderr_text()))
        time.sleep(0.02)
    err = p.stderr_text()
    assert p.proc.returncode == 1, "exit status %r, expected 1:\n%s" % (p.proc.returncode, err)
    assert err.strip(), "procd exited 1 without a message"
    return err


def snapshot(path):
    """What is at path: kind, owner, mode, inode, link target, entries."""
    st = os.lstat(path)
    snap = {"mode": st.st_mode, "uid": st.st_uid, "gid": st.st_gid, "ino": st.st_ino}
    if stat.S_ISLNK(st.st_mode):
        snap["link"] = os.readlink(path)
    elif stat.S_ISDIR(st.st_mode):
        snap["entries"] = sorted(os.listdir(path))
    return snap


def user_procd(srv_spawn, workdir, user, xdg, *args):
    """procd as user with the default socket path (no --socket, no
    PROCD_SOCKET): under xdg, or /tmp/procd-UID when xdg is None."""
    env = user.env() if xdg is None else user.env(XDG_RUNTIME_DIR=xdg)
    return srv_spawn(workdir, [PROCD, "-v"] + list(args), env=env, **user.popen_kw())


# --- the default path's folder: $XDG_RUNTIME_DIR/procd -------------------------------

def squat(kind, folder, user, other, usr_tmpdir):
    """Put a squat of kind at folder; returns what else must stay untouched
    (path -> snapshot)."""
    keep = {}
    if kind == "symlink":
        target = usr_tmpdir(owner=user, mode=0o700)
        os.symlink(target, folder)
        os.lchown(folder, user.uid, user.gid)
        keep[target] = None
    elif kind == "root-owned":
        os.mkdir(folder)
        os.chmod(folder, 0o755)           # only the owner check refuses it
    elif kind == "root-owned-0777":
        os.mkdir(folder)
        os.chmod(folder, 0o777)
    elif kind == "other-user":
        os.mkdir(folder)
        os.chown(folder, other.uid, other.gid)
        os.chmod(folder, 0o777)
    elif kind.startswith("writable-"):
        os.mkdir(folder)
        os.chown(folder, user.uid, user.gid)
        os.chmod(folder, int(kind.split("-", 1)[1], 8))
    else:
        raise ValueError(kind)
    for k in keep:
        keep[k] = snapshot(k)
    return keep


def check_message(kind, err, folder):
    assert folder in err, "the message does not name %s:\n%s" % (folder, err)
    if kind == "symlink":
        assert SYMLINK_RE.search(err), "the message does not say symlink:\n%s" % err
    elif kind == "root-owned":
        assert OWNER_RE.search(err), "the message does not name the owner problem:\n%s" % err
    elif kind in ("root-owned-0777", "other-user"):
        # owned by someone else and writable by others: either names it
        assert OWNER_RE.search(err) or WRITABLE_RE.search(err), err
    else:
        assert WRITABLE_RE.search(err), "the message does not say writable:\n%s" % err


SQUATS = ["symlink", "root-owned", "root-owned-0777", "other-user",
          "writable-0777", "writable-0757", "writable-0770"]


@pytest.mark.parametrize("kind", SQUATS)
def test_xdg_folder_squatted(tmp_path, srv_spawn, users, usr_tmpdir, kind):
    user, other = users("a"), users("b")
    xdg = usr_tmpdir(owner=user, mode=0o700)
    folder = os.path.join(xdg, "procd")
    sock = os.path.join(folder, "procd.sock")
    keep = squat(kind, folder, user, other, usr_tmpdir)
    before = snapshot(folder)
    p = user_procd(srv_spawn, tmp_path, user, xdg)
    err = expect_refusal(p, sock)
    check_message(kind, err, folder)
    assert snapshot(folder) == before, "procd changed %s" % folder
    for path, snap in keep.items():
        assert snapshot(path) == snap, "procd changed %s (the symlink's target)" % path
    assert sorted(os.listdir(xdg)) == ["procd"], os.listdir(xdg)


@pytest.mark.parametrize("kind", ["absent", "existing-0700"])
def test_xdg_folder_good(tmp_path, srv_spawn, users, usr_tmpdir, kind):
    """Control: a missing folder is created 0700; a 0700 folder of the
    user's is used as it is."""
    user = users("a")
    xdg = usr_tmpdir(owner=user, mode=0o700)
    folder = os.path.join(xdg, "procd")
    sock = os.path.join(folder, "procd.sock")
    if kind == "existing-0700":
        os.mkdir(folder)
        os.chown(folder, user.uid, user.gid)
        os.chmod(folder, 0o700)
    p = user_procd(srv_spawn, tmp_path, user, xdg)
    wait_for_socket(sock, p.proc)
    st = os.lstat(folder)
    assert stat.S_ISDIR(st.st_mode) and st.st_uid == user.uid, st
    assert stat.S_IMODE(st.st_mode) == 0o700, oct(st.st_mode)
    c = Conn(sock)
    info = c.call("info")
    c.close()
    assert info["pid"] == p.pid and info["uid"] == user.uid, info
    p.proc.send_signal(signal.SIGTERM)
    assert p.wait(30) == 0, p.stderr_text()
    assert not os.path.lexists(sock)


@pytest.mark.parametrize("kind", ["writable-0777", "other-user"])
def test_tmp_fallback_folder_squatted(tmp_path, srv_spawn, users, usr_tmpdir, kind):
    """Without XDG_RUNTIME_DIR the folder is /tmp/procd-UID, which anyone
    could have made first."""
    user, other = users("a"), users("b")
    folder = "/tmp/procd-%d" % user.uid
    if os.path.lexists(folder):
        pytest.skip("%s exists already" % folder)
    sock = os.path.join(folder, "procd.sock")
    try:
        squat(kind, folder, user, other, usr_tmpdir)
        before = snapshot(folder)
        p = user_procd(srv_spawn, tmp_path, user, None)
        err = expect_refusal(p, sock)
        check_message(kind, err, folder)
        assert snapshot(folder) == before, "procd changed %s" % folder
    finally:
        if os.path.islink(folder):
            os.unlink(folder)
        elif os.path.isdir(folder):
            shutil.rmtree(folder, ignore_errors=True)


# --- --socket PATH: the user's choice of folder, within limits ---------------------------

def root_procd(srv_spawn, workdir, sock, *args):
    return srv_spawn(workdir, [PROCD, "--socket", sock, "-v"] + list(args), env=root_env())


def test_socket_option_parent_symlink(tmp_path, srv_spawn):
    real = tmp_path / "real"
    real.mkdir()
    os.chmod(real, 0o700)
    link = tmp_path / "link"
    os.symlink(str(real), str(link))
    sock = str(link / "procd.sock")
    before = snapshot(str(link))
    p = root_procd(srv_spawn, tmp_path, sock)
    err = expect_refusal(p, sock)
    assert SYMLINK_RE.search(err), "the message does not say symlink:\n%s" % err
    assert str(link) in err, err
    assert snapshot(str(link)) == before
    assert os.listdir(str(real)) == [], "procd created something behind the symlink"


@pytest.mark.parametrize("m", [0o777, 0o757], ids=oct)
def test_socket_option_parent_writable_by_others(tmp_path, srv_spawn, m):
    d = tmp_path / "open"
    d.mkdir()
    os.chmod(d, m)
    sock = str(d / "procd.sock")
    p = root_procd(srv_spawn, tmp_path, sock)
    err = expect_refusal(p, sock)
    assert WRITABLE_RE.search(err), "the message does not say writable:\n%s" % err
    assert str(d) in err, err
    assert mode(str(d)) == m
    assert os.listdir(str(d)) == []


@pytest.mark.parametrize("m", [0o1777, 0o1757, 0o755, 0o700], ids=oct)
def test_socket_option_parent_accepted(tmp_path, srv_spawn, m):
    """Sticky (like /tmp) or not writable by others: served."""
    d = tmp_path / "dir"
    d.mkdir()
    os.chmod(d, m)
    sock = str(d / "procd.sock")
    p = root_procd(srv_spawn, tmp_path, sock)
    wait_for_socket(sock, p.proc)
    c = Conn(sock)
    assert c.call("info")["pid"] == p.pid
    c.close()
    assert mode(str(d)) == m
    p.proc.send_signal(signal.SIGTERM)
    assert p.wait(30) == 0, p.stderr_text()
    assert not os.path.lexists(sock)


@pytest.mark.parametrize("target", ["dangling", "stale-socket", "file", "dir"])
def test_socket_option_symlink_at_path(tmp_path, srv_spawn, target):
    """A symlink at the socket's own path is neither followed nor removed,
    whatever it points to (a stale socket behind it included)."""
    sock = str(tmp_path / "procd.sock")
    tgt = str(tmp_path / "target")
    held = None
    if target == "stale-socket":
        held = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        held.bind(tgt)          # bound, never listening: connect is refused
        held.close()
    elif target == "file":
        with open(tgt, "w") as f:
            f.write("precious\n")
    elif target == "dir":
        os.mkdir(tgt)
    os.symlink(tgt, sock)
    before = snapshot(sock)
    tbefore = snapshot(tgt) if os.path.lexists(tgt) else None
    p = root_procd(srv_spawn, tmp_path, sock)
    expect_refusal(p, sock)
    assert snapshot(sock) == before, "procd changed the symlink at its path"
    if tbefore is None:
        assert not os.path.lexists(tgt), "procd created the symlink's target"
    else:
        assert snapshot(tgt) == tbefore, "procd changed the symlink's target"
    if target == "file":
        with open(tgt) as f:
            assert f.read() == "precious\n"


# --- socket mode and group ----------------------------------------------------------------

@pytest.mark.parametrize("opts,want,with_group", [
    (["--socket-mode", "0666"], 0o666, False),
    (["--socket-group", None], 0o660, True),
    (["--socket-group", None, "--socket-mode", "0666"], 0o666, True),
    (["--socket-group", None, "--socket-mode", "0640"], 0o640, True),
], ids=["mode-0666", "group", "group-mode-0666", "group-mode-0640"])
def test_socket_mode_and_group(tmp_path, srv_spawn, users, opts, want, with_group):
    user = users("a")
    args = [user.group if a is None else a for a in opts]
    sock = str(tmp_path / "procd.sock")
    p = root_procd(srv_spawn, tmp_path, sock, *args)
    wait_for_socket(sock, p.proc)
    st = os.lstat(sock)
    assert stat.S_ISSOCK(st.st_mode), st
    assert stat.S_IMODE(st.st_mode) == want, oct(st.st_mode)
    assert st.st_uid == 0, st
    assert st.st_gid == (user.gid if with_group else os.getegid()), st
    c = Conn(sock)
    assert c.call("info")["pid"] == p.pid
    c.close()
    p.proc.send_signal(signal.SIGTERM)
    assert p.wait(30) == 0, p.stderr_text()


# --- procctl checks who answers -----------------------------------------------------------

# Listens on argv[1] (made 0666), appends every byte it receives to
# argv[2], and answers each request line with a made-up result; keeps each
# connection until the client closes it. Creates argv[2] once it listens.
FAKE_SERVER = r"""
import json, os, socket, sys, threading
path, rec = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(path)
os.chmod(path, 0o666)
s.listen(16)
out = os.open(rec, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
def serve(c):
    buf = b""
    while True:
        try:
            d = c.recv(65536)
        except OSError:
            break
        if not d:
            break
        os.write(out, d)
        buf += d
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            try:
                rid = json.loads(line).get("id")
            except Exception:
                rid = None
            job = {"id": 1, "name": "fake", "argv": ["fake"], "cwd": "/", "pid": 1,
                   "ppid": 1, "parent": None, "children": [], "daemon": False,
                   "state": "running", "exitcode": None, "uid": os.getuid(),
                   "started_at": "2026-01-01T00:00:00.000Z", "exited_at": None,
                   "usage": None}
            ans = {"jsonrpc": "2.0", "id": rid, "result": job}
            try:
                c.sendall(json.dumps(ans).encode() + b"\n")
            except OSError:
                pass
    c.close()
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
"""


@pytest.fixture
def fake_server(usr_tmpdir):
    """fake_server(owner) -> (socket path, function giving the bytes
    received): a fake procd run as owner (a UsrUser, or None for root) in
    a folder of owner's that every uid can reach."""
    procs = []

    def make(owner):
        d = usr_tmpdir(owner=owner, mode=0o755)
        sock = os.path.join(d, "fake.sock")
        rec = os.path.join(d, "received")
        argv = [USR_PY, "-c", FAKE_SERVER, sock, rec]
        kw = dict(stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        p = as_user(owner, argv, **kw) if owner is not None else \
            subprocess.Popen(argv, env=root_env(), cwd="/", **kw)
        procs.append(p)
        wait_until(lambda: os.path.exists(rec) or p.poll() is not None, 10)
        assert p.poll() is None, "the fake server died"

        def received():
            with open(rec, "rb") as f:
                return f.read()
        return sock, received
    yield make
    for p in procs:
        p.kill()
        p.wait()


def check_refusal(r, sock, uid):
    assert r.returncode == 1, "procctl exit %d\nstdout: %s\nstderr: %s" % (
        r.returncode, r.stdout, r.stderr)
    assert sock in r.stderr, "the message does not name the socket:\n%s" % r.stderr
    rest = r.stderr.replace(sock, "")
    assert re.search(r"(?<![0-9])%d(?![0-9])" % uid, rest), \
        "the message does not name uid %d:\n%s" % (uid, r.stderr)


@pytest.mark.parametrize("cmd", [["info"], ["start", "--", "sleep", "1"],
                                 ["--json", "list"], ["call", "info"]],
                         ids=lambda c: " ".join(c))
def test_procctl_refuses_a_foreign_server(fake_server, users, cmd):
    user = users("a")
    sock, received = fake_server(user)
    r = subprocess.run([PROCCTL, "--socket", sock] + cmd, capture_output=True, text=True,
                       timeout=30, env=root_env(), stdin=subprocess.DEVNULL)
    time.sleep(0.5)             # anything procctl sent has reached the server
    got = received()
    assert got == b"", "procctl sent %d bytes to a server of uid %d: %r" % (
        len(got), user.uid, got[:200])
    check_refusal(r, sock, user.uid)


def test_procctl_refuses_a_procd_of_another_user(tmp_path, srv_spawn, users, usr_tmpdir):
    """procd runs as a throwaway user, procctl as root: root's procctl
    does not talk to it (though that procd would serve root)."""
    user = users("a")
    xdg = usr_tmpdir(owner=user, mode=0o700)
    sock = os.path.join(xdg, "procd", "procd.sock")
    p = user_procd(srv_spawn, tmp_path, user, xdg)
    wait_for_socket(sock, p.proc)
    r = subprocess.run([PROCCTL, "--socket", sock, "start", "--name", "squatted", "--",
                        "sleep", "1000"], capture_output=True, text=True, timeout=30,
                       env=root_env(), stdin=subprocess.DEVNULL, cwd="/")
    c = Conn(sock)
    jobs = c.call("list")
    c.close()
    assert jobs == [], "root's procctl started a job on uid %d's procd: %r" % (user.uid, jobs)
    check_refusal(r, sock, user.uid)
    # the same procd's own user is served by procctl as that user
    r = run_as_user(user, [PROCCTL, "--socket", sock, "--json", "info"])
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["pid"] == p.pid
    p.proc.send_signal(signal.SIGTERM)
    assert p.wait(30) == 0, p.stderr_text()


def test_procctl_trusts_a_root_server(fake_server, users):
    """A server running as root is trusted: procctl as a throwaway user
    sends its request and takes the answer."""
    user = users("a")
    sock, received = fake_server(None)
    r = run_as_user(user, [PROCCTL, "--socket", sock, "--json", "info"])
    time.sleep(0.2)
    got = received()
    assert b'"info"' in got, "procctl sent nothing to root's server (%r):\n%s" % (
        got, r.stderr)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["name"] == "fake", r.stdout


def test_procctl_trusts_a_root_procd(tmp_path, srv_spawn, users, usr_tmpdir):
    """procctl as a throwaway user against root's procd: not refused by
    the check; it gets what procd does (served, or procd's own -32004 and
    the close that follows it, which may reach procctl as a broken pipe)."""
    user = users("a")
    d = usr_tmpdir(mode=0o755)
    sock = os.path.join(d, "procd.sock")
    p = root_procd(srv_spawn, tmp_path, sock, "--socket-mode", "0666")
    wait_for_socket(sock, p.proc)
    r = run_as_user(user, [PROCCTL, "--socket", sock, "--json", "info"])
    if r.returncode == 0:
        assert json.loads(r.stdout)["pid"] == p.pid, r.stdout
    else:
        assert r.returncode == 1, r
        err = r.stderr.lower()
        assert re.search(r"permission denied|broken pipe|reset", err), \
            "procctl did not pass on procd's answer:\n%s" % r.stderr
        assert not re.search(r"(?<![0-9])0(?![0-9])", r.stderr.replace(sock, "")), \
            "procctl refused root's procd:\n%s" % r.stderr
    assert p.alive()
    p.proc.send_signal(signal.SIGTERM)
    assert p.wait(30) == 0, p.stderr_text()
