//! `se-runc`: an OCI runtime that dockerd, containerd or podman can use in place of
//! runc. `create` and `run` go to `se-runc-create` (installed next to this program),
//! which resolves the `se://` references in the bundle's `process.env` and then runs
//! the real runtime; every other subcommand goes straight to the real runtime.
//!
//! ```text
//! se-runc [--runtime PATH] [--allow PATTERN]... [--docker-host unix:///PATH]
//!         [--engine-socket PATH] [--image-cache DIR] RUNC-ARGS...
//! ```
//!
//! This program links neither the library nor its providers (see the crate's
//! library docs for why); the values of its options are read by `se-runc-create`.

#![warn(missing_docs)]

use std::process::ExitCode;

use se_runc::{CREATE_EXE, Invocation, exec, usage_error};

fn main() -> ExitCode {
    let Invocation {
        args,
        own,
        rest,
        call,
        log,
    } = Invocation::from_env();
    let own = match own {
        Ok(own) => own,
        Err(e) => return usage_error(&log, &e),
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
        args,
        &log,
        &format!(" (install {CREATE_EXE} next to se-runc: it resolves a create's references)"),
    )
}
