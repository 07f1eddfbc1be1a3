//! Guest identities: name rules, and signed, expiring tokens (JWT, HS256).
//!
//! A token carries the player id, name and expiry and is checked with the
//! shared secret alone, so any instance accepts a token any other issued.

use crate::error::HubError;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use protocol::PlayerRef;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Longest display name, in characters.
pub const MAX_NAME_CHARS: usize = 24;

/// A verified player, shared by every handler of one socket.
pub type Player = Arc<PlayerRef>;

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    name: String,
    exp: u64,
    iat: u64,
}

/// Issues and verifies tokens with one secret.
#[derive(Clone)]
pub struct Tokens {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    ttl: Duration,
}

impl Tokens {
    /// Keys for `secret`; tokens live for `ttl`.
    pub fn new(secret: &[u8], ttl: Duration) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        validation.set_required_spec_claims(&["exp", "sub"]);
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            ttl,
        }
    }

    /// A token for `player`.
    pub fn issue(&self, player: &PlayerRef) -> Result<String, HubError> {
        let now = unix_now().as_secs();
        let claims = Claims {
            sub: player.id.clone(),
            name: player.name.clone(),
            iat: now,
            exp: now + self.ttl.as_secs(),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| HubError::Internal(format!("cannot sign token: {e}")))
    }

    /// The player a valid token names; forged, malformed or expired tokens fail.
    pub fn verify(&self, token: &str) -> Result<PlayerRef, HubError> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|e| HubError::Unauthorized(format!("invalid token: {e}")))?;
        Ok(PlayerRef {
            id: data.claims.sub,
            name: data.claims.name,
        })
    }
}

/// Checks and trims a guest name: 1..24 characters after trimming, no control characters.
pub fn guest_name(raw: &str) -> Result<String, HubError> {
    let name = raw.trim();
    let chars = name.chars().count();
    if chars == 0 {
        return Err(HubError::BadRequest("name must not be empty".into()));
    }
    if chars > MAX_NAME_CHARS {
        return Err(HubError::BadRequest(format!(
            "name is {chars} characters long; at most {MAX_NAME_CHARS} are allowed"
        )));
    }
    if name.chars().any(char::is_control) {
        return Err(HubError::BadRequest(
            "name must not contain control characters".into(),
        ));
    }
    Ok(name.to_string())
}

/// A new guest with a fresh id.
pub fn new_guest(name: String) -> PlayerRef {
    PlayerRef {
        id: uuid::Uuid::new_v4().simple().to_string(),
        name,
    }
}

/// Time since the Unix epoch.
pub fn unix_now() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_and_checked() {
        assert_eq!(guest_name("  alice ").unwrap(), "alice");
        assert!(guest_name("   ").is_err());
        assert!(guest_name(&"x".repeat(25)).is_err());
        assert_eq!(guest_name(&"é".repeat(24)).unwrap().chars().count(), 24);
        assert!(guest_name("a\u{7}b").is_err());
    }

    #[test]
    fn tokens_round_trip_and_reject_forgery_and_expiry() {
        let tokens = Tokens::new(&[7; 32], Duration::from_secs(60));
        let p = new_guest("bob".into());
        let t = tokens.issue(&p).unwrap();
        assert_eq!(tokens.verify(&t).unwrap(), p);

        let other = Tokens::new(&[8; 32], Duration::from_secs(60));
        assert!(
            other.verify(&t).is_err(),
            "a token signed with another secret is refused"
        );
        assert!(tokens.verify("not-a-token").is_err());

        let claims = Claims {
            sub: p.id,
            name: p.name,
            iat: 1,
            exp: 2,
        };
        let old = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(&[7; 32]),
        )
        .unwrap();
        assert!(tokens.verify(&old).is_err(), "an expired token is refused");
    }
}
