#ifndef HEARTH_SPAWN_H
#define HEARTH_SPAWN_H

#include <sys/types.h>

// POSIX calls for which Swift's Glibc module has no (safe) form.

/// Starts `path` with `argv` and `envp` (NULL-terminated) through posix_spawn.
/// The child gets `in_fd`, `out_fd` and `err_fd` as its standard streams (-1: /dev/null) and no
/// other descriptor of ours (every descriptor from 3 up is closed in it, whatever its flags), the
/// default disposition of every signal and an empty signal mask, `dir` as its working directory
/// (NULL: ours) and, when `new_group` is non-zero, a process group of its own.
/// Returns 0 and sets `*pid`, or an errno value.
int hearth_spawn(pid_t *pid, const char *path, char *const argv[], char *const envp[], const char *dir,
                 int in_fd, int out_fd, int err_fd, int new_group);

/// A pipe whose two ends are close-on-exec (pipe2 with O_CLOEXEC). Returns 0 or an errno value.
int hearth_pipe(int fds[2]);

/// Starts writing a file's dirty pages to disk without waiting (Linux sync_file_range with
/// SYNC_FILE_RANGE_WRITE), so that fsyncs of several files overlap. Returns 0 or an errno value.
int hearth_start_writeback(int fd);

#endif
