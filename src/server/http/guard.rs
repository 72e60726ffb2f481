//! Route guards for pages, decided on the server before anything renders: a
//! redirect carries no page body.

use crate::{
    model::login_url_for,
    server::{
        auth::{AuthUnavailable, CurrentAuth},
        AppState,
    },
};
use axum::{
    extract::{Request, State},
    http::{header, HeaderValue, Method, StatusCode},
    middleware::Next,
    response::{IntoResponse, Response},
};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Page {
    /// `/setup`: only while no user exists.
    Setup,
    /// `/`: to the dashboard or the login page.
    Root,
    /// `/login`, `/signup`: for people not signed in.
    Guest,
    /// `/private`: the dashboard's other name.
    Private,
    /// Signed-in pages.
    Protected,
    /// Anyone's pages: the landing pages of mail links, forgot-password.
    Open,
}

fn classify(path: &str) -> Option<Page> {
    Some(match path {
        "/setup" => Page::Setup,
        "/" => Page::Root,
        "/login" | "/signup" | "/login/mfa" => Page::Guest,
        "/private" => Page::Private,
        "/forgot-password" | "/reset-password" | "/verify-email" | "/confirm-email" | "/invite" => Page::Open,
        "/dashboard" | "/account" | "/admin" | "/reauth" | "/oauth2/consent" => Page::Protected,
        p if p.starts_with("/admin/") || p.starts_with("/account/") => Page::Protected,
        _ => return None,
    })
}

/// A path that is not one of ours but names a page rather than a file
/// (`/favicon.ico`) or an API resource.
fn could_be_a_page(path: &str) -> bool {
    let last = path.rsplit('/').next().unwrap_or("");
    !path.starts_with("/api/") && !path.starts_with("/fn/") && !last.contains('.')
}

/// The page for a moment without the database: 503 with `Retry-After`, so
/// nobody is sent to log in (or told they are signed out) by an outage.
fn try_again_later() -> Response {
    const PAGE: &str = "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>Try again in a moment · Gatehouse</title><link rel=\"stylesheet\" href=\"/pkg/gatehouse.css\"></head>\
<body><main id=\"main\" class=\"page\"><section class=\"card narrow center\" aria-labelledby=\"t\">\
<p class=\"eyebrow\">503</p><h1 id=\"t\">Try again in a moment</h1>\
<p class=\"muted\">Gatehouse cannot reach its database just now. Nothing is lost and you are still signed in; \
this page works again in a few seconds.</p><a class=\"btn btn-primary\" href=\"\">Try again</a>\
</section></main></body></html>";
    let mut res = (StatusCode::SERVICE_UNAVAILABLE, PAGE).into_response();
    let headers = res.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(
        header::RETRY_AFTER,
        HeaderValue::from(crate::server::core::error::UNAVAILABLE_RETRY_AFTER),
    );
    res
}

fn found(location: &str) -> Response {
    let mut res = StatusCode::FOUND.into_response();
    if let Ok(v) = HeaderValue::from_str(location) {
        res.headers_mut().insert(header::LOCATION, v);
    }
    res
}

/// Middleware on the page routes.
pub async fn guard_pages(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if !matches!(*req.method(), Method::GET | Method::HEAD) {
        return next.run(req).await;
    }
    let path = req.uri().path();
    let page = classify(path);
    if page.is_none() && !could_be_a_page(path) {
        return next.run(req).await;
    }
    let setup_required = match state.core.setup_required().await {
        Ok(v) => v,
        Err(e) => {
            tracing::warn!(error = %e, "could not check setup state");
            return try_again_later();
        }
    };
    if req.extensions().get::<AuthUnavailable>().is_some() && page.is_some() {
        return try_again_later();
    }
    let Some(page) = page else {
        // Before setup every page but /setup leads there, unknown ones too;
        // afterwards an unknown path gets the 404 page.
        return if setup_required {
            found("/setup")
        } else {
            next.run(req).await
        };
    };
    let auth = req.extensions().get::<CurrentAuth>().and_then(|a| a.0.clone());
    let signed_in = auth.is_some();
    // Until a second factor the policy requires is set up, the account page
    // (where it is set up) is all there is.
    let must_enrol = auth.is_some_and(|a| a.must_enrol);
    if must_enrol
        && matches!(page, Page::Root | Page::Private | Page::Protected)
        && !matches!(path, "/account" | "/account/recovery-codes" | "/reauth")
    {
        return found("/account?enrol=1#security");
    }
    match page {
        Page::Setup if !setup_required => found("/login"),
        Page::Setup => next.run(req).await,
        _ if setup_required => found("/setup"),
        Page::Root | Page::Private if signed_in => found("/dashboard"),
        Page::Root => found("/login"),
        // Signed in already: on to where the sign-in was for (an app's
        // authorization request, say), else the dashboard.
        Page::Guest if signed_in => {
            let back = req
                .uri()
                .query()
                .and_then(|q| url::form_urlencoded::parse(q.as_bytes()).find(|(k, _)| k == "return"))
                .map(|(_, v)| v.into_owned());
            found(&state.config.safe_return(back.as_deref()))
        }
        Page::Private | Page::Protected if !signed_in => {
            let target = req.uri().path_and_query().map(|pq| pq.as_str()).unwrap_or("/");
            found(&login_url_for(target))
        }
        Page::Guest | Page::Private | Page::Protected | Page::Open => next.run(req).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_are_classified() {
        assert_eq!(classify("/dashboard"), Some(Page::Protected));
        assert_eq!(classify("/admin/users"), Some(Page::Protected));
        assert_eq!(classify("/login"), Some(Page::Guest));
        assert_eq!(classify("/pkg/gatehouse.wasm"), None);
        assert_eq!(classify("/api/v1/auth/login"), None);
        assert_eq!(classify("/nope"), None);
    }

    #[test]
    fn files_and_api_paths_are_not_pages() {
        assert!(could_be_a_page("/nope"));
        assert!(could_be_a_page("/a/b"));
        assert!(!could_be_a_page("/favicon.ico"));
        assert!(!could_be_a_page("/api/v1/whatever"));
        assert!(!could_be_a_page("/fn/login"));
    }
}
