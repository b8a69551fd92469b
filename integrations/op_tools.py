"""rsigym's ops as tool definitions (JSON Schema), generated from :data:`rsigym.actions.OP_SPECS`
so that the tools an agent framework offers can never drift from what ``step()`` accepts."""
from __future__ import annotations

from typing import Any

from rsigym.actions import OP_SPECS, Field

_JSON_TYPES = {str: "string", list: "array", int: "integer", float: "number", bool: "boolean"}


def field_schema(field: Field) -> dict[str, Any]:
    """The JSON Schema of one op field (``number`` for an int-or-float field)."""
    types = ["number"] if set(field.types) == {int, float} else [_JSON_TYPES[kind] for kind in field.types]
    schema: dict[str, Any] = {"description": field.doc}
    if len(types) == 1:
        schema["type"] = types[0]
    else:
        schema["anyOf"] = [{"type": kind} for kind in types]
    return schema


def op_tool_specs() -> list[dict[str, Any]]:
    """One ``{"name", "description", "parameters"}`` per op; ``parameters`` is a JSON Schema object."""
    return [
        {
            "name": name,
            "description": f"rsigym op `{name}`: {spec.doc}.",
            "parameters": {
                "type": "object",
                "properties": {key: field_schema(field) for key, field in spec.fields.items()},
                "required": [key for key, field in spec.fields.items() if field.required],
            },
        }
        for name, spec in OP_SPECS.items()
    ]
