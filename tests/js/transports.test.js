// The same short game over each transport, and with the msgpack parser.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import msgpackParser from "socket.io-msgpack-parser";
import { ack, closeAll, connect, guest, http, nextEvent, startServer, waitUntil } from "./helpers/server.js";
import {
  assertError,
  assertStream,
  createRoom,
  EMPTY_BOARD,
  ev,
  joinRoom,
  newPlayer,
  place,
  playMoves,
  roomEvents,
  syncEvents,
  topRowWinHistory,
} from "./helpers/game.js";

/** Create, join, play A 0, B 3, A 1, B 4, A 2; check acks, events and chat. */
async function shortGame(url, connectOpts, expectTransport) {
  const a = await newPlayer(url, "alice", connectOpts);
  const b = await newPlayer(url, "bob", connectOpts);
  try {
    if (expectTransport) await expectTransport(a.socket, b.socket);
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
    return { a, b };
  } finally {
    closeAll(a.socket, b.socket);
  }
}

describe("transports (JSON parser)", () => {
  let server;
  before(async () => {
    server = await startServer();
  });
  after(async () => server?.stop());

  test("WebSocket only", async () => {
    await shortGame(server.url, { transports: ["websocket"] }, async (...socks) => {
      for (const s of socks) assert.equal(s.io.engine.transport.name, "websocket");
    });
  });

  test("HTTP long-polling only", async () => {
    await shortGame(server.url, { transports: ["polling"], upgrade: false }, async (...socks) => {
      for (const s of socks) assert.equal(s.io.engine.transport.name, "polling");
    });
  });

  test("polling with upgrade to WebSocket (the client default)", async () => {
    await shortGame(server.url, { transports: ["polling", "websocket"] }, async (...socks) => {
      for (const s of socks) {
        if (s.io.engine.transport.name !== "websocket") {
          await nextEvent(s.io.engine, "upgrade", () => true, 5000);
        }
        assert.equal(s.io.engine.transport.name, "websocket", "upgraded to websocket");
      }
    });
  });

  for (const [transports, n] of [[["websocket"], 300], [["polling"], 100]]) {
    test(`an event emitted as soon as "connect" fires is answered (${transports[0]}, ${n} fresh connections)`, async () => {
      // A client may emit from its "connect" handler: the server must have its
      // handlers in place by then, or the event is silently dropped. The race
      // is timing-dependent, hence many fresh players and connections.
      const missed = [];
      for (let i = 0; i < n && missed.length < 3; i++) {
        const { token } = await guest(server.url, `eager${i}`);
        const s = await connect(server.url, token, { transports, upgrade: false });
        try {
          const res = await ack(s, "lobby:list", {}, 2000);
          assert.equal(res.ok, true, JSON.stringify(res));
        } catch (e) {
          missed.push(`connection ${i}: ${e.message}`);
        } finally {
          s.close();
        }
      }
      assert.deepEqual(missed, [], "the first event of a fresh connection got no ack");
    });
  }

  test("a polling player and a WebSocket player share a room", async () => {
    const a = await newPlayer(server.url, "poll", { transports: ["polling"], upgrade: false });
    const b = await newPlayer(server.url, "ws", { transports: ["websocket"] });
    try {
      const roomId = (await createRoom(a.socket)).room.id;
      await joinRoom(b.socket, roomId);
      await playMoves([a.socket, b.socket], roomId, [4, 0, 8], 4);
      await a.socket.rec.waitSeq(roomId, 6);
      await b.socket.rec.waitSeq(roomId, 6);
      const history = await syncEvents(a.socket, roomId, 0);
      assertStream(a.socket.rec.events, roomId, history, 1, "polling");
      assertStream(b.socket.rec.events, roomId, history, 3, "websocket");
      assert.equal(a.socket.io.engine.transport.name, "polling");
    } finally {
      closeAll(a.socket, b.socket);
    }
  });
});

describe("msgpack parser (SOCKETIO_PARSER=msgpack)", () => {
  let server;
  before(async () => {
    server = await startServer({ SOCKETIO_PARSER: "msgpack" });
  });
  after(async () => server?.stop());

  test("a game over WebSocket with socket.io-msgpack-parser", async () => {
    await shortGame(server.url, { parser: msgpackParser, transports: ["websocket"] });
  });

  test("a game over long-polling with socket.io-msgpack-parser", async () => {
    await shortGame(server.url, { parser: msgpackParser, transports: ["polling"], upgrade: false });
  });

  test("error acks and auth work the same with msgpack", async () => {
    const a = await newPlayer(server.url, "packer", { parser: msgpackParser });
    try {
      const roomId = (await createRoom(a.socket)).room.id;
      assertError(await ack(a.socket, "room:action", { roomId, action: { type: "place", cell: "x" } }), "bad_request");
      assertError(await place(a.socket, roomId, 4), "invalid_action");
      assertError(await ack(a.socket, "room:join", { roomId: "missing-room" }), "room_not_found");
      assertError(await ack(a.socket, "room:join", [roomId]), "bad_request");
      // No payload at all reads as {} where that is a valid request, as with JSON.
      const bare = await a.socket.timeout(5000).emitWithAck("lobby:list");
      assert.equal(bare.ok, true, JSON.stringify(bare));
      assert.ok(bare.rooms.some((r) => r.id === roomId));
    } finally {
      closeAll(a.socket);
    }
    const { io } = await import("socket.io-client");
    const s = io(server.url, { forceNew: true, reconnection: false, transports: ["websocket"], parser: msgpackParser, auth: { token: "forged" } });
    try {
      const err = await nextEvent(s, "connect_error");
      assert.equal(err.message, "unauthorized");
    } finally {
      s.close();
    }
    // HTTP stays JSON.
    const res = await http(server.url, "/api/v1/rooms");
    assert.equal(res.status, 200);
    assert.ok(Array.isArray(res.json.rooms));
    assert.ok((await guest(server.url, "still-json")).token);
  });
});
