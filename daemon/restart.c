/* SPDX-License-Identifier: ISC */
/*
 * Restarts. A job whose exit the policy restarts (jobstate.c) waits out
 * its delay on a timer of its own; then it joins the due queue, and the
 * queue is spawned a turn at a time, RESTART_TURN_SEC at most, with the
 * loop polling every client between turns. A thousand jobs that exit at
 * once with restart_delay 0 so make another client's request wait about
 * a turn, not the second it takes to spawn them all.
 */

#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "procd.h"

#define RESTART_TURN_SEC	0.001

static TAILQ_HEAD(, job) restart_queue = TAILQ_HEAD_INITIALIZER(restart_queue);
static struct event	*restart_runner;

static void	restart_run(int, short, void *);

void
restart_init(void)
{
	restart_runner = evtimer_new(procd_base, restart_run, NULL);
	if (restart_runner == NULL)
		fatalx("%s: evtimer_new failed", __func__);
}

void
restart_free(void)
{
	if (restart_runner != NULL)
		event_free(restart_runner);
	restart_runner = NULL;
}

/* The next turn comes after the loop has polled every client once. */
static void
restart_next_turn(void)
{
	struct timeval	tv = { 0, 0 };

	if (!evtimer_pending(restart_runner, NULL))
		evtimer_add(restart_runner, &tv);
}

static void
restart_timer_fired(int fd, short events, void *arg)
{
	struct job	*job = arg;

	job->restart_due = 1;
	TAILQ_INSERT_TAIL(&restart_queue, job, restart_entry);
	restart_next_turn();
}

/*
 * Sets when job, whose last process ran for ran seconds, starts again,
 * and arms its timer; restart_at is in the job object from now on.
 */
void
restart_schedule(struct job *job, double ran)
{
	struct timeval	tv;
	double		delay;

	delay = jobstate_restart_delay(&job->restart_last_delay,
	    job->restart_delay, job->restart_max_delay, ran);
	time_from_now(CLOCK_REALTIME, delay, &job->restart_at);
	if (job->restart_timer == NULL)
		job->restart_timer = evtimer_new(procd_base,
		    restart_timer_fired, job);
	method_timeval(delay, &tv);
	evtimer_add(job->restart_timer, &tv);
	log_debug("job %lld (%s): restart in %.3f s", job->id, job->name,
	    delay);
}

/* No restart is to come: the timer and the queue forget job. */
void
restart_cancel(struct job *job)
{
	if (job->restart_timer != NULL) {
		event_free(job->restart_timer);
		job->restart_timer = NULL;
	}
	if (job->restart_due) {
		TAILQ_REMOVE(&restart_queue, job, restart_entry);
		job->restart_due = 0;
	}
	memset(&job->restart_at, 0, sizeof job->restart_at);
}

/* Spawns job's next process; an exec failure counts as a failed run. */
static void
restart_spawn(struct job *job)
{
	char	*cause;
	json_t	*data;
	pid_t	 pid;

	job->restarts++;
	/* What the last process's pipes still hold, before new ones. */
	output_drain(job);
	pid = spawn_job(job, &cause, &data);
	if (pid == -1) {
		json_decref(data);
		job_respawn_failed(job, cause);
		free(cause);
		return;
	}
	job_respawned(job, pid);
}

static void
restart_run(int fd, short events, void *arg)
{
	struct timespec	 t0;
	struct job	*job;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	while ((job = TAILQ_FIRST(&restart_queue)) != NULL) {
		if (time_since(CLOCK_MONOTONIC, &t0) >= RESTART_TURN_SEC) {
			restart_next_turn();
			return;
		}
		TAILQ_REMOVE(&restart_queue, job, restart_entry);
		job->restart_due = 0;
		restart_spawn(job);
	}
}

/*
 * A handed-over schedule: its timer with the time it had left, or on the
 * due queue again if it was there.
 */
void
restart_resume(struct job *job, double left, int due)
{
	struct timeval	tv;

	job->restart_timer = evtimer_new(procd_base, restart_timer_fired, job);
	if (due) {
		restart_timer_fired(-1, 0, job);
		return;
	}
	method_timeval(left, &tv);
	evtimer_add(job->restart_timer, &tv);
}
