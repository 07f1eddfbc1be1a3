"""Tic-tac-toe rules of the python peer, as the wire contract states them
(docs/protocol.md, "Game: tictactoe"): two seats, seat 0 first, the game
starts when both seats are taken, three in a row wins, a full board draws.
Pure state and events, the same as ../node/tictactoe.js; the rooms, `seq` and
the broadcast are server.py's."""

LINES = (
    (0, 1, 2),
    (3, 4, 5),
    (6, 7, 8),
    (0, 3, 6),
    (1, 4, 7),
    (2, 5, 8),
    (0, 4, 8),
    (2, 4, 6),
)


class Refused(Exception):
    """A refused request: `code` is one of the contract's error codes."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def new_game() -> dict:
    """A game waiting for its second player."""
    return {"board": [None] * 9, "turn": 0, "status": "waiting", "winner": None}


def start(game: dict) -> list:
    """Both seats are taken: seat 0 moves. Returns the events."""
    game["status"] = "playing"
    return [{"type": "game_started"}]


def place(game: dict, seat: int, action: dict) -> list:
    """Checks `action` from `seat` in the contract's order (shape, started,
    not over, turn, cell on the board, cell free), applies it and returns its
    events; raises Refused and changes nothing when it is not legal."""
    if action.get("type") != "place":
        raise Refused("bad_request", f"unknown action type `{action.get('type')}`")
    unknown = [k for k in action if k not in ("type", "cell")]
    if unknown:
        raise Refused("bad_request", f"unknown field `{unknown[0]}` in the action")
    # Any integer is a well-formed cell, so that an off-board one is an
    # illegal move (invalid_action) rather than a malformed one, as gamehub
    # answers; bool is an int subclass in Python but not a number on the wire.
    cell = action.get("cell")
    if not isinstance(cell, int) or isinstance(cell, bool):
        raise Refused("bad_request", "`cell` must be an integer")
    if game["status"] == "waiting":
        raise Refused(
            "invalid_action", "the game has not started; it starts when both seats are taken"
        )
    if game["status"] == "finished":
        raise Refused("game_over", "the game is over; create or join another room")
    if seat != game["turn"]:
        raise Refused("not_your_turn", f"it is seat {game['turn']}'s turn")
    if not 0 <= cell <= 8:
        raise Refused("invalid_action", f"cell {cell} is off the board; cells are 0..8")
    board = game["board"]
    if board[cell] is not None:
        raise Refused("invalid_action", f"cell {cell} is already taken by seat {board[cell]}")
    board[cell] = seat
    events = [{"type": "placed", "seat": seat, "cell": cell}]
    if any(all(board[c] == seat for c in line) for line in LINES):
        events.append(_finish(game, seat, "line"))
    elif all(c is not None for c in board):
        events.append(_finish(game, None, "draw"))
    else:
        game["turn"] = 1 - seat
    return events


def _finish(game: dict, winner, reason: str) -> dict:
    game["status"] = "finished"
    game["winner"] = winner
    return {"type": "game_over", "winner": winner, "reason": reason}


def view(game: dict) -> dict:
    """What every player and spectator sees (tic-tac-toe hides nothing)."""
    v = {"board": list(game["board"]), "turn": game["turn"], "status": game["status"]}
    if game["winner"] is not None:
        v["winner"] = game["winner"]
    return v
