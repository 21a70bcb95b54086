"""Our OTLP span encoder against OpenTelemetry's `encode_spans`, over many seeded random batches of spans."""

from __future__ import annotations

import enum
import math
import random
from typing import Any

import pytest
from opentelemetry.attributes import BoundedAttributes
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode, TraceFlags, TraceState

from logfire._internal.exporters.span_encoder import encode_request, serialize_spans
from logfire._internal.exporters.valid_utf8 import MAX_VALUE_CHARS, valid_utf8

CASES = 3000
"""Random batches checked (each of 0 to 8 spans)."""

_WORDS = ['', 'a', 'http.method', 'GET /items/{id}', 'héllo wörld', '日本語テキスト', '🙂 emoji', 'x' * 200, 'ü' * 70]
_INTS = [0, 1, -1, 127, 128, 300, -300, 2**31, -(2**31), 2**32, 2**63 - 1, -(2**63), 2**53 + 1]
_FLOATS = [0.0, -0.0, 1.5, -2.25, math.nan, math.inf, -math.inf, 1e-310, 1.7976931348623157e308]


class _Span(ReadableSpan):
    """A ReadableSpan whose dropped counts are set directly."""

    def __init__(self, dropped: tuple[int, int, int], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._dropped = dropped

    @property
    def dropped_attributes(self) -> int:
        return self._dropped[0]

    @property
    def dropped_events(self) -> int:
        return self._dropped[1]

    @property
    def dropped_links(self) -> int:
        return self._dropped[2]


def _text(rng: random.Random) -> str:
    if rng.random() < 0.3:
        return ''.join(chr(rng.choice([rng.randrange(32, 127), rng.randrange(0xA0, 0xD7FF)])) for _ in range(9))
    return rng.choice(_WORDS)


def _scalar(rng: random.Random, kind: int) -> Any:
    if kind == 0:
        return _text(rng)
    if kind == 1:
        return rng.random() < 0.5
    if kind == 2:
        return rng.choice(_INTS) if rng.random() < 0.7 else rng.randrange(-(2**63), 2**63)
    return rng.choice(_FLOATS) if rng.random() < 0.6 else rng.uniform(-1e9, 1e9)


def _value(rng: random.Random) -> Any:
    kind = rng.randrange(6)
    if kind < 4:
        return _scalar(rng, kind)
    item_kind = rng.randrange(4)
    items = [_scalar(rng, item_kind) for _ in range(rng.choice([0, 1, 2, 5, 40]))]
    return tuple(items) if kind == 4 else items


def _attributes(rng: random.Random, most: int = 8) -> Any:
    n = rng.choice([0, 0, 1, 3, most])
    attributes = {_text(rng) or 'k': _value(rng) for _ in range(n)}
    roll = rng.random()
    if roll < 0.15:
        return None
    if roll < 0.3:
        return BoundedAttributes(maxlen=max(1, n - 1), attributes=attributes, immutable=False)  # drops some
    return attributes


def _context(rng: random.Random, remote: bool | None = None) -> SpanContext:
    trace_state = TraceState()
    if rng.random() < 0.3:
        trace_state = TraceState([('vendor', 'value'), ('other', 'x-1')][: rng.randrange(1, 3)])
    return SpanContext(
        trace_id=rng.choice([1, 2**128 - 1, rng.getrandbits(128)]),
        span_id=rng.choice([1, 2**64 - 1, rng.getrandbits(64)]),
        is_remote=rng.random() < 0.5 if remote is None else remote,
        trace_flags=TraceFlags(rng.choice([0, 1])),
        trace_state=trace_state,
    )


def _resources(rng: random.Random) -> list[Resource]:
    return [
        Resource.create({'service.name': 'svc'}),
        Resource({'service.name': 'svc', 'n': 1}, schema_url='https://opentelemetry.io/schemas/1.21.0'),
        Resource({'service.name': 'svc', 'n': 1}, schema_url='https://opentelemetry.io/schemas/1.21.0'),  # equal
        Resource({}),
        Resource(_attributes(rng) or {}),
    ]


def _scopes(rng: random.Random) -> list[InstrumentationScope | None]:
    return [
        None,
        InstrumentationScope('logfire'),
        InstrumentationScope('logfire'),  # equal to the one before
        InstrumentationScope('lib', '1.2.3', 'https://opentelemetry.io/schemas/1.11.0', {'scope.attr': 'v', 'n': 3}),
        InstrumentationScope('', None, None, None),
        InstrumentationScope(_text(rng), _text(rng) or None, _text(rng) or None, _attributes(rng)),
    ]


def _span(rng: random.Random, resources: list[Resource], scopes: list[InstrumentationScope | None]) -> ReadableSpan:
    status = rng.choice(
        [
            Status(StatusCode.UNSET),
            Status(StatusCode.OK),
            Status(StatusCode.ERROR),
            Status(StatusCode.ERROR, _text(rng)),
        ]
    )
    events = [
        Event(_text(rng), _attributes(rng, 3), rng.choice([None, 0, 1, rng.getrandbits(63)]))
        for _ in range(rng.choice([0, 0, 1, 3]))
    ]
    links = [Link(_context(rng), _attributes(rng, 3)) for _ in range(rng.choice([0, 0, 1, 2]))]
    start = rng.choice([0, 1, 1_700_000_000_000_000_000, 2**64 - 1])
    return _Span(
        dropped=(rng.choice([0, 0, 1, 200, 2**32 - 1]), rng.choice([0, 0, 5]), rng.choice([0, 0, 7])),
        name=_text(rng),
        context=_context(rng, remote=False),
        parent=rng.choice([None, _context(rng, remote=False), _context(rng, remote=True)]),
        resource=rng.choice(resources),
        attributes=_attributes(rng),
        events=events,
        links=links,
        kind=rng.choice(list(SpanKind)),
        status=status,
        start_time=start,
        end_time=rng.choice([None, start, 2**64 - 1]),
        instrumentation_scope=rng.choice(scopes),
    )


def _assert_same(spans: list[ReadableSpan]) -> None:
    expected = encode_spans(spans)
    ours = encode_request(spans)
    assert ours is not None
    decoded = ExportTraceServiceRequest()
    decoded.ParseFromString(ours)
    assert decoded == expected
    assert ours == expected.SerializeToString()  # the very same bytes, too


def test_random_spans_encode_as_opentelemetry_does() -> None:
    rng = random.Random(20261207)
    for _ in range(CASES):
        resources, scopes = _resources(rng), _scopes(rng)
        _assert_same([_span(rng, resources, scopes) for _ in range(rng.choice([0, 1, 2, 8]))])


def test_spans_from_the_sdk_encode_as_opentelemetry_does() -> None:
    spans: list[ReadableSpan] = []

    class Collect(SpanProcessor):
        def on_end(self, span: ReadableSpan) -> None:
            spans.append(span)

    provider = TracerProvider(resource=Resource.create({'service.name': 'encoder-test'}))
    provider.add_span_processor(Collect())
    tracer = provider.get_tracer('tests', '1.0', attributes={'scope.key': 'v'})
    with tracer.start_as_current_span('parent', kind=SpanKind.SERVER, attributes={'a': 1, 'b': ['x', 'y']}) as parent:
        parent.add_event('event', {'e': 1.5})
        parent.set_status(Status(StatusCode.ERROR, 'bad'))
        with tracer.start_as_current_span('child', links=[Link(parent.get_span_context(), {'l': True})]):
            pass
    provider.get_tracer('other').start_span('other').end()
    assert len(spans) == 3
    _assert_same(spans)


def test_strings_valid_utf8_would_fix_go_through_it_first() -> None:
    rng = random.Random(7)
    bad = ['lone \udce9 surrogate', 'x' * (MAX_VALUE_CHARS + 1), 'é' * (MAX_VALUE_CHARS // 2 + 1), 'ok']
    for _ in range(200):
        resources, scopes = _resources(rng), _scopes(rng)
        spans = [_span(rng, resources, scopes) for _ in range(3)]
        context = spans[0].get_span_context()
        where = rng.randrange(5)
        text = rng.choice(bad)
        spans.append(
            ReadableSpan(
                text if where == 0 else 'name',
                context=context,
                attributes={text: 1} if where == 1 else {'k': (text,) if where == 2 else text},
                events=[Event(text if where == 3 else 'event', {'e': text})],
                status=Status(StatusCode.ERROR, text if where == 4 else None),
            )
        )
        rng.shuffle(spans)
        assert serialize_spans(spans) == encode_spans(valid_utf8(spans)).SerializeToString()


class _Color(enum.IntEnum):
    RED = 1


@pytest.mark.parametrize(
    'value',
    [b'bytes', None, {'nested': 1}, _Color.RED, 2**63, -(2**63) - 1, ('a', b'b'), 'lone \udce9 surrogate'],
    ids=['bytes', 'none', 'mapping', 'int-enum', 'int-too-big', 'int-too-small', 'bytes-in-tuple', 'surrogate'],
)
def test_what_is_not_handled_falls_back_to_opentelemetry(value: Any) -> None:
    spans = [_span(random.Random(seed), _resources(random.Random(1)), [None]) for seed in range(3)]
    odd = ReadableSpan('odd', context=spans[0].get_span_context(), attributes={'ok': 1, 'odd': value})
    batch = [*spans, odd]
    assert encode_request(batch) is None
    assert serialize_spans(batch) == encode_spans(valid_utf8(batch)).SerializeToString()
