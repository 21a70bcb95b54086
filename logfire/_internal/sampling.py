"""Tail sampling's data: a span's level, what the `tail` callable is given, and `level_or_duration()`'s rule.

Plain data, below the processor that uses it (`exporters/tail_sampling.py`) and the options that name it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Union, cast

from ..exceptions import LogfireConfigError
from .constants import ATTRIBUTES_LOG_LEVEL_NUM_KEY, ERROR_LEVEL, INFO_LEVEL, LEVEL_NUMBERS, NUMBER_TO_LEVEL, LevelName

if TYPE_CHECKING:
    from opentelemetry.context import Context
    from opentelemetry.sdk.trace import ReadableSpan

_LevelLike = Union['SpanLevel', str, int]


def _number_of(level: _LevelLike) -> int:
    if isinstance(level, SpanLevel):
        return level.number
    if isinstance(level, int) and not isinstance(level, bool):
        return level
    if isinstance(level, str) and level.lower() in LEVEL_NUMBERS:
        return LEVEL_NUMBERS[level.lower()]
    raise ValueError(f'Unknown level {level!r}. Accepted: {", ".join(LEVEL_NUMBERS)}, or a number.')


class SpanLevel:
    """The level of a span or log, comparable with level names and numbers: `level >= 'error'`."""

    __slots__ = ('number',)

    def __init__(self, number: int) -> None:
        self.number = number
        """The level number, as in the `logfire.level_num` attribute (`info` is 9, `error` 17)."""

    @classmethod
    def from_span(cls, span: ReadableSpan) -> SpanLevel:
        """The level of `span`: its `logfire.level_num`, else `error` for an error status, else `info`."""
        attributes = span.attributes or {}
        number = attributes.get(ATTRIBUTES_LOG_LEVEL_NUM_KEY)
        if isinstance(number, int):
            return cls(number)
        return cls(ERROR_LEVEL if span.status.status_code.name == 'ERROR' else INFO_LEVEL)

    @property
    def name(self) -> LevelName | None:
        """The level's name, or None for a number that has none."""
        return NUMBER_TO_LEVEL.get(self.number)  # pyright: ignore[reportReturnType]

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (SpanLevel, str, int)):
            try:
                return self.number == _number_of(other)
            except ValueError:
                return False
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.number)

    def __lt__(self, other: _LevelLike) -> bool:
        return self.number < _number_of(other)

    def __le__(self, other: _LevelLike) -> bool:
        return self.number <= _number_of(other)

    def __gt__(self, other: _LevelLike) -> bool:
        return self.number > _number_of(other)

    def __ge__(self, other: _LevelLike) -> bool:
        return self.number >= _number_of(other)

    def __repr__(self) -> str:
        return f'SpanLevel({self.name or self.number!r})'


class TailSamplingSpanInfo:
    """What the `tail` callable of `SamplingOptions` is given: one span of an undecided trace, as it starts or ends."""

    __slots__ = ('_level', 'context', 'duration', 'event', 'span')

    def __init__(
        self, span: ReadableSpan, context: Context | None, event: Literal['start', 'end'], duration: float
    ) -> None:
        self.span = span
        """The span (still open at `'start'`); its `context.trace_id` is the trace's id."""
        self.context = context
        """The parent context the span started in (at `'start'`), else None."""
        self.event: Literal['start', 'end'] = event
        """Whether the span is starting or ending."""
        self.duration = duration
        """Seconds from the start of the trace's first span to this event, by the spans' own timestamps."""
        self._level: SpanLevel | None = None

    @property
    def level(self) -> SpanLevel:
        """The span's level (see `SpanLevel.from_span`), comparable with names: `info.level >= 'error'`."""
        if self._level is None:
            self._level = SpanLevel.from_span(self.span)
        return self._level


TailCallback = Callable[[TailSamplingSpanInfo], float]


@dataclass(frozen=True)
class LevelOrDuration:
    """The `tail` rule of `SamplingOptions.level_or_duration()`.

    1.0 for a span at the level or a trace past the duration, else the background rate. The tail-sampling
    processor recognises it and applies it inline.
    """

    level_threshold: LevelName | None = 'notice'
    duration_threshold: float | None = 5.0
    background_rate: float = 0.0

    @property
    def level_number(self) -> int | None:
        """The threshold as a number (None: level never keeps a trace)."""
        return None if self.level_threshold is None else _number_of(self.level_threshold)

    def __call__(self, info: TailSamplingSpanInfo) -> float:
        """The probability of keeping the trace, given one of its spans."""
        level = self.level_number
        if level is not None and info.level >= level:
            return 1.0
        if self.duration_threshold is not None and info.duration >= self.duration_threshold:
            return 1.0
        return self.background_rate


def validate_sampling(tail: object) -> None:
    """Fail at `configure()` on a tail rule that cannot work, naming the field.

    Raises:
        LogfireConfigError: `tail` is not callable, or a `level_or_duration()` field is out of range.
    """
    if tail is None:
        return
    if not callable(tail):
        raise LogfireConfigError(
            f'configure(sampling=SamplingOptions(tail=...))={tail!r} is invalid. Accepted: a callable taking a '
            'TailSamplingSpanInfo and returning a probability from 0.0 to 1.0, or None.'
        )
    if not isinstance(tail, LevelOrDuration):
        return
    origin = 'configure(sampling=SamplingOptions.level_or_duration({}=...))={!r} is invalid. Accepted: {}.'
    rate = cast('object', tail.background_rate)
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0.0 <= rate <= 1.0:
        raise LogfireConfigError(origin.format('background_rate', rate, 'a number from 0.0 to 1.0'))
    level = cast('object', tail.level_threshold)
    if level is not None and (not isinstance(level, str) or level.lower() not in LEVEL_NUMBERS):
        raise LogfireConfigError(
            origin.format('level_threshold', level, ', '.join(repr(n) for n in LEVEL_NUMBERS) + ' or None')
        )
    duration = cast('object', tail.duration_threshold)
    if duration is not None and (
        isinstance(duration, bool) or not isinstance(duration, (int, float)) or not duration >= 0
    ):
        raise LogfireConfigError(origin.format('duration_threshold', duration, 'a number of seconds >= 0, or None'))
