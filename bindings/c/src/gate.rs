//! The lifetime of an engine handle: calls in flight, and `se_engine_free` racing
//! them.
//!
//! Every call on an engine enters its [`Gate`] and leaves it when it returns;
//! `se_engine_free` closes the gate (calls entering from then on fail), waits until the
//! calls inside have left, then drops the engine. So an embedder may free an engine
//! while other threads are still calling it, as a Go `Close` or a shim's shutdown
//! does, without counting the calls itself.
//!
//! A call that races with `se_engine_free` reads the handle to find the gate closed,
//! possibly after the free returned. The handle's memory is therefore never given
//! back: a freed handle keeps its gate, closed and without an engine (a few dozen
//! bytes, next to the megabytes an engine's runtime costs), and [`retire`] records it
//! so leak checkers see it as reachable rather than lost.

use std::ops::Deref;
use std::sync::{Condvar, Mutex, MutexGuard};

use secrets_engine::Engine;

/// The engine of one handle, and the calls using it.
pub(crate) struct Gate {
    state: Mutex<State>,
    idle: Condvar,
}

struct State {
    /// `None` once `se_engine_free` has begun.
    engine: Option<Engine>,
    /// Calls inside the gate.
    calls: usize,
}

/// A call in flight: it holds its own reference to the engine and is counted until it
/// is dropped.
pub(crate) struct Entered<'a> {
    gate: &'a Gate,
    engine: Option<Engine>,
}

impl Gate {
    pub(crate) fn new(engine: Engine) -> Gate {
        Gate {
            state: Mutex::new(State {
                engine: Some(engine),
                calls: 0,
            }),
            idle: Condvar::new(),
        }
    }

    /// A poisoned lock still holds a consistent state: every critical section below
    /// is a field assignment or a counter step, which cannot stop half-way.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Enters a call; `None` once the engine is being (or has been) freed.
    pub(crate) fn enter(&self) -> Option<Entered<'_>> {
        let mut state = self.lock();
        let engine = state.engine.clone()?;
        state.calls += 1;
        Some(Entered {
            gate: self,
            engine: Some(engine),
        })
    }

    /// Closes the gate and waits until no call is inside; then the engine (`None` if
    /// another close came first) is the caller's to drop, and nothing else holds it.
    pub(crate) fn close(&self) -> Option<Engine> {
        let mut state = self.lock();
        let engine = state.engine.take()?;
        while state.calls > 0 {
            state = self.idle.wait(state).unwrap_or_else(|e| e.into_inner());
        }
        Some(engine)
    }
}

impl Deref for Entered<'_> {
    type Target = Engine;

    fn deref(&self) -> &Engine {
        self.engine
            .as_ref()
            .expect("the engine is only taken when the call leaves")
    }
}

impl Drop for Entered<'_> {
    fn drop(&mut self) {
        // This call's reference goes before the count does: when `close` wakes, its own
        // reference is the last one, so the engine (and every provider's userdata) is
        // released by `se_engine_free` itself, before it returns.
        drop(self.engine.take());
        let mut state = self.gate.lock();
        state.calls -= 1;
        if state.calls == 0 {
            self.gate.idle.notify_all();
        }
    }
}

/// Addresses of freed handles. Never read: it exists so that LeakSanitizer and
/// valgrind, which scan memory for pointers, find the retired handles reachable.
static RETIRED: Mutex<Vec<usize>> = Mutex::new(Vec::new());

/// Records a freed handle, kept allocated for calls that race with its free.
pub(crate) fn retire<T>(handle: *const T) {
    RETIRED
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(handle as usize);
}
