//! Reading a secret typed on the terminal without echo.
//!
//! On Unix the terminal is put in a mode without echo, line editing or signal keys,
//! and a guard puts back exactly the settings it found when it is dropped: on Enter,
//! on an error, on the prompt's deadline and on Ctrl-C, which arrives as a byte
//! rather than a signal, so the process is never killed with echo off. (A signal sent
//! from elsewhere, `kill`, still ends the process without the guard; SIGKILL cannot be
//! caught.) Elsewhere, rpassword reads it.

use std::time::Duration;

use zeroize::Zeroizing;

/// How long a person has to type: sudo's default (`passwd_timeout`, 5 minutes).
pub(crate) const TIMEOUT: Duration = Duration::from_secs(5 * 60);

/// Why nothing was read.
#[derive(Debug)]
// Elsewhere than Unix the prompt reads through the standard library, which can only fail.
#[cfg_attr(not(unix), allow(dead_code))]
pub(crate) enum NotRead {
    /// Ctrl-C or Ctrl-\: the person wants out.
    Interrupted,
    /// Nothing ended the line within [`TIMEOUT`] (or Ctrl-D on an empty line).
    Abandoned,
    /// The terminal could not be read.
    Failed(std::io::Error),
}

/// Shows `label` on the terminal and reads one line without echo.
pub(crate) fn hidden(label: &str) -> Result<Zeroizing<String>, NotRead> {
    imp::hidden(label, TIMEOUT)
}

#[cfg(unix)]
mod imp {
    use std::fs::File;
    use std::io::{Read, Write};
    use std::os::fd::AsFd;
    use std::time::{Duration, Instant};

    use rustix::event::{PollFd, PollFlags, Timespec};
    use rustix::termios::{LocalModes, OptionalActions, SpecialCodeIndex, Termios};
    use zeroize::Zeroizing;

    use super::NotRead;

    const MAX: usize = 4096;

    /// Puts back the terminal settings it was made with, whatever way the read ends.
    struct Restore<'a> {
        tty: &'a File,
        saved: Termios,
    }

    impl Drop for Restore<'_> {
        fn drop(&mut self) {
            // Input typed but not yet read stays unread: it was typed without echo.
            let _ = rustix::termios::tcsetattr(self.tty, OptionalActions::Flush, &self.saved);
        }
    }

    pub(super) fn hidden(label: &str, timeout: Duration) -> Result<Zeroizing<String>, NotRead> {
        // The controlling terminal; else stdin, which the caller found is a terminal.
        let mut tty = match File::options().read(true).write(true).open("/dev/tty") {
            Ok(tty) => tty,
            Err(_) => std::io::stdin()
                .as_fd()
                .try_clone_to_owned()
                .map(File::from)
                .map_err(NotRead::Failed)?,
        };
        let saved = rustix::termios::tcgetattr(&tty).map_err(|e| NotRead::Failed(e.into()))?;
        let mut quiet = saved.clone();
        quiet
            .local_modes
            .remove(LocalModes::ECHO | LocalModes::ECHONL | LocalModes::ICANON | LocalModes::ISIG);
        quiet.special_codes[SpecialCodeIndex::VMIN] = 1;
        quiet.special_codes[SpecialCodeIndex::VTIME] = 0;
        tty.write_all(label.as_bytes()).map_err(NotRead::Failed)?;
        let _ = tty.flush();
        let guard = Restore { tty: &tty, saved };
        rustix::termios::tcsetattr(&tty, OptionalActions::Flush, &quiet)
            .map_err(|e| NotRead::Failed(e.into()))?;
        let line = read_line(&tty, timeout);
        drop(guard);
        let _ = (&tty).write_all(b"\n");
        line
    }

    /// Reads up to Enter, with backspace and Ctrl-U; bytes into one buffer that never
    /// grows (so no copy of the secret is left behind by a reallocation).
    fn read_line(mut tty: &File, timeout: Duration) -> Result<Zeroizing<String>, NotRead> {
        let until = Instant::now() + timeout;
        let mut typed = Zeroizing::new(Vec::with_capacity(MAX));
        loop {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(NotRead::Abandoned);
            }
            let left = Timespec::try_from(left).unwrap_or(Timespec {
                tv_sec: 1,
                tv_nsec: 0,
            });
            let mut fds = [PollFd::new(&tty, PollFlags::IN)];
            match rustix::event::poll(&mut fds, Some(&left)) {
                Ok(0) => continue,
                Ok(_) => {}
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => return Err(NotRead::Failed(e.into())),
            }
            let mut byte = [0u8; 1];
            match tty.read(&mut byte) {
                Ok(0) => return Err(NotRead::Abandoned),
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(NotRead::Failed(e)),
            }
            match byte[0] {
                b'\r' | b'\n' => break,
                // Ctrl-C, Ctrl-\.
                0x03 | 0x1c => return Err(NotRead::Interrupted),
                // Ctrl-D on an empty line: end of input.
                0x04 if typed.is_empty() => return Err(NotRead::Abandoned),
                // Backspace: drop the last character (its UTF-8 continuation bytes too).
                0x7f | 0x08 => {
                    while typed.last().is_some_and(|b| b & 0xc0 == 0x80) {
                        typed.pop();
                    }
                    typed.pop();
                }
                // Ctrl-U: start over.
                0x15 => typed.clear(),
                _ if typed.len() == MAX => {
                    return Err(NotRead::Failed(std::io::Error::new(
                        std::io::ErrorKind::InvalidInput,
                        format!("more than {MAX} bytes typed (pipe a longer value on stdin)"),
                    )));
                }
                b => typed.push(b),
            }
        }
        match std::str::from_utf8(&typed) {
            Ok(s) => Ok(Zeroizing::new(s.to_owned())),
            Err(_) => Err(NotRead::Failed(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "what was typed is not UTF-8",
            ))),
        }
    }
}

#[cfg(not(unix))]
mod imp {
    use std::time::Duration;

    use zeroize::Zeroizing;

    use super::NotRead;

    pub(super) fn hidden(label: &str, _: Duration) -> Result<Zeroizing<String>, NotRead> {
        rpassword::prompt_password(label)
            .map(Zeroizing::new)
            .map_err(NotRead::Failed)
    }
}
