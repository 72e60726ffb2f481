//! Delivery of queued mail: SMTP through lettre (STARTTLS, implicit TLS, or
//! plain on loopback for development), or files for development.

use super::{
    config::{MailConfig, MailTransport, SmtpSecurity},
    core::mail::{Outgoing, SendOutcome},
};
use lettre::{
    message::{Mailbox, MultiPart},
    transport::smtp::{authentication::Credentials, PoolConfig},
    Address, AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor,
};
use std::time::Duration;

enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    File(AsyncFileTransport<Tokio1Executor>),
}

/// Sends messages; owned by the one sender task of an instance.
pub struct Sender {
    config: MailConfig,
    from: Mailbox,
    /// For Message-IDs: the public host.
    domain: String,
    transport: Transport,
}

impl Sender {
    /// Builds the transport; an error names the setting that is wrong.
    pub fn new(config: &MailConfig, public_url: &str) -> Result<Sender, String> {
        let from: Mailbox = config
            .from
            .parse()
            .map_err(|e| format!("invalid GATEHOUSE_MAIL_FROM: {e}"))?;
        let domain = url::Url::parse(public_url)
            .ok()
            .and_then(|u| u.host_str().map(str::to_string))
            .unwrap_or_else(|| "gatehouse.invalid".into());
        Ok(Sender {
            transport: build(&config.transport)?,
            config: config.clone(),
            from,
            domain,
        })
    }

    /// Creates the mail directory of the file transport, if that is the one.
    pub async fn prepare(&self) -> Result<(), String> {
        if let MailTransport::File(dir) = &self.config.transport {
            tokio::fs::create_dir_all(dir)
                .await
                .map_err(|e| format!("cannot create the mail directory {}: {e}", dir.display()))?;
        }
        Ok(())
    }

    /// How long one message may take to hand over (`GATEHOUSE_MAIL_SEND_TIMEOUT_SECONDS`).
    pub fn send_timeout(&self) -> Duration {
        self.config.send_timeout
    }

    /// Sends one message, giving up after `time`, and says how it went.
    pub async fn send(&mut self, message: &Outgoing, time: Duration) -> SendOutcome {
        let email = match self.build_message(message) {
            Ok(m) => m,
            Err(outcome) => return outcome,
        };
        match &self.transport {
            // The whole hand-over, connecting included, within the send
            // timeout (lettre's own covers only connecting).
            Transport::Smtp(smtp) => {
                match tokio::time::timeout(time, smtp.send(email)).await {
                    Ok(Ok(_)) => SendOutcome::Sent,
                    Ok(Err(e)) if e.is_permanent() => SendOutcome::Permanent(e.to_string()),
                    Ok(Err(e)) => SendOutcome::Transient(e.to_string()),
                    Err(_) => {
                        // A pooled connection cut off mid-transaction may be out
                        // of step: start again with a new pool.
                        match build(&self.config.transport) {
                            Ok(t) => self.transport = t,
                            Err(e) => tracing::error!(error = %e, "could not rebuild the mail transport"),
                        }
                        SendOutcome::Transient("timed out talking to the mail server".into())
                    }
                }
            }
            Transport::File(file) => match file.send(email).await {
                Ok(_) => SendOutcome::Sent,
                Err(e) => SendOutcome::Transient(format!("could not write the message: {e:?}")),
            },
        }
    }

    fn build_message(&self, message: &Outgoing) -> Result<Message, SendOutcome> {
        let to: Address = message
            .to
            .parse()
            .map_err(|_| SendOutcome::Permanent("the recipient's address cannot be mailed".into()))?;
        Message::builder()
            .from(self.from.clone())
            .to(Mailbox::new(None, to))
            .subject(message.subject.clone())
            .message_id(Some(format!("<{}@{}>", message.id, self.domain)))
            .multipart(MultiPart::alternative_plain_html(
                message.text.clone(),
                message.html.clone(),
            ))
            .map_err(|e| SendOutcome::Permanent(format!("could not build the message: {e}")))
    }

    /// Closes pooled connections politely.
    pub async fn shutdown(&self) {
        if let Transport::Smtp(smtp) = &self.transport {
            smtp.shutdown().await;
        }
    }
}

fn build(transport: &MailTransport) -> Result<Transport, String> {
    match transport {
        MailTransport::File(dir) => Ok(Transport::File(AsyncFileTransport::<Tokio1Executor>::new(dir))),
        MailTransport::Smtp {
            host,
            port,
            security,
            credentials,
        } => {
            let builder = match security {
                SmtpSecurity::StartTls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(host),
                SmtpSecurity::Implicit => AsyncSmtpTransport::<Tokio1Executor>::relay(host),
                SmtpSecurity::Plain => Ok(AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)),
            }
            .map_err(|e| format!("invalid GATEHOUSE_SMTP_URL: {e}"))?;
            let mut builder = builder
                .port(*port)
                .timeout(Some(Duration::from_secs(10)))
                .pool_config(
                    PoolConfig::new()
                        .max_size(4)
                        .idle_timeout(Duration::from_secs(30)),
                );
            if let Some((user, password)) = credentials {
                builder = builder.credentials(Credentials::new(user.clone(), password.0.clone()));
            }
            Ok(Transport::Smtp(builder.build()))
        }
    }
}
