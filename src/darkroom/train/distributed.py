"""Data-parallel training: ``torchrun --nproc-per-node N -m darkroom train ...`` runs one job in N parts.

torchrun sets ``RANK`` and ``WORLD_SIZE``; :func:`init_world` joins the process group (gloo on CPU, NCCL on
CUDA). Then, as DistributedDataParallel does:
- every process starts from rank 0's weights and buffers (:func:`broadcast_module`);
- the batch of step t is the batch a one-process run of ``batch_size x N`` would draw; process r takes
  its r-th slice of ``batch_size`` (``StepBatches(..., rank, world)``), so N processes with batch B/N see
  what one process with batch B sees;
- after each backward the gradients of the phase's parameters are averaged over the processes
  (:func:`average_gradients`, one flat all-reduce), so every process takes the same optimizer step.
  darkroom's models are trained through ``loss()`` (and a GAN's phases), not ``forward()``, which the DDP
  wrapper's hooks rely on; averaging the gradients directly gives the same update for every model;
- figures in the log are means over the processes; rank 0 alone writes the log, samples, checkpoints,
  the progress bar and ``run.json`` (which records ``world_size``); each rank's random state goes into the
  checkpoint too, so a killed job resumes exactly;
- BatchNorm is per process (statistics of its own B/N images), as in DDP without SyncBatchNorm; models
  with GroupNorm, or none (autoencoder, restoration models, sprites), are unaffected.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1

    @property
    def main(self) -> bool:
        return self.rank == 0


def init_world(device: torch.device) -> World:
    """The process group torchrun describes (a one-process world without it)."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size == 1:
        return World()
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return World(dist.get_rank(), dist.get_world_size())


def env_rank() -> int:
    """This process's rank before the group is joined (0 outside torchrun)."""
    return int(os.environ.get("RANK", "0"))


def broadcast_module(module: torch.nn.Module, world: World) -> None:
    if world.size > 1:
        for tensor in list(module.parameters()) + list(module.buffers()):
            dist.broadcast(tensor.data, 0)


def average_gradients(params: list[torch.Tensor], world: World) -> None:
    """Mean of each parameter's gradient over the processes (a missing gradient counts as zero)."""
    if world.size == 1 or not params:
        return
    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= world.size
    offset = 0
    for p, g in zip(params, grads):
        p.grad = flat[offset : offset + g.numel()].view_as(g).clone()
        offset += g.numel()


def mean_scalars(values: dict[str, float], world: World) -> dict[str, float]:
    if world.size == 1 or not values:
        return values
    keys = sorted(values)
    tensor = torch.tensor([values[k] for k in keys], dtype=torch.float64)
    dist.all_reduce(tensor)
    return {k: float(v) / world.size for k, v in zip(keys, tensor)}


def any_rank(flag: bool, world: World) -> bool:
    """True on every process when it is true on any (all stop at the same step)."""
    if world.size == 1:
        return bool(flag)
    tensor = torch.tensor([1.0 if flag else 0.0])
    dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
    return bool(tensor.item())


def barrier(world: World) -> None:
    if world.size > 1:
        dist.barrier()


def finish(world: World) -> None:
    if world.size > 1 and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
