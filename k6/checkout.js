// k6/checkout.js: a checkout on a sale with holds. Every VU is one buyer who tries to buy one
// unit. Those who get a hold mostly pay it (a signed payment webhook, as the shop's payment
// system would send it), some cancel it, some abandon it (it expires). Those turned away with
// sold_out join the waitlist and wait for a released unit: an offer, which most pay and some
// abandon; who is still waiting at the end leaves. The run ends once no unit is held any more:
// every unit is then paid or back on sale, which teardown checks (stock == remaining + paid).
//
//   ops/k6 run -e BASE_URL=http://127.0.0.1:8080 -e SALE_ID=checkout \
//     -e PAYMENT_SECRET=... -e HOLD_SECONDS=4 k6/checkout.js
//
// The sale must exist with `hold_seconds` HOLD_SECONDS and a per-user limit of 1 (ops/demo and
// ops/clients put it). Env: BASE_URL, SALE_ID, PAYMENT_SECRET (FLASHSALE_PAYMENT_SECRET of the
// API), HOLD_SECONDS (4), BUYERS (VUs, one buyer each: 150), PAY_PERCENT (70), CANCEL_PERCENT
// (15; the rest abandon), OFFER_PAY_PERCENT (90), SUMMARY_JSON.
import http from 'k6/http';
import crypto from 'k6/crypto';
import exec from 'k6/execution';
import { check, sleep } from 'k6';
import { Counter } from 'k6/metrics';
import { BASE_URL, SALE_ID } from './lib.js';

const SECRET = __ENV.PAYMENT_SECRET || '';
const HOLD_SECONDS = Number(__ENV.HOLD_SECONDS || 4);
const BUYERS = Number(__ENV.BUYERS || 150);
const PAY_PERCENT = Number(__ENV.PAY_PERCENT || 70);
const CANCEL_PERCENT = Number(__ENV.CANCEL_PERCENT || 15);
const OFFER_PAY_PERCENT = Number(__ENV.OFFER_PAY_PERCENT || 90);
// A waiting buyer gives up after this long: by then the abandoned holds and offers lapsed.
const WAIT_SECONDS = HOLD_SECONDS * 4;
const RUN = Date.now().toString(36);

const counters = {
  held: new Counter('held'),
  paid: new Counter('paid'),
  cancelled: new Counter('cancelled'),
  abandoned: new Counter('abandoned'),
  waitlisted: new Counter('waitlisted'),
  offered: new Counter('offered'),
  offers_paid: new Counter('offers_paid'),
  offers_abandoned: new Counter('offers_abandoned'),
  left: new Counter('left'),
  late: new Counter('late_payments'),
  unexpected: new Counter('unexpected'),
};

// Every answer this scenario expects; anything else fails the run.
http.setResponseCallback(http.expectedStatuses(200, 201, 202, 409));

export const options = {
  scenarios: {
    buyers: { executor: 'per-vu-iterations', vus: BUYERS, iterations: 1, maxDuration: `${WAIT_SECONDS + 60}s` },
  },
  setupTimeout: '30s',
  teardownTimeout: `${HOLD_SECONDS * 3 + 30}s`,
  summaryTrendStats: ['avg', 'med', 'p(95)', 'p(99)', 'max'],
  thresholds: {
    checks: ['rate==1'],
    http_req_failed: ['rate==0'],
    unexpected: ['count==0'],
  },
};

const json = { headers: { 'Content-Type': 'application/json' } };

/** A signed payment of a hold: HMAC-SHA256 of `<timestamp>.<purchase_id>.<body>`. */
function pay(purchaseId, ref) {
  const body = JSON.stringify({ payment_ref: ref });
  const timestamp = Math.floor(Date.now() / 1000).toString();
  const signature = crypto.hmac('sha256', SECRET, `${timestamp}.${purchaseId}.${body}`, 'hex');
  const res = http.post(`${BASE_URL}/api/v1/purchases/${purchaseId}/payment`, body, {
    headers: { 'Content-Type': 'application/json', 'Flashsale-Timestamp': timestamp, 'Flashsale-Signature': signature },
  });
  if (res.status === 200) return true;
  // Paid after the deadline (the VU was slow): refused, the unit went on; the shop refunds.
  if (res.status === 409 && res.json('error') === 'hold_expired') counters.late.add(1);
  else counters.unexpected.add(1);
  return false;
}

/** Whether `percent` of the buyers, picked by `n`, do this. */
const share = (n, percent, salt) => ((n * 37 + salt * 11) % 100) < percent;

export default function () {
  const n = exec.vu.idInTest;
  const user = `checkout-${RUN}-${n}`;
  const res = http.post(`${BASE_URL}/api/v1/sales/${SALE_ID}/purchases`, JSON.stringify({ user_id: user }), json);
  if (res.status === 202) {
    counters.held.add(1);
    const id = res.json('purchase_id');
    if (share(n, PAY_PERCENT, 0)) {
      sleep(Math.random() * HOLD_SECONDS * 0.5);
      if (pay(id, `pay-${user}`)) counters.paid.add(1);
    } else if (share(n, PAY_PERCENT + CANCEL_PERCENT, 0)) {
      sleep(Math.random() * HOLD_SECONDS * 0.5);
      const cancelled = http.post(`${BASE_URL}/api/v1/purchases/${id}/cancel`,
        JSON.stringify({ hold_token: res.json('hold_token') }), json);
      check(cancelled, { 'a cancel is answered 200': (r) => r.status === 200 });
      counters.cancelled.add(1);
    } else {
      counters.abandoned.add(1);
    }
    return;
  }
  const code = res.status === 409 ? res.json('error') : null;
  if (code !== 'sold_out') {
    counters.unexpected.add(1);
    return;
  }
  const joined = http.post(`${BASE_URL}/api/v1/sales/${SALE_ID}/waitlist`, JSON.stringify({ user_id: user }), json);
  // Units came back between the refusal and the join: this buyer simply tries no more.
  if (joined.status === 409 && joined.json('error') === 'not_sold_out') return;
  if (!check(joined, { 'a join is answered 201': (r) => r.status === 201 })) return;
  counters.waitlisted.add(1);
  const entry = `${BASE_URL}/api/v1/sales/${SALE_ID}/waitlist/${joined.json('entry_id')}`;
  const until = Date.now() + WAIT_SECONDS * 1000;
  while (Date.now() < until) {
    sleep(0.25);
    const now = http.get(entry);
    const state = now.json('state');
    if (state === 'offered') {
      counters.offered.add(1);
      if (share(n, OFFER_PAY_PERCENT, 1)) {
        if (pay(now.json('offer.purchase_id'), `offer-${user}`)) counters.offers_paid.add(1);
      } else {
        counters.offers_abandoned.add(1);
      }
      return;
    }
    if (state !== 'waiting') {
      counters.unexpected.add(1);
      return;
    }
  }
  const left = http.del(entry);
  // An offer may have come in the last moment: then the entry no longer waits, and its hold
  // is abandoned (it expires).
  check(left, { 'a leave is answered 200 or 409 not_waiting': (r) => r.status === 200 || r.json('error') === 'not_waiting' });
  counters.left.add(1);
}

/** Waits until no unit of the sale is held any more, then checks every unit is paid or on sale. */
export function teardown() {
  const until = Date.now() + (HOLD_SECONDS * 3 + 20) * 1000;
  let sale;
  do {
    sale = http.get(`${BASE_URL}/api/v1/sales/${SALE_ID}`).json();
    if (sale.held === 0) break;
    sleep(0.25);
  } while (Date.now() < until);
  check(sale, {
    'no unit is held at the end': (s) => s.held === 0,
    'every unit is paid or back on sale': (s) => s.stock === s.remaining + s.paid,
    'nobody is left waiting': (s) => s.waiting === 0,
  });
  console.log(`checkout: sale ${SALE_ID}: stock ${sale.stock}, paid ${sale.paid}, remaining ${sale.remaining}, `
    + `held ${sale.held}, offered ${sale.offered}, waiting ${sale.waiting}`);
}

export function handleSummary(data) {
  const count = (name) => (data.metrics[name] ? data.metrics[name].values.count : 0);
  const latency = data.metrics.http_req_duration.values;
  const figures = Object.fromEntries(Object.keys(counters).map((name) => [name, count(name === 'late' ? 'late_payments' : name)]));
  figures.requests = count('http_reqs');
  figures.latency_ms = { avg: latency.avg, p95: latency['p(95)'], p99: latency['p(99)'], max: latency.max };
  figures.thresholds_ok = Object.values(data.metrics)
    .every((m) => !m.thresholds || Object.values(m.thresholds).every((t) => t.ok));
  const text = [
    `buyers         ${BUYERS} (hold ${HOLD_SECONDS} s)`,
    `holds          ${figures.held}: paid ${figures.paid}, cancelled ${figures.cancelled}, abandoned ${figures.abandoned}`,
    `waitlist       ${figures.waitlisted} joined, ${figures.offered} offered: paid ${figures.offers_paid}, abandoned ${figures.offers_abandoned}; ${figures.left} left`,
    `late payments  ${figures.late}`,
    `unexpected     ${figures.unexpected}`,
    `requests       ${figures.requests}, latency ms avg ${latency.avg.toFixed(2)}  p95 ${latency['p(95)'].toFixed(2)}  p99 ${latency['p(99)'].toFixed(2)}`,
    `thresholds     ${figures.thresholds_ok ? 'passed' : 'FAILED'}`,
    '',
  ].join('\n');
  const out = { stdout: text };
  if (__ENV.SUMMARY_JSON) out[__ENV.SUMMARY_JSON] = JSON.stringify(figures);
  return out;
}
