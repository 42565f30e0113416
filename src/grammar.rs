//! The shared component grammar of ids and patterns (docs/design.md §3).
//!
//! One linear pass over the bytes; no regex, no backtracking, so a 4 KiB
//! input costs 4 KiB of work and an oversized one is rejected before any scan.

use crate::error::SyntaxError;

/// Longest id or pattern accepted, in bytes.
pub const MAX_LEN: usize = 4096;

/// One component as written: where it lies in the input and what kind it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Token {
    /// Plain name; byte range `[start, end)` of the input.
    Name { start: u16, end: u16 },
    /// `*`: exactly one component.
    One,
    /// `**`: zero or more components.
    Any,
}

fn allowed(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b':')
}

/// Splits `input` into components and checks each one.
///
/// With `wildcards == false` a `*` or `**` component is [`SyntaxError::WildcardInId`].
pub(crate) fn tokenize(input: &str, wildcards: bool) -> Result<Vec<Token>, SyntaxError> {
    if input.is_empty() {
        return Err(SyntaxError::Empty);
    }
    if input.len() > MAX_LEN {
        return Err(SyntaxError::TooLong { len: input.len() });
    }
    let bytes = input.as_bytes();
    let mut tokens = Vec::with_capacity(bytes.iter().filter(|&&b| b == b'/').count() + 1);
    let mut start = 0usize;
    for (component, piece) in input.split('/').enumerate() {
        let end = start + piece.len();
        if piece.is_empty() {
            return Err(SyntaxError::EmptyComponent { component });
        }
        let token = match piece {
            "*" | "**" if !wildcards => return Err(SyntaxError::WildcardInId { component }),
            "*" => Token::One,
            "**" => Token::Any,
            _ => {
                for (i, &b) in piece.as_bytes().iter().enumerate() {
                    if b == b'*' && wildcards {
                        return Err(SyntaxError::BadWildcard { component });
                    }
                    if !allowed(b) {
                        // Report the whole character, not a byte of its UTF-8 encoding.
                        let ch = input[start + i..].chars().next().unwrap_or('\u{FFFD}');
                        return Err(SyntaxError::InvalidChar {
                            component,
                            ch,
                            offset: start + i,
                        });
                    }
                }
                // MAX_LEN fits in u16, checked above.
                Token::Name {
                    start: start as u16,
                    end: end as u16,
                }
            }
        };
        tokens.push(token);
        start = end + 1;
    }
    Ok(tokens)
}
