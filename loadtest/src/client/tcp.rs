//! Opening a TCP connection, optionally from a chosen local address.

use std::io;
use std::net::{IpAddr, SocketAddr};
use tokio::net::{TcpSocket, TcpStream, lookup_host};

/// Connects to `addr` (`host:port`) with `TCP_NODELAY` set (requests and
/// pushes are small and latency is what is measured), from `source` (any
/// free port) when given. The source must be of the target's family.
pub(crate) async fn connect_tcp(addr: &str, source: Option<IpAddr>) -> io::Result<TcpStream> {
    let stream = match source {
        None => TcpStream::connect(addr).await?,
        Some(source) => {
            let target = lookup_host(addr)
                .await?
                .find(|a| a.is_ipv4() == source.is_ipv4())
                .ok_or_else(|| {
                    io::Error::new(
                        io::ErrorKind::InvalidInput,
                        format!("{addr} has no address of the family of the source {source}"),
                    )
                })?;
            let socket = if target.is_ipv4() {
                TcpSocket::new_v4()?
            } else {
                TcpSocket::new_v6()?
            };
            socket.bind(SocketAddr::new(source, 0))?;
            socket.connect(target).await?
        }
    };
    stream.set_nodelay(true)?;
    Ok(stream)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    #[tokio::test]
    async fn connects_from_the_given_loopback_address() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let source: IpAddr = "127.0.0.7".parse().unwrap();
        let (client, accepted) = tokio::join!(connect_tcp(&addr, Some(source)), listener.accept());
        let client = client.unwrap();
        let (_, peer) = accepted.unwrap();
        assert_eq!(client.local_addr().unwrap().ip(), source);
        assert_eq!(peer.ip(), source);
        assert!(client.nodelay().unwrap());
    }

    #[tokio::test]
    async fn a_source_of_the_wrong_family_is_an_error() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let err = connect_tcp(&addr, Some("::1".parse().unwrap()))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    }
}
