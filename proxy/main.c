/*
 * main.c - importgate's entry point: parses the command line, then builds the runtime
 * (proxy/process.c: every module, started in order), runs it until SIGTERM/SIGINT and
 * stops it. --check-config only loads and validates the configuration; "lightning"
 * (docs/LIGHTNING.md) and "ctl" (docs/OPERATIONS.md) are subcommands of their own.
 */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/config.h"
#include "proxy/credentials.h"
#include "proxy/ctl.h"
#include "proxy/ltn_preflight.h"
#include "proxy/process.h"

static void usage(FILE *f)
{
	fprintf(f,
	        "usage: importgate -c FILE [--check-config]\n"
	        "       importgate --version\n"
	        "       importgate lightning check|run ...  (docs/LIGHTNING.md)\n"
	        "       importgate ctl status|coverage|explain|obligations|dismiss|reload ...  (docs/OPERATIONS.md)\n"
	        "  -c, --config FILE   YAML configuration (see conf/importgate.yaml)\n"
	        "      --check-config  load and validate the configuration, then exit\n"
	        "  -h, --help          this text\n");
}

static int check_config(const char *path)
{
	char err[1024];
	ig_config *cfg;

	if (ig_config_load(path, &cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "importgate: %s\n", err);
		return 1;
	}
	/* as haproxy -c: the files the configuration names must be readable too */
	if (ig_secrets_check(cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "importgate: %s\n", err);
		ig_config_free(cfg);
		return 1;
	}
	printf("%s: configuration OK\n", path);
	ig_config_free(cfg);
	return 0;
}

/*
 * libcurl (OpenSSL) appends every TLS session's secrets to $SSLKEYLOGFILE, created with the
 * umask (0644 usually): the PD connections carry obligation records with imports'
 * credentials, readable in clear by whoever has the file and the traffic (attack22). A
 * debugging aid, exported broadly by profiles and images; nothing here needs it. Dropped
 * before libcurl initialises (it reads it then), while the process has one thread.
 */
static void drop_keylog_env(void)
{
	if (!getenv("SSLKEYLOGFILE"))
		return;
	unsetenv("SSLKEYLOGFILE");
	fprintf(stderr, "importgate: SSLKEYLOGFILE is set in the environment: ignored (it would receive the "
	        "TLS secrets of the PD connections)\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"config", required_argument, NULL, 'c'},
		{"check-config", no_argument, NULL, 'C'},
		{"version", no_argument, NULL, 'V'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *path = NULL;
	bool check_only = false;
	int c;
	char err[1024];
	ig_process p;

	drop_keylog_env();
	if (argc > 1 && strcmp(argv[1], "lightning") == 0) /* docs/LIGHTNING.md */
		return ig_lightning_main(argc - 1, argv + 1);
	if (argc > 1 && strcmp(argv[1], "ctl") == 0) /* docs/OPERATIONS.md */
		return ig_ctl_main(argc - 1, argv + 1);
	while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c': path = optarg; break;
		case 'C': check_only = true; break;
		case 'V': printf("importgate %s\n", IMPORTGATE_VERSION); return 0;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (!path || optind != argc) {
		usage(stderr);
		return 2;
	}
	if (check_only)
		return check_config(path);
	if (ig_process_start(&p, path, err, sizeof(err)) < 0) {
		fprintf(stderr, "importgate: %s\n", err);
		return 1;
	}
	ig_process_run(&p);
	ig_process_stop(&p);
	return 0;
}
