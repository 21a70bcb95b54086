"""OTLP request bodies: what the retry queue holds, how they are compressed, and how an oversized one is split."""

from __future__ import annotations

import gzip
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

Signal = Literal['traces', 'metrics', 'logs']
Encoding = Literal['gzip', 'deflate', '']

MAX_REQUEST_BYTES = 5 * 1024 * 1024
"""Requests larger than this (uncompressed protobuf) are split before they are sent."""

UNITS: dict[Signal, str] = {'traces': 'spans', 'metrics': 'metrics', 'logs': 'log records'}


@dataclass
class Payload:
    """One serialized OTLP export request, as it goes on the wire."""

    body: bytes
    """The protobuf request, compressed with `encoding`."""
    encoding: Encoding
    """The `Content-Encoding` of `body` ('' for none)."""
    items: int
    """How many spans, metrics or log records it carries (for the counts in warnings)."""
    path: Path | None = None
    """The claimed file it was read from, when it came from the disk queue."""

    @property
    def size(self) -> int:
        """Bytes of `body`."""
        return len(self.body)


def compress(raw: bytes, encoding: Encoding) -> bytes:
    """Compress a serialized request for `Content-Encoding: encoding`."""
    if encoding == 'gzip':
        return gzip.compress(raw, compresslevel=5, mtime=0)
    if encoding == 'deflate':
        return zlib.compress(raw, 5)
    return raw


def decompress(body: bytes, encoding: Encoding) -> bytes:
    """Undo `compress`."""
    if encoding == 'gzip':
        return gzip.decompress(body)
    if encoding == 'deflate':
        return zlib.decompress(body)
    return body


def _layout(signal: Signal) -> tuple[type[Any], str, str, str]:
    """The request type and the names of its resource, scope and item lists."""
    if signal == 'traces':
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

        return ExportTraceServiceRequest, 'resource_spans', 'scope_spans', 'spans'
    if signal == 'metrics':
        from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

        return ExportMetricsServiceRequest, 'resource_metrics', 'scope_metrics', 'metrics'
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

    return ExportLogsServiceRequest, 'resource_logs', 'scope_logs', 'log_records'


class _Part:
    """A request being filled with items, copying each item's resource and scope the first time it is needed."""

    _FRAMING = 16  # tag and length bytes around an item, a scope and a resource

    def __init__(self, layout: tuple[type[Any], str, str, str]) -> None:
        self.layout = layout
        self.request = layout[0]()
        self.items = 0
        self.size = 0
        self._resource: tuple[Any, Any] | None = None  # (source, copy)
        self._scope: tuple[Any, Any] | None = None

    def cost(self, resource: Any, scope: Any, item: Any) -> int:
        """Bytes that adding `item` (of `scope` in `resource`) would add, about."""
        cost = item.ByteSize() + self._FRAMING
        if self._scope is None or self._scope[0] is not scope:
            cost += scope.scope.ByteSize() + len(scope.schema_url) + self._FRAMING
        if self._resource is None or self._resource[0] is not resource:
            cost += resource.resource.ByteSize() + len(resource.schema_url) + self._FRAMING
        return cost

    def add(self, resource: Any, scope: Any, item: Any) -> None:
        _, resources_field, scopes_field, items_field = self.layout
        self.size += self.cost(resource, scope, item)
        if self._resource is None or self._resource[0] is not resource:
            copy = getattr(self.request, resources_field).add()
            copy.resource.CopyFrom(resource.resource)
            copy.schema_url = resource.schema_url
            self._resource, self._scope = (resource, copy), None
        if self._scope is None or self._scope[0] is not scope:
            copy = getattr(self._resource[1], scopes_field).add()
            copy.scope.CopyFrom(scope.scope)
            copy.schema_url = scope.schema_url
            self._scope = (scope, copy)
        getattr(self._scope[1], items_field).add().CopyFrom(item)
        self.items += 1


def _items(request: Any, layout: tuple[type[Any], str, str, str]) -> list[tuple[Any, Any, Any]]:
    _, resources_field, scopes_field, items_field = layout
    return [
        (resource, scope, item)
        for resource in getattr(request, resources_field)
        for scope in getattr(resource, scopes_field)
        for item in getattr(scope, items_field)
    ]


def split_in_two(signal: Signal, raw: bytes) -> list[tuple[bytes, int]] | None:
    """Split a serialized request into two requests of about half the items each, with their item counts.

    Returns None when the request has fewer than two items (it cannot be split).
    """
    layout = _layout(signal)
    request = layout[0]()
    request.ParseFromString(raw)
    items = _items(request, layout)
    if len(items) < 2:
        return None
    halves = [_Part(layout), _Part(layout)]
    for index, (resource, scope, item) in enumerate(items):
        halves[index * 2 // len(items)].add(resource, scope, item)
    return [(half.request.SerializeToString(), half.items) for half in halves]


def split_to_fit(
    signal: Signal, raw: bytes, items: int, limit: int = MAX_REQUEST_BYTES
) -> tuple[list[tuple[bytes, int]], int]:
    """Split a serialized request into parts of at most `limit` bytes, filling each part in turn.

    Returns:
        The parts with their item counts, and how many items were dropped because each alone is larger
        than `limit`.
    """
    if len(raw) <= limit:
        return [(raw, items)], 0
    layout = _layout(signal)
    request = layout[0]()
    request.ParseFromString(raw)
    parts: list[_Part] = []
    part = _Part(layout)
    dropped = 0
    for resource, scope, item in _items(request, layout):
        if _Part(layout).cost(resource, scope, item) > limit:
            dropped += 1
            continue
        if part.items and part.size + part.cost(resource, scope, item) > limit:
            parts.append(part)
            part = _Part(layout)
        part.add(resource, scope, item)
    if part.items:
        parts.append(part)
    return [(p.request.SerializeToString(), p.items) for p in parts], dropped


def count_items(signal: Signal, raw: bytes) -> tuple[int, bool]:
    """Parse a serialized request: how many items it carries, and whether it is canonical.

    Canonical means it holds no field unknown to the OTLP schema and serializes back to as many bytes: true of
    every request this SDK writes.

    Raises:
        google.protobuf.message.DecodeError: `raw` is not a request of this signal.
    """
    layout = _layout(signal)
    request = layout[0]()
    request.ParseFromString(raw)
    request.DiscardUnknownFields()
    return len(_items(request, layout)), request.ByteSize() == len(raw)
