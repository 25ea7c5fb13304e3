/* SPDX-License-Identifier: ISC */
/*
 * Unit tests for the pure job state machine in daemon/jobstate.c: every
 * state under every event, with and without unfinished children, and which
 * states still have a live process.
 */

#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "procd.h"

/* Our own names: this test links daemon/jobstate.c alone, without proto/. */
static const char *
state_name(enum proto_state s)
{
	static const char *const names[] = {
		"running", "stopping", "waiting", "exited",
	};

	return ((unsigned)s < PROTO_NSTATES ? names[s] : "unknown");
}

static void
expect_next(enum proto_state cur, enum job_event event, int unfinished,
    enum proto_state want)
{
	enum proto_state	got;

	got = jobstate_next(cur, event, unfinished);
	if (got != want)
		fail_msg("%s + event %d (unfinished %d): got %s, want %s",
		    state_name(cur), (int)event, unfinished,
		    state_name(got), state_name(want));
}

/* A stop signal moves only a running job; it never finishes one. */
static void
test_stop(void **state)
{
	int	u;

	for (u = 0; u <= 1; u++) {
		expect_next(PROTO_RUNNING, JOB_EVENT_STOP, u,
		    PROTO_STOPPING_STATE);
		expect_next(PROTO_STOPPING_STATE, JOB_EVENT_STOP, u,
		    PROTO_STOPPING_STATE);
		expect_next(PROTO_WAITING, JOB_EVENT_STOP, u, PROTO_WAITING);
		expect_next(PROTO_EXITED, JOB_EVENT_STOP, u, PROTO_EXITED);
	}
}

/* The process exiting: waiting while children remain, else exited. */
static void
test_exit(void **state)
{
	expect_next(PROTO_RUNNING, JOB_EVENT_EXIT, 0, PROTO_EXITED);
	expect_next(PROTO_RUNNING, JOB_EVENT_EXIT, 1, PROTO_WAITING);
	expect_next(PROTO_STOPPING_STATE, JOB_EVENT_EXIT, 0, PROTO_EXITED);
	expect_next(PROTO_STOPPING_STATE, JOB_EVENT_EXIT, 1, PROTO_WAITING);
	/* Already reaped: a second exit changes nothing. */
	expect_next(PROTO_WAITING, JOB_EVENT_EXIT, 0, PROTO_WAITING);
	expect_next(PROTO_WAITING, JOB_EVENT_EXIT, 1, PROTO_WAITING);
	expect_next(PROTO_EXITED, JOB_EVENT_EXIT, 0, PROTO_EXITED);
	expect_next(PROTO_EXITED, JOB_EVENT_EXIT, 1, PROTO_EXITED);
}

/* A child finishing matters only to a parent that is waiting. */
static void
test_child(void **state)
{
	expect_next(PROTO_RUNNING, JOB_EVENT_CHILD, 0, PROTO_RUNNING);
	expect_next(PROTO_RUNNING, JOB_EVENT_CHILD, 1, PROTO_RUNNING);
	expect_next(PROTO_STOPPING_STATE, JOB_EVENT_CHILD, 0,
	    PROTO_STOPPING_STATE);
	expect_next(PROTO_STOPPING_STATE, JOB_EVENT_CHILD, 1,
	    PROTO_STOPPING_STATE);
	expect_next(PROTO_WAITING, JOB_EVENT_CHILD, 0, PROTO_EXITED);
	expect_next(PROTO_WAITING, JOB_EVENT_CHILD, 1, PROTO_WAITING);
	expect_next(PROTO_EXITED, JOB_EVENT_CHILD, 0, PROTO_EXITED);
	expect_next(PROTO_EXITED, JOB_EVENT_CHILD, 1, PROTO_EXITED);
}

/* More than one unfinished child behaves like one. */
static void
test_many_children(void **state)
{
	expect_next(PROTO_RUNNING, JOB_EVENT_EXIT, 5, PROTO_WAITING);
	expect_next(PROTO_STOPPING_STATE, JOB_EVENT_EXIT, 2, PROTO_WAITING);
	expect_next(PROTO_WAITING, JOB_EVENT_CHILD, 3, PROTO_WAITING);
	expect_next(PROTO_RUNNING, JOB_EVENT_STOP, 7, PROTO_STOPPING_STATE);
}

/* Whole lifecycles, as the daemon drives them. */
static void
test_paths(void **state)
{
	enum proto_state	s;

	/* terminate, exit with one child left, the child finishes */
	s = PROTO_RUNNING;
	s = jobstate_next(s, JOB_EVENT_STOP, 1);
	assert_int_equal(s, PROTO_STOPPING_STATE);
	s = jobstate_next(s, JOB_EVENT_STOP, 1);
	assert_int_equal(s, PROTO_STOPPING_STATE);
	s = jobstate_next(s, JOB_EVENT_EXIT, 1);
	assert_int_equal(s, PROTO_WAITING);
	s = jobstate_next(s, JOB_EVENT_STOP, 1);
	assert_int_equal(s, PROTO_WAITING);
	s = jobstate_next(s, JOB_EVENT_CHILD, 0);
	assert_int_equal(s, PROTO_EXITED);

	/* exits on its own with two children, which finish in turn */
	s = PROTO_RUNNING;
	s = jobstate_next(s, JOB_EVENT_CHILD, 2);
	assert_int_equal(s, PROTO_RUNNING);
	s = jobstate_next(s, JOB_EVENT_EXIT, 2);
	assert_int_equal(s, PROTO_WAITING);
	s = jobstate_next(s, JOB_EVENT_CHILD, 1);
	assert_int_equal(s, PROTO_WAITING);
	s = jobstate_next(s, JOB_EVENT_CHILD, 0);
	assert_int_equal(s, PROTO_EXITED);
	s = jobstate_next(s, JOB_EVENT_STOP, 0);
	assert_int_equal(s, PROTO_EXITED);
}

static void
test_alive(void **state)
{
	assert_true(jobstate_alive(PROTO_RUNNING));
	assert_true(jobstate_alive(PROTO_STOPPING_STATE));
	assert_false(jobstate_alive(PROTO_WAITING));
	assert_false(jobstate_alive(PROTO_EXITED));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stop),
		cmocka_unit_test(test_exit),
		cmocka_unit_test(test_child),
		cmocka_unit_test(test_many_children),
		cmocka_unit_test(test_paths),
		cmocka_unit_test(test_alive),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
