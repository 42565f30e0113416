//! `run`: resolve the environment, then become the command.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::Command;

use secrets_engine::providers::file;
use secrets_engine::{Engine, EnvOptions, env_file};

use crate::Failure;

const RESOLVE_FAILED: u8 = 125;
const CANNOT_EXECUTE: u8 = 126;
const NOT_FOUND: u8 = 127;

/// Variables that unlock the file store: the command gets none of them.
const KEY_VARIABLES: [&str; 2] = [file::PASSPHRASE_ENV, file::KEY_FILE_ENV];

/// The process environment, then each env file in order; a later value of a name
/// replaces an earlier one in place. Parse errors name the file and line, never the
/// line's text (it may hold a secret).
fn collect_env(env_files: &[PathBuf]) -> Result<Vec<(OsString, OsString)>, Failure> {
    let mut vars: Vec<(OsString, OsString)> = std::env::vars_os().collect();
    for path in env_files {
        let shown = path.display().to_string();
        let fail = |m: String| Failure::new(m, RESOLVE_FAILED);
        let bytes = std::fs::read(path).map_err(|e| fail(format!("env file {shown}: {e}")))?;
        let text =
            String::from_utf8(bytes).map_err(|_| fail(format!("env file {shown}: not UTF-8")))?;
        let items = env_file::parse(&shown, &text, |name| std::env::var(name).ok())
            .map_err(|e| fail(e.to_string()))?;
        for (k, v) in items {
            let (k, v) = (OsString::from(k), OsString::from(v));
            match vars.iter_mut().find(|(name, _)| *name == k) {
                Some(slot) => slot.1 = v,
                None => vars.push((k, v)),
            }
        }
    }
    vars.retain(|(k, _)| !KEY_VARIABLES.iter().any(|key| k == key));
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
