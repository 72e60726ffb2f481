//! The OpenAPI 3 document of the JSON API, generated from the handlers' types.

use super::{account, admin, auth, clients, email, error, mfa, tokens};
use crate::model::{Role, UserView};
use crate::server::AppState;
use axum::extract::State;
use serde_json::{json, Map, Value};
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
        super::jwks,
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

        mfa::remove_all_factors,
        mfa::factors_reviewed,
        mfa::delete_passkey,
        mfa::passkey_start,
        mfa::passkey_finish,
        mfa::reauthenticate,
        mfa::reset_factors,
        clients::clients,
        clients::create_client,
        clients::client_item,
        clients::update_client,
        clients::delete_client,
        clients::rotate_secret,
        clients::connected_apps,
        clients::disconnect_app,
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
        (name = "clients", description = "The OpenID Connect provider's clients (the apps that sign users in through Gatehouse), for admins"),
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
pub async fn document(State(state): State<AppState>) -> axum::Json<Value> {
    axum::Json(spec(&state.config))
}

/// The paths that exist only when mail is configured (`GATEHOUSE_SMTP_URL`).
const MAIL_ONLY_PATHS: [&str; 11] = [
    "/api/v1/auth/password/forgot",
    "/api/v1/auth/password/reset",
    "/api/v1/auth/verify-email",
    "/api/v1/auth/verify-email/resend",
    "/api/v1/auth/confirm-email",
    "/api/v1/auth/invitations/accept",
    "/api/v1/users/me/email",
    "/api/v1/admin/invitations",
    "/api/v1/admin/invitations/{id}",
    "/api/v1/admin/mail",
    "/api/v1/admin/mail/{id}/retry",
];

/// The document this server answers by: the handlers' description, made
/// exact for this configuration. Every refusal a request can meet is
/// documented, and every rule a body must follow that JSON Schema can say
/// is said, so that a schema-valid request is one the server accepts.
pub fn spec(config: &crate::server::config::Config) -> Value {
    let mut doc = serde_json::to_value(ApiDoc::openapi()).unwrap_or(Value::Null);
    if config.mail.is_none() {
        if let Some(paths) = doc["paths"].as_object_mut() {
            for path in MAIL_ONLY_PATHS {
                paths.remove(path);
            }
        }
    }
    // The session cookie is `__Host-gatehouse_session` behind https.
    doc["components"]["securitySchemes"]["session"]["name"] = json!(config.session_cookie_name());
    every_refusal(&mut doc);
    body_rules(&mut doc, config);
    parameter_rules(&mut doc);
    doc
}

fn error_response(description: &str) -> Value {
    json!({
        "description": description,
        "content": { "application/json": { "schema": { "$ref": "#/components/schemas/ErrorBody" } } }
    })
}

fn ensure(responses: &mut Map<String, Value>, status: &str, description: &str) {
    responses
        .entry(status)
        .or_insert_with(|| error_response(description));
}

/// The answers every handler of a kind can give, whatever it does: the body
/// extractor's (400, 413, 415), the authentication's (401, 403), and the
/// database's (503 while it does not answer).
fn every_refusal(doc: &mut Value) {
    // The operations that check the account's password or mail a message,
    // and so can be rate-limited, beyond those that say so themselves.
    const LIMITED: [(&str, &str); 3] = [
        ("/api/v1/auth/signup", "post"),
        ("/api/v1/users/me/password", "post"),
        ("/api/v1/users/me/email", "post"),
    ];
    let Some(paths) = doc["paths"].as_object_mut() else {
        return;
    };
    for (path, item) in paths.iter_mut() {
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        for (method, op) in item.iter_mut() {
            let has_body = op.get("requestBody").is_some();
            let secured = op["security"].as_array().is_some_and(|s| !s.is_empty());
            let Some(responses) = op["responses"].as_object_mut() else {
                continue;
            };
            if has_body {
                ensure(responses, "400", "A malformed body, or a field the rules refuse");
                ensure(responses, "413", "request body too large (the limit is 64 KiB)");
                ensure(
                    responses,
                    "415",
                    "expected a JSON body (Content-Type: application/json)",
                );
            }
            if secured {
                ensure(responses, "401", "Not signed in");
                ensure(
                    responses,
                    "403",
                    "Not allowed, or the policy requires setting up a second factor first",
                );
            }
            if LIMITED.contains(&(path.as_str(), method.as_str())) {
                ensure(responses, "429", "Rate-limited; see Retry-After");
            }
            if path != "/health" && path != "/api/v1/openapi.json" {
                ensure(
                    responses,
                    "503",
                    "The database did not answer: try again after Retry-After",
                );
                if let Some(r) = responses.get_mut("503").and_then(Value::as_object_mut) {
                    r.insert(
                        "headers".into(),
                        json!({ "Retry-After": {
                            "description": "Seconds to wait before trying again",
                            "schema": { "type": "integer", "minimum": 0 }
                        }}),
                    );
                }
            }
        }
    }
}

/// A username as the server takes it: 3 to 64 letters, digits and . _ - @ +,
/// with spaces around it trimmed.
const USERNAME_PATTERN: &str = r"^ *[\p{L}\p{N}._@+-]{3,64} *$";
/// ... or, where the username is optional, nothing (then it is the email).
const OPTIONAL_USERNAME_PATTERN: &str = r"^ *([\p{L}\p{N}._@+-]{3,64} *)?$";

/// The rules of the request bodies that the handlers' types cannot carry:
/// lengths, formats, the password policy's lengths, and which fields go
/// together.
fn body_rules(doc: &mut Value, config: &crate::server::config::Config) {
    let password = json!({
        "type": "string",
        "minLength": config.password_min_length,
        "maxLength": crate::server::config::PASSWORD_MAX_LENGTH,
    });
    let email =
        json!({ "type": "string", "format": "email", "maxLength": crate::server::core::validate::EMAIL_MAX });
    let username = json!({ "type": "string", "pattern": USERNAME_PATTERN });
    let optional_username = json!({ "type": ["string", "null"], "pattern": OPTIONAL_USERNAME_PATTERN });
    // Optional: null, blank (not given), or an address.
    let optional_email = json!({ "anyOf": [
        { "type": "null" },
        { "type": "string", "pattern": "^ *$" },
        email,
    ]});
    // A name someone will read: something visible, at most 64 characters kept.
    let name = json!({ "type": "string", "pattern": r"\S" });
    let optional_name = json!({ "type": ["string", "null"] });
    let schemas = &mut doc["components"]["schemas"];
    set(schemas, "SetupBody", "username", &username);
    set(schemas, "SetupBody", "password", &password);
    set(schemas, "SetupBody", "email", &optional_email);
    set(schemas, "SignupBody", "email", &email);
    set(schemas, "SignupBody", "password", &password);
    set(schemas, "SignupBody", "username", &optional_username);
    set(schemas, "NewUserBody", "username", &optional_username);
    set(schemas, "NewUserBody", "email", &optional_email);
    set(schemas, "NewUserBody", "password", &password);
    set(schemas, "AcceptBody", "password", &password);
    set(schemas, "AcceptBody", "username", &optional_username);
    set(schemas, "ResetBody", "new_password", &password);
    set(schemas, "PasswordChange", "new_password", &password);
    set(schemas, "ForgotBody", "email", &email);
    set(schemas, "EmailChangeBody", "new_email", &email);
    set(schemas, "InviteBody", "email", &email);
    set(schemas, "RenameBody", "name", &name);
    set(schemas, "RegisterFinishBody", "name", &optional_name);

    let one_of = |fields: &[&str]| -> Value {
        Value::Array(fields.iter().map(|f| json!({ "required": [f] })).collect())
    };
    // The account is named by any of these.
    schemas["LoginBody"]["anyOf"] = one_of(&["username", "email", "identifier"]);
    schemas["NewUserBody"]["anyOf"] = json!([
        { "required": ["username"], "properties": { "username": { "type": "string", "pattern": USERNAME_PATTERN } } },
        { "required": ["email"], "properties": { "email": email } },
    ]);
    // A code or a recovery code, not both.
    schemas["CodeBody"]["oneOf"] = one_of(&["code", "recovery_code"]);
    schemas["TokenMfaBody"]["oneOf"] = one_of(&["code", "recovery_code"]);
    // The password, and with it at most one of a code and a recovery code
    // (an account with a second factor needs one of them).
    schemas["ReauthBody"]["not"] = json!({ "required": ["code", "recovery_code"] });
    // The fields that name or prove something are optional, but a null is
    // "not given": the combinators above need one of them to be a string.
    // A blank code is no code.
    let code = json!({ "type": "string", "pattern": r"\S" });
    for (schema, field, rule) in [
        ("LoginBody", "username", json!({ "type": "string" })),
        ("LoginBody", "email", json!({ "type": "string" })),
        ("LoginBody", "identifier", json!({ "type": "string" })),
        ("CodeBody", "code", code.clone()),
        ("CodeBody", "recovery_code", code.clone()),
        ("TokenMfaBody", "code", code.clone()),
        ("TokenMfaBody", "recovery_code", code.clone()),
        ("ReauthBody", "code", code.clone()),
        ("ReauthBody", "recovery_code", code.clone()),
    ] {
        set(schemas, schema, field, &rule);
    }
    // A client: a name someone reads on the consent page, at most 20
    // addresses of each kind, known scopes and grants (at least one grant).
    let client_name = json!({ "type": "string", "pattern": r"\S", "maxLength": 100 });
    let uris = json!({ "type": "array", "items": { "type": "string" }, "maxItems": 20 });
    let scopes = json!({ "type": ["array", "null"], "items": { "type": "string", "enum": crate::server::core::oidc::SCOPES } });
    let grants = json!({ "type": ["array", "null"], "minItems": 1,
        "items": { "type": "string", "enum": crate::server::core::oidc::GRANT_TYPES } });
    let optional_uris = json!({ "type": ["array", "null"], "items": { "type": "string" }, "maxItems": 20 });
    let optional_client_name = json!({ "type": ["string", "null"], "pattern": r"\S", "maxLength": 100 });
    for (schema, field, rule) in [
        ("ClientBody", "name", &client_name),
        ("ClientBody", "redirect_uris", &uris),
        ("ClientBody", "post_logout_redirect_uris", &uris),
        ("ClientBody", "scopes", &scopes),
        ("ClientBody", "grant_types", &grants),
        ("ClientPatch", "name", &optional_client_name),
        ("ClientPatch", "redirect_uris", &optional_uris),
        ("ClientPatch", "post_logout_redirect_uris", &optional_uris),
        ("ClientPatch", "scopes", &scopes),
        ("ClientPatch", "grant_types", &grants),
    ] {
        set(schemas, schema, field, rule);
    }
    // Something to change: a role or a status (null is "no change").
    schemas["UserPatch"]["anyOf"] = json!([
        { "required": ["role"], "properties": { "role": { "$ref": "#/components/schemas/Role" } } },
        { "required": ["disabled"], "properties": { "disabled": { "type": "boolean" } } },
    ]);
}

/// Replaces the schema of `field` of the body schema `schema` by `rule`,
/// keeping its description.
fn set(schemas: &mut Value, schema: &str, field: &str, rule: &Value) {
    if let Some(props) = schemas[schema]["properties"].as_object_mut() {
        let description = props.get(field).and_then(|p| p.get("description")).cloned();
        let mut rule = rule.clone();
        if let Some(d) = description {
            rule["description"] = d;
        }
        props.insert(field.into(), rule);
    }
}

/// The query parameters' rules: each `limit` is at least 1, the audit log's
/// `event` one of the events it records, the user list's filters a role or
/// a boolean.
fn parameter_rules(doc: &mut Value) {
    if let Some(params) = doc["paths"]["/api/v1/admin/users"]["get"]["parameters"].as_array_mut() {
        for param in params {
            match param["name"].as_str() {
                Some("limit") => param["schema"] = json!({ "type": "integer", "minimum": 1 }),
                Some("role") => param["schema"] = json!({ "type": "string", "enum": ["admin", "user"] }),
                Some("disabled" | "locked" | "email_verified") => {
                    param["schema"] = json!({ "type": "boolean" })
                }
                Some("q") => param["schema"] = json!({ "type": "string" }),
                // A cursor is a user's id or username: never a control character.
                Some("after") => {
                    param["schema"] =
                        json!({ "type": "string", "pattern": "^[^\\u0000-\\u001f\\u007f-\\u009f]*$" })
                }
                _ => {}
            }
        }
    }
    let Some(params) = doc["paths"]["/api/v1/admin/audit"]["get"]["parameters"].as_array_mut() else {
        return;
    };
    let events: Vec<&str> = crate::server::core::audit::Event::ALL
        .iter()
        .map(|e| e.as_str())
        .collect();
    for param in params {
        match param["name"].as_str() {
            Some("limit") => param["schema"] = json!({ "type": "integer", "minimum": 1 }),
            Some("event") => param["schema"] = json!({ "type": "string", "enum": events }),
            _ => {}
        }
    }
}
