"""Stories about the span processor chain as a user's own processors see it: one flush timeout, failures contained."""

from __future__ import annotations

import logging
import time
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind

import logfire
from logfire.testing import TestExporter


class TimedFlush(SpanProcessor):
    """A processor whose flush takes `seconds`, recording the timeout it was given."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.given: list[int] = []

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        self.given.append(timeout_millis)
        time.sleep(self.seconds)
        return True


def test_force_flush_gives_each_processor_what_the_earlier_ones_left_of_one_timeout() -> None:
    slow, after = TimedFlush(0.3), TimedFlush(0)
    lf = logfire.configure(local=True, console=False, metrics=False, additional_span_processors=[slow, after])
    try:
        lf.info('hello')
        assert lf.force_flush(2000) is True
    finally:
        lf.shutdown(1000, flush=False)

    [first] = slow.given
    [second] = after.given
    assert 1900 <= first <= 2000
    assert 0 < second <= first - 300  # the 0.3 s the first one took are gone


class BrokenOnEndFlushAndShutdown(SpanProcessor):
    def on_end(self, span: ReadableSpan) -> None:
        raise RuntimeError('on_end broke')

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        raise RuntimeError('flush broke')

    def shutdown(self) -> None:
        raise RuntimeError('shutdown broke')


class Recording(SpanProcessor):
    def __init__(self) -> None:
        self.calls: list[str] = []

    def on_end(self, span: ReadableSpan) -> None:
        self.calls.append('on_end')

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        self.calls.append('force_flush')
        return True

    def shutdown(self) -> None:
        self.calls.append('shutdown')


def test_a_processor_that_raises_is_named_in_a_warning_and_the_next_one_still_runs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    broken, recording = BrokenOnEndFlushAndShutdown(), Recording()
    lf = logfire.configure(local=True, console=False, metrics=False, additional_span_processors=[broken, recording])
    with caplog.at_level(logging.WARNING, logger='logfire'):
        lf.info('hello')  # the program goes on
        assert lf.force_flush(1000) is False
        lf.shutdown(1000, flush=False)

    assert recording.calls == ['on_end', 'force_flush', 'shutdown']
    reports = [r.getMessage() for r in caplog.records if r.getMessage().startswith('Internal error')]
    assert [report.split(';')[0] for report in reports] == [
        'Internal error in logfire (BrokenOnEndFlushAndShutdown.on_end)',
        'Internal error in logfire (BrokenOnEndFlushAndShutdown.force_flush)',
        'Internal error in logfire (BrokenOnEndFlushAndShutdown.shutdown)',
    ]
    assert all('broke' in report for report in reports)  # and what went wrong


def test_metrics_in_spans_keep_every_other_span_hook_once_armed() -> None:
    exporter = TestExporter()
    local = logfire.configure(
        local=True,
        console=False,
        send_to_logfire=False,
        inspect_arguments=False,
        additional_span_processors=[SimpleSpanProcessor(exporter)],
        metrics=logfire.MetricsOptions(collect_in_spans=True),
    )
    calls = local.metric_counter('calls')
    calls.add(1)  # arms the metrics in spans: their hooks join the chain
    tracer = local.config.tracer_provider.get_tracer('some.library')
    try:
        with tracer.start_as_current_span('plain') as plain:
            calls.add(2)
            plain.set_attribute('password', 'hunter2')  # after the start: only the end transforms see it
    finally:
        local.shutdown(1000)

    [span] = exporter.exported_spans_as_dict(parse_json_attributes=True)
    attributes = span['attributes']
    assert attributes['logfire.metrics']['calls']['total'] == 2  # the new hooks
    assert attributes['logfire.msg'] == 'plain'  # the start hooks that were there before
    assert attributes['password'] == "[Scrubbed due to 'password']"  # and the end transforms: the scrubber


class TracesItsOwnWork(SpanProcessor):
    """A processor that traces what it does with each log, with a plain OpenTelemetry tracer."""

    def __init__(self) -> None:
        self.tracer: Any = None

    def on_end(self, span: ReadableSpan) -> None:
        if span.name == 'user logged in' and self.tracer is not None:
            with self.tracer.start_as_current_span('forwarding') as work:
                work.set_attribute('password', 'hunter2')  # after the start: only the end scrub sees it


def test_a_span_a_processor_ends_while_handling_a_log_is_still_scrubbed() -> None:
    exporter, tracing = TestExporter(), TracesItsOwnWork()
    local = logfire.configure(
        local=True,
        console=False,
        send_to_logfire=False,
        metrics=False,
        additional_span_processors=[tracing, SimpleSpanProcessor(exporter)],
    )
    tracing.tracer = local.config.tracer_provider.get_tracer('forwarder')
    try:
        local.info('user logged in', user='ada')
    finally:
        local.shutdown(1000)

    spans = {span['name']: span['attributes'] for span in exporter.exported_spans_as_dict()}
    assert spans['forwarding']['password'] == "[Scrubbed due to 'password']"
    assert spans['user logged in']['user'] == 'ada'


def test_a_span_scrubbed_when_it_ends_keeps_its_place_in_the_trace() -> None:
    exporter = TestExporter()
    processors = [SimpleSpanProcessor(exporter)]
    local = logfire.configure(local=True, console=False, metrics=False, additional_span_processors=processors)
    tracer = local.config.tracer_provider.get_tracer('some.library', '1.2')
    try:
        with tracer.start_as_current_span('outer'):
            with tracer.start_as_current_span('inner', kind=SpanKind.CLIENT) as inner:
                inner.set_attribute('password', 'hunter2')  # after the start: scrubbed when it ends, into a copy
    finally:
        local.shutdown(1000)

    spans = {span.name: span for span in exporter.exported_spans}
    inner_span, outer_span = spans['inner'], spans['outer']
    assert inner_span.attributes is not None and inner_span.attributes['password'] == "[Scrubbed due to 'password']"
    assert inner_span.parent is not None and outer_span.context is not None
    assert inner_span.parent.span_id == outer_span.context.span_id
    assert inner_span.kind is SpanKind.CLIENT
    assert inner_span.resource == outer_span.resource
    assert inner_span.instrumentation_scope is not None and inner_span.instrumentation_scope.version == '1.2'
    assert outer_span.start_time is not None and inner_span.start_time is not None and inner_span.end_time is not None
    assert outer_span.start_time <= inner_span.start_time <= inner_span.end_time
