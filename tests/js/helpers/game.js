// Game-level helpers: players, tic-tac-toe rooms, moves, and assertions on
// acks and event streams.
import assert from "node:assert/strict";
import { ack, closeAll, connect, guest, http, waitUntil, WAIT_MS } from "./server.js";

let counter = 0;
/** A short unique display name (at most 24 characters). */
export function uniqueName(base) {
  counter += 1;
  return `${base.slice(0, 12)}-${process.pid % 1000}-${counter}`;
}

/** A guest player with a connected socket: {token, player, socket}. */
export async function newPlayer(url, base, connectOpts = {}) {
  const { token, player } = await guest(url, uniqueName(base));
  const socket = await connect(url, token, connectOpts);
  return { token, player, socket };
}

/** Assert an ok ack and return it. */
export function assertOk(res, what = "ack") {
  assert.equal(typeof res, "object", `${what}: ack is not an object: ${JSON.stringify(res)}`);
  assert.notEqual(res, null, `${what}: ack is null`);
  assert.equal(res.ok, true, `${what}: expected ok ack, got ${JSON.stringify(res)}`);
  return res;
}

/** Assert an error ack of exactly `{ok:false, error:{code, message}}` with a non-empty message. */
export function assertError(res, code, what = "ack") {
  assert.equal(typeof res, "object", `${what}: ack is not an object: ${JSON.stringify(res)}`);
  assert.notEqual(res, null, `${what}: ack is null`);
  assert.equal(res.ok, false, `${what}: expected error ${code}, got ${JSON.stringify(res)}`);
  assert.deepEqual(Object.keys(res).sort(), ["error", "ok"], `${what}: error ack keys: ${JSON.stringify(res)}`);
  assert.equal(res.error?.code, code, `${what}: expected code ${code}, got ${JSON.stringify(res)}`);
  assert.deepEqual(Object.keys(res.error).sort(), ["code", "message"], `${what}: error body keys: ${JSON.stringify(res)}`);
  assert.equal(typeof res.error.message, "string", `${what}: message must be a string`);
  assert.ok(res.error.message.trim().length > 0, `${what}: message must not be empty`);
  return res;
}

// ------------------------------------------------------------------ tictactoe

export const EMPTY_BOARD = Object.freeze([null, null, null, null, null, null, null, null, null]);

/** Expected tic-tac-toe events (the `event` part of a RoomEvent). */
export const ev = {
  joined: (player, seat) => ({ type: "player_joined", player: { id: player.id, name: player.name, seat } }),
  left: (seat) => ({ type: "player_left", seat }),
  started: () => ({ type: "game_started" }),
  placed: (seat, cell) => ({ type: "placed", seat, cell }),
  disconnected: (seat) => ({ type: "player_disconnected", seat }),
  reconnected: (seat) => ({ type: "player_reconnected", seat }),
  over: (winner, reason) => ({ type: "game_over", winner, reason }),
};

/** Wrap event bodies as RoomEvents with consecutive seqs starting at `first`. */
export function roomEvents(roomId, first, bodies) {
  return bodies.map((event, i) => ({ roomId, seq: first + i, event }));
}

/**
 * The events a tic-tac-toe room records when `p0` (seat 0) wins on the top row
 * with the moves 0, 3, 1, 4, 2: the game most tests play.
 */
export function topRowWinHistory(roomId, p0, p1) {
  return roomEvents(roomId, 1, [
    ev.joined(p0, 0),
    ev.joined(p1, 1),
    ev.started(),
    ev.placed(0, 0),
    ev.placed(1, 3),
    ev.placed(0, 1),
    ev.placed(1, 4),
    ev.placed(0, 2),
    ev.over(0, "line"),
  ]);
}

/** A board from a {cell: seat} map. */
export function board(marks) {
  const b = [...EMPTY_BOARD];
  for (const [cell, seat] of Object.entries(marks)) b[Number(cell)] = seat;
  return b;
}

/** Check a RoomInfo's shape and, optionally, some of its values. */
export function assertRoomInfo(room, expect = {}) {
  assert.equal(typeof room, "object");
  assert.equal(typeof room.id, "string");
  assert.ok(room.id.length > 0, "room id must not be empty");
  assert.equal(room.game, expect.game ?? "tictactoe");
  assert.ok(["waiting", "playing", "finished"].includes(room.status), `bad status ${room.status}`);
  assert.ok(Array.isArray(room.players), "players must be an array");
  for (const p of room.players) {
    assert.equal(typeof p.id, "string");
    assert.equal(typeof p.name, "string");
    assert.equal(typeof p.seat, "number");
    assert.equal(typeof p.connected, "boolean");
  }
  assert.equal(typeof room.maxPlayers, "number");
  assert.equal(typeof room.spectators, "number");
  assert.equal(typeof room.createdAt, "number", "createdAt must be a number (ms since epoch)");
  if (expect.id !== undefined) assert.equal(room.id, expect.id);
  if (expect.status !== undefined) assert.equal(room.status, expect.status);
  if (expect.maxPlayers !== undefined) assert.equal(room.maxPlayers, expect.maxPlayers);
  if (expect.spectators !== undefined) assert.equal(room.spectators, expect.spectators);
  if (expect.players !== undefined) {
    const got = [...room.players].sort((x, y) => x.seat - y.seat);
    assert.deepEqual(got, expect.players);
  }
  return room;
}

/** The `players` entry RoomInfo should list. */
export function seated(player, seat, connected = true) {
  return { id: player.id, name: player.name, seat, connected };
}

/** `room:create` a tic-tac-toe room; returns the ok ack. */
export async function createRoom(socket, extra = {}) {
  return assertOk(await ack(socket, "room:create", { game: "tictactoe", ...extra }), "room:create");
}

/** `room:join`; returns the ok ack. */
export async function joinRoom(socket, roomId, role) {
  const payload = role === undefined ? { roomId } : { roomId, role };
  return assertOk(await ack(socket, "room:join", payload), `room:join ${JSON.stringify(payload)}`);
}

/** `room:action` place; returns the raw ack. */
export function place(socket, roomId, cell) {
  return ack(socket, "room:action", { roomId, action: { type: "place", cell } });
}

/** `room:sync` from `sinceSeq`; returns the events of an ok ack. */
export async function syncEvents(socket, roomId, sinceSeq = 0) {
  const res = assertOk(await ack(socket, "room:sync", { roomId, sinceSeq }), "room:sync");
  assert.ok(Array.isArray(res.events), `room:sync answered without events: ${JSON.stringify(res)}`);
  return res.events;
}

/**
 * Two fresh players: A creates a tic-tac-toe room, B joins it; the game has
 * started (seq 3). Returns {a, b, roomId, created, joined}.
 */
export async function startGame(url, connectOpts = {}) {
  const a = await newPlayer(url, "alice", connectOpts);
  const b = await newPlayer(url, "bob", connectOpts);
  const created = await createRoom(a.socket);
  const roomId = created.room.id;
  const joined = await joinRoom(b.socket, roomId);
  assert.equal(joined.seat, 1, "second player gets seat 1");
  return { a, b, roomId, created, joined };
}

/**
 * Play `cells` alternately, seat 0 first (`movers[i % 2]` places `cells[i]`),
 * asserting each ack is ok with the next seq. Returns the acks.
 */
export async function playMoves(movers, roomId, cells, firstSeq) {
  const acks = [];
  let seq = firstSeq;
  for (let i = 0; i < cells.length; i++) {
    const res = assertOk(await place(movers[i % 2], roomId, cells[i]), `place cell ${cells[i]}`);
    acks.push(res);
    if (seq !== undefined) {
      const isLast = i === cells.length - 1;
      // The last move may end the game: its ack carries the game_over's seq.
      if (!isLast) assert.equal(res.seq, seq, `ack seq of move ${i} (cell ${cells[i]})`);
      seq += 1;
    }
  }
  return acks;
}

/**
 * Assert a socket's recorded events of a room are strictly increasing by seq,
 * that every one equals the history entry with that seq, and that every event
 * of the history with seq > afterSeq was received.
 */
export function assertStream(recorded, roomId, history, afterSeq, who = "socket") {
  const mine = recorded.filter((e) => e.roomId === roomId);
  for (let i = 1; i < mine.length; i++) {
    assert.ok(
      mine[i].seq > mine[i - 1].seq,
      `${who}: room:event seqs must rise (no duplicate, in order): ${mine.map((e) => e.seq).join(",")}`,
    );
  }
  const bySeq = new Map(history.map((e) => [e.seq, e]));
  for (const e of mine) {
    assert.deepEqual(e, bySeq.get(e.seq), `${who}: room:event seq ${e.seq} differs from history`);
  }
  assert.deepEqual(
    mine.filter((e) => e.seq > afterSeq),
    history.filter((e) => e.seq > afterSeq),
    `${who}: events after seq ${afterSeq}`,
  );
}

/** The seqs must be 1..n with no gap. */
export function assertContiguous(events, first = 1) {
  events.forEach((e, i) => assert.equal(e.seq, first + i, `seq gap at index ${i}: ${events.map((x) => x.seq).join(",")}`));
}

/** Leaderboard entry of a player (polls briefly: results may be written just after game_over). */
export async function leaderboardEntry(url, playerId, pred = () => true) {
  let last;
  try {
    return await waitUntil(
      async () => {
        const res = await http(url, "/api/v1/leaderboard?game=tictactoe&limit=100");
        assert.equal(res.status, 200, `leaderboard status ${res.status}: ${res.text}`);
        assert.ok(Array.isArray(res.json?.entries), `leaderboard body: ${res.text}`);
        last = res.json.entries.find((e) => e.player?.id === playerId);
        return last && pred(last) ? last : undefined;
      },
      { timeout: 3000, what: `leaderboard entry of ${playerId}` },
    );
  } catch (e) {
    if (last) return last; // let the caller's assertion report the difference
    throw e;
  }
}

export { WAIT_MS };

/**
 * The short game most transport tests play: two players through `url` (A
 * creates, B joins, A wins on the top row), with acks, pushed events, sync
 * and chat checked. `checkTransport(socketA, socketB)` runs first when given.
 * Returns {roomId, a, b}; the sockets are closed.
 */
export async function playShortGame(url, connectOpts, checkTransport) {
  const a = await newPlayer(url, "alice", connectOpts);
  const b = await newPlayer(url, "bob", connectOpts);
  try {
    if (checkTransport) await checkTransport(a.socket, b.socket);
    const created = await createRoom(a.socket);
    const roomId = created.room.id;
    assert.equal(created.seat, 0);
    assert.equal(created.seq, 1);
    assert.deepEqual(created.state, { board: [...EMPTY_BOARD], turn: 0, status: "waiting" });
    const joined = await joinRoom(b.socket, roomId);
    assert.equal(joined.seat, 1);
    assert.equal(joined.seq, 3);
    assert.deepEqual(joined.state, { board: [...EMPTY_BOARD], turn: 0, status: "playing" });

    const acks = await playMoves([a.socket, b.socket], roomId, [0, 3, 1, 4, 2], 4);
    assert.deepEqual(acks.at(-1), { ok: true, seq: 9 });
    assertError(await place(b.socket, roomId, 8), "game_over");

    const expected = topRowWinHistory(roomId, a.player, b.player);
    assert.deepEqual(await syncEvents(b.socket, roomId, 0), expected);
    await a.socket.rec.waitSeq(roomId, 9);
    await b.socket.rec.waitSeq(roomId, 9);
    assertStream(a.socket.rec.events, roomId, expected, 1, "seat 0");
    assertStream(b.socket.rec.events, roomId, expected, 3, "seat 1");

    assert.deepEqual(await ack(b.socket, "room:chat", { roomId, text: "gg" }), { ok: true });
    await waitUntil(() => a.socket.rec.chats.length === 1, { what: "chat line" });
    assert.equal(a.socket.rec.chats[0].text, "gg");
    assert.deepEqual(a.socket.rec.chats[0].from, { id: b.player.id, name: b.player.name });
    return { roomId, a, b };
  } finally {
    closeAll(a.socket, b.socket);
  }
}
