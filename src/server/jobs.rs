//! Background work, in one place: the outbox sender and the periodic purges.
//! Both are safe with several instances on one database (a message is
//! claimed by one instance; purges are idempotent) and stop on shutdown.

use super::{
    core::{mail::SendOutcome, Core},
    mail::Sender,
};
use std::time::Duration;
use tokio::{sync::watch, task::JoinHandle};

/// The longest the sender sleeps without being woken (it also picks up mail
/// another instance queued and could not send, and retries that fell due).
const IDLE_POLL: Duration = Duration::from_secs(2);
/// How often the purges run.
const PURGE_EVERY: Duration = Duration::from_secs(600);

/// The running background tasks.
pub struct Jobs {
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Jobs {
    /// Starts the purges, and the mail sender when `sender` is given.
    pub fn start(core: Core, sender: Option<Sender>) -> Jobs {
        let (stop, stopped) = watch::channel(false);
        let mut tasks = vec![tokio::spawn(housekeeping(core.clone(), stopped.clone()))];
        if let Some(sender) = sender {
            tasks.push(tokio::spawn(send_mail(core, sender, stopped)));
        }
        Jobs { stop, tasks }
    }

    /// Asks every task to stop and waits for it (a message being sent is
    /// finished first).
    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        for task in std::mem::take(&mut self.tasks) {
            let _ = task.await;
        }
    }
}

impl Drop for Jobs {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

async fn send_mail(core: Core, mut sender: Sender, mut stopped: watch::Receiver<bool>) {
    if let Err(e) = sender.prepare().await {
        tracing::error!(error = %e, "the mail sender cannot start");
        return;
    }
    let wake = core.mailer_wakeup();
    loop {
        if *stopped.borrow() {
            break;
        }
        // One message at a time, claimed right before its send (see
        // `Core::claim_mail` for why a claim then cannot run out under it).
        let claimed = match core.claim_mail().await {
            Ok(claimed) => claimed,
            Err(e) => {
                tracing::warn!(error = %e, "could not read the outbox");
                None
            }
        };
        if let Some(message) = claimed {
            // What is left of the claim bounds the send; with too little
            // left, the claim runs out and the message is claimed again.
            let Some(time) = message.send_time(sender.send_timeout()) else {
                continue;
            };
            let outcome = sender.send(&message, time).await;
            let sent = matches!(outcome, SendOutcome::Sent);
            if let Err(e) = core.record_send(&message, outcome).await {
                tracing::error!(error = %e, "could not record a send in the outbox");
            }
            if sent {
                tracing::info!(kind = %message.kind, "mail sent");
            }
            continue;
        }
        let wait = match core.next_mail_due().await {
            Ok(Some(at)) => Duration::from_secs((at - crate::server::core::now()).clamp(0, 2) as u64),
            _ => IDLE_POLL,
        }
        .max(Duration::from_millis(250));
        tokio::select! {
            _ = wake.notified() => {}
            _ = tokio::time::sleep(wait) => {}
            _ = stopped.changed() => break,
        }
    }
    sender.shutdown().await;
}

/// Deletes what has ended: sessions, token families, login counters, old
/// audit rows, spent links, old invitations and delivered mail.
async fn housekeeping(core: Core, mut stopped: watch::Receiver<bool>) {
    use tower_sessions::ExpiredDeletion;
    let store = core.session_store();
    let mut tick = tokio::time::interval(PURGE_EVERY);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stopped.changed() => break,
        }
        let purges = [
            ("expired sessions", core.purge_expired_sessions().await),
            ("ended token families", core.purge_token_families().await),
            (
                "authorization codes and revoked access tokens",
                core.purge_oidc().await,
            ),
            ("login counters", core.purge_limits().await),
            ("the audit log", core.purge_audit_log().await),
            ("mail links", core.purge_email_tokens().await),
            ("invitations", core.purge_invitations().await),
            ("the outbox", core.purge_outbox().await),
            ("sign-in challenges", core.purge_challenges().await),
        ];
        for (what, result) in purges {
            if let Err(e) = result {
                tracing::warn!(error = %e, "could not purge {what}");
            }
        }
        if let Err(e) = store.delete_expired().await {
            tracing::warn!(error = %e, "could not purge expired session records");
        }
    }
}
