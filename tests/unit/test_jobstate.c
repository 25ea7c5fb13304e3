/* SPDX-License-Identifier: ISC */
/*
 * Unit tests for the pure job lifecycle in daemon/jobstate.c: every state
 * under every event and every set of conditions, valid or not, checked
 * against the protocol's rules written here a second way (one clause per
 * state); whole lifecycles; the restart policy and its delays.
 */

#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "procd.h"

#define NEVENTS	(JOB_EVENT_CHILD + 1)
#define NCONDS	8	/* every set of the three JOBSTATE_* bits */

/* Our own names: this test links daemon/jobstate.c alone, without proto/. */
static const char *
state_name(enum proto_state s)
{
	static const char *const names[] = {
		"running", "stopping", "restarting", "waiting", "exited",
	};

	return ((unsigned)s < PROTO_NSTATES ? names[s] : "unknown");
}

/* After the exit (or an empty tree): a restart, waiting or exited. */
static enum proto_state
settled(int cond)
{
	if (cond & JOBSTATE_RESTART)
		return (PROTO_RESTARTING);
	return ((cond & JOBSTATE_CHILDREN) ? PROTO_WAITING : PROTO_EXITED);
}

/* The protocol's rules (sections 3, 4, 10, 12, 15), one state at a time. */
static enum proto_state
expected(enum proto_state cur, enum job_event ev, int cond)
{
	switch (cur) {
	case PROTO_RUNNING:
		if (ev == JOB_EVENT_STOP)
			return (PROTO_STOPPING_STATE);
		if (ev == JOB_EVENT_EXIT)
			return ((cond & JOBSTATE_LEFTOVERS) ?
			    PROTO_STOPPING_STATE : settled(cond));
		return (cur);
	case PROTO_STOPPING_STATE:
		if (ev == JOB_EVENT_EXIT)
			return ((cond & JOBSTATE_LEFTOVERS) ? cur :
			    settled(cond));
		if (ev == JOB_EVENT_EMPTY)
			return (settled(cond & ~JOBSTATE_LEFTOVERS));
		return (cur);
	case PROTO_RESTARTING:
		if (ev == JOB_EVENT_STOP)
			return (settled(cond & JOBSTATE_CHILDREN));
		if (ev == JOB_EVENT_SPAWNED)
			return (PROTO_RUNNING);
		if (ev == JOB_EVENT_EXEC_FAILED)
			return (settled(cond & ~JOBSTATE_LEFTOVERS));
		return (cur);
	case PROTO_WAITING:
		if (ev == JOB_EVENT_CHILD && !(cond & JOBSTATE_CHILDREN))
			return (PROTO_EXITED);
		return (cur);
	case PROTO_EXITED:
		return (cur);
	}
	return (cur);
}

/* The event subscribers see for a change from cur under ev. */
static const char *
expected_emit(enum proto_state cur, enum job_event ev, enum proto_state to)
{
	if (cur == PROTO_RESTARTING && to == PROTO_RUNNING)
		return ("started");
	return (state_name(to));
}

/* Every state x event x conditions: the table says what the rules say. */
static void
test_every_triple(void **state)
{
	const struct jobstate_rule	*r;
	enum proto_state		 cur, want;
	int				 ev, cond, changes = 0;

	for (cur = 0; cur < PROTO_NSTATES; cur++)
	for (ev = 0; ev < NEVENTS; ev++)
	for (cond = 0; cond < NCONDS; cond++) {
		want = expected(cur, ev, cond);
		r = jobstate_find(cur, ev, cond);
		if (want == cur && !(cur == PROTO_RESTARTING &&
		    ev == JOB_EVENT_EXEC_FAILED &&
		    (cond & JOBSTATE_RESTART))) {
			/* No change, so nothing to emit either. */
			if (r != NULL)
				fail_msg("%s + event %d (cond %d): rule to %s, "
				    "want none", state_name(cur), ev, cond,
				    state_name(r->to));
			continue;
		}
		if (r == NULL)
			fail_msg("%s + event %d (cond %d): no rule, want %s",
			    state_name(cur), ev, cond, state_name(want));
		if (r->to != want)
			fail_msg("%s + event %d (cond %d): got %s, want %s",
			    state_name(cur), ev, cond, state_name(r->to),
			    state_name(want));
		assert_string_equal(r->emit, expected_emit(cur, ev, want));
		assert_int_equal(jobstate_next(cur, ev, cond), want);
		changes++;
	}
	assert_true(changes > 0);
}

/* A rescheduled restart after an exec failure is announced again. */
static void
test_exec_failure_reschedules(void **state)
{
	const struct jobstate_rule	*r;

	r = jobstate_find(PROTO_RESTARTING, JOB_EVENT_EXEC_FAILED,
	    JOBSTATE_RESTART);
	assert_non_null(r);
	assert_int_equal(r->to, PROTO_RESTARTING);
	assert_string_equal(r->emit, "restarting");
}

/* Nothing ever leaves exited, and a stop never finishes a live process. */
static void
test_invariants(void **state)
{
	int	ev, cond;

	for (ev = 0; ev < NEVENTS; ev++)
	for (cond = 0; cond < NCONDS; cond++) {
		assert_null(jobstate_find(PROTO_EXITED, ev, cond));
		assert_int_equal(jobstate_next(PROTO_RUNNING, JOB_EVENT_STOP,
		    cond), PROTO_STOPPING_STATE);
	}
}

/* Whole lifecycles, as the daemon drives them. */
static void
test_paths(void **state)
{
	enum proto_state	s;

	/* terminate, exit with one child left, the child finishes */
	s = PROTO_RUNNING;
	s = jobstate_next(s, JOB_EVENT_STOP, JOBSTATE_CHILDREN);
	assert_int_equal(s, PROTO_STOPPING_STATE);
	s = jobstate_next(s, JOB_EVENT_EXIT, JOBSTATE_CHILDREN);
	assert_int_equal(s, PROTO_WAITING);
	s = jobstate_next(s, JOB_EVENT_CHILD, 0);
	assert_int_equal(s, PROTO_EXITED);

	/* fails twice, restarts, is cancelled with a child still running */
	s = PROTO_RUNNING;
	s = jobstate_next(s, JOB_EVENT_EXIT, JOBSTATE_RESTART);
	assert_int_equal(s, PROTO_RESTARTING);
	s = jobstate_next(s, JOB_EVENT_SPAWNED, 0);
	assert_int_equal(s, PROTO_RUNNING);
	s = jobstate_next(s, JOB_EVENT_EXIT, JOBSTATE_RESTART);
	s = jobstate_next(s, JOB_EVENT_STOP, JOBSTATE_CHILDREN);
	assert_int_equal(s, PROTO_WAITING);

	/* a tree job: its leftovers, then the empty cgroup, then restart */
	s = PROTO_RUNNING;
	s = jobstate_next(s, JOB_EVENT_EXIT, JOBSTATE_LEFTOVERS |
	    JOBSTATE_RESTART);
	assert_int_equal(s, PROTO_STOPPING_STATE);
	s = jobstate_next(s, JOB_EVENT_EMPTY, JOBSTATE_RESTART);
	assert_int_equal(s, PROTO_RESTARTING);
	s = jobstate_next(s, JOB_EVENT_EXEC_FAILED, 0);
	assert_int_equal(s, PROTO_EXITED);
}

static void
test_alive(void **state)
{
	assert_true(jobstate_alive(PROTO_RUNNING));
	assert_true(jobstate_alive(PROTO_STOPPING_STATE));
	assert_false(jobstate_alive(PROTO_RESTARTING));
	assert_false(jobstate_alive(PROTO_WAITING));
	assert_false(jobstate_alive(PROTO_EXITED));
}

static void
test_policy(void **state)
{
	assert_int_equal(jobstate_policy_parse(NULL), JOB_RESTART_NO);
	assert_int_equal(jobstate_policy_parse("no"), JOB_RESTART_NO);
	assert_int_equal(jobstate_policy_parse("on-failure"),
	    JOB_RESTART_ON_FAILURE);
	assert_int_equal(jobstate_policy_parse("always"), JOB_RESTART_ALWAYS);
	assert_int_equal(jobstate_policy_parse("On-Failure"), -1);
	assert_int_equal(jobstate_policy_parse(""), -1);
	assert_string_equal(jobstate_policy_name(JOB_RESTART_ALWAYS),
	    "always");
	assert_string_equal(jobstate_policy_name(JOB_RESTART_ON_FAILURE),
	    "on-failure");
	assert_string_equal(jobstate_policy_name(JOB_RESTART_NO), "no");
}

static void
test_restart_wanted(void **state)
{
	/* policy, exitcode, stopped, restarts, limit */
	assert_false(jobstate_restart_wanted(JOB_RESTART_NO, 1, 0, 0, -1));
	assert_true(jobstate_restart_wanted(JOB_RESTART_ON_FAILURE, 1, 0, 0,
	    -1));
	assert_true(jobstate_restart_wanted(JOB_RESTART_ON_FAILURE, -9, 0, 0,
	    -1));
	assert_false(jobstate_restart_wanted(JOB_RESTART_ON_FAILURE, 0, 0, 0,
	    -1));
	assert_true(jobstate_restart_wanted(JOB_RESTART_ALWAYS, 0, 0, 0, -1));
	/* a stop someone asked for is final */
	assert_false(jobstate_restart_wanted(JOB_RESTART_ALWAYS, -15, 1, 0,
	    -1));
	/* the limit: at most that many restarts */
	assert_true(jobstate_restart_wanted(JOB_RESTART_ALWAYS, 0, 0, 2, 3));
	assert_false(jobstate_restart_wanted(JOB_RESTART_ALWAYS, 0, 0, 3, 3));
	assert_false(jobstate_restart_wanted(JOB_RESTART_ALWAYS, 0, 0, 0, 0));
}

static void
test_restart_delay(void **state)
{
	const double	 want[] = { 1, 2, 4, 8, 16, 32, 60, 60 };
	double		 last = -1;
	size_t		 i;

	/* Short runs: d, 2d, 4d, ... up to the cap. */
	for (i = 0; i < sizeof want / sizeof want[0]; i++)
		assert_true(jobstate_restart_delay(&last, 1, 60, 0.5) ==
		    want[i]);
	/* A steady run sets it back; the restart after the next short run
	 * (one whose process ran short) doubles it again. */
	assert_true(jobstate_restart_delay(&last, 1, 60, JOBSTATE_STEADY) ==
	    1);
	assert_true(jobstate_restart_delay(&last, 1, 60, 1) == 2);
	assert_true(jobstate_restart_delay(&last, 1, 60, 1) == 4);
	/* The first restart waits the base whatever the first run was. */
	last = -1;
	assert_true(jobstate_restart_delay(&last, 3, 60, 0) == 3);
	last = -1;
	assert_true(jobstate_restart_delay(&last, 3, 60, 100) == 3);
	/* restart_delay 0 stays 0. */
	last = -1;
	assert_true(jobstate_restart_delay(&last, 0, 60, 0) == 0);
	assert_true(jobstate_restart_delay(&last, 0, 60, 0) == 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_triple),
		cmocka_unit_test(test_exec_failure_reschedules),
		cmocka_unit_test(test_invariants),
		cmocka_unit_test(test_paths),
		cmocka_unit_test(test_alive),
		cmocka_unit_test(test_policy),
		cmocka_unit_test(test_restart_wanted),
		cmocka_unit_test(test_restart_delay),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
