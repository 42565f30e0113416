//! A private dockerd (Debian's docker.io), started through `scripts/services/docker`:
//! vfs storage, no bridge or iptables, its own data root, exec root and socket, and
//! the image `busybox:local`. Containers run with `--network none`.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub struct Dockerd {
    /// `unix://…` of its API socket.
    pub host: String,
    /// The docker client of the same version.
    pub client: PathBuf,
    dir: PathBuf,
}

impl Dockerd {
    /// Starts one in `dir` with `daemon.json` (written to `dir/daemon.json`) and
    /// `env` in its environment (containerd, the shims and the runtimes inherit it).
    pub fn start(dir: &Path, daemon_json: &serde_json::Value, env: &[(&str, &str)]) -> Dockerd {
        Dockerd::start_removing(dir, daemon_json, env, None)
    }

    /// [`Dockerd::start`], and once this process exits and dockerd is stopped,
    /// `remove` is deleted: a test's directory kept in a static, which is never
    /// dropped.
    pub fn start_removing(
        dir: &Path,
        daemon_json: &serde_json::Value,
        env: &[(&str, &str)],
        remove: Option<&Path>,
    ) -> Dockerd {
        std::fs::create_dir_all(dir).unwrap();
        let config = dir.join("daemon.json");
        std::fs::write(&config, daemon_json.to_string()).unwrap();
        let config = config.to_str().unwrap().to_owned();
        let envs: Vec<String> = env.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let mut args = vec!["--config", config.as_str()];
        for e in &envs {
            args.extend(["--env", e.as_str()]);
        }
        let remove = remove.map(|r| r.to_str().unwrap().to_owned());
        if let Some(r) = &remove {
            args.extend(["--remove", r.as_str()]);
        }
        let mut vars = super::services::start("docker", dir, &args);
        Dockerd {
            host: vars.remove("DOCKER_HOST").expect("the script prints it"),
            client: vars.remove("DOCKER").expect("the script prints it").into(),
            dir: dir.to_owned(),
        }
    }

    /// `docker ARGS` against this daemon.
    pub fn docker(&self, args: &[&str]) -> Output {
        Command::new(&self.client)
            .args(args)
            .env("DOCKER_HOST", &self.host)
            .output()
            .unwrap()
    }

    /// A command (`docker-compose`, …) with `DOCKER_HOST` set to this daemon.
    pub fn command(&self, program: &str) -> Command {
        let mut c = Command::new(program);
        c.env("DOCKER_HOST", &self.host);
        c
    }

    /// Where containerd keeps the bundle of container `id`.
    pub fn bundle(&self, id: &str) -> PathBuf {
        self.dir
            .join("exec/containerd/daemon/io.containerd.runtime.v2.task/moby")
            .join(id)
    }

    /// dockerd's own log.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("dockerd.log")).unwrap_or_default()
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        super::services::stop("docker", &self.dir);
    }
}
