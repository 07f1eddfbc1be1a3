// Tic-tac-toe rules of the node peer, as the wire contract states them
// (docs/protocol.md, "Game: tictactoe"): two seats, seat 0 first, the game
// starts when both seats are taken, three in a row wins, a full board draws.
// Pure state and events; the rooms, `seq` and the broadcast are server.js's.
"use strict";

const LINES = [
  [0, 1, 2],
  [3, 4, 5],
  [6, 7, 8],
  [0, 3, 6],
  [1, 4, 7],
  [2, 5, 8],
  [0, 4, 8],
  [2, 4, 6],
];

/** A refused action: `code` is one of the contract's error codes. */
class Refused extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}

/** A game waiting for its second player. */
function newGame() {
  const board = [null, null, null, null, null, null, null, null, null];
  return { board, turn: 0, status: "waiting", winner: null };
}

/** Both seats are taken: seat 0 moves. Returns the events. */
function start(game) {
  game.status = "playing";
  return [{ type: "game_started" }];
}

/**
 * Checks `action` from `seat` in the contract's order (shape, started, not
 * over, turn, cell on the board, cell free), applies it and returns its
 * events; throws Refused and changes nothing when it is not legal.
 */
function place(game, seat, action) {
  const unknown = Object.keys(action).find((k) => k !== "type" && k !== "cell");
  if (action.type !== "place") {
    throw new Refused("bad_request", `unknown action type \`${action.type}\``);
  }
  if (unknown !== undefined) {
    throw new Refused("bad_request", `unknown field \`${unknown}\` in the action`);
  }
  // Any integer is a well-formed cell, so that an off-board one is an illegal
  // move (invalid_action) rather than a malformed one, as gamehub answers.
  const cell = action.cell;
  if (!Number.isInteger(cell)) throw new Refused("bad_request", "`cell` must be an integer");
  if (game.status === "waiting") {
    throw new Refused("invalid_action", "the game has not started; it starts when both seats are taken");
  }
  if (game.status === "finished") throw new Refused("game_over", "the game is over; create or join another room");
  if (seat !== game.turn) throw new Refused("not_your_turn", `it is seat ${game.turn}'s turn`);
  if (cell < 0 || cell > 8) throw new Refused("invalid_action", `cell ${cell} is off the board; cells are 0..8`);
  if (game.board[cell] !== null) {
    throw new Refused("invalid_action", `cell ${cell} is already taken by seat ${game.board[cell]}`);
  }
  game.board[cell] = seat;
  const events = [{ type: "placed", seat, cell }];
  if (LINES.some((line) => line.every((c) => game.board[c] === seat))) {
    events.push(finish(game, seat, "line"));
  } else if (game.board.every((c) => c !== null)) {
    events.push(finish(game, null, "draw"));
  } else {
    game.turn = 1 - seat;
  }
  return events;
}

function finish(game, winner, reason) {
  game.status = "finished";
  game.winner = winner;
  return { type: "game_over", winner, reason };
}

/** What every player and spectator sees (tic-tac-toe hides nothing). */
function view(game) {
  const v = { board: [...game.board], turn: game.turn, status: game.status };
  if (game.winner !== null) v.winner = game.winner;
  return v;
}

module.exports = { Refused, newGame, start, place, view };
