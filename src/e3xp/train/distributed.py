"""Data-parallel training on the frameworks' own engines: torch DDP and JAX sharding.

e3xp adds no distributed engine. On PyTorch, one process per device
(``torchrun``), a ``torch.distributed`` process group (gloo on CPU, nccl on GPU)
and :class:`torch.nn.parallel.DistributedDataParallel`, whose all-reduce averages
the gradients. On JAX, one process drives N devices: a 1-D
:class:`jax.sharding.Mesh` named ``"data"``, the batch sharded along it
(``NamedSharding(mesh, PartitionSpec("data"))``), the parameters and the
optimizer state replicated, and the loss a ``jax.shard_map`` whose ``psum``
XLA differentiates into the gradient all-reduce. Across hosts,
``jax.distributed.initialize`` first; the mesh then spans every process's devices.

The batch rule (the same on both frameworks)
--------------------------------------------
``--batch-size B`` is the **global** batch: a step draws the same B structures
whatever the number of devices W. Each device gets ``ceil(B / W)`` graph slots,
filled in order (device 0 the first ``ceil(B / W)`` structures of the batch,
device 1 the next, ...); slots left over -- when W does not divide B, and in the
last, partial batch of an epoch -- hold empty, masked graphs, so every device
always gets the same number of graphs and the same padded shapes. Every device
pads its graphs to one fixed capacity of atoms and edges for the whole run (the
``ceil(B / W)`` largest structures of the dataset, rounded up), so JAX compiles
the step once. The loss is the mean over the **real** graphs (energies) and real
atoms (forces) of the global batch: each device sums its terms and divides by the
global counts, so the gradient equals the single-device gradient of the same
batch up to floating-point rounding (tested: 2 devices against 1 to 1e-10
relative after several Adam steps, float64). ``B < W`` is an error: some device
would never see data.

>>> per_device_batch(10, 4)
3
>>> shard_of([7, 1, 5, 2, 9], world_size=2, rank=1, per_device=3)
[2, 9]
"""

from __future__ import annotations

import dataclasses
import functools
import os

import numpy as np

from .data import collate, round_up

__all__ = [
    "setup",
    "DataParallel",
    "per_device_batch",
    "shard_of",
    "GlobalBatcher",
    "sum_loss",
    "TorchContext",
    "init_torch_distributed",
    "TorchDDPTrainer",
    "make_mesh",
    "ShardedJaxTrainer",
    "initialize_jax_distributed",
]


# ============================================================================ framework-neutral
def per_device_batch(global_batch: int, world_size: int) -> int:
    """Graph slots per device: ``ceil(global_batch / world_size)``.

    Raises
    ------
    ValueError
        ``world_size < 1``, ``global_batch < 1``, or ``global_batch < world_size``.
    """
    global_batch, world_size = int(global_batch), int(world_size)
    if world_size < 1:
        raise ValueError(f"the number of devices must be >= 1, got {world_size}")
    if global_batch < 1:
        raise ValueError(f"--batch-size must be >= 1, got {global_batch}")
    if global_batch < world_size:
        raise ValueError(
            f"--batch-size {global_batch} is smaller than the number of devices ({world_size}): "
            f"the batch size is the global batch, split across devices, so each device needs at "
            f"least one structure; use --batch-size >= {world_size} or fewer devices"
        )
    return -(-global_batch // world_size)


def shard_of(indices, world_size: int, rank: int, per_device: int) -> list:
    """The structures of a global batch that device ``rank`` trains on (a contiguous block).

    ``indices[rank * per_device : (rank + 1) * per_device]``; shorter (possibly
    empty) for the last devices of a partial batch -- the rest of their slots are
    padding graphs.
    """
    indices = list(indices)
    if len(indices) > world_size * per_device:
        raise ValueError(f"{len(indices)} structures for {world_size} devices x {per_device} slots")
    if not 0 <= rank < world_size:
        raise ValueError(f"rank {rank} outside 0..{world_size - 1}")
    return indices[rank * per_device : (rank + 1) * per_device]


@dataclasses.dataclass
class GlobalBatcher:
    """Turns the indices of a global batch into fixed-shape per-device batches.

    Parameters
    ----------
    graphs : list of :class:`~e3xp.train.data.Graph`
        The whole training set (every process holds it).
    n_species : int
    r_max : float
    global_batch : int
        ``--batch-size``.
    world_size : int
        Number of devices (torch: processes; JAX: mesh devices).
    node_multiple, edge_multiple : int
        The fixed capacities are rounded up to these.

    Attributes
    ----------
    per_device : int
        Graph slots per device (:func:`per_device_batch`).
    n_nodes, n_edges : int
        Fixed atom / edge capacity of every per-device batch (padding included):
        the ``per_device`` largest structures of ``graphs`` fit, plus the padding atom.
    """

    graphs: list
    n_species: int
    r_max: float
    global_batch: int
    world_size: int = 1
    node_multiple: int = 8
    edge_multiple: int = 8

    def __post_init__(self):
        self.per_device = per_device_batch(self.global_batch, self.world_size)
        atoms = np.sort([g.n_atoms for g in self.graphs])[::-1]
        edges = np.sort([g.n_edges for g in self.graphs])[::-1]
        self.n_nodes = round_up(int(atoms[: self.per_device].sum()) + 1, self.node_multiple)
        self.n_edges = round_up(max(int(edges[: self.per_device].sum()), 1), self.edge_multiple)

    def shard(self, indices, rank: int) -> dict:
        """The padded NumPy batch of device ``rank`` (always ``per_device`` graph slots + 1 padding graph)."""
        mine = shard_of(indices, self.world_size, rank, self.per_device)
        # node_multiple / edge_multiple = the capacity: collate rounds every batch up to exactly it
        return collate([self.graphs[i] for i in mine], self.n_species, r_max=self.r_max,
                       n_graphs=self.per_device, node_multiple=self.n_nodes, edge_multiple=self.n_edges)

    def shards(self, indices, ranks=None) -> list:
        """The batches of devices ``ranks`` (default: all), all of the same shapes."""
        ranks = range(self.world_size) if ranks is None else ranks
        return [self.shard(indices, r) for r in ranks]

    def counts(self, indices) -> tuple:
        """``(real graphs, real atoms)`` of the global batch: the denominators of the loss."""
        return len(list(indices)), int(sum(self.graphs[i].n_atoms for i in indices))


def sum_loss(energy, forces, batch, n_graphs, n_atoms, energy_weight: float, force_weight: float):
    """This device's share of the global-batch loss of :func:`e3xp.train.loss.loss`.

    The same terms (energy per atom over real graphs, force components over real
    atoms), summed over this device's batch and divided by the counts of the
    **global** batch, so that the sum over devices is the global mean. With the
    counts of the batch itself it equals :func:`~e3xp.train.loss.loss` (tested).
    """
    gm, nm = batch["graph_mask"], batch["node_mask"]
    # empty graph slots (collate's n_graphs > real graphs) have n_atoms 0: 0/0 would make the
    # loss NaN (masked out of the gradient, but not of the value); 1 is added where gm is 0
    de = (energy - batch["energy"]) / (batch["n_atoms"] + (1.0 - gm))
    df = forces - batch["forces"]
    return (energy_weight * (gm * de * de).sum() / n_graphs
            + force_weight * (nm[:, None] * df * df).sum() / (3.0 * n_atoms))


# ============================================================================ PyTorch (DDP)
@dataclasses.dataclass(frozen=True)
class TorchContext:
    """Where this process stands: ``rank``, ``world_size``, ``local_rank``, its ``device``."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: object = None
    backend: str | None = None

    @property
    def is_main(self) -> bool:
        """Only rank 0 writes checkpoints, plots and metrics."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    def all_reduce_sum(self, values):
        """Sum floats (a list) over the processes; returns a list of floats (identity on one process)."""
        values = [float(v) for v in values]
        if not self.distributed:
            return values
        import torch
        import torch.distributed as dist

        t = torch.tensor(values, dtype=torch.float64, device=self.device)
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
        return t.cpu().tolist()

    def barrier(self):
        if self.distributed:
            import torch.distributed as dist

            dist.barrier()

    def shutdown(self):
        if self.distributed:
            import torch.distributed as dist

            if dist.is_initialized():
                dist.destroy_process_group()


def init_torch_distributed(device: str | None = None, backend: str | None = None) -> TorchContext:
    """Join the process group described by ``torchrun``'s environment (``RANK``, ``WORLD_SIZE``,
    ``LOCAL_RANK``, ``MASTER_ADDR``, ``MASTER_PORT``); a single process without them.

    ``backend`` defaults to nccl when ``device`` is CUDA (each process takes
    ``cuda:LOCAL_RANK``), gloo otherwise.
    """
    import torch
    import torch.distributed as dist

    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    cuda = device is not None and str(device).startswith("cuda")
    if cuda:
        n_gpu = torch.cuda.device_count()
        if local_rank >= n_gpu:
            raise ValueError(f"LOCAL_RANK {local_rank} but this node has {n_gpu} CUDA device(s): "
                             f"use torchrun --nproc_per_node <= {n_gpu}")
        dev = torch.device("cuda", local_rank) if world > 1 or str(device) == "cuda" else torch.device(device)
        if dev.type == "cuda":
            torch.cuda.set_device(dev)
    else:
        dev = torch.device(device or "cpu")
    if world == 1:
        return TorchContext(0, 1, 0, dev, None)
    for var in ("MASTER_ADDR", "MASTER_PORT"):
        if var not in os.environ:
            raise ValueError(f"WORLD_SIZE={world} but {var} is not set: launch with torchrun")
    backend = backend or ("nccl" if cuda else "gloo")
    if not dist.is_initialized():
        dist.init_process_group(backend=backend, init_method="env://", rank=rank, world_size=world)
    return TorchContext(rank, world, local_rank, dev, backend)


@functools.lru_cache(maxsize=None)
def _torch_trainer_class():
    from .torch_backend import TorchTrainer, batch_to_torch

    class TorchDDPTrainer(TorchTrainer):
        """:class:`~e3xp.train.torch_backend.TorchTrainer` with the module wrapped in DDP.

        ``step(shard, counts)`` takes this rank's padded batch
        (:meth:`GlobalBatcher.shard`) and the global ``(graphs, atoms)`` counts
        (:meth:`GlobalBatcher.counts`); DDP averages the gradients over the W
        ranks, so each rank back-propagates W times its share of the global mean.
        Returns the global loss (all-reduced), the same on every rank.
        """

        def __init__(self, config, params, *, context: TorchContext, **kwargs):
            if kwargs.get("device") is None or context.distributed:
                kwargs["device"] = context.device  # each rank its own device (cuda:LOCAL_RANK)
            super().__init__(config, params, **kwargs)
            self.context = context
            if context.distributed:
                from torch.nn.parallel import DistributedDataParallel

                ids = [context.device] if context.device is not None and context.device.type == "cuda" else None
                # every parameter gets a gradient every step: static buckets, no unused-parameter search
                self.ddp = DistributedDataParallel(self.module, device_ids=ids)
            else:
                self.ddp = self.module

        def step(self, shard: dict, counts=None) -> float:
            import torch

            batch = batch_to_torch(shard, self.dtype, self.device)
            if counts is None:  # one device, batch = the global batch
                counts = (float(batch["graph_mask"].sum()), float(batch["node_mask"].sum()))
            self.opt.zero_grad(set_to_none=True)
            pos = batch["positions"].detach().requires_grad_(True)
            e = self.ddp({**batch, "positions": pos})  # through DDP's forward: it arms the all-reduce
            (g,) = torch.autograd.grad(e.sum(), pos, create_graph=True)
            local = sum_loss(e, -g, batch, float(counts[0]), float(counts[1]), *self.weights)
            (local * self.context.world_size).backward()
            self.opt.step()
            return self.context.all_reduce_sum([local.detach()])[0]

    return TorchDDPTrainer


def __getattr__(name):
    # the torch / jax classes import their framework: built on first access only
    if name == "TorchDDPTrainer":
        return _torch_trainer_class()
    if name == "ShardedJaxTrainer":
        return _jax_trainer_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# ============================================================================ JAX (sharding)
def initialize_jax_distributed(coordinator_address: str | None = None, num_processes: int | None = None,
                               process_id: int | None = None):
    """Multi-host JAX: ``jax.distributed.initialize`` (call before anything else touches JAX).

    Arguments default to the environment (``E3XP_COORDINATOR``, ``E3XP_NUM_PROCESSES``,
    ``E3XP_PROCESS_ID``), then to JAX's own auto-detection (SLURM, ...). After it,
    ``jax.devices()`` lists the devices of every host and :func:`make_mesh` spans them.
    """
    import jax

    env = os.environ
    coordinator_address = coordinator_address or env.get("E3XP_COORDINATOR")
    if num_processes is None and "E3XP_NUM_PROCESSES" in env:
        num_processes = int(env["E3XP_NUM_PROCESSES"])
    if process_id is None and "E3XP_PROCESS_ID" in env:
        process_id = int(env["E3XP_PROCESS_ID"])
    jax.distributed.initialize(coordinator_address=coordinator_address, num_processes=num_processes,
                               process_id=process_id)


def make_mesh(n_devices: int | None = None, platform: str | None = None):
    """A 1-D ``Mesh`` named ``"data"`` over the first ``n_devices`` devices (default: all).

    Raises
    ------
    ValueError
        ``n_devices`` larger than the devices JAX sees (the message says how to get
        more: several GPUs, ``XLA_FLAGS=--xla_force_host_platform_device_count=N`` on CPU).
    """
    import jax
    from jax.sharding import Mesh

    devices = jax.devices(platform) if platform else jax.devices()
    n = len(devices) if n_devices is None else int(n_devices)
    if n < 1:
        raise ValueError(f"--devices must be >= 1, got {n}")
    if n > len(devices):
        raise ValueError(
            f"--devices {n} but JAX sees {len(devices)} {devices[0].platform} device(s) "
            f"({', '.join(str(d) for d in devices[:4])}{', ...' if len(devices) > 4 else ''}); on CPU, "
            f"set XLA_FLAGS=--xla_force_host_platform_device_count={n} before starting Python"
        )
    return Mesh(np.array(devices[:n]), ("data",))


@functools.lru_cache(maxsize=None)
def _jax_trainer_class():
    import jax
    import jax.numpy as jnp
    import optax
    from jax.sharding import NamedSharding, PartitionSpec as P

    from .jax_backend import JaxTrainer

    class ShardedJaxTrainer(JaxTrainer):
        """:class:`~e3xp.train.jax_backend.JaxTrainer` on a mesh of devices (one process).

        Parameters and optimizer state are replicated over ``mesh``; ``step(shards, counts)``
        takes the W per-device batches (:meth:`GlobalBatcher.shards`) and the global
        counts, stacks them into arrays of leading axis W sharded over ``"data"``, and
        runs one jitted step: the loss is a ``shard_map`` (each device its block, then
        ``psum``) and its gradient, by XLA's transposition of that ``psum``, the
        all-reduced gradient. The counts are traced arguments, so the last partial
        batch does not compile again.
        """

        def __init__(self, config, params, *, mesh, **kwargs):
            from .loss import DEFAULT_ENERGY_WEIGHT, DEFAULT_FORCE_WEIGHT

            weights = (kwargs.get("energy_weight", DEFAULT_ENERGY_WEIGHT),
                       kwargs.get("force_weight", DEFAULT_FORCE_WEIGHT))
            self.mesh = mesh
            self.world_size = mesh.devices.size
            self.replicated = NamedSharding(mesh, P())
            self.batch_sharding = NamedSharding(mesh, P("data"))
            kwargs["device"] = self.replicated
            super().__init__(config, params, **kwargs)
            self.opt_state = jax.device_put(self.opt_state, self.replicated)
            module, tx = self.module, self.tx

            def energy_and_forces(p, batch):
                def total(pos):
                    e = module.apply({"params": p}, {**batch, "positions": pos})
                    return e.sum(), e

                g, e = jax.grad(total, has_aux=True)(batch["positions"])
                return e, -g

            def local_loss(p, batch, n_graphs, n_atoms):
                b = {k: v[0] for k, v in batch.items()}  # this device's block: leading axis 1
                e, f = energy_and_forces(p, b)
                return jax.lax.psum(sum_loss(e, f, b, n_graphs, n_atoms, *weights), "data")

            global_loss = jax.shard_map(local_loss, mesh=mesh, in_specs=(P(), P("data"), P(), P()),
                                        out_specs=P())

            def step(p, s, batch, n_graphs, n_atoms):
                value, grads = jax.value_and_grad(global_loss)(p, batch, n_graphs, n_atoms)
                updates, s = tx.update(grads, s, p)
                return optax.apply_updates(p, updates), s, value

            self._sharded_step = jax.jit(step, donate_argnums=(0, 1))

        def stack(self, shards):
            """Per-device NumPy batches -> dict of (W, ...) arrays sharded over ``"data"``.

            ``shards`` is the list of the W batches, or a function ``rank -> batch``:
            then only the ranks whose device belongs to this process are collated
            (multi-host: each host builds its own devices' blocks).
            """
            get = shards if callable(shards) else shards.__getitem__
            if not callable(shards) and len(shards) != self.world_size:
                raise ValueError(f"{len(shards)} shards for a mesh of {self.world_size} devices")
            me = jax.process_index()
            local = {r: get(r) for r, d in enumerate(self.mesh.devices.flat) if d.process_index == me}
            first = next(iter(local.values()))
            out = {}
            for k, v in first.items():
                dt = self.dtype if np.asarray(v).dtype.kind == "f" else np.int32
                blocks = {r: np.asarray(b[k], dtype=dt)[None] for r, b in local.items()}
                shape = (self.world_size,) + blocks[next(iter(blocks))].shape[1:]
                out[k] = jax.make_array_from_callback(shape, self.batch_sharding,
                                                      lambda index, blocks=blocks: blocks[index[0].start or 0])
            return out

        def step(self, shards, counts=None) -> float:
            if isinstance(shards, dict):  # a single batch = the global batch on a 1-device mesh
                shards = [shards]
            if counts is None:
                if callable(shards):
                    raise ValueError("step(function of rank) needs the global counts")
                counts = (sum(float(s["graph_mask"].sum()) for s in shards),
                          sum(float(s["node_mask"].sum()) for s in shards))
            batch = self.stack(shards)
            n_graphs = jax.device_put(jnp.asarray(counts[0], dtype=self.dtype), self.replicated)
            n_atoms = jax.device_put(jnp.asarray(counts[1], dtype=self.dtype), self.replicated)
            self.params, self.opt_state, value = self._sharded_step(self.params, self.opt_state, batch,
                                                                    n_graphs, n_atoms)
            return float(value)

        def compilations(self) -> int:
            """How many times the training step was compiled (1 when shapes stay fixed)."""
            return self._sharded_step._cache_size()

    return ShardedJaxTrainer


# ============================================================================ the loop's hooks
class DataParallel:
    """What :func:`e3xp.train.loop.train` needs to run on several devices (from :func:`setup`).

    Attributes
    ----------
    backend : "torch" or "jax"
    world_size : int
        Devices that share each global batch.
    is_main : bool
        This process writes checkpoints, plots and ``metrics.json`` (torch rank 0;
        JAX process 0).
    batcher : GlobalBatcher
    """

    def __init__(self, backend, world_size, is_main, batcher, context=None, mesh=None):
        self.backend, self.world_size, self.is_main = backend, world_size, is_main
        self.batcher, self.context, self.mesh = batcher, context, mesh

    def make_trainer(self, config, params, **kwargs):
        if self.backend == "torch":
            return _torch_trainer_class()(config, params, context=self.context, **kwargs)
        kwargs.pop("device", None)  # the mesh decides
        return _jax_trainer_class()(config, params, mesh=self.mesh, **kwargs)

    def step(self, trainer, indices) -> float:
        """One optimizer step on the global batch ``indices``; returns the global loss."""
        counts = self.batcher.counts(indices)
        if self.backend == "torch":
            return trainer.step(self.batcher.shard(indices, self.context.rank), counts)
        return trainer.step(lambda rank: self.batcher.shard(indices, rank), counts)

    def evaluate(self, evaluate, trainer, graphs, n_species: int, r_max: float) -> dict:
        """``evaluate(trainer, graphs, ...)`` of :mod:`e3xp.train.loop`, the graphs split over the ranks.

        torch: rank r evaluates ``graphs[r::W]``; the errors are combined with
        all-reduced sums (weighted by frames / force components) and the forces for
        the parity plot gathered, so every rank returns the metrics of the whole
        set (equal to one process's up to rounding: tested). JAX: one process drives
        the mesh and evaluates everything (its devices hold replicated parameters).
        """
        if self.backend != "torch":
            return evaluate(trainer, graphs, n_species, r_max)
        import torch.distributed as dist

        ctx = self.context
        mine = graphs[ctx.rank :: ctx.world_size]
        if mine:
            m = evaluate(trainer, mine, n_species, r_max)
            forces = m.pop("_forces")
            nf = forces[0].size
            sums = [m["energy_mae_per_atom"] * len(mine), m["force_mae"] * nf, m["force_rmse"] ** 2 * nf, len(mine), nf]
        else:
            forces, sums = (np.zeros((0, 3)), np.zeros((0, 3))), [0.0, 0.0, 0.0, 0, 0]
        e_abs, f_abs, f_sq, n, nf = ctx.all_reduce_sum(sums)
        gathered = [None] * ctx.world_size
        dist.all_gather_object(gathered, forces)
        return {
            "energy_mae_per_atom": e_abs / n,
            "force_mae": f_abs / nf,
            "force_rmse": float(np.sqrt(f_sq / nf)),
            "n_frames": int(round(n)),
            "_forces": tuple(np.concatenate([g[k] for g in gathered]) for k in (0, 1)),
        }

    def describe(self) -> str:
        b = self.batcher
        return (f"data parallel: {self.world_size} {self.backend} devices, global batch {b.global_batch} "
                f"= {b.per_device} per device (padded with empty graphs), capacity {b.n_nodes} atoms / "
                f"{b.n_edges} edges per device")

    def shutdown(self):
        if self.context is not None:
            self.context.shutdown()


def setup(options, graphs, n_species: int, r_max: float):
    """The :class:`DataParallel` for the options, or None for the plain single-device path.

    torch: active when launched by ``torchrun`` with ``WORLD_SIZE > 1``;
    ``--devices``, when given, must equal ``WORLD_SIZE``. JAX: active when
    ``--devices N`` > 1 or when ``E3XP_COORDINATOR`` asks for multi-host
    (:func:`initialize_jax_distributed`; the mesh then spans every host's devices).

    Raises
    ------
    ValueError
        ``--devices`` larger than the devices available or not matching
        ``torchrun``, ``--devices 2`` on torch without ``torchrun``, a batch smaller
        than the number of devices.
    """
    devices = getattr(options, "devices", None)
    if devices is not None and devices < 1:
        raise ValueError(f"--devices must be >= 1, got {devices}")
    if options.backend == "torch":
        world = int(os.environ.get("WORLD_SIZE", "1"))
        if devices is not None and devices != world:
            if world == 1:
                raise ValueError(
                    f"--devices {devices} on torch: start one process per device with "
                    f"torchrun --nproc_per_node {devices} -m e3xp train --backend torch ...")
            raise ValueError(f"--devices {devices} but torchrun started {world} processes (WORLD_SIZE)")
        if world == 1:
            return None
        batcher = GlobalBatcher(graphs, n_species, r_max, options.batch_size, world_size=world)  # checks B >= W
        ctx = init_torch_distributed(options.device)
        return DataParallel("torch", world, ctx.is_main, batcher, context=ctx)
    if options.backend == "jax":
        multi_host = bool(os.environ.get("E3XP_COORDINATOR"))
        if (devices is None or devices == 1) and not multi_host:
            return None
        import jax

        if multi_host:
            initialize_jax_distributed()
        mesh = make_mesh(devices, platform=options.device)
        world = mesh.devices.size
        batcher = GlobalBatcher(graphs, n_species, r_max, options.batch_size, world_size=world)
        return DataParallel("jax", world, jax.process_index() == 0, batcher, mesh=mesh)
    raise ValueError(f"unknown backend {options.backend!r}")
