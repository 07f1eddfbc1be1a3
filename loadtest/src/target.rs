//! Where the load may go: loopback only, so a typo cannot load someone else's server.

use crate::client::{ClientError, split_base_url};
use std::net::IpAddr;

/// Accepts `http://` URLs whose host is `localhost` or a loopback address
/// (127.0.0.0/8, `::1`); anything else is an error naming the URL.
pub fn require_loopback(url: &str) -> Result<(), ClientError> {
    let (addr, _) = split_base_url(url)?;
    let host = addr
        .rsplit_once(':')
        .map_or(addr.as_str(), |(host, _)| host);
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let loopback = host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
    if loopback {
        Ok(())
    } else {
        Err(ClientError::InvalidUrl {
            url: url.to_owned(),
            reason: "the load generator only targets loopback (127.0.0.0/8, ::1, localhost)",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_passes() {
        for ok in [
            "http://127.0.0.1:3000",
            "http://127.0.0.9:1/",
            "http://localhost:3000",
            "http://[::1]:3000",
        ] {
            assert!(require_loopback(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://10.0.0.1:3000",
            "http://example.com:3000",
            "http://0.0.0.0:3000",
            "http://[::2]:1",
            "https://127.0.0.1:1",
        ] {
            assert!(require_loopback(bad).is_err(), "{bad}");
        }
    }
}
