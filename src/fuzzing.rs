//! The bodies of the fuzz targets, shared by the cargo-fuzz crate in `fuzz/` (nightly,
//! libFuzzer) and the corpus replay test `tests/fuzz_corpus.rs` (stable, part of the
//! test command). Each function takes arbitrary bytes, feeds them to one parser or
//! entry point, and panics only when an invariant fails: a panic inside the code
//! under test, an error that is long or quotes its input where it must not, an
//! accepted input that does not round-trip, or an answer that disagrees with a naive
//! reference.
//!
//! Only built with the `fuzzing` feature; not part of the API.
#![allow(unsafe_code)] // `c_abi` calls the exported C functions, as C does.

use std::collections::BTreeMap;
use std::ffi::{CStr, CString, c_char};
use std::path::Path;
use std::sync::OnceLock;

use crate::error::{Error, SyntaxError};
use crate::ffi::{self, se_status};
use crate::providers::{credential_helper, onepassword, vault};
use crate::{Id, MAX_LEN, Pattern, SCHEME, SecretRef, env_file};

/// A target's body: arbitrary bytes in, a panic when an invariant fails.
pub type Target = fn(&[u8]);

/// Every target, by name: what the fuzz crate builds and the replay test runs.
pub const TARGETS: &[(&str, Target)] = &[
    ("id", id),
    ("pattern", pattern),
    ("reference", reference),
    ("differential", differential),
    ("env_file", env_file),
    ("op_json", op_json),
    ("op_stderr", op_stderr),
    ("vault_json", vault_json),
    ("credential_helper_json", credential_helper_json),
    ("c_abi", c_abi),
];

/// Longest message an input-derived error may have: the excerpt is at most 128
/// characters, each at most 10 bytes once `{:?}`-escaped, plus the reason.
const MAX_MESSAGE: usize = 128 * 10 + 300;

/// The message with every run of digits replaced by `#`: what is left must be a
/// fixed template, so nothing of the input can be in it.
fn shape(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut in_digits = false;
    for c in message.chars() {
        if c.is_ascii_digit() {
            if !in_digits {
                out.push('#');
            }
            in_digits = true;
        } else {
            out.push(c);
            in_digits = false;
        }
    }
    out
}

/// A JSON parse error must be `<prefix> (<category> error at line N, column N)`:
/// serde_json's own messages can quote a value, and these values are secrets.
fn assert_json_error(e: &Error, prefix: &str) {
    let shape = shape(&e.to_string());
    let ok = ["Io", "Syntax", "Data", "Eof"]
        .iter()
        .any(|c| shape == format!("{prefix} ({c} error at line #, column #)"));
    assert!(ok, "unexpected JSON error message: {shape}");
}

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

// --- matcher and algebra against brute force --------------------------------------

/// Does `p` match `id`? A table of "p[i..] matches id[j..]" filled from the
/// definition: nothing shared with the greedy matcher or the automata of the algebra.
/// Sized for the short inputs of [`differential`], on the stack (this runs
/// thousands of times per input).
fn naive_matches(p: &[&str], id: &[&str], eq: fn(&str, &str) -> bool) -> bool {
    const P: usize = 8;
    const N: usize = 64;
    let (m, n) = (p.len(), id.len());
    assert!(m < P && n < N, "naive_matches is for short inputs");
    let mut ok = [[false; N]; P];
    ok[m][n] = true;
    for i in (0..m).rev() {
        for j in (0..=n).rev() {
            ok[i][j] = match p[i] {
                "**" => ok[i + 1][j] || (j < n && ok[i][j + 1]),
                "*" => j < n && ok[i + 1][j + 1],
                lit => j < n && eq(lit, id[j]) && ok[i + 1][j + 1],
            };
        }
    }
    ok[0][0]
}

fn exact(a: &str, b: &str) -> bool {
    a == b
}

fn ignore_case(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b)
}

/// The first id of 1..=max components over `alphabet` for which `f` holds.
fn find_id<'a>(
    alphabet: &[&'a str],
    max: usize,
    mut f: impl FnMut(&[&'a str]) -> bool,
) -> Option<Vec<&'a str>> {
    let mut word = Vec::with_capacity(max);
    for len in 1..=max {
        // Count in base alphabet.len() over `len` digits.
        let mut digits = vec![0usize; len];
        loop {
            word.clear();
            word.extend(digits.iter().map(|d| alphabet[*d]));
            if f(&word) {
                return Some(word);
            }
            let Some(k) = digits.iter().rposition(|d| *d + 1 < alphabet.len()) else {
                break;
            };
            digits[k] += 1;
            digits[k + 1..].iter_mut().for_each(|d| *d = 0);
        }
    }
    None
}

/// The non-empty words of `q` with every wildcard a fresh component `x` and each
/// `**` repeated 0..=max times; `None` when there would be more than `limit`.
fn fresh_words<'a>(q: &[&'a str], max: usize, limit: usize) -> Option<Vec<Vec<&'a str>>> {
    let stars = q.iter().filter(|c| **c == "**").count() as u32;
    if (max + 1).checked_pow(stars)? > limit {
        return None;
    }
    let mut words: Vec<Vec<&str>> = vec![Vec::new()];
    for c in q {
        words = match *c {
            "**" => words
                .iter()
                .flat_map(|w| {
                    (0..=max).map(move |k| {
                        let mut w = w.clone();
                        w.extend(std::iter::repeat_n("x", k));
                        w
                    })
                })
                .collect(),
            "*" => words
                .into_iter()
                .map(|mut w| {
                    w.push("x");
                    w
                })
                .collect(),
            lit => words
                .into_iter()
                .map(|mut w| {
                    w.push(lit);
                    w
                })
                .collect(),
        };
    }
    words.retain(|w| !w.is_empty());
    Some(words)
}

/// Two short patterns and an id decoded from the bytes: the first byte gives the
/// lengths, then one byte per component.
fn decode(data: &[u8]) -> Option<(Vec<&'static str>, Vec<&'static str>, Vec<&'static str>)> {
    const SEGS: [&str; 8] = ["a", "b", "A", "*", "**", "a", "*", "**"];
    const NAMES: [&str; 5] = ["a", "b", "A", "B", "x"];
    let (&head, rest) = data.split_first()?;
    let (plen, qlen) = (1 + head as usize % 6, 1 + (head as usize / 6) % 6);
    let mut bytes = rest.iter();
    let mut take = |n: usize| -> Vec<&'static str> {
        bytes
            .by_ref()
            .take(n)
            .map(|b| SEGS[*b as usize % 8])
            .collect()
    };
    let (p, q) = (take(plen), take(qlen));
    let id: Vec<&str> = bytes.take(16).map(|b| NAMES[*b as usize % 5]).collect();
    if p.is_empty() || q.is_empty() {
        return None;
    }
    Some((p, q, if id.is_empty() { vec!["a"] } else { id }))
}

/// The exact matcher against the naive one; `overlaps` and `includes` against brute
/// force over every id that can tell (ids over the literals and one fresh name,
/// up to the length a shortest witness can have).
pub fn differential(data: &[u8]) {
    let Some((p_parts, q_parts, id_parts)) = decode(data) else {
        return;
    };
    let p = Pattern::parse(&p_parts.join("/")).expect("decoded patterns are valid");
    let q = Pattern::parse(&q_parts.join("/")).expect("decoded patterns are valid");
    let id = Id::parse(&id_parts.join("/")).expect("decoded ids are valid");

    for (pat, parts) in [(&p, &p_parts), (&q, &q_parts)] {
        assert_eq!(
            pat.matches(&id),
            naive_matches(parts, &id_parts, exact),
            "{pat} matches {id}"
        );
        assert_eq!(
            pat.matches_ignore_case(&id),
            naive_matches(parts, &id_parts, ignore_case),
            "{pat} matches {id} ignoring case"
        );
    }

    // Overlap: a shortest common id advances at least one of the two patterns past
    // a non-`**` component at every step, so it has at most n + m components.
    let overlaps = p.overlaps(&q);
    assert_eq!(overlaps, q.overlaps(&p), "overlaps is symmetric");
    let singles = |parts: &[&str]| parts.iter().filter(|c| **c != "**").count();
    let bound = (singles(&p_parts) + singles(&q_parts)).max(1);
    if bound <= 5 {
        let common = find_id(&["a", "b", "A", "x"], bound, |w| {
            naive_matches(&p_parts, w, exact) && naive_matches(&q_parts, w, exact)
        });
        assert_eq!(overlaps, common.is_some(), "{p} overlaps {q}: {common:?}");
    }
    let overlaps_ic = p.overlaps_ignore_case(&q);
    assert_eq!(overlaps_ic, q.overlaps_ignore_case(&p));
    assert!(overlaps_ic || !overlaps);
    if bound <= 6 {
        let common = find_id(&["a", "b", "x"], bound, |w| {
            naive_matches(&p_parts, w, ignore_case) && naive_matches(&q_parts, w, ignore_case)
        });
        assert_eq!(
            overlaps_ic,
            common.is_some(),
            "{p} overlaps {q} ignoring case"
        );
    }

    // Inclusion. Sound: no short id of q escapes p when p includes q.
    let includes = p.includes(&q);
    if includes {
        assert!(overlaps, "{p} includes {q} but does not overlap it");
    }
    if includes && q.includes(&p) {
        assert_eq!(
            p.matches(&id),
            q.matches(&id),
            "{p} and {q} are equivalent but disagree on {id}"
        );
    }
    let escape = find_id(&["a", "b", "A", "x"], 4, |w| {
        naive_matches(&q_parts, w, exact) && !naive_matches(&p_parts, w, exact)
    });
    if let Some(w) = escape {
        assert!(!includes, "{p} includes {q}, but not {w:?}");
    }
    // Complete: when a wildcard of q can take a value p rejects, the fresh name
    // is rejected too (p only accepts it by a wildcard), and p's states on a run of
    // fresh names settle after len(p) of them: the fresh words with each `**`
    // repeated at most len(p) + 1 times decide it.
    if let Some(words) = fresh_words(&q_parts, p_parts.len() + 1, 1024) {
        let escapes = words.iter().find(|w| !naive_matches(&p_parts, w, exact));
        assert_eq!(includes, escapes.is_none(), "{p} includes {q}: {escapes:?}");
    }
}

// --- env files ---------------------------------------------------------------------

/// Env files: errors are exactly "env file <path>, line N: <fixed reason>" (never a
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

// --- what external tools print ------------------------------------------------------

/// Field `name` of a struct as serde reads it: from an object by name, or from an
/// array by position (derived `Deserialize` accepts both).
fn field<'a>(json: &'a serde_json::Value, name: &str, index: usize) -> &'a serde_json::Value {
    match json {
        serde_json::Value::Array(items) => items.get(index).unwrap_or(&serde_json::Value::Null),
        other => &other[name],
    }
}

/// Every candidate id is valid, lowercase and re-parses.
fn assert_ids(ids: &[Id]) {
    for id in ids {
        assert_eq!(Id::parse(id.as_str()).as_ref().ok(), Some(id));
        assert_eq!(id.as_str(), id.as_str().to_ascii_lowercase());
    }
}

/// `op --format json` output, as each command's type: errors say where, never what;
/// names normalize to valid ids.
pub fn op_json(data: &[u8]) {
    use onepassword::model::{ItemDetail, ItemSummary, Vault, normalize};
    use onepassword::parse_op_json;

    let normalized = |s: &str| {
        let n = normalize(s);
        assert!(
            n.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-._".contains(&b))
        );
        n
    };
    let prefix = |cmd: &str| format!("backend error: op {cmd} printed unexpected JSON");

    let whoami = ["whoami", "--format", "json"];
    if let Err(e) = parse_op_json::<serde_json::Value>(data, &whoami) {
        // The message names the first two arguments, as for every command.
        assert_json_error(&e, &prefix("whoami --format"));
    }
    match parse_op_json::<Vec<Vault>>(data, &["vault", "list", "--format", "json"]) {
        Ok(vaults) => vaults.iter().for_each(|v| {
            normalized(&v.name);
        }),
        Err(e) => assert_json_error(&e, &prefix("vault list")),
    }
    let list = ["item", "list", "--vault", "v", "--format", "json"];
    match parse_op_json::<Vec<ItemSummary>>(data, &list) {
        Ok(items) => {
            for item in items {
                let ids = item.candidates();
                assert!(ids.len() <= 3);
                assert!(ids.windows(2).all(|w| w[0] != w[1]));
                assert_ids(&ids);
                normalized(&item.title);
            }
        }
        Err(e) => assert_json_error(&e, &prefix("item list")),
    }
    let get = [
        "item", "get", "i", "--vault", "v", "--format", "json", "--reveal",
    ];
    match parse_op_json::<ItemDetail>(data, &get) {
        Ok(detail) => {
            let item = Id::parse("vault/item").expect("valid");
            for field in &detail.fields {
                let ids = field.ids_under(&item);
                assert!(ids.len() <= 2);
                assert_ids(&ids);
                for id in &ids {
                    assert!(id.starts_with_components(&["vault", "item"]));
                    assert_eq!(
                        id.components().last(),
                        field.label.as_deref().map(normalized).as_deref()
                    );
                }
            }
        }
        Err(e) => assert_json_error(&e, &prefix("item get")),
    }
}

/// `op`'s stderr (any bytes, read lossily): always one typed error, the time stamp
/// of an `[ERROR]` line never in it.
pub fn op_stderr(data: &[u8]) {
    let stderr = String::from_utf8_lossy(data);
    let e = onepassword::op::classify(&stderr);
    assert!(matches!(
        e,
        Error::Crashed { .. }
            | Error::Unavailable { .. }
            | Error::PermissionDenied { .. }
            | Error::NotFound { .. }
            | Error::Backend { .. }
    ));
    let message = e.to_string();
    assert!(!message.contains('\n'), "one line: {message:?}");
    assert!(message.len() <= stderr.len() + 100);
}

/// Vault's KV v2 `LIST` and read answers: errors say where, never what; every field
/// with an id-shaped name becomes one envelope holding exactly its value.
pub fn vault_json(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data)
        && let Some(t) = vault::parse_time(text)
    {
        assert!(t >= std::time::SystemTime::UNIX_EPOCH);
    }
    if let Err(e) = vault::parse_list(data, "team/app") {
        assert_json_error(&e, "backend error: vault: list team/app/: unexpected JSON");
    }
    let pattern = Pattern::parse("vault/**").expect("valid");
    let parsed = serde_json::from_slice(data);
    match vault::read_envelopes(parsed, "vault", "team/app", &pattern) {
        Ok(envelopes) => {
            // Ignored fields are skipped unchecked (invalid UTF-8 in them passes):
            // compare only what a full parse can see.
            let Ok(json) = serde_json::from_slice::<serde_json::Value>(data) else {
                return;
            };
            let fields: BTreeMap<String, serde_json::Value> =
                serde_json::from_value(field(field(&json, "data", 0), "data", 0).clone())
                    .unwrap_or_default();
            let expected: Vec<(String, Vec<u8>)> = fields
                .into_iter()
                .filter(|(k, _)| Id::parse(&format!("vault/team/app/{k}")).is_ok())
                .filter(|(k, _)| !k.contains('/'))
                .map(|(k, v)| {
                    let bytes = match v {
                        serde_json::Value::String(s) => s.into_bytes(),
                        other => other.to_string().into_bytes(),
                    };
                    (k, bytes)
                })
                .collect();
            let got: Vec<(String, Vec<u8>)> = envelopes
                .iter()
                .map(|e| {
                    assert!(e.id().starts_with_components(&["vault", "team", "app"]));
                    assert_eq!(e.id().len(), 4);
                    // "path" unless the secret's custom metadata says otherwise.
                    assert!(e.metadata().contains_key("path"));
                    let key = e.id().components().last().expect("4 components");
                    (key.to_owned(), e.value().expose().to_vec())
                })
                .collect();
            assert_eq!(got, expected);
        }
        Err(e) => assert_json_error(&e, "backend error: vault: read team/app: unexpected JSON"),
    }
}

/// A credential helper's `list` and `get` output: errors say where, never what;
/// server URLs become valid lowercase ids; `get` keeps the secret only as the value.
pub fn credential_helper_json(data: &[u8]) {
    let program = Path::new("docker-credential-fuzz");
    match credential_helper::parse_list(program, data) {
        Ok(servers) => {
            for server in servers.keys() {
                if let Some(id) = credential_helper::registry_id(server) {
                    assert_ids(std::slice::from_ref(&id));
                    assert!(id.starts_with_components(&["docker", "auth"]));
                    assert_eq!(id.len(), 3);
                }
            }
        }
        Err(e) => assert_json_error(
            &e,
            "backend error: docker-credential-fuzz list printed unexpected JSON",
        ),
    }
    if let Ok(text) = std::str::from_utf8(data)
        && let Some(id) = credential_helper::registry_id(text)
    {
        assert_ids(std::slice::from_ref(&id));
        assert_eq!(id.len(), 3);
    }
    let server = "https://registry.example:5000/v2/";
    let id = Id::parse("docker/auth/registry.example:5000").expect("valid");
    let parsed = serde_json::from_slice(data);
    match credential_helper::get_envelope(program, server, id.clone(), parsed) {
        Ok(Some(e)) => {
            assert!(format!("{e:?}").contains("SecretValue(<redacted>)"));
            // Ignored fields are skipped unchecked (invalid UTF-8 in them passes):
            // compare only what a full parse can see.
            let Ok(json) = serde_json::from_slice::<serde_json::Value>(data) else {
                return;
            };
            let text = |name, i| field(&json, name, i).as_str().unwrap_or("");
            let secret = text("Secret", 2);
            assert_eq!(e.value().expose(), secret.as_bytes());
            assert_eq!(e.id(), &id);
            let meta = e.metadata();
            assert_eq!(meta.len(), 2);
            assert_eq!(meta["username"], text("Username", 1));
            let url = Some(text("ServerURL", 0)).filter(|u| !u.is_empty());
            assert_eq!(meta["server_url"], url.unwrap_or(server));
        }
        Ok(None) => {
            if let Ok(json) = serde_json::from_slice::<serde_json::Value>(data) {
                assert!(field(&json, "Secret", 2).as_str().unwrap_or("").is_empty());
            }
        }
        Err(e) => assert_json_error(
            &e,
            "backend error: docker-credential-fuzz get printed unexpected JSON",
        ),
    }
}

// --- the C ABI -----------------------------------------------------------------------

struct EnginePtr(*mut ffi::se_engine);
// SAFETY: the engine is thread-safe (DESIGN §7) and never freed.
unsafe impl Send for EnginePtr {}
unsafe impl Sync for EnginePtr {}

const KNOWN_ID: &CStr = c"fuzz/known";
const KNOWN_VALUE: &[u8] = b"KNOWNVALUE";

/// One memory engine for the whole process (never freed: it lives as long as the
/// fuzzer does).
fn engine() -> *mut ffi::se_engine {
    static ENGINE: OnceLock<EnginePtr> = OnceLock::new();
    ENGINE
        .get_or_init(|| {
            let opts = ffi::se_engine_options {
                store: ffi::SE_STORE_MEMORY,
                config_path: std::ptr::null(),
                no_config: true,
                deadline_ms: 5_000,
            };
            let mut e = std::ptr::null_mut();
            // SAFETY: valid options and out-pointer.
            let s = unsafe { ffi::se_engine_new(&opts, &mut e) };
            assert_eq!(s, se_status::SE_STATUS_OK);
            EnginePtr(e)
        })
        .0
}

fn last_error() -> String {
    let mut buf = vec![0u8; 4096];
    let mut written = 0usize;
    // SAFETY: buf has buf.len() writable bytes.
    unsafe { ffi::se_last_error_message(buf.as_mut_ptr().cast(), buf.len(), &mut written) };
    String::from_utf8_lossy(&buf[..written]).into_owned()
}

fn utf8(b: &[u8]) -> Option<&str> {
    std::str::from_utf8(b).ok()
}

/// The exported functions fed arbitrary bytes (NUL-separated arguments): no panic
/// reaches C, statuses agree with the Rust API, out-pointers are set only on
/// success, last-error messages are short and copy correctly into any buffer.
pub fn c_abi(data: &[u8]) {
    use se_status::*;
    let parts: Vec<&[u8]> = data.split(|b| *b == 0).collect();
    let part = |i: usize| parts.get(i).copied().unwrap_or_default();
    let (a, b) = (part(0), part(1));
    let c = |bytes: &[u8]| CString::new(bytes).expect("split at NUL");
    let (ca, cb) = (c(a), c(b));
    let knob = data.iter().fold(0u8, |x, y| x.wrapping_add(*y));
    // Messages may name what was passed (a pattern, a provider name), escaped: never
    // more than that.
    let max_message = MAX_MESSAGE + 10 * data.len();
    let e = engine();

    // SAFETY (every call below): valid C strings, live engine, writable out-pointers,
    // lists freed once.
    unsafe {
        // Stateless validation.
        let id_ok = utf8(a).is_some_and(|s| Id::parse(s).is_ok());
        let pattern_ok = utf8(a).is_some_and(|s| Pattern::parse(s).is_ok());
        assert_eq!(ffi::se_id_is_valid(ca.as_ptr()), id_ok);
        assert_eq!(ffi::se_pattern_is_valid(ca.as_ptr()), pattern_ok);
        let want = match (utf8(a).map(Pattern::parse), utf8(b).map(Id::parse)) {
            (Some(Ok(p)), Some(Ok(i))) => p.matches(&i),
            _ => false,
        };
        assert_eq!(ffi::se_pattern_matches(ca.as_ptr(), cb.as_ptr()), want);
        let status = u32::from_le_bytes([part(0), &[0; 4]].concat()[..4].try_into().unwrap());
        assert!(!ffi::se_status_str(status).is_null());

        // Lookups.
        assert_eq!(
            ffi::se_engine_set_secret(
                e,
                KNOWN_ID.as_ptr(),
                KNOWN_VALUE.as_ptr(),
                KNOWN_VALUE.len()
            ),
            SE_STATUS_OK
        );
        let mut list = std::ptr::null_mut();
        let s = ffi::se_engine_get_secrets(e, ca.as_ptr(), &mut list);
        match utf8(a).map(Pattern::parse) {
            None => {
                assert_eq!(s, SE_STATUS_INVALID_UTF8);
                assert!(last_error().starts_with("pattern is not UTF-8"));
            }
            Some(Err(_)) => assert_eq!(s, SE_STATUS_INVALID_PATTERN),
            Some(Ok(p)) => {
                let known = p.matches(&Id::parse("fuzz/known").expect("valid"));
                assert_eq!(
                    s,
                    if known {
                        SE_STATUS_OK
                    } else {
                        SE_STATUS_NOT_FOUND
                    }
                );
            }
        }
        assert_eq!(list.is_null(), s != SE_STATUS_OK);
        if s == SE_STATUS_OK {
            assert_eq!(ffi::se_envelope_list_len(list), 1);
            let env = ffi::se_envelope_list_get(list, 0);
            let (mut ptr, mut len) = (std::ptr::null(), 0usize);
            ffi::se_envelope_value(env, &mut ptr, &mut len);
            assert_eq!(std::slice::from_raw_parts(ptr, len), KNOWN_VALUE);
            assert!(ffi::se_envelope_list_get(list, 1).is_null());
        }
        ffi::se_envelope_list_free(list);
        if s != SE_STATUS_OK {
            assert!(ffi::se_last_error_length() <= max_message);
        }

        // Store, read back, remove: a value of any bytes under any id.
        let value = part(1);
        let s = ffi::se_engine_set_secret(e, ca.as_ptr(), value.as_ptr(), value.len());
        match utf8(a).map(Id::parse) {
            None => assert_eq!(s, SE_STATUS_INVALID_UTF8),
            Some(Err(_)) => assert_eq!(s, SE_STATUS_INVALID_ID),
            Some(Ok(id)) if id.as_str() == "fuzz/known" => assert_eq!(s, SE_STATUS_OK),
            Some(Ok(id)) => {
                assert_eq!(s, SE_STATUS_OK);
                let mut list = std::ptr::null_mut();
                let s = ffi::se_engine_get_secrets(e, ca.as_ptr(), &mut list);
                if crate::engine::is_internal(&id) {
                    assert_eq!(s, SE_STATUS_NOT_FOUND);
                } else {
                    assert_eq!(s, SE_STATUS_OK);
                    let env = ffi::se_envelope_list_get(list, 0);
                    assert_eq!(CStr::from_ptr(ffi::se_envelope_id(env)), ca.as_c_str());
                    let (mut ptr, mut len) = (std::ptr::null(), 0usize);
                    ffi::se_envelope_value(env, &mut ptr, &mut len);
                    assert_eq!(len, value.len());
                    if len > 0 {
                        assert_eq!(std::slice::from_raw_parts(ptr, len), value);
                    }
                }
                ffi::se_envelope_list_free(list);
                assert_eq!(ffi::se_engine_remove_secret(e, ca.as_ptr()), SE_STATUS_OK);
                assert_eq!(
                    ffi::se_engine_remove_secret(e, ca.as_ptr()),
                    SE_STATUS_NOT_FOUND
                );
            }
        }

        // Metadata keys and values of any bytes.
        let (k, v) = (c(part(2)), c(part(3)));
        let keys = [k.as_ptr()];
        let values = [v.as_ptr()];
        let s = ffi::se_engine_set_secret_with_metadata(
            e,
            c"fuzz/meta".as_ptr(),
            b"v".as_ptr(),
            1,
            keys.as_ptr(),
            values.as_ptr(),
            1,
        );
        let meta_ok = utf8(part(2)).is_some() && utf8(part(3)).is_some();
        assert_eq!(
            s,
            if meta_ok {
                SE_STATUS_OK
            } else {
                SE_STATUS_INVALID_UTF8
            }
        );
        if meta_ok {
            let mut list = std::ptr::null_mut();
            assert_eq!(
                ffi::se_engine_get_secrets(e, c"fuzz/meta".as_ptr(), &mut list),
                SE_STATUS_OK
            );
            let env = ffi::se_envelope_list_get(list, 0);
            let (mut kp, mut vp) = (std::ptr::null(), std::ptr::null());
            let n = ffi::se_envelope_metadata_len(env);
            let found = (0..n).any(|i| {
                assert_eq!(
                    ffi::se_envelope_metadata_get(env, i, &mut kp, &mut vp),
                    SE_STATUS_OK
                );
                CStr::from_ptr(kp) == k.as_c_str() && CStr::from_ptr(vp) == v.as_c_str()
            });
            assert!(found);
            assert_eq!(
                ffi::se_envelope_metadata_get(env, n, &mut kp, &mut vp),
                SE_STATUS_INVALID_ARGUMENT
            );
            ffi::se_envelope_list_free(list);
            assert_eq!(
                ffi::se_engine_remove_secret(e, c"fuzz/meta".as_ptr()),
                SE_STATUS_OK
            );
        }

        // An env list of the arguments: every entry comes back, resolved or as is.
        let entries: Vec<&CStr> = [ca.as_c_str(), cb.as_c_str()].into_iter().collect();
        let ptrs: Vec<*const c_char> = entries.iter().map(|s| s.as_ptr()).collect();
        let flags = i32::from(knob % 3);
        let mut out = std::ptr::null_mut();
        let s = ffi::se_engine_resolve_env(e, ptrs.as_ptr(), ptrs.len(), flags, &mut out);
        assert_ne!(s, SE_STATUS_PANIC);
        assert_eq!(out.is_null(), s != SE_STATUS_OK);
        if flags == 2 {
            assert_eq!(s, SE_STATUS_INVALID_ARGUMENT);
        }
        if s == SE_STATUS_OK {
            assert_eq!(ffi::se_string_list_len(out), entries.len());
            for (i, entry) in entries.iter().enumerate() {
                let got = CStr::from_ptr(ffi::se_string_list_get(out, i)).to_bytes();
                let entry = entry.to_bytes();
                let eq = entry.iter().position(|b| *b == b'=').expect("has '='");
                assert_eq!(got[..=eq], entry[..=eq]);
                let resolved = [&entry[..=eq], KNOWN_VALUE].concat();
                assert!(got == entry || got == resolved.as_slice(), "{i}");
            }
            assert!(ffi::se_string_list_get(out, entries.len()).is_null());
        } else {
            assert!(ffi::se_last_error_length() <= max_message);
        }
        ffi::se_string_list_free(out);

        // Listing and plugins by arbitrary name.
        let mut ids = std::ptr::null_mut();
        let s = ffi::se_engine_list_secrets(e, ca.as_ptr(), &mut ids);
        assert_eq!(
            s,
            match utf8(a).map(Pattern::parse) {
                None => SE_STATUS_INVALID_UTF8,
                Some(Err(_)) => SE_STATUS_INVALID_PATTERN,
                Some(Ok(_)) => SE_STATUS_OK,
            }
        );
        ffi::se_string_list_free(ids);
        let s = ffi::se_engine_enable_plugin(e, ca.as_ptr());
        assert!(matches!(
            s,
            SE_STATUS_INVALID_UTF8 | SE_STATUS_UNKNOWN_PROVIDER | SE_STATUS_NOT_CONFIGURABLE
        ));

        // The last error copies into a buffer of any size.
        let total = ffi::se_last_error_length();
        assert!(total <= max_message);
        let len = usize::from(knob % 40);
        let mut buf = vec![0x55u8; len];
        let mut written = usize::MAX;
        let ptr = if len == 0 {
            std::ptr::null_mut()
        } else {
            buf.as_mut_ptr().cast()
        };
        let s = ffi::se_last_error_message(ptr, len, &mut written);
        assert_eq!(written, total.min(len.saturating_sub(1)));
        assert_eq!(
            s,
            if written < total {
                SE_STATUS_BUFFER_TOO_SMALL
            } else {
                SE_STATUS_OK
            }
        );
        if len > 0 {
            assert_eq!(buf[written], 0);
        }
    }
}
