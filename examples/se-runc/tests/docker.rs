//! se-runc as the runtime of a real dockerd (Debian's docker.io 20.10, started by
//! scripts/services/docker), with root's default providers: the file store, in a
//! private directory, unlocked by a key file named in dockerd's environment.
//!
//! One dockerd per test binary, its default runtime `se` (se-runc asking that
//! dockerd about images), plus `se-allow` (the same with `--allow 'shared/**'`, and
//! an image cache of its own) and plain `runc`.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::OnceLock;

use secrets_engine::providers::file::{FileKey, FileStore};
use secrets_engine::{Id, Metadata, Store};
use secrets_engine_test_support::docker::Dockerd;

struct World {
    dockerd: Dockerd,
    /// A user's home: the keyring and `docker-pass engine serve` of the engine test,
    /// which run as [`USER`]. The world's directory is 0711 so that this user
    /// reaches it; everything of root's in it is owner-only.
    user: PathBuf,
    /// `se-allow`'s `--image-cache`.
    image_cache: PathBuf,
    /// The image cache of the default runtime `se`, which has no runtimeArgs:
    /// `SE_RUNC_IMAGE_CACHE` in dockerd's environment, so that the tests leave the
    /// host's `/run/se-runc` alone.
    env_image_cache: PathBuf,
    /// Secret values by id.
    values: Vec<(&'static str, String)>,
    _dir: tempfile::TempDir,
}

const IDS: [&str; 8] = [
    "app/key",
    "app/db/password",
    "shared/token",
    "GH_TOKEN",
    "IMAGE_EMPTY",
    "compose-demo/api/token",
    "compose-demo/db/password",
    "compose-demo/queue/key",
];

impl World {
    fn value(&self, id: &str) -> &str {
        &self.values.iter().find(|(i, _)| *i == id).unwrap().1
    }
}

fn world() -> &'static World {
    static W: OnceLock<World> = OnceLock::new();
    W.get_or_init(|| {
        let dir = tempfile::Builder::new()
            .prefix("se-runc-")
            .tempdir()
            .unwrap();
        let key = dir.path().join("key.txt");
        let store = dir.path().join("store");
        let home = dir.path().join("home");
        std::fs::create_dir_all(&home).unwrap();
        {
            use std::os::unix::fs::PermissionsExt;
            let mode =
                |p: &Path, m| std::fs::set_permissions(p, std::fs::Permissions::from_mode(m));
            mode(dir.path(), 0o711).unwrap();
            mode(&home, 0o700).unwrap();
            std::fs::create_dir(dir.path().join("docker")).unwrap();
            mode(&dir.path().join("docker"), 0o700).unwrap();
        }
        write_key(&key);
        // Distinct in every run, so a value found where it must not be is this run's.
        let salt = format!(
            "{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        );
        let values: Vec<_> = IDS
            .iter()
            .enumerate()
            .map(|(n, id)| (*id, format!("value-{n}-{salt}")))
            .collect();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let fs = FileStore::new(&store, FileKey::KeyFile(key.clone()));
        rt.block_on(async {
            for (id, v) in &values {
                fs.set(&Id::parse(id).unwrap(), v.as_str().into(), Metadata::new())
                    .await
                    .unwrap();
            }
        });

        let se_runc = env!("CARGO_BIN_EXE_se-runc");
        let socket = dir.path().join("docker/docker.sock");
        let host = format!("unix://{}", socket.display());
        let engine_socket = dir.path().join("user/run/engine.sock");
        let image_cache = dir.path().join("image-cache");
        let env_image_cache = dir.path().join("env-image-cache");
        let daemon_json = serde_json::json!({
            "default-runtime": "se",
            "runtimes": {
                // No runtimeArgs: dockerd 20.10 would run se-runc through a shell
                // script of its own; DOCKER_HOST in its environment names the socket.
                "se": { "path": se_runc },
                "se-allow": {
                    "path": se_runc,
                    "runtimeArgs": ["--docker-host", host, "--allow", "shared/**",
                                    "--image-cache", image_cache]
                },
                "se-engine": {
                    "path": se_runc,
                    "runtimeArgs": ["--docker-host", host, "--engine-socket", engine_socket]
                }
            }
        });
        let path = |p: &Path| p.to_str().unwrap().to_owned();
        let (store, key, home_s) = (path(&store), path(&key), path(&home));
        let env_cache = path(&env_image_cache);
        let config = format!("{home_s}/.config");
        // The world lives in a static, never dropped: the service script removes its
        // directory once this process has exited.
        let dockerd = Dockerd::start_removing(
            &dir.path().join("docker"),
            &daemon_json,
            &[
                ("SECRETS_ENGINE_FILE_DIR", &store),
                ("SECRETS_ENGINE_FILE_KEY", &key),
                ("HOME", &home_s),
                ("XDG_CONFIG_HOME", &config),
                ("DOCKER_HOST", &host),
                ("SE_RUNC_IMAGE_CACHE", &env_cache),
            ],
            Some(dir.path()),
        );
        let w = World {
            user: dir.path().join("user"),
            image_cache,
            env_image_cache,
            dockerd,
            values,
            _dir: dir,
        };
        build_image_with_env_references(&w);
        w
    })
}

fn write_key(path: &Path) {
    use age::secrecy::ExposeSecret;
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let identity = age::x25519::Identity::generate();
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .and_then(|mut f| writeln!(f, "{}", identity.to_string().expose_secret()))
        .unwrap();
}

/// `envimg:local`: busybox with references in its own `ENV`. Its `RUN` step runs
/// through se-runc (the default runtime) and sees the image's reference unresolved.
fn build_image_with_env_references(w: &World) {
    let ctx = tempfile::tempdir().unwrap();
    std::fs::write(
        ctx.path().join("Dockerfile"),
        "FROM busybox:local\n\
         ENV IMAGE_KEY=se://app/key IMAGE_EMPTY= SHARED=se://shared/token\n\
         RUN test \"$IMAGE_KEY\" = se://app/key\n",
    )
    .unwrap();
    let out = w.dockerd.docker(&[
        "build",
        "--network",
        "none",
        "-t",
        "envimg:local",
        ctx.path().to_str().unwrap(),
    ]);
    check(&out, "docker build");
}

fn check(out: &Output, what: &str) {
    assert!(
        out.status.success(),
        "{what}: {}\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `docker run --rm --network none ARGS…`, successful; its stdout.
fn run(args: &[&str]) -> String {
    let w = world();
    let mut all = vec!["run", "--rm", "--network", "none"];
    all.extend(args);
    let out = w.dockerd.docker(&all);
    check(&out, &format!("docker {all:?}"));
    String::from_utf8(out.stdout).unwrap()
}

fn name(tag: &str) -> String {
    format!("se-runc-test-{tag}-{}", std::process::id())
}

#[test]
fn a_reference_given_with_e_arrives_in_the_container() {
    let w = world();
    let out = run(&[
        "-e",
        "APP_KEY=se://app/key",
        "busybox:local",
        "sh",
        "-c",
        "echo \"$APP_KEY\"",
    ]);
    assert_eq!(out.trim_end(), w.value("app/key"));
}

#[test]
fn a_pattern_with_one_match() {
    let w = world();
    let out = run(&[
        "-e",
        "DB=se://app/db/*",
        "busybox:local",
        "sh",
        "-c",
        "echo \"$DB\"",
    ]);
    assert_eq!(out.trim_end(), w.value("app/db/password"));
}

#[test]
fn an_empty_value_asks_for_the_secret_named_like_the_variable() {
    // Docker passes `-e NAME=` through to the bundle as `NAME=`: container mode.
    let w = world();
    let out = run(&[
        "-e",
        "GH_TOKEN=",
        "-e",
        "NOT_STORED_ANYWHERE=",
        "busybox:local",
        "sh",
        "-c",
        "echo \"$GH_TOKEN|${NOT_STORED_ANYWHERE-unset}|\"",
    ]);
    assert_eq!(out.trim_end(), format!("{}||", w.value("GH_TOKEN")));
}

#[test]
fn a_failing_reference_never_starts_the_container() {
    let w = world();
    let name = name("fail");
    let out = w.dockerd.docker(&[
        "run",
        "--name",
        &name,
        "--network",
        "none",
        "-e",
        "MISSING_TOKEN=se://app/missing",
        "busybox:local",
        "touch",
        "/started",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // What the user sees, for the record (`cargo test -- --nocapture`).
    println!(
        "docker run with a missing secret: exit {}\n{stderr}",
        out.status
    );
    assert!(!out.status.success());
    assert!(
        stderr.contains("MISSING_TOKEN: no secret matches app/missing"),
        "{stderr}"
    );
    let started = w
        .dockerd
        .docker(&["inspect", "-f", "{{.State.StartedAt}}", &name]);
    check(&started, "inspect");
    assert_eq!(
        String::from_utf8_lossy(&started.stdout).trim(),
        "0001-01-01T00:00:00Z"
    );
    check(&w.dockerd.docker(&["rm", "-f", &name]), "rm");
}

#[test]
fn the_internal_realm_is_refused() {
    let w = world();
    let out = w.dockerd.docker(&[
        "run",
        "--rm",
        "--network",
        "none",
        "-e",
        "T=se://docker/secrets-engine/vault/token",
        "busybox:local",
        "true",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("T: se://docker/secrets-engine/vault/token is not allowed here"),
        "{stderr}"
    );
}

#[test]
fn references_in_the_images_own_env_are_not_resolved() {
    let w = world();
    let show = "echo \"$IMAGE_KEY|$IMAGE_EMPTY|$SHARED\"";
    // By default: all three stay as the image wrote them (IMAGE_EMPTY has a secret
    // of that id, and is not looked up either).
    let out = run(&["envimg:local", "sh", "-c", show]);
    assert_eq!(out.trim_end(), "se://app/key||se://shared/token");
    // The user's own -e for the same variable is the user's.
    let out = run(&[
        "-e",
        "IMAGE_KEY=se://app/db/password",
        "envimg:local",
        "sh",
        "-c",
        show,
    ]);
    assert_eq!(
        out.trim_end(),
        format!("{}||se://shared/token", w.value("app/db/password"))
    );
    // An administrator's --allow 'shared/**' admits the image's shared/ reference,
    // and nothing else.
    let out = run(&["--runtime", "se-allow", "envimg:local", "sh", "-c", show]);
    assert_eq!(
        out.trim_end(),
        format!("se://app/key||{}", w.value("shared/token"))
    );
}

#[test]
fn an_images_env_is_asked_for_once_and_kept_by_image_id() {
    let w = world();
    let image_id = |image: &str| {
        let out = w
            .dockerd
            .docker(&["image", "inspect", "-f", "{{.Id}}", image]);
        check(&out, "docker image inspect");
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    };
    let file = |image: &str| image_id(image).replacen(':', "-", 1);
    let entry = |image: &str| w.image_cache.join(file(image));
    let kept = |image: &str| -> Vec<String> {
        serde_json::from_slice(&std::fs::read(entry(image)).unwrap()).unwrap()
    };
    // A create through se-allow keeps the image's ENV under its id.
    let out = run(&[
        "--runtime",
        "se-allow",
        "envimg:local",
        "sh",
        "-c",
        "echo $IMAGE_KEY",
    ]);
    assert_eq!(out.trim_end(), "se://app/key");
    assert!(kept("envimg:local").contains(&"IMAGE_KEY=se://app/key".to_owned()));
    let probe = [
        "-e",
        "K=se://app/key",
        "busybox:local",
        "sh",
        "-c",
        "echo $K",
    ];
    let se_allow = |args: &[&str]| {
        let mut all = vec!["--runtime", "se-allow"];
        all.extend(args);
        run(&all)
    };
    assert_eq!(se_allow(&probe).trim_end(), w.value("app/key"));
    assert!(!kept("busybox:local").iter().any(|e| e.starts_with("K=")));
    // What is kept is what later creates go by: an entry saying busybox's own ENV
    // sets K makes the user's K look like the image's, and it stays a reference.
    let mut planted = kept("busybox:local");
    planted.push("K=se://app/key".to_owned());
    std::fs::write(
        entry("busybox:local"),
        serde_json::to_vec(&planted).unwrap(),
    )
    .unwrap();
    assert_eq!(se_allow(&probe).trim_end(), "se://app/key");
    // Without the entry, dockerd is asked again and the entry comes back.
    std::fs::remove_file(entry("busybox:local")).unwrap();
    assert_eq!(se_allow(&probe).trim_end(), w.value("app/key"));
    assert!(!kept("busybox:local").iter().any(|e| e.starts_with("K=")));
    // The default runtime, configured by its environment alone, keeps its entries
    // where SE_RUNC_IMAGE_CACHE says.
    assert_eq!(run(&probe).trim_end(), w.value("app/key"));
    let by_env = w.env_image_cache.join(file("busybox:local"));
    let by_env: Vec<String> = serde_json::from_slice(&std::fs::read(by_env).unwrap()).unwrap();
    assert_eq!(by_env, kept("busybox:local"));
}

#[test]
fn docker_inspect_shows_the_reference_and_never_the_value() {
    let w = world();
    let name = name("inspect");
    let out = w.dockerd.docker(&[
        "run",
        "-d",
        "--name",
        &name,
        "--network",
        "none",
        "-e",
        "APP_KEY=se://app/key",
        "busybox:local",
        "sleep",
        "60",
    ]);
    check(&out, "run -d");
    let id = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    let value = w.value("app/key");

    let inside = w.dockerd.docker(&["exec", &name, "cat", "/proc/1/environ"]);
    check(&inside, "exec");
    let environ = String::from_utf8_lossy(&inside.stdout);
    assert!(environ.split('\0').any(|e| e == format!("APP_KEY={value}")));

    let inspect = w.dockerd.docker(&["inspect", &name]);
    check(&inspect, "inspect");
    let text = String::from_utf8_lossy(&inspect.stdout);
    assert!(text.contains("\"APP_KEY=se://app/key\""), "{text}");
    assert!(!text.contains(value), "docker inspect shows the value");

    // The bundle holds the value now: owner-only.
    use std::os::unix::fs::PermissionsExt;
    let config = w.dockerd.bundle(&id).join("config.json");
    let meta = std::fs::metadata(&config).unwrap();
    assert_eq!(
        meta.permissions().mode() & 0o777,
        0o600,
        "{}",
        config.display()
    );
    check(&w.dockerd.docker(&["rm", "-f", &name]), "rm");
}

#[test]
fn the_compose_example_gives_every_service_its_secrets() {
    let w = world();
    let file: PathBuf = [env!("CARGO_MANIFEST_DIR"), "..", "compose", "compose.yaml"]
        .iter()
        .collect();
    let project = name("compose");
    let compose = |args: &[&str]| {
        // Bounded: an attached `up` waits for every service to exit.
        w.dockerd
            .command("timeout")
            .args(["120", "docker-compose", "-f"])
            .arg(&file)
            .args(["-p", &project])
            .args(args)
            .output()
            .unwrap()
    };
    // Attached `up` returns once every container has exited. Not
    // --abort-on-container-exit: the first service to finish would stop the other,
    // perhaps before it printed (seen under load).
    let up = compose(&["up", "--no-color"]);
    let down = compose(&["down"]);
    check(&up, "docker-compose up");
    check(&down, "docker-compose down");
    let logs = String::from_utf8_lossy(&up.stdout);
    let digest = |id: &str| sha256_16(w.value(id));
    for expected in [
        format!(
            "api API_TOKEN={} DB_PASSWORD={}",
            digest("compose-demo/api/token"),
            digest("compose-demo/db/password")
        ),
        format!(
            "worker QUEUE_KEY={} COMPOSE_DEMO_OPTIONAL=[]",
            digest("compose-demo/queue/key")
        ),
    ] {
        assert!(logs.contains(&expected), "{expected} not in\n{logs}");
    }
}

/// The first 16 hex digits of SHA-256, as the Compose example prints them.
fn sha256_16(value: &str) -> String {
    let out = std::process::Command::new("sha256sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(value.as_bytes())?;
            c.wait_with_output()
        })
        .unwrap();
    String::from_utf8(out.stdout).unwrap()[..16].to_owned()
}

/// `target/debug/docker-pass`. `cargo test --workspace` has built it with this
/// binary; a test of this crate alone builds it here when it is missing or predates
/// `engine serve` (a build with other features would rebuild the core).
fn docker_pass() -> PathBuf {
    let path = Path::new(env!("CARGO_BIN_EXE_se-runc")).with_file_name("docker-pass");
    let serves = |p: &Path| {
        std::process::Command::new(p)
            .args(["engine", "serve", "--help"])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if !serves(&path) {
        let status =
            std::process::Command::new(std::env::var_os("CARGO").unwrap_or("cargo".into()))
                .args(["build", "--quiet", "-p", "docker-pass"])
                .current_dir(env!("CARGO_MANIFEST_DIR"))
                .status()
                .unwrap();
        assert!(status.success(), "cargo build -p docker-pass");
    }
    assert!(serves(&path), "{} has no `engine serve`", path.display());
    path
}

/// The user whose keychain and engine the engine test runs: `nobody`. Not root, and
/// known to the system: dbus-daemon refuses every client when its own uid has no
/// passwd entry ("Could not get password database information for UID of current
/// process"), so a made-up uid cannot hold the keyring's bus.
const USER: u32 = 65534;
/// A third uid, neither root nor [`USER`]: it only connects, and needs no passwd entry.
const STRANGER: u32 = 60_101;

/// `program` run as `uid` (and its gid, no supplementary groups) through util-linux's
/// `setpriv`, with an empty environment but `PATH`.
fn as_uid(uid: u32, program: &Path) -> std::process::Command {
    let mut c = std::process::Command::new("setpriv");
    c.arg(format!("--reuid={uid}"))
        .arg(format!("--regid={uid}"))
        .arg("--clear-groups")
        .arg("--")
        .arg(program)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap());
    c
}

/// What the engine test started as [`USER`]: stopped when dropped, passing or not.
struct UserSide {
    keyring: PathBuf,
    engines: Vec<std::process::Child>,
}

impl Drop for UserSide {
    fn drop(&mut self) {
        for e in &mut self.engines {
            let _ = e.kill();
            let _ = e.wait();
        }
        secrets_engine_test_support::services::stop("keyring", &self.keyring);
    }
}

/// Waits until `socket` exists (a file) or is listed in /proc/net/unix (`@name`), or
/// panics with `log` once `engine` has exited or 30 s have passed.
fn wait_for_engine(engine: &mut std::process::Child, socket: &str, log: &Path) {
    let listed = || match socket.strip_prefix('@') {
        Some(name) => std::fs::read_to_string("/proc/net/unix")
            .unwrap()
            .lines()
            .any(|l| l.ends_with(&format!(" @{name}"))),
        None => Path::new(socket).exists(),
    };
    let t = std::time::Instant::now();
    while !listed() {
        let log = || std::fs::read_to_string(log).unwrap_or_default();
        if let Some(status) = engine.try_wait().unwrap() {
            panic!("engine serve on {socket} exited: {status}\n{}", log());
        }
        assert!(
            t.elapsed() < std::time::Duration::from_secs(30),
            "engine serve never listened on {socket}\n{}",
            log()
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// The README's setup for a user's keychain, across uids: the user (not root) runs
/// its own D-Bus session bus with gnome-keyring, stores a secret there and serves it
/// with `docker-pass engine serve --allow-uid 0`; root's dockerd starts a container
/// through se-runc `--engine-socket`, which gets the keychain's value. The engine
/// admits root through `--allow-uid 0` (and refuses it without), and refuses a third
/// uid: by the socket's 0700 directory on the file socket, and by its peer check on
/// an abstract socket, which any uid can connect to.
#[test]
fn keychain_secrets_arrive_through_docker_pass_engine_serve_and_engine_socket() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let w = world();
    // The other uids may not reach the checkout or its target directory (a clone in
    // a 0700 directory, as `mktemp -d` makes): what they run is copied where they can.
    let bin = w.user.with_file_name("user-bin");
    std::fs::create_dir(&bin).unwrap();
    std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
    let reachable = |from: &Path, name: &str| {
        let to = bin.join(name);
        std::fs::copy(from, &to).unwrap();
        std::fs::set_permissions(&to, std::fs::Permissions::from_mode(0o755)).unwrap();
        to
    };
    let dp = reachable(&docker_pass(), "docker-pass");
    let keyring_script = reachable(
        &secrets_engine_test_support::services::script("keyring"),
        "keyring",
    );
    std::fs::create_dir(&w.user).unwrap();
    std::os::unix::fs::chown(&w.user, Some(USER), Some(USER)).unwrap();
    std::fs::set_permissions(&w.user, std::fs::Permissions::from_mode(0o700)).unwrap();
    let mut side = UserSide {
        keyring: w.user.join("keyring"),
        engines: Vec::new(),
    };

    // The user's bus and keyring, started as the user. Without --watch: its watcher,
    // as the user, could not signal this root process and would stop them at once;
    // `side` stops them instead.
    let out = as_uid(USER, &keyring_script)
        .arg("start")
        .arg(&side.keyring)
        .output()
        .unwrap();
    check(&out, "keyring start as the user");
    let stdout = String::from_utf8(out.stdout).unwrap();
    let address = stdout
        .lines()
        .find_map(|l| l.strip_prefix("DBUS_SESSION_BUS_ADDRESS="))
        .expect("the keyring script prints the bus address")
        .to_owned();
    for pid in ["dbus.pid", "keyring.pid"] {
        let pid = std::fs::read_to_string(side.keyring.join(pid)).unwrap();
        assert_eq!(uid_of(pid.trim().parse().unwrap()), USER, "{pid}");
    }
    let user = |args: &[&str]| {
        let mut c = as_uid(USER, &dp);
        c.args(args)
            .env("HOME", &w.user)
            .env("XDG_CONFIG_HOME", w.user.join("config"))
            .env("XDG_CACHE_HOME", w.user.join("cache"))
            .env("DBUS_SESSION_BUS_ADDRESS", &address);
        c
    };
    let value = format!("keychain-value-{}", std::process::id());
    let mut set = user(&["set", "user/keychain/token"])
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        set.stdin
            .take()
            .unwrap()
            .write_all(value.as_bytes())
            .unwrap();
    }
    check(
        &set.wait_with_output().unwrap(),
        "docker-pass set as the user",
    );

    // The user's engine, on the socket se-engine's --engine-socket names, and on an
    // abstract socket, where no file mode keeps anyone out; a second engine on an
    // abstract socket without --allow-uid.
    let socket = w.user.join("run/engine.sock");
    let socket = socket.to_str().unwrap();
    let open = format!("@se-runc-test-{}", std::process::id());
    let closed = format!("@se-runc-test-{}-closed", std::process::id());
    for (sockets, allow) in [(vec![socket, open.as_str()], true), (vec![&closed], false)] {
        let log = w.user.join(format!("engine-{}.log", side.engines.len()));
        let mut args = vec!["engine", "serve"];
        for s in &sockets {
            args.extend(["--socket", s]);
        }
        if allow {
            args.extend(["--allow-uid", "0"]);
        }
        let mut serve = user(&args);
        serve
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap());
        let serve = serve.spawn().unwrap();
        side.engines.push(serve);
        for s in &sockets {
            wait_for_engine(side.engines.last_mut().unwrap(), s, &log);
        }
    }
    // The engine is the user's: setpriv exec'd docker-pass as that uid, and the socket
    // (and its directory) are the user's.
    let engine_pid = side.engines[0].id();
    assert_eq!(uid_of(engine_pid), USER);
    assert!(
        std::fs::read_to_string(format!("/proc/{engine_pid}/cmdline"))
            .unwrap()
            .contains("engine\0serve\0")
    );
    for (path, mode) in [(Path::new(socket), 0o600), (&w.user.join("run"), 0o700)] {
        let meta = std::fs::metadata(path).unwrap();
        assert_eq!(
            (meta.uid(), meta.mode() & 0o777),
            (USER, mode),
            "{}",
            path.display()
        );
    }

    // Root's runtime, through the engine.
    let out = run(&[
        "--runtime",
        "se-engine",
        "-e",
        "TOKEN=se://user/keychain/token",
        "busybox:local",
        "sh",
        "-c",
        "echo \"$TOKEN\"",
    ]);
    assert_eq!(out.trim_end(), value);
    // Root's own file store is not asked: its secret is not the user's engine's.
    let out = w.dockerd.docker(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--runtime",
        "se-engine",
        "-e",
        "K=se://app/key",
        "busybox:local",
        "true",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("K: no secret matches app/key"), "{stderr}");

    // `docker-pass get --engine=SOCKET` as root, as the user and as the stranger.
    for uid in [0, USER] {
        let out = get_through(&dp, uid, &open, &w.user);
        check(&out, &format!("get through {open} as uid {uid}"));
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim_end(), value);
    }
    let refused = |out: &Output| {
        assert!(!out.status.success());
        assert!(!String::from_utf8_lossy(&out.stdout).contains(&value));
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        // For the record (`cargo test -- --nocapture`).
        println!("refused: exit {}: {stderr}", out.status);
        stderr
    };
    // The peer check: the stranger reaches the abstract socket, and is refused.
    let stderr = refused(&get_through(&dp, STRANGER, &open, &w.user));
    assert!(
        stderr.contains(&format!(
            "this engine serves its own user only; uid {STRANGER} is not allowed"
        )),
        "{stderr}"
    );
    // The file socket: its directory keeps the stranger out before any peer check.
    let stderr = refused(&get_through(&dp, STRANGER, socket, &w.user));
    assert!(stderr.contains("Permission denied"), "{stderr}");
    // Root is admitted by --allow-uid 0, not by being root.
    let stderr = refused(&get_through(&dp, 0, &closed, &w.user));
    assert!(
        stderr.contains("this engine serves its own user only; uid 0 is not allowed"),
        "{stderr}"
    );
    drop(side);
}

/// `docker-pass get --reveal --engine=SOCKET user/keychain/token` as `uid`.
fn get_through(dp: &Path, uid: u32, socket: &str, user_home: &Path) -> Output {
    let home = if uid == USER {
        user_home
    } else {
        Path::new("/nonexistent")
    };
    as_uid(uid, dp)
        .args([
            "get",
            "--reveal",
            &format!("--engine={socket}"),
            "user/keychain/token",
        ])
        .env("HOME", home)
        .output()
        .unwrap()
}

/// The real uid of process `pid`, from /proc/PID/status.
fn uid_of(pid: u32) -> u32 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    let uids: Vec<u32> = line[4..]
        .split_whitespace()
        .map(|u| u.parse().unwrap())
        .collect();
    // Real, effective, saved and filesystem uid: all the same.
    assert!(uids.iter().all(|u| *u == uids[0]), "{line}");
    uids[0]
}
