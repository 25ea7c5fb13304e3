# SPDX-License-Identifier: ISC
"""reexec as systemd drives it: `systemctl reload procd` runs the unit's
ExecReload= (procctl reexec) against a socket-activated procd, which tells
the manager RELOADING=1 before the switch and READY=1 after it. Here the
manager is systemd-socket-activate plus a NOTIFY_SOCKET the test binds
(PID 1 need not be systemd)."""

import os
import re
import shlex
import subprocess

from conftest import PROCCTL, Conn, Procd, wait_until
from test_systemd import (SLEEP, activated, notify, unit_text,  # noqa: F401
                          worker_fds)


def exec_reload(sock):
    """The system unit's ExecReload= command, run against sock."""
    m = re.search(r"^ExecReload=[-@:+!]*(.*)$", unit_text("", "procd.service"), re.M)
    assert m, "the unit has no ExecReload="
    argv = shlex.split(m.group(1))
    assert os.path.basename(argv[0]) == "procctl" and argv[-1] == "reexec", argv
    i = argv.index("--socket")
    argv[i + 1] = sock
    argv[0] = PROCCTL
    return subprocess.run(argv, capture_output=True, text=True, timeout=60)


def test_reload_under_socket_activation(tmp_path, srv_spawn, notify):
    paths = [str(tmp_path / "a.sock"), str(tmp_path / "b.sock")]
    p = activated(srv_spawn, tmp_path, paths, env={"NOTIFY_SOCKET": notify.path})
    a = Conn(paths[0])
    before = a.call("info", timeout=20)
    first, _ = notify.wait_for(lambda l: l == "READY=1")
    job = a.call("start", {"argv": SLEEP, "name": "kept"})
    waiter = Conn(paths[1])
    jid = waiter.request("join", {"job": "kept", "timeout": 60})

    r = exec_reload(paths[1])
    assert r.returncode == 0, r.stdout + r.stderr
    assert "procd replaced its image" in r.stdout, r.stdout
    i, _ = notify.wait_for(lambda l: l == "RELOADING=1", start=first + 1)
    j, usec = notify.wait_for(lambda l: l.startswith("MONOTONIC_USEC="), start=i)
    assert int(usec.split("=", 1)[1]) > 0
    notify.wait_for(lambda l: l == "READY=1", start=j)

    after = a.call("info")
    assert after["pid"] == before["pid"] == p.pid
    assert after["reexecs"] == 1 and after["started_at"] == before["started_at"]
    # Both passed sockets still listen; new connections are served.
    for path in paths:
        x = Conn(path)
        assert x.call("info")["reexecs"] == 1
        x.close()
    # The job runs on; a worker started now inherits none of the fds the
    # switch kept open.
    assert a.call("status", {"job": "kept"})["pid"] == job["pid"]
    j2 = a.call("start", {"argv": SLEEP})
    assert worker_fds(j2["pid"]) == [0, 1, 2]
    a.call("kill", {"job": "kept"})
    assert waiter.response(jid, timeout=20)["result"]["exitcode"] == -9
    a.close()
    waiter.close()
    assert p.stop() == 0, p.stderr_text()
    notify.wait_for(lambda l: l == "STOPPING=1")
    # Sockets procd was given are not procd's to remove, after a reexec too.
    for path in paths:
        assert os.path.lexists(path)


def test_own_socket_removed_after_reexec(tmp_path):
    """A socket procd created itself is still removed at its clean stop
    when a later image does the stopping."""
    procd = Procd(tmp_path)
    c = procd.connect()
    assert c.call("reexec")["pid"] == procd.pid
    assert c.call("info")["reexecs"] == 1
    c.close()
    assert procd.stop() == 0, procd.stderr_text()
    wait_until(lambda: not os.path.lexists(procd.sock), 5)
