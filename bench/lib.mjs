// Helpers shared by the bench scripts (Node 20+, no dependencies): sign in, call a server
// function, summarise timings.
export const BASE = process.env.BASE;
export const PASSWORD = process.env.PASSWORD;

export async function signIn(email) {
  const res = await fetch(`${BASE}/api/sign_in`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
    body: new URLSearchParams({ email, password: PASSWORD }),
  });
  if (!res.ok) throw new Error(`sign in ${email}: ${res.status} ${await res.text()}`);
  return res.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ');
}

export async function call(cookie, name, form) {
  const res = await fetch(`${BASE}/api/${name}`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json', cookie },
    body: new URLSearchParams(form),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${name}: ${res.status} ${text}`);
  return JSON.parse(text);
}

export function stats(ms) {
  const s = [...ms].sort((a, b) => a - b);
  const q = (p) => s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
  return `p50 ${q(50).toFixed(1)} ms · p95 ${q(95).toFixed(1)} ms · max ${s[s.length - 1].toFixed(1)} ms (${s.length} requests)`;
}
