/*
 * coverage.h - the cluster state as operators see it (docs/OPERATIONS.md): the "cluster"
 * object of GET /api/v1/status and the answer of GET /api/v1/coverage. Credentials in sink
 * URIs, storage locations, PD endpoints and error texts are redacted (sqlparse's redactor,
 * through proxy/auditfield.h). Run on the admin server's thread pool.
 */
#ifndef IMPORTGATE_COVERAGE_H
#define IMPORTGATE_COVERAGE_H

#include <stddef.h>

#include <jansson.h>

/* The "cluster" object: a fresh (cache-verified) read of PD's etcd; when it fails, the error
 * and the last read kept (marked "stale"). While another status answer reads PD, the last
 * read kept (stale) and how the last status read ended. NULL only when out of memory. */
json_t *ig_cluster_status_json(void);
/* GET /api/v1/coverage?table=DB.TABLE[&user=U][&host=H]: malloc'd JSON; *http_status 400
 * for a bad query. */
char *ig_coverage_json(const char *query, size_t len, int *http_status);

#endif
