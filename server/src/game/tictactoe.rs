//! Tic-tac-toe rules: two seats, seat 0 first, three in a row wins.

use super::{
    Audience, Game, GameEvent, SeatResult, decode_snapshot, encode_snapshot, parse_action, to_value,
};
use crate::error::HubError;
use protocol::RoomStatus;
use protocol::games::tictactoe::{Action, EndReason, Event, View};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

const LINES: [[usize; 3]; 8] = [
    [0, 1, 2],
    [3, 4, 5],
    [6, 7, 8],
    [0, 3, 6],
    [1, 4, 7],
    [2, 5, 8],
    [0, 4, 8],
    [2, 4, 6],
];

/// One game of tic-tac-toe.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TicTacToe {
    board: [Option<u8>; 9],
    turn: u8,
    status: Status,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
enum Status {
    #[default]
    Waiting,
    Playing,
    Finished {
        winner: Option<u8>,
    },
}

impl TicTacToe {
    /// A new game. Tic-tac-toe takes no options; any given are refused.
    pub fn new(options: Option<&Map<String, Value>>) -> Result<Self, HubError> {
        if let Some(opts) = options
            && let Some(key) = opts.keys().next()
        {
            return Err(HubError::BadRequest(format!(
                "tictactoe takes no options (got `{key}`)"
            )));
        }
        Ok(Self::default())
    }

    /// A game from its snapshot bytes.
    pub fn restore(bytes: &[u8]) -> Result<Self, HubError> {
        decode_snapshot(bytes)
    }

    fn finish(&mut self, winner: Option<u8>, reason: EndReason) -> GameEvent {
        self.status = Status::Finished { winner };
        GameEvent::public(Event::GameOver { winner, reason })
    }

    fn line_of(&self, seat: u8) -> bool {
        LINES
            .iter()
            .any(|line| line.iter().all(|&c| self.board[c] == Some(seat)))
    }
}

impl Game for TicTacToe {
    fn max_players(&self) -> u8 {
        2
    }

    fn status(&self) -> RoomStatus {
        match self.status {
            Status::Waiting => RoomStatus::Waiting,
            Status::Playing => RoomStatus::Playing,
            Status::Finished { .. } => RoomStatus::Finished,
        }
    }

    fn seated(&mut self, _seat: u8, seated: u8) -> Vec<GameEvent> {
        if self.status == Status::Waiting && seated == 2 {
            self.status = Status::Playing;
            return vec![GameEvent::public(Event::GameStarted)];
        }
        Vec::new()
    }

    fn forfeit(&mut self, seat: u8) -> Vec<GameEvent> {
        match self.status {
            Status::Playing => vec![self.finish(Some(1 - seat), EndReason::Forfeit)],
            _ => Vec::new(),
        }
    }

    fn apply(&mut self, seat: u8, action: &Value) -> Result<Vec<GameEvent>, HubError> {
        let Action::Place { cell } = parse_action(action)?;
        match self.status {
            Status::Waiting => {
                return Err(HubError::InvalidAction(
                    "the game has not started; it starts when both seats are taken".into(),
                ));
            }
            Status::Finished { .. } => return Err(HubError::GameOver),
            Status::Playing => {}
        }
        if seat != self.turn {
            return Err(HubError::NotYourTurn(self.turn));
        }
        let Some(idx) = usize::try_from(cell).ok().filter(|&i| i < 9) else {
            return Err(HubError::InvalidAction(format!(
                "cell {cell} is off the board; cells are 0..8"
            )));
        };
        if let Some(owner) = self.board[idx] {
            return Err(HubError::InvalidAction(format!(
                "cell {cell} is already taken by seat {owner}"
            )));
        }
        self.board[idx] = Some(seat);
        let mut events = vec![GameEvent::public(Event::Placed {
            seat,
            cell: idx as u8,
        })];
        if self.line_of(seat) {
            events.push(self.finish(Some(seat), EndReason::Line));
        } else if self.board.iter().all(Option::is_some) {
            events.push(self.finish(None, EndReason::Draw));
        } else {
            self.turn = 1 - seat;
        }
        Ok(events)
    }

    fn view(&self, _audience: Audience) -> Value {
        let winner = match self.status {
            Status::Finished { winner } => winner,
            _ => None,
        };
        to_value(View {
            board: self.board,
            turn: self.turn,
            status: self.status(),
            winner,
        })
    }

    fn snapshot(&self) -> Vec<u8> {
        encode_snapshot(self)
    }

    fn results(&self) -> Option<Vec<SeatResult>> {
        match self.status {
            Status::Finished { winner: None } => Some(vec![SeatResult::Draw; 2]),
            Status::Finished { winner: Some(w) } => Some(
                (0..2)
                    .map(|s| {
                        if s == w {
                            SeatResult::Win
                        } else {
                            SeatResult::Loss
                        }
                    })
                    .collect(),
            ),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::ErrorCode;
    use serde_json::json;

    fn started() -> TicTacToe {
        let mut g = TicTacToe::new(None).unwrap();
        assert!(g.seated(0, 1).is_empty());
        assert_eq!(g.seated(1, 2), vec![GameEvent::public(Event::GameStarted)]);
        g
    }

    fn place(g: &mut TicTacToe, seat: u8, cell: u64) -> Result<Vec<GameEvent>, HubError> {
        g.apply(seat, &json!({"type": "place", "cell": cell}))
    }

    #[test]
    fn a_row_wins_and_ends_the_game() {
        let mut g = started();
        for (seat, cell) in [(0, 0), (1, 3), (0, 1), (1, 4)] {
            place(&mut g, seat, cell).unwrap();
        }
        let events = place(&mut g, 0, 2).unwrap();
        assert_eq!(
            events[1].public,
            json!({"type": "game_over", "winner": 0, "reason": "line"})
        );
        assert_eq!(g.results(), Some(vec![SeatResult::Win, SeatResult::Loss]));
        assert_eq!(place(&mut g, 1, 5).unwrap_err().code(), ErrorCode::GameOver);
        assert_eq!(g.view(Audience::Spectator)["winner"], json!(0));
    }

    #[test]
    fn a_full_board_without_a_line_is_a_draw() {
        let mut g = started();
        // X O X / X O O / O X X
        for (seat, cell) in [
            (0, 0),
            (1, 1),
            (0, 2),
            (1, 4),
            (0, 3),
            (1, 5),
            (0, 7),
            (1, 6),
        ] {
            place(&mut g, seat, cell).unwrap();
        }
        let events = place(&mut g, 0, 8).unwrap();
        assert_eq!(
            events[1].public,
            json!({"type": "game_over", "winner": null, "reason": "draw"})
        );
        assert_eq!(g.results(), Some(vec![SeatResult::Draw, SeatResult::Draw]));
    }

    #[test]
    fn illegal_moves_change_nothing() {
        let mut g = TicTacToe::new(None).unwrap();
        assert_eq!(
            place(&mut g, 0, 0).unwrap_err().code(),
            ErrorCode::InvalidAction
        );
        g.seated(0, 1);
        g.seated(1, 2);
        let before = g.view(Audience::Seat(0));
        assert_eq!(
            place(&mut g, 1, 0).unwrap_err().code(),
            ErrorCode::NotYourTurn
        );
        assert_eq!(
            place(&mut g, 0, 9).unwrap_err().code(),
            ErrorCode::InvalidAction
        );
        assert_eq!(
            place(&mut g, 0, 300).unwrap_err().code(),
            ErrorCode::InvalidAction
        );
        assert_eq!(
            g.apply(0, &json!({"type": "place", "cell": -1}))
                .unwrap_err()
                .code(),
            ErrorCode::InvalidAction
        );
        assert_eq!(
            g.apply(0, &json!({"type": "place", "cell": 1.5}))
                .unwrap_err()
                .code(),
            ErrorCode::BadRequest
        );
        assert_eq!(
            g.apply(0, &json!({"type": "jump"})).unwrap_err().code(),
            ErrorCode::BadRequest
        );
        assert_eq!(
            g.apply(0, &json!({"type": "place", "cell": "a"}))
                .unwrap_err()
                .code(),
            ErrorCode::BadRequest
        );
        assert_eq!(g.view(Audience::Seat(0)), before);
        place(&mut g, 0, 4).unwrap();
        assert_eq!(
            place(&mut g, 1, 4).unwrap_err().code(),
            ErrorCode::InvalidAction
        );
    }

    #[test]
    fn forfeit_gives_the_other_seat_the_win_only_during_play() {
        let mut g = TicTacToe::new(None).unwrap();
        assert!(g.forfeit(0).is_empty());
        g.seated(0, 1);
        g.seated(1, 2);
        let ev = g.forfeit(1);
        assert_eq!(
            ev[0].public,
            json!({"type": "game_over", "winner": 0, "reason": "forfeit"})
        );
        assert_eq!(g.status(), RoomStatus::Finished);
    }

    #[test]
    fn a_snapshot_restores_the_same_game() {
        let mut g = started();
        place(&mut g, 0, 4).unwrap();
        let mut back = TicTacToe::restore(&g.snapshot()).unwrap();
        assert_eq!(back, g);
        assert_eq!(
            place(&mut back, 0, 0).unwrap_err().code(),
            ErrorCode::NotYourTurn
        );
        place(&mut back, 1, 0).unwrap();
    }

    #[test]
    fn options_are_refused() {
        let opts = json!({"size": 4});
        assert_eq!(
            TicTacToe::new(opts.as_object()).unwrap_err().code(),
            ErrorCode::BadRequest
        );
    }
}
