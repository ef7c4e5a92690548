/*
 * b64digit.h - the value of one base64 digit (RFC 4648, standard or URL-safe alphabet), or
 * -1: what etcd's base64 decoding (policy/base64.c) and the redactor's view of an encoded
 * literal (sqlparse/redact.c) share.
 */
#ifndef IMPORTGATE_B64DIGIT_H
#define IMPORTGATE_B64DIGIT_H

static inline int sql_b64_digit(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+' || c == '-')
		return 62;
	if (c == '/' || c == '_')
		return 63;
	return -1;
}

#endif
