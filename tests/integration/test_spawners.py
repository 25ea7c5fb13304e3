# SPDX-License-Identifier: ISC
# Spawner processes (procd(8), --spawners): starts pipelined on one
# connection are spawned by helper processes while procd reads on, and
# what a client sees is what a procd spawning one at a time would show:
# ids in order, a failed start gives its id to the next, a join sent
# behind a start waits for it (or says the job does not exist when the
# spawn failed), the exact exec error, workers that are procd's children
# with the parent-death signal set, and that survive a reexec.
import json
import os
import signal
import time

import pytest

from conftest import LcProcs, lc_proc_stat, pid_alive, wait_until

SLEEP = ["sleep", "1000"]


def spawners_of(pid):
    """The pids of procd's children named procd-spawner."""
    out = []
    with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
        for child in f.read().split():
            try:
                with open("/proc/%s/comm" % child) as c:
                    if c.read().strip() == "procd-spawner":
                        out.append(int(child))
            except OSError:
                pass
    return out


def pipeline(c, requests):
    """Sends every request in one write; returns the answers by id."""
    lines = []
    for i, (method, params) in enumerate(requests, 1):
        lines.append(json.dumps({"jsonrpc": "2.0", "id": i, "method": method,
                                 "params": params}))
    c.send_raw("\n".join(lines) + "\n")
    return {i: c.response(i, timeout=30) for i in range(1, len(requests) + 1)}


@pytest.fixture
def workers():
    w = LcProcs()
    yield w
    w.kill_survivors()


def test_spawners_started_and_gone_after_stop(procd_factory):
    d = procd_factory(args=["--spawners", "2"])
    helpers = spawners_of(d.pid)
    assert len(helpers) == 2, helpers
    for h in helpers:
        # None of procd's fds but its own socket (and stdio).
        fds = sorted(int(f) for f in os.listdir("/proc/%d/fd" % h))
        assert fds == [0, 1, 2, 3], (h, fds)
    assert d.stop() == 0
    wait_until(lambda: not any(pid_alive(h) for h in helpers), 5)


def test_no_spawners(procd_factory):
    d = procd_factory(args=["--spawners", "0"])
    assert spawners_of(d.pid) == []
    c = d.connect()
    got = pipeline(c, [("start", {"argv": ["true"]})] * 8)
    assert sorted(r["result"]["id"] for r in got.values()) == list(range(1, 9))


def test_bad_spawners_option(procd_factory, tmp_path):
    import subprocess
    from conftest import PROCD
    r = subprocess.run([PROCD, "--socket", str(tmp_path / "x.sock"),
                        "--spawners", "17"], capture_output=True, text=True,
                       timeout=10)
    assert r.returncode == 2 and "--spawners" in r.stderr, r


@pytest.mark.parametrize("spawners", ["1", "2", "4"])
def test_pipelined_starts_in_order(procd_factory, workers, spawners):
    """64 starts and joins in one write: ids 1..64 in request order, the
    workers procd's children, each join answered with its exit."""
    d = procd_factory(args=["--spawners", spawners])
    c = d.connect()
    reqs = []
    for i in range(64):
        reqs.append(("start", {"argv": ["sh", "-c", "exit %d" % (i % 7)],
                               "name": "j%d" % i}))
        reqs.append(("join", {"job": "j%d" % i}))
    got = pipeline(c, reqs)
    for i in range(64):
        start = got[2 * i + 1]["result"]
        join = got[2 * i + 2]["result"]
        assert start["id"] == i + 1 and start["name"] == "j%d" % i, start
        assert join["id"] == i + 1 and join["exitcode"] == i % 7, join
    assert [j["id"] for j in c.call("list")] == list(range(1, 65))


def test_failed_start_gives_its_id_to_the_next(procd_factory, workers):
    """A start whose exec fails, between others in one write: its error
    is the exact one, a join behind it says no such job, and the next
    start takes its id and the name job-ID that goes with it."""
    d = procd_factory(args=["--spawners", "2"])
    c = d.connect()
    got = pipeline(c, [
        ("start", {"argv": SLEEP}),
        ("start", {"argv": ["/nonexistent/program"], "name": "bad"}),
        ("join", {"job": "bad", "timeout": 5}),
        ("start", {"argv": SLEEP}),
        ("start", {"argv": ["/etc/passwd"]}),
        ("start", {"argv": SLEEP, "cwd": "/nonexistent"}),
        ("start", {"argv": SLEEP}),
    ])
    first, bad, join, third, noexec, nocwd, last = (got[i] for i in range(1, 8))
    for j in (first, third, last):
        workers.add(j["result"]["pid"])
    assert first["result"]["id"] == 1 and first["result"]["name"] == "job-1"
    assert bad["error"]["code"] == -32005, bad
    assert bad["error"]["data"]["errno"] == 2, bad
    assert bad["error"]["data"]["during"] == "exec", bad
    assert join["error"]["code"] == -32001, join
    assert third["result"]["id"] == 2, third
    assert third["result"]["name"] == "job-2", third
    assert noexec["error"]["data"]["errno"] == 13, noexec
    assert nocwd["error"]["data"]["during"] == "chdir", nocwd
    assert last["result"]["id"] == 3 and last["result"]["name"] == "job-3"
    assert [j["name"] for j in c.call("list")] == ["job-1", "job-2", "job-3"]


def test_name_in_use_decided_by_the_spawn_out(procd_factory, workers):
    d = procd_factory(args=["--spawners", "2"])
    c = d.connect()
    got = pipeline(c, [
        ("start", {"argv": ["/nonexistent"], "name": "x"}),
        ("start", {"argv": SLEEP, "name": "x"}),
        ("start", {"argv": SLEEP, "name": "x"}),
    ])
    assert got[1]["error"]["code"] == -32005, got[1]
    workers.add(got[2]["result"]["pid"])
    assert got[2]["result"]["name"] == "x" and got[2]["result"]["id"] == 1
    assert got[3]["error"]["code"] == -32003, got[3]


def test_status_behind_starts_sees_them(procd_factory, workers):
    """Any other request waits for the spawns before it."""
    d = procd_factory(args=["--spawners", "2"])
    c = d.connect()
    got = pipeline(c, [("start", {"argv": SLEEP})] * 6 + [("list", {}),
                                                        ("info", {})])
    for i in range(1, 7):
        workers.add(got[i]["result"]["pid"])
    assert [j["id"] for j in got[7]["result"]] == list(range(1, 7))
    assert got[8]["result"]["jobs"]["running"] == 6


def test_workers_are_procds_children_with_pdeathsig(procd_factory, workers):
    d = procd_factory(args=["--spawners", "2"])
    c = d.connect()
    got = pipeline(c, [("start", {"argv": SLEEP})] * 16)
    pids = [workers.add(got[i]["result"]["pid"]) for i in range(1, 17)]
    for pid in pids:
        assert lc_proc_stat(pid)["ppid"] == d.pid
    d.proc.kill()
    d.proc.wait(10)
    wait_until(lambda: not any(pid_alive(p) for p in pids), 5)


def test_workers_survive_reexec(procd_factory, workers):
    """Spawner-made workers are tied to procd's main thread, which a
    reexec keeps: they outlive the switch, and still die with procd."""
    d = procd_factory(args=["--spawners", "2"])
    c = d.connect()
    got = pipeline(c, [("start", {"argv": SLEEP})] * 16)
    pids = [workers.add(got[i]["result"]["pid"]) for i in range(1, 17)]
    old = spawners_of(d.pid)
    r = c.call_raw("reexec", timeout=60)
    assert "error" not in r, r
    time.sleep(0.3)
    assert all(pid_alive(p) for p in pids)
    assert [j["pid"] for j in c.call("list")] == pids
    wait_until(lambda: not any(pid_alive(h) for h in old), 5)
    new = spawners_of(d.pid)
    assert len(new) == 2 and not set(new) & set(old), (old, new)
    got = pipeline(c, [("start", {"argv": SLEEP})] * 4)
    pids += [workers.add(got[i]["result"]["pid"]) for i in range(1, 5)]
    d.proc.kill()
    d.proc.wait(10)
    wait_until(lambda: not any(pid_alive(p) for p in pids), 5)


def test_unfound_program_between_starts(procd_factory, workers):
    """A start whose program is not in PATH (found out before any spawner
    sees it) between others, with nothing sent after: all are answered,
    in order."""
    d = procd_factory(args=["--spawners", "2"])
    c = d.connect()
    got = pipeline(c, [("start", {"argv": SLEEP}),
                       ("start", {"argv": ["no-such-program-here"]}),
                       ("start", {"argv": SLEEP}),
                       ("start", {"argv": SLEEP})])
    assert got[2]["error"]["code"] == -32005 and \
        got[2]["error"]["data"]["errno"] == 2, got[2]
    ids = [workers.add(got[i]["result"]["pid"]) and got[i]["result"]["id"]
           for i in (1, 3, 4)]
    assert ids == [1, 2, 3], ids


def test_pipelined_notify_workers_all_ready(procd_factory, workers):
    """A worker a spawner made may send READY=1 before procd has read the
    spawner's answer: the datagram still finds its job."""
    from conftest import lc_notify_argv
    d = procd_factory(args=["--spawners", "2"])
    c = d.connect()
    n = 40
    got = pipeline(c, [("start", {"argv": lc_notify_argv("READY=1"),
                                  "notify": True, "name": "n%d" % i})
                       for i in range(n)])
    for i in range(1, n + 1):
        workers.add(got[i]["result"]["pid"])
    wait_until(lambda: all(j["ready"] is True for j in c.call("list")), 10)
