# SPDX-License-Identifier: ISC
"""reexec when the new image refuses the state it is handed: it goes back
to the previous image, which answers the reexec with the reason and
carries on with every job and client as they were.

The new program is procd-next (the test build), which refuses any state
when PROCD_TEST_REFUSE_HANDOFF is set; the procd under test ignores it."""

import os
import shutil
import subprocess

import pytest

from conftest import PROCD, Conn, wait_for_socket

PROCD_NEXT = os.environ.get("PROCD_NEXT", "")
INTERNAL_ERROR = -32603


def put_program(src, dst):
    """Copy src over dst the way a package upgrade does (a new file
    renamed into place: a running program's file cannot be written)."""
    tmp = dst + ".new"
    shutil.copy(src, tmp)
    os.chmod(tmp, 0o755)
    os.replace(tmp, dst)


@pytest.fixture
def refusing(tmp_path):
    if not PROCD_NEXT or not os.access(PROCD_NEXT, os.X_OK):
        pytest.skip("PROCD_NEXT (tests/helpers/procd-next) is not built")
    prog = str(tmp_path / "procd")
    put_program(PROCD, prog)
    sock = str(tmp_path / "procd.sock")
    env = dict(os.environ, PROCD_TEST_REFUSE_HANDOFF="1")
    env.pop("PROCD_SOCKET", None)
    env.pop("NOTIFY_SOCKET", None)
    err = open(str(tmp_path / "procd.stderr"), "wb")
    proc = subprocess.Popen([prog, "--socket", sock, "-v"], env=env,
                            stdin=subprocess.DEVNULL, stdout=err, stderr=err,
                            cwd=str(tmp_path))
    wait_for_socket(sock, proc)
    yield proc, prog, sock
    proc.terminate()
    proc.wait(30)
    err.close()


def test_refused_state_goes_back_to_the_previous_image(refusing, tmp_path):
    proc, prog, sock = refusing
    a = Conn(sock)
    before = a.call("info")
    job = a.call("start", {"argv": ["sleep", "300"], "name": "keep"})
    waiter = Conn(sock)
    jid = waiter.request("join", {"job": job["id"], "timeout": 60})
    sub = Conn(sock)
    s = sub.call("subscribe", {})
    put_program(PROCD_NEXT, prog)

    r = a.call_raw("reexec")
    assert r["error"]["code"] == INTERNAL_ERROR, r
    msg = r["error"]["message"]
    assert "could not take over" in msg and "PROCD_TEST_REFUSE_HANDOFF" in msg, msg

    after = a.call("info")
    assert after["pid"] == before["pid"] == proc.pid
    assert after["version"] == before["version"]          # still the old image
    assert after["reexecs"] == 0
    assert after["started_at"] == before["started_at"]
    assert proc.poll() is None
    st = a.call("status", {"job": "keep"})
    assert st["state"] == "running" and st["pid"] == job["pid"]
    os.kill(job["pid"], 0)

    # The join parked before the attempt is still parked, and answered.
    a.call("kill", {"job": "keep"})
    j = waiter.response(jid, timeout=20)["result"]
    assert j["state"] == "exited" and j["exitcode"] == -9, j
    # The subscription goes on with the next seq, no gap.
    seqs = []
    while len(seqs) < 2:
        m = sub.recv(timeout=10)
        assert m["method"] == "event", m
        assert m["params"]["subscription"] == s["subscription"]
        seqs.append(m["params"]["seq"])
    assert seqs == [s["seq"] + 1, s["seq"] + 2], (s, seqs)
    # The previous image runs from a file the upgrade replaced: reexec
    # still runs the program at the path procd was started from.
    put_program(PROCD, prog)
    r = a.call("reexec", timeout=60)
    assert r["pid"] == proc.pid and r["version"] == before["version"], r
    assert a.call("info")["reexecs"] == 1
    assert a.call("status", {"job": "keep"})["state"] == "exited"
    for c in (a, waiter, sub):
        c.close()
    err = open(str(tmp_path / "procd.stderr")).read()
    assert "going back to the previous image" in err, err
