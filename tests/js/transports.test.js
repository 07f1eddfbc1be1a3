// The same short game over each transport, and with the msgpack parser.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import msgpackParser from "socket.io-msgpack-parser";
import { ack, closeAll, connect, guest, http, nextEvent, startServer } from "./helpers/server.js";
import {
  assertError,
  assertStream,
  createRoom,
  joinRoom,
  newPlayer,
  place,
  playMoves,
  playShortGame,
  syncEvents,
} from "./helpers/game.js";

describe("transports (JSON parser)", () => {
  let server;
  before(async () => {
    server = await startServer();
  });
  after(async () => server?.stop());

  test("WebSocket only", async () => {
    await playShortGame(server.url, { transports: ["websocket"] }, async (...socks) => {
      for (const s of socks) assert.equal(s.io.engine.transport.name, "websocket");
    });
  });

  test("HTTP long-polling only", async () => {
    await playShortGame(server.url, { transports: ["polling"], upgrade: false }, async (...socks) => {
      for (const s of socks) assert.equal(s.io.engine.transport.name, "polling");
    });
  });

  test("polling with upgrade to WebSocket (the client default)", async () => {
    await playShortGame(server.url, { transports: ["polling", "websocket"] }, async (...socks) => {
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
    await playShortGame(server.url, { parser: msgpackParser, transports: ["websocket"] });
  });

  test("a game over long-polling with socket.io-msgpack-parser", async () => {
    await playShortGame(server.url, { parser: msgpackParser, transports: ["polling"], upgrade: false });
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
