/* SPDX-License-Identifier: ISC */
/*
 * The job table and the daemon-child rule. The table owns every job; it is
 * indexed by id, name and pid (uthash) and kept in id order for list. All
 * state changes go through job_transition, which looks them up in the
 * lifecycle table (jobstate.c); the rule lives in job_reaped and
 * job_finished, and applies at every exit, restart or not.
 */

#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "procd.h"

struct jobs	 jobs = TAILQ_HEAD_INITIALIZER(jobs);
u_int		 jobs_count;
u_int		 jobs_state_count[PROTO_NSTATES];

static long long	 job_next_id = 1;
static struct job	*job_by_id;
static struct job	*job_by_name;
static struct job	*job_by_pid;

static void	job_finished(struct job *);


struct job *
job_find_id(long long id)
{
	struct job	*job;

	HASH_FIND(hh_id, job_by_id, &id, sizeof id, job);
	return (job);
}

struct job *
job_find_name(const char *name)
{
	struct job	*job;

	HASH_FIND(hh_name, job_by_name, name, strlen(name), job);
	return (job);
}

struct job *
job_find_pid(pid_t pid)
{
	struct job	*job;

	HASH_FIND(hh_pid, job_by_pid, &pid, sizeof pid, job);
	return (job);
}

/* The highest id ever given to a job; 0 if none. */
long long
job_last_id(void)
{
	return (job_next_id - 1);
}

/* Finds the job a JOB param names: an integer id or a name. */
struct job *
job_lookup(const json_t *ref)
{
	if (json_is_integer(ref))
		return (job_find_id(json_integer_value(ref)));
	if (json_is_string(ref))
		return (job_find_name(json_string_value(ref)));
	return (NULL);
}

static int
job_unfinished_children(const struct job *job)
{
	const struct job	*child;
	int			 n = 0;

	TAILQ_FOREACH(child, &job->children, child_entry) {
		if (child->state != PROTO_EXITED)
			n++;
	}
	return (n);
}

/*
 * Runs event through the lifecycle table (jobstate.c) and does what
 * entering the new state asks: cond adds conditions the caller knows
 * (JOBSTATE_RESTART, JOBSTATE_LEFTOVERS) to the one known here.
 */
static void
job_transition(struct job *job, enum job_event event, int cond)
{
	const struct jobstate_rule	*r;
	enum proto_state		 from = job->state;

	if (job_unfinished_children(job) > 0)
		cond |= JOBSTATE_CHILDREN;
	if ((r = jobstate_find(from, event, cond)) == NULL)
		return;
	log_debug("job %lld (%s): %s -> %s (%s)", job->id, job->name,
	    proto_state_name(from), proto_state_name(r->to), r->emit);
	if (from == PROTO_RESTARTING && r->to != PROTO_RESTARTING)
		restart_cancel(job);
	jobs_state_count[from]--;
	jobs_state_count[r->to]++;
	job->owner->state_count[from]--;
	job->owner->state_count[r->to]++;
	job->state = r->to;
	job_changed(job);
	notify_jobs_changed();
	feed_emit(r->emit, job);
	if (r->to == PROTO_EXITED && from != PROTO_EXITED)
		job_finished(job);
}

/*
 * A job record: its name, argv (taken, with its JSON text, also taken, or
 * made here if NULL), cwd, and owner (a reference, taken, its database
 * entry loaded), with the texts made from them, its lists empty and no
 * cgroup. What job_create and the handoff's readers start from.
 */
struct job *
job_new(long long id, const char *name, json_t *argv, char *argv_text,
    const char *cwd, struct user *owner, gid_t gid)
{
	struct job	*job;

	job = xcalloc(1, sizeof *job);
	job->id = id;
	job->name = xstrdup(name);
	job->argv = argv;
	job->cwd = xstrdup(cwd);
	job->name_text = job_quote(job->name);
	job->cwd_text = job_quote(job->cwd);
	if ((job->argv_text = argv_text) == NULL &&
	    (job->argv_text = proto_dump(argv)) == NULL)
		fatalx("%s: cannot encode argv", __func__);
	job->uid = owner->uid;
	job->gid = gid;
	job->owner = owner;
	job->user_text = owner->db_found ? job_quote(owner->name) :
	    xstrdup("null");
	TAILQ_INIT(&job->children);
	TAILQ_INIT(&job->waiters);
	TAILQ_INIT(&job->ready_waiters);
	job->restart_limit = -1;
	job->cg_fd = job->cg_wd = job->cg_events = job->cg_kill = -1;
	return (job);
}

/*
 * Makes a job record for a process about to be spawned. It is not in the
 * table until job_started.
 */
struct job *
job_create(json_t *argv, const char *name, const char *cwd,
    struct user_creds *cr, int daemon, double stop_timeout,
    struct job *parent)
{
	struct job	*job;
	struct user	*owner;
	char		*auto_name = NULL;

	if (name == NULL)
		xasprintf(&auto_name, "job-%lld", job_next_id);
	owner = user_get(cr->uid);
	user_db_load(owner);
	job = job_new(job_next_id, name != NULL ? name : auto_name,
	    json_incref(argv), NULL, cwd, owner, cr->gid);
	free(auto_name);
	/* The job keeps them for its restarts. */
	job->creds = *cr;
	cr->groups = NULL;
	cr->ngroups = 0;
	job->daemon = daemon;
	job->stop_timeout = stop_timeout;
	job->state = PROTO_RUNNING;
	job->parent = parent;
	job->parent_id = parent != NULL ? parent->id : 0;
	output_init(job, OUTPUT_CAPTURE, procd_config.log_limit);
	return (job);
}

static void
job_free(struct job *job)
{
	output_free(job);
	restart_cancel(job);
	if (job->ready_timer != NULL)
		event_free(job->ready_timer);
	if (job->cg_fd != -1)
		cgroup_job_remove(job);
	if (job->kill_timer != NULL)
		event_free(job->kill_timer);
	json_decref(job->argv);
	json_decref(job->env);
	user_creds_clear(&job->creds);
	free(job->error_text);
	free(job->status_text);
	free(job->name);
	free(job->cwd);
	free(job->name_text);
	free(job->cwd_text);
	free(job->argv_text);
	free(job->user_text);
	job_text_release(job->text);
	user_release(job->owner);
	free(job);
}

/* A job whose spawn failed: it was never in the table. */
void
job_discard(struct job *job)
{
	job_free(job);
}

/*
 * Puts job in the table: the lookups (by pid while its process is not
 * reaped), the list by id, its parent's children, the counts.
 */
static void
job_enter(struct job *job)
{
	HASH_ADD(hh_id, job_by_id, id, sizeof job->id, job);
	HASH_ADD_KEYPTR(hh_name, job_by_name, job->name, strlen(job->name),
	    job);
	if (!(job->flags & JOB_REAPED))
		HASH_ADD(hh_pid, job_by_pid, pid, sizeof job->pid, job);
	TAILQ_INSERT_TAIL(&jobs, job, entry);
	if (job->parent != NULL)
		TAILQ_INSERT_TAIL(&job->parent->children, job, child_entry);
	jobs_count++;
	jobs_state_count[job->state]++;
	job->owner->jobs++;
	job->owner->state_count[job->state]++;
}

/* Enters a spawned job into the table. */
/*
 * A job made while an earlier start's spawn was out takes the id that
 * start left when it failed, and with it, if it has no name of its own,
 * the name job-ID: as if the spawns had been made one at a time.
 */
void
job_renumber(struct job *job, int auto_name)
{
	if (job->id == job_next_id)
		return;
	job->id = job_next_id;
	if (!auto_name)
		return;
	free(job->name);
	free(job->name_text);
	xasprintf(&job->name, "job-%lld", job->id);
	job->name_text = job_quote(job->name);
}

void
job_started(struct job *job, pid_t pid)
{
	job_next_id++;
	job->pid = pid;
	clock_gettime(CLOCK_REALTIME, &job->started_at);
	clock_gettime(CLOCK_MONOTONIC, &job->started_mono);
	job_enter(job);
	job_changed(job);
	if (job->parent != NULL)
		job_changed(job->parent);
	log_debug("job %lld (%s): started pid %ld", job->id, job->name,
	    (long)pid);
	notify_jobs_changed();
	feed_emit("started", job);
}

/*
 * Signals what the job runs: every process in its cgroup for a tree job,
 * else its process group, unless its pid is already reaped.
 */
static int
job_kill_all(struct job *job, int signo)
{
	if (job->tree)
		return (cgroup_signal(job, signo));
	if (job->flags & JOB_REAPED)
		return (0);
	if (killpg(job->pid, signo) == -1 && errno != ESRCH) {
		log_warn("job %lld (%s): killpg %d", job->id, job->name,
		    signo);
		return (-1);
	}
	return (0);
}

static void	job_kill_timer(int, short, void *);

/* A tree's next look (and SIGKILL) JOB_TREE_RECHECK_SEC from now. */
static void
job_tree_recheck(struct job *job)
{
	struct timeval	tv = { JOB_TREE_RECHECK_SEC, 0 };

	if (job->kill_timer == NULL)
		job->kill_timer = evtimer_new(procd_base, job_kill_timer, job);
	evtimer_add(job->kill_timer, &tv);
}

static void
job_kill_timer(int fd, short events, void *arg)
{
	struct job	*job = arg;

	log_debug("job %lld (%s): stop_timeout passed, SIGKILL", job->id,
	    job->name);
	job->flags |= JOB_KILLED;
	job_kill_all(job, SIGKILL);
	if (!job->tree)
		return;
	/*
	 * A tree is done only once its cgroup is seen empty; until then,
	 * kill and look again: a kill may have found no fd to write with,
	 * or a process forked past it, or a change notice was lost.
	 */
	if (job->cg_waiting && cgroup_populated(job) == 0)
		job_tree_empty(job);
	else
		job_tree_recheck(job);
}

/* SIGTERM now and SIGKILL after stop_timeout, unless a deadline runs. */
static void
job_terminate(struct job *job)
{
	struct timeval	tv;

	if (job->kill_timer != NULL && evtimer_pending(job->kill_timer,
	    NULL))
		return;
	job_kill_all(job, SIGTERM);
	if (job->kill_timer == NULL)
		job->kill_timer = evtimer_new(procd_base, job_kill_timer, job);
	method_timeval(job->stop_timeout, &tv);
	evtimer_add(job->kill_timer, &tv);
}

/*
 * Stops a job as terminate (SIGTERM, SIGKILL after stop_timeout) or kill
 * (SIGKILL now) does, and no restart follows. A job whose process has
 * exited is left alone, but a restart it waits for is cancelled; a second
 * terminate keeps the first deadline.
 */
void
job_stop(struct job *job, int signo)
{
	if (job->state == PROTO_RESTARTING) {
		job->flags |= JOB_STOP_ASKED;
		job_transition(job, JOB_EVENT_STOP, 0);
		return;
	}
	if (!jobstate_alive(job->state))
		return;
	job->flags |= JOB_STOP_ASKED;
	if (job->flags & JOB_KILLED)
		return;
	if (signo == SIGKILL) {
		if (job->kill_timer != NULL)
			evtimer_del(job->kill_timer);
		job->flags |= JOB_KILLED;
		job_kill_all(job, SIGKILL);
	} else
		job_terminate(job);
	job_transition(job, JOB_EVENT_STOP, 0);
}

/* Stops a job and every descendant job (recursive terminate and kill). */
void
job_stop_tree(struct job *job, int signo)
{
	struct job	*child;

	job_stop(job, signo);
	TAILQ_FOREACH(child, &job->children, child_entry)
		job_stop_tree(child, signo);
}

/*
 * procd's own stop: every job with a live process, and every restart
 * still to come is cancelled. A job finishing may finish its parent, but
 * never closes a record, so the walk stays valid.
 */
void
job_stop_all(int signo)
{
	struct job	*job;

	TAILQ_FOREACH(job, &jobs, entry)
		job_stop(job, signo);
}

/*
 * Sends a signal for the signal method: to the process, or its group.
 * Returns 0 (also when the process is already gone) or -1.
 */
int
job_signal(struct job *job, int signo, int group)
{
	/* A tree's leftovers are still there once its process is reaped. */
	if (group)
		return (job_kill_all(job, signo));
	if (job->flags & JOB_REAPED)
		return (0);
	if (kill(job->pid, signo) == -1 && errno != ESRCH) {
		log_warn("job %lld (%s): kill %d", job->id, job->name, signo);
		return (-1);
	}
	return (0);
}

/*
 * The process is gone and, for a tree, so is everything it started: the
 * policy decides between a restart and the end (waiting or exited).
 */
static void
job_exit_settled(struct job *job, enum job_event event)
{
	int	cond = 0;

	if (job->kill_timer != NULL)
		evtimer_del(job->kill_timer);
	if (jobstate_restart_wanted(job->restart_policy, job->exitcode,
	    (job->flags & JOB_STOP_ASKED) || procd_stopping, job->restarts,
	    job->restart_limit)) {
		/* How long the last process ran. */
		restart_schedule(job, time_since(CLOCK_MONOTONIC,
		    &job->started_mono));
		cond |= JOBSTATE_RESTART;
		/* No process is ready; the next must say so again. */
		if (job->notify)
			job->ready = 0;
	}
	job_transition(job, event, cond);
}

/*
 * The process of job was reaped with status. Daemon children are torn
 * down; a tree job's leftovers are stopped and waited for; then a
 * restart, or the job waits for its other children.
 */
void
job_reaped(struct job *job, int status, const struct rusage *ru)
{
	struct job	*child;

	job->flags |= JOB_REAPED | JOB_EXITED_ONCE;
	HASH_DELETE(hh_pid, job_by_pid, job);
	if (WIFSIGNALED(status))
		job->exitcode = -WTERMSIG(status);
	else
		job->exitcode = WEXITSTATUS(status);
	clock_gettime(CLOCK_REALTIME, &job->exited_at);
	job->usage = *ru;
	if (job->tree)
		cgroup_usage(job);
	job_changed(job);
	log_debug("job %lld (%s): pid %ld exited %d", job->id, job->name,
	    (long)job->pid, job->exitcode);

	TAILQ_FOREACH(child, &job->children, child_entry) {
		if (child->daemon)
			job_stop(child, SIGTERM);
	}
	output_reaped(job);
	/* Not knowing counts as not empty: see job_kill_timer. */
	if (job->tree && cgroup_populated(job) != 0) {
		/* As systemd's KillMode=control-group: the work ends too. */
		job->cg_waiting = 1;
		if (!(job->flags & JOB_KILLED))
			job_terminate(job);
		else if (job->kill_timer == NULL ||
		    !evtimer_pending(job->kill_timer, NULL))
			job_tree_recheck(job);
		job_transition(job, JOB_EVENT_EXIT, JOBSTATE_LEFTOVERS);
	} else {
		if (job->kill_timer != NULL)
			evtimer_del(job->kill_timer);
		job_exit_settled(job, JOB_EVENT_EXIT);
	}
	ready_exited(job);
	procd_check_done();
}

/* A tree job's cgroup emptied: what its process left has ended. */
void
job_tree_empty(struct job *job)
{
	if (!job->cg_waiting)
		return;
	job->cg_waiting = 0;
	cgroup_usage(job);
	job_changed(job);
	job_exit_settled(job, JOB_EVENT_EMPTY);
	procd_check_done();
}

/* A restart's process runs. */
void
job_respawned(struct job *job, pid_t pid)
{
	job->pid = pid;
	HASH_ADD(hh_pid, job_by_pid, pid, sizeof job->pid, job);
	job->flags &= ~(JOB_REAPED | JOB_KILLED | JOB_EXITED_ONCE);
	clock_gettime(CLOCK_REALTIME, &job->started_at);
	clock_gettime(CLOCK_MONOTONIC, &job->started_mono);
	memset(&job->usage, 0, sizeof job->usage);
	free(job->error_text);
	job->error_text = NULL;
	if (job->notify)
		job->ready = 0;
	log_info("job %lld (%s): restarted (%lld), pid %ld", job->id,
	    job->name, job->restarts, (long)pid);
	job_transition(job, JOB_EVENT_SPAWNED, 0);
}

/*
 * A restart's program could not be run: that counts as a process that
 * failed at once with 127, and the policy goes on.
 */
void
job_respawn_failed(struct job *job, const char *cause)
{
	log_warnx("job %lld (%s): restart %lld failed: %s", job->id,
	    job->name, job->restarts, cause);
	job->exitcode = 127;
	job->flags |= JOB_EXITED_ONCE;
	clock_gettime(CLOCK_REALTIME, &job->exited_at);
	clock_gettime(CLOCK_MONOTONIC, &job->started_mono);
	memset(&job->usage, 0, sizeof job->usage);
	free(job->error_text);
	job->error_text = job_quote(cause);
	job_changed(job);
	job_exit_settled(job, JOB_EVENT_EXEC_FAILED);
}

/* job is now exited: answer its joins and let its parent finish. */
static void
job_finished(struct job *job)
{
	struct request	*req;
	struct job	*parent;

	while ((req = TAILQ_FIRST(&job->waiters)) != NULL)
		method_join_answer(req, 0);
	output_check_done(job);
	if (job->cg_fd != -1)
		cgroup_job_remove(job);
	if ((parent = job->parent) != NULL)
		job_transition(parent, JOB_EVENT_CHILD, 0);
}

/* Releases an exited job's record. */
void
job_close(struct job *job)
{
	struct job	*child;

	log_debug("job %lld (%s): closed", job->id, job->name);
	feed_emit("closed", job);
	TAILQ_FOREACH(child, &job->children, child_entry)
		child->parent = NULL;
	if (job->parent != NULL) {
		TAILQ_REMOVE(&job->parent->children, job, child_entry);
		job_changed(job->parent);
	}
	HASH_DELETE(hh_id, job_by_id, job);
	HASH_DELETE(hh_name, job_by_name, job);
	TAILQ_REMOVE(&jobs, job, entry);
	jobs_count--;
	jobs_state_count[job->state]--;
	job->owner->jobs--;
	job->owner->state_count[job->state]--;
	notify_jobs_changed();
	job_free(job);
}

/* How many jobs still have a process. */
u_int
job_alive_count(void)
{
	return (jobs_state_count[PROTO_RUNNING] +
	    jobs_state_count[PROTO_STOPPING_STATE]);
}

/* The job changed: its cached text is stale. */
void
job_changed(struct job *job)
{
	job_text_release(job->text);
	job->text = NULL;
}

/*
 * A job's text is counted: the events that carry it (feed.c) hold the
 * same bytes as the job's cache until the job changes, so a job costs
 * its text once, not once more for each event kept.
 */
struct job_shared_text {
	u_int	refs;
	char	text[];
};

static struct job_shared_text *
job_text_header(const char *text)
{
	return ((struct job_shared_text *)(text -
	    offsetof(struct job_shared_text, text)));
}

/* A counted copy of the len bytes of text, held once. */
char *
job_text_copy(const char *text, size_t len)
{
	struct job_shared_text	*t;

	t = xmalloc(sizeof *t + len + 1);
	t->refs = 1;
	memcpy(t->text, text, len);
	t->text[len] = '\0';
	return (t->text);
}

/* job's text, held once more: job_text_release lets it go. */
char *
job_text_hold(struct job *job)
{
	char	*text = (char *)job_text(job, NULL);

	job_text_header(text)->refs++;
	return (text);
}

void
job_text_release(char *text)
{
	struct job_shared_text	*t;

	if (text == NULL)
		return;
	t = job_text_header(text);
	if (--t->refs == 0)
		free(t);
}

/* s as a JSON string, quotes included. */
char *
job_quote(const char *s)
{
	char	*out;
	size_t	 n;

	out = xmalloc(proto_json_quote_bound(strlen(s)) + 2);
	out[0] = '"';
	n = proto_json_quote(s, strlen(s), out + 1);
	out[n + 1] = '"';
	out[n + 2] = '\0';
	return (out);
}

static void
job_text_usage(const struct job *job, struct evbuffer *b)
{
	const struct rusage	*ru = &job->usage;

	/* rusage counts microseconds, so six decimals are exact. */
	evbuffer_add_printf(b, "{\"user\":%ld.%06ld,\"system\":%ld.%06ld,"
	    "\"maxrss\":%ld}", (long)ru->ru_utime.tv_sec,
	    (long)ru->ru_utime.tv_usec, (long)ru->ru_stime.tv_sec,
	    (long)ru->ru_stime.tv_usec, ru->ru_maxrss);
}

static void
job_text_null_or(struct evbuffer *b, const char *name, const char *json)
{
	evbuffer_add_printf(b, ",\"%s\":%s", name, json != NULL ? json :
	    "null");
}

/* The fields of sections 10-12: restart, readiness, kill mode. */
static void
job_text_supervision(const struct job *job, struct evbuffer *b)
{
	char	t[40];

	evbuffer_add_printf(b, ",\"restart\":\"%s\",\"restarts\":%lld,"
	    "\"restart_at\":", jobstate_policy_name(job->restart_policy),
	    job->restarts);
	if (job->state == PROTO_RESTARTING)
		evbuffer_add_printf(b, "\"%s\"", time_rfc3339(&job->restart_at,
		    t, sizeof t));
	else
		evbuffer_add(b, "null", 4);
	job_text_null_or(b, "error", job->error_text);
	job_text_null_or(b, "ready", !job->notify ? NULL : job->ready ?
	    "true" : "false");
	job_text_null_or(b, "status_text", job->status_text);
	evbuffer_add_printf(b, ",\"kill_mode\":\"%s\"", job->tree ? "tree" :
	    "group");
}

static void
job_text_build(struct job *job)
{
	const struct job	*child;
	struct evbuffer		*b;
	char			 t[40];
	const char		*sep = "";
	int			 reaped = job->flags & JOB_EXITED_ONCE;

	if ((b = evbuffer_new()) == NULL)
		fatalx("%s: evbuffer_new failed", __func__);
	evbuffer_add_printf(b, "{\"id\":%lld,\"name\":%s,\"argv\":%s,"
	    "\"cwd\":%s,\"pid\":%ld,\"ppid\":%ld,\"parent\":", job->id,
	    job->name_text, job->argv_text, job->cwd_text, (long)job->pid,
	    (long)procd_pid);
	if (job->parent_id != 0)
		evbuffer_add_printf(b, "%lld", job->parent_id);
	else
		evbuffer_add(b, "null", 4);
	evbuffer_add(b, ",\"children\":[", 13);
	TAILQ_FOREACH(child, &job->children, child_entry) {
		evbuffer_add_printf(b, "%s%lld", sep, child->id);
		sep = ",";
	}
	evbuffer_add_printf(b, "],\"daemon\":%s,\"state\":\"%s\",\"exitcode\":",
	    job->daemon ? "true" : "false", proto_state_name(job->state));
	if (reaped)
		evbuffer_add_printf(b, "%d", job->exitcode);
	else
		evbuffer_add(b, "null", 4);
	evbuffer_add_printf(b, ",\"uid\":%lu,\"gid\":%lu,\"user\":%s,"
	    "\"started_at\":\"%s\",\"exited_at\":", (unsigned long)job->uid,
	    (unsigned long)job->gid, job->user_text,
	    time_rfc3339(&job->started_at, t, sizeof t));
	if (reaped) {
		evbuffer_add_printf(b, "\"%s\",\"usage\":",
		    time_rfc3339(&job->exited_at, t, sizeof t));
		job_text_usage(job, b);
	} else
		evbuffer_add(b, "null,\"usage\":null", 17);
	job_text_supervision(job, b);
	evbuffer_add(b, "}", 1);

	job->textlen = evbuffer_get_length(b);
	job->text = job_text_copy((const char *)evbuffer_pullup(b, -1),
	    job->textlen);
	evbuffer_free(b);
}

/*
 * The job object as every method returns it, as JSON text. It is built
 * once per change and shared by every answer and event until the next.
 */
const char *
job_text(struct job *job, size_t *len)
{
	if (job->text == NULL)
		job_text_build(job);
	if (len != NULL)
		*len = job->textlen;
	return (job->text);
}

/* The id the next job gets (for the handoff). */
void
job_set_next_id(long long id)
{
	job_next_id = id;
}

/*
 * Enters a handed-over job into the table as the previous image had it:
 * no event, nothing signalled. Its parent, if not closed, is in already
 * (a parent's id is always the smaller). kill_left >= 0: the stop
 * deadline (or a tree's next look) still counting.
 */
void
job_adopt(struct job *job, double kill_left)
{
	struct timeval	tv;

	if (job->parent_id != 0)
		job->parent = job_find_id(job->parent_id);
	job_enter(job);
	if (kill_left >= 0) {
		job->kill_timer = evtimer_new(procd_base, job_kill_timer, job);
		method_timeval(kill_left, &tv);
		evtimer_add(job->kill_timer, &tv);
	}
}
