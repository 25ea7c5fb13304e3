/* SPDX-License-Identifier: ISC */
/*
 * The job lifecycle as a pure function, so the daemon-child rule's state
 * changes can be tested without processes:
 *
 *	running -> stopping -> waiting -> exited
 *	running ------------> waiting -> exited
 *	running/stopping -------------> exited	(no unfinished children)
 */

#include "config.h"

#include "procd.h"

/*
 * The state after event in state cur; unfinished is how many child jobs
 * have not finished yet.
 */
enum proto_state
jobstate_next(enum proto_state cur, enum job_event event, int unfinished)
{
	switch (event) {
	case JOB_EVENT_STOP:
		return (cur == PROTO_RUNNING ? PROTO_STOPPING_STATE : cur);
	case JOB_EVENT_EXIT:
		if (cur != PROTO_RUNNING && cur != PROTO_STOPPING_STATE)
			return (cur);
		return (unfinished > 0 ? PROTO_WAITING : PROTO_EXITED);
	case JOB_EVENT_CHILD:
		if (cur != PROTO_WAITING)
			return (cur);
		return (unfinished > 0 ? PROTO_WAITING : PROTO_EXITED);
	}
	return (cur);
}

/* True while the job's process has not been reaped. */
int
jobstate_alive(enum proto_state state)
{
	return (state == PROTO_RUNNING || state == PROTO_STOPPING_STATE);
}
