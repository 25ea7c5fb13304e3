# SPDX-License-Identifier: ISC
# The reexec state reader against its fuzz corpus (tests/fuzz/handoff-corpus):
# every file goes through `procd --handoff-check FILE`, which must answer
# 0 (the state would be taken) or 1 (refused, with the reason on stderr),
# never die of a signal, hang or report a sanitizer error. Files *.bin are
# of the format procd writes (procd-handoff-2), *.json of the one before
# (procd-handoff-1), which procd still reads. The file's name says which
# answer is right (see the corpus's README):
#   valid-*         real states procd wrote (handoff-seeds.py) and
#                   hand-made variants of them: taken
#   bad-*           states that must be refused
#   bug-refused-*   real states the check wrongly refuses: expected to fail
#                   until the bug is fixed (xfail, strict: once fixed, the
#                   file is renamed valid-*)
#   bug-accepted-*  invalid states the check wrongly takes: the same, to be
#                   renamed bad-* once fixed
#   fuzz-*          inputs the fuzzer found worth keeping: 0 or 1, nothing
#                   else
import glob
import json
import os
import subprocess

import pytest

from conftest import PROCD

FUZZ = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fuzz"))
CORPUS = os.path.join(FUZZ, "handoff-corpus")
FORMATS = {".bin": "procd-handoff-2", ".json": "procd-handoff-1"}
PREFIXES = ("valid-", "bad-", "bug-refused-", "bug-accepted-", "fuzz-")
SANITIZER = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
             "ERROR: UndefinedBehaviorSanitizer")
CHECK_TIMEOUT = 120     # seconds for one check: generous, never a speed test
MAX_CORPUS = 1024 * 1024      # two formats' seeds


def corpus_files():
    return sorted(f for f in glob.glob(os.path.join(CORPUS, "*"))
                  if os.path.isfile(f) and not os.path.basename(f).startswith("README"))


def kind(path):
    name = os.path.basename(path)
    for p in PREFIXES:
        if name.startswith(p):
            return p[:-1]
    return None


def check(path):
    """procd --handoff-check path: (exit code, stdout, stderr); asserts it
    ended by itself (no signal, no hang) with no sanitizer report."""
    try:
        r = subprocess.run([PROCD, "--handoff-check", path], stdin=subprocess.DEVNULL,
                           capture_output=True, timeout=CHECK_TIMEOUT, cwd="/")
    except subprocess.TimeoutExpired:
        pytest.fail("procd --handoff-check %s did not end within %d s" % (path, CHECK_TIMEOUT))
    out = r.stdout.decode("utf-8", "replace")
    err = r.stderr.decode("utf-8", "replace")
    assert r.returncode >= 0, "procd --handoff-check %s died of signal %d:\n%s" % (
        path, -r.returncode, err)
    assert r.returncode in (0, 1), "procd --handoff-check %s exited %d:\n%s" % (
        path, r.returncode, err)
    for bad in SANITIZER:
        assert bad not in err, "sanitizer report checking %s:\n%s" % (path, err)
    return r.returncode, out, err


def file_format(path):
    """The format a state file is in, by its first line."""
    with open(path, "rb") as f:
        return "procd-handoff-2" if f.read(16) == b"procd-handoff-2\n" else "procd-handoff-1"


def assert_taken(path, rc, out, err):
    assert rc == 0, "%s refused: %s" % (os.path.basename(path), err.strip())
    assert ("a %s state procd would take" % file_format(path)) in out, out
    assert not err.strip(), err


def assert_refused(path, rc, out, err):
    assert rc == 1, "%s taken, but it is invalid" % os.path.basename(path)
    assert not out.strip(), out
    # One line: "procd: PATH: the reason".
    lines = err.strip().split("\n")
    assert len(lines) == 1, err
    head = "procd: %s: " % path
    assert lines[0].startswith(head) and lines[0][len(head):].strip(), \
        "no reason given: %r" % err


def params():
    out = []
    for f in corpus_files():
        k = kind(f)
        marks = []
        if k == "bug-refused":
            marks.append(pytest.mark.xfail(strict=True, reason="a real state the check "
                                           "refuses (see the corpus README); once fixed, "
                                           "rename the file valid-*"))
        elif k == "bug-accepted":
            marks.append(pytest.mark.xfail(strict=True, reason="an invalid state the check "
                                           "takes (see the corpus README); once fixed, "
                                           "rename the file bad-*"))
        out.append(pytest.param(f, id=os.path.basename(f), marks=marks))
    return out


@pytest.mark.parametrize("path", params())
def test_corpus_file(path):
    """One corpus file: the answer its name says, and nothing worse."""
    k = kind(path)
    assert k is not None, "%s: a corpus file's name starts with one of %s" % (
        os.path.basename(path), ", ".join(PREFIXES))
    assert os.path.splitext(path)[1] in FORMATS, "%s: a corpus file is *.bin or *.json" % (
        os.path.basename(path))
    rc, out, err = check(path)
    if k in ("valid", "bug-refused"):
        assert_taken(path, rc, out, err)
    elif k in ("bad", "bug-accepted"):
        assert_refused(path, rc, out, err)
    elif rc == 1:
        assert_refused(path, rc, out, err)
    else:
        assert_taken(path, rc, out, err)


def test_corpus_shape():
    """The corpus has real states, refusals, and stays small; each known
    bug is described in its README."""
    files = corpus_files()
    names = [os.path.basename(f) for f in files]
    kinds = [kind(f) for f in files]
    assert kinds.count("valid") >= 3, names
    assert kinds.count("bad") >= 20, names
    # The real states handoff-seeds.py writes (*.bin), and those of the
    # format before, kept.
    for real in ("valid-empty", "valid-small", "valid-full"):
        for ext in FORMATS:
            assert real + ext in names, "%s missing: run tests/fuzz/handoff-seeds.py" % (
                real + ext)
    for ext in FORMATS:
        assert sum(1 for n in names if n.startswith("bad-") and n.endswith(ext)) >= 20, names
    total = sum(os.path.getsize(f) for f in files)
    assert total <= MAX_CORPUS, "the corpus is %d bytes; keep it under %d" % (total, MAX_CORPUS)
    with open(os.path.join(CORPUS, "README.md")) as f:
        readme = f.read()
    for n, k in zip(names, kinds):
        if k in ("bug-refused", "bug-accepted"):
            assert n in readme, "%s is not described in the corpus README" % n


def test_check_refuses_what_is_no_state(tmp_path):
    """A file that is missing, empty, a folder, not JSON, only format 2's
    first line, or of a format procd does not read: 1 and why."""
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    text = tmp_path / "text"
    text.write_bytes(b"procd state\n")
    head = tmp_path / "head"
    head.write_bytes(b"procd-handoff-2\n")
    later = tmp_path / "later"
    later.write_bytes(b"procd-handoff-3\n\x00\x01")
    for path in (str(tmp_path / "missing"), str(empty), str(tmp_path), str(text),
                 "/dev/null", str(head), str(later)):
        rc, out, err = check(path)
        assert_refused(path, rc, out, err)
    rc, out, err = check(str(later))
    assert "procd-handoff-3" in err, err


def test_real_states_round_trip(tmp_path):
    """A real format 1 state stays taken when its JSON is spelled otherwise
    (spaces, newlines, keys in another order, escapes): the reader does not
    depend on the writer's spelling."""
    for name in ("valid-small.json", "valid-full.json"):
        with open(os.path.join(CORPUS, name), "rb") as f:
            doc = json.loads(f.read())
        p = tmp_path / name
        p.write_text(json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=True))
        rc, out, err = check(str(p))
        assert_taken(str(p), rc, out, err)


def test_real_states_cut(tmp_path):
    """A real format 2 state ends where its last value does: cut anywhere,
    or with a byte more, it is refused, with a reason."""
    for name in ("valid-small.bin", "valid-full.bin"):
        with open(os.path.join(CORPUS, name), "rb") as f:
            data = f.read()
        cuts = sorted(set([16, 17, len(data) - 1] + [len(data) * k // 13 for k in range(1, 13)]))
        for n, cut in enumerate(cuts + [None]):
            p = tmp_path / ("%s-%d" % (name, n))
            p.write_bytes(data[:cut] if cut is not None else data + b"\0")
            rc, out, err = check(str(p))
            assert_refused(str(p), rc, out, err)


def test_format2_codec():
    """handoff_format2.py (what handoff-seeds.py makes seeds with) reads and
    writes the real format 2 states byte for byte, in the shape of format
    1's documents."""
    import sys
    sys.path.insert(0, FUZZ)
    try:
        import handoff_format2 as h2
    finally:
        sys.path.remove(FUZZ)
    with open(os.path.join(CORPUS, "valid-small.json"), "rb") as f:
        keys1 = set(json.loads(f.read()))
    for name in ("valid-empty.bin", "valid-small.bin", "valid-full.bin"):
        with open(os.path.join(CORPUS, name), "rb") as f:
            data = f.read()
        doc = h2.decode(data)
        assert set(doc) == keys1, name
        assert h2.encode(doc) == data, name
