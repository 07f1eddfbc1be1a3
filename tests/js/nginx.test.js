// gamehub behind a real nginx, configured by the shipped nginx/nginx.conf and
// nginx/gamehub.conf (helpers/nginx.js rewrites only ports and paths).
//
// 1. One gamehub behind nginx: HTTP API, health, metrics, a game over each
//    transport, the body limit, and the headers nginx forwards.
// 2. Two independent gamehubs (separate databases, same SECRET_KEY, no Redis)
//    behind nginx: every request from one address reaches one instance, so a
//    game works over every transport, long-polling included; without the
//    affinity line it does not; and when that instance is killed, new
//    connections go to the other one.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createServer, request } from "node:http";
import { ack, closeAll, connect, guest, http, nextEvent, randomSecret, startServer, waitUntil } from "./helpers/server.js";
import {
  playShortGame,
} from "./helpers/game.js";
import { nginxBin, sidOf, startNginx } from "./helpers/nginx.js";

const skip = nginxBin() ? false : "nginx is not installed (scripts/setup installs it)";

const WS = { transports: ["websocket"] };
const POLLING = { transports: ["polling"], upgrade: false };
const UPGRADE = { transports: ["polling", "websocket"] };

const onWebSocket = async (...socks) => {
  for (const s of socks) assert.equal(s.io.engine.transport.name, "websocket");
};
const onPolling = async (...socks) => {
  for (const s of socks) assert.equal(s.io.engine.transport.name, "polling");
};
const upgraded = async (...socks) => {
  for (const s of socks) {
    if (s.io.engine.transport.name !== "websocket") await nextEvent(s.io.engine, "upgrade", () => true, 5000);
    assert.equal(s.io.engine.transport.name, "websocket", "upgraded to websocket");
  }
};

/** socket.io lines of the access log after the first `from` lines. */
function socketIoLines(proxy, from) {
  return proxy.accessLog().slice(from).filter((e) => e.request?.includes(" /socket.io/"));
}

/**
 * The socket.io lines after `from`, once the sockets are closed and nginx has
 * logged them all (it logs a WebSocket when it closes, a polling GET when the
 * hub answers it): at least two lines, and no new one for 200 ms.
 */
async function settledSocketIoLines(proxy, from) {
  let last = -1;
  let stableSince = Date.now();
  return waitUntil(
    () => {
      const lines = socketIoLines(proxy, from);
      if (lines.length !== last) {
        last = lines.length;
        stableSince = Date.now();
        return undefined;
      }
      return lines.length >= 2 && Date.now() - stableSince >= 200 ? lines : undefined;
    },
    { what: "the socket.io requests in the access log" },
  );
}

// ------------------------------------------------------------------ one instance

describe("nginx in front of one gamehub", { skip }, () => {
  let server;
  let proxy;
  before(async () => {
    server = await startServer();
    proxy = await startNginx([server]);
  });
  after(async () => {
    await proxy?.stop();
    await server?.stop();
  });

  test("guest sign-in and the HTTP API through nginx", async () => {
    const { token, player } = await guest(proxy.url, "via-nginx");
    assert.ok(token && player.id);
    const rooms = await http(proxy.url, "/api/v1/rooms");
    assert.equal(rooms.status, 200);
    assert.ok(Array.isArray(rooms.json.rooms));
    const board = await http(proxy.url, "/api/v1/leaderboard?game=tictactoe");
    assert.equal(board.status, 200);
    // The token nginx brought back is the hub's own.
    const s = await connect(server.url, token);
    s.close();
  });

  test("/health/live, /health/ready and /metrics through nginx; nothing else", async () => {
    const live = await http(proxy.url, "/health/live");
    assert.equal(live.status, 200, live.text);
    const ready = await http(proxy.url, "/health/ready");
    assert.equal(ready.status, 200, ready.text);
    assert.deepEqual(ready.json, { status: "ready", checks: { storage: "ok", accepting: "ok" } });
    const metrics = await http(proxy.url, "/metrics");
    assert.equal(metrics.status, 200, "127.0.0.1 is on the /metrics allow list");
    assert.match(metrics.text, /^gamehub_/m);
    assert.equal((await http(proxy.url, "/")).status, 404);
    assert.equal((await http(proxy.url, "/index.html")).status, 404);
    assert.doesNotMatch(metrics.headers.get("server") ?? "", /\d/, "server_tokens off: no nginx version");
  });

  test("a request body over 1 MiB is refused by nginx (413), not sent to the hub", async () => {
    const before = proxy.accessLog().length;
    const res = await http(proxy.url, "/api/v1/auth/guest", {
      method: "POST",
      headers: { "content-type": "application/json" },
      rawBody: JSON.stringify({ name: "x".repeat(1024 * 1024 + 10) }),
    });
    assert.equal(res.status, 413);
    assert.match(res.text, /<html>/, "nginx's own error page");
    await waitUntil(() => proxy.accessLog().length > before, { what: "access log line" });
    assert.deepEqual(proxy.accessLog().at(-1).upstreams, [], "no upstream was asked");
  });

  test("a full game over WebSocket through nginx", async () => {
    await playShortGame(proxy.url, WS, onWebSocket);
  });

  test("a full game over long-polling only through nginx", async () => {
    await playShortGame(proxy.url, POLLING, onPolling);
  });

  test("a full game over polling upgraded to WebSocket through nginx", async () => {
    await playShortGame(proxy.url, UPGRADE, upgraded);
  });
});

// ------------------------------------------------------------------ forwarded headers

describe("what nginx sends upstream", { skip }, () => {
  // A stand-in upstream that records each request's headers.
  const seen = [];
  let echo;
  let proxy;
  before(async () => {
    echo = createServer((req, res) => {
      seen.push({ url: req.url, httpVersion: req.httpVersion, headers: req.headers });
      res.setHeader("content-type", "application/json");
      res.end("{}");
    });
    echo.on("upgrade", (req, sock) => {
      seen.push({ url: req.url, httpVersion: req.httpVersion, headers: req.headers, upgrade: true });
      sock.end("HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
    });
    await new Promise((res) => echo.listen(0, "127.0.0.1", res));
    proxy = await startNginx([`http://127.0.0.1:${echo.address().port}`]);
  });
  after(async () => {
    await proxy?.stop();
    await new Promise((res) => (echo ? echo.close(res) : res()));
  });

  test("Host, X-Real-IP, X-Forwarded-For (appended), X-Forwarded-Proto over HTTP/1.1, without Upgrade", async () => {
    seen.length = 0;
    const res = await http(proxy.url, "/api/v1/rooms", { headers: { "x-forwarded-for": "203.0.113.7" } });
    assert.equal(res.status, 200);
    const h = seen.at(-1).headers;
    assert.equal(seen.at(-1).httpVersion, "1.1");
    assert.equal(h.host, "127.0.0.1");
    assert.equal(h["x-real-ip"], "127.0.0.1");
    assert.equal(h["x-forwarded-for"], "203.0.113.7, 127.0.0.1");
    assert.equal(h["x-forwarded-proto"], "http");
    assert.equal(h.upgrade, undefined);
    assert.notEqual((h.connection ?? "").toLowerCase(), "upgrade");
  });

  test("a WebSocket handshake on /socket.io/ is passed with Upgrade and Connection: upgrade", async () => {
    seen.length = 0;
    // fetch() may not set Upgrade or Connection: a plain node:http request does.
    const status = await new Promise((res, rej) => {
      const req = request(`${proxy.url}/socket.io/?EIO=4&transport=websocket`, {
        headers: { upgrade: "websocket", connection: "Upgrade", "sec-websocket-version": "13", "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==" },
        timeout: 5000,
      });
      req.once("response", (r) => {
        r.resume();
        res(r.statusCode);
      });
      req.once("upgrade", (r, sock) => {
        sock.destroy();
        res(r.statusCode);
      });
      req.once("timeout", () => req.destroy(new Error("no answer within 5000 ms")));
      req.once("error", rej);
      req.end();
    });
    assert.equal(status, 400, "the stand-in's refusal comes back through nginx");
    await waitUntil(() => seen.find((r) => r.upgrade), { what: "upgrade request at the upstream" });
    const h = seen.find((r) => r.upgrade).headers;
    assert.equal(h.upgrade, "websocket");
    assert.equal(h.connection.toLowerCase(), "upgrade");
    assert.equal(h["x-forwarded-for"], "127.0.0.1");
  });
});

// ------------------------------------------------------------------ two instances

describe("nginx in front of two independent gamehubs (no Redis)", { skip }, () => {
  const secret = randomSecret();
  const hubs = [];
  let proxy;
  /** The instance every request from 127.0.0.1 goes to, once known. */
  let home;

  const hubOf = (addr) => hubs.find((h) => new URL(h.url).host === addr);
  /** The instances that list `roomId` in their own GET /api/v1/rooms (asked directly). */
  async function listing(roomId) {
    const found = [];
    for (const h of hubs) {
      if (h.proc.exitCode !== null || h.proc.signalCode !== null) continue;
      const res = await http(h.url, "/api/v1/rooms");
      assert.equal(res.status, 200);
      const room = res.json.rooms.find((r) => r.id === roomId);
      if (room) found.push({ hub: h, room });
    }
    return found;
  }

  /**
   * Play a game through nginx and check that one instance served all of it:
   * the room is listed by exactly that instance, and every socket.io request
   * of the game (every polling request of every session) went there.
   */
  async function gameOnOneInstance(connectOpts, checkTransport) {
    const from = proxy.accessLog().length;
    const { roomId } = await playShortGame(proxy.url, connectOpts, checkTransport);
    const where = await listing(roomId);
    assert.equal(where.length, 1, `room ${roomId} is on exactly one instance`);
    const [{ hub, room }] = where;
    assert.equal(room.node, hub.env.NODE_ID);

    const lines = await settledSocketIoLines(proxy, from);
    const served = new Set(lines.map((e) => e.upstream));
    assert.deepEqual([...served], [new URL(hub.url).host], "every socket.io request went to the room's instance");
    return { hub, roomId, lines };
  }

  before(async () => {
    for (const id of ["node-a", "node-b"]) hubs.push(await startServer({ SECRET_KEY: secret, NODE_ID: id }));
    proxy = await startNginx(hubs);
  });
  after(async () => {
    await proxy?.stop();
    for (const h of hubs) await h.stop();
  });

  test("the instances share nothing but SECRET_KEY: a token from nginx works on both", async () => {
    assert.notEqual(hubs[0].dbPath, hubs[1].dbPath);
    const { token } = await guest(proxy.url, "anywhere");
    for (const h of hubs) {
      const s = await connect(h.url, token);
      s.close();
    }
  });

  test("WebSocket: both players of a game land on the same instance", async () => {
    const { hub } = await gameOnOneInstance(WS, onWebSocket);
    home = hub;
  });

  test("long-polling only: every request of every session reaches the same instance", async () => {
    const { hub, lines } = await gameOnOneInstance(POLLING, onPolling);
    assert.equal(hub, home, "the same address hashes to the same instance");
    const sids = new Set(lines.map((e) => sidOf(e.request)).filter(Boolean));
    assert.ok(sids.size >= 2, `two polling sessions in the access log, got ${sids.size}`);
    assert.ok(lines.length >= 3 * sids.size, `several requests per polling session (${lines.length} for ${sids.size})`);
    const refused = lines.filter((e) => e.status === 400);
    assert.deepEqual(refused, [], "no 400 (Session ID unknown)");
  });

  test("polling upgraded to WebSocket: the same instance all along", async () => {
    const { hub } = await gameOnOneInstance(UPGRADE, upgraded);
    assert.equal(hub, home);
  });

  test("/health/ready and /metrics through nginx come from that instance", async () => {
    const from = proxy.accessLog().length;
    const ready = await http(proxy.url, "/health/ready");
    assert.equal(ready.status, 200, ready.text);
    const metrics = await http(proxy.url, "/metrics");
    assert.equal(metrics.status, 200);
    assert.match(metrics.text, /^gamehub_connected_sockets /m);
    await waitUntil(() => proxy.accessLog().slice(from).some((e) => e.request.includes("/metrics")), { what: "metrics line" });
    const line = proxy.accessLog().slice(from).find((e) => e.request.includes("/metrics"));
    assert.equal(hubOf(line.upstream), home);
  });

  test("control: without the hash line (round robin), long-polling sessions break", async () => {
    // The same template minus its affinity line: requests alternate between
    // the instances, so a polling session's requests reach an instance that
    // does not know it (400 "Session ID unknown").
    const rr = await startNginx(hubs, {
      edit: (conf) => {
        const out = conf.replace(/^[ \t]*hash \$remote_addr consistent;[ \t]*\n/m, "");
        assert.notEqual(out, conf, "the template has the hash line");
        return out;
      },
    });
    const sockets = [];
    try {
      const { token } = await guest(rr.url, "roundrobin");
      let failed = 0;
      for (let i = 0; i < 4; i++) {
        const s = connect(rr.url, token, { ...POLLING, timeout: 2000 });
        try {
          const sock = await s;
          sockets.push(sock);
          // A session that got through the handshake still breaks on its next requests.
          await ack(sock, "lobby:list", {}, 2000);
        } catch {
          failed += 1;
        }
      }
      assert.ok(failed > 0, "at least one polling session failed without affinity");
      await waitUntil(() => socketIoLines(rr, 0).some((e) => e.status === 400), { what: "a 400 in the access log" });
    } finally {
      closeAll(sockets);
      await rr.stop();
    }
  });

  test("a SIGKILLed instance: nginx skips it and new connections go to the other one", async () => {
    assert.ok(home, "the home instance is known (earlier tests)");
    const survivor = hubs.find((h) => h !== home);
    await home.kill();

    // HTTP, then games over each transport: all through nginx, all on the survivor.
    const { token } = await guest(proxy.url, "after-kill");
    assert.ok(token);
    const ready = await http(proxy.url, "/health/ready");
    assert.equal(ready.status, 200, ready.text);
    for (const [opts, check] of [
      [WS, onWebSocket],
      [POLLING, onPolling],
      [UPGRADE, upgraded],
    ]) {
      const { hub } = await gameOnOneInstance(opts, check);
      assert.equal(hub, survivor);
    }
    // The first requests after the kill still tried the dead instance (the
    // hash points there) and were passed on to the survivor before the client
    // saw anything ($upstream_addr "DEAD, SURVIVOR"); after max_fails nginx
    // skips it. No request failed.
    const dead = new URL(home.url).host;
    const retried = proxy.accessLog().filter((e) => e.upstreams.length > 1);
    assert.ok(retried.length >= 1, "some request tried the dead instance first");
    for (const e of retried) assert.deepEqual(e.upstreams, [dead, new URL(survivor.url).host], e.line);
    assert.deepEqual(proxy.accessLog().filter((e) => e.status >= 500).map((e) => e.line), [], "no 5xx through nginx");
  });
});
