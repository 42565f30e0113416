//! What se-runc's two executables share: telling se-runc's options from runc's,
//! reading runc's call, writing runc's log, and becoming another program.
//!
//! `se-runc` is what dockerd, containerd or podman run for every runtime call. It
//! links neither the library nor its providers, so the calls it only passes on
//! (`start`, `state`, `kill`, `delete`, …; three of the four calls of a `docker run
//! --rm`) cost little more than the real runtime's own start: a program's start
//! grows with the relocations its loader applies, and the providers' code (the AWS
//! SDK above all) brings tens of thousands. For `create` and `run` it execs
//! `se-runc-create`, next to it, which links the library, resolves the bundle's
//! references and then execs the real runtime.

#![warn(missing_docs)]

pub mod args;
pub mod runtime_log;

use std::ffi::OsString;
use std::path::Path;
use std::process::{Command, ExitCode};

use runtime_log::RuntimeLog;

/// runc's status for a failed command.
pub const FAILED: u8 = 1;
/// se-runc's own options are wrong.
pub const USAGE: u8 = 2;
/// The program to become (the real runtime, or `se-runc-create`) cannot be run.
pub const NO_RUNTIME: u8 = 127;

/// The executable that resolves a `create`'s references, found next to `se-runc`.
pub const CREATE_EXE: &str = "se-runc-create";

/// Becomes `program` with `args`; returns only when it cannot be run, after
/// logging why (`hint` says what to do about it, when there is something to say).
pub fn exec(program: &Path, args: Vec<OsString>, log: &RuntimeLog, hint: &str) -> ExitCode {
    use std::os::unix::process::CommandExt;
    let e = Command::new(program).args(args).exec();
    log.error(&format!(
        "se-runc: cannot run {}: {e}{hint}",
        program.display()
    ));
    ExitCode::from(NO_RUNTIME)
}
