# SPDX-License-Identifier: ISC
# The socket (procd(8) THE SOCKET): its folder and modes, what procd does
# with whatever is already at the path, removal on a clean stop, path
# resolution for procd and procctl, and peer credentials.
import json
import os
import pwd
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile

import pytest

from conftest import (PROCCTL, PROCD, Conn, srv_check, wait_for_socket,
                      wait_until)

NOBODY = 65534
SLEEP = ["sleep", "1000"]

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to switch uids")


def clean_env(**extra):
    e = dict(os.environ)
    for k in ("PROCD_SOCKET", "NOTIFY_SOCKET", "LISTEN_PID", "LISTEN_FDS",
              "LISTEN_FDNAMES", "WATCHDOG_USEC", "WATCHDOG_PID", "XDG_RUNTIME_DIR"):
        e.pop(k, None)
    e.update(extra)
    return e


def mode(path):
    return stat.S_IMODE(os.lstat(path).st_mode)


def start(srv_spawn, tmp_path, sock, *args, env=None, **kw):
    p = srv_spawn(tmp_path, [PROCD, "--socket", sock, "-v"] + list(args), env=env, **kw)
    wait_for_socket(sock, p.proc)
    return p


def expect_startup_failure(p, codes=(1,)):
    try:
        rc = p.wait(15)
    except subprocess.TimeoutExpired:
        pytest.fail("procd kept running; it should have exited 1")
    assert rc in codes, "exit status %r\n%s" % (rc, p.stderr_text())
    assert p.stderr_text().strip(), "procd exited 1 without a message"


def umask(m):
    def f():
        os.umask(m)
    return f


def public_dir():
    """A folder other uids can reach (pytest's own tmp folder is 0700)."""
    d = tempfile.mkdtemp(prefix="procd-test-", dir="/tmp")
    os.chmod(d, 0o755)
    return d


# --- folder and modes -------------------------------------------------------------

@pytest.mark.parametrize("um", [0o022, 0o000, 0o077])
def test_folder_0700_and_socket_0600(tmp_path, srv_spawn, um):
    sock = str(tmp_path / "new" / "deeper" / "procd.sock")
    p = start(srv_spawn, tmp_path, sock, preexec_fn=umask(um))
    parent = os.path.dirname(sock)
    assert stat.S_ISDIR(os.lstat(parent).st_mode)
    assert mode(parent) == 0o700, oct(mode(parent))
    st = os.lstat(sock)
    assert stat.S_ISSOCK(st.st_mode)
    assert mode(sock) == 0o600, oct(mode(sock))
    assert st.st_uid == os.geteuid()
    c = Conn(sock)
    assert c.call("info")["pid"] == p.pid
    c.close()
    assert p.stop() == 0, p.stderr_text()


def test_existing_folder_left_alone(tmp_path, srv_spawn):
    d = tmp_path / "shared"
    d.mkdir()
    os.chmod(d, 0o755)
    sock = str(d / "procd.sock")
    p = start(srv_spawn, tmp_path, sock)
    assert mode(str(d)) == 0o755
    assert p.stop() == 0
    assert d.is_dir()


@pytest.mark.parametrize("opt,want", [("0660", 0o660), ("0640", 0o640), ("0666", 0o666)])
@pytest.mark.parametrize("um", [0o022, 0o077])
def test_socket_mode_option(tmp_path, srv_spawn, opt, want, um):
    sock = str(tmp_path / "procd.sock")
    p = start(srv_spawn, tmp_path, sock, "--socket-mode", opt, preexec_fn=umask(um))
    assert mode(sock) == want, oct(mode(sock))
    assert Conn(sock).call("info")["pid"] == p.pid
    assert p.stop() == 0


@needs_root
def test_socket_group_option(tmp_path, srv_spawn):
    import grp
    name = grp.getgrgid(NOBODY).gr_name
    sock = str(tmp_path / "procd.sock")
    p = start(srv_spawn, tmp_path, sock, "--socket-group", name, "--socket-mode", "0660")
    st = os.lstat(sock)
    assert st.st_gid == NOBODY
    assert mode(sock) == 0o660
    assert p.stop() == 0
    # a group alone opens the socket to it: 0660
    p = start(srv_spawn, tmp_path, sock, "--socket-group", name)
    assert os.lstat(sock).st_gid == NOBODY and mode(sock) == 0o660
    assert p.stop() == 0
    # a mode given with it wins
    p = start(srv_spawn, tmp_path, sock, "--socket-group", name, "--socket-mode", "0640")
    assert mode(sock) == 0o640
    assert p.stop() == 0


def test_socket_group_unknown(tmp_path, srv_spawn):
    sock = str(tmp_path / "procd.sock")
    p = srv_spawn(tmp_path, [PROCD, "--socket", sock, "--socket-group", "no-such-group-procd"])
    # a bad option value may count as a usage error (2) or a startup failure (1)
    expect_startup_failure(p, codes=(1, 2))
    assert not os.path.lexists(sock)


# --- what is already at the path ------------------------------------------------------

def test_stale_socket_replaced(tmp_path, srv_spawn):
    sock = str(tmp_path / "procd.sock")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(sock)            # bound, never listening: connect is refused
    s.close()
    assert stat.S_ISSOCK(os.lstat(sock).st_mode)
    p = start(srv_spawn, tmp_path, sock)
    c = Conn(sock)
    assert c.call("info")["pid"] == p.pid
    c.close()
    assert mode(sock) == 0o600
    assert p.stop() == 0, p.stderr_text()
    assert not os.path.lexists(sock)


def test_stale_socket_still_bound(tmp_path, srv_spawn):
    sock = str(tmp_path / "procd.sock")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(sock)            # bound by a live process that does not listen
    try:
        p = start(srv_spawn, tmp_path, sock)
        assert Conn(sock).call("info")["pid"] == p.pid
        assert p.stop() == 0
    finally:
        s.close()


def test_live_daemon_not_replaced(tmp_path, srv_spawn):
    sock = str(tmp_path / "procd.sock")
    a = start(srv_spawn, tmp_path, sock)
    before = Conn(sock)
    job = before.call("start", {"argv": SLEEP})
    ino = os.lstat(sock).st_ino
    b = srv_spawn(tmp_path, [PROCD, "--socket", sock, "-v"])
    expect_startup_failure(b)
    assert a.alive()
    assert os.lstat(sock).st_ino == ino
    assert before.call("status", {"job": job["id"]})["state"] == "running"
    c = Conn(sock)
    assert c.call("info")["pid"] == a.pid
    c.close()
    before.close()
    assert a.stop() == 0, a.stderr_text()
    assert not os.path.lexists(sock)


@pytest.mark.parametrize("kind", ["file", "empty-file", "dir", "fifo", "symlink"])
def test_non_socket_never_deleted(tmp_path, srv_spawn, kind):
    sock = str(tmp_path / "procd.sock")
    if kind == "file":
        with open(sock, "w") as f:
            f.write("precious\n")
    elif kind == "empty-file":
        open(sock, "w").close()
    elif kind == "dir":
        os.mkdir(sock)
        open(os.path.join(sock, "inside"), "w").close()
    elif kind == "fifo":
        os.mkfifo(sock)
    elif kind == "symlink":
        target = tmp_path / "target"
        target.write_text("precious\n")
        os.symlink(str(target), sock)
    before = os.lstat(sock)
    p = srv_spawn(tmp_path, [PROCD, "--socket", sock, "-v"])
    expect_startup_failure(p)
    after = os.lstat(sock)
    assert (after.st_ino, after.st_mode) == (before.st_ino, before.st_mode)
    if kind == "file":
        with open(sock) as f:
            assert f.read() == "precious\n"
    if kind == "dir":
        assert os.path.exists(os.path.join(sock, "inside"))
    if kind == "symlink":
        assert (tmp_path / "target").read_text() == "precious\n"


# --- clean stop -----------------------------------------------------------------------------

@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_clean_stop_removes_socket(tmp_path, srv_spawn, sig):
    sock = str(tmp_path / "run" / "procd.sock")
    p = start(srv_spawn, tmp_path, sock)
    c = Conn(sock)
    c.call("start", {"argv": SLEEP})
    c.close()
    p.proc.send_signal(sig)
    assert p.wait(30) == 0, p.stderr_text()
    assert not os.path.lexists(sock)


def test_clean_stop_leaves_a_replaced_file(tmp_path, srv_spawn):
    """Someone put a file of their own where procd's socket was: not procd's
    to delete."""
    sock = str(tmp_path / "procd.sock")
    p = start(srv_spawn, tmp_path, sock)
    os.unlink(sock)
    with open(sock, "w") as f:
        f.write("precious\n")
    p.proc.send_signal(signal.SIGTERM)
    assert p.wait(30) == 0, p.stderr_text()
    with open(sock) as f:
        assert f.read() == "precious\n"


def test_clean_stop_leaves_another_daemons_socket(tmp_path, srv_spawn):
    """A's socket was removed and B made a new one at the path: A's clean
    stop must not cut B off."""
    sock = str(tmp_path / "procd.sock")
    a = start(srv_spawn, tmp_path / "a", sock)
    os.unlink(sock)
    b = start(srv_spawn, tmp_path / "b", sock)
    a.proc.send_signal(signal.SIGTERM)
    assert a.wait(30) == 0, a.stderr_text()
    assert stat.S_ISSOCK(os.lstat(sock).st_mode)
    assert Conn(sock).call("info")["pid"] == b.pid
    b.proc.send_signal(signal.SIGTERM)
    assert b.wait(30) == 0, b.stderr_text()
    assert not os.path.lexists(sock)


# --- path resolution ----------------------------------------------------------------------

def run_ctl(args, env, **kw):
    return subprocess.run([PROCCTL] + list(args), capture_output=True, text=True,
                          timeout=30, env=env, **kw)


def test_procd_socket_env(tmp_path, srv_spawn):
    sock = str(tmp_path / "env" / "procd.sock")
    env = clean_env(PROCD_SOCKET=sock)
    p = srv_spawn(tmp_path, [PROCD, "-v"], env=env)
    wait_for_socket(sock, p.proc)
    c = Conn(sock)
    info = c.call("info")
    c.close()
    assert info["pid"] == p.pid
    assert info["socket"] == sock
    # procctl finds it the same way
    r = run_ctl(["--json", "info"], env)
    assert r.returncode == 0, r.stderr
    got = json.loads(r.stdout)
    assert got["pid"] == p.pid and got["socket"] == sock
    # --socket wins over PROCD_SOCKET
    r = run_ctl(["--socket", sock, "--json", "info"],
                clean_env(PROCD_SOCKET=str(tmp_path / "nothing-here.sock")))
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["pid"] == p.pid
    assert p.stop() == 0
    assert not os.path.lexists(sock)


def test_option_beats_env_for_procd(tmp_path, srv_spawn):
    sock = str(tmp_path / "opt.sock")
    other = str(tmp_path / "other" / "env.sock")
    p = srv_spawn(tmp_path, [PROCD, "--socket", sock, "-v"], env=clean_env(PROCD_SOCKET=other))
    wait_for_socket(sock, p.proc)
    assert not os.path.lexists(other)
    c = Conn(sock)
    assert c.call("info")["socket"] == sock
    c.close()
    assert p.stop() == 0


def test_procctl_error_names_the_socket(tmp_path):
    sock = str(tmp_path / "nobody-listens.sock")
    r = run_ctl(["--socket", sock, "info"], clean_env())
    assert r.returncode == 1
    assert sock in r.stderr
    r = run_ctl(["info"], clean_env(PROCD_SOCKET=sock))
    assert r.returncode == 1
    assert sock in r.stderr


@needs_root
def test_root_default_path(tmp_path):
    default = "/run/procd/procd.sock"
    if os.path.lexists(default):
        pytest.skip("a procd socket exists at %s; not disturbing it" % default)
    r = run_ctl(["info"], clean_env())
    assert r.returncode == 1
    assert default in r.stderr, r.stderr
    # uid 0 ignores XDG_RUNTIME_DIR
    r = run_ctl(["info"], clean_env(XDG_RUNTIME_DIR=str(tmp_path)))
    assert r.returncode == 1
    assert default in r.stderr, r.stderr
    assert str(tmp_path) not in r.stderr


def as_nobody():
    return {"user": NOBODY, "group": NOBODY, "extra_groups": []}


@pytest.fixture
def nobody_runtime_dir():
    d = tempfile.mkdtemp(prefix="procd-xdg-", dir="/tmp")
    os.chown(d, NOBODY, NOBODY)
    os.chmod(d, 0o700)
    yield d
    shutil.rmtree(d, ignore_errors=True)


@needs_root
def test_procctl_non_root_default_paths(nobody_runtime_dir):
    r = run_ctl(["info"], clean_env(XDG_RUNTIME_DIR=nobody_runtime_dir), **as_nobody())
    assert r.returncode == 1
    assert os.path.join(nobody_runtime_dir, "procd", "procd.sock") in r.stderr, r.stderr
    if os.path.lexists("/tmp/procd-%d/procd.sock" % NOBODY):
        return
    r = run_ctl(["info"], clean_env(), **as_nobody())
    assert r.returncode == 1
    assert "/tmp/procd-%d/procd.sock" % NOBODY in r.stderr, r.stderr


@needs_root
def test_xdg_runtime_dir(tmp_path, srv_spawn, nobody_runtime_dir):
    env = clean_env(XDG_RUNTIME_DIR=nobody_runtime_dir)
    sock = os.path.join(nobody_runtime_dir, "procd", "procd.sock")
    p = srv_spawn(tmp_path, [PROCD, "-v"], env=env, **as_nobody())
    wait_for_socket(sock, p.proc)
    st = os.lstat(os.path.dirname(sock))
    assert st.st_uid == NOBODY and stat.S_IMODE(st.st_mode) == 0o700
    st = os.lstat(sock)
    assert st.st_uid == NOBODY and stat.S_IMODE(st.st_mode) == 0o600
    # procd's own uid is served: procctl as nobody finds the same path
    r = run_ctl(["--json", "info"], env, **as_nobody())
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    assert info["pid"] == p.pid and info["socket"] == sock and info["uid"] == NOBODY
    # root is served too
    c = Conn(sock)
    j = c.call("start", {"argv": SLEEP})
    assert j["uid"] == 0
    c.close()
    assert p.stop() == 0, p.stderr_text()
    assert not os.path.lexists(sock)


@needs_root
def test_tmp_fallback_without_xdg(tmp_path, srv_spawn):
    folder = "/tmp/procd-%d" % NOBODY
    if os.path.lexists(folder):
        pytest.skip("%s exists already" % folder)
    sock = folder + "/procd.sock"
    try:
        p = srv_spawn(tmp_path, [PROCD, "-v"], env=clean_env(), **as_nobody())
        wait_for_socket(sock, p.proc)
        st = os.lstat(folder)
        assert st.st_uid == NOBODY and stat.S_IMODE(st.st_mode) == 0o700
        r = run_ctl(["--json", "info"], clean_env(), **as_nobody())
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout)["socket"] == sock
        assert p.stop() == 0
        assert not os.path.lexists(sock)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


# --- peer credentials ---------------------------------------------------------------------

CLIENT = r"""
import json, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(float(sys.argv[2]))
s.connect(sys.argv[1])
try:
    s.sendall(b'{"jsonrpc":"2.0","method":"start","params":{"argv":["sleep","1000"]},"id":1}\n')
except OSError:
    pass
buf = b""
end = "eof"
while True:
    try:
        c = s.recv(65536)
    except ConnectionResetError:
        end = "reset"
        break
    except socket.timeout:
        end = "timeout"
        break
    if not c:
        break
    buf += c
print(json.dumps({"end": end, "data": buf.decode(errors="replace")}))
"""


def foreign_client(sock, uid, wait=10.0):
    r = subprocess.run([sys.executable, "-c", CLIENT, sock, str(wait)],
                       capture_output=True, text=True,
                       timeout=30, user=uid, group=uid, extra_groups=[])
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


@needs_root
@pytest.mark.parametrize("uid", [NOBODY, 12345])
def test_peer_other_uid_served_by_root_procd(tmp_path, srv_spawn, uid):
    """Section 8: a root procd serves every uid; the job runs as its owner."""
    d = public_dir()
    try:
        sock = os.path.join(d, "procd.sock")
        p = start(srv_spawn, tmp_path, sock, "--socket-mode", "0666")
        out = foreign_client(sock, uid, wait=2.0)
        assert out["end"] == "timeout", out      # served, connection kept
        msgs = [json.loads(x) for x in out["data"].splitlines() if x]
        assert len(msgs) == 1, msgs
        srv_check(msgs[0], 1)
        j = msgs[0]["result"]
        assert j["uid"] == uid and j["gid"] == uid, j
        assert j["user"] == (pwd.getpwuid(uid).pw_name if uid == NOBODY else None), j
        c = Conn(sock)
        jobs = c.call("list")
        assert [x["uid"] for x in jobs] == [uid]
        c.call("kill", {"job": j["id"]})
        c.close()
        assert p.stop() == 0, p.stderr_text()
    finally:
        shutil.rmtree(d, ignore_errors=True)


@needs_root
def test_peer_refused_under_non_root_daemon(tmp_path, srv_spawn):
    """procd running as nobody: root and nobody are served, a third uid not."""
    d = public_dir()
    try:
        os.chown(d, NOBODY, NOBODY)
        sock = os.path.join(d, "procd.sock")
        p = start(srv_spawn, tmp_path, sock, "--socket-mode", "0666", **as_nobody())
        out = foreign_client(sock, 12345)
        msgs = [json.loads(x) for x in out["data"].splitlines() if x]
        assert len(msgs) == 1 and out["end"] in ("eof", "reset"), out
        srv_check(msgs[0], msgs[0].get("id"), -32004)
        out = foreign_client(sock, NOBODY, wait=2.0)
        msgs = [json.loads(x) for x in out["data"].splitlines() if x]
        assert out["end"] == "timeout", out      # served, connection kept
        assert len(msgs) == 1, msgs
        srv_check(msgs[0], 1)
        assert msgs[0]["result"]["uid"] == NOBODY
        c = Conn(sock)
        jobs = c.call("list")
        assert [j["uid"] for j in jobs] == [NOBODY]
        c.close()
        assert p.stop() == 0, p.stderr_text()
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_peer_same_uid_served(procd):
    c = procd.connect()
    j = c.call("start", {"argv": SLEEP})
    assert j["uid"] == os.geteuid()
    wait_until(lambda: c.call("status", {"job": j["id"]})["state"] == "running")
