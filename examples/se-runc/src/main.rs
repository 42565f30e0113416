//! `se-runc`: an OCI runtime that dockerd, containerd or podman can use in place of
//! runc. `create` and `run` go to `se-runc-create` (installed next to this program),
//! which resolves the `se://` references in the bundle's `process.env` and then runs
//! the real runtime; every other subcommand goes straight to the real runtime.
//!
//! ```text
//! se-runc [--runtime PATH] [--allow PATTERN]... [--docker-host unix:///PATH]
//!         [--engine-socket PATH] RUNC-ARGS...
//! ```
//!
//! This program links neither the library nor its providers (see the crate's
//! library docs for why); the values of its options are read by `se-runc-create`.

#![warn(missing_docs)]

use std::ffi::OsString;
use std::process::ExitCode;

use se_runc::runtime_log::RuntimeLog;
use se_runc::{CREATE_EXE, USAGE, args, exec};

fn main() -> ExitCode {
    let all: Vec<OsString> = std::env::args_os().skip(1).collect();
    let (own, rest) = args::split(all.clone());
    // runc's arguments come back even when our own options are wrong, so the reason
    // reaches the user through runc's log and containerd.
    let call = args::runc_call(&rest);
    let log = RuntimeLog::new(call.log.clone(), call.log_json, call.debug);
    let own = match own {
        Ok(own) => own,
        Err(e) => {
            log.error(&format!("se-runc: {e}"));
            return ExitCode::from(USAGE);
        }
    };
    if !call.creates() {
        return exec(&own.runtime(), rest, &log, "");
    }
    // Next to the executable itself (symbolic links followed): where the two are
    // installed together, and never a directory the caller's PATH chooses.
    let create = match std::env::current_exe() {
        Ok(me) => me.with_file_name(CREATE_EXE),
        Err(e) => {
            log.error(&format!(
                "se-runc: cannot find {CREATE_EXE}: where se-runc is installed is unknown: {e}"
            ));
            return ExitCode::from(se_runc::NO_RUNTIME);
        }
    };
    exec(
        &create,
        all,
        &log,
        &format!(" (install {CREATE_EXE} next to se-runc: it resolves a create's references)"),
    )
}
