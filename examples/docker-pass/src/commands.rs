//! set, get, ls, rm and plugins ls.

use std::io::{IsTerminal, Read, Write};

use base64::Engine as _;
use secrets_engine::{Engine, Envelope, Id, Metadata, Pattern, ProviderState, SecretValue};
use serde_json::{Value, json};
use zeroize::Zeroize;

use crate::Failure;

fn read_value(id: &Id) -> Result<SecretValue, Failure> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        let typed = match crate::prompt::hidden(&format!("Secret for {id}: ")) {
            Ok(typed) => typed,
            Err(crate::prompt::NotRead::Interrupted) => return Err(Failure::new("", 130)),
            Err(crate::prompt::NotRead::Abandoned) => zeroize::Zeroizing::new(String::new()),
            Err(crate::prompt::NotRead::Failed(e)) => {
                return Err(Failure::new(format!("cannot read the value: {e}"), 1));
            }
        };
        if typed.is_empty() {
            return Err(Failure::new(
                format!("no value typed for {id} (to store an empty value, use `set {id}=`)"),
                1,
            ));
        }
        return Ok(SecretValue::from(typed.as_bytes()));
    }
    let mut bytes = Vec::new();
    stdin
        .lock()
        .read_to_end(&mut bytes)
        .map_err(|e| Failure::new(format!("cannot read the value from stdin: {e}"), 1))?;
    if bytes.is_empty() {
        return Err(Failure::new(
            format!("no value on stdin for {id} (to store an empty value, use `set {id}=`)"),
            1,
        ));
    }
    Ok(SecretValue::new(bytes))
}

fn parse_metadata(items: &[String]) -> Result<Metadata, Failure> {
    items
        .iter()
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
            _ => Err(Failure::new(format!("metadata {kv:?} is not KEY=VALUE"), 1)),
        })
        .collect()
}

pub(crate) fn set(engine: &Engine, spec: &str, metadata: &[String]) -> Result<(), Failure> {
    let metadata = parse_metadata(metadata)?;
    let (id, value) = match spec.split_once('=') {
        Some((id, value)) => {
            eprintln!(
                "docker-pass: warning: a value on the command line is visible to other users in the process list; prefer stdin: printf %s \"$VALUE\" | docker-pass set {id}"
            );
            (Id::parse(id)?, Some(SecretValue::from(value)))
        }
        None => (Id::parse(spec)?, None),
    };
    let value = match value {
        Some(v) => v,
        None => read_value(&id)?,
    };
    engine.blocking().set(&id, value, metadata)?;
    Ok(())
}

fn envelope_json(e: &Envelope, reveal: bool) -> Value {
    let mut o = json!({
        "id": e.id().as_str(),
        "provider": e.provider(),
        "metadata": e.metadata(),
    });
    if let Some(v) = e.version() {
        o["version"] = json!(v);
    }
    if reveal {
        match e.value().expose_str() {
            Some(s) => o["value"] = json!(s),
            None => {
                o["value_base64"] =
                    json!(base64::engine::general_purpose::STANDARD.encode(e.value().expose()))
            }
        }
    }
    o
}

pub(crate) fn get(engine: &Engine, pattern: &str, reveal: bool, json: bool) -> Result<(), Failure> {
    let pattern = Pattern::parse(pattern)?;
    if reveal && !json {
        // Raw bytes of exactly one value: the same rule as `run`.
        let value = engine.blocking().resolve_one(&pattern)?;
        let mut out = std::io::stdout().lock();
        return out
            .write_all(value.expose())
            .and_then(|()| out.flush())
            .map_err(|e| Failure::new(format!("cannot write the value: {e}"), 1));
    }
    let (envelopes, failures) = engine.blocking().get_secrets(&pattern)?.into_parts();
    for f in &failures {
        eprintln!("docker-pass: warning: {f}");
    }
    let mut out = std::io::stdout().lock();
    let written = if json {
        let all: Vec<Value> = envelopes.iter().map(|e| envelope_json(e, reveal)).collect();
        writeln!(out, "{}", Value::Array(all))
    } else {
        envelopes.iter().enumerate().try_for_each(|(i, e)| {
            if i > 0 {
                writeln!(out)?;
            }
            writeln!(
                out,
                "ID: {}\nProvider: {}\nValue: ********",
                e.id(),
                e.provider()
            )
        })
    };
    written.map_err(|e| Failure::new(format!("cannot write: {e}"), 1))?;
    if failures.is_empty() {
        Ok(())
    } else {
        Err(Failure::new("", 1))
    }
}

pub(crate) fn ls(engine: &Engine, pattern: Option<&str>, json: bool) -> Result<(), Failure> {
    let pattern = Pattern::parse(pattern.unwrap_or("**"))?;
    let items = engine.blocking().list(&pattern)?;
    let store = engine.default_store().unwrap_or_default();
    let mut out = std::io::stdout().lock();
    let written = if json {
        let all: Vec<Value> = items
            .iter()
            .map(|l| json!({"id": l.id.as_str(), "provider": store, "metadata": l.metadata}))
            .collect();
        writeln!(out, "{}", Value::Array(all))
    } else {
        items.iter().try_for_each(|l| writeln!(out, "{}", l.id))
    };
    written.map_err(|e| Failure::new(format!("cannot write: {e}"), 1))
}

pub(crate) fn rm(engine: &Engine, ids: &[String], all: bool) -> Result<(), Failure> {
    let targets: Vec<String> = if all {
        engine
            .blocking()
            .list(&Pattern::parse("**").expect("valid"))?
            .into_iter()
            .map(|l| l.id.to_string())
            .collect()
    } else {
        ids.to_vec()
    };
    let mut failed = 0;
    for target in &targets {
        let outcome = Id::parse(target).and_then(|id| engine.blocking().remove(&id));
        match outcome {
            Ok(()) => println!("removed: {target}"),
            Err(e) => {
                failed += 1;
                println!("error: {target}: {e}");
            }
        }
    }
    if failed > 0 {
        Err(Failure::new(
            format!("{failed} of {} could not be removed", targets.len()),
            1,
        ))
    } else {
        Ok(())
    }
}

/// What unlocks a locked provider.
fn locked_hint(name: &str) -> String {
    if name == secrets_engine::providers::file::NAME {
        "set SECRETS_ENGINE_FILE_PASSPHRASE or SECRETS_ENGINE_FILE_KEY, or run on a terminal to type it"
            .into()
    } else {
        "lookups of ids it holds fail until it is unlocked".into()
    }
}

pub(crate) fn plugins_ls(engine: &Engine, json: bool) -> Result<(), Failure> {
    let plugins = engine.plugins();
    if json {
        let all: Vec<Value> = plugins
            .iter()
            .map(|p| {
                json!({
                    "name": p.name,
                    "pattern": p.pattern.as_str(),
                    "configurable": p.configurable,
                    "state": p.state.to_string(),
                    "message": match p.state {
                        ProviderState::Locked => Some(locked_hint(&p.name)),
                        _ => p.message.clone(),
                    },
                })
            })
            .collect();
        println!("{}", Value::Array(all));
        return Ok(());
    }
    let rows: Vec<[String; 5]> = plugins
        .iter()
        .map(|p| {
            [
                p.name.clone(),
                p.pattern.to_string(),
                if p.configurable { "yes" } else { "no" }.to_string(),
                p.state.to_string(),
                match &p.state {
                    ProviderState::Crashed(r) => r.clone(),
                    ProviderState::Locked => locked_hint(&p.name),
                    _ => String::new(),
                },
            ]
        })
        .collect();
    print_table(&rows);
    Ok(())
}

/// `plugins ls --engine`: the plugins of a running engine, from its `ListPlugins`.
#[cfg(unix)]
pub(crate) fn plugins_ls_remote(
    socket: secrets_engine::EngineSocket,
    json: bool,
) -> Result<(), Failure> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::new(format!("cannot start a runtime: {e}"), 1))?;
    let client = secrets_engine::EngineClient::new(socket);
    let plugins = rt.block_on(client.list_plugins())?;
    if json {
        let all: Vec<Value> = plugins
            .iter()
            .map(|p| {
                json!({
                    "name": p.name,
                    "version": p.version,
                    "pattern": p.pattern.as_ref().map(Pattern::as_str),
                    "configurable": p.configurable,
                    "external": p.external,
                    "state": p.state.to_string(),
                    "message": p.message,
                })
            })
            .collect();
        println!("{}", Value::Array(all));
        return Ok(());
    }
    let rows: Vec<[String; 5]> = plugins
        .iter()
        .map(|p| {
            [
                p.name.clone(),
                p.pattern
                    .as_ref()
                    .map(ToString::to_string)
                    .unwrap_or_default(),
                if p.configurable { "yes" } else { "no" }.to_string(),
                p.state.to_string(),
                p.message.clone().unwrap_or_default(),
            ]
        })
        .collect();
    print_table(&rows);
    Ok(())
}

fn print_table(rows: &[[String; 5]]) {
    let header = ["NAME", "PATTERN", "CONFIGURABLE", "STATE", "MESSAGE"].map(String::from);
    let mut widths = header.clone().map(|h| h.len());
    for r in rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.len());
        }
    }
    for r in std::iter::once(&header).chain(rows) {
        let line: Vec<String> = r
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        println!("{}", line.join("  ").trim_end());
    }
}

pub(crate) fn onepassword_setup(engine: &Engine) -> Result<(), Failure> {
    use secrets_engine::providers::onepassword::{
        SDK_NAME, TOKEN_ID, validate_service_account_token,
    };
    let id = Id::parse(TOKEN_ID).expect("valid id");
    let mut token = read_value(&id)?.into_bytes();
    // A pasted token often ends with a newline.
    while token.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
        token.pop();
    }
    if let Err(e) = validate_service_account_token(&token) {
        token.zeroize();
        return Err(e.into());
    }
    engine
        .blocking()
        .set(&id, SecretValue::new(token), Metadata::new())?;
    engine.blocking().enable(SDK_NAME).map_err(|e| {
        Failure::new(
            format!("the token is stored, but {SDK_NAME} could not be enabled: {e}"),
            1,
        )
    })
}

pub(crate) fn onepassword_purge(engine: &Engine) -> Result<(), Failure> {
    use secrets_engine::providers::onepassword::{SDK_NAME, TOKEN_ID};
    let id = Id::parse(TOKEN_ID).expect("valid id");
    match engine.blocking().remove(&id) {
        Ok(()) => {}
        Err(e) if e.is_not_found() => {}
        Err(e) => return Err(e.into()),
    }
    engine.blocking().disable(SDK_NAME)?;
    Ok(())
}

/// `keygen PATH`: a new key file for the file store.
pub(crate) fn keygen(path: &std::path::Path) -> Result<(), Failure> {
    let public = secrets_engine::providers::file::create_key_file(path)?;
    eprintln!(
        "docker-pass: wrote a new key to {} (public key {public}); unlock the file store with SECRETS_ENGINE_FILE_KEY={}",
        path.display(),
        path.display()
    );
    Ok(())
}

/// `lock`: drops the file store's identity from the session keyring. A running
/// `engine serve` keeps its own copy in memory until it stops.
pub(crate) fn lock() -> Result<(), Failure> {
    let store = secrets_engine::providers::file::FileStore::from_env();
    store.lock()?;
    eprintln!(
        "docker-pass: the file store is locked (its session cache for {} is dropped)",
        store.dir().display()
    );
    Ok(())
}
