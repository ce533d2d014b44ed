#!/usr/bin/env node
// A real OpenID provider for the browser tests: panva's oidc-provider (OpenID Certified)
// on 127.0.0.1:3101, started by playwright.config.ts before Keyport.
//
// - One client, `keyport`, redirecting to Keyport's callback for provider `test`;
//   authorization code flow only, PKCE (S256, the only method oidc-provider supports) required.
// - Development login and consent pages (devInteractions): any login name and password
//   work; the login name becomes the subject. `alice` is in the `keyport-admins` group,
//   everyone else in none.
// - ID tokens carry the scope claims (email, groups) themselves (Keyport also reads
//   userinfo). Claims released by userinfo only, ES256 keys and an issuer with a path are
//   covered by server/tests/api/oidc_provider.rs with standard-provider.mjs.
//
// Keep the client in sync with KEYPORT_OIDC_PROVIDERS in scripts/start-server.mjs and
// serverEnv() in tests/fixtures.ts.

import Provider from 'oidc-provider';

const HOST = '127.0.0.1';
const PORT = Number(process.env.OIDC_PROVIDER_PORT || 3101);
const ISSUER = `http://${HOST}:${PORT}`;
const KEYPORT = process.env.KEYPORT_E2E_URL || 'http://127.0.0.1:3100';

const GROUPS = { alice: ['keyport-admins'] };

const configuration = {
  clients: [
    {
      client_id: 'keyport',
      client_secret: 'keyport-e2e-secret',
      redirect_uris: [`${KEYPORT}/auth/oidc/test/callback`],
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
      id_token_signed_response_alg: 'RS256',
    },
  ],
  pkce: { required: () => true },
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name', 'preferred_username'],
    groups: ['groups'],
  },
  conformIdTokenClaims: false,
  features: { devInteractions: { enabled: true } },
  cookies: { keys: ['keyport-e2e-only-cookie-key'] },
  async findAccount(_ctx, sub) {
    return {
      accountId: sub,
      async claims() {
        return {
          sub,
          email: `${sub}@idp.example.org`,
          email_verified: true,
          name: sub.charAt(0).toUpperCase() + sub.slice(1),
          preferred_username: sub,
          groups: GROUPS[sub] ?? [],
        };
      },
    };
  },
};

const provider = new Provider(ISSUER, configuration);
const server = provider.listen(PORT, HOST, () => {
  console.error(`oidc-provider: ${ISSUER}/.well-known/openid-configuration`);
});

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => server.close(() => process.exit(0)));
}
