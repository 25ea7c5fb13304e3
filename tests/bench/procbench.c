/* SPDX-License-Identifier: ISC */
/*
 * procbench: measures procd against the machine it runs on and prints a
 * table of figures (see PERFORMANCE.md). It starts private procds on temp
 * sockets: a small one (spawn, reap, output and the few-jobs side of the
 * comparisons) and a big one holding --jobs sleepers. Comparisons
 * alternate their runs and report medians of --rounds rounds.
 */

#include "config.h"

#include <sys/resource.h>
#include <sys/utsname.h>

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

struct bench_config	 bench = {
	.rounds = 3,
	.jobs = 10000,
	.spawn_n = 3000,
	.ctl_n = 200000,
	.reap_n = 500,
	.clients = 1000,
	.idle_sec = 10,
	.output_bytes = 200LL * 1024 * 1024,
};

/* The figures, in the order they run; bit i of the selection is [i]. */
static const char *const bench_figures[] = {
	"spawn", "reap", "output", "scale", "control", "lookup", "list",
	"idle", "joins", NULL
};
#define BENCH_SPAWN	0x001
#define BENCH_REAP	0x002
#define BENCH_OUTPUT	0x004
#define BENCH_SCALE	0x008
#define BENCH_CONTROL	0x010
#define BENCH_LOOKUP	0x020
#define BENCH_LIST	0x040
#define BENCH_IDLE	0x080
#define BENCH_JOINS	0x100
#define BENCH_ALL	0x1ff
/* The figures that need the small procd, and those that need the big. */
#define BENCH_SMALL	(BENCH_SPAWN | BENCH_REAP | BENCH_OUTPUT | \
	BENCH_CONTROL | BENCH_LOOKUP)
#define BENCH_BIG	(BENCH_SCALE | BENCH_CONTROL | BENCH_LOOKUP | \
	BENCH_LIST | BENCH_IDLE)

static long long	 bench_t0;
static double		 bench_busy0;

void
bench_progress(const char *fmt, ...)
{
	va_list	ap;

	fprintf(stderr, "procbench: [%5.1fs] ", (double)(stats_now() -
	    bench_t0) / 1e9);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
}

void
bench_fatalx(const char *fmt, ...)
{
	va_list	ap;

	fflush(stdout);
	fprintf(stderr, "procbench: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	server_cleanup();
	exit(1);
}

void *
bench_xcalloc(size_t n, size_t size)
{
	void	*p;

	if ((p = calloc(n, size)) == NULL)
		bench_fatalx("out of memory");
	return (p);
}

void *
bench_xrealloc(void *old, size_t size)
{
	void	*p;

	if ((p = realloc(old, size)) == NULL)
		bench_fatalx("out of memory");
	return (p);
}

static void
bench_usage(FILE *f)
{
	int	i;

	fprintf(f, "usage: procbench [--procd PATH] [--spawnbase PATH] "
	    "[--quick] [--rounds N]\n"
	    "                 [--jobs N] [--procd-arg OPTION]... "
	    "[FIGURE...]\nfigures:");
	for (i = 0; bench_figures[i] != NULL; i++)
		fprintf(f, " %s", bench_figures[i]);
	fprintf(f, "\n");
}

static void
bench_set_quick(void)
{
	bench.quick = 1;
	bench.jobs = 1000;
	bench.spawn_n = 200;
	bench.ctl_n = 10000;
	bench.reap_n = 100;
	bench.clients = 100;
	bench.idle_sec = 2;
	bench.output_bytes = 20LL * 1024 * 1024;
}

static int
bench_number(const char *arg, int min)
{
	char	*end;
	long	 n;

	errno = 0;
	n = strtol(arg, &end, 10);
	if (*end != '\0' || end == arg || errno != 0 || n < min ||
	    n > INT_MAX) {
		fprintf(stderr, "procbench: not a number >= %d: %s\n", min,
		    arg);
		exit(2);
	}
	return ((int)n);
}

/* A path that goes into hand-built JSON must need no escaping. */
static const char *
bench_path(const char *path)
{
	char	*abs;

	if ((abs = realpath(path, NULL)) == NULL) {
		fprintf(stderr, "procbench: %s: %s\n", path, strerror(errno));
		exit(2);
	}
	if (strpbrk(abs, "\"\\") != NULL) {
		fprintf(stderr, "procbench: %s: unusual path\n", abs);
		exit(2);
	}
	return (abs);
}

/* The spawnbase next to this program, unless told otherwise. */
static const char *
bench_default_spawnbase(void)
{
	static char	 path[PATH_MAX];
	char		*slash;

	snprintf(path, sizeof path, "%s", bench.self);
	if ((slash = strrchr(path, '/')) == NULL)
		return ("spawnbase");
	snprintf(slash + 1, sizeof path - (slash + 1 - path), "spawnbase");
	return (path);
}

/* Parses options; returns the selected figures as a bit set. */
static int
bench_parse(int argc, char **argv)
{
	static const struct option	 opts[] = {
		{ "procd",	required_argument,	NULL, 'p' },
		{ "spawnbase",	required_argument,	NULL, 'b' },
		{ "quick",	no_argument,		NULL, 'q' },
		{ "rounds",	required_argument,	NULL, 'r' },
		{ "jobs",	required_argument,	NULL, 'j' },
		{ "procd-arg",	required_argument,	NULL, 'a' },
		{ "help",	no_argument,		NULL, 'h' },
		{ NULL,		0,			NULL, 0 }
	};
	const char	*procd = getenv("PROCD"), *spawnbase = NULL;
	int		 ch, i, j, sel = 0, rounds = 0, jobs = 0;

	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (ch) {
		case 'p':
			procd = optarg;
			break;
		case 'b':
			spawnbase = optarg;
			break;
		case 'q':
			bench_set_quick();
			break;
		case 'r':
			rounds = bench_number(optarg, 1);
			break;
		case 'j':
			jobs = bench_number(optarg, 10);
			break;
		case 'a':
			bench.procd_args = bench_xrealloc(bench.procd_args,
			    (bench.nprocd_args + 1) * sizeof *bench.procd_args);
			bench.procd_args[bench.nprocd_args++] = optarg;
			break;
		case 'h':
			bench_usage(stdout);
			exit(0);
		default:
			bench_usage(stderr);
			exit(2);
		}
	}
	if (rounds != 0)
		bench.rounds = rounds;
	if (jobs != 0)
		bench.jobs = jobs;
	for (i = optind; i < argc; i++) {
		for (j = 0; bench_figures[j] != NULL; j++) {
			if (strcmp(argv[i], bench_figures[j]) == 0)
				break;
		}
		if (bench_figures[j] == NULL) {
			bench_usage(stderr);
			exit(2);
		}
		sel |= 1 << j;
	}
	if (procd == NULL) {
		fprintf(stderr, "procbench: give --procd PATH or PROCD\n");
		exit(2);
	}
	bench.procd = bench_path(procd);
	bench.spawnbase = bench_path(spawnbase != NULL ? spawnbase :
	    bench_default_spawnbase());
	return (sel != 0 ? sel : BENCH_ALL);
}

/* Room for a thousand connections. */
static void
bench_raise_nofile(void)
{
	struct rlimit	rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static void
bench_machine(void)
{
	struct utsname	 u;
	char		 line[256], model[256] = "unknown", date[64];
	FILE		*f;
	time_t		 now = time(NULL);

	if ((f = fopen("/proc/cpuinfo", "r")) != NULL) {
		while (fgets(line, sizeof line, f) != NULL) {
			if (strncmp(line, "model name", 10) == 0 &&
			    strchr(line, ':') != NULL) {
				snprintf(model, sizeof model, "%s",
				    strchr(line, ':') + 2);
				model[strcspn(model, "\n")] = '\0';
				break;
			}
		}
		fclose(f);
	}
	uname(&u);
	strftime(date, sizeof date, "%Y-%m-%d %H:%M UTC", gmtime(&now));
	table_note("procbench: %s, %ld cpus (%s), %s %s, %s",
	    bench.quick ? "quick" : "full", sysconf(_SC_NPROCESSORS_ONLN),
	    model, u.sysname, u.release, date);
	table_note("procd %s; %d rounds; %d live jobs; medians of rounds",
	    bench.procd, bench.rounds, bench.jobs);
}

/* CPU seconds the whole machine has been busy (steal counts as busy). */
static double
bench_machine_busy(void)
{
	unsigned long long	 v[8] = { 0 };
	FILE			*f;
	int			 n = 0;

	if ((f = fopen("/proc/stat", "r")) != NULL) {
		n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu",
		    &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]);
		fclose(f);
	}
	if (n != 8)
		return (0);
	return ((double)(v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) /
	    (double)sysconf(_SC_CLK_TCK));
}

/*
 * How much CPU went to other programs during the run: the machine's busy
 * time less procbench's and its children's (procd and its workers
 * included, once reaped). Figures taken beside other work are noisy.
 */
static void
bench_other_load(void)
{
	struct rusage	self, kids;
	double		ours, busy, wall;

	getrusage(RUSAGE_SELF, &self);
	getrusage(RUSAGE_CHILDREN, &kids);
	ours = (double)(self.ru_utime.tv_sec + self.ru_stime.tv_sec +
	    kids.ru_utime.tv_sec + kids.ru_stime.tv_sec) +
	    (double)(self.ru_utime.tv_usec + self.ru_stime.tv_usec +
	    kids.ru_utime.tv_usec + kids.ru_stime.tv_usec) / 1e6;
	busy = bench_machine_busy() - bench_busy0;
	wall = (double)(stats_now() - bench_t0) / 1e9;
	table_note("done in %.0f s; procbench, procd and workers used %.1f "
	    "CPU-s; other programs about %.1f CPU-s (%.0f%% of the machine)",
	    wall, ours, busy > ours ? busy - ours : 0.0, busy > ours ?
	    100.0 * (busy - ours) / (wall * sysconf(_SC_NPROCESSORS_ONLN)) :
	    0.0);
}

static void
bench_run(int sel)
{
	struct server	*small = NULL, *big = NULL;

	if (sel & BENCH_SMALL)
		small = server_start();
	if (sel & BENCH_SPAWN)
		spawn_figures(small);
	if (sel & BENCH_REAP)
		reap_figures(small);
	if (sel & BENCH_OUTPUT)
		output_figures(small);
	if (sel & BENCH_BIG) {
		big = server_start();
		scale_fill(big);
	}
	if (sel & BENCH_SCALE) {
		scale_figures();
		scale_full_figures();
	}
	if (sel & BENCH_CONTROL)
		ctl_figures(small, big);
	if (sel & BENCH_LOOKUP)
		ctl_lookup_figures(small, big);
	if (sel & BENCH_LIST)
		ctl_list_figures(big);
	if (sel & BENCH_IDLE)
		scale_idle_figures(big);
	if (sel & BENCH_JOINS)
		scale_join_figures();
	bench_progress("stopping procd");
	if (small != NULL)
		server_stop(small);
	if (big != NULL)
		server_stop(big);
}

int
main(int argc, char **argv)
{
	int	sel;

	if (argc == 3 && strcmp(argv[1], "--stamp") == 0)
		reap_stamp_main(argv[2]);
	bench_t0 = stats_now();
	bench_busy0 = bench_machine_busy();
	bench.self = bench_path("/proc/self/exe");
	sel = bench_parse(argc, argv);
	bench_raise_nofile();
	server_init();
	bench_machine();
	table_header();
	bench_run(sel);
	server_cleanup();
	bench_other_load();
	return (0);
}
