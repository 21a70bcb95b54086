"""A served request with export on: server CPU per request under a real uvicorn, exporting to a live receiver.

Three servers run the ASGI guide's app (`benchmarks/server.py`), each in its own process: the bare app, the app
behind OpenTelemetry's `OpenTelemetryMiddleware` with the raw SDK's batch exporter, and the app behind
`logfire.instrument_asgi` with `logfire.configure()`'s defaults (console off). All export to one receiver
process (`benchmarks/receiver.py`). A client in this process sends the same keep-alive GETs to each in turn.

The server's CPU (user + system of the whole process, every thread: the request and the export threads) is
read from `/proc/<pid>/stat` before a batch of requests and again once the receiver has counted the batch's
spans, so it includes the export of the batch. Each round takes each server's least CPU of three batches,
going through the servers in a rotating order.

Reported: the CPU each instrumented server adds per request over the bare app, ours against raw's. The ratio is
the median of our added CPU over the median of raw's (a per-round ratio of two differences is too noisy to
take the median of); the spread columns come from the per-round ratios.
"""

from __future__ import annotations

import http.client
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .export import Receiver
from .harness import CheckFailed, Mode, Result, apply_ratios
from .processes import child_env

_SERVER = Path(__file__).resolve().parent / 'server.py'
_VARIANTS = ('bare', 'raw', 'ours')
_BATCH = 1024
"""Requests per server per batch: a multiple of 512, so the raw SDK's batch processor sends every span at once
(a last partial batch would wait for its 5-second schedule delay)."""
_REPEATS = 3
"""Each round takes each server's least CPU of this many batches (a batch hit by another process's burst is
discarded)."""


class Server:
    """One uvicorn server process, with a keep-alive client connection to it."""

    def __init__(self, variant: str, env: dict[str, str], cwd: str) -> None:
        self.variant = variant
        self.process = subprocess.Popen(
            [sys.executable, str(_SERVER), variant],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            cwd=cwd,
            text=True,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line.strip():
            raise CheckFailed(f'the {variant} server did not start (exit status {self.process.wait(10)})')
        self.port = int(line)
        self.connection = http.client.HTTPConnection('127.0.0.1', self.port, timeout=10)

    def cpu_seconds(self) -> float:
        """User + system CPU of the server process so far, all its threads included."""
        return _stat_cpu(f'/proc/{self.process.pid}/stat')

    def main_thread_cpu_seconds(self) -> float:
        """User + system CPU of the server's main thread (the event loop) so far."""
        return _stat_cpu(f'/proc/{self.process.pid}/task/{self.process.pid}/stat')

    def get(self, n: int) -> None:
        """N requests for `/`, one after another on a new keep-alive connection, each checked."""
        self.connection.close()  # uvicorn closes a connection idle for 5 s, as it is between rounds
        connection = self.connection = http.client.HTTPConnection('127.0.0.1', self.port, timeout=10)
        connection.connect()
        assert connection.sock is not None
        connection.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # no 40 ms delayed-ACK stalls
        for _ in range(n):
            connection.request('GET', '/')
            response = connection.getresponse()
            body = response.read()
            if response.status != 200 or body != b'Hello, world!':
                raise CheckFailed(f'the {self.variant} server answered {response.status} {body[:100]!r}')

    def close(self) -> None:
        self.connection.close()
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.close()  # the server shuts down (and flushes) when its stdin closes
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)
        self.process.stdout.close()


def _stat_cpu(path: str) -> float:
    with open(path) as stat:
        fields = stat.read().rsplit(')', 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf('SC_CLK_TCK')


def _cpu_per_request(server: Server, n: int, receiver: Receiver) -> tuple[float, float]:
    """Microseconds of server CPU per request over n requests, including the export of their spans, and the part
    spent outside the main thread (the export threads)."""
    already = receiver.count()
    before, main_before = server.cpu_seconds(), server.main_thread_cpu_seconds()
    server.get(n)
    if server.variant != 'bare':
        receiver.wait_for(already + n)  # one span per request; the wait fails on any other number
    time.sleep(0.05)  # let the sender thread take the receiver's answer
    total, main = server.cpu_seconds() - before, server.main_thread_cpu_seconds() - main_before
    return total / n * 1e6, (total - main) / n * 1e6


def served_case(mode: Mode) -> Result:
    result = Result(
        name='served_request',
        ours='server CPU per request added by logfire.configure() + instrument_asgi over the bare app, uvicorn',
        baseline='the same added by OpenTelemetryMiddleware + SDK BatchSpanProcessor/OTLPSpanExporter',
        unit='us/op',
    )
    if not Path('/proc/self/stat').exists():
        result.status = 'pending'
        result.note = 'needs /proc to read a process CPU time'
        return result
    n = 20 if mode.smoke else _BATCH
    receiver = Receiver()
    servers: dict[str, Server] = {}
    try:
        with tempfile.TemporaryDirectory() as cwd:
            extra = {'OTEL_EXPORTER_OTLP_ENDPOINT': receiver.url, 'OTEL_EXPORTER_OTLP_PROTOCOL': 'http/protobuf'}
            if mode.smoke:  # a few spans must not wait for the raw SDK's 5-second schedule delay
                extra['OTEL_BSP_SCHEDULE_DELAY'] = '50'
            env = child_env(**extra)
            for variant in _VARIANTS:
                servers[variant] = Server(variant, env, cwd)
            _measure(result, mode, servers, n, receiver)
    finally:
        for server in servers.values():
            server.close()
        receiver.close()
    return result


def _measure(result: Result, mode: Mode, servers: dict[str, Server], n: int, receiver: Receiver) -> None:
    if not mode.smoke:  # warm up: first-use imports, caches, connections, export threads
        for server in servers.values():
            _cpu_per_request(server, n // 4, receiver)
    cpu: dict[str, list[float]] = {variant: [] for variant in _VARIANTS}
    background: dict[str, list[float]] = {variant: [] for variant in _VARIANTS}
    rounds = 1 if mode.smoke else max(5, min(mode.rounds, 15))  # about 6 s a round
    repeats = 1 if mode.smoke else _REPEATS
    for round_index in range(rounds):
        best = dict.fromkeys(_VARIANTS, (float('inf'), 0.0))
        for repeat in range(repeats):
            shift = (round_index + repeat) % len(_VARIANTS)
            for variant in _VARIANTS[shift:] + _VARIANTS[:shift]:
                best[variant] = min(best[variant], _cpu_per_request(servers[variant], n, receiver))
        for variant in _VARIANTS:
            cpu[variant].append(best[variant][0])
            background[variant].append(best[variant][1])
    # At least a nanosecond: in a tiny smoke run the clock's 10 ms ticks can make a difference zero or negative.
    floor = 1e-3 if mode.smoke else float('-inf')
    added_ours = [max(o - b, floor) for o, b in zip(cpu['ours'], cpu['bare'], strict=True)]
    added_raw = [max(r - b, floor) for r, b in zip(cpu['raw'], cpu['bare'], strict=True)]
    ratios = [o / r if r > 0 else float('inf') for o, r in zip(added_ours, added_raw, strict=True)]
    apply_ratios(result, added_ours, added_raw, ratios)
    raw_median = statistics.median(added_raw)
    if raw_median <= 0:
        raise CheckFailed(f'the raw middleware added no CPU per request ({raw_median:.1f} µs): nothing was measured')
    result.ratio = statistics.median(added_ours) / raw_median
    bare = statistics.median(cpu['bare'])
    result.ours += f' ({bare:.0f} µs a request bare; best of {repeats} x {n} requests a round)'
    threads = {variant: statistics.median(background[variant]) for variant in _VARIANTS}
    result.note = (
        f'outside the event loop thread (export): ours {threads["ours"]:.0f} µs, raw {threads["raw"]:.0f} µs, '
        f'bare {threads["bare"]:.0f} µs a request'
    )
    result.spans = {'ours': n * rounds * repeats, 'baseline': n * rounds * repeats}
