"""Stories about metrics: exponential-bucket histograms by default, views, and metric totals in spans."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry import context
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.metrics.view import View
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

import logfire
from logfire.exceptions import LogfireConfigError
from logfire.testing import IncrementalIdGenerator, TestExporter, get_collected_metrics

from .conftest import otel_env, run_python, script
from .otlp_receiver import OTLPReceiver


class Local:
    """A local logfire with an in-memory span exporter and metric reader."""

    def __init__(self, metrics: logfire.MetricsOptions | None = None) -> None:
        self.exporter = TestExporter()
        self.reader = InMemoryMetricReader()
        metrics = metrics or logfire.MetricsOptions()
        self.logfire = logfire.configure(
            local=True,
            console=False,
            send_to_logfire=False,
            inspect_arguments=False,
            additional_span_processors=[SimpleSpanProcessor(self.exporter)],
            metrics=logfire.MetricsOptions(
                additional_readers=[self.reader],
                collect_in_spans=metrics.collect_in_spans,
                views=metrics.views,
            ),
            advanced=logfire.AdvancedOptions(id_generator=IncrementalIdGenerator()),
        )

    def span_metrics(self) -> dict[str, Any]:
        """Each exported span's `logfire.metrics`, parsed (None when it has none), by span name."""
        return {
            span['name']: span['attributes'].get('logfire.metrics')
            for span in self.exporter.exported_spans_as_dict(parse_json_attributes=True)
        }

    def metric(self, name: str) -> dict[str, Any]:
        [found] = [m for m in get_collected_metrics(self.reader) if m['name'] == name]
        return found


@pytest.fixture
def collecting() -> Iterator[Local]:
    local = Local(logfire.MetricsOptions(collect_in_spans=True))
    yield local
    local.logfire.shutdown()


@pytest.fixture
def not_collecting() -> Iterator[Local]:
    local = Local()
    yield local
    local.logfire.shutdown()


# ---- views ------------------------------------------------------------------------------------------------------


def test_histograms_are_exported_as_exponential_histograms_on_the_wire(rx: OTLPReceiver, tmp_path: Path) -> None:
    code = script("""
        latency = logfire.metric_histogram('latency', unit='s')
        for value in (0.1, 0.2, 3.0):
            latency.record(value)
        logfire.metric_counter('orders').add(2)
    """)
    result = run_python(code, env=otel_env(rx, tmp_path))
    assert result.returncode == 0, result.stderr

    kinds = {m.name: m.kind for m in rx.metrics()}
    assert kinds == {'latency': 'exponential_histogram', 'orders': 'sum'}
    [latency] = [m for m in rx.metrics() if m.name == 'latency']
    [point] = latency.data_points
    assert point.count == 3
    assert point.sum is not None and abs(point.sum - 3.3) < 1e-9


def test_views_replace_the_default_views() -> None:
    explicit = Local(logfire.MetricsOptions(views=[]))
    explicit.logfire.metric_histogram('latency').record(7)
    [point] = explicit.metric('latency')['data']['data_points']
    assert 'explicit_bounds' in point and 'scale' not in point
    explicit.logfire.shutdown()

    renamed = Local(
        logfire.MetricsOptions(
            views=[*logfire.MetricsOptions.DEFAULT_VIEWS, View(instrument_name='latency', name='renamed')]
        )
    )
    renamed.logfire.metric_histogram('latency').record(7)
    # Each matching view makes a stream: the default one (exponential) and the added one (the SDK's explicit buckets).
    exponential = {m['name']: 'scale' in m['data']['data_points'][0] for m in get_collected_metrics(renamed.reader)}
    assert exponential == {'latency': True, 'renamed': False}
    renamed.logfire.shutdown()


def test_default_views_keep_only_method_and_scheme_of_active_requests(not_collecting: Local) -> None:
    active = not_collecting.logfire.metric_up_down_counter('http.server.active_requests')
    active.add(1, {'http.request.method': 'GET', 'url.scheme': 'https', 'server.address': 'example.com'})
    [point] = not_collecting.metric('http.server.active_requests')['data']['data_points']
    assert point['attributes'] == {'http.request.method': 'GET', 'url.scheme': 'https'}


def test_a_view_that_is_not_a_view_fails_at_configure() -> None:
    with pytest.raises(LogfireConfigError, match='metric View'):
        logfire.configure(local=True, console=False, metrics=logfire.MetricsOptions(views=['histogram']))  # pyright: ignore[reportArgumentType]


# ---- metrics in spans -------------------------------------------------------------------------------------------


def test_counter_and_histogram_totals_reach_the_span_and_its_ancestors(collecting: Local) -> None:
    lf = collecting.logfire
    tokens = lf.metric_counter('tokens')
    latency = lf.metric_histogram('latency')
    with lf.span('request'):
        tokens.add(1)
        with lf.span('llm call'):
            tokens.add(10, {'type': 'input'})
            tokens.add(5, {'type': 'output'})
            tokens.add(2, {'type': 'input'})
            latency.record(0.25)
        with lf.span('second call'):
            latency.record(0.5)
    tokens.add(100)  # outside any span: counted by the metric only

    assert collecting.span_metrics() == {
        'llm call': {
            'tokens': {
                'details': [
                    {'attributes': {'type': 'input'}, 'total': 12},
                    {'attributes': {'type': 'output'}, 'total': 5},
                ],
                'total': 17,
            },
            'latency': {'details': [{'attributes': {}, 'total': 0.25}], 'total': 0.25},
        },
        'second call': {'latency': {'details': [{'attributes': {}, 'total': 0.5}], 'total': 0.5}},
        'request': {
            'tokens': {
                'details': [
                    {'attributes': {}, 'total': 1},
                    {'attributes': {'type': 'input'}, 'total': 12},
                    {'attributes': {'type': 'output'}, 'total': 5},
                ],
                'total': 18,
            },
            'latency': {'details': [{'attributes': {}, 'total': 0.75}], 'total': 0.75},
        },
    }
    points = collecting.metric('tokens')['data']['data_points']
    assert sum(p['value'] for p in points) == 118  # the metric itself is unchanged


def test_metrics_attribute_is_a_json_string_outside_the_json_schema(collecting: Local) -> None:
    with collecting.logfire.span('work {n}', n=1):
        collecting.logfire.metric_counter('items').add(3, {'kind': 'a', 'tags': ['x', 'y']})
    [span] = collecting.exporter.exported_spans_as_dict()
    raw = span['attributes']['logfire.metrics']
    assert isinstance(raw, str)
    assert json.loads(raw) == {
        'items': {'details': [{'attributes': {'kind': 'a', 'tags': ['x', 'y']}, 'total': 3}], 'total': 3}
    }
    assert 'logfire.metrics' not in json.loads(span['attributes']['logfire.json_schema'])['properties']


def test_spans_without_measurements_and_logs_get_no_metrics_attribute(collecting: Local) -> None:
    with collecting.logfire.span('quiet'):
        collecting.logfire.info('a log')
    assert collecting.span_metrics() == {'a log': None, 'quiet': None}


def test_up_down_counters_and_gauges_are_not_added_up_in_spans(collecting: Local) -> None:
    with collecting.logfire.span('work'):
        collecting.logfire.metric_up_down_counter('queue').add(3)
        collecting.logfire.metric_gauge('temperature').set(21)
    assert collecting.span_metrics() == {'work': None}


def test_nothing_is_added_up_in_spans_by_default(not_collecting: Local) -> None:
    with not_collecting.logfire.span('work'):
        not_collecting.logfire.metric_counter('tokens').add(3)
        not_collecting.logfire.metric_histogram('latency').record(1.5)
    assert not_collecting.span_metrics() == {'work': None}


def test_operation_cost_is_always_added_up_in_spans(not_collecting: Local) -> None:
    cost = not_collecting.logfire.metric_histogram('operation.cost', unit='USD')
    with not_collecting.logfire.span('agent run'):
        with not_collecting.logfire.span('chat'):
            cost.record(0.002, {'gen_ai.token.type': 'input'})
            cost.record(0.003, {'gen_ai.token.type': 'output'})
            not_collecting.logfire.metric_counter('tokens').add(3)  # not this one
    expected = {
        'operation.cost': {
            'details': [
                {'attributes': {'gen_ai.token.type': 'input'}, 'total': 0.002},
                {'attributes': {'gen_ai.token.type': 'output'}, 'total': 0.003},
            ],
            'total': 0.005,
        }
    }
    assert not_collecting.span_metrics() == {'chat': expected, 'agent run': expected}


def test_an_ancestor_that_ended_gets_no_later_measurements(collecting: Local) -> None:
    lf = collecting.logfire
    counter = lf.metric_counter('late')
    first_added, outer_ended = threading.Event(), threading.Event()

    def background(parent: context.Context) -> None:  # a task that outlives the span that started it
        context.attach(parent)
        with lf.span('inner'):
            counter.add(1)
            first_added.set()
            outer_ended.wait(10)
            counter.add(2)

    with lf.span('outer'):
        thread = threading.Thread(target=background, args=(context.get_current(),))
        thread.start()
        assert first_added.wait(10)
    outer_ended.set()
    thread.join(10)
    totals = {name: m and m['late']['total'] for name, m in collecting.span_metrics().items()}
    assert totals == {'outer': 1, 'inner': 3}


def test_measurements_from_many_threads_add_up_exactly(collecting: Local) -> None:
    lf = collecting.logfire
    counter = lf.metric_counter('calls')

    def work(parent: context.Context) -> None:
        context.attach(parent)
        for _ in range(200):
            with lf.span('child'):
                counter.add(1)

    with lf.span('parent'):
        threads = [threading.Thread(target=work, args=(context.get_current(),)) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
    spans = collecting.exporter.exported_spans_as_dict(parse_json_attributes=True)
    [parent] = [s for s in spans if s['name'] == 'parent']
    assert parent['attributes']['logfire.metrics']['calls']['total'] == 800


def test_instrumentation_metrics_reach_spans_on_the_wire_and_follow_reconfiguration(
    rx: OTLPReceiver, tmp_path: Path
) -> None:
    # A library's counter made on OpenTelemetry's global meter provider before and across `configure()` calls.
    code = script(
        """
        from opentelemetry import metrics
        calls = metrics.get_meter('some.library').create_counter('library.calls')
        with logfire.span('first'):
            calls.add(2, {'route': '/a'})
        logfire.configure(console=False, inspect_arguments=False)
        with logfire.span('off'):
            calls.add(1)
        logfire.configure(console=False, inspect_arguments=False, metrics=logfire.MetricsOptions(collect_in_spans=True))
        with logfire.span('on again'):
            calls.add(4)
        """,
        configure='console=False, inspect_arguments=False, metrics=logfire.MetricsOptions(collect_in_spans=True)',
    )
    result = run_python(code, env=otel_env(rx, tmp_path))
    assert result.returncode == 0, result.stderr

    found = {s.name: s.attributes.get('logfire.metrics') for s in rx.wait_for_spans(3)}
    assert {name: value and json.loads(value) for name, value in found.items()} == {
        'first': {'library.calls': {'details': [{'attributes': {'route': '/a'}, 'total': 2}], 'total': 2}},
        'off': None,
        'on again': {'library.calls': {'details': [{'attributes': {}, 'total': 4}], 'total': 4}},
    }
    assert sum(p.value or 0 for m in rx.metrics() if m.name == 'library.calls' for p in m.data_points) == 7


def _straight_to_sdk(measure: Any) -> bool:
    """Whether a measurement method is the SDK instrument's own (bound) method, with nothing of ours around it."""
    return type(getattr(measure, '__self__', None)).__module__.startswith('opentelemetry.sdk.metrics')


def test_measurements_go_straight_to_the_sdk_unless_added_up_in_spans(not_collecting: Local, collecting: Local) -> None:
    # The zero-cost promise: with nothing added up, an instrument's `add` or `record` is the SDK's own method.
    off = not_collecting.logfire
    assert _straight_to_sdk(off.metric_counter('c').add)
    assert _straight_to_sdk(off.metric_histogram('h').record)
    assert not _straight_to_sdk(off.metric_histogram('operation.cost').record)
    on = collecting.logfire
    assert not _straight_to_sdk(on.metric_counter('c').add)
    assert not _straight_to_sdk(on.metric_histogram('h').record)
    assert _straight_to_sdk(on.metric_up_down_counter('u').add)
