//! Whose reference is it: which entries of `process.env` se-runc may resolve.
//!
//! `process.env` mixes what the user asked for (`docker run -e`, Compose's
//! `environment:`) with the image's own `ENV`. An image must not be able to name a
//! user's secret and receive it, so a reference is resolved only when it is the
//! user's: dockerd knows the image's `ENV`, and an entry found there verbatim is the
//! image's. When there is no dockerd to ask (podman, containerd's own clients) no
//! entry can be shown to be the user's. Such references are resolved only inside
//! an administrator's `--allow` patterns; the others stay exactly as written.

use std::collections::HashSet;

use secrets_engine::{Id, Pattern, SCHEME, SecretRef};

/// Where an entry of `process.env` came from, as far as se-runc can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Not in the image's `ENV`: the user set it.
    User,
    /// In the image's `ENV`, or no dockerd could say.
    Unverified,
}

/// The origin of each entry of `env`, given the image's `ENV` (`None`: unknown).
pub fn origins(env: &[String], image_env: Option<&[String]>) -> Vec<Origin> {
    let Some(image) = image_env else {
        return vec![Origin::Unverified; env.len()];
    };
    let image: HashSet<&str> = image.iter().map(String::as_str).collect();
    env.iter()
        .map(|e| {
            if image.contains(e.as_str()) {
                Origin::Unverified
            } else {
                Origin::User
            }
        })
        .collect()
}

/// Whether `entry` asks for a secret at all: an `se://` value, or container mode's
/// `NAME=` with a name that is an id. Checked before anything else is done, so a
/// container without references costs no engine and no call to dockerd.
pub fn asks(entry: &str) -> bool {
    match entry.split_once('=') {
        Some((_, value)) if value.starts_with(SCHEME) => true,
        Some((name, "")) => Id::parse(name).is_ok(),
        _ => false,
    }
}

/// What se-runc does with an entry that [`asks`] for a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Resolve it (the library then applies its own rules: the internal realm is
    /// refused, `NAME=` not found stays empty).
    Resolve,
    /// Leave it exactly as written: the image's, or unverified and outside `--allow`.
    /// A reference (not a `NAME=`) gets a warning in the runtime log.
    Keep {
        /// The `se://` reference left in place, for the warning; `None` for `NAME=`.
        reference: Option<String>,
    },
}

/// Decides for one entry that [`asks`] for a secret.
pub fn decide(entry: &str, origin: Origin, allow: &[Pattern]) -> Decision {
    let (name, value) = entry.split_once('=').unwrap_or((entry, ""));
    let reference = value.starts_with(SCHEME).then(|| value.to_owned());
    if origin == Origin::User {
        return Decision::Resolve;
    }
    // The pattern asked for: an unparsable reference of the image's is the image's
    // business, left alone; only the user's are errors.
    let pattern = match &reference {
        Some(r) => SecretRef::parse(r).ok().map(|r| r.pattern().clone()),
        None => Id::parse(name).ok().map(Pattern::from),
    };
    match pattern {
        Some(p) if allow.iter().any(|a| a.includes(&p)) => Decision::Resolve,
        _ => Decision::Keep { reference },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn an_entry_is_the_images_only_verbatim() {
        let env = strings(&["A=se://a", "B=se://b", "C=", "D=se://other"]);
        let image = strings(&["A=se://a", "C=", "D=se://d"]);
        assert_eq!(
            origins(&env, Some(&image)),
            vec![
                Origin::Unverified,
                Origin::User,
                Origin::Unverified,
                Origin::User
            ]
        );
        assert_eq!(origins(&env, None), vec![Origin::Unverified; 4]);
    }

    #[test]
    fn what_asks_for_a_secret() {
        assert!(asks("K=se://a/b"));
        assert!(asks("GH_TOKEN="));
        assert!(asks("K=se://not valid")); // the library reports it
        assert!(!asks("K=v"));
        assert!(!asks("K"));
        assert!(!asks("not an id!="));
        assert!(!asks("K=x se://a"));
    }

    #[test]
    fn decisions() {
        let allow = [Pattern::parse("ci/**").unwrap()];
        let keep = |r: Option<&str>| Decision::Keep {
            reference: r.map(str::to_owned),
        };
        assert_eq!(decide("K=se://x", Origin::User, &[]), Decision::Resolve);
        assert_eq!(
            decide("K=se://x", Origin::Unverified, &[]),
            keep(Some("se://x"))
        );
        assert_eq!(
            decide("K=se://ci/x", Origin::Unverified, &allow),
            Decision::Resolve
        );
        // `ci/**` does not include `**`: it could match ids outside ci/.
        assert_eq!(
            decide("K=se://**", Origin::Unverified, &allow),
            keep(Some("se://**"))
        );
        assert_eq!(
            decide("K=se://a b", Origin::Unverified, &allow),
            keep(Some("se://a b"))
        );
        assert_eq!(decide("TOKEN=", Origin::Unverified, &allow), keep(None));
        let allow = [Pattern::parse("TOKEN").unwrap()];
        assert_eq!(
            decide("TOKEN=", Origin::Unverified, &allow),
            Decision::Resolve
        );
    }
}
