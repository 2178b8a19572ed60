"""Data-parallel helpers on ``torch.distributed`` (no Qt): launch, sharding, collectives.

Runs are launched with ``torchrun``, which sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``,
``MASTER_ADDR`` and ``MASTER_PORT`` in every worker's environment::

    torchrun --nproc_per_node=4 main.py train ...                      # one machine, 4 GPUs
    torchrun --nnodes=2 --node_rank=0 --nproc_per_node=8 \\
             --rdzv_backend=c10d --rdzv_endpoint=HOST:29500 main.py train ...   # two machines

``init_distributed()`` reads that environment, picks the backend (NCCL for CUDA devices,
gloo on the CPU), binds the process to ``cuda:LOCAL_RANK`` and returns a ``DistContext``.
Outside torchrun (or with one process) nothing is initialised and every helper below is a
no-op, so single-process code paths stay exactly as they were.

Sharding follows ``torch.utils.data.DistributedSampler``: rank ``r`` of ``W`` takes items
``r, r + W, r + 2W, ...`` of a sequence that is the same on every rank. Applied to each
*global* minibatch of one shared, seeded stream (``ShardedInfiniteSampler``), the ranks see
disjoint parts whose union is exactly what a single process with the whole batch would
see, and the stream's state does not depend on the number of ranks (so a run can be
resumed with a different number of processes). Strided (not contiguous) shards also keep
minibatch-stddev groups identical: the official layout puts the members of a group
``N / G`` samples apart, which is precisely one rank's shard when ``G`` divides the
per-rank batch.

Gradients are averaged with one coalesced ``all_reduce`` per optimiser step
(``all_reduce_grads_``), as NVIDIA's StyleGAN3 training loop does instead of wrapping the
networks in ``DistributedDataParallel``: the R1 and path-length penalties differentiate
through ``torch.autograd.grad(create_graph=True)``, which DDP's reducer does not support, and
the loss calls ``G.mapping`` / ``G.synthesis`` separately. The result is the same as DDP's
bucketed mean of gradients.
"""

from __future__ import annotations

import contextlib
import datetime
import os
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist

from explorer.errors import UserError

_ENV_KEYS = ('RANK', 'WORLD_SIZE')


@dataclass(frozen=True)
class DistContext:
    """Where this process sits in the job."""
    rank: int = 0                       # Global rank, 0 .. world_size - 1.
    world_size: int = 1                 # Number of processes in the job.
    local_rank: int = 0                 # Rank on this machine (selects the GPU).
    backend: str | None = None          # 'nccl' / 'gloo', None = not distributed.
    device: torch.device = torch.device('cpu')

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


_context = DistContext()


def launched_by_torchrun() -> bool:
    """True when the environment carries torchrun's rank variables."""
    return all(k in os.environ for k in _ENV_KEYS)


def env_ranks() -> tuple[int, int, int]:
    """(rank, world_size, local_rank) from the environment; (0, 1, 0) outside torchrun."""
    def read(name, default):
        text = os.environ.get(name)
        if text is None or text == '':
            return default
        try:
            return int(text)
        except ValueError:
            raise UserError(f'environment variable {name}={text!r} is not a whole number') from None
    rank = read('RANK', 0)
    world = read('WORLD_SIZE', 1)
    local = read('LOCAL_RANK', rank)
    if world < 1 or not 0 <= rank < world:
        raise UserError(f'bad torchrun environment: RANK={rank}, WORLD_SIZE={world}')
    return rank, world, local


def choose_backend(device) -> str:
    """NCCL for CUDA devices, gloo otherwise."""
    return 'nccl' if torch.device(device).type == 'cuda' else 'gloo'


def init_distributed(device=None, timeout_s: float | None = None) -> DistContext:
    """Join the torchrun job described by the environment (idempotent).

    ``device``: None = CUDA when available, else CPU; a CUDA device becomes
    ``cuda:LOCAL_RANK``. With ``WORLD_SIZE`` 1 (or no torchrun) no process group is
    created and the returned context is not ``enabled``.
    """
    global _context
    rank, world, local = env_ranks()
    if device is None:
        device = 'cuda' if torch.cuda.is_available() else 'cpu'
    device = torch.device(device)
    if device.type == 'cuda':
        if world > 1 or device.index is None:
            count = torch.cuda.device_count()
            if count == 0:
                raise UserError('a CUDA device was requested but none is available')
            index = local % count if world > 1 else (device.index or 0)
            if world > 1 and local >= count:
                raise UserError(f'LOCAL_RANK {local} but only {count} CUDA device(s) on this machine; '
                                f'use --nproc_per_node={count} or fewer')
            device = torch.device('cuda', index)
        torch.cuda.set_device(device)
    backend = None
    if world > 1:
        backend = choose_backend(device)
        if not dist.is_initialized():
            kwargs = {}
            if timeout_s is not None:
                kwargs['timeout'] = datetime.timedelta(seconds=timeout_s)
            dist.init_process_group(backend=backend, init_method='env://', rank=rank, world_size=world, **kwargs)
        backend = dist.get_backend()
    _context = DistContext(rank=rank, world_size=world, local_rank=local, backend=backend, device=device)
    return _context


def shutdown(wait: bool = True) -> None:
    """Leave the process group; ``wait``: after a final barrier, so no rank exits while
    others still talk (pass False on an error path: the others may never reach it)."""
    global _context
    if dist.is_available() and dist.is_initialized():
        try:
            if wait:
                dist.barrier()
        finally:
            dist.destroy_process_group()
    _context = DistContext(device=_context.device)


def context() -> DistContext:
    return _context


def get_rank() -> int:
    return dist.get_rank() if _active() else 0


def get_world_size() -> int:
    return dist.get_world_size() if _active() else 1


def is_main_process() -> bool:
    return get_rank() == 0


def _active() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def barrier() -> None:
    if _active():
        dist.barrier()


@contextlib.contextmanager
def rank0_first():
    """Rank 0 runs the body first (e.g. a download into the shared cache), then the others."""
    if not _active():
        yield
        return
    if get_rank() != 0:
        dist.barrier()
    try:
        yield
    finally:
        if get_rank() == 0:
            dist.barrier()


# ---------------------------------------------------------------------------- collectives

def all_reduce_(tensor: torch.Tensor, op: str = 'sum') -> torch.Tensor:
    """In-place all-reduce with op 'sum', 'mean', 'max' or 'min'; identity with one process."""
    if not _active():
        return tensor
    ops = {'sum': dist.ReduceOp.SUM, 'mean': dist.ReduceOp.SUM, 'max': dist.ReduceOp.MAX, 'min': dist.ReduceOp.MIN}
    if op not in ops:
        raise ValueError(f'unknown reduce op {op!r}')
    dist.all_reduce(tensor, op=ops[op])
    if op == 'mean':
        tensor.div_(dist.get_world_size())
    return tensor


def broadcast_(tensor: torch.Tensor, src: int = 0) -> torch.Tensor:
    """In-place broadcast from ``src``; identity with one process."""
    if _active():
        dist.broadcast(tensor, src=src)
    return tensor


def all_reduce_mean_tensors_(tensors) -> None:
    """Average a list of same-dtype tensors across ranks with one collective (e.g. ``w_avg``)."""
    tensors = [t for t in tensors]
    if not tensors or not _active():
        return
    flat = torch.cat([t.detach().reshape(-1).to(torch.float32) for t in tensors])
    all_reduce_(flat, 'mean')
    for t, part in zip(tensors, flat.split([t.numel() for t in tensors])):
        t.copy_(part.reshape(t.shape).to(t.dtype))


def broadcast_tensors_(tensors, src: int = 0) -> None:
    """Broadcast a list of tensors from ``src`` (e.g. parameters after a resume) with one collective."""
    tensors = [t for t in tensors]
    if not tensors or not _active():
        return
    flat = torch.cat([t.detach().reshape(-1).to(torch.float32) for t in tensors])
    broadcast_(flat, src)
    for t, part in zip(tensors, flat.split([t.numel() for t in tensors])):
        t.copy_(part.reshape(t.shape).to(t.dtype))


def all_reduce_grads_(params) -> None:
    """Average the gradients of ``params`` across ranks (one flat all-reduce), like DDP.

    A parameter without a gradient on some rank contributes zeros there; one without a
    gradient on every rank keeps ``grad = None`` (so Adam skips it, as in one process).
    """
    params = list(params)
    if not params or not _active():
        return
    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
    has = [1.0 if p.grad is not None else 0.0 for p in params]
    flat = torch.cat([g.detach().reshape(-1).to(torch.float32) for g in grads]
                     + [torch.tensor(has, dtype=torch.float32, device=grads[0].device)])
    dist.all_reduce(flat, op=dist.ReduceOp.SUM)
    sizes = [p.numel() for p in params]
    *parts, any_has = flat.split(sizes + [len(params)])
    world = dist.get_world_size()
    for p, part, n in zip(params, parts, any_has.tolist()):
        p.grad = (part / world).reshape(p.shape).to(p.dtype) if n > 0 else None


def any_rank(flag: bool, device='cpu') -> bool:
    """True on every rank when ``flag`` is true on at least one (e.g. a stop request)."""
    if not _active():
        return bool(flag)
    t = torch.tensor([1.0 if flag else 0.0], device=device)
    all_reduce_(t, 'max')
    return bool(t.item() > 0)


# ---------------------------------------------------------------------------- sharding

def shard(items, rank: int | None = None, world_size: int | None = None) -> list:
    """This rank's share of ``items`` (DistributedSampler order: ``items[rank::world_size]``).

    Over all ranks the shares are disjoint and their union is ``items``: no duplicates, no gaps.
    """
    rank = get_rank() if rank is None else rank
    world_size = get_world_size() if world_size is None else world_size
    if world_size < 1 or not 0 <= rank < world_size:
        raise ValueError(f'bad rank {rank} of {world_size}')
    return list(items)[rank::world_size]


def per_rank_batch(global_batch: int, world_size: int | None = None) -> int:
    """Per-process minibatch for a global minibatch; it must divide evenly."""
    world_size = get_world_size() if world_size is None else world_size
    if global_batch % world_size:
        raise UserError(f'batch {global_batch} is not divisible by the number of processes ({world_size}); '
                        f'the batch is the total over all GPUs')
    return global_batch // world_size


class ShardedInfiniteSampler:
    """Endless stream of dataset indices, sharded by rank.

    Every rank runs the same seeded global stream (a fresh permutation per epoch, as
    ``explorer.training.dataset.InfiniteSampler``); ``next_batch(b)`` draws a global
    minibatch of ``b * world_size`` indices and returns this rank's strided share of it.
    Within an epoch the ranks see disjoint indices; the state (``state_dict``) is the
    global stream's, so it can be restored with any number of ranks.
    """

    def __init__(self, n, seed=0, rank=None, world_size=None):
        from explorer.training.dataset import InfiniteSampler
        self.inner = InfiniteSampler(n, seed=seed)
        self.rank = get_rank() if rank is None else rank
        self.world_size = get_world_size() if world_size is None else world_size

    @property
    def n(self) -> int:
        return self.inner.n

    def next_batch(self, batch) -> np.ndarray:
        """``batch`` = per-rank minibatch size."""
        glob = self.inner.next_batch(batch * self.world_size)
        return glob[self.rank::self.world_size]

    def state_dict(self) -> dict:
        return self.inner.state_dict()

    def load_state_dict(self, state) -> None:
        self.inner.load_state_dict(state)
