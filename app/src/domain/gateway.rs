//! What the portal shows about the gateway instances following the change feed, and how the
//! gateway finds the operation of an API's OpenAPI document a call makes (for its scopes).

use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// One operation of an API's OpenAPI document as the gateway matches calls to it: the
/// method, the path template (`/pets/{petId}`) and the sets of scopes that allow it (any one
/// set, with every scope in it, as OpenAPI's `security` alternatives; none: no scope needed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Route {
    pub method: String,
    pub path: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scopes: Vec<Vec<String>>,
}

impl Route {
    /// Whether a key holding the scopes for which `held` is true may make this call.
    pub fn allows(&self, held: impl Fn(&str) -> bool) -> bool {
        self.scopes.is_empty() || self.scopes.iter().any(|set| set.iter().all(|s| held(s)))
    }

    /// The sets of scopes that would do, as a refusal names them (`a b or c`).
    pub fn needs(&self) -> String {
        self.scopes
            .iter()
            .map(|set| set.join(" "))
            .collect::<Vec<_>>()
            .join(" or ")
    }
}

/// A path template's segment: a literal, or text around one `{parameter}` (`{id}`,
/// `{id}.json`, `v{major}`).
#[derive(Debug, Clone, PartialEq)]
enum Segment {
    Literal(String),
    Template { prefix: String, suffix: String },
}

impl Segment {
    fn parse(s: &str) -> Segment {
        match (s.find('{'), s.rfind('}')) {
            (Some(open), Some(close)) if open < close => Segment::Template {
                prefix: s[..open].to_string(),
                suffix: s[close + 1..].to_string(),
            },
            _ => Segment::Literal(s.to_string()),
        }
    }

    /// How well it matches `part`: 2 for a literal, 1 for a template, none for no match.
    fn fit(&self, part: &str) -> Option<usize> {
        match self {
            Segment::Literal(l) => (l == part).then_some(2),
            Segment::Template { prefix, suffix } => (part.len() > prefix.len() + suffix.len()
                && part.starts_with(prefix.as_str())
                && part.ends_with(suffix.as_str()))
            .then_some(1),
        }
    }
}

fn segments(path: &str) -> impl Iterator<Item = &str> {
    path.trim_matches('/').split('/').filter(|s| !s.is_empty())
}

/// The operations of one API, ready for matching calls.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Routes {
    routes: Vec<(Vec<Segment>, Arc<Route>)>,
    guarded: bool,
}

impl Routes {
    pub fn new(routes: Vec<Route>) -> Self {
        Routes {
            guarded: routes.iter().any(|r| !r.scopes.is_empty()),
            routes: routes
                .into_iter()
                .map(|r| (segments(&r.path).map(Segment::parse).collect(), Arc::new(r)))
                .collect(),
        }
    }

    /// Whether some operation needs a scope: then the document describes the API, and a
    /// call that is none of its operations is not let through unchecked.
    pub fn guarded(&self) -> bool {
        self.guarded
    }

    /// The operation a `method` call to `path` (after the API's slug, without the query)
    /// makes: of the templates that match it, the one with the most literal segments
    /// (OpenAPI's rule: `/pets/mine` before `/pets/{id}`); `HEAD` falls back to `GET`.
    /// None when no operation matches (the call is not in the document).
    pub fn find(&self, method: &str, path: &str) -> Option<&Arc<Route>> {
        self.best(method, path)
            .or_else(|| (method == "HEAD").then(|| self.best("GET", path)).flatten())
    }

    fn best(&self, method: &str, path: &str) -> Option<&Arc<Route>> {
        // Most APIs have no document: no splitting of their calls' paths.
        if self.routes.is_empty() {
            return None;
        }
        let parts: Vec<&str> = segments(path).collect();
        let mut best: Option<(usize, &Arc<Route>)> = None;
        for (template, route) in &self.routes {
            if route.method != method || template.len() != parts.len() {
                continue;
            }
            let fit = template
                .iter()
                .zip(&parts)
                .try_fold(0, |sum, (seg, part)| seg.fit(part).map(|f| sum + f));
            if let Some(fit) = fit {
                if best.is_none_or(|(b, _)| fit > b) {
                    best = Some((fit, route));
                }
            }
        }
        best.map(|(_, r)| r)
    }
}

/// Where the latest change to a key (or another row) is in effect.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Propagation {
    /// Running instances.
    pub instances: usize,
    /// Of those, how many have applied the change.
    pub applied: usize,
    /// How long after the change the slowest of them applied it.
    pub after_ms: Option<i64>,
}

impl Propagation {
    /// "In effect on 2 of 2 gateway instances after 38 ms".
    pub fn sentence(&self) -> String {
        let of = match self.instances {
            1 => "1 gateway instance".to_string(),
            n => format!("{n} gateway instances"),
        };
        match (self.applied, self.after_ms) {
            (0, _) => format!("Not yet in effect on any of {of}"),
            (n, Some(ms)) => format!("In effect on {n} of {of} after {ms} ms"),
            (n, None) => format!("In effect on {n} of {of}"),
        }
    }

    pub fn complete(&self) -> bool {
        self.applied >= self.instances
    }
}

/// One Keyport instance, as the admin pages list them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceStatus {
    pub id: String,
    /// The address it listens on.
    pub address: String,
    /// When it started, as the portal shows times.
    pub started: String,
    /// When it was last heard from (heartbeats come every second).
    pub seen_ms_ago: i64,
    pub running: bool,
    /// How many changes of the feed it has not applied yet.
    pub changes_behind: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(method: &str, path: &str, scopes: &[&[&str]]) -> Route {
        Route {
            method: method.into(),
            path: path.into(),
            scopes: scopes
                .iter()
                .map(|set| set.iter().map(|s| s.to_string()).collect())
                .collect(),
        }
    }

    #[test]
    fn a_call_finds_its_most_specific_operation() {
        let routes = Routes::new(vec![
            route("GET", "/pets/{petId}", &[&["pets:read"]]),
            route("GET", "/pets/mine", &[]),
            route("DELETE", "/pets/{petId}", &[&["pets:write", "pets:admin"]]),
            route("GET", "/files/{name}.json", &[&["files:read"]]),
            route("GET", "/", &[&["root"]]),
        ]);
        let found = |m: &str, p: &str| routes.find(m, p).map(|r| r.path.as_str());
        assert!(routes.guarded());
        assert!(!Routes::new(vec![route("GET", "/x", &[])]).guarded());
        assert_eq!(found("GET", "/pets/7"), Some("/pets/{petId}"));
        assert_eq!(found("GET", "/pets/mine"), Some("/pets/mine"));
        assert_eq!(found("GET", "/pets/mine/"), Some("/pets/mine"));
        assert_eq!(found("HEAD", "/pets/7"), Some("/pets/{petId}"));
        assert_eq!(found("DELETE", "/pets/7"), Some("/pets/{petId}"));
        assert_eq!(found("GET", "/files/a.json"), Some("/files/{name}.json"));
        assert_eq!(
            found("GET", "/files/.json"),
            None,
            "a parameter is never empty"
        );
        assert_eq!(found("GET", "/files/a.xml"), None);
        assert_eq!(found("GET", "/pets/7/toys"), None);
        assert_eq!(found("PUT", "/pets/7"), None);
        assert_eq!(found("GET", ""), Some("/"));
    }

    #[test]
    fn any_one_set_of_scopes_allows_a_call() {
        let held = |set: &'static [&'static str]| move |s: &str| set.contains(&s);
        let r = route("DELETE", "/x", &[&["pets:write", "pets:admin"], &["root"]]);
        assert!(r.allows(held(&["pets:write", "pets:admin"])));
        assert!(r.allows(held(&["root"])));
        assert!(!r.allows(held(&["pets:write"])));
        assert!(!r.allows(held(&[])));
        assert!(route("GET", "/x", &[]).allows(held(&[])));
        assert_eq!(r.needs(), "pets:write pets:admin or root");
    }

    #[test]
    fn the_propagation_sentence() {
        let p = |instances, applied, after_ms| Propagation {
            instances,
            applied,
            after_ms,
        };
        assert_eq!(
            p(2, 2, Some(38)).sentence(),
            "In effect on 2 of 2 gateway instances after 38 ms"
        );
        assert_eq!(
            p(1, 1, Some(0)).sentence(),
            "In effect on 1 of 1 gateway instance after 0 ms"
        );
        assert_eq!(
            p(2, 0, None).sentence(),
            "Not yet in effect on any of 2 gateway instances"
        );
        assert!(p(2, 2, None).complete() && !p(2, 1, Some(5)).complete());
    }
}
