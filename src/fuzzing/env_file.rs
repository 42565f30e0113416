//! The env-file parser's fuzz body.

use crate::env_file;
use crate::error::Error;

// --- env files ---------------------------------------------------------------------

/// Env files: errors are exactly `env file <path>, line N: <fixed reason>` (never a
/// piece of the file), names are valid, and what parses writes back and re-parses to
/// the same variables.
pub fn env_file(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let lookup = |name: &str| {
        name.len()
            .is_multiple_of(2)
            .then(|| format!("from-env-{name}"))
    };
    match env_file::parse("fuzz.env", text, lookup) {
        Ok(vars) => {
            assert!(vars.len() <= text.split('\n').count());
            let mut out = String::new();
            for (name, value) in &vars {
                let mut chars = name.chars();
                assert!(
                    chars
                        .next()
                        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                );
                assert!(chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.'));
                out.push_str(name);
                out.push_str("=\"");
                for c in value.chars() {
                    match c {
                        '"' | '\\' | '$' => {
                            out.push('\\');
                            out.push(c);
                        }
                        '\n' => out.push_str("\\n"),
                        '\r' => out.push_str("\\r"),
                        c => out.push(c),
                    }
                }
                out.push_str("\"\n");
            }
            let again = env_file::parse("fuzz.env", &out, |_| None).expect("written back parses");
            assert_eq!(again, vars, "round trip through {out:?}");
        }
        Err(e) => {
            let Error::EnvFile { path, line, reason } = &e else {
                panic!("unexpected error {e:?}");
            };
            assert_eq!(path, "fuzz.env");
            assert!(*line >= 1 && *line <= text.split('\n').count());
            assert!(
                [
                    "expected NAME=VALUE",
                    "invalid variable name",
                    "unterminated single quote",
                    "unterminated double quote",
                    "unexpected text after a closing quote",
                ]
                .contains(reason),
                "{reason}"
            );
            assert_eq!(
                e.to_string(),
                format!("env file fuzz.env, line {line}: {reason}")
            );
        }
    }
}
