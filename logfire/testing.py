"""Test kit: capture what logfire exports and compare it deterministically.

Installed as a pytest plugin, so the `capfire` fixture is available in any project that has logfire:

```python
import logfire
from logfire.testing import CaptureLogfire


def test_greeting_is_logged(capfire: CaptureLogfire) -> None:
    logfire.info('hello {name}', name='world')
    [span] = capfire.exporter.exported_spans_as_dict()
    assert span['attributes']['logfire.msg'] == 'hello world'
```
"""

from __future__ import annotations

import json
import random
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import pytest
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.id_generator import IdGenerator

from ._internal.config import build_config
from ._internal.configure import install_globals
from ._internal.providers import build_pipeline
from ._internal.settings import load_settings
from ._internal.span_dicts import ONE_SECOND_IN_NANOSECONDS, Normalisation, spans_as_dicts
from ._internal.state import GLOBAL_STATE

__all__ = [
    'CaptureLogfire',
    'IncrementalIdGenerator',
    'SeededRandomIdGenerator',
    'TestExporter',
    'TimeGenerator',
    'capfire',
    'get_collected_metrics',
]


class TestExporter(SpanExporter):
    """A span exporter that keeps every exported span in memory, in the order the spans ended."""

    __test__ = False  # not a pytest test class

    def __init__(self) -> None:
        self.exported_spans: list[ReadableSpan] = []
        self._lock = threading.Lock()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        """Keep the spans."""
        with self._lock:
            self.exported_spans.extend(spans)
        return SpanExportResult.SUCCESS

    def clear(self) -> None:
        """Forget every span exported so far."""
        with self._lock:
            self.exported_spans.clear()

    def exported_spans_as_dict(
        self,
        fixed_line_number: int | None = 123,
        strip_filepaths: bool = True,
        include_resources: bool = False,
        include_instrumentation_scope: bool = False,
        parse_json_attributes: bool = False,
    ) -> list[dict[str, Any]]:
        """The exported spans as plain dicts, normalised so that snapshots are stable.

        The dicts have the established SDK's shape, so snapshots taken with it compare equal. Timestamps are
        renumbered in order (1s, 2s, ... in nanoseconds), which leaves the output of a `TimeGenerator` unchanged and
        makes spans timed by the clock (e.g. from instrumentation) stable.

        Args:
            fixed_line_number: Replace `code.lineno` with this (None keeps the real line).
            strip_filepaths: Keep only the file name of `code.filepath`.
            include_resources: Add each span's resource attributes under `resource`.
            include_instrumentation_scope: Add the instrumentation scope name under `instrumentation_scope`.
            parse_json_attributes: Parse each string attribute that holds a JSON object or array (`logfire.json_schema`
                and the values logfire encoded as JSON, such as dicts and lists), so a test compares plain values.

        Returns:
            One dict per span with `name`, `context`, `parent`, `start_time`, `end_time`, `attributes` and, when
            present, `links` (each with `context` and `attributes`) and `events` (`name`, `timestamp` and, if it has
            any, `attributes`, with an exception's `exception.stacktrace` cut to its last line). In attributes
            (the resource's too), `code.function` keeps the last part of a qualified name, `process.pid` of this
            process reads `1234`, `service.instance.id` 32 zeros and `telemetry.sdk.version` `0.0.0`.
        """
        with self._lock:
            spans = list(self.exported_spans)
        normalise = Normalisation(fixed_line_number, strip_filepaths, parse_json_attributes)
        return spans_as_dicts(
            spans, normalise, resources=include_resources, instrumentation_scope=include_instrumentation_scope
        )


class IncrementalIdGenerator(IdGenerator):
    """Trace and span ids 1, 2, 3, ...: readable and stable in snapshots."""

    def __init__(self) -> None:
        self.trace_id_counter = 0
        self.span_id_counter = 0
        self._lock = threading.Lock()

    def reset_trace_span_ids(self) -> None:
        """Start counting from 1 again."""
        with self._lock:
            self.trace_id_counter = 0
            self.span_id_counter = 0

    def generate_span_id(self) -> int:
        """The next span id."""
        with self._lock:
            self.span_id_counter += 1
            return self.span_id_counter

    def generate_trace_id(self) -> int:
        """The next trace id."""
        with self._lock:
            self.trace_id_counter += 1
            return self.trace_id_counter


class SeededRandomIdGenerator(IdGenerator):
    """Random-looking ids from a seeded generator: realistic, yet the same in every run."""

    def __init__(self, seed: int = 0) -> None:
        self.random = random.Random(seed)
        self._lock = threading.Lock()

    def generate_span_id(self) -> int:
        """A non-zero 64-bit span id."""
        with self._lock:
            return self.random.getrandbits(64) or 1

    def generate_trace_id(self) -> int:
        """A non-zero 128-bit trace id."""
        with self._lock:
            return self.random.getrandbits(128) or 1


class TimeGenerator:
    """A clock for `AdvancedOptions(ns_timestamp_generator=...)` that advances one second per call."""

    def __init__(self, ns_time: int = 0) -> None:
        self.ns_time = ns_time
        self._lock = threading.Lock()

    def __call__(self) -> int:
        """The next timestamp, one second after the previous one."""
        with self._lock:
            self.ns_time += ONE_SECOND_IN_NANOSECONDS
            return self.ns_time

    def __repr__(self) -> str:
        return f'TimeGenerator(ns_time={self.ns_time})'


@dataclass
class CaptureLogfire:
    """What `capfire` gives a test: the span exporter and the metrics reader of the test's pipeline."""

    exporter: TestExporter
    metrics_reader: InMemoryMetricReader

    def get_collected_metrics(self) -> list[dict[str, Any]]:
        """The metrics collected so far, as plain dicts (one per metric); see `get_collected_metrics()`."""
        return get_collected_metrics(self.metrics_reader)


def get_collected_metrics(metrics_reader: InMemoryMetricReader) -> list[dict[str, Any]]:
    """Collect the metrics recorded so far from `metrics_reader`, as plain dicts, one per metric.

    Each dict has the metric's `name`, `description`, `unit` and `data` (with its `data_points`), as OTel's JSON
    encoding writes them.

    Args:
        metrics_reader: The reader of the meter provider, such as `capfire.metrics_reader`.

    Returns:
        The metrics of every scope, in the order the reader reports them.

    Example:
        ```python
        from opentelemetry.sdk.metrics.export import InMemoryMetricReader

        import logfire
        from logfire.testing import get_collected_metrics

        reader = InMemoryMetricReader()
        metrics = logfire.MetricsOptions(additional_readers=[reader])
        local = logfire.configure(local=True, console=False, metrics=metrics)
        local.metric_counter('orders').add(2)

        [metric] = get_collected_metrics(reader)
        assert metric['data']['data_points'][0]['value'] == 2
        local.shutdown()
        ```
    """
    data = metrics_reader.get_metrics_data()
    result: list[dict[str, Any]] = []
    if data is None:
        return result
    for resource_metrics in data.resource_metrics:
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                result.append(json.loads(metric.to_json()))
    return result


@pytest.fixture
def capfire() -> Iterator[CaptureLogfire]:
    """Configure logfire to capture spans and metrics in memory for one test, then restore the old config.

    Ids come from an `IncrementalIdGenerator`; nothing is printed or sent. Spans are timed by the SDK's clock, the
    same clock instrumentation uses, so `exported_spans_as_dict()` renumbers all of them in their true order.
    """
    exporter = TestExporter()
    reader = InMemoryMetricReader()
    settings = load_settings(
        {
            'send_to_logfire': False,
            'console': False,
            'additional_span_processors': (SimpleSpanProcessor(exporter),),
            'metric_readers': (reader,),
            'id_generator': IncrementalIdGenerator(),
        }
    )
    config = build_config(settings)
    install_globals(GLOBAL_STATE)
    previous = GLOBAL_STATE.swap(config, build_pipeline(config))
    try:
        yield CaptureLogfire(exporter, reader)
    finally:
        ours = GLOBAL_STATE.swap(*previous)
        if ours[1] is not None:
            ours[1].shutdown(1000)
