//! The pattern algebra's pinned cases (docs/design.md §3.4).

use secrets_engine::{Id, Pattern};

fn p(s: &str) -> Pattern {
    Pattern::parse(s).unwrap()
}
fn id(s: &str) -> Id {
    Id::parse(s).unwrap()
}

#[test]
fn matching() {
    let cases: &[(&str, &str, bool)] = &[
        ("a", "a", true),
        ("a", "b", false),
        ("a", "A", false),
        ("*", "a", true),
        ("*", "a/b", false),
        ("**", "a", true),
        ("**", "a/b/c", true),
        ("a/**", "a", true),
        ("a/**", "a/b/c", true),
        ("a/**", "b/a", false),
        ("**/a", "a", true),
        ("**/a", "x/y/a", true),
        ("**/a", "x/a/y", false),
        ("a/*/c", "a/b/c", true),
        ("a/*/c", "a/c", false),
        ("a/**/c", "a/c", true),
        ("a/**/c", "a/b/b/c", true),
        ("*/**", "a", true),
        ("**/*", "a", true),
        ("**/mcp/auth/**", "mcp/auth", true),
        ("**/mcp/auth/**", "docker/mcp/auth/x/y", true),
        ("**/mcp/auth/**", "docker/mcp/x/auth", false),
        ("docker/*/auth/foo/bar/*", "docker/mcp/auth/foo/bar/x", true),
        ("**/a/**/a/**", "a/a", true),
        ("**/a/**/a/**", "a/b/c", false),
        ("127.0.0.1:8080/*", "127.0.0.1:8080/x", true),
    ];
    for &(pat, i, want) in cases {
        assert_eq!(p(pat).matches(&id(i)), want, "{pat} matches {i}");
    }
}

#[test]
fn case_insensitive_matching() {
    assert!(p("Op/Vault/*").matches_ignore_case(&id("op/VAULT/item")));
    assert!(!p("Op/Vault/*").matches(&id("op/VAULT/item")));
    assert!(!p("op/vault").matches_ignore_case(&id("op/vaults")));
}

#[test]
fn inclusion_pinned() {
    let cases: &[(&str, &str, bool)] = &[
        ("*/**", "**/*", true),
        ("**/*", "*/**", true),
        ("foo/*", "foo/**", false),
        ("foo/**", "foo/*", true),
        ("foo", "*", false),
        ("*", "foo", true),
        ("*", "**", false),
        ("**", "*", true),
        ("**", "a/**/b/*", true),
        ("**/mcp/auth/**", "docker/*/auth/foo/bar/*", false),
        ("docker/**", "docker/auth/*/alice", true),
        ("docker/**", "**/alice", false),
        ("**/a/*/**", "a/**/b", true),
        ("a/*/**", "a/**/*", true),
        ("a/**/*", "a/*/**", true),
        ("**/a/**", "**/a/*", true),
        ("**/a/*", "**/a/**", false),
        ("a/b", "a/b", true),
        ("a/b", "a/c", false),
        ("*/*", "**", false),
        ("**/**", "**", true),
    ];
    for &(a, b, want) in cases {
        assert_eq!(p(a).includes(&p(b)), want, "{a} includes {b}");
    }
}

#[test]
fn overlap_pinned() {
    let cases: &[(&str, &str, bool)] = &[
        ("a/*/c", "*/b/*", true),
        ("**/mcp/auth/**", "docker/*/auth/foo/bar/*", true),
        ("a/*", "b/**", false),
        ("a/*", "a", false),
        ("a/**", "a", true),
        ("*", "**", true),
        ("*/*", "*", false),
        ("**/x/**", "**/y/**", true),
        ("a/**/b", "**/c", false),
        ("a/**/b", "**/c/**", true),
        ("a", "A", false),
    ];
    for &(a, b, want) in cases {
        assert_eq!(p(a).overlaps(&p(b)), want, "{a} overlaps {b}");
        assert_eq!(p(b).overlaps(&p(a)), want, "{b} overlaps {a}");
    }
}

#[test]
fn many_double_stars_stay_fast() {
    // 100 `**` against a 64-component id: the greedy matcher is linear-ish here;
    // a backtracking matcher would never return. Correctness is what is asserted; the
    // time is reported by `cargo bench --bench pattern`.
    let many = vec!["**"; 100].join("/");
    let mut with_literal = many.clone();
    with_literal.push_str("/z");
    let long_id = id(&vec!["a"; 64].join("/"));
    assert!(p(&many).matches(&long_id));
    assert!(!p(&with_literal).matches(&long_id));
    assert!(p(&many).includes(&p(&with_literal)));
    assert!(!p(&with_literal).includes(&p(&many)));
    assert!(p(&many).overlaps(&p(&with_literal)));
    let alternating = vec!["**/a"; 50].join("/");
    assert!(!p(&alternating).matches(&id(&vec!["a"; 49].join("/"))));
    assert!(p(&alternating).matches(&long_id));
}

#[test]
fn ids_are_never_empty() {
    // L(**) has no empty id, so these are all the same set.
    for a in ["**", "*/**", "**/*", "**/**/*/**"] {
        for b in ["**", "*/**", "**/*", "**/**/*/**"] {
            assert!(p(a).includes(&p(b)), "{a} includes {b}");
        }
    }
    assert!(!p("*/*/**").includes(&p("**")));
}
