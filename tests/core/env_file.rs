//! The env-file parser: dotenv syntax, no `$` expansion, errors that never quote.

use secrets_engine::Error;
use secrets_engine::env_file::parse;

fn ok(text: &str) -> Vec<(String, String)> {
    parse("t.env", text, |n| {
        (n == "INHERITED").then(|| "from-env".to_string())
    })
    .unwrap()
}

fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
    v.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

#[test]
fn syntax() {
    assert_eq!(
        ok(
            "# comment\n\n  A=1\nexport B = two words  \nC='single $NOT # kept'\nD=\"tab\\there \\\"q\\\" \\$X\"\nE=v # trailing comment\nF=a#b\nG=\nH=\"\"\r\nINHERITED\nMISSING\n\texport\tI=i\n"
        ),
        pairs(&[
            ("A", "1"),
            ("B", "two words"),
            ("C", "single $NOT # kept"),
            ("D", "tab\there \"q\" $X"),
            ("E", "v"),
            ("F", "a#b"),
            ("G", ""),
            ("H", ""),
            ("INHERITED", "from-env"),
            ("I", "i"),
        ])
    );
    // No expansion: the value is what the file says.
    assert_eq!(
        ok("PASS=abc$def\nQ=${HOME}"),
        pairs(&[("PASS", "abc$def"), ("Q", "${HOME}")])
    );
    // `=` inside values, and references.
    assert_eq!(
        ok("T=se://gh/token\nU=a=b=c"),
        pairs(&[("T", "se://gh/token"), ("U", "a=b=c")])
    );
    assert_eq!(ok("exportX=1"), pairs(&[("exportX", "1")]));
}

#[test]
fn errors_name_the_line_never_its_text() {
    let secret = "sk-live-SUPERSECRET";
    for (text, line, reason) in [
        (format!("OK=1\nAPI_KEY={secret} \"oops\"\n"), 0, ""),
        (
            format!("OK=1\nAPI_KEY=\"{secret}\n"),
            2,
            "unterminated double quote",
        ),
        (
            format!("API_KEY='{secret}\n"),
            1,
            "unterminated single quote",
        ),
        (
            format!("API_KEY=\"{secret}\" trailing\n"),
            1,
            "unexpected text after a closing quote",
        ),
        (format!("BAD NAME={secret}\n"), 1, "invalid variable name"),
        (format!("1X={secret}\n"), 1, "invalid variable name"),
        (format!("{secret} with spaces\n"), 1, "expected NAME=VALUE"),
    ] {
        match parse("t.env", &text, |_| None) {
            Ok(v) => assert_eq!(line, 0, "{text:?} parsed as {v:?}"),
            Err(e) => {
                assert!(
                    matches!(e, Error::EnvFile { line: l, reason: r, .. } if l == line && r == reason),
                    "{e:?}"
                );
                let msg = e.to_string();
                assert!(!msg.contains("SUPERSECRET"), "{msg}");
                assert!(
                    msg.contains("t.env") && msg.contains(&format!("line {line}")),
                    "{msg}"
                );
            }
        }
    }
}

#[test]
fn double_quote_escapes() {
    assert_eq!(
        ok(r#"A="l1\nl2"
B="cr\rlf\n"
C="back\\slash\\"
D="\\n is not a newline"
E="tab\t$\$"
"#),
        pairs(&[
            ("A", "l1\nl2"),
            ("B", "cr\rlf\n"),
            ("C", "back\\slash\\"),
            ("D", "\\n is not a newline"),
            ("E", "tab\t$$"),
        ])
    );
    // Any other escape is kept as written, backslash included.
    assert_eq!(
        ok(r#"U="\q\x41\u00e9\'\ end""#),
        pairs(&[("U", r"\q\x41\u00e9\'\ end")])
    );
    // No escapes at all in single quotes, nor unquoted.
    assert_eq!(
        ok(r"S='a\nb\\c'
N=a\nb\\c"),
        pairs(&[("S", r"a\nb\\c"), ("N", r"a\nb\\c")])
    );
    // A backslash before the closing quote escapes it: the value never closes.
    let e = parse("t.env", "A=\"ends with \\\"\n", |_| None).unwrap_err();
    assert!(
        matches!(
            e,
            Error::EnvFile {
                line: 1,
                reason: "unterminated double quote",
                ..
            }
        ),
        "{e:?}"
    );
}

#[test]
fn byte_order_mark() {
    // Only at the start of the file, where editors on Windows put it.
    assert_eq!(ok("\u{FEFF}A=1\nB=2"), pairs(&[("A", "1"), ("B", "2")]));
    assert_eq!(ok("\u{FEFF}# comment\nA=1"), pairs(&[("A", "1")]));
    assert_eq!(ok("\u{FEFF}export A=1"), pairs(&[("A", "1")]));
    // Anywhere else it is a character like any other: inside a value it stays, before
    // a name it makes the name invalid.
    assert_eq!(ok("A=x\u{FEFF}y"), pairs(&[("A", "x\u{FEFF}y")]));
    let e = parse("t.env", "A=1\n\u{FEFF}B=2", |_| None).unwrap_err();
    assert!(
        matches!(
            e,
            Error::EnvFile {
                line: 2,
                reason: "invalid variable name",
                ..
            }
        ),
        "{e:?}"
    );
}

#[test]
fn duplicate_names_are_kept_in_file_order() {
    // Callers apply entries in order, so the last one wins (docker-pass run does).
    assert_eq!(
        ok("A=1\nB=x\nA=2\nexport A='3'\nINHERITED\nINHERITED=file"),
        pairs(&[
            ("A", "1"),
            ("B", "x"),
            ("A", "2"),
            ("A", "3"),
            ("INHERITED", "from-env"),
            ("INHERITED", "file"),
        ])
    );
}

#[test]
fn export_alone_names_nothing() {
    for text in [
        "export",
        "export ",
        "  export\t",
        "export\r\n",
        "A=1\nexport\n",
    ] {
        let e = parse("t.env", text, |_| Some("looked up".into())).unwrap_err();
        let line = text.lines().count();
        assert!(
            matches!(e, Error::EnvFile { line: l, reason: "expected NAME=VALUE", .. } if l == line),
            "{text:?}: {e:?}"
        );
    }
    // A variable may still be called export, with a value.
    assert_eq!(ok("export=1"), pairs(&[("export", "1")]));
    assert_eq!(ok("export export=2"), pairs(&[("export", "2")]));
    // And export before a bare name looks that name up.
    assert_eq!(ok("export INHERITED"), pairs(&[("INHERITED", "from-env")]));
}
