// Guest auth over HTTP and token checks at connect.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { ack, closeAll, connect, guest, http, sleep, startServer } from "./helpers/server.js";
import { assertOk } from "./helpers/game.js";

function assertBadRequest(res, what) {
  assert.equal(res.status, 400, `${what}: status ${res.status}, body ${res.text}`);
  assert.match(res.headers.get("content-type") ?? "", /application\/json/, `${what}: content-type`);
  assert.deepEqual(Object.keys(res.json ?? {}), ["error"], `${what}: body ${res.text}`);
  assert.deepEqual(Object.keys(res.json.error).sort(), ["code", "message"], `${what}: body ${res.text}`);
  assert.equal(res.json.error.code, "bad_request", `${what}: body ${res.text}`);
  assert.equal(typeof res.json.error.message, "string");
  assert.ok(res.json.error.message.length > 0, `${what}: empty message`);
}

async function connectError(url, token, opts) {
  try {
    const s = await connect(url, token, opts);
    s.close();
  } catch (err) {
    return err;
  }
  assert.fail(`connecting with token ${JSON.stringify(token)} succeeded; expected connect_error "unauthorized"`);
}

describe("guest auth", () => {
  let server;
  before(async () => {
    server = await startServer();
  });
  after(async () => {
    await server?.stop();
  });

  test("POST /api/v1/auth/guest returns a token and the player", async () => {
    const res = await http(server.url, "/api/v1/auth/guest", { method: "POST", body: { name: "alice" } });
    assert.equal(res.status, 200, res.text);
    assert.match(res.headers.get("content-type") ?? "", /application\/json/);
    assert.deepEqual(Object.keys(res.json).sort(), ["player", "token"]);
    assert.equal(typeof res.json.token, "string");
    assert.ok(res.json.token.length > 0);
    assert.equal(typeof res.json.player.id, "string");
    assert.ok(res.json.player.id.length > 0);
    assert.equal(res.json.player.name, "alice");
  });

  test("every guest gets a distinct player id and token", async () => {
    const one = await guest(server.url, "same");
    const two = await guest(server.url, "same");
    assert.notEqual(one.player.id, two.player.id);
    assert.notEqual(one.token, two.token);
  });

  test("the name is trimmed", async () => {
    const res = await guest(server.url, "   bob \t ");
    assert.equal(res.player.name, "bob");
  });

  test("names of 1 and 24 characters are accepted (characters, not bytes)", async () => {
    assert.equal((await guest(server.url, "x")).player.name, "x");
    assert.equal((await guest(server.url, "a".repeat(24))).player.name, "a".repeat(24));
    assert.equal((await guest(server.url, "é".repeat(24))).player.name, "é".repeat(24));
    // 24 characters after trimming, with surrounding spaces
    assert.equal((await guest(server.url, `  ${"b".repeat(24)}  `)).player.name, "b".repeat(24));
  });

  for (const [label, name] of [
    ["empty", ""],
    ["only spaces", "   "],
    ["25 characters", "a".repeat(25)],
    ["25 two-byte characters", "é".repeat(25)],
    ["40 characters", "n".repeat(40)],
    ["a control character (BEL)", "ab\u0007cd"],
    ["a newline inside", "ab\ncd"],
    ["a NUL inside", "ab\u0000cd"],
    ["a DEL", "ab\u007fcd"],
  ]) {
    test(`a name with ${label} is refused with 400 bad_request`, async () => {
      const res = await http(server.url, "/api/v1/auth/guest", { method: "POST", body: { name } });
      assertBadRequest(res, JSON.stringify(name));
    });
  }

  for (const [label, body] of [
    ["no name field", {}],
    ["a number as name", { name: 5 }],
    ["null as name", { name: null }],
  ]) {
    test(`a body with ${label} is refused with 400 bad_request`, async () => {
      const res = await http(server.url, "/api/v1/auth/guest", { method: "POST", body });
      assertBadRequest(res, JSON.stringify(body));
    });
  }

  test("a body that is not JSON is refused with 400 bad_request", async () => {
    const res = await http(server.url, "/api/v1/auth/guest", {
      method: "POST",
      rawBody: "{name: alice",
      headers: { "content-type": "application/json" },
    });
    assertBadRequest(res, "broken JSON");
  });
});

describe("tokens at connect", () => {
  let server;
  let other;
  before(async () => {
    server = await startServer();
    other = await startServer(); // a different SECRET_KEY
  });
  after(async () => {
    await server?.stop();
    await other?.stop();
  });

  test("a valid token connects and can use the API", async () => {
    const { token } = await guest(server.url, "carol");
    const s = await connect(server.url, token);
    try {
      assert.equal(s.connected, true);
      const res = assertOk(await ack(s, "lobby:list", {}));
      assert.ok(Array.isArray(res.rooms));
    } finally {
      s.close();
    }
  });

  test("no token: connect_error unauthorized", async () => {
    const err = await connectError(server.url, undefined);
    assert.equal(err.message, "unauthorized");
  });

  test("empty auth object and empty token: connect_error unauthorized", async () => {
    assert.equal((await connectError(server.url, undefined, { auth: {} })).message, "unauthorized");
    assert.equal((await connectError(server.url, "")).message, "unauthorized");
  });

  test("a token that is not a string: connect_error unauthorized", async () => {
    assert.equal((await connectError(server.url, undefined, { auth: { token: 12345 } })).message, "unauthorized");
  });

  test("garbage token: connect_error unauthorized", async () => {
    assert.equal((await connectError(server.url, "not-a-token")).message, "unauthorized");
  });

  test("tampered token: connect_error unauthorized", async () => {
    const { token } = await guest(server.url, "mallory");
    // Change one character in the middle (inside the signed part) and one near the end.
    const mid = Math.floor(token.length / 2);
    const flip = (c) => (c === "A" ? "B" : "A");
    const tampered1 = token.slice(0, mid) + flip(token[mid]) + token.slice(mid + 1);
    const end = token.length - 3;
    const tampered2 = token.slice(0, end) + flip(token[end]) + token.slice(end + 1);
    assert.equal((await connectError(server.url, tampered1)).message, "unauthorized");
    assert.equal((await connectError(server.url, tampered2)).message, "unauthorized");
    // the original still works
    const s = await connect(server.url, token);
    s.close();
  });

  test("a token signed with another secret: connect_error unauthorized", async () => {
    const { token } = await guest(other.url, "forger");
    assert.equal((await connectError(server.url, token)).message, "unauthorized");
  });

  test("a token works over polling as well, and is refused over polling when forged", async () => {
    const { token } = await guest(server.url, "poller");
    const s = await connect(server.url, token, { transports: ["polling"] });
    s.close();
    const err = await connectError(server.url, "forged", { transports: ["polling"] });
    assert.equal(err.message, "unauthorized");
  });
});

describe("token expiry", () => {
  let server;
  before(async () => {
    server = await startServer({ TOKEN_TTL_SECS: "1" });
  });
  after(async () => {
    await server?.stop();
  });

  test("an expired token (TOKEN_TTL_SECS=1, 2 s later) gets connect_error unauthorized", async () => {
    // The fresh token works (a token issued at the very end of a second may
    // already be stale a moment later with whole-second expiry: try twice).
    let token;
    for (let attempt = 0; ; attempt++) {
      ({ token } = await guest(server.url, "shortlived"));
      try {
        closeAll(await connect(server.url, token));
        break;
      } catch (e) {
        if (attempt >= 1) throw e;
      }
    }
    await sleep(2200);
    const err = await connectError(server.url, token);
    assert.equal(err.message, "unauthorized");
  });
});
