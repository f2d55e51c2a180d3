"""torch and JAX train the same model to the same numbers (float64, same seed, data and batches)."""

import numpy as np
import pytest

pytest.importorskip("ase")
pytest.importorskip("torch")
pytest.importorskip("jax")
pytest.importorskip("flax")
pytest.importorskip("optax")

from tests.train_helpers import R_MAX, graphs, tiny_config  # noqa: E402


def test_twenty_adam_steps_agree(jax_x64):
    from e3xp.train import data, model
    from e3xp.train.jax_backend import JaxTrainer
    from e3xp.train.torch_backend import TorchTrainer

    gs = graphs(6)
    cfg = tiny_config(gs)
    params = model.init_params(cfg, seed=0)
    order = [b for epoch in range(7) for b in data.batch_order(len(gs), 2, seed=0, epoch=epoch)][:20]
    batches = [data.collate([gs[i] for i in idx], 2, r_max=R_MAX, n_graphs=2) for idx in order]
    tt = TorchTrainer(cfg, params, lr=1e-2, dtype="float64")
    jt = JaxTrainer(cfg, params, lr=1e-2, dtype="float64")
    lt = np.array([tt.step(b) for b in batches])
    lj = np.array([jt.step(b) for b in batches])
    rel = np.abs(lt - lj) / np.abs(lt)
    print(f"max relative loss difference over 20 steps: {rel.max():.2e}")
    assert rel.max() <= 1e-8
    # the loss moved (the optimizer did something): the agreement is not the trivial one
    assert lt[-1] < 0.9 * lt[0]
    pt, pj = tt.params_numpy(), jt.params_numpy()
    for k, v in model.flatten_tree(pt).items():
        np.testing.assert_allclose(model.flatten_tree(pj)[k], v, rtol=1e-8, atol=1e-10)
    ot, oj = tt.opt_state_numpy(), jt.opt_state_numpy()
    assert ot["step"] == oj["step"] == 20
    for k in ot["m"]:
        np.testing.assert_allclose(oj["m"][k], ot["m"][k], rtol=1e-7, atol=1e-12)
        np.testing.assert_allclose(oj["v"][k], ot["v"][k], rtol=1e-7, atol=1e-14)
