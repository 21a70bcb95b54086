from __future__ import annotations

import json
import math
import re
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from enum import Enum, IntEnum
from ipaddress import IPv4Address
from pathlib import PurePosixPath
from types import SimpleNamespace
from typing import Any
from uuid import UUID

import pydantic
import pytest

from logfire._internal.attributes import prepare_attributes
from logfire._internal.json_encoding import (
    MAX_DEPTH,
    MAX_ITEMS,
    MAX_JSON_SIZE,
    MAX_STRING_LENGTH,
    json_dumps_safe,
    safe_repr,
    truncate_middle,
)


def encode(value: Any) -> tuple[Any, dict[str, Any]]:
    """The stored attribute and the schema of one value passed as `x`."""
    attributes, schema = prepare_attributes({'x': value})
    assert schema is not None
    return attributes.get('x'), json.loads(schema)['properties']['x']


@dataclass(frozen=True)
class Point:
    x: int


@dataclass
class Line:
    start: Point
    end: Point


class Model(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra='allow')
    name: str
    when: datetime
    url: pydantic.AnyUrl


class Color(Enum):
    RED = 1
    BLUE = 2


class Mixed(Enum):
    NUMBER = 1
    TEXT = 'a'


class Size(IntEnum):
    SMALL = 1


class Name(str):
    pass


class MyBytes(bytes):
    pass


class MyMapping(Mapping[str, Any]):
    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data

    def __getitem__(self, key: str) -> Any:
        return self.data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.data)

    def __len__(self) -> int:
        return len(self.data)


class Pair(Sequence[int]):
    def __getitem__(self, index: Any) -> Any:
        return (1, 2)[int(index)]

    def __len__(self) -> int:
        return 2


class Thing:
    def __repr__(self) -> str:
        return 'Thing()'


class BadRepr:
    def __repr__(self) -> str:
        raise RuntimeError('no repr')


class BadStr(Exception):
    def __str__(self) -> str:
        raise RuntimeError('no str')


def test_primitives_are_kept_as_they_are_with_empty_schemas() -> None:
    attributes, schema = prepare_attributes({'s': 'text', 'b': True, 'i': -(2**63), 'f': 1.5})

    assert attributes == {'s': 'text', 'b': True, 'i': -(2**63), 'f': 1.5}
    assert schema == '{"type":"object","properties":{"s":{},"b":{},"i":{},"f":{}}}'


def test_no_attributes_give_no_schema() -> None:
    assert prepare_attributes({}) == ({}, None)


def test_primitive_only_schema_is_built_once_per_tuple_of_keys() -> None:
    first = prepare_attributes({'cached_a': 1, 'cached_b': 'x'})[1]
    second = prepare_attributes({'cached_a': 2, 'cached_b': 'y'})[1]

    assert first is second


def test_schema_keys_are_json_escaped() -> None:
    schema = prepare_attributes({'say "hi"': 1})[1]

    assert schema is not None
    assert json.loads(schema) == {'type': 'object', 'properties': {'say "hi"': {}}}


def test_none_values_are_json_null_with_a_null_schema() -> None:
    attributes, schema = prepare_attributes({'a': None, 'b': 1, 'c': None})

    assert attributes == {'a': 'null', 'b': 1, 'c': 'null'}
    assert schema == '{"type":"object","properties":{"a":{"type":"null"},"b":{},"c":{"type":"null"}}}'


def test_ints_beyond_64_bits_become_their_decimal_text_with_a_warning() -> None:
    with pytest.warns(UserWarning, match='9223372036854775808 does not fit in 64 bits') as caught:
        assert encode(2**63) == ('9223372036854775808', {'type': 'integer', 'x-python-datatype': 'int'})
    assert caught[0].filename == __file__
    with pytest.warns(UserWarning, match='64 bits'):
        assert encode(-(2**63) - 1) == ('-9223372036854775809', {'type': 'integer', 'x-python-datatype': 'int'})
    assert encode([2**63]) == ('[9223372036854775808]', {'type': 'array'})  # JSON numbers have no such limit


def test_nan_and_infinities_become_their_text() -> None:
    number = {'type': 'number', 'x-python-datatype': 'float'}

    assert encode(float('nan')) == ('nan', number)
    assert encode(float('inf')) == ('inf', number)
    assert encode(float('-inf')) == ('-inf', number)


@pytest.mark.parametrize(
    'value',
    [
        pytest.param([math.nan, math.inf, -math.inf], id='list'),
        pytest.param((math.nan, math.inf, -math.inf), id='tuple'),
        pytest.param([[math.nan, math.inf, -math.inf]], id='nested_list'),
    ],
)
def test_nan_and_infinities_inside_json_keep_it_valid_json(value: Any) -> None:
    stored, _ = encode(value)

    parsed = json.loads(stored, parse_constant=lambda token: pytest.fail(f'invalid JSON token {token}'))
    assert json.dumps(parsed) in ('["nan", "inf", "-inf"]', '[["nan", "inf", "-inf"]]')
    assert json.loads(encode({'v': math.nan, 'ok': 1.5})[0]) == {'v': 'nan', 'ok': 1.5}


def generator() -> Iterator[int]:
    yield 1  # pragma: no cover


@pytest.mark.parametrize(
    'value,expected_json,expected_schema',
    [
        pytest.param(['a', 1, True, None], '["a",1,true,null]', {'type': 'array'}, id='list'),
        pytest.param((1, 'b'), '[1,"b"]', {'type': 'array', 'x-python-datatype': 'tuple'}, id='tuple'),
        pytest.param({'b', 'a'}, '["a","b"]', {'type': 'array', 'x-python-datatype': 'set'}, id='set'),
        pytest.param(frozenset([2, 1]), '[1,2]', {'type': 'array', 'x-python-datatype': 'frozenset'}, id='frozenset'),
        pytest.param(deque([4, 5]), '[4,5]', {'type': 'array', 'x-python-datatype': 'deque'}, id='deque'),
        pytest.param(range(3), '[0,1,2]', {'type': 'array', 'x-python-datatype': 'range'}, id='range'),
        pytest.param({'k': 'v', 'n': 2}, '{"k":"v","n":2}', {'type': 'object'}, id='dict'),
        pytest.param(
            MyMapping({'k': 1}),
            '{"k":1}',
            {'type': 'object', 'title': 'MyMapping', 'x-python-datatype': 'Mapping'},
            id='mapping',
        ),
        pytest.param(
            Pair(), '[1,2]', {'type': 'array', 'title': 'Pair', 'x-python-datatype': 'Sequence'}, id='sequence'
        ),
        pytest.param(
            Point(1), '{"x":1}', {'type': 'object', 'title': 'Point', 'x-python-datatype': 'dataclass'}, id='dataclass'
        ),
        pytest.param(
            Line(Point(1), Point(2)),
            '{"start":{"x":1},"end":{"x":2}}',
            {
                'type': 'object',
                'title': 'Line',
                'x-python-datatype': 'dataclass',
                'properties': {
                    'start': {'type': 'object', 'title': 'Point', 'x-python-datatype': 'dataclass'},
                    'end': {'type': 'object', 'title': 'Point', 'x-python-datatype': 'dataclass'},
                },
            },
            id='nested_dataclass',
        ),
        pytest.param(
            Model.model_validate({'name': 'n', 'when': datetime(2024, 1, 2), 'url': 'http://x.com', 'extra': Point(3)}),
            '{"name":"n","when":"2024-01-02T00:00:00","url":"http://x.com/","extra":{"x":3}}',
            {
                'type': 'object',
                'title': 'Model',
                'x-python-datatype': 'PydanticModel',
                'properties': {
                    'when': {'type': 'string', 'format': 'date-time', 'x-python-datatype': 'datetime'},
                    'url': {'type': 'string', 'x-python-datatype': 'AnyUrl'},
                    'extra': {'type': 'object', 'title': 'Point', 'x-python-datatype': 'dataclass'},
                },
            },
            id='pydantic_model',
        ),
        pytest.param(
            datetime(2024, 1, 2, 3, 4),
            '"2024-01-02T03:04:00"',
            {'type': 'string', 'format': 'date-time', 'x-python-datatype': 'datetime'},
            id='datetime',
        ),
        pytest.param(
            date(2024, 1, 2),
            '"2024-01-02"',
            {'type': 'string', 'format': 'date', 'x-python-datatype': 'date'},
            id='date',
        ),
        pytest.param(
            time(3, 4), '"03:04:00"', {'type': 'string', 'format': 'time', 'x-python-datatype': 'time'}, id='time'
        ),
        pytest.param(
            timedelta(days=1, seconds=3672), '90072.0', {'type': 'string', 'x-python-datatype': 'timedelta'}, id='delta'
        ),
        pytest.param(
            Decimal('1.70'), '"1.70"', {'type': 'string', 'format': 'decimal', 'x-python-datatype': 'Decimal'}, id='dec'
        ),
        pytest.param(
            pydantic.AnyUrl('http://x.com'),
            '"http://x.com/"',
            {'type': 'string', 'x-python-datatype': 'AnyUrl'},
            id='url',
        ),
        pytest.param(
            UUID('7265bc22-ccb0-4ee2-97f0-5dd206f01ae4'),
            '"7265bc22-ccb0-4ee2-97f0-5dd206f01ae4"',
            {'type': 'string', 'format': 'uuid'},
            id='uuid',
        ),
        pytest.param(
            Color.BLUE,
            '2',
            {'type': 'integer', 'title': 'Color', 'x-python-datatype': 'Enum', 'enum': [1, 2]},
            id='enum',
        ),
        pytest.param(
            Mixed.TEXT,
            '"a"',
            {'type': 'object', 'title': 'Mixed', 'x-python-datatype': 'Enum', 'enum': [1, 'a']},
            id='mixed_enum',
        ),
        pytest.param(
            Size.SMALL,
            '1',
            {'type': 'integer', 'title': 'Size', 'x-python-datatype': 'Enum', 'enum': [1]},
            id='int_enum',
        ),
        pytest.param(b'caf\xc3\xa9', '"caf\\u00e9"', {'type': 'string', 'x-python-datatype': 'bytes'}, id='utf8'),
        pytest.param(b'\x81', '"\\\\x81"', {'type': 'string', 'x-python-datatype': 'bytes'}, id='binary_bytes'),
        pytest.param(bytearray(b'ab'), '"ab"', {'type': 'string', 'x-python-datatype': 'bytearray'}, id='bytearray'),
        pytest.param(
            MyBytes(b'ab'),
            '"ab"',
            {'type': 'string', 'title': 'MyBytes', 'x-python-datatype': 'bytes'},
            id='bytes_subclass',
        ),
        pytest.param(
            PurePosixPath('/tmp/a.py'),
            '"/tmp/a.py"',
            {'type': 'string', 'format': 'path', 'x-python-datatype': 'PurePosixPath'},
            id='path',
        ),
        pytest.param(
            ValueError('boom'),
            '"boom"',
            {'type': 'object', 'title': 'ValueError', 'x-python-datatype': 'Exception'},
            id='exception',
        ),
        pytest.param(IPv4Address('127.0.0.1'), '"127.0.0.1"', {'type': 'string', 'format': 'ipv4'}, id='ipv4'),
        pytest.param(re.compile('a+'), '"a+"', {'type': 'string', 'format': 'regex'}, id='regex'),
        pytest.param(
            pydantic.SecretStr('hunter2'),
            '"**********"',
            {'type': 'string', 'x-python-datatype': 'SecretStr'},
            id='secret',
        ),
        pytest.param(Thing(), '"Thing()"', {'type': 'object', 'x-python-datatype': 'unknown'}, id='unknown_object'),
        pytest.param(
            {Point(1): 1}, '{"Point(x=1)":1}', {'type': 'object'}, id='dict_with_non_string_keys_uses_their_repr'
        ),
    ],
)
def test_non_primitive_values_are_stored_as_json_with_their_python_type(
    value: Any, expected_json: str, expected_schema: dict[str, Any]
) -> None:
    assert encode(value) == (expected_json, expected_schema)


def test_generators_are_stored_as_their_repr_and_never_consumed() -> None:
    gen = generator()

    stored, schema = encode(gen)

    assert stored == json.dumps(repr(gen))
    assert schema == {'type': 'array', 'title': 'generator', 'x-python-datatype': 'generator'}
    assert next(gen) == 1


def test_alike_items_share_one_schema_and_mixed_items_get_one_each() -> None:
    point = {'type': 'object', 'title': 'Point', 'x-python-datatype': 'dataclass'}

    assert encode([Point(1), Point(2)])[1] == {'type': 'array', 'items': point}
    assert encode(['a', Point(1)])[1] == {'type': 'array', 'prefixItems': [{}, point]}
    assert encode({'p': Point(1), 'n': 1})[1] == {'type': 'object', 'properties': {'p': point}}


def test_sets_of_unorderable_items_keep_their_order_and_get_no_item_schemas() -> None:
    stored, schema = encode({Point(1)})

    assert stored == '[{"x":1}]'
    assert schema == {'type': 'array', 'x-python-datatype': 'set'}


def test_str_int_and_float_subclasses_stay_native_values() -> None:
    class Ratio(float):
        pass

    attributes, schema = prepare_attributes({'n': Name('ada'), 'r': Ratio(0.5)})

    assert attributes == {'n': 'ada', 'r': 0.5}
    assert type(attributes['n']) is str and type(attributes['r']) is float
    assert schema == '{"type":"object","properties":{"n":{},"r":{}}}'


def test_pydantic_model_json_applies_its_serializers() -> None:
    class Secretive(pydantic.BaseModel):
        token: str

        @pydantic.field_serializer('token')
        def hide(self, token: str) -> str:
            return '***'

    assert encode(Secretive(token='abc')) == (
        '{"token":"***"}',
        {'type': 'object', 'title': 'Secretive', 'x-python-datatype': 'PydanticModel'},
    )


def test_attrs_classes_are_encoded_from_their_fields() -> None:
    class Attrs:
        __attrs_attrs__ = (SimpleNamespace(name='a'),)

        def __init__(self) -> None:
            self.a = 1

    assert encode(Attrs()) == ('{"a":1}', {'type': 'object', 'title': 'Attrs', 'x-python-datatype': 'attrs'})


def test_a_dataclass_class_is_not_mistaken_for_an_instance() -> None:
    assert encode(Point) == (json.dumps(repr(Point)), {'type': 'object', 'x-python-datatype': 'unknown'})


def test_cycles_are_marked_instead_of_recursed() -> None:
    loop: list[Any] = [1]
    loop.append(loop)
    own: dict[str, Any] = {}
    own['self'] = own

    assert encode(loop)[0] == '[1,"<circular reference to list>"]'
    assert encode(own)[0] == '{"self":"<circular reference to dict>"}'


def test_repeated_but_acyclic_values_are_encoded_each_time() -> None:
    shared = [1]

    assert encode([shared, shared])[0] == '[[1],[1]]'


def test_deep_nesting_stops_at_max_depth() -> None:
    deep: list[Any] = []
    inner = deep
    for _ in range(MAX_DEPTH * 100):
        inner.append([])
        inner = inner[0]

    stored = encode(deep)[0]

    assert stored == '[' * MAX_DEPTH + '"<list nested too deeply>"' + ']' * MAX_DEPTH


def test_long_containers_keep_max_items_and_count_the_rest() -> None:
    stored = json.loads(encode(list(range(MAX_ITEMS + 5)))[0])
    mapping = json.loads(encode({str(i): i for i in range(MAX_ITEMS + 2)})[0])

    assert stored[:MAX_ITEMS] == list(range(MAX_ITEMS))
    assert stored[MAX_ITEMS:] == ['<5 more items>']
    assert len(mapping) == MAX_ITEMS + 1
    assert mapping['...'] == '<2 more items>'


def test_long_strings_inside_json_are_cut_in_the_middle() -> None:
    stored = json.loads(encode(['a' * MAX_STRING_LENGTH + 'b' * MAX_STRING_LENGTH])[0])

    assert len(stored[0]) == MAX_STRING_LENGTH
    assert stored[0].startswith('aaa') and stored[0].endswith('bbb') and '...' in stored[0]


def test_json_of_one_value_stays_near_the_size_budget() -> None:
    huge = [{'text': 'x' * 5_000, 'n': list(range(500))} for _ in range(1_000)]

    stored = encode(huge)[0]

    assert MAX_JSON_SIZE / 2 < len(stored) < MAX_JSON_SIZE * 1.2
    assert json.loads(stored)[-1] == f'<{1_000 - len(json.loads(stored)) + 1} more items>'


def test_ints_too_long_to_print_become_a_placeholder() -> None:
    assert encode([10**5000])[0] == '["<int with 16610 bits>"]'


def test_raising_repr_becomes_an_unrepresentable_placeholder() -> None:
    assert encode(BadRepr()) == ('"<unrepresentable BadRepr>"', {'type': 'object', 'x-python-datatype': 'unknown'})
    assert encode([BadRepr()])[0] == '["<unrepresentable BadRepr>"]'


def test_exception_whose_str_raises_falls_back_to_its_repr() -> None:
    assert encode(BadStr('x'))[0] == '"BadStr(\'x\')"'


def test_dataclass_with_a_raising_field_falls_back_to_its_repr() -> None:
    @dataclass
    class Lazy:
        value: int

        def __getattribute__(self, name: str) -> Any:
            if name == 'value':
                raise RuntimeError('not loaded')
            return object.__getattribute__(self, name)

    stored, schema = encode(Lazy(1))

    assert stored == '"<unrepresentable Lazy>"'  # the dataclass repr reads the field too
    assert schema == {'type': 'object', 'x-python-datatype': 'unknown'}


def test_dataclass_properties_are_not_read() -> None:
    @dataclass
    class WithProperty:
        value: int

        @property
        def broken(self) -> int:
            raise RuntimeError('never read')

    assert encode(WithProperty(1))[0] == '{"value":1}'


def test_pydantic_model_whose_dump_fails_falls_back_to_its_repr() -> None:
    class Failing(pydantic.BaseModel):
        value: int

        @pydantic.field_serializer('value')
        def fail(self, value: int) -> int:
            raise ValueError('cannot dump')

    assert encode(Failing(value=1)) == ('"Failing(value=1)"', {'type': 'object', 'x-python-datatype': 'unknown'})


def test_json_dumps_safe_encodes_anything() -> None:
    assert json_dumps_safe({'when': date(2024, 1, 2), 'bad': BadRepr()}) == (
        '{"when":"2024-01-02","bad":"<unrepresentable BadRepr>"}'
    )


def test_safe_repr_cuts_long_reprs_and_survives_raising_ones() -> None:
    assert safe_repr('x' * 100, max_length=10) == "'xxx...xx'"
    assert safe_repr(BadRepr()) == '<unrepresentable BadRepr>'


def test_truncate_middle_keeps_start_and_end_within_the_limit() -> None:
    assert truncate_middle('abcdefghij', 10) == 'abcdefghij'
    assert truncate_middle('abcdefghijk', 10) == 'abcd...ijk'
    assert truncate_middle('abcdefghijk', 3) == '...'


def test_an_object_whose_class_attribute_raises_is_still_encoded() -> None:
    class Proxy:
        @property
        def __class__(self) -> type[Any]:  # pyright: ignore[reportIncompatibleMethodOverride]
            raise RuntimeError('detached')

        def __repr__(self) -> str:
            return 'Proxy()'

    attributes, schema = prepare_attributes({'top': Proxy(), 'nested': [Proxy()]})

    assert attributes == {'top': '"Proxy()"', 'nested': '["Proxy()"]'}
    assert schema is not None


def test_an_int_too_long_to_print_at_top_level_becomes_a_placeholder() -> None:
    with pytest.warns(UserWarning, match='64 bits'):
        assert encode(10**5000) == ('"<int with 16610 bits>"', {'type': 'object', 'x-python-datatype': 'unknown'})
