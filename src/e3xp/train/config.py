"""The model's description: one dataclass shared by the torch and the JAX wrappers.

A :class:`ModelConfig` fixes every shape and constant of the potential (cutoff,
hidden irreps, radial basis, species, and the data statistics: per-species energy
shift, energy scale, average neighbour count). It is plain JSON, so it travels in
checkpoints, and the same config plus the same seed gives the same parameters on
every framework.

>>> cfg = ModelConfig(species=("Cu", "Au"), hidden_irreps="8x0e+4x1o", num_layers=1)
>>> ModelConfig.from_dict(cfg.to_dict()) == cfg
True
"""

from __future__ import annotations

import dataclasses
import json

__all__ = ["ModelConfig"]


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """Hyperparameters and data statistics of the NequIP-style potential.

    Parameters
    ----------
    species : tuple of str
        Chemical symbols the model knows, in one-hot order.
    r_max : float
        Cutoff radius (Angstrom) of the neighbour list and of the envelope.
    num_layers : int
        Number of interaction (message-passing) layers.
    hidden_irreps : str
        Irreps of the node features between layers, e.g. ``"16x0e+16x0o+8x1o+8x1e"``.
    lmax : int
        Largest degree of the edge spherical harmonics.
    num_bessel : int
        Number of Bessel radial basis functions.
    envelope_p : int
        Exponent ``p`` of the polynomial cutoff envelope (``poly_envelope(p - 1, 2)``).
    radial_width, radial_depth : int
        Hidden width and number of hidden layers of the per-layer radial MLP.
    energy_shift : tuple of float
        Per-species energy added to each atomic energy (least-squares fit, eV).
    energy_scale : float
        Multiplies the network's atomic energies (force RMS of the training set).
    avg_num_neighbors : float
        Messages are summed then divided by its square root (keeps features O(1)).
    """

    species: tuple = ("Cu", "Au")
    r_max: float = 4.0
    num_layers: int = 2
    hidden_irreps: str = "16x0e+16x0o+8x1o+8x1e"
    lmax: int = 2
    num_bessel: int = 8
    envelope_p: int = 6
    radial_width: int = 32
    radial_depth: int = 2
    energy_shift: tuple = (0.0, 0.0)
    energy_scale: float = 1.0
    avg_num_neighbors: float = 1.0

    def __post_init__(self):
        # tuples, not lists: the config is hashable and compares equal after JSON
        object.__setattr__(self, "species", tuple(self.species))
        object.__setattr__(self, "energy_shift", tuple(float(s) for s in self.energy_shift))
        if len(self.energy_shift) != len(self.species):
            raise ValueError(
                f"ModelConfig: energy_shift has {len(self.energy_shift)} entries for "
                f"{len(self.species)} species {self.species}"
            )
        if not self.r_max > 0:
            raise ValueError(f"ModelConfig: r_max must be > 0, got {self.r_max}")
        if self.num_layers < 1 or self.lmax < 0 or self.num_bessel < 1 or self.radial_depth < 1:
            raise ValueError(f"ModelConfig: invalid sizes in {self}")

    def replace(self, **changes) -> "ModelConfig":
        """A copy with some fields changed."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        """JSON-ready dict."""
        d = dataclasses.asdict(self)
        d["species"] = list(self.species)
        d["energy_shift"] = list(self.energy_shift)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "ModelConfig":
        """Inverse of :meth:`to_dict` (unknown keys are an error, so typos do not pass)."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ValueError(f"ModelConfig: unknown keys {sorted(unknown)}")
        return cls(**d)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)
