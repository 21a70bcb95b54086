"""Stories about the `logfire` command: `logfire config` answers "which value wins, and where does it come from?"."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

from logfire.version import VERSION

from .conftest import clean_env, run_python

TOKEN = 'pylf_v1_eu_0123456789abcdef'


def logfire_command(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, '-m', 'logfire', *args],
        env=clean_env(**env),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def rows(stdout: str) -> dict[str, tuple[str, str]]:
    """The report's lines as {setting: (shown value, source)}."""
    lines = stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith('setting '))
    value_at, source_at = lines[header].index('value'), lines[header].index('source')
    return {
        line[:value_at].strip(): (line[value_at:source_at].strip(), line[source_at:].strip())
        for line in lines[header + 1 :]
    }


def test_version_is_printed(tmp_path: Path) -> None:
    result = logfire_command('--version', cwd=tmp_path)
    assert (result.returncode, result.stdout.strip()) == (0, f'logfire {VERSION}')


def test_the_console_script_is_installed_beside_python(tmp_path: Path) -> None:
    script = Path(sys.executable).parent / 'logfire'
    result = subprocess.run(
        [str(script), '--version'], env=clean_env(), cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert (result.returncode, result.stdout.strip()) == (0, f'logfire {VERSION}')


def test_config_shows_each_value_and_the_source_that_won(tmp_path: Path) -> None:
    (tmp_path / 'pyproject.toml').write_text(
        textwrap.dedent(
            """
            [tool.logfire]
            service_name = 'from-pyproject'
            environment = 'staging'
            console_colors = 'never'
            """
        )
    )
    result = logfire_command(
        'config',
        cwd=tmp_path,
        OTEL_SERVICE_NAME='from-otel-env',
        LOGFIRE_CONSOLE_COLORS='always',
        LOGFIRE_TOKEN=TOKEN,
        OTEL_EXPORTER_OTLP_HEADERS='x-api-key=hunter2,x-tenant=acme',
    )
    assert result.returncode == 0, result.stderr
    pyproject = repr(str(tmp_path / 'pyproject.toml'))
    shown = rows(result.stdout)
    assert shown['service_name'] == ("'from-otel-env'", 'OTEL_SERVICE_NAME')
    assert shown['console_colors'] == ("'always'", 'LOGFIRE_CONSOLE_COLORS')
    assert shown['environment'] == ("'staging'", f'[tool.logfire] environment in {pyproject}')
    assert shown['console_span_style'] == ("'show-parents'", 'default')
    assert shown['send_to_logfire'] == ('True', 'default')
    assert shown['token'] == ('pylf…', 'LOGFIRE_TOKEN')
    assert shown['otlp_headers'] == ("{'x-api-key': '…', 'x-tenant': '…'}", 'OTEL_EXPORTER_OTLP_HEADERS')
    assert TOKEN[4:] not in result.stdout and 'hunter2' not in result.stdout
    # Only settings the environment or pyproject can give: objects only code can pass are not listed.
    assert 'additional_span_processors' not in shown


def test_config_agrees_with_what_configure_resolves(tmp_path: Path) -> None:
    env = {'LOGFIRE_SERVICE_NAME': 'a', 'OTEL_SERVICE_NAME': 'b', 'OTEL_TRACES_SAMPLER_ARG': '0.25'}
    (tmp_path / 'pyproject.toml').write_text("[tool.logfire]\ntrace_sample_rate = 0.5\nmin_level = 'warn'\n")
    code = (
        'import json, logfire\n'
        's = logfire.configure(local=True, console=False, send_to_logfire=False).config.config.settings\n'
        'print(json.dumps([repr(s.service_name), repr(s.trace_sample_rate), repr(s.min_level)]))'
    )
    resolved = run_python(code, env=clean_env(**env), cwd=tmp_path)
    assert resolved.returncode == 0, resolved.stderr
    shown = rows(logfire_command('config', cwd=tmp_path, **env).stdout)
    assert [shown[name][0] for name in ('service_name', 'trace_sample_rate', 'min_level')] == json.loads(
        resolved.stdout
    )
    assert shown['service_name'][1] == 'LOGFIRE_SERVICE_NAME'
    assert shown['trace_sample_rate'][1] == 'OTEL_TRACES_SAMPLER_ARG'
    assert shown['min_level'][1].startswith('[tool.logfire] min_level in ')


def test_config_shows_a_token_from_the_credentials_file(tmp_path: Path) -> None:
    data = tmp_path / 'data'
    data.mkdir()
    (data / 'logfire_credentials.json').write_text(json.dumps({'token': TOKEN}))
    result = logfire_command('config', cwd=tmp_path, LOGFIRE_DATA_DIR=str(data))
    assert result.returncode == 0, result.stderr
    credentials = repr(str(data / 'logfire_credentials.json'))
    assert rows(result.stdout)['token'] == ('pylf…', f'credentials file {credentials}')


def test_an_invalid_value_gives_configures_message_and_exit_status_1(tmp_path: Path) -> None:
    (tmp_path / 'pyproject.toml').write_text("[tool.logfire]\nconsole_span_style = 'zigzag'\n")
    env = {'LOGFIRE_MIN_LEVEL': 'loud'}
    configured = run_python('import logfire; logfire.configure()', env=clean_env(**env), cwd=tmp_path)
    prefix = 'logfire.exceptions.LogfireConfigError: '
    [start] = [i for i, line in enumerate(configured.stderr.splitlines()) if line.startswith(prefix)]
    message = '\n'.join(configured.stderr.splitlines()[start:])[len(prefix) :]
    assert "LOGFIRE_MIN_LEVEL='loud'" in message and "console_span_style in '" in message

    result = logfire_command('config', cwd=tmp_path, **env)
    assert result.returncode == 1
    assert result.stdout == ''
    assert result.stderr.strip() == message.strip()
    assert 'Traceback' not in result.stderr
