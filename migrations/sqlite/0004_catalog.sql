-- The catalog: APIs with their docs and lifecycle, plans, applications, subscriptions and
-- in-portal notifications. The subscription row is the single source of truth key
-- verification reads: a key reaches an API only through a subscription in state 'active'.

CREATE TABLE apis (
    id               TEXT PRIMARY KEY,
    slug             TEXT NOT NULL UNIQUE,
    name             TEXT NOT NULL,
    version          TEXT NOT NULL,
    summary          TEXT NOT NULL,
    -- Markdown as written, and the sanitized HTML rendered once when it is saved.
    description      TEXT NOT NULL,
    description_html TEXT NOT NULL,
    upstream_url     TEXT NOT NULL,
    -- The OpenAPI document as uploaded, and the browsable reference derived from it (JSON).
    openapi_source   TEXT,
    openapi_ref      TEXT,
    -- 'public' (every signed-in user) or 'roles' (only the roles in visible_roles).
    visibility       TEXT NOT NULL CHECK (visibility IN ('public', 'roles')),
    visible_roles    TEXT NOT NULL,
    lifecycle        TEXT NOT NULL CHECK (lifecycle IN ('draft', 'published', 'deprecated', 'retired')),
    sunset_at        BIGINT,
    owner_id         TEXT REFERENCES users (id) ON DELETE SET NULL,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL
);
CREATE INDEX apis_lifecycle_name_idx ON apis (lifecycle, name);
CREATE INDEX apis_owner_idx ON apis (owner_id);

CREATE TABLE api_tags (
    api_id TEXT NOT NULL REFERENCES apis (id) ON DELETE CASCADE,
    tag    TEXT NOT NULL,
    PRIMARY KEY (api_id, tag)
);
CREATE INDEX api_tags_tag_idx ON api_tags (tag, api_id);

CREATE TABLE plans (
    id                 TEXT PRIMARY KEY,
    api_id             TEXT NOT NULL REFERENCES apis (id) ON DELETE CASCADE,
    name               TEXT NOT NULL,
    description        TEXT NOT NULL,
    -- Rate limit: `rate_limit` requests per `rate_period` ('second' or 'minute') with
    -- `burst` extra; NULL means unlimited. Quota: `quota` requests per `quota_period`.
    rate_limit         BIGINT,
    rate_period        TEXT NOT NULL CHECK (rate_period IN ('second', 'minute')),
    burst              BIGINT NOT NULL,
    quota              BIGINT,
    quota_period       TEXT NOT NULL CHECK (quota_period IN ('day', 'month')),
    approval           TEXT NOT NULL CHECK (approval IN ('automatic', 'manual')),
    -- Space-separated scopes a key of this plan may carry.
    scopes             TEXT NOT NULL,
    max_key_lifetime_days BIGINT,
    created_at         BIGINT NOT NULL,
    updated_at         BIGINT NOT NULL,
    UNIQUE (api_id, name)
);

-- Owned by a principal: today always a user; 'team' owners can be added without a rewrite
-- because every ownership check goes through (owner_kind, owner_id).
CREATE TABLE applications (
    id          TEXT PRIMARY KEY,
    owner_kind  TEXT NOT NULL CHECK (owner_kind IN ('user')),
    owner_id    TEXT NOT NULL,
    name        TEXT NOT NULL,
    description TEXT NOT NULL,
    created_by  TEXT REFERENCES users (id) ON DELETE SET NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    deleted_at  BIGINT
);
CREATE INDEX applications_owner_idx ON applications (owner_kind, owner_id, deleted_at);

CREATE TABLE subscriptions (
    id             TEXT PRIMARY KEY,
    application_id TEXT NOT NULL REFERENCES applications (id),
    api_id         TEXT NOT NULL REFERENCES apis (id),
    plan_id        TEXT NOT NULL REFERENCES plans (id),
    state          TEXT NOT NULL CHECK (state IN ('pending', 'active', 'rejected', 'suspended', 'cancelled', 'ended')),
    reason         TEXT,
    requested_by   TEXT REFERENCES users (id) ON DELETE SET NULL,
    decided_by     TEXT REFERENCES users (id) ON DELETE SET NULL,
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL
);
-- One live subscription per application and API, whatever the plan.
CREATE UNIQUE INDEX subscriptions_live_idx ON subscriptions (application_id, api_id)
    WHERE state IN ('pending', 'active', 'suspended');
CREATE INDEX subscriptions_state_idx ON subscriptions (state, created_at);
CREATE INDEX subscriptions_api_idx ON subscriptions (api_id, state);
CREATE INDEX subscriptions_app_idx ON subscriptions (application_id);

CREATE TABLE notifications (
    id         TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    title      TEXT NOT NULL,
    body       TEXT NOT NULL,
    link       TEXT,
    created_at BIGINT NOT NULL,
    read_at    BIGINT
);
CREATE INDEX notifications_user_idx ON notifications (user_id, created_at);
