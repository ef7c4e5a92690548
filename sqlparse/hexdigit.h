/*
 * hexdigit.h - the value of one hexadecimal digit, or -1: what percent-decoding (URIs, the
 * Data_Source TiDB shows, Dumpling's file names) and hexadecimal literals share.
 */
#ifndef IMPORTGATE_HEXDIGIT_H
#define IMPORTGATE_HEXDIGIT_H

static inline int sql_hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

#endif
