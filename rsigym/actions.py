"""The action protocol: JSON text (or the same as Python objects) holding one op or a list of ops.

Parsing never raises for bad input from the policy: :func:`parse_action` returns the ops it
could validate and an error message for the rest, so ``step()`` can charge the step and show
the error in the observation.
"""
from __future__ import annotations

import difflib
import itertools
import json
import re
import reprlib
from typing import Any, NamedTuple

from rsigym.constants import MAX_OPS_PER_ACTION, MAX_RUN_TIMEOUT

MAX_FENCES_TRIED = 64  # fenced blocks searched for an action: bounds the work a long reply can cause
_FENCE_OPENER = re.compile(r"```[ \t]*(?:json)?[ \t]*\n?", re.IGNORECASE)


class Field(NamedTuple):
    types: tuple[type, ...]
    required: bool = True
    doc: str = ""  # shown to the policy in the protocol text
    default: Any = None  # what an optional field means when it is left out (None: nothing)


class OpSpec(NamedTuple):
    """What an op does (shown to the policy) and its fields."""

    doc: str
    fields: dict[str, Field]


PATH = "a workspace-relative path"
# op -> what it does and its fields. The single source of truth: validation and the protocol
# text every observation brief and LLM prompt shows (:func:`protocol_text`) are built from it.
OP_SPECS: dict[str, OpSpec] = {
    "write": OpSpec("create or overwrite a file", {
        "path": Field((str,), doc=PATH), "content": Field((str,), doc="the whole new text of the file")}),
    "patch": OpSpec("edit a file with a unified diff", {
        "path": Field((str,), doc=PATH), "diff": Field((str,), doc="a unified diff (@@ hunks; ---/+++ lines optional)")}),
    "read": OpSpec("show a file (its head) or list a folder; changes nothing", {"path": Field((str,), doc=PATH)}),
    "run": OpSpec("run a shell command in the sandbox on a throw-away copy of the workspace (the working "
                  "directory; $RSI_DATA_ROOT/<task id>/ holds each task's public data); only the `keep` paths "
                  "are copied back", {
        "cmd": Field((str, list), doc="a shell command, or an argv list of strings"),
        "timeout": Field((int, float), required=False, doc=f"seconds, at most {MAX_RUN_TIMEOUT:g}", default=60),
        "keep": Field((list,), required=False, doc="workspace paths (files or folders) copied back after the run",
                      default=[]),
    }),
    "merge": OpSpec("write the weighted average of safetensors checkpoints", {
        "inputs": Field((list,), doc="workspace paths of the checkpoints"),
        "weights": Field((list,), required=False, doc="one number per input, normalised", default="equal weights"),
        "out": Field((str,), doc="workspace path of the merged checkpoint"),
    }),
    "evaluate": OpSpec("score the workspace on the public split now", {}),
    "revert": OpSpec("restore the workspace of an earlier iteration", {
        "iteration": Field((int,), doc="the iteration number K (0 = the starter)")}),
    "submit": OpSpec("end the episode; the private split is scored", {}),
}
# op -> its fields (what validation reads)
OPS: dict[str, dict[str, Field]] = {name: spec.fields for name, spec in OP_SPECS.items()}


def _placeholder(field: Field) -> str:
    if field.types == (int, float):
        return "NUMBER"
    return " | ".join({str: "TEXT", list: "[...]", int: "INT"}[t] for t in field.types)


def _shown_default(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)  # a str default is a description


def protocol_text() -> str:
    """The action protocol as the policy reads it: every op of :data:`OP_SPECS` with its fields and defaults."""
    lines = [
        "## Action protocol",
        "Send one JSON action per step: an op object or a list of ops, applied in order "
        f"(at most {MAX_OPS_PER_ACTION}). A ```json fenced block with prose around it is accepted.",
        "Paths are relative to the workspace; `?` marks an optional field.",
    ]
    for name, spec in OP_SPECS.items():
        shown = ", ".join(f'"{key}{"" if field.required else "?"}": {_placeholder(field)}'
                          for key, field in spec.fields.items())
        lines.append(f'- `{{"op": "{name}"{", " + shown if shown else ""}}}`: {spec.doc}.')
        for key, field in spec.fields.items():
            default = "" if field.required else f" (default: {_shown_default(field.default)})"
            lines.append(f"  - `{key}`: {field.doc}{default}")
    lines.append('Example: [{"op": "read", "path": "harness/memory.md"}, {"op": "evaluate"}]')
    return "\n".join(lines)


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


def _shown(value: Any) -> str:
    """``repr`` of a name from an action; a non-string one (a Python action may nest lists
    thousands deep) is abbreviated, so that describing it cannot exhaust the stack."""
    return repr(value) if isinstance(value, str) else reprlib.repr(value)


def _suggest(word: str, options: list[str]) -> str:
    close = difflib.get_close_matches(word, options, n=1)
    return f" Did you mean {close[0]!r}?" if close else ""


def fenced_json(text: str) -> str | None:
    """The JSON of the last fenced block (```json or bare ```) in ``text`` that holds valid JSON, or None.

    A block ends at the first ``` after a complete JSON value, so fences inside JSON strings
    (a Markdown file being written) do not cut it short.
    """
    decoder = json.JSONDecoder()
    found = None
    for opener in itertools.islice(_FENCE_OPENER.finditer(text), MAX_FENCES_TRIED):
        start = len(text) - len(text[opener.end():].lstrip())
        try:
            _, end = decoder.raw_decode(text, start)
        except (json.JSONDecodeError, RecursionError):
            continue
        if text[end:].lstrip().startswith("```"):
            found = text[start:end]
    return found


def unfenced(text: str) -> str:
    """``text`` when it is JSON; else the JSON of its last fenced block (a reply with prose around a
    ```json block); else ``text`` unchanged, whose parse error the caller reports."""
    try:
        json.loads(text)
        return text
    except (json.JSONDecodeError, RecursionError):
        return fenced_json(text) or text


def validate_op(raw: Any) -> Op:
    """Check one op's name and fields; raise ``ValueError`` with a message that says what to fix."""
    if not isinstance(raw, dict):
        raise ValueError(f"each op must be a JSON object like {{\"op\": \"evaluate\"}}, got {type(raw).__name__}")
    name = raw.get("op")
    if not isinstance(name, str) or name not in OPS:
        raise ValueError(f"unknown op {_shown(name)}; ops are {sorted(OPS)}."
                         + _suggest(name if isinstance(name, str) else "", list(OPS)))
    schema = OPS[name]
    args = {key: value for key, value in raw.items() if key != "op"}
    for key in args:
        if key not in schema:
            raise ValueError(f"op {name!r} has no field {_shown(key)}; its fields are {sorted(schema) or 'none'}."
                             + _suggest(key if isinstance(key, str) else "", list(schema)))
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
        timeout = args.get("timeout", OPS["run"]["timeout"].default)
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
    """Parse a JSON text (bare or in a fenced block), a dict or a list of dicts into ops; invalid ops
    stop parsing with an error."""
    if isinstance(action, (bytes, bytearray)):
        action = action.decode("utf-8", errors="replace")
    if isinstance(action, str):
        action = unfenced(action)
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
