//! Throttling password guesses: a limit of failed logins per client address
//! per window, and a lockout of an account (or of an identifier that names no
//! account, so that locking reveals nothing) after consecutive failures, for
//! `GATEHOUSE_LOCKOUT_SECONDS`, doubling with each further lock. Counted in the
//! database, so every instance sees the same numbers.

use super::{audit::Event, validate, Client, Core, Error, Result};
use crate::server::db::{limits, Batch};
use std::net::IpAddr;

/// The longest a lock can get by doubling.
const MAX_LOCK_SECONDS: i64 = 30 * 24 * 3600;

/// The lockout key of an account, or of an identifier that names none.
pub fn account_key(user_id: Option<&str>, identifier: &str) -> String {
    match user_id {
        Some(id) => format!("user:{id}"),
        None => format!("ident:{}", validate::identifier_key(identifier)),
    }
}

/// The key wrong second factors (TOTP and recovery codes) of an account are
/// counted under: apart from its password's, so a right password never
/// clears them. Cleared when a sign-in completes.
pub fn second_factor_key(user_id: &str) -> String {
    format!("mfa:user:{user_id}")
}

/// The key a client's limits are counted under: its IPv4 address (also when
/// seen as IPv4-mapped IPv6), or its IPv6 network of `ipv6_prefix` bits (a
/// /64 is what one subscriber gets, so counting single addresses would give
/// each 2^64 budgets).
pub fn client_key(client: &Client, ipv6_prefix: u8) -> String {
    match client.ip.map(|ip| ip.to_canonical()) {
        Some(IpAddr::V4(v4)) => format!("ip:{v4}"),
        Some(IpAddr::V6(v6)) => match ipnet::Ipv6Net::new(v6, ipv6_prefix.min(128)) {
            Ok(net) => format!("ip:{}", net.trunc()),
            Err(_) => format!("ip:{v6}"),
        },
        None => "ip:unknown".to_string(),
    }
}

/// The lock length after `previous_locks` earlier locks: the base, doubled each time.
fn lock_length(base: i64, previous_locks: i64) -> i64 {
    let factor = 1i64 << previous_locks.clamp(0, 20);
    base.saturating_mul(factor).min(MAX_LOCK_SECONDS)
}

impl Core {
    /// See [`client_key`].
    pub(crate) fn client_key(&self, client: &Client) -> String {
        client_key(client, self.config.ipv6_prefix)
    }

    /// Counts a login attempt from `client`; refuses it (429) past
    /// `GATEHOUSE_LOGIN_ATTEMPTS` in the window. A success is taken back with
    /// [`Core::guess_succeeded`], so only failures use up the allowance.
    pub(crate) async fn admit_attempt(&self, client: &Client) -> Result<()> {
        let now = super::now();
        let window = self.config.login_window.as_secs() as i64;
        let limit = i64::from(self.config.login_attempts);
        let (count, start) = limits::count_attempt(&self.db, &self.client_key(client), now, window).await?;
        if count > limit {
            metrics::counter!("gatehouse_limit_hits_total", "limit" => "client").increment(1);
            if count == limit + 1 {
                self.audit(
                    Event::LoginRateLimited,
                    None,
                    client,
                    Some("too many failed logins from this address"),
                )
                .await;
            }
            return Err(Error::RateLimited {
                retry_after: (start + window - now).max(1) as u64,
            });
        }
        Ok(())
    }

    /// Before checking a password of the account (or identifier) `key`:
    /// counts the guess as a failure in advance, atomically. Refuses (429)
    /// while `key` is locked, and refuses a guess past
    /// `GATEHOUSE_LOCKOUT_THRESHOLD` (guesses in flight included) without
    /// checking it. So at most the threshold are ever checked, however many
    /// race. Returns the guess's number, for [`Core::guess_failed`]; a right
    /// guess gives it back with [`Core::guess_succeeded`]. `user_id` and
    /// `client` are for the audit record of a lock.
    pub(crate) async fn reserve_guess(
        &self,
        key: &str,
        user_id: Option<&str>,
        client: &Client,
    ) -> Result<i64> {
        let now = super::now();
        let (failures, previous_locks, locked_until) = limits::reserve_failure(&self.db, key, now).await?;
        if let Some(until) = locked_until.filter(|until| *until > now) {
            metrics::counter!("gatehouse_limit_hits_total", "limit" => "account").increment(1);
            return Err(Error::RateLimited {
                retry_after: (until - now) as u64,
            });
        }
        let threshold = i64::from(self.config.lockout_threshold);
        if failures > threshold {
            metrics::counter!("gatehouse_limit_hits_total", "limit" => "account").increment(1);
            limits::release_failure(&self.db, key).await?;
            // The guess that reached the threshold has not locked `key`: it
            // is still being checked, or it never finished (its request was
            // dropped or failed). Lock now, so this is a lock that ends, not
            // a refusal that never does; a right guess in flight still
            // clears it.
            let length = lock_length(self.config.lockout.as_secs() as i64, previous_locks);
            self.lock_out(key, threshold, length, user_id, client).await?;
            return Err(Error::RateLimited {
                retry_after: length as u64,
            });
        }
        Ok(failures)
    }

    /// A reserved guess (number `reservation`) was wrong: it stays counted,
    /// and the one that reached the threshold locks `key`.
    pub(crate) async fn guess_failed(
        &self,
        key: &str,
        reservation: i64,
        user_id: Option<&str>,
        client: &Client,
    ) -> Result<()> {
        let threshold = i64::from(self.config.lockout_threshold);
        if reservation < threshold {
            return Ok(());
        }
        let previous_locks = limits::lock_count(&self.db, key).await?;
        let length = lock_length(self.config.lockout.as_secs() as i64, previous_locks);
        self.lock_out(key, reservation, length, user_id, client).await
    }

    /// Locks `key` for `length` seconds after `failures` failed attempts,
    /// unless it is locked already; audited.
    async fn lock_out(
        &self,
        key: &str,
        failures: i64,
        length: i64,
        user_id: Option<&str>,
        client: &Client,
    ) -> Result<()> {
        let now = super::now();
        if limits::lock(&self.db, key, now + length, now).await? {
            metrics::counter!("gatehouse_lockouts_total").increment(1);
            let detail = format!("locked for {length} s after {failures} failed attempts");
            self.audit(Event::AccountLocked, user_id, client, Some(&detail))
                .await;
        }
        Ok(())
    }

    /// A right guess of `key`'s password (or code) from `client`: the attempt
    /// is taken back and `key`'s failures are forgotten, in one write.
    pub(crate) async fn guess_succeeded(&self, client: &Client, key: &str) -> Result<()> {
        let mut batch = Batch::default();
        self.guess_succeeded_in(&mut batch, client, key);
        Ok(batch.run(&self.db).await?)
    }

    /// [`Core::guess_succeeded`], written with the rest of `batch`.
    pub(crate) fn guess_succeeded_in(&self, batch: &mut Batch, client: &Client, key: &str) {
        limits::forget_success(batch, &self.client_key(client), key);
    }

    /// Counts one `what` against `key` (e.g. `signup:ip:...`); past `limit` in
    /// `window` seconds, `Throttled` (429) until the window ends.
    pub(crate) async fn throttle(&self, key: &str, limit: u32, window: i64) -> Result<()> {
        let now = super::now();
        let (count, start) = limits::count_event(&self.db, key, now, window).await?;
        if count > i64::from(limit) {
            let kind = key.split(':').next().unwrap_or("other").to_string();
            metrics::counter!("gatehouse_limit_hits_total", "limit" => kind).increment(1);
            return Err(Error::Throttled {
                retry_after: (start + window - now).max(1) as u64,
            });
        }
        Ok(())
    }

    /// The per-client limit of signups and invitation acceptances
    /// (`GATEHOUSE_SIGNUP_LIMIT` an hour), counted before the password is hashed.
    pub(crate) async fn throttle_signup(&self, client: &Client) -> Result<()> {
        let key = format!("signup:{}", self.client_key(client));
        self.throttle(&key, self.config.signup_limit, 3600).await
    }

    /// Deletes counters nobody needs any more; run periodically.
    pub async fn purge_limits(&self) -> Result<u64> {
        let now = super::now();
        let window = self.config.login_window.as_secs() as i64;
        // Failure counts older than a day (and not locking anything) are forgotten.
        Ok(limits::purge(&self.db, now - window, now - 24 * 3600, now).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locks_double_and_are_capped() {
        assert_eq!(lock_length(900, 0), 900);
        assert_eq!(lock_length(900, 1), 1800);
        assert_eq!(lock_length(900, 3), 7200);
        assert_eq!(lock_length(900, 60), MAX_LOCK_SECONDS);
    }

    #[test]
    fn clients_are_keyed_by_ipv4_address_or_ipv6_prefix() {
        let key = |ip: &str, prefix| {
            client_key(
                &Client {
                    ip: Some(ip.parse().unwrap()),
                    user_agent: None,
                },
                prefix,
            )
        };
        assert_eq!(key("203.0.113.9", 64), "ip:203.0.113.9");
        assert_eq!(key("::ffff:203.0.113.9", 64), "ip:203.0.113.9");
        assert_eq!(key("2001:db8:1:2:3:4:5:6", 64), "ip:2001:db8:1:2::/64");
        assert_eq!(key("2001:db8:1:2::ffff", 64), "ip:2001:db8:1:2::/64");
        assert_eq!(key("2001:db8:1:2::ffff", 48), "ip:2001:db8:1::/48");
        assert_eq!(key("2001:db8::1", 128), "ip:2001:db8::1/128");
        assert_eq!(client_key(&Client::default(), 64), "ip:unknown");
    }

    #[test]
    fn keys_separate_accounts_from_unknown_identifiers() {
        assert_eq!(account_key(Some("u1"), "alice"), "user:u1");
        assert_eq!(account_key(None, " Alice "), "ident:alice");
        assert_eq!(second_factor_key("u1"), "mfa:user:u1");
        assert_ne!(second_factor_key("u1"), account_key(Some("u1"), ""));
    }
}
