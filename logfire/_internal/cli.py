"""The `logfire` command (also `python -m logfire`): `--version`, and `config` to show the settings in effect."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ..exceptions import LogfireConfigError
from ..version import VERSION


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (1 for an invalid configuration, with its message)."""
    parser = argparse.ArgumentParser(prog='logfire', description='The logfire command line.')
    parser.add_argument('--version', action='version', version=f'logfire {VERSION}')
    commands = parser.add_subparsers(dest='command', metavar='command')
    commands.add_parser(
        'config',
        help='print every setting, its value and where it came from (argument, environment, pyproject, default)',
        description='Print every setting logfire.configure() would use here with no arguments, its value (the '
        'token and header values masked) and where it came from.',
    )
    args = parser.parse_args(argv)
    if args.command != 'config':
        parser.print_help()
        return 0
    from .config_report import config_rows, render

    try:
        rows = config_rows()
    except LogfireConfigError as exc:
        print(exc, file=sys.stderr)
        return 1
    print(render(rows))
    return 0
