//! A registered provider inside the engine: its registration checked, its saved
//! state applied, and its current state.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::config;
use super::registration::{ProviderState, Registration};
use crate::error::Error;
use crate::id::Id;
use crate::pattern::Pattern;
use crate::resolver::{Resolver, Store};

/// Checks a registration (its name against those `taken`) and applies the saved state.
pub(super) fn make_slot(
    r: Registration,
    saved: &config::ConfigFile,
    default_deadline: Duration,
    taken: impl Fn(&str) -> bool,
) -> Result<Slot, Error> {
    if let Err(reason) = check_name(&r.name) {
        return Err(Error::InvalidProvider {
            name: r.name,
            reason,
        });
    }
    if taken(&r.name) {
        return Err(Error::InvalidProvider {
            name: r.name,
            reason: "a provider with this name is already registered",
        });
    }
    let state = match (r.configurable, saved.providers.get(&r.name)) {
        (true, Some(config::SavedState::Disabled)) => ProviderState::Disabled,
        (true, Some(config::SavedState::Crashed { reason })) => {
            ProviderState::Crashed(reason.clone())
        }
        (true, Some(config::SavedState::Enabled)) => ProviderState::Running,
        (true, None) if !r.enabled => ProviderState::Disabled,
        _ => ProviderState::Running,
    };
    Ok(Slot {
        case_insensitive: r.resolver.case_insensitive(),
        name: r.name,
        pattern: r.pattern,
        configurable: r.configurable,
        deadline: r.deadline.unwrap_or(default_deadline),
        resolver: r.resolver,
        store: r.store,
        state: Arc::new(Mutex::new(state)),
        routed: Arc::new(std::sync::atomic::AtomicBool::new(true)),
    })
}

/// Whether `name` may name a provider.
pub(crate) fn check_name(name: &str) -> Result<(), &'static str> {
    let valid = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if valid {
        Ok(())
    } else {
        Err("names are 1 to 64 of a-z, 0-9 and -")
    }
}

pub(super) struct Slot {
    pub(super) name: String,
    pub(super) pattern: Pattern,
    pub(super) configurable: bool,
    pub(super) case_insensitive: bool,
    pub(super) deadline: Duration,
    pub(super) resolver: Arc<dyn Resolver>,
    pub(super) store: Option<Arc<dyn Store>>,
    /// Shared with the slot that replaces this one when a plugin re-registers with
    /// another pattern, so a state set through either is the provider's.
    state: Arc<Mutex<ProviderState>>,
    /// Whether lookups reach it at all (shared like `state`): a plugin that has not
    /// declared a pattern after its startup window (or gave up restarting before it
    /// ever did) claims nothing rather than failing every lookup it would overlap as `**`.
    routed: Arc<std::sync::atomic::AtomicBool>,
}

impl Slot {
    pub(super) fn state(&self) -> ProviderState {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
    pub(super) fn set_state(&self, state: ProviderState) {
        *self.state.lock().unwrap_or_else(|e| e.into_inner()) = state;
    }
    /// The same provider, in the same state, declaring `pattern` (a plugin that
    /// registered with a pattern of its own).
    #[cfg(all(feature = "docker-plugins", unix))]
    pub(super) fn with_pattern(&self, pattern: Pattern) -> Slot {
        Slot {
            name: self.name.clone(),
            pattern,
            configurable: self.configurable,
            case_insensitive: self.case_insensitive,
            deadline: self.deadline,
            resolver: self.resolver.clone(),
            store: self.store.clone(),
            state: self.state.clone(),
            routed: self.routed.clone(),
        }
    }

    pub(super) fn is_routed(&self) -> bool {
        self.routed.load(std::sync::atomic::Ordering::SeqCst)
    }

    #[cfg(all(feature = "docker-plugins", unix))]
    pub(super) fn set_routed(&self, yes: bool) {
        self.routed.store(yes, std::sync::atomic::Ordering::SeqCst);
    }

    pub(super) fn serves(&self, id: &Id) -> bool {
        if self.case_insensitive {
            self.pattern.matches_ignore_case(id)
        } else {
            self.pattern.matches(id)
        }
    }
}
