# SPDX-License-Identifier: ISC
# procctl top (procctl(1)): the full-screen table in a pane of a private
# tmux server (jobs and their states, events shown at once, CPU% and RSS,
# q and Ctrl-C and SIGTERM giving the terminal back, resizes, a window too
# small, procd going away), and the plain and JSON snapshots without a
# terminal.
import json
import os
import re
import shlex
import shutil
import subprocess
import uuid

import pytest

from conftest import (LC_TIME_RE, PROCCTL, lc_all_pids, lc_proc_stat,
                      lc_start, wait_until)

TMUX = shutil.which("tmux")

HEADING = ["ID", "NAME", "USER", "STATE", "EXIT", "PID", "CPU%", "TIME",
           "RSS", "UPTIME", "RESTARTS", "READY", "COMMAND"]
COL = {h: i for i, h in enumerate(HEADING)}
RSS_RE = r"^\d+(\.\d)?[KMG]$"

BUSY = ["sh", "-c", "while :; do :; done"]


def wait_file_argv(path, code):
    return ["sh", "-c", 'while [ ! -e "$1" ]; do sleep 0.05; done; exit %d' % code,
            "sh", str(path)]


def row(text, name):
    """The cells of the row of job name in a table (screen or plain), or
    None. Only COMMAND may hold spaces, and it is last."""
    for line in text.splitlines():
        f = line.split(None, len(HEADING) - 1)
        if len(f) >= len(HEADING) - 1 and f[COL["NAME"]] == name and f[0].isdigit():
            return f
    return None


def cell(text, name, column):
    r = row(text, name)
    return None if r is None else r[COL[column]]


def cpu_above_zero(text, name):
    c = cell(text, name, "CPU%")
    try:
        return c is not None and float(c) > 0
    except ValueError:
        return False


class Pane:
    """One pane of a tmux server of its own (tmux -L), running sh, in which
    the test types commands and whose screen it reads."""

    def __init__(self, width=120, height=30):
        self.server = "procd-top-%d-%s" % (os.getpid(), uuid.uuid4().hex[:8])
        self.env = dict(os.environ, TERM="xterm")
        self.env.pop("TMUX", None)
        self.env.pop("PROCD_SOCKET", None)
        self.tmux("new-session", "-d", "-s", "t", "-x", str(width), "-y", str(height),
                  "env PS1='$ ' sh")
        # tmux leaves its socket behind: kill removes it.
        self.socket = self.fmt("#{socket_path}")
        # No status line: the pane is the whole window.
        self.tmux("set-option", "-g", "status", "off")
        wait_until(lambda: self.fmt("#{pane_height}") == str(height), 10)

    def tmux(self, *args, check=True):
        r = subprocess.run([TMUX, "-L", self.server, "-f", "/dev/null"] + list(args),
                           capture_output=True, text=True, env=self.env, timeout=30,
                           stdin=subprocess.DEVNULL)
        if check:
            assert r.returncode == 0, "tmux %s: %s" % (args, r.stderr)
        return r

    def fmt(self, f):
        return self.tmux("display-message", "-p", "-t", "t", f).stdout.strip()

    def type(self, line):
        self.tmux("send-keys", "-t", "t", "-l", line)
        self.tmux("send-keys", "-t", "t", "Enter")

    def keys(self, *keys):
        self.tmux("send-keys", "-t", "t", *keys)

    def screen(self):
        return self.tmux("capture-pane", "-p", "-t", "t").stdout

    def wait(self, pred, what, timeout=20):
        """Polls the screen until pred(screen); returns that screen."""
        box = {}

        def ok():
            box["s"] = self.screen()
            return pred(box["s"])
        try:
            wait_until(ok, timeout, 0.05)
        except TimeoutError:
            raise AssertionError("the pane never showed %s:\n%s" % (what, box.get("s")))
        return box["s"]

    def top(self, sock, *args):
        """Types procctl top into the shell, its exit status to follow."""
        cmd = " ".join(shlex.quote(str(a)) for a in
                       [PROCCTL, "--socket", sock, "top"] + list(args))
        self.type('%s; echo "status=$?"' % cmd)

    def top_pid(self):
        """The pid of procctl top, the shell's child."""
        shell = int(self.fmt("#{pane_pid}"))

        exe = os.path.realpath(PROCCTL)

        def find():
            for pid in lc_all_pids():
                st = lc_proc_stat(pid)
                try:
                    mine = os.readlink("/proc/%d/exe" % pid) == exe
                except OSError:
                    continue
                if st and st["ppid"] == shell and mine:
                    return pid
            return None
        return wait_until(find, 10)

    def kill(self):
        self.tmux("kill-server", check=False)
        try:
            os.unlink(self.socket)
        except OSError:
            pass


@pytest.fixture
def pane():
    if TMUX is None:
        pytest.skip("tmux is not installed (Debian package tmux)")
    p = Pane()
    yield p
    p.kill()


def assert_given_back(pane, screen, status):
    """top has ended with status, the shell's screen is back and the
    terminal as top found it."""
    assert re.search(r"(?m)^status=%d$" % status, screen), screen
    assert "RESTARTS" not in screen, "the table is still there:\n" + screen
    assert "Sanitizer" not in screen and "runtime error" not in screen, screen
    # Alternate screen left, cursor shown, line wrap on again.
    assert pane.fmt("#{alternate_on} #{cursor_flag} #{wrap_flag}") == "0 1 1"
    tty = pane.fmt("#{pane_tty}")
    r = subprocess.run(["stty", "-a", "-F", tty], capture_output=True, text=True, timeout=10)
    flags = r.stdout.split()
    for flag in ("icanon", "echo", "isig", "icrnl", "ixon"):
        assert flag in flags, "%s not restored: %s" % (flag, r.stdout)


def ended(screen):
    """Whether the shell has printed top's exit status (the command line
    typed has "status=$?", not a number)."""
    return re.search(r"(?m)^status=\d+$", screen) is not None


def started(pane):
    return pane.wait(lambda s: "RESTARTS" in s and "procd " in s, "top's table")


# --- the full-screen table ---

def test_screen_shows_jobs_and_q_gives_terminal_back(procd, conn, pane):
    lc_start(conn, ["sleep", "300"], name="napper")
    lc_start(conn, ["sh", "-c", "exit 4"], name="quitter")
    lc_start(conn, ["sleep", "300"], name="flagger", notify=True)
    pane.top(procd.sock)
    s = pane.wait(lambda s: cell(s, "quitter", "STATE") == "exited" and
                  row(s, "napper") and row(s, "flagger"), "the jobs")
    assert pane.fmt("#{alternate_on} #{cursor_flag}") == "1 0"
    lines = s.splitlines()
    assert lines[0].startswith("procd "), s
    assert "3 jobs: 2 running, 1 exited" in lines[0], s
    assert lines[1].split() == HEADING, s
    assert cell(s, "napper", "STATE") == "running"
    assert cell(s, "napper", "READY") == "-"
    assert cell(s, "flagger", "READY") == "no"
    assert cell(s, "quitter", "EXIT") == "4"
    assert cell(s, "quitter", "CPU%") == "-"
    # Sorted by id.
    ids = [int(l.split()[0]) for l in lines[2:] if l.split() and l.split()[0].isdigit()]
    assert ids == sorted(ids) and len(ids) == 3, s
    # While top runs, the terminal is raw: no line editing, no echo.
    tty = pane.fmt("#{pane_tty}")
    flags = subprocess.run(["stty", "-a", "-F", tty], capture_output=True,
                           text=True, timeout=10).stdout.split()
    assert "-icanon" in flags and "-echo" in flags, flags

    pane.keys("q")
    s = pane.wait(ended, "top's exit status")
    assert_given_back(pane, s, 0)
    assert "napper" not in s, s


def test_screen_events_show_at_once(procd, conn, pane, tmp_path):
    # With a delay that never comes, only events can change the table.
    lc_start(conn, ["sleep", "300"], name="first")
    pane.top(procd.sock, "--delay", "100000")
    started(pane)
    pane.wait(lambda s: cell(s, "first", "STATE") == "running", "the first job")

    lc_start(conn, ["sleep", "300"], name="later")
    s = pane.wait(lambda s: cell(s, "later", "STATE") == "running",
                  "a job started after top began")
    assert "2 jobs: 2 running" in s.splitlines()[0], s

    flag = tmp_path / "go"
    lc_start(conn, wait_file_argv(flag, 3), name="ender")
    pane.wait(lambda s: cell(s, "ender", "STATE") == "running", "the job that will exit")
    flag.write_text("")
    s = pane.wait(lambda s: cell(s, "ender", "STATE") == "exited", "the job's exit")
    assert cell(s, "ender", "EXIT") == "3", s
    assert cell(s, "ender", "CPU%") == "-", s

    conn.call("terminate", {"job": "later"})
    s = pane.wait(lambda s: cell(s, "later", "STATE") == "exited", "the terminated job")
    assert cell(s, "later", "EXIT") == "SIGTERM", s

    conn.call("close", {"job": "ender"})
    s = pane.wait(lambda s: row(s, "ender") is None, "the closed job gone")
    assert row(s, "first") is not None, s

    pane.keys("C-c")
    s = pane.wait(ended, "top's exit status after Ctrl-C")
    assert_given_back(pane, s, 0)


def test_screen_cpu_and_rss(procd, conn, pane):
    busy = lc_start(conn, BUSY, name="spinner")
    lc_start(conn, ["sleep", "300"], name="idler")
    pane.top(procd.sock, "-d", "0.3")
    started(pane)
    s = pane.wait(lambda s: cpu_above_zero(s, "spinner"), "CPU% above 0 for a busy job")
    assert cell(s, "spinner", "PID") == str(busy["pid"])
    assert cell(s, "spinner", "RSS") not in (None, "-")
    assert re.match(RSS_RE, cell(s, "spinner", "RSS")), s
    assert re.match(RSS_RE, cell(s, "idler", "RSS")), s
    assert re.match(r"^\d+:\d\d\.\d\d$", cell(s, "spinner", "TIME")), s
    # The busy job's CPU time grows from one update to the next.
    t0 = cell(s, "spinner", "TIME")
    pane.wait(lambda s: cell(s, "spinner", "TIME") not in (None, t0), "CPU time growing")

    # Once it has exited: no CPU%, its final usage (maxrss) as RSS.
    conn.call("kill", {"job": "spinner"})
    s = pane.wait(lambda s: cell(s, "spinner", "STATE") == "exited", "the killed job")
    assert cell(s, "spinner", "CPU%") == "-", s
    assert re.match(RSS_RE, cell(s, "spinner", "RSS")), s
    assert cell(s, "spinner", "EXIT") == "SIGKILL", s

    pane.keys("q")
    s = pane.wait(ended, "top's exit status")
    assert_given_back(pane, s, 0)


def test_screen_resize_redraws(procd, conn, pane):
    tail = "tail-of-a-long-command-line"
    argv = ["sh", "-c", "sleep 300", "x" * 60, tail]
    lc_start(conn, argv, name="wide")
    for i in range(5):
        lc_start(conn, ["sleep", "300"], name="filler%d" % i)
    pane.top(procd.sock, "--delay", "100000")
    s = pane.wait(lambda s: row(s, "filler4") is not None, "every job")
    assert tail not in s, "the command should be cut at 120 columns:\n" + s
    assert all(len(l) <= 120 for l in s.splitlines()), s

    # Wider: the rest of the command shows, though nothing else changed.
    pane.tmux("resize-window", "-t", "t", "-x", "220", "-y", "30")
    s = pane.wait(lambda s: tail in s, "the command at the new width")
    assert len(s.splitlines()[0].rstrip()) > 120, "the title is not redrawn to the width:\n" + s

    # Too low for the six jobs: what fits, and how many are left out.
    pane.tmux("resize-window", "-t", "t", "-x", "100", "-y", "6")
    s = pane.wait(lambda s: "not shown" in s, "the rows left out")
    lines = [l for l in s.splitlines() if l.strip()]
    assert len(lines) == 6, s
    assert "(3 more jobs not shown" in lines[-1], s
    assert lines[1].split()[:2] == ["ID", "NAME"], s
    assert all(len(l) <= 100 for l in s.splitlines()), s

    pane.tmux("resize-window", "-t", "t", "-x", "120", "-y", "30")
    s = pane.wait(lambda s: row(s, "filler4") is not None and "not shown" not in s,
                  "every job again")
    pane.keys("q")
    s = pane.wait(ended, "top's exit status")
    assert_given_back(pane, s, 0)


def test_screen_sigterm_gives_terminal_back(procd, conn, pane):
    lc_start(conn, ["sleep", "300"], name="napper")
    pane.top(procd.sock)
    pane.wait(lambda s: row(s, "napper") is not None, "the job")
    os.kill(pane.top_pid(), 15)
    s = pane.wait(ended, "top's exit status after SIGTERM")
    assert_given_back(pane, s, 0)


def test_screen_iterations(procd, conn, pane):
    lc_start(conn, ["sleep", "300"], name="napper")
    pane.top(procd.sock, "-n", "3", "-d", "0.2")
    s = pane.wait(ended, "top ending after 3 updates")
    assert_given_back(pane, s, 0)


def test_screen_procd_going_away(procd_factory, pane):
    d = procd_factory()
    c = d.connect()
    lc_start(c, ["sleep", "300"], name="napper")
    pane.top(d.sock)
    pane.wait(lambda s: row(s, "napper") is not None, "the job")
    assert d.stop() == 0
    s = pane.wait(ended, "top's exit status after procd stopped")
    assert "procd closed the connection" in s, s
    assert_given_back(pane, s, 1)


# --- without a terminal ---

def plain(procd, *args, timeout=30):
    r = procd.ctl("top", *args, timeout=timeout)
    assert "\x1b" not in r.stdout, "escape sequences in plain output: %r" % r.stdout
    return r


def tables(text):
    """The snapshots of plain output: lists of lines, split at blank lines."""
    return [t.splitlines() for t in text.split("\n\n") if t.strip()]


def test_plain_snapshots(procd, conn):
    lc_start(conn, ["sleep", "300"], name="napper")
    lc_start(conn, ["sh", "-c", "exit 2"], name="quitter")
    lc_start(conn, BUSY, name="spinner")
    wait_until(lambda: conn.call("status", {"job": "quitter"})["state"] == "exited")
    r = plain(procd, "-n", "2", "--delay", "0.2")
    assert r.returncode == 0, r
    assert r.stderr == "", r.stderr
    snaps = tables(r.stdout)
    assert len(snaps) == 2, r.stdout
    assert "\n\n" in r.stdout and not r.stdout.startswith("\n")
    for t in snaps:
        assert t[0].split() == HEADING, t
        assert [l.split()[1] for l in t[1:]] == ["napper", "quitter", "spinner"], t
        text = "\n".join(t)
        assert cell(text, "napper", "STATE") == "running"
        assert cell(text, "quitter", "EXIT") == "2"
        assert cell(text, "quitter", "CPU%") == "-"
        assert re.match(RSS_RE, cell(text, "napper", "RSS")), text
        assert re.match(RSS_RE, cell(text, "quitter", "RSS")), text


def test_plain_one_table_through_a_pipe(procd, conn):
    lc_start(conn, ["sleep", "300"], name="napper")
    r = subprocess.run(["sh", "-c", '%s --socket %s top | cat; echo "status=$?"' %
                        (shlex.quote(PROCCTL), shlex.quote(procd.sock))],
                       capture_output=True, text=True, timeout=30, env=procd.env)
    out = r.stdout
    assert out.endswith("status=0\n"), out
    snaps = tables(out.replace("status=0\n", ""))
    assert len(snaps) == 1 and len(snaps[0]) == 2, out
    assert cell(out, "napper", "STATE") == "running"
    assert "\x1b" not in out
    # And procctl's own status.
    r = plain(procd)
    assert r.returncode == 0 and len(tables(r.stdout)) == 1, r


def test_json_snapshots(procd, conn):
    lc_start(conn, BUSY, name="spinner")
    lc_start(conn, ["sh", "-c", "exit 0"], name="quitter")
    wait_until(lambda: conn.call("status", {"job": "quitter"})["state"] == "exited")
    r = plain(procd, "--json", "-n", "3", "--delay", "0.2")
    assert r.returncode == 0, r
    snaps = [json.loads(l) for l in r.stdout.splitlines()]
    assert len(snaps) == 3, r.stdout
    for snap in snaps:
        assert set(snap) == {"time", "jobs"}, snap
        assert LC_TIME_RE.match(snap["time"]), snap
        jobs = {j["name"]: j for j in snap["jobs"]}
        assert set(jobs) == {"spinner", "quitter"}
        spin, quit = jobs["spinner"], jobs["quitter"]
        assert spin["state"] == "running"
        assert isinstance(spin["cpu"], (int, float)) and spin["cpu"] >= 0
        assert type(spin["rss"]) is int and spin["rss"] > 0
        assert isinstance(spin["cpu_time"], (int, float))
        assert quit["cpu"] is None and quit["rss"] is None and quit["cpu_time"] is None
        assert quit["usage"]["maxrss"] > 0
    # A busy job is seen using CPU (polled: the machine may be busy too).

    def busy():
        r = plain(procd, "--json", "-n", "2", "--delay", "0.3")
        return r.returncode == 0 and json.loads(r.stdout.splitlines()[-1])["jobs"][0]["cpu"] > 0
    wait_until(busy, 30, 0.1)


def test_plain_filters(procd, conn):
    parent = lc_start(conn, ["sleep", "300"], name="parent")
    lc_start(conn, ["sleep", "300"], name="kid", parent="parent")
    lc_start(conn, ["sh", "-c", "exit 1"], name="quitter")
    wait_until(lambda: conn.call("status", {"job": "quitter"})["state"] == "exited")
    r = plain(procd, "--state", "exited")
    assert [l.split()[1] for l in r.stdout.splitlines()[1:]] == ["quitter"], r.stdout
    r = plain(procd, "--state", "exited", "--state", "running")
    assert len(r.stdout.splitlines()) == 4, r.stdout
    for p in ("parent", str(parent["id"])):
        r = plain(procd, "--parent", p)
        assert [l.split()[1] for l in r.stdout.splitlines()[1:]] == ["kid"], r.stdout
    r = plain(procd, "--parent", "nosuchjob")
    assert r.returncode == 1 and "-32001" in r.stderr, r


def test_usage_errors(procd):
    for args in (["--delay", "0"], ["-d", "0.05"], ["--delay", "soon"], ["-n", "x"],
                 ["-n", "-1"], ["--state", "sleeping"], ["extra"]):
        r = procd.ctl("top", *args)
        assert r.returncode == 2, (args, r)
        assert "usage: procctl top" in r.stderr, r.stderr
    r = procd.ctl("top", "--help")
    assert r.returncode == 0 and "--delay" in r.stdout and "--iterations" in r.stdout
    r = procd.ctl("--help")
    assert "  top " in r.stdout


def test_unreachable(tmp_path):
    r = subprocess.run([PROCCTL, "--socket", str(tmp_path / "none.sock"), "top"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 1 and "none.sock" in r.stderr, r


def test_plain_interrupted_between_snapshots(procd, conn):
    lc_start(conn, ["sleep", "300"], name="napper")
    p = subprocess.Popen([PROCCTL, "--socket", procd.sock, "top", "-n", "0", "-d", "0.2"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=procd.env)
    try:
        first = p.stdout.readline()
        assert first.split() == [h.encode() for h in HEADING], first
        p.send_signal(2)
        out, err = p.communicate(timeout=20)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == 0, (p.returncode, err)
    assert b"Sanitizer" not in err, err

