//! Moving a socket connected to another instance in and out of a room's
//! broadcast channels, confirmed. The socket.io adapter sends such a change
//! as one pub/sub message that nobody acknowledges: lost on the way (a
//! subscriber that fell behind under load), it left a join answered `ok`
//! whose socket never got a broadcast. So each change is followed by a
//! question on the same ordered channel ("which rooms is this socket in?"),
//! whose answer therefore reflects it, and is sent again until it shows.
//! Broadcasts the room sends after a confirmed join reach the socket; those
//! sent before it still do not.

use crate::room::personal_room;
use socketioxide::SocketIo;
use socketioxide::adapter::Adapter;
use socketioxide::socket::Sid;
use thiserror::Error;
use tracing::debug;

/// Tries of a change before it counts as failed. Each waits for the answer
/// at most the adapter's request timeout, a third of `FORWARD_TIMEOUT_MS`
/// (see [`super::adapter_config`]): all tries together fit in the deadline
/// of the forwarded join that asked for the change.
pub const ATTEMPTS: u32 = 3;

/// Why a membership change on another instance is not known to be done.
#[derive(Debug, Error)]
pub enum MembershipError {
    /// The adapter could not send the change or the question (Redis away).
    #[error("the cluster link failed: {0}")]
    Link(String),
    /// Sent every time, never seen done: messages lost, the socket's
    /// instance too busy to answer in time, or the socket gone.
    #[error("the socket's instance did not confirm the change after {ATTEMPTS} tries")]
    Unconfirmed,
}

/// Puts socket `sid` of another instance into `channels`; `Ok` once its
/// instance says it is in every one of them.
pub async fn join<A: Adapter>(
    io: &SocketIo<A>,
    sid: Sid,
    channels: Vec<String>,
) -> Result<(), MembershipError> {
    change(io, sid, channels, true).await
}

/// Takes socket `sid` of another instance out of `channels`; `Ok` once its
/// instance no longer lists it in any of them (or gave no answer in time:
/// an absent answer looks like an absent socket).
pub async fn leave<A: Adapter>(
    io: &SocketIo<A>,
    sid: Sid,
    channels: Vec<String>,
) -> Result<(), MembershipError> {
    change(io, sid, channels, false).await
}

async fn change<A: Adapter>(
    io: &SocketIo<A>,
    sid: Sid,
    channels: Vec<String>,
    join: bool,
) -> Result<(), MembershipError> {
    let link = |e: A::Error| MembershipError::Link(e.to_string());
    let to = personal_room(sid);
    for attempt in 1..=ATTEMPTS {
        let member = io.to(to.clone());
        if join {
            member.join(channels.clone()).await.map_err(link)?;
        } else {
            member.leave(channels.clone()).await.map_err(link)?;
        }
        let rooms = io.to(to.clone()).rooms().await.map_err(link)?;
        if channels
            .iter()
            .all(|c| rooms.iter().any(|r| r == c) == join)
        {
            return Ok(());
        }
        metrics::counter!("gamehub_cluster_membership_retries_total").increment(1);
        debug!(%sid, join, attempt, "a membership change was not seen done at the socket's instance; sending it again");
    }
    // The room logs it, naming itself.
    metrics::counter!("gamehub_cluster_membership_failures_total").increment(1);
    Err(MembershipError::Unconfirmed)
}
