-- Event ids compare by bytes ("C"), as votes.username does: under the
-- database's default collation (C.UTF-8 on the stack) every comparison of
-- the primary key's B-tree copied both ids and called strcoll().  The ids
-- are ASCII ("<seq>-<use>"), so their order is the same either way.  The
-- table is not rewritten, only its primary key rebuilt, which on a large
-- table can outlast the sessions' statement_timeout: lifted for this
-- transaction.  Its exclusive lock, while it waits for one, holds up every
-- insert queued behind it (an older persister's during a rollout): it
-- waits 5 s at most, then the migration fails and the persister exits (a
-- failed migration needs an operator; where something restarts it, as
-- Kubernetes restarts its container, it is tried again then).
SET LOCAL statement_timeout = 0;
SET LOCAL lock_timeout = '5s';

ALTER TABLE vote_events ALTER COLUMN event_id TYPE text COLLATE "C";
