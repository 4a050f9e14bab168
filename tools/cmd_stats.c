/*
 * cmd_stats.c - syncdax stats [-i SECONDS [-n COUNT]] DEVICE: the fault,
 * journal and file-system statistics of the process that has DEVICE
 * mounted, read from the statistics page it publishes (src/lib/statpage.h),
 * as a table; with -i, the change over each interval and its rate,
 * repeatedly.
 *
 * Exit status: 0; 1 when no process has DEVICE mounted (or its page is
 * not one), or when the owner goes away during -i; 2 for bad usage.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/statpage.h"
#include "syncdax.h"
#include "cli.h"

/* One counter of the page, by its offset. */
struct row {
	const char *label;
	size_t off;
};

#define DAX(f) offsetof(struct sdx_statpage, dax.f)
#define JOURNAL(f) offsetof(struct sdx_statpage, journal.f)

static const struct row fault_rows[] = {
	{ "read faults", DAX(faults_read) },
	{ "  of a hole (zero page)", DAX(faults_read_hole) },
	{ "write faults", DAX(faults_write) },
	{ "write to a read-only page", DAX(faults_mkwrite) },
	{ "copy-on-write (private)", DAX(faults_cow) },
	{ "SIGBUS", DAX(faults_sigbus) },
	{ "commits a fault waited for", DAX(commits) },
	{ "pages mapped", DAX(pages_mapped) },
	{ "installs", DAX(installs) },
	{ "  of 2 MiB at once", DAX(huge_installs) },
	{ "pages allocated ahead", DAX(syncahead_pages) },
	{ "pages flushed by msync", DAX(msync_pages) },
	{ "pages invalidated by remaps", DAX(invalidated_pages) },
	{ "mapping shrinks", DAX(shrinks) },
	{ NULL, 0 },
};

static const struct row journal_rows[] = {
	{ "commits", JOURNAL(commits) },
	{ "blocks committed", JOURNAL(commit_blocks) },
	{ "checkpoints", JOURNAL(checkpoints) },
	{ "revoked blocks", JOURNAL(revoked_blocks) },
	{ "transactions replayed at mount", JOURNAL(replayed_transactions) },
	{ "blocks replayed at mount", JOURNAL(replayed_blocks) },
	{ NULL, 0 },
};

static uint64_t field(const struct sdx_statpage *pg, size_t off)
{
	uint64_t v;

	memcpy(&v, (const char *)pg + off, sizeof(v));
	return v;
}

static void print_header(const struct sdx_statpage *pg)
{
	char when[64];
	time_t t = (time_t)pg->mount_time;
	struct tm tm;

	printf("device   %s (%s, %s)\n", pg->device,
	       pg->mode & SDX_STATPAGE_RDONLY ? "read-only" : "read-write",
	       pg->mode & SDX_STATPAGE_NO_JOURNAL ? "no journal" : "journal");
	/* the page is another process's: a time gmtime cannot place is
	 * shown as the number it is */
	if (gmtime_r(&t, &tm) && strftime(when, sizeof(when),
					  "%Y-%m-%d %H:%M:%S UTC", &tm))
		printf("owner    pid %" PRId64 ", mounted %s (%" PRId64
		       " s ago)\n", pg->pid, when,
		       (int64_t)time(NULL) - pg->mount_time);
	else
		printf("owner    pid %" PRId64 ", mounted at time %" PRId64
		       "\n", pg->pid, pg->mount_time);
}

static void print_totals(const struct sdx_statpage *pg)
{
	const struct sdx_fault_latency *lat = &pg->latency;
	const struct sdx_journal_stats *js = &pg->journal;

	print_header(pg);
	printf("\nfaults (this mount's mappings)\n");
	for (const struct row *r = fault_rows; r->label; r++)
		printf("  %-32s %14" PRIu64 "\n", r->label, field(pg, r->off));
	printf("  %-32s ", "latency of resolved faults");
	if (lat->count)
		printf("avg %.2f us, max %.2f us over %" PRIu64 "\n",
		       (double)lat->total_ns / (double)lat->count / 1e3,
		       (double)lat->max_ns / 1e3, lat->count);
	else
		printf("(no fault yet)\n");
	printf("  %-32s %14" PRIu64 "\n", "live mappings", pg->mappings);
	printf("\njournal\n");
	for (const struct row *r = journal_rows; r->label; r++)
		printf("  %-32s %14" PRIu64 "\n", r->label, field(pg, r->off));
	if (js->log_blocks)
		printf("  %-32s %14" PRIu64 " of %" PRIu64 " blocks free\n",
		       "log space", js->log_blocks - js->log_used,
		       js->log_blocks);
	printf("\nfile system\n");
	printf("  %-32s %14" PRIu64 "\n", "free blocks", pg->fs.free_blocks);
	printf("  %-32s %14" PRIu64 "\n", "free inodes", pg->fs.free_inodes);
	printf("  %-32s %14" PRIu64 "\n", "open files", pg->fs.open_files);
}

/* The rows that changed from @a to @b over @secs, with their rates. */
static void print_delta(const struct sdx_statpage *a,
			const struct sdx_statpage *b, double secs,
			unsigned n)
{
	const struct row *tables[] = { fault_rows, journal_rows };
	const char *names[] = { "fault", "journal" };
	uint64_t dn = b->latency.count - a->latency.count;
	bool any = false;

	printf("\n-- interval %u (%.1f s)\n", n, secs);
	for (size_t t = 0; t < 2; t++) {
		for (const struct row *r = tables[t]; r->label; r++) {
			uint64_t d = field(b, r->off) - field(a, r->off);

			if (!d)
				continue;
			printf("  %-7s %-32s %12" PRIu64 " %12.1f/s\n",
			       names[t], r->label, d, (double)d / secs);
			any = true;
		}
	}
	if (dn)
		printf("  %-7s %-32s avg %.2f us\n", "fault", "latency",
		       (double)(b->latency.total_ns - a->latency.total_ns) /
		       (double)dn / 1e3);
	if (b->mappings != a->mappings) {
		printf("  %-7s %-32s %12" PRIu64 " now\n", "fault",
		       "live mappings", b->mappings);
		any = true;
	}
	if (!any)
		printf("  (no change)\n");
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_s(double secs)
{
	struct timespec ts = {
		.tv_sec = (time_t)secs,
		.tv_nsec = (long)((secs - (double)(time_t)secs) * 1e9),
	};

	while (nanosleep(&ts, &ts) < 0)
		;
}

/* Print each interval's change until @count intervals (0: for ever) or
 * the owner goes (a remount by another owner is a new baseline). */
static int watch(const char *device, struct sdx_statpage *prev, double secs,
		 unsigned long count)
{
	struct sdx_statpage cur;
	double t0 = now_s();

	print_header(prev);
	for (unsigned long n = 1; count == 0 || n <= count; n++) {
		double t1;

		sleep_s(secs);
		if (sdx_statpage_read(device, &cur) < 0)
			return cli_fail(device);
		t1 = now_s();
		if (cur.pid != prev->pid || cur.mount_time != prev->mount_time) {
			printf("\n-- mounted again\n");
			print_header(&cur);
		} else {
			print_delta(prev, &cur, t1 - t0, (unsigned)n);
		}
		fflush(stdout);
		*prev = cur;
		t0 = t1;
	}
	return 0;
}

int cli_stats(int argc, char **argv)
{
	unsigned long count = 0;
	struct sdx_statpage pg;
	double secs = 0;
	char *end;
	int c;

	optind = 1;
	while ((c = getopt(argc, argv, "+i:n:")) != -1) {
		switch (c) {
		case 'i':
			secs = strtod(optarg, &end);
			if (*end || !(secs > 0) || secs > 86400) {
				fprintf(stderr, "syncdax: stats: -i %s: not a "
					"number of seconds in (0, 86400]\n",
					optarg);
				return 2;
			}
			break;
		case 'n':
			count = strtoul(optarg, &end, 10);
			if (*end || count == 0 || optarg[0] == '-') {
				fprintf(stderr, "syncdax: stats: -n %s: not a "
					"positive count\n", optarg);
				return 2;
			}
			break;
		default:
			cli_usage("stats");
			return 2;
		}
	}
	if (optind != argc - 1 || (count && secs == 0)) {
		cli_usage("stats");
		return 2;
	}
	if (sdx_statpage_read(argv[optind], &pg) < 0)
		return cli_fail(argv[optind]);
	if (secs == 0) {
		print_totals(&pg);
		return 0;
	}
	return watch(argv[optind], &pg, secs, count);
}
