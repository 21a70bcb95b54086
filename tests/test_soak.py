"""A soak story of the whole export path: a server restarted five times in front of a collector that misbehaves.

Each cycle starts uvicorn (a real subprocess, the same `data_dir` every time), serves requests with a real HTTP
client, then stops it with SIGTERM, while the collector answers at random (seeded, so a failure can be replayed):
500s, answers slower than the exporter's timeout, connection resets. Then a last process, with the collector
healthy again, sends what the disk queue kept. Every served request's span must have arrived, and a span may
arrive twice only in the case docs/export.md allows: a request abandoned before its answer came.
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

import httpx
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from .conftest import otel_env, run_python, script
from .otlp_receiver import OTLPReceiver
from .uvicorn_server import UvicornServer

SEED = 20261207
CYCLES = 5
REQUESTS = 20
CLIENT_TIMEOUT_SECONDS = 0.5  # the exporter's request timeout: slow answers come after it

APP = """
import logfire

logfire.configure(service_name='soak', console=False, inspect_arguments=False)


async def app(scope, receive, send):
    if scope['type'] != 'http':
        return
    with logfire.span('request {path}', path=scope['path']):
        await send({'type': 'http.response.start', 'status': 200, 'headers': [(b'content-type', b'text/plain')]})
        await send({'type': 'http.response.body', 'body': b'ok'})
"""


def queued_files(tmp_path: Path) -> list[Path]:
    return sorted((tmp_path / 'data' / 'export-queue').glob('traces-*/*.otlp*'))


def test_five_restarts_in_front_of_a_misbehaving_collector_lose_no_span(rx: OTLPReceiver, tmp_path: Path) -> None:
    (tmp_path / 'app.py').write_text(APP)
    env = otel_env(
        rx,
        tmp_path,
        OTEL_EXPORTER_OTLP_TIMEOUT=str(CLIENT_TIMEOUT_SECONDS),
        OTEL_METRICS_EXPORTER='none',
    )
    env['PYTHONPATH'] = f'{tmp_path}:{env["PYTHONPATH"]}'
    rx.chaos(SEED, fail=0.25, slow=0.2, reset=0.15, slow_seconds=(0.6, 1.2))

    served: list[str] = []
    exiting: list[tuple[float, float]] = []  # from each SIGTERM to the end of its process
    stderr: list[str] = []
    for cycle in range(CYCLES):
        server = UvicornServer('app:app', cwd=tmp_path, env=env, startup_timeout=30, stop_timeout=30)
        with server, httpx.Client(base_url=server.url, timeout=30) as client:
            for i in range(REQUESTS):
                path = f'/cycle/{cycle}/request/{i}'
                assert client.get(path).status_code == 200
                served.append(path)
            process = server._process  # pyright: ignore[reportPrivateUsage]
            assert process is not None
            signalled = time.time()
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:  # pragma: no cover - stop() kills it, and the assertion below fails
                pass
            exiting.append((signalled, time.time()))
        assert server.output is not None
        assert server.output.returncode == -signal.SIGTERM, server.output.stderr[-3000:]
        stderr.append(server.output.stderr)

    rejected = [r for r in rx.requests if r.path == '/v1/traces' and not r.accepted]
    assert {r.status for r in rejected} == {500, None}, rx.summary()  # the collector did fail, both ways
    assert any(r.stalled > CLIENT_TIMEOUT_SECONDS for r in rx.requests), rx.summary()  # and was slow

    rx.chaos(SEED)  # healthy again
    last = run_python(script('pass'), env=env)
    assert last.returncode == 0, last.stderr
    deadline = time.monotonic() + 30
    while queued_files(tmp_path) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert queued_files(tmp_path) == [], last.stderr

    copies: Counter[bytes] = Counter()
    abandoned: Counter[bytes] = Counter()  # copies whose answer the sender may never have read
    paths: dict[bytes, str] = {}
    for r in rx.accepted_requests:
        if not isinstance(r.request, ExportTraceServiceRequest):
            continue
        for resource_spans in r.request.resource_spans:
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    copies[span.span_id] += 1
                    abandoned[span.span_id] += r.stalled >= CLIENT_TIMEOUT_SECONDS or any(
                        start <= r.received_at <= end for start, end in exiting
                    )
                    paths[span.span_id] = next(a.value.string_value for a in span.attributes if a.key == 'path')

    log = '\n'.join(stderr) + last.stderr
    assert sorted(paths.values()) == sorted(served), f'{len(set(paths.values()))} of {len(served)}\n{log[-3000:]}'
    # At least once: a copy beyond the first only after a request abandoned before its answer came (the
    # answer came after the client's timeout, or while the process was ending after SIGTERM).
    unexplained = {paths[i]: (n, abandoned[i]) for i, n in copies.items() if n > 1 + abandoned[i]}
    duplicates = sum(copies.values()) - len(copies)
    assert unexplained == {}, f'{duplicates} duplicate copies in all\n{log[-3000:]}'
