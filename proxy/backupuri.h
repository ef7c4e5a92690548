/*
 * backupuri.h - the target URI of an owed BACKUP TABLE (obligations.backup_uri with its
 * placeholders filled in). Pure: no I/O, no globals.
 */
#ifndef IMPORTGATE_BACKUPURI_H
#define IMPORTGATE_BACKUPURI_H

/* tmpl with {db} {table} {job_id} {date} {id} replaced. {db} and {table} are encoded
 * twice (A-Z a-z 0-9 - _ ~ kept, every other byte %XX, '.' too so that no name is a "."
 * or ".." segment of a local:// target):
 * BR parses the URI with Go's url.Parse and uses the decoded path as the object prefix,
 * so one level of encoding keeps '?', '#', '%' and ' ' from being read as the query, the
 * fragment or escapes (a table named "t?access-key=x" would otherwise add parameters) and
 * the second keeps '/' from splitting the prefix: the key then holds the names encoded
 * once, which is one-to-one ("a/b"."c" and "a"."b/c" stay apart). The other values are
 * inserted as they are (the caller's ids and dates). A NULL value is empty. malloc'd;
 * NULL on allocation failure. */
char *ig_backup_uri(const char *tmpl, const char *db, const char *table, const char *job_id, const char *id,
                    const char *date);

#endif
