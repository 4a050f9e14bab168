/*
 * test_crashtest.c - `syncdax crashtest` in make test: every drain point of
 * the small workloads in strict mode, sampled points in evict and tear
 * mode (format limits allowed: they are not violations), and the
 * harness's own ability to fail: a planted lost drain (the lines of one
 * drain never reach the media while the next drain's do) must be
 * reported, and the one-line command printed with the report must
 * reproduce it.
 *
 * The command is $SYNCDAX (make test exports it).  Under AddressSanitizer
 * every run is sampled (a few points per workload) to stay within time.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#if defined(__SANITIZE_ADDRESS__)
#define IS_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define IS_ASAN 1
#endif
#endif
#ifdef IS_ASAN
#define STRICT_POINTS "4"	/* per workload */
#define PLANTED_POINTS "8"
#define SAMPLED_POINTS "4"
#else
#define STRICT_POINTS "all"
#define PLANTED_POINTS "all"
#define SAMPLED_POINTS "16"
#endif

#define COMMON "--size 8M --jobs 2 --scale 1"
#define REPRO "reproduce: syncdax crashtest "

struct outcome {
	int status;
	unsigned long long tried, checked, violations, errors, format_limits;
	char *out;
};

static const char *syncdax(void)
{
	const char *cmd = getenv("SYNCDAX");

	return cmd && *cmd ? cmd : "build/syncdax";
}

/* Run `$SYNCDAX crashtest ARGS` and read its summary line. */
static void crashtest(struct outcome *o, const char *args)
{
	const char *line;

	memset(o, 0, sizeof(*o));
	o->out = tu_capture("'%s' crashtest %s 2>&1; echo status=$?",
			    syncdax(), args);
	line = strstr(o->out, "status=");
	assert_non_null(line);
	o->status = atoi(line + 7);
	line = strstr(o->out, "crashtest: ");
	while (line && sscanf(line, "crashtest: %*u workloads, %llu points "
			      "tried, %llu states checked, %llu violations, "
			      "%llu harness errors", &o->tried, &o->checked,
			      &o->violations, &o->errors) != 4)
		line = strstr(line + 1, "crashtest: ");
	if (!line)
		fail_msg("no summary from crashtest %s:\n%s", args, o->out);
	line = strstr(line, "\ncrashtest: ");
	if (!line || sscanf(line, "\ncrashtest: %llu format limits",
			    &o->format_limits) != 1)
		fail_msg("no format limits line from crashtest %s:\n%s", args,
			 o->out);
}

/* Skip when the command has no crashtest (it is being wired up). */
static void require_crashtest(void)
{
	char *out = tu_capture("'%s' crashtest --help 2>&1", syncdax());
	int has_crashtest = strstr(out, "syncdax crashtest") != NULL;

	free(out);
	if (!has_crashtest) {
		printf("# %s has no crashtest command\n", syncdax());
		skip();
	}
}

/* The run held: every point tried was checked, nothing violated. */
static void assert_held(const struct outcome *o, const char *what)
{
	printf("# %s: %llu points, %llu states checked, %llu violations, "
	       "%llu format limits\n", what, o->tried, o->checked,
	       o->violations, o->format_limits);
	if (o->status != 0 || o->violations || o->errors ||
	    o->checked != o->tried || o->tried == 0)
		fail_msg("%s: expected status 0 and no violations, got status "
			 "%d:\n%s", what, o->status, o->out);
}

static void test_strict_crash_at_every_drain_recovers_a_prefix(void **s)
{
	struct outcome o;

	(void)s;
	require_crashtest();
	crashtest(&o, COMMON " --workload all --mode strict --points "
		  STRICT_POINTS);
	assert_held(&o, "strict");
	free(o.out);
}

/* Crash at sampled drains of every workload in @mode; all must recover. */
static void sampled_points_recover(const char *mode, const char *seed)
{
	char args[256];
	struct outcome o;

	require_crashtest();
	snprintf(args, sizeof(args), COMMON " --workload all --mode %s "
		 "--seed %s --points " SAMPLED_POINTS, mode, seed);
	crashtest(&o, args);
	assert_held(&o, mode);
	free(o.out);
}

static void test_evicted_lines_at_sampled_drains_recover(void **s)
{
	(void)s;
	sampled_points_recover("evict", "11");
}

static void test_torn_words_at_sampled_drains_recover(void **s)
{
	(void)s;
	sampled_points_recover("tear", "12");
}

static void test_planted_lost_drain_is_reported_and_reproduces(void **s)
{
	struct outcome o, again;
	char cmd[512], *repro = NULL, *end, *lost, *p;

	(void)s;
	require_crashtest();
	crashtest(&o, COMMON " --workload mapsync --plant lost-drain --points "
		  PLANTED_POINTS);
	printf("# planted lost drain: %llu of %llu points violated\n",
	       o.violations, o.checked);
	assert_int_equal(o.status, 1);
	assert_true(o.violations > 0);
	assert_non_null(strstr(o.out, "VIOLATION mapsync: drain "));
	/* an acknowledged record lost: the report that must reproduce */
	lost = strstr(o.out, "acknowledged) is lost");
	assert_non_null(lost);
	for (p = strstr(o.out, REPRO); p && p < lost; p = strstr(p + 1, REPRO))
		repro = p + strlen(REPRO);
	assert_non_null(repro);
	end = strchr(repro, '\n');
	assert_non_null(end);
	snprintf(cmd, sizeof(cmd), "%.*s --jobs 1", (int)(end - repro), repro);
	crashtest(&again, cmd);
	if (again.status != 1 || again.tried != 1 || again.violations != 1)
		fail_msg("reproducing with '%s': expected one violation, got "
			 "status %d:\n%s", cmd, again.status, again.out);
	free(again.out);
	free(o.out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
			test_strict_crash_at_every_drain_recovers_a_prefix),
		cmocka_unit_test(test_evicted_lines_at_sampled_drains_recover),
		cmocka_unit_test(test_torn_words_at_sampled_drains_recover),
		cmocka_unit_test(
			test_planted_lost_drain_is_reported_and_reproduces),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
