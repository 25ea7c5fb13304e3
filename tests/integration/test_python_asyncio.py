# SPDX-License-Identifier: ISC
# procd.aio, the asyncio flavour of the Python client, against the real
# procd: connecting (and refusing a server of another user), every Job
# operation awaited, requests in flight together on one connection,
# followed logs, target= jobs, and events resumed after procd cut the
# connection.
import asyncio
import os
import signal
import sys

import pytest

PYDIR = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..",
                                     "python"))
sys.path.insert(0, PYDIR)
import procd  # noqa: E402
import procd.aio  # noqa: E402
# fixtures and data shared with the blocking client's tests
from test_python_client import BIG, HELPER, daemon, foreign_server  # noqa: E402,F401

SLEEP = ["sleep", "1000"]


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 120))


async def data(job, stream=None):
    return b"".join([r.data async for r in job.logs()
                     if stream is None or r.stream == stream])


def test_connect_info_and_close(daemon):
    async def main():
        async with await procd.aio.connect(daemon.sock) as c:
            info = await c.info()
            assert info["pid"] == daemon.pid
            assert repr(c).startswith("<procd.aio.AsyncClient")
        with pytest.raises(ValueError):
            await c.info()
    run(main())


def test_connect_failure(tmp_path):
    path = str(tmp_path / "none.sock")

    async def main():
        with pytest.raises(procd.ConnectFailed) as e:
            await procd.aio.connect(path)
        assert path in str(e.value) and isinstance(e.value, ConnectionError)
    run(main())


def test_untrusted_server_refused(foreign_server):
    sock, uid, received = foreign_server

    async def main():
        with pytest.raises(procd.UntrustedServer) as e:
            await procd.aio.connect(sock)
        assert sock in str(e.value) and ("uid %d" % uid) in str(e.value)
    run(main())
    assert received() == b""


def test_job_operations(daemon, tmp_path):
    async def main():
        c = await procd.aio.connect(daemon.sock)
        j = procd.aio.Job(["sh", "-c", "echo hi; exit 4"], client=c, name="a1")
        assert repr(j) == "<Job name='a1' state=initial>"
        await j.start()
        assert j.name == "a1" and type(j.pid) is int and j.state == "running"
        await j.join()
        assert j.exitcode == 4 and j.state == "exited"
        assert not await j.is_alive()
        assert (await j.status())["exitcode"] == 4
        assert await data(j) == b"hi\n"
        await j.close()
        with pytest.raises(ValueError):
            j.exitcode

        s = await c.start(SLEEP, daemon=True)
        assert s.daemon is True
        await s.join(0.2)
        assert await s.is_alive() and s.exitcode is None
        with pytest.raises(ValueError) as e:
            await s.close()
        assert isinstance(e.value, procd.JobRunning) and e.value.code == -32002
        await s.signal("HUP")
        await s.join()
        assert s.exitcode == -signal.SIGHUP
        await s.close()

        for how, code in (("terminate", -signal.SIGTERM), ("kill", -signal.SIGKILL)):
            k = await c.start(SLEEP)
            await getattr(k, how)()
            await k.join()
            assert k.exitcode == code, how
            await k.close()

        with pytest.raises(procd.NoSuchJob):
            await c.job("nope")
        with pytest.raises(procd.SpawnFailed):
            await c.start(["/nonexistent"])
        d = await c.start(SLEEP, daemon=True, name="d")
        with pytest.raises(procd.InvalidParent):
            await c.start(SLEEP, parent="d")
        assert (await c.job("d")).id == d.id
        assert [x.id for x in await c.jobs(state="running")] == [d.id]
        with pytest.raises(TypeError):
            await procd.aio.Job(SLEEP).start()
        await d.kill()
        await c.close()
    run(main())


def test_refused_connection_and_close(procd_factory):
    """One connection too many: procd's -32007 with a null id, written as
    soon as it accepts, reaches the request. Closing the client ends a
    join that waits."""
    one = procd_factory(args=["--max-clients", "1"])

    async def main():
        while True:     # until the fixture's probe connection is gone
            first = await procd.aio.connect(one.sock)
            try:
                assert (await first.info())["pid"] == one.pid
                break
            except procd.LimitReached:
                await first.close()
                await asyncio.sleep(0.02)
        second = await procd.aio.connect(one.sock)
        with pytest.raises(procd.LimitReached):
            await second.info()
        await second.close()
        j = await first.start(SLEEP)
        join = asyncio.ensure_future(j.join())
        await asyncio.sleep(0)
        await first.close()
        with pytest.raises(ValueError):
            await join
    run(main())


def test_requests_in_flight_together(daemon, tmp_path):
    """Joins wait on one connection while other requests are answered."""
    go = tmp_path / "go"

    async def main():
        c = await procd.aio.connect(daemon.sock)
        waiters = [await c.start(["sh", "-c", 'while [ ! -e "$1" ]; do sleep 0.02; done; '
                                  'exit %d' % i, "sh", str(go)]) for i in range(3)]
        joins = asyncio.gather(*(w.join() for w in waiters))
        for i in range(5):
            q = await c.start(["sh", "-c", "exit %d" % (10 + i)])
            await q.join()
            assert q.exitcode == 10 + i
        assert not joins.done()
        go.touch()
        await joins
        assert [w.exitcode for w in waiters] == [0, 1, 2]
        await c.close()
    run(main())


def test_logs_follow(daemon, tmp_path):
    go = tmp_path / "go"

    async def main():
        c = await procd.aio.connect(daemon.sock)
        j = await c.start(["sh", "-c", 'echo one; while [ ! -e "$1" ]; do sleep 0.02; done; '
                           'echo two >&2; exit 3', "sh", str(go)])
        got = []
        async for rec in j.logs(follow=True):
            got.append((rec.stream, rec.data))
            if len(got) == 1:
                assert rec.data == b"one\n"
                assert (await j.status())["state"] == "running"
                go.touch()
        assert got == [("stdout", b"one\n"), ("stderr", b"two\n")]
        assert j.state == "exited" and j.exitcode == 3     # from the final answer
        await c.close()
    run(main())


def test_target_job(daemon, tmp_path, monkeypatch):
    (tmp_path / "pd_helper_aio.py").write_text(HELPER)
    monkeypatch.syspath_prepend(str(tmp_path))
    import pd_helper_aio

    async def main():
        c = await procd.aio.connect(daemon.sock)
        j = await c.start(target=pd_helper_aio.greet, args=("Yuki", 3),
                          kwargs={"name": "Nagato", "num": 4})
        await j.join()
        assert j.exitcode == 0
        assert await data(j) == \
            b"args ('Yuki', 3) kwargs [('name', 'Nagato'), ('num', 4)]\n"
        f = await c.start(target=pd_helper_aio.fail)
        await f.join()
        assert f.exitcode == 1 and b"ValueError: boom" in await data(f, "stderr")
        await c.close()
    run(main())


def test_events_resume_after_procd_cuts_the_connection(procd_factory):
    """The event loop is blocked (a blocking client generates the load),
    so the asyncio client reads nothing and procd cuts it at its output
    limit; the iterator resumes with since: every event exactly once."""
    d = procd_factory(args=["--max-output", "131072"])
    async def main():
        c = await procd.aio.connect(d.sock)
        events = c.events(since=0)
        with procd.Client(d.sock) as other:
            j = other.start(["true"])
            j.join()
            j.close()
            assert [(await events.__anext__())["seq"] for _ in range(3)] == [1, 2, 3]
            before = c._stream
            for _ in range(12):         # blocks the loop: nothing is read
                j = other.start(["true", BIG])
                j.join()
                j.close()
            newest = other.call("subscribe")["seq"]
        assert newest == 39
        seqs = []
        async for ev in events:
            seqs.append(ev["seq"])
            if ev["seq"] == newest:
                break
        assert seqs == list(range(4, newest + 1))
        assert c._stream is not before, "the connection was not cut"
        await events.aclose()
        await c.close()
    run(main())


def test_events_after_a_dropped_connection(daemon):
    async def main():
        c = await procd.aio.connect(daemon.sock)
        events = c.events(since=0)
        with procd.Client(daemon.sock) as other:
            a = other.start(["true"])
            got = [await events.__anext__()]       # subscribed on first use
            a.join()
            c._transport.abort()
            b = other.start(["true"])
            b.join()
        async for ev in events:
            got.append(ev)
            if len(got) == 4:
                break
        assert [(e["seq"], e["event"], e["job"]["id"]) for e in got] == [
            (1, "started", a.id), (2, "exited", a.id),
            (3, "started", b.id), (4, "exited", b.id)]
        await events.aclose()
        await c.close()
    run(main())
