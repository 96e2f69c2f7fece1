-- One index fewer on tasks, written by every create: the claim walks the 'pending' range of
-- tasks_status_created (oldest first) instead of a partial index of its own. The list indexes stay:
-- a list without a status filter needs tasks_created / tasks_project_created to stay fast at 10M rows.
DROP INDEX IF EXISTS tasks_pending_claim;
