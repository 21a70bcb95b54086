"""What every case shares: the cheap processor, interleaved timing, and the result of one case."""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor

Status = Literal['ok', 'over', 'failed', 'pending']


@dataclass(frozen=True)
class Mode:
    """How hard to measure: `smoke` runs each side once on a few operations, only to prove the case works."""

    rounds: int = 31
    batch_seconds: float = 0.03
    smoke: bool = False

    @classmethod
    def smoke_test(cls) -> Mode:
        return cls(rounds=1, batch_seconds=0.0, smoke=True)


class CheckFailed(Exception):
    """A side did not produce the spans it should have: its timing would measure a no-op."""


class InMemoryProcessor(SpanProcessor):
    """The same cheap processor on both sides: keeps ended spans in a list, which the harness counts and clears."""

    def __init__(self) -> None:
        self.spans: list[ReadableSpan] = []

    def on_end(self, span: ReadableSpan) -> None:
        self.spans.append(span)

    def take(self) -> list[ReadableSpan]:
        spans, self.spans = self.spans, []
        return spans


@dataclass
class Side:
    """One side of a micro case: `loop(n)` does n operations, each ending `spans_per_op` spans in `processor`.

    `check` looks at the spans of one batch and raises `CheckFailed` when they are not the real thing.
    """

    loop: Callable[[int], Any]
    processor: InMemoryProcessor
    spans_per_op: int
    check: Callable[[Sequence[ReadableSpan]], None] = lambda spans: None
    spans_seen: int = 0

    def timed_batch(self, n: int) -> float:
        """Seconds per operation over a batch of n; the batch's spans are counted, checked and dropped."""
        self.processor.take()
        start = time.perf_counter()
        self.loop(n)
        elapsed = time.perf_counter() - start
        spans = self.processor.take()
        expected = n * self.spans_per_op
        if len(spans) != expected:
            raise CheckFailed(f'expected {expected} spans from {n} operations, got {len(spans)}')
        self.check(spans)
        self.spans_seen += len(spans)
        return elapsed / n


@dataclass
class Result:
    """One row of the table, and one entry of `results.json`."""

    name: str
    ours: str
    baseline: str
    budget: str = ''
    unit: str = ''
    status: Status = 'ok'
    ours_median: float | None = None
    baseline_median: float | None = None
    ratio: float | None = None
    ratio_p25: float | None = None
    ratio_p75: float | None = None
    ratio_min: float | None = None
    ratio_max: float | None = None
    rounds: int = 0
    spans: dict[str, int] = field(default_factory=dict[str, int])
    note: str = ''

    @property
    def spread(self) -> float | None:
        """Half the interquartile range of the per-round ratios, relative to their median."""
        if self.ratio is None or self.ratio_p25 is None or self.ratio_p75 is None or not self.ratio:
            return None
        return (self.ratio_p75 - self.ratio_p25) / 2 / self.ratio


@dataclass(frozen=True)
class Budget:
    """`ratio <= limit` (a cost), `ratio >= limit` (a throughput), `value <= limit` (an absolute amount), or
    `ours - baseline <= limit` (an extra cost, in the row's unit)."""

    limit: float
    kind: Literal['max_ratio', 'min_ratio', 'max_value', 'max_extra'] = 'max_ratio'

    def describe(self) -> str:
        formats = {'max_ratio': '<= {}', 'min_ratio': '>= {}', 'max_value': '<= {}', 'max_extra': '+<= {}'}
        return formats[self.kind].format(self.limit)

    def met_by(self, value: float) -> bool:
        return value >= self.limit if self.kind == 'min_ratio' else value <= self.limit


def apply_ratios(result: Result, ours: Sequence[float], baseline: Sequence[float], ratios: Sequence[float]) -> None:
    """Fill in the medians and the ratio statistics of interleaved rounds."""
    result.ours_median = statistics.median(ours)
    result.baseline_median = statistics.median(baseline)
    result.ratio = statistics.median(ratios)
    result.ratio_min, result.ratio_max = min(ratios), max(ratios)
    if len(ratios) >= 2:
        quartiles = statistics.quantiles(ratios, n=4, method='inclusive')
        result.ratio_p25, result.ratio_p75 = quartiles[0], quartiles[2]
    else:
        result.ratio_p25 = result.ratio_p75 = ratios[0]
    result.rounds = len(ratios)


def interleave(ours: Side, baseline: Side, mode: Mode, result: Result, *, repeats: int = 3) -> None:
    """Time both sides in alternating batches, round after round, and record microseconds per operation.

    Each round takes the fastest of `repeats` batches per side (a batch hit by another process's burst is
    discarded) and divides ours by the baseline's; the reported ratio is the median over rounds, so drift of the
    machine's speed between rounds cancels out.
    """
    if mode.smoke:
        result.ours_median = ours.timed_batch(3) * 1e6
        result.baseline_median = baseline.timed_batch(3) * 1e6
        result.ratio = result.ours_median / result.baseline_median
        result.rounds = 1
    else:
        n = _calibrate(ours, baseline, mode.batch_seconds)
        ours_times: list[float] = []
        baseline_times: list[float] = []
        ratios: list[float] = []
        for round_index in range(mode.rounds):
            gc.collect()
            best_ours = best_baseline = float('inf')
            for repeat in range(repeats):
                first_ours = (round_index + repeat) % 2 == 0
                for side in (ours, baseline) if first_ours else (baseline, ours):
                    seconds = side.timed_batch(n)
                    if side is ours:
                        best_ours = min(best_ours, seconds)
                    else:
                        best_baseline = min(best_baseline, seconds)
            ours_times.append(best_ours * 1e6)
            baseline_times.append(best_baseline * 1e6)
            ratios.append(best_ours / best_baseline)
        apply_ratios(result, ours_times, baseline_times, ratios)
    result.unit = 'us/op'
    result.spans = {'ours': ours.spans_seen, 'baseline': baseline.spans_seen}


def _calibrate(ours: Side, baseline: Side, batch_seconds: float) -> int:
    """Warm both sides up, then pick a batch size that takes about `batch_seconds` on the slower side."""
    for _ in range(3):  # first calls pay for lazy imports and per-call-site analysis
        ours.timed_batch(10)
        baseline.timed_batch(10)
    n = 10
    while True:
        slowest = max(ours.timed_batch(n), baseline.timed_batch(n))
        if slowest * n >= batch_seconds / 4 or n >= 1_000_000:
            return max(10, int(batch_seconds / slowest))
        n *= 4


def expect_logfire_spans(spans: Sequence[ReadableSpan]) -> None:
    """Every span of the batch went through logfire's API: it has a formatted message and code location."""
    for span in spans:
        attributes = span.attributes or {}
        if 'logfire.msg' not in attributes or 'code.filepath' not in attributes:
            raise CheckFailed(f'span {span.name!r} lacks logfire.msg or code.filepath: {dict(attributes)}')


def expect_nested(outer: str, inner: str) -> Callable[[Sequence[ReadableSpan]], None]:
    """A check that each `inner` span's parent is an `outer` span of the same batch."""

    def check(spans: Sequence[ReadableSpan]) -> None:
        outer_ids = {span.context.span_id for span in spans if span.name == outer and span.context is not None}
        for span in spans:
            if span.name == inner and (span.parent is None or span.parent.span_id not in outer_ids):
                raise CheckFailed(f'{inner!r} is not nested in {outer!r}')

    return check


def expect_names(*names: str) -> Callable[[Sequence[ReadableSpan]], None]:
    """A check that a batch's spans have these names (in any order, each at least once)."""

    def check(spans: Sequence[ReadableSpan]) -> None:
        seen = {span.name for span in spans}
        missing = set(names) - seen
        if missing or not seen <= set(names):
            raise CheckFailed(f'span names {sorted(seen)} differ from the expected {sorted(names)}')

    return check


def both(*checks: Callable[[Sequence[ReadableSpan]], None]) -> Callable[[Sequence[ReadableSpan]], None]:
    """All of `checks`."""

    def check(spans: Sequence[ReadableSpan]) -> None:
        for one in checks:
            one(spans)

    return check
