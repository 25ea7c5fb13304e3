# SPDX-License-Identifier: ISC
# The Python client (python/procd) against the real procd: every Job
# method and property with real processes, target= functions run as
# multiprocessing's spawn runs them, the daemon-child rule through
# parent=CURRENT from a program that is itself a job, one error class
# per code, logs, events resumed after procd cut the connection, the
# SO_PEERCRED check against a server of another user, a Client shared
# by threads, and pip install into a venv.
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import threading

import pytest

from conftest import (PROCD, USR_PY, as_user, pid_alive, run_as_user,
                      wait_for_socket, wait_until)

PYDIR = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..",
                                     "python"))
sys.path.insert(0, PYDIR)
import procd  # noqa: E402

PY = sys.executable or "/usr/bin/python3"
SLEEP = ["sleep", "1000"]


@pytest.fixture
def daemon(procd):      # noqa: F811 -- conftest's fixture, not the module
    return procd


@pytest.fixture
def client(daemon):
    c = procd.Client(daemon.sock, timeout=30)
    yield c
    c.close()


def data(job, stream=None):
    return b"".join(r.data for r in job.logs()
                    if stream is None or r.stream == stream)


def wait_state(job, states, timeout=15):
    states = (states,) if isinstance(states, str) else states
    try:
        wait_until(lambda: job.status()["state"] in states, timeout)
    except TimeoutError:
        raise AssertionError("%r never reached %s" % (job, states))


def script(path, body):
    """A Python program that imports the client from the work tree."""
    text = "import sys\nsys.path.insert(0, %r)\n" % PYDIR + textwrap.dedent(body)
    with open(str(path), "w") as f:
        f.write(text)
    return str(path)


# --- connecting -------------------------------------------------------------

def test_socket_path_resolution(monkeypatch):
    monkeypatch.setenv("PROCD_SOCKET", "/x/env.sock")
    monkeypatch.setenv("XDG_RUNTIME_DIR", "/x/xdg")
    assert procd.socket_path("/x/arg.sock") == "/x/arg.sock"
    assert procd.socket_path() == "/x/env.sock"
    monkeypatch.delenv("PROCD_SOCKET")
    monkeypatch.setattr(os, "getuid", lambda: 0)
    assert procd.socket_path() == "/run/procd/procd.sock"
    monkeypatch.setattr(os, "getuid", lambda: 4321)
    assert procd.socket_path() == "/x/xdg/procd/procd.sock"
    monkeypatch.delenv("XDG_RUNTIME_DIR")
    assert procd.socket_path() == "/tmp/procd-4321/procd.sock"


def test_client_from_environment(daemon, monkeypatch):
    monkeypatch.setenv("PROCD_SOCKET", daemon.sock)
    with procd.Client() as c:
        info = c.info()
        assert info["pid"] == daemon.pid
        assert c.socket == daemon.sock
    assert c.closed
    with pytest.raises(ValueError):
        c.info()


def test_connect_failure_names_the_socket(tmp_path):
    path = str(tmp_path / "nobody.sock")
    with pytest.raises(procd.ConnectFailed) as e:
        procd.Client(path)
    assert isinstance(e.value, ConnectionError)
    assert path in str(e.value) and e.value.socket == path
    assert e.value.errno == 2


# --- one job, every method and property -------------------------------------

def test_job_lifecycle(client, tmp_path):
    j = procd.Job(["sh", "-c", "echo out; echo err >&2; exit 3"], client=client,
                  name="life")
    assert repr(j) == "<Job name='life' state=initial>"
    assert j.id is None and j.pid is None and j.exitcode is None
    assert not j.is_alive() and j.state is None
    with pytest.raises(RuntimeError):
        j.join()
    j.start()
    assert type(j.id) is int and j.name == "life" and j.daemon is False
    assert type(j.pid) is int and j.pid > 0 and j.ident == j.pid
    with pytest.raises(RuntimeError):
        j.start()
    assert j.join() is None
    assert j.exitcode == 3 and j.state == "exited" and not j.is_alive()
    st = j.status()
    assert st["id"] == j.id and st["exitcode"] == 3 and st["argv"][0] == "sh"
    assert st["cwd"] == os.getcwd(), "cwd is not the caller's"
    assert j.restarts == 0
    assert repr(j) == "<Job name='life' pid=%d state=exited exitcode=3>" % j.pid
    assert data(j, "stdout") == b"out\n" and data(j, "stderr") == b"err\n"
    j.close()
    j.close()                       # again: nothing to do
    assert "closed" in repr(j)
    for attr in ("exitcode", "pid", "state"):
        with pytest.raises(ValueError):
            getattr(j, attr)
    with pytest.raises(ValueError):
        j.join()
    with pytest.raises(ValueError):
        j.is_alive()
    with pytest.raises(procd.NoSuchJob):
        client.job(st["id"])


@pytest.mark.parametrize("how,code", [("terminate", -signal.SIGTERM),
                                      ("kill", -signal.SIGKILL)])
def test_exitcode_of_a_signal(client, how, code):
    j = client.start(SLEEP)
    assert j.is_alive() and j.exitcode is None
    getattr(j, how)()
    j.join()
    assert j.exitcode == code
    assert ("exitcode=-%s" % signal.Signals(-code).name) in repr(j)
    j.close()


def test_signal_by_name_number_and_group(client, tmp_path):
    ready = tmp_path / "ready"
    j = client.start(["sh", "-c", 'trap "exit 42" USR1; : > "$1"; '
                      'while :; do sleep 0.05; done', "sh", str(ready)])
    wait_until(ready.exists)
    j.signal("USR1")
    j.join()
    assert j.exitcode == 42
    j.close()
    j = client.start(SLEEP)
    j.signal(signal.SIGHUP)
    j.join()
    assert j.exitcode == -signal.SIGHUP
    j.close()
    grandchild = tmp_path / "gc"
    j = client.start(["sh", "-c", 'sleep 1000 & echo $! > "$1.tmp"; mv "$1.tmp" "$1"; wait',
                      "sh", str(grandchild)])
    wait_until(grandchild.exists)
    gc = int(grandchild.read_text())
    j.signal("SIGTERM", group=True)
    j.join()
    assert j.exitcode == -signal.SIGTERM
    wait_until(lambda: not pid_alive(gc))
    j.close()
    with pytest.raises(procd.InvalidParams):
        client.start(SLEEP).signal("NOSUCHSIGNAL")


def test_join_timeout_leaves_the_job_running(client):
    j = client.start(SLEEP)
    assert j.join(0.2) is None
    assert j.is_alive() and j.exitcode is None and j.state == "running"
    j.join(0)
    assert j.is_alive()
    j.terminate()
    j.join(60)
    assert not j.is_alive() and j.exitcode == -signal.SIGTERM
    j.close()


def test_close_refused_while_running(client):
    j = client.start(SLEEP)
    with pytest.raises(ValueError) as e:
        j.close()
    assert isinstance(e.value, procd.JobRunning)
    assert isinstance(e.value, procd.ProcdError) and e.value.code == -32002
    assert j.is_alive(), "a refused close closed the job object"
    j.kill()
    j.join()
    j.close()
    # never started: nothing at procd, the object is closed all the same
    k = procd.Job(SLEEP, client=client)
    k.close()
    with pytest.raises(ValueError):
        k.start()


def test_names_and_daemon_flag(client):
    j = procd.Job(SLEEP, client=client)
    assert j.name is None and j.daemon is False
    j.name = "renamed"
    j.daemon = True
    j.start()
    assert j.name == "renamed" and j.daemon is True
    assert j.status()["daemon"] is True and "daemon" in repr(j)
    with pytest.raises(RuntimeError):
        j.name = "again"
    with pytest.raises(RuntimeError):
        j.daemon = False
    with pytest.raises(procd.NameInUse):
        client.start(SLEEP, name="renamed")
    k = client.start(["true"])
    assert k.name == "job-%d" % k.id
    k.join()
    assert client.job("renamed").id == j.id
    assert client.job(j.id).name == "renamed"
    assert [x.id for x in client.jobs(state="running")] == [j.id]
    assert {x.id for x in client.jobs()} == {j.id, k.id}
    j.kill()
    for x in (j, k):
        x.join()
        x.close()


def test_start_options_go_through(client):
    j = client.start(["sh", "-c", "echo hidden; exit 1"], restart="on-failure",
                     restart_delay=0, restart_limit=2, output="null",
                     stop_timeout=3, log_limit=1000)
    j.join()
    st = j.status()
    assert st["restart"] == "on-failure" and j.restarts == 2
    assert j.exitcode == 1
    assert list(j.logs()) == [], "output null still captured"
    j.close()


def test_env_and_cwd(client, tmp_path):
    os.environ["PROCD_PYTEST_INHERITED"] = "no"     # ours, not procd's
    try:
        j = client.start(["sh", "-c", 'echo "$FOO|${PATH:+path}|${HOME-unset}|'
                          '${PROCD_PYTEST_INHERITED-none}"; pwd'],
                         env={"FOO": "bar", "HOME": None}, cwd=str(tmp_path))
    finally:
        del os.environ["PROCD_PYTEST_INHERITED"]
    j.join()
    assert data(j).decode() == "bar|path|unset|none\n%s\n" % tmp_path
    j.close()


def test_spawn_failure(client):
    with pytest.raises(procd.SpawnFailed) as e:
        client.start(["/nonexistent/program"])
    assert e.value.code == -32005 and "No such file" in e.value.message
    assert client.jobs() == []


# --- errors -------------------------------------------------------------------

def test_error_classes(client, daemon, procd_factory, srv_spawn, tmp_path):
    def code_of(fn):
        with pytest.raises(procd.ProcdError) as e:
            fn()
        return type(e.value), e.value.code

    assert code_of(lambda: client.call("nosuchmethod")) == (procd.MethodNotFound, -32601)
    assert code_of(lambda: client.call("info", [1])) == (procd.InvalidParams, -32602)
    assert code_of(lambda: client.call(17)) == (procd.InvalidRequest, -32600)
    assert code_of(lambda: client.job("nope")) == (procd.NoSuchJob, -32001)
    running = client.start(SLEEP, name="held")
    assert code_of(running.close) == (procd.JobRunning, -32002)
    assert code_of(lambda: client.start(SLEEP, name="held")) == (procd.NameInUse, -32003)
    assert code_of(lambda: client.start(["/nonexistent"])) == (procd.SpawnFailed, -32005)
    d = client.start(SLEEP, daemon=True)
    cls, code = code_of(lambda: client.start(SLEEP, parent=d))
    assert (cls, code) == (procd.InvalidParent, -32006)
    # a parse error: procd answers it with a null id
    conn = client._connection()
    conn.send(b"{not json\n")
    assert code_of(client.info) == (procd.ParseError, -32700)
    assert client.info()["pid"] == daemon.pid, "no new connection after the error"
    # an error code no class knows
    e = procd.errors.error_from({"code": -1, "message": "odd", "data": 5})
    assert type(e) is procd.ProcdError and (e.code, e.message, e.data) == (-1, "odd", 5)
    for x in (running, d):
        x.kill()
        x.join()
        x.close()

    # -32007: the job limit
    small = procd_factory(args=["--max-jobs", "1"])
    with procd.Client(small.sock) as c:
        c.start(SLEEP).kill()
        assert code_of(lambda: c.start(SLEEP)) == (procd.LimitReached, -32007)

    # -32007 again: one connection too many gets it with a null id
    one = procd_factory(args=["--max-clients", "1"])
    with first_in(one.sock):
        with procd.Client(one.sock) as second:
            assert code_of(second.info) == (procd.LimitReached, -32007)

    # -32603: reexec of a procd whose program file is gone
    exe = str(tmp_path / "procd-copy")
    shutil.copy(PROCD, exe)
    sock = str(tmp_path / "copy.sock")
    p = srv_spawn(tmp_path / "copy", [exe, "--socket", sock])
    wait_for_socket(sock, p.proc)
    os.unlink(exe)
    with procd.Client(sock) as c:
        assert code_of(lambda: c.call("reexec")) == (procd.InternalError, -32603)

    # -32008: procd stopping (a job that ignores SIGTERM holds it)
    stopping = procd_factory()
    ready = tmp_path / "ignoring"
    with procd.Client(stopping.sock) as c:
        c.start(["sh", "-c", 'trap "" TERM; : > "$1"; exec sleep 1000', "sh",
                 str(ready)], stop_timeout=60)
        wait_until(ready.exists)
        stopping.proc.send_signal(signal.SIGTERM)
        wait_until(lambda: c.info()["jobs"]["stopping"] == 1)
        assert code_of(lambda: c.start(SLEEP)) == (procd.Stopping, -32008)
    stopping.proc.send_signal(signal.SIGTERM)       # the second one kills


def first_in(sock):
    """A Client served by a procd with --max-clients 1, once the probe
    connection of the fixture no longer counts."""
    def attempt():
        c = procd.Client(sock)
        try:
            c.info()
            return c
        except procd.LimitReached:
            c.close()
    return wait_until(attempt)


def test_permission_denied_is_a_permission_error(srv_spawn, users, usr_tmpdir,
                                                 tmp_path):
    """A user's client acting on root's job: -32004, PermissionDenied,
    which is a PermissionError too."""
    user = users("a")
    d = usr_tmpdir(mode=0o755)
    sock = os.path.join(d, "procd.sock")
    p = srv_spawn(tmp_path, [PROCD, "--socket", sock, "--socket-mode", "0666"])
    wait_for_socket(sock, p.proc)
    with procd.Client(sock) as c:
        c.start(SLEEP, name="roots", cwd="/")
        r = run_as_user(user, [USR_PY, "-c", textwrap.dedent("""
            import sys
            sys.path.insert(0, %r)
            import procd
            c = procd.Client(%r)
            try:
                c.job("roots").terminate()
            except procd.PermissionDenied as e:
                print(e.code, isinstance(e, PermissionError))
            """ % (PYDIR, sock))])
        assert r.returncode == 0, r.stderr
        assert r.stdout.split() == ["-32004", "True"], r.stdout
        assert c.job("roots").is_alive()


# --- logs ---------------------------------------------------------------------

def test_logs_without_follow(client):
    j = client.start(["sh", "-c", r"printf 'a\n'; printf 'b\377\n' >&2; printf 'c\nd\n'"])
    j.join()
    recs = list(j.logs())
    assert all(isinstance(r, procd.LogRecord) and isinstance(r.data, bytes)
               and isinstance(r.time, float) for r in recs)
    assert data(j, "stdout") == b"a\nc\nd\n"
    assert data(j, "stderr") == b"b\xff\n", "bytes not passed through exactly"
    assert b"".join(r.data for r in j.logs(streams="stderr")) == b"b\xff\n"
    assert {r.stream for r in j.logs(streams=["stdout"])} == {"stdout"}
    # (the order between the two pipes is procd's reading order: one stream)
    assert b"".join(r.data for r in j.logs(tail=1, streams="stdout")) == b"d\n"
    assert b"".join(r.data for r in j.logs(tail=2, streams="stdout")) == b"c\nd\n"
    j.close()


def test_logs_follow_is_live(client, tmp_path):
    go = tmp_path / "go"
    j = client.start(["sh", "-c", 'echo first; while [ ! -e "$1" ]; do sleep 0.02; done; '
                      'echo second >&2; exit 5', "sh", str(go)])
    it = j.logs(follow=True)
    first = next(it)
    assert first == ("stdout", b"first\n", first.time)
    assert j.is_alive(), "the follow waited for the end"
    go.touch()
    rest = list(it)
    assert b"".join(r.data for r in rest) == b"second\n"
    assert rest[0].stream == "stderr"
    # the final answer carried the finished job
    assert j._obj["state"] == "exited" and j.exitcode == 5
    j.close()


def test_logs_follow_closed_early(client):
    j = client.start(["sh", "-c", "for i in 1 2 3 4 5; do echo $i; sleep 0.05; done"])
    it = j.logs(follow=True)
    assert next(it).data.startswith(b"1")
    it.close()
    assert client.info()["pid"] > 0, "the connection is unusable after an early close"
    j.join()
    assert j.exitcode == 0
    j.close()


# --- events -------------------------------------------------------------------

def test_events(client, daemon):
    other = procd.Client(daemon.sock)
    it = client.events(since=0)
    j = other.start(["true"])
    j.join()
    j.close()
    got = [next(it) for _ in range(3)]
    assert [(e["seq"], e["event"], e["job"]["id"]) for e in got] == \
        [(1, "started", j.id), (2, "exited", j.id), (3, "closed", j.id)]
    it.close()
    other.close()


BIG = "x" * 60000


def test_events_resume_after_procd_cuts_the_connection(procd_factory):
    """The events iterator stops being read; procd cuts the connection at
    its output limit. Read again, it reconnects and resumes with since:
    every event exactly once, in order."""
    d = procd_factory(args=["--max-output", "131072"])
    c = procd.Client(d.sock)
    other = procd.Client(d.sock)
    it = c.events(since=0)
    j = other.start(["true"])
    j.join()
    j.close()
    assert [next(it)["seq"] for _ in range(3)] == [1, 2, 3]
    before = c._conn
    for _ in range(12):                 # ~60 KB per event, 36 events
        j = other.start(["true", BIG])
        j.join()
        j.close()
    newest = other.call("subscribe")["seq"]
    assert newest == 39
    seqs = []
    for ev in it:
        seqs.append(ev["seq"])
        if ev["seq"] == newest:
            break
    assert seqs == list(range(4, newest + 1))
    assert c._conn is not before, "the connection was not cut: the test proves nothing"
    # live events go on on the new connection
    k = other.start(["true"])
    assert next(it)["job"]["id"] == k.id
    it.close()
    c.close()
    other.close()


def test_events_after_a_dropped_socket(client, daemon):
    """A connection that breaks under the client (here: shut down from our
    side) is made again, the subscription resumed from the last seq."""
    other = procd.Client(daemon.sock)
    it = client.events()
    a = other.start(["true"])
    assert next(it)["job"]["id"] == a.id           # subscribed, live
    client._conn.shutdown()
    a.join()
    b = other.start(["true"])
    b.join()
    got = []
    while len(got) < 3:
        got.append(next(it))
    assert [(e["event"], e["job"]["id"]) for e in got] == \
        [("exited", a.id), ("started", b.id), ("exited", b.id)]
    assert [e["seq"] for e in got] == [2, 3, 4]
    it.close()
    other.close()


def test_events_after_procd_restarted(procd_factory):
    d = procd_factory(sub="r")
    c = procd.Client(d.sock)
    it = c.events()
    with procd.Client(d.sock) as other:
        other.start(["true"]).join()
    assert [next(it)["event"] for _ in range(2)] == ["started", "exited"]
    d.stop()
    d2 = procd_factory(sub="r")
    ev = next(it)
    assert ev["event"] == "restarted" and ev["seq"] is None and ev["job"] is None
    with procd.Client(d2.sock) as other:
        other.start(["true"], name="after")
    ev = next(it)
    assert ev["event"] == "started" and ev["job"]["name"] == "after"
    assert ev["seq"] == 1
    it.close()
    c.close()


# --- the client's wire --------------------------------------------------------

def test_batch(client):
    j = client.start(SLEEP)
    out = client.batch([("status", {"job": j.id}), ("status", {"job": 9999}),
                        ("info", None)])
    assert out[0]["id"] == j.id
    assert isinstance(out[1], procd.NoSuchJob)
    assert "version" in out[2]
    j.kill()


def test_line_limit(daemon):
    with procd.Client(daemon.sock, max_line=64) as c:
        with pytest.raises(procd.ProtocolError) as e:
            c.info()
        assert "64" in str(e.value) and daemon.sock in str(e.value)


def test_one_client_shared_by_threads(client, tmp_path):
    """A join waits in one thread while others use the same connection."""
    go = tmp_path / "go"
    long = client.start(["sh", "-c", 'while [ ! -e "$1" ]; do sleep 0.02; done; exit 7',
                         "sh", str(go)])
    results, errors = {}, []

    def joiner():
        try:
            long.join()
            results["long"] = long.exitcode
        except Exception as e:
            errors.append(e)

    def worker(n):
        try:
            for i in range(5):
                j = client.start(["sh", "-c", "exit %d" % (n * 10 + i)])
                j.join()
                assert j.exitcode == n * 10 + i
                assert long.is_alive() or go.exists()
                j.close()
            results[n] = True
        except Exception as e:
            errors.append(e)

    threads = [threading.Thread(target=joiner)] + \
        [threading.Thread(target=worker, args=(n,)) for n in (1, 2, 3)]
    for t in threads:
        t.start()
    for t in threads[1:]:
        t.join(60)
    assert not errors, errors
    assert results == {1: True, 2: True, 3: True}
    assert threads[0].is_alive(), "the join returned before the job finished"
    go.touch()
    threads[0].join(60)
    assert not errors, errors
    assert results["long"] == 7


def test_close_wakes_a_waiting_thread(client):
    j = client.start(SLEEP)
    got = []

    def joiner():
        try:
            j.join()
            got.append("returned")
        except Exception as e:
            got.append(e)
    t = threading.Thread(target=joiner)
    t.start()
    wait_until(lambda: client._conn.reading)     # the join is waiting
    client.close()
    t.join(30)
    assert not t.is_alive() and len(got) == 1
    assert isinstance(got[0], ValueError) and "closed" in str(got[0]), got


def test_timeout_bounds_the_wait_for_an_answer(tmp_path):
    """A server that never answers: the call times out, the join of a
    real job does not (it waits by design)."""
    import socket as s
    path = str(tmp_path / "mute.sock")
    srv = s.socket(s.AF_UNIX, s.SOCK_STREAM)
    srv.bind(path)
    srv.listen(4)
    try:
        with procd.Client(path, timeout=0.3) as c:
            with pytest.raises(TimeoutError):
                c.info()
    finally:
        srv.close()


# --- target= functions ------------------------------------------------------

HELPER = '''
import os, signal, sys

def greet(*args, **kwargs):
    print("args", args, "kwargs", sorted(kwargs.items()))

def fail():
    raise ValueError("boom")

def leave(code):
    sys.exit(code)

def die():
    os.kill(os.getpid(), signal.SIGKILL)

def digest(blob):
    import hashlib
    print(len(blob), hashlib.sha256(blob).hexdigest())

def digest_then_fail(blob):
    digest(blob)
    raise SystemExit(3)
'''


@pytest.fixture
def helper(tmp_path, monkeypatch):
    (tmp_path / "pd_helper.py").write_text(HELPER)
    monkeypatch.syspath_prepend(str(tmp_path))
    import importlib
    mod = importlib.import_module("pd_helper")
    yield mod
    sys.modules.pop("pd_helper", None)


def test_target_from_a_module(client, helper):
    j = procd.Job(target=helper.greet, args=("Yuki", 3),
                  kwargs={"name": "Nagato", "num": 4}, client=client)
    j.start()
    assert "procd._target" in " ".join(j.status()["argv"])
    j.join()
    assert j.exitcode == 0
    assert data(j) == b"args ('Yuki', 3) kwargs [('name', 'Nagato'), ('num', 4)]\n"
    j.close()


@pytest.mark.parametrize("fn,args,code,err", [
    ("fail", (), 1, b"ValueError: boom"),
    ("leave", (5,), 5, b""),
    ("leave", (None,), 0, b""),
    ("leave", ("a message",), 1, b"a message\n"),
    ("die", (), -signal.SIGKILL, b""),
])
def test_target_exit_status(client, helper, fn, args, code, err):
    j = client.start(target=getattr(helper, fn), args=args)
    j.join()
    assert j.exitcode == code
    stderr = data(j, "stderr")
    assert err in stderr
    if fn == "fail":
        assert b"Traceback (most recent call last)" in stderr
    j.close()


def test_target_large_arguments(client, helper):
    """Arguments larger than one environment string (128 KiB) travel in
    several; nothing is written to disk."""
    blob = os.urandom(300 * 1024)
    j = client.start(target=helper.digest, args=(blob,))
    j.join()
    assert j.exitcode == 0, data(j, "stderr")
    assert data(j) == b"%d %s\n" % (len(blob), hashlib.sha256(blob).hexdigest().encode())
    j.close()


def test_target_large_arguments_survive_restarts(client, helper):
    """Each restart of a target job runs it again with the same
    arguments, however large."""
    blob = os.urandom(200 * 1024)
    j = client.start(target=helper.digest_then_fail, args=(blob,),
                     restart="on-failure", restart_delay=0, restart_limit=2)
    j.join()
    assert j.exitcode == 3, data(j, "stderr")
    line = b"%d %s\n" % (len(blob), hashlib.sha256(blob).hexdigest().encode())
    assert data(j) == line * 3, data(j, "stderr")
    assert j.restarts == 2
    j.close()


def test_target_too_large_for_a_request(client, helper):
    """Beyond procd's request limit the start is refused, and says so."""
    blob = os.urandom(2 * 1024 * 1024)
    with pytest.raises((procd.ProcdError, ConnectionError, ValueError)):
        client.start(target=helper.digest, args=(blob,))


class Counter(procd.Job):
    """A subclass with its own run(), as with Process."""

    def __init__(self, n, **kw):
        super().__init__(**kw)
        self.n = n

    def run(self):
        print(" ".join(str(i) for i in range(self.n)))


def test_subclass_run(client):
    j = Counter(4, client=client)
    j.start()
    j.join()
    assert j.exitcode == 0, data(j, "stderr")
    assert data(j) == b"0 1 2 3\n"
    j.close()


def test_target_from_a_scripts_main(daemon, tmp_path):
    """A target in __main__: the child loads the script under another
    name, so the __main__ block runs once, in the parent."""
    prog = script(tmp_path / "prog.py", """
        import procd
        print("top level in", __name__)

        def sing(who, n):
            print("sing", who, n, "in", __name__)

        if __name__ == "__main__":
            print("main block")
            j = procd.Job(target=sing, args=("Yuki",), kwargs={"n": 3})
            j.start()
            j.join()
            print("exitcode", j.exitcode)
            sys.stdout.write(b"".join(r.data for r in j.logs()).decode())
            j.close()
        """)
    env = dict(os.environ, PROCD_SOCKET=daemon.sock)
    r = subprocess.run([PY, prog], capture_output=True, text=True, timeout=60,
                       env=env, cwd=str(tmp_path))
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == [
        "top level in __main__", "main block", "exitcode 0",
        "top level in __procd_main__", "sing Yuki 3 in __procd_main__"], r.stdout


def test_unguarded_main_is_refused(daemon, tmp_path):
    """A script that starts a target job from its top level: in the
    child, that start is refused (it would start jobs without end)."""
    prog = script(tmp_path / "bad.py", """
        import procd
        def f():
            print("never")
        j = procd.Job(target=f)
        j.start()
        j.join()
        print("exitcode", j.exitcode)
        sys.stdout.write(b"".join(r.data for r in j.logs()).decode())
        """)
    env = dict(os.environ, PROCD_SOCKET=daemon.sock)
    r = subprocess.run([PY, prog], capture_output=True, text=True, timeout=60,
                       env=env, cwd=str(tmp_path))
    assert r.returncode == 0, r.stderr
    assert "exitcode 1" in r.stdout and "__main__" in r.stdout, r.stdout
    assert "never" not in r.stdout
    with procd.Client(daemon.sock) as c:
        assert len(c.jobs()) == 1, "the child started jobs of its own"


# --- the daemon-child rule through parent=CURRENT --------------------------------

def test_parent_current_and_the_daemon_child_rule(client, daemon, tmp_path):
    """A Python program run as a job starts a daemon child and an ordinary
    one (parent=CURRENT, the default) and exits: the daemon child is
    terminated, the ordinary one keeps its parent waiting."""
    go = tmp_path / "go"
    prog = script(tmp_path / "parent.py", """
        import time
        import procd

        def work():
            try:
                procd.Job(["true"]).start()
            except procd.InvalidParent as e:
                print("daemon child:", e.message, flush=True)
            while True:
                time.sleep(0.05)

        if __name__ == "__main__":
            me = procd.current_job()
            print("me", me.id, me.pid)
            d = procd.Job(target=work, daemon=True, name="dchild")
            d.start()
            n = procd.Job(["sh", "-c", 'while [ ! -e "$1" ]; do sleep 0.02; done',
                           "sh", sys.argv[1]], name="nchild")
            n.start()
            free = procd.Job(["true"], parent=None, name="free")
            free.start()
            explicit = procd.Job(["true"], parent=n, name="grandchild")
            explicit.start()
            print("started", d.id, n.id, free.id, explicit.id, flush=True)
            seen = b""
            for r in d.logs(follow=True):   # until the daemon child's line
                seen += r.data
                if b"\\n" in seen:
                    break
        """)
    assert procd.current_job(client) is None, "the test process is no job"
    p = client.start([PY, prog, str(go)], env={"PROCD_SOCKET": daemon.sock},
                     name="parent")
    wait_state(p, ("waiting", "exited"), 60)
    assert p.exitcode == 0, data(p, "stderr")
    out = data(p).decode().split("\n")
    assert out[0] == "me %d %d" % (p.id, p.pid), out
    d, n, free, grand = (client.job(x) for x in ("dchild", "nchild", "free", "grandchild"))
    assert out[1] == "started %d %d %d %d" % (d.id, n.id, free.id, grand.id)
    assert d.status()["parent"] == p.id and d.daemon
    assert n.status()["parent"] == p.id and not n.daemon
    assert free.status()["parent"] is None
    assert grand.status()["parent"] == n.id
    # the daemon child is torn down by SIGTERM; the ordinary one runs on
    wait_state(d, "exited")
    assert d.exitcode == -signal.SIGTERM
    assert b"daemon child: daemonic jobs are not allowed to have children" in data(d)
    assert n.state == "running" and p.state == "waiting"
    go.touch()
    p.join(60)
    assert p.state == "exited" and n.exitcode == 0
    for j in (grand, n, d, free, p):
        j.join()
        j.close()


def test_current_job_inside_a_target_job(client, daemon, tmp_path):
    prog = script(tmp_path / "nest.py", """
        import os
        import procd

        def inner():
            me = procd.current_job()
            print("inner", me.id, me.pid == os.getpid())

        def outer():
            j = procd.Job(target=inner, name="inner")
            j.start()
            j.join()
            print("outer saw", j.exitcode, j.status()["parent"] == procd.current_job().id)

        if __name__ == "__main__":
            j = procd.Job(target=outer, name="outer")
            j.start()
            j.join()
            print("exitcode", j.exitcode)
        """)
    env = dict(os.environ, PROCD_SOCKET=daemon.sock)
    r = subprocess.run([PY, prog], capture_output=True, text=True, timeout=60, env=env)
    assert r.returncode == 0 and r.stdout == "exitcode 0\n", (r.stdout, r.stderr)
    outer, inner = client.job("outer"), client.job("inner")
    assert inner.status()["parent"] == outer.id and outer.status()["parent"] is None
    assert data(inner) == b"inner %d True\n" % inner.id
    assert data(outer) == b"outer saw 0 True\n"


# --- who answers ----------------------------------------------------------------

FAKE_SERVER = r"""
import os, socket, sys
path, rec = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(path)
os.chmod(path, 0o666)
s.listen(4)
open(rec + ".ready", "w").close()
while True:
    c, _ = s.accept()
    got = b""
    while True:
        d = c.recv(65536)
        if not d:
            break
        got += d
    c.close()
    with open(rec + ".tmp", "wb") as f:
        f.write(got)
    os.rename(rec + ".tmp", rec)
"""


@pytest.fixture
def foreign_server(users, usr_tmpdir):
    """A fake server run as a throwaway user: (socket, uid, received())
    where received() waits for the client to hang up and returns the
    bytes it sent."""
    user = users("a")
    d = usr_tmpdir(owner=user, mode=0o755)
    sock, rec = os.path.join(d, "fake.sock"), os.path.join(d, "received")
    p = as_user(user, [USR_PY, "-c", FAKE_SERVER, sock, rec],
                stdin=subprocess.DEVNULL)
    wait_until(lambda: os.path.exists(rec + ".ready") or p.poll() is not None)
    assert p.poll() is None, "the fake server died"

    def received():
        wait_until(lambda: os.path.exists(rec), 15)
        with open(rec, "rb") as f:
            return f.read()
    yield sock, user.uid, received
    p.kill()
    p.wait()


def test_untrusted_server_refused_before_sending(foreign_server):
    sock, uid, received = foreign_server
    with pytest.raises(procd.UntrustedServer) as e:
        procd.Client(sock)
    assert isinstance(e.value, ConnectionError)
    assert sock in str(e.value) and ("uid %d" % uid) in str(e.value)
    assert e.value.uid == uid and e.value.socket == sock
    assert received() == b"", "the client sent something to an untrusted server"


# --- installing ---------------------------------------------------------------

def _missing_for_pip():
    sysp = "/usr/bin/python3"
    for mod, pkg in (("venv", "python3-venv"), ("pip", "python3-pip"),
                     ("setuptools", "python3-setuptools"), ("wheel", "python3-wheel")):
        r = subprocess.run([sysp, "-c", "import " + mod], capture_output=True)
        if r.returncode != 0:
            return "%s is not installed (Debian: %s)" % (mod, pkg)
    return None


def test_pip_install_into_a_venv(daemon, tmp_path):
    """pip install --no-build-isolation --no-index of python/ (a copy: pip
    builds in the source folder) into a venv, offline; the installed
    package talks to procd."""
    why = _missing_for_pip()
    if why:
        pytest.skip(why)
    src = tmp_path / "src"
    shutil.copytree(PYDIR, str(src), ignore=shutil.ignore_patterns(
        "__pycache__", "build", "*.egg-info", "local.mk"))
    venv = tmp_path / "venv"
    subprocess.run(["/usr/bin/python3", "-m", "venv", "--system-site-packages",
                    "--without-pip", str(venv)], check=True, timeout=120)
    vpy = str(venv / "bin" / "python")
    env = dict(os.environ, PIP_NO_INDEX="1", PIP_DISABLE_PIP_VERSION_CHECK="1")
    env.pop("PYTHONPATH", None)
    r = subprocess.run([vpy, "-m", "pip", "install", "--no-build-isolation",
                        "--no-index", str(src)], capture_output=True, text=True,
                       timeout=300, env=env, cwd=str(tmp_path))
    assert r.returncode == 0, r.stdout + r.stderr
    r = subprocess.run([vpy, "-c", "import procd, sys; print(procd.__file__); "
                        "print(procd.__version__); "
                        "print(procd.Client(sys.argv[1]).info()['pid'])", daemon.sock],
                       capture_output=True, text=True, timeout=60, env=env, cwd="/")
    assert r.returncode == 0, r.stderr
    path, version, pid = r.stdout.split()
    assert path.startswith(str(venv)), path
    assert version == "0.1.0" and int(pid) == daemon.pid
    files = {f for f in os.listdir(os.path.dirname(path)) if f.endswith(".py")}
    assert files == {f for f in os.listdir(os.path.join(PYDIR, "procd")) if f.endswith(".py")}


def test_infinite_and_nan_numbers(client):
    """join(timeout=inf) waits without a limit, as Process.join does; a
    NaN, which JSON cannot carry, is a ValueError before anything is
    sent, and the connection goes on serving."""
    j = client.start(["sh", "-c", "exit 4"])
    j.join(timeout=float("inf"))
    assert j.exitcode == 4
    with pytest.raises(ValueError):
        client.call("join", {"job": j.id, "timeout": float("nan")})
    assert client.info()["pid"] > 1
    j.close()
