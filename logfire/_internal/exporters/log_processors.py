"""The log record processors of the OpenTelemetry logs signal: the root one (suppression, scrubbing) and the console.

Order, as for spans: scrubbing first (so nothing downstream sees raw secrets), then the user's
`AdvancedOptions(log_record_processors=...)`, the console, and the batch processors of the exporters.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from opentelemetry import context as context_api
from opentelemetry.context import Context
from opentelemetry.sdk._logs import LogRecordProcessor, ReadWriteLogRecord
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

from ..constants import CODE_FILEPATH, CODE_LINENO, INFO_LEVEL, LEVEL_NUMBERS
from ..errors import handle_internal_errors
from ..proxy import SUPPRESS_INSTRUMENTATION_KEY
from .diagnostics import suppressed

if TYPE_CHECKING:
    from opentelemetry._logs import LogRecord, SeverityNumber

    from ..scrubbing import LogRecordScrubbing
    from .console import ConsoleSpanProcessor


class RootLogRecordProcessor(LogRecordProcessor):
    """The one processor the SDK's logger provider calls: it hands each record to `children` in order, scrubbed.

    Records made while instrumentation is suppressed (logfire's own export warnings among them) are dropped.
    """

    def __init__(self, children: Sequence[LogRecordProcessor], scrubbing: LogRecordScrubbing) -> None:
        self.children = tuple(children)
        self.scrubbing = scrubbing
        self._shutdown = False

    def on_emit(self, log_record: ReadWriteLogRecord) -> None:
        """Scrub the record, then pass it on; nothing a child does may record telemetry of its own."""
        if self._shutdown or context_api.get_value(SUPPRESS_INSTRUMENTATION_KEY):
            return
        with suppressed():
            with handle_internal_errors('log record scrubbing'):
                log_record.log_record = self.scrubbing.scrub(log_record.log_record)
            for child in self.children:
                with handle_internal_errors('log record processor'):
                    child.on_emit(log_record)

    def enabled(
        self,
        *,
        context: Context | None = None,
        instrumentation_scope: InstrumentationScope | None = None,
        severity_number: SeverityNumber | None = None,
        event_name: str | None = None,
    ) -> bool:
        """False while instrumentation is suppressed or after shutdown, so libraries can skip building a record."""
        return not self._shutdown and not context_api.get_value(SUPPRESS_INSTRUMENTATION_KEY, context)

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Flush every child, all within `timeout_millis`."""
        deadline = time.monotonic() + max(0, timeout_millis) / 1000
        ok = True
        for child in self.children:
            remaining = max(0, int((deadline - time.monotonic()) * 1000))
            with handle_internal_errors('log record processor flush'):
                ok = child.force_flush(remaining) is not False and ok
        return ok

    def shutdown(self) -> None:
        """Shut every child down; later records are ignored."""
        self._shutdown = True
        for child in self.children:
            with handle_internal_errors('log record processor shutdown'):
                child.shutdown()


class ConsoleLogRecordProcessor(LogRecordProcessor):
    """Print each log record through the span console, nested under the span that was current when it was made."""

    def __init__(self, console: ConsoleSpanProcessor) -> None:
        self.console = console

    def on_emit(self, log_record: ReadWriteLogRecord) -> None:
        """Print the record."""
        record = log_record.log_record
        self.console.log_record_made(
            span_id=record.span_id or 0,
            timestamp=record.timestamp or record.observed_timestamp,
            message=record_message(record),
            level=record_level(record),
            attributes=_details(record.attributes or {}),
        )

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Nothing is buffered."""
        return True

    def shutdown(self) -> None:
        """Nothing to release."""


def record_level(record: LogRecord) -> int:
    """The logfire level of a record: OTel severity numbers are logfire's level numbers."""
    severity = record.severity_number
    if severity is not None and severity.value > 0:
        return severity.value
    text = (record.severity_text or '').strip().lower()
    return LEVEL_NUMBERS.get(text, INFO_LEVEL)


def record_message(record: LogRecord) -> str:
    """The body as one readable line: text as it is, structured values as JSON, no body as the event name."""
    body = record.body
    if body is None:
        return record.event_name or ''
    if isinstance(body, str):
        return body
    if isinstance(body, bytes):
        return repr(body)
    import json

    try:
        return json.dumps(body, default=repr, ensure_ascii=False)
    except ValueError:  # a circular structure
        return repr(body)


def _details(attributes: Mapping[str, Any]) -> dict[str, Any]:
    """The attributes to print: the code location under the keys the console reads (OTel's newer names too)."""
    details = dict(attributes)
    if CODE_FILEPATH not in details and 'code.file.path' in details:
        details[CODE_FILEPATH] = details.pop('code.file.path')
    if CODE_LINENO not in details and 'code.line.number' in details:
        details[CODE_LINENO] = details.pop('code.line.number')
    return details
