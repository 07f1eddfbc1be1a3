// Whole games of tic-tac-toe: win, draw, forfeits, spectators, chat, lobby, leaderboard.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { ack, closeAll, http, startServer, waitUntil } from "./helpers/server.js";
import {
  assertContiguous,
  assertError,
  assertOk,
  assertRoomInfo,
  assertStream,
  board,
  createRoom,
  EMPTY_BOARD,
  ev,
  joinRoom,
  leaderboardEntry,
  newPlayer,
  place,
  playMoves,
  roomEvents,
  seated,
  startGame,
  syncEvents,
  topRowWinHistory,
} from "./helpers/game.js";

const GRACE_SECS = 2;

describe("playing tic-tac-toe", () => {
  let server;
  let url;
  const sockets = [];
  before(async () => {
    server = await startServer({ RECONNECT_GRACE_SECS: String(GRACE_SECS) });
    url = server.url;
  });
  after(async () => {
    closeAll(sockets);
    await server?.stop();
  });

  test("guest auth -> create -> join -> play to a win", async () => {
    const a = await newPlayer(url, "alice");
    const b = await newPlayer(url, "bob");
    sockets.push(a.socket, b.socket);

    const before = Date.now();
    const created = await createRoom(a.socket);
    const afterCreate = Date.now();
    const roomId = created.room.id;
    assertRoomInfo(created.room, { status: "waiting", maxPlayers: 2, spectators: 0, players: [seated(a.player, 0)] });
    assert.ok(
      created.room.createdAt >= before - 2000 && created.room.createdAt <= afterCreate + 2000,
      `createdAt ${created.room.createdAt} is not ms since epoch around ${before}`,
    );
    assert.equal(created.seat, 0);
    assert.equal(created.seq, 1, "creating a room emits player_joined with seq 1");
    assert.deepEqual(created.state, { board: [...EMPTY_BOARD], turn: 0, status: "waiting" });

    const joined = await joinRoom(b.socket, roomId);
    assertRoomInfo(joined.room, {
      id: roomId,
      status: "playing",
      maxPlayers: 2,
      spectators: 0,
      players: [seated(a.player, 0), seated(b.player, 1)],
    });
    assert.equal(joined.seat, 1);
    assert.equal(joined.seq, 3, "join ack seq is the latest seq after player_joined + game_started");
    assert.deepEqual(joined.state, { board: [...EMPTY_BOARD], turn: 0, status: "playing" });

    // The creator sees the second player's join and the start, live.
    await a.socket.rec.waitSeq(roomId, 3);

    // A: 0, B: 3, A: 1, B: 4, A: 2 -> seat 0 wins on the top row.
    const acks = await playMoves([a.socket, b.socket], roomId, [0, 3, 1, 4, 2], 4);
    assert.deepEqual(acks.at(-1), { ok: true, seq: 9 }, "a winning move's ack carries the game_over's seq");
    for (const [i, res] of acks.slice(0, -1).entries()) assert.deepEqual(res, { ok: true, seq: 4 + i });

    const expected = topRowWinHistory(roomId, a.player, b.player);
    assert.deepEqual(await syncEvents(b.socket, roomId, 0), expected, "room:sync from 0 is the full history");
    assert.deepEqual(await syncEvents(a.socket, roomId, 5), expected.slice(5), "room:sync from 5");
    assert.deepEqual(await syncEvents(a.socket, roomId, 9), [], "room:sync from the latest seq is empty");

    await a.socket.rec.waitSeq(roomId, 9);
    await b.socket.rec.waitSeq(roomId, 9);
    assertStream(a.socket.rec.events, roomId, expected, 1, "creator");
    assertStream(b.socket.rec.events, roomId, expected, 3, "joiner");

    // The finished game as a newcomer sees it.
    const w = await newPlayer(url, "watcher");
    sockets.push(w.socket);
    const watched = await joinRoom(w.socket, roomId, "spectator");
    assert.equal(watched.seat, null);
    assert.equal(watched.seq, 9);
    assert.equal(watched.room.status, "finished");
    assert.deepEqual(watched.state.board, board({ 0: 0, 1: 0, 2: 0, 3: 1, 4: 1 }));
    assert.equal(watched.state.status, "finished");
    assert.equal(watched.state.winner, 0);

    // No more moves.
    assertError(await place(b.socket, roomId, 8), "game_over", "move after the end");

    // Leaderboard: winner 1 win, loser 1 loss.
    const wEntry = await leaderboardEntry(url, a.player.id, (e) => e.wins === 1);
    const lEntry = await leaderboardEntry(url, b.player.id, (e) => e.losses === 1);
    assert.deepEqual(
      { player: wEntry.player, wins: wEntry.wins, losses: wEntry.losses, draws: wEntry.draws },
      { player: { id: a.player.id, name: a.player.name }, wins: 1, losses: 0, draws: 0 },
    );
    assert.deepEqual(
      { player: lEntry.player, wins: lEntry.wins, losses: lEntry.losses, draws: lEntry.draws },
      { player: { id: b.player.id, name: b.player.name }, wins: 0, losses: 1, draws: 0 },
    );
    assert.equal(typeof wEntry.rating, "number");
    assert.equal(typeof lEntry.rating, "number");
    assert.ok(wEntry.rating > lEntry.rating, `winner's rating ${wEntry.rating} should exceed loser's ${lEntry.rating}`);
    closeAll(a.socket, b.socket, w.socket);
  });

  test("a game ends in a draw", async () => {
    const { a, b, roomId } = await startGame(url);
    sockets.push(a.socket, b.socket);
    // X O X / X O O / O X X
    const acks = await playMoves([a.socket, b.socket], roomId, [0, 1, 2, 4, 3, 5, 7, 6, 8], 4);
    assert.deepEqual(acks.at(-1), { ok: true, seq: 13 });
    const history = await syncEvents(a.socket, roomId, 0);
    assertContiguous(history);
    assert.equal(history.length, 13);
    assert.deepEqual(history.at(-2).event, ev.placed(0, 8));
    assert.deepEqual(history.at(-1).event, ev.over(null, "draw"));
    await b.socket.rec.waitSeq(roomId, 13);
    assertStream(b.socket.rec.events, roomId, history, 3, "seat 1");

    const view = (await joinRoom(a.socket, roomId)).state; // re-join: own seat, final view
    assert.deepEqual(view.board, [0, 1, 0, 0, 1, 1, 1, 0, 0]);
    assert.equal(view.status, "finished");
    assert.ok(view.winner === undefined || view.winner === null, `no winner in a draw, got ${view.winner}`);

    for (const p of [a, b]) {
      const e = await leaderboardEntry(url, p.player.id, (x) => x.draws === 1);
      assert.deepEqual([e.wins, e.losses, e.draws], [0, 0, 1], `${p.player.name}'s record after a draw`);
    }
    closeAll(a.socket, b.socket);
  });

  test("a player who does not come back within the grace period forfeits", async () => {
    const { a, b, roomId } = await startGame(url);
    sockets.push(a.socket, b.socket);
    assertOk(await place(a.socket, roomId, 4));
    b.socket.close();

    const disc = await a.socket.rec.waitEvent((e) => e.roomId === roomId && e.event.type === "player_disconnected");
    const seenAt = Date.now();
    assert.deepEqual(disc, { roomId, seq: 5, event: ev.disconnected(1) });

    // The seat is held, marked not connected.
    const list = assertOk(await ack(a.socket, "lobby:list", {}));
    const info = list.rooms.find((r) => r.id === roomId);
    assert.ok(info, "room listed while a player is away");
    assertRoomInfo(info, { status: "playing", players: [seated(a.player, 0), seated(b.player, 1, false)] });

    const over = await a.socket.rec.waitEvent(
      (e) => e.roomId === roomId && e.event.type === "game_over",
      "game_over by forfeit",
      GRACE_SECS * 1000 + 4000,
    );
    const elapsed = Date.now() - seenAt;
    assert.deepEqual(over, { roomId, seq: 6, event: ev.over(0, "forfeit") });
    assert.ok(elapsed >= GRACE_SECS * 1000 - 300, `forfeit came after ${elapsed} ms, before the ${GRACE_SECS} s grace period`);

    assert.deepEqual(
      await syncEvents(a.socket, roomId, 3),
      roomEvents(roomId, 4, [ev.placed(0, 4), ev.disconnected(1), ev.over(0, "forfeit")]),
    );
    assertError(await place(a.socket, roomId, 0), "game_over");

    const w = await leaderboardEntry(url, a.player.id, (e) => e.wins === 1);
    const l = await leaderboardEntry(url, b.player.id, (e) => e.losses === 1);
    assert.deepEqual([w.wins, w.losses, w.draws], [1, 0, 0]);
    assert.deepEqual([l.wins, l.losses, l.draws], [0, 1, 0]);
    closeAll(a.socket);
  });

  test("leaving during play is a forfeit", async () => {
    const { a, b, roomId } = await startGame(url);
    sockets.push(a.socket, b.socket);
    assertOk(await place(a.socket, roomId, 0));
    assertOk(await place(b.socket, roomId, 8));

    const left = await ack(b.socket, "room:leave", { roomId });
    assert.deepEqual(left, { ok: true });

    const over = await a.socket.rec.waitEvent((e) => e.roomId === roomId && e.event.type === "game_over");
    assert.deepEqual(over, { roomId, seq: 6, event: ev.over(0, "forfeit") });
    const history = await syncEvents(a.socket, roomId, 0);
    assertContiguous(history);
    assert.deepEqual(history.slice(3), roomEvents(roomId, 4, [ev.placed(0, 0), ev.placed(1, 8), ev.over(0, "forfeit")]));

    // The leaver is no longer in the room.
    assertError(await place(b.socket, roomId, 1), "not_in_room", "action after leaving");

    const w = await leaderboardEntry(url, a.player.id, (e) => e.wins === 1);
    const l = await leaderboardEntry(url, b.player.id, (e) => e.losses === 1);
    assert.deepEqual([w.wins, w.losses, w.draws], [1, 0, 0]);
    assert.deepEqual([l.wins, l.losses, l.draws], [0, 1, 0]);
    closeAll(a.socket, b.socket);
  });

  test("leaving while waiting frees the seat (player_left)", async () => {
    const a = await newPlayer(url, "leaver");
    const s = await newPlayer(url, "spec");
    const b = await newPlayer(url, "late1");
    const c = await newPlayer(url, "late2");
    sockets.push(a.socket, s.socket, b.socket, c.socket);

    const roomId = (await createRoom(a.socket)).room.id;
    const watched = await joinRoom(s.socket, roomId, "spectator");
    assert.equal(watched.seat, null);
    assert.equal(watched.seq, 1);

    assert.deepEqual(await ack(a.socket, "room:leave", { roomId }), { ok: true });
    const leftEv = await s.socket.rec.waitEvent((e) => e.roomId === roomId && e.seq === 2);
    assert.deepEqual(leftEv, { roomId, seq: 2, event: ev.left(0) });

    // The leaver is out. A waiting room left with no seated player may be
    // closed by the server (its choice); if it is not, both seats are free.
    const res = await place(a.socket, roomId, 0);
    if (res.error?.code === "room_not_found") {
      assertError(await ack(b.socket, "room:join", { roomId }), "room_not_found", "join after the room closed");
      const listed = assertOk(await ack(b.socket, "lobby:list", {})).rooms.some((r) => r.id === roomId);
      assert.equal(listed, false, "a closed room is not listed");
    } else {
      assertError(res, "not_in_room", "action after leaving");
      const jb = await joinRoom(b.socket, roomId);
      const jc = await joinRoom(c.socket, roomId);
      assert.deepEqual([jb.seat, jc.seat].sort(), [0, 1], "the two newcomers get seats 0 and 1");
      assert.equal(jc.room.status, "playing");
      assert.equal(jc.room.players.length, 2);
      const first = jb.seat === 0 ? b : c;
      assertOk(await place(first.socket, roomId, 4), "seat 0 moves first");
    }
    closeAll(a.socket, s.socket, b.socket, c.socket);
  });

  test("a spectator sees every move in order but cannot act", async () => {
    const { a, b, roomId } = await startGame(url);
    const s = await newPlayer(url, "spectator");
    sockets.push(a.socket, b.socket, s.socket);

    assertOk(await place(a.socket, roomId, 4));
    const watched = await joinRoom(s.socket, roomId, "spectator");
    assert.equal(watched.seat, null);
    assert.equal(watched.seq, 4);
    assert.deepEqual(watched.state, { board: board({ 4: 0 }), turn: 1, status: "playing" });
    assertRoomInfo(watched.room, { spectators: 1, players: [seated(a.player, 0), seated(b.player, 1)] });

    assertError(await place(s.socket, roomId, 0), "not_in_room", "spectator acting");
    // B 0, A 8, B 1, A 2, B 3, A 6 -> seat 0 wins on the diagonal 2-4-6.
    await playMoves([b.socket, a.socket], roomId, [0, 8, 1, 2, 3], 5);
    const last = assertOk(await place(a.socket, roomId, 6));
    assert.equal(last.seq, 11, "placed 10 + game_over 11");

    const history = await syncEvents(s.socket, roomId, 0); // a spectator may sync
    assertContiguous(history);
    assert.deepEqual(
      history.slice(3),
      roomEvents(roomId, 4, [
        ev.placed(0, 4),
        ev.placed(1, 0),
        ev.placed(0, 8),
        ev.placed(1, 1),
        ev.placed(0, 2),
        ev.placed(1, 3),
        ev.placed(0, 6),
        ev.over(0, "line"),
      ]),
    );
    await s.socket.rec.waitSeq(roomId, 11);
    assertStream(s.socket.rec.events, roomId, history, 4, "spectator");
    assert.deepEqual(
      s.socket.rec.of(roomId).filter((e) => e.seq > 4).map((e) => e.seq),
      [5, 6, 7, 8, 9, 10, 11],
    );
    // The spectator was never seated: a finished game lists the two players only.
    const info = (await joinRoom(s.socket, roomId, "spectator")).room;
    assert.equal(info.players.length, 2);
    closeAll(a.socket, b.socket, s.socket);
  });

  test("a spectator may join a full room; a third player may not", async () => {
    const { a, b, roomId } = await startGame(url);
    const s = await newPlayer(url, "watch");
    const c = await newPlayer(url, "third");
    sockets.push(a.socket, b.socket, s.socket, c.socket);
    const watched = await joinRoom(s.socket, roomId, "spectator");
    assert.equal(watched.seat, null);
    assertError(await ack(c.socket, "room:join", { roomId }), "room_full");
    assertError(await ack(c.socket, "room:join", { roomId, role: "player" }), "room_full");
    closeAll(a.socket, b.socket, s.socket, c.socket);
  });

  test("chat reaches everyone in the room, the sender included", async () => {
    const { a, b, roomId } = await startGame(url);
    const s = await newPlayer(url, "chatwatch");
    const o = await newPlayer(url, "outsider");
    sockets.push(a.socket, b.socket, s.socket, o.socket);
    await joinRoom(s.socket, roomId, "spectator");

    const t0 = Date.now();
    const res = await ack(a.socket, "room:chat", { roomId, text: "good luck, have fun" });
    assert.deepEqual(res, { ok: true });
    for (const [who, sock] of [["sender", a.socket], ["opponent", b.socket], ["spectator", s.socket]]) {
      const line = await waitChat(sock);
      assert.deepEqual(Object.keys(line).sort(), ["from", "roomId", "text", "ts"], `${who}: ${JSON.stringify(line)}`);
      assert.equal(line.roomId, roomId);
      assert.deepEqual(line.from, { id: a.player.id, name: a.player.name });
      assert.equal(line.text, "good luck, have fun");
      assert.equal(typeof line.ts, "number");
      assert.ok(Math.abs(line.ts - t0) < 60000, `${who}: ts ${line.ts} should be ms since epoch`);
    }
    // A 500-character line is fine, and chat is not a room event.
    assert.deepEqual(await ack(b.socket, "room:chat", { roomId, text: "z".repeat(500) }), { ok: true });
    await waitChat(a.socket, 2);
    assert.equal(a.socket.rec.chats[1].text, "z".repeat(500));
    assert.deepEqual(a.socket.rec.chats[1].from, { id: b.player.id, name: b.player.name });
    assert.equal((await syncEvents(a.socket, roomId, 3)).length, 0, "chat lines are not room events");
    assert.equal(o.socket.rec.chats.length, 0, "someone outside the room hears nothing");
    closeAll(a.socket, b.socket, s.socket, o.socket);
  });

  test("GET /api/v1/leaderboard honours limit", async () => {
    // Earlier tests of this file finished games between several players.
    const all = await http(url, "/api/v1/leaderboard?game=tictactoe&limit=100");
    assert.equal(all.status, 200);
    assert.ok(all.json.entries.length >= 2, `entries: ${all.text}`);
    for (const e of all.json.entries) {
      assert.deepEqual(Object.keys(e).sort(), ["draws", "losses", "player", "rating", "wins"]);
      assert.deepEqual(Object.keys(e.player).sort(), ["id", "name"]);
    }
    const one = await http(url, "/api/v1/leaderboard?game=tictactoe&limit=1");
    assert.equal(one.status, 200);
    assert.equal(one.json.entries.length, 1);
  });

  test("lobby:list and GET /api/v1/rooms list rooms with their status", async () => {
    const a = await newPlayer(url, "lobby1");
    const b = await newPlayer(url, "lobby2");
    sockets.push(a.socket, b.socket);
    const waitingId = (await createRoom(a.socket)).room.id;
    const created2 = await createRoom(b.socket);
    const playingId = created2.room.id;
    assert.notEqual(waitingId, playingId, "room ids are unique");
    await joinRoom(a.socket, playingId);

    for (const payload of [{}, { game: "tictactoe" }]) {
      const res = assertOk(await ack(b.socket, "lobby:list", payload), `lobby:list ${JSON.stringify(payload)}`);
      assert.ok(Array.isArray(res.rooms));
      const waiting = res.rooms.find((r) => r.id === waitingId);
      const playing = res.rooms.find((r) => r.id === playingId);
      assert.ok(waiting && playing, `lobby:list ${JSON.stringify(payload)} lists both rooms`);
      assertRoomInfo(waiting, { status: "waiting", maxPlayers: 2, players: [seated(a.player, 0)] });
      assertRoomInfo(playing, { status: "playing", maxPlayers: 2, players: [seated(b.player, 0), seated(a.player, 1)] });
      for (const r of res.rooms) assertRoomInfo(r);
    }
    const other = assertOk(await ack(b.socket, "lobby:list", { game: "blackjack" }));
    assert.ok(!other.rooms.some((r) => r.id === waitingId || r.id === playingId), "game filter excludes tictactoe rooms");

    for (const q of ["", "?game=tictactoe"]) {
      const res = await http(url, `/api/v1/rooms${q}`);
      assert.equal(res.status, 200, res.text);
      assert.deepEqual(Object.keys(res.json), ["rooms"]);
      const waiting = res.json.rooms.find((r) => r.id === waitingId);
      const playing = res.json.rooms.find((r) => r.id === playingId);
      assert.ok(waiting && playing, `GET /api/v1/rooms${q} lists both rooms`);
      assertRoomInfo(waiting, { status: "waiting", players: [seated(a.player, 0)] });
      assertRoomInfo(playing, { status: "playing", players: [seated(b.player, 0), seated(a.player, 1)] });
    }
    const none = await http(url, "/api/v1/rooms?game=blackjack");
    assert.equal(none.status, 200);
    assert.ok(!none.json.rooms.some((r) => r.id === waitingId || r.id === playingId));
    closeAll(a.socket, b.socket);
  });
});

async function waitChat(socket, n = 1) {
  await waitUntil(() => socket.rec.chats.length >= n, { what: `${n} room:chat line(s)` });
  return socket.rec.chats[n - 1];
}
