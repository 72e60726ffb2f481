//! The breached-password check: a k-anonymity range API (Have I Been Pwned's
//! `https://api.pwnedpasswords.com/range/` or one of its mirrors). Only the
//! first five hex digits of the password's SHA-1 leave the server; the answer
//! lists the suffixes of every breached password with that prefix (padded
//! with fake zero-count ones, `Add-Padding: true`, so its size says nothing).

use sha1::{Digest, Sha1};
use std::time::Duration;

/// How long a check may take before the password is accepted unchecked.
const TIMEOUT: Duration = Duration::from_secs(3);

#[derive(Clone)]
pub struct BreachCheck {
    client: reqwest::Client,
    url: String,
}

impl BreachCheck {
    /// `url` is the range endpoint the prefix is appended to.
    pub fn new(url: &str) -> Result<BreachCheck, String> {
        let client = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .connect_timeout(TIMEOUT)
            .user_agent(concat!("gatehouse/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("cannot make the breached-password client: {e}"))?;
        Ok(BreachCheck {
            client,
            url: url.to_string(),
        })
    }

    /// How many times `password` was seen in breaches (0: never), or why the
    /// service could not say.
    async fn check(&self, password: &str) -> Result<u64, String> {
        let digest = hex::encode_upper(Sha1::digest(password.as_bytes()));
        let (prefix, suffix) = digest.split_at(5);
        let res = self
            .client
            .get(format!("{}{prefix}", self.url))
            .header("Add-Padding", "true")
            .send()
            .await
            .map_err(|e| {
                format!(
                    "the breached-password service did not answer: {}",
                    without_url(&e)
                )
            })?;
        if !res.status().is_success() {
            return Err(format!("the breached-password service answered {}", res.status()));
        }
        let body = res.text().await.map_err(|e| {
            format!(
                "the breached-password service's answer broke off: {}",
                without_url(&e)
            )
        })?;
        Ok(count_in(&body, suffix))
    }
}

/// The count of `suffix` in a range answer (`SUFFIX:COUNT` lines).

#[async_trait::async_trait]
impl crate::server::core::passwords::BreachedPasswords for BreachCheck {
    async fn times_breached(&self, password: &str) -> Result<u64, String> {
        self.check(password).await
    }
}

fn count_in(body: &str, suffix: &str) -> u64 {
    body.lines()
        .filter_map(|line| line.trim().split_once(':'))
        .find(|(s, _)| s.eq_ignore_ascii_case(suffix))
        .and_then(|(_, count)| count.trim().parse().ok())
        .unwrap_or(0)
}

/// reqwest's errors name the URL; the prefix in it is harmless, but keep
/// messages short.
fn without_url(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    if let Some(url) = e.url() {
        text = text.replace(url.as_str(), "the range URL");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::count_in;

    #[test]
    fn counts_are_read_from_the_range_answer() {
        let body = "0018A45C4D1DEF81644B54AB7F969B88D65:0\r\n1E4C9B93F3F0682250B6CF8331B7EE68FD8:3861493\r\n00D4F6E8FA6EECAD2A3AA415EEC418D38EC:2";
        assert_eq!(count_in(body, "1E4C9B93F3F0682250B6CF8331B7EE68FD8"), 3_861_493);
        assert_eq!(count_in(body, "1e4c9b93f3f0682250b6cf8331b7ee68fd8"), 3_861_493);
        assert_eq!(
            count_in(body, "0018A45C4D1DEF81644B54AB7F969B88D65"),
            0,
            "padding"
        );
        assert_eq!(count_in(body, "FFFFF"), 0);
    }
}
