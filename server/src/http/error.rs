//! [`AppError`]: a [`HubError`] answered over HTTP as `{"error": {"code", "message"}}`.

use crate::error::HubError;
use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use protocol::ErrorCode;
use protocol::http::HttpError;

/// An HTTP error response.
#[derive(Debug)]
pub struct AppError(pub HubError);

impl From<HubError> for AppError {
    fn from(e: HubError) -> Self {
        Self(e)
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let status = match self.0.code() {
            ErrorCode::BadRequest => StatusCode::BAD_REQUEST,
            ErrorCode::Unauthorized => StatusCode::UNAUTHORIZED,
            ErrorCode::RoomNotFound => StatusCode::NOT_FOUND,
            ErrorCode::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::Unavailable | ErrorCode::Capacity => StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::CONFLICT,
        };
        (
            status,
            Json(HttpError {
                error: self.0.body(),
            }),
        )
            .into_response()
    }
}
