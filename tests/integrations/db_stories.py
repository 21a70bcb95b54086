"""Running a database story in a fresh interpreter (instrumentation patches drivers process-wide); its spans."""

from __future__ import annotations

import json
import textwrap
from dataclasses import dataclass
from typing import Any

from ..conftest import clean_env, run_python

PRELUDE = textwrap.dedent(
    """
    import asyncio, json, os
    import logfire
    from logfire.testing import TestExporter
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    exporter = TestExporter()
    logfire.configure(send_to_logfire=False, console=False, additional_span_processors=[SimpleSpanProcessor(exporter)])


    def report():
        spans = exporter.exported_spans
        names = {s.context.span_id: s.name for s in spans}
        print(json.dumps([
            {
                'name': s.name,
                'parent': names.get(s.parent.span_id) if s.parent else None,
                'attributes': dict(s.attributes),
                'events': [e.name for e in s.events],
            }
            for s in spans
        ], default=str))
    """
)


@dataclass
class SpanSummary:
    name: str
    parent: str | None
    attributes: dict[str, Any]
    events: list[str]

    @property
    def message(self) -> str:
        return self.attributes['logfire.msg']

    @property
    def level(self) -> int | None:
        return self.attributes.get('logfire.level_num')


def run_story(body: str, **env: str) -> tuple[list[SpanSummary], str]:
    """Run `body` after configuring logfire with a test exporter; it must call `report()`. Returns spans and stdout."""
    result = run_python(PRELUDE + textwrap.dedent(body), env=clean_env(**env), timeout=90)
    assert result.returncode == 0, result.stderr
    assert 'already instrumented' not in result.stderr, result.stderr
    output = result.stdout.strip().splitlines()[-1]
    return [SpanSummary(**s) for s in json.loads(output)], result.stdout


def db_spans(spans: list[SpanSummary]) -> list[SpanSummary]:
    return [s for s in spans if 'db.system' in s.attributes]
