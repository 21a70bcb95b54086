"""A burst at exit: N spans in a tight loop, then the process ends, exporting to a live local receiver.

    for i in range(N):
        with logfire.span('op {i}', i=i):
            pass

Ours runs with `logfire.configure()`'s defaults (console off, no token), the baseline with the raw SDK's
`BatchSpanProcessor` + `OTLPSpanExporter` (its defaults: a queue of 2,048 spans, which drops the rest). Each
run is a fresh process in an empty directory, so ours keeps its disk queue in a `.logfire` of its own, and the
receiver (its own process) counts what each run delivered.

Reported: the loop's time, ours against the baseline's, interleaved; and in the row's description, the spans
delivered of those made (the fewest over the rounds), whether ours touched its disk queue, and how long the
process took to exit after the loop (ours has a 3 s shutdown budget by default).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from .export import Receiver
from .harness import CheckFailed, Mode, Result, apply_ratios
from .processes import child_env

_REPORT = """
print(json.dumps({'seconds': time.perf_counter() - start, 'end': time.time()}), flush=True)
"""

OURS = (
    """
import json, sys, time
import logfire

logfire.configure(console=False, send_to_logfire=False)
n = int(sys.argv[1])
start = time.perf_counter()
for i in range(n):
    with logfire.span('op {i}', i=i):
        pass
"""
    + _REPORT
)

BASELINE = (
    """
import json, sys, time
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

provider = TracerProvider()  # shuts down (and flushes) at exit
provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
tracer = provider.get_tracer('burst')
n = int(sys.argv[1])
start = time.perf_counter()
for i in range(n):
    with tracer.start_as_current_span('op {i}', attributes={'i': i}):
        pass
"""
    + _REPORT
)


@dataclass
class Run:
    """One process's burst: loop seconds, seconds from the loop's end to the process's, and what arrived."""

    loop: float
    exit: float
    delivered: int
    disk_used: bool
    stderr: str


def run_burst(code: str, n: int, receiver: Receiver) -> Run:
    """Run the burst in a fresh process in an empty directory; count what the receiver got from it."""
    from logfire._internal.exporters.disk_queue import QUEUE_DIRNAME

    already = receiver.count()
    env = child_env(OTEL_EXPORTER_OTLP_ENDPOINT=receiver.url, OTEL_EXPORTER_OTLP_PROTOCOL='http/protobuf')
    with tempfile.TemporaryDirectory() as cwd:
        completed = subprocess.run(
            [sys.executable, '-c', code, str(n)], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
        )
        ended = time.time()
        disk_used = (Path(cwd) / '.logfire' / QUEUE_DIRNAME).exists()
    if completed.returncode != 0 or not completed.stdout.strip():
        raise CheckFailed(f'the burst exited with {completed.returncode}: {completed.stderr.strip()[-2000:]}')
    report = json.loads(completed.stdout.strip().splitlines()[-1])
    time.sleep(0.1)  # a request abandoned at exit may still be counted
    return Run(report['seconds'], ended - report['end'], receiver.count() - already, disk_used, completed.stderr)


def burst_case(mode: Mode, n: int = 10_000, rounds: int = 9, *, disk_allowed: bool = False) -> Result:
    result = Result(name=f'burst_{n // 1000}k', ours='', baseline='', unit='ms')
    if mode.smoke:
        n, rounds = 200, 1
    rounds = max(1, min(rounds, mode.rounds))
    receiver = Receiver()
    runs: dict[str, list[Run]] = {'ours': [], 'baseline': []}
    try:
        for round_index in range(rounds):
            for side in ('ours', 'baseline') if round_index % 2 == 0 else ('baseline', 'ours'):
                runs[side].append(run_burst(OURS if side == 'ours' else BASELINE, n, receiver))
    finally:
        receiver.close()
    loops = {side: [run.loop * 1000 for run in runs[side]] for side in runs}
    ratios = [o / b for o, b in zip(loops['ours'], loops['baseline'], strict=True)]
    apply_ratios(result, loops['ours'], loops['baseline'], ratios)
    ours, baseline = runs['ours'], runs['baseline']
    delivered = min(run.delivered for run in ours)
    disk = sum(run.disk_used for run in ours)
    result.ours = (
        f"{n:,} x `with logfire.span('op {{i}}', i=i)` then exit, defaults: delivered {delivered:,} of {n:,} "
        f'(fewest of {rounds}), disk queue used in {disk} of {rounds} runs, '
        f'exit {max(run.exit for run in ours):.1f} s after the loop (slowest)'
    )
    result.baseline = (
        f'the same loop on the raw SDK, BatchSpanProcessor + OTLPSpanExporter: delivered '
        f'{min(run.delivered for run in baseline):,} of {n:,} (fewest), exit {max(run.exit for run in baseline):.1f} s'
    )
    result.spans = {'ours': sum(run.delivered for run in ours), 'baseline': sum(run.delivered for run in baseline)}
    if delivered < n:
        result.status = 'over'
        result.note = f'delivered {delivered} of {n}: {ours[-1].stderr.strip()[-300:]}'
    elif disk and not disk_allowed:
        result.status = 'over'
        result.note = f'the disk queue was used in {disk} of {rounds} runs'
    return result


def burst_10k_case(mode: Mode) -> Result:
    return burst_case(mode)


def burst_100k_case(mode: Mode) -> Result:
    return burst_case(mode, 100_000, rounds=1, disk_allowed=True)
