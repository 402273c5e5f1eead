// The room page: messages and charts from one EventSource, and the form.
"use strict";

const messages = document.getElementById("messages");
const status = document.getElementById("status");
const reconnect = document.getElementById("reconnect");
const form = document.getElementById("send");
const error = document.getElementById("error");
const userField = document.getElementById("user");
const messageField = document.getElementById("message");

const charts = {
  traffic: new LineChart(document.getElementById("chart-traffic"), [
    { name: "users", color: "#2458c6" },
    { name: "in/s", color: "#1f9d55" },
    { name: "out/s", color: "#d97706" },
  ]),
  heap: new LineChart(document.getElementById("chart-heap"), [
    { name: "heap", color: "#7c3aed" },
  ]),
  allocations: new LineChart(document.getElementById("chart-allocations"), [
    { name: "allocations/s", color: "#db2777" },
    { name: "frees/s", color: "#0891b2" },
  ]),
};

function show(id, { user, message }) {
  const item = document.createElement("li");
  item.dataset.id = id;
  const who = document.createElement("b");
  who.className = "user";
  who.textContent = user;
  const text = document.createElement("span");
  text.className = "text";
  text.textContent = message;
  item.append(who, " ", text);
  messages.append(item);
  messages.scrollTop = messages.scrollHeight;
}

// The stream URL resumes after the messages the page was served with.
// Every event carries the broker's id; when the connection drops, the
// browser reconnects with `Last-Event-ID` and the server replays exactly
// what was missed, so each message is shown once.
const streamUrl = document.currentScript.dataset.stream;

// How long an opened stream must go without an `unavailable` notice to
// count as connected (its first event counts at once). A server that
// cannot serve the stream now still answers 200, so that the browser keeps
// trying: `open`, then the notice, then `error`.
const CONFIRM_MS = 500;

// The last event id the page saw, and how many streams really opened
// (`data-opens`, read by the tests).
let lastEventId = null;
let opens = 0;

// What #status says, as `data-state`: `open`, `reconnecting`,
// `unavailable` (the server asked the browser to come back later) or
// `stopped` (the browser gave up: only #reconnect opens a new stream).
function setStatus(state, text) {
  status.dataset.state = state;
  status.textContent = text;
  status.className = state === "open" ? "" : "offline";
  if (state === "stopped") {
    status.dataset.everStopped = "true";
  }
  reconnect.hidden = state !== "stopped";
}

// Opens the stream at `url` with every listener the page needs; used
// again, with the last id seen, by #reconnect.
function connect(url) {
  const source = new EventSource(url);
  let pending = false;
  let timer = null;
  const settle = () => {
    clearTimeout(timer);
    pending = false;
  };
  const confirmed = () => {
    if (!pending) {
      return;
    }
    settle();
    opens += 1;
    status.dataset.opens = String(opens);
    setStatus("open", "connected");
  };
  const on = (type, handler) =>
    source.addEventListener(type, (event) => {
      if (event.lastEventId) {
        lastEventId = event.lastEventId;
      }
      confirmed();
      handler(event);
    });

  source.onopen = () => {
    settle();
    pending = true;
    timer = setTimeout(confirmed, CONFIRM_MS);
  };
  source.addEventListener("unavailable", (event) => {
    settle();
    const { reason, retry } = JSON.parse(event.data);
    setStatus("unavailable", `unavailable (${reason}), retrying in ${Math.ceil(retry / 1000)} s`);
  });
  source.onerror = () => {
    settle();
    if (source.readyState === EventSource.CLOSED) {
      setStatus("stopped", "stopped: the browser will not reconnect by itself");
    } else if (status.dataset.state !== "unavailable") {
      // After a notice the browser waits as it was told: the notice stays.
      setStatus("reconnecting", "reconnecting…");
    }
  };
  on("message", (event) => show(event.lastEventId, JSON.parse(event.data)));
  on("stats", (event) => {
    const stats = JSON.parse(event.data);
    charts.traffic.push(stats.users, stats.inbound, stats.outbound);
    charts.heap.push(stats.heap);
    charts.allocations.push(stats.allocations, stats.frees);
  });
  return source;
}

let source = connect(streamUrl);
reconnect.addEventListener("click", () => {
  source.close();
  // A new EventSource sends no `Last-Event-ID`: the id goes in the URL.
  const url = new URL(streamUrl, location.href);
  if (lastEventId !== null) {
    url.searchParams.set("lastEventId", lastEventId);
  }
  setStatus("reconnecting", "reconnecting…");
  source = connect(url);
});

userField.value = localStorage.getItem("nick") || "";
form.addEventListener("submit", async (event) => {
  event.preventDefault();
  error.textContent = "";
  localStorage.setItem("nick", userField.value);
  try {
    const response = await fetch(form.action, {
      method: "POST",
      body: new URLSearchParams(new FormData(form)),
    });
    if (response.ok) {
      messageField.value = "";
      messageField.focus();
    } else {
      error.textContent = await response.text();
    }
  } catch (failure) {
    error.textContent = `not sent: ${failure.message}`;
  }
});
