"""Which batch each training step sees: a pure function of (seed, step), sliced per process when
distributed, so a resumed or a data-parallel run sees what one uninterrupted process would."""

from __future__ import annotations

import torch

from darkroom.data import collate


class StepBatches(torch.utils.data.Sampler):
    """Index lists for steps ``start`` .. ``stop`` - 1: a fresh seeded permutation per epoch, so the
    batch of any step is a pure function of (seed, step). With ``world`` processes, each step's batch is
    the one of ``batch_size x world`` a single process would take, and process ``rank`` gets its slice."""

    def __init__(self, n: int, batch_size: int, seed: int, start: int, stop: int, rank: int = 0, world: int = 1):
        self.n, self.batch_size, self.seed, self.start, self.stop = n, batch_size, seed, start, stop
        self.rank, self.world = rank, world
        self._epoch, self._perm = -1, None

    def _permutation(self, epoch: int) -> torch.Tensor:
        if epoch != self._epoch:
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            self._epoch, self._perm = epoch, torch.randperm(self.n, generator=g)
        return self._perm

    def __iter__(self):
        for step in range(self.start, self.stop):
            first = (step * self.world + self.rank) * self.batch_size
            yield [int(self._permutation(q // self.n)[q % self.n]) for q in range(first, first + self.batch_size)]

    def __len__(self) -> int:
        return self.stop - self.start


def make_loader(dataset, config, start: int, device, world) -> torch.utils.data.DataLoader:
    """Batches of the steps still to run, from ``start``: a resumed run sees what the whole one would."""
    return torch.utils.data.DataLoader(
        dataset,
        batch_sampler=StepBatches(
            len(dataset), config.batch_size, config.seed, start, config.steps, world.rank, world.size
        ),
        collate_fn=collate,
        num_workers=config.workers,
        pin_memory=device.type == "cuda",
        # Its own generator: otherwise the loader draws its base seed from the global RNG when its
        # iterator starts, shifting every random number after a resume.
        generator=torch.Generator().manual_seed(config.seed),
    )
