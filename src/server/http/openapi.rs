//! The OpenAPI 3 document of the JSON API, generated from the handlers' types.

use super::{account, admin, auth, email, error, mfa, tokens};
use crate::model::{Role, UserView};
use crate::server::AppState;
use axum::extract::State;
use utoipa::{
    openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme},
    Modify, OpenApi,
};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Gatehouse API",
        description = "Accounts, sessions and bearer tokens. Errors are `{\"error\": \"<message>\"}`.",
    ),
    paths(
        super::health,
        super::ready,
        document,
        auth::setup_required,
        auth::setup,
        auth::signup,
        auth::login,
        auth::logout,
        auth::session_state,
        tokens::token,
        tokens::refresh,
        tokens::revoke,
        account::me,
        account::change_password,
        account::sessions,
        account::revoke_session,
        admin::users,
        admin::create_user,
        admin::update_user,
        admin::unlock_user,
        admin::sign_out_user,
        admin::audit,
        email::forgot_password,
        email::reset_password,
        email::verify_email,
        email::resend_verification,
        email::change_email,
        email::confirm_email,
        email::accept_invitation,
        email::invite,
        email::invitations,
        email::revoke_invitation,
        email::undelivered,
        email::retry,
        tokens::token_mfa,
        mfa::verify,
        mfa::status,
        mfa::start_totp,
        mfa::confirm_totp,
        mfa::disable_totp,
        mfa::recovery_codes,
        mfa::register_start,
        mfa::register_finish,
        mfa::passkeys,
        mfa::rename_passkey,
        mfa::delete_passkey,
        mfa::passkey_start,
        mfa::passkey_finish,
        mfa::reauthenticate,
        mfa::reset_factors,
    ),
    components(schemas(UserView, Role, error::ErrorBody, super::Status)),
    modifiers(&Security),
    tags(
        (name = "auth", description = "Setup, signup, login and the browser session"),
        (name = "tokens", description = "Bearer and refresh tokens for non-browser clients"),
        (name = "account", description = "The signed-in user"),
        (name = "mfa", description = "Second factors (TOTP, recovery codes), passkeys and re-authentication"),
        (name = "email", description = "Password reset, email verification and change, invitations (when mail is configured)"),
        (name = "admin", description = "Users, invitations, undelivered mail and the audit log, for admins"),
        (name = "operations", description = "Health checks and this document"),
    )
)]
pub struct ApiDoc;

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new("gatehouse_session"))),
        );
    }
}

/// This document: the OpenAPI 3 description of the JSON API.
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "operations",
    responses((status = 200, description = "The OpenAPI 3 document", content_type = "application/json")))]
pub async fn document(State(state): State<AppState>) -> axum::Json<utoipa::openapi::OpenApi> {
    let mut doc = ApiDoc::openapi();
    // The session cookie is `__Host-gatehouse_session` behind https.
    if let Some(components) = doc.components.as_mut() {
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new(
                state.config.session_cookie_name(),
            ))),
        );
    }
    axum::Json(doc)
}
