"""Cases that need a fresh interpreter: start-up cost, and memory while the backend is down.

Each child prints one JSON line; timings are taken inside the child, so interpreter start-up is left out. Children
get an environment without `LOGFIRE_*`/`OTEL_*` variables and run in an empty directory (no `pyproject.toml`).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from .harness import CheckFailed, Mode, Result, apply_ratios

_COUNTER = """
from opentelemetry.sdk.trace import SpanProcessor

class Counter(SpanProcessor):
    def __init__(self):
        self.spans = 0

    def on_end(self, span):
        self.spans += 1
"""

OURS_STARTUP = """
import time
start = time.perf_counter()
import logfire
logfire.configure(console=False, send_to_logfire=False)
seconds = time.perf_counter() - start
import json
#COUNTER
counter = Counter()
logfire.DEFAULT_LOGFIRE_INSTANCE.config.pipeline.tracer_provider.add_span_processor(counter)
logfire.info('configured')
print(json.dumps({'seconds': seconds, 'spans': counter.spans}))
""".replace('#COUNTER', _COUNTER)

BASELINE_STARTUP = """
import time
start = time.perf_counter()
import opentelemetry.sdk.metrics
import opentelemetry.sdk.trace
import pydantic_settings

class Settings(pydantic_settings.BaseSettings):
    service_name: str | None = None

tracer_provider = opentelemetry.sdk.trace.TracerProvider()
meter_provider = opentelemetry.sdk.metrics.MeterProvider()
settings = Settings()
seconds = time.perf_counter() - start
import json
#COUNTER
counter = Counter()
tracer_provider.add_span_processor(counter)
tracer_provider.get_tracer('baseline').start_span('configured').end()
print(json.dumps({'seconds': seconds, 'spans': counter.spans}))
""".replace('#COUNTER', _COUNTER)

MEMORY = """
import gc
import json
import os
import sys

port, spans, data_dir = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
import logfire
#COUNTER

def rss():
    try:
        with open('/proc/self/statm') as statm:
            return int(statm.read().split()[1]) * os.sysconf('SC_PAGE_SIZE')
    except OSError:  # not Linux: the peak is the best we have
        import resource
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * (1 if sys.platform == 'darwin' else 1024)

counter = Counter()
logfire.configure(
    console=False,
    send_to_logfire=True,
    token='pylf_v1_us_benchmarkbenchmarkbenchmark',
    data_dir=data_dir,
    additional_span_processors=[counter],
    advanced=logfire.AdvancedOptions(base_url=f'http://127.0.0.1:{port}'),
)
for i in range(1000):  # first use: lazy imports, caches, the exporter's threads
    logfire.info('warming up {i}', i=i)
gc.collect()
before = peak = rss()
counter.spans = 0
for i in range(spans):
    logfire.info('request {i} handled', i=i, path='/items', status=200)
    if i % 5000 == 0:
        peak = max(peak, rss())
gc.collect()
after = rss()
growth, final = (max(peak, after) - before) / 2**20, (after - before) / 2**20
print(json.dumps({'growth': growth, 'final': final, 'spans': counter.spans}))
sys.stdout.flush()
os._exit(0)  # the backend is down: do not wait for the bounded flush at exit
""".replace('#COUNTER', _COUNTER)


def child_env(**extra: str) -> dict[str, str]:
    """The current environment without logfire, OTel or pytest variables, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(('LOGFIRE_', 'OTEL_', 'PYTEST_'))}
    return env | extra


def run_child(code: str, *args: str, env: dict[str, str] | None = None, timeout: float = 300) -> dict[str, Any]:
    """Run `code` in a fresh interpreter in an empty directory and return the JSON it printed last."""
    with tempfile.TemporaryDirectory() as cwd:
        completed = subprocess.run(
            [sys.executable, '-c', code, *args],
            cwd=cwd,
            env=env if env is not None else child_env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    if completed.returncode != 0 or not completed.stdout.strip():
        raise CheckFailed(f'child exited with {completed.returncode}: {completed.stderr.strip()[-2000:]}')
    return json.loads(completed.stdout.strip().splitlines()[-1])


def startup_case(mode: Mode) -> Result:
    result = Result(
        name='import_configure',
        ours='import logfire; logfire.configure(console=False, send_to_logfire=False), fresh process',
        baseline='import OTel SDK trace + metrics + pydantic-settings; TracerProvider, MeterProvider, BaseSettings',
        unit='ms',
    )
    ours: list[float] = []
    baseline: list[float] = []
    ratios: list[float] = []
    spans = {'ours': 0, 'baseline': 0}
    with tempfile.TemporaryDirectory() as pycache:
        # Both sides start with warm bytecode caches, as an installed package does, even where the environment
        # says PYTHONDONTWRITEBYTECODE; a private cache directory keeps the checkout clean.
        env = child_env(PYTHONPYCACHEPREFIX=pycache)
        env.pop('PYTHONDONTWRITEBYTECODE', None)
        if not mode.smoke:  # the first run of each compiles the bytecode
            run_child(OURS_STARTUP, env=env)
            run_child(BASELINE_STARTUP, env=env)
        for round_index in range(max(1, mode.rounds)):
            order = ('ours', 'baseline') if round_index % 2 == 0 else ('baseline', 'ours')
            seconds: dict[str, float] = {}
            for side in order:
                report = run_child(OURS_STARTUP if side == 'ours' else BASELINE_STARTUP, env=env)
                if report['spans'] != 1:
                    raise CheckFailed(f'{side}: expected 1 span after start-up, got {report["spans"]}')
                spans[side] += 1
                seconds[side] = report['seconds']
            ours.append(seconds['ours'] * 1000)
            baseline.append(seconds['baseline'] * 1000)
            ratios.append(seconds['ours'] / seconds['baseline'])
    apply_ratios(result, ours, baseline, ratios)
    result.spans = spans
    return result


def _closed_port() -> int:
    """A local port nothing listens on, so every export is refused at once, as when a backend is down."""
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def memory_case(mode: Mode, spans: int = 100_000) -> Result:
    result = Result(
        name='memory_backend_down',
        ours=f'RSS growth over {spans // 1000}k logs while the backend is down',
        baseline='-',
        unit='MB',
    )
    if mode.smoke:
        spans = 2_000
    with tempfile.TemporaryDirectory() as data_dir:
        report = run_child(MEMORY, str(_closed_port()), str(spans), str(Path(data_dir)))
    if report['spans'] != spans:
        raise CheckFailed(f'expected {spans} spans, the processor saw {report["spans"]}')
    result.ours_median = report['growth']
    result.rounds = 1
    result.spans = {'ours': report['spans']}
    result.note = f'{report["final"]:.1f} MB still held after gc at the end'
    return result
