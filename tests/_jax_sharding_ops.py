"""e3xp operations under JAX sharding, run in a fresh process with 2 virtual CPU devices.

Spawned by ``tests/test_distributed_jax.py`` with
``XLA_FLAGS=--xla_force_host_platform_device_count=2`` (the flag must be set before
JAX initialises, hence the subprocess). For each of ``Linear``,
``ChannelwiseTensorProduct`` (per-edge weights), ``spherical_harmonics``,
``scatter_sum`` and ``gate`` it checks, against the unsharded result computed on
one device:

* ``jax.jit`` with the batch axis sharded over a 1-D mesh (``NamedSharding``,
  ``PartitionSpec("data")``) and the parameters replicated: same numbers, output
  still batch-sharded;
* ``jax.shard_map`` over the same mesh (each device runs the op on its block):
  same numbers;
* a second call with new data of the same shapes does not compile again
  (``_cache_size()`` stays 1) and runs under ``jax.transfer_guard("disallow")``
  (no implicit host <-> device transfer: constants are baked in, replicated).

Prints one line per check and ``ALL OK`` at the end; exits 1 on the first failure.
"""

from __future__ import annotations

import os
import sys

TOL = 1e-12


def main() -> int:
    # everything here, not at import: pytest's --doctest-modules imports this file too
    assert "--xla_force_host_platform_device_count=2" in os.environ.get("XLA_FLAGS", ""), "run me with XLA_FLAGS set"
    import jax

    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    import numpy as np
    from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

    import e3xp

    devices = jax.devices()
    assert len(devices) == 2, devices
    mesh = Mesh(np.array(devices), ("data",))
    batch = NamedSharding(mesh, P("data"))
    replicated = NamedSharding(mesh, P())
    rng = np.random.default_rng(0)

    def data(shape):
        return rng.standard_normal(shape)

    n = 8  # rows (nodes / edges) in total, 4 per device
    node_irreps = e3xp.Irreps("3x0e + 2x1o")
    sh_irreps = e3xp.Irreps.spherical_harmonics(2)
    lin = e3xp.Linear("2x0e + 3x1o + 1x2e", node_irreps)
    tp = e3xp.ChannelwiseTensorProduct(node_irreps, sh_irreps)
    gate_in = e3xp.Irreps("4x0e + 2x0e + 1x1o + 1x2e")  # 4 scalars, 2 gates, 2 gated
    p_lin = lin.init(0, e3xp.IrrepsArray(node_irreps, jnp.zeros((1, node_irreps.dim))))
    p_lin = jax.device_put(p_lin, replicated)

    # name -> (function of (params, *arrays) -> array, make arrays, params, per-row output?)
    def f_linear(p, x):
        return lin.apply(p, e3xp.IrrepsArray(node_irreps, x)).array

    def f_tp(p, w, x, vec):
        sh = e3xp.spherical_harmonics(sh_irreps, vec, normalize=True)
        return tp.apply(w, e3xp.IrrepsArray(node_irreps, x), sh).array

    def f_sh(p, vec):
        return e3xp.spherical_harmonics(sh_irreps, vec, normalize=True).array

    def f_gate(p, x):
        return e3xp.gate(e3xp.IrrepsArray(gate_in, x)).array

    # scatter_sum: rows of a block go to segments of the same block (graph batching:
    # each device holds whole graphs), so shard_map needs no communication; the
    # indices are local to the block there and global (block offset added) under jit
    seg_per_block = 3

    def f_scatter_local(p, x, dst):
        return e3xp.scatter_sum(x, dst, num_segments=seg_per_block)

    def f_scatter_global(p, x, dst):
        return e3xp.scatter_sum(x, dst, num_segments=2 * seg_per_block)

    def make():
        dst_local = rng.integers(0, seg_per_block, n)
        dst_global = dst_local + np.repeat([0, seg_per_block], n // 2)
        return {
            "Linear": (f_linear, [data((n, node_irreps.dim))]),
            "ChannelwiseTensorProduct": (f_tp, [data((n, tp.weight_numel)), data((n, node_irreps.dim)), data((n, 3))]),
            "spherical_harmonics": (f_sh, [data((n, 3))]),
            "gate": (f_gate, [data((n, gate_in.dim))]),
            "scatter_sum": (f_scatter_global, [data((n, 5)), dst_global], f_scatter_local, dst_local),
        }

    first, second = make(), make()
    failures = 0
    for name in first:
        fn, args = first[name][:2]
        fn2, args2 = second[name][:2]
        p_one = {k: jnp.asarray(np.asarray(v)) for k, v in p_lin.items()}  # unreplicated copy
        ref1 = np.asarray(fn(p_one, *[jnp.asarray(a) for a in args]))
        ref2 = np.asarray(fn2(p_one, *[jnp.asarray(a) for a in args2]))
        scale = max(1.0, float(np.abs(ref1).max()))

        # (a) jit with batch-sharded inputs, replicated params
        jitted = jax.jit(fn)
        outs = []
        for k, a in enumerate((args, args2)):
            xs = [jax.device_put(jnp.asarray(v), batch) for v in a]
            if k == 1:  # second call: no compilation, no host transfer
                with jax.transfer_guard("disallow"):
                    y = jitted(p_lin, *xs)
                    y.block_until_ready()
            else:
                y = jitted(p_lin, *xs)
            outs.append(y)
        err = max(float(np.abs(np.asarray(o) - r).max()) / scale for o, r in zip(outs, (ref1, ref2)))
        sharded_out = outs[1].sharding.is_equivalent_to(batch, outs[1].ndim)
        n_compiled = jitted._cache_size()
        # scatter_sum with arbitrary (global) indices: XLA cannot know that rows stay in
        # their block, so it reduces across devices and may return any layout
        ok = err <= TOL and n_compiled == 1 and (sharded_out or name == "scatter_sum")
        failures += not ok
        print(f"jit+NamedSharding {name:26s} max rel err {err:.2e}  compilations {n_compiled}  "
              f"output batch-sharded {sharded_out}  {'ok' if ok else 'FAIL'}")

        # (b) shard_map: each device runs the op on its own block of rows
        if name == "scatter_sum":
            local_fn = first[name][2]
            a1 = [args[0], first[name][3]]
            a2 = [args2[0], second[name][3]]
        else:
            local_fn, a1, a2 = fn, args, args2
        smapped = jax.jit(
            jax.shard_map(local_fn, mesh=mesh, in_specs=(P(),) + (P("data"),) * len(a1), out_specs=P("data"))
        )
        outs = []
        for k, a in enumerate((a1, a2)):
            xs = [jax.device_put(jnp.asarray(v), batch) for v in a]
            if k == 1:
                with jax.transfer_guard("disallow"):
                    y = smapped(p_lin, *xs)
                    y.block_until_ready()
            else:
                y = smapped(p_lin, *xs)
            outs.append(np.asarray(y))
        if name == "scatter_sum":
            # each block returns its own segments: the same layout as the global result
            pass
        err = max(float(np.abs(o - r).max()) / scale for o, r in zip(outs, (ref1, ref2)))
        n_compiled = smapped._cache_size()
        ok = err <= TOL and n_compiled == 1
        failures += not ok
        print(f"shard_map         {name:26s} max rel err {err:.2e}  compilations {n_compiled}  {'ok' if ok else 'FAIL'}")

    # gradients through the sharded tensor product (training differentiates these)
    def loss(w, x, vec):
        return jnp.sum(f_tp(None, w, x, vec) ** 2)

    fn, args = first["ChannelwiseTensorProduct"][:2]
    g_ref = jax.grad(loss)(*[jnp.asarray(a) for a in args])
    g_sh = jax.jit(jax.grad(loss))(*[jax.device_put(jnp.asarray(a), batch) for a in args])
    err = float(jnp.abs(g_sh - g_ref).max()) / max(1.0, float(jnp.abs(g_ref).max()))
    ok = err <= TOL
    failures += not ok
    print(f"jit+NamedSharding grad ChannelwiseTensorProduct max rel err {err:.2e}  {'ok' if ok else 'FAIL'}")

    # eager (no jit): replicated parameters with a batch-sharded input are on the same
    # devices, so e3xp accepts them; arrays committed to two different single devices are refused
    x = jax.device_put(jnp.asarray(first["Linear"][1][0]), batch)
    y = lin.apply(p_lin, e3xp.IrrepsArray(node_irreps, x)).array
    err = float(np.abs(np.asarray(y) - f_linear(p_one, jnp.asarray(first["Linear"][1][0]))).max())
    ok = err <= TOL
    failures += not ok
    print(f"eager Linear, replicated params + sharded input: max err {err:.2e}  {'ok' if ok else 'FAIL'}")
    a0 = jax.device_put(jnp.ones((2, node_irreps.dim)), devices[0])
    w1 = jax.device_put(p_one["weight"], devices[1])
    try:
        lin.apply({"weight": w1}, e3xp.IrrepsArray(node_irreps, a0))
        ok, msg = False, "no error"
    except ValueError as e:
        msg = str(e)
        ok = "cannot mix arrays on devices" in msg
    failures += not ok
    print(f"eager Linear, arrays on cpu:0 and cpu:1 refused: {msg[:70]!r}  {'ok' if ok else 'FAIL'}")

    print("ALL OK" if not failures else f"{failures} FAILED")
    return 0 if not failures else 1


if __name__ == "__main__":
    sys.exit(main())
