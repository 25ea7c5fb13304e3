# SPDX-License-Identifier: ISC
"""What the Python benchmarks (bounds.py, supervise.py, reexec.py,
peers.py) share: waiting for a procd's socket, a non-blocking JSON-RPC
connection, naming the machine's processor, the lines that say what ran
where, and the table of figures they print."""
import json
import os
import platform
import shlex
import signal
import socket
import subprocess
import sys
import time


def wait_for_socket(path, proc, timeout=10.0):
    """True once path accepts a connection; False if proc exits or
    timeout seconds pass first."""
    deadline = time.monotonic() + timeout
    while True:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(path)
            return True
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        finally:
            s.close()


def check_counts(ap, args, names, least=1):
    """ap.error unless each of args' names is at least least."""
    for name in names:
        if getattr(args, name) < least:
            ap.error("--%s must be at least %d" % (name.replace("_", "-"),
                                                  least))


def begin(args, describe):
    """What every benchmark does before its figures: SIGTERM and SIGHUP
    unwind like Ctrl-C (so that its procd is stopped), describe(args)
    prints what runs where. False when there is no procd to run."""
    def interrupted(*_):
        raise KeyboardInterrupt()
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, interrupted)
    describe(args)
    if not os.access(args.procd, os.X_OK):
        print("# no procd at %s: build it first or give --procd"
              % args.procd)
        return False
    return True


def machine_busy():
    """CPU seconds the whole machine has been busy (steal included)."""
    try:
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:9]]
    except (OSError, ValueError):
        return 0.0
    if len(v) < 8:
        return 0.0
    return (v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / os.sysconf("SC_CLK_TCK")


def cpu_model():
    """The processor's model name from /proc/cpuinfo, or "?"."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "?"


def number(v):
    """A figure with as many digits as say something."""
    if v is None:
        return "-"
    a = abs(v)
    if a >= 1000 or a == 0:
        return "%.0f" % v
    if a >= 100:
        return "%.1f" % v
    if a >= 1:
        return "%.2f" % v
    return "%.3g" % v


class Table:
    """figure, value, unit, and the baseline and ratio where there is one."""
    FORMAT = "%-62s %10s %-6s %10s %6s"

    def __init__(self):
        self.header = False

    def line(self, *cells):
        if not self.header:
            self.header = True
            self.line("figure", "value", "unit", "baseline", "ratio")
            self.line("------", "-----", "----", "--------", "-----")
        print((self.FORMAT % cells).rstrip(), flush=True)

    def row(self, figure, value, unit):
        self.line(figure, number(value), unit, "", "")

    def ratio(self, figure, value, unit, base):
        if value is None or not base:
            r = "-"
        else:
            r = value / base
            r = "%.0f" % r if r >= 100 else "%.1f" % r if r >= 10 \
                else "%.2f" % r
        self.line(figure, number(value), unit, number(base), r)

    def note(self, text):
        print("# " + text, flush=True)


def print_header(title, procd, top):
    """Prints the title, the command, the machine; returns the procd
    binary's version, when it was built and the source tree's commit,
    for the caller's own line about procd."""
    try:
        version = subprocess.run([procd, "--version"], capture_output=True,
                                 text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        version = ""
    commit = ""
    try:
        commit = subprocess.run(
            ["git", "-C", top, "describe", "--always", "--dirty"],
            capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        pass
    try:
        built = time.strftime("built %Y-%m-%d %H:%M UTC", time.gmtime(
            os.stat(procd).st_mtime))
    except OSError:
        built = "not found"
    u = os.uname()
    print("# " + title)
    print("# command: %s" % shlex.join(
        [os.path.basename(sys.executable)] + sys.argv))
    print("# %d cpus (%s), %s %s, Python %s, %s" % (
        os.cpu_count() or 0, cpu_model(), u.sysname, u.release,
        platform.python_version(),
        time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())))
    return version or "?", built, commit or "?"


class RpcError(Exception):
    def __init__(self, err):
        super().__init__("%s %s" % (err.get("code"), err.get("message")))
        self.err = err


def result(ans):
    """The result of an answer; RpcError for an error answer."""
    if "error" in ans:
        raise RpcError(ans["error"])
    return ans["result"]


class Conn:
    """A non-blocking JSON-RPC connection: send() queues a request,
    flush() writes what it can, read() reads what is there into
    self.answers (id -> (answer, monotonic time of the read that brought
    it)) and hands notifications to on_note(message, time). The scripts
    add call(), which waits in their own poll loops."""

    def __init__(self, path, on_note=None):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(10)
        self.s.connect(path)
        self.s.setblocking(False)
        self.fd = self.s.fileno()
        self.out = bytearray()
        self.inbuf = b""
        self.answers = {}
        self.on_note = on_note
        self.next_id = 0
        self.eof = False

    def send(self, method, params=None):
        self.next_id += 1
        req = {"jsonrpc": "2.0", "id": self.next_id, "method": method}
        if params is not None:
            req["params"] = params
        self.out += json.dumps(req, separators=(",", ":")).encode() + b"\n"
        return self.next_id

    def flush(self):
        if not self.out or self.eof:
            return
        try:
            n = self.s.send(self.out[:1 << 18])
        except BlockingIOError:
            return
        except OSError:
            self.eof = True
            return
        del self.out[:n]

    def read(self):
        try:
            data = self.s.recv(1 << 20)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        now = time.monotonic()
        if not data:
            self.eof = True
            return
        self.inbuf += data
        if b"\n" not in data:
            return
        lines = self.inbuf.split(b"\n")
        self.inbuf = lines.pop()
        for line in lines:
            if not line:
                continue
            msg = json.loads(line)
            if isinstance(msg, dict) and "method" in msg and "id" not in msg:
                if self.on_note is not None:
                    self.on_note(msg, now)
            else:
                self.answers[msg.get("id")] = (msg, now)

    def close(self):
        self.s.close()
