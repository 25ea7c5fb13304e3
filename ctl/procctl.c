/* SPDX-License-Identifier: ISC */
/*
 * procctl's entry point: the global options, usage and help drawn from
 * the table of commands (cmd.c), and main.
 */

#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proto.h"
#include "procctl.h"

/* The options before COMMAND. */
const struct procctl_command procctl_global = {
	"", "", "", OPT_COMMON | OPT(OPT_VERSION), "", -1, 1, NULL
};

/* Prints text with each '\n' followed by indent spaces. */
static void
procctl_wrapped(FILE *f, const char *text, int indent)
{
	for (; *text != '\0'; text++) {
		fputc(*text, f);
		if (*text == '\n')
			fprintf(f, "%*s", indent, "");
	}
}

static void
procctl_synopsis(FILE *f, const struct procctl_command *cmd)
{
	int	indent;

	indent = (int)strlen("usage: procctl ") + (int)strlen(cmd->name) + 1;
	fprintf(f, "usage: procctl %s", cmd->name);
	if (*cmd->synopsis != '\0') {
		fputc(' ', f);
		procctl_wrapped(f, cmd->synopsis, indent);
	}
	fputc('\n', f);
}

static void
procctl_usage(FILE *f)
{
	const struct procctl_command	*cmd;
	size_t				 i;
	int				 indent;

	fprintf(f, "usage: procctl [--socket PATH | -H [USER@]HOST[:SOCKET]] "
	    "[--json]\n               COMMAND [ARG...]\n"
	    "       procctl --version\n\ncommands:\n");
	for (i = 0; procctl_commands[i] != NULL; i++) {
		cmd = procctl_commands[i];
		indent = 2 + (int)strlen(cmd->name) + 1;
		fprintf(f, "  %s%s", cmd->name, *cmd->synopsis ? " " : "");
		procctl_wrapped(f, cmd->synopsis, indent);
		fputc('\n', f);
	}
	fprintf(f, "\n'procctl COMMAND --help' describes one command.\n");
}

/* Prints the full help of cmd (or of procctl) on stdout. */
void
procctl_help(const struct procctl_command *cmd)
{
	if (cmd == NULL || cmd == &procctl_global) {
		procctl_usage(stdout);
		return;
	}
	procctl_synopsis(stdout, cmd);
	printf("%s", cmd->help);
}

void
procctl_vusage(struct procctl *ctl, const char *fmt, va_list ap)
{
	fprintf(stderr, "procctl: ");
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	if (ctl->cmd == NULL || ctl->cmd == &procctl_global)
		fprintf(stderr, "usage: procctl [--socket PATH | -H "
		    "[USER@]HOST[:SOCKET]] [--json]\n"
		    "               COMMAND [ARG...]\n"
		    "(procctl --help lists the commands)\n");
	else
		procctl_synopsis(stderr, ctl->cmd);
}

/* Reports a usage error for the current command; returns the exit status. */
int
procctl_usage_error(struct procctl *ctl, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	procctl_vusage(ctl, fmt, ap);
	va_end(ap);
	return (PROCCTL_EXIT_USAGE);
}

/* The command of that name, listed or hidden; NULL if there is none. */
const struct procctl_command *
procctl_find(const char *name)
{
	size_t	i;

	for (i = 0; procctl_commands[i] != NULL; i++) {
		if (strcmp(procctl_commands[i]->name, name) == 0)
			return (procctl_commands[i]);
	}
	for (i = 0; procctl_hidden_commands[i] != NULL; i++) {
		if (strcmp(procctl_hidden_commands[i]->name, name) == 0)
			return (procctl_hidden_commands[i]);
	}
	return (NULL);
}

static void
procctl_clear(struct procctl *ctl)
{
	struct procctl_args	*args = &ctl->args;

	procctl_disconnect(ctl);
	json_decref(args->parent);
	json_decref(args->env);
	json_decref(args->stop_timeout);
	json_decref(args->timeout);
	json_decref(args->restart_delay);
	json_decref(args->restart_max_delay);
	json_decref(args->ready_timeout);
	json_decref(args->states);
	free(args->operands);
	free(ctl->socket);
	if (ctl->sigfd != -1)
		close(ctl->sigfd);
}

/* Finds the command and parses its own options; -1 on a usage error. */
static int
procctl_command(struct procctl *ctl, char ***cmdv)
{
	struct procctl_args	*args = &ctl->args;
	int			 n;

	if (args->noperands == 0) {
		procctl_usage_error(ctl, "missing COMMAND");
		return (-1);
	}
	if ((ctl->cmd = procctl_find(args->operands[0])) == NULL) {
		ctl->cmd = &procctl_global;
		procctl_usage_error(ctl, "unknown command: %s",
		    args->operands[0]);
		return (-1);
	}
	/* The operands after the global options are the command's argv. */
	*cmdv = args->operands;
	n = args->noperands;
	args->operands = NULL;
	if (procctl_parse(ctl, n, *cmdv) == -1 || procctl_operands(ctl) == -1)
		return (-1);
	return (0);
}

int
main(int argc, char **argv)
{
	struct procctl	  ctl;
	char		**cmdv = NULL;
	int		  status = PROCCTL_EXIT_USAGE;

	memset(&ctl, 0, sizeof ctl);
	ctl.args.tail = -1;
	ctl.args.restart_limit = -1;
	ctl.sigfd = -1;

	ctl.cmd = &procctl_global;
	if (argc >= 1 && procctl_parse(&ctl, argc, argv) == 0 &&
	    procctl_command(&ctl, &cmdv) == 0)
		status = ctl.cmd->exec(&ctl);
	free(cmdv);
	procctl_clear(&ctl);

	if (fflush(stdout) == EOF || ferror(stdout)) {
		fprintf(stderr, "procctl: writing output: %s\n",
		    strerror(errno));
		if (status == PROCCTL_EXIT_OK)
			status = PROCCTL_EXIT_ERROR;
	}
	return (status);
}
