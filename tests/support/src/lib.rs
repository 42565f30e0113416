//! Purpose-built providers for router tests, and real services.
#![allow(dead_code)]

pub mod bao;
pub mod children;
pub mod docker;
#[cfg(target_os = "linux")]
pub mod keyring;
pub mod services;
#[cfg(target_os = "linux")]
pub mod session_keyring;
#[cfg(target_os = "linux")]
pub mod testplugin;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use secrets_engine::{
    ConfigLocation, Engine, EngineBuilder, Envelope, Error, Id, MemoryStore, Pattern, Resolver,
};

pub fn p(s: &str) -> Pattern {
    Pattern::parse(s).unwrap()
}
pub fn id(s: &str) -> Id {
    Id::parse(s).unwrap()
}
pub fn memory(items: &[(&str, &[u8])]) -> Arc<MemoryStore> {
    Arc::new(items.iter().map(|(i, v)| (id(i), v.to_vec())).collect())
}
pub fn builder() -> EngineBuilder {
    Engine::builder().config(ConfigLocation::None)
}

/// Counts calls, then delegates.
pub struct Counting<R> {
    pub inner: R,
    pub calls: AtomicUsize,
}
impl<R> Counting<R> {
    pub fn new(inner: R) -> Arc<Self> {
        Arc::new(Counting {
            inner,
            calls: AtomicUsize::new(0),
        })
    }
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}
#[async_trait]
impl<R: Resolver> Resolver for Counting<R> {
    async fn get_secrets(&self, pattern: &Pattern) -> Result<Vec<Envelope>, Error> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.inner.get_secrets(pattern).await
    }
}

/// Returns fixed envelopes regardless of the request (to test post-filtering).
pub struct Fixed {
    pub items: Vec<(String, Vec<u8>)>,
    pub case_insensitive: bool,
}
impl Fixed {
    pub fn new(items: &[(&str, &[u8])]) -> Fixed {
        Fixed {
            items: items
                .iter()
                .map(|(i, v)| (i.to_string(), v.to_vec()))
                .collect(),
            case_insensitive: false,
        }
    }
}
#[async_trait]
impl Resolver for Fixed {
    async fn get_secrets(&self, _: &Pattern) -> Result<Vec<Envelope>, Error> {
        Ok(self
            .items
            .iter()
            .map(|(i, v)| Envelope::new(id(i), v.clone()))
            .collect())
    }
    fn case_insensitive(&self) -> bool {
        self.case_insensitive
    }
}

/// Never answers.
pub struct Hang;
#[async_trait]
impl Resolver for Hang {
    async fn get_secrets(&self, _: &Pattern) -> Result<Vec<Envelope>, Error> {
        std::future::pending().await
    }
}

/// Answers after a delay.
pub struct Slow(pub Duration, pub Arc<MemoryStore>);
#[async_trait]
impl Resolver for Slow {
    async fn get_secrets(&self, p: &Pattern) -> Result<Vec<Envelope>, Error> {
        tokio::time::sleep(self.0).await;
        self.1.get_secrets(p).await
    }
}

/// Always fails with a backend error.
pub struct Failing;
#[async_trait]
impl Resolver for Failing {
    async fn get_secrets(&self, _: &Pattern) -> Result<Vec<Envelope>, Error> {
        Err(Error::Backend {
            message: "backend exploded".into(),
        })
    }
}

/// Panics with the secret in its message, until `healed`.
pub struct Panicking {
    pub healed: AtomicBool,
}
#[async_trait]
impl Resolver for Panicking {
    async fn get_secrets(&self, p: &Pattern) -> Result<Vec<Envelope>, Error> {
        if !self.healed.load(Ordering::SeqCst) {
            panic!("oops, holding TOPSECRET-PANIC");
        }
        Ok(vec![Envelope::new(id("heal/ok"), "fine")]
            .into_iter()
            .filter(|e| p.matches(e.id()))
            .collect())
    }
}

/// Reports a fatal condition until re-initialised, whose outcome is controllable.
pub struct Fatal {
    pub broken: AtomicBool,
    pub reinit_ok: AtomicBool,
    pub reinits: AtomicUsize,
}
impl Fatal {
    pub fn new() -> Arc<Fatal> {
        Arc::new(Fatal {
            broken: AtomicBool::new(true),
            reinit_ok: AtomicBool::new(false),
            reinits: AtomicUsize::new(0),
        })
    }
}
#[async_trait]
impl Resolver for Fatal {
    async fn get_secrets(&self, _: &Pattern) -> Result<Vec<Envelope>, Error> {
        if self.broken.load(Ordering::SeqCst) {
            Err(Error::Crashed {
                reason: "binary not found".into(),
            })
        } else {
            Ok(vec![Envelope::new(id("fatal/x"), "v")])
        }
    }
    async fn reinitialize(&self) -> Result<(), Error> {
        self.reinits.fetch_add(1, Ordering::SeqCst);
        if self.reinit_ok.load(Ordering::SeqCst) {
            self.broken.store(false, Ordering::SeqCst);
            Ok(())
        } else {
            Err(Error::Unavailable {
                reason: "still missing".into(),
            })
        }
    }
}

/// What a provider answers for `pattern`, as sorted (id, value) pairs.
pub async fn sorted_values(provider: &dyn Resolver, pattern: &str) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<_> = provider
        .get_secrets(&p(pattern))
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.id().to_string(), e.value().expose().to_vec()))
        .collect();
    v.sort();
    v
}
