"""The GPU's utilisation, memory, temperature and power through NVML (`nvidia-ml-py`, the
optional extra `slavik-tui[gpu]`): read at each eval, stored with it, shown in the progress
line. Without the package, a driver or a CUDA device, `GpuStats.open` returns None and a run
goes on without them.
"""

from __future__ import annotations

from typing import Any


class GpuStats:
    def __init__(self, nvml: Any, handle: Any):
        self._nvml, self._handle = nvml, handle

    @classmethod
    def open(cls, device) -> "GpuStats | None":
        if getattr(device, "type", None) != "cuda":
            return None
        try:
            import pynvml  # nvidia-ml-py
        except ImportError:
            return None
        try:
            pynvml.nvmlInit()
            index = device.index or 0
            try:  # NVML numbers GPUs by PCI order, CUDA may not: match by bus id
                import torch

                bus = torch.cuda.get_device_properties(index).pci_bus_id
                handle = pynvml.nvmlDeviceGetHandleByPciBusId(bus)
            except Exception:
                handle = pynvml.nvmlDeviceGetHandleByIndex(index)
        except Exception:
            return None
        return cls(pynvml, handle)

    def read(self) -> dict[str, float]:
        """{"gpu/util": %, "gpu/mem_mb": MB used, "gpu/temp_c": °C, "gpu/power_w": W}; a
        reading the GPU does not offer is left out."""
        nvml, h = self._nvml, self._handle
        out: dict[str, float] = {}
        readers = {
            "gpu/util": lambda: float(nvml.nvmlDeviceGetUtilizationRates(h).gpu),
            "gpu/mem_mb": lambda: nvml.nvmlDeviceGetMemoryInfo(h).used / 2**20,
            "gpu/temp_c": lambda: float(
                nvml.nvmlDeviceGetTemperature(h, nvml.NVML_TEMPERATURE_GPU)),
            "gpu/power_w": lambda: nvml.nvmlDeviceGetPowerUsage(h) / 1000.0,
        }
        for key, read in readers.items():
            try:
                out[key] = read()
            except Exception:
                continue
        return out


def describe(stats: dict[str, float]) -> str:
    """The progress line's piece: 'GPU 97% 41,000 MB 65°C 480 W'."""
    if not stats:
        return ""
    parts = []
    if "gpu/util" in stats:
        parts.append(f"{stats['gpu/util']:.0f}%")
    if "gpu/mem_mb" in stats:
        parts.append(f"{stats['gpu/mem_mb']:,.0f} MB")
    if "gpu/temp_c" in stats:
        parts.append(f"{stats['gpu/temp_c']:.0f}°C")
    if "gpu/power_w" in stats:
        parts.append(f"{stats['gpu/power_w']:.0f} W")
    return "GPU " + " ".join(parts)
