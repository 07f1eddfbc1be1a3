//! What each socket keeps of the HTTP request that opened it: [`detach_head`].
//!
//! engineioxide keeps the head of the request that opened a session (method,
//! URI, headers, extensions) for the session's whole life, so that handlers
//! can read it. hyper parses a head in place: the URI and every header value
//! are slices of the connection's read buffer (8 KiB, grown to 16 KiB while
//! reading), and one slice kept alive keeps the whole buffer alive, including
//! the copy of the URI that axum files in the extensions ([`OriginalUri`]).
//! That was 17 KB of the 40 KB of heap an idle socket held (heaptrack, W1 in
//! `docs/benchmarks.md`). Copying the few hundred bytes of the head frees the
//! buffer as soon as the upgrade is done.

use axum::extract::{OriginalUri, Request};
use axum::http::{HeaderMap, HeaderValue, Uri};

/// Gives `req`'s URIs and header values allocations of their own, so that
/// keeping the head does not keep hyper's read buffer. Method, version,
/// header order, repeated headers, sensitivity flags and the other extensions
/// (hyper's upgrade handle among them) are kept as they are.
pub async fn detach_head(mut req: Request) -> Request {
    let headers = std::mem::take(req.headers_mut());
    let mut copied = HeaderMap::with_capacity(headers.len());
    for (name, value) in &headers {
        copied.append(name.clone(), copy_value(value));
    }
    *req.headers_mut() = copied;
    copy_uri(req.uri_mut());
    if let Some(OriginalUri(uri)) = req.extensions_mut().get_mut::<OriginalUri>() {
        copy_uri(uri);
    }
    req
}

fn copy_uri(uri: &mut Uri) {
    // A URI that parsed once parses again; if it somehow did not, the shared one still works.
    if let Ok(copy) = uri.to_string().parse::<Uri>() {
        *uri = copy;
    }
}

fn copy_value(value: &HeaderValue) -> HeaderValue {
    match HeaderValue::from_bytes(value.as_bytes()) {
        Ok(mut copy) => {
            copy.set_sensitive(value.is_sensitive());
            copy
        }
        // hyper accepted bytes that `from_bytes` refuses: keep the shared value.
        Err(_) => value.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::{Body, Bytes};
    use axum::http::header;

    /// A request whose URI and header values are slices of one buffer, as hyper makes them.
    fn parsed_in_place(buffer: &Bytes) -> Request {
        let text = std::str::from_utf8(buffer).unwrap();
        let slice = |part: &str| {
            let start = text.find(part).unwrap();
            buffer.slice(start..start + part.len())
        };
        let mut req = Request::new(Body::empty());
        let uri =
            || Uri::from_maybe_shared(slice("/socket.io/?EIO=4&transport=websocket")).unwrap();
        *req.uri_mut() = uri();
        req.extensions_mut().insert(OriginalUri(uri()));
        let value = |part: &str| HeaderValue::from_maybe_shared(slice(part)).unwrap();
        let headers = req.headers_mut();
        headers.append(header::HOST, value("127.0.0.1:3000"));
        headers.append(header::COOKIE, value("a=1"));
        headers.append(header::COOKIE, value("b=2"));
        let mut secret = value("Bearer xyz");
        secret.set_sensitive(true);
        headers.append(header::AUTHORIZATION, secret);
        headers.append("x-custom", value("yes"));
        req.extensions_mut().insert(42u32);
        req
    }

    fn outside(buffer: &Bytes, bytes: &[u8]) -> bool {
        let range = buffer.as_ptr_range();
        !range.contains(&bytes.as_ptr())
    }

    #[tokio::test]
    async fn the_head_keeps_its_contents_but_not_the_read_buffer() {
        let buffer = Bytes::from_static(
            b"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1 127.0.0.1:3000 a=1 b=2 Bearer xyz yes",
        );
        let req = detach_head(parsed_in_place(&buffer)).await;

        assert_eq!(req.uri(), "/socket.io/?EIO=4&transport=websocket");
        assert_eq!(req.uri().query(), Some("EIO=4&transport=websocket"));
        let headers = req.headers();
        assert_eq!(headers.len(), 5);
        assert_eq!(headers[header::HOST], "127.0.0.1:3000");
        let cookies: Vec<_> = headers.get_all(header::COOKIE).iter().collect();
        assert_eq!(cookies, ["a=1", "b=2"], "repeated headers keep their order");
        assert!(headers[header::AUTHORIZATION].is_sensitive());
        assert!(!headers[header::HOST].is_sensitive());
        assert_eq!(headers["x-custom"], "yes");
        assert_eq!(req.extensions().get::<u32>(), Some(&42));
        let OriginalUri(original) = req.extensions().get::<OriginalUri>().unwrap();
        assert_eq!(original, req.uri());

        assert!(outside(&buffer, req.uri().path().as_bytes()));
        assert!(outside(&buffer, original.path().as_bytes()));
        for value in headers.values() {
            assert!(
                outside(&buffer, value.as_bytes()),
                "{value:?} still points into the buffer"
            );
        }
    }
}
