"""Backend-neutral core: irreps algebra, rotations, Wigner D, Clebsch-Gordan,
spherical-harmonic tables and tensor-product plans (pure Python + NumPy, float64).
Never imports an array framework."""
