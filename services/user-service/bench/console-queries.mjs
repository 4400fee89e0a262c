// Times the API calls the admin console's users page makes (first page, cursor pages, search, filters) against a
// running service: p50 and p90 of 15 runs each, one request at a time. Not part of `npm run bench`; e.g.
//   DATABASE_URL=sqlite:////tmp/m1/app.db npm run cli -- seed --users 1000000
//   DATABASE_URL=sqlite:////tmp/m1/app.db FIRST_SUPERUSER_EMAIL=a@example.com FIRST_SUPERUSER_PASSWORD=... npm start
//   node services/user-service/bench/console-queries.mjs http://127.0.0.1:8000 a@example.com <password>
const [base, email, password] = process.argv.slice(2);
const login = await (
  await fetch(`${base}/api/v1/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: email, password }),
  })
).json();
const headers = { authorization: `Bearer ${login.access_token}` };
const get = async (q) => {
  const t = performance.now();
  const r = await fetch(`${base}/api/v1/users?${q}`, { headers });
  const body = await r.json();
  return { ms: performance.now() - t, status: r.status, body };
};
async function time(label, q) {
  await get(q);
  const runs = [];
  let last;
  for (let i = 0; i < 15; i++) {
    last = await get(q);
    runs.push(last.ms);
  }
  runs.sort((a, b) => a - b);
  console.log(
    `${label.padEnd(44)} p50 ${runs[7].toFixed(1)} ms  p90 ${runs[13].toFixed(1)} ms  status ${last.status} rows ${last.body.users?.length} total ${last.body.total}${last.body.total_capped ? '+' : ''}`,
  );
  return last.body;
}
const first = await time('first page, newest first (limit 50)', 'limit=50&sort=-created_at');
let after = first.next_cursor;
let page;
for (let i = 0; i < 3; i++) {
  page = await get(`limit=50&sort=-created_at&after=${encodeURIComponent(after)}`);
  after = page.body.next_cursor;
}
await time('4th page by cursor, newest first', `limit=50&sort=-created_at&after=${encodeURIComponent(after)}`);
const sample = first.users[10];
const rare = sample.email.split('@')[0];
await time('search common term "ann", newest first', 'limit=50&sort=-created_at&q=ann');
await time(`search rare term "${rare}"`, `limit=50&sort=-created_at&q=${encodeURIComponent(rare)}`);
await time('search "ann" + is_active=true', 'limit=50&sort=-created_at&q=ann&is_active=true');
await time('search "ann" + is_superuser=true', 'limit=50&sort=-created_at&q=ann&is_superuser=true');
await time('filter is_active=false', 'limit=50&sort=-created_at&is_active=false');
await time('filter is_superuser=true', 'limit=50&sort=-created_at&is_superuser=true');
const byEmail = await get('limit=50&sort=-email');
await time(
  'email Z-A, next page by cursor',
  `limit=50&sort=-email&after=${encodeURIComponent(byEmail.body.next_cursor)}`,
);
