"""Rewrite the files of the copy it runs in (its own code, the shared lib, its config),
hoping the change flows back into the workspace or into the other tasks' runs."""
from pathlib import Path

from probe import finish, report

for path in ("solution.py", "config.json", "../../lib/tabular.py", "../wine/solution.py"):
    try:
        Path(path).write_text("raise SystemExit('sabotaged')\n")
        report(f"rewrote {path}", "in the scratch copy")
    except OSError as err:
        report(f"rewrite {path}", type(err).__name__)
finish()
