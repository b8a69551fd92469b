"""The action protocol: JSON text (or the same as Python objects) holding one op or a list of ops.

Parsing never raises for bad input from the policy: :func:`parse_action` returns the ops it
could validate and an error message for the rest, so ``step()`` can charge the step and show
the error in the observation.
"""
from __future__ import annotations

import difflib
import json
from typing import Any, NamedTuple

MAX_OPS_PER_ACTION = 32
MAX_RUN_TIMEOUT = 600.0


class Field(NamedTuple):
    types: tuple[type, ...]
    required: bool = True


# op -> its fields; a path field is workspace-relative
OPS: dict[str, dict[str, Field]] = {
    "write": {"path": Field((str,)), "content": Field((str,))},
    "patch": {"path": Field((str,)), "diff": Field((str,))},
    "read": {"path": Field((str,))},
    "run": {
        "cmd": Field((str, list)),
        "timeout": Field((int, float), required=False),
        "keep": Field((list,), required=False),  # workspace paths copied back from the run's copy
    },
    "merge": {"inputs": Field((list,)), "weights": Field((list,), required=False), "out": Field((str,))},
    "evaluate": {},
    "revert": {"iteration": Field((int,))},
    "submit": {},
}


class Op(NamedTuple):
    """One validated operation."""

    name: str
    args: dict[str, Any]

    @property
    def path(self) -> str | None:
        """The workspace path the op edits or reads, if any (``out`` for merges)."""
        return self.args.get("path") or self.args.get("out")


class ParsedAction(NamedTuple):
    ops: list[Op]
    error: str  # empty when the whole action was valid


def _suggest(word: str, options: list[str]) -> str:
    close = difflib.get_close_matches(word, options, n=1)
    return f" Did you mean {close[0]!r}?" if close else ""


def validate_op(raw: Any) -> Op:
    """Check one op's name and fields; raise ``ValueError`` with a message that says what to fix."""
    if not isinstance(raw, dict):
        raise ValueError(f"each op must be a JSON object like {{\"op\": \"evaluate\"}}, got {type(raw).__name__}")
    name = raw.get("op")
    if not isinstance(name, str) or name not in OPS:
        raise ValueError(f"unknown op {name!r}; ops are {sorted(OPS)}." + _suggest(str(name), list(OPS)))
    schema = OPS[name]
    args = {key: value for key, value in raw.items() if key != "op"}
    for key in args:
        if key not in schema:
            raise ValueError(f"op {name!r} has no field {key!r}; its fields are {sorted(schema) or 'none'}."
                             + _suggest(str(key), list(schema)))
    for key, field in schema.items():
        if key not in args:
            if field.required:
                raise ValueError(f"op {name!r} needs field {key!r}")
            continue
        value = args[key]
        if isinstance(value, bool) or not isinstance(value, field.types):
            wanted = " or ".join(t.__name__ for t in field.types)
            raise ValueError(f"field {key!r} of op {name!r} must be {wanted}, got {type(value).__name__}")
    if name == "run":
        if isinstance(args["cmd"], list) and not all(isinstance(part, str) for part in args["cmd"]):
            raise ValueError("run.cmd must be a string or a list of strings")
        if not args["cmd"]:
            raise ValueError("run.cmd is empty")
        timeout = args.get("timeout", 60)
        if not 0 < timeout <= MAX_RUN_TIMEOUT:
            raise ValueError(f"run.timeout must be in (0, {MAX_RUN_TIMEOUT:g}] seconds")
        if not all(isinstance(path, str) for path in args.get("keep", [])):
            raise ValueError("run.keep must be a list of workspace paths")
    for path in _paths(name, args):
        if not is_utf8(path):
            raise ValueError(f"path {ascii(path)} is not valid UTF-8 (lone surrogates); workspace names must be UTF-8")
    if name == "merge":
        inputs, weights = args["inputs"], args.get("weights")
        if not inputs or not all(isinstance(path, str) for path in inputs):
            raise ValueError("merge.inputs must be a non-empty list of workspace paths")
        if weights is not None and (
            len(weights) != len(inputs) or not all(isinstance(w, (int, float)) and not isinstance(w, bool) for w in weights)
        ):
            raise ValueError("merge.weights must be numbers, one per input")
    return Op(name, args)


def _paths(name: str, args: dict[str, Any]) -> list[Any]:
    """The workspace paths an op names (checked for type by the schema before this)."""
    single = [args[key] for key in ("path", "out") if key in args]
    many = args.get("inputs", []) if name == "merge" else args.get("keep", []) if name == "run" else []
    return single + list(many)


def is_utf8(text: Any) -> bool:
    """False for a string holding lone surrogates: as a file name it becomes bytes that are not
    UTF-8 (the file system encoding escapes them), which git and the grade cache cannot handle."""
    if not isinstance(text, str):
        return True  # the schema reports the wrong type
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def parse_action(action: Any) -> ParsedAction:
    """Parse a JSON text, a dict or a list of dicts into ops; invalid ops stop parsing with an error."""
    if isinstance(action, (bytes, bytearray)):
        action = action.decode("utf-8", errors="replace")
    if isinstance(action, str):
        try:
            action = json.loads(action)
        except json.JSONDecodeError as err:
            return ParsedAction([], f"action is not valid JSON ({err.msg} at line {err.lineno} column {err.colno}); "
                                    'send e.g. {"op": "evaluate"} or a list of ops')
        except RecursionError:
            return ParsedAction([], "action is nested too deeply to parse; send one op or a flat list of ops")
    raw_ops = action if isinstance(action, list) else [action]
    if not raw_ops:
        return ParsedAction([], "action holds no op")
    if len(raw_ops) > MAX_OPS_PER_ACTION:
        return ParsedAction([], f"an action holds at most {MAX_OPS_PER_ACTION} ops, got {len(raw_ops)}")
    ops: list[Op] = []
    for index, raw in enumerate(raw_ops):
        try:
            ops.append(validate_op(raw))
        except ValueError as err:
            return ParsedAction(ops, f"op {index + 1}: {err}")
    return ParsedAction(ops, "")
