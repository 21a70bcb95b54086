"""Console stories that need a real process: env-var switches and the user's own logging left untouched."""

from __future__ import annotations

import textwrap
from pathlib import Path

from .conftest import clean_env, needs_fstring_inspection, run_python

SCRIPT = textwrap.dedent(
    """
    import logging
    import logfire

    root_handlers = list(logging.getLogger().handlers)
    uvicorn_handlers = list(logging.getLogger('uvicorn').handlers)
    logfire.configure(send_to_logfire=False)
    with logfire.span('outer {n}', n=1):
        logfire.info('hello {name}', name='world')
        logfire.warn('careful')
    assert logging.getLogger().handlers == root_handlers
    assert logging.getLogger('uvicorn').handlers == uvicorn_handlers
    """
)


def test_console_prints_spans_and_logs_to_stdout_without_colours_when_piped(tmp_path: Path) -> None:
    result = run_python(SCRIPT, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert [line[12:] for line in lines] == [' outer 1', '   hello world', '   careful']
    assert '\x1b[' not in result.stdout


def test_logfire_console_false_prints_nothing(tmp_path: Path) -> None:
    result = run_python(SCRIPT, env=clean_env(LOGFIRE_CONSOLE='false'), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == ''


def test_console_options_from_env_and_pyproject(tmp_path: Path) -> None:
    (tmp_path / 'pyproject.toml').write_text('[tool.logfire]\nconsole_include_timestamp = false\n')
    env = clean_env(LOGFIRE_CONSOLE_SPAN_STYLE='simple', LOGFIRE_CONSOLE_COLORS='always')
    result = run_python(SCRIPT, env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ['outer 1', 'hello world', '\x1b[33mcareful\x1b[0m']


def test_configure_does_not_touch_logging_handlers(tmp_path: Path) -> None:
    result = run_python(SCRIPT + "\nprint('handlers intact')\n", env=clean_env(LOGFIRE_CONSOLE='false'), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == 'handlers intact'


@needs_fstring_inspection
def test_code_without_source_warns_once_about_fstring_inspection(tmp_path: Path) -> None:
    code = (
        'import logfire\n'
        'logfire.configure(send_to_logfire=False, console=False)\n'
        "logfire.info('a {x}', x=1)\n"
        "logfire.info('b')\n"
        "logfire.warn('c')\n"
    )
    result = run_python(code, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stderr.count('InspectArgumentsFailedWarning') == 1
    assert 'inspect_arguments=False' in result.stderr
