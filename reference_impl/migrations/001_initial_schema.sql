-- 001: the initial schema, as the service first shipped it.
-- nodes has its key in a column called "id"; the code looks nodes up by node_id,
-- which only migration 002 introduces (the schema-drift failure mode).
create table sessions (
    session_id text primary key,
    user_name  text not null,
    room       text not null,
    joined_at  timestamptz not null default now()
);

create table messages (
    id              bigserial primary key,
    room            text not null,
    session_id      text,
    body            text not null,
    idempotency_key text,
    request_hash    text,
    created_at      timestamptz not null default now()
);

create table nodes (
    id   text primary key,
    name text not null,
    kind text not null
);

insert into nodes (id, name, kind) values
    ('node-1', 'foundation', 'structure'),
    ('node-2', 'east wall', 'structure'),
    ('node-3', 'crane', 'equipment'),
    ('node-4', 'generator', 'equipment'),
    ('node-5', 'site office', 'facility');

create table plans (
    plan_id    text primary key,
    node_id    text not null,
    steps      jsonb not null default '[]'::jsonb,
    status     text not null default 'queued',
    result     jsonb,
    attempts   integer not null default 0,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);
