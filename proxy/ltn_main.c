/*
 * ltn_main.c - `importgate lightning check|run`: the command line of the Lightning preflight
 * (proxy/ltn_preflight.c) and guarded run (proxy/ltn_run.c). Exit status: 0 every table
 * allowed (run: Lightning succeeded and its obligations are carried out), 1 a table refused
 * (run: Lightning failed, or an obligation is not done), 2 a usage, config or task error.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/ltn_preflight.h"
#include "proxy/ltn_run.h"

static void usage(FILE *f)
{
	fprintf(f,
	        "usage: importgate lightning check -c GATEWAY.yaml --task TASK.toml [--json] [--user U] [--host H]\n"
	        "       importgate lightning run -c GATEWAY.yaml --task TASK.toml [--json] [--user U] [--host H]\n"
	        "                                [--wait SECONDS] [--snapshot-dir DIR] -- tidb-lightning -config TASK.toml ...\n"
	        "  -c, --config FILE  the gateway's configuration (rules, cluster.pd, obligations, audit)\n"
	        "      --task FILE    the Lightning task file (tidb-lightning.toml)\n"
	        "      --json         the answer as JSON (for scripts)\n"
	        "      --user U       the user the rules match (default: the task's [tidb] user)\n"
	        "      --host H       the client address the rules match (default: empty)\n"
	        "      --wait S       run: how long to wait for the obligations to be carried out (default 600)\n"
	        "      --snapshot-dir DIR  run: where the hard-link snapshot of the checked files is made (default:\n"
	        "                     the directory holding data-source-dir; it must be on the data's filesystem)\n"
	        "See docs/LIGHTNING.md.\n");
}

int ig_lightning_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"config", required_argument, NULL, 'c'}, {"task", required_argument, NULL, 't'},
		{"json", no_argument, NULL, 'j'},         {"user", required_argument, NULL, 'u'},
		{"host", required_argument, NULL, 'H'},   {"wait", required_argument, NULL, 'w'},
		{"snapshot-dir", required_argument, NULL, 's'},
		{"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0},
	};
	ig_ltn_opts o = {.wait_s = 600};
	ig_config *cfg = NULL;
	char err[1024];
	int c, rc;

	if (argc < 2 || (strcmp(argv[1], "check") != 0 && strcmp(argv[1], "run") != 0)) {
		usage(argc >= 2 && strcmp(argv[1], "--help") == 0 ? stdout : stderr);
		return 2;
	}
	o.run = strcmp(argv[1], "run") == 0;
	optind = 2;
	while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c': o.config = optarg; break;
		case 't': o.task = optarg; break;
		case 'j': o.json = true; break;
		case 'u': o.user = optarg; break;
		case 'H': o.host = optarg; break;
		case 'w': o.wait_s = atoi(optarg); break;
		case 's': o.snapshot_dir = optarg; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (!o.config || !o.task || (o.run ? optind >= argc : optind != argc) || o.wait_s < 0) {
		usage(stderr);
		return 2;
	}
	o.argv = argv + optind;
	o.argc = argc - optind;
	if (ig_config_load(o.config, &cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "importgate lightning: %s\n", err);
		return 2;
	}
	rc = o.run ? ig_ltn_run(cfg, &o) : ig_ltn_check(cfg, &o);
	ig_config_unref(cfg);
	return rc;
}
