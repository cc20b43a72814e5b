"""`station config check FILE...`: validate line and station files.

Prints one line per valid file with its kind, name and content hash; every
error of every file goes to stderr as `FILE:LINE: PATH: MESSAGE`. Exit 0 when
all files are valid, 2 otherwise.
"""

from __future__ import annotations

import argparse

from station.config.loader import ConfigError, LoadedStation, load_any


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="+", metavar="FILE", help="line or station YAML files")


def run(args: argparse.Namespace) -> int:
    failed = False
    for file in args.files:
        try:
            loaded = load_any(file)
        except ConfigError as exc:
            exc.report()
            failed = True
            continue
        if isinstance(loaded, LoadedStation):
            station = loaded.model
            what = f"station {station.station} ({station.operation} on {loaded.line.model.line})"
        else:
            model = loaded.model
            count = len(model.route.operations)
            what = f"line {model.line} route v{model.route.version}, {count} operations"
        print(f"ok {file}: {what} {loaded.content_hash}")
    return 2 if failed else 0
