import json

import pytest

from rsigym.actions import MAX_OPS_PER_ACTION, parse_action


def test_json_text_dict_and_list_parse_the_same():
    op = {"op": "write", "path": "a.txt", "content": "x"}
    for action in (json.dumps(op), op, [op], json.dumps([op]).encode()):
        parsed = parse_action(action)
        assert parsed.error == ""
        assert [(o.name, o.args) for o in parsed.ops] == [("write", {"path": "a.txt", "content": "x"})]


@pytest.mark.parametrize(
    "action, message",
    [
        ("{not json", "not valid JSON"),
        ("[]", "holds no op"),
        ({"op": "wirte", "path": "a", "content": ""}, "Did you mean 'write'?"),
        ({"op": "write", "path": "a"}, "needs field 'content'"),
        ({"op": "write", "path": "a", "content": "", "contnet": 1}, "Did you mean 'content'?"),
        ({"op": "read", "path": 3}, "must be str"),
        ({"op": "revert", "iteration": True}, "must be int"),
        ({"op": "run", "cmd": "ls", "timeout": 10_000}, "run.timeout"),
        ({"op": "merge", "inputs": ["a"], "weights": [1, 2], "out": "b"}, "one per input"),
        (42, "JSON object"),
        ([{"op": "evaluate"}] * (MAX_OPS_PER_ACTION + 1), "at most"),
    ],
)
def test_invalid_actions_explain_what_to_fix(action, message):
    parsed = parse_action(action)
    assert message in parsed.error


def test_valid_ops_before_an_invalid_one_are_kept():
    parsed = parse_action([{"op": "read", "path": "a"}, {"op": "nope"}])
    assert [o.name for o in parsed.ops] == ["read"]
    assert parsed.error.startswith("op 2:")
