//! Replays the committed fuzz corpora (`fuzz/corpus/<target>/*`, crash reproducers
//! included) through the same functions the cargo-fuzz targets call, on stable Rust:
//! the test command needs neither nightly nor cargo-fuzz. Fuzzing itself is
//! `scripts/fuzz`.

use std::path::Path;

use secrets_engine::fuzzing::TARGETS;

#[test]
fn every_target_has_a_corpus_and_every_input_holds() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
    let mut failed = Vec::new();
    for (name, run) in TARGETS {
        let dir = root.join(name);
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|entry| entry.expect("readable directory").path())
            .filter(|p| p.is_file())
            .collect();
        files.sort();
        assert!(
            files.len() >= 10,
            "{name}: only {} corpus files; seed it",
            files.len()
        );
        for file in &files {
            let data = std::fs::read(file).expect("readable corpus file");
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
