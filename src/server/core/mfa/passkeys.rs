//! Passkeys (WebAuthn, `webauthn-rs`): registering, naming and removing
//! them, and their ceremonies to sign in (without a password, as a second
//! factor, or to re-authenticate). Ceremony state lives on the server.

use super::pending::PendingState;
use super::*;

/// A WebAuthn ceremony must finish within this.
const CEREMONY_SECONDS: i64 = 5 * 60;

/// Passkey ceremonies one client may start per minute: each stores its
/// state until it ends or expires.
const CEREMONIES_PER_MINUTE: u32 = 100;

/// A passkey as its owner sees it.
#[derive(Clone, Debug)]
pub struct PasskeyInfo {
    pub id: String,
    pub name: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
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
    SignedIn { user: User, remember: bool, amr: Amr },
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

/// The signature counter a stored passkey has seen (0: it keeps none).
fn stored_counter(passkey_json: &str) -> Result<u32> {
    let value: serde_json::Value =
        serde_json::from_str(passkey_json).map_err(|e| Error::internal("stored passkey", e))?;
    Ok(value["cred"]["counter"]
        .as_u64()
        .unwrap_or(0)
        .min(u64::from(u32::MAX)) as u32)
}

impl Core {
    fn webauthn(&self) -> Result<&Webauthn> {
        self.webauthn
            .as_deref()
            .ok_or_else(|| Error::Forbidden("passkeys need a host name: set GATEHOUSE_PUBLIC_URL".into()))
    }

    pub async fn passkeys_of(&self, user_id: &str) -> Result<Vec<PasskeyInfo>> {
        Ok(factors::passkeys_of(&self.db, user_id)
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

    async fn stored_passkeys(&self, user_id: &str) -> Result<Vec<(factors::PasskeyRow, Passkey)>> {
        factors::passkeys_of(&self.db, user_id)
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
        let now = now();
        let state = serde_json::to_string(state).map_err(|e| Error::internal("ceremony", e))?;
        factors::insert_challenge(
            &self.db,
            &factors::NewChallenge {
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
        let row = factors::take_challenge(&self.db, &hash_token(id), "passkey", now())
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
        let now = now();
        let row = factors::PasskeyRow {
            id: uuid::Uuid::new_v4().to_string(),
            user_id: auth.user.id.clone(),
            credential_id: credential_key(passkey.cred_id()),
            name,
            passkey: serde_json::to_string(&passkey).map_err(|e| Error::internal("passkey", e))?,
            created_at: now,
            last_used_at: None,
        };
        let mut tx = self.db.begin().await?;
        match factors::insert_passkey(&mut tx, &row).await {
            Ok(()) => {}
            Err(e) if crate::server::db::is_unique_violation(&e) => {
                return Err(Error::conflict(
                    "credential",
                    "This passkey is registered already.",
                ))
            }
            Err(e) => return Err(e.into()),
        }
        factors::refresh_mfa_flag(&mut tx, &auth.user.id).await?;
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
        if !validate::is_record_id(id) || !factors::rename_passkey(&self.db, &auth.user.id, id, &name).await?
        {
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
        let passkeys = factors::passkeys_of(&self.db, &auth.user.id).await?;
        let row = passkeys.iter().find(|p| p.id == id).ok_or_else(not_found)?;
        let mut password_checked = false;
        if let Some(password) = password.filter(|p| !p.is_empty()) {
            self.check_current_password(&auth.user, password, client).await?;
            password_checked = true;
        }
        let mut tx = self.db.begin().await?;
        factors::lock_user(&mut tx, &auth.user.id).await?;
        if !factors::delete_passkey(&mut tx, &auth.user.id, id).await? {
            return Err(not_found());
        }
        // Decided inside the transaction: of two removals racing, the one
        // that would leave no factor asks for the password too (and is
        // rolled back without it).
        if !factors::refresh_mfa_flag(&mut tx, &auth.user.id).await? {
            if !password_checked {
                return Err(Error::WrongPassword {
                    field: "password",
                    message: "enter your password to remove your last second factor".into(),
                });
            }
            factors::delete_recovery_codes(&mut tx, &auth.user.id).await?;
        }
        let mailed = self
            .queue_factor_notice(&mut tx, &auth.user, FactorChange::PasskeyRemoved(&row.name))
            .await?;
        // Whatever that passkey signed in (without a password) ends with it.
        let ended = self.end_elsewhere(&mut tx, auth, "a passkey was removed").await?;
        tx.commit().await?;
        self.wake_mailer_if(mailed);
        self.audit(
            Event::MfaDisabled,
            Some(&auth.user.id),
            client,
            Some(&format!("passkey {:?} removed; {ended}", row.name)),
        )
        .await;
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
        let Some(row) = factors::passkey_by_credential(&self.db, &credential_key(&credential.raw_id)).await?
        else {
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
                self.mark_authenticated(auth, &Amr::passkey(result.backup_eligible(), false))
                    .await?;
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
        let mut amr = Amr::passkey(result.backup_eligible(), false);
        if let Some(pending) = pending {
            // The second factor of a pending sign-in: used up now.
            let taken = factors::take_challenge(&self.db, &pending, "mfa_pending", now()).await?;
            let state: Option<PendingState> = taken.and_then(|t| serde_json::from_str(&t.state).ok());
            let Some(state) = state else {
                return Err(Error::SignInExpired);
            };
            amr = state.amr_with_passkey(result.backup_eligible());
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
        Ok(PasskeyOutcome::SignedIn { user, remember, amr })
    }

    /// Records a verified use of passkey `row`: its counter and backup flags
    /// move on, compared with what is stored now (not with the ceremony's
    /// copy, which another ceremony of the same credential may have
    /// overtaken) and written only over that same stored value. Returns
    /// false when the counter did not move forward (a cloned authenticator,
    /// or two ceremonies racing): the use is refused.
    async fn record_passkey_use(
        &self,
        row: &factors::PasskeyRow,
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
        Ok(factors::passkey_used(&self.db, &row.id, &row.passkey, updated.as_deref(), now()).await?)
    }
}
