/* SPDX-License-Identifier: ISC */
/*
 * The job lifecycle as pure functions, so every state change can be
 * tested without processes. The whole lifecycle is the table below: a
 * state, an event, the conditions that must and must not hold, the next
 * state and the event subscribers are sent. A pair the table does not
 * name changes nothing. Then the restart policy: whether an exit is
 * followed by a restart, and after how long.
 */

#include "config.h"

#include <string.h>

#include "procd.h"

#define R	PROTO_RUNNING
#define S	PROTO_STOPPING_STATE
#define RS	PROTO_RESTARTING
#define W	PROTO_WAITING
#define X	PROTO_EXITED
#define KIDS	JOBSTATE_CHILDREN
#define AGAIN	JOBSTATE_RESTART
#define LEFT	JOBSTATE_LEFTOVERS

static const struct jobstate_rule jobstate_rules[] = {
	/* from	event			when	unless		   to	emit */
	{ R,	JOB_EVENT_STOP,		0,	0,		   S,	"stopping" },

	/* The process exited; a tree job first waits for its leftovers. */
	{ R,	JOB_EVENT_EXIT,		LEFT,	0,		   S,	"stopping" },
	{ R,	JOB_EVENT_EXIT,		AGAIN,	LEFT,		   RS,	"restarting" },
	{ R,	JOB_EVENT_EXIT,		KIDS,	LEFT|AGAIN,	   W,	"waiting" },
	{ R,	JOB_EVENT_EXIT,		0,	LEFT|AGAIN|KIDS,   X,	"exited" },
	{ S,	JOB_EVENT_EXIT,		AGAIN,	LEFT,		   RS,	"restarting" },
	{ S,	JOB_EVENT_EXIT,		KIDS,	LEFT|AGAIN,	   W,	"waiting" },
	{ S,	JOB_EVENT_EXIT,		0,	LEFT|AGAIN|KIDS,   X,	"exited" },

	/* A tree job's cgroup is empty after its process exited. */
	{ S,	JOB_EVENT_EMPTY,	AGAIN,	0,		   RS,	"restarting" },
	{ S,	JOB_EVENT_EMPTY,	KIDS,	AGAIN,		   W,	"waiting" },
	{ S,	JOB_EVENT_EMPTY,	0,	AGAIN|KIDS,	   X,	"exited" },

	/* terminate, kill, teardown or procd's stop cancel a restart. */
	{ RS,	JOB_EVENT_STOP,		KIDS,	0,		   W,	"waiting" },
	{ RS,	JOB_EVENT_STOP,		0,	KIDS,		   X,	"exited" },
	{ RS,	JOB_EVENT_SPAWNED,	0,	0,		   R,	"started" },
	{ RS,	JOB_EVENT_EXEC_FAILED,	AGAIN,	0,		   RS,	"restarting" },
	{ RS,	JOB_EVENT_EXEC_FAILED,	KIDS,	AGAIN,		   W,	"waiting" },
	{ RS,	JOB_EVENT_EXEC_FAILED,	0,	AGAIN|KIDS,	   X,	"exited" },

	/* The last unfinished child finished. */
	{ W,	JOB_EVENT_CHILD,	0,	KIDS,		   X,	"exited" },
};

#undef R
#undef S
#undef RS
#undef W
#undef X
#undef KIDS
#undef AGAIN
#undef LEFT

/*
 * The rule for event in state cur under the conditions in cond (a set of
 * JOBSTATE_*), or NULL: nothing changes.
 */
const struct jobstate_rule *
jobstate_find(enum proto_state cur, enum job_event event, int cond)
{
	const struct jobstate_rule	*r;
	size_t				 i;

	for (i = 0; i < sizeof jobstate_rules / sizeof jobstate_rules[0];
	    i++) {
		r = &jobstate_rules[i];
		if (r->from == cur && r->event == event &&
		    (cond & r->when) == r->when && (cond & r->unless) == 0)
			return (r);
	}
	return (NULL);
}

/* The state after event in state cur under cond. */
enum proto_state
jobstate_next(enum proto_state cur, enum job_event event, int cond)
{
	const struct jobstate_rule	*r;

	r = jobstate_find(cur, event, cond);
	return (r != NULL ? r->to : cur);
}

/* True while the job has a process (or, for a tree, leftovers) to stop. */
int
jobstate_alive(enum proto_state state)
{
	return (state == PROTO_RUNNING || state == PROTO_STOPPING_STATE);
}

/* The policy for a restart param; -1 if it names none. */
int
jobstate_policy_parse(const char *name)
{
	static const char *const names[] = { "no", "on-failure", "always" };
	int	i;

	if (name == NULL)
		return (JOB_RESTART_NO);
	for (i = 0; i < 3; i++) {
		if (strcmp(name, names[i]) == 0)
			return (i);
	}
	return (-1);
}

const char *
jobstate_policy_name(int policy)
{
	switch (policy) {
	case JOB_RESTART_ON_FAILURE:
		return ("on-failure");
	case JOB_RESTART_ALWAYS:
		return ("always");
	}
	return ("no");
}

/*
 * Whether an exit with exitcode is followed by a restart. A stop someone
 * asked for (stopped) is final, and so is any exit once restarts reached
 * limit (-1: none).
 */
int
jobstate_restart_wanted(int policy, int exitcode, int stopped,
    long long restarts, long long limit)
{
	if (policy == JOB_RESTART_NO || stopped)
		return (0);
	if (limit >= 0 && restarts >= limit)
		return (0);
	if (policy == JOB_RESTART_ON_FAILURE)
		return (exitcode != 0);
	return (1);
}

/*
 * The delay before a restart, after a process that ran for ran seconds;
 * *last is the delay of the restart that started that process (-1: it
 * was the first), and becomes this one. The first restart waits base; a
 * restart whose process ran less than JOBSTATE_STEADY seconds doubles
 * the delay for the next (base, 2 base, 4 base, ... up to max), and a
 * process that ran longer sets it back to base.
 */
double
jobstate_restart_delay(double *last, double base, double max, double ran)
{
	double	delay;

	if (*last < 0 || ran >= JOBSTATE_STEADY)
		delay = base;
	else
		delay = *last * 2 > max ? max : *last * 2;
	*last = delay;
	return (delay);
}
