// Reads an event stream served by tests/interop.rs with two third-party
// clients and prints what they saw, one JSON object per line:
//
// 1. `eventsource` (a WHATWG-compliant EventSource) connects to `<base>/eventsource`
//    and listens for `message` and every type given on the command line:
//      {"client":"eventsource","kind":"event","type":…,"data":…,"lastEventId":…}
//      {"client":"eventsource","kind":"error","message":…}
// 2. `eventsource-parser` reads `<base>/parser` through fetch, which also
//    exposes what EventSource hides (retry values and comments):
//      {"client":"parser","kind":"event","type":…,"data":…,"id":…}
//      {"client":"parser","kind":"retry","value":…}
//      {"client":"parser","kind":"comment","value":…}
//      {"client":"parser","kind":"error","message":…}
//
// Each client stops at the event of type `interop-end`. Exit status 0 means
// both clients reached it; anything else is printed to stderr.
//
// Usage: node client.mjs <base-url> <comma-separated event types>

import { EventSource } from 'eventsource';
import { createParser } from 'eventsource-parser';

const END = 'interop-end';
const TIMEOUT_MS = 20_000;

const [base, typeList = ''] = process.argv.slice(2);
if (!base) {
  console.error('usage: node client.mjs <base-url> <comma-separated event types>');
  process.exit(64);
}

const timer = setTimeout(() => {
  console.error(`interop client: timed out after ${TIMEOUT_MS} ms`);
  exit(3);
}, TIMEOUT_MS);

function print(record) {
  process.stdout.write(`${JSON.stringify(record)}\n`);
}

// Exits once stdout is flushed: a pipe is written asynchronously, so
// `process.exit` alone could cut the output short.
function exit(code) {
  process.stdout.write('', () => process.exit(code));
}

function readWithEventSource() {
  return new Promise((resolve, reject) => {
    const types = new Set(['message', ...typeList.split(',').filter((t) => t !== '')]);
    const es = new EventSource(`${base}/eventsource`);
    for (const type of types) {
      es.addEventListener(type, (event) => {
        print({
          client: 'eventsource',
          kind: 'event',
          type: event.type,
          data: event.data,
          lastEventId: event.lastEventId,
        });
        if (event.type === END) {
          es.close();
          resolve();
        }
      });
    }
    es.addEventListener('error', (event) => {
      print({ client: 'eventsource', kind: 'error', message: String(event.message ?? '') });
      if (es.readyState === EventSource.CLOSED) {
        reject(new Error(`EventSource failed: ${event.message}`));
      }
    });
  });
}

async function readWithParser() {
  let ended = false;
  const parser = createParser({
    onEvent(event) {
      const type = event.event || 'message';
      print({ client: 'parser', kind: 'event', type, data: event.data, id: event.id ?? null });
      if (type === END) ended = true;
    },
    onRetry(value) {
      print({ client: 'parser', kind: 'retry', value });
    },
    onComment(value) {
      print({ client: 'parser', kind: 'comment', value });
    },
    onError(error) {
      print({ client: 'parser', kind: 'error', message: String(error.message) });
    },
  });

  const response = await fetch(`${base}/parser`, {
    headers: { Accept: 'text/event-stream' },
  });
  if (response.status !== 200) {
    throw new Error(`parser request: HTTP ${response.status}`);
  }
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  while (!ended) {
    const { done, value } = await reader.read();
    if (value) parser.feed(decoder.decode(value, { stream: !done }));
    if (done) break;
  }
  if (!ended) {
    throw new Error(`parser: the stream ended before the ${END} event`);
  }
  await reader.cancel();
}

try {
  await readWithEventSource();
  await readWithParser();
  clearTimeout(timer);
  exit(0);
} catch (error) {
  console.error(`interop client: ${error.stack ?? error}`);
  exit(1);
}
