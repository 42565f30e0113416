"""The Python bindings, end to end: every call, typed exceptions, asyncio, a
Python provider, bytes values, threads, and the real keychain."""

import asyncio
import os
import threading

import pytest

import secrets_engine
from secrets_engine import Engine, Secret


@pytest.fixture
def engine():
    return Engine(store="memory", no_config=True)


def test_set_get_list_remove(engine):
    engine.set("db/password", b"s3cret")
    engine.set("db/binary", bytes([0, 1, 255, 0]), metadata={"user": "app"})
    engine.set("db/empty", b"")
    found = engine.get_secrets("db/*")
    assert [e.id for e in found] == ["db/binary", "db/empty", "db/password"]
    assert all(type(e.value) is bytes for e in found)
    assert found[0].value == b"\x00\x01\xff\x00"
    assert found[0].metadata == {"user": "app"}
    assert found[0].provider == "memory"
    assert found[1].value == b""
    assert found[2].resolved_at_ms > 1_700_000_000_000
    assert engine.list() == ["db/binary", "db/empty", "db/password"]
    assert engine.list("**/password") == ["db/password"]
    engine.remove("db/empty")
    with pytest.raises(secrets_engine.NotFound):
        engine.remove("db/empty")


def test_values_are_bytes_never_str(engine):
    with pytest.raises(TypeError, match="bytes"):
        engine.set("a", "not bytes")
    engine.set("a", bytearray(b"ok"))
    assert engine.get_secrets("a")[0].value == b"ok"


def test_typed_exceptions(engine):
    with pytest.raises(secrets_engine.NotFound) as info:
        engine.get_secrets("nothing/here")
    assert isinstance(info.value, secrets_engine.SecretsEngineError)
    assert "nothing/here" in str(info.value)
    with pytest.raises(secrets_engine.InvalidPattern, match="component 1"):
        engine.get_secrets("a//b")
    with pytest.raises(secrets_engine.InvalidId):
        engine.set("bad id", b"x")
    with pytest.raises(secrets_engine.InvalidReference):
        engine.resolve_env({"X": "se://a b"})
    with pytest.raises(secrets_engine.NotConfigurable):
        engine.disable("memory")
    with pytest.raises(secrets_engine.UnknownProvider):
        engine.enable("nope")
    for name in ["NotFound", "Ambiguous", "NoProvider", "ProviderFailed", "InvalidId", "InvalidPattern",
                 "InvalidReference", "Unavailable", "Locked", "Timeout", "Crashed", "NotConfigurable"]:
        assert issubclass(getattr(secrets_engine, name), secrets_engine.SecretsEngineError)
    assert issubclass(secrets_engine.SecretsEngineError, Exception)


def test_validation():
    secrets_engine.validate_id("docker/auth/hub")
    with pytest.raises(secrets_engine.InvalidId):
        secrets_engine.validate_id("a//b")
    secrets_engine.validate_pattern("a/**")
    with pytest.raises(secrets_engine.InvalidPattern):
        secrets_engine.validate_pattern("a*")
    assert secrets_engine.pattern_matches("docker/*/alice", "docker/hub/alice")
    assert not secrets_engine.pattern_matches("docker/*", "docker/hub/alice")
    assert not secrets_engine.pattern_matches("bad*", "x")
    assert secrets_engine.version()


def test_resolve_env_dict_and_list(engine):
    engine.set("gh/token", b"ghp_abc")
    engine.set("GH_TOKEN", b"by-name")
    env = {"PATH": "/bin", "TOKEN": "se://gh/token", "GH_TOKEN": "", "EQ": "a=b"}
    assert engine.resolve_env(env) == {"PATH": "/bin", "TOKEN": "ghp_abc", "GH_TOKEN": "", "EQ": "a=b"}
    assert list(engine.resolve_env(env)) == ["PATH", "TOKEN", "GH_TOKEN", "EQ"]
    assert engine.resolve_env(env, container_mode=True)["GH_TOKEN"] == "by-name"
    oci = ["PATH=/bin", "TOKEN=se://gh/token", "MISSING="]
    assert engine.resolve_env(oci, container_mode=True) == ["PATH=/bin", "TOKEN=ghp_abc", "MISSING="]
    with pytest.raises(secrets_engine.NotFound, match="A: no secret matches missing/x"):
        engine.resolve_env({"A": "se://missing/x"})
    engine.set("d/1", b"one")
    engine.set("d/2", b"two")
    with pytest.raises(secrets_engine.Ambiguous):
        engine.resolve_env({"D": "se://d/*"})
    engine.set("nul", b"a\x00b")
    with pytest.raises(secrets_engine.Unrepresentable):
        engine.resolve_env({"N": "se://nul"})


def test_plugins(engine):
    plugins = engine.plugins()
    assert [(p.name, p.pattern, p.configurable, p.state) for p in plugins] == [("memory", "**", False, "running")]


class MapProvider(secrets_engine.Provider):
    def __init__(self, secrets):
        self.secrets = secrets
        self.calls = 0
        self.lock = threading.Lock()
        self.fail = None

    def get_secrets(self, pattern):
        with self.lock:
            self.calls += 1
        if self.fail:
            raise self.fail
        return [Secret(id=i, value=v) for i, v in self.secrets.items() if secrets_engine.pattern_matches(pattern, i)]


def test_python_provider(engine):
    provider = MapProvider({"py/a": b"one", "py/b": b"two"})
    engine.register_provider("python", "py/**", provider)
    found = engine.get_secrets("py/*")
    assert [(e.id, e.value, e.provider) for e in found] == [("py/a", b"one", "python"), ("py/b", b"two", "python")]
    calls = provider.calls
    with pytest.raises(secrets_engine.NotFound):
        engine.get_secrets("other/x")
    assert provider.calls == calls, "asked outside its declared pattern"
    assert engine.resolve_env({"A": "se://py/a"}) == {"A": "one"}
    names = [p.name for p in engine.plugins()]
    assert names == ["memory", "python"]
    engine.disable("python")
    with pytest.raises(secrets_engine.NotFound):
        engine.get_secrets("py/a")
    engine.enable("python")
    # A provider's typed error keeps its kind when it is the only answer.
    provider.fail = secrets_engine.SecretsEngineError.Unavailable("backend down")
    with pytest.raises(secrets_engine.Unavailable, match="python.*backend down"):
        engine.get_secrets("py/a")
    provider.fail = secrets_engine.SecretsEngineError.Locked("vault sealed")
    with pytest.raises(secrets_engine.Locked, match="vault sealed"):
        engine.get_secrets("py/a")
    # NotFound from a provider means "nothing here".
    provider.fail = secrets_engine.SecretsEngineError.NotFound("none")
    with pytest.raises(secrets_engine.NotFound, match="no secret matches py/a"):
        engine.get_secrets("py/a")
    provider.fail = RuntimeError("boom")
    with pytest.raises(secrets_engine.ProviderFailed, match="python"):
        engine.get_secrets("py/a")
    with pytest.raises(secrets_engine.SecretsEngineError):
        engine.register_provider("python", "py/**", provider)


def test_asyncio(engine):
    engine.set("async/a", b"1")
    engine.set("async/b", b"2")

    async def main():
        one = await engine.get_secrets_async("async/a")
        both = await asyncio.gather(*(engine.get_secrets_async(p) for p in ["async/a", "async/b", "async/*"]))
        with pytest.raises(secrets_engine.NotFound):
            await engine.get_secrets_async("async/none")
        return one, both

    one, both = asyncio.run(main())
    assert one[0].value == b"1"
    assert [len(r) for r in both] == [1, 1, 2]


def test_eight_threads(engine):
    for i in range(8):
        engine.set(f"t/{i}", f"v{i}".encode())
    engine.register_provider("python", "py/**", MapProvider({"py/x": b"from-python"}))
    errors = []

    def work(n):
        try:
            for i in range(100):
                assert engine.get_secrets(f"t/{(n + i) % 8}")[0].value == f"v{(n + i) % 8}".encode()
                assert engine.resolve_env({"P": "se://py/x"}) == {"P": "from-python"}
        except Exception as e:  # noqa: BLE001 - collected and reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_default_engine_on_the_real_keychain():
    assert os.environ.get("DBUS_SESSION_BUS_ADDRESS"), "run through scripts/test-python"
    engine = Engine()
    assert engine.plugins()[0].name == "docker-pass"
    engine.set("pytest/token", b"from-python")
    try:
        assert engine.get_secrets("pytest/token")[0].value == b"from-python"
        assert engine.resolve_env({"T": "se://pytest/token"}) == {"T": "from-python"}
    finally:
        engine.remove("pytest/token")


def test_envelopes_never_print_their_value(engine):
    engine.set("p/x", b"TOPSECRET-PRINT")
    env = engine.get_secrets("p/x")[0]
    for text in (str(env), repr(env), f"{env}", str([env]), str(Secret(id="a", value=b"TOPSECRET-PRINT"))):
        assert "TOPSECRET" not in text
        assert "bytes redacted" in text
    assert env.value == b"TOPSECRET-PRINT"


def test_provider_results_are_checked(engine):
    class StrValues(secrets_engine.Provider):
        def get_secrets(self, pattern):
            return [Secret(id="s/x", value="a str, not bytes")]

    engine.register_provider("str-values", "s/**", StrValues())
    with pytest.raises(secrets_engine.ProviderFailed, match="bytes"):
        engine.get_secrets("s/x")


def test_partial_results_carry_failures(engine):
    broken = MapProvider({})
    broken.fail = RuntimeError("down")
    engine.register_provider("broken", "**", broken)
    engine.set("k", b"v")
    envelopes, failures = engine.get_secrets_partial("k")
    assert [e.value for e in envelopes] == [b"v"]
    assert [f.provider for f in failures] == ["broken"]
    assert "down" in failures[0].message


def test_resolve_env_refuses_non_str(engine):
    with pytest.raises(TypeError):
        engine.resolve_env({"A": b"se://x"})
    with pytest.raises(TypeError):
        engine.resolve_env({"A": None})
    with pytest.raises(TypeError):
        engine.resolve_env(["A=1", 2])


def test_timeout_and_unavailable_are_raised_as_such(tmp_path, monkeypatch):
    slow_engine = Engine(store="memory", no_config=True, deadline_ms=200)

    class Slow(secrets_engine.Provider):
        def get_secrets(self, pattern):
            import time
            time.sleep(1)
            return []

    slow_engine.register_provider("slow", "slow/**", Slow())
    with pytest.raises(secrets_engine.Timeout, match="slow"):
        slow_engine.get_secrets("slow/x")
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/bus")
    keychain = Engine(store="keychain", no_config=True)
    with pytest.raises(secrets_engine.Unavailable, match="docker-pass"):
        keychain.get_secrets("a")


def test_options_and_persisted_choices(tmp_path):
    config = str(tmp_path / "config.json")
    first = Engine(store="memory", config_path=config)
    first.register_provider("python", "py/**", MapProvider({}))
    first.disable("python")
    second = Engine(secrets_engine.EngineOptions(store="memory", config_path=config))
    second.register_provider("python", "py/**", MapProvider({}))
    assert [(p.name, p.state) for p in second.plugins()] == [("memory", "running"), ("python", "disabled")]


def test_asyncio_with_a_python_provider_and_the_keychain():
    engine = Engine()
    engine.register_provider("python", "py/**", MapProvider({"py/a": b"from-python"}))
    engine.set("pyasync/token", b"from-keychain")

    async def main():
        return await asyncio.gather(engine.get_secrets_async("py/a"), engine.get_secrets_async("pyasync/token"))

    try:
        a, k = asyncio.run(main())
        assert a[0].value == b"from-python" and a[0].provider == "python"
        assert k[0].value == b"from-keychain" and k[0].provider == "docker-pass"
    finally:
        engine.remove("pyasync/token")


def test_resolve_env_allow_list_and_cap(engine):
    engine.set("ci/token", b"ci-value")
    engine.set("prod/db", b"PROD")
    assert engine.resolve_env({"T": "se://ci/token"}, allow=["ci/**"]) == {"T": "ci-value"}
    with pytest.raises(secrets_engine.PermissionDenied, match="P: se://prod/db is not allowed"):
        engine.resolve_env({"T": "se://ci/token", "P": "se://prod/db"}, allow=["ci/**"])
    with pytest.raises(secrets_engine.PermissionDenied):
        engine.resolve_env(["T=se://ci/token"], allow=[])
    with pytest.raises(secrets_engine.PermissionDenied, match="internal realm"):
        engine.resolve_env({"V": "se://docker/secrets-engine/vault/token"})
    with pytest.raises(secrets_engine.SecretsEngineError, match="more than 1 distinct"):
        engine.resolve_env({"T": "se://ci/token", "P": "se://prod/db"}, max_references=1)
    with pytest.raises(TypeError):
        engine.resolve_env({"T": "se://ci/token"}, allow="ci/**")
    with pytest.raises(secrets_engine.InvalidPattern):
        engine.resolve_env({"T": "se://ci/token"}, allow=["ci//x"])
