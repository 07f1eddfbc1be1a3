// Several gamehubs as one cluster through a private Redis (helpers/cluster.js):
// NODE_ID node-0..2, separate databases, the same SECRET_KEY, a REDIS_PREFIX
// per test, DIRECTORY_TTL_SECS=2, FORWARD_TIMEOUT_MS=1500.
//
// 1. Games in a room owned by one instance, played and watched from the
//    others: every ack, every event exactly once and in order on every
//    instance, room:sync through any instance; WebSocket and long-polling.
// 2. The same behind the shipped nginx (helpers/nginx.js), when installed.
// 3. The lobby (lobby:list, GET /api/v1/rooms) of every instance lists the
//    rooms of all of them, with their `node`.
// 4. The owner is killed (-9): its rooms answer `unavailable` elsewhere, leave
//    the other lobbies after DIRECTORY_TTL_SECS, and come back with it.
// 5. Redis stops: readiness fails naming `redis`, the owner's own sockets play
//    on, forwarded calls answer `unavailable`; Redis returns: everything
//    resumes without a restart.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { ack, closeAll, connect, guest, http, sleep, waitUntil, WAIT_MS } from "./helpers/server.js";
import {
  assertError,
  assertOk,
  assertRoomInfo,
  assertStream,
  board,
  createRoom,
  EMPTY_BOARD,
  ev,
  joinRoom,
  place,
  playMoves,
  roomEvents,
  seated,
  syncEvents,
  topRowWinHistory,
  uniqueName,
} from "./helpers/game.js";
import { CLUSTER_ENV, readiness, startCluster, startRedis } from "./helpers/cluster.js";
import { nginxBin, startNginx } from "./helpers/nginx.js";

const TTL_MS = Number(CLUSTER_ENV.DIRECTORY_TTL_SECS) * 1000;
const FORWARD_MS = Number(CLUSTER_ENV.FORWARD_TIMEOUT_MS);
/** How long after its last heartbeat an instance's rooms may still be listed elsewhere. */
const DIRECTORY_LAG_MS = TTL_MS + TTL_MS / 3 + 1000;

const WS = { transports: ["websocket"] };
const POLLING = { transports: ["polling"], upgrade: false };

// ------------------------------------------------------------------ helpers

/** A guest signed in at `signUrl` (default: the same place) and connected to `url`. */
async function playerAt(url, base, opts = WS, signUrl = url) {
  const { token, player } = await guest(signUrl, uniqueName(base));
  const socket = await connect(url, token, opts);
  return { token, player, socket };
}

/** Resolve to {value, ms}. */
async function timed(promise) {
  const started = Date.now();
  const value = await promise;
  return { value, ms: Date.now() - started };
}

/**
 * Like waitUntil, but checks only every `every` ms: for checks that send
 * socket events (the per-socket rate limit is 30 a second).
 */
async function poll(check, { timeout = WAIT_MS, every = 150, what = "condition" } = {}) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeout} ms waiting for ${what}`);
    await sleep(every);
  }
}

/** An error ack with `code` that came within `boundMs`. */
async function assertErrorWithin(promise, code, boundMs, what) {
  const { value, ms } = await timed(promise);
  assertError(value, code, `${what} (answered in ${ms} ms)`);
  assert.ok(ms <= boundMs, `${what}: answered ${code} after ${ms} ms, more than ${boundMs} ms`);
  return ms;
}

/** `lobby:list` through a socket. */
async function lobbyOf(socket, payload = {}) {
  return assertOk(await ack(socket, "lobby:list", payload), `lobby:list ${JSON.stringify(payload)}`).rooms;
}

/** `GET /api/v1/rooms` of an instance. */
async function apiRoomsOf(url, query = "") {
  const res = await http(url, `/api/v1/rooms${query}`);
  assert.equal(res.status, 200, `GET /api/v1/rooms${query} at ${url}: ${res.status} ${res.text}`);
  assert.ok(Array.isArray(res.json?.rooms), `GET /api/v1/rooms${query}: ${res.text}`);
  return res.json.rooms;
}

/**
 * Wait until every one of `sockets` ({who, socket}) has received `roomId` up to
 * `lastSeq`, give late duplicates 250 ms to show up, then assert each one got
 * exactly the history after its own `after`: every event once, in order, no gap.
 */
async function assertExactStreams(roomId, history, watchers) {
  const lastSeq = history.at(-1).seq;
  for (const w of watchers) await w.socket.rec.waitSeq(roomId, lastSeq);
  await sleep(250);
  for (const { who, socket, after } of watchers) {
    const want = history.filter((e) => e.seq > after);
    const got = socket.rec.of(roomId);
    assert.deepEqual(
      got.map((e) => e.seq),
      want.map((e) => e.seq),
      `${who}: seqs of the room:events received (each once, in order, no gap)`,
    );
    assert.deepEqual(got, want, `${who}: room:events received`);
  }
}

/** The same full history through room:sync from every socket given (any instance). */
async function assertSyncEverywhere(roomId, history, watchers) {
  for (const { who, socket } of watchers) {
    assert.deepEqual(await syncEvents(socket, roomId, 0), history, `${who}: room:sync from 0`);
    const mid = Math.floor(history.length / 2);
    assert.deepEqual(await syncEvents(socket, roomId, mid), history.slice(mid), `${who}: room:sync from ${mid}`);
  }
}

/** Readiness of every node, polled until `pred` holds for each; resolves to {node: ms since `started`}. */
async function readinessTimes(nodes, pred, boundMs, what, started = Date.now()) {
  const times = new Map();
  const last = new Map();
  while (times.size < nodes.length) {
    for (const nd of nodes) {
      if (times.has(nd.id)) continue;
      const r = await readiness(nd.url);
      last.set(nd.id, r);
      if (pred(r)) times.set(nd.id, Date.now() - started);
    }
    if (times.size === nodes.length) break;
    if (Date.now() - started > boundMs) {
      const pending = nodes.filter((nd) => !times.has(nd.id));
      assert.fail(
        `${what}: not within ${boundMs} ms on ${pending.map((nd) => nd.id).join(", ")}; last answers: ` +
          pending.map((nd) => `${nd.id} ${last.get(nd.id)?.status} ${last.get(nd.id)?.text}`).join("; "),
      );
    }
    await sleep(50);
  }
  return Object.fromEntries(times);
}

const redisFailing = (r) =>
  r.status === 503 &&
  r.json?.status === "not_ready" &&
  typeof r.json?.checks?.redis === "string" &&
  r.json.checks.redis !== "ok" &&
  r.json.checks.storage === "ok" &&
  r.json.checks.accepting === "ok";
const allReady = (r) => r.status === 200 && r.json?.status === "ready" && r.json?.checks?.redis === "ok";

/**
 * A test with a fresh cluster of three on `getRedis()`: fn(cluster, track, t),
 * where `track(...sockets)` registers sockets to close. On failure every
 * node's last log lines go to stderr.
 */
function clusterTest(name, getRedis, fn, { timeout = 30000, env = {} } = {}) {
  test(name, { timeout }, async (t) => {
    const sockets = [];
    const track = (...s) => {
      sockets.push(...s);
      return s[0];
    };
    const cluster = await startCluster({ redis: getRedis(), env });
    let failed = false;
    try {
      await fn(cluster, track, t);
    } catch (e) {
      failed = true;
      throw e;
    } finally {
      if (failed || process.env.GAMEHUB_E2E_LOGS) {
        process.stderr.write(`\n##### server logs for "${name}"\n${cluster.logs(80)}\n#####\n`);
      }
      closeAll(sockets);
      await cluster.stop();
    }
  });
}

/**
 * Phases of one scenario as subtests, run in order and sharing its state:
 * `phase(key, title, fn, {needs})` skips the phase unless every phase named
 * in `needs` (default: every earlier one) passed. `phase.check()` throws when
 * any phase failed, so the scenario fails too (and its logs are shown).
 */
function phases(t) {
  const passed = new Set();
  const failed = [];
  const keys = [];
  const phase = async (key, title, fn, { needs, timeout = 20000 } = {}) => {
    const missing = (needs ?? [...keys]).filter((k) => !passed.has(k));
    keys.push(key);
    let ok = false;
    await t.test(`${key}: ${title}`, { timeout }, async (st) => {
      if (missing.length) {
        st.skip(`needs phase ${missing.join(", ")}`);
        return;
      }
      await fn(st);
      ok = true;
    });
    if (ok) passed.add(key);
    else if (!missing.length) failed.push(key);
  };
  phase.check = () => {
    if (failed.length) throw new Error(`phase(s) ${failed.join(", ")} failed (see above)`);
  };
  return phase;
}

// ------------------------------------------------------------------ 1 and 3

describe("cluster: games and lobby across instances", () => {
  let redis;
  before(async () => {
    redis = await startRedis();
  });
  after(async () => redis?.dispose());

  clusterTest(
    "players on node-1 and node-2 play to a win in a room owned by node-0; spectators on every instance see each event once, in order",
    () => redis,
    async ({ nodes: [n0, n1, n2] }, track) => {
      // The room is node-0's: its creator's first tab is on node-0.
      const p1 = await playerAt(n0.url, "p1");
      track(p1.socket);
      const created = await createRoom(p1.socket);
      const roomId = created.room.id;
      assert.equal(created.room.node, "node-0", `room:create ack: ${JSON.stringify(created.room)}`);
      assert.equal(created.seat, 0);
      assert.equal(created.seq, 1);

      // Spectators on every instance (signed in on another one than they connect to).
      const specs = [];
      for (const nd of [n0, n1, n2]) {
        const s = await playerAt(nd.url, `watch${nd.index}`, WS, n2.url);
        track(s.socket);
        const j = await joinRoom(s.socket, roomId, "spectator");
        assert.equal(j.seat, null, `spectator on ${nd.id}`);
        assert.equal(j.seq, 1, `spectator on ${nd.id}: join ack seq`);
        assert.equal(j.room.node, "node-0", `spectator on ${nd.id}: room.node`);
        assertRoomInfo(j.room, { id: roomId, status: "waiting", spectators: specs.length + 1, players: [seated(p1.player, 0)] });
        assert.deepEqual(j.state, { board: [...EMPTY_BOARD], turn: 0, status: "waiting" });
        specs.push({ who: `spectator on ${nd.id}`, socket: s.socket, after: 1 });
      }

      // The creator moves to node-1 (a second tab with the same token), then closes the node-0 tab.
      const p1b = track(await connect(n1.url, p1.token));
      const back = await joinRoom(p1b, roomId);
      assert.equal(back.seat, 0, "same seat from node-1");
      assert.equal(back.seq, 1, "a second tab emits nothing");
      p1.socket.close();
      await sleep(300);

      // The opponent is on node-2, signed in on node-1.
      const p2 = await playerAt(n2.url, "p2", WS, n1.url);
      track(p2.socket);
      const j2 = await joinRoom(p2.socket, roomId);
      assert.equal(j2.seat, 1);
      assert.equal(j2.seq, 3, "player_joined 2, game_started 3 (closing one of two tabs emitted nothing)");
      assert.equal(j2.room.node, "node-0");
      assertRoomInfo(j2.room, { status: "playing", spectators: 3, players: [seated(p1.player, 0), seated(p2.player, 1)] });
      assert.deepEqual(j2.state, { board: [...EMPTY_BOARD], turn: 0, status: "playing" });

      // Error answers come back from the owner as they are.
      assertError(await place(p2.socket, roomId, 4), "not_your_turn", "seat 1 first, via node-2");
      assertError(await place(specs[1].socket, roomId, 4), "not_in_room", "spectator acting, via node-1");
      assertError(await ack(p1b, "room:action", { roomId, action: { type: "place", cell: 9 } }), "invalid_action", "cell 9, via node-1");

      const acks = await playMoves([p1b, p2.socket], roomId, [0, 3, 1, 4, 2], 4);
      assert.deepEqual(acks.at(-1), { ok: true, seq: 9 });
      assertError(await place(p2.socket, roomId, 8), "game_over", "move after the end, via node-2");

      const history = topRowWinHistory(roomId, p1.player, p2.player);
      const everyone = [
        ...specs,
        { who: "seat 0 on node-1", socket: p1b, after: 1 },
        { who: "seat 1 on node-2", socket: p2.socket, after: 3 },
      ];
      await assertExactStreams(roomId, history, everyone);
      assert.deepEqual(p1.socket.rec.of(roomId), [], "the closed node-0 tab got nothing");
      await assertSyncEverywhere(roomId, history, everyone);

      // Chat from node-2 reaches every instance once.
      assert.deepEqual(await ack(p2.socket, "room:chat", { roomId, text: "gg from node-2" }), { ok: true });
      for (const { who, socket } of everyone) {
        await waitUntil(() => socket.rec.chats.length >= 1, { what: `${who}: the chat line` });
      }
      await sleep(250);
      for (const { who, socket } of everyone) {
        assert.equal(socket.rec.chats.length, 1, `${who}: exactly one chat line: ${JSON.stringify(socket.rec.chats)}`);
        assert.equal(socket.rec.chats[0].roomId, roomId);
        assert.equal(socket.rec.chats[0].text, "gg from node-2");
        assert.deepEqual(socket.rec.chats[0].from, { id: p2.player.id, name: p2.player.name });
      }

      // The finished room as a newcomer on node-1 sees it.
      const late = await playerAt(n1.url, "late");
      track(late.socket);
      const watched = await joinRoom(late.socket, roomId, "spectator");
      assert.equal(watched.seq, 9);
      assert.equal(watched.room.status, "finished");
      assert.deepEqual(watched.state.board, board({ 0: 0, 1: 0, 2: 0, 3: 1, 4: 1 }));
      assert.equal(watched.state.winner, 0);
    },
  );

  clusterTest(
    "a game to a draw between node-0 (the owner) and node-1, watched from all three",
    () => redis,
    async ({ nodes: [n0, n1, n2] }, track) => {
      const x = await playerAt(n0.url, "x");
      track(x.socket);
      const created = await createRoom(x.socket);
      const roomId = created.room.id;
      assert.equal(created.room.node, "node-0");
      const specs = [];
      for (const nd of [n2, n1, n0]) {
        const s = await playerAt(nd.url, `dwatch${nd.index}`);
        track(s.socket);
        assert.equal((await joinRoom(s.socket, roomId, "spectator")).seq, 1);
        specs.push({ who: `spectator on ${nd.id}`, socket: s.socket, after: 1 });
      }
      const y = await playerAt(n1.url, "y", WS, n0.url);
      track(y.socket);
      const jy = await joinRoom(y.socket, roomId);
      assert.equal(jy.seat, 1);
      assert.equal(jy.seq, 3);

      // X O X / X O O / O X X
      const cells = [0, 1, 2, 4, 3, 5, 7, 6, 8];
      const acks = await playMoves([x.socket, y.socket], roomId, cells, 4);
      assert.deepEqual(acks.at(-1), { ok: true, seq: 13 });
      const history = roomEvents(roomId, 1, [
        ev.joined(x.player, 0),
        ev.joined(y.player, 1),
        ev.started(),
        ...cells.map((c, i) => ev.placed(i % 2, c)),
        ev.over(null, "draw"),
      ]);
      const everyone = [
        ...specs,
        { who: "seat 0 on node-0", socket: x.socket, after: 1 },
        { who: "seat 1 on node-1", socket: y.socket, after: 3 },
      ];
      await assertExactStreams(roomId, history, everyone);
      await assertSyncEverywhere(roomId, history, everyone);

      // Re-joining through node-1 gives the final view.
      const view = (await joinRoom(y.socket, roomId)).state;
      assert.deepEqual(view.board, [0, 1, 0, 0, 1, 1, 1, 0, 0]);
      assert.equal(view.status, "finished");
      assert.ok(view.winner === undefined || view.winner === null, `no winner in a draw, got ${view.winner}`);
    },
  );

  clusterTest(
    "the same across instances over HTTP long-polling only",
    () => redis,
    async ({ nodes: [n0, n1, n2] }, track) => {
      const a = await playerAt(n2.url, "pa", POLLING);
      const b = await playerAt(n0.url, "pb", POLLING, n2.url);
      const s = await playerAt(n1.url, "ps", POLLING);
      track(a.socket, b.socket, s.socket);
      for (const sock of [a.socket, b.socket, s.socket]) assert.equal(sock.io.engine.transport.name, "polling");

      const created = await createRoom(a.socket);
      const roomId = created.room.id;
      assert.equal(created.room.node, "node-2");
      assert.equal((await joinRoom(s.socket, roomId, "spectator")).seq, 1);
      const jb = await joinRoom(b.socket, roomId);
      assert.equal(jb.seat, 1);
      assert.equal(jb.seq, 3);
      const acks = await playMoves([a.socket, b.socket], roomId, [0, 3, 1, 4, 2], 4);
      assert.deepEqual(acks.at(-1), { ok: true, seq: 9 });
      const history = topRowWinHistory(roomId, a.player, b.player);
      const everyone = [
        { who: "seat 0 on node-2 (owner)", socket: a.socket, after: 1 },
        { who: "seat 1 on node-0", socket: b.socket, after: 3 },
        { who: "spectator on node-1", socket: s.socket, after: 1 },
      ];
      await assertExactStreams(roomId, history, everyone);
      await assertSyncEverywhere(roomId, history, everyone);
      assert.deepEqual(await ack(s.socket, "room:chat", { roomId, text: "polled" }), { ok: true });
      for (const { who, socket } of everyone) {
        await waitUntil(() => socket.rec.chats.length === 1, { what: `${who}: the chat line` });
      }
      for (const sock of [a.socket, b.socket, s.socket]) assert.equal(sock.io.engine.transport.name, "polling", "never upgraded");
    },
  );

  clusterTest(
    "lobby:list and GET /api/v1/rooms on every instance list the rooms of all instances, each with its node",
    () => redis,
    async ({ nodes }, track) => {
      const owners = [];
      for (const nd of nodes) {
        const p = await playerAt(nd.url, `lobby${nd.index}`);
        track(p.socket);
        const created = await createRoom(p.socket);
        assert.equal(created.room.node, nd.id, `room:create on ${nd.id}: ${JSON.stringify(created.room)}`);
        owners.push({ node: nd, player: p, roomId: created.room.id });
      }
      const watchers = [];
      for (const nd of nodes) {
        const w = await playerAt(nd.url, `look${nd.index}`);
        track(w.socket);
        watchers.push(w);
      }
      const expectListed = (rooms, where, status = () => "waiting", players = (o) => [seated(o.player.player, 0)]) => {
        for (const o of owners) {
          const found = rooms.filter((r) => r.id === o.roomId);
          if (found.length !== 1) return `${where}: room ${o.roomId} of ${o.node.id} listed ${found.length} times`;
          const r = found[0];
          if (r.node !== o.node.id) return `${where}: room ${o.roomId} has node ${JSON.stringify(r.node)}, not ${o.node.id}`;
          if (r.status !== status(o)) return `${where}: room ${o.roomId} status ${r.status}`;
          try {
            assertRoomInfo(r, { id: o.roomId, players: players(o) });
          } catch (e) {
            return `${where}: ${e.message}`;
          }
        }
        return null;
      };
      // Other instances learn of a room at the next heartbeat.
      const check = async (...args) => {
        let problem;
        await poll(
          async () => {
            problem = null;
            for (const [i, nd] of nodes.entries()) {
              problem ??= expectListed(await lobbyOf(watchers[i].socket), `lobby:list on ${nd.id}`, ...args);
              problem ??= expectListed(await apiRoomsOf(nd.url), `GET /api/v1/rooms on ${nd.id}`, ...args);
              problem ??= expectListed(await apiRoomsOf(nd.url, "?game=tictactoe"), `GET /api/v1/rooms?game=tictactoe on ${nd.id}`, ...args);
            }
            return problem === null;
          },
          { timeout: DIRECTORY_LAG_MS, what: "every room in every lobby" },
        ).catch((e) => assert.fail(problem ?? e.message));
      };
      await check();
      for (const [i, nd] of nodes.entries()) {
        const other = await lobbyOf(watchers[i].socket, { game: "blackjack" });
        assert.ok(!other.some((r) => owners.some((o) => o.roomId === r.id)), `lobby:list {game: blackjack} on ${nd.id}`);
        const api = await apiRoomsOf(nd.url, "?game=blackjack");
        assert.ok(!api.some((r) => owners.some((o) => o.roomId === r.id)), `GET /api/v1/rooms?game=blackjack on ${nd.id}`);
      }

      // A player from the next instance joins each room: the lobbies follow.
      const joiners = [];
      for (const [i, o] of owners.entries()) {
        const j = await playerAt(nodes[(i + 1) % nodes.length].url, `join${i}`);
        track(j.socket);
        assert.equal((await joinRoom(j.socket, o.roomId)).seat, 1);
        joiners.push(j);
      }
      await check(
        () => "playing",
        (o) => [seated(o.player.player, 0), seated(joiners[owners.indexOf(o)].player, 1)],
      );
    },
  );
});


// ------------------------------------------------------------------ 2

const nginxSkip = nginxBin() ? false : "nginx is not installed (scripts/setup installs it)";

describe("cluster behind nginx", { skip: nginxSkip }, () => {
  let redis;
  before(async () => {
    redis = await startRedis();
  });
  after(async () => redis?.dispose());

  /**
   * One game to a win. `creator` ({who, url, opts}) makes the room; then
   * `plan(ownerNodeId)` names the joiner (seat 1) and the spectators.
   * Checks every ack, every stream and room:sync through every socket.
   */
  async function gameVia(track, creator, plan) {
    const mk = async (p, base) => {
      const q = await playerAt(p.url, base, p.opts);
      track(q.socket);
      assert.equal(q.socket.io.engine.transport.name, p.opts.transports[0], `${p.who}: transport`);
      return { ...q, who: p.who };
    };
    const a = await mk(creator, "ngx-a");
    const created = await createRoom(a.socket);
    const roomId = created.room.id;
    const owner = created.room.node;
    const { joiner, spectators } = plan(owner);
    const specs = [];
    for (const [i, sp] of spectators.entries()) {
      const s = await mk(sp, `ngx-s${i}`);
      assert.equal((await joinRoom(s.socket, roomId, "spectator")).seq, 1, `${sp.who}: spectator join`);
      specs.push({ who: sp.who, socket: s.socket, after: 1 });
    }
    const b = await mk(joiner, "ngx-b");
    const jb = await joinRoom(b.socket, roomId);
    assert.equal(jb.seat, 1, `${joiner.who}: seat`);
    assert.equal(jb.seq, 3, `${joiner.who}: join ack seq`);
    const acks = await playMoves([a.socket, b.socket], roomId, [0, 3, 1, 4, 2], 4);
    assert.deepEqual(acks.at(-1), { ok: true, seq: 9 });
    assertError(await place(b.socket, roomId, 8), "game_over");
    const history = topRowWinHistory(roomId, a.player, b.player);
    const everyone = [...specs, { who: a.who, socket: a.socket, after: 1 }, { who: b.who, socket: b.socket, after: 3 }];
    await assertExactStreams(roomId, history, everyone);
    await assertSyncEverywhere(roomId, history, everyone);
    for (const { who, socket } of everyone) assert.ok(socket.connected, `${who}: still connected`);
    return { roomId, owner };
  }

  /** The instances nginx sent requests to, from its access log. */
  const upstreamsUsed = (proxy) => [...new Set(proxy.accessLog().filter((e) => e.upstream).map((e) => e.upstream))];

  clusterTest(
    "players through nginx and directly on instances play in one room, over WebSocket and over long-polling",
    () => redis,
    async ({ nodes }, track) => {
      const proxy = await startNginx(nodes.map((nd) => nd.url));
      const hostOf = (nd) => new URL(nd.url).host;
      try {
        // WebSocket: the room is created through nginx, so it lives where nginx sent us;
        // seat 1 and a spectator are directly on the other instances.
        const g1 = await gameVia(track, { who: "seat 0 via nginx", url: proxy.url, opts: WS }, (owner) => {
          const others = nodes.filter((nd) => nd.id !== owner);
          assert.equal(others.length, 2, `room.node ${JSON.stringify(owner)} is one of the instances`);
          return {
            joiner: { who: `seat 1 on ${others[0].id}`, url: others[0].url, opts: WS },
            spectators: [
              { who: "spectator via nginx", url: proxy.url, opts: WS },
              { who: `spectator on ${others[1].id}`, url: others[1].url, opts: WS },
            ],
          };
        });
        const used = upstreamsUsed(proxy);
        assert.equal(used.length, 1, `nginx keeps one client address on one instance: ${used.join(", ")}`);
        const behind = nodes.find((nd) => hostOf(nd) === used[0]);
        assert.ok(behind, `nginx upstream ${used[0]} is one of ours`);
        assert.equal(g1.owner, behind.id, "the room created through nginx lives on the instance nginx chose");

        // Long-polling: the room lives on another instance; the nginx players are forwarded to it.
        const other = nodes.find((nd) => nd.id !== behind.id);
        const third = nodes.find((nd) => nd.id !== behind.id && nd.id !== other.id);
        const g2 = await gameVia(track, { who: `seat 0 on ${other.id}`, url: other.url, opts: POLLING }, (owner) => {
          assert.equal(owner, other.id);
          return {
            joiner: { who: "seat 1 via nginx", url: proxy.url, opts: POLLING },
            spectators: [
              { who: "spectator via nginx", url: proxy.url, opts: POLLING },
              { who: `spectator on ${third.id}`, url: third.url, opts: POLLING },
            ],
          };
        });
        assert.equal(g2.owner, other.id);
        assert.deepEqual(upstreamsUsed(proxy), [used[0]], "every polling request through nginx went to the same instance");
      } finally {
        await proxy.stop();
      }
    },
  );
});

// ------------------------------------------------------------------ 4

describe("cluster: the instance that owns a room dies and comes back", () => {
  let redis;
  before(async () => {
    redis = await startRedis();
  });
  after(async () => redis?.dispose());

  clusterTest(
    "kill -9 of the owner: unavailable elsewhere, out of the lobbies after DIRECTORY_TTL_SECS, back with its database",
    () => redis,
    async ({ nodes: [n0, n1, n2] }, track, t) => {
      const phase = phases(t);
      const s = {};
      const listed = async (where) => {
        const found = [];
        if (where.socket) found.push(...(await lobbyOf(where.socket)).filter((r) => r.id === s.roomId));
        found.push(...(await apiRoomsOf(where.url)).filter((r) => r.id === s.roomId));
        return found;
      };

      await phase("4.1", "a game owned by node-0, its players on node-1 and node-2, a spectator on node-1", async () => {
        const p1 = await playerAt(n0.url, "own1");
        track(p1.socket);
        const created = await createRoom(p1.socket);
        s.roomId = created.room.id;
        assert.equal(created.room.node, "node-0");
        s.p1 = p1;
        s.spec = await playerAt(n1.url, "odwatch");
        track(s.spec.socket);
        assert.equal((await joinRoom(s.spec.socket, s.roomId, "spectator")).seq, 1);
        s.p1b = track(await connect(n1.url, p1.token));
        assert.equal((await joinRoom(s.p1b, s.roomId)).seat, 0);
        p1.socket.close();
        await sleep(300);
        s.p2 = await playerAt(n2.url, "own2");
        track(s.p2.socket);
        const j2 = await joinRoom(s.p2.socket, s.roomId);
        assert.equal(j2.seat, 1);
        assert.equal(j2.seq, 3);
        assert.deepEqual(await place(s.p1b, s.roomId, 4), { ok: true, seq: 4 });
        assert.deepEqual(await place(s.p2.socket, s.roomId, 0), { ok: true, seq: 5 });
        for (const sock of [s.p1b, s.p2.socket, s.spec.socket]) await sock.rec.waitSeq(s.roomId, 5);
        await poll(
          async () => (await listed({ socket: s.p1b, url: n1.url })).length === 2 && (await listed({ socket: s.p2.socket, url: n2.url })).length === 2,
          { timeout: DIRECTORY_LAG_MS, what: "the room in the lobbies of node-1 and node-2" },
        );
      });

      await phase("4.2", "kill -9 node-0: calls for its room from node-1 and node-2 answer unavailable, without hanging", async (st) => {
        await n0.kill();
        s.killedAt = Date.now();
        const bound = FORWARD_MS + 1000;
        const ms = [];
        ms.push(await assertErrorWithin(place(s.p1b, s.roomId, 1), "unavailable", bound, "room:action via node-1 right after the kill"));
        ms.push(await assertErrorWithin(ack(s.p2.socket, "room:sync", { roomId: s.roomId, sinceSeq: 5 }), "unavailable", bound, "room:sync via node-2"));
        ms.push(await assertErrorWithin(ack(s.p1b, "room:chat", { roomId: s.roomId, text: "anyone?" }), "unavailable", bound, "room:chat via node-1"));
        st.diagnostic(`unavailable answered in ${ms.join(", ")} ms`);
        for (const sock of [s.p1b, s.p2.socket, s.spec.socket]) assert.equal(sock.rec.lastSeq(s.roomId), 5, "no event since the kill");
      });

      await phase("4.3", "after DIRECTORY_TTL_SECS the room leaves the lobbies of node-1 and node-2 and still answers unavailable", async (st) => {
        const deadline = s.killedAt + DIRECTORY_LAG_MS + 500;
        let gone;
        while (Date.now() <= deadline) {
          const left = (await listed({ socket: s.p1b, url: n1.url })).length + (await listed({ socket: s.p2.socket, url: n2.url })).length;
          if (left === 0) {
            gone = Date.now() - s.killedAt;
            break;
          }
          await sleep(150);
        }
        assert.ok(gone !== undefined, `the dead instance's room was still listed ${DIRECTORY_LAG_MS + 500} ms after the kill`);
        st.diagnostic(`room no longer listed on node-1 and node-2 at the check ${gone} ms after the kill`);
        await assertErrorWithin(place(s.p1b, s.roomId, 1), "unavailable", 1000, "room:action via node-1 once node-0 is known dead");
        const newcomer = await playerAt(n2.url, "odnew");
        track(newcomer.socket);
        await assertErrorWithin(ack(newcomer.socket, "room:join", { roomId: s.roomId }), "unavailable", 1000, "room:join via node-2");
        await assertErrorWithin(ack(s.p2.socket, "room:sync", { roomId: s.roomId, sinceSeq: 0 }), "unavailable", 1000, "room:sync via node-2");
      });

      await phase("4.4", "node-0 restarts with its database: players re-join with the same token through their instances, same seats and board, room:sync fills the gap", async () => {
        await n0.restart();
        const awayInfo = (r) => {
          assert.equal(r.node, "node-0");
          assertRoomInfo(r, { id: s.roomId, status: "playing", players: [seated(s.p1.player, 0, false), seated(s.p2.player, 1, false)] });
        };
        await poll(
          async () => (await listed({ socket: s.p1b, url: n1.url })).length === 2 && (await listed({ socket: s.p2.socket, url: n2.url })).length === 2,
          { timeout: DIRECTORY_LAG_MS, what: "the room back in the lobbies of node-1 and node-2" },
        );
        for (const r of [...(await listed({ socket: s.p1b, url: n1.url })), ...(await listed({ url: n0.url }))]) awayInfo(r);

        // Seat 0 re-joins from its socket on node-1.
        const back1 = await joinRoom(s.p1b, s.roomId);
        assert.equal(back1.seat, 0, "same seat");
        assert.equal(back1.seq, 6, "player_reconnected");
        assert.equal(back1.room.node, "node-0");
        assert.deepEqual(back1.state, { board: board({ 4: 0, 0: 1 }), turn: 0, status: "playing" }, "same board");
        // Seat 1 comes back on a new connection to node-2 with the same token.
        s.p2.socket.close();
        s.p2b = track(await connect(n2.url, s.p2.token));
        const back2 = await joinRoom(s.p2b, s.roomId);
        assert.equal(back2.seat, 1, "same seat");
        assert.equal(back2.seq, 7);
        assert.deepEqual(back2.state, { board: board({ 4: 0, 0: 1 }), turn: 0, status: "playing" });
        assertRoomInfo(back2.room, { status: "playing", players: [seated(s.p1.player, 0), seated(s.p2.player, 1)] });

        const gap = roomEvents(s.roomId, 6, [ev.reconnected(0), ev.reconnected(1)]);
        assert.deepEqual(await syncEvents(s.p2b, s.roomId, 5), gap, "seat 1 (node-2): the missed events");
        assert.deepEqual(await syncEvents(s.p1b, s.roomId, 5), gap, "seat 0 (node-1): the missed events");
        const watch = await joinRoom(s.spec.socket, s.roomId, "spectator");
        assert.equal(watch.seq, 7);
        assert.deepEqual(await syncEvents(s.spec.socket, s.roomId, 5), gap, "spectator (node-1): the missed events");
      });

      await phase("4.5", "play goes on to the end; every instance has the same full history", async () => {
        assert.deepEqual(await place(s.p1b, s.roomId, 1), { ok: true, seq: 8 });
        assert.deepEqual(await place(s.p2b, s.roomId, 2), { ok: true, seq: 9 });
        assert.deepEqual(await place(s.p1b, s.roomId, 7), { ok: true, seq: 11 });
        const history = roomEvents(s.roomId, 1, [
          ev.joined(s.p1.player, 0),
          ev.joined(s.p2.player, 1),
          ev.started(),
          ev.placed(0, 4),
          ev.placed(1, 0),
          ev.reconnected(0),
          ev.reconnected(1),
          ev.placed(0, 1),
          ev.placed(1, 2),
          ev.placed(0, 7),
          ev.over(0, "line"),
        ]);
        const late = await playerAt(n0.url, "odlate");
        track(late.socket);
        assert.equal((await joinRoom(late.socket, s.roomId, "spectator")).seq, 11);
        for (const [who, sock] of [
          ["seat 0 on node-1", s.p1b],
          ["seat 1 on node-2", s.p2b],
          ["spectator on node-1", s.spec.socket],
          ["spectator on node-0", late.socket],
        ]) {
          assert.deepEqual(await syncEvents(sock, s.roomId, 0), history, `${who}: room:sync from 0`);
        }
        for (const sock of [s.p1b, s.p2b, s.spec.socket]) await sock.rec.waitSeq(s.roomId, 11);
        await sleep(250);
        assertStream(s.p2b.rec.events, s.roomId, history, 7, "seat 1, new connection on node-2");
        assertStream(s.p1b.rec.events, s.roomId, history, 6, "seat 0 on node-1");
        assertStream(s.spec.socket.rec.events, s.roomId, history, 7, "spectator on node-1");
        for (const [who, sock] of [["seat 0 on node-1", s.p1b], ["spectator on node-1", s.spec.socket]]) {
          assert.deepEqual(
            sock.rec.of(s.roomId).filter((e) => e.seq <= 5),
            history.slice(1, 5),
            `${who}: the events before the kill`,
          );
        }
      });
      phase.check();
    },
    { timeout: 60000 },
  );
});

// ------------------------------------------------------------------ 5

describe("cluster: Redis goes away and comes back", () => {
  let redis;
  before(async () => {
    redis = await startRedis();
  });
  after(async () => redis?.dispose());

  /** How long after Redis is back everything must work again. */
  const RESUME_MS = 5000;

  /**
   * Send `call()` until it answers something other than `unavailable`, or
   * `until` passes (clients are told to retry an `unavailable` shortly).
   * Resolves to {res, refusals, ms}.
   */
  async function untilAvailable(call, until) {
    const started = Date.now();
    let refusals = 0;
    for (;;) {
      const res = await call();
      if (res?.error?.code !== "unavailable" || Date.now() > until) return { res, refusals, ms: Date.now() - started };
      refusals += 1;
      await sleep(100);
    }
  }

  clusterTest(
    "Redis down: not ready, the owner's own sockets play on, forwarded calls answer unavailable; Redis back: everything resumes",
    () => redis,
    async (cluster, track, t) => {
      const { nodes } = cluster;
      const [n0, n1] = nodes;
      const phase = phases(t);
      // R: both players on its owner node-0, a spectator on node-1.
      const R = {};
      // F[i]: owned by node-i; seat 0 there, seat 1 on node-(i+1), a spectator on node-(i+2).
      const F = [];
      let backAt;

      await phase("5.1", "a game on node-0 between two of its own sockets; on every instance a game with a player and a spectator elsewhere", async () => {
        R.a = await playerAt(n0.url, "ra");
        R.b = await playerAt(n0.url, "rb");
        R.s = await playerAt(n1.url, "rs");
        track(R.a.socket, R.b.socket, R.s.socket);
        R.id = (await createRoom(R.a.socket)).room.id;
        assert.equal((await joinRoom(R.s.socket, R.id, "spectator")).seq, 1);
        assert.equal((await joinRoom(R.b.socket, R.id)).seq, 3);
        assert.deepEqual(await place(R.a.socket, R.id, 0), { ok: true, seq: 4 });
        for (const sock of [R.a.socket, R.b.socket, R.s.socket]) await sock.rec.waitSeq(R.id, 4);

        for (const [i, owner] of nodes.entries()) {
          const far = nodes[(i + 1) % 3];
          const farther = nodes[(i + 2) % 3];
          const f = { owner, far, farther };
          f.c = await playerAt(owner.url, `fc${i}`);
          f.d = await playerAt(far.url, `fd${i}`);
          f.s = await playerAt(farther.url, `fs${i}`);
          track(f.c.socket, f.d.socket, f.s.socket);
          const created = await createRoom(f.c.socket);
          f.id = created.room.id;
          assert.equal(created.room.node, owner.id);
          assert.equal((await joinRoom(f.s.socket, f.id, "spectator")).seq, 1);
          const jd = await joinRoom(f.d.socket, f.id);
          assert.equal(jd.seat, 1);
          assert.equal(jd.seq, 3);
          assert.deepEqual(await place(f.c.socket, f.id, 4), { ok: true, seq: 4 });
          for (const sock of [f.c.socket, f.d.socket, f.s.socket]) await sock.rec.waitSeq(f.id, 4);
          f.who = (what) => `${what} of ${owner.id}'s room`;
          F.push(f);
        }
      });

      await phase("5.2", "Redis stops: a forwarded move answers unavailable without hanging, a move on the owner goes through, /health/ready fails naming redis on every instance within 5 s", async (st) => {
        await redis.stop();
        const stoppedAt = Date.now();
        const [fwd, local] = await Promise.all([timed(place(F[0].d.socket, F[0].id, 0)), timed(place(R.b.socket, R.id, 3))]);
        assertError(fwd.value, "unavailable", `room:action via node-1 just after Redis stopped (answered in ${fwd.ms} ms)`);
        assert.ok(fwd.ms <= FORWARD_MS + 1000, `forwarded room:action answered after ${fwd.ms} ms`);
        assert.deepEqual(local.value, { ok: true, seq: 5 }, `room:action on the owner just after Redis stopped (answered in ${local.ms} ms)`);
        const times = await readinessTimes(nodes, redisFailing, 5000, "/health/ready 503 naming redis", stoppedAt);
        st.diagnostic(`forwarded unavailable in ${fwd.ms} ms, local move acked in ${local.ms} ms; readiness failed after ${JSON.stringify(times)} ms`);
      });

      await phase("5.3", "the game between two players on the owner goes on: acks ok, every event delivered once", async () => {
        assert.deepEqual(await place(R.a.socket, R.id, 1), { ok: true, seq: 6 });
        const history = roomEvents(R.id, 1, [
          ev.joined(R.a.player, 0),
          ev.joined(R.b.player, 1),
          ev.started(),
          ev.placed(0, 0),
          ev.placed(1, 3),
          ev.placed(0, 1),
        ]);
        await assertExactStreams(R.id, history, [
          { who: "seat 0 on node-0", socket: R.a.socket, after: 1 },
          { who: "seat 1 on node-0", socket: R.b.socket, after: 3 },
        ]);
        assert.deepEqual(await syncEvents(R.b.socket, R.id, 0), history);
      });

      await phase(
        "5.4",
        "a new room on node-0 while Redis is down: two players there play, every event delivered",
        async (st) => {
          const e = await playerAt(n0.url, "ne");
          const g = await playerAt(n0.url, "ng");
          track(e.socket, g.socket);
          const created = await timed(createRoom(e.socket));
          const roomId = created.value.room.id;
          assert.equal(created.value.room.node, "node-0");
          const joined = await timed(joinRoom(g.socket, roomId));
          assert.equal(joined.value.seat, 1);
          assert.equal(joined.value.seq, 3);
          const m1 = await timed(place(e.socket, roomId, 4));
          assert.deepEqual(m1.value, { ok: true, seq: 4 });
          const m2 = await timed(place(g.socket, roomId, 0));
          assert.deepEqual(m2.value, { ok: true, seq: 5 });
          st.diagnostic(`create ${created.ms} ms, join ${joined.ms} ms, moves ${m1.ms} and ${m2.ms} ms`);
          const history = roomEvents(roomId, 1, [
            ev.joined(e.player, 0),
            ev.joined(g.player, 1),
            ev.started(),
            ev.placed(0, 4),
            ev.placed(1, 0),
          ]);
          assert.deepEqual(await syncEvents(e.socket, roomId, 0), history);
          await assertExactStreams(roomId, history, [
            { who: "creator on node-0", socket: e.socket, after: 1 },
            { who: "joiner on node-0", socket: g.socket, after: 3 },
          ]);
        },
        { needs: ["5.2"] },
      );

      await phase(
        "5.5",
        "forwarded calls answer unavailable at once on every instance while Redis is down",
        async () => {
          for (const f of F) {
            await assertErrorWithin(place(f.d.socket, f.id, 0), "unavailable", 1000, f.who(`room:action via ${f.far.id}`));
            await assertErrorWithin(ack(f.d.socket, "room:sync", { roomId: f.id, sinceSeq: 0 }), "unavailable", 1000, f.who(`room:sync via ${f.far.id}`));
            await assertErrorWithin(ack(f.d.socket, "room:chat", { roomId: f.id, text: "hello?" }), "unavailable", 1000, f.who(`room:chat via ${f.far.id}`));
            await assertErrorWithin(ack(f.s.socket, "room:sync", { roomId: f.id, sinceSeq: 0 }), "unavailable", 1000, f.who(`room:sync via ${f.farther.id}`));
          }
          await assertErrorWithin(ack(R.s.socket, "room:join", { roomId: R.id, role: "spectator" }), "unavailable", 1000, "room:join via node-1");
        },
        { needs: ["5.2"] },
      );

      await phase(
        "5.6",
        "Redis comes back on the same port: /health/ready is 200 on every instance within 5 s",
        async (st) => {
          await redis.start();
          backAt = Date.now();
          const times = await readinessTimes(nodes, allReady, RESUME_MS, "/health/ready 200 with redis ok", backAt);
          st.diagnostic(`ready again after ${JSON.stringify(times)} ms`);
        },
        { needs: ["5.1"] },
      );

      await phase(
        "5.7",
        "forwarded moves work again on every instance, from the same sockets: nobody was taken for gone",
        async (st) => {
          const notes = [];
          const problems = [];
          for (const f of F) {
            const { res, refusals, ms } = await untilAvailable(() => place(f.d.socket, f.id, 0), backAt + RESUME_MS);
            notes.push(`${f.owner.id}'s room: ${JSON.stringify(res)} after ${ms} ms and ${refusals} unavailable`);
            f.resumed = res?.ok === true && res.seq === 5;
            if (!f.resumed) problems.push(`${f.who(`room:action (place 0) by seat 1 via ${f.far.id}`)} answered ${JSON.stringify(res)}`);
            const events = await syncEvents(f.c.socket, f.id, 0);
            const strays = events.filter((e) => e.seq > 4);
            const want = f.resumed ? [{ roomId: f.id, seq: 5, event: ev.placed(1, 0) }] : [];
            if (JSON.stringify(strays) !== JSON.stringify(want)) {
              problems.push(`${f.who("history at the owner")} after seq 4: ${JSON.stringify(strays.map((e) => e.event))}, expected ${JSON.stringify(want.map((e) => e.event))}`);
            }
          }
          st.diagnostic(notes.join("; "));
          assert.deepEqual(problems, [], "after Redis came back, every seated player elsewhere plays on, and nobody was disconnected");
        },
        { needs: ["5.6"] },
      );

      await phase(
        "5.8",
        "room events cross instances again: every seat and spectator elsewhere gets the next moves live",
        async (st) => {
          const live = F.filter((f) => f.resumed);
          if (live.length < F.length) st.diagnostic(`only ${live.map((f) => f.owner.id).join(", ") || "no"} room(s) could go on after 5.7`);
          assert.ok(live.length > 0, "no room could go on after Redis came back (see 5.7)");
          for (const f of live) {
            assert.deepEqual(await place(f.c.socket, f.id, 8), { ok: true, seq: 6 }, f.who("room:action at the owner"));
          }
          const problems = [];
          for (const f of live) {
            for (const [what, sock] of [[`seat 1 on ${f.far.id}`, f.d.socket], [`spectator on ${f.farther.id}`, f.s.socket]]) {
              try {
                await sock.rec.waitSeq(f.id, 6);
              } catch {
                problems.push(`${f.who(what)} got seqs ${JSON.stringify(sock.rec.of(f.id).map((e) => e.seq))}, not 5 and 6`);
              }
            }
          }
          assert.deepEqual(problems, [], "room:events broadcast by the owner after Redis came back");
          for (const f of live) {
            const history = roomEvents(f.id, 1, [
              ev.joined(f.c.player, 0),
              ev.joined(f.d.player, 1),
              ev.started(),
              ev.placed(0, 4),
              ev.placed(1, 0),
              ev.placed(0, 8),
            ]);
            await assertExactStreams(f.id, history, [
              { who: f.who(`seat 0 on ${f.owner.id}`), socket: f.c.socket, after: 1 },
              { who: f.who(`seat 1 on ${f.far.id}`), socket: f.d.socket, after: 3 },
              { who: f.who(`spectator on ${f.farther.id}`), socket: f.s.socket, after: 1 },
            ]);
          }
        },
        { needs: ["5.6"] },
      );

      await phase(
        "5.9",
        "a spectator on another instance that missed events while Redis was down sees the gap and room:sync fills it",
        async () => {
          assert.deepEqual(await place(R.b.socket, R.id, 4), { ok: true, seq: 7 });
          await R.s.socket.rec
            .waitSeq(R.id, 7)
            .catch(() => assert.fail(`the spectator on node-1 got no room:event after Redis came back: ${JSON.stringify(R.s.socket.rec.of(R.id).map((e) => e.seq))}`));
          // It sees a gap (5 and 6 were sent while Redis was down) and syncs from before it.
          let contiguous = 1;
          for (const e of R.s.socket.rec.of(R.id)) if (e.seq === contiguous + 1) contiguous = e.seq;
          assert.equal(contiguous, 4, `the spectator saw a gap after 4: ${JSON.stringify(R.s.socket.rec.of(R.id).map((e) => e.seq))}`);
          const history = roomEvents(R.id, 1, [
            ev.joined(R.a.player, 0),
            ev.joined(R.b.player, 1),
            ev.started(),
            ev.placed(0, 0),
            ev.placed(1, 3),
            ev.placed(0, 1),
            ev.placed(1, 4),
          ]);
          const { res } = await untilAvailable(() => ack(R.s.socket, "room:sync", { roomId: R.id, sinceSeq: contiguous }), backAt + RESUME_MS);
          assert.deepEqual(assertOk(res, "room:sync via node-1").events, history.slice(contiguous), `room:sync from ${contiguous} via node-1`);
          assertStream(R.s.socket.rec.events, R.id, history, 6, "spectator on node-1");

          assert.deepEqual(await place(R.a.socket, R.id, 2), { ok: true, seq: 9 });
          const full = [...history, { roomId: R.id, seq: 8, event: ev.placed(0, 2) }, { roomId: R.id, seq: 9, event: ev.over(0, "line") }];
          await R.s.socket.rec.waitSeq(R.id, 9);
          assertStream(R.s.socket.rec.events, R.id, full, 6, "spectator on node-1");
          await assertExactStreams(R.id, full, [
            { who: "seat 0 on node-0", socket: R.a.socket, after: 1 },
            { who: "seat 1 on node-0", socket: R.b.socket, after: 3 },
          ]);
          assert.deepEqual(await syncEvents(R.s.socket, R.id, 0), full);
        },
        { needs: ["5.6"] },
      );

      await phase(
        "5.10",
        "the lobby of every instance lists the rooms of all of them again",
        async () => {
          const want = [
            [R.id, "node-0"],
            ...F.map((f) => [f.id, f.owner.id]),
          ];
          let missing;
          await poll(
            async () => {
              missing = [];
              for (const nd of nodes) {
                const rooms = await apiRoomsOf(nd.url);
                for (const [id, node] of want) {
                  if (!rooms.some((r) => r.id === id && r.node === node)) missing.push(`${id} of ${node} on ${nd.id}`);
                }
              }
              return missing.length === 0;
            },
            { timeout: Math.max(backAt + RESUME_MS - Date.now(), 0) + TTL_MS, what: "every room in every lobby" },
          ).catch(() => assert.fail(`rooms missing from lobbies: ${missing.join(", ")}`));
        },
        { needs: ["5.6"] },
      );
      phase.check();
    },
    { timeout: 60000 },
  );
});
