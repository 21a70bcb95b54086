from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from .otlp_receiver import OTLPReceiver

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Tests see no LOGFIRE_* or OTEL_* variables unless they set them."""
    for name in list(os.environ):
        if name.startswith(('LOGFIRE_', 'OTEL_')):
            monkeypatch.delenv(name)
    yield


def clean_env(**extra: str) -> dict[str, str]:
    """The current environment without LOGFIRE_*/OTEL_*/PYTEST_* variables, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(('LOGFIRE_', 'OTEL_', 'PYTEST_'))}
    env['PYTHONPATH'] = str(ROOT)
    env.update(extra)
    return env


def run_python(
    code: str, *, env: dict[str, str] | None = None, cwd: Path | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run `code` in a fresh interpreter (global state and env vars stay out of this process)."""
    return subprocess.run(
        [sys.executable, '-c', code],
        env=env if env is not None else clean_env(),
        cwd=cwd or ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


needs_fstring_inspection = pytest.mark.skipif(
    sys.version_info < (3, 11),
    reason='f-string inspection is supported (and on by default) from Python 3.11, as in the established SDK',
)


@pytest.fixture
def rx() -> Iterator[OTLPReceiver]:
    """A real OTLP/HTTP receiver on 127.0.0.1 for the test's processes to export to."""
    with OTLPReceiver() as receiver:
        yield receiver


def script(body: str, configure: str = 'console=False, inspect_arguments=False') -> str:
    """A program that configures logfire (console off) and then runs `body`."""
    prelude = f'import json, os, signal, sys, time\nimport logfire\nlogfire.configure({configure})\n'
    return prelude + textwrap.dedent(body)


def otel_env(rx: OTLPReceiver, tmp_path: Path, **extra: str) -> dict[str, str]:
    """The environment of a process exporting to `rx` only, with its disk queue under `tmp_path`."""
    return clean_env(
        OTEL_EXPORTER_OTLP_ENDPOINT=rx.endpoint,
        LOGFIRE_SEND_TO_LOGFIRE='false',
        LOGFIRE_DATA_DIR=str(tmp_path / 'data'),
        **extra,
    )
