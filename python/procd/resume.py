# SPDX-License-Identifier: ISC
"""Following procd's events across dropped connections, as procctl
events does: remember the newest sequence number seen, subscribe again
with since, skip what a replay repeats, and tell a procd that restarted
(its numbers start again from 1) from the same procd. No I/O here: both
clients drive it."""

__all__ = ["EventCursor", "RETRY_MIN", "RETRY_MAX"]

# Delays between reconnection attempts, in seconds (doubling).
RETRY_MIN = 0.1
RETRY_MAX = 5.0


class EventCursor:
    """Where one stream of events stands."""

    def __init__(self, since=None, jobs=None):
        self.seq = since            # newest seq seen, or the caller's since
        self.jobs = list(jobs) if jobs is not None else None
        self.identity = None        # (pid, started_at) of the procd
        self.subscription = None

    def identify(self, info):
        """Note which procd answers (its info result); True when it is
        not the one of the previous connection, whose numbers then mean
        nothing."""
        ident = (info.get("pid"), info.get("started_at"))
        restarted = self.identity is not None and ident != self.identity
        self.identity = ident
        if restarted:
            self.seq = None
        return restarted

    def params(self):
        """The subscribe params for the next connection."""
        p = {}
        if self.jobs is not None:
            p["jobs"] = self.jobs
        if self.seq is not None:
            p["since"] = self.seq
        return p

    def subscribed(self, result):
        """Note the subscribe result; live events start after its seq
        when nothing was seen yet."""
        self.subscription = result.get("subscription")
        if self.seq is None and type(result.get("seq")) is int:
            self.seq = result["seq"]

    def accept(self, params):
        """The event to hand out, or None for one already handed out (a
        replay after a reconnection repeats nothing)."""
        seq = params.get("seq")
        if type(seq) is not int:
            return None
        if self.seq is not None and seq <= self.seq:
            return None
        self.seq = seq
        to = params.get("to")
        if params.get("event") == "gap" and type(to) is int and to > seq:
            self.seq = to
        return params

    def restarted(self):
        """The event handed out when procd turned out to have restarted:
        what came between is unknown, and earlier job ids now name other
        jobs (or none)."""
        self.seq = None
        return {"subscription": self.subscription, "seq": None,
                "event": "restarted", "job": None}
