/*
 * test_redact.c - credential redaction: userinfo passwords, every named credential
 * parameter, name patterns, percent-encoded and mixed-case names, fragments, non-URIs,
 * and redaction of string literals inside statements.
 */
#include "helpers.h"

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
}

static void test_structure_kept(void **st)
{
	(void)st;
	expect_uri("s3://b/x#frag?secret=1", "s3://b/x#frag?secret=1");
	expect_uri("s3://b/x?token=1#frag", "s3://b/x?token=redacted#frag");
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
	expect_stmt("SELECT 'no uri here', 'a?b' /* s3://x?token=1 */", 0, "SELECT 'no uri here', 'a?b' /* s3://x?token=1 */");
	expect_stmt("SELECT 'it''s://x?token=1'", 0, "SELECT 'it''s://x?token=redacted'");
	expect_stmt("/*!IMPORT INTO t FROM 's3://b?token=1'*/", 0, "/*!IMPORT INTO t FROM 's3://b?token=redacted'*/");
	expect_stmt("SELECT 1", 0, "SELECT 1");
	expect_stmt("SELECT 'unterminated s3://b?token=1", 0, "SELECT 'unterminated s3://b?token=1");
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_named_parameters), cmocka_unit_test(test_name_patterns),
		cmocka_unit_test(test_encoded_and_case), cmocka_unit_test(test_userinfo),
		cmocka_unit_test(test_structure_kept),   cmocka_unit_test(test_statements),
		cmocka_unit_test(test_statement_backslash_modes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
