"""Encode any Python value as bounded, compact JSON plus a JSON schema naming its Python types.

OTel attributes only hold str, bool, 64-bit int and float (and sequences of one of those). Logfire stores
everything else as compact JSON, recording the original Python type in a JSON schema so the backend can render it
back (`title` is the class name, `x-python-datatype` the kind of object). Encoding never raises: an object that
cannot be walked is stored as its `repr()`, or as a placeholder when even that fails.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import ipaddress
import json
import math
import re
import sys
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence, Set, Sized
from decimal import Decimal
from enum import Enum
from itertools import islice
from pathlib import PurePath
from types import GeneratorType
from typing import TYPE_CHECKING, Any, Final, cast

from .array_values import describe_array

if TYPE_CHECKING:
    from typing import TypeAlias

    JsonValue: TypeAlias = 'None | bool | int | float | str | list[JsonValue] | dict[str, JsonValue]'

JsonDict = dict[str, Any]

MAX_DEPTH: Final = 32
"""Containers nested deeper than this are replaced by a `<ClassName nested too deeply>` placeholder."""
MAX_ITEMS: Final = 1_000
"""Items kept per list, dict, set or object; the rest are counted in a `<N more items>` marker."""
MAX_STRING_LENGTH: Final = 10_000
"""Longer strings (and reprs) inside a JSON value keep their start and end around a `...`."""
MAX_JSON_SIZE: Final = 100_000
"""Rough character budget of one attribute's JSON; once spent, containers stop with a `<N more items>` marker."""

_PLAIN_SCHEMAS: Final[tuple[JsonDict, ...]] = ({}, {'type': 'object'}, {'type': 'array'})
"""Schemas of values the backend renders as plain JSON: leaving them out of nested schemas keeps those small."""
_ENUM_TYPES: Final = {str: 'string', int: 'integer', bool: 'boolean', float: 'number'}
_JSON_SEPARATORS: Final = (',', ':')
UNKNOWN_SCHEMA: Final[JsonDict] = {'type': 'object', 'x-python-datatype': 'unknown'}
_ARRAY_DATATYPES: Final = (tuple, set, frozenset, range, deque)


def truncate_middle(text: str, max_length: int) -> str:
    """Shorten `text` to at most `max_length` characters by replacing its middle with `...`.

    Args:
        text: The text to shorten.
        max_length: The longest result allowed, at least 3.

    Returns:
        `text` itself when short enough, else its start and end joined by `...`.
    """
    if len(text) <= max_length:
        return text
    keep = max_length - 3
    head = (keep + 1) // 2
    return text[:head] + '...' + text[len(text) - (keep - head) :]


def safe_repr(value: Any, max_length: int = MAX_STRING_LENGTH) -> str:
    """Return `repr(value)` cut to `max_length`, or `<unrepresentable ClassName>` when `__repr__` raises.

    Args:
        value: Any object.
        max_length: The longest result allowed.

    Returns:
        A string that never raises to produce.
    """
    try:
        text = repr(value)
        if type(text) is not str:  # a __repr__ returning a str subclass could lie about its length
            text = str.__str__(text)
    except Exception:
        return f'<unrepresentable {type(value).__name__}>'
    return truncate_middle(text, max_length)


_LEAF_SCHEMAS: Final[dict[type[Any], JsonDict]] = {
    Decimal: {'type': 'string', 'format': 'decimal', 'x-python-datatype': 'Decimal'},
    datetime.datetime: {'type': 'string', 'format': 'date-time', 'x-python-datatype': 'datetime'},
    datetime.date: {'type': 'string', 'format': 'date', 'x-python-datatype': 'date'},
    datetime.time: {'type': 'string', 'format': 'time', 'x-python-datatype': 'time'},
    # The value is a number of seconds; the established SDK's schema still says string, and the backend expects it.
    datetime.timedelta: {'type': 'string', 'x-python-datatype': 'timedelta'},
    uuid.UUID: {'type': 'string', 'format': 'uuid'},
    re.Pattern: {'type': 'string', 'format': 'regex'},
    ipaddress.IPv4Address: {'type': 'string', 'format': 'ipv4'},
    ipaddress.IPv6Address: {'type': 'string', 'format': 'ipv6'},
    ipaddress.IPv4Interface: {'type': 'string', 'format': 'ipv4interface'},
    ipaddress.IPv6Interface: {'type': 'string', 'format': 'ipv6interface'},
    ipaddress.IPv4Network: {'type': 'string', 'format': 'ipv4network'},
    ipaddress.IPv6Network: {'type': 'string', 'format': 'ipv6network'},
}
_LEAF_ENCODERS: Final[dict[type[Any], Callable[[Any], Any]]] = {
    datetime.datetime: datetime.datetime.isoformat,
    datetime.date: datetime.date.isoformat,
    datetime.time: datetime.time.isoformat,
    datetime.timedelta: datetime.timedelta.total_seconds,
    re.Pattern: lambda pattern: pattern.pattern,
}


class Encoder:
    """One walk over one attribute value, producing its JSON-ready value and its schema together."""

    def __init__(self) -> None:
        self.budget = MAX_JSON_SIZE
        self.path: set[int] = set()  # ids of the containers being walked, to spot cycles

    def encode(self, obj: Any, depth: int = 0) -> tuple[JsonValue, JsonDict]:
        cls = cast('type[Any]', type(obj))  # not obj.__class__, which a proxy may override and make raise
        if obj is None or cls is bool:
            self.budget -= 4
            return obj, {}
        if cls is str:
            return self._string(obj), {}
        if cls is int or cls is float:
            return self._number(obj), {}
        if depth >= MAX_DEPTH:
            return self._string(f'<{cls.__name__} nested too deeply>'), UNKNOWN_SCHEMA
        if id(obj) in self.path:
            return self._string(f'<circular reference to {cls.__name__}>'), UNKNOWN_SCHEMA
        self.path.add(id(obj))
        try:
            return self._dispatch(obj, cls, depth + 1)
        except Exception:
            return self._string(safe_repr(obj)), UNKNOWN_SCHEMA
        finally:
            self.path.discard(id(obj))

    def _string(self, text: str) -> str:
        text = truncate_middle(text, min(MAX_STRING_LENGTH, max(self.budget, 64)))
        self.budget -= len(text) + 2
        return text

    def _number(self, number: float) -> JsonValue:
        self.budget -= 8
        if isinstance(number, int):
            if number.bit_length() > 14_000:  # str() refuses ints over 4300 digits by default
                return self._string(f'<int with {number.bit_length()} bits>')
        elif not math.isfinite(number):
            return str(number)  # 'nan', 'inf' or '-inf': JSON has no token for them
        return number

    def _dispatch(self, obj: Any, cls: type[Any], depth: int) -> tuple[JsonValue, JsonDict]:
        if cls is list or cls is tuple or isinstance(obj, (Set, range, deque)):
            return self._array(cast('Iterable[Any]', obj), cls, depth)
        if isinstance(obj, Mapping):
            return self._mapping(cast('Mapping[Any, Any]', obj), cls, depth)
        if sys.modules.get('sqlalchemy') is not None and _is_sqlalchemy_instance(cls):
            return self._sqlalchemy(obj, depth)
        if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
            names = [f.name for f in dataclasses.fields(obj) if f.repr]  # `repr=False` fields stay private
            return self._object(obj, 'dataclass', names, depth)
        pydantic = sys.modules.get('pydantic')
        if pydantic is not None and isinstance(obj, pydantic.BaseModel):
            return self._pydantic_model(obj, depth)
        if not isinstance(obj, type) and hasattr(cls, '__attrs_attrs__'):
            return self._object(obj, 'attrs', [a.name for a in cls.__attrs_attrs__], depth)
        if isinstance(obj, Enum):
            return self._enum(obj, cls, depth)
        leaf = _describe_leaf(obj, cls) or describe_array(obj, lambda label: self.encode(label, depth)[0])
        if leaf is not None:
            return self.encode(leaf[0], depth)[0], leaf[1]
        if isinstance(obj, Sequence):
            return self._array(cast('Sequence[Any]', obj), cls, depth)
        return self._string(safe_repr(obj)), UNKNOWN_SCHEMA

    def _items(self, items: Iterable[Any], depth: int) -> tuple[list[JsonValue], list[JsonDict]]:
        values: list[JsonValue] = []
        schemas: list[JsonDict] = []
        for item in islice(items, MAX_ITEMS):
            if self.budget <= 0:
                break
            value, schema = self.encode(item, depth)
            values.append(value)
            schemas.append(schema)
        return values, schemas

    def _array(self, obj: Iterable[Any], cls: type[Any], depth: int) -> tuple[JsonValue, JsonDict]:
        schema: JsonDict = {'type': 'array'}
        if cls is not list:
            datatype = next((t.__name__ for t in _ARRAY_DATATYPES if isinstance(obj, t)), 'Sequence')
            schema['x-python-datatype'] = datatype
            if datatype == 'Sequence':
                schema['title'] = cls.__name__
        total = len(obj) if isinstance(obj, Sized) else 0
        is_set = isinstance(obj, Set)
        if is_set and total <= MAX_ITEMS:
            with contextlib.suppress(Exception):  # unorderable members keep their iteration order
                obj = sorted(obj)
        values, schemas = self._items(obj, depth)
        if total > len(values):
            values.append(self._string(f'<{total - len(values)} more items>'))
        # Like the established SDK, sets get no item schemas, and plain JSON items need none.
        if not is_set and any(s not in _PLAIN_SCHEMAS for s in schemas):
            if all(s == schemas[0] for s in schemas) and total == len(schemas):
                schema['items'] = schemas[0]
            else:
                schema['prefixItems'] = schemas
        return values, schema

    def _mapping(self, obj: Mapping[Any, Any], cls: type[Any], depth: int) -> tuple[JsonValue, JsonDict]:
        result: dict[str, JsonValue] = {}
        properties: JsonDict = {}
        for key, item in islice(obj.items(), MAX_ITEMS):
            if self.budget <= 0:
                break
            key = self._string(key if type(key) is str else safe_repr(key, 200))
            result[key], schema = self.encode(item, depth)
            if schema not in _PLAIN_SCHEMAS:
                properties[key] = schema
        if len(obj) > len(result):
            result['...'] = self._string(f'<{len(obj) - len(result)} more items>')
        schema: JsonDict = {'type': 'object'}
        if cls is not dict:
            schema.update({'title': cls.__name__, 'x-python-datatype': 'Mapping'})
        if properties:
            schema['properties'] = properties
        return result, schema

    def _object(
        self, obj: Any, datatype: str, names: list[str], depth: int, unloaded: Set[str] = frozenset()
    ) -> tuple[JsonValue, JsonDict]:
        values, schemas = self._items((_DEFERRED if name in unloaded else getattr(obj, name) for name in names), depth)
        result: dict[str, JsonValue] = dict(zip(names, values, strict=False))
        if len(names) > len(values):
            result['...'] = self._string(f'<{len(names) - len(values)} more items>')
        schema: JsonDict = {'type': 'object', 'title': type(obj).__name__, 'x-python-datatype': datatype}
        properties = {name: s for name, s in zip(names, schemas, strict=False) if s not in _PLAIN_SCHEMAS}
        if properties:
            schema['properties'] = properties
        return result, schema

    def _pydantic_model(self, model: Any, depth: int) -> tuple[JsonValue, JsonDict]:
        # The JSON comes from model_dump() so custom serializers apply; the schema comes from the field values,
        # which still carry their Python types.
        fields: dict[str, Any] = model.__class__.model_fields
        extra: dict[str, Any] = model.model_extra or {}
        names = [*fields, *extra]
        budget = self.budget
        _, schema = self._object(model, 'PydanticModel', names, depth)
        self.budget = budget
        dumped = model.model_dump(warnings=False)
        value, _ = self.encode(dumped, depth)
        return value, schema

    def _sqlalchemy(self, obj: Any, depth: int) -> tuple[JsonValue, JsonDict]:
        # Only what is loaded is read: reading an unloaded attribute would run a query (lazy load, deferred column
        # or expired attribute) from inside telemetry.
        state = sys.modules['sqlalchemy'].inspect(obj)
        names: list[str] = list(state.mapper.attrs.keys())
        return self._object(obj, 'sqlalchemy', names, depth, unloaded=frozenset(state.unloaded))

    def _enum(self, member: Enum, cls: type[Any], depth: int) -> tuple[JsonValue, JsonDict]:
        values: list[Any] = [m.value for m in islice(cast('Iterable[Enum]', cls), MAX_ITEMS)]
        kinds: set[type[Any]] = {type(v) for v in values}
        kind = _ENUM_TYPES.get(kinds.pop(), 'object') if len(kinds) == 1 else 'object'
        schema: JsonDict = {'type': kind, 'title': cls.__name__, 'x-python-datatype': 'Enum'}
        schema['enum'] = [self.encode(v, depth)[0] for v in values]
        return self.encode(member.value, depth)[0], schema


_DEFERRED: Final = '<deferred>'
"""What an ORM attribute that is not loaded is written as."""


def _is_sqlalchemy_instance(cls: type[Any]) -> bool:
    """Whether `cls` is a class mapped by SQLAlchemy's ORM (its instances carry an instance state)."""
    return getattr(cls, '_sa_class_manager', None) is not None


def _describe_leaf(obj: Any, cls: type[Any]) -> tuple[Any, JsonDict] | None:
    """Return a simpler stand-in for `obj` (usually its text) and the schema naming its type, if it is known."""
    for base in cls.__mro__[:-1]:
        schema = _LEAF_SCHEMAS.get(base)
        if schema is not None:
            return _LEAF_ENCODERS.get(base, str)(obj), schema
    if isinstance(obj, (bytes, bytearray)):
        datatype = 'bytearray' if isinstance(obj, bytearray) else 'bytes'
        schema = {'type': 'string', 'x-python-datatype': datatype}
        if cls.__name__ != datatype:
            schema['title'] = cls.__name__
        return _decode_bytes(bytes(obj)), schema
    if isinstance(obj, PurePath):
        return str(obj), {'type': 'string', 'format': 'path', 'x-python-datatype': cls.__name__}
    if isinstance(obj, BaseException):
        return str(obj), {'type': 'object', 'title': cls.__name__, 'x-python-datatype': 'Exception'}
    if isinstance(obj, GeneratorType):  # never consumed: iterating would steal the caller's items
        return safe_repr(obj), {'type': 'array', 'title': cls.__name__, 'x-python-datatype': 'generator'}
    if isinstance(obj, (str, int, float)):  # subclasses, e.g. numpy.float64: plain values of their base type
        return builtin_value(obj), {}
    return _pydantic_leaf(obj)


def builtin_value(obj: str | int | float) -> str | int | float:
    if isinstance(obj, str):
        return str.__str__(obj)
    return int.__int__(obj) if isinstance(obj, int) else float.__float__(obj)


def _decode_bytes(data: bytes) -> str:
    try:
        return data.decode('utf-8')
    except UnicodeDecodeError:
        return repr(data)[2:-1]  # the escapes of bytes' repr, without b'...'


def _pydantic_leaf(obj: Any) -> tuple[Any, JsonDict] | None:
    pydantic = sys.modules.get('pydantic')
    if pydantic is None:
        return None
    for name in ('SecretStr', 'SecretBytes', 'NameEmail'):
        if isinstance(obj, getattr(pydantic, name)):
            return str(obj), {'type': 'string', 'x-python-datatype': name}
    core = sys.modules.get('pydantic_core')
    is_core_url = core is not None and isinstance(obj, (core.Url, core.MultiHostUrl))
    if isinstance(obj, pydantic.AnyUrl):
        # Since pydantic 2.10 `AnyUrl` is its own class; before, it was `pydantic_core.Url`, written `Url`.
        return str(obj), {'type': 'string', 'x-python-datatype': 'Url' if is_core_url else 'AnyUrl'}
    if is_core_url:
        return str(obj), {'type': 'string', 'x-python-datatype': 'Url'}
    return None


_JSON_ENCODER: Final = json.JSONEncoder(separators=_JSON_SEPARATORS)
"""What `json.dumps(value, separators=...)` uses, built once instead of on every call."""


def dumps(value: Any) -> str:
    return _JSON_ENCODER.encode(value)


def json_dumps_safe(value: Any) -> str:
    """Encode any value as compact JSON, the way non-primitive attributes are stored.

    Args:
        value: Any object; unknown types become their `repr()`.

    Returns:
        The JSON text, bounded by the module's size limits. Never raises.
    """
    return encode_complex(value)[0]


def encode_complex(value: Any) -> tuple[str, JsonDict]:
    try:
        encoded, schema = Encoder().encode(value)
        return dumps(encoded), schema
    except Exception:  # e.g. a repr so deep that even placeholders cannot be built
        return dumps(f'<unrepresentable {type(value).__name__}>'), UNKNOWN_SCHEMA
