# SPDX-License-Identifier: ISC
# Shell completion (procctl(1) complete, SHELL COMPLETION): procctl
# complete's own output, then the real bash script in a real bash (with
# and without bash-completion) and the real zsh function in a real zsh,
# against a private procd with real jobs.
import os
import re
import shutil
import socket
import subprocess
import sys
import time

import pytest

from conftest import (PROCCTL, USR_PY, as_user, lc_join, lc_start,
                      wait_until)

SRCDIR = os.environ.get("srcdir") or os.path.abspath(
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
BASH_SCRIPT = os.path.join(SRCDIR, "completion", "procctl.bash")
ZSH_DIR = os.path.join(SRCDIR, "completion")
BASH_COMPLETION = "/usr/share/bash-completion/bash_completion"
ZSH = shutil.which("zsh")
BASH = shutil.which("bash") or "/bin/bash"

STATES = ["running", "stopping", "restarting", "waiting", "exited"]


# --- procctl complete itself ---

def complete(*words, env=None, cwd=None, socket_opt=None, timeout=30):
    """procctl complete -- procctl WORDS...: (CompletedProcess, seconds)."""
    argv = [PROCCTL, "complete"]
    if socket_opt is not None:
        argv += ["--socket", socket_opt]
    argv += ["--", "procctl"] + [str(w) for w in words]
    e = dict(os.environ)
    e.pop("PROCD_SOCKET", None)
    e.update(env or {})
    t0 = time.monotonic()
    r = subprocess.run(argv, capture_output=True, text=True, env=e, cwd=cwd,
                       timeout=timeout, stdin=subprocess.DEVNULL)
    return r, time.monotonic() - t0


def candidates(*words, **kw):
    """{word: description} of procctl complete; fails on any stderr."""
    r, _ = complete(*words, **kw)
    assert r.returncode == 0 and r.stderr == "", r
    out = {}
    for line in r.stdout.splitlines():
        word, _, desc = line.partition("\t")
        assert word not in out, "twice: %r in %r" % (word, r.stdout)
        out[word] = desc
    return out


def help_commands():
    """The commands procctl --help lists, with their synopsis lines."""
    r = subprocess.run([PROCCTL, "--help"], capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 0, r
    text = r.stdout.split("\ncommands:\n", 1)[1].split("\n\n", 1)[0]
    return [m.group(1) for m in re.finditer(r"^  ([a-z]+)", text, re.M)]


def command_help(cmd):
    r = subprocess.run([PROCCTL, "help", cmd], capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 0, r
    return r.stdout


def test_complete_is_hidden_but_documented():
    assert "complete" not in help_commands()
    text = command_help("complete")
    assert text.startswith("usage: procctl complete ")
    assert "--help does not list it" in " ".join(text.split())
    # the man page documents it
    with open(os.path.join(SRCDIR, "man", "procctl.1")) as f:
        man = f.read()
    assert ".B complete " in man and "SHELL COMPLETION" in man


def test_complete_needs_a_word():
    r = subprocess.run([PROCCTL, "complete", "--"], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 2 and "missing WORD" in r.stderr, r
    # completing the program name itself offers nothing
    r = subprocess.run([PROCCTL, "complete", "--", "proc"],
                       capture_output=True, text=True, timeout=30)
    assert (r.returncode, r.stdout, r.stderr) == (0, "", ""), r


def test_commands_with_their_summary():
    cmds = help_commands()
    got = candidates("")
    assert list(got) == cmds
    assert "complete" not in got
    # the description is the first sentence of the command's help
    for cmd in cmds:
        first = "\n".join(line for line in command_help(cmd).splitlines()
                          if not line.startswith(("usage:", " ")))
        assert " ".join(first.split()).startswith(got[cmd]), (cmd, got[cmd])
        assert got[cmd] and not got[cmd].endswith(".")
    assert got["signal"] == "Send signal SIG (number or name, e.g. HUP) to JOB"
    assert list(candidates("st")) == [c for c in cmds if c.startswith("st")]
    assert candidates("nosuch") == {}
    # after the global options, and after "--"
    assert "status" in candidates("--json", "--socket", "/x", "st")
    assert "status" in candidates("--", "st")


def test_global_options():
    got = candidates("-")
    assert {"--socket", "--json", "--help", "--version"} <= set(got)
    assert got["--socket"] == "the socket of the procd to talk to"
    assert set(candidates("--so")) == {"--socket"}


@pytest.mark.parametrize("cmd", help_commands())
def test_every_command_has_its_options(cmd):
    """The long options in a command's help are those completed, with
    the ones every command takes."""
    text = command_help(cmd)
    wanted = set(re.findall(r"(?<![\w-])(--[a-z][a-z-]*)", text))
    got = set(candidates(cmd, "--"))
    common = set(candidates("--"))      # what procctl takes before COMMAND
    assert wanted - common <= got, (cmd, wanted - common - got)
    assert "--help" in got
    assert got - wanted <= common, (cmd, got - wanted)


def test_option_descriptions_come_from_the_help():
    got = candidates("logs", "--")
    assert got["--follow"] == "go on until the job has finished"
    assert got["--tail"] == "only the last N lines"
    got = candidates("start", "--re")
    assert got["--restart"].startswith(
        "start the process again when it exits: no (default), on-failure")
    assert set(got) == {"--restart", "--restart-delay", "--restart-max-delay",
                        "--restart-limit", "--ready-timeout"}
    assert set(candidates("join", "--t")) == {"--timeout"}
    # the same name, another option
    assert candidates("signal", "1", "HUP", "--gr")["--group"] == \
        "to its whole process group"
    assert candidates("start", "--gr")["--group"].startswith(
        "run with primary group GROUP")


def test_option_values():
    assert list(candidates("start", "--restart", "")) == \
        ["no", "on-failure", "always"]
    assert list(candidates("run", "--restart", "o")) == ["on-failure"]
    assert list(candidates("start", "--restart=o")) == ["--restart=on-failure"]
    assert list(candidates("start", "--kill-mode", "")) == ["group", "tree"]
    assert list(candidates("list", "--state", "")) == STATES
    assert list(candidates("list", "--state=r")) == \
        ["--state=running", "--state=restarting"]
    # values that take anything offer nothing
    assert candidates("start", "--stop-timeout", "") == {}
    assert candidates("start", "--name", "") == {}
    assert candidates("logs", "-n", "") == {}
    assert candidates("logs", "-fn", "") == {}
    # an option that takes no value does not eat the next word
    assert list(candidates("start", "--daemon", "--restart", "a")) == \
        ["always"]


def test_fallbacks():
    r, _ = complete("start", "--cwd", "")
    assert r.stdout == ":directories\n"
    r, _ = complete("start", "--cwd=/t")
    assert r.stdout == ":directories\t--cwd=\n"
    assert complete("--socket", "")[0].stdout == ":files\n"
    assert complete("list", "--socket=")[0].stdout == ":files\t--socket=\n"
    assert complete("start", "--user", "r")[0].stdout == ":users\n"
    assert complete("run", "--group", "")[0].stdout == ":groups\n"
    # CMD, then its arguments, whatever they look like
    assert complete("start", "")[0].stdout == ":commands\n"
    assert complete("run", "--name", "x", "--", "")[0].stdout == ":commands\n"
    assert complete("run", "--", "sleep", "")[0].stdout == ":files\n"
    assert complete("start", "sh", "-c", "--na")[0].stdout == ":files\n"
    assert complete("run", "--", "sh", "--", "x")[0].stdout == ":files\n"


def test_signals_by_name():
    assert candidates("signal", "1", "H") == {"HUP": "Hangup"}
    assert set(candidates("signal", "web", "US")) == {"USR1", "USR2"}
    assert set(candidates("signal", "web", "sigusr")) == {"sigusr1", "sigusr2"}
    assert set(candidates("signal", "web", "SIGT")) >= {"SIGTERM", "SIGTRAP"}
    got = candidates("signal", "1", "")
    assert {"HUP", "INT", "TERM", "KILL", "USR1", "CHLD", "IO"} <= set(got)
    # each is a name procctl signal takes: not a usage error (2) but a
    # socket with nothing on it (1)
    for name in got:
        r = subprocess.run([PROCCTL, "--socket", "/nonexistent/s", "signal",
                            "1", name], capture_output=True, text=True,
                           timeout=30)
        assert r.returncode == 1, (name, r.stderr)
    # no SIG operand after SIG: the options instead
    assert "--group" in candidates("signal", "1", "HUP", "")


def test_operands_of_help_and_call():
    assert "status" in candidates("help", "")
    assert "complete" not in candidates("help", "")
    got = candidates("call", "")
    assert {"start", "list", "rpc.discover"} <= set(got)
    assert all(got.values())
    # JSON-PARAMS: nothing to offer
    assert candidates("call", "list", "") == {}


def test_jobs_from_procd(procd, conn):
    a = lc_start(conn, ["sleep", "600"], name="nap")
    b = lc_start(conn, ["sh", "-c", "echo hi; sleep 600"], name="web:1")
    c = lc_start(conn, ["true"], name="brief")
    lc_join(conn, "brief")
    ids = [str(j["id"]) for j in (a, b, c)]
    for cmd in ("status", "join", "terminate", "kill", "signal", "close",
                "logs", "events", "subscribe"):
        got = candidates("--socket", procd.sock, cmd, "")
        assert set(got) == set(ids) | {"nap", "web:1", "brief"}, (cmd, got)
    got = candidates("--socket", procd.sock, "status", "")
    assert got[ids[0]] == "nap, running: sleep 600"
    assert got["nap"] == "job %s, running: sleep 600" % ids[0]
    assert got["brief"].startswith("job %s, exited: true" % ids[2])
    # the prefix filters; the socket may come anywhere, or from the env
    assert set(candidates("status", "--socket=" + procd.sock, "w")) == {"web:1"}
    assert set(candidates("events", ids[0], "n", env={
        "PROCD_SOCKET": procd.sock})) == {"nap"}
    assert set(candidates("status", "n", socket_opt=procd.sock)) == {"nap"}
    # the words' own --socket wins over complete's
    assert candidates("--socket", "/nonexistent/s", "status", "",
                      socket_opt=procd.sock) == {}
    # --parent takes a job; so does the JOB of signal, not its SIG
    assert "nap" in candidates("--socket", procd.sock, "start", "--parent", "")
    assert "--parent=nap" in candidates("--socket", procd.sock, "list",
                                        "--parent=n")
    assert "nap" not in candidates("--socket", procd.sock, "signal", "nap", "")
    # a closed job is gone
    procd.call("close", {"job": "brief"})
    got = candidates("--socket", procd.sock, "status", "")
    assert "brief" not in got and ids[2] not in got
    assert "nap" in got


def test_socket_with_a_tilde(procd, tmp_path):
    home = os.path.dirname(procd.sock)
    got = candidates("--socket", "~/procd.sock", "status", "",
                     env={"HOME": home})
    assert got == {}
    lc_start(procd.connect(), ["sleep", "600"], name="tilde")
    got = candidates("--socket", "~/procd.sock", "status", "t",
                     env={"HOME": home})
    assert set(got) == {"tilde"}


def test_no_procd_is_quiet(tmp_path):
    sock = str(tmp_path / "none.sock")
    for words in (("status", ""), ("signal", ""), ("start", "--parent", ""),
                  ("events", "1", "")):
        r, took = complete("--socket", sock, *words)
        assert (r.returncode, r.stdout, r.stderr) == (0, "", ""), r
        assert took < 5
    # PROCD_SOCKET, with nothing there
    r, _ = complete("status", "", env={"PROCD_SOCKET": sock})
    assert (r.returncode, r.stdout, r.stderr) == (0, "", ""), r
    # the rest still completes
    assert "--json" in candidates("--socket", sock, "status", "--")


def test_silent_procd_is_given_up_on(tmp_path):
    """A socket that accepts and never answers costs a second at most."""
    sock = str(tmp_path / "silent.sock")
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(sock)
    srv.listen(8)
    try:
        r, took = complete("--socket", sock, "status", "")
        assert (r.returncode, r.stdout, r.stderr) == (0, "", ""), r
        assert took < 8, took     # the 1 s timer, with room for a busy machine
        c, _ = srv.accept()
        assert b'"method":"list"' in c.recv(4096).replace(b" ", b"")
        c.close()
    finally:
        srv.close()


def test_socket_that_never_accepts_is_given_up_on(tmp_path):
    """A listener whose queue is full (it never accepts) would block a
    plain connect for ever, and with it the user's shell: completion's
    connect gives up at once."""
    sock = str(tmp_path / "full.sock")
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(sock)
    srv.listen(0)
    fillers = []
    try:
        while True:     # fill the queue until the kernel refuses more
            c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            c.setblocking(False)
            try:
                c.connect(sock)
            except BlockingIOError:
                c.close()
                break
            fillers.append(c)
            assert len(fillers) < 100
        r, took = complete("--socket", sock, "status", "", timeout=20)
        assert (r.returncode, r.stdout, r.stderr) == (0, "", ""), r
    finally:
        for c in fillers:
            c.close()
        srv.close()


LISTENER = r"""
import os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(sys.argv[1])
s.listen(4)
print("ready", flush=True)
c, _ = s.accept()
c.settimeout(10)
data = b""
try:
    while True:
        b = c.recv(4096)
        if not b:
            break
        data += b
except OSError:
    pass
print(len(data), flush=True)
"""


def test_untrusted_daemon_gets_nothing(users, usr_tmpdir):
    """What answers as another user (neither root nor procctl's) is sent
    nothing, and completion says nothing about it."""
    u = users("cmpl")
    d = usr_tmpdir(owner=u, mode=0o755)
    sock = os.path.join(d, "procd.sock")
    p = as_user(u, [USR_PY, "-c", LISTENER, sock], stdout=subprocess.PIPE,
                text=True)
    try:
        assert p.stdout.readline().strip() == "ready"
        r, took = complete("--socket", sock, "status", "")
        assert (r.returncode, r.stdout, r.stderr) == (0, "", ""), r
        assert p.stdout.readline().strip() == "0"
    finally:
        p.kill()
        p.wait()


# --- bash: the real script in a real bash ---

BASH_DRIVER = r"""
if [ -n "$LOAD_BC" ]; then . "$LOAD_BC" || exit 3; fi
. "$SCRIPT" || exit 3
complete -p procctl || exit 4
COMP_LINE=$1
COMP_POINT=${#1}
shift
COMP_WORDS=("$@")
COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
_procctl
printf '%s\n' "${COMPREPLY[@]}"
"""


def bash_words(line):
    """COMP_WORDS as bash splits a line: at blanks, with = and : (in
    COMP_WORDBREAKS) as words of their own."""
    words = []
    for tok in line.split():
        words += re.findall(r"[=:]+|[^=:]+", tok)
    if line == "" or line[-1].isspace():
        words.append("")
    return words


@pytest.fixture
def bindir(tmp_path):
    """A folder holding procctl, for PATH: the script calls procctl."""
    d = tmp_path / "bin"
    d.mkdir()
    os.symlink(os.path.abspath(PROCCTL), str(d / "procctl"))
    return str(d)


BC_MODES = [pytest.param(False, id="plain"),
            pytest.param(True, id="bash-completion", marks=pytest.mark.skipif(
                not os.path.exists(BASH_COMPLETION),
                reason="bash-completion is not installed "
                       "(scripts/deps should install it)"))]


@pytest.fixture(params=BC_MODES)
def bash(request, bindir, tmp_path):
    """bash(line, env=..., cwd=...) -> COMPREPLY of completing line (the
    cursor at its end), with or without bash-completion loaded."""
    def run(line, env=None, cwd=None, raw=False):
        e = dict(os.environ)
        e.pop("PROCD_SOCKET", None)
        e["PATH"] = bindir + os.pathsep + e.get("PATH", "/usr/bin:/bin")
        e["SCRIPT"] = BASH_SCRIPT
        e["LOAD_BC"] = BASH_COMPLETION if request.param else ""
        e.update(env or {})
        r = subprocess.run([BASH, "--norc", "--noprofile", "-c", BASH_DRIVER,
                            "bash", line] + bash_words(line),
                           capture_output=True, text=True, env=e,
                           cwd=cwd or str(tmp_path), timeout=30,
                           stdin=subprocess.DEVNULL)
        assert r.returncode == 0 and r.stderr == "", r
        lines = r.stdout.splitlines()
        assert lines[0] == "complete -F _procctl procctl", lines
        if raw:
            return lines[1:]
        return sorted(set(w for w in lines[1:] if w))
    run.with_bc = request.param
    return run


def compgen(flag, word, cwd=None):
    r = subprocess.run([BASH, "--norc", "--noprofile", "-c",
                        'compgen %s -- "$1"' % flag, "bash", word],
                       capture_output=True, text=True, cwd=cwd, timeout=30)
    return sorted(set(r.stdout.splitlines()))


def test_bash_commands_and_options(bash):
    assert bash("procctl ") == sorted(help_commands())
    for cmd in help_commands():
        assert cmd in bash("procctl " + cmd[:2]), cmd
    assert bash("procctl st") == ["start", "status"]
    assert bash("procctl join --t") == ["--timeout"]
    assert bash("procctl logs --f") == ["--follow"]
    assert bash("procctl --js") == ["--json"]
    assert "--kill-mode" in bash("procctl run --")
    assert "--wait" not in bash("procctl run --")
    assert "--wait" in bash("procctl start --")


def test_bash_values(bash):
    assert bash("procctl start --restart o") == ["on-failure"]
    assert bash("procctl start --restart ") == ["always", "no", "on-failure"]
    # bash splits --restart=o at the =: only "o" is replaced
    assert bash("procctl start --restart=o") == ["on-failure"]
    assert bash("procctl start --restart=") == ["always", "no", "on-failure"]
    assert bash("procctl start --kill-mode=") == ["group", "tree"]
    assert bash("procctl list --state ") == sorted(STATES)
    assert bash("procctl signal 1 H") == ["HUP"]
    assert bash("procctl signal nap sigu") == ["sigurg", "sigusr1", "sigusr2"]


def test_bash_jobs(bash, procd, conn):
    lc_start(conn, ["sleep", "600"], name="nap")
    lc_start(conn, ["sleep", "600"], name="web:1")
    lc_start(conn, ["true"], name="brief")
    lc_join(conn, "brief")
    s = procd.sock
    assert bash("procctl --socket %s status " % s) == \
        ["1", "2", "3", "brief", "nap", "web:1"]
    assert bash("procctl status --socket=%s n" % s) == ["nap"]
    assert bash("procctl signal nap H --socket " + s) == [s]
    # a name with a colon: bash replaces only what follows the colon
    assert bash("procctl --socket %s kill w" % s) == ["web:1"]
    assert bash("procctl --socket %s kill web:" % s) == ["1"]
    assert bash("procctl join ", env={"PROCD_SOCKET": s}) == \
        ["1", "2", "3", "brief", "nap", "web:1"]
    assert bash("procctl --socket %s start --parent=n" % s) == ["nap"]
    assert bash("procctl --socket %s signal n" % s) == ["nap"]
    procd.call("close", {"job": "brief"})
    assert bash("procctl --socket %s close " % s) == \
        ["1", "2", "nap", "web:1"]


def test_bash_without_procd(bash, tmp_path):
    sock = str(tmp_path / "none.sock")
    for line in ("procctl --socket %s status " % sock,
                 "procctl --socket %s signal " % sock,
                 "procctl --socket %s start --parent " % sock):
        t0 = time.monotonic()
        assert bash(line) == []
        assert time.monotonic() - t0 < 10
    assert bash("procctl --socket %s sta" % sock) == ["start", "status"]
    assert bash("procctl --socket %s status --j" % sock) == ["--json"]
    assert bash("procctl status ", env={"PROCD_SOCKET": sock}) == []


def test_bash_fallbacks(bash, tmp_path):
    work = tmp_path / "work"
    (work / "sub dir").mkdir(parents=True)
    (work / "file1").write_text("")
    (work / "file2").write_text("")
    cwd = str(work)
    assert bash("procctl run -- ech", cwd=cwd) == compgen("-c", "ech")
    assert "echo" in bash("procctl run -- ech", cwd=cwd)
    assert bash("procctl start --name x -- sh fi", cwd=cwd) == \
        ["file1", "file2"]
    assert bash("procctl run sh -c --n", cwd=cwd) == []
    got = bash("procctl start --cwd s", cwd=cwd)
    assert len(got) == 1 and got[0].startswith("sub"), got
    assert bash("procctl start --cwd fi", cwd=cwd) == []
    got = bash("procctl start --cwd=s", cwd=cwd)
    assert len(got) == 1 and got[0].startswith("sub"), got
    assert bash("procctl start --user roo") == compgen("-u", "roo")
    assert "root" in bash("procctl start --user roo")
    assert bash("procctl start --group=roo") == compgen("-g", "roo")
    assert bash("procctl --socket fi", cwd=cwd) == ["file1", "file2"]


def test_bash_named_by_path(bash, bindir, tmp_path):
    """procctl typed as a path runs that procctl, not the one in PATH."""
    empty = tmp_path / "empty"
    empty.mkdir()
    got = bash(os.path.join(bindir, "procctl") + " st",
               env={"PATH": str(empty)})
    assert got == ["start", "status"]


def test_bash_cursor_inside_a_word(bash, bindir, tmp_path):
    """The word is completed up to the cursor."""
    e = dict(os.environ, PATH=bindir + os.pathsep + os.environ["PATH"],
             SCRIPT=BASH_SCRIPT,
             LOAD_BC=BASH_COMPLETION if bash.with_bc else "")
    e.pop("PROCD_SOCKET", None)
    driver = BASH_DRIVER.replace("COMP_POINT=${#1}", "COMP_POINT=$POINT")
    line = "procctl stxyz"
    r = subprocess.run([BASH, "--norc", "--noprofile", "-c", driver, "bash",
                        line] + bash_words(line), capture_output=True,
                       text=True, env=dict(e, POINT="10"), timeout=30)
    assert r.returncode == 0 and r.stderr == "", r
    assert sorted(r.stdout.splitlines()[1:]) == ["start", "status"]


# --- zsh: the real function in a real zsh, over a pseudo-terminal ---

# Runs an interactive zsh in a zpty with compinit and completion/ in
# fpath, waits for its prompt, types LINE and a tab, and prints each
# match that reaches compadd as "MATCH<D>DESCRIPTION" (compadd wrapped as
# zsh-capture-completion does, the matches still added so that tags fall
# back as usual), and "<ERR>..." for an error of the completion
# functions. (The wrapper has no comments: an interactive zsh -f does
# not take them.)
ZSH_DRIVER = r"""
zmodload zsh/zpty || exit 3
zpty z zsh -f -i
zpty -w z "PROMPT='<''P>'; RPROMPT=; unsetopt zle_bracketed_paste 2>/dev/null"
zpty -w z "fpath=(${(q)1} \$fpath); autoload -U compinit; compinit -u -D"
zpty -w z 'compadd () {
  if [[ ${@[1,(i)(-|--)]} == *-(O|A|D)\ * ]]; then
    builtin compadd "$@"; return $?
  fi
  typeset -a __hits __dscr
  builtin compadd -A __hits "$@"
  builtin compadd "$@"
  local ret=$? i
  (( $#__hits )) || return $ret
  (( $@[(I)-d] )) && __dscr=( "${(@P)${@[$[${@[(i)-d]}+1]]}}" )
  for i in {1..$#__hits}; do
    print -r -- "<M>$IPREFIX${__hits[$i]}<D>${__dscr[$i]}"
  done
  return $ret
}'
zpty -w z "bindkey '^I' complete-word; bindkey '^U' kill-whole-line"
zpty -w z "whence -w _procctl; print -r -- '<REA''DY>'"
local out line
zpty -r z out '*<READY>*<P>*' || exit 4
[[ $out == *'_procctl: function'* ]] && print -r -- '<LOADED>'
zpty -n -w z "$2"$'\t\x15'
zpty -w z "print -r -- '<DO''NE>'"
zpty -r z out '*<DONE>*<P>*' || exit 5
for line in "${(@f)out}"; do
  [[ $line == *'<M>'* ]] && print -r -- "${${line#*<M>}%%$'\r'*}"
  [[ $line == *(_procctl|compadd|_describe):<->:* ]] && print -r -- "<ERR>$line"
done
zpty -d z
"""

needs_zsh = pytest.mark.skipif(
    ZSH is None, reason="zsh is not installed (scripts/deps should install it)")


@pytest.fixture
def zsh(bindir, tmp_path):
    """zsh(line) -> {match: description} of completing line in zsh."""
    def run(line, env=None, cwd=None):
        e = dict(os.environ)
        e.pop("PROCD_SOCKET", None)
        e["PATH"] = bindir + os.pathsep + e.get("PATH", "/usr/bin:/bin")
        e["HOME"] = str(tmp_path)     # no .zshrc or .zcompdump of anyone's
        e.update(env or {})
        r = subprocess.run([ZSH, "-f", "-c", ZSH_DRIVER, "zsh", ZSH_DIR, line],
                           capture_output=True, text=True, env=e,
                           cwd=cwd or str(tmp_path), timeout=60,
                           stdin=subprocess.DEVNULL)
        assert r.returncode == 0 and r.stderr == "", r
        lines = r.stdout.splitlines()
        assert lines[:1] == ["<LOADED>"], "_procctl was not loaded: %r" % r
        assert not [m for m in lines if m.startswith("<ERR>")], r.stdout
        out = {}
        for m in lines[1:]:
            word, _, desc = m.partition("<D>")
            # _describe shows "WORD  -- description"
            out[word] = desc.split(" -- ", 1)[1] if " -- " in desc else ""
        return out
    return run


@needs_zsh
def test_zsh_commands_options_values(zsh):
    got = zsh("procctl st")
    assert got == {"start": "Start CMD as a new job and print its id",
                   "status": "Show everything about JOB"}
    assert set(zsh("procctl ")) == set(help_commands())
    got = zsh("procctl join --t")
    assert set(got) == {"--timeout"}
    got = zsh("procctl logs --f")
    assert got == {"--follow": "go on until the job has finished"}
    assert set(zsh("procctl start --restart o")) == {"on-failure"}
    assert set(zsh("procctl start --restart=o")) == {"--restart=on-failure"}
    assert zsh("procctl signal 1 H") == {"HUP": "Hangup"}


@needs_zsh
def test_zsh_jobs(zsh, procd, conn):
    j = lc_start(conn, ["sleep", "600"], name="web:1")
    got = zsh("procctl --socket %s status " % procd.sock)
    assert got == {str(j["id"]): "web:1, running: sleep 600",
                   "web:1": "job %d, running: sleep 600" % j["id"]}
    assert set(zsh("procctl status web:",
                   env={"PROCD_SOCKET": procd.sock})) == {"web:1"}
    assert zsh("procctl --socket %s/none status " % procd.sock) == {}


@needs_zsh
def test_zsh_fallbacks(zsh, tmp_path):
    work = tmp_path / "work"
    (work / "subdir").mkdir(parents=True)
    (work / "file1").write_text("")
    cwd = str(work)
    assert set(zsh("procctl run -- sh fi", cwd=cwd)) == {"file1"}
    assert "subdir" in "".join(zsh("procctl start --cwd=su", cwd=cwd))
    assert "file1" not in "".join(zsh("procctl start --cwd ", cwd=cwd))
    assert "echo" in zsh("procctl run -- ech")
    assert "root" in zsh("procctl start --user roo")
