/* SPDX-License-Identifier: ISC */
/*
 * procctl top's table of jobs, ordered by id: replaced whole by each
 * list, changed one job at a time by events in between. A job keeps its
 * process's readings across both, so CPU% is measured over an interval.
 */

#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "proto.h"
#include "procctl.h"
#include "top.h"

static json_int_t
top_jobs_id(const json_t *job)
{
	json_t	*v = json_object_get(job, PROTO_F_ID);

	return (json_is_integer(v) ? json_integer_value(v) : -1);
}

/* Where id is in the table (*found 1) or would go (*found 0). */
static size_t
top_jobs_search(const struct top *top, json_int_t id, int *found)
{
	size_t	lo = 0, hi = top->njobs, mid;

	*found = 0;
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (top->jobs[mid].id == id) {
			*found = 1;
			return (mid);
		}
		if (top->jobs[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return (lo);
}

/* Puts a job object in the table, replacing the older one of that id. */
void
top_jobs_update(struct top *top, json_t *job)
{
	struct top_job	*tj;
	json_int_t	 id;
	size_t		 i;
	int		 found;

	if (!json_is_object(job) || (id = top_jobs_id(job)) < 0)
		return;
	i = top_jobs_search(top, id, &found);
	if (found) {
		tj = &top->jobs[i];
		json_decref(tj->job);
		tj->job = json_incref(job);
		return;
	}
	if (top->njobs == top->size) {
		top->size = top->size == 0 ? 16 : top->size * 2;
		top->jobs = xrealloc(top->jobs, top->size * sizeof *top->jobs);
	}
	memmove(&top->jobs[i + 1], &top->jobs[i],
	    (top->njobs - i) * sizeof *top->jobs);
	top->njobs++;
	tj = &top->jobs[i];
	memset(tj, 0, sizeof *tj);
	tj->id = id;
	tj->job = json_incref(job);
	tj->cpu = -1;
}

void
top_jobs_remove(struct top *top, json_int_t id)
{
	size_t	i;
	int	found;

	i = top_jobs_search(top, id, &found);
	if (!found)
		return;
	json_decref(top->jobs[i].job);
	memmove(&top->jobs[i], &top->jobs[i + 1],
	    (top->njobs - i - 1) * sizeof *top->jobs);
	top->njobs--;
}

/*
 * Replaces the table with the jobs of a list result; jobs that were
 * already there keep their readings, jobs no longer listed go.
 */
void
top_jobs_set(struct top *top, const json_t *list)
{
	struct top	 old;
	struct top_job	*tj;
	json_t		*job;
	size_t		 i, j;
	int		 found;

	old = *top;
	top->jobs = NULL;
	top->njobs = top->size = 0;
	json_array_foreach(list, i, job)
		top_jobs_update(top, job);
	for (i = 0; i < top->njobs; i++) {
		tj = &top->jobs[i];
		j = top_jobs_search(&old, tj->id, &found);
		if (!found)
			continue;
		job = tj->job;
		*tj = old.jobs[j];
		tj->job = job;
	}
	for (j = 0; j < old.njobs; j++)
		json_decref(old.jobs[j].job);
	free(old.jobs);
}

void
top_jobs_clear(struct top *top)
{
	size_t	i;

	for (i = 0; i < top->njobs; i++)
		json_decref(top->jobs[i].job);
	free(top->jobs);
	top->jobs = NULL;
	top->njobs = top->size = 0;
}

/* 1 if the job passes --state and --parent. */
int
top_jobs_shown(const struct top *top, const struct top_job *tj)
{
	json_t	*state, *parent;
	int	 s;

	if (top->states != 0) {
		state = json_object_get(tj->job, PROTO_F_STATE);
		if (!json_is_string(state) ||
		    (s = proto_state_parse(json_string_value(state))) == -1 ||
		    (top->states & (1 << s)) == 0)
			return (0);
	}
	if (top->parent != -1) {
		parent = json_object_get(tj->job, PROTO_F_PARENT);
		if (!json_is_integer(parent) ||
		    json_integer_value(parent) != top->parent)
			return (0);
	}
	return (1);
}

size_t
top_jobs_count_shown(const struct top *top)
{
	size_t	i, n = 0;

	for (i = 0; i < top->njobs; i++)
		n += top_jobs_shown(top, &top->jobs[i]);
	return (n);
}
