"""Stories about credentials and plain http: a token that would cross the network unencrypted gets one warning."""

from __future__ import annotations

import pytest

from .conftest import clean_env, run_python

CONFIGURE = 'import logfire; logfire.configure(console=False, metrics=False); logfire.shutdown()'


def credential_warnings(**env: str) -> list[str]:
    result = run_python(CONFIGURE, env=clean_env(LOGFIRE_SHUTDOWN_TIMEOUT_MILLIS='200', **env))
    assert result.returncode == 0, result.stderr
    return [line for line in result.stderr.splitlines() if 'sent over plain' in line]


def test_a_token_sent_over_plain_http_to_another_host_warns_once() -> None:
    [warning] = credential_warnings(LOGFIRE_TOKEN='pylf_v1_us_x', LOGFIRE_BASE_URL='http://logfire.example:9')
    assert 'The Authorization header for http://logfire.example:9 is sent over plain http' in warning
    assert 'pylf_v1_us_x' not in warning


def test_credentials_in_otel_headers_over_plain_http_warn_too() -> None:
    [warning] = credential_warnings(
        OTEL_EXPORTER_OTLP_ENDPOINT='http://collector.example:4318', OTEL_EXPORTER_OTLP_HEADERS='x-api-key=abc123'
    )
    assert 'The x-api-key header for http://collector.example:4318' in warning and 'abc123' not in warning


@pytest.mark.parametrize(
    'base_url', ['https://logfire.example', 'http://127.0.0.1:9', 'http://localhost:9', 'http://[::1]:9']
)
def test_https_or_this_machine_is_fine(base_url: str) -> None:
    assert credential_warnings(LOGFIRE_TOKEN='pylf_v1_us_x', LOGFIRE_BASE_URL=base_url) == []


def test_no_credential_no_warning() -> None:
    assert credential_warnings(OTEL_EXPORTER_OTLP_ENDPOINT='http://collector.example:4318') == []
