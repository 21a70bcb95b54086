"""Code written for the established SDK behaves the same here: what it records, what it warns about, what it allows."""

from __future__ import annotations

import json
import pickle
from collections.abc import Generator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import cloudpickle  # pyright: ignore[reportMissingTypeStubs]
import pytest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from sqlalchemy import ForeignKey, create_engine, event, select
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship

import logfire
from logfire.testing import CaptureLogfire, TestExporter


def spans(capfire: CaptureLogfire) -> list[dict[str, Any]]:
    return capfire.exporter.exported_spans_as_dict()


class Base(DeclarativeBase):
    pass


class Team(Base):
    __tablename__ = 'team'
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str]
    members: Mapped[list[Member]] = relationship(back_populates='team')


class Member(Base):
    __tablename__ = 'member'
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str]
    bio: Mapped[str] = mapped_column(deferred=True)
    team_id: Mapped[int] = mapped_column(ForeignKey('team.id'))
    team: Mapped[Team] = relationship(back_populates='members')


def test_logging_an_orm_object_runs_no_query_and_marks_what_is_not_loaded(capfire: CaptureLogfire) -> None:
    engine = create_engine('sqlite://')
    Base.metadata.create_all(engine)
    with Session(engine) as session:
        session.add(Member(id=1, name='Ada', bio='long text', team=Team(id=1, name='core')))
        session.commit()
    statements: list[str] = []
    event.listen(engine, 'before_cursor_execute', lambda *args: statements.append(args[2]))

    with Session(engine) as session:
        member = session.scalars(select(Member)).one()
        before = len(statements)
        logfire.info('loaded {m}', m=member)
        assert len(statements) == before  # neither the lazy `team` relationship nor the deferred `bio` was loaded

        assert member.team.name == 'core'  # now loaded by the app itself: then it is recorded
        before = len(statements)
        logfire.info('again', m=member)
        assert len(statements) == before

    first, second = (span['attributes'] for span in spans(capfire))
    assert json.loads(first['m']) == {'team': '<deferred>', 'id': 1, 'name': 'Ada', 'bio': '<deferred>', 'team_id': 1}
    assert json.loads(first['logfire.json_schema'])['properties']['m'] == {
        'type': 'object',
        'title': 'Member',
        'x-python-datatype': 'sqlalchemy',
    }
    assert json.loads(second['m'])['team'] == {'members': '<deferred>', 'id': 1, 'name': 'core'}
    engine.dispose()


@dataclass
class WithPrivate:
    in_repr: int
    not_in_repr: dict[str, int] = field(repr=False)


def test_dataclass_fields_left_out_of_repr_are_left_out_of_attributes(capfire: CaptureLogfire) -> None:
    logfire.info('x', d=WithPrivate(1, {'t': 2}))

    [span] = spans(capfire)
    assert span['attributes']['d'] == '{"in_repr":1}'


@logfire.instrument('double {x}')
def double(x: int) -> int:
    return 2 * x


def test_a_module_level_instrumented_function_pickles_by_reference(capfire: CaptureLogfire) -> None:
    assert pickle.loads(pickle.dumps(double)) is double
    assert cloudpickle.loads(cloudpickle.dumps(double)) is double  # pyright: ignore


def test_an_instrumented_function_pickled_by_value_records_where_it_is_called(capfire: CaptureLogfire) -> None:
    @logfire.instrument('triple {x}', record_return=True)
    def triple(x: int) -> int:
        return 3 * x

    copy = cloudpickle.loads(cloudpickle.dumps(triple))  # pyright: ignore
    assert copy is not triple
    assert copy(2) == 6

    [span] = spans(capfire)
    assert span['attributes']['logfire.msg'] == 'triple 2'
    assert span['attributes']['return'] == 6


def test_a_single_string_is_one_tag(capfire: CaptureLogfire) -> None:
    with logfire.span('s', _tags='first') as span:
        span.tags = 'bar'
    assert span.tags == ('bar',)
    assert spans(capfire)[0]['attributes']['logfire.tags'] == ('bar',)


def test_none_arguments_are_in_the_message_and_attributes(capfire: CaptureLogfire) -> None:
    logfire.info('test {a} {none}', a=2, none=None)

    [span] = spans(capfire)
    attributes = span['attributes']
    assert attributes['logfire.msg'] == 'test 2 None'
    assert attributes['none'] == 'null'
    assert 'logfire.null_args' not in attributes
    assert json.loads(attributes['logfire.json_schema'])['properties'] == {'a': {}, 'none': {'type': 'null'}}


def test_instrument_takes_a_level(capfire: CaptureLogfire) -> None:
    @logfire.instrument(level='warn')
    def warned() -> None:
        pass

    warned()
    [span] = spans(capfire)
    assert span['attributes']['logfire.level_num'] == 13


def test_instrument_below_min_level_makes_no_span() -> None:
    exporter = TestExporter()
    lf = logfire.configure(
        local=True, console=False, min_level='info', additional_span_processors=[SimpleSpanProcessor(exporter)]
    )

    @lf.instrument(level='debug', record_return=True)
    def quiet() -> int:
        return 1

    assert quiet() == 1
    assert exporter.exported_spans == []
    lf.shutdown()


def test_span_name_context_and_links_added_before_and_after_start(capfire: CaptureLogfire) -> None:
    with logfire.span('first') as first:
        assert first.name == 'first'
    assert first.context is not None
    second = logfire.span('second {n}', n=1)
    assert second.context is None
    second.add_link(first.context, {'why': 'before'})
    with second:
        second.add_link(first.context, {'why': 'after'})
        second.name = 'renamed'

    exported = capfire.exporter.exported_spans[-1]
    assert exported.name == 'renamed'
    assert [(link.context.span_id, dict(link.attributes or {})) for link in exported.links] == [
        (first.context.span_id, {'why': 'before'}),
        (first.context.span_id, {'why': 'after'}),
    ]


def test_instrument_new_trace_links_back_to_the_span_it_came_from(capfire: CaptureLogfire) -> None:
    @logfire.instrument(new_trace=True)
    def job() -> None:
        pass

    with logfire.span('outer') as outer:
        job()
    job()  # no span to come from: no link

    linked, outer_span, unlinked = capfire.exporter.exported_spans
    assert outer.context is not None and outer_span.name == 'outer'
    assert linked.parent is None and linked.context is not None
    assert linked.context.trace_id != outer.context.trace_id
    assert [link.context for link in linked.links] == [outer.context]
    assert list(unlinked.links) == []


def test_instrument_warns_when_put_above_contextmanager() -> None:
    with pytest.warns(UserWarning, match='context manager') as caught:

        @logfire.instrument
        @contextmanager
        def managed() -> Generator[None]:
            yield

    assert caught[0].filename == __file__


def test_instrument_warns_about_extract_args_the_function_does_not_take() -> None:
    with pytest.warns(UserWarning, match="names 'nope', which '.*takes_a' does not take") as caught:

        @logfire.instrument(extract_args=['a', 'nope'])
        def takes_a(a: int) -> int:
            return a  # pragma: no cover

    assert caught[0].filename == __file__
