//! Webhooks as the Standard Webhooks specification has them: the event
//! types an endpoint may receive, the signature over `id.timestamp.body`,
//! when a failed delivery is tried again, and which addresses an endpoint
//! may not point at (no requests into the operator's own network).

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

/// What an endpoint can subscribe to.
pub const EVENT_TYPES: [&str; 7] = [
    "booking.confirmed",
    "booking.cancelled",
    "booking.refunded",
    "ticket.checked_in",
    "waiting_list.offered",
    "event.published",
    "event.cancelled",
];

/// The event the "send test event" button sends (to one endpoint, whatever it subscribed to).
pub const TEST_EVENT: &str = "webhook.test";

/// The pause before each try after the first, as the issue has it: about
/// three days in all; the delivery is given up after the last.
pub const RETRY_SCHEDULE: [Duration; 12] = [
    Duration::from_secs(5),
    Duration::from_secs(5 * 60),
    Duration::from_secs(30 * 60),
    Duration::from_secs(2 * 3600),
    Duration::from_secs(5 * 3600),
    Duration::from_secs(10 * 3600),
    Duration::from_secs(10 * 3600),
    Duration::from_secs(10 * 3600),
    Duration::from_secs(10 * 3600),
    Duration::from_secs(10 * 3600),
    Duration::from_secs(10 * 3600),
    Duration::from_secs(10 * 3600),
];

/// How long after `attempts` tries (1 or more) the next one comes; `None`:
/// give up.
pub fn retry_after(attempts: i32) -> Option<Duration> {
    usize::try_from(attempts).ok().and_then(|a| a.checked_sub(1)).and_then(|i| RETRY_SCHEDULE.get(i)).copied()
}

/// Failing this long without a success disables an endpoint.
pub const DISABLE_AFTER: chrono::TimeDelta = chrono::TimeDelta::days(5);

/// A rotated secret stays valid this long beside the new one.
pub const ROTATION_OVERLAP: chrono::TimeDelta = chrono::TimeDelta::hours(24);

/// A new endpoint secret: `whsec_` and 32 random bytes in base64.
pub fn new_secret() -> String {
    let mut key = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut key);
    format!("whsec_{}", STANDARD.encode(key))
}

/// The `webhook-id` of a message.
pub fn message_id(id: uuid::Uuid) -> String {
    format!("msg_{}", id.simple())
}

/// One signature (`v1,<base64>`) of `body` with `secret` (`whsec_…`): the
/// HMAC-SHA256 of `id.timestamp.body` keyed with the secret's decoded bytes.
pub fn sign(secret: &str, id: &str, timestamp: i64, body: &str) -> String {
    let key = STANDARD.decode(secret.trim_start_matches("whsec_")).unwrap_or_default();
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).expect("HMAC takes a key of any length");
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body.as_bytes());
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

/// The `webhook-signature` header: one signature per valid secret,
/// space-separated (both during a rotation's overlap).
pub fn signature_header(secrets: &[&str], id: &str, timestamp: i64, body: &str) -> String {
    secrets.iter().map(|s| sign(s, id, timestamp, body)).collect::<Vec<_>>().join(" ")
}

/// Why a URL cannot be an endpoint.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlRefusal {
    #[error("not a URL")]
    NotUrl,
    #[error("must start with https://")]
    NotHttps,
    #[error("must name a host on the internet, not a private, loopback or link-local address")]
    Private,
    #[error("at most 2000 characters")]
    TooLong,
}

/// Checks an endpoint's URL as written: https (http too when `allow_local`),
/// and no host that is plainly inside the operator's network (an IP address
/// that is private, loopback, link-local..., `localhost`). Names are checked
/// again at each send, on the addresses they resolve to then.
pub fn check_url(raw: &str, allow_local: bool) -> Result<url::Url, UrlRefusal> {
    if raw.len() > 2000 {
        return Err(UrlRefusal::TooLong);
    }
    let url = url::Url::parse(raw.trim()).map_err(|_| UrlRefusal::NotUrl)?;
    match url.scheme() {
        "https" => {}
        "http" if allow_local => {}
        _ => return Err(UrlRefusal::NotHttps),
    }
    let host = url.host().ok_or(UrlRefusal::NotUrl)?;
    if allow_local {
        return Ok(url);
    }
    let refused = match host {
        url::Host::Ipv4(ip) => !routable(IpAddr::V4(ip)),
        url::Host::Ipv6(ip) => !routable(IpAddr::V6(ip)),
        url::Host::Domain(name) => {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            name == "localhost"
                || [".localhost", ".local", ".internal", ".home.arpa"].iter().any(|s| name.ends_with(s))
                || !name.contains('.')
        }
    };
    if refused { Err(UrlRefusal::Private) } else { Ok(url) }
}

/// The host of an endpoint's URL: what the audit log and the server's log
/// name (a receiver's path may carry its credential).
pub fn host_of(url: &str) -> String {
    url::Url::parse(url).ok().and_then(|u| u.host_str().map(str::to_owned)).unwrap_or_default()
}

/// Whether `ip` is an address on the public internet (not private,
/// loopback, link-local, shared, reserved, documentation or multicast).
pub fn routable(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(ip) => routable_v4(ip),
        IpAddr::V6(ip) => {
            if let Some(v4) = ip.to_ipv4_mapped() {
                return routable_v4(v4);
            }
            let s = ip.segments();
            // IPv4-compatible (`::a.b.c.d`, deprecated) reaches that IPv4 address too.
            if s[..6] == [0, 0, 0, 0, 0, 0] {
                return routable_v4(Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8));
            }
            // Local-use NAT64 (64:ff9b:1::/48) translates into private networks.
            if s[..3] == [0x64, 0xff9b, 1] {
                return false;
            }
            // NAT64 (64:ff9b::/96) reaches the IPv4 address it embeds.
            if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
                return routable_v4(Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8));
            }
            !(ip.is_loopback()
                || ip.is_unspecified()
                || ip.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00 // unique local
                || (s[0] & 0xffc0) == 0xfe80 // link-local
                || (s[0] & 0xffc0) == 0xfec0 // site-local (deprecated)
                || (s[0] == 0x2001 && s[1] == 0x0db8)) // documentation
        }
    }
}

fn routable_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_private()
        || ip.is_loopback()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_documentation()
        || ip.is_multicast()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // shared (carrier-grade NAT)
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || a >= 240) // reserved
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_as_the_specification_example() {
        // The example of the Standard Webhooks specification's reference libraries.
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let signature = sign(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, r#"{"test": 2432232314}"#);
        assert_eq!(signature, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
        let both = signature_header(&[secret, secret], "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, "{}");
        assert_eq!(both.split(' ').count(), 2);
    }

    #[test]
    fn retries_over_about_three_days_then_gives_up() {
        assert_eq!(retry_after(1), Some(Duration::from_secs(5)));
        assert_eq!(retry_after(2), Some(Duration::from_secs(300)));
        assert_eq!(retry_after(0), None);
        let total: Duration = RETRY_SCHEDULE.iter().sum();
        assert!((3 * 86400..4 * 86400).contains(&total.as_secs()), "{total:?}");
        assert_eq!(retry_after(RETRY_SCHEDULE.len() as i32 + 1), None);
    }

    #[test]
    fn endpoints_are_https_on_the_internet() {
        assert!(check_url("https://hooks.example.com/boxoffice", false).is_ok());
        assert!(check_url("https://203.0.113.9.nip.example/x", false).is_ok());
        assert_eq!(check_url("http://hooks.example.com/", false), Err(UrlRefusal::NotHttps));
        assert_eq!(check_url("ftp://hooks.example.com/", false), Err(UrlRefusal::NotHttps));
        assert_eq!(check_url("hooks", false), Err(UrlRefusal::NotUrl));
        for private in [
            "https://127.0.0.1/",
            "https://10.1.2.3/",
            "https://172.16.0.1/",
            "https://192.168.1.1/",
            "https://169.254.169.254/latest/meta-data",
            "https://100.64.0.1/",
            "https://0.0.0.0/",
            "https://[::1]/",
            "https://[fd00::1]/",
            "https://[fe80::1]/",
            "https://[::ffff:127.0.0.1]/",
            "https://[64:ff9b::a00:1]/",
            "https://[::10.0.0.1]/",
            "https://[64:ff9b:1::1]/",
            "https://[fec0::1]/",
            "https://localhost:8443/",
            "https://api.localhost/",
            "https://printer.local/",
            "https://intranet/",
        ] {
            assert_eq!(check_url(private, false), Err(UrlRefusal::Private), "{private}");
        }
        assert!(check_url("http://127.0.0.1:9000/", true).is_ok(), "allowed for tests");
        assert!(routable("93.184.216.34".parse().unwrap()));
        assert!(routable("2606:2800:220:1:248:1893:25c8:1946".parse().unwrap()));
    }
}
