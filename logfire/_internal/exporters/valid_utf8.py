"""Strings the OTLP encoder can take and a request can carry: valid UTF-8, and no longer than `MAX_VALUE_CHARS`.

A lone surrogate (such as U+DCE9, from bytes decoded with `surrogateescape`: a file name, an exception message)
is not valid UTF-8, and protobuf refuses the whole span for it. A single huge value (a 10 MB attribute) would make
the span larger than a request may be (`payload.MAX_REQUEST_BYTES`), and the whole span would be dropped.

Checked just before encoding, off the request path, and only when `span_encoder` refused a batch (it refuses
any string this would change); cheaply: a short ASCII string (nearly all of them) costs a
length and a flag test. Only a span that holds a surrogate or an overlong string somewhere is copied, with each bad
character replaced by U+FFFD and each overlong string (name, message, attribute, event or status text) cut to
`MAX_VALUE_CHARS` characters, the last of them `…`; a span with a cut value gets `logfire.truncated = True`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, Final, cast

from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.trace import Link, Status

from .processors import copy_span

MAX_VALUE_CHARS: Final = 128 * 1024
"""The longest string exported (span name, attribute value, array item, event or status text), in characters."""
TRUNCATED_KEY: Final = 'logfire.truncated'  # as the HTTP spans' bounds set it (`http_spans`)
ELLIPSIS: Final = '…'

_SURROGATE = re.compile('[\ud800-\udfff]')


def _bad_str(value: str) -> bool:
    return len(value) > MAX_VALUE_CHARS or (not value.isascii() and _SURROGATE.search(value) is not None)


def _bad(value: object) -> bool:
    if type(value) is str:
        return _bad_str(value)
    if isinstance(value, (tuple, list)):
        return any(type(item) is str and _bad_str(item) for item in cast('Sequence[object]', value))
    return False


def _bad_attributes(attributes: Mapping[str, Any] | None) -> bool:
    return bool(attributes) and any(_bad_str(key) or _bad(value) for key, value in attributes.items())


class _Fixer:
    """Makes the strings of one span valid and short enough, remembering whether it cut any."""

    def __init__(self) -> None:
        self.cut = False

    def str(self, value: str) -> str:
        if not value.isascii() and _SURROGATE.search(value) is not None:
            # Through UTF-16: a surrogate pair that was split into two code points becomes its character again.
            value = value.encode('utf-16', 'surrogatepass').decode('utf-16', 'replace')
        if len(value) > MAX_VALUE_CHARS:
            self.cut = True
            value = value[: MAX_VALUE_CHARS - 1] + ELLIPSIS
        return value

    def value(self, value: Any) -> Any:
        if type(value) is str:
            return self.str(value)
        if isinstance(value, (tuple, list)):
            return tuple(self.str(item) if type(item) is str else item for item in cast('Sequence[object]', value))
        return value

    def attributes(self, attributes: Mapping[str, Any] | None) -> dict[str, Any]:
        return {self.str(key): self.value(value) for key, value in (attributes or {}).items()}


def _needs_fixing(span: ReadableSpan) -> bool:
    description = span.status.description
    return (
        _bad_str(span.name)
        or (description is not None and _bad_str(description))
        or _bad_attributes(span.attributes)
        or any(_bad_str(event.name) or _bad_attributes(event.attributes) for event in span.events)
        or any(_bad_attributes(link.attributes) for link in span.links)
    )


def _fixed(span: ReadableSpan) -> ReadableSpan:
    fix = _Fixer()
    status = span.status
    name = fix.str(span.name)
    attributes = fix.attributes(span.attributes)
    events = [Event(fix.str(e.name), fix.attributes(e.attributes), e.timestamp) for e in span.events]
    links = [Link(link.context, fix.attributes(link.attributes)) for link in span.links]
    status = Status(status.status_code, fix.str(status.description)) if status.description else status
    if fix.cut:
        attributes[TRUNCATED_KEY] = True
    return copy_span(span, name=name, attributes=attributes, events=events, links=links, status=status)


def valid_utf8(spans: Sequence[ReadableSpan]) -> Sequence[ReadableSpan]:
    """`spans`, with any span holding a string that is not valid UTF-8 or is too long replaced by a fixed copy."""
    if not any(_needs_fixing(span) for span in spans):
        return spans
    return [_fixed(span) if _needs_fixing(span) else span for span in spans]
