"""Run a real server (uvicorn, or any command that listens on a port) in a subprocess, for tests.

```python
with UvicornServer('main:app', cwd=tmp_path, env=clean_env()) as server:
    httpx.get(server.url)
output = server.output  # stdout and stderr, once stopped
```

Readiness is a TCP connect poll with a deadline; stopping sends SIGINT (uvicorn's graceful shutdown, so
lifespan shutdown and logfire's exit flush run), then kills after a deadline. Output goes to files, so a
chatty child can never block on a full pipe.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO

__all__ = ['ServerOutput', 'UvicornServer', 'free_port', 'port_is_free']

HOST = '127.0.0.1'


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def port_is_free(port: int) -> bool:
    """Whether `port` on 127.0.0.1 can be bound right now."""
    with socket.socket() as sock:
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
        return True


@dataclass(frozen=True)
class ServerOutput:
    """What the server printed, and how it exited."""

    stdout: str
    stderr: str
    returncode: int | None


class UvicornServer:
    """`uvicorn <app> --host 127.0.0.1 --port <free port>` in a subprocess (or `command`, which must use `port`).

    Args:
        app: The `module:attribute` uvicorn serves; ignored when `command` is given.
        cwd: The directory to run in (where `module` lives).
        env: The child's whole environment.
        port: The port to listen on (default: a free one).
        command: Run this instead of uvicorn (e.g. `[sys.executable, 'main.py']`); it must listen on `port`.
        uvicorn_args: Extra uvicorn options, e.g. `['--lifespan', 'on']`.
        startup_timeout: Seconds to wait for the port to accept connections.
        stop_timeout: Seconds to wait for a graceful exit before killing.
    """

    def __init__(
        self,
        app: str = '',
        *,
        cwd: Path,
        env: dict[str, str],
        port: int | None = None,
        command: Sequence[str] | None = None,
        uvicorn_args: Sequence[str] = (),
        startup_timeout: float = 20.0,
        stop_timeout: float = 10.0,
    ) -> None:
        self.port = port or free_port()
        self.command = (
            list(command)
            if command is not None
            else [
                sys.executable,
                '-m',
                'uvicorn',
                app,
                '--host',
                HOST,
                '--port',
                str(self.port),
                *uvicorn_args,
            ]
        )
        self.cwd = cwd
        self.env = env
        self.startup_timeout = startup_timeout
        self.stop_timeout = stop_timeout
        self.output: ServerOutput | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._files: tuple[IO[bytes], IO[bytes]] | None = None

    @property
    def url(self) -> str:
        """The server's base URL, e.g. `http://127.0.0.1:54321`."""
        return f'http://{HOST}:{self.port}'

    def __enter__(self) -> UvicornServer:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> None:
        """Start the child and wait until its port accepts connections.

        Raises:
            RuntimeError: The child exited, or the port did not open before `startup_timeout`; the message
                has its output.
        """
        stdout, stderr = tempfile.TemporaryFile(), tempfile.TemporaryFile()
        self._files = (stdout, stderr)
        self._process = subprocess.Popen(self.command, cwd=self.cwd, env=self.env, stdout=stdout, stderr=stderr)
        deadline = time.monotonic() + self.startup_timeout
        while True:
            if self._process.poll() is not None:
                output = self.stop()
                raise RuntimeError(f'Server exited early ({output.returncode}).\n{output.stdout}\n{output.stderr}')
            try:
                with socket.create_connection((HOST, self.port), timeout=0.5):
                    return
            except OSError:
                pass
            if time.monotonic() > deadline:
                output = self.stop()
                raise RuntimeError(f'Server not ready after {self.startup_timeout}s.\n{output.stdout}\n{output.stderr}')
            time.sleep(0.05)

    def stop(self) -> ServerOutput:
        """Stop the child (SIGINT, then kill after `stop_timeout`) and return its output. Safe to call twice."""
        if self.output is not None:
            return self.output
        process, files = self._process, self._files
        assert process is not None and files is not None, 'start() was never called'
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(self.stop_timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
        texts: list[str] = []
        for file in files:
            file.seek(0)
            texts.append(file.read().decode(errors='replace'))
            file.close()
        self.output = ServerOutput(texts[0], texts[1], process.returncode)
        return self.output
