//! `docker-pass`: Docker's `docker pass` rebuilt on the public API of secrets-engine.

mod commands;
#[cfg(unix)]
mod engine;
mod prompt;
mod run;

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use secrets_engine::providers::file;
use secrets_engine::{DefaultOptions, Engine, Error, SelectedStore, StoreChoice};

const EXIT_CODES: &str = "\
Exit status:
  0    success
  1    the operation failed (invalid id, not found, a provider failed, ...)
  2    invalid command line
  run: the command's own status once it is started; 125 when the environment could
       not be resolved (the command is not started), 126 when the command cannot be
       executed, 127 when it is not found.";

/// Store, read and inject secrets: the OS keychain, 1Password, vaults, encrypted files.
#[derive(Parser, Debug)]
#[command(name = "docker-pass", version, after_help = EXIT_CODES)]
struct Cli {
    /// Where secrets are stored: the OS keychain, the encrypted file store, or auto
    /// (the keychain when a Secret Service is reachable, else the file store).
    #[arg(long, global = true, default_value = "auto", value_parser = ["auto", "keychain", "file"])]
    store: String,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Store a secret: `set ID=VALUE`, or `set ID` to read the value from stdin.
    #[command(
        after_help = "Examples:\n  printf %s \"$TOKEN\" | docker-pass set gh/token\n  docker-pass set db/password=hunter2 --metadata user=app\n\nThe value is split from the id at the first '='. Prefer stdin: a value on the command line is visible to other users in the process list. On a terminal, stdin is read without echo."
    )]
    Set {
        /// `ID=VALUE` or `ID`.
        spec: String,
        /// Metadata `KEY=VALUE` (repeatable); not secret, shown by `ls --json`.
        #[arg(long = "metadata", short = 'm', value_name = "KEY=VALUE")]
        metadata: Vec<String>,
    },
    /// Resolve a reference through every enabled provider and show what matches.
    #[command(
        after_help = "Examples:\n  docker-pass get 'docker/auth/**'\n  docker-pass get db/password --reveal > password.txt\n\nWithout --reveal values are masked. --reveal prints the raw bytes of the one matching value and nothing else."
    )]
    Get {
        /// An id or pattern (`*` one component, `**` any number).
        pattern: String,
        /// Print the value.
        #[arg(long)]
        reveal: bool,
        /// Print JSON (values only with --reveal).
        #[arg(long)]
        json: bool,
        /// Resolve through a running engine (`engine serve`, or Docker's) instead of
        /// in this process; without `=SOCKET`, Docker's engine socket.
        #[arg(long, value_name = "SOCKET", num_args = 0..=1, require_equals = true, default_missing_value = "")]
        engine: Option<String>,
    },
    /// List the ids in the default store.
    #[command(
        alias = "list",
        after_help = "Examples:\n  docker-pass ls\n  docker-pass ls 'docker/**' --json"
    )]
    Ls {
        /// Only ids matching this pattern.
        pattern: Option<String>,
        /// Print JSON with provider and metadata.
        #[arg(long)]
        json: bool,
    },
    /// Remove secrets from the default store.
    #[command(
        alias = "remove",
        after_help = "Examples:\n  docker-pass rm db/password gh/token\n  docker-pass rm --all"
    )]
    Rm {
        /// Ids to remove.
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        ids: Vec<String>,
        /// Remove every secret of the default store (the engine's internal ones stay).
        #[arg(long)]
        all: bool,
    },
    /// Run a command with every `se://` reference in its environment resolved.
    #[command(
        after_help = "Examples:\n  GH_TOKEN=se://gh/token docker-pass run -- gh auth status\n  docker-pass run --env-file .env -- ./deploy.sh\n\nThe environment is this process's, then each --env-file in order (later ones win); the file store's own variables (SECRETS_ENGINE_FILE_PASSPHRASE, SECRETS_ENGINE_FILE_KEY) are not passed on. If any reference fails, the command is not started. On Unix the command replaces docker-pass (same PID; signals, terminal and exit status are its own).\n\nExit status: the command's own once started; 125 when the environment could not be resolved (the command is not started), 126 when the command cannot be executed, 127 when it is not found."
    )]
    Run {
        /// A dotenv file (`NAME=VALUE` lines); repeatable.
        #[arg(long = "env-file", value_name = "FILE")]
        env_files: Vec<PathBuf>,
        /// Resolve through a running engine (`engine serve`, or Docker's) instead of
        /// in this process; without `=SOCKET`, Docker's engine socket.
        #[arg(long, value_name = "SOCKET", num_args = 0..=1, require_equals = true, default_missing_value = "")]
        engine: Option<String>,
        /// The command and its arguments.
        #[arg(required = true, last = true, value_name = "CMD")]
        command: Vec<OsString>,
    },
    /// Forget the file store's unlocked identity: drop it from the session keyring, so
    /// the next command needs the passphrase again.
    #[command(
        after_help = "Example:\n  docker-pass lock\n\nAn unlocked identity stays in the kernel's session keyring for SECRETS_ENGINE_FILE_SESSION_TIMEOUT seconds (default 900; 0 disables the cache)."
    )]
    Lock,
    /// Create a key file for the file store: a new age identity, for
    /// SECRETS_ENGINE_FILE_KEY on hosts without a keychain (servers, CI), where a
    /// passphrase would cost every process a scrypt unwrap.
    #[command(
        after_help = "Example:\n  docker-pass keygen ~/.config/secrets-engine/file.key\n  export SECRETS_ENGINE_FILE_KEY=~/.config/secrets-engine/file.key\n\nThe file is created with mode 0600 and never overwritten. A file store is bound to the first key that opens it: a store made with a passphrase keeps its passphrase."
    )]
    Keygen {
        /// Where to write the key (must not exist).
        path: PathBuf,
    },
    /// List, enable and disable providers.
    #[command(
        after_help = "Examples:\n  docker-pass plugins ls\n  docker-pass plugins disable file\n  docker-pass plugins enable 1password-cli"
    )]
    Plugins {
        #[command(subcommand)]
        action: PluginsAction,
    },
    /// Run the engine in the foreground, serving Docker's secrets-engine API on its
    /// sockets, so Docker's clients and `--engine` resolve through it.
    #[command(
        after_help = "Examples:\n  docker-pass engine serve\n  docker-pass engine serve --socket /run/user/1000/se.sock --socket @my-engine\n  docker-pass get --engine=/run/user/1000/se.sock db/password"
    )]
    Engine {
        #[command(subcommand)]
        action: EngineAction,
    },
    /// Print a shell completion script.
    #[command(
        after_help = "Example:\n  docker-pass completions bash > /etc/bash_completion.d/docker-pass"
    )]
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

#[derive(Subcommand, Debug)]
enum EngineAction {
    /// Serve until SIGTERM or SIGINT. Without --socket: Docker's engine socket
    /// (`<cache dir>/docker-secrets-engine/engine.sock`) and daemon socket (Linux:
    /// the abstract `@docker-secrets-engine/<uid>/daemon.sock`).
    #[command(
        after_help = "A socket file is created 0600 in a 0700 directory; a live engine's socket is never taken over, a stale one is replaced. Only processes of this user (and --allow-uid) are served; others get permission_denied. Stops within 2 s of SIGTERM or SIGINT."
    )]
    Serve {
        /// A socket to listen on (repeatable); `@name` is a Linux abstract socket.
        #[arg(long = "socket", value_name = "PATH")]
        sockets: Vec<String>,
        /// Also serve processes of this uid (repeatable), e.g. 0 for a container
        /// runtime running as root.
        #[arg(long = "allow-uid", value_name = "UID")]
        allow_uids: Vec<u32>,
        /// Launch this plugin binary, built with Docker's plugin SDK (repeatable); its
        /// name is the file name. Every executable in `<config dir>/secrets-engine/plugins/`
        /// is launched too.
        #[arg(long = "plugin", value_name = "PATH")]
        plugins: Vec<std::path::PathBuf>,
    },
}

#[derive(Subcommand, Debug)]
enum PluginsAction {
    /// Show every provider: name, pattern, configurable, state, message.
    #[command(
        alias = "list",
        after_help = "Example:\n  docker-pass plugins ls --json"
    )]
    Ls {
        /// Print JSON.
        #[arg(long)]
        json: bool,
        /// Ask a running engine (`engine serve`, or Docker's) instead of this
        /// process's own: its plugins, launched and external, as they run now.
        #[arg(long, value_name = "SOCKET", num_args = 0..=1, require_equals = true, default_missing_value = "")]
        engine: Option<String>,
    },
    /// Enable a configurable provider (retries a crashed one).
    #[command(after_help = "Example:\n  docker-pass plugins enable file")]
    Enable {
        /// The provider.
        name: String,
    },
    /// Disable a configurable provider.
    #[command(after_help = "Example:\n  docker-pass plugins disable file")]
    Disable {
        /// The provider.
        name: String,
    },
    /// Set up or remove the 1Password service account (the 1password-sdk provider).
    #[command(name = "1password")]
    OnePassword {
        #[command(subcommand)]
        action: OnePasswordAction,
    },
}

#[derive(Subcommand, Debug)]
enum OnePasswordAction {
    /// Store a service-account token (read from stdin, never from the command line)
    /// in the default store and enable 1password-sdk.
    #[command(
        after_help = "Example:\n  printf %s \"$OP_SERVICE_ACCOUNT_TOKEN\" | docker-pass plugins 1password setup"
    )]
    Setup,
    /// Remove the stored token and disable 1password-sdk.
    #[command(after_help = "Example:\n  docker-pass plugins 1password purge")]
    Purge,
}

/// An error worth one line on stderr and an exit status.
pub(crate) struct Failure {
    message: String,
    code: u8,
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Failure {
            message: e.to_string(),
            code: 1,
        }
    }
}

impl Failure {
    pub(crate) fn new(message: impl Into<String>, code: u8) -> Failure {
        Failure {
            message: message.into(),
            code,
        }
    }
}

fn init_logging() {
    let filter = std::env::var("SECRETS_ENGINE_LOG")
        .or_else(|_| std::env::var("RUST_LOG"))
        .unwrap_or_else(|_| "warn".into());
    // Colours only on a terminal: a log captured to a file or a pipe stays plain text.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .try_init();
}

/// `--store`, parsed; a bad value is a usage error (exit 2).
/// The in-memory store is for embedders: a command that set a secret there would
/// lose it on exit.
fn store_choice(store: &str) -> Result<StoreChoice, Failure> {
    match store.parse() {
        Ok(StoreChoice::Memory) | Err(_) => Err(Failure::new(
            format!("unknown store {store:?}: expected auto, keychain or file"),
            2,
        )),
        Ok(choice) => Ok(choice),
    }
}

/// The file store's passphrase prompt: only when stdin is a terminal and neither
/// variable unlocks the store; never on a pipe (a CI job would hang).
fn file_prompt() -> Option<file::Prompt> {
    let unset = |name| std::env::var_os(name).is_none_or(|v| v.is_empty());
    let wanted = unset(file::PASSPHRASE_ENV)
        && unset(file::KEY_FILE_ENV)
        && std::io::IsTerminal::is_terminal(&std::io::stdin());
    wanted.then(|| file::Prompt::new(ask_passphrase))
}

/// Runs outside the provider's deadline (the engine asks it before calling the file
/// store); the terminal's echo comes back however the prompt ends.
fn ask_passphrase(first_use: bool) -> Option<file::Typed> {
    let read = |label: &str| match prompt::hidden(label) {
        Ok(typed) => Some(typed),
        Err(prompt::NotRead::Interrupted) => {
            // The terminal is restored already; end as Ctrl-C would have.
            std::process::exit(130)
        }
        Err(prompt::NotRead::Abandoned) => None,
        Err(prompt::NotRead::Failed(e)) => {
            eprintln!("docker-pass: cannot read the passphrase: {e}");
            None
        }
    };
    let first = read(if first_use {
        "New passphrase for the file store: "
    } else {
        "Passphrase for the file store: "
    })?;
    if first.is_empty() {
        return None;
    }
    if first_use {
        let again = read("Repeat the passphrase: ")?;
        if *again != *first {
            eprintln!("docker-pass: the passphrases do not match");
            return None;
        }
    }
    Some(first)
}

/// Default options for `store`, with the passphrase prompt when one may be asked.
pub(crate) fn options(choice: StoreChoice) -> DefaultOptions {
    let mut options = DefaultOptions::default();
    options.store = choice;
    options.file_prompt = file_prompt();
    options
}

/// Builds the default engine. One notice line on stderr names the store when it is
/// the fallback (no Secret Service); `get` and `run` never print it (`run` builds
/// its own, see run.rs), since their output is the value or the command's.
fn engine(store: &str, notice: bool) -> Result<Engine, Failure> {
    let choice = store_choice(store)?;
    let (engine, selected) = secrets_engine::default_engine_blocking(options(choice))?;
    if notice && choice == StoreChoice::Auto && selected == SelectedStore::File {
        eprintln!(
            "docker-pass: using the encrypted file store (file) (no Secret Service reachable)"
        );
    }
    Ok(engine)
}

/// A panic's message may quote whatever a provider was holding (a value, a token), and
/// the engine turns provider panics into `Error::Crashed` anyway: report only where it
/// happened.
fn quiet_panics() {
    std::panic::set_hook(Box::new(|info| {
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        eprintln!("docker-pass: internal error (panic{at}; message withheld)");
    }));
}

/// The engine behind `--engine[=SOCKET]`.
#[cfg(unix)]
fn forwarding(socket: &str) -> Result<Engine, Failure> {
    engine::forwarding(engine::socket(socket))
}

#[cfg(not(unix))]
fn forwarding(_: &str) -> Result<Engine, Failure> {
    Err(Failure::new(
        "--engine needs Unix sockets, which this build does not have",
        1,
    ))
}

#[cfg(unix)]
fn serve(
    store: StoreChoice,
    sockets: &[String],
    allow_uids: &[u32],
    plugins: Vec<std::path::PathBuf>,
) -> Result<(), Failure> {
    engine::serve(store, sockets, allow_uids, plugins)
}

#[cfg(not(unix))]
fn serve(
    _: StoreChoice,
    _: &[String],
    _: &[u32],
    _: Vec<std::path::PathBuf>,
) -> Result<(), Failure> {
    Err(Failure::new(
        "engine serve needs Unix sockets, which this build does not have",
        1,
    ))
}

fn main() -> ExitCode {
    quiet_panics();
    let cli = Cli::parse();
    init_logging();
    let outcome = match cli.command {
        Command::Completions { shell } => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(shell, &mut cmd, "docker-pass", &mut std::io::stdout());
            Ok(())
        }
        Command::Set { spec, metadata } => {
            engine(&cli.store, true).and_then(|e| commands::set(&e, &spec, &metadata))
        }
        Command::Get {
            pattern,
            reveal,
            json,
            engine: via,
        } => match via {
            Some(socket) => forwarding(&socket),
            None => engine(&cli.store, false),
        }
        .and_then(|e| commands::get(&e, &pattern, reveal, json)),
        Command::Ls { pattern, json } => {
            engine(&cli.store, true).and_then(|e| commands::ls(&e, pattern.as_deref(), json))
        }
        Command::Rm { ids, all } => {
            engine(&cli.store, true).and_then(|e| commands::rm(&e, &ids, all))
        }
        Command::Lock => commands::lock(),
        Command::Keygen { path } => commands::keygen(&path),
        Command::Run {
            env_files,
            command,
            engine: via,
        } => store_choice(&cli.store).and_then(|store| {
            let source = match via {
                Some(socket) => run::Source::Engine(forwarding(&socket)?),
                None => run::Source::Default(store),
            };
            run::run(source, &env_files, &command)
        }),
        Command::Engine {
            action:
                EngineAction::Serve {
                    sockets,
                    allow_uids,
                    plugins,
                },
        } => {
            store_choice(&cli.store).and_then(|store| serve(store, &sockets, &allow_uids, plugins))
        }
        #[cfg(unix)]
        Command::Plugins {
            action:
                PluginsAction::Ls {
                    json,
                    engine: Some(socket),
                },
        } => commands::plugins_ls_remote(engine::socket(&socket), json),
        Command::Plugins { action } => engine(&cli.store, true).and_then(|e| match action {
            PluginsAction::Ls { json, .. } => commands::plugins_ls(&e, json),
            PluginsAction::Enable { name } => e.blocking().enable(&name).map_err(Failure::from),
            PluginsAction::Disable { name } => e.blocking().disable(&name).map_err(Failure::from),
            PluginsAction::OnePassword {
                action: OnePasswordAction::Setup,
            } => commands::onepassword_setup(&e),
            PluginsAction::OnePassword {
                action: OnePasswordAction::Purge,
            } => commands::onepassword_purge(&e),
        }),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            if !f.message.is_empty() {
                eprintln!("docker-pass: {}", f.message);
            }
            ExitCode::from(f.code)
        }
    }
}
