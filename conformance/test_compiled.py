"""jax.jit, jax.vmap and torch.compile(fullgraph=True) give the eager results.

torch.compile is slow on CPU, so it is exercised twice, not per case: every
operation in one ``fullgraph=True`` graph with the ``aot_eager`` backend (Dynamo
capture and AOT autograd, forward and backward), and a small function through the
default inductor backend.
"""

import numpy as np
import pytest

from e3xp.conformance_checks import CASES, case_inputs, make_function, make_target
from e3xp.irreps_array import IrrepsArray
from e3xp.ops import concatenate, spherical_harmonics, stack, tensor_product
from e3xp.testing import _outputs

JAX_CASES = [c for c in CASES if c.irreps_in]
# Not mapped: the arithmetic case multiplies by arrays captured from outside with a
# fixed leading shape, and stack / concatenate act on the very leading axis vmap
# removes, so their per-sample results are laid out differently by design; scatter_sum
# sums over that leading axis.
VMAP_CASES = [
    c for c in JAX_CASES if c.name not in ("IrrepsArray arithmetic", "concatenate/stack", "scatter_sum")
]


def _numpy_outputs(outs):
    return [np.asarray(o.array) for o in _outputs(outs, "f")]


def _assert_close(a_list, b_list, tol=1e-12):
    assert len(a_list) == len(b_list)
    for a, b in zip(a_list, b_list):
        assert a.shape == b.shape
        assert np.max(np.abs(a - b), initial=0.0) <= tol * max(1.0, np.max(np.abs(b), initial=0.0))


@pytest.mark.parametrize("case", JAX_CASES, ids=[c.name for c in JAX_CASES])
def test_jax_jit_equals_eager(jax, case):
    eager_target = make_target("jax")
    eager_target.jit = False
    f = case.make(eager_target)
    xs = [IrrepsArray(ir, eager_target.asarray(x)) for ir, x in zip(case.irreps_in, case_inputs(case))]
    eager = _numpy_outputs(f(*xs))
    jitted = _numpy_outputs(jax.jit(f)(*xs))
    _assert_close(jitted, eager)


@pytest.mark.parametrize("case", VMAP_CASES, ids=[c.name for c in VMAP_CASES])
def test_jax_vmap_equals_batched(jax, case):
    target = make_target("jax")
    f = make_function(case, target)  # jitted
    xs = [IrrepsArray(ir, target.asarray(x)) for ir, x in zip(case.irreps_in, case_inputs(case))]
    batched = _numpy_outputs(f(*xs))
    mapped = _numpy_outputs(jax.vmap(f)(*xs))
    _assert_close(mapped, batched)


def test_irreps_array_is_a_jax_pytree(jax):
    x = IrrepsArray("0e + 1o", jax.numpy.arange(4.0))
    leaves, treedef = jax.tree_util.tree_flatten(x)
    assert len(leaves) == 1 and leaves[0] is x.array
    y = jax.tree_util.tree_map(lambda a: 2 * a, x)
    assert isinstance(y, IrrepsArray) and y.irreps == x.irreps
    np.testing.assert_array_equal(np.asarray(y.array), 2 * np.arange(4.0))


def _arithmetic(x, y):
    # Everything on IrrepsArray that takes no raw tensor operand (see the note in
    # test_torch_compile_every_operation).
    return [
        2.0 * x - y / 3.0 + (-x) * 0.25,
        x.sort(),
        x.regroup().filter(lmax=1),
        x.filter(drop="2e").simplify(),
        x[1],
        x.reshape(1, 2, -1),
        concatenate([x, y]),
        stack([x, y], axis=0),
    ]


def test_torch_compile_every_operation(torch):
    """All cases in one fullgraph=True graph (aot_eager backend), values and gradients.

    Known limitation, not tested here: ``IrrepsArray * tensor`` (and ``+``, ``/`` with
    a raw tensor) inside a compiled function, because Dynamo sends any binary
    operator with a tensor operand straight to torch.
    """
    target = make_target("torch")
    cases = [c for c in CASES if c.irreps_in and c.name != "IrrepsArray arithmetic"]
    fs = [c.make(target) for c in cases]
    arith_irreps = ("0e + 1o + 2e + 0e", "0e + 1o + 2e + 0e")
    rng = np.random.default_rng(0)
    inputs = [[target.asarray(x) for x in case_inputs(c)] for c in cases]
    inputs.append([target.asarray(rng.standard_normal((2, 10))) for _ in arith_irreps])
    flat = [a.detach().clone().requires_grad_(True) for xs in inputs for a in xs]

    def g(*arrays):
        outs, i = [], 0
        for irreps, f in [(c.irreps_in, f) for c, f in zip(cases, fs)] + [(arith_irreps, _arithmetic)]:
            xs = [IrrepsArray(ir, a) for ir, a in zip(irreps, arrays[i : i + len(irreps)])]
            i += len(irreps)
            outs += [o.array for o in _outputs(f(*xs), "f")]
        return outs

    eager = g(*flat)
    torch._dynamo.reset()
    compiled = torch.compile(g, fullgraph=True, backend="aot_eager")(*flat)
    _assert_close([c.detach().numpy() for c in compiled], [e.detach().numpy() for e in eager])
    loss_c = sum((c * c).sum() for c in compiled)
    loss_e = sum((e * e).sum() for e in eager)
    grads_c = torch.autograd.grad(loss_c, flat, allow_unused=True)
    grads_e = torch.autograd.grad(loss_e, flat, allow_unused=True)
    for a, b in zip(grads_c, grads_e):
        if a is None or b is None:
            assert a is None and b is None
            continue
        _assert_close([a.numpy()], [b.numpy()])


def test_torch_compile_inductor(torch):
    def f(a, b):
        x, y = IrrepsArray("1o", a), IrrepsArray("0e + 1o", b)
        return tensor_product(spherical_harmonics([0, 1, 2], x), y).array

    a = torch.randn(4, 3, dtype=torch.float64)
    b = torch.randn(4, 4, dtype=torch.float64)
    torch._dynamo.reset()
    out = torch.compile(f, fullgraph=True)(a, b)
    _assert_close([out.numpy()], [f(a, b).numpy()])
