"""`station`: the one entry point (docs/cli.md is the contract).

Each command lives in `station.commands.<module>` with `add_arguments(parser)`
and `run(args) -> int`; modules are imported only when their command runs, so
`station config check` does not pay for asyncua or textual.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys
from collections.abc import Sequence

# (command words, module, help)
COMMANDS: list[tuple[tuple[str, ...], str, str]] = [
    (("config", "check"), "config_check", "validate station and line files"),
    (("config", "schema"), "config_schema", "print the JSON Schema of both file kinds"),
    (("route", "explain"), "route_explain", "the operations a vehicle takes, gates marked"),
    (("sim",), "sim", "run one device's simulator standalone for a bench"),
    (("sim", "world"), "sim_world", "every device of a station simulated on real ports, a bench"),
    (("diag", "latency"), "diag_latency", "input-edge to output latency, beside a bare loop"),
    (("run",), "run", "run one station"),
    (("journal", "show"), "journal_show", "the record of one vehicle or of the station"),
    (("journal", "verify"), "journal_verify", "integrity and hash-chain check of the journal"),
    (("journal", "seal"), "journal_seal", "start a new chain on a broken journal (supervisor)"),
    (("journal", "anchor-key"), "journal_anchor_key", "make the key that signs journal anchors"),
    (("console",), "console", "operator console attached to a running station"),
    (("user", "add"), "user_add", "add a user of the OPC UA interface, or change one"),
    (("line",), "line", "run every station of a line on simulated hardware"),
    (("plant",), "plant", "the plant collector: every station's journal stored once, verified"),
    (("plant", "verify"), "plant_verify", "re-check every stored chain of the plant database"),
    (("plant", "report"), "plant_report", "the plant figures: counts, throughput, lead time"),
    (("passport",), "passport", "a vehicle's passport across every station of the plant"),
]


def _available() -> list[tuple[tuple[str, ...], str, str]]:
    """Commands whose module exists in this build."""
    return [c for c in COMMANDS if importlib.util.find_spec(f"station.commands.{c[1]}") is not None]


def _chosen(argv: Sequence[str]) -> list[tuple[tuple[str, ...], str, str]]:
    """The available commands; a longer form of another (`sim world` beside `sim
    DEVICE`) replaces it when `argv` names it, and is left out otherwise (`station sim
    --help` names it)."""
    commands = _available()
    names = {c[0] for c in commands}
    longer = {c[0] for c in commands if c[0][:-1] in names}
    named = {words for words in longer if tuple(argv[: len(words)]) == words}
    hidden = {words[:-1] for words in named} | (longer - named)
    return [c for c in commands if c[0] not in hidden]


def build_parser(argv: Sequence[str]) -> argparse.ArgumentParser:
    """Every command, for help and dispatch; only the module of the command `argv`
    names is imported (its arguments are needed to parse the rest of `argv`). A command
    may also be the group of longer ones (`station plant`, `station plant verify`): its
    subcommands are then optional."""
    parser = argparse.ArgumentParser(prog="station", description=__doc__.splitlines()[0])
    groups: dict[str, argparse._SubParsersAction[argparse.ArgumentParser]] = {}
    commands: dict[str, argparse.ArgumentParser] = {}
    top = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for words, module_name, help_text in _chosen(argv):
        container = top
        for depth, word in enumerate(words[:-1]):
            key = " ".join(words[: depth + 1])
            if key in commands and key not in groups:
                groups[key] = commands[key].add_subparsers(dest=f"sub{depth}", required=False)
            elif key not in groups:
                group_parser = container.add_parser(word, help=f"{word} commands")
                groups[key] = group_parser.add_subparsers(dest=f"sub{depth}", required=True)
            container = groups[key]
        sub = container.add_parser(words[-1], help=help_text, description=help_text)
        commands[" ".join(words)] = sub
        if tuple(argv[: len(words)]) == words:
            module = importlib.import_module(f"station.commands.{module_name}")
            module.add_arguments(sub)
            sub.set_defaults(handler=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    words = sys.argv[1:] if argv is None else argv
    args = build_parser(words).parse_args(words)
    result: int = args.handler(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
