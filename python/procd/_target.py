# SPDX-License-Identifier: ISC
"""Jobs that run a Python function (Job(target=...)), the way
multiprocessing's spawn start method runs a Process: a fresh interpreter
gets the parent's sys.path and sys.argv, loads the parent's main module
under another name than __main__ (so its `if __name__ == "__main__":`
block does not run again), unpickles the Job and calls its run().

The parent side (command) builds the job's argv and environment; the
child side (main) is what that argv runs. The pickle travels base64 in
the job's environment, in as many strings as it takes (the kernel
limits one to 128 KiB): nothing on disk, so every restart of the job
finds it again and no file can be left behind or read by another
user. procd's request limit (1 MiB by default) bounds its size."""

import base64
import os
import pickle
import runpy
import sys
import types

__all__ = ["command", "main", "check_not_loading_main"]

# PROCD_TARGET holds how many parts there are, PROCD_TARGET_0... the parts.
_ENV = "PROCD_TARGET"
# The kernel's limit for one environment string is 128 KiB.
_PART_MAX = 96 * 1024
# The name the parent's main module is loaded under in the child.
_RUN_NAME = "__procd_main__"
_BOOT = ("import sys; sys.path.insert(0, %r); "
         "from procd._target import main; main()")


def _preparation():
    """What the child needs before it can unpickle: the parent's
    sys.path, sys.argv and main module (by module name when it was run
    with -m, else by path)."""
    prep = {"sys_path": list(sys.path), "sys_argv": list(sys.argv),
            "main_name": None, "main_path": None}
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    if spec is not None and getattr(spec, "name", None):
        prep["main_name"] = spec.name
    elif getattr(main, "__file__", None):
        prep["main_path"] = os.path.abspath(main.__file__)
    return prep


def _label(job):
    """A readable word for the job's command line."""
    target = job._target
    if target is None:
        return "%s.%s.run" % (type(job).__module__, type(job).__qualname__)
    mod = getattr(target, "__module__", None) or "?"
    name = getattr(target, "__qualname__", None) or repr(target)
    return "%s.%s" % (mod, name)


def command(job, env, socket=None):
    """(argv, env) of a job that runs job.run() in a new interpreter;
    env is the job's env param (or None). The job gets PROCD_SOCKET
    (unless env says otherwise), so that a target using procd reaches
    the one that runs it."""
    payload = pickle.dumps({"prep": _preparation(),
                            "job": pickle.dumps(job, pickle.HIGHEST_PROTOCOL)},
                           pickle.HIGHEST_PROTOCOL)
    env = dict(env or {})
    if socket is not None:
        env.setdefault("PROCD_SOCKET", socket)
    text = base64.b64encode(payload).decode("ascii")
    parts = [text[i:i + _PART_MAX] for i in range(0, len(text), _PART_MAX)]
    env[_ENV] = str(len(parts))
    for i, part in enumerate(parts):
        env["%s_%d" % (_ENV, i)] = part
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    argv = [sys.executable or "python3", "-c", _BOOT % here, _label(job)]
    return argv, env


def _take_payload():
    """The payload, taken out of the environment (so the target's own
    subprocesses do not inherit it)."""
    count = os.environ.pop(_ENV, "")
    if not count.isdigit():
        raise SystemExit("procd._target: no %s in the environment" % _ENV)
    parts = [os.environ.pop("%s_%d" % (_ENV, i), "")
             for i in range(int(count))]
    return base64.b64decode("".join(parts))


# True while the parent's main module is being loaded in a child.
loading_main = False


def check_not_loading_main():
    """Refuse to start a job from the main module's top level while a
    target job's process loads it: that program would start jobs without
    end (multiprocessing refuses the same)."""
    if loading_main:
        raise RuntimeError(
            "a job was started while the main module was being loaded in "
            "the process of a target= job. The program's start must be "
            "behind `if __name__ == \"__main__\":` so that it does not run "
            "again in each job's process.")


def _load_main(prep):
    """Load the parent's main module as _RUN_NAME and make it __main__,
    so that pickles naming __main__.f find f."""
    global loading_main
    name, path = prep["main_name"], prep["main_path"]
    if name is not None and (name == "__main__" or
                             name.endswith(".__main__")):
        return              # running it again would run the program
    if name is None and path is None:
        return              # -c or interactive: nothing to load
    loading_main = True
    try:
        if name is not None:
            glob = runpy.run_module(name, run_name=_RUN_NAME, alter_sys=True)
        else:
            glob = runpy.run_path(path, run_name=_RUN_NAME)
    finally:
        loading_main = False
    mod = types.ModuleType(_RUN_NAME)
    mod.__dict__.update(glob)
    sys.modules["__main__"] = sys.modules[_RUN_NAME] = mod


def main():
    """The child: prepare as the parent was, unpickle the Job, run it and
    exit as a multiprocessing child does (0 on return, 1 on an exception
    with its traceback on stderr, the code of a SystemExit)."""
    outer = pickle.loads(_take_payload())
    prep = outer["prep"]
    sys.path[:] = prep["sys_path"]
    sys.argv[:] = prep["sys_argv"]
    # Output goes to a pipe procd reads: flush each line, as a terminal
    # would, so that followed logs show lines as they are printed.
    for f in (sys.stdout, sys.stderr):
        if f is not None and hasattr(f, "reconfigure"):
            f.reconfigure(line_buffering=True)
    _load_main(prep)
    job = pickle.loads(outer["job"])
    sys.exit(job._bootstrap())
