/*
 * utf8.h - the length of one valid UTF-8 sequence (1-4 bytes), or 0 when the bytes at s are
 * not one: overlong, a surrogate, beyond U+10FFFF, truncated. What the audit log and the JSON
 * log format need to turn a client's bytes into strings every JSON reader accepts.
 */
#ifndef IMPORTGATE_UTF8_H
#define IMPORTGATE_UTF8_H

#include <stddef.h>

static inline size_t sql_utf8_seq(const unsigned char *s, size_t n)
{
	size_t len;
	unsigned min, cp;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2, min = 0x80, cp = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		len = 3, min = 0x800, cp = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		len = 4, min = 0x10000, cp = s[0] & 0x07;
	else
		return 0;
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

#endif
