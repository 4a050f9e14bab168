/*
 * cmd_crashtest.c - `syncdax crashtest`: prove syncdax's crash promises at
 * every drain point of a set of workloads, the way Chipmunk, Vinter and
 * dm-log-writes (fstests generic/470) do for kernel file systems.
 *
 * For each workload:
 *
 *   mkfs a fresh image --oracle run (crash armed, never fires)--> the
 *   number of drains D, each operation's description and the state after
 *   it --> points (1..D, or N of them sampled from the seed, or one)
 *   --> tasks, spread over J forked workers (task t to worker t mod J)
 *   --> crash_check_point() each --> results through one pipe
 *   --> summary: points tried, states checked, violations, time; then
 *   the format limits (crash_check.c: states syncdax recovers that e2fsck
 *   cannot open, a torn superblock beside a whole shadow), counted
 *   apart from violations, with the first one's command.
 *
 * Everything a point does follows from (workload, scale, size, mode, seed,
 * point), so the one-line command printed with a violation reproduces it
 * (the threads workload excepted: its two threads interleave freely).
 *
 * Exit status: 0 when every state checked held (format limits included),
 * 1 when a violation or a harness error was found, 2 for bad usage.
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "syncdax.h"
#include "fs/mkfs.h"
#include "crash_harness.h"
#include "cli.h"

static const char usage_text[] =
	"usage: syncdax crashtest [--workload NAME[,NAME...]|all] "
	"[--points all|N]\n"
	"         [--point N] [--mode strict|evict|tear] [--seed S] "
	"[--jobs J]\n"
	"         [--size SIZE] [--scale N] [--dir DIR] [--keep] "
	"[--verbose]\n"
	"         [--plant lost-drain]\n"
	"Crash every chosen drain point of each workload, recover, check.\n"
	"  --points N   N points per workload, sampled from the seed\n"
	"  --point N    only drain N (what a violation's repro line uses)\n"
	"  --mode       strict: only drained lines survive; evict: any other\n"
	"               written lines too; tear: any of their 8-byte words\n"
	"  --scale N    workload size (default: each one's own, below)\n"
	"  --size SIZE  image size (default 8M, the least with a journal)\n"
	"  --keep       keep the scratch images (w*-crashed.img: the media\n"
	"               as the crash left it)\n"
	"  --plant lost-drain  self-test: lose drain N-1, keep drain N\n"
	"Exit status: 0 all held, 1 violations or harness errors, 2 usage.\n";

struct task {
	unsigned oracle;
	uint64_t point;
};

/* One result, sent in a single write (atomic: at most PIPE_BUF bytes). */
struct msg {
	uint32_t task;
	int32_t result;			/* crash_check_point's return */
	uint32_t len;			/* text bytes that follow */
};

#define MSG_TEXT_MAX (PIPE_BUF - sizeof(struct msg))
#define MAX_JOBS 256u

static void print_usage(void)
{
	size_t i;

	fputs(usage_text, stderr);
	fputs("workloads (and their default --scale):\n", stderr);
	for (i = 0; i < crash_nr_workloads; i++)
		fprintf(stderr, "  %-9s scale %-3u %s\n", crash_workloads[i].name,
			crash_workloads[i].scale, crash_workloads[i].what);
}

static int parse_u64(const char *s, uint64_t *val, bool has_suffix)
{
	char *end;

	errno = 0;
	*val = strtoull(s, &end, 0);
	if (errno || end == s || *s == '-')
		return -1;
	if (has_suffix && *end) {
		unsigned shift = *end == 'K' || *end == 'k' ? 10 :
				 *end == 'M' || *end == 'm' ? 20 :
				 *end == 'G' || *end == 'g' ? 30 : 0;

		if (!shift || end[1] || *val > (UINT64_MAX >> shift))
			return -1;
		*val <<= shift;
		return 0;
	}
	return *end ? -1 : 0;
}

/* Return: 0, 1 after --help, -1 for bad usage (told). */
static int parse_opts(int argc, char **argv, struct crash_opts *opt,
		      const struct crash_workload **chosen, size_t *nr)
{
	static const struct option longopts[] = {
		{ "workload", required_argument, NULL, 'w' },
		{ "points", required_argument, NULL, 'p' },
		{ "point", required_argument, NULL, 'P' },
		{ "mode", required_argument, NULL, 'm' },
		{ "seed", required_argument, NULL, 's' },
		{ "jobs", required_argument, NULL, 'j' },
		{ "size", required_argument, NULL, 'S' },
		{ "scale", required_argument, NULL, 'c' },
		{ "dir", required_argument, NULL, 'd' },
		{ "keep", no_argument, NULL, 'k' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "plant", required_argument, NULL, 'x' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *workloads = "all";
	uint64_t v;
	char *list, *name, *save = NULL;
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	int c, bad = 0;
	size_t i;

	*opt = (struct crash_opts){ .mode = SDX_CRASH_STRICT, .seed = 1,
				    .jobs = cpus <= 0 ? 1 : cpus > MAX_JOBS ?
					    MAX_JOBS : (unsigned)cpus,
				    .size = 8u << 20 };
	snprintf(opt->dir, sizeof(opt->dir), "/dev/shm");
	optind = 1;
	while (!bad && (c = getopt_long(argc, argv, "", longopts, NULL)) != -1)
		switch (c) {
		case 'w':
			workloads = optarg;
			break;
		case 'p':
			if (strcmp(optarg, "all") == 0)
				opt->points = 0;
			else
				bad = parse_u64(optarg, &opt->points, false) ||
				      opt->points == 0;
			break;
		case 'P':
			bad = parse_u64(optarg, &opt->point, false) ||
			      opt->point == 0;
			break;
		case 'm':
			if (strcmp(optarg, "strict") == 0)
				opt->mode = SDX_CRASH_STRICT;
			else if (strcmp(optarg, "evict") == 0)
				opt->mode = SDX_CRASH_EVICT;
			else if (strcmp(optarg, "tear") == 0)
				opt->mode = SDX_CRASH_TEAR;
			else
				bad = 1;
			break;
		case 's':
			bad = parse_u64(optarg, &opt->seed, false);
			break;
		case 'j':
			bad = parse_u64(optarg, &v, false) || v == 0 ||
			      v > MAX_JOBS;
			opt->jobs = (unsigned)v;
			break;
		case 'S':
			bad = parse_u64(optarg, &opt->size, true) ||
			      opt->size % 4096 || opt->size < (8u << 20);
			break;
		case 'c':
			bad = parse_u64(optarg, &v, false) || v == 0 ||
			      v > CRASH_MAX_SCALE;
			opt->scale = (unsigned)v;
			break;
		case 'd':
			snprintf(opt->dir, sizeof(opt->dir), "%s", optarg);
			break;
		case 'k':
			opt->is_keep = true;
			break;
		case 'v':
			opt->is_verbose = true;
			break;
		case 'h':
			print_usage();
			return 1;
		case 'x':
			bad = strcmp(optarg, "lost-drain") != 0;
			opt->is_lost_drain = true;
			break;
		default:
			bad = 1;
		}
	if (bad || optind != argc) {
		print_usage();
		return -1;
	}
	if (opt->is_lost_drain && opt->mode != SDX_CRASH_STRICT) {
		fprintf(stderr, "syncdax: crashtest: --plant lost-drain "
			"composes strict crashes; use --mode strict\n");
		return -1;
	}
	*nr = 0;
	if (strcmp(workloads, "all") == 0) {
		for (i = 0; i < crash_nr_workloads; i++)
			chosen[(*nr)++] = &crash_workloads[i];
		return 0;
	}
	list = strdup(workloads);
	for (name = strtok_r(list, ",", &save); name && !bad;
	     name = strtok_r(NULL, ",", &save)) {
		chosen[*nr] = crash_workload_find(name);
		if (!chosen[*nr] || *nr == crash_nr_workloads) {
			fprintf(stderr, "syncdax: crashtest: no workload "
				"'%s'\n", name);
			bad = 1;
		} else {
			(*nr)++;
		}
	}
	free(list);
	if (bad || *nr == 0) {
		print_usage();
		return -1;
	}
	return 0;
}

static int point_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/*
 * The points to crash @o at: every drain, or opt->points of them chosen
 * from the seed (a partial Fisher-Yates shuffle), or the one opt->point.
 * The planted bug needs a drain before the point, so it starts at 2.
 */
static uint64_t *choose_points(const struct crash_opts *opt,
			       const struct crash_oracle *o, size_t *nr)
{
	uint64_t lo = opt->is_lost_drain ? 2 : 1, hi = o->nr_drains, i, j, t;
	uint64_t state = opt->seed ^ crash_path_hash(o->wl->name);
	uint64_t *points;

	*nr = 0;
	if (opt->point) {
		points = malloc(sizeof(*points));
		if (points) {
			points[0] = opt->point;
			*nr = 1;
		}
		return points;
	}
	if (hi < lo)
		return malloc(1);
	points = malloc((hi - lo + 1) * sizeof(*points));
	if (!points)
		return NULL;
	for (i = lo; i <= hi; i++)
		points[i - lo] = i;
	*nr = (size_t)(hi - lo + 1);
	if (opt->points && opt->points < *nr) {
		for (i = 0; i < opt->points; i++) {
			j = i + crash_random(&state) % (*nr - i);
			t = points[i];
			points[i] = points[j];
			points[j] = t;
		}
		*nr = (size_t)opt->points;
		qsort(points, *nr, sizeof(*points), point_cmp);
	}
	return points;
}

/* A worker: check tasks @w, @w+J, @w+2J, ...; results into @fd. */
__attribute__((noreturn))
static void worker(const struct crash_opts *opt,
		   const struct crash_oracle *oracles,
		   const struct task *tasks, size_t nr_tasks, unsigned w,
		   int fd)
{
	char report[8192], buf[PIPE_BUF];
	struct msg m;
	size_t t;

	for (t = w; t < nr_tasks; t += opt->jobs) {
		m.task = (uint32_t)t;
		m.result = crash_check_point(opt, &oracles[tasks[t].oracle],
					     tasks[t].point, w, report,
					     sizeof(report));
		m.len = m.result || opt->is_verbose ? strlen(report) : 0;
		if (m.len > MSG_TEXT_MAX)
			m.len = MSG_TEXT_MAX;
		memcpy(buf, &m, sizeof(m));
		memcpy(buf + sizeof(m), report, m.len);
		if (write(fd, buf, sizeof(m) + m.len) < 0)
			_exit(4);
	}
	_exit(0);
}

static bool read_full(int fd, void *buf, size_t len)
{
	size_t done = 0;
	ssize_t n;

	while (done < len) {
		n = read(fd, (char *)buf + done, len - done);
		if (n <= 0)
			return false;
		done += (size_t)n;
	}
	return true;
}

struct tally {
	uint64_t tried, checked, violations, errors, format_limits;
	char first_limit[512];		/* the first format limit's command */
};

#define REPRODUCE "reproduce: "

/* Keep the command line of the first format limit's report @text. */
static void note_format_limit(struct tally *tally, const char *text)
{
	const char *cmd = strstr(text, REPRODUCE);

	if (tally->format_limits++ || !cmd)
		return;
	cmd += strlen(REPRODUCE);
	snprintf(tally->first_limit, sizeof(tally->first_limit), "%.*s",
		 (int)strcspn(cmd, "\n"), cmd);
}

static volatile sig_atomic_t is_interrupted;

static void interrupted(int sig)
{
	(void)sig;
	is_interrupted = 1;
}

/*
 * Fork the workers, gather their results, wait for them.  SIGINT or
 * SIGTERM stops the workers and returns, so that the caller still
 * removes the scratch directory.
 */
static int run_tasks(const struct crash_opts *opt,
		     const struct crash_oracle *oracles,
		     const struct task *tasks, size_t nr_tasks,
		     struct tally *tally)
{
	struct sigaction sa = { .sa_handler = interrupted }, old_int, old_term;
	char text[PIPE_BUF + 1];
	unsigned w, started = 0;
	int pipefd[2], status;
	pid_t pids[MAX_JOBS];
	struct msg m;

	if (pipe(pipefd) < 0)
		return -1;
	fflush(NULL);
	for (w = 0; w < opt->jobs && w < nr_tasks; w++) {
		pids[w] = fork();
		if (pids[w] < 0)
			break;
		if (pids[w] == 0) {
			close(pipefd[0]);
			worker(opt, oracles, tasks, nr_tasks, w, pipefd[1]);
		}
		started++;
	}
	close(pipefd[1]);
	/* no SA_RESTART: a signal ends the read below, then the cleanup */
	sigaction(SIGINT, &sa, &old_int);
	sigaction(SIGTERM, &sa, &old_term);
	while (read_full(pipefd[0], &m, sizeof(m)) &&
	       m.len <= MSG_TEXT_MAX && read_full(pipefd[0], text, m.len)) {
		text[m.len] = 0;
		tally->tried++;
		tally->checked += m.result >= 0;
		tally->violations += m.result == CRASH_VIOLATION;
		tally->errors += m.result < 0;
		if (m.result == CRASH_FORMAT_LIMIT)
			note_format_limit(tally, text);
		if ((m.result != CRASH_HELD &&
		     m.result != CRASH_FORMAT_LIMIT) || opt->is_verbose)
			printf("%s%s%s", m.result == CRASH_VIOLATION ?
			       "VIOLATION " : m.result < 0 ? "HARNESS ERROR " :
			       m.result == CRASH_FORMAT_LIMIT ?
			       "FORMAT LIMIT " : "ok ", text,
			       m.len && text[m.len - 1] == '\n' ? "" : "\n");
		fflush(stdout);
		cli_progress("crashtest", tally->tried, nr_tasks, "points");
	}
	close(pipefd[0]);
	for (w = 0; is_interrupted && w < started; w++)
		kill(pids[w], SIGTERM);
	while (started-- > 0)
		if (wait(&status) > 0 && (!WIFEXITED(status) ||
					  WEXITSTATUS(status) != 0))
			tally->errors++;
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGTERM, &old_term, NULL);
	if (is_interrupted)
		fprintf(stderr, "syncdax: crashtest: interrupted\n");
	return tally->tried == nr_tasks ? 0 : -1;
}

/* Remove the scratch directory and what is in it. */
static void remove_dir(const char *dir)
{
	char path[PATH_MAX];
	struct dirent *de;
	DIR *d = opendir(dir);

	while (d && (de = readdir(d)))
		if (de->d_name[0] != '.') {
			snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
			unlink(path);
		}
	if (d)
		closedir(d);
	rmdir(dir);
}

/* mkfs and run the oracle of each chosen workload. */
static int make_oracles(const struct crash_opts *opt,
			const struct crash_workload **chosen, size_t nr,
			struct crash_oracle *oracles)
{
	char log_path[PATH_MAX], why[600];
	size_t i;
	int err;

	for (i = 0; i < nr; i++) {
		struct crash_oracle *o = &oracles[i];

		o->wl = chosen[i];
		o->scale = opt->scale ? opt->scale : chosen[i]->scale;
		snprintf(o->fresh, sizeof(o->fresh), "%s/fresh-%s.img",
			 opt->dir, o->wl->name);
		snprintf(log_path, sizeof(log_path), "%s/oracle-%s.log",
			 opt->dir, o->wl->name);
		err = sdx_mkfs(o->fresh, opt->size, NULL, NULL);
		if (err) {
			fprintf(stderr, "syncdax: crashtest: %s: %s\n",
				o->fresh, sdx_strerror_detail());
			return -1;
		}
		if (crash_oracle_run(opt, o, log_path, why, sizeof(why)) < 0) {
			fprintf(stderr, "syncdax: crashtest: workload %s: %s\n",
				o->wl->name, why);
			return -1;
		}
		printf("crashtest: %-9s scale %-3u %4u ops, %6llu drain "
		       "points\n", o->wl->name, o->scale, o->nr_ops,
		       (unsigned long long)o->nr_drains);
	}
	return 0;
}

int cli_crashtest(int argc, char **argv)
{
	const struct crash_workload *chosen[64];
	struct crash_oracle *oracles = NULL;
	struct task *tasks = NULL;
	struct tally tally = { 0 };
	struct crash_opts opt;
	struct timespec t0, t1;
	size_t nr_chosen, nr_tasks = 0, i, j, nr_points;
	uint64_t *points;
	char base[sizeof(opt.dir)];
	int ret;

	if (crash_nr_workloads > sizeof(chosen) / sizeof(chosen[0]))
		return 2;
	ret = parse_opts(argc, argv, &opt, chosen, &nr_chosen);
	if (ret)
		return ret < 0 ? 2 : 0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	snprintf(base, sizeof(base), "%s", opt.dir);
	snprintf(opt.dir, sizeof(opt.dir), "%.150s/sdxcrash-%d", base,
		 (int)getpid());
	if (mkdir(opt.dir, 0700) < 0) {
		fprintf(stderr, "syncdax: crashtest: %s: %s\n", opt.dir,
			strerror(errno));
		return 2;
	}
	ret = 1;
	oracles = calloc(nr_chosen, sizeof(*oracles));
	if (!oracles || make_oracles(&opt, chosen, nr_chosen, oracles) < 0)
		goto out;
	for (i = 0; i < nr_chosen; i++) {
		struct task *more;

		points = choose_points(&opt, &oracles[i], &nr_points);
		more = points ? realloc(tasks, (nr_tasks + nr_points + 1) *
					sizeof(*tasks)) : NULL;
		if (!more) {
			free(points);
			fprintf(stderr, "syncdax: crashtest: out of memory\n");
			goto out;
		}
		tasks = more;
		for (j = 0; j < nr_points; j++)
			tasks[nr_tasks++] = (struct task){ (unsigned)i,
							   points[j] };
		free(points);
	}
	if (run_tasks(&opt, oracles, tasks, nr_tasks, &tally) < 0)
		tally.errors++;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("crashtest: %zu workloads, %llu points tried, %llu states "
	       "checked, %llu violations, %llu harness errors, %.1f s "
	       "(mode %s, seed %llu, jobs %u%s)\n", nr_chosen,
	       (unsigned long long)tally.tried,
	       (unsigned long long)tally.checked,
	       (unsigned long long)tally.violations,
	       (unsigned long long)tally.errors,
	       (double)(t1.tv_sec - t0.tv_sec) +
	       (double)(t1.tv_nsec - t0.tv_nsec) / 1e9, crash_mode_name(opt.mode),
	       (unsigned long long)opt.seed, opt.jobs,
	       opt.is_lost_drain ? ", planted bug: lost drain" : "");
	printf("crashtest: %llu format limits (an ext4 or jbd2 superblock "
	       "torn by the crash: syncdax restores it from its shadow, e2fsck "
	       "cannot read it)%s%s\n",
	       (unsigned long long)tally.format_limits,
	       tally.first_limit[0] ? "; first: " : "", tally.first_limit);
	ret = tally.violations || tally.errors ? 1 : 0;
out:
	for (i = 0; oracles && i < nr_chosen; i++)
		crash_oracle_free(&oracles[i]);
	free(oracles);
	free(tasks);
	if (opt.is_keep)
		printf("crashtest: scratch files kept in %s\n", opt.dir);
	else
		remove_dir(opt.dir);
	return ret;
}
