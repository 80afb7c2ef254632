#define _GNU_SOURCE
#include <fcntl.h>
#include <errno.h>
#include "hearth_spawn.h"

int hearth_start_writeback(int fd) {
    return sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE) == 0 ? 0 : errno;
}
