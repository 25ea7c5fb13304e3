# SPDX-License-Identifier: ISC
"""The Python client of procd, a process supervisor that offers
multiprocessing.Process as a service over a Unix socket.

    import procd

    def greet(who):
        print("hello", who)

    if __name__ == "__main__":
        job = procd.Job(target=greet, args=("world",))
        job.start()
        job.join()
        print(job.exitcode)                     # 0
        print(b"".join(r.data for r in job.logs()))   # b'hello world\\n'
        job.close()

Job mirrors multiprocessing.Process; Client is the connection (one per
process is made for you, see default_client); procd.aio is the asyncio
flavour. Errors procd answers are ProcdError subclasses, one per code.
Standard library only.
"""

from .address import socket_path
from .client import Client, default_client
from .errors import (ConnectFailed, ConnectionLost, InternalError,
                     InvalidParams, InvalidParent, InvalidRequest, JobRunning,
                     LimitReached, MethodNotFound, NameInUse, NoSuchJob,
                     ParseError, PermissionDenied, ProcdConnectionError,
                     ProcdError, ProtocolError, SpawnFailed, Stopping,
                     UntrustedServer)
from .job import CURRENT, Job, LogRecord

__version__ = "0.1.0"

__all__ = [
    "Client", "Job", "LogRecord", "CURRENT", "current_job", "default_client",
    "socket_path",
    "ProcdError", "ParseError", "InvalidRequest", "MethodNotFound",
    "InvalidParams", "InternalError", "NoSuchJob", "JobRunning", "NameInUse",
    "PermissionDenied", "SpawnFailed", "InvalidParent", "LimitReached",
    "Stopping",
    "ProcdConnectionError", "ConnectFailed", "ConnectionLost",
    "ProtocolError", "UntrustedServer",
]


def current_job(client=None):
    """The Job this process runs as (a running job whose pid is ours) on
    client's procd (default: default_client()), or None."""
    if client is None:
        client = default_client()
    return client.current_job()
