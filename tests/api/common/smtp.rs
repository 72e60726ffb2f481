//! A small SMTP server over a real socket, for tests that claim delivery: it
//! speaks enough of RFC 5321 for lettre (greeting, EHLO, MAIL, RCPT, DATA,
//! NOOP, RSET, QUIT), keeps what arrives, can be stopped and started again on
//! the same port, and can refuse recipients.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};
use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    net::{TcpListener, TcpStream},
    sync::Notify,
    task::{JoinHandle, JoinSet},
};

/// One message as it arrived.
#[derive(Clone, Debug)]
pub struct Mail {
    pub from: String,
    pub to: Vec<String>,
    /// Headers and body as sent.
    pub raw: String,
    /// The body with quoted-printable undone (soft breaks joined, `=XX` decoded).
    pub decoded: String,
}

impl Mail {
    pub fn header(&self, name: &str) -> Option<String> {
        let head = self.raw.split("\r\n\r\n").next().unwrap_or("");
        let prefix = format!("{}:", name.to_ascii_lowercase());
        head.split("\r\n")
            .find(|l| l.to_ascii_lowercase().starts_with(&prefix))
            .map(|l| l[prefix.len()..].trim().to_string())
    }

    pub fn subject(&self) -> String {
        self.header("Subject").unwrap_or_default()
    }

    /// The first link in the mail to `{origin}{path}?token=...`, whole.
    pub fn link(&self, path: &str) -> Option<String> {
        let start = self.decoded.find(&format!("{path}?token="))?;
        let begin = self.decoded[..start].rfind("http")?;
        let end = self.decoded[start..]
            .find(|c: char| c.is_whitespace() || c == '"' || c == '<')
            .map(|n| start + n)
            .unwrap_or(self.decoded.len());
        Some(self.decoded[begin..end].to_string())
    }

    /// The token of the first `{path}?token=` link.
    pub fn token(&self, path: &str) -> Option<String> {
        self.link(path)
            .and_then(|l| l.split_once("token=").map(|(_, t)| t.to_string()))
    }
}

/// Undoes quoted-printable: `=\r\n` joins lines, `=XX` is a byte.
fn decode_qp(input: &str) -> String {
    let joined = input.replace("=\r\n", "").replace("=\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'=' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
            if let Some(b) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[derive(Default)]
struct State {
    mails: Vec<Mail>,
    /// Recipients containing this text are refused with this reply.
    refuse: Option<(String, String)>,
    /// How long each message takes to accept (a slow, working server).
    delay: Duration,
}

pub struct SmtpSink {
    pub port: u16,
    state: Arc<Mutex<State>>,
    arrived: Arc<Notify>,
    server: Option<JoinHandle<()>>,
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.stop();
    }
}

impl SmtpSink {
    /// A sink on a free port of 127.0.0.1.
    pub async fn start() -> SmtpSink {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the SMTP sink");
        let port = listener.local_addr().expect("addr").port();
        let mut sink = SmtpSink {
            port,
            state: Arc::default(),
            arrived: Arc::new(Notify::new()),
            server: None,
        };
        sink.serve(listener);
        sink
    }

    /// `GATEHOUSE_SMTP_URL` for this sink.
    pub fn url(&self) -> String {
        format!("smtp+plain://127.0.0.1:{}", self.port)
    }

    fn serve(&mut self, listener: TcpListener) {
        let state = self.state.clone();
        let arrived = self.arrived.clone();
        self.server = Some(tokio::spawn(async move {
            let mut sessions = JoinSet::new();
            while let Ok((stream, _)) = listener.accept().await {
                let (state, arrived) = (state.clone(), arrived.clone());
                sessions.spawn(async move {
                    let _ = session(stream, state, arrived).await;
                });
            }
        }));
    }

    /// Closes the port and every open connection (the server is "down").
    pub fn stop(&mut self) {
        if let Some(server) = self.server.take() {
            server.abort();
        }
    }

    /// Listens on the same port again.
    pub async fn restart(&mut self) {
        self.stop();
        let mut tries = 0;
        let listener = loop {
            match TcpListener::bind(("127.0.0.1", self.port)).await {
                Ok(l) => break l,
                Err(e) if tries < 50 => {
                    tries += 1;
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => panic!("rebind the SMTP sink: {e}"),
            }
        };
        self.serve(listener);
    }

    /// Refuses recipients containing `needle` with `reply` (e.g. `550 5.1.1 no such user`).
    pub fn refuse(&self, needle: &str, reply: &str) {
        self.state.lock().unwrap().refuse = Some((needle.to_string(), reply.to_string()));
    }

    /// Takes `per_message` to accept each message from now on (it is kept,
    /// and acknowledged, at the end of that time).
    pub fn slow(&self, per_message: Duration) {
        self.state.lock().unwrap().delay = per_message;
    }

    pub fn accept_all(&self) {
        self.state.lock().unwrap().refuse = None;
    }

    pub fn mails(&self) -> Vec<Mail> {
        self.state.lock().unwrap().mails.clone()
    }

    /// Mail to `address`, in arrival order.
    pub fn mails_to(&self, address: &str) -> Vec<Mail> {
        self.mails()
            .into_iter()
            .filter(|m| m.to.iter().any(|t| t.eq_ignore_ascii_case(address)))
            .collect()
    }

    /// Waits until `n` messages to `address` arrived (panics after `within`).
    pub async fn wait_for(&self, address: &str, n: usize, within: Duration) -> Vec<Mail> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let notified = self.arrived.notified();
            let mails = self.mails_to(address);
            if mails.len() >= n {
                return mails;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                panic!(
                    "expected {n} mail(s) to {address} within {within:?}, got {}: {:?}",
                    mails.len(),
                    self.mails()
                        .iter()
                        .map(|m| (m.to.clone(), m.subject()))
                        .collect::<Vec<_>>()
                );
            }
        }
    }

    /// The newest mail to `address` with `subject`, waiting up to `within` for it.
    pub async fn wait_for_subject(&self, address: &str, subject: &str, within: Duration) -> Mail {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let notified = self.arrived.notified();
            if let Some(mail) = self
                .mails_to(address)
                .into_iter()
                .rev()
                .find(|m| m.subject() == subject)
            {
                return mail;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                panic!(
                    "expected a mail {subject:?} to {address} within {within:?}; got {:?}",
                    self.mails_to(address)
                        .iter()
                        .map(Mail::subject)
                        .collect::<Vec<_>>()
                );
            }
        }
    }

    /// The newest mail to `address`, waiting up to five seconds for the first.
    pub async fn last_to(&self, address: &str) -> Mail {
        let mails = self.wait_for(address, 1, Duration::from_secs(10)).await;
        mails.last().cloned().expect("a mail")
    }
}

fn angle(s: &str) -> String {
    s.split('<')
        .nth(1)
        .and_then(|r| r.split('>').next())
        .unwrap_or("")
        .to_string()
}

async fn session(stream: TcpStream, state: Arc<Mutex<State>>, arrived: Arc<Notify>) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::new(read);
    write.write_all(b"220 sink.test ESMTP\r\n").await?;
    let mut from: Option<String> = None;
    let mut to: Vec<String> = Vec::new();
    let mut line = Vec::new();
    loop {
        line.clear();
        if read.read_until(b'\n', &mut line).await? == 0 {
            return Ok(());
        }
        let text = String::from_utf8_lossy(&line).trim_end().to_string();
        let upper = text.to_ascii_uppercase();
        let reply: String = if upper.starts_with("EHLO ") {
            "250-sink.test hello\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250 SIZE 10485760\r\n".into()
        } else if upper.starts_with("HELO ") {
            "250 sink.test\r\n".into()
        } else if upper.starts_with("MAIL FROM:") {
            from = Some(angle(&text));
            to.clear();
            "250 2.1.0 OK\r\n".into()
        } else if upper.starts_with("RCPT TO:") {
            let rcpt = angle(&text);
            let refused = state
                .lock()
                .unwrap()
                .refuse
                .as_ref()
                .filter(|(needle, _)| rcpt.contains(needle.as_str()))
                .map(|(_, reply)| format!("{reply}\r\n"));
            match refused {
                Some(reply) => reply,
                None => {
                    to.push(rcpt);
                    "250 2.1.5 OK\r\n".into()
                }
            }
        } else if upper == "DATA" {
            if to.is_empty() {
                "503 5.5.1 need RCPT\r\n".into()
            } else {
                write.write_all(b"354 end with <CRLF>.<CRLF>\r\n").await?;
                let mut data = Vec::new();
                loop {
                    line.clear();
                    if read.read_until(b'\n', &mut line).await? == 0 {
                        return Ok(());
                    }
                    if line == b".\r\n" || line == b".\n" {
                        break;
                    }
                    data.extend_from_slice(if line.starts_with(b".") {
                        &line[1..]
                    } else {
                        &line[..]
                    });
                }
                let delay = state.lock().unwrap().delay;
                if !delay.is_zero() {
                    tokio::time::sleep(delay).await;
                }
                let raw = String::from_utf8_lossy(&data).into_owned();
                let mail = Mail {
                    from: from.take().unwrap_or_default(),
                    to: std::mem::take(&mut to),
                    decoded: decode_qp(&raw),
                    raw,
                };
                state.lock().unwrap().mails.push(mail);
                arrived.notify_waiters();
                "250 2.0.0 queued\r\n".into()
            }
        } else if upper == "RSET" {
            from = None;
            to.clear();
            "250 2.0.0 OK\r\n".into()
        } else if upper == "NOOP" {
            "250 2.0.0 OK\r\n".into()
        } else if upper == "QUIT" {
            write.write_all(b"221 2.0.0 bye\r\n").await?;
            return Ok(());
        } else {
            "502 5.5.2 not implemented\r\n".into()
        };
        write.write_all(reply.as_bytes()).await?;
    }
}

#[cfg(test)]
mod tests {
    use super::decode_qp;

    #[test]
    fn quoted_printable_is_undone() {
        assert_eq!(decode_qp("a=3Db=\r\nc"), "a=bc");
        assert_eq!(decode_qp("x=E2=80=94y"), "x\u{2014}y");
        assert_eq!(decode_qp("end="), "end=");
    }
}
