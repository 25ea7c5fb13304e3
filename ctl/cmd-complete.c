/* SPDX-License-Identifier: ISC */
/*
 * procctl complete: the candidates for the word a shell is completing,
 * drawn from the tables of commands and options and, for a JOB, from
 * procd's list, so that the scripts in completion/ only map them to bash
 * and zsh and nothing is written twice.
 */

#include "config.h"

#include <sys/signalfd.h>
#include <sys/time.h>

#include <ctype.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "proto.h"
#include "procctl.h"

/* How long procd has to list its jobs before completion goes without. */
#define CMD_COMPLETE_TIMEOUT_MS	1000
/* The longest description printed, in bytes. */
#define CMD_COMPLETE_DESC	160

static int	cmd_complete_exec(struct procctl *);

const struct procctl_command cmd_complete_entry = {
	"complete",
	"[--socket PATH] -- WORD...",
	"Print the completions of the last WORD of a procctl command line\n"
	"(the first WORD being procctl itself; the last may be empty), one\n"
	"per line as the word, a tab and a description, or one line :files,\n"
	":commands, :directories, :users or :groups (with, after a tab, the\n"
	"start of the word that is not part of it, as --cwd=) when the\n"
	"shell's own completion of that kind applies. Jobs come from the\n"
	"procd on the --socket the words name, else on this --socket PATH,\n"
	"PROCD_SOCKET or the default one; none if it does not answer within\n"
	"a second. This command serves the scripts in completion/ (bash and\n"
	"zsh), so procctl --help does not list it.\n",
	OPT_COMMON, "WORD", -1, 0,
	cmd_complete_exec
};

/* What the words before the one being completed have said. */
struct cmd_complete {
	struct procctl			*ctl;
	const struct procctl_command	*cmd;		/* NULL: no COMMAND yet */
	const struct procctl_option	*value_of;	/* the word is its value */
	int				 dashdash;	/* options have ended */
	int				 noperands;	/* of cmd, so far */
	const char			*socket;	/* --socket in the words */
	char				*socket_home;	/* its ~/ expanded */
	int				 remote;	/* -H in the words */

	/* The candidates: their first prefixlen bytes are the word's own. */
	const char			*word;
	size_t				 prefixlen;
	int				 anycase;	/* signal names */
};

/*
 * What the options every command takes do; the help of a command
 * describes only its own options.
 */
static const struct {
	enum procctl_opt	 id;
	const char		*help;
} cmd_complete_common[] = {
	{ OPT_SOCKET,	"the socket of the procd to talk to" },
	{ OPT_HOST,	"reach procd on another host, through ssh" },
	{ OPT_JSON,	"print each result as one JSON value per line" },
	{ OPT_HELP,	"print the usage and exit" },
	{ OPT_VERSION,	"print procctl's version and exit" },
};

/* Writes s to stdout with control characters as spaces (one line). */
static void
cmd_complete_text(const char *s, size_t len)
{
	size_t	i;

	for (i = 0; i < len && s[i] != '\0'; i++)
		putchar((unsigned char)s[i] < 0x20 || s[i] == 0x7f ? ' ' :
		    s[i]);
}

/*
 * Prints one candidate if it completes the word: the word's prefix (as
 * "--cwd="), then word, then its description after a tab.
 */
static void
cmd_complete_put(struct cmd_complete *cc, const char *word, const char *desc)
{
	const char	*typed = cc->word + cc->prefixlen;
	size_t		 len = strlen(typed), dlen;

	if (cc->anycase ? strncasecmp(word, typed, len) != 0 :
	    strncmp(word, typed, len) != 0)
		return;
	cmd_complete_text(cc->word, cc->prefixlen);
	cmd_complete_text(word, strlen(word));
	if (desc != NULL && *desc != '\0') {
		putchar('\t');
		/* Cut a long description at the start of a UTF-8 character. */
		dlen = strlen(desc);
		if (dlen > CMD_COMPLETE_DESC) {
			dlen = CMD_COMPLETE_DESC;
			while (dlen > 0 && ((unsigned char)desc[dlen] & 0xc0) ==
			    0x80)
				dlen--;
		}
		cmd_complete_text(desc, dlen);
	}
	putchar('\n');
}

/* Tells the shell to complete a kind of thing itself. */
static void
cmd_complete_fallback(struct cmd_complete *cc, const char *kind)
{
	printf(":%s", kind);
	if (cc->prefixlen > 0) {
		putchar('\t');
		cmd_complete_text(cc->word, cc->prefixlen);
	}
	putchar('\n');
}

/*
 * The first sentence of a command's help, without its full stop; one
 * within brackets ("e.g. HUP") does not end it.
 */
static void
cmd_complete_summary(const char *help, char *buf, size_t size)
{
	size_t	n = 0;
	int	depth = 0;

	for (; *help != '\0' && n + 1 < size; help++) {
		if (*help == '(')
			depth++;
		else if (*help == ')' && depth > 0)
			depth--;
		else if (*help == '.' && depth == 0 && (help[1] == ' ' ||
		    help[1] == '\n' || help[1] == '\0'))
			break;
		buf[n++] = *help == '\n' ? ' ' : *help;
	}
	buf[n] = '\0';
}

/*
 * The description of option o in cmd's help: the text after its line's
 * "  --name ARG  " (or "  -x, --name ARG  ") and on the lines that go on
 * from it, joined; empty if the help has no line for it.
 */
static void
cmd_complete_option_help(const struct procctl_command *cmd,
    const struct procctl_option *o, char *buf, size_t size)
{
	const char	*line, *end, *p;
	size_t		 n = 0, namelen = strlen(o->name), len;
	int		 found = 0;

	*buf = '\0';
	for (line = cmd->help; *line != '\0'; line = *end ? end + 1 : end) {
		end = line + strcspn(line, "\n");
		if (strncmp(line, "  -", 3) == 0) {
			if (found)
				break;
			/* "--name" followed by a space, a comma or the end. */
			for (p = line; (p = strstr(p, "--")) != NULL &&
			    p < end; p += 2) {
				if (strncmp(p + 2, o->name, namelen) == 0 &&
				    strchr(" ,\n", p[2 + namelen]) != NULL)
					break;
			}
			if (p == NULL || p >= end)
				continue;
			found = 1;
			/* The description starts after two spaces, if here. */
			if ((p = strstr(p, "  ")) == NULL || p >= end)
				continue;
			line = p;
		} else if (!found || strncmp(line, "    ", 4) != 0)
			continue;
		while (line < end && *line == ' ')
			line++;
		len = (size_t)(end - line);
		if (len == 0)
			continue;
		if (n > 0 && n + 1 < size)
			buf[n++] = ' ';
		if (len > size - 1 - n)
			len = size - 1 - n;
		memcpy(buf + n, line, len);
		n += len;
		buf[n] = '\0';
	}
}

/* The options of cmd (or of procctl before COMMAND) as long options. */
static void
cmd_complete_options(struct cmd_complete *cc)
{
	const struct procctl_command	*cmd = cc->cmd;
	const struct procctl_option	*o;
	char				 word[64], desc[512];
	size_t				 i = 0, j;

	if (cmd == NULL)
		cmd = &procctl_global;
	while ((o = procctl_option_next(cmd, &i)) != NULL) {
		cmd_complete_option_help(cmd, o, desc, sizeof desc);
		for (j = 0; *desc == '\0' && j < sizeof cmd_complete_common /
		    sizeof cmd_complete_common[0]; j++) {
			if (cmd_complete_common[j].id == o->id)
				snprintf(desc, sizeof desc, "%s",
				    cmd_complete_common[j].help);
		}
		snprintf(word, sizeof word, "--%s", o->name);
		cmd_complete_put(cc, word, desc);
	}
}

/* The commands --help lists, with the first sentence of their help. */
static void
cmd_complete_commands(struct cmd_complete *cc)
{
	const struct procctl_command	*cmd;
	char				 desc[256];
	size_t				 i;

	for (i = 0; procctl_commands[i] != NULL; i++) {
		cmd = procctl_commands[i];
		cmd_complete_summary(cmd->help, desc, sizeof desc);
		cmd_complete_put(cc, cmd->name, desc);
	}
}

/* The methods of the protocol, for call. */
static void
cmd_complete_methods(struct cmd_complete *cc)
{
	size_t	i;

	for (i = 0; proto_methods[i] != NULL; i++)
		cmd_complete_put(cc, proto_methods[i]->name,
		    proto_methods[i]->summary);
}

/*
 * Signal names, written as the word begins: with SIG if it does, in
 * lower case if it is in lower case.
 */
static void
cmd_complete_signals(struct cmd_complete *cc)
{
	const char	*typed = cc->word + cc->prefixlen, *name, *p;
	char		 word[32];
	int		 signo, sig, lower = 0;
	size_t		 i;

	sig = strncasecmp(typed, "SIG", 3) == 0;
	for (p = typed; *p != '\0'; p++) {
		if (isupper((unsigned char)*p))
			break;
		if (islower((unsigned char)*p))
			lower = 1;
	}
	if (*p != '\0')
		lower = 0;
	cc->anycase = 1;
	for (signo = 1; signo <= 64; signo++) {
		if ((name = proto_signal_name(signo)) == NULL)
			continue;
		snprintf(word, sizeof word, "%s%s", sig ? "SIG" : "", name);
		for (i = 0; lower && word[i] != '\0'; i++)
			word[i] = (char)tolower((unsigned char)word[i]);
		cmd_complete_put(cc, word, strsignal(signo));
	}
	cc->anycase = 0;
}

/* The first words of argv, for a job's description. */
static void
cmd_complete_argv(const json_t *argv, char *buf, size_t size)
{
	const json_t	*v;
	size_t		 i, n = 0;
	int		 r;

	*buf = '\0';
	json_array_foreach(argv, i, v) {
		if (!json_is_string(v) || n + 1 >= size)
			break;
		r = snprintf(buf + n, size - n, "%s%s", i == 0 ? "" : " ",
		    json_string_value(v));
		if (r < 0)
			break;
		n += (size_t)r;
	}
}

/*
 * The jobs procd lists (a new reference), or NULL, silently, when there
 * is no procd, or one procctl does not trust, or none that answers in
 * time: completion is never the place for an error.
 */
static json_t *
cmd_complete_list(struct cmd_complete *cc)
{
	struct itimerval	 timer;
	struct conn		*conn;
	sigset_t		 set;
	json_t			*reply, *result, *jobs = NULL;
	json_int_t		 id;
	char			*path;
	uid_t			 peer;
	int			 sigfd, code;

	path = proto_socket_path(cc->socket != NULL ? cc->socket :
	    cc->ctl->args.socket);
	if (path == NULL)
		return (NULL);
	/* The timer interrupts the wait through the connection's sigfd. */
	sigemptyset(&set);
	sigaddset(&set, SIGALRM);
	if (sigprocmask(SIG_BLOCK, &set, NULL) == -1 ||
	    (sigfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK)) == -1) {
		free(path);
		return (NULL);
	}
	memset(&timer, 0, sizeof timer);
	timer.it_value.tv_sec = CMD_COMPLETE_TIMEOUT_MS / 1000;
	timer.it_value.tv_usec = (CMD_COMPLETE_TIMEOUT_MS % 1000) * 1000;
	if (setitimer(ITIMER_REAL, &timer, NULL) == 0 &&
	    (conn = conn_open(path, &peer, 1)) != NULL) {
		conn->sigfd = sigfd;
		if ((id = conn_send(conn, "list", NULL)) != -1 &&
		    conn_wait(conn, id, &reply) == 1) {
			result = procctl_reply_result(reply, &code);
			if (json_is_array(result))
				jobs = json_incref(result);
			json_decref(reply);
		}
		conn_free(conn);
	}
	memset(&timer, 0, sizeof timer);
	setitimer(ITIMER_REAL, &timer, NULL);
	close(sigfd);
	free(path);
	return (jobs);
}

/* The jobs, by id and by name, each described by the other and argv. */
static void
cmd_complete_jobs(struct cmd_complete *cc)
{
	json_t		*jobs, *job, *id, *name, *state;
	char		 word[32], argv[128], desc[256];
	size_t		 i;

	/* The jobs of another host's procd are not asked for over ssh. */
	if (cc->remote || (jobs = cmd_complete_list(cc)) == NULL)
		return;
	json_array_foreach(jobs, i, job) {
		id = json_object_get(job, PROTO_F_ID);
		name = json_object_get(job, PROTO_F_NAME);
		state = json_object_get(job, PROTO_F_STATE);
		if (!json_is_integer(id) || !json_is_string(name))
			continue;
		cmd_complete_argv(json_object_get(job, PROTO_F_ARGV), argv,
		    sizeof argv);
		snprintf(word, sizeof word, "%lld",
		    (long long)json_integer_value(id));
		snprintf(desc, sizeof desc, "%s, %s: %s",
		    json_string_value(name), json_is_string(state) ?
		    json_string_value(state) : "?", argv);
		cmd_complete_put(cc, word, desc);
		snprintf(desc, sizeof desc, "job %s, %s: %s", word,
		    json_is_string(state) ? json_string_value(state) : "?",
		    argv);
		cmd_complete_put(cc, json_string_value(name), desc);
	}
	json_decref(jobs);
}

/* The values of option o. */
static void
cmd_complete_values(struct cmd_complete *cc, const struct procctl_option *o)
{
	const char *const	*words;
	int			 state;

	switch (o->id) {
	case OPT_SOCKET:
		cmd_complete_fallback(cc, "files");
		break;
	case OPT_CWD:
		cmd_complete_fallback(cc, "directories");
		break;
	case OPT_AS_USER:
		cmd_complete_fallback(cc, "users");
		break;
	case OPT_AS_GROUP:
		cmd_complete_fallback(cc, "groups");
		break;
	case OPT_PARENT:
		cmd_complete_jobs(cc);
		break;
	case OPT_STATE:
		for (state = 0; state < PROTO_NSTATES; state++)
			cmd_complete_put(cc, proto_state_name(state), NULL);
		break;
	default:
		for (words = procctl_option_words(o->id); words != NULL &&
		    *words != NULL; words++)
			cmd_complete_put(cc, *words, NULL);
		break;
	}
}

/*
 * The name of operand n in cmd's synopsis ("JOB", "SIG", "CMD"), skipping
 * options and their values; the last one repeats if "..." follows it.
 * Returns 0, or -1 when cmd takes no operand n.
 */
static int
cmd_complete_operand(const struct procctl_command *cmd, int n, char *buf,
    size_t size)
{
	const struct procctl_option	*o;
	const char			*p, *tok;
	size_t				 len, i, namelen;
	int				 k = 0, value = 0, repeats;

	for (p = cmd->synopsis; *p != '\0'; p += len) {
		p += strspn(p, " \n");
		len = strcspn(p, " \n");
		if (len == 0)
			break;
		for (tok = p; *tok == '['; tok++)
			;
		namelen = strcspn(tok, "]|. \n");
		if (value) {
			value = 0;
			continue;
		}
		if (*tok == '-') {
			/* An option: does the next token name its value? */
			i = 0;
			while ((o = procctl_option_next(cmd, &i)) != NULL) {
				if (tok[1] == '-' ? namelen > 2 &&
				    strlen(o->name) == namelen - 2 &&
				    strncmp(tok + 2, o->name, namelen - 2) == 0 :
				    namelen == 2 && o->letter == tok[1])
					break;
			}
			value = o != NULL && o->has_arg;
			continue;
		}
		repeats = strncmp(tok + namelen, "...", 3) == 0;
		if (k == n || (repeats && k < n)) {
			snprintf(buf, size, "%.*s", (int)namelen, tok);
			return (0);
		}
		k++;
	}
	return (-1);
}

/* Completes an operand: a job, a signal, a command, a file... */
static void
cmd_complete_operands(struct cmd_complete *cc)
{
	char	name[32];

	if (cmd_complete_operand(cc->cmd, cc->noperands, name,
	    sizeof name) == -1) {
		/* No operand goes here: the options, if the word may be one. */
		if (*cc->word == '\0' && !cc->dashdash)
			cmd_complete_options(cc);
		return;
	}
	if (strcmp(name, "JOB") == 0)
		cmd_complete_jobs(cc);
	else if (strcmp(name, "SIG") == 0)
		cmd_complete_signals(cc);
	else if (strcmp(name, "COMMAND") == 0)
		cmd_complete_commands(cc);
	else if (strcmp(name, "METHOD") == 0)
		cmd_complete_methods(cc);
	else if (strcmp(name, "CMD") == 0)
		cmd_complete_fallback(cc, "commands");
	else if (strcmp(name, "ARG") == 0)
		cmd_complete_fallback(cc, "files");
}

/* The option of cmd (or of procctl) with that long name or letter. */
static const struct procctl_option *
cmd_complete_lookup(const struct cmd_complete *cc, const char *name,
    size_t len, int letter)
{
	const struct procctl_option	*o;
	size_t				 i = 0;

	while ((o = procctl_option_next(cc->cmd != NULL ? cc->cmd :
	    &procctl_global, &i)) != NULL) {
		if (letter != 0 ? o->letter == letter :
		    strlen(o->name) == len && strncmp(o->name, name, len) == 0)
			return (o);
	}
	return (NULL);
}

/* Notes the value of an option, when it is one that completion uses. */
static void
cmd_complete_value(struct cmd_complete *cc, const struct procctl_option *o,
    const char *value, int word)
{
	const char	*home;

	if (o->id == OPT_HOST)
		cc->remote = 1;
	if (o->id != OPT_SOCKET)
		return;
	cc->socket = value;
	/* A shell would expand "~/" in a word of its own. */
	if (word && strncmp(value, "~/", 2) == 0 &&
	    (home = getenv("HOME")) != NULL) {
		free(cc->socket_home);
		xasprintf(&cc->socket_home, "%s%s", home, value + 1);
		cc->socket = cc->socket_home;
	}
}

/* An option word before the one being completed: "--x[=v]" or "-abc". */
static void
cmd_complete_option_word(struct cmd_complete *cc, const char *w)
{
	const struct procctl_option	*o;
	const char			*eq;

	if (w[1] == '-') {
		eq = strchr(w, '=');
		o = cmd_complete_lookup(cc, w + 2, eq != NULL ?
		    (size_t)(eq - w - 2) : strlen(w + 2), 0);
		if (o == NULL || !o->has_arg)
			return;
		if (eq != NULL)
			cmd_complete_value(cc, o, eq + 1, 0);
		else
			cc->value_of = o;
		return;
	}
	for (w++; *w != '\0'; w++) {
		if ((o = cmd_complete_lookup(cc, NULL, 0, *w)) == NULL ||
		    !o->has_arg)
			continue;
		if (w[1] != '\0')
			cmd_complete_value(cc, o, w + 1, 0);
		else
			cc->value_of = o;
		return;
	}
}

/*
 * Reads the words before the last as procctl would parse them. Returns
 * -1 when they name no command procctl has: then there is nothing to
 * offer.
 */
static int
cmd_complete_walk(struct cmd_complete *cc, char **words, int n)
{
	const char	*w;
	int		 i;

	for (i = 1; i < n - 1; i++) {
		w = words[i];
		if (cc->value_of != NULL) {
			cmd_complete_value(cc, cc->value_of, w, 1);
			cc->value_of = NULL;
		} else if (cc->cmd != NULL && cc->cmd->in_order &&
		    cc->noperands > 0)
			cc->noperands++;	/* CMD's own arguments */
		else if (!cc->dashdash && strcmp(w, "--") == 0)
			cc->dashdash = 1;
		else if (!cc->dashdash && w[0] == '-' && w[1] != '\0')
			cmd_complete_option_word(cc, w);
		else if (cc->cmd == NULL) {
			if ((cc->cmd = procctl_find(w)) == NULL)
				return (-1);
			cc->dashdash = 0;
		} else
			cc->noperands++;
	}
	return (0);
}

/* Completes the last word, after the walk. */
static void
cmd_complete_word(struct cmd_complete *cc, const char *word)
{
	const struct procctl_option	*o;
	const char			*eq;

	cc->word = word;
	if (cc->value_of != NULL)
		cmd_complete_values(cc, cc->value_of);
	else if (cc->cmd != NULL && cc->cmd->in_order && cc->noperands > 0)
		cmd_complete_fallback(cc, "files");
	else if (!cc->dashdash && word[0] == '-') {
		if (word[1] == '-' && (eq = strchr(word, '=')) != NULL) {
			o = cmd_complete_lookup(cc, word + 2,
			    (size_t)(eq - word - 2), 0);
			if (o != NULL && o->has_arg) {
				cc->prefixlen = (size_t)(eq + 1 - word);
				cmd_complete_values(cc, o);
			}
		} else
			cmd_complete_options(cc);
	} else if (cc->cmd == NULL)
		cmd_complete_commands(cc);
	else
		cmd_complete_operands(cc);
}

static int
cmd_complete_exec(struct procctl *ctl)
{
	struct cmd_complete	cc;

	memset(&cc, 0, sizeof cc);
	cc.ctl = ctl;
	/* The first word is procctl itself: completing it is not ours. */
	if (ctl->args.noperands >= 2 &&
	    cmd_complete_walk(&cc, ctl->args.operands,
	    ctl->args.noperands) == 0)
		cmd_complete_word(&cc,
		    ctl->args.operands[ctl->args.noperands - 1]);
	free(cc.socket_home);
	return (PROCCTL_EXIT_OK);
}
