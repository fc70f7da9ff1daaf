-- 002: the code looks nodes up by node_id; rename the key column to match.
alter table nodes rename column id to node_id;
