# SPDX-License-Identifier: ISC
"""procd for asyncio: AsyncClient and Job, the same operations as the
blocking ones, awaited. The messages, their routing, the errors, the
events' resumption and the job's description are the blocking client's
(wire, resume, errors, job.JobBase); only the waiting differs.

    import asyncio, procd.aio

    async def main():
        async with await procd.aio.connect() as client:
            job = await client.start(["sh", "-c", "echo hi; exit 3"])
            async for rec in job.logs(follow=True):
                print(rec.stream, rec.data)
            await job.join()
            print(job.exitcode)                 # 3
            await job.close()

    asyncio.run(main())
"""

import asyncio
import os
import socket as _socket
import time

from . import wire
from .address import check_peer, connect_failed, socket_path
from .errors import (ConnectionLost, InvalidParams, ProcdConnectionError,
                     ProtocolError, SpawnFailed, UntrustedServer, error_from)
from .job import (CURRENT, JobBase, LogRecord, _logs_params, _record,
                  _signal_param, job_ref)
from .resume import RETRY_MAX, RETRY_MIN, EventCursor

__all__ = ["connect", "AsyncClient", "Job", "Events", "CURRENT", "LogRecord"]


class _Failed:
    """Put in every queue of a connection that failed: how to make the
    exception (the client may be on another connection by the time a
    task reads it)."""

    def __init__(self, make):
        self.make = make


async def connect(socket=None, timeout=None, *, max_line=wire.MAX_LINE):
    """A connected AsyncClient; the socket path and the check of who
    serves it are as for procd.Client."""
    client = AsyncClient(socket, timeout, max_line=max_line)
    await client._connect()
    return client


class _Stream(asyncio.Protocol):
    """Feeds what procd sends to the client's queues."""

    def __init__(self, client):
        self.client = client
        client._stream = self

    def connection_made(self, transport):
        # Before create_unix_connection returns: procd may already have
        # written (a refusal for too many clients).
        self.transport = transport
        self.client._transport = transport

    def data_received(self, data):
        self.client._received(self, data)

    def connection_lost(self, exc):
        if isinstance(exc, (BrokenPipeError, ConnectionResetError)):
            self._drain()
        self.client._lost(self, exc)

    def _drain(self):
        """A write failed because procd closed the connection: what it
        wrote before (a refusal: too many clients) is still unread. The
        socket is open until connection_lost returns."""
        try:
            fd = self.transport.get_extra_info("socket").fileno()
            while True:
                data = os.read(fd, 65536)
                if not data:
                    return
                self.client._received(self, data)
        except (OSError, AttributeError):
            pass


class AsyncClient:
    """A connection to procd for asyncio code; make it with
    `await procd.aio.connect(socket=None, timeout=None)`. Requests from
    several tasks may be in flight at once. A dropped connection is made
    again on the next request. An async context manager."""

    def __init__(self, socket=None, timeout=None, *, max_line=wire.MAX_LINE):
        self.socket = socket_path(socket)
        self.timeout = timeout
        self.max_line = max_line
        self._transport = None
        self._stream = None
        self._reader = None
        self._queues = {}
        self._subscribing = set()
        self._failure = None
        self._next_id = 1
        self._closed = False
        self._lock = None
        self._current = {}

    def __repr__(self):
        return "<procd.aio.AsyncClient socket=%r%s>" % (
            self.socket, " closed" if self._closed else "")

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        await self.close()

    async def _connect(self):
        loop = asyncio.get_running_loop()
        sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
        sock.setblocking(False)
        try:
            try:
                await asyncio.wait_for(loop.sock_connect(sock, self.socket),
                                       self.timeout)
            except OSError as e:
                raise connect_failed(self.socket, e) from e
            check_peer(sock, self.socket)
            self._reader = wire.LineReader(self.socket, self.max_line)
            self._failure = None
            self._queues = {}
            self._subscribing = set()
            await loop.create_unix_connection(lambda: _Stream(self),
                                              sock=sock)
        except BaseException:
            sock.close()
            raise

    async def _connection(self):
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:      # one new connection, not one per task
            if self._closed:
                raise ValueError("the procd client is closed")
            if self._transport is None or self._failure is not None:
                if self._transport is not None:
                    self._stream = None     # its callbacks count no more
                    self._transport.abort()
                    self._transport = None
                await self._connect()

    def _received(self, stream, data):
        if stream is not self._stream or self._failure is not None:
            return
        try:
            msgs = self._reader.feed(data)
        except ProtocolError as e:
            text = str(e)
            self._fail(lambda: ProtocolError(text, self.socket))
            self._transport.abort()
            return
        for msg in msgs:
            key = wire.route(msg)
            if key == "fatal":
                # No request can claim it: the connection is given up.
                self._fail(lambda m=msg: error_from(m["error"]))
                self._transport.abort()
                return
            q = self._queues.get(key)
            if q is None:
                continue
            q.put_nowait(msg)
            # Events may follow a subscribe answer in the same read.
            if key[0] == "id" and key[1] in self._subscribing:
                self._subscribing.discard(key[1])
                result = msg.get("result")
                if isinstance(result, dict):
                    self._queues.setdefault(
                        ("event", result.get("subscription")), asyncio.Queue())

    def _lost(self, stream, exc):
        if stream is not self._stream:
            return
        why = "closed the connection" if exc is None else \
            "dropped the connection: %s" % (exc,)
        self._fail(lambda: ConnectionLost("procd at %s %s" %
                                          (self.socket, why), self.socket))

    def _fail(self, failure):
        if self._failure is not None:
            return
        self._failure = failure
        for q in set(self._queues.values()):
            q.put_nowait(_Failed(failure))

    def _open(self, *keys):
        """One queue for all keys: a follow's records and its final
        answer arrive through it in order."""
        q = asyncio.Queue()
        for k in keys:
            self._queues[k] = q
        return q

    def _forget(self, *keys):
        for k in keys:
            self._queues.pop(k, None)
            if k[0] == "id":
                self._subscribing.discard(k[1])

    async def _get(self, q, wait):
        try:
            msg = await asyncio.wait_for(q.get(), wait)
        except asyncio.TimeoutError:
            raise TimeoutError("procd at %s did not answer in time" %
                               self.socket) from None
        if isinstance(msg, _Failed):
            q.put_nowait(msg)       # for whoever reads this queue next
            raise msg.make()
        return msg

    async def _send(self, method, params, keys_extra=()):
        """Send a request with its queue opened; returns (id, queue)."""
        await self._connection()
        rid = self._next_id
        self._next_id += 1
        keys = [("id", rid)] + [(k, rid) for k in keys_extra]
        q = self._open(*keys)
        if method == "subscribe":
            self._subscribing.add(rid)
        self._transport.write(wire.encode(wire.request(method, params, rid)))
        return rid, q

    def _wait_for(self, method, params):
        if self.timeout is None:
            return None
        if method == "join":
            t = (params or {}).get("timeout")
            return None if t is None else t + self.timeout
        if (params or {}).get("follow") or (params or {}).get("wait_ready"):
            return None
        return self.timeout

    async def call(self, method, params=None):
        """Send one request; its result, or its ProcdError raised."""
        rid, q = await self._send(method, params)
        try:
            msg = await self._get(q, self._wait_for(method, params))
        finally:
            self._forget(("id", rid))
        return wire.result_of(msg)

    async def close(self):
        """Close the connection; jobs keep running. Tasks waiting get
        ValueError."""
        self._closed = True
        self._fail(lambda: ValueError("the procd client is closed"))
        if self._transport is not None:
            self._transport.close()
            self._transport = None

    async def info(self):
        return await self.call("info")

    async def start(self, argv=None, **options):
        """Start a job (as procd.Job takes it) and return the started Job."""
        job = Job(argv, client=self, **options)
        await job.start()
        return job

    async def job(self, job):
        """The Job of an existing job, by id or name."""
        obj = await self.call("status", {"job": job_ref(job)})
        return Job._attach(self, obj)

    async def jobs(self, state=None, parent=None):
        """The jobs this user may act on, as Jobs."""
        params = {}
        if state is not None:
            params["state"] = state if isinstance(state, str) else list(state)
        if parent is not None:
            params["parent"] = job_ref(parent)
        return [Job._attach(self, o) for o in await self.call("list", params)]

    async def current_job(self):
        """The Job this process runs as on this procd, or None."""
        for obj in await self.call("list", {"state": "running"}):
            if obj.get("pid") == os.getpid():
                return Job._attach(self, obj)
        return None

    async def _current_id(self):
        pid = os.getpid()
        if pid not in self._current:
            job = await self.current_job()
            self._current[pid] = None if job is None else job.id
        return self._current[pid]

    async def _follow(self, params):
        """Yields ("log", params) for each record, then ("end", result)."""
        rid, q = await self._send("logs", params, ("log",))
        try:
            while True:
                msg = await self._get(q, None)
                if msg.get("method") == "log":
                    yield "log", msg["params"]
                else:
                    yield "end", wire.result_of(msg)
                    return
        finally:
            self._forget(("id", rid), ("log", rid))

    def events(self, since=None, jobs=None):
        """Async iterator over procd's events, resumed across dropped
        connections, as procd.Client.events; the subscription is made
        when the iteration starts (since= replays what came before).
        aclose() it to unsubscribe."""
        return Events(self, EventCursor(since, None if jobs is None else
                                        [job_ref(j) for j in jobs]))

    async def _subscribe(self, cursor, first):
        note = None
        if cursor.identify(await self.call("info")):
            note = cursor.restarted()
        while True:
            params = cursor.params()
            try:
                cursor.subscribed(await self.call("subscribe", params))
            except InvalidParams:
                if first or "since" not in params:
                    raise
                note = cursor.restarted()
                continue
            if note is not None:
                note["subscription"] = cursor.subscription
            return note


class Events:
    """The async iterator AsyncClient.events returns."""

    def __init__(self, client, cursor):
        self._client = client
        self._cursor = cursor
        self._queue = None
        self._first = True
        self._closed = False

    def __aiter__(self):
        return self

    async def __anext__(self):
        client, cursor = self._client, self._cursor
        delay = RETRY_MIN
        while not self._closed:
            try:
                if self._queue is None:
                    note = await client._subscribe(cursor, self._first)
                    self._first = False
                    self._queue = client._queues.get(
                        ("event", cursor.subscription))
                    delay = RETRY_MIN
                    if note is not None:
                        return note
                if self._queue is None:
                    raise ConnectionLost("procd at %s dropped the connection"
                                         % client.socket, client.socket)
                ev = cursor.accept((await client._get(self._queue,
                                                      None))["params"])
                if ev is not None:
                    return ev
            except UntrustedServer:
                raise
            except ProcdConnectionError:
                if self._first:
                    raise
                self._forget()
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX)
        raise StopAsyncIteration

    def _forget(self):
        if self._queue is not None:
            self._client._forget(("event", self._cursor.subscription))
        self._queue = None

    async def aclose(self):
        """Unsubscribe; the iteration ends."""
        if self._closed:
            return
        self._closed = True
        had = self._queue is not None
        self._forget()
        client = self._client
        if had and client._transport is not None and client._failure is None:
            client._transport.write(wire.notification(
                "unsubscribe", {"subscription": self._cursor.subscription}))


class Job(JobBase):
    """A procd job for asyncio code: procd.Job's constructor (client= an
    AsyncClient is required), with its methods awaited. exitcode, pid,
    state and restarts are those of the last answer procd gave about the
    job (start, join, status, terminate...); await status() to ask
    again."""

    def _conn(self):
        if self._client is None:
            raise TypeError("an asyncio Job needs client=, an AsyncClient")
        return self._client

    async def start(self):
        """Start the job (once)."""
        self._check_startable()
        client = self._conn()
        parent = self._parent_ref()
        if parent is CURRENT:
            parent = await client._current_id()
        params = self._start_params(parent, client.socket)
        try:
            obj = await client.call("start", params)
        except SpawnFailed as e:
            self._spawn_failed(e)
            raise
        self._update(obj)

    async def join(self, timeout=None):
        """Wait until the job is finished or timeout seconds passed."""
        self._check_started("join")
        if self._final():
            return
        self._update(await self._conn().call("join",
                                             self._join_params(timeout)))

    async def status(self):
        """The job object, asked again."""
        self._check_started("ask about")
        self._update(await self._conn().call("status", {"job": self.id}))
        return dict(self._obj)

    async def is_alive(self):
        self._check_closed()
        if self._obj is None:
            return False
        if not self._final():
            await self.status()
        return self._obj["state"] != "exited"

    async def terminate(self, recursive=False):
        await self._act("terminate", {"recursive": True} if recursive else {})

    async def kill(self, recursive=False):
        await self._act("kill", {"recursive": True} if recursive else {})

    async def signal(self, sig, group=False):
        p = {"signal": _signal_param(sig)}
        if group:
            p["group"] = True
        await self._act("signal", p)

    async def _act(self, method, params):
        self._check_started(method)
        params["job"] = self.id
        self._update(await self._conn().call(method, params))

    async def close(self):
        """Release the record; JobRunning (a ValueError) if not finished."""
        if self._closed:
            return
        if self._obj is not None:
            self._update(await self._conn().call("close", {"job": self.id}))
        self._closed = True

    async def logs(self, follow=False, tail=None, streams="both"):
        """Async iterator of LogRecords, as procd.Job.logs."""
        self._check_started("read the logs of")
        p = _logs_params(self.id, tail, streams)
        if not follow:
            r = await self._conn().call("logs", p)
            now = time.time()
            for rec in r["records"]:
                yield _record(rec, now)
            return
        p["follow"] = True
        async for kind, value in self._conn()._follow(p):
            if kind == "log":
                yield _record(value, time.time())
            elif isinstance(value.get("job"), dict):
                self._update(value["job"])

    def _cached(self, field, default=None):
        self._check_closed()
        return default if self._obj is None else self._obj[field]

    exitcode = property(lambda self: self._cached("exitcode"),
                        doc="exit status as last known (-N: signal N)")
    pid = property(lambda self: self._cached("pid"), doc="process id")
    state = property(lambda self: self._cached("state"),
                     doc="state as last known")
    restarts = property(lambda self: self._cached("restarts", 0),
                        doc="restarts as last known")
