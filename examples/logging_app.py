"""The three logging libraries into logfire: run `python examples/logging_app.py` and read the console.

Needs `pip install 'logfire[structlog,loguru]'`.
"""

from __future__ import annotations

import logging

import structlog
from loguru import logger

import logfire

logfire.configure(send_to_logfire=False)

# The standard library: one handler on the root logger catches every logger's records.
logging.basicConfig(handlers=[logfire.LogfireLoggingHandler()], level=logging.INFO)
# structlog: the processor records the event and passes it on to the renderer, which prints it (logfire's console
# leaves structlog's events out unless `StructlogProcessor(console_log=True)`).
structlog.configure(
    processors=[
        structlog.processors.add_log_level,
        logfire.StructlogProcessor(),
        structlog.dev.ConsoleRenderer(colors=False),
    ]
)
# loguru: the handler replaces loguru's default stderr sink.
logger.configure(handlers=[logfire.loguru_handler()])


def checkout(order_id: int) -> None:
    with logfire.span('checkout {order_id}', order_id=order_id):
        logging.getLogger('shop.payments').info('charged %s EUR', 12.5, extra={'card': 'visa'})
        structlog.get_logger().info('stock reserved', sku='A-1', quantity=2)
        logger.bind(carrier='ups').success('order {} shipped', order_id)
        try:
            raise TimeoutError('carrier API timed out')
        except TimeoutError:
            logging.getLogger('shop.shipping').exception('tracking number not available yet')


if __name__ == '__main__':
    checkout(42)
