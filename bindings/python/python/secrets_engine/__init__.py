"""secrets-engine for Python: resolve ``se://`` secret references through the OS
keychain, 1Password, vaults and providers written in Python.

>>> import secrets_engine
>>> engine = secrets_engine.Engine(store="memory", no_config=True)
>>> engine.set("db/password", b"s3cret")
>>> engine.resolve_env({"DB_PASSWORD": "se://db/password", "HOME": "/root"})
{'DB_PASSWORD': 's3cret', 'HOME': '/root'}

Secret values are ``bytes``; they become ``str`` only in ``resolve_env``, whose
output is an environment. Every error is a subclass of :class:`SecretsEngineError`.
"""

from __future__ import annotations

from typing import Dict, List, Mapping, Optional, Sequence, Union, overload

from . import _native
from ._native import (
    EngineOptions,
    Envelope,
    PluginInfo,
    Provider,
    Secret,
    SecretsEngineError,
    pattern_matches,
    validate_id,
    validate_pattern,
    version,
)

__all__ = [
    "Engine",
    "EngineOptions",
    "Envelope",
    "PluginInfo",
    "Provider",
    "Secret",
    "SecretsEngineError",
    "NotFound",
    "Ambiguous",
    "NoProvider",
    "ProviderFailed",
    "InvalidId",
    "InvalidPattern",
    "InvalidReference",
    "Unavailable",
    "Locked",
    "Timeout",
    "Crashed",
    "PermissionDenied",
    "UnknownProvider",
    "NotConfigurable",
    "NoStore",
    "Unrepresentable",
    "Other",
    "pattern_matches",
    "validate_id",
    "validate_pattern",
    "version",
]

NotFound = SecretsEngineError.NotFound
Ambiguous = SecretsEngineError.Ambiguous
NoProvider = SecretsEngineError.NoProvider
ProviderFailed = SecretsEngineError.ProviderFailed
InvalidId = SecretsEngineError.InvalidId
InvalidPattern = SecretsEngineError.InvalidPattern
InvalidReference = SecretsEngineError.InvalidReference
Unavailable = SecretsEngineError.Unavailable
Locked = SecretsEngineError.Locked
Timeout = SecretsEngineError.Timeout
Crashed = SecretsEngineError.Crashed
PermissionDenied = SecretsEngineError.PermissionDenied
UnknownProvider = SecretsEngineError.UnknownProvider
NotConfigurable = SecretsEngineError.NotConfigurable
NoStore = SecretsEngineError.NoStore
Unrepresentable = SecretsEngineError.Unrepresentable
Other = SecretsEngineError.Other


def _error_str(self: BaseException) -> str:
    # The generated classes print "message='...'"; show the message itself.
    return getattr(self, "message", None) or Exception.__str__(self)


SecretsEngineError.__str__ = _error_str  # type: ignore[method-assign]

BytesLike = Union[bytes, bytearray, memoryview]


class Engine:
    """An engine: providers behind one lookup. Thread-safe.

    ``Engine()`` is the default engine, with the same providers and default store as
    ``docker-pass`` (the OS keychain when a Secret Service is reachable, else the
    encrypted file store). ``store`` is ``"auto"``, ``"keychain"``, ``"file"`` or
    ``"memory"`` (an in-memory store and no OS providers).
    """

    def __init__(
        self,
        options: Optional[EngineOptions] = None,
        *,
        store: Optional[str] = None,
        config_path: Optional[str] = None,
        no_config: bool = False,
        deadline_ms: int = 0,
    ) -> None:
        if options is None and (store is not None or config_path is not None or no_config or deadline_ms):
            options = EngineOptions(
                store=store or "auto", config_path=config_path, no_config=no_config, deadline_ms=deadline_ms
            )
        self._native = _native.Engine(options)

    def get_secrets(self, pattern: str) -> List[Envelope]:
        """Every secret matching ``pattern`` from every enabled provider whose
        declared pattern overlaps it. Values are ``bytes``."""
        return self._native.get_secrets(pattern)

    async def get_secrets_async(self, pattern: str) -> List[Envelope]:
        """:meth:`get_secrets`, awaitable from asyncio."""
        return await self._native.get_secrets_async(pattern)

    @overload
    def resolve_env(self, env: Mapping[str, str], container_mode: bool = False) -> Dict[str, str]: ...
    @overload
    def resolve_env(self, env: Sequence[str], container_mode: bool = False) -> List[str]: ...

    def resolve_env(self, env, container_mode=False):
        """Replaces every ``se://`` value by its secret. ``env`` is a dict
        (returns a dict, same order) or a list of ``NAME=VALUE`` strings such as an
        OCI ``process.env`` (returns a list). In container mode an empty ``NAME=``
        asks for the secret named ``NAME`` and stays empty when there is none."""
        if isinstance(env, Mapping):
            entries = []
            for name, value in env.items():
                if "=" in name:
                    raise ValueError(f"environment names cannot contain '=': {name!r}")
                entries.append(f"{name}={value}")
            resolved = self._native.resolve_env_list(entries, container_mode)
            return dict(entry.split("=", 1) for entry in resolved)
        if isinstance(env, (str, bytes)):
            raise TypeError("env is a dict or a list of NAME=VALUE strings")
        return self._native.resolve_env_list(list(env), container_mode)

    def plugins(self) -> List[PluginInfo]:
        """Every provider with its pattern, configurability and state."""
        return self._native.plugins()

    def enable(self, name: str) -> None:
        """Enables a configurable provider (re-initialising a crashed one)."""
        self._native.enable(name)

    def disable(self, name: str) -> None:
        """Disables a configurable provider."""
        self._native.disable(name)

    def set(self, id: str, value: BytesLike, metadata: Optional[Mapping[str, str]] = None) -> None:
        """Stores ``value`` (bytes) under ``id`` in the default store."""
        if not isinstance(value, (bytes, bytearray, memoryview)):
            raise TypeError(f"secret values are bytes, not {type(value).__name__}; encode str values explicitly")
        self._native.set(id, bytes(value), dict(metadata) if metadata is not None else None)

    def remove(self, id: str) -> None:
        """Removes ``id`` from the default store (:class:`NotFound` when absent)."""
        self._native.remove(id)

    def list(self, pattern: Optional[str] = None) -> List[str]:
        """Ids in the default store matching ``pattern`` (all when None), sorted."""
        return self._native.list(pattern)

    def register_provider(self, name: str, pattern: str, provider: Provider) -> None:
        """Adds ``provider`` (a :class:`Provider` subclass) under ``name``, serving
        ids matching ``pattern``. Its ``get_secrets`` runs on worker threads."""
        self._native.register_provider(name, pattern, provider)
