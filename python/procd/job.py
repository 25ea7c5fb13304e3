# SPDX-License-Identifier: ISC
"""Job: one procd job, with the interface of multiprocessing.Process.
JobBase holds what the blocking and the asyncio Job share: the job's
description before it starts, the start params, the last job object procd
sent, and the process side of target= jobs."""

import base64
import math
import os
import signal as _signal
import sys
import time
import traceback
from typing import NamedTuple

from . import _target

__all__ = ["Job", "JobBase", "LogRecord", "CURRENT", "job_ref"]


class _Current:
    """The default parent: the job this process runs as, if any."""

    def __repr__(self):
        return "procd.CURRENT"

    def __reduce__(self):
        return "CURRENT"


CURRENT = _Current()


class LogRecord(NamedTuple):
    """One record of a job's output: stream ("stdout" or "stderr"), data
    (the bytes as the job wrote them) and time (time.time() when this
    client received it: procd keeps no time with its records)."""
    stream: str
    data: bytes
    time: float

    @property
    def text(self):
        return self.data.decode("utf-8", "replace")


def _record(params, now):
    return LogRecord(params["stream"], base64.b64decode(params["data"]), now)


def _stream_param(streams):
    if isinstance(streams, str):
        return streams
    s = set(streams)
    if s == {"stdout"} or s == {"stderr"}:
        return s.pop()
    if s == {"stdout", "stderr"}:
        return "both"
    raise ValueError("streams: 'stdout', 'stderr' or 'both', not %r"
                     % (streams,))


def _logs_params(job, tail, streams):
    p = {"job": job, "encoding": "base64"}
    stream = _stream_param(streams)
    if stream != "both":
        p["stream"] = stream
    if tail is not None:
        p["tail"] = tail
    return p


def _signal_param(sig):
    if isinstance(sig, str):
        return sig
    if isinstance(sig, bool) or not isinstance(sig, int):
        raise TypeError("a signal is a number or a name, not %r" % (sig,))
    return int(sig)


def _exitcode_text(code):
    if code is not None and code < 0:
        try:
            return "-" + _signal.Signals(-code).name
        except ValueError:
            pass
    return str(code)


def _argv(argv):
    if isinstance(argv, (str, bytes)):
        raise TypeError("argv is a list of strings, not one string")
    return [os.fsdecode(os.fspath(a)) for a in argv]


class JobBase:
    """What a blocking and an asyncio Job share; see Job."""

    def __init__(self, argv=None, *, target=None, args=(), kwargs=None,
                 name=None, daemon=None, parent=CURRENT, env=None, cwd=None,
                 client=None, **options):
        if argv is not None and target is not None:
            raise TypeError("a job runs argv or target, not both")
        if "argv" in options:
            raise TypeError("argv given twice")
        self._obj = None
        self._closed = False
        self._argv = None if argv is None else _argv(argv)
        self._target = target
        self._args = tuple(args)
        self._kwargs = dict(kwargs or {})
        self._name = None
        self._daemon = None
        if name is not None:
            self.name = name
        if daemon is not None:
            self.daemon = daemon
        self._parent = parent
        self._env = None if env is None else dict(env)
        self._cwd = cwd
        self._options = options
        self._client = client

    @classmethod
    def _attach(cls, client, obj):
        job = cls.__new__(cls)
        JobBase.__init__(job, parent=None, client=client)
        job._update(obj)
        return job

    # A Job travels pickled to the process of a target job (and may be
    # an argument of one) without its connection: there, it uses the
    # default client, which PROCD_SOCKET points at the same procd.
    def __getstate__(self):
        state = self.__dict__.copy()
        state["_client"] = None
        return state

    def _update(self, obj):
        obj = dict(obj)
        obj.pop("timed_out", None)
        self._obj = obj

    def _check_closed(self):
        if self._closed:
            raise ValueError("job object is closed")

    def _check_started(self, what):
        self._check_closed()
        if self._obj is None:
            raise RuntimeError("can only %s a started job" % what)

    def _final(self):
        return self._obj is not None and self._obj.get("state") == "exited"

    def _check_startable(self):
        self._check_closed()
        if self._obj is not None:
            raise RuntimeError("cannot start a job twice")
        _target.check_not_loading_main()

    def _start_params(self, parent, socket):
        """The params of the start request; parent is the id of
        the parent job or None, socket the client's path (a target job
        gets it as PROCD_SOCKET, to reach the procd that runs it)."""
        params = dict(self._options)
        if self._argv is not None:
            params["argv"] = self._argv
            env = self._env
        else:
            params["argv"], env = _target.command(self, self._env, socket)
        if env is not None:
            params["env"] = env
        if self._name is not None:
            params["name"] = self._name
        if self._daemon is not None:
            params["daemon"] = self._daemon
        if parent is not None:
            params["parent"] = parent
        params["cwd"] = os.fspath(self._cwd) if self._cwd is not None \
            else os.getcwd()
        return params

    def _parent_ref(self):
        """The parent as given: CURRENT, None, or an id or name."""
        p = self._parent
        if p is CURRENT or p is None:
            return p
        return job_ref(p)

    def _join_params(self, timeout):
        p = {"job": self.id}
        # As Process.join: an infinite timeout is no timeout.
        if timeout is not None and float(timeout) != math.inf:
            p["timeout"] = max(0.0, float(timeout))
        return p

    def _spawn_failed(self, err):
        """A start that failed may still leave a record (wait_ready: the
        job exited before it was ready); keep it, so it can be closed."""
        if isinstance(err.data, dict) and type(err.data.get("id")) is int:
            self._update(err.data)

    @property
    def id(self):
        """The job's id (None until started)."""
        return None if self._obj is None else self._obj["id"]

    @property
    def name(self):
        """The job's name: as given, or procd's job-ID once started."""
        if self._obj is not None:
            return self._obj["name"]
        return self._name

    @name.setter
    def name(self, name):
        if self._obj is not None:
            raise RuntimeError("cannot rename a started job")
        if not isinstance(name, str):
            raise TypeError("name must be a string")
        self._name = name

    @property
    def daemon(self):
        """The daemon flag: a daemon job is terminated when its parent
        job's process ends (and may have no children). Set it before
        start(), as with Process."""
        if self._obj is not None:
            return self._obj["daemon"]
        return bool(self._daemon)

    @daemon.setter
    def daemon(self, daemonic):
        if self._obj is not None:
            raise RuntimeError("cannot set the daemon flag of a started job")
        self._daemon = bool(daemonic)

    def run(self):
        """What a job started without argv runs, in its own process: calls
        target(*args, **kwargs). Override it in a subclass, as with
        Process.run; the Job is pickled to the new process."""
        if self._target is not None:
            self._target(*self._args, **self._kwargs)

    def _bootstrap(self):
        """Run in the job's process; returns the exit status as a
        multiprocessing child's."""
        try:
            self.run()
            code = 0
        except SystemExit as e:
            if e.code is None:
                code = 0
            elif isinstance(e.code, int):
                code = e.code
            else:
                sys.stderr.write(str(e.code) + "\n")
                code = 1
        except BaseException:
            # The process does not know the name procd gave it.
            sys.stderr.write("Job %s:\n" % (self.name or
                                             "(pid %d)" % os.getpid()))
            traceback.print_exc()
            code = 1
        finally:
            for f in (sys.stdout, sys.stderr):
                try:
                    f.flush()
                except (AttributeError, ValueError, OSError):
                    pass
        return code

    def __repr__(self):
        obj = self._obj
        parts = ["name=%r" % (self.name,)]
        if self._closed:
            state = "closed"
        elif obj is None:
            state = "initial"
        else:
            state = obj.get("state")
        if obj is not None:
            parts.append("pid=%s" % (obj.get("pid"),))
        parts.append("state=%s" % (state,))
        if obj is not None and obj.get("exitcode") is not None:
            parts.append("exitcode=%s" % _exitcode_text(obj["exitcode"]))
        if self.daemon:
            parts.append("daemon")
        return "<%s %s>" % (type(self).__name__, " ".join(parts))


def job_ref(job):
    """A job as the protocol names it: its id (a started Job's), or its
    name."""
    if isinstance(job, JobBase):
        if job.id is None:
            raise ValueError("the job has not been started")
        return job.id
    if isinstance(job, bool) or not isinstance(job, (int, str)):
        raise TypeError("a job is named by its id (int) or name (str), not %r"
                        % (job,))
    return job


class Job(JobBase):
    """A procd job, used as multiprocessing.Process is.

    Give argv (a program and its arguments) or target (a function, called
    with args and kwargs in a new Python process, as multiprocessing's
    spawn start method does: the target, its arguments and the Job are
    pickled; the main module is loaded again under another name, so keep
    the program's start behind `if __name__ == "__main__":`). The
    child's exit status is 0 when target returns, 1 when it raises (the
    traceback goes to its stderr), the code of a SystemExit. Its output
    goes where the job's output goes: procd keeps it (see logs()).

    name: the job's name (procd names it job-ID otherwise). daemon: a
    daemon job is terminated when its parent job's process ends.
    parent: CURRENT (the default) makes the job a child of the job this
    process runs as, when it is one on the same procd, so that its
    daemon children end with it and it waits for the others; None: no
    parent; a Job, id or name: that job. env: variables to set (a None
    value removes one) over procd's own environment. cwd: the working
    folder, by default this process's. client: the Client to use (by
    default procd.default_client()). Any other keyword is passed to
    procd's start unchanged: restart, restart_delay, restart_limit,
    notify, wait_ready, ready_timeout, kill_mode, output, log_limit,
    stop_timeout, user, group...

    exitcode is None until the job's process has exited, then its exit
    status, or -N when signal N killed it. A job stays alive (is_alive(),
    join() waits) until it is finished: its process has exited and so
    have its non-daemon children.
    """

    def _conn(self):
        if self._client is None:
            from .client import default_client
            self._client = default_client()
        return self._client

    def _refresh(self):
        """The job object, asked again unless it is final."""
        if not self._final():
            self._update(self._conn().call("status", {"job": self.id}))
        return self._obj

    def start(self):
        """Start the job (once)."""
        self._check_startable()
        client = self._conn()
        parent = self._parent_ref()
        if parent is CURRENT:
            parent = client._current_id()
        params = self._start_params(parent, client.socket)
        from .errors import SpawnFailed
        try:
            obj = client.call("start", params)
        except SpawnFailed as e:
            self._spawn_failed(e)
            raise
        self._update(obj)

    def join(self, timeout=None):
        """Wait until the job is finished, or timeout seconds have passed
        (then it goes on running). Returns None, as Process.join does."""
        self._check_started("join")
        if self._final():
            return
        self._update(self._conn().call("join", self._join_params(timeout)))

    def is_alive(self):
        """Whether the job is started and not yet finished (a job whose
        process exited but whose children run on is still alive)."""
        self._check_closed()
        if self._obj is None:
            return False
        return self._refresh()["state"] != "exited"

    @property
    def exitcode(self):
        """None until the job's process exited; then its status, or -N
        for signal N (a negative number, as with Process)."""
        self._check_closed()
        if self._obj is None:
            return None
        return self._refresh()["exitcode"]

    @property
    def pid(self):
        """The process id of the job's (latest) process."""
        self._check_closed()
        if self._obj is None:
            return None
        if self._obj.get("restart", "no") != "no":
            self._refresh()
        return self._obj["pid"]

    ident = pid

    @property
    def state(self):
        """running, stopping, restarting, waiting or exited (None before
        start)."""
        self._check_closed()
        if self._obj is None:
            return None
        return self._refresh()["state"]

    @property
    def restarts(self):
        """How many times procd restarted the job's process."""
        self._check_closed()
        if self._obj is None:
            return 0
        return self._refresh()["restarts"]

    def status(self):
        """The job object, as procd has it now (a dict)."""
        self._check_started("ask about")
        self._update(self._conn().call("status", {"job": self.id}))
        return dict(self._obj)

    def terminate(self, recursive=False):
        """SIGTERM, then SIGKILL after its stop_timeout (recursive: also
        every descendant job)."""
        self._act("terminate", recursive)

    def kill(self, recursive=False):
        """SIGKILL at once (recursive: also every descendant job)."""
        self._act("kill", recursive)

    def _act(self, method, recursive):
        self._check_started(method)
        p = {"job": self.id}
        if recursive:
            p["recursive"] = True
        self._update(self._conn().call(method, p))

    def signal(self, sig, group=False):
        """Send a signal (a number, signal.SIGUSR1, or a name such as
        "HUP") to the job's process, or with group=True to its process
        group."""
        self._check_started("signal")
        p = {"job": self.id, "signal": _signal_param(sig)}
        if group:
            p["group"] = True
        self._update(self._conn().call("signal", p))

    def close(self):
        """Release the job's record at procd. A job not finished raises
        JobRunning (a ValueError, as Process.close raises). Afterwards
        most methods and properties raise ValueError."""
        if self._closed:
            return
        if self._obj is not None:
            self._update(self._conn().call("close", {"job": self.id}))
        self._closed = True

    def logs(self, follow=False, tail=None, streams="both"):
        """The job's output as LogRecords (stream, data bytes, time).
        tail: only the last N lines; streams: "stdout", "stderr" or
        "both". With follow, records keep coming as the job writes them
        until it is finished (the job's state is then known without
        asking again); closing the iterator early stops handing them
        out (procd sends the rest anyway, and it is dropped)."""
        self._check_started("read the logs of")
        p = _logs_params(self.id, tail, streams)
        if follow:
            p["follow"] = True
            return self._follow(p)
        r = self._conn().call("logs", p)
        now = time.time()
        return iter([_record(rec, now) for rec in r["records"]])

    def _follow(self, params):
        notes = self._conn()._follow(params)
        try:
            while True:
                try:
                    n = next(notes)
                except StopIteration as stop:
                    final = stop.value
                    break
                yield _record(n, time.time())
        finally:
            notes.close()
        if isinstance(final, dict) and isinstance(final.get("job"), dict):
            self._update(final["job"])
