// live-stream.js: one EventSource, kept alive and explained on the page.
//
// Every example page loads this file and calls `liveStream` once with its
// own event handlers. Each example embeds this one file and serves it
// from its own origin (the chat at /assets/live-stream.js, the others at
// /live-stream.js): copy it with the example. The rest is the same on
// every page:
//
// - #status says what the stream is doing, as text and as `data-state`:
//     open          "connected"
//     reconnecting  "reconnecting…"  (the browser is trying again)
//     unavailable   "unavailable (<reason>), retrying in <n> s"  (the
//                   server answered with an `unavailable` notice, JSON
//                   `{"reason", "retry"}` with `retry` in ms, and the
//                   browser waits as it was told)
//     stopped       "stopped: …"  (the EventSource is CLOSED: the browser
//                   will not try again by itself)
//   and `data-ever-stopped="true"` once it has been stopped, for good.
// - An open is confirmed by the stream's first event or by half a second
//   without a notice: a server that cannot serve the stream now still
//   answers 200 (so that the browser keeps trying), which fires `open`,
//   then sends the notice and ends.
// - The #reconnect button shows only while stopped; it opens a new
//   EventSource that resumes after the last event id the page saw. A new
//   EventSource sends no `Last-Event-ID`, so the id goes in the URL as
//   `lastEventId`, next to the URL's own query parameters.
//
//   liveStream(url, {
//     status,             // the #status element
//     reconnect,          // the #reconnect button
//     events: {           // event type -> handler(MessageEvent)
//       message: (event) => ...,
//     },
//     onOpen: () => ...,  // optional: after each confirmed open
//   }) -> { source, lastEventId, close() }
//
// `source` is the current EventSource (a new one after #reconnect),
// `lastEventId` the last id seen (or null) and `close()` closes the stream
// for good. Every handler in `events` counts as a sign of a live stream:
// it confirms the open and records its event's id. `unavailable` is this
// script's own and cannot be one of them.
"use strict";

function liveStream(url, { status, reconnect, events = {}, onOpen = () => {} }) {
  // How long an opened stream must go without an `unavailable` notice to
  // count as connected.
  const CONFIRM_MS = 500;

  let lastEventId = null;
  let source = null;
  // Cancels the open confirmation of the current source, if pending.
  let settle = () => {};

  function setStatus(state, text) {
    status.dataset.state = state;
    status.textContent = text;
    if (state === "stopped") {
      status.dataset.everStopped = "true";
    }
    reconnect.hidden = state !== "stopped";
  }

  // Opens `streamUrl` with every listener: the page's and the status's.
  function connect(streamUrl) {
    const opened = new EventSource(streamUrl);
    let timer = null;
    const cancel = () => {
      clearTimeout(timer);
      timer = null;
    };
    const confirmed = () => {
      if (timer !== null) {
        cancel();
        setStatus("open", "connected");
        onOpen();
      }
    };

    opened.onopen = () => {
      cancel();
      timer = setTimeout(confirmed, CONFIRM_MS);
    };
    opened.addEventListener("unavailable", (event) => {
      cancel();
      const { reason, retry } = JSON.parse(event.data);
      setStatus("unavailable", `unavailable (${reason}), retrying in ${Math.ceil(retry / 1000)} s`);
    });
    opened.onerror = () => {
      cancel();
      if (opened.readyState === EventSource.CLOSED) {
        setStatus("stopped", "stopped: the browser will not reconnect by itself");
      } else if (status.dataset.state !== "unavailable") {
        // After a notice the browser waits as it was told: the notice stays.
        setStatus("reconnecting", "reconnecting…");
      }
    };
    for (const [type, handler] of Object.entries(events)) {
      opened.addEventListener(type, (event) => {
        if (event.lastEventId) {
          lastEventId = event.lastEventId;
        }
        confirmed();
        handler(event);
      });
    }
    source = opened;
    settle = cancel;
  }

  // Closes the current source, whose confirmation must not fire later.
  function close() {
    settle();
    source.close();
  }

  connect(url);
  reconnect.addEventListener("click", () => {
    close();
    const resume = new URL(url, location.href);
    if (lastEventId !== null) {
      resume.searchParams.set("lastEventId", lastEventId);
    }
    setStatus("reconnecting", "reconnecting…");
    connect(resume);
  });

  return {
    get source() {
      return source;
    },
    get lastEventId() {
      return lastEventId;
    },
    close,
  };
}
