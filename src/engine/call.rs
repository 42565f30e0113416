//! One provider call of a lookup: polled once where the lookup runs, spawned only if
//! it is still pending, aborted when the lookup is abandoned.

use std::sync::Arc;
use std::time::Duration;

use crate::envelope::Envelope;
use crate::error::Error;
use crate::pattern::Pattern;
use crate::resolver::Resolver;

/// Aborts spawned calls when dropped, so abandoned lookups leave no tasks behind.
pub(crate) struct AbortOnDrop(pub(crate) Vec<tokio::task::AbortHandle>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        for h in &self.0 {
            h.abort();
        }
    }
}

impl AbortOnDrop {
    /// Aborts, when dropped, the calls of a lookup that went on as tasks of their own.
    pub(super) fn running<T>(calls: &[Call<T>]) -> Self {
        AbortOnDrop(
            calls
                .iter()
                .filter_map(|c| match c {
                    Call::Running(task) => Some(task.abort_handle()),
                    _ => None,
                })
                .collect(),
        )
    }
}

pub(super) type Answer = Result<Vec<Envelope>, Error>;

/// Why a provider call gave no answer (an error for each lookup it carried).
pub(super) enum NoAnswer {
    Panicked,
    Cancelled,
    Timeout(Duration),
}

impl NoAnswer {
    pub(super) fn error(&self) -> Error {
        match self {
            NoAnswer::Panicked => Error::Crashed {
                reason: "panicked".into(),
            },
            NoAnswer::Cancelled => Error::Crashed {
                reason: "cancelled".into(),
            },
            NoAnswer::Timeout(after) => Error::Timeout { after: *after },
        }
    }
}

/// One provider call of a lookup (or, for [`Engine::get_secrets_many`](super::Engine::get_secrets_many), of a batch).
pub(super) enum Call<T = Answer> {
    /// Answered on its first poll.
    Answered(T),
    /// Panicked on its first poll.
    Panicked,
    /// Still running, as a task of its own.
    Running(tokio::task::JoinHandle<T>),
}

impl Call {
    /// Polls the call once where the lookup runs and spawns it only if it is not done.
    ///
    /// Most calls wait on something (D-Bus, HTTP, a child process, a binding's callback
    /// on `spawn_blocking`) and become tasks, so the lookup's providers run in parallel
    /// and each deadline is kept by the lookup however the others behave. A call that
    /// answers at once (an in-memory store, a cache hit) costs no spawn and no wake-up
    /// of another thread, which was most of a blocking lookup's cost. A provider whose
    /// first poll blocks the thread (against the [`Resolver`] contract) delays the
    /// lookup by as long, since a deadline only bounds waiting.
    pub(super) fn start(resolver: Arc<dyn Resolver>, pattern: Pattern) -> Call {
        Call::poll_once(Box::pin(
            async move { resolver.get_secrets(&pattern).await },
        ))
    }
}

impl<T: Send + 'static> Call<T> {
    /// Polls `call` once here and spawns it only if it is not done (see
    /// [`Call::start`]).
    pub(super) fn poll_once(
        mut call: std::pin::Pin<Box<dyn Future<Output = T> + Send>>,
    ) -> Call<T> {
        // A waker that does nothing is enough: a future that returns Pending is polled
        // again by its task, and registers that poll's waker then.
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        let first =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| call.as_mut().poll(&mut cx)));
        match first {
            Ok(std::task::Poll::Ready(answer)) => Call::Answered(answer),
            Ok(std::task::Poll::Pending) => Call::Running(tokio::spawn(call)),
            Err(_) => Call::Panicked,
        }
    }
}
