'use strict';
// A small order service on Postgres: chaosharness' example of "a user's own service in
// another language". It is meant to be resilient on its own: every database call is
// bounded, a lost database makes it answer 503 (Retry-After: 1) fast instead of hanging or
// crashing, readiness follows the database, and SIGTERM drains it cleanly.
// ACK_BEFORE_COMMIT=1 plants a durability bug for the harness to find (see README.md).

const http = require('node:http');
const crypto = require('node:crypto');
const { Pool, Client } = require('pg');

const PORT = process.env.PORT;
const DATABASE_URL = process.env.DATABASE_URL;
const HOST = process.env.HOST || '127.0.0.1';
const UPSTREAM_URL = (process.env.UPSTREAM_URL || '').replace(/\/+$/, '');
const ACK_BEFORE_COMMIT = process.env.ACK_BEFORE_COMMIT === '1';

if (!PORT || !/^\d+$/.test(PORT) || !DATABASE_URL) {
  console.error('node-service: PORT (a number) and DATABASE_URL are required');
  process.exit(2);
}

const CONNECT_TIMEOUT_MS = 1000; // waiting for a pool connection (or a new one)
const QUERY_TIMEOUT_MS = 2000; // server side (statement_timeout) and client side (query_timeout)
const REQUEST_DEADLINE_MS = 2000; // a request that touches the database answers within this
const PROBE_INTERVAL_MS = 500;
const PROBE_TIMEOUT_MS = 400;
const UPSTREAM_TIMEOUT_MS = 1000;
const ACK_WINDOW_MS = 300; // the planted bug: how long an acknowledged insert stays uncommitted
const DRAIN_TIMEOUT_MS = 5000;
const MAX_BODY_BYTES = 64 * 1024;

const log = (...args) => console.error(new Date().toISOString(), ...args);

const dbConfig = {
  connectionString: DATABASE_URL,
  application_name: 'node-service',
  connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
  statement_timeout: QUERY_TIMEOUT_MS,
  // Client-side bound too: a frozen server never answers, so statement_timeout cannot fire.
  query_timeout: QUERY_TIMEOUT_MS,
  keepAlive: true,
};

const pool = new Pool({ ...dbConfig, max: 10, idleTimeoutMillis: 10000 });
// An idle client whose connection dies (Postgres restarted) is reported here; without a
// listener the 'error' event would crash the process.
pool.on('error', (err) => log('pool: idle client error:', err.message));

let schemaReady = false;
let dbOk = false;
let shuttingDown = false;

// -- schema --------------------------------------------------------------------------------

const SCHEMA = `
create table if not exists orders (
  id bigserial primary key,
  order_key text not null unique,
  customer text not null,
  item text not null,
  qty int not null,
  created_at timestamptz default now()
);
create table if not exists logins (
  token text primary key,
  customer text,
  created_at timestamptz default now()
);`;

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// Create the tables, retrying with capped exponential backoff while Postgres is unreachable.
// The server already listens meanwhile; /readyz says 503 until this is done.
async function ensureSchema() {
  let delay = 100;
  for (let attempt = 1; !shuttingDown; attempt++) {
    try {
      await pool.query(SCHEMA);
      schemaReady = true;
      log('schema ready');
      return;
    } catch (err) {
      log(`schema: attempt ${attempt} failed (${err.message}); retrying in ${delay} ms`);
      await sleep(delay);
      delay = Math.min(delay * 2, 2000);
    }
  }
}

// -- health probe ----------------------------------------------------------------------------

// A dedicated connection (not the pool) so that readiness reflects the database, not how
// busy the pool is. It runs `select 1` every PROBE_INTERVAL_MS, also when there is no traffic.
let probeClient = null;
let probeTimer = null;

function discard(client) {
  // end() waits for the server to close the socket, which a frozen server never does:
  // destroy the socket instead (as pg-pool does on a connection timeout).
  try {
    if (client.connection && client.connection.stream) client.connection.stream.destroy();
    else client.end().catch(() => {});
  } catch (_) {
    /* already gone */
  }
}

function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

async function probeOnce() {
  if (!probeClient) {
    const client = new Client({
      ...dbConfig,
      application_name: 'node-service-probe',
      connectionTimeoutMillis: PROBE_TIMEOUT_MS,
      query_timeout: PROBE_TIMEOUT_MS,
      statement_timeout: PROBE_TIMEOUT_MS,
    });
    // A connection lost between probes (Postgres stopped) is dropped here; the next probe
    // then reconnects, or fails and turns readiness off.
    client.on('error', () => {
      if (probeClient === client) probeClient = null;
      discard(client);
    });
    probeClient = client;
    await withTimeout(client.connect(), PROBE_TIMEOUT_MS, 'probe connect');
  }
  await probeClient.query('select 1');
}

async function probeLoop() {
  let ok = false;
  try {
    await probeOnce();
    ok = true;
  } catch (err) {
    if (dbOk && !shuttingDown) log('probe: database unavailable:', err.message);
    if (probeClient) discard(probeClient);
    probeClient = null;
  }
  if (ok && !dbOk) log('probe: database ok');
  dbOk = ok;
  if (!shuttingDown) probeTimer = setTimeout(probeLoop, PROBE_INTERVAL_MS);
}

// -- HTTP helpers ----------------------------------------------------------------------------

class HttpError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

function send(res, status, body, headers = {}) {
  if (res.headersSent || res.writableEnded) return; // e.g. the deadline answered first
  const data = JSON.stringify(body);
  res.writeHead(status, {
    'Content-Type': 'application/json',
    'Content-Length': Buffer.byteLength(data),
    ...headers,
  });
  res.end(data);
}

function unavailable(res, reason) {
  send(res, 503, { error: 'unavailable', detail: reason }, { 'Retry-After': '1' });
}

function readJson(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on('data', (chunk) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        reject(new HttpError(413, 'body too large'));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      try {
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8') || 'null');
        if (body === null || typeof body !== 'object' || Array.isArray(body)) {
          reject(new HttpError(400, 'body must be a JSON object'));
        } else {
          resolve(body);
        }
      } catch (_) {
        reject(new HttpError(400, 'body is not valid JSON'));
      }
    });
    req.on('error', reject);
  });
}

const isText = (v) => typeof v === 'string' && v.length > 0 && v.length <= 200;

function toOrder(row) {
  return {
    id: Number(row.id), // bigserial comes back as a string; ids stay far below 2^53
    order_key: row.order_key,
    customer: row.customer,
    item: row.item,
    qty: row.qty,
    created_at: row.created_at,
  };
}

// Run fn(client) on a pooled connection. While checked out the pool does not listen for the
// client's 'error' events, so we do (a connection dying between two queries would otherwise
// crash the process). A client that failed is destroyed rather than reused.
async function withClient(fn) {
  const client = await pool.connect();
  let failure;
  const onError = (err) => {
    failure = failure || err;
  };
  client.on('error', onError);
  try {
    return await fn(client);
  } catch (err) {
    failure = failure || err;
    throw err;
  } finally {
    client.removeListener('error', onError);
    client.release(failure);
  }
}

// -- tokens ----------------------------------------------------------------------------------

// Tokens live in Postgres (they survive a restart); a small cache spares a query per request.
const tokenCache = new Map();
const TOKEN_CACHE_MAX = 10000;

function bearerToken(req) {
  const match = /^Bearer ([0-9a-f]{16,128})$/.exec(req.headers.authorization || '');
  if (!match) throw new HttpError(401, 'missing or malformed bearer token');
  return match[1];
}

async function customerFor(token) {
  if (tokenCache.has(token)) return tokenCache.get(token);
  const { rows } = await pool.query('select customer from logins where token = $1', [token]);
  if (rows.length === 0) throw new HttpError(401, 'unknown token');
  if (tokenCache.size >= TOKEN_CACHE_MAX) tokenCache.clear();
  tokenCache.set(token, rows[0].customer);
  return rows[0].customer;
}

// -- handlers --------------------------------------------------------------------------------

async function login(req, res) {
  const body = await readJson(req);
  if (!isText(body.customer)) throw new HttpError(400, 'customer must be a non-empty string');
  const token = crypto.randomBytes(16).toString('hex');
  await pool.query('insert into logins (token, customer) values ($1, $2)', [token, body.customer]);
  tokenCache.set(token, body.customer);
  send(res, 200, { token, customer: body.customer });
}

const INSERT_ORDER = `
  insert into orders (order_key, customer, item, qty) values ($1, $2, $3, $4)
  on conflict (order_key) do nothing
  returning id, order_key, customer, item, qty, created_at`;
const SELECT_ORDER =
  'select id, order_key, customer, item, qty, created_at from orders where order_key = $1';

async function createOrder(req, res) {
  // Cheap checks first: header, then body; the token's lookup is the first database call.
  const token = bearerToken(req);
  const { order_key: key, item, qty } = await readJson(req);
  if (!isText(key)) throw new HttpError(400, 'order_key must be a non-empty string');
  if (!isText(item)) throw new HttpError(400, 'item must be a non-empty string');
  if (!Number.isInteger(qty) || qty < 1 || qty > 1000000) {
    throw new HttpError(400, 'qty must be a positive integer');
  }
  const customer = await customerFor(token);
  const args = [key, customer, item, qty];

  if (!ACK_BEFORE_COMMIT) {
    // Correct: the insert commits (autocommit) before we answer. A repeated key inserts
    // nothing, and the select returns the row stored the first time.
    const inserted = await pool.query(INSERT_ORDER, args);
    if (inserted.rows.length > 0) return send(res, 201, toOrder(inserted.rows[0]));
    const { rows } = await pool.query(SELECT_ORDER, [key]);
    if (rows.length === 0) throw new Error('order vanished between insert and select');
    return send(res, 200, toOrder(rows[0]));
  }

  // PLANTED BUG (ACK_BEFORE_COMMIT=1): acknowledge inside the open transaction, then commit
  // ACK_WINDOW_MS later. A crash of this process or of Postgres in that window loses a write
  // the client was told is stored.
  return withClient(async (client) => {
    await client.query('begin');
    try {
      const inserted = await client.query(INSERT_ORDER, args);
      if (inserted.rows.length > 0) {
        send(res, 201, toOrder(inserted.rows[0]));
        await sleep(ACK_WINDOW_MS);
      } else {
        const { rows } = await client.query(SELECT_ORDER, [key]);
        send(res, 200, toOrder(rows[0]));
      }
      await client.query('commit');
    } catch (err) {
      await client.query('rollback').catch(() => {});
      if (res.headersSent) log(`order ${key}: acknowledged but not committed: ${err.message}`);
      throw err;
    }
  });
}

async function getOrder(res, key) {
  const { rows } = await pool.query(SELECT_ORDER, [key]);
  if (rows.length === 0) return send(res, 404, { error: 'not found' });
  send(res, 200, toOrder(rows[0]));
}

async function listOrders(res, params) {
  const raw = params.get('limit');
  let limit = 20;
  if (raw !== null) {
    if (!/^\d+$/.test(raw) || Number(raw) < 1) throw new HttpError(400, 'limit must be >= 1');
    limit = Math.min(Number(raw), 100);
  }
  const { rows } = await pool.query(
    'select id, order_key, customer, item, qty, created_at from orders ' +
      'order by created_at desc, id desc limit $1',
    [limit],
  );
  send(res, 200, { orders: rows.map(toOrder) });
}

async function quote(res, params) {
  const item = params.get('item');
  if (!item) throw new HttpError(400, 'item is required');
  let body;
  try {
    const url = `${UPSTREAM_URL}/price?item=${encodeURIComponent(item)}`;
    // The signal bounds the whole exchange, body included.
    const resp = await fetch(url, { signal: AbortSignal.timeout(UPSTREAM_TIMEOUT_MS) });
    if (resp.status !== 200) throw new Error(`upstream answered ${resp.status}`);
    body = await resp.json();
  } catch (err) {
    return unavailable(res, `upstream: ${err.name === 'TimeoutError' ? 'timeout' : err.message}`);
  }
  send(res, 200, { item, price: body.price });
}

// -- routing ---------------------------------------------------------------------------------

// Is this error "a dependency is not usable right now" (503, retry) rather than a bug (500)?
// Network errors and pg's own timeouts carry no SQLSTATE; of the server's errors only
// connection (08), resources (53), operator intervention such as a shutdown or a
// statement_timeout (57), system (58) and serialization/deadlock (40) are transient.
function isUnavailable(err) {
  if (err instanceof TypeError || err instanceof RangeError || err instanceof ReferenceError) {
    return false;
  }
  const code = typeof err.code === 'string' && /^[0-9A-Z]{5}$/.test(err.code) ? err.code : null;
  return code === null || /^(08|40|53|57|58)/.test(code);
}

// Answer 503 if the handler has not answered within the deadline. The handler keeps running
// (its queries are bounded by query_timeout) and its late answer is dropped by send().
function withDeadline(res, promise) {
  let timer;
  const deadline = new Promise((resolve) => {
    timer = setTimeout(() => {
      unavailable(res, `no answer within ${REQUEST_DEADLINE_MS} ms`);
      resolve();
    }, REQUEST_DEADLINE_MS);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

function route(req, res, url) {
  const { pathname, searchParams } = url;
  const method = req.method;
  if (method === 'GET' && pathname === '/healthz') return send(res, 200, { status: 'ok' });
  if (method === 'GET' && pathname === '/readyz') {
    if (schemaReady && dbOk && !shuttingDown) return send(res, 200, { status: 'ready' });
    return send(
      res,
      503,
      { status: 'not ready', schema: schemaReady, database: dbOk },
      { 'Retry-After': '1' },
    );
  }
  if (method === 'GET' && pathname === '/quote' && UPSTREAM_URL) return quote(res, searchParams);

  let work = null;
  if (method === 'POST' && pathname === '/login') work = () => login(req, res);
  else if (method === 'POST' && pathname === '/orders') work = () => createOrder(req, res);
  else if (method === 'GET' && pathname === '/orders') work = () => listOrders(res, searchParams);
  else if (method === 'GET' && pathname.startsWith('/orders/') && pathname.length > 8) {
    work = () => getOrder(res, decodeURIComponent(pathname.slice(8)));
  }
  if (work === null) return send(res, 404, { error: 'not found' });
  if (!schemaReady) return unavailable(res, 'schema not ready');
  return withDeadline(res, work());
}

const server = http.createServer((req, res) => {
  let url;
  try {
    url = new URL(req.url, 'http://localhost');
  } catch (_) {
    return send(res, 400, { error: 'bad url' });
  }
  // Every path ends in this catch: no promise is ever left unhandled.
  Promise.resolve()
    .then(() => route(req, res, url))
    .catch((err) => {
      if (err instanceof HttpError) return send(res, err.status, { error: err.message });
      if (err instanceof URIError) return send(res, 400, { error: 'bad url' });
      if (isUnavailable(err)) return unavailable(res, err.message);
      log(`${req.method} ${url.pathname}: unexpected error:`, err.stack || err);
      send(res, 500, { error: 'internal error' });
    });
});
server.headersTimeout = 5000;
server.requestTimeout = 10000;

// -- lifecycle -------------------------------------------------------------------------------

async function shutdown(signal) {
  if (shuttingDown) return;
  shuttingDown = true;
  log(`${signal}: draining`);
  clearTimeout(probeTimer);
  if (probeClient) discard(probeClient);
  // Stop accepting; in-flight requests finish (bounded), then idle keep-alive sockets close.
  const closed = new Promise((resolve) => server.close(resolve));
  await withTimeout(closed, DRAIN_TIMEOUT_MS, 'drain').catch((err) => {
    log(err.message, '- closing the remaining connections');
    server.closeAllConnections();
  });
  // pool.end() waits for checked-out clients (e.g. a commit still pending); bound it too.
  await withTimeout(pool.end(), 2000, 'pool.end').catch((err) => log(err.message));
  log('bye');
  process.exit(0);
}

process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));

server.on('error', (err) => {
  log('server error:', err.message);
  process.exit(1);
});

server.listen(Number(PORT), HOST, () => {
  // PORT=0 lets the kernel pick: print the port actually bound.
  console.log(`listening on http://${HOST}:${server.address().port}`);
  ensureSchema().catch((err) => log('schema:', err.message));
  probeLoop().catch((err) => log('probe:', err.message));
});
