"""Host and throughput rules: an idle GPU while a job runs (gpu_idle, from `host_sample` events;
never fires without a GPU) and low model FLOPs utilisation (low_mfu, only when `mfu` is logged)."""

from __future__ import annotations

import math

from agent_core.oversight.watchdogs.alerts import AlertBase
from agent_core.oversight.watchdogs.job import JobState
from agent_core.oversight.watchdogs.stats import num


class HostRules(AlertBase):
    # ------------------------------------------------------------------ host samples
    def _on_host(self, ev: dict, t: float | None) -> list[dict]:
        c = self.config
        gpus = ev.get("gpus") or []
        utils = [num(g.get("util")) for g in gpus if isinstance(g, dict)]
        utils = [u for u in utils if u is not None and math.isfinite(u)]
        if not utils:
            return []  # no GPU (or no readings): never fire
        running = [js for js in self.jobs.values() if self._gpu_job_running(js, t)]
        if not running:
            self._gpu_idle_n, self._gpu_idle_since = 0, None
            return []
        busiest = max(utils)
        if busiest > c.gpu_idle_util:
            self._gpu_idle_n, self._gpu_idle_since = 0, None
            if busiest > 2 * c.gpu_idle_util:
                for js in running:
                    self._rearm("gpu_idle", js.name)
            return []
        # startup: loading the model keeps the GPU idle; wait for a first step or the grace period
        ready = [
            js
            for js in running
            if js.last_metric_t is not None
            or (t is not None and js.started is not None and t - js.started >= c.gpu_startup_grace_s)
        ]
        if not ready:
            return []
        self._gpu_idle_n += 1
        if self._gpu_idle_since is None:
            self._gpu_idle_since = t
        long_enough = t is None or self._gpu_idle_since is None or t - self._gpu_idle_since >= c.gpu_idle_s
        if self._gpu_idle_n < c.gpu_idle_samples or not long_enough:
            return []
        js = max(ready, key=lambda j: j.last_metric_t or j.started or 0)
        recent = (
            js.last_metric_t is not None
            and t is not None
            and self._gpu_idle_since is not None
            and js.last_metric_t >= self._gpu_idle_since
        )
        dur = (
            f" for {t - self._gpu_idle_since:.0f}s"
            if t is not None and self._gpu_idle_since is not None
            else f" for {self._gpu_idle_n} samples"
        )
        if recent:
            cause = (
                "training steps still arrive while the GPU idles: the job is probably running on "
                "the CPU (device placement, CUDA not visible), or it is starved by data loading"
            )
            check = "check the worker's device (CUDA_VISIBLE_DEVICES, torch.cuda.is_available()) and data loader"
        else:
            cause = (
                "the job is not using the GPU: hung, waiting on I/O (checkpoint save, dataset "
                "download), or generating on the CPU"
            )
            check = "look at the job's stderr log; compare with the stall alert; py-spy dump the worker"
        return self._fire(
            "gpu_idle",
            js.name,
            js.step,
            f"{js.name}: GPU utilisation {busiest:.0f}% (all GPUs <= {c.gpu_idle_util:.0f}%){dur} while the job runs",
            cause,
            check,
        )

    def _gpu_job_running(self, js: JobState, t: float | None) -> bool:
        if not js.running():
            return False
        if js.explicit:
            return True
        # inferred from metrics only: running while its metrics keep coming
        if js.last_metric_t is None or t is None:
            return js.last_metric_t is not None
        return t - js.last_metric_t <= self._stall_limit(js)

    # -- mfu
    def _check_mfu(self, js: JobState, step: int, mfu: float) -> list[dict]:
        c = self.config
        if mfu > 1.5:  # reported in percent
            mfu /= 100.0
        n_mfu = js.counts["mfu_logs"] = js.counts.get("mfu_logs", 0) + 1
        if n_mfu <= c.mfu_grace_steps:
            return []
        if mfu < c.low_mfu:
            n = js.counts["low_mfu"] = js.counts.get("low_mfu", 0) + 1
            if n >= c.low_mfu_steps:
                return self._fire(
                    "low_mfu",
                    js.name,
                    step,
                    f"{js.name}: MFU {mfu:.0%} for {n} logged steps (under {c.low_mfu:.0%}) at step {step}",
                    "padding waste, a tiny micro-batch, a data-loader bottleneck, no flash attention, "
                    "or GRPO generation without vLLM",
                    "enable packing / padding-free with flash attention, raise the micro-batch, use "
                    "bf16 and liger kernels; for GRPO use vLLM generation",
                )
        else:
            js.counts["low_mfu"] = 0
            if mfu >= 1.2 * c.low_mfu:
                self._rearm("low_mfu", js.name)
        return []
