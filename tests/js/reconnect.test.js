// Reconnecting: the same seat back, a second tab, and exactly the missed events.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ack, closeAll, connect, nextEvent, randomSecret, sleep, startServer } from "./helpers/server.js";
import {
  assertContiguous,
  assertOk,
  assertRoomInfo,
  assertStream,
  board,
  createRoom,
  ev,
  joinRoom,
  newPlayer,
  place,
  roomEvents,
  seated,
  startGame,
  syncEvents,
} from "./helpers/game.js";

describe("reconnecting", () => {
  let server;
  let url;
  const sockets = [];
  before(async () => {
    // Long enough that nobody forfeits during these tests.
    server = await startServer({ RECONNECT_GRACE_SECS: "30" });
    url = server.url;
  });
  after(async () => {
    closeAll(sockets);
    await server?.stop();
  });

  test("a player who comes back gets the same seat and room:sync returns exactly the missed events", async () => {
    const { a, b, roomId } = await startGame(url);
    sockets.push(a.socket, b.socket);
    assert.deepEqual(await place(a.socket, roomId, 0), { ok: true, seq: 4 });
    await a.socket.rec.waitSeq(roomId, 4);
    const lastSeen = a.socket.rec.lastSeq(roomId);
    assert.equal(lastSeen, 4);

    a.socket.close();
    const disc = await b.socket.rec.waitEvent((e) => e.roomId === roomId && e.seq === 5);
    assert.deepEqual(disc.event, ev.disconnected(0));
    const info = assertOk(await ack(b.socket, "lobby:list", {})).rooms.find((r) => r.id === roomId);
    assertRoomInfo(info, { status: "playing", players: [seated(a.player, 0, false), seated(b.player, 1)] });

    // The game goes on without A.
    assert.deepEqual(await place(b.socket, roomId, 3), { ok: true, seq: 6 });

    // A comes back on a new connection with the same token.
    const a2 = await connect(url, a.token);
    sockets.push(a2);
    const back = await joinRoom(a2, roomId);
    assert.equal(back.seat, 0, "same seat back");
    assert.equal(back.seq, 7, "ack seq includes player_reconnected");
    assert.deepEqual(back.state, { board: board({ 0: 0, 3: 1 }), turn: 0, status: "playing" });
    assertRoomInfo(back.room, { status: "playing", players: [seated(a.player, 0), seated(b.player, 1)] });

    const missed = await syncEvents(a2, roomId, lastSeen);
    assert.deepEqual(
      missed,
      roomEvents(roomId, 5, [ev.disconnected(0), ev.placed(1, 3), ev.reconnected(0)]),
      "exactly the events after the last one seen, in order",
    );
    await b.socket.rec.waitSeq(roomId, 7);
    assert.deepEqual(
      b.socket.rec.of(roomId).filter((e) => e.seq > lastSeen),
      missed,
      "what the other player saw live is what the returning player gets",
    );

    // Play on from the new connection.
    assert.deepEqual(await place(a2, roomId, 1), { ok: true, seq: 8 });
    await b.socket.rec.waitSeq(roomId, 8);
    await a2.rec.waitSeq(roomId, 8);
    const history = await syncEvents(b.socket, roomId, 0);
    assertContiguous(history);
    assert.equal(history.length, 8);
    assertStream(a2.rec.events, roomId, history, 7, "returning socket");
    assertStream(b.socket.rec.events, roomId, history, 3, "other player");

    // Joining again on a connection that holds the seat changes nothing.
    const again = await joinRoom(b.socket, roomId);
    assert.equal(again.seat, 1);
    assert.equal(again.seq, 8);
    assert.equal(again.room.players.length, 2);
    await sleep(200);
    assert.deepEqual(await syncEvents(b.socket, roomId, 8), [], "re-joining a held seat emits nothing");
    closeAll(a2, b.socket);
  });

  test("automatic socket.io reconnection, then room:join and room:sync fill the gap", async () => {
    const a = await newPlayer(url, "flaky", {
      reconnection: true,
      reconnectionDelay: 1000,
      reconnectionDelayMax: 1000,
      randomizationFactor: 0,
    });
    const b = await newPlayer(url, "steady");
    sockets.push(a.socket, b.socket);
    const roomId = (await createRoom(a.socket)).room.id;
    await joinRoom(b.socket, roomId);
    assert.deepEqual(await place(a.socket, roomId, 4), { ok: true, seq: 4 });
    await a.socket.rec.waitSeq(roomId, 4);

    const reconnected = nextEvent(a.socket, "connect", () => true, 5000);
    a.socket.io.engine.close(); // the connection drops; the manager reconnects after 1 s
    await b.socket.rec.waitEvent((e) => e.roomId === roomId && e.seq === 5 && e.event.type === "player_disconnected");
    assert.deepEqual(await place(b.socket, roomId, 0), { ok: true, seq: 6 });
    await reconnected;

    const lastSeen = a.socket.rec.lastSeq(roomId);
    assert.equal(lastSeen, 4, "nothing arrived while disconnected");
    const back = await joinRoom(a.socket, roomId);
    assert.equal(back.seat, 0);
    assert.equal(back.seq, 7);
    const missed = await syncEvents(a.socket, roomId, lastSeen);
    assert.deepEqual(missed, roomEvents(roomId, 5, [ev.disconnected(0), ev.placed(1, 0), ev.reconnected(0)]));
    assert.deepEqual(await place(a.socket, roomId, 8), { ok: true, seq: 8 });
    await a.socket.rec.waitSeq(roomId, 8);
    const history = await syncEvents(a.socket, roomId, 0);
    assertStream(a.socket.rec.events, roomId, history, 7, "reconnected socket");
    closeAll(a.socket, b.socket);
  });

  test("a second tab with the same token gets the same seat, never a second one", async () => {
    const a = await newPlayer(url, "twotabs");
    const b = await newPlayer(url, "rival");
    sockets.push(a.socket, b.socket);
    const created = await createRoom(a.socket);
    const roomId = created.room.id;

    const tab2 = await connect(url, a.token);
    sockets.push(tab2);
    const j2 = await joinRoom(tab2, roomId);
    assert.equal(j2.seat, 0, "second tab: same seat");
    assert.equal(j2.seq, 1, "no event: nobody new took a seat");
    assertRoomInfo(j2.room, { status: "waiting", players: [seated(a.player, 0)] });

    const jb = await joinRoom(b.socket, roomId);
    assert.equal(jb.seat, 1, "the other seat is still free for someone else");
    assert.equal(jb.seq, 3);
    assertRoomInfo(jb.room, { status: "playing", players: [seated(a.player, 0), seated(b.player, 1)] });

    // Either tab plays seat 0; both tabs see every event.
    assert.deepEqual(await place(tab2, roomId, 0), { ok: true, seq: 4 });
    assert.deepEqual(await place(b.socket, roomId, 4), { ok: true, seq: 5 });
    assert.deepEqual(await place(a.socket, roomId, 8), { ok: true, seq: 6 });
    await a.socket.rec.waitSeq(roomId, 6);
    await tab2.rec.waitSeq(roomId, 6);
    const history = await syncEvents(b.socket, roomId, 0);
    assertStream(a.socket.rec.events, roomId, history, 1, "first tab");
    assertStream(tab2.rec.events, roomId, history, 1, "second tab");

    // Closing one tab is not a disconnect of the player.
    a.socket.close();
    await sleep(300);
    assert.deepEqual(await place(b.socket, roomId, 2), { ok: true, seq: 7 });
    assert.deepEqual(
      await syncEvents(b.socket, roomId, 6),
      roomEvents(roomId, 7, [ev.placed(1, 2)]),
      "no player_disconnected while another tab is connected",
    );

    // Closing the last one is.
    tab2.close();
    const disc = await b.socket.rec.waitEvent((e) => e.roomId === roomId && e.seq === 8);
    assert.deepEqual(disc.event, ev.disconnected(0));

    // And a third connection gets the seat back.
    const tab3 = await connect(url, a.token);
    sockets.push(tab3);
    const j3 = await joinRoom(tab3, roomId);
    assert.equal(j3.seat, 0);
    assert.equal(j3.seq, 9);
    assert.deepEqual(j3.state, { board: board({ 0: 0, 4: 1, 8: 0, 2: 1 }), turn: 0, status: "playing" });
    assert.deepEqual((await syncEvents(tab3, roomId, 8)).map((e) => e.event), [ev.reconnected(0)]);
    assertRoomInfo(j3.room, { players: [seated(a.player, 0), seated(b.player, 1)] });
    closeAll(tab3, b.socket);
  });
});

describe("reconnecting across a server restart", () => {
  test("room:sync replays exactly what a player missed while the server was down and after", async () => {
    const dir = mkdtempSync(join(tmpdir(), "gamehub-e2e-"));
    const env = { DB_PATH: join(dir, "gamehub.db"), SECRET_KEY: randomSecret(), RECONNECT_GRACE_SECS: "30" };
    let first;
    let second;
    let sockets = [];
    try {
      first = await startServer(env);
      const { a, b, roomId } = await startGame(first.url);
      sockets = [a.socket, b.socket];
      assert.equal(assertOk(await place(a.socket, roomId, 4)).seq, 4);
      assert.equal(assertOk(await place(b.socket, roomId, 0)).seq, 5);
      const lastSeenByB = 5;
      await first.kill(); // kill -9: nobody is told anything
      closeAll(...sockets);

      second = await startServer(env);
      const a2 = await connect(second.url, a.token);
      sockets = [a2];
      const aBack = await joinRoom(a2, roomId);
      assert.equal(aBack.seat, 0);
      assert.equal(assertOk(await place(a2, roomId, 8)).seq, 7, "play goes on before bob is back");

      const b2 = await connect(second.url, b.token);
      sockets.push(b2);
      const bBack = await joinRoom(b2, roomId);
      assert.equal(bBack.seat, 1, "bob gets his seat back");
      assert.deepEqual(bBack.state.board, board({ 4: 0, 0: 1, 8: 0 }));
      const missed = await syncEvents(b2, roomId, lastSeenByB);
      assert.deepEqual(
        missed,
        [
          { roomId, seq: 6, event: ev.reconnected(0) },
          { roomId, seq: 7, event: { type: "placed", seat: 0, cell: 8 } },
          { roomId, seq: 8, event: ev.reconnected(1) },
        ],
        "exactly the missed events, in order, no gap, no duplicate",
      );
      assert.equal(bBack.seq, 8);
    } finally {
      closeAll(...sockets);
      await first?.kill();
      await second?.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
