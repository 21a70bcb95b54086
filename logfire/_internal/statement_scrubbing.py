"""The literal values of a database statement: what scrubbing redacts in `db.statement` instead of the whole text.

Query parameters are never recorded, so the only values a statement can carry are its literals: quoted strings
(`'...'` with `''` inside, `E'...'` with backslash escapes, `$tag$...$tag$`) and numbers. When a statement matches
a scrubbing pattern, every literal becomes `?`, so `UPDATE users SET password = 'x' WHERE id = 3` reads
`UPDATE users SET password = ? WHERE id = ?`: the names that matched stay readable, the values go. An unterminated
quote runs to the end of the text, so a cut statement loses its tail rather than leaking it.
"""

from __future__ import annotations

import re
from typing import Final

__all__ = ['STATEMENT_KEYS', 'without_literals']

STATEMENT_KEYS: Final = frozenset({'db.statement', 'db.query.text'})
"""The attributes holding a statement (old and stable database semantic conventions)."""

_LITERAL: Final = re.compile(
    r"""
      (?<![\w$])[Ee]'(?:[^'\\]|\\.|'')*(?:'|\Z)        # E'...' escape string: backslash escapes
    | (?<![\w$])[BbXxNn]?'(?:[^']|'')*(?:'|\Z)  # '...' standard string, also B'..', X'..', N'..'
    | \$(?P<tag>[A-Za-z_]\w*)?\$.*?(?:\$(?P=tag)?\$|\Z)  # $tag$ ... $tag$ dollar quoting
    | (?<![\w$:.?])-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?(?![\w.])  # numbers, not $1 or :1 placeholders or names
    """,
    re.VERBOSE | re.DOTALL,
)


def without_literals(statement: str) -> str:
    """`statement` with each literal value replaced by `?`."""
    return _LITERAL.sub('?', statement)
