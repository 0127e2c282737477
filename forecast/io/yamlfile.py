"""Safe YAML reading that keeps line numbers and refuses what hand-edited files should never hold.

Files are composed with PyYAML's safe composer and built into plain Python values by hand, so that
duplicate keys, custom tags, merge keys and alias bombs are rejected, and the line of every key and
list item is remembered for error messages.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from forecast.errors import Problem

#: Largest input file we read; bigger files are refused (a coded item is a few hundred bytes).
MAX_FILE_BYTES = 1_000_000
#: Most values one file may expand into (guards against alias "billion laughs").
MAX_NODES = 200_000

Loc = tuple[str | int, ...]

_PLAIN_TAGS = {
    "tag:yaml.org,2002:str",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null",
    "tag:yaml.org,2002:timestamp",
}


@dataclass
class YamlDoc:
    """A parsed YAML file: its data and the line (1-based) of every key and list item."""

    path: str
    data: Any
    lines: dict[Loc, int] = field(default_factory=dict)

    def line_of(self, loc: Loc) -> int | None:
        """The line of ``loc``, or of its deepest ancestor that exists in the file."""
        loc = tuple(loc)
        while loc:
            if loc in self.lines:
                return self.lines[loc]
            loc = loc[:-1]
        return self.lines.get((), None)

    def problem(self, loc: Loc, message: str) -> Problem:
        """A :class:`Problem` located at ``loc`` in this file."""
        return Problem(self.path, self.line_of(loc), message)


class _Builder:
    def __init__(self, path: str):
        self.path = path
        self.lines: dict[Loc, int] = {}
        self.count = 0
        self.constructor = yaml.constructor.SafeConstructor()

    def fail(self, node: yaml.Node, message: str) -> Problem:
        return Problem(self.path, node.start_mark.line + 1, message)

    def build(self, node: yaml.Node, loc: Loc) -> Any:
        self.count += 1
        if self.count > MAX_NODES:
            raise _Stop(self.fail(node, f"file expands to more than {MAX_NODES} values"))
        self.lines.setdefault(loc, node.start_mark.line + 1)
        if isinstance(node, yaml.ScalarNode):
            if node.tag not in _PLAIN_TAGS:
                raise _Stop(self.fail(node, f"tag {node.tag!r} is not allowed; remove it"))
            if node.tag == "tag:yaml.org,2002:timestamp":
                return node.value  # dates stay text; the schema parses them
            return self.constructor.construct_object(node, deep=True)
        if isinstance(node, yaml.SequenceNode):
            if node.tag != "tag:yaml.org,2002:seq":
                raise _Stop(self.fail(node, f"tag {node.tag!r} is not allowed; remove it"))
            return [self.build(item, (*loc, i)) for i, item in enumerate(node.value)]
        if isinstance(node, yaml.MappingNode):
            if node.tag != "tag:yaml.org,2002:map":
                raise _Stop(self.fail(node, f"tag {node.tag!r} is not allowed; remove it"))
            out: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    raise _Stop(self.fail(key_node, "merge keys ('<<') are not supported"))
                if not isinstance(key_node, yaml.ScalarNode):
                    raise _Stop(self.fail(key_node, "a mapping key must be a plain value"))
                key = self.build(key_node, (*loc, "<key>"))
                if key in out:
                    first = self.lines.get((*loc, key))
                    raise _Stop(
                        self.fail(
                            key_node,
                            f"duplicate key {key!r} (first at line {first}); keep one of them",
                        )
                    )
                self.lines[(*loc, key)] = key_node.start_mark.line + 1
                out[key] = self.build(value_node, (*loc, key))
            return out
        raise _Stop(self.fail(node, "unsupported YAML node"))


class _Stop(Exception):
    def __init__(self, problem: Problem):
        self.problem = problem


def read_text(path: Path, shown: str, root: Path | None = None) -> tuple[str | None, list[Problem]]:
    """Read a UTF-8 text file with the project's checks: size, emptiness, encoding, symlinks."""
    if root is not None and path.is_symlink():
        target = path.resolve()
        if not target.is_relative_to(root.resolve()):
            return None, [Problem(shown, None, f"symlink points outside the project ({target})")]
    try:
        size = path.stat().st_size
    except OSError as exc:
        return None, [Problem(shown, None, f"cannot read file: {exc.strerror}")]
    if size > MAX_FILE_BYTES:
        return None, [
            Problem(shown, None, f"file is {size:,} bytes; the limit is {MAX_FILE_BYTES:,}")
        ]
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        return None, [Problem(shown, line, "file is not valid UTF-8 text; save it as UTF-8")]
    if not text.strip():
        return None, [Problem(shown, None, "file is empty")]
    return text.removeprefix("\ufeff"), []


#: libyaml's parser when PyYAML was built with it (its wheels are): the same nodes and marks,
#: about 15 times faster than the pure-Python one, which matters for thousands of item files.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def parse_yaml(text: str, shown: str) -> tuple[YamlDoc | None, list[Problem]]:
    """Parse one YAML document held in ``text``; return the document or the problems found."""
    try:
        node = yaml.compose(text, Loader=_LOADER)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        reason = exc.problem or str(exc)
        return None, [Problem(shown, line, f"not valid YAML: {reason}")]
    except yaml.YAMLError as exc:
        return None, [Problem(shown, None, f"not valid YAML: {exc}")]
    if node is None:
        return None, [Problem(shown, None, "file holds no YAML document")]
    builder = _Builder(shown)
    try:
        data = builder.build(node, ())
    except _Stop as stop:
        return None, [stop.problem]
    except yaml.YAMLError as exc:
        return None, [Problem(shown, None, f"not valid YAML: {exc}")]
    return YamlDoc(shown, data, builder.lines), []


def load_yaml(
    path: Path, shown: str, root: Path | None = None
) -> tuple[YamlDoc | None, list[Problem]]:
    """Read and parse a YAML file; problems name ``shown`` (the path as the user knows it)."""
    text, problems = read_text(path, shown, root)
    if text is None:
        return None, problems
    return parse_yaml(text, shown)
