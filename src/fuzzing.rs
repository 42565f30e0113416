//! The bodies of the fuzz targets, shared by the cargo-fuzz crate in `fuzz/` (nightly,
//! libFuzzer) and the corpus replay test `tests/core/fuzz_corpus.rs` (stable, part of the
//! test command). Each function takes arbitrary bytes, feeds them to one parser or
//! entry point, and panics only when an invariant fails: a panic inside the code
//! under test, an error that is long or quotes its input where it must not, an
//! accepted input that does not round-trip, or an answer that disagrees with a naive
//! reference.
//!
//! Only built with the `fuzzing` feature; not part of the API.

mod algebra;
mod env_file;
mod grammar;
#[cfg(any(
    feature = "onepassword",
    feature = "vault",
    feature = "credential-helper"
))]
mod tool_output;

pub use algebra::differential;
pub use env_file::env_file;
pub use grammar::{id, pattern, reference};
#[cfg(feature = "credential-helper")]
pub use tool_output::credential_helper_json;
#[cfg(feature = "vault")]
pub use tool_output::vault_json;
#[cfg(feature = "onepassword")]
pub use tool_output::{op_json, op_stderr};

/// A target's body: arbitrary bytes in, a panic when an invariant fails.
pub type Target = fn(&[u8]);

/// Every target, by name: what the fuzz crate builds and the replay test runs.
pub const TARGETS: &[(&str, Target)] = &[
    ("id", id),
    ("pattern", pattern),
    ("reference", reference),
    ("differential", differential),
    ("env_file", env_file),
    #[cfg(feature = "onepassword")]
    ("op_json", op_json),
    #[cfg(feature = "onepassword")]
    ("op_stderr", op_stderr),
    #[cfg(feature = "vault")]
    ("vault_json", vault_json),
    #[cfg(feature = "credential-helper")]
    ("credential_helper_json", credential_helper_json),
];

/// Longest message an input-derived error may have: the excerpt is at most 128
/// characters, each at most 10 bytes once `{:?}`-escaped, plus the reason.
const MAX_MESSAGE: usize = 128 * 10 + 300;
