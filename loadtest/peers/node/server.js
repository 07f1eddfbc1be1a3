#!/usr/bin/env node
// Benchmark peer for gamehub: socket.io 4.8 on Node.js, implementing only the
// subset of the wire contract (shared/design/protocol-v1.md) that the load
// generator's workloads use: guest tokens over HTTP, the token check at
// connect, room:create / room:join / room:chat / room:leave, and tic-tac-toe
// play (room:action, room:event pushes numbered by `seq`) with the contract's
// payloads, acks and error codes. In memory only: an ack is not durable.
// See ../README.md.
//
// Environment:
//   PORT          port to listen on; 0 (default) picks a free one
//   HOST          address to listen on (default 127.0.0.1)
//   REDIS_URL     optional: share rooms with other instances through
//                 @socket.io/redis-adapter (W4, cluster)
//   REDIS_PREFIX  optional: the adapter's key prefix (default "socket.io"),
//                 so that concurrent runs on one Redis do not hear each other
//   SECRET_KEY    optional: HMAC key of the guest tokens (a fixed default, so
//                 that two instances accept each other's tokens)
//
// On listening it prints exactly one line to stdout:
//   listening on http://HOST:PORT
"use strict";

const http = require("node:http");
const crypto = require("node:crypto");
const { Server } = require("socket.io");
const tictactoe = require("./tictactoe");

const { Refused } = tictactoe;

const HOST = process.env.HOST || "127.0.0.1";
const PORT = Number.parseInt(process.env.PORT || "0", 10);
const REDIS_URL = process.env.REDIS_URL || "";
const REDIS_PREFIX = process.env.REDIS_PREFIX || "socket.io";
const SECRET_KEY =
  process.env.SECRET_KEY || "gamehub-benchmark-peer-secret-not-for-production";
const CLUSTER = REDIS_URL !== "";

const MAX_NAME_CHARS = 24;
const MAX_CHAT_CHARS = 500;
const MAX_ROOM_ID_CHARS = 64;
const MAX_HTTP_BODY = 16 * 1024;
const TOKEN_TTL_SECS = 24 * 60 * 60;
const GAMES = { tictactoe: { maxPlayers: 2 } };

if (!Number.isInteger(PORT) || PORT < 0 || PORT > 65535) {
  console.error(`PORT must be 0..65535, got ${JSON.stringify(process.env.PORT)}`);
  process.exit(2);
}

// ------------------------------------------------------------------ tokens
// A JWT (HS256) with sub (player id), name, iat and exp, made and checked with
// node:crypto alone: stateless, so any instance with the same SECRET_KEY
// accepts a token another issued (W4), and the same work per connect as
// gamehub's jsonwebtoken check.

const b64url = (buf) => Buffer.from(buf).toString("base64url");
const JWT_HEADER = b64url(JSON.stringify({ alg: "HS256", typ: "JWT" }));

function sign(input) {
  return crypto.createHmac("sha256", SECRET_KEY).update(input).digest();
}

function issueToken(player) {
  const now = Math.floor(Date.now() / 1000);
  const claims = { sub: player.id, name: player.name, iat: now, exp: now + TOKEN_TTL_SECS };
  const body = `${JWT_HEADER}.${b64url(JSON.stringify(claims))}`;
  return `${body}.${b64url(sign(body))}`;
}

/** The player `{id, name}` a valid token names, or null. */
function verifyToken(token) {
  if (typeof token !== "string" || token.length > 4096) return null;
  const parts = token.split(".");
  if (parts.length !== 3 || parts[0] !== JWT_HEADER) return null;
  const expected = sign(`${parts[0]}.${parts[1]}`);
  const given = Buffer.from(parts[2], "base64url");
  if (given.length !== expected.length || !crypto.timingSafeEqual(given, expected)) return null;
  let claims;
  try {
    claims = JSON.parse(Buffer.from(parts[1], "base64url").toString("utf8"));
  } catch {
    return null;
  }
  if (!claims || typeof claims.sub !== "string" || typeof claims.name !== "string") return null;
  if (typeof claims.exp !== "number" || claims.exp <= Date.now() / 1000) return null;
  return { id: claims.sub, name: claims.name };
}

// ------------------------------------------------------------------ validation

const charCount = (s) => {
  let n = 0;
  for (const _ of s) n++; // code points, as Rust's chars().count()
  return n;
};
// Same set as Rust's char::is_control (Unicode Cc).
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

const isObject = (v) => v !== null && typeof v === "object" && !Array.isArray(v);

class BadRequest extends Error {}

/** Throws BadRequest unless `payload` is an object with only `allowed` keys. */
function fields(payload, allowed) {
  if (!isObject(payload)) throw new BadRequest("the payload must be a JSON object");
  for (const key of Object.keys(payload)) {
    if (!allowed.includes(key)) throw new BadRequest(`unknown field \`${key}\``);
  }
  return payload;
}

function roomIdOf(payload) {
  const id = payload.roomId;
  if (typeof id !== "string") throw new BadRequest("`roomId` must be a string");
  if (id.length === 0 || id.length > MAX_ROOM_ID_CHARS) {
    throw new BadRequest(`\`roomId\` must be 1..${MAX_ROOM_ID_CHARS} characters`);
  }
  return id;
}

const fail = (code, message) => ({ ok: false, error: { code, message } });

// ------------------------------------------------------------------ rooms
// Room records are per process. Single mode: a room exists from room:create
// until its last local member leaves. Cluster mode: a room created on another
// instance gets a local record on first join (this peer keeps no cluster-wide
// room directory; the broadcast itself goes through the Redis adapter). Game
// play is per process too: `seq` and the board are this instance's own.

/**
 * roomId -> {id, game, state, seq, players: [{id,name,seat,connected}],
 *            maxPlayers, spectators, createdAt, members}
 */
const rooms = new Map();

function newRoom(id, game) {
  return {
    id,
    game,
    state: tictactoe.newGame(), // board, turn, status, winner
    seq: 0, // of the room's last room:event
    players: [],
    maxPlayers: GAMES[game].maxPlayers,
    spectators: 0,
    createdAt: Date.now(),
    members: 0, // local sockets in the room
  };
}

function roomInfo(room) {
  return {
    id: room.id,
    game: room.game,
    status: room.state.status,
    players: room.players.map((p) => ({ id: p.id, name: p.name, seat: p.seat, connected: p.connected })),
    maxPlayers: room.maxPlayers,
    spectators: room.spectators,
    createdAt: room.createdAt,
  };
}

// The answer's `seq` is the room's latest and `state` the view at that `seq`:
// the joiner then receives exactly the events after it.
function joined(room, seat) {
  return { ok: true, room: roomInfo(room), seat, seq: room.seq, state: tictactoe.view(room.state) };
}

/**
 * Numbers `events` and sends each as `room:event` to the sockets in the room
 * (the library's room broadcast). Everything here is synchronous, so the
 * pushes of one change go out in `seq` order, before the request's ack.
 */
function publish(room, events) {
  for (const event of events) {
    room.seq += 1;
    io.to(room.id).emit("room:event", { roomId: room.id, seq: room.seq, event });
  }
}

/**
 * Seats `player`, or gives back their seat; returns the seat, throws Refused
 * when there is none to take. A new seat is announced (`player_joined`, then
 * `game_started` when it was the last one) before the joining socket is in
 * the socket.io room, so it gets those events in its answer only, as from
 * gamehub.
 */
function takeSeat(room, player) {
  const own = room.players.find((p) => p.id === player.id);
  if (own) {
    own.connected = true;
    return own.seat;
  }
  if (room.state.status === "finished") {
    throw new Refused("game_over", "the game is over; create or join another room");
  }
  for (let seat = 0; seat < room.maxPlayers; seat++) {
    if (!room.players.some((p) => p.seat === seat)) {
      room.players.push({ id: player.id, name: player.name, seat, connected: true });
      room.players.sort((a, b) => a.seat - b.seat);
      publish(room, [{ type: "player_joined", player: { id: player.id, name: player.name, seat } }]);
      if (room.players.length === room.maxPlayers) publish(room, tictactoe.start(room.state));
      return seat;
    }
  }
  throw new Refused("room_full", "both seats are taken; join as a spectator");
}

/** Takes `socket` out of `roomId` (socket.io room and local record). */
function leaveRoom(socket, roomId) {
  const memberships = socket.data.memberships;
  const seat = memberships.get(roomId);
  memberships.delete(roomId);
  socket.leave(roomId);
  const room = rooms.get(roomId);
  if (!room) return;
  if (seat === null) {
    room.spectators = Math.max(0, room.spectators - 1);
  } else {
    const p = room.players.find((q) => q.seat === seat);
    if (p) p.connected = false;
  }
  room.members -= 1;
  if (room.members <= 0) rooms.delete(roomId);
}

function enter(socket, room, role) {
  const memberships = socket.data.memberships;
  if (memberships.has(room.id)) {
    // Already in: the same answer again, nothing taken twice.
    return joined(room, memberships.get(room.id));
  }
  let seat = null;
  if (role === "player") {
    seat = takeSeat(room, socket.data.player);
  } else {
    room.spectators += 1;
  }
  room.members += 1;
  memberships.set(room.id, seat);
  socket.join(room.id);
  return joined(room, seat);
}

// ------------------------------------------------------------------ handlers

const handlers = {
  "room:create"(socket, payload) {
    fields(payload, ["game", "options"]);
    if (typeof payload.game !== "string") throw new BadRequest("`game` must be a string");
    if (payload.options !== undefined && !isObject(payload.options)) {
      throw new BadRequest("`options` must be an object");
    }
    if (!Object.hasOwn(GAMES, payload.game)) {
      throw new BadRequest(
        `unknown game \`${payload.game}\`; this server hosts: ${Object.keys(GAMES).join(", ")}`,
      );
    }
    const room = newRoom(crypto.randomBytes(8).toString("hex"), payload.game);
    rooms.set(room.id, room);
    return enter(socket, room, "player");
  },

  "room:join"(socket, payload) {
    fields(payload, ["roomId", "role"]);
    const roomId = roomIdOf(payload);
    const role = payload.role === undefined ? "player" : payload.role;
    if (role !== "player" && role !== "spectator") {
      throw new BadRequest('`role` must be "player" or "spectator"');
    }
    let room = rooms.get(roomId);
    if (!room) {
      if (!CLUSTER) return fail("room_not_found", `no room \`${roomId}\``);
      room = newRoom(roomId, "tictactoe");
      rooms.set(roomId, room);
    }
    return enter(socket, room, role);
  },

  "room:leave"(socket, payload) {
    fields(payload, ["roomId"]);
    const roomId = roomIdOf(payload);
    if (!socket.data.memberships.has(roomId)) return fail("not_in_room", `not in room \`${roomId}\``);
    leaveRoom(socket, roomId);
    return { ok: true };
  },

  "room:action"(socket, payload) {
    fields(payload, ["roomId", "action"]);
    const roomId = roomIdOf(payload);
    if (payload.action === undefined) throw new BadRequest("missing field `action`");
    const room = rooms.get(roomId);
    if (!room) return fail("room_not_found", `no room \`${roomId}\``);
    // The seat comes from this socket's membership, never from the payload.
    const seat = socket.data.memberships.get(roomId);
    if (seat === undefined) return fail("not_in_room", `not in room \`${roomId}\``);
    if (seat === null) return fail("not_in_room", "only seated players can act; you watch as a spectator");
    const action = payload.action;
    if (!isObject(action) || typeof action.type !== "string") {
      throw new BadRequest("`action` must be an object with a string `type`");
    }
    // Acknowledged at once: nothing is stored (gamehub answers after its commit).
    publish(room, tictactoe.place(room.state, seat, action));
    return { ok: true, seq: room.seq };
  },

  "room:chat"(socket, payload) {
    fields(payload, ["roomId", "text"]);
    const roomId = roomIdOf(payload);
    const text = payload.text;
    if (typeof text !== "string") throw new BadRequest("`text` must be a string");
    const chars = text.length <= MAX_CHAT_CHARS ? text.length : charCount(text);
    if (chars === 0 || chars > MAX_CHAT_CHARS) {
      throw new BadRequest(`chat text must be 1..${MAX_CHAT_CHARS} characters (got ${chars})`);
    }
    if (!socket.data.memberships.has(roomId)) return fail("not_in_room", `not in room \`${roomId}\``);
    io.to(roomId).emit("room:chat", { roomId, from: socket.data.player, text, ts: Date.now() });
    return { ok: true };
  },
};

// ------------------------------------------------------------------ HTTP

function sendJson(res, status, body) {
  const data = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(data) });
  res.end(data);
}

function guestAuth(req, res) {
  const chunks = [];
  let size = 0;
  let tooLarge = false;
  req.on("data", (chunk) => {
    size += chunk.length;
    if (size > MAX_HTTP_BODY) tooLarge = true;
    else chunks.push(chunk);
  });
  req.on("end", () => {
    const bad = (message) => sendJson(res, 400, { error: { code: "bad_request", message } });
    if (tooLarge) return bad(`the body is larger than ${MAX_HTTP_BODY} bytes`);
    let body;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString("utf8"));
    } catch {
      return bad("the body must be JSON: {\"name\": string}");
    }
    if (!isObject(body) || typeof body.name !== "string") return bad("`name` must be a string");
    const unknown = Object.keys(body).find((k) => k !== "name");
    if (unknown !== undefined) return bad(`unknown field \`${unknown}\``);
    const name = body.name.trim();
    const chars = charCount(name);
    if (chars === 0) return bad("name must not be empty");
    if (chars > MAX_NAME_CHARS) {
      return bad(`name is ${chars} characters long; at most ${MAX_NAME_CHARS} are allowed`);
    }
    if (CONTROL.test(name)) return bad("name must not contain control characters");
    const player = { id: crypto.randomUUID().replaceAll("-", ""), name };
    sendJson(res, 200, { token: issueToken(player), player });
  });
}

const httpServer = http.createServer((req, res) => {
  const path = (req.url || "/").split("?", 1)[0];
  if (path === "/api/v1/auth/guest") {
    if (req.method !== "POST") return sendJson(res, 405, { error: { code: "bad_request", message: "use POST" } });
    return guestAuth(req, res);
  }
  if (path === "/health/live" && (req.method === "GET" || req.method === "HEAD")) {
    return sendJson(res, 200, { status: "live" });
  }
  res.writeHead(404, { "content-length": 0 });
  res.end();
});

// ------------------------------------------------------------------ socket.io
// Default server options (pingInterval 25 s, pingTimeout 20 s, maxHttpBufferSize
// 1 MB, perMessageDeflate off, polling and websocket), as a Node user runs it;
// only the bundled browser client is not served.

const io = new Server(httpServer, { serveClient: false });

io.use((socket, next) => {
  const auth = socket.handshake.auth;
  const player = verifyToken(auth && auth.token);
  if (!player) return next(new Error("unauthorized"));
  socket.data.player = player;
  socket.data.memberships = new Map(); // roomId -> seat (null for a spectator)
  next();
});

io.on("connection", (socket) => {
  for (const [event, handler] of Object.entries(handlers)) {
    socket.on(event, (...args) => {
      const ack = typeof args[args.length - 1] === "function" ? args.pop() : null;
      let answer;
      try {
        answer = handler(socket, args[0]);
      } catch (e) {
        if (e instanceof BadRequest) answer = fail("bad_request", e.message);
        else if (e instanceof Refused) answer = fail(e.code, e.message);
        else {
          answer = fail("internal", "internal error");
          console.error(`${event}:`, e);
        }
      }
      if (ack) ack(answer);
    });
  }
  socket.on("disconnect", () => {
    for (const roomId of [...socket.data.memberships.keys()]) leaveRoom(socket, roomId);
  });
});

// ------------------------------------------------------------------ start and stop

let redisClients = [];

async function start() {
  if (CLUSTER) {
    const { createClient } = require("redis");
    const { createAdapter } = require("@socket.io/redis-adapter");
    const pub = createClient({ url: REDIS_URL });
    const sub = pub.duplicate();
    for (const c of [pub, sub]) c.on("error", (e) => console.error("redis:", e.message));
    await Promise.all([pub.connect(), sub.connect()]);
    redisClients = [pub, sub];
    io.adapter(createAdapter(pub, sub, { key: REDIS_PREFIX }));
  }
  await new Promise((resolve, reject) => {
    httpServer.once("error", reject);
    httpServer.listen(PORT, HOST, resolve);
  });
  const { address, port } = httpServer.address();
  const host = address.includes(":") ? `[${address}]` : address;
  process.stdout.write(`listening on http://${host}:${port}\n`);
}

let stopping = false;
function stop() {
  if (stopping) return;
  stopping = true;
  // Give up on a clean close after 3 s (many sockets, or Redis gone).
  setTimeout(() => process.exit(0), 3000).unref();
  io.close(async () => {
    await Promise.allSettled(redisClients.map((c) => c.quit()));
    process.exit(0);
  });
}
process.on("SIGTERM", stop);
process.on("SIGINT", stop);

start().catch((e) => {
  console.error("cannot start:", e && e.message ? e.message : e);
  process.exit(1);
});
