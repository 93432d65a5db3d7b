"""Host and GPU samples for the `host_sample` event: psutil for CPU/RAM, NVML for GPUs.

NVML scalars cost microseconds; with no GPU (or no driver) NVML fails fast at init and the
sampler degrades to host metrics only, never raising.
"""

from __future__ import annotations

import asyncio

import psutil

try:
    import pynvml
except ImportError:  # nvidia-ml-py is a dependency, but a broken install must not stop a run
    pynvml = None


class HostSampler:
    def __init__(self) -> None:
        self.handles: list = []
        self.gpu_error: str | None = None
        if pynvml is None:
            self.gpu_error = "nvidia-ml-py is not installed"
            return
        try:
            pynvml.nvmlInit()
            self.handles = [pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(pynvml.nvmlDeviceGetCount())]
        except Exception as exc:  # NVMLError_LibraryNotFound, DriverNotLoaded, ...
            self.gpu_error = str(exc) or type(exc).__name__
        psutil.cpu_percent(None)  # prime: the first call always returns 0.0

    def _gpu(self, index: int, h) -> dict:
        out: dict = {"index": index}
        probes = {
            "name": lambda: pynvml.nvmlDeviceGetName(h),
            "util": lambda: pynvml.nvmlDeviceGetUtilizationRates(h).gpu,
            "mem_used": lambda: pynvml.nvmlDeviceGetMemoryInfo(h).used,
            "mem_total": lambda: pynvml.nvmlDeviceGetMemoryInfo(h).total,
            "power": lambda: pynvml.nvmlDeviceGetPowerUsage(h) / 1000.0,
            "temp": lambda: pynvml.nvmlDeviceGetTemperature(h, pynvml.NVML_TEMPERATURE_GPU),
        }
        for key, probe in probes.items():
            try:
                value = probe()
                out[key] = value.decode() if isinstance(value, bytes) else value
            except Exception:
                out[key] = None
        return out

    def sample(self) -> dict:
        vm = psutil.virtual_memory()
        sample = {
            "gpus": [self._gpu(i, h) for i, h in enumerate(self.handles)],
            "cpu": psutil.cpu_percent(None),
            "memory": {"used": vm.total - vm.available, "total": vm.total, "percent": vm.percent},
        }
        if self.gpu_error:
            sample["gpu_note"] = f"no GPU metrics: {self.gpu_error}"
        return sample

    def close(self) -> None:
        if self.handles and pynvml is not None:
            try:
                pynvml.nvmlShutdown()
            except Exception:
                pass


async def sample_forever(log, on_sample, every_s: float = 2.0) -> None:
    """A `host_sample` event every `every_s` seconds, each then handed to `on_sample(sample)`;
    runs until cancelled, or until `on_sample` returns False."""
    sampler = HostSampler()
    try:
        while True:
            sample = await asyncio.to_thread(sampler.sample)
            log.emit("host_sample", **sample)
            if on_sample(sample) is False:
                return
            await asyncio.sleep(every_s)
    finally:
        sampler.close()
