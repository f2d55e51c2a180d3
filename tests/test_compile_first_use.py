"""The first e3xp call of a process may be inside ``torch.compile(fullgraph=True)``.

Dynamo cannot trace the creation of the torch backend (a lock, the import of
its package), so e3xp creates it as soon as torch is imported, in either import
order (``e3xp._import_hooks``). Each case runs in a fresh process: the backend
must not exist before the compiled call.
"""

import subprocess
import sys
import textwrap

import pytest


@pytest.mark.parametrize("torch_first", [True, False], ids=["torch-then-e3xp", "e3xp-then-torch"])
def test_first_e3xp_call_inside_torch_compile(torch_first):
    pytest.importorskip("torch")
    imports = ["import torch", "import e3xp"]
    first, second = imports if torch_first else imports[::-1]
    code = textwrap.dedent(
        f"""
        {first}
        {second}

        @torch.compile(fullgraph=True)
        def f(v, data, ids):
            y = e3xp.spherical_harmonics(2, v)
            return y.array.sum() + e3xp.scatter_sum(data, ids, 3).sum()

        v = torch.randn(5, 3, dtype=torch.float64)
        data, ids = torch.randn(4, dtype=torch.float64), torch.tensor([0, 2, 2, 1])
        compiled = f(v, data, ids)  # before any eager call: the backend must already exist
        eager = e3xp.spherical_harmonics(2, v).array.sum() + data.sum()
        assert torch.allclose(compiled, eager), (compiled, eager)
        print("ok")
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0 and out.stdout.strip().endswith("ok"), out.stdout[-2000:] + out.stderr[-4000:]


def test_creating_the_torch_backend_imports_torch_without_deadlock():
    """get_backend("torch") before `import torch`: the creation imports torch, whose
    after-import hook must not wait for the creation that is running it."""
    pytest.importorskip("torch")
    code = "import e3xp, sys; assert 'torch' not in sys.modules; e3xp.backends.get_backend('torch'); print('ok')"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip().endswith("ok"), out.stdout[-2000:] + out.stderr[-4000:]
