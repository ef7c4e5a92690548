"""A small SQL lexer for the TiDB test double: tokens with MySQL/TiDB rules
(comments, executable comments whose content is code, quoted strings with
backslash escapes and doubled quotes, backtick identifiers), and splitting a
multi-statement COM_QUERY on `;` outside quotes and comments.

It is a double's lexer: good enough to find statement kinds, IMPORT INTO
parts and literals, not a full TiDB grammar.

sql_mode matters to it as to TiDB's lexer: NO_BACKSLASH_ESCAPES makes a
backslash an ordinary character inside quotes, ANSI_QUOTES (also part of
ANSI) makes "..." an identifier. TiDB parses a whole COM_QUERY with the
sql_mode the session has when it arrives (session.Parse, then the statements
run), so callers pass the Modes of that moment (Modes.of(sql_mode)).
"""

import re

IDENT, STRING, NUMBER, PUNCT, VAR = "ident", "string", "number", "punct", "var"


class Token:
    __slots__ = ("kind", "text", "value", "start", "end", "quoted")

    def __init__(self, kind, text, value, start, end, quoted=False):
        self.kind = kind
        self.text = text
        self.value = value
        self.start = start
        self.end = end
        self.quoted = quoted

    def is_kw(self, *words):
        return self.kind == IDENT and not self.quoted and self.value.upper() in words

    def __repr__(self):
        return "Token(%s,%r)" % (self.kind, self.value)


class Modes:
    """The lexical parts of sql_mode."""

    __slots__ = ("no_backslash", "ansi_quotes")

    def __init__(self, no_backslash=False, ansi_quotes=False):
        self.no_backslash = no_backslash
        self.ansi_quotes = ansi_quotes

    @classmethod
    def of(cls, sql_mode):
        parts = {p.strip().upper() for p in (sql_mode or "").split(",")}
        return cls("NO_BACKSLASH_ESCAPES" in parts, bool(parts & {"ANSI_QUOTES", "ANSI"}))


STANDARD = Modes()


class LexError(Exception):
    def __init__(self, msg, pos):
        super().__init__(msg)
        self.pos = pos


_EXEC_COMMENT = re.compile(r"/\*(!\d*|T!(\[[^\]]*\])?)")
_ESCAPES = {"0": "\0", "b": "\b", "n": "\n", "r": "\r", "t": "\t", "Z": "\x1a",
            "\\": "\\", "'": "'", '"': '"'}


def _skip_comment(sql, i):
    """Return the end of a plain comment at i, or -1 if none starts there.
    Executable comments (/*! */, /*T! */) are not skipped: their body is code."""
    n = len(sql)
    if sql.startswith("--", i) and (i + 2 >= n or sql[i + 2] in " \t\r\n"):
        j = sql.find("\n", i)
        return n if j < 0 else j + 1
    if sql[i] == "#":
        j = sql.find("\n", i)
        return n if j < 0 else j + 1
    if sql.startswith("/*", i) and not _EXEC_COMMENT.match(sql, i):
        j = sql.find("*/", i + 2)
        if j < 0:
            raise LexError("unterminated comment", i)
        return j + 2
    return -1


def _read_quoted(sql, i, quote, modes=STANDARD):
    """Read a quoted string/identifier starting at i; return (value, end)."""
    n = len(sql)
    j = i + 1
    out = []
    escapes = quote != "`" and not modes.no_backslash and not (quote == '"' and modes.ansi_quotes)
    while j < n:
        c = sql[j]
        if c == "\\" and escapes and j + 1 < n:
            out.append(_ESCAPES.get(sql[j + 1], sql[j + 1]))
            j += 2
            continue
        if c == quote:
            if j + 1 < n and sql[j + 1] == quote:
                out.append(quote)
                j += 2
                continue
            return "".join(out), j + 1
        out.append(c)
        j += 1
    raise LexError("unterminated quoted text", i)


def tokenize(sql, modes=STANDARD):
    """Tokens of one statement (or of a whole multi-statement text)."""
    toks = []
    i, n = 0, len(sql)
    while i < n:
        c = sql[i]
        if c.isspace():
            i += 1
            continue
        end = _skip_comment(sql, i)
        if end >= 0:
            i = end
            continue
        m = _EXEC_COMMENT.match(sql, i)
        if m:  # the body of an executable comment is lexed as code
            i = m.end()
            continue
        if sql.startswith("*/", i):  # end of an executable comment
            i += 2
            continue
        if c == '"' and modes.ansi_quotes:
            value, end = _read_quoted(sql, i, c, modes)
            toks.append(Token(IDENT, sql[i:end], value, i, end, quoted=True))
            i = end
            continue
        if c in "'\"":
            value, end = _read_quoted(sql, i, c, modes)
            toks.append(Token(STRING, sql[i:end], value, i, end))
            i = end
            continue
        if c == "`":
            value, end = _read_quoted(sql, i, c, modes)
            toks.append(Token(IDENT, sql[i:end], value, i, end, quoted=True))
            i = end
            continue
        if c == "_" and re.match(r"_[A-Za-z0-9]+'", sql[i:]):  # charset introducer
            j = sql.index("'", i)
            value, end = _read_quoted(sql, j, "'", modes)
            toks.append(Token(STRING, sql[i:end], value, i, end))
            i = end
            continue
        if c.isdigit() or (c == "." and i + 1 < n and sql[i + 1].isdigit()):
            m = re.compile(r"0x[0-9A-Fa-f]+|\d*\.?\d+(?:[eE][-+]?\d+)?").match(sql, i)
            toks.append(Token(NUMBER, m.group(0), m.group(0), i, m.end()))
            i = m.end()
            continue
        if c == "@":
            m = re.compile(r"@@?(?:[A-Za-z0-9_$.]+|`[^`]*`)").match(sql, i)
            if m:
                toks.append(Token(VAR, m.group(0), m.group(0), i, m.end()))
                i = m.end()
                continue
        if c.isalnum() or c in "_$" or ord(c) > 127:
            m = re.compile(r"[A-Za-z0-9_$\u0080-\uffff]+").match(sql, i)
            toks.append(Token(IDENT, m.group(0), m.group(0), i, m.end()))
            i = m.end()
            continue
        two = sql[i:i + 2]
        if two in ("<=", ">=", "<>", "!=", ":=", "||", "&&"):
            toks.append(Token(PUNCT, two, two, i, i + 2))
            i += 2
            continue
        toks.append(Token(PUNCT, c, c, i, i + 1))
        i += 1
    return toks


def split_statements(sql, modes=STANDARD):
    """Split on ';' outside quotes and comments; drop empty statements.
    Returns the statement texts, each as the client sent it (trimmed)."""
    out = []
    start = 0
    i, n = 0, len(sql)
    while i < n:
        c = sql[i]
        end = _skip_comment(sql, i)
        if end >= 0:
            i = end
            continue
        if c in "'\"`":
            _, i = _read_quoted(sql, i, c, modes)
            continue
        if c == ";":
            piece = sql[start:i].strip()
            if piece and not _only_comments(piece, modes):
                out.append(piece)
            start = i + 1
        i += 1
    piece = sql[start:].strip()
    if piece and not _only_comments(piece, modes):
        out.append(piece)
    return out


def _only_comments(piece, modes):
    """A piece with nothing but comments is no statement (TiDB's parser returns none)."""
    try:
        return not tokenize(piece, modes)
    except LexError:
        return False


def count_placeholders(sql, modes=STANDARD):
    return sum(1 for t in tokenize(sql, modes) if t.kind == PUNCT and t.value == "?")


def quote_literal(value):
    """Render a bound parameter back into SQL text (for COM_STMT_EXECUTE)."""
    if value is None:
        return "NULL"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, bytes):
        value = value.decode(errors="replace")
    return "'" + str(value).replace("\\", "\\\\").replace("'", "''") + "'"


def substitute_placeholders(sql, params, modes=STANDARD):
    toks = [t for t in tokenize(sql, modes) if t.kind == PUNCT and t.value == "?"]
    out, last = [], 0
    for tok, val in zip(toks, params):
        out.append(sql[last:tok.start])
        out.append(quote_literal(val))
        last = tok.end
    out.append(sql[last:])
    return "".join(out)
