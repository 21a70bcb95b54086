"""The attribute fast path (`span_storage`) changes nothing a user can observe, and falls back where it must.

Logfire's API starts its spans without attributes and the root processor writes them straight into the SDK's
storage (`set_start_attributes`). Everything here runs the real SDK and compares against what the SDK itself does
with the very same attributes: names, attribute order, cut values, dropped counts and parents.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator, Mapping, Sequence
from types import MappingProxyType
from typing import Any

import pytest
from opentelemetry.attributes import BoundedAttributes
from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanLimits, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.sampling import (
    ALWAYS_OFF,
    ALWAYS_ON,
    DEFAULT_ON,
    Decision,
    ParentBased,
    ParentBasedTraceIdRatio,
    Sampler,
    SamplingResult,
    TraceIdRatioBased,
)
from opentelemetry.trace import Link, SpanKind, TraceState
from opentelemetry.util.types import Attributes, AttributeValue

import logfire
from logfire._internal.config import build_config
from logfire._internal.exporters import processors
from logfire._internal.providers import _is_stock_sampler, build_pipeline  # pyright: ignore[reportPrivateUsage]
from logfire._internal.settings import load_settings
from logfire._internal.span_storage import attributes_of, set_start_attributes, storage_works
from logfire._internal.state import LogfireState
from logfire.testing import CaptureLogfire, TestExporter

from .conftest import clean_env, run_python

TAGS = 'logfire.tags'

_tagged = logfire.with_tags('base')


@_tagged.instrument('adding {a} and {b}', record_return=True)
def _add(a: int, b: int) -> int:
    return a + b


# --- the fast path is on by default ---------------------------------------------------------------------------


def test_storage_works_and_a_configured_pipeline_defers_attributes(capfire: CaptureLogfire) -> None:
    assert storage_works() is True
    state = logfire.DEFAULT_LOGFIRE_INSTANCE.config
    assert state.pipeline is not None
    assert state.pipeline.defer_attributes is True
    assert state.defer_attributes is True
    assert LogfireState().defer_attributes is False  # nothing is deferred before a pipeline is installed


def test_a_sampled_pipeline_still_defers_attributes() -> None:
    settings = load_settings({'send_to_logfire': False, 'console': False, 'trace_sample_rate': 0.5})
    pipeline = build_pipeline(build_config(settings))
    try:
        assert isinstance(pipeline.tracer_provider.sampler, ParentBased)
        assert pipeline.defer_attributes is True
    finally:
        pipeline.shutdown(1000)


# --- equivalence through logfire's API ------------------------------------------------------------------------


def _emit() -> None:
    """Every kind of span and log logfire's API makes, each with tags (so each start has a tuple value)."""
    _tagged.info(
        'hello {name}',
        name='world',
        n=3,
        x=1.5,
        ok=True,
        nothing=None,
        items=[1, 'a'],
        mapping={'k': [1, 2]},
        only={'s'},
        _tags=['t1', 't2'],
    )
    _tagged.log('warn', 'plain {a}', {'a': 'b', 'c': 2}, tags=['x'])
    _tagged.log('error', 'odd key', {'': 'empty', 'k': 1})  # the SDK drops the empty key
    with _tagged.span('outer {o}', o=1, _span_name='outer', _level='debug', _tags=['s']) as outer:
        outer.set_attribute('later', {'a': 1})
        outer.set_attribute('n2', 7)
        with _tagged.span('inner'):
            _tagged.debug('deep {v}', v=(1, 2))
    _add(1, 2)
    changed = _tagged.span('before start')
    changed.message = 'changed before start'
    with changed:
        pass
    with pytest.raises(ValueError), _tagged.span('failing'):
        raise ValueError('boom')


def _observable(spans: Sequence[ReadableSpan]) -> list[dict[str, Any]]:
    """What a user can see of each span, ids replaced by positions."""
    positions: dict[int, int] = {}
    for position, span in enumerate(spans):
        assert span.context is not None
        positions[span.context.span_id] = position
    return [
        {
            'name': span.name,
            'kind': span.kind,
            'attributes': list((span.attributes or {}).items()),
            'dropped_attributes': span.dropped_attributes,
            'parent': None if span.parent is None else positions.get(span.parent.span_id, 'elsewhere'),
            'status': span.status.status_code,
            'events': [event.name for event in span.events],
        }
        for span in spans
    ]


@pytest.fixture
def start_paths(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[str, str]]]:
    """(span name, 'fast' or 'public') for each `set_start_attributes` call of the root processor.

    'fast' when the span stores the very tuple it was given for `logfire.tags`: the SDK's public path always stores
    a new tuple (it cleans every value), the fast path stores the value as is.
    """
    paths: list[tuple[str, str]] = []
    real = processors.set_start_attributes

    def recording(span: Span, attributes: Mapping[str, AttributeValue]) -> None:
        real(span, attributes)
        given = attributes[TAGS]
        paths.append((span.name, 'fast' if attributes_of(span).get(TAGS) is given else 'public'))

    monkeypatch.setattr(processors, 'set_start_attributes', recording)
    yield paths


def test_deferred_attributes_export_exactly_what_the_sdk_would(
    capfire: CaptureLogfire, start_paths: list[tuple[str, str]]
) -> None:
    state = logfire.DEFAULT_LOGFIRE_INSTANCE.config
    assert state.defer_attributes is True
    _emit()
    deferred = _observable(capfire.exporter.exported_spans)
    deferred_paths = list(start_paths)

    capfire.exporter.clear()
    start_paths.clear()
    state.defer_attributes = False
    _emit()
    direct = _observable(capfire.exporter.exported_spans)

    assert deferred == direct
    assert start_paths == []  # not deferred: the SDK got the attributes in `start_span`
    # Every span was deferred but the one changed before it started (such values may be anything, so they go
    # through the SDK); all but the one with an empty key took the fast path.
    assert sorted(deferred_paths) == sorted(
        (span['name'], 'public' if span['name'] == 'odd key' else 'fast')
        for span in deferred
        if span['name'] != 'before start'
    )

    by_name = {span['name']: span for span in deferred}
    assert len(by_name) == len(deferred) == 9
    assert by_name['odd key']['dropped_attributes'] == 1
    assert all(span['dropped_attributes'] == 0 for name, span in by_name.items() if name != 'odd key')
    hello = dict(by_name['hello {name}']['attributes'])
    assert hello[TAGS] == ('base', 't1', 't2')
    assert hello['nothing'] == 'null'
    assert hello['logfire.msg'] == 'hello world'
    assert dict(by_name['before start']['attributes'])['logfire.msg'] == 'changed before start'
    assert dict(by_name['outer']['attributes'])['n2'] == 7
    assert by_name['deep {v}']['parent'] == deferred.index(by_name['inner'])
    assert by_name['inner']['parent'] == deferred.index(by_name['outer'])
    assert by_name['failing']['events'] == ['exception']


def test_a_suppressed_log_leaves_nothing_pending(capfire: CaptureLogfire) -> None:
    with logfire.suppress_instrumentation():
        logfire.info('suppressed {x}', x=1)
    _assert_nothing_pending(capfire)


def test_a_sampled_out_log_leaves_nothing_pending(capfire: CaptureLogfire) -> None:
    never = logfire.configure(
        local=True, send_to_logfire=False, console=False, metrics=False, sampling=logfire.SamplingOptions(head=0.0)
    )
    try:
        assert never.config.defer_attributes is True
        never.info('sampled out {x}', x=1)
        with never.span('sampled out too'):
            pass
    finally:
        never.shutdown()
    _assert_nothing_pending(capfire)


def _assert_nothing_pending(capfire: CaptureLogfire) -> None:
    """The API deferred attributes of a span the SDK never started: the next span must not get them."""
    assert processors.SPAN_NOTES.starting is None
    tracer = logfire.DEFAULT_LOGFIRE_INSTANCE.config.tracer_provider.get_tracer('other')
    tracer.start_span('plain').end()
    [span] = capfire.exporter.exported_spans
    assert span.name == 'plain'
    assert dict(span.attributes or {}) == {'logfire.msg': 'plain', 'logfire.span_type': 'span'}  # only its own


class _StartsAnotherSpan(SpanProcessor):
    """A child processor that starts a span of its own while a log of logfire's API is starting."""

    def __init__(self, state: LogfireState) -> None:
        self.tracer = state.tracer_provider.get_tracer('other')

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        if span.name == 'outer {x}':
            self.tracer.start_span('started in on_start').end()


def test_a_span_started_inside_on_start_does_not_get_the_pending_attributes(capfire: CaptureLogfire) -> None:
    state = logfire.DEFAULT_LOGFIRE_INSTANCE.config
    assert state.pipeline is not None
    state.pipeline.tracer_provider.add_span_processor(_StartsAnotherSpan(state))
    logfire.info('outer {x}', x=1)
    inner, outer = capfire.exporter.exported_spans
    assert inner.name == 'started in on_start'
    assert dict(inner.attributes or {}) == {'logfire.msg': 'started in on_start', 'logfire.span_type': 'span'}
    assert outer.name == 'outer {x}'
    assert (outer.attributes or {})['logfire.msg'] == 'outer 1'


# --- span limits from the environment, in a fresh interpreter -------------------------------------------------

_LIMITS_SCRIPT = textwrap.dedent(
    """
    import json

    from opentelemetry.sdk.trace import SpanLimits, TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    import logfire
    from logfire._internal.exporters import processors
    from logfire._internal.span_storage import attributes_of
    from logfire.testing import TestExporter

    started = []
    real = processors.set_start_attributes

    def recording(span, attributes):
        real(span, attributes)
        fast = attributes_of(span).get('logfire.tags') is attributes['logfire.tags']
        started.append((span.name, dict(attributes), 'fast' if fast else 'public'))

    processors.set_start_attributes = recording
    exporter = TestExporter()
    logfire.configure(send_to_logfire=False, console=False, additional_span_processors=[SimpleSpanProcessor(exporter)])
    state = logfire.DEFAULT_LOGFIRE_INSTANCE.config
    tagged = logfire.with_tags('t')

    def emit():
        tagged.info('hi')
        tagged.info('hello {name}', name='world', n=3, x=1.5, ok=True, items=[1, 'a'])
        with tagged.span('outer {o}', o='value') as span:
            span.set_attribute('later', 'abcdefgh')

    def observed(spans):
        return [[s.name, [[k, v] for k, v in s.attributes.items()], s.dropped_attributes] for s in spans]

    defer_attributes = state.defer_attributes
    emit()
    deferred = observed(exporter.exported_spans)
    paths = [path for _, _, path in started]
    exporter.clear()
    state.defer_attributes = False
    emit()
    direct = observed(exporter.exported_spans)

    # A plain SDK provider (its limits from the same environment) given the very attributes the API deferred.
    raw_exporter = TestExporter()
    raw = TracerProvider(shutdown_on_exit=False)
    raw.add_span_processor(SimpleSpanProcessor(raw_exporter))
    for name, attributes, _ in started:
        raw.get_tracer('raw').start_span(name, attributes=attributes).end()

    limits = SpanLimits()
    print(json.dumps({
        'limits': [limits.max_span_attributes, limits.max_span_attribute_length],
        'defer_attributes': defer_attributes,
        'deferred': deferred,
        'direct': direct,
        'raw': observed(raw_exporter.exported_spans),
        'paths': paths,
        'sizes': [len(attributes) for _, attributes, _ in started],
    }))
    """
)


def run_limits_script(script: str, env: dict[str, str], count_limit: int, value_limit: int | None) -> dict[str, Any]:
    """Run a script printing JSON in a fresh interpreter with `env`; check it saw these limits and deferred."""
    result = run_python(script, env=clean_env(**env))
    assert result.returncode == 0, result.stderr
    got: dict[str, Any] = json.loads(result.stdout)
    assert got['limits'] == [count_limit, value_limit]
    assert got['defer_attributes'] is True
    return got


@pytest.mark.parametrize(
    ('env', 'count_limit', 'value_limit'),
    [
        pytest.param({}, 128, None, id='no-limits'),
        pytest.param({'OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT': '5'}, 5, None, id='span-count-5'),
        pytest.param({'OTEL_ATTRIBUTE_COUNT_LIMIT': '8'}, 8, None, id='count-8-exactly-the-short-log'),
        pytest.param({'OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT': '4'}, 128, 4, id='value-length-4'),
        pytest.param({'OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT': '3'}, 128, 3, id='span-value-length-3'),
    ],
)
def test_span_limits_cut_and_drop_as_the_sdk_does(
    env: dict[str, str], count_limit: int, value_limit: int | None
) -> None:
    got = run_limits_script(_LIMITS_SCRIPT, env, count_limit, value_limit)
    deferred, direct, raw, sizes = got['deferred'], got['direct'], got['raw'], got['sizes']
    assert [span[0] for span in deferred] == ['hi', 'hello {name}', 'outer {o}']

    # Same as logfire without deferring, and the logs the same as plain SDK spans given the same attributes.
    assert deferred == direct
    assert deferred[:2] == raw[:2]
    assert sizes[0] == 8  # the short log: exactly at the `count-8` limit

    # The fast path only where the limits leave nothing to cut or drop.
    assert got['paths'] == ['fast' if value_limit is None and size <= count_limit else 'public' for size in sizes]
    for (_, attributes, dropped), size in zip(deferred[:2], sizes[:2], strict=True):
        assert dropped == max(0, size - count_limit)
        assert len(attributes) == min(size, count_limit)
    if count_limit < max(sizes):
        assert deferred[1][2] > 0
    if value_limit is not None:
        hello = dict(deferred[1][1])
        assert hello['logfire.msg'] == 'hello world'[:value_limit]
        assert hello['logfire.tags'] == ['t']
        assert all(len(value) <= value_limit for value in hello.values() if isinstance(value, str))


# --- set_start_attributes and attributes_of on a plain SDK provider -------------------------------------------


class _OnStart(SpanProcessor):
    """Adds `added` to every span as it starts, through the fast helper or the SDK's public setter."""

    def __init__(self, added: Mapping[str, AttributeValue], *, fast_helper: bool) -> None:
        self.added = added
        self.fast_helper = fast_helper
        self.path: str | None = None
        self.seen: dict[str, AttributeValue] | None = None
        self.seen_type: type[object] | None = None

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        if self.fast_helper:
            set_start_attributes(span, self.added)
        else:
            span.set_attributes(self.added)
        stored = attributes_of(span)
        self.seen = dict(stored)
        self.seen_type = type(stored)
        self.path = 'fast' if stored.get('t') is self.added['t'] else 'public'


def _started(
    limits: SpanLimits, start: Attributes, added: Mapping[str, AttributeValue], *, fast_helper: bool
) -> tuple[ReadableSpan, _OnStart]:
    assert storage_works()  # `set_start_attributes` takes the fast path only once some pipeline has checked
    exporter = TestExporter()
    processor = _OnStart(added, fast_helper=fast_helper)
    provider = TracerProvider(span_limits=limits, shutdown_on_exit=False)
    provider.add_span_processor(processor)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    provider.get_tracer('test').start_span('s', attributes=start).end()
    [span] = exporter.exported_spans
    return span, processor


_TAGS: tuple[str, ...] = ('x', 'yz')


@pytest.mark.parametrize(
    ('limits', 'start', 'added', 'path', 'dropped'),
    [
        pytest.param(SpanLimits(), None, {'a': 1, 'b': 'two', 'c': None, 't': _TAGS}, 'fast', 0, id='no-limits'),
        pytest.param(SpanLimits(), {'s': 1}, {'a': 1.5, 't': _TAGS}, 'fast', 0, id='after-start-attributes'),
        pytest.param(SpanLimits(), None, {'a': 1, '': 'empty', 't': _TAGS}, 'public', 1, id='empty-key'),
        pytest.param(
            SpanLimits(max_span_attributes=3),
            None,
            {'a': 1, 'b': 2, 'c': 3, 'd': 4, 't': _TAGS},
            'public',
            2,
            id='over-count-limit',
        ),
        pytest.param(
            SpanLimits(max_span_attributes=3), None, {'a': 1, 'b': 2, 't': _TAGS}, 'fast', 0, id='at-count-limit'
        ),
        pytest.param(
            SpanLimits(max_span_attributes=3),
            {'s1': 1, 's2': 2},
            {'a': 1, 't': _TAGS},
            'public',
            1,
            id='over-count-limit-with-start-attributes',
        ),
        pytest.param(SpanLimits(max_span_attributes=0), None, {'a': 1, 't': _TAGS}, 'public', 2, id='count-limit-0'),
        pytest.param(
            SpanLimits(max_span_attribute_length=2),
            None,
            {'a': 'abcdef', 't': _TAGS},
            'public',
            0,
            id='value-length-limit',
        ),
    ],
)
def test_set_start_attributes_matches_set_attributes(
    limits: SpanLimits, start: Attributes, added: dict[str, AttributeValue], path: str, dropped: int
) -> None:
    helper_span, helper = _started(limits, start, added, fast_helper=True)
    sdk_span, _ = _started(limits, start, added, fast_helper=False)
    assert list((helper_span.attributes or {}).items()) == list((sdk_span.attributes or {}).items())
    assert helper_span.dropped_attributes == sdk_span.dropped_attributes == dropped
    assert helper.path == path


def test_set_start_attributes_cuts_values_as_the_sdk_does() -> None:
    span, processor = _started(
        SpanLimits(max_span_attribute_length=2), None, {'a': 'abcdef', 't': _TAGS}, fast_helper=True
    )
    assert dict(span.attributes or {}) == {'a': 'ab', 't': ('x', 'yz')}
    assert processor.path == 'public'


def test_set_start_attributes_overwriting_a_key_moves_it_to_the_end_as_the_sdk_does() -> None:
    added: dict[str, AttributeValue] = {'a': 3, 't': _TAGS}
    helper_span, helper = _started(SpanLimits(), {'a': 1, 'b': 2}, added, fast_helper=True)
    sdk_span, _ = _started(SpanLimits(), {'a': 1, 'b': 2}, added, fast_helper=False)
    assert list((sdk_span.attributes or {}).items()) == [('b', 2), ('a', 3), ('t', _TAGS)]
    assert helper.path == 'public'  # a key set again takes the SDK's path, which moves it to the end
    assert list((helper_span.attributes or {}).items()) == list((sdk_span.attributes or {}).items())


def test_attributes_of_gives_a_plain_dict_for_sdk_spans() -> None:
    span, processor = _started(SpanLimits(), {'s': 1}, {'a': 2, 't': _TAGS}, fast_helper=True)
    # A live span, inside `on_start`: the span's own storage.
    assert processor.seen_type is dict
    assert processor.seen == {'s': 1, 'a': 2, 't': _TAGS}
    # An ended span, as exported.
    assert type(attributes_of(span)) is dict
    assert list(attributes_of(span).items()) == list((span.attributes or {}).items())


def test_attributes_of_a_readable_span_built_with_a_plain_dict_is_that_dict() -> None:
    plain: dict[str, AttributeValue] = {'a': 1, 'b': 'x'}
    assert attributes_of(ReadableSpan('copied', attributes=plain)) is plain
    span, _ = _started(SpanLimits(), None, {'a': 1, 't': _TAGS}, fast_helper=True)
    copied = processors.copy_span(span, attributes=plain)
    assert attributes_of(copied) is plain


class _OtherAttributes(BoundedAttributes):
    """Not the SDK's exact class: `attributes_of` must not assume its layout."""


@pytest.mark.parametrize(
    ('attributes', 'expected'),
    [
        pytest.param(None, {}, id='none'),
        pytest.param(MappingProxyType({'a': 1}), {'a': 1}, id='mapping-proxy'),
        pytest.param(_OtherAttributes(attributes={'a': 1, 'b': (1, 2)}), {'a': 1, 'b': (1, 2)}, id='subclass'),
    ],
)
def test_attributes_of_other_spans_is_their_attributes(
    attributes: Attributes, expected: dict[str, AttributeValue]
) -> None:
    span = ReadableSpan('other', attributes=attributes)
    got = attributes_of(span)
    assert dict(got) == expected == dict(span.attributes or {})
    assert list(got.items()) == list(expected.items())


# --- which samplers let the API defer --------------------------------------------------------------------------


class _LooksAtAttributes(Sampler):
    """Samples spans by an attribute: it must see the span's attributes, so the API may not defer them."""

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
        keep = attributes is not None and attributes.get('keep') is True
        return SamplingResult(Decision.RECORD_AND_SAMPLE if keep else Decision.DROP)

    def get_description(self) -> str:
        return 'LooksAtAttributes'


@pytest.mark.parametrize(
    ('sampler', 'stock'),
    [
        pytest.param(ParentBased(ALWAYS_ON), True, id='parentbased-always-on'),
        pytest.param(DEFAULT_ON, True, id='default-on'),
        pytest.param(ALWAYS_ON, True, id='always-on'),
        pytest.param(ALWAYS_OFF, True, id='always-off'),
        pytest.param(TraceIdRatioBased(0.5), True, id='traceidratio'),
        pytest.param(ParentBasedTraceIdRatio(0.5), True, id='parentbased-traceidratio'),
        pytest.param(_LooksAtAttributes(), False, id='custom'),
    ],
)
def test_only_the_sdks_own_samplers_count_as_stock(sampler: Sampler, stock: bool) -> None:
    assert _is_stock_sampler(sampler) is stock


# --- the HTTP start hook, in a fresh interpreter ---------------------------------------------------------------

_HTTP_SCRIPT = textwrap.dedent(
    """
    import json

    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.trace import SpanKind

    import logfire
    from logfire.testing import TestExporter

    exporter = TestExporter()
    logfire.configure(send_to_logfire=False, console=False, additional_span_processors=[SimpleSpanProcessor(exporter)])
    attributes = {'http.method': 'GET', 'http.target': '/users', 'http.url': 'http://example.com/users?page=2'}
    tracer = logfire.DEFAULT_LOGFIRE_INSTANCE.config.tracer_provider.get_tracer('x')
    tracer.start_span('GET /users', kind=SpanKind.SERVER, attributes=attributes).end()
    [span] = exporter.exported_spans

    # What the SDK's public setter makes of the same start attributes plus the hook's two.
    raw_exporter = TestExporter()
    raw = TracerProvider(shutdown_on_exit=False)
    raw.add_span_processor(SimpleSpanProcessor(raw_exporter))
    raw_span = raw.get_tracer('raw').start_span('GET /users', kind=SpanKind.SERVER, attributes=attributes)
    raw_span.set_attributes({'logfire.msg': "GET /users ? page='2'", 'logfire.span_type': 'span'})
    raw_span.end()
    [raw_ended] = raw_exporter.exported_spans

    print(json.dumps({
        'span': [list(span.attributes.items()), span.dropped_attributes],
        'raw': [list(raw_ended.attributes.items()), raw_ended.dropped_attributes],
    }))
    """
)


@pytest.mark.parametrize(
    ('env', 'dropped'),
    [
        pytest.param({'OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT': '4'}, 1, id='count-4-fallback'),
        pytest.param({'OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT': '5'}, 0, id='count-5-exact'),
    ],
)
def test_http_server_span_gets_its_message_under_a_tight_count_limit(env: dict[str, str], dropped: int) -> None:
    result = run_python(_HTTP_SCRIPT, env=clean_env(**env))
    assert result.returncode == 0, result.stderr
    got = json.loads(result.stdout)
    attributes = dict(got['span'][0])
    assert attributes['logfire.msg'] == "GET /users ? page='2'"
    assert attributes['logfire.span_type'] == 'span'
    assert got['span'][1] == dropped
    assert ('http.method' in attributes) is (dropped == 0)  # the oldest attribute is the one dropped
    assert got['span'] == got['raw']


def test_with_end_attributes_gives_what_copy_span_would_and_leaves_the_span_alone() -> None:
    from opentelemetry.sdk.trace import ReadableSpan, TracerProvider

    from logfire._internal.exporters.processors import copy_span
    from logfire._internal.span_storage import with_end_attributes

    assert storage_works()
    live: Any = TracerProvider().get_tracer('t').start_span('q', attributes={'a': 1, 'b': 'x'})
    live.add_event('e')
    live.end()
    ended = live._readable_span()
    assert isinstance(ended, ReadableSpan)
    clone = with_end_attributes(ended, {'c': True})
    copied = copy_span(ended, attributes={**attributes_of(ended), 'c': True})
    assert clone is not None and clone is not ended
    assert list((clone.attributes or {}).items()) == list((copied.attributes or {}).items())
    assert clone.to_json() == copied.to_json()
    assert dict(ended.attributes or {}) == {'a': 1, 'b': 'x'}  # the SDK's storage, shared with the live span
    assert dict(live.attributes or {}) == {'a': 1, 'b': 'x'}
    again = with_end_attributes(clone, {'d': 2})  # a span copied already: its plain dict is not changed either
    assert again is not None and dict(again.attributes or {}) == {'a': 1, 'b': 'x', 'c': True, 'd': 2}
    assert 'd' not in (clone.attributes or {})

    class Other(ReadableSpan):
        pass

    assert with_end_attributes(Other(name='o', attributes={'a': 1}), {'c': True}) is None  # the caller copies
