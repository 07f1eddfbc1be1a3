// Operations: health, metrics, logs, graceful shutdown, durability of acked moves.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { closeAll, connect, http, randomSecret, startServer, waitUntil } from "./helpers/server.js";
import { assertOk, board, createRoom, joinRoom, newPlayer, place, startGame, syncEvents } from "./helpers/game.js";

describe("health and metrics", () => {
  let server;
  before(async () => {
    server = await startServer();
  });
  after(async () => server?.stop());

  test("GET /health/live -> 200", async () => {
    const res = await http(server.url, "/health/live");
    assert.equal(res.status, 200, res.text);
  });

  test("GET /health/ready -> 200 {status: ready, checks: {...}}", async () => {
    const res = await http(server.url, "/health/ready");
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json?.status, "ready", res.text);
    assert.equal(typeof res.json.checks, "object");
    assert.notEqual(res.json.checks, null);
    assert.ok(!Array.isArray(res.json.checks));
    assert.ok(Object.keys(res.json.checks).length > 0, "at least one check (storage) is named");
  });

  test("GET /metrics is Prometheus text with the documented gamehub_ metrics, counting what happened", async () => {
    // Some activity first: two sockets, one room playing, one ok and one invalid action.
    const { a, b, roomId } = await startGame(server.url);
    let text;
    try {
      assertOk(await place(a.socket, roomId, 4));
      assert.equal((await place(b.socket, roomId, 4)).error?.code, "invalid_action");
      const res = await http(server.url, "/metrics");
      assert.equal(res.status, 200);
      assert.match(res.headers.get("content-type") ?? "", /^text\/plain/);
      text = res.text;
    } finally {
      closeAll(a.socket, b.socket);
    }
    const lines = text.split("\n").filter((l) => l.length > 0);
    const sampleLine = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (-?[0-9.eE+-]+|NaN|\+Inf|-Inf)( -?\d+)?$/;
    const samples = [];
    for (const l of lines) {
      if (l.startsWith("#")) continue;
      const m = sampleLine.exec(l);
      assert.ok(m, `not a Prometheus sample line: ${l}`);
      const labels = Object.fromEntries([...(m[2] ?? "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((x) => [x[1], x[2]]));
      samples.push({ name: m[1], labels, value: Number(m[3]) });
    }
    const value = (name, labels = {}) => {
      const found = samples.filter(
        (x) => x.name === name && Object.entries(labels).every(([k, v]) => x.labels[k] === v),
      );
      assert.ok(found.length > 0, `no sample ${name}${JSON.stringify(labels)} in:\n${text}`);
      return found.reduce((sum, x) => sum + x.value, 0);
    };
    // The metrics docs/operations.md names, with the values this test caused.
    for (const [name, type] of [
      ["gamehub_connected_sockets", "gauge"],
      ["gamehub_rooms", "gauge"],
      ["gamehub_events_total", "counter"],
      ["gamehub_event_duration_seconds", "histogram"],
      ["gamehub_actions_total", "counter"],
      ["gamehub_action_duration_seconds", "histogram"],
      ["gamehub_rate_limited_total", "counter"],
      ["gamehub_mailbox_full_total", "counter"],
    ]) {
      assert.ok(lines.includes(`# TYPE ${name} ${type}`), `missing "# TYPE ${name} ${type}"`);
    }
    assert.equal(value("gamehub_connected_sockets"), 2);
    assert.equal(value("gamehub_rooms", { game: "tictactoe", status: "playing" }), 1);
    assert.equal(value("gamehub_actions_total", { game: "tictactoe", code: "ok" }), 1);
    assert.equal(value("gamehub_actions_total", { game: "tictactoe", code: "invalid_action" }), 1);
    assert.equal(value("gamehub_events_total", { event: "room:create", code: "ok" }), 1);
    assert.equal(value("gamehub_events_total", { event: "room:join", code: "ok" }), 1);
    assert.equal(value("gamehub_action_duration_seconds_count", { game: "tictactoe" }), 2);
    assert.equal(value("gamehub_rate_limited_total"), 0);
  });
});

describe("graceful shutdown", () => {
  test("SIGTERM: every connected socket gets server:draining, then the process exits 0", async () => {
    const server = await startServer({ SHUTDOWN_TIMEOUT_SECS: "5", DRAIN_RETRY_MS: "1234" });
    let sockets = [];
    try {
      const { a, b, roomId } = await startGame(server.url);
      const idle = await newPlayer(server.url, "idle");
      const poller = await newPlayer(server.url, "poller", { transports: ["polling"], upgrade: false });
      sockets = [a.socket, b.socket, idle.socket, poller.socket];
      assertOk(await place(a.socket, roomId, 0));

      server.proc.kill("SIGTERM");
      for (const [i, s] of sockets.entries()) {
        const d = await waitUntil(() => s.rec.draining[0], { what: `server:draining on socket ${i}` });
        assert.deepEqual(Object.keys(d), ["retryInMs"], `socket ${i}: ${JSON.stringify(d)}`);
        assert.equal(d.retryInMs, 1234, "retryInMs is DRAIN_RETRY_MS");
      }
      closeAll(sockets);
      const code = await Promise.race([
        server.exited.then(() => server.proc.exitCode),
        new Promise((_, rej) => setTimeout(() => rej(new Error("no exit within 10 s of SIGTERM")), 10000)),
      ]);
      assert.equal(code, 0, `exit code after SIGTERM; logs:\n${server.logs().slice(-2000)}`);
      assert.equal(server.proc.signalCode, null, "exited by itself, not killed by the signal");
    } finally {
      closeAll(sockets);
      await server.stop();
    }
  });
});

describe("durability and logs", () => {
  test("acknowledged moves survive kill -9 and a restart on the same database", async () => {
    const dir = mkdtempSync(join(tmpdir(), "gamehub-e2e-"));
    const env = { DB_PATH: join(dir, "gamehub.db"), SECRET_KEY: randomSecret(), RECONNECT_GRACE_SECS: "30" };
    let first;
    let second;
    let sockets = [];
    try {
      first = await startServer(env);
      const { a, b, roomId } = await startGame(first.url);
      sockets = [a.socket, b.socket];
      assert.deepEqual(await place(a.socket, roomId, 4), { ok: true, seq: 4 });
      assert.deepEqual(await place(b.socket, roomId, 0), { ok: true, seq: 5 });
      assert.deepEqual(await place(a.socket, roomId, 8), { ok: true, seq: 6 });
      const before = await syncEvents(a.socket, roomId, 0);
      await first.kill();
      closeAll(sockets);

      second = await startServer(env);
      const a2 = await connect(second.url, a.token);
      const b2 = await connect(second.url, b.token);
      sockets = [a2, b2];
      const back = await joinRoom(a2, roomId);
      assert.equal(back.seat, 0);
      assert.deepEqual(back.state.board, board({ 4: 0, 0: 1, 8: 0 }));
      assert.equal(back.state.turn, 1);
      const history = await syncEvents(a2, roomId, 0);
      assert.deepEqual(history.slice(0, 6), before, "every acked event is still there, unchanged");
      const bBack = await joinRoom(b2, roomId);
      assert.equal(bBack.seat, 1);
      const res = assertOk(await place(b2, roomId, 2));
      assert.equal(res.seq, bBack.seq + 1, "seq continues after the restart");
    } finally {
      closeAll(sockets);
      await first?.kill();
      await second?.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("LOG_FORMAT=json writes one JSON object per log line", async () => {
    const server = await startServer({ LOG_FORMAT: "json" });
    try {
      const p = await newPlayer(server.url, "logger");
      await createRoom(p.socket);
      closeAll(p.socket);
      const lines = server.logs().split("\n").filter((l) => l.trim().length > 0);
      assert.ok(lines.length > 0);
      for (const l of lines) {
        assert.doesNotThrow(() => JSON.parse(l), `not a JSON log line: ${l}`);
      }
    } finally {
      await server.stop();
    }
  });
});
