"""Finished spans as the plain dicts of `TestExporter.exported_spans_as_dict()`, normalised for stable snapshots.

The shape is the established SDK's, so tests written against it compare equal here: `name`, `context`, `parent`,
`start_time`, `end_time`, (`instrumentation_scope`), `attributes`, then `links`, `events` and `resource` when
present. What changes from run to run is replaced: line numbers, directories, the process id, the service instance
id, the SDK version, a qualified function name's prefix, and every exception stack trace but its last line.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any, Final

from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.trace import Link, SpanContext

from .constants import CODE_FILEPATH, CODE_FUNCTION, CODE_LINENO

ONE_SECOND_IN_NANOSECONDS: Final = 1_000_000_000
FIXED_PID: Final = 1234
"""What `process.pid` reads when it is this process's id."""
_INSTANCE_ID: Final = re.compile('[0-9a-f]{32}')


@dataclass(frozen=True)
class Normalisation:
    """How `exported_spans_as_dict()` was asked to normalise attributes."""

    fixed_line_number: int | None
    strip_filepaths: bool
    parse_json: bool

    def attributes(self, attributes: Mapping[str, Any] | None) -> dict[str, Any]:
        return {key: self._value(key, value) for key, value in (attributes or {}).items()}

    def _value(self, key: str, value: Any) -> Any:
        if key == CODE_LINENO and self.fixed_line_number is not None:
            return self.fixed_line_number
        if key == CODE_FILEPATH and self.strip_filepaths and isinstance(value, str):
            return PurePath(value).name
        if key == CODE_FUNCTION and isinstance(value, str):
            return value.rsplit('.', 1)[-1]  # `Class.method` and `outer.<locals>.inner` read as on Python 3.10
        if key == 'process.pid' and value == os.getpid():
            return FIXED_PID
        if key == 'service.instance.id' and isinstance(value, str) and _INSTANCE_ID.fullmatch(value):
            return '0' * 32
        if key == 'telemetry.sdk.version':
            return '0.0.0'
        if self.parse_json and isinstance(value, str) and value[:1] in ('{', '['):
            try:
                return json.loads(value)
            except ValueError:
                pass
        return value


def spans_as_dicts(
    spans: Sequence[ReadableSpan], normalise: Normalisation, *, resources: bool, instrumentation_scope: bool
) -> list[dict[str, Any]]:
    """One dict per span, in the order given; timestamps renumbered 1s, 2s, ... in their order."""
    times = _time_renumbering(spans)
    result: list[dict[str, Any]] = []
    for span in spans:
        item: dict[str, Any] = {
            'name': span.name,
            'context': _context_dict(span.context),
            'parent': _context_dict(span.parent),
            'start_time': times.get(span.start_time or 0),
            'end_time': times.get(span.end_time or 0),
        }
        if instrumentation_scope:
            scope = span.instrumentation_scope
            item['instrumentation_scope'] = scope.name if scope else None
        item['attributes'] = normalise.attributes(span.attributes)
        if span.links:
            item['links'] = [_link_dict(link, normalise) for link in span.links]
        if span.events:
            item['events'] = [_event_dict(event, times) for event in span.events]
        if resources:
            item['resource'] = {'attributes': normalise.attributes(span.resource.attributes)}
        result.append(item)
    return result


def _link_dict(link: Link, normalise: Normalisation) -> dict[str, Any]:
    return {'context': _context_dict(link.context), 'attributes': normalise.attributes(link.attributes)}


def _event_dict(event: Event, times: Mapping[int, int]) -> dict[str, Any]:
    item: dict[str, Any] = {'name': event.name, 'timestamp': times.get(event.timestamp)}
    if event.attributes:
        attributes = dict(event.attributes)
        stacktrace = attributes.get('exception.stacktrace')
        if isinstance(stacktrace, str):  # its last line names the exception; the frames change with every edit
            attributes['exception.stacktrace'] = next(
                (line.strip() for line in reversed(stacktrace.splitlines()) if line.strip()), ''
            )
        item['attributes'] = attributes
    return item


def _context_dict(context: SpanContext | None) -> dict[str, Any] | None:
    if context is None:
        return None
    return {'trace_id': context.trace_id, 'span_id': context.span_id, 'is_remote': context.is_remote}


def _time_renumbering(spans: Sequence[ReadableSpan]) -> dict[int, int]:
    stamps: set[int] = set()
    for span in spans:
        stamps.update(t for t in (span.start_time, span.end_time) if t is not None)
        stamps.update(event.timestamp for event in span.events)
    return {stamp: (i + 1) * ONE_SECOND_IN_NANOSECONDS for i, stamp in enumerate(sorted(stamps))}
