# SPDX-License-Identifier: ISC
"""The exceptions of the procd client: one class per error code of the
protocol (procd-protocol(7), section 6), and the ways a connection fails."""

__all__ = [
    "ProcdError", "ParseError", "InvalidRequest", "MethodNotFound",
    "InvalidParams", "InternalError", "NoSuchJob", "JobRunning", "NameInUse",
    "PermissionDenied", "SpawnFailed", "InvalidParent", "LimitReached",
    "Stopping", "ProcdConnectionError", "ConnectFailed", "ConnectionLost",
    "ProtocolError", "UntrustedServer", "error_from",
]


class ProcdError(Exception):
    """An error answer from procd: code, message and data as procd sent
    them. Each known code has its own subclass; an unknown code gives a
    plain ProcdError."""

    code = None

    def __init__(self, code, message, data=None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data

    def __str__(self):
        return "%s (%s)" % (self.message, self.code)

    def __reduce__(self):
        return (type(self), (self.code, self.message, self.data))


class ParseError(ProcdError):
    """-32700: procd could not parse what it was sent."""
    code = -32700


class InvalidRequest(ProcdError):
    """-32600: not a JSON-RPC 2.0 request, or too large."""
    code = -32600


class MethodNotFound(ProcdError):
    """-32601: no such method."""
    code = -32601


class InvalidParams(ProcdError, ValueError):
    """-32602: a param is missing, of the wrong type or out of range."""
    code = -32602


class InternalError(ProcdError):
    """-32603: procd failed inside."""
    code = -32603


class NoSuchJob(ProcdError, LookupError):
    """-32001: no job has that id or name (or it was closed)."""
    code = -32001


class JobRunning(ProcdError, ValueError):
    """-32002: the job is not finished, so it cannot be closed. Also a
    ValueError, as multiprocessing's Process.close raises one."""
    code = -32002


class NameInUse(ProcdError):
    """-32003: another job not closed has that name."""
    code = -32003


class PermissionDenied(ProcdError, PermissionError):
    """-32004: the job belongs to another user, or the call is reserved."""
    code = -32004


class SpawnFailed(ProcdError):
    """-32005: the program could not be executed, or did not become
    ready; message says why. With wait_ready, data is the job object."""
    code = -32005


class InvalidParent(ProcdError):
    """-32006: the parent is not running, is daemonic or has another
    owner."""
    code = -32006


class LimitReached(ProcdError):
    """-32007: too many jobs or connections."""
    code = -32007


class Stopping(ProcdError):
    """-32008: procd is stopping and starts nothing more."""
    code = -32008


_BY_CODE = {c.code: c for c in (
    ParseError, InvalidRequest, MethodNotFound, InvalidParams,
    InternalError, NoSuchJob, JobRunning, NameInUse, PermissionDenied,
    SpawnFailed, InvalidParent, LimitReached, Stopping)}


def error_from(err):
    """The exception for an error object of a response."""
    if not isinstance(err, dict):
        return ProcdError(None, "malformed error %r" % (err,))
    code = err.get("code")
    message = err.get("message")
    if not isinstance(message, str):
        message = "error %s" % (code,)
    cls = _BY_CODE.get(code, ProcdError) if type(code) is int else ProcdError
    return cls(code, message, err.get("data"))


class ProcdConnectionError(ConnectionError):
    """The connection to procd could not be made or was lost; socket is
    its path, and the message names it."""

    def __init__(self, message, socket=None):
        super().__init__(message)
        self.socket = socket

    def __str__(self):
        return self.args[0] if self.args else ""

    def __reduce__(self):
        return (type(self), (str(self), self.socket))


class ConnectFailed(ProcdConnectionError):
    """procd could not be reached (no socket, nobody listening, no
    permission); errno is that of the failed connect."""

    def __init__(self, message, socket=None, errno=None):
        super().__init__(message, socket)
        self.errno = errno

    def __reduce__(self):
        return (type(self), (str(self), self.socket, self.errno))


class ConnectionLost(ProcdConnectionError):
    """procd closed the connection (it stopped, or cut off a client that
    did not read its answers); requests then pending have no answer."""


class ProtocolError(ProcdConnectionError):
    """procd sent something that is not a JSON-RPC message, or a line
    longer than the client's limit; the connection is closed."""


class UntrustedServer(ProcdConnectionError, PermissionError):
    """The process serving the socket runs neither as root nor as this
    user, so nothing was sent to it (procd-protocol(7), section 13); uid
    is the uid found."""

    def __init__(self, message, socket=None, uid=None):
        super().__init__(message, socket)
        self.uid = uid

    def __reduce__(self):
        return (type(self), (str(self), self.socket, self.uid))
