/*
 * procstat.c - reads the process's numbers (see procstat.h) from /proc/self/stat (fields
 * 14-15 utime/stime, 22 starttime in clock ticks since boot, 23 vsize, 24 rss in pages:
 * proc(5)), /proc/stat's btime, /proc/self/fd and getrlimit(RLIMIT_NOFILE).
 */
#include "proxy/procstat.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

/* Boot time (Unix seconds) from /proc/stat's btime line; 0 if unknown. */
static long long boot_time(void)
{
	FILE *f = fopen("/proc/stat", "r");
	char line[256];
	long long bt = 0;
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "btime %lld", &bt) == 1)
			break;
	fclose(f);
	return bt;
}

/*
 * The open descriptors: the entries of /proc/self/fd, less the one reading it. Read with
 * open() and getdents64() rather than opendir(): ThreadSanitizer registers a descriptor when
 * open() returns it but not when opendir() does, and libuv closes its sockets with a raw
 * close system call TSan cannot see, so closedir() on a number a loop's socket had used read
 * as a race with that loop's epoll_ctl (the admin thread renders the metrics).
 */
static int64_t count_fds(void)
{
	int fd = open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	_Alignas(struct dirent64) char buf[4096];
	int64_t n = 0;
	ssize_t k;
	while ((k = getdents64(fd, buf, sizeof(buf))) > 0) {
		for (ssize_t off = 0; off < k;) {
			const struct dirent64 *e = (const struct dirent64 *)(buf + off);
			if (e->d_reclen == 0)
				break;
			if (e->d_name[0] != '.')
				n++;
			off += e->d_reclen;
		}
	}
	close(fd);
	return k < 0 ? -1 : n - 1;
}

static int read_stat(ig_procstat *out)
{
	char buf[1024];
	FILE *f = fopen("/proc/self/stat", "r");
	if (!f)
		return -1;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* The command name (field 2) may hold spaces and parentheses: fields 3.. follow the last ')'. */
	char *p = strrchr(buf, ')');
	unsigned long long utime, stime, start, vsize;
	long long rss;
	/* Skipped fields are read as words (%*s): no numeric conversion that could overflow. */
	if (!p || sscanf(p + 1, "%*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %llu %llu %*s %*s %*s %*s %*s %*s "
	                        "%llu %llu %lld", &utime, &stime, &start, &vsize, &rss) != 5)
		return -1;
	long tick = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
	if (tick <= 0)
		tick = 100;
	if (page <= 0)
		page = 4096;
	out->cpu_seconds = (double)(utime + stime) / (double)tick;
	out->start_time_seconds = (double)boot_time() + (double)start / (double)tick;
	out->virtual_bytes = vsize;
	out->resident_bytes = rss > 0 ? (uint64_t)rss * (uint64_t)page : 0;
	return 0;
}

int ig_procstat_read(ig_procstat *out)
{
	struct rlimit rl;
	memset(out, 0, sizeof(*out));
	out->open_fds = count_fds();
	out->max_fds = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY ? (int64_t)rl.rlim_cur : -1;
	return read_stat(out);
}
