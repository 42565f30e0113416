"""Cancelling what awaits the engine: an asyncio task cancelled while a provider call
is in flight, and asyncio.wait_for running out. The awaiting side gets its
CancelledError or TimeoutError at once; the provider call cannot be interrupted (it
is Python code on one of the engine's threads) and runs to its end; nothing is
reported to the event loop or printed afterwards; the engine keeps answering."""

import asyncio
import gc
import threading
import time

import pytest

import secrets_engine
from secrets_engine import Engine, Secret


class Held(secrets_engine.Provider):
    """Answers held/x, once the test lets it: each call waits for `release`."""

    def __init__(self):
        self.entered = threading.Event()
        self.release = threading.Event()
        self.finished = threading.Event()
        self.lock = threading.Lock()
        self.calls = 0
        self.done = 0

    def get_secrets(self, pattern):
        with self.lock:
            self.calls += 1
        self.entered.set()
        self.release.wait(30)
        with self.lock:
            self.done += 1
        self.finished.set()
        return [Secret(id="held/x", value=b"late")] if secrets_engine.pattern_matches(pattern, "held/x") else []


def engine_with(held):
    engine = Engine(store="memory", no_config=True, deadline_ms=30_000)
    engine.register_provider("held", "held/**", held)
    engine.set("mem/x", b"now")
    return engine


async def in_thread(fn, *args):
    """Runs a blocking wait off the event loop."""
    return await asyncio.get_running_loop().run_in_executor(None, fn, *args)


def run(main):
    """asyncio.run, failing the test on anything reported to the loop's handler."""
    reported = []

    async def wrapped():
        asyncio.get_running_loop().set_exception_handler(lambda loop, context: reported.append(context))
        return await main()

    result = asyncio.run(wrapped())
    assert reported == []
    return result


def assert_nothing_printed_later(capfd):
    """A call abandoned on the Rust side must not call back into a closed loop:
    give a late callback the chance to run, then look at what reached stderr."""
    gc.collect()
    time.sleep(0.2)
    gc.collect()
    err = capfd.readouterr().err
    assert "Traceback" not in err and "Exception" not in err, err


def test_cancelling_a_task_leaves_the_provider_call_to_finish(capfd):
    held = Held()
    engine = engine_with(held)

    async def main():
        task = asyncio.create_task(engine.get_secrets_async("held/x"))
        assert await in_thread(held.entered.wait, 10)
        task.cancel()
        started = time.monotonic()
        with pytest.raises(asyncio.CancelledError):
            await task
        # At once, not when the provider finishes (it waits for the test).
        assert time.monotonic() - started < 5
        assert task.cancelled()
        # The provider call is still running, and the engine answers meanwhile.
        assert not held.finished.is_set()
        found = await engine.get_secrets_async("mem/x")
        assert [e.value for e in found] == [b"now"]
        held.release.set()
        assert await in_thread(held.finished.wait, 10)

    run(main)
    assert held.calls == 1
    # Afterwards the provider answers as before.
    assert engine.get_secrets("held/x")[0].value == b"late"
    assert held.calls == 2
    assert_nothing_printed_later(capfd)


def test_wait_for_times_out_and_then_succeeds(capfd):
    held = Held()
    engine = engine_with(held)

    async def main():
        # Cancelled once the provider has the call, however long that takes to
        # happen on a loaded machine.
        call = asyncio.ensure_future(engine.get_secrets_async("held/x"))
        assert await in_thread(held.entered.wait, 10)
        started = time.monotonic()
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(call, timeout=0.2)
        assert 0.2 <= time.monotonic() - started < 5
        assert call.cancelled()
        assert not held.finished.is_set()
        held.release.set()
        assert await in_thread(held.finished.wait, 10)
        # With time enough, the same call returns its value through wait_for.
        found = await asyncio.wait_for(engine.get_secrets_async("held/x"), timeout=10)
        assert [(e.id, e.value, e.provider) for e in found] == [("held/x", b"late", "held")]

    run(main)
    assert held.calls == 2
    assert_nothing_printed_later(capfd)


def test_a_loop_closed_with_a_call_in_flight(capfd):
    """The loop ends (asyncio.run returns) while the provider still holds the call;
    the call finishes later, on its own, with nothing to deliver its answer to."""
    held = Held()
    engine = engine_with(held)

    async def main():
        task = asyncio.create_task(engine.get_secrets_async("held/x"))
        assert await in_thread(held.entered.wait, 10)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    run(main)
    assert not held.finished.is_set()
    held.release.set()
    assert held.finished.wait(10)
    assert_nothing_printed_later(capfd)
    assert engine.get_secrets("mem/x")[0].value == b"now"


def test_many_tasks_cancelled_at_once(capfd):
    held = Held()
    engine = engine_with(held)

    async def main():
        tasks = [asyncio.create_task(engine.get_secrets_async("held/x")) for _ in range(16)]
        assert await in_thread(held.entered.wait, 10)
        # Cancelled while some are in the provider and some wait for a thread.
        for t in tasks:
            t.cancel()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        assert all(isinstance(r, asyncio.CancelledError) for r in results), results
        held.release.set()

    run(main)
    # Every call that reached the provider finishes; none is left blocked.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with held.lock:
            calls, done = held.calls, held.done
        if calls == done:
            break
        time.sleep(0.01)
    assert 1 <= calls == done <= 16
    assert engine.get_secrets("held/x")[0].value == b"late"
    assert_nothing_printed_later(capfd)
