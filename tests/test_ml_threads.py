"""CPU threads of a model worker: the spec's `num_threads`, else the person's OMP_NUM_THREADS (a
shared machine), else 1 for a small model and every core for a larger one."""

from __future__ import annotations

import os

import pytest

torch = pytest.importorskip("torch")

from agent_core.ml.models import set_threads  # noqa: E402


@pytest.fixture
def threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_threads_follow_the_spec_then_omp_num_threads_then_the_model_size(threads, monkeypatch):
    small = torch.nn.Linear(8, 8)
    large = torch.nn.Linear(5000, 5000, device="meta")  # 25M parameters, no memory
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    set_threads(None, small)
    assert torch.get_num_threads() == 1
    set_threads(None, large)
    assert torch.get_num_threads() == (os.cpu_count() or 1)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    set_threads(None, large)
    assert torch.get_num_threads() == 1
    set_threads(2, large)  # the spec decides over the environment
    assert torch.get_num_threads() == 2
    monkeypatch.setenv("OMP_NUM_THREADS", "lots")  # not a number: ignored
    set_threads(None, large)
    assert torch.get_num_threads() == (os.cpu_count() or 1)
