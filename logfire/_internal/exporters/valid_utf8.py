"""Strings the OTLP encoder can take: every span's text made valid UTF-8 before it is encoded.

A lone surrogate (such as U+DCE9, from bytes decoded with `surrogateescape`: a file name, an exception message)
is not valid UTF-8, and protobuf refuses the whole span for it.

Checked just before encoding, off the request path, and cheaply: an ASCII string (nearly all of them) costs one
flag test. Only a span that holds a surrogate somewhere is copied, with each bad one replaced by U+FFFD.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, cast

from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.trace import Link, Status

from .processors import copy_span

_SURROGATE = re.compile('[\ud800-\udfff]')


def _bad_str(value: str) -> bool:
    return not value.isascii() and _SURROGATE.search(value) is not None


def _bad(value: object) -> bool:
    if type(value) is str:
        return _bad_str(value)
    if isinstance(value, (tuple, list)):
        return any(type(item) is str and _bad_str(item) for item in cast('Sequence[object]', value))
    return False


def _bad_attributes(attributes: Mapping[str, Any] | None) -> bool:
    return bool(attributes) and any(_bad_str(key) or _bad(value) for key, value in attributes.items())


def _fix_str(value: str) -> str:
    # Through UTF-16: a surrogate pair that was split into two code points becomes its character again.
    return value.encode('utf-16', 'surrogatepass').decode('utf-16', 'replace') if _bad_str(value) else value


def _fix(value: Any) -> Any:
    if type(value) is str:
        return _fix_str(value)
    if isinstance(value, (tuple, list)):
        return tuple(_fix_str(item) if type(item) is str else item for item in cast('Sequence[object]', value))
    return value


def _fix_attributes(attributes: Mapping[str, Any] | None) -> dict[str, Any]:
    return {_fix_str(key): _fix(value) for key, value in (attributes or {}).items()}


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
    status = span.status
    return copy_span(
        span,
        name=_fix_str(span.name),
        attributes=_fix_attributes(span.attributes),
        events=[Event(_fix_str(e.name), _fix_attributes(e.attributes), e.timestamp) for e in span.events],
        links=[Link(link.context, _fix_attributes(link.attributes)) for link in span.links],
        status=Status(status.status_code, _fix_str(status.description)) if status.description else status,
    )


def valid_utf8(spans: Sequence[ReadableSpan]) -> Sequence[ReadableSpan]:
    """`spans`, with any span holding a string that is not valid UTF-8 replaced by a fixed copy."""
    if not any(_needs_fixing(span) for span in spans):
        return spans
    return [_fixed(span) if _needs_fixing(span) else span for span in spans]
