# SPDX-License-Identifier: ISC
"""Where procd listens and whether the process there may be trusted:
the socket path as procd and procctl resolve it (procd-protocol(7),
section 1), and the SO_PEERCRED check of section 13, made before anything
is sent."""

import os
import socket as _socket
import struct

from .errors import ConnectFailed, UntrustedServer

__all__ = ["socket_path", "connect_unix", "connect_failed", "check_peer",
           "peer_uid"]

# struct ucred of SO_PEERCRED: pid, uid, gid.
_UCRED = struct.Struct("iII")


def socket_path(path=None):
    """The socket path: path if given, else $PROCD_SOCKET, else
    /run/procd/procd.sock for root, else
    $XDG_RUNTIME_DIR/procd/procd.sock, or /tmp/procd-UID/procd.sock when
    XDG_RUNTIME_DIR is unset."""
    if path:
        return os.fspath(path)
    env = os.environ.get("PROCD_SOCKET")
    if env:
        return env
    uid = os.getuid()
    if uid == 0:
        return "/run/procd/procd.sock"
    xdg = os.environ.get("XDG_RUNTIME_DIR")
    if xdg:
        return os.path.join(xdg, "procd", "procd.sock")
    return "/tmp/procd-%d/procd.sock" % uid


def peer_uid(sock):
    """The uid of the process at the other end of a Unix socket."""
    raw = sock.getsockopt(_socket.SOL_SOCKET, _socket.SO_PEERCRED,
                          _UCRED.size)
    return _UCRED.unpack(raw)[1]


def check_peer(sock, path):
    """Raise UntrustedServer unless the peer runs as root or as us."""
    uid = peer_uid(sock)
    if uid != 0 and uid != os.geteuid():
        raise UntrustedServer(
            "%s is served by uid %d, neither root nor this user (uid %d): "
            "refusing to talk to it" % (path, uid, os.geteuid()), path, uid)


def connect_failed(path, err):
    """The ConnectFailed for an OSError of connect."""
    if isinstance(err, TimeoutError) and err.errno is None:
        why = "timed out"
    else:
        why = err.strerror or str(err)
    return ConnectFailed("cannot connect to procd at %s: %s" % (path, why),
                         path, err.errno)


def connect_unix(path, timeout=None, blocking=True):
    """A connected socket to path whose peer is trusted; raises
    ConnectFailed or UntrustedServer. Nothing has been sent on it."""
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        try:
            sock.connect(path)
        except OSError as e:
            raise connect_failed(path, e) from e
        check_peer(sock, path)
        sock.setblocking(blocking)
        return sock
    except BaseException:
        sock.close()
        raise
