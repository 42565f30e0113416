//! What `op --format json` prints (every field optional, unknown fields ignored), and
//! how 1Password names become ids.

use serde::Deserialize;

use crate::id::Id;

#[derive(Debug, Clone, Deserialize, Default)]
pub(crate) struct Vault {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub name: String,
}

#[derive(Debug, Clone, Deserialize, Default)]
pub(crate) struct ItemSummary {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub category: String,
    #[serde(default)]
    pub vault: Vault,
}

#[derive(Debug, Clone, Deserialize, Default)]
pub(crate) struct Section {
    #[serde(default)]
    pub label: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Default)]
pub(crate) struct Field {
    #[serde(default)]
    pub r#type: String,
    #[serde(default)]
    pub purpose: Option<String>,
    #[serde(default)]
    pub label: Option<String>,
    /// Absent for an empty field.
    #[serde(default)]
    pub value: Option<String>,
    #[serde(default)]
    pub section: Option<Section>,
    #[serde(default)]
    pub reference: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Default)]
pub(crate) struct ItemDetail {
    #[serde(default)]
    pub fields: Vec<Field>,
}

/// 1Password's name normalization (reference: "Candidate ids of an item"): spaces
/// become `-`, parentheses go, `/` and `&` become `_`, anything else outside
/// `[a-zA-Z0-9-._]` goes, and the result is lowercased.
pub(crate) fn normalize(name: &str) -> String {
    name.chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            '(' | ')' => None,
            '/' | '&' => Some('_'),
            c if c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_') => {
                Some(c.to_ascii_lowercase())
            }
            _ => None,
        })
        .collect()
}

/// Joins normalized parts into an id; `None` when the result is not a valid id
/// (an empty part, say), which is skipped silently.
pub(crate) fn join(parts: &[&str]) -> Option<Id> {
    if parts.iter().any(|p| p.is_empty()) {
        return None;
    }
    Id::parse(&parts.join("/")).ok()
}

impl ItemSummary {
    /// The item's candidate ids: raw id, `<vault-id>/<title>`, `<vault-name>/<title>`.
    pub fn candidates(&self) -> Vec<Id> {
        let title = normalize(&self.title);
        let mut out: Vec<Id> = [
            join(&[&self.id.to_ascii_lowercase()]),
            join(&[&self.vault.id.to_ascii_lowercase(), &title]),
            join(&[&normalize(&self.vault.name), &title]),
        ]
        .into_iter()
        .flatten()
        .collect();
        out.dedup();
        out
    }
}

impl Field {
    /// Field-level ids under an item candidate: `<candidate>/<label>` and
    /// `<candidate>/<section>/<label>`.
    pub fn ids_under(&self, candidate: &Id) -> Vec<Id> {
        let Some(label) = self.label.as_deref().map(normalize) else {
            return Vec::new();
        };
        let mut out: Vec<Id> = vec![join(&[candidate.as_str(), &label])]
            .into_iter()
            .flatten()
            .collect();
        if let Some(section) = self
            .section
            .as_ref()
            .and_then(|s| s.label.as_deref())
            .map(normalize)
        {
            out.extend(join(&[candidate.as_str(), &section, &label]));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalization_follows_the_reference() {
        assert_eq!(normalize("My Vault"), "my-vault");
        assert_eq!(normalize("GitHub (work)"), "github-work");
        assert_eq!(normalize("a/b & c"), "a_b-_-c");
        assert_eq!(normalize("Ünïcödé Key!"), "ncd-key");
        assert_eq!(normalize("Tokens.v2_final"), "tokens.v2_final");
        assert_eq!(normalize("💥"), "");
    }

    #[test]
    fn candidates_skip_what_does_not_normalize() {
        let item = ItemSummary {
            id: "T2VDZVVZQGTQJOQMN6P5CTZ7BY".into(),
            title: "GitHub (work)".into(),
            category: "LOGIN".into(),
            vault: Vault {
                id: "vaultid123".into(),
                name: "Private Vault".into(),
            },
        };
        let ids: Vec<String> = item.candidates().iter().map(|i| i.to_string()).collect();
        assert_eq!(
            ids,
            [
                "t2vdzvvzqgtqjoqmn6p5ctz7by",
                "vaultid123/github-work",
                "private-vault/github-work"
            ]
        );
        let untitled = ItemSummary {
            title: "🔑".into(),
            ..item
        };
        assert_eq!(untitled.candidates().len(), 1);
    }
}
