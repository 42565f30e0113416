//! Env files (`NAME=VALUE` lines, dotenv style), parsed without ever quoting a line.
//!
//! Syntax, one entry per line:
//! - a UTF-8 byte order mark at the start of the file is ignored (editors on Windows
//!   write one);
//! - blank lines and lines starting with `#` are skipped; `export ` before a name is
//!   allowed, `export` alone is an error;
//! - `NAME=value`: unquoted values are trimmed and end at ` #` (a comment);
//! - `NAME='value'`: taken literally;
//! - `NAME="value"`: `\n`, `\r`, `\t`, `\"`, `\\` and `\$` are unescaped; any other
//!   backslash is kept as it is (`"\q"` is `\q`);
//! - `NAME` alone takes the value of `NAME` from the lookup (the process
//!   environment), and is skipped when it has none;
//! - a name given twice appears twice, in file order: applied in order, the last one
//!   wins.
//!
//! There is no `$VAR` expansion: a value is what the file says, so `PASS=abc$def`
//! stays `abc$def`. Errors name the line number and what is wrong, never the line's
//! text: env files hold secrets.

use crate::error::Error;

fn err(path: &str, line: usize, reason: &'static str) -> Error {
    Error::EnvFile {
        path: path.to_owned(),
        line,
        reason,
    }
}

fn valid_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.')
}

/// Parses `text` (the content of the file `path`, used in errors only). `lookup`
/// gives the value of a bare `NAME` line.
///
/// # Errors
/// [`Error::EnvFile`] naming the line and the problem.
///
/// ```
/// use secrets_engine::env_file::parse;
/// let vars = parse("f.env", "# db\nexport A=1\nB='x y'\nC=\"l1\\nl2\"\nD=v # note\n", |_| None)?;
/// assert_eq!(vars, [("A".into(), "1".into()), ("B".into(), "x y".into()), ("C".into(), "l1\nl2".into()), ("D".into(), "v".into())]);
/// assert!(parse("f.env", "A=\"open", |_| None).is_err());
/// # Ok::<(), secrets_engine::Error>(())
/// ```
pub fn parse(
    path: &str,
    text: &str,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<Vec<(String, String)>, Error> {
    let mut out = Vec::new();
    let text = text.strip_prefix('\u{FEFF}').unwrap_or(text);
    for (i, raw) in text.split('\n').enumerate() {
        let line_no = i + 1;
        let line = raw.strip_suffix('\r').unwrap_or(raw).trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line
            .strip_prefix("export")
            .filter(|r| r.starts_with([' ', '\t']))
            .map_or(line, str::trim_start);
        let Some((name, rest)) = line.split_once('=') else {
            let name = line.trim_end();
            // `export` with nothing after it names no variable, as `export ` (whose
            // keyword is stripped above, leaving no name) does not.
            if !valid_name(name) || name == "export" {
                return Err(err(path, line_no, "expected NAME=VALUE"));
            }
            if let Some(v) = lookup(name) {
                out.push((name.to_owned(), v));
            }
            continue;
        };
        let name = name.trim_end();
        if !valid_name(name) {
            return Err(err(path, line_no, "invalid variable name"));
        }
        let rest = rest.trim_start();
        let value = if let Some(body) = rest.strip_prefix('\'') {
            let end = body
                .find('\'')
                .ok_or_else(|| err(path, line_no, "unterminated single quote"))?;
            check_tail(path, line_no, &body[end + 1..])?;
            body[..end].to_owned()
        } else if let Some(body) = rest.strip_prefix('"') {
            let (value, used) =
                unescape(body).ok_or_else(|| err(path, line_no, "unterminated double quote"))?;
            check_tail(path, line_no, &body[used..])?;
            value
        } else {
            let end = rest
                .char_indices()
                .find(|&(i, c)| c == '#' && i > 0 && rest[..i].ends_with([' ', '\t']))
                .map_or(rest.len(), |(i, _)| i);
            rest[..end].trim_end().to_owned()
        };
        out.push((name.to_owned(), value));
    }
    Ok(out)
}

/// After a closing quote only spaces or a comment may follow.
fn check_tail(path: &str, line: usize, tail: &str) -> Result<(), Error> {
    let tail = tail.trim_start();
    if tail.is_empty() || tail.starts_with('#') {
        Ok(())
    } else {
        Err(err(path, line, "unexpected text after a closing quote"))
    }
}

/// Unescapes a double-quoted body up to its closing quote: the value and the number
/// of bytes consumed (closing quote included); `None` if it never closes.
fn unescape(body: &str) -> Option<(String, usize)> {
    let mut out = String::new();
    let mut chars = body.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some((out, i + 1)),
            '\\' => match chars.next()?.1 {
                'n' => out.push('\n'),
                'r' => out.push('\r'),
                't' => out.push('\t'),
                e @ ('"' | '\\' | '$') => out.push(e),
                other => {
                    out.push('\\');
                    out.push(other);
                }
            },
            c => out.push(c),
        }
    }
    None
}
