/*
 * ltn_run.h - `importgate lightning check` output and `importgate lightning run`: the guarded
 * run of TiDB Lightning (docs/LIGHTNING.md): preflight, obligations recorded in the gateway's
 * store before Lightning starts, Lightning run with its requirement check off, the import's
 * outcome handed to the obligations engine of the gateway replicas.
 */
#ifndef IMPORTGATE_LTN_RUN_H
#define IMPORTGATE_LTN_RUN_H

#include <stdbool.h>

#include "policy/config.h"

typedef struct ig_ltn_opts {
	const char *config, *task, *user, *host;
	const char *snapshot_dir; /* run: where the data's snapshot is made (NULL: next to the data) */
	bool json, run;
	int wait_s;
	char **argv; /* run: Lightning's command line (after "--") */
	int argc;
} ig_ltn_opts;

/* The preflight, printed; the exit status (0 all allowed, 1 refused, 2 error). */
int ig_ltn_check(const ig_config *cfg, const ig_ltn_opts *o);
/* The guarded run; the exit status. */
int ig_ltn_run(ig_config *cfg, const ig_ltn_opts *o);

#endif
