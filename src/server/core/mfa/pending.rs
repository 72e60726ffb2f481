//! The sign-in that waits for its second factor: held on the server for
//! five minutes after the password, completed by a code or a passkey.

use super::*;

/// A sign-in waits this long for its second factor.
pub const PENDING_SECONDS: i64 = 5 * 60;

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
pub(super) struct PendingState {
    pub(super) remember: bool,
    /// The user's `password_changed_at` when the password was checked.
    pub(super) password_at: i64,
    /// The first factor, for the audit log.
    pub(super) first: String,
    /// The identity provider of the first step, if it was one (absent in
    /// sign-ins held before it was recorded).
    #[serde(default)]
    pub(super) provider: Option<String>,
}

impl PendingState {
    /// How the sign-in proved who the user is, once a code completed it.
    pub(super) fn amr_with_code(&self) -> Amr {
        match (&self.provider, self.first.as_str()) {
            (None, "password") => Amr::password_and_code(),
            (provider, _) => Amr::external_and_code(provider.as_deref().unwrap_or("")),
        }
    }

    /// How the sign-in proved who the user is, once a passkey completed it.
    pub(super) fn amr_with_passkey(&self, synced: bool) -> Amr {
        match (&self.provider, self.first.as_str()) {
            (None, "password") => Amr::passkey(synced, true),
            (provider, _) => Amr::external_and_passkey(provider.as_deref().unwrap_or(""), synced),
        }
    }
}

impl Core {
    /// After the password step of a user with a second factor: a pending
    /// sign-in, good for five minutes.
    pub(crate) async fn pend_sign_in(
        &self,
        user: &User,
        remember: bool,
        first: &str,
        provider: Option<&str>,
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
        let now = now();
        let state = serde_json::to_string(&PendingState {
            remember,
            password_at: user.password_changed_at,
            first: first.to_string(),
            provider: provider.map(str::to_string),
        })
        .map_err(|e| Error::internal("pending sign-in", e))?;
        factors::insert_challenge(
            &self.db,
            &factors::NewChallenge {
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
    pub(super) async fn pending_user(&self, token: &str) -> Result<(User, PendingState)> {
        let expired = || Error::SignInExpired;
        let row = factors::peek_challenge(&self.db, &hash_token(token), "mfa_pending", now())
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
    /// user, whether "remember me" was asked and how the sign-in proved who
    /// the user is; the pending sign-in is used up.
    pub async fn complete_sign_in(
        &self,
        token: &str,
        proof: &Proof,
        client: &Client,
    ) -> Result<(User, bool, Amr)> {
        let (user, state) = self.pending_user(token).await?;
        self.check_second_factor(&user, proof, client).await?;
        if factors::take_challenge(&self.db, &hash_token(token), "mfa_pending", now())
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
        Ok((user, state.remember, state.amr_with_code()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(first: &str, provider: Option<&str>) -> PendingState {
        PendingState {
            remember: false,
            password_at: 0,
            first: first.into(),
            provider: provider.map(str::to_string),
        }
    }

    #[test]
    fn the_second_step_keeps_what_the_first_was() {
        let password = state("password", None);
        assert_eq!(password.amr_with_code().stored(), "pwd otp mfa");
        assert_eq!(password.amr_with_passkey(true).stored(), "pwd swk mfa");
        assert_eq!(password.amr_with_code().provider(), None);
        let external = state("Test IdP (idp)", Some("idp"));
        assert_eq!(external.amr_with_code().stored(), "fed otp mfa");
        assert_eq!(external.amr_with_passkey(false).stored(), "fed hwk mfa");
        assert_eq!(external.amr_with_passkey(false).provider(), Some("idp"));
        // Held before the provider was recorded: still not a password.
        let older: PendingState =
            serde_json::from_str(r#"{"remember":false,"password_at":0,"first":"Test IdP (idp)"}"#).unwrap();
        assert_eq!(older.amr_with_code().stored(), "fed otp mfa");
        assert_eq!(older.amr_with_code().provider(), None);
    }
}
