"""The caps of rsigym.constants keep the relations its comments state, and an error's end
reaches the observation."""
from __future__ import annotations

from rsigym import constants as caps
from rsigym.evaluation import _safe_grade
from rsigym.sandbox import ExecResult, Limits


def test_tails_fit_in_what_is_kept_and_shown():
    assert caps.LOG_TAIL_CHARS <= caps.RUN_OUTPUT_BYTES and caps.RUN_OUTPUT_CHARS <= caps.RUN_OUTPUT_BYTES
    assert Limits().output_bytes == caps.RUN_OUTPUT_BYTES
    assert caps.ERROR_TAIL_CHARS + 200 <= caps.ERROR_SHOWN_CHARS  # room for the one-line reason
    assert caps.GRADER_ERROR_TAIL_CHARS + 300 <= caps.ERROR_SHOWN_CHARS  # room for a grader's refusal
    assert caps.READ_CHARS < caps.DEFAULT_TEXT_CHARS <= caps.MAX_ACTION_CHARS
    assert caps.MAX_FILE_BYTES <= caps.MAX_KEEP_BYTES <= caps.MAX_WORKSPACE_BYTES


def test_the_last_line_of_a_failed_run_is_within_what_the_observation_shows():
    output = "x" * 50_000 + "\nValueError: the line that says what went wrong\n"
    for run in (ExecResult(1, output, "", 1.0), ExecResult(-9, "", output, 1.0, killed_reason="out of memory" * 5)):
        error = _safe_grade(None, None, run).error  # a failed run is never handed to the task
        assert "the line that says what went wrong" in error[: caps.ERROR_SHOWN_CHARS]
