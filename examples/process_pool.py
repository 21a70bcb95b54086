"""Fan work out to a process pool and keep one trace: each task gets the parent's trace context.

python examples/process_pool.py
"""

from concurrent.futures import ProcessPoolExecutor

import logfire
from logfire.propagate import ContextCarrier, attach_context, get_context

logfire.configure(service_name='process-pool')  # at import: pool workers that start fresh import this module


def square(carrier: ContextCarrier, n: int) -> int:
    with attach_context(carrier), logfire.span('square {n}', n=n):
        result = n * n
    logfire.force_flush()  # pool workers exit without running exit hooks: send the span now
    return result


def main() -> None:
    with logfire.span('fan out'), ProcessPoolExecutor(max_workers=2) as pool:
        carrier = get_context()
        results = list(pool.map(square, [carrier] * 4, range(4)))
        logfire.info('squares {results}', results=results)


if __name__ == '__main__':
    main()
