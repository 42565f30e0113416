//! `run`: resolve the environment, then become the command.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::Command;

use secrets_engine::{Engine, EnvOptions};

use crate::Failure;

const RESOLVE_FAILED: u8 = 125;
const CANNOT_EXECUTE: u8 = 126;
const NOT_FOUND: u8 = 127;

/// The process environment, then each env file in order; a later value of a name
/// replaces an earlier one in place.
fn collect_env(env_files: &[PathBuf]) -> Result<Vec<(OsString, OsString)>, Failure> {
    let mut vars: Vec<(OsString, OsString)> = std::env::vars_os().collect();
    for file in env_files {
        let items = dotenvy::from_path_iter(file).map_err(|e| {
            Failure::new(format!("env file {}: {e}", file.display()), RESOLVE_FAILED)
        })?;
        for item in items {
            let (k, v) = item.map_err(|e| {
                Failure::new(format!("env file {}: {e}", file.display()), RESOLVE_FAILED)
            })?;
            let (k, v) = (OsString::from(k), OsString::from(v));
            match vars.iter_mut().find(|(name, _)| *name == k) {
                Some(slot) => slot.1 = v,
                None => vars.push((k, v)),
            }
        }
    }
    Ok(vars)
}

pub(crate) fn run(
    engine: &Engine,
    env_files: &[PathBuf],
    command: &[OsString],
) -> Result<(), Failure> {
    let vars = collect_env(env_files)?;
    let resolved = engine
        .blocking()
        .resolve_env(vars, EnvOptions::host())
        .map_err(|e| Failure::new(format!("not started: {e}"), RESOLVE_FAILED))?;
    let (program, args) = command.split_first().expect("clap requires a command");
    let mut cmd = Command::new(program);
    cmd.args(args).env_clear().envs(resolved);
    let describe = |e: std::io::Error| {
        let code = match e.kind() {
            std::io::ErrorKind::NotFound => NOT_FOUND,
            _ => CANNOT_EXECUTE,
        };
        Failure::new(
            format!("cannot run {}: {e}", program.to_string_lossy()),
            code,
        )
    };
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        // Only returns on failure; on success this process is the command.
        Err(describe(cmd.exec()))
    }
    #[cfg(not(unix))]
    {
        let status = cmd.status().map_err(describe)?;
        std::process::exit(status.code().unwrap_or(1));
    }
}
