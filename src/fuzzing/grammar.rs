//! Fuzz bodies for the id, pattern and reference parsers, checked against a naive
//! reading of the grammar.

use super::MAX_MESSAGE;
use crate::error::Error;
use crate::error::SyntaxError;
use crate::{Id, MAX_LEN, Pattern, SCHEME, SecretRef};

// --- the grammar, naively --------------------------------------------------------

fn naive_char_ok(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b".-_:".contains(&b)
}

fn naive_component_ok(c: &str, wildcards: bool) -> bool {
    if c == "*" || c == "**" {
        return wildcards;
    }
    !c.is_empty() && c.bytes().all(naive_char_ok)
}

fn naive_valid(s: &str, wildcards: bool) -> bool {
    !s.is_empty() && s.len() <= MAX_LEN && s.split('/').all(|c| naive_component_ok(c, wildcards))
}

/// `input` of an error is the input itself, or its first 128 characters and `…`.
fn assert_excerpt(original: &str, excerpt: &str) {
    if original.chars().count() <= 128 {
        assert_eq!(excerpt, original);
    } else {
        let head: String = original.chars().take(128).collect();
        assert_eq!(excerpt, format!("{head}…"));
    }
}

/// The reason names the first bad component of `input`, and what it says is true.
fn assert_reason(input: &str, reason: &SyntaxError, wildcards: bool) {
    let component = match *reason {
        SyntaxError::Empty => return assert!(input.is_empty()),
        SyntaxError::TooLong { len } => {
            assert_eq!(len, input.len());
            return assert!(len > MAX_LEN);
        }
        SyntaxError::EmptyComponent { component }
        | SyntaxError::BadWildcard { component }
        | SyntaxError::WildcardInId { component }
        | SyntaxError::InvalidChar { component, .. } => component,
        ref other => panic!("unexpected reason {other:?} for {input:?}"),
    };
    assert!(!input.is_empty() && input.len() <= MAX_LEN);
    let parts: Vec<&str> = input.split('/').collect();
    assert!(
        parts[..component]
            .iter()
            .all(|c| naive_component_ok(c, wildcards))
    );
    let bad = parts[component];
    assert!(!naive_component_ok(bad, wildcards));
    let start: usize = parts[..component].iter().map(|c| c.len() + 1).sum();
    match *reason {
        SyntaxError::EmptyComponent { .. } => assert!(bad.is_empty()),
        SyntaxError::WildcardInId { .. } => assert!(!wildcards && (bad == "*" || bad == "**")),
        SyntaxError::BadWildcard { .. } => assert!(wildcards && bad.contains('*')),
        SyntaxError::InvalidChar { ch, offset, .. } => {
            assert!(offset >= start && offset < start + bad.len());
            assert!(input[offset..].starts_with(ch));
            assert!(!(ch.is_ascii() && naive_char_ok(ch as u8)));
        }
        _ => unreachable!(),
    }
}

fn assert_syntax_error(input: &str, e: &Error, wildcards: bool) {
    let (excerpt, reason) = match (e, wildcards) {
        (Error::InvalidId { input, reason }, false) => (input, reason),
        (Error::InvalidPattern { input, reason }, true) => (input, reason),
        (other, _) => panic!("unexpected error {other:?}"),
    };
    assert_excerpt(input, excerpt);
    assert_reason(input, reason, wildcards);
    assert!(e.to_string().len() <= MAX_MESSAGE);
}

/// An id in L(p): every `*` and `**` made one component `x`.
fn witness(p: &Pattern) -> Id {
    let parts: Vec<&str> = p
        .components()
        .map(|c| if c == "*" || c == "**" { "x" } else { c })
        .collect();
    Id::parse(&parts.join("/")).expect("a pattern's witness is an id")
}

/// Ids: accepted exactly when the naive grammar says so, round-trip through
/// `Display`, and an id is a pattern matching itself.
pub fn id(data: &[u8]) {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    match Id::parse(s) {
        Ok(id) => {
            assert!(naive_valid(s, false), "accepted {s:?}");
            assert_eq!(id.as_str(), s);
            let again = Id::parse(&format!("{id}")).expect("Display re-parses");
            assert_eq!(again, id);
            let parts: Vec<&str> = s.split('/').collect();
            assert_eq!(id.components().collect::<Vec<_>>(), parts);
            assert_eq!(id.len(), parts.len());
            assert!(id.starts_with_components(&parts));
            let p = Pattern::from(id.clone());
            assert_eq!(p.as_str(), s);
            assert!(p.matches(&id) && p.matches_ignore_case(&id));
            assert_eq!(p.as_id(), Some(id.clone()));
            assert_eq!(Pattern::parse(s).expect("an id is a pattern"), p);
            let r = SecretRef::parse(&format!("{SCHEME}{s}")).expect("a reference");
            assert_eq!(r.id(), Some(id));
        }
        Err(e) => {
            assert!(!naive_valid(s, false), "rejected {s:?}: {e}");
            assert_syntax_error(s, &e, false);
        }
    }
}

/// Patterns: the naive grammar, round trips, and the algebra's trivial truths.
pub fn pattern(data: &[u8]) {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    match Pattern::parse(s) {
        Ok(p) => {
            assert!(naive_valid(s, true), "accepted {s:?}");
            assert_eq!(p.to_string(), s);
            assert_eq!(Pattern::parse(&p.to_string()).expect("re-parses"), p);
            let parts: Vec<&str> = s.split('/').collect();
            assert_eq!(p.components().collect::<Vec<_>>(), parts);
            let literal: Vec<&str> = parts
                .iter()
                .copied()
                .take_while(|c| *c != "*" && *c != "**")
                .collect();
            assert_eq!(p.literal_prefix().collect::<Vec<_>>(), literal);
            assert_eq!(p.as_id().is_some(), literal.len() == parts.len());
            assert_eq!(p.as_id().is_some(), Id::parse(s).is_ok());
            let w = witness(&p);
            assert!(p.matches(&w) && p.matches_ignore_case(&w), "{p} !~ {w}");
            assert!(w.starts_with_components(&literal));
            assert!(p.includes(&p) && p.overlaps(&p) && p.overlaps_ignore_case(&p));
            let everything = Pattern::parse("**").expect("valid");
            assert!(everything.includes(&p) && everything.overlaps(&p));
            // Quadratic in the components: only where it stays cheap, so the fuzzer
            // spends its time on the grammar rather than on 2000-component tables.
            if parts.len() <= 64 {
                assert!(p.overlaps(&Pattern::from(w)));
            }
        }
        Err(e) => {
            assert!(!naive_valid(s, true), "rejected {s:?}: {e}");
            assert_syntax_error(s, &e, true);
        }
    }
}

/// `se://` references: plain values pass, references round-trip, errors name the
/// problem after the scheme.
pub fn reference(data: &[u8]) {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let rest = s.strip_prefix(SCHEME);
    match SecretRef::parse_env_value(s) {
        Ok(None) => assert!(rest.is_none()),
        Ok(Some(r)) => {
            let rest = rest.expect("a reference starts with the scheme");
            assert_eq!(r.to_string(), s);
            assert_eq!(r.pattern().as_str(), rest);
            assert_eq!(s.parse::<SecretRef>().expect("parses"), r);
            assert_eq!(r.id().is_some(), Id::parse(rest).is_ok());
        }
        Err(Error::InvalidReference { input, reason }) => {
            let rest = rest.expect("only references fail");
            assert!(Pattern::parse(rest).is_err());
            assert_excerpt(s, &input);
            assert_reason(rest, &reason, true);
        }
        Err(other) => panic!("unexpected error {other:?}"),
    }
    if rest.is_none() {
        let e = SecretRef::parse(s).expect_err("no scheme");
        assert!(matches!(
            e,
            Error::InvalidReference {
                reason: SyntaxError::MissingScheme,
                ..
            }
        ));
        assert!(e.to_string().len() <= MAX_MESSAGE);
    }
}
