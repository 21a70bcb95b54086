"""Fast access to the attributes an OpenTelemetry SDK span stores, for the per-span work of logfire's pipeline.

The public way costs more than the work itself on the hot path: `span.attributes` wraps the SDK's
`BoundedAttributes` in a `MappingProxyType`, so every lookup is two Python-level calls (and a missing key raises
inside), and `start_span(attributes=...)` validates every value, although logfire's API has already made each one
a valid attribute value. Here the plain dict inside `BoundedAttributes` is read, and filled, directly:

- only where nothing else can touch it: a span being started (inside its processor's `on_start`, before the SDK
  hands it to anyone) or an ended span (which is immutable);
- only within the SDK's span limits: a value length limit, or more attributes than the count limit, takes the
  public path, which cuts values and drops attributes as the SDK always does;
- only for values that are valid attribute values already: logfire's API makes them so, and so does its HTTP
  message hook;
- only if the SDK's spans are laid out as expected, which `storage_works()` checks once with a real span.
  Otherwise (another SDK version, another span class) every helper falls back to the public API.

The spans of logfire's pipeline also get a faster `set_attribute` and `set_attributes` (`_FastSetSpan`), by the
same rules.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Mapping, Sequence
from typing import Any, Final

from opentelemetry.attributes import BoundedAttributes
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan, Span, TracerProvider
from opentelemetry.sdk.trace import _Span as _SdkSpan  # pyright: ignore[reportPrivateUsage]
from opentelemetry.sdk.trace.sampling import ALWAYS_ON
from opentelemetry.sdk.util import BoundedList
from opentelemetry.trace import Link
from opentelemetry.util.types import AttributeValue

__all__ = [
    'FAST_SPAN_CLASS',
    'SDK_SPAN_CLASS',
    'attributes_of',
    'with_end_attributes',
    'events_of',
    'fast_spans_work',
    'links_of',
    'plain_attributes',
    'set_start_attributes',
    'storage_works',
]

_EMPTY: Mapping[str, AttributeValue] = {}


def _storage(span: ReadableSpan) -> dict[str, AttributeValue] | None:
    """The dict holding `span`'s attributes, if the SDK's layout is the expected one."""
    stored: Any = getattr(span, '_attributes', None)
    if type(stored) is BoundedAttributes:
        inner: Any = getattr(stored, '_dict', None)
        if type(inner) is dict:
            return inner  # pyright: ignore[reportUnknownVariableType]
    return None


@functools.cache
def storage_works() -> bool:
    """Whether this SDK stores span attributes as expected: checked on a real span, once per process."""
    try:
        provider = TracerProvider(sampler=ALWAYS_ON, resource=Resource.get_empty(), shutdown_on_exit=False)
        span = provider.get_tracer('logfire.span_storage').start_span('probe', attributes={'a': 1})
        assert isinstance(span, Span)
        stored = _storage(span)
        if stored != {'a': 1} or stored is None:
            return False
        stored['b'] = 'x'
        span.add_event('e')
        span.end()
        ended = span._readable_span()  # pyright: ignore[reportPrivateUsage]
        works = (
            dict(ended.attributes or {}) == {'a': 1, 'b': 'x'}
            and _storage(ended) is stored
            and _clone_works(ended)
            and [event.name for event in getattr(getattr(ended, '_events', None), '_dq', ())] == ['e']
            and type(getattr(ended, '_events', None)) is BoundedList
            and type(getattr(ended, '_links', None)) is BoundedList
            and _fast_set_works(provider)
        )
    except Exception:
        works = False
    _STORAGE_WORKS[0] = works
    return works


def _fast_set_works(provider: TracerProvider) -> bool:
    """Whether `_FastSetSpan`'s setters leave a span just as the SDK's `set_attribute` and `set_attributes` do."""
    tracer = provider.get_tracer('logfire.span_storage')
    results: list[list[tuple[str, AttributeValue]]] = []
    for fast in (False, True):
        span = tracer.start_span('probe', attributes={'a': 1, 'b': 2})
        if type(span) is not _SdkSpan:
            return False
        if fast:
            span.__class__ = _FastSetSpan
        span.set_attribute('a', 'x')  # set again: moves to the end
        span.set_attribute('c', True)
        span.set_attributes({'b': 3})  # the same, for a dict of them
        span.end()
        results.append(list((span.attributes or {}).items()))
    return results[0] == results[1] == [('a', 'x'), ('c', True), ('b', 3)]


class _FastSetSpan(_SdkSpan):
    """The SDK's span with a `set_attribute` (and `set_attributes`) that stores str, bool, int or float values directly.

    The SDK's own runs each value through its generic validation under two locks, about twice the cost, for every
    attribute an instrumentation sets (OTel's ASGI middleware sets a dozen per request). This does what that
    validation amounts to for such values, under the span's lock as the SDK does, and leaves every other case
    (other value types, an ended span, a value length limit, a full span) to the SDK.
    """

    def set_attribute(self, key: str, value: Any) -> None:
        cls = type(value)  # pyright: ignore[reportUnknownVariableType]
        if cls is str or cls is int or cls is bool or cls is float:
            stored: Any = self._attributes
            if stored.max_value_len is None and type(key) is str and key:
                with self._lock:
                    if self._end_time is None:  # pyright: ignore[reportUnnecessaryComparison]  # None until it ends
                        inner: dict[str, AttributeValue] = stored._dict
                        # Without the attributes' own lock, which the SDK also takes. What that lock would add is
                        # keeping a reader in another thread from seeing a key set again in the moment between its
                        # removal and its return; with the GIL (CPython before free threading) that moment is two
                        # bytecodes. The span's lock, taken above as the SDK does, keeps sets and `end()` in order.
                        if key in inner:
                            del inner[key]  # as the SDK does: a key set again moves to the end
                            inner[key] = value
                            return
                        if stored.maxlen is None or len(inner) < stored.maxlen:
                            inner[key] = value
                            return
        super().set_attribute(key, value)

    def set_attributes(self, attributes: Any) -> None:
        """The same for a dict of such values with non-empty str keys (`plain_attributes`), all or none of them.

        Only when they all fit within the count limit, so the SDK would drop nothing; it would store each in turn,
        a key set again moving to the end, as here. OTel's database instrumentations set a query's attributes so.
        """
        if plain_attributes(attributes):
            stored: Any = self._attributes
            if stored.max_value_len is None:
                with self._lock:
                    if self._end_time is None:  # pyright: ignore[reportUnnecessaryComparison]  # None until it ends
                        inner: dict[str, AttributeValue] = stored._dict
                        maxlen = stored.maxlen
                        if maxlen is None or len(inner) + len(attributes) <= maxlen:
                            # Without the attributes' own lock, as in `set_attribute` (see its comment).
                            for key, value in attributes.items():
                                if key in inner:
                                    del inner[key]
                                inner[key] = value
                            return
        super().set_attributes(attributes)


# A span's repr (and `type(span).__name__`) stays what the SDK's own class shows.
_FastSetSpan.__name__ = _SdkSpan.__name__
_FastSetSpan.__qualname__ = _SdkSpan.__qualname__

SDK_SPAN_CLASS: Final = _SdkSpan
FAST_SPAN_CLASS: Final = _FastSetSpan
"""The root processor turns each span of `SDK_SPAN_CLASS` into one of `FAST_SPAN_CLASS` when `fast_spans_work()`."""


def fast_spans_work() -> bool:
    """Whether spans may take `_FastSetSpan`: `storage_works()`, and the GIL is on (see `set_attribute`'s comment)."""
    gil_enabled: Any = getattr(sys, '_is_gil_enabled', None)
    return storage_works() and (gil_enabled is None or bool(gil_enabled()))


def attributes_of(span: ReadableSpan) -> Mapping[str, AttributeValue]:
    """A span's attributes, to read (never to change): a plain dict when possible.

    Single lookups are safe on any span. To iterate them, the span must be one no other thread can change
    meanwhile: one being started, or an ended one.
    """
    stored: Any = getattr(span, '_attributes', None)
    if type(stored) is BoundedAttributes:
        if _STORAGE_WORKS[0]:
            inner: Any = stored._dict  # pyright: ignore[reportPrivateUsage]
            return inner
    elif type(stored) is dict:
        return stored  # pyright: ignore[reportUnknownVariableType]  # a span copied by logfire's end transforms
    attributes = span.attributes
    return attributes if attributes is not None else _EMPTY


def events_of(span: ReadableSpan) -> Sequence[Event]:
    """An ended span's events, to read: without the copy under a lock that `span.events` makes."""
    stored: Any = getattr(span, '_events', None)
    if type(stored) is BoundedList and _STORAGE_WORKS[0]:
        return stored._dq  # pyright: ignore[reportAttributeAccessIssue, reportUnknownVariableType, reportUnknownMemberType]
    return span.events


def links_of(span: ReadableSpan) -> Sequence[Link]:
    """An ended span's links, to read: without the copy under a lock that `span.links` makes."""
    stored: Any = getattr(span, '_links', None)
    if type(stored) is BoundedList and _STORAGE_WORKS[0]:
        return stored._dq  # pyright: ignore[reportAttributeAccessIssue, reportUnknownVariableType, reportUnknownMemberType]
    return span.links


def plain_attributes(attributes: object) -> bool:
    """Whether `attributes` is a dict the SDK would store as it is: non-empty str keys, str/bool/int/float values.

    Such attributes, given to `start_span` by any instrumentation, can skip the SDK's validation the same way as
    those of logfire's API (a value length limit still takes the public path, in `set_start_attributes`).
    """
    if type(attributes) is not dict:
        return False
    for key, value in attributes.items():  # pyright: ignore[reportUnknownVariableType]
        cls = type(value)  # pyright: ignore[reportUnknownArgumentType, reportUnknownVariableType]
        if (cls is not str and cls is not int and cls is not float and cls is not bool) or type(key) is not str:  # pyright: ignore[reportUnknownArgumentType]
            return False
        if not key:
            return False
    return True


def set_start_attributes(span: Span, attributes: Mapping[str, AttributeValue]) -> None:
    """Add valid attribute values to a span from a processor's `on_start`, as `span.set_attributes` would.

    Directly into its storage when the SDK's layout is the expected one and its limits (a value length limit, the
    count limit) leave nothing to cut or drop; through `set_attributes` otherwise.
    """
    stored: Any = getattr(span, '_attributes', None)
    if type(stored) is BoundedAttributes and stored.max_value_len is None and _STORAGE_WORKS[0]:
        inner: dict[str, AttributeValue] = stored._dict  # pyright: ignore[reportPrivateUsage]
        maxlen = stored.maxlen
        if (
            (maxlen is None or len(inner) + len(attributes) <= maxlen)
            and '' not in attributes
            and (not inner or inner.keys().isdisjoint(attributes))  # the SDK moves a key it sets again to the end
        ):
            inner.update(attributes)  # `storage_works()` checked that `_dict` is the plain dict
            return
    span.set_attributes(attributes)


def with_end_attributes(span: ReadableSpan, added: Mapping[str, AttributeValue]) -> ReadableSpan | None:
    """An ended span with `added` after its attributes, for an end transform; None if the caller must copy it.

    The span `copy_span(span, attributes={**attributes, **added})` would make, without rebuilding it through the
    public properties (which copy the events and links under locks): the same fields, and a new plain dict of
    attributes, so nothing the span shares with the live one changes. Its events and links stay the SDK's bounded
    lists (ended, so unchanging), which also keep their dropped counts. Only for a span of the SDK's own class, and
    once `storage_works()` found the layout (and this clone) as expected.
    """
    if type(span) is not ReadableSpan or not _STORAGE_WORKS[0]:
        return None
    fields: dict[str, Any] = span.__dict__
    stored: Any = fields.get('_attributes')
    if type(stored) is BoundedAttributes:
        inner: dict[str, AttributeValue] = stored._dict  # pyright: ignore[reportPrivateUsage]
    elif type(stored) is dict:
        inner = stored  # pyright: ignore[reportUnknownVariableType]  # a span copied by an earlier end transform
    else:
        return None
    clone = object.__new__(ReadableSpan)
    clone.__dict__.update(fields)
    clone._attributes = {**inner, **added}  # pyright: ignore[reportPrivateUsage]
    return clone


def _clone_works(ended: ReadableSpan) -> bool:
    """Whether `with_end_attributes` gives the probe's ended span what `copy_span` would, leaving it unchanged."""
    if type(ended) is not ReadableSpan or hasattr(ReadableSpan, '__slots__'):
        return False
    _STORAGE_WORKS[0] = True  # for the call below only; `storage_works()` sets the outcome
    try:
        clone = with_end_attributes(ended, {'c': 2})
    finally:
        _STORAGE_WORKS[0] = False
    return (
        clone is not None
        and dict(clone.attributes or {}) == {'a': 1, 'b': 'x', 'c': 2}
        and dict(ended.attributes or {}) == {'a': 1, 'b': 'x'}
        and [event.name for event in clone.events] == ['e']
        and (clone.name, clone.context, clone.end_time, clone.status)
        == (ended.name, ended.context, ended.end_time, ended.status)
    )


_STORAGE_WORKS = [False]
"""`storage_works()`, once some pipeline has asked."""
