//! A minimal HTTP/1.1 client for gamehub's JSON API: one request per connection, no TLS.

use crate::client::{ClientError, connect_tcp, split_base_url};
use protocol::PlayerRef;
use protocol::http::{GuestAuthRequest, GuestAuthResponse};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::net::IpAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Limit for one whole request, connect to last byte.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest response read.
const MAX_RESPONSE: u64 = 16 << 20;

/// A response: status and body text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    /// Status code.
    pub status: u16,
    /// Body, decoded as UTF-8 (lossily), with any chunked framing removed.
    pub body: String,
}

impl HttpResponse {
    /// The body as JSON of type `T`, whatever the status.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, ClientError> {
        serde_json::from_str(&self.body).map_err(|source| ClientError::Decode {
            value: Value::String(self.body.clone()),
            source,
        })
    }

    /// The body as `T` if the status is 2xx, else [`ClientError::Http`].
    pub fn ok_json<T: DeserializeOwned>(self) -> Result<T, ClientError> {
        if (200..300).contains(&self.status) {
            self.json()
        } else {
            Err(ClientError::Http {
                status: self.status,
                body: self.body,
            })
        }
    }
}

/// `POST /api/v1/auth/guest` with `{"name": name}`: the token and the player it names.
pub async fn guest_token(base_url: &str, name: &str) -> Result<(String, PlayerRef), ClientError> {
    guest_token_from(base_url, name, None).await
}

/// [`guest_token`] over a connection from `source` (see [`ClientConfig::source_ip`](crate::ClientConfig::source_ip)).
pub async fn guest_token_from(
    base_url: &str,
    name: &str,
    source: Option<IpAddr>,
) -> Result<(String, PlayerRef), ClientError> {
    let body = GuestAuthRequest {
        name: name.to_owned(),
    };
    let body = serde_json::to_vec(&body).map_err(ClientError::Encode)?;
    let answer: GuestAuthResponse =
        request_from(base_url, "POST", "/api/v1/auth/guest", Some(&body), source)
            .await?
            .ok_json()?;
    Ok((answer.token, answer.player))
}

/// `GET path` (with its query), returning the response whatever its status.
pub async fn get(base_url: &str, path: &str) -> Result<HttpResponse, ClientError> {
    request(base_url, "GET", path, None).await
}

/// `POST path` with `body` as JSON, returning the response whatever its status.
pub async fn post_json<B: Serialize + ?Sized>(
    base_url: &str,
    path: &str,
    body: &B,
) -> Result<HttpResponse, ClientError> {
    let body = serde_json::to_vec(body).map_err(ClientError::Encode)?;
    request(base_url, "POST", path, Some(&body)).await
}

/// Sends one request (`Connection: close`) with an optional JSON body and reads the whole answer.
pub async fn request(
    base_url: &str,
    method: &str,
    path: &str,
    body: Option<&[u8]>,
) -> Result<HttpResponse, ClientError> {
    request_from(base_url, method, path, body, None).await
}

/// [`request`] over a connection from `source` (any free port), when given.
pub async fn request_from(
    base_url: &str,
    method: &str,
    path: &str,
    body: Option<&[u8]>,
    source: Option<IpAddr>,
) -> Result<HttpResponse, ClientError> {
    let (addr, authority) = split_base_url(base_url)?;
    let mut head =
        format!("{method} {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n");
    if let Some(body) = body {
        head += &format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        );
    }
    head += "\r\n";
    let exchange = async {
        let mut stream = connect_tcp(&addr, source).await?;
        stream.write_all(head.as_bytes()).await?;
        stream.write_all(body.unwrap_or_default()).await?;
        let mut raw = Vec::new();
        stream.take(MAX_RESPONSE).read_to_end(&mut raw).await?;
        Ok::<_, std::io::Error>(raw)
    };
    let raw = tokio::time::timeout(REQUEST_TIMEOUT, exchange)
        .await
        .map_err(|_| ClientError::Timeout)??;
    parse_response(&raw)
}

/// Parses a complete HTTP/1.1 response (the connection was read to its end).
fn parse_response(raw: &[u8]) -> Result<HttpResponse, ClientError> {
    let bad = ClientError::BadHttpResponse;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| bad("no end of headers"))?;
    let head = std::str::from_utf8(&raw[..split]).map_err(|_| bad("headers are not UTF-8"))?;
    let mut body = &raw[split + 4..];
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| bad("no status code"))?;
    let mut chunked = false;
    for (name, value) in lines.filter_map(|line| line.split_once(':')) {
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            let len: usize = value.parse().map_err(|_| bad("bad Content-Length"))?;
            body = body
                .get(..len)
                .ok_or_else(|| bad("body shorter than Content-Length"))?;
        } else if name.eq_ignore_ascii_case("transfer-encoding")
            && value.eq_ignore_ascii_case("chunked")
        {
            chunked = true;
        }
    }
    let body = if chunked {
        dechunk(body).ok_or_else(|| bad("bad chunked body"))?
    } else {
        body.to_vec()
    };
    Ok(HttpResponse {
        status,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

/// Joins the chunks of a `Transfer-Encoding: chunked` body; `None` if it is malformed.
fn dechunk(mut body: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(body.len());
    loop {
        let line_end = body.windows(2).position(|w| w == b"\r\n")?;
        let size = std::str::from_utf8(&body[..line_end]).ok()?;
        let size = size.split(';').next()?.trim();
        let size = usize::from_str_radix(size, 16).ok()?;
        body = &body[line_end + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(body.get(..size)?);
        body = body.get(size..)?.strip_prefix(b"\r\n")?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_length_response() {
        let raw = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 11\r\n\r\n{\"a\":true}\n";
        let response = parse_response(raw).unwrap();
        assert_eq!(response.status, 200);
        assert_eq!(response.body, "{\"a\":true}\n");
        assert_eq!(
            response.json::<Value>().unwrap(),
            serde_json::json!({"a": true})
        );
    }

    #[test]
    fn chunked_response() {
        let raw = b"HTTP/1.1 400 Bad Request\r\nTransfer-Encoding: chunked\r\n\r\n4;ext=1\r\n{\"a\"\r\n5\r\n:true\r\n1\r\n}\r\n0\r\n\r\n";
        let response = parse_response(raw).unwrap();
        assert_eq!(response.status, 400);
        assert_eq!(response.body, r#"{"a":true}"#);
        assert!(matches!(
            response.ok_json::<Value>(),
            Err(ClientError::Http { status: 400, .. })
        ));
    }

    #[test]
    fn malformed_responses_are_errors() {
        for raw in [
            &b""[..],
            b"HTTP/1.1 200 OK\r\n",
            b"HTTP/1.1 abc OK\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
            b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
        ] {
            assert!(
                parse_response(raw).is_err(),
                "{:?}",
                String::from_utf8_lossy(raw)
            );
        }
    }

    #[test]
    fn dechunk_stops_at_the_last_chunk() {
        assert_eq!(
            dechunk(b"3\r\nabc\r\n0\r\n\r\n").as_deref(),
            Some(&b"abc"[..])
        );
        assert_eq!(dechunk(b"0\r\n\r\n").as_deref(), Some(&b""[..]));
        assert_eq!(dechunk(b"3\r\nabcX0\r\n"), None);
    }
}
