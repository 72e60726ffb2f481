//! Invitations: an admin invites an address with a role; the invitee sets a
//! password on `/invite` and is signed in, with a verified email. They work
//! while signup is closed.

use super::{
    accounts::AccountSpec,
    admin::require_admin,
    audit::Event,
    mail::{human_duration, Action},
    sessions::Authenticated,
    tokens::{hash_token, random_token},
    validate, Client, Core, Error, Result, User,
};
use crate::{
    model::Role,
    server::db::{invitations, users, users::SetupClaim},
};

/// Invitation links are good for this long.
const INVITATION_SECONDS: i64 = 7 * 24 * 3600;

#[derive(Clone, Debug)]
pub struct Invitation {
    pub id: String,
    pub email: String,
    pub role: Role,
    pub invited_by: Option<String>,
    pub created_at: i64,
    pub expires_at: i64,
}

impl TryFrom<invitations::InvitationRow> for Invitation {
    type Error = Error;

    fn try_from(r: invitations::InvitationRow) -> Result<Invitation> {
        Ok(Invitation {
            role: Role::parse(&r.role)
                .ok_or_else(|| Error::Internal(format!("unknown role {:?}", r.role)))?,
            id: r.id,
            email: r.email,
            invited_by: r.invited_by,
            created_at: r.created_at,
            expires_at: r.expires_at,
        })
    }
}

impl Core {
    /// Invites `email` with `role` and mails the link. A pending invitation
    /// of the same address is replaced. `Conflict` when the address already
    /// has an account.
    pub async fn invite(
        &self,
        actor: &Authenticated,
        email: &str,
        role: Role,
        client: &Client,
    ) -> Result<Invitation> {
        require_admin(actor)?;
        self.require_recent_auth(actor)?;
        self.require_mail()?;
        let email = validate::email(email)?;
        let key = validate::identifier_key(&email);
        if users::key_taken(&self.db, &key, "").await? {
            return Err(Error::conflict(
                "email",
                "An account with this email already exists.",
            ));
        }
        let token = random_token(32);
        let now = super::now();
        let invitation = Invitation {
            id: uuid::Uuid::new_v4().to_string(),
            email: email.clone(),
            role,
            invited_by: Some(actor.user.id.clone()),
            created_at: now,
            expires_at: now + INVITATION_SECONDS,
        };
        let mut tx = self.db.begin().await?;
        invitations::revoke_pending_of(&mut tx, &key, now).await?;
        invitations::insert(
            &mut tx,
            &invitations::NewInvitation {
                id: &invitation.id,
                email: &email,
                email_key: &key,
                role: role.as_str(),
                token_hash: &hash_token(&token),
                invited_by: &actor.user.id,
                now,
                expires_at: invitation.expires_at,
            },
        )
        .await?;
        let mut letter = self.letter("You are invited to Gatehouse", "Hello,");
        letter.paragraphs.push(format!(
            "{} invited you to an account at {} with the role \"{role}\". Accept the invitation to choose your password and sign in:",
            actor.user.username,
            self.public_url()
        ));
        letter.action = Some(Action {
            label: "Accept the invitation".into(),
            url: self.link("/invite", &token),
        });
        letter.validity = Some(format!(
            "The invitation works once, for {}.",
            human_duration(INVITATION_SECONDS as u64)
        ));
        letter.not_you =
            "If you do not know who sent this or do not want an account, ignore this mail: no account exists until the invitation is accepted.".into();
        self.queue_mail(&mut tx, "invitation", &email, &letter).await?;
        tx.commit().await?;
        self.wake_mailer();
        let detail = format!("{email} ({role}) invited by {}", actor.user.username);
        self.audit(Event::InvitationSent, None, client, Some(&detail))
            .await;
        Ok(invitation)
    }

    /// Pending invitations, newest first.
    pub async fn invitations(&self, actor: &Authenticated) -> Result<Vec<Invitation>> {
        require_admin(actor)?;
        self.require_mail()?;
        invitations::list_pending(&self.db, super::now())
            .await?
            .into_iter()
            .map(Invitation::try_from)
            .collect()
    }

    /// Revokes a pending invitation: its link stops working.
    pub async fn revoke_invitation(&self, actor: &Authenticated, id: &str, client: &Client) -> Result<()> {
        require_admin(actor)?;
        self.require_recent_auth(actor)?;
        self.require_mail()?;
        if !validate::is_record_id(id) || !invitations::revoke(&self.db, id, super::now()).await? {
            return Err(Error::NotFound("no such pending invitation".into()));
        }
        let detail = format!("revoked by {}", actor.user.username);
        self.audit(Event::InvitationRevoked, None, client, Some(&detail))
            .await;
        Ok(())
    }

    /// The pending invitation behind a link, without using it.
    pub async fn invitation_for(&self, token: &str) -> Result<Invitation> {
        self.require_mail()?;
        invitations::find_pending_by_token(&self.db, &hash_token(token), super::now())
            .await?
            .ok_or(Error::InvalidLink)
            .and_then(Invitation::try_from)
    }

    /// Accepts an invitation: creates the account with the invited role and
    /// a verified email (the link proved the address), and uses the link up.
    pub async fn accept_invitation(
        &self,
        token: &str,
        password: &str,
        username: Option<&str>,
        client: &Client,
    ) -> Result<User> {
        let invitation = self.invitation_for(token).await?;
        let username = match username.map(str::trim).filter(|u| !u.is_empty()) {
            Some(u) => validate::username(u)?,
            None => invitation.email.clone(),
        };
        self.throttle_signup(client).await?;
        let new = self
            .prepare_user(
                AccountSpec {
                    username,
                    email: Some(invitation.email.clone()),
                    password,
                    role: invitation.role,
                    email_verified: true,
                },
                client,
            )
            .await?;
        let mut tx = self.db.begin().await?;
        let user = self.insert_user(&mut tx, &new, SetupClaim::No).await?;
        if invitations::accept(&mut tx, &hash_token(token), &user.id, super::now())
            .await?
            .is_none()
        {
            return Err(Error::InvalidLink);
        }
        tx.commit().await?;
        let detail = format!("{} joined as {}", user.username, user.role);
        self.audit(Event::InvitationAccepted, Some(&user.id), client, Some(&detail))
            .await;
        Ok(user)
    }

    /// Deletes invitations that ended more than 30 days ago.
    pub async fn purge_invitations(&self) -> Result<u64> {
        Ok(invitations::purge(&self.db, super::now() - 30 * 86_400).await?)
    }
}
