# SPDX-License-Identifier: ISC
# The tutorial examples (examples/): each program, run with multiprocessing,
# with the Python client and with procctl, prints the same lines and exits
# with the same status; the procd forms really run their children as jobs
# of the private procd, with the exit codes the output claims, and leave no
# job record behind.
#
# What "the same lines" means (examples/README.md says it too): two
# children that run at once interleave by timing, so the comparison is
# the whole output as a multiset, each source's lines (the text before the
# first ':', one per process) in their order, and the last line, which
# main prints once every child has been joined. stderr must be equal
# (empty), byte for byte.
import os
import subprocess
import sys
import time

import pytest

from conftest import PROCCTL, lg_check_event, lg_subscribe

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                    "..", ".."))
EXAMPLES = os.path.join(ROOT, "examples")
PYDIR = os.path.join(ROOT, "python")
PY = sys.executable or "/usr/bin/python3"
PROGRAMS = ("sing_dance", "arguments", "join", "daemon")

# The tutorial's output of each program (as a multiset: see above) and
# main's exit status.
EXPECTED = {
    "sing_dance": (0, ["sing: la", "sing: la la", "sing: la la la",
                       "dance: left", "dance: right", "dance: turn around",
                       "main: both done"]),
    "arguments": (0, ["Yuki: 1 of 3", "Yuki: 2 of 3", "Yuki: 3 of 3",
                      "Nagato: 1 of 4", "Nagato: 2 of 4", "Nagato: 3 of 4",
                      "Nagato: 4 of 4", "main: done"]),
    "join": (2, ["ok: finished my work", "fail: giving up",
                 "main: waiting for ok and fail",
                 "main: hang alive after join(timeout=1): True",
                 "main: ok exitcode 0", "main: fail exitcode 3",
                 "main: hang exitcode -15"]),
    "daemon": (0, ["main: work started (daemon=True)", "main: work alive: True",
                   "main: exiting; work ends with me"]),
}

# The jobs a procd form starts: (exitcode, daemon) of each.
# daemon's main is a job too (the daemon-child rule needs a parent job),
# and its work is torn down by SIGTERM when main's process ends.
EXPECTED_JOBS = {
    "sing_dance": [(0, False), (0, False)],
    "arguments": [(0, False), (0, False)],
    "join": [(-15, False), (0, False), (3, False)],
    "daemon": [(-15, True), (0, False)],
}

# The multiprocessing runs, once per program: the reference.
_reference = {}


def example(name, form):
    return os.path.join(EXAMPLES, "%s_%s" % (name, form))


def run(argv, env=None, cwd=None, timeout=90, scrub=()):
    e = dict(os.environ)
    for k in ("PROCD_SOCKET",) + tuple(scrub):
        e.pop(k, None)
    e.update(env or {})
    return subprocess.run([str(a) for a in argv], capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, env=e, cwd=cwd, timeout=timeout)


def procd_env(procd):
    """What a user exports to use a procd: its socket, procctl in PATH,
    the client in PYTHONPATH."""
    return {"PROCD_SOCKET": procd.sock,
            "PATH": os.path.dirname(os.path.abspath(PROCCTL)) + os.pathsep +
            os.environ.get("PATH", "/usr/bin:/bin"),
            "PYTHONPATH": PYDIR}


def shown(r):
    return "exit %s\n--- stdout\n%s--- stderr\n%s" % (r.returncode, r.stdout, r.stderr)


def by_source(lines):
    """Each source's lines in their order; the source is the text before
    the first ':' (one per process in these programs)."""
    out = {}
    for line in lines:
        out.setdefault(line.split(":", 1)[0], []).append(line)
    return out


def reference(name):
    """The multiprocessing run of a program, checked against the tutorial."""
    if name not in _reference:
        # Unbuffered (python3 -u), print writes a line in pieces, and two
        # multiprocessing children writing to one pipe may cut into each
        # other's lines: their output is only whole lines when buffered.
        r = run([PY, example(name, "mp.py")], cwd=EXAMPLES,
                scrub=("PYTHONUNBUFFERED",))
        status, lines = EXPECTED[name]
        assert r.returncode == status, "%s_mp.py: %s" % (name, shown(r))
        assert sorted(r.stdout.splitlines()) == sorted(lines), \
            "%s_mp.py does not print the tutorial's lines: %s" % (name, shown(r))
        assert r.stderr == "", "%s_mp.py: %s" % (name, shown(r))
        _reference[name] = r
    return _reference[name]


def assert_same(r, ref, what):
    msg = "%s diverges from multiprocessing:\n%s\n=== multiprocessing:\n%s" % (
        what, shown(r), shown(ref))
    got, want = r.stdout.splitlines(), ref.stdout.splitlines()
    assert r.returncode == ref.returncode, msg
    assert sorted(got) == sorted(want), msg
    assert by_source(got) == by_source(want), msg
    assert got[-1:] == want[-1:], msg
    assert r.stderr == ref.stderr, msg


class Jobs:
    """Every job of the private procd, as its events tell: subscribed
    before the example starts, so that none is missed."""

    def __init__(self, procd):
        self.conn = procd.connect()
        self.sub = lg_subscribe(self.conn)["subscription"]
        self.last = {}          # id -> newest job object
        self.closed = set()

    def read(self, until, timeout=30.0):
        """Read events until until(self) holds."""
        deadline = time.monotonic() + timeout
        while not until(self):
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("jobs never settled: %r" % self.summary())
            try:
                m = self.conn.recv(left)
            except TimeoutError:
                raise AssertionError("jobs never settled: %r"
                                     % self.summary()) from None
            assert m is not None, "procd closed the event connection"
            p = lg_check_event(m, self.sub) if m.get("method") == "event" else None
            if p is None or p["event"] == "gap":
                continue
            self.last[p["job"]["id"]] = p["job"]
            if p["event"] == "closed":
                self.closed.add(p["job"]["id"])

    def all_closed(self):
        return bool(self.last) and set(self.last) == self.closed

    def summary(self):
        """(exitcode, daemon) of each job, sorted; what is still open
        shows its state."""
        return sorted(((j["exitcode"], j["daemon"]) if j["id"] in self.closed
                       else (j["exitcode"], j["daemon"], j["state"], "not closed")
                       for j in self.last.values()), key=repr)

    def close_left(self, procd):
        """Close what an example could not close itself (procctl run's own
        job and what it left), children first."""
        for jid in sorted(set(self.last) - self.closed, reverse=True):
            procd.call("join", {"job": jid}, timeout=30)
            procd.call("close", {"job": jid})


def check_jobs(jobs, name):
    jobs.read(Jobs.all_closed)
    assert jobs.summary() == sorted(EXPECTED_JOBS[name], key=repr), jobs.last
    if name == "daemon":
        main = [j for j in jobs.last.values() if not j["daemon"]]
        work = [j for j in jobs.last.values() if j["daemon"]]
        assert work[0]["parent"] == main[0]["id"], jobs.last


@pytest.mark.parametrize("name", PROGRAMS)
def test_multiprocessing(name):
    reference(name)


@pytest.mark.parametrize("name", PROGRAMS)
def test_procctl(procd, name):
    ref = reference(name)
    jobs = Jobs(procd)
    r = run(["sh", example(name, "procctl.sh")], env=procd_env(procd), cwd=procd.dir)
    assert_same(r, ref, "%s_procctl.sh" % name)
    check_jobs(jobs, name)


@pytest.mark.parametrize("name", PROGRAMS)
def test_client(procd, name):
    ref = reference(name)
    jobs = Jobs(procd)
    r = run([PY, example(name, "procd.py")], env=procd_env(procd), cwd=procd.dir)
    assert_same(r, ref, "%s_procd.py" % name)
    check_jobs(jobs, name)


def test_client_daemon_under_procctl_run(procd):
    """daemon_procd.py started as a job by procctl run, the way the
    README shows too: main is already a job, so work becomes its child."""
    ref = reference("daemon")
    jobs = Jobs(procd)
    env = procd_env(procd)
    r = run([PROCCTL, "run", "--env", "PROCD_SOCKET=" + procd.sock,
             "--env", "PYTHONPATH=" + PYDIR, "--",
             PY, example("daemon", "procd.py")], env=env, cwd=procd.dir)
    assert_same(r, ref, "procctl run -- daemon_procd.py")
    jobs.read(lambda j: len(j.last) == 2)
    jobs.close_left(procd)
    check_jobs(jobs, "daemon")
