// A real nginx in front of gamehub servers, for nginx.test.js.
//
// The configuration is the one shipped in <repo>/nginx/ (nginx.conf and
// gamehub.conf), copied into a temp directory with only these rewritten:
// the listen port (one `listen 127.0.0.1:PORT;`), the upstream `server`
// lines (one per test server, with the template's own parameters), and the
// file paths (pid, error log to stderr, access log and temp directories in the
// temp directory). The `user` line is dropped so that any user can run it.
// Each rewrite must match the template, or the helper throws: a template
// change that breaks the tests is seen at once.
import { spawn, spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { delimiter, dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { sleep } from "./server.js";

const here = dirname(fileURLToPath(import.meta.url));

/** The directory holding the shipped nginx.conf and gamehub.conf. */
export const NGINX_CONF_DIR = resolve(here, "../../../nginx");

/** The nginx binary: $NGINX_BIN, else `nginx` on PATH, else /usr/sbin/nginx. */
export function nginxBin() {
  if (process.env.NGINX_BIN) return resolve(process.env.NGINX_BIN);
  const dirs = (process.env.PATH ?? "").split(delimiter).concat(["/usr/sbin", "/usr/local/sbin", "/usr/local/nginx/sbin"]);
  for (const d of dirs) {
    if (d && existsSync(join(d, "nginx"))) return join(d, "nginx");
  }
  return null;
}

/** Replace every match of `re` (a global, multiline RegExp) using `fn`; throw unless `min` or more matched. */
function rewrite(text, re, fn, what, min = 1) {
  let n = 0;
  const out = text.replace(re, (...m) => {
    n += 1;
    return fn(n, ...m);
  });
  if (n < min) throw new Error(`nginx template: expected ${what} (${re}) at least ${min} time(s), found ${n}`);
  return out;
}

/**
 * The shipped configuration rewritten for a test: returns
 * `{ "nginx.conf": text, "gamehub.conf": text }`.
 *
 * - `upstreams`: ["127.0.0.1:PORT", ...], the test servers;
 * - `listenPort`: the port nginx listens on (on 127.0.0.1);
 * - `prefix`: the temp directory for pid, logs and temp files;
 * - `edit`: an optional function (gamehubConf) => gamehubConf for control
 *   experiments (e.g. without the affinity line).
 */
export function renderConfig({ upstreams, listenPort, prefix, edit }) {
  let main = readFileSync(join(NGINX_CONF_DIR, "nginx.conf"), "utf8");
  let site = readFileSync(join(NGINX_CONF_DIR, "gamehub.conf"), "utf8");

  // nginx.conf: paths only.
  main = rewrite(main, /^[ \t]*user[ \t]+[^;\n]+;[^\n]*\n/gm, () => "", "a user directive");
  main = rewrite(main, /^([ \t]*)pid[ \t]+[^;\n]+;/gm, (_n, _m, ind) => `${ind}pid ${join(prefix, "nginx.pid")};`, "a pid directive");
  main = rewrite(main, /^([ \t]*)error_log[ \t]+[^;\n]+;/gm, (_n, _m, ind) => `${ind}error_log stderr warn;`, "an error_log directive");
  main = rewrite(
    main,
    /^http[ \t]*\{[ \t]*\n/gm,
    (_n, m) =>
      m +
      ["client_body", "proxy", "fastcgi", "uwsgi", "scgi"]
        .map((k) => `    ${k}_temp_path ${join(prefix, `${k}_temp`)};\n`)
        .join(""),
    "an http { line",
  );
  if (!/^[ \t]*include[ \t]+gamehub\.conf;/m.test(main)) throw new Error("nginx template: nginx.conf does not include gamehub.conf");

  // gamehub.conf: the listen port, the upstream servers, the access log path.
  site = rewrite(
    site,
    /^([ \t]*)listen[ \t]+[^;\n]+;[^\n]*\n/gm,
    (n, _m, ind) => (n === 1 ? `${ind}listen 127.0.0.1:${listenPort};\n` : ""),
    "a listen directive",
  );
  let params;
  site = rewrite(
    site,
    /^([ \t]*)server[ \t]+(\S+:\d+)([^;\n]*);[^\n]*\n/gm,
    (n, _m, ind, _addr, rest) => {
      if (n === 1) {
        params = rest;
        return upstreams.map((u) => `${ind}server ${u}${rest};\n`).join("");
      }
      if (rest !== params) throw new Error(`nginx template: upstream servers with different parameters: "${params}" vs "${rest}"`);
      return "";
    },
    "an upstream server ADDRESS:PORT line",
  );
  site = rewrite(
    site,
    /^([ \t]*)access_log[ \t]+(\/\S+)/gm,
    (_n, _m, ind) => `${ind}access_log ${join(prefix, "access.log")}`,
    "an access_log directive with a path",
  );
  if (edit) site = edit(site);

  // What nginx will read: one listen, exactly our upstreams.
  const active = (text, re) => text.split("\n").filter((l) => re.test(l.replace(/#.*/, "")));
  const listens = active(site, /^\s*listen\s/);
  if (listens.length !== 1) throw new Error(`rendered gamehub.conf: expected one listen directive, got ${JSON.stringify(listens)}`);
  const servers = active(site, /^\s*server\s+\S+:\d+/);
  if (servers.length !== upstreams.length) throw new Error(`rendered gamehub.conf: upstream servers ${JSON.stringify(servers)}`);
  return { "nginx.conf": main, "gamehub.conf": site };
}

/** A free TCP port on 127.0.0.1 (free a moment ago: the caller retries on EADDRINUSE). */
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

// nginx does not stop with its parent: stop every one still running when the
// test process exits, or is interrupted (then re-raise the signal). SIGTERM,
// not SIGKILL: the master then stops its workers itself.
const running = new Set();
const prefixes = new Set();
function stopAll() {
  for (const child of running) {
    try {
      child.kill("SIGTERM");
    } catch {
      // already gone
    }
  }
  for (const dir of prefixes) rmSync(dir, { recursive: true, force: true });
}
process.on("exit", stopAll);
for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"]) {
  process.once(sig, () => {
    stopAll();
    process.kill(process.pid, sig);
  });
}

/**
 * True once our nginx answers on 127.0.0.1:port: an HTTP answer with
 * `Server: nginx` (not merely an open port, which another process that took
 * the port in the meantime would also give).
 */
async function answers(port) {
  try {
    const res = await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(1000) });
    await res.arrayBuffer();
    return /^nginx\b/.test(res.headers.get("server") ?? "");
  } catch {
    return false;
  }
}

/**
 * Start nginx in front of `servers` (the objects of startServer, or URLs).
 * Returns `{url, port, prefix, config, logs(), accessLog(), stop()}`.
 * `stop()` sends SIGTERM (fast shutdown), SIGKILL after 5 s, and removes the
 * temp directory.
 */
export async function startNginx(servers, { edit, startTimeoutMs = 10000 } = {}) {
  const bin = nginxBin();
  if (!bin) throw new Error("nginx not found (install it with scripts/setup, or set NGINX_BIN)");
  const upstreams = servers.map((s) => new URL(typeof s === "string" ? s : s.url).host);
  const verbose = !!process.env.GAMEHUB_E2E_VERBOSE;

  let lastError;
  for (let attempt = 0; attempt < 3; attempt++) {
    const prefix = mkdtempSync(join(tmpdir(), "gamehub-nginx-"));
    prefixes.add(prefix);
    // Workers may run as another user (nobody when started as root): let them in.
    chmodSync(prefix, 0o755);
    const port = await freePort();
    const config = renderConfig({ upstreams, listenPort: port, prefix, edit });
    for (const [name, text] of Object.entries(config)) writeFileSync(join(prefix, name), text);
    const confPath = join(prefix, "nginx.conf");

    const proc = spawn(bin, ["-p", prefix + "/", "-c", confPath, "-g", "daemon off;"], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    running.add(proc);
    const lines = [];
    for (const stream of [proc.stdout, proc.stderr]) {
      stream.setEncoding("utf8");
      stream.on("data", (chunk) => {
        for (const line of chunk.split("\n")) {
          if (!line) continue;
          lines.push(line);
          if (verbose) process.stderr.write(`[nginx] ${line}\n`);
        }
      });
    }
    let exited = false;
    let exitInfo = "";
    const exitPromise = new Promise((res) =>
      proc.once("exit", (code, signal) => {
        exited = true;
        exitInfo = `code ${code}, signal ${signal}`;
        running.delete(proc);
        res();
      }),
    );
    proc.once("error", (e) => lines.push(`spawn error: ${e.message}`));

    const deadline = Date.now() + startTimeoutMs;
    let up = false;
    while (!exited && Date.now() < deadline) {
      if (await answers(port)) {
        up = true;
        break;
      }
      await sleep(20);
    }
    const stop = async () => {
      if (!exited) {
        proc.kill("SIGTERM");
        const t = setTimeout(() => killTree(proc.pid), 5000);
        await exitPromise;
        clearTimeout(t);
      }
      rmSync(prefix, { recursive: true, force: true });
      prefixes.delete(prefix);
    };
    if (up && !exited) {
      return {
        url: `http://127.0.0.1:${port}`,
        port,
        prefix,
        config,
        upstreams,
        proc,
        logs: () => lines.join("\n"),
        /** Parsed access log lines: {request, status, upstreams: [addr...], upstream (the one that answered)}. */
        accessLog: () => parseAccessLog(join(prefix, "access.log")),
        stop,
      };
    }
    await stop();
    lastError = new Error(
      `nginx did not answer HTTP on 127.0.0.1:${port} within ${startTimeoutMs} ms` +
        (exited ? ` (exited: ${exitInfo})` : "") +
        `; output:\n${lines.join("\n")}`,
    );
    if (!lines.some((l) => l.includes("Address already in use"))) break; // only a lost port race is retried
  }
  throw lastError;
}

/** SIGKILL a process and its children (nginx workers outlive a killed master otherwise). */
function killTree(pid) {
  const kids = spawnSync("pgrep", ["-P", String(pid)], { encoding: "utf8" }).stdout?.split(/\s+/).filter(Boolean) ?? [];
  for (const p of [pid, ...kids.map(Number)]) {
    try {
      process.kill(p, "SIGKILL");
    } catch {
      // already gone
    }
  }
}

const ACCESS = /^(\S+) \[[^\]]*\] "([^"]*)" (\d+) \d+ rt=\S+ upstream=(.*?) us=(.*)$/;

/** Read the access log written with the template's `gamehub` log_format. */
export function parseAccessLog(path) {
  if (!existsSync(path)) return [];
  return readFileSync(path, "utf8")
    .split("\n")
    .filter(Boolean)
    .map((line) => {
      const m = ACCESS.exec(line);
      if (!m) return { line };
      // $upstream_addr: "A:1, B:2" when nginx tried A then B (the last one answered).
      const addrs = m[4] === "-" ? [] : m[4].split(/\s*,\s*|\s+:\s+/).filter((s) => /:\d+$/.test(s));
      return { line, remote: m[1], request: m[2], status: Number(m[3]), upstreams: addrs, upstream: addrs.at(-1) ?? null };
    });
}

/** The engine.io session id (`sid`) in a logged request line, or null. */
export function sidOf(request) {
  const m = /[?&]sid=([^&\s]+)/.exec(request);
  return m ? decodeURIComponent(m[1]) : null;
}
