//! `run`: resolve the environment, then become the command.
//!
//! On Unix the command replaces this process (`exec`). Windows has no exec, so the
//! command is spawned and waited for, as Docker's `run_windows.go` does: its exit code
//! becomes ours, and a Ctrl-C reaches it while this process stays alive to pass the
//! code on. The command shares our console and process group, so the console delivers
//! Ctrl-C (and Ctrl-Break) to it directly; our handler only keeps this process from
//! dying of it first. (Go's `Process.Signal(os.Interrupt)`, Docker's forwarding,
//! cannot send an interrupt on Windows; the console's own delivery is the one that
//! works.)

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::Command;

use secrets_engine::providers::file;
use secrets_engine::{Engine, EnvOptions, SCHEME, StoreChoice, env_file};

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

/// Where `run` resolves references.
pub(crate) enum Source {
    /// The default engine, built in this process.
    Default(StoreChoice),
    /// A given engine (`--engine`: one that forwards to a running engine).
    Engine(Engine),
}

/// Resolves `vars` with the default engine (or the one given), all on this thread: a `run` is one batch
/// of lookups, so a current-thread runtime serves it without starting worker
/// threads. Without any `se://` value there is nothing to resolve and no engine is
/// built (no D-Bus connection, no config file read).
fn resolve(
    source: Source,
    vars: Vec<(OsString, OsString)>,
) -> Result<Vec<(OsString, OsString)>, secrets_engine::Error> {
    if !vars
        .iter()
        .any(|(_, v)| v.as_encoded_bytes().starts_with(SCHEME.as_bytes()))
    {
        return Ok(vars);
    }
    let rt = secrets_engine::current_thread_runtime()?;
    rt.block_on(async {
        let engine = match source {
            Source::Engine(engine) => engine,
            Source::Default(store) => {
                secrets_engine::default_engine(crate::options(store))
                    .await?
                    .0
            }
        };
        secrets_engine::resolve_env_with(&engine, vars, EnvOptions::host()).await
    })
}

pub(crate) fn run(
    source: Source,
    env_files: &[PathBuf],
    command: &[OsString],
) -> Result<(), Failure> {
    let vars = collect_env(env_files)?;
    let resolved = resolve(source, vars)
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
    #[cfg(target_os = "linux")]
    leave_session_keyring().map_err(|e| {
        Failure::new(
            format!(
                "not started: cannot give {} a session keyring of its own ({e}), and \
                 the current one may hold the file store's cached key",
                program.to_string_lossy()
            ),
            RESOLVE_FAILED,
        )
    })?;
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        // Only returns on failure; on success this process is the command.
        Err(describe(cmd.exec()))
    }
    #[cfg(windows)]
    {
        // Before the spawn: a Ctrl-C right after it must not end us and orphan the
        // command.
        survive_ctrl_c();
        let mut child = cmd.spawn().map_err(describe)?;
        let status = child.wait().map_err(|e| {
            Failure::new(
                format!("lost {} while waiting: {e}", program.to_string_lossy()),
                CANNOT_EXECUTE,
            )
        })?;
        // Windows exit codes are 32-bit and always present.
        std::process::exit(status.code().unwrap_or(1));
    }
}

/// Keeps this process alive through Ctrl-C and Ctrl-Break while the command, which
/// gets them from the console itself, decides what they mean. Close, logoff and
/// shutdown keep their default (this process ends with the console).
#[cfg(windows)]
fn survive_ctrl_c() {
    use windows_sys::Win32::Foundation::{FALSE, TRUE};
    use windows_sys::Win32::System::Console::{
        CTRL_BREAK_EVENT, CTRL_C_EVENT, SetConsoleCtrlHandler,
    };

    unsafe extern "system" fn handler(event: u32) -> windows_sys::core::BOOL {
        if event == CTRL_C_EVENT || event == CTRL_BREAK_EVENT {
            TRUE
        } else {
            FALSE
        }
    }
    // SAFETY: registers a function that touches no memory; a failure (no console)
    // leaves the default, under which there is no Ctrl-C to survive either.
    let _ = unsafe { SetConsoleCtrlHandler(Some(handler), TRUE) };
}

/// Joins a new, empty session keyring before the command is started, so it does not
/// possess the one holding the file store's cached identity (which would let it read
/// the key and decrypt every entry, not only the ones it was given).
#[cfg(target_os = "linux")]
fn leave_session_keyring() -> std::io::Result<()> {
    const KEYCTL_JOIN_SESSION_KEYRING: libc::c_long = 1;
    // SAFETY: keyctl(KEYCTL_JOIN_SESSION_KEYRING, NULL) takes no pointer to our memory
    // (NULL asks for an anonymous keyring) and only changes this process's keyrings.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_keyctl,
            KEYCTL_JOIN_SESSION_KEYRING,
            std::ptr::null::<libc::c_char>(),
        )
    };
    if rc >= 0 {
        return Ok(());
    }
    let e = std::io::Error::last_os_error();
    match e.raw_os_error() {
        // keyutils is unavailable (no kernel support, or a seccomp filter refuses it):
        // no cache can exist then, so there is nothing to hide.
        Some(libc::ENOSYS) | Some(libc::EPERM) => Ok(()),
        // Anything else (EDQUOT: the user's key quota is spent; ENOMEM) leaves the
        // command in the keyring that may hold the key: fail closed.
        _ => Err(e),
    }
}
