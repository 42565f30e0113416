//! [`Resolution`]: what a lookup found, with the failures beside it.

use crate::envelope::Envelope;
use crate::error::ProviderFailure;

/// The outcome of a lookup that found something: the envelopes, and the providers that
/// failed beside them (a partial result).
#[derive(Debug)]
pub struct Resolution {
    pub(super) envelopes: Vec<Envelope>,
    pub(super) failures: Vec<ProviderFailure>,
}

impl Resolution {
    /// The secrets found, in provider registration order, then by id.
    pub fn envelopes(&self) -> &[Envelope] {
        &self.envelopes
    }
    /// Providers that failed while others answered.
    pub fn failures(&self) -> &[ProviderFailure] {
        &self.failures
    }
    /// Takes the envelopes.
    pub fn into_envelopes(self) -> Vec<Envelope> {
        self.envelopes
    }
    /// Takes both parts.
    pub fn into_parts(self) -> (Vec<Envelope>, Vec<ProviderFailure>) {
        (self.envelopes, self.failures)
    }
}
