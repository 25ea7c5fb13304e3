/* SPDX-License-Identifier: ISC */
/*
 * The procd wire protocol, shared by procd, procctl and the tests: socket
 * path resolution, line framing, JSON-RPC 2.0 envelopes and their
 * validation, error codes, parameter checks and job field names. It knows
 * JSON and bytes, never the event loop.
 */

#ifndef PROTO_H
#define PROTO_H

#include <sys/types.h>

#include <stddef.h>
#include <jansson.h>

#define PROTO_VERSION		"1.1"	/* the version of the protocol spoken */

/* Defaults of the daemon's limits (see procd(8)). */
#define PROTO_MAX_REQUEST	(1024 * 1024)
#define PROTO_MAX_OUTPUT	(16 * 1024 * 1024)
#define PROTO_MAX_CLIENTS	1024
#define PROTO_MAX_JOBS		65536
#define PROTO_MAX_JOBS_PER_USER	4096
#define PROTO_MAX_CLIENTS_PER_USER 128
#define PROTO_STOP_TIMEOUT	10.0
#define PROTO_MAX_LOG_LIMIT	(1024LL * 1024 * 1024)	/* a job's log_limit */
/* Largest timeout or stop_timeout accepted, in seconds (about 31 years). */
#define PROTO_MAX_SECONDS	1e9
#define PROTO_RESTART_DELAY	1.0	/* restart_delay, seconds */
#define PROTO_RESTART_MAX_DELAY	60.0	/* restart_max_delay */

/* Error codes. */
#define PROTO_PARSE_ERROR	-32700
#define PROTO_INVALID_REQUEST	-32600
#define PROTO_METHOD_NOT_FOUND	-32601
#define PROTO_INVALID_PARAMS	-32602
#define PROTO_INTERNAL_ERROR	-32603
#define PROTO_JOB_NOT_FOUND	-32001
#define PROTO_JOB_RUNNING	-32002
#define PROTO_NAME_IN_USE	-32003
#define PROTO_PERMISSION	-32004
#define PROTO_SPAWN_FAILED	-32005
#define PROTO_INVALID_PARENT	-32006
#define PROTO_LIMIT		-32007
#define PROTO_STOPPING		-32008

/* Job states, in lifecycle order. */
enum proto_state {
	PROTO_RUNNING,
	PROTO_STOPPING_STATE,
	PROTO_RESTARTING,
	PROTO_WAITING,
	PROTO_EXITED,
};
#define PROTO_NSTATES		5

/* code.c */
const char	*proto_code_message(int);
const char	*proto_state_name(enum proto_state);
int		 proto_state_parse(const char *);

/* path.c */
char		*proto_socket_path(const char *);
int		 proto_socket_path_chosen(const char *);
int		 proto_peer_trusted(int, uid_t *);
int		 proto_connect(const char *, int);

/*
 * frame.c: find the next line in buf. Returns 1 and sets *linelen (the
 * line without "\r\n") and *used (bytes to drain, with the "\n"); 0 when
 * no complete line is buffered yet; -1 when the line is, or will be,
 * longer than max.
 */
int		 proto_frame_next(const char *, size_t, size_t, size_t *,
		     size_t *);
/* frame.c: 1 if a line holds only JSON whitespace (nothing to answer). */
int		 proto_frame_blank(const char *, size_t);

/*
 * decode.c: one decoded line. A line is a single request or a batch; every
 * entry is either valid (error == 0) or carries the error it is to be
 * answered with. parse_error is set when the line is not JSON at all.
 */
struct proto_request {
	json_t		*id;		/* borrowed; NULL: no id member */
	const char	*method;	/* borrowed; NULL when invalid */
	json_t		*params;	/* borrowed object or array; NULL: absent */
	int		 error;		/* 0 or the code to answer with */
	const char	*message;	/* static text with error */
};

struct proto_message {
	json_t			*root;		/* owns what the entries borrow */
	int			 parse_error;	/* 1: not JSON (-32700) */
	int			 batch;		/* 1: the line was an array */
	size_t			 nrequests;
	struct proto_request	*requests;
};

int		 proto_decode(const char *, size_t, struct proto_message *);
/* True for what decode puts where a number too large to hold was. */
int		 proto_out_of_range(const json_t *);
void		 proto_message_clear(struct proto_message *);
int		 proto_request_is_notification(const struct proto_request *);

/*
 * encode.c: envelopes. Each takes a reference to id (NULL means null) and
 * steals result, params and data.
 */
json_t		*proto_request_new(const char *, json_t *, json_t *);
json_t		*proto_notification_new(const char *, json_t *);
json_t		*proto_result_new(json_t *, json_t *);
json_t		*proto_error_new(json_t *, int, const char *, json_t *);
/* Compact JSON plus "\n", malloc'd; NULL on failure. */
char		*proto_encode(const json_t *, size_t *);
char		*proto_dump(const json_t *);
size_t		 proto_json_quote(const char *, size_t, char *);
size_t		 proto_json_text_cost(unsigned char);
size_t		 proto_json_quote_bound(size_t);

/*
 * params.c: table-driven parameter checks. A null member counts as absent.
 * On failure the functions return -1 and set *cause (malloc'd text for
 * the error message).
 */
enum proto_ptype {
	PROTO_P_JOB,		/* integer id or name string */
	PROTO_P_BOOL,
	PROTO_P_SECONDS,	/* number, 0 .. PROTO_MAX_SECONDS */
	PROTO_P_STRING,
	PROTO_P_ARGV,		/* non-empty array of strings */
	PROTO_P_ENV,		/* object of string or null */
	PROTO_P_PATH,		/* absolute path string */
	PROTO_P_NAME,		/* a valid job name */
	PROTO_P_STATES,		/* state name or array of state names */
	PROTO_P_SIGNAL,		/* number 1-64 or name */
	PROTO_P_UINT,		/* integer >= 0 */
	PROTO_P_LOG_LIMIT,	/* integer 0 .. PROTO_MAX_LOG_LIMIT */
	PROTO_P_ACCOUNT,	/* a user or group: name, or id >= 0 */
	PROTO_P_JOBS,		/* array of JOB */
	PROTO_P_ANY,
};

struct proto_param {
	const char		*name;
	enum proto_ptype	 type;
	int			 required;
	const char		*summary;	/* for rpc.discover */
	const char *const	*words;		/* a string's only values */
};

int		 proto_params_check(const json_t *, const struct proto_param *,
		     char **);
const char *const *proto_param_words(const struct proto_param *,
		     const char *);

/* methods.c: the params of each method. */
extern const struct proto_param	proto_params_start[];
extern const struct proto_param	proto_params_join[];
extern const struct proto_param	proto_params_stop[];
extern const struct proto_param	proto_params_signal[];
extern const struct proto_param	proto_params_job[];
extern const struct proto_param	proto_params_list[];
extern const struct proto_param	proto_params_none[];
extern const struct proto_param	proto_params_logs[];
extern const struct proto_param	proto_params_subscribe[];
extern const struct proto_param	proto_params_unsubscribe[];

/* What a method answers, as rpc.discover describes it. */
enum proto_result {
	PROTO_R_JOB,		/* the job object */
	PROTO_R_JOBS,		/* an array of job objects */
	PROTO_R_INFO,
	PROTO_R_LOGS,
	PROTO_R_SUBSCRIBE,
	PROTO_R_TRUE,
	PROTO_R_REEXEC,
	PROTO_R_OPENRPC,
};

struct proto_method {
	const char			*name;
	const char			*summary;
	const struct proto_param	*params;
	enum proto_result		 result;
};
extern const struct proto_method	proto_method_start;
extern const struct proto_method	proto_method_join;
extern const struct proto_method	proto_method_terminate;
extern const struct proto_method	proto_method_kill;
extern const struct proto_method	proto_method_signal;
extern const struct proto_method	proto_method_close;
extern const struct proto_method	proto_method_status;
extern const struct proto_method	proto_method_list;
extern const struct proto_method	proto_method_info;
extern const struct proto_method	proto_method_logs;
extern const struct proto_method	proto_method_subscribe;
extern const struct proto_method	proto_method_unsubscribe;
extern const struct proto_method	proto_method_reexec;
extern const struct proto_method	proto_method_discover;
/* Every method, NULL-terminated. */
extern const struct proto_method *const proto_methods[];

/* openrpc.c: the OpenRPC document of proto_methods, for rpc.discover. */
json_t		*proto_openrpc(const char *);
int		 proto_name_valid(const char *);
/* A state filter as a bit set (1 << state); -1 with *cause if unknown. */
int		 proto_states_mask(const json_t *, char **);

/* signal.c */
int		 proto_signal_parse(const json_t *);
int		 proto_signal_from_name(const char *);
const char	*proto_signal_name(int);

/* utf8.c: worker output as text; invalid bytes become U+FFFD. */
struct proto_utf8 {
	unsigned char	 seq[4];
	unsigned char	 lo, hi;	/* range of the next byte */
	int		 have, need;
};
size_t		 proto_utf8_decode(struct proto_utf8 *, const void *, size_t,
		     int, char *);
size_t		 proto_utf8_bound(size_t);
size_t		 proto_utf8_quote(struct proto_utf8 *, const void *, size_t,
		     int, char *);
size_t		 proto_utf8_quote_bound(size_t);

/* base64.c */
size_t		 proto_base64_encode(const void *, size_t, char *);
size_t		 proto_base64_bound(size_t);
ssize_t		 proto_base64_decode(const char *, size_t, void *);

/* Job object field names. */
#define PROTO_F_ID		"id"
#define PROTO_F_NAME		"name"
#define PROTO_F_ARGV		"argv"
#define PROTO_F_CWD		"cwd"
#define PROTO_F_PID		"pid"
#define PROTO_F_PPID		"ppid"
#define PROTO_F_PARENT		"parent"
#define PROTO_F_CHILDREN	"children"
#define PROTO_F_DAEMON		"daemon"
#define PROTO_F_STATE		"state"
#define PROTO_F_EXITCODE	"exitcode"
#define PROTO_F_UID		"uid"
#define PROTO_F_GID		"gid"
#define PROTO_F_USER		"user"
#define PROTO_F_STARTED_AT	"started_at"
#define PROTO_F_EXITED_AT	"exited_at"
#define PROTO_F_USAGE		"usage"
#define PROTO_F_TIMED_OUT	"timed_out"
#define PROTO_F_RESTART		"restart"
#define PROTO_F_RESTARTS	"restarts"
#define PROTO_F_RESTART_AT	"restart_at"
#define PROTO_F_ERROR		"error"
#define PROTO_F_READY		"ready"
#define PROTO_F_STATUS_TEXT	"status_text"
#define PROTO_F_KILL_MODE	"kill_mode"

/*
 * The exit status procctl gives for a job object: its exitcode, 128+N for
 * signal N, 124 when the join timed out, -1 when it has none yet.
 */
int		 proto_job_exit_status(const json_t *);

#endif /* PROTO_H */
