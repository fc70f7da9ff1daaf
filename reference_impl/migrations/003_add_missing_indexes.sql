-- 003: the indexes the first release forgot.
-- The unique index on idempotency_key is what makes a replayed write a no-op
-- (INSERT ... ON CONFLICT (idempotency_key) DO NOTHING); NULL keys stay allowed.
-- It fails, naming the key, if duplicates were already written without it.
create unique index messages_idempotency_key_key on messages (idempotency_key);
-- History is read per room in id order (keyset pagination).
create index messages_room_id_idx on messages (room, id);
-- The task manager polls plans by status.
create index plans_status_idx on plans (status);
