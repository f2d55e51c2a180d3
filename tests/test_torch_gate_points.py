"""e3nn's gate_points_2101.Network rebuilt from e3xp.torch modules: e3nn's state_dict loads
unchanged (strict) and the outputs equal e3nn's in float64."""

import pytest

torch = pytest.importorskip("torch")
gp = pytest.importorskip("e3nn.nn.models.gate_points_2101")

from e3xp.torch.models.gate_points_2101 import Network  # noqa: E402

# the configuration: two gated layers, hidden 8x0e+8x0o+4x1e+4x1o+2x2e+2x2o
CONFIG = dict(
    irreps_in="3x0e + 2x1o", irreps_hidden="8x0e + 8x0o + 4x1e + 4x1o + 2x2e + 2x2o", irreps_out="2x0e + 1o + 1e",
    irreps_node_attr="2x0e", irreps_edge_attr="0e + 1o + 2e", layers=2, max_radius=2.5, number_of_basis=8,
    radial_layers=1, radial_neurons=16, num_neighbors=3.0, num_nodes=6.0,
)


@pytest.fixture
def float64_default(torch_float64):  # root conftest.py: e3nn keeps its CG constants in the default dtype
    yield


def _data(seed, n=12, graphs=2):
    g = torch.Generator().manual_seed(seed)
    return {
        "pos": 2.0 * torch.randn(n, 3, generator=g),
        "x": torch.randn(n, 3 + 6, generator=g),
        "z": torch.randn(n, 2, generator=g),
        "batch": torch.arange(graphs).repeat_interleave(n // graphs),
    }


@pytest.mark.parametrize("reduce_output", [True, False])
def test_e3nn_state_dict_loads_and_outputs_agree(float64_default, reduce_output):
    torch.manual_seed(0)
    ref = gp.Network(**CONFIG, reduce_output=reduce_output)
    net = Network(**CONFIG, reduce_output=reduce_output)
    # e3nn's state_dict as it is: no permutation, no renaming (e3nn's own code-generator
    # constants are dropped by the modules on load)
    net.load_state_dict(ref.state_dict(), strict=True)
    for seed in range(3):
        data = _data(seed)
        want, got = ref(data), net(data)
        assert got.shape == want.shape
        scale = want.abs().max()
        assert float((got - want).abs().max() / scale) <= 1e-12


def test_gradients_agree(float64_default):
    torch.manual_seed(1)
    ref = gp.Network(**CONFIG)
    net = Network(**CONFIG)
    net.load_state_dict(ref.state_dict())
    data = _data(5)
    pos = data["pos"].requires_grad_(True)
    (g_ref,) = torch.autograd.grad(ref({**data, "pos": pos}).pow(2).sum(), pos)
    (g_net,) = torch.autograd.grad(net({**data, "pos": pos}).pow(2).sum(), pos)
    assert float((g_net - g_ref).abs().max() / g_ref.abs().max()) <= 1e-12
    # and the parameter gradients, key by key
    ref.zero_grad()
    net.zero_grad()
    ref(data).pow(2).sum().backward()
    net(data).pow(2).sum().backward()
    params = dict(net.named_parameters())
    for name, p in ref.named_parameters():
        d = (params[name].grad - p.grad).abs().max() / p.grad.abs().max().clamp_min(1e-300)
        assert float(d) <= 1e-10, name


def test_rebuilt_network_is_equivariant(float64_default):
    from e3xp import Irreps, rand_matrix

    torch.manual_seed(2)
    net = Network(**CONFIG)
    data = _data(3)
    R = torch.as_tensor(rand_matrix(seed=4))
    for parity in (1.0, -1.0):
        Q = parity * R
        D_in = torch.as_tensor(Irreps(CONFIG["irreps_in"]).D_from_matrix(Q.numpy()))
        D_out = torch.as_tensor(Irreps(CONFIG["irreps_out"]).D_from_matrix(Q.numpy()))
        moved = {**data, "pos": data["pos"] @ Q.T, "x": data["x"] @ D_in.T}
        assert torch.allclose(net(moved), net(data) @ D_out.T, atol=1e-10)


def test_state_dict_of_another_configuration_names_key_and_shapes(float64_default):
    torch.manual_seed(0)
    other = gp.Network(**{**CONFIG, "radial_neurons": 8})
    net = Network(**CONFIG)
    with pytest.raises(RuntimeError, match=r"layers\.0\.first\.fc\.layer0\.weight.*torch.Size"):
        net.load_state_dict(other.state_dict())
