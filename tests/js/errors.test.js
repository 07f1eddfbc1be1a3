// The error table, case by case: exact code, well-formed error ack, nothing
// changed, nobody else affected.
//
// Not covered here: `internal` (a server fault; see server/tests/storage_faults.rs
// for a failing disk) and `unavailable` (the owning instance of a room cannot be
// reached; see cluster.test.js).
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { ack, ackArgs, closeAll, sleep, startServer } from "./helpers/server.js";
import {
  assertError,
  assertOk,
  createRoom,
  joinRoom,
  newPlayer,
  place,
  playMoves,
  startGame,
  syncEvents,
} from "./helpers/game.js";

describe("error acks", () => {
  let server;
  let url;
  let game; // {a, b, roomId}: a game in progress, A (seat 0) to move, B's move at 3 done
  let history; // its events, as room:sync from 0 returned them before any bad input
  let spectator;
  let outsider; // connected, in no room
  let waitingRoom; // {owner, roomId}: a room with one seated player
  let finished; // {a, b, roomId}: a finished game
  const all = [];

  before(async () => {
    server = await startServer();
    url = server.url;
    game = await startGame(url);
    assertOk(await place(game.a.socket, game.roomId, 0));
    assertOk(await place(game.b.socket, game.roomId, 3));
    spectator = await newPlayer(url, "spectator");
    await joinRoom(spectator.socket, game.roomId, "spectator");
    outsider = await newPlayer(url, "outsider");
    const owner = await newPlayer(url, "owner");
    waitingRoom = { owner, roomId: (await createRoom(owner.socket)).room.id };
    finished = await startGame(url);
    await playMoves([finished.a.socket, finished.b.socket], finished.roomId, [0, 3, 1, 4, 2], 4);
    history = await syncEvents(game.a.socket, game.roomId, 0);
    assert.equal(history.length, 5);
    all.push(game.a.socket, game.b.socket, spectator.socket, outsider.socket, owner.socket, finished.a.socket, finished.b.socket);
  });

  after(async () => {
    closeAll(all);
    await server?.stop();
  });

  const action = (a) => ({ roomId: game.roomId, action: a });

  describe("room:action payloads", () => {
    const cases = [
      ["no payload at all", () => [], "bad_request"],
      ["a string payload", () => ["place 0"], "bad_request"],
      ["a number payload", () => [42], "bad_request"],
      ["a null payload", () => [null], "bad_request"],
      ["an array payload", () => [[game.roomId, { type: "place", cell: 0 }]], "bad_request"],
      ["a boolean payload", () => [true], "bad_request"],
      ["an empty object", () => [{}], "bad_request"],
      ["a missing roomId", () => [{ action: { type: "place", cell: 5 } }], "bad_request"],
      ["a missing action", () => [{ roomId: game.roomId }], "bad_request"],
      ["an unknown top-level field", () => [{ ...action({ type: "place", cell: 0 }), extra: 1 }], "bad_request"],
      ["a snake_case room_id", () => [{ room_id: game.roomId, action: { type: "place", cell: 5 } }], "bad_request"],
      ["a numeric roomId", () => [{ roomId: 123, action: { type: "place", cell: 5 } }], "bad_request"],
      ["a null roomId", () => [{ roomId: null, action: { type: "place", cell: 5 } }], "bad_request"],
      ["a string action", () => [action("place")], "bad_request"],
      ["a null action", () => [action(null)], "bad_request"],
      ["an array action", () => [action([5])], "bad_request"],
      ["an action without type", () => [action({ cell: 5 })], "bad_request"],
      ["an unknown action type", () => [action({ type: "teleport", cell: 5 })], "bad_request"],
      ["a numeric action type", () => [action({ type: 1, cell: 5 })], "bad_request"],
      ["a place without cell", () => [action({ type: "place" })], "bad_request"],
      ["a string cell", () => [action({ type: "place", cell: "0" })], "bad_request"],
      ["a fractional cell", () => [action({ type: "place", cell: 0.5 })], "bad_request"],
      ["a null cell", () => [action({ type: "place", cell: null })], "bad_request"],
      ["a boolean cell", () => [action({ type: "place", cell: true })], "bad_request"],
      ["an unknown field in the action", () => [action({ type: "place", cell: 0, x: 1 })], "bad_request"],
      ["cell 9", () => [action({ type: "place", cell: 9 })], "invalid_action"],
      ["cell 10", () => [action({ type: "place", cell: 10 })], "invalid_action"],
      ["cell 255", () => [action({ type: "place", cell: 255 })], "invalid_action"],
      ["cell 256", () => [action({ type: "place", cell: 256 })], "invalid_action"],
      ["cell 100000", () => [action({ type: "place", cell: 100000 })], "invalid_action"],
      ["cell -1", () => [action({ type: "place", cell: -1 })], "invalid_action"],
      ["an occupied cell (own mark)", () => [action({ type: "place", cell: 0 })], "invalid_action"],
      ["an occupied cell (other's mark)", () => [action({ type: "place", cell: 3 })], "invalid_action"],
    ];
    for (const [label, args, code] of cases) {
      test(`${label} -> ${code}`, async () => {
        // A is the player to move, so only the payload can be at fault. Cells
        // are 0 or 3 (taken) wherever a lenient server might accept the
        // payload, so that a wrong answer cannot change the game either.
        assertError(await ackArgs(game.a.socket, "room:action", args()), code, label);
      });
    }
  });

  describe("room:action game rules and membership", () => {
    test("a move before the game started -> invalid_action", async () => {
      assertError(await place(waitingRoom.owner.socket, waitingRoom.roomId, 4), "invalid_action");
    });
    test("a move out of turn -> not_your_turn", async () => {
      assertError(await place(game.b.socket, game.roomId, 4), "not_your_turn");
    });
    test("a move after game over -> game_over", async () => {
      assertError(await place(finished.b.socket, finished.roomId, 8), "game_over");
      assertError(await place(finished.a.socket, finished.roomId, 8), "game_over");
    });
    test("a spectator acting -> not_in_room", async () => {
      assertError(await place(spectator.socket, game.roomId, 4), "not_in_room");
    });
    test("acting in a room one has not joined -> not_in_room", async () => {
      assertError(await place(outsider.socket, game.roomId, 4), "not_in_room");
    });
    test("acting in an unknown room -> room_not_found", async () => {
      assertError(await place(game.a.socket, "no-such-room-0000", 4), "room_not_found");
    });
  });

  describe("other events", () => {
    test("room:chat outside the room -> not_in_room", async () => {
      assertError(await ack(outsider.socket, "room:chat", { roomId: game.roomId, text: "hi" }), "not_in_room");
    });
    test("room:sync outside the room -> not_in_room", async () => {
      assertError(await ack(outsider.socket, "room:sync", { roomId: game.roomId, sinceSeq: 0 }), "not_in_room");
    });
    test("room:leave outside the room -> not_in_room", async () => {
      assertError(await ack(outsider.socket, "room:leave", { roomId: game.roomId }), "not_in_room");
    });
    test("every room event naming an unknown room -> room_not_found", async () => {
      const roomId = "no-such-room-0000";
      const s = outsider.socket;
      assertError(await ack(s, "room:join", { roomId }), "room_not_found", "join");
      assertError(await ack(s, "room:join", { roomId, role: "spectator" }), "room_not_found", "join as spectator");
      assertError(await ack(s, "room:action", { roomId, action: { type: "place", cell: 0 } }), "room_not_found", "action");
      assertError(await ack(s, "room:chat", { roomId, text: "hi" }), "room_not_found", "chat");
      assertError(await ack(s, "room:sync", { roomId, sinceSeq: 0 }), "room_not_found", "sync");
      assertError(await ack(s, "room:leave", { roomId }), "room_not_found", "leave");
    });
    test("joining as a player when both seats are taken -> room_full", async () => {
      assertError(await ack(outsider.socket, "room:join", { roomId: game.roomId }), "room_full");
      assertError(await ack(outsider.socket, "room:join", { roomId: game.roomId, role: "player" }), "room_full");
    });

    const chat = (text) => ({ roomId: game.roomId, text });
    for (const [label, args] of [
      ["empty text", () => [chat("")]],
      ["501 characters", () => [chat("x".repeat(501))]],
      ["a numeric text", () => [chat(5)]],
      ["no text", () => [{ roomId: game.roomId }]],
      ["an unknown field", () => [{ ...chat("hi"), extra: true }]],
      ["no payload", () => []],
      ["a string payload", () => ["hi"]],
    ]) {
      test(`room:chat with ${label} -> bad_request`, async () => {
        assertError(await ackArgs(game.a.socket, "room:chat", args()), "bad_request", label);
      });
    }

    for (const [label, args] of [
      ["an unknown game", () => [{ game: "chess" }]],
      ["no game", () => [{}]],
      ["a numeric game", () => [{ game: 7 }]],
      ["non-object options", () => [{ game: "tictactoe", options: "fast" }]],
      ["an unknown field", () => [{ game: "tictactoe", private: true }]],
      ["no payload", () => []],
      ["a string payload", () => ["tictactoe"]],
    ]) {
      test(`room:create with ${label} -> bad_request`, async () => {
        assertError(await ackArgs(outsider.socket, "room:create", args()), "bad_request", label);
      });
    }

    for (const [label, args] of [
      ["an unknown role", () => [{ roomId: game.roomId, role: "referee" }]],
      ["a numeric roomId", () => [{ roomId: 1 }]],
      ["no roomId", () => [{}]],
      ["an unknown field", () => [{ roomId: game.roomId, seat: 1 }]],
      ["no payload", () => []],
      ["a string payload", () => [game.roomId]],
    ]) {
      test(`room:join with ${label} -> bad_request`, async () => {
        assertError(await ackArgs(outsider.socket, "room:join", args()), "bad_request", label);
      });
    }

    for (const [label, args] of [
      ["no sinceSeq", () => [{ roomId: game.roomId }]],
      ["a string sinceSeq", () => [{ roomId: game.roomId, sinceSeq: "0" }]],
      ["a negative sinceSeq", () => [{ roomId: game.roomId, sinceSeq: -1 }]],
      ["an unknown field", () => [{ roomId: game.roomId, sinceSeq: 0, limit: 5 }]],
      ["no payload", () => []],
    ]) {
      test(`room:sync with ${label} -> bad_request`, async () => {
        assertError(await ackArgs(game.a.socket, "room:sync", args()), "bad_request", label);
      });
    }

    for (const [label, args] of [
      ["no roomId", () => [{}]],
      ["an unknown field", () => [{ roomId: game.roomId, now: true }]],
      ["no payload", () => []],
    ]) {
      test(`room:leave with ${label} -> bad_request`, async () => {
        // Sent by someone outside the room, so that a server that wrongly
        // accepted it could not end the game the other tests use.
        assertError(await ackArgs(outsider.socket, "room:leave", args()), "bad_request", label);
      });
    }

    for (const [label, args] of [
      ["a numeric game", () => [{ game: 1 }]],
      ["an unknown field", () => [{ status: "waiting" }]],
      ["a string payload", () => ["tictactoe"]],
      ["an array payload", () => [[]]],
    ]) {
      test(`lobby:list with ${label} -> bad_request`, async () => {
        assertError(await ackArgs(outsider.socket, "lobby:list", args()), "bad_request", label);
      });
    }

    test("a 20 KB chat line (limit 16384 bytes) -> payload_too_large, and the socket stays usable", async () => {
      const res = await ack(game.a.socket, "room:chat", { roomId: game.roomId, text: "y".repeat(20 * 1024) });
      assertError(res, "payload_too_large");
      assert.equal(game.a.socket.connected, true);
      assertOk(await ack(game.a.socket, "lobby:list", {}));
    });

    test("events without an ack callback get no answer and break nothing", async () => {
      const s = game.a.socket;
      const eventsBefore = s.rec.events.length;
      s.emit("room:action", { roomId: game.roomId, action: { type: "place", cell: 99 } });
      s.emit("room:action", "garbage");
      s.emit("room:action");
      s.emit("room:chat", { roomId: game.roomId, text: "" });
      s.emit("room:create", { game: "nope" });
      s.emit("no:such:event", { x: 1 });
      await sleep(300);
      assert.equal(s.connected, true);
      assert.equal(s.rec.events.length, eventsBefore, "no room event came of it");
      assertOk(await ack(s, "lobby:list", {}), "the same socket still works");
      assert.deepEqual(await syncEvents(s, game.roomId, 0), history);
    });
  });

  // Runs last in this describe: the game then goes on to its end.
  test("after all the bad input the state is unchanged and the game goes on", async () => {
    assert.deepEqual(await syncEvents(game.a.socket, game.roomId, 0), history, "history unchanged (sync from 0)");
    const view = (await joinRoom(spectator.socket, game.roomId, "spectator")).state;
    assert.deepEqual(view.board, [0, null, null, 1, null, null, null, null, null]);
    assert.equal(view.turn, 0);
    for (const s of [game.a.socket, game.b.socket, spectator.socket, outsider.socket]) assert.equal(s.connected, true);
    for (const s of [game.b.socket, spectator.socket]) {
      assert.deepEqual(
        s.rec.of(game.roomId).filter((e) => e.seq > 5),
        [],
        "nobody got an event from the bad input",
      );
    }
    // A 1, B 4, A 2 -> seat 0 wins.
    assert.deepEqual(await place(game.a.socket, game.roomId, 1), { ok: true, seq: 6 });
    assert.deepEqual(await place(game.b.socket, game.roomId, 4), { ok: true, seq: 7 });
    assert.deepEqual(await place(game.a.socket, game.roomId, 2), { ok: true, seq: 9 });
    await spectator.socket.rec.waitSeq(game.roomId, 9);
    await game.b.socket.rec.waitSeq(game.roomId, 9);
    const over = game.b.socket.rec.of(game.roomId).at(-1);
    assert.deepEqual(over.event, { type: "game_over", winner: 0, reason: "line" });
  });
});

describe("payload limit (MAX_PAYLOAD_BYTES=1024)", () => {
  let server;
  before(async () => {
    server = await startServer({ MAX_PAYLOAD_BYTES: "1024" });
  });
  after(async () => server?.stop());

  test("oversized chat, action and create payloads -> payload_too_large; others unaffected", async () => {
    const { a, b, roomId } = await startGame(server.url);
    try {
      // Each payload is over 1024 bytes; the limit is checked before the content.
      assertError(await ack(a.socket, "room:chat", { roomId, text: "q".repeat(2000) }), "payload_too_large", "chat");
      assertError(
        await ack(a.socket, "room:action", { roomId, action: { type: "place", cell: 4, pad: "p".repeat(2000) } }),
        "payload_too_large",
        "action",
      );
      assertError(
        await ack(a.socket, "room:create", { game: "tictactoe", options: { pad: "p".repeat(4000) } }),
        "payload_too_large",
        "create",
      );
      assert.equal(a.socket.connected, true);
      assert.equal(b.socket.connected, true);
      assert.deepEqual(await ack(a.socket, "room:chat", { roomId, text: "still here" }), { ok: true });
      assert.deepEqual(await place(a.socket, roomId, 4), { ok: true, seq: 4 });
      assert.deepEqual(await place(b.socket, roomId, 0), { ok: true, seq: 5 });
    } finally {
      closeAll(a.socket, b.socket);
    }
  });

  test("over long-polling too: an oversized chat -> payload_too_large, and the socket stays connected", async () => {
    const a = await newPlayer(server.url, "pollbig", { transports: ["polling"], upgrade: false });
    try {
      const roomId = (await createRoom(a.socket)).room.id;
      assertError(await ack(a.socket, "room:chat", { roomId, text: "q".repeat(2000) }), "payload_too_large");
      assert.equal(a.socket.connected, true);
      assert.deepEqual(await ack(a.socket, "room:chat", { roomId, text: "small" }), { ok: true });
    } finally {
      closeAll(a.socket);
    }
  });
});

describe("rate limit (RATE_LIMIT_PER_SEC=1, RATE_LIMIT_BURST=3)", () => {
  let server;
  before(async () => {
    server = await startServer({ RATE_LIMIT_PER_SEC: "1", RATE_LIMIT_BURST: "3" });
  });
  after(async () => server?.stop());

  test("beyond the burst -> rate_limited, per socket; tokens come back over time", async () => {
    const a = await newPlayer(server.url, "spammer");
    const b = await newPlayer(server.url, "calm");
    try {
      const results = await Promise.all(Array.from({ length: 10 }, () => ack(a.socket, "lobby:list", {})));
      results.slice(0, 3).forEach((r, i) => assert.notEqual(r.error?.code, "rate_limited", `request ${i} within the burst: ${JSON.stringify(r)}`));
      results.slice(0, 3).forEach((r) => assertOk(r));
      results.slice(3).forEach((r, i) => assertError(r, "rate_limited", `request ${i + 3}`));
      assert.equal(a.socket.connected, true, "rate limiting does not disconnect");
      // Another socket has its own budget.
      assertOk(await ack(b.socket, "lobby:list", {}), "another socket is not limited");
      // One token per second comes back.
      await sleep(1500);
      assertOk(await ack(a.socket, "lobby:list", {}), "allowed again after a second");
    } finally {
      closeAll(a.socket, b.socket);
    }
  });
});

describe("room capacity (MAX_ROOMS=1)", () => {
  let server;
  before(async () => {
    server = await startServer({ MAX_ROOMS: "1" });
  });
  after(async () => server?.stop());

  test("creating a room beyond MAX_ROOMS -> capacity; the existing room still plays", async () => {
    const a = await newPlayer(server.url, "first");
    const b = await newPlayer(server.url, "second");
    try {
      const roomId = (await createRoom(a.socket)).room.id;
      assertError(await ack(b.socket, "room:create", { game: "tictactoe" }), "capacity", "second room");
      assertError(await ack(a.socket, "room:create", { game: "tictactoe" }), "capacity", "second room by the same player");
      const rooms = assertOk(await ack(b.socket, "lobby:list", {})).rooms;
      assert.deepEqual(rooms.map((r) => r.id), [roomId], "no room was created by the refused requests");
      await joinRoom(b.socket, roomId);
      assert.deepEqual(await place(a.socket, roomId, 0), { ok: true, seq: 4 });
    } finally {
      closeAll(a.socket, b.socket);
    }
  });
});
