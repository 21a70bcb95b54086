"""Run the benchmarks, print the table and write `benchmarks/results.json`.

    python -m benchmarks.run                  # every case (what `make bench` runs)
    python -m benchmarks.run -k span -r 9     # cases whose name contains 'span', 9 rounds
    python -m benchmarks.run --smoke          # each case once on a few operations: does it work?

Every number is a ratio against a baseline measured in the same run, interleaved round by round, so a busy
machine slows both sides alike. Budgets are reported, not enforced, unless `--strict` is given. A case whose
spans were not all produced fails, and makes the exit status non-zero: it would be timing a no-op.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .harness import Budget, Mode, Result

RESULTS_PATH = Path(__file__).resolve().parent / 'results.json'


@dataclass(frozen=True)
class Case:
    """A benchmark: its name, how to run it, and its budget."""

    name: str
    run: Callable[[Mode], Result]
    budget: Budget


def _cases() -> list[Case]:
    from .asgi import asgi_case
    from .burst import burst_10k_case, burst_100k_case
    from .clients import executor_case, httpx_case
    from .databases import psycopg_case
    from .export import encode_case, export_case, export_cpu_gzip_case, export_cpu_none_case
    from .fastapi import fastapi_case
    from .processes import memory_case, startup_case
    from .sampling import tail_sampling_case
    from .served import served_case
    from .spans import five_attributes_case, log_case, logging_case, nested_case, span_case

    return [
        Case('log', log_case, Budget(1.5)),
        Case('span', span_case, Budget(1.5)),
        Case('span_5_attributes', five_attributes_case, Budget(2.0)),
        Case('nested', nested_case, Budget(1.5)),
        Case('logging_handler', logging_case, Budget(1.2)),
        Case('tail_sampling', tail_sampling_case, Budget(1.25)),
        Case('asgi_request', asgi_case, Budget(1.05)),
        Case('fastapi_request', fastapi_case, Budget(1.10)),
        Case('httpx_request', httpx_case, Budget(1.10)),
        Case('psycopg_query', psycopg_case, Budget(1.10)),
        Case('executor_submit', executor_case, Budget(2.0, 'max_extra')),
        Case('import_configure', startup_case, Budget(1.3)),
        Case('export', export_case, Budget(0.9, 'min_ratio')),
        Case('otlp_encode', encode_case, Budget(0.5)),
        Case('export_cpu_gzip', export_cpu_gzip_case, Budget(0.5)),
        Case('export_cpu_none', export_cpu_none_case, Budget(0.5)),
        Case('served_request', served_case, Budget(1.15)),
        Case('burst_10k', burst_10k_case, Budget(1.5)),
        Case('burst_100k', burst_100k_case, Budget(1.5)),
        Case('memory_backend_down', memory_case, Budget(50, 'max_value')),
    ]


CASES: list[Case] = _cases()


def run_case(case: Case, mode: Mode) -> Result:
    """Run one case and judge it against its budget; errors become a failed row, never an exception."""
    try:
        result = case.run(mode)
    except Exception as exc:
        result = Result(name=case.name, ours='', baseline='', status='failed', note=f'{type(exc).__name__}: {exc}')
        if os.environ.get('BENCH_TRACEBACK'):
            traceback.print_exc()
    result.budget = case.budget.describe()
    if result.status == 'ok':
        value = result.ours_median if case.budget.kind == 'max_value' else result.ratio
        if case.budget.kind == 'max_extra' and result.ours_median is not None and result.baseline_median is not None:
            value = result.ours_median - result.baseline_median
        if value is not None and not mode.smoke and not case.budget.met_by(value):
            result.status = 'over'
    return result


def _number(value: float | None, digits: int = 2) -> str:
    if value is None:
        return '-'
    return f'{value:.0f}' if abs(value) >= 1000 else f'{value:.{digits}f}'


def format_table(results: Sequence[Result]) -> str:
    """The table `make bench` prints (also pasted into docs/performance.md)."""
    header = ('case', 'ours', 'baseline', 'unit', 'ratio', 'spread', 'budget', 'spans ours/base', 'status')
    rows: list[tuple[str, ...]] = [header]
    for r in results:
        spread = r.spread
        rows.append(
            (
                r.name,
                _number(r.ours_median),
                _number(r.baseline_median),
                r.unit or '-',
                _number(r.ratio),
                '-' if spread is None else f'±{spread:.0%}',
                r.budget,
                f'{r.spans.get("ours", 0)}/{r.spans.get("baseline", 0)}' if r.spans else '-',
                r.status + (f' ({r.note})' if r.note and r.status != 'ok' else ''),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ['| ' + ' | '.join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) + ' |' for row in rows]
    lines.insert(1, '|' + '|'.join('-' * (w + 2) for w in widths) + '|')
    return '\n'.join(lines)


_UNITS = {'us/op': ' µs', 'ms': ' ms', 's': ' s', 'MB': ' MB', 'spans/s': ' spans/s'}


def markdown_table(results: Sequence[Result]) -> str:
    """The table of `docs/performance.md`: what each side does, both medians, the ratio and the budget."""
    lines = [
        '| case | ours does | the baseline does | ours | baseline | ratio | budget | met |',
        '|------|-----------|-------------------|-----:|---------:|------:|--------|-----|',
    ]
    for r in results:
        unit = _UNITS.get(r.unit, '')
        ours = _number(r.ours_median, 1) + unit if r.ours_median is not None else '-'
        baseline = _number(r.baseline_median, 1) + unit if r.baseline_median is not None else '-'
        met = {'ok': 'yes', 'over': '**no**'}.get(r.status, r.status)
        cells = (r.name, r.ours, r.baseline, ours, baseline, _number(r.ratio), r.budget, met)
        lines.append('| ' + ' | '.join(cell.replace('|', '\\|') for cell in cells) + ' |')
    return '\n'.join(lines)


def describe(results: Sequence[Result]) -> str:
    """What each row compares, below the table."""
    return '\n'.join(f'- {r.name}: {r.ours or "-"} vs {r.baseline or "-"}' for r in results)


def write_results(results: Sequence[Result], mode: Mode, path: Path) -> None:
    data: dict[str, Any] = {
        'generated_at': datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds'),
        'python': platform.python_version(),
        'platform': platform.platform(),
        'cpus': os.cpu_count(),
        'rounds': mode.rounds,
        'smoke': mode.smoke,
        'cases': [asdict(r) | {'spread': r.spread} for r in results],
    }
    path.write_text(json.dumps(data, indent=2) + '\n', encoding='utf-8')


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog='python -m benchmarks.run', description=(__doc__ or '').split('\n\n')[0])
    parser.add_argument('-k', '--filter', default='', help='only cases whose name contains this')
    parser.add_argument('-r', '--rounds', type=int, default=31, help='interleaved rounds per case (at least 5)')
    parser.add_argument('--smoke', action='store_true', help='run each case once, tiny, without judging budgets')
    parser.add_argument('--output', type=Path, default=RESULTS_PATH, help='where to write the JSON results')
    parser.add_argument('--strict', action='store_true', help='exit non-zero when a budget is exceeded')
    parser.add_argument('--markdown', action='store_true', help='also print the table for docs/performance.md')
    args = parser.parse_args(argv)
    if not args.smoke and args.rounds < 5:
        parser.error('--rounds must be at least 5 (use --smoke for a quick check)')
    for name in [name for name in os.environ if name.startswith(('LOGFIRE_', 'OTEL_'))]:
        del os.environ[name]  # ours runs with default settings
    mode = Mode.smoke_test() if args.smoke else Mode(rounds=args.rounds)
    results: list[Result] = []
    started = time.monotonic()
    for case in CASES:
        if args.filter in case.name:
            print(f'running {case.name} ...', file=sys.stderr, flush=True)
            results.append(run_case(case, mode))
    print(format_table(results))
    print()
    print(describe(results))
    if args.markdown:
        print(f'\n{markdown_table(results)}')
    print(f'\n{len(results)} cases in {time.monotonic() - started:.0f} s; results in {args.output}')
    write_results(results, mode, args.output)
    failed = any(r.status == 'failed' for r in results)
    over = any(r.status == 'over' for r in results)
    return 1 if failed or (args.strict and over) else 0


if __name__ == '__main__':
    sys.exit(main())
