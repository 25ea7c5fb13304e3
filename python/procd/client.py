# SPDX-License-Identifier: ISC
"""The blocking client: one Unix socket to procd, shared safely by the
threads of a process. Requests may be in flight from several threads at
once; whichever thread is waiting reads for all of them and hands each
answer or notification to its owner (responses by id, log records by
their request, events by their subscription)."""

import collections
import itertools
import os
import select
import threading
import time

from . import wire
from .address import connect_unix, socket_path
from .errors import (ConnectionLost, InvalidParams, ProcdConnectionError,
                     ProtocolError, UntrustedServer, error_from)
from .job import Job, job_ref
from .resume import RETRY_MAX, RETRY_MIN, EventCursor

__all__ = ["Client", "Events", "default_client"]

_READ_SIZE = 65536


def _deadline(wait):
    return None if wait is None else time.monotonic() + wait


def _left(deadline):
    return None if deadline is None else deadline - time.monotonic()


class _Connection:
    """One socket to procd. Anything procd sends lands in the queue of
    its key (see wire.route); keys nobody opened are dropped."""

    def __init__(self, path, timeout, max_line):
        self.path = path
        self.sock = connect_unix(path, timeout)
        self.sock.settimeout(None)
        self.poll = select.poll()
        self.poll.register(self.sock.fileno(), select.POLLIN)
        self.reader = wire.LineReader(path, max_line)
        self.ids = itertools.count(1)
        self.cond = threading.Condition()
        self.send_lock = threading.Lock()
        self.queues = {}
        self.subscribing = set()    # ids of subscribe requests
        self.reading = False
        self.closing = False
        self.write_closed = False
        self.failure = None     # makes the exception once it failed

    def request(self, method, params=None):
        """Send a request, its queues opened first; returns its id."""
        with self.cond:
            rid = next(self.ids)
            keys = [("id", rid)]
            if method == "logs" and params and params.get("follow"):
                keys.append(("log", rid))
            if method == "subscribe":
                self.subscribing.add(rid)
            self.open(*keys)
        try:
            self.send(wire.encode(wire.request(method, params, rid)))
        except BaseException:
            self.forget(*keys)
            raise
        return rid

    def batch(self, calls):
        """Send a batch; returns the ids of its requests."""
        with self.cond:
            ids = [next(self.ids) for _ in calls]
            self.open(("id", min(ids)))
        msgs = [wire.request(m, p, i) for (m, p), i in zip(calls, ids)]
        try:
            self.send(wire.encode(msgs))
        except BaseException:
            self.forget(("id", min(ids)))
            raise
        return ids

    def call(self, method, params, deadline):
        rid = self.request(method, params)
        try:
            _, msg = self.wait([("id", rid)], deadline, method)
        finally:
            self.forget(("id", rid))
        return wire.result_of(msg)

    def open(self, *keys):
        with self.cond:
            for k in keys:
                self.queues.setdefault(k, collections.deque())

    def forget(self, *keys):
        with self.cond:
            for k in keys:
                self.queues.pop(k, None)
                if k[0] == "id":
                    self.subscribing.discard(k[1])

    def send(self, data):
        with self.send_lock:
            if self.failure is not None:
                raise self.failure()
            if self.write_closed:
                return
            try:
                self.sock.sendall(data)
            except (BrokenPipeError, ConnectionResetError):
                # procd closed the connection; what it wrote before (a
                # refusal: too many clients) is still to be read, and the
                # reading ends in its error or an end of file.
                self.write_closed = True
            except OSError as e:
                self.fail(self._lost(e))
                raise self.failure() from None

    def wait(self, keys, deadline, what="an answer"):
        """(key, message): the next message for one of keys, the first
        key first. Raises the connection's failure, or TimeoutError."""
        while True:
            with self.cond:
                while True:
                    for k in keys:
                        q = self.queues.get(k)
                        if q:
                            return k, q.popleft()
                    if self.failure is not None:
                        raise self.failure()
                    left = _left(deadline)
                    if left is not None and left <= 0:
                        raise TimeoutError("procd at %s did not answer %s in "
                                           "time" % (self.path, what))
                    if not self.reading:
                        self.reading = True
                        break
                    self.cond.wait(left)
            # An exception out of a read (an interrupt) may have lost
            # bytes: the stream cannot be trusted after it.
            msgs, failure = [], self._lost(None, "interrupted while reading")
            try:
                msgs, failure = self._read(left)
            finally:
                self._done_reading(msgs, failure)

    def _done_reading(self, msgs, failure):
        with self.cond:
            self.reading = False
            for m in msgs:
                if self.failure is not None:
                    break       # nothing after a fatal error counts
                self._dispatch(m)
            if failure is not None and self.failure is None:
                self.failure = failure
            if self.failure is not None:
                self.shutdown()
            if self.closing:
                self.sock.close()
            self.cond.notify_all()

    def _read(self, left):
        """One read: (messages, None) or ([], failure)."""
        try:
            if not self.poll.poll(None if left is None else
                                  max(0, left) * 1000):
                return [], None
            data = self.sock.recv(_READ_SIZE)
        except OSError as e:
            return [], self._lost(e)
        if not data:
            return [], self._lost(None)
        try:
            return self.reader.feed(data), None
        except ProtocolError as e:
            text = str(e)
            return [], lambda: ProtocolError(text, self.path)

    def _lost(self, err, why="procd closed the connection"):
        """What makes the ConnectionLost of an OSError, or of why."""
        if err is not None:
            why = err.strerror or str(err)
        text = "lost the connection to procd at %s: %s" % (self.path, why)
        return lambda: ConnectionLost(text, self.path)

    def _dispatch(self, msg):
        key = wire.route(msg)
        if key == "fatal":
            # An error no request can claim: procd refused the connection
            # (too many clients) or what was sent on it; every request
            # pending gets it and the connection is given up.
            self.failure = lambda: error_from(msg["error"])
            return
        q = self.queues.get(key)
        if q is None:
            return
        q.append(msg)
        # A subscription's events may follow its answer in the same read:
        # their queue must exist before they are routed.
        if key[0] == "id" and key[1] in self.subscribing:
            self.subscribing.discard(key[1])
            result = msg.get("result")
            if isinstance(result, dict):
                self.queues.setdefault(("event", result.get("subscription")),
                                       collections.deque())

    def fail(self, failure):
        with self.cond:
            if self.failure is None:
                self.failure = failure
            self.cond.notify_all()

    def shutdown(self):
        """Wake every thread blocked on the socket; they see a failure."""
        try:
            self.sock.shutdown(2)
        except OSError:
            pass

    def close(self, shutdown=True):
        """Close the socket: now, or when the thread reading it is done
        (closing a descriptor that another thread polls could let it
        read a file opened meanwhile under the same number). Threads
        waiting get ValueError."""
        self.fail(lambda: ValueError("the procd client is closed"))
        if shutdown:
            self.shutdown()
        with self.send_lock, self.cond:
            self.closing = True
            if not self.reading:
                self.sock.close()


class Client:
    """A connection to procd.

    Connects to socket, else $PROCD_SOCKET, else procd's default path
    for this user (/run/procd/procd.sock for root,
    $XDG_RUNTIME_DIR/procd/procd.sock or /tmp/procd-UID/procd.sock
    otherwise). Before sending anything it checks who serves the socket:
    a process running neither as root nor as this user raises
    UntrustedServer. Failing to connect raises ConnectFailed; both are
    ConnectionError subclasses naming the path.

    timeout bounds the wait for each answer (None: no limit); a timeout
    raises TimeoutError. Methods that wait by design (a join, a followed
    log, events) wait as long as they must, plus this timeout. max_line
    bounds one message from procd (ProtocolError beyond it).

    One Client may be shared by the threads of a process: requests from
    several threads are in flight together on its one connection. It
    must not be used across os.fork(); default_client() gives each
    process its own. A connection procd closed is made again on the next
    request (events() resumes its subscription then); requests pending
    when it dropped raise ConnectionLost.

    Errors from procd raise ProcdError subclasses (NoSuchJob, JobRunning,
    ...). The Client is a context manager that closes itself.
    """

    def __init__(self, socket=None, timeout=None, *, max_line=wire.MAX_LINE):
        self.socket = socket_path(socket)
        self.timeout = timeout
        self.max_line = max_line
        self._lock = threading.Lock()
        self._closed = False
        self._pid = os.getpid()
        self._current = {}          # os pid -> id of its job, or None
        self._conn = _Connection(self.socket, timeout, max_line)

    def __repr__(self):
        return "<procd.Client socket=%r%s>" % (
            self.socket, " closed" if self._closed else "")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        """Close the connection. Jobs started through it keep running."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            conn, self._conn = self._conn, None
        if conn is not None:
            # A forked child must not shut down its parent's connection.
            conn.close(shutdown=os.getpid() == self._pid)

    @property
    def closed(self):
        return self._closed

    def _connection(self):
        with self._lock:
            if self._closed:
                raise ValueError("the procd client is closed")
            if self._conn is None or self._conn.failure is not None:
                old, self._conn = self._conn, None
                if old is not None:
                    old.close()
                self._conn = _Connection(self.socket, self.timeout,
                                         self.max_line)
            return self._conn

    def _wait_for(self, method, params):
        """How long an answer to method may take."""
        if self.timeout is None:
            return None
        if method == "join":
            t = (params or {}).get("timeout")
            return None if t is None else t + self.timeout
        if method == "logs" and (params or {}).get("follow"):
            return None
        if method == "start" and (params or {}).get("wait_ready"):
            return None
        return self.timeout

    def call(self, method, params=None):
        """Send one request and return its result (a dict, list, or other
        JSON value); an error answer raises its ProcdError subclass."""
        return self._connection().call(
            method, params, _deadline(self._wait_for(method, params)))

    def batch(self, calls):
        """Send [(method, params), ...] as one JSON-RPC batch; returns
        the results in the same order, each a result or the ProcdError
        of that request (not raised)."""
        calls = [(m, p) for m, p in calls]
        if not calls:
            raise ValueError("an empty batch")
        waits = [self._wait_for(m, p) for m, p in calls]
        wait = None if None in waits else max(waits)
        conn = self._connection()
        ids = conn.batch(calls)
        key = ("id", min(ids))
        try:
            _, msg = conn.wait([key], _deadline(wait), "the batch")
        finally:
            conn.forget(key)
        if not isinstance(msg, list):
            wire.result_of(msg)     # an error answer raises here
            raise ProtocolError("procd answered a batch with one object",
                                self.socket)
        return wire.batch_results(msg, ids)

    def info(self):
        """procd's info: version, pid, uid, socket, jobs per state..."""
        return self.call("info")

    def start(self, argv=None, **options):
        """Start a job and return it, a started Job. Takes what Job takes
        (target=, args=, name=, daemon=, parent=, env=, cwd=, and any
        other start param such as restart or output)."""
        job = Job(argv, client=self, **options)
        job.start()
        return job

    def job(self, job):
        """The Job of an existing job, by id or name (NoSuchJob if none)."""
        return Job._attach(self, self.call("status",
                                           {"job": job_ref(job)}))

    def jobs(self, state=None, parent=None):
        """The jobs this user may act on, as Jobs ordered by id; state (a
        state or a list of states) and parent (a job) filter them."""
        params = {}
        if state is not None:
            params["state"] = state if isinstance(state, str) else list(state)
        if parent is not None:
            params["parent"] = job_ref(parent)
        return [Job._attach(self, o) for o in self.call("list", params)]

    def current_job(self):
        """The Job this process runs as on this procd, or None."""
        obj = self._current_obj()
        return None if obj is None else Job._attach(self, obj)

    def _current_obj(self):
        pid = os.getpid()
        if self._current.get(pid, 0) is None:
            return None
        for obj in self.call("list", {"state": "running"}):
            if obj.get("pid") == pid:
                self._current[pid] = obj["id"]
                return obj
        # A process does not become a job later; remember that it is none.
        self._current[pid] = None
        return None

    def _current_id(self):
        pid = os.getpid()
        if pid in self._current:
            return self._current[pid]
        obj = self._current_obj()
        return None if obj is None else obj["id"]

    def _follow(self, params):
        """Generator of log notification params of a logs request with
        follow; returns its final result."""
        conn = self._connection()
        rid = conn.request("logs", params)
        keys = [("log", rid), ("id", rid)]
        try:
            while True:
                key, msg = conn.wait(keys, None, "logs")
                if key[0] == "log":
                    yield msg["params"]
                else:
                    return wire.result_of(msg)
        finally:
            conn.forget(*keys)

    def events(self, since=None, jobs=None):
        """Subscribe to procd's events and return an iterator over them:
        each the params of an event notification, {"subscription",
        "seq", "event", "job"} (a "gap" event has "from" and "to" instead
        of a job). The subscription is made now: what happens from here
        on is seen. since replays the events after that sequence number
        first; jobs limits them to those jobs (ids or names).

        When the connection drops, the iterator connects again and
        resumes from the last event seen, so nothing is lost or repeated
        (as procctl events does). If procd itself restarted meanwhile, one
        event {"event": "restarted", "seq": None, "job": None} says so,
        and events go on from the new procd's. close() the iterator (or
        use it as a context manager) to unsubscribe."""
        cursor = EventCursor(since, None if jobs is None else
                             [job_ref(j) for j in jobs])
        conn = self._connection()
        self._subscribe(conn, cursor, True)
        return Events(self, cursor, conn)

    def _subscribe(self, conn, cursor, first):
        """Subscribe on conn where cursor stands; returns a "restarted"
        event to hand out first, or None."""
        note = None
        deadline = _deadline(self.timeout)
        if cursor.identify(conn.call("info", None, deadline)):
            note = cursor.restarted()
        while True:
            params = cursor.params()
            try:
                cursor.subscribed(conn.call("subscribe", params, deadline))
            except InvalidParams:
                # A since this procd never reached: it restarted after all.
                if first or "since" not in params:
                    raise
                note = cursor.restarted()
                continue
            if note is not None:
                note["subscription"] = cursor.subscription
            return note


class Events:
    """The iterator Client.events returns."""

    def __init__(self, client, cursor, conn):
        self._client = client
        self._cursor = cursor
        self._conn = conn
        self._sub = cursor.subscription
        self._closed = False

    def __iter__(self):
        return self

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __next__(self):
        delay = RETRY_MIN
        while not self._closed:
            try:
                if self._sub is None:
                    self._conn = self._client._connection()
                    note = self._client._subscribe(self._conn, self._cursor,
                                                   False)
                    self._sub = self._cursor.subscription
                    delay = RETRY_MIN
                    if note is not None:
                        return note
                _, msg = self._conn.wait([("event", self._sub)], None,
                                         "events")
                ev = self._cursor.accept(msg["params"])
                if ev is not None:
                    return ev
            except UntrustedServer:
                raise
            except ProcdConnectionError:
                self._forget()
                time.sleep(delay)
                delay = min(delay * 2, RETRY_MAX)
        raise StopIteration

    def _forget(self):
        if self._sub is not None:
            self._conn.forget(("event", self._sub))
        sub, self._sub = self._sub, None
        return sub

    def close(self):
        """Unsubscribe; the iteration ends."""
        if self._closed:
            return
        self._closed = True
        sub = self._forget()
        if sub is not None and self._conn.failure is None:
            try:
                self._conn.send(wire.notification(
                    "unsubscribe", {"subscription": sub}))
            except ProcdConnectionError:
                pass

    def __del__(self):
        # No I/O from a finalizer: only stop queueing its events.
        try:
            self._forget()
        except Exception:
            pass


_defaults = {}
_defaults_lock = threading.Lock()


def default_client():
    """The Client that Jobs created without client= use: one per
    process, connected on first use to the default socket
    ($PROCD_SOCKET or procd's default path)."""
    pid = os.getpid()
    with _defaults_lock:
        c = _defaults.get(pid)
        if c is None or c.closed:
            _defaults.clear()       # a forked child's copy is its parent's
            c = _defaults[pid] = Client()
        return c
