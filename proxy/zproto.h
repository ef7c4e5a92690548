/*
 * zproto.h - the compressed protocol of one connection (CLIENT_COMPRESS with zlib,
 * CLIENT_ZSTD_COMPRESSION_ALGORITHM with zstd): frames in, the MySQL packet bytes they carry
 * out; packet bytes in, frames out. The one place that turns frames into packets and back
 * (proxy/conn.c runs it under the framer, above TLS); each leg of a session has its own, so
 * the client's leg and the backend's leg compress independently. Pure (no I/O): the unit
 * tests and the fuzz target run the same code.
 *
 * A frame: 3 bytes compressed length, 1 byte sequence id, 3 bytes uncompressed length, then
 * the payload; an uncompressed length of 0 means the payload is sent as is. A frame holds
 * any bytes of the packet stream: several packets, or part of one. A frame is accepted only
 * when its payload decompresses to exactly the declared length with nothing left over; the
 * declared length (at most 16 MiB - 1) bounds the memory one frame can take, and frames are
 * decompressed one at a time, each handed on before the next is read.
 *
 * Sequence ids (TiDB pkg/server/internal/packetio.go and pkg/server/conn.go, pingcap/tidb at
 * 000172f4, the v8.5 line): one counter per connection for both directions, set to the id
 * after each frame read, incremented by each frame written, and reset to 0 when a command
 * ends; TiDB checks it on every frame it reads. Here the leg where the gateway is the client
 * resets it to 0 at each command it sends (a packet with sequence id 0 that continues no
 * other); ids of frames read are taken, not checked (the gateway re-frames everything, so a
 * backend never sees a client's frame ids).
 */
#ifndef IMPORTGATE_ZPROTO_H
#define IMPORTGATE_ZPROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proxy/buf.h"

#define IG_Z_HEADER 7
#define IG_Z_MAX_LEN 0xffffffu    /* both lengths are 3 bytes */
#define IG_Z_MIN_COMPRESS 50      /* payloads up to this are sent as is (TiDB and MySQL: 50) */
#define IG_Z_FRAME_MAX (1u << 20) /* packet bytes per frame written (TiDB writes 1 MiB frames) */
/*
 * The highest zstd level the gateway compresses at, whatever the client asks: a level is
 * only a request (any decoder reads any level), and libzstd's high levels cost what one
 * client must not be able to impose on a worker shared with other sessions - at level 19
 * to 22 a context of ~17 MiB held for the session and ~0.5 s of the event loop per 1 MiB
 * frame written, against ~1.3 MiB and ~7 ms at 3 (attack 7, measured with libzstd 1.5).
 * TiDB does not honour the levels as libzstd does either: conn.go sets
 * zstd.EncoderLevelFromZstd(resp.ZstdLevel), klauspost/compress's four levels
 * (pingcap/tidb pkg/server/conn.go and pkg/server/internal/packetio.go at 520738e9).
 */
#define IG_Z_ZSTD_LEVEL_MAX 3

typedef enum ig_zalg { IG_Z_NONE, IG_Z_ZLIB, IG_Z_ZSTD } ig_zalg;

typedef struct ig_zleg {
	ig_zalg alg;
	int level;           /* zstd level (the client's up to IG_Z_ZSTD_LEVEL_MAX, else 3); zlib: its default */
	bool client_side;    /* the gateway is the client on this leg: commands reset the id */
	uint8_t seq;         /* the next frame id */
	/* Reading. */
	ig_buf carry;        /* a frame not yet whole */
	ig_buf out;          /* the last frame's packet bytes */
	/* Writing: where packets start in the bytes written, to find the commands. */
	uint32_t pkt_left;   /* payload bytes of the current packet still to come */
	uint8_t hdr[4];      /* a packet header split between writes */
	uint8_t hdr_have;
	bool prev_full;      /* the last packet had a 16 MiB - 1 payload: the next continues it */
	uint32_t data_left;  /* packets still to be written that start no command (ig_zleg_expect_data) */
} ig_zleg;

/*
 * The compressors and decompressors are the thread's, not the connection's: a frame is
 * compressed or decompressed whole in one call (zlib reset before each, zstd one-shot), and
 * a worker's loop runs one callback at a time, so one set per thread serves all its
 * connections. A connection at rest then holds none (per connection they were ~270 KiB for
 * zlib, ~1.36 MiB for zstd at level 3, made on first use and kept: docs/BENCHMARKS.md 2.1). Made
 * on first use; ig_zproto_thread_free at the thread's end. ig_zproto_thread_bytes: what the
 * thread's set holds now (tests).
 */
void ig_zproto_thread_free(void);
size_t ig_zproto_thread_bytes(void);

/* Frames from now on; 0, or -1 for an unknown algorithm. */
int ig_zleg_start(ig_zleg *z, ig_zalg alg, int zstd_level, bool client_side);
static inline bool ig_zleg_on(const ig_zleg *z) { return z->alg != IG_Z_NONE; }
void ig_zleg_free(ig_zleg *z);

/*
 * Reads frames from p[0..n): stops after each whole frame. Returns 1 with that frame's
 * packet bytes in *out and *outlen (valid until the next call), 0 when everything was used and
 * no frame is whole yet, -1 (err says why) when a frame is not acceptable or memory ran out.
 * *used: bytes of p consumed.
 */
int ig_zleg_read(ig_zleg *z, const uint8_t *p, size_t n, size_t *used, const uint8_t **out, size_t *outlen,
                 char *err, size_t errlen);
/* Bytes of a frame kept, not yet whole. */
static inline size_t ig_zleg_kept(const ig_zleg *z) { return ig_buf_avail(&z->carry); }

/*
 * On the leg where the gateway is the client: the next `packets` packets written continue an
 * exchange (LOCAL INFILE data, numbered on from the server's request), so none of them starts
 * a command, even one whose id has wrapped around to 0 (a file of more than 254 pieces):
 * without this its frame would go out with id 0 and the server refuse it (MariaDB: 1156
 * "Got packets out of order").
 */
static inline void ig_zleg_expect_data(ig_zleg *z, uint32_t packets) { z->data_left += packets; }

/* Appends the frames carrying packet bytes p[0..n) to out. 0, or -1 out of memory. */
int ig_zleg_write(ig_zleg *z, const uint8_t *p, size_t n, ig_buf *out);

/* The zstd level a HandshakeResponse asks for: with CLIENT_ZSTD_COMPRESSION_ALGORITHM its last
 * field is one byte of level, after the connection attributes (MySQL's HandshakeResponse41);
 * 3 (MySQL's and TiDB's default) when it is absent or not a zstd level (1..22). */
int ig_zstd_level_of_response(const uint8_t *p, size_t len, uint32_t caps);

#endif
