/* SPDX-License-Identifier: ISC */
/*
 * Socket path resolution, the same for procd and procctl: the option, then
 * PROCD_SOCKET, then the per-user or system default.
 */

#include "config.h"

#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proto.h"

/*
 * Connects to procd's socket at path. Returns a blocking, close-on-exec
 * fd, or -1 with errno set. With nowait, a socket whose queue of
 * connections is full (a daemon that does not accept) fails at once
 * with EAGAIN instead of blocking until it accepts, which may be never.
 */
int
proto_connect(const char *path, int nowait)
{
	struct sockaddr_un	sun;
	int			fd, saved, flags;

	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof sun.sun_path) {
		errno = ENAMETOOLONG;
		return (-1);
	}
	memcpy(sun.sun_path, path, strlen(path));
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC |
	    (nowait ? SOCK_NONBLOCK : 0), 0)) == -1)
		return (-1);
	/* A Unix socket connects at once or not at all: no EINPROGRESS. */
	while (connect(fd, (struct sockaddr *)&sun, sizeof sun) == -1) {
		if (errno == EINTR)
			continue;
		goto fail;
	}
	if (nowait && ((flags = fcntl(fd, F_GETFL)) == -1 ||
	    fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) == -1))
		goto fail;
	return (fd);

fail:
	saved = errno;
	close(fd);
	errno = saved;
	return (-1);
}

/*
 * True if the path comes from the option or PROCD_SOCKET: the user chose
 * its folder, rather than it being the default one.
 */
int
proto_socket_path_chosen(const char *option)
{
	const char	*env;

	if (option != NULL && *option != '\0')
		return (1);
	env = getenv("PROCD_SOCKET");
	return (env != NULL && *env != '\0');
}

/*
 * Checks who answers on a connected socket, before anything is sent: a
 * procd runs as root or as the client's own uid, and anything else may
 * be another user's server squatting the path. Returns 0 if the peer is
 * trusted; -1 with errno EPERM and *peer set if not, or with the errno
 * of a failed look.
 */
int
proto_peer_trusted(int fd, uid_t *peer)
{
	struct ucred	uc;
	socklen_t	len = sizeof uc;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &len) == -1)
		return (-1);
	*peer = uc.uid;
	if (uc.uid == 0 || uc.uid == geteuid())
		return (0);
	errno = EPERM;
	return (-1);
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
