//! Parses `se://` references given on the command line (or a few built-in ones) and
//! shows which of a set of provider patterns would be asked for each.
//!
//! `cargo run --example resolve_reference -- se://docker/auth/*/alice`

use secrets_engine::{Pattern, SecretRef};

fn main() {
    let providers = [
        ("docker-pass", "**"),
        ("vault", "vault/**"),
        ("credential-helper", "docker/auth/**"),
    ];
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    if args.is_empty() {
        args = [
            "se://docker/auth/hub/alice",
            "se://vault/db/*",
            "se://bad//ref",
            "plain-value",
        ]
        .map(String::from)
        .to_vec();
    }
    for value in args {
        match SecretRef::parse_env_value(&value) {
            Ok(None) => println!("{value}: not a reference, passed through"),
            Ok(Some(r)) => {
                let asked: Vec<&str> = providers
                    .iter()
                    .filter(|(_, p)| Pattern::parse(p).expect("valid").overlaps(r.pattern()))
                    .map(|(n, _)| *n)
                    .collect();
                println!("{r}: asks {}", asked.join(", "));
            }
            Err(e) => println!("error: {e}"),
        }
    }
}
