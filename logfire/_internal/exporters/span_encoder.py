"""Spans to the bytes of an OTLP `ExportTraceServiceRequest`, written directly in the protobuf wire format.

OpenTelemetry's `encode_spans` builds several protobuf objects per attribute and then serializes them; that cost
more CPU than making the span. This writes the same request straight into bytes: the same fields, the same
grouping by resource and then by scope (in first-seen order), the same defaults left out. A property test
(`tests/test_span_encoder.py`) checks over many random spans that the bytes decode to exactly what
`encode_spans` produces.

Only the common shapes are handled: attribute values of exactly `str`, `bool`, `int` (within int64), `float`,
and a `tuple` or `list` of those. Anything else (a `bytes` or `None` value, a mapping, a subclass such as an enum,
an int outside int64, a non-string key, a count outside uint32) makes `encode_request` return None, and
`serialize_spans` then encodes the whole batch with OpenTelemetry's encoder. So does a string that `valid_utf8`
would change (not valid UTF-8, or longer than `MAX_VALUE_CHARS` bytes), after `valid_utf8` has fixed it.

Field numbers are those of opentelemetry-proto's `trace.proto`, `common.proto` and `resource.proto`.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence
from typing import Any, Final, cast

from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanKind, StatusCode

from .valid_utf8 import MAX_VALUE_CHARS, valid_utf8

_SMALL: Final = tuple(bytes((i,)) for i in range(128))
_UINT64: Final = 0xFFFF_FFFF_FFFF_FFFF
_INT64_MIN: Final = -(1 << 63)
_INT64_MAX: Final = (1 << 63) - 1
_UINT32_MAX: Final = 0xFFFF_FFFF
_pack_fixed64 = struct.Struct('<Q').pack
_pack_double = struct.Struct('<d').pack

# Span.kind is the SDK's value plus one (SPAN_KIND_UNSPECIFIED is 0 in OTLP).
_KIND: Final = {kind: b'\x30' + _SMALL[kind.value + 1] for kind in SpanKind}
# Span.flags (field 16, fixed32): SPAN_FLAGS_CONTEXT_HAS_IS_REMOTE_MASK, plus _IS_REMOTE_MASK for a remote parent.
_FLAGS_LOCAL: Final = b'\x85\x01' + struct.pack('<I', 0x100)
_FLAGS_REMOTE: Final = b'\x85\x01' + struct.pack('<I', 0x300)
# Link.flags (field 6, fixed32).
_LINK_FLAGS_LOCAL: Final = b'\x35' + struct.pack('<I', 0x100)
_LINK_FLAGS_REMOTE: Final = b'\x35' + struct.pack('<I', 0x300)
# Span.status (field 15) without a description: Status.code (field 3), left out when UNSET.
_STATUS: Final = {code: b'\x7a\x02\x18' + _SMALL[code.value] if code.value else b'\x7a\x00' for code in StatusCode}
_TRUE: Final = b'\x10\x01'  # AnyValue.bool_value (field 2)
_FALSE: Final = b'\x10\x00'

_MAX_CACHED_KEYS: Final = 4096
_key_cache: dict[str, bytes] = {}
"""Attribute key -> the start of its `KeyValue` (the key, then the tag of the value): keys come back span after span."""
_MAX_CACHED_HEADS: Final = 64
_head_cache: dict[int, tuple[object, bytes]] = {}
"""id(resource or scope) -> (it, its encoded message): immutable and few; kept alive here, so no id is reused."""


class _Unsupported(Exception):
    """Something this encoder does not write: the batch goes to OpenTelemetry's encoder."""


def _varint(value: int) -> bytes:
    if value < 0x80:
        if value < 0:
            raise _Unsupported
        return _SMALL[value]
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _uint32(tag: bytes, value: int) -> bytes:
    """A uint32 field, left out when 0 (as protobuf does)."""
    if not value:
        return b''
    if type(value) is not int or value > _UINT32_MAX:
        raise _Unsupported
    return tag + _varint(value)


def _string(tag: bytes, value: str | None) -> bytes:
    """A string field, left out when empty or None."""
    if not value:
        return b''
    if type(value) is not str:
        raise _Unsupported
    data = value.encode()  # a lone surrogate raises UnicodeEncodeError: the batch falls back
    if len(data) > MAX_VALUE_CHARS:
        raise _Unsupported
    return tag + _varint(len(data)) + data


def _any_value(value: Any) -> bytes:
    """The body of an `AnyValue`."""
    kind = cast('type[object]', type(value))
    if kind is str:
        data = value.encode()
        if len(data) > MAX_VALUE_CHARS:
            raise _Unsupported
        return b'\x0a' + _varint(len(data)) + data
    if kind is bool:
        return _TRUE if value else _FALSE
    if kind is int:
        if not _INT64_MIN <= value <= _INT64_MAX:
            raise _Unsupported  # OpenTelemetry logs it and drops the attribute
        return b'\x18' + _varint(value & _UINT64)
    if kind is float:
        return b'\x21' + _pack_double(value)
    if kind is tuple or kind is list:
        items = bytearray()
        for item in value:
            body = _any_value(item)
            items += b'\x0a' + _varint(len(body)) + body  # ArrayValue.values
        return b'\x2a' + _varint(len(items)) + items  # AnyValue.array_value
    raise _Unsupported


def _key_head(key: str) -> bytes:
    """`KeyValue.key` (field 1) and the tag of `KeyValue.value` (field 2), cached."""
    if type(key) is not str:
        raise _Unsupported
    data = key.encode()
    if len(data) > MAX_VALUE_CHARS:
        raise _Unsupported
    head = b'\x0a' + _varint(len(data)) + data + b'\x12'
    if len(_key_cache) >= _MAX_CACHED_KEYS:
        _key_cache.clear()
    _key_cache[key] = head
    return head


def _attributes(tag: bytes, attributes: Mapping[str, Any] | None) -> bytes:
    """Repeated `KeyValue` fields under `tag`."""
    if not attributes:
        return b''
    out = bytearray()
    heads = _key_cache
    for key, value in attributes.items():
        head = heads.get(key) or _key_head(key)
        if type(value) is str:
            data = value.encode()
            size = len(data)
            pair_size = len(head) + size + 3
            if pair_size < 0x80:  # the common short string: every length fits in one byte
                out += b'%b%c%b%c\x0a%c%b' % (tag, pair_size, head, size + 2, size, data)
                continue
            if size > MAX_VALUE_CHARS:
                raise _Unsupported
            body = b'\x0a' + _varint(size) + data
        else:
            body = _any_value(value)
        body_size = _varint(len(body))
        out += b'%b%b%b%b%b' % (tag, _varint(len(head) + len(body_size) + len(body)), head, body_size, body)
    return bytes(out)


def _message(tag: bytes, body: bytes | bytearray) -> bytes:
    return tag + _varint(len(body)) + body


def _fixed64(tag: bytes, value: int | None) -> bytes:
    return tag + _pack_fixed64(value) if value else b''


def _resource(resource: Resource) -> bytes:
    """`Resource` (its attributes only, as OpenTelemetry writes it)."""
    return _attributes(b'\x0a', resource.attributes)


def _scope(scope: InstrumentationScope | None) -> bytes:
    """`InstrumentationScope`: name, version, attributes."""
    if scope is None:
        return b''
    return _string(b'\x0a', scope.name) + _string(b'\x12', scope.version) + _attributes(b'\x1a', scope.attributes)


def _cached(thing: object, encode: Any) -> bytes:
    entry = _head_cache.get(id(thing))
    if entry is not None and entry[0] is thing:
        return entry[1]
    encoded: bytes = encode(thing)
    if len(_head_cache) >= _MAX_CACHED_HEADS:
        _head_cache.clear()
    _head_cache[id(thing)] = (thing, encoded)
    return encoded


def _span(span: ReadableSpan) -> bytes:
    """The body of a `Span`, fields in number order."""
    context = span.get_span_context()
    if context is None:
        raise _Unsupported
    out = bytearray(
        b'\x0a\x10%b\x12\x08%b' % (context.trace_id.to_bytes(16, 'big'), context.span_id.to_bytes(8, 'big'))
    )
    trace_state = context.trace_state
    if trace_state:
        out += _string(b'\x1a', ','.join([f'{key}={value}' for key, value in trace_state.items()]))
    parent = span.parent
    if parent is not None:
        out += b'\x22\x08%b' % parent.span_id.to_bytes(8, 'big')
    out += _string(b'\x2a', span.name)
    out += _KIND[span.kind]
    start, end = span.start_time, span.end_time
    if start and end:
        out += b'\x39%b\x41%b' % (_pack_fixed64(start), _pack_fixed64(end))
    else:
        out += _fixed64(b'\x39', start) + _fixed64(b'\x41', end)
    out += _attributes(b'\x4a', span.attributes)
    if span.dropped_attributes:
        out += _uint32(b'\x50', span.dropped_attributes)
    for event in span.events:
        body = (
            _fixed64(b'\x09', event.timestamp)
            + _string(b'\x12', event.name)
            + _attributes(b'\x1a', event.attributes)
            + _uint32(b'\x20', event.dropped_attributes)
        )
        out += _message(b'\x5a', body)
    if span.dropped_events:
        out += _uint32(b'\x60', span.dropped_events)
    for link in span.links:
        link_context = link.context
        body = (
            b'\x0a\x10%b\x12\x08%b'
            % (link_context.trace_id.to_bytes(16, 'big'), link_context.span_id.to_bytes(8, 'big'))
            + _attributes(b'\x22', link.attributes)
            + _uint32(b'\x28', link.dropped_attributes)
            + (_LINK_FLAGS_REMOTE if link_context.is_remote else _LINK_FLAGS_LOCAL)
        )
        out += _message(b'\x6a', body)
    if span.dropped_links:
        out += _uint32(b'\x70', span.dropped_links)
    status = span.status  # always written, even when empty (None, which OpenTelemetry would leave out, falls back)
    description = status.description
    if description:
        code = status.status_code.value
        out += _message(b'\x7a', _string(b'\x12', description) + (b'\x18' + _SMALL[code] if code else b''))
    else:
        out += _STATUS[status.status_code]
    out += _FLAGS_REMOTE if parent is not None and parent.is_remote else _FLAGS_LOCAL
    return bytes(out)


def _encode(spans: Sequence[ReadableSpan]) -> bytes:
    # Grouped as `encode_spans` groups: by resource, then by scope, both compared by equality (the first of equal
    # ones stands for them all) and kept in first-seen order. Equality is asked once per distinct object.
    groups: dict[Resource, dict[InstrumentationScope | None, bytearray]] = {}
    by_id: dict[tuple[int, int], bytearray] = {}
    for span in spans:
        resource = span.resource
        scope = span.instrumentation_scope or None
        group = by_id.get((id(resource), id(scope)))
        if group is None:
            scopes = groups.setdefault(resource, {})
            group = scopes.setdefault(scope, bytearray())
            by_id[(id(resource), id(scope))] = group
        body = _span(span)
        group += b'\x12'  # ScopeSpans.spans
        group += _varint(len(body))
        group += body
    out = bytearray()
    for resource, scopes in groups.items():
        resource_spans = bytearray(_message(b'\x0a', _cached(resource, _resource)))  # ResourceSpans.resource
        for scope, scope_spans in scopes.items():
            head = _message(b'\x0a', _cached(scope, _scope))  # ScopeSpans.scope
            schema_url = _string(b'\x1a', scope.schema_url) if scope is not None else b''
            resource_spans += _message(b'\x12', head + scope_spans + schema_url)  # ResourceSpans.scope_spans
        resource_spans += _string(b'\x1a', resource.schema_url)
        out += _message(b'\x0a', resource_spans)  # ExportTraceServiceRequest.resource_spans
    return bytes(out)


def encode_request(spans: Sequence[ReadableSpan]) -> bytes | None:
    """The serialized `ExportTraceServiceRequest` for `spans`, or None if any of them holds what is not handled."""
    try:
        return _encode(spans)
    except Exception:  # _Unsupported, or a value of an unexpected shape (UnicodeEncodeError, struct.error, ...)
        return None


def serialize_spans(spans: Sequence[ReadableSpan]) -> bytes:
    """The serialized `ExportTraceServiceRequest` for `valid_utf8(spans)`: ours, else OpenTelemetry's for the batch.

    Every string ours writes is encoded as UTF-8 and its length checked, so when ours succeeds no string needed
    fixing and `valid_utf8` would have returned `spans` as they are: it runs only when ours fails.
    """
    encoded = encode_request(spans)
    if encoded is None:
        spans = valid_utf8(spans)
        encoded = encode_request(spans)
        if encoded is None:
            return encode_spans(spans).SerializeToString()
    return encoded
