from __future__ import annotations

import asyncio
import sys
import warnings
from contextlib import AbstractContextManager, nullcontext
from types import SimpleNamespace
from typing import Any

import executing
import pytest

import logfire
from logfire._internal import formatting
from logfire._internal.formatting import (
    MAX_FORMATTED_VALUE_LENGTH,
    FormattingFailedWarning,
    InspectArgumentsFailedWarning,
    format_message,
    inspect_fstring,
)
from logfire.testing import CaptureLogfire

from .conftest import needs_fstring_inspection


def inspect(message: str) -> tuple[str, dict[str, Any]] | None:
    """Stand-in for `logfire.info(message)`: inspects the f-string in the caller's call."""
    return inspect_fstring(sys._getframe(1), message)  # pyright: ignore[reportPrivateUsage]


class Logger:
    def info(self, message: str) -> tuple[str, dict[str, Any]] | None:
        return inspect_fstring(sys._getframe(1), message)  # pyright: ignore[reportPrivateUsage]

    def span(self, message: str) -> AbstractContextManager[tuple[str, dict[str, Any]] | None]:
        return nullcontext(inspect_fstring(sys._getframe(1), message))  # pyright: ignore[reportPrivateUsage]


class RaisingFormat:
    def __format__(self, spec: str) -> str:
        raise RuntimeError('no format')


class RaisingRepr:
    def __repr__(self) -> str:
        raise RuntimeError('no repr')


def test_named_fields_are_filled_from_attributes() -> None:
    assert format_message('hello {name}, you are {age}', {'name': 'Ada', 'age': 36}) == 'hello Ada, you are 36'


def test_str_values_go_in_unquoted_and_others_through_format() -> None:
    attributes = {'s': 'text', 'l': ['a'], 'f': 0.5}

    assert format_message('{s} {l} {f}', attributes) == "text ['a'] 0.5"


def test_format_specs_and_conversions_are_applied() -> None:
    attributes = {'n': 3.14159, 's': 'hi', 'u': 'é'}

    assert format_message('{n:.2f} {s:>4} {s!r} {s!s} {u!a} {s!r:>6}', attributes) == "3.14   hi 'hi' hi '\\xe9'   'hi'"


def test_spec_fields_are_filled_too() -> None:
    assert format_message('{n:>{width}}', {'n': 1, 'width': 3}) == '  1'


def test_attribute_and_index_lookups_follow_str_format_rules() -> None:
    attributes = {'user': SimpleNamespace(name='Ada', tags=['x', 'y']), 'd': {'key': 1}}

    assert format_message('{user.name} {user.tags[1]} {d[key]}', attributes) == 'Ada y 1'


def test_a_whole_field_name_given_as_attribute_wins_over_lookups() -> None:
    assert format_message('{a.b}', {'a.b': 'whole'}) == 'whole'


def test_self_documenting_fields_render_name_equals_value() -> None:
    attributes = {'name': 'Ada', 'n': 2, 'obj': SimpleNamespace(x=1)}

    assert format_message('{name=} {n=:>3} {name=!r} {obj.x=}', attributes) == "name=Ada n=  2 name='Ada' obj.x=1"


def test_none_renders_as_none_like_str_format() -> None:
    assert format_message('{a} {a!r} {a=}', {'a': None}) == 'None None a=None'


def test_escaped_braces_stay_literal() -> None:
    assert format_message('{{literal}} {x}', {'x': 1}) == '{literal} 1'


def test_long_values_are_cut_with_their_middle_elided() -> None:
    message = format_message('<{s}> <{l}>', {'s': 'a' * 5_000, 'l': list(range(5_000))})

    short_s, short_l = message[1:-1].split('> <')
    assert len(short_s) == len(short_l) == MAX_FORMATTED_VALUE_LENGTH
    assert short_s.startswith('aaa') and '...' in short_s
    assert short_l.startswith('[0, 1') and short_l.endswith('4999]')


def test_parsed_templates_are_cached() -> None:
    format_message('cache me {x}', {'x': 1})
    hits = formatting._parse.cache_info().hits  # pyright: ignore[reportPrivateUsage]

    assert format_message('cache me {x}', {'x': 2}) == 'cache me 2'
    assert formatting._parse.cache_info().hits == hits + 1  # pyright: ignore[reportPrivateUsage]


def test_very_long_templates_are_formatted_without_being_cached() -> None:
    template = 'x' * 5_000 + '{y}'
    size = formatting._parse.cache_info().currsize  # pyright: ignore[reportPrivateUsage]

    assert format_message(template, {'y': 1}) == 'x' * 5_000 + '1'
    assert formatting._parse.cache_info().currsize == size  # pyright: ignore[reportPrivateUsage]


@pytest.mark.parametrize(
    'template,attributes,problem',
    [
        pytest.param('hello {name}', {}, "the attribute 'name' was not given", id='missing_name'),
        pytest.param('{user.name}', {}, "the attribute 'user' was not given", id='missing_root'),
        pytest.param('{', {}, "Single '{' encountered in format string", id='lone_open_brace'),
        pytest.param('}', {}, "Single '}' encountered in format string", id='lone_close_brace'),
        pytest.param('{0}', {}, 'positional fields like {0} are not supported', id='positional'),
        pytest.param('{}', {}, 'positional fields like {} are not supported', id='empty_field'),
        pytest.param('{a!x}', {'a': 1}, 'the field {a!x} has an unknown conversion; use !r, !s or !a', id='conversion'),
        pytest.param(
            '{a:q}',
            {'a': 1},
            "formatting 'a' with the spec 'q' raised ValueError: Unknown format code 'q'",
            id='bad_spec',
        ),
        pytest.param(
            '{a}', {'a': RaisingFormat()}, "formatting 'a' raised RuntimeError: no format", id='raising_format'
        ),
        pytest.param(
            '{a!r}', {'a': RaisingRepr()}, "converting 'a' with !r raised RuntimeError: no repr", id='raising_repr'
        ),
        pytest.param(
            '{a.missing}',
            {'a': 1},
            "looking up 'a.missing' raised AttributeError: 'int' object has no attribute 'missing'",
            id='bad_attribute',
        ),
        pytest.param(
            '{a[3]}', {'a': []}, "looking up 'a[3]' raised IndexError: list index out of range", id='bad_index'
        ),
        pytest.param('{a.}', {'a': 1}, 'the field {a.} is malformed: an attribute name after "." is empty', id='dot'),
        pytest.param('{a[0]x}', {'a': [1]}, 'the field {a[0]x} is malformed: only "." or "[" may follow "]"'),
        pytest.param(
            '{a:{b:{c}}}', {'a': 1, 'b': 2, 'c': 3}, 'the format spec of {b} nests fields more than one level deep'
        ),
    ],
)
def test_a_template_that_cannot_be_filled_becomes_the_message_with_one_warning(
    template: str, attributes: dict[str, Any], problem: str
) -> None:
    with pytest.warns(FormattingFailedWarning) as record:
        message = format_message(template, attributes)

    assert message == template
    assert len(record) == 1
    assert str(record[0].message).startswith(f'Formatting of the message {template!r} failed: {problem}')


def test_formatting_warning_points_at_the_callers_line() -> None:
    with pytest.warns(FormattingFailedWarning) as record:
        format_message('{missing}', {})

    assert record[0].filename == __file__


def test_fstring_becomes_its_template_and_values() -> None:
    name, n = 'Ada', 2

    result = inspect(f'hello {name} {n + 1}')

    assert result == ('hello {name} {n + 1}', {'name': 'Ada', 'n + 1': 3})


def test_fstring_keeps_expressions_as_written() -> None:
    n = 2

    result = inspect(f'{n+1} {n  *  2}')  # fmt: skip

    assert result == ('{n+1} {n  *  2}', {'n+1': 3, 'n  *  2': 4})


def test_fstring_specs_and_conversions_stay_in_the_template() -> None:
    x, width, name = 3.14159, 8, 'Ada'

    result = inspect(f'{x:.2f} {name!r} {x:>{width}.1f}')

    assert result == ('{x:.2f} {name!r} {x:>{width}.1f}', {'x': 3.14159, 'name': 'Ada', 'width': 8})


@needs_fstring_inspection
def test_fstring_self_documenting_field_expands_as_python_does() -> None:
    n = 2

    assert inspect(f'{n=} {n=:>3}') == ('n={n!r} n={n:>3}', {'n': 2})


@needs_fstring_inspection
def test_fstring_literal_braces_are_escaped_in_the_template() -> None:
    n = 1

    assert inspect(f'{{n}} {n}') == ('{{n}} {n}', {'n': 1})


@needs_fstring_inspection
def test_nested_fstring_becomes_one_attribute() -> None:
    name = 'Ada'

    assert inspect(f'hi {f"<{name}>"}') == ('hi {f"<{name}>"}', {'f"<{name}>"': '<Ada>'})


def test_fstring_templates_format_back_to_the_same_message() -> None:
    d, n, name, width = {'k': [1, 2, 3]}, len('ab'), 'Ada', 6
    message = f'{d["k"][1:2]} {n != 3} {name!r:>{width}} {n=} {f"{name}"} { {"a": n} } {{x}}'

    result = inspect(f'{d["k"][1:2]} {n != 3} {name!r:>{width}} {n=} {f"{name}"} { {"a": n} } {{x}}')

    assert result is not None
    assert format_message(*result) == message


def test_fstring_call_site_is_analysed_once(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[object] = []
    original = executing.Source.executing

    def counting(frame: Any) -> Any:
        calls.append(frame)
        return original(frame)

    monkeypatch.setattr(executing.Source, 'executing', counting)
    results = [inspect(f'item {i}') for i in range(3)]

    assert results == [('item {i}', {'i': 0}), ('item {i}', {'i': 1}), ('item {i}', {'i': 2})]
    assert len(calls) == 1


@needs_fstring_inspection
def test_a_plain_string_message_is_not_inspected() -> None:
    assert inspect('hello {name}') is None
    assert inspect('hello') is None


@needs_fstring_inspection
def test_fstring_given_as_msg_template_keyword_is_inspected() -> None:
    def info(msg_template: str) -> tuple[str, dict[str, Any]] | None:
        return inspect_fstring(sys._getframe(1), msg_template)  # pyright: ignore[reportPrivateUsage]

    n = 1

    assert info(msg_template=f'n is {n}') == ('n is {n}', {'n': 1})


@needs_fstring_inspection
def test_fstring_passed_to_a_method_is_inspected() -> None:
    logger, n = Logger(), 5

    assert logger.info(f'n is {n}') == ('n is {n}', {'n': 5})


def test_fstring_passed_to_a_span_in_a_with_statement_is_inspected() -> None:
    logger, n = Logger(), 5

    with logger.span(f'n is {n}') as result:
        pass

    assert result == ('n is {n}', {'n': 5})


def test_fstring_sees_closure_variables() -> None:
    outer = 'closed over'

    def inner() -> tuple[str, dict[str, Any]] | None:
        return inspect(f'{outer}')

    assert inner() == ('{outer}', {'outer': 'closed over'})


def test_fstring_in_code_without_source_warns_once_per_call_site() -> None:
    code = compile("result = inspect(f'n is {n}')", '<string>', 'exec')
    namespace: dict[str, Any] = {'inspect': inspect, 'n': 1}

    with pytest.warns(InspectArgumentsFailedWarning) as record:
        exec(code, namespace)
        exec(code, namespace)

    assert namespace['result'] is None
    assert len(record) == 1
    assert str(record[0].message).startswith(
        'Could not inspect the f-string message at <string>:1: its source code is not available'
    )
    assert 'The formatted string is used as the message' in str(record[0].message)
    assert record[0].filename == '<string>'


def test_fstring_whose_values_cannot_be_evaluated_again_warns_once() -> None:
    results: list[tuple[str, dict[str, Any]] | None] = []

    with pytest.warns(InspectArgumentsFailedWarning) as record:
        for _ in range(2):
            items = iter([1])
            results.append(inspect(f'{next(items)}'))

    assert results == [None, None]
    assert len(record) == 1
    assert 'evaluating its expressions again raised StopIteration' in str(record[0].message)


def test_fstring_with_await_is_not_evaluated_again() -> None:
    async def value() -> int:
        return 1

    async def main() -> tuple[str, dict[str, Any]] | None:
        return inspect(f'{await value()}')

    with pytest.warns(InspectArgumentsFailedWarning, match='await, yield or :='):
        assert asyncio.run(main()) is None


@needs_fstring_inspection
def test_a_message_that_does_not_match_the_fstring_is_not_inspected() -> None:
    def info(message: str) -> tuple[str, dict[str, Any]] | None:
        return inspect_fstring(sys._getframe(1), 'something else')  # pyright: ignore[reportPrivateUsage]

    n = 1

    with pytest.warns(InspectArgumentsFailedWarning, match='does not match the f-string'):
        assert info(f'n is {n}!') is None


def test_fstring_with_comprehensions_and_lambdas_over_local_names_is_inspected() -> None:
    factor, items = 10, [1, 2]

    result = inspect(f'{[i * factor for i in items]} {(lambda: factor)()}')

    assert result == (
        '{[i * factor for i in items]} {(lambda: factor)()}',
        {'[i * factor for i in items]': [10, 20], '(lambda: factor)()': 10},
    )


def test_failing_call_lookup_warns_and_returns_none(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(frame: Any) -> Any:
        raise RuntimeError('confused')

    monkeypatch.setattr(executing.Source, 'executing', broken)

    with pytest.warns(InspectArgumentsFailedWarning, match='finding the call in the source raised RuntimeError'):
        assert inspect(f'{broken}') is None


def test_unidentified_call_warns_and_returns_none(monkeypatch: pytest.MonkeyPatch) -> None:
    def nothing_found(frame: Any) -> Any:
        return SimpleNamespace(node=None, source=SimpleNamespace(text='source'))

    monkeypatch.setattr(executing.Source, 'executing', nothing_found)

    with pytest.warns(InspectArgumentsFailedWarning, match='the call could not be identified in the source'):
        assert inspect(f'{nothing_found}') is None


@needs_fstring_inspection
def test_two_fstring_logs_on_one_line_each_get_their_own_template_and_attributes(capfire: CaptureLogfire) -> None:
    user, order = 'ada', 42

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        _ = logfire.info(f'hello {user}'), logfire.info(f'order {order} placed')  # one source line

    assert caught == []
    first, second = (span['attributes'] for span in capfire.exporter.exported_spans_as_dict())
    assert (first['logfire.msg_template'], first['logfire.msg'], first['user']) == ('hello {user}', 'hello ada', 'ada')
    assert (second['logfire.msg_template'], second['logfire.msg'], second['order']) == (
        'order {order} placed',
        'order 42 placed',
        42,
    )
    assert 'user' not in second and 'order' not in first
