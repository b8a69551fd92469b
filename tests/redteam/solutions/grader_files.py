"""Read (and import) the grader: its source files, and the rsigym package itself."""
from probe import PARAMS, finish, leak, peek, report

for path in PARAMS["grader_files"]:
    if peek(path) is not None:
        leak(f"read {path}")
    else:
        report(f"read {path}", "denied")
try:
    import rsigym.envs.kaggle.grading as grading

    leak(f"imported the grader from {grading.__file__}")
except ImportError as err:
    report("import rsigym", type(err).__name__)
finish()
