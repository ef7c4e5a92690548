/*
 * credentials.h - secret files: where they are, and whether they can be read before the
 * gateway listens.
 *
 * A *_file key (admin.token_file, obligations.*.password_file) or a TLS file of
 * client_tls, backends.tls or obligations.service.tls may be written "credential:NAME": the
 * file NAME in the directory systemd passes in $CREDENTIALS_DIRECTORY (LoadCredential=,
 * systemd.exec(5)). systemd reads the source file as root and hands the service user a
 * private copy, so a root-owned 0600 secret works under User=importgate. cluster.tls files
 * are read by libcurl in pd/ and take plain paths only.
 */
#ifndef IMPORTGATE_CREDENTIALS_H
#define IMPORTGATE_CREDENTIALS_H

#include <stddef.h>

#include "policy/config.h"

#define IG_CRED_PREFIX "credential:"

/* The path to open for a configured one: itself, or for "credential:NAME" the file in
 * $CREDENTIALS_DIRECTORY written into buf. NULL + err when it cannot be resolved (no
 * $CREDENTIALS_DIRECTORY, a NAME that is empty or holds '/', too long). NULL/"" stay so. */
const char *ig_cred_path(const char *configured, char *buf, size_t cap, char *err, size_t errlen);

/* Opens and reads every secret file cfg names (token, passwords, TLS certificates and
 * keys), so a missing or unreadable one stops the start before any port is open and is
 * reported by --check-config. 0, or -1 + "key: path: why". */
int ig_secrets_check(const ig_config *cfg, char *err, size_t errlen);

#endif
