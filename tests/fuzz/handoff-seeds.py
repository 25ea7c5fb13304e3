#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""Remakes tests/fuzz/handoff-corpus/: the reexec states of a real procd,
and the seeds made from one of them by mutation.

Runs a real procd, puts it in many states (jobs running, exited,
restarting, stopping, waiting, notify, tree, with output; clients with a
pending join, a batch, a logs follow with half a character, subscriptions,
a half-sent line, answers not yet read) and makes it reexec into a shell
script that saves the state it is handed and then executes a real procd,
which takes it over. Each state is written as valid-NAME.bin (the format
procd writes, procd-handoff-2), or as bug-refused-NAME.bin if procd
--handoff-check refuses it (a real state must always be taken: that is a
bug of the check). Then the seeds made from valid-small.bin and from
valid-small.json (derived_seeds), for each format: bad-* (must be
refused), valid-* (must be taken) and bug-accepted-* (taken, but wrong:
known bugs of the check, written bad-* once the check refuses them). The
corpus's README says what each bug-* file is.

The procd-handoff-1 (JSON) states, valid-*.json, were written by procd
before format 2 and are kept as they are: no procd writes them any more,
and the reader of that format stays fuzzed from them and from the seeds
made from valid-small.json. handoff_format2.py reads and writes format 2
in the shape of a format 1 document, so one list of mutations serves both.

Usage: handoff-seeds.py [--procd PATH] [--out DIR] [--keep] [--derived-only]
  --procd         the procd to run (default: $PROCD, else ./daemon/procd)
  --out           where to write (default: handoff-corpus beside this)
  --keep          keep the work folder (procd's logs, the states as saved)
  --derived-only  only remake the seeds made from OUT/valid-small.*
Exits 1 if a bad-* seed is taken, a valid-* one refused, or procd's live
answer and --handoff-check disagree about a real state.

How the state is caught: procd reexecutes the file at the path it was
started from, first with --handoff-formats, then with --handoff FD. The
procd is started from a copy of the binary in a temporary folder; before
each reexec a wrapper script is put onto that path with os.replace (as a
package upgrade does; a running binary cannot be written). The script runs
the next binary for --handoff-formats, and otherwise copies
/proc/self/fd/FD to the output and executes the next binary with the same
arguments. The next binary then runs from its own path, so the next
capture puts a wrapper there. A client's unwritten output is cut to 1 KiB
(trim): the rest of a state is as procd wrote it.

As root it also runs a job as nobody; it uses kill_mode tree where
cgroups allow (else the states have no tree job), in folders of its own under $TMPDIR, and
stops every job and procd when done.
"""
import argparse
import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import handoff_format2 as h2     # noqa: E402
from handoff_format2 import Raw, Unrepresentable, enc_int     # noqa: E402
LEFT = 600              # seconds: long enough that nothing fires mid-run

WRAPPER = r"""#!/bin/sh
# Saves the state a reexec hands over, then executes the real procd.
next=%(next)s
out=%(out)s
for a in "$@"; do
	if [ "$a" = --handoff-formats ]; then
		exec "$next" "$@"
	fi
done
fd=
take=0
for a in "$@"; do
	if [ "$take" = 1 ]; then
		fd=$a
		break
	fi
	[ "$a" = --handoff ] && take=1
done
if [ -n "$fd" ]; then
	cat "/proc/self/fd/$fd" >"$out.tmp" && mv "$out.tmp" "$out"
fi
exec "$next" "$@"
"""


def die(msg):
    sys.stderr.write("handoff-seeds: %s\n" % msg)
    sys.exit(1)


class Conn:
    """A JSON-RPC 2.0 client over the unix socket, one message a line."""

    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(60)
        self.sock.connect(path)
        self.buf = b""
        self.pending = []
        self.next_id = 1

    def send_raw(self, data):
        self.sock.sendall(data if isinstance(data, bytes) else data.encode())

    def request(self, method, params=None, id=None, notify=False):
        msg = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            msg["params"] = params
        if not notify:
            if id is None:
                id = self.next_id
                self.next_id += 1
            msg["id"] = id
        self.send_raw(json.dumps(msg) + "\n")
        return id

    def line(self, timeout=60):
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no answer from procd")
            self.sock.settimeout(left)
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("procd closed the connection")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def response(self, id, timeout=60):
        for i, m in enumerate(self.pending):
            if isinstance(m, dict) and m.get("id") == id and "method" not in m:
                return self.pending.pop(i)
        while True:
            m = self.line(timeout)
            if isinstance(m, dict) and m.get("id") == id and "method" not in m:
                return m
            self.pending.append(m)

    def call(self, method, params=None, timeout=60):
        r = self.response(self.request(method, params), timeout)
        if "error" in r:
            raise RuntimeError("%s %r: %r" % (method, params, r["error"]))
        return r["result"]

    def close(self):
        self.sock.close()


def wait(pred, what, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.02)
    die("timed out waiting for " + what)


class Procd:
    def __init__(self, procd, work, name, args=()):
        self.work = os.path.join(work, name)
        os.mkdir(self.work)
        self.exe = os.path.join(self.work, "procd")
        shutil.copyfile(procd, self.exe)
        os.chmod(self.exe, 0o755)
        self.images = 0
        self.sock = os.path.join(self.work, "procd.sock")
        self.log = open(os.path.join(self.work, "stderr"), "w+")
        self.proc = subprocess.Popen([self.exe, "--socket", self.sock, "-v"] + list(args),
                                     stdin=subprocess.DEVNULL, stdout=self.log,
                                     stderr=self.log, cwd=self.work)
        wait(lambda: os.path.exists(self.sock), "procd's socket")
        self.conns = []
        self.lost = False

    def responds(self):
        """Whether procd answers info within a few seconds."""
        try:
            c = Conn(self.sock)
            c.sock.settimeout(5)
            c.call("info", timeout=5)
            c.close()
            return True
        except (OSError, EOFError, TimeoutError, RuntimeError, ValueError):
            return False

    def kill_hard(self, state):
        """procd is gone for good (it loops between two images once a state
        is refused): SIGKILL, then every process it left, as the state
        names them, and its cgroup subtree."""
        self.lost = True
        self.proc.kill()
        self.proc.wait()
        with open(state, "rb") as f:
            doc = load_state(f.read())
        for j in doc["jobs"]:
            if not j["flags"] & 1:          # JOB_REAPED
                try:
                    os.killpg(j["pid"], signal.SIGKILL)
                except OSError:
                    pass
        root = doc["cgroup"]["root"]
        if doc["cgroup"]["fd"] != -1 and root and os.path.isdir(root):
            for d, _, _ in os.walk(root, topdown=False):
                try:
                    with open(os.path.join(d, "cgroup.kill"), "w") as f:
                        f.write("1")
                except OSError:
                    pass
            for d, _, _ in os.walk(root, topdown=False):
                for _ in range(100):
                    try:
                        os.rmdir(d)
                        break
                    except FileNotFoundError:
                        break
                    except OSError:
                        time.sleep(0.05)

    def connect(self):
        c = Conn(self.sock)
        self.conns.append(c)
        return c

    def arm(self, out):
        """Puts a wrapper onto the running image's path that saves the next
        handed-over state to out."""
        cur = os.readlink("/proc/%d/exe" % self.proc.pid)
        if cur.endswith(" (deleted)"):
            die("procd runs a deleted image; cannot catch another state")
        self.images += 1
        nxt = os.path.join(self.work, "image-%d" % self.images)
        shutil.copyfile(os.path.join(self.work, "procd.orig"), nxt)
        os.chmod(nxt, 0o755)
        tmp = cur + ".new"
        with open(tmp, "w") as f:
            f.write(WRAPPER % {"next": sh_quote(nxt), "out": sh_quote(out)})
        os.chmod(tmp, 0o755)
        os.replace(tmp, cur)

    def stop(self):
        if self.proc.poll() is None and not self.lost:
            try:
                c = Conn(self.sock)
                c.sock.settimeout(10)
                for j in c.call("list", timeout=10):
                    if j["state"] != "exited":
                        c.call("kill", {"job": j["id"]}, timeout=10)
                c.close()
            except (OSError, EOFError, RuntimeError, ValueError):
                pass
        for c in self.conns:
            c.close()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.seek(0)
        return self.log.read()


def load_state(data):
    """A state of either format, as a format 1 document."""
    if data.startswith(h2.MAGIC):
        return h2.decode(data)
    return json.loads(data)


def dump_state(doc, fmt):
    """doc as a state of format fmt (1 or 2), as procd writes it."""
    if fmt == 2:
        return h2.encode(doc)
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode()


def state_format(data):
    return 2 if data.startswith(h2.MAGIC) else 1


def suffix(fmt):
    return ".bin" if fmt == 2 else ".json"


def check_bytes(procd, data):
    """procd --handoff-check on data (through a file: it maps it).
    Returns the exit code and the reason it gave."""
    with tempfile.NamedTemporaryFile(prefix="procd-state.") as f:
        f.write(data)
        f.flush()
        r = subprocess.run([procd, "--handoff-check", f.name], capture_output=True)
    why = r.stderr.decode("utf-8", "replace").strip()
    if why.startswith("procd: " + f.name + ": "):
        why = why[len("procd: " + f.name + ": "):]
    return r.returncode, why


def trim(data, most=1024):
    """The state with every client's unwritten output cut to its first
    `most` bytes: an answer waits in procd only past what the kernel
    buffers (some 200 KiB), far too much for a seed. The bytes are
    opaque to the check, so the state stays one procd writes."""
    doc = load_state(data)
    cut = False
    for c in doc["clients"]:
        out = base64.b64decode(c["out"])
        if len(out) > most:
            c["out"] = base64.b64encode(out[:most]).decode()
            cut = True
    if not cut:
        return data
    return dump_state(doc, state_format(data))


def has_user(name):
    import pwd
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


def sh_quote(s):
    return "'" + s.replace("'", "'\\''") + "'"


def status(c, job):
    return c.call("status", {"job": job})


def wait_state(c, job, state):
    wait(lambda: status(c, job)["state"] == state, "job %s %s" % (job, state))


NOTIFY_PY = ("import os, socket\n"
             "a = os.environ['NOTIFY_SOCKET']\n"
             "a = '\\0' + a[1:] if a.startswith('@') else a\n"
             "s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)\n"
             "s.sendto(b'READY=1\\nSTATUS=serving \\xe2\\x9c\\x93', a)\n"
             "os.execvp('sleep', ['sleep', '%d'])\n" % LEFT)


class Seeds:
    def __init__(self, args):
        self.procd = os.path.abspath(args.procd)
        self.out = os.path.abspath(args.out)
        self.work = tempfile.mkdtemp(prefix="procd-seeds.")
        self.keep = args.keep
        self.made = []
        self.known = []
        self.failed = []

    def new_procd(self, name, args=()):
        p = Procd(self.procd, self.work, name, args)
        shutil.copyfile(self.procd, os.path.join(p.work, "procd.orig"))
        return p

    def capture(self, p, name, rx=None, notify=False):
        """Reexecs p (rx: the connection that asks; notify: as a
        notification) and keeps the state it handed over as NAME: valid-NAME
        if procd took it, else bug-refused-NAME (a real state must always
        be taken). Returns whether procd took it."""
        saved = os.path.join(p.work, name + ".state")
        p.arm(saved)
        rx = rx or p.connect()
        rid = rx.request("reexec", notify=notify)
        wait(lambda: os.path.exists(saved), "the state of " + name, 60)
        taken = False
        try:
            if notify:
                c = Conn(p.sock)
                c.sock.settimeout(15)
                taken = c.call("info", timeout=15)["reexecs"] >= 1
                c.close()
            else:
                r = rx.response(rid, timeout=15)
                taken = "result" in r
        except (OSError, EOFError, TimeoutError, RuntimeError, ValueError):
            pass
        if not taken and (p.proc.poll() is not None or not p.responds()):
            # Refused by the new image and by the previous one as well,
            # which goes back to itself again and again (or died): procd
            # never serves again. Clean up after it.
            p.kill_hard(saved)
        self.keep_state(saved, name, taken)
        return taken

    def keep_state(self, saved, name, taken):
        with open(saved, "rb") as f:
            data = f.read()
        data = trim(data)
        ext = suffix(state_format(data))
        rc, why = check_bytes(self.procd, data)
        ok = rc == 0
        prefix = "valid-" if ok else "bug-refused-"
        dst = os.path.join(self.out, prefix + name + ext)
        for old in ("valid-", "bug-refused-"):
            if old != prefix and os.path.exists(os.path.join(self.out, old + name + ext)):
                os.unlink(os.path.join(self.out, old + name + ext))
        # The saver's own (compact) form is kept.
        with open(dst, "wb") as f:
            f.write(data)
        if ok != taken:
            self.failed.append("%s: procd %s it live, but --handoff-check says %s" % (
                name, "took" if taken else "did not take", why or "yes"))
        (self.made if ok else self.known).append((dst, len(data), why))

    # --- the scenarios ---

    def empty(self):
        """A procd with nothing: the smallest real state."""
        p = self.new_procd("empty")
        try:
            self.capture(p, "empty")
        finally:
            p.stop()

    def full(self, cgroups):
        """Jobs in every state and clients with everything pending."""
        p = self.new_procd("full", ["--log-limit", "4096", "--event-history", "6"])
        try:
            self._full(p, cgroups)
        finally:
            p.stop()

    def _full(self, p, cgroups):
        c = p.connect()
        ids = {}

        def start(name, argv, **params):
            params.update({"name": name, "argv": argv})
            ids[name] = c.call("start", params)["id"]
            return ids[name]

        # A subscription to everything from the start (it sees the events).
        sub_all = p.connect()
        sub_all.call("subscribe", {})
        start("run", ["sleep", str(LEFT)], env={"A": "1", "PATH": os.environ.get(
            "PATH", "/usr/bin:/bin")}, cwd="/tmp", stop_timeout=7.5)
        start("done", ["sh", "-c", "echo out; echo err >&2; exit 3"])
        wait_state(c, ids["done"], "exited")
        start("killed", ["sleep", str(LEFT)])
        c.call("kill", {"job": ids["killed"]})
        wait_state(c, ids["killed"], "exited")
        # Output: lines, a half character at the end, more than the limit.
        start("talk", ["sh", "-c", "i=0; while [ $i -lt 300 ]; do echo line $i; "
                       "i=$((i+1)); done; printf 'caf\\303\\251 \\342\\202'; "
                       "printf 'warn \\360\\237' >&2; exec sleep %d" % LEFT],
              log_limit=2048)
        wait(lambda: status(c, ids["talk"])["state"] == "running" and
             len(c.call("logs", {"job": ids["talk"], "encoding": "base64"})["records"]) >= 2,
             "talk's output")
        time.sleep(0.3)
        start("quiet", ["sleep", str(LEFT)], output="null")
        start("loud", ["sh", "-c", "exec sleep %d" % LEFT], output="inherit")
        start("again", ["sh", "-c", "exit 1"], restart="always", restart_delay=LEFT / 2,
              restart_max_delay=LEFT)
        wait_state(c, ids["again"], "restarting")
        start("limited", ["false"], restart="on-failure", restart_delay=0.05,
              restart_limit=2)
        wait_state(c, ids["limited"], "exited")
        # Stopping: ignores SIGTERM, so the stop deadline counts.
        start("stubborn", ["sh", "-c", "trap '' TERM; while :; do sleep 1; done"],
              stop_timeout=LEFT)
        time.sleep(0.2)
        c.call("terminate", {"job": ids["stubborn"]})
        wait_state(c, ids["stubborn"], "stopping")
        # Waiting: a parent that exited with a child still running.
        start("parent", ["sleep", str(LEFT)])
        start("child", ["sleep", str(LEFT)], parent=ids["parent"])
        start("daemonchild", ["sleep", str(LEFT)], parent=ids["parent"], daemon=True)
        c.call("kill", {"job": ids["parent"]})
        wait_state(c, ids["parent"], "waiting")
        # Readiness: one ready with a status, one not yet (with a timeout).
        start("ready", ["python3", "-c", NOTIFY_PY], notify=True)
        wait(lambda: status(c, ids["ready"]).get("ready") is True, "ready's READY=1")
        waiter = p.connect()
        waiter.request("start", {"name": "notready", "argv": ["sleep", str(LEFT)],
                                  "notify": True, "wait_ready": True,
                                  "ready_timeout": LEFT})
        wait(lambda: any(j["name"] == "notready" for j in c.call("list")), "notready")
        ids["notready"] = [j["id"] for j in c.call("list") if j["name"] == "notready"][0]
        if cgroups:
            start("tree", ["sh", "-c", "sleep %d & exec sleep %d" % (LEFT, LEFT)],
                  kill_mode="tree")
        if os.geteuid() == 0 and has_user("nobody"):
            start("creds", ["sleep", str(LEFT)], user="nobody")
        # A job whose program was gone at its restart (error set).
        script = os.path.join(p.work, "vanish.sh")
        with open(script, "w") as f:
            f.write("#!/bin/sh\nexit 1\n")
        os.chmod(script, 0o755)
        start("vanish", [script], restart="on-failure", restart_delay=0.3,
              restart_limit=1)
        os.unlink(script)
        wait_state(c, ids["vanish"], "exited")
        # Clients with something pending.
        joiner = p.connect()
        joiner.request("join", {"job": ids["run"], "timeout": LEFT}, id="join-t")
        joiner.request("join", {"job": "stubborn"}, id=1.5)
        batcher = p.connect()
        batcher.send_raw(json.dumps([
            {"jsonrpc": "2.0", "method": "status", "params": {"job": ids["run"]}, "id": 10},
            {"jsonrpc": "2.0", "method": "join", "params": {"job": ids["parent"]}, "id": 11},
            {"jsonrpc": "2.0", "method": "info", "id": 12},
            {"jsonrpc": "2.0", "method": "join", "params": {"job": ids["again"],
                                                            "timeout": LEFT}, "id": 13},
        ]) + "\n")
        follower = p.connect()
        follower.request("logs", {"job": ids["talk"], "follow": True}, id="f-text")
        follower.request("logs", {"job": ids["talk"], "follow": True, "encoding": "base64",
                                  "stream": "stderr", "tail": 2}, id="f-b64")
        if cgroups:
            follower.request("logs", {"job": ids["tree"], "follow": True,
                                      "stream": "stdout"}, id="f-tree")
        subber = p.connect()
        subber.call("subscribe", {"jobs": [ids["run"], "talk"]})
        s2 = subber.call("subscribe", {"since": 1})
        subber.call("unsubscribe", {"subscription": s2["subscription"]})
        subber.call("subscribe", {"jobs": [ids["again"]], "since": 2})
        half = p.connect()
        half.send_raw('{"jsonrpc":"2.0","method":"status","params":{"job":1},"i')
        # A client whose answers are not read: the output waits in procd.
        lazy = p.connect()
        lazy.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        for i in range(60):
            lazy.request("list", id="lazy-%d" % i)
        time.sleep(0.5)
        # The event ring, subscription positions and pending work are set:
        # the first state.
        self.capture(p, "full", rx=p.connect())
        for conn in (joiner, batcher, follower, subber, half, waiter, lazy, sub_all):
            conn.sock.settimeout(0)

        # After the first reexec: more change, and a closed parent.
        c2 = p.connect()
        c2.call("kill", {"job": ids["child"]})
        wait_state(c2, ids["parent"], "exited")
        c2.call("close", {"job": ids["parent"]})
        c2.call("close", {"job": ids["done"]})
        half.send_raw('d":2}\n{"jsonrpc":"2.0","method":"info","id":"x"}\n{"jsonrpc"')
        rx = p.connect()
        rx2 = p.connect()
        rx2.request("reexec", id="second")
        self.capture(p, "full-again", rx=rx)

    def small(self, cgroups):
        """One of each kind of object, and few events: the state the bad
        seeds are made from (bad_seeds)."""
        p = self.new_procd("small", ["--event-history", "1", "--log-limit", "64"])
        try:
            c = p.connect()
            sub = p.connect()
            a = c.call("start", {"name": "a", "argv": ["sh", "-c", "printf 'hi \\342\\202'; "
                                                     "exec sleep %d" % LEFT],
                                 "kill_mode": "tree" if cgroups else "group"})["id"]
            sub.call("subscribe", {"jobs": [a]})
            b = c.call("start", {"argv": ["true"], "parent": a})["id"]
            wait_state(c, b, "exited")
            wait(lambda: c.call("logs", {"job": a})["records"], "a's output")
            j = p.connect()
            j.request("join", {"job": a, "timeout": LEFT}, id="j")
            j.send_raw(json.dumps([{"jsonrpc": "2.0", "method": "join", "params": {"job": a},
                                    "id": 7}, {"jsonrpc": "2.0", "method": "none", "id": 8}])
                       + "\n")
            j.request("logs", {"job": a, "follow": True}, id="f")
            j.send_raw('{"jsonrpc":"2.0","meth')
            time.sleep(0.3)
            self.capture(p, "small")
        finally:
            p.stop()

    def tree_leftovers(self):
        """A tree job whose process exited while its cgroup still has a
        process that ignores SIGTERM: state stopping, pid reaped."""
        p = self.new_procd("leftovers")
        try:
            c = p.connect()
            j = c.call("start", {"argv": ["sh", "-c", "(trap '' TERM; exec sleep %d) & "
                                          "sleep 0.2; exit 0" % LEFT],
                                 "kill_mode": "tree", "stop_timeout": LEFT})["id"]
            wait(lambda: status(c, j)["state"] == "stopping" and
                 status(c, j)["exitcode"] is not None, "the tree job stopping")
            self.capture(p, "tree-leftovers")
        finally:
            p.stop()

    def null_ids(self):
        """Requests parked with no id or a null id: a reexec and a start
        with wait_ready sent as notifications, and a join with "id":
        null."""
        p = self.new_procd("nullid")
        try:
            c = p.connect()
            j = c.call("start", {"argv": ["sleep", str(LEFT)], "name": "s"})["id"]
            c.send_raw('{"jsonrpc":"2.0","method":"join","params":{"job":%d,'
                       '"timeout":%d},"id":null}\n' % (j, LEFT))
            c.request("start", {"argv": ["sleep", str(LEFT)], "notify": True,
                                "wait_ready": True}, notify=True)
            time.sleep(0.3)
            self.capture(p, "null-ids")
        finally:
            p.stop()

    def env_null(self):
        """A job started with an env entry null (the variable removed)."""
        p = self.new_procd("envnull")
        try:
            c = p.connect()
            c.call("start", {"argv": ["sleep", str(LEFT)], "env": {"LANG": None}})
            self.capture(p, "env-null")
        finally:
            p.stop()

    def notified_reexec(self):
        """reexec sent as a notification (procd still upgrades)."""
        p = self.new_procd("notified")
        try:
            self.capture(p, "reexec-notification", notify=True)
        finally:
            p.stop()


# --- seeds made from the small state ---

def _fds_del(d, *fds):
    for fd in fds:
        d["fds"].remove(fd)


def _no_tree(d, job):
    """job's tree dropped, with its fds."""
    t = job["tree"]
    _fds_del(d, *[t[k] for k in ("fd", "events", "kill") if t[k] != -1])
    job["tree"] = None


def _no_cgroup(d):
    for j in d["jobs"]:
        if j["tree"] is not None:
            _no_tree(d, j)
    if d["cgroup"]["fd"] != -1:
        _fds_del(d, d["cgroup"]["fd"])
    d["cgroup"].update({"ok": False, "why": "no cgroup2 here", "root": None, "rel": None,
                        "fd": -1, "kill": False})


def _req(d, kind):
    """The first request of that kind, and its client."""
    for c in d["clients"]:
        for r in c["requests"]:
            if r["kind"] == kind:
                return c, r
    raise KeyError(kind)


def _with(path, value):
    """A mutation setting d[path...] = value (a path of keys and indexes)."""
    def f(d):
        o = d
        for k in path[:-1]:
            o = o[k]
        o[path[-1]] = value
    return f


def _without(path):
    def f(d):
        o = d
        for k in path[:-1]:
            o = o[k]
        del o[path[-1]]
    return f


def _text(old, new, count=1):
    """A mutation of the document's text."""
    def f(data):
        assert old in data, old
        return data.replace(old, new, count)
    return f


def derived_seeds(doc):
    """Seeds made from the small state: (prefix, name, mutation). A
    mutation changes a copy of the document (a dict) in place, or, if it
    takes bytes (marked by _text or a lambda on data), the compact text.

    prefix: valid (the check takes it), bad (the check refuses it), or
    bug-accepted (taken today, but the apply stage would misbehave on it:
    a check bug, see README)."""
    a, b = doc["jobs"][0], doc["jobs"][1]
    c_plain, c_req = doc["clients"][0], doc["clients"][2]
    J, C = "jobs", "clients"
    ci = doc["clients"].index(c_req)

    def job_field(i, *path):
        return [J, i] + list(path)

    def fol(d):
        return _req(d, "follow")[1]

    def join_req(d):
        return _req(d, "join")[1]

    def m(fn):
        return fn

    seeds = []

    # formats: those the seed is made for (a JSON text, a type or a key
    # is format 1's only: format 2 has no way to say it).
    def add(prefix, name, fn, text=False, formats=(1, 2)):
        seeds.append((prefix, name, fn, text, formats))

    def add1(prefix, name, fn, text=False):
        add(prefix, name, fn, text, (1,))

    def add2(prefix, name, fn, text=False):
        add(prefix, name, fn, text, (2,))

    # The bytes themselves.
    add1("bad", "json-empty", lambda t: b"", True)
    add1("bad", "json-truncated", lambda t: t[:len(t) // 2], True)
    add1("bad", "json-array", lambda t: b"[" + t + b"]", True)
    add1("bad", "json-null", lambda t: b"null", True)
    add1("bad", "json-trailing", lambda t: t + b" {}", True)
    add1("bad", "json-nul-in-string", _text(b'"name":"a"', b'"name":"a\\u0000b"'), True)
    add1("bad", "json-invalid-utf8", _text(b'"name":"a"', b'"name":"a\xff"'), True)
    add1("bad", "json-too-deep", lambda t: b"[" * 3000 + b"]" * 3000, True)
    add1("bad", "deep-request-id", _text(b'"id":"j"', b'"id":' + b"[" * 2000 + b"]" * 2000),
        True)
    add1("bad", "dup-key-top", _text(b'"seq":', b'"seq":3,"seq":'), True)
    add1("bad", "dup-key-job", _text(b'"pid":', b'"pid":1,"pid":', 2), True)
    add1("bad", "number-overflow", _text(b'"next_job":', b'"next_job":9223372036854775808,'
                                        b'"x":'), True)
    add1("bad", "number-huge-real", _text(b'"seq":3', b'"seq":1e300'), True)
    add1("valid", "spelling", _text(b'"name":"a"', b'"name" : "\\u0061"'), True)

    # The document.
    add1("bad", "format-other", _with(["format"], "procd-handoff-2"))
    add1("bad", "format-missing", _without(["format"]))
    add1("bad", "missing-seq", _without(["seq"]))
    add1("bad", "missing-job-cwd", _without(job_field(0, "cwd")))
    add1("bad", "missing-client-in", _without([C, ci, "in"]))
    add1("bad", "missing-request-left", m(lambda d: join_req(d).pop("left")))
    add1("bad", "unknown-top", _with(["extra"], 1))
    add1("bad", "unknown-job", _with(job_field(0, "extra"), None))
    add1("bad", "unknown-client", _with([C, 0, "extra"], []))
    add1("bad", "unknown-follow", m(lambda d: fol(d)["follow"].update(extra=0)))
    add("bad", "doc-pid-zero", _with(["pid"], 0))
    add("bad", "reexecs-max", _with(["reexecs"], 2 ** 63 - 1))
    add("bad", "nofile-negative", _with(["nofile"], [-1, 10]))
    add("bad", "time-nsec", _with(["started_at"], [1, 1000000000]))
    add("bad", "time-sec", _with(["started_at"], [2 ** 41, 0]))

    # fds.

    def fd_named(value):
        def f(d):
            _fds_del(d, d[C][0]["fd"])
            if isinstance(value, int) and value >= 3:
                d["fds"].append(value)
            d[C][0]["fd"] = value
        return f
    add("bad", "fd-negative-listed", m(lambda d: d["fds"].append(-5)))
    add("bad", "fd-negative-named", fd_named(-5))
    add("bad", "fd-minus-one-required", fd_named(-1))
    add("bad", "fd-stdio", fd_named(2))
    add("bad", "fd-huge", fd_named(1 << 20))
    add("bad", "fd-named-twice", m(lambda d: (_fds_del(d, d[C][1]["fd"]),
                                              d[C][1].update(fd=d[C][0]["fd"]))))
    add("bad", "fd-listed-twice", m(lambda d: d["fds"].append(d["fds"][0])))
    add("bad", "fd-not-listed", m(lambda d: _fds_del(d, d[C][0]["fd"])))
    add("bad", "fd-listed-not-named", m(lambda d: d["fds"].append(999)))
    add("valid", "fd-kill-absent", m(lambda d: (_fds_del(d, d[J][0]["tree"]["kill"]),
                                               d[J][0]["tree"].update(kill=-1)))
        if a["tree"] else m(lambda d: None))
    add("bad", "fd-events-absent", m(lambda d: (_fds_del(d, d[J][0]["tree"]["events"]),
                                                d[J][0]["tree"].update(events=-1)))
        if a["tree"] else _with(["notify_fd"], -1))
    add("bad", "fd-notify-absent", m(lambda d: (_fds_del(d, d["notify_fd"]),
                                                d.update(notify_fd=-1))))
    add("valid", "listen-dirfd-absent", m(lambda d: (_fds_del(d, d["listen"]["dirfd"]),
                                                    d["listen"].update(dirfd=-1))))

    def sockets(n):
        def f(d):
            new = list(range(200, 200 + n))
            _fds_del(d, *d["listen"]["sockets"])
            d["fds"].extend(new)
            d["listen"]["sockets"] = new
        return f
    add("bad", "listen-no-socket", sockets(0))
    add("valid", "listen-16-sockets", sockets(16))
    add("bad", "listen-17-sockets", sockets(17))
    add("bad", "listen-path-null", _with(["listen", "path"], None))

    # cgroup.
    add("valid", "no-cgroup", _no_cgroup)
    add("bad", "tree-without-cgroup", m(lambda d: (
        _fds_del(d, d["cgroup"]["fd"]), d["cgroup"].update(ok=False, fd=-1)))
        if a["tree"] else _with(["cgroup", "ok"], 1), formats=(1, 2) if a["tree"] else (1,))
    add("bad", "cgroup-ok-without-fd", m(lambda d: (_no_cgroup(d),
                                                    d["cgroup"].update(ok=True))))
    add("bad", "cgroup-fd-without-path", _with(["cgroup", "root"], None)
        if doc["cgroup"]["fd"] != -1 else _with(["cgroup", "kill"], None),
        formats=(1, 2) if doc["cgroup"]["fd"] != -1 else (1,))

    # Jobs.
    add("bad", "parent-self", _with(job_field(0, "parent"), a["id"]))
    add("bad", "parent-newer", _with(job_field(0, "parent"), b["id"]))

    def parent_closed(d):
        """b's parent was closed: b gets a new id past a closed job."""
        d[J][1]["id"] = d["next_job"] + 2
        d[J][1]["parent"] = d["next_job"] + 1
        if d[J][1]["name"].startswith("job-"):
            d[J][1]["name"] = "job-%d" % d[J][1]["id"]
        d["next_job"] += 3
    add("valid", "parent-closed", parent_closed)
    add("bad", "job-order", m(lambda d: d[J].reverse()))
    add("bad", "job-id-twice", _with(job_field(1, "id"), a["id"]))
    add("bad", "job-id-past-next", _with(["next_job"], b["id"]))
    add("bad", "name-empty", _with(job_field(0, "name"), ""))
    add("bad", "name-twice", _with(job_field(1, "name"), a["name"]))
    add("bad", "argv-empty", _with(job_field(0, "argv"), []))
    add1("bad", "argv-number", _with(job_field(0, "argv"), ["sh", 1]))
    add("bad", "state-unknown", _with(job_field(0, "state"), "sleeping"))
    add("bad", "reaped-alive", _with(job_field(0, "flags"), 1))
    add("bad", "exited-unreaped", _with(job_field(1, "flags"), 8))
    add("bad", "restarting-unreaped", m(lambda d: (
        d[J][1].update(state="restarting", flags=8), d[J][1]["restart"].update(due=True))))
    add("bad", "stopping-reaped", m(lambda d: d[J][0].update(state="stopping", flags=5)))
    if a["tree"]:
        add("valid", "tree-stopping-reaped", m(lambda d: (
            d[J][0].update(state="stopping", flags=5), d[J][0]["tree"].update(waiting=True))))
    add("bad", "pipes-without-capture", _with(job_field(0, "output", "mode"), 2))
    add("valid", "request-id-null", m(lambda d: join_req(d).update(id=None)))
    add("bad", "pid-twice", m(lambda d: d[J][1].update(pid=d[J][0]["pid"], flags=8)))
    add("valid", "pid-twice-reaped", m(lambda d: d[J][1].update(pid=d[J][0]["pid"])))
    add("bad", "pid-zero", _with(job_field(0, "pid"), 0))
    add("bad", "pid-huge", _with(job_field(0, "pid"), 2 ** 31))
    add("bad", "uid-max", _with(job_field(0, "uid"), 2 ** 32 - 1))
    add("bad", "exitcode-256", _with(job_field(1, "exitcode"), 256))
    add("bad", "flags-unknown", _with(job_field(1, "flags"), 16 | 9))
    add("bad", "stop-timeout-huge", _with(job_field(0, "stop_timeout"), 1e10))
    add("bad", "ran-negative", _with(job_field(0, "ran"), -2))
    add("bad", "kill-left-negative", _with(job_field(0, "kill_left"), -0.5))
    add("bad", "usage-negative", _with(job_field(1, "usage"), [-1, 0, 0]))
    add("bad", "env-key-eq", _with(job_field(0, "env"), {"A=B": "1"}))
    add("bad", "env-key-empty", _with(job_field(0, "env"), {"": "1"}))
    add1("bad", "env-value-number", _with(job_field(0, "env"), {"A": 1}))
    add("valid", "env", _with(job_field(0, "env"), {"A": "1", "PATH": "/bin", "E": ""}))
    add("bad", "groups-negative", _with(job_field(0, "creds", "groups"), [-1]))
    add("bad", "policy-unknown", _with(job_field(0, "restart", "policy"), "sometimes"))
    add("bad", "restart-left-running", _with(job_field(0, "restart", "left"), 5))
    add("bad", "restarting-unscheduled", m(lambda d: d[J][1].update(state="restarting")))
    add("valid", "restarting-due", m(lambda d: (d[J][1].update(state="restarting"),
                                               d[J][1]["restart"].update(due=True))))
    add("bad", "restart-limit", _with(job_field(0, "restart", "limit"), -2))
    add("bad", "ready-left-negative", _with(job_field(0, "ready", "left"), -1))
    def tree_gone_with_files(d):
        """job a exited and its cgroup folder removed, its files not."""
        d[J][0].update(state="exited", flags=9)
        _fds_del(d, d[J][0]["tree"]["fd"])
        d[J][0]["tree"]["fd"] = -1
    if a["tree"]:
        add("bad", "tree-gone-with-files", tree_gone_with_files)
    add("bad", "tree-base-negative", _with(job_field(0, "tree", "base"), [-1, 0])
        if a["tree"] else _with(job_field(0, "tree"), []),
        formats=(1, 2) if a["tree"] else (1,))
    add("bad", "output-mode", _with(job_field(0, "output", "mode"), 3))
    add("bad", "output-limit", _with(job_field(0, "output", "limit"), 2 ** 30 + 1))
    add("bad", "record-stream", _with(job_field(0, "output", "records"), [[2, "aGk="]]))
    add1("bad", "base64-length", _with(job_field(0, "output", "records"), [[0, "aGk"]]))
    add1("bad", "base64-char", _with(job_field(0, "output", "records"), [[0, "a*k="]]))
    add("valid", "base64-records", _with(job_field(0, "output", "records"),
                                         [[0, ""], [1, "AA=="], [0, "/+/+"], [1, "AAE="]]))

    # Clients and what they wait for.
    add("bad", "client-id-twice", _with([C, 1, "id"], c_plain["id"]))
    add("bad", "client-id-past-next", _with(["next_client"], c_req["id"]))
    add("bad", "client-flags", _with([C, 0, "flags"], 16))
    add("valid", "client-flags", _with([C, 0, "flags"], 2 | 4 | 8))
    add1("bad", "client-in-base64", _with([C, 0, "in"], "abc"))
    add("bad", "batch-held-by-none", m(lambda d: d[C][0]["batches"].append(
        {"out": "", "rest": None})))
    add("bad", "batch-two-running", m(lambda d: d[C][0]["batches"].extend(
        [{"out": "", "rest": [1]}, {"out": "", "rest": [2]}])))
    add("bad", "batch-running-empty", m(lambda d: d[C][0]["batches"].append(
        {"out": "", "rest": []})))
    add("valid", "batch-running", m(lambda d: d[C][0]["batches"].append(
        {"out": "", "rest": [{"method": "info", "id": 9},
                             {"error": -32600, "message": "no", "id": None},
                             {"method": "status", "params": {"job": 1}}]})))
    add("bad", "batch-rest-jsonrpc", m(lambda d: d[C][0]["batches"].append(
        {"out": "", "rest": [{"jsonrpc": "2.0", "method": "info", "id": 9}]})))
    add("bad", "batch-rest-error-code", m(lambda d: d[C][0]["batches"].append(
        {"out": "", "rest": [{"error": 7, "message": "x"}]})))
    add("bad", "batch-rest-params", m(lambda d: d[C][0]["batches"].append(
        {"out": "", "rest": [{"method": "info", "params": 3}]})))
    add("bad", "batch-past-end", m(lambda d: join_req(d).update(batch=5)))
    add("bad", "batch-negative", m(lambda d: join_req(d).update(batch=-2)))
    add("bad", "request-no-job", m(lambda d: join_req(d).update(job=99)))
    add("bad", "follow-no-job", m(lambda d: fol(d).update(job=99)))
    add("bad", "request-kind", m(lambda d: join_req(d).update(kind="wait")))
    add1("bad", "request-id-object", m(lambda d: join_req(d).update(id={})))
    add1("bad", "request-id-bool", m(lambda d: join_req(d).update(id=True)))
    add("bad", "reexec-with-job", m(lambda d: d[C][0]["requests"].append(
        {"kind": "reexec", "notification": False, "id": 1, "job": 1, "left": None, "batch": -1})))
    add("valid", "reexec-twice", m(lambda d: d[C][0]["requests"].extend(
        [{"kind": "reexec", "notification": False, "id": 1, "job": 0, "left": None, "batch": -1},
         {"kind": "reexec", "notification": False, "id": "1", "job": 0, "left": None, "batch": -1}])))
    add("bad", "follow-with-left", m(lambda d: fol(d).update(left=5)))
    add("bad", "join-left-negative", m(lambda d: join_req(d).update(left=-1)))
    add1("bad", "follow-on-join", m(lambda d: join_req(d).update(follow=fol(d)["follow"])))
    add1("bad", "follow-missing", m(lambda d: fol(d).pop("follow")))
    add("bad", "follow-streams-0", m(lambda d: fol(d)["follow"].update(streams=0)))
    add("bad", "follow-streams-4", m(lambda d: fol(d)["follow"].update(streams=4)))

    def utf8(x, y):
        return m(lambda d: fol(d)["follow"].update(utf8=[x, y]))
    add("bad", "utf8-continuation", utf8("gA==", ""))
    add("bad", "utf8-complete", utf8("4oKs", ""))
    add("bad", "utf8-ascii", utf8("", "QQ=="))
    add("bad", "utf8-four-bytes", utf8("8J+YgA==", ""))
    add("bad", "utf8-bad-second", utf8("4EE=", ""))
    add("bad", "utf8-surrogate", utf8("7aA=", ""))
    add("valid", "utf8-pending", utf8("8J+Y", "7Z8="))
    add("bad", "sub-id-past-next", _with([C, 1, "subscriptions", 0, 0],
                                         doc["next_subscription"]))
    add("bad", "sub-id-twice", m(lambda d: d[C][0]["subscriptions"].append(
        d[C][1]["subscriptions"][0])))
    add("bad", "sub-next-past-seq", _with([C, 1, "subscriptions", 0, 2], doc["seq"] + 2))
    add("bad", "sub-jobs-zero", _with([C, 1, "subscriptions", 0, 1], [0]))
    add("valid", "sub-closed-job", _with([C, 1, "subscriptions", 0, 1], [1, 12345]))

    # Events.
    add("bad", "events-more-than-seq", _with(["seq"], len(doc["events"]) - 1))
    add("bad", "event-seq-gap", _with(["events", 0, 0], doc["events"][0][0] - 1))
    add("bad", "event-type", _with(["events", 0, 1], "born"))
    add("bad", "event-job-zero", _with(["events", 0, 2], 0))
    add("bad", "event-owner-max", _with(["events", 0, 3], 2 ** 32 - 1))
    add("bad", "event-job-string", _with(["events", 0, 4], "job"))
    add("bad", "event-job-newline", _with(["events", 0, 4], '{"id":1,\n"x":2}'))
    add1("bad", "event-job-object", _with(["events", 0, 4], {"id": 1}))

    # Taken today, but wrong (README: the check's gaps).
    def no_tree_a(d):
        if d[J][0]["tree"] is not None:
            _no_tree(d, d[J][0])
    add("bug-accepted", "pid-1-kill-now", m(lambda d: (
        no_tree_a(d), d[J][0].update(pid=1, state="stopping", flags=4, kill_left=0.0))))
    add("bug-accepted", "pid-is-procd", m(lambda d: (
        no_tree_a(d), d[J][0].update(pid=d["pid"]))))
    add("bug-accepted", "default-name-of-next-job", _with(
        job_field(0, "name"), "job-%d" % doc["next_job"]))
    add("bug-accepted", "join-on-exited-job", m(lambda d: join_req(d).update(
        job=d[J][1]["id"], left=None)))
    add("bug-accepted", "follow-on-closed-output", m(lambda d: fol(d).update(
        job=d[J][1]["id"])))
    add("bug-accepted", "ready-on-exited-job", m(lambda d: d[C][0]["requests"].append(
        {"kind": "ready", "notification": False, "id": 1, "job": d[J][1]["id"], "left": None, "batch": -1})))
    add("bug-accepted", "kill-left-running", _with(job_field(0, "kill_left"), 0.0))
    add("bug-accepted", "waiting-without-children", m(lambda d: (
        d[J].pop(), d[J][0].update(state="waiting", flags=9))
        if not d[J][0]["tree"] else (no_tree_a(d), d[J].pop(),
                                     d[J][0].update(state="waiting", flags=9))))
    add("bug-accepted", "client-flag-dead", _with([C, 0, "flags"], 1))
    add("bug-accepted", "event-not-json", _with(["events", 0, 4], '{"id":1,]"x}'))
    add("bug-accepted", "nofile-cur-above-max", _with(["nofile"], [4096, 1024]))

    # Format 2's own: its first line, lengths, integers, strings, tags,
    # and an event's JSON, checked by hand.
    magic = len(h2.MAGIC)
    add2("bad", "bin-first-line-only", lambda t: t[:magic], True)
    add2("bad", "bin-truncated", lambda t: t[:len(t) // 2], True)
    add2("bad", "bin-last-byte-missing", lambda t: t[:-1], True)
    add2("bad", "bin-trailing", lambda t: t + b"\0", True)
    add2("bad", "bin-format-3", lambda t: b"procd-handoff-3\n" + t[magic:], True)
    add2("bad", "bin-first-line-cut", lambda t: t[:magic - 1] + b" " + t[magic:], True)
    pid = enc_int(doc["pid"])
    add2("bad", "int-not-shortest", _with(["pid"], Raw(pid[:-1] + bytes([pid[-1] | 0x80, 0]))))
    add2("bad", "int-too-long", _with(["pid"], Raw(b"\xff" * 9 + b"\x7f")))
    add2("bad", "bool-two", _with(job_field(0, "daemon"), Raw(enc_int(2))))
    add2("bad", "double-nan", _with(job_field(0, "stop_timeout"), float("nan")))
    add2("bad", "double-inf", _with(job_field(0, "ran"), float("inf")))
    add2("bad", "left-tag-two", _with(job_field(0, "kill_left"), Raw(enc_int(2))))
    add2("bad", "string-no-nul", _with(["version"], Raw(enc_int(1) + b"ab")))
    add2("bad", "string-nul-inside", _with(job_field(0, "name"), Raw(enc_int(3) + b"a\0b\0")))
    add2("bad", "string-not-utf8", _with(job_field(0, "cwd"), Raw(enc_int(2) + b"/\xff\0")))
    add2("bad", "string-surrogate", _with(job_field(0, "cwd"),
                                          Raw(enc_int(4) + b"/\xed\xa0\x80\0")))
    add2("valid", "string-utf8", _with(job_field(0, "cwd"), "/tmp/caf\u00e9 \U0001f600"))
    add2("bad", "string-past-end", _with(job_field(0, "name"), Raw(enc_int(1 << 40) + b"a\0")))
    add2("bad", "count-past-end", _with([J], Raw(enc_int(1 << 30))))
    add2("bad", "bytes-past-end", _with([C, 0, "in"], Raw(enc_int(1 << 20) + b"x")))
    add2("bad", "env-key-twice", _with(job_field(0, "env"), Raw(
        enc_int(3) + enc_int(1) + b"A\0" + enc_int(2) + b"1\0" +
        enc_int(1) + b"A\0" + enc_int(2) + b"2\0")))
    add2("bad", "request-id-tag", m(lambda d: join_req(d).update(id=Raw(enc_int(5)))))
    add2("bad", "request-id-nan", m(lambda d: join_req(d).update(id=float("nan"))))
    add2("valid", "request-id-real", m(lambda d: join_req(d).update(id=2.5)))
    add2("bad", "batch-rest-not-json", m(lambda d: d[C][0]["batches"].append(
        Raw(enc_int(0) + enc_int(3) + b"[{\0"))))

    def event_text(text):
        return _with(["events", 0, 4], text)
    add2("bad", "event-json-deep", event_text('{"a":' + "[" * 40 + "]" * 40 + "}"))
    add2("bad", "event-json-surrogate", event_text('{"a":"\\ud800"}'))
    add2("bad", "event-json-nul", event_text('{"a":"\\u0000"}'))
    add2("bad", "event-json-control", event_text('{"a":"\t"}'))
    add2("bad", "event-json-trailing", event_text('{"a":1} x'))
    add2("bad", "event-json-array", event_text('[1]'))
    add2("bad", "event-json-number", event_text('{"a":01}'))
    add2("valid", "event-json-any", event_text(
        '{"a":"\\ud83d\\ude00 \\n\\u00e9\\/ \u00e9","b":[1,-2.5e+3,0,0.5E-2,true,false,'
        'null,{},[]],"c":{"d":""}, "e" :\t"f"}'))
    return seeds


def write_derived(out, procd, base):
    """Writes the seeds made from the small state base (a path, of either
    format: the seeds are of its format); returns the problems (a
    mutation whose answer is not the one its prefix says)."""
    with open(base, "rb") as f:
        text = f.read()
    fmt = state_format(text)
    ext = suffix(fmt)
    doc = load_state(text)
    compact = dump_state(doc, fmt)
    problems = []
    # Without the events (the state stays whole) unless the seed is about
    # them: a third smaller.
    slim = dump_state(dict(doc, events=[]), fmt)
    for prefix, name, fn, is_text, formats in derived_seeds(doc):
        if fmt not in formats:
            continue
        base = compact if name.startswith("event") else slim
        if is_text:
            data = fn(base)
        else:
            d = load_state(base)
            fn(d)
            try:
                data = dump_state(d, fmt)
            except Unrepresentable as e:
                problems.append("%s-%s: not a format %d state: %s" % (prefix, name, fmt, e))
                continue
        for old in ("valid", "bad", "bug-accepted"):
            stale = os.path.join(out, "%s-%s%s" % (old, name, ext))
            if os.path.exists(stale):
                os.unlink(stale)
        rc, why = check_bytes(procd, data)
        if rc not in (0, 1):
            problems.append("%s-%s: --handoff-check exited %d: %s" % (prefix, name, rc, why))
        elif prefix == "bug-accepted" and rc == 1:
            print("fixed: %s-%s is refused now (%s): written as bad-%s" % (
                prefix, name, why, name))
            prefix = "bad"
        elif (rc == 0) != (prefix != "bad"):
            problems.append("%s-%s: --handoff-check exited %d: %s" % (prefix, name, rc, why))
        with open(os.path.join(out, "%s-%s%s" % (prefix, name, ext)), "wb") as f:
            f.write(data)
    return problems


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--procd", default=os.environ.get("PROCD", "daemon/procd"))
    ap.add_argument("--out", default=os.path.join(HERE, "handoff-corpus"))
    ap.add_argument("--keep", action="store_true", help="keep the work folder")
    ap.add_argument("--derived-only", action="store_true",
                    help="only remake the seeds made from valid-small.*")
    args = ap.parse_args()
    if not os.access(args.procd, os.X_OK):
        die("no procd at %s (use --procd)" % args.procd)
    args.procd = os.path.abspath(args.procd)
    os.makedirs(args.out, exist_ok=True)
    failed = []
    if not args.derived_only:
        failed += real_states(args)
    problems = []
    for base in ("valid-small.bin", "valid-small.json"):
        problems += write_derived(args.out, args.procd, os.path.join(args.out, base))
        print("derived seeds written from %s" % base)
    for f in failed + problems:
        print("FAILED: " + f)
    return 1 if failed or problems else 0


def real_states(args):
    s = Seeds(args)
    probe = s.new_procd("probe")
    try:
        cgroups = probe.connect().call("info").get("cgroups") is True
    finally:
        probe.stop()
    try:
        s.empty()
        s.small(cgroups)
        s.full(cgroups)
        if cgroups:
            s.tree_leftovers()
        s.null_ids()
        s.env_null()
        s.notified_reexec()
    finally:
        if s.keep:
            print("work folder kept: %s" % s.work)
        else:
            shutil.rmtree(s.work, ignore_errors=True)
    for dst, n, _ in s.made:
        print("valid  %6d  %s" % (n, os.path.relpath(dst)))
    for dst, n, why in s.known:
        print("BUG    %6d  %s: a real state, refused: %s" % (n, os.path.relpath(dst), why))
    if not cgroups:
        print("note: no cgroups here: no tree job in the states")
    return s.failed


if __name__ == "__main__":
    sys.exit(main())
