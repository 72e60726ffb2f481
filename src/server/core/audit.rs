//! The audit log: security events, written by the core (never by adapters),
//! with who, from where, and a short detail. Never a password or a token.

use super::{Client, Core, Result};
use crate::server::db::{
    audit::{self, AuditRow, NewAuditRow},
    Batch,
};

/// What happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    Setup,
    Signup,
    UserCreated,
    LoginSucceeded,
    LoginFailed,
    LoginRateLimited,
    AccountLocked,
    AccountUnlocked,
    Logout,
    PasswordChanged,
    PasswordReset,
    SessionRevoked,
    SessionsRevoked,
    TokenIssued,
    RefreshTokenReuse,
    RoleChanged,
    UserDisabled,
    UserEnabled,
    SigningKeyRotated,
    PasswordResetRequested,
    EmailVerified,
    VerificationSent,
    EmailChangeRequested,
    EmailChanged,
    InvitationSent,
    InvitationRevoked,
    InvitationAccepted,
    MailRetried,
    PasswordCheckFailed,
    BreachCheckFailed,
    Reauthenticated,
    MfaEnabled,
    MfaDisabled,
    MfaFailed,
    RecoveryCodeUsed,
    RecoveryCodesRegenerated,
    MfaReset,
    ConsentGranted,
    ConsentRevoked,
    ClientTokensIssued,
    CodeReuse,
    ClientCreated,
    ClientChanged,
    ClientSecretRotated,
    ClientDeleted,
    ExternalSignIn,
    ExternalSignInRefused,
    IdentityLinked,
    IdentityUnlinked,
}

impl Event {
    pub const ALL: [Event; 49] = [
        Event::Setup,
        Event::Signup,
        Event::UserCreated,
        Event::LoginSucceeded,
        Event::LoginFailed,
        Event::LoginRateLimited,
        Event::AccountLocked,
        Event::AccountUnlocked,
        Event::Logout,
        Event::PasswordChanged,
        Event::PasswordReset,
        Event::SessionRevoked,
        Event::SessionsRevoked,
        Event::TokenIssued,
        Event::RefreshTokenReuse,
        Event::RoleChanged,
        Event::UserDisabled,
        Event::UserEnabled,
        Event::SigningKeyRotated,
        Event::PasswordResetRequested,
        Event::EmailVerified,
        Event::VerificationSent,
        Event::EmailChangeRequested,
        Event::EmailChanged,
        Event::InvitationSent,
        Event::InvitationRevoked,
        Event::InvitationAccepted,
        Event::MailRetried,
        Event::PasswordCheckFailed,
        Event::BreachCheckFailed,
        Event::Reauthenticated,
        Event::MfaEnabled,
        Event::MfaDisabled,
        Event::MfaFailed,
        Event::RecoveryCodeUsed,
        Event::RecoveryCodesRegenerated,
        Event::MfaReset,
        Event::ConsentGranted,
        Event::ConsentRevoked,
        Event::ClientTokensIssued,
        Event::CodeReuse,
        Event::ClientCreated,
        Event::ClientChanged,
        Event::ClientSecretRotated,
        Event::ClientDeleted,
        Event::ExternalSignIn,
        Event::ExternalSignInRefused,
        Event::IdentityLinked,
        Event::IdentityUnlinked,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Event::Setup => "setup",
            Event::Signup => "signup",
            Event::UserCreated => "user_created",
            Event::LoginSucceeded => "login_succeeded",
            Event::LoginFailed => "login_failed",
            Event::LoginRateLimited => "login_rate_limited",
            Event::AccountLocked => "account_locked",
            Event::AccountUnlocked => "account_unlocked",
            Event::Logout => "logout",
            Event::PasswordChanged => "password_changed",
            Event::PasswordReset => "password_reset",
            Event::SessionRevoked => "session_revoked",
            Event::SessionsRevoked => "sessions_revoked",
            Event::TokenIssued => "token_issued",
            Event::RefreshTokenReuse => "refresh_token_reuse",
            Event::RoleChanged => "role_changed",
            Event::UserDisabled => "user_disabled",
            Event::UserEnabled => "user_enabled",
            Event::SigningKeyRotated => "signing_key_rotated",
            Event::PasswordResetRequested => "password_reset_requested",
            Event::EmailVerified => "email_verified",
            Event::VerificationSent => "verification_sent",
            Event::EmailChangeRequested => "email_change_requested",
            Event::EmailChanged => "email_changed",
            Event::InvitationSent => "invitation_sent",
            Event::InvitationRevoked => "invitation_revoked",
            Event::InvitationAccepted => "invitation_accepted",
            Event::MailRetried => "mail_retried",
            Event::PasswordCheckFailed => "password_check_failed",
            Event::BreachCheckFailed => "breach_check_failed",
            Event::Reauthenticated => "reauthenticated",
            Event::MfaEnabled => "mfa_enabled",
            Event::MfaDisabled => "mfa_disabled",
            Event::MfaFailed => "mfa_failed",
            Event::RecoveryCodeUsed => "recovery_code_used",
            Event::RecoveryCodesRegenerated => "recovery_codes_regenerated",
            Event::MfaReset => "mfa_reset",
            Event::ConsentGranted => "consent_granted",
            Event::ConsentRevoked => "consent_revoked",
            Event::ClientTokensIssued => "client_tokens_issued",
            Event::CodeReuse => "code_reuse",
            Event::ClientCreated => "client_created",
            Event::ClientChanged => "client_changed",
            Event::ClientSecretRotated => "client_secret_rotated",
            Event::ClientDeleted => "client_deleted",
            Event::ExternalSignIn => "external_sign_in",
            Event::ExternalSignInRefused => "external_sign_in_refused",
            Event::IdentityLinked => "identity_linked",
            Event::IdentityUnlinked => "identity_unlinked",
        }
    }

    pub fn parse(s: &str) -> Option<Event> {
        Event::ALL.into_iter().find(|e| e.as_str() == s)
    }
}

/// One audit row as the core hands it out.
#[derive(Clone, Debug)]
pub struct AuditEntry {
    pub id: i64,
    pub at: i64,
    pub event: String,
    pub user_id: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub detail: Option<String>,
}

impl From<AuditRow> for AuditEntry {
    fn from(r: AuditRow) -> Self {
        AuditEntry {
            id: r.id,
            at: r.at,
            event: r.event,
            user_id: r.user_id,
            ip: r.ip,
            user_agent: r.user_agent,
            detail: r.detail,
        }
    }
}

fn audit_row<'a>(
    event: Event,
    user_id: Option<&'a str>,
    client: &'a Client,
    detail: Option<&'a str>,
) -> NewAuditRow<'a> {
    NewAuditRow {
        at: super::now(),
        event: event.as_str(),
        user_id,
        ip: client.ip.map(|ip| ip.to_string()),
        user_agent: client.user_agent.as_deref(),
        detail,
    }
}

/// Keeps a free-text detail short and on one line.
fn clip(detail: &str) -> String {
    detail
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(200)
        .collect()
}

impl Core {
    /// Records `event`. Best effort: a failure to write is logged, and the
    /// action it describes still happens.
    pub async fn audit(&self, event: Event, user_id: Option<&str>, client: &Client, detail: Option<&str>) {
        let detail = detail.map(clip);
        let row = audit_row(event, user_id, client, detail.as_deref());
        if let Err(e) = audit::insert(&self.db, &row).await {
            tracing::error!(error = %e, event = event.as_str(), "could not write the audit log");
        }
    }

    /// Records `event` as part of `batch`: it is written with the change it
    /// describes, or neither is.
    pub(crate) fn audit_in(
        &self,
        batch: &mut Batch,
        event: Event,
        user_id: Option<&str>,
        client: &Client,
        detail: Option<&str>,
    ) {
        let detail = detail.map(clip);
        audit::insert_in(batch, &audit_row(event, user_id, client, detail.as_deref()));
    }

    /// Newest first; `before` is the id of the last row of the previous page.
    pub async fn audit_log(
        &self,
        user_id: Option<&str>,
        event: Option<&str>,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<AuditEntry>> {
        let limit = i64::from(limit.clamp(1, 1000));
        let names_nothing = user_id.is_some_and(|id| !super::validate::is_record_id(id))
            || event.is_some_and(|e| Event::parse(e).is_none());
        if names_nothing {
            return Ok(Vec::new());
        }
        let rows = audit::list(&self.db, user_id, event, before, limit).await?;
        Ok(rows.into_iter().map(AuditEntry::from).collect())
    }

    /// Deletes rows older than `GATEHOUSE_AUDIT_RETENTION_DAYS`.
    pub async fn purge_audit_log(&self) -> Result<u64> {
        let cutoff = super::now() - self.config.audit_retention.as_secs() as i64;
        Ok(audit::purge_before(&self.db, cutoff).await?)
    }
}
