//! runc's log: `--log FILE` in `--log-format json` (what containerd asks for) or
//! logrus text. containerd reports a failed `create` with the `msg` of the last
//! `"level":"error"` line of this file, so that is where se-runc's reason goes for
//! `docker run` to print. Lines name variables and references, never values.

use std::io::Write;
use std::path::PathBuf;

use time::format_description::well_known::Rfc3339;

/// Where log lines go: the `--log` file when given, and stderr.
#[derive(Debug, Clone, Default)]
pub struct RuntimeLog {
    file: Option<PathBuf>,
    json: bool,
    debug: bool,
}

impl RuntimeLog {
    /// The log runc was told to write; `debug` lines only with runc's `--debug`.
    pub fn new(file: Option<PathBuf>, json: bool, debug: bool) -> RuntimeLog {
        RuntimeLog { file, json, debug }
    }

    /// A `debug` line, written only when runc was given `--debug`.
    pub fn debug(&self, msg: &str) {
        if self.debug {
            self.line("debug", msg);
        }
    }

    /// An `error` line: why the container does not start.
    pub fn error(&self, msg: &str) {
        self.line("error", msg);
    }

    /// A `warning` line: something left alone that a person may want to know about.
    pub fn warning(&self, msg: &str) {
        self.line("warning", msg);
    }

    fn line(&self, level: &str, msg: &str) {
        // The messages name se-runc already (the log file needs it, runc's own lines
        // being there too); stderr says it once.
        eprintln!(
            "se-runc: {level}: {}",
            msg.strip_prefix("se-runc: ").unwrap_or(msg)
        );
        let Some(path) = &self.file else { return };
        let time = time::OffsetDateTime::now_utc()
            .format(&Rfc3339)
            .unwrap_or_default();
        let line = if self.json {
            serde_json::json!({ "level": level, "msg": msg, "time": time }).to_string()
        } else {
            // logrus's text format; `{:?}` quotes and escapes as Go's %q does for
            // the characters that occur here.
            format!("time={time:?} level={level} msg={msg:?}")
        };
        // Appended, as runc does: earlier lines (a previous attempt) stay.
        let written = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .and_then(|mut f| writeln!(f, "{line}"));
        if let Err(e) = written {
            eprintln!("se-runc: cannot write the log {}: {e}", path.display());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_lines_as_containerd_reads_them() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.json");
        std::fs::write(&path, "{\"level\":\"info\",\"msg\":\"earlier\"}\n").unwrap();
        let log = RuntimeLog::new(Some(path.clone()), true, false);
        log.debug("not written without --debug");
        log.warning("W: left alone");
        log.error("K: no secret matches \"x\"");
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[1]["level"], "warning");
        assert_eq!(lines[2]["level"], "error");
        assert_eq!(lines[2]["msg"], "K: no secret matches \"x\"");
        let time = lines[2]["time"].as_str().unwrap();
        // RFC 3339 in UTC, as runc writes it: 2026-12-01T09:22:27.491547740Z.
        assert!(
            time.len() >= 20 && &time[10..11] == "T" && time.ends_with('Z'),
            "{time}"
        );
    }

    #[test]
    fn text_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        RuntimeLog::new(Some(path.clone()), false, false).error("K: \"x\"");
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains(r#" level=error msg="K: \"x\"""#), "{text}");
    }
}
