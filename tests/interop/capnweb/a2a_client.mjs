// The unmodified npm capnweb client against a live webcap's /ws/capnweb.
// node --experimental-websocket a2a_client.mjs <capnweb dir> <ws url> <scenario> <json args>
// Prints one JSON line of observations for test_capnweb_node.py to check.
import { pathToFileURL } from "node:url";
import path from "node:path";

const [capnwebDir, url, scenario, rawArgs] = process.argv.slice(2);
const args = JSON.parse(rawArgs);
const { newWebSocketRpcSession, RpcTarget } = await import(
  pathToFileURL(path.join(capnwebDir, "dist", "index.js")).href
);

function describeError(error) {
  return { name: error.name, message: error.message, code: error.code ?? null };
}

function within(ms, promise, what) {
  return Promise.race([
    promise,
    new Promise((_, reject) =>
      // unref(): a pending deadline must not keep Node running after the scenario ended.
      setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms).unref(),
    ),
  ]);
}

function message(text) {
  return {
    messageId: `msg-${Math.random().toString(36).slice(2)}`,
    role: "ROLE_USER",
    parts: [{ text }],
  };
}

// A WebSocket that records every frame, in the order they crossed.
function recordedSocket(frames) {
  const ws = new WebSocket(url);
  const send = ws.send.bind(ws);
  ws.send = (data) => {
    frames.push(["out", JSON.parse(data)]);
    send(data);
  };
  ws.addEventListener("message", (event) => frames.push(["in", JSON.parse(event.data)]));
  return ws;
}

class Listener extends RpcTarget {
  constructor() {
    super();
    this.events = [];
    this.waiters = [];
    this.disposed = false;
  }
  onStatusUpdate(event, seq) {
    this.record("status", event.status.state, seq, event);
  }
  onArtifactUpdate(event, seq) {
    this.record("artifact", event.artifact.parts.map((p) => p.text ?? "").join(""), seq, event);
  }
  record(kind, value, seq, event) {
    this.events.push({ kind, value, seq, taskId: event.taskId, afterReturn: this.returned === true });
    this.wake();
  }
  [Symbol.dispose]() {
    // The server released its last reference to this callback.
    this.disposed = true;
    this.wake();
  }
  wake() {
    for (const waiter of this.waiters.splice(0)) waiter();
  }
  until(predicate) {
    if (predicate()) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(() => resolve(this.until(predicate))));
  }
  done() {
    return this.until(() => this.disposed);
  }
  summary() {
    return { events: this.events, disposed: this.disposed };
  }
}

async function pollTask(auth, taskId, states, ms = 20000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const task = await auth.getTask(taskId);
    if (states.includes(task.status.state) || Date.now() > deadline) return task;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

const credentials = { type: "apiKey", apiKey: args.key };
const out = {};

if (scenario === "pipeline") {
  const frames = [];
  const api = newWebSocketRpcSession(recordedSocket(frames));
  // Both calls leave before any answer arrives: the card is fetched on the unresolved capability.
  const card = await within(10000, api.authenticate(credentials).getAgentCard(), "card");
  out.interfaces = card.supportedInterfaces;
  out.frames = frames;
  try {
    await api.authenticate({ type: "apiKey", apiKey: "wcp_not-a-key" }).getAgentCard();
    out.badAuth = "resolved";
  } catch (error) {
    out.badAuth = describeError(error);
  }
  try {
    await api.authenticate({ type: "bearer", token: "not.a.jwt" });
    out.badToken = "resolved";
  } catch (error) {
    out.badToken = describeError(error);
  }
  try {
    await api.getTask("x");
    out.anonymous = "resolved";
  } catch (error) {
    out.anonymous = describeError(error);
  }
  api[Symbol.dispose]();
} else if (scenario === "stream") {
  const api = newWebSocketRpcSession(url);
  const auth = api.authenticate(credentials);
  const listener = new Listener();
  const streaming = await within(
    10000,
    auth.sendMessageStreaming(message(args.text), null, listener),
    "sendMessageStreaming",
  );
  listener.returned = true;
  out.taskId = await streaming.taskId;
  await within(30000, listener.done(), "the stream's end");
  out.listener = listener.summary();
  out.isFinalState = await streaming.isFinalState();
  out.task = await streaming.getTask();
  api[Symbol.dispose]();
} else if (scenario === "concurrent") {
  const api = newWebSocketRpcSession(url);
  const auth = api.authenticate(credentials);
  const listeners = [new Listener(), new Listener()];
  const streams = await Promise.all(
    args.texts.map((text, i) => auth.sendMessageStreaming(message(text), null, listeners[i])),
  );
  out.taskIds = await Promise.all(streams.map((s) => s.taskId));
  await within(30000, Promise.all(listeners.map((l) => l.done())), "both streams' ends");
  out.listeners = listeners.map((l) => l.summary());
  api[Symbol.dispose]();
} else if (scenario === "disconnect") {
  const api = newWebSocketRpcSession(url);
  const auth = api.authenticate(credentials);
  const listener = new Listener();
  const streaming = await auth.sendMessageStreaming(message(args.text), null, listener);
  out.taskId = await streaming.taskId;
  await within(10000, listener.until(() => listener.events.some((e) => e.kind === "artifact")), "a chunk");
  out.seenBeforeClose = listener.events.length;
  api[Symbol.dispose](); // the socket closes mid-stream
  // A second connection: the task went on and its events are in the log.
  const again = newWebSocketRpcSession(url);
  const auth2 = again.authenticate(credentials);
  const task = await pollTask(auth2, out.taskId, ["TASK_STATE_COMPLETED"]);
  out.state = task.status.state;
  out.answer = task.artifacts.map((a) => a.parts.map((p) => p.text).join("")).join("");
  const replay = new Listener();
  await auth2.subscribeToTask(out.taskId, replay, 0);
  await within(10000, replay.done(), "the replay");
  out.replay = replay.summary();
  again[Symbol.dispose]();
} else if (scenario === "approval") {
  const api = newWebSocketRpcSession(url);
  const auth = api.authenticate(credentials);
  const sent = await auth.sendMessage(message(args.text));
  out.sentState = sent.task.status.state;
  const taskId = sent.task.id;
  out.pending = await auth.getPendingApprovals(taskId);
  out.decision = await auth.approveToolCall({
    callId: out.pending[0].toolCallId,
    approved: true,
    reason: "fine",
  });
  const task = await pollTask(auth, taskId, ["TASK_STATE_COMPLETED", "TASK_STATE_FAILED"]);
  out.state = task.status.state;
  out.answer = task.artifacts.at(-1).parts.map((p) => p.text).join("");
  out.pendingAfter = await auth.getPendingApprovals(taskId);
  api[Symbol.dispose]();
} else {
  throw new Error(`unknown scenario ${scenario}`);
}

console.log(JSON.stringify(out));
