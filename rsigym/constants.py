"""Caps on what flows between the policy, the sandbox and the graders, in one place.

Several of these bound each other (an error's tail must fit in what the observation shows of
an error; a kept tail in what the sandbox kept of a run's output); the comments say how, and
``tests/test_constants.py`` checks each relation. The modules that apply a cap import it from
here under the same name (``rsigym.operations.MAX_FILE_BYTES`` is this ``MAX_FILE_BYTES``).
This module imports nothing, so every layer may use it.
"""
from __future__ import annotations

# -- what a run's output leaves behind ------------------------------------------------------
# A sandboxed command's stdout and stderr are each cut to their last RUN_OUTPUT_BYTES
# (rsigym.sandbox.base.Limits.output_bytes): a solution printing without end cannot fill the
# host's memory. Everything below is a tail of that.
RUN_OUTPUT_BYTES = 64 * 1024
# The tail of a solution run kept with its result (TaskResult.log_tail, ExecResult.tail's
# default). At most RUN_OUTPUT_BYTES.
LOG_TAIL_CHARS = 2000
# The tail of a `run` op's output shown in the observation. At most RUN_OUTPUT_BYTES.
RUN_OUTPUT_CHARS = 4_000

# -- errors in the observation --------------------------------------------------------------
# The observation shows the first ERROR_SHOWN_CHARS of each invalid task's error
# (rsigym/render.py). What the graders put in an error must fit, or the part cut is its end,
# the last lines of a traceback that say what went wrong:
ERROR_SHOWN_CHARS = 1200
# a failed or stopped run: a one-line reason ("solution exited with code 1"), then the run's tail
# (rsigym/evaluation.py). 200 characters are left for the reason.
ERROR_TAIL_CHARS = 1000
# a grader's own refusal followed by the run's tail (the kernels' harness output: its message
# names the file and what was wrong, up to about 300 characters, envs/kernels/task.py).
GRADER_ERROR_TAIL_CHARS = 900

# -- what one action may carry and do -------------------------------------------------------
MAX_ACTION_CHARS = 200_000  # one action's text (the Text action space's length)
MAX_OPS_PER_ACTION = 32  # ops in one action
MAX_RUN_TIMEOUT = 600.0  # seconds a `run` op may ask for
DEFAULT_TEXT_CHARS = 16_000  # the observation's length unless the env is told otherwise
# A `read` op's text in the observation: below DEFAULT_TEXT_CHARS, so one read fits in an
# observation together with its header and the step's other results.
READ_CHARS = 12_000

# -- how much the workspace may hold --------------------------------------------------------
MAX_FILE_BYTES = 8 * 1024**2  # one write or patch
MAX_KEEP_BYTES = 512 * 1024**2  # files one `run` op may copy back into the workspace
MAX_WORKSPACE_BYTES = 4 * 1024**3  # every workspace file together: edits cannot fill the disk
