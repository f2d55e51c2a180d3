r"""Signals on SO(3) as a stack of signals on the sphere (e3nn-jax's ``SO3Signal``).

A rotation is parametrized by axis and angle: the axis runs over the grid of a
:class:`~e3xp.SphericalSignal` and the angle ``theta`` over ``res_theta`` points
from 0 to ``2 pi`` (both ends included, as in e3nn-jax 0.21), so the values have
shape ``(..., res_theta, res_beta, res_alpha)``.

Not provided (e3nn-jax has them): ``argmax``, ``sample`` and ``vmap_over_batch_dims``
(JAX-specific or needing concrete indices).
"""

from __future__ import annotations

import math

import numpy as np

from ..core import s2grid as _tables
from ..core.rotations import axis_angle_to_matrix
from .s2grid import SphericalSignal, _int, _quadrature, _map_points

__all__ = ["SO3Signal"]


class SO3Signal:
    r"""A signal on SO(3): values on an (angle, axis) grid, held as a :class:`SphericalSignal`.

    Parameters
    ----------
    s2_signals : SphericalSignal
        Shape ``(..., res_theta, res_beta, res_alpha)``: one signal over the axes per
        rotation angle.

    Examples
    --------
    >>> s = SO3Signal.from_function(lambda R: R[0, 0] + 1.0, 6, 7, 9, "soft", backend="numpy")
    >>> s.grid_resolution
    (9, 6, 7)
    >>> round(float(s.integrate()), 3)  # the mean of R_00 over SO(3) is 0
    1.0
    """

    def __init__(self, s2_signals: SphericalSignal) -> None:
        if not isinstance(s2_signals, SphericalSignal):
            raise TypeError(f"SO3Signal: s2_signals must be a SphericalSignal, got {type(s2_signals).__name__}")
        if len(s2_signals.shape) < 3:
            raise ValueError(
                f"SO3Signal: s2_signals of shape {s2_signals.shape}; expected (..., res_theta, res_beta, res_alpha)"
            )
        self.s2_signals = s2_signals

    def __repr__(self) -> str:
        return f"SO3Signal(shape={self.shape}, quadrature={self.s2_signals.quadrature})"

    @staticmethod
    def from_function(func, res_beta: int, res_alpha: int, res_theta: int, quadrature: str, *,
                      dtype="float32", backend=None) -> "SO3Signal":
        """Sample ``func`` (a function of one 3x3 rotation matrix) on the grid.

        ``func`` may return a scalar or an array; its axes go first in the result,
        shape ``func's shape + (res_theta, res_beta, res_alpha)``. ``backend`` (an e3xp
        extension) defaults to the configured backend; ``dtype`` to float32 as in e3nn-jax.

        Examples
        --------
        >>> s = SO3Signal.from_function(lambda R: R[:, 1], 4, 5, 3, "soft", dtype="float64", backend="numpy")
        >>> s.shape, s.batch_dims
        ((3, 3, 4, 5), (3,))
        """
        from .creation import _resolve

        backend, dtype = _resolve(backend, dtype)
        quadrature = _quadrature(quadrature)
        res_beta, res_alpha = _int(res_beta, "res_beta", 1), _int(res_alpha, "res_alpha", 1)
        res_theta = _int(res_theta, "res_theta", 2)
        axes = _tables.grid_vectors(res_beta, res_alpha, quadrature)  # [beta, alpha, 3]
        angles = np.linspace(0, 2 * np.pi, res_theta)
        Rs = axis_angle_to_matrix(axes[None], angles[:, None, None])  # [theta, beta, alpha, 3, 3]
        values = _map_points(func, backend.asarray(Rs, dtype=dtype), 3, backend)
        xp = backend.xp
        for _ in range(len(values.shape) - 3):  # the output axes of func go first
            values = xp.moveaxis(values, -1, 0)
        return SO3Signal(SphericalSignal(xp.astype(values, dtype), quadrature))

    # --- description ---
    @property
    def batch_dims(self) -> tuple:
        """The leading axes, before ``(res_theta, res_beta, res_alpha)``."""
        return self.shape[:-3]

    @property
    def shape(self) -> tuple:
        """Shape of ``grid_values``."""
        return self.s2_signals.shape

    @property
    def res_beta(self) -> int:
        """Grid points along ``beta`` (of the axis)."""
        return self.s2_signals.res_beta

    @property
    def res_alpha(self) -> int:
        """Grid points along ``alpha`` (of the axis)."""
        return self.s2_signals.res_alpha

    @property
    def res_theta(self) -> int:
        """Grid points of the rotation angle."""
        return self.shape[-3]

    @property
    def grid_values(self):
        """The values, shape ``(..., res_theta, res_beta, res_alpha)``."""
        return self.s2_signals.grid_values

    @property
    def grid_theta(self):
        """The rotation angles, ``res_theta`` points from 0 to ``2 pi`` included."""
        return self.s2_signals.backend.constant(np.linspace(0, 2 * np.pi, self.res_theta), like=self.grid_values)

    @property
    def grid_resolution(self) -> tuple:
        """``(res_theta, res_beta, res_alpha)``."""
        return (self.res_theta, self.res_beta, self.res_alpha)

    # --- arithmetic ---
    def _check_shape(self, other: "SO3Signal", op: str) -> None:
        if self.shape != other.shape:
            raise ValueError(f"SO3Signal {op}: shapes {self.shape} and {other.shape} differ")

    def __mul__(self, other) -> "SO3Signal":
        if isinstance(other, SO3Signal):
            self._check_shape(other, "*")
            return SO3Signal(self.s2_signals * other.s2_signals)
        return SO3Signal(self.s2_signals * other)

    def __rmul__(self, other) -> "SO3Signal":
        return self * other

    def __neg__(self) -> "SO3Signal":
        return self * -1

    def __truediv__(self, other) -> "SO3Signal":
        if isinstance(other, SO3Signal):
            self._check_shape(other, "/")
            return self.replace_values(self.grid_values / other.grid_values)
        return SO3Signal(self.s2_signals / other)

    def apply(self, func) -> "SO3Signal":
        """``func`` applied to every value.

        Examples
        --------
        >>> s = SO3Signal.from_function(lambda R: R[0, 0], 4, 5, 3, "soft", backend="numpy")
        >>> s.apply(abs).shape
        (3, 4, 5)
        """
        return SO3Signal(self.s2_signals.apply(func))

    def replace_values(self, grid_values) -> "SO3Signal":
        """The same grid with new values.

        Examples
        --------
        >>> s = SO3Signal.from_function(lambda R: R[0, 0], 4, 5, 3, "soft", backend="numpy")
        >>> s.replace_values(np.zeros((2, 3, 4, 5))).batch_dims
        (2,)
        """
        return SO3Signal(self.s2_signals.replace_values(grid_values))

    # --- integrals ---
    def integrate_over_angles(self) -> SphericalSignal:
        """Sum over the rotation angle with the Haar weight ``1 - cos(theta)`` (times the step).

        Examples
        --------
        >>> s = SO3Signal.from_function(lambda R: 1.0, 4, 5, 9, "soft", dtype="float64", backend="numpy")
        >>> s.integrate_over_angles().shape
        (4, 5)
        """
        xp = self.s2_signals.backend.xp
        theta = np.linspace(0, 2 * np.pi, self.res_theta)
        # e3nn-jax's rule: (1 - cos) weights times the step, endpoints in full (their
        # weight is 0 there anyway).
        weights = (1 - np.cos(theta)) * (theta[1] - theta[0])
        w = self.s2_signals.backend.constant(weights[:, None, None], like=self.grid_values)
        return self.s2_signals.replace_values(xp.sum(self.grid_values * w, axis=-3))

    def integrate(self):
        """Integral over SO(3) normalized by ``8 pi^2``: 1 for the constant 1 (an array of shape ``batch_dims``).

        Examples
        --------
        >>> s = SO3Signal.from_function(lambda R: 1.0, 4, 5, 9, "soft", dtype="float64", backend="numpy")
        >>> round(float(s.integrate()), 12)
        1.0
        """
        integral = self.integrate_over_angles().integrate().array[..., 0]
        return integral / (8 * math.pi**2)
