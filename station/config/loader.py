"""Load configuration files and explain every error with file, line and path.

A file is parsed with ruamel.yaml (which keeps line numbers and refuses
duplicate keys), turned into plain data plus a map from each dotted path to
its line, validated by the pydantic models, then cross-checked. All errors of
a file are collected and raised together as one `ConfigError`; each prints as
`FILE:LINE: PATH: MESSAGE`.

Hostile files are refused before they cost anything: a file over `MAX_FILE_BYTES`
is not parsed, and values reached through YAML aliases (`*name`, `<<: *name`) are
counted as they are expanded, so a "billion laughs" of a kilobyte stops at
`MAX_ALIAS_VALUES` instead of taking gigabytes. A file whose top level is not what
the command expects (a station file given as a users file, an empty file) gets
one line saying what it is and what was expected.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
import typing
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from annotated_types import Ge, Le
from pydantic import BaseModel, TypeAdapter, ValidationError
from pydantic_core import ErrorDetails
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError

from station.config.models import ConfigFile, LineFile, StationFile

MAX_FILE_BYTES = 2 * 1024 * 1024
"""Largest file read: plant files are a few KiB, a scenario of 10,000 vehicles about 1 MiB."""

MAX_ALIAS_VALUES = 10_000
"""Most values a file may reach through aliases; shared settings need a few dozen."""

CONFIG_FILE = "a line or station file (a mapping with a `kind:` key: line or station)"

Loc = tuple[str | int, ...]

ModelT = TypeVar("ModelT", bound=BaseModel)

_ADAPTER: TypeAdapter[LineFile | StationFile] = TypeAdapter(ConfigFile)


@dataclass(frozen=True)
class ConfigIssue:
    """One error in one file."""

    file: str
    line: int
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.path}: {self.message}"


class ConfigError(Exception):
    """Every error found in one or more files."""

    def __init__(self, issues: list[ConfigIssue]) -> None:
        self.issues = issues
        super().__init__("\n".join(str(issue) for issue in issues))

    def report(self) -> int:
        """Print every issue to stderr, one a line (docs/cli.md); returns exit code 2."""
        for issue in self.issues:
            print(issue, file=sys.stderr)
        return 2


@dataclass(frozen=True)
class LoadedLine:
    """A validated line file."""

    path: Path
    model: LineFile
    content_hash: str
    """sha256 of the validated content (comments and layout do not change it)."""


@dataclass(frozen=True)
class LoadedStation:
    """A validated station file with the line it serves."""

    path: Path
    model: StationFile
    line: LoadedLine
    content_hash: str
    """sha256 of the station's validated content and of its line's hash."""


@dataclass
class _Document:
    """Plain data of a YAML file and the line of every path in it."""

    file: str
    data: Any
    lines: dict[Loc, int] = field(default_factory=dict)

    def line_of(self, loc: Loc) -> int:
        """Line of the deepest existing prefix of `loc` (1-based)."""
        for end in range(len(loc), -1, -1):
            if loc[:end] in self.lines:
                return self.lines[loc[:end]]
        return 1

    def issue(self, loc: Loc, message: str) -> ConfigIssue:
        return ConfigIssue(self.file, self.line_of(loc), format_path(loc), message)


def format_path(loc: Loc) -> str:
    """('cycle', 2, 'timeout_s') -> 'cycle[2].timeout_s'."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text or "<file>"


def content_hash(model: BaseModel, *extra: str) -> str:
    """sha256 of the model's canonical JSON (and of `extra` hashes it depends on)."""
    canonical = json.dumps(model.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    digest = hashlib.sha256(canonical.encode())
    for item in extra:
        digest.update(item.encode())
    return "sha256:" + digest.hexdigest()


class _Flattening:
    """ruamel's round-trip nodes -> plain Python data, recording each path's line in
    `document`, and counting the values reached through aliases (ConfigError past
    `MAX_ALIAS_VALUES`)."""

    def __init__(self, document: _Document) -> None:
        self.document = document
        self.seen: set[int] = set()
        self.aliased = 0

    def plain(self, node: Any, loc: Loc, alias: Loc | None = None) -> Any:
        """`alias`: where the alias that reached `node` is used (None: not through one)."""
        if isinstance(node, (CommentedMap, CommentedSeq)):
            if alias is None and id(node) in self.seen:  # a node met again: an alias
                alias = loc
            self.seen.add(id(node))
        if alias is not None:
            self.aliased += 1
            if self.aliased > MAX_ALIAS_VALUES:
                message = f"YAML aliases expand to more than {MAX_ALIAS_VALUES} values: refused"
                raise ConfigError([self.document.issue(alias, message)])
        lines = self.document.lines
        if isinstance(node, CommentedMap):
            out: dict[Any, Any] = {}
            for key, value in node.items():
                key_loc = (*loc, str(key))
                position = node.lc.data.get(key)  # None for a key merged in by `<<: *name`
                lines[key_loc] = position[0] + 1 if position else self.document.line_of(loc)
                merged = alias is None and position is None
                out[str(key)] = self.plain(value, key_loc, key_loc if merged else alias)
            return out
        if isinstance(node, CommentedSeq):
            items = []
            for index, value in enumerate(node):
                item_loc = (*loc, index)
                # ruamel places an alias at its anchor: the sequence's line is nearer
                again = id(value) in self.seen
                lines[item_loc] = (
                    self.document.line_of(loc) if again else node.lc.item(index)[0] + 1
                )
                items.append(self.plain(value, item_loc, alias))
            return items
        if isinstance(node, bool) or node is None:
            return node
        for kind in (int, float, str):
            if isinstance(node, kind):
                return kind(node)
        return node


def _parse(path: Path, expected: str) -> _Document:
    """The file as plain data; ConfigError unless its top level is a mapping
    (`expected` says what the file should have been)."""
    file = str(path)
    try:
        with path.open("rb") as stream:
            content = stream.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise ConfigError([ConfigIssue(file, 1, "<file>", f"cannot read: {exc.strerror}")]) from exc
    if len(content) > MAX_FILE_BYTES:
        message = f"larger than {MAX_FILE_BYTES // 1024 // 1024} MiB: refused"
        raise ConfigError([ConfigIssue(file, 1, "<file>", message)])
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            [ConfigIssue(file, 1, "<file>", f"not UTF-8 text: {exc.reason}")]
        ) from exc
    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = False
    try:
        raw = yaml.load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        problem = " ".join(str(exc.problem or exc.context or "invalid YAML").split())
        raise ConfigError([ConfigIssue(file, line, "<yaml>", problem)]) from exc
    if not isinstance(raw, CommentedMap):
        found = "empty" if raw is None else "a list" if isinstance(raw, list) else "a single value"
        raise ConfigError([ConfigIssue(file, 1, "<file>", f"{found}, not {expected}")])
    document = _Document(file, None, {(): raw.lc.line + 1})
    document.data = _Flattening(document).plain(raw, ())
    return document


def _described(model: type[BaseModel]) -> str:
    """What a file of `model` is, e.g. 'a users file (a mapping with the key `users:`)'."""
    name = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", model.__name__).lower().removesuffix(" file")
    keys = ", ".join(f"`{key}:`" for key in model.model_fields)
    plural = "s" if len(model.model_fields) > 1 else ""
    return f"a {name} file (a mapping with the key{plural} {keys})"


# --- turning pydantic's errors into sentences -----------------------------------------


def _model_at(model: type[BaseModel] | None, loc: Loc) -> type[BaseModel] | None:
    """The model class that holds the field at the end of `loc` (None if not a model)."""
    current: Any = model
    for part in loc:
        current = _step_type(current, part)
        if current is None:
            return None
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _step_type(current: Any, part: str | int) -> Any:
    if current is None:
        return None
    if isinstance(current, type) and issubclass(current, BaseModel):
        info = current.model_fields.get(str(part))
        return info.annotation if info is not None else None
    origin = typing.get_origin(current)
    args = typing.get_args(current)
    if origin is typing.Annotated:
        return _step_type(args[0], part)
    if origin in (list, dict):
        return _unwrap(args[-1])
    if args:  # a union: `part` is the discriminator's tag, or look into the model member
        for arg in args:
            arg = _unwrap(arg)
            if isinstance(arg, type) and issubclass(arg, BaseModel):
                for tag_field in ("driver", "step", "kind"):
                    tag = arg.model_fields.get(tag_field)
                    if tag is not None and part in typing.get_args(tag.annotation):
                        return arg
        return None
    return None


def _unwrap(tp: Any) -> Any:
    while typing.get_origin(tp) is typing.Annotated:
        tp = typing.get_args(tp)[0]
    return tp


def _field_bounds(root: type[BaseModel], loc: Loc) -> tuple[Any, Any]:
    owner = _model_at(root, loc[:-1])
    if owner is None or not isinstance(loc[-1], str) or loc[-1] not in owner.model_fields:
        return None, None
    lower = upper = None
    for meta in owner.model_fields[loc[-1]].metadata:
        if isinstance(meta, Ge):
            lower = meta.ge
        if isinstance(meta, Le):
            upper = meta.le
    return lower, upper


def _tags(root: Any, loc: Loc, tag: str) -> str:
    """The values the discriminator `tag` of the union at `loc` takes: "'line', 'station'"."""
    current = root
    for part in loc:
        current = _step_type(current, part)
    values = [
        value
        for member in typing.get_args(_unwrap(current))
        if isinstance(member, type) and issubclass(member, BaseModel) and tag in member.model_fields
        for value in typing.get_args(member.model_fields[tag].annotation)
    ]
    return ", ".join(repr(value) for value in values)


def _sentence(root: Any, error: ErrorDetails, raw_loc: Loc, loc: Loc) -> tuple[Loc, str]:
    """A sentence for one pydantic error; `raw_loc` has the union tags, `loc` not; `root`
    is the file's model, or the `ConfigFile` union for an error at its top level."""
    kind = error["type"]
    ctx = error.get("ctx", {})
    got = error.get("input")
    if kind in ("greater_than_equal", "less_than_equal"):
        lower, upper = _field_bounds(root, raw_loc)
        if lower is not None and upper is not None:
            return loc, f"must be {lower}..{upper} (got {got!r})"
        bound = ctx.get("ge", ctx.get("le"))
        sign = ">=" if kind == "greater_than_equal" else "<="
        return loc, f"must be {sign} {bound} (got {got!r})"
    if kind == "extra_forbidden":
        owner = _model_at(root, raw_loc[:-1])
        known = ", ".join(owner.model_fields) if owner is not None else ""
        return loc, f"unknown key {loc[-1]!r}" + (f" (expected one of: {known})" if known else "")
    if kind == "missing":
        return loc, f"missing required key {loc[-1]!r}"
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        tag = ctx.get("discriminator", "").strip("'")
        expected = _tags(root, raw_loc, tag)
        if kind == "union_tag_not_found":
            return (*loc, tag), f"missing required key {tag!r} (one of {expected})"
        return (*loc, tag), f"unknown {tag} {ctx.get('tag')!r} (expected one of {expected})"
    if kind == "literal_error":
        return loc, f"must be {ctx.get('expected')} (got {got!r})"
    if kind == "string_pattern_mismatch":
        return loc, f"must match {ctx.get('pattern')} (got {got!r})"
    if kind in ("int_parsing", "int_type", "int_from_float"):
        return loc, f"must be a whole number (got {got!r})"
    if kind in ("float_parsing", "float_type"):
        return loc, f"must be a number (got {got!r})"
    if kind in ("bool_parsing", "bool_type"):
        return loc, f"must be true or false (got {got!r})"
    if kind in ("string_type",):
        return loc, f"must be text (got {got!r})"
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return loc, f"must be a mapping (got {got!r})"
    if kind == "list_type":
        return loc, f"must be a list (got {got!r})"
    if kind == "too_short":
        return loc, f"must have at least {ctx.get('min_length')} item(s)"
    if kind == "too_long":
        return loc, f"must have at most {ctx.get('max_length')} item(s)"
    message = error["msg"].removeprefix("Value error, ")
    return loc, message


def _data_loc(data: Any, loc: Loc) -> Loc:
    """pydantic's loc without the union tags it inserts (paths as they are in the file)."""
    out: list[str | int] = []
    node = data
    for part in loc:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
        elif isinstance(node, dict) and part in (node.get("driver"), node.get("step")):
            continue  # the tag of a discriminated union: not in the file
        else:
            node = None  # a missing key, or below one
        out.append(part)
    return tuple(out)


def _validation_issues(
    document: _Document, exc: ValidationError, root: type[BaseModel] | None = None
) -> list[ConfigIssue]:
    """Sentences for pydantic's errors; `root` None means a line-or-station file."""
    issues = []
    kind = document.data.get("kind")
    for error in exc.errors():
        raw_loc = tuple(error["loc"])
        model: Any = root
        if root is None:  # below the top level, pydantic's loc starts with the kind
            model = ConfigFile if not raw_loc else StationFile if kind == "station" else LineFile
            raw_loc = raw_loc[1:]
        loc, message = _sentence(model, error, raw_loc, _data_loc(document.data, raw_loc))
        issues.append(document.issue(loc, message))
    return issues


# --- public entry points ---------------------------------------------------------------


def _validate(document: _Document) -> LineFile | StationFile:
    try:
        return _ADAPTER.validate_python(document.data)
    except ValidationError as exc:
        raise ConfigError(_sorted(_validation_issues(document, exc))) from exc


def _sorted(issues: Iterable[ConfigIssue]) -> list[ConfigIssue]:
    return sorted(
        set(issues), key=lambda issue: (issue.file, issue.line, issue.path, issue.message)
    )


def load_line(path: Path | str) -> LoadedLine:
    """Load and check a line file; raise ConfigError with every problem found."""
    document = _parse(Path(path), CONFIG_FILE)
    model = _validate(document)
    if not isinstance(model, LineFile):
        raise ConfigError([document.issue(("kind",), "expected a line file (kind: line)")])
    from station.config import checks  # the device types: not for the users file's reader

    problems = checks.check_line(model)
    if problems:
        raise ConfigError(_sorted(document.issue(loc, message) for loc, message in problems))
    return LoadedLine(Path(path), model, content_hash(model))


def load_station(path: Path | str) -> LoadedStation:
    """Load and check a station file and its line; raise ConfigError with every problem."""
    path = Path(path)
    document = _parse(path, CONFIG_FILE)
    model = _validate(document)
    if not isinstance(model, StationFile):
        raise ConfigError([document.issue(("kind",), "expected a station file (kind: station)")])
    line_path = (path.parent / model.line).resolve()
    if not line_path.is_file():
        raise ConfigError([document.issue(("line",), f"line file not found: {line_path}")])
    line = load_line(line_path)
    from station.config import checks

    problems = checks.check_station(model, line.model)
    if problems:
        raise ConfigError(_sorted(document.issue(loc, message) for loc, message in problems))
    return LoadedStation(path, model, line, content_hash(model, line.content_hash))


def load_document(path: Path | str, model: type[ModelT]) -> ModelT:
    """Load any YAML file into `model` (a scenario, a users file) with located errors;
    a file with none of the model's keys at its top level is refused in one line."""
    expected = _described(model)
    document = _parse(Path(path), expected)
    keys = list(document.data)
    if keys and not set(keys) & set(model.model_fields):
        kind = document.data.get("kind")
        found = (
            f"a {kind} file (kind: {kind})"
            if kind in ("line", "station")
            else "keys " + ", ".join(f"`{key}:`" for key in keys[:5])
        )
        raise ConfigError([document.issue((), f"{found}, not {expected}")])
    try:
        return model.model_validate(document.data)
    except ValidationError as exc:
        raise ConfigError(_sorted(_validation_issues(document, exc, model))) from exc


def load_any(path: Path | str) -> LoadedLine | LoadedStation:
    """Load a file of either kind, chosen by its `kind:` key."""
    document = _parse(Path(path), CONFIG_FILE)
    if document.data.get("kind") == "station":
        return load_station(path)
    return load_line(path)


def json_schema() -> dict[str, Any]:
    """JSON Schema of both file kinds (for editors and standard validators)."""
    schema = _ADAPTER.json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "Station controller configuration (line or station file)"
    return schema
