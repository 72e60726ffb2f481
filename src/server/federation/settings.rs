//! The identity providers users may sign in with, as the environment names
//! them: `GATEHOUSE_PROVIDERS=google,corp` and, for each id,
//! `GATEHOUSE_PROVIDER_<ID>_*`. Parsed with the rest of the configuration;
//! the providers' own documents are fetched at start (see [`super::Providers`]).

use url::Url;

/// How Gatehouse talks to one provider.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProviderKind {
    /// OpenID Connect: everything else comes from the issuer's discovery
    /// document.
    Oidc { issuer: String },
    /// Plain OAuth 2.0 (GitHub's shape): the user is whoever the userinfo
    /// URL says the access token belongs to.
    OAuth2 {
        authorize_url: String,
        token_url: String,
        userinfo_url: String,
        /// Where the user's addresses are listed with their verification
        /// (GitHub's `/user/emails`), when the userinfo does not say.
        emails_url: Option<String>,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProviderSettings {
    /// Lowercase, in the URLs: `/auth/{id}/start`.
    pub id: String,
    /// The button's text: "Continue with {name}".
    pub name: String,
    pub client_id: String,
    pub client_secret: Option<String>,
    pub scopes: Vec<String>,
    pub kind: ProviderKind,
}

/// The prefix of provider `id`'s variables: `GATEHOUSE_PROVIDER_CORP_`.
pub fn prefix(id: &str) -> String {
    format!(
        "GATEHOUSE_PROVIDER_{}_",
        id.to_ascii_uppercase().replace('-', "_")
    )
}

/// Reads `GATEHOUSE_PROVIDERS` (`raw`) and each provider's variables through
/// `get`. The error names the variable at fault.
pub fn parse(raw: &str, get: &dyn Fn(&str) -> Option<String>) -> Result<Vec<ProviderSettings>, String> {
    let mut out: Vec<ProviderSettings> = Vec::new();
    for id in raw.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let id = id.to_ascii_lowercase();
        let good = id.len() <= 32
            && id
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && !id.starts_with('-');
        if !good {
            return Err(format!(
                "GATEHOUSE_PROVIDERS: {id:?} is not a provider id (letters, digits and '-', at most 32)"
            ));
        }
        if out.iter().any(|p| p.id == id) {
            return Err(format!("GATEHOUSE_PROVIDERS: {id:?} is listed twice"));
        }
        out.push(one(&id, get)?);
    }
    Ok(out)
}

fn one(id: &str, get: &dyn Fn(&str) -> Option<String>) -> Result<ProviderSettings, String> {
    let prefix = prefix(id);
    let var = |suffix: &str| -> (String, Option<String>) {
        let name = format!("{prefix}{suffix}");
        let value = get(&name).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
        (name, value)
    };
    let required = |suffix: &str| -> Result<String, String> {
        let (name, value) = var(suffix);
        value.ok_or_else(|| format!("{name} is not set (provider {id:?} is listed in GATEHOUSE_PROVIDERS)"))
    };
    let url = |suffix: &str| -> Result<Option<String>, String> {
        let (name, value) = var(suffix);
        value
            .map(|v| endpoint_url(&v).map_err(|m| format!("{name}: {m}")))
            .transpose()
    };
    let client_id = required("CLIENT_ID")?;
    let client_secret = var("CLIENT_SECRET").1;
    let name = var("NAME").1.unwrap_or_else(|| default_name(id));
    if name.chars().count() > 64 || name.chars().any(char::is_control) {
        return Err(format!(
            "{prefix}NAME: at most 64 characters, no control characters"
        ));
    }
    let kind = match url("ISSUER")? {
        Some(issuer) => {
            for other in ["AUTHORIZE_URL", "TOKEN_URL", "USERINFO_URL"] {
                if var(other).1.is_some() {
                    return Err(format!(
                        "{prefix}{other}: an OpenID Connect provider ({prefix}ISSUER) takes its endpoints from discovery; set one or the other"
                    ));
                }
            }
            ProviderKind::Oidc {
                issuer: issuer.trim_end_matches('/').to_string(),
            }
        }
        None => {
            let missing = |suffix: &str| {
                format!("{prefix}ISSUER (OpenID Connect) or {prefix}{suffix} (OAuth 2.0) must be set")
            };
            ProviderKind::OAuth2 {
                authorize_url: url("AUTHORIZE_URL")?.ok_or_else(|| missing("AUTHORIZE_URL"))?,
                token_url: url("TOKEN_URL")?.ok_or_else(|| missing("TOKEN_URL"))?,
                userinfo_url: url("USERINFO_URL")?.ok_or_else(|| missing("USERINFO_URL"))?,
                emails_url: url("EMAILS_URL")?,
            }
        }
    };
    let scopes = match var("SCOPES").1 {
        Some(raw) => raw.split_whitespace().map(str::to_string).collect(),
        None if matches!(kind, ProviderKind::Oidc { .. }) => {
            vec!["openid".into(), "email".into(), "profile".into()]
        }
        None => Vec::new(),
    };
    if matches!(kind, ProviderKind::Oidc { .. }) && !scopes.iter().any(|s| s == "openid") {
        return Err(format!(
            "{prefix}SCOPES: an OpenID Connect provider needs the openid scope"
        ));
    }
    Ok(ProviderSettings {
        id: id.to_string(),
        name,
        client_id,
        client_secret,
        scopes,
        kind,
    })
}

fn default_name(id: &str) -> String {
    let mut chars = id.chars();
    match chars.next() {
        Some(first) => first.to_ascii_uppercase().to_string() + chars.as_str(),
        None => String::new(),
    }
}

/// A provider's address: `https://`, or `http://` on this machine only
/// (tests, and a provider beside Gatehouse): tokens never cross a network
/// in the clear.
pub fn endpoint_url(raw: &str) -> Result<String, String> {
    let url = Url::parse(raw).map_err(|e| format!("{raw:?} is not a URL ({e})"))?;
    match url.scheme() {
        "https" => {}
        "http" if is_loopback(&url) => {}
        "http" => return Err(format!("{raw:?} must be https:// (http:// only for localhost)")),
        _ => return Err(format!("{raw:?} must be an https:// URL")),
    }
    if url.host_str().is_none() || !url.username().is_empty() || url.password().is_some() {
        return Err(format!("{raw:?} must have a host and no credentials"));
    }
    if url.fragment().is_some() {
        return Err(format!("{raw:?} must not have a fragment"));
    }
    Ok(raw.to_string())
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn parse_with(raw: &str, vars: &[(&str, &str)]) -> Result<Vec<ProviderSettings>, String> {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        parse(raw, &|name| map.get(name).cloned())
    }

    #[test]
    fn an_oidc_provider_needs_an_issuer_and_a_client_id() {
        let p = parse_with(
            "corp",
            &[
                ("GATEHOUSE_PROVIDER_CORP_ISSUER", "https://id.corp.example/"),
                ("GATEHOUSE_PROVIDER_CORP_CLIENT_ID", "gatehouse"),
                ("GATEHOUSE_PROVIDER_CORP_CLIENT_SECRET", "s3cret"),
            ],
        )
        .unwrap();
        assert_eq!(p[0].name, "Corp");
        assert_eq!(p[0].scopes, ["openid", "email", "profile"]);
        assert_eq!(
            p[0].kind,
            ProviderKind::Oidc {
                issuer: "https://id.corp.example".into()
            }
        );
        let e = parse_with(
            "corp",
            &[("GATEHOUSE_PROVIDER_CORP_ISSUER", "https://id.corp.example")],
        )
        .unwrap_err();
        assert!(e.contains("GATEHOUSE_PROVIDER_CORP_CLIENT_ID"), "{e}");
    }

    #[test]
    fn a_plain_oauth_provider_names_its_three_urls() {
        let p = parse_with(
            "github",
            &[
                ("GATEHOUSE_PROVIDER_GITHUB_CLIENT_ID", "x"),
                (
                    "GATEHOUSE_PROVIDER_GITHUB_AUTHORIZE_URL",
                    "https://github.com/login/oauth/authorize",
                ),
                (
                    "GATEHOUSE_PROVIDER_GITHUB_TOKEN_URL",
                    "https://github.com/login/oauth/access_token",
                ),
                (
                    "GATEHOUSE_PROVIDER_GITHUB_USERINFO_URL",
                    "https://api.github.com/user",
                ),
                ("GATEHOUSE_PROVIDER_GITHUB_NAME", "GitHub"),
            ],
        )
        .unwrap();
        assert_eq!(p[0].name, "GitHub");
        assert!(p[0].scopes.is_empty());
        let e = parse_with(
            "github",
            &[
                ("GATEHOUSE_PROVIDER_GITHUB_CLIENT_ID", "x"),
                (
                    "GATEHOUSE_PROVIDER_GITHUB_AUTHORIZE_URL",
                    "https://github.com/login/oauth/authorize",
                ),
            ],
        )
        .unwrap_err();
        assert!(e.contains("GATEHOUSE_PROVIDER_GITHUB_TOKEN_URL"), "{e}");
    }

    #[test]
    fn bad_values_are_named() {
        for (raw, vars, needle) in [
            ("Bad_Id", vec![], "GATEHOUSE_PROVIDERS"),
            (
                "a,a",
                vec![
                    ("GATEHOUSE_PROVIDER_A_ISSUER", "https://a.example"),
                    ("GATEHOUSE_PROVIDER_A_CLIENT_ID", "x"),
                ],
                "twice",
            ),
            (
                "a",
                vec![
                    ("GATEHOUSE_PROVIDER_A_ISSUER", "http://a.example"),
                    ("GATEHOUSE_PROVIDER_A_CLIENT_ID", "x"),
                ],
                "GATEHOUSE_PROVIDER_A_ISSUER",
            ),
            (
                "a",
                vec![
                    ("GATEHOUSE_PROVIDER_A_ISSUER", "https://a.example"),
                    ("GATEHOUSE_PROVIDER_A_CLIENT_ID", "x"),
                    ("GATEHOUSE_PROVIDER_A_SCOPES", "email"),
                ],
                "openid",
            ),
            (
                "my-idp",
                vec![("GATEHOUSE_PROVIDER_MY_IDP_CLIENT_ID", "x")],
                "GATEHOUSE_PROVIDER_MY_IDP_ISSUER",
            ),
        ] {
            let e = parse_with(raw, &vars).unwrap_err();
            assert!(e.contains(needle), "{raw}: {e}");
        }
        assert!(endpoint_url("http://127.0.0.1:9000/").is_ok());
        assert!(endpoint_url("http://localhost:9000/").is_ok());
    }
}
