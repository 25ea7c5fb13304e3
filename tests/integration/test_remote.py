# SPDX-License-Identifier: ISC
# procctl on other hosts (procctl(1), --host and bridge): procctl -H
# [USER@]HOST[:SOCKET] runs "ssh ... -- HOST procctl bridge [--socket
# SOCKET]" and talks over ssh's stdin and stdout as over procd's socket;
# procctl bridge relays bytes between its stdin/stdout and the socket.
# Driven against a real sshd on 127.0.0.1 with throwaway keys; the built
# procctl is the one on the remote PATH (sshd's SetEnv), so the real
# lookup of "procctl" there is what runs. Every procctl -H runs under a
# subreaper that reports any ssh it left running or unreaped.
import fcntl
import hashlib
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import termios
import time

import pytest

from conftest import (PROCCTL, PROCD, USR_PY, Conn, Procd, lc_status, run_as_user,
                      wait_for_socket, wait_until, Lines, lines_wait_events_shown)

SSHD = "/usr/sbin/sshd"
SSH = shutil.which("ssh")
SSH_KEYGEN = shutil.which("ssh-keygen")

pytestmark = [
    pytest.mark.skipif(not os.access(SSHD, os.X_OK),
                       reason="sshd is not installed (Debian: openssh-server)"),
    pytest.mark.skipif(SSH is None or SSH_KEYGEN is None,
                       reason="ssh or ssh-keygen is not installed (Debian: openssh-client)"),
    pytest.mark.skipif(os.geteuid() != 0,
                       reason="the private sshd needs root (its privilege separation)"),
]

CTLDIR = os.path.dirname(os.path.abspath(PROCCTL))

# Runs argv[2:] (procctl) as its child, being a subreaper: whatever
# procctl leaves behind (an ssh still running, or one it never reaped)
# becomes this process's child when procctl exits. Writes those as JSON to
# argv[1] (with "ended": whether each had ended within 10 s), kills and
# reaps them, and exits with procctl's status. An interrupt sent to the
# whole group is procctl's to act on, not this one's.
REAPER = r"""
import ctypes, json, os, signal, sys, time
report, argv = sys.argv[1], sys.argv[2:]
libc = ctypes.CDLL(None, use_errno=True)
if libc.prctl(36, 1, 0, 0, 0) != 0:          # PR_SET_CHILD_SUBREAPER
    sys.exit("reaper: prctl: %s" % os.strerror(ctypes.get_errno()))
pid = os.fork()
if pid == 0:
    try:
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
        os.execv(argv[0], argv)
    finally:
        os._exit(127)
signal.signal(signal.SIGINT, signal.SIG_IGN)
signal.signal(signal.SIGTERM, signal.SIG_IGN)
while True:
    try:
        _, status = os.waitpid(pid, 0)
        break
    except InterruptedError:
        pass
left = []
for d in os.listdir("/proc"):
    if not d.isdigit():
        continue
    try:
        with open("/proc/%s/stat" % d) as f:
            s = f.read()
    except OSError:
        continue
    rest = s.rsplit(")", 1)[1].split()
    if int(rest[1]) == os.getpid():
        left.append({"pid": int(d), "state": rest[0],
                     "comm": s.split("(", 1)[1].rsplit(")", 1)[0]})
def ended(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True
deadline = time.monotonic() + 10
for p in left:
    while not ended(p["pid"]) and time.monotonic() < deadline:
        time.sleep(0.02)
    p["ended"] = ended(p["pid"])
with open(report, "w") as f:
    json.dump(left, f)
for p in left:
    try:
        os.kill(p["pid"], signal.SIGKILL)
    except OSError:
        pass
try:
    while True:
        os.waitpid(-1, 0)
except ChildProcessError:
    pass
code = os.waitstatus_to_exitcode(status)
sys.exit(code if code >= 0 else 128 - code)
"""


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def ipv6_loopback():
    """Whether ::1 can be listened on here (not in every container)."""
    try:
        s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    except OSError:
        return False
    try:
        s.bind(("::1", 0))
        return True
    except OSError:
        return False
    finally:
        s.close()


def write(path, text, mode=0o644):
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)
    return path


class Sshd:
    """A private sshd on 127.0.0.1 with throwaway host and client keys, and
    a PROCCTL_SSH wrapper that gives ssh its client configuration."""

    def __init__(self):
        # Under /tmp and open to all: a throwaway user's login reads the
        # authorized keys, and runs the wrappers.
        self.dir = tempfile.mkdtemp(prefix="procd-ssh-", dir="/tmp")
        os.chmod(self.dir, 0o755)
        d = self.dir
        for key in ("host_key", "client_key"):
            subprocess.run([SSH_KEYGEN, "-q", "-t", "ed25519", "-N", "", "-C", key,
                            "-f", os.path.join(d, key)], check=True, timeout=60,
                           stdin=subprocess.DEVNULL)
        shutil.copy(os.path.join(d, "client_key.pub"), os.path.join(d, "authorized_keys"))
        os.chmod(os.path.join(d, "authorized_keys"), 0o644)
        self.port = free_port()
        self.ipv6 = ipv6_loopback()
        self.config = write(os.path.join(d, "sshd_config"), "\n".join([
            "ListenAddress 127.0.0.1",
            "ListenAddress [::1]" if self.ipv6 else "",
            "Port %d" % self.port,
            "HostKey %s/host_key" % d,
            "AuthorizedKeysFile %s/authorized_keys" % d,
            "PidFile none",
            "UsePAM no",
            "PermitRootLogin prohibit-password",
            "StrictModes no",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "X11Forwarding no",
            # the built procctl first on the PATH of every session: the
            # remote side of -H runs plain "procctl" from there
            "SetEnv PATH=%s:/usr/local/bin:/usr/bin:/bin" % CTLDIR,
            ""]))
        self.client_config = write(os.path.join(d, "ssh_config"), "\n".join([
            "Host *",
            "  Port %d" % self.port,
            "  IdentityFile %s/client_key" % d,
            "  IdentitiesOnly yes",
            "  UserKnownHostsFile %s/known_hosts" % d,
            "  GlobalKnownHostsFile /dev/null",
            "  StrictHostKeyChecking accept-new",
            "  BatchMode yes",
            "  LogLevel ERROR",
            ""]))
        self.wrapper = self.ssh_wrapper("ssh")
        # sshd insists on its privilege separation folder (made by the
        # service unit, which is not running here)
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
        self.log = os.path.join(d, "sshd.log")
        self.logf = open(self.log, "wb")
        self.proc = subprocess.Popen([SSHD, "-D", "-e", "-f", self.config],
                                     stdin=subprocess.DEVNULL, stdout=self.logf,
                                     stderr=self.logf)

        def listening():
            assert self.proc.poll() is None, "sshd exited:\n" + self.log_text()
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                s.connect(("127.0.0.1", self.port))
                return True
            except OSError:
                return False
            finally:
                s.close()
        wait_until(listening, 20)

    def ssh_wrapper(self, name, extra=""):
        """A PROCCTL_SSH program: ssh with this client config (and extra
        options before the caller's)."""
        return write(os.path.join(self.dir, name),
                     '#!/bin/sh\nexec %s -F %s %s "$@"\n' % (SSH, self.client_config, extra),
                     0o755)

    def log_text(self):
        self.logf.flush()
        with open(self.log, "rb") as f:
            return f.read().decode(errors="replace")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.logf.close()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="module")
def sshd():
    s = Sshd()
    yield s
    s.stop()


@pytest.fixture
def remote(sshd, procd):
    """The procd fixture's socket, reached over -H."""
    check_remote_procctl(sshd, "root")
    return Remote(sshd, procd)


_checked = set()


def check_remote_procctl(sshd, user):
    """The remote shell of user finds the built procctl (a startup file of
    that shell could put another one first)."""
    if user in _checked:
        return
    r = subprocess.run([sshd.wrapper, "-l", user, "--", "localhost", "command -v procctl"],
                       capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, "ssh to %s@localhost failed:\n%s\n%s" % (
        user, r.stderr, sshd.log_text()[-3000:])
    found = r.stdout.strip().splitlines()[-1] if r.stdout.strip() else ""
    assert found and os.path.samefile(found, PROCCTL), \
        "the remote PATH finds %r, not the built %s" % (found, PROCCTL)
    _checked.add(user)


class Remote:
    def __init__(self, sshd, procd):
        self.sshd = sshd
        self.procd = procd
        self.env = dict(procd.env, PROCCTL_SSH=sshd.wrapper)
        self.env.pop("PROCD_SOCKET", None)

    def host(self, user=None, sock=None):
        h = "localhost:%s" % (sock or self.procd.sock)
        return "%s@%s" % (user, h) if user else h

    def argv(self, *args, user=None, sock=None, spec=None, report):
        return [USR_PY, "-c", REAPER, report, PROCCTL, "-H",
                spec or self.host(user, sock)] + [str(a) for a in args]

    def ctl(self, *args, user=None, sock=None, spec=None, env=None, timeout=60,
            input=None, text=True):
        """procctl -H ARGS; checks that it left no ssh behind."""
        report = os.path.join(self.procd.dir, "reaper-%d.json" % time.monotonic_ns())
        e = dict(self.env)
        if env:
            e.update(env)
        r = subprocess.run(self.argv(*args, user=user, sock=sock, spec=spec,
                                     report=report),
                           capture_output=True, text=text, timeout=timeout, env=e,
                           input=input, cwd=self.procd.dir,
                           stdin=None if input is not None else subprocess.DEVNULL)
        check_leftovers(report, r)
        return r

    def popen(self, *args, user=None, **kw):
        report = os.path.join(self.procd.dir, "reaper-%d.json" % time.monotonic_ns())
        p = subprocess.Popen(self.argv(*args, user=user, report=report),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             stdin=subprocess.DEVNULL, env=self.env, cwd=self.procd.dir,
                             start_new_session=True, **kw)
        p.report = report
        return p

    def local(self, *args, **kw):
        return self.procd.ctl(*args, **kw)


def check_leftovers(report, r, killed=False):
    """Nothing procctl started outlives it: it reaps ssh before it exits.
    A procctl killed by a signal cannot reap, but its ssh must end with it."""
    with open(report) as f:
        left = json.load(f)
    os.unlink(report)
    if killed:
        left = [x for x in left if not x["ended"]]
    assert left == [], "procctl left these behind (running or unreaped): %r\nstderr: %s" % (
        left, r if isinstance(r, str) else getattr(r, "stderr", ""))


def no_bridge_left(sock):
    """No procctl bridge of sock runs any more (the remote side ends by
    itself, at most a moment after ssh)."""
    def gone():
        for d in os.listdir("/proc"):
            if not d.isdigit():
                continue
            try:
                with open("/proc/%s/cmdline" % d, "rb") as f:
                    argv = f.read().split(b"\0")
                with open("/proc/%s/stat" % d) as f:
                    zombie = f.read().rsplit(")", 1)[1].split()[0] == "Z"
            except OSError:
                continue
            if not zombie and b"bridge" in argv and sock.encode() in argv:
                return False
        return True
    wait_until(gone, 15)


USERS = [None, "root"]
ids_user = ["host", "root@host"]


# --- the commands, over -H as locally ---

@pytest.mark.parametrize("user", USERS, ids=ids_user)
def test_start_join_status_list_logs(remote, user):
    r = remote.ctl("start", "--name", "a", "--cwd", "/", "--",
                   "sh", "-c", "echo hello; echo oops >&2; exit 3", user=user)
    assert r.returncode == 0, r.stderr
    assert "started job" in r.stdout and "(a)" in r.stdout, r.stdout
    r = remote.ctl("join", "a", user=user)
    assert r.returncode == 3, r
    assert "status 3" in r.stdout, r.stdout
    r = remote.ctl("logs", "a", user=user)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "hello\n"
    assert "oops\n" in r.stderr
    for args in (["--json", "status", "a"], ["--json", "list"]):
        r = remote.ctl(*args, user=user)
        loc = remote.local(*args)
        assert r.returncode == 0 == loc.returncode, (r, loc)
        assert r.stdout == loc.stdout, "procctl -H %s differs from the local output" % args
    # info, but for what changes from one connection to the next
    r = remote.ctl("--json", "info", user=user)
    loc = remote.local("--json", "info")
    assert r.returncode == 0 == loc.returncode, (r, loc)
    mine, theirs = json.loads(r.stdout), json.loads(loc.stdout)
    for k in ("clients",):
        mine.pop(k, None)
        theirs.pop(k, None)
    assert mine == theirs and mine["pid"] == remote.procd.pid
    job = json.loads(remote.ctl("--json", "status", "a", user=user).stdout)
    assert job["exitcode"] == 3 and job["cwd"] == "/"
    no_bridge_left(remote.procd.sock)


@pytest.mark.parametrize("user", USERS, ids=ids_user)
def test_exit_codes_as_locally(remote, user):
    remote.ctl("start", "--name", "nap", "--cwd", "/", "--", "sleep", "60", user=user)
    r = remote.ctl("join", "nap", "--timeout", "0.2", user=user)
    assert r.returncode == 124, r
    # an error reply: 1, procd's message on stderr as locally
    r = remote.ctl("status", "nosuchjob", user=user)
    loc = remote.local("status", "nosuchjob")
    assert r.returncode == 1 == loc.returncode, (r, loc)
    assert loc.stderr.strip() in r.stderr, (r.stderr, loc.stderr)
    # a usage error: 2, before ssh is even run
    r = remote.ctl("status", user=user, env={"PROCCTL_SSH": "/nonexistent/ssh"})
    assert r.returncode == 2, r
    r = remote.ctl("start", "--cwd", "relative", "--", "true", user=user)
    assert r.returncode == 2, r
    r = remote.ctl("kill", "nap", user=user)
    assert r.returncode == 0, r
    r = remote.ctl("join", "nap", user=user)
    assert r.returncode == 137, r


def test_start_without_cwd_uses_root_folder(remote):
    """The local folder means nothing on the other host: none is sent."""
    r = remote.ctl("run", "--", "pwd")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "/\n"


@pytest.mark.parametrize("user", USERS, ids=ids_user)
def test_run_passes_output_and_status(remote, user):
    r = remote.ctl("run", "--", "sh", "-c", "echo out; echo err >&2; exit 5", user=user)
    assert r.returncode == 5, r
    assert r.stdout == "out\n"
    assert "err\n" in r.stderr
    r = remote.ctl("run", "--", "sh", "-c", "kill -TERM $$", user=user)
    assert r.returncode == 143, r


# Writes n MiB of numbered lines: output that tells what was lost or reordered.
BIG = "import sys\nn = int(sys.argv[1])\nw = sys.stdout.write\n" \
      "i = 0\nsize = 0\nwhile size < n << 20:\n" \
      "    line = '%09d ' % i + 'x' * 90 + '\\n'\n    w(line)\n" \
      "    size += len(line)\n    i += 1\n"


def big_bytes(mib):
    return subprocess.run([USR_PY, "-c", BIG, str(mib)], capture_output=True,
                          check=True, timeout=60).stdout


def test_large_answers_arrive_whole(remote):
    want = big_bytes(4)
    # logs: one answer of several MiB (the job keeps it all: log_limit)
    r = remote.ctl("call", "start", json.dumps({
        "name": "big", "argv": [USR_PY, "-c", BIG, "4"], "cwd": "/",
        "log_limit": 8 << 20}))
    assert r.returncode == 0, r.stderr
    assert remote.ctl("join", "big").returncode == 0
    r = remote.ctl("logs", "big", text=False)
    assert r.returncode == 0, r.stderr
    assert len(r.stdout) == len(want) and hashlib.sha256(r.stdout).digest() == \
        hashlib.sha256(want).digest(), "logs over -H lost or changed bytes"
    # run: many notifications, passed through as they come
    r = remote.ctl("run", "--", USR_PY, "-c", BIG, "6", text=False)
    assert r.returncode == 0, r.stderr
    want = big_bytes(6)
    assert len(r.stdout) == len(want) and r.stdout == want
    # a list of many jobs, as --json lines
    for i in range(3):
        remote.ctl("call", "start", json.dumps({"argv": ["true"], "cwd": "/"}))
    r = remote.ctl("--json", "list")
    assert r.returncode == 0 and r.stdout == remote.local("--json", "list").stdout


def wait_shown(procd, lines, tag):
    """Start probe jobs until the events of one show: subscribed."""
    c = procd.connect()
    try:
        lines_wait_events_shown(c, lines, tag)
    finally:
        c.close()
        procd.conns.remove(c)


def finish(p, timeout=30, killed=False):
    try:
        p.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        p.wait()
        raise
    err = p.stderr.read().decode(errors="replace")
    check_leftovers(p.report, err, killed)
    return err


@pytest.mark.parametrize("user", USERS, ids=ids_user)
def test_events_and_interrupt(remote, user):
    p = remote.popen("events", user=user)
    try:
        L = Lines(p)
        wait_shown(remote.procd, L, "probe")
        remote.local("start", "--name", "evjob", "--", "true")
        assert L.wait(lambda l: b"evjob" in l and b"exited" in l) is not None
        # an interrupt from the terminal reaches the whole group: procctl
        # ends, exit 0; ssh leaves it to procctl
        os.killpg(p.pid, signal.SIGINT)
        err = finish(p)
        assert p.returncode == 0, err
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
    no_bridge_left(remote.procd.sock)


def test_events_reconnect_over_host(sshd, tmp_path):
    (tmp_path / "r").mkdir()
    d = Procd(tmp_path / "r")
    rem = Remote(sshd, d)
    check_remote_procctl(sshd, "root")
    p = rem.popen("events")
    d2 = None
    try:
        L = Lines(p)
        wait_shown(d, L, "before")
        d.stop()
        d2 = Procd(tmp_path / "r")
        assert d2.sock == d.sock
        # it reconnects through a new ssh within its retry delay
        wait_shown(d2, L, "after")
        assert p.poll() is None
        os.killpg(p.pid, signal.SIGINT)
        err = finish(p)
        assert p.returncode == 0, err
        assert "reconnect" in err, err
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
        if d2 is not None:
            d2.stop()
        elif d.alive():
            d.stop()


def test_run_interrupt_terminates_the_job(remote):
    """The first interrupt of run, sent to the whole group as a terminal
    does, terminates the job; run goes on showing its output over the same
    ssh and exits with the job's status."""
    script = 'trap "echo got TERM; exit 7" TERM; echo ready; ' \
             'while :; do sleep 0.1; done'
    p = remote.popen("run", "--name", "trapper", "--", "sh", "-c", script)
    try:
        L = Lines(p)
        assert L.wait(lambda l: l == b"ready\n") is not None, "run showed nothing"
        os.killpg(p.pid, signal.SIGINT)
        assert L.wait(lambda l: l == b"got TERM\n") is not None
        err = finish(p)
        assert p.returncode == 7, err
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
    assert lc_status(remote.procd.connect(), "trapper")["exitcode"] == 7


def test_logs_follow_interrupted(remote):
    """logs -f ended by a signal: ssh ends with procctl, and the remote
    bridge closes, so procd drops the follow."""
    remote.local("start", "--name", "ticker", "--", "sh", "-c",
                 "while :; do echo tick; sleep 0.1; done")
    p = remote.popen("logs", "-f", "ticker")
    try:
        L = Lines(p)
        assert L.wait(lambda l: l == b"tick\n") is not None
        os.killpg(p.pid, signal.SIGTERM)
        finish(p, killed=True)
        assert p.returncode == 143
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
    no_bridge_left(remote.procd.sock)
    remote.local("kill", "ticker")


def test_logs_follow_to_the_end(remote):
    remote.local("start", "--name", "short", "--", "sh", "-c",
                 "for i in 1 2 3; do echo $i; sleep 0.1; done")
    r = remote.ctl("logs", "-f", "short")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "1\n2\n3\n"


# --- procctl bridge on its own ---

def bridge_conversation(argv, procd, env=None):
    """Several requests on the bridge's stdin, then its end while a join
    is pending: the other answers come, the join's once the job ends,
    then the bridge exits 0."""
    flag = os.path.join(procd.dir, "go")
    c = procd.connect()
    c.call("start", {"argv": ["sh", "-c", 'while [ ! -e "$0" ]; do sleep 0.05; done; exit 9',
                              flag], "name": "waiter"})
    reqs = [{"jsonrpc": "2.0", "id": 1, "method": "info"},
            {"jsonrpc": "2.0", "id": "two", "method": "join", "params": {"job": "waiter"}},
            {"jsonrpc": "2.0", "id": 3, "method": "status", "params": {"job": "waiter"}},
            {"jsonrpc": "2.0", "id": 4, "method": "status", "params": {"job": "nosuch"}}]
    p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, env=env or procd.env)
    try:
        L = Lines(p)
        p.stdin.write(b"".join(json.dumps(r).encode() + b"\n" for r in reqs))
        p.stdin.close()
        got = {}
        for _ in range(3):
            m = json.loads(L.next())
            got[m["id"]] = m
        assert set(got) == {1, 3, 4}, got
        assert got[1]["result"]["pid"] == procd.pid
        assert got[3]["result"]["state"] == "running"
        assert got[4]["error"]["code"] == -32001
        # stdin has ended; the join is still to come
        assert p.poll() is None
        open(flag, "w").close()
        m = json.loads(L.next())
        assert m["id"] == "two" and m["result"]["exitcode"] == 9, m
        assert L.rest() == []
        p.wait(30)
        assert p.returncode == 0, p.stderr.read()
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    c.close()


def test_bridge_raw_conversation(procd):
    bridge_conversation([PROCCTL, "bridge", "--socket", procd.sock], procd)


def test_bridge_raw_conversation_over_ssh(sshd, procd):
    """The same through ssh: sshd passes stdin's end on as a half-close."""
    check_remote_procctl(sshd, "root")
    bridge_conversation([sshd.wrapper, "--", "localhost", "procctl", "bridge",
                         "--socket", procd.sock], procd)


def test_bridge_default_socket_and_errors(procd, tmp_path):
    env = dict(procd.env, PROCD_SOCKET=procd.sock)
    r = subprocess.run([PROCCTL, "bridge"], input=b'{"jsonrpc":"2.0","id":1,"method":"info"}\n',
                       capture_output=True, env=env, timeout=30)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["result"]["pid"] == procd.pid
    nowhere = str(tmp_path / "nowhere.sock")
    r = subprocess.run([PROCCTL, "bridge", "--socket", nowhere], capture_output=True,
                       text=True, env=procd.env, timeout=30, stdin=subprocess.DEVNULL)
    assert r.returncode == 1 and nowhere in r.stderr, r
    r = subprocess.run([PROCCTL, "-H", "localhost", "bridge"], capture_output=True,
                       text=True, env=procd.env, timeout=30, stdin=subprocess.DEVNULL)
    assert r.returncode == 2, r
    r = subprocess.run([PROCCTL, "bridge", "extra"], capture_output=True, text=True,
                       env=procd.env, timeout=30, stdin=subprocess.DEVNULL)
    assert r.returncode == 2, r


F_GETPIPE_SZ = 1032


def unread(fd):
    """How many bytes wait in a pipe."""
    return struct.unpack("i", fcntl.ioctl(fd, termios.FIONREAD, b"\0" * 4))[0]


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])


def bridge_popen(procd):
    return subprocess.Popen([PROCCTL, "bridge", "--socket", procd.sock],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=procd.env)


def test_bridge_bounded_when_stdout_is_not_read(procd):
    """A reader that stops reading: the bridge stops reading procd (its
    buffer is bounded) and procd keeps the rest; once the reader reads
    again, every byte arrives."""
    c = procd.connect()
    c.call("start", {"argv": [USR_PY, "-c", BIG, "3"], "name": "big", "log_limit": 8 << 20})
    c.call("join", {"job": "big"})
    # what a bridge that has relayed one small answer holds in memory
    p = bridge_popen(procd)
    try:
        p.stdin.write(b'{"jsonrpc":"2.0","id":1,"method":"info"}\n')
        p.stdin.flush()
        Lines(p).next()
        idle = rss_kib(p.pid)
        p.stdin.close()
        p.wait(30)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    p = bridge_popen(procd)
    try:
        for i in range(3):
            p.stdin.write(json.dumps({"jsonrpc": "2.0", "id": i, "method": "logs",
                                      "params": {"job": "big"}}).encode() + b"\n")
        p.stdin.close()
        # the pipe to the reader is full; meanwhile the bridge does not
        # take in procd's answers (12 MiB of them)
        out = p.stdout.fileno()
        size = fcntl.fcntl(out, F_GETPIPE_SZ)
        wait_until(lambda: unread(out) >= size, 30)
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:
            rss = rss_kib(p.pid)
            assert rss < idle + 4096, \
                "the bridge holds %d KiB, %d KiB when idle" % (rss, idle)
            time.sleep(0.05)
        got = {}
        for line in Lines(p).rest(60):
            m = json.loads(line)
            got[m["id"]] = m
        assert sorted(got) == [0, 1, 2]
        assert len({json.dumps(m["result"], sort_keys=True) for m in got.values()}) == 1
        assert len(got[0]["result"]["records"]) > 0
        p.wait(30)
        assert p.returncode == 0
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


# --- who answers ---

def user_procd(srv_spawn, workdir, user, usr_tmpdir):
    d = usr_tmpdir(owner=user, mode=0o700)
    sock = os.path.join(d, "procd.sock")
    p = srv_spawn(workdir, [PROCD, "-v", "--socket", sock], env=user.env(),
                  **user.popen_kw())
    wait_for_socket(sock, p.proc)
    return p, sock


def test_bridge_refuses_a_procd_of_another_user(sshd, users, srv_spawn, usr_tmpdir,
                                                 tmp_path, procd):
    user = users("a")
    p, sock = user_procd(srv_spawn, tmp_path / "u", user, usr_tmpdir)
    r = subprocess.run([PROCCTL, "bridge", "--socket", sock],
                       input=b'{"jsonrpc":"2.0","id":1,"method":"info"}\n',
                       capture_output=True, timeout=30, env=procd.env)
    err = r.stderr.decode()
    assert r.returncode == 1, r
    assert r.stdout == b""
    assert sock in err and str(user.uid) in err.replace(sock, ""), err
    # over ssh as root: the bridge on that side refuses, and procctl says
    # it got no answer from that host
    rem = Remote(sshd, procd)
    check_remote_procctl(sshd, "root")
    r = rem.ctl("--json", "info", user="root", sock=sock)
    assert r.returncode == 1, r
    assert r.stdout == ""
    assert str(user.uid) in r.stderr.replace(sock, ""), r.stderr
    assert "localhost" in r.stderr.replace(sock, ""), r.stderr
    assert Conn(sock).call("list") == []
    p.proc.send_signal(signal.SIGTERM)
    assert p.wait(30) == 0, p.stderr_text()


def test_remote_user_is_the_peer(sshd, users, srv_spawn, usr_tmpdir, tmp_path, procd):
    """procctl -H USER@HOST: procd there sees the ssh user as its client,
    as a local one, and runs the job as that user."""
    user = users("ssh")
    # sshd without PAM turns away an account whose password is locked
    subprocess.run(["usermod", "-p", "*", user.name], check=True, timeout=60,
                   capture_output=True)
    r = run_as_user(user, ["test", "-x", PROCCTL])
    if r.returncode != 0:
        pytest.skip("%s is not executable by other users" % PROCCTL)
    d = usr_tmpdir(mode=0o755)
    sock = os.path.join(d, "procd.sock")
    p = srv_spawn(tmp_path / "root", [PROCD, "-v", "--socket", sock, "--socket-mode", "0666"])
    wait_for_socket(sock, p.proc)
    check_remote_procctl(sshd, user.name)
    rem = Remote(sshd, procd)
    r = rem.ctl("start", "--name", "mine", "--cwd", "/", "--", "sleep", "60",
                user=user.name, sock=sock)
    assert r.returncode == 0, r.stderr
    c = Conn(sock)
    j = c.call("status", {"job": "mine"})
    assert (j["uid"], j["user"]) == (user.uid, user.name), j
    r = rem.ctl("--json", "list", user=user.name, sock=sock)
    assert [x["name"] for x in map(json.loads, r.stdout.splitlines())] == ["mine"]
    c.call("kill", {"job": "mine"})
    c.close()
    p.proc.send_signal(signal.SIGTERM)
    assert p.wait(30) == 0, p.stderr_text()


# --- when ssh gives no answer ---

def test_unreachable_host(remote, sshd):
    closed = free_port()
    wrapper = sshd.ssh_wrapper("ssh-closed", "-p %d" % closed)
    r = remote.ctl("list", env={"PROCCTL_SSH": wrapper})
    assert r.returncode == 1, r
    assert r.stdout == ""
    mine = [l for l in r.stderr.splitlines() if l.startswith("procctl:")]
    assert mine and "localhost" in mine[-1], r.stderr
    # events too gives up at once when the first connection gets nothing
    r = remote.ctl("events", env={"PROCCTL_SSH": wrapper})
    assert r.returncode == 1, r


def test_no_procd_there(remote, tmp_path):
    nowhere = str(tmp_path / "nowhere.sock")
    r = remote.ctl("info", sock=nowhere)
    assert r.returncode == 1, r
    assert nowhere in r.stderr        # the remote bridge's message
    assert "no answer" in r.stderr and "localhost" in r.stderr, r.stderr


def test_bridge_missing_there(remote, tmp_path):
    """An ssh whose remote shell finds no procctl (127): procctl names the
    host and says what is missing."""
    fake = write(str(tmp_path / "fake-ssh"),
                 "#!/bin/sh\necho 'sh: 1: procctl: not found' >&2\nexit 127\n", 0o755)
    r = remote.ctl("list", env={"PROCCTL_SSH": fake})
    assert r.returncode == 1, r
    assert "localhost" in r.stderr and "127" in r.stderr, r.stderr
    r = remote.ctl("list", env={"PROCCTL_SSH": str(tmp_path / "no-such-ssh")})
    assert r.returncode == 1, r
    assert "no-such-ssh" in r.stderr and "localhost" in r.stderr, r.stderr


# --- what procctl asks ssh to run ---

# Records its argv as JSON in $ARGV_OUT and says nothing: procctl sees a
# connection that ends at once.
RECORDER = "#!%s\nimport json, os, sys\n" \
           "open(os.environ['ARGV_OUT'], 'w').write(json.dumps(sys.argv[1:]))\n" % USR_PY


@pytest.mark.parametrize("spec,tail", [
    ("host", ["--", "host", "procctl", "bridge"]),
    ("alice@host", ["-l", "alice", "--", "host", "procctl", "bridge"]),
    ("host:/run/procd/procd.sock",
     ["--", "host", "procctl", "bridge", "--socket", "/run/procd/procd.sock"]),
    ("bob@host:/tmp/a b/p@x.sock",
     ["-l", "bob", "--", "host", "procctl", "bridge", "--socket", "'/tmp/a b/p@x.sock'"]),
    ("[::1]:/s.sock", ["--", "::1", "procctl", "bridge", "--socket", "/s.sock"]),
    ("carol@[fe80::1%eth0]", ["-l", "carol", "--", "fe80::1%eth0", "procctl", "bridge"]),
    ("-oProxyCommand=x", ["--", "-oProxyCommand=x", "procctl", "bridge"]),
])
def test_ssh_command_line(tmp_path, spec, tail):
    fake = write(str(tmp_path / "rec"), RECORDER, 0o755)
    out = str(tmp_path / "argv")
    env = dict(os.environ, PROCCTL_SSH=fake, ARGV_OUT=out)
    r = subprocess.run([PROCCTL, "-H", spec, "list"], capture_output=True, text=True,
                       env=env, timeout=30, stdin=subprocess.DEVNULL)
    assert r.returncode == 1, r
    with open(out) as f:
        assert json.load(f) == ["-x", "-T"] + tail
    # --host, and after the command, the same
    r = subprocess.run([PROCCTL, "list", "--host=" + spec], capture_output=True, text=True,
                       env=env, timeout=30, stdin=subprocess.DEVNULL)
    with open(out) as f:
        assert json.load(f) == ["-x", "-T"] + tail


@pytest.mark.parametrize("args", [
    ["-H", "@host", "list"], ["-H", "", "list"], ["-H", ":/x", "list"],
    ["-H", "host:", "list"], ["-H", "[::1", "list"], ["-H", "[::1]x", "list"],
    ["-H", "host:/it's.sock", "list"], ["-H", "host:/a\\b", "list"],
    ["-H", "host:/a\nb", "list"],
    ["-H", "host", "--socket", "/x", "list"], ["--socket", "/x", "list", "-H", "host"],
    ["-H", "host", "bridge"], ["bridge", "-H", "host"],
])
def test_host_usage_errors(tmp_path, args):
    fake = write(str(tmp_path / "rec"), RECORDER, 0o755)
    out = str(tmp_path / "argv")
    env = dict(os.environ, PROCCTL_SSH=fake, ARGV_OUT=out)
    r = subprocess.run([PROCCTL] + args, capture_output=True, text=True, env=env,
                       timeout=30, stdin=subprocess.DEVNULL)
    assert r.returncode == 2, r
    assert r.stderr.startswith("procctl: "), r.stderr
    assert not os.path.exists(out), "ssh ran for a usage error"


def test_ipv6_address_in_brackets(remote, sshd):
    if not sshd.ipv6:
        pytest.skip("no IPv6 loopback here")
    r = remote.ctl("--json", "info", spec="root@[::1]:" + remote.procd.sock)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["pid"] == remote.procd.pid


def test_socket_path_quoted_for_the_remote_shell(sshd, tmp_path_factory):
    """A socket path with a space and a $ reaches the remote bridge as it is."""
    folder = tmp_path_factory.mktemp("q") / "with space $HOME"
    folder.mkdir()
    d = Procd(folder)
    try:
        rem = Remote(sshd, d)
        check_remote_procctl(sshd, "root")
        r = rem.ctl("--json", "info")
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout)["pid"] == d.pid
    finally:
        d.stop()
