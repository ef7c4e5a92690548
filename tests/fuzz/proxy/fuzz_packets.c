/*
 * fuzz_packets.c - libFuzzer target for everything the gateway parses from the wire
 * before it trusts it: the backend greeting, the client's handshake response (and its
 * rewrite), COM_CHANGE_USER, OK/ERR packets, the response tracker fed through the framer
 * (server result streams as a backend could send them, MariaDB's progress reports and
 * skipped metadata included), the import-answer reader, and the
 * reader of the answer to the gateway's probe of the session's state (proxy/probe.h).
 * The first input byte chooses the negotiated capabilities; the rest is the stream.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/buf.h"
#include "proxy/framer.h"
#include "proxy/importresult.h"
#include "proxy/mysql_proto.h"
#include "proxy/probe.h"
#include "proxy/response.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static ig_pkt_verdict on_packet(void *arg, const ig_packet *pk)
{
	ig_resp *r = arg;
	if (pk->have > pk->len || pk->have < (pk->len < IG_FRAME_PEEK ? pk->len : IG_FRAME_PEEK))
		abort(); /* the framer hands over what it promised, never more than the packet */
	if (pk->cont)
		return IG_PKT_RELAY;
	size_t peek = pk->have < IG_RESP_PEEK ? pk->have : IG_RESP_PEEK;
	ig_resp_event ev = ig_resp_feed(r, pk->data, peek, pk->len);
	if (ev == RE_DONE || ev == RE_PROTOCOL)
		ig_resp_begin(r, (uint8_t)(pk->len & 0x1f), r->caps, r->mariadb_caps);
	/* Some packets are waited for whole, as the capture of an import's answer does. */
	return pk->len < 256 && !ig_packet_whole(pk) ? IG_PKT_WAIT : IG_PKT_RELAY;
}

static int on_relay(void *arg, const uint8_t *p, size_t n) { (void)arg; (void)p; (void)n; return 0; }
static int on_run_end(void *arg) { (void)arg; return 0; }
static bool on_stop(void *arg) { (void)arg; return false; }

static const ig_framer_ops ops = {.packet = on_packet, .relay = on_relay, .run_end = on_run_end, .stop = on_stop};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[256];
	if (size < 2)
		return 0;
	uint32_t caps = data[0] & 1 ? CLIENT_DEPRECATE_EOF | CLIENT_PROTOCOL_41 : CLIENT_PROTOCOL_41;
	if (data[0] & 2)
		caps |= CLIENT_SESSION_TRACK;
	const uint8_t *p = data + 1;
	size_t n = size - 1;

	/* Handshake packets: parse, and rewrite what parsed. */
	my_greeting g;
	if (my_greeting_parse(p, n, &g, err, sizeof(err)) == 0) {
		uint8_t *copy = malloc(n);
		if (copy) {
			memcpy(copy, p, n);
			my_greeting_set_caps(copy, &g, g.caps & ~IG_CAPS_MASKED, 0);
			free(copy);
		}
	}
	my_hs_response r;
	if (my_hs_response_parse(p, n, &r, err, sizeof(err)) == 0 && !r.ssl_request) {
		ig_buf out = {0};
		if (r.auth_len > n || (r.auth && (r.auth < p || r.auth + r.auth_len > p + n)))
			abort();
		if (my_hs_response_rewrite(p, n, r.caps & ~IG_CAPS_MASKED, r.mariadb_caps & IG_MARIADB_CAPS_RELAYED, &out) == 0 && out.len != n)
			abort(); /* a rewrite changes bits, never the length */
		ig_buf_reset(&out);
	}
	my_change_user cu;
	my_change_user_parse(p, n, caps, &cu);
	my_ok ok;
	if (my_ok_parse(p, n, caps, &ok) == 0 && ok.info && (ok.info < (const char *)p ||
	                                                     ok.info + ok.info_len > (const char *)p + n))
		abort();
	my_err e;
	my_err_parse(p, n, &e);

	/* A server stream, in two chunks split where the input says. */
	ig_framer f = {0};
	ig_resp tr;
	/* MariaDB's progress reports and skipped metadata when the input says so. */
	uint32_t mcaps = data[0] & 8 ? MARIADB_CLIENT_PROGRESS | MARIADB_CLIENT_CACHE_METADATA : 0;
	ig_resp_begin(&tr, data[0] >> 2 & 1 ? COM_STMT_PREPARE : COM_QUERY, caps, mcaps);
	size_t cut = n ? (data[0] * 7u) % n : 0;
	ig_buf rest = {0};
	if (ig_framer_feed(&f, p, cut, &ops, &tr, &rest) != IG_FRAME_OK ||
	    ig_framer_feed(&f, p + cut, n - cut, &ops, &tr, &rest) != IG_FRAME_OK)
		abort();
	ig_framer_reset(&f);

	ig_import_result ir;
	ig_import_result_parse(p, n, caps, data[0] >> 4, &ir);

	/* The probe's answer: a result is final (no prefix of the answer gives one) and names
	 * only bytes it was given. */
	ig_probe_request req = {.nvars = data[0] >> 6 & 1 ? 2 : 0, .names = {"a", "b"}, .toks = {"@a", "@b"},
	                        .tok_lens = {2, 2}};
	size_t used = 0, used2 = 0, scan = 0;
	ig_session_facts facts, again;
	(void)ig_probe_may_be_complete(p, n, &scan);
	if (scan > n)
		abort();
	if (ig_probe_parse(p, n, caps, "0123456789abcdef", &req, &facts, &used, err, sizeof(err)) == 0) {
		if (used > n || !facts.user || !facts.sql_mode || !facts.charset || facts.nvars != req.nvars)
			abort();
		if (used > 0 && ig_probe_parse(p, used - 1, caps, "0123456789abcdef", &req, &again, &used2, err,
		                               sizeof(err)) == 0)
			abort();
		ig_session_facts_free(&facts);
	}
	return 0;
}

#ifndef IG_LIBFUZZER
int main(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		FILE *fp = fopen(argv[i], "rb");
		if (!fp) {
			perror(argv[i]);
			return 1;
		}
		static uint8_t buf[1 << 20];
		size_t n = fread(buf, 1, sizeof(buf), fp);
		fclose(fp);
		LLVMFuzzerTestOneInput(buf, n);
	}
	return 0;
}
#endif
