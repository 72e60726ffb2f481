//! RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0): a client
//! sends the user here to sign out of Gatehouse, and maybe back.

use super::take_pairs;
use crate::server::core::{sessions::Authenticated, Core, Result};

/// Where a signed-out user lands when no client asked to have them back.
const SIGNED_OUT: &str = "/login?signed_out=1";

/// The parameters of a logout request, as sent (query or form).
#[derive(Clone, Debug, Default)]
pub struct LogoutParams {
    pub id_token_hint: Option<String>,
    pub post_logout_redirect_uri: Option<String>,
    pub state: Option<String>,
    pub client_id: Option<String>,
    pub repeated: Vec<String>,
}

impl LogoutParams {
    pub fn from_pairs(pairs: impl IntoIterator<Item = (String, String)>) -> LogoutParams {
        fn slot<'a>(p: &'a mut LogoutParams, name: &str) -> Option<&'a mut Option<String>> {
            Some(match name {
                "id_token_hint" => &mut p.id_token_hint,
                "post_logout_redirect_uri" => &mut p.post_logout_redirect_uri,
                "state" => &mut p.state,
                "client_id" => &mut p.client_id,
                _ => return None,
            })
        }
        let mut p = LogoutParams::default();
        p.repeated = take_pairs(&mut p, pairs, slot);
        p
    }

    /// The request as a form's hidden fields (for the confirmation page).
    pub fn fields(&self) -> Vec<(&'static str, String)> {
        [
            ("id_token_hint", &self.id_token_hint),
            ("post_logout_redirect_uri", &self.post_logout_redirect_uri),
            ("state", &self.state),
            ("client_id", &self.client_id),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.clone().map(|v| (k, v)))
        .collect()
    }
}

/// What the logout endpoint does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LogoutOutcome {
    /// The request is wrong (an unregistered return address, a forged
    /// hint): the user is told so and sent nowhere.
    Refused(String),
    /// Ask the user first (nothing proves the client's request is theirs);
    /// the app's name when it is known.
    Confirm(Option<String>),
    /// End this browser's session, then go to the address.
    SignOut(String),
    /// Nobody is signed in here: go to the address.
    Redirect(String),
}

impl Core {
    /// Decides a logout request. A valid `id_token_hint` for the signed-in
    /// user (or the user's `confirmed` answer) signs them out at once;
    /// otherwise they are asked, so a link on another site cannot sign
    /// anyone out. `post_logout_redirect_uri` must be registered, exactly,
    /// for the client named by `client_id` or the hint's audience.
    pub async fn logout_request(
        &self,
        p: &LogoutParams,
        auth: Option<&Authenticated>,
        confirmed: bool,
    ) -> Result<LogoutOutcome> {
        let refused = |why: &str| Ok(LogoutOutcome::Refused(why.to_string()));
        if let Some(name) = p.repeated.first() {
            return refused(&format!("The sign-out request gives {name} more than once."));
        }
        // A hint that does not verify (forged, or signed by a key retired
        // since) proves nothing: the user is asked, as without one.
        let hint = match p.id_token_hint.as_deref() {
            Some(token) => self.id_token_hint(token).await?,
            None => None,
        };
        let client_id = match (p.client_id.as_deref(), hint.as_ref().map(|(_, aud)| aud.as_str())) {
            (Some(a), Some(b)) if a != b => return refused("The sign-out request names two different apps."),
            (Some(id), _) | (None, Some(id)) => Some(id.to_string()),
            (None, None) => None,
        };
        let client = match &client_id {
            Some(id) => self.oidc_client(id).await?.filter(|c| c.enabled),
            None => None,
        };
        if client_id.is_some() && client.is_none() {
            return refused("The app that sent you here is not known here (or is switched off).");
        }
        let target = match p.post_logout_redirect_uri.as_deref() {
            None => SIGNED_OUT.to_string(),
            Some(uri) => {
                let Some(client) = &client else {
                    return refused("The sign-out request asks to return to an app without saying which.");
                };
                if !client.post_logout_redirect_uris.iter().any(|u| u == uri) {
                    return refused("The app asked to return to an address that is not registered for it.");
                }
                match url::Url::parse(uri) {
                    Ok(mut url) => {
                        if let Some(state) = p.state.as_deref() {
                            url.query_pairs_mut().append_pair("state", state);
                        }
                        url.to_string()
                    }
                    Err(_) => return refused("The app's return address is not a URL."),
                }
            }
        };
        let Some(auth) = auth.filter(|a| a.session_id().is_some()) else {
            return Ok(LogoutOutcome::Redirect(target));
        };
        let hinted_user = hint.as_ref().is_some_and(|(sub, _)| *sub == auth.user.id);
        if confirmed || hinted_user {
            Ok(LogoutOutcome::SignOut(target))
        } else {
            Ok(LogoutOutcome::Confirm(client.map(|c| c.name)))
        }
    }
}
