"""`Scrubber`: redact likely secrets from a span's attributes, events, links and status before anything else sees them.

This module walks a span, started or ended, and an OpenTelemetry log record (its attributes and body);
`attribute_scrubbing` decides what to redact in attribute values and message arguments, and `scrub_patterns`
holds what it looks for. Markers and `logfire.scrubbed` name the key or the pattern, never the matched text of a
value.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from opentelemetry.sdk.trace import Event, ReadableSpan, Span
from opentelemetry.trace import Link, Status
from opentelemetry.util.types import AttributeValue

from .attribute_scrubbing import AttributeScrubber
from .constants import ATTRIBUTES_SCRUBBED_KEY
from .errors import report_internal_error
from .exporters.processors import SPAN_NOTES, copy_span
from .scrub_patterns import is_safe_key, marker
from .span_storage import attributes_of, events_of, links_of

if TYPE_CHECKING:
    from opentelemetry._logs import LogRecord

_PLAIN = (str, bool, int, float)


class Scrubber(AttributeScrubber):
    """Compiled once at `configure()`; applied by the root span processor to every span."""

    # ---- spans ------------------------------------------------------------------------------------

    def scrub_started_span(
        self,
        span: Span,
        attributes: Mapping[str, AttributeValue],
        observed: bool = True,
        checked_by: object = None,
    ) -> None:
        """Scrub a live span's start attributes in place, so `on_start` consumers (the console) see no secrets.

        `attributes` are the span's (a live view). Unless `observed` (some processor reads spans when they start),
        only spans whose URL attributes hold a query are scrubbed now: the HTTP message is made from those, and
        nothing else reads the others before the span ends, when they are all scrubbed. Attributes this scrubber
        checked before the span started (`checked_by`) are not checked again.
        """
        if checked_by is self:
            SPAN_NOTES.untouched = span
            return
        if not attributes or (not observed and not _url_with_query(attributes)):
            return  # nothing to scrub (an instrumentation's span often starts without attributes, set later)
        if not self.may_change(attributes):
            return
        try:
            scrubbed = self._scrub_attributes(attributes)
        except Exception as exc:  # fail closed, as at the end
            report_internal_error('scrubbing', exc)
            span.set_attributes({k: marker('an error while scrubbing') for k in attributes if not is_safe_key(k)})
            return
        if scrubbed is not None:
            span.set_attributes({k: v for k, v in scrubbed.items() if attributes.get(k) is not v})

    def scrub_ended_span(
        self, span: ReadableSpan, attributes: Mapping[str, AttributeValue] | None = None
    ) -> ReadableSpan:
        """Return `span`, or a copy with scrubbed attributes, events, links and status.

        Fails closed: if scrubbing itself raises (say, in the user's callback), every value that could hold a
        secret is redacted rather than sent as it is.
        """
        try:
            return self._scrub_ended_span(span, attributes_of(span) if attributes is None else attributes)
        except Exception as exc:
            report_internal_error('scrubbing', exc)
            try:
                attributes = {
                    k: v if is_safe_key(k) else marker('an error while scrubbing')
                    for k, v in (span.attributes or {}).items()
                }
            except Exception:  # nothing is known to be safe, so nothing is sent
                attributes = {}
            return copy_span(span, attributes=attributes, events=(), links=(), status=Status(span.status.status_code))

    def _scrub_ended_span(self, span: ReadableSpan, span_attributes: Mapping[str, AttributeValue]) -> ReadableSpan:
        """Return `span`, or a copy with scrubbed attributes, events, links and status."""
        attributes = None
        if self.may_change(span_attributes):
            attributes = self._scrub_attributes(span_attributes)
        span_events = events_of(span)
        events = self._scrub_events(span_events) if span_events else None
        span_links = links_of(span)
        links = self._scrub_links(span_links) if span_links else None
        span_status = span.status
        status = self._scrub_status(span_status) if span_status.description else None
        if attributes is None and events is None and links is None and status is None:
            return span
        return copy_span(span, attributes=attributes, events=events, links=links, status=status)

    def _scrub_status(self, status: Status) -> Status | None:
        """The status description repeats the exception message, so the exception rules apply to it."""
        description = status.description
        if not description or self.extra_pattern is None:
            return None
        match = self.extra_pattern.search(description)
        if match is None:
            return None
        redacted, new = self._decide(
            ('status', 'description'), description, match, self._label(description, extra_only=True)
        )
        return Status(status.status_code, str(new)) if redacted or new != description else None

    def _scrub_events(self, events: Sequence[Event]) -> list[Event] | None:
        changed = False
        out: list[Event] = []
        for event in events:
            attributes = dict(event.attributes or {})
            if event.name == 'exception':
                new = self._scrub_exception(attributes)
            else:
                new = self.scrub_attributes(attributes)  # credential headers even when scrubbing is off
            if new is not None:
                changed = True
                out.append(Event(event.name, new, event.timestamp))
            else:
                out.append(event)
        return out if changed else None

    def _scrub_exception(self, attributes: dict[str, AttributeValue]) -> dict[str, AttributeValue] | None:
        """Only `extra_patterns` apply to exception messages and tracebacks (code is full of harmless words)."""
        if self.extra_pattern is None:
            return None
        changed = False
        for key in ('exception.message', 'exception.stacktrace'):
            value = attributes.get(key)
            if isinstance(value, str):
                match = self.extra_pattern.search(value)
                if match is not None:
                    redacted, new = self._decide((key,), value, match, self._label(value, extra_only=True))
                    if redacted or new != value:
                        attributes[key] = new
                        changed = True
        return attributes if changed else None

    def _scrub_links(self, links: Sequence[Link]) -> list[Link] | None:
        changed = False
        out: list[Link] = []
        for link in links:
            new = self.scrub_attributes(link.attributes) if link.attributes else None
            if new is not None:
                changed = True
                out.append(Link(link.context, new))
            else:
                out.append(link)
        return out if changed else None


def _url_with_query(attributes: Mapping[str, AttributeValue]) -> bool:
    """Whether a URL attribute (`URL_KEYS`) holds a `=`: the only URL values scrubbing can change are queries."""
    get = attributes.get
    for value in (get('http.url'), get('http.target'), get('url.full'), get('url.query')):
        if isinstance(value, str) and '=' in value:
            return True
    return False


class LogRecordScrubbing:
    """A `Scrubber`'s rules for spans, applied to an OpenTelemetry log record's attributes and body.

    A record's attributes may nest mappings and lists (OTel's "extended" attributes), walked like JSON values.
    A body is scrubbed as the value of an attribute, with `ScrubMatch.path` `('log_body', ...)`.
    """

    def __init__(self, scrubber: Scrubber) -> None:
        self.scrubber = scrubber

    def scrub(self, record: LogRecord) -> LogRecord:
        """Return `record`, or a copy with scrubbed attributes and body (and `logfire.scrubbed` naming what was).

        Fails closed: if scrubbing raises (say, in the user's callback), the body and every attribute that is not
        known to be safe are redacted.
        """
        try:
            return self._scrub(record)
        except Exception as exc:
            report_internal_error('scrubbing', exc)
            failed = marker('an error while scrubbing')
            result = copy.copy(record)
            result.attributes = {k: v if is_safe_key(k) else failed for k, v in (record.attributes or {}).items()}
            result.body = None if record.body is None else failed
            return result

    def _scrub(self, record: LogRecord) -> LogRecord:
        scrubber = self.scrubber
        attributes = record.attributes or {}
        plain: dict[str, Any] = {}
        nested: dict[str, Any] = {}
        for key, value in attributes.items():
            if isinstance(value, _PLAIN) or (isinstance(value, (list, tuple)) and _all_plain(value)):
                plain[key] = value
            else:
                nested[key] = value
        changed = scrubber.scrub_attributes(plain) if plain else None
        new_attributes: dict[str, Any] = dict(attributes) if changed is None else {**attributes, **changed}
        notes: list[Any] = []
        dirty = changed is not None
        body = record.body
        if scrubber.enabled:
            for key, value in nested.items():
                if is_safe_key(key):
                    continue
                # As a one-key mapping, so that a secret-looking key redacts the whole value.
                wrapped = {key: value}
                new, found = scrubber.scrub_any_value(('attributes',), wrapped)
                if new is not wrapped:
                    new_attributes[key] = new[key]
                    notes.extend(found)
                    dirty = True
            if body is not None:
                body, found = scrubber.scrub_any_value(('log_body',), body)
                notes.extend(found)
                dirty = dirty or body is not record.body
        if not dirty:
            return record
        if notes:
            previous = new_attributes.get(ATTRIBUTES_SCRUBBED_KEY)
            entries: list[Any] = json.loads(previous) if isinstance(previous, str) else []
            new_attributes[ATTRIBUTES_SCRUBBED_KEY] = json.dumps(entries + notes, separators=(',', ':'))
        result = copy.copy(record)
        result.attributes = new_attributes
        result.body = body
        return result


def _all_plain(values: Sequence[Any]) -> bool:
    return all(isinstance(v, _PLAIN) for v in values)
