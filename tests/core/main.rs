//! The core's integration tests that need no provider feature: the grammar, the
//! pattern algebra against naive oracles, routing, the engine's semantics over
//! memory and purpose-built providers, env resolution, redaction and load.
//!
//! One test binary for all of them: linking dominates the build of small tests, so
//! each file is a module here rather than a binary of its own.

mod config_concurrency;
#[cfg(unix)]
mod config_safety;
mod engine;
mod env;
mod env_file;
#[cfg(feature = "fuzzing")]
mod fuzz_corpus;
mod grammar;
mod hostile_input;
mod load;
mod pattern_algebra;
mod pattern_props;
mod redaction;
mod routing_props;
