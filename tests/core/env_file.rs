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
