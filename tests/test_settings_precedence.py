"""Every setting, from each source: keyword > LOGFIRE_* env > OTEL_* env > [tool.logfire] > default.

`load_settings()` reads the environment when called, so these run in-process with monkeypatched env vars.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from logfire._internal.settings import LogfireSettings, env_names, load_settings

# field: (value as a keyword / pyproject value, the same as an env string, a second distinct value, its env string)
SAMPLES: dict[str, tuple[Any, str, Any, str]] = {
    'send_to_logfire': ('if-token-present', 'if-token-present', True, 'true'),
    'token': ('pylf_v1_us_a', 'pylf_v1_us_a', 'pylf_v1_eu_b', 'pylf_v1_eu_b'),
    'service_name': ('a', 'a', 'b', 'b'),
    'service_version': ('1', '1', '2', '2'),
    'environment': ('dev', 'dev', 'prod', 'prod'),
    'resource_attributes': ({'k': 'v'}, 'k=v', {'x': 'y'}, 'x=y'),
    'console': (False, 'false', True, '1'),
    'console_colors': ('never', 'never', 'always', 'always'),
    'console_span_style': ('simple', 'simple', 'indented', 'indented'),
    'console_include_timestamp': (False, 'false', True, 'true'),
    'console_include_tags': (False, '0', True, '1'),
    'console_verbose': (True, 'true', False, 'false'),
    'console_min_log_level': ('debug', 'debug', 'error', 'ERROR'),
    'console_show_span_end': (True, 'true', False, 'false'),
    'config_dir': (None, '', None, ''),  # decides where pyproject is read: covered in test_configure.py
    'data_dir': (Path('a'), 'a', Path('b'), 'b'),
    'metrics': (False, 'false', True, 'true'),
    'scrubbing': (False, 'false', True, 'true'),
    'scrubbing_patterns': (['x'], 'x', ['y', 'z'], 'y,z'),
    'min_level': (13, 'warn', 5, '5'),
    'trace_sample_rate': (0.5, '0.5', 0.25, '0.25'),
    'distributed_tracing': (True, 'true', False, 'false'),
    'thread_pool_context': (False, 'false', True, 'true'),
    'inspect_arguments': (False, 'false', True, 'true'),
    'base_url': ('http://127.0.0.1:1', 'http://127.0.0.1:1', 'http://127.0.0.1:2', 'http://127.0.0.1:2'),
    'retry_queue_max_bytes': (10, '10', 20, '20'),
    'shutdown_timeout_millis': (100, '100', 200, '200'),
    'otlp_endpoint': ('http://127.0.0.1:1', 'http://127.0.0.1:1', 'http://127.0.0.1:2', 'http://127.0.0.1:2'),
    'otlp_traces_endpoint': (
        'http://127.0.0.1:1/t',
        'http://127.0.0.1:1/t',
        'http://127.0.0.1:2/t',
        'http://127.0.0.1:2/t',
    ),
    'otlp_metrics_endpoint': (
        'http://127.0.0.1:1/m',
        'http://127.0.0.1:1/m',
        'http://127.0.0.1:2/m',
        'http://127.0.0.1:2/m',
    ),
    'otlp_logs_endpoint': (
        'http://127.0.0.1:1/l',
        'http://127.0.0.1:1/l',
        'http://127.0.0.1:2/l',
        'http://127.0.0.1:2/l',
    ),
    'otlp_protocol': ('grpc', 'grpc', 'http/protobuf', 'http/protobuf'),
    'traces_exporter': ('none', 'none', 'otlp', 'otlp'),
    'metrics_exporter': ('none', 'none', 'otlp', 'otlp'),
    'logs_exporter': ('none', 'none', 'otlp', 'otlp'),
    'otlp_headers': ({'a': 'b'}, 'a=b', {'c': 'd'}, 'c=d'),
    'otlp_traces_headers': ({'a': 'b'}, 'a=b', {'c': 'd'}, 'c=d'),
    'otlp_metrics_headers': ({'a': 'b'}, 'a=b', {'c': 'd'}, 'c=d'),
    'otlp_logs_headers': ({'a': 'b'}, 'a=b', {'c': 'd'}, 'c=d'),
    'otlp_timeout': (1.5, '1.5', 2.5, '2.5'),
    'otlp_compression': ('gzip', 'gzip', 'none', 'none'),
    'bsp_schedule_delay_millis': (100, '100', 200, '200'),
    'bsp_max_queue_size': (100, '100', 200, '200'),
    'bsp_max_export_batch_size': (10, '10', 20, '20'),
    'bsp_export_timeout_millis': (100, '100', 200, '200'),
}
ENV_FIELDS = [name for name in LogfireSettings.model_fields if env_names(name) and name != 'config_dir']
PYPROJECT_FIELDS = [name for name in ENV_FIELDS if name != 'token']


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return 'true' if value else 'false'
    if isinstance(value, dict):
        return '{ ' + ', '.join(f'{k} = "{v}"' for k, v in value.items()) + ' }'  # pyright: ignore[reportUnknownVariableType]
    if isinstance(value, list):
        return '[' + ', '.join(f'"{v}"' for v in value) + ']'  # pyright: ignore[reportUnknownVariableType]
    if isinstance(value, (int, float)):
        return str(value)
    return f'"{value}"'


def test_every_env_settable_field_has_samples() -> None:
    assert set(ENV_FIELDS) <= set(SAMPLES)


@pytest.mark.parametrize('name', ENV_FIELDS)
def test_env_var_sets_the_field_and_keyword_beats_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, name: str
) -> None:
    monkeypatch.chdir(tmp_path)
    first, first_env, second, _ = SAMPLES[name]
    primary = env_names(name)[0]
    monkeypatch.setenv(primary, first_env)
    assert getattr(load_settings({}), name) == first
    assert getattr(load_settings({name: second}), name) == second


@pytest.mark.parametrize('name', [n for n in ENV_FIELDS if len(env_names(n)) > 1])
def test_first_env_var_beats_its_fallback(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, name: str) -> None:
    monkeypatch.chdir(tmp_path)
    first, first_env, second, second_env = SAMPLES[name]
    primary, fallback = env_names(name)[:2]
    monkeypatch.setenv(fallback, second_env)
    assert getattr(load_settings({}), name) == second
    monkeypatch.setenv(primary, first_env)
    assert getattr(load_settings({}), name) == first


@pytest.mark.parametrize('name', PYPROJECT_FIELDS)
def test_pyproject_sets_the_field_and_env_beats_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, name: str) -> None:
    monkeypatch.chdir(tmp_path)
    first, _, second, second_env = SAMPLES[name]
    (tmp_path / 'pyproject.toml').write_text(f'[tool.logfire]\n{name} = {toml_value(first)}\n')
    assert getattr(load_settings({}), name) == first
    monkeypatch.setenv(env_names(name)[-1], second_env)
    assert getattr(load_settings({}), name) == second


def test_defaults_apply_when_nothing_is_set(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    settings = load_settings({})
    assert settings.console is True
    assert settings.console_span_style == 'show-parents'
    assert settings.trace_sample_rate == 1.0
    assert settings.shutdown_timeout_millis == 3000
    assert settings.data_dir == Path('.logfire')
    assert settings.min_level is None
