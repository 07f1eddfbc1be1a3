//! A scripted fake socket.io server for the client tests: raw Engine.IO frames over tokio-tungstenite.

use futures_util::{SinkExt, StreamExt};
use loadtest::client::packet::{self, EnginePacket, SocketPacket};
use serde_json::Value;
use std::future::Future;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{
    Callback, ErrorResponse, Request, Response,
};

pub type Ws = WebSocketStream<TcpStream>;

pub const WAIT: Duration = Duration::from_secs(5);

/// Upgrade callback that reports the request URI.
struct RecordUri(oneshot::Sender<String>);

impl Callback for RecordUri {
    fn on_request(self, request: &Request, response: Response) -> Result<Response, ErrorResponse> {
        let _ = self.0.send(request.uri().to_string());
        Ok(response)
    }
}

/// Serves one WebSocket connection with `script`; returns the base URL and the
/// request URI the client asked for (once the upgrade is done).
pub async fn fake_server<F, Fut>(script: F) -> (String, oneshot::Receiver<String>)
where
    F: FnOnce(Ws) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (uri_tx, uri_rx) = oneshot::channel();
    tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let ws = tokio_tungstenite::accept_hdr_async(tcp, RecordUri(uri_tx))
            .await
            .unwrap();
        script(ws).await;
    });
    (url, uri_rx)
}

pub async fn send(ws: &mut Ws, frame: impl Into<String>) {
    ws.send(Message::text(frame.into())).await.unwrap();
}

/// The next text frame, or `None` once the client has closed.
pub async fn recv(ws: &mut Ws) -> Option<String> {
    loop {
        match tokio::time::timeout(WAIT, ws.next())
            .await
            .expect("client went silent")
        {
            Some(Ok(Message::Text(text))) => return Some(text.to_string()),
            Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return None,
            Some(Ok(_)) => {}
        }
    }
}

/// Sends the open packet, expects the CONNECT, accepts it; returns the auth sent.
pub async fn accept(ws: &mut Ws, ping_interval: u64, ping_timeout: u64) -> Option<Value> {
    send(
        ws,
        format!(
            r#"0{{"sid":"eio1","upgrades":[],"pingInterval":{ping_interval},"pingTimeout":{ping_timeout},"maxPayload":1000000}}"#
        ),
    )
    .await;
    let connect = recv(ws).await.expect("no CONNECT");
    let EnginePacket::Message(msg) = packet::decode_engine(&connect).unwrap() else {
        panic!("not a message: {connect}")
    };
    let SocketPacket::Connect { nsp: "/", data } = packet::decode_socket(msg).unwrap() else {
        panic!("not a CONNECT: {connect}")
    };
    send(ws, r#"40{"sid":"sio1"}"#).await;
    data
}

/// Reads one event the client sent: (ack id, name, args).
pub async fn recv_event(ws: &mut Ws) -> (Option<u64>, String, Vec<Value>) {
    let frame = recv(ws).await.expect("no event");
    let EnginePacket::Message(msg) = packet::decode_engine(&frame).unwrap() else {
        panic!("not a message: {frame}")
    };
    match packet::decode_socket(msg).unwrap() {
        SocketPacket::Event {
            id, event, args, ..
        } => (id, event, args),
        other => panic!("not an event: {other:?}"),
    }
}
