"""`station config schema`: the JSON Schema of line and station files on stdout."""

from __future__ import annotations

import argparse
import json

from station.config.loader import json_schema


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.set_defaults()


def run(args: argparse.Namespace) -> int:
    print(json.dumps(json_schema(), indent=2))
    return 0
