//! Mail: what each message says, rendered from templates (text and HTML,
//! every value escaped in the HTML), queued in the outbox in the caller's
//! transaction, and the outbox's bookkeeping for the sender and for admins.
//! Delivery itself (SMTP, files) is the sender's business (`server::mail`).

use super::{admin::require_admin, sessions::Authenticated, Core, Error, Result};
use crate::server::db::{outbox, Tx};
use askama::Template;

/// A button in a mail: what it says and where it leads.
#[derive(Clone, Debug)]
pub struct Action {
    pub label: String,
    pub url: String,
}

/// Every message has this shape: what happened, the link (if any), how long
/// it is good for, and what to do if it was not you.
#[derive(Clone, Debug)]
pub struct Letter {
    pub subject: String,
    pub greeting: String,
    pub paragraphs: Vec<String>,
    pub action: Option<Action>,
    pub validity: Option<String>,
    pub not_you: String,
    /// The site's public address, for the footer.
    pub site: String,
}

#[derive(Template)]
#[template(path = "mail/letter.html")]
struct LetterHtml<'a> {
    l: &'a Letter,
}

#[derive(Template)]
#[template(path = "mail/letter.txt")]
struct LetterText<'a> {
    l: &'a Letter,
}

/// A letter rendered to its two parts.
#[derive(Clone, Debug)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
}

impl Letter {
    pub fn render(&self) -> Result<Rendered> {
        Ok(Rendered {
            subject: self.subject.clone(),
            text: LetterText { l: self }
                .render()
                .map_err(|e| Error::internal("mail template", e))?,
            html: LetterHtml { l: self }
                .render()
                .map_err(|e| Error::internal("mail template", e))?,
        })
    }
}

/// A message claimed from the outbox for sending.
#[derive(Clone, Debug)]
pub struct Outgoing {
    pub id: String,
    pub kind: String,
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
    /// 1 on the first attempt.
    pub attempt: u32,
    /// Unix seconds: when this instance's claim on it ends.
    pub lease_until: i64,
}

impl Outgoing {
    /// How long its send may take: the configured send timeout, or less,
    /// so the send gives up a second before this instance's claim ends.
    /// `None` when too little of the claim is left to try.
    pub fn send_time(&self, send_timeout: std::time::Duration) -> Option<std::time::Duration> {
        let left = self.lease_until - super::now() - 1;
        let left = std::time::Duration::from_secs(u64::try_from(left).ok()?);
        Some(send_timeout.min(left)).filter(|t| !t.is_zero())
    }
}

/// A message that has not been delivered, as admins see it.
#[derive(Clone, Debug)]
pub struct Undelivered {
    pub id: String,
    pub kind: String,
    pub recipient: String,
    pub subject: String,
    /// `pending`, `sending` or `failed`.
    pub status: String,
    pub attempts: u32,
    pub next_attempt_at: i64,
    pub last_error: Option<String>,
    pub created_at: i64,
}

/// How a send went, for the outbox.
#[derive(Clone, Debug)]
pub enum SendOutcome {
    Sent,
    /// Worth trying again later (the server was away, a 4xx reply).
    Transient(String),
    /// Will not work however often it is tried (a 5xx reply, a bad address).
    Permanent(String),
}

/// Seconds before attempt `n + 1`, after `n` attempts failed: 1, 2, 4, ... up
/// to a minute, so mail goes out within a minute of the server coming back.
fn backoff(attempts: u32) -> i64 {
    (1i64 << attempts.saturating_sub(1).min(6)).min(60)
}

/// "24 hours", "30 minutes", "7 days".
pub fn human_duration(seconds: u64) -> String {
    let (n, unit) = if seconds.is_multiple_of(86_400) && seconds >= 2 * 86_400 {
        (seconds / 86_400, "day")
    } else if seconds.is_multiple_of(3600) {
        (seconds / 3600, "hour")
    } else {
        (seconds.div_ceil(60), "minute")
    };
    if n == 1 {
        format!("1 {unit}")
    } else {
        format!("{n} {unit}s")
    }
}

impl Core {
    /// Whether mail is configured (the flows that need it are on).
    pub fn mail_enabled(&self) -> bool {
        self.config.mail.is_some()
    }

    /// `NotFound` when mail is off: the endpoints of the flows that need it
    /// do not exist then.
    pub(crate) fn require_mail(&self) -> Result<()> {
        if self.mail_enabled() {
            Ok(())
        } else {
            Err(Error::NotFound("not found".into()))
        }
    }

    /// The site's public origin (mail is on only when it is set).
    pub(crate) fn public_url(&self) -> String {
        self.config
            .public_origin
            .clone()
            .unwrap_or_else(|| format!("http://{}", self.config.site_addr))
    }

    /// `{PUBLIC_URL}{path}?token={token}`: never from a request's `Host`.
    pub(crate) fn link(&self, path: &str, token: &str) -> String {
        format!("{}{path}?token={token}", self.public_url())
    }

    /// A letter with this site's footer.
    pub(crate) fn letter(&self, subject: impl Into<String>, greeting: impl Into<String>) -> Letter {
        Letter {
            subject: subject.into(),
            greeting: greeting.into(),
            paragraphs: Vec::new(),
            action: None,
            validity: None,
            not_you: String::new(),
            site: self.public_url(),
        }
    }

    /// Queues `letter` to `to` in `tx`; it goes out once `tx` commits (then
    /// call [`Core::wake_mailer`]). Nothing is queued while mail is off.
    pub(crate) async fn queue_mail(&self, tx: &mut Tx, kind: &str, to: &str, letter: &Letter) -> Result<()> {
        if !self.mail_enabled() {
            return Ok(());
        }
        let rendered = letter.render()?;
        metrics::counter!("gatehouse_mail_queued_total", "kind" => kind.to_string()).increment(1);
        outbox::insert(
            tx,
            &outbox::NewMessage {
                id: &uuid::Uuid::new_v4().to_string(),
                kind,
                recipient: to,
                subject: &rendered.subject,
                text_body: &rendered.text,
                html_body: &rendered.html,
                now: super::now(),
            },
        )
        .await?;
        Ok(())
    }

    /// Tells this instance's sender that mail was queued.
    pub fn wake_mailer(&self) {
        self.mailer_wake.notify_one();
    }

    /// What the sender waits on between rounds.
    pub fn mailer_wakeup(&self) -> std::sync::Arc<tokio::sync::Notify> {
        self.mailer_wake.clone()
    }

    /// Claims the next due message for this instance, if any.
    ///
    /// The rule that keeps two instances from sending one message: a
    /// message is claimed right before it is sent, one at a time, for
    /// `GATEHOUSE_MAIL_LEASE_SECONDS`, and its send gives up after
    /// `GATEHOUSE_MAIL_SEND_TIMEOUT_SECONDS`, which the configuration keeps
    /// at least 2 s shorter. So a claim cannot run out while its holder
    /// works on it, however slow a working mail server is; another instance
    /// takes a message over only after its holder died or hung past the
    /// send timeout. (Claiming a batch let the end of the batch outlive its
    /// claim behind a slow server, and the other instance sent it too.) The
    /// claim's own wait for the database (up to 5 s) counts too: the sender
    /// gives each send only what is left of its claim, less a second
    /// ([`Outgoing::send_time`]), and the records of a send are written only
    /// while the claim still holds.
    /// What remains is SMTP's own gap: a server that keeps a message but
    /// whose reply never arrives gets it again on the retry.
    pub async fn claim_mail(&self) -> Result<Option<Outgoing>> {
        let now = super::now();
        let lease = self
            .config
            .mail
            .as_ref()
            .map_or(120, |m| m.lease.as_secs() as i64);
        let lease_until = now + lease;
        let row = outbox::claim(&self.db, now, lease_until, 1)
            .await?
            .into_iter()
            .next();
        Ok(row.map(|r| Outgoing {
            id: r.id,
            kind: r.kind,
            to: r.recipient,
            subject: r.subject,
            text: r.text_body,
            html: r.html_body,
            attempt: r.attempts.clamp(0, i64::from(u32::MAX)) as u32,
            lease_until,
        }))
    }

    /// Records how sending `message` went: sent, tried again after a
    /// back-off, or failed for good (after `GATEHOUSE_MAIL_MAX_ATTEMPTS`).
    pub async fn record_send(&self, message: &Outgoing, outcome: SendOutcome) -> Result<()> {
        let max = self.config.mail.as_ref().map_or(1, |m| m.max_attempts);
        match outcome {
            SendOutcome::Sent => {
                metrics::counter!("gatehouse_mail_sent_total").increment(1);
                outbox::mark_sent(&self.db, &message.id, message.lease_until, super::now()).await?
            }
            SendOutcome::Transient(error) if message.attempt < max => {
                metrics::counter!("gatehouse_mail_retried_total").increment(1);
                let at = super::now() + backoff(message.attempt);
                tracing::warn!(kind = %message.kind, attempt = message.attempt, error = %error, "mail not sent; will try again");
                outbox::retry_later(
                    &self.db,
                    &message.id,
                    message.lease_until,
                    at,
                    &clip_error(&error),
                )
                .await?
            }
            SendOutcome::Transient(error) | SendOutcome::Permanent(error) => {
                metrics::counter!("gatehouse_mail_failed_total").increment(1);
                tracing::error!(kind = %message.kind, attempt = message.attempt, error = %error, "mail failed");
                outbox::mark_failed(&self.db, &message.id, message.lease_until, &clip_error(&error)).await?
            }
        }
        Ok(())
    }

    /// When the next queued message is due (Unix seconds), if any.
    pub async fn next_mail_due(&self) -> Result<Option<i64>> {
        Ok(outbox::next_due(&self.db).await?)
    }

    /// Mail not delivered yet, oldest first (for admins).
    pub async fn undelivered_mail(&self, actor: &Authenticated) -> Result<Vec<Undelivered>> {
        require_admin(actor)?;
        let rows = outbox::undelivered(&self.db, 200).await?;
        Ok(rows
            .into_iter()
            .map(|r| Undelivered {
                id: r.id,
                kind: r.kind,
                recipient: r.recipient,
                subject: r.subject,
                status: r.status,
                attempts: r.attempts.clamp(0, i64::from(u32::MAX)) as u32,
                next_attempt_at: r.next_attempt_at,
                last_error: r.last_error,
                created_at: r.created_at,
            })
            .collect())
    }

    /// Queues a failed message again (an admin's retry).
    pub async fn retry_mail(&self, actor: &Authenticated, id: &str) -> Result<()> {
        require_admin(actor)?;
        self.require_recent_auth(actor)?;
        if !super::validate::is_record_id(id) || !outbox::requeue_failed(&self.db, id, super::now()).await? {
            return Err(Error::NotFound("no such failed message".into()));
        }
        self.wake_mailer();
        Ok(())
    }

    /// Deletes delivered mail after a day and failed mail after a week.
    pub async fn purge_outbox(&self) -> Result<u64> {
        let now = super::now();
        Ok(outbox::purge(&self.db, now - 86_400, now - 7 * 86_400).await?)
    }
}

/// Errors from mail servers can be long; keep the start.
fn clip_error(error: &str) -> String {
    error
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(300)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_html_part_escapes_every_value() {
        let letter = Letter {
            subject: "Reset <b>".into(),
            greeting: "Hello <script>alert(1)</script>,".into(),
            paragraphs: vec!["a & b \"quoted\"".into()],
            action: Some(Action {
                label: "Go".into(),
                url: "https://id.example.com/reset-password?token=abc&x=\"y\"".into(),
            }),
            validity: Some("30 minutes".into()),
            not_you: "Ignore it.".into(),
            site: "https://id.example.com".into(),
        };
        let r = letter.render().unwrap();
        assert!(!r.html.contains("<script>"), "{}", r.html);
        assert!(r
            .html
            .contains("Hello &#60;script&#62;alert(1)&#60;/script&#62;,"));
        assert!(r.html.contains("a &#38; b &#34;quoted&#34;"));
        assert!(!r.html.contains("x=\"y\""));
        assert!(
            r.text.contains("Hello <script>alert(1)</script>,"),
            "the text part is plain text"
        );
        assert!(r
            .text
            .contains("https://id.example.com/reset-password?token=abc&x=\"y\""));
        assert!(r.text.contains("30 minutes") && r.text.contains("Ignore it."));
    }

    #[test]
    fn back_off_doubles_up_to_a_cap() {
        assert_eq!(backoff(1), 1);
        assert_eq!(backoff(2), 2);
        assert_eq!(backoff(5), 16);
        assert_eq!(backoff(7), 60);
        assert_eq!(backoff(30), 60);
    }

    #[test]
    fn durations_read_like_people_talk() {
        assert_eq!(human_duration(30 * 60), "30 minutes");
        assert_eq!(human_duration(24 * 3600), "24 hours");
        assert_eq!(human_duration(7 * 86_400), "7 days");
        assert_eq!(human_duration(3600), "1 hour");
        assert_eq!(human_duration(60), "1 minute");
    }
}
