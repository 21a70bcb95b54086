"""Settings field types that need more than a plain annotation: text parsed from the environment, and checks.

Objects only code can pass are checked for what they must be, so that a mistake fails at `configure()` with a
`LogfireConfigError` rather than later, deep inside the pipeline.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator
from pydantic_settings import NoDecode

from .constants import LEVEL_NUMBERS


def _parse_level(value: object) -> object:
    if isinstance(value, str):
        name = value.strip().lower()
        if name in LEVEL_NUMBERS:
            return LEVEL_NUMBERS[name]
        if name.isdigit():
            return int(name)
        raise ValueError(f'expected a level name ({", ".join(LEVEL_NUMBERS)}) or a number')
    return value


def _parse_key_values(value: object) -> object:
    """Parse `k=v,k2=v2` (the `OTEL_RESOURCE_ATTRIBUTES` syntax) into a dict."""
    if not isinstance(value, str):
        return value
    result: dict[str, str] = {}
    for position, item in enumerate(value.split(','), start=1):
        if not item.strip():
            continue
        key, sep, val = item.partition('=')
        if not sep or not key.strip():
            # The item is not echoed: header values are credentials.
            raise ValueError(f'expected comma-separated key=value pairs; item {position} is not one')
        result[key.strip()] = val.strip()
    return result


def parse_str_list(value: object) -> object:
    """Split a comma-separated string into its stripped, non-empty items; anything else is returned as is."""
    if isinstance(value, str):
        return [item.strip() for item in value.split(',') if item.strip()]
    return value


def _check_patterns(patterns: list[str] | None) -> list[str] | None:
    for pattern in patterns or ():
        try:
            re.compile(pattern, re.IGNORECASE)
        except re.error as exc:
            raise ValueError(f'{pattern!r} is not a valid regular expression ({exc})') from None
    return patterns


def _each(kind: str, check: Any) -> Any:
    """A validator that every item of a sequence passes `check`; the error names the first one that does not."""

    def validate(items: Sequence[Any]) -> Sequence[Any]:
        for position, item in enumerate(items):
            if not check(item):
                raise ValueError(f'item {position} ({item!r}) is not {kind}')
        return items

    return AfterValidator(validate)


def _is_span_processor(item: object) -> bool:
    from opentelemetry.sdk.trace import SpanProcessor

    return isinstance(item, SpanProcessor)


def _is_metric_reader(item: object) -> bool:
    from opentelemetry.sdk.metrics.export import MetricReader  # only once someone passes readers

    return isinstance(item, MetricReader)


def _is_metric_view(item: object) -> bool:
    from opentelemetry.sdk.metrics.view import View

    return isinstance(item, View)


def _is_resource_detector(item: object) -> bool:
    from opentelemetry.sdk.resources import ResourceDetector

    return isinstance(item, ResourceDetector)


def _check_id_generator(value: object) -> object:
    if value is not None and not all(
        callable(getattr(value, m, None)) for m in ('generate_span_id', 'generate_trace_id')
    ):
        raise ValueError(f'{value!r} has no generate_span_id() and generate_trace_id() methods')
    return value


def _check_output(value: object) -> object:
    if value is not None and not callable(getattr(value, 'write', None)):
        raise ValueError(f'{value!r} is not a text stream (it has no write() method)')
    return value


Level = Annotated[int, BeforeValidator(_parse_level)]
KeyValues = Annotated[dict[str, str], NoDecode, BeforeValidator(_parse_key_values)]
StrList = Annotated[list[str], NoDecode, BeforeValidator(parse_str_list)]
Patterns = Annotated[StrList | None, AfterValidator(_check_patterns)]
SpanProcessors = Annotated[Sequence[Any], _each('an OpenTelemetry SpanProcessor', _is_span_processor)]
MetricReaders = Annotated[Sequence[Any], _each('an OpenTelemetry MetricReader', _is_metric_reader)]
MetricViews = Annotated[Sequence[Any], _each('an OpenTelemetry metric View', _is_metric_view)]
ResourceDetectors = Annotated[Sequence[Any], _each('an OpenTelemetry ResourceDetector', _is_resource_detector)]
IdGeneratorLike = Annotated[Any, AfterValidator(_check_id_generator)]
TextStream = Annotated[Any, AfterValidator(_check_output)]
