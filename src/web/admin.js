// The back office in the browser: plain DOM, no framework, no build, nothing from another origin.
// It calls the same HTTP API as every client with the bearer token typed into the sign-in box
// (kept in sessionStorage: gone when the tab closes). Views are hash routes (#/orders, ...), so
// the browser's back button and bookmarks work and the server serves one page.

const TOKEN_KEY = "backoffice.token";
const view = document.getElementById("view");

// ---------- small DOM helpers (text only: nothing from the API is parsed as HTML) ----------

function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") el.className = v;
    else if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(el.dataset, v);
    else if (v === true) el.setAttribute(k, "");
    else el.setAttribute(k, String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

let uid = 0;
/** A labelled field: <div><label for=id>text</label><input id=id ...></div>. */
function field(labelText, control) {
  const id = control.id || `f${++uid}`;
  control.id = id;
  return h("div", { class: "field" }, h("label", { for: id }, labelText), control);
}

function table(headers, rows, caption) {
  return h(
    "div",
    { class: "table-wrap" },
    h(
      "table",
      {},
      caption ? h("caption", { class: "visually-hidden" }, caption) : null,
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          headers.map((t) => h("th", { scope: "col", class: /amount|attempts|lag|parked|#/i.test(t) ? "num" : null }, t)),
        ),
      ),
      h("tbody", {}, rows),
    ),
  );
}

const money = (paise, currency = "INR") => new Intl.NumberFormat("en-IN", { style: "currency", currency }).format((paise ?? 0) / 100);
const when = (iso) => (iso ? `${new Date(iso).toLocaleString("en-GB", { timeZone: "UTC", hour12: false })} UTC` : "");
const timeOnly = (iso) => new Date(iso).toISOString().slice(11, 23);

// ---------- session ----------

function decodeToken(token) {
  const part = token.split(".")[1];
  if (!part) throw new Error("a bearer token has three parts separated by dots");
  const json = atob(
    part
      .replace(/-/g, "+")
      .replace(/_/g, "/")
      .padEnd(Math.ceil(part.length / 4) * 4, "="),
  );
  const claims = JSON.parse(json);
  return {
    sub: String(claims.sub ?? "?"),
    roles: Array.isArray(claims.roles) ? claims.roles.map(String) : [],
    exp: typeof claims.exp === "number" ? claims.exp : null,
  };
}

const session = {
  get token() {
    return sessionStorage.getItem(TOKEN_KEY);
  },
  get principal() {
    try {
      return this.token ? decodeToken(this.token) : null;
    } catch {
      return null;
    }
  },
  signIn(token) {
    decodeToken(token); // throws on something that is not a JWT
    sessionStorage.setItem(TOKEN_KEY, token);
  },
  signOut() {
    sessionStorage.removeItem(TOKEN_KEY);
  },
};

// ---------- API ----------

/** fetch with the bearer token; returns {ok, status, body}; body is parsed JSON (problem+json for errors). */
async function api(method, path, body) {
  const headers = { accept: "application/json" };
  if (session.token) headers.authorization = `Bearer ${session.token}`;
  if (body !== undefined) headers["content-type"] = "application/json";
  let res;
  try {
    res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (error) {
    return { ok: false, status: 0, body: { title: "Network error", detail: `the server could not be reached (${error.message})` } };
  }
  const text = await res.text();
  let parsed = null;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    parsed = { title: res.statusText, detail: text.slice(0, 300) };
  }
  return { ok: res.ok, status: res.status, body: parsed };
}

/** The problem box every view shows for a failed call: a 403 says which role is needed and which the user has. */
function problemBox(res, doing) {
  const p = res.body ?? {};
  const me = session.principal;
  const lines = [
    h("strong", {}, `${res.status || ""} ${p.title ?? "Error"}`.trim()),
    h("span", {}, `${doing}: ${p.detail ?? "the request failed"}.`),
  ];
  if (res.status === 403 && me)
    lines.push(
      h(
        "p",
        {},
        `You are signed in as ${me.sub} with the roles: ${me.roles.join(", ") || "none"}. Sign in with a token that has the role this view needs.`,
      ),
    );
  if (res.status === 401)
    lines.push(h("p", {}, "Your token was refused (expired or invalid). ", h("a", { href: "#/signin" }, "Sign in again"), "."));
  return h("div", { class: "problem", role: "alert" }, lines);
}

// ---------- routing ----------

const routes = {
  signin: viewSignIn,
  orders: viewOrders,
  timeline: viewTimeline,
  reconciliation: viewReconciliation,
  attention: viewAttention,
  "read-models": viewReadModels,
};
const titles = {
  signin: "Sign in",
  orders: "Orders",
  timeline: "Order timeline",
  reconciliation: "Refund reconciliation",
  attention: "Needs attention",
  "read-models": "Read models",
};
let stopPolling = () => {};

function parseHash() {
  const raw = location.hash.replace(/^#\/?/, "");
  const [path, query = ""] = raw.split("?");
  const [name, ...rest] = path.split("/");
  return { name: name || "", arg: rest.map(decodeURIComponent).join("/"), query: new URLSearchParams(query) };
}

let navigated = false; // the first render leaves focus at the top (the skip link comes first); later ones move it to the new heading

async function render() {
  stopPolling();
  stopPolling = () => {};
  // A dev start prints /admin#token=<dev admin token>: take it, then drop it from the address bar.
  const hashToken = /^#token=([\w.-]+)$/.exec(location.hash)?.[1];
  if (hashToken) {
    try {
      session.signIn(hashToken);
    } catch {
      /* left to the sign-in box */
    }
    history.replaceState(null, "", `${location.pathname}#/orders`);
  }
  let { name, arg, query } = parseHash();
  if (!session.token && name !== "signin") name = "signin";
  if (!routes[name]) name = session.token ? "orders" : "signin";
  const me = session.principal;
  document.getElementById("nav").hidden = !me;
  document.getElementById("who").hidden = !me;
  document.getElementById("who-text").textContent = me ? `Signed in as ${me.sub} (${me.roles.join(", ") || "no roles"})` : "";
  for (const a of document.querySelectorAll("#nav a")) {
    if (a.getAttribute("href") === `#/${name}`) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  document.title = `${titles[name]} · Back office`;
  view.replaceChildren();
  view.dataset.view = name;
  await routes[name](view, arg, query);
}

/** Moves focus to the view's heading after navigation, so keyboard and screen-reader users start there. */
function heading(text) {
  const el = h("h1", { tabindex: "-1" }, text);
  if (navigated) queueMicrotask(() => el.focus());
  return el;
}

function poll(fn, everyMs) {
  let stopped = false;
  let timer;
  const tick = async () => {
    if (stopped) return;
    const again = await fn();
    if (!stopped && again !== false) timer = setTimeout(tick, everyMs);
  };
  timer = setTimeout(tick, everyMs);
  const stop = () => {
    stopped = true;
    clearTimeout(timer);
  };
  const previous = stopPolling;
  stopPolling = () => {
    previous();
    stop();
  };
  return stop;
}

// ---------- Sign in ----------

function viewSignIn(root) {
  const input = h("textarea", {
    name: "token",
    autocomplete: "off",
    spellcheck: "false",
    required: true,
    "aria-describedby": "token-help",
  });
  const error = h("div", { role: "alert" });
  const form = h(
    "form",
    {
      onsubmit: (e) => {
        e.preventDefault();
        try {
          session.signIn(input.value.trim());
          location.hash = "#/orders";
        } catch (err) {
          error.replaceChildren(h("div", { class: "problem" }, h("strong", {}, "Not a token"), err.message));
        }
      },
    },
    field("Bearer token", input),
    h(
      "p",
      { id: "token-help", class: "empty" },
      "A JWT from npm run token, or the dev admin token npm start prints (its /admin#token=… link signs you in).",
    ),
    h("button", { type: "submit" }, "Sign in"),
    error,
  );
  root.append(heading("Sign in"), form);
}

// ---------- Orders list ----------

const STATUSES = [
  "CREATED",
  "PAYMENT_PENDING",
  "CONFIRMED",
  "PROCESSING",
  "SHIPPED",
  "DELIVERED",
  "CANCELLED",
  "RETURN_REQUESTED",
  "RETURNED",
];

async function viewOrders(root, _arg, query) {
  const status = h(
    "select",
    { name: "status" },
    h("option", { value: "" }, "Any"),
    STATUSES.map((s) => h("option", { value: s, selected: query.get("status") === s }, s)),
  );
  const customer = h("input", { name: "customerId", type: "text", value: query.get("customerId") ?? "" });
  const from = h("input", { name: "from", type: "date", value: query.get("from") ?? "" });
  const to = h("input", { name: "to", type: "date", value: query.get("to") ?? "" });
  const page = Number(query.get("page") ?? "1") || 1;
  const results = h("div", { "aria-live": "polite" });
  const go = (p) => {
    const q = new URLSearchParams();
    if (status.value) q.set("status", status.value);
    if (customer.value.trim()) q.set("customerId", customer.value.trim());
    if (from.value) q.set("from", from.value);
    if (to.value) q.set("to", to.value);
    if (p > 1) q.set("page", String(p));
    location.hash = `#/orders?${q}`;
  };
  root.append(
    heading("Orders"),
    h(
      "form",
      {
        class: "filters",
        onsubmit: (e) => {
          e.preventDefault();
          go(1);
        },
      },
      field("Status", status),
      field("Customer id", customer),
      field("Placed from (UTC date)", from),
      field("Placed before (UTC date)", to),
      h("button", { type: "submit" }, "Filter"),
    ),
    results,
  );
  const q = new URLSearchParams({ page: String(page), size: "20" });
  if (query.get("status")) q.set("status", query.get("status"));
  if (query.get("customerId")) q.set("customerId", query.get("customerId"));
  if (query.get("from")) q.set("from", new Date(`${query.get("from")}T00:00:00Z`).toISOString());
  if (query.get("to")) q.set("to", new Date(`${query.get("to")}T00:00:00Z`).toISOString());
  const res = await api("GET", `/api/orders?${q}`);
  if (!res.ok) return results.replaceChildren(problemBox(res, "Listing orders"));
  const { total, items } = res.body;
  if (items.length === 0) return results.replaceChildren(h("p", { class: "empty" }, "No orders match."));
  const pages = Math.max(1, Math.ceil(total / 20));
  results.replaceChildren(
    h("p", {}, `${total} order${total === 1 ? "" : "s"}; page ${page} of ${pages}.`),
    table(
      ["Order", "Customer", "Status", "Payment", "Amount", "Placed"],
      items.map((o) =>
        h(
          "tr",
          {},
          h("td", {}, h("a", { href: `#/timeline/${encodeURIComponent(o.orderId)}`, class: "mono" }, o.orderId)),
          h("td", {}, o.customerId),
          h("td", {}, o.status),
          h("td", {}, o.paymentStatus ?? o.payment?.status ?? ""),
          h("td", { class: "num" }, money(o.totalAmount, o.currency)),
          h("td", {}, when(o.createdAt)),
        ),
      ),
      "Orders",
    ),
    h(
      "div",
      { class: "controls" },
      h("button", { type: "button", class: "secondary", disabled: page <= 1, onclick: () => go(page - 1) }, "Previous page"),
      h("button", { type: "button", class: "secondary", disabled: page >= pages, onclick: () => go(page + 1) }, "Next page"),
    ),
  );
}

// ---------- Order timeline ----------

const categoryOf = (streamId) => {
  const c = streamId.split("-")[0];
  if (c === "order" || c === "payment" || c === "inventory") return c;
  if (/saga/i.test(c)) return "saga";
  return "other";
};

/** For each event, the index of the event that caused it: its causationId is that event's id, or a command a saga step issued. */
function causes(events) {
  const byId = new Map(events.map((e, i) => [e.id, i]));
  const byCommand = new Map();
  events.forEach((e, i) => {
    if (e.type === "SagaStepRecorded") for (const c of e.data?.commands ?? []) if (c?.commandId) byCommand.set(c.commandId, i);
  });
  return events.map((e) => {
    const c = e.metadata?.causationId;
    if (c === undefined) return null;
    if (byId.has(c)) return byId.get(c);
    for (const [commandId, i] of byCommand) if (c === commandId || c.startsWith(`${commandId}/`)) return i;
    return null;
  });
}

async function viewTimeline(root, orderId) {
  const idInput = h("input", { name: "orderId", type: "text", value: orderId ?? "", required: true, class: "mono" });
  root.append(
    heading("Order timeline"),
    h(
      "form",
      {
        class: "filters",
        onsubmit: (e) => {
          e.preventDefault();
          const id = idInput.value.trim();
          if (id) location.hash = `#/timeline/${encodeURIComponent(id)}`;
        },
      },
      field("Order id", idInput),
      h("button", { type: "submit" }, "Open"),
    ),
  );
  if (!orderId) return root.append(h("p", { class: "empty" }, "Open an order by its id, or pick one from the Orders list."));
  const box = h("div", { "aria-live": "polite" }, h("p", {}, "Loading…"));
  root.append(box);
  const res = await api("GET", `/api/orders/${encodeURIComponent(orderId)}/history`);
  if (!res.ok) return box.replaceChildren(problemBox(res, `Reading the history of order ${orderId}`));
  const events = res.body.events;
  if (events.length === 0) return box.replaceChildren(h("p", { class: "empty" }, "This order has no events."));
  const cause = causes(events);
  const streams = [...new Set(events.map((e) => e.streamId))];

  let selected = events.length - 1;
  let asOfIndex = events.length - 1;
  const buttons = [];
  const rows = [];

  // The lanes: one grid row per stream, one column per event in commit order.
  const grid = h("div", { class: "lane-grid", role: "group", "aria-label": "Events by stream on one time axis (commit order)" });
  grid.style.gridTemplateColumns = `minmax(6rem, max-content) repeat(${events.length}, 1.9rem)`;
  const axisLabel = h("span", { class: "lane-label", "aria-hidden": "true" }, "time (UTC)");
  axisLabel.style.gridRow = "1";
  axisLabel.style.gridColumn = "1";
  grid.append(axisLabel);
  events.forEach((e, i) => {
    const tick = h(
      "span",
      { class: "axis", "aria-hidden": "true" },
      i === 0 || events[i - 1].occurredAt.slice(0, 19) !== e.occurredAt.slice(0, 19) ? timeOnly(e.occurredAt).slice(0, 8) : "",
    );
    tick.style.gridColumn = String(i + 2);
    tick.style.gridRow = "1";
    grid.append(tick);
  });
  streams.forEach((s, row) => {
    const label = h("span", { class: "lane-label mono", title: s }, s);
    label.style.gridRow = String(row + 2);
    label.style.gridColumn = "1";
    grid.append(label);
  });
  events.forEach((e, i) => {
    const b = h(
      "button",
      {
        type: "button",
        class: `ev cat-${categoryOf(e.streamId)}`,
        "aria-pressed": "false",
        "aria-label": `Event ${i + 1}: ${e.type} on ${e.streamId} at ${timeOnly(e.occurredAt)} by ${e.metadata?.actor ?? "?"}`,
        title: `#${i + 1} ${e.type} (${e.metadata?.actor ?? "?"})`,
        dataset: { index: String(i), type: e.type },
        onclick: () => select(i),
        onkeydown: (ev) => {
          // Arrow keys walk the axis: left/right to the previous/next event in any stream.
          const next = ev.key === "ArrowRight" ? i + 1 : ev.key === "ArrowLeft" ? i - 1 : -1;
          if (next < 0 || next >= events.length) return;
          ev.preventDefault();
          buttons[next].focus();
          select(next);
        },
      },
      String(i + 1),
    );
    b.style.gridColumn = String(i + 2);
    b.style.gridRow = String(streams.indexOf(e.streamId) + 2);
    b.tabIndex = i === events.length - 1 ? 0 : -1;
    buttons.push(b);
    grid.append(b);
  });

  const legend = h(
    "div",
    { class: "legend", "aria-hidden": "true" },
    ["order", "payment", "inventory", "saga", "other"].map((c) => h("span", {}, h("span", { class: `ev cat-${c}` }, " "), ` ${c}`)),
  );

  // As-of picker: a slider over the events; the state is the server's (GET …/history?asOf=).
  const slider = h("input", {
    type: "range",
    min: "1",
    max: String(events.length),
    value: String(events.length),
    step: "1",
    "aria-describedby": "asof-out",
  });
  const asOfOut = h("output", { id: "asof-out" });
  const stateBox = h("div", { "aria-live": "polite", id: "asof-state" });
  let asOfSeq = 0;
  async function showAsOf(i) {
    asOfIndex = i;
    slider.value = String(i + 1);
    asOfOut.textContent = `after event ${i + 1} of ${events.length}: ${events[i].type} at ${when(events[i].occurredAt)}`;
    for (const [j, b] of buttons.entries()) b.classList.toggle("later", j > i);
    for (const [j, r] of rows.entries()) r.classList.toggle("later", j > i);
    const seq = ++asOfSeq;
    // By position: exactly after this event, even when several share its millisecond.
    const r = await api("GET", `/api/orders/${encodeURIComponent(orderId)}/history?asOf=${encodeURIComponent(events[i].position)}`);
    if (seq !== asOfSeq) return; // a later move of the slider won
    if (!r.ok) return stateBox.replaceChildren(problemBox(r, "Reading the order as of that event"));
    const s = r.body.state;
    if (!s) return stateBox.replaceChildren(h("p", { class: "empty" }, "The order did not exist yet."));
    stateBox.replaceChildren(
      h(
        "dl",
        { class: "state" },
        h("dt", {}, "Status"),
        h("dd", { "data-testid": "asof-status" }, s.status),
        h("dt", {}, "Payment"),
        h("dd", {}, s.paymentStatus),
        h("dt", {}, "Fulfilment"),
        h("dd", {}, s.fulfillmentStatus ?? ""),
        h("dt", {}, "Total"),
        h("dd", {}, money(s.totalAmount, s.currency)),
        h("dt", {}, "Refunded"),
        h("dd", {}, money(s.refundedAmount, s.currency)),
        h("dt", {}, "Version"),
        h("dd", {}, String(s.version)),
      ),
    );
  }
  let debounce;
  slider.addEventListener("input", () => {
    clearTimeout(debounce);
    const i = Number(slider.value) - 1;
    for (const [j, b] of buttons.entries()) b.classList.toggle("later", j > i);
    debounce = setTimeout(() => showAsOf(i), 120);
  });

  // The raw event, with what caused it and what it caused.
  const detail = h("section", { class: "detail", "aria-labelledby": "detail-h" });
  function select(i) {
    selected = i;
    buttons.forEach((b, j) => {
      b.setAttribute("aria-pressed", String(j === i));
      b.tabIndex = j === i ? 0 : -1;
      b.classList.toggle("cause", cause[i] === j);
    });
    for (const [j, r] of rows.entries()) r.classList.toggle("selected", j === i);
    const e = events[i];
    const caused = events.map((_, j) => j).filter((j) => cause[j] === i);
    const jump = (j) =>
      h(
        "button",
        {
          type: "button",
          class: "secondary",
          onclick: () => {
            select(j);
            buttons[j].focus();
          },
        },
        `#${j + 1} ${events[j].type}`,
      );
    detail.replaceChildren(
      h("h2", { id: "detail-h" }, `Event ${i + 1}: ${e.type}`),
      h("p", {}, `Stream ${e.streamId}, revision ${e.revision}, at ${when(e.occurredAt)}, by ${e.metadata?.actor ?? "?"}.`),
      h(
        "p",
        {},
        "Caused by: ",
        cause[i] === null ? h("span", { class: "mono" }, e.metadata?.causationId ?? "nothing recorded") : jump(cause[i]),
      ),
      caused.length
        ? h(
            "p",
            {},
            "Caused: ",
            caused.map((j) => [jump(j), " "]),
          )
        : "",
      h("pre", { tabindex: "0", "aria-label": "Raw event (JSON)", "data-testid": "raw-event" }, JSON.stringify(e, null, 2)),
    );
  }

  const list = table(
    ["#", "Time (UTC)", "Stream", "Type", "Actor", "Caused by", ""],
    events.map((e, i) => {
      const tr = h(
        "tr",
        { "data-type": e.type },
        h("td", { class: "num" }, String(i + 1)),
        h("td", { class: "mono" }, timeOnly(e.occurredAt)),
        h("td", { class: "mono" }, e.streamId),
        h("td", {}, e.type),
        h("td", {}, e.metadata?.actor ?? ""),
        h("td", {}, cause[i] === null ? "" : `#${cause[i] + 1} ${events[cause[i]].type}`),
        h(
          "td",
          {},
          h(
            "button",
            {
              type: "button",
              class: "secondary",
              onclick: () => {
                select(i);
                detail.scrollIntoView?.({ block: "nearest" });
              },
              "aria-label": `Show raw event ${i + 1} ${e.type}`,
            },
            "Raw",
          ),
        ),
      );
      rows.push(tr);
      return tr;
    }),
    "Events in commit order",
  );

  box.replaceChildren(
    h(
      "p",
      {},
      `${events.length} events in ${streams.length} streams, first ${when(events[0].occurredAt)}, last ${when(events.at(-1).occurredAt)}.`,
    ),
    h("div", { class: "asof" }, field("Show the order as of event", slider), asOfOut, stateBox),
    h(
      "div",
      { class: "timeline-layout" },
      h("div", {}, legend, h("div", { class: "lanes" }, grid), h("h2", {}, "Events in commit order"), list),
      detail,
    ),
  );
  select(selected);
  await showAsOf(asOfIndex);
}

// ---------- Refund reconciliation ----------

const isoDay = (d) => d.toISOString().slice(0, 10);

function csvOf(report) {
  const cell = (v) => {
    const s = v === undefined || v === null ? "" : String(v);
    return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
  };
  const mismatched = new Set(report.mismatches.map((m) => m.orderId));
  const lines = [["record", "refundId", "orderId", "paymentId", "amount", "status", "requestedAt", "processedAt", "mismatch", "detail"]];
  for (const r of report.refunds)
    lines.push([
      "refund",
      r.refundId,
      r.orderId,
      r.paymentId,
      r.amount,
      r.status,
      r.requestedAt,
      r.processedAt,
      mismatched.has(r.orderId) ? "yes" : "no",
      "",
    ]);
  for (const m of report.mismatches) lines.push(["mismatch", "", m.orderId, "", "", "", "", "", m.kind, m.detail]);
  for (const [k, v] of Object.entries(report.totals)) lines.push(["total", "", "", "", v, k, report.from, report.to, "", ""]);
  return `${lines.map((l) => l.map(cell).join(",")).join("\r\n")}\r\n`;
}

async function viewReconciliation(root, _arg, query) {
  const today = new Date();
  const from = h("input", {
    name: "from",
    type: "date",
    required: true,
    value: query.get("from") ?? isoDay(new Date(today.getTime() - 7 * 86400_000)),
  });
  const to = h("input", {
    name: "to",
    type: "date",
    required: true,
    value: query.get("to") ?? isoDay(new Date(today.getTime() + 86400_000)),
  });
  const out = h("div", { "aria-live": "polite" });
  root.append(
    heading("Refund reconciliation"),
    h(
      "form",
      {
        class: "filters",
        onsubmit: (e) => {
          e.preventDefault();
          location.hash = `#/reconciliation?${new URLSearchParams({ from: from.value, to: to.value, run: "1" })}`;
        },
      },
      field("From (UTC date, inclusive)", from),
      field("To (UTC date, exclusive)", to),
      h("button", { type: "submit" }, "Run reconciliation"),
    ),
    out,
  );
  if (!query.get("run")) return out.append(h("p", { class: "empty" }, "Choose a date range and run the reconciliation."));
  out.replaceChildren(h("p", {}, "Running…"));
  const range = { from: new Date(`${from.value}T00:00:00Z`).toISOString(), to: new Date(`${to.value}T00:00:00Z`).toISOString() };
  const res = await api("GET", `/api/finance/refunds/reconciliation?${new URLSearchParams(range)}`);
  if (!res.ok) return out.replaceChildren(problemBox(res, "Running the reconciliation"));
  const report = res.body;
  const mismatched = new Set(report.mismatches.map((m) => m.orderId));
  const csvUrl = URL.createObjectURL(new Blob([csvOf(report)], { type: "text/csv" }));
  // The CSV's object URL is released when the view changes (the poll stops) or after ten minutes.
  poll(() => {
    URL.revokeObjectURL(csvUrl);
    return false;
  }, 600_000);
  const t = report.totals;
  out.replaceChildren(
    h("p", {}, `From ${when(report.from)} to ${when(report.to)}.`),
    h(
      "dl",
      { class: "totals" },
      [
        ["Captured", t.captured],
        ["Refunded", t.refunded],
        ["Pending refunds", t.pendingRefunds],
        ["Failed refunds", t.failedRefunds],
      ].map(([k, v]) => h("div", {}, h("dt", {}, k), h("dd", {}, money(v)))),
    ),
    h(
      "p",
      {},
      h("a", { href: csvUrl, download: `refund-reconciliation-${from.value}-to-${to.value}.csv`, class: "button-link" }, "Download CSV"),
    ),
    h("h2", {}, `Mismatches (${report.mismatches.length})`),
    report.mismatches.length === 0
      ? h("p", { class: "notice ok" }, "No mismatches: payments and orders agree.")
      : table(
          ["", "Kind", "Order", "Detail"],
          report.mismatches.map((m) =>
            h(
              "tr",
              { class: "mismatch" },
              h("td", { class: "mark" }, "⚠ mismatch"),
              h("td", {}, m.kind),
              h("td", {}, h("a", { href: `#/timeline/${encodeURIComponent(m.orderId)}`, class: "mono" }, m.orderId)),
              h("td", {}, m.detail),
            ),
          ),
          "Mismatches",
        ),
    h("h2", {}, `Refunds (${report.refunds.length})`),
    report.refunds.length === 0
      ? h("p", { class: "empty" }, "No refunds were requested in this range.")
      : table(
          ["", "Refund", "Order", "Payment", "Amount", "Status", "Requested", "Processed"],
          report.refunds.map((r) =>
            h(
              "tr",
              { class: mismatched.has(r.orderId) || r.status === "FAILED" ? "mismatch" : null },
              h("td", { class: "mark" }, mismatched.has(r.orderId) ? "⚠ mismatch" : r.status === "FAILED" ? "⚠ failed" : ""),
              h("td", { class: "mono" }, r.refundId),
              h("td", {}, h("a", { href: `#/timeline/${encodeURIComponent(r.orderId)}`, class: "mono" }, r.orderId)),
              h("td", { class: "mono" }, r.paymentId),
              h("td", { class: "num" }, money(r.amount)),
              h("td", {}, r.status),
              h("td", {}, when(r.requestedAt)),
              h("td", {}, when(r.processedAt)),
            ),
          ),
          "Refunds",
        ),
  );
}

// ---------- Needs attention ----------

async function viewAttention(root) {
  const result = h("div", { role: "status", "aria-live": "polite", id: "resume-result" });
  const listBox = h("div", {});
  root.append(
    heading("Needs attention"),
    h("div", { class: "controls" }, h("button", { type: "button", class: "secondary", onclick: () => load() }, "Refresh")),
    result,
    listBox,
  );

  async function load() {
    const res = await api("GET", "/api/ops/attention");
    if (!res.ok) {
      listBox.replaceChildren(problemBox(res, "Listing what needs attention"));
      return null;
    }
    const items = res.body.items;
    listBox.replaceChildren(
      items.length === 0
        ? h("p", { class: "notice ok" }, "Nothing needs attention.")
        : table(
            ["Order", "Kind", "Processor", "Step or event", "Error", "Attempts", "Since", "Action"],
            items.map((it) =>
              h(
                "tr",
                { dataset: { orderId: it.orderId ?? "" } },
                h("td", {}, it.orderId ? h("a", { href: `#/timeline/${encodeURIComponent(it.orderId)}`, class: "mono" }, it.orderId) : "—"),
                h("td", {}, it.kind),
                h("td", { class: "mono" }, it.processor),
                h("td", { class: "mono" }, it.eventType ? `${it.eventType} ${it.stepId}` : it.stepId),
                h("td", {}, it.error),
                h("td", { class: "num" }, String(it.attempts)),
                h("td", {}, when(it.since)),
                h(
                  "td",
                  {},
                  it.resumable
                    ? h(
                        "button",
                        {
                          type: "button",
                          onclick: (e) => resume(it.orderId, e.currentTarget),
                          "aria-label": `Resume the saga of order ${it.orderId}`,
                        },
                        "Resume",
                      )
                    : it.processor.startsWith("projections/")
                      ? // A read model's projector moved on past this event: rebuilding the model replays it once the cause is fixed.
                        h(
                          "span",
                          {},
                          "fix the cause, then ",
                          h("a", { href: "#/read-models" }, `rebuild ${it.processor.slice("projections/".length)}`),
                        )
                      : "fix the cause; see the server log",
                ),
              ),
            ),
            "Parked work",
          ),
    );
    return items;
  }

  async function resume(orderId, button) {
    button.disabled = true;
    result.replaceChildren(h("p", { class: "notice" }, `Resuming order ${orderId}…`));
    const res = await api("POST", `/api/ops/attention/${encodeURIComponent(orderId)}/resume`, {});
    if (!res.ok) {
      result.replaceChildren(problemBox(res, `Resuming order ${orderId}`));
      button.disabled = false;
      return;
    }
    const r = res.body;
    result.replaceChildren(
      h(
        "p",
        { class: "notice" },
        `Resume accepted (${res.status}) for order ${orderId}: ${r.retriedEvents} parked event(s) ran again, ${r.gatewaySteps} gateway step(s) asked to re-run. Waiting for the saga…`,
      ),
    );
    const started = Date.now();
    poll(async () => {
      const items = await load();
      if (items === null) return false;
      if (!items.some((i) => i.orderId === orderId && i.resumable)) {
        result.replaceChildren(h("p", { class: "notice ok" }, `Order ${orderId} resumed: it no longer needs attention.`));
        return false;
      }
      if (Date.now() - started > 20_000) {
        const still = items.find((i) => i.orderId === orderId);
        result.replaceChildren(
          problemBox(
            { status: 409, body: { title: "Still failing", detail: still?.error ?? "the saga did not recover" } },
            `Order ${orderId}`,
          ),
        );
        return false;
      }
      return true;
    }, 700);
  }

  await load();
}

// ---------- Read models ----------

async function viewReadModels(root) {
  const result = h("div", { role: "status", "aria-live": "polite", id: "rebuild-result" });
  const listBox = h("div", {});
  root.append(
    heading("Read models"),
    h("div", { class: "controls" }, h("button", { type: "button", class: "secondary", onclick: () => load() }, "Refresh")),
    result,
    listBox,
  );
  let polling = false;

  function progressCell(r) {
    if (!r) return h("span", { class: "empty" }, "never rebuilt here");
    const pct = Math.round(r.progress * 100);
    const text =
      r.state === "done"
        ? `done at ${when(r.finishedAt)} (${r.replayed} events)`
        : r.state === "failed"
          ? `failed: ${r.error}`
          : `${r.replayed}${r.total === null ? "" : ` of ${r.total}`} events (${pct}%)`;
    return h(
      "span",
      {},
      h("progress", { max: "1", value: String(r.progress), "aria-label": `rebuild progress ${pct}%` }),
      " ",
      h("span", { class: "rebuild-text" }, text),
    );
  }

  async function load() {
    const res = await api("GET", "/api/ops/projections");
    if (!res.ok) {
      listBox.replaceChildren(problemBox(res, "Reading the read models"));
      return null;
    }
    const models = res.body.projections;
    listBox.replaceChildren(
      table(
        ["Read model", "Status", "Checkpoint", "Lag events", "Lag seconds", "Parked", "Rebuild", "Action"],
        models.map((m) =>
          h(
            "tr",
            { dataset: { name: m.name } },
            h("td", {}, m.name),
            h("td", { class: "status" }, m.status),
            h(
              "td",
              { class: "mono", title: m.checkpoint },
              m.checkpoint.length > 24 ? `…${m.checkpoint.slice(-24)}` : m.checkpoint || "(start)",
            ),
            h("td", { class: "num" }, `${m.lagEvents}${m.lagCapped ? "+" : ""}`),
            h("td", { class: "num" }, m.lagSeconds.toFixed(1)),
            h("td", { class: "num" }, String(m.parked)),
            h("td", { class: "progress-cell" }, progressCell(m.rebuild)),
            h(
              "td",
              {},
              h(
                "button",
                { type: "button", disabled: m.status === "rebuilding", onclick: () => rebuild(m.name), "aria-label": `Rebuild ${m.name}` },
                "Rebuild",
              ),
            ),
          ),
        ),
        "Read models",
      ),
    );
    if (models.some((m) => m.rebuild?.state === "running") && !polling) {
      polling = true;
      poll(async () => {
        const again = await load();
        const busy = again?.some((m) => m.rebuild?.state === "running") ?? false;
        if (!busy) polling = false;
        return busy;
      }, 400);
    }
    return models;
  }

  async function rebuild(name) {
    result.replaceChildren(h("p", { class: "notice" }, `Starting a shadow rebuild of ${name}…`));
    const res = await api("POST", `/api/ops/projections/${encodeURIComponent(name)}/rebuild`, {});
    if (!res.ok) return result.replaceChildren(problemBox(res, `Rebuilding ${name}`));
    result.replaceChildren(
      h(
        "p",
        { class: "notice" },
        `Rebuild of ${name} started (${res.status}): built beside the live tables and swapped in when caught up.`,
      ),
    );
    await load();
  }

  await load();
}

// ---------- start ----------

document.getElementById("sign-out").addEventListener("click", () => {
  session.signOut();
  location.hash = "#/signin";
  render();
});
window.addEventListener("hashchange", () => {
  navigated = true;
  render();
});
render();
