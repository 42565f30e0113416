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

import functools
from typing import TYPE_CHECKING, Dict, List, Mapping, Optional, Sequence, Tuple, Union, overload

from . import _native
from ._native import (
    EngineOptions,
    Envelope,
    Failure,
    PartialResult,
    PluginInfo,
    Provider,
    Secret,
    SecretsEngineError,
    version,
)

__all__ = [
    "Engine",
    "EngineOptions",
    "Envelope",
    "Failure",
    "PartialResult",
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

if TYPE_CHECKING:  # typed names for editors and type checkers

    class NotFound(SecretsEngineError): ...
    class Ambiguous(SecretsEngineError): ...
    class NoProvider(SecretsEngineError): ...
    class ProviderFailed(SecretsEngineError): ...
    class InvalidId(SecretsEngineError): ...
    class InvalidPattern(SecretsEngineError): ...
    class InvalidReference(SecretsEngineError): ...
    class Unavailable(SecretsEngineError): ...
    class Locked(SecretsEngineError): ...
    class Timeout(SecretsEngineError): ...
    class Crashed(SecretsEngineError): ...
    class PermissionDenied(SecretsEngineError): ...
    class UnknownProvider(SecretsEngineError): ...
    class NotConfigurable(SecretsEngineError): ...
    class NoStore(SecretsEngineError): ...
    class Unrepresentable(SecretsEngineError): ...
    class Other(SecretsEngineError): ...

else:
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


def _redacted(self) -> str:
    # Never print secret bytes, whatever logs or prints an envelope.
    provider = getattr(self, "provider", None)
    where = f", provider={provider!r}" if provider is not None else ""
    return f"{type(self).__name__}(id={self.id!r}{where}, value=<{len(self.value)} bytes redacted>)"


for _cls in (Envelope, Secret):
    _cls.__repr__ = _redacted  # type: ignore[method-assign]
    _cls.__str__ = _redacted  # type: ignore[method-assign]


def _wrap_internal(fn):
    """uniffi raises InternalError for a failure inside the library; make it one
    of ours, so every error derives from SecretsEngineError."""

    @functools.wraps(fn)
    def call(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except _native.InternalError as e:
            raise SecretsEngineError.Other(str(e)) from e

    return call


pattern_matches = _wrap_internal(_native.pattern_matches)
validate_id = _wrap_internal(_native.validate_id)
validate_pattern = _wrap_internal(_native.validate_pattern)


class _CheckedProvider(Provider):
    """Checks what a Python provider returns: a silent str-for-bytes mix-up would
    otherwise corrupt the secret."""

    def __init__(self, inner: Provider) -> None:
        self._inner = inner

    def get_secrets(self, pattern: str) -> List[Secret]:
        out = []
        for s in self._inner.get_secrets(pattern) or []:
            if not isinstance(s, Secret):
                raise TypeError(f"a provider returns Secret objects, not {type(s).__name__}")
            if not isinstance(s.id, str):
                raise TypeError("Secret.id must be a str")
            if not isinstance(s.value, (bytes, bytearray, memoryview)):
                raise TypeError(f"Secret.value must be bytes, not {type(s.value).__name__}")
            out.append(Secret(id=s.id, value=bytes(s.value)))
        return out

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
        self._native = _wrap_internal(_native.Engine)(options)

    def get_secrets(self, pattern: str) -> List[Envelope]:
        """Every secret matching ``pattern`` from every enabled provider whose
        declared pattern overlaps it. Values are ``bytes``."""
        return _wrap_internal(self._native.get_secrets)(pattern)

    def get_secrets_partial(self, pattern: str) -> Tuple[List[Envelope], List[Failure]]:
        """:meth:`get_secrets`, also returning the providers that failed while
        others answered (a partial result)."""
        r = _wrap_internal(self._native.get_secrets_partial)(pattern)
        return r.envelopes, r.failures

    async def get_secrets_async(self, pattern: str) -> List[Envelope]:
        """:meth:`get_secrets`, awaitable from asyncio."""
        try:
            return await self._native.get_secrets_async(pattern)
        except _native.InternalError as e:
            raise SecretsEngineError.Other(str(e)) from e

    @overload
    def resolve_env(
        self,
        env: Mapping[str, str],
        container_mode: bool = False,
        *,
        allow: Optional[Sequence[str]] = None,
        max_references: Optional[int] = None,
    ) -> Dict[str, str]: ...
    @overload
    def resolve_env(
        self,
        env: Sequence[str],
        container_mode: bool = False,
        *,
        allow: Optional[Sequence[str]] = None,
        max_references: Optional[int] = None,
    ) -> List[str]: ...

    def resolve_env(self, env, container_mode=False, *, allow=None, max_references=None):
        """Replaces every ``se://`` value by its secret. ``env`` is a dict
        (returns a dict, same order) or a list of ``NAME=VALUE`` strings such as an
        OCI ``process.env`` (returns a list). In container mode an empty ``NAME=``
        asks for the secret named ``NAME`` and stays empty when there is none.

        ``allow``, a list of patterns, limits what may be resolved: a reference is
        resolved only when one of them includes its whole pattern (``"ci/**"``
        includes ``se://ci/token`` and ``se://ci/*/key``, not ``se://**``); any
        other raises :class:`PermissionDenied` naming its variable and is never
        looked up (an empty ``NAME=`` outside stays empty). ``allow=[]`` refuses
        every reference; ``None`` allows all. At most ``max_references`` distinct
        references (default 256) are resolved; more raises before any lookup. The
        engine's internal realm (``docker/secrets-engine/**``) is never resolved."""
        if allow is not None:
            if isinstance(allow, (str, bytes)) or not all(isinstance(p, str) for p in allow):
                raise TypeError("allow is a list of pattern str")
            allow = list(allow)
        if max_references is not None and (
            not isinstance(max_references, int) or not 0 < max_references < 2**32
        ):
            raise ValueError("max_references is a positive int below 2**32")
        if isinstance(env, Mapping):
            entries = []
            for name, value in env.items():
                if not isinstance(name, str) or not isinstance(value, str):
                    raise TypeError("environment names and values are str")
                if "=" in name:
                    raise ValueError(f"environment names cannot contain '=': {name!r}")
                entries.append(f"{name}={value}")
            resolved = _wrap_internal(self._native.resolve_env_list)(
                entries, container_mode, allow, max_references
            )
            return dict(entry.split("=", 1) for entry in resolved)
        if isinstance(env, (str, bytes)):
            raise TypeError("env is a dict or a list of NAME=VALUE strings")
        entries = list(env)
        if not all(isinstance(e, str) for e in entries):
            raise TypeError("env entries are NAME=VALUE str")
        return _wrap_internal(self._native.resolve_env_list)(
            entries, container_mode, allow, max_references
        )

    def plugins(self) -> List[PluginInfo]:
        """Every provider with its pattern, configurability and state."""
        return _wrap_internal(self._native.plugins)()

    def enable(self, name: str) -> None:
        """Enables a configurable provider (re-initialising a crashed one)."""
        _wrap_internal(self._native.enable)(name)

    def disable(self, name: str) -> None:
        """Disables a configurable provider."""
        _wrap_internal(self._native.disable)(name)

    def set(self, id: str, value: BytesLike, metadata: Optional[Mapping[str, str]] = None) -> None:
        """Stores ``value`` (bytes) under ``id`` in the default store."""
        if not isinstance(value, (bytes, bytearray, memoryview)):
            raise TypeError(f"secret values are bytes, not {type(value).__name__}; encode str values explicitly")
        _wrap_internal(self._native.set)(id, bytes(value), dict(metadata) if metadata is not None else None)

    def remove(self, id: str) -> None:
        """Removes ``id`` from the default store (:class:`NotFound` when absent)."""
        _wrap_internal(self._native.remove)(id)

    def list(self, pattern: Optional[str] = None) -> List[str]:
        """Ids in the default store matching ``pattern`` (all when None), sorted."""
        return _wrap_internal(self._native.list)(pattern)

    def register_provider(self, name: str, pattern: str, provider: Provider) -> None:
        """Adds ``provider`` (a :class:`Provider` subclass) under ``name``, serving
        ids matching ``pattern``. Its ``get_secrets`` runs on worker threads; it
        returns ``Secret`` objects with ``bytes`` values, and raises ``NotFound`` or
        returns ``[]`` when nothing matches. Exception texts are shown to users:
        never put a secret in them."""
        _wrap_internal(self._native.register_provider)(name, pattern, _CheckedProvider(provider))
