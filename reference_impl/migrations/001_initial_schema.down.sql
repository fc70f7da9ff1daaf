-- Undo 001: drop every table it created (and their data).
drop table if exists plans;
drop table if exists nodes;
drop table if exists messages;
drop table if exists sessions;
