import difflib

import pytest

from rsigym.patching import PatchError, apply_unified_diff


def _diff(old: str, new: str) -> str:
    return "".join(difflib.unified_diff(old.splitlines(True), new.splitlines(True), "a/f", "b/f"))


def test_round_trip_of_difflib_output():
    old = "".join(f"line {i}\n" for i in range(40))
    new = old.replace("line 3\n", "line three\n").replace("line 30\n", "").replace("line 39\n", "line 39\nextra\n")
    assert apply_unified_diff(old, _diff(old, new)) == new


def test_hunk_that_drifted_still_applies():
    old = "a\nb\nc\n"
    diff = "@@ -5,2 +5,2 @@\n b\n-c\n+C\n"  # header line numbers are off
    assert apply_unified_diff(old, diff) == "a\nb\nC\n"


def test_wrong_context_is_refused():
    with pytest.raises(PatchError, match="hunk 1"):
        apply_unified_diff("a\nb\n", "@@ -1,2 +1,2 @@\n x\n-b\n+c\n")


def test_text_without_hunks_is_refused():
    with pytest.raises(PatchError, match="no hunk"):
        apply_unified_diff("a\n", "just words")
