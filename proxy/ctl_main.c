/*
 * ctl_main.c - `importgate ctl status|coverage|explain|obligations|dismiss|reload`: reads the
 * command line, finds the admin server and its token (flags, else the gateway's config
 * file), sends the command's one request and prints the answer (ctl.h: exit status).
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "policy/config.h"
#include "proxy/covquery.h"
#include "proxy/credentials.h"
#include "proxy/ctl.h"

#define MAX_TOKEN 4096

typedef struct ctl_opts {
	const char *config, *admin, *token_file;
	const char *user, *host, *db, *sql_mode, *charset;
	bool json;
	long timeout_ms;
	const char *cmd;
	char **args; /* the command's positional arguments */
	int nargs;
} ctl_opts;

static void usage(FILE *f)
{
	fprintf(f,
	        "usage: importgate ctl COMMAND [-c GATEWAY.yaml | --admin HOST:PORT [--token-file FILE]] [--json]\n"
	        "  status                       backends, cluster state (tasks, changefeeds), obligations\n"
	        "  coverage DB.TABLE [--user U] [--host H]\n"
	        "                               which tasks and changefeeds cover the table; what the policy does\n"
	        "  explain --user U [--host H] [--db D] [--sql-mode M] [--charset C] STATEMENT\n"
	        "                               the verdict a statement would get now\n"
	        "  obligations                  the obligations and their states\n"
	        "  dismiss ID                   give up on a failed obligation (audited)\n"
	        "  reload                       read the configuration file again (as SIGHUP)\n"
	        "  -c, --config FILE     the gateway's configuration: admin.listen and admin.token_file\n"
	        "      --admin ADDR      the admin server (HOST:PORT or http://HOST:PORT), instead of -c\n"
	        "      --token-file FILE the bearer token (default: the config's admin.token_file)\n"
	        "      --json            print the answer as the API gives it\n"
	        "      --timeout S       give up after S seconds (default 30)\n"
	        "Exit status: 0 done, 1 the gateway answered with an error, 2 usage or configuration,\n"
	        "3 the admin server cannot be reached. See docs/OPERATIONS.md.\n");
}

/* 0, 1 for --help, -1 on a usage error. */
static int parse(int argc, char **argv, ctl_opts *o)
{
	static const struct option opts[] = {
		{"config", required_argument, NULL, 'c'},  {"admin", required_argument, NULL, 'a'},
		{"token-file", required_argument, NULL, 'T'}, {"json", no_argument, NULL, 'j'},
		{"timeout", required_argument, NULL, 't'}, {"user", required_argument, NULL, 'u'},
		{"host", required_argument, NULL, 'H'},    {"db", required_argument, NULL, 'd'},
		{"sql-mode", required_argument, NULL, 'm'}, {"charset", required_argument, NULL, 'C'},
		{"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0},
	};
	int c;
	char *end;

	o->timeout_ms = 30000;
	optind = 2;
	while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c': o->config = optarg; break;
		case 'a': o->admin = optarg; break;
		case 'T': o->token_file = optarg; break;
		case 'j': o->json = true; break;
		case 'u': o->user = optarg; break;
		case 'H': o->host = optarg; break;
		case 'd': o->db = optarg; break;
		case 'm': o->sql_mode = optarg; break;
		case 'C': o->charset = optarg; break;
		case 't':
			errno = 0;
			o->timeout_ms = strtol(optarg, &end, 10) * 1000;
			if (errno || *end || o->timeout_ms <= 0 || o->timeout_ms > 3600000) {
				fprintf(stderr, "importgate ctl: --timeout: a number of seconds from 1 to 3600\n");
				return -1;
			}
			break;
		case 'h': return 1;
		default: return -1;
		}
	}
	o->args = argv + optind;
	o->nargs = argc - optind;
	return 0;
}

/* The token file's content without trailing whitespace, as the admin server reads it. */
static char *read_token(const char *configured, char *err, size_t errlen)
{
	char pbuf[4096], *buf;
	const char *path = ig_cred_path(configured, pbuf, sizeof(pbuf), err, errlen);
	FILE *f;
	size_t n;

	if (!path)
		return NULL;
	if (!(f = fopen(path, "rb"))) {
		snprintf(err, errlen, "token file %s: %s", path, strerror(errno));
		return NULL;
	}
	buf = malloc(MAX_TOKEN + 1);
	n = buf ? fread(buf, 1, MAX_TOKEN + 1, f) : 0;
	fclose(f);
	if (!buf || n > MAX_TOKEN) {
		snprintf(err, errlen, "token file %s: %s", path, buf ? "longer than 4096 bytes" : "out of memory");
		free(buf);
		return NULL;
	}
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' ' || buf[n - 1] == '\t'))
		n--;
	buf[n] = '\0';
	if (n == 0) {
		snprintf(err, errlen, "token file %s: empty", path);
		free(buf);
		return NULL;
	}
	return buf;
}

/* "http://HOST:PORT" for a listen address; a wildcard one is reached on loopback. */
static char *base_of(const ig_hostport *hp)
{
	const char *h = hp->host && *hp->host ? hp->host : "127.0.0.1";
	char *s = NULL;

	if (strcmp(h, "0.0.0.0") == 0)
		h = "127.0.0.1";
	else if (strcmp(h, "::") == 0)
		h = "::1";
	if (asprintf(&s, strchr(h, ':') ? "http://[%s]:%d" : "http://%s:%d", h, hp->port) < 0)
		return NULL;
	return s;
}

static int target_of(const ctl_opts *o, ig_ctl_target *t, char *err, size_t errlen)
{
	ig_config *cfg = NULL;
	const char *token_file = o->token_file;
	int rc = -1;

	t->timeout_ms = o->timeout_ms;
	if (o->config && ig_config_load(o->config, &cfg, err, errlen) < 0)
		return -1;
	if (o->admin) {
		ig_hostport hp = {0};
		if (strncmp(o->admin, "http://", 7) == 0)
			t->base = strdup(o->admin);
		else if (ig_hostport_parse(o->admin, &hp, err, errlen) == 0)
			t->base = base_of(&hp);
		else
			goto out;
		free(hp.host);
		if (t->base && t->base[strlen(t->base) - 1] == '/')
			t->base[strlen(t->base) - 1] = '\0';
	} else if (cfg && cfg->admin.listen.port == 0) {
		snprintf(err, errlen, "%s: the admin server is off (admin.listen is not set)", o->config);
		goto out;
	} else if (cfg) {
		t->base = base_of(&cfg->admin.listen);
	} else {
		snprintf(err, errlen, "say where the admin server is: -c GATEWAY.yaml or --admin HOST:PORT");
		goto out;
	}
	if (!t->base) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	if (!token_file && cfg)
		token_file = cfg->admin.token_file;
	if (token_file && *token_file && !(t->token = read_token(token_file, err, errlen)))
		goto out;
	rc = 0;
out:
	if (cfg)
		ig_config_unref(cfg);
	return rc;
}

/* The request a command sends: its path and body (NULL: GET). */
static int request_of(const ctl_opts *o, char **path, char **body, char *err, size_t errlen)
{
	const char *cmd = o->cmd;
	int want = strcmp(cmd, "coverage") == 0 || strcmp(cmd, "explain") == 0 || strcmp(cmd, "dismiss") == 0;

	*path = *body = NULL;
	if (o->nargs != want) {
		snprintf(err, errlen, "%s takes %s", cmd, want ? "one argument" : "no argument");
		return -1;
	}
	if (strcmp(cmd, "status") == 0 || strcmp(cmd, "obligations") == 0) {
		*path = strdup("/api/v1/status");
	} else if (strcmp(cmd, "reload") == 0) {
		*path = strdup("/api/v1/reload");
		*body = strdup("");
	} else if (strcmp(cmd, "coverage") == 0) {
		char *db, *tbl, *t = ig_ctl_urlencode(o->args[0]), *u = ig_ctl_urlencode(o->user ? o->user : ""),
		                    *h = ig_ctl_urlencode(o->host ? o->host : "");
		if (ig_covquery_split_table(o->args[0], &db, &tbl) < 0) {
			snprintf(err, errlen, "coverage: the table must be DB.TABLE (backquote a name holding a dot)");
			free(t), free(u), free(h);
			return -1;
		}
		free(db), free(tbl);
		if (t && u && h && asprintf(path, "/api/v1/coverage?table=%s&user=%s&host=%s", t, u, h) < 0)
			*path = NULL;
		free(t), free(u), free(h);
	} else if (strcmp(cmd, "dismiss") == 0) {
		json_t *d = json_pack("{s:s}", "id", o->args[0]);
		*path = strdup("/api/v1/obligations/dismiss");
		*body = d ? json_dumps(d, JSON_COMPACT) : NULL;
		json_decref(d);
	} else { /* explain */
		if (!o->user) {
			snprintf(err, errlen, "explain: --user is required (the rules match users)");
			return -1;
		}
		json_t *d = json_pack("{s:s, s:s, s:s}", "user", o->user, "host", o->host ? o->host : "",
		                      "statement", o->args[0]);
		if (d && o->db)
			json_object_set_new(d, "db", json_string(o->db));
		if (d && o->sql_mode)
			json_object_set_new(d, "sql_mode", json_string(o->sql_mode));
		if (d && o->charset)
			json_object_set_new(d, "charset", json_string(o->charset));
		*path = strdup("/api/v1/explain");
		*body = d ? json_dumps(d, JSON_COMPACT) : NULL;
		json_decref(d);
	}
	bool post = strcmp(cmd, "status") != 0 && strcmp(cmd, "obligations") != 0 && strcmp(cmd, "coverage") != 0;
	if (!*path || (post && !*body)) {
		free(*path);
		free(*body);
		*path = *body = NULL;
		snprintf(err, errlen, "out of memory, or an argument that is not UTF-8");
		return -1;
	}
	return 0;
}

/* Prints an answer that came with a 2xx status; 1 when it says "ok": false. */
static int show_to(FILE *f, const ctl_opts *o, const json_t *doc)
{
	const json_t *ok = json_object_get(doc, "ok");
	const char *cmd = o->cmd;

	if (strcmp(cmd, "status") == 0)
		ig_ctl_print_status(f, doc);
	else if (strcmp(cmd, "coverage") == 0)
		ig_ctl_print_coverage(f, doc);
	else if (strcmp(cmd, "explain") == 0)
		ig_ctl_print_explain(f, doc);
	else if (strcmp(cmd, "obligations") == 0)
		ig_ctl_print_obligations(f, json_object_get(doc, "obligations"));
	else if (strcmp(cmd, "dismiss") == 0 && json_is_true(ok))
		fprintf(f, "dismissed %s\n", o->args[0]);
	else if (strcmp(cmd, "reload") == 0 && json_is_true(ok)) {
		const json_t *r = json_object_get(doc, "restart_required");
		fprintf(f, "reloaded");
		for (size_t i = 0; i < json_array_size(r); i++)
			fprintf(f, "%s%s", i ? ", " : "; a restart is needed for: ", json_string_value(json_array_get(r, i)));
		fputc('\n', f);
	}
	return ok && !json_is_true(ok) ? IG_CTL_ANSWER_ERROR : IG_CTL_OK;
}

/* The text output holds names, rules and messages read from etcd, clients and the answerer:
 * control characters print as '?' (ig_ctl_shown). */
static int show(const ctl_opts *o, const json_t *doc)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	int rc;

	if (!f) {
		fprintf(stderr, "importgate ctl: out of memory\n");
		return IG_CTL_UNREACHABLE; /* nothing shown: as an answer that cannot be read */
	}
	rc = show_to(f, o, doc);
	if (fclose(f) != 0 || !text) {
		free(text);
		fprintf(stderr, "importgate ctl: out of memory\n");
		return IG_CTL_UNREACHABLE; /* nothing shown: as an answer that cannot be read */
	}
	fwrite(text, 1, ig_ctl_shown(text, len), stdout);
	free(text);
	return rc;
}

/* A message on stderr, "importgate ctl: " first; it may quote the answer (the gateway's
 * error, a name), so it is shown as the text output is. */
static void complain(const char *fmt, ...)
{
	char *msg = NULL;
	va_list ap;

	va_start(ap, fmt);
	int n = vasprintf(&msg, fmt, ap);
	va_end(ap);
	if (n < 0) {
		fputs("importgate ctl: out of memory\n", stderr);
		return;
	}
	fputs("importgate ctl: ", stderr);
	fwrite(msg, 1, ig_ctl_shown(msg, (size_t)n), stderr);
	fputc('\n', stderr);
	free(msg);
}

/* --json: the answer as it came but for its control characters (ig_ctl_json_shown), the
 * same JSON value to any reader. */
static int print_json(const char *answer)
{
	char *shown = ig_ctl_json_shown(answer);

	if (!shown) {
		fputs("importgate ctl: out of memory\n", stderr);
		return -1;
	}
	printf("%s%s", shown, shown[0] && shown[strlen(shown) - 1] == '\n' ? "" : "\n");
	free(shown);
	return 0;
}

/* Sends the request and reports; returns the exit status. */
static int run(const ctl_opts *o, const ig_ctl_target *t, const char *path, const char *body)
{
	char err[1024], *answer = NULL;
	long status;
	json_error_t je;
	json_t *doc;
	int rc;

	if (ig_ctl_request(t, path, body, &status, &answer, err, sizeof(err)) < 0) {
		complain("cannot reach the admin server at %s", err);
		return IG_CTL_UNREACHABLE;
	}
	doc = json_loads(answer, 0, &je);
	if (o->json && doc && print_json(answer) < 0) {
		json_decref(doc);
		free(answer);
		return IG_CTL_UNREACHABLE; /* nothing shown: as an answer that cannot be read */
	}
	if (!doc) {
		complain("%s%s: HTTP %ld with an answer that is not JSON", t->base, path, status);
		free(answer);
		return status >= 400 ? IG_CTL_ANSWER_ERROR : IG_CTL_UNREACHABLE;
	}
	const char *msg = json_string_value(json_object_get(doc, "error"));
	if (status < 200 || status >= 300) {
		complain("%s: HTTP %ld: %s", o->cmd, status, msg ? msg : "(no message)");
		rc = IG_CTL_ANSWER_ERROR;
	} else {
		rc = o->json ? (json_is_false(json_object_get(doc, "ok")) ? IG_CTL_ANSWER_ERROR : IG_CTL_OK) : show(o, doc);
		if (rc == IG_CTL_ANSWER_ERROR)
			complain("%s: %s", o->cmd, msg ? msg : "refused");
	}
	json_decref(doc);
	free(answer);
	return rc;
}

int ig_ctl_main(int argc, char **argv)
{
	static const char *const cmds[] = {"status", "coverage", "explain", "obligations", "dismiss", "reload"};
	ctl_opts o = {0};
	ig_ctl_target t = {0};
	char err[1024], *path = NULL, *body = NULL;
	int rc = IG_CTL_USAGE;

	for (size_t i = 0; argc >= 2 && i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (strcmp(argv[1], cmds[i]) == 0)
			o.cmd = cmds[i];
	if (!o.cmd) {
		bool help = argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0);
		usage(help ? stdout : stderr);
		return help ? IG_CTL_OK : IG_CTL_USAGE;
	}
	int p = parse(argc, argv, &o);
	if (p != 0) {
		usage(p > 0 ? stdout : stderr);
		return p > 0 ? IG_CTL_OK : IG_CTL_USAGE;
	}
	if (request_of(&o, &path, &body, err, sizeof(err)) < 0 || target_of(&o, &t, err, sizeof(err)) < 0) {
		fprintf(stderr, "importgate ctl: %s\n", err);
		goto out;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		fprintf(stderr, "importgate ctl: cannot initialise libcurl\n");
		goto out;
	}
	rc = run(&o, &t, path, body);
	curl_global_cleanup();
out:
	free(path);
	free(body);
	free(t.base);
	if (t.token) {
		explicit_bzero(t.token, strlen(t.token));
		free(t.token);
	}
	return rc;
}
