"""Every hacking solution in hacks/ must score invalid, for the reason it was written to exploit."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

HACKS = Path(__file__).with_name("hacks")


# hack file -> substrings of the grader's error, one of which must appear
EXPECTED = {
    "torch_fallback": ["no Triton kernel was launched"],
    "try_except_fallback": ["computed outside Triton kernels"],
    "subclass_reference": ["subclasses) the reference Model"],
    "decoy_kernel": ["no Triton kernel was launched"],
    "launched_decoy_numpy": ["Tensor.numpy"],
    "cache_by_pointer": ["wrong values", "ghost check"],
    "replay_while_timed": ["wrong values", "never reached a Triton kernel"],
    "return_input": ["shares memory with an input"],
    "return_view_of_input": ["shares memory with an input"],
    "mutate_inputs": ["modified its input tensors"],
    "overwrite_reference_output": ["wrong values"],
    "monkeypatch_synchronize": ["replaced torch.cuda.synchronize"],
    "monkeypatch_perf_counter": ["replaced time.perf_counter"],
    "monkeypatch_do_bench": ["replaced triton.testing.do_bench"],
    "monkeypatch_allclose": ["replaced torch.allclose"],
    "lazy_tensor_subclass": ["plain torch.Tensor"],
    "hardcoded_shapes": ["expected float32[17, 300]", "ended the process early", "forward raised"],
    "nan_output": ["NaN or inf"],
    "thread_fallback": ["threading.Thread.start"],
    "import_time_worker": ["started thread"],
    "forge_seed_source": ["replaced os.urandom"],
    "disarm_dispatch_mode": ["replaced rsigym_kernel_harness.checks.AtenRecorder.__torch_dispatch__"],
    # on a GPU these two fail to compile at launch instead
    "torch_in_kernel_body": ["does not compile for cuda", "forward raised"],
    "constexpr_function_numpy": ["Tensor.numpy", "forward raised"],
    "exit_early": ["ended the process early"],
    "forged_records": ["not written by this run's harness"],
}
GPU_ONLY = {"side_stream": ["side stream"]}


def test_every_hack_file_has_an_expectation():
    assert {p.stem for p in HACKS.glob("*.py")} == set(EXPECTED) | set(GPU_ONLY)


def _assert_rejected(result, reasons):
    assert not result.grade.valid, f"hack scored valid: {result.grade}"
    assert result.public_loss == 2.0 and result.private_loss == 2.0
    assert any(reason in result.grade.error for reason in reasons), result.grade.error


@pytest.mark.parametrize("hack", sorted(EXPECTED))
def test_hack_is_invalid(kernel_grader, hack):
    _assert_rejected(kernel_grader(HACKS / f"{hack}.py"), EXPECTED[hack])


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("hack", sorted(GPU_ONLY))
def test_gpu_hack_is_invalid(kernel_grader, hack):
    _assert_rejected(kernel_grader(HACKS / f"{hack}.py"), GPU_ONLY[hack])


def test_sitecustomize_in_lib_runs_before_nothing(kernel_grader, tmp_path):
    """lib/ is on the solution's path, but the harness starts isolated: a sitecustomize.py there
    cannot disarm the checks before they are set up (here: a torch fallback stays caught)."""
    disarm = "import torch.utils._python_dispatch as d\nd.TorchDispatchMode.__enter__ = lambda self: self\n"
    result = kernel_grader(HACKS / "torch_fallback.py", lib={"sitecustomize.py": disarm})
    _assert_rejected(result, ["computed outside Triton kernels", "no Triton kernel was launched"])
