//! `/api/v1` handlers: guest auth, room list, leaderboard.

use super::AppError;
use crate::auth;
use crate::error::HubError;
use crate::hub::Hub;
use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use protocol::http::{GuestAuthRequest, GuestAuthResponse, LeaderboardResponse, RoomsResponse};
use serde::Deserialize;

/// Most leaderboard rows one request returns.
const MAX_LEADERBOARD_LIMIT: u32 = 100;

fn bad_json(e: JsonRejection) -> AppError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        return AppError(HubError::BodyTooLarge(super::MAX_BODY_BYTES));
    }
    AppError(HubError::BadRequest(format!(
        "invalid JSON body: {}",
        e.body_text()
    )))
}

fn bad_query(e: QueryRejection) -> AppError {
    AppError(HubError::BadRequest(format!(
        "invalid query: {}",
        e.body_text()
    )))
}

/// `POST /api/v1/auth/guest`
pub async fn guest(
    State(hub): State<Hub>,
    body: Result<Json<GuestAuthRequest>, JsonRejection>,
) -> Result<Json<GuestAuthResponse>, AppError> {
    let Json(req) = body.map_err(bad_json)?;
    let player = auth::new_guest(auth::guest_name(&req.name)?);
    let token = hub.tokens().issue(&player)?;
    Ok(Json(GuestAuthResponse { token, player }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoomsQuery {
    game: Option<String>,
}

/// `GET /api/v1/rooms`
pub async fn rooms(
    State(hub): State<Hub>,
    query: Result<Query<RoomsQuery>, QueryRejection>,
) -> Result<Json<RoomsResponse>, AppError> {
    let Query(q) = query.map_err(bad_query)?;
    Ok(Json(RoomsResponse {
        rooms: hub.list_rooms(q.game.as_deref()),
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LeaderboardQuery {
    game: Option<String>,
    limit: Option<u32>,
}

/// `GET /api/v1/leaderboard`
pub async fn leaderboard(
    State(hub): State<Hub>,
    query: Result<Query<LeaderboardQuery>, QueryRejection>,
) -> Result<Json<LeaderboardResponse>, AppError> {
    let Query(q) = query.map_err(bad_query)?;
    let game = q.game.ok_or_else(|| {
        HubError::BadRequest(format!(
            "`game` is required, one of: {}",
            crate::game::GAMES.join(", ")
        ))
    })?;
    let limit = q.limit.unwrap_or(20);
    if !(1..=MAX_LEADERBOARD_LIMIT).contains(&limit) {
        return Err(
            HubError::BadRequest(format!("`limit` must be 1..{MAX_LEADERBOARD_LIMIT}")).into(),
        );
    }
    let entries = hub
        .store()
        .leaderboard(game, limit)
        .await
        .map_err(|e| HubError::Internal(format!("reading the leaderboard: {e}")))?;
    Ok(Json(LeaderboardResponse { entries }))
}
