#!/usr/bin/env node
// panva's oidc-provider (OpenID Certified) configured the way providers usually are, for
// the Rust integration tests in server/tests/api/oidc_provider.rs (the browser tests use
// provider.mjs). Each test starts its own copy; the configuration comes from the
// environment:
//
//   OIDC_ISSUER_PATH   path of the issuer URL, e.g. /idp/tenant-a (default: none)
//   OIDC_SIGNING_ALG   RS256 (default) or ES256: the ID token's signature (a fresh key)
//   OIDC_CLAIMS_IN     userinfo (default): scope claims (email, profile, groups) are
//                      released by the userinfo endpoint only, oidc-provider's default
//                      (`conformIdTokenClaims: true`); id_token: in the ID token as well
//   OIDC_USERINFO      json (default), jwt (answers signed with RS256) or off (no
//                      userinfo endpoint at all)
//   OIDC_GROUPS_AS     list (default): `groups` is a JSON list; string: one
//                      space-separated string, as some providers send scope-like claims
//
// Handshake on stdin/stdout, so that neither side has to guess a free port: the script
// listens on a port the system picks and prints `keyport-test-idp issuer=<issuer URL>`;
// the test then starts Keyport (whose configuration needs that issuer) and writes
// Keyport's redirect URI as one line on stdin; the script prints `keyport-test-idp ready`
// once the provider answers. It exits when stdin closes (the test ended).
//
// The development login and consent pages (devInteractions) accept any login name and
// password; the login name becomes the subject. `alice` is in `keyport-admins` and
// `staff`, `paul` in `keyport-publishers`, everyone else in no group.

import { generateKeyPairSync } from 'node:crypto';
import { createServer } from 'node:http';
import { createInterface } from 'node:readline';
import Provider from 'oidc-provider';

const HOST = '127.0.0.1';
const PATH = (process.env.OIDC_ISSUER_PATH || '').replace(/\/+$/, '');
const ALG = process.env.OIDC_SIGNING_ALG || 'RS256';
const CLAIMS_IN = process.env.OIDC_CLAIMS_IN || 'userinfo';
const USERINFO = process.env.OIDC_USERINFO || 'json';
const GROUPS_AS = process.env.OIDC_GROUPS_AS || 'list';

const GROUPS = { alice: ['keyport-admins', 'staff'], paul: ['keyport-publishers'] };

function fail(message) {
  console.error(`standard-provider: ${message}`);
  process.exit(2);
}

if (!['RS256', 'ES256'].includes(ALG)) fail(`OIDC_SIGNING_ALG=${ALG}: RS256 or ES256`);
if (!['userinfo', 'id_token'].includes(CLAIMS_IN)) fail(`OIDC_CLAIMS_IN=${CLAIMS_IN}`);
if (!['json', 'jwt', 'off'].includes(USERINFO)) fail(`OIDC_USERINFO=${USERINFO}`);
if (!['list', 'string'].includes(GROUPS_AS)) fail(`OIDC_GROUPS_AS=${GROUPS_AS}`);

function signingKey(alg, kid) {
  const pair = alg === 'ES256'
    ? generateKeyPairSync('ec', { namedCurve: 'P-256' })
    : generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { ...pair.privateKey.export({ format: 'jwk' }), kid, alg, use: 'sig' };
}

// The ID-token key first; signed userinfo answers always use RS256.
const keys = [signingKey(ALG, `${ALG.toLowerCase()}-1`)];
if (USERINFO === 'jwt' && ALG !== 'RS256') keys.push(signingKey('RS256', 'rs256-1'));

function configuration(redirectUri) {
  const client = {
    client_id: 'keyport',
    client_secret: 'keyport-test-secret',
    redirect_uris: [redirectUri],
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
    id_token_signed_response_alg: ALG,
  };
  if (USERINFO === 'jwt') client.userinfo_signed_response_alg = 'RS256';
  return {
    clients: [client],
    jwks: { keys },
    pkce: { required: () => true },
    claims: {
      openid: ['sub'],
      email: ['email', 'email_verified'],
      profile: ['name', 'preferred_username'],
      groups: ['groups'],
    },
    conformIdTokenClaims: CLAIMS_IN === 'userinfo',
    features: {
      devInteractions: { enabled: true },
      userinfo: { enabled: USERINFO !== 'off' },
      jwtUserinfo: { enabled: USERINFO === 'jwt' },
    },
    cookies: { keys: ['keyport-rust-tests-only-cookie-key'] },
    async findAccount(_ctx, sub) {
      const groups = GROUPS[sub] ?? [];
      return {
        accountId: sub,
        async claims() {
          return {
            sub,
            email: `${sub}@idp.example.org`,
            email_verified: true,
            name: sub.charAt(0).toUpperCase() + sub.slice(1),
            preferred_username: sub,
            groups: GROUPS_AS === 'string' ? groups.join(' ') : groups,
          };
        },
      };
    },
  };
}

// Until the provider exists every request is answered 503; afterwards requests under the
// issuer's path go to it as if mounted there (oidc-provider derives the mount path from
// `originalUrl`, as under Express or Koa mounts).
let handle = (_req, res) => {
  res.statusCode = 503;
  res.end();
};
const server = createServer((req, res) => handle(req, res));

server.listen(0, HOST, () => {
  const { port } = server.address();
  const issuer = `http://${HOST}:${port}${PATH}`;
  console.log(`keyport-test-idp issuer=${issuer}`);
  const lines = createInterface({ input: process.stdin });
  let provider;
  lines.on('line', (line) => {
    if (provider) return;
    provider = new Provider(issuer, configuration(line.trim()));
    const callback = provider.callback();
    handle = (req, res) => {
      const url = req.url;
      if (PATH && !(url === PATH || url.startsWith(`${PATH}/`) || url.startsWith(`${PATH}?`))) {
        res.statusCode = 404;
        res.end();
        return;
      }
      const rest = url.slice(PATH.length);
      req.originalUrl = url;
      req.url = rest.startsWith('/') ? rest : `/${rest}`;
      callback(req, res);
    };
    console.log('keyport-test-idp ready');
  });
  // The test holds stdin open for as long as it needs the provider.
  lines.on('close', () => process.exit(0));
});

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => process.exit(0));
}
