//! The whole HTTP application: pages, server functions, the JSON API and
//! the middleware around them.

use super::{auth, http, AppState};
use crate::app::{shell, App};
use axum::{
    body::Body,
    extract::Request,
    http::{header, HeaderValue, Response, StatusCode},
    middleware::{self, from_fn, from_fn_with_state},
    Router,
};
use leptos::prelude::{provide_context, use_context};
use leptos_axum::{generate_route_list, AxumRouteListing, LeptosRoutes};
use std::{convert::Infallible, sync::OnceLock, time::Duration};
use tower::{
    util::{MapRequestLayer, MapResponseLayer},
    Service, ServiceBuilder,
};
use tower_http::{
    catch_panic::CatchPanicLayer,
    limit::RequestBodyLimitLayer,
    request_id::{MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer},
    sensitive_headers::SetSensitiveRequestHeadersLayer,
    services::ServeDir,
    set_header::SetResponseHeaderLayer,
    trace::{DefaultOnRequest, DefaultOnResponse, TraceLayer},
};
use tower_sessions::{cookie::SameSite, Expiry, SessionManagerLayer};
use tracing::Level;

/// Request bodies over this get 413.
const BODY_LIMIT: usize = 64 * 1024;
/// A request that takes longer than this is cut off (408).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Context every render and server function gets: this request's CSP nonce
/// (so Leptos' inline scripts carry it).
fn leptos_context() -> impl Fn() + Clone + Send + Sync + 'static {
    || {
        if let Some(parts) = use_context::<axum::http::request::Parts>() {
            if let Some(nonce) = parts.extensions.get::<http::security::CspNonce>() {
                provide_context(leptos::nonce::Nonce::from_value(nonce.0.clone()));
            }
        }
    }
}

/// The app's pages, listed once per process. Listing runs the app, and while
/// it runs Leptos keeps every resource in the process from loading (a
/// process-wide flag): a page of another router in the same process that
/// first polled its data in that window would never finish. Listed once,
/// before any router exists, no page can be rendering meanwhile.
fn page_routes() -> Vec<AxumRouteListing> {
    static ROUTES: OnceLock<Vec<AxumRouteListing>> = OnceLock::new();
    ROUTES.get_or_init(|| generate_route_list(App)).clone()
}

/// The app: the router inside the layers every request passes.
pub fn build(
    state: AppState,
) -> impl Service<
    Request,
    Response = Response<
        impl axum::body::HttpBody<Data = axum::body::Bytes, Error: Into<axum::BoxError>> + Send + 'static,
    >,
    Error = Infallible,
    Future: Send + 'static,
> + Clone
       + Send
       + Sync
       + 'static {
    let config = state.config.clone();
    let options = (*state.leptos_options).clone();
    let routes = page_routes();

    let pages = Router::new()
        .leptos_routes_with_context(&state, routes, leptos_context(), {
            let options = options.clone();
            move || shell(options.clone())
        })
        .fallback(leptos_axum::file_and_error_handler_with_context::<AppState, _>(
            leptos_context(),
            shell,
        ))
        .layer(
            ServiceBuilder::new()
                .layer(from_fn(server_fn_status))
                .layer(from_fn_with_state(state.clone(), http::guard::guard_pages)),
        );

    let sessions = SessionManagerLayer::new(state.core.session_store())
        .with_name(config.session_cookie_name())
        .with_http_only(true)
        .with_same_site(SameSite::Lax)
        .with_secure(config.secure_cookies)
        .with_path("/")
        .with_expiry(Expiry::OnSessionEnd);
    // One sign-in for the apps of the domain (forward authentication).
    let sessions = match config.cookie_domain.clone() {
        Some(domain) => sessions.with_domain(domain),
        None => sessions,
    };

    let with_sessions = Router::new()
        .merge(http::api_routes(config.mail.is_some(), &config.allowed_origins))
        .merge(http::oidc::browser_routes())
        .merge(http::federation::routes())
        .merge(pages)
        .layer(
            ServiceBuilder::new()
                .layer(sessions)
                .layer(from_fn_with_state(state.clone(), auth::resolve_user)),
        );

    let pkg_dir = format!("{}/{}", options.site_root, options.site_pkg_dir);
    let static_files = ServeDir::new(pkg_dir).precompressed_br().precompressed_gzip();

    // The layers every request passes wrap the router from outside, once:
    // `Router::layer` would put them inside every route, boxed, and clone
    // and box them (and their future) again on every request.
    let hsts = config.secure_cookies.then(|| {
        SetResponseHeaderLayer::if_not_present(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=63072000; includeSubDomains"),
        )
    });
    let metrics = config
        .metrics_addr
        .is_some()
        .then(|| from_fn(super::metrics::track));
    let around = ServiceBuilder::new()
        .layer(SetSensitiveRequestHeadersLayer::new([
            header::AUTHORIZATION,
            header::COOKIE,
        ]))
        .layer(MapRequestLayer::new(keep_only_uuid_request_ids))
        .layer(SetRequestIdLayer::x_request_id(NewRequestId))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(request_span)
                .on_request(DefaultOnRequest::new().level(Level::DEBUG))
                .on_response(DefaultOnResponse::new().level(Level::INFO)),
        )
        .layer(PropagateRequestIdLayer::x_request_id())
        .option_layer(metrics)
        .option_layer(hsts)
        // With the other security headers: one layer, not one per header.
        .layer(http::security::SecurityHeadersLayer)
        .layer(MapResponseLayer::new(into_axum_body))
        // Inside the header layers, so even a panic's 500 carries them.
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(MapResponseLayer::new(json_limit_errors))
        .layer(http::timeout::TimeoutLayer::new(
            REQUEST_TIMEOUT,
            StatusCode::REQUEST_TIMEOUT,
        ))
        .layer(MapResponseLayer::new(into_axum_body))
        .layer(RequestBodyLimitLayer::new(BODY_LIMIT))
        .layer(http::security::FrontDoorLayer::new(state.clone()));

    let router = Router::new()
        .merge(http::health_routes())
        .merge(http::oidc::protocol_routes())
        .nest_service("/pkg", static_files)
        .merge(with_sessions);
    // Only when metrics are on: the route the router matched, for the
    // metrics layer outside it.
    let router = match config.metrics_addr {
        Some(_) => router.layer(from_fn(super::metrics::note_route)),
        None => router,
    };
    around.service(router.with_state(state))
}

/// A client's `X-Request-Id` is kept (for tracing a request through the
/// proxies in front) only when it is a UUID; anything else (log injection,
/// someone else's id) is dropped, and the request gets one of ours.
fn keep_only_uuid_request_ids(mut req: Request<Body>) -> Request<Body> {
    let is_uuid = |v: &HeaderValue| {
        v.to_str()
            .is_ok_and(|s| s.len() == 36 && uuid::Uuid::try_parse(s).is_ok())
    };
    const X_REQUEST_ID: header::HeaderName = header::HeaderName::from_static("x-request-id");
    let mut ids = req.headers().get_all(&X_REQUEST_ID).iter();
    let keep = match (ids.next(), ids.next()) {
        (None, _) => return req,
        (Some(id), None) => is_uuid(id),
        (Some(_), Some(_)) => false,
    };
    if !keep {
        req.headers_mut().remove(&X_REQUEST_ID);
    }
    req
}

/// A random UUID (v4) for each request that did not bring one: tower-http's
/// `MakeRequestUuid`, written straight into the header's bytes (it goes
/// through `Display` and a `String`, on every request).
#[derive(Clone, Copy)]
struct NewRequestId;

impl MakeRequestId for NewRequestId {
    fn make_request_id<B>(&mut self, _: &Request<B>) -> Option<RequestId> {
        let mut text = [0u8; uuid::fmt::Hyphenated::LENGTH];
        let text = uuid::Uuid::new_v4().hyphenated().encode_lower(&mut text);
        HeaderValue::from_str(text).ok().map(RequestId::new)
    }
}

/// A span per request: method, path (never the query string) and request id.
/// The fields are worked out only when the span is enabled (not at all
/// below `info`).
fn request_span(req: &Request<Body>) -> tracing::Span {
    tracing::info_span!(
        "request",
        method = %req.method(),
        path = %req.uri().path(),
        request_id = %req
            .extensions()
            .get::<RequestId>()
            .and_then(|id| id.header_value().to_str().ok())
            .unwrap_or("-")
    )
}

fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response<Body> {
    tracing::error!("a request handler panicked");
    json_error(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
}

fn json_error(status: StatusCode, message: &str) -> Response<Body> {
    let body = serde_json::json!({ "error": message }).to_string();
    let mut res = Response::new(Body::from(body));
    *res.status_mut() = status;
    res.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    res
}

/// Answers of the catch-panic and body-limit layers in axum's body type.
fn into_axum_body<B>(res: Response<B>) -> Response<Body>
where
    B: axum::body::HttpBody<Data = axum::body::Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    res.map(Body::new)
}

/// The body limit and timeout layers answer in plain text; the API's shape is
/// `{"error": ...}`.
fn json_limit_errors(res: Response<Body>) -> Response<Body> {
    let message = match res.status() {
        StatusCode::PAYLOAD_TOO_LARGE => "request body too large (the limit is 64 KiB)",
        StatusCode::REQUEST_TIMEOUT => "request timed out",
        _ => return res,
    };
    let is_json = res
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if is_json {
        res
    } else {
        json_error(res.status(), message)
    }
}

/// The header of a form post sent by the page's `SubmitButton` island, and
/// the header its redirect comes back in.
const FORM_FETCH: &str = "gatehouse-form";
const FORM_LOCATION: &str = "gatehouse-location";

/// Server functions answer 500 for every error they did not set a status for,
/// including arguments they could not decode. Their error body says which
/// status it is; put it on the response, so bad input is a 4xx.
///
/// A form the page's island sends by `fetch` (`Gatehouse-Form`) gets the
/// redirect a plain form post gets as a header instead (`204`,
/// `Gatehouse-Location`), for the page to follow: `fetch` cannot read a
/// redirect it does not follow, and following it would render the next page
/// for nothing (or fail, when it is another site's address).
async fn server_fn_status(req: Request<Body>, next: middleware::Next) -> Response<Body> {
    if !req.uri().path().starts_with("/fn/") {
        return next.run(req).await;
    }
    let from_island = req.headers().contains_key(FORM_FETCH);
    let res = next.run(req).await;
    if from_island && res.status().is_redirection() && res.headers().contains_key(header::LOCATION) {
        let (mut parts, _) = res.into_parts();
        if let Some(location) = parts.headers.remove(header::LOCATION) {
            parts.headers.insert(FORM_LOCATION, location);
        }
        parts.status = StatusCode::NO_CONTENT;
        parts.headers.remove(header::CONTENT_LENGTH);
        return Response::from_parts(parts, Body::empty());
    }
    if res.status() != StatusCode::INTERNAL_SERVER_ERROR || !res.headers().contains_key("serverfnerror") {
        return res;
    }
    let (mut parts, body) = res.into_parts();
    let bytes = match axum::body::to_bytes(body, 64 * 1024).await {
        Ok(b) => b,
        Err(_) => return json_error(StatusCode::INTERNAL_SERVER_ERROR, "internal error"),
    };
    if let Ok(error) = serde_json::from_slice::<crate::model::AppError>(&bytes) {
        if let Ok(status) = StatusCode::from_u16(error.status) {
            if status.is_client_error() {
                parts.status = status;
            }
        }
    }
    Response::from_parts(parts, Body::from(bytes))
}
