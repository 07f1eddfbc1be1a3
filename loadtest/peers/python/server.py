"""Benchmark peer for gamehub: python-socketio 5 on aiohttp.

Implements only the subset of the wire contract (shared/design/protocol-v1.md)
that the load generator's workloads use: guest tokens over HTTP, the token
check at connect, room:create / room:join / room:chat / room:leave, and
tic-tac-toe play (room:action, room:event pushes numbered by `seq`) with the
contract's payloads, acks and error codes; the same behaviour as
../node/server.js. In memory only: an ack is not durable. See ../README.md.

Environment:
  PORT        port to listen on; 0 (default) picks a free one
  HOST        address to listen on (default 127.0.0.1)
  SECRET_KEY  optional: HMAC key of the guest tokens (the same fixed default
              as the node peer, so their tokens are interchangeable)
  REDIS_URL   not supported here (W4 compares against the node peer only);
              the server refuses to start when it is set

On listening it prints exactly one line to stdout:
  listening on http://HOST:PORT
"""

import asyncio
import base64
import hashlib
import hmac
import json
import os
import secrets
import signal
import socket
import sys
import time
import unicodedata
import uuid

import socketio
from aiohttp import web

import tictactoe
from tictactoe import Refused

HOST = os.environ.get("HOST") or "127.0.0.1"
SECRET_KEY = (
    os.environ.get("SECRET_KEY") or "gamehub-benchmark-peer-secret-not-for-production"
).encode()

MAX_NAME_CHARS = 24
MAX_CHAT_CHARS = 500
MAX_ROOM_ID_CHARS = 64
MAX_HTTP_BODY = 16 * 1024
TOKEN_TTL_SECS = 24 * 60 * 60
GAMES = {"tictactoe": {"maxPlayers": 2}}

# ------------------------------------------------------------------ tokens
# A JWT (HS256) with sub (player id), name, iat and exp, made and checked with
# the standard library: stateless, byte for byte the node peer's scheme.


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def compact_json(value) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


JWT_HEADER = b64url(compact_json({"alg": "HS256", "typ": "JWT"}).encode())


def sign(data: str) -> bytes:
    return hmac.new(SECRET_KEY, data.encode("ascii"), hashlib.sha256).digest()


def issue_token(player: dict) -> str:
    now = int(time.time())
    claims = {"sub": player["id"], "name": player["name"], "iat": now, "exp": now + TOKEN_TTL_SECS}
    body = f"{JWT_HEADER}.{b64url(compact_json(claims).encode())}"
    return f"{body}.{b64url(sign(body))}"


def verify_token(token):
    """The player {id, name} a valid token names, or None."""
    if not isinstance(token, str) or len(token) > 4096 or not token.isascii():
        return None
    parts = token.split(".")
    if len(parts) != 3 or parts[0] != JWT_HEADER:
        return None
    try:
        given = b64url_decode(parts[2])
        if not hmac.compare_digest(given, sign(f"{parts[0]}.{parts[1]}")):
            return None
        claims = json.loads(b64url_decode(parts[1]))
    except ValueError:
        return None
    if not isinstance(claims, dict):
        return None
    sub, name, exp = claims.get("sub"), claims.get("name"), claims.get("exp")
    if not isinstance(sub, str) or not isinstance(name, str):
        return None
    if not isinstance(exp, (int, float)) or isinstance(exp, bool) or exp <= time.time():
        return None
    return {"id": sub, "name": name}


# ------------------------------------------------------------------ validation


class BadRequest(Exception):
    pass


def fields(payload, allowed):
    """Raises BadRequest unless `payload` is an object with only `allowed` keys."""
    if not isinstance(payload, dict):
        raise BadRequest("the payload must be a JSON object")
    for key in payload:
        if key not in allowed:
            raise BadRequest(f"unknown field `{key}`")
    return payload


def room_id_of(payload) -> str:
    room_id = payload.get("roomId")
    if not isinstance(room_id, str):
        raise BadRequest("`roomId` must be a string")
    if not 1 <= len(room_id) <= MAX_ROOM_ID_CHARS:
        raise BadRequest(f"`roomId` must be 1..{MAX_ROOM_ID_CHARS} characters")
    return room_id


def fail(code: str, message: str) -> dict:
    return {"ok": False, "error": {"code": code, "message": message}}


# ------------------------------------------------------------------ rooms
# Per process: a room exists from room:create until its last member leaves.
# Game play is in memory too: `seq` and the board live in the room record.

rooms: dict = {}  # room id -> record (see new_room)
sessions: dict = {}  # socket.io sid -> {"player": {id, name}, "memberships": {roomId: seat | None}}


def new_room(room_id: str, game: str) -> dict:
    return {
        "id": room_id,
        "game": game,
        "state": tictactoe.new_game(),  # board, turn, status, winner
        "seq": 0,  # of the room's last room:event
        # Held while a change is published: each emit awaits its sends, and
        # another request's events must not get between them (seq order).
        "lock": asyncio.Lock(),
        "players": [],  # [{id, name, seat, connected}], by seat
        "maxPlayers": GAMES[game]["maxPlayers"],
        "spectators": 0,
        "createdAt": int(time.time() * 1000),
        "members": 0,  # sockets in the room
    }


def room_info(room: dict) -> dict:
    return {
        "id": room["id"],
        "game": room["game"],
        "status": room["state"]["status"],
        "players": [dict(p) for p in room["players"]],
        "maxPlayers": room["maxPlayers"],
        "spectators": room["spectators"],
        "createdAt": room["createdAt"],
    }


def joined(room: dict, seat) -> dict:
    # The answer's `seq` is the room's latest and `state` the view at that
    # `seq`: the joiner then receives exactly the events after it.
    return {
        "ok": True,
        "room": room_info(room),
        "seat": seat,
        "seq": room["seq"],
        "state": tictactoe.view(room["state"]),
    }


async def publish(room: dict, events: list, skip_sid=None) -> None:
    """Numbers `events` and sends each as `room:event` to the sockets in the
    room but `skip_sid` (the library's room broadcast). Call it with the
    room's lock held."""
    for event in events:
        room["seq"] += 1
        push = {"roomId": room["id"], "seq": room["seq"], "event": event}
        await sio.emit("room:event", push, room=room["id"], skip_sid=skip_sid)


def take_seat(room: dict, player: dict):
    """Seats `player`, or gives back their seat. Returns the seat and the
    events a new seat makes (`player_joined`, then `game_started` when it was
    the last one); raises Refused when there is no seat to take."""
    for p in room["players"]:
        if p["id"] == player["id"]:
            p["connected"] = True
            return p["seat"], []
    if room["state"]["status"] == "finished":
        raise Refused("game_over", "the game is over; create or join another room")
    taken = {p["seat"] for p in room["players"]}
    for seat in range(room["maxPlayers"]):
        if seat not in taken:
            room["players"].append(
                {"id": player["id"], "name": player["name"], "seat": seat, "connected": True}
            )
            room["players"].sort(key=lambda p: p["seat"])
            events = [
                {
                    "type": "player_joined",
                    "player": {"id": player["id"], "name": player["name"], "seat": seat},
                }
            ]
            if len(room["players"]) == room["maxPlayers"]:
                events += tictactoe.start(room["state"])
            return seat, events
    raise Refused("room_full", "both seats are taken; join as a spectator")


def forget_membership(session: dict, room_id: str) -> None:
    """Updates the room record for a socket that is out of `room_id`."""
    seat = session["memberships"].pop(room_id)
    room = rooms.get(room_id)
    if room is None:
        return
    if seat is None:
        room["spectators"] = max(0, room["spectators"] - 1)
    else:
        for p in room["players"]:
            if p["seat"] == seat:
                p["connected"] = False
    room["members"] -= 1
    if room["members"] <= 0:
        del rooms[room_id]


async def enter(sid: str, session: dict, room: dict, role: str) -> dict:
    memberships = session["memberships"]
    async with room["lock"]:
        if room["id"] in memberships:
            # Already in: the same answer again, nothing taken twice.
            return joined(room, memberships[room["id"]])
        seat, events = None, []
        if role == "player":
            seat, events = take_seat(room, session["player"])
        else:
            room["spectators"] += 1
        room["members"] += 1
        memberships[room["id"]] = seat
        await sio.enter_room(sid, room["id"])
        # The joiner gets the events of its joining in its answer, not as
        # pushes (as from gamehub).
        await publish(room, events, skip_sid=sid)
        return joined(room, seat)


# ------------------------------------------------------------------ socket.io
# Default server options as a python-socketio user runs them: ping_interval
# 25 s, ping_timeout 20 s, max_http_buffer_size 1 MB, polling and websocket,
# same-origin CORS check. aiohttp's WebSocketResponse (compress=True) agrees
# to permessage-deflate when a client offers it; the load generator does not.

sio = socketio.AsyncServer(async_mode="aiohttp")


def event(name):
    """Registers a handler for `name` whose return value is the ack; bad
    payloads are answered `bad_request`, faults `internal`."""

    def register(handler):
        async def run(sid, *args):
            session = sessions.get(sid)
            if session is None:
                return fail("unauthorized", "not connected")
            try:
                return await handler(sid, session, args[0] if args else None)
            except BadRequest as e:
                return fail("bad_request", str(e))
            except Refused as e:
                return fail(e.code, e.message)
            except Exception as e:  # noqa: BLE001 - the contract's `internal`
                print(f"{name}: {e!r}", file=sys.stderr)
                return fail("internal", "internal error")

        sio.on(name, run)
        return handler

    return register


@sio.event
async def connect(sid, environ, auth=None):
    token = auth.get("token") if isinstance(auth, dict) else None
    player = verify_token(token)
    if player is None:
        raise socketio.exceptions.ConnectionRefusedError("unauthorized")
    sessions[sid] = {"player": player, "memberships": {}}


@sio.event
async def disconnect(sid, *_reason):
    session = sessions.pop(sid, None)
    if session is not None:
        for room_id in list(session["memberships"]):
            forget_membership(session, room_id)


@event("room:create")
async def room_create(sid, session, payload):
    fields(payload, ("game", "options"))
    game = payload.get("game")
    if not isinstance(game, str):
        raise BadRequest("`game` must be a string")
    if "options" in payload and not isinstance(payload["options"], dict):
        raise BadRequest("`options` must be an object")
    if game not in GAMES:
        raise BadRequest(f"unknown game `{game}`; this server hosts: {', '.join(GAMES)}")
    room = new_room(secrets.token_hex(8), game)
    rooms[room["id"]] = room
    return await enter(sid, session, room, "player")


@event("room:join")
async def room_join(sid, session, payload):
    fields(payload, ("roomId", "role"))
    room_id = room_id_of(payload)
    role = payload.get("role", "player")
    if role not in ("player", "spectator"):
        raise BadRequest('`role` must be "player" or "spectator"')
    room = rooms.get(room_id)
    if room is None:
        return fail("room_not_found", f"no room `{room_id}`")
    return await enter(sid, session, room, role)


@event("room:leave")
async def room_leave(sid, session, payload):
    fields(payload, ("roomId",))
    room_id = room_id_of(payload)
    if room_id not in session["memberships"]:
        return fail("not_in_room", f"not in room `{room_id}`")
    forget_membership(session, room_id)
    await sio.leave_room(sid, room_id)
    return {"ok": True}


@event("room:action")
async def room_action(sid, session, payload):
    fields(payload, ("roomId", "action"))
    room_id = room_id_of(payload)
    if "action" not in payload:
        raise BadRequest("missing field `action`")
    room = rooms.get(room_id)
    if room is None:
        return fail("room_not_found", f"no room `{room_id}`")
    # The seat comes from this socket's membership, never from the payload.
    if room_id not in session["memberships"]:
        return fail("not_in_room", f"not in room `{room_id}`")
    seat = session["memberships"][room_id]
    if seat is None:
        return fail("not_in_room", "only seated players can act; you watch as a spectator")
    action = payload["action"]
    if not isinstance(action, dict) or not isinstance(action.get("type"), str):
        raise BadRequest("`action` must be an object with a string `type`")
    async with room["lock"]:
        # Acknowledged once broadcast: nothing is stored (gamehub answers
        # after its commit).
        await publish(room, tictactoe.place(room["state"], seat, action))
        return {"ok": True, "seq": room["seq"]}


@event("room:chat")
async def room_chat(sid, session, payload):
    fields(payload, ("roomId", "text"))
    room_id = room_id_of(payload)
    text = payload.get("text")
    if not isinstance(text, str):
        raise BadRequest("`text` must be a string")
    if not 1 <= len(text) <= MAX_CHAT_CHARS:
        raise BadRequest(f"chat text must be 1..{MAX_CHAT_CHARS} characters (got {len(text)})")
    if room_id not in session["memberships"]:
        return fail("not_in_room", f"not in room `{room_id}`")
    line = {"roomId": room_id, "from": session["player"], "text": text, "ts": int(time.time() * 1000)}
    await sio.emit("room:chat", line, room=room_id)
    return {"ok": True}


# ------------------------------------------------------------------ HTTP


def bad(message: str) -> web.Response:
    return web.json_response({"error": {"code": "bad_request", "message": message}}, status=400)


async def guest_auth(request: web.Request) -> web.Response:
    raw = await request.content.read(MAX_HTTP_BODY + 1)
    if len(raw) > MAX_HTTP_BODY:
        return bad(f"the body is larger than {MAX_HTTP_BODY} bytes")
    try:
        body = json.loads(raw)
    except ValueError:
        return bad('the body must be JSON: {"name": string}')
    if not isinstance(body, dict) or not isinstance(body.get("name"), str):
        return bad("`name` must be a string")
    unknown = [k for k in body if k != "name"]
    if unknown:
        return bad(f"unknown field `{unknown[0]}`")
    name = body["name"].strip()
    if not name:
        return bad("name must not be empty")
    if len(name) > MAX_NAME_CHARS:
        return bad(f"name is {len(name)} characters long; at most {MAX_NAME_CHARS} are allowed")
    if any(unicodedata.category(c) == "Cc" for c in name):
        return bad("name must not contain control characters")
    player = {"id": uuid.uuid4().hex, "name": name}
    return web.json_response({"token": issue_token(player), "player": player})


async def live(_request: web.Request) -> web.Response:
    return web.json_response({"status": "live"})


# ------------------------------------------------------------------ start and stop


async def main() -> None:
    if os.environ.get("REDIS_URL"):
        print("REDIS_URL is not supported by the python peer (W4 runs against node only)", file=sys.stderr)
        sys.exit(2)
    try:
        port = int(os.environ.get("PORT") or "0")
        if not 0 <= port <= 65535:
            raise ValueError
    except ValueError:
        print(f"PORT must be 0..65535, got {os.environ.get('PORT')!r}", file=sys.stderr)
        sys.exit(2)

    app = web.Application()
    app.router.add_post("/api/v1/auth/guest", guest_auth)
    app.router.add_get("/health/live", live)
    sio.attach(app)

    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    family = socket.AF_INET6 if ":" in HOST else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((HOST, port))
    site = web.SockSite(runner, sock)
    await site.start()
    address, real_port = sock.getsockname()[:2]
    host = f"[{address}]" if ":" in address else address
    print(f"listening on http://{host}:{real_port}", flush=True)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    # Close the sockets, then the server; give up on a clean close after 3 s.
    try:
        await asyncio.wait_for(sio.shutdown(), 2)
        await asyncio.wait_for(runner.cleanup(), 1)
    except (asyncio.TimeoutError, Exception):  # noqa: BLE001 - exiting anyway
        pass


if __name__ == "__main__":
    asyncio.run(main())
