# SPDX-License-Identifier: ISC
# If procd dies (procd-protocol(7) section 13, "If procd dies"): without a
# clean stop (SIGKILL), its workers do not run on untracked: each gets
# SIGKILL from the kernel (the parent-death signal, set before exec),
# whatever its output mode or place in a family of jobs; a worker may
# change its own. Plus what must not change with it: start still reports
# exec failures exactly and synchronously (section 5, start).
import errno
import os
import signal
import time

import pytest

from conftest import (LC_PY, LcProcs, lc_err, lc_join, lc_start, lc_write_script, lg_records,
                      proc_start_time,
                      lg_text, pid_alive, wait_until)

SLEEP = ["sleep", "1000"]



class Workers(LcProcs):
    """Worker pids, each still running when noted."""

    def add(self, pid):
        super().add(pid)
        assert self.seen[pid] is not None, "worker %d is already gone" % pid
        return pid


@pytest.fixture
def workers():
    w = Workers()
    yield w
    w.kill_survivors()


def kill_procd(d):
    """SIGKILL procd, as a crash would end it, and reap it."""
    d.proc.kill()
    d.proc.wait(10)
    d.err.close()


def assert_all_gone(workers, pids, within=2.0):
    pids = list(pids)
    try:
        wait_until(lambda: not any(pid_alive(p) for p in pids), within)
    except TimeoutError:
        left = [p for p in pids if pid_alive(p)]
        pytest.fail("%d of %d workers outlived procd by %g s: %r"
                    % (len(left), len(pids), within, left))


@pytest.mark.parametrize("output", [None, "capture", "null", "inherit"])
def test_workers_killed_when_procd_dies(procd_factory, workers, output):
    d = procd_factory()
    c = d.connect()
    params = {} if output is None else {"output": output}
    pids = [workers.add(lc_start(c, SLEEP, **params)["pid"]) for _ in range(10)]
    assert len(c.call("list")) == 10
    kill_procd(d)
    assert_all_gone(workers, pids)


def test_job_families_killed_when_procd_dies(procd_factory, workers):
    """Parents, daemon children, ordinary children and grandchildren jobs:
    every one of them is a worker of procd's."""
    d = procd_factory()
    c = d.connect()
    parent = lc_start(c, SLEEP, name="parent")
    dchild = lc_start(c, SLEEP, parent="parent", daemon=True)
    child = lc_start(c, SLEEP, parent="parent", name="child")
    grand = lc_start(c, SLEEP, parent="child")
    gdaemon = lc_start(c, SLEEP, parent="child", daemon=True, output="null")
    jobs = [parent, dchild, child, grand, gdaemon]
    pids = [workers.add(j["pid"]) for j in jobs]
    assert all(j["ppid"] == d.pid for j in jobs), jobs
    kill_procd(d)
    assert_all_gone(workers, pids)


def test_worker_whose_process_exited_leaves_a_waiting_parent(procd_factory, workers):
    """A job in state waiting (its process gone, a child still running):
    the child dies with procd."""
    d = procd_factory()
    c = d.connect()
    parent = lc_start(c, ["sleep", "0.2"])
    child = lc_start(c, SLEEP, parent=parent["id"])
    workers.add(child["pid"])
    wait_until(lambda: c.call("status", {"job": parent["id"]})["state"] == "waiting", 10)
    kill_procd(d)
    assert_all_gone(workers, [child["pid"]])


CLEAR_PDEATHSIG = r"""
import ctypes, sys, time
libc = ctypes.CDLL(None, use_errno=True)
if libc.prctl(1, 0, 0, 0, 0) != 0:         # PR_SET_PDEATHSIG, 0: none
    sys.exit("prctl failed: %d" % ctypes.get_errno())
print("cleared", flush=True)
time.sleep(1000)
"""


def test_worker_may_clear_its_parent_death_signal(procd_factory, workers):
    d = procd_factory()
    c = d.connect()
    keeper = lc_start(c, [LC_PY, "-c", CLEAR_PDEATHSIG])
    workers.add(keeper["pid"])
    plain = lc_start(c, SLEEP)
    workers.add(plain["pid"])
    wait_until(lambda: "cleared" in lg_text(lg_records(c, keeper["id"])["records"]), 15)
    kill_procd(d)
    assert_all_gone(workers, [plain["pid"]])
    time.sleep(1.0)
    assert pid_alive(keeper["pid"]), "a worker that cleared its parent-death signal died"


GET_PDEATHSIG = r"""
import ctypes, sys
libc = ctypes.CDLL(None, use_errno=True)
sig = ctypes.c_int(-1)
if libc.prctl(2, ctypes.byref(sig), 0, 0, 0) != 0:     # PR_GET_PDEATHSIG
    sys.exit("prctl failed: %d" % ctypes.get_errno())
out = "pdeathsig=%d\n" % sig.value
if len(sys.argv) > 1:
    with open(sys.argv[1], "w") as f:
        f.write(out)
else:
    sys.stdout.write(out)
"""


def test_worker_parent_death_signal_is_sigkill(procd, conn):
    j = lc_start(conn, [LC_PY, "-c", GET_PDEATHSIG])
    assert lc_join(conn, j["id"])["exitcode"] == 0
    assert lg_text(lg_records(conn, j["id"])["records"]) == "pdeathsig=%d\n" % signal.SIGKILL


@pytest.mark.parametrize("output", ["null", "inherit"])
def test_worker_parent_death_signal_other_outputs(procd, conn, tmp_path, output):
    out = tmp_path / "pdeathsig"
    j = lc_start(conn, [LC_PY, "-c", GET_PDEATHSIG, str(out)], output=output)
    assert lc_join(conn, j["id"])["exitcode"] == 0
    assert out.read_text() == "pdeathsig=%d\n" % signal.SIGKILL


def test_child_job_parent_death_signal_is_sigkill(procd, conn):
    parent = lc_start(conn, SLEEP)
    j = lc_start(conn, [LC_PY, "-c", GET_PDEATHSIG], parent=parent["id"], daemon=True)
    assert lc_join(conn, j["id"])["exitcode"] == 0
    assert lg_text(lg_records(conn, j["id"])["records"]) == "pdeathsig=%d\n" % signal.SIGKILL
    conn.call("kill", {"job": parent["id"]})


# --- exec failures stay exact and synchronous --------------------------------------------

def exec_case(kind, tmp_path):
    if kind == "missing":
        return {"argv": [str(tmp_path / "no-such-program")]}, errno.ENOENT
    if kind == "missing-in-path":
        return {"argv": ["procd-no-such-command-4711"]}, errno.ENOENT
    if kind == "not-executable":
        p = lc_write_script(tmp_path / "plain.sh", "#!/bin/sh\nexit 0\n", 0o644)
        return {"argv": [p]}, errno.EACCES
    if kind == "missing-cwd":
        return {"argv": ["true"], "cwd": str(tmp_path / "no-such-folder")}, errno.ENOENT
    raise ValueError(kind)


@pytest.mark.parametrize("output", [None, "null", "inherit"])
@pytest.mark.parametrize("kind", ["missing", "missing-in-path", "not-executable",
                                  "missing-cwd"])
def test_exec_failure_exact_and_synchronous(procd, conn, tmp_path, kind, output):
    params, err = exec_case(kind, tmp_path)
    if output is not None:
        params["output"] = output
    e = lc_err(conn, "start", params)
    assert e["code"] == -32005, e
    assert os.strerror(err).lower() in e["message"].lower(), e
    assert conn.call("list") == [], "a failed start left a job"
    assert conn.call("info")["jobs"]["running"] == 0
    j = lc_start(conn, ["true"])
    assert lc_join(conn, j["id"])["exitcode"] == 0
