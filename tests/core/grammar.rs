//! The id/pattern/reference grammar, pinned case by case (docs/design.md §3).

use secrets_engine::{Error, Id, MAX_LEN, Pattern, SecretRef, SyntaxError};

fn id_reason(s: &str) -> SyntaxError {
    match Id::parse(s) {
        Err(Error::InvalidId { reason, .. }) => reason,
        other => panic!("{s:?} should be an invalid id, got {other:?}"),
    }
}

fn pattern_reason(s: &str) -> SyntaxError {
    match Pattern::parse(s) {
        Err(Error::InvalidPattern { reason, .. }) => reason,
        other => panic!("{s:?} should be an invalid pattern, got {other:?}"),
    }
}

#[test]
fn valid_ids() {
    for s in [
        "a",
        "docker/auth/hub/alice",
        "127.0.0.1:8080",
        "docker/auth/127.0.0.1:5000",
        "A-b_c.d:e",
        "x/y/z/0/1/2",
        "...",
        ":",
    ] {
        let id = Id::parse(s).unwrap_or_else(|e| panic!("{s:?}: {e}"));
        assert_eq!(id.as_str(), s);
        assert_eq!(id.to_string(), s);
        assert_eq!(s.parse::<Id>().unwrap(), id);
        assert_eq!(id.components().collect::<Vec<_>>().join("/"), s);
        // Every id is a pattern matching itself.
        let p = Pattern::from(id.clone());
        assert!(p.matches(&id));
        assert_eq!(Pattern::parse(s).unwrap(), p);
    }
}

#[test]
fn invalid_ids_say_what_and_where() {
    assert_eq!(id_reason(""), SyntaxError::Empty);
    assert_eq!(
        id_reason("/a"),
        SyntaxError::EmptyComponent { component: 0 }
    );
    assert_eq!(
        id_reason("a/"),
        SyntaxError::EmptyComponent { component: 1 }
    );
    assert_eq!(
        id_reason("a//b"),
        SyntaxError::EmptyComponent { component: 1 }
    );
    assert_eq!(id_reason("/"), SyntaxError::EmptyComponent { component: 0 });
    assert_eq!(
        id_reason("a/b c"),
        SyntaxError::InvalidChar {
            component: 1,
            ch: ' ',
            offset: 3
        }
    );
    assert_eq!(
        id_reason("a#b"),
        SyntaxError::InvalidChar {
            component: 0,
            ch: '#',
            offset: 1
        }
    );
    assert_eq!(
        id_reason("x/é"),
        SyntaxError::InvalidChar {
            component: 1,
            ch: 'é',
            offset: 2
        }
    );
    assert_eq!(id_reason("a/*"), SyntaxError::WildcardInId { component: 1 });
    assert_eq!(id_reason("**"), SyntaxError::WildcardInId { component: 0 });
    assert!(matches!(
        id_reason("a/b*"),
        SyntaxError::InvalidChar { ch: '*', .. }
    ));
    assert!(matches!(
        id_reason("a\0b"),
        SyntaxError::InvalidChar { ch: '\0', .. }
    ));
    assert!(matches!(
        id_reason("a\nb"),
        SyntaxError::InvalidChar { ch: '\n', .. }
    ));
    let msg = Id::parse("a/b c").unwrap_err().to_string();
    assert!(msg.contains("component 1") && msg.contains("' '"), "{msg}");
}

#[test]
fn invalid_patterns_say_what_and_where() {
    assert_eq!(pattern_reason(""), SyntaxError::Empty);
    for (s, c) in [
        ("***", 0),
        ("a/*a", 1),
        ("a*", 0),
        ("a/b/**c", 2),
        ("*/**/x*y", 2),
    ] {
        assert_eq!(
            pattern_reason(s),
            SyntaxError::BadWildcard { component: c },
            "{s}"
        );
    }
    assert_eq!(
        pattern_reason("**/"),
        SyntaxError::EmptyComponent { component: 1 }
    );
    assert!(matches!(
        pattern_reason("a b"),
        SyntaxError::InvalidChar { ch: ' ', .. }
    ));
    assert!(matches!(
        pattern_reason("ü/*"),
        SyntaxError::InvalidChar { ch: 'ü', .. }
    ));
    for s in [
        "*",
        "**",
        "*/**",
        "**/*",
        "a/**/b",
        "**/mcp/auth/**",
        "a:b/*",
    ] {
        assert_eq!(Pattern::parse(s).unwrap().to_string(), s);
    }
}

#[test]
fn length_limit() {
    let max = "a".repeat(MAX_LEN);
    assert!(Id::parse(&max).is_ok());
    assert!(Pattern::parse(&max).is_ok());
    let over = "a".repeat(MAX_LEN + 1);
    assert_eq!(id_reason(&over), SyntaxError::TooLong { len: MAX_LEN + 1 });
    assert_eq!(
        pattern_reason(&over),
        SyntaxError::TooLong { len: MAX_LEN + 1 }
    );
    // The message quotes an excerpt, not the whole input.
    let msg = Id::parse(&"b".repeat(1 << 20)).unwrap_err().to_string();
    assert!(msg.len() < 400, "message is {} bytes", msg.len());
    // The most components an id can have: 2048 one-letter components.
    let many = vec!["a"; MAX_LEN / 2].join("/");
    assert_eq!(Id::parse(&many).unwrap().len(), MAX_LEN / 2);
}

#[test]
fn references() {
    let r = SecretRef::parse("se://docker/auth/**").unwrap();
    assert_eq!(r.pattern().as_str(), "docker/auth/**");
    assert_eq!(r.to_string(), "se://docker/auth/**");
    assert!(r.id().is_none());
    assert_eq!(
        SecretRef::parse("se://a/b").unwrap().id().unwrap().as_str(),
        "a/b"
    );

    assert!(SecretRef::parse_env_value("plain").unwrap().is_none());
    assert!(SecretRef::parse_env_value("").unwrap().is_none());
    assert!(SecretRef::parse_env_value("SE://a").unwrap().is_none());
    assert!(SecretRef::parse_env_value(" se://a").unwrap().is_none());
    assert!(SecretRef::parse_env_value("se://a").unwrap().is_some());
    for bad in [
        "se://",
        "se:///a",
        "se://a/",
        "se://a b",
        "se://a*",
        "se://a/\u{e9}",
    ] {
        match SecretRef::parse_env_value(bad) {
            Err(Error::InvalidReference { .. }) => {}
            other => panic!("{bad:?}: {other:?}"),
        }
    }
    assert!(matches!(
        SecretRef::parse("docker/x"),
        Err(Error::InvalidReference {
            reason: SyntaxError::MissingScheme,
            ..
        })
    ));
}

#[test]
fn literal_prefix_and_as_id() {
    let p = Pattern::parse("a/b/*/c/**").unwrap();
    assert_eq!(p.literal_prefix().collect::<Vec<_>>(), ["a", "b"]);
    assert_eq!(Pattern::parse("**/a").unwrap().literal_prefix().count(), 0);
    assert!(p.as_id().is_none());
    assert_eq!(
        Pattern::parse("a/b").unwrap().as_id(),
        Some(Id::parse("a/b").unwrap())
    );
}
