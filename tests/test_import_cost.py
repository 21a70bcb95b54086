"""`import logfire` stays cheap: heavy and optional modules load on first use only (membership, never time)."""

from __future__ import annotations

import json
from pathlib import Path

from .conftest import run_python

HEAVY = [
    'rich',
    'opentelemetry.exporter.otlp.proto.http',
    'opentelemetry.instrumentation.asgi',
    'opentelemetry.instrumentation',
    'opentelemetry.sdk.metrics',  # `MetricsOptions.DEFAULT_VIEWS` is built when read
    'requests',
    'executing',
    'sqlalchemy',  # the attribute encoder looks it up in sys.modules, never imports it
    'numpy',  # likewise
    'pandas',
]


def test_import_logfire_loads_no_heavy_modules() -> None:
    code = f'import sys, json, logfire; print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))'
    result = run_python(code)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == []


def test_logging_values_of_every_kind_imports_neither_numpy_nor_pandas() -> None:
    code = (
        'import sys, json, datetime, decimal, dataclasses, logfire\n'
        'logfire.configure(send_to_logfire=False, console=False)\n'
        '@dataclasses.dataclass\n'
        'class Point:\n'
        '    x: float\n'
        "logfire.info('hi', d={'a': [1.5]}, s={2}, p=Point(1.0), when=datetime.date(2024, 1, 2),\n"
        "             amount=decimal.Decimal('1.5'), obj=object(), n=2**70, r=range(3))\n"
        "print(json.dumps([m for m in ['numpy', 'pandas'] if m in sys.modules]))"
    )
    result = run_python(code)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == []


def test_console_off_and_no_export_keeps_rich_and_otlp_unloaded() -> None:
    code = (
        'import sys, json, logfire\n'
        'logfire.configure(send_to_logfire=False, console=False)\n'
        "logfire.info('hi')\n"
        "print(json.dumps([m for m in ['rich', 'opentelemetry.exporter.otlp.proto.http'] if m in sys.modules]))"
    )
    result = run_python(code)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == []


def test_console_loads_rich_on_configure() -> None:
    code = "import sys, logfire\nlogfire.configure(send_to_logfire=False)\nprint('rich' in sys.modules)"
    result = run_python(code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == 'True'


def test_import_works_in_a_deleted_working_directory(tmp_path: Path) -> None:
    gone = tmp_path / 'gone'
    gone.mkdir()
    code = (
        f'import os; os.chdir({str(gone)!r}); os.rmdir({str(gone)!r})\n'
        'import logfire\n'
        "logfire.configure(send_to_logfire=False, console=False, config_dir='/')\n"
        "logfire.info('still fine')\n"
        "print('ok')"
    )
    result = run_python(code, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == 'ok'
