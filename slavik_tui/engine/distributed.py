"""One trainer on several processes (DESIGN §5): what torchrun tells each of them, and the
few collectives the loop needs.

The launcher is PyTorch's own (`python -P -m torch.distributed.run`, see
runs/detached.py `torchrun_command`); every process it starts runs the ordinary
`slavik-tui train NAME ...` and finds its place here from the environment torchrun sets
(RANK, LOCAL_RANK, WORLD_SIZE, LOCAL_WORLD_SIZE). Without those variables the run is one
process and nothing here touches torch.distributed.

Rank 0 is the only writer: it holds the model's lock, writes history, checkpoints and logs.
The other ranks compute and stay in step through DDP's gradient all-reduce and one small
all-reduce per step (`agree`) that carries the loss and the stop request, so every rank
stops at the same step and rank 0 logs the mean loss over the whole global batch — the same
number a one-process run with the same global batch logs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class World:
    rank: int = 0
    local_rank: int = 0
    size: int = 1
    local_size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1


SINGLE = World()


def _env_int(env, key: str, default: int) -> int:
    try:
        return int(env.get(key, default))
    except ValueError:
        return default


def world_from_env(env=None) -> World:
    """This process' place in a torchrun job (SINGLE outside one)."""
    env = os.environ if env is None else env
    size = _env_int(env, "WORLD_SIZE", 1)
    if size <= 1:
        return SINGLE
    return World(rank=_env_int(env, "RANK", 0), local_rank=_env_int(env, "LOCAL_RANK", 0),
                 size=size, local_size=_env_int(env, "LOCAL_WORLD_SIZE", size))


def backend_for(device: torch.device) -> str:
    return "nccl" if device.type == "cuda" else "gloo"


def rank_device(device: torch.device, world: World) -> torch.device:
    """One GPU per process: the local rank's (`--device cuda` means "this node's GPUs")."""
    if device.type == "cuda" and world.distributed:
        torch.cuda.set_device(world.local_rank)
        return torch.device("cuda", world.local_rank)
    return device


def init(world: World, device: torch.device) -> None:
    import torch.distributed as dist

    if world.distributed and not dist.is_initialized():
        kwargs = {"device_id": device} if device.type == "cuda" else {}
        dist.init_process_group(backend=backend_for(device), **kwargs)


def shutdown(world: World) -> None:
    import torch.distributed as dist

    if world.distributed and dist.is_initialized():
        dist.destroy_process_group()


def barrier(world: World) -> None:
    if world.distributed:
        import torch.distributed as dist

        dist.barrier()


def agree(world: World, loss_sum: torch.Tensor, stop: bool) -> tuple[torch.Tensor, bool]:
    """The loss summed over every rank's micro-batches and whether any rank asked to stop
    (one all-reduce of two numbers)."""
    if not world.distributed:
        return loss_sum, stop
    import torch.distributed as dist

    both = torch.stack([loss_sum.float().reshape(()),
                        torch.tensor(float(stop), device=loss_sum.device)])
    dist.all_reduce(both, op=dist.ReduceOp.SUM)
    return both[0], bool(both[1] > 0)


def wrap(model: torch.nn.Module, world: World, device: torch.device):
    """DistributedDataParallel around the model (the model itself in a one-process run)."""
    if not world.distributed:
        return model
    from torch.nn.parallel import DistributedDataParallel

    ids = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=ids)


def rank_accum(grad_accum: int, world: World) -> int:
    """Micro-batches of each rank per step: the plan's `grad_accum` counts the whole world's,
    so the global batch (batch_size × grad_accum) is the same on 1 and N processes."""
    return grad_accum // world.size


def micro_index(step: int, micro: int, grad_accum: int, world: World) -> int:
    """The global index of a rank's micro-batch: rank r takes micro-batches
    [r·a, (r+1)·a) of the step, so a batch is a pure function of (seed, step, rank, micro)
    and the N ranks together draw exactly the batches one process draws."""
    return step * grad_accum + world.rank * rank_accum(grad_accum, world) + micro


class NullHistory:
    """What ranks other than 0 write to: nothing (rank 0 is the only writer)."""

    def __getattr__(self, name):
        return lambda *args, **kwargs: None

    def close(self) -> None:
        pass
