"""Stories about servers that run the app in worker processes: when the master is told to stop, no span is lost.

Each story starts a real server (gunicorn with uvicorn workers, uvicorn `--workers`, hypercorn) on 127.0.0.1,
sends it 30 requests with a real HTTP client, each on a path of its own, then sends SIGTERM to the master
process only, as a process supervisor (systemd, Kubernetes, docker stop) does. Every answered request's span
must then have reached the receiver, exactly once.
"""

from __future__ import annotations

import contextlib
import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from .conftest import ROOT, otel_env
from .otlp_receiver import OTLPReceiver, ReceivedSpan
from .uvicorn_server import HOST, UvicornServer, free_port

REQUESTS = 30

CONFIGURE = "logfire.configure(service_name='orders-web', console=False, inspect_arguments=False)"

APP = """
import logfire

{configure}


async def app(scope, receive, send):
    if scope['type'] == 'lifespan':
        while True:
            message = await receive()
            if message['type'] == 'lifespan.startup':
                await send({{'type': 'lifespan.startup.complete'}})
            elif message['type'] == 'lifespan.shutdown':
                await send({{'type': 'lifespan.shutdown.complete'}})
                return
    with logfire.span('request {{path}}', path=scope['path']):  # ends after the answer was sent, like middleware
        await send({{'type': 'http.response.start', 'status': 200, 'headers': [(b'content-type', b'text/plain')]}})
        await send({{'type': 'http.response.body', 'body': b'ok'}})
"""


def docs_gunicorn_conf() -> str:
    """The `gunicorn.conf.py` that docs/export.md recommends, as it is written there."""
    page = (ROOT / 'docs' / 'export.md').read_text()
    (block,) = re.findall(r'```py title="gunicorn.conf.py"\n(.*?)```', page, flags=re.S)
    return block


SERVERS = {
    'gunicorn, configure() in the app module': ('configure', ['-m', 'gunicorn', '-k', 'uvicorn_worker.UvicornWorker']),
    'gunicorn --preload': ('configure', ['-m', 'gunicorn', '-k', 'uvicorn_worker.UvicornWorker', '--preload']),
    "gunicorn, the docs' post_fork recipe": (
        'hook',
        ['-m', 'gunicorn', '-k', 'uvicorn_worker.UvicornWorker', '-c', 'gunicorn.conf.py'],
    ),
    'uvicorn --workers 2': ('configure', ['-m', 'uvicorn', '--workers', '2']),
    'hypercorn --workers 2': ('configure', ['-m', 'hypercorn', '--workers', '2']),
}


def server_command(name: str, port: int) -> list[str]:
    _, args = SERVERS[name]
    if args[1] == 'gunicorn':
        return [sys.executable, *args, '--workers', '2', '--bind', f'{HOST}:{port}', 'app:app']
    if args[1] == 'uvicorn':
        return [sys.executable, *args, '--host', HOST, '--port', str(port), 'app:app']
    return [sys.executable, *args, '--bind', f'{HOST}:{port}', 'app:app']


@pytest.mark.parametrize('name', SERVERS)
def test_every_answered_request_arrives_after_sigterm_to_the_master(
    rx: OTLPReceiver, tmp_path: Path, name: str
) -> None:
    how, _ = SERVERS[name]
    rx.stall(0.3)  # a collector a little further away than this machine: each export takes a moment
    (tmp_path / 'app.py').write_text(APP.format(configure=CONFIGURE if how == 'configure' else ''))
    if how == 'hook':
        (tmp_path / 'gunicorn.conf.py').write_text(docs_gunicorn_conf())
    env = otel_env(rx, tmp_path)
    env['PYTHONPATH'] = f'{tmp_path}:{env["PYTHONPATH"]}'
    port = free_port()
    server = UvicornServer(
        cwd=tmp_path, env=env, port=port, command=server_command(name, port), startup_timeout=30, stop_timeout=30
    )

    paths = [f'/request/{i}' for i in range(REQUESTS)]
    with server:
        for path in paths:
            # A new connection each time, so that the requests spread over the workers.
            response = httpx.get(server.url + path, headers={'connection': 'close'}, timeout=30)
            assert response.status_code == 200
        process = server._process  # pyright: ignore[reportPrivateUsage]
        assert process is not None
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:  # pragma: no cover - stop() kills it and reports
            pass
    output = server.output
    assert output is not None

    def request_spans() -> list[ReceivedSpan]:
        return [s for s in rx.spans() if s.name == 'request {path}']

    # Every master here waits for its workers. hypercorn's SIGTERMs the workers still running once one has exited,
    # and multiprocessing's exit hook SIGTERMs its daemon children again a moment later: the second signal must not
    # cut the first one's flush short. The spans may still be on their way when the master has gone.
    with contextlib.suppress(AssertionError):  # the assertion below says which are missing
        rx.wait_until(lambda: len(request_spans()) >= REQUESTS, 15, f'{REQUESTS} request spans')
    spans = request_spans()
    arrived = sorted(s.attributes['path'] for s in spans)
    queued = sorted(path.name for path in (tmp_path / 'data').glob('export-queue/*/*.otlp*'))
    assert arrived == sorted(paths), f'{len(arrived)} of {REQUESTS}, on disk: {queued}\n{output.stderr[-3000:]}'
    pids = {s.resource_attributes['process.pid'] for s in spans}
    if name == 'gunicorn --preload':
        assert pids == {process.pid}  # as documented: configured in the master, the workers report its pid
    else:
        assert process.pid not in pids  # each worker reports its own
    assert not queued, output.stderr[-3000:]
