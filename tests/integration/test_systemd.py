# SPDX-License-Identifier: ISC
# systemd integration (procd(8) SYSTEMD and the worker's
# starting state): socket activation through systemd-socket-activate, the
# NOTIFY_SOCKET protocol (READY=1, STATUS=, STOPPING=1, WATCHDOG=1), the
# environment workers get, and systemd-analyze verify on the units.
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import uuid

import pytest

from conftest import PROCCTL, PROCD, UNITDIR, Conn, pid_alive, wait_until

SLEEP = ["sleep", "1000"]
SSA = shutil.which("systemd-socket-activate") or "/usr/bin/systemd-socket-activate"
ANALYZE = shutil.which("systemd-analyze") or "/usr/bin/systemd-analyze"
STRIPPED = ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "LISTEN_PID",
            "LISTEN_FDS", "LISTEN_FDNAMES")


class Notify:
    """The manager's end of NOTIFY_SOCKET: a datagram socket the test binds."""

    def __init__(self, path):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.s.bind(path if not path.startswith("@") else "\0" + path[1:])
        self.path = path
        self.lines = []      # every line received, with its arrival time

    def _recv(self, timeout):
        self.s.settimeout(max(timeout, 0.001))
        try:
            data = self.s.recv(65536)
        except socket.timeout:
            return False
        now = time.monotonic()
        for line in data.decode(errors="replace").split("\n"):
            if line:
                self.lines.append((now, line))
        return True

    def wait_for(self, pred, timeout=10.0, start=0):
        """The first line from index start on that satisfies pred."""
        deadline = time.monotonic() + timeout
        i = start
        while True:
            while i < len(self.lines):
                if pred(self.lines[i][1]):
                    return i, self.lines[i][1]
                i += 1
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("no matching notification; got %r"
                                     % [x[1] for x in self.lines[start:]])
            self._recv(left)

    def collect(self, seconds):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self._recv(deadline - time.monotonic())

    def count(self, text, since=0.0):
        return sum(1 for t, line in self.lines if line == text and t >= since)

    def close(self):
        self.s.close()


@pytest.fixture
def notify(tmp_path):
    n = Notify(str(tmp_path / "notify.sock"))
    yield n
    n.close()


def procd_argv(sock, *args):
    return [PROCD, "--socket", sock, "-v"] + list(args)


def watchdog_argv(sock, *args):
    """procd with WATCHDOG_PID set to its own pid: the shell execs it."""
    return ["/bin/sh", "-c", 'WATCHDOG_PID=$$; export WATCHDOG_PID; exec "$0" "$@"'] \
        + procd_argv(sock, *args)


def read_env_file(path):
    env = {}
    with open(path) as f:
        for line in f:
            k, sep, v = line.rstrip("\n").partition("=")
            if sep and re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", k):
                env[k] = v
    return env


def job_env(conn, tmp_path, name, env=None):
    """The environment a worker of this procd starts with."""
    out = str(tmp_path / (name + ".env"))
    p = {"argv": ["sh", "-c", 'env > "$1"', "sh", out]}
    if env:
        p["env"] = env
    j = conn.call("start", p)
    j = conn.call("join", {"job": j["id"], "timeout": 20})
    assert j["state"] == "exited" and j["exitcode"] == 0, j
    return read_env_file(out)


def worker_fds(pid):
    """The worker's fds once it sleeps: its dynamic loader opens libraries
    for a moment right after exec."""
    def asleep():
        try:
            with open("/proc/%d/wchan" % pid) as f:
                return "sleep" in f.read()
        except OSError:
            return False
    wait_until(asleep, 10)
    return sorted(int(x) for x in os.listdir("/proc/%d/fd" % pid))


# --- NOTIFY_SOCKET ---------------------------------------------------------------------

def test_ready_status_stopping(tmp_path, srv_spawn, notify):
    sock = str(tmp_path / "procd.sock")
    p = srv_spawn(tmp_path, procd_argv(sock), env={"NOTIFY_SOCKET": notify.path})
    i, _ = notify.wait_for(lambda l: l == "READY=1")
    # READY=1 means connections are accepted now: no retry
    c = Conn(sock)
    assert c.call("info")["pid"] == p.pid
    statuses = [l for _, l in notify.lines if l.startswith("STATUS=")]
    before = statuses[-1] if statuses else None
    job = c.call("start", {"argv": SLEEP})
    i, running = notify.wait_for(lambda l: l.startswith("STATUS=") and l != before, start=i + 1)
    assert running[len("STATUS="):].strip(), "empty STATUS="
    c.call("terminate", {"job": job["id"]})
    assert c.call("join", {"job": job["id"], "timeout": 20})["state"] == "exited"
    i, after = notify.wait_for(lambda l: l.startswith("STATUS=") and l != running, start=i + 1)
    assert after[len("STATUS="):].strip()
    assert not any(l == "STOPPING=1" for _, l in notify.lines)
    c.close()
    p.proc.send_signal(signal.SIGTERM)
    notify.wait_for(lambda l: l == "STOPPING=1", start=i + 1)
    assert p.wait(30) == 0, p.stderr_text()
    # nobody asked for a watchdog
    assert notify.count("WATCHDOG=1") == 0
    assert notify.count("READY=1") == 1


def test_stuck_notify_reader_does_not_stop_procd(tmp_path, srv_spawn, notify):
    """A manager that stops reading NOTIFY_SOCKET fills its queue; procd
    keeps serving, and once the reader is back the newest STATUS= arrives."""
    sock = str(tmp_path / "procd.sock")
    p = srv_spawn(tmp_path, procd_argv(sock), env={"NOTIFY_SOCKET": notify.path})
    notify.wait_for(lambda l: l == "READY=1")
    c = Conn(sock)
    # Each round changes the counts: far more STATUS= than the queue holds.
    for _ in range(100):
        j = c.call("start", {"argv": ["true"]}, timeout=5)
        c.call("join", {"job": j["id"]}, timeout=5)
        c.call("close", {"job": j["id"]}, timeout=5)
    keep = c.call("start", {"argv": SLEEP}, timeout=5)
    assert c.call("info", timeout=5)["jobs"]["running"] == 1
    notify.wait_for(lambda l: l.startswith("STATUS=1 running, 0 stopping, "
                                           "0 restarting, 0 waiting, "
                                           "0 exited"), timeout=5)
    c.call("kill", {"job": keep["id"]})
    c.close()
    p.proc.send_signal(signal.SIGTERM)
    notify.wait_for(lambda l: l == "STOPPING=1")
    assert p.wait(30) == 0, p.stderr_text()


def test_stopping_sent_before_jobs_are_stopped(tmp_path, srv_spawn, notify):
    sock = str(tmp_path / "procd.sock")
    p = srv_spawn(tmp_path, procd_argv(sock), env={"NOTIFY_SOCKET": notify.path})
    notify.wait_for(lambda l: l == "READY=1")
    ready = tmp_path / "ready"
    c = Conn(sock)
    j = c.call("start", {"argv": ["sh", "-c", 'trap "" TERM; : > "$1"; exec sleep 60', "sh",
                                  str(ready)], "stop_timeout": 2})
    wait_until(lambda: ready.exists())
    c.close()
    p.proc.send_signal(signal.SIGTERM)
    # the job ignores SIGTERM: procd is stopping for ~2 s, and says so at once
    notify.wait_for(lambda l: l == "STOPPING=1", timeout=1.5)
    assert p.alive()
    assert p.wait(30) == 0
    assert not pid_alive(j["pid"])


def test_abstract_notify_socket(tmp_path, srv_spawn):
    n = Notify("@procd-test-%s" % uuid.uuid4().hex)
    try:
        sock = str(tmp_path / "procd.sock")
        p = srv_spawn(tmp_path, procd_argv(sock), env={"NOTIFY_SOCKET": n.path})
        n.wait_for(lambda l: l == "READY=1")
        assert Conn(sock).call("info")["pid"] == p.pid
        assert p.stop() == 0
        n.wait_for(lambda l: l == "STOPPING=1")
    finally:
        n.close()


def test_watchdog_200ms(tmp_path, srv_spawn, notify):
    sock = str(tmp_path / "procd.sock")
    p = srv_spawn(tmp_path, watchdog_argv(sock),
                  env={"NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": "200000"})
    notify.wait_for(lambda l: l == "READY=1")
    t0 = time.monotonic()
    notify.wait_for(lambda l: l == "WATCHDOG=1", timeout=2)
    notify.collect(1.0)
    n = notify.count("WATCHDOG=1", since=t0)
    assert n >= 4, "only %d WATCHDOG=1 in about 1 s with a 200 ms interval" % n
    assert n <= 60, "%d WATCHDOG=1 in about 1 s: a busy loop?" % n
    assert Conn(sock).call("info")["pid"] == p.pid
    assert p.stop() == 0


def test_watchdog_at_half_the_interval(tmp_path, srv_spawn, notify):
    sock = str(tmp_path / "procd.sock")
    p = srv_spawn(tmp_path, watchdog_argv(sock),
                  env={"NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": "1000000"})
    _, _ = notify.wait_for(lambda l: l == "READY=1")
    t0 = time.monotonic()
    notify.collect(2.7)
    n = notify.count("WATCHDOG=1", since=t0)
    # every 0.5 s: about 5; every 1 s (the full interval) would be about 2
    assert 4 <= n <= 12, "%d WATCHDOG=1 in 2.7 s with a 1 s interval" % n
    assert p.stop() == 0


def test_watchdog_for_another_pid_ignored(tmp_path, srv_spawn, notify):
    sock = str(tmp_path / "procd.sock")
    p = srv_spawn(tmp_path, procd_argv(sock),
                  env={"NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": "200000",
                       "WATCHDOG_PID": "1"})
    notify.wait_for(lambda l: l == "READY=1")
    notify.collect(1.0)
    assert notify.count("WATCHDOG=1") == 0
    assert p.stop() == 0


def test_worker_env_has_no_manager_variables(tmp_path, srv_spawn, notify):
    sock = str(tmp_path / "procd.sock")
    p = srv_spawn(tmp_path, watchdog_argv(sock),
                  env={"NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": "5000000",
                       "PROCD_TEST_MARK": "kept"})
    notify.wait_for(lambda l: l == "READY=1")
    c = Conn(sock)
    env = job_env(c, tmp_path, "plain")
    assert env.get("PROCD_TEST_MARK") == "kept", env
    for k in STRIPPED:
        assert k not in env, "%s leaked into the worker: %r" % (k, env.get(k))
    # a client may set them explicitly
    env = job_env(c, tmp_path, "explicit",
                  {"NOTIFY_SOCKET": "/explicit", "WATCHDOG_PID": "42", "LISTEN_FDS": "0"})
    assert env.get("NOTIFY_SOCKET") == "/explicit"
    assert env.get("WATCHDOG_PID") == "42"
    assert env.get("LISTEN_FDS") == "0"
    assert "WATCHDOG_USEC" not in env
    # procd's own notifications still work after the workers ran
    c.close()
    assert p.stop() == 0
    notify.wait_for(lambda l: l == "STOPPING=1")


# --- socket activation ----------------------------------------------------------------------

def activated(srv_spawn, tmp_path, paths, env=None):
    """procd under systemd-socket-activate, which passes its child only
    TERM, PATH, USER, HOME and what -E names."""
    argv = [SSA]
    for path in paths:
        argv += ["-l", path]
    e = {"PROCD_SOCKET": str(tmp_path / "not-this.sock")}
    if env:
        e.update(env)
    for k, v in sorted(e.items()):
        argv += ["-E", "%s=%s" % (k, v)]
    argv += ["--fdname=procd", PROCD, "-v"]
    p = srv_spawn(tmp_path, argv, env=e)
    wait_until(lambda: all(os.path.exists(x) for x in paths) or p.proc.poll() is not None)
    assert p.alive(), p.stderr_text()
    return p


def test_socket_activation(tmp_path, srv_spawn):
    path = str(tmp_path / "act" / "procd.sock")
    os.makedirs(os.path.dirname(path))
    p = activated(srv_spawn, tmp_path, [path])
    ino = os.lstat(path).st_ino
    c = Conn(path)      # the first connection makes systemd-socket-activate exec procd
    info = c.call("info", timeout=20)
    assert info["pid"] == p.pid
    # procd created no socket of its own
    assert not os.path.lexists(str(tmp_path / "not-this.sock"))
    assert os.lstat(path).st_ino == ino
    # it keeps serving the socket it was given
    for _ in range(20):
        x = Conn(path)
        assert x.call("info")["pid"] == p.pid
        x.close()
    # the listening fd is not passed on to workers; nor is LISTEN_*
    j = c.call("start", {"argv": SLEEP})
    assert worker_fds(j["pid"]) == [0, 1, 2]
    env = job_env(c, tmp_path, "activated")
    for k in STRIPPED:
        assert k not in env, "%s leaked into the worker: %r" % (k, env.get(k))
    c.close()
    assert p.stop() == 0, p.stderr_text()
    # a socket procd did not create is never removed
    assert os.path.lexists(path) and os.lstat(path).st_ino == ino
    assert not os.path.lexists(str(tmp_path / "not-this.sock"))


def test_socket_activation_several_sockets(tmp_path, srv_spawn):
    paths = [str(tmp_path / "a.sock"), str(tmp_path / "b.sock")]
    p = activated(srv_spawn, tmp_path, paths)
    a = Conn(paths[0])
    assert a.call("info", timeout=20)["pid"] == p.pid
    b = Conn(paths[1])
    assert b.call("info")["pid"] == p.pid
    j = b.call("start", {"argv": SLEEP})
    assert [x["id"] for x in a.call("list")] == [j["id"]]
    assert worker_fds(j["pid"]) == [0, 1, 2]
    a.close()
    b.close()
    assert p.stop() == 0
    for path in paths:
        assert os.path.lexists(path)


def test_socket_activation_with_notify(tmp_path, srv_spawn, notify):
    path = str(tmp_path / "procd.sock")
    p = activated(srv_spawn, tmp_path, [path], env={"NOTIFY_SOCKET": notify.path})
    c = Conn(path)
    assert c.call("info", timeout=20)["pid"] == p.pid
    notify.wait_for(lambda l: l == "READY=1")
    c.close()
    assert p.stop() == 0
    notify.wait_for(lambda l: l == "STOPPING=1")
    assert os.path.lexists(path)


# --- units -----------------------------------------------------------------------------------

def unit_text(sub, name):
    """A built unit (units/NAME), else its template with the paths filled."""
    built = os.path.join(UNITDIR, sub, name)
    if os.path.exists(built):
        with open(built) as f:
            return f.read()
    tmpl = built + ".in"
    assert os.path.exists(tmpl), "no unit %s or %s" % (built, tmpl)
    with open(tmpl) as f:
        text = f.read()
    return text.replace("@sbindir@", "/usr/sbin").replace("@bindir@", "/usr/bin")


def unit_settings(text):
    out = {}
    section = None
    for line in text.splitlines():
        line = line.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        k, _, v = line.partition("=")
        out.setdefault((section, k.strip()), []).append(v.strip())
    return out


def exec_binary(text):
    m = re.search(r"^ExecStart=[-@:+!]*(\S+)", text, re.M)
    assert m, "no ExecStart="
    return m.group(1)


@pytest.mark.parametrize("sub", ["", "user"])
def test_units_verify(tmp_path, sub):
    d = tmp_path / (sub or "system")
    d.mkdir()
    files = []
    for name in ("procd.service", "procd.socket"):
        text = unit_text(sub, name)
        if name.endswith(".service"):
            binary = exec_binary(text)
            assert os.path.basename(binary) == "procd", binary
            if not os.path.exists(binary):     # not installed here: use the built one
                text = text.replace("ExecStart=" + binary, "ExecStart=" + os.path.abspath(PROCD))
            m = re.search(r"^ExecReload=[-@:+!]*(\S+)", text, re.M)
            assert m, "no ExecReload="
            assert os.path.basename(m.group(1)) == "procctl", m.group(1)
            if not os.path.exists(m.group(1)):
                text = text.replace("ExecReload=" + m.group(1),
                                    "ExecReload=" + os.path.abspath(PROCCTL))
        (d / name).write_text(text)
        files.append(str(d / name))
    env = dict(os.environ)
    cmd = [ANALYZE]
    if sub == "user":
        rt = tmp_path / "runtime"
        rt.mkdir(mode=0o700)
        env["XDG_RUNTIME_DIR"] = str(rt)
        cmd.append("--user")
    # the man pages named in Documentation= are not installed in the build tree
    cmd += ["--man=no", "verify"] + files
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    noise = [l for l in (r.stdout + r.stderr).splitlines() if "procd" in l]
    assert not noise, noise


@pytest.mark.parametrize("sub", ["", "user"])
def test_units_content(sub):
    svc = unit_settings(unit_text(sub, "procd.service"))
    sck = unit_settings(unit_text(sub, "procd.socket"))
    assert svc.get(("Service", "Type")) == ["notify"]
    assert svc.get(("Service", "KillMode")) == ["mixed"]
    listen = sck.get(("Socket", "ListenStream"))
    if sub == "user":
        assert listen == ["%t/procd/procd.sock"], listen
    else:
        assert listen == ["/run/procd/procd.sock"], listen
    # section 8: the system socket is every local user's, as the D-Bus
    # system bus is (procd checks each request); a user's own is private
    if sub == "user":
        assert sck.get(("Socket", "SocketMode")) == ["0600"]
    else:
        assert sck.get(("Socket", "SocketMode")) == ["0666"]
        assert sck.get(("Socket", "DirectoryMode")) == ["0755"]
