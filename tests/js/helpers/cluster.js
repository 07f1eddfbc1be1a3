// A private Redis and a cluster of gamehub instances sharing it, for cluster.test.js.
//
// startRedis() runs its own `redis-server` (no persistence) on a free port and
// can stop and start it again on the same port. startCluster() runs n gamehubs
// (NODE_ID node-0..n-1) against it, each with its own database directory that
// survives kill()/restart(), the same SECRET_KEY, and a REDIS_PREFIX of its
// own, so that clusters of different tests never see each other.
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { connect as tcpConnect, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { http, randomSecret, sleep, startServer } from "./server.js";

/** The redis-server binary: $REDIS_SERVER_BIN or `redis-server` on PATH. */
export const REDIS_SERVER_BIN = process.env.REDIS_SERVER_BIN ?? "redis-server";

/** Settings every test cluster runs with (short, so that the tests are). */
export const CLUSTER_ENV = Object.freeze({
  DIRECTORY_TTL_SECS: "2",
  FORWARD_TIMEOUT_MS: "1500",
  RECONNECT_GRACE_SECS: "30",
  SHUTDOWN_TIMEOUT_SECS: "3",
});

const verbose = !!process.env.GAMEHUB_E2E_VERBOSE;

// Redis does not stop with its parent: kill every one still running at exit.
const redises = new Set();
process.on("exit", () => {
  for (const child of redises) {
    try {
      child.kill("SIGKILL");
    } catch {
      // already gone
    }
  }
});

/** A free TCP port on 127.0.0.1 (free a moment ago; callers retry when it is taken). */
export function freePort() {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.once("error", rej);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => res(port));
    });
  });
}

/** Resolve true when a Redis on 127.0.0.1:port answers PING with PONG within `timeoutMs`. */
export function redisPing(port, timeoutMs = 500) {
  return new Promise((res) => {
    let buf = "";
    let done = false;
    const finish = (ok) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      res(ok);
    };
    const sock = tcpConnect({ host: "127.0.0.1", port });
    const timer = setTimeout(() => finish(false), timeoutMs);
    sock.setEncoding("utf8");
    sock.once("connect", () => sock.write("*1\r\n$4\r\nPING\r\n"));
    sock.on("data", (d) => {
      buf += d;
      if (buf.includes("\r\n")) finish(buf.startsWith("+PONG"));
    });
    sock.once("error", () => finish(false));
    sock.once("close", () => finish(false));
  });
}

/**
 * Start a private redis-server on a free port (or `port`):
 * `--save "" --appendonly no --port N --bind 127.0.0.1`.
 * Returns `{url, port, logs(), running(), stop(), start(), kill()}`:
 * `stop()` ends it (SIGTERM, SIGKILL after 3 s), `kill()` with SIGKILL,
 * `start()` starts it again on the same port (empty: nothing is persisted).
 */
export async function startRedis({ port, startTimeoutMs = 5000 } = {}) {
  const dir = mkdtempSync(join(tmpdir(), "gamehub-redis-"));
  let proc = null;
  let exited = null;
  const lines = [];

  async function launch(p) {
    const child = spawn(
      REDIS_SERVER_BIN,
      ["--save", "", "--appendonly", "no", "--port", String(p), "--bind", "127.0.0.1", "--dir", dir],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    redises.add(child);
    let gone = false;
    let exitInfo = "";
    const done = new Promise((res) =>
      child.once("exit", (code, signal) => {
        gone = true;
        exitInfo = `code ${code}, signal ${signal}`;
        redises.delete(child);
        res();
      }),
    );
    child.once("error", (e) => lines.push(`spawn error: ${e.message}`));
    for (const stream of [child.stdout, child.stderr]) {
      stream.setEncoding("utf8");
      stream.on("data", (chunk) => {
        for (const line of chunk.split("\n")) {
          if (!line) continue;
          lines.push(line);
          if (verbose) process.stderr.write(`[redis:${p}] ${line}\n`);
        }
      });
    }
    const deadline = Date.now() + startTimeoutMs;
    while (!gone && Date.now() < deadline) {
      if (await redisPing(p)) return { child, done };
      await sleep(20);
    }
    if (!gone) {
      child.kill("SIGKILL");
      await done;
    }
    const err = new Error(
      `redis-server did not answer PING on 127.0.0.1:${p} within ${startTimeoutMs} ms` +
        (gone ? ` (exited: ${exitInfo})` : "") +
        `; output:\n${lines.slice(-30).join("\n")}`,
    );
    err.addrInUse = lines.some((l) => /Address already in use/i.test(l));
    throw err;
  }

  let chosen = port;
  for (let attempt = 0; ; attempt++) {
    const p = chosen ?? (await freePort());
    try {
      ({ child: proc, done: exited } = await launch(p));
      chosen = p;
      break;
    } catch (e) {
      if (port !== undefined || !e.addrInUse || attempt >= 2) {
        rmSync(dir, { recursive: true, force: true });
        throw e;
      }
    }
  }

  const end = async (signal) => {
    if (!proc) return;
    const child = proc;
    const done = exited;
    proc = null;
    child.kill(signal);
    const t = setTimeout(() => child.kill("SIGKILL"), 3000);
    await done;
    clearTimeout(t);
  };

  return {
    url: `redis://127.0.0.1:${chosen}`,
    port: chosen,
    logs: () => lines.join("\n"),
    running: () => proc !== null,
    /** Stop Redis (SIGTERM; SIGKILL after 3 s). */
    stop: () => end("SIGTERM"),
    /** Kill Redis with SIGKILL. */
    kill: () => end("SIGKILL"),
    /** Start Redis again on the same port (retrying briefly while the port is still held). */
    async start() {
      if (proc) return;
      const deadline = Date.now() + startTimeoutMs;
      for (;;) {
        try {
          ({ child: proc, done: exited } = await launch(chosen));
          return;
        } catch (e) {
          if (!e.addrInUse || Date.now() > deadline) throw e;
          await sleep(100);
        }
      }
    },
    /** Stop it for good and remove its directory. */
    async dispose() {
      await end("SIGTERM");
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

let prefixCounter = 0;
/** A REDIS_PREFIX no other test uses. */
export function uniquePrefix(base = "gh-e2e") {
  prefixCounter += 1;
  return `${base}-${process.pid}-${prefixCounter}-${randomBytes(3).toString("hex")}`;
}

/** GET /health/ready; resolves to {status, json} (status 0 when nothing answered). */
export async function readiness(url) {
  try {
    const res = await http(url, "/health/ready");
    return { status: res.status, json: res.json, text: res.text };
  } catch (e) {
    return { status: 0, json: undefined, text: String(e?.message ?? e) };
  }
}

/** Wait until GET /health/ready answers 200 (bounded); resolves to the answer. */
export async function waitReady(url, timeoutMs = 10000) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    last = await readiness(url);
    if (last.status === 200) return last;
    if (Date.now() > deadline) {
      throw new Error(`${url}/health/ready did not answer 200 within ${timeoutMs} ms; last: ${last.status} ${last.text}`);
    }
    await sleep(50);
  }
}

/**
 * Start `n` gamehubs on `redis` (from startRedis) and wait until each is ready.
 *
 * Each runs with NODE_ID node-<i>, its own DB_PATH (kept across kill/restart),
 * the cluster's SECRET_KEY, REDIS_URL, REDIS_PREFIX (unique unless given),
 * CLUSTER_ENV, and then `env`. Returns
 * `{nodes, prefix, secret, redis, node(i), logs(tail), stop()}`; every node is
 * `{id, index, port, url, dbPath, server, logs(), kill(), stop(), restart(), ready()}`.
 */
export async function startCluster({ n = 3, redis, env = {}, prefix = uniquePrefix(), readyTimeoutMs = 10000 } = {}) {
  if (!redis?.url) throw new Error("startCluster needs {redis} (from startRedis())");
  const secret = randomSecret();
  const nodes = [];
  const makeNode = (index) => {
    const dir = mkdtempSync(join(tmpdir(), `gamehub-e2e-node${index}-`));
    const node = {
      id: `node-${index}`,
      index,
      dir,
      dbPath: join(dir, "gamehub.db"),
      port: 0,
      server: null,
      /** Every incarnation's server, oldest first (for logs). */
      incarnations: [],
      get url() {
        return `http://127.0.0.1:${node.port}`;
      },
      env() {
        return {
          ...CLUSTER_ENV,
          NODE_ID: node.id,
          DB_PATH: node.dbPath,
          SECRET_KEY: secret,
          REDIS_URL: redis.url,
          REDIS_PREFIX: prefix,
          PORT: String(node.port),
          ...env,
        };
      },
      async launch() {
        // On a restart the old port is asked for again; it may take a moment to be free.
        const deadline = Date.now() + 5000;
        for (;;) {
          try {
            node.server = await startServer(node.env());
            break;
          } catch (e) {
            if (node.port !== 0 && /address already in use|AddrInUse|os error 98/i.test(e.message) && Date.now() < deadline) {
              await sleep(100);
              continue;
            }
            throw e;
          }
        }
        node.incarnations.push(node.server);
        node.port = Number(new URL(node.server.url).port);
        await waitReady(node.url, readyTimeoutMs);
        return node;
      },
      logs: () =>
        node.incarnations.map((s, i) => (i > 0 ? `----- restart ${i}\n` : "") + s.logs()).join("\n"),
      /** kill -9; the database stays. */
      async kill() {
        await node.server?.kill();
      },
      /** SIGTERM and wait for the exit; the database stays. Resolves to the exit code. */
      async stop() {
        if (!node.server) return undefined;
        return node.server.stop({ stopTimeoutMs: 5000 });
      },
      /** Start again with the same NODE_ID, DB_PATH and port (kill -9 first if still running); wait until ready. */
      async restart() {
        await node.kill();
        return node.launch();
      },
      ready: () => readiness(node.url),
    };
    return node;
  };

  for (let i = 0; i < n; i++) nodes.push(makeNode(i));
  const cluster = {
    nodes,
    prefix,
    secret,
    redis,
    node: (i) => nodes[i],
    /** The last `tail` log lines of every node (every incarnation), each headed by its NODE_ID. */
    logs(tail = 60) {
      return nodes
        .map((nd) => {
          const all = nd.logs().split("\n");
          return `===== ${nd.id} (${nd.url}), last ${Math.min(tail, all.length)} of ${all.length} lines\n${all.slice(-tail).join("\n")}`;
        })
        .join("\n");
    },
    /** Stop every node (SIGTERM, in parallel) and remove the database directories. */
    async stop() {
      await Promise.all(
        nodes.map(async (nd) => {
          try {
            await nd.stop();
          } catch {
            await nd.kill().catch(() => {});
          }
        }),
      );
      for (const nd of nodes) rmSync(nd.dir, { recursive: true, force: true });
    },
  };
  try {
    await Promise.all(nodes.map((nd) => nd.launch()));
  } catch (e) {
    await cluster.stop();
    throw e;
  }
  return cluster;
}
