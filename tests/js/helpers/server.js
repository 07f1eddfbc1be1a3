// Test harness for the gamehub end-to-end suite.
//
// Starts a fresh `gamehub` process per test file (or per describe block) on a
// random port with its own database, and offers small promise-based helpers
// around the official socket.io client.
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { io } from "socket.io-client";

const here = dirname(fileURLToPath(import.meta.url));

/** Path of the server binary: $GAMEHUB_BIN or <repo>/target/debug/gamehub. */
export const GAMEHUB_BIN = process.env.GAMEHUB_BIN
  ? resolve(process.env.GAMEHUB_BIN)
  : resolve(here, "../../../target/debug/gamehub");

/** Upper bound of every single wait in the suite. */
export const WAIT_MS = 5000;

const running = new Set();
process.on("exit", () => {
  for (const child of running) {
    try {
      child.kill("SIGKILL");
    } catch {
      // already gone
    }
  }
});

const ANSI = /\x1b\[[0-9;]*[A-Za-z]/g;
const LISTENING = /listening on http:\/\/(\S+)/;

/** A fresh random secret of 48 hex characters. */
export function randomSecret() {
  return randomBytes(24).toString("hex");
}

/**
 * Spawn the server and wait until it logs `listening on http://HOST:PORT`.
 *
 * `env` overrides the defaults (a value of `undefined` removes the variable).
 * Returns `{url, proc, dbPath, logs(), stop(), kill()}`; `stop()` sends SIGTERM,
 * waits for the exit (SIGKILL after `stopTimeoutMs`) and resolves to the exit
 * code (`null` when killed by a signal).
 */
export async function startServer(env = {}, { startTimeoutMs = 10000 } = {}) {
  if (!existsSync(GAMEHUB_BIN)) {
    throw new Error(`gamehub binary not found at ${GAMEHUB_BIN} (build it with cargo build -p gamehub or set GAMEHUB_BIN)`);
  }
  const ownDir = env.DB_PATH === undefined ? mkdtempSync(join(tmpdir(), "gamehub-e2e-")) : null;
  const fullEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    NO_COLOR: "1",
    RUST_BACKTRACE: "1",
    PORT: "0",
    HOST: "127.0.0.1",
    DB_PATH: ownDir ? join(ownDir, "gamehub.db") : undefined,
    SECRET_KEY: randomSecret(),
    RUST_LOG: "info",
    ...env,
  };
  for (const [k, v] of Object.entries(fullEnv)) {
    if (v === undefined) delete fullEnv[k];
    else fullEnv[k] = String(v);
  }

  const proc = spawn(GAMEHUB_BIN, [], { env: fullEnv, stdio: ["ignore", "pipe", "pipe"] });
  running.add(proc);
  const lines = [];
  let exitCode;
  let exitSignal;
  const exited = new Promise((res) => {
    proc.once("exit", (code, signal) => {
      exitCode = code;
      exitSignal = signal;
      running.delete(proc);
      res();
    });
  });
  const verbose = !!process.env.GAMEHUB_E2E_VERBOSE;

  const url = await new Promise((res, rej) => {
    let done = false;
    const finish = (err, value) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (err) {
        proc.kill("SIGKILL");
        rej(err);
      } else res(value);
    };
    const timer = setTimeout(
      () => finish(new Error(`gamehub did not log "listening on http://..." within ${startTimeoutMs} ms; output:\n${lines.join("\n")}`)),
      startTimeoutMs,
    );
    for (const stream of [proc.stdout, proc.stderr]) {
      let buf = "";
      stream.setEncoding("utf8");
      stream.on("data", (chunk) => {
        buf += chunk;
        let nl;
        while ((nl = buf.indexOf("\n")) >= 0) {
          const line = buf.slice(0, nl).replace(ANSI, "");
          buf = buf.slice(nl + 1);
          lines.push(line);
          if (verbose) process.stderr.write(`[gamehub] ${line}\n`);
          const m = LISTENING.exec(line);
          if (m) {
            // Tolerate JSON logs and punctuation right after the address.
            const addr = m[1].replace(/[^\w.:[\]-]+.*$/, "");
            finish(null, `http://${addr}`);
          }
        }
      });
    }
    proc.once("error", (e) => finish(e));
    exited.then(() =>
      finish(new Error(`gamehub exited (code ${exitCode}, signal ${exitSignal}) before listening; output:\n${lines.join("\n")}`)),
    );
  });

  const cleanup = () => {
    if (ownDir) rmSync(ownDir, { recursive: true, force: true });
  };

  return {
    url,
    proc,
    env: fullEnv,
    dbPath: fullEnv.DB_PATH,
    logs: () => lines.join("\n"),
    exited,
    /** SIGTERM, wait for exit; SIGKILL after stopTimeoutMs. Resolves to the exit code. */
    async stop({ stopTimeoutMs = 10000 } = {}) {
      if (exitCode === undefined && exitSignal === undefined) {
        proc.kill("SIGTERM");
        const t = setTimeout(() => proc.kill("SIGKILL"), stopTimeoutMs);
        await exited;
        clearTimeout(t);
      }
      cleanup();
      return exitCode;
    },
    /** SIGKILL (like `kill -9`); keeps the database directory. */
    async kill() {
      if (exitCode === undefined && exitSignal === undefined) {
        proc.kill("SIGKILL");
        await exited;
      }
      return exitSignal;
    },
    cleanup,
  };
}

// ------------------------------------------------------------------ HTTP

/** fetch with a bounded wait; resolves to {status, headers, text, json}. */
export async function http(url, path, { method = "GET", body, headers = {}, rawBody } = {}) {
  const init = { method, headers: { ...headers }, signal: AbortSignal.timeout(WAIT_MS) };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers["content-type"] = "application/json";
  } else if (rawBody !== undefined) {
    init.body = rawBody;
  }
  const res = await fetch(url + path, init);
  const text = await res.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, text, json };
}

/** POST /api/v1/auth/guest; resolves to {token, player}, throws on any non-200. */
export async function guest(url, name) {
  const res = await http(url, "/api/v1/auth/guest", { method: "POST", body: { name } });
  if (res.status !== 200) {
    throw new Error(`POST /api/v1/auth/guest ${JSON.stringify(name)} -> ${res.status} ${res.text}`);
  }
  return res.json;
}

// ------------------------------------------------------------------ sockets

/**
 * Record every `room:event`, `room:chat` and `server:draining` a socket gets,
 * in arrival order. Attached before the connection opens so nothing is missed.
 */
export function record(socket) {
  const rec = { events: [], chats: [], draining: [] };
  socket.on("room:event", (e) => rec.events.push(e));
  socket.on("room:chat", (c) => rec.chats.push(c));
  socket.on("server:draining", (d) => rec.draining.push(d));
  /** Events of one room, in arrival order. */
  rec.of = (roomId) => rec.events.filter((e) => e.roomId === roomId);
  /** The highest seq received for a room (0 when none). */
  rec.lastSeq = (roomId) => rec.of(roomId).reduce((m, e) => Math.max(m, e.seq), 0);
  /** Wait until a recorded room:event (past or future) matches. */
  rec.waitEvent = (pred, what = "room:event", timeout = WAIT_MS) =>
    waitUntil(() => rec.events.find(pred), { timeout, what });
  /** Wait until the socket has received every event of `roomId` up to `seq`. */
  rec.waitSeq = (roomId, seq, timeout = WAIT_MS) =>
    waitUntil(() => rec.lastSeq(roomId) >= seq || undefined, { timeout, what: `room:event seq ${seq} of ${roomId}` });
  return rec;
}

/**
 * Connect with `auth: {token}`; resolves to the connected socket (with
 * `socket.rec`, a recorder), rejects with the `connect_error` error.
 * Defaults: websocket only, no automatic reconnection, a new manager each time.
 */
export function connect(url, token, opts = {}) {
  const { timeout = WAIT_MS, ...rest } = opts;
  const socket = io(url, {
    forceNew: true,
    reconnection: false,
    transports: ["websocket"],
    timeout,
    ...(token === undefined ? {} : { auth: { token } }),
    ...rest,
  });
  socket.rec = record(socket);
  return new Promise((res, rej) => {
    const timer = setTimeout(() => {
      socket.close();
      rej(new Error(`connect to ${url} timed out after ${timeout} ms`));
    }, timeout + 500);
    socket.once("connect", () => {
      clearTimeout(timer);
      socket.off("connect_error");
      res(socket);
    });
    socket.once("connect_error", (err) => {
      clearTimeout(timer);
      socket.close();
      rej(err);
    });
  });
}

/** Emit with an ack and a bounded wait; resolves to the ack payload. */
export function ack(socket, event, payload, timeout = WAIT_MS) {
  return ackArgs(socket, event, [payload], timeout);
}

/** Emit with an ack and exactly these arguments (zero or many). */
export async function ackArgs(socket, event, args, timeout = WAIT_MS) {
  const started = Date.now();
  try {
    return await socket.timeout(timeout).emitWithAck(event, ...args);
  } catch (err) {
    const shown = JSON.stringify(args);
    throw new Error(
      `no ack for ${event} ${shown.length > 200 ? shown.slice(0, 200) + "..." : shown} within ${Date.now() - started} ms ` +
        `(socket ${socket.id ?? "-"}, connected: ${socket.connected}): ${err.message}`,
    );
  }
}

/** Resolve with the payload of the next `name` event matching `pred`. */
export function nextEvent(socket, name, pred = () => true, timeout = WAIT_MS) {
  return new Promise((res, rej) => {
    const handler = (payload) => {
      if (!pred(payload)) return;
      clearTimeout(timer);
      socket.off(name, handler);
      res(payload);
    };
    const timer = setTimeout(() => {
      socket.off(name, handler);
      rej(new Error(`no ${name} event within ${timeout} ms`));
    }, timeout);
    socket.on(name, handler);
  });
}

/** Poll `check` every 10 ms until it returns a truthy value (resolved), or time out. */
export async function waitUntil(check, { timeout = WAIT_MS, what = "condition" } = {}) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeout} ms waiting for ${what}`);
    await sleep(10);
  }
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Close every socket given. */
export function closeAll(...sockets) {
  for (const s of sockets.flat()) if (s) s.close();
}
