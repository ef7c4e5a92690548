/*
 * importresult.c - reads TiDB's answer to an IMPORT INTO (see importresult.h). Walks the
 * captured packets with the same rules as the response tracker, keeping column names and
 * the first row of the result asked for.
 */
#include "proxy/importresult.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "proxy/mysql_proto.h"

#define MAX_COLS 64

typedef struct pkt_reader {
	const uint8_t *p;
	size_t len, pos;
} pkt_reader;

/* The next whole packet (a result of IMPORT INTO never needs 16 MiB packets). MariaDB's
 * progress reports (0xFF, code 0xFFFF: no error has that code, and no row starts with 0xFF)
 * are not part of the answer and are passed over. */
static int next_packet(pkt_reader *r, const uint8_t **pl, uint32_t *n)
{
	for (;;) {
		if (r->len - r->pos < 4)
			return -1;
		uint32_t plen = my_u24(r->p + r->pos);
		if (r->len - r->pos - 4 < plen || plen == MY_MAX_PAYLOAD)
			return -1;
		*pl = r->p + r->pos + 4;
		*n = plen;
		r->pos += 4 + (size_t)plen;
		if (!(plen >= 3 && (*pl)[0] == 0xff && my_u16(*pl + 1) == MY_PROGRESS_CODE))
			return 0;
	}
}

/* A length-encoded string at *pos; -1 for NULL (0xfb) or malformed. */
static int lenenc_str(const uint8_t *p, size_t len, size_t *pos, const uint8_t **s, size_t *slen)
{
	uint64_t n;
	if (*pos < len && p[*pos] == 0xfb) {
		(*pos)++;
		return -1;
	}
	if (my_lenenc_read(p, len, pos, &n) < 0 || n > len - *pos)
		return -2;
	*s = p + *pos;
	*slen = (size_t)n;
	*pos += (size_t)n;
	return 0;
}

static void copy_str(char *dst, size_t cap, const uint8_t *s, size_t n)
{
	if (n >= cap)
		n = cap - 1;
	memcpy(dst, s, n);
	dst[n] = '\0';
}

static bool is_eof(const uint8_t *pl, uint32_t n, uint32_t caps)
{
	return n > 0 && pl[0] == 0xfe && ((caps & CLIENT_DEPRECATE_EOF) ? n < MY_MAX_PAYLOAD : n < 9);
}

/* "Records: 10, ID: 3b1f..." -> rows "10". */
static void records_from_info(ig_import_result *out)
{
	const char *r = strstr(out->message, "Records: ");
	if (!r)
		return;
	r += 9;
	size_t n = strspn(r, "0123456789");
	copy_str(out->rows, sizeof(out->rows), (const uint8_t *)r, n);
}

static int read_rows(pkt_reader *r, uint64_t ncols, uint32_t caps, bool keep, ig_import_result *out,
                     bool *more)
{
	char names[MAX_COLS][32];
	const uint8_t *pl;
	uint32_t n;
	for (uint64_t i = 0; i < ncols; i++) {
		if (next_packet(r, &pl, &n) < 0)
			return -1;
		/* catalog, schema, table, org_table, name */
		size_t pos = 0;
		const uint8_t *s = NULL;
		size_t sl = 0;
		for (int f = 0; f < 5; f++)
			if (lenenc_str(pl, n, &pos, &s, &sl) < 0)
				return -1;
		if (i < MAX_COLS)
			copy_str(names[i], sizeof(names[i]), s, sl);
	}
	if (!(caps & CLIENT_DEPRECATE_EOF) && (next_packet(r, &pl, &n) < 0 || !is_eof(pl, n, caps)))
		return -1;
	bool first = true;
	for (;;) {
		if (next_packet(r, &pl, &n) < 0)
			return -1;
		if (n > 0 && pl[0] == 0xff) {
			my_err e;
			if (keep && my_err_parse(pl, n, &e) == 0) {
				out->kind = IR_ERR;
				out->err_code = e.code;
				copy_str(out->message, sizeof(out->message), (const uint8_t *)e.msg, e.msg_len);
			}
			*more = false;
			return 0;
		}
		if (is_eof(pl, n, caps)) {
			uint16_t status = 0;
			my_ok ok;
			if (n < 9 && n >= 5)
				status = my_u16(pl + 3);
			else if (my_ok_parse(pl, n, caps, &ok) == 0)
				status = ok.status;
			*more = (status & SERVER_MORE_RESULTS_EXISTS) != 0;
			return 0;
		}
		if (keep && first) {
			out->kind = IR_ROWS;
			size_t pos = 0;
			for (uint64_t i = 0; i < ncols && i < MAX_COLS; i++) {
				const uint8_t *s = NULL;
				size_t sl = 0;
				int rc = lenenc_str(pl, n, &pos, &s, &sl);
				if (rc == -2)
					break;
				if (rc < 0)
					continue;
				if (strcmp(names[i], "Job_ID") == 0)
					copy_str(out->job_id, sizeof(out->job_id), s, sl);
				else if (strcmp(names[i], "Status") == 0)
					copy_str(out->status, sizeof(out->status), s, sl);
				else if (strcmp(names[i], "Imported_Rows") == 0)
					copy_str(out->rows, sizeof(out->rows), s, sl);
				else if (strcmp(names[i], "Result_Message") == 0)
					copy_str(out->message, sizeof(out->message), s, sl);
			}
		}
		first = false;
	}
}

int ig_import_result_parse(const uint8_t *p, size_t len, uint32_t caps, unsigned index,
                           ig_import_result *out)
{
	pkt_reader r = {.p = p, .len = len};
	memset(out, 0, sizeof(*out));
	for (unsigned i = 0;; i++) {
		const uint8_t *pl;
		uint32_t n;
		bool keep = i == index, more = false;
		if (next_packet(&r, &pl, &n) < 0 || n == 0)
			return -1;
		if (pl[0] == 0xff) {
			my_err e;
			if (!keep || my_err_parse(pl, n, &e) < 0)
				return -1; /* an error ends a batch before the result asked for */
			out->kind = IR_ERR;
			out->err_code = e.code;
			copy_str(out->message, sizeof(out->message), (const uint8_t *)e.msg, e.msg_len);
			return 0;
		}
		if (pl[0] == 0x00) {
			my_ok ok;
			if (my_ok_parse(pl, n, caps, &ok) < 0)
				return -1;
			if (keep) {
				out->kind = IR_OK;
				if (ok.info)
					copy_str(out->message, sizeof(out->message), (const uint8_t *)ok.info, ok.info_len);
				records_from_info(out);
				return 0;
			}
			more = (ok.status & SERVER_MORE_RESULTS_EXISTS) != 0;
		} else {
			size_t pos = 0;
			uint64_t ncols;
			if (my_lenenc_read(pl, n, &pos, &ncols) < 0 || ncols == 0)
				return -1;
			if (read_rows(&r, ncols, caps, keep, out, &more) < 0)
				return keep && out->kind != IR_UNKNOWN ? 0 : -1;
			if (keep)
				return 0;
		}
		if (!more)
			return -1;
	}
}
