//! Replays the committed fuzz inputs through the same functions the cargo-fuzz
//! targets call, on stable Rust: the test command needs neither nightly nor
//! cargo-fuzz. Per target, `fuzz/seeds/<target>/` holds the hand-written inputs
//! (grammar edge cases, documented tool output, crash reproducers) and
//! `fuzz/corpus/<target>/` what the fuzzer found, minimized. Fuzzing itself is
//! `scripts/fuzz`.

use std::path::{Path, PathBuf};

use secrets_engine::fuzzing::TARGETS;

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("readable directory").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

#[test]
fn every_committed_input_holds() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut failed = Vec::new();
    for (name, run) in TARGETS {
        let seeds = files(&root.join("seeds").join(name));
        let corpus = files(&root.join("corpus").join(name));
        assert!(seeds.len() >= 10, "{name}: only {} seeds", seeds.len());
        assert!(
            corpus.len() >= 10,
            "{name}: only {} corpus files",
            corpus.len()
        );
        for file in seeds.iter().chain(&corpus) {
            let data = std::fs::read(file).expect("readable input");
            // A failing input names itself: rerun it with `cargo fuzz run <target> <file>`.
            if std::panic::catch_unwind(|| run(&data)).is_err() {
                failed.push(format!("{name}: {}", file.display()));
            }
        }
    }
    assert!(failed.is_empty(), "failing inputs:\n{}", failed.join("\n"));
}

#[test]
fn every_target_is_built_by_the_fuzz_crate() {
    let manifest =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/Cargo.toml"))
            .expect("fuzz/Cargo.toml");
    for (name, _) in TARGETS {
        assert!(
            manifest.contains(&format!("name = \"{name}\"")),
            "fuzz/Cargo.toml has no [[bin]] for {name}"
        );
    }
}
