//! Notification emails over SMTP (lettre). Sending happens after the change is committed, on
//! a background task: a slow or broken mail server never fails or delays the action.

use crate::platform::state::Config;
use lettre::message::{header::ContentType, Mailbox};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

/// One email: to whom, the subject and the plain-text body.
pub struct Mail {
    pub to: String,
    pub subject: String,
    pub body: String,
}

impl Mailer {
    /// `None` when no SMTP URL is configured; an error for a malformed URL or sender.
    pub fn from_config(config: &Config) -> Result<Option<Mailer>, String> {
        let Some(url) = &config.smtp_url else {
            return Ok(None);
        };
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url.expose())
            .map_err(|e| format!("KEYPORT_SMTP_URL is not a valid SMTP URL: {e}"))?
            .timeout(Some(std::time::Duration::from_secs(15)))
            .build();
        let from = config
            .smtp_from
            .parse()
            .map_err(|e| format!("KEYPORT_SMTP_FROM is not a valid sender: {e}"))?;
        Ok(Some(Mailer { transport, from }))
    }

    /// Sends in the background; failures are logged, never returned.
    pub fn send_later(self: &std::sync::Arc<Self>, mail: Mail) {
        let mailer = self.clone();
        tokio::spawn(async move {
            if let Err(e) = mailer.send(&mail).await {
                tracing::warn!(error = %e, "notification email not sent");
            }
        });
    }

    async fn send(&self, mail: &Mail) -> Result<(), String> {
        let to: Mailbox = mail.to.parse().map_err(|e| format!("recipient: {e}"))?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(&mail.subject)
            .header(ContentType::TEXT_PLAIN)
            .body(mail.body.clone())
            .map_err(|e| e.to_string())?;
        self.transport
            .send(message)
            .await
            .map_err(|e| e.to_string())?;
        Ok(())
    }
}
