# SPDX-License-Identifier: ISC
# procctl run: start options, live output passed through byte-exact, the
# job's exit status, and interrupts (procctl(1) run).
import os
import signal
import subprocess
import threading
import time

import pytest

from conftest import LC_PY, PROCCTL, lc_join, lc_status, wait_until


def run(procd, *args, timeout=30, cwd=None):
    return subprocess.run([PROCCTL, "--socket", procd.sock] + [str(a) for a in args],
                          capture_output=True, timeout=timeout, env=procd.env,
                          cwd=cwd or procd.dir)


def popen(procd, *args):
    return subprocess.Popen([PROCCTL, "--socket", procd.sock] + [str(a) for a in args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=procd.env, cwd=procd.dir)


def readline(p, timeout=10):
    """One line of p's stdout, with a timeout."""
    box = {}
    th = threading.Thread(target=lambda: box.setdefault("l", p.stdout.readline()), daemon=True)
    th.start()
    th.join(timeout)
    assert "l" in box, "no line from procctl run"
    return box["l"]


def finish(p, timeout=15):
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        p.communicate()
        raise
    return out, err


def kill_job_group(conn, name):
    try:
        j = lc_status(conn, name)
        os.killpg(j["pid"], signal.SIGKILL)
    except Exception:
        pass


# --- exit status ---

@pytest.mark.parametrize("script,status", [
    ("exit 0", 0), ("exit 3", 3), ("exit 255", 255),
    ("kill -KILL $$", 137), ("kill -TERM $$", 143), ("kill -USR1 $$", 138),
])
def test_run_exit_status(procd, script, status):
    r = run(procd, "run", "--", "sh", "-c", script)
    assert r.returncode == status, r


def test_run_output_both_streams(procd):
    r = run(procd, "run", "--", "sh", "-c", "echo out1; echo err1 >&2; echo out2; exit 2")
    assert r.returncode == 2, r
    assert r.stdout == b"out1\nout2\n"
    assert r.stderr == b"err1\n"


def test_run_binary_byte_exact(procd):
    code = ("import os; os.write(1, bytes(range(256)) * 64); "
            "os.write(2, b'\\xff\\xfe\\x00' + bytes(range(255, -1, -1)))")
    r = run(procd, "run", "--", LC_PY, "-c", code)
    assert r.returncode == 0, r
    assert r.stdout == bytes(range(256)) * 64
    assert r.stderr == b"\xff\xfe\x00" + bytes(range(255, -1, -1))


def test_run_large_output(procd):
    r = run(procd, "run", "--", "head", "-c", "5000000", "/dev/urandom", timeout=60)
    assert r.returncode == 0, r.stderr
    assert len(r.stdout) == 5000000


def test_run_json_does_not_apply(procd):
    r = run(procd, "--json", "run", "--", "printf", "raw\\001")
    assert (r.returncode, r.stdout) == (0, b"raw\x01"), r


def test_run_start_options(procd, conn, tmp_path):
    r = run(procd, "run", "--name", "rj", "--env", "FOO=bar", "--cwd", str(tmp_path),
            "--stop-timeout", "2", "--", "sh", "-c", 'echo "$FOO"; pwd')
    assert r.returncode == 0, r
    assert r.stdout == ("bar\n%s\n" % tmp_path).encode()
    j = lc_status(conn, "rj")
    assert j["argv"] == ["sh", "-c", 'echo "$FOO"; pwd']
    assert j["state"] == "exited" and j["exitcode"] == 0


def test_run_default_cwd_is_procctls(procd, tmp_path):
    d = tmp_path / "here"
    d.mkdir()
    r = run(procd, "run", "--", "pwd", cwd=str(d))
    assert (r.returncode, r.stdout) == (0, ("%s\n" % d).encode()), r


def test_run_parent_option(procd, conn):
    p = conn.call("start", {"argv": ["sleep", "30"], "name": "par"})
    r = run(procd, "run", "--parent", "par", "--name", "kid", "--", "true")
    assert r.returncode == 0, r
    assert lc_status(conn, "kid")["parent"] == p["id"]


def test_run_spawn_failure(procd):
    r = run(procd, "run", "--", "/nonexistent/prog")
    assert r.returncode == 1, r
    assert r.stderr.strip()
    assert r.stdout == b""


def test_run_usage_errors(procd):
    assert run(procd, "run").returncode == 2
    assert run(procd, "run", "--bogus-option", "--", "true").returncode == 2


def test_run_no_daemon(tmp_path):
    r = subprocess.run([PROCCTL, "--socket", str(tmp_path / "none.sock"), "run", "--", "true"],
                       capture_output=True, timeout=10)
    assert r.returncode == 1
    assert str(tmp_path / "none.sock").encode() in r.stderr


def test_run_output_is_live(procd, tmp_path):
    trig = tmp_path / "go"
    p = popen(procd, "run", "--", "sh", "-c",
              'echo first; while [ ! -e "$1" ]; do sleep 0.02; done; echo second; exit 5',
              "sh", str(trig))
    try:
        assert readline(p) == b"first\n"
        assert p.poll() is None
        with open(str(trig), "w"):
            pass
        out, err = finish(p)
        assert out == b"second\n"
        assert p.returncode == 5
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def test_run_waits_for_child_jobs_like_join(procd, conn, tmp_path):
    """run exits with the job's status once it is exited, as join does."""
    trig = tmp_path / "go"
    p = popen(procd, "run", "--name", "rp", "--", "sh", "-c", "echo up; exec sleep 30")
    try:
        assert readline(p) == b"up\n"
        conn.call("start", {"argv": ["sh", "-c", 'while [ ! -e "$1" ]; do sleep 0.02; done',
                                     "sh", str(trig)], "parent": "rp"})
        conn.call("signal", {"job": "rp", "signal": "KILL"})
        wait_until(lambda: lc_status(conn, "rp")["state"] == "waiting", 10)
        time.sleep(0.5)
        assert p.poll() is None, "run ended while its job waits for a child"
        with open(str(trig), "w"):
            pass
        finish(p)
        assert p.returncode == 137
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


# --- interrupts ---

def test_run_sigint_runs_term_handler(procd, conn):
    p = popen(procd, "run", "--name", "th", "--",
              "sh", "-c", 'trap "echo cleanup; echo cleanup-err >&2; exit 7" TERM; '
              'echo ready; while :; do sleep 0.05; done')
    try:
        assert readline(p) == b"ready\n"
        p.send_signal(signal.SIGINT)
        out, err = finish(p)
        assert out == b"cleanup\n", (out, err)
        assert b"cleanup-err\n" in err
        assert p.returncode == 7
        j = lc_join(conn, "th", timeout=5)
        assert j["exitcode"] == 7
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        kill_job_group(conn, "th")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_run_interrupt_terminates(procd, conn, sig):
    p = popen(procd, "run", "--name", "ts", "--", "sh", "-c", "echo ready; exec sleep 30")
    try:
        assert readline(p) == b"ready\n"
        t0 = time.monotonic()
        p.send_signal(sig)
        finish(p)
        assert p.returncode == 143
        assert time.monotonic() - t0 < 8
        assert lc_status(conn, "ts")["exitcode"] == -15
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        kill_job_group(conn, "ts")


def test_run_second_interrupt_kills(procd, conn):
    p = popen(procd, "run", "--name", "ig", "--stop-timeout", "60", "--",
              "sh", "-c", 'trap "" TERM; echo ready; exec sleep 60')
    try:
        assert readline(p) == b"ready\n"
        p.send_signal(signal.SIGINT)
        wait_until(lambda: lc_status(conn, "ig")["state"] == "stopping", 10)
        time.sleep(0.5)
        assert p.poll() is None, "run ended though the job ignores SIGTERM"
        assert lc_status(conn, "ig")["state"] == "stopping"
        t0 = time.monotonic()
        p.send_signal(signal.SIGINT)
        finish(p)
        assert p.returncode == 137
        assert time.monotonic() - t0 < 8, "the second interrupt did not kill at once"
        assert lc_status(conn, "ig")["exitcode"] == -9
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        kill_job_group(conn, "ig")


def test_run_interrupt_shows_output_until_end(procd, conn):
    """Output the job writes between the interrupt and its end is shown."""
    code = r"""
import signal, sys, time, os
def term(*a):
    for i in range(5):
        os.write(1, b"bye %d\n" % i)
        time.sleep(0.1)
    sys.exit(9)
signal.signal(signal.SIGTERM, term)
os.write(1, b"ready\n")
while True:
    time.sleep(1)
"""
    p = popen(procd, "run", "--name", "slow", "--", LC_PY, "-c", code)
    try:
        assert readline(p) == b"ready\n"
        p.send_signal(signal.SIGINT)
        out, err = finish(p)
        assert out == b"".join(b"bye %d\n" % i for i in range(5))
        assert p.returncode == 9
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        kill_job_group(conn, "slow")


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two CPUs")
def test_run_output_complete_when_procctl_is_slow(procd):
    """procctl run must show every byte even when the job writes more than
    its log_limit before procctl gets to follow it: procctl is starved of
    CPU (niced, pinned to a CPU with a busy loop) while the job runs."""
    cpu = min(os.sched_getaffinity(0))
    busy = subprocess.Popen([LC_PY, "-c", "while True: pass"],
                            preexec_fn=lambda: os.sched_setaffinity(0, {cpu}))
    try:
        r = subprocess.run([PROCCTL, "--socket", procd.sock, "run", "--",
                            "head", "-c", "2000000", "/dev/zero"],
                           capture_output=True, timeout=60, env=procd.env, cwd=procd.dir,
                           preexec_fn=lambda: (os.sched_setaffinity(0, {cpu}), os.nice(19)))
    finally:
        busy.kill()
        busy.wait()
    assert r.returncode == 0, r.stderr
    assert len(r.stdout) == 2000000, "procctl run showed %d of 2000000 bytes" % len(r.stdout)
    assert r.stdout == b"\0" * 2000000


# --- run --rm: the finished job's record is closed -------------------------

def test_run_rm_closes_the_record(procd, conn):
    r = run(procd, "run", "--rm", "--", "sh", "-c", "echo out; echo err >&2; exit 5")
    assert r.returncode == 5
    assert r.stdout == b"out\n" and r.stderr == b"err\n"
    assert conn.call("list") == []
    # without --rm the run-PID record stays, as before
    r = run(procd, "run", "--", "true")
    assert r.returncode == 0
    jobs = conn.call("list")
    assert len(jobs) == 1 and jobs[0]["name"].startswith("run-")


def test_run_rm_named_job_frees_its_name(procd, conn):
    for _ in range(3):
        r = run(procd, "run", "--rm", "--name", "again", "--", "true")
        assert r.returncode == 0, r.stderr
    e = conn.call_raw("status", {"job": "again"})
    assert e["error"]["code"] == -32001


def test_run_rm_after_an_interrupt(procd, conn):
    p = popen(procd, "run", "--rm", "--name", "rmi", "--", "sh", "-c",
              "echo ready; exec sleep 30")
    try:
        assert readline(p) == b"ready\n"
        p.send_signal(signal.SIGINT)
        finish(p)
        assert p.returncode == 143
        assert conn.call_raw("status", {"job": "rmi"})["error"]["code"] == -32001
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def test_run_rm_waits_for_child_jobs(procd, conn, tmp_path):
    """The record is closed only once the job has finished (with its
    non-daemon children), which is when run returns."""
    script = tmp_path / "parent.sh"
    script.write_text(
        'id=$(%s --socket %s start --parent rmp -- sleep 0.5 | sed "s/[^0-9].*//")\n'
        'echo started\n' % (PROCCTL, procd.sock))
    r = run(procd, "run", "--rm", "--name", "rmp", "--", "sh", str(script))
    assert r.returncode == 0, r.stderr
    assert b"started" in r.stdout
    names = [j["name"] for j in conn.call("list")]
    assert "rmp" not in names
    assert len(names) == 1     # the child's own record stays


def test_run_stdin_is_dev_null(procd):
    r = subprocess.run([PROCCTL, "--socket", procd.sock, "run", "--", "sh", "-c",
                        "readlink /proc/self/fd/0; cat"],
                       input=b"not for the job\n", capture_output=True, timeout=30)
    assert r.returncode == 0
    assert r.stdout == b"/dev/null\n"
