"""Stories about control characters from data on the console: shown escaped, never acted on by the terminal."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator

import pytest

import logfire
from logfire import ConsoleOptions

HOSTILE = 'a\x1b[2J\x1b]0;pwned\x07\r\n12:00:00.000 GET /admin\x9b31m\x00\x7f\tend'
"""Clear the screen, retitle the terminal, return to the line start to fake a log line, a C1 CSI, NUL, DEL, a tab."""

SGR = re.compile('\x1b\\[[0-9;]*m')
"""rich's own styling: Select Graphic Rendition sequences only."""

CONTROLS = re.compile('[\x00-\x08\x0b-\x1f\x7f-\x9f]')


@pytest.fixture
def output() -> Iterator[io.StringIO]:
    yield io.StringIO()


def print_hostile_things(output: io.StringIO, **options: object) -> str:
    instance = logfire.configure(
        local=True,
        send_to_logfire=False,
        metrics=False,
        console=ConsoleOptions(output=output, **{'include_timestamps': False, 'show_span_end': True, **options}),  # pyright: ignore[reportArgumentType]
    )
    try:
        with instance.span('outer {value}', value=HOSTILE, _tags=['tag\x1b[31m']):
            instance.info('log {value}', value=HOSTILE, **{'key\x1b[2J': 'v\x9b'})  # pyright: ignore[reportArgumentType]
            with instance.config.tracer_provider.get_tracer('plain').start_as_current_span(
                'plain otel \x1b]0;title\x07'
            ):
                pass
            try:
                raise ValueError(HOSTILE)
            except ValueError:
                instance.exception('failed')
    finally:
        instance.shutdown()
    return output.getvalue()


@pytest.mark.parametrize('span_style', ['simple', 'indented', 'show-parents'])
@pytest.mark.parametrize('verbose', [False, True])
@pytest.mark.parametrize('colors', ['never', 'always'])
def test_control_characters_from_data_are_printed_escaped_in_every_mode(
    output: io.StringIO, colors: str, span_style: str, verbose: bool
) -> None:
    text = print_hostile_things(output, colors=colors, span_style=span_style, verbose=verbose)

    styling = SGR.findall(text)
    assert bool(styling) is (colors == 'always')  # rich's own styling is untouched
    assert CONTROLS.findall(SGR.sub('', text)) == []  # nothing else a terminal would act on
    assert 'a\\x1b[2J\\x1b]0;pwned\\x07\\x0d' in text
    assert '\\x9b31m\\x00\\x7f\tend' in text
    assert 'tag\\x1b[31m' in text
    assert 'plain otel \\x1b]0;title\\x07' in text


def test_a_newline_inside_a_value_keeps_the_indentation(output: io.StringIO) -> None:
    text = print_hostile_things(output, colors='never', span_style='indented', include_timestamps=True)
    # The fake log line starts on a line of its own, under the message column: it cannot pass for a real one.
    fake = re.escape('log a\\x1b[2J\\x1b]0;pwned\\x07\\x0d\n' + ' ' * 15 + '12:00:00.000 GET /admin')
    assert re.search(r'^\d\d:\d\d:\d\d\.\d{3}   ' + fake, text, re.MULTILINE)
