# SPDX-License-Identifier: ISC
"""JSON-RPC 2.0 over newline-delimited JSON, without any I/O: requests
and their encoding, lines cut from a byte stream under a length limit, and
the routing of what procd sends (responses by id, log and event
notifications by the request or subscription they belong to). The
blocking Client and the asyncio one both use it."""

import json

from .errors import ProcdError, ProtocolError, error_from

__all__ = ["MAX_LINE", "LineReader", "encode", "request",
           "notification", "route", "result_of", "batch_results"]

# The longest line taken from procd. Its answers are bounded by its
# --max-output (16 MiB unless raised), so this leaves room while keeping
# a runaway peer from filling our memory.
MAX_LINE = 64 << 20


def encode(msg):
    """One message as the bytes of its line. NaN and infinities are not
    JSON: ValueError here, rather than a parse error from procd that
    would end the connection."""
    return json.dumps(msg, ensure_ascii=False, allow_nan=False,
                      separators=(",", ":")).encode("utf-8") + b"\n"


def request(method, params=None, rid=None):
    """A request object (a notification when rid is None)."""
    msg = {"jsonrpc": "2.0", "method": method}
    if params is not None:
        msg["params"] = params
    if rid is not None:
        msg["id"] = rid
    return msg


def notification(method, params=None):
    """The line of a notification (a request that gets no answer)."""
    return encode(request(method, params))


class LineReader:
    """Cuts procd's byte stream into decoded messages. A line longer
    than max_line, or one that is not JSON, raises ProtocolError: the
    stream can no longer be trusted."""

    def __init__(self, path, max_line=MAX_LINE):
        self.path = path
        self.max_line = max_line
        self._buf = bytearray()
        self._scanned = 0

    def feed(self, data):
        self._buf += data
        out = []
        start = 0
        while True:
            nl = self._buf.find(b"\n", max(start, self._scanned))
            if nl == -1:
                break
            line = bytes(self._buf[start:nl])
            start = nl + 1
            self._scanned = start
            if line.endswith(b"\r"):
                line = line[:-1]
            self._check(len(line))
            if line:
                out.append(self._decode(line))
        del self._buf[:start]
        self._scanned = len(self._buf)
        self._check(len(self._buf))
        return out

    def _check(self, n):
        if n > self.max_line:
            raise ProtocolError("%s: procd sent a line longer than %d bytes"
                                % (self.path, self.max_line), self.path)

    def _decode(self, line):
        try:
            return json.loads(line)
        except (ValueError, RecursionError) as e:
            raise ProtocolError("%s: procd sent a line that is not JSON: %s"
                                % (self.path, e), self.path) from None


def route(msg):
    """Where a message from procd goes: ("id", ID) for a response (a
    batch's array goes to its smallest id), ("log", ID) for a log record
    of request ID, ("event", S) for an event of subscription S, "fatal"
    for an error answer with a null id (procd refused the connection or
    the stream), None for anything else (dropped)."""
    if isinstance(msg, list):
        ids = [m.get("id") for m in msg if isinstance(m, dict)]
        ids = [i for i in ids if type(i) is int]
        return ("id", min(ids)) if ids else None
    if not isinstance(msg, dict):
        return None
    method = msg.get("method")
    if method is not None:
        params = msg.get("params")
        if not isinstance(params, dict):
            return None
        if method == "log":
            return ("log", params.get("request"))
        if method == "event":
            return ("event", params.get("subscription"))
        return None
    rid = msg.get("id")
    if rid is None and "error" in msg:
        return "fatal"
    return ("id", rid)


def result_of(msg):
    """The result of a response; raises its error as a ProcdError."""
    if not isinstance(msg, dict):
        raise ProtocolError("procd sent a response that is not an object")
    if "error" in msg:
        raise error_from(msg["error"])
    if "result" not in msg:
        raise ProtocolError("procd sent a response with neither result "
                            "nor error")
    return msg["result"]


def batch_results(msgs, ids):
    """The results of a batch answer, in request order; each is the
    result or the ProcdError of its request."""
    by_id = {m.get("id"): m for m in msgs if isinstance(m, dict)}
    out = []
    for rid in ids:
        m = by_id.get(rid)
        if m is None:
            out.append(ProtocolError("procd's batch answer lacks id %d" % rid))
            continue
        try:
            out.append(result_of(m))
        except (ProcdError, ProtocolError) as e:
            out.append(e)
    return out
