/* SPDX-License-Identifier: ISC */
/*
 * procd's internal interfaces, grouped by the file that defines them.
 */

#ifndef PROCD_H
#define PROCD_H

#include <sys/types.h>
#include <sys/queue.h>
#include <sys/resource.h>
#include <sys/time.h>

#include <stdarg.h>
#include <stddef.h>
#include <time.h>

#include <event2/event.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <jansson.h>
#include <uthash.h>

#include "proto.h"

/* The version procd reports; a test build gives another (procd-next). */
#ifndef PROCD_VERSION
#define PROCD_VERSION	PACKAGE_VERSION
#endif

/* glibc's sys/queue.h lacks the _SAFE loops. */
#ifndef TAILQ_FOREACH_SAFE
#define TAILQ_FOREACH_SAFE(var, head, field, tvar)			\
	for ((var) = TAILQ_FIRST(head);					\
	    (var) != NULL && ((tvar) = TAILQ_NEXT(var, field), 1);	\
	    (var) = (tvar))
#endif

struct client;
struct client_block;
struct job;
struct request;
struct ucred;

/* procd.c */
struct procd_config {
	const char	*socket_path;
	int		 socket_mode;		/* -1: 0600 */
	gid_t		 socket_gid;		/* (gid_t)-1: unchanged */
	size_t		 max_clients;
	size_t		 max_jobs;
	size_t		 max_jobs_per_user;
	size_t		 max_clients_per_user;
	size_t		 max_request;
	size_t		 max_output;
	size_t		 log_limit;
	size_t		 event_history;
	int		 spawners;		/* spawner processes */
	int		 verbose;
};
extern struct procd_config	 procd_config;
extern struct event_base	*procd_base;
extern pid_t			 procd_pid;
extern struct timespec		 procd_started;
extern struct rlimit		 procd_nofile;	/* as procd was given it */
extern int			 procd_stopping;	/* 0, 1, 2: signals seen */
extern struct timespec		 procd_image_started;
extern long long		 procd_reexecs;
void		 procd_check_done(void);

/* log.c */
void		 log_init(int);
void		 log_warn(const char *, ...)
		     __attribute__((format(printf, 1, 2)));
void		 log_warnx(const char *, ...)
		     __attribute__((format(printf, 1, 2)));
void		 log_info(const char *, ...)
		     __attribute__((format(printf, 1, 2)));
void		 log_debug(const char *, ...)
		     __attribute__((format(printf, 1, 2)));
void		 fatal(const char *, ...)
		     __attribute__((format(printf, 1, 2), noreturn));
void		 fatalx(const char *, ...)
		     __attribute__((format(printf, 1, 2), noreturn));

/* xmalloc.c */
void		*xmalloc(size_t);
void		*xcalloc(size_t, size_t);
void		*xreallocarray(void *, size_t, size_t);
char		*xstrdup(const char *);
int		 xasprintf(char **, const char *, ...)
		     __attribute__((format(printf, 2, 3)));
void		 xfree_strv(char **);
char		*time_rfc3339(const struct timespec *, char *, size_t);
void		 time_from_now(clockid_t, double, struct timespec *);
double		 time_since(clockid_t, const struct timespec *);

/* listen.c */
void		 listen_init(const char *, int);
void		 listen_close(void);
void		 listen_pause(void);
void		 listen_resume(void);
const char	*listen_socket_path(void);
struct listen_handoff {
	int		 fds[16];
	int		 nfds;
	const char	*path;
	int		 owned;		/* procd made the socket file */
	int		 dirfd;		/* its folder, or -1 */
	const char	*name;		/* its name there, or NULL */
	dev_t		 dev;
	ino_t		 ino;
};
int		 listen_peer(int, struct ucred *, gid_t **, size_t *);
void		 listen_handoff_get(struct listen_handoff *);
void		 listen_handoff_set(const struct listen_handoff *);

/* user.c */
struct user {
	uid_t			 uid;
	u_int			 clients;	/* connected */
	u_int			 jobs;		/* records not closed */
	u_int			 state_count[PROTO_NSTATES];

	/* A copy of its user database entry. */
	int			 db_loaded;
	int			 db_found;	/* 0: the uid has no entry */
	time_t			 db_at;
	char			*name;
	char			*home;
	char			*shell;
	gid_t			 db_gid;
	UT_hash_handle		 hh;
};
/* Who a worker runs as. */
struct user_creds {
	int			 change;	/* 0: procd's own credentials */
	uid_t			 uid;
	gid_t			 gid;
	gid_t			*groups;
	size_t			 ngroups;
};
int		 user_procd_is_root(void);
struct user	*user_get(uid_t);
struct user	*user_find(uid_t);
void		 user_release(struct user *);
void		 user_db_load(struct user *);
int		 user_may_act(const struct client *, const struct job *);
int		 user_client_has_group(const struct client *, gid_t);
int		 user_start_creds(const struct client *, const json_t *,
		     const json_t *, struct user_creds *, int *, char **);
void		 user_creds_clear(struct user_creds *);
void		 user_free_all(void);

/* client.c */
struct client {
	u_int			 id;
	struct bufferevent	*bev;
	uid_t			 uid;		/* from SO_PEERCRED */
	gid_t			 gid;
	pid_t			 pid;
	gid_t			*groups;	/* from SO_PEERGROUPS */
	size_t			 ngroups;
	struct user		*user;		/* counts this client */

	int			 flags;
#define CLIENT_DEAD	0x1	/* freed from a deferred event */
#define CLIENT_EOF	0x2	/* peer shut down its writing side */
#define CLIENT_CLOSING	0x4	/* flush what is queued, then close */
#define CLIENT_DISCARD	0x8	/* dropping the rest of an oversized line */
#define CLIENT_BUSY	0x10	/* input left for its next turn */
#define CLIENT_HOLD	0x20	/* after its reexec: the rest is the new image's */

	size_t			 scanned;	/* input known to hold no "\n" */
	size_t			 reserved;	/* output still being built */
	size_t			 discarded;	/* of an oversized line */
	u_int			 npending;	/* parked requests */
	TAILQ_HEAD(, request)	 requests;	/* parked requests, owned */
	TAILQ_HEAD(, subscription) subscriptions; /* owned */
	struct event		*pump;		/* sends event replays */
	struct event		*resume;	/* its next turn, when busy */
	struct batch		*batch;		/* running over turns, owned */
	struct event		*linger;	/* bounds CLIENT_DISCARD */
	struct client_block	*block;		/* see client_queue */
	TAILQ_ENTRY(client)	 entry;
};
TAILQ_HEAD(clients, client);
extern struct clients	 clients;
extern u_int		 clients_count;
void		 client_accept(int, const struct ucred *, gid_t *, size_t);
void		 client_refuse(int, int, const char *);
int		 client_output_over(struct client *, size_t);
void		 client_turn_begin(void);
int		 client_turn_over(void);
void		 client_send(struct client *, json_t *);
void		 client_send_line(struct client *, char *, size_t, int);
void		 client_send_buffer(struct client *, struct evbuffer *);
void		 client_send_data(struct client *, const char *, size_t);
void		 client_following(struct client *);
void		 client_close(struct client *);
void		 client_request_done(struct client *);
int		 client_flush_all(void);
void		 client_free_all(void);
int		 client_quiesce(struct client *);
void		 client_hold(struct client *);
void		 client_flush(struct client *);
void		 client_kick(struct client *);
u_int		 client_next_id_get(void);
void		 client_next_id_set(u_int);
struct client	*client_adopt(int, u_int, int, size_t, const void *, size_t,
		     const void *, size_t);
void		 client_adopted(struct client *);

/* request.c */
struct batch {
	struct client		*client;
	struct evbuffer		*out;	/* the answers so far, comma-separated */
	u_int			 outstanding;
	struct proto_message	 msg;	/* the requests, decoded */
	size_t			 next;	/* the next one to execute */
};

TAILQ_HEAD(requests, request);
struct request {
	struct client			*client;
	json_t				*id;	/* NULL: notification */
	char				*idtext; /* id as JSON text */
	json_t				*params;
	const struct method_entry	*method;
	struct batch			*batch;
	int				 flags;
#define REQUEST_PARKED	0x1	/* on its client's list of requests */
#define REQUEST_UNPARKED 0x2	/* was, and is being answered */

	/* A parked request (join, logs): the job, the job's list it is
	 * on, and its timeout. */
	struct job			*job;
	struct requests			*queue;
	struct event			*timer;

	/* logs with follow */
	int				 follow_streams;
	int				 follow_base64;
	int				 follow_truncated;
	u_int				 follow_tick;	/* see output.c */
	struct logreply			*reply;	/* being built, owned */
	struct proto_utf8		 follow_utf8[2];
	TAILQ_ENTRY(request)		 job_entry;
	TAILQ_ENTRY(request)		 client_entry;
};
void		 request_line(struct client *, const char *, size_t);
int		 request_batch_resume(struct client *);
void		 request_batch_abandon(struct client *);
struct batch	*request_batch_new(struct client *);
size_t		 request_reply_overhead(const struct request *);
enum method_return request_reply_buffer(struct request *, struct evbuffer *);
enum method_return request_reply(struct request *, json_t *);
enum method_return request_reply_text(struct request *, const char *,
		     const char *, size_t, const char *);
enum method_return request_reply_job(struct request *, struct job *);
enum method_return request_error(struct request *, int, const char *, ...)
		     __attribute__((format(printf, 3, 4)));
enum method_return request_error_data(struct request *, int, json_t *,
		     const char *, ...)
		     __attribute__((format(printf, 4, 5)));
void		 request_park(struct request *);
enum method_return request_park_job(struct request *, struct job *,
		     struct requests *, double, event_callback_fn);
void		 request_free(struct request *);

/* method.c */
enum method_return {
	METHOD_DONE,	/* answered */
	METHOD_WAIT,	/* parked; answered later */
};

struct method_entry {
	const struct proto_method	*proto;	/* name, params, result */
	int				 flags;
#define METHOD_NOTIFY_NOOP	0x1	/* does nothing as a notification */
#define METHOD_SPAWNS_OUT	0x2	/* may run while spawns are out */
	enum method_return		(*exec)(struct request *);
};
const struct method_entry *method_find(const char *);
struct job	*method_job(struct request *, const char *);
int		 method_may_act(struct request *, const struct job *);
void		 method_job_not_found(struct request *, const json_t *);
json_t		*method_param(struct request *, const char *);
int		 method_bool(struct request *, const char *, int);
double		 method_seconds(struct request *, const char *, double);
const char	*method_string(struct request *, const char *);
void		 method_timeval(double, struct timeval *);

extern const struct method_entry method_start_entry;
extern const struct method_entry method_join_entry;
extern const struct method_entry method_terminate_entry;
extern const struct method_entry method_kill_entry;
extern const struct method_entry method_signal_entry;
extern const struct method_entry method_close_entry;
extern const struct method_entry method_status_entry;
extern const struct method_entry method_list_entry;
extern const struct method_entry method_info_entry;
extern const struct method_entry method_logs_entry;
extern const struct method_entry method_subscribe_entry;
extern const struct method_entry method_unsubscribe_entry;

/* method-start.c */
void		 method_start_spawned(struct job *, struct request *, int,
		     pid_t, char *, json_t *);

/* method-join.c */
void		 method_join_answer(struct request *, int);
void		 method_join_timeout(int, short, void *);

/* method-reexec.c */
extern int	 handoff_pending;	/* a reexec is about to happen */
extern const struct method_entry method_reexec_entry;
extern const struct method_entry method_discover_entry;
struct handoff_loaded;
void		 reexec_init(int, char **);
void		 reexec_free(void);
int		 reexec_pending(void);
const char	*reexec_program(void);
void		 reexec_set_program(const char *);
void		 reexec_run(void);
int		 reexec_reaped(pid_t, int);
void		 reexec_answer(struct handoff_loaded *, const char *);
void		 reexec_give_back(int, int, const char *)
		     __attribute__((noreturn));

/* handoff.c */
#define HANDOFF_FORMAT_1	"procd-handoff-1"	/* JSON; read only */
#define HANDOFF_FORMAT_2	"procd-handoff-2"
#define HANDOFF_FORMAT		HANDOFF_FORMAT_2	/* the one written */
extern const char *const handoff_formats[];
struct handoff_loaded {
	int		 own;		/* given back: this image wrote it */
	struct requests	 reexecs;	/* to answer */
	char		*previous_version;
};
int		 handoff_save(int **, size_t *, char *, size_t);
int		 handoff_load(int, struct handoff_loaded *, char *, size_t);
void		 handoff_settle(void);
int		 handoff_check_file(const char *, const char **, char *,
		     size_t);
int		 handoff_check_buffer(const char *, size_t, char *, size_t);

/* jobstate.c: the lifecycle table and the restart policy, pure. */
enum job_event {
	JOB_EVENT_STOP,		/* a stop was asked for, or a restart cancelled */
	JOB_EVENT_EXIT,		/* the process was reaped */
	JOB_EVENT_EMPTY,	/* a tree job's cgroup emptied after the exit */
	JOB_EVENT_SPAWNED,	/* a restart's process runs */
	JOB_EVENT_EXEC_FAILED,	/* a restart's program could not be run */
	JOB_EVENT_CHILD,	/* a child job finished */
};
/* Conditions a rule may require or exclude. */
#define JOBSTATE_CHILDREN	0x1	/* some child job is unfinished */
#define JOBSTATE_RESTART	0x2	/* the policy restarts this exit */
#define JOBSTATE_LEFTOVERS	0x4	/* the tree still has processes */
struct jobstate_rule {
	enum proto_state	 from;
	enum job_event		 event;
	int			 when;
	int			 unless;
	enum proto_state	 to;
	const char		*emit;
};
#define JOB_RESTART_NO		0
#define JOB_RESTART_ON_FAILURE	1
#define JOB_RESTART_ALWAYS	2
#define JOBSTATE_STEADY		10.0	/* seconds of run that reset the delay */
const struct jobstate_rule *jobstate_find(enum proto_state, enum job_event,
		     int);
enum proto_state jobstate_next(enum proto_state, enum job_event, int);
int		 jobstate_alive(enum proto_state);
int		 jobstate_policy_parse(const char *);
const char	*jobstate_policy_name(int);
int		 jobstate_restart_wanted(int, int, int, long long, long long);
double		 jobstate_restart_delay(double *, double, double, double);

/* logbuf.c */
#define LOG_STDOUT	0
#define LOG_STDERR	1
struct log_record;
TAILQ_HEAD(log_records, log_record);
struct logbuf {
	struct log_records	 records;
	size_t			 size;
	size_t			 limit;
	int			 truncated;
};
void		 logbuf_init(struct logbuf *, size_t);
void		 logbuf_clear(struct logbuf *);
void		 logbuf_append(struct logbuf *, int, const char *, size_t);
char		*logbuf_reserve(struct logbuf *, int, size_t, size_t *);
const char	*logbuf_commit(struct logbuf *, size_t);
/* How much of the retained output a walk may cover, as JSON text. */
struct logbuf_bound {
	size_t		 budget;	/* bytes */
	size_t		 overhead;	/* bytes per piece */
	int		 per_record;	/* a piece: a record, else a run */
	int		 base64;
};
typedef void	(*logbuf_cb)(int, const char *, size_t, int, void *);
const char	*logbuf_stream_name(int);
int		 logbuf_walk(const struct logbuf *, int, long long,
		     const struct logbuf_bound *, logbuf_cb, void *);
void		 logbuf_each(const struct logbuf *, void (*)(int, const char *,
		     size_t, void *), void *);

/* output.c */
extern u_int	 output_streams_open;
int		 output_mode_parse(const char *);
void		 output_init(struct job *, int, size_t);
int		 output_pipes(struct job *, int [2]);
void		 output_abort(struct job *, int [2]);
void		 output_started(struct job *, int [2]);
int		 output_open_streams(const struct job *);
void		 output_data(struct evbuffer *, const char *, size_t, int,
		     struct proto_utf8 *, int);
size_t		 output_notify_overhead(const struct request *);
void		 output_notify(struct request *, int, const char *, size_t,
		     int);
void		 output_check_done(struct job *);
void		 output_reaped(struct job *);
void		 output_drain(struct job *);
void		 output_free(struct job *);
void		 output_adopt(struct job *, int [2], double);

/* logreply.c: the records logs sends at once, built over turns */
struct logreply;
void		 logreply_records(struct request *, struct job *, int,
		     long long, size_t);
void		 logreply_replay(struct request *, struct job *, long long,
		     size_t);
int		 logreply_live(struct request *, int, const char *, size_t,
		     int);
int		 logreply_flush(struct request *);
void		 logreply_free(struct logreply *);
void		 logreply_complete(struct request *);

/* job.c */
struct job {
	long long		 id;
	char			*name;
	json_t			*argv;
	char			*cwd;
	char			*name_text;	/* as JSON strings */
	char			*argv_text;
	char			*cwd_text;
	char			*text;		/* the job object; NULL: stale */
	size_t			 textlen;
	pid_t			 pid;
	uid_t			 uid;		/* the owner */
	gid_t			 gid;		/* the worker's primary group */
	struct user		*owner;		/* counts this job */
	char			*user_text;	/* owner's name as JSON, or null */
	int			 daemon;
	double			 stop_timeout;

	enum proto_state	 state;
	int			 exitcode;	/* valid once reaped */
	int			 flags;
#define JOB_REAPED	0x1	/* pid is gone: never signal it again */
#define JOB_KILLED	0x2	/* SIGKILL sent */
#define JOB_STOP_ASKED	0x4	/* a stop was asked for: no restart */
#define JOB_EXITED_ONCE	0x8	/* exitcode, exited_at, usage are set */
#define JOB_TREE_RECHECK_SEC	1	/* a tree's SIGKILL, again while populated */

	struct timespec		 started_at;
	struct timespec		 started_mono;	/* how long it ran */
	struct timespec		 exited_at;
	struct rusage		 usage;
	struct event		*kill_timer;
	char			*error_text;	/* as JSON, or NULL */

	/* What a restart needs to spawn the process again. */
	json_t			*env;
	struct user_creds	 creds;		/* owned */

	/* restart.c */
	int			 restart_policy;	/* JOB_RESTART_* */
	double			 restart_delay;
	double			 restart_max_delay;
	double			 restart_last_delay;	/* -1: none yet */
	long long		 restart_limit;		/* -1: none */
	long long		 restarts;
	struct timespec		 restart_at;		/* while restarting */
	struct event		*restart_timer;
	int			 restart_due;		/* on the due queue */
	TAILQ_ENTRY(job)	 restart_entry;

	/* ready.c */
	int			 notify;
	int			 ready;
	char			*status_text;	/* as JSON, or NULL */
	struct requests		 ready_waiters;	/* start with wait_ready */
	struct event		*ready_timer;	/* ready_timeout */

	/* cgroup.c: kill_mode tree */
	int			 tree;
	int			 cg_fd;		/* its folder; -1: none */
	int			 cg_wd;		/* inotify watch; -1: none */
	int			 cg_events;	/* its cgroup.events, kept open */
	int			 cg_kill;	/* its cgroup.kill, kept open */
	int			 cg_waiting;	/* reaped, waiting for empty */
	int			 cg_killed;	/* cgroup.kill was written */
	unsigned long long	 cg_user_base;	/* cpu.stat at the start */
	unsigned long long	 cg_system_base;
	UT_hash_handle		 hh_cg;

	long long		 parent_id;	/* 0: none */
	struct job		*parent;	/* NULL once the parent is closed */
	TAILQ_HEAD(, job)	 children;
	TAILQ_ENTRY(job)	 child_entry;

	struct requests		 waiters;	/* parked joins */

	int			 out_mode;
#define OUTPUT_CAPTURE	0
#define OUTPUT_INHERIT	1
#define OUTPUT_NULL	2
	int			 out_fd[2];	/* read ends; -1: closed */
	int			 out_grown[2];	/* grown size; -1: refused */
	struct event		*out_ev[2];
	struct event		*out_grace;
	struct logbuf		 log;
	struct requests		 followers;	/* parked logs -f */

	TAILQ_ENTRY(job)	 entry;		/* all jobs, by id */
	UT_hash_handle		 hh_id;
	UT_hash_handle		 hh_name;
	UT_hash_handle		 hh_pid;
};
TAILQ_HEAD(jobs, job);
extern struct jobs	 jobs;
extern u_int		 jobs_count;
extern u_int		 jobs_state_count[PROTO_NSTATES];
struct job	*job_find_id(long long);
struct job	*job_find_name(const char *);
struct job	*job_find_pid(pid_t);
struct job	*job_lookup(const json_t *);
struct job	*job_new(long long, const char *, json_t *, char *,
		     const char *, struct user *, gid_t);
struct job	*job_create(json_t *, const char *, const char *,
		     struct user_creds *, int, double, struct job *);
long long	 job_last_id(void);
void		 job_set_next_id(long long);
void		 job_adopt(struct job *, double);
void		 job_started(struct job *, pid_t);
void		 job_renumber(struct job *, int);
void		 job_discard(struct job *);
void		 job_stop(struct job *, int);
void		 job_stop_tree(struct job *, int);
void		 job_stop_all(int);
int		 job_signal(struct job *, int, int);
void		 job_reaped(struct job *, int, const struct rusage *);
void		 job_tree_empty(struct job *);
void		 job_respawned(struct job *, pid_t);
void		 job_respawn_failed(struct job *, const char *);
void		 job_changed(struct job *);
char		*job_quote(const char *);
void		 job_close(struct job *);
const char	*job_text(struct job *, size_t *);
char		*job_text_copy(const char *, size_t);
char		*job_text_hold(struct job *);
void		 job_text_release(char *);
u_int		 job_alive_count(void);

/* spawn-child.c: between clone and exec; see the file for its rules */
enum spawn_step {
	SPAWN_STEP_SIGNALS,
	SPAWN_STEP_CGROUP,
	SPAWN_STEP_SETSID,
	SPAWN_STEP_FDS,
	SPAWN_STEP_GROUPS,
	SPAWN_STEP_GID,
	SPAWN_STEP_UID,
	SPAWN_STEP_PDEATHSIG,
	SPAWN_STEP_RLIMIT,
	SPAWN_STEP_CHDIR,
	SPAWN_STEP_EXEC,
};
struct spawn_child {
	const char	*path;
	char *const	*argv;
	char *const	*envp;
	const char	*cwd;
	int		 stdin_fd;
	int		 stdout_fd;	/* -1: procd's own */
	int		 stderr_fd;	/* -1: procd's own */
	const struct user_creds *creds;	/* NULL: procd's own */
	struct rlimit	 nofile;	/* the worker's RLIMIT_NOFILE */
	int		 cgroup_fd;	/* -1: procd's own cgroup */
	int		 cgroup_no_clone3;	/* write cgroup.procs instead */
	int		 cgroup_procs;	/* set by spawn_child_run */
	int		 report;	/* set by spawn_child_run */
	pid_t		 parent;	/* set by spawn_child_run */
	int		 clone_parent;	/* a spawner's: the child is procd's */
};
void		 spawn_child_init(void);
void		 spawn_child_free(void);
pid_t		 spawn_child_run(struct spawn_child *, int *);
const char	*spawn_child_step_name(int);

/* spawn.c */
void		 spawn_init(void);
void		 spawn_free(void);
pid_t		 spawn_job(struct job *, char **, json_t **);
void		 spawn_defer_begin(void);
void		 spawn_defer_end(void);
void		 spawn_defer_more(int);
void		 spawn_defer_flush(void);
u_int		 spawn_pending(void);
struct job	*spawn_pending_find(const char *);
struct requests	*spawn_job_defer(struct job *, int, int);
void		 spawn_answered(int);

/* spawner.c: helper processes that spawn while procd's loop goes on */
#define PROCD_SPAWNERS_MAX	16
void		 spawner_init(int);
void		 spawner_free(void);
void		 spawner_drop(int);
int		 spawner_available(void);
int		 spawner_idle(void);
int		 spawner_send(int, const struct spawn_child *);
pid_t		 spawner_wait(int, int *);

/* restart.c: restart schedules, and restarts spawned a turn at a time */
void		 restart_init(void);
void		 restart_free(void);
void		 restart_schedule(struct job *, double);
void		 restart_cancel(struct job *);
void		 restart_resume(struct job *, double, int);

/* ready.c: the socket notify jobs report readiness to */
void		 ready_init(void);
void		 ready_free(void);
const char	*ready_socket_env(void);
void		 ready_adopt(int);
int		 ready_socket_fd(void);
void		 ready_timer_resume(struct job *, double);
enum method_return ready_wait(struct request *, struct job *, double);
void		 ready_exited(struct job *);

/* cgroup.c: kill_mode tree */
void		 cgroup_init(const char *);
void		 cgroup_free(void);
int		 cgroup_available(const char **);
int		 cgroup_job_create(struct job *);
void		 cgroup_job_started(struct job *);
int		 cgroup_signal(struct job *, int);
int		 cgroup_populated(struct job *);
void		 cgroup_usage(struct job *);
void		 cgroup_job_remove(struct job *);
struct job	*cgroup_find_pid(pid_t);
struct cgroup_handoff {
	int		 ok;
	const char	*why;
	const char	*root;
	const char	*rel;
	int		 fd;		/* the subtree, locked; -1: none */
	int		 have_kill;
};
void		 cgroup_handoff_get(struct cgroup_handoff *);
void		 cgroup_handoff_set(const struct cgroup_handoff *);
int		 cgroup_job_adopt(struct job *);

/* reap.c */
void		 reap_init(void);
void		 reap_free(void);

/* orphan.c: what jobs left behind, stopped on a clean stop */
void		 orphan_init(void);
size_t		 orphan_stop_all(void);
void		 orphan_kill_all(void);
void		 orphan_free(void);

/* feed.c: job events and subscriptions */
struct subscription;
void		 feed_init(void);
void		 feed_free(void);
void		 feed_emit(const char *, struct job *);
long long	 feed_last_seq(void);
long long	 feed_subscribe(struct client *, long long *, size_t,
		     long long);
int		 feed_unsubscribe(struct client *, long long);
void		 feed_client_gone(struct client *);
void		 feed_pump(struct client *);
const char	*feed_type_known(const char *);
typedef void	(*feed_record_cb)(long long, const char *, long long, uid_t,
		     const char *, void *);
typedef void	(*feed_subscription_cb)(long long, const long long *, size_t,
		     long long, void *);
void		 feed_handoff_get(long long *, long long *);
void		 feed_handoff_each(feed_record_cb, void *);
void		 feed_handoff_set(long long, long long);
void		 feed_handoff_record(long long, const char *, long long, uid_t,
		     const char *);
void		 feed_handoff_subscriptions(struct client *,
		     feed_subscription_cb, void *);
void		 feed_handoff_subscribe(struct client *, long long,
		     long long *, size_t, long long);

/* notify.c */
void		 notify_init(void);
void		 notify_free(void);
void		 notify_ready(void);
void		 notify_stopping(void);
void		 notify_reloading(void);
void		 notify_jobs_changed(void);

#endif /* PROCD_H */
