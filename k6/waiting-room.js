// k6/waiting-room.js: a sale behind a waiting room. BUYERS buyers take a ticket, poll it until
// they are admitted (or hear sold_out) and buy with their purchase token, while bots without a
// token (or with a made-up one) hammer the purchase endpoint. The stock must go to admitted
// buyers only: every bot is refused, the buyers' 202s add up to the stock, and no buyer buys
// twice.
//
//   ops/k6 run -e ADMIN_TOKEN=... -e SALE_ID=room -e STOCK=1000 -e BUYERS=10000 k6/waiting-room.js
//
// The scenario creates (or replaces) the sale itself: `fifo`, RATE admissions a second,
// starting START_IN seconds after setup so the whole crowd queues first.
// Buyers behave as docs/API.md asks: a 503 (or a failed connection) is retried after its
// Retry-After (a purchase with the same Idempotency-Key and token), up to a minute.
//
// Env: BASE_URL, ADMIN_TOKEN, SALE_ID (waiting-room), STOCK (1000), BUYERS (10000), RATE (500),
// VUS (1000), BOT_RATE (300 a second), START_IN (10), POLL_MS (1000), SUMMARY_JSON.
import http from 'k6/http';
import { check, fail, sleep } from 'k6';
import exec from 'k6/execution';
import { Counter, Trend } from 'k6/metrics';
import { BASE_URL, summaryOutput, thresholdsOk } from './lib.js';

const SALE_ID = __ENV.SALE_ID || 'waiting-room';
const STOCK = Number(__ENV.STOCK || 1000);
const BUYERS = Number(__ENV.BUYERS || 10000);
const RATE = Number(__ENV.RATE || 500);
const VUS = Number(__ENV.VUS || 1000);
const BOT_RATE = Number(__ENV.BOT_RATE || 300);
const START_IN = Number(__ENV.START_IN || 10);
const POLL_MS = Number(__ENV.POLL_MS || 1000);
// A buyer gives up after this many 503s in a row.
const MAX_RETRIES = 60;
// Long enough for the crowd to queue, be admitted at RATE and buy.
const DURATION_S = START_IN + Math.ceil(BUYERS / RATE) + 60;

const bought = new Counter('buyer_bought');
const soldOutInQueue = new Counter('buyer_sold_out_in_queue');
const soldOutAtPurchase = new Counter('buyer_sold_out_at_purchase');
const buyerOther = new Counter('buyer_other');
const botAccepted = new Counter('bot_accepted');
const botRefused = new Counter('bot_refused');
const botUnavailable = new Counter('bot_unavailable');
const botOther = new Counter('bot_other');
const retried = new Counter('buyer_retried_503');
const waitedSeconds = new Trend('buyer_waited_seconds');

const JSON_HEADERS = { 'Content-Type': 'application/json' };

export const options = {
  summaryTrendStats: ['avg', 'med', 'p(95)', 'p(99)', 'max'],
  setupTimeout: '60s',
  scenarios: {
    buyers: {
      executor: 'shared-iterations',
      exec: 'buyer',
      vus: Math.min(VUS, BUYERS),
      iterations: BUYERS,
      maxDuration: `${DURATION_S}s`,
    },
    bots: {
      executor: 'constant-arrival-rate',
      exec: 'bot',
      rate: BOT_RATE,
      timeUnit: '1s',
      duration: `${DURATION_S - 20}s`,
      preAllocatedVUs: 50,
      maxVUs: 200,
    },
  },
  thresholds: {
    // The stock went to admitted buyers only, all of it, and nothing else happened.
    bot_accepted: ['count==0'],
    bot_other: ['count==0'],
    buyer_other: ['count==0'],
    buyer_bought: [`count==${Math.min(STOCK, BUYERS)}`],
    checks: ['rate==1'],
  },
};

export function setup() {
  const body = {
    name: 'Waiting room (k6)',
    stock: STOCK,
    per_user_limit: 1,
    starts_at: new Date(Date.now() + START_IN * 1000).toISOString(),
    admission: { mode: 'fifo', rate_per_second: RATE, token_seconds: 120 },
  };
  const res = http.put(`${BASE_URL}/api/v1/admin/sales/${SALE_ID}`, JSON.stringify(body), {
    headers: { ...JSON_HEADERS, Authorization: `Bearer ${__ENV.ADMIN_TOKEN}` },
  });
  if (res.status !== 200 && res.status !== 201) fail(`creating the sale: ${res.status} ${res.body}`);
  return { run: Date.now().toString(36), round: res.json('round') };
}

/** `request()`, sent again after each 503's Retry-After (or a failed connection), at most
 * MAX_RETRIES times. */
function retrying(request) {
  let res = request();
  // 0: the connection failed (reset under load) before an answer.
  for (let i = 0; i < MAX_RETRIES && (res.status === 503 || res.status === 0); i++) {
    retried.add(1);
    sleep(Number(res.headers['Retry-After'] || 1));
    res = request();
  }
  return res;
}

/** One buyer: queue, poll until admitted or sold out, buy once with the token. */
export function buyer({ run }) {
  const user = `buyer-${run}-${exec.scenario.iterationInTest}`;
  const joined = retrying(() =>
    http.post(`${BASE_URL}/api/v1/sales/${SALE_ID}/queue`, JSON.stringify({ user_id: user }), {
      headers: JSON_HEADERS,
      tags: { name: 'queue' },
    }),
  );
  if (joined.status === 409 && joined.json('error') === 'sold_out') {
    soldOutInQueue.add(1);
    return;
  }
  if (!check(joined, { 'a ticket': (r) => r.status === 201 })) {
    buyerOther.add(1);
    return;
  }
  const ticketUrl = `${BASE_URL}/api/v1/sales/${SALE_ID}/queue/${joined.json('ticket_id')}`;
  const queuedAt = Date.now();
  let ticket = joined.json();
  while (ticket.status === 'waiting') {
    sleep(POLL_MS / 1000);
    const polled = retrying(() => http.get(ticketUrl, { tags: { name: 'ticket' } }));
    if (!check(polled, { 'the ticket reads': (r) => r.status === 200 })) {
      buyerOther.add(1);
      return;
    }
    ticket = polled.json();
  }
  waitedSeconds.add((Date.now() - queuedAt) / 1000);
  if (ticket.status === 'sold_out') {
    soldOutInQueue.add(1);
    return;
  }
  if (ticket.status !== 'admitted') {
    buyerOther.add(1);
    return;
  }
  const res = retrying(() =>
    http.post(`${BASE_URL}/api/v1/sales/${SALE_ID}/purchases`, JSON.stringify({ user_id: user }), {
      headers: { ...JSON_HEADERS, 'Flashsale-Purchase-Token': ticket.purchase_token, 'Idempotency-Key': user },
      tags: { name: 'purchase' },
    }),
  );
  if (res.status === 202) bought.add(1);
  else if (res.status === 409 && res.json('error') === 'sold_out') soldOutAtPurchase.add(1);
  else buyerOther.add(1);
}

/** One bot purchase: no token, or one made up. */
export function bot({ run }) {
  const n = exec.scenario.iterationInTest;
  const user = `bot-${run}-${n}`;
  const headers = { ...JSON_HEADERS };
  if (n % 2 === 1) headers['Flashsale-Purchase-Token'] = `${SALE_ID}~1~${user}~9999999999999~${'0'.repeat(32)}~${'ab'.repeat(32)}`;
  const res = http.post(`${BASE_URL}/api/v1/sales/${SALE_ID}/purchases`, JSON.stringify({ user_id: user }), {
    headers,
    tags: { name: 'bot' },
  });
  if (res.status === 202) botAccepted.add(1);
  // 403 for the token; once this process saw the sale sell out, 409 sold_out comes first.
  else if (res.status === 403 || (res.status === 409 && ['sold_out', 'sale_not_active'].includes(res.json('error')))) botRefused.add(1);
  // No answer (in time): nothing a bot could buy with; counted apart.
  else if (res.status === 503 || res.status === 0) botUnavailable.add(1);
  else botOther.add(1);
}

export function teardown() {
  const sale = http.get(`${BASE_URL}/api/v1/sales/${SALE_ID}`).json();
  check(sale, { 'the sale sold exactly its stock': (s) => s.sold === Math.min(STOCK, BUYERS) });
}

export function handleSummary(data) {
  const count = (name) => (data.metrics[name] ? data.metrics[name].values.count : 0);
  const waited = data.metrics.buyer_waited_seconds ? data.metrics.buyer_waited_seconds.values : {};
  const duration = data.metrics.http_req_duration.values;
  const figures = {
    buyers: BUYERS,
    stock: STOCK,
    rate_per_second: RATE,
    bought: count('buyer_bought'),
    sold_out_in_queue: count('buyer_sold_out_in_queue'),
    sold_out_at_purchase: count('buyer_sold_out_at_purchase'),
    buyer_other: count('buyer_other'),
    bot_requests: count('bot_accepted') + count('bot_refused') + count('bot_unavailable') + count('bot_other'),
    bot_accepted: count('bot_accepted'),
    bot_refused: count('bot_refused'),
    bot_unavailable: count('bot_unavailable'),
    buyer_retries_503: count('buyer_retried_503'),
    bot_other: count('bot_other'),
    requests: count('http_reqs'),
    throughput_rps: data.metrics.http_reqs.values.rate,
    waited_s: { med: waited.med, p95: waited['p(95)'], max: waited.max },
    latency_ms: { avg: duration.avg, p95: duration['p(95)'], p99: duration['p(99)'], max: duration.max },
    thresholds_ok: thresholdsOk(data),
  };
  const text = [
    `buyers ${figures.buyers}, stock ${figures.stock}, admitted at ${RATE}/s`,
    `bought            ${figures.bought}`,
    `sold out (queue)  ${figures.sold_out_in_queue}`,
    `sold out (buying) ${figures.sold_out_at_purchase}`,
    `bots              ${figures.bot_requests} requests, ${figures.bot_accepted} accepted, ${figures.bot_refused} refused, ${figures.bot_unavailable} 503`,
    `buyer 503 retries ${figures.buyer_retries_503}`,
    `waited s          med ${(waited.med || 0).toFixed(1)}  p95 ${(waited['p(95)'] || 0).toFixed(1)}  max ${(waited.max || 0).toFixed(1)}`,
    `requests          ${figures.requests} (${figures.throughput_rps.toFixed(0)} req/s)`,
    `latency ms        avg ${duration.avg.toFixed(2)}  p95 ${duration['p(95)'].toFixed(2)}  p99 ${duration['p(99)'].toFixed(2)}`,
    `thresholds        ${figures.thresholds_ok ? 'passed' : 'FAILED'}`,
    '',
  ].join('\n');
  return summaryOutput(text, figures);
}
