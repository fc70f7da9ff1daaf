-- Undo 002: give nodes its old key column name back.
alter table nodes rename column node_id to id;
