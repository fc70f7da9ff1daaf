'use strict';
// The example's "dependency beyond Postgres": a tiny price service that server.js calls
// for GET /quote (via UPSTREAM_URL). Prices are a pure function of the item's name.

const http = require('node:http');

const PORT = process.env.PORT;
if (!PORT || !/^\d+$/.test(PORT)) {
  console.error('upstream: PORT (a number) is required');
  process.exit(2);
}

// FNV-1a over the name, mapped to a price between 1.00 and 100.99.
function priceOf(item) {
  let hash = 0x811c9dc5;
  for (const byte of Buffer.from(item, 'utf8')) {
    hash = Math.imul(hash ^ byte, 0x01000193) >>> 0;
  }
  return 1 + (hash % 10000) / 100;
}

function send(res, status, body) {
  const data = JSON.stringify(body);
  res.writeHead(status, {
    'Content-Type': 'application/json',
    'Content-Length': Buffer.byteLength(data),
  });
  res.end(data);
}

const server = http.createServer((req, res) => {
  let url;
  try {
    url = new URL(req.url, 'http://localhost');
  } catch (_) {
    return send(res, 400, { error: 'bad url' });
  }
  if (req.method === 'GET' && url.pathname === '/healthz') return send(res, 200, { status: 'ok' });
  if (req.method === 'GET' && url.pathname === '/price') {
    const item = url.searchParams.get('item');
    if (!item) return send(res, 400, { error: 'item is required' });
    return send(res, 200, { item, price: priceOf(item) });
  }
  send(res, 404, { error: 'not found' });
});

function shutdown() {
  // Stop accepting and let in-flight requests finish (bounded).
  server.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 5000).unref();
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);

server.listen(Number(PORT), '127.0.0.1', () => {
  console.log(`listening on http://127.0.0.1:${server.address().port}`);
});
