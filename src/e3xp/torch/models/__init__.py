"""e3nn's reference models rebuilt from ``e3xp.torch`` modules: same module tree, same
state_dict keys, same numbers, so an e3nn checkpoint loads as it is."""
