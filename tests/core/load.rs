//! Load on the async engine: 1,000 concurrent lookups, one provider slowed past its
//! deadline. The fast providers' lookups must all succeed and must not wait for the
//! slow provider's deadline; the slow ones must come back as a typed timeout.
//!
//! The assertions are structural (orderings against the deadline), never tight
//! timings. The latencies are printed as one `async-load ...` line, which
//! `scripts/soak` reports (`cargo test --test load -- --nocapture` shows it).

use secrets_engine_test_support as support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use secrets_engine::{Engine, Envelope, Error, Pattern, Registration, Resolver};
use support::*;
use tokio::time::Instant;

/// The slow provider's deadline. Long enough that a loaded 2-core CI machine answers
/// every in-memory lookup well within it, so the ordering below is never a race.
const DEADLINE: Duration = Duration::from_secs(2);
const LOOKUPS: usize = 1_000;
/// One lookup in ten goes to the slow provider.
const SLOW_EVERY: usize = 10;
const FAST_STORES: [&str; 3] = ["fast-a", "fast-b", "fast-c"];
const ITEMS_PER_STORE: usize = 100;

/// Sleeps well past its deadline on every call, so the engine abandons each call at
/// the deadline; counts calls so the test can check routing.
struct PastDeadline {
    calls: AtomicUsize,
}

#[async_trait]
impl Resolver for PastDeadline {
    async fn get_secrets(&self, _: &Pattern) -> Result<Vec<Envelope>, Error> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(DEADLINE * 10).await;
        Ok(vec![])
    }
}

fn fast_id(n: usize) -> (String, String, Vec<u8>) {
    let store = FAST_STORES[n % FAST_STORES.len()];
    let item = n % ITEMS_PER_STORE;
    (
        store.to_owned(),
        format!("{store}/item-{item}"),
        format!("value-{store}-{item}").into_bytes(),
    )
}

fn engine() -> (Engine, Arc<PastDeadline>) {
    let slow = Arc::new(PastDeadline {
        calls: AtomicUsize::new(0),
    });
    let mut b = builder()
        .register(Registration::resolver("slow", p("slow/**"), slow.clone()).deadline(DEADLINE));
    for store in FAST_STORES {
        let items: Vec<(String, Vec<u8>)> = (0..ITEMS_PER_STORE)
            .map(|i| {
                (
                    format!("{store}/item-{i}"),
                    format!("value-{store}-{i}").into_bytes(),
                )
            })
            .collect();
        let refs: Vec<(&str, &[u8])> = items
            .iter()
            .map(|(i, v)| (i.as_str(), v.as_slice()))
            .collect();
        // The fast stores keep the engine's default deadline (30 s): only one
        // provider is slowed.
        b = b.store(store, p(&format!("{store}/**")), memory(&refs));
    }
    (b.build().unwrap(), slow)
}

/// One lookup's outcome: whether it went to the slow provider, its latency (from the
/// moment its task ran the lookup), and when it finished.
struct Outcome {
    slow: bool,
    latency: Duration,
    finished: Instant,
}

/// Spawns `n` lookups at once (every `SLOW_EVERY`th to the slow provider when
/// `with_slow`), checks each answer, and returns when they were issued and the
/// outcomes.
async fn run(engine: &Engine, n: usize, with_slow: bool) -> (Instant, Vec<Outcome>) {
    let issued = Instant::now();
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let engine = engine.clone();
            tokio::spawn(async move {
                let slow = with_slow && i % SLOW_EVERY == 0;
                let start = Instant::now();
                if slow {
                    let got = engine.get_secrets(&p(&format!("slow/item-{i}"))).await;
                    let latency = start.elapsed();
                    match got.as_ref().map_err(Error::specific) {
                        Err(Error::Timeout { after }) => assert_eq!(*after, DEADLINE),
                        other => panic!("slow lookup {i}: want a timeout, got {other:?}"),
                    }
                    Outcome {
                        slow,
                        latency,
                        finished: Instant::now(),
                    }
                } else {
                    let (store, id, value) = fast_id(i);
                    let got = engine.get_secrets(&p(&id)).await;
                    let latency = start.elapsed();
                    let found = got.unwrap_or_else(|e| panic!("fast lookup {id}: {e}"));
                    assert_eq!(found.envelopes().len(), 1, "{id}");
                    assert!(found.failures().is_empty(), "{id}");
                    let e = &found.envelopes()[0];
                    assert_eq!(
                        (e.provider(), e.id().as_str(), e.value().expose()),
                        (store.as_str(), id.as_str(), value.as_slice())
                    );
                    Outcome {
                        slow,
                        latency,
                        finished: Instant::now(),
                    }
                }
            })
        })
        .collect();
    let mut out = Vec::with_capacity(n);
    for t in tasks {
        out.push(t.await.expect("a lookup task panicked"));
    }
    (issued, out)
}

/// Nearest-rank percentile of sorted latencies, in microseconds.
fn pct(sorted: &[Duration], p: usize) -> u128 {
    let rank = (sorted.len() * p).div_ceil(100).max(1);
    sorted[rank - 1].as_micros()
}

fn fast_latencies(outcomes: &[Outcome]) -> Vec<Duration> {
    let mut l: Vec<Duration> = outcomes
        .iter()
        .filter(|o| !o.slow)
        .map(|o| o.latency)
        .collect();
    l.sort();
    l
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_at_its_deadline_does_not_hold_up_the_others() {
    let (engine, slow) = engine();

    // The fast lookups alone first: the reference the mixed run is printed beside.
    let fast_only = LOOKUPS - LOOKUPS / SLOW_EVERY;
    let (_, alone) = run(&engine, fast_only, false).await;
    assert_eq!(slow.calls.load(Ordering::SeqCst), 0);

    let (issued, mixed) = run(&engine, LOOKUPS, true).await;
    let (slow_runs, fast_runs): (Vec<&Outcome>, Vec<&Outcome>) = mixed.iter().partition(|o| o.slow);
    assert_eq!(
        (slow_runs.len(), fast_runs.len()),
        (LOOKUPS / SLOW_EVERY, fast_only)
    );
    // Only the slow lookups were routed to the slow provider.
    assert_eq!(slow.calls.load(Ordering::SeqCst), slow_runs.len());

    // The slow lookups were given their whole deadline, no less.
    let slow_min = slow_runs.iter().map(|o| o.latency).min().unwrap();
    let slow_max = slow_runs.iter().map(|o| o.latency).max().unwrap();
    assert!(
        slow_min >= DEADLINE,
        "a slow lookup ended early: {slow_min:?}"
    );

    // No fast lookup waited for the slow provider's deadline: each took less than the
    // deadline, and all of them were done before the first slow lookup gave up.
    let fast = fast_latencies(&mixed);
    let fast_max = *fast.last().unwrap();
    assert!(
        fast_max < DEADLINE,
        "a fast lookup took {fast_max:?}, not less than the slow provider's deadline {DEADLINE:?}"
    );
    let last_fast = fast_runs.iter().map(|o| o.finished).max().unwrap();
    let first_slow = slow_runs.iter().map(|o| o.finished).min().unwrap();
    assert!(
        last_fast < first_slow,
        "the last fast lookup finished {:?} after the first slow one timed out",
        last_fast - first_slow
    );

    let base = fast_latencies(&alone);
    println!(
        "async-load lookups={LOOKUPS} fast={} slow={} deadline_ms={} fast_alone_p50_us={} fast_alone_p99_us={} fast_mixed_p50_us={} fast_mixed_p99_us={} fast_mixed_max_us={} fast_all_done_ms={} slow_min_ms={} slow_max_ms={}",
        fast.len(),
        slow_runs.len(),
        DEADLINE.as_millis(),
        pct(&base, 50),
        pct(&base, 99),
        pct(&fast, 50),
        pct(&fast, 99),
        fast_max.as_micros(),
        (last_fast - issued).as_millis(),
        slow_min.as_millis(),
        slow_max.as_millis(),
    );
}
