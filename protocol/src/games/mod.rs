//! Actions, events and views of each game.

pub mod tictactoe;
