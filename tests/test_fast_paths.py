"""The hot-path shortcuts for instrumentation spans change nothing a user can observe.

- `_FastSetSpan.set_attribute` (the class the root processor gives each SDK span) leaves a span exactly as the
  SDK's `set_attribute` does, and hands every case it does not handle to the SDK;
- `ProxyTracer.start_span` defers plain attributes to the root processor: the exported spans are the same;
- `ProxyTracer.start_as_current_span` returns a `CurrentSpan`, which behaves as the SDK's context manager and
  decorator, with logfire's suppression and late configuration;
- `RootSpanProcessor` is the provider's active processor: `add_span_processor` adds a child after scrubbing.

Everything runs the real SDK; the reference is always the SDK itself doing the same thing.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import inspect
import json
import logging
import textwrap
from collections.abc import Iterator, Mapping, Sequence
from types import MappingProxyType
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanLimits, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.sdk.trace.sampling import Decision, Sampler, SamplingResult
from opentelemetry.trace import Link, SpanKind, StatusCode, TraceState
from opentelemetry.util.types import Attributes, AttributeValue

import logfire
from logfire._internal.exporters import processors
from logfire._internal.exporters.processors import SPAN_NOTES, RootSpanProcessor
from logfire._internal.proxy import CurrentSpan, ProxyTracer, ProxyTracerProvider
from logfire._internal.scrub_patterns import marker
from logfire._internal.span_storage import (
    FAST_SPAN_CLASS,
    SDK_SPAN_CLASS,
    _FastSetSpan,  # pyright: ignore[reportPrivateUsage]
    plain_attributes,
    storage_works,
)
from logfire._internal.state import LogfireState
from logfire.testing import CaptureLogfire, TestExporter

from .conftest import run_python
from .test_span_storage import _assert_nothing_pending, _observable, run_limits_script  # pyright: ignore[reportPrivateUsage]


def default_message(name: str) -> list[tuple[str, AttributeValue]]:
    """What logfire adds at start to a plain OpenTelemetry span: its name as its message."""
    return [('logfire.msg', name), ('logfire.span_type', 'span')]


def sans_default_message(views: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """`_observable` views without the message logfire adds to plain spans, to compare with the raw SDK's."""
    return [
        {**view, 'attributes': [item for item in view['attributes'] if item not in default_message(view['name'])]}
        for view in views
    ]


def _state() -> LogfireState:
    return logfire.DEFAULT_LOGFIRE_INSTANCE.config


def _proxy_tracer(name: str = 'instrumentation') -> ProxyTracer:
    """What an instrumentation gets from the global tracer provider once logfire is configured."""
    return _state().tracer_provider.get_tracer(name)


def _sdk_tracer(exporter: TestExporter) -> trace.Tracer:
    """A tracer of a plain SDK provider: the reference for what logfire's must do."""
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider.get_tracer('reference')


# --- _FastSetSpan.set_attribute is the SDK's set_attribute --------------------------------------------------------


class _CountsSdkSets(SDK_SPAN_CLASS):
    """Counts the calls reaching the SDK's `set_attribute`: in `_FastSpan`'s MRO it comes after `_FastSetSpan`."""

    sdk_calls = 0

    def set_attribute(self, key: str, value: Any) -> None:
        self.sdk_calls += 1
        super().set_attribute(key, value)


class _SdkSpan(_CountsSdkSets):
    """The SDK's span: every call reaches the SDK's `set_attribute`."""


class _FastSpan(_FastSetSpan, _CountsSdkSets):
    """Logfire's span: only the calls `_FastSetSpan` hands on reach the SDK's `set_attribute`."""


class _Level(enum.IntEnum):
    LOW = 1


class _Text(str):
    """A str subclass: not a plain value (the SDK stores it as it is)."""


class _Ratio(float):
    """A float subclass: not a plain value."""


def _set_on(
    span_class: type[_CountsSdkSets], limits: SpanLimits, operations: Sequence[tuple[Any, Any]]
) -> tuple[list[tuple[str, type[object], object]], int, int]:
    """Start a span from {'a': 1, 'b': 2}, set each (key, value), end it: its attributes, dropped count, SDK calls."""
    provider = TracerProvider(span_limits=limits, shutdown_on_exit=False)
    span = provider.get_tracer('set').start_span('s', attributes={'a': 1, 'b': 2})
    assert type(span) is SDK_SPAN_CLASS
    span.__class__ = span_class
    assert isinstance(span, _CountsSdkSets)
    for key, value in operations:
        span.set_attribute(key, value)
    span.end()
    items: list[tuple[str, type[object], object]] = [
        (key, type(value), value) for key, value in (span.attributes or {}).items()
    ]
    return items, span.dropped_attributes, span.sdk_calls


_NO_LIMITS = SpanLimits()


@pytest.mark.parametrize(
    ('limits', 'operations', 'sdk_calls'),
    [
        pytest.param(_NO_LIMITS, [('s', 'text'), ('i', 7), ('t', True), ('f', 0.25), ('z', -0.0)], 0, id='plain-new'),
        pytest.param(_NO_LIMITS, [('big', 2**70), ('empty', ''), ('no', False)], 0, id='plain-edge-values'),
        pytest.param(_NO_LIMITS, [('a', 'x'), ('c', True), ('a', 3), ('b', 1.5)], 0, id='set-again-moves-to-end'),
        pytest.param(
            _NO_LIMITS,
            [
                ('tuple', (1, 2)),
                ('strs', ['x', 'y']),
                ('none', None),
                ('bytes', b'\x00'),
                ('enum', _Level.LOW),
                ('text', _Text('sub')),
                ('ratio', _Ratio(0.5)),
                ('mapping', {'k': 'v'}),
                ('a', (3,)),  # set again, not plain: the SDK's path moves it too
            ],
            9,
            id='not-plain-values',
        ),
        pytest.param(_NO_LIMITS, [('', 'empty key'), (3, 'int key'), (_Text('k'), 1)], 3, id='odd-keys'),
        pytest.param(
            SpanLimits(max_span_attributes=3),
            [('c', 3), ('d', 4), ('b', 'again'), ('e', (1,)), ('f', 'full'), ('f', 'present')],
            3,  # 'd', 'e' and the first 'f' find the span full: the SDK evicts the oldest
            id='count-limit',
        ),
        pytest.param(SpanLimits(max_span_attributes=2), [('a', 'x'), ('b', 'y')], 0, id='full-but-present'),
        pytest.param(SpanLimits(max_span_attributes=0), [('a', 1), ('c', 'x'), ('d', (1,))], 3, id='count-limit-0'),
        pytest.param(
            SpanLimits(max_span_attribute_length=3),
            [('s', 'abcdef'), ('i', 12345), ('t', ('abcdef', 'x')), ('short', 'ab'), ('a', 'again')],
            5,
            id='value-length-limit',
        ),
        pytest.param(
            SpanLimits(max_span_attributes=3, max_span_attribute_length=2),
            [('s', 'abcdef'), ('b', 'xyz'), ('t', True)],
            3,
            id='both-limits',
        ),
    ],
)
def test_fast_set_attribute_leaves_the_span_as_the_sdk_does(
    limits: SpanLimits, operations: list[tuple[Any, Any]], sdk_calls: int
) -> None:
    assert storage_works()
    sdk_items, sdk_dropped, sdk_sdk_calls = _set_on(_SdkSpan, limits, operations)
    fast_items, fast_dropped, fast_sdk_calls = _set_on(_FastSpan, limits, operations)
    assert fast_items == sdk_items
    assert fast_dropped == sdk_dropped
    assert sdk_sdk_calls == len(operations)
    assert fast_sdk_calls == sdk_calls  # the fast path took exactly the plain values that fit


def test_fast_set_attribute_results_in_detail() -> None:
    """The reference results themselves, so that a change in the SDK shows up here rather than as a silent match."""
    items, dropped, _ = _set_on(_FastSpan, SpanLimits(max_span_attributes=3), [('c', 3), ('d', 4), ('b', 'again')])
    assert [(key, value) for key, _, value in items] == [('c', 3), ('d', 4), ('b', 'again')]
    assert dropped == 1
    items, dropped, _ = _set_on(_FastSpan, _NO_LIMITS, [('', 1), (3, 'x'), ('a', 'moved'), ('enum', _Level.LOW)])
    assert [(key, value) for key, _, value in items] == [('b', 2), ('a', 'moved'), ('enum', _Level.LOW)]
    assert [kind for _, kind, _ in items] == [int, str, _Level]
    assert dropped == 2
    items, _, _ = _set_on(_FastSpan, SpanLimits(max_span_attribute_length=3), [('s', 'abcdef')])
    assert items[-1] == ('s', str, 'abc')


def test_fast_set_attribute_on_an_ended_span_is_refused_as_by_the_sdk(caplog: pytest.LogCaptureFixture) -> None:
    provider = TracerProvider(shutdown_on_exit=False)
    results: list[tuple[list[tuple[str, AttributeValue]], int, list[str]]] = []
    for fast in (False, True):
        span = provider.get_tracer('ended').start_span('s', attributes={'a': 1})
        assert type(span) is SDK_SPAN_CLASS
        if fast:
            span.__class__ = FAST_SPAN_CLASS
        span.end()
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger='opentelemetry.sdk.trace'):
            span.set_attribute('late', 'x')
            span.set_attribute('a', 2)
        warnings = [r.getMessage() for r in caplog.records if r.name == 'opentelemetry.sdk.trace']
        results.append((list((span.attributes or {}).items()), span.dropped_attributes, warnings))
    assert results[0] == results[1]
    assert results[1] == ([('a', 1)], 0, ['Setting attribute on ended span.'] * 2)


def test_a_fast_span_reads_back_through_the_sdks_read_only_view() -> None:
    """Setting on a live span and reading it back, as an instrumentation does between start and end."""
    provider = TracerProvider(shutdown_on_exit=False)
    span = provider.get_tracer('live').start_span('s')
    assert type(span) is SDK_SPAN_CLASS
    span.__class__ = FAST_SPAN_CLASS
    span.set_attribute('n', 1)
    assert span.attributes == {'n': 1}
    assert isinstance(span.attributes, MappingProxyType)  # the public view is still read-only
    with pytest.raises(TypeError):
        span.attributes['n'] = 2  # pyright: ignore[reportIndexIssue]
    span.end()
    assert span.attributes == {'n': 1}


# --- the root processor swaps the class of exact SDK spans, when told to ------------------------------------------


def _root_of(state: LogfireState) -> RootSpanProcessor:
    assert state.pipeline is not None
    root = state.pipeline.tracer_provider._active_span_processor  # pyright: ignore[reportPrivateUsage]
    assert isinstance(root, RootSpanProcessor)
    return root


def test_spans_of_a_configured_pipeline_are_fast_and_still_sdk_spans(capfire: CaptureLogfire) -> None:
    root = _root_of(_state())
    assert root.fast_spans is True
    seen: list[type[object]] = []

    class _SeesClass(SpanProcessor):
        def on_start(self, span: Span, parent_context: Context | None = None) -> None:
            seen.append(type(span))

    root.add_span_processor(_SeesClass())
    span = _proxy_tracer().start_span('instrumented', attributes={'a': 1})
    assert type(span) is FAST_SPAN_CLASS
    assert isinstance(span, Span)
    assert isinstance(span, SDK_SPAN_CLASS)
    assert isinstance(span, trace.Span)
    assert seen == [FAST_SPAN_CLASS]  # the child processors already see the fast class
    span.set_attribute('b', 'x')
    span.end()
    [exported] = capfire.exporter.exported_spans
    assert list((exported.attributes or {}).items()) == [('a', 1), *default_message('instrumented'), ('b', 'x')]


def test_spans_stay_sdk_spans_when_fast_spans_is_off(capfire: CaptureLogfire) -> None:
    root = _root_of(_state())
    root.fast_spans = False
    try:
        span = _proxy_tracer().start_span('instrumented', attributes={'a': 1})
        assert type(span) is SDK_SPAN_CLASS
        span.set_attribute('b', 'x')
        span.end()
    finally:
        root.fast_spans = True
    [exported] = capfire.exporter.exported_spans
    assert list((exported.attributes or {}).items()) == [('a', 1), *default_message('instrumented'), ('b', 'x')]


class _OwnSpan(SDK_SPAN_CLASS):
    """A span class of someone else's (a subclass of the SDK's): its `set_attribute` must stay its own."""


@pytest.mark.parametrize('fast_spans', [True, False])
def test_the_root_processor_swaps_only_exact_sdk_spans(fast_spans: bool) -> None:
    exporter = TestExporter()
    root = RootSpanProcessor([SimpleSpanProcessor(exporter)])
    assert root.fast_spans is True  # `storage_works()` on this SDK
    root.fast_spans = fast_spans
    provider = TracerProvider(shutdown_on_exit=False, active_span_processor=root)
    span = provider.get_tracer('t').start_span('exact')
    assert type(span) is (FAST_SPAN_CLASS if fast_spans else SDK_SPAN_CLASS)
    span.end()

    other = TracerProvider(shutdown_on_exit=False).get_tracer('t').start_span('subclass')
    other.__class__ = _OwnSpan
    assert isinstance(other, Span)
    root.on_start(other)
    assert type(other) is _OwnSpan
    other.end()
    assert [s.name for s in exporter.exported_spans] == ['exact']


def test_a_fast_span_looks_like_an_sdk_span(capfire: CaptureLogfire) -> None:
    span = _proxy_tracer().start_span('looked at')
    try:
        reference = TracerProvider(shutdown_on_exit=False).get_tracer('t').start_span('looked at')
        assert repr(reference).startswith('_Span(name="looked at"')
        assert repr(span).split(', context=')[0] == repr(reference).split(', context=')[0]
    finally:
        span.end()


# --- plain_attributes ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ('attributes', 'plain'),
    [
        pytest.param({'s': 'x', 'i': 1, 'f': 1.5, 'b': True, 'n': -0.0, 'e': ''}, True, id='plain'),
        pytest.param({}, True, id='empty-dict'),  # stored as it is; `start_span` never defers it (it is falsy)
        pytest.param(MappingProxyType({'a': 1}), False, id='mapping-proxy'),
        pytest.param({'a': (1, 2)}, False, id='tuple-value'),
        pytest.param({'a': ['x']}, False, id='list-value'),
        pytest.param({'a': None}, False, id='none-value'),
        pytest.param({'a': b'x'}, False, id='bytes-value'),
        pytest.param({'a': {'k': 'v'}}, False, id='mapping-value'),
        pytest.param({'a': _Level.LOW}, False, id='int-subclass-value'),
        pytest.param({'a': _Text('x')}, False, id='str-subclass-value'),
        pytest.param({'a': _Ratio(1.0)}, False, id='float-subclass-value'),
        pytest.param({'ok': 1, '': 'x'}, False, id='empty-key'),
        pytest.param({'ok': 1, 3: 'x'}, False, id='int-key'),
        pytest.param({_Text('k'): 1}, False, id='str-subclass-key'),
        pytest.param([('a', 1)], False, id='list-of-pairs'),
        pytest.param(None, False, id='none'),
    ],
)
def test_plain_attributes(attributes: object, plain: bool) -> None:
    assert plain_attributes(attributes) is plain


def test_a_dict_subclass_is_not_plain() -> None:
    class _Dict(dict[str, int]):
        pass

    assert plain_attributes(_Dict(a=1)) is False


# --- deferred attributes of instrumentation spans export what the SDK would -------------------------------------

_HTTP_ATTRIBUTES: dict[str, AttributeValue] = {
    'http.method': 'GET',
    'http.target': '/users',
    'http.url': 'http://example.com/users?page=2',
}


def _emit_instrumentation(tracer: trace.Tracer) -> None:
    """Spans as instrumentations start them: plain attributes (deferred) and others (not)."""
    tracer.start_span('plain', attributes={'s': 'x', 'i': 1, 'f': 1.5, 'b': True}).end()
    tracer.start_span('GET /users', kind=SpanKind.SERVER, attributes=dict(_HTTP_ATTRIBUTES)).end()
    tracer.start_span('client', kind=SpanKind.CLIENT, attributes={'password': 'hunter2', 'n': 2}).end()
    tracer.start_span('listed', attributes={'tags': ['a', 'b'], 'n': 1}).end()
    tracer.start_span('empty key', attributes={'': 'x', 'n': 1}).end()
    given: dict[str, AttributeValue] = {'a': 1}
    span = tracer.start_span('mutated after start', attributes=given)
    given['a'] = 2  # the span keeps what it was given
    given['b'] = 3
    span.set_attribute('later', 'x')
    span.set_attribute('a', 'again')
    span.end()
    with tracer.start_as_current_span('parent', kind=SpanKind.PRODUCER, attributes={'p': 1}):
        tracer.start_span('child', attributes={'c': 1}).end()
    tracer.start_span('no attributes').end()
    tracer.start_span('empty attributes', attributes={}).end()


@pytest.fixture
def deferred_names(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The names of the spans whose attributes the root processor added (the deferred ones)."""
    names: list[str] = []
    real = processors.set_start_attributes

    def recording(span: Span, attributes: Mapping[str, AttributeValue]) -> None:
        names.append(span.name)
        real(span, attributes)

    monkeypatch.setattr(processors, 'set_start_attributes', recording)
    yield names


def test_deferred_instrumentation_attributes_export_exactly_what_the_sdk_would(
    capfire: CaptureLogfire, deferred_names: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    proxy = _state().tracer_provider
    assert proxy.defer_attributes is True
    tracer = _proxy_tracer()
    _emit_instrumentation(tracer)
    deferred = _observable(capfire.exporter.exported_spans)
    deferred_paths = list(deferred_names)

    capfire.exporter.clear()
    deferred_names.clear()
    monkeypatch.setattr(proxy, 'defer_attributes', False)
    _emit_instrumentation(tracer)
    direct = _observable(capfire.exporter.exported_spans)

    assert deferred == direct
    assert deferred_names == []
    assert deferred_paths == ['plain', 'GET /users', 'client', 'mutated after start', 'parent', 'child']

    assert deferred[0]['attributes'][-2:] == default_message(deferred[0]['name'])
    deferred = sans_default_message(deferred)
    by_name = {span['name']: span for span in deferred}
    assert len(by_name) == len(deferred) == 10
    assert by_name['plain']['attributes'] == [('s', 'x'), ('i', 1), ('f', 1.5), ('b', True)]
    assert by_name['GET /users']['kind'] == SpanKind.SERVER
    assert dict(by_name['GET /users']['attributes'])['logfire.msg'] == "GET /users ? page='2'"
    assert dict(by_name['client']['attributes'])['password'] == marker('password')
    assert by_name['listed']['attributes'] == [('tags', ('a', 'b')), ('n', 1)]
    assert by_name['empty key']['attributes'] == [('n', 1)]
    assert by_name['empty key']['dropped_attributes'] == 1
    assert by_name['mutated after start']['attributes'] == [('later', 'x'), ('a', 'again')]
    assert by_name['child']['parent'] == deferred.index(by_name['parent'])
    assert by_name['parent']['kind'] == SpanKind.PRODUCER
    assert by_name['no attributes']['attributes'] == by_name['empty attributes']['attributes'] == []


class _SeesAttributes(Sampler):
    """Samples everything, passing the attributes on as the SDK's own samplers do, and records what it saw."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, dict[str, AttributeValue] | None]] = []

    def should_sample(
        self,
        parent_context: Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: TraceState | None = None,
    ) -> SamplingResult:
        self.seen.append((name, None if attributes is None else dict(attributes)))
        return SamplingResult(Decision.RECORD_AND_SAMPLE, attributes)

    def get_description(self) -> str:
        return 'SeesAttributes'


@pytest.mark.parametrize('defer', [True, False])
def test_only_plain_attributes_are_deferred_past_the_sampler(defer: bool) -> None:
    """What reaches the sampler: why a pipeline defers only with the SDK's samplers, which ignore attributes."""
    exporter = TestExporter()
    sampler = _SeesAttributes()
    root = RootSpanProcessor([SimpleSpanProcessor(exporter)])
    provider = TracerProvider(sampler=sampler, shutdown_on_exit=False, active_span_processor=root)
    proxy = ProxyTracerProvider()
    proxy.set_delegate(provider, defer_attributes=defer)
    tracer = proxy.get_tracer('sampled')
    tracer.start_span('plain', attributes={'a': 1, 'b': 'x'}).end()
    tracer.start_span('listed', attributes={'a': ['x', 'y'], 'b': 1}).end()
    assert sampler.seen == [
        ('plain', None if defer else {'a': 1, 'b': 'x'}),
        ('listed', {'a': ['x', 'y'], 'b': 1}),
    ]
    assert [list((span.attributes or {}).items()) for span in exporter.exported_spans] == [
        [('a', 1), ('b', 'x')],
        [('a', ('x', 'y')), ('b', 1)],
    ]
    assert SPAN_NOTES.starting is None


def test_nothing_stays_pending_after_a_suppressed_instrumentation_span(capfire: CaptureLogfire) -> None:
    tracer = _proxy_tracer()
    with logfire.suppress_instrumentation():
        span = tracer.start_span('suppressed', attributes={'leak': 1})
    assert span is trace.INVALID_SPAN
    _assert_nothing_pending(capfire)


def test_nothing_stays_pending_after_a_sampled_out_instrumentation_span(capfire: CaptureLogfire) -> None:
    never = logfire.configure(
        local=True, send_to_logfire=False, console=False, metrics=False, sampling=logfire.SamplingOptions(head=0.0)
    )
    try:
        proxy = never.config.tracer_provider
        assert proxy.defer_attributes is True
        span = proxy.get_tracer('sampled').start_span('sampled out', attributes={'leak': 1})
        assert not span.is_recording()
        with proxy.get_tracer('sampled').start_as_current_span('sampled out too', attributes={'leak': 2}) as current:
            assert not current.is_recording()
    finally:
        never.shutdown()
    _assert_nothing_pending(capfire)


class _NotAParent(trace.NonRecordingSpan):
    """A 'span' in the context whose span context is not one: the SDK's `start_span` raises TypeError."""

    def get_span_context(self) -> Any:
        return 'not a span context'


def test_nothing_stays_pending_after_a_start_that_raises(capfire: CaptureLogfire) -> None:
    context = trace.set_span_in_context(_NotAParent(trace.INVALID_SPAN_CONTEXT))
    with pytest.raises(TypeError, match='parent_span_context'):
        _proxy_tracer().start_span('raises', context=context, attributes={'leak': 1})
    _assert_nothing_pending(capfire)


_LIMITS_SCRIPT = textwrap.dedent(
    """
    import json

    from opentelemetry.sdk.trace import SpanLimits
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.trace import SpanKind

    import logfire
    from logfire._internal.exporters import processors
    from logfire.testing import TestExporter

    deferred = []
    real = processors.set_start_attributes

    def recording(span, attributes):
        deferred.append(span.name)
        real(span, attributes)

    processors.set_start_attributes = recording
    exporter = TestExporter()
    logfire.configure(send_to_logfire=False, console=False, additional_span_processors=[SimpleSpanProcessor(exporter)])
    proxy = logfire.DEFAULT_LOGFIRE_INSTANCE.config.tracer_provider
    tracer = proxy.get_tracer('instrumentation')
    http = {'http.method': 'GET', 'http.target': '/users', 'http.url': 'http://example.com/users?page=2'}

    def emit():
        tracer.start_span('small', attributes={'a': 'abcdefgh', 'b': 2}).end()
        tracer.start_span('big', attributes={f'k{i}': f'value{i}' for i in range(6)}).end()
        tracer.start_span('GET /users', kind=SpanKind.SERVER, attributes=dict(http)).end()
        tracer.start_span('listed', attributes={'tags': ['abcdefgh', 'g'], 'n': 1}).end()
        span = tracer.start_span('later', attributes={'x': 1})
        span.set_attribute('y', 'abcdefgh')
        span.set_attribute('x', 2)
        for i in range(4):
            span.set_attribute(f'z{i}', i)
        span.end()

    def observed(spans):
        return [[s.name, s.kind.name, [[k, v] for k, v in s.attributes.items()], s.dropped_attributes] for s in spans]

    defer_attributes = proxy.defer_attributes
    emit()
    result = {'deferred': observed(exporter.exported_spans), 'paths': list(deferred)}
    exporter.clear()
    deferred.clear()
    proxy.defer_attributes = False
    emit()
    limits = SpanLimits()
    result.update(
        direct=observed(exporter.exported_spans),
        direct_paths=deferred,
        defer_attributes=defer_attributes,
        limits=[limits.max_span_attributes, limits.max_span_attribute_length],
    )
    print(json.dumps(result))
    """
)


@pytest.mark.parametrize(
    ('env', 'count_limit', 'value_limit'),
    [
        pytest.param({}, 128, None, id='no-limits'),
        pytest.param({'OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT': '3'}, 3, None, id='span-count-3'),
        pytest.param({'OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT': '4'}, 128, 4, id='value-length-4'),
    ],
)
def test_instrumentation_spans_under_span_limits_match_the_sdk(
    env: dict[str, str], count_limit: int, value_limit: int | None
) -> None:
    got = run_limits_script(_LIMITS_SCRIPT, env, count_limit, value_limit)
    assert got['paths'] == ['small', 'big', 'GET /users', 'later']  # 'listed' has a list: not deferred
    assert got['direct_paths'] == []
    assert got['deferred'] == got['direct']

    by_name = {name: (kind, dict(attributes), dropped) for name, kind, attributes, dropped in got['deferred']}
    assert by_name['GET /users'][0] == 'SERVER'
    for _, attributes, _ in by_name.values():
        assert len(attributes) <= count_limit
        if value_limit is not None:
            assert all(len(v) <= value_limit for v in attributes.values() if isinstance(v, str))
    if count_limit == 3:
        # The span's name as its message, added at start, takes two of the three places.
        assert by_name['big'][1] == {'k5': 'value5', 'logfire.msg': 'big', 'logfire.span_type': 'span'}
        assert by_name['big'][2] == 5
        assert by_name['later'][1] == {'z1': 1, 'z2': 2, 'z3': 3}
    if value_limit is not None:
        assert by_name['small'][1] == {'a': 'abcd', 'b': 2, 'logfire.msg': 'smal', 'logfire.span_type': 'span'}
        assert by_name['listed'][1]['tags'] == ['abcd', 'g']
        assert by_name['later'][1]['y'] == 'abcd'
    if value_limit is None and count_limit == 128:
        assert by_name['later'][1] == {
            'logfire.msg': 'later',
            'logfire.span_type': 'span',
            'y': 'abcdefgh',
            'x': 2,
            'z0': 0,
            'z1': 1,
            'z2': 2,
            'z3': 3,
        }
        assert all(dropped == 0 for _, _, dropped in by_name.values())


# --- CurrentSpan: start_as_current_span as the SDK's, with logfire's suppression ------------------------------------


class _Interrupt(BaseException):
    """Not an Exception: `use_span` neither records it nor sets an error status, but the span still ends."""


def _current_span_scenario(tracer: trace.Tracer) -> list[object]:
    """Everything `start_as_current_span` does as a context manager; returns what the block saw."""
    facts: list[object] = []
    before = trace.get_current_span()
    with tracer.start_as_current_span('block', kind=SpanKind.CLIENT, attributes={'a': 1}) as block:
        facts += [trace.get_current_span() is block, block.is_recording()]
        block.set_attribute('b', 'x')
        with tracer.start_as_current_span('child') as child:
            facts.append(trace.get_current_span() is child)
        facts.append(trace.get_current_span() is block)
    facts += [block.is_recording(), trace.get_current_span() is before]

    with tracer.start_as_current_span('kept open', end_on_exit=False) as kept:
        facts.append(trace.get_current_span() is kept)
    facts += [kept.is_recording(), trace.get_current_span() is before]
    kept.end()

    with pytest.raises(ValueError, match='boom'), tracer.start_as_current_span('fails'):
        raise ValueError('boom')
    quiet = tracer.start_as_current_span('fails quietly', record_exception=False, set_status_on_exception=False)
    with pytest.raises(ValueError, match='quiet'), quiet:
        raise ValueError('quiet')
    with pytest.raises(ValueError, match='inner'), tracer.start_as_current_span('outer of quiet'):
        with tracer.start_as_current_span('inner quiet', record_exception=False, set_status_on_exception=False):
            raise ValueError('inner')
    with pytest.raises(_Interrupt), tracer.start_as_current_span('interrupted') as interrupted:
        raise _Interrupt
    facts += [interrupted.is_recording(), trace.get_current_span() is before]
    return facts


def _full_view(spans: Sequence[ReadableSpan]) -> list[dict[str, Any]]:
    """`_observable`, with each span's status description and exception events (but not the stack traces)."""
    return [
        {
            **observed,
            'status_description': span.status.description,
            'exceptions': [
                {k: v for k, v in (event.attributes or {}).items() if k != 'exception.stacktrace'}
                for event in span.events
            ],
        }
        for observed, span in zip(_observable(spans), spans, strict=True)
    ]


def test_start_as_current_span_behaves_as_the_sdks(capfire: CaptureLogfire) -> None:
    tracer = _proxy_tracer()
    assert isinstance(tracer.start_as_current_span('not entered'), CurrentSpan)
    facts = _current_span_scenario(tracer)
    reference_exporter = TestExporter()
    reference_facts = _current_span_scenario(_sdk_tracer(reference_exporter))

    expected = [True, True, True, True, False, True, True, True, True, False, True]
    assert facts == reference_facts == expected
    ours = sans_default_message(_full_view(capfire.exporter.exported_spans))
    assert ours == _full_view(reference_exporter.exported_spans)

    by_name = {span['name']: span for span in ours}
    assert by_name['block']['kind'] == SpanKind.CLIENT
    assert by_name['block']['attributes'] == [('a', 1), ('b', 'x')]
    assert by_name['child']['parent'] == ours.index(by_name['block'])
    assert by_name['fails']['status'] == StatusCode.ERROR
    assert by_name['fails']['status_description'] == 'ValueError: boom'
    assert by_name['fails']['exceptions'] == [
        {'exception.type': 'ValueError', 'exception.message': 'boom', 'exception.escaped': 'False'}
    ]
    assert by_name['fails quietly']['status'] == StatusCode.UNSET
    assert by_name['fails quietly']['events'] == []
    assert by_name['inner quiet']['events'] == []
    assert by_name['outer of quiet']['events'] == ['exception']  # the exception still reaches the parent
    assert by_name['outer of quiet']['status'] == StatusCode.ERROR
    assert by_name['interrupted']['events'] == []
    assert by_name['interrupted']['status'] == StatusCode.UNSET
    assert [span['name'] for span in ours] == [
        'child',
        'block',
        'kept open',
        'fails',
        'fails quietly',
        'inner quiet',
        'outer of quiet',
        'interrupted',
    ]


def test_start_as_current_span_inside_suppress_instrumentation_records_nothing(capfire: CaptureLogfire) -> None:
    tracer = _proxy_tracer()

    @tracer.start_as_current_span('decorated')
    def decorated() -> trace.Span:
        return trace.get_current_span()

    with tracer.start_as_current_span('outer') as outer:
        with logfire.suppress_instrumentation():
            with tracer.start_as_current_span('suppressed', attributes={'a': 1}) as suppressed:
                assert suppressed is trace.INVALID_SPAN
                assert trace.get_current_span() is outer
            with pytest.raises(ValueError), tracer.start_as_current_span('suppressed and failing'):
                raise ValueError('not recorded')
            assert decorated() is outer
            assert trace.get_current_span() is outer
        assert outer.is_recording()
        assert SPAN_NOTES.starting is None
    [exported] = capfire.exporter.exported_spans
    assert exported.name == 'outer'
    assert exported.events == ()
    assert exported.status.status_code == StatusCode.UNSET


def test_start_as_current_span_decorates_a_sync_function(capfire: CaptureLogfire) -> None:
    tracer = _proxy_tracer()

    @tracer.start_as_current_span('sync job', attributes={'job': 'sync'})
    def job(n: int) -> tuple[int, trace.Span]:
        """Its own docstring."""
        span = trace.get_current_span()
        assert span.is_recording()
        if n < 0:
            raise ValueError('negative')
        return n, span

    assert job.__name__ == 'job'
    assert job.__doc__ == 'Its own docstring.'
    first, second = job(1), job(2)
    with pytest.raises(ValueError):
        job(-1)
    assert first[0] == 1 and second[0] == 2
    assert first[1] is not second[1]
    assert not first[1].is_recording()  # ended when the call returned
    spans = sans_default_message(_full_view(capfire.exporter.exported_spans))
    assert [span['name'] for span in spans] == ['sync job'] * 3
    assert all(span['attributes'] == [('job', 'sync')] and span['parent'] is None for span in spans)
    assert [span['status'] for span in spans] == [StatusCode.UNSET, StatusCode.UNSET, StatusCode.ERROR]
    assert len({s.context.span_id for s in capfire.exporter.exported_spans if s.context is not None}) == 3


def test_start_as_current_span_decorates_an_async_function(capfire: CaptureLogfire) -> None:
    tracer = _proxy_tracer()

    @tracer.start_as_current_span('async job')
    async def job(n: int) -> tuple[int, trace.Span, bool]:
        span = trace.get_current_span()
        await asyncio.sleep(0)  # the other call runs meanwhile, in its own span
        return n, span, trace.get_current_span() is span and span.is_recording()

    async def main() -> list[tuple[int, trace.Span, bool]]:
        with tracer.start_as_current_span('main'):
            return list(await asyncio.gather(job(1), job(2)))

    assert inspect.iscoroutinefunction(job)
    assert job.__name__ == 'job'
    results = asyncio.run(main())
    assert [(n, still_current) for n, _, still_current in results] == [(1, True), (2, True)]
    assert results[0][1] is not results[1][1]
    spans = _observable(capfire.exporter.exported_spans)
    assert sorted(span['name'] for span in spans) == ['async job', 'async job', 'main']
    main_position = [span['name'] for span in spans].index('main')
    assert all(span['parent'] == main_position for span in spans if span['name'] == 'async job')


_EARLY_DECORATOR_SCRIPT = textwrap.dedent(
    """
    import asyncio
    import json

    from opentelemetry import trace
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    import logfire
    from logfire.testing import TestExporter

    tracer = logfire.DEFAULT_LOGFIRE_INSTANCE.config.tracer_provider.get_tracer('early')

    @tracer.start_as_current_span('early sync', attributes={'when': 'decorated before configure'})
    def work():
        return trace.get_current_span().is_recording()

    @tracer.start_as_current_span('early async')
    async def async_work():
        await asyncio.sleep(0)
        return trace.get_current_span().is_recording()

    exporter = TestExporter()
    logfire.configure(send_to_logfire=False, console=False, additional_span_processors=[SimpleSpanProcessor(exporter)])
    recorded = [work(), asyncio.run(async_work())]
    with logfire.suppress_instrumentation():
        suppressed = [work(), asyncio.run(async_work())]
    print(json.dumps({
        'recorded': recorded,
        'suppressed': suppressed,
        'spans': [[s.name, dict(s.attributes)] for s in exporter.exported_spans],
    }))
    """
)


def test_a_decorator_applied_before_configure_records_into_the_later_pipeline() -> None:
    result = run_python(_EARLY_DECORATOR_SCRIPT)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ''  # nothing ran before configure, so no warning either
    got = json.loads(result.stdout)
    assert got['recorded'] == [True, True]
    assert got['suppressed'] == [False, False]
    assert got['spans'] == [
        ['early sync', {'when': 'decorated before configure', **dict(default_message('early sync'))}],
        ['early async', dict(default_message('early async'))],
    ]


@pytest.mark.parametrize('which', ['sdk', 'logfire'])
def test_entering_the_same_start_as_current_span_twice_keeps_the_outer_span(
    capfire: CaptureLogfire, which: str
) -> None:
    tracer = _proxy_tracer() if which == 'logfire' else _sdk_tracer(TestExporter())
    current_span = tracer.start_as_current_span('reused')
    with current_span as outer:
        with (
            contextlib.suppress(AttributeError, RuntimeError),
            current_span,
        ):  # refused: the SDK's AttributeError, ours RuntimeError
            pass
        assert trace.get_current_span() is outer
        assert outer.is_recording()
    assert not outer.is_recording()


# --- RootSpanProcessor.add_span_processor -------------------------------------------------------------------------


class _Recording(SpanProcessor):
    """Records what a processor added to a configured pipeline gets, and what the exporter had by then."""

    def __init__(self, exporter: TestExporter) -> None:
        self.exporter = exporter
        self.started: list[tuple[str, type[object], dict[str, AttributeValue]]] = []
        self.ended: list[ReadableSpan] = []
        self.exported_before_me: list[list[str]] = []
        self.flushes = 0

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        self.started.append((span.name, type(span), dict(span.attributes or {})))

    def on_end(self, span: ReadableSpan) -> None:
        self.ended.append(span)
        self.exported_before_me.append([s.name for s in self.exporter.exported_spans])

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        self.flushes += 1
        return True


def test_add_span_processor_adds_a_child_after_scrubbing(capfire: CaptureLogfire) -> None:
    state = _state()
    assert state.pipeline is not None
    tracer = _proxy_tracer()
    early = tracer.start_span('started before adding')
    recording = _Recording(capfire.exporter)
    state.pipeline.tracer_provider.add_span_processor(recording)

    span = tracer.start_span('started after adding', attributes={'password': 'hunter2', 'n': 1})
    span.set_attribute('api_key', 'abc123')
    span.end()
    early.end()

    [(name, span_class, started)] = recording.started
    assert (name, span_class) == ('started after adding', FAST_SPAN_CLASS)
    assert started['password'] == marker('password')  # scrubbed at start, before this child
    assert started['n'] == 1
    assert [s.name for s in recording.ended] == ['started after adding', 'started before adding']
    ended = dict(recording.ended[0].attributes or {})
    assert ended['password'] == marker('password')
    assert ended['api_key'] == marker('api_key')  # scrubbed at end, before this child
    assert 'hunter2' not in json.dumps(ended) and 'abc123' not in json.dumps(ended)
    # After the existing children (the test exporter), and the very span they got.
    assert recording.exported_before_me == [
        ['started after adding'],
        ['started after adding', 'started before adding'],
    ]
    assert [dict(s.attributes or {}) for s in recording.ended] == [
        dict(s.attributes or {}) for s in capfire.exporter.exported_spans
    ]
    assert logfire.force_flush(1000) is True
    assert recording.flushes == 1


class _AddsASecretAtStart(SpanProcessor):
    """A child whose `on_start` changes the span: logfire's logs must then be scrubbed again at their end."""

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        span.set_attribute('password', 'hunter2')


def test_a_processor_added_later_that_changes_spans_at_start_is_scrubbed_after(capfire: CaptureLogfire) -> None:
    state = _state()
    assert state.pipeline is not None
    state.pipeline.tracer_provider.add_span_processor(_AddsASecretAtStart())
    logfire.info('a log {x}', x=1)
    _proxy_tracer().start_span('instrumented', attributes={'n': 1}).end()
    log, instrumented = capfire.exporter.exported_spans
    assert log.name == 'a log {x}'
    assert instrumented.name == 'instrumented'
    for exported in (log, instrumented):
        assert (exported.attributes or {})['password'] == marker('password')


# --- found in review: what the fast paths must not change -------------------------------------------------------


def test_attributes_set_before_the_block_with_odd_keys_are_scrubbed_and_valid(capfire: CaptureLogfire) -> None:
    span = logfire.span('prepared')
    span.set_attributes({'password': 'hunter2', 1: 'x'})  # pyright: ignore[reportArgumentType]
    with span:
        pass
    [exported] = capfire.exporter.exported_spans
    attributes = dict(exported.attributes or {})
    assert attributes['password'] == marker('password')
    assert attributes['1'] == 'x'
    assert json.loads(str(attributes['logfire.json_schema']))['properties'] == {'password': {}, '1': {}}


class _Team(enum.Enum):
    A = 'a'


def test_tags_that_are_not_str_are_exported_as_str(capfire: CaptureLogfire) -> None:
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

    team: Any = _Team.A
    logfire.with_tags(team).info('tagged', _tags=[3])  # pyright: ignore[reportArgumentType]
    with logfire.with_tags(team).span('span'):
        pass
    spans = capfire.exporter.exported_spans
    assert [(span.attributes or {})['logfire.tags'] for span in spans] == [('_Team.A', '3'), ('_Team.A',)]
    request = encode_spans(spans)
    [tags] = [
        attribute.value.array_value
        for attribute in request.resource_spans[0].scope_spans[0].spans[0].attributes
        if attribute.key == 'logfire.tags'
    ]
    assert [value.string_value for value in tags.values] == ['_Team.A', '3']


class _StartsSpansWhileAnotherStarts(RandomIdGenerator):
    """An id generator that makes spans of its own, as a logging handler called by the SDK during `start_span` might."""

    def __init__(self) -> None:
        self.inside = False
        self.lf: logfire.Logfire | None = None

    def generate_span_id(self) -> int:
        if not self.inside and self.lf is not None:
            self.inside = True
            try:
                self.lf.info('inner {y}', y=2)
                tracer = self.lf.config.tracer_provider.get_tracer('other')
                tracer.start_span('listed', attributes={'lines': ['a', 'b']}).end()  # not deferred
            finally:
                self.inside = False
        return super().generate_span_id()


def test_a_span_started_while_another_starts_neither_takes_nor_loses_attributes() -> None:
    exporter = TestExporter()
    generator = _StartsSpansWhileAnotherStarts()
    lf = logfire.configure(
        local=True,
        send_to_logfire=False,
        console=False,
        additional_span_processors=[SimpleSpanProcessor(exporter)],
        advanced=logfire.AdvancedOptions(id_generator=generator),
    )
    try:
        generator.lf = lf
        lf.info('outer {password}', password='hunter2')
        with lf.span('span {x}', x=1):
            pass
    finally:
        generator.lf = None
        lf.shutdown()
    by_name: dict[str, dict[str, AttributeValue]] = {}
    for span in exporter.exported_spans:
        by_name.setdefault(span.name, dict(span.attributes or {}))
    assert by_name['listed'] == {'lines': ('a', 'b'), 'logfire.msg': 'listed', 'logfire.span_type': 'span'}
    assert by_name['inner {y}']['logfire.msg'] == 'inner 2'
    assert 'password' not in by_name['inner {y}']
    assert by_name['outer {password}']['password'] == marker('password')
    assert by_name['outer {password}']['logfire.msg'] == f'outer {marker("password")}'
    assert by_name['span {x}']['logfire.msg'] == 'span 1'
    assert SPAN_NOTES.starting is None


def test_an_int_enum_status_code_still_levels_the_span(capfire: CaptureLogfire) -> None:
    from http import HTTPStatus

    tracer = logfire.DEFAULT_LOGFIRE_INSTANCE.config.tracer_provider.get_tracer('server')
    span = tracer.start_span('GET', kind=SpanKind.SERVER, attributes={'http.method': 'GET', 'http.target': '/missing'})
    span.set_attribute('http.status_code', HTTPStatus.NOT_FOUND)
    span.end()
    [exported] = capfire.exporter.exported_spans
    assert (exported.attributes or {})['logfire.level_num'] == 13


def test_without_the_gil_spans_keep_the_sdks_set_attribute(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setattr(sys, '_is_gil_enabled', lambda: False, raising=False)
    lf = logfire.configure(local=True, console=False, send_to_logfire=False)
    try:
        span = lf.config.tracer_provider.get_tracer('t').start_span('free-threaded')
        assert type(span) is SDK_SPAN_CLASS
        span.end()
    finally:
        lf.shutdown()


# --- _FastSetSpan.set_attributes is the SDK's set_attributes ------------------------------------------------------


def _set_many_on(
    fast: bool, limits: SpanLimits, batches: Sequence[Any]
) -> tuple[list[tuple[str, type[object], object]], int]:
    """Start a span from {'a': 1, 'b': 2}, `set_attributes` each batch, end it: its attributes and dropped count."""
    provider = TracerProvider(span_limits=limits, shutdown_on_exit=False)
    span = provider.get_tracer('set').start_span('s', attributes={'a': 1, 'b': 2})
    assert type(span) is SDK_SPAN_CLASS
    if fast:
        span.__class__ = _FastSetSpan
    for batch in batches:
        span.set_attributes(batch)
    span.end()
    span.set_attributes({'late': 1})  # refused on an ended span, by either class
    items: list[tuple[str, type[object], object]] = [
        (key, type(value), value) for key, value in (span.attributes or {}).items()
    ]
    return items, span.dropped_attributes


@pytest.mark.parametrize(
    ('limits', 'batches'),
    [
        pytest.param(_NO_LIMITS, [{'db.system': 'postgresql', 'db.statement': 'SELECT 1', 'port': 5432}], id='plain'),
        pytest.param(_NO_LIMITS, [{'a': 'x', 'c': True}, {'b': 0.5, 'a': 3}, {}], id='set-again-moves-to-end'),
        pytest.param(_NO_LIMITS, [{'t': (1, 2), 's': 'x'}, {'n': None}, {'e': _Level.LOW}], id='not-plain-values'),
        pytest.param(_NO_LIMITS, [{'': 'empty'}, {3: 'int key', 'k': 1}, {_Text('k'): 1}], id='odd-keys'),
        pytest.param(_NO_LIMITS, [MappingProxyType({'m': 1})], id='not-a-dict'),
        pytest.param(SpanLimits(max_span_attributes=3), [{'c': 3}, {'d': 4, 'b': 'again'}], id='count-limit'),
        pytest.param(SpanLimits(max_span_attributes=4), [{'a': 'x', 'c': 3}, {'d': 4}], id='count-limit-fits'),
        pytest.param(SpanLimits(max_span_attributes=0), [{'a': 1}], id='count-limit-0'),
        pytest.param(SpanLimits(max_span_attribute_length=3), [{'s': 'abcdef', 'i': 12345}], id='value-length-limit'),
    ],
)
def test_fast_set_attributes_leaves_the_span_as_the_sdk_does(limits: SpanLimits, batches: list[Any]) -> None:
    assert storage_works()
    assert _set_many_on(True, limits, batches) == _set_many_on(False, limits, batches)


# ---- the current context -------------------------------------------------------------------------------


def test_current_context_is_what_the_api_returns_in_threads_tasks_and_after_detach() -> None:
    from concurrent.futures import ThreadPoolExecutor

    from opentelemetry import context as context_api

    from logfire._internal.proxy import current_context

    def both() -> tuple[Context, Context]:
        return current_context(), context_api.get_current()

    def same() -> None:
        ours, api = both()
        assert ours is api

    same()
    token = context_api.attach(context_api.set_value('k', 'v'))
    try:
        ours, _ = both()
        assert ours.get('k') == 'v'
        same()
        with ThreadPoolExecutor(1) as pool:
            pool.submit(same).result(timeout=10)

        async def in_task() -> None:
            same()
            inner = context_api.attach(context_api.set_value('k', 'task'))
            assert current_context().get('k') == 'task'
            context_api.detach(inner)
            same()

        asyncio.run(in_task())
        with logfire.suppress_instrumentation():
            same()
    finally:
        context_api.detach(token)
    assert current_context().get('k') is None
    same()


def test_another_runtime_context_is_asked_through_the_api(monkeypatch: pytest.MonkeyPatch) -> None:
    from opentelemetry import context as context_api
    from opentelemetry.context.contextvars_context import ContextVarsRuntimeContext

    from logfire._internal import proxy

    class Other(ContextVarsRuntimeContext):  # OTEL_PYTHON_CONTEXT may name any runtime
        pass

    assert proxy._current_context_getter() is not context_api.get_current  # pyright: ignore[reportPrivateUsage]
    monkeypatch.setattr(context_api, '_RUNTIME_CONTEXT', Other())
    assert proxy._current_context_getter() is context_api.get_current  # pyright: ignore[reportPrivateUsage]
