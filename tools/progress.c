/*
 * progress.c - the one progress bar of the syncdax command.
 *
 * Drawn on standard error, only when it is a terminal (a pipe or a log
 * gets no carriage returns), redrawn in place, ended by a newline when
 * done == total.  Callers call it as often as they like: it redraws only
 * when the shown percentage changes.
 */
#include <stdio.h>
#include <unistd.h>

#include "cli.h"

#define BAR_WIDTH 40

void cli_progress(const char *label, uint64_t done, uint64_t total,
		  const char *unit)
{
	static const char bar[BAR_WIDTH + 1] =
		"########################################";
	static int shown = -1;
	int pct;

	if (total == 0 || done > total || !isatty(STDERR_FILENO))
		return;
	pct = (int)(done * 100 / total);
	if (pct == shown && done != total)
		return;
	shown = done == total ? -1 : pct;
	fprintf(stderr, "\r%s %3d%% [%-*.*s] %llu/%llu %s", label, pct,
		BAR_WIDTH, (int)(done * BAR_WIDTH / total), bar,
		(unsigned long long)done, (unsigned long long)total, unit);
	if (done == total)
		fputc('\n', stderr);
}
