//! Second factors and passkeys: TOTP, recovery codes, WebAuthn passkeys (as
//! a second factor and as a sign-in of their own), the sign-in that waits for
//! a second factor, re-authentication for sensitive changes, and the policy
//! of whom a second factor is required.
//!
//! Every challenge (a WebAuthn ceremony's state, a sign-in waiting for its
//! second factor) lives on the server, in `auth_challenges`, under the
//! SHA-256 hash of a random token the client holds; it is single use and
//! expires.

use super::{
    admin::require_admin,
    audit::Event,
    limits, sealing,
    sessions::{Authenticated, Credential},
    tokens::{hash_token, random_token},
    totp, validate, Client, Core, Error, Result, User,
};
use crate::{
    model::Role,
    server::{
        config::MfaPolicy,
        db::{factors as q, sessions as session_q, tokens as token_q},
    },
};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use webauthn_rs::prelude::{
    CreationChallengeResponse, DiscoverableAuthentication, Passkey, PasskeyAuthentication,
    PasskeyRegistration, PublicKeyCredential, RegisterPublicKeyCredential, RequestChallengeResponse, Url,
    Uuid, Webauthn, WebauthnBuilder,
};

/// A sign-in waits this long for its second factor.
pub const PENDING_SECONDS: i64 = 5 * 60;
/// A WebAuthn ceremony must finish within this.
const CEREMONY_SECONDS: i64 = 5 * 60;
/// Recovery codes made at a time.
pub const RECOVERY_CODES: usize = 10;
const ISSUER: &str = "Gatehouse";

/// A second factor a user can answer with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    Totp,
    Recovery,
    Passkey,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Totp => "totp",
            Method::Recovery => "recovery",
            Method::Passkey => "passkey",
        }
    }
}

/// What a user answers the second step with.
#[derive(Clone, Debug)]
pub enum Proof {
    Code(String),
    RecoveryCode(String),
}

/// A user's factors, as `GET /users/me/mfa` and `/account` show them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MfaStatus {
    pub totp: bool,
    pub passkeys: usize,
    pub recovery_codes_left: u32,
    /// The password was reset since the owner last looked at these: an
    /// intruder who had the password may have added one.
    pub review_after_reset: bool,
}

/// A change of a user's second factors, as the notice mailed about it says.
#[derive(Clone, Copy, Debug)]
pub(crate) enum FactorChange<'a> {
    TotpAdded,
    TotpRemoved,
    RecoveryCodes,
    PasskeyAdded(&'a str),
    PasskeyRemoved(&'a str),
    /// The owner removed every factor at once.
    AllRemoved,
    /// An admin reset them.
    ResetByAdmin,
}

/// Passkey ceremonies one client may start per minute: each stores its
/// state until it ends or expires.
const CEREMONIES_PER_MINUTE: u32 = 100;

/// A TOTP enrolment to confirm: what authenticator apps need.
#[derive(Clone)]
pub struct TotpEnrolment {
    pub secret: String,
    pub otpauth_uri: String,
    /// The URI as a QR code (`data:image/svg+xml;base64,...`).
    pub qr_code: String,
}

/// A passkey as its owner sees it.
#[derive(Clone, Debug)]
pub struct PasskeyInfo {
    pub id: String,
    pub name: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

/// A sign-in waiting for a second factor: what the client holds.
#[derive(Clone, Debug)]
pub struct PendingSignIn {
    /// The opaque token (in the browser session, or the API's `mfa_token`).
    pub token: String,
    pub methods: Vec<Method>,
    pub user_id: String,
}

/// The server-side half of a pending sign-in.
#[derive(Serialize, Deserialize)]
struct PendingState {
    remember: bool,
    /// The user's `password_changed_at` when the password was checked.
    password_at: i64,
    /// The first factor, for the audit log.
    first: String,
}

/// The server-side half of a WebAuthn ceremony.
#[derive(Serialize, Deserialize)]
enum CeremonyState {
    Register(PasskeyRegistration),
    /// Passwordless sign-in with a discoverable credential.
    Discover(DiscoverableAuthentication),
    /// The second factor of a pending sign-in (its token's hash).
    SecondFactor {
        state: PasskeyAuthentication,
        pending: String,
    },
    /// A signed-in user proving it again.
    Reauth(PasskeyAuthentication),
}

/// A started WebAuthn ceremony: its id (the client sends it back with the
/// browser's answer) and the options for `navigator.credentials`.
#[derive(Clone, Debug)]
pub struct Ceremony {
    pub id: String,
    pub options: serde_json::Value,
}

/// How a passkey ceremony ended.
#[derive(Clone, Debug)]
pub enum PasskeyOutcome {
    /// Signed in as `user` (remember me as asked at the password step, if any).
    SignedIn { user: User, remember: bool },
    /// The signed-in user re-authenticated.
    Reauthenticated,
}

/// Builds the WebAuthn relying party from the configuration.
pub fn webauthn(config: &crate::server::config::Config) -> Option<Arc<Webauthn>> {
    let rp = config.relying_party.as_ref()?;
    let origin = Url::parse(&rp.origin).ok()?;
    let built = WebauthnBuilder::new(&rp.id, &origin)
        .map(|b| b.rp_name(ISSUER).allow_any_port(rp.any_port))
        .and_then(|b| b.build());
    match built {
        Ok(w) => Some(Arc::new(w)),
        Err(e) => {
            tracing::error!(error = %e, "passkeys are off: the relying party is not usable");
            None
        }
    }
}

fn user_uuid(user: &User) -> Result<Uuid> {
    Uuid::parse_str(&user.id).map_err(|e| Error::internal("user id", e))
}

fn credential_key(raw_id: &[u8]) -> String {
    base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, raw_id)
}

/// How a recovery code is stored: `s1:` and a random 128-bit salt, then the
/// SHA-256 of salt and code (both hex). Salted per code, so no one table of
/// the 2^50 codes cracks every account's at once.
fn recovery_hash(code: &str) -> String {
    use sha2::{Digest, Sha256};
    let mut salt = [0u8; 16];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut salt);
    let digest = Sha256::new()
        .chain_update(salt)
        .chain_update(normalize_recovery_code(code).as_bytes())
        .finalize();
    format!("s1:{}:{}", hex::encode(salt), hex::encode(digest))
}

/// Whether `stored` (see [`recovery_hash`]; a bare SHA-256 for codes made
/// before salting) is the hash of the normalised code `typed`.
fn recovery_code_matches(stored: &str, typed: &str) -> bool {
    use sha2::{Digest, Sha256};
    let expected = match stored.strip_prefix("s1:").and_then(|rest| rest.split_once(':')) {
        Some((salt, digest)) => {
            let Ok(salt) = hex::decode(salt) else {
                return false;
            };
            let computed = Sha256::new()
                .chain_update(&salt)
                .chain_update(typed.as_bytes())
                .finalize();
            return constant_time_eq(hex::encode(computed).as_bytes(), digest.as_bytes());
        }
        None => hash_token(typed),
    };
    constant_time_eq(expected.as_bytes(), stored.as_bytes())
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The signature counter a stored passkey has seen (0: it keeps none).
fn stored_counter(passkey_json: &str) -> Result<u32> {
    let value: serde_json::Value =
        serde_json::from_str(passkey_json).map_err(|e| Error::internal("stored passkey", e))?;
    Ok(value["cred"]["counter"]
        .as_u64()
        .unwrap_or(0)
        .min(u64::from(u32::MAX)) as u32)
}

/// A recovery code as typed: case, spaces and dashes do not matter.
fn normalize_recovery_code(code: &str) -> String {
    code.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

fn new_recovery_code() -> String {
    let mut bytes = [0u8; 7];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut bytes);
    let text = data_encoding::BASE32_NOPAD.encode(&bytes).to_ascii_lowercase();
    format!("{}-{}", &text[..5], &text[5..10])
}

/// The associated data a TOTP secret is sealed with: it opens in its own
/// user's row only.
pub(crate) fn totp_context(user_id: &str) -> String {
    format!("totp:{user_id}")
}

fn wrong_code() -> Error {
    Error::WrongPassword {
        field: "code",
        message: "invalid code".into(),
    }
}

impl Core {
    fn seal(&self, plain: &str, context: &str) -> Result<String> {
        sealing::seal(self.sealer.as_ref(), plain, context).map_err(|e| Error::internal("sealing", e))
    }

    fn unseal(&self, stored: &str, context: &str) -> Result<String> {
        sealing::open(self.sealer.as_ref(), stored, context)
            .map_err(|e| Error::internal("a sealed secret", e))
    }

    fn webauthn(&self) -> Result<&Webauthn> {
        self.webauthn
            .as_deref()
            .ok_or_else(|| Error::Forbidden("passkeys need a host name: set GATEHOUSE_PUBLIC_URL".into()))
    }

    /// Warns at start-up about second factors that cannot work here: a policy
    /// that requires one where passkeys are off leaves only the app, and
    /// accounts whose only factor is a passkey cannot sign in at all.
    pub async fn warn_about_factors(&self) {
        if self.webauthn.is_some() {
            return;
        }
        if self.config.mfa != MfaPolicy::Optional {
            tracing::warn!(
                "GATEHOUSE_MFA requires a second factor, and passkeys cannot work at this address (GATEHOUSE_PUBLIC_URL must name a host, not an IP address): an authenticator app is the only factor users can set up"
            );
        }
        match q::passkey_only_accounts(&self.db).await {
            Ok(0) => {}
            Ok(n) => tracing::warn!(
                accounts = n,
                "accounts whose only second factor is a passkey cannot sign in here: passkeys do not work at this address (GATEHOUSE_PUBLIC_URL must name a host, not an IP address)"
            ),
            Err(e) => tracing::warn!(error = %e, "could not count the accounts that have only passkeys"),
        }
    }

    /// Whether the policy (`GATEHOUSE_MFA`) requires a second factor of `user`.
    pub fn mfa_required_of(&self, user: &User) -> bool {
        match self.config.mfa {
            MfaPolicy::Optional => false,
            MfaPolicy::Admins => user.role == Role::Admin,
            MfaPolicy::Everyone => true,
        }
    }

    /// The methods `user` can answer a second step with.
    async fn methods_of(&self, user_id: &str) -> Result<Vec<Method>> {
        let status = self.mfa_status(user_id).await?;
        let mut methods = Vec::new();
        if status.totp {
            methods.push(Method::Totp);
        }
        if status.recovery_codes_left > 0 {
            methods.push(Method::Recovery);
        }
        if status.passkeys > 0 && self.webauthn.is_some() {
            methods.push(Method::Passkey);
        }
        Ok(methods)
    }

    pub async fn mfa_status(&self, user_id: &str) -> Result<MfaStatus> {
        let totp = q::totp(&self.db, user_id)
            .await?
            .is_some_and(|t| t.confirmed_at.is_some());
        let passkeys = q::passkeys_of(&self.db, user_id).await?.len();
        let left = q::recovery_codes_left(&self.db, user_id).await?;
        let review = q::factors_review(&self.db, user_id).await?;
        Ok(MfaStatus {
            review_after_reset: review && (totp || passkeys > 0 || left > 0),
            totp,
            passkeys,
            recovery_codes_left: left.clamp(0, i64::from(u32::MAX)) as u32,
        })
    }

    // ---- Re-authentication ----

    /// `ReauthRequired` unless `auth` signed in (or re-authenticated) within
    /// `GATEHOUSE_REAUTH_MINUTES`. Every change of the password, the email,
    /// the factors, and every admin write asks this first.
    pub fn require_recent_auth(&self, auth: &Authenticated) -> Result<()> {
        let window = self.config.reauth_window.as_secs() as i64;
        if super::now() - auth.auth_at > window {
            return Err(Error::ReauthRequired);
        }
        Ok(())
    }

    async fn mark_authenticated(&self, auth: &Authenticated) -> Result<()> {
        let now = super::now();
        match &auth.credential {
            Credential::Session(id) => session_q::set_auth_at(&self.db, id, now).await?,
            Credential::Bearer { family } => token_q::set_auth_at(&self.db, family, now).await?,
        }
        Ok(())
    }

    /// Re-authenticates the signed-in user with their password, a TOTP code
    /// or a recovery code (counted and locked like a login).
    pub async fn reauthenticate(
        &self,
        auth: &Authenticated,
        password: Option<&str>,
        proof: Option<Proof>,
        client: &Client,
    ) -> Result<()> {
        // An account with a second factor proves both again (or signs in
        // with a passkey, which is both): a stolen session and a password
        // seen over someone's shoulder are not enough.
        let both = auth.user.mfa_enabled;
        match (password, &proof) {
            (None, _) => return Err(Error::invalid("password", "Enter your password.")),
            (Some(_), None) if both => {
                return Err(Error::invalid(
                    "code",
                    "Enter a code from your app (or a recovery code) too.",
                ))
            }
            _ => {}
        }
        if let Some(password) = password {
            self.check_current_password(&auth.user, password, client)
                .await
                .map_err(|e| match e {
                    Error::WrongPassword { message, .. } => Error::WrongPassword {
                        field: "password",
                        message,
                    },
                    other => other,
                })?;
        }
        if let Some(proof) = proof.filter(|_| both) {
            self.check_second_factor(&auth.user, &proof, client).await?;
        }
        self.mark_authenticated(auth).await?;
        self.audit(Event::Reauthenticated, Some(&auth.user.id), client, None)
            .await;
        Ok(())
    }

    // ---- TOTP and recovery codes ----

    /// Starts TOTP enrolment: a new secret, waiting for a code to confirm it.
    pub async fn start_totp(&self, auth: &Authenticated) -> Result<TotpEnrolment> {
        self.require_recent_auth(auth)?;
        let secret = totp::new_secret();
        let stored = self.seal(&secret, &totp_context(&auth.user.id))?;
        if !q::start_totp(&self.db, &auth.user.id, &stored, super::now()).await? {
            return Err(Error::StateConflict(
                "an authenticator app is set up already: turn it off first to set up another".into(),
            ));
        }
        let account = auth
            .user
            .email
            .clone()
            .unwrap_or_else(|| auth.user.username.clone());
        let otpauth_uri = totp::otpauth_uri(ISSUER, &account, &secret);
        let qr_code = totp::qr_data_url(&otpauth_uri).unwrap_or_default();
        Ok(TotpEnrolment {
            secret,
            otpauth_uri,
            qr_code,
        })
    }

    /// The enrolment started and not confirmed yet, to show again.
    pub async fn pending_totp(&self, user: &User) -> Result<Option<TotpEnrolment>> {
        let Some(row) = q::totp(&self.db, &user.id)
            .await?
            .filter(|t| t.confirmed_at.is_none())
        else {
            return Ok(None);
        };
        let secret = self.unseal(&row.secret, &totp_context(&user.id))?;
        let account = user.email.clone().unwrap_or_else(|| user.username.clone());
        let otpauth_uri = totp::otpauth_uri(ISSUER, &account, &secret);
        Ok(Some(TotpEnrolment {
            qr_code: totp::qr_data_url(&otpauth_uri).unwrap_or_default(),
            secret,
            otpauth_uri,
        }))
    }

    /// Confirms TOTP enrolment with a code from the app; returns ten new
    /// recovery codes (shown once).
    pub async fn confirm_totp(
        &self,
        auth: &Authenticated,
        code: &str,
        client: &Client,
    ) -> Result<Vec<String>> {
        self.require_recent_auth(auth)?;
        let user_id = &auth.user.id;
        let row = q::totp(&self.db, user_id)
            .await?
            .filter(|t| t.confirmed_at.is_none())
            .ok_or_else(|| Error::StateConflict("start setting up an authenticator app first".into()))?;
        let secret = self.unseal(&row.secret, &totp_context(user_id))?;
        let Some(step) = totp::matching_step(&secret, code, super::now()) else {
            return Err(wrong_code());
        };
        let codes: Vec<String> = (0..RECOVERY_CODES).map(|_| new_recovery_code()).collect();
        let hashes: Vec<String> = codes.iter().map(|c| recovery_hash(c)).collect();
        let now = super::now();
        let mut tx = self.db.begin().await?;
        if !q::confirm_totp(&mut tx, user_id, step, now).await? {
            return Err(Error::StateConflict(
                "start setting up an authenticator app first".into(),
            ));
        }
        q::replace_recovery_codes(&mut tx, user_id, &hashes, now).await?;
        q::refresh_mfa_flag(&mut tx, user_id).await?;
        let mailed = self
            .queue_factor_notice(&mut tx, &auth.user, FactorChange::TotpAdded)
            .await?;
        tx.commit().await?;
        self.wake_mailer_if(mailed);
        self.audit(
            Event::MfaEnabled,
            Some(user_id),
            client,
            Some("authenticator app"),
        )
        .await;
        Ok(codes)
    }

    /// Turns TOTP off (the password is asked again). Recovery codes go with
    /// it unless a passkey is left.
    pub async fn disable_totp(&self, auth: &Authenticated, password: &str, client: &Client) -> Result<()> {
        self.require_recent_auth(auth)?;
        self.check_current_password(&auth.user, password, client).await?;
        let user_id = &auth.user.id;
        let mut tx = self.db.begin().await?;
        if !q::delete_totp(&mut tx, user_id).await? {
            return Err(Error::NotFound("no authenticator app is set up".into()));
        }
        if !q::refresh_mfa_flag(&mut tx, user_id).await? {
            q::delete_recovery_codes(&mut tx, user_id).await?;
        }
        let mailed = self
            .queue_factor_notice(&mut tx, &auth.user, FactorChange::TotpRemoved)
            .await?;
        tx.commit().await?;
        self.wake_mailer_if(mailed);
        self.audit(
            Event::MfaDisabled,
            Some(user_id),
            client,
            Some("authenticator app"),
        )
        .await;
        Ok(())
    }

    /// New recovery codes (the password is asked again); the old ones stop working.
    pub async fn regenerate_recovery_codes(
        &self,
        auth: &Authenticated,
        password: &str,
        client: &Client,
    ) -> Result<Vec<String>> {
        self.require_recent_auth(auth)?;
        self.check_current_password(&auth.user, password, client).await?;
        if !auth.user.mfa_enabled && !self.mfa_status(&auth.user.id).await?.totp {
            return Err(Error::StateConflict(
                "recovery codes come with a second factor: set one up first".into(),
            ));
        }
        let codes: Vec<String> = (0..RECOVERY_CODES).map(|_| new_recovery_code()).collect();
        let hashes: Vec<String> = codes.iter().map(|c| recovery_hash(c)).collect();
        let mut tx = self.db.begin().await?;
        q::replace_recovery_codes(&mut tx, &auth.user.id, &hashes, super::now()).await?;
        let mailed = self
            .queue_factor_notice(&mut tx, &auth.user, FactorChange::RecoveryCodes)
            .await?;
        tx.commit().await?;
        self.wake_mailer_if(mailed);
        self.audit(Event::RecoveryCodesRegenerated, Some(&auth.user.id), client, None)
            .await;
        Ok(codes)
    }

    /// Checks a TOTP or recovery code of `user`, counted like a login: the
    /// client's limit and the account's lockout; failures audited. A TOTP
    /// code is accepted once; a recovery code is used up.
    pub(crate) async fn check_second_factor(
        &self,
        user: &User,
        proof: &Proof,
        client: &Client,
    ) -> Result<()> {
        self.admit_attempt(client).await?;
        // Counted on a key of their own: a right password never clears
        // wrong codes, so "password, a few codes" again and again locks too.
        let lock_key = limits::second_factor_key(&user.id);
        let reservation = self.reserve_guess(&lock_key).await?;
        let (ok, method) = match proof {
            Proof::Code(code) => {
                let accepted = match q::totp(&self.db, &user.id)
                    .await?
                    .filter(|t| t.confirmed_at.is_some())
                {
                    Some(row) => {
                        let secret = self.unseal(&row.secret, &totp_context(&user.id))?;
                        match totp::matching_step(&secret, code, super::now()) {
                            // Once per step, on every instance: a replayed code fails here.
                            Some(step) => q::accept_step(&self.db, &user.id, step).await?,
                            None => false,
                        }
                    }
                    None => false,
                };
                (accepted, "authenticator code")
            }
            Proof::RecoveryCode(code) => (self.use_recovery_code(&user.id, code).await?, "recovery code"),
        };
        if !ok {
            metrics::counter!("gatehouse_logins_total", "outcome" => "second_factor_failure").increment(1);
            self.guess_failed(&lock_key, reservation, Some(&user.id), client)
                .await?;
            let detail = format!("wrong or reused {method}");
            self.audit(Event::MfaFailed, Some(&user.id), client, Some(&detail))
                .await;
            return Err(wrong_code());
        }
        self.guess_succeeded(client, &lock_key).await?;
        if matches!(proof, Proof::RecoveryCode(_)) {
            let left = q::recovery_codes_left(&self.db, &user.id).await?;
            let detail = format!("a recovery code was used; {left} left");
            self.audit(Event::RecoveryCodeUsed, Some(&user.id), client, Some(&detail))
                .await;
        }
        Ok(())
    }

    /// Uses up the unused recovery code of `user_id` that `typed` is, if any.
    async fn use_recovery_code(&self, user_id: &str, typed: &str) -> Result<bool> {
        let typed = normalize_recovery_code(typed);
        if typed.is_empty() {
            return Ok(false);
        }
        for stored in q::unused_recovery_codes(&self.db, user_id).await? {
            if recovery_code_matches(&stored, &typed) {
                return Ok(q::use_recovery_code(&self.db, user_id, &stored, super::now()).await?);
            }
        }
        Ok(false)
    }

    // ---- The sign-in that waits for a second factor ----

    /// After the password step of a user with a second factor: a pending
    /// sign-in, good for five minutes.
    pub(crate) async fn pend_sign_in(
        &self,
        user: &User,
        remember: bool,
        first: &str,
    ) -> Result<Option<PendingSignIn>> {
        if !user.mfa_enabled {
            return Ok(None);
        }
        let methods = self.methods_of(&user.id).await?;
        if methods.is_empty() {
            // Its only factor is a passkey, and passkeys cannot work at this
            // server's address: never the password alone instead.
            return Err(Error::Forbidden(
                "this account's second factor is a passkey, and passkeys do not work at this server's address; ask your administrator".into(),
            ));
        }
        metrics::counter!("gatehouse_logins_total", "outcome" => "second_factor_required").increment(1);
        let token = random_token(32);
        let now = super::now();
        let state = serde_json::to_string(&PendingState {
            remember,
            password_at: user.password_changed_at,
            first: first.to_string(),
        })
        .map_err(|e| Error::internal("pending sign-in", e))?;
        q::insert_challenge(
            &self.db,
            &q::NewChallenge {
                id: &hash_token(&token),
                kind: "mfa_pending",
                user_id: Some(&user.id),
                state: &state,
                now,
                expires_at: now + PENDING_SECONDS,
            },
        )
        .await?;
        Ok(Some(PendingSignIn {
            token,
            methods,
            user_id: user.id.clone(),
        }))
    }

    /// The user behind a pending sign-in, if it is still good (not expired,
    /// the password unchanged, the account not disabled).
    async fn pending_user(&self, token: &str) -> Result<(User, PendingState)> {
        let expired = || Error::SignInExpired;
        let row = q::peek_challenge(&self.db, &hash_token(token), "mfa_pending", super::now())
            .await?
            .ok_or_else(expired)?;
        let state: PendingState =
            serde_json::from_str(&row.state).map_err(|e| Error::internal("pending sign-in", e))?;
        let user = self
            .user(row.user_id.as_deref().unwrap_or(""))
            .await
            .map_err(|_| expired())?;
        if user.disabled || user.password_changed_at != state.password_at {
            return Err(expired());
        }
        Ok((user, state))
    }

    /// The methods a pending sign-in can be completed with (for its page).
    pub async fn pending_methods(&self, token: &str) -> Result<Vec<Method>> {
        let (user, _) = self.pending_user(token).await?;
        self.methods_of(&user.id).await
    }

    /// Completes a pending sign-in with a TOTP or recovery code. Returns the
    /// user and whether "remember me" was asked; the pending sign-in is used up.
    pub async fn complete_sign_in(
        &self,
        token: &str,
        proof: &Proof,
        client: &Client,
    ) -> Result<(User, bool)> {
        let (user, state) = self.pending_user(token).await?;
        self.check_second_factor(&user, proof, client).await?;
        if q::take_challenge(&self.db, &hash_token(token), "mfa_pending", super::now())
            .await?
            .is_none()
        {
            return Err(Error::SignInExpired);
        }
        let second = match proof {
            Proof::Code(_) => "authenticator code",
            Proof::RecoveryCode(_) => "recovery code",
        };
        let detail = format!("{} + {second}", state.first);
        self.audit(Event::LoginSucceeded, Some(&user.id), client, Some(&detail))
            .await;
        Ok((user, state.remember))
    }

    // ---- Passkeys ----

    pub async fn passkeys_of(&self, user_id: &str) -> Result<Vec<PasskeyInfo>> {
        Ok(q::passkeys_of(&self.db, user_id)
            .await?
            .into_iter()
            .map(|p| PasskeyInfo {
                id: p.id,
                name: p.name,
                created_at: p.created_at,
                last_used_at: p.last_used_at,
            })
            .collect())
    }

    async fn stored_passkeys(&self, user_id: &str) -> Result<Vec<(q::PasskeyRow, Passkey)>> {
        q::passkeys_of(&self.db, user_id)
            .await?
            .into_iter()
            .map(|row| {
                let key: Passkey =
                    serde_json::from_str(&row.passkey).map_err(|e| Error::internal("stored passkey", e))?;
                Ok((row, key))
            })
            .collect()
    }

    async fn save_ceremony(
        &self,
        state: &CeremonyState,
        user_id: Option<&str>,
        options: serde_json::Value,
    ) -> Result<Ceremony> {
        let id = random_token(32);
        let now = super::now();
        let state = serde_json::to_string(state).map_err(|e| Error::internal("ceremony", e))?;
        q::insert_challenge(
            &self.db,
            &q::NewChallenge {
                id: &hash_token(&id),
                kind: "passkey",
                user_id,
                state: &state,
                now,
                expires_at: now + CEREMONY_SECONDS,
            },
        )
        .await?;
        Ok(Ceremony { id, options })
    }

    async fn take_ceremony(&self, id: &str) -> Result<(Option<String>, CeremonyState)> {
        let row = q::take_challenge(&self.db, &hash_token(id), "passkey", super::now())
            .await?
            .ok_or_else(|| {
                Error::invalid("ceremony", "The passkey request expired or was used. Try again.")
            })?;
        let state = serde_json::from_str(&row.state).map_err(|e| Error::internal("ceremony", e))?;
        Ok((row.user_id, state))
    }

    /// Starts adding a passkey to the signed-in account.
    pub async fn start_passkey_registration(&self, auth: &Authenticated) -> Result<Ceremony> {
        self.require_recent_auth(auth)?;
        let webauthn = self.webauthn()?;
        let user = &auth.user;
        let existing: Vec<_> = self
            .stored_passkeys(&user.id)
            .await?
            .into_iter()
            .map(|(_, k)| k.cred_id().clone())
            .collect();
        let display = user.email.clone().unwrap_or_else(|| user.username.clone());
        let (mut options, state): (CreationChallengeResponse, PasskeyRegistration) = webauthn
            .start_passkey_registration(user_uuid(user)?, &user.username, &display, Some(existing))
            .map_err(|e| Error::internal("passkey registration", e))?;
        // A discoverable credential, so the passkey can sign in without a
        // username (and the browser offers it in autofill).
        if let Some(selection) = options.public_key.authenticator_selection.as_mut() {
            selection.resident_key = Some(webauthn_rs_proto::ResidentKeyRequirement::Required);
        }
        let json = serde_json::to_value(&options).map_err(|e| Error::internal("passkey registration", e))?;
        self.save_ceremony(&CeremonyState::Register(state), Some(&user.id), json)
            .await
    }

    /// Finishes adding a passkey, under `name`.
    pub async fn finish_passkey_registration(
        &self,
        auth: &Authenticated,
        ceremony: &str,
        credential: &serde_json::Value,
        name: &str,
        client: &Client,
    ) -> Result<PasskeyInfo> {
        self.require_recent_auth(auth)?;
        let webauthn = self.webauthn()?;
        let (owner, state) = self.take_ceremony(ceremony).await?;
        let CeremonyState::Register(state) = state else {
            return Err(Error::invalid("ceremony", "That is not a passkey registration."));
        };
        if owner.as_deref() != Some(auth.user.id.as_str()) {
            return Err(Error::invalid(
                "ceremony",
                "That passkey registration is not yours.",
            ));
        }
        let credential: RegisterPublicKeyCredential =
            serde_json::from_value(credential.clone()).map_err(|_| {
                Error::invalid(
                    "credential",
                    "The browser's answer is not a passkey registration.",
                )
            })?;
        let passkey = webauthn
            .finish_passkey_registration(&credential, &state)
            .map_err(|e| Error::invalid("credential", format!("The passkey was not accepted ({e}).")))?;
        let name = name.trim();
        let name = if name.is_empty() {
            "Passkey".to_string()
        } else {
            name.chars()
                .filter(|c| !validate::is_invisible(*c))
                .take(64)
                .collect()
        };
        let now = super::now();
        let row = q::PasskeyRow {
            id: uuid::Uuid::new_v4().to_string(),
            user_id: auth.user.id.clone(),
            credential_id: credential_key(passkey.cred_id()),
            name,
            passkey: serde_json::to_string(&passkey).map_err(|e| Error::internal("passkey", e))?,
            created_at: now,
            last_used_at: None,
        };
        let mut tx = self.db.begin().await?;
        match q::insert_passkey(&mut tx, &row).await {
            Ok(()) => {}
            Err(e) if crate::server::db::is_unique_violation(&e) => {
                return Err(Error::conflict(
                    "credential",
                    "This passkey is registered already.",
                ))
            }
            Err(e) => return Err(e.into()),
        }
        q::refresh_mfa_flag(&mut tx, &auth.user.id).await?;
        let mailed = self
            .queue_factor_notice(&mut tx, &auth.user, FactorChange::PasskeyAdded(&row.name))
            .await?;
        tx.commit().await?;
        self.wake_mailer_if(mailed);
        let detail = format!("passkey {:?} added", row.name);
        self.audit(Event::MfaEnabled, Some(&auth.user.id), client, Some(&detail))
            .await;
        Ok(PasskeyInfo {
            id: row.id,
            name: row.name,
            created_at: now,
            last_used_at: None,
        })
    }

    pub async fn rename_passkey(&self, auth: &Authenticated, id: &str, name: &str) -> Result<()> {
        let name: String = name
            .trim()
            .chars()
            .filter(|c| !validate::is_invisible(*c))
            .take(64)
            .collect();
        if name.is_empty() {
            return Err(Error::invalid("name", "Give the passkey a name."));
        }
        if !validate::is_record_id(id) || !q::rename_passkey(&self.db, &auth.user.id, id, &name).await? {
            return Err(Error::NotFound("no such passkey".into()));
        }
        Ok(())
    }

    /// Removes one of the user's passkeys. When it is their last second
    /// factor, the password is asked again (as turning the app off asks it):
    /// a stolen session alone cannot make the account a one-factor one.
    pub async fn delete_passkey(
        &self,
        auth: &Authenticated,
        id: &str,
        password: Option<&str>,
        client: &Client,
    ) -> Result<()> {
        self.require_recent_auth(auth)?;
        let not_found = || Error::NotFound("no such passkey".into());
        if !validate::is_record_id(id) {
            return Err(not_found());
        }
        let passkeys = q::passkeys_of(&self.db, &auth.user.id).await?;
        let row = passkeys.iter().find(|p| p.id == id).ok_or_else(not_found)?;
        let status = self.mfa_status(&auth.user.id).await?;
        if !status.totp && passkeys.len() == 1 {
            let Some(password) = password.filter(|p| !p.is_empty()) else {
                return Err(Error::WrongPassword {
                    field: "password",
                    message: "enter your password to remove your last second factor".into(),
                });
            };
            self.check_current_password(&auth.user, password, client).await?;
        }
        let mut tx = self.db.begin().await?;
        if !q::delete_passkey(&mut tx, &auth.user.id, id).await? {
            return Err(not_found());
        }
        if !q::refresh_mfa_flag(&mut tx, &auth.user.id).await? {
            q::delete_recovery_codes(&mut tx, &auth.user.id).await?;
        }
        let mailed = self
            .queue_factor_notice(&mut tx, &auth.user, FactorChange::PasskeyRemoved(&row.name))
            .await?;
        tx.commit().await?;
        self.wake_mailer_if(mailed);
        self.audit(
            Event::MfaDisabled,
            Some(&auth.user.id),
            client,
            Some(&format!("passkey {:?} removed", row.name)),
        )
        .await;
        Ok(())
    }

    /// Removes every second factor of the signed-in user at once (after a
    /// reset, what an intruder may have added; the password is asked again).
    pub async fn remove_all_factors(
        &self,
        auth: &Authenticated,
        password: &str,
        client: &Client,
    ) -> Result<()> {
        self.require_recent_auth(auth)?;
        self.check_current_password(&auth.user, password, client).await?;
        let user_id = &auth.user.id;
        let mut tx = self.db.begin().await?;
        let totp = q::delete_totp(&mut tx, user_id).await?;
        q::delete_recovery_codes(&mut tx, user_id).await?;
        let passkeys = q::delete_passkeys(&mut tx, user_id).await?;
        q::refresh_mfa_flag(&mut tx, user_id).await?;
        q::set_factors_review(&mut tx, user_id, false).await?;
        let mailed = if totp || passkeys > 0 {
            self.queue_factor_notice(&mut tx, &auth.user, FactorChange::AllRemoved)
                .await?
        } else {
            false
        };
        tx.commit().await?;
        self.wake_mailer_if(mailed);
        let detail = format!(
            "every second factor removed by the owner ({}{passkeys} passkeys)",
            if totp { "an authenticator app, " } else { "" }
        );
        self.audit(Event::MfaDisabled, Some(user_id), client, Some(&detail))
            .await;
        Ok(())
    }

    /// The owner looked at their factors after a reset and keeps them.
    pub async fn keep_factors(&self, auth: &Authenticated) -> Result<()> {
        let mut tx = self.db.begin().await?;
        q::set_factors_review(&mut tx, &auth.user.id, false).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Starts a passkey ceremony to sign in: the second factor of `pending`
    /// (the user's own passkeys), a re-authentication of `reauth`, or else
    /// a passwordless sign-in with any discoverable credential (also what
    /// the browser's autofill offers).
    pub async fn start_passkey_sign_in(
        &self,
        pending: Option<&str>,
        reauth: Option<&Authenticated>,
        client: &Client,
    ) -> Result<Ceremony> {
        let webauthn = self.webauthn()?;
        // Each ceremony stores its state: a client gets a budget of them.
        let key = format!("passkey:{}", self.client_key(client));
        self.throttle(&key, CEREMONIES_PER_MINUTE, 60).await?;
        if let Some(auth) = reauth {
            let keys: Vec<Passkey> = self
                .stored_passkeys(&auth.user.id)
                .await?
                .into_iter()
                .map(|(_, k)| k)
                .collect();
            if keys.is_empty() {
                return Err(Error::StateConflict("You have no passkey.".into()));
            }
            let (options, state): (RequestChallengeResponse, PasskeyAuthentication) = webauthn
                .start_passkey_authentication(&keys)
                .map_err(|e| Error::internal("passkey", e))?;
            let json = serde_json::to_value(&options).map_err(|e| Error::internal("passkey", e))?;
            return self
                .save_ceremony(&CeremonyState::Reauth(state), Some(&auth.user.id), json)
                .await;
        }
        if let Some(token) = pending {
            let (user, _) = self.pending_user(token).await?;
            let keys: Vec<Passkey> = self
                .stored_passkeys(&user.id)
                .await?
                .into_iter()
                .map(|(_, k)| k)
                .collect();
            if keys.is_empty() {
                return Err(Error::StateConflict("This account has no passkey.".into()));
            }
            let (options, state) = webauthn
                .start_passkey_authentication(&keys)
                .map_err(|e| Error::internal("passkey", e))?;
            let json = serde_json::to_value(&options).map_err(|e| Error::internal("passkey", e))?;
            let state = CeremonyState::SecondFactor {
                state,
                pending: hash_token(token),
            };
            return self.save_ceremony(&state, Some(&user.id), json).await;
        }
        let (options, state) = webauthn
            .start_discoverable_authentication()
            .map_err(|e| Error::internal("passkey", e))?;
        let json = serde_json::to_value(&options).map_err(|e| Error::internal("passkey", e))?;
        self.save_ceremony(&CeremonyState::Discover(state), None, json)
            .await
    }

    /// Finishes a passkey ceremony started by [`Core::start_passkey_sign_in`].
    /// A passkey verified the user, so it counts as both factors. Failures
    /// count against the client like wrong passwords and are audited.
    pub async fn finish_passkey_sign_in(
        &self,
        ceremony: &str,
        credential: &serde_json::Value,
        reauth: Option<&Authenticated>,
        client: &Client,
    ) -> Result<PasskeyOutcome> {
        let webauthn = self.webauthn()?;
        let (owner, state) = self.take_ceremony(ceremony).await?;
        let credential: PublicKeyCredential = serde_json::from_value(credential.clone())
            .map_err(|_| Error::invalid("credential", "The browser's answer is not a passkey sign-in."))?;
        self.admit_attempt(client).await?;
        let failed = |reason: &'static str| async move {
            self.audit(
                Event::LoginFailed,
                None,
                client,
                Some(&format!("passkey: {reason}")),
            )
            .await;
            Error::InvalidCredentials
        };
        let Some(row) = q::passkey_by_credential(&self.db, &credential_key(&credential.raw_id)).await? else {
            return Err(failed("unknown credential").await);
        };
        let key: Passkey =
            serde_json::from_str(&row.passkey).map_err(|e| Error::internal("stored passkey", e))?;
        let (result, remember, pending) = match state {
            CeremonyState::Discover(state) => {
                let (user_handle, _) = webauthn
                    .identify_discoverable_authentication(&credential)
                    .map_err(|_| Error::InvalidCredentials)?;
                if user_handle.to_string() != row.user_id {
                    return Err(failed("the credential is not the user's").await);
                }
                match webauthn.finish_discoverable_authentication_v2(&credential, state, &key) {
                    Ok(r) => (r, false, None),
                    Err(_) => return Err(failed("the signature did not verify").await),
                }
            }
            CeremonyState::SecondFactor { state, pending } => {
                if owner.as_deref() != Some(row.user_id.as_str()) {
                    return Err(failed("the credential is not the user's").await);
                }
                match webauthn.finish_passkey_authentication(&credential, &state) {
                    Ok(r) => (r, false, Some(pending)),
                    Err(_) => return Err(failed("the signature did not verify").await),
                }
            }
            CeremonyState::Reauth(state) => {
                let Some(auth) = reauth.filter(|a| owner.as_deref() == Some(a.user.id.as_str())) else {
                    return Err(Error::Unauthenticated);
                };
                if row.user_id != auth.user.id {
                    return Err(failed("the credential is not the user's").await);
                }
                let Ok(result) = webauthn.finish_passkey_authentication(&credential, &state) else {
                    return Err(failed("the signature did not verify").await);
                };
                if !self.record_passkey_use(&row, key, &result).await? {
                    return Err(failed("its signature counter went back").await);
                }
                self.mark_authenticated(auth).await?;
                self.audit(
                    Event::Reauthenticated,
                    Some(&auth.user.id),
                    client,
                    Some("passkey"),
                )
                .await;
                return Ok(PasskeyOutcome::Reauthenticated);
            }
            CeremonyState::Register(_) => {
                return Err(Error::invalid("ceremony", "That is not a passkey sign-in."))
            }
        };
        if !result.user_verified() {
            return Err(failed("the user was not verified").await);
        }
        if !self.record_passkey_use(&row, key, &result).await? {
            return Err(failed("its signature counter went back").await);
        }
        let user = self.user(&row.user_id).await?;
        if user.disabled {
            return Err(failed("account disabled").await);
        }
        let mut remember = remember;
        let mut detail = format!("passkey {:?}", row.name);
        if let Some(pending) = pending {
            // The second factor of a pending sign-in: used up now.
            let taken = q::take_challenge(&self.db, &pending, "mfa_pending", super::now()).await?;
            let state: Option<PendingState> = taken.and_then(|t| serde_json::from_str(&t.state).ok());
            let Some(state) = state else {
                return Err(Error::SignInExpired);
            };
            remember = state.remember;
            detail = format!("{} + passkey {:?}", state.first, row.name);
        }
        // A completed sign-in: the client's attempt is given back, and wrong
        // codes counted against the account are forgotten.
        self.guess_succeeded(client, &limits::second_factor_key(&user.id))
            .await?;
        metrics::counter!("gatehouse_logins_total", "outcome" => "passkey").increment(1);
        self.audit(Event::LoginSucceeded, Some(&user.id), client, Some(&detail))
            .await;
        Ok(PasskeyOutcome::SignedIn { user, remember })
    }

    /// Records a verified use of passkey `row`: its counter and backup flags
    /// move on, compared with what is stored now (not with the ceremony's
    /// copy, which another ceremony of the same credential may have
    /// overtaken) and written only over that same stored value. Returns
    /// false when the counter did not move forward (a cloned authenticator,
    /// or two ceremonies racing): the use is refused.
    async fn record_passkey_use(
        &self,
        row: &q::PasskeyRow,
        mut key: Passkey,
        result: &webauthn_rs::prelude::AuthenticationResult,
    ) -> Result<bool> {
        let stored = stored_counter(&row.passkey)?;
        if (result.counter() != 0 || stored != 0) && result.counter() <= stored {
            return Ok(false);
        }
        let updated = key
            .update_credential(result)
            .filter(|changed| *changed)
            .map(|_| serde_json::to_string(&key))
            .transpose()
            .map_err(|e| Error::internal("passkey", e))?;
        Ok(q::passkey_used(&self.db, &row.id, &row.passkey, updated.as_deref(), super::now()).await?)
    }

    // ---- Admin ----

    /// Removes every factor of a user (they lost them all): TOTP, recovery
    /// codes, passkeys; their sessions and token families end.
    pub async fn reset_factors(&self, actor: &Authenticated, id: &str, client: &Client) -> Result<()> {
        require_admin(actor)?;
        self.require_recent_auth(actor)?;
        let target = self.managed_user(actor, id).await?;
        let mut tx = self.db.begin().await?;
        q::delete_totp(&mut tx, id).await?;
        q::delete_recovery_codes(&mut tx, id).await?;
        let passkeys = q::delete_passkeys(&mut tx, id).await?;
        q::refresh_mfa_flag(&mut tx, id).await?;
        q::set_factors_review(&mut tx, id, false).await?;
        let mailed = self
            .queue_factor_notice(&mut tx, &target.user, FactorChange::ResetByAdmin)
            .await?;
        tx.commit().await?;
        self.wake_mailer_if(mailed);
        self.cancel_pending_links(id).await?;
        let sessions = self.end_other_sessions(id, None).await?;
        let families = self
            .revoke_token_families(id, None, "second factors reset by an admin")
            .await?;
        let detail = format!(
            "{}'s second factors ({passkeys} passkeys) reset by {}; {sessions} sessions and {families} token families ended",
            target.user.username, actor.user.username
        );
        self.audit(Event::MfaReset, Some(id), client, Some(&detail)).await;
        Ok(())
    }

    /// Deletes challenges that expired; run periodically.
    pub async fn purge_challenges(&self) -> Result<u64> {
        Ok(q::purge_challenges(&self.db, super::now()).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovery_codes_have_fifty_bits_and_forgive_typing() {
        let code = new_recovery_code();
        assert_eq!(code.len(), 11);
        assert_eq!(&code[5..6], "-");
        assert_ne!(code, new_recovery_code());
        assert_eq!(
            normalize_recovery_code(&code.to_uppercase().replace('-', " ")),
            code.replace('-', "")
        );
    }
}
