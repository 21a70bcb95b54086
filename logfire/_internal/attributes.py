"""Turn user attributes into OpenTelemetry span attributes plus the `logfire.json_schema` that types them.

str, bool, 64-bit int and finite float values are kept as they are; plain JSON dicts and lists take a fast path
(one C-encoder call, a cached schema); everything else goes through the walk in `json_encoding`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from enum import Enum
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Final, cast

from .array_values import numpy_scalar
from .json_encoding import (
    MAX_DEPTH,
    MAX_ITEMS,
    MAX_JSON_SIZE,
    MAX_STRING_LENGTH,
    UNKNOWN_SCHEMA,
    Encoder,
    JsonDict,
    builtin_value,
    dumps,
    encode_complex,
    truncate_middle,
)
from .stack_info import warn_at_caller

if TYPE_CHECKING:
    from opentelemetry.util.types import AttributeValue

__all__ = ['numbers_json', 'plain_json_list', 'prepare_attributes', 'tag_values']

_MIN_INT: Final = -(2**63)
_MAX_INT: Final = 2**63 - 1
_encode_str: Final = json.encoder.encode_basestring_ascii
_INF: Final = math.inf


def _encode_top_level(value: Any) -> tuple[AttributeValue, JsonDict]:
    try:  # isinstance() can raise, through a __class__ property
        scalar = numpy_scalar(value)
        if type(scalar) is bool:
            return scalar, {}
        if scalar is not None:
            native = scalar
        elif isinstance(value, Enum) or not isinstance(value, (str, int, float)):
            return encode_complex(value)
        else:
            native = builtin_value(value)
    except Exception:
        return encode_complex(value)
    if type(native) is int and not _MIN_INT <= native <= _MAX_INT:
        # Too big for an OTel int: stored as its decimal text, which is also its JSON.
        encoded = Encoder().encode(native)[0]
        warn_at_caller(
            f'The integer {truncate_middle(str(encoded), 50)} does not fit in 64 bits, the largest an OpenTelemetry '
            'attribute holds: it is stored as its decimal text. Pass it as a str to silence this warning.',
            UserWarning,
        )
        return dumps(encoded), UNKNOWN_SCHEMA if type(encoded) is str else {
            'type': 'integer',
            'x-python-datatype': 'int',
        }
    if type(native) is float and not math.isfinite(native):
        return str(native), {'type': 'number', 'x-python-datatype': 'float'}  # 'nan', 'inf' or '-inf'
    return native, {}


_PLAIN_JSON_BUDGET: Final = MAX_JSON_SIZE // 2
_PLAIN_JSON_DEPTH: Final = MAX_DEPTH // 2


def _plain_budget(container: list[Any] | dict[Any, Any], budget: int, depth: int) -> int:
    """What is left of `budget` after `container`, counted as `Encoder` counts; negative when it is not plain.

    Plain means exact `dict` (str keys), `list`, `str`, `int`, `float`, `bool` and `None`, well within every limit.
    `Encoder` would return such a value unchanged, with the schema `{"type":"object"}` or `{"type":"array"}`
    (plain items get no schema of their own), so `json.dumps` alone encodes it. The walk stops at the first
    value that is not plain, or once the budget is spent, so a huge value costs little here.
    """
    if depth >= _PLAIN_JSON_DEPTH or len(container) > MAX_ITEMS:
        return -1
    items: Iterable[Any] = container
    if type(container) is dict:
        for key in container:
            if type(key) is not str or len(key) > MAX_STRING_LENGTH:
                return -1
            budget -= len(key) + 2
        items = container.values()
    for item in items:
        cls = type(item)  # pyright: ignore[reportUnknownVariableType]
        if cls is str:
            if len(item) > MAX_STRING_LENGTH:
                return -1
            budget -= len(item) + 2
        elif cls is int:
            if item.bit_length() > 14_000:  # as `Encoder._number`
                return -1
            budget -= 8
        elif cls is float and -_INF < item < _INF:  # NaN and infinities are not JSON: `Encoder` writes them as text
            budget -= 8
        elif item is None or cls is bool:
            budget -= 4
        elif cls is list or cls is dict:
            budget = _plain_budget(item, budget, depth + 1)
        else:
            return -1
        if budget < 0:
            return -1
    return budget


def _plain_encoder() -> Callable[[Any], str]:
    """`json.dumps(value, separators=(',', ':'))` for plain values, through the C encoder when there is one.

    The C encoder is built once, without the check for circular references (a plain value has bounded depth);
    `json.dumps` builds one per call, which costs several times the encoding of a small value.
    """
    make = getattr(json.encoder, 'c_make_encoder', None)
    if make is not None:
        try:
            encoder = make(None, _not_plain, _encode_str, None, ':', ',', False, False, True)
            sample: list[Any] = ['\u00e9', 1, 1.5, math.nan, None, True, {'k': []}]
            if ''.join(encoder(sample, 0)) == dumps(sample):
                return lambda value: ''.join(encoder(value, 0))
        except Exception:  # another Python's C encoder may take other arguments
            pass
    return dumps


def _not_plain(value: Any) -> Any:
    raise TypeError(f'{type(value).__name__} is not plain JSON')


def _plain_json_top(value: Any) -> tuple[str, str] | None:
    """`(json, 'object' or 'array')` for a plain JSON dict or list (see `_plain_budget`), else None."""
    cls = type(value)  # pyright: ignore[reportUnknownVariableType]
    if cls is not dict and cls is not list:
        return None
    try:
        if _plain_budget(value, _PLAIN_JSON_BUDGET, 0) < 0:
            return None
        return _encode_plain(value), 'object' if cls is dict else 'array'
    except Exception:  # e.g. a list mutated by another thread while it is walked
        return None


_encode_plain: Final = _plain_encoder()


def plain_json_list(value: list[Any]) -> str | None:
    """The JSON `prepare_attributes` stores for a plain JSON list (whose schema is `{"type":"array"}`), else None."""
    plain = _plain_json_top(value)
    return plain[0] if plain is not None else None


def numbers_json(values: tuple[Any, ...]) -> str | None:
    """`plain_json_list(list(values))` when every value is an int, a float, a bool or None, else None.

    One pass for the usual `%`-arguments of a log call (which hold no secrets either). Example:

        >>> numbers_json((1, -2.5)), numbers_json((True, None)), numbers_json((1, 'a')), numbers_json((float('nan'),))
        ('[1,-2.5]', '[true,null]', None, None)
    """
    if len(values) > MAX_ITEMS:
        return None
    words = False
    for value in values:
        cls = type(value)  # pyright: ignore[reportUnknownVariableType]
        if cls is int:
            if not -_BIG_INT < value < _BIG_INT:  # as `_plain_budget`: at most 14,000 bits
                return None
        elif cls is float:
            if not -_INF < value < _INF:  # NaN and infinities are not plain JSON
                return None
        elif cls is bool or value is None:
            words = True
        else:
            return None
    if words:
        return _encode_plain(list(values))
    # `repr` writes ints and finite floats as JSON does (the encoder uses `int.__repr__` and `float.__repr__`), in a
    # fraction of the encoder's time; one value, the usual case, without even a `join`.
    try:
        return f'[{values[0]!r}]' if len(values) == 1 else f'[{",".join(map(repr, values))}]'
    except ValueError:  # an int past `sys.set_int_max_str_digits()`
        return None


_BIG_INT: Final = 2**14_000


@lru_cache(maxsize=1024)
def _plain_schema(keys: tuple[str, ...]) -> str:
    properties = ','.join(f'{dumps(key)}:{{}}' for key in keys)
    return f'{{"type":"object","properties":{{{properties}}}}}'


@lru_cache(maxsize=1024)
def _kinds_schema(keys: tuple[str, ...], kinds: tuple[tuple[str, str], ...]) -> str:
    """The schema when every value is a primitive or, for the keys in `kinds`, a plain JSON object or array, or null."""
    kind_of = dict(kinds)
    properties = {key: {'type': kind_of[key]} if key in kind_of else {} for key in keys}
    return dumps({'type': 'object', 'properties': properties})


def tag_values(tags: Sequence[object]) -> tuple[str, ...]:
    """The `logfire.tags` value: each tag as a str (as the SDK would store it), duplicates dropped, order kept.

    A single str is one tag, not a sequence of one-letter tags.
    """
    if isinstance(tags, str):
        return (str.__str__(tags),)
    if all(type(tag) is str for tag in tags):
        return tuple(dict.fromkeys(cast('Sequence[str]', tags)))
    return tuple(dict.fromkeys(str(tag) for tag in tags))


def prepare_attributes(attributes: Mapping[str, Any]) -> tuple[dict[str, AttributeValue], str | None]:
    """Turn user attributes into OTel span attributes plus the `logfire.json_schema` value describing them.

    str, bool, 64-bit int and finite float values are kept as they are. `None` is stored as the JSON `null`,
    with the schema `{"type":"null"}`. Everything else is stored as compact JSON. Every key appears in the
    schema's `properties`, with `{}` for the values kept as they are.

    Args:
        attributes: The user's attributes; keys starting with `_` must already have been removed.

    Returns:
        The OTel attributes, and the JSON schema text, or `None` when `attributes` is empty. Never raises.

    Example:
        >>> attributes, schema = prepare_attributes({'name': 'Ada', 'tags': {'x'}, 'score': None})
        >>> attributes
        {'name': 'Ada', 'tags': '["x"]', 'score': 'null'}
        >>> schema
        '{"type":"object","properties":{"name":{},"tags":{"type":"array","x-python-datatype":"set"},"score":{"type":"null"}}}'
    """
    if not attributes:
        return {}, None
    result: dict[str, AttributeValue] = {}
    schemas: dict[str, JsonDict] | None = None
    kinds: dict[str, str] | None = None  # keys of None and of plain JSON dicts and lists: no walk for their schemas
    for key, value in attributes.items():
        cls = type(value)  # pyright: ignore[reportUnknownVariableType]
        if cls is str or cls is bool or (cls is int and _MIN_INT <= value <= _MAX_INT):
            result[key] = value
        elif cls is float and math.isfinite(value):
            result[key] = value
        elif value is None:
            result[key] = 'null'
            if kinds is None:
                kinds = {}
            kinds[key] = 'null'
        elif (plain := _plain_json_top(value)) is not None:
            result[key] = plain[0]
            if kinds is None:
                kinds = {}
            kinds[key] = plain[1]
        else:
            result[key], schema = _encode_top_level(value)
            if schema:
                if schemas is None:
                    schemas = {}
                schemas[key] = schema
    return result, _schema(tuple(attributes), schemas, kinds)


def _schema(keys: tuple[str, ...], schemas: dict[str, JsonDict] | None, kinds: dict[str, str] | None) -> str:
    """The `logfire.json_schema` text: cached for primitives and plain JSON values, built for anything else."""
    if schemas is None:
        if kinds is None:
            return _plain_schema(keys)
        return _kinds_schema(keys, tuple(kinds.items()))
    for key, kind in (kinds or {}).items():
        schemas[key] = {'type': kind}
    properties = {key: schemas.get(key, {}) for key in keys}
    return dumps({'type': 'object', 'properties': properties})
