//! Provider choices changed at once by many engines sharing one config file: in one
//! process (threads) and across processes (this test binary re-run as children).
//! Every call succeeds, no change is lost, the file stays loadable and no temporary
//! file is left behind.

use secrets_engine_test_support as support;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Barrier};
use std::time::Duration;

use secrets_engine::{Engine, ProviderState};
use support::{Fixed, p};

/// Engines (threads or processes), each owning the provider `p<n>`.
const OWNERS: usize = 8;
const FLIPS_PER_THREAD: usize = 100;
const FLIPS_PER_PROCESS: usize = 50;

/// The child role's environment: the config file and the provider it owns.
const CHILD_PATH: &str = "SE_TEST_CONFIG_CHILD_PATH";
const CHILD_OWNER: &str = "SE_TEST_CONFIG_CHILD_OWNER";

/// An engine with every owner's provider, so each engine reads and rewrites every
/// other's choice.
fn engine(path: &Path) -> Engine {
    let mut b = Engine::builder().config_path(path);
    for n in 0..OWNERS {
        b = b.provider(&format!("p{n}"), p("**"), Arc::new(Fixed::new(&[])));
    }
    b.build().unwrap()
}

/// Owner `n` alternates enable and disable, starting with enable for even owners
/// and disable for odd ones, so the last writes differ between owners.
fn enables(n: usize, flip: usize) -> bool {
    (n + flip).is_multiple_of(2)
}

fn last_state(n: usize, flips: usize) -> ProviderState {
    if enables(n, flips - 1) {
        ProviderState::Running
    } else {
        ProviderState::Disabled
    }
}

/// Flips owner `n`'s provider; returns the calls that failed.
fn flip(engine: &Engine, n: usize, flips: usize) -> Vec<String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let name = format!("p{n}");
    (0..flips)
        .filter_map(|i| {
            let r = if enables(n, i) {
                rt.block_on(engine.enable(&name))
            } else {
                engine.disable(&name)
            };
            r.err().map(|e| format!("{name} flip {i}: {e}"))
        })
        .collect()
}

/// The file parses and loads, each provider is as its owner last left it, and
/// nothing but the file and its lock file is in the directory.
fn check_final(path: &Path, flips: usize) {
    let text = std::fs::read_to_string(path).unwrap();
    let json: serde_json::Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("corrupt config ({e}):\n{text}"));
    let plugins = engine(path).plugins();
    for (n, plugin) in plugins.iter().enumerate() {
        assert_eq!(plugin.state, last_state(n, flips), "p{n} in\n{text}");
        let saved = &json["providers"][format!("p{n}")]["state"];
        let expected = if enables(n, flips - 1) {
            "enabled"
        } else {
            "disabled"
        };
        assert_eq!(saved, expected, "p{n} in\n{text}");
    }
    let mut left: Vec<String> = std::fs::read_dir(path.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != "config.json" && n != ".config.json.lock")
        .collect();
    left.sort();
    assert!(left.is_empty(), "left behind: {left:?}");
}

#[test]
fn eight_engines_in_one_process_lose_no_change() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.json");
    let start = Arc::new(Barrier::new(OWNERS));
    let threads: Vec<_> = (0..OWNERS)
        .map(|n| {
            let engine = engine(&path);
            let start = start.clone();
            std::thread::spawn(move || {
                start.wait();
                flip(&engine, n, FLIPS_PER_THREAD)
            })
        })
        .collect();
    let failed: Vec<String> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    assert!(
        failed.is_empty(),
        "{} of {} calls failed: {:#?}",
        failed.len(),
        OWNERS * FLIPS_PER_THREAD,
        &failed[..failed.len().min(5)]
    );
    check_final(&path, FLIPS_PER_THREAD);
}

#[test]
fn eight_processes_lose_no_change() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.json");
    let roles: Vec<Vec<(&str, std::ffi::OsString)>> = (0..OWNERS)
        .map(|n| {
            vec![
                (CHILD_PATH, path.clone().into()),
                (CHILD_OWNER, n.to_string().into()),
            ]
        })
        .collect();
    support::children::run(
        "config_concurrency::config_flip_child",
        &roles,
        Duration::from_secs(120),
    );
    check_final(&path, FLIPS_PER_PROCESS);
}

/// The child role of [`eight_processes_lose_no_change`], which runs this binary with
/// the child variables set; without them (an ordinary test run) it does nothing.
#[test]
fn config_flip_child() {
    let (Some(path), Some(n)) = (std::env::var_os(CHILD_PATH), std::env::var_os(CHILD_OWNER))
    else {
        return;
    };
    let path = PathBuf::from(path);
    let n: usize = n.to_str().unwrap().parse().unwrap();
    let engine = engine(&path);
    support::children::wait_for_go();
    let failed = flip(&engine, n, FLIPS_PER_PROCESS);
    assert!(
        failed.is_empty(),
        "{} of {FLIPS_PER_PROCESS} calls failed: {failed:#?}",
        failed.len()
    );
}
