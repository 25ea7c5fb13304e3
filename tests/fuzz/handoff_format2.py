# SPDX-License-Identifier: ISC
"""procd-handoff-2, the reexec state format of daemon/handoff.c (its
layout is described there), read into and written from the shape of a
procd-handoff-1 document: the same keys and values, bytes as base64
strings, a batch's requests as a list. So the mutations handoff-seeds.py
makes of a state apply to both formats.

  decode(data) -> dict		raises ValueError where procd's reader
				would refuse the layout (not the values)
  encode(doc) -> bytes		raises Unrepresentable for what the format
				cannot say (a string where an integer goes,
				a key too many or missing, ...)

Raw(b"...") in place of any value (or of a list, for its count and
elements) is written as those bytes: to make states procd must refuse.
"""
import base64
import json
import struct

MAGIC = b"procd-handoff-2\n"
ID_NONE, ID_NULL, ID_INT, ID_REAL, ID_STRING = range(5)


class Unrepresentable(Exception):
    """The document holds something format 2 cannot say."""


class Raw(bytes):
    """Bytes written as they are, in place of a value."""


# --- writing -------------------------------------------------------------

def enc_int(v):
    """An integer as the format writes it (zigzag, then 7 bits a byte)."""
    u = v << 1 if v >= 0 else ((-v - 1) << 1) | 1
    if u >= 1 << 64:
        raise Unrepresentable("integer %d" % v)
    out = bytearray()
    while u >= 0x80:
        out.append((u & 0x7f) | 0x80)
        u >>= 7
    out.append(u)
    return bytes(out)


class _Writer:
    def __init__(self):
        self.out = bytearray()

    def raw(self, v):
        if isinstance(v, Raw):
            self.out += v
            return True
        return False

    def int(self, v):
        if self.raw(v):
            return
        if not isinstance(v, int) or isinstance(v, bool):
            raise Unrepresentable("not an integer: %r" % (v,))
        self.out += enc_int(v)

    def bool(self, v):
        if self.raw(v):
            return
        if not isinstance(v, bool):
            raise Unrepresentable("not a boolean: %r" % (v,))
        self.out += enc_int(1 if v else 0)

    def double(self, v):
        if self.raw(v):
            return
        if not isinstance(v, (int, float)) or isinstance(v, bool):
            raise Unrepresentable("not a number: %r" % (v,))
        self.out += struct.pack("<d", float(v))

    def left(self, v):
        if self.raw(v):
            return
        if v is None:
            self.int(0)
        else:
            self.int(1)
            self.double(v)

    def string(self, v, nullable=False):
        if self.raw(v):
            return
        if v is None:
            if not nullable:
                raise Unrepresentable("null for a string")
            self.int(0)
            return
        if not isinstance(v, str):
            raise Unrepresentable("not a string: %r" % (v,))
        try:
            b = v.encode("utf-8")
        except UnicodeEncodeError:
            raise Unrepresentable("not UTF-8: %r" % (v,))
        self.int(len(b) + 1 if nullable else len(b))
        self.out += b + b"\0"

    def bytes(self, v):
        if self.raw(v):
            return
        if not isinstance(v, str):
            raise Unrepresentable("not base64 text: %r" % (v,))
        try:
            b = base64.b64decode(v, validate=True)
        except ValueError:
            raise Unrepresentable("not base64: %r" % (v,))
        self.int(len(b))
        self.out += b

    def time(self, v):
        if self.raw(v):
            return
        if not isinstance(v, list) or len(v) != 2:
            raise Unrepresentable("not a time: %r" % (v,))
        self.int(v[0])
        self.int(v[1])

    def list(self, v, each):
        if self.raw(v):
            return
        if not isinstance(v, list):
            raise Unrepresentable("not a list: %r" % (v,))
        self.int(len(v))
        for e in v:
            each(e)

    def maybe_list(self, v, each):
        """m: null, or a count + 1 and the elements."""
        if self.raw(v):
            return
        if v is None:
            self.int(0)
            return
        if not isinstance(v, list):
            raise Unrepresentable("not a list: %r" % (v,))
        self.int(len(v) + 1)
        for e in v:
            each(e)


def _keys(o, keys, what):
    if isinstance(o, Raw):
        return
    if not isinstance(o, dict) or list(sorted(o)) != sorted(keys):
        raise Unrepresentable("%s: keys %r, not %r" % (
            what, sorted(o) if isinstance(o, dict) else o, sorted(keys)))


def _job(w, j):
    _keys(j, ["id", "name", "argv", "cwd", "pid", "uid", "gid", "daemon",
              "stop_timeout", "state", "exitcode", "flags", "started_at",
              "ran", "exited_at", "usage", "kill_left", "error", "env",
              "creds", "restart", "ready", "tree", "parent", "output"], "job")
    w.int(j["id"])
    w.string(j["name"])
    w.list(j["argv"], w.string)
    w.string(j["cwd"])
    for k in ("pid", "uid", "gid"):
        w.int(j[k])
    w.bool(j["daemon"])
    w.double(j["stop_timeout"])
    w.string(j["state"])
    w.int(j["exitcode"])
    w.int(j["flags"])
    w.time(j["started_at"])
    w.double(j["ran"])
    w.time(j["exited_at"])
    if not w.raw(j["usage"]):
        if not isinstance(j["usage"], list) or len(j["usage"]) != 3:
            raise Unrepresentable("usage")
        for v in j["usage"]:
            w.int(v)
    w.left(j["kill_left"])
    w.string(j["error"], nullable=True)
    env = j["env"]
    if not w.raw(env):
        if env is None:
            w.int(0)
        elif isinstance(env, dict):
            w.int(len(env) + 1)
            for k, v in env.items():
                w.string(k)
                w.string(v, nullable=True)
        else:
            raise Unrepresentable("env")
    c = j["creds"]
    _keys(c, ["change", "groups"], "creds")
    w.bool(c["change"])
    w.list(c["groups"], w.int)
    r = j["restart"]
    _keys(r, ["policy", "delay", "max_delay", "last_delay", "limit", "count",
              "at", "left", "due"], "restart")
    w.string(r["policy"])
    for k in ("delay", "max_delay", "last_delay"):
        w.double(r[k])
    w.int(r["limit"])
    w.int(r["count"])
    w.time(r["at"])
    w.left(r["left"])
    w.bool(r["due"])
    r = j["ready"]
    _keys(r, ["notify", "ready", "status", "left"], "ready")
    w.bool(r["notify"])
    w.bool(r["ready"])
    w.string(r["status"], nullable=True)
    w.left(r["left"])
    t = j["tree"]
    if not w.raw(t):
        if t is None:
            w.bool(False)
        else:
            _keys(t, ["fd", "events", "kill", "waiting", "killed", "base"], "tree")
            w.bool(True)
            for k in ("fd", "events", "kill"):
                w.int(t[k])
            w.bool(t["waiting"])
            w.bool(t["killed"])
            if not isinstance(t["base"], list) or len(t["base"]) != 2:
                raise Unrepresentable("tree base")
            w.int(t["base"][0])
            w.int(t["base"][1])
    w.int(j["parent"])
    o = j["output"]
    _keys(o, ["mode", "fds", "grace_left", "limit", "truncated", "records"], "output")
    w.int(o["mode"])
    if not isinstance(o["fds"], list) or len(o["fds"]) != 2:
        raise Unrepresentable("output fds")
    w.int(o["fds"][0])
    w.int(o["fds"][1])
    w.left(o["grace_left"])
    w.int(o["limit"])
    w.bool(o["truncated"])

    def record(rec):
        if w.raw(rec):
            return
        if not isinstance(rec, list) or len(rec) != 2:
            raise Unrepresentable("record")
        w.int(rec[0])
        w.bytes(rec[1])
    w.list(o["records"], record)


def _request(w, r):
    keys = ["kind", "notification", "id", "job", "left", "batch"]
    if isinstance(r, dict) and r.get("kind") == "follow":
        keys.append("follow")
    _keys(r, keys, "request")
    w.string(r["kind"])
    i = r["id"]
    if not w.raw(i):
        if r["notification"] is True:
            if i is not None:
                raise Unrepresentable("a notification with an id")
            w.int(ID_NONE)
        elif r["notification"] is not False:
            raise Unrepresentable("notification")
        elif i is None:
            w.int(ID_NULL)
        elif isinstance(i, bool):
            raise Unrepresentable("id %r" % (i,))
        elif isinstance(i, int):
            w.int(ID_INT)
            w.int(i)
        elif isinstance(i, float):
            w.int(ID_REAL)
            w.double(i)
        elif isinstance(i, str):
            w.int(ID_STRING)
            w.string(i)
        else:
            raise Unrepresentable("id %r" % (i,))
    w.int(r["job"])
    w.left(r["left"])
    w.int(r["batch"])
    if r["kind"] == "follow":
        f = r["follow"]
        _keys(f, ["streams", "base64", "truncated", "utf8"], "follow")
        w.int(f["streams"])
        w.bool(f["base64"])
        w.bool(f["truncated"])
        if not isinstance(f["utf8"], list) or len(f["utf8"]) != 2:
            raise Unrepresentable("utf8")
        w.bytes(f["utf8"][0])
        w.bytes(f["utf8"][1])


def _client(w, c):
    _keys(c, ["fd", "id", "flags", "discarded", "in", "out", "batches",
              "requests", "subscriptions"], "client")
    w.int(c["fd"])
    w.int(c["id"])
    w.int(c["flags"])
    w.int(c["discarded"])
    w.bytes(c["in"])
    w.bytes(c["out"])

    def batch(b):
        if w.raw(b):
            return
        _keys(b, ["out", "rest"], "batch")
        w.bytes(b["out"])
        rest = b["rest"]
        if isinstance(rest, Raw) or rest is None:
            w.string(rest, nullable=True)
        else:
            w.string(json.dumps(rest, separators=(",", ":"), ensure_ascii=False),
                     nullable=True)
    w.list(c["batches"], batch)
    w.list(c["requests"], lambda r: _request(w, r))

    def sub(s):
        if w.raw(s):
            return
        if not isinstance(s, list) or len(s) != 3:
            raise Unrepresentable("subscription")
        w.int(s[0])
        w.maybe_list(s[1], w.int)
        w.int(s[2])
    w.list(c["subscriptions"], sub)


def encode(doc):
    """The bytes of doc (the shape of a procd-handoff-1 document)."""
    _keys(doc, ["format", "version", "pid", "started_at", "image_started_at",
                "reexecs", "program", "nofile", "listen", "notify_fd", "cgroup",
                "next_job", "next_client", "next_subscription", "seq", "events",
                "jobs", "clients", "fds"], "state")
    w = _Writer()
    if not w.raw(doc["format"]):
        w.out += doc["format"].encode() + b"\n"
    w.string(doc["version"])
    w.int(doc["pid"])
    w.time(doc["started_at"])
    w.time(doc["image_started_at"])
    w.int(doc["reexecs"])
    w.string(doc["program"], nullable=True)
    if not isinstance(doc["nofile"], list) or len(doc["nofile"]) != 2:
        raise Unrepresentable("nofile")
    w.int(doc["nofile"][0])
    w.int(doc["nofile"][1])
    lo = doc["listen"]
    _keys(lo, ["path", "owned", "dirfd", "name", "dev", "ino", "sockets"], "listen")
    w.string(lo["path"], nullable=True)
    w.bool(lo["owned"])
    w.int(lo["dirfd"])
    w.string(lo["name"], nullable=True)
    w.int(lo["dev"])
    w.int(lo["ino"])
    w.list(lo["sockets"], w.int)
    w.int(doc["notify_fd"])
    cg = doc["cgroup"]
    _keys(cg, ["ok", "why", "root", "rel", "fd", "kill"], "cgroup")
    w.bool(cg["ok"])
    for k in ("why", "root", "rel"):
        w.string(cg[k], nullable=True)
    w.int(cg["fd"])
    w.bool(cg["kill"])
    for k in ("next_job", "next_client", "next_subscription", "seq"):
        w.int(doc[k])

    def event(e):
        if w.raw(e):
            return
        if not isinstance(e, list) or len(e) != 5:
            raise Unrepresentable("event")
        w.int(e[0])
        w.string(e[1])
        w.int(e[2])
        w.int(e[3])
        w.string(e[4])
    w.list(doc["events"], event)
    w.list(doc["jobs"], lambda j: _job(w, j))
    w.list(doc["clients"], lambda c: _client(w, c))
    w.list(doc["fds"], w.int)
    return bytes(w.out)


# --- reading -------------------------------------------------------------

class _Reader:
    def __init__(self, data):
        self.data = data
        self.p = 0

    def need(self, n):
        if self.p + n > len(self.data):
            raise ValueError("the state ends at byte %d" % self.p)

    def int(self):
        u = shift = 0
        while True:
            self.need(1)
            b = self.data[self.p]
            self.p += 1
            u |= (b & 0x7f) << shift
            shift += 7
            if not b & 0x80:
                break
            if shift > 63:
                raise ValueError("integer too long at byte %d" % self.p)
        return -(u >> 1) - 1 if u & 1 else u >> 1

    def bool(self):
        v = self.int()
        if v not in (0, 1):
            raise ValueError("not a boolean at byte %d" % self.p)
        return v == 1

    def double(self):
        self.need(8)
        v = struct.unpack_from("<d", self.data, self.p)[0]
        self.p += 8
        return v

    def left(self):
        return self.double() if self.bool() else None

    def string(self, nullable=False):
        n = self.int()
        if nullable:
            if n == 0:
                return None
            n -= 1
        self.need(n + 1)
        b = self.data[self.p:self.p + n]
        if self.data[self.p + n] != 0:
            raise ValueError("string without its NUL at byte %d" % self.p)
        self.p += n + 1
        return b.decode("utf-8")

    def bytes(self):
        n = self.int()
        self.need(n)
        b = self.data[self.p:self.p + n]
        self.p += n
        return base64.b64encode(b).decode()

    def time(self):
        return [self.int(), self.int()]

    def list(self, each):
        return [each() for _ in range(self.int())]

    def maybe_list(self, each):
        n = self.int()
        return None if n == 0 else [each() for _ in range(n - 1)]


def _read_job(r):
    j = {"id": r.int(), "name": r.string(), "argv": r.list(r.string), "cwd": r.string(),
         "pid": r.int(), "uid": r.int(), "gid": r.int(), "daemon": r.bool(),
         "stop_timeout": r.double(), "state": r.string(), "exitcode": r.int(),
         "flags": r.int(), "started_at": r.time(), "ran": r.double(),
         "exited_at": r.time(), "usage": [r.int(), r.int(), r.int()],
         "kill_left": r.left(), "error": r.string(True)}
    n = r.int()
    j["env"] = None if n == 0 else dict((r.string(), r.string(True)) for _ in range(n - 1))
    j["creds"] = {"change": r.bool(), "groups": r.list(r.int)}
    j["restart"] = {"policy": r.string(), "delay": r.double(), "max_delay": r.double(),
                    "last_delay": r.double(), "limit": r.int(), "count": r.int(),
                    "at": r.time(), "left": r.left(), "due": r.bool()}
    j["ready"] = {"notify": r.bool(), "ready": r.bool(), "status": r.string(True),
                  "left": r.left()}
    if r.bool():
        j["tree"] = {"fd": r.int(), "events": r.int(), "kill": r.int(),
                     "waiting": r.bool(), "killed": r.bool(), "base": [r.int(), r.int()]}
    else:
        j["tree"] = None
    j["parent"] = r.int()
    j["output"] = {"mode": r.int(), "fds": [r.int(), r.int()], "grace_left": r.left(),
                   "limit": r.int(), "truncated": r.bool(),
                   "records": r.list(lambda: [r.int(), r.bytes()])}
    return j


def _read_request(r):
    q = {"kind": r.string()}
    tag = r.int()
    q["notification"] = tag == ID_NONE
    q["id"] = {ID_NONE: lambda: None, ID_NULL: lambda: None, ID_INT: r.int,
               ID_REAL: r.double, ID_STRING: r.string}[tag]()
    q["job"] = r.int()
    q["left"] = r.left()
    q["batch"] = r.int()
    if q["kind"] == "follow":
        q["follow"] = {"streams": r.int(), "base64": r.bool(), "truncated": r.bool(),
                       "utf8": [r.bytes(), r.bytes()]}
    return q


def _read_client(r):
    c = {"fd": r.int(), "id": r.int(), "flags": r.int(), "discarded": r.int(),
         "in": r.bytes(), "out": r.bytes()}

    def batch():
        b = {"out": r.bytes()}
        rest = r.string(True)
        b["rest"] = None if rest is None else json.loads(rest)
        return b
    c["batches"] = r.list(batch)
    c["requests"] = r.list(lambda: _read_request(r))
    c["subscriptions"] = r.list(lambda: [r.int(), r.maybe_list(r.int), r.int()])
    return c


def decode(data):
    """The state in data, in the shape of a procd-handoff-1 document."""
    if not data.startswith(MAGIC):
        raise ValueError("not a procd-handoff-2 state")
    r = _Reader(data)
    r.p = len(MAGIC)
    d = {"format": MAGIC[:-1].decode(), "version": r.string(), "pid": r.int(),
         "started_at": r.time(), "image_started_at": r.time(), "reexecs": r.int(),
         "program": r.string(True), "nofile": [r.int(), r.int()]}
    d["listen"] = {"path": r.string(True), "owned": r.bool(), "dirfd": r.int(),
                   "name": r.string(True), "dev": r.int(), "ino": r.int(),
                   "sockets": r.list(r.int)}
    d["notify_fd"] = r.int()
    d["cgroup"] = {"ok": r.bool(), "why": r.string(True), "root": r.string(True),
                   "rel": r.string(True), "fd": r.int(), "kill": r.bool()}
    for k in ("next_job", "next_client", "next_subscription", "seq"):
        d[k] = r.int()
    d["events"] = r.list(lambda: [r.int(), r.string(), r.int(), r.int(), r.string()])
    d["jobs"] = r.list(lambda: _read_job(r))
    d["clients"] = r.list(lambda: _read_client(r))
    d["fds"] = r.list(r.int)
    if r.p != len(data):
        raise ValueError("%d bytes after the state" % (len(data) - r.p))
    return d
