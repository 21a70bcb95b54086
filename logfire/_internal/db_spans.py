"""Database span enrichment: a readable `logfire.msg` (the statement) and the error level of a failed query.

The instrumentations set a query's attributes after its span has started, so this runs when the span ends, and
after the scrubber: the message is made from the statement as scrubbing left it (its literal values gone when it
looked secret, see `statement_scrubbing`), and `logfire.*` keys are never scrubbed themselves. It reads either
generation of OpenTelemetry's database attribute names (`db.system`/`db.statement`, and
`db.system.name`/`db.query.text` under `OTEL_SEMCONV_STABILITY_OPT_IN=database`). Other spans cost it two lookups.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import StatusCode
from opentelemetry.util.types import AttributeValue

from .constants import ATTRIBUTES_LOG_LEVEL_NUM_KEY, ATTRIBUTES_MESSAGE_KEY, ATTRIBUTES_SPAN_TYPE_KEY, ERROR_LEVEL
from .exporters.processors import copy_span
from .http_spans import cut
from .span_storage import with_end_attributes

__all__ = ['MAX_DB_MESSAGE_LENGTH', 'set_db_message']

MAX_DB_MESSAGE_LENGTH: Final = 200
"""The longest `logfire.msg` of a database span, in characters; a longer statement is cut and ends with `…`."""
_SYSTEM_OLD, _SYSTEM_NEW = 'db.system', 'db.system.name'
DB_SYSTEM_KEYS: Final = (_SYSTEM_OLD, _SYSTEM_NEW)
"""The attributes that mark a database span (old and new semantic conventions)."""
_STATEMENT_OLD, _STATEMENT_NEW = 'db.statement', 'db.query.text'


def set_db_message(span: ReadableSpan, attributes: Mapping[str, AttributeValue]) -> ReadableSpan:
    """End transform, after scrubbing: give a database span its statement as message, and a failed one level error."""
    if _SYSTEM_OLD not in attributes and _SYSTEM_NEW not in attributes:
        return span
    added: dict[str, AttributeValue] = {}
    message = attributes.get(ATTRIBUTES_MESSAGE_KEY)
    # A message equal to the name is the default one given at start, to spans that had no `db.system` yet then.
    if message is None or message == span.name:
        statement = attributes.get(_STATEMENT_OLD)
        if statement is None:
            statement = attributes.get(_STATEMENT_NEW)
        # One line, whatever the statement's layout: the first `MAX_DB_MESSAGE_LENGTH` characters of it; the span's
        # name for a statement that is all whitespace.
        text = statement if isinstance(statement, str) else ''
        words = text[: MAX_DB_MESSAGE_LENGTH * 4].split()
        if not words and not text.strip():
            words = span.name[: MAX_DB_MESSAGE_LENGTH * 4].split()
        added[ATTRIBUTES_MESSAGE_KEY] = cut(' '.join(words), MAX_DB_MESSAGE_LENGTH)
        if ATTRIBUTES_SPAN_TYPE_KEY not in attributes:
            added[ATTRIBUTES_SPAN_TYPE_KEY] = 'span'
    if span.status.status_code is StatusCode.ERROR and ATTRIBUTES_LOG_LEVEL_NUM_KEY not in attributes:
        added[ATTRIBUTES_LOG_LEVEL_NUM_KEY] = ERROR_LEVEL
    if not added:
        return span
    # The span `copy_span` would make, cheaper (see `with_end_attributes`); the copy when that cannot.
    return with_end_attributes(span, added) or copy_span(span, attributes={**attributes, **added})
