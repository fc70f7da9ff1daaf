-- Undo 003.
drop index if exists plans_status_idx;
drop index if exists messages_room_id_idx;
drop index if exists messages_idempotency_key_key;
