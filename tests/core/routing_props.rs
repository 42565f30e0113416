//! Property tests: the [`Router`] answers exactly what a linear scan over
//! `Pattern::overlaps` (or `overlaps_ignore_case` for entries added case-insensitively)
//! would, for id and pattern requests; and the engine, which routes through one, asks
//! exactly those providers, with disabled providers left out.
//!
//! Patterns are drawn over a small alphabet with many `*` and `**`, so prefixes are
//! shared in the trie and wildcard paths interleave; literals come in two cases so the
//! case-insensitive trie is exercised.

use std::sync::Arc;

use proptest::prelude::*;
use secrets_engine::{
    ConfigLocation, Engine, Envelope, Error, MemoryStore, Pattern, Registration, Resolver, Router,
};

/// A provider that compares ids ignoring ASCII case; routing is all that is asked of it.
struct Insensitive;

#[async_trait::async_trait]
impl Resolver for Insensitive {
    async fn get_secrets(&self, _: &Pattern) -> Result<Vec<Envelope>, Error> {
        Ok(Vec::new())
    }
    fn case_insensitive(&self) -> bool {
        true
    }
}

fn segment() -> impl Strategy<Value = &'static str> {
    prop_oneof![
        3 => Just("a"), 2 => Just("b"), 1 => Just("A"), 1 => Just("c"),
        3 => Just("*"), 4 => Just("**"),
    ]
}

fn pattern() -> impl Strategy<Value = String> {
    prop::collection::vec(segment(), 1..=6).prop_map(|v| v.join("/"))
}

fn id() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![Just("a"), Just("b"), Just("B"), Just("c"), Just("x")],
        1..=7,
    )
    .prop_map(|v| v.join("/"))
}

/// (pattern, case-insensitive, enabled) per provider.
fn providers() -> impl Strategy<Value = Vec<(String, bool, bool)>> {
    prop::collection::vec(
        (
            pattern(),
            prop::bool::weighted(0.3),
            prop::bool::weighted(0.9),
        ),
        0..40,
    )
}

fn engine(providers: &[(String, bool, bool)]) -> Engine {
    let mut b = Engine::builder().config(ConfigLocation::None);
    for (i, (pattern, insensitive, enabled)) in providers.iter().enumerate() {
        let pattern = Pattern::parse(pattern).unwrap();
        let name = format!("p{i}");
        let r = if *insensitive {
            Registration::resolver(&name, pattern, Arc::new(Insensitive))
        } else {
            Registration::store(&name, pattern, Arc::new(MemoryStore::new()))
        };
        b = b.register(r.enabled_by_default(*enabled));
    }
    b.build().unwrap()
}

/// What the engine did before it had an index: ask every running provider.
fn scan(providers: &[(String, bool, bool)], request: &Pattern) -> Vec<String> {
    providers
        .iter()
        .enumerate()
        .filter(|(_, (pattern, insensitive, enabled))| {
            let declared = Pattern::parse(pattern).unwrap();
            let overlaps = if *insensitive {
                declared.overlaps_ignore_case(request)
            } else {
                declared.overlaps(request)
            };
            *enabled && overlaps
        })
        .map(|(i, _)| format!("p{i}"))
        .collect()
}

/// A router over the providers' patterns (every one, enabled or not), valued by name.
fn router(providers: &[(String, bool, bool)]) -> Router<String> {
    let mut router = Router::new();
    for (i, (pattern, insensitive, _)) in providers.iter().enumerate() {
        let pattern = Pattern::parse(pattern).unwrap();
        let at = if *insensitive {
            router.insert_case_insensitive(pattern, format!("p{i}"))
        } else {
            router.insert(pattern, format!("p{i}"))
        };
        assert_eq!(at, i, "entries are numbered in insertion order");
    }
    router
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(500),
        ..ProptestConfig::default()
    })]

    #[test]
    fn the_router_answers_like_the_scan(
        providers in providers(),
        ids in prop::collection::vec(id(), 1..10),
        patterns in prop::collection::vec(pattern(), 1..10),
    ) {
        // The scan with every entry counted as enabled: the router knows no states.
        let all: Vec<_> = providers.iter().map(|(p, ci, _)| (p.clone(), *ci, true)).collect();
        let router = router(&providers);
        prop_assert_eq!(router.len(), providers.len());
        for request in ids.iter().chain(&patterns) {
            let request = Pattern::parse(request).unwrap();
            let routed: Vec<String> = router.route(&request).into_iter().cloned().collect();
            prop_assert_eq!(&routed, &scan(&all, &request), "request {}", request);
            let by_index: Vec<String> = router
                .route_indices(&request)
                .into_iter()
                .map(|i| router.get(i).unwrap().clone())
                .collect();
            prop_assert_eq!(by_index, routed);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(500),
        ..ProptestConfig::default()
    })]

    #[test]
    fn id_requests_route_like_the_scan(
        providers in providers(),
        ids in prop::collection::vec(id(), 1..20),
    ) {
        let engine = engine(&providers);
        for id in &ids {
            let request = Pattern::parse(id).unwrap();
            prop_assert_eq!(engine.routed_providers(&request), scan(&providers, &request), "id {}", id);
        }
    }

    #[test]
    fn pattern_requests_route_like_the_scan(
        providers in providers(),
        requests in prop::collection::vec(pattern(), 1..20),
    ) {
        let engine = engine(&providers);
        for request in &requests {
            let request = Pattern::parse(request).unwrap();
            prop_assert_eq!(engine.routed_providers(&request), scan(&providers, &request), "request {}", request);
        }
    }

    #[test]
    fn providers_registered_after_build_are_routed(
        providers in providers(),
        ids in prop::collection::vec(id(), 1..10),
    ) {
        let (first, later) = providers.split_at(providers.len() / 2);
        let engine = engine(first);
        for (i, (pattern, insensitive, _)) in later.iter().enumerate() {
            let pattern = Pattern::parse(pattern).unwrap();
            let name = format!("p{}", first.len() + i);
            let r = if *insensitive {
                Registration::resolver(&name, pattern, Arc::new(Insensitive))
            } else {
                Registration::store(&name, pattern, Arc::new(MemoryStore::new()))
            };
            engine.register(r).unwrap();
        }
        // register() enables providers the (absent) config file says nothing about.
        let expected: Vec<_> = first
            .iter()
            .cloned()
            .chain(later.iter().map(|(p, ci, _)| (p.clone(), *ci, true)))
            .collect();
        for id in &ids {
            let request = Pattern::parse(id).unwrap();
            prop_assert_eq!(engine.routed_providers(&request), scan(&expected, &request), "id {}", id);
        }
    }
}
