"""The Gymnasium id ``racer/Race-v0``, registered by ``import racer`` without importing Gymnasium.

``import racer`` must stay light (the car's runtime and ``racer.track`` never load Gymnasium), yet a
Gymnasium user's first lines should work in either order::

    import racer                    import gymnasium as gym
    import gymnasium as gym         import racer
    gym.make("racer/Race-v0")       gym.make("racer/Race-v0")

So: when Gymnasium is already imported the id is registered at once; otherwise a one-shot import
hook registers it right after Gymnasium's own ``__init__`` has run, the first time anything imports
it. The entry point is a string, so registering imports nothing of racer's environment.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
from collections.abc import Sequence
from types import ModuleType
from typing import Any

ENV_ID = "racer/Race-v0"
ENTRY_POINT = "racer.env.race_env:RaceEnv"
#: ``gym.make_vec(ENV_ID, num_envs=N, vectorization_mode="vector_entry_point")``: N cars stepped
#: together in numpy (racer.env.vector)
VECTOR_ENTRY_POINT = "racer.env.vector:RaceVectorEnv"


def register_with(gym: Any) -> None:
    """Register ``racer/Race-v0`` in the given ``gymnasium`` module's registry (idempotent)."""
    if ENV_ID not in gym.registry:
        gym.register(id=ENV_ID, entry_point=ENTRY_POINT, vector_entry_point=VECTOR_ENTRY_POINT)


class _RegisteringLoader(importlib.abc.Loader):
    """Gymnasium's own loader, plus the registration once its module has executed."""

    def __init__(self, inner: importlib.abc.Loader) -> None:
        self._inner = inner

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self._inner.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        self._inner.exec_module(module)
        register_with(module)


class _GymnasiumHook(importlib.abc.MetaPathFinder):
    """Finds ``gymnasium`` through the other finders and wraps its loader; removes itself after."""

    def find_spec(
        self, name: str, path: Sequence[str] | None = None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if name != "gymnasium":
            return None
        if self in sys.meta_path:
            sys.meta_path.remove(self)
        for finder in sys.meta_path:
            find = getattr(finder, "find_spec", None)
            spec = find(name, path, target) if find else None
            if spec is not None:
                if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                    spec.loader = _RegisteringLoader(spec.loader)
                return spec
        return None


def install() -> None:
    """Register now when Gymnasium is loaded, else once it is (see the module docstring)."""
    gym = sys.modules.get("gymnasium")
    if gym is not None and hasattr(gym, "registry"):
        register_with(gym)
    elif not any(isinstance(f, _GymnasiumHook) for f in sys.meta_path):
        sys.meta_path.insert(0, _GymnasiumHook())
