/*
 * etcdjson.h - the value encodings of etcd's v3 JSON gateway (grpc-gateway) that more than
 * one decoder reads. Pure.
 */
#ifndef IMPORTGATE_ETCDJSON_H
#define IMPORTGATE_ETCDJSON_H

#include <jansson.h>
#include <stdint.h>

/* An int64 field: grpc-gateway writes it as a JSON string, a number is accepted too;
 * absent (NULL) = 0. Returns 0, or -1 (*out = 0) for anything else. */
int ig_etcd_json_i64(const json_t *v, int64_t *out);

#endif
