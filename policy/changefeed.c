/*
 * changefeed.c - TiCDC changefeed info in PD's etcd: which keys are changefeed info
 * (layouts of pingcap/tidb pkg/util/cdcutil/cdc.go) and what importgate reads from the JSON
 * value (pingcap/tiflow cdc/model/changefeed.go ChangeFeedInfo): state,
 * config.filter.rules, config.case-sensitive; and, for operators only (/api/v1/status), read
 * leniently so that they never change what a decision sees: sink-uri, start-ts.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/clusterstate.h"

#define CHANGEFEED_PATH "/changefeed/info/"

static const struct {
	const char *name;
	ig_cfstate state;
} states[] = {
	{"normal", IG_CFSTATE_NORMAL},   {"pending", IG_CFSTATE_PENDING},
	{"warning", IG_CFSTATE_WARNING}, {"error", IG_CFSTATE_ERROR},
	{"failed", IG_CFSTATE_FAILED},   {"stopped", IG_CFSTATE_STOPPED},
	{"running", IG_CFSTATE_RUNNING}, {"finished", IG_CFSTATE_FINISHED},
	{"removed", IG_CFSTATE_REMOVED},
};

const char *ig_cfstate_name(ig_cfstate s)
{
	for (size_t i = 0; i < sizeof(states) / sizeof(states[0]); i++)
		if (states[i].state == s)
			return states[i].name;
	return "unknown";
}

static bool alnum(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* ^[a-zA-Z0-9]+(-[a-zA-Z0-9]+)*$ : TiCDC's cluster id (tiflow pkg/config/server_config.go) */
static bool cluster_id_ok(const char *s, size_t n)
{
	if (n == 0 || !alnum(s[0]) || !alnum(s[n - 1]))
		return false;
	for (size_t i = 1; i < n; i++)
		if (!(alnum(s[i]) || (s[i] == '-' && alnum(s[i - 1]))))
			return false;
	return true;
}

int ig_changefeed_key(const char *key, size_t klen, char **cluster, char **ns, char **id)
{
	const size_t plen = strlen(IG_KEY_CDC);
	const char *k, *cut, *slash;
	size_t kl;

	*cluster = *ns = *id = NULL;
	if (klen < plen || memcmp(key, IG_KEY_CDC, plen) != 0)
		return 0;
	k = key + plen - 1; /* keeps the leading '/' */
	kl = klen - plen + 1;
	cut = memmem(k, kl, CHANGEFEED_PATH, strlen(CHANGEFEED_PATH));
	if (!cut)
		return 0;
	if (!(*id = strndup(cut + strlen(CHANGEFEED_PATH), kl - (size_t)(cut - k) - strlen(CHANGEFEED_PATH))))
		return -1;
	if (cut == k)
		return 1; /* legacy: /tidb/cdc/changefeed/info/<id> */
	/* /tidb/cdc/<cluster>/<namespace>/changefeed/info/<id>; __backup__ has no namespace */
	slash = memchr(k + 1, '/', (size_t)(cut - k - 1));
	if (!slash || !cluster_id_ok(k + 1, (size_t)(slash - k - 1))) {
		free(*id);
		*id = NULL;
		return 0;
	}
	*cluster = strndup(k + 1, (size_t)(slash - k - 1));
	*ns = strndup(slash + 1, (size_t)(cut - slash - 1));
	if (!*cluster || !*ns) {
		free(*cluster);
		free(*ns);
		free(*id);
		*cluster = *ns = *id = NULL;
		return -1;
	}
	return 1;
}

static int jfail(char *err, size_t errlen, const char *msg, const char *detail)
{
	if (errlen)
		snprintf(err, errlen, "changefeed info: %s%s%.120s", msg, detail ? ": " : "", detail ? detail : "");
	return -1;
}

static int set_rules(ig_changefeed *cf, const json_t *rules, char *err, size_t errlen)
{
	size_t n = json_array_size(rules);

	cf->rules = calloc(n ? n : 1, sizeof(char *));
	if (!cf->rules)
		return jfail(err, errlen, "out of memory", NULL);
	if (n == 0) { /* tiflow VerifyTableRules: no rules = "*.*" */
		if (!(cf->rules[0] = strdup("*.*")))
			return jfail(err, errlen, "out of memory", NULL);
		cf->nrules = 1;
		return 0;
	}
	for (size_t i = 0; i < n; i++) {
		const json_t *r = json_array_get(rules, i);
		if (!json_is_string(r))
			return jfail(err, errlen, "config.filter.rules holds a non-string", NULL);
		if (strlen(json_string_value(r)) != json_string_length(r))
			return jfail(err, errlen, "config.filter.rules holds a NUL byte", NULL);
		if (!(cf->rules[i] = strdup(json_string_value(r))))
			return jfail(err, errlen, "out of memory", NULL);
		cf->nrules = i + 1;
	}
	return 0;
}

static int read_config(ig_changefeed *cf, const json_t *config, char *err, size_t errlen)
{
	const json_t *cs, *filter, *rules = NULL;

	cf->case_sensitive = -1;
	if (config && !json_is_null(config) && !json_is_object(config))
		return jfail(err, errlen, "config is not an object", NULL);
	cs = json_object_get(config, "case-sensitive");
	if (cs && !json_is_null(cs)) {
		if (!json_is_boolean(cs))
			return jfail(err, errlen, "config.case-sensitive is not a boolean", NULL);
		cf->case_sensitive = json_is_true(cs);
	}
	filter = json_object_get(config, "filter");
	if (filter && !json_is_null(filter)) {
		const json_t *mysql;
		if (!json_is_object(filter))
			return jfail(err, errlen, "config.filter is not an object", NULL);
		rules = json_object_get(filter, "rules");
		if (rules && !json_is_null(rules) && !json_is_array(rules))
			return jfail(err, errlen, "config.filter.rules is not an array", NULL);
		/* tiflow: with no rules, mysql-replication-rules (do-dbs, ...) apply instead. */
		mysql = json_object_get(filter, "mysql-replication-rules");
		if (json_array_size(rules) == 0 && mysql && !json_is_null(mysql))
			return jfail(err, errlen, "config.filter uses mysql-replication-rules, which "
			             "importgate does not read", NULL);
	}
	return set_rules(cf, json_is_array(rules) ? rules : NULL, err, errlen);
}

/* sink-uri and start-ts: absent or of another type is left unknown, not an error. */
static int read_display(ig_changefeed *cf, const json_t *root, char *err, size_t errlen)
{
	const json_t *sink = json_object_get(root, "sink-uri"), *ts = json_object_get(root, "start-ts");

	if (json_is_integer(ts) && json_integer_value(ts) > 0)
		cf->start_ts = (uint64_t)json_integer_value(ts);
	if (!json_is_string(sink))
		return 0;
	free(cf->sink_uri);
	cf->sink_uri = strndup(json_string_value(sink), json_string_length(sink));
	return cf->sink_uri ? 0 : jfail(err, errlen, "out of memory", NULL);
}

int ig_changefeed_decode(const char *text, size_t len, ig_changefeed *cf, char *err, size_t errlen)
{
	json_error_t je;
	json_t *root = json_loadb(text ? text : "", text ? len : 0, 0, &je);
	const json_t *state;
	int rc = 0;

	if (!root)
		return jfail(err, errlen, "bad JSON", je.text);
	if (!json_is_object(root)) {
		json_decref(root);
		return jfail(err, errlen, "not a JSON object", NULL);
	}
	state = json_object_get(root, "state");
	if (state && !json_is_null(state) && !json_is_string(state)) {
		rc = jfail(err, errlen, "state is not a string", NULL);
	} else {
		const char *s = json_is_string(state) ? json_string_value(state) : "";
		cf->state = IG_CFSTATE_UNKNOWN;
		for (size_t i = 0; i < sizeof(states) / sizeof(states[0]); i++)
			if (strcmp(s, states[i].name) == 0)
				cf->state = states[i].state;
		free(cf->state_text);
		cf->state_text = strdup(s);
		if (!cf->state_text)
			rc = jfail(err, errlen, "out of memory", NULL);
	}
	if (rc == 0)
		rc = read_config(cf, json_object_get(root, "config"), err, errlen);
	if (rc == 0)
		rc = read_display(cf, root, err, errlen);
	json_decref(root);
	return rc;
}
