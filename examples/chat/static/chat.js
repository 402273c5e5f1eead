// The room page: messages and charts from one EventSource, and the form.
"use strict";

const messages = document.getElementById("messages");
const status = document.getElementById("status");
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
// what was missed, so each message is shown once. #status also counts the
// streams that really opened, as `data-opens` (read by the tests).
let opens = 0;
liveStream(document.currentScript.dataset.stream, {
  status,
  reconnect: document.getElementById("reconnect"),
  events: {
    message: (event) => show(event.lastEventId, JSON.parse(event.data)),
    stats: (event) => {
      const stats = JSON.parse(event.data);
      charts.traffic.push(stats.users, stats.inbound, stats.outbound);
      charts.heap.push(stats.heap);
      charts.allocations.push(stats.allocations, stats.frees);
    },
  },
  onOpen: () => {
    opens += 1;
    status.dataset.opens = String(opens);
  },
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
