//! Route declarations. Engines say which paths they serve; the broker's router matches
//! request paths against them and hands the engine the captured parameters.
//!
//! Pattern syntax, segment by segment (`/`-separated):
//! - `config` matches that literal segment;
//! - `:name` matches exactly one non-empty segment and captures it;
//! - `*name` (last segment only) matches the rest of the path, possibly empty, slashes included.

use std::collections::BTreeMap;

use crate::Operation;

/// One path an engine serves and the operations it supports there.
#[derive(Debug, Clone)]
pub struct Route {
    pub pattern: RoutePattern,
    pub operations: &'static [Operation],
    /// Routes reachable without a token (login endpoints). Everything else needs one.
    pub unauthenticated: bool,
}

impl Route {
    pub fn new(pattern: &'static str, operations: &'static [Operation]) -> Self {
        Self {
            pattern: RoutePattern::new(pattern),
            operations,
            unauthenticated: false,
        }
    }

    /// Marks the route as reachable without a token (e.g. `login`).
    pub fn unauthenticated(mut self) -> Self {
        self.unauthenticated = true;
        self
    }

    pub fn supports(&self, operation: Operation) -> bool {
        self.operations.contains(&operation)
    }
}

/// A parsed route pattern. Its source string doubles as the route's identity: engines
/// dispatch on `request.route == MY_PATTERN`, comparing against their own constants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoutePattern {
    source: &'static str,
    segments: Vec<Segment>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(&'static str),
    Param(&'static str),
    Rest(&'static str),
}

impl RoutePattern {
    pub fn new(source: &'static str) -> Self {
        let segments = if source.is_empty() {
            Vec::new()
        } else {
            source
                .split('/')
                .map(|segment| {
                    if let Some(name) = segment.strip_prefix(':') {
                        Segment::Param(name)
                    } else if let Some(name) = segment.strip_prefix('*') {
                        Segment::Rest(name)
                    } else {
                        Segment::Literal(segment)
                    }
                })
                .collect()
        };
        Self { source, segments }
    }

    pub fn source(&self) -> &'static str {
        self.source
    }

    /// Matches `path` (relative to the mount, no leading slash) and returns the captures.
    pub fn matches(&self, path: &str) -> Option<Params> {
        let mut params = Params::default();
        let mut rest = path;
        for (index, segment) in self.segments.iter().enumerate() {
            let is_last = index + 1 == self.segments.len();
            if let Segment::Rest(name) = segment {
                if !is_last {
                    return None;
                }
                params.0.insert((*name).to_string(), rest.to_string());
                return Some(params);
            }
            let (head, tail) = match rest.split_once('/') {
                Some((head, tail)) => (head, Some(tail)),
                None => (rest, None),
            };
            match segment {
                Segment::Literal(literal) if head == *literal => {}
                Segment::Param(name) if !head.is_empty() => {
                    params.0.insert((*name).to_string(), head.to_string());
                }
                _ => return None,
            }
            match tail {
                // A trailing slash after the final segment is allowed (LIST requests send one).
                Some("") if is_last => return Some(params),
                Some(tail) if !is_last => rest = tail,
                None if is_last => return Some(params),
                // `data` against `data/*path`: the rest is present but empty.
                None => match self.segments.get(index + 1) {
                    Some(Segment::Rest(name)) if index + 2 == self.segments.len() => {
                        params.0.insert((*name).to_string(), String::new());
                        return Some(params);
                    }
                    _ => return None,
                },
                _ => return None,
            }
        }
        path.is_empty().then_some(params)
    }
}

/// Values captured from the path by a [`RoutePattern`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params(BTreeMap<String, String>);

impl Params {
    /// The captured value, or an empty string when the pattern has no such capture.
    pub fn get(&self, name: &str) -> &str {
        self.0.get(name).map(String::as_str).unwrap_or("")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_and_params() {
        let pattern = RoutePattern::new("roles/:name");
        assert_eq!(pattern.matches("roles/app").unwrap().get("name"), "app");
        assert_eq!(pattern.matches("roles/app/").unwrap().get("name"), "app");
        assert!(pattern.matches("roles/").is_none());
        assert!(pattern.matches("roles").is_none());
        assert!(pattern.matches("roles/app/extra").is_none());
        assert!(pattern.matches("rolesx/app").is_none());
    }

    #[test]
    fn rest_captures_everything_including_empty() {
        let pattern = RoutePattern::new("data/*path");
        assert_eq!(pattern.matches("data/a/b/c").unwrap().get("path"), "a/b/c");
        assert_eq!(pattern.matches("data/").unwrap().get("path"), "");
        assert_eq!(pattern.matches("data").unwrap().get("path"), "");
        assert!(pattern.matches("metadata/a").is_none());
    }

    #[test]
    fn bare_literal() {
        let pattern = RoutePattern::new("config");
        assert!(pattern.matches("config").is_some());
        assert!(pattern.matches("config/").is_some());
        assert!(pattern.matches("configx").is_none());
        assert!(pattern.matches("").is_none());
    }

    #[test]
    fn empty_pattern_matches_only_root() {
        let pattern = RoutePattern::new("");
        assert!(pattern.matches("").is_some());
        assert!(pattern.matches("x").is_none());
    }
}
