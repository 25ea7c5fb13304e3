/* SPDX-License-Identifier: ISC */
/*
 * Users: one record per uid that has a client connected or a job not
 * closed, holding the per-user counts that the per-user limits and a
 * non-root client's view of info need, and a short-lived copy of the
 * user database entry (NSS can be slow: LDAP, sssd). Identity always
 * comes from the kernel (SO_PEERCRED at accept); this file only says
 * what an identity may do.
 */

#include "config.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "procd.h"

#define USER_DB_TTL_SEC		10	/* how long a looked-up entry holds */
#define USER_DB_BUFSIZE		16384	/* getpwuid_r's strings */
#define USER_MAX_GROUPS		65536

static struct user	*users;		/* by uid */

/* Is procd root, and so able to run jobs as their owners? */
int
user_procd_is_root(void)
{
	static int	root = -1;	/* procd never changes its own uid */

	if (root == -1)
		root = geteuid() == 0;
	return (root);
}

/* The record of uid, made if there is none yet. */
struct user *
user_get(uid_t uid)
{
	struct user	*u;

	HASH_FIND(hh, users, &uid, sizeof uid, u);
	if (u != NULL)
		return (u);
	u = xcalloc(1, sizeof *u);
	u->uid = uid;
	HASH_ADD(hh, users, uid, sizeof u->uid, u);
	return (u);
}

/* The record of uid, or NULL: nothing of uid is connected or kept. */
struct user *
user_find(uid_t uid)
{
	struct user	*u;

	HASH_FIND(hh, users, &uid, sizeof uid, u);
	return (u);
}

static void
user_db_clear(struct user *u)
{
	free(u->name);
	free(u->home);
	free(u->shell);
	u->name = u->home = u->shell = NULL;
	u->db_found = 0;
}

/* Frees u once nothing of its uid is left. */
void
user_release(struct user *u)
{
	if (u == NULL || u->clients != 0 || u->jobs != 0)
		return;
	HASH_DEL(users, u);
	user_db_clear(u);
	free(u);
}

/* Looks u up in the user database, unless the copy is recent. */
void
user_db_load(struct user *u)
{
	struct passwd	 pw, *res = NULL;
	struct timespec	 now;
	char		*buf;
	int		 error;

	clock_gettime(CLOCK_MONOTONIC, &now);
	if (u->db_loaded && now.tv_sec - u->db_at < USER_DB_TTL_SEC)
		return;
	user_db_clear(u);
	buf = xmalloc(USER_DB_BUFSIZE);
	error = getpwuid_r(u->uid, &pw, buf, USER_DB_BUFSIZE, &res);
	if (error == 0 && res != NULL) {
		u->db_found = 1;
		u->name = xstrdup(pw.pw_name);
		u->home = xstrdup(pw.pw_dir);
		u->shell = xstrdup(pw.pw_shell[0] != '\0' ? pw.pw_shell :
		    "/bin/sh");
		u->db_gid = pw.pw_gid;
	} else if (error != 0)
		log_warnx("user database: uid %u: %s", (unsigned)u->uid,
		    strerror(error));
	free(buf);
	u->db_loaded = 1;
	u->db_at = now.tv_sec;
}

/* May client c act on job (status, join, stop, close, logs, ...)? */
int
user_may_act(const struct client *c, const struct job *job)
{
	return (c->uid == 0 || c->uid == job->uid);
}

/* Does c have group gid, by the kernel's word at accept? */
int
user_client_has_group(const struct client *c, gid_t gid)
{
	size_t	i;

	if (c->gid == gid)
		return (1);
	for (i = 0; i < c->ngroups; i++) {
		if (c->groups[i] == gid)
			return (1);
	}
	return (0);
}

/* Does procd itself have group gid? */
static int
user_procd_has_group(gid_t gid)
{
	gid_t	*groups;
	int	 n, i, found = 0;

	if (getegid() == gid)
		return (1);
	if ((n = getgroups(0, NULL)) <= 0)
		return (0);
	groups = xcalloc(n, sizeof *groups);
	n = getgroups(n, groups);
	for (i = 0; i < n; i++) {
		if (groups[i] == gid)
			found = 1;
	}
	free(groups);
	return (found);
}

/* Looks a name up as a user (group 0) or a group; 0 with *id, or -1. */
static int
user_lookup_name(const char *name, int group, unsigned *id)
{
	struct passwd	 pw, *pwres = NULL;
	struct group	 gr, *grres = NULL;
	char		*buf;
	int		 found;

	buf = xmalloc(USER_DB_BUFSIZE);
	if (group) {
		found = getgrnam_r(name, &gr, buf, USER_DB_BUFSIZE, &grres) ==
		    0 && grres != NULL;
		if (found)
			*id = gr.gr_gid;
	} else {
		found = getpwnam_r(name, &pw, buf, USER_DB_BUFSIZE, &pwres) ==
		    0 && pwres != NULL;
		if (found)
			*id = pw.pw_uid;
	}
	free(buf);
	return (found ? 0 : -1);
}

/*
 * Resolves a user or group param: a number, or a name in the database,
 * or else a string of digits. Returns 0 with *id, or -1 with *cause.
 */
static int
user_resolve(const json_t *v, int group, unsigned *id, char **cause)
{
	const char	*what = group ? "group" : "user", *name;
	char		*end;
	long long	 n;

	if (json_is_integer(v)) {
		n = json_integer_value(v);
		if (n < 0 || n >= (long long)(uid_t)-1) {
			xasprintf(cause, "invalid params: '%s' %lld is not "
			    "an id", what, n);
			return (-1);
		}
		*id = (unsigned)n;
		return (0);
	}
	name = json_string_value(v);
	if (user_lookup_name(name, group, id) == 0)
		return (0);
	errno = 0;
	n = strtoll(name, &end, 10);
	if (*name != '\0' && *end == '\0' && errno == 0 && n >= 0 &&
	    n < (long long)(uid_t)-1) {
		*id = (unsigned)n;
		return (0);
	}
	xasprintf(cause, "invalid params: no such %s: %s", what, name);
	return (-1);
}

/* The supplementary groups initgroups would give u with gid. */
static void
user_db_groups(struct user *u, gid_t gid, struct user_creds *cr)
{
	int	n = 64;

	user_db_load(u);
	if (!u->db_found) {
		cr->groups = xcalloc(1, sizeof *cr->groups);
		cr->groups[0] = gid;
		cr->ngroups = 1;
		return;
	}
	for (;;) {
		cr->groups = xreallocarray(cr->groups, n, sizeof *cr->groups);
		if (getgrouplist(u->name, gid, cr->groups, &n) != -1)
			break;
		if (n >= USER_MAX_GROUPS) {
			n = USER_MAX_GROUPS;
			break;
		}
	}
	cr->ngroups = n;
}

void
user_creds_clear(struct user_creds *cr)
{
	free(cr->groups);
	memset(cr, 0, sizeof *cr);
}

/*
 * The refusals for a non-root client, the same whether or not the name
 * it gave exists, so that they tell nothing of the user database.
 */
static int
user_deny_user(int *code, char **cause)
{
	free(*cause);
	*code = PROTO_PERMISSION;
	xasprintf(cause, "permission denied: only root may start a job as "
	    "another user");
	return (-1);
}

static int
user_deny_group(int *code, char **cause)
{
	free(*cause);
	*code = PROTO_PERMISSION;
	xasprintf(cause, "permission denied: only root may start a job with "
	    "a group it does not have");
	return (-1);
}

/*
 * Who a job that c starts runs as, from the user and group params (NULL
 * when absent): sets *cr. Returns 0, or -1 with *code and *cause (an
 * error for the start request) if c may not name them.
 */
int
user_start_creds(const struct client *c, const json_t *user,
    const json_t *group, struct user_creds *cr, int *code, char **cause)
{
	struct user	*u;
	uid_t		 uid = c->uid, self = geteuid();
	gid_t		 gid = 0;
	unsigned	 id;
	int		 named_group = 0;

	memset(cr, 0, sizeof *cr);
	*cause = NULL;
	*code = PROTO_INVALID_PARAMS;
	if (user != NULL && user_resolve(user, 0, &id, cause) == -1) {
		/* Only root learns whether a name it may not use exists. */
		if (c->uid != 0)
			return (user_deny_user(code, cause));
		return (-1);
	}
	if (user != NULL)
		uid = id;
	if (group != NULL) {
		if (user_resolve(group, 1, &id, cause) == -1) {
			if (c->uid != 0)
				return (user_deny_group(code, cause));
			return (-1);
		}
		gid = id;
		named_group = 1;
	}
	*code = PROTO_PERMISSION;
	if (c->uid != 0 && uid != c->uid)
		return (user_deny_user(code, cause));
	if (named_group && c->uid != 0 && !user_client_has_group(c, gid))
		return (user_deny_group(code, cause));
	cr->uid = uid;
	if (!user_procd_is_root()) {
		/* A per-user procd runs every worker as itself. */
		if (user != NULL && uid != self) {
			xasprintf(cause, "permission denied: this procd runs "
			    "as uid %u and cannot start jobs as another user",
			    (unsigned)self);
			return (-1);
		}
		if (named_group && !user_procd_has_group(gid)) {
			xasprintf(cause, "permission denied: this procd is "
			    "not a member of group %u", (unsigned)gid);
			return (-1);
		}
		cr->gid = getegid();
		return (0);
	}
	if (uid == c->uid && c->uid != 0) {
		/* The client's own credentials, as the kernel gave them. */
		cr->change = 1;
		cr->gid = named_group ? gid : c->gid;
		cr->ngroups = c->ngroups;
		cr->groups = xcalloc(c->ngroups + 1, sizeof *cr->groups);
		memcpy(cr->groups, c->groups, c->ngroups * sizeof *c->groups);
		return (0);
	}
	if (uid == 0 && !named_group) {
		cr->gid = getegid();
		return (0);
	}
	/* Root names a user (or a group for itself): the database's. */
	u = user_get(uid);
	user_db_load(u);
	cr->change = 1;
	cr->gid = named_group ? gid : u->db_found ? u->db_gid : (gid_t)uid;
	user_db_groups(u, cr->gid, cr);
	user_release(u);
	return (0);
}

void
user_free_all(void)
{
	struct user	*u, *tmp;

	HASH_ITER(hh, users, u, tmp) {
		HASH_DEL(users, u);
		user_db_clear(u);
		free(u);
	}
}
