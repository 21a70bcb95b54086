"""Level names and numbers and the `logfire.*` attribute keys, in one place."""

from __future__ import annotations

from typing import Final, Literal

LevelName = Literal['trace', 'debug', 'info', 'notice', 'warn', 'warning', 'error', 'fatal']
"""A log level name, as accepted by `log()`, `min_level` and the console's `min_log_level`."""

LEVEL_NUMBERS: Final[dict[str, int]] = {
    'trace': 1,
    'debug': 5,
    'info': 9,
    'notice': 10,
    'warn': 13,
    'warning': 13,
    'error': 17,
    'fatal': 21,
}
"""Level name -> number, as the established SDK writes them in `logfire.level_num`."""

NUMBER_TO_LEVEL: Final[dict[int, str]] = {number: name for name, number in LEVEL_NUMBERS.items() if name != 'warning'}

ERROR_LEVEL: Final = LEVEL_NUMBERS['error']
WARN_LEVEL: Final = LEVEL_NUMBERS['warn']
INFO_LEVEL: Final = LEVEL_NUMBERS['info']
DEBUG_LEVEL: Final = LEVEL_NUMBERS['debug']

ATTRIBUTES_MESSAGE_KEY: Final = 'logfire.msg'
ATTRIBUTES_MESSAGE_TEMPLATE_KEY: Final = 'logfire.msg_template'
ATTRIBUTES_SPAN_TYPE_KEY: Final = 'logfire.span_type'
ATTRIBUTES_LOG_LEVEL_NUM_KEY: Final = 'logfire.level_num'
ATTRIBUTES_TAGS_KEY: Final = 'logfire.tags'
ATTRIBUTES_JSON_SCHEMA_KEY: Final = 'logfire.json_schema'
ATTRIBUTES_NULL_ARGS_KEY: Final = 'logfire.null_args'
ATTRIBUTES_SCRUBBED_KEY: Final = 'logfire.scrubbed'

CODE_FILEPATH: Final = 'code.filepath'
CODE_LINENO: Final = 'code.lineno'
CODE_FUNCTION: Final = 'code.function'

ATTRIBUTES_DISABLE_CONSOLE_KEY: Final = 'logfire.disable_console_log'
