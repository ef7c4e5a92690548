/*
 * kill.c - sql_kill_connection(): is a statement text exactly a KILL of one connection by a
 * literal id? The gateway uses the answer for ordering only (command.c holds the OK of such
 * a KILL until the session it names has closed), so the reading is deliberately narrow:
 * anything but blanks, the keywords and one decimal id - a comment, an expression, a second
 * statement, QUERY - is "no", and a "no" only leaves the relay as a plain proxy's.
 *
 * Grammar read: KILL [HARD | SOFT | TIDB] [CONNECTION] <digits> [;]
 *   MariaDB: KILL [HARD | SOFT] [CONNECTION | QUERY [ID]] thread_id (sql_yacc.yy kill:,
 *            MariaDB 10.11); TiDB: KILL [TIDB] [CONNECTION | QUERY] id (pkg/parser
 *            parser.y KillStmt / KillOrKillTiDB).
 */
#include "sqlparse/sqlparse.h"

#include <stdint.h>

static int is_blank(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static int is_word(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
	       c == '$' || c >= 0x80;
}

static size_t skip_blanks(const char *s, size_t len, size_t i)
{
	while (i < len && is_blank((unsigned char)s[i]))
		i++;
	return i;
}

/* The word at i (upper-cased keyword kw, a whole word), or 0. Returns the index after it. */
static size_t keyword_at(const char *s, size_t len, size_t i, const char *kw)
{
	size_t k = 0;
	for (; kw[k]; k++)
		if (i + k >= len || (unsigned char)(s[i + k] & ~0x20) != (unsigned char)kw[k])
			return 0;
	if (i + k < len && is_word((unsigned char)s[i + k]))
		return 0;
	return i + k;
}

int sql_kill_connection(const char *sql, size_t len, uint64_t *id)
{
	static const char *const modifiers[] = {"HARD", "SOFT", "TIDB"};
	size_t i = skip_blanks(sql, len, 0), j;
	if (!(j = keyword_at(sql, len, i, "KILL")))
		return 0;
	i = skip_blanks(sql, len, j);
	for (size_t m = 0; m < sizeof(modifiers) / sizeof(modifiers[0]); m++)
		if ((j = keyword_at(sql, len, i, modifiers[m]))) {
			i = skip_blanks(sql, len, j);
			break;
		}
	if ((j = keyword_at(sql, len, i, "CONNECTION")))
		i = skip_blanks(sql, len, j);
	uint64_t v = 0;
	size_t digits = 0;
	for (; i < len && sql[i] >= '0' && sql[i] <= '9'; i++, digits++) {
		uint64_t d = (uint64_t)(sql[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return 0; /* more than the server reads as an id: not this gateway's to order */
		v = v * 10 + d;
	}
	if (digits == 0 || (i < len && is_word((unsigned char)sql[i])))
		return 0;
	i = skip_blanks(sql, len, i);
	if (i < len && sql[i] == ';')
		i = skip_blanks(sql, len, i + 1);
	if (i != len)
		return 0;
	*id = v;
	return 1;
}
