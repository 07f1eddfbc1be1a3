//! The HTTP helpers against a one-shot fake HTTP server.

use loadtest::ClientError;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// Serves one canned HTTP response; returns the base URL and the request received.
async fn fake_http(
    status: &'static str,
    body: &'static str,
) -> (String, oneshot::Receiver<String>) {
    let response = format!(
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = oneshot::channel();
    tokio::spawn(async move {
        let (mut tcp, _) = listener.accept().await.unwrap();
        let mut request = Vec::new();
        let mut buf = [0u8; 4096];
        // Read the head, then as many body bytes as Content-Length says.
        loop {
            let n = tcp.read(&mut buf).await.unwrap();
            request.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&request).into_owned();
            if let Some((head, body)) = text.split_once("\r\n\r\n") {
                let len = head
                    .lines()
                    .find_map(|l| l.strip_prefix("Content-Length: "))
                    .map_or(0, |l| l.parse().unwrap());
                if body.len() >= len {
                    break;
                }
            }
            if n == 0 {
                break;
            }
        }
        tcp.write_all(response.as_bytes()).await.unwrap();
        let _ = tx.send(String::from_utf8_lossy(&request).into_owned());
    });
    (url, rx)
}

#[tokio::test]
async fn guest_token_posts_the_name_and_parses_the_answer() {
    let body = r#"{"token":"tok.en","player":{"id":"p1","name":"alice"}}"#;
    let (url, request) = fake_http("200 OK", body).await;
    let (token, player) = loadtest::guest_token(&url, "alice").await.unwrap();
    assert_eq!(token, "tok.en");
    assert_eq!((player.id.as_str(), player.name.as_str()), ("p1", "alice"));
    let request = request.await.unwrap();
    assert!(
        request.starts_with("POST /api/v1/auth/guest HTTP/1.1\r\n"),
        "{request}"
    );
    assert!(
        request.contains("Content-Type: application/json\r\n"),
        "{request}"
    );
    assert!(request.contains("Connection: close\r\n"), "{request}");
    assert!(
        request.ends_with("\r\n\r\n{\"name\":\"alice\"}"),
        "{request}"
    );
}

#[tokio::test]
async fn guest_token_reports_http_errors() {
    let body = r#"{"error":{"code":"bad_request","message":"name empty"}}"#;
    let (url, _) = fake_http("400 Bad Request", body).await;
    match loadtest::guest_token(&url, "").await {
        Err(ClientError::Http { status: 400, body }) => {
            assert!(body.contains("bad_request"), "{body}")
        }
        other => panic!("{other:?}"),
    }
}
