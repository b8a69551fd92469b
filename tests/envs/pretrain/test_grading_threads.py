"""Thread-safe grading: one task object graded from several threads at once gives the grades it
gives one at a time, and torch's thread count outside the graders comes back afterwards."""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import torch

from rsigym.checkpoints import GPTConfig, build_model, save_checkpoint
from rsigym.envs.pretrain import SUITE_DIR
from rsigym.envs.lm.grading import torch_threads
from rsigym.envs.pretrain.synthlang.task import SynthLangTask
from rsigym.sandbox import ExecResult
from rsigym.tasks import RunContext


def test_one_task_graded_from_several_threads_grades_as_one_at_a_time(tmp_path):
    task = SynthLangTask(SUITE_DIR / "synthlang")
    task.prepare(7, "ci", tmp_path / "data", tmp_path / "private")
    outputs = []
    for index in range(3):  # three different models, so a grade served to the wrong run would show
        torch.manual_seed(index)
        output = tmp_path / f"out{index}"
        save_checkpoint(build_model(GPTConfig(vocab_size=17, context=64, d_model=16, n_layers=1, n_heads=2, d_ff=32)),
                        output)
        outputs.append(output)

    def grade(output):
        ctx = RunContext(task.id, tmp_path, tmp_path / "data", tmp_path / "private", output, 7, "ci")
        return task.grade(ctx, ExecResult(0, "", "", 1.0))

    outside = torch.get_num_threads()
    one_at_a_time = [grade(output) for output in outputs]
    with ThreadPoolExecutor(len(outputs) * 2) as pool:
        together = list(pool.map(grade, outputs * 2))
    assert all(result.valid for result in one_at_a_time), one_at_a_time
    assert len({result.public for result in one_at_a_time}) == len(outputs)
    assert together == one_at_a_time * 2
    assert torch.get_num_threads() == outside


def test_overlapping_blocks_run_with_one_count_and_the_last_to_leave_restores_it():
    # First in, first out: the case where saving and restoring per block left the process at the
    # inner count (the second block saved the first one's setting and restored it last).
    outside = torch.get_num_threads()
    first_in, second_in, first_out = threading.Event(), threading.Event(), threading.Event()
    seen: dict[str, int] = {}

    def first() -> None:
        with torch_threads(1):
            first_in.set()
            second_in.wait()
            seen["first"] = torch.get_num_threads()
        first_out.set()

    def second() -> None:
        first_in.wait()
        with torch_threads(1):
            second_in.set()
            first_out.wait()
            seen["second after the first left"] = torch.get_num_threads()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert seen == {"first": 1, "second after the first left": 1}
    with ThreadPoolExecutor(1) as pool:  # a thread started now gets the process's count
        assert pool.submit(torch.get_num_threads).result() == outside
    assert torch.get_num_threads() == outside
