//! The project's own Go plugin (`tests/plugins/testplugin`, hashicorp/yamux and
//! net/http), built once per workspace with `go build`, and installed under a name
//! with its behaviour beside it.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The built plugin binary (built on first use; a build failure fails the test).
pub fn binary() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let src = root.join("tests/plugins/testplugin");
        let out_dir = root.join("target/testplugin");
        std::fs::create_dir_all(&out_dir).unwrap();
        let out = out_dir.join("testplugin");
        // Built to a name of this process's own, then renamed into place: test
        // binaries that build at the same time never see a half-written file.
        let tmp = out_dir.join(format!("testplugin.{}", std::process::id()));
        let status = Command::new("go")
            .args(["build", "-o"])
            .arg(&tmp)
            .arg(".")
            .current_dir(&src)
            .env("GOFLAGS", "-buildvcs=false")
            .status()
            .expect("go is installed (scripts/setup)");
        assert!(status.success(), "go build of the test plugin failed");
        std::fs::rename(&tmp, &out).unwrap();
        out
    })
}

/// Installs the plugin as `dir/name` (a symlink, so its name is its own) with its
/// behaviour in `dir/name.json`; the path to launch.
pub fn install(dir: &Path, name: &str, config: &serde_json::Value) -> PathBuf {
    let path = dir.join(name);
    std::os::unix::fs::symlink(binary(), &path).unwrap();
    std::fs::write(dir.join(format!("{name}.json")), config.to_string()).unwrap();
    path
}

/// Whether process `pid` is alive (a zombie counts as gone).
pub fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(')')
            .map(|(_, rest)| rest.trim_start())
            .is_some_and(|rest| !rest.starts_with('Z')),
        Err(_) => false,
    }
}

/// The pids a plugin wrote to its `pids` file (one a line).
pub fn pids(file: &Path) -> Vec<u32> {
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}
