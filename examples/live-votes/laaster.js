// laaster.js — a small browser client for `laaster serve` (no build step, no
// dependencies). Load it with <script src="/laaster.js"></script>; it defines the
// global `Laaster`.
//
//   const feed = Laaster.subscribe("tally", {
//     onChange(rows, time) { ... },   // the whole current result after each progress mark
//     onStatus(text) { ... },         // "connecting", "live", "resyncing", "closed: ..."
//     onError(error) { ... },         // {code, message, detail, hint}
//   });
//   feed.close();
//   const answer = await Laaster.sql("SELECT 1");  // POST /sql
//
// The feed keeps the result locally: a snapshot, then updates (row, time, diff), and
// calls onChange only at progress marks, so the page never shows a half-applied time.
// After an overflow ("resync") the server sends a fresh snapshot and the local state is
// replaced. A dropped connection is retried with backoff (up to 5 s between tries).
(function (global) {
  "use strict";

  function defaultUrl() {
    const scheme = global.location.protocol === "https:" ? "wss:" : "ws:";
    return scheme + "//" + global.location.host + "/ws";
  }

  class Feed {
    constructor(target, handlers, url) {
      this.target = target;
      this.handlers = handlers || {};
      this.url = url || defaultUrl();
      this.columns = [];
      this.rows = new Map(); // JSON of the row -> {row, count}
      this.time = null;
      this.closed = false;
      this.retryMs = 250;
      this.connect();
    }

    status(text) {
      if (this.handlers.onStatus) this.handlers.onStatus(text);
    }

    connect() {
      this.status("connecting");
      const socket = new WebSocket(this.url);
      this.socket = socket;
      socket.onopen = () => {
        this.retryMs = 250;
        socket.send(JSON.stringify({ subscribe: this.target }));
      };
      socket.onmessage = (event) => this.receive(JSON.parse(event.data));
      socket.onclose = () => {
        if (this.closed) return;
        this.status("disconnected; retrying");
        setTimeout(() => this.connect(), this.retryMs);
        this.retryMs = Math.min(this.retryMs * 2, 5000);
      };
    }

    receive(message) {
      switch (message.type) {
        case "snapshot":
          this.columns = message.columns;
          this.rows = new Map();
          for (const row of message.rows) this.apply(row, 1);
          this.time = message.time;
          this.status("live");
          this.changed();
          break;
        case "update":
          for (const u of message.updates) this.apply(u.row, u.diff);
          break;
        case "progress":
          this.time = message.time;
          this.changed();
          break;
        case "overflow":
          this.status(message.action === "resync" ? "resyncing" : "closed: too slow");
          break;
        case "error":
          if (this.handlers.onError) this.handlers.onError(message.error);
          break;
      }
    }

    apply(row, diff) {
      const key = JSON.stringify(row);
      const entry = this.rows.get(key) || { row: row, count: 0 };
      entry.count += diff;
      if (entry.count === 0) this.rows.delete(key);
      else this.rows.set(key, entry);
    }

    /** The current rows, each repeated once per copy. */
    current() {
      const out = [];
      for (const { row, count } of this.rows.values()) {
        for (let i = 0; i < count; i++) out.push(row);
      }
      return out;
    }

    /** The current rows as objects keyed by column name. */
    objects() {
      return this.current().map((row) => {
        const object = {};
        this.columns.forEach((c, i) => { object[c.name] = row[i]; });
        return object;
      });
    }

    changed() {
      if (this.handlers.onChange) this.handlers.onChange(this.objects(), this.time);
    }

    close() {
      this.closed = true;
      if (this.socket) this.socket.close();
      this.status("closed");
    }
  }

  async function sql(text, base) {
    const response = await fetch((base || "") + "/sql", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ sql: text }),
    });
    return response.json();
  }

  global.Laaster = {
    subscribe: (target, handlers, url) => new Feed(target, handlers, url),
    sql: sql,
    Feed: Feed,
  };
})(typeof window !== "undefined" ? window : globalThis);
