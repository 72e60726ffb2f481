//! Forward authentication: a reverse proxy asks, for each request to an app
//! it protects, whether to let it through. The answer depends on who is
//! signed in (the session or bearer token the request carries) and on
//! `GATEHOUSE_FORWARD_RULES`: host glob and path prefix to `public`, `any`
//! or a role; the first rule that matches decides, and no match is a no.
//!
//! Nothing here knows HTTP: the adapter hands over the original request's
//! host and path and gets a [`Verdict`].

use crate::model::Role;
use std::fmt;

/// Who a rule lets through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Anyone, signed in or not.
    Public,
    /// Any signed-in user.
    Any,
    /// Users with this role (`user` also admits admins: an admin is a user
    /// with more rights).
    Role(Role),
}

/// Which hosts a rule is about.
#[derive(Clone, Debug, PartialEq, Eq)]
enum HostGlob {
    /// `*`: every host.
    Any,
    /// `*.example.com`: every subdomain of `example.com` (not itself).
    SubdomainsOf(String),
    /// `wiki.example.com`: that host alone.
    Exactly(String),
}

/// One rule: `host[/path-prefix]=access`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ForwardRule {
    host: HostGlob,
    /// Starts with `/`; `/` matches every path.
    path: String,
    pub access: Access,
}

impl fmt::Display for ForwardRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.host {
            HostGlob::Any => f.write_str("*")?,
            HostGlob::SubdomainsOf(d) => write!(f, "*.{d}")?,
            HostGlob::Exactly(h) => f.write_str(h)?,
        }
        if self.path != "/" {
            f.write_str(&self.path)?;
        }
        match self.access {
            Access::Public => f.write_str("=public"),
            Access::Any => f.write_str("=any"),
            Access::Role(r) => write!(f, "={}", r.as_str()),
        }
    }
}

/// Parses `GATEHOUSE_FORWARD_RULES`: entries separated by `;` or new lines,
/// each `host[/path]=access`. The message names the entry that is wrong.
pub fn parse_rules(raw: &str) -> Result<Vec<ForwardRule>, String> {
    let mut rules = Vec::new();
    for entry in raw.split([';', '\n']).map(str::trim).filter(|e| !e.is_empty()) {
        let bad = |why: &str| format!("rule {entry:?}: {why}");
        let (target, access) = entry
            .split_once('=')
            .ok_or_else(|| bad("write it as host[/path]=access, e.g. wiki.example.com=any"))?;
        let access = match access.trim() {
            "public" => Access::Public,
            "any" => Access::Any,
            other => Access::Role(
                Role::parse(other)
                    .ok_or_else(|| bad("the access is public, any, or a role (admin, user)"))?,
            ),
        };
        let target = target.trim();
        let (host, path) = match target.find('/') {
            Some(i) => (&target[..i], &target[i..]),
            None => (target, "/"),
        };
        let host = host.to_ascii_lowercase();
        let name_ok = |h: &str| {
            !h.is_empty()
                && h.split('.').all(|label| {
                    !label.is_empty()
                        && label.len() <= 63
                        && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                })
        };
        let host = if host == "*" {
            HostGlob::Any
        } else if let Some(domain) = host.strip_prefix("*.") {
            if !name_ok(domain) {
                return Err(bad("after *. comes a domain name, e.g. *.example.com"));
            }
            HostGlob::SubdomainsOf(domain.to_string())
        } else if name_ok(&host) {
            HostGlob::Exactly(host)
        } else {
            return Err(bad(
                "the host is a name (wiki.example.com), *.domain, or * for any host",
            ));
        };
        if path.contains(['?', '#', '*', '\\']) || path.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err(bad(
                "the path is a plain prefix such as /admin (no ?, #, * or spaces)",
            ));
        }
        rules.push(ForwardRule {
            host,
            path: normalize_path(path),
            access,
        });
    }
    Ok(rules)
}

/// What the check decides.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Let it through.
    Allow,
    /// Nobody is signed in and the rule wants someone.
    SignIn,
    /// Signed in, but the rule (or no rule) says no.
    Deny,
}

/// The rule that decides about `host` and `path` (the original request's;
/// the host without its port), if any.
pub fn rule_for<'a>(rules: &'a [ForwardRule], host: &str, path: &str) -> Option<&'a ForwardRule> {
    let host = host.to_ascii_lowercase();
    let path = normalize_path(path);
    rules.iter().find(|rule| {
        let host_ok = match &rule.host {
            HostGlob::Any => true,
            HostGlob::SubdomainsOf(d) => {
                host.len() > d.len() + 1 && host.ends_with(d.as_str()) && {
                    let cut = host.len() - d.len();
                    host.as_bytes()[cut - 1] == b'.'
                }
            }
            HostGlob::Exactly(h) => *h == host,
        };
        host_ok && path_has_prefix(&path, &rule.path)
    })
}

/// The verdict for a request to `host` and `path` by `role` (`None`: nobody
/// signed in).
pub fn decide(rules: &[ForwardRule], host: &str, path: &str, role: Option<Role>) -> Verdict {
    // No rule is a no for everyone: signing in would not help.
    let Some(rule) = rule_for(rules, host, path) else {
        return Verdict::Deny;
    };
    match (rule.access, role) {
        (Access::Public, _) => Verdict::Allow,
        (_, None) => Verdict::SignIn,
        (Access::Any, Some(_)) => Verdict::Allow,
        (Access::Role(Role::User), Some(_)) => Verdict::Allow,
        (Access::Role(Role::Admin), Some(Role::Admin)) => Verdict::Allow,
        (Access::Role(Role::Admin), Some(Role::User)) => Verdict::Deny,
    }
}

/// Whether `path` is `prefix` or below it, segment-wise: `/admin` covers
/// `/admin` and `/admin/users`, not `/administrator`.
fn path_has_prefix(path: &str, prefix: &str) -> bool {
    if prefix == "/" {
        return true;
    }
    let prefix = prefix.trim_end_matches('/');
    path == prefix
        || path
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.starts_with('/'))
}

/// The path as the app will understand it, so a rule cannot be walked
/// around: the query cut off, percent-escapes decoded (`/%61dmin` is
/// `/admin`), backslashes as slashes, repeated slashes as one, and `.` and
/// `..` segments resolved (`/public/../admin` is `/admin`).
pub fn normalize_path(raw: &str) -> String {
    let raw = raw.split(['?', '#']).next().unwrap_or("");
    let decoded = percent_decode(raw).replace('\\', "/");
    let mut segments: Vec<&str> = Vec::new();
    for segment in decoded.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    let mut out = String::from("/");
    out.push_str(&segments.join("/"));
    if decoded.ends_with('/') && !segments.is_empty() {
        out.push('/');
    }
    out
}

/// Decodes `%XX` escapes (repeatedly, so `%2561` is `a` too: some apps
/// decode twice); bytes that are not UTF-8 become U+FFFD.
fn percent_decode(raw: &str) -> String {
    let mut s = raw.to_string();
    for _ in 0..3 {
        let bytes = s.as_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        let mut changed = false;
        while i < bytes.len() {
            if bytes[i] == b'%' && i + 2 < bytes.len() {
                let hex = |b: u8| (b as char).to_digit(16);
                if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                    out.push((h * 16 + l) as u8);
                    i += 3;
                    changed = true;
                    continue;
                }
            }
            out.push(bytes[i]);
            i += 1;
        }
        s = String::from_utf8_lossy(&out).into_owned();
        if !changed {
            break;
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(raw: &str) -> Vec<ForwardRule> {
        parse_rules(raw).unwrap()
    }

    #[test]
    fn rules_parse_and_print() {
        let r = rules("admin.example.com=admin; *.example.com/private=user;\n*=any");
        assert_eq!(r.len(), 3);
        let shown: Vec<String> = r.iter().map(|r| r.to_string()).collect();
        assert_eq!(
            shown,
            ["admin.example.com=admin", "*.example.com/private=user", "*=any"]
        );
    }

    #[test]
    fn bad_rules_are_named() {
        for bad in [
            "wiki.example.com",
            "wiki.example.com=everyone",
            "=any",
            "*.=any",
            "wiki example.com=any",
            "*.ex*ample.com=any",
            "wiki.example.com/a?b=any",
            "wiki.example.com/a b=any",
            "http://wiki.example.com=any",
        ] {
            let e = parse_rules(bad).unwrap_err();
            assert!(e.contains("rule"), "{bad}: {e}");
        }
        assert_eq!(parse_rules("").unwrap(), vec![]);
    }

    #[test]
    fn the_first_match_decides_and_no_match_is_no() {
        let r = rules("admin.example.com=admin;*.example.com/private=user;wiki.example.com/public=public;*.example.com=any");
        let d = |host, path, role| decide(&r, host, path, role);
        assert_eq!(d("admin.example.com", "/", Some(Role::User)), Verdict::Deny);
        assert_eq!(d("admin.example.com", "/", Some(Role::Admin)), Verdict::Allow);
        assert_eq!(d("ADMIN.example.com", "/", None), Verdict::SignIn);
        assert_eq!(
            d("wiki.example.com", "/private/x", Some(Role::User)),
            Verdict::Allow
        );
        assert_eq!(d("wiki.example.com", "/public/page", None), Verdict::Allow);
        assert_eq!(d("wiki.example.com", "/publications", None), Verdict::SignIn);
        assert_eq!(d("wiki.example.com", "/", Some(Role::User)), Verdict::Allow);
        // The apex is not a subdomain; another domain matches nothing.
        assert_eq!(d("example.com", "/", Some(Role::User)), Verdict::Deny);
        assert_eq!(d("example.com.evil.test", "/", Some(Role::Admin)), Verdict::Deny);
        assert_eq!(d("evilexample.com", "/", Some(Role::Admin)), Verdict::Deny);
    }

    #[test]
    fn encoded_and_dotted_paths_meet_the_rule_they_mean() {
        let r = rules("app.example.com/admin=admin;app.example.com=any");
        for path in [
            "/admin",
            "/admin/",
            "/%61dmin",
            "/%2561dmin",
            "//admin",
            "/public/../admin",
            "/public/%2e%2e/admin",
            "/./admin/users",
            "/public\\..\\admin",
            "/admin?x=1",
        ] {
            assert_eq!(
                decide(&r, "app.example.com", path, Some(Role::User)),
                Verdict::Deny,
                "{path}"
            );
        }
        assert_eq!(
            decide(&r, "app.example.com", "/administrator", Some(Role::User)),
            Verdict::Allow
        );
    }
}
