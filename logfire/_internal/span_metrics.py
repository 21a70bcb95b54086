"""Metrics in spans: the totals of the counter and histogram measurements made during a span, on that span.

With `MetricsOptions(collect_in_spans=True)`, each measurement of a counter (`add`) or histogram (`record`) made
while a span is current is added to that span and to each of its ancestors still open in this process. When a span
ends, its totals become its `logfire.metrics` attribute, a JSON object as the established SDK writes it:
`{name: {"details": [{"attributes": {...}, "total": n}, ...], "total": n}}`, one detail per distinct set of
measurement attributes (keys sorted). A metric named `operation.cost` (LLM costs, recorded by Pydantic AI) is always
added up, as the established SDK does.

Nothing here runs until it is armed: by `collect_in_spans`, or when an `operation.cost` instrument is first bound
to the pipeline. Until then spans pay nothing and measurements go straight to the SDK's instruments. Once armed, a
start hook remembers each open span (weakly, so an abandoned span is not kept alive) and an end transform writes
and forgets its totals. Spans that started before arming collect nothing.
"""

from __future__ import annotations

import json
import math
import threading
import weakref
from collections.abc import Callable, Mapping
from typing import Any, Final

from opentelemetry import context as context_api
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, Span
from opentelemetry.util.types import Attributes, AttributeValue

from .constants import ATTRIBUTES_SPAN_TYPE_KEY
from .errors import report_internal_error
from .exporters.processors import EndTransform, StartHook, copy_span
from .span_storage import with_end_attributes

ATTRIBUTES_METRICS_KEY: Final = 'logfire.metrics'
ALWAYS_COLLECTED: Final = 'operation.cost'
"""The metric added up in spans even without `collect_in_spans`, as the established SDK does."""

Measure = Callable[..., None]
"""An instrument's measurement method: `add(amount, attributes=None, context=None)` or `record(...)`."""
_Key = tuple[tuple[str, Any], ...]
_Totals = dict[str, dict[_Key, float]]


class SpanMetrics:
    """The totals of one pipeline's open spans, and the wrappers that feed them."""

    def __init__(self, collect_all: bool, install: Callable[[StartHook, EndTransform], None]) -> None:
        """`install` adds a start hook and an end transform to the root span processor, from its next span on."""
        self.collect_all = collect_all
        self._install: Callable[[StartHook, EndTransform], None] | None = install
        self._open: weakref.WeakValueDictionary[int, Span] = weakref.WeakValueDictionary()
        self._totals: dict[int, _Totals] = {}
        self._lock = threading.Lock()
        if collect_all:
            self._arm()

    def _arm(self) -> None:
        with self._lock:
            install, self._install = self._install, None
        if install is not None:
            install(self._remember, self._write)

    def wrap(self, name: str, measure: Measure) -> Measure:
        """The measurement method to bind for a counter or histogram named `name`.

        `measure` itself when its measurements are not added up in spans, so they cost nothing more.
        """
        if not (self.collect_all or name == ALWAYS_COLLECTED):
            return measure
        self._arm()
        add = self._add

        def measure_in_span(amount: float, attributes: Attributes = None, context: Any = None) -> None:
            measure(amount, attributes, context)
            try:
                add(name, amount, attributes, context)
            except Exception as exc:
                report_internal_error('metrics in spans', exc)

        return measure_in_span

    def _remember(self, span: Span, attributes: Mapping[str, AttributeValue]) -> None:
        """Start hook: note the span as open, so measurements in its descendants reach it.

        Not logs: they are never current, so nothing is measured during one.
        """
        if attributes.get(ATTRIBUTES_SPAN_TYPE_KEY) != 'log':
            self._open[span.get_span_context().span_id] = span

    def _add(self, name: str, amount: float, attributes: Attributes, context: context_api.Context | None) -> None:
        """Add a measurement to the current span and its open ancestors."""
        current = trace.get_current_span(context).get_span_context()
        trace_id, span_id = current.trace_id, current.span_id
        live = self._open.get(span_id)
        if live is None:
            return
        key = _key(attributes)
        with self._lock:
            # Under the lock that `_write` takes: a span found recording here cannot have had its totals written.
            while live is not None and live.is_recording() and live.get_span_context().trace_id == trace_id:
                details = self._totals.setdefault(span_id, {}).setdefault(name, {})
                details[key] = details.get(key, 0) + amount
                parent = live.parent
                if parent is None or parent.is_remote:
                    break
                span_id = parent.span_id
                live = self._open.get(span_id)

    def _write(self, span: ReadableSpan, attributes: Mapping[str, AttributeValue]) -> ReadableSpan:
        """End transform: the span with its totals as `logfire.metrics`, if it has any."""
        context = span.context
        if context is None:
            return span
        with self._lock:
            totals = self._totals.pop(context.span_id, None)
        if not totals:
            return span
        added = {ATTRIBUTES_METRICS_KEY: json.dumps(_dump(totals))}
        return with_end_attributes(span, added) or copy_span(span, attributes={**attributes, **added})


def _key(attributes: Attributes) -> _Key:
    if not attributes:
        return ()
    return tuple(sorted((k, tuple(v) if isinstance(v, (list, tuple)) else v) for k, v in attributes.items()))


def _dump(totals: _Totals) -> dict[str, Any]:
    return {
        name: {
            'details': [
                {'attributes': {k: _finite(v) for k, v in key}, 'total': _finite(n)} for key, n in details.items()
            ],
            'total': _finite(sum(details.values())),
        }
        for name, details in totals.items()
    }


def _finite(value: Any) -> Any:
    """A value JSON can hold: non-finite floats as the strings logfire writes elsewhere ('nan', 'inf', '-inf')."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, tuple):
        return [_finite(v) for v in value]  # pyright: ignore[reportUnknownVariableType]
    return value
