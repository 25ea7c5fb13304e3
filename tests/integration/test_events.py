# SPDX-License-Identifier: ISC
# Job events: subscribe, event notifications, sequence numbers, the
# daemon-child rule as events, jobs filters, since and gap, unsubscribe,
# a stalled subscriber, usage, and procctl events (procd-protocol(7):
# the job object's usage, subscribe/unsubscribe, slow clients; procctl(1)).
import json
import os
import signal
import subprocess
import threading
import time

import pytest

from conftest import (LC_PY, PROCCTL, lc_check_job, lc_err, lc_join, lc_start,
                      lc_status, lg_check_event, lg_events_until, lg_next_event,
                      wait_until,
                      lg_subscribe, Lines, lines_wait_events_shown)


# The subscribe response must come first; see conftest.
subscribe = lg_subscribe


def brief(events):
    return [(e["event"], e["job"]["id"] if e["job"] else None) for e in events]


def until_job_event(conn, job_id, event, sub=None, timeout=15):
    return lg_events_until(conn, lambda e: e["job"] is not None and
                           e["job"]["id"] == job_id and e["event"] == event, sub, timeout)


def touch(path):
    with open(str(path), "w"):
        pass


def wait_file_argv(path, code=0):
    return ["sh", "-c", 'while [ ! -e "$1" ]; do sleep 0.01; done; exit %d' % code, "sh", str(path)]


def ctl_popen(procd, *args):
    return subprocess.Popen([PROCCTL, "--socket", procd.sock] + [str(a) for a in args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=procd.env, cwd=procd.dir)


def finish(p, timeout=10):
    """Wait for p; returns its stderr (stdout may be read by a Lines)."""
    try:
        p.wait(timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
        raise
    return p.stderr.read()


# --- subscribe and the event notification ---

def test_subscribe_result_fresh(procd):
    c = procd.connect()
    r = subscribe(c)
    assert r["seq"] == 0
    c.expect_nothing(0.3)


def test_subscription_numbers_distinct(procd):
    c1, c2 = procd.connect(), procd.connect()
    s = [subscribe(c1)["subscription"], subscribe(c1)["subscription"],
         subscribe(c2)["subscription"]]
    assert len(set(s)) == 3, s


def test_lifecycle_events(procd, conn):
    sc = procd.connect()
    sub = subscribe(sc)["subscription"]
    j = lc_start(conn, ["sleep", "30"], name="life")
    e = lg_next_event(sc, sub)
    assert (e["seq"], e["event"]) == (1, "started"), e
    lc_check_job(e["job"], procd.pid)
    assert e["job"] == j, "started event carries the job as start returned it"
    conn.call("terminate", {"job": "life"})
    e = lg_next_event(sc, sub)
    assert (e["seq"], e["event"], e["job"]["state"]) == (2, "stopping", "stopping"), e
    lc_check_job(e["job"])
    e = lg_next_event(sc, sub)
    assert (e["seq"], e["event"], e["job"]["state"]) == (3, "exited", "exited"), e
    assert e["job"]["exitcode"] == -15, e
    lc_check_job(e["job"])
    assert e["job"] == lc_join(conn, j["id"])
    closed = conn.call("close", {"job": j["id"]})
    e = lg_next_event(sc, sub)
    assert (e["seq"], e["event"]) == (4, "closed"), e
    assert e["job"] == closed
    sc.expect_nothing(0.3)
    # the seq of the newest event is what a new subscription reports
    assert subscribe(procd.connect())["seq"] == 4


def test_kill_and_signal_events(procd, conn, tmp_path):
    sc = procd.connect()
    sub = subscribe(sc)["subscription"]
    ready = tmp_path / "ready"
    j = lc_start(conn, ["sh", "-c", 'trap "" USR1; : > "$1"; exec sleep 30', "sh", str(ready)])
    assert lg_next_event(sc, sub)["event"] == "started"
    wait_until(ready.exists, 10)
    conn.call("signal", {"job": j["id"], "signal": "USR1"})
    sc.expect_nothing(0.4)   # a signal changes no state
    conn.call("kill", {"job": j["id"]})
    evs = [lg_next_event(sc, sub) for _ in range(2)]
    assert [(e["event"], e["job"]["state"]) for e in evs] == \
        [("stopping", "stopping"), ("exited", "exited")]
    assert evs[1]["job"]["exitcode"] == -9
    sc.expect_nothing(0.2)


def test_events_on_procd_stop(procd_factory):
    d = procd_factory()
    c = d.connect()
    sc = d.connect()
    sub = subscribe(sc)["subscription"]
    j = lc_start(c, ["sleep", "30"])
    assert lg_next_event(sc, sub)["event"] == "started"
    d.proc.send_signal(signal.SIGTERM)
    evs = [lg_next_event(sc, sub) for _ in range(2)]
    assert brief(evs) == [("stopping", j["id"]), ("exited", j["id"])]
    assert evs[1]["job"]["exitcode"] == -15
    d.proc.wait(20)
    assert d.proc.returncode == 0


def test_seq_gap_free_across_jobs(procd, conn):
    sc = procd.connect()
    base = subscribe(sc)["seq"]
    ids = [lc_start(conn, ["true"])["id"] for _ in range(5)]
    for i in ids:
        lc_join(conn, i)
        conn.call("close", {"job": i})
    evs = [lg_next_event(sc) for _ in range(15)]
    sc.expect_nothing(0.3)
    assert [e["seq"] for e in evs] == list(range(base + 1, base + 16))
    for i in ids:
        assert [e["event"] for e in evs if e["job"]["id"] == i] == ["started", "exited", "closed"]


def test_two_subscriptions_one_connection(procd, conn):
    sc = procd.connect()
    s1 = subscribe(sc)["subscription"]
    s2 = subscribe(sc)["subscription"]
    lc_start(conn, ["true"])
    got = {}
    for _ in range(4):
        e = lg_next_event(sc)
        got.setdefault(e["subscription"], []).append((e["seq"], e["event"]))
    assert got == {s1: [(1, "started"), (2, "exited")], s2: [(1, "started"), (2, "exited")]}


def test_subscribe_to_no_jobs(procd, conn):
    """An empty jobs array names no job: nothing arrives, not everything."""
    sc = procd.connect()
    sc.call("subscribe", {"jobs": []})
    j = lc_start(conn, ["true"])
    lc_join(conn, j["id"])
    sc.expect_nothing(0.5)


def test_subscribe_as_notification_is_executed(procd, conn):
    sc = procd.connect()
    sc.send({"jsonrpc": "2.0", "method": "subscribe"})
    time.sleep(0.2)
    lc_start(conn, ["true"])
    e = lg_next_event(sc)
    assert e["event"] == "started"


# --- the daemon-child rule as events ---

def test_parent_daemon_and_nondaemon_children(procd, conn, tmp_path):
    sc = procd.connect()
    sub = subscribe(sc)["subscription"]
    tp, tn = tmp_path / "p", tmp_path / "n"
    p = lc_start(conn, wait_file_argv(tp))
    d = lc_start(conn, ["sleep", "30"], parent=p["id"], daemon=True)
    n = lc_start(conn, wait_file_argv(tn, 4), parent=p["id"])
    evs = until_job_event(sc, n["id"], "started", sub)
    assert brief(evs) == [("started", p["id"]), ("started", d["id"]), ("started", n["id"])]
    touch(tp)
    evs += until_job_event(sc, d["id"], "exited", sub)
    evs += lg_events_until(sc, lambda e: ("waiting", p["id"]) in brief(evs + [e]), sub) \
        if ("waiting", p["id"]) not in brief(evs) else []
    touch(tn)
    evs += until_job_event(sc, p["id"], "exited", sub)
    sc.expect_nothing(0.3)
    assert [e["seq"] for e in evs] == list(range(1, len(evs) + 1)), brief(evs)
    per = {}
    for e in evs:
        per.setdefault(e["job"]["id"], []).append(e)
    assert [e["event"] for e in per[p["id"]]] == ["started", "waiting", "exited"]
    assert [e["event"] for e in per[d["id"]]] == ["started", "stopping", "exited"]
    assert [e["event"] for e in per[n["id"]]] == ["started", "exited"]
    pw, pe = per[p["id"]][1], per[p["id"]][2]
    ds, de = per[d["id"]][1], per[d["id"]][2]
    ne = per[n["id"]][1]
    assert pw["job"]["state"] == "waiting" and pw["job"]["exitcode"] == 0, pw
    assert ds["job"]["state"] == "stopping" and ds["job"]["exitcode"] is None, ds
    assert de["job"]["exitcode"] == -15, de
    assert ne["job"]["exitcode"] == 4, ne
    assert pe["job"]["state"] == "exited" and pe["job"]["exitcode"] == 0, pe
    # causality: the parent waits while the daemon child is being stopped,
    # and finishes only after both children
    assert pw["seq"] < de["seq"] and ds["seq"] < de["seq"]
    assert pe["seq"] > de["seq"] and pe["seq"] > ne["seq"]
    for e in evs:
        lc_check_job(e["job"], procd.pid)


# --- jobs filter ---

def test_jobs_filter_by_name_and_id(procd, conn):
    a = lc_start(conn, ["sleep", "30"], name="alpha")
    b = lc_start(conn, ["sleep", "30"])
    s1c, s2c, s3c = procd.connect(), procd.connect(), procd.connect()
    s1 = subscribe(s1c, jobs=["alpha"])["subscription"]
    s2 = subscribe(s2c, jobs=[b["id"]])["subscription"]
    s3 = subscribe(s3c, jobs=["alpha", b["id"]])["subscription"]
    conn.call("terminate", {"job": b["id"]})
    lc_join(conn, b["id"])
    conn.call("close", {"job": b["id"]})
    e2 = until_job_event(s2c, b["id"], "closed", s2)
    assert brief(e2) == [("stopping", b["id"]), ("exited", b["id"]), ("closed", b["id"])]
    conn.call("terminate", {"job": "alpha"})
    lc_join(conn, a["id"])
    conn.call("close", {"job": a["id"]})
    e1 = until_job_event(s1c, a["id"], "closed", s1)
    assert brief(e1) == [("stopping", a["id"]), ("exited", a["id"]), ("closed", a["id"])]
    assert [e["seq"] for e in e1] == sorted(e["seq"] for e in e1)
    e3 = until_job_event(s3c, a["id"], "closed", s3)
    assert brief(e3) == brief(e2) + brief(e1)
    assert [e["seq"] for e in e3] == list(range(e3[0]["seq"], e3[0]["seq"] + 6))
    for c in (s1c, s2c, s3c):
        c.expect_nothing(0.2)
    lc_start(conn, ["true"])
    for c in (s1c, s2c, s3c):
        c.expect_nothing(0.4)


def test_jobs_filter_closed_id_accepted(procd, conn):
    j = lc_start(conn, ["true"], name="gone")
    lc_join(conn, j["id"])
    conn.call("close", {"job": j["id"]})
    sc = procd.connect()
    r = subscribe(sc, jobs=[j["id"]])
    assert r["seq"] == 3
    e = lc_err(sc, "subscribe", {"jobs": ["gone"]})
    assert e["code"] == -32001, e
    lc_start(conn, ["true"])
    sc.expect_nothing(0.4)


@pytest.mark.parametrize("jobs", [[999], ["nosuch"], [0], ["alpha", 999]])
def test_jobs_filter_unknown(procd, conn, jobs):
    lc_start(conn, ["sleep", "30"], name="alpha")
    e = lc_err(conn, "subscribe", {"jobs": jobs})
    assert e["code"] == -32001, e
    # no subscription was made: no events come
    conn.call("terminate", {"job": "alpha"})
    lc_join(conn, "alpha")
    conn.expect_nothing(0.3)


@pytest.mark.parametrize("params", [
    {"jobs": "alpha"}, {"jobs": 1}, {"jobs": {"a": 1}}, {"jobs": [1.5]}, {"jobs": [True]},
    {"jobs": [None]}, {"since": -1}, {"since": "0"}, {"since": 0.5}, {"since": True},
    {"bogus": 1},
])
def test_subscribe_invalid_params(procd, conn, params):
    lc_start(conn, ["true"], name="alpha")
    e = lc_err(conn, "subscribe", params)
    assert e["code"] == -32602, e


def test_subscribe_params_null(procd, conn):
    lc_start(conn, ["true"])
    sc = procd.connect()
    r = subscribe(sc, jobs=None, since=None)
    lc_start(conn, ["true"])
    e = lg_next_event(sc, r["subscription"])
    assert e["seq"] > r["seq"], "since null is no replay"


# --- since ---

def test_since_reconnect_loses_nothing(procd, conn):
    ctrl = procd.connect()
    csub = subscribe(ctrl)["subscription"]
    a = procd.connect()
    subscribe(a)
    j1 = lc_start(conn, ["sleep", "30"])
    e = lg_next_event(a)
    last = e["seq"]
    a.close()
    # while disconnected
    j2 = lc_start(conn, ["true"])
    conn.call("terminate", {"job": j1["id"]})
    lc_join(conn, j1["id"])
    lc_join(conn, j2["id"])
    conn.call("close", {"job": j2["id"]})
    ref = until_job_event(ctrl, j2["id"], "closed", csub)
    ref = [x for x in ref if x["seq"] > last]
    a = procd.connect()
    r = subscribe(a, since=last)
    assert r["seq"] == ref[-1]["seq"]
    replay = [lg_next_event(a, r["subscription"]) for _ in ref]
    strip = [(x["seq"], x["event"], x["job"]) for x in ref]
    assert [(x["seq"], x["event"], x["job"]) for x in replay] == strip
    assert [x["seq"] for x in replay] == list(range(last + 1, last + 1 + len(replay)))
    # then live
    j3 = lc_start(conn, ["true"])
    e = lg_next_event(a, r["subscription"])
    assert (e["seq"], e["event"], e["job"]["id"]) == (r["seq"] + 1, "started", j3["id"])


def test_since_newest_is_live_only(procd, conn):
    lc_join(conn, lc_start(conn, ["true"])["id"])
    sc2 = procd.connect()
    r = subscribe(sc2, since=2)
    assert r["seq"] == 2
    sc2.expect_nothing(0.3)
    lc_start(conn, ["true"])
    assert lg_next_event(sc2)["seq"] == 3


def test_since_zero_replays_everything(procd, conn):
    j = lc_start(conn, ["true"])
    lc_join(conn, j["id"])
    conn.call("close", {"job": j["id"]})
    sc = procd.connect()
    r = subscribe(sc, since=0)
    assert r["seq"] == 3
    evs = [lg_next_event(sc, r["subscription"]) for _ in range(3)]
    assert [(e["seq"], e["event"]) for e in evs] == [(1, "started"), (2, "exited"), (3, "closed")]
    sc.expect_nothing(0.3)


def test_since_past_newest(procd, conn):
    assert lc_err(conn, "subscribe", {"since": 1})["code"] == -32602
    lc_join(conn, lc_start(conn, ["true"])["id"])
    assert lc_err(conn, "subscribe", {"since": 3})["code"] == -32602
    assert lc_err(conn, "subscribe", {"since": 10 ** 12})["code"] == -32602
    conn.expect_nothing(0.2)


def test_since_with_jobs_filter(procd, conn):
    a = lc_start(conn, ["true"], name="a1")
    b = lc_start(conn, ["true"])
    lc_join(conn, a["id"])
    lc_join(conn, b["id"])
    sc = procd.connect()
    r = subscribe(sc, jobs=["a1"], since=0)
    evs = [lg_next_event(sc, r["subscription"]) for _ in range(2)]
    assert brief(evs) == [("started", a["id"]), ("exited", a["id"])]
    sc.expect_nothing(0.3)


def make_events(conn, n):
    """About n events (started, exited, closed per job); returns the count."""
    made = 0
    while made < n:
        j = lc_start(conn, ["true"])
        lc_join(conn, j["id"])
        conn.call("close", {"job": j["id"]})
        made += 3
    return made


def test_gap_past_retention(procd_factory):
    d = procd_factory(args=["--event-history", "5"])
    c = d.connect()
    total = make_events(c, 20)
    sc = d.connect()
    r = subscribe(sc, since=0)
    assert r["seq"] == total
    t = total - 5
    g = lg_next_event(sc, r["subscription"])
    assert g["event"] == "gap" and g["job"] is None, g
    assert (g["from"], g["to"], g["seq"]) == (1, t, t), g
    assert all(type(g[k]) is int for k in ("from", "to", "seq")), g
    evs = [lg_next_event(sc, r["subscription"]) for _ in range(5)]
    assert [e["seq"] for e in evs] == list(range(t + 1, total + 1))
    assert [e["event"] for e in evs] != ["gap"] * 5
    sc.expect_nothing(0.3)
    # then live
    lc_start(c, ["true"])
    assert lg_next_event(sc, r["subscription"])["seq"] == total + 1


def test_gap_partial(procd_factory):
    d = procd_factory(args=["--event-history", "5"])
    c = d.connect()
    total = make_events(c, 20)
    t = total - 5
    # since inside the lost range: the gap starts after since
    sc = d.connect()
    r = subscribe(sc, since=3)
    g = lg_next_event(sc, r["subscription"])
    assert (g["event"], g["from"], g["to"], g["seq"]) == ("gap", 4, t, t), g
    assert [lg_next_event(sc)["seq"] for _ in range(5)] == list(range(t + 1, total + 1))
    # exactly one event lost
    sc = d.connect()
    r = subscribe(sc, since=t - 1)
    g = lg_next_event(sc, r["subscription"])
    assert (g["event"], g["from"], g["to"], g["seq"]) == ("gap", t, t, t), g
    assert lg_next_event(sc)["seq"] == t + 1
    # nothing lost: no gap
    sc = d.connect()
    r = subscribe(sc, since=t)
    evs = [lg_next_event(sc, r["subscription"]) for _ in range(5)]
    assert [e["event"] != "gap" for e in evs] == [True] * 5
    assert [e["seq"] for e in evs] == list(range(t + 1, total + 1))


# --- unsubscribe ---

def test_unsubscribe(procd, conn):
    sc = procd.connect()
    s1 = subscribe(sc)["subscription"]
    s2 = subscribe(sc)["subscription"]
    r = sc.call_raw("unsubscribe", {"subscription": s1})
    assert r.get("result") is True, r
    lc_start(conn, ["true"])
    evs = [lg_next_event(sc) for _ in range(2)]
    assert {e["subscription"] for e in evs} == {s2}
    assert sc.call("unsubscribe", {"subscription": s2}) is True
    lc_start(conn, ["true"])
    sc.expect_nothing(0.5)
    assert lc_err(sc, "unsubscribe", {"subscription": s1})["code"] == -32602


def test_unsubscribe_unknown_or_foreign(procd, conn):
    other = procd.connect()
    s = subscribe(other)["subscription"]
    assert lc_err(conn, "unsubscribe", {"subscription": s})["code"] == -32602
    assert lc_err(conn, "unsubscribe", {"subscription": 9999})["code"] == -32602
    # the other connection's subscription still works
    lc_start(conn, ["true"])
    assert lg_next_event(other, s)["event"] == "started"


@pytest.mark.parametrize("params", [None, {}, {"subscription": "1"}, {"subscription": 1.5},
                                    {"subscription": None}, {"subscription": 1, "x": 1}])
def test_unsubscribe_invalid_params(procd, conn, params):
    subscribe(conn)
    assert lc_err(conn, "unsubscribe", params)["code"] == -32602


# --- slow subscribers ---

BIG = "x" * 60000


def test_stalled_subscriber_cut_off_others_unaffected(procd_factory):
    d = procd_factory(args=["--max-output", "262144"])
    c = d.connect()
    stalled = d.connect()
    s_stalled = subscribe(stalled)["subscription"]
    good = d.connect()
    s_good = subscribe(good)["subscription"]
    njobs = 15
    got = []

    def reader():
        while len(got) < njobs * 3:
            got.append(lg_next_event(good, s_good, timeout=30))
    th = threading.Thread(target=reader)
    th.start()
    for _ in range(njobs):
        j = lc_start(c, ["true", BIG])
        lc_join(c, j["id"])
        c.call("close", {"job": j["id"]})
    th.join(60)
    assert len(got) == njobs * 3
    assert [e["seq"] for e in got] == list(range(1, njobs * 3 + 1))
    assert all(e["job"]["argv"] == ["true", BIG] for e in got)
    # the stalled one: a prefix of the events, then the end
    stalled_seen = []
    deadline = time.monotonic() + 20
    while True:
        assert time.monotonic() < deadline, "stalled subscriber never cut off"
        try:
            line = stalled.read_line(10)
        except (ConnectionResetError, TimeoutError) as e:
            assert not isinstance(e, TimeoutError), "stalled subscriber still connected"
            break
        if line is None:
            break
        try:
            m = json.loads(line)
        except ValueError:
            break   # a line cut at the close
        stalled_seen.append(lg_check_event(m, s_stalled)["seq"])
    assert stalled_seen == list(range(1, len(stalled_seen) + 1))
    assert len(stalled_seen) < njobs * 3
    assert d.alive()
    # it reconnects and asks again: nothing lost, and the replay (more
    # than the output limit) is not cut off
    last = stalled_seen[-1] if stalled_seen else 0
    again = d.connect()
    r = subscribe(again, since=last)
    rest = [lg_next_event(again, r["subscription"], timeout=20) for _ in range(njobs * 3 - last)]
    assert [e["seq"] for e in rest] == list(range(last + 1, njobs * 3 + 1))
    again.expect_nothing(0.3)


# --- usage ---

BURN = "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.5: pass\n"


def test_usage_of_cpu_burning_job(procd, conn):
    sc = procd.connect()
    sub = subscribe(sc)["subscription"]
    j = lc_start(conn, [LC_PY, "-c", BURN])
    assert j["usage"] is None
    evs = until_job_event(sc, j["id"], "exited", sub, timeout=30)
    assert evs[0]["job"]["usage"] is None, "a running job has no usage yet"
    u = evs[-1]["job"]["usage"]
    assert set(u) == {"user", "system", "maxrss"}, u
    assert u["user"] + u["system"] > 0.2, u
    assert u["user"] + u["system"] < 30, u
    assert type(u["maxrss"]) is int and u["maxrss"] > 1000, u
    st = lc_status(conn, j["id"])
    assert st["usage"] == u
    # a job that sleeps used little: usage is the job's own
    j = lc_start(conn, ["sleep", "0.3"])
    u = lc_join(conn, j["id"])["usage"]
    assert u["user"] + u["system"] < 0.2, u


def test_usage_maxrss_in_kib(procd, conn):
    code = "b = bytearray(60 * 1024 * 1024)\nfor i in range(0, len(b), 4096): b[i] = 1\n"
    j = lc_start(conn, [LC_PY, "-c", code])
    u = lc_join(conn, j["id"])["usage"]
    assert 60 * 1024 <= u["maxrss"] < 400 * 1024, u


# --- procctl events ---

def wait_subscribed(conn, lines, name="probe"):
    """Start probe jobs until procctl events shows one: it is subscribed."""
    return lines_wait_events_shown(conn, lines, name)


def read_lines_until(lines, pred, timeout=15):
    return lines.upto(pred, timeout)


@pytest.mark.parametrize("command", ["events", "subscribe"])
def test_procctl_events_lines_and_sigint(procd, conn, command):
    p = ctl_popen(procd, command)
    try:
        L = Lines(p)
        wait_subscribed(conn, L)
        j = lc_start(conn, ["sleep", "30"], name="evjob")
        lines = read_lines_until(L, lambda l: b"evjob" in l and b"started" in l)
        conn.call("terminate", {"job": "evjob"})
        lc_join(conn, "evjob")
        conn.call("close", {"job": "evjob"})
        lines += read_lines_until(L, lambda l: b"evjob" in l and b"closed" in l)
        mine = [l.decode() for l in lines if b"evjob" in l]
        ev = ("started", "stopping", "exited", "closed")
        kinds = [[w for w in l.split() if w in ev][0] for l in mine]
        assert kinds == ["started", "stopping", "exited", "closed"], mine
        for l in mine:
            assert l.endswith("\n") and "\n" not in l[:-1]
            assert str(j["id"]) in l.split(), l
        p.send_signal(signal.SIGINT)
        err = finish(p)
        assert p.returncode == 0, (p.returncode, err)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def test_procctl_events_sigterm_exits_0(procd, conn):
    p = ctl_popen(procd, "events")
    try:
        L = Lines(p)
        wait_subscribed(conn, L)
        p.send_signal(signal.SIGTERM)
        finish(p)
        assert p.returncode == 0
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


@pytest.mark.parametrize("form", [("events", "--json"), ("--json", "events")])
def test_procctl_events_json(procd, conn, form):
    p = ctl_popen(procd, *form)
    try:
        L = Lines(p)
        wait_subscribed(conn, L)
        j = lc_start(conn, ["true"], name="jj")
        lines = read_lines_until(L, lambda l: json.loads(l).get("params", json.loads(l))
                                 .get("event") == "exited" and b'"jj"' in l)
        objs = []
        for l in lines:
            o = json.loads(l)
            assert isinstance(o, dict), l
            objs.append(o.get("params", o))
        mine = [o for o in objs if isinstance(o.get("job"), dict) and o["job"].get("id") == j["id"]]
        assert [o["event"] for o in mine] == ["started", "exited"], objs
        assert all(type(o["seq"]) is int for o in objs)
        seqs = [o["seq"] for o in objs]
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
        assert mine[-1]["job"]["exitcode"] == 0
        p.send_signal(signal.SIGINT)
        finish(p)
        assert p.returncode == 0
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def test_procctl_events_job_filter(procd, conn):
    probes = ["w%d" % i for i in range(10)]
    for w in probes:
        lc_start(conn, ["sleep", "30"], name=w)
    lc_start(conn, ["sleep", "30"], name="watched")
    lc_start(conn, ["sleep", "30"], name="other")
    p = ctl_popen(procd, "events", "watched", *probes)
    try:
        L = Lines(p)
        # subscribed once a probe's events show
        for w in probes:
            conn.call("terminate", {"job": w})
            if L.wait(lambda l: w.encode() in l and b"exited" in l.split(),
                      timeout=1) is not None:
                break
        else:
            raise AssertionError("procctl events showed nothing")
        conn.call("terminate", {"job": "other"})
        lc_join(conn, "other")
        conn.call("terminate", {"job": "watched"})
        lc_join(conn, "watched")
        lines = read_lines_until(L, lambda l: b"watched" in l and b"exited" in l.split())
        assert any(b"stopping" in l.split() for l in lines if b"watched" in l), lines
        assert all(b"other" not in l for l in lines), lines
        p.send_signal(signal.SIGINT)
        finish(p)
        assert p.returncode == 0
        assert all(b"other" not in l for l in L.lines), L.lines
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def test_procctl_events_unknown_job(procd):
    p = ctl_popen(procd, "events", "nosuch")
    out, err = p.communicate(timeout=10)
    assert p.returncode == 1, (out, err)
    assert err.strip()


def test_procctl_events_reconnects_with_since(procd_factory):
    """procctl events stops reading (SIGSTOP), procd cuts it off at the
    output limit; once it runs again it reconnects and shows every event
    exactly once."""
    d = procd_factory(args=["--max-output", "131072"])
    c = d.connect()
    p = ctl_popen(d, "events", "--json")
    try:
        L = Lines(p)
        wait_subscribed(c, L)
        first = d.connect()
        base = subscribe(first)["seq"]
        first.close()
        os.kill(p.pid, signal.SIGSTOP)
        njobs = 12
        for _ in range(njobs):
            j = lc_start(c, ["true", BIG])
            lc_join(c, j["id"])
            c.call("close", {"job": j["id"]})
        last = j["id"]
        os.kill(p.pid, signal.SIGCONT)
        lines = read_lines_until(L, lambda l: json.loads(l).get("params", json.loads(l))
                                 .get("event") == "closed" and
                                 json.loads(l).get("params", json.loads(l))["job"]["id"] == last,
                                 timeout=30)
        objs = [json.loads(l) for l in lines]
        objs = [o.get("params", o) for o in objs]
        newest = subscribe(d.connect())["seq"]
        assert newest >= base + njobs * 3
        seqs = [o["seq"] for o in objs if o["seq"] > base]
        assert seqs == list(range(base + 1, newest + 1)), seqs
        p.send_signal(signal.SIGINT)
        finish(p)
        assert p.returncode == 0
    finally:
        if p.poll() is None:
            os.kill(p.pid, signal.SIGCONT)
            p.kill()
            p.wait()


def test_procctl_events_survives_procd_restart(procd_factory, tmp_path):
    d = procd_factory(sub="r")
    c = d.connect()
    p = ctl_popen(d, "events")
    try:
        L = Lines(p)
        wait_subscribed(c, L)
        d.stop()
        d2 = procd_factory(sub="r")
        assert d2.sock == d.sock
        c2 = d2.connect()
        # it reconnects within its retry delay (at most a few seconds)
        wait_subscribed(c2, L, name="after")
        assert p.poll() is None
        p.send_signal(signal.SIGINT)
        finish(p)
        assert p.returncode == 0
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
