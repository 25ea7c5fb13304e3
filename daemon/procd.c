/* SPDX-License-Identifier: ISC */
/*
 * procd: options, start-up, signals and the clean stop. procd runs in the
 * foreground; systemd (or a shell) supervises it.
 */

#include "config.h"

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "procd.h"

#define PROCD_FLUSH_TICKS	20	/* of 50 ms: how long the last flush may take */

struct procd_config	 procd_config = {
	.socket_mode = -1,
	.socket_gid = (gid_t)-1,
	.max_clients = PROTO_MAX_CLIENTS,
	.max_jobs = PROTO_MAX_JOBS,
	.max_jobs_per_user = PROTO_MAX_JOBS_PER_USER,
	.max_clients_per_user = PROTO_MAX_CLIENTS_PER_USER,
	.max_request = PROTO_MAX_REQUEST,
	.max_output = PROTO_MAX_OUTPUT,
	.log_limit = 262144,
	.event_history = 10000,
	.spawners = -1,
};
struct event_base	*procd_base;
pid_t			 procd_pid;
struct timespec		 procd_started;
struct rlimit		 procd_nofile;		/* 0, 0: not known */
int			 procd_stopping;
struct timespec		 procd_image_started;
long long		 procd_reexecs;

/* Set by the options a reexec (or a test) gives. */
static int		 procd_handoff_fd = -1;
static int		 procd_handoff_previous = -1;
static const char	*procd_handoff_refused;
/* argv as given, before getopt_long permutes it: what a reexec passes on. */
static char		**procd_args;

static struct event	*procd_done_event;
static struct event	*procd_flush_timer;
static int		 procd_flush_ticks;
static int		 procd_exiting;		/* the loop is to end for good */

enum {
	OPT_SOCKET = 256,
	OPT_SOCKET_MODE,
	OPT_SOCKET_GROUP,
	OPT_MAX_CLIENTS,
	OPT_MAX_JOBS,
	OPT_MAX_JOBS_PER_USER,
	OPT_MAX_CLIENTS_PER_USER,
	OPT_MAX_REQUEST,
	OPT_MAX_OUTPUT,
	OPT_LOG_LIMIT,
	OPT_EVENT_HISTORY,
	OPT_SPAWNERS,
	OPT_HANDOFF,
	OPT_HANDOFF_PREVIOUS,
	OPT_HANDOFF_REFUSED,
	OPT_HANDOFF_FORMATS,
	OPT_HANDOFF_CHECK,
};

static const struct option procd_options[] = {
	{ "socket",		required_argument,	NULL, OPT_SOCKET },
	{ "socket-mode",	required_argument,	NULL, OPT_SOCKET_MODE },
	{ "socket-group",	required_argument,	NULL, OPT_SOCKET_GROUP },
	{ "max-clients",	required_argument,	NULL, OPT_MAX_CLIENTS },
	{ "max-jobs",		required_argument,	NULL, OPT_MAX_JOBS },
	{ "max-jobs-per-user",	required_argument,	NULL,
	    OPT_MAX_JOBS_PER_USER },
	{ "max-clients-per-user", required_argument,	NULL,
	    OPT_MAX_CLIENTS_PER_USER },
	{ "max-request",	required_argument,	NULL, OPT_MAX_REQUEST },
	{ "max-output",		required_argument,	NULL, OPT_MAX_OUTPUT },
	{ "log-limit",		required_argument,	NULL, OPT_LOG_LIMIT },
	{ "event-history",	required_argument,	NULL, OPT_EVENT_HISTORY },
	{ "spawners",		required_argument,	NULL, OPT_SPAWNERS },
	{ "handoff",		required_argument,	NULL, OPT_HANDOFF },
	{ "handoff-previous",	required_argument,	NULL,
	    OPT_HANDOFF_PREVIOUS },
	{ "handoff-refused",	required_argument,	NULL,
	    OPT_HANDOFF_REFUSED },
	{ "handoff-formats",	no_argument,		NULL, OPT_HANDOFF_FORMATS },
	{ "handoff-check",	required_argument,	NULL, OPT_HANDOFF_CHECK },
	{ "verbose",		no_argument,		NULL, 'v' },
	{ "help",		no_argument,		NULL, 'h' },
	{ "version",		no_argument,		NULL, 'V' },
	{ NULL,			0,			NULL, 0 }
};

static void
procd_usage(FILE *f)
{
	fprintf(f,
	    "usage: procd [-hvV] [--socket PATH] [--socket-mode OCTAL]\n"
	    "             [--socket-group GROUP] [--max-clients N] "
	    "[--max-jobs N]\n"
	    "             [--max-clients-per-user N] "
	    "[--max-jobs-per-user N]\n"
	    "             [--max-request BYTES] [--max-output BYTES]\n"
	    "             [--log-limit BYTES] [--event-history N] "
	    "[--spawners N]\n");
	if (f == stdout)
		fprintf(f, "\n"
		    "  -h, --help              this text\n"
		    "  -v, --verbose           debug logging\n"
		    "  -V, --version           print the version\n"
		    "  --socket PATH           listen on PATH (see procd(8) "
		    "for the default)\n"
		    "  --socket-mode OCTAL     the socket's mode (default "
		    "0600)\n"
		    "  --socket-group GROUP    the socket's group\n"
		    "  --max-clients N         connections (default 1024, "
		    "at least 1)\n"
		    "  --max-jobs N            job records not closed (default "
		    "65536, at least 1)\n"
		    "  --max-clients-per-user N  connections of one uid "
		    "(default 128, at\n"
		    "                          least 1; root is exempt)\n"
		    "  --max-jobs-per-user N   job records of one owner "
		    "(default 4096, at\n"
		    "                          least 1; root is exempt)\n"
		    "  --max-request BYTES     one request line (default 1 MiB, "
		    "at least 64)\n"
		    "  --max-output BYTES      queued for one client (default "
		    "16 MiB, at least 1024)\n"
		    "  --log-limit BYTES       output kept per job (default "
		    "262144, at most 1 GiB)\n"
		    "  --event-history N       events kept for since (default "
		    "10000)\n"
		    "  --spawners N            helper processes that spawn "
		    "workers (default:\n"
		    "                          one per CPU, at most %d; 0 on one "
		    "CPU)\n", PROCD_SPAWNERS_MAX);
}

static size_t
procd_number(const char *name, const char *arg, size_t min)
{
	unsigned long long	 n;
	char			*end;

	errno = 0;
	n = strtoull(arg, &end, 10);
	if (arg[0] == '-' || *end != '\0' || end == arg || errno != 0 ||
	    n < min || n > SIZE_MAX / 2) {
		fprintf(stderr, "procd: --%s: not a number >= %zu: %s\n", name,
		    min, arg);
		exit(2);
	}
	return ((size_t)n);
}

/* The state formats a reexec can hand this program. */
static void
procd_print_formats(void)
{
	const char *const	*f;

	for (f = handoff_formats; *f != NULL; f++)
		printf("%s\n", *f);
}

/* procd --handoff-check FILE: would a reexec take this state? */
static void __attribute__((noreturn))
procd_check_state(const char *path)
{
	const char	*format;
	char		 why[512];

	if (handoff_check_file(path, &format, why, sizeof why) == -1) {
		fprintf(stderr, "procd: %s: %s\n", path, why);
		exit(1);
	}
	printf("%s: a %s state procd would take\n", path, format);
	exit(0);
}

static void
procd_parse(int argc, char **argv)
{
	struct group	*gr;
	char		*end;
	long		 mode;
	int		 ch;

	while ((ch = getopt_long(argc, argv, "hvV", procd_options, NULL)) !=
	    -1) {
		switch (ch) {
		case OPT_SOCKET:
			procd_config.socket_path = optarg;
			break;
		case OPT_SOCKET_MODE:
			mode = strtol(optarg, &end, 8);
			if (*end != '\0' || end == optarg || mode < 0 ||
			    mode > 0777) {
				fprintf(stderr, "procd: --socket-mode: not an "
				    "octal mode: %s\n", optarg);
				exit(2);
			}
			procd_config.socket_mode = (int)mode;
			break;
		case OPT_SOCKET_GROUP:
			if ((gr = getgrnam(optarg)) != NULL)
				procd_config.socket_gid = gr->gr_gid;
			else if (optarg[strspn(optarg, "0123456789")] == '\0')
				procd_config.socket_gid = procd_number(
				    "socket-group", optarg, 0);
			else {
				fprintf(stderr, "procd: --socket-group: no such "
				    "group: %s\n", optarg);
				exit(2);
			}
			break;
		case OPT_MAX_CLIENTS:
			procd_config.max_clients = procd_number("max-clients",
			    optarg, 1);
			break;
		case OPT_MAX_JOBS:
			procd_config.max_jobs = procd_number("max-jobs", optarg,
			    1);
			break;
		case OPT_MAX_JOBS_PER_USER:
			procd_config.max_jobs_per_user = procd_number(
			    "max-jobs-per-user", optarg, 1);
			break;
		case OPT_MAX_CLIENTS_PER_USER:
			procd_config.max_clients_per_user = procd_number(
			    "max-clients-per-user", optarg, 1);
			break;
		case OPT_MAX_REQUEST:
			procd_config.max_request = procd_number("max-request",
			    optarg, 64);
			break;
		case OPT_MAX_OUTPUT:
			procd_config.max_output = procd_number("max-output",
			    optarg, 1024);
			break;
		case OPT_LOG_LIMIT:
			procd_config.log_limit = procd_number("log-limit",
			    optarg, 0);
			if (procd_config.log_limit > PROTO_MAX_LOG_LIMIT) {
				fprintf(stderr, "procd: --log-limit: at most "
				    "%lld (1 GiB): %s\n", PROTO_MAX_LOG_LIMIT,
				    optarg);
				exit(2);
			}
			break;
		case OPT_EVENT_HISTORY:
			procd_config.event_history = procd_number(
			    "event-history", optarg, 0);
			break;
		case OPT_SPAWNERS:
			procd_config.spawners = procd_number("spawners",
			    optarg, 0);
			if (procd_config.spawners > PROCD_SPAWNERS_MAX) {
				fprintf(stderr, "procd: --spawners: at most "
				    "%d: %s\n", PROCD_SPAWNERS_MAX, optarg);
				exit(2);
			}
			break;
		case OPT_HANDOFF:
			procd_handoff_fd = procd_number("handoff", optarg, 3);
			break;
		case OPT_HANDOFF_PREVIOUS:
			procd_handoff_previous = procd_number(
			    "handoff-previous", optarg, 3);
			break;
		case OPT_HANDOFF_REFUSED:
			procd_handoff_refused = optarg;
			break;
		case OPT_HANDOFF_FORMATS:
			procd_print_formats();
			exit(0);
		case OPT_HANDOFF_CHECK:
			procd_check_state(optarg);
			break;
		case 'v':
			procd_config.verbose++;
			break;
		case 'V':
			printf("procd %s (protocol %s)\n", PROCD_VERSION,
			    PROTO_VERSION);
			exit(0);
		case 'h':
			procd_usage(stdout);
			exit(0);
		default:
			procd_usage(stderr);
			exit(2);
		}
	}
	if (optind != argc) {
		fprintf(stderr, "procd: unexpected argument: %s\n", argv[optind]);
		procd_usage(stderr);
		exit(2);
	}
}

/* Keeps fds 0-2 open, so no socket procd opens can land on them. */
static void
procd_sanitize_stdio(void)
{
	int	fd;

	while ((fd = open("/dev/null", O_RDWR)) != -1 && fd <= 2)
		;
	if (fd > 2)
		close(fd);
}

static void
procd_flush(int fd, short events, void *arg)
{
	struct timeval	tv = { 0, 50000 };

	if (client_flush_all() == 0 || ++procd_flush_ticks > PROCD_FLUSH_TICKS) {
		/* A flag too: a loop run during a reexec would forget it. */
		procd_exiting = 1;
		event_base_loopexit(procd_base, NULL);
		return;
	}
	evtimer_add(procd_flush_timer, &tv);
}

/* Every job has stopped: stop listening, flush the answers, and leave. */
static void
procd_done(int fd, short events, void *arg)
{
	log_info("every job has stopped; exiting");
	listen_close();
	procd_flush(-1, 0, NULL);
}

/*
 * Called whenever a process exits or a job's output ends: is the clean
 * stop complete? Output gets its grace period, so that followers are
 * answered too.
 */
void
procd_check_done(void)
{
	if (!procd_stopping || job_alive_count() != 0 ||
	    output_streams_open != 0)
		return;
	/* Then what the jobs left behind; see orphan.c. */
	if (orphan_stop_all() == 0)
		event_active(procd_done_event, EV_TIMEOUT, 0);
}

static void
procd_signal(int sig, short events, void *arg)
{
	if (sig == SIGHUP) {
		log_info("SIGHUP ignored");
		return;
	}
	if (procd_stopping++ == 0) {
		log_info("%s: stopping every job", strsignal(sig));
		notify_stopping();
		/* Every job in the table first; then no more spawners. */
		spawn_defer_flush();
		spawner_free();
		job_stop_all(SIGTERM);
		procd_check_done();
	} else {
		log_info("%s again: killing every job", strsignal(sig));
		job_stop_all(SIGKILL);
		orphan_kill_all();
		procd_check_done();
	}
}

static void
procd_free_all(void)
{
	struct job	*job;

	client_free_all();
	while ((job = TAILQ_FIRST(&jobs)) != NULL)
		job_close(job);
}

/*
 * procd holds an fd per client and several per job (pipes, a tree's
 * cgroup files): it raises its soft limit on open files to the hard one,
 * as systemd does for itself. Workers get the limit procd was given back
 * (spawn-child.c), since programs that still use select(2) need fds below
 * FD_SETSIZE.
 */
static void
procd_raise_nofile(void)
{
	struct rlimit	rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
		return;
	procd_nofile = rl;
	if (rl.rlim_cur == rl.rlim_max)
		return;
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) == -1)
		log_warn("setrlimit RLIMIT_NOFILE");
}

/*
 * A mask inherited from whoever started procd (a shell script, a test
 * harness) would hold back SIGTERM and SIGINT for good: procd would never
 * stop. An empty mask (but SIGCHLD), once the handlers are in place
 * (after a reexec, signals that came during the switch are pending).
 */
static void
procd_unblock_signals(void)
{
	sigset_t	mask;

	/* But SIGCHLD, which reap.c reads from a signalfd. */
	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigprocmask(SIG_SETMASK, &mask, NULL);
}

/* A fresh start: the sockets, the notify socket and the cgroup subtree. */
static void
procd_start_fresh(const char *path)
{
	reap_init();
	ready_init();
	listen_init(path,
	    proto_socket_path_chosen(procd_config.socket_path));
	/*
	 * Once no live procd holds the socket: what a dead one left in its
	 * cgroups is stopped before anyone is served.
	 */
	cgroup_init(path);
	procd_unblock_signals();
	notify_init();
	notify_ready();
	log_info("procd %s ready (pid %ld)", PROCD_VERSION, (long)procd_pid);
}

/*
 * After a reexec: everything from the state the previous image left in
 * procd_handoff_fd. Signals were blocked across execve and are let in
 * only now, with handlers in place; then children that exited during the
 * switch are reaped with their real status.
 */
static void
procd_take_over(void)
{
	struct handoff_loaded	hl;
	char			why[512];

	hl.own = procd_handoff_refused != NULL;
	if (handoff_load(procd_handoff_fd, &hl, why, sizeof why) == -1) {
		/* Once only: the previous image refusing its own state ends it. */
		if (procd_handoff_refused != NULL)
			fatalx("reexec: the previous image cannot take its "
			    "state back either: %s", why);
		reexec_give_back(procd_handoff_fd, procd_handoff_previous, why);
	}
	close(procd_handoff_fd);
	if (procd_handoff_previous != -1)
		close(procd_handoff_previous);
	if (procd_handoff_refused == NULL) {
		procd_reexecs++;
		clock_gettime(CLOCK_REALTIME, &procd_image_started);
	}
	reap_init();
	handoff_settle();
	procd_unblock_signals();
	notify_init();
	notify_ready();
	reexec_answer(&hl, procd_handoff_refused);
	free(hl.previous_version);
}

/* getopt_long permutes argv: reexec needs it as it was given. */
static char **
procd_copy_argv(int argc, char **argv)
{
	char	**copy;
	int	  i;

	copy = xreallocarray(NULL, argc + 1, sizeof *copy);
	for (i = 0; i < argc; i++)
		copy[i] = xstrdup(argv[i]);
	copy[argc] = NULL;
	return (copy);
}

int
main(int argc, char **argv)
{
	struct event	*sigs[3];
	const int	 signos[3] = { SIGTERM, SIGINT, SIGHUP };
	char		*path;
	int		 i;

	procd_sanitize_stdio();
	procd_args = procd_copy_argv(argc, argv);
	procd_parse(argc, argv);
	log_init(procd_config.verbose);
	signal(SIGPIPE, SIG_IGN);
	procd_raise_nofile();
	procd_pid = getpid();
	clock_gettime(CLOCK_REALTIME, &procd_started);
	procd_image_started = procd_started;

	if ((procd_base = event_base_new()) == NULL)
		fatalx("event_base_new failed");
	spawn_init();
	orphan_init();
	feed_init();
	if ((path = proto_socket_path(procd_config.socket_path)) == NULL)
		fatal("socket path");
	restart_init();
	reexec_init(argc, procd_args);
	xfree_strv(procd_args);
	procd_args = NULL;
	for (i = 0; i < 3; i++) {
		sigs[i] = evsignal_new(procd_base, signos[i], procd_signal,
		    NULL);
		evsignal_add(sigs[i], NULL);
	}
	procd_done_event = event_new(procd_base, -1, 0, procd_done, NULL);
	procd_flush_timer = evtimer_new(procd_base, procd_flush, NULL);
	if (procd_handoff_fd != -1)
		procd_take_over();
	else
		procd_start_fresh(path);
	free(path);

	/* The loop returns for a reexec too; if that fails, it goes on. */
	while (event_base_dispatch(procd_base) == 0 && !procd_exiting &&
	    reexec_pending()) {
		reexec_run();
		if (procd_exiting)
			break;
	}

	procd_free_all();
	for (i = 0; i < 3; i++)
		event_free(sigs[i]);
	event_free(procd_done_event);
	event_free(procd_flush_timer);
	notify_free();
	reexec_free();
	cgroup_free();
	ready_free();
	restart_free();
	orphan_free();
	reap_free();
	spawn_free();
	feed_free();
	user_free_all();
	event_base_free(procd_base);
	libevent_global_shutdown();
	log_info("stopped");
	return (0);
}
