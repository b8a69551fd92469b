"""One KernelTask object grades several runs at once: each run's one-time nonce travels in its
own RunContext, so concurrent runs grade as they do one at a time."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor


def test_one_kernel_task_grades_concurrent_runs_like_sequential_ones(kernel_tasks, run_solution):
    task = kernel_tasks["kernel-row-softmax"]
    alone = run_solution(task)  # also prepares the task's data, once
    assert alone.grade.valid, alone.grade.error
    with ThreadPoolExecutor(3) as pool:
        together = list(pool.map(lambda _: run_solution(task), range(3)))
    outcome = lambda result: (result.grade.valid, result.grade.public, result.grade.private, result.grade.error)
    assert [outcome(result) for result in together] == [outcome(alone)] * 3
