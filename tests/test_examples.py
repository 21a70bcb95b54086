"""The examples run as documented: `examples/otlp_collector.md`'s variables deliver to a real OTLP receiver."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import httpx

from .conftest import ROOT, clean_env
from .otlp_receiver import OTLPReceiver
from .uvicorn_server import UvicornServer

GUIDE = ROOT / 'examples' / 'otlp_collector.md'


def documented_env(endpoint: str) -> dict[str, str]:
    exports: dict[str, str] = {}
    for name, quoted, plain in re.findall(r"^export (\w+)=(?:'([^']*)'|(\S+))", GUIDE.read_text(), re.MULTILINE):
        exports[name] = quoted or plain
    exports['OTEL_EXPORTER_OTLP_ENDPOINT'] = endpoint  # the receiver's port instead of the collector's 4318
    return exports


def test_the_documented_program_is_the_example_file() -> None:
    block = re.search(r'```python\n(.*?)```', GUIDE.read_text(), re.DOTALL)
    assert block is not None
    assert block.group(1) == (ROOT / 'examples' / 'otlp_app.py').read_text()


def test_the_collector_example_delivers_spans_with_the_documented_variables(tmp_path: Path) -> None:
    with OTLPReceiver() as receiver:
        env = documented_env(receiver.endpoint)
        assert set(env) >= {'OTEL_EXPORTER_OTLP_ENDPOINT', 'OTEL_SERVICE_NAME', 'LOGFIRE_SEND_TO_LOGFIRE'}
        result = subprocess.run(
            [sys.executable, str(ROOT / 'examples' / 'otlp_app.py')],
            cwd=tmp_path,
            env=clean_env(**env),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        spans = receiver.wait_for_spans(2, timeout=10)
        request = receiver.requests[0]
    assert sorted(s.name for s in spans) == ['charged {amount} EUR', 'checkout {order_id}']
    assert {s.resource_attributes['service.name'] for s in spans} == {'checkout'}
    assert request.headers['x-team'] == 'checkout'
    assert request.headers['content-encoding'] == 'gzip'
    assert 'checkout 42' in result.stdout  # the console is on too


def test_the_fastapi_example_traces_requests_under_uvicorn() -> None:
    with OTLPReceiver() as receiver:
        env = clean_env(
            OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint,
            LOGFIRE_SEND_TO_LOGFIRE='false',
            LOGFIRE_CONSOLE='false',
            OTEL_BSP_SCHEDULE_DELAY='100',
        )
        with UvicornServer('fastapi_app:app', cwd=ROOT / 'examples', env=env) as server:
            assert httpx.get(f'{server.url}/health', timeout=5).json() == 'ok'
            assert httpx.get(f'{server.url}/users/42', timeout=5).json() == {'id': 42, 'name': 'user-42'}
            spans = receiver.wait_for_spans(3)
    assert sorted(s.name for s in spans) == ['GET /users/{user_id}', 'SELECT', 'loading user {user_id}']
    [request] = [s for s in spans if s.name == 'GET /users/{user_id}']
    assert request.attributes['fastapi.arguments.values'] == '{"user_id":42}'
    [loading] = [s for s in spans if s.name == 'loading user {user_id}']
    [query] = [s for s in spans if s.name == 'SELECT']
    assert query.attributes['logfire.msg'] == 'SELECT name FROM users WHERE id = ?'
    assert (loading.parent_span_id, query.parent_span_id) == (request.span_id, loading.span_id)
