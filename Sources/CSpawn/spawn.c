#define _GNU_SOURCE
#include "hearth_spawn.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <errno.h>
#include <unistd.h>

static int stream(posix_spawn_file_actions_t *actions, int fd, int target, int flags) {
    return fd >= 0 ? posix_spawn_file_actions_adddup2(actions, fd, target)
                   : posix_spawn_file_actions_addopen(actions, target, "/dev/null", flags, 0);
}

int hearth_spawn(pid_t *pid, const char *path, char *const argv[], char *const envp[], const char *dir,
                 int in_fd, int out_fd, int err_fd, int new_group) {
    posix_spawn_file_actions_t actions;
    posix_spawnattr_t attributes;
    int rc = posix_spawn_file_actions_init(&actions);
    if (rc != 0) return rc;
    rc = posix_spawnattr_init(&attributes);
    if (rc != 0) { posix_spawn_file_actions_destroy(&actions); return rc; }

    sigset_t all, none;
    sigfillset(&all);
    sigemptyset(&none);
    short flags = POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK | (new_group ? POSIX_SPAWN_SETPGROUP : 0);
    if ((rc = stream(&actions, in_fd, 0, O_RDONLY)) == 0 &&
        (rc = stream(&actions, out_fd, 1, O_WRONLY)) == 0 &&
        (rc = stream(&actions, err_fd, 2, O_WRONLY)) == 0 &&
        (rc = posix_spawn_file_actions_addclosefrom_np(&actions, 3)) == 0 &&
        (dir == NULL || (rc = posix_spawn_file_actions_addchdir_np(&actions, dir)) == 0) &&
        (rc = posix_spawnattr_setsigdefault(&attributes, &all)) == 0 &&
        (rc = posix_spawnattr_setsigmask(&attributes, &none)) == 0 &&
        (rc = posix_spawnattr_setpgroup(&attributes, 0)) == 0 &&
        (rc = posix_spawnattr_setflags(&attributes, flags)) == 0) {
        rc = posix_spawn(pid, path, &actions, &attributes, argv, envp);
    }
    posix_spawnattr_destroy(&attributes);
    posix_spawn_file_actions_destroy(&actions);
    return rc;
}

int hearth_pipe(int fds[2]) {
    return pipe2(fds, O_CLOEXEC) == 0 ? 0 : errno;
}
