//! From the core's types to the model types both adapters answer with (the
//! JSON API and the pages' server functions): one conversion each.

use super::core::{
    admin::ManagedUser, audit::AuditEntry, invitations::Invitation, mail::Undelivered, mfa::PasskeyInfo,
    mfa::TotpEnrolment, rfc3339, sessions::SessionInfo,
};
use crate::model::{AdminUserItem, AuditItem, InvitationItem, MailItem, PasskeyItem, SessionItem, TotpSetup};
use std::collections::HashMap;

/// The sessions of a page of them; the one with id `current` (the request's)
/// says so.
pub fn sessions(list: Vec<SessionInfo>, current: Option<&str>) -> Vec<SessionItem> {
    list.into_iter()
        .map(|s| {
            let this = Some(s.id.as_str()) == current;
            session(s, this)
        })
        .collect()
}

/// A session of the user's; `current` when the request was made with it.
fn session(s: SessionInfo, current: bool) -> SessionItem {
    SessionItem {
        id: s.id,
        created_at: rfc3339(s.created_at),
        last_seen_at: rfc3339(s.last_seen_at),
        user_agent: s.user_agent,
        ip: s.ip,
        current,
    }
}

impl From<ManagedUser> for AdminUserItem {
    fn from(m: ManagedUser) -> Self {
        AdminUserItem {
            disabled: m.user.disabled,
            locked_until: m.locked_until.map(rfc3339),
            last_login_at: m.user.last_login_at.map(rfc3339),
            mfa_enabled: m.user.mfa_enabled,
            providers: m.providers,
            user: m.user.view(),
        }
    }
}

/// Audit rows, with the usernames of the users they name (`names`, by id).
pub fn audit(rows: Vec<AuditEntry>, names: &HashMap<String, String>) -> Vec<AuditItem> {
    rows.into_iter()
        .map(|r| AuditItem {
            id: r.id,
            at: rfc3339(r.at),
            event: r.event,
            username: r.user_id.as_deref().and_then(|id| names.get(id)).cloned(),
            user_id: r.user_id,
            ip: r.ip,
            user_agent: r.user_agent,
            detail: r.detail,
        })
        .collect()
}

impl From<Invitation> for InvitationItem {
    fn from(i: Invitation) -> Self {
        InvitationItem {
            id: i.id,
            email: i.email,
            role: i.role,
            expires_at: rfc3339(i.expires_at),
        }
    }
}

impl From<Undelivered> for MailItem {
    fn from(m: Undelivered) -> Self {
        MailItem {
            id: m.id,
            kind: m.kind,
            recipient: m.recipient,
            subject: m.subject,
            status: m.status,
            attempts: m.attempts,
            last_error: m.last_error,
            created_at: rfc3339(m.created_at),
        }
    }
}

impl From<PasskeyInfo> for PasskeyItem {
    fn from(p: PasskeyInfo) -> Self {
        PasskeyItem {
            id: p.id,
            name: p.name,
            created_at: rfc3339(p.created_at),
            last_used_at: p.last_used_at.map(rfc3339),
        }
    }
}

impl From<TotpEnrolment> for TotpSetup {
    fn from(e: TotpEnrolment) -> Self {
        TotpSetup {
            secret: e.secret,
            otpauth_uri: e.otpauth_uri,
            qr_code: e.qr_code,
        }
    }
}
