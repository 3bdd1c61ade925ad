// The /ws parameter stream and /api control client, with automatic reconnection.
// Frames: {"t": seconds, "params": {id: value}, "face": bool, "speaking": bool}; the first message of a
// connection is {"type": "hello", "version": 1, "puppet": etag, "tick_hz": n} (docs/ws-stream.md).

/** The token from the page URL (needed when the daemon is bound beyond loopback). */
export function pageToken() {
  return new URLSearchParams(location.search).get("token") || "";
}

/** A same-origin URL with the token appended. */
export function withToken(path, scheme = location.protocol) {
  const base = `${scheme}//${location.host}${path}`;
  const token = pageToken();
  return token ? `${base}${path.includes("?") ? "&" : "?"}token=${encodeURIComponent(token)}` : base;
}

const wsScheme = () => (location.protocol === "https:" ? "wss:" : "ws:");

/**
 * Connect to /ws forever: reconnects 0.5 s .. 3 s after a close (a restarted daemon is picked up).
 * @param {{onHello?: (h: any) => void, onFrame: (f: any) => void, onState?: (s: string) => void}} handlers
 */
export function connectStream(handlers) {
  let delay = 500;
  let socket = null;
  let stopped = false;
  const open = () => {
    if (stopped) return;
    handlers.onState?.("connecting");
    socket = new WebSocket(withToken("/ws", wsScheme()));
    socket.onopen = () => { delay = 500; handlers.onState?.("live"); };
    socket.onmessage = (event) => {
      const msg = JSON.parse(event.data);
      if (msg.type === "hello") handlers.onHello?.(msg);
      else handlers.onFrame(msg);
    };
    socket.onclose = () => {
      handlers.onState?.("offline");
      if (!stopped) setTimeout(open, delay);
      delay = Math.min(3000, delay * 2);
    };
  };
  open();
  return { close() { stopped = true; socket?.close(); } };
}

/** A small /api WebSocket client: request() resolves with the matching reply; reconnects by itself. */
export function connectApi(onEvent = () => {}) {
  let socket = null, nextId = 1, ready = null;
  const pending = new Map();
  const open = () => {
    socket = new WebSocket(withToken("/api", wsScheme()));
    ready = new Promise((resolve) => { socket.onopen = resolve; });
    socket.onmessage = (event) => {
      const msg = JSON.parse(event.data);
      if ("ok" in msg && pending.has(msg.id)) { pending.get(msg.id)(msg); pending.delete(msg.id); }
      else if (!("ok" in msg)) onEvent(msg);
    };
    socket.onclose = () => {
      for (const resolve of pending.values()) resolve({ ok: false, error: "connection closed" });
      pending.clear();
      setTimeout(open, 1000);
    };
  };
  open();
  return {
    async request(message) {
      await ready;
      const id = nextId++;
      return new Promise((resolve) => {
        pending.set(id, resolve);
        socket.send(JSON.stringify({ ...message, id }));
      });
    },
    send(message) { if (socket?.readyState === 1) socket.send(JSON.stringify(message)); },
  };
}
