/*
 * test_redact.c - credential redaction: userinfo passwords, every named credential
 * parameter, name patterns, percent-encoded and mixed-case names, fragments, non-URIs,
 * and redaction of string literals inside statements.
 */
#include "helpers.h"
#include "sqlparse/split.h"

static void expect_uri(const char *in, const char *want)
{
	char *o = sql_redact_uri(in, strlen(in));
	assert_non_null(o);
	if (strcmp(o, want) != 0)
		fail_msg("redact <%s>: got <%s>, expected <%s>", in, o, want);
	free(o);
}

static void test_named_parameters(void **st)
{
	static const char *const names[] = {"access-key", "access_key", "secret-access-key", "secret_access_key",
	                                    "session-token", "sas-token", "account-key", "credentials-file"};
	size_t i;
	(void)st;
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		char in[256], want[256];
		snprintf(in, sizeof(in), "s3://bucket/p/x.csv?region=us-east-1&%s=S3cr3t%%2Fv&endpoint=http://h", names[i]);
		snprintf(want, sizeof(want), "s3://bucket/p/x.csv?region=us-east-1&%s=redacted&endpoint=http://h", names[i]);
		expect_uri(in, want);
	}
}

static void test_name_patterns(void **st)
{
	(void)st;
	expect_uri("gcs://b/x?credentials-file=/etc/key.json", "gcs://b/x?credentials-file=redacted");
	expect_uri("azure://c/x?account-name=acc&account-key=AAA==&sas-token=sv%3D1",
	           "azure://c/x?account-name=acc&account-key=redacted&sas-token=redacted");
	expect_uri("azblob://c/x?sv=2020&sig=abc%2Bdef&se=2030", "azblob://c/x?sv=2020&sig=redacted&se=2030");
	expect_uri("s3://b/x?X-Amz-Signature=zz&X-Amz-Credential=cc", "s3://b/x?X-Amz-Signature=redacted&X-Amz-Credential=redacted");
	expect_uri("s3://b/x?myToken=1&db_password=2&passwd=3&pwd=4&client_secret=5&apikey=6",
	           "s3://b/x?myToken=redacted&db_password=redacted&passwd=redacted&pwd=redacted&client_secret=redacted&apikey=redacted");
	expect_uri("s3://b/x?region=r&force-path-style=true&provider=aws",
	           "s3://b/x?region=r&force-path-style=true&provider=aws");
}

static void test_encoded_and_case(void **st)
{
	(void)st;
	expect_uri("s3://b/x?ACCESS-KEY=a&Secret-Access-Key=b", "s3://b/x?ACCESS-KEY=redacted&Secret-Access-Key=redacted");
	expect_uri("s3://b/x?access%2Dkey=a&secret%5Faccess%5fkey=b", "s3://b/x?access%2Dkey=redacted&secret%5Faccess%5fkey=redacted");
	expect_uri("s3://b/x?%73ession-token=t", "s3://b/x?%73ession-token=redacted");
	expect_uri("s3://b/x?access+key=a", "s3://b/x?access+key=redacted");
	expect_uri("s3://b/x?bad%zzkey=a&%=b", "s3://b/x?bad%zzkey=redacted&%=b");
}

static void test_userinfo(void **st)
{
	(void)st;
	expect_uri("hdfs://user:pa:ss@nn:8020/path", "hdfs://user:redacted@nn:8020/path");
	expect_uri("mysql://root:secret@host/db?x=1", "mysql://root:redacted@host/db?x=1");
	expect_uri("s3://AKID:SK%2F@bucket/x", "s3://AKID:redacted@bucket/x");
	expect_uri("s3://user@bucket/x", "s3://user@bucket/x");
	expect_uri("s3://a:b@c@host/x", "s3://a:redacted@host/x");
	expect_uri("s3://bucket/path@x:y", "s3://bucket/path@x:y"); /* '@' after the authority is path */
	/* a password holding '/', '?' or '#' (AWS secret keys hold '/'): url.Parse cuts the
	 * authority there, but those bytes are still the secret (attack3: userinfo slash) */
	expect_uri("s3://AKID:wJal/rXUt+z@bucket/t.csv", "s3://AKID:redacted@bucket/t.csv");
	expect_uri("s3://AKID:pw?q#r@bucket/t.csv", "s3://AKID:redacted@bucket/t.csv");
	expect_uri("s3://AK/ID:sec/ret@bucket/t.csv", "s3://AK/ID:redacted@bucket/t.csv");
	expect_uri("s3://a:b/c@d/e@host/x?region=r", "s3://a:redacted@host/x?region=r");
	/* fail closed: a port followed by an '@' in the path is redacted up to it */
	expect_uri("s3://host:9000/p@v2/x", "s3://host:redacted@v2/x");
}

static void test_structure_kept(void **st)
{
	(void)st;
	expect_uri("s3://b/x#frag?secret=1", "s3://b/x#frag?secret=redacted");
	expect_uri("s3://b/x?token=1#frag", "s3://b/x?token=redacted"); /* a fragment after a secret may be its tail */
	expect_uri("s3://b/x?token&a=1&&b=", "s3://b/x?token&a=1&&b=");
	expect_uri("s3://b/x?token=", "s3://b/x?token=redacted");
	expect_uri("/local/path/data.csv", "/local/path/data.csv");
	expect_uri("local:///tmp/x.csv", "local:///tmp/x.csv");
	expect_uri("relative/x?password=p", "relative/x?password=redacted");
	expect_uri("", "");
	expect_uri("3s://x?token=a", "3s://x?token=redacted");
	{
		char *o = sql_redact_uri(NULL, 5);
		assert_string_equal(o, "");
		free(o);
		/* only len bytes are read; embedded NUL kept */
		o = sql_redact_uri("s3://b/\0x?key=1&more", 15);
		assert_memory_equal(o, "s3://b/\0x?key=redacted", 23); /* with its NUL */
		free(o);
	}
}

static void expect_stmt(const char *in, unsigned flags, const char *want)
{
	char *o = sql_redact_statement(in, strlen(in), flags);
	assert_non_null(o);
	if (strcmp(o, want) != 0)
		fail_msg("redact <%s>: got <%s>, expected <%s>", in, o, want);
	free(o);
}

static void hidden(const char *in, bool stmt, const char *keep);

static void test_statements(void **st)
{
	(void)st;
	expect_stmt("IMPORT INTO t FROM 's3://b/x?access-key=A&secret-access-key=S' WITH "
	            "CLOUD_STORAGE_URI='s3://s/p?session-token=T', THREAD=1",
	            0,
	            "IMPORT INTO t FROM 's3://b/x?access-key=redacted&secret-access-key=redacted' WITH "
	            "CLOUD_STORAGE_URI='s3://s/p?session-token=redacted', THREAD=1");
	expect_stmt("BACKUP TABLE d.t TO \"s3://k:v@b/p\"", 0, "BACKUP TABLE d.t TO \"s3://k:redacted@b/p\"");
	expect_stmt("LOAD DATA INFILE _utf8mb4's3://b/x?sas-token=z' INTO TABLE t", 0,
	            "LOAD DATA INFILE _utf8mb4's3://b/x?sas-token=redacted' INTO TABLE t");
	/* a comment is free text (attack17): its credentials go too */
	expect_stmt("SELECT 'no uri here', 'a?b' /* s3://x?token=1 */", 0, "SELECT 'no uri here', 'a?b' /* s3://x?redacted */");
	expect_stmt("SELECT 'it''s://x?token=1'", 0, "SELECT 'it''s://x?token=redacted'");
	/* a literal inside an executable comment is code to TiDB and comment to older MySQL: the
	 * readings disagree, so the rest is withheld (fail closed) */
	expect_stmt("/*!IMPORT INTO t FROM 's3://b?token=1'*/", 0,
	            "/*!IMPORT INTO t FROM /* importgate: 18 bytes redacted (quoting ambiguous or unterminated) */");
	expect_stmt("SELECT 1", 0, "SELECT 1");
	expect_stmt("SELECT 'unterminated s3://b?token=1", 0,
	            "SELECT /* importgate: 28 bytes redacted (quoting ambiguous or unterminated) */");
}

/* The password of an account statement is a bare literal (pingcap/tidb pkg/parser/parser.y
 * AuthOption, SetPwdStmt, PasswordOpt; MySQL's CHANGE REPLICATION SOURCE/START REPLICA,
 * MariaDB's IDENTIFIED VIA .. USING and CREATE SERVER OPTIONS): withheld whatever it reads as. */
static void test_account_passwords(void **st)
{
	(void)st;
	expect_stmt("CREATE USER 'u'@'%' IDENTIFIED BY 'pw1'", 0, "CREATE USER 'u'@'%' IDENTIFIED BY 'redacted'");
	/* attack18: once a statement is about a password, every value after the word goes (a
	 * token between BY and the password no longer lets it through) */
	expect_stmt("create user u identified by \"pw1\" comment 'c', v identified by N'pw2'", 0,
	            "create user u identified by \"redacted\" comment 'redacted', v identified by N'redacted'");
	expect_stmt("ALTER USER u IDENTIFIED WITH 'mysql_native_password' BY 'pw' REPLACE 'old'", 0,
	            "ALTER USER u IDENTIFIED WITH 'redacted' BY 'redacted' REPLACE 'redacted'");
	expect_stmt("ALTER USER u IDENTIFIED WITH caching_sha2_password AS '$A$005$x'", 0,
	            "ALTER USER u IDENTIFIED WITH caching_sha2_password AS 'redacted'");
	expect_stmt("CREATE USER u IDENTIFIED BY PASSWORD '*AB12'", 0, "CREATE USER u IDENTIFIED BY PASSWORD 'redacted'");
	expect_stmt("CREATE USER u IDENTIFIED BY PASSWORD 0x2A4142", 0, "CREATE USER u IDENTIFIED BY PASSWORD 'redacted'");
	expect_stmt("SET PASSWORD FOR 'u'@'h' = 'pw'", 0, "SET PASSWORD FOR 'u'@'h' = 'redacted'");
	expect_stmt("SET PASSWORD := PASSWORD('pw')", 0, "SET PASSWORD := PASSWORD('redacted')");
	expect_stmt("GRANT ALL ON *.* TO u IDENTIFIED BY _utf8mb4'p' 'w'", 0,
	            "GRANT ALL ON *.* TO u IDENTIFIED BY _utf8mb4'redacted' ''");
	expect_stmt("GRANT ALL ON *.* TO u IDENTIFIED/*x*/BY\n'pw'", 0, "GRANT ALL ON *.* TO u IDENTIFIED/*x*/BY\n'redacted'");
	expect_stmt("CHANGE MASTER TO MASTER_USER='r', MASTER_PASSWORD='pw'", 0,
	            "CHANGE MASTER TO MASTER_USER='r', MASTER_PASSWORD='redacted'");
	expect_stmt("START REPLICA USER='r' PASSWORD='pw'", 0, "START REPLICA USER='r' PASSWORD='redacted'");
	expect_stmt("CREATE USER u IDENTIFIED VIA ed25519 USING PASSWORD('pw') OR unix_socket", 0,
	            "CREATE USER u IDENTIFIED VIA ed25519 USING PASSWORD('redacted') OR unix_socket");
	expect_stmt("CREATE SERVER s FOREIGN DATA WRAPPER mysql OPTIONS (USER 'r', PASSWORD 'pw')", 0,
	            "CREATE SERVER s FOREIGN DATA WRAPPER mysql OPTIONS (USER 'r', PASSWORD 'redacted')");
	expect_stmt("SELECT PASSWORD(CONCAT('p', 'w' || 'x'))", 0, "SELECT PASSWORD(CONCAT('redacted', 'redacted' || 'redacted'))");
	expect_stmt("CREATE USER u IDENTIFIED BY `pw`", 0, "CREATE USER u IDENTIFIED BY 'redacted'");
	/* a blank only some readings see (U+00A0) does not hide the keyword */
	expect_stmt("CREATE USER u IDENTIFIED\xc2\xa0" "BY\xc2\xa0" "'pw'", 0, "CREATE USER u IDENTIFIED\xc2\xa0" "BY\xc2\xa0" "'redacted'");
	/* per statement: the next one of a batch is not an account statement */
	expect_stmt("SET PASSWORD = 'pw'; SELECT 'x' = 'y'", 0, "SET PASSWORD = 'redacted'; SELECT 'x' = 'y'");
	/* not an account context: kept */
	expect_stmt("SELECT 'a' = 'b', COMMENT 'c'", 0, "SELECT 'a' = 'b', COMMENT 'c'");
}

/* A comment is free text: a location or credential in it is redacted as sql_redact_text
 * does; a comment longer than 64 KiB is withheld whole. */
static void test_comments(void **st)
{
	char *big, *o;
	(void)st;
	expect_stmt("IMPORT INTO t FROM 's3://b/n.csv' -- was 's3://b/o.csv?access-key=AK&secret-access-key=SK'\n", 0,
	            "IMPORT INTO t FROM 's3://b/n.csv' -- was 's3://b/o.csv?redacted'\n");
	expect_stmt("SELECT 1 /* s3://AK:SK@b/o.csv */, 2", 0, "SELECT 1 /* s3://AK:redacted@b/o.csv */, 2");
	expect_stmt("SELECT 1 # token: T1\n, 'x' /* password=P */", 0, "SELECT 1 # token: redacted\n, 'x' /* password=redacted */");
	/* a comment between the pieces of a location: each read as what it is */
	expect_stmt("SELECT 's3://b?x=1' /* sig=S */ 'y'", 0, "SELECT 's3://b?x=1' /* sig=redacted */ 'y'");
	expect_stmt("SELECT 's3://b?sig=' /* token=T */ 'S'", 0, "SELECT 's3://b?sig=redacted' /* token=redacted */ ''");
	/* the closing mark survives a value that runs into it */
	expect_stmt("SELECT 1 /*sig=S*/", 0, "SELECT 1 /*sig=redacted*/");
	expect_stmt("SELECT 1 -- secret_access_key = SK\n", 0, "SELECT 1 -- secret_access_key = redacted\n");
	/* plain comments and executable ones are kept as they are */
	expect_stmt("SELECT /* hint */ 1 /*!80000 , 2 */", 0, "SELECT /* hint */ 1 /*!80000 , 2 */");
	big = malloc(70000 + 64);
	assert_non_null(big);
	strcpy(big, "SELECT 1 /*");
	memset(big + strlen(big), 'x', 70000);
	strcpy(big + 11 + 70000, " token=T */, 2");
	o = sql_redact_statement(big, strlen(big), 0);
	assert_non_null(o);
	if (strstr(o, "token=T") || !strstr(o, ", 2") || strlen(o) > 200)
		fail_msg("long comment: <%.200s>", o);
	free(o);
	free(big);
}

/* A location built from pieces by an expression (CONCAT('...secret-access-key=', 'SK'),
 * '..' || '..'): a piece that leaves a credential's name or value open continues in the next
 * literal of the statement. */
static void test_built_locations(void **st)
{
	(void)st;
	expect_stmt("SET @u = CONCAT('s3://b/k?access-key=AK&secret-access-key=', 'SK')", 0,
	            "SET @u = CONCAT('s3://b/k?access-key=redacted&secret-access-key=redacted', 'redacted')");
	expect_stmt("SELECT CONCAT('s3://b/k?account-k', 'ey=SK&region=r')", 0,
	            "SELECT CONCAT('s3://b/k?account-k', 'redacted&region=r')");
	expect_stmt("SELECT CONCAT('s3://b/k?x=1&secret-access-key', '=SK', '&sas-token=T')", 0,
	            "SELECT CONCAT('s3://b/k?x=1&secret-access-key', 'redacted', '&sas-token=redacted')");
	expect_stmt("SELECT 's3://b/k?sas', '-to', 'ken=wJal', 'rXUt'", 0,
	            "SELECT 's3://b/k?sas', '-to', 'redacted', 'redacted'");
	expect_stmt("SELECT 's3://b/k?secret-access-key=' || 'SK'", 0,
	            "SELECT 's3://b/k?secret-access-key=redacted' || 'redacted'");
	/* not continued: a finished query, a location followed by a keyword, another statement */
	expect_stmt("SELECT CONCAT('s3://b/k?region=r', 'x')", 0, "SELECT CONCAT('s3://b/k?region=r', 'x')");
	expect_stmt("IMPORT INTO t FROM 's3://b/k?access-key=A&secret-access-key=S' FORMAT 'csv'", 0,
	            "IMPORT INTO t FROM 's3://b/k?access-key=redacted&secret-access-key=redacted' FORMAT 'csv'");
	expect_stmt("SELECT 's3://b/k?secret-access-key=S'; SELECT 'x'", 0,
	            "SELECT 's3://b/k?secret-access-key=redacted'; SELECT 'x'");
}

/* A literal holding JSON (SET SESSION_STATES: TiDB JSON-decodes it, and Go's encoder writes
 * '&' as \u0026): a credential spelled with \u escapes is found in the decoded text, and the
 * literal is withheld whole. */
static void test_json_escaped(void **st)
{
	(void)st;
	expect_stmt("SET SESSION_STATES '{\"sql\":\"IMPORT INTO t FROM \\\\u0027s3://b/k?account-\\\\u006bey=SK\\\\u0027\"}'", 0,
	            "SET SESSION_STATES 'redacted'");
	expect_stmt("SELECT '{\"u\":\"s3://b/k?region=r\\\\u0026external-id=E\"}'", 0, "SELECT 'redacted'");
	/* attack18: the same under the other backslash reading (a session in NO_BACKSLASH_ESCAPES
	 * keeps '\u006b' as written, and the JSON decode reads 'k'): withheld whatever the
	 * gateway believes the sql_mode is */
	hidden("SET SESSION_STATES '{\"sql\":\"SELECT 1 FROM t WHERE u = ''s3://b/k?account-\\u006bey=PLANTED''\"}'", true,
	       "SET SESSION_STATES");
	/* no credential once decoded: kept */
	expect_stmt("SELECT '{\"u\":\"s3://b/k?region=r\\\\u0026x=1\"}'", 0,
	            "SELECT '{\"u\":\"s3://b/k?region=r\\\\u0026x=1\"}'");
}

/* A secret must not survive under either backslash reading of the text. */
static void test_statement_backslash_modes(void **st)
{
	const char *s = "SELECT 'a\\', 's3://b/x?secret-access-key=SK' -- '";
	char *o0 = sql_redact_statement(s, strlen(s), 0);
	char *o1 = sql_redact_statement(s, strlen(s), SQL_F_NO_BACKSLASH_ESCAPES);
	(void)st;
	assert_null(strstr(o0, "SK'"));
	assert_null(strstr(o1, "SK'"));
	assert_non_null(strstr(o0, "redacted"));
	free(o0);
	free(o1);
}


/* Every credential parameter of every BR backend (br/pkg/storage s3.go, gcs.go, azblob.go),
 * under every spelling BR folds to it: case, '_' for '-', percent-encoding of any byte,
 * and the two non-ASCII runes Go's ToLower folds to ASCII (U+212A -> k, U+0130 -> i). */
static const char *const backend_params[][2] = {
	{"s3", "access-key"},       {"s3", "secret-access-key"}, {"s3", "session-token"},
	{"s3", "external-id"},      {"ks3", "access-key"},       {"ks3", "secret-access-key"},
	{"gcs", "credentials-file"}, {"gs", "credentials-file"},  {"azure", "account-key"},
	{"azure", "sas-token"},     {"azblob", "encryption-key"}, {"azblob", "account-key"},
};

static void check_hidden(const char *in, const char *secret)
{
	char *o = sql_redact_uri(in, strlen(in));
	assert_non_null(o);
	if (strstr(o, secret))
		fail_msg("secret survived in <%s>: <%s>", in, o);
	free(o);
}

/* spelling variants of name into out[k][128]; returns how many */
static size_t variants(const char *name, char out[][192])
{
	size_t n = 0, i, L = strlen(name);
	char *p;
	snprintf(out[n++], 192, "%s", name);
	for (p = out[n] , i = 0; i < L; i++) /* upper case */
		p[i] = (char)((name[i] >= 'a' && name[i] <= 'z') ? name[i] - 32 : name[i]);
	out[n++][L] = 0;
	for (p = out[n], i = 0; i < L; i++) /* '_' for '-' */
		p[i] = name[i] == '-' ? '_' : name[i];
	out[n++][L] = 0;
	{ /* every byte percent-encoded, mixed-case hex */
		size_t k = 0;
		for (i = 0; i < L; i++)
			k += (size_t)snprintf(out[n] + k, 192 - k, i % 2 ? "%%%02x" : "%%%02X", (unsigned char)name[i]);
		n++;
	}
	{ /* each 'k' as KELVIN SIGN (UTF-8 and percent-encoded), each 'i' as U+0130 */
		size_t k = 0, k2 = 0;
		bool any = false;
		for (i = 0; i < L; i++) {
			if (name[i] == 'k') {
				k += (size_t)snprintf(out[n] + k, 192 - k, "\xe2\x84\xaa");
				k2 += (size_t)snprintf(out[n + 1] + k2, 192 - k2, "%%E2%%84%%AA");
				any = true;
			} else if (name[i] == 'i') {
				k += (size_t)snprintf(out[n] + k, 192 - k, "\xc4\xb0");
				k2 += (size_t)snprintf(out[n + 1] + k2, 192 - k2, "%%c4%%b0");
				any = true;
			} else {
				out[n][k++] = name[i];
				out[n + 1][k2++] = name[i];
			}
		}
		out[n][k] = 0;
		out[n + 1][k2] = 0;
		if (any)
			n += 2;
	}
	return n;
}

static void test_every_backend_param_folded(void **st)
{
	(void)st;
	for (size_t b = 0; b < sizeof(backend_params) / sizeof(backend_params[0]); b++) {
		char v[8][192];
		size_t nv = variants(backend_params[b][1], v);
		for (size_t i = 0; i < nv; i++) {
			char in[4096];
			snprintf(in, sizeof(in), "%s://bucket/p/x.csv?region=r&%s=PLANTED_S3CRET&x=1", backend_params[b][0], v[i]);
			check_hidden(in, "PLANTED_S3CRET");
			/* first, last, only, duplicated, after ';' (Go < 1.17), value with '#', '+', '%' */
			snprintf(in, sizeof(in), "%s://b?%s=PLANTED_S3CRET", backend_params[b][0], v[i]);
			check_hidden(in, "PLANTED_S3CRET");
			snprintf(in, sizeof(in), "%s://b/x?%s=a&%s=PLANTED_S3CRET", backend_params[b][0], v[i], v[i]);
			check_hidden(in, "PLANTED_S3CRET");
			snprintf(in, sizeof(in), "%s://b/x?a=1;%s=PLANTED_S3CRET&c=2", backend_params[b][0], v[i]);
			check_hidden(in, "PLANTED_S3CRET");
			snprintf(in, sizeof(in), "%s://b/x?%s=ab#PLANTED_S3CRET", backend_params[b][0], v[i]);
			check_hidden(in, "PLANTED_S3CRET");
			snprintf(in, sizeof(in), "%s://b/x?%s=PLANTED+S3CRET%%2F", backend_params[b][0], v[i]);
			check_hidden(in, "S3CRET");
		}
	}
}

static void test_fold_exact(void **st)
{
	(void)st;
	/* the fold is Go's, not a guess: U+212A and U+0130 fold; look-alikes that Go does not
	 * fold to ASCII (U+212B ANGSTROM, U+0131 dotless i, fullwidth K) are not credential names */
	assert_true(sql_redact_is_secret_name("access-\xe2\x84\xaa" "ey", 13));
	assert_true(sql_redact_is_secret_name("s\xc4\xb0gnature", 10));
	assert_true(sql_redact_is_secret_name("ACCESS_KEY", 10));
	assert_true(sql_redact_is_secret_name("access%5Fkey", 12));
	assert_true(sql_redact_is_secret_name("external_id", 11));
	assert_false(sql_redact_is_secret_name("region", 6));
	assert_false(sql_redact_is_secret_name("e\xc4\xb1xternal-id", 12));
	assert_false(sql_redact_is_secret_name("force-path-style", 16));
	expect_uri("s3://b/x?access-\xe2\x84\xaa" "ey=AK&secret-access-\xe2\x84\xaa" "ey=SK",
	           "s3://b/x?access-\xe2\x84\xaa" "ey=redacted&secret-access-\xe2\x84\xaa" "ey=redacted");
	expect_uri("s3://b/x?%E2%84%AAEY=1", "s3://b/x?%E2%84%AAEY=redacted");
	expect_uri("s3://b/x?EXTERNAL%5fID=e", "s3://b/x?EXTERNAL%5fID=redacted");
}

/* A secret split over adjacent literals is redacted on the joined value, in every quoting. */
static void test_split_literals(void **st)
{
	static const char *const forms[] = {
		"IMPORT INTO t FROM 's3://b/t.csv?secret-access-key=' 'PLANTED_S3CRET'",
		"IMPORT INTO t FROM 's3://b/t.csv?secret-access-key=PLANTED' '_S3CRET'",
		"IMPORT INTO t FROM 's3://b/t.csv?secret-acc' 'ess-key=PLANTED_S3CRET'",
		"IMPORT INTO t FROM 's3://b/t.csv?secret-access-k' 'ey=PLANTED_S3CRET&region=r'",
		"IMPORT INTO t FROM 's3://b/t.csv?' 'secret-access-key' '=' 'PLANTED_' 'S3CRET'",
		"IMPORT INTO t FROM \"s3://b/t.csv?secret-access-key=\" \"PLANTED_S3CRET\"",
		"IMPORT INTO t FROM N's3://b/t.csv?secret-access-key=' 'PLANTED_S3CRET'",
		"IMPORT INTO t FROM _utf8mb4's3://b/t.csv?secret-access-key=' \"PLANTED_S3CRET\"",
		"IMPORT INTO t FROM 's3://b/t.csv?secret-access-key=' /* c */ 'PLANTED_S3CRET'",
		"IMPORT INTO t FROM 's3://b/t.csv?secret-access-key=' -- c\n 'PLANTED_S3CRET'",
		"IMPORT INTO t FROM 's3://b/t.csv?secret-access-key=' # c\n\n\t'PLANTED_S3CRET'",
		"IMPORT INTO t FROM 's3://b/t.csv?secret-access-\xe2\x84\xaa' 'ey=PLANTED_S3CRET'",
		"IMPORT INTO t FROM 's3://b/t.csv?secret-access-%4' 'Bey=PLANTED_S3CRET'",
		"IMPORT INTO t FROM 's3://b/t.csv?a=1' WITH CLOUD_STORAGE_URI='s3://c/d?session-token=' 'PLANTED_S3CRET'",
	};
	(void)st;
	for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
		for (unsigned f = 0; f < 4; f++) {
			char *o = sql_redact_statement(forms[i], strlen(forms[i]), f);
			assert_non_null(o);
			if (strstr(o, "PLANTED") || strstr(o, "S3CRET"))
				fail_msg("flags %u: secret survived in <%s>: <%s>", f, forms[i], o);
			free(o);
		}
	}
	expect_stmt("IMPORT INTO t FROM 's3://b/t.csv?secret-access-key=' 'SK'", 0,
	            "IMPORT INTO t FROM 's3://b/t.csv?secret-access-key=redacted' ''");
	expect_stmt("IMPORT INTO t FROM _utf8mb4's3://b?token=' /* x */ N'T'", 0,
	            "IMPORT INTO t FROM _utf8mb4's3://b?token=redacted' /* x */ N''");
}

/* GBK-family charsets: a lead byte 0x81-0xFE before '\\' or a quote ends the literal
 * elsewhere under SQL_F_MB_PAIRS; whatever the caller's flags, no reading leaks. */
static void test_multibyte_readings(void **st)
{
	static const char *const forms[] = {
		/* 0xBF 0x5C: one GBK character, or 0xBF then an escaping backslash */
		"IMPORT INTO t FROM 's3://b/\xbf\\' 's3://b?secret-access-key=PLANTED_S3CRET' -- '",
		"IMPORT INTO t FROM 's3://b/\xbf\\'s3://b?secret-access-key=PLANTED_S3CRET'",
		"IMPORT INTO t FROM 'x\xbf' 's3://b?secret-access-key=PLANTED_S3CRET'",
		"IMPORT INTO t FROM \"s3://b/\x81\\\" \"?session-token=PLANTED_S3CRET\"",
		"IMPORT INTO t FROM 'a\\' 's3://b/x?secret-access-key=PLANTED_S3CRET' -- '",
		"IMPORT INTO t FROM '\x81\x5c' '?access-key=PLANTED_S3CRET'",
		/* gb18030 four-byte character before the quote */
		"IMPORT INTO t FROM 's3://b/\x81\x30\x81\x30' 'x?sas-token=PLANTED_S3CRET'",
		"IMPORT INTO t FROM 'unterminated s3://b?secret-access-key=PLANTED_S3CRET",
		"IMPORT INTO t FROM 's3://b?x=1' /* unterminated 'secret-access-key=PLANTED_S3CRET'",
	};
	(void)st;
	for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
		for (unsigned f = 0; f < 2048; f = f ? f << 1 : 1) {
			char *o = sql_redact_statement(forms[i], strlen(forms[i]), f);
			assert_non_null(o);
			if (strstr(o, "PLANTED") || strstr(o, "S3CRET"))
				fail_msg("flags %u: secret survived in <%s>: <%s>", f, forms[i], o);
			free(o);
		}
	}
}

static void expect_text(const char *in, const char *want)
{
	char *o = sql_redact_text(in, strlen(in));
	assert_non_null(o);
	if (strcmp(o, want) != 0)
		fail_msg("redact text <%s>: got <%s>, expected <%s>", in, o, want);
	free(o);
}

/* Backend messages that echo the statement or the location. */
static void test_text(void **st)
{
	(void)st;
	expect_text("You have an error in your SQL syntax; check the manual near "
	            "''s3://b/x?access-key=AK&secret-access-key=SK' WITH' at line 1",
	            "You have an error in your SQL syntax; check the manual near "
	            "''s3://b/x?redacted' WITH' at line 1");
	expect_text("failed to get region of bucket b: parse \"s3://u:pw@b/x?session-token=T&r=1\": bad",
	            "failed to get region of bucket b: parse \"s3://u:redacted@b/x?redacted\": bad");
	expect_text("s3:<bucket:\"b\" access_key:\"AK\" secret_access_key:\"SK\" region:\"r\">",
	            "s3:<bucket:\"b\" access_key:redacted secret_access_key:redacted region:\"r\">");
	expect_text("near 'secret-access-key=SK&region=r'", "near 'secret-access-key=redacted&region=r'");
	expect_text("sas-token: abc def", "sas-token: redacted def");
	/* blanks around the '=' or ':' (a comment or a message written for people: attack17) */
	expect_text("secret-access-key = SK1 x", "secret-access-key = redacted x");
	expect_text("password : PW2", "password : redacted");
	expect_text("token=  T3", "token=  redacted");
	expect_text("the key is = x", "the key is = x");
	expect_text("open \"s3://AKID:wJal/rXUt@bucket/t.csv\": denied",
	            "open \"s3://AKID:redacted@bucket/t.csv\": denied");
	/* an echoed statement whose literal was split: the pieces after the query go too */
	/* an echoed statement whose literal was split: shown joined, then redacted */
	expect_text("near ''s3://b/x?region=r&session-tok' /* c */ 'en=TK' 'MORE' WITH THREAD=1'",
	            "near ''s3://b/x?redacted' WITH THREAD=1'");
	expect_text("near ''s3://b/' -- c\n'x/p?cre' 'dentials-file=K'", "near ''s3://b/x/p?redacted'");
	expect_text("near ''s3:'\n'//'#c\n'b/?e' 'xternal_id=K&x'", "near ''s3://b/?redacted'");
	expect_text("near 'secret-acc' 'ess-key=K'", "near 'secret-access-key=redacted'");
	expect_text("access-\xe2\x84\xaa" "ey=AK", "access-\xe2\x84\xaa" "ey=redacted");
	expect_text("1062 Duplicate entry '1' for key 'PRIMARY'", "1062 Duplicate entry '1' for key 'PRIMARY'");
	expect_text("", "");
	{
		char *o = sql_redact_text(NULL, 3);
		assert_string_equal(o, "");
		free(o);
	}
	/* every backend parameter, every spelling */
	for (size_t b = 0; b < sizeof(backend_params) / sizeof(backend_params[0]); b++) {
		char v[8][192];
		size_t nv = variants(backend_params[b][1], v);
		for (size_t i = 0; i < nv; i++) {
			char in[8192], *o;
			snprintf(in, sizeof(in), "error near '%s=PLANTED_S3CRET' and %s://b/?%s=PLANTED_S3CRET", v[i],
			         backend_params[b][0], v[i]);
			o = sql_redact_text(in, strlen(in));
			assert_non_null(o);
			if (strstr(o, "PLANTED"))
				fail_msg("secret survived in <%s>: <%s>", in, o);
			free(o);
		}
	}
}

/* ---- attack18: credentials the model did not see ----
 * Each input plants "PLANTED"; the output must not hold it, and must keep `keep` (the
 * statement is still recognisable: a positive control). */
static void hidden(const char *in, bool stmt, const char *keep)
{
	char *o = stmt ? sql_redact_statement(in, strlen(in), 0) : sql_redact_text(in, strlen(in));
	assert_non_null(o);
	if (strstr(o, "PLANTED") || strstr(o, "504c414e544544") /* hex of PLANTED */ ||
	    strstr(o, "01010000010011000100000101001110010101000100010101000100") /* its bits */ || (keep && !strstr(o, keep)))
		fail_msg("redact %s <%s>: got <%s> (keep <%s>)", stmt ? "statement" : "text", in, o, keep ? keep : "");
	free(o);
}

/* A comment or a backend message is free text: an account statement echoed there (an old
 * CREATE USER kept in a comment, TiDB's 1064 near "... IDENTIFIED BY 'pw'") keeps its
 * password in the quotes after BY/AS/USING/=, as in the statement model. */
static void test_free_text_account_passwords(void **st)
{
	(void)st;
	hidden("/* was: CREATE USER app IDENTIFIED BY 'PLANTED1' */ SELECT 1", true, "SELECT 1");
	hidden("SELECT 1 -- ALTER USER u IDENTIFIED WITH caching_sha2_password AS '$A$PLANTED'\n", true, "SELECT 1");
	hidden("SELECT 1 # GRANT ALL ON *.* TO u IDENTIFIED BY \"PLANTED\"\n", true, "SELECT 1");
	hidden("You have an error in your SQL syntax; check the manual near \"USERR u IDENTIFIED BY 'PLANTED'\" at line 1",
	       false, "near \"USERR u IDENTIFIED BY");
	hidden("near 'IDENTIFIED BY 'PLANTED'' at line 1", false, "near 'IDENTIFIED BY");
	hidden("near 'SET PASSWORD FOR u = PASSWORD('PLANTED')' at line 1", false, "SET PASSWORD FOR u");
	hidden("near 'CHANGE MASTER TO MASTER_PASSWORD = 'PLANTED'' at line 1", false, "CHANGE MASTER");
	/* not an account context: quotes kept */
	hidden("1062 Duplicate entry 'x' for key 'PRIMARY'", false, "'x' for key 'PRIMARY'");
}

/* Left by attack18: in free text a password after IDENTIFIED / PASSWORD has no end the text
 * shows when it is unquoted, or quoted with a raw quote inside (a word or a quote straight
 * after the closing quote): the rest of the text is withheld. A cleanly quoted one is
 * withheld alone and the text goes on. */
static void test_free_text_password_without_end(void **st)
{
	(void)st;
	hidden("SELECT 1 -- IDENTIFIED BY PLANTED\n", true, "SELECT 1 -- IDENTIFIED BY");
	hidden("/* CREATE USER bob IDENTIFIED BY PLANTED */ SELECT 1", true, "*/ SELECT 1");
	hidden("SELECT 1 /* IDENTIFIED BY\nPLANTED */", true, "SELECT 1");
	hidden("SELECT 1 # ALTER USER u IDENTIFIED WITH ed25519 USING PLANTED\n", true, "SELECT 1");
	hidden("IDENTIFIED BY 'ab'PLANTED;PLANTED'", false, "IDENTIFIED BY");
	hidden("near 'IDENTIFIED BY 'a'b;PLANTED'' at line 1", false, "near 'IDENTIFIED BY");
	hidden("IDENTIFIED BY 'a''PLANTED'", false, "IDENTIFIED BY");
	hidden("IDENTIFIED BY \"a\"\"PLANTED\"", false, "IDENTIFIED BY");
	hidden("SET PASSWORD FOR u = PLANTED", false, "SET PASSWORD FOR u =");
	hidden("SET PASSWORD = PASSWORD(PLANTED)", false, "SET PASSWORD =");
	hidden("PASSWORD(PLANTED)", false, "PASSWORD(");
	hidden("{\"password\": \"a\"PLANTED\", \"user\": \"u\"}", false, "{\"password\": ");
	hidden("GRANT ALL ON *.* TO u IDENTIFIED BY PLANTED WITH GRANT OPTION; SELECT 'PLANTED'", false, "GRANT ALL");
	/* a clean end: the rest stays */
	hidden("IDENTIFIED BY 'PLANTED' REQUIRE SSL", false, "' REQUIRE SSL");
	hidden("{\"password\": \"PLANTED\", \"user\": \"u\"}", false, "{\"password\": redacted, \"");
	hidden("SELECT 1 /* password=PLANTED */", true, "password=redacted */");
	/* attack20: a backslash before a quote ends a run in one reading and not in the other
	 * (JSON escapes, a Windows path 'C:\'): the longer is withheld */
	hidden("{\"password\": \"ab\\\" PLANTED\"}", false, "{\"password\": ");
	hidden("{\"password\":\"a\\\" PLANTED b\"}", false, "{\"password\":");
	hidden("password='ab\\' PLANTED'", false, "password=");
	hidden("/* {\"password\": \"ab\\\" PLANTED\"} */ SELECT 1", true, "SELECT 1");
	hidden("SELECT AES_ENCRYPT('a\\', 'PLANTED')", false, "AES_ENCRYPT(");
	hidden("/* SELECT AES_ENCRYPT('C:\\', 'PLANTED') */ SELECT 1", true, "*/ SELECT 1");
	hidden("CREATE USER a IDENTIFIED BY 'C:\\', b IDENTIFIED BY ' PLANTED'", false, "CREATE USER a IDENTIFIED BY");
	hidden("CREATE USER a IDENTIFIED BY 'C:\\', b IDENTIFIED BY '-PLANTED'", false, "CREATE USER a IDENTIFIED BY");
	hidden("/* CREATE USER a IDENTIFIED BY 'C:\\', b IDENTIFIED BY ' PLANTED' */ SELECT 1", true, "*/ SELECT 1");
}

/* A hex or bit literal is a string to the server: SET GLOBAL tidb_cloud_storage_uri = 0x..
 * (or X'..', B'..') stores the location it spells, keys and all; as a piece of a built
 * location it is the secret's tail. Decoded and redacted like a string literal. */
static void test_hex_literals(void **st)
{
	(void)st;
	/* s3://b/p?secret-access-key=PLANTED */
	hidden("SET GLOBAL tidb_cloud_storage_uri = "
	       "0x73333a2f2f622f703f7365637265742d6163636573732d6b65793d504c414e544544", true, "SET GLOBAL");
	hidden("SET GLOBAL tidb_cloud_storage_uri = "
	       "X'73333a2f2f622f703f7365637265742d6163636573732d6b65793d504c414e544544'", true, "SET GLOBAL");
	/* s3://AK:PLANTED@b */
	hidden("SELECT x'73333a2f2f414b3a504c414e5445444062'", true, "SELECT");
	/* the same spelled in bits: "key=PLANTED" */
	hidden("SELECT b'0110101101100101011110010011110101010000010011000100000101001110010101000100010101000100'",
	       true, "SELECT");
	hidden("SELECT CONCAT('s3://b/p?secret-access-key=', 0x504c414e544544)", true, "CONCAT(");
	hidden("SELECT CONCAT('s3://b/p?secret-access-key=', X'504c414e544544')", true, "CONCAT(");
	/* a string the server decodes for the statement: UNHEX('..'), FROM_BASE64('..') */
	hidden("SET GLOBAL tidb_cloud_storage_uri = UNHEX('73333a2f2f414b3a504c414e54454440622f78')", true, "UNHEX(");
	expect_stmt("SET GLOBAL tidb_cloud_storage_uri = FROM_BASE64('czM6Ly9BSzpQTEFOVEVEQGIveA==')", 0,
	            "SET GLOBAL tidb_cloud_storage_uri = FROM_BASE64('redacted')");
	expect_stmt("SET GLOBAL tidb_cloud_storage_uri = FROM_BASE64('czM6Ly9iL3g/c2FzLXRva2VuPVBMQU5URUQ')", 0,
	            "SET GLOBAL tidb_cloud_storage_uri = FROM_BASE64('redacted')");
	expect_stmt("SELECT UNHEX('616263646566'), FROM_BASE64('aGVsbG8gd29ybGQ='), 'deadbeefcafe'", 0,
	            "SELECT UNHEX('616263646566'), FROM_BASE64('aGVsbG8gd29ybGQ='), 'deadbeefcafe'");
	/* a hex literal that spells no credential is kept */
	expect_stmt("SELECT 0x616263, X'00ff'", 0, "SELECT 0x616263, X'00ff'");
}

/* Account statements: once a statement is about a password, no value after the word that said
 * so is kept, whatever token carries it or stands between (an introducer word, COLLATE, a
 * function's keyword): the model withheld only a literal right after BY/AS/=/(. */
static void test_password_statement_values(void **st)
{
	(void)st;
	hidden("ALTER USER u IDENTIFIED WITH mysql_native_password AS _binary X'504c414e544544'", true, "ALTER USER u");
	hidden("SET PASSWORD = _binary 0x504c414e544544", true, "SET PASSWORD");
	hidden("CREATE USER u IDENTIFIED BY 'a' COLLATE utf8mb4_bin 'PLANTED'", true, "CREATE USER u");
	hidden("SET PASSWORD = TRIM(LEADING 'x' FROM 'PLANTED')", true, "TRIM(LEADING");
	hidden("SET PASSWORD = @'PLANTED'", true, "SET PASSWORD");
	hidden("CREATE USER u IDENTIFIED BY 7PLANTED", true, "CREATE USER u IDENTIFIED BY");
	hidden("CREATE USER u IDENTIFIED BY PLANTED", true, "CREATE USER u IDENTIFIED BY");
	hidden("CHANGE MASTER TO MASTER_PASSWORD = PLANTED, MASTER_HOST='h'", true, "CHANGE MASTER");
	/* a word glued to a withheld literal: '''' is one quote, then the word */
	hidden("CREATE USER u IDENTIFIED BY ''''PLANTED'", true, "CREATE USER u");
	hidden("CREATE USER u IDENTIFIED BY 'x'PLANTED", true, "CREATE USER u");
	/* the keywords of the grammar stay */
	expect_stmt("CREATE USER u IDENTIFIED BY RANDOM PASSWORD", 0, "CREATE USER u IDENTIFIED BY RANDOM PASSWORD");
	expect_stmt("SET PASSWORD = PASSWORD('pw')", 0, "SET PASSWORD = PASSWORD('redacted')");
	/* encryption keys are credentials too: AES_ENCRYPT(str, key), ENCODE(str, pass) */
	hidden("SELECT AES_ENCRYPT(c, 'PLANTED') FROM t", true, "AES_ENCRYPT(c, ");
	hidden("SELECT AES_DECRYPT(c, 'PLANTED', 'iv')", true, "AES_DECRYPT(c, ");
	hidden("SELECT DECODE(c, 'PLANTED')", true, "DECODE(c, ");
	hidden("SELECT ENCODE('x', \"PLANTED\")", true, "ENCODE(");
}

/* A location continues across pieces of other kinds and in its userinfo too. */
static void test_built_locations_more(void **st)
{
	(void)st;
	hidden("SELECT CONCAT('s3://b/p?secret-access-key=', `PLANTED`)", true, "CONCAT(");
	hidden("SELECT CONCAT('s3://AK:', 'PLANTED@bucket/x')", true, "CONCAT(");
	hidden("SELECT CONCAT('s3://AK', ':PLANTED@bucket/x')", true, "CONCAT(");
	hidden("SELECT CONCAT('s3://AK:', 'PLANT', 'ED@bucket/x')", true, "CONCAT(");
	/* a location written inside a longer literal, or inside a parameter of another */
	hidden("SELECT 'old location s3://AK:PLANTED@b/x'", true, "old location s3://AK:");
	hidden("IMPORT INTO t FROM 's3://b/x?endpoint=http://minio:PLANTED@10.0.0.1:9000&region=r'", true, "region=r");
	/* a secret spelled by numbers (CHAR(80, 76, ..)) between the pieces: the digits go and the
	 * location stays open for the next piece */
	expect_stmt("SELECT CONCAT('s3://AK:', CHAR(80,76,65), 'NTED@b')", 0,
	            "SELECT CONCAT('s3://AK:', CHAR('redacted','redacted','redacted'), 'redacted@b')");
	expect_stmt("SELECT CONCAT('s3://b/p?secret-access-key=', CHAR(80, 76), 'ANTED')", 0,
	            "SELECT CONCAT('s3://b/p?secret-access-key=redacted', CHAR('redacted', 'redacted'), 'redacted')");
	/* an assignment ends the value: the options after a location keep their numbers */
	expect_stmt("IMPORT INTO t FROM 's3://b/x' WITH CLOUD_STORAGE_URI='s3://s/p?session-token=T', THREAD=1", 0,
	            "IMPORT INTO t FROM 's3://b/x' WITH CLOUD_STORAGE_URI='s3://s/p?session-token=redacted', THREAD=1");
	/* a finished authority does not continue */
	expect_stmt("SELECT CONCAT('s3://b/', 'x')", 0, "SELECT CONCAT('s3://b/', 'x')");
}

/* A literal holding a statement (dynamic SQL: PREPARE s FROM '..', SET @q = '..' then
 * PREPARE s FROM @q) or a document: read as free text too. */
static void test_statement_in_literal(void **st)
{
	(void)st;
	hidden("PREPARE s FROM 'CREATE USER u IDENTIFIED BY ''PLANTED'''", true, "PREPARE s FROM 'CREATE USER u");
	hidden("PREPARE s FROM \"ALTER USER u IDENTIFIED BY 'PLANTED'\"", true, "PREPARE s FROM \"ALTER USER u");
	hidden("SET @q = 'SET PASSWORD FOR u = ''PLANTED'''", true, "SET @q = 'SET PASSWORD FOR u");
	hidden("SET @cfg = '{\"password\": \"PLANTED\", \"user\": \"u\"}'", true, "{\"password\": redacted, ");
	hidden("INSERT INTO cfg VALUES ('secret_access_key: PLANTED')", true, "INSERT INTO cfg");
	/* a literal with no such word is kept */
	expect_stmt("PREPARE s FROM 'SELECT ''a'' FROM t'", 0, "PREPARE s FROM 'SELECT ''a'' FROM t'");
}

/* A batch is audited statement by statement (proxy/inspect.c audit_statements): a ';' the
 * writer did not mean cuts a password from the word that announced it. A statement that
 * starts with a value is such a tail: its values are withheld. */
static void test_statement_cut_by_semicolon(void **st)
{
	static const char *const batches[] = {
		"CREATE USER u IDENTIFIED BY \"a\";\"PLANTED\"",
		"SET PASSWORD = 'x';'PLANTED'",
		"CREATE USER u IDENTIFIED BY /*!;*/ 'PLANTED'",
		"ALTER USER u IDENTIFIED BY 'a';0x504c414e544544",
	};
	(void)st;
	for (size_t b = 0; b < sizeof(batches) / sizeof(batches[0]); b++) {
		sql_piece *pc = NULL;
		size_t np = 0;
		char err[64];
		assert_int_equal(sql_split(batches[b], strlen(batches[b]), 0, &pc, &np, err, sizeof(err)), 0);
		assert_true(np >= 2);
		for (size_t i = 0; i < np; i++) {
			char *o = sql_redact_statement(batches[b] + pc[i].span.off, pc[i].span.len, 0);
			assert_non_null(o);
			if (strstr(o, "PLANTED") || strstr(o, "504c414e544544"))
				fail_msg("batch <%s> statement %zu: <%s>", batches[b], i, o);
			free(o);
		}
		free(pc);
	}
	/* a run of more adjacent literals than a group holds is withheld once, whole (a slip
	 * while writing this fix redacted it a second time, from the original text) */
	{
		char in[1024] = "IMPORT INTO t FROM 's3://b/t.csv?secret-access-key='";
		for (int i = 0; i < 70; i++)
			strcat(in, " ''");
		strcat(in, " 'PLANTED'");
		hidden(in, true, "IMPORT INTO t FROM '<redacted: too many adjacent literals>'");
	}
	/* statements that start with a word or '(' keep their values */
	expect_stmt("(SELECT 'a')", 0, "(SELECT 'a')");
}

/* A query percent-encoded once too often: BR reads one harmless-looking pair, but the
 * secret's bytes are there; withheld from the query on. */
static void test_encoded_once_more(void **st)
{
	(void)st;
	expect_uri("s3://b/x?region=r%26secret-access-key%3DPLANTED", "s3://b/x?redacted");
	expect_uri("s3://b/x?secret-access-key%3DPLANTED", "s3://b/x?redacted");
	expect_uri("s3://b/x?a=1&account-key%253DPLANTED", "s3://b/x?redacted");
	hidden("IMPORT INTO t FROM 's3://b/x?region=r%26sas-token%3DPLANTED'", true, "IMPORT INTO t FROM 's3://b/x?");
	/* escapes that hide nothing are kept */
	expect_uri("s3://b/x%20y?region=us%2Deast&p=a%2Fb", "s3://b/x%20y?region=us%2Deast&p=a%2Fb");
	expect_uri("s3://AK:SK%2F@b/x", "s3://AK:redacted@b/x");
}

/* Free text as programs print it: a JSON object, a hash with =>, an HTTP header. */
static void test_text_shapes(void **st)
{
	(void)st;
	hidden("{\"secret-access-key\":\"PLANTED\",\"region\":\"r\"}", false, "\"region\":\"r\"");
	hidden("{\"password\": \"PLANTED\"}", false, "password");
	hidden("config {'sas_token': 'PLANTED'}", false, "config");
	hidden("secret_access_key => PLANTED", false, "secret_access_key");
	hidden("Authorization: Bearer PLANTED", false, "Authorization");
	hidden("authorization: Basic PLANTED x", false, " x");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_named_parameters), cmocka_unit_test(test_name_patterns),
		cmocka_unit_test(test_encoded_and_case), cmocka_unit_test(test_userinfo),
		cmocka_unit_test(test_structure_kept),   cmocka_unit_test(test_statements),
		cmocka_unit_test(test_statement_backslash_modes), cmocka_unit_test(test_every_backend_param_folded),
		cmocka_unit_test(test_fold_exact), cmocka_unit_test(test_split_literals),
		cmocka_unit_test(test_multibyte_readings), cmocka_unit_test(test_text),
		cmocka_unit_test(test_account_passwords), cmocka_unit_test(test_comments),
		cmocka_unit_test(test_built_locations), cmocka_unit_test(test_json_escaped),
		cmocka_unit_test(test_free_text_account_passwords), cmocka_unit_test(test_free_text_password_without_end),
		cmocka_unit_test(test_hex_literals),
		cmocka_unit_test(test_password_statement_values), cmocka_unit_test(test_built_locations_more),
		cmocka_unit_test(test_text_shapes), cmocka_unit_test(test_statement_in_literal),
		cmocka_unit_test(test_statement_cut_by_semicolon), cmocka_unit_test(test_encoded_once_more),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
