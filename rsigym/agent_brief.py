"""The brief an external coding agent reads (``AGENT.md``): the loop, the rules and every task's
description. Written by ``rsigym workspace init`` (:mod:`rsigym.external`) and, for a confined
agent, by ``rsigym shell`` (:mod:`rsigym.agentshell`)."""
from __future__ import annotations

from pathlib import Path

import gymnasium as gym


def agent_instructions(env: gym.Env, workspace: Path, evaluate: str, submit: str) -> str:
    """The brief a coding agent reads: the loop, the rules and every task's description.
    ``workspace`` is the folder it edits; ``evaluate`` and ``submit`` are the commands it runs."""
    base = env.unwrapped
    lines = [
        "# rsigym: improve this agent system",
        "",
        f"Workspace: `{workspace}` (edit files there with your own tools).",
        f"Budget: {base.iterations} evaluations. Loss per task: 1 = starter, 0 = reference, 2 = invalid;",
        "the suite loss is their weighted mean. Lower is better.",
        "",
        "## Loop",
        "1. Read the task descriptions below and the files under `tasks/<id>/`, `lib/`, `harness/`.",
        "2. Edit solutions (`tasks/<id>/`), shared code (`lib/`), checkpoints (`weights/`) or your notes",
        "   (`harness/memory.md`).",
        f"3. Run `{evaluate}`: it scores the workspace on the public split, prints the",
        "   per-task losses and any error (traceback tail), and uses one iteration of the budget",
        "   when the workspace changed since the last evaluation.",
        "4. Keep what lowered the loss; undo what did not (the workspace is committed at every",
        "   evaluation; the log lists each iteration's commit).",
        f"5. When the budget is nearly spent or you cannot improve further, run `{submit}`.",
        "",
        "Rules: only the files in the workspace count; solutions run in a sandbox without network,",
        "read their data from `$RSI_DATA_DIR` and write artefacts to `$RSI_OUTPUT_DIR`; the private",
        "labels are not reachable and are scored only at submit. Links (symlinks) in the workspace are",
        "refused: a task whose folder holds one scores as an error.",
        "",
        "## Tasks",
    ]
    for task in base.tasks:
        lines += ["", f"### {task.id}", "", task.description().strip()]
    return "\n".join(lines) + "\n"
