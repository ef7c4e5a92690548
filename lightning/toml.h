/*
 * toml.h - reads a TOML document (a TiDB Lightning task file) into a jansson tree, behind a C
 * interface. The parsing is toml++ (Debian libtomlplusplus-dev) in one small C++ unit,
 * toml.cc; nothing else in the project is C++. PURE: text in, tree out, no I/O.
 * Tables become objects, arrays arrays, strings strings, integers integers, floats reals,
 * booleans true/false, dates and times their TOML text.
 */
#ifndef IMPORTGATE_LTN_TOML_H
#define IMPORTGATE_LTN_TOML_H

#include <stddef.h>

#include <jansson.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The document as a new object (caller json_decref's it), or NULL with "line L, column C:
 * what is wrong" (or "out of memory") in err. The text need not be NUL-terminated. */
json_t *ig_toml_parse(const char *text, size_t len, char *err, size_t errlen);

#ifdef __cplusplus
}
#endif

#endif
