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

use args::{OwnArgs, RuncCall, UsageError};
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

/// One runtime call as both executables read it first.
pub struct Invocation {
    /// Every argument after argv\[0\], as given.
    pub args: Vec<OsString>,
    /// se-runc's own options, told apart from runc's.
    pub own: Result<OwnArgs, UsageError>,
    /// runc's arguments, which come back even when se-runc's own options are wrong,
    /// so the reason reaches the user through runc's log and containerd.
    pub rest: Vec<OsString>,
    /// What runc is asked to do.
    pub call: RuncCall,
    /// runc's log, where se-runc's own lines go too.
    pub log: RuntimeLog,
}

impl Invocation {
    /// This process's call.
    pub fn from_env() -> Invocation {
        let args: Vec<OsString> = std::env::args_os().skip(1).collect();
        let (own, rest) = args::split(args.clone());
        let call = args::runc_call(&rest);
        let log = RuntimeLog::new(call.log.clone(), call.log_json, call.debug);
        Invocation {
            args,
            own,
            rest,
            call,
            log,
        }
    }
}

/// Logs a usage error of se-runc's own options; the status to exit with.
pub fn usage_error(log: &RuntimeLog, e: &UsageError) -> ExitCode {
    log.error(&format!("se-runc: {e}"));
    ExitCode::from(USAGE)
}
