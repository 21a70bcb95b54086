from __future__ import annotations

import asyncio
import dataclasses
import io
import logging
import time
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import Span, TracerProvider
from opentelemetry.sdk.trace.id_generator import IdGenerator

from logfire._internal.constants import LEVEL_NUMBERS, LevelName
from logfire._internal.exporters.console import ConsoleSpanProcessor
from logfire._internal.options import ConsoleOptions

NOON = 1_704_110_400_000_000_000
"""2024-01-01 12:00:00 UTC, in nanoseconds."""

STACKTRACE = 'Traceback (most recent call last):\n  File "app.py", line 3, in handler\nValueError: boom\n'


@pytest.fixture(autouse=True)
def utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv('TZ', 'UTC')
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


class IncrementalIds(IdGenerator):
    def __init__(self) -> None:
        self.last = 0

    def generate_span_id(self) -> int:
        self.last += 1
        return self.last

    def generate_trace_id(self) -> int:
        return 1


def at(ms: float) -> int:
    """Nanoseconds `ms` milliseconds after noon."""
    return NOON + round(ms * 1_000_000)


class Terminal:
    """A tracer whose spans are printed by a `ConsoleSpanProcessor` into a string."""

    def __init__(self, options: ConsoleOptions | None = None, output: Any = None) -> None:
        options = options or ConsoleOptions()
        self.output = io.StringIO() if output is None else output
        provider = TracerProvider(id_generator=IncrementalIds(), shutdown_on_exit=False)
        provider.add_span_processor(ConsoleSpanProcessor(dataclasses.replace(options, output=self.output)))
        self.tracer = provider.get_tracer('test')

    def span(
        self,
        msg: str,
        start: float,
        *,
        parent: Span | None = None,
        level: LevelName = 'info',
        tags: tuple[str, ...] = (),
        span_type: str = 'span',
        **attributes: Any,
    ) -> Span:
        """Start a span the way logfire's span API does, `start` ms after noon."""
        attributes = {
            'logfire.msg': msg,
            'logfire.span_type': span_type,
            'logfire.level_num': LEVEL_NUMBERS[level],
            'logfire.tags': tags,
            **attributes,
        }
        context = None if parent is None else trace.set_span_in_context(parent)
        span = self.tracer.start_span(msg, context=context, attributes=attributes, start_time=at(start))
        assert isinstance(span, Span)
        return span

    def log(self, msg: str, when: float, *, exception: bool = False, **kwargs: Any) -> None:
        """Make a log: a span that ends the moment it starts."""
        log = self.span(msg, when, span_type='log', **kwargs)
        if exception:
            add_exception(log)
        log.end(end_time=at(when))

    @property
    def text(self) -> str:
        return self.output.getvalue()


def add_exception(span: Span) -> None:
    span.add_event(
        'exception',
        {'exception.type': 'ValueError', 'exception.message': 'boom', 'exception.stacktrace': STACKTRACE},
    )


def nested_request(terminal: Terminal) -> None:
    request = terminal.span('GET /items', 0)
    terminal.log('cache miss', 1.5, parent=request)
    query = terminal.span('SELECT items', 2, parent=request)
    terminal.log('42 rows', 5, parent=query)
    query.end(end_time=at(6))
    terminal.log('done', 7, parent=request)
    request.end(end_time=at(8))


def test_logs_are_indented_under_the_spans_they_were_made_in() -> None:
    terminal = Terminal()
    nested_request(terminal)
    assert terminal.text == (
        '12:00:00.000 GET /items\n'
        '12:00:00.001   cache miss\n'
        '12:00:00.002   SELECT items\n'
        '12:00:00.005     42 rows\n'
        '12:00:00.007   done\n'
    )


def test_indented_style_matches_show_parents_when_nothing_interleaves() -> None:
    indented = Terminal(ConsoleOptions(span_style='indented'))
    nested_request(indented)
    show_parents = Terminal(ConsoleOptions(span_style='show-parents'))
    nested_request(show_parents)
    assert indented.text == show_parents.text


def test_simple_style_prints_every_line_flush_left() -> None:
    terminal = Terminal(ConsoleOptions(span_style='simple'))
    nested_request(terminal)
    assert terminal.text == (
        '12:00:00.000 GET /items\n'
        '12:00:00.001 cache miss\n'
        '12:00:00.002 SELECT items\n'
        '12:00:00.005 42 rows\n'
        '12:00:00.007 done\n'
    )


def test_timestamps_can_be_left_out() -> None:
    terminal = Terminal(ConsoleOptions(include_timestamps=False))
    nested_request(terminal)
    assert terminal.text == 'GET /items\n  cache miss\n  SELECT items\n    42 rows\n  done\n'


def test_tags_follow_the_message_unless_turned_off() -> None:
    shown = Terminal()
    shown.log('deploy', 0, tags=('ops', 'prod'))
    hidden = Terminal(ConsoleOptions(include_tags=False))
    hidden.log('deploy', 0, tags=('ops', 'prod'))
    assert shown.text == '12:00:00.000 deploy [ops,prod]\n'
    assert hidden.text == '12:00:00.000 deploy\n'


def test_spans_from_plain_opentelemetry_use_their_name() -> None:
    terminal = Terminal()
    span = terminal.tracer.start_span('GET /health', start_time=at(0))
    child = terminal.tracer.start_span('db', context=trace.set_span_in_context(span), start_time=at(1))
    child.end(end_time=at(2))
    span.end(end_time=at(3))
    assert terminal.text == '12:00:00.000 GET /health\n12:00:00.001   db\n'


def test_always_colors_timestamps_tags_and_warnings_and_errors() -> None:
    terminal = Terminal(ConsoleOptions(colors='always'))
    terminal.log('fine', 0, tags=('a',))
    terminal.log('careful', 1, level='warn')
    terminal.log('broken', 2, level='error')
    terminal.log('gone', 3, level='fatal')
    assert terminal.text == (
        '\x1b[32m12:00:00.000 \x1b[0mfine\x1b[36m [a]\x1b[0m\n'
        '\x1b[32m12:00:00.001 \x1b[0m\x1b[33mcareful\x1b[0m\n'
        '\x1b[32m12:00:00.002 \x1b[0m\x1b[31mbroken\x1b[0m\n'
        '\x1b[32m12:00:00.003 \x1b[0m\x1b[31mgone\x1b[0m\n'
    )


def test_never_and_auto_on_a_string_buffer_print_no_escape_codes() -> None:
    for colors in ('never', 'auto'):
        terminal = Terminal(ConsoleOptions(colors=colors))
        terminal.log('broken', 0, level='error')
        assert terminal.text == '12:00:00.000 broken\n'


class FakeTty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_auto_colors_a_terminal_unless_no_color_is_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv('TERM', 'xterm-256color')
    monkeypatch.delenv('NO_COLOR', raising=False)
    colored = Terminal(ConsoleOptions(colors='auto', include_timestamps=False), output=FakeTty())
    colored.log('broken', 0, level='error')
    monkeypatch.setenv('NO_COLOR', '1')
    plain = Terminal(ConsoleOptions(colors='auto', include_timestamps=False), output=FakeTty())
    plain.log('broken', 0, level='error')
    assert colored.text == '\x1b[31mbroken\x1b[0m\n'
    assert plain.text == 'broken\n'


def test_verbose_adds_location_level_and_user_attributes() -> None:
    terminal = Terminal(ConsoleOptions(verbose=True))
    location: dict[str, Any] = {'code.filepath': 'app.py', 'code.lineno': 12, 'http.method': 'GET'}
    request = terminal.span('GET /items', 0, **location)
    encoded: dict[str, Any] = {
        'logfire.json_schema': '{"type":"object","properties":{"count":{},"user":{"type":"object"},'
        '"at":{"type":"string","format":"date-time"},"note":{},"missing":{}}}',
        'logfire.null_args': ('missing',),
    }
    terminal.log(
        'loaded',
        1,
        parent=request,
        level='warn',
        count=3,
        user='{"name":"Ada","roles":["admin","dev"]}',
        at='"2024-01-01T12:00:00"',
        note='{"not": "json-encoded"}',
        **encoded,
    )
    assert terminal.text == (
        '12:00:00.000 GET /items\n'
        '             │ app.py:12 info\n'
        "             │ http.method='GET'\n"
        '12:00:00.001   loaded\n'
        '               │ warn\n'
        '               │ count=3\n'
        "               │ user={'name': 'Ada', 'roles': ['admin', 'dev']}\n"
        "               │ at='2024-01-01T12:00:00'\n"
        '               │ note=\'{"not": "json-encoded"}\'\n'
        '               │ missing=None\n'
    )


def test_verbose_wraps_long_attribute_values_under_the_gutter() -> None:
    terminal = Terminal(ConsoleOptions(verbose=True, include_timestamps=False))
    terminal.log('big', 0, rows=tuple(f'row number {i:02d}' for i in range(8)))
    assert terminal.text == (
        'big\n'
        '│ info\n'
        '│ rows=(\n'
        "│          'row number 00',\n"
        "│          'row number 01',\n"
        "│          'row number 02',\n"
        "│          'row number 03',\n"
        "│          'row number 04',\n"
        "│          'row number 05',\n"
        "│          'row number 06',\n"
        "│          'row number 07'\n"
        '│      )\n'
    )


def test_lines_below_min_level_are_hidden_and_their_children_nest_under_the_printed_parent() -> None:
    terminal = Terminal(ConsoleOptions(min_log_level='warn', show_span_end=True))
    request = terminal.span('request', 0, level='warn')
    terminal.log('noise', 1, parent=request, level='debug')
    quiet = terminal.span('quiet work', 2, parent=request, level='info')
    terminal.log('disk almost full', 3, parent=quiet, level='warn')
    quiet.end(end_time=at(4))
    request.end(end_time=at(5))
    assert terminal.text == (
        '12:00:00.000 request\n12:00:00.003   disk almost full\n12:00:00.005 └ request done in 5.0ms\n'
    )


def test_debug_lines_print_when_min_level_allows() -> None:
    terminal = Terminal(ConsoleOptions(min_log_level='trace'))
    terminal.log('tiny detail', 0, level='trace')
    assert terminal.text == '12:00:00.000 tiny detail\n'


def test_a_log_with_an_exception_prints_the_traceback_under_a_gutter() -> None:
    terminal = Terminal()
    request = terminal.span('GET /items', 0)
    terminal.log('handler failed', 1, parent=request, level='error', exception=True)
    request.end(end_time=at(2))
    assert terminal.text == (
        '12:00:00.000 GET /items\n'
        '12:00:00.001   handler failed\n'
        '               │ ValueError: boom\n'
        '               │ Traceback (most recent call last):\n'
        '               │   File "app.py", line 3, in handler\n'
        '               │ ValueError: boom\n'
    )


def test_a_span_ending_in_error_prints_its_failure_and_traceback() -> None:
    terminal = Terminal(ConsoleOptions(colors='always', include_timestamps=False))
    request = terminal.span('GET /items', 0)
    add_exception(request)
    request.set_attribute('logfire.level_num', LEVEL_NUMBERS['error'])
    request.end(end_time=at(2.5))
    assert terminal.text == (
        'GET /items\n'
        '\x1b[31m└ GET /items failed after 2.5ms\x1b[0m\n'
        '\x1b[31m│ \x1b[0m\x1b[1;31mValueError: boom\x1b[0m\n'
        '\x1b[31m│ \x1b[0mTraceback (most recent call last):\n'
        '\x1b[31m│ \x1b[0m  File "app.py", line 3, in handler\n'
        '\x1b[31m│ \x1b[0mValueError: boom\n'
    )


def test_a_real_recorded_exception_prints_its_traceback() -> None:
    terminal = Terminal(ConsoleOptions(include_timestamps=False))
    log = terminal.span('failed', 0, span_type='log', level='error')
    try:
        raise KeyError('missing')
    except KeyError as exc:
        log.record_exception(exc)
    log.end(end_time=at(0))
    lines = terminal.text.splitlines()
    assert lines[:3] == ['failed', "│ KeyError: 'missing'", '│ Traceback (most recent call last):']
    assert lines[-1] == "│ KeyError: 'missing'"
    assert all(line.startswith('│ ') for line in lines[1:])


def interleaved_tasks(terminal: Terminal) -> None:
    """Two requests handled concurrently, as asyncio tasks do."""
    first = terminal.span('GET /a', 0, tags=('web',))
    second = terminal.span('GET /b', 1)
    query = terminal.span('query a', 2, parent=first)
    terminal.log('b found', 3, parent=second)
    terminal.log('a rows', 4, parent=query)
    terminal.log('a more rows', 5, parent=query)
    query.end(end_time=at(6))
    terminal.log('a finished', 7, parent=first)
    first.end(end_time=at(8))
    terminal.log('b finished', 9, parent=second)
    second.end(end_time=at(10))


def test_show_parents_reprints_the_context_of_interleaved_lines() -> None:
    terminal = Terminal()
    interleaved_tasks(terminal)
    assert terminal.text == (
        '12:00:00.000 GET /a [web]\n'
        '12:00:00.001 GET /b\n'
        '             GET /a [web]\n'
        '12:00:00.002   query a\n'
        '             GET /b\n'
        '12:00:00.003   b found\n'
        '             GET /a [web]\n'
        '               query a\n'
        '12:00:00.004     a rows\n'
        '12:00:00.005     a more rows\n'
        '12:00:00.007   a finished\n'
        '             GET /b\n'
        '12:00:00.009   b finished\n'
    )


def test_concurrent_asyncio_tasks_reprint_their_own_parents() -> None:
    terminal = Terminal(ConsoleOptions(include_timestamps=False))

    async def handle(path: str) -> None:
        request = terminal.span(f'GET {path}', 0)
        with trace.use_span(request, end_on_exit=True):
            await asyncio.sleep(0)
            terminal.log(f'{path} loaded', 1)
            await asyncio.sleep(0)
            terminal.log(f'{path} rendered', 2)

    async def main() -> None:
        await asyncio.gather(handle('/a'), handle('/b'))

    asyncio.run(main())
    assert terminal.text == (
        'GET /a\nGET /b\nGET /a\n  /a loaded\nGET /b\n  /b loaded\nGET /a\n  /a rendered\nGET /b\n  /b rendered\n'
    )


def test_reprinted_parents_are_dimmed() -> None:
    terminal = Terminal(ConsoleOptions(colors='always', include_timestamps=False))
    first = terminal.span('GET /a', 0)
    terminal.span('GET /b', 1)
    terminal.log('a rows', 2, parent=first)
    assert terminal.text == 'GET /a\nGET /b\n\x1b[2mGET /a\x1b[0m\n  a rows\n'


def test_indented_style_never_reprints_parents() -> None:
    terminal = Terminal(ConsoleOptions(span_style='indented', include_timestamps=False))
    interleaved_tasks(terminal)
    assert terminal.text == (
        'GET /a [web]\nGET /b\n  query a\n  b found\n    a rows\n    a more rows\n  a finished\n  b finished\n'
    )


def test_span_end_lines_show_duration_and_http_status() -> None:
    terminal = Terminal(ConsoleOptions(show_span_end=True))
    request = terminal.span('GET /items', 0)
    query = terminal.span('SELECT items', 1, parent=request)
    query.end(end_time=at(1.25))
    request.set_attribute('http.response.status_code', 200)
    request.end(end_time=at(3.2))
    slow = terminal.span('batch', 10)
    slow.set_attribute('http.status_code', 503)
    slow.end(end_time=at(10 + 2_500))
    hours = terminal.span('migration', 20_000)
    hours.end(end_time=at(20_000 + 125_300))
    assert terminal.text == (
        '12:00:00.000 GET /items\n'
        '12:00:00.001   SELECT items\n'
        '12:00:00.001   └ SELECT items done in 0.2ms\n'
        '12:00:00.003 └ GET /items done in 3.2ms (status 200)\n'
        '12:00:00.010 batch\n'
        '12:00:02.510 └ batch done in 2.50s (status 503)\n'
        '12:00:20.000 migration\n'
        '12:02:25.300 └ migration done in 2m05.3s\n'
    )


def test_span_end_of_an_interleaved_span_reprints_its_parents() -> None:
    terminal = Terminal(ConsoleOptions(show_span_end=True, include_timestamps=False))
    first = terminal.span('GET /a', 0)
    query = terminal.span('query a', 1, parent=first)
    terminal.span('GET /b', 2)
    query.end(end_time=at(3))
    assert terminal.text == 'GET /a\n  query a\nGET /b\nGET /a\n  └ query a done in 2.0ms\n'


def test_brackets_in_messages_print_literally() -> None:
    for colors in ('never', 'always'):
        terminal = Terminal(ConsoleOptions(colors=colors, include_timestamps=False))
        terminal.log('[bold]not bold[/bold] [red] :smile: [link=x]', 0)
        assert '[bold]not bold[/bold] [red] :smile: [link=x]\n' in terminal.text


def test_multiline_messages_stay_aligned_with_the_message_column() -> None:
    terminal = Terminal()
    request = terminal.span('GET /items', 0)
    terminal.log('first\nsecond', 1, parent=request)
    assert terminal.text == '12:00:00.000 GET /items\n12:00:00.001   first\n               second\n'


def test_characters_the_stream_cannot_encode_are_replaced() -> None:
    raw = io.BytesIO()
    stream = io.TextIOWrapper(raw, encoding='ascii')
    terminal = Terminal(ConsoleOptions(verbose=True, include_timestamps=False), output=stream)
    terminal.log('shipped 🚀 to café', 0, exception=True, level='error')
    stream.flush()
    assert raw.getvalue().decode('ascii') == (
        'shipped ? to caf?\n'
        '? error\n'
        '? ValueError: boom\n'
        '? Traceback (most recent call last):\n'
        '?   File "app.py", line 3, in handler\n'
        '? ValueError: boom\n'
    )


def test_no_output_means_the_current_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    provider = TracerProvider(id_generator=IncrementalIds(), shutdown_on_exit=False)
    provider.add_span_processor(ConsoleSpanProcessor(ConsoleOptions(include_timestamps=False)))
    tracer = provider.get_tracer('test')
    tracer.start_span('first', start_time=at(0)).end(end_time=at(1))
    assert capsys.readouterr().out == 'first\n'
    tracer.start_span('second', start_time=at(2)).end(end_time=at(3))
    assert capsys.readouterr().out == 'second\n'


class BrokenStream(io.StringIO):
    def write(self, s: str) -> int:
        raise OSError('disk full')


def test_printing_errors_never_reach_the_caller_and_are_reported_once(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr('logfire._internal.errors._reported', set[str]())
    terminal = Terminal(output=BrokenStream())
    with caplog.at_level(logging.WARNING, logger='logfire'):
        request = terminal.span('GET /items', 0)
        terminal.log('inside', 1, parent=request)
        request.end(end_time=at(2))
    assert len(caplog.records) == 1
    assert 'console' in caplog.records[0].message
    assert 'disk full' in caplog.records[0].message


def test_lines_of_a_logfire_instance_with_console_log_off_are_skipped() -> None:
    terminal = Terminal(ConsoleOptions(include_timestamps=False))
    request = terminal.span('GET /items', 0)
    console_log_off: dict[str, Any] = {'logfire.disable_console_log': True}
    quiet = terminal.span('quiet', 1, parent=request, **console_log_off)
    terminal.log('inside quiet', 2, parent=quiet)
    terminal.log('also quiet', 3, parent=quiet, **console_log_off)
    assert terminal.text == 'GET /items\n  inside quiet\n'


def test_ended_spans_are_forgotten() -> None:
    terminal = Terminal(ConsoleOptions(include_timestamps=False))
    request = terminal.span('GET /items', 0)
    request.end(end_time=at(1))
    # A late child of an ended span has no printed context left to nest under.
    terminal.log('late', 2, parent=request)
    assert terminal.text == 'GET /items\nlate\n'
