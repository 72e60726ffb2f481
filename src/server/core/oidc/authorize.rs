//! The authorization endpoint and the consent that may come before its code
//! (RFC 6749 §4.1, RFC 7636, OpenID Connect Core §3.1.2, RFC 9207).

use super::{split_list, take_pairs, OAuthCode, OidcClient};
use crate::{
    model::oidc::{scope_in_words, ConsentQuestion},
    server::{
        core::{
            audit::Event,
            keys::Expect,
            sessions::Authenticated,
            tokens::{hash_token, random_token},
            Client, Core, Result,
        },
        db::oidc::{self as db, CodeRow},
    },
};

/// A code is good this long.
const CODE_SECONDS: i64 = 60;
/// The header `typ` and audience of a sign-in marker (`login_after`), and
/// how long one is good for.
const MARKER_TYP: &str = "gatehouse-login+jwt";
const MARKER_AUD: &str = "gatehouse-login-after";
const MARKER_SECONDS: i64 = 900;

/// A sign-in marker's claims.
#[derive(serde::Serialize, serde::Deserialize)]
struct LoginMarker {
    iss: String,
    aud: String,
    iat: i64,
    exp: i64,
    /// Which request it is for (see [`request_binding`]).
    sub: String,
}

/// The longest `state` and `nonce` kept.
const MAX_STATE: usize = 2048;

/// The parameters of an authorization request, as sent (query or form).
#[derive(Clone, Debug, Default)]
pub struct AuthorizeParams {
    pub client_id: Option<String>,
    pub redirect_uri: Option<String>,
    pub response_type: Option<String>,
    pub scope: Option<String>,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
    pub prompt: Option<String>,
    pub max_age: Option<String>,
    pub login_hint: Option<String>,
    pub response_mode: Option<String>,
    pub request: Option<String>,
    pub request_uri: Option<String>,
    /// Ours: a signed marker saying the user was sent to sign in (again)
    /// for this request at a time; a sign-in since satisfies `prompt=login`
    /// and `max_age` (see `Core::login_marker`).
    pub login_after: Option<String>,
    /// Parameters given more than once.
    pub repeated: Vec<String>,
}

impl AuthorizeParams {
    pub fn from_pairs(pairs: impl IntoIterator<Item = (String, String)>) -> AuthorizeParams {
        fn slot<'a>(p: &'a mut AuthorizeParams, name: &str) -> Option<&'a mut Option<String>> {
            Some(match name {
                "client_id" => &mut p.client_id,
                "redirect_uri" => &mut p.redirect_uri,
                "response_type" => &mut p.response_type,
                "scope" => &mut p.scope,
                "state" => &mut p.state,
                "nonce" => &mut p.nonce,
                "code_challenge" => &mut p.code_challenge,
                "code_challenge_method" => &mut p.code_challenge_method,
                "prompt" => &mut p.prompt,
                "max_age" => &mut p.max_age,
                "login_hint" => &mut p.login_hint,
                "response_mode" => &mut p.response_mode,
                "request" => &mut p.request,
                "request_uri" => &mut p.request_uri,
                "login_after" => &mut p.login_after,
                _ => return None,
            })
        }
        let mut p = AuthorizeParams::default();
        p.repeated = take_pairs(&mut p, pairs, slot);
        p
    }

    /// The request as a query string (the parameters it knows), to come
    /// back to after signing in or to carry to the consent page.
    pub fn to_query(&self) -> String {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        for (name, value) in [
            ("client_id", &self.client_id),
            ("redirect_uri", &self.redirect_uri),
            ("response_type", &self.response_type),
            ("scope", &self.scope),
            ("state", &self.state),
            ("nonce", &self.nonce),
            ("code_challenge", &self.code_challenge),
            ("code_challenge_method", &self.code_challenge_method),
            ("prompt", &self.prompt),
            ("max_age", &self.max_age),
            ("login_hint", &self.login_hint),
            ("response_mode", &self.response_mode),
            ("login_after", &self.login_after),
        ] {
            if let Some(v) = value {
                q.append_pair(name, v);
            }
        }
        q.finish()
    }
}

/// What the authorization endpoint does next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuthorizeOutcome {
    /// The client or its redirect URI is unknown or wrong: the user is told
    /// so, and never sent anywhere (an open redirector otherwise).
    Refused(String),
    /// Back to the client: a code, or an error (`error`, `error_description`,
    /// `state`, `iss`).
    Redirect(String),
    /// Sign in first and come back to `return_to`; with `again`, the user is
    /// signed in but must prove it again (`prompt=login`, `max_age`).
    SignIn {
        return_to: String,
        again: bool,
        login_hint: Option<String>,
    },
    /// The account must set up the second factor the policy requires first.
    Enrol,
    /// Ask the user: the consent page, with this query.
    Consent(String),
}

/// `prompt`'s values.
#[derive(Clone, Copy, Debug, Default)]
struct Prompt {
    none: bool,
    login: bool,
    consent: bool,
}

/// A request that passed every check that needs no user.
#[derive(Clone, Debug)]
struct Checked {
    client: OidcClient,
    redirect_uri: String,
    scopes: Vec<String>,
    state: Option<String>,
    nonce: Option<String>,
    challenge: String,
    prompt: Prompt,
    max_age: Option<i64>,
    params: AuthorizeParams,
}

/// What ties a marker to one authorization request: its client, redirect
/// URI and PKCE challenge (new for every request a client makes).
fn request_binding(c: &Checked) -> String {
    hash_token(&format!("{}\n{}\n{}", c.client.id, c.redirect_uri, c.challenge))
}

/// Whether the requested redirect URI is the registered one: the same
/// string, or, for `http://127.0.0.1`, `http://[::1]` and `http://localhost`,
/// the same but for the port (RFC 8252 §7.3: a native app listens on
/// whatever port the system gives it).
fn redirect_matches(registered: &str, requested: &str) -> bool {
    if registered == requested {
        return true;
    }
    let (Ok(a), Ok(b)) = (url::Url::parse(registered), url::Url::parse(requested)) else {
        return false;
    };
    let loopback = |u: &url::Url| {
        u.scheme() == "http"
            && matches!(
                u.host_str(),
                Some("127.0.0.1") | Some("[::1]") | Some("localhost")
            )
    };
    loopback(&a)
        && loopback(&b)
        && a.host_str() == b.host_str()
        && a.username().is_empty()
        && b.username().is_empty()
        && b.password().is_none()
        && b.fragment().is_none()
        && a.path() == b.path()
        && a.query() == b.query()
        // The whole string minus the port must be the same (no
        // normalisation the registration did not have).
        && {
            let mut b_as_a = b.clone();
            b_as_a.set_port(a.port()).is_ok() && b_as_a.as_str() == a.as_str() && requested == b.as_str()
        }
}

/// `redirect_uri` with `pairs` added to its query.
fn with_query(redirect_uri: &str, pairs: &[(&str, &str)]) -> String {
    match url::Url::parse(redirect_uri) {
        Ok(mut url) => {
            {
                let mut q = url.query_pairs_mut();
                for (k, v) in pairs {
                    q.append_pair(k, v);
                }
            }
            url.to_string()
        }
        // Registered URIs parse (they were checked); never reached.
        Err(_) => redirect_uri.to_string(),
    }
}

impl Core {
    /// An error sent back to the client (RFC 6749 §4.1.2.1 with RFC 9207's `iss`).
    fn error_redirect(
        &self,
        redirect_uri: &str,
        state: Option<&str>,
        code: OAuthCode,
        description: &str,
    ) -> AuthorizeOutcome {
        let issuer = self.issuer();
        let description = super::description_text(description);
        let mut pairs = vec![
            ("error", code.as_str()),
            ("error_description", description.as_str()),
        ];
        if let Some(state) = state {
            pairs.push(("state", state));
        }
        pairs.push(("iss", &issuer));
        AuthorizeOutcome::Redirect(with_query(redirect_uri, &pairs))
    }

    /// The checks that need no user, in the order the specifications give:
    /// the client and its redirect URI first (an error page when either is
    /// wrong), then everything else (errors sent back to the client).
    async fn check_request(
        &self,
        p: &AuthorizeParams,
    ) -> Result<std::result::Result<Checked, AuthorizeOutcome>> {
        let refused = |why: &str| Ok(Err(AuthorizeOutcome::Refused(why.to_string())));
        if p.repeated.iter().any(|n| n == "client_id" || n == "redirect_uri") {
            return refused("The sign-in request names its app or its return address more than once.");
        }
        let Some(client_id) = p.client_id.as_deref() else {
            return refused("The sign-in request does not say which app it is for.");
        };
        let Some(client) = self.oidc_client(client_id).await?.filter(|c| c.enabled) else {
            return refused("The app that sent you here is not known here (or is switched off).");
        };
        let Some(redirect_uri) = p.redirect_uri.clone() else {
            return refused("The sign-in request does not say where to return to.");
        };
        if !client
            .redirect_uris
            .iter()
            .any(|r| redirect_matches(r, &redirect_uri))
        {
            return refused("The app asked to return to an address that is not registered for it.");
        }
        let state = if p.repeated.iter().any(|n| n == "state") {
            None
        } else {
            p.state.clone()
        };
        let fail = |code: OAuthCode, why: &str| {
            Ok(Err(self.error_redirect(
                &redirect_uri,
                state.as_deref(),
                code,
                why,
            )))
        };
        if let Some(name) = p.repeated.first() {
            return fail(
                OAuthCode::InvalidRequest,
                &format!("{name} is given more than once"),
            );
        }
        if p.request.is_some() {
            return fail(
                OAuthCode::RequestNotSupported,
                "request objects are not supported",
            );
        }
        if p.request_uri.is_some() {
            return fail(OAuthCode::RequestUriNotSupported, "request_uri is not supported");
        }
        if p.state.as_ref().is_some_and(|s| s.len() > MAX_STATE)
            || p.nonce.as_ref().is_some_and(|s| s.len() > MAX_STATE)
        {
            return fail(
                OAuthCode::InvalidRequest,
                "state and nonce are at most 2048 characters",
            );
        }
        if p.response_mode.as_deref().is_some_and(|m| m != "query") {
            return fail(OAuthCode::InvalidRequest, "response_mode must be query");
        }
        match p.response_type.as_deref() {
            None => return fail(OAuthCode::InvalidRequest, "response_type is required"),
            Some("code") => {}
            Some(_) => {
                return fail(
                    OAuthCode::UnsupportedResponseType,
                    "only response_type=code is supported (no implicit or hybrid flow)",
                )
            }
        }
        if !client.allows_grant("authorization_code") {
            return fail(
                OAuthCode::UnauthorizedClient,
                "this client may not use the authorization code flow",
            );
        }
        let scopes = split_list(p.scope.as_deref().unwrap_or(""));
        if scopes.is_empty() {
            return fail(
                OAuthCode::InvalidScope,
                "scope is required (openid for OpenID Connect)",
            );
        }
        if let Some(bad) = scopes.iter().find(|s| !client.allows_scope(s)) {
            return fail(
                OAuthCode::InvalidScope,
                &format!("scope {bad} is not allowed for this client"),
            );
        }
        if scopes.iter().any(|s| s == "offline_access") && !client.allows_grant("refresh_token") {
            return fail(
                OAuthCode::InvalidScope,
                "offline_access needs the refresh_token grant, which this client lacks",
            );
        }
        let Some(challenge) = p.code_challenge.clone() else {
            return fail(
                OAuthCode::InvalidRequest,
                "code_challenge is required (PKCE with S256)",
            );
        };
        if p.code_challenge_method.as_deref() != Some("S256") {
            return fail(
                OAuthCode::InvalidRequest,
                "code_challenge_method must be S256 (plain is not accepted)",
            );
        }
        let is_b64url = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
        if challenge.len() != 43 || !challenge.chars().all(is_b64url) {
            return fail(
                OAuthCode::InvalidRequest,
                "code_challenge must be the base64url SHA-256 of the verifier (43 characters)",
            );
        }
        let mut prompt = Prompt::default();
        for value in split_list(p.prompt.as_deref().unwrap_or("")) {
            match value.as_str() {
                "none" => prompt.none = true,
                // No account chooser here: signing in again is how to switch.
                "login" | "select_account" => prompt.login = true,
                "consent" => prompt.consent = true,
                other => {
                    return fail(
                        OAuthCode::InvalidRequest,
                        &format!("prompt={other} is not supported"),
                    )
                }
            }
        }
        if prompt.none && (prompt.login || prompt.consent) {
            return fail(
                OAuthCode::InvalidRequest,
                "prompt=none cannot be combined with other values",
            );
        }
        let max_age = match p.max_age.as_deref() {
            None => None,
            Some(raw) => match raw.parse::<i64>() {
                Ok(n) if n >= 0 => Some(n),
                _ => return fail(OAuthCode::InvalidRequest, "max_age must be a number of seconds"),
            },
        };
        Ok(Ok(Checked {
            client,
            redirect_uri,
            scopes,
            state,
            nonce: p.nonce.clone(),
            challenge,
            prompt,
            max_age,
            params: p.clone(),
        }))
    }

    /// A marker for the address the user comes back to after signing in
    /// (again): "a sign-in after `now` is needed", signed with the token
    /// keys and bound to this request (client, redirect URI and PKCE
    /// challenge), so it can be neither forged nor carried over to another
    /// request. `prompt=login` stays in the address: only a valid marker and
    /// a sign-in since satisfy it.
    async fn login_marker(&self, c: &Checked, now: i64) -> Result<String> {
        self.sign(
            MARKER_TYP,
            &LoginMarker {
                iss: self.issuer(),
                aud: MARKER_AUD.into(),
                iat: now,
                exp: now + MARKER_SECONDS,
                sub: request_binding(c),
            },
        )
        .await
    }

    /// The time in this request's marker, if it carries a valid one.
    async fn marker_time(&self, c: &Checked) -> Option<i64> {
        let token = c.params.login_after.as_deref()?;
        let issuer = self.issuer();
        let expect = Expect {
            typ: MARKER_TYP,
            issuer: &issuer,
            audience: Some(MARKER_AUD),
            leeway: 5,
            expired_ok: false,
        };
        let marker: LoginMarker = self.verify(token, &expect).await.ok()?;
        (marker.sub == request_binding(c)).then_some(marker.iat)
    }

    /// The checks of the signed-in user: signed in (in this browser), the
    /// second factor the policy requires set up, and a sign-in as fresh as
    /// `prompt=login` or `max_age` asks. `None` when all pass.
    async fn check_user(
        &self,
        c: &Checked,
        auth: Option<&Authenticated>,
    ) -> Result<Option<AuthorizeOutcome>> {
        let now = super::super::now();
        // To the sign-in (`again`: the re-authentication page), and back
        // here with a marker: that sign-in satisfies prompt=login and max_age.
        let sign_in = |again: bool| async move {
            let mut back = c.params.clone();
            back.login_after = Some(self.login_marker(c, now).await?);
            Ok(Some(AuthorizeOutcome::SignIn {
                return_to: format!("/oauth2/authorize?{}", back.to_query()),
                again,
                login_hint: c.params.login_hint.clone(),
            }))
        };
        let signed_in = auth.filter(|a| a.session_id().is_some());
        let Some(auth) = signed_in else {
            if c.prompt.none {
                return Ok(Some(self.error_redirect(
                    &c.redirect_uri,
                    c.state.as_deref(),
                    OAuthCode::LoginRequired,
                    "the user is not signed in",
                )));
            }
            return sign_in(false).await;
        };
        if auth.must_enrol {
            if c.prompt.none {
                return Ok(Some(self.error_redirect(
                    &c.redirect_uri,
                    c.state.as_deref(),
                    OAuthCode::InteractionRequired,
                    "the user must set up a second factor first",
                )));
            }
            return Ok(Some(AuthorizeOutcome::Enrol));
        }
        // A sign-in since the user was sent to sign in is the fresh one
        // asked for (whatever max_age says by the time they are back).
        let signed_in_since = match c.params.login_after {
            Some(_) => self.marker_time(c).await.is_some_and(|t| auth.auth_at >= t),
            None => false,
        };
        let too_old = c.max_age.is_some_and(|m| now - auth.auth_at > m) && !signed_in_since;
        // Sent to sign in again (a marker given): only that sign-in will do.
        let fresh_needed = c.prompt.login || c.params.login_after.is_some();
        if (fresh_needed && !signed_in_since) || too_old {
            if c.prompt.none {
                return Ok(Some(self.error_redirect(
                    &c.redirect_uri,
                    c.state.as_deref(),
                    OAuthCode::LoginRequired,
                    "the sign-in is older than max_age allows",
                )));
            }
            return sign_in(true).await;
        }
        Ok(None)
    }

    /// Whether `user_id` already allowed `client` every one of `scopes`.
    pub(super) async fn consented(
        &self,
        user_id: &str,
        client: &OidcClient,
        scopes: &[String],
    ) -> Result<bool> {
        if client.first_party {
            return Ok(true);
        }
        let Some(granted) = db::consent(&self.db, user_id, &client.id).await? else {
            return Ok(false);
        };
        let granted = split_list(&granted);
        Ok(scopes.iter().all(|s| granted.contains(s)))
    }

    /// The checks of the request, then of the user, that the authorization
    /// endpoint and the consent page share: the checked request and the
    /// signed-in user, or the outcome to follow instead.
    async fn checked<'a>(
        &self,
        params: &AuthorizeParams,
        auth: Option<&'a Authenticated>,
    ) -> Result<std::result::Result<(Checked, &'a Authenticated), AuthorizeOutcome>> {
        let c = match self.check_request(params).await? {
            Ok(c) => c,
            Err(outcome) => return Ok(Err(outcome)),
        };
        if let Some(first) = self.check_user(&c, auth).await? {
            return Ok(Err(first));
        }
        match auth {
            Some(auth) => Ok(Ok((c, auth))),
            None => Ok(Err(AuthorizeOutcome::Refused("Sign in first.".into()))),
        }
    }

    /// The authorization endpoint: a code for the client, or what must
    /// happen first (sign in, consent), or an error (see [`AuthorizeOutcome`]).
    pub async fn authorize(
        &self,
        params: &AuthorizeParams,
        auth: Option<&Authenticated>,
    ) -> Result<AuthorizeOutcome> {
        let (c, auth) = match self.checked(params, auth).await? {
            Ok(checked) => checked,
            Err(outcome) => return Ok(outcome),
        };
        if c.prompt.consent || !self.consented(&auth.user.id, &c.client, &c.scopes).await? {
            if c.prompt.none {
                return Ok(self.error_redirect(
                    &c.redirect_uri,
                    c.state.as_deref(),
                    OAuthCode::ConsentRequired,
                    "the user has not allowed this app yet",
                ));
            }
            return Ok(AuthorizeOutcome::Consent(format!(
                "/oauth2/consent?{}",
                params.to_query()
            )));
        }
        self.issue_code(&c, auth).await
    }

    /// What the consent page asks about `params` (the same checks as the
    /// authorization endpoint first: anything else is the outcome to follow).
    pub async fn consent_question(
        &self,
        params: &AuthorizeParams,
        auth: Option<&Authenticated>,
    ) -> Result<std::result::Result<ConsentQuestion, AuthorizeOutcome>> {
        let (c, auth) = match self.checked(params, auth).await? {
            Ok(checked) => checked,
            Err(outcome) => return Ok(Err(outcome)),
        };
        let origin = url::Url::parse(&c.redirect_uri)
            .map(|u| u.origin().ascii_serialization())
            .unwrap_or_default();
        Ok(Ok(ConsentQuestion {
            client_name: c.client.name.clone(),
            username: auth.user.username.clone(),
            wants: c
                .scopes
                .iter()
                .filter_map(|s| scope_in_words(s))
                .map(String::from)
                .collect(),
            origin,
        }))
    }

    /// The user's answer on the consent page: allowed, it is remembered
    /// (for this user, client and scopes) and the client gets its code;
    /// denied, the client gets `access_denied`.
    pub async fn decide_consent(
        &self,
        params: &AuthorizeParams,
        auth: Option<&Authenticated>,
        allow: bool,
        client: &Client,
    ) -> Result<AuthorizeOutcome> {
        let (c, auth) = match self.checked(params, auth).await? {
            Ok(checked) => checked,
            Err(outcome) => return Ok(outcome),
        };
        if !allow {
            return Ok(self.error_redirect(
                &c.redirect_uri,
                c.state.as_deref(),
                OAuthCode::AccessDenied,
                "the user did not allow it",
            ));
        }
        let mut granted = match db::consent(&self.db, &auth.user.id, &c.client.id).await? {
            Some(before) => split_list(&before),
            None => Vec::new(),
        };
        for s in &c.scopes {
            if !granted.contains(s) {
                granted.push(s.clone());
            }
        }
        db::save_consent(
            &self.db,
            &auth.user.id,
            &c.client.id,
            &granted.join(" "),
            super::super::now(),
        )
        .await?;
        let detail = format!("{} ({}): {}", c.client.name, c.client.id, c.scopes.join(" "));
        self.audit(Event::ConsentGranted, Some(&auth.user.id), client, Some(&detail))
            .await;
        self.issue_code(&c, auth).await
    }

    /// A code for `c`, sent back to the client with `state` and `iss`:
    /// 256 random bits, stored hashed, good once for 60 seconds, bound to
    /// the client, redirect URI, PKCE challenge, nonce and the sign-in.
    async fn issue_code(&self, c: &Checked, auth: &Authenticated) -> Result<AuthorizeOutcome> {
        let amr = match auth.session_id() {
            Some(sid) => self.session_amr(sid).await?,
            None => "pwd".into(),
        };
        let code = random_token(32);
        let now = super::super::now();
        db::insert_code(
            &self.db,
            &CodeRow {
                code_hash: hash_token(&code),
                client_id: c.client.id.clone(),
                user_id: auth.user.id.clone(),
                redirect_uri: c.redirect_uri.clone(),
                scope: c.scopes.join(" "),
                nonce: c.nonce.clone(),
                code_challenge: c.challenge.clone(),
                auth_time: auth.auth_at,
                amr,
                created_at: now,
                expires_at: now + CODE_SECONDS,
                used_at: None,
                family_id: None,
            },
        )
        .await?;
        let issuer = self.issuer();
        let mut pairs = vec![("code", code.as_str())];
        if let Some(state) = c.state.as_deref() {
            pairs.push(("state", state));
        }
        pairs.push(("iss", &issuer));
        Ok(AuthorizeOutcome::Redirect(with_query(&c.redirect_uri, &pairs)))
    }
}
