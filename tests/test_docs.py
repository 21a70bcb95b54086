"""The documentation is executed: every Python block in `docs/` and in docstrings runs, and the generated
configuration reference covers every setting and every `LOGFIRE_*` variable the code reads.

`mkdocs build --strict` itself runs in CI (`make docs`), not here.
"""

from __future__ import annotations

import doctest
import importlib
import importlib.util
import inspect
import logging
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import httpx
import pytest
from pytest_examples import CodeExample, EvalExample, find_examples

from logfire._internal.configure import configure
from logfire._internal.executor_context import carries_context, carry_context_into_thread_pools
from logfire._internal.settings import LogfireSettings, env_names
from logfire.testing import CaptureLogfire

from .conftest import ROOT, clean_env
from .uvicorn_server import UvicornServer


def _load_hooks() -> ModuleType:
    spec = importlib.util.spec_from_file_location('docs_hooks', ROOT / 'docs' / 'hooks.py')
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


HOOKS = _load_hooks()
EXAMPLES = list(find_examples(ROOT / 'docs', ROOT / 'logfire'))


def _serves_http(example: CodeExample) -> bool:
    """A block that starts a server when run as a script is served under uvicorn instead of being executed."""
    return 'uvicorn.run(' in example.source


def _example_id(example: CodeExample) -> str:
    return f'{example.path.relative_to(ROOT)}:{example.start_line}'


@pytest.fixture
def undo_process_wide_patches() -> Iterator[None]:
    """Examples may instrument every httpx client or requests session, configure() thread pools or turn off the
    `logging` module's record fields: undo that."""
    logging_switches = logging.logProcesses, logging.logThreads, logging.logMultiprocessing
    yield
    logging.logProcesses, logging.logThreads, logging.logMultiprocessing = logging_switches
    from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor  # pyright: ignore[reportMissingTypeStubs]
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
    from opentelemetry.instrumentation.psycopg import PsycopgInstrumentor
    from opentelemetry.instrumentation.redis import RedisInstrumentor
    from opentelemetry.instrumentation.requests import RequestsInstrumentor
    from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor  # pyright: ignore[reportMissingTypeStubs]
    from opentelemetry.instrumentation.sqlite3 import SQLite3Instrumentor
    from opentelemetry.instrumentation.system_metrics import SystemMetricsInstrumentor

    for instrumentor in (
        HTTPXClientInstrumentor(),
        RequestsInstrumentor(),
        AsyncPGInstrumentor(),
        PsycopgInstrumentor(),
        RedisInstrumentor(),
        SQLAlchemyInstrumentor(),
        SQLite3Instrumentor(),
        SystemMetricsInstrumentor(),
    ):
        if instrumentor.is_instrumented_by_opentelemetry:
            instrumentor.uninstrument()
    carry_context_into_thread_pools(carries_context_before)


carries_context_before = carries_context()


@pytest.mark.parametrize('example', [e for e in EXAMPLES if not _serves_http(e)], ids=_example_id)
@pytest.mark.usefixtures('undo_process_wide_patches')
def test_python_example_runs(
    example: CodeExample, eval_example: EvalExample, capfire: CaptureLogfire, monkeypatch: pytest.MonkeyPatch
) -> None:
    # capfire restores the global configuration afterwards, whatever `configure()` calls the example makes;
    # pytest-examples runs the block as `__main__`, so the real one is put back too.
    monkeypatch.setitem(sys.modules, '__main__', sys.modules['__main__'])
    eval_example.set_config(line_length=120, quotes='single')
    namespace = eval_example.run_print_check(example)  # what a block prints must be written under the print
    for name, test in namespace.items():
        # An example that shows a test runs it too, with this test's `capfire`.
        if name.startswith('test_') and inspect.isfunction(test):
            parameters = list(inspect.signature(test).parameters)
            assert parameters in ([], ['capfire']), f'{name}: only the capfire fixture can be supplied'
            test(capfire) if parameters else test()


@pytest.mark.parametrize('example', [e for e in EXAMPLES if _serves_http(e)], ids=_example_id)
def test_http_example_answers_a_request_under_uvicorn(example: CodeExample, tmp_path: Path) -> None:
    filename = example.prefix_settings().get('title', 'main.py')
    module = filename.removesuffix('.py')
    (tmp_path / filename).write_text(example.source)
    with UvicornServer(f'{module}:app', cwd=tmp_path, env=clean_env()) as server:
        response = httpx.get(server.url, timeout=10)
    assert server.output is not None
    assert response.status_code == 200, server.output.stderr
    assert 'Traceback' not in server.output.stderr, server.output.stderr
    # logfire's console printed the request's span: a timestamped line ending in the path.
    assert re.search(r'^\d\d:\d\d:\d\d\.\d{3} .*/$', server.output.stdout, flags=re.M), server.output.stdout


def test_the_examples_include_docs_pages_and_docstrings() -> None:
    paths = {example.path.relative_to(ROOT).parts[0] for example in EXAMPLES}
    assert paths == {'docs', 'logfire'}
    assert any(_serves_http(example) for example in EXAMPLES)


def _doctest_modules() -> list[str]:
    paths = [path for path in (ROOT / 'logfire').rglob('*.py') if '>>> ' in path.read_text()]
    return sorted('.'.join(path.relative_to(ROOT).with_suffix('').parts).removesuffix('.__init__') for path in paths)


@pytest.mark.parametrize('module_name', _doctest_modules())
def test_docstring_doctests_pass(module_name: str, capfire: CaptureLogfire) -> None:
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    for test in doctest.DocTestFinder().find(importlib.import_module(module_name)):
        runner.run(test)  # prints a report of each failure
    failed, attempted = runner.summarize(verbose=False)
    assert (failed, attempted > 0) == (0, True)


def test_every_docstring_example_section_is_executed() -> None:
    for path in (ROOT / 'logfire').rglob('*.py'):
        for section in re.finditer(r'^( *)Examples?:\n((?:\1 +\S.*\n|\n)+)', path.read_text(), flags=re.M):
            body = section.group(2)
            assert '```py' in body or '>>> ' in body, f'{path}: an Example section that is neither ```python nor >>>'


def test_every_logfire_variable_the_code_names_is_in_the_configuration_table() -> None:
    # settings.py is the only module that reads the environment (ruff TID251); names elsewhere are in messages.
    names = {
        name
        for path in (ROOT / 'logfire').rglob('*.py')
        for name in re.findall(r'\bLOGFIRE_[A-Z0-9_]*[A-Z0-9]\b', path.read_text())
    }
    assert {'LOGFIRE_SERVICE_NAME', 'LOGFIRE_IGNORE_NO_CONFIG'} <= names  # the pattern does find them
    names |= {env for field in LogfireSettings.model_fields for env in env_names(field)}
    table: str = HOOKS.configuration_table()
    assert sorted(name for name in names if f'`{name}`' not in table) == []


def test_every_settings_field_has_a_description() -> None:
    # Exempt: `exclude=True` fields are objects only code can pass (span processors, metric readers, callbacks,
    # id and clock generators, an output stream). They are never read from the environment or pyproject, and
    # their table row links to the option that documents them in the API reference.
    undocumented = [
        name
        for name, info in LogfireSettings.model_fields.items()
        if not info.exclude and not (info.description or '').strip()
    ]
    assert undocumented == []


def test_every_setting_and_configure_argument_is_on_the_configuration_page() -> None:
    page: str = HOOKS.render((ROOT / 'docs' / 'configuration.md').read_text())
    assert '<!-- generated' not in page
    assert [name for name in LogfireSettings.model_fields if f'`{name}`' not in page] == []
    assert [name for name in inspect.signature(configure).parameters if f'{name}=' not in page] == []


def test_objects_only_code_can_pass_are_traced_to_their_configure_argument() -> None:
    in_code: dict[str, tuple[str, str]] = HOOKS.in_code()
    excluded = [name for name, info in LogfireSettings.model_fields.items() if info.exclude]
    assert [name for name in excluded if name not in in_code] == []
    assert in_code['console_output'] == (
        'configure(console=ConsoleOptions(output=...))',
        'logfire.ConsoleOptions.output',
    )


def test_an_unknown_generated_table_is_an_error() -> None:
    with pytest.raises(KeyError):
        HOOKS.render('<!-- generated: no-such-table -->')
