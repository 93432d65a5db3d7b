#!/usr/bin/env bash
# The GPU check, as one short run (under 8 minutes on one H100/H200): SFT full and LoRA tokens/s
# and MFU, GRPO seconds per step and the evaluation of 1,319 GSM8K-shaped prompts x 256 new
# tokens, each against a baseline measured in the same run (plain TRL; transformers' generate), on
# a randomly initialised Qwen3-1.7B shape at 2k context (nothing downloaded). Progress lines, then
# one JSON line last. See bench/README.md and the docstring of bench/gpu_check.py.
#
# On a GPU machine, from the repository root, in one call:
#   make install                  # the CUDA build of torch where nvidia-smi works
#   .venv/bin/pip install vllm    # optional: GRPO with vLLM colocate and the vLLM evaluation
#   bash bench/gpu_check.sh       # or: bash bench/gpu_check.sh > gpu_check.log; tail -1 gpu_check.log
# Without a GPU: bash bench/gpu_check.sh --smoke   (a tiny model on the CPU, under 90 s)
#
# Python: $PYTHON, else .venv/bin/python, else python3. A hard stop at 470 s backs up the
# script's own wall-clock guard (440 s); on that stop it still prints its JSON line.
set -u
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
[ -x "$PY" ] || PY=python3
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
exec timeout -s TERM -k 15 470 "$PY" bench/gpu_check.py "$@"
