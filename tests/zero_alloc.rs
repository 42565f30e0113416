//! `Pattern::matches` performs no heap allocation, proven with a counting global
//! allocator (this test binary only). Also records what `includes` and `overlaps`
//! allocate, so a change in either shows up here.
//!
//! The counter is per thread: libtest runs tests on parallel threads and its own
//! bookkeeping allocates, so a process-wide count would blame `matches` for others'
//! allocations.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use secrets_engine::{Id, Pattern};

struct Counting;

thread_local! {
    // const-initialised and drop-free, so touching it inside the allocator never
    // allocates or registers a destructor.
    static ALLOCS: Cell<usize> = const { Cell::new(0) };
}

fn bump() {
    // try_with: the allocator can run while this thread's locals are being torn down.
    let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
}

// SAFETY: defers every operation to `System` unchanged; only counts calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        bump();
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        bump();
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        bump();
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations (alloc, alloc_zeroed, realloc) this thread makes while running `f`.
fn allocations<R>(f: impl FnOnce() -> R) -> (usize, R) {
    let before = ALLOCS.with(Cell::get);
    let r = std::hint::black_box(f());
    (ALLOCS.with(Cell::get) - before, r)
}

const MATCH_TSV: &str = include_str!("../benches/vectors/match.tsv");
const WORST_TSV: &str = include_str!("../benches/vectors/worst.tsv");
const PAIRS_TSV: &str = include_str!("../benches/vectors/pairs.tsv");

fn rows(tsv: &str) -> impl Iterator<Item = Vec<&str>> {
    tsv.lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| l.split('\t').collect())
}

fn match_vectors() -> Vec<(Pattern, Id, bool)> {
    rows(MATCH_TSV)
        .chain(rows(WORST_TSV))
        .map(|c| {
            (
                Pattern::parse(c[0]).unwrap(),
                Id::parse(c[1]).unwrap(),
                c[2] == "1",
            )
        })
        .collect()
}

#[test]
fn the_counter_sees_allocations() {
    // Without this, a broken counter would make every zero below vacuous.
    let (n, b) = allocations(|| Box::new(std::hint::black_box(7u64)));
    assert_eq!(*b, 7);
    assert!(n >= 1, "counting allocator missed a Box allocation");
    let (n, _) = allocations(|| Pattern::parse("docker/auth/*/alice").unwrap());
    assert!(n >= 1, "counting allocator missed Pattern::parse");
}

#[test]
fn matches_allocates_nothing_on_typical_vectors_and_the_worst_case() {
    let vectors = match_vectors();
    assert!(vectors.len() > 20, "vectors file lost its rows");
    // Warm up: anything lazily initialised on first use is not a per-match cost.
    for (p, id, _) in &vectors {
        std::hint::black_box(p.matches(id));
        std::hint::black_box(p.matches_ignore_case(id));
    }
    for (p, id, want) in &vectors {
        let (n, got) = allocations(|| p.matches(id));
        assert_eq!(got, *want, "{p} vs {id}");
        assert_eq!(n, 0, "matches({p}, {id}) allocated {n} times");
        let (n, got) = allocations(|| p.matches_ignore_case(id));
        assert_eq!(got, *want, "{p} vs {id} ignoring case");
        assert_eq!(n, 0, "matches_ignore_case({p}, {id}) allocated {n} times");
    }
    // The whole set in one window, repeated, as the benchmark runs it.
    let (n, hits) = allocations(|| {
        (0..100)
            .flat_map(|_| vectors.iter())
            .filter(|(p, id, _)| p.matches(id))
            .count()
    });
    assert_eq!(hits, 100 * vectors.iter().filter(|v| v.2).count());
    assert_eq!(n, 0, "100 rounds of matches allocated {n} times");
}

/// `overlaps` keeps two dynamic-programming rows of `len(other) + 1` flags: two
/// allocations per call, whatever the patterns. `includes` keeps sets of automaton
/// states and a work list, so its count depends on the pair; it is printed
/// (`cargo test --test zero_alloc -- --nocapture`) and must stay bounded, not zero.
#[test]
fn includes_and_overlaps_allocation_counts() {
    let pairs: Vec<(Pattern, Pattern, bool, bool)> = rows(PAIRS_TSV)
        .map(|c| {
            (
                Pattern::parse(c[0]).unwrap(),
                Pattern::parse(c[1]).unwrap(),
                c[2] == "1",
                c[3] == "1",
            )
        })
        .collect();
    assert!(pairs.len() >= 8, "pairs file lost its rows");
    for (a, b, _, _) in &pairs {
        std::hint::black_box((a.includes(b), a.overlaps(b)));
    }
    let (mut inc_total, mut ovl_total) = (0, 0);
    for (a, b, inc, ovl) in &pairs {
        let (ni, got_inc) = allocations(|| a.includes(b));
        let (no, got_ovl) = allocations(|| a.overlaps(b));
        assert_eq!(got_inc, *inc, "{a} includes {b}");
        assert_eq!(got_ovl, *ovl, "{a} overlaps {b}");
        eprintln!("allocations: includes {ni:>3}  overlaps {no:>2}  {a} vs {b}");
        assert!(
            no <= 2,
            "overlaps({a}, {b}) allocated {no} times, more than its two rows"
        );
        assert!(ni <= 64, "includes({a}, {b}) allocated {ni} times");
        inc_total += ni;
        ovl_total += no;
    }
    eprintln!(
        "allocations per call, mean over {} pairs: includes {:.1}, overlaps {:.1}",
        pairs.len(),
        inc_total as f64 / pairs.len() as f64,
        ovl_total as f64 / pairs.len() as f64
    );
}
