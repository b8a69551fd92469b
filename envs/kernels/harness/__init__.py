"""The sandboxed side of kernel grading, plus the pieces the grader shares with it.

This package uses relative imports only and nothing else from rsigym, because the task copies
it into the (read-only) data directory and runs it there as ``python -m rsigym_kernel_harness``:
a confined sandbox cannot see the rsigym installation, and the solution cannot edit the copy.
"""
