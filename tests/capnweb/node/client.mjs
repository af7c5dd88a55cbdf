// Drives a Cap'n Web server with the unmodified npm client: node client.mjs <capnweb dir> <ws url>
// Prints one JSON line of observations for tests/capnweb/test_node_interop.py to check.
import { pathToFileURL } from "node:url";
import path from "node:path";

const [capnwebDir, url] = process.argv.slice(2);
const { newWebSocketRpcSession, RpcTarget } = await import(
  pathToFileURL(path.join(capnwebDir, "dist", "index.js")).href
);

function describeError(error) {
  return { name: error.name, message: error.message, code: error.code ?? null };
}

function within(ms, promise) {
  return Promise.race([
    promise,
    new Promise((_, reject) => setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms)),
  ]);
}

class Listener extends RpcTarget {
  constructor() {
    super();
    this.events = [];
    this.waiters = [];
  }
  onStatusUpdate(event) {
    this.events.push(event);
    for (const waiter of this.waiters.splice(0)) waiter();
    return `ack ${event.seq}`;
  }
  [Symbol.dispose]() {
    // The server released its last reference to this callback.
    this.disposed = true;
    for (const waiter of this.waiters.splice(0)) waiter();
  }
  waitForDispose() {
    if (this.disposed) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(() => resolve(this.waitForDispose())));
  }
  waitFor(count) {
    if (this.events.length >= count) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(() => resolve(this.waitFor(count))));
  }
}

const out = {};
const api = newWebSocketRpcSession(url);

// Promise pipelining: both calls on the unresolved authenticate() result go out at once.
const account = api.authenticate("good");
const [whoami, greeting] = await Promise.all([account.whoami(), account.greet("Hi")]);
out.pipelined = { whoami, greeting };
out.pipelinedProperty = await account.profile.name;

try {
  await api.authenticate("bad").whoami();
  out.badAuth = "resolved";
} catch (error) {
  out.badAuth = describeError(error);
}

for (const [key, call] of [
  ["boom", () => api.boom()],
  ["missing", () => api.nope()],
  ["private", () => api._secret()],
  ["coded", () => api.coded()],
]) {
  try {
    await call();
    out[key] = "resolved";
  } catch (error) {
    out[key] = describeError(error);
  }
}

const echoed = await api.echo({
  date: new Date(1749342170815),
  bytes: new Uint8Array([1, 2, 3, 255]),
  missing: undefined,
  nested: [1, [2, "three"], { four: null }],
  big: 2n ** 64n,
  inf: Infinity,
});
out.echo = {
  date: echoed.date instanceof Date ? echoed.date.getTime() : String(echoed.date),
  bytes: echoed.bytes instanceof Uint8Array ? Array.from(echoed.bytes) : String(echoed.bytes),
  hasMissing: "missing" in echoed,
  nested: echoed.nested,
  big: typeof echoed.big === "bigint" ? echoed.big.toString() : String(echoed.big),
  inf: echoed.inf === Infinity,
};

// Server-to-client calls while the client's call is in progress.
const listener = new Listener();
out.notify = await api.notify(listener, [{ seq: 1 }, { seq: 2 }]);
out.notifyEvents = listener.events.slice();

// A plain function is a callback too.
const seen = [];
out.notifyFunction = await api.notifyFunction((event) => {
  seen.push(event);
  return event.seq * 10;
});
out.functionEvents = seen;

// The server keeps the callback after subscribe() returned and calls it later.
const later = new Listener();
out.subscribe = await api.subscribe(later, 3);
await within(5000, later.waitFor(3));
out.laterEvents = later.events;
await within(5000, later.waitForDispose());
out.laterDisposed = true;

console.log(JSON.stringify(out));
api[Symbol.dispose]();

