/* SPDX-License-Identifier: ISC */
/*
 * Socket path resolution, the same for procd and procctl: the option, then
 * PROCD_SOCKET, then the per-user or system default.
 */

#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proto.h"

/* Returns the socket path to use (malloc'd), or NULL on out of memory. */
char *
proto_socket_path(const char *option)
{
	const char	*env;
	char		*path;
	uid_t		 uid;

	if (option != NULL && *option != '\0')
		return (strdup(option));
	env = getenv("PROCD_SOCKET");
	if (env != NULL && *env != '\0')
		return (strdup(env));
	uid = getuid();
	if (uid == 0)
		return (strdup("/run/procd/procd.sock"));
	env = getenv("XDG_RUNTIME_DIR");
	if (env != NULL && *env != '\0') {
		if (asprintf(&path, "%s/procd/procd.sock", env) == -1)
			return (NULL);
	} else if (asprintf(&path, "/tmp/procd-%u/procd.sock",
	    (unsigned)uid) == -1)
		return (NULL);
	return (path);
}
