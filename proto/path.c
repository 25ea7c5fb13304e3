/* SPDX-License-Identifier: ISC */
/*
 * Socket path resolution, the same for procd and procctl: the option, then
 * PROCD_SOCKET, then the per-user or system default.
 */

#include "config.h"

#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proto.h"

/*
 * Connects to procd's socket at path. Returns a blocking, close-on-exec
 * fd, or -1 with errno set.
 */
int
proto_connect(const char *path)
{
	struct sockaddr_un	sun;
	int			fd, saved;

	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof sun.sun_path) {
		errno = ENAMETOOLONG;
		return (-1);
	}
	memcpy(sun.sun_path, path, strlen(path));
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return (-1);
	while (connect(fd, (struct sockaddr *)&sun, sizeof sun) == -1) {
		if (errno == EINTR)
			continue;
		saved = errno;
		close(fd);
		errno = saved;
		return (-1);
	}
	return (fd);
}

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
