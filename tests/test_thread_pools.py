"""After `configure()`, work handed to a thread pool runs in the trace of the code that submitted it.

Each story runs in a subprocess: `configure()` changes `ThreadPoolExecutor.submit` for the whole process.
"""

from __future__ import annotations

import json
import textwrap

from .conftest import clean_env, run_python

PRELUDE = textwrap.dedent(
    """
    import asyncio, contextvars, json, threading
    from concurrent.futures import ThreadPoolExecutor, wait
    import logfire
    from logfire.testing import TestExporter
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    exporter = TestExporter()


    def configure(**kwargs):
        processors = [SimpleSpanProcessor(exporter)]  # each configure() shuts the previous pipeline down
        logfire.configure(
            send_to_logfire=False, console=False, inspect_arguments=False, additional_span_processors=processors,
            **kwargs,
        )


    def work(n):
        with logfire.span('task {n}', n=n):
            pass


    def tasks():
        return [(s.attributes['logfire.msg'], s.parent) for s in exporter.exported_spans if s.name.startswith('task')]


    def children_of(name):
        '''How many `task` spans are children of the span called `name`, and how many started their own trace.'''
        [parent] = [s for s in exporter.exported_spans if s.name == name]
        parents = [parent_of for _, parent_of in tasks()]
        exporter.clear()
        return {
            'children': sum(p is not None and p.span_id == parent.context.span_id for p in parents),
            'orphans': sum(p is None for p in parents),
        }
    """
)


def run(body: str, **env: str) -> object:
    result = run_python(PRELUDE + textwrap.dedent(body), env=clean_env(**env))
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


POOL_AND_RUN_IN_EXECUTOR = """
    configure(CONFIG)
    with ThreadPoolExecutor(max_workers=4) as pool, logfire.span('submit'):
        wait([pool.submit(work, n) for n in range(50)], timeout=30)
    pooled = children_of('submit')


    async def handler():
        loop = asyncio.get_running_loop()
        with logfire.span('request'):
            await asyncio.wait_for(asyncio.gather(*(loop.run_in_executor(None, work, n) for n in range(50))), 30)

    asyncio.run(handler())
    print(json.dumps([pooled, children_of('request')]))
"""


def test_fifty_pool_tasks_and_fifty_run_in_executor_calls_are_all_children_of_the_submitting_span() -> None:
    assert run(POOL_AND_RUN_IN_EXECUTOR.replace('CONFIG', '')) == [{'children': 50, 'orphans': 0}] * 2


def test_the_environment_variable_turns_it_off() -> None:
    summary = run(POOL_AND_RUN_IN_EXECUTOR.replace('CONFIG', ''), LOGFIRE_THREAD_POOL_CONTEXT='false')
    assert summary == [{'children': 0, 'orphans': 50}] * 2


def test_advanced_options_turn_it_off_and_back_on_and_configuring_twice_wraps_once() -> None:
    summary = run(
        """
        original = ThreadPoolExecutor.submit
        configure()
        configure()
        patched = ThreadPoolExecutor.submit
        configure(advanced=logfire.AdvancedOptions(thread_pool_context=False))
        restored = ThreadPoolExecutor.submit is original
        with ThreadPoolExecutor() as pool, logfire.span('off'):
            pool.submit(work, 0).result(30)
        off = children_of('off')
        configure()
        with ThreadPoolExecutor() as pool, logfire.span('on'):
            pool.submit(work, 0).result(30)
        print(json.dumps([patched.__wrapped__ is original, restored, off, children_of('on')]))
        """
    )
    assert summary == [True, True, {'children': 0, 'orphans': 1}, {'children': 1, 'orphans': 0}]


def test_a_task_leaves_no_context_behind_in_the_worker_thread() -> None:
    summary = run(
        """
        configure()
        with ThreadPoolExecutor(max_workers=1) as pool:
            with logfire.span('first'):
                pool.submit(work, 1).result(30)
            pool.submit(work, 2).result(30)  # same worker, submitted outside any span
        print(json.dumps({message: parent is None for message, parent in tasks()}))
        """
    )
    assert summary == {'task 1': False, 'task 2': True}


def test_a_plain_thread_starts_its_own_trace_unless_given_the_context() -> None:
    summary = run(
        """
        configure()
        with logfire.span('spawn'):
            plain = threading.Thread(target=work, args=(1,))
            carried = threading.Thread(target=contextvars.copy_context().run, args=(work, 2))
        for thread in (plain, carried):
            thread.start()
            thread.join(30)
        print(json.dumps({message: parent is not None for message, parent in tasks()}))
        """
    )
    assert summary == {'task 1': False, 'task 2': True}
