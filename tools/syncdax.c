/*
 * syncdax.c - the syncdax command (placeholder main until the CLI lands).
 */
#include <stdio.h>
#include "syncdax.h"

int main(void)
{
	printf("syncdax %s\n", SDX_VERSION);
	return 0;
}
