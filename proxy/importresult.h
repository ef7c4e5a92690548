/*
 * importresult.h - what TiDB answered to a forwarded IMPORT INTO, read from the captured
 * bytes of its response: the one-row result set (Job_ID, ..., Status, Imported_Rows,
 * Result_Message, ...; DETACHED answers at once with Status "pending"), the OK packet of
 * IMPORT INTO ... FROM SELECT ("Records: N, ID: <uuid>"), or an error. Pure.
 */
#ifndef IMPORTGATE_IMPORTRESULT_H
#define IMPORTGATE_IMPORTRESULT_H

#include <stddef.h>
#include <stdint.h>

typedef enum { IR_UNKNOWN, IR_ROWS, IR_OK, IR_ERR } ig_import_result_kind;

typedef struct ig_import_result {
	ig_import_result_kind kind;
	char job_id[32];
	char status[32];
	char rows[32];        /* Imported_Rows, or N of "Records: N" */
	char message[512];    /* Result_Message, OK info, or the error message */
	uint16_t err_code;
} ig_import_result;

/*
 * Parses the `index`-th result of a response captured from its first byte (`len` may be
 * cut short: whatever was not captured is left empty). Returns 0, or -1 when the bytes do
 * not hold that result.
 */
int ig_import_result_parse(const uint8_t *p, size_t len, uint32_t caps, unsigned index,
                           ig_import_result *out);

#endif
