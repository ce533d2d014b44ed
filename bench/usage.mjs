// Timing for bench/usage.sh (Node 20+, no dependencies): the developer's usage report per
// scope and range and the admin's platform usage (server functions, JSON), and the
// server-rendered pages.
import { BASE, call, signIn, stats } from './lib.mjs';

const REQUESTS = Number(process.env.REQUESTS || 200);

async function time(label, run) {
  for (let i = 0; i < 5; i++) await run(); // warm-up
  const ms = [];
  for (let i = 0; i < REQUESTS; i++) {
    const t = performance.now();
    await run();
    ms.push(performance.now() - t);
  }
  console.log(`${label.padEnd(52)} ${stats(ms)}`);
}

const developer = await signIn('developer@bench.test');
const all = await call(developer, 'usage_report', { range: '30d' });
const [appId] = [...all.breakdown].sort((a, b) => b.allowed - a.allowed)[0].link.match(/app=([^&]+)/).slice(1);
const app = await call(developer, 'usage_report', { range: '30d', app: appId });
const keyId = app.breakdown[0].link.match(/key=([^&]+)/)[1];
const sum = (r) => r.chart.series.flatMap((s) => s.values).reduce((a, b) => a + b, 0);
console.log(`the busiest application: ${app.breakdown.length} keys, ${sum(app).toLocaleString('en')} requests in 30 days; all applications: ${sum(all).toLocaleString('en')}`);

const report = (form) => () => call(developer, 'usage_report', form);
await time('usage_report: application, 30 days', report({ range: '30d', app: appId }));
await time('usage_report: application, 7 days', report({ range: '7d', app: appId }));
await time('usage_report: application, 24 hours', report({ range: '24h', app: appId }));
await time('usage_report: application, 1 hour', report({ range: '1h', app: appId }));
await time('usage_report: key, 24 hours', report({ range: '24h', key: keyId }));
await time('usage_report: key, 30 days', report({ range: '30d', key: keyId }));
await time('usage_report: all applications, 30 days', report({ range: '30d' }));
const page = (path) => async () => {
  const res = await fetch(`${BASE}${path}`, { headers: { cookie: developer } });
  const html = await res.text();
  if (res.status !== 200 || !html.includes('<svg')) throw new Error(`${path}: ${res.status}`);
};
await time('GET /usage?app=…&range=30d (SSR page)', page(`/usage?app=${appId}&range=30d`));
await time('GET /usage?key=…&range=24h (SSR page)', page(`/usage?key=${keyId}&range=24h`));
await time('GET /usage (SSR page, all applications, 24 h)', page('/usage'));

const admin = await signIn('admin@bench.test');
const platform = (form) => () => call(admin, 'platform_usage', form);
await time('platform_usage: 30 days', platform({ range: '30d' }));
await time('platform_usage: 24 hours', platform({ range: '24h' }));
await time('api_usage (admin: every API), 30 days', () => call(admin, 'api_usage', { range: '30d' }));
const adminPage = (path) => async () => {
  const res = await fetch(`${BASE}${path}`, { headers: { cookie: admin } });
  const html = await res.text();
  if (res.status !== 200 || !html.includes('<svg')) throw new Error(`${path}: ${res.status}`);
};
await time('GET /admin/usage?range=30d (SSR page)', adminPage('/admin/usage?range=30d'));
await time('GET /admin/usage (SSR page, 24 h)', adminPage('/admin/usage'));
const billing = async () => {
  const res = await fetch(`${BASE}/usage/billing.csv`, { headers: { cookie: admin } });
  const text = await res.text();
  if (res.status !== 200 || !text.startsWith('date,')) throw new Error(`billing: ${res.status}`);
};
await time('GET /usage/billing.csv (this month, per day)', billing);
