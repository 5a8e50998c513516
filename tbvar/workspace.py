"""Per-thread scratch buffers reused across calls (no fresh allocation, no page faults).

A large tensor allocated afresh for every batch is mapped and page-faulted anew by the C
allocator each time (glibc serves requests over 32 MiB with ``mmap``); keeping the working
memory of a forward pass in buffers that only ever grow avoids that. Buffers are per thread,
so two threads running forward passes never share one.
"""

from __future__ import annotations

import threading

import torch

_local = threading.local()


def buffer(name: str, shape: tuple[int, ...], dtype: torch.dtype = torch.float32,
           device: torch.device | str = "cpu") -> torch.Tensor:
    """A contiguous tensor of ``shape`` backed by this thread's buffer ``name`` (uninitialised).

    The buffer grows to the largest size asked for and is kept; tensors returned by an earlier
    call with the same name share its memory, so a caller must be done with them first.
    """
    buffers: dict[tuple[str, torch.dtype, torch.device], torch.Tensor] = \
        _local.__dict__.setdefault("buffers", {})
    key = (name, dtype, torch.device(device))
    size = 1
    for dim in shape:
        size *= dim
    flat = buffers.get(key)
    if flat is None or flat.numel() < size:
        with torch.inference_mode(False):  # a normal tensor: usable in and out of inference mode
            flat = torch.empty(size, dtype=dtype, device=device)
        buffers[key] = flat
    return flat[:size].view(shape)

